/*
 * ops.h — dense ops of the nn engine: matrix products, linear, patch embedding and its
 * transposed convolution, pixel (un)shuffle, LayerNorm, GELU, sin (SIREN), residual add,
 * softmax, Gaussian Fourier features. Conventions in nn/nn.h: caller-owned buffers,
 * backward ACCUMULATES (+=) and takes NULL for gradients it need not compute; every op has
 * a double twin with the suffix _f64 (same arguments, double instead of float).
 *
 * READ ME FIRST
 *  - Forward functions OVERWRITE their output; backward functions ADD into gradients.
 *  - Matrix products go through nn_gemm: OpenBLAS normally, the fixed-order kernel
 *    nn_gemm_det in deterministic mode (nn_set_deterministic). nn_gemm_det's contract:
 *    C[m][n] = alpha * s + beta * C[m][n] with s = sum_k A(m,k) * B(k,n) accumulated in
 *    float from k = 0 upwards (double in the _f64 twin), each output computed whole by one
 *    thread (tiles of 16 rows x 64 columns), so its result depends on nothing but the inputs
 *    (not on threads, tiling, SIMD width or machine; needs IEEE arithmetic without FMA
 *    contraction, which -std=c11 gives with gcc). About 5x slower than OpenBLAS.
 *  - A 1x1 convolution on channel-last tokens is nn_linear on (B*T, C).
 *  - Shapes of the void functions are the caller's preconditions: the model code checks a
 *    configuration once when it builds a model (pixel shuffle also asserts H % r == 0 in
 *    debug builds). The patch convolutions check theirs and return CLIMZ_ERR_DIMENSION.
 *  - Functions returning climz_status allocate a bounded scratch buffer (im2col, at most
 *    ~16 MB) and fail only with CLIMZ_ERR_ALLOC (or CLIMZ_ERR_DIMENSION for shapes whose
 *    sizes overflow).
 */
#ifndef NN_OPS_H
#define NN_OPS_H

#include <stddef.h>

#include "nn/nn.h"
#include "nn/rng.h"

/* ---- matrix products ----------------------------------------------------------------- */
/* Row-major C (M, N) = alpha * op(A) @ op(B) + beta * C, op(A) (M, K), op(B) (K, N).
 * ta = 0: A is (M, K) with row stride lda; ta = 1: A is (K, M) (used transposed).
 * tb = 0: B is (K, N) with row stride ldb; tb = 1: B is (N, K). C has row stride ldc.
 * beta == 0 overwrites C without reading it (as BLAS). nn_gemm honours deterministic mode;
 * nn_gemm_det is always the fixed-order kernel (contract above). Parallel over outputs
 * with OpenMP (serial when called inside a parallel region). */
void nn_gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
             size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);
void nn_gemm_det(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);
void nn_gemm_f64(int ta, int tb, size_t M, size_t N, size_t K, double alpha, const double *A,
                 size_t lda, const double *B, size_t ldb, double beta, double *C, size_t ldc);
void nn_gemm_det_f64(int ta, int tb, size_t M, size_t N, size_t K, double alpha,
                     const double *A, size_t lda, const double *B, size_t ldb, double beta,
                     double *C, size_t ldc);

/* ---- linear (= 1x1 convolution on channel-last tokens) --------------------------------
 * inp (N, C), w (OC, C), b (OC) or NULL -> out (N, OC): out = inp @ w^T + b.
 * Deterministic mode: out[n][oc] = (sum_c inp[n][c] * w[oc][c], in order) + b[oc].
 * Backward: dinp (N, C), dw (OC, C), db (OC), any NULL; dout (N, OC). */
void nn_linear_forward(float *out, const float *inp, const float *w, const float *b, size_t N,
                       size_t C, size_t OC);
void nn_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, size_t N, size_t C, size_t OC);
void nn_linear_forward_f64(double *out, const double *inp, const double *w, const double *b,
                           size_t N, size_t C, size_t OC);
void nn_linear_backward_f64(double *dinp, double *dw, double *db, const double *dout,
                            const double *inp, const double *w, size_t N, size_t C, size_t OC);

/* ---- patch embedding: strided convolution, channel-first image -> channel-last tokens ---
 * inp (B, C, H, W), w (OC, C, KH, KW), b (OC) or NULL -> out (B, OH*OW, OC) with
 * OH = (H-KH)/SH+1, OW = (W-KW)/SW+1, no padding; the kernel may exceed the stride (the
 * reference 11x10 kernel, stride 10, maps 721 rows to 72 token rows, each patch overlapping
 * the next by one row). Needs H >= KH, W >= KW. im2col + nn_gemm, in chunks of token rows.
 * Backward: dinp (B, C, H, W), dw (OC, C, KH, KW), db (OC), any NULL; dout (B, OH*OW, OC). */
climz_status nn_patch_embed_forward(float *out, const float *inp, const float *w,
                                    const float *b, size_t B, size_t C, size_t H, size_t W,
                                    size_t OC, size_t KH, size_t KW, size_t SH, size_t SW);
climz_status nn_patch_embed_backward(float *dinp, float *dw, float *db, const float *dout,
                                     const float *inp, const float *w, size_t B, size_t C,
                                     size_t H, size_t W, size_t OC, size_t KH, size_t KW,
                                     size_t SH, size_t SW);
climz_status nn_patch_embed_forward_f64(double *out, const double *inp, const double *w,
                                        const double *b, size_t B, size_t C, size_t H, size_t W,
                                        size_t OC, size_t KH, size_t KW, size_t SH, size_t SW);
climz_status nn_patch_embed_backward_f64(double *dinp, double *dw, double *db,
                                         const double *dout, const double *inp, const double *w,
                                         size_t B, size_t C, size_t H, size_t W, size_t OC,
                                         size_t KH, size_t KW, size_t SH, size_t SW);

/* ---- patch un-embedding: transposed convolution, channel-last tokens -> channel-first ---
 * inp (B, IH*IW, C), w (C, OC, KH, KW) (PyTorch ConvTranspose2d), b (OC) or NULL
 * -> out (B, OC, H, W). The full output is FH = (IH-1)*SH+KH by FW = (IW-1)*SW+KW; H <= FH
 * and W <= FW keep its top-left H x W (72 x 144 tokens, kernel 11x10, stride 10 give exactly
 * 721 x 1440). H < FH + SH, W < FW + SW may also exceed it, as PyTorch's output_padding: the
 * extra bottom rows / right columns get the bias only (so an image that the embedding cut
 * short, e.g. 23 x 20 -> 2 x 2 tokens, comes back at 23 x 20). Where patches overlap their
 * contributions add.
 * Backward: dinp (B, IH*IW, C), dw (C, OC, KH, KW), db (OC), any NULL; dout (B, OC, H, W). */
climz_status nn_patch_unembed_forward(float *out, const float *inp, const float *w,
                                      const float *b, size_t B, size_t C, size_t IH, size_t IW,
                                      size_t OC, size_t KH, size_t KW, size_t SH, size_t SW,
                                      size_t H, size_t W);
climz_status nn_patch_unembed_backward(float *dinp, float *dw, float *db, const float *dout,
                                       const float *inp, const float *w, size_t B, size_t C,
                                       size_t IH, size_t IW, size_t OC, size_t KH, size_t KW,
                                       size_t SH, size_t SW, size_t H, size_t W);
climz_status nn_patch_unembed_forward_f64(double *out, const double *inp, const double *w,
                                          const double *b, size_t B, size_t C, size_t IH,
                                          size_t IW, size_t OC, size_t KH, size_t KW, size_t SH,
                                          size_t SW, size_t H, size_t W);
climz_status nn_patch_unembed_backward_f64(double *dinp, double *dw, double *db,
                                           const double *dout, const double *inp,
                                           const double *w, size_t B, size_t C, size_t IH,
                                           size_t IW, size_t OC, size_t KH, size_t KW, size_t SH,
                                           size_t SW, size_t H, size_t W);

/* ---- pixel unshuffle / shuffle on channel-last tensors (PyTorch channel order) ----------
 * unshuffle: inp (B, H, W, C) -> out (B, H/r, W/r, C*r*r),
 *   out[b][y][x][c*r*r + i*r + j] = inp[b][y*r + i][x*r + j][c]; H, W multiples of r.
 * shuffle, the inverse: inp (B, H, W, C*r*r) -> out (B, H*r, W*r, C).
 * H, W are the input's spatial sizes in both; C the channels of the full-resolution side.
 * Backward: dinp has inp's shape, dout out's. */
void nn_pixel_unshuffle_forward(float *out, const float *inp, size_t B, size_t H, size_t W,
                                size_t C, size_t r);
void nn_pixel_unshuffle_backward(float *dinp, const float *dout, size_t B, size_t H, size_t W,
                                 size_t C, size_t r);
void nn_pixel_shuffle_forward(float *out, const float *inp, size_t B, size_t H, size_t W,
                              size_t C, size_t r);
void nn_pixel_shuffle_backward(float *dinp, const float *dout, size_t B, size_t H, size_t W,
                               size_t C, size_t r);
void nn_pixel_unshuffle_forward_f64(double *out, const double *inp, size_t B, size_t H,
                                    size_t W, size_t C, size_t r);
void nn_pixel_unshuffle_backward_f64(double *dinp, const double *dout, size_t B, size_t H,
                                     size_t W, size_t C, size_t r);
void nn_pixel_shuffle_forward_f64(double *out, const double *inp, size_t B, size_t H, size_t W,
                                  size_t C, size_t r);
void nn_pixel_shuffle_backward_f64(double *dinp, const double *dout, size_t B, size_t H,
                                   size_t W, size_t C, size_t r);

/* ---- LayerNorm over the last dim -------------------------------------------------------
 * inp (N, C), g, b (C) -> out (N, C); saves mean, rstd (N) for backward (either may be
 * NULL in forward when no backward follows). rstd = 1/sqrt(var + eps), biased variance;
 * g = NULL means 1, b = NULL means 0 (no affine). Each row is reduced by one thread, so no
 * result depends on the thread count; deterministic mode (and the double twin) sums in
 * index order in double, the float fast path in SIMD lanes in float (the lanes depend on
 * the CPU). Backward: dinp (N, C), dg, db (C), any NULL. */
void nn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *g,
                          const float *b, size_t N, size_t C, float eps);
void nn_layernorm_backward(float *dinp, float *dg, float *db, const float *dout,
                           const float *inp, const float *g, const float *mean,
                           const float *rstd, size_t N, size_t C);
void nn_layernorm_forward_f64(double *out, double *mean, double *rstd, const double *inp,
                              const double *g, const double *b, size_t N, size_t C, double eps);
void nn_layernorm_backward_f64(double *dinp, double *dg, double *db, const double *dout,
                               const double *inp, const double *g, const double *mean,
                               const double *rstd, size_t N, size_t C);

/* ---- elementwise ----------------------------------------------------------------------- */
/* exact GELU: out = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); n elements. Deterministic
 * mode: the portable table GELU nn_det_gelu (float; machine-independent bits) or
 * nn_det_erfc in double (the double twin). The float
 * fast path uses the vectorised rational erf of nn/fastmath.h (within 1.4e-6 of exact GELU
 * in absolute terms); the double twin uses libm. */
void nn_gelu_forward(float *out, const float *inp, size_t n);
void nn_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void nn_gelu_forward_f64(double *out, const double *inp, size_t n);
void nn_gelu_backward_f64(double *dinp, const double *dout, const double *inp, size_t n);

/* SIREN activation: out = sin(omega * x); n elements */
void nn_sin_forward(float *out, const float *inp, float omega, size_t n);
void nn_sin_backward(float *dinp, const float *dout, const float *inp, float omega, size_t n);
void nn_sin_forward_f64(double *out, const double *inp, double omega, size_t n);
void nn_sin_backward_f64(double *dinp, const double *dout, const double *inp, double omega,
                         size_t n);

/* SIREN initialisation of a Linear weight w (fan_out, fan_in) (Sitzmann et al. 2020):
 * first layer U(-1/fan_in, 1/fan_in), others U(-sqrt(6/fan_in)/omega, +sqrt(6/fan_in)/omega). */
void nn_siren_init(float *w, size_t fan_in, size_t fan_out, float omega, int is_first,
                   nn_rng *rng);

/* residual add: out = a + b (out may alias a or b); backward da += dout, db += dout */
void nn_add_forward(float *out, const float *a, const float *b, size_t n);
void nn_add_backward(float *da, float *db, const float *dout, size_t n);
void nn_add_forward_f64(double *out, const double *a, const double *b, size_t n);
void nn_add_backward_f64(double *da, double *db, const double *dout, size_t n);

/* ---- softmax over rows of length C: inp, out (N, C) -------------------------------------
 * Max-subtracted; each row reduced in order by one thread; deterministic mode takes e^x from
 * nn_det_exp. A row of all -inf (fully masked) gives zeros. Backward uses the saved output:
 * dinp += y * (dout - sum_j dout_j y_j). */
void nn_softmax_forward(float *out, const float *inp, size_t N, size_t C);
void nn_softmax_backward(float *dinp, const float *dout, const float *out, size_t N, size_t C);
void nn_softmax_forward_f64(double *out, const double *inp, size_t N, size_t C);
void nn_softmax_backward_f64(double *dinp, const double *dout, const double *out, size_t N,
                             size_t C);

/* ---- Gaussian Fourier features of coordinates (Tancik et al. 2020) -----------------------
 * inp (N, D) coordinates, Bmat (F, D) frequencies -> out (N, 2F):
 * out[n] = [sin(2 pi p), cos(2 pi p)] with p = inp[n] @ Bmat^T (F).
 * Backward uses the saved out: dinp (N, D), dBmat (F, D) (NULL unless B is trainable). */
void nn_fourier_forward(float *out, const float *inp, const float *Bmat, size_t N, size_t D,
                        size_t F);
void nn_fourier_backward(float *dinp, float *dBmat, const float *dout, const float *out,
                         const float *inp, const float *Bmat, size_t N, size_t D, size_t F);
void nn_fourier_forward_f64(double *out, const double *inp, const double *Bmat, size_t N,
                            size_t D, size_t F);
void nn_fourier_backward_f64(double *dinp, double *dBmat, const double *dout, const double *out,
                             const double *inp, const double *Bmat, size_t N, size_t D,
                             size_t F);

#endif /* NN_OPS_H */
