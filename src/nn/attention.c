/*
 * attention.c — plain, window and streamed global attention (see attention.h). The kernels
 * are written once in attention_impl.inc and compiled here in float and in double; this
 * file holds what does not depend on the precision: the window geometry and the float exp
 * row (with nn/fastmath.h).
 *
 * One engine serves window and global attention. Both are "attention inside sequences":
 * window attention first gathers each window's tokens into a contiguous sequence
 * (query tokens first, then wrapped key-only tokens), global attention is the case of one
 * window covering the whole grid, where the gathered layout is the original one and no copy
 * is made. Each (sequence, head, group of query blocks) is processed by one thread, streaming
 * over key blocks with an online softmax (backward: each (sequence, head)); blocks are small
 * enough (bq * bk * hd <= 2^18) that OpenBLAS runs them on the calling thread, so the
 * parallelism is ours (OpenMP).
 */
#include "nn/attention.h"

#include "common/cz_common.h"
#include "nn/fastmath.h"
#include "nn/ops.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Query rows per block; a forward task takes ATT_GROUP blocks (256 queries), so each key
 * block is transposed once per group. Key rows per block come from att_block_k(). */
#define ATT_BQ 64
#define ATT_GROUP 4

/* Key block: bq * bk * hd <= 2^18 keeps each small product below OpenBLAS's threading
 * threshold (65536 * 4 multiply-adds), so it runs single-threaded inside our own parallel
 * region instead of queueing on OpenBLAS's lock; at least 16, at most 256, a multiple of 16. */
static size_t att_block_k(size_t hd) {
    size_t bk = ((size_t)1 << 18) / (ATT_BQ * (hd ? hd : 1));
    if (bk > 256) bk = 256;
    bk &= ~(size_t)15;
    return bk < 16 ? 16 : bk;
}

/* ---- window geometry ------------------------------------------------------------------ */

typedef struct att_geom {
    size_t B, H, W;   /* grid */
    size_t wh, ww;    /* window extent, clipped to the grid */
    size_t nwh, nww;  /* windows per grid column / per grid row */
    size_t wrapc;     /* wrapped key-only columns of the last window column (0: none) */
    size_t nseq;      /* B * nwh * nww sequences */
    size_t maxq;      /* largest number of query tokens in a window: wh * ww */
    int identity;     /* one window covers the grid: gathered layout == original layout */
} att_geom;

/* One sequence (window) s < nseq: rows r0..r0+rows-1 and columns c0..c0+cols-1 of batch b
 * are its queries, in row-major order at gathered rows goff.., and at query rows qoff.. of
 * the (B*T)-row output/stats order; then rows x wrap key-only tokens (columns 0..wrap-1).
 * Gathered offsets: a band of window rows holds rows * (W + wrapc) gathered tokens and every
 * window but the last in a band is ww wide, so offsets follow in closed form. */
typedef struct att_seq {
    size_t b, r0, c0, rows, cols, wrap;
    size_t goff, qoff, nq, nk;
} att_seq;

static void att_geom_make(att_geom *g, size_t B, size_t H, size_t W, const nn_window *win) {
    g->B = B;
    g->H = H;
    g->W = W;
    g->wh = win->wh < H ? win->wh : H;
    g->ww = win->ww < W ? win->ww : W;
    if (g->wh == 0) g->wh = 1; /* only for H == 0, where nothing is done */
    if (g->ww == 0) g->ww = 1;
    g->nwh = (H + g->wh - 1) / g->wh;
    g->nww = (W + g->ww - 1) / g->ww;
    g->wrapc = (win->wrap_lon && g->nww > 1) ? g->nww * g->ww - W : 0;
    g->nseq = B * g->nwh * g->nww;
    g->maxq = g->wh * g->ww;
    g->identity = g->nwh == 1 && g->nww == 1;
}

static att_seq att_seq_get(const att_geom *g, size_t s) {
    att_seq q;
    size_t const per_b = g->nwh * g->nww;
    size_t const wi = (s % per_b) / g->nww, wj = s % g->nww;
    q.b = s / per_b;
    q.r0 = wi * g->wh;
    q.c0 = wj * g->ww;
    q.rows = g->H - q.r0 < g->wh ? g->H - q.r0 : g->wh;
    q.cols = g->W - q.c0 < g->ww ? g->W - q.c0 : g->ww;
    q.wrap = wj == g->nww - 1 ? g->wrapc : 0;
    q.goff = (q.b * g->H + q.r0) * (g->W + g->wrapc) + q.rows * q.c0;
    q.qoff = (q.b * g->H + q.r0) * g->W + q.rows * q.c0;
    q.nq = q.rows * q.cols;
    q.nk = q.rows * (q.cols + q.wrap);
    return q;
}

/* gathered rows: B * H * (W + wrapc) */
static size_t att_gathered_rows(const att_geom *g) { return g->B * g->H * (g->W + g->wrapc); }

static climz_status att_check(size_t C, size_t NH, const nn_window *win) {
    CZ_RETURN_IF(NH == 0 || C % NH != 0, CLIMZ_ERR_INVALID_ARG,
                 "attention: C = %zu is not a positive multiple of NH = %zu heads", C, NH);
    CZ_RETURN_IF(win && (win->wh == 0 || win->ww == 0), CLIMZ_ERR_INVALID_ARG,
                 "attention: empty window %zu x %zu", win->wh, win->ww);
    return CLIMZ_OK;
}

size_t nn_attention_stats_size(size_t B, size_t T, size_t NH) { return 2 * B * T * NH; }

size_t nn_window_attention_work_size(size_t B, size_t H, size_t W, size_t C,
                                     const nn_window *win) {
    att_geom g;
    if (!win || win->wh == 0 || win->ww == 0) return 0;
    att_geom_make(&g, B, H, W, win);
    if (g.identity) return 0;
    /* gathered qkv and its gradient (3C each), gathered out and dout (C each) */
    return 2 * att_gathered_rows(&g) * 3 * C + 2 * B * H * W * C;
}

static inline double att_exp_f64(double x) { return exp(x); }

/* x[j] = nn_det_exp(x[j] - mx) for j < n (x[j] <= mx), in double, in SIMD lanes: the same bits
 * in every clone (IEEE operations lane by lane, no contraction under -std=c11) */
NN_SIMD_CLONES static void att_det_exp_row(float *x, size_t n, float mx) {
#pragma omp simd
    for (size_t j = 0; j < n; j++) x[j] = (float)nn_det_exp_le0((double)(x[j] - mx));
}

/* x[j] = exp(x[j] - mx) for j < n (x[j] <= mx); @return the sum of the new x, accumulated in
 * 8 interleaved partial sums */
NN_SIMD_CLONES static float att_exp_row_fast(float *x, size_t n, float mx) {
#pragma omp simd
    for (size_t j = 0; j < n; j++) x[j] = nn_fast_expf(x[j] - mx);
    float acc[8] = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (size_t u = 0; u < 8; u++) acc[u] += x[j + u];
    float sum = 0;
    for (; j < n; j++) sum += x[j];
    for (size_t u = 0; u < 8; u++) sum += acc[u];
    return sum;
}

/* ---- the two precisions ------------------------------------------------------------------ */

#define NN_PRECISION 32
#include "nn/nn_tmpl.h"
#define ATT_FAST_EXP nn_fast_expf
#include "attention_impl.inc"
#undef ATT_FAST_EXP
#undef NN_PRECISION

#define NN_PRECISION 64
#include "nn/nn_tmpl.h"
#define ATT_FAST_EXP att_exp_f64
#include "attention_impl.inc"
#undef ATT_FAST_EXP
#undef NN_PRECISION
