/* schema.c — binary schema of a data set (metadata + stored variables); doc/format.md. */
#include "container/schema.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static const uint8_t schema_magic[4] = {'C', 'L', 'Z', 'S'};

#define SCHEMA_PREFIX 16           /* magic, version, compression, reserved, raw size */
#define SCHEMA_MAX_NAME (1u << 16) /* longest name (NetCDF allows 256; group paths more) */
#define SCHEMA_NULL_STR UINT32_MAX /* length of a NULL entry of an NC_STRING array */

enum { SCHEMA_RAW = 0, SCHEMA_ZSTD = 1 };
enum { SCHEMA_EXT_NC_KIND = 1, SCHEMA_EXT_GROUPS = 2 }; /* extension record tags */
enum { VAR_EXT_OOR_CODE = 1, VAR_EXT_STORAGE = 2 }; /* per-variable extension record tags */

/* bytes per element as serialised; STRING elements are variable (u32 length + bytes) */
static size_t elem_size(uint8_t t) {
    switch (t) {
    case CZ_T_I8: case CZ_T_U8: case CZ_T_CHAR: return 1;
    case CZ_T_I16: case CZ_T_U16: return 2;
    case CZ_T_I32: case CZ_T_U32: case CZ_T_F32: return 4;
    case CZ_T_I64: case CZ_T_U64: case CZ_T_F64: return 8;
    default: return 0;
    }
}

static int type_ok(unsigned t) { return t >= CZ_T_I8 && t <= CZ_T_STRING; }

/* ==== encoding ======================================================================== */

/* count elements of type t at data: fixed-size types as little-endian bytes, strings as
 * u32 length + bytes (SCHEMA_NULL_STR for a NULL entry). */
static climz_status put_values(cz_buf *b, uint8_t t, const void *data, size_t count) {
    if (t == CZ_T_STRING) {
        char *const *s = data;
        for (size_t i = 0; i < count; i++) {
            if (!s[i]) {
                CZ_FORWARD(cz_buf_put_u32(b, SCHEMA_NULL_STR));
                continue;
            }
            size_t const len = strlen(s[i]);
            CZ_RETURN_IF(len >= SCHEMA_NULL_STR, CLIMZ_ERR_INVALID_ARG, "string of %zu bytes", len);
            CZ_FORWARD(cz_buf_put_str(b, s[i]));
        }
        return CLIMZ_OK;
    }
    size_t const es = elem_size(t);
    size_t bytes;
    CZ_RETURN_IF(!cz_mul_ok(count, es, &bytes), CLIMZ_ERR_INVALID_ARG, "value array too large");
    CZ_FORWARD(cz_buf_reserve(b, bytes));
    const uint8_t *src = data;
    uint8_t *dst = b->data + b->size;
    /* explicit little-endian whatever the host */
    for (size_t i = 0; i < count; i++, src += es, dst += es) {
        uint64_t v = 0;
        switch (es) {
        case 1: dst[0] = src[0]; continue;
        case 2: { uint16_t x; memcpy(&x, src, 2); v = x; } break;
        case 4: { uint32_t x; memcpy(&x, src, 4); v = x; } break;
        default: memcpy(&v, src, 8); break;
        }
        for (size_t k = 0; k < es; k++) dst[k] = (uint8_t)(v >> (8 * k));
    }
    b->size += bytes;
    return CLIMZ_OK;
}

static climz_status put_attrs(cz_buf *b, const cz_attr *a, int n, const char *owner) {
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)n));
    for (int i = 0; i < n; i++) {
        CZ_RETURN_IF(!a[i].name || !type_ok(a[i].type), CLIMZ_ERR_INVALID_ARG,
                     "%s: attribute %d has no name or type %d", owner, i, (int)a[i].type);
        CZ_RETURN_IF(a[i].len && !a[i].data, CLIMZ_ERR_INVALID_ARG,
                     "%s: attribute %s has no data", owner, a[i].name);
        CZ_FORWARD(cz_buf_put_str(b, a[i].name));
        CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)a[i].type));
        CZ_FORWARD(cz_buf_put_u64(b, a[i].len));
        CZ_FORWARD(put_values(b, (uint8_t)a[i].type, a[i].data, a[i].len));
    }
    return CLIMZ_OK;
}

static climz_status var_count(const cz_dataset *ds, const cz_var *v, size_t *count) {
    size_t c = 1;
    for (int d = 0; d < v->ndims; d++)
        if (!cz_mul_ok(c, ds->dims[v->dimids[d]].len, &c)) return CLIMZ_ERR_CORRUPT;
    *count = c;
    return CLIMZ_OK;
}

static const char *base_name(const char *path) {
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path ? path : "";
}

static climz_status schema_body(const cz_dataset *ds, const uint8_t *store, cz_buf *b) {
    CZ_RETURN_IF(ds->ndims < 0 || ds->nvars < 0 || ds->ngatts < 0, CLIMZ_ERR_INVALID_ARG,
                 "negative counts in the data set");
    CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)ds->format));
    CZ_FORWARD(cz_buf_put_str(b, base_name(ds->path)));
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)ds->ndims));
    for (int i = 0; i < ds->ndims; i++) {
        CZ_FORWARD(cz_buf_put_str(b, ds->dims[i].name));
        CZ_FORWARD(cz_buf_put_u64(b, ds->dims[i].len));
        CZ_FORWARD(cz_buf_put_u8(b, ds->dims[i].unlimited ? 1 : 0));
    }
    CZ_FORWARD(put_attrs(b, ds->gatts, ds->ngatts, "global"));
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)ds->nvars));
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *v = &ds->vars[i];
        CZ_RETURN_IF(!v->name || !type_ok(v->type), CLIMZ_ERR_INVALID_ARG,
                     "variable %d has no name or type %d", i, (int)v->type);
        CZ_RETURN_IF(v->ndims < 0 || v->ndims > CZ_MAX_DIMS, CLIMZ_ERR_INVALID_ARG,
                     "%s: %d dims", v->name, v->ndims);
        CZ_RETURN_IF(v->nspecials < 0 || v->nspecials > CZ_MAX_SPECIALS, CLIMZ_ERR_INVALID_ARG,
                     "%s: %d specials", v->name, v->nspecials);
        CZ_FORWARD(cz_buf_put_str(b, v->name));
        CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)v->type));
        CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)v->ndims));
        for (int d = 0; d < v->ndims; d++) {
            CZ_RETURN_IF(v->dimids[d] < 0 || v->dimids[d] >= ds->ndims, CLIMZ_ERR_INVALID_ARG,
                         "%s: dim id %d out of range", v->name, v->dimids[d]);
            CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)v->dimids[d]));
        }
        CZ_FORWARD(put_attrs(b, v->atts, v->natts, v->name));
        uint8_t const flags[4] = {(uint8_t)(v->is_grid != 0), (uint8_t)(v->is_coord != 0),
                                  (uint8_t)v->axis, (uint8_t)(v->packed != 0)};
        CZ_FORWARD(cz_buf_put(b, flags, 4));
        CZ_FORWARD(cz_buf_put_f64(b, v->scale));
        CZ_FORWARD(cz_buf_put_f64(b, v->offset));
        CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)v->nspecials));
        for (int k = 0; k < v->nspecials; k++) CZ_FORWARD(cz_buf_put(b, v->specials[k], 8));
        /* per-variable extension: records {u8 tag; u32 len; payload}, skipped by older readers */
        int const oor = v->oor_code > 0 && v->oor_code <= v->nspecials;
        const cz_storage *sto = &v->storage;
        int const nchunk = sto->set && sto->chunked ? v->ndims : 0;
        uint32_t const slen = 4 + 8 * (uint32_t)nchunk;
        CZ_RETURN_IF(sto->set && (sto->deflate < 0 || sto->deflate > 9), CLIMZ_ERR_INVALID_ARG,
                     "%s: deflate level %d", v->name, sto->deflate);
        CZ_FORWARD(cz_buf_put_u32(b, (oor ? 6 : 0) + (sto->set ? 5 + slen : 0)));
        if (oor) {
            CZ_FORWARD(cz_buf_put_u8(b, VAR_EXT_OOR_CODE));
            CZ_FORWARD(cz_buf_put_u32(b, 1));
            CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)v->oor_code));
        }
        if (sto->set) { /* the NetCDF-4 layout of the source (not its other HDF5 filters) */
            uint8_t const f[4] = {(uint8_t)(sto->chunked != 0), (uint8_t)sto->deflate,
                                  (uint8_t)(sto->shuffle != 0), (uint8_t)(sto->fletcher32 != 0)};
            CZ_FORWARD(cz_buf_put_u8(b, VAR_EXT_STORAGE));
            CZ_FORWARD(cz_buf_put_u32(b, slen));
            CZ_FORWARD(cz_buf_put(b, f, 4));
            for (int d = 0; d < nchunk; d++) CZ_FORWARD(cz_buf_put_u64(b, sto->chunk[d]));
        }
        int const stored = store && store[i];
        CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)stored));
        if (stored) {
            size_t count;
            CZ_RETURN_IF(var_count(ds, v, &count) != CLIMZ_OK, CLIMZ_ERR_INVALID_ARG,
                         "%s: element count overflows", v->name);
            CZ_RETURN_IF(count && !v->raw, CLIMZ_ERR_INVALID_ARG,
                         "%s: stored variable has no values loaded", v->name);
            CZ_FORWARD(put_values(b, (uint8_t)v->type, v->raw, count));
        }
    }
    /* extension records: tag, length, payload; a decoder skips tags it does not know */
    if (ds->nc_kind) {
        CZ_FORWARD(cz_buf_put_u8(b, SCHEMA_EXT_NC_KIND));
        CZ_FORWARD(cz_buf_put_u32(b, 4));
        CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)ds->nc_kind));
    }
    if (ds->ngroups > 0) {
        cz_buf g = {0};
        climz_status st = cz_buf_put_u32(&g, (uint32_t)ds->ngroups);
        for (int i = 0; i < ds->ngroups && st == CLIMZ_OK; i++) {
            st = ds->groups[i].name ? cz_buf_put_str(&g, ds->groups[i].name)
                                    : cz_error(CLIMZ_ERR_INVALID_ARG, "group %d has no name", i);
            if (st == CLIMZ_OK) st = put_attrs(&g, ds->groups[i].atts, ds->groups[i].natts, ds->groups[i].name);
        }
        if (st == CLIMZ_OK && g.size > UINT32_MAX)
            st = cz_error(CLIMZ_ERR_INVALID_ARG, "group attributes too large");
        if (st == CLIMZ_OK) st = cz_buf_put_u8(b, SCHEMA_EXT_GROUPS);
        if (st == CLIMZ_OK) st = cz_buf_put_u32(b, (uint32_t)g.size);
        if (st == CLIMZ_OK) st = cz_buf_put(b, g.data, g.size);
        cz_buf_free(&g);
        CZ_FORWARD(st);
    }
    return CLIMZ_OK;
}

climz_status clz_schema_encode(const cz_dataset *ds, const uint8_t *store, cz_buf *out) {
    cz_buf body = {0};
    climz_status st = schema_body(ds, store, &body);
    if (st != CLIMZ_OK) {
        cz_buf_free(&body);
        return st;
    }
    /* small schemas (the usual: coordinates) get zstd's best; large stored vars a faster
     * level, so that storing a big variable losslessly stays quick */
    int const level = body.size <= (256u << 10) ? 19 : body.size <= (8u << 20) ? 9 : 3;
    size_t const bound = ZSTD_compressBound(body.size);
    uint8_t hdr[SCHEMA_PREFIX] = {0};
    memcpy(hdr, schema_magic, 4);
    hdr[4] = CLZ_SCHEMA_VERSION;
    cz_store_le64(hdr + 8, body.size);
    size_t const base = out->size;
    CZ_CHECK_GOTO(st, cz_buf_reserve(out, SCHEMA_PREFIX + bound), done);
    size_t const csize = ZSTD_compress(out->data + base + SCHEMA_PREFIX, bound, body.data,
                                       body.size, level);
    if (!ZSTD_isError(csize) && csize < body.size) {
        hdr[5] = SCHEMA_ZSTD;
        memcpy(out->data + base, hdr, SCHEMA_PREFIX);
        out->size = base + SCHEMA_PREFIX + csize;
    } else { /* incompressible (or zstd failed): stored as is */
        hdr[5] = SCHEMA_RAW;
        memcpy(out->data + base, hdr, SCHEMA_PREFIX);
        memcpy(out->data + base + SCHEMA_PREFIX, body.data, body.size);
        out->size = base + SCHEMA_PREFIX + body.size;
    }
done:
    cz_buf_free(&body);
    return st;
}

/* ==== decoding ======================================================================== */

/* Inside the schema any short read is corruption (the chunk passed its CRC). */
#define RD(expr)                                                                            \
    do {                                                                                    \
        climz_status const rd_s_ = (expr);                                                  \
        if (rd_s_ != CLIMZ_OK)                                                              \
            return rd_s_ == CLIMZ_ERR_ALLOC ? rd_s_ : cz_error_prefix(CLIMZ_ERR_CORRUPT, "schema"); \
    } while (0)

static climz_status rd_name(cz_rd *r, char **s) {
    uint32_t n;
    const uint8_t *p;
    RD(cz_rd_u32(r, &n));
    CZ_RETURN_IF(n > SCHEMA_MAX_NAME, CLIMZ_ERR_CORRUPT, "schema: name of %u bytes", (unsigned)n);
    RD(cz_rd_skip(r, n, &p));
    CZ_RETURN_IF(memchr(p, 0, n) != NULL, CLIMZ_ERR_CORRUPT, "schema: name contains a NUL byte");
    char *d = cz_malloc((size_t)n + 1);
    CZ_RETURN_IF(!d, CLIMZ_ERR_ALLOC, "out of memory");
    memcpy(d, p, n);
    d[n] = 0;
    *s = d;
    return CLIMZ_OK;
}

/* Reads count values of type t into a fresh *data (count checked against the input first;
 * a zero count still allocates, so that "has values" stays != NULL). */
static climz_status rd_values(cz_rd *r, uint8_t t, uint64_t count, void **data) {
    *data = NULL;
    if (t == CZ_T_STRING) {
        /* each string takes at least its 4-byte length */
        CZ_RETURN_IF(count > cz_rd_left(r) / 4, CLIMZ_ERR_CORRUPT,
                     "schema: %llu strings cannot fit in %zu bytes", (unsigned long long)count,
                     cz_rd_left(r));
        char **s = cz_calloc((size_t)count, sizeof *s);
        CZ_RETURN_IF(!s, CLIMZ_ERR_ALLOC, "out of memory");
        *data = s;
        for (size_t i = 0; i < (size_t)count; i++) {
            uint32_t n;
            const uint8_t *p;
            RD(cz_rd_u32(r, &n));
            if (n == SCHEMA_NULL_STR) continue;
            RD(cz_rd_skip(r, n, &p));
            /* strings of a NetCDF string array end at their first NUL */
            CZ_RETURN_IF(memchr(p, 0, n) != NULL, CLIMZ_ERR_CORRUPT,
                         "schema: string contains a NUL byte");
            s[i] = cz_malloc((size_t)n + 1);
            CZ_RETURN_IF(!s[i], CLIMZ_ERR_ALLOC, "out of memory");
            memcpy(s[i], p, n);
            s[i][n] = 0;
        }
        return CLIMZ_OK;
    }
    size_t const es = elem_size(t);
    CZ_RETURN_IF(count > cz_rd_left(r) / es, CLIMZ_ERR_CORRUPT,
                 "schema: %llu values of %zu bytes cannot fit in %zu bytes",
                 (unsigned long long)count, es, cz_rd_left(r));
    size_t const bytes = (size_t)count * es;
    /* one more zero byte: io's CHAR attributes are NUL-terminated (io_attr_text) */
    uint8_t *d = cz_calloc(1, bytes + 1);
    CZ_RETURN_IF(!d, CLIMZ_ERR_ALLOC, "out of memory for %zu bytes", bytes);
    *data = d;
    const uint8_t *src;
    RD(cz_rd_skip(r, bytes, &src));
    for (size_t i = 0; i < (size_t)count; i++, src += es, d += es) {
        uint64_t v = 0;
        for (size_t k = 0; k < es; k++) v |= (uint64_t)src[k] << (8 * k);
        switch (es) {
        case 1: d[0] = (uint8_t)v; break;
        case 2: { uint16_t x = (uint16_t)v; memcpy(d, &x, 2); } break;
        case 4: { uint32_t x = (uint32_t)v; memcpy(d, &x, 4); } break;
        default: memcpy(d, &v, 8); break;
        }
    }
    return CLIMZ_OK;
}

static void free_values(uint8_t t, void *data, size_t count) {
    if (data && t == CZ_T_STRING)
        for (size_t i = 0; i < count; i++) free(((char **)data)[i]);
    free(data);
}

static climz_status rd_attrs(cz_rd *r, cz_attr **atts, int *natts) {
    uint32_t n;
    RD(cz_rd_u32(r, &n));
    /* an attribute takes at least 4 + 1 + 8 bytes */
    CZ_RETURN_IF(n > cz_rd_left(r) / 13 || n > INT_MAX, CLIMZ_ERR_CORRUPT, "schema: %u attributes cannot fit",
                 (unsigned)n);
    if (n == 0) return CLIMZ_OK;
    *atts = cz_calloc(n, sizeof **atts);
    CZ_RETURN_IF(!*atts, CLIMZ_ERR_ALLOC, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        cz_attr *a = &(*atts)[i];
        *natts = (int)i + 1; /* the caller frees what is filled so far */
        uint8_t t;
        uint64_t len;
        CZ_FORWARD(rd_name(r, &a->name));
        RD(cz_rd_u8(r, &t));
        RD(cz_rd_u64(r, &len));
        CZ_RETURN_IF(!type_ok(t), CLIMZ_ERR_CORRUPT, "schema: attribute %s has type %u", a->name,
                     (unsigned)t);
        a->type = (cz_dtype)t;
        climz_status const st = rd_values(r, t, len, &a->data);
        if (st != CLIMZ_OK) {
            /* keep a consistent attribute for io_free: len matches the allocation */
            a->len = (a->data && t == CZ_T_STRING) ? (size_t)len : 0;
            return st;
        }
        a->len = (size_t)len;
    }
    return CLIMZ_OK;
}

/* Decompresses a zstd frame of exactly raw_size bytes; the buffer grows only with real
 * output, so a lying raw_size cannot force a big allocation. */
static climz_status unzstd(const uint8_t *src, size_t n, uint64_t raw_size, uint8_t **out) {
    *out = NULL;
    CZ_RETURN_IF(raw_size > SIZE_MAX / 2, CLIMZ_ERR_CORRUPT, "schema: raw size %llu",
                 (unsigned long long)raw_size);
    size_t cap = (size_t)raw_size < 4 * n + 65536 ? (size_t)raw_size : 4 * n + 65536;
    uint8_t *d = cz_malloc(cap);
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    climz_status st = CLIMZ_OK;
    if (!d || !dc) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory");
    /* nor can a frame header claim a window (which zstd allocates) beyond the body */
    int wlog = 10;
    while (wlog < 31 && ((uint64_t)1 << wlog) < raw_size) wlog++;
    ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, wlog);
    ZSTD_inBuffer in = {src, n, 0};
    ZSTD_outBuffer ob = {d, cap, 0};
    for (;;) {
        size_t const in0 = in.pos, out0 = ob.pos;
        size_t const ret = ZSTD_decompressStream(dc, &ob, &in);
        if (ZSTD_isError(ret))
            CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "schema: zstd: %s", ZSTD_getErrorName(ret));
        if (ret == 0) break; /* frame complete */
        if (ob.pos == ob.size) {
            if (ob.size == raw_size) /* more output than announced */
                CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "schema: decompresses past %llu bytes",
                             (unsigned long long)raw_size);
            size_t const nc = cap > (size_t)raw_size / 2 ? (size_t)raw_size : 2 * cap;
            uint8_t *g = cz_realloc(d, nc);
            if (!g) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory");
            d = g;
            cap = nc;
            ob.dst = d;
            ob.size = cap;
        } else if (in.pos == in.size || (in.pos == in0 && ob.pos == out0)) {
            CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "schema: zstd frame is cut off");
        }
    }
    if (in.pos != in.size || ob.pos != raw_size)
        CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT,
                     "schema: zstd frame gives %zu bytes (announced %llu), %zu bytes follow it",
                     ob.pos, (unsigned long long)raw_size, in.size - in.pos);
    ZSTD_freeDCtx(dc);
    *out = d;
    return CLIMZ_OK;
fail:
    ZSTD_freeDCtx(dc);
    free(d);
    return st;
}

/* VAR_EXT_STORAGE: u8 chunked, deflate level, shuffle, fletcher32; u64 chunk sizes when
 * chunked (one per dim) */
static climz_status rd_storage(const uint8_t *p, uint32_t len, cz_var *v) {
    cz_storage *s = &v->storage;
    CZ_RETURN_IF(len < 4 || p[0] > 1 || p[1] > 9 || p[2] > 1 || p[3] > 1 ||
                 len != 4 + (p[0] ? 8 * (uint32_t)v->ndims : 0), CLIMZ_ERR_CORRUPT,
                 "schema: variable %s: bad storage record", v->name);
    memset(s, 0, sizeof *s);
    s->set = 1;
    s->chunked = p[0];
    s->deflate = p[1];
    s->shuffle = p[2];
    s->fletcher32 = p[3];
    for (int d = 0; d < (s->chunked ? v->ndims : 0); d++) {
        uint64_t c = 0;
        for (int k = 0; k < 8; k++) c |= (uint64_t)p[4 + 8 * d + k] << (8 * k);
        CZ_RETURN_IF(c == 0 || c > UINT32_MAX, CLIMZ_ERR_CORRUPT,
                     "schema: variable %s: chunk size %llu", v->name, (unsigned long long)c);
        s->chunk[d] = (size_t)c;
    }
    return CLIMZ_OK;
}

static climz_status schema_parse(cz_rd *r, cz_dataset *ds) {
    uint8_t fmt;
    RD(cz_rd_u8(r, &fmt));
    CZ_RETURN_IF(fmt < CZ_FMT_NETCDF3 || fmt > CZ_FMT_GRADS, CLIMZ_ERR_CORRUPT,
                 "schema: format %u", (unsigned)fmt);
    ds->format = (cz_format)fmt;
    CZ_FORWARD(rd_name(r, &ds->path));

    uint32_t nd;
    RD(cz_rd_u32(r, &nd));
    CZ_RETURN_IF(nd > cz_rd_left(r) / 13 || nd > INT_MAX, CLIMZ_ERR_CORRUPT, "schema: %u dims cannot fit",
                 (unsigned)nd);
    if (nd) {
        ds->dims = cz_calloc(nd, sizeof *ds->dims);
        CZ_RETURN_IF(!ds->dims, CLIMZ_ERR_ALLOC, "out of memory");
    }
    for (uint32_t i = 0; i < nd; i++) {
        cz_dim *d = &ds->dims[i];
        uint64_t len;
        uint8_t unl;
        ds->ndims = (int)i + 1;
        CZ_FORWARD(rd_name(r, &d->name));
        RD(cz_rd_u64(r, &len));
        RD(cz_rd_u8(r, &unl));
        CZ_RETURN_IF(len > SIZE_MAX / 16 || unl > 1, CLIMZ_ERR_CORRUPT,
                     "schema: dim %s has length %llu, unlimited %u", d->name,
                     (unsigned long long)len, (unsigned)unl);
        d->len = (size_t)len;
        d->unlimited = unl;
    }
    CZ_FORWARD(rd_attrs(r, &ds->gatts, &ds->ngatts));

    uint32_t nv;
    RD(cz_rd_u32(r, &nv));
    /* a variable takes at least 4+1+1+4+4+16+1+4+1 bytes */
    CZ_RETURN_IF(nv > cz_rd_left(r) / 36 || nv > INT_MAX, CLIMZ_ERR_CORRUPT, "schema: %u variables cannot fit",
                 (unsigned)nv);
    if (nv) {
        ds->vars = cz_calloc(nv, sizeof *ds->vars);
        CZ_RETURN_IF(!ds->vars, CLIMZ_ERR_ALLOC, "out of memory");
    }
    for (uint32_t i = 0; i < nv; i++) {
        cz_var *v = &ds->vars[i];
        ds->nvars = (int)i + 1;
        uint8_t t, nvd, flags[4], nsp, stored;
        CZ_FORWARD(rd_name(r, &v->name));
        RD(cz_rd_u8(r, &t));
        RD(cz_rd_u8(r, &nvd));
        CZ_RETURN_IF(!type_ok(t) || nvd > CZ_MAX_DIMS, CLIMZ_ERR_CORRUPT,
                     "schema: variable %s has type %u and %u dims", v->name, (unsigned)t,
                     (unsigned)nvd);
        v->type = (cz_dtype)t;
        for (int d = 0; d < nvd; d++) {
            uint32_t id;
            RD(cz_rd_u32(r, &id));
            CZ_RETURN_IF(id >= nd, CLIMZ_ERR_CORRUPT, "schema: variable %s uses dim %u of %u",
                         v->name, (unsigned)id, (unsigned)nd);
            v->dimids[d] = (int)id;
        }
        v->ndims = nvd;
        CZ_FORWARD(rd_attrs(r, &v->atts, &v->natts));
        RD(cz_rd_bytes(r, flags, 4));
        CZ_RETURN_IF(flags[0] > 1 || flags[1] > 1 || flags[2] > CZ_AXIS_X || flags[3] > 1,
                     CLIMZ_ERR_CORRUPT, "schema: variable %s has bad flags", v->name);
        v->is_grid = flags[0];
        v->is_coord = flags[1];
        v->axis = (cz_axis)flags[2];
        v->packed = flags[3];
        RD(cz_rd_f64(r, &v->scale));
        RD(cz_rd_f64(r, &v->offset));
        RD(cz_rd_u8(r, &nsp));
        CZ_RETURN_IF(nsp > CZ_MAX_SPECIALS, CLIMZ_ERR_CORRUPT,
                     "schema: variable %s has %u missing-value patterns", v->name, (unsigned)nsp);
        for (int k = 0; k < nsp; k++) RD(cz_rd_bytes(r, v->specials[k], 8));
        v->nspecials = nsp;
        uint32_t ext;
        RD(cz_rd_u32(r, &ext));
        const uint8_t *xp;
        RD(cz_rd_skip(r, ext, &xp));
        for (uint32_t o = 0; o < ext;) { /* records; unknown tags are a newer writer's */
            if (ext - o < 5) break; /* not records (version 1 allowed any bytes): ignored */
            uint32_t const len = (uint32_t)xp[o + 1] | (uint32_t)xp[o + 2] << 8 | (uint32_t)xp[o + 3] << 16 |
                                 (uint32_t)xp[o + 4] << 24;
            if (len > ext - o - 5) break;
            if (xp[o] == VAR_EXT_OOR_CODE) {
                CZ_RETURN_IF(len != 1 || xp[o + 5] < 1 || xp[o + 5] > nsp, CLIMZ_ERR_CORRUPT,
                             "schema: variable %s: bad out-of-range code", v->name);
                v->oor_code = xp[o + 5];
            } else if (xp[o] == VAR_EXT_STORAGE) {
                CZ_FORWARD(rd_storage(xp + o + 5, len, v));
            }
            o += 5 + len;
        }
        RD(cz_rd_u8(r, &stored));
        CZ_RETURN_IF(stored > 1, CLIMZ_ERR_CORRUPT, "schema: variable %s stored flag %u", v->name,
                     (unsigned)stored);
        if (stored) {
            size_t count;
            CZ_RETURN_IF(var_count(ds, v, &count) != CLIMZ_OK, CLIMZ_ERR_CORRUPT,
                         "schema: variable %s is too large", v->name);
            climz_status const st = rd_values(r, t, count, &v->raw);
            if (st != CLIMZ_OK) {
                /* io_free frees string arrays by the var's element count, which may not match
                 * what was allocated: free here */
                free_values(t, v->raw, t == CZ_T_STRING && v->raw ? count : 0);
                v->raw = NULL;
                return st;
            }
        }
    }
    int seen = 0; /* extension tags met, each at most once */
    while (cz_rd_left(r) > 0) {
        uint8_t tag;
        uint32_t len;
        const uint8_t *q;
        RD(cz_rd_u8(r, &tag));
        RD(cz_rd_u32(r, &len));
        RD(cz_rd_skip(r, len, &q));
        cz_rd x = cz_rd_make(q, len);
        if (tag == SCHEMA_EXT_NC_KIND || tag == SCHEMA_EXT_GROUPS) {
            CZ_RETURN_IF(seen & (1 << tag), CLIMZ_ERR_CORRUPT, "schema: extension %u twice",
                         (unsigned)tag);
            seen |= 1 << tag;
        }
        if (tag == SCHEMA_EXT_NC_KIND) {
            uint32_t k;
            RD(cz_rd_u32(&x, &k));
            CZ_RETURN_IF(k == 0 || k > 255, CLIMZ_ERR_CORRUPT, "schema: netCDF kind %u",
                         (unsigned)k);
            ds->nc_kind = (int)k;
        } else if (tag == SCHEMA_EXT_GROUPS) {
            uint32_t ng;
            RD(cz_rd_u32(&x, &ng));
            /* a group takes at least 4 + 4 bytes */
            CZ_RETURN_IF(ng > cz_rd_left(&x) / 8 || ng > INT_MAX, CLIMZ_ERR_CORRUPT,
                         "schema: %u groups cannot fit", (unsigned)ng);
            if (ng) {
                ds->groups = cz_calloc(ng, sizeof *ds->groups);
                CZ_RETURN_IF(!ds->groups, CLIMZ_ERR_ALLOC, "out of memory");
            }
            for (uint32_t i = 0; i < ng; i++) {
                ds->ngroups = (int)i + 1;
                CZ_FORWARD(rd_name(&x, &ds->groups[i].name));
                CZ_FORWARD(rd_attrs(&x, &ds->groups[i].atts, &ds->groups[i].natts));
            }
        } else {
            continue; /* a newer writer's record */
        }
        CZ_RETURN_IF(cz_rd_left(&x) != 0, CLIMZ_ERR_CORRUPT,
                     "schema: extension %u has %zu extra bytes", (unsigned)tag, cz_rd_left(&x));
    }
    return CLIMZ_OK;
}

climz_status clz_schema_decode(const uint8_t *p, size_t n, cz_dataset **out) {
    *out = NULL;
    CZ_RETURN_IF(n < SCHEMA_PREFIX, CLIMZ_ERR_CORRUPT, "schema: %zu bytes is too short", n);
    CZ_RETURN_IF(memcmp(p, schema_magic, 4) != 0, CLIMZ_ERR_CORRUPT, "schema: bad magic");
    CZ_RETURN_IF(p[4] > CLZ_SCHEMA_VERSION, CLIMZ_ERR_VERSION,
                 "schema version %u is newer than this reader's %u", (unsigned)p[4],
                 CLZ_SCHEMA_VERSION);
    CZ_RETURN_IF(p[4] == 0 || p[5] > SCHEMA_ZSTD || p[6] || p[7], CLIMZ_ERR_CORRUPT,
                 "schema: bad version %u or compression %u", (unsigned)p[4], (unsigned)p[5]);
    uint64_t const raw_size = cz_load_le64(p + 8);
    const uint8_t *body = p + SCHEMA_PREFIX;
    size_t const body_n = n - SCHEMA_PREFIX;
    uint8_t *dec = NULL;
    if (p[5] == SCHEMA_ZSTD) {
        CZ_FORWARD(unzstd(body, body_n, raw_size, &dec));
        body = dec;
    } else {
        CZ_RETURN_IF(raw_size != body_n, CLIMZ_ERR_CORRUPT,
                     "schema: %zu bytes stored, %llu announced", body_n,
                     (unsigned long long)raw_size);
    }
    cz_dataset *ds = NULL;
    climz_status st = io_dataset_new(&ds);
    if (st == CLIMZ_OK) {
        cz_rd r = cz_rd_make(body, (size_t)raw_size);
        st = schema_parse(&r, ds);
    }
    free(dec);
    if (st != CLIMZ_OK) {
        io_free(ds);
        return st;
    }
    *out = ds;
    return CLIMZ_OK;
}
