/* io_dataset.c — the data set itself: types, builders, variable lookup, freeing.
 * See dataset.h, READ ME FIRST. */
#include "io/io_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- types --------------------------------------------------------------------------- */

size_t cz_dtype_size(cz_dtype t) {
    switch (t) {
    case CZ_T_I8: case CZ_T_U8: case CZ_T_CHAR: return 1;
    case CZ_T_I16: case CZ_T_U16: return 2;
    case CZ_T_I32: case CZ_T_U32: case CZ_T_F32: return 4;
    case CZ_T_I64: case CZ_T_U64: case CZ_T_F64: return 8;
    case CZ_T_STRING: return sizeof(char *);
    case CZ_T_NONE: break;
    }
    return 0;
}

const char *cz_dtype_name(cz_dtype t) {
    switch (t) {
    case CZ_T_I8: return "byte";
    case CZ_T_U8: return "ubyte";
    case CZ_T_I16: return "short";
    case CZ_T_U16: return "ushort";
    case CZ_T_I32: return "int";
    case CZ_T_U32: return "uint";
    case CZ_T_I64: return "int64";
    case CZ_T_U64: return "uint64";
    case CZ_T_F32: return "float";
    case CZ_T_F64: return "double";
    case CZ_T_CHAR: return "char";
    case CZ_T_STRING: return "string";
    case CZ_T_NONE: break;
    }
    return "none";
}

const char *io_format_name(cz_format f) {
    switch (f) {
    case CZ_FMT_NETCDF3: return "netcdf3";
    case CZ_FMT_NETCDF4: return "netcdf4";
    case CZ_FMT_GRIB: return "grib";
    case CZ_FMT_GRADS: return "grads";
    }
    return "unknown";
}

const char *io_base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- builders ------------------------------------------------------------------------ */

climz_status io_dataset_new(cz_dataset **ds) {
    *ds = cz_calloc(1, sizeof **ds);
    CZ_RETURN_IF(!*ds, CLIMZ_ERR_ALLOC, "out of memory");
    return CLIMZ_OK;
}

void io_var_clear(cz_var *v, size_t count) {
    if (v->type == CZ_T_STRING && v->raw)
        for (size_t k = 0; k < count; k++) free(((char **)v->raw)[k]);
    free(v->raw);
    free(v->name);
    io_attrs_free(v->atts, v->natts);
    memset(v, 0, sizeof *v);
}

void io_drop_vars(cz_dataset *ds, const uint8_t *keep) {
    int out = 0;
    for (int i = 0; i < ds->nvars; i++) {
        if (keep[i]) ds->vars[out++] = ds->vars[i];
        else io_var_clear(&ds->vars[i], io_var_count(ds, &ds->vars[i]));
    }
    ds->nvars = out;
}

void io_free(cz_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        /* dims may be inconsistent in a half-built data set: count only when they are valid */
        size_t n = 0;
        if (v->type == CZ_T_STRING && v->raw) n = io_var_count(ds, v);
        io_var_clear(v, n);
    }
    free(ds->vars);
    free(ds->data_path);
    for (int i = 0; i < ds->ndims; i++) free(ds->dims[i].name);
    free(ds->dims);
    io_attrs_free(ds->gatts, ds->ngatts);
    for (int i = 0; i < ds->ngroups; i++) {
        free(ds->groups[i].name);
        io_attrs_free(ds->groups[i].atts, ds->groups[i].natts);
    }
    free(ds->groups);
    if (ds->source && ds->source->close) ds->source->close(ds->source_ctx);
    free(ds->path);
    free(ds);
}

int io_find_var(const cz_dataset *ds, const char *name) {
    for (int i = 0; i < ds->nvars; i++)
        if (strcmp(ds->vars[i].name, name) == 0) return i;
    return -1;
}

size_t io_var_count(const cz_dataset *ds, const cz_var *v) {
    size_t n = 1;
    for (int d = 0; d < v->ndims; d++) {
        if (v->dimids[d] < 0 || v->dimids[d] >= ds->ndims) return 0;
        if (!cz_mul_ok(n, ds->dims[v->dimids[d]].len, &n)) return 0;
    }
    return n;
}

climz_status io_dim_add(cz_dataset *ds, const char *name, size_t len, int unlimited, int *id) {
    cz_dim *d = cz_realloc(ds->dims, ((size_t)ds->ndims + 1) * sizeof *d);
    CZ_RETURN_IF(!d, CLIMZ_ERR_ALLOC, "out of memory");
    ds->dims = d;
    char *n = cz_strdup(name);
    CZ_RETURN_IF(!n, CLIMZ_ERR_ALLOC, "out of memory");
    d[ds->ndims] = (cz_dim){n, len, unlimited};
    if (id) *id = ds->ndims;
    ds->ndims++;
    return CLIMZ_OK;
}

climz_status io_var_add(cz_dataset *ds, const char *name, cz_dtype type, int ndims,
                        const int *dimids, int *idx) {
    CZ_RETURN_IF(ndims < 0 || ndims > CZ_MAX_DIMS, CLIMZ_ERR_UNSUPPORTED,
                 "variable %s has %d dimensions (at most %d supported)", name, ndims, CZ_MAX_DIMS);
    for (int d = 0; d < ndims; d++)
        CZ_RETURN_IF(dimids[d] < 0 || dimids[d] >= ds->ndims, CLIMZ_ERR_INVALID_ARG,
                     "variable %s: dimension id %d out of range", name, dimids[d]);
    cz_var *v = cz_realloc(ds->vars, ((size_t)ds->nvars + 1) * sizeof *v);
    CZ_RETURN_IF(!v, CLIMZ_ERR_ALLOC, "out of memory");
    ds->vars = v;
    cz_var *nv = &v[ds->nvars];
    memset(nv, 0, sizeof *nv);
    nv->name = cz_strdup(name);
    CZ_RETURN_IF(!nv->name, CLIMZ_ERR_ALLOC, "out of memory");
    nv->type = type;
    nv->ndims = ndims;
    for (int d = 0; d < ndims; d++) nv->dimids[d] = dimids[d];
    nv->scale = 1;
    if (idx) *idx = ds->nvars;
    ds->nvars++;
    return CLIMZ_OK;
}

climz_status io_group_add(cz_dataset *ds, const char *path, int *idx) {
    cz_group *g = cz_realloc(ds->groups, ((size_t)ds->ngroups + 1) * sizeof *g);
    CZ_RETURN_IF(!g, CLIMZ_ERR_ALLOC, "out of memory");
    ds->groups = g;
    char *n = cz_strdup(path);
    CZ_RETURN_IF(!n, CLIMZ_ERR_ALLOC, "out of memory");
    g[ds->ngroups] = (cz_group){n, NULL, 0};
    if (idx) *idx = ds->ngroups;
    ds->ngroups++;
    return CLIMZ_OK;
}
