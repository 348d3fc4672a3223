/*
 * loss.h — losses and rate terms of the learned codecs: the VAE reparameterisation and its
 * KL term, (latitude-weighted, masked) MSE, the quantisation proxies, and the discretised
 * Gaussian likelihood of the Gaussian conditional (SPEC section 3). The factorised prior
 * is in nn/factorized.h. Conventions of nn/nn.h: forward overwrites, backward ADDS into
 * gradients (any may be NULL), every function has a double twin with the suffix _f64.
 *
 * READ ME FIRST
 *  - Scalar losses are returned as double by the forward function; the backward takes the
 *    upstream gradient dloss (the loss's weight in the total, e.g. lambda or beta) and adds
 *    dloss * dL/dx. Sums run in a fixed order (fixed blocks, then the blocks in order), so
 *    a loss value does not depend on the thread count.
 *  - Rate terms are in bits: -sum log2(likelihood), likelihood floored at NN_LIK_MIN. The
 *    floor and the scale bound NN_SCALE_MIN act on gradients as CompressAI's LowerBound:
 *    below the bound the gradient passes only where it pushes the value up (toward the
 *    bound), and is zero where it pushes further down.
 */
#ifndef NN_LOSS_H
#define NN_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"
#include "nn/rng.h"

#define NN_LOGVAR_MIN (-30.0) /* log-variance clamp of the variational latent */
#define NN_LOGVAR_MAX 20.0
#define NN_LIK_MIN 1e-9   /* likelihood floor of every rate term */
#define NN_SCALE_MIN 0.11 /* lower bound of the Gaussian conditional's scales */

/* ---- VAE reparameterisation --------------------------------------------------------------
 * y = mu + exp(lv / 2) * eps, lv = clamp(logvar, NN_LOGVAR_MIN, NN_LOGVAR_MAX); mu, logvar,
 * eps, y (n). rng != NULL: eps is drawn N(0, 1) from rng (in order) and saved for backward;
 * rng == NULL: eps is read as given. Backward: dmu += dy; dlogvar += dy * eps exp(lv/2) / 2
 * where NN_LOGVAR_MIN <= logvar <= NN_LOGVAR_MAX, nothing outside (the clamp's gradient). */
void nn_reparam_forward(float *y, float *eps, const float *mu, const float *logvar, size_t n,
                        nn_rng *rng);
void nn_reparam_backward(float *dmu, float *dlogvar, const float *dy, const float *logvar,
                         const float *eps, size_t n);
void nn_reparam_forward_f64(double *y, double *eps, const double *mu, const double *logvar,
                            size_t n, nn_rng *rng);
void nn_reparam_backward_f64(double *dmu, double *dlogvar, const double *dy,
                             const double *logvar, const double *eps, size_t n);

/* KL(N(mu, e^lv) || N(0, 1)) averaged over the n elements:
 * 0.5 * mean(mu^2 + exp(lv) - 1 - lv), lv clamped as above (zero gradient outside).
 * @return the value (0 for n == 0). Backward adds dloss * dKL/dmu, dloss * dKL/dlogvar. */
double nn_kl_forward(const float *mu, const float *logvar, size_t n);
void nn_kl_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, size_t n,
                    float dloss);
double nn_kl_forward_f64(const double *mu, const double *logvar, size_t n);
void nn_kl_backward_f64(double *dmu, double *dlogvar, const double *mu, const double *logvar,
                        size_t n, double dloss);

/* ---- MSE ------------------------------------------------------------------------------------
 * pred, target (B, C, H, W) channel-first images; mask (B, C, H, W) or NULL, 1 = excluded
 * (missing value); row_weight (H) or NULL (all 1), e.g. cos(latitude) for the
 * latitude-weighted MSE. L = sum_valid w_h (pred - target)^2 / sum_valid w_h.
 * @return L; 0 when no point is valid (and backward then adds nothing). */
double nn_mse_forward(const float *pred, const float *target, const uint8_t *mask,
                      const float *row_weight, size_t B, size_t C, size_t H, size_t W);
void nn_mse_backward(float *dpred, const float *pred, const float *target, const uint8_t *mask,
                     const float *row_weight, size_t B, size_t C, size_t H, size_t W,
                     float dloss);
double nn_mse_forward_f64(const double *pred, const double *target, const uint8_t *mask,
                          const double *row_weight, size_t B, size_t C, size_t H, size_t W);
void nn_mse_backward_f64(double *dpred, const double *pred, const double *target,
                         const uint8_t *mask, const double *row_weight, size_t B, size_t C,
                         size_t H, size_t W, double dloss);

/* ---- quantisation -------------------------------------------------------------------------
 * Training proxy: out = inp + u, u ~ U(-0.5, 0.5) drawn from rng in order (n elements).
 * Rounding: out = nearbyint(inp - off) + off (round half to even in the default rounding
 * mode), off = offset[i % period] (offset NULL: 0). period = n for per-element offsets (the
 * Gaussian conditional's means), C for per-channel offsets of channel-last (N, C) data
 * (the factorised prior's medians). Both backward as the identity (straight-through for
 * rounding): nn_quant_backward adds dout into dinp. */
void nn_noise_forward(float *out, const float *inp, size_t n, nn_rng *rng);
void nn_round_forward(float *out, const float *inp, const float *offset, size_t n,
                      size_t period);
void nn_quant_backward(float *dinp, const float *dout, size_t n);
void nn_noise_forward_f64(double *out, const double *inp, size_t n, nn_rng *rng);
void nn_round_forward_f64(double *out, const double *inp, const double *offset, size_t n,
                          size_t period);
void nn_quant_backward_f64(double *dinp, const double *dout, size_t n);

/* ---- discretised Gaussian likelihood (the Gaussian conditional) ----------------------------
 * For each element, u = v - mean, s = max(scale, NN_SCALE_MIN):
 *   likelihood = Phi((0.5 - u) / s) - Phi((-0.5 - u) / s), floored at NN_LIK_MIN,
 * evaluated in double as CompressAI does, on |u| so both terms are small tails (no
 * cancellation). v, mean (NULL: 0), scale, lik (n).
 * @return bits = -sum log2(likelihood); lik (may be NULL) gets each likelihood.
 * Backward adds dbits * dbits/dv, /dmean (= -/dv), /dscale. Gradient through the scale
 * bound: passes where scale >= NN_SCALE_MIN or where it would raise the scale (CompressAI's
 * LowerBound); likewise through the likelihood floor. */
double nn_gauss_forward(float *lik, const float *v, const float *mean, const float *scale,
                        size_t n);
void nn_gauss_backward(float *dv, float *dmean, float *dscale, const float *v,
                       const float *mean, const float *scale, size_t n, float dbits);
double nn_gauss_forward_f64(double *lik, const double *v, const double *mean,
                            const double *scale, size_t n);
void nn_gauss_backward_f64(double *dv, double *dmean, double *dscale, const double *v,
                           const double *mean, const double *scale, size_t n, double dbits);
/* The same likelihood for one u and scale, neither floored nor bounded by NN_SCALE_MIN:
 * the pmf used to build the CDF tables of the scale table (scale > 0). */
double nn_gauss_pmf(double u, double scale);

#endif /* NN_LOSS_H */
