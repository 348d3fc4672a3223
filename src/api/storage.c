/* storage.c — the bound held in the file the user gets. A variable stored as integers (packed
 * with scale_factor/add_offset, or a plain integer type) is written as round((y - offset) /
 * scale): the error after that rounding is what counts. With the bound in whole quanta
 * (Q = floor(E / |scale|)) a decoded value within Q quanta of the integer original rounds to
 * an integer within Q of it, so the written value is within E by construction; Q = 0 is
 * lossless. A decoded value that would be written as a missing value (_FillValue inside the
 * data range) is found here, and the compressor codes the variable again more tightly. */
#include "codec.h"

#include <math.h>
#include <string.h>

double api_storage_quantum(const cz_var *v) {
    switch (v->type) {
    case CZ_T_I8: case CZ_T_U8: case CZ_T_I16: case CZ_T_U16:
    case CZ_T_I32: case CZ_T_U32: case CZ_T_I64: case CZ_T_U64:
        return v->packed ? fabs(v->scale) : 1.0;
    default: return 0;
    }
}

double api_bound_in_quanta(double E, double q) {
    if (!(q > 0) || !(E > 0)) return E;
    double Q = floor(E / q);
    while (Q > 0 && Q * q > E) Q--;
    while ((Q + 1) * q <= E) Q++;
    return Q * q;
}

static void type_limits(cz_dtype t, double *lo, double *hi) {
    switch (t) {
    case CZ_T_I8: *lo = -128, *hi = 127; break;
    case CZ_T_U8: *lo = 0, *hi = 255; break;
    case CZ_T_I16: *lo = -32768, *hi = 32767; break;
    case CZ_T_U16: *lo = 0, *hi = 65535; break;
    case CZ_T_I32: *lo = -2147483648.0, *hi = 2147483647.0; break;
    case CZ_T_U32: *lo = 0, *hi = 4294967295.0; break;
    case CZ_T_I64: *lo = -9223372036854775808.0, *hi = 9223372036854774784.0; break;
    default: *lo = 0, *hi = 18446744073709549568.0; break;
    }
}

/* the integer value of special k of v (stored bits, little-endian, sign-extended) */
static double special_value(const cz_var *v, int k) {
    uint64_t b = 0;
    for (int i = 7; i >= 0; i--) b = b << 8 | v->specials[k][i];
    switch (v->type) {
    case CZ_T_I8: return (double)(int8_t)b;
    case CZ_T_I16: return (double)(int16_t)b;
    case CZ_T_I32: return (double)(int32_t)b;
    case CZ_T_I64: return (double)(int64_t)b;
    case CZ_T_U8: return (double)(uint8_t)b;
    case CZ_T_U16: return (double)(uint16_t)b;
    case CZ_T_U32: return (double)(uint32_t)b;
    default: return (double)b;
    }
}

size_t api_round_to_storage(const cz_var *v, float *y, const uint8_t *miss, size_t n) {
    double const q = api_storage_quantum(v);
    if (q == 0) return 0;
    double lo, hi;
    type_limits(v->type, &lo, &hi);
    double const s = v->packed ? v->scale : 1, o = v->packed ? v->offset : 0;
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        if (miss[i]) continue;
        double d = ((double)y[i] - o) / s;
        if (isnan(d)) d = 0;
        double r = round(d);
        r = r < lo ? lo : r > hi ? hi : r;
        for (int k = 0; k < v->nspecials; k++) hits += r == special_value(v, k);
        y[i] = (float)(r * s + o);
    }
    return hits;
}
