/* io_dataset.c — the data model: builders, attributes, classification of variables, exact
 * missing values (specials), and the float32 field view (io_load_field / io_store_field).
 * See dataset.h, READ ME FIRST. */
#include "io/io_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static int is_numeric(cz_dtype t) { return t >= CZ_T_I8 && t <= CZ_T_F64; }
static int is_float(cz_dtype t) { return t == CZ_T_F32 || t == CZ_T_F64; }

const char *io_base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- element access: bits (host order, in a uint64) and numeric value ------------------ */

static uint64_t elem_bits(const void *p, size_t i, size_t es) {
    const uint8_t *b = (const uint8_t *)p + i * es;
    switch (es) {
    case 1: return b[0];
    case 2: { uint16_t v; memcpy(&v, b, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, b, 4); return v; }
    default: { uint64_t v; memcpy(&v, b, 8); return v; }
    }
}

static void put_bits(void *p, size_t i, size_t es, uint64_t bits) {
    uint8_t *b = (uint8_t *)p + i * es;
    switch (es) {
    case 1: b[0] = (uint8_t)bits; break;
    case 2: { uint16_t v = (uint16_t)bits; memcpy(b, &v, 2); break; }
    case 4: { uint32_t v = (uint32_t)bits; memcpy(b, &v, 4); break; }
    default: memcpy(b, &bits, 8); break;
    }
}

static double elem_value(const void *p, size_t i, cz_dtype t) {
    const uint8_t *b = (const uint8_t *)p;
    switch (t) {
    case CZ_T_I8: return ((const int8_t *)b)[i];
    case CZ_T_U8: case CZ_T_CHAR: return b[i];
    case CZ_T_I16: { int16_t v; memcpy(&v, b + 2 * i, 2); return v; }
    case CZ_T_U16: { uint16_t v; memcpy(&v, b + 2 * i, 2); return v; }
    case CZ_T_I32: { int32_t v; memcpy(&v, b + 4 * i, 4); return v; }
    case CZ_T_U32: { uint32_t v; memcpy(&v, b + 4 * i, 4); return v; }
    case CZ_T_I64: { int64_t v; memcpy(&v, b + 8 * i, 8); return (double)v; }
    case CZ_T_U64: { uint64_t v; memcpy(&v, b + 8 * i, 8); return (double)v; }
    case CZ_T_F32: { float v; memcpy(&v, b + 4 * i, 4); return v; }
    case CZ_T_F64: { double v; memcpy(&v, b + 8 * i, 8); return v; }
    default: return 0;
    }
}

static int bits_is_nan(uint64_t bits, cz_dtype t) {
    if (t == CZ_T_F32) return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffffu) != 0;
    if (t == CZ_T_F64)
        return (bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull &&
               (bits & 0x000fffffffffffffull) != 0;
    return 0;
}

/* range of an integer type as doubles */
static void int_range(cz_dtype t, double *lo, double *hi) {
    switch (t) {
    case CZ_T_I8: *lo = -128; *hi = 127; break;
    case CZ_T_U8: *lo = 0; *hi = 255; break;
    case CZ_T_I16: *lo = -32768; *hi = 32767; break;
    case CZ_T_U16: *lo = 0; *hi = 65535; break;
    case CZ_T_I32: *lo = -2147483648.0; *hi = 2147483647.0; break;
    case CZ_T_U32: *lo = 0; *hi = 4294967295.0; break;
    case CZ_T_I64: *lo = -0x1p63; *hi = 0x1p63; break; /* hi exclusive: see to_bits */
    case CZ_T_U64: *lo = 0; *hi = 0x1p64; break;
    default: *lo = -INFINITY; *hi = INFINITY; break;
    }
}

/* The stored bits of numeric value d in type t, rounding to nearest and clamping integers.
 * exact (may be NULL) says whether d was representable as it is. */
static uint64_t to_bits(double d, cz_dtype t, int *exact) {
    if (exact) *exact = 1;
    if (t == CZ_T_F32) {
        float const f = (float)d;
        uint32_t u;
        memcpy(&u, &f, 4);
        if (exact && !isnan(d) && (double)f != d) *exact = 0;
        return u;
    }
    if (t == CZ_T_F64) {
        uint64_t u;
        memcpy(&u, &d, 8);
        return u;
    }
    double lo, hi;
    int_range(t, &lo, &hi);
    double r = isnan(d) ? 0 : round(d);
    if (exact && (r != d)) *exact = 0;
    if (r < lo) {
        r = lo;
        if (exact) *exact = 0;
    }
    if (t == CZ_T_I64 || t == CZ_T_U64) {
        if (r >= hi) { /* 2^63 / 2^64 are not representable */
            if (exact) *exact = 0;
            return t == CZ_T_I64 ? (uint64_t)INT64_MAX : UINT64_MAX;
        }
    } else if (r > hi) {
        r = hi;
        if (exact) *exact = 0;
    }
    if (t == CZ_T_U64 || t == CZ_T_U32 || t == CZ_T_U16 || t == CZ_T_U8) return (uint64_t)r;
    return (uint64_t)(int64_t)r; /* two's complement, truncated by put_bits */
}

/* ---- builders ------------------------------------------------------------------------ */

climz_status io_dataset_new(cz_dataset **ds) {
    *ds = cz_calloc(1, sizeof **ds);
    CZ_RETURN_IF(!*ds, CLIMZ_ERR_ALLOC, "out of memory");
    return CLIMZ_OK;
}

static void attr_data_free(cz_attr *a) {
    if (a->type == CZ_T_STRING && a->data)
        for (size_t k = 0; k < a->len; k++) free(((char **)a->data)[k]);
    free(a->data);
    a->data = NULL;
}

void io_attrs_free(cz_attr *a, int n) {
    for (int i = 0; i < n; i++) {
        attr_data_free(&a[i]);
        free(a[i].name);
    }
    free(a);
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

/* ---- attributes ---------------------------------------------------------------------- */

climz_status io_attr_set(cz_attr **atts, int *natts, const char *name, cz_dtype type, size_t len,
                         const void *data) {
    size_t const es = cz_dtype_size(type);
    CZ_RETURN_IF(es == 0, CLIMZ_ERR_INVALID_ARG, "attribute %s: no type", name);
    CZ_RETURN_IF(len && !data, CLIMZ_ERR_INVALID_ARG, "attribute %s: no data", name);
    size_t bytes;
    CZ_RETURN_IF(!cz_mul_ok(len, es, &bytes) || bytes > SIZE_MAX - 8, CLIMZ_ERR_ALLOC,
                 "attribute %s too large", name);
    /* CHAR: one more byte for the NUL; never a zero-size allocation */
    void *copy = cz_calloc(1, bytes + 1);
    CZ_RETURN_IF(!copy, CLIMZ_ERR_ALLOC, "out of memory");
    if (type == CZ_T_STRING) {
        for (size_t k = 0; k < len; k++) {
            const char *s = ((const char *const *)data)[k];
            char *c = cz_strdup(s ? s : "");
            if (!c) {
                for (size_t j = 0; j < k; j++) free(((char **)copy)[j]);
                free(copy);
                return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
            }
            ((char **)copy)[k] = c;
        }
    } else if (bytes) {
        memcpy(copy, data, bytes);
    }
    for (int i = 0; i < *natts; i++) {
        if (strcmp((*atts)[i].name, name) == 0) {
            attr_data_free(&(*atts)[i]);
            (*atts)[i].type = type;
            (*atts)[i].len = len;
            (*atts)[i].data = copy;
            return CLIMZ_OK;
        }
    }
    char *n = cz_strdup(name);
    cz_attr *a = n ? cz_realloc(*atts, ((size_t)*natts + 1) * sizeof *a) : NULL;
    if (!a) {
        cz_attr tmp = {NULL, type, len, copy};
        attr_data_free(&tmp);
        free(n);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    a[*natts] = (cz_attr){n, type, len, copy};
    *atts = a;
    (*natts)++;
    return CLIMZ_OK;
}

const cz_attr *io_attr_find(const cz_attr *atts, int natts, const char *name) {
    for (int i = 0; i < natts; i++)
        if (strcmp(atts[i].name, name) == 0) return &atts[i];
    return NULL;
}

const char *io_attr_text(const cz_attr *atts, int natts, const char *name) {
    const cz_attr *a = io_attr_find(atts, natts, name);
    if (!a) return NULL;
    if (a->type == CZ_T_CHAR) return (const char *)a->data;
    if (a->type == CZ_T_STRING && a->len == 1) return ((char *const *)a->data)[0];
    return NULL;
}

int io_attr_number(const cz_attr *a, size_t i, double *out) {
    if (!a || !is_numeric(a->type) || i >= a->len) return 0;
    *out = elem_value(a->data, i, a->type);
    return 1;
}

climz_status io_attr_set_text(cz_attr **atts, int *natts, const char *name, const char *s) {
    return io_attr_set(atts, natts, name, CZ_T_CHAR, strlen(s), s);
}
climz_status io_attr_set_f64(cz_attr **atts, int *natts, const char *name, double v) {
    return io_attr_set(atts, natts, name, CZ_T_F64, 1, &v);
}
climz_status io_attr_set_f32(cz_attr **atts, int *natts, const char *name, float v) {
    return io_attr_set(atts, natts, name, CZ_T_F32, 1, &v);
}
climz_status io_attr_set_i32(cz_attr **atts, int *natts, const char *name, int32_t v) {
    return io_attr_set(atts, natts, name, CZ_T_I32, 1, &v);
}

/* ---- classification ------------------------------------------------------------------ */

static int name_in(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcasecmp(s, *list) == 0) return 1;
    return 0;
}

/* does the text s contain word w (case-insensitive), as a whole word */
static int has_word(const char *s, const char *w) {
    size_t const n = strlen(w);
    for (const char *p = s; *p; p++) {
        if (strncasecmp(p, w, n) == 0 && (p == s || !isalnum((unsigned char)p[-1])) &&
            !isalnum((unsigned char)p[n]))
            return 1;
    }
    return 0;
}

static cz_axis axis_of(const cz_var *v) {
    const char *a = io_attr_text(v->atts, v->natts, "axis");
    if (a) {
        if (!strcasecmp(a, "T")) return CZ_AXIS_T;
        if (!strcasecmp(a, "Z")) return CZ_AXIS_Z;
        if (!strcasecmp(a, "Y")) return CZ_AXIS_Y;
        if (!strcasecmp(a, "X")) return CZ_AXIS_X;
    }
    static const char *const north[] = {"degrees_north", "degree_north", "degree_N", "degrees_N",
                                        "degreeN", "degreesN", NULL};
    static const char *const east[] = {"degrees_east", "degree_east", "degree_E", "degrees_E",
                                       "degreeE", "degreesE", NULL};
    static const char *const zunits[] = {"Pa", "hPa", "kPa", "mb", "mbar", "millibar", "millibars",
                                         "bar", "atm", "level", "layer", "sigma", "sigma_level",
                                         "hybrid_sigma_pressure", NULL};
    const char *u = io_attr_text(v->atts, v->natts, "units");
    if (u) {
        if (has_word(u, "since")) return CZ_AXIS_T;
        if (name_in(u, north)) return CZ_AXIS_Y;
        if (name_in(u, east)) return CZ_AXIS_X;
        if (name_in(u, zunits)) return CZ_AXIS_Z;
    }
    const char *pos = io_attr_text(v->atts, v->natts, "positive");
    if (pos && (!strcasecmp(pos, "up") || !strcasecmp(pos, "down"))) return CZ_AXIS_Z;
    const char *sn = io_attr_text(v->atts, v->natts, "standard_name");
    if (sn) {
        static const char *const zsn[] = {"air_pressure", "height", "depth", "altitude",
                                          "model_level_number", NULL};
        if (!strcasecmp(sn, "time")) return CZ_AXIS_T;
        if (!strcasecmp(sn, "latitude") || !strcasecmp(sn, "grid_latitude")) return CZ_AXIS_Y;
        if (!strcasecmp(sn, "longitude") || !strcasecmp(sn, "grid_longitude")) return CZ_AXIS_X;
        if (name_in(sn, zsn) || !strncasecmp(sn, "atmosphere_", 11) || !strncasecmp(sn, "ocean_", 6))
            return CZ_AXIS_Z;
    }
    const char *ct = io_attr_text(v->atts, v->natts, "_CoordinateAxisType");
    if (ct) {
        if (!strcasecmp(ct, "Time")) return CZ_AXIS_T;
        if (!strcasecmp(ct, "Lat")) return CZ_AXIS_Y;
        if (!strcasecmp(ct, "Lon")) return CZ_AXIS_X;
        if (!strcasecmp(ct, "Height") || !strcasecmp(ct, "Pressure") || !strcasecmp(ct, "GeoZ"))
            return CZ_AXIS_Z;
    }
    static const char *const tn[] = {"time", "t", "times", "date", NULL};
    static const char *const yn[] = {"lat", "latitude", "y", "rlat", "yc", "nlat", "south_north", NULL};
    static const char *const xn[] = {"lon", "longitude", "x", "rlon", "xc", "nlon", "west_east", NULL};
    static const char *const zn[] = {"lev", "level", "levels", "plev", "height", "depth", "z",
                                     "zlev", "ilev", "pressure", "isobaric", "bottom_top", NULL};
    const char *b = io_base_name(v->name);
    if (name_in(b, tn)) return CZ_AXIS_T;
    if (name_in(b, yn)) return CZ_AXIS_Y;
    if (name_in(b, xn)) return CZ_AXIS_X;
    if (name_in(b, zn)) return CZ_AXIS_Z;
    return CZ_AXIS_NONE;
}

/* the coordinate variable of dim d (1-D, same name), or -1 */
static int coord_var_of_dim(const cz_dataset *ds, int d) {
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *v = &ds->vars[i];
        if (v->ndims == 1 && v->dimids[0] == d && strcmp(v->name, ds->dims[d].name) == 0) return i;
    }
    return -1;
}

/* axis of dim d: from its coordinate variable, else from its name */
static cz_axis dim_axis(const cz_dataset *ds, int d) {
    int const c = coord_var_of_dim(ds, d);
    if (c >= 0) return axis_of(&ds->vars[c]);
    cz_var tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.name = ds->dims[d].name;
    return axis_of(&tmp);
}

int io_var_has_time(const cz_dataset *ds, const cz_var *v) {
    if (v->ndims < 3) return 0; /* the last two dims are the grid */
    int const d = v->dimids[0];
    int const c = coord_var_of_dim(ds, d);
    if (c >= 0) return axis_of(&ds->vars[c]) == CZ_AXIS_T;
    if (ds->dims[d].unlimited) return 1;
    return dim_axis(ds, d) == CZ_AXIS_T;
}

/* the variable named `name` as seen from variable `from` (same group first, then root) */
static int resolve_name(const cz_dataset *ds, const cz_var *from, const char *name, size_t n) {
    char buf[512];
    const char *slash = strrchr(from->name, '/');
    size_t const plen = slash ? (size_t)(slash - from->name) + 1 : 0;
    if (plen + n + 1 > sizeof buf) return -1;
    memcpy(buf, from->name, plen);
    memcpy(buf + plen, name, n);
    buf[plen + n] = 0;
    int i = io_find_var(ds, buf);
    if (i < 0 && plen) {
        memcpy(buf, name, n);
        buf[n] = 0;
        i = io_find_var(ds, buf);
    }
    return i;
}

/* marks every variable named in the blank-separated list attribute attr of v as auxiliary */
static void mark_named(cz_dataset *ds, const cz_var *v, const char *attr) {
    const char *s = io_attr_text(v->atts, v->natts, attr);
    if (!s) return;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\n') s++;
        size_t n = 0;
        while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\n') n++;
        if (n) {
            int const i = resolve_name(ds, v, s, n);
            if (i >= 0 && &ds->vars[i] != v) ds->vars[i].is_coord = 1;
        }
        s += n;
    }
}

/* a 2-D latitude (want Y) or longitude (X) variable on dims (dy, dx), or -1 */
static int curvilinear_coord(const cz_dataset *ds, const cz_var *v, int dy, int dx, cz_axis want) {
    /* names in the variable's coordinates attribute first, then any variable on (dy, dx) */
    const char *s = io_attr_text(v->atts, v->natts, "coordinates");
    while (s && *s) {
        while (*s == ' ') s++;
        size_t n = 0;
        while (s[n] && s[n] != ' ') n++;
        if (n) {
            int const i = resolve_name(ds, v, s, n);
            if (i >= 0) {
                const cz_var *c = &ds->vars[i];
                if (c->ndims == 2 && c->dimids[0] == dy && c->dimids[1] == dx && axis_of(c) == want)
                    return i;
            }
        }
        s += n;
    }
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *c = &ds->vars[i];
        if (c != v && c->ndims == 2 && c->dimids[0] == dy && c->dimids[1] == dx &&
            is_numeric(c->type) && axis_of(c) == want)
            return i;
    }
    return -1;
}

void io_classify(cz_dataset *ds) {
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        v->is_grid = v->is_coord = 0;
        v->axis = CZ_AXIS_NONE;
        v->packed = 0;
        v->scale = 1;
        v->offset = 0;
    }
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        if (v->ndims == 1 && strcmp(v->name, ds->dims[v->dimids[0]].name) == 0) v->is_coord = 1;
        mark_named(ds, v, "bounds");
        mark_named(ds, v, "climatology");
        mark_named(ds, v, "coordinates");
    }
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        /* bounds-like: a last dim of length 2 that is no coordinate axis (nb2, bnds) */
        if (!v->is_coord && v->ndims >= 2) {
            int const d = v->dimids[v->ndims - 1];
            if (ds->dims[d].len == 2 && coord_var_of_dim(ds, d) < 0 &&
                dim_axis(ds, d) == CZ_AXIS_NONE)
                v->is_coord = 1;
        }
        if (v->is_coord) v->axis = axis_of(v);
    }
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        if (is_numeric(v->type) && !is_float(v->type)) {
            const cz_attr *sf = io_attr_find(v->atts, v->natts, "scale_factor");
            const cz_attr *ao = io_attr_find(v->atts, v->natts, "add_offset");
            double s = 1, o = 0;
            int const hs = io_attr_number(sf, 0, &s), ho = io_attr_number(ao, 0, &o);
            if ((hs || ho) && s != 0 && isfinite(s) && isfinite(o)) {
                v->packed = 1;
                v->scale = s;
                v->offset = o;
            }
        }
        if (v->is_coord || v->ndims < 2 || !is_numeric(v->type)) continue;
        int const dy = v->dimids[v->ndims - 2], dx = v->dimids[v->ndims - 1];
        int grid = dim_axis(ds, dy) == CZ_AXIS_Y && dim_axis(ds, dx) == CZ_AXIS_X;
        if (!grid)
            grid = curvilinear_coord(ds, v, dy, dx, CZ_AXIS_Y) >= 0 &&
                   curvilinear_coord(ds, v, dy, dx, CZ_AXIS_X) >= 0;
        v->is_grid = grid;
    }
}

/* ---- specials ------------------------------------------------------------------------ */

/* netCDF default fill values (netcdf.h NC_FILL_*) as stored bits, 0 = none used for that
 * type (bytes: the NUG says byte default fills are not to be treated as missing) */
static int default_fill_bits(cz_dtype t, uint64_t *bits) {
    switch (t) {
    case CZ_T_I16: *bits = 0x8001u; return 1;                /* -32767 */
    case CZ_T_U16: *bits = 0xffffu; return 1;                /* 65535 */
    case CZ_T_I32: *bits = 0x80000001u; return 1;            /* -2147483647 */
    case CZ_T_U32: *bits = 0xffffffffu; return 1;            /* 4294967295 */
    case CZ_T_I64: *bits = 0x8000000000000002ull; return 1;  /* -9223372036854775806 */
    case CZ_T_U64: *bits = 0xfffffffffffffffeull; return 1;  /* 18446744073709551614 */
    case CZ_T_F32: { float const f = 9.9692099683868690e+36f; uint32_t u; memcpy(&u, &f, 4); *bits = u; return 1; }
    case CZ_T_F64: { double const d = 9.9692099683868690e+36; memcpy(bits, &d, 8); return 1; }
    default: return 0;
    }
}

static int bl_find(const io_bitlist *l, uint64_t b) {
    for (int i = 0; i < l->n; i++)
        if (l->b[i] == b) return i;
    return -1;
}
static void bl_add(io_bitlist *l, uint64_t b) {
    if (l->n < CZ_MAX_SPECIALS && bl_find(l, b) < 0) l->b[l->n++] = b;
}

/* the declared value(s) of attribute name as stored bits of type t */
static void add_declared(io_bitlist *l, const cz_var *v, const char *name) {
    const cz_attr *a = io_attr_find(v->atts, v->natts, name);
    if (!a || !is_numeric(a->type)) return;
    size_t const es = cz_dtype_size(v->type);
    for (size_t k = 0; k < a->len; k++) {
        if (a->type == v->type) {
            bl_add(l, elem_bits(a->data, k, es));
            continue;
        }
        int exact;
        uint64_t const b = to_bits(elem_value(a->data, k, a->type), v->type, &exact);
        if (exact) bl_add(l, es == 8 ? b : b & ((1ull << (8 * es)) - 1));
    }
}

void io_scan_begin(io_scan *s, const cz_var *v, int use_default_fill) {
    memset(s, 0, sizeof *s);
    s->type = v->type;
    if (!is_numeric(v->type)) return;
    s->es = cz_dtype_size(v->type);
    add_declared(&s->sp, v, "_FillValue");
    add_declared(&s->sp, v, "missing_value");
    s->want_dfill = use_default_fill && !io_attr_find(v->atts, v->natts, "_FillValue") &&
                    default_fill_bits(v->type, &s->dfill) && bl_find(&s->sp, s->dfill) < 0;
    s->lo = -INFINITY, s->hi = INFINITY;
    const cz_attr *vr = io_attr_find(v->atts, v->natts, "valid_range");
    if (vr && vr->len == 2 && io_attr_number(vr, 0, &s->lo) && io_attr_number(vr, 1, &s->hi)) {
        s->has_range = 1;
    } else {
        s->has_range |= io_attr_number(io_attr_find(v->atts, v->natts, "valid_min"), 0, &s->lo);
        s->has_range |= io_attr_number(io_attr_find(v->atts, v->natts, "valid_max"), 0, &s->hi);
    }
    if (s->has_range && (isnan(s->lo) || isnan(s->hi))) s->has_range = 0;
    /* CF: valid_* of a packed variable are packed values, unless given in the unpacked
     * (floating-point) type; then compare unpacked values */
    const cz_attr *va = vr ? vr : io_attr_find(v->atts, v->natts, "valid_min");
    if (!va) va = io_attr_find(v->atts, v->natts, "valid_max");
    if (v->packed && va && va->type != v->type && is_float(va->type)) {
        s->unpack = 1;
        s->scale = v->scale, s->offset = v->offset;
    }
}

void io_scan_chunk(io_scan *s, const void *data, size_t n) {
    if (!is_numeric(s->type)) return;
    int const fl = is_float(s->type);
    for (size_t i = 0; i < n; i++) {
        uint64_t const b = elem_bits(data, i, s->es);
        if (bl_find(&s->sp, b) >= 0) continue;
        if (fl && bits_is_nan(b, s->type)) {
            bl_add(&s->nans, b); /* payloads beyond the slots are folded onto the first */
            continue;
        }
        if (s->want_dfill && b == s->dfill) {
            s->dfill_found = 1;
            continue;
        }
        if (s->has_range && !s->oor_overflow) {
            double x = elem_value(data, i, s->type);
            if (s->unpack) x = x * s->scale + s->offset;
            if ((x < s->lo || x > s->hi) && bl_find(&s->oor, b) < 0) {
                if (s->oor.n == CZ_MAX_SPECIALS) s->oor_overflow = 1;
                else s->oor.b[s->oor.n++] = b;
            }
        }
    }
}

void io_scan_end(io_scan *s, cz_var *v) {
    io_bitlist sp = s->sp;
    if (s->dfill_found) bl_add(&sp, s->dfill);
    for (int k = 0; k < s->nans.n; k++) bl_add(&sp, s->nans.b[k]);
    if (!s->oor_overflow && s->oor.n <= CZ_MAX_SPECIALS - sp.n)
        for (int k = 0; k < s->oor.n; k++) bl_add(&sp, s->oor.b[k]);
    memset(v->specials, 0, sizeof v->specials);
    v->nspecials = sp.n;
    for (int k = 0; k < sp.n; k++) cz_store_le64(v->specials[k], sp.b[k]);
}

climz_status io_scan_specials(cz_dataset *ds, int vi, int use_default_fill) {
    CZ_RETURN_IF(vi < 0 || vi >= ds->nvars, CLIMZ_ERR_INVALID_ARG, "no variable %d", vi);
    cz_var *v = &ds->vars[vi];
    io_scan s;
    io_scan_begin(&s, v, use_default_fill);
    if (v->raw) io_scan_chunk(&s, v->raw, io_var_count(ds, v));
    io_scan_end(&s, v);
    return CLIMZ_OK;
}

climz_status io_find_specials(cz_dataset *ds, int var) { return io_scan_specials(ds, var, 1); }

/* ---- the float32 field view ------------------------------------------------------------- */

climz_status io_field_shape(const cz_dataset *ds, int var, size_t *nt, size_t *nz, size_t *ny,
                            size_t *nx) {
    CZ_RETURN_IF(var < 0 || var >= ds->nvars, CLIMZ_ERR_INVALID_ARG, "no variable number %d", var);
    const cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(!v->is_grid || v->ndims < 2, CLIMZ_ERR_UNSUPPORTED,
                 "variable '%s' is not a gridded data variable (its last two dimensions are not "
                 "latitude and longitude)", v->name);
    int const ht = io_var_has_time(ds, v);
    size_t z = 1;
    for (int d = ht; d < v->ndims - 2; d++)
        CZ_RETURN_IF(!cz_mul_ok(z, ds->dims[v->dimids[d]].len, &z), CLIMZ_ERR_DIMENSION,
                     "variable '%s' is too large", v->name);
    *nt = ht ? ds->dims[v->dimids[0]].len : 1;
    *nz = z;
    *ny = ds->dims[v->dimids[v->ndims - 2]].len;
    *nx = ds->dims[v->dimids[v->ndims - 1]].len;
    return CLIMZ_OK;
}

void io_field_free(cz_field *f) {
    if (!f) return;
    free(f->values);
    free(f->miss);
    free(f->lat);
    free(f->lon);
    memset(f, 0, sizeof *f);
}

static int is_lat_like(const cz_var *c) {
    const char *u = io_attr_text(c->atts, c->natts, "units");
    const char *sn = io_attr_text(c->atts, c->natts, "standard_name");
    static const char *const n[] = {"lat", "latitude", NULL};
    return (u && !strncasecmp(u, "degree", 6) && axis_of(c) == CZ_AXIS_Y) ||
           (sn && !strcasecmp(sn, "latitude")) || name_in(io_base_name(c->name), n);
}
static int is_lon_like(const cz_var *c) {
    const char *u = io_attr_text(c->atts, c->natts, "units");
    const char *sn = io_attr_text(c->atts, c->natts, "standard_name");
    static const char *const n[] = {"lon", "longitude", NULL};
    return (u && !strncasecmp(u, "degree", 6) && axis_of(c) == CZ_AXIS_X) ||
           (sn && !strcasecmp(sn, "longitude")) || name_in(io_base_name(c->name), n);
}

/* latitudes / longitudes of a field: 1-D coordinate variables in degrees; for a curvilinear
 * grid the mean latitude of each row (weights for metrics) and no longitudes */
static climz_status field_coords(const cz_dataset *ds, const cz_var *v, cz_field *f) {
    int const dy = v->dimids[v->ndims - 2], dx = v->dimids[v->ndims - 1];
    int const cy = coord_var_of_dim(ds, dy), cx = coord_var_of_dim(ds, dx);
    if (cy >= 0 && ds->vars[cy].raw && is_numeric(ds->vars[cy].type) && is_lat_like(&ds->vars[cy])) {
        f->lat = cz_malloc(f->ny * sizeof *f->lat);
        CZ_RETURN_IF(!f->lat, CLIMZ_ERR_ALLOC, "out of memory");
        for (size_t j = 0; j < f->ny; j++) f->lat[j] = elem_value(ds->vars[cy].raw, j, ds->vars[cy].type);
    } else if (cy < 0) {
        int const c = curvilinear_coord(ds, v, dy, dx, CZ_AXIS_Y);
        if (c >= 0 && ds->vars[c].raw && is_lat_like(&ds->vars[c])) {
            f->lat = cz_malloc(f->ny * sizeof *f->lat);
            CZ_RETURN_IF(!f->lat, CLIMZ_ERR_ALLOC, "out of memory");
            for (size_t j = 0; j < f->ny; j++) {
                double s = 0;
                for (size_t i = 0; i < f->nx; i++) s += elem_value(ds->vars[c].raw, j * f->nx + i, ds->vars[c].type);
                f->lat[j] = f->nx ? s / (double)f->nx : 0;
            }
        }
    }
    if (cx >= 0 && ds->vars[cx].raw && is_numeric(ds->vars[cx].type) && is_lon_like(&ds->vars[cx])) {
        f->lon = cz_malloc(f->nx * sizeof *f->lon);
        CZ_RETURN_IF(!f->lon, CLIMZ_ERR_ALLOC, "out of memory");
        for (size_t i = 0; i < f->nx; i++) f->lon[i] = elem_value(ds->vars[cx].raw, i, ds->vars[cx].type);
    }
    return CLIMZ_OK;
}

climz_status io_field_coords(const cz_dataset *ds, int var, cz_field *f) {
    CZ_RETURN_IF(var < 0 || var >= ds->nvars || ds->vars[var].ndims < 2, CLIMZ_ERR_INVALID_ARG,
                 "variable %d has no horizontal grid", var);
    return field_coords(ds, &ds->vars[var], f);
}

/* n stored values at raw -> float32 values + missing codes (see READ ME FIRST) */
static void convert(const cz_var *v, const void *raw, size_t n, float *values, uint8_t *miss) {
    size_t const es = cz_dtype_size(v->type);
    int const ns = v->nspecials;
    uint64_t sp[CZ_MAX_SPECIALS];
    int first_nan = -1;
    for (int k = 0; k < ns; k++) {
        sp[k] = cz_load_le64(v->specials[k]);
        if (first_nan < 0 && bits_is_nan(sp[k], v->type)) first_nan = k;
    }
    if (v->type == CZ_T_F32) { /* the common case, without the per-element type switch */
        const uint32_t *r = raw;
        for (size_t i = 0; i < n; i++) {
            uint32_t const b = r[i];
            int k = 0;
            while (k < ns && b != (uint32_t)sp[k]) k++;
            if (k == ns && first_nan >= 0 && bits_is_nan(b, CZ_T_F32)) k = first_nan;
            if (k < ns) {
                miss[i] = (uint8_t)(k + 1);
                values[i] = 0;
            } else {
                miss[i] = 0;
                memcpy(&values[i], &b, 4);
            }
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t const b = elem_bits(raw, i, es);
        int k = 0;
        while (k < ns && b != sp[k]) k++;
        if (k == ns && first_nan >= 0 && bits_is_nan(b, v->type)) k = first_nan;
        if (k < ns) {
            miss[i] = (uint8_t)(k + 1);
            values[i] = 0;
            continue;
        }
        double x = elem_value(raw, i, v->type);
        if (v->packed) x = x * v->scale + v->offset;
        miss[i] = 0;
        values[i] = (float)x;
    }
}

climz_status io_load_field_times(const cz_dataset *ds, int var, size_t t0, size_t nt, cz_field *f) {
    memset(f, 0, sizeof *f);
    size_t NT, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, var, &NT, &nz, &ny, &nx));
    const cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(t0 > NT || nt > NT - t0, CLIMZ_ERR_INVALID_ARG,
                 "variable '%s': time steps [%zu, %zu) outside its %zu steps", v->name, t0, t0 + nt, NT);
    CZ_RETURN_IF(!v->raw && !ds->lazy, CLIMZ_ERR_INVALID_ARG, "variable '%s' has no values loaded",
                 v->name);
    size_t plane, n;
    CZ_RETURN_IF(!cz_mul_ok(nz, ny * nx, &plane) || !cz_mul_ok(plane, nt, &n), CLIMZ_ERR_DIMENSION,
                 "variable '%s' is too large", v->name);
    f->nt = nt, f->nz = nz, f->ny = ny, f->nx = nx;
    f->values = cz_malloc((n ? n : 1) * sizeof *f->values);
    f->miss = cz_calloc(n ? n : 1, 1);
    climz_status st = CLIMZ_OK;
    if (!f->values || !f->miss) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", v->name);
    CZ_CHECK_GOTO(st, field_coords(ds, v, f), fail);

    if (v->raw) {
        convert(v, (const uint8_t *)v->raw + t0 * plane * cz_dtype_size(v->type), n, f->values, f->miss);
        return CLIMZ_OK;
    }
    /* a lazily opened data set: read the steps from the file */
    void *buf = cz_malloc((n ? n : 1) * cz_dtype_size(v->type));
    if (!buf) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", v->name);
    st = io_nc_read_steps(ds, var, io_var_has_time(ds, v) ? t0 : 0, io_var_has_time(ds, v) ? nt : 1, buf);
    if (!st) convert(v, buf, n, f->values, f->miss);
    free(buf);
    if (st) goto fail;
    return CLIMZ_OK;
fail:
    io_field_free(f);
    return st;
}

climz_status io_load_field(const cz_dataset *ds, int var, cz_field *f) {
    memset(f, 0, sizeof *f);
    size_t nt, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, var, &nt, &nz, &ny, &nx));
    return io_load_field_times(ds, var, 0, nt, f);
}

static int is_special(const uint64_t *sp, int ns, uint64_t b) {
    for (int k = 0; k < ns; k++)
        if (sp[k] == b) return 1;
    return 0;
}

climz_status io_store_field_times(cz_dataset *ds, int var, size_t t0, const cz_field *f) {
    size_t NT, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, var, &NT, &nz, &ny, &nx));
    cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(f->nz != nz || f->ny != ny || f->nx != nx, CLIMZ_ERR_DIMENSION,
                 "variable '%s': field is %zu x %zu x %zu, the variable %zu x %zu x %zu", v->name,
                 f->nz, f->ny, f->nx, nz, ny, nx);
    CZ_RETURN_IF(t0 > NT || f->nt > NT - t0, CLIMZ_ERR_DIMENSION,
                 "variable '%s': time steps [%zu, %zu) outside its %zu steps", v->name, t0,
                 t0 + f->nt, NT);
    size_t const es = cz_dtype_size(v->type);
    size_t const total = io_var_count(ds, v);
    size_t const plane = nz * ny * nx, n = f->nt * plane;
    CZ_RETURN_IF(n && (!f->values || !f->miss), CLIMZ_ERR_INVALID_ARG, "variable '%s': empty field", v->name);
    if (!v->raw) {
        void *raw = cz_calloc(total ? total : 1, es);
        CZ_RETURN_IF(!raw, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", v->name);
        /* lazily opened: the steps not stored here keep their values from the file */
        if (ds->lazy && total) {
            climz_status const st = io_nc_read_steps(ds, var, 0, io_var_has_time(ds, v) ? NT : 1, raw);
            if (st) {
                free(raw);
                return st;
            }
        }
        v->raw = raw;
    }
    int const ns = v->nspecials;
    uint64_t sp[CZ_MAX_SPECIALS];
    for (int k = 0; k < ns; k++) sp[k] = cz_load_le64(v->specials[k]);
    double lo, hi;
    int_range(v->type, &lo, &hi);
    size_t const base = t0 * plane;
    for (size_t i = 0; i < n; i++) {
        int const m = f->miss[i];
        CZ_RETURN_IF(m > ns, CLIMZ_ERR_INVALID_ARG,
                     "variable '%s': missing-value code %d at point %zu but only %d specials",
                     v->name, m, i, ns);
        if (m) {
            put_bits(v->raw, base + i, es, sp[m - 1]);
            continue;
        }
        float const x = f->values[i];
        uint64_t b;
        if (v->type == CZ_T_F32) {
            float y = x;
            uint32_t u;
            memcpy(&u, &y, 4);
            /* a valid value must never read back as missing: step one ulp away */
            for (int g = 0; g < CZ_MAX_SPECIALS + 1 && is_special(sp, ns, u); g++) {
                y = nextafterf(y, y > 0 ? 0.0f : INFINITY);
                memcpy(&u, &y, 4);
            }
            b = u;
        } else if (v->type == CZ_T_F64) {
            double y = x;
            memcpy(&b, &y, 8);
            for (int g = 0; g < CZ_MAX_SPECIALS + 1 && is_special(sp, ns, b); g++) {
                y = nextafter(y, y > 0 ? 0.0 : INFINITY);
                memcpy(&b, &y, 8);
            }
        } else {
            double d = v->packed ? ((double)x - v->offset) / v->scale : (double)x;
            if (isnan(d)) d = 0;
            double r = round(d);
            if (r < lo) r = lo;
            if (r > hi) r = hi;
            b = to_bits(r, v->type, NULL);
            if (es < 8) b &= (1ull << (8 * es)) - 1;
            /* step one unit away from a special, towards the side of the exact value */
            double const step = d >= r ? 1 : -1;
            for (int g = 0; g < CZ_MAX_SPECIALS + 1 && is_special(sp, ns, b); g++) {
                double nr = r + (g % 2 ? -step : step) * (double)(g / 2 + 1);
                if (nr < lo || nr > hi) continue;
                b = to_bits(nr, v->type, NULL);
                if (es < 8) b &= (1ull << (8 * es)) - 1;
            }
        }
        put_bits(v->raw, base + i, es, b);
    }
    return CLIMZ_OK;
}

climz_status io_store_field(cz_dataset *ds, int var, const cz_field *f) {
    size_t nt, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, var, &nt, &nz, &ny, &nx));
    CZ_RETURN_IF(f->nt != nt, CLIMZ_ERR_DIMENSION, "variable '%s': field has %zu time steps, the "
                 "variable %zu", ds->vars[var].name, f->nt, nt);
    return io_store_field_times(ds, var, 0, f);
}

/* ---- calendar ------------------------------------------------------------------------ */

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar */
int64_t io_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t const era = (y >= 0 ? y : y - 399) / 400;
    unsigned const yoe = (unsigned)(y - era * 400);
    unsigned const doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void io_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t const era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned const doe = (unsigned)(z - era * 146097);
    unsigned const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned const mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}
