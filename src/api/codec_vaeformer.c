/* codec_vaeformer.c — the VAEformer (src/vae/vae_group.h) as a driver codec: the adapter
 * between the file-level driver and the group engine, with the optional error-bounded
 * residual stage (SPEC section 5) on top of its reconstruction.
 *
 * READ ME FIRST
 *  - What the engine does (samples, tiles, prediction groups, interpolation, level
 *    prediction, spatial context, threads) is in src/vae/vae_group.h; the latent chunk's
 *    layout in doc/format.md, section 9. This file translates the codec options, finds the
 *    model, writes and reads the header entry and runs the residual stage.
 *  - Residual stage. When an error bound E > 0 is asked for, api_residual_encode (blocks of
 *    res_time_block() steps) codes the field against the neural reconstruction as
 *    prediction: every valid point within E. Decoding a time range then reconstructs the
 *    steps of the blocks it touches.
 *  - Model identity. The header entry records the model path, its file name and its SHA-256;
 *    a decoder given (or finding) another file refuses it with CLIMZ_ERR_MODEL_MISMATCH.
 *  - Default model (no opts->model): models/climz-default.safetensors, looked up in order
 *    in $CLIMZ_MODEL_DIR, then beside the executable (<exe dir>/models,
 *    <exe dir>/../models, <exe dir>/../share/climz/models), then in the source tree this
 *    file was compiled from (<repo>/models, derived from __FILE__). A file of a bundled
 *    model since replaced decodes with the old file kept beside the new default as
 *    climz-default-<first 8 hex digits of its SHA-256>.safetensors.
 *  - Determinism of the reconstruction. With a residual stage the synthesis g_s runs in
 *    deterministic mode (vae_codec.h), so the prediction, and with it the bound, is the
 *    same on every machine; the pure neural mode uses the fast kernels. Option
 *    deterministic=0|1 overrides; the choice is recorded in the header entry and the
 *    decoder follows it.
 *  - Header entry keys: model, model_name, model_sha256, model_default, and "vaeformer":
 *    {channels, samples_per_step, tile, group, field_norm, deterministic_synthesis, residual,
 *    y_bytes, z_bytes, residual_bytes, empty_samples, interpolated_samples, coded_samples,
 *    z_samples (those with a z of their own), y_escapes[, seconds_*]}.
 *  - Options (key=value): tile=N (0 or >= 8), group=N (1 = no prediction .. 4096),
 *    levels=0|1 (level prediction), interp=0|1 (interpolated samples; 1 needs the model's
 *    phase-2 lambda), deterministic=0|1, refine=N (0 .. 1000 Adam steps of encoder-side
 *    refinement of every latent before it is quantised, vae_job_refine: the decoder is
 *    unchanged; needs the model's phase-2 lambda), spatial=0|1 (the spatial context may be
 *    used), timings=0|1 (stage seconds in the header entry, for benchmarks; off by default
 *    so that the same input gives the same file), fallback=0|1 (1, the default: under a
 *    bound the driver codes the variable with the residual codec alone when that makes it
 *    smaller, src/api/compress.c; the same under an RMSE target, against the residual codec
 *    at its own searched bound for that target; 0 keeps the VAEformer and its residual stage),
 *    floor=0|1 (below).
 *  - Rate (one model, many operating points; vae_codec.h "rate levels", vaeformer_rate.h):
 *    step=K codes every group at level K (D = 2^(K/8), -16 .. 40; 0, the default, is the
 *    model's own point and the stream of before); rmse=X, rel-rmse=r (X = r * the variable's
 *    range) or ratio=R search the level per variable on trial encodings (the neural
 *    reconstruction's RMSE; the latent bytes against float32). At most one of the four; ratio
 *    not with a bound (the residual stage then sets the size); refine only at level 0. The
 *    level is stored in each latent chunk; the header entry records "step_level" when not 0.
 *  - Below the floor (an RMSE target that no level reaches: the finest level's reconstruction
 *    is ~0.5 % of the range off): the latent at level FLOOR_LEVEL (24) and the residual stage at
 *    the largest bound whose RMSE meets the target (within the asked bound, if any), searched
 *    on the stage's trial encodings with the latent coded once (residual_target.h), on the
 *    deterministic synthesis; the bound goes to the driver (api_encode_args.bound_used), the
 *    search's keys into the entry. floor=0, or deterministic=0, keeps the search's error.
 */
#include "codec.h"
#include "codec_options.h"
#include "residual/residual.h"
#include "vae/vae_group.h"
#include "vaeformer_rate.h"
#include "residual_target.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VF_DEFAULT_MODEL "climz-default.safetensors"
#define VF_MAX_PATH VAE_MAX_PATH

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
climz_status api_vaeformer_default_model(char *out, size_t cap) {
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

/* ---- options ----------------------------------------------------------------------------------- */

typedef struct vf_opts {
    long tile;    /* 0 = whole planes; VAE_GROUP_TILE_AUTO: tiles for large planes */
    long group;   /* steps per prediction group (1 = none); VAE_GROUP_AUTO: the engine's default */
    long levels;  /* 1: predict the planes of a group's first step from the plane below */
    long det;     /* -1 = default (on with a residual stage) */
    long timings; /* 1: record the stages' seconds in the header entry (benchmarks; the file
                     is then not the same from run to run) */
    long refine;  /* encoder-side refinement of each latent: Adam steps (vae_job_refine; 0 = off) */
    long interp;  /* 1: samples may be interpolated in time ; -1 = default (on when
                     the model records its lambda) */
    long spatial; /* 1: the encoder may code a group's y with the checkerboard context */
    long fallback; /* 1: under a bound, the residual codec alone where it is smaller (the driver) */
    long step;     /* the rate level (VAE_STEP_MIN .. VAE_STEP_MAX; 0: the model's own point) */
    long floor;    /* 1: an RMSE target below the finest level's is met by the residual stage */
    double rmse, rel_rmse, ratio; /* targets the encoder searches the level for (0: none) */
} vf_opts;

/* The codec options (--opt key=value): the field each sets and the values it takes. */
static const api_opt_spec vf_opt_specs[] = {
    {"tile", API_OPT_LONG, offsetof(vf_opts, tile), 0, (double)LONG_MAX, 8, "0 (no tiling) or >= 8"},
    {"group", API_OPT_LONG, offsetof(vf_opts, group), 1, 4096, 0, "1 (no prediction) .. 4096"},
    {"levels", API_OPT_LONG, offsetof(vf_opts, levels), 0, 1, 0, "0 or 1"},
    {"deterministic", API_OPT_LONG, offsetof(vf_opts, det), 0, 1, 0, "0 or 1"},
    {"refine", API_OPT_LONG, offsetof(vf_opts, refine), 0, 1000, 0, "0 (off) .. 1000 steps"},
    {"interp", API_OPT_LONG, offsetof(vf_opts, interp), 0, 1, 0, "0 or 1"},
    {"spatial", API_OPT_LONG, offsetof(vf_opts, spatial), 0, 1, 0, "0 or 1"},
    {"timings", API_OPT_LONG, offsetof(vf_opts, timings), 0, 1, 0, "0 or 1"},
    {"fallback", API_OPT_LONG, offsetof(vf_opts, fallback), 0, 1, 0, "0 or 1"},
    {"step", API_OPT_LONG, offsetof(vf_opts, step), VAE_STEP_MIN, VAE_STEP_MAX, 0,
     "a rate level from -16 (quantisation step 0.25) to 40 (step 32)"},
    {"rmse", API_OPT_DOUBLE, offsetof(vf_opts, rmse), 1e-300, 1e300, 0, "an RMSE > 0, in the variable's units"},
    {"rel-rmse", API_OPT_DOUBLE, offsetof(vf_opts, rel_rmse), 1e-9, 1, 0, "an RMSE relative to the range, in (0, 1]"},
    {"ratio", API_OPT_DOUBLE, offsetof(vf_opts, ratio), 1, 1e9, 0, "a compression ratio >= 1"},
    {"floor", API_OPT_LONG, offsetof(vf_opts, floor), 0, 1, 0, "0 or 1"},
};

static climz_status parse_options(const char *const *kv, vf_opts *o) {
    *o = (vf_opts){.tile = VAE_GROUP_TILE_AUTO, .group = VAE_GROUP_AUTO, .levels = 1, .det = -1, .interp = -1,
                   .spatial = 1, .fallback = 1, .floor = 1};
    CZ_FORWARD(api_parse_options("vaeformer", vf_opt_specs, sizeof vf_opt_specs / sizeof *vf_opt_specs, kv, o));
    int const rates = !!api_option_value(kv, "step", 0) + (o->rmse > 0) + (o->rel_rmse > 0) + (o->ratio > 0);
    CZ_RETURN_IF(rates > 1, CLIMZ_ERR_INVALID_ARG,
                 "vaeformer: give one of step, rmse (--rmse), rel-rmse (--rel-rmse) and ratio (--ratio), not %d",
                 rates);
    CZ_RETURN_IF(o->refine && (rates || o->step), CLIMZ_ERR_INVALID_ARG,
                 "vaeformer: refine works at the model's own rate only (step=0, no rmse / rel-rmse / ratio target)");
    return CLIMZ_OK;
}

/* ---- rate control ------------------------------------------------------------------------------ */

/* What a trial encoding needs: the field, the options, a reconstruction buffer. */
typedef struct vf_trial {
    const vae_loaded *v;
    const cz_field *f;
    const vae_group_opts *go;
    float *rec;
} vf_trial;

static climz_status count_latent(void *user, size_t t0, const uint8_t *p, size_t n) {
    (void)t0, (void)p;
    *(size_t *)user += n;
    return CLIMZ_OK;
}

/* o's RMSE target in data units (rel-rmse: of the field's valid range; 0: none) */
static double rmse_target(const vf_opts *o, const cz_field *f) {
    return o->rmse > 0 ? o->rmse : o->rel_rmse > 0 ? o->rel_rmse * api_field_spread(f) : 0;
}

static climz_status run_trial(void *user, int level, size_t *bytes, double *rmse) {
    const vf_trial *t = user;
    vae_group_opts go = *t->go;
    vae_group_totals tot;
    go.step = level;
    *bytes = 0;
    CZ_FORWARD(vae_group_encode(t->v, t->f, &go, count_latent, bytes, t->rec, &tot));
    *rmse = api_field_rmse(t->f, t->rec);
    return CLIMZ_OK;
}

/* The rate level of the variable: o->step, or the one the search finds for o's target. */
static climz_status choose_level(const api_encode_args *a, const vae_loaded *v, const vf_opts *o,
                                 const vae_group_opts *go, float *rec, int *level) {
    const cz_field *f = a->f;
    *level = (int)o->step;
    double target = rmse_target(o, f);
    vf_rate_kind const kind = o->ratio > 0 ? VF_RATE_RATIO : VF_RATE_RMSE;
    if (kind == VF_RATE_RATIO) target = o->ratio;
    if (!(target > 0)) return CLIMZ_OK; /* no target; or a constant field: its own point */
    CZ_RETURN_IF(kind == VF_RATE_RATIO && a->max_abs_error > 0, CLIMZ_ERR_INVALID_ARG,
                 "vaeformer: a ratio target and an error bound together: the bound's residual stage sets the size "
                 "(give --rmse / --rel-rmse with the bound, or the ratio alone)");
    vf_trial t = {v, f, go, rec};
    double const raw = 4.0 * (double)(f->nt * f->nz * f->ny * f->nx);
    /* a multi-rate model's trained levels first (vae_train.c), the codec's whole range beyond */
    int lo = VAE_STEP_MIN, hi = VAE_STEP_MAX, a0, a1;
    const char *trained = vae_model_meta(&v->m, VAE_META_RATE_LEVELS);
    if (trained && sscanf(trained, "%d:%d", &a0, &a1) == 2 && a0 <= a1) lo = a0, hi = a1;
    return vf_rate_search(kind, target, raw, lo, hi, run_trial, &t, "vaeformer", level); /* the driver names the variable */
}

/* The latent's level below its floor. Measured (bench/RESULTS.md, "Below the latent's floor",
 * 0.3 % R on the held-out sets): the coarser the latent under the residual stage, the smaller
 * the file; level 24 against level 0 +8 % (VWND) to +51 % (HGT) on all five, level -16 below
 * level 0 on UWND, HGT and tas, levels 8, 12, 16 in between. A finer latent's bytes cost more
 * than its closer prediction saves the stage. 24 (step 8): the coarsest measured; the residual
 * codec alone is smaller still, which the driver's never-worse choice (fallback=1) writes. */
#define FLOOR_LEVEL 24

/* Below the floor: the residual stage on top of rec at the largest bound (within the asked
 * one, if any) whose RMSE meets o's target (residual_target.h), into w, decoded and entry
 * (with the search's keys); *res_bytes its chunks' bytes; the bound to the driver. */
static climz_status floor_residual(const api_encode_args *a, const vf_opts *o, const float *rec, clz_writer *w,
                                   float *decoded, json_t *entry, size_t *res_bytes) {
    const cz_field *f = a->f;
    api_bound_report rep = {.target = rmse_target(o, f), .rel_target = o->rel_rmse};
    api_residual_trial t;
    climz_status st = api_residual_search(a, rec, a->max_abs_error > 0 ? a->max_abs_error : INFINITY, &t, &rep);
    if (!st) st = api_residual_trial_place(&t, w, decoded, f->nt * f->nz * f->ny * f->nx, entry);
    if (!st) {
        *res_bytes = clz_writer_payload_bytes(t.w);
        api_bound_report_json(&rep, entry);
        if (a->bound_used) *a->bound_used = t.E;
    }
    api_residual_trial_free(&t);
    return st;
}

/* ---- loaded models -------------------------------------------------------------------------- */

/* Opens path (a heap model for the context's cache); *v NULL on failure. */
static climz_status model_open(const char *path, int det, vae_loaded **v) {
    *v = malloc(sizeof **v);
    CZ_RETURN_IF(!*v, CLIMZ_ERR_ALLOC, "out of memory");
    climz_status const st = vae_loaded_open(*v, path, det);
    if (st) {
        free(*v);
        *v = NULL;
    }
    return st;
}

/* A model this call opened and the context did not take (*owned), or NULL. */
static void model_release(vae_loaded *v, int owned) {
    if (v && owned) {
        vae_loaded_close(v);
        free(v);
    }
}

/* The model at path for the encoder: the context's when it keeps one from the same path and
 * det whose file has not changed since, or one of the same SHA-256, path and det; else opened
 * and handed to the context. */
static climz_status model_for_encode(const climz_ctx *ctx, const char *path, int det, vae_loaded **v, int *owned) {
    *owned = 0;
    if ((*v = api_model_find_unchanged(ctx, path, det))) return CLIMZ_OK; /* no hashing of a file loaded before */
    uint8_t d[32];
    char sha[65] = "";
    if (cz_sha256_file(path, d) == CLIMZ_OK) cz_sha256_hex(d, sha);
    else cz_error_clear(); /* the loader reports what is wrong with the file */
    *owned = 0;
    if (*sha && (*v = api_model_find(ctx, sha, path, det))) return CLIMZ_OK;
    CZ_FORWARD(model_open(path, det, v));
    *owned = !api_model_keep(ctx, *v, path);
    return CLIMZ_OK;
}

/* decoded (or f->values) = the reconstruction, 0 at missing points (nt planes) */
static void copy_unmasked(float *out, const float *rec, const uint8_t *miss, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = miss[i] ? 0.0f : rec[i];
}

/* ---- encoding ------------------------------------------------------------------------------- */

/* The engine's sink: the container's chunks of one variable. */
typedef struct vf_sink {
    clz_writer *w;
    uint32_t var;
} vf_sink;

static climz_status put_latent(void *user, size_t t0, const uint8_t *p, size_t n) {
    const vf_sink *s = user;
    return clz_writer_add(s->w, s->var, (uint32_t)t0, CLZ_STREAM_LATENT, p, n);
}

static climz_status vaeformer_encode(const api_encode_args *a, clz_writer *w, float *decoded, json_t *entry) {
    const cz_field *f = a->f;
    vf_opts o;
    CZ_FORWARD(parse_options(a->opts ? a->opts->options : NULL, &o));
    int det = o.det >= 0 ? (int)o.det : a->max_abs_error > 0;
    char path[VF_MAX_PATH];
    int const is_default = !(a->opts && a->opts->model);
    if (is_default) CZ_FORWARD(api_vaeformer_default_model(path, sizeof path));
    else snprintf(path, sizeof path, "%s", a->opts->model);
    char *abs = realpath(path, NULL); /* recorded absolute, so decoding works from anywhere */
    if (abs && strlen(abs) < sizeof path) memcpy(path, abs, strlen(abs) + 1);
    free(abs);
    vae_loaded *v;
    int owned;
    climz_status st = model_for_encode(a->ctx, path, det, &v, &owned);
    if (st) return st;
    size_t const plane = f->nz * f->ny * f->nx;
    size_t res_bytes = 0;
    vae_group_totals tot;
    vae_group_opts go = {o.tile, o.group, o.levels, o.refine, o.interp, o.spatial, 0, NULL};
    vae_group_memo memo = {0}; /* a rate search: the analysis of the first trial serves the others */
    if (o.rmse > 0 || o.rel_rmse > 0 || o.ratio > 0) go.memo = &memo;
    vf_sink sink = {w, (uint32_t)a->var};
    float *rec = malloc(f->nt * plane * sizeof *rec);
    int level = 0;
    CZ_CHECK_GOTO(st, rec ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory"), done);
    st = choose_level(a, v, &o, &go, rec, &level);
    /* below the latent's floor (no level reaches the RMSE target): the latent at FLOOR_LEVEL and
     * the residual stage at the largest bound that meets the target, on the deterministic
     * synthesis */
    int const floor_stage = st == CLIMZ_ERR_INVALID_ARG && (o.rmse > 0 || o.rel_rmse > 0) && o.floor;
    if (floor_stage && o.det == 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cz_error_message());
        st = cz_error(st, "%s; below that floor the residual stage meets the target on the deterministic synthesis, "
                      "which deterministic=0 turns off", msg);
    } else if (floor_stage) {
        cz_error_clear();
        st = CLIMZ_OK;
        level = FLOOR_LEVEL;
        vae_group_memo_free(&memo); /* analysed by the model of the search, which may be the fast one */
        go.memo = NULL;
        if (!det) {
            model_release(v, owned);
            v = NULL;
            det = 1;
            st = model_for_encode(a->ctx, path, det, &v, &owned);
        }
    }
    if (st) goto done;
    go.step = level;
    CZ_CHECK_GOTO(st, vae_group_encode(v, f, &go, put_latent, &sink, rec, &tot), done);
    vae_group_memo_free(&memo);
    if (floor_stage) {
        CZ_CHECK_GOTO(st, floor_residual(a, &o, rec, w, decoded, entry, &res_bytes), done);
    } else if (a->max_abs_error > 0) {
        size_t const before = clz_writer_payload_bytes(w);
        CZ_CHECK_GOTO(st, api_residual_encode(a, rec, w, decoded, entry), done);
        res_bytes = clz_writer_payload_bytes(w) - before;
    } else {
        copy_unmasked(decoded, rec, f->miss, f->nt * plane);
    }
    json_object_set_new(entry, "model", json_string(v->path));
    const char *base = strrchr(v->path, '/');
    json_object_set_new(entry, "model_name", json_string(base ? base + 1 : v->path));
    json_object_set_new(entry, "model_sha256", json_string(v->m.sha256));
    json_object_set_new(entry, "model_default", json_boolean(is_default));
    json_t *j = json_object();
    json_object_set_new(j, "channels", json_integer((json_int_t)tot.channels));
    json_object_set_new(j, "samples_per_step", json_integer((json_int_t)tot.samples_per_step));
    json_object_set_new(j, "tile", json_integer((json_int_t)go.tile));
    json_object_set_new(j, "group", json_integer((json_int_t)go.group));
    json_object_set_new(j, "field_norm", json_boolean(v->m.cfg.field_norm));
    json_object_set_new(j, "deterministic_synthesis", json_boolean(det));
    json_object_set_new(j, "residual", json_boolean(a->max_abs_error > 0 || floor_stage));
    json_object_set_new(j, "y_bytes", json_integer((json_int_t)tot.y_bytes));
    json_object_set_new(j, "z_bytes", json_integer((json_int_t)tot.z_bytes));
    json_object_set_new(j, "residual_bytes", json_integer((json_int_t)res_bytes));
    json_object_set_new(j, "empty_samples", json_integer((json_int_t)tot.empty));
    json_object_set_new(j, "interpolated_samples", json_integer((json_int_t)tot.interp));
    json_object_set_new(j, "coded_samples", json_integer((json_int_t)tot.samples));
    json_object_set_new(j, "z_samples", json_integer((json_int_t)tot.z_samples));
    json_object_set_new(j, "y_escapes", json_integer((json_int_t)tot.y_escapes));
    if (level) { /* only then: a file at the model's own point is the same as before */
        json_object_set_new(j, "step_level", json_integer(level));
        json_object_set_new(j, "step", json_real(vae_step_of_level(level)));
    }
    if (o.timings) {
        json_object_set_new(j, "seconds_analysis", json_real(tot.t_analysis));
        json_object_set_new(j, "seconds_hyper", json_real(tot.t_hyper));
        json_object_set_new(j, "seconds_entropy", json_real(tot.t_entropy));
        json_object_set_new(j, "seconds_synthesis", json_real(tot.t_synthesis));
    }
    json_object_set_new(entry, "vaeformer", j);
done:
    vae_group_memo_free(&memo);
    free(rec);
    model_release(v, owned);
    return st;
}

/* ---- decoding ------------------------------------------------------------------------------- */

/* A bundled model since replaced stays decodable: its file is kept beside the default one as
 * climz-default-<first 8 hex digits of its SHA-256>.safetensors (models/README.md). */
#define VF_RETIRED_FORMAT "climz-default-%.8s.safetensors"

/* The model a file was compressed with: opts->model if given; else the recorded (absolute)
 * path, then, when the recorded file name is the default model's, the default lookup and the
 * retired bundled model of the recorded hash beside it; the first candidate whose SHA-256 is
 * the recorded one is used, the context's when it keeps it. */
static climz_status open_for_decode(const climz_ctx *ctx, json_t *entry, const climz_decompress_opts *opts, int det,
                                    vae_loaded **v, int *owned) {
    const char *sha = json_string_value(json_object_get(entry, "model_sha256"));
    const char *rec_path = json_string_value(json_object_get(entry, "model"));
    const char *rec_name = json_string_value(json_object_get(entry, "model_name"));
    CZ_RETURN_IF(!sha || strlen(sha) != 64, CLIMZ_ERR_CORRUPT, "the header records no model SHA-256");
    char cand[3][VAE_MAX_PATH], def[VAE_MAX_PATH];
    int n = 0, is_default = rec_name && !strcmp(rec_name, VF_DEFAULT_MODEL);
    if (opts && opts->model) snprintf(cand[n++], VAE_MAX_PATH, "%s", opts->model);
    else {
        if (rec_path && file_exists(rec_path)) snprintf(cand[n++], VAE_MAX_PATH, "%s", rec_path);
        if (is_default && api_vaeformer_default_model(def, sizeof def) == CLIMZ_OK) {
            if (!(n && !strcmp(cand[0], def))) snprintf(cand[n++], VAE_MAX_PATH, "%s", def);
            char *slash = strrchr(def, '/');
            int const dir = slash ? (int)(slash + 1 - def) : 0;
            if (snprintf(cand[n], VAE_MAX_PATH, "%.*s" VF_RETIRED_FORMAT, dir, def, sha) < VAE_MAX_PATH &&
                file_exists(cand[n]))
                n++;
        }
        cz_error_clear();
    }
    if (!n)
        return cz_error(CLIMZ_ERR_NOT_FOUND,
                        "the file was compressed with model %s (sha256 %s), which is not here: give it with the "
                        "model option", rec_path ? rec_path : "?", sha);
    char first_sha[65] = "";
    *owned = 0;
    for (int i = 0; i < n; i++) {
        if ((*v = api_model_find(ctx, sha, cand[i], det))) return CLIMZ_OK;
        CZ_FORWARD(model_open(cand[i], det, v));
        if (!strcmp((*v)->m.sha256, sha)) {
            *owned = !api_model_keep(ctx, *v, cand[i]);
            return CLIMZ_OK;
        }
        if (!i) snprintf(first_sha, sizeof first_sha, "%s", (*v)->m.sha256);
        model_release(*v, 1);
        *v = NULL;
    }
    if (is_default && !(opts && opts->model))
        return cz_error(CLIMZ_ERR_MODEL_MISMATCH,
                        "model %s has sha256 %s, the file was compressed with %s (sha256 %s), a bundled model since "
                        "replaced: keep its file beside the default one as " VF_RETIRED_FORMAT " or give it with the "
                        "model option", cand[0], first_sha, rec_path ? rec_path : "?", sha, sha);
    return cz_error(CLIMZ_ERR_MODEL_MISMATCH, "model %s has sha256 %s, the file was compressed with %s (sha256 %s)",
                    cand[0], first_sha, rec_path ? rec_path : "?", sha);
}

/* The engine's source: the container's latent chunks of one variable. */
typedef struct vf_source {
    const clz_reader *r;
    uint32_t var;
} vf_source;

static climz_status get_latent(void *user, size_t t0, const uint8_t **p, size_t *n) {
    const vf_source *s = user;
    return clz_reader_get(s->r, s->var, (uint32_t)t0, CLZ_STREAM_LATENT, p, n);
}

static climz_status vaeformer_decode(const climz_ctx *ctx, const clz_reader *r, uint32_t var, json_t *entry,
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
    vae_loaded *v;
    int owned;
    climz_status st = open_for_decode(ctx, entry, opts, det, &v, &owned);
    if (st) return st;
    size_t const plane = f->nz * f->ny * f->nx;
    vf_source src = {r, var};
    float *rec = malloc((s1 - s0) * plane * sizeof *rec);
    CZ_CHECK_GOTO(st, rec ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory"), done);
    CZ_CHECK_GOTO(st, vae_group_decode(v, get_latent, &src, f->nz, f->ny, f->nx, (size_t)tile, (size_t)group,
                                       (size_t)nt_file, s0, s1 - s0, rec), done);
    if (residual) st = api_residual_decode(r, var, entry, f, t_first, rec, s0);
    else copy_unmasked(f->values, rec, f->miss, f->nt * plane);
done:
    free(rec);
    model_release(v, owned);
    return st;
}

/* Under a bound the driver weighs the residual codec alone unless fallback=0. */
static int vaeformer_weighs_residual(const climz_compress_opts *opts) {
    vf_opts o;
    if (parse_options(opts ? opts->options : NULL, &o)) {
        cz_error_clear(); /* the encoder reports bad options */
        return 1;
    }
    return o.fallback != 0;
}

/* ---- coding in slices (the MPI driver) ---------------------------------------------------- */

static size_t gcd_of(size_t a, size_t b) {
    while (b) {
        size_t const r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* The prediction groups are independent of each other (a chunk each, normalised and coded on
 * their own steps, synthesised in runs inside the group): a slice of whole groups codes to the
 * same chunks. Under a bound the slice is also whole blocks of the residual stage (and of the
 * residual codec the driver weighs it against), so its length is a multiple of both. What
 * needs the whole field is coded whole: a rate target (the level is searched on the whole
 * field's RMSE or size) and, with the fallback, temporal residual prediction (from step to
 * step across the slices). */
static size_t vaeformer_split_steps(const climz_ctx *ctx, const climz_compress_opts *opts, size_t nt, size_t nz,
                                    size_t ny, size_t nx) {
    vf_opts o;
    if (parse_options(opts ? opts->options : NULL, &o)) {
        cz_error_clear(); /* the encoder reports bad options */
        return 0;
    }
    if (o.rmse > 0 || o.rel_rmse > 0 || o.ratio > 0) return 0;
    int const bounded = ctx->max_abs_error > 0 || ctx->rel_error > 0;
    if (bounded && o.fallback && ctx->temporal) return 0;
    size_t const g = o.group == VAE_GROUP_AUTO ? vae_group_auto_length(nz, ny, nx) : (size_t)o.group;
    if (!bounded) return g;
    size_t const k = res_time_block(nz * ny * nx, nt);
    return k ? g / gcd_of(g, k) * k : g;
}

/* The engine's counts and seconds add up over the slices; every other key is the same. */
static climz_status vaeformer_merge_entry(json_t *into, const json_t *from) {
    static const char *const sums[] = {"y_bytes",      "z_bytes",           "residual_bytes",    "empty_samples",
                                       "interpolated_samples", "coded_samples", "z_samples",   "y_escapes",
                                       "seconds_analysis", "seconds_hyper", "seconds_entropy", "seconds_synthesis"};
    json_t *a = json_object_get(into, "vaeformer");
    const json_t *b = json_object_get(from, "vaeformer");
    CZ_RETURN_IF(!json_is_object(a) || !json_is_object(b), CLIMZ_ERR_CORRUPT, "a slice's entry has no vaeformer keys");
    for (size_t k = 0; k < sizeof sums / sizeof *sums; k++) {
        json_t *x = json_object_get(a, sums[k]);
        const json_t *y = json_object_get(b, sums[k]);
        if (!x && !y) continue;
        CZ_RETURN_IF(!x || !y, CLIMZ_ERR_CORRUPT, "the slices' entries disagree on vaeformer key '%s'", sums[k]);
        if (json_is_integer(x) && json_is_integer(y))
            json_integer_set(x, json_integer_value(x) + json_integer_value(y));
        else json_real_set(x, json_number_value(x) + json_number_value(y));
    }
    return CLIMZ_OK;
}

const api_codec api_codec_vaeformer = {"vaeformer",           vaeformer_encode,       vaeformer_decode,
                                       vaeformer_weighs_residual, vaeformer_split_steps, vaeformer_merge_entry};