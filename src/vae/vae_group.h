/*
 * vae_group.h — the VAEformer's group engine: a field (nt, nz, ny, nx) coded as latent
 * chunks, one per prediction group, and decoded back (SPEC section 3). The file-level codec
 * (src/api/codec_vaeformer.c) is a thin adapter over it: options, model lookup, the header
 * entry and the error-bounded residual stage are its business, not the engine's.
 *
 * READ ME FIRST
 *  - The engine knows no container: the encoder hands each group's chunk to a callback,
 *    keyed by the group's first step; the decoder asks a callback for it. The chunk's byte
 *    layout is specified in doc/format.md, section 9 ("latent (4)").
 *  - Samples. A single-channel model (cfg.in_channels == 1, the bundled default) codes every
 *    (t, z) plane as its own sample; a multi-channel model (CRA5 style) codes the nz levels
 *    of a time step as its channels (nz must equal C). A plane may be cut into tiles of at
 *    most `tile` x `tile` points (0 = whole planes; VAE_GROUP_TILE_AUTO: whole planes unless
 *    a plane has more than VF_AUTO_TOKENS latent tokens, then 512): every tile is a sample.
 *    Global attention costs O(tokens^2), so a 2161 x 4320 plane is only practical in tiles,
 *    and a 721 x 1440 one codes 3-5x faster in them (the encoder's three global blocks most).
 *  - Normalisation. cfg.field_norm: each (sample, channel) is normalised by the mean and
 *    standard deviation of its own valid points, computed in double and stored in the chunk
 *    as float32 or, after a group's first step, as binary16 changes from the same sample one
 *    step before; otherwise the model's per-channel statistics are used. Missing points are
 *    0 after normalisation (the mean). Reconstruction: x' = x_hat * std + mean in float.
 *  - Prediction groups. Steps [kG, kG + G) form a group. A group's first step codes y
 *    against the hyper-prior alone; every later step codes each sample against the same
 *    sample's y_hat one step before (vae_codec.h: per-channel codes chosen by the encoder for
 *    the whole group). The encoder also decides per group whether its predicted samples code
 *    a z of their own or inherit the entropy model of the step before (the mode with fewer
 *    estimated bits). Decoding step t entropy-decodes the other steps of its group.
 *  - Interpolated samples (interp=1). A sample of a step inside a group may code nothing: it
 *    is the linear interpolation in time of the same sample at the nearest coded steps
 *    before and after (at most VF_INTERP_SPAN apart). The encoder codes a batch with every
 *    step first, then chooses greedily, per sample, the steps whose interpolation lowers
 *    bits + VF_INTERP_WEIGHT * lambda * 255^2 * squared error (choose_interp_group), and
 *    codes the batch again without them.
 *  - Level prediction (single-channel model, nz > 1, levels=1). In a group's first step, the
 *    planes after the first are predicted the same way from the plane below (same tile).
 *  - Spatial context (spatial=1). After stage 3 the encoder estimates what the checkerboard
 *    context (vae_codec.h) would save over the group and, when that exceeds the bytes of its
 *    codes, codes the group's y again with it.
 *  - Determinism of the reconstruction. With det (vae_loaded.det) the synthesis g_s runs in
 *    deterministic mode, so the reconstruction is the same on every machine; otherwise the
 *    fast kernels (identical for any thread count on one machine).
 *  - Threads. Steps are coded in batches, every sample of a batch stage by stage: small
 *    samples in parallel, one thread each; h_s one sample after the other; large samples one
 *    after the other with every thread inside the kernels. The output does not depend on the
 *    thread count.
 */
#ifndef CZ_VAE_GROUP_H
#define CZ_VAE_GROUP_H

#include "io/dataset.h"
#include "vae/vae_codec.h"

#define VAE_MAX_PATH 4096

/* A model loaded for coding: its weights and the coder's tables. */
typedef struct vae_loaded {
    vae_model m;
    vae_coder c;
    char path[VAE_MAX_PATH];
    int det; /* the synthesis runs in deterministic mode (vae_coder_init's det_decode) */
} vae_loaded;

/*! vae_loaded_open() : loads the model file at path with its tables. @return CLIMZ_OK or the
 *  loader's error (the message names the path); on failure nothing is left open. */
climz_status vae_loaded_open(vae_loaded *v, const char *path, int det);
void vae_loaded_close(vae_loaded *v);
/* The rate-distortion weight the model was fine-tuned with (its "vae.finetune" record);
 * CLIMZ_ERR_UNSUPPORTED when it records none. */
climz_status vae_loaded_lambda(const vae_loaded *v, double *lambda);

#define VAE_GROUP_TILE_AUTO (-1L)
#define VAE_GROUP_AUTO 0

/* What the encoder may do (the codec options). */
typedef struct vae_group_opts {
    long tile;    /* 0 = whole planes; VAE_GROUP_TILE_AUTO (resolved by vae_group_encode) */
    long group;   /* steps per prediction group (1 = none); VAE_GROUP_AUTO (resolved) */
    long levels;  /* 1: predict the planes of a group's first step from the plane below */
    long refine;  /* encoder-side refinement of each latent: Adam steps (0 = off) */
    long interp;  /* 1: samples may be interpolated in time; -1 = where the model allows it
                     (resolved to 0 or 1) */
    long spatial; /* 1: the encoder may code a group's y with the checkerboard context */
    long step;    /* the rate level of every group (vae_codec.h: D = 2^(step / 8); 0: D = 1) */
    struct vae_group_memo *memo; /* encoder: the samples' transforms kept across calls at other
                                    levels (a rate search; NULL: none) */
} vae_group_opts;

/* The memo of a field's samples (vae_codec.h, vae_memo), one per (step, sample): start it
 * zeroed, hand it to every vae_group_encode of the same field (whatever the level), free it
 * with vae_group_memo_free. */
typedef struct vae_group_memo {
    vae_memo *slot;
    size_t n;
} vae_group_memo;
void vae_group_memo_free(vae_group_memo *m);

/* What the encoder did, summed over the field. */
typedef struct vae_group_totals {
    size_t channels, samples_per_step; /* the layout */
    size_t y_bytes, z_bytes, samples, z_samples, empty, interp, y_escapes;
    double t_analysis, t_hyper, t_entropy, t_synthesis;
} vae_group_totals;

/* The encoder's sink and the decoder's source of latent chunks, keyed by a group's first
 * step. get returns a pointer valid until the decode ends. */
typedef climz_status (*vae_chunk_put_fn)(void *user, size_t t0, const uint8_t *p, size_t n);
typedef climz_status (*vae_chunk_get_fn)(void *user, size_t t0, const uint8_t **p, size_t *n);

/*! vae_group_encode() : codes every step of f (values, missing map) into one latent chunk
 *  per prediction group (put) and writes the reconstruction the decoder will return into rec
 *  (f->nt * nz * ny * nx, every point; missing points hold what the model made of them).
 *  o's automatic values are resolved in place (tile, group, interp). @return CLIMZ_OK or an
 *  error (put's included). */
climz_status vae_group_encode(const vae_loaded *v, const cz_field *f, vae_group_opts *o, vae_chunk_put_fn put,
                              void *user, float *rec, vae_group_totals *tot);

/*! vae_group_decode() : the neural reconstruction of the file steps [s0, s0 + n) of a field
 *  of nt_file steps of (nz, ny, nx), coded with tiles of `tile` and groups of G, into rec
 *  (n planes). The groups that hold the range are entropy-decoded whole. @return CLIMZ_OK,
 *  CLIMZ_ERR_CORRUPT / TRUNCATED / VERSION (a malformed chunk), CLIMZ_ERR_DETERMINISM. */
climz_status vae_group_decode(const vae_loaded *v, vae_chunk_get_fn get, void *user, size_t nz, size_t ny,
                              size_t nx, size_t tile, size_t G, size_t nt_file, size_t s0, size_t n, float *rec);

/* The group length VAE_GROUP_AUTO resolves to for steps of (nz, ny, nx): it depends on the
 * step's size only (not on the model, the tiles or the number of steps). */
size_t vae_group_auto_length(size_t nz, size_t ny, size_t nx);

#endif
