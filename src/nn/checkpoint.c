/* checkpoint.c — safetensors reader/writer and parameter/optimizer checkpoints; see
 * checkpoint.h. */
#include "nn/checkpoint.h"

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NN_HOST_BE 1
#else
#define NN_HOST_BE 0
#endif

/* ---- dtypes ----------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} dtypes[NN_DT_COUNT_] = {
    [NN_DT_F32] = {"F32", 4},  [NN_DT_F64] = {"F64", 8}, [NN_DT_F16] = {"F16", 2},
    [NN_DT_BF16] = {"BF16", 2}, [NN_DT_I64] = {"I64", 8}, [NN_DT_I32] = {"I32", 4},
    [NN_DT_I16] = {"I16", 2},  [NN_DT_I8] = {"I8", 1},   [NN_DT_U64] = {"U64", 8},
    [NN_DT_U32] = {"U32", 4},  [NN_DT_U16] = {"U16", 2}, [NN_DT_U8] = {"U8", 1},
    [NN_DT_BOOL] = {"BOOL", 1},
};

size_t nn_dtype_size(nn_dtype dt) { return (unsigned)dt < NN_DT_COUNT_ ? dtypes[dt].size : 0; }
const char *nn_dtype_name(nn_dtype dt) { return (unsigned)dt < NN_DT_COUNT_ ? dtypes[dt].name : "?"; }
int nn_dtype_parse(const char *s) {
    for (int i = 0; i < NN_DT_COUNT_; i++)
        if (strcmp(s, dtypes[i].name) == 0) return i;
    return -1;
}

/* Little-endian bytes <-> host elements (a plain copy on little-endian hosts). */
static void copy_le(void *dst, const void *src, size_t nbytes, size_t elsize) {
    if (!NN_HOST_BE || elsize == 1) {
        if (nbytes) memcpy(dst, src, nbytes);
        return;
    }
    uint8_t *d = dst;
    const uint8_t *s = src;
    for (size_t i = 0; i < nbytes; i += elsize)
        for (size_t k = 0; k < elsize; k++) d[i + k] = s[i + elsize - 1 - k];
}

/* IEEE half -> float, exact (subnormals, Inf and NaN included). */
static float f16_to_f32(uint16_t h) {
    uint32_t const sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24 is exact in float */
        float const f = ldexpf((float)mant, -24);
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 112) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
static float bf16_to_f32(uint16_t h) {
    uint32_t const bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* "[2, 3, 4]" into buf */
static const char *fmt_shape(char *buf, size_t cap, size_t ndim, const uint64_t *s64, const size_t *sz) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (size_t d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRIu64, d ? ", " : "",
                              s64 ? s64[d] : (uint64_t)sz[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

/* ---- writer ------------------------------------------------------------------------------- */

void nn_ckpt_writer_init(nn_ckpt_writer *w) { memset(w, 0, sizeof *w); }

void nn_ckpt_writer_free(nn_ckpt_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->n_meta; i++) free(w->meta[i].key), free(w->meta[i].value);
    free(w->t);
    free(w->meta);
    memset(w, 0, sizeof *w);
}

climz_status nn_ckpt_put(nn_ckpt_writer *w, const char *name, nn_dtype dt, size_t ndim,
                         const size_t *shape, const void *data) {
    CZ_RETURN_IF(!name || !*name || strcmp(name, "__metadata__") == 0, CLIMZ_ERR_INVALID_ARG,
                 "checkpoint: bad tensor name '%s'", name ? name : "(null)");
    CZ_RETURN_IF((unsigned)dt >= NN_DT_COUNT_, CLIMZ_ERR_INVALID_ARG, "checkpoint: tensor %s: bad dtype %d",
                 name, (int)dt);
    CZ_RETURN_IF(ndim > NN_CKPT_MAX_DIMS, CLIMZ_ERR_INVALID_ARG, "checkpoint: tensor %s: rank %zu > %d",
                 name, ndim, NN_CKPT_MAX_DIMS);
    for (size_t i = 0; i < w->n; i++)
        CZ_RETURN_IF(strcmp(w->t[i].name, name) == 0, CLIMZ_ERR_INVALID_ARG,
                     "checkpoint: tensor %s added twice", name);
    uint64_t numel = 1;
    for (size_t d = 0; d < ndim; d++) {
        CZ_RETURN_IF((uint64_t)shape[d] > (uint64_t)INT64_MAX || (shape[d] && numel > UINT64_MAX / shape[d]),
                     CLIMZ_ERR_DIMENSION, "checkpoint: tensor %s: size overflows", name);
        numel *= shape[d];
    }
    CZ_RETURN_IF(numel > (uint64_t)(SIZE_MAX / 8) || numel > (UINT64_MAX >> 4), CLIMZ_ERR_DIMENSION,
                 "checkpoint: tensor %s: size overflows", name);
    CZ_RETURN_IF(numel && !data, CLIMZ_ERR_INVALID_ARG, "checkpoint: tensor %s: no data", name);
    if (w->n == w->cap) {
        size_t const cap = w->cap ? 2 * w->cap : 32;
        nn_ckpt_entry *t = cz_realloc(w->t, cap * sizeof *t);
        CZ_RETURN_IF(!t, CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
        w->t = t;
        w->cap = cap;
    }
    nn_ckpt_entry *e = &w->t[w->n];
    memset(e, 0, sizeof *e);
    e->name = cz_strdup(name);
    CZ_RETURN_IF(!e->name, CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
    e->dtype = dt;
    e->ndim = ndim;
    for (size_t d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->numel = numel;
    e->src = data;
    w->n++;
    return CLIMZ_OK;
}

climz_status nn_ckpt_put_meta(nn_ckpt_writer *w, const char *key, const char *value) {
    CZ_RETURN_IF(!key || !value, CLIMZ_ERR_INVALID_ARG, "checkpoint: NULL metadata key or value");
    char *v = cz_strdup(value);
    CZ_RETURN_IF(!v, CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return CLIMZ_OK;
        }
    if (w->n_meta == w->cap_meta) {
        size_t const cap = w->cap_meta ? 2 * w->cap_meta : 8;
        nn_ckpt_kv *m = cz_realloc(w->meta, cap * sizeof *m);
        if (!m) free(v);
        CZ_RETURN_IF(!m, CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
        w->meta = m;
        w->cap_meta = cap;
    }
    w->meta[w->n_meta].key = cz_strdup(key);
    if (!w->meta[w->n_meta].key) free(v);
    CZ_RETURN_IF(!w->meta[w->n_meta].key, CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
    w->meta[w->n_meta].value = v;
    w->n_meta++;
    return CLIMZ_OK;
}

/* Data order: element size descending, add order otherwise (stable), so that every tensor
 * starts at a multiple of its element size with no padding. Returns a malloc'd
 * permutation and the data offsets of each entry (begin/end in *ofs, 2 per entry). */
static climz_status writer_layout(const nn_ckpt_writer *w, size_t **order, uint64_t **ofs) {
    *order = cz_malloc((w->n ? w->n : 1) * sizeof **order);
    *ofs = cz_malloc((w->n ? w->n : 1) * 2 * sizeof **ofs);
    if (!*order || !*ofs) {
        free(*order), free(*ofs);
        *order = NULL, *ofs = NULL;
        return cz_error(CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
    }
    size_t k = 0;
    static const size_t sizes[] = {8, 4, 2, 1};
    for (size_t s = 0; s < 4; s++)
        for (size_t i = 0; i < w->n; i++)
            if (nn_dtype_size(w->t[i].dtype) == sizes[s]) (*order)[k++] = i;
    uint64_t pos = 0;
    for (size_t j = 0; j < w->n; j++) {
        nn_ckpt_entry const *e = &w->t[(*order)[j]];
        uint64_t const nb = e->numel * nn_dtype_size(e->dtype);
        (*ofs)[2 * j] = pos;
        (*ofs)[2 * j + 1] = pos + nb;
        pos += nb;
    }
    return CLIMZ_OK;
}

/* The padded JSON header (malloc'd, *len bytes, no NUL counted). */
static climz_status writer_header(const nn_ckpt_writer *w, const size_t *order, const uint64_t *ofs,
                                  char **out, size_t *len) {
    climz_status st = CLIMZ_OK;
    json_t *root = json_object(), *meta = NULL;
    char *txt = NULL;
    if (!root) return cz_error(CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
    if (w->n_meta) {
        meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta)) goto oom;
        for (size_t i = 0; i < w->n_meta; i++)
            if (json_object_set_new(meta, w->meta[i].key, json_string(w->meta[i].value))) {
                json_decref(root);
                return cz_error(CLIMZ_ERR_INVALID_ARG,
                                "checkpoint: metadata '%s' is not valid UTF-8 (or out of memory)",
                                w->meta[i].key);
            }
    }
    for (size_t j = 0; j < w->n; j++) {
        nn_ckpt_entry const *e = &w->t[order[j]];
        json_t *o = json_object(), *shape = json_array(), *off = json_array();
        if (!o || !shape || !off) {
            json_decref(o), json_decref(shape), json_decref(off);
            goto oom;
        }
        for (size_t d = 0; d < e->ndim; d++) json_array_append_new(shape, json_integer((json_int_t)e->shape[d]));
        json_array_append_new(off, json_integer((json_int_t)ofs[2 * j]));
        json_array_append_new(off, json_integer((json_int_t)ofs[2 * j + 1]));
        json_object_set_new(o, "dtype", json_string(nn_dtype_name(e->dtype)));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "data_offsets", off);
        if (json_array_size(shape) != e->ndim || json_array_size(off) != 2 || json_object_size(o) != 3) {
            json_decref(o);
            goto oom;
        }
        if (json_object_set_new(root, e->name, o)) {
            json_decref(root);
            return cz_error(CLIMZ_ERR_INVALID_ARG,
                            "checkpoint: tensor name '%s' is not valid UTF-8 (or out of memory)", e->name);
        }
    }
    txt = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    root = NULL;
    if (!txt) return cz_error(CLIMZ_ERR_ALLOC, "checkpoint: cannot serialise the header");
    size_t const n = strlen(txt), pad = (8 - n % 8) % 8;
    char *h = cz_realloc(txt, n + pad + 1);
    if (!h) {
        free(txt);
        return cz_error(CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
    }
    memset(h + n, ' ', pad);
    h[n + pad] = 0;
    *out = h;
    *len = n + pad;
    return st;
oom:
    json_decref(root);
    return cz_error(CLIMZ_ERR_ALLOC, "checkpoint: out of memory building the header");
}

typedef climz_status (*sink_fn)(void *ctx, const void *p, size_t n);
static climz_status sink_buf(void *ctx, const void *p, size_t n) { return cz_buf_put(ctx, p, n); }
static climz_status sink_atomic(void *ctx, const void *p, size_t n) { return cz_atomic_write(ctx, p, n); }

static climz_status writer_emit(const nn_ckpt_writer *w, sink_fn sink, void *ctx) {
    size_t *order = NULL;
    uint64_t *ofs = NULL;
    char *hdr = NULL;
    size_t hlen = 0;
    climz_status st;
    CZ_CHECK_GOTO(st, writer_layout(w, &order, &ofs), done);
    CZ_CHECK_GOTO(st, writer_header(w, order, ofs, &hdr, &hlen), done);
    uint8_t len8[8];
    cz_store_le64(len8, (uint64_t)hlen);
    CZ_CHECK_GOTO(st, sink(ctx, len8, 8), done);
    CZ_CHECK_GOTO(st, sink(ctx, hdr, hlen), done);
    for (size_t j = 0; j < w->n; j++) {
        nn_ckpt_entry const *e = &w->t[order[j]];
        size_t const es = nn_dtype_size(e->dtype), nb = (size_t)(e->numel * es);
        if (!NN_HOST_BE || es == 1) {
            CZ_CHECK_GOTO(st, sink(ctx, e->src, nb), done);
            continue;
        }
        uint8_t tmp[1 << 14]; /* byte-swap in slices on big-endian hosts */
        for (size_t b = 0; b < nb; b += sizeof tmp) {
            size_t const k = nb - b < sizeof tmp ? nb - b : sizeof tmp;
            copy_le(tmp, (const uint8_t *)e->src + b, k, es);
            CZ_CHECK_GOTO(st, sink(ctx, tmp, k), done);
        }
    }
done:
    free(order);
    free(ofs);
    free(hdr);
    return st;
}

climz_status nn_ckpt_encode(const nn_ckpt_writer *w, cz_buf *out) { return writer_emit(w, sink_buf, out); }

climz_status nn_ckpt_write(const nn_ckpt_writer *w, const char *path) {
    cz_atomic a;
    CZ_FORWARD(cz_atomic_open(&a, path));
    climz_status const st = writer_emit(w, sink_atomic, &a);
    if (st != CLIMZ_OK) {
        cz_atomic_abort(&a);
        return cz_error_prefix(st, "checkpoint %s", path);
    }
    return cz_atomic_commit(&a);
}

/* ---- reader ------------------------------------------------------------------------------- */

void nn_ckpt_close(nn_ckpt *ck) {
    if (!ck) return;
    for (size_t i = 0; i < ck->n; i++) free(ck->t[i].name);
    for (size_t i = 0; i < ck->n_meta; i++) free(ck->meta[i].key), free(ck->meta[i].value);
    free(ck->t);
    free(ck->meta);
    if (ck->mapped == 1 && ck->file) munmap((void *)ck->file, ck->size);
    if (ck->mapped == 0) free((void *)ck->file);
    free(ck->path);
    memset(ck, 0, sizeof *ck);
}

/* Non-negative JSON integer. */
static int json_u64(const json_t *j, uint64_t *v) {
    if (!json_is_integer(j) || json_integer_value(j) < 0) return 0;
    *v = (uint64_t)json_integer_value(j);
    return 1;
}

static climz_status parse_entry(nn_ckpt *ck, const char *key, const json_t *val, nn_ckpt_entry *e) {
    const char *const P = ck->path;
    CZ_RETURN_IF(!json_is_object(val), CLIMZ_ERR_CORRUPT, "%s: tensor '%s': header entry is not an object",
                 P, key);
    const json_t *dt = json_object_get(val, "dtype"), *sh = json_object_get(val, "shape"),
                 *of = json_object_get(val, "data_offsets");
    CZ_RETURN_IF(!json_is_string(dt), CLIMZ_ERR_CORRUPT, "%s: tensor '%s': no dtype string", P, key);
    int const d = nn_dtype_parse(json_string_value(dt));
    CZ_RETURN_IF(d < 0, CLIMZ_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported", P, key,
                 json_string_value(dt));
    e->dtype = (nn_dtype)d;
    CZ_RETURN_IF(!json_is_array(sh), CLIMZ_ERR_CORRUPT, "%s: tensor '%s': no shape array", P, key);
    CZ_RETURN_IF(json_array_size(sh) > NN_CKPT_MAX_DIMS, CLIMZ_ERR_UNSUPPORTED,
                 "%s: tensor '%s': rank %zu > %d", P, key, json_array_size(sh), NN_CKPT_MAX_DIMS);
    e->ndim = json_array_size(sh);
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t k = 0; k < e->ndim; k++) {
        CZ_RETURN_IF(!json_u64(json_array_get(sh, k), &e->shape[k]), CLIMZ_ERR_CORRUPT,
                     "%s: tensor '%s': shape entry %zu is not a non-negative integer", P, key, k);
        if (e->shape[k] && numel > UINT64_MAX / e->shape[k]) overflow = 1;
        else numel *= e->shape[k];
    }
    CZ_RETURN_IF(!json_is_array(of) || json_array_size(of) != 2 || !json_u64(json_array_get(of, 0), &e->begin) ||
                     !json_u64(json_array_get(of, 1), &e->end),
                 CLIMZ_ERR_CORRUPT, "%s: tensor '%s': data_offsets is not [begin, end]", P, key);
    CZ_RETURN_IF(e->end < e->begin, CLIMZ_ERR_CORRUPT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                 "] end before begin", P, key, e->begin, e->end);
    size_t const es = nn_dtype_size(e->dtype);
    char sb[200];
    CZ_RETURN_IF(overflow || numel > UINT64_MAX / es, CLIMZ_ERR_CORRUPT, "%s: tensor '%s': shape %s overflows",
                 P, key, fmt_shape(sb, sizeof sb, e->ndim, e->shape, NULL));
    CZ_RETURN_IF(numel * es != e->end - e->begin, CLIMZ_ERR_CORRUPT,
                 "%s: tensor '%s': shape %s of %s needs %" PRIu64 " bytes but data_offsets span %" PRIu64, P,
                 key, fmt_shape(sb, sizeof sb, e->ndim, e->shape, NULL), nn_dtype_name(e->dtype), numel * es,
                 e->end - e->begin);
    e->numel = numel;
    CZ_RETURN_IF(e->end > ck->data_size, CLIMZ_ERR_TRUNCATED,
                 "%s: tensor '%s': bytes [%" PRIu64 ", %" PRIu64 ") lie beyond the %" PRIu64
                 "-byte data section (file truncated?)", P, key, e->begin, e->end, ck->data_size);
    e->name = cz_strdup(key);
    CZ_RETURN_IF(!e->name, CLIMZ_ERR_ALLOC, "%s: out of memory", P);
    return CLIMZ_OK;
}

typedef struct span {
    uint64_t begin, end;
    size_t i;
} span;
static int cmp_span(const void *a, const void *b) {
    span const *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Sorted by offset, the tensors must tile [0, data_size) exactly. */
static climz_status check_tiling(nn_ckpt *ck) {
    span *idx = cz_malloc((ck->n ? ck->n : 1) * sizeof *idx);
    CZ_RETURN_IF(!idx, CLIMZ_ERR_ALLOC, "%s: out of memory", ck->path);
    for (size_t i = 0; i < ck->n; i++) idx[i] = (span){ck->t[i].begin, ck->t[i].end, i};
    qsort(idx, ck->n, sizeof *idx, cmp_span);
    uint64_t pos = 0;
    const char *prev = NULL;
    climz_status st = CLIMZ_OK;
    for (size_t k = 0; k < ck->n && st == CLIMZ_OK; k++) {
        nn_ckpt_entry const *e = &ck->t[idx[k].i];
        if (e->begin < pos)
            st = cz_error(CLIMZ_ERR_CORRUPT, "%s: tensors '%s' and '%s' overlap (bytes %" PRIu64 "..%" PRIu64 ")",
                          ck->path, prev, e->name, e->begin, pos);
        else if (e->begin > pos)
            st = cz_error(CLIMZ_ERR_CORRUPT, "%s: %" PRIu64 " unused bytes before tensor '%s' at %" PRIu64,
                          ck->path, e->begin - pos, e->name, pos);
        pos = e->end;
        prev = e->name;
    }
    free(idx);
    CZ_FORWARD(st);
    CZ_RETURN_IF(pos != ck->data_size, CLIMZ_ERR_CORRUPT,
                 "%s: %" PRIu64 " bytes after the last tensor (data section %" PRIu64 " bytes)", ck->path,
                 ck->data_size - pos, ck->data_size);
    return CLIMZ_OK;
}

static climz_status parse_file(nn_ckpt *ck) {
    const char *const P = ck->path;
    CZ_RETURN_IF(ck->size < 8, CLIMZ_ERR_TRUNCATED,
                 "%s: %zu bytes, too short for a safetensors file (8-byte header length)", P, ck->size);
    uint64_t const hn = cz_load_le64(ck->file);
    CZ_RETURN_IF(hn > NN_CKPT_MAX_HEADER, CLIMZ_ERR_CORRUPT,
                 "%s: header length %" PRIu64 " exceeds the 100 MB limit: not a safetensors file", P, hn);
    CZ_RETURN_IF(hn < 2, CLIMZ_ERR_CORRUPT, "%s: header length %" PRIu64 " too small", P, hn);
    CZ_RETURN_IF(hn > ck->size - 8, CLIMZ_ERR_TRUNCATED,
                 "%s: header length %" PRIu64 " but only %zu bytes follow (file truncated)", P, hn,
                 ck->size - 8);
    const char *const hdr = (const char *)ck->file + 8;
    CZ_RETURN_IF(hdr[0] != '{', CLIMZ_ERR_CORRUPT, "%s: header does not start with '{'", P);
    ck->data = ck->file + 8 + hn;
    ck->data_size = ck->size - 8 - hn;

    json_error_t jerr;
    json_t *root = json_loadb(hdr, (size_t)hn, JSON_REJECT_DUPLICATES, &jerr);
    CZ_RETURN_IF(!root, CLIMZ_ERR_CORRUPT, "%s: invalid JSON header: %s (line %d, column %d)", P, jerr.text,
                 jerr.line, jerr.column);
    climz_status st = CLIMZ_OK;
    if (!json_is_object(root)) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "%s: header is not a JSON object", P);
    size_t const nk = json_object_size(root);
    ck->t = cz_calloc(nk ? nk : 1, sizeof *ck->t);
    if (!ck->t) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "%s: out of memory", P);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (json_is_null(val)) continue;
            if (!json_is_object(val)) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "%s: __metadata__ is not an object", P);
            size_t const nm = json_object_size(val);
            ck->meta = cz_calloc(nm ? nm : 1, sizeof *ck->meta);
            if (!ck->meta) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "%s: out of memory", P);
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv))
                    CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "%s: metadata '%s' is not a string", P, mk);
                nn_ckpt_kv *kv = &ck->meta[ck->n_meta];
                kv->key = cz_strdup(mk);
                kv->value = cz_strdup(json_string_value(mv));
                ck->n_meta++;
                if (!kv->key || !kv->value) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "%s: out of memory", P);
            }
            continue;
        }
        CZ_CHECK_GOTO(st, parse_entry(ck, key, val, &ck->t[ck->n]), done);
        ck->n++;
    }
    st = check_tiling(ck);
done:
    json_decref(root);
    return st;
}

climz_status nn_ckpt_open_mem(nn_ckpt *ck, const void *buf, size_t size, const char *label) {
    memset(ck, 0, sizeof *ck);
    ck->path = cz_strdup(label ? label : "(memory)");
    CZ_RETURN_IF(!ck->path, CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
    ck->file = buf;
    ck->size = size;
    ck->mapped = 2;
    climz_status const st = parse_file(ck);
    if (st != CLIMZ_OK) nn_ckpt_close(ck);
    return st;
}

climz_status nn_ckpt_open(nn_ckpt *ck, const char *path) {
    memset(ck, 0, sizeof *ck);
    ck->path = cz_strdup(path);
    CZ_RETURN_IF(!ck->path, CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
    /* map the file (a model can be large and is read once); fall back to reading it */
    int const fd = open(path, O_RDONLY);
    if (fd < 0) {
        int const e = errno;
        nn_ckpt_close(ck);
        return cz_error(e == ENOENT ? CLIMZ_ERR_NOT_FOUND : CLIMZ_ERR_IO, "%s: cannot open checkpoint: %s",
                        path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        nn_ckpt_close(ck);
        return cz_error(CLIMZ_ERR_IO, "%s: not a regular file", path);
    }
    ck->size = (size_t)sb.st_size;
    void *m = ck->size ? mmap(NULL, ck->size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (m != MAP_FAILED) {
        ck->file = m;
        ck->mapped = 1;
    } else {
        uint8_t *d = NULL;
        size_t n = 0;
        climz_status const st = cz_read_file(path, &d, &n);
        if (st != CLIMZ_OK) {
            nn_ckpt_close(ck);
            return st;
        }
        ck->file = d;
        ck->size = n;
        ck->mapped = 0;
    }
    climz_status const st = parse_file(ck);
    if (st != CLIMZ_OK) nn_ckpt_close(ck);
    return st;
}

const nn_ckpt_entry *nn_ckpt_find(const nn_ckpt *ck, const char *name) {
    for (size_t i = 0; i < ck->n; i++)
        if (strcmp(ck->t[i].name, name) == 0) return &ck->t[i];
    return NULL;
}

const char *nn_ckpt_meta(const nn_ckpt *ck, const char *key) {
    for (size_t i = 0; i < ck->n_meta; i++)
        if (strcmp(ck->meta[i].key, key) == 0) return ck->meta[i].value;
    return NULL;
}

climz_status nn_ckpt_get(const nn_ckpt *ck, const char *name, nn_dtype dt, size_t ndim,
                         const size_t *shape, void *dst) {
    nn_ckpt_entry const *e = nn_ckpt_find(ck, name);
    CZ_RETURN_IF(!e, CLIMZ_ERR_NOT_FOUND, "%s: no tensor '%s'", ck->path, name);
    int same = e->ndim == ndim;
    for (size_t d = 0; same && d < ndim; d++) same = e->shape[d] == (uint64_t)shape[d];
    if (!same) {
        char a[200], b[200];
        return cz_error(CLIMZ_ERR_DIMENSION, "%s: tensor '%s' has shape %s, expected %s", ck->path, name,
                        fmt_shape(a, sizeof a, e->ndim, e->shape, NULL), fmt_shape(b, sizeof b, ndim, NULL, shape));
    }
    const uint8_t *src = nn_ckpt_bytes(ck, e);
    size_t const nb = (size_t)(e->end - e->begin);
    if (e->dtype == dt) {
        copy_le(dst, src, nb, nn_dtype_size(dt));
        return CLIMZ_OK;
    }
    CZ_RETURN_IF(dt != NN_DT_F32 || (e->dtype != NN_DT_F16 && e->dtype != NN_DT_BF16), CLIMZ_ERR_UNSUPPORTED,
                 "%s: tensor '%s' is %s, expected %s", ck->path, name, nn_dtype_name(e->dtype), nn_dtype_name(dt));
    float *f = dst;
    size_t const n = (size_t)e->numel;
    if (e->dtype == NN_DT_F16)
        for (size_t i = 0; i < n; i++) f[i] = f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    else
        for (size_t i = 0; i < n; i++) f[i] = bf16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    return CLIMZ_OK;
}

/* ---- parameter stores and optimizer state ----------------------------------------------- */

climz_status nn_ckpt_put_params(nn_ckpt_writer *w, const nn_params *p) {
    CZ_RETURN_IF(!p->data, CLIMZ_ERR_INVALID_ARG, "checkpoint: parameter store not allocated");
    for (size_t i = 0; i < p->n; i++)
        CZ_FORWARD(nn_ckpt_put(w, p->t[i].name, NN_DT_F32, p->t[i].ndim, p->t[i].shape, nn_params_data(p, i)));
    return CLIMZ_OK;
}

#define M_PREFIX "optim.exp_avg."
#define V_PREFIX "optim.exp_avg_sq."

static char *prefixed(const char *prefix, const char *name) {
    size_t const a = strlen(prefix), b = strlen(name);
    char *s = cz_malloc(a + b + 1);
    if (s) {
        memcpy(s, prefix, a);
        memcpy(s + a, name, b + 1);
    }
    return s;
}

climz_status nn_ckpt_put_optim(nn_ckpt_writer *w, const nn_params *p, const nn_adamw *o) {
    CZ_RETURN_IF(!p->m || !p->v, CLIMZ_ERR_INVALID_ARG,
                 "checkpoint: parameter store has no optimizer buffers (allocated without training)");
    for (size_t i = 0; i < p->n; i++) {
        for (int k = 0; k < 2; k++) {
            char *nm = prefixed(k ? V_PREFIX : M_PREFIX, p->t[i].name);
            CZ_RETURN_IF(!nm, CLIMZ_ERR_ALLOC, "checkpoint: out of memory");
            climz_status const st = nn_ckpt_put(w, nm, NN_DT_F32, p->t[i].ndim, p->t[i].shape,
                                                k ? nn_params_v(p, i) : nn_params_m(p, i));
            free(nm);
            CZ_FORWARD(st);
        }
    }
    json_t *root = json_object(), *groups = json_object();
    int bad = !root || !groups;
    if (!bad) {
        bad |= json_object_set_new(root, "version", json_integer(1));
        bad |= json_object_set_new(root, "step", json_integer((json_int_t)o->step));
        bad |= json_object_set_new(root, "clip_norm", json_real(o->clip_norm));
        for (size_t g = 0; g < p->n_groups && !bad; g++) {
            nn_adamw_hparams const *h = &o->hp[g];
            json_t *G = json_object();
            bad |= !G || json_object_set_new(groups, p->groups[g].name, G);
            if (bad) break;
            bad |= json_object_set_new(G, "step", json_integer((json_int_t)o->group_step[g]));
            bad |= json_object_set_new(G, "frozen", json_boolean(p->groups[g].frozen));
            bad |= json_object_set_new(G, "lr_scale", json_real(h->lr_scale));
            bad |= json_object_set_new(G, "beta1", json_real(h->beta1));
            bad |= json_object_set_new(G, "beta2", json_real(h->beta2));
            bad |= json_object_set_new(G, "eps", json_real(h->eps));
            bad |= json_object_set_new(G, "weight_decay", json_real(h->weight_decay));
        }
        bad |= json_object_set(root, "groups", groups);
    }
    char *txt = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(groups);
    json_decref(root);
    CZ_RETURN_IF(!txt, CLIMZ_ERR_ALLOC, "checkpoint: cannot serialise the optimizer state");
    climz_status const st = nn_ckpt_put_meta(w, NN_CKPT_OPTIM_KEY, txt);
    free(txt);
    return st;
}

climz_status nn_ckpt_get_params(const nn_ckpt *ck, nn_params *p) {
    CZ_RETURN_IF(!p->data, CLIMZ_ERR_INVALID_ARG, "%s: parameter store not allocated", ck->path);
    for (size_t i = 0; i < p->n; i++)
        CZ_FORWARD(nn_ckpt_get(ck, p->t[i].name, NN_DT_F32, p->t[i].ndim, p->t[i].shape, nn_params_data(p, i)));
    return CLIMZ_OK;
}

static int json_num(const json_t *j, double *v) {
    if (!json_is_number(j)) return 0;
    *v = json_number_value(j);
    return 1;
}

climz_status nn_ckpt_get_optim(const nn_ckpt *ck, nn_params *p, nn_adamw *o) {
    const char *const P = ck->path;
    CZ_RETURN_IF(!p->m || !p->v, CLIMZ_ERR_INVALID_ARG,
                 "%s: parameter store has no optimizer buffers (allocated without training)", P);
    const char *const txt = nn_ckpt_meta(ck, NN_CKPT_OPTIM_KEY);
    CZ_RETURN_IF(!txt, CLIMZ_ERR_NOT_FOUND, "%s: no optimizer state (metadata '%s')", P, NN_CKPT_OPTIM_KEY);
    json_error_t jerr;
    json_t *root = json_loads(txt, JSON_REJECT_DUPLICATES, &jerr);
    CZ_RETURN_IF(!root, CLIMZ_ERR_CORRUPT, "%s: optimizer state is not JSON: %s", P, jerr.text);
    climz_status st = CLIMZ_OK;
    nn_adamw n = *o;
    int frozen[NN_MAX_GROUPS] = {0};
    uint64_t u;
    double clip;
    json_t const *groups = json_object_get(root, "groups");
    if (json_integer_value(json_object_get(root, "version")) != 1 || !json_u64(json_object_get(root, "step"), &u) ||
        !json_num(json_object_get(root, "clip_norm"), &clip) || !json_is_object(groups))
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "%s: optimizer state lacks version 1, step, clip_norm or groups", P);
    n.step = u;
    n.clip_norm = clip;
    for (size_t g = 0; g < p->n_groups; g++) {
        const char *const gn = p->groups[g].name;
        json_t const *G = json_object_get(groups, gn);
        if (!G) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_NOT_FOUND, "%s: optimizer state has no group '%s'", P, gn);
        double h[5];
        if (!json_u64(json_object_get(G, "step"), &u) || !json_is_boolean(json_object_get(G, "frozen")) ||
            !json_num(json_object_get(G, "lr_scale"), &h[0]) || !json_num(json_object_get(G, "beta1"), &h[1]) ||
            !json_num(json_object_get(G, "beta2"), &h[2]) || !json_num(json_object_get(G, "eps"), &h[3]) ||
            !json_num(json_object_get(G, "weight_decay"), &h[4]))
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "%s: optimizer state of group '%s' is incomplete", P, gn);
        n.group_step[g] = u;
        frozen[g] = json_is_true(json_object_get(G, "frozen"));
        n.hp[g].lr_scale = h[0];
        n.hp[g].beta1 = h[1];
        n.hp[g].beta2 = h[2];
        n.hp[g].eps = h[3];
        n.hp[g].weight_decay = h[4];
    }
    for (size_t i = 0; i < p->n && st == CLIMZ_OK; i++) {
        for (int k = 0; k < 2 && st == CLIMZ_OK; k++) {
            char *nm = prefixed(k ? V_PREFIX : M_PREFIX, p->t[i].name);
            if (!nm) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "%s: out of memory", P);
            st = nn_ckpt_get(ck, nm, NN_DT_F32, p->t[i].ndim, p->t[i].shape, k ? nn_params_v(p, i) : nn_params_m(p, i));
            free(nm);
        }
    }
    if (st == CLIMZ_OK) {
        *o = n;
        for (size_t g = 0; g < p->n_groups; g++) p->groups[g].frozen = frozen[g];
    }
done:
    json_decref(root);
    return st;
}

climz_status nn_checkpoint_save(const char *path, const nn_params *p, const nn_adamw *o,
                                const char *const *kv) {
    nn_ckpt_writer w;
    nn_ckpt_writer_init(&w);
    climz_status st;
    CZ_CHECK_GOTO(st, nn_ckpt_put_params(&w, p), done);
    if (o) CZ_CHECK_GOTO(st, nn_ckpt_put_optim(&w, p, o), done);
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (!kv[i + 1]) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_INVALID_ARG, "checkpoint %s: metadata '%s' has no value",
                                     path, kv[i]);
        CZ_CHECK_GOTO(st, nn_ckpt_put_meta(&w, kv[i], kv[i + 1]), done);
    }
    st = nn_ckpt_write(&w, path);
done:
    nn_ckpt_writer_free(&w);
    return st;
}

climz_status nn_checkpoint_load(const char *path, nn_params *p, nn_adamw *o) {
    nn_ckpt ck;
    CZ_FORWARD(nn_ckpt_open(&ck, path));
    climz_status st = nn_ckpt_get_params(&ck, p);
    if (st == CLIMZ_OK && o) st = nn_ckpt_get_optim(&ck, p, o);
    nn_ckpt_close(&ck);
    return st;
}

climz_status nn_checkpoint_hash(const char *path, uint8_t digest[32], char hex[65]) {
    CZ_FORWARD(cz_sha256_file(path, digest));
    if (hex) cz_sha256_hex(digest, hex);
    return CLIMZ_OK;
}
