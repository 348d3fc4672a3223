/*
 * vae_internal.h — pieces of the VAEformer shared between its files and its tests: block
 * configurations, and the network written once for float and double (vae_net_impl.inc).
 * The _f64 twins take the weights as a separate double array P laid out like m->p.data
 * (m->p.numel elements) and gradients G of the same layout (NULL: none), so that tests can
 * check the float code against finite differences of the double code.
 */
#ifndef CZ_VAE_INTERNAL_H
#define CZ_VAE_INTERNAL_H

#include "vae/vae.h"
#include "vae/vae_codec.h"

#include <math.h>

/* One sample in the coder's stages (vae_codec.h); y holds y until stage 3, y_hat after. */
struct vae_job {
    const vae_coder *c;
    size_t H, W;
    vae_geom g;
    size_t ny, nz;          /* L*h*w, Lz*hz*wz */
    float *y, *scales, *means, *z;
    float *y_cont;          /* encoder, after stage 3: y before quantisation (vae_jobs_y_bits) */
    uint8_t *idx;           /* (means, idx): the entropy model, from h_s or inherited */
    float *pmeans;          /* with predicted: the means and indexes y is coded with */
    uint8_t *pidx;
    int predicted;
    const vae_spatial *sp;  /* the checkerboard context y is coded with (NULL: none) */
    uint8_t *cidx;          /* after stage 3: the table index each y symbol was coded with */
    int32_t *zsym, *sym;    /* the z and y symbols */
    vae_sample_info info;
    float *steps;           /* (L) the quantisation step D_c of each channel of y (vae_job_set_step) */
    int scaled;             /* 0: every D_c is 1 (nothing divided or multiplied) */
    struct vae_memo *memo;  /* the encoder's memo of stages 1 and 2 (vae_job_set_memo), or NULL */
};

/* s = round(v) half to even, clamped to +-2^30 (the escape codes any int32); 0 when v is
 * not finite. The coder's quantiser, also used by the encoder's estimates (vae_predict.c). */
static inline int vae_symbol(float v, int32_t *s) {
    if (!isfinite(v)) return 0;
    float const r = nearbyintf(v);
    *s = r > 1073741824.0f ? 1073741824 : r < -1073741824.0f ? -1073741824 : (int32_t)r;
    return 1;
}

/* 1 for the anchors of the checkerboard context (vae_codec.h), coded first */
static inline int vae_anchor(size_t r, size_t q) { return ((r + q) & 1u) == 0; }

/*! vae_spatial_point() : the coding model (*m, *idx) of y point i of j, not an anchor, under
 *  j's context, from its model before the context (mean, idx0); the anchors' symbols of its
 *  plane must be known. */
void vae_spatial_point(const vae_job *j, size_t i, float mean, uint8_t idx0, float *m, uint8_t *idx);

/* Code lengths in bits of every value of every Gaussian table, from its integer frequencies
 * (the encoder's estimates, vae_predict.c and vae_spatial.c). */
typedef struct vae_len_tables {
    float *len;                       /* concatenated: table i at off[i], values 0..tail[i] */
    size_t off[ENT_GAUSS_LEVELS];
    int32_t tail[ENT_GAUSS_LEVELS];
    float esc[ENT_GAUSS_LEVELS];      /* the escape symbol */
} vae_len_tables;

climz_status vae_len_tables_build(vae_len_tables *lt, const ent_gauss_tables *g);
/* bits of value v in table i; an escape adds an Elias-gamma code of the excess and a sign */
float vae_value_bits(const vae_len_tables *lt, unsigned i, int32_t v);
/* clamp(idx - k, 0, 63) */
uint8_t vae_shifted_index(uint8_t idx, int k);

/* MLP hidden width of a block of the given width: round(mlp_ratio * width), at least 1 */
size_t vae_hidden_of(const vae_config *c, size_t width);
/* block configuration of a block of kind (vae_win) in the encoder/decoder (hyper = 0) or
 * in h_a / h_s (hyper = 1: width hyper_width, hyper_heads) */
nn_block_cfg vae_block_cfg(const vae_config *c, int kind, int hyper);

/* ---- the network with explicit weights (float and double) ---------------------------- */
/* Same contracts as the public functions of vae.h, with weights P (and gradients G). */
climz_status vn_encode_latent(const vae_model *m, const float *P, const float *x, size_t H,
                              size_t W, float *y, size_t *h, size_t *w);
climz_status vn_hyper_encode(const vae_model *m, const float *P, const float *y, size_t h,
                             size_t w, float *z, size_t *hz, size_t *wz);
climz_status vn_hyper_decode(const vae_model *m, const float *P, const float *z_hat, size_t hz,
                             size_t wz, float *scales, float *means, size_t h, size_t w);
climz_status vn_decode_latent(const vae_model *m, const float *P, size_t B, const float *const *y_hat, size_t h,
                              size_t w, float *const *x_hat, size_t H, size_t W);
climz_status vn_reconstruct(const vae_model *m, const float *P, const float *x, size_t H,
                            size_t W, int quantize, float *x_hat, double *bits_y, double *bits_z);
climz_status vn_refine_latent(const vae_model *m, const float *P, float *y, const float *means,
                              const float *scales, const float *steps, size_t h, size_t w, const float *x, const uint8_t *mask,
                              size_t H, size_t W, int iters, double lr, double dscale, double *loss_start,
                              double *loss_end);
climz_status vn_refine_latent_f64(const vae_model *m, const double *P, double *y, const double *means,
                                  const double *scales, const float *steps, size_t h, size_t w, const double *x,
                                  const uint8_t *mask, size_t H, size_t W, int iters, double lr,
                                  double dscale, double *loss_start, double *loss_end);
climz_status vn_encode_latent_f64(const vae_model *m, const double *P, const double *x, size_t H,
                                  size_t W, double *y, size_t *h, size_t *w);
climz_status vn_hyper_encode_f64(const vae_model *m, const double *P, const double *y, size_t h,
                                 size_t w, double *z, size_t *hz, size_t *wz);
climz_status vn_hyper_decode_f64(const vae_model *m, const double *P, const double *z_hat,
                                 size_t hz, size_t wz, double *scales, double *means, size_t h,
                                 size_t w);
climz_status vn_decode_latent_f64(const vae_model *m, const double *P, size_t B, const double *const *y_hat,
                                  size_t h, size_t w, double *const *x_hat, size_t H, size_t W);
climz_status vn_reconstruct_f64(const vae_model *m, const double *P, const double *x, size_t H,
                                size_t W, int quantize, double *x_hat, double *bits_y,
                                double *bits_z);

typedef struct vae_trainer_f64 vae_trainer_f64;
climz_status vae_trainer_create_f64(vae_trainer_f64 **t, vae_model *m, vae_phase ph, size_t B,
                                    size_t H, size_t W);
void vae_trainer_free_f64(vae_trainer_f64 *t);
climz_status vae_trainer_set_step_f64(vae_trainer_f64 *t, double step);
climz_status vae_trainer_set_level_f64(vae_trainer_f64 *t, int k);
/* vae_trainer_step with weights P and gradients G (NULL: only the losses); groups frozen in
 * t's model get no gradient. */
climz_status vae_trainer_step_p(vae_trainer *t, const float *P, float *G, const float *x,
                                const uint8_t *mask, const float *row_w, double weight,
                                nn_rng *rng, vae_losses *out);
climz_status vae_trainer_step_p_f64(vae_trainer_f64 *t, const double *P, double *G,
                                    const double *x, const uint8_t *mask, const double *row_w,
                                    double weight, nn_rng *rng, vae_losses *out);

#endif /* CZ_VAE_INTERNAL_H */
