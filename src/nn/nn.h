/*
 * nn.h — the neural-network engine of climz: shared switches and conventions.
 *
 * READ ME FIRST
 *  - Kernels are plain functions over caller-owned buffers with explicit shapes, in the
 *    manner of llm.c: `nn_op_forward(out, cache..., inp, weights..., dims)` and
 *    `nn_op_backward(dinp, dweights..., dout, saved..., dims)`. Backward functions
 *    ACCUMULATE (+=) into every gradient buffer, and any gradient pointer may be NULL
 *    (not needed, or frozen). Zeroing gradients is the caller's job.
 *  - Every op exists in float (production) and double (finite-difference checks): the
 *    double twin has the same name with the suffix _f64 and takes double buffers. Both are
 *    compiled from one template `<name>_impl.inc` (see nn_tmpl.h).
 *  - Layouts follow PyTorch so that its checkpoints import directly: Linear weight
 *    (OC, C); Conv2d weight (OC, C, KH, KW); ConvTranspose2d weight (C_in, C_out, KH, KW);
 *    LayerNorm weight/bias (C). Activations are channel-last token tensors (B, T, C) with
 *    T = H*W in row-major order (north-to-south rows, west-to-east columns); data images
 *    are channel-first (B, C, H, W).
 *  - Deterministic mode (nn_set_deterministic(1)): the ops that feed entropy-coding
 *    decisions (linear / nn_gemm, layernorm, softmax, gelu, attention) then give results
 *    that are bit-identical for any thread count and on any IEEE-754 machine: no BLAS, every
 *    reduction in a fixed order, no atomics, and transcendental functions from the portable
 *    nn_det_* routines below instead of libm (whose results may differ between machines:
 *    glibc picks FMA variants at run time). This relies on the build using no fast-math and
 *    no FMA contraction (-std=c11 implies -ffp-contract=off with gcc).
 */
#ifndef NN_NN_H
#define NN_NN_H

#include <stddef.h>
#include <stdint.h>

#include "climz.h"

/* ---- deterministic mode ------------------------------------------------------------ */

/* Global switch, off by default. Set it before starting work, not while kernels run on
 * other threads. */
void nn_set_deterministic(int on);
/* Threads of the OpenMP team, n <= 0 = all cores. Matrix products split their rows over that
 * team and OpenBLAS runs single-threaded (nn_blas_single_thread), so only one thread pool
 * ever spins on the cores. */
void nn_set_threads(int n);
void nn_blas_single_thread(void);
int nn_deterministic(void); /* 1 when on */

/* ---- portable math ------------------------------------------------------------------- */
/* Plain double arithmetic (no libm, no FMA): the same bits on every IEEE-754 machine.
 * Used by the kernels in deterministic mode; error about 1e-15 relative. */
double nn_det_exp(double x); /* e^x; 0 below -745, +inf above 709.78 */
double nn_det_erf(double x);  /* error function */
double nn_det_erfc(double x); /* 1 - erf(x), accurate in relative terms for large x too */

#endif /* NN_NN_H */
