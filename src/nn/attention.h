/*
 * attention.h — multi-head self-attention on channel-last tokens: plain (materialised
 * scores, the reference), inside non-overlapping windows of a token grid, and global
 * attention streamed over key blocks (flash-attention style, memory O(T)).
 *
 * READ ME FIRST
 *  - Input is the output of ONE qkv projection, qkv (B, T, 3C): for token t, q = [0, C),
 *    k = [C, 2C), v = [2C, 3C), and head h uses columns [h*hd, (h+1)*hd) of each, with
 *    hd = C / NH (PyTorch/timm: qkv.reshape(B, T, 3, NH, hd)). Output is (B, T, C) with the
 *    heads side by side, before the output projection. Scores are scaled by hd^-0.5. No
 *    causal mask, no position bias.
 *  - Window and global attention save only two numbers per (token, head) for backward,
 *    `stats` (nn_attention_stats_size() elements: the running max m and sum l of the
 *    online softmax, in an internal order). Backward recomputes the scores block by block
 *    (FlashAttention-2) and also needs the forward output `out`.
 *  - Windows (wh rows x ww columns) tile the H x W grid from its north-west corner. Where the
 *    grid is not a multiple of the window the edge windows are simply smaller: padded
 *    tokens do not exist, so they are never attended and never attend (masking by
 *    construction). With wrap_lon = 1 and W not a multiple of ww, the last column of
 *    windows is completed with the first columns of the grid instead: a window starting at
 *    column c0 = (nww-1)*ww holds columns c0..W-1 as its own (query) tokens plus columns
 *    0..nww*ww-W-1 of the same rows as extra keys/values only. Every token is a query in
 *    exactly one window (its home window, column c / ww); those wrapped columns also serve
 *    as keys in the last window, and their gradients add up from both windows. When
 *    ww >= W (one window per row band) there is nothing to wrap. Latitude (H) never wraps.
 *  - Deterministic mode (nn_set_deterministic): bit-identical results for any thread count
 *    and on any IEEE-754 machine: products through nn_gemm_det, exp through nn_det_exp,
 *    every sum in a fixed order; work is split only over (batch, window, head, group of
 *    query blocks) in forward and over (batch, window, head) in backward.
 *  - Functions returning climz_status fail with CLIMZ_ERR_INVALID_ARG (NH == 0, C not a
 *    multiple of NH, an empty window) or CLIMZ_ERR_ALLOC (small per-thread scratch); outputs
 *    are then unspecified. The _f64 twins take double buffers, same contracts.
 */
#ifndef NN_ATTENTION_H
#define NN_ATTENTION_H

#include <stddef.h>

#include "nn/nn.h"

/* A window shape on the token grid. */
typedef struct nn_window {
    size_t wh;    /* rows (north-south extent), >= 1; clipped to H */
    size_t ww;    /* columns (east-west extent), >= 1; clipped to W */
    int wrap_lon; /* 1: complete the last window column from the grid's first columns */
} nn_window;

/* Elements of `stats` for B*T tokens and NH heads: 2 * B * T * NH. */
size_t nn_attention_stats_size(size_t B, size_t T, size_t NH);

/* ---- (a) plain attention over all T tokens (reference; memory O(T^2)) ------------------
 * qkv (B, T, 3C) -> out (B, T, C); att (B, NH, T, T) receives the probabilities (saved for
 * backward). Backward: dqkv (B, T, 3C) +=; dout (B, T, C). */
void nn_attention_forward(float *out, float *att, const float *qkv, size_t B, size_t T,
                          size_t C, size_t NH);
void nn_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           size_t B, size_t T, size_t C, size_t NH);
void nn_attention_forward_f64(double *out, double *att, const double *qkv, size_t B, size_t T,
                              size_t C, size_t NH);
void nn_attention_backward_f64(double *dqkv, const double *dout, const double *qkv,
                               const double *att, size_t B, size_t T, size_t C, size_t NH);

/* ---- (b) window attention on an H x W grid (T = H*W) -------------------------------------
 * qkv (B, T, 3C) -> out (B, T, C), stats (nn_attention_stats_size(B, T, NH)).
 * work: scratch of nn_window_attention_work_size() elements (forward and backward), or
 * NULL when that size is 0 (one window covers the grid: no gather needed).
 * Backward: dqkv (B, T, 3C) +=; dout, out (B, T, C); stats from forward. */
size_t nn_window_attention_work_size(size_t B, size_t H, size_t W, size_t C,
                                     const nn_window *win);
climz_status nn_window_attention_forward(float *out, float *stats, float *work,
                                         const float *qkv, size_t B, size_t H, size_t W,
                                         size_t C, size_t NH, const nn_window *win);
climz_status nn_window_attention_backward(float *dqkv, float *work, const float *dout,
                                          const float *qkv, const float *out,
                                          const float *stats, size_t B, size_t H, size_t W,
                                          size_t C, size_t NH, const nn_window *win);
climz_status nn_window_attention_forward_f64(double *out, double *stats, double *work,
                                             const double *qkv, size_t B, size_t H, size_t W,
                                             size_t C, size_t NH, const nn_window *win);
climz_status nn_window_attention_backward_f64(double *dqkv, double *work, const double *dout,
                                              const double *qkv, const double *out,
                                              const double *stats, size_t B, size_t H,
                                              size_t W, size_t C, size_t NH,
                                              const nn_window *win);

/* ---- (c) global attention streamed over key blocks (memory O(T), no T x T matrix) --------
 * qkv (B, T, 3C) -> out (B, T, C), stats (nn_attention_stats_size(B, T, NH)).
 * Backward: dqkv (B, T, 3C) +=; dout, out (B, T, C); stats from forward. */
climz_status nn_global_attention_forward(float *out, float *stats, const float *qkv, size_t B,
                                         size_t T, size_t C, size_t NH);
climz_status nn_global_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                          const float *out, const float *stats, size_t B,
                                          size_t T, size_t C, size_t NH);
climz_status nn_global_attention_forward_f64(double *out, double *stats, const double *qkv,
                                             size_t B, size_t T, size_t C, size_t NH);
climz_status nn_global_attention_backward_f64(double *dqkv, const double *dout,
                                              const double *qkv, const double *out,
                                              const double *stats, size_t B, size_t T,
                                              size_t C, size_t NH);

#endif /* NN_ATTENTION_H */
