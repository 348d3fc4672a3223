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

/* The execution policy is the calling thread's, never the process's: a climz context sets
 * it at each entry point (api_begin: its thread count, fast kernels) and a codec switches
 * deterministic mode on and off around its own calls. So two threads, each with its own
 * context, never change each other's numbers or speed.
 *
 * Deterministic mode is a thread-local flag, off by default. OpenMP workers do not inherit
 * thread-locals: a parallel region whose workers call nn kernels reads the flag before the
 * region and sets it first thing in each worker:
 *     int const det = nn_deterministic();
 *     #pragma omp parallel for
 *     for (...) { nn_set_deterministic(det); ... kernels ... }
 * (the kernels' own parallel regions read it before forking and need nothing). */
void nn_set_deterministic(int on); /* the calling thread's mode */
int nn_deterministic(void);        /* 1 when the calling thread's mode is on */
/* Threads of the calling thread's OpenMP team, n <= 0 = all cores (omp_set_num_threads: per
 * thread), and nn_blas_single_thread(). Matrix products split their rows over that team. */
void nn_set_threads(int n);
/* OpenBLAS single-threaded, once per process (pthread_once; OpenBLAS's thread count is
 * process-wide, so it is never changed around a call): only one thread pool ever spins on
 * the cores. nn_gemm calls it; a caller that later sets OpenBLAS's threads keeps them. */
void nn_blas_single_thread(void);

/* ---- portable math ------------------------------------------------------------------- */
/* Plain double arithmetic (no libm, no FMA): the same bits on every IEEE-754 machine.
 * Used by the kernels in deterministic mode; error about 1e-15 relative. */
double nn_det_exp(double x); /* e^x; 0 below -745, +inf above 709.78 */
static inline double nn_det_exp_le0(double x); /* nn_det_exp's bits for x <= 0, vectorisable */
double nn_det_erf(double x);  /* error function */
double nn_det_erfc(double x); /* 1 - erf(x), accurate in relative terms for large x too */
/* GELU x Phi(x) of deterministic mode: a cubic Hermite table of x Phi(x) built from
 * nn_det_erfc/nn_det_exp (within ~1e-12 of exact, far below float resolution), a few
 * products per value instead of erfc's series. NaN stays NaN. nn_det_gelu_init() builds
 * the table (once per process, thread-safe): call it before nn_det_gelu. */
void nn_det_gelu_init(void);
float nn_det_gelu(float x);

/* e^r for |r| <= 0.35 by its Taylor series to r^14 (truncation < 1e-19) in Horner form with
 * exact divisions: the core of nn_det_exp and nn_det_exp_le0 */
static inline double nn_det_exp_poly_(double r) { /* 1 + r(1 + r/2(1 + r/3(1 + ...))) */
    double p = 1.0;
    p = 1.0 + p * r / 14.0, p = 1.0 + p * r / 13.0, p = 1.0 + p * r / 12.0;
    p = 1.0 + p * r / 11.0, p = 1.0 + p * r / 10.0, p = 1.0 + p * r / 9.0;
    p = 1.0 + p * r / 8.0, p = 1.0 + p * r / 7.0, p = 1.0 + p * r / 6.0;
    p = 1.0 + p * r / 5.0, p = 1.0 + p * r / 4.0, p = 1.0 + p * r / 3.0;
    p = 1.0 + p * r / 2.0, p = 1.0 + p * r / 1.0;
    return p;
}

static inline double nn_det_bits_(uint64_t u) {
    union { uint64_t u; double d; } b;
    b.u = u;
    return b.d;
}

/* For the softmax rows and GELU tails of deterministic mode: the bits of nn_det_exp for every
 * x <= 0 (and -inf, NaN), written without calls, branches or float-to-int conversions so
 * that `omp simd` loops over it vectorise (gcc 12 -O2). Same steps as nn_det_exp: k is its
 * (int)(t - 0.5) for t = x log2 e <= 0 (truncation = ceiling here), taken with the
 * 1.5 * 2^52 rounding constant, whose low bits then hold k for the exponent; the scaling
 * p 2^(k+600) 2^-600 is exact up to the last product, which rounds once, like p 2^k. */
static inline double nn_det_exp_le0(double x) {
    double const shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    double const xc = x >= -745.2 ? x : -745.2; /* also NaN: the result is replaced below */
    double const t = xc * 1.44269504088896338700e+00 - 0.5;
    double const kr = (t + shifter) - shifter; /* t rounded to nearest */
    double const kd = kr < t ? kr + 1.0 : kr;  /* ceil(t) = k */
    double const r = (xc - kd * 6.93147180369123816490e-01) - kd * 1.90821492927058770002e-10;
    union { double d; uint64_t u; } kb;
    kb.d = kd + shifter;
    int64_t const k = (int32_t)(uint32_t)kb.u;
    double const e = nn_det_exp_poly_(r) * nn_det_bits_((uint64_t)(k + 600 + 1023) << 52) *
                     nn_det_bits_((uint64_t)(1023 - 600) << 52);
    double const nan_or_0 = x == x ? 0.0 : x;
    return x >= -745.2 ? e : nan_or_0;
}

#endif /* NN_NN_H */
