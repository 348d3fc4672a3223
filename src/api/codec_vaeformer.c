/* codec_vaeformer.c — the learned transform codec (SPEC section 3) as a driver codec, with
 * the optional error-bounded residual stage (SPEC section 5).
 *
 * READ ME FIRST
 *  - Samples. A single-channel model (cfg.in_channels == 1, the bundled default) codes every
 *    (t, z) plane as its own sample; a multi-channel model (CRA5 style) codes the nz levels
 *    of a time step as its channels (nz must equal C). A plane may be cut into tiles of at
 *    most `tile` x `tile` points (option tile=N; 0 = whole planes; default: whole planes
 *    unless a plane has more than VF_AUTO_TOKENS latent tokens, then 256): every tile is a
 *    sample. Global attention costs O(tokens^2), so a 2161 x 4320 plane is only practical
 *    in tiles.
 *  - Normalisation. cfg.field_norm: each (sample, channel) is normalised by the mean and
 *    standard deviation of its own valid points, computed here in double and stored in the
 *    chunk as float32 or, after a group's first step, as binary16 changes from the same
 *    sample one step before (half the bytes: 4 % of an ERA5 step at 0.9 % R); the encoder
 *    normalises with the stored values; otherwise the model's per-channel statistics are used. Missing
 *    points are filled with 0 after normalisation (the mean). Reconstruction:
 *    x' = x_hat * std + mean in float.
 *  - Prediction groups. Steps [kG, kG + G) form a group (G = option group=N, recorded as
 *    "group"; default VF_GROUP_MAX, fewer for planes so large that a batch holds fewer
 *    steps). A group's first step codes y against the hyper-prior alone; every later step
 *    codes each sample against the same sample's y_hat one step before (vae_codec.h:
 *    per-channel codes chosen by the encoder for the whole group, stored once in the group's
 *    chunk). The encoder also decides per group whether its predicted samples code a
 *    z of their own or inherit the entropy model of the step before (flag VF_FLAG_NOZ; the
 *    mode with fewer estimated bits). Bundled model, held-out steps, same error: ERA5 2 m
 *    temperature 16.1x without groups, 22.3x with a z per step, 29.6x with the choice; HGT
 *    59.1x -> 100.4x.
 *    Decoding step t entropy-decodes the other steps of its group (y, and z and h_s where
 *    coded; no synthesis): G - 1 extra steps at most.
 *  - Interpolated samples (option interp=1, the default with a model that records its
 *    phase-2 lambda). A sample of a step inside a group (not its first or last) may code
 *    nothing: it is the linear interpolation in time of the same sample at the nearest
 *    coded steps before and after (at most VF_INTERP_SPAN apart), and the time chain links
 *    those two. The encoder codes a batch with every step first, then chooses greedily,
 *    per sample, the steps whose interpolation lowers bits + VF_INTERP_WEIGHT * lambda *
 *    255^2 * squared error (normalised units; choose_interp_group, with the bits the chain
 *    would spend re-linked, vae_jobs_y_bits), and codes the batch again without them. On
 *    hourly fields that is about every other step; on monthly ones none. ERA5 2 m
 *    temperature, 96 held-out hours, the bundled model's lambda 2.5e-4 variant: ratio 80.6
 *    at 0.935 % R -> 127.3 at 0.994 % R (groups of 32 both). Decoding an interpolated step
 *    synthesises its two neighbours.
 *  - Level prediction (single-channel model, nz > 1, option levels=1, the default). In a
 *    group's first step, the planes after the first are predicted the same way from the
 *    plane below (same tile; codes and mode of their own, stored in the group's chunk). A level chain without z hands plane 0's entropy model to every plane of
 *    the step and, when the time chain has no z either, to the whole group: the encoder
 *    weighs that mode together with the time chain it leaves (choose_group). Bundled model,
 *    GrADS model T (7 levels), one held-out step: 28.1x -> 32.2x at the same error; h_s
 *    runs once per step instead of 7 times.
 *  - One chunk per prediction group (CLZ_STREAM_LATENT, keyed by the group's first step): the
 *    kinds and statistics of its samples, then one z stream for every sample of the group
 *    that codes a z and one y stream for every coded sample, in step, then sample order.
 *    One chunk per step (version 4) paid, per step, 32 bytes of index, its header and 16
 *    bytes of rANS states per stream: half of a 142-byte ERA5 step at 0.9 % R (97 now); the file
 *    is 1.51x smaller this way (47.7x -> 72.0x, lambda 3e-4). When an error
 *    bound E > 0 is asked for, the residual stage of the driver (api_residual_encode: blocks
 *    of res_time_block() steps, chunk CLZ_STREAM_RESIDUAL keyed by a block's first step)
 *    codes the field against the neural reconstruction as prediction: every valid point
 *    within E. Decoding a time range then reconstructs the steps of the blocks it touches.
 *    Latent layout, little-endian, varints LEB128:
 *      u8 version (6; 5, without bit 6, is read too; earlier ones are not), u8 flags (bit 0: stats present; bit 2:
 *      time prediction codes follow (set exactly when the group has more than one step);
 *      bit 3: the time-predicted samples code no z; bit 4: the first step's level codes
 *      follow; bit 5: its level-predicted samples code no z; bit 6: the spatial context codes
 *      follow), varint nsteps (G, fewer for the last group), varint nsamples, varint C,
 *      [bit 2: varint L (= cfg.latent), L bytes of time codes], [bit 4: varint L, L bytes
 *      of level codes], [bit 6: varint L, u8 k0 | k1 << 4, u8 k2, L weight codes in
 *      nibbles, low first], then per step, per sample:
 *      u8 kind (bit 0: coded, else no valid point: nothing coded, decodes as 0; bit 1
 *      (VF_KIND_DELTA, not in the first step): the stats are changes), [stats: C x (f32
 *      mean, f32 std), or with bit 1 C x (f16 change of the mean, f16 change of the std),
 *      each added in float to the same sample's value one step before]; then [when a sample codes a z: u32 CRC-32C of the CRC-32Cs
 *      (LE) of the scale-index maps of those samples], varint n, n bytes of z stream,
 *      varint m, m bytes of y stream.
 *    The decoder refuses a chunk whose sizes or flags disagree with the header and the
 *    group (level flags: only where a step has more than one plane), a code >=
 *    VAE_PRED_CODES, a stream for no sample, a stream not consumed exactly
 *    (CLIMZ_ERR_CORRUPT), and index maps whose CRC differs (CLIMZ_ERR_DETERMINISM). A sample
 *    is predicted only when it was coded (kind 1) at the step before (the plane below) too.
 *    Decoding any step of a group entropy-decodes the whole group (z, h_s where a z is
 *    coded, y); the synthesis runs for the steps asked for, and on small grids for the
 *    samples synthesised together with them (run_synthesis: at most VF_RUN_TOKENS tokens).
 *  - Spatial context (option spatial=1, the default). After stage 3 the encoder estimates
 *    what the checkerboard context (vae_codec.h: each latent point coded after the anchors
 *    beside it, against their symbols) would save over the group (vae_spatial_choose: per
 *    channel weights, one k triple) and, when that exceeds the bytes of its codes, codes the
 *    group's y again with it. 10000-step variants, held-out steps, at about the same RMSE:
 *    HGT lambda 1.2e-3 155.6 -> 158.1, tas 112.4 -> 115.7, UWND 62.7 -> 63.3.
 *  - Model identity. The header entry records the model path, its file name and its SHA-256;
 *    a decoder given (or finding) another file refuses it with CLIMZ_ERR_MODEL_MISMATCH.
 *  - Default model (no opts->model): models/climz-default.safetensors, looked up in order
 *    in $CLIMZ_MODEL_DIR, then beside the executable (<exe dir>/models,
 *    <exe dir>/../models, <exe dir>/../share/climz/models), then in the source tree this
 *    file was compiled from (<repo>/models, derived from __FILE__).
 *  - Determinism of the reconstruction. With a residual stage the synthesis g_s runs in
 *    deterministic mode (vae_codec.h), so the prediction, and with it the bound, is the
 *    same on every machine; the pure neural mode uses the fast kernels (identical for any
 *    thread count on one machine). Option deterministic=0|1 overrides; the choice is
 *    recorded in the header entry and the decoder follows it.
 *  - Threads. Steps are coded in batches, every sample of a batch stage by stage (see
 *    "samples in flight" below): small samples in parallel, one thread each; h_s one
 *    sample after the other (it switches the process-wide deterministic mode); large
 *    samples one after the other with every thread inside the kernels. The output does not
 *    depend on the thread count.
 *  - Header entry keys: model, model_name, model_sha256, model_default, and "vaeformer":
 *    {channels, samples_per_step, tile, group, field_norm, deterministic_synthesis, residual,
 *    y_bytes, z_bytes, residual_bytes, empty_samples, interpolated_samples, coded_samples,
 *    z_samples (those with a z of their own), y_escapes[, seconds_*]}.
 *  - Options (key=value): tile=N (0 or >= 8), group=N (1 = no prediction .. 4096),
 *    levels=0|1 (level prediction), interp=0|1 (interpolated samples; 1 needs the model's
 *    phase-2 lambda), deterministic=0|1, refine=N (0 .. 1000 Adam steps of
 *    encoder-side refinement of every latent before it is quantised, vae_job_refine: the
 *    decoder is unchanged; needs the model's phase-2 lambda; ~0.75 s of encoding per step
 *    and 50 steps on a 73 x 144 plane), spatial=0|1 (the spatial context may be used),
 *    timings=0|1 (stage seconds in the header entry, for
 *    benchmarks; off by default so that the same input gives the same file).
 */
#include "codec.h"
#include "nn/nn.h"
#include "vae/vae_codec.h"

#include <cblas.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The decoder rebuilds reconstructions and interpolations bit for bit on any build: no
 * fusing of a * b + c into an FMA (clang contracts by default even in ISO C; GCC does not
 * in the ISO C mode the build sets). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define VF_DEFAULT_MODEL "climz-default.safetensors"
#define VF_VERSION 6         /* 6: spatial context (5, without, is read too; 4: one chunk per step, not) */
#define VF_VERSION_MIN 5
#define VF_FLAG_STATS 1u     /* per-sample normalisation statistics present */
#define VF_FLAG_CODES 4u     /* the time prediction codes follow (a group of several steps) */
#define VF_FLAG_NOZ 8u       /* the time-predicted samples code no z */
#define VF_FLAG_LEVEL_CODES 16u /* the first step's level prediction codes follow */
#define VF_FLAG_LEVEL_NOZ 32u   /* its level-predicted samples code no z */
#define VF_FLAG_SPATIAL 64u     /* the spatial context codes follow: y coded with the checkerboard context */
#define VF_KIND_DELTA 2u     /* sample kind bit: statistics as binary16 changes from the step before */
#define VF_KIND_INTERP 4u    /* sample kind: nothing coded, interpolated in time between its neighbours */
#define VF_INTERP_SPAN 8     /* the encoder interpolates between coded steps at most this far apart */
/* The weight of the error against the bits when the encoder chooses what to interpolate, as a
 * fraction of the model's own lambda * 255^2: with the lambda itself it interpolates too little
 * for the ratio at equal RMSE (hourly ERA5 2 m temperature, lambdas 1.5e-4 and 2.5e-4, group
 * 32: bytes at equal RMSE with 1 / 0.5 / 0.25 / 0.1 x lambda: 1 / 0.96 / 0.91 / 0.93). */
#define VF_INTERP_WEIGHT 0.25
/* No step is left to interpolation whose squared error would exceed this many times its
 * error coded: the steps of a series keep errors of one size. Without it, monthly series
 * at low rates (HGT, tas, lambda <= 3e-4) interpolated a quarter to a half of their steps at
 * 1.5-2x the error, and lost ratio at equal RMSE. */
#define VF_INTERP_MAX_ERROR 2.0
#define VF_MAX_PATH 4096

/* ---- model lookup -------------------------------------------------------------------------- */

static int file_exists(const char *p) { return access(p, R_OK) == 0; }

/* out = dir + rel + the default model name when that file exists (1), else 0; the path
 * tried is appended to the list `tried` for the message. */
static int try_dir(char *out, size_t cap, const char *dir, const char *rel, char *tried, size_t tcap) {
    int const n = snprintf(out, cap, "%s%s%s", dir, rel, VF_DEFAULT_MODEL);
    if (n < 0 || (size_t)n >= cap) return 0;
    if (file_exists(out)) return 1;
    size_t const used = strlen(tried);
    if (used + 2 < tcap) snprintf(tried + used, tcap - used, "%s%s", used ? ", " : "", out);
    return 0;
}

/* The bundled default model's path (see READ ME FIRST) into out. */
static climz_status default_model_path(char *out, size_t cap) {
    char tried[2048] = "";
    const char *env = getenv("CLIMZ_MODEL_DIR");
    if (env && *env && try_dir(out, cap, env, "/", tried, sizeof tried)) return CLIMZ_OK;
    char exe[VF_MAX_PATH];
    ssize_t const n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if (try_dir(out, cap, exe, "/models/", tried, sizeof tried) ||
                try_dir(out, cap, exe, "/../models/", tried, sizeof tried) ||
                try_dir(out, cap, exe, "/../share/climz/models/", tried, sizeof tried))
                return CLIMZ_OK;
        }
    }
    /* the source tree: __FILE__ is <repo>/src/api/codec_vaeformer.c under CMake */
    char src[VF_MAX_PATH];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *cut = strstr(src, "src/api/codec_vaeformer.c");
    if (cut) {
        *cut = 0;
        if (try_dir(out, cap, src, "models/", tried, sizeof tried)) return CLIMZ_OK;
    }
    return cz_error(CLIMZ_ERR_NOT_FOUND,
                    "the default VAEformer model %s was not found (tried %s); set CLIMZ_MODEL_DIR or give a "
                    "model file", VF_DEFAULT_MODEL, tried);
}

/* A loaded model with its tables. */
typedef struct vf_model {
    vae_model m;
    vae_coder c;
    char path[VF_MAX_PATH];
    int is_default;
} vf_model;

static void vf_close(vf_model *v) {
    vae_coder_release(&v->c);
    vae_model_free(&v->m);
}

static climz_status vf_open(vf_model *v, const char *path, int is_default, int det) {
    memset(v, 0, sizeof *v);
    snprintf(v->path, sizeof v->path, "%s", path);
    v->is_default = is_default;
    climz_status st = vae_model_load(&v->m, path, 0, NULL);
    if (!st) st = vae_coder_init(&v->c, &v->m, det);
    if (st) {
        if (!strstr(cz_error_message(), path)) cz_error_prefix(st, "model %s", path);
        vf_close(v);
    }
    return st;
}

/* ---- options and layout --------------------------------------------------------------------- */

#define VF_TILE_AUTO (-1L)
#define VF_AUTO_TOKENS 16384 /* latent tokens of a plane above which tiles are the default */
#define VF_AUTO_TILE 256     /* their size in points: global attention stays O(tile^2) */

#define VF_GROUP_AUTO 0
#define VF_GROUP_MAX 32 /* default group length, capped by the steps of a batch (16 before
                           interpolation: with it a group codes about half its steps) */

typedef struct vf_opts {
    long tile;    /* 0 = whole planes; VF_TILE_AUTO: VF_AUTO_TILE for large planes */
    long group;   /* steps per prediction group (1 = none); VF_GROUP_AUTO: see group_length() */
    long levels;  /* 1: predict the planes of a group's first step from the plane below */
    long det;     /* -1 = default (on with a residual stage) */
    long timings; /* 1: record the stages' seconds in the header entry (benchmarks; the file
                     is then not the same from run to run) */
    long refine;  /* encoder-side refinement of each latent: Adam steps (vae_job_refine; 0 = off) */
    long interp;  /* 1: samples may be interpolated in time (choose_interp); -1 = default (on when
                     the model records its lambda) */
    long spatial; /* 1: the encoder may code a group's y with the checkerboard context */
} vf_opts;

/* The codec options (--opt key=value): the field each sets and the values it takes. */
static const struct vf_opt_spec {
    const char *key;
    size_t field;   /* offsetof(vf_opts, ...) */
    long lo, hi;    /* allowed range */
    long gap;       /* values 1 .. gap - 1 refused too (tile: 0 or >= 8); 0: none */
    const char *use; /* the range in words, for the message */
} vf_opt_specs[] = {
    {"tile", offsetof(vf_opts, tile), 0, LONG_MAX, 8, "0 (no tiling) or >= 8"},
    {"group", offsetof(vf_opts, group), 1, 4096, 0, "1 (no prediction) .. 4096"},
    {"levels", offsetof(vf_opts, levels), 0, 1, 0, "0 or 1"},
    {"deterministic", offsetof(vf_opts, det), 0, 1, 0, "0 or 1"},
    {"refine", offsetof(vf_opts, refine), 0, 1000, 0, "0 (off) .. 1000 steps"},
    {"interp", offsetof(vf_opts, interp), 0, 1, 0, "0 or 1"},
    {"spatial", offsetof(vf_opts, spatial), 0, 1, 0, "0 or 1"},
    {"timings", offsetof(vf_opts, timings), 0, 1, 0, "0 or 1"},
};

static climz_status parse_options(const char *const *kv, vf_opts *o) {
    *o = (vf_opts){.tile = VF_TILE_AUTO, .group = VF_GROUP_AUTO, .levels = 1, .det = -1, .interp = -1, .spatial = 1};
    for (; kv && *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        CZ_RETURN_IF(!eq, CLIMZ_ERR_INVALID_ARG, "codec option '%s' is not key=value", *kv);
        size_t const kl = (size_t)(eq - *kv);
        char *end;
        long const v = strtol(eq + 1, &end, 10);
        CZ_RETURN_IF(!eq[1] || *end || v < 0, CLIMZ_ERR_INVALID_ARG, "codec option '%s' needs an integer >= 0", *kv);
        const struct vf_opt_spec *sp = NULL;
        for (size_t k = 0; k < sizeof vf_opt_specs / sizeof *vf_opt_specs && !sp; k++)
            if (strlen(vf_opt_specs[k].key) == kl && !strncmp(*kv, vf_opt_specs[k].key, kl)) sp = &vf_opt_specs[k];
        if (!sp) {
            char names[128];
            size_t n = 0;
            for (size_t k = 0; k < sizeof vf_opt_specs / sizeof *vf_opt_specs && n < sizeof names; k++)
                n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", k ? ", " : "", vf_opt_specs[k].key);
            return cz_error(CLIMZ_ERR_INVALID_ARG, "vaeformer has no option '%.*s' (options: %s)", (int)kl, *kv, names);
        }
        CZ_RETURN_IF(v < sp->lo || v > sp->hi || (v > 0 && v < sp->gap), CLIMZ_ERR_INVALID_ARG, "%s=%ld: use %s",
                     sp->key, v, sp->use);
        *(long *)((char *)o + sp->field) = v;
    }
    return CLIMZ_OK;
}

/* How a time step (nz, ny, nx) splits into samples (C, th, tw). */
typedef struct vf_layout {
    size_t C;              /* channels per sample */
    size_t nplanes;        /* plane groups: nz (single-channel model) or 1 */
    size_t ty, tx;         /* tiles per plane along y and x */
    size_t tiles;          /* samples per plane group: ty * tx */
    size_t ny, nx;
    size_t nsamples;       /* nplanes * tiles */
} vf_layout;

static climz_status make_layout(const vae_config *cfg, size_t nz, size_t ny, size_t nx, size_t tile,
                                vf_layout *L) {
    L->C = cfg->in_channels;
    CZ_RETURN_IF(L->C != 1 && L->C != nz, CLIMZ_ERR_DIMENSION,
                 "the model codes %zu channels at once but the variable has %zu level(s) per time step "
                 "(a multi-channel model needs one channel per level)", L->C, nz);
    L->nplanes = L->C == 1 ? nz : 1;
    L->ty = tile ? (ny + tile - 1) / tile : 1;
    L->tx = tile ? (nx + tile - 1) / tile : 1;
    L->ny = ny;
    L->nx = nx;
    L->tiles = L->ty * L->tx;
    L->nsamples = L->nplanes * L->tiles;
    return CLIMZ_OK;
}

/* Rows [*y0, *y0 + *h) and columns [*x0, *x0 + *w) of tile (i, j): near-equal splits. */
static void tile_rect(const vf_layout *L, size_t i, size_t j, size_t *y0, size_t *h, size_t *x0, size_t *w) {
    *y0 = L->ny * i / L->ty;
    *h = L->ny * (i + 1) / L->ty - *y0;
    *x0 = L->nx * j / L->tx;
    *w = L->nx * (j + 1) / L->tx - *x0;
}

/* Sample s of a step -> its plane group p and tile (i, j). Channel c of the sample is plane
 * p * C + c of the step (p = the level for a single-channel model, 0 otherwise). */
static void sample_pos(const vf_layout *L, size_t s, size_t *p, size_t *i, size_t *j) {
    *p = s / L->tiles;
    size_t const r = s % L->tiles;
    *i = r / L->tx;
    *j = r % L->tx;
}

/* ---- samples in flight -------------------------------------------------------------------- */

/* Steps are coded in batches of whole prediction groups: every sample of a batch goes
 * through stage 1 (analysis, or reading z), stage 2 (h_s: one after the other, it switches
 * deterministic mode itself), stage 3 (the y symbols: step after step, since a predicted
 * step needs the y_hat of the step before) and stage 4 (the synthesis). Small samples run in
 * parallel over samples, one thread each (OpenMP's and OpenBLAS's threads only fight over
 * tiny matrices); large ones one after the other with every thread inside the kernels. */
#define VF_PAR_TOKENS 4096          /* latent tokens below which samples run in parallel */
#define VF_RUN_TOKENS 512           /* latent tokens of samples synthesised together, at most */
#define VF_BATCH_POINTS (4u << 20)  /* grid points per batch of steps */

/* A chain of prediction: rows of samples, each sample predicted from the same sample one
 * row before (time: the steps of a group; levels: the planes of a group's first step). */
typedef struct vf_pred {
    uint8_t *codes; /* cfg.latent prediction codes (in the batch's allocation) */
    int has_codes;  /* the chain has predicted rows; the group's first step carries the codes */
    int noz;        /* its predicted samples code no z */
} vf_pred;

/* A prediction group of a batch (steps [kG, kG + G) of the field): one chunk. */
typedef struct vf_group {
    vf_pred time;  /* the steps after the first, from the step before */
    vf_pred level; /* the first step's planes after the first, from the plane below */
    int spatial;   /* y coded with the checkerboard context sp (sp.w in the batch's allocation) */
    vae_spatial sp;
    size_t nz, ny; /* samples that code a z, samples coded */
    uint32_t crc;  /* CRC-32C of their scale-index maps' CRCs (LE, in order) */
    ent_dec zd, yd; /* decoder: the group's z and y streams */
} vf_group;

typedef struct vf_item {
    size_t t, s;               /* step (index in the field) and sample */
    size_t p, y0, h, x0, w;    /* plane group and tile */
    uint8_t kind;              /* 0: no valid point */
    float *mean, *sd;          /* C each */
    uint16_t *dstat;           /* encoder, with delta: C x (mean, sd) binary16 changes (stat_change) */
    int delta;                 /* the statistics are stored as changes from the step before (VF_KIND_DELTA) */
    float *x, *xh;             /* C*h*w each: normalised input / reconstruction */
    uint8_t *xm;               /* C*h*w: the input's missing points (encoder) */
    int refine;                /* encoder: refinement steps of its latent (0: none) */
    double lambda;             /* with refine: the model's rate-distortion weight */
    vae_job *job;
    vf_group *grp;             /* decoder: the group whose streams it reads */
    const struct vf_item *prev; /* the same sample one step before, when y is predicted from it */
    const vf_pred *pred;       /* with prev: the chain, for its prediction codes */
    int interp;                /* VF_KIND_INTERP: the linear interpolation in time of ia and ib */
    struct vf_item *ia, *ib;   /* with interp: the same sample at the coded steps around it */
    float wb;                  /* with interp: ib's weight, (t - ia->t) / (ib->t - ia->t) */
    int noz;                   /* with prev: no z, the entropy model is prev's (vae_job_inherit) */
    int synth;                 /* 1: run the synthesis (decoding skips the steps before the range) */
    uint32_t crc;
    climz_status st;
    char msg[384];
} vf_item;

static void item_release(vf_item *it) {
    free(it->mean);
    free(it->dstat);
    free(it->x);
    free(it->xm);
    free(it->xh);
    vae_job_free(it->job);
    memset(it, 0, sizeof *it);
}

enum { ST_ANALYSE, ST_READ_Z, ST_HYPER, ST_CODE_Y, ST_READ_Y };

static climz_status stage_one(vf_item *it, int stage) {
    if (it->noz && (stage == ST_READ_Z || stage == ST_HYPER)) return CLIMZ_OK;
    if ((stage == ST_CODE_Y || stage == ST_READ_Y) && it->prev) {
        if (it->noz) CZ_FORWARD(vae_job_inherit(it->job, it->prev->job));
        CZ_FORWARD(vae_job_predict(it->job, it->prev->job, it->pred->codes));
    }
    switch (stage) {
    case ST_ANALYSE: return vae_job_analyse(it->job, it->x);
    case ST_READ_Z: return vae_job_read_z(it->job, &it->grp->zd);
    case ST_CODE_Y:
        if (it->refine) CZ_FORWARD(vae_job_refine(it->job, it->x, it->xm, it->refine, it->lambda, NULL));
        return vae_job_quantise_y(it->job);
    case ST_READ_Y: return vae_job_read_y(it->job, &it->grp->yd);
    }
    return vae_job_hyper(it->job, &it->crc);
}

/* an item's failure st, with the message the failing call left */
static void item_fail(vf_item *x, climz_status st) {
    x->st = st;
    snprintf(x->msg, sizeof x->msg, "%s", cz_error_message());
}

/* the first failure among it[0..n), in item order */
static climz_status first_failure(const vf_item *it, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (it[i].st) return cz_error(it[i].st, "time step %zu, sample %zu: %s", it[i].t, it[i].s, it[i].msg);
    return CLIMZ_OK;
}

/* Runs a stage over the coded items; the first failure (in item order) is returned. Reading
 * a group's streams goes item after item (the samples of a group share them). */
static climz_status run_stage(vf_item *it, size_t n, int stage, int par) {
    int const blas = openblas_get_num_threads();
    int const omp = cz_num_threads();
    int const serial = stage == ST_HYPER || stage == ST_READ_Z || stage == ST_READ_Y;
    if (par) openblas_set_num_threads(1);
    if (par && stage == ST_HYPER) cz_set_num_threads(1); /* small h_s: no thread team */
#pragma omp parallel for schedule(dynamic) if (par && !serial)
    for (long i = 0; i < (long)n; i++) {
        vf_item *x = &it[i];
        if (!x->kind || x->st) continue;
        climz_status const st = stage_one(x, stage);
        if (st) item_fail(x, st);
    }
    if (par) {
        openblas_set_num_threads(blas);
        cz_set_num_threads(omp);
    }
    return first_failure(it, n);
}

/* Stage 3 of a batch of nsteps steps of L->nsamples samples in groups of G steps: y step
 * after step (and plane after plane in a step whose planes are predicted from each other). */
static climz_status run_y(vf_item *it, size_t nsteps, const vf_layout *L, const vf_group *groups, size_t G,
                          int encode, int par) {
    size_t const ns = L->nsamples;
    for (size_t b = 0; b < nsteps; b++) {
        size_t const unit = b % G == 0 && groups[b / G].level.has_codes ? L->tiles : ns;
        for (size_t k = 0; k < ns; k += unit)
            CZ_FORWARD(run_stage(it + b * ns + k, unit, encode ? ST_CODE_Y : ST_READ_Y, par));
    }
    return CLIMZ_OK;
}

/* Stage 4 of a batch of nsteps steps of ns samples in groups of G steps, in deterministic
 * mode when det. The coded samples of a group that share an image size go through the
 * synthesis together (vae_jobs_synthesis), in runs of at most VF_RUN_TOKENS latent tokens (at
 * least one sample): on a small grid one run packs the weights once for many samples and its
 * products are tall enough for the sgemm's full rate. OpenBLAS does not give a row the same
 * rounding at every height of a product, so the runs depend on nothing but the group's coded
 * samples (not on the steps asked for, nor on the threads): a run synthesises whole when one
 * of its samples is asked for (synth), and the decoder reproduces the encoder's runs. With
 * par and at least as many runs as threads the runs go in parallel, one thread each. */
static climz_status run_synthesis(vf_item *it, size_t nsteps, size_t ns, size_t G, int det, int par) {
    size_t const n = nsteps * ns;
    if (!n) return CLIMZ_OK;
    vae_job **jobs = malloc(n * sizeof *jobs);
    float **xh = malloc(n * sizeof *xh);
    size_t *sel = malloc(2 * (n + 1) * sizeof *sel), *start = sel + n, m = 0, nb = 0;
    uint8_t *taken = calloc(n, 1);
    if (!jobs || !xh || !sel || !taken) {
        free(jobs);
        free(xh);
        free(sel);
        free(taken);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    for (size_t g0 = 0; g0 < n; g0 += G * ns) {
        size_t const g1 = g0 + G * ns < n ? g0 + G * ns : n;
        for (size_t k = g0; k < g1; k++) {
            if (!it[k].kind || !it[k].job || taken[k]) continue;
            const vae_sample_info *in = vae_job_info(it[k].job);
            size_t const tokens = in->h * in->w, cap = tokens < VF_RUN_TOKENS ? VF_RUN_TOKENS / tokens : 1;
            size_t run = 0;
            for (size_t e = k; e < g1; e++) { /* the group's samples of this size, in runs of cap */
                if (!it[e].kind || !it[e].job || taken[e] || it[e].h != it[k].h || it[e].w != it[k].w) continue;
                if (run++ % cap == 0) start[nb++] = m;
                taken[e] = 1;
                jobs[m] = it[e].job;
                xh[m] = it[e].xh;
                sel[m++] = e;
            }
        }
    }
    start[nb] = m;
    if (nb < (size_t)cz_num_threads()) par = 0; /* fewer runs than threads: the threads share each run's products */
    int const blas = openblas_get_num_threads();
    int const was = nn_deterministic();
    if (det) nn_set_deterministic(1);
    if (par) openblas_set_num_threads(1);
#pragma omp parallel for schedule(dynamic) if (par)
    for (long b = 0; b < (long)nb; b++) {
        size_t const k0 = start[b], k1 = start[b + 1];
        int asked = 0;
        for (size_t k = k0; k < k1; k++) asked |= it[sel[k]].synth && !it[sel[k]].st;
        climz_status const st = asked ? vae_jobs_synthesis(jobs + k0, k1 - k0, xh + k0) : CLIMZ_OK;
        for (size_t k = k0; k < k1 && st; k++) item_fail(&it[sel[k]], st);
    }
    if (par) openblas_set_num_threads(blas);
    nn_set_deterministic(was);
    free(jobs);
    free(xh);
    free(sel);
    free(taken);
    return first_failure(it, n);
}

/* CRC-32C of the index-map CRCs of the items that code a z, among n (LE, in item order). */
static uint32_t group_crc(const vf_item *it, size_t n) {
    uint32_t crc = 0;
    for (size_t k = 0; k < n; k++)
        if (it[k].kind && !it[k].noz) {
            uint8_t b[4];
            cz_store_le32(b, it[k].crc);
            crc = cz_crc32c(crc, b, 4);
        }
    return crc;
}

/* The same sample as item k of a group (rows of ns samples from it) at the nearest row before
 * that is not interpolated; NULL in the group's first row (which never is). */
static vf_item *row_before(vf_item *it, size_t k, size_t ns) {
    if (k < ns) return NULL;
    vf_item *b = &it[k - ns];
    while (b->interp) b -= ns;
    return b;
}

/* Links the rows [b0, b0 + gn) of ns samples each (the steps of a group, or the planes of
 * its first step) for the prediction p: every coded sample after the first row to the same
 * sample in the nearest row before that is not interpolated, when that one was coded too; in
 * a chain without z, exactly those samples code no z. */
static void link_chain(vf_item *it, size_t b0, size_t gn, size_t ns, const vf_pred *p) {
    for (size_t b = b0 + 1; b < b0 + gn; b++)
        for (size_t s = 0; s < ns; s++) {
            vf_item *x = &it[b * ns + s];
            const vf_item *before = row_before(it + b0 * ns, (b - b0) * ns + s, ns);
            x->prev = x->kind && before->kind ? before : NULL;
            x->pred = p;
            x->noz = p->noz && x->prev;
        }
}

/* Links the interpolated samples of a group (gn rows of ns samples) to the same sample at the
 * nearest steps before and after that are not interpolated; 0 when one of those is missing
 * or was not coded (a damaged chunk: the encoder never writes that). */
static int link_interp(vf_item *it, size_t gn, size_t ns) {
    for (size_t k = 0; k < gn * ns; k++) {
        vf_item *x = &it[k];
        if (!x->interp) continue;
        size_t b = k;
        while (b + ns < gn * ns && it[b].interp) b += ns;
        x->ia = row_before(it, k, ns);
        x->ib = &it[b];
        if (!x->ia || x->ib->interp || !x->ia->kind || !x->ib->kind) return 0;
        x->wb = (float)(x->t - x->ia->t) / (float)(x->ib->t - x->ia->t);
    }
    return 1;
}

/* Sets up item (t, s): its tile, and buffers for C channels. */
static climz_status item_init(vf_item *it, const vf_layout *L, size_t t, size_t s) {
    memset(it, 0, sizeof *it);
    it->t = t;
    it->s = s;
    size_t i, j;
    sample_pos(L, s, &it->p, &i, &j);
    tile_rect(L, i, j, &it->y0, &it->h, &it->x0, &it->w);
    size_t const n = L->C * it->h * it->w;
    it->mean = malloc(2 * L->C * sizeof *it->mean);
    it->dstat = malloc(2 * L->C * sizeof *it->dstat);
    it->x = malloc(n * sizeof *it->x);
    it->xm = malloc(n);
    it->xh = malloc(n * sizeof *it->xh);
    CZ_RETURN_IF(!it->mean || !it->dstat || !it->x || !it->xm || !it->xh, CLIMZ_ERR_ALLOC, "out of memory");
    it->sd = it->mean + L->C;
    return CLIMZ_OK;
}

/* index of point (r, q) of channel c of item it in a step (nz*ny*nx) */
static size_t item_at(const vf_layout *L, const vf_item *it, size_t c, size_t r, size_t q) {
    return ((it->p * L->C + c) * L->ny + it->y0 + r) * L->nx + it->x0 + q;
}

/* point i of channel c of a coded item's reconstruction: x * sd + mean in float */
static float item_value(const vf_item *it, size_t c, size_t i) { return it->xh[i] * it->sd[c] + it->mean[c]; }

/* point i of channel c interpolated between coded items ia and ib: a + wb * (b - a), one
 * rounding each */
static float interp_value(const vf_item *ia, const vf_item *ib, float wb, size_t c, size_t i) {
    float const a = item_value(ia, c, i), d = item_value(ib, c, i) - a;
    float const e = wb * d;
    return a + e;
}

/* rec (step) <- the item's reconstruction (0 where nothing was coded) */
static void item_scatter(const vf_layout *L, const vf_item *it, float *rec) {
    for (size_t c = 0; c < L->C; c++)
        for (size_t r = 0; r < it->h; r++)
            for (size_t q = 0; q < it->w; q++) {
                size_t const i = (c * it->h + r) * it->w + q;
                rec[item_at(L, it, c, r, q)] =
                    it->interp ? interp_value(it->ia, it->ib, it->wb, c, i) : it->kind ? item_value(it, c, i) : 0.0f;
            }
}

static int small_samples(const vf_model *v, const vf_layout *L, size_t nitems) {
    vae_geom g;
    size_t const h = (L->ny + L->ty - 1) / L->ty, w = (L->nx + L->tx - 1) / L->tx;
    if (vae_geometry(&v->m.cfg, h, w, &g)) return 0;
    return nitems > 1 && cz_num_threads() > 1 && g.h * g.w < VF_PAR_TOKENS;
}

/* Steps per batch for a memory of about VF_BATCH_POINTS points (1..64). */
static size_t batch_steps(const vf_layout *L, size_t nz) {
    size_t const pts = nz * L->ny * L->nx;
    size_t const b = pts ? VF_BATCH_POINTS / pts : 1;
    return b < 1 ? 1 : b > 64 ? 64 : b;
}

/* The default prediction group: VF_GROUP_MAX steps, fewer when a batch holds fewer (a group
 * is coded in one batch: its steps' latents are all in memory at once). */
static size_t group_length(const vf_layout *L, size_t nz) {
    size_t const b = batch_steps(L, nz);
    return b < VF_GROUP_MAX ? b : VF_GROUP_MAX;
}

/* Batches hold whole groups of g steps. */
static size_t batch_of_groups(const vf_layout *L, size_t nz, size_t g) {
    size_t const b = batch_steps(L, nz);
    return b < g ? g : b - b % g;
}

/* ---- encoding ------------------------------------------------------------------------------- */

typedef struct vf_totals {
    size_t y_bytes, z_bytes, res_bytes, samples, z_samples, empty, interp, y_escapes;
    double t_analysis, t_hyper, t_entropy, t_synthesis;
} vf_totals;

/* a statistic stored as the binary16 change h from its value one step before: the value both
 * sides use (one float addition) */
static float stat_after(float before, uint16_t h) { return before + cz_f32_from_f16(h); }

/* *h = the change of a statistic from its value before; 0 when it does not fit binary16 or
 * the stored value would not be finite (and, with positive, above 0) */
static int stat_change(double value, float before, int positive, uint16_t *h) {
    *h = cz_f16_from_f32((float)(value - (double)before));
    float const stored = stat_after(before, *h);
    return (*h & 0x7c00u) != 0x7c00u && isfinite(stored) && (!positive || stored > 0);
}

/* statistics and normalised input of item it of step x (nz*ny*nx); prev: the same sample one
 * step before in its group (NULL in a group's first step), whose statistics it stores its own
 * against when every channel's change fits binary16 */
static void item_normalise(const vf_model *v, const vf_layout *L, vf_item *it, const float *x, const uint8_t *miss,
                           const vf_item *prev) {
    size_t nvalid_all = 0;
    it->delta = v->m.cfg.field_norm && prev;
    for (size_t c = 0; c < L->C; c++) {
        double sum = 0, sum2 = 0;
        size_t nv = 0;
        for (size_t r = 0; r < it->h; r++)
            for (size_t q = 0; q < it->w; q++) {
                size_t const k = item_at(L, it, c, r, q);
                if (!miss[k]) sum += x[k], nv++;
            }
        double const mu = nv ? sum / (double)nv : 0;
        for (size_t r = 0; r < it->h; r++)
            for (size_t q = 0; q < it->w; q++) {
                size_t const k = item_at(L, it, c, r, q);
                if (!miss[k]) sum2 += (x[k] - mu) * (x[k] - mu);
            }
        if (v->m.cfg.field_norm) {
            it->mean[c] = (float)mu;
            it->sd[c] = nv ? (float)sqrt(sum2 / (double)nv) : 1.0f;
            if (!(it->sd[c] > 0) || !isfinite(it->sd[c])) it->sd[c] = 1;
            if (it->delta)
                it->delta = stat_change(mu, prev->mean[c], 0, &it->dstat[2 * c]) &&
                            stat_change(it->sd[c], prev->sd[c], 1, &it->dstat[2 * c + 1]);
        } else {
            it->mean[c] = v->m.norm_mean[c];
            it->sd[c] = v->m.norm_std[c];
        }
        nvalid_all += nv;
    }
    if (it->delta) /* the stored statistics, the ones the decoder will use */
        for (size_t c = 0; c < L->C; c++) {
            it->mean[c] = stat_after(prev->mean[c], it->dstat[2 * c]);
            it->sd[c] = stat_after(prev->sd[c], it->dstat[2 * c + 1]);
        }
    it->kind = nvalid_all ? 1 : 0;
    for (size_t c = 0; c < L->C; c++)
        for (size_t r = 0; r < it->h; r++)
            for (size_t q = 0; q < it->w; q++) {
                size_t const k = item_at(L, it, c, r, q);
                it->xm[(c * it->h + r) * it->w + q] = miss[k] != 0;
                it->x[(c * it->h + r) * it->w + q] =
                    miss[k] ? 0.0f : (float)(((double)x[k] - (double)it->mean[c]) / (double)it->sd[c]);
            }
}

/* The latent chunk of group g: the gn steps of ns samples from it (see READ ME FIRST). */
static climz_status group_chunk(const vf_model *v, const vf_layout *L, vf_item *it, size_t gn, const vf_group *g,
                                cz_buf *chunk, vf_totals *tot) {
    size_t const ns = L->nsamples, n = gn * ns;
    chunk->size = 0;
    uint8_t const head[2] = {
        VF_VERSION, (uint8_t)((v->m.cfg.field_norm ? VF_FLAG_STATS : 0) | (g->time.has_codes ? VF_FLAG_CODES : 0) |
                              (g->time.noz ? VF_FLAG_NOZ : 0) | (g->level.has_codes ? VF_FLAG_LEVEL_CODES : 0) |
                              (g->level.noz ? VF_FLAG_LEVEL_NOZ : 0) | (g->spatial ? VF_FLAG_SPATIAL : 0))};
    CZ_FORWARD(cz_buf_put(chunk, head, 2));
    CZ_FORWARD(cz_buf_put_varint(chunk, gn));
    CZ_FORWARD(cz_buf_put_varint(chunk, ns));
    CZ_FORWARD(cz_buf_put_varint(chunk, L->C));
    for (int k = 0; k < 2; k++) {
        const vf_pred *p = k ? &g->level : &g->time;
        if (!p->has_codes) continue;
        CZ_FORWARD(cz_buf_put_varint(chunk, v->m.cfg.latent));
        CZ_FORWARD(cz_buf_put(chunk, p->codes, v->m.cfg.latent));
    }
    if (g->spatial) {
        size_t const nlat = v->m.cfg.latent;
        uint8_t const kb[2] = {(uint8_t)(g->sp.k[0] | g->sp.k[1] << 4), g->sp.k[2]};
        CZ_FORWARD(cz_buf_put_varint(chunk, nlat));
        CZ_FORWARD(cz_buf_put(chunk, kb, 2));
        for (size_t c = 0; c < nlat; c += 2)
            CZ_FORWARD(cz_buf_put_u8(chunk, (uint8_t)(g->sp.w[c] | (c + 1 < nlat ? g->sp.w[c + 1] << 4 : 0))));
    }
    vae_job **zj = malloc(2 * n * sizeof *zj), **yj = zj + n;
    CZ_RETURN_IF(!zj, CLIMZ_ERR_ALLOC, "out of memory");
    size_t nzj = 0, nyj = 0;
    for (size_t k = 0; k < n; k++) {
        const vf_item *x = &it[k];
        if (x->interp) {
            tot->interp++;
            climz_status const st = cz_buf_put_u8(chunk, VF_KIND_INTERP);
            if (!st) continue;
            free(zj);
            return st;
        }
        climz_status st = cz_buf_put_u8(chunk, (uint8_t)(x->kind | (x->delta ? VF_KIND_DELTA : 0)));
        for (size_t c = 0; c < L->C && v->m.cfg.field_norm && !st; c++) {
            st = x->delta ? cz_buf_put_u16(chunk, x->dstat[2 * c]) : cz_buf_put_f32(chunk, x->mean[c]);
            if (!st) st = x->delta ? cz_buf_put_u16(chunk, x->dstat[2 * c + 1]) : cz_buf_put_f32(chunk, x->sd[c]);
        }
        if (st) {
            free(zj);
            return st;
        }
        if (!x->kind) {
            tot->empty++;
            continue;
        }
        if (!x->noz) zj[nzj++] = x->job;
        yj[nyj++] = x->job;
        const vae_sample_info *in = vae_job_info(x->job);
        tot->samples++;
        tot->z_samples += !x->noz;
        tot->y_escapes += in->y_escapes;
        tot->t_analysis += in->t_analysis;
        tot->t_hyper += in->t_hyper;
        tot->t_synthesis += in->t_synthesis;
    }
    cz_buf zs = {0}, ys = {0};
    double const t0 = cz_now();
    climz_status st = nzj ? cz_buf_put_u32(chunk, group_crc(it, n)) : CLIMZ_OK;
    if (!st) st = vae_jobs_encode_z(zj, nzj, &zs);
    if (!st) st = vae_jobs_encode_y(yj, nyj, &ys);
    tot->t_entropy += cz_now() - t0;
    for (int k = 0; k < 2 && !st; k++) {
        const cz_buf *b = k ? &ys : &zs;
        st = cz_buf_put_varint(chunk, b->size);
        if (!st) st = cz_buf_put(chunk, b->data, b->size);
    }
    tot->z_bytes += zs.size;
    tot->y_bytes += ys.size;
    cz_buf_free(&zs);
    cz_buf_free(&ys);
    free(zj);
    return st;
}

/* The samples of a batch of nb steps, its groups of G steps with nlat codes each (one
 * allocation), and (rec != NULL) the reconstruction of nt steps. */
static climz_status batch_alloc(const vf_layout *L, size_t nb, size_t G, size_t nlat, size_t nt, size_t plane,
                                vf_item **items, vf_group **groups, float **rec) {
    size_t const ng = (nb + G - 1) / G;
    *items = calloc(nb * L->nsamples, sizeof **items);
    *groups = calloc(1, ng * (sizeof **groups + 3 * nlat));
    if (rec) *rec = malloc(nt * plane * sizeof **rec);
    CZ_RETURN_IF(!*items || !*groups || (rec && !*rec), CLIMZ_ERR_ALLOC, "out of memory");
    uint8_t *const codes = (uint8_t *)(*groups + ng);
    for (size_t i = 0; i < ng; i++) {
        (*groups)[i].time.codes = codes + 3 * i * nlat;
        (*groups)[i].level.codes = codes + (3 * i + 1) * nlat;
        (*groups)[i].sp.w = codes + (3 * i + 2) * nlat;
    }
    return CLIMZ_OK;
}

/* Estimated bits of the chain over rows [b0, b0 + gn) of ns samples each (see link_chain)
 * in its two modes: predicted samples with a z of their own (codes own; y bits, and z for
 * their z streams, CRCs and length bytes) or inheriting the entropy model (codes inh). */
typedef struct vf_estimate {
    double own, z, inherit;
} vf_estimate;

static double estimate_best(const vf_estimate *e) { return e->inherit < e->own + e->z ? e->inherit : e->own + e->z; }

static climz_status estimate_chain(const vf_model *v, const vf_item *items, size_t b0, size_t gn, size_t ns,
                                   vae_job *const *models, uint8_t *own, uint8_t *inh, vf_estimate *e) {
    vae_job **jobs = calloc(gn * ns, sizeof *jobs);
    CZ_RETURN_IF(!jobs, CLIMZ_ERR_ALLOC, "out of memory");
    e->z = 0;
    for (size_t s = 0; s < ns; s++) /* each sample's rows without the interpolated ones */
        for (size_t b = 0, r = 0; b < gn; b++) {
            const vf_item *x = &items[(b0 + b) * ns + s];
            if (x->interp) continue;
            jobs[r * ns + s] = x->kind ? x->job : NULL;
            if (r && x->kind && jobs[(r - 1) * ns + s]) e->z += vae_job_z_bits(x->job);
            r++;
        }
    climz_status st = vae_predict_choose(&v->c, jobs, models, gn, ns, 0, own, &e->own);
    if (!st) st = vae_predict_choose(&v->c, jobs, models, gn, ns, 1, inh, &e->inherit);
    free(jobs);
    return st;
}

/* The encoder's prediction of group g, steps [b0, b0 + gn) of a batch: the codes and modes
 * of its time chain and (with levels, when a step has more than one plane) of the level
 * chain of its first step, by estimated bits, and the links. A level chain without z hands
 * the entropy model of the lowest plane up to all planes of the first step, and a time
 * chain without z hands it on to the later steps; so that mode is weighed together with
 * the time chain it leaves. A level chain that gains nothing (no code predicts, every z
 * coded) is left out. */
static climz_status choose_group(const vf_model *v, const vf_layout *L, vf_item *items, size_t b0, size_t gn,
                                 int levels, vf_group *g) {
    size_t const ns = L->nsamples, nlat = v->m.cfg.latent;
    vf_item *const first = items + b0 * ns;
    int const lv = levels && L->nplanes > 1;
    g->level.has_codes = g->level.noz = g->time.has_codes = g->time.noz = 0;
    uint8_t *buf = malloc(6 * nlat);
    vae_job **models = malloc(ns * sizeof *models);
    climz_status st = buf && models ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    uint8_t *const lown = buf, *const linh = buf + nlat, *town = buf + 2 * nlat, *tinh = buf + 3 * nlat;
    vf_estimate el = {0}, et = {0}, et2;
    if (!st && lv) st = estimate_chain(v, first, 0, L->nplanes, L->tiles, NULL, lown, linh, &el);
    if (!st && gn > 1) st = estimate_chain(v, items, b0, gn, ns, NULL, town, tinh, &et);
    int lnoz = !st && lv && el.inherit < el.own + el.z;
    if (lnoz && gn > 1) { /* the time chain again, over the entropy models the level chain leaves */
        for (size_t s = 0; s < ns; s++)
            models[s] = s >= L->tiles && first[s].kind && first[s - L->tiles].kind ? models[s - L->tiles] : first[s].job;
        st = estimate_chain(v, items, b0, gn, ns, models, buf + 4 * nlat, buf + 5 * nlat, &et2);
        lnoz = !st && el.inherit + estimate_best(&et2) < el.own + el.z + estimate_best(&et);
        if (lnoz) {
            et = et2;
            town = buf + 4 * nlat;
            tinh = buf + 5 * nlat;
        }
    }
    if (!st && lv) {
        memcpy(g->level.codes, lnoz ? linh : lown, nlat);
        g->level.noz = lnoz;
        g->level.has_codes = lnoz;
        for (size_t c = 0; c < nlat; c++) g->level.has_codes |= g->level.codes[c] != VAE_PRED_INTRA;
        if (g->level.has_codes) link_chain(first, 0, L->nplanes, L->tiles, &g->level);
    }
    if (!st && gn > 1) {
        g->time.noz = et.inherit < et.own + et.z;
        g->time.has_codes = 1;
        memcpy(g->time.codes, g->time.noz ? tinh : town, nlat);
        link_chain(items, b0, gn, ns, &g->time);
    }
    free(buf);
    free(models);
    return st;
}

/* bytes of a group's spatial context codes: varint L, the k triple, L weight nibbles */
static size_t spatial_bytes(size_t nlat) {
    size_t n = 1;
    for (size_t x = nlat; x >= 128; x >>= 7) n++;
    return n + 2 + (nlat + 1) / 2;
}

/* The encoder's spatial context of group g (gn steps of items, after stage 3 without one):
 * when its estimated saving exceeds the bytes of its codes, stage 3 runs again with it (on
 * the latents as they were quantised: a refinement is not repeated). */
static climz_status choose_spatial(const vf_model *v, const vf_layout *L, vf_item *it, size_t gn, vf_group *g,
                                   size_t G, int par) {
    size_t const n = gn * L->nsamples;
    vae_job **jobs = malloc(n * sizeof *jobs);
    CZ_RETURN_IF(!jobs, CLIMZ_ERR_ALLOC, "out of memory");
    for (size_t k = 0; k < n; k++) jobs[k] = it[k].kind ? it[k].job : NULL;
    double saved = 0;
    climz_status st = vae_spatial_choose(&v->c, jobs, n, g->sp.w, g->sp.k, &saved);
    free(jobs);
    g->spatial = !st && saved > 8.0 * (double)spatial_bytes(v->m.cfg.latent);
    for (size_t k = 0; k < n && g->spatial && !st; k++)
        if (it[k].kind) {
            vae_job_restore_y(it[k].job);
            st = vae_job_set_spatial(it[k].job, &g->sp);
            it[k].refine = 0;
        }
    return st || !g->spatial ? st : run_y(it, gn, L, g, G, 1, par);
}

/* Codes the bt steps of field f from step t0 (a batch of whole groups of G steps): items set
 * up and normalised, stages 1 to 4 with each group's prediction chosen, the reconstruction of
 * those steps in rec (planes of the whole field). interp (bt * nsamples flags, NULL: none)
 * marks the samples that are interpolated instead of coded. */
static climz_status code_batch(const vf_model *v, const vf_layout *L, const cz_field *f, size_t t0, size_t bt,
                               size_t G, const vf_opts *o, int refine, double lambda, int det, int par,
                               const uint8_t *interp, vf_item *items, vf_group *groups, float *rec) {
    size_t const ns = L->nsamples, n = bt * ns, plane = f->nz * f->ny * f->nx;
    for (size_t k = 0; k < n; k++) {
        vf_item *it = &items[k];
        size_t const t = t0 + k / ns;
        CZ_FORWARD(item_init(it, L, t, k % ns));
        it->interp = interp && interp[k];
        if (it->interp) continue;
        size_t const g0 = k / ns / G * G * ns; /* the group's first item */
        item_normalise(v, L, it, f->values + t * plane, f->miss + t * plane, row_before(items + g0, k - g0, ns));
        it->synth = 1;
        it->refine = refine;
        it->lambda = lambda;
        if (it->kind) CZ_FORWARD(vae_job_create(&it->job, &v->c, it->h, it->w));
    }
    CZ_FORWARD(run_stage(items, n, ST_ANALYSE, par));
    CZ_FORWARD(run_stage(items, n, ST_HYPER, par));
    for (size_t b0 = 0; b0 < bt; b0 += G) {
        size_t const gn = bt - b0 < G ? bt - b0 : G;
        CZ_FORWARD(choose_group(v, L, items, b0, gn, o->levels, &groups[b0 / G]));
        link_interp(items + b0 * ns, gn, ns);
    }
    CZ_FORWARD(run_y(items, bt, L, groups, G, 1, par));
    for (size_t b0 = 0; b0 < bt && o->spatial; b0 += G)
        CZ_FORWARD(choose_spatial(v, L, items + b0 * ns, bt - b0 < G ? bt - b0 : G, &groups[b0 / G], G, par));
    CZ_FORWARD(run_synthesis(items, bt, ns, G, det, par));
    for (size_t k = 0; k < n; k++) item_scatter(L, &items[k], rec + (t0 + k / ns) * plane);
    return CLIMZ_OK;
}

/* ---- the encoder's choice of interpolated samples ------------------------------------------ */

/* One sample's steps in a group, after a first coding of every step: the costs of coding a
 * step or of interpolating it, in the units of the model's phase-2 loss (bits + lambda *
 * 255^2 * squared error of the normalised field). */
typedef struct vf_ichain {
    vf_item **row;    /* gn: the sample at each step of the group */
    const cz_field *f;
    const vf_layout *L;
    double mu;        /* lambda * 255^2 */
    double *dcode;    /* gn: squared error of the coded step (normalised units) */
    double *zbits;    /* gn: its z bits (0 without a z of its own) */
    double *pair;     /* gn x VF_INTERP_SPAN: pair[a * SPAN + d - 1] = y bits of step a + d
                         predicted from step a */
    uint8_t *coded;   /* gn: still coded (else interpolated) */
} vf_ichain;

/* squared error (normalised by u's statistics) of step u interpolated between steps a and b */
static double interp_error(const vf_ichain *ch, size_t a, size_t u, size_t b) {
    const vf_item *x = ch->row[u];
    float const wb = (float)(u - a) / (float)(b - a);
    size_t const plane = ch->f->nz * ch->f->ny * ch->f->nx;
    const float *xv = ch->f->values + x->t * plane;
    const uint8_t *xm = ch->f->miss + x->t * plane;
    double e = 0;
    for (size_t c = 0; c < ch->L->C; c++) {
        double ec = 0;
        for (size_t r = 0; r < x->h; r++)
            for (size_t q = 0; q < x->w; q++) {
                size_t const k = item_at(ch->L, x, c, r, q);
                if (xm[k]) continue;
                double const d = (double)interp_value(ch->row[a], ch->row[b], wb, c, (c * x->h + r) * x->w + q) - xv[k];
                ec += d * d;
            }
        e += ec / ((double)x->sd[c] * x->sd[c]);
    }
    return e;
}

/* squared error of a coded item's reconstruction (normalised units, valid points) */
static double coded_error(const vf_item *x, size_t C) {
    double e = 0;
    for (size_t i = 0; i < C * x->h * x->w; i++) {
        double const d = x->xm[i] ? 0 : (double)x->xh[i] - x->x[i];
        e += d * d;
    }
    return e;
}

/* Change of the cost when step t stops being coded (< 0: a gain), or +inf when it cannot:
 * the group's first and last steps, a neighbour without a valid point, neighbours more than
 * VF_INTERP_SPAN steps apart, a step between them whose interpolation errs more than
 * VF_INTERP_MAX_ERROR times its coding. */
static double interp_gain(const vf_ichain *ch, size_t gn, size_t t) {
    if (!t || t + 1 >= gn || !ch->coded[t]) return INFINITY;
    size_t a = t - 1, b = t + 1;
    while (a && !ch->coded[a] && ch->row[a]->kind) a--;
    while (b + 1 < gn && !ch->coded[b] && ch->row[b]->kind) b++;
    if (!ch->coded[a] || !ch->coded[b] || b - a > VF_INTERP_SPAN) return INFINITY;
    double now = ch->dcode[t], after = 0;
    for (size_t u = a + 1; u < b; u++) {
        double const e = interp_error(ch, a, u, b);
        if (e > VF_INTERP_MAX_ERROR * ch->dcode[u]) return INFINITY;
        after += e;
        if (u != t) now += interp_error(ch, u < t ? a : t, u, u < t ? t : b);
    }
    double const bits_now = ch->pair[a * VF_INTERP_SPAN + (t - a) - 1] + ch->pair[t * VF_INTERP_SPAN + (b - t) - 1] + ch->zbits[t];
    return ch->mu * (after - now) + ch->pair[a * VF_INTERP_SPAN + (b - a) - 1] - bits_now;
}

/* Marks in flags (gn rows of ns samples) the samples of a group (after code_batch with every
 * step coded) that cost less interpolated in time between the coded steps around them than
 * coded, greedily, the largest gain first; *n += how many. */
static climz_status choose_interp_group(const vf_model *v, const vf_layout *L, const cz_field *f, vf_item *items,
                                        size_t gn, const vf_group *g, double lambda, uint8_t *flags, size_t *n) {
    size_t const ns = L->nsamples, npair = gn * VF_INTERP_SPAN;
    vf_ichain ch = {.f = f, .L = L, .mu = VF_INTERP_WEIGHT * lambda * VAE_DIST_SCALE};
    ch.row = malloc(gn * sizeof *ch.row);
    ch.dcode = malloc((3 * gn + 2 * npair) * sizeof *ch.dcode);
    ch.coded = malloc(gn);
    const vae_job **to = malloc(2 * npair * sizeof *to), **from = to + npair;
    if (!ch.row || !ch.dcode || !ch.coded || !to) {
        free(ch.row);
        free(ch.dcode);
        free(ch.coded);
        free(to);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    ch.zbits = ch.dcode + gn;
    ch.pair = ch.zbits + gn;
    double *const pb = ch.pair + npair, *const gain = pb + npair;
    climz_status st = CLIMZ_OK;
    for (size_t s = 0; s < ns && !st && g->time.has_codes; s++) {
        size_t np = 0;
        for (size_t b = 0; b < gn; b++) {
            vf_item *x = ch.row[b] = &items[b * ns + s];
            ch.coded[b] = (uint8_t)x->kind;
            ch.zbits[b] = x->kind && !x->noz && b ? vae_job_z_bits(x->job) : 0;
            ch.dcode[b] = x->kind ? coded_error(x, L->C) : 0;
            for (size_t d = 1; d <= VF_INTERP_SPAN; d++) /* every pair (b, b + d) of coded steps */
                if (b + d < gn && x->kind && items[(b + d) * ns + s].kind) {
                    to[np] = items[(b + d) * ns + s].job;
                    from[np++] = x->job;
                }
        }
        st = vae_jobs_y_bits(&v->c, to, from, g->time.codes, np, pb);
        for (size_t b = 0, k = 0; b < gn; b++)
            for (size_t d = 1; d <= VF_INTERP_SPAN; d++)
                ch.pair[b * VF_INTERP_SPAN + d - 1] =
                    b + d < gn && ch.row[b]->kind && ch.row[b + d]->kind ? pb[k++] : INFINITY;
        for (size_t t = 0; t < gn; t++) gain[t] = interp_gain(&ch, gn, t);
        for (;;) {
            size_t best = 0;
            for (size_t t = 1; t < gn; t++)
                if (gain[t] < gain[best]) best = t;
            if (st || !(gain[best] < 0)) break;
            ch.coded[best] = 0;
            flags[best * ns + s] = 1;
            (*n)++;
            gain[best] = INFINITY;
            size_t a = best - 1, b = best + 1; /* the gains of the coded neighbours change */
            while (!ch.coded[a] && ch.row[a]->kind) a--;
            while (!ch.coded[b] && ch.row[b]->kind) b++;
            gain[a] = interp_gain(&ch, gn, a);
            gain[b] = interp_gain(&ch, gn, b);
        }
    }
    free(ch.row);
    free(ch.dcode);
    free(ch.coded);
    free(to);
    return st;
}

/* decoded (or f->values) = the reconstruction, 0 at missing points (nt planes) */
static void copy_unmasked(float *out, const float *rec, const uint8_t *miss, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = miss[i] ? 0.0f : rec[i];
}

/* The rate-distortion weight the model was fine-tuned with (its "vae.finetune" record), which
 * the refinement weighs rate and error with. */
static climz_status model_lambda(const vf_model *v, double *lambda) {
    const char *ft = vae_model_meta(&v->m, "vae.finetune");
    json_t *j = ft ? json_loads(ft, 0, NULL) : NULL;
    json_t *jl = j ? json_object_get(j, "lambda") : NULL;
    *lambda = json_is_number(jl) ? json_number_value(jl) : 0;
    json_decref(j);
    CZ_RETURN_IF(!(*lambda > 0) || !isfinite(*lambda), CLIMZ_ERR_UNSUPPORTED,
                 "model %s records no phase-2 lambda (vae.finetune): refine and interp=1 need it", v->path);
    return CLIMZ_OK;
}

static climz_status vaeformer_encode(const api_encode_args *a, clz_writer *w, float *decoded, json_t *entry) {
    const cz_field *f = a->f;
    vf_opts o;
    CZ_FORWARD(parse_options(a->opts ? a->opts->options : NULL, &o));
    int const det = o.det >= 0 ? (int)o.det : a->max_abs_error > 0;
    char path[VF_MAX_PATH];
    int const is_default = !(a->opts && a->opts->model);
    if (is_default) CZ_FORWARD(default_model_path(path, sizeof path));
    else snprintf(path, sizeof path, "%s", a->opts->model);
    char *abs = realpath(path, NULL); /* recorded absolute, so decoding works from anywhere */
    if (abs && strlen(abs) < sizeof path) memcpy(path, abs, strlen(abs) + 1);
    free(abs);
    vf_model vm, *const v = &vm; /* ~12 KB: on the stack, closed at the end */
    climz_status st = vf_open(v, path, is_default, det);
    if (st) return st;
    size_t const plane = f->nz * f->ny * f->nx;
    vf_layout L;
    vf_item *items = NULL;
    vf_group *groups = NULL;
    float *rec = NULL;
    size_t nb = 0, G = 1;
    uint8_t *interp = NULL;
    double lambda = 0;
    cz_buf chunk = {0};
    vf_totals tot = {0};
    int const bounded = a->max_abs_error > 0;
    if (o.tile == VF_TILE_AUTO) {
        vae_geom g;
        CZ_CHECK_GOTO(st, vae_geometry(&v->m.cfg, f->ny, f->nx, &g), done);
        o.tile = g.h * g.w > VF_AUTO_TOKENS ? VF_AUTO_TILE : 0;
    }
    CZ_CHECK_GOTO(st, make_layout(&v->m.cfg, f->nz, f->ny, f->nx, (size_t)o.tile, &L), done);
    if (o.refine || o.interp) {
        st = model_lambda(v, &lambda);
        if (st && !o.refine && o.interp < 0) { /* interpolation by default only where the model allows it */
            st = CLIMZ_OK;
            cz_error_clear();
            o.interp = 0;
        }
        if (st) goto done;
    }
    G = o.group == VF_GROUP_AUTO ? group_length(&L, f->nz) : (size_t)o.group;
    nb = batch_of_groups(&L, f->nz, G);
    nb = nb < f->nt ? nb : f->nt;
    CZ_CHECK_GOTO(st, batch_alloc(&L, nb, G, v->m.cfg.latent, f->nt, plane, &items, &groups, &rec), done);
    int const par = small_samples(v, &L, nb * L.nsamples);
    int const choose = o.interp != 0 && G > 2;
    interp = choose ? malloc(nb * L.nsamples) : NULL;
    CZ_CHECK_GOTO(st, interp || !choose ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory"), done);
    for (size_t t0 = 0; t0 < f->nt; t0 += nb) { /* t0: a multiple of G */
        size_t const bt = f->nt - t0 < nb ? f->nt - t0 : nb, nitems = bt * L.nsamples;
        /* with interpolation: every step coded first (unrefined), then again with the samples
         * that cost less interpolated left out */
        CZ_CHECK_GOTO(st, code_batch(v, &L, f, t0, bt, G, &o, choose ? 0 : o.refine, lambda, det, par, NULL, items,
                                     groups, rec), done);
        if (choose) {
            size_t ni = 0;
            memset(interp, 0, nitems);
            for (size_t b0 = 0; b0 < bt; b0 += G) {
                size_t const gn = bt - b0 < G ? bt - b0 : G;
                CZ_CHECK_GOTO(st, choose_interp_group(v, &L, f, items + b0 * L.nsamples, gn, &groups[b0 / G], lambda,
                                                      interp + b0 * L.nsamples, &ni), done);
            }
            if (ni || o.refine) {
                for (size_t k = 0; k < nitems; k++) item_release(&items[k]);
                CZ_CHECK_GOTO(st, code_batch(v, &L, f, t0, bt, G, &o, o.refine, lambda, det, par, interp, items, groups,
                                             rec), done);
            }
        }
        for (size_t b0 = 0; b0 < bt; b0 += G) {
            size_t const gn = bt - b0 < G ? bt - b0 : G;
            CZ_CHECK_GOTO(st, group_chunk(v, &L, items + b0 * L.nsamples, gn, &groups[b0 / G], &chunk, &tot), done);
            CZ_CHECK_GOTO(st, clz_writer_add(w, (uint32_t)a->var, (uint32_t)(t0 + b0), CLZ_STREAM_LATENT, chunk.data,
                                             chunk.size), done);
        }
        for (size_t k = 0; k < nitems; k++) item_release(&items[k]);
    }
    if (bounded) {
        size_t const before = clz_writer_payload_bytes(w);
        CZ_CHECK_GOTO(st, api_residual_encode(a, rec, w, decoded, entry), done);
        tot.res_bytes = clz_writer_payload_bytes(w) - before;
    } else {
        copy_unmasked(decoded, rec, f->miss, f->nt * plane);
    }
    json_object_set_new(entry, "model", json_string(v->path));
    const char *base = strrchr(v->path, '/');
    json_object_set_new(entry, "model_name", json_string(base ? base + 1 : v->path));
    json_object_set_new(entry, "model_sha256", json_string(v->m.sha256));
    json_object_set_new(entry, "model_default", json_boolean(is_default));
    json_t *j = json_object();
    json_object_set_new(j, "channels", json_integer((json_int_t)L.C));
    json_object_set_new(j, "samples_per_step", json_integer((json_int_t)L.nsamples));
    json_object_set_new(j, "tile", json_integer((json_int_t)o.tile));
    json_object_set_new(j, "group", json_integer((json_int_t)G));
    json_object_set_new(j, "field_norm", json_boolean(v->m.cfg.field_norm));
    json_object_set_new(j, "deterministic_synthesis", json_boolean(det));
    json_object_set_new(j, "residual", json_boolean(bounded));
    json_object_set_new(j, "y_bytes", json_integer((json_int_t)tot.y_bytes));
    json_object_set_new(j, "z_bytes", json_integer((json_int_t)tot.z_bytes));
    json_object_set_new(j, "residual_bytes", json_integer((json_int_t)tot.res_bytes));
    json_object_set_new(j, "empty_samples", json_integer((json_int_t)tot.empty));
    json_object_set_new(j, "interpolated_samples", json_integer((json_int_t)tot.interp));
    json_object_set_new(j, "coded_samples", json_integer((json_int_t)tot.samples));
    json_object_set_new(j, "z_samples", json_integer((json_int_t)tot.z_samples));
    json_object_set_new(j, "y_escapes", json_integer((json_int_t)tot.y_escapes));
    if (o.timings) {
        json_object_set_new(j, "seconds_analysis", json_real(tot.t_analysis));
        json_object_set_new(j, "seconds_hyper", json_real(tot.t_hyper));
        json_object_set_new(j, "seconds_entropy", json_real(tot.t_entropy));
        json_object_set_new(j, "seconds_synthesis", json_real(tot.t_synthesis));
    }
    json_object_set_new(entry, "vaeformer", j);
done:
    for (size_t k = 0; items && k < nb * L.nsamples; k++) item_release(&items[k]);
    cz_buf_free(&chunk);
    free(items);
    free(groups);
    free(rec);
    free(interp);
    vf_close(v);
    return st;
}

/* ---- decoding ------------------------------------------------------------------------------- */

/* The model a file was compressed with: opts->model if given; else the recorded (absolute)
 * path, then the default lookup when the recorded file name is the default model's; the
 * first candidate whose SHA-256 is the recorded one is used. */
static climz_status open_for_decode(vf_model *v, json_t *entry, const climz_decompress_opts *opts, int det) {
    const char *sha = json_string_value(json_object_get(entry, "model_sha256"));
    const char *rec_path = json_string_value(json_object_get(entry, "model"));
    const char *rec_name = json_string_value(json_object_get(entry, "model_name"));
    CZ_RETURN_IF(!sha || strlen(sha) != 64, CLIMZ_ERR_CORRUPT, "the header records no model SHA-256");
    char cand[2][VF_MAX_PATH];
    int n = 0;
    if (opts && opts->model) snprintf(cand[n++], VF_MAX_PATH, "%s", opts->model);
    else {
        if (rec_path && file_exists(rec_path)) snprintf(cand[n++], VF_MAX_PATH, "%s", rec_path);
        if (rec_name && !strcmp(rec_name, VF_DEFAULT_MODEL) && default_model_path(cand[n], VF_MAX_PATH) == CLIMZ_OK &&
            !(n && !strcmp(cand[0], cand[n])))
            n++;
        cz_error_clear();
    }
    if (!n)
        return cz_error(CLIMZ_ERR_NOT_FOUND,
                        "the file was compressed with model %s (sha256 %s), which is not here: give it with the "
                        "model option", rec_path ? rec_path : "?", sha);
    char first_sha[65] = "";
    for (int i = 0; i < n; i++) {
        CZ_FORWARD(vf_open(v, cand[i], 0, det));
        if (!strcmp(v->m.sha256, sha)) return CLIMZ_OK;
        if (!i) snprintf(first_sha, sizeof first_sha, "%s", v->m.sha256);
        vf_close(v);
    }
    return cz_error(CLIMZ_ERR_MODEL_MISMATCH, "model %s has sha256 %s, the file was compressed with %s (sha256 %s)",
                    cand[0], first_sha, rec_path ? rec_path : "?", sha);
}

/* Reads a chain's prediction codes (varint count, cfg.latent bytes, each < VAE_PRED_CODES). */
static climz_status read_codes(cz_rd *rz, size_t nlat, uint8_t *codes, const char *what) {
    uint64_t nc;
    CZ_FORWARD(cz_rd_varint(rz, &nc));
    CZ_RETURN_IF(nc != nlat, CLIMZ_ERR_CORRUPT, "latent stream has %llu %s prediction codes for %zu channels",
                 (unsigned long long)nc, what, nlat);
    CZ_FORWARD(cz_rd_bytes(rz, codes, nlat));
    for (size_t c = 0; c < nlat; c++)
        CZ_RETURN_IF(codes[c] >= VAE_PRED_CODES, CLIMZ_ERR_CORRUPT, "latent channel %zu: %s prediction code %u", c,
                     what, codes[c]);
    return CLIMZ_OK;
}

/* Reads a group's spatial context codes (varint count, the k triple in 2 bytes, cfg.latent
 * weight nibbles); the decoder refuses codes out of range. */
static climz_status read_spatial(cz_rd *rz, size_t nlat, vf_group *g) {
    uint64_t nc;
    uint8_t kb[2];
    CZ_FORWARD(cz_rd_varint(rz, &nc));
    CZ_RETURN_IF(nc != nlat, CLIMZ_ERR_CORRUPT, "latent stream has %llu spatial context codes for %zu channels",
                 (unsigned long long)nc, nlat);
    CZ_FORWARD(cz_rd_bytes(rz, kb, 2));
    CZ_RETURN_IF(kb[1] > VAE_SPATIAL_KMAX, CLIMZ_ERR_CORRUPT, "latent stream: spatial context scale code %u", kb[1]);
    g->sp.k[0] = kb[0] & 15u, g->sp.k[1] = kb[0] >> 4, g->sp.k[2] = kb[1];
    for (size_t c = 0; c < nlat; c += 2) {
        uint8_t b;
        CZ_FORWARD(cz_rd_u8(rz, &b));
        g->sp.w[c] = b & 15u;
        if (c + 1 < nlat) g->sp.w[c + 1] = b >> 4;
        CZ_RETURN_IF(g->sp.w[c] > VAE_SPATIAL_WMAX || (c + 1 < nlat ? g->sp.w[c + 1] > VAE_SPATIAL_WMAX : b >> 4),
                     CLIMZ_ERR_CORRUPT, "latent stream: spatial context weight codes %u, %u", b & 15u, b >> 4);
    }
    return CLIMZ_OK;
}

/* Parses the latent chunk p[0..n) of the group of gn steps from file step t into its items
 * (gn * nsamples) and g: codes, modes, CRC and the decoders of its streams (which point into
 * the chunk), with the items linked along the group's prediction chains. */
static climz_status parse_group(const vf_model *v, const vf_layout *L, size_t t, size_t gn, const uint8_t *p,
                                size_t n, vf_item *items, vf_group *g) {
    const vae_config *cfg = &v->m.cfg;
    size_t const ns = L->nsamples;
    cz_rd rz = cz_rd_make(p, n);
    uint8_t head[2];
    uint64_t steps, nsam, C, len[2];
    CZ_FORWARD(cz_rd_bytes(&rz, head, 2));
    CZ_RETURN_IF(head[0] > VF_VERSION, CLIMZ_ERR_VERSION, "latent stream version %u is newer than this decoder's (%u)",
                 head[0], VF_VERSION);
    CZ_RETURN_IF(head[0] < VF_VERSION_MIN, CLIMZ_ERR_VERSION,
                 "latent stream version %u (one chunk per time step, an older climz) is no longer read; this decoder "
                 "reads versions %u to %u", head[0], VF_VERSION_MIN, VF_VERSION);
    unsigned const allowed = VF_FLAG_STATS | VF_FLAG_CODES | VF_FLAG_NOZ | VF_FLAG_LEVEL_CODES | VF_FLAG_LEVEL_NOZ |
                             (head[0] >= VF_VERSION ? VF_FLAG_SPATIAL : 0); /* spatial: since 6 */
    CZ_RETURN_IF(!!(head[1] & VF_FLAG_STATS) != !!cfg->field_norm || (head[1] & ~allowed), CLIMZ_ERR_CORRUPT,
                 "latent stream header is malformed");
    g->time.has_codes = !!(head[1] & VF_FLAG_CODES);
    g->time.noz = !!(head[1] & VF_FLAG_NOZ);
    g->level.has_codes = !!(head[1] & VF_FLAG_LEVEL_CODES);
    g->level.noz = !!(head[1] & VF_FLAG_LEVEL_NOZ);
    g->spatial = !!(head[1] & VF_FLAG_SPATIAL);
    CZ_RETURN_IF(g->time.has_codes != (gn > 1) || (g->time.noz && !g->time.has_codes), CLIMZ_ERR_CORRUPT,
                 "latent stream flags (%u) disagree with the group's %zu step(s)", head[1], gn);
    CZ_RETURN_IF((g->level.has_codes && L->nplanes < 2) || (g->level.noz && !g->level.has_codes), CLIMZ_ERR_CORRUPT,
                 "latent stream flags (%u): level prediction where a step has no levels to predict", head[1]);
    CZ_FORWARD(cz_rd_varint(&rz, &steps));
    CZ_FORWARD(cz_rd_varint(&rz, &nsam));
    CZ_FORWARD(cz_rd_varint(&rz, &C));
    CZ_RETURN_IF(steps != gn || nsam != ns || C != L->C, CLIMZ_ERR_CORRUPT,
                 "latent stream has %llu step(s) of %llu samples of %llu channels, the header says %zu of %zu of %zu",
                 (unsigned long long)steps, (unsigned long long)nsam, (unsigned long long)C, gn, ns, L->C);
    if (g->time.has_codes) CZ_FORWARD(read_codes(&rz, cfg->latent, g->time.codes, "time"));
    if (g->level.has_codes) CZ_FORWARD(read_codes(&rz, cfg->latent, g->level.codes, "level"));
    if (g->spatial) CZ_FORWARD(read_spatial(&rz, cfg->latent, g));
    for (size_t k = 0; k < gn * ns; k++) {
        vf_item *it = &items[k];
        CZ_FORWARD(item_init(it, L, t + k / ns, k % ns));
        it->grp = g;
        uint8_t kind;
        CZ_FORWARD(cz_rd_u8(&rz, &kind));
        it->delta = !!(kind & VF_KIND_DELTA);
        it->interp = kind == VF_KIND_INTERP;
        CZ_RETURN_IF((kind & ~(1u | VF_KIND_DELTA | VF_KIND_INTERP)) || (it->delta && (k < ns || !cfg->field_norm)) ||
                         ((kind & VF_KIND_INTERP) && (!it->interp || k < ns || k >= (gn - 1) * ns)),
                     CLIMZ_ERR_CORRUPT, "step %zu, sample %zu has kind %u", t + k / ns, k % ns, kind);
        if (it->interp) continue;
        const vf_item *before = row_before(items, k, ns); /* the step before that stores statistics */
        it->kind = kind & 1u;
        for (size_t c = 0; c < L->C; c++) {
            if (cfg->field_norm && it->delta) {
                uint16_t dm, ds;
                CZ_FORWARD(cz_rd_u16(&rz, &dm));
                CZ_FORWARD(cz_rd_u16(&rz, &ds));
                it->mean[c] = stat_after(before->mean[c], dm);
                it->sd[c] = stat_after(before->sd[c], ds);
            } else if (cfg->field_norm) {
                CZ_FORWARD(cz_rd_f32(&rz, &it->mean[c]));
                CZ_FORWARD(cz_rd_f32(&rz, &it->sd[c]));
            }
            if (cfg->field_norm)
                CZ_RETURN_IF(!isfinite(it->mean[c]) || !isfinite(it->sd[c]), CLIMZ_ERR_CORRUPT,
                             "step %zu, sample %zu: normalisation is not finite", t + k / ns, k % ns);
            else {
                it->mean[c] = v->m.norm_mean[c];
                it->sd[c] = v->m.norm_std[c];
            }
        }
        if (it->kind) CZ_FORWARD(vae_job_create(&it->job, &v->c, it->h, it->w));
        if (it->kind && g->spatial) CZ_FORWARD(vae_job_set_spatial(it->job, &g->sp));
    }
    CZ_RETURN_IF(!link_interp(items, gn, ns), CLIMZ_ERR_CORRUPT,
                 "latent stream interpolates a sample between steps that coded none");
    if (g->level.has_codes) link_chain(items, 0, L->nplanes, L->tiles, &g->level);
    if (gn > 1) link_chain(items, 0, gn, ns, &g->time);
    g->nz = g->ny = 0;
    for (size_t k = 0; k < gn * ns; k++) {
        g->ny += items[k].kind;
        g->nz += items[k].kind && !items[k].noz;
    }
    if (g->nz) CZ_FORWARD(cz_rd_u32(&rz, &g->crc));
    const uint8_t *sp[2];
    for (int k = 0; k < 2; k++) {
        CZ_FORWARD(cz_rd_varint(&rz, &len[k]));
        CZ_RETURN_IF(len[k] > cz_rd_left(&rz), CLIMZ_ERR_TRUNCATED, "%s stream cut", k ? "y" : "z");
        CZ_FORWARD(cz_rd_skip(&rz, (size_t)len[k], &sp[k]));
    }
    CZ_RETURN_IF(cz_rd_left(&rz), CLIMZ_ERR_CORRUPT, "latent stream has trailing bytes");
    CZ_RETURN_IF((!g->nz && len[0]) || (!g->ny && len[1]), CLIMZ_ERR_CORRUPT, "latent stream has a stream for no sample");
    for (int k = 0; k < 2; k++) {
        climz_status const st = (k ? g->ny : g->nz) ? ent_dec_begin(k ? &g->yd : &g->zd, sp[k], (size_t)len[k]) : 0;
        if (st) return cz_error_prefix(st, "%s stream", k ? "y" : "z");
    }
    return CLIMZ_OK;
}

/* The neural reconstruction of file steps [s0, s0 + n) into rec (n planes), in batches of
 * whole groups of G steps (nt_file steps in all): the groups that hold the range are
 * entropy-decoded whole, the synthesis runs for the steps of the range only. */
static climz_status decode_steps(const clz_reader *r, uint32_t var, const vf_model *v, const vf_layout *L,
                                 size_t nz, size_t G, size_t nt_file, size_t s0, size_t n, int det, float *rec) {
    size_t const plane = nz * L->ny * L->nx, ns = L->nsamples, g0 = s0 - s0 % G, end = s0 + n;
    size_t const gend = (end + G - 1) / G * G < nt_file ? (end + G - 1) / G * G : nt_file;
    size_t nb = batch_of_groups(L, nz, G);
    nb = nb < gend - g0 ? nb : gend - g0;
    vf_item *items = NULL;
    vf_group *groups = NULL;
    climz_status st = batch_alloc(L, nb, G, v->m.cfg.latent, 0, 0, &items, &groups, NULL);
    int const par = st ? 0 : small_samples(v, L, nb * ns);
    for (size_t t0 = g0; t0 < gend && !st; t0 += nb) { /* t0: a multiple of G */
        size_t const bt = gend - t0 < nb ? gend - t0 : nb;
        for (size_t b0 = 0; b0 < bt && !st; b0 += G) {
            size_t const gn = bt - b0 < G ? bt - b0 : G;
            const uint8_t *p;
            size_t pn;
            st = clz_reader_get(r, var, (uint32_t)(t0 + b0), CLZ_STREAM_LATENT, &p, &pn);
            if (!st) st = parse_group(v, L, t0 + b0, gn, p, pn, items + b0 * ns, &groups[b0 / G]);
            if (st) cz_error_prefix(st, "time steps %zu to %zu", t0 + b0, t0 + b0 + gn - 1);
        }
        for (size_t k = 0; k < bt * ns; k++) items[k].synth = t0 + k / ns >= s0 && t0 + k / ns < end;
        for (size_t k = 0; k < bt * ns && !st; k++) /* an interpolated sample needs its neighbours' */
            if (items[k].synth && items[k].interp) items[k].ia->synth = items[k].ib->synth = 1;
        if (!st) st = run_stage(items, bt * ns, ST_READ_Z, par);
        if (!st) st = run_stage(items, bt * ns, ST_HYPER, par);
        for (size_t b0 = 0; b0 < bt && !st; b0 += G) {
            size_t const gn = bt - b0 < G ? bt - b0 : G;
            uint32_t const crc = group_crc(items + b0 * ns, gn * ns), want = groups[b0 / G].crc;
            if (crc != want)
                st = cz_error(CLIMZ_ERR_DETERMINISM,
                              "time steps %zu to %zu: the scale-index maps derived here (CRC-32C %08x) differ from the "
                              "encoder's (%08x): the hyper-decoder did not reproduce the encoder's entropy model "
                              "(damaged z stream, or a model/build that is not bit-reproducible)",
                              t0 + b0, t0 + b0 + gn - 1, (unsigned)crc, (unsigned)want);
        }
        if (!st) st = run_y(items, bt, L, groups, G, 0, par);
        for (size_t b0 = 0; b0 < bt && !st; b0 += G) {
            const vf_group *g = &groups[b0 / G];
            for (int k = 0; k < 2 && !st; k++) /* every symbol read: the states are back, no byte is left */
                if ((st = (k ? g->ny : g->nz) ? ent_dec_end(k ? &g->yd : &g->zd) : CLIMZ_OK))
                    cz_error_prefix(st, "time steps from %zu: %s stream", t0 + b0, k ? "y" : "z");
        }
        if (!st) st = run_synthesis(items, bt, ns, G, det, par);
        for (size_t k = 0; k < bt * ns && !st; k++)
            if (t0 + k / ns >= s0 && t0 + k / ns < end) item_scatter(L, &items[k], rec + (t0 + k / ns - s0) * plane);
        for (size_t k = 0; k < nb * ns; k++) item_release(&items[k]);
    }
    free(items);
    free(groups);
    return st;
}

static climz_status vaeformer_decode(const clz_reader *r, uint32_t var, json_t *entry,
                                     const climz_decompress_opts *opts, cz_field *f, size_t t_first) {
    json_t *j = json_object_get(entry, "vaeformer");
    CZ_RETURN_IF(!json_is_object(j), CLIMZ_ERR_CORRUPT, "header entry has no vaeformer settings");
    json_int_t const tile = json_integer_value(json_object_get(j, "tile"));
    json_int_t const group = json_integer_value(json_object_get(j, "group"));
    CZ_RETURN_IF(group < 1 || group > 4096, CLIMZ_ERR_CORRUPT, "header entry has prediction group %lld",
                 (long long)group);
    int const det = json_is_true(json_object_get(j, "deterministic_synthesis"));
    int const residual = json_is_true(json_object_get(j, "residual"));
    CZ_RETURN_IF(tile < 0 || (tile > 0 && tile < 8) || tile > (json_int_t)1 << 30, CLIMZ_ERR_CORRUPT,
                 "header entry has tile size %lld", (long long)tile);
    CZ_RETURN_IF(residual && !json_object_get(entry, "time_block"), CLIMZ_ERR_VERSION,
                 "the residual stage of this file codes single steps (an older climz): not supported");
    json_int_t const nt_file = json_integer_value(json_array_get(json_object_get(entry, "shape"), 0));
    CZ_RETURN_IF(nt_file < 1 || (json_int_t)(t_first + f->nt) > nt_file, CLIMZ_ERR_CORRUPT,
                 "header entry has %lld time steps, %zu to %zu asked for", (long long)nt_file, t_first,
                 t_first + f->nt - 1);
    vf_opts o;
    CZ_FORWARD(parse_options(opts ? opts->options : NULL, &o)); /* validated, not used: the file decides */
    /* the steps to reconstruct: those asked for, or the residual blocks that cover them */
    size_t s0 = t_first, s1 = t_first + f->nt;
    if (residual) CZ_FORWARD(api_residual_blocks(entry, t_first, f->nt, &s0, &s1));
    vf_model vm, *const v = &vm; /* ~12 KB: on the stack, closed at the end */
    climz_status st = open_for_decode(v, entry, opts, det);
    if (st) return st;
    size_t const plane = f->nz * f->ny * f->nx;
    vf_layout L;
    float *rec = NULL;
    CZ_CHECK_GOTO(st, make_layout(&v->m.cfg, f->nz, f->ny, f->nx, (size_t)tile, &L), done);
    rec = malloc((s1 - s0) * plane * sizeof *rec);
    CZ_CHECK_GOTO(st, rec ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory"), done);
    CZ_CHECK_GOTO(st, decode_steps(r, var, v, &L, f->nz, (size_t)group, nt_file, s0, s1 - s0, det, rec), done);
    if (residual) st = api_residual_decode(r, var, entry, f, t_first, rec, s0);
    else copy_unmasked(f->values, rec, f->miss, f->nt * plane);
done:
    free(rec);
    vf_close(v);
    return st;
}

const api_codec api_codec_vaeformer = {"vaeformer", vaeformer_encode, vaeformer_decode};
