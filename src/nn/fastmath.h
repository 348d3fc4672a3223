/*
 * fastmath.h — float exp and erf for the fast (non-deterministic) path of the kernels,
 * written as plain arithmetic so that `omp simd` loops over them vectorise, and the
 * function-clone attribute that compiles such loops for AVX2 and AVX-512 as well.
 *
 * Never used in deterministic mode: the results depend on nothing but IEEE arithmetic, but
 * they are not the portable nn_det_* functions the entropy-model parameters are defined by.
 */
#ifndef NN_FASTMATH_H
#define NN_FASTMATH_H

#include <stdint.h>

/* The rows these loops run over are a fifth of the attention time and most of GELU's with
 * SSE2 (the x86-64 baseline), so with GCC on x86-64 the functions marked NN_SIMD_CLONES are
 * also compiled for AVX2 and AVX-512 and picked at load time (ifunc). The formula is the
 * same in every clone: lanes change how many elements run at once, not the arithmetic. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(CLIMZ_NO_IFUNC) /* ThreadSanitizer: an ifunc resolver runs before its runtime */
#define NN_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_SIMD_CLONES
#endif

/* exp(x) = 2^n e^r with n = round(x log2 e), |r| <= ln2/2 taken with a two-part ln 2 (Cephes
 * expf: C1 = 0.693359375 has 9 bits, so n*C1 is exact), e^r = 1 + r + r^2 p(r) with
 * Cephes' degree-5 minimax p; 2^n is built in the exponent bits. Max error ~2 ulp for
 * x <= 0 (the callers' range: softmax rows after the max, Gaussian tails). Inputs below -87
 * are raised to -87 (result ~1.6e-38): the clamp compares the bit patterns as unsigned
 * integers (negative floats order by magnitude there; +-0 and positives are not touched),
 * because a float compare in a select keeps gcc -O2 from if-converting the loop. */
static inline float nn_fast_expf(float x) {
    union { float f; uint32_t u; } a, e;
    a.f = x;
    a.u = a.u > 0xC2AE0000u ? 0xC2AE0000u : a.u; /* 0xC2AE0000 = -87.0f */
    x = a.f;
    float const t = x * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: rounds to int */
    float const n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float const p =
        5.0000001201e-1f +
        r * (1.6666665459e-1f +
             r * (4.1665795894e-2f +
                  r * (8.3334519073e-3f + r * (1.3981999507e-3f + r * 1.9875691500e-4f))));
    e.u = (uint32_t)((int32_t)n + 127) << 23; /* 2^n, n in [-126, 0] for x <= 0 */
    return (1.0f + r + r * r * p) * e.f;
}

/* erf(x) = x P(x^2) / Q(x^2) on x clamped to [-4, 4] (erf(4) = 1 - 1.5e-8 rounds to 1),
 * with the degree-13/8 rational minimax coefficients of Eigen's float erf. Max absolute
 * error 4.2e-7 over [-10, 10] against double erf (about 3 ulp near 1); GELU built on it
 * stays within 1.4e-6 of the double reference, against 4.5e-7 with libm's erff. The clamp
 * is written as selects on floats, which gcc vectorises in `omp simd` loops. */
static inline float nn_fast_erff(float x) {
    x = x > 4.0f ? 4.0f : x;
    x = x < -4.0f ? -4.0f : x;
    float const x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

#endif /* NN_FASTMATH_H */
