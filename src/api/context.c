/* context.c — climz_ctx: parameters, thread count, the last error message and the loaded
 * models. */
#include "api_internal.h"
#include "nn/nn.h"
#include "vae/vae_group.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

climz_ctx *climz_ctx_create(void) {
    climz_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx && !(ctx->models = calloc(1, sizeof *ctx->models))) {
        free(ctx);
        return NULL;
    }
    return ctx;
}

static void model_drop(struct api_model_entry *e) {
    if (e->model) {
        vae_loaded_close(e->model);
        free(e->model);
    }
    memset(e, 0, sizeof *e);
}

void climz_ctx_free(climz_ctx *ctx) {
    if (!ctx) return;
    for (int i = 0; ctx->models && i < API_MODEL_CACHE; i++) model_drop(&ctx->models->e[i]);
    free(ctx->models);
    free(ctx->model);
    free(ctx);
}

climz_status climz_ctx_set_model(climz_ctx *ctx, const char *path) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    char *p = NULL;
    if (path && !(p = cz_strdup(path))) return CLIMZ_ERR_ALLOC;
    free(ctx->model);
    ctx->model = p;
    return CLIMZ_OK;
}

/* What identifies the file at path as it is now: device, inode, size, modification and
 * status-change times in ns (a rewrite, a rename over it or a copy changes one of them);
 * all 0 when it cannot be read. */
static void model_file_id(const char *path, uint64_t id[5]) {
    struct stat st;
    memset(id, 0, 5 * sizeof *id);
    if (stat(path, &st) != 0) return;
    id[0] = (uint64_t)st.st_dev;
    id[1] = (uint64_t)st.st_ino;
    id[2] = (uint64_t)st.st_size;
    id[3] = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    id[4] = (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec;
}

static int file_id_known(const uint64_t id[5]) { return id[0] || id[1] || id[2] || id[3] || id[4]; }

/* The entry for (path, det, and sha256 unless NULL) whose file has not changed since it was
 * loaded; an entry whose file changed (or is gone) is dropped, so the caller loads the file
 * again and checks its SHA-256. */
static struct vae_loaded *find_entry(const climz_ctx *ctx, const char *sha256, const char *path, int det) {
    api_model_cache *const c = ctx ? ctx->models : NULL;
    uint64_t now[5];
    int have_now = 0;
    for (int i = 0; c && i < API_MODEL_CACHE; i++) {
        struct api_model_entry *e = &c->e[i];
        if (!e->model || e->det != det || strcmp(e->path, path) || (sha256 && strcmp(e->sha256, sha256))) continue;
        if (!have_now) model_file_id(path, now), have_now = 1;
        if (!file_id_known(now) || memcmp(now, e->file_id, sizeof now)) {
            model_drop(e);
            continue;
        }
        e->used = ++c->clock;
        return e->model;
    }
    return NULL;
}

struct vae_loaded *api_model_find(const climz_ctx *ctx, const char *sha256, const char *path, int det) {
    return find_entry(ctx, sha256, path, det);
}

struct vae_loaded *api_model_find_unchanged(const climz_ctx *ctx, const char *path, int det) {
    return find_entry(ctx, NULL, path, det);
}

int api_model_keep(const climz_ctx *ctx, struct vae_loaded *v, const char *path) {
    api_model_cache *const c = ctx ? ctx->models : NULL;
    if (!c || strlen(path) >= sizeof c->e[0].path) return 0;
    struct api_model_entry *e = &c->e[0];
    for (int i = 1; i < API_MODEL_CACHE && e->model; i++) /* a free entry, else the least recently used */
        if (!c->e[i].model || c->e[i].used < e->used) e = &c->e[i];
    model_drop(e);
    snprintf(e->sha256, sizeof e->sha256, "%s", v->m.sha256);
    snprintf(e->path, sizeof e->path, "%s", path);
    e->det = v->det;
    e->model = v;
    e->used = ++c->clock;
    /* taken after the load: a change in between leaves a model whose SHA-256 (the one every
     * frame coded with it records) is still that of the bytes it was made from */
    model_file_id(path, e->file_id);
    return 1;
}

const char *climz_ctx_last_error(const climz_ctx *ctx) { return ctx ? ctx->last_error : ""; }

climz_status api_fail(climz_ctx *ctx, climz_status s) {
    if (ctx && s != CLIMZ_OK) {
        const char *m = cz_error_message();
        snprintf(ctx->last_error, sizeof ctx->last_error, "%s", m[0] ? m : climz_status_message(s));
    }
    return s;
}

void api_begin(climz_ctx *ctx) {
    ctx->last_error[0] = 0;
    cz_error_clear();
    /* the calling thread's execution policy (nn.h): its OpenMP team, fast kernels (a codec
     * turns deterministic mode on around its own calls) */
    nn_set_threads(ctx->threads);
    nn_set_deterministic(0);
}

static const struct {
    climz_param p;
    double lo, hi;
} param_bounds[] = {
    {CLIMZ_P_MAX_ABS_ERROR, 0.0, 1e300},
    {CLIMZ_P_REL_ERROR, 0.0, 1.0},
    {CLIMZ_P_THREADS, 0.0, 1024.0},
    {CLIMZ_P_TEMPORAL, 0.0, 1.0},
};

climz_status climz_param_bounds(climz_param p, double *lo, double *hi) {
    for (size_t i = 0; i < sizeof param_bounds / sizeof *param_bounds; i++)
        if (param_bounds[i].p == p) {
            *lo = param_bounds[i].lo;
            *hi = param_bounds[i].hi;
            return CLIMZ_OK;
        }
    return CLIMZ_ERR_INVALID_ARG;
}

climz_status climz_ctx_set_param(climz_ctx *ctx, climz_param p, double value) {
    double lo, hi;
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    if (climz_param_bounds(p, &lo, &hi) != CLIMZ_OK)
        return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "unknown parameter %d", (int)p));
    if (!(value >= lo && value <= hi))
        return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG,
                                      "parameter %d = %g is outside [%g, %g]", (int)p, value, lo, hi));
    switch (p) {
    case CLIMZ_P_MAX_ABS_ERROR: ctx->max_abs_error = value; break;
    case CLIMZ_P_REL_ERROR: ctx->rel_error = value; break;
    case CLIMZ_P_THREADS: ctx->threads = (int)value; break;
    case CLIMZ_P_TEMPORAL: ctx->temporal = value != 0; break;
    }
    return CLIMZ_OK;
}

climz_status climz_ctx_get_param(const climz_ctx *ctx, climz_param p, double *value) {
    if (!ctx || !value) return CLIMZ_ERR_INVALID_ARG;
    switch (p) {
    case CLIMZ_P_MAX_ABS_ERROR: *value = ctx->max_abs_error; return CLIMZ_OK;
    case CLIMZ_P_REL_ERROR: *value = ctx->rel_error; return CLIMZ_OK;
    case CLIMZ_P_THREADS: *value = ctx->threads; return CLIMZ_OK;
    case CLIMZ_P_TEMPORAL: *value = ctx->temporal; return CLIMZ_OK;
    }
    return CLIMZ_ERR_INVALID_ARG;
}
