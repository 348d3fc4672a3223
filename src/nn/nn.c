/* nn.c — the calling thread's deterministic-mode flag, the one-time OpenBLAS setting and
 * portable exp/erf (see nn.h). */
#include "nn/nn.h"
#include "common/cz_common.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

/* Per thread: two threads (two climz contexts) coding at once never see each other's mode.
 * OpenMP workers do not inherit it: see nn.h. */
static _Thread_local int nn_det_mode_ = 0;

void nn_set_deterministic(int on) { nn_det_mode_ = on ? 1 : 0; }
int nn_deterministic(void) { return nn_det_mode_; }

/* 2^k for -1022 <= k <= 1023, built from its bits (exact) */
static double nn_pow2_(int k) {
    uint64_t const bits = (uint64_t)(k + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* e^x = 2^k e^r with k = round(x / ln 2), r = x - k ln 2 in [-0.35, 0.35]. ln 2 is split
 * into hi + lo where hi has 32 trailing zero bits, so k*hi is exact for |k| < 2^20 and r
 * carries ~1e-20 absolute error. e^r by its Taylor series (nn_det_exp_poly_, nn.h). */
double nn_det_exp(double x) {
    if (x != x) return x;
    if (x > 709.782712893384) return HUGE_VAL;
    if (x < -745.2) return 0.0;
    double const ln2_hi = 6.93147180369123816490e-01; /* 0x3FE62E42FEE00000 */
    double const ln2_lo = 1.90821492927058770002e-10;
    double const log2e = 1.44269504088896338700e+00;
    double const t = x * log2e;
    int const k = (int)(t + (t >= 0 ? 0.5 : -0.5));
    double const r = (x - k * ln2_hi) - k * ln2_lo;
    double const p = nn_det_exp_poly_(r);
    if (k > 1023) return p * nn_pow2_(k - 1) * 2.0;
    if (k < -1022) return p * nn_pow2_(k + 600) * nn_pow2_(-600);
    return p * nn_pow2_(k);
}

/* erfc(x) = e^{-x^2} / (sqrt(pi) g(x)) for x >= 3 with the continued fraction
 *   g = x + (1/2) / (x + (2/2) / (x + (3/2) / (x + ...))), evaluated by modified Lentz. */
static double nn_erfc_cf_(double x) {
    double const tiny = 1e-300;
    double f = x, Cc = x, D = 0.0;
    for (int j = 1; j < 2000; j++) {
        double const a = 0.5 * (double)j;
        D = x + a * D;
        if (D == 0.0) D = tiny;
        Cc = x + a / Cc;
        if (Cc == 0.0) Cc = tiny;
        D = 1.0 / D;
        double const delta = Cc * D;
        f *= delta;
        if (delta - 1.0 < 1e-17 && 1.0 - delta < 1e-17) break;
    }
    double const sqrtpi = 1.77245385090551602730e+00;
    return nn_det_exp(-x * x) / (sqrtpi * f);
}

/* erf(x) for 0 <= x < 3 from the series with positive terms (no cancellation):
 *   erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1)). */
static double nn_erf_series_(double x) {
    double const two_over_sqrtpi = 1.12837916709551257390e+00;
    double const x2 = x * x;
    double term = x, sum = x;
    for (int n = 1; n < 400; n++) {
        term *= 2.0 * x2 / (double)(2 * n + 1);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return two_over_sqrtpi * nn_det_exp(-x2) * sum;
}

double nn_det_erf(double x) {
    if (x != x) return x;
    if (x < 0) return -nn_det_erf(-x);
    if (x >= 6.0) return 1.0; /* erfc(6) = 2.2e-17 < half an ulp of 1 */
    return x < 3.0 ? nn_erf_series_(x) : 1.0 - nn_erfc_cf_(x);
}

double nn_det_erfc(double x) {
    if (x != x) return x;
    if (x >= 3.0) return x > 27.3 ? 0.0 : nn_erfc_cf_(x); /* erfc(27.3) < 2^-1074 */
    return 1.0 - nn_det_erf(x); /* erfc(x) > 2e-5 here: at most ~1e-11 relative lost */
}

static pthread_once_t nn_blas_once_ = PTHREAD_ONCE_INIT;

static void nn_blas_setup_(void) {
    /* the OpenMP build of OpenBLAS (openblas_get_parallel() == 2) shares our pool already */
    if (openblas_get_parallel() != 2 && openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

void nn_blas_single_thread(void) { pthread_once(&nn_blas_once_, nn_blas_setup_); }

void nn_set_threads(int n) {
    cz_set_num_threads(n);
    nn_blas_single_thread();
}

/* ---- GELU ----------------------------------------------------------------------------- *
 * Exact GELU(x) = x Phi(x) tabulated on [-NN_GT_R, NN_GT_R] at step 1/NN_GT_S with its
 * derivative Phi(x) + x phi(x), both from nn_det_erfc/nn_det_exp (portable), interpolated by
 * cubic Hermite: error <= h^4/384 max|f''''| ~ 1e-12, far below float resolution. Outside,
 * GELU(x) = x (x > 8: 1 - Phi < 7e-16) or 0 (x < -8: |x Phi(x)| < 6e-15). The table is built
 * once per process by nn_det_gelu_init (pthread_once; ~0.3 ms). */
#define NN_GT_R 8
#define NN_GT_S 128
#define NN_GT_N (2 * NN_GT_R * NN_GT_S + 1)

static double nn_gt_f_[NN_GT_N], nn_gt_d_[NN_GT_N];
static pthread_once_t nn_gt_once_ = PTHREAD_ONCE_INIT;

static void nn_gelu_table_build_(void) {
    for (int i = 0; i < NN_GT_N; i++) {
        double const x = (double)(i - NN_GT_R * NN_GT_S) / NN_GT_S;
        double const cdf = 0.5 * nn_det_erfc(-x * 0.70710678118654752440);
        double const pdf = 0.39894228040143267794 * nn_det_exp(-0.5 * x * x);
        nn_gt_f_[i] = x * cdf;
        nn_gt_d_[i] = cdf + x * pdf;
    }
}

void nn_det_gelu_init(void) { pthread_once(&nn_gt_once_, nn_gelu_table_build_); }

float nn_det_gelu(float xf) {
    double const x = (double)xf;
    if (!(x > -NN_GT_R)) return x != x ? xf : 0.0f;
    if (!(x < NN_GT_R)) return xf;
    double const u = (x + NN_GT_R) * NN_GT_S; /* in [0, NN_GT_N - 1) */
    int i = (int)u;
    if (i > NN_GT_N - 2) i = NN_GT_N - 2;
    double const t = u - (double)i, h = 1.0 / NN_GT_S;
    double const t2 = t * t, t3 = t2 * t;
    double const h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t;
    double const h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
    return (float)(h00 * nn_gt_f_[i] + h10 * h * nn_gt_d_[i] + h01 * nn_gt_f_[i + 1] +
                   h11 * h * nn_gt_d_[i + 1]);
}
