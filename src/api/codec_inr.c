/* codec_inr.c — the CA-INR codec (src/inr) as a driver codec: one network per variable,
 * fitted at compression, in one CLZ_STREAM_INR chunk.
 *
 * Context fields (codec options "context=FILE:VAR" and "context=climatology"):
 *  - FILE:VAR, a field on the same grid (surface height, land fraction), stays outside the
 *    .clz: the header records its path, variable and SHA-256; the decoder reads it from the
 *    recorded path or from a "context=FILE:VAR" option given at decompression, and refuses a
 *    file whose hash differs. Its size compressed losslessly (zstd -19 of its float32 values)
 *    is recorded, so a report can give the ratio with and without it.
 *  - climatology, the time mean of the field itself, is stored in the .clz (counted in the
 *    ratio) as a CLZ_STREAM_CONTEXT chunk coded by the residual codec at 0.25 % of its range;
 *    the network is fitted on the decoded climatology, so both sides use the same values.
 * Other options: ratio=R, psnr=P (targets), arch=siren|resgelu, width=W, depth=D, iters=N,
 * lr=L, batch=B, fourier=F (Gaussian Fourier features), sigma=S, omega0=W0, seed=S; the
 * fit itself checks their ranges.
 * With an error bound, the residual stage codes x against the network's reconstruction. */
#include "codec.h"
#include "codec_options.h"
#include "inr/inr.h"
#include "residual/residual.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define MAX_CTX 8

/* A context field: its values on the variable's grid (one map, or one per level). */
typedef struct ctx_field {
    float *values;
    int per_level;
    char name[64];
} ctx_field;

static void ctx_free(ctx_field *c, int n) {
    for (int i = 0; i < n; i++) free(c[i].values);
}

/* Reads variable spec "FILE:VAR" (first time step and level) on an ny x nx grid. */
static climz_status read_context_file(const char *spec, size_t ny, size_t nx, ctx_field *c, char **path_out,
                                      char **var_out) {
    const char *colon = strrchr(spec, ':');
    CZ_RETURN_IF(!colon || colon == spec || !colon[1], CLIMZ_ERR_INVALID_ARG,
                 "context '%s' is not FILE:VAR or 'climatology'", spec);
    char *path = cz_strdup(spec);
    CZ_RETURN_IF(!path, CLIMZ_ERR_ALLOC, "out of memory");
    path[colon - spec] = 0;
    const char *var = colon + 1;
    cz_dataset *ds = NULL;
    cz_field f = {0};
    climz_status st = io_open(path, &ds);
    int const vi = st ? -1 : io_find_var(ds, var);
    if (!st && vi < 0) st = cz_error(CLIMZ_ERR_NOT_FOUND, "context file %s has no variable '%s'", path, var);
    if (!st) st = io_load_field(ds, vi, &f);
    if (!st && (f.ny != ny || f.nx != nx))
        st = cz_error(CLIMZ_ERR_DIMENSION, "context %s:%s is on a %zu x %zu grid, the data on %zu x %zu", path, var,
                      f.ny, f.nx, ny, nx);
    if (!st) {
        c->values = malloc(ny * nx * sizeof *c->values);
        if (!c->values) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    if (!st) {
        for (size_t i = 0; i < ny * nx; i++) c->values[i] = f.miss[i] ? 0.0f : f.values[i];
        snprintf(c->name, sizeof c->name, "%s", var);
        *path_out = path;
        *var_out = cz_strdup(var);
        path = NULL;
    }
    io_field_free(&f);
    io_free(ds);
    free(path);
    return st;
}

static const char *opt_value(const climz_compress_opts *o, const char *key, int nth) {
    return api_option_value(o ? o->options : NULL, key, nth);
}

/* The codec options (numbers as doubles, cast to the fit's types as before; the fit checks
 * their ranges itself). */
typedef struct inr_opts {
    double ratio, psnr, iters, width, depth, lr, batch, fourier, sigma, omega0, seed;
    const char *arch;
} inr_opts;

#define INR_NUM(key, member, help) {key, API_OPT_DOUBLE, offsetof(inr_opts, member), -HUGE_VAL, HUGE_VAL, 0, help}
static const api_opt_spec inr_opt_specs[] = {
    INR_NUM("ratio", ratio, "a target compression ratio"),
    INR_NUM("psnr", psnr, "a target PSNR in dB"),
    {"arch", API_OPT_STRING, offsetof(inr_opts, arch), 0, 0, 0, "siren or resgelu"},
    INR_NUM("width", width, "the hidden width"),
    INR_NUM("depth", depth, "the hidden layers"),
    INR_NUM("iters", iters, "the fitting steps"),
    INR_NUM("lr", lr, "the learning rate"),
    INR_NUM("batch", batch, "the points per step"),
    INR_NUM("fourier", fourier, "the Gaussian Fourier features"),
    INR_NUM("sigma", sigma, "their scale"),
    INR_NUM("omega0", omega0, "SIREN's first-layer frequency"),
    INR_NUM("seed", seed, "the seed"),
    {"context", API_OPT_LIST, 0, 0, 0, 0, "FILE:VAR or climatology (repeatable)"},
};
#undef INR_NUM

/* zstd -19 size of a float32 field: what an external context costs if shipped alongside. */
static size_t lossless_bytes(const float *v, size_t n) {
    size_t const cap = ZSTD_compressBound(n * sizeof *v);
    void *dst = malloc(cap);
    size_t const r = dst ? ZSTD_compress(dst, cap, v, n * sizeof *v, 19) : 0;
    free(dst);
    return ZSTD_isError(r) ? n * sizeof *v : r;
}

/* Codes the climatology of f into a context chunk and returns its decoded values. */
static climz_status store_climatology(const api_encode_args *a, clz_writer *w, ctx_field *c, size_t *bytes) {
    const cz_field *f = a->f;
    size_t const n = f->nz * f->ny * f->nx;
    float *clim = malloc(n * sizeof *clim);
    uint8_t *miss = calloc(n, 1);
    cz_buf b = {0};
    climz_status st = clim && miss ? inr_climatology(f, clim) : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    if (!st) {
        float lo = clim[0], hi = clim[0];
        for (size_t i = 1; i < n; i++) {
            lo = clim[i] < lo ? clim[i] : lo;
            hi = clim[i] > hi ? clim[i] : hi;
        }
        res_params const rp = {.max_abs_error = 0.0025 * ((double)hi - lo), .temporal = 0};
        c->values = malloc(n * sizeof *c->values);
        st = c->values ? res_encode(clim, miss, NULL, NULL, f->nz, f->ny, f->nx, &rp, &b, c->values)
                       : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    if (!st) st = clz_writer_add(w, (uint32_t)a->var, CLZ_NO_TIME, CLZ_STREAM_CONTEXT, b.data, b.size);
    c->per_level = 1;
    snprintf(c->name, sizeof c->name, "climatology");
    *bytes = b.size;
    cz_buf_free(&b);
    free(clim);
    free(miss);
    return st;
}

/* An INR fit's progress as one line for the caller's progress function. */
typedef struct fit_progress {
    const climz_compress_opts *opts;
    const char *var;
} fit_progress;

static void on_fit_progress(void *user, int iter, int iters, double loss, double psnr, double eta_s) {
    const fit_progress *fp = user;
    char line[256];
    snprintf(line, sizeof line, "inr %s: iteration %d/%d  loss %.4g  PSNR %.2f dB  ETA %.0f s", fp->var, iter, iters,
             loss, psnr, eta_s);
    fp->opts->progress(fp->opts->progress_user, line);
}

static void to_inr_contexts(const ctx_field *c, int n, inr_context *ic) {
    for (int i = 0; i < n; i++) ic[i] = (inr_context){c[i].values, 0, c[i].per_level, c[i].name};
}

static climz_status inr_encode_var(const api_encode_args *a, clz_writer *w, float *decoded, json_t *entry) {
    const cz_field *f = a->f;
    const climz_compress_opts *o = a->opts;
    ctx_field ctx[MAX_CTX] = {{0}};
    int nctx = 0;
    climz_status st = CLIMZ_OK;
    json_t *jctx = json_array();
    json_object_set_new(entry, "contexts", jctx);
    const char *spec;
    for (int k = 0; (spec = opt_value(o, "context", k)) != NULL; k++) {
        if (nctx == MAX_CTX) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_INVALID_ARG, "at most %d contexts", MAX_CTX);
        json_t *jc = json_object();
        json_array_append_new(jctx, jc);
        if (strcmp(spec, "climatology") == 0) {
            size_t bytes = 0;
            CZ_CHECK_GOTO(st, store_climatology(a, w, &ctx[nctx++], &bytes), done);
            json_object_set_new(jc, "kind", json_string("climatology"));
            json_object_set_new(jc, "stored_bytes", json_integer((json_int_t)bytes));
            continue;
        }
        char *path = NULL, *var = NULL;
        CZ_CHECK_GOTO(st, read_context_file(spec, f->ny, f->nx, &ctx[nctx++], &path, &var), done);
        uint8_t digest[32];
        char hex[65];
        st = cz_sha256_file(path, digest);
        cz_sha256_hex(digest, hex);
        char *abs = st ? NULL : realpath(path, NULL);
        json_object_set_new(jc, "kind", json_string("file"));
        json_object_set_new(jc, "path", json_string(abs ? abs : path));
        json_object_set_new(jc, "var", json_string(var));
        json_object_set_new(jc, "sha256", json_string(hex));
        json_object_set_new(jc, "external_bytes",
                            json_integer((json_int_t)lossless_bytes(ctx[nctx - 1].values, f->ny * f->nx)));
        free(abs);
        free(path);
        free(var);
        if (st) goto done;
    }

    inr_config cfg;
    inr_config_default(&cfg);
    inr_opts io = {0, 0, cfg.iters, cfg.width, cfg.depth, cfg.lr, cfg.batch, cfg.n_fourier, cfg.fourier_sigma,
                   cfg.omega0, (double)cfg.seed, NULL};
    CZ_CHECK_GOTO(st, api_parse_options("inr", inr_opt_specs, sizeof inr_opt_specs / sizeof *inr_opt_specs,
                                        o ? o->options : NULL, &io), done);
    cfg.target_ratio = io.ratio;
    cfg.target_psnr = io.psnr;
    if (cfg.target_ratio <= 0 && cfg.target_psnr <= 0) cfg.target_ratio = 100; /* a sensible default size */
    cfg.iters = (int)io.iters;
    cfg.width = (int)io.width;
    cfg.depth = (int)io.depth;
    cfg.lr = (float)io.lr;
    cfg.batch = (int)io.batch;
    cfg.n_fourier = (int)io.fourier;
    cfg.fourier_sigma = (float)io.sigma;
    cfg.omega0 = (float)io.omega0;
    cfg.seed = (uint64_t)io.seed;
    const char *arch = io.arch;
    if (arch && strcmp(arch, "resgelu") == 0) cfg.arch = INR_RESGELU;
    else if (arch && strcmp(arch, "siren") != 0)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_INVALID_ARG, "arch must be siren or resgelu, not '%s'", arch);

    inr_context ic[MAX_CTX];
    to_inr_contexts(ctx, nctx, ic);
    cz_buf b = {0};
    inr_stats stats;
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    float *recon = a->max_abs_error > 0 ? malloc(n * sizeof *recon) : decoded;
    if (!recon) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    fit_progress fp = {o, a->ds->vars[a->var].name};
    int const report = o && o->progress;
    st = inr_encode(f, ic, nctx, &cfg, report ? on_fit_progress : NULL, report ? &fp : NULL, &b, recon, &stats);
    if (!st) st = clz_writer_add(w, (uint32_t)a->var, CLZ_NO_TIME, CLZ_STREAM_INR, b.data, b.size);
    cz_buf_free(&b);
    if (!st) {
        json_t *ji = json_pack("{s:s, s:i, s:i, s:i, s:I, s:f}", "arch", stats.arch == INR_SIREN ? "siren" : "resgelu",
                               "width", stats.width, "depth", stats.depth, "bits", stats.bits, "stream_bytes",
                               (json_int_t)stats.stream_bytes, "network_psnr", stats.psnr);
        json_object_set_new(entry, "inr", ji);
    }
    if (!st && a->max_abs_error > 0) st = api_residual_encode(a, recon, w, decoded, entry);
    if (recon != decoded) free(recon);
done:
    ctx_free(ctx, nctx);
    return st;
}

/* The context "FILE:VAR" given at decompression for variable var_name, or NULL. */
static const char *decode_override(const climz_decompress_opts *opts, const char *var_name) {
    for (const char *const *p = opts && opts->options ? opts->options : NULL; p && *p; p++)
        if (strncmp(*p, "context=", 8) == 0) {
            const char *c = strrchr(*p, ':');
            if (c && strcmp(c + 1, var_name) == 0) return *p + 8;
        }
    return NULL;
}

static climz_status load_contexts(const clz_reader *r, uint32_t var, json_t *entry, const climz_decompress_opts *opts,
                                  const cz_field *f, ctx_field *ctx, int *nctx) {
    json_t *jctx = json_object_get(entry, "contexts");
    size_t k;
    json_t *jc;
    *nctx = 0;
    json_array_foreach(jctx, k, jc) {
        CZ_RETURN_IF(*nctx == MAX_CTX, CLIMZ_ERR_CORRUPT, "too many contexts in the header");
        ctx_field *c = &ctx[(*nctx)++];
        const char *kind = json_string_value(json_object_get(jc, "kind"));
        if (kind && strcmp(kind, "climatology") == 0) {
            const uint8_t *p;
            size_t size;
            size_t const n = f->nz * f->ny * f->nx;
            uint8_t *miss = calloc(n, 1);
            c->values = malloc(n * sizeof *c->values);
            c->per_level = 1;
            snprintf(c->name, sizeof c->name, "climatology");
            climz_status st = miss && c->values ? clz_reader_get(r, var, CLZ_NO_TIME, CLZ_STREAM_CONTEXT, &p, &size)
                                                : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
            if (!st) st = res_decode(p, size, miss, NULL, NULL, f->nz, f->ny, f->nx, c->values);
            free(miss);
            CZ_FORWARD(st);
            continue;
        }
        const char *var_name = json_string_value(json_object_get(jc, "var"));
        const char *path = json_string_value(json_object_get(jc, "path"));
        const char *sha = json_string_value(json_object_get(jc, "sha256"));
        CZ_RETURN_IF(!kind || strcmp(kind, "file") || !var_name || !path || !sha, CLIMZ_ERR_CORRUPT,
                     "malformed context entry in the header");
        const char *over = decode_override(opts, var_name);
        char spec[4200];
        if (over) snprintf(spec, sizeof spec, "%s", over);
        else snprintf(spec, sizeof spec, "%s:%s", path, var_name);
        char *p = NULL, *v = NULL;
        CZ_FORWARD(read_context_file(spec, f->ny, f->nx, c, &p, &v));
        uint8_t digest[32];
        char hex[65];
        climz_status st = cz_sha256_file(p, digest);
        cz_sha256_hex(digest, hex);
        if (!st && strcmp(hex, sha) != 0)
            st = cz_error(CLIMZ_ERR_MODEL_MISMATCH,
                          "context file %s has sha256 %s, but the data were compressed with a file of sha256 %s "
                          "(give the right one with --context FILE:%s)", p, hex, sha, var_name);
        free(p);
        free(v);
        CZ_FORWARD(st);
    }
    return CLIMZ_OK;
}

static climz_status inr_decode_var(const climz_ctx *cctx, const clz_reader *r, uint32_t var, json_t *entry,
                                   const climz_decompress_opts *opts, cz_field *f, size_t t_first) {
    (void)cctx;
    ctx_field ctx[MAX_CTX] = {{0}};
    int nctx = 0;
    float *recon = NULL;
    climz_status st = load_contexts(r, var, entry, opts, f, ctx, &nctx);
    inr_context ic[MAX_CTX];
    to_inr_contexts(ctx, nctx, ic);
    const uint8_t *p;
    size_t size;
    size_t const nt_file = (size_t)json_integer_value(json_array_get(json_object_get(entry, "shape"), 0));
    size_t const plane = f->nz * f->ny * f->nx;
    if (!st) st = clz_reader_get(r, var, CLZ_NO_TIME, CLZ_STREAM_INR, &p, &size);
    if (!st && !json_object_get(entry, "time_block")) { /* the network alone */
        st = inr_decode_times(p, size, ic, nctx, nt_file, f->nz, f->ny, f->nx, f->lat, f->lon, t_first, f->nt,
                              f->values);
    } else if (!st) { /* network + residual stage over whole residual blocks */
        size_t s0, s1;
        st = api_residual_blocks(entry, t_first, f->nt, &s0, &s1);
        recon = st ? NULL : malloc((s1 - s0) * plane * sizeof *recon);
        if (!st && !recon) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        if (!st) st = inr_decode_times(p, size, ic, nctx, nt_file, f->nz, f->ny, f->nx, f->lat, f->lon, s0, s1 - s0, recon);
        if (!st) st = api_residual_decode(r, var, entry, f, t_first, recon, s0);
    }
    free(recon);
    ctx_free(ctx, nctx);
    return st;
}

const api_codec api_codec_inr = {"inr", inr_encode_var, inr_decode_var, NULL, NULL, NULL};
