/*
 * block.h — the pre-norm transformer block of the VAEformer codec:
 *     t += proj(Attn(qkv(LN1(t))));   t += fc2(GELU(fc1(LN2(t))))
 * LayerNorm eps 1e-6 by default, exact (erf) GELU, one qkv projection with bias, output
 * projection with bias, attention inside windows (nn_window, optionally wrapping in
 * longitude) or global attention streamed over key blocks (nn/attention.h).
 *
 * READ ME FIRST
 *  - llm.c style: the 12 weights are named pointers (nn_block_params) into memory the caller
 *    owns, in the order of nn_block_param_names, with the shapes of nn_block_param_shape().
 *    Names and layouts are PyTorch's (timm ViT Block), so with a prefix such as "blocks.3."
 *    a state-dict tensor "blocks.3.attn.qkv.weight" loads directly. Gradients use the same
 *    struct; backward ADDS into every gradient that is not NULL (NULL = frozen).
 *  - Activations saved for backward and the backward scratch live in nn_block_acts, one
 *    allocation sized for one (B, H, W); nn_block_acts_bytes() tells how much without
 *    allocating. Global attention keeps O(T) memory (no T x T matrix).
 *  - Backward needs the block's input `inp` unchanged since forward; forward's `out` may
 *    alias `inp` only when no backward follows.
 *  - Deterministic mode (nn_set_deterministic) carries through: every op of the block then
 *    gives bit-identical results for any thread count.
 *  - The _f64 twins (double) exist for finite-difference checks: nn_block_params_f64 /
 *    nn_block_acts_f64 have the same fields with double pointers.
 */
#ifndef NN_BLOCK_H
#define NN_BLOCK_H

#include <stddef.h>

#include "nn/attention.h"
#include "nn/nn.h"
#include "nn/rng.h"

typedef enum nn_attn_kind {
    NN_ATTN_WINDOW = 0, /* inside windows cfg.win */
    NN_ATTN_GLOBAL = 1  /* over all H*W tokens, streamed */
} nn_attn_kind;

typedef struct nn_block_cfg {
    size_t C;          /* width (channels) */
    size_t NH;         /* attention heads, C % NH == 0 */
    size_t hidden;     /* MLP hidden width; 0 means 4 * C (MLP ratio 4) */
    float eps;         /* LayerNorm epsilon (the codec uses 1e-6) */
    nn_attn_kind attn; /* window or global */
    nn_window win;     /* window shape and wrap flag (NN_ATTN_WINDOW only) */
} nn_block_cfg;

/*! nn_block_cfg_check() : @return CLIMZ_OK, or CLIMZ_ERR_INVALID_ARG for C == 0, NH == 0,
 *  C % NH != 0, eps <= 0 (or not finite), an unknown attention kind or an empty window. */
climz_status nn_block_cfg_check(const nn_block_cfg *cfg);
size_t nn_block_hidden(const nn_block_cfg *cfg); /* hidden, or 4 * C when 0 */

/* ---- parameters --------------------------------------------------------------------------- */

#define NN_BLOCK_NPARAMS 12

typedef struct nn_block_params {
    float *ln1_g, *ln1_b;   /* norm1.weight, norm1.bias (C) */
    float *qkv_w, *qkv_b;   /* attn.qkv.weight (3C, C), attn.qkv.bias (3C) */
    float *proj_w, *proj_b; /* attn.proj.weight (C, C), attn.proj.bias (C) */
    float *ln2_g, *ln2_b;   /* norm2.weight, norm2.bias (C) */
    float *fc1_w, *fc1_b;   /* mlp.fc1.weight (hidden, C), mlp.fc1.bias (hidden) */
    float *fc2_w, *fc2_b;   /* mlp.fc2.weight (C, hidden), mlp.fc2.bias (C) */
} nn_block_params;

typedef struct nn_block_params_f64 {
    double *ln1_g, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    double *ln2_g, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} nn_block_params_f64;

/* PyTorch names relative to the block, in field (and flat-buffer) order: "norm1.weight",
 * "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
 * "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
 * "mlp.fc2.bias". */
extern const char *const nn_block_param_names[NN_BLOCK_NPARAMS];

/*! nn_block_param_shape() : shape of tensor i < NN_BLOCK_NPARAMS into shape[0..ndim).
 *  @return its element count (0 for i out of range). ndim is 2 for weights, 1 otherwise. */
size_t nn_block_param_shape(const nn_block_cfg *cfg, size_t i, size_t *ndim, size_t shape[2]);
/* total parameters: 4C + (3C^2 + 3C) + (C^2 + C) + 2 (C hidden) + hidden + C */
size_t nn_block_num_params(const nn_block_cfg *cfg);

/* Point the 12 fields at consecutive tensors of one flat buffer of nn_block_num_params()
 * elements, in name order; or at 12 separate tensors t[i] (e.g. from a parameter store;
 * any may be NULL for gradients). */
void nn_block_params_point(nn_block_params *p, float *flat, const nn_block_cfg *cfg);
void nn_block_params_point_f64(nn_block_params_f64 *p, double *flat, const nn_block_cfg *cfg);
void nn_block_params_from_array(nn_block_params *p, float *const t[NN_BLOCK_NPARAMS]);
void nn_block_params_from_array_f64(nn_block_params_f64 *p, double *const t[NN_BLOCK_NPARAMS]);

typedef enum nn_block_init_kind {
    NN_INIT_TRUNC_NORMAL = 0, /* timm ViT: Linear weights trunc_normal_(std=.02) (absolute
                                 bounds +-2, as timm), biases 0, LayerNorm 1 / 0 */
    NN_INIT_TORCH_DEFAULT = 1 /* torch.nn defaults: Linear weight and bias
                                 U(-1/sqrt(fan_in), 1/sqrt(fan_in)), LayerNorm 1 / 0 */
} nn_block_init_kind;

/* Initialise every tensor from rng, in name order (the draws of one tensor follow those of
 * the previous one). The double twin stores the same float draws as doubles. */
void nn_block_init(const nn_block_params *p, const nn_block_cfg *cfg, nn_rng *rng,
                   nn_block_init_kind kind);
void nn_block_init_f64(const nn_block_params_f64 *p, const nn_block_cfg *cfg, nn_rng *rng,
                       nn_block_init_kind kind);

/* ---- activations -------------------------------------------------------------------------- */

/* With N = B*H*W tokens, T = H*W and hid = hidden width: */
typedef struct nn_block_acts {
    float *ln1, *ln1_mean, *ln1_rstd; /* (N, C), (N), (N) */
    float *qkv;                       /* (N, 3C) */
    float *atty;                      /* (N, C) attention output, before proj */
    float *att_stats;                 /* nn_attention_stats_size(B, T, NH) */
    float *res1;                      /* (N, C) t after the attention half */
    float *ln2, *ln2_mean, *ln2_rstd; /* (N, C), (N), (N) */
    float *fch, *fch_gelu;            /* (N, hid) fc1 output, after GELU */
    float *att_work;                  /* window gather scratch (NULL if not needed) */
    float *dbig0, *dbig1;             /* (N, max(hid, 3C)) backward scratch; NULL if !training */
    float *dc0, *dc1;                 /* (N, C) backward scratch; NULL if !training */
    size_t B, H, W;                   /* the shape these buffers fit */
    int training;
    float *mem;                       /* the one allocation */
    size_t numel;                     /* its elements */
} nn_block_acts;

typedef struct nn_block_acts_f64 {
    double *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att_stats, *res1;
    double *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *att_work;
    double *dbig0, *dbig1, *dc0, *dc1;
    size_t B, H, W;
    int training;
    double *mem;
    size_t numel;
} nn_block_acts_f64;

/*! nn_block_acts_numel() : elements nn_block_acts_alloc() allocates for this shape
 *  (training = 0: forward only, no backward scratch). 0 when the sizes overflow. */
size_t nn_block_acts_numel(const nn_block_cfg *cfg, size_t B, size_t H, size_t W, int training);

/*! nn_block_acts_alloc() : one allocation for the activations of (B, H, W).
 *  @return CLIMZ_OK; CLIMZ_ERR_INVALID_ARG (bad cfg), CLIMZ_ERR_DIMENSION (overflow),
 *  CLIMZ_ERR_ALLOC. Free with nn_block_acts_free() (NULL and an empty struct allowed). */
climz_status nn_block_acts_alloc(nn_block_acts *a, const nn_block_cfg *cfg, size_t B, size_t H,
                                 size_t W, int training);
void nn_block_acts_free(nn_block_acts *a);
climz_status nn_block_acts_alloc_f64(nn_block_acts_f64 *a, const nn_block_cfg *cfg, size_t B,
                                     size_t H, size_t W, int training);
void nn_block_acts_free_f64(nn_block_acts_f64 *a);

/* ---- forward / backward ------------------------------------------------------------------- */

/*! nn_block_forward() : inp (B, H*W, C) -> out (B, H*W, C), saving activations in a (sized
 *  for B, H, W). @return CLIMZ_OK; CLIMZ_ERR_INVALID_ARG (bad cfg), CLIMZ_ERR_DIMENSION (a was
 *  sized for another shape), CLIMZ_ERR_ALLOC (attention scratch). */
climz_status nn_block_forward(float *out, nn_block_acts *a, const float *inp,
                              const nn_block_params *p, const nn_block_cfg *cfg);
/*! nn_block_backward() : dinp (B, H*W, C) += (NULL: not needed); grads (NULL, or any field
 *  NULL) += parameter gradients; dout (B, H*W, C); inp as given to forward; a from forward
 *  (allocated with training = 1). @return as forward, and CLIMZ_ERR_INVALID_ARG when a has
 *  no backward scratch; after a failure (only CLIMZ_ERR_ALLOC can happen mid-way) the
 *  gradients are partly updated and must be discarded. */
climz_status nn_block_backward(float *dinp, const nn_block_params *grads, const float *dout,
                               const float *inp, const nn_block_params *p, nn_block_acts *a,
                               const nn_block_cfg *cfg);
climz_status nn_block_forward_f64(double *out, nn_block_acts_f64 *a, const double *inp,
                                  const nn_block_params_f64 *p, const nn_block_cfg *cfg);
climz_status nn_block_backward_f64(double *dinp, const nn_block_params_f64 *grads,
                                   const double *dout, const double *inp,
                                   const nn_block_params_f64 *p, nn_block_acts_f64 *a,
                                   const nn_block_cfg *cfg);

#endif /* NN_BLOCK_H */
