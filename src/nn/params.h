/*
 * params.h — the parameter store of the nn engine: a table of named float32 tensors that
 * live in ONE allocation (llm.c's ParameterTensors), with parallel single allocations of
 * the same layout for gradients and the AdamW moments m and v.
 *
 * READ ME FIRST
 *  - Build in two phases: nn_params_add() every tensor (name, shape, group), then
 *    nn_params_alloc() once. Indices returned by add are stable; pointers exist only after
 *    alloc. Nothing can be added after alloc.
 *  - Storage is ordered BY GROUP (groups in order of first use, tensors in add order inside
 *    a group), not in add order, so every group is one contiguous slice [begin, end) of
 *    data/grad/m/v. Always reach a tensor through its offset (nn_params_data()).
 *  - A frozen group is not updated by the optimizer, not zeroed by nn_params_zero_grad(),
 *    and nn_params_grad() returns NULL for its tensors. Backward kernels skip a NULL
 *    gradient, so model code that fetches gradient pointers through nn_params_grad() pays
 *    nothing for frozen weights. Freezing can change at any time (phase 2 freezes the
 *    encoder); m and v of a frozen group are kept as they are.
 *  - nn_params_alloc(p, 0) allocates the weights only (inference); then every grad/m/v
 *    pointer is NULL.
 *  - Names are PyTorch state-dict names ("encoder.blocks.0.attn.qkv.weight"), so a
 *    safetensors file exported from PyTorch loads directly (checkpoint.h).
 */
#ifndef NN_PARAMS_H
#define NN_PARAMS_H

#include "common/cz_common.h"

#include <stddef.h>
#include <stdint.h>

#define NN_MAX_DIMS 4       /* tensor rank limit of the store */
#define NN_MAX_GROUPS 16    /* parameter groups per store */
#define NN_GROUP_NAME_MAX 32 /* bytes, including the NUL */

typedef struct nn_param {
    char *name;                 /* owned */
    size_t ndim;                /* 0..NN_MAX_DIMS; 0 is a scalar (numel 1) */
    size_t shape[NN_MAX_DIMS];  /* unused dims are 1 */
    size_t numel;
    size_t offset;              /* element offset into data/grad/m/v; valid after alloc */
    int group;                  /* index into nn_params.groups */
    int decay;                  /* 1: AdamW applies weight decay (see nn_params_default_decay) */
} nn_param;

typedef struct nn_param_group {
    char name[NN_GROUP_NAME_MAX];
    int frozen;
    size_t begin, end;          /* element slice of the group; valid after alloc */
} nn_param_group;

typedef struct nn_params {
    nn_param *t;                /* the tensor table, n entries */
    size_t n, cap;
    nn_param_group groups[NN_MAX_GROUPS];
    size_t n_groups;
    size_t numel;               /* total elements (valid after alloc) */
    float *data;                /* numel; zero after alloc until initialised */
    float *grad, *m, *v;        /* numel each, zeroed; NULL when allocated without training */
    int allocated, training;
} nn_params;

/*! nn_params_init() : an empty store (all zero). Free with nn_params_free(). */
void nn_params_init(nn_params *p);
/*! nn_params_free() : frees every buffer and name; p becomes empty again. NULL allowed. */
void nn_params_free(nn_params *p);

/*! nn_params_add() : declares a tensor of shape[0..ndim) in group (created on first use;
 *  NULL or "" means "default"). The weight-decay flag starts at
 *  nn_params_default_decay(name, ndim).
 *  @return CLIMZ_OK and *index (may be NULL); CLIMZ_ERR_INVALID_ARG for a duplicate or
 *  empty name, ndim > NN_MAX_DIMS, a group name too long, too many groups, or a call after
 *  nn_params_alloc(); CLIMZ_ERR_DIMENSION when the element count overflows. */
climz_status nn_params_add(nn_params *p, const char *name, size_t ndim, const size_t *shape,
                           const char *group, size_t *index);

/*! nn_params_alloc() : lays tensors out group by group and allocates the weights (zeroed),
 *  plus grad, m and v (zeroed) when training != 0. Buffers are 64-byte aligned.
 *  @return CLIMZ_OK, CLIMZ_ERR_ALLOC, or CLIMZ_ERR_INVALID_ARG when already allocated. */
climz_status nn_params_alloc(nn_params *p, int training);

/*! nn_params_default_decay() : the name rule for decoupled weight decay: 1 for matrices and
 *  kernels (ndim >= 2); 0 for vectors and scalars (biases, LayerNorm gains), for any name
 *  whose last component is "bias", any component that contains "norm" or starts with "ln",
 *  and position embeddings (a component containing "pos_embed"). */
int nn_params_default_decay(const char *name, size_t ndim);
/* Override the rule for one tensor. */
void nn_params_set_decay(nn_params *p, size_t index, int decay);

/* Lookup. find returns the index or -1; tensor returns the weights or NULL when the name is
 * unknown or the store is not allocated. */
long nn_params_find(const nn_params *p, const char *name);
float *nn_params_tensor(const nn_params *p, const char *name);

/* Pointers of tensor `index` (< p->n) after alloc. grad/m/v are NULL without training;
 * nn_params_grad is also NULL while the tensor's group is frozen (m/v are not). */
static inline float *nn_params_data(const nn_params *p, size_t index) {
    return p->data ? p->data + p->t[index].offset : NULL;
}
static inline float *nn_params_grad(const nn_params *p, size_t index) {
    return (p->grad && !p->groups[p->t[index].group].frozen) ? p->grad + p->t[index].offset : NULL;
}
static inline float *nn_params_m(const nn_params *p, size_t index) {
    return p->m ? p->m + p->t[index].offset : NULL;
}
static inline float *nn_params_v(const nn_params *p, size_t index) {
    return p->v ? p->v + p->t[index].offset : NULL;
}

/*! nn_params_zero_grad() : sets the gradients of every group that is not frozen to 0
 *  (frozen slices are skipped, they cost nothing). No-op without training buffers. */
void nn_params_zero_grad(nn_params *p);

/*! nn_params_find_group() : @return the group index or -1. */
int nn_params_find_group(const nn_params *p, const char *group);
/*! nn_params_freeze_group() : frozen = 1 freezes, 0 thaws.
 *  @return CLIMZ_OK or CLIMZ_ERR_NOT_FOUND naming the group. */
climz_status nn_params_freeze_group(nn_params *p, const char *group, int frozen);
/* 1 when the group exists and is frozen. */
int nn_params_group_frozen(const nn_params *p, const char *group);
/* Elements that the optimizer would update now (sum over groups that are not frozen). */
size_t nn_params_trainable(const nn_params *p);

/* ---- seeded initialisation ------------------------------------------------------------
 * Each initialiser draws from a private stream seeded by (seed, tensor name), so a tensor's
 * values depend on neither the order of the calls nor the other tensors: adding a tensor to
 * a model does not change how the others start. The streams come from src/nn/rng.h
 * (integer generator; normals by Box-Muller in double, rounded to float), identical on every
 * IEEE-754 machine with a correctly rounded libm. All @return CLIMZ_ERR_INVALID_ARG for an
 * index out of range, an unallocated store or bad bounds. */
climz_status nn_params_init_const(nn_params *p, size_t index, float value);
climz_status nn_params_init_uniform(nn_params *p, size_t index, uint64_t seed, float lo, float hi);
climz_status nn_params_init_normal(nn_params *p, size_t index, uint64_t seed, float mean, float std);
/* Normal(mean, std) redrawn until inside [lo, hi] (absolute bounds, as timm's
 * trunc_normal_(std=.02, a=-2, b=2)); requires std > 0, lo < hi and the interval to hold
 * at least 1% of the mass, so rejection stays cheap (else CLIMZ_ERR_INVALID_ARG). */
climz_status nn_params_init_trunc_normal(nn_params *p, size_t index, uint64_t seed, float mean,
                                         float std, float lo, float hi);
/* The seed of a tensor's private stream: mixes seed with the FNV-1a hash of name. */
uint64_t nn_params_stream_seed(uint64_t seed, const char *name);

#endif /* NN_PARAMS_H */
