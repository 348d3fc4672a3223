/* ops.c — dense ops (nn/ops.h): the template ops_impl.inc in float and double, plus the
 * shape planning of the patch convolutions and the SIREN initialisation. */
#include "nn/ops.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cz_common.h"
#include "nn/fastmath.h"
#include "nn/nn.h"

#include <cblas.h>
#include <omp.h>

/* One thread pool: OpenBLAS's own threads off (once per process, nn_blas_single_thread),
 * nn_gemm splits rows over the OpenMP team instead. Two pools on the same cores spin against
 * each other (1.6-2.6x slower transformer blocks on 2 cores). */
static void nn_blas_single_thread_(void) { nn_blas_single_thread(); }

/* im2col scratch per buffer: large enough for gemm efficiency, small enough that the
 * reference 721 x 1440 x 268-channel embedding does not need 1 GB of columns. */
#define NN_COLS_BUDGET ((size_t)16 << 20) /* bytes */

typedef struct nn_conv_plan_ {
    size_t K;         /* columns of the im2col matrix: channels * KH * KW */
    size_t OH, OW;    /* token grid */
    size_t chunk_tok; /* tokens per chunk: whole token rows, at least one row */
} nn_conv_plan_;

static climz_status nn_conv_plan_chunk_(nn_conv_plan_ *p, size_t C, size_t KH, size_t KW,
                                        size_t elsize) {
    size_t kk, K, row;
    CZ_RETURN_IF(!cz_mul_ok(C, KH, &kk) || !cz_mul_ok(kk, KW, &K) ||
                     !cz_mul_ok(K, p->OW ? p->OW : 1, &row) || !cz_mul_ok(row, elsize, &row),
                 CLIMZ_ERR_DIMENSION, "patch convolution: sizes overflow");
    size_t rows = NN_COLS_BUDGET / (row ? row : 1);
    if (rows < 1) rows = 1;
    if (rows > p->OH) rows = p->OH ? p->OH : 1;
    p->K = K;
    p->chunk_tok = rows * (p->OW ? p->OW : 1);
    return CLIMZ_OK;
}

static climz_status nn_embed_plan_(nn_conv_plan_ *p, size_t C, size_t H, size_t W, size_t KH,
                                   size_t KW, size_t SH, size_t SW, size_t elsize) {
    CZ_RETURN_IF(KH == 0 || KW == 0 || SH == 0 || SW == 0, CLIMZ_ERR_DIMENSION,
                 "patch embedding: zero kernel or stride");
    CZ_RETURN_IF(H < KH || W < KW, CLIMZ_ERR_DIMENSION,
                 "patch embedding: image %zux%zu smaller than kernel %zux%zu", H, W, KH, KW);
    p->OH = (H - KH) / SH + 1;
    p->OW = (W - KW) / SW + 1;
    return nn_conv_plan_chunk_(p, C, KH, KW, elsize);
}

static climz_status nn_unembed_plan_(nn_conv_plan_ *p, size_t OC, size_t IH, size_t IW,
                                     size_t KH, size_t KW, size_t SH, size_t SW, size_t H,
                                     size_t W, size_t elsize) {
    CZ_RETURN_IF(KH == 0 || KW == 0 || SH == 0 || SW == 0 || IH == 0 || IW == 0,
                 CLIMZ_ERR_DIMENSION, "patch un-embedding: zero kernel, stride or token grid");
    size_t const FH = (IH - 1) * SH + KH, FW = (IW - 1) * SW + KW;
    /* as PyTorch's output_padding (< stride): extra bottom/right rows get the bias only */
    CZ_RETURN_IF(H >= FH + SH || W >= FW + SW, CLIMZ_ERR_DIMENSION,
                 "patch un-embedding: output %zux%zu exceeds the full %zux%zu by a stride or more",
                 H, W, FH, FW);
    p->OH = IH;
    p->OW = IW;
    return nn_conv_plan_chunk_(p, OC, KH, KW, elsize);
}

/* GELU of the float fast path over a contiguous run (nn/fastmath.h), in chunks that the
 * OpenMP team shares */
#define NN_GELU_CHUNK ((size_t)4096)

NN_SIMD_CLONES static void nn_gelu_fwd_fast_(float *out, const float *inp, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = 0.5f * inp[i] * (1.0f + nn_fast_erff(inp[i] * 0.70710678118654752440f));
}

NN_SIMD_CLONES static void nn_gelu_bwd_fast_(float *dinp, const float *dout, const float *inp,
                                             size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float const x = inp[i];
        float const cdf = 0.5f * (1.0f + nn_fast_erff(x * 0.70710678118654752440f));
        float const pdf = 0.39894228040143267794f * nn_fast_expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

/* One LayerNorm row of the float fast path: sums in SIMD lanes (float: a row is at most a
 * few hundred values of order one), the affine part without per-element branches. */
NN_SIMD_CLONES static void nn_layernorm_row_fast_(float *o, float *mean, float *rstd,
                                                  const float *x, const float *g,
                                                  const float *b, size_t C, float eps) {
    float s = 0, v = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < C; i++) s += x[i];
    float const m = s / (float)C;
#pragma omp simd reduction(+ : v)
    for (size_t i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
    float const rs = (float)(1.0 / sqrt((double)(v / (float)C) + (double)eps));
    if (g && b) {
#pragma omp simd
        for (size_t i = 0; i < C; i++) o[i] = (x[i] - m) * rs * g[i] + b[i];
    } else {
        for (size_t i = 0; i < C; i++) o[i] = (x[i] - m) * rs * (g ? g[i] : 1) + (b ? b[i] : 0);
    }
    if (mean) *mean = m;
    if (rstd) *rstd = rs;
}

#define NN_PRECISION 32
#include "nn/nn_tmpl.h"
#include "ops_impl.inc"
#undef NN_PRECISION

#define NN_PRECISION 64
#include "nn/nn_tmpl.h"
#include "ops_impl.inc"
#undef NN_PRECISION

void nn_siren_init(float *w, size_t fan_in, size_t fan_out, float omega, int is_first,
                   nn_rng *rng) {
    double const fi = (double)(fan_in ? fan_in : 1);
    double const bound = is_first ? 1.0 / fi : sqrt(6.0 / fi) / (double)omega;
    for (size_t i = 0; i < fan_in * fan_out; i++)
        w[i] = (float)((2.0 * (double)nn_rng_uniform(rng) - 1.0) * bound);
}
