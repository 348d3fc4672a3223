/* reader.c — climz_reader: random access to the variables and time steps of a .clz file or
 * buffer, decoding only the chunks that hold the steps asked for. */
#include "codec.h"
#include "field_view.h"
#include "reader_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void climz_reader_free(climz_reader *r) {
    if (!r) return;
    json_decref(r->header);
    clz_reader_free(r->r);
    io_free(r->ds);
    free(r->entry);
    free(r->info);
    free(r);
}

/* Steps decoded together: the largest of the codec's groups and residual blocks. */
static size_t time_group(json_t *e, size_t nt) {
    if (json_is_true(json_object_get(e, "temporal"))) return nt;
    size_t g = 1;
    json_int_t const tb = json_integer_value(json_object_get(e, "time_block"));
    json_int_t const vg = json_integer_value(json_object_get(json_object_get(e, "vaeformer"), "group"));
    if (tb > 0) g = (size_t)tb;
    if (vg > 0 && (size_t)vg > g) g = (size_t)vg;
    if (json_object_get(e, "inr")) g = nt; /* one network for every step */
    return g < nt ? g : nt;
}

/* Fills r's tables from its header and schema; every entry is checked here, once. */
static climz_status index_vars(climz_reader *r) {
    json_t *vars = json_object_get(r->header, "variables");
    r->nvars = json_array_size(vars);
    r->entry = calloc(r->nvars + 1, sizeof *r->entry);
    r->info = calloc(r->nvars + 1, sizeof *r->info);
    CZ_RETURN_IF(!r->entry || !r->info, CLIMZ_ERR_ALLOC, "out of memory");
    r->tdim = api_find_time_dim(r->ds, vars);
    r->tlen = r->tdim >= 0 ? r->ds->dims[r->tdim].len : 1;
    for (size_t k = 0; k < r->nvars; k++) {
        json_t *e = json_array_get(vars, k);
        json_int_t const vi = json_integer_value(json_object_get(e, "index"));
        json_t *shape = json_object_get(e, "shape");
        CZ_RETURN_IF(vi < 0 || vi >= r->ds->nvars || json_array_size(shape) != 4, CLIMZ_ERR_CORRUPT,
                     "header entry %zu is malformed", k);
        const cz_var *v = &r->ds->vars[vi];
        climz_var_info *in = &r->info[k];
        size_t *const dims[4] = {&in->nt, &in->nz, &in->ny, &in->nx};
        size_t total = 1;
        for (size_t d = 0; d < 4; d++) {
            json_int_t const len = json_integer_value(json_array_get(shape, d));
            CZ_RETURN_IF(len <= 0 || len > (json_int_t)1 << 40, CLIMZ_ERR_CORRUPT,
                         "variable '%s' has a malformed shape in the header", v->name);
            *dims[d] = (size_t)len;
            CZ_RETURN_IF(!cz_mul_ok(total, (size_t)len, &total), CLIMZ_ERR_CORRUPT, "variable '%s' is too large",
                         v->name);
        }
        CZ_RETURN_IF(total != io_var_count(r->ds, v), CLIMZ_ERR_CORRUPT,
                     "variable '%s': header shape and stored dimensions disagree", v->name);
        r->entry[k] = e;
        in->name = v->name;
        in->codec = json_string_value(json_object_get(e, "codec"));
        in->ndims = v->ndims;
        for (int d = 0; d < v->ndims && d < 8; d++) {
            in->dims[d] = r->ds->dims[v->dimids[d]].name;
            in->dim_len[d] = r->ds->dims[v->dimids[d]].len;
        }
        in->max_abs_error_bound = json_real_value(json_object_get(e, "max_abs_error_bound"));
        in->time_group = time_group(e, in->nt);
    }
    return CLIMZ_OK;
}

static climz_status reader_finish(climz_ctx *ctx, climz_reader *r, climz_reader **out) {
    climz_status const st = index_vars(r);
    if (st) {
        climz_reader_free(r);
        return api_fail(ctx, st);
    }
    *out = r;
    return CLIMZ_OK;
}

climz_status climz_reader_open(climz_ctx *ctx, const char *path, climz_reader **out) {
    if (!ctx || !out) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    *out = NULL;
    if (!path) return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "no path"));
    climz_reader *r = calloc(1, sizeof *r);
    if (!r) return api_fail(ctx, cz_error(CLIMZ_ERR_ALLOC, "out of memory"));
    climz_status const st = api_open_clz(path, &r->r, &r->header, &r->ds, NULL);
    if (st) {
        free(r);
        return api_fail(ctx, st);
    }
    return reader_finish(ctx, r, out);
}

climz_status climz_reader_open_buffer(climz_ctx *ctx, const void *src, size_t size, climz_reader **out) {
    if (!ctx || !out) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    *out = NULL;
    if (!src) return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "no buffer"));
    climz_reader *r = calloc(1, sizeof *r);
    if (!r) return api_fail(ctx, cz_error(CLIMZ_ERR_ALLOC, "out of memory"));
    climz_status const st = api_open_clz_mem(src, size, &r->r, &r->header, &r->ds);
    if (st) {
        free(r);
        return api_fail(ctx, st);
    }
    return reader_finish(ctx, r, out);
}

size_t climz_reader_nvars(const climz_reader *r) { return r ? r->nvars : 0; }

climz_status climz_reader_var(const climz_reader *r, size_t i, climz_var_info *info) {
    if (!r || !info) return CLIMZ_ERR_INVALID_ARG;
    if (i >= r->nvars) return CLIMZ_ERR_NOT_FOUND;
    *info = r->info[i];
    return CLIMZ_OK;
}

climz_status climz_reader_find(const climz_reader *r, const char *name, size_t *i) {
    if (!r || !name || !i) return CLIMZ_ERR_INVALID_ARG;
    for (size_t k = 0; k < r->nvars; k++)
        if (strcmp(r->info[k].name, name) == 0) {
            *i = k;
            return CLIMZ_OK;
        }
    return CLIMZ_ERR_NOT_FOUND;
}

climz_status climz_reader_read(climz_ctx *ctx, const climz_reader *r, size_t var, size_t t0, size_t nt,
                               const climz_field *dst) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    if (!r) return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "no reader"));
    if (var >= r->nvars)
        return api_fail(ctx, cz_error(CLIMZ_ERR_NOT_FOUND, "variable %zu asked for, the file has %zu", var, r->nvars));
    const climz_var_info *in = &r->info[var];
    size_t n;
    CZ_FORWARD(api_fail(ctx, fv_check(dst, &n)));
    if (nt == 0 || t0 >= in->nt || nt > in->nt - t0)
        return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "variable '%s': time steps %zu..%zu asked for, it has %zu",
                                      in->name, t0, t0 + (nt ? nt : 1) - 1, in->nt));
    if (dst->nt != nt || dst->nz != in->nz || dst->ny != in->ny || dst->nx != in->nx)
        return api_fail(ctx, cz_error(CLIMZ_ERR_DIMENSION,
                                      "variable '%s': %zu steps of (%zu, %zu, %zu) asked for, the output field is "
                                      "(%zu, %zu, %zu, %zu)", in->name, nt, in->nz, in->ny, in->nx, dst->nt, dst->nz,
                                      dst->ny, dst->nx));
    json_int_t const vi = json_integer_value(json_object_get(r->entry[var], "index"));
    int const sliced = r->tdim >= 0 && r->ds->vars[vi].dimids[0] == r->tdim;
    if (!sliced && (t0 != 0 || nt != in->nt))
        return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "variable '%s' has no time axis: read all %zu steps",
                                      in->name, in->nt));
    climz_decompress_opts const dopts = {.model = ctx->model};
    cz_field f;
    climz_status st = api_decode_field(ctx, r->r, r->ds, r->entry[var], r->tdim, r->tlen, t0, nt, &dopts, &f);
    if (!st) {
        fv_scatter_opts const so = {.has_fill = (dst->flags & CLIMZ_FIELD_FILL) != 0, .fill = dst->fill_value};
        fv_scatter(&f, &so, dst);
        io_field_free(&f);
    }
    return api_fail(ctx, st);
}
