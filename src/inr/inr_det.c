/* inr_det.c — portable math of the CA-INR decoder: sine/cosine, inverse normal CDF (GELU:
 * nn_det_gelu).
 * Plain IEEE double arithmetic, no libm (fmod, which is exact, aside) and no FMA (the build
 * uses -std=c11, so gcc does not contract), hence the same bits on every machine. */
#include "inr/inr_internal.h"
#include "nn/nn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- sine and cosine ------------------------------------------------------------------ */

/* pi/2 split as in fdlibm: PIO2_1 holds the leading 33 bits, so k * PIO2_1 is exact for
 * |k| < 2^20; the two further terms carry the rest. */
#define INR_PIO2_1 1.57079632673412561417e+00
#define INR_PIO2_2 6.07710050630396597660e-11
#define INR_PIO2_3 2.02226624871116645580e-21
#define INR_INVPIO2 6.36619772367581382433e-01
#define INR_TWOPI 6.28318530717958647693

/* sin(r) and cos(r) for |r| <= pi/4 (a little more after rounding k) by their Taylor series
 * in Horner form: the terms omitted are below (pi/4)^21/21! ~ 1e-21. */
static double inr_sin_kernel_(double r) {
    double const z = r * r;
    double p = 1.0;
    for (int k = 10; k >= 1; k--) p = 1.0 - z / (double)((2 * k) * (2 * k + 1)) * p;
    return r * p;
}

static double inr_cos_kernel_(double r) {
    double const z = r * r;
    double p = 1.0;
    for (int k = 10; k >= 1; k--) p = 1.0 - z / (double)((2 * k - 1) * (2 * k)) * p;
    return p;
}

/* x = k pi/2 + r, |r| <= ~pi/4; returns r and the quadrant k mod 4. */
static double inr_reduce_(double x, int *quad) {
    if (x > 524288.0 || x < -524288.0) x = fmod(x, INR_TWOPI); /* exact; only for absurd x */
    double const t = x * INR_INVPIO2;
    long const k = (long)(t + (t >= 0 ? 0.5 : -0.5));
    double const kd = (double)k;
    double const r = ((x - kd * INR_PIO2_1) - kd * INR_PIO2_2) - kd * INR_PIO2_3;
    *quad = (int)(k & 3);
    return r;
}

double inr_det_sin(double x) {
    if (!(x - x == 0.0)) return x - x; /* NaN for NaN and +-inf */
    int q;
    double const r = inr_reduce_(x, &q);
    switch (q) {
    case 0: return inr_sin_kernel_(r);
    case 1: return inr_cos_kernel_(r);
    case 2: return -inr_sin_kernel_(r);
    default: return -inr_cos_kernel_(r);
    }
}

double inr_det_cos(double x) {
    if (!(x - x == 0.0)) return x - x;
    int q;
    double const r = inr_reduce_(x, &q);
    switch (q) {
    case 0: return inr_cos_kernel_(r);
    case 1: return -inr_sin_kernel_(r);
    case 2: return -inr_cos_kernel_(r);
    default: return inr_sin_kernel_(r);
    }
}

/* ---- float sine and cosine of the network ------------------------------------------------ *
 * Cephes sinf/cosf: x = k pi/2 + r with pi/2 in three float parts (the first has 8 bits, so
 * k * P1 is exact for |k| < 2^16), then degree-7/8 polynomials on |r| <= pi/4; error about
 * 1e-7. Used in training and in decoding alike. Branch-free, so the loop vectorises; each lane
 * performs exactly the scalar IEEE operations (no FMA contraction under -std=c11), hence the
 * same bits on every machine and vector width. |x| is clamped to 1e5 (a deterministic, if
 * inaccurate, value beyond; never reached by a sane network); NaN propagates. */
#define INR_FP1 1.5703125f
#define INR_FP2 4.837512969970703125e-4f
#define INR_FP3 7.54978995489188216e-8f

static inline uint32_t inr_fbits_(float a) {
    uint32_t u;
    memcpy(&u, &a, 4);
    return u;
}
static inline float inr_bitsf_(uint32_t u) {
    float a;
    memcpy(&a, &u, 4);
    return a;
}

/* Selections are bit masks rather than branches, so that gcc -O2 vectorises the loops. */
static inline void inr_sincos1_(float v, float *so, float *co) {
    uint32_t const vb = inr_fbits_(v), sign = vb & 0x80000000u, mag = vb & 0x7fffffffu;
    uint32_t const big = 0u - (uint32_t)(mag > 0x47c35000u); /* |v| > 1e5 or NaN */
    uint32_t const nan = 0u - (uint32_t)(mag > 0x7f800000u);
    float const xc = inr_bitsf_((vb & ~big) | ((0x47c35000u | sign) & big));
    float const t = xc * 0.63661977236758134308f;
    int const k = (int)(t + inr_bitsf_(0x3f000000u | (inr_fbits_(t) & 0x80000000u))); /* round */
    float const kf = (float)k;
    float const r = ((xc - kf * INR_FP1) - kf * INR_FP2) - kf * INR_FP3;
    float const z = r * r;
    float const sr = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
    float const cr = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z -
                     0.5f * z + 1.0f;
    uint32_t const q = (uint32_t)k, odd = 0u - (q & 1u);
    uint32_t const sb = (inr_fbits_(cr) & odd) | (inr_fbits_(sr) & ~odd), cb = (inr_fbits_(sr) & odd) | (inr_fbits_(cr) & ~odd);
    /* sin: negative in quadrants 2, 3; cos: in quadrants 1, 2 */
    uint32_t const sneg = (q & 2u) << 30, cneg = ((q + 1u) & 2u) << 30;
    *so = inr_bitsf_(((sb ^ sneg) & ~nan) | (vb & nan));
    *co = inr_bitsf_(((cb ^ cneg) & ~nan) | (vb & nan));
}

void inr_sincos_f32(float *s, float *c, const float *x, float omega, size_t n) {
    if (c) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float sv, cv;
            inr_sincos1_(omega * x[i], &sv, &cv);
            s[i] = sv, c[i] = cv;
        }
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float sv, cv;
            inr_sincos1_(omega * x[i], &sv, &cv);
            s[i] = sv;
        }
    }
}

/* ---- inverse normal CDF ---------------------------------------------------------------- *
 * Bisection on Phi(z) = erfc(-z / sqrt 2) / 2 over [-9, 9]: 60 halvings reach the double
 * resolution of the bracket; deterministic because every step is portable arithmetic. */
double inr_det_normal_inv(double u) {
    double lo = -9.0, hi = 9.0;
    for (int it = 0; it < 60; it++) {
        double const mid = 0.5 * (lo + hi);
        double const cdf = 0.5 * nn_det_erfc(-mid * 0.70710678118654752440);
        if (cdf < u) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}
