/* decode.c — a .clz back into a data set (all of it, or some variables and time steps),
 * and climz_decompress_file() which writes that data set as NetCDF. */
#include "codec.h"
#include "container/frame_compact.h"
#include "container/mask.h"
#include "container/schema.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int api_is_clz(const char *path) {
    static const uint8_t magic[8] = {0x89, 'C', 'L', 'Z', '\r', '\n', 0x1a, '\n'};
    uint8_t head[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t const n = fread(head, 1, sizeof head, f);
    fclose(f);
    /* a compact frame saved to a file (doc/format.md §10.1) is read as its .clz image */
    return n == sizeof head && (memcmp(head, magic, sizeof magic) == 0 || clz_compact_is(head, n));
}

void api_decoded_free(api_decoded *d) {
    io_free(d->ds);
    free(d->header_json);
    memset(d, 0, sizeof *d);
}

static int name_listed(const char *const *names, const char *n) {
    if (!names) return 1;
    for (; *names; names++)
        if (strcmp(*names, n) == 0) return 1;
    return 0;
}

/* The time dimension of the file: the first dim of a coded variable whose header shape says
 * it is split into time steps. -1 if none. */
int api_find_time_dim(const cz_dataset *ds, json_t *vars) {
    size_t k;
    json_t *e;
    json_array_foreach(vars, k, e) {
        int const vi = (int)json_integer_value(json_object_get(e, "index"));
        json_int_t const nt = json_integer_value(json_array_get(json_object_get(e, "shape"), 0));
        if (vi < 0 || vi >= ds->nvars) continue;
        const cz_var *v = &ds->vars[vi];
        if (v->ndims > 2 && (size_t)nt == ds->dims[v->dimids[0]].len) {
            int const d = v->dimids[0];
            int const ci = io_find_var(ds, ds->dims[d].name);
            if (nt > 1 || ds->dims[d].unlimited || (ci >= 0 && ds->vars[ci].axis == CZ_AXIS_T)) return d;
        }
    }
    return -1;
}

/* Keeps time steps [t0, t0+nt) of a stored variable whose first dim is the time dim. */
static climz_status slice_stored(cz_dataset *ds, cz_var *v, size_t len, size_t t0, size_t nt) {
    if (!v->raw) return CLIMZ_OK;
    size_t const per_t = io_var_count(ds, v) / (len ? len : 1);
    size_t const esz = cz_dtype_size(v->type);
    if (v->type == CZ_T_STRING)
        for (size_t i = 0; i < len * per_t; i++)
            if (i < t0 * per_t || i >= (t0 + nt) * per_t) free(((char **)v->raw)[i]);
    memmove(v->raw, (uint8_t *)v->raw + t0 * per_t * esz, nt * per_t * esz);
    return CLIMZ_OK;
}

climz_status api_decode_masks(const clz_reader *r, uint32_t var, size_t plane, size_t t_first, size_t nt,
                              uint8_t *miss_all) {
    for (size_t t = 0; t < nt; t++) {
        const uint8_t *p;
        size_t n;
        uint8_t *miss = miss_all + t * plane;
        climz_status const st = clz_reader_get(r, var, (uint32_t)(t_first + t), CLZ_STREAM_MASK, &p, &n);
        if (st == CLIMZ_ERR_NOT_FOUND) memset(miss, 0, plane);
        else if (st) return st;
        else CZ_FORWARD(clz_mask_decode(p, n, miss, plane));
    }
    return CLIMZ_OK;
}

/* The exact bits of the points of v's oor_code in f (whose steps start at t_first), from the
 * exact chunks (doc/format.md §8.1); f->exact stays NULL when v has no oor_code. */
static climz_status api_decode_exact(const clz_reader *r, const cz_var *v, int vi, size_t t_first, cz_field *f) {
    if (!v->oor_code) return CLIMZ_OK;
    size_t const plane = f->nz * f->ny * f->nx, es = cz_dtype_size(v->type);
    size_t const total = f->nt * plane;
    f->exact = calloc(total ? total : 1, sizeof *f->exact);
    CZ_RETURN_IF(!f->exact, CLIMZ_ERR_ALLOC, "out of memory");
    for (size_t t = 0; t < f->nt; t++) {
        const uint8_t *miss = f->miss + t * plane;
        size_t k = 0;
        for (size_t i = 0; i < plane; i++) k += miss[i] == v->oor_code;
        const uint8_t *p;
        size_t n;
        climz_status const st = clz_reader_get(r, (uint32_t)vi, (uint32_t)(t_first + t), CLZ_STREAM_EXACT, &p, &n);
        if (st == CLIMZ_ERR_NOT_FOUND && !k) continue;
        if (st) return st == CLIMZ_ERR_NOT_FOUND ? cz_error(CLIMZ_ERR_CORRUPT, "time step %zu: "
                       "no exact chunk for %zu out-of-range points", t_first + t, k) : st;
        CZ_RETURN_IF(n != 1 + k * es || p[0] != v->oor_code, CLIMZ_ERR_CORRUPT,
                     "time step %zu: exact chunk of %zu bytes for %zu points", t_first + t, n, k);
        p++;
        for (size_t i = 0; i < plane; i++)
            if (miss[i] == v->oor_code) {
                uint8_t le[8] = {0};
                memcpy(le, p, es);
                p += es;
                f->exact[t * plane + i] = cz_load_le64(le);
            }
    }
    return CLIMZ_OK;
}

climz_status api_decode_field(const climz_ctx *ctx, const clz_reader *r, const cz_dataset *ds, json_t *e, int tdim,
                              size_t tlen, size_t t0, size_t nt, const climz_decompress_opts *opts, cz_field *f) {
    memset(f, 0, sizeof *f);
    int const vi = (int)json_integer_value(json_object_get(e, "index"));
    json_t *shape = json_object_get(e, "shape");
    CZ_RETURN_IF(vi < 0 || vi >= ds->nvars || json_array_size(shape) != 4, CLIMZ_ERR_CORRUPT,
                 "header entry of variable %d is malformed", vi);
    const char *codec = json_string_value(json_object_get(e, "codec"));
    const api_codec *c = codec ? api_codec_find(codec) : NULL;
    CZ_RETURN_IF(!c, CLIMZ_ERR_UNSUPPORTED, "variable '%s' uses codec '%s', which this build cannot decode",
                 ds->vars[vi].name, codec ? codec : "?");
    size_t dims[4];
    for (int k = 0; k < 4; k++) {
        json_int_t const d = json_integer_value(json_array_get(shape, (size_t)k));
        CZ_RETURN_IF(d <= 0 || d > (json_int_t)1 << 40, CLIMZ_ERR_CORRUPT,
                     "variable '%s' has a malformed shape in the header", ds->vars[vi].name);
        dims[k] = (size_t)d;
    }
    const cz_var *v = &ds->vars[vi];
    int const sliced = tdim >= 0 && v->dimids[0] == tdim;
    int const temporal = json_is_true(json_object_get(e, "temporal"));
    /* with temporal prediction every earlier step is needed to decode a later one */
    size_t const first = sliced && !temporal ? t0 : 0;
    size_t const steps = sliced ? (temporal ? t0 + nt : nt) : dims[0];
    size_t n;
    CZ_RETURN_IF(!cz_mul_ok(steps * dims[1], dims[2] * dims[3], &n), CLIMZ_ERR_CORRUPT,
                 "variable '%s' is too large", v->name);
    /* the schema's dims must agree with the header's shape */
    size_t expect = 1;
    for (int d = 0; d < v->ndims; d++)
        expect *= v->dimids[d] == tdim ? tlen : ds->dims[v->dimids[d]].len;
    CZ_RETURN_IF(expect != dims[0] * dims[1] * dims[2] * dims[3] || (sliced && dims[0] != tlen),
                 CLIMZ_ERR_CORRUPT, "variable '%s': header shape and stored dimensions disagree", v->name);
    f->nt = steps, f->nz = dims[1], f->ny = dims[2], f->nx = dims[3];
    f->values = malloc(n * sizeof *f->values);
    f->miss = malloc(n);
    climz_status st = CLIMZ_OK;
    if (!f->values || !f->miss) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory decoding '%s'", v->name);
    CZ_CHECK_GOTO(st, io_field_coords(ds, vi, f), done);
    CZ_CHECK_GOTO(st, api_decode_masks(r, (uint32_t)vi, f->nz * f->ny * f->nx, first, f->nt, f->miss), done);
    CZ_CHECK_GOTO(st, api_decode_exact(r, v, vi, first, f), done);
    CZ_CHECK_GOTO(st, c->decode(ctx, r, (uint32_t)vi, e, opts, f, first), done);
    if (sliced && temporal && t0) { /* keep only the requested steps */
        size_t const plane = dims[1] * dims[2] * dims[3];
        memmove(f->values, f->values + t0 * plane, nt * plane * sizeof *f->values);
        memmove(f->miss, f->miss + t0 * plane, nt * plane);
        if (f->exact) memmove(f->exact, f->exact + t0 * plane, nt * plane * sizeof *f->exact);
        f->nt = nt;
    }
done:
    if (st) {
        io_field_free(f);
        cz_error_prefix(st, "variable '%s'", v->name);
    }
    return st;
}

/* Decodes coded variable e into ds, whose time dim (tdim, tlen steps in the file) has already
 * been cut to [t0, t0+nt). */
static climz_status decode_var(const climz_ctx *ctx, const clz_reader *r, cz_dataset *ds, json_t *e, int tdim,
                               size_t tlen, size_t t0, size_t nt, const climz_decompress_opts *opts,
                               api_field_fetch fetch, void *user) {
    cz_field f;
    CZ_FORWARD(fetch ? fetch(user, ctx, r, ds, e, tdim, tlen, t0, nt, opts, &f)
                     : api_decode_field(ctx, r, ds, e, tdim, tlen, t0, nt, opts, &f));
    int const vi = (int)json_integer_value(json_object_get(e, "index"));
    climz_status const st = io_store_field(ds, vi, &f);
    io_field_free(&f);
    if (st) cz_error_prefix(st, "variable '%s'", ds->vars[vi].name);
    return st;
}

/* The header and the data set of an open container; on failure r is freed. */
static climz_status open_parts(clz_reader **r, json_t **header, cz_dataset **ds, size_t *schema_bytes) {
    const uint8_t *p;
    size_t n;
    json_error_t jerr;
    *header = json_loads(clz_reader_header(*r), 0, &jerr);
    climz_status st = CLIMZ_OK;
    if (!json_is_array(*header ? json_object_get(*header, "variables") : NULL))
        st = cz_error(CLIMZ_ERR_CORRUPT, "header is not a climz header (%s)", *header ? "no variable list" : jerr.text);
    if (!st) st = clz_reader_get(*r, CLZ_NO_VAR, CLZ_NO_TIME, CLZ_STREAM_SCHEMA, &p, &n);
    if (!st) st = clz_schema_decode(p, n, ds);
    if (!st) st = api_check_header_vars(*ds, json_object_get(*header, "variables"));
    if (st) {
        io_free(*ds);
        *ds = NULL;
        json_decref(*header);
        clz_reader_free(*r);
        *header = NULL;
        *r = NULL;
        return st;
    }
    if (schema_bytes) *schema_bytes = n;
    return CLIMZ_OK;
}

climz_status api_open_clz_mem(const void *data, size_t size, clz_reader **r, json_t **header, cz_dataset **ds) {
    *r = NULL;
    *header = NULL;
    *ds = NULL;
    CZ_FORWARD(clz_reader_open_view(data, size, r));
    return open_parts(r, header, ds, NULL);
}

climz_status api_open_clz(const char *path, clz_reader **r, json_t **header, cz_dataset **ds, size_t *schema_bytes) {
    *r = NULL;
    *header = NULL;
    *ds = NULL;
    CZ_FORWARD(clz_reader_open(path, r));
    return open_parts(r, header, ds, schema_bytes);
}

climz_status api_decode_clz(const climz_ctx *ctx, const char *path, const climz_decompress_opts *opts,
                            api_decoded *out) {
    return api_decode_clz_fetch(ctx, path, opts, NULL, NULL, out);
}

climz_status api_decode_clz_fetch(const climz_ctx *ctx, const char *path, const climz_decompress_opts *opts,
                                  api_field_fetch fetch, void *user, api_decoded *out) {
    memset(out, 0, sizeof *out);
    CZ_RETURN_IF(opts && (opts->time_first < 0 || opts->time_count < 0), CLIMZ_ERR_INVALID_ARG,
                 "negative time range");
    const char *const *vars = opts ? opts->vars : NULL;
    size_t const t0 = opts ? (size_t)opts->time_first : 0;
    size_t nt = opts ? (size_t)opts->time_count : 0;
    double const t_start = cz_now();
    clz_reader *r = NULL;
    json_t *root = NULL;
    uint8_t *keep = NULL;
    climz_status st = CLIMZ_OK;

    CZ_CHECK_GOTO(st, api_open_clz(path, &r, &root, &out->ds, NULL), done);
    json_t *jvars = json_object_get(root, "variables");
    cz_dataset *ds = out->ds;
    free(ds->path);
    ds->path = cz_strdup(path);

    /* which coded variables to decode; the others are dropped */
    keep = calloc((size_t)ds->nvars + 1, 1);
    if (!keep) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    for (int i = 0; i < ds->nvars; i++) keep[i] = ds->vars[i].raw != NULL;
    for (const char *const *v = vars; v && *v; v++) {
        int const i = io_find_var(ds, *v);
        if (i < 0 || ds->vars[i].raw)
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_NOT_FOUND, "no compressed variable '%s' in the file", *v);
    }
    size_t k;
    json_t *e;
    json_array_foreach(jvars, k, e) {
        int const vi = (int)json_integer_value(json_object_get(e, "index"));
        if (vi < 0 || vi >= ds->nvars)
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "header names variable %d of %d", vi, ds->nvars);
        keep[vi] = (uint8_t)name_listed(vars, ds->vars[vi].name);
    }

    int const tdim = api_find_time_dim(ds, jvars);
    size_t const tlen = tdim >= 0 ? ds->dims[tdim].len : 1;
    if (nt == 0) nt = t0 < tlen ? tlen - t0 : 0;
    if (t0 + nt > tlen || nt == 0)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_INVALID_ARG, "time steps %zu..%zu requested, the file has %zu",
                     t0, t0 + (nt ? nt : 1) - 1, tlen);
    if (tdim >= 0 && nt != tlen) { /* stored time-dependent variables (the time axis) first */
        for (int i = 0; i < ds->nvars; i++) {
            cz_var *v = &ds->vars[i];
            if (keep[i] && v->raw && v->ndims && v->dimids[0] == tdim)
                CZ_CHECK_GOTO(st, slice_stored(ds, v, tlen, t0, nt), done);
        }
        ds->dims[tdim].len = nt;
    }
    json_array_foreach(jvars, k, e) {
        int const vi = (int)json_integer_value(json_object_get(e, "index"));
        if (keep[vi]) CZ_CHECK_GOTO(st, decode_var(ctx, r, ds, e, tdim, tlen, t0, nt, opts, fetch, user), done);
    }
    io_drop_vars(ds, keep);
    out->header_json = cz_strdup(clz_reader_header(r));
    out->file_size = clz_reader_file_size(r);
    out->decode_seconds = cz_now() - t_start;

done:
    free(keep);
    json_decref(root);
    clz_reader_free(r);
    if (st) {
        if (!strstr(cz_error_message(), path)) cz_error_prefix(st, "%s", path);
        api_decoded_free(out);
    }
    return st;
}

climz_status climz_decompress_file(climz_ctx *ctx, const char *clz_path, const char *out_path,
                                   const climz_decompress_opts *opts) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    if (!clz_path || !out_path)
        return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "input and output paths are required"));
    climz_status st = api_check_output(out_path, clz_path, NULL, opts ? opts->model : NULL,
                                       opts ? opts->options : NULL);
    if (st) return api_fail(ctx, st);
    api_decoded d;
    st = api_decode_clz(ctx, clz_path, opts, &d);
    if (st) return api_fail(ctx, st);
    st = io_write_netcdf(d.ds, out_path);
    api_decoded_free(&d);
    return api_fail(ctx, st);
}
