/* reader_meta.c — what bindings need beyond the coded fields to rebuild a whole data set
 * from a climz_reader (the xarray backend of python/climz): the dims, groups, attributes and
 * variables as JSON, and any variable's values in its stored type, exactly as
 * climz_decompress_file() writes them. */
#include "reader_internal.h"

#include <stdlib.h>
#include <string.h>

/* Little-endian hex of n elements of es bytes each (native order in memory). */
static json_t *hex_values(const void *data, size_t n, size_t es) {
    static const char digits[] = "0123456789abcdef";
    size_t const bytes = n * es;
    char *s = malloc(2 * bytes + 1);
    if (!s) return NULL;
    const uint8_t *p = data;
    uint16_t const one = 1;
    int const le = *(const uint8_t *)&one;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < es; b++) {
            uint8_t const byte = p[i * es + (le ? b : es - 1 - b)];
            s[2 * (i * es + b)] = digits[byte >> 4];
            s[2 * (i * es + b) + 1] = digits[byte & 15];
        }
    s[2 * bytes] = 0;
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* [{"name", "type", "value"}]: CHAR as a string, STRING as an array of strings, numbers as
 * "hex" (little-endian bytes of the stored type: NaN and fill bits kept exactly). */
static json_t *attrs_json(const cz_attr *a, int n) {
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(a[i].name));
        json_object_set_new(o, "type", json_string(cz_dtype_name(a[i].type)));
        if (a[i].type == CZ_T_CHAR) {
            json_object_set_new(o, "value", json_stringn(a[i].data ? a[i].data : "", a[i].len));
        } else if (a[i].type == CZ_T_STRING) {
            json_t *l = json_array();
            for (size_t k = 0; k < a[i].len; k++) {
                const char *t = ((char *const *)a[i].data)[k];
                json_array_append_new(l, json_string(t ? t : ""));
            }
            json_object_set_new(o, "value", l);
        } else {
            json_object_set_new(o, "hex", hex_values(a[i].data, a[i].len, cz_dtype_size(a[i].type)));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *schema_json(const climz_reader *r) {
    const cz_dataset *ds = r->ds;
    json_t *root = json_object();
    json_t *dims = json_array();
    for (int d = 0; d < ds->ndims; d++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(ds->dims[d].name));
        json_object_set_new(o, "len", json_integer((json_int_t)ds->dims[d].len));
        json_object_set_new(o, "unlimited", json_boolean(ds->dims[d].unlimited));
        json_array_append_new(dims, o);
    }
    json_object_set_new(root, "dims", dims);
    json_object_set_new(root, "time_dim", r->tdim >= 0 ? json_string(ds->dims[r->tdim].name) : json_null());
    json_object_set_new(root, "attributes", attrs_json(ds->gatts, ds->ngatts));
    json_t *groups = json_array();
    for (int g = 0; g < ds->ngroups; g++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(ds->groups[g].name));
        json_object_set_new(o, "attributes", attrs_json(ds->groups[g].atts, ds->groups[g].natts));
        json_array_append_new(groups, o);
    }
    json_object_set_new(root, "groups", groups);
    json_t *vars = json_array();
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *v = &ds->vars[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(v->name));
        json_object_set_new(o, "type", json_string(cz_dtype_name(v->type)));
        json_t *vd = json_array();
        for (int d = 0; d < v->ndims; d++) json_array_append_new(vd, json_string(ds->dims[v->dimids[d]].name));
        json_object_set_new(o, "dims", vd);
        json_object_set_new(o, "attributes", attrs_json(v->atts, v->natts));
        json_int_t coded = -1;
        for (size_t k = 0; k < r->nvars; k++)
            if (json_integer_value(json_object_get(r->entry[k], "index")) == i) coded = (json_int_t)k;
        json_object_set_new(o, "coded", json_integer(coded));
        json_object_set_new(o, "time_axis", json_boolean(r->tdim >= 0 && v->ndims > 0 && v->dimids[0] == r->tdim));
        json_array_append_new(vars, o);
    }
    json_object_set_new(root, "variables", vars);
    json_object_set_new(root, "header", json_incref(r->header));
    return root;
}

climz_status climz_reader_schema_json(climz_ctx *ctx, const climz_reader *r, char **json) {
    if (!ctx || !json) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    *json = NULL;
    if (!r) return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "no reader"));
    json_t *root = schema_json(r);
    *json = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return api_fail(ctx, *json ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory"));
}

/* Decodes steps [t0, t0 + nt) of coded variable k into dst in its stored type: the field is
 * stored into a shallow copy of the data set whose time dim is cut to nt and whose variable
 * writes into dst, so the bits are those io_store_field() gives climz_decompress_file(). */
static climz_status read_coded(climz_ctx *ctx, const climz_reader *r, size_t k, int vi, int sliced, size_t t0,
                               size_t nt, void *dst) {
    const cz_dataset *ds = r->ds;
    climz_decompress_opts const dopts = {.model = ctx->model};
    cz_field f;
    CZ_FORWARD(api_decode_field(ctx, r->r, ds, r->entry[k], r->tdim, r->tlen, t0, nt, &dopts, &f));
    cz_dataset tmp = *ds;
    tmp.dims = malloc((size_t)ds->ndims * sizeof *tmp.dims);
    tmp.vars = malloc((size_t)ds->nvars * sizeof *tmp.vars);
    climz_status st = CLIMZ_OK;
    if (!tmp.dims || !tmp.vars) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    memcpy(tmp.dims, ds->dims, (size_t)ds->ndims * sizeof *tmp.dims);
    memcpy(tmp.vars, ds->vars, (size_t)ds->nvars * sizeof *tmp.vars);
    if (sliced) tmp.dims[r->tdim].len = nt;
    tmp.lazy = 0;
    tmp.vars[vi].raw = dst;
    st = io_store_field(&tmp, vi, &f);
done:
    free(tmp.dims);
    free(tmp.vars);
    io_field_free(&f);
    return st;
}

climz_status climz_reader_read_stored(climz_ctx *ctx, const climz_reader *r, const char *name, size_t t0,
                                      size_t nt, void *dst, size_t cap) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    if (!r || !name || !dst) return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "no reader, name or buffer"));
    const cz_dataset *ds = r->ds;
    int const vi = io_find_var(ds, name);
    if (vi < 0) return api_fail(ctx, cz_error(CLIMZ_ERR_NOT_FOUND, "no variable '%s' in the file", name));
    const cz_var *v = &ds->vars[vi];
    if (v->type == CZ_T_STRING)
        return api_fail(ctx, cz_error(CLIMZ_ERR_UNSUPPORTED, "variable '%s' holds strings", name));
    int const sliced = r->tdim >= 0 && v->ndims > 0 && v->dimids[0] == r->tdim;
    size_t const count = io_var_count(ds, v), es = cz_dtype_size(v->type);
    size_t const len = sliced ? r->tlen : 1, per_t = len ? count / len : 0;
    if (nt == 0 && t0 == 0) nt = len;
    if (t0 >= len || nt > len - t0)
        return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "variable '%s': steps %zu..%zu asked for, it has %zu%s",
                                      name, t0, t0 + (nt ? nt : 1) - 1, len, sliced ? "" : " (no time axis)"));
    size_t const bytes = nt * per_t * es;
    if (cap < bytes)
        return api_fail(ctx, cz_error(CLIMZ_ERR_DST_TOO_SMALL, "variable '%s': %zu bytes needed, %zu given", name,
                                      bytes, cap));
    if (v->raw) {
        memcpy(dst, (const uint8_t *)v->raw + t0 * per_t * es, bytes);
        return CLIMZ_OK;
    }
    for (size_t k = 0; k < r->nvars; k++)
        if (json_integer_value(json_object_get(r->entry[k], "index")) == vi) {
            climz_status const st = read_coded(ctx, r, k, vi, sliced, t0, nt, dst);
            if (st) cz_error_prefix(st, "variable '%s'", name);
            return api_fail(ctx, st);
        }
    return api_fail(ctx, cz_error(CLIMZ_ERR_CORRUPT, "variable '%s' has neither values nor chunks", name));
}
