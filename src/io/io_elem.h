/* io_elem.h — typed-array element access shared by the data set files of src/io. */
#ifndef CZ_IO_ELEM_H
#define CZ_IO_ELEM_H

#include "io/dataset.h"

#include <math.h>
#include <string.h>

/* static inline: the per-element loops of the specials scan and the field view inline them */

static inline int is_numeric(cz_dtype t) { return t >= CZ_T_I8 && t <= CZ_T_F64; }
static inline int is_float(cz_dtype t) { return t == CZ_T_F32 || t == CZ_T_F64; }

/* ---- element access: bits (host order, in a uint64) and numeric value ------------------ */

static inline uint64_t elem_bits(const void *p, size_t i, size_t es) {
    const uint8_t *b = (const uint8_t *)p + i * es;
    switch (es) {
    case 1: return b[0];
    case 2: { uint16_t v; memcpy(&v, b, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, b, 4); return v; }
    default: { uint64_t v; memcpy(&v, b, 8); return v; }
    }
}

static inline void put_bits(void *p, size_t i, size_t es, uint64_t bits) {
    uint8_t *b = (uint8_t *)p + i * es;
    switch (es) {
    case 1: b[0] = (uint8_t)bits; break;
    case 2: { uint16_t v = (uint16_t)bits; memcpy(b, &v, 2); break; }
    case 4: { uint32_t v = (uint32_t)bits; memcpy(b, &v, 4); break; }
    default: memcpy(b, &bits, 8); break;
    }
}

static inline double elem_value(const void *p, size_t i, cz_dtype t) {
    const uint8_t *b = (const uint8_t *)p;
    switch (t) {
    case CZ_T_I8: return ((const int8_t *)b)[i];
    case CZ_T_U8: case CZ_T_CHAR: return b[i];
    case CZ_T_I16: { int16_t v; memcpy(&v, b + 2 * i, 2); return v; }
    case CZ_T_U16: { uint16_t v; memcpy(&v, b + 2 * i, 2); return v; }
    case CZ_T_I32: { int32_t v; memcpy(&v, b + 4 * i, 4); return v; }
    case CZ_T_U32: { uint32_t v; memcpy(&v, b + 4 * i, 4); return v; }
    case CZ_T_I64: { int64_t v; memcpy(&v, b + 8 * i, 8); return (double)v; }
    case CZ_T_U64: { uint64_t v; memcpy(&v, b + 8 * i, 8); return (double)v; }
    case CZ_T_F32: { float v; memcpy(&v, b + 4 * i, 4); return v; }
    case CZ_T_F64: { double v; memcpy(&v, b + 8 * i, 8); return v; }
    default: return 0;
    }
}

static inline int bits_is_nan(uint64_t bits, cz_dtype t) {
    if (t == CZ_T_F32) return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffffu) != 0;
    if (t == CZ_T_F64)
        return (bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull &&
               (bits & 0x000fffffffffffffull) != 0;
    return 0;
}

/* range of an integer type as doubles */
static inline void int_range(cz_dtype t, double *lo, double *hi) {
    switch (t) {
    case CZ_T_I8: *lo = -128; *hi = 127; break;
    case CZ_T_U8: *lo = 0; *hi = 255; break;
    case CZ_T_I16: *lo = -32768; *hi = 32767; break;
    case CZ_T_U16: *lo = 0; *hi = 65535; break;
    case CZ_T_I32: *lo = -2147483648.0; *hi = 2147483647.0; break;
    case CZ_T_U32: *lo = 0; *hi = 4294967295.0; break;
    case CZ_T_I64: *lo = -0x1p63; *hi = 0x1p63; break; /* hi exclusive: see to_bits */
    case CZ_T_U64: *lo = 0; *hi = 0x1p64; break;
    default: *lo = -INFINITY; *hi = INFINITY; break;
    }
}

/* The stored bits of numeric value d in type t, rounding to nearest and clamping integers.
 * exact (may be NULL) says whether d was representable as it is. */
static inline uint64_t to_bits(double d, cz_dtype t, int *exact) {
    if (exact) *exact = 1;
    if (t == CZ_T_F32) {
        float const f = (float)d;
        uint32_t u;
        memcpy(&u, &f, 4);
        if (exact && !isnan(d) && (double)f != d) *exact = 0;
        return u;
    }
    if (t == CZ_T_F64) {
        uint64_t u;
        memcpy(&u, &d, 8);
        return u;
    }
    double lo, hi;
    int_range(t, &lo, &hi);
    double r = isnan(d) ? 0 : round(d);
    if (exact && (r != d)) *exact = 0;
    if (r < lo) {
        r = lo;
        if (exact) *exact = 0;
    }
    if (t == CZ_T_I64 || t == CZ_T_U64) {
        if (r >= hi) { /* 2^63 / 2^64 are not representable */
            if (exact) *exact = 0;
            return t == CZ_T_I64 ? (uint64_t)INT64_MAX : UINT64_MAX;
        }
    } else if (r > hi) {
        r = hi;
        if (exact) *exact = 0;
    }
    if (t == CZ_T_U64 || t == CZ_T_U32 || t == CZ_T_U16 || t == CZ_T_U8) return (uint64_t)r;
    return (uint64_t)(int64_t)r; /* two's complement, truncated by put_bits */
}

#endif /* CZ_IO_ELEM_H */
