/*
 * factorized.h — the factorised prior of Balle et al. 2018 ("EntropyBottleneck" of
 * CompressAI): a learned, per-channel, monotonic cumulative density for the hyper-latent z.
 *
 * READ ME FIRST
 *  - Per channel c the cumulative is c(x) = sigmoid(logits(x)), logits = a chain of K layers
 *    over widths f = (1, filters..., 1):  h <- softplus(H_k) @ h + b_k, then, for all but the
 *    last layer, h <- h + tanh(a_k) * tanh(h). softplus keeps the weights positive and
 *    |tanh(a)| < 1 keeps each gate increasing, so logits are increasing in x.
 *  - likelihood(v) = |sigmoid(s * logits(v + 0.5)) - sigmoid(s * logits(v - 0.5))| with
 *    s = -sign(lower + upper) (the "sign trick": both sigmoids are then evaluated on the
 *    side where they are small, so their difference keeps its precision in the tails).
 *    CompressAI's torch.sign(0) = 0 would give likelihood 0 when lower + upper == 0
 *    exactly; climz takes s = +1 there.
 *  - Rate: bits = -sum log2(max(likelihood, NN_LIK_MIN)), gradients through the floor as
 *    CompressAI's LowerBound (see nn/loss.h).
 *  - Parameters are one flat float block laid out as CompressAI's state dict, per layer k:
 *    _matrix{k} (C, f[k+1], f[k]), _bias{k} (C, f[k+1], 1), _factor{k} (C, f[k+1], 1) for
 *    k < K-1; then quantiles (C, 1, 3). Offsets (in elements) are in nn_fp after nn_fp_init.
 *  - The auxiliary loss sum_c sum_j |logits_c(quantiles[c][j]) - target_j| with target =
 *    (-t, 0, t), t = log(2 / tail_mass - 1), tail mass 1e-9, trains ONLY the quantiles
 *    (CompressAI's stop_gradient): its backward touches nothing else. quantiles[c][1] is
 *    channel c's median.
 *  - Data are channel-last (N, C) (tokens of the hyper-latent). Computation is in double
 *    inside both precisions; channels run in parallel, points in order, so results do not
 *    depend on the thread count.
 */
#ifndef NN_FACTORIZED_H
#define NN_FACTORIZED_H

#include <stddef.h>

#include "nn/nn.h"
#include "nn/rng.h"

#define NN_FP_MAX_LAYERS 8  /* K = hidden filters + 1 */
#define NN_FP_MAX_WIDTH 16  /* largest hidden width */
#define NN_FP_TAIL_MASS 1e-9

typedef struct nn_fp {
    size_t C;                             /* channels */
    size_t K;                             /* layers: 5 for filters (3, 3, 3, 3) */
    size_t f[NN_FP_MAX_LAYERS + 1];       /* widths: f[0] = 1, f[1..K-1] = filters, f[K] = 1 */
    size_t off_matrix[NN_FP_MAX_LAYERS];  /* element offsets into the flat parameter block */
    size_t off_bias[NN_FP_MAX_LAYERS];
    size_t off_factor[NN_FP_MAX_LAYERS];  /* k < K-1 only */
    size_t off_quantiles;
    size_t nparams;                       /* elements in the block */
} nn_fp;

/*! nn_fp_init() : describe a prior over C channels with hidden widths filters[0..nf-1]
 *  ((3, 3, 3, 3) in the reference). @return CLIMZ_ERR_INVALID_ARG for C == 0, nf + 1 >
 *  NN_FP_MAX_LAYERS or a width of 0 or above NN_FP_MAX_WIDTH. */
climz_status nn_fp_init(nn_fp *fp, size_t C, const size_t *filters, size_t nf);

/* CompressAI's initialisation with init_scale (10): with sc = init_scale^(1/K), every
 * _matrix{k} entry is log(expm1(1 / sc / f[k+1])), biases U(-0.5, 0.5) drawn from rng in
 * the block's order, factors 0, quantiles (-init_scale, 0, init_scale). */
void nn_fp_init_params(const nn_fp *fp, float *params, float init_scale, nn_rng *rng);

/* v (N, C) -> bits = -sum log2 max(likelihood, NN_LIK_MIN); lik (N, C) or NULL receives
 * each floored likelihood. */
double nn_fp_forward(float *lik, const float *v, const float *params, const nn_fp *fp, size_t N);
/* dv (N, C) += dbits * d bits / dv; dparams (nparams) += dbits * d bits / d params for the
 * matrices, biases and factors (the quantiles get nothing). Either may be NULL. */
void nn_fp_backward(float *dv, float *dparams, const float *v, const float *params,
                    const nn_fp *fp, size_t N, float dbits);
/* auxiliary loss (above) and its gradient, into the quantiles of dparams only */
double nn_fp_aux_forward(const float *params, const nn_fp *fp);
void nn_fp_aux_backward(float *dparams, const float *params, const nn_fp *fp, float dloss);
/* med (C) = quantiles[c][1] */
void nn_fp_medians(float *med, const float *params, const nn_fp *fp);
/* pmf (count) of channel c at x0, x0 + 1, ..., x0 + count - 1 (not floored), for building
 * CDF tables; tail (may be NULL) = mass below x0 - 0.5 plus mass above x0 + count - 0.5. */
void nn_fp_pmf(double *pmf, double *tail, const float *params, const nn_fp *fp, size_t c,
               double x0, size_t count);

double nn_fp_forward_f64(double *lik, const double *v, const double *params, const nn_fp *fp,
                         size_t N);
void nn_fp_backward_f64(double *dv, double *dparams, const double *v, const double *params,
                        const nn_fp *fp, size_t N, double dbits);
double nn_fp_aux_forward_f64(const double *params, const nn_fp *fp);
void nn_fp_aux_backward_f64(double *dparams, const double *params, const nn_fp *fp,
                            double dloss);
void nn_fp_medians_f64(double *med, const double *params, const nn_fp *fp);
void nn_fp_pmf_f64(double *pmf, double *tail, const double *params, const nn_fp *fp, size_t c,
                   double x0, size_t count);

#endif /* NN_FACTORIZED_H */
