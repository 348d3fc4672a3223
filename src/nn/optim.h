/*
 * optim.h — AdamW over a parameter store (params.h), the learning-rate schedule (linear
 * warm-up then cosine decay to a floor) and global gradient-norm clipping.
 *
 * READ ME FIRST
 *  - The moments m and v live in the store (p->m, p->v), not here; this struct holds the
 *    hyper-parameters per group and the step counters. A training checkpoint saves both
 *    (checkpoint.h: nn_ckpt_put_optim / nn_ckpt_get_optim).
 *  - Each group keeps its own step count, advanced only when the group is updated, so the
 *    bias correction of a group frozen for a while and thawed again continues where it
 *    stopped (as PyTorch's per-parameter step does). o->step counts every successful call
 *    and is the step to give the schedule (nn_lr_at(&sched, o->step)).
 *  - Clipping rescales the gradient on the fly inside the update; the gradient buffers are
 *    left as backward wrote them.
 *  - Deterministic for ANY thread count: the update is element-wise, and the gradient norm
 *    is summed in double over fixed chunks of NN_NORM_CHUNK elements whose partial sums are
 *    added in chunk order. Same inputs, same bits, 1 thread or 16 (on one machine: the bias
 *    corrections use libm pow, which may round differently elsewhere).
 *
 * The update of one element (t = the group's step after increment, g = grad * clip scale):
 *     m = beta1 m + (1 - beta1) g            v = beta2 v + (1 - beta2) g^2
 *     w = w - lr wd w  - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 * with lr = schedule lr * lr_scale of the group, and wd = 0 for tensors whose decay flag is
 * off (biases, norms: nn_params_default_decay). This is torch.optim.AdamW.
 */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include "nn/params.h"

#define NN_NORM_CHUNK 4096 /* elements per partial sum of the gradient norm */

/* Doubles, as torch's Python floats: the update rounds each derived constant (beta1,
 * 1 - beta1, lr / (1 - beta1^t), ...) to float once, so that e.g. 1 - beta2 is 0.001f and
 * not 1.0f - 0.999f (which is off by 1.3e-5). */
typedef struct nn_adamw_hparams {
    double lr_scale;     /* group learning rate = schedule lr * lr_scale (default 1) */
    double beta1, beta2; /* default 0.9, 0.999 */
    double eps;          /* default 1e-8 */
    double weight_decay; /* decoupled; default 0.01 (torch AdamW) */
} nn_adamw_hparams;

typedef struct nn_adamw {
    nn_adamw_hparams hp[NN_MAX_GROUPS]; /* indexed like nn_params.groups */
    uint64_t group_step[NN_MAX_GROUPS]; /* updates applied to each group */
    uint64_t step;                      /* successful calls of nn_adamw_step() */
    double clip_norm;                   /* global L2 clip threshold; <= 0: no clipping */
} nn_adamw;

/* torch.optim.AdamW's defaults: lr_scale 1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
nn_adamw_hparams nn_adamw_defaults(void);

/*! nn_adamw_init() : every group gets *hp (NULL: nn_adamw_defaults()), steps 0, no clipping. */
void nn_adamw_init(nn_adamw *o, const nn_adamw_hparams *hp);

/*! nn_adamw_set_group() : hyper-parameters of one group of p.
 *  @return CLIMZ_OK, CLIMZ_ERR_NOT_FOUND (no such group), CLIMZ_ERR_INVALID_ARG (betas not
 *  in [0, 1), eps <= 0, negative decay or scale). */
climz_status nn_adamw_set_group(nn_adamw *o, const nn_params *p, const char *group,
                                const nn_adamw_hparams *hp);

/*! nn_grad_norm() : L2 norm of the gradients of every group that is not frozen, in double,
 *  in a fixed order (see READ ME FIRST). 0 without training buffers. */
double nn_grad_norm(const nn_params *p);

/*! nn_adamw_step() : one AdamW update of every group that is not frozen, at learning rate
 *  lr (before each group's lr_scale). Clips first when o->clip_norm > 0: scale
 *  clip / (norm + 1e-6) when norm > clip, as torch's clip_grad_norm_.
 *  grad_norm (may be NULL) receives the norm before clipping.
 *  @return CLIMZ_OK; CLIMZ_ERR_INVALID_ARG when the store has no training buffers or lr is
 *  negative or not finite; CLIMZ_ERR_GENERIC when the gradient norm is not finite (NaN or
 *  Inf in a gradient): nothing is changed, and the caller may skip the batch. */
climz_status nn_adamw_step(nn_adamw *o, nn_params *p, double lr, double *grad_norm);

/* ---- learning-rate schedule ---------------------------------------------------------- */

typedef struct nn_lr_schedule {
    double lr_max;         /* peak, reached at the end of warm-up */
    double lr_min;         /* floor of the cosine, held after total_steps */
    uint64_t warmup_steps; /* linear ramp lr_max * (step + 1) / warmup_steps */
    uint64_t total_steps;  /* cosine from lr_max at warmup_steps to lr_min at total_steps */
} nn_lr_schedule;

/*! nn_lr_at() : learning rate for the 0-based step (llm.c's get_lr):
 *    step <  warmup:            lr_max * (step + 1) / warmup
 *    warmup <= step < total:    lr_min + (lr_max - lr_min) * 0.5 * (1 + cos(pi * r)),
 *                               r = (step - warmup) / (total - warmup)
 *    step >= total:             lr_min                                              */
double nn_lr_at(const nn_lr_schedule *s, uint64_t step);

#endif /* NN_OPTIM_H */
