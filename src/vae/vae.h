/*
 * vae.h — the VAEformer model of climz (SPEC section 3): configuration, parameters, model
 * files, inference entry points for the codec, and the two training phases.
 *
 * READ ME FIRST
 *  - Layouts. Data images are channel-first (C, H, W) with rows north to south as stored;
 *    latents cross this API channel-first too: y, scales, means (L, h, w); z (Lz, hz, wz).
 *    Inside, the network works on channel-last tokens (nn/nn.h).
 *  - Any grid. The image is padded at its bottom and right edges to the next size the patch
 *    convolution tiles exactly (Hp = (h-1)*SH + KH with h token rows; replicated rows;
 *    columns replicated, or wrapped when cfg.wrap_lon); the decoder's transposed convolution
 *    gives back exactly H x W (nn_patch_unembed keeps the top-left corner). Every token
 *    covers real data, so there are no padded tokens to mask: windows that do not divide
 *    the token grid are simply smaller at the edges (nn/attention.h: masking by
 *    construction), or wrap in longitude. The latent grid (h, w) is padded the same way
 *    (replicate) to a multiple of the hyper patch for h_a; h_s's output is cropped back to
 *    (h, w). vae_geometry() gives every size.
 *  - Position embedding (cfg.pos): "none" (default: the general model sees random crops of
 *    fields of any size, where an absolute position means nothing), "learned" (CRA5 style:
 *    one table for a fixed token grid pos_h x pos_w, refused on any other grid), or
 *    "fourier" (sin/cos of the token's normalised row and column, projected by a learned
 *    linear layer: works on any grid).
 *  - Normalisation. The model stores per-channel mean/std (computed on the training split).
 *    cfg.field_norm = 1 (the single-channel general model) means: normalise every field
 *    (one variable, level and time step) by its own mean/std, which the codec computes at
 *    compression and stores in the .clz; the model's stats are then informative only.
 *    The inference functions below take and return NORMALISED data.
 *  - Determinism. vae_hyper_decode() switches the calling thread's deterministic mode on
 *    for its duration (nn_set_deterministic, and restores it): the scales and means it
 *    returns are bit-identical on any thread count and any IEEE-754 machine. The mode is
 *    per thread (nn.h): a caller that runs samples in an OpenMP region sets each worker's
 *    mode from its own. The other entry points use the calling thread's mode.
 *  - Inference calls take a const model and allocate their own activations: apart from the
 *    switch above, several may run at once on one model (each call uses OpenMP inside).
 *  - Model files are safetensors (nn/checkpoint.h): every parameter under its PyTorch-style
 *    name, "norm.mean" / "norm.std" (C), extra tensors under "extra.<name>", and metadata
 *    "climz.model" = "vaeformer", "vae.config" (config JSON), any "vae.*" keys set with
 *    vae_model_set_meta(). A training checkpoint adds the optimizer (nn_ckpt_put_optim).
 *  - Parameter groups: "encoder" (patch embedding, position embedding, blocks, the two
 *    parallel global blocks, the 1x1 conv to 2L), "decoder", "hyper" (h_a, h_s),
 *    "entropy" (the factorised prior's matrices, biases, factors) and "aux" (its quantiles,
 *    trained by the auxiliary loss only, with their own learning rate); optionally "gain"
 *    (the rate gains below), stored last, so a model without them has the layout it had.
 *  - Rate gains (optional tensor "rate_gain", F32 [VAE_GAIN_ANCHORS, L]): per latent channel
 *    log2 multipliers of the quantiser step at the anchor levels VAE_GAIN_LEVEL0 + 8 i (the
 *    gained VAE of Cui et al. 2021): at rate level K channel c is coded with the step
 *    2^(K/8 + a_c(K)), a_c linear between the two anchors around K (vae_codec.h says how the
 *    codec rounds it). A model without the tensor codes every channel with 2^(K/8).
 */
#ifndef CZ_VAE_H
#define CZ_VAE_H

#include "common/cz_common.h"
#include "nn/block.h"
#include "nn/checkpoint.h"
#include "nn/factorized.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "nn/rng.h"

#include <stddef.h>
#include <stdint.h>

#define VAE_MAX_BLOCKS 16   /* blocks per stage */
#define VAE_MODEL_KIND "vaeformer"
#define VAE_META_CONFIG "vae.config"
#define VAE_META_KIND "climz.model"
#define VAE_META_RATE_LEVELS "vae.rate_levels" /* "KMIN:KMAX": the rate levels a multi-rate fine-tune trained */
#define VAE_GAIN_TENSOR "rate_gain"  /* the rate gains (READ ME FIRST), group "gain" */
#define VAE_GAIN_ANCHORS 8           /* anchor levels -16, -8, .., 40: the codec's range every 8 */
#define VAE_GAIN_LEVEL0 (-16)        /* the first anchor's level */
#define VAE_GAIN_MAX 8.0             /* |a| at most (octaves); a file beyond it is refused */

/* ---- configuration -------------------------------------------------------------------- */

/* Attention of one block: square, east-west, north-south window, or global. */
typedef enum vae_win {
    VAE_WIN_S = 0,
    VAE_WIN_EW = 1,
    VAE_WIN_NS = 2,
    VAE_WIN_G = 3
} vae_win;

typedef enum vae_pos {
    VAE_POS_NONE = 0,
    VAE_POS_LEARNED = 1,
    VAE_POS_FOURIER = 2
} vae_pos;

/* Every size of the model. JSON keys are the field names (see vae_config_to_json());
 * patterns are strings such as "S EW NS G", windows [rows, cols] on the token grid. */
typedef struct vae_config {
    size_t in_channels;           /* C: channels of the data image */
    size_t patch_kh, patch_kw;    /* patch kernel (may exceed the stride) */
    size_t patch_sh, patch_sw;    /* patch stride */
    size_t width;                 /* token width of encoder and decoder */
    size_t heads;                 /* attention heads (width % heads == 0) */
    double mlp_ratio;             /* MLP hidden = round(mlp_ratio * width) */
    double eps;                   /* LayerNorm epsilon (1e-6) */
    size_t n_enc;                 /* encoder blocks before the two parallel global blocks */
    uint8_t enc[VAE_MAX_BLOCKS];  /* their vae_win kinds */
    size_t n_dec;                 /* decoder blocks */
    uint8_t dec[VAE_MAX_BLOCKS];
    size_t win_s[2];              /* square window (rows, cols) */
    size_t win_ew[2];             /* east-west window: few rows, many columns */
    size_t win_ns[2];             /* north-south window: many rows, few columns */
    int wrap_lon;                 /* 1: windows and column padding wrap in longitude */
    vae_pos pos;                  /* position embedding at the encoder input */
    size_t pos_h, pos_w;          /* token grid of a learned table (VAE_POS_LEARNED) */
    size_t pos_freqs;             /* frequencies per axis (VAE_POS_FOURIER): 4*pos_freqs features */
    size_t latent;                /* L: latent channels */
    size_t hyper_patch;           /* h_a patch (kernel = stride) on the latent grid (4) */
    size_t hyper_width;           /* token width of h_a / h_s */
    size_t hyper_heads;
    size_t hyper_blocks_a;        /* global blocks in h_a */
    size_t hyper_blocks_s;        /* global blocks in h_s */
    size_t hyper_latent;          /* Lz: channels of z */
    size_t n_fp_filters;          /* factorised prior hidden widths, (3, 3, 3, 3) */
    size_t fp_filters[NN_FP_MAX_LAYERS - 1];
    double fp_init_scale;         /* 10 */
    int field_norm;               /* 1: per-field normalisation (see READ ME FIRST) */
    int zero_pad;                 /* "pad_tokens": "zero" = the reference's quirk, for
                                     comparison: a window block pads the token grid with zero
                                     tokens to a multiple of its window, which are attended;
                                     0 ("mask", default): edge windows are smaller instead */
} vae_config;

/*! vae_config_default() : the recommended small single-channel general model (the bundled
 *  model's, models/climz-default.json; 1.28 M parameters): patch 8x8, width 96, 3 heads, MLP 4,
 *  encoder and decoder S EW NS G with windows S 4x4, EW 2x8, NS 8x2 tokens, L 32, hyper
 *  patch 2, hyper width 64, 1 + 1 global hyper blocks, Lz 16, field_norm 1, pos none. */
void vae_config_default(vae_config *c);
/*! vae_config_check() : @return CLIMZ_OK or CLIMZ_ERR_INVALID_ARG naming the bad key. */
climz_status vae_config_check(const vae_config *c);
/*! vae_config_from_json() : starts from vae_config_default() and applies the keys of the
 *  JSON object text (unknown keys and bad values are CLIMZ_ERR_INVALID_ARG, text that is not
 *  JSON CLIMZ_ERR_CORRUPT); checks the result. */
climz_status vae_config_from_json(vae_config *c, const char *json);
/*! vae_config_load() : vae_config_from_json() on the text of a file. */
climz_status vae_config_load(vae_config *c, const char *path);
/*! vae_config_to_json() : @return CLIMZ_OK and *json, a malloc'd JSON object with every key
 *  (caller frees), or CLIMZ_ERR_ALLOC. */
climz_status vae_config_to_json(const vae_config *c, char **json);
size_t vae_config_hidden(const vae_config *c); /* encoder/decoder MLP hidden width */

/* Every size derived from an H x W image. */
typedef struct vae_geom {
    size_t H, W;     /* image */
    size_t Hp, Wp;   /* padded image the patch convolution tiles exactly */
    size_t h, w;     /* token grid = latent grid */
    size_t hp, wp;   /* latent grid padded to a multiple of hyper_patch */
    size_t hz, wz;   /* hyper-latent grid: hp / hyper_patch, wp / hyper_patch */
} vae_geom;

/*! vae_geometry() : @return CLIMZ_OK, or CLIMZ_ERR_DIMENSION (H or W is 0 or absurd; a
 *  learned position table that does not fit the token grid). */
climz_status vae_geometry(const vae_config *c, size_t H, size_t W, vae_geom *g);

/* ---- model ---------------------------------------------------------------------------- */

/* A tensor stored beside the parameters (the codec's CDF tables, ...). */
typedef struct vae_extra {
    char *name;
    nn_dtype dtype;
    size_t ndim;
    size_t shape[NN_CKPT_MAX_DIMS];
    void *data;     /* owned, host order */
    size_t bytes;
} vae_extra;

typedef struct vae_kv {
    char *key, *value;
} vae_kv;

/* Indexes of the parameter tensors in the store (SIZE_MAX: absent). */
typedef struct vae_index {
    size_t patch_w, patch_b, pos_table, pos_proj;
    size_t enc_blk[VAE_MAX_BLOCKS][NN_BLOCK_NPARAMS];
    size_t enc_mu[NN_BLOCK_NPARAMS], enc_lv[NN_BLOCK_NPARAMS];
    size_t enc_out_w, enc_out_b;                  /* 1x1 conv 2*width -> 2L */
    size_t dec_in_w, dec_in_b;                    /* 1x1 conv L -> width */
    size_t dec_blk[VAE_MAX_BLOCKS][NN_BLOCK_NPARAMS];
    size_t dec_norm_g, dec_norm_b, dec_out_w;     /* final LayerNorm, transposed conv */
    size_t ha_patch_w, ha_patch_b;
    size_t ha_blk[VAE_MAX_BLOCKS][NN_BLOCK_NPARAMS];
    size_t ha_fc1_w, ha_fc1_b, ha_fc2_w, ha_fc2_b;
    size_t hs_fc1_w, hs_fc1_b, hs_fc2_w, hs_fc2_b;
    size_t hs_blk[VAE_MAX_BLOCKS][NN_BLOCK_NPARAMS];
    size_t hs_norm_g, hs_norm_b, hs_out_w, hs_out_b;
    size_t fp_first;    /* first tensor of the factorised prior (its block is contiguous) */
    size_t fp_quant;    /* its quantiles */
    size_t rate_gain;   /* the rate gains (SIZE_MAX: the model has none) */
} vae_index;

typedef struct vae_model {
    vae_config cfg;
    nn_params p;        /* every weight; grad/m/v when created for training */
    vae_index ix;
    nn_fp fp;           /* the factorised prior's layout over Lz channels */
    float *norm_mean;   /* (C) per-channel statistics of the training data */
    float *norm_std;    /* (C) */
    vae_extra *extra;
    size_t n_extra;
    vae_kv *meta;       /* "vae.*" metadata kept with the model */
    size_t n_meta;
    char sha256[65];    /* hex SHA-256 of the file it was loaded from ("" if none) */
} vae_model;

/*! vae_model_create() : an empty model of configuration c (weights zero: call
 *  vae_model_init_weights() or load). training != 0 also allocates grad, m, v.
 *  Stats start at mean 0, std 1. Free with vae_model_free() (also after a failure). */
climz_status vae_model_create(vae_model *m, const vae_config *c, int training);
void vae_model_free(vae_model *m); /* NULL and a zeroed struct allowed */

/*! vae_model_add_rate_gain() : gives m the rate-gain tensor (group "gain"), all 0 (every
 *  channel at the plain step 2^(K/8): the codec's output does not change), keeping every other
 *  weight and, with training buffers, their optimizer moments. No-op when m has it.
 *  @return CLIMZ_OK, CLIMZ_ERR_ALLOC. */
climz_status vae_model_add_rate_gain(vae_model *m);
/* 1 when m has the rate gains. */
int vae_model_has_rate_gain(const vae_model *m);
/*! vae_gain_anchor() : where level lies between the anchors: a(level) = (1 - *t) * a[*i]
 *  + *t * a[*i + 1], 0 <= *t <= 1 (clamped outside the anchors). */
void vae_gain_anchor(double level, size_t *i, double *t);

/*! vae_model_init_weights() : seeded initialisation: Linear/conv weights trunc_normal(0.02)
 *  (timm ViT), biases 0, LayerNorm 1/0, the factorised prior as CompressAI (init scale
 *  cfg.fp_init_scale). Same seed, same weights on every machine. */
climz_status vae_model_init_weights(vae_model *m, uint64_t seed);

/*! vae_model_save() : writes the model file atomically at path. opt != NULL makes it a
 *  training checkpoint (m must have training buffers). */
climz_status vae_model_save(const vae_model *m, const char *path, const nn_adamw *opt);
/*! vae_model_load() : reads a model file (config, weights, stats, extras, vae.* metadata,
 *  m->sha256). training != 0 allocates training buffers; opt != NULL also restores the
 *  optimizer (CLIMZ_ERR_NOT_FOUND when the file has none).
 *  @return CLIMZ_OK; CLIMZ_ERR_NOT_FOUND / IO / CORRUPT / TRUNCATED / UNSUPPORTED
 *  (not a VAEformer model) / DIMENSION (a tensor of the wrong shape). */
climz_status vae_model_load(vae_model *m, const char *path, int training, nn_adamw *opt);
/*! vae_model_load_mem() : the same from a buffer (label names it in messages); no optimizer. */
climz_status vae_model_load_mem(vae_model *m, const void *buf, size_t size, const char *label,
                                int training);

/*! vae_model_put_extra() : stores a copy of an extra tensor (replacing one of the same name),
 *  saved as "extra.<name>". @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG (empty name, bad dtype
 *  or rank), CLIMZ_ERR_ALLOC. */
climz_status vae_model_put_extra(vae_model *m, const char *name, nn_dtype dt, size_t ndim,
                                 const size_t *shape, const void *data);
/* The extra tensor called name (without "extra."), or NULL. */
const vae_extra *vae_model_extra(const vae_model *m, const char *name);
/* Metadata kept with the model; keys must start with "vae." (else CLIMZ_ERR_INVALID_ARG). */
climz_status vae_model_set_meta(vae_model *m, const char *key, const char *value);
const char *vae_model_meta(const vae_model *m, const char *key); /* NULL if absent */

/* Elements of a group ("encoder", ...), or of all groups when group is NULL. */
size_t vae_model_num_params(const vae_model *m, const char *group);
/* The factorised prior's flat parameter block (nn_fp layout, m->fp) and the medians of z
 * (Lz): median[c] = quantiles[c][1]. */
const float *vae_model_fp_params(const vae_model *m);
void vae_model_z_medians(const vae_model *m, float *median);

/* ---- inference (normalised data; see READ ME FIRST) ------------------------------------ */

/*! vae_encode_latent() : x (C, H, W) normalised, missing points already filled (0) ->
 *  y (L, h, w) = the posterior mean mu; *h, *w receive the latent grid (vae_geometry()).
 *  @return CLIMZ_OK, CLIMZ_ERR_DIMENSION, CLIMZ_ERR_ALLOC. */
climz_status vae_encode_latent(const vae_model *m, const float *x, size_t H, size_t W, float *y,
                               size_t *h, size_t *w);
/*! vae_hyper_encode() : y (L, h, w) -> z (Lz, hz, wz) (not quantised). */
climz_status vae_hyper_encode(const vae_model *m, const float *y, size_t h, size_t w, float *z,
                              size_t *hz, size_t *wz);
/*! vae_hyper_decode() : z_hat (Lz, hz, wz) -> scales, means (L, h, w) each, for the latent
 *  grid (h, w) (which must give (hz, wz): else CLIMZ_ERR_DIMENSION). Deterministic
 *  (bit-identical on any thread count and machine). scales are h_s's raw output: the
 *  Gaussian conditional bounds them below by 0.11. */
climz_status vae_hyper_decode(const vae_model *m, const float *z_hat, size_t hz, size_t wz,
                              float *scales, float *means, size_t h, size_t w);
/*! vae_decode_latent() : B latents of one grid at once, y_hat[b] (L, h, w) -> x_hat[b]
 *  (C, H, W) normalised; (h, w) must be the latent grid of (H, W). One batch makes every
 *  product B times taller (small grids: the weights are packed once for all B, the sgemm
 *  runs near its full rate). In deterministic mode each sample's result is the same as
 *  alone; with the fast kernels it may differ in the last bits (OpenBLAS does not round a
 *  row the same at every height of a product): a decoder that must reproduce an encoder
 *  batches as it did. */
climz_status vae_decode_latent(const vae_model *m, size_t B, const float *const *y_hat, size_t h, size_t w,
                               float *const *x_hat, size_t H, size_t W);

/*! vae_reconstruct() : the whole codec path on one image without entropy coding, for
 *  validation and tests: y = mu; quantize == 0: x_hat = decode(y) (phase 1); quantize == 1:
 *  z_hat = round(z - median) + median, (scales, means) = h_s(z_hat), y_hat = round(y - means)
 *  + means, x_hat = decode(y_hat), and the rate the Gaussian conditional and the factorised
 *  prior assign to the symbols (bits_y, bits_z; either may be NULL). With rate gains, at
 *  level 0: y, means and scales of channel c divided by 2^(a_c(0)) before the rounding, y_hat
 *  multiplied by it after. x, x_hat (C, H, W). */
climz_status vae_reconstruct(const vae_model *m, const float *x, size_t H, size_t W, int quantize,
                             float *x_hat, double *bits_y, double *bits_z);

/* ---- training ------------------------------------------------------------------------- */

/* Phase 2 weighs the MSE (normalised units) by lambda * VAE_DIST_SCALE, CompressAI's
 * lambda * 255^2 convention, so that the paper's lambdas (1e-2, 1e-3) apply as they are. */
#define VAE_DIST_SCALE 65025.0

typedef enum vae_phase {
    VAE_PHASE_PRETRAIN = 1, /* MSE + beta * KL, y = mu + sigma * eps */
    VAE_PHASE_FINETUNE = 2  /* lambda * 255^2 * MSE + bits per value, uniform noise proxies */
} vae_phase;

/* Loss terms of one batch (means over the batch). */
typedef struct vae_losses {
    double loss;   /* the optimised total, without the aux loss */
    double mse;    /* (latitude-weighted, masked) MSE in normalised units */
    double kl;     /* phase 1 */
    double bpv;    /* phase 2: bits per value, (bits_y + bits_z) / (B*C*H*W) */
    double bits_y, bits_z;
    double aux;    /* phase 2: auxiliary quantile loss */
    double sigma;  /* phase 1: mean posterior standard deviation exp(logvar/2) */
    double y_absmean; /* mean |mu|: the latent's scale against the unit quantiser */
} vae_losses;

typedef struct vae_trainer vae_trainer; /* activations for one batch shape */

/*! vae_trainer_create() : activations and scratch for batches (B, C, H, W) of phase ph on
 *  model m (which must have training buffers). H, W are the crop size (any: padded as
 *  in READ ME FIRST). @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG, DIMENSION, ALLOC. */
climz_status vae_trainer_create(vae_trainer **t, vae_model *m, vae_phase ph, size_t B, size_t H,
                                size_t W);
void vae_trainer_free(vae_trainer *t); /* NULL allowed */

/*! vae_trainer_step() : forward and backward of one batch, ADDING the gradients of the loss
 *  (and, in phase 2, of the aux loss) into m->p.grad (zero them first; frozen groups get
 *  nothing). x (B, C, H, W) normalised with missing points filled; mask (B, C, H, W) or NULL:
 *  1 = excluded from the loss (missing or padding); row_w (B, H) or NULL: per-sample row
 *  weights (cos latitude). weight: beta (phase 1) or lambda (phase 2). rng draws eps / noise
 *  in a fixed order (same rng state, same bits). */
climz_status vae_trainer_step(vae_trainer *t, const float *x, const uint8_t *mask,
                              const float *row_w, double weight, nn_rng *rng, vae_losses *out);

/*! vae_trainer_set_step() : the quantiser step D of the next phase-2 steps (default 1): the
 *  trainer then codes as the codec at a rate level (vae_job_set_step): the noisy latent
 *  y / D + u under the entropy model means / D, scales / D, synthesised from D * (y / D + u).
 *  Multi-rate training draws D per batch (vae_train.c). @return CLIMZ_ERR_INVALID_ARG for a
 *  step that is not finite and > 0, or a step other than 1 in phase 1. */
climz_status vae_trainer_set_step(vae_trainer *t, double step);
/*! vae_trainer_set_level() : vae_trainer_set_step() at the step of rate level k
 *  (vae_step_of_level). With rate gains (READ ME FIRST) channel c's step is D * 2^(a_c(k)),
 *  a_c from the weights the step is given (set_step interpolates them at 8 log2 D), and the
 *  gradient reaches the gains when the group "gain" is not frozen. @return
 *  CLIMZ_ERR_INVALID_ARG for k outside -16..40 or a level other than 0 in phase 1. */
climz_status vae_trainer_set_level(vae_trainer *t, int k);

/* Data-parallel training: a trainer computes ONE SHARD of a global batch, its B samples
 * being samples [first, first + B) of a batch of total. The losses it returns and the
 * gradients it adds are this shard's part of the global batch's, so that the parts summed
 * over the shards are the whole batch's (up to the summation order): the MSE weighs each
 * sample by its share of the global valid weight, KL and bits are divided by the global
 * element counts, the aux loss's gradient comes from one shard only, and the rng skips the
 * other shards' noise draws (so every sample sees the noise it sees in one process). */
typedef struct vae_shard {
    size_t first, total;
    double mse_weight; /* sum of vae_mse_weight() over the global batch, in sample order */
    int aux;           /* 1: this shard adds the aux gradient (exactly one shard of a batch) */
} vae_shard;

/*! vae_trainer_set_shard() : the shard of the next steps; NULL: the whole batch (default).
 *  @return CLIMZ_ERR_INVALID_ARG when first + B exceeds total. */
climz_status vae_trainer_set_shard(vae_trainer *t, const vae_shard *s);

/*! vae_mse_weight() : one sample's weight in the batch MSE: the sum of its row weights over
 *  its valid points; mask (C, H, W) and row_w (H) may be NULL. */
double vae_mse_weight(const uint8_t *mask, const float *row_w, size_t C, size_t H, size_t W);

/*! vae_fit_quantiles() : solves the auxiliary loss exactly for the current factorised prior
 *  (each quantile is the root of logits_c(q) = target, found by bisection; cheap, no
 *  network), so that the medians and tails used to build the CDF tables of z are converged.
 *  climz finetune calls it at the end. @return the final aux loss in *aux (may be NULL). */
climz_status vae_fit_quantiles(vae_model *m, double *aux);

#endif /* CZ_VAE_H */
