/* half.c — IEEE 754 binary16 <-> binary32 in integer arithmetic: the same bits on every
 * machine, with or without hardware conversions (the VAEformer stores the change of a
 * sample's normalisation statistics from the step before as binary16). */
#include "common/cz_common.h"

#include <string.h>

/* round to nearest, ties to even; overflow gives infinity, NaN stays NaN */
uint16_t cz_f16_from_f32(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t const sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0)); /* inf, NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520: rounds to infinity */
    uint32_t q, rem, half;
    if (ax < 0x38800000u) { /* below 2^-14: a subnormal half (or zero), in units of 2^-24 */
        if (ax < 0x33000000u) return (uint16_t)sign; /* below 2^-25: zero */
        uint32_t const shift = 126 - (ax >> 23), m = (ax & 0x7fffffu) | 0x800000u;
        q = m >> shift;
        rem = m & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    } else { /* normal: rebias the exponent (127 -> 15), drop 13 mantissa bits */
        uint32_t const r = ax - 0x38000000u;
        q = r >> 13;
        rem = r & 0x1fffu;
        half = 0x1000u;
    }
    if (rem > half || (rem == half && (q & 1))) q++; /* a carry into the exponent is right */
    return (uint16_t)(sign | q);
}

float cz_f32_from_f16(uint16_t h) {
    uint32_t const sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0x1f) x = sign | 0x7f800000u | (m << 13);
    else if (e) x = sign | ((e + 112) << 23) | (m << 13);
    else if (!m) x = sign;
    else { /* subnormal: normalise */
        e = 113;
        while (!(m & 0x400u)) m <<= 1, e--;
        x = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}
