/* container.c — .clz writer and reader; layout in doc/format.md. */
#include "container/container.h"
#include "container/frame_compact.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t clz_magic[8] = {0x89, 'C', 'L', 'Z', '\r', '\n', 0x1a, '\n'};

#define CLZ_MAX_PREAMBLE 4096u   /* sanity limit on the preamble size field */
#define CLZ_MAX_NAME 4096u       /* longest variable name in the name table */
#define CLZ_FLAGS_REQUIRED 0xffffu /* low 16 flag bits: a reader must know them all */
#define CLZ_FLAGS_KNOWN 0u         /* none defined in 1.0 */

const char *clz_stream_name(int stream) {
    switch (stream) {
    case CLZ_STREAM_SCHEMA: return "schema";
    case CLZ_STREAM_MASK: return "mask";
    case CLZ_STREAM_RESIDUAL: return "residual";
    case CLZ_STREAM_LATENT: return "latent";
    case CLZ_STREAM_INR: return "inr";
    case CLZ_STREAM_CONTEXT: return "context";
    case CLZ_STREAM_EXACT: return "exact";
    default: return "unknown";
    }
}

static int key_cmp(uint32_t va, uint32_t ta, uint16_t sa, uint32_t vb, uint32_t tb, uint16_t sb) {
    if (va != vb) return va < vb ? -1 : 1;
    if (ta != tb) return ta < tb ? -1 : 1;
    if (sa != sb) return sa < sb ? -1 : 1;
    return 0;
}

/* ==== writer ========================================================================== */

typedef struct clz_wname {
    uint32_t var;
    char *name;
} clz_wname;

struct clz_writer {
    clz_chunk *chunks; /* offset = position in payload until finish */
    size_t n, cap;
    cz_buf payload;
    uint64_t ext_bytes; /* payload bytes of external chunks (written elsewhere), see clz_writer_add_external */
    clz_wname *names;
    size_t nnames, names_cap;
};

climz_status clz_writer_create(clz_writer **w) {
    *w = cz_calloc(1, sizeof **w);
    CZ_RETURN_IF(!*w, CLIMZ_ERR_ALLOC, "out of memory");
    return CLIMZ_OK;
}

void clz_writer_free(clz_writer *w) {
    if (!w) return;
    free(w->chunks);
    cz_buf_free(&w->payload);
    for (size_t i = 0; i < w->nnames; i++) free(w->names[i].name);
    free(w->names);
    free(w);
}

size_t clz_writer_nchunks(const clz_writer *w) { return w->n; }
size_t clz_writer_payload_bytes(const clz_writer *w) { return w->payload.size + (size_t)w->ext_bytes; }
void clz_writer_rollback(clz_writer *w, size_t n, size_t bytes) { /* chunks in the payload only */
    if (n < w->n) w->n = n;
    if (bytes - (size_t)w->ext_bytes < w->payload.size) w->payload.size = bytes - (size_t)w->ext_bytes;
}

static climz_status writer_grow(clz_writer *w) {
    CZ_RETURN_IF(w->n >= UINT32_MAX - 1, CLIMZ_ERR_INVALID_ARG, "too many chunks");
    if (w->n == w->cap) {
        size_t const cap = w->cap ? 2 * w->cap : 64;
        clz_chunk *c = cz_realloc(w->chunks, cap * sizeof *c);
        CZ_RETURN_IF(!c, CLIMZ_ERR_ALLOC, "out of memory growing the chunk list");
        w->chunks = c;
        w->cap = cap;
    }
    return CLIMZ_OK;
}

climz_status clz_writer_add_external(clz_writer *w, uint32_t var, uint32_t t, uint16_t stream, uint64_t size,
                                     uint32_t crc) {
    CZ_RETURN_IF(stream == 0, CLIMZ_ERR_INVALID_ARG, "chunk stream 0 is reserved");
    CZ_RETURN_IF(w->payload.size, CLIMZ_ERR_INVALID_ARG, "a writer holds stored or external chunks, not both");
    CZ_FORWARD(writer_grow(w));
    clz_chunk *c = &w->chunks[w->n++];
    *c = (clz_chunk){.var = var, .t = t, .stream = stream, .offset = w->ext_bytes, .size = size, .crc = crc};
    w->ext_bytes += size;
    return CLIMZ_OK;
}

climz_status clz_writer_chunk_at(const clz_writer *w, size_t i, clz_chunk *c, const uint8_t **data) {
    CZ_RETURN_IF(i >= w->n, CLIMZ_ERR_NOT_FOUND, "chunk %zu of %zu", i, w->n);
    *c = w->chunks[i];
    *data = w->ext_bytes ? NULL : w->payload.data + c->offset;
    return CLIMZ_OK;
}

climz_status clz_writer_add(clz_writer *w, uint32_t var, uint32_t t, uint16_t stream,
                            const void *data, size_t size) {
    CZ_RETURN_IF(stream == 0, CLIMZ_ERR_INVALID_ARG, "chunk stream 0 is reserved");
    CZ_RETURN_IF(size && !data, CLIMZ_ERR_INVALID_ARG, "chunk data is NULL");
    CZ_RETURN_IF(w->ext_bytes, CLIMZ_ERR_INVALID_ARG, "a writer holds stored or external chunks, not both");
    CZ_FORWARD(writer_grow(w));
    /* duplicates are rejected at finish (one sort) rather than here (n^2) */
    size_t const at = w->payload.size;
    CZ_FORWARD(cz_buf_put(&w->payload, data, size));
    clz_chunk *c = &w->chunks[w->n++];
    c->var = var;
    c->t = t;
    c->stream = stream;
    c->offset = at;
    c->size = size;
    c->crc = cz_crc32c(0, data, size);
    return CLIMZ_OK;
}

climz_status clz_writer_set_var_name(clz_writer *w, uint32_t var, const char *name) {
    CZ_RETURN_IF(var == CLZ_NO_VAR || !name, CLIMZ_ERR_INVALID_ARG, "bad variable name entry");
    size_t const len = strlen(name);
    CZ_RETURN_IF(len > CLZ_MAX_NAME, CLIMZ_ERR_INVALID_ARG, "variable name longer than %u bytes",
                 CLZ_MAX_NAME);
    char *d = cz_strdup(name);
    CZ_RETURN_IF(!d, CLIMZ_ERR_ALLOC, "out of memory");
    for (size_t i = 0; i < w->nnames; i++)
        if (w->names[i].var == var) {
            free(w->names[i].name);
            w->names[i].name = d;
            return CLIMZ_OK;
        }
    if (w->nnames == w->names_cap) {
        size_t const cap = w->names_cap ? 2 * w->names_cap : 16;
        clz_wname *p = cz_realloc(w->names, cap * sizeof *p);
        if (!p) {
            free(d);
            return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        }
        w->names = p;
        w->names_cap = cap;
    }
    w->names[w->nnames].var = var;
    w->names[w->nnames].name = d;
    w->nnames++;
    return CLIMZ_OK;
}

static int chunk_ptr_cmp(const void *a, const void *b) {
    const clz_chunk *x = *(const clz_chunk *const *)a, *y = *(const clz_chunk *const *)b;
    return key_cmp(x->var, x->t, x->stream, y->var, y->t, y->stream);
}

static int wname_cmp(const void *a, const void *b) {
    uint32_t const x = ((const clz_wname *)a)->var, y = ((const clz_wname *)b)->var;
    return x < y ? -1 : x > y;
}

/* Preamble + header + index into head; the payload follows it unchanged. */
static climz_status writer_layout(clz_writer *w, const char *header_json, cz_buf *head) {
    CZ_RETURN_IF(!header_json, CLIMZ_ERR_INVALID_ARG, "header JSON is NULL");
    if (w->n > 1) {
        const clz_chunk **s = cz_malloc(w->n * sizeof *s);
        CZ_RETURN_IF(!s, CLIMZ_ERR_ALLOC, "out of memory");
        for (size_t i = 0; i < w->n; i++) s[i] = &w->chunks[i];
        qsort(s, w->n, sizeof *s, chunk_ptr_cmp);
        for (size_t i = 1; i < w->n; i++)
            if (chunk_ptr_cmp(&s[i - 1], &s[i]) == 0) {
                climz_status const st = cz_error(
                    CLIMZ_ERR_INVALID_ARG, "chunk (var %u, time %u, stream %s) added twice",
                    (unsigned)s[i]->var, (unsigned)s[i]->t, clz_stream_name(s[i]->stream));
                free(s);
                return st;
            }
        free(s);
    }
    if (w->nnames > 1) qsort(w->names, w->nnames, sizeof *w->names, wname_cmp);

    size_t const hsize = strlen(header_json);
    cz_buf idx = {0};
    climz_status st = CLIMZ_OK;
    /* entries: offsets become absolute once the index size is known, so write names first
     * into a separate buffer to learn that size */
    cz_buf names = {0};
    CZ_CHECK_GOTO(st, cz_buf_put_u32(&names, (uint32_t)w->nnames), out);
    for (size_t i = 0; i < w->nnames; i++) {
        CZ_CHECK_GOTO(st, cz_buf_put_u32(&names, w->names[i].var), out);
        CZ_CHECK_GOTO(st, cz_buf_put_str(&names, w->names[i].name), out);
    }
    uint64_t const index_off = CLZ_PREAMBLE_SIZE + (uint64_t)hsize;
    uint64_t const index_size = (uint64_t)w->n * CLZ_INDEX_ENTRY_SIZE + names.size;
    uint64_t const data_off = index_off + index_size;
    for (size_t i = 0; i < w->n; i++) {
        const clz_chunk *c = &w->chunks[i];
        CZ_CHECK_GOTO(st, cz_buf_put_u32(&idx, c->var), out);
        CZ_CHECK_GOTO(st, cz_buf_put_u32(&idx, c->t), out);
        CZ_CHECK_GOTO(st, cz_buf_put_u16(&idx, c->stream), out);
        CZ_CHECK_GOTO(st, cz_buf_put_u16(&idx, 0), out); /* reserved */
        CZ_CHECK_GOTO(st, cz_buf_put_u32(&idx, c->crc), out);
        CZ_CHECK_GOTO(st, cz_buf_put_u64(&idx, data_off + c->offset), out);
        CZ_CHECK_GOTO(st, cz_buf_put_u64(&idx, c->size), out);
    }
    CZ_CHECK_GOTO(st, cz_buf_put(&idx, names.data, names.size), out);

    uint8_t pre[CLZ_PREAMBLE_SIZE] = {0};
    memcpy(pre, clz_magic, 8);
    pre[8] = CLZ_FORMAT_MAJOR;
    pre[10] = CLZ_FORMAT_MINOR;
    cz_store_le32(pre + 12, CLZ_PREAMBLE_SIZE);
    cz_store_le32(pre + 16, 0); /* flags */
    cz_store_le32(pre + 20, cz_crc32c(0, header_json, hsize));
    cz_store_le64(pre + 24, data_off + w->payload.size + w->ext_bytes);
    cz_store_le64(pre + 32, CLZ_PREAMBLE_SIZE);
    cz_store_le64(pre + 40, hsize);
    cz_store_le64(pre + 48, index_off);
    cz_store_le64(pre + 56, index_size);
    cz_store_le64(pre + 64, w->n);
    cz_store_le32(pre + 72, cz_crc32c(0, idx.data, idx.size));
    cz_store_le32(pre + 76, cz_crc32c(0, pre, 76));
    CZ_CHECK_GOTO(st, cz_buf_reserve(head, CLZ_PREAMBLE_SIZE + hsize + idx.size), out);
    CZ_CHECK_GOTO(st, cz_buf_put(head, pre, sizeof pre), out);
    CZ_CHECK_GOTO(st, cz_buf_put(head, header_json, hsize), out);
    CZ_CHECK_GOTO(st, cz_buf_put(head, idx.data, idx.size), out);
out:
    cz_buf_free(&names);
    cz_buf_free(&idx);
    return st;
}

climz_status clz_writer_head(clz_writer *w, const char *header_json, cz_buf *head) {
    return writer_layout(w, header_json, head);
}

climz_status clz_writer_finish_mem(clz_writer *w, const char *header_json, cz_buf *out) {
    CZ_RETURN_IF(w->ext_bytes, CLIMZ_ERR_INVALID_ARG, "the writer has external chunks: use clz_writer_head");
    cz_buf head = {0};
    climz_status st = writer_layout(w, header_json, &head);
    if (st == CLIMZ_OK) st = cz_buf_put(out, head.data, head.size);
    if (st == CLIMZ_OK) st = cz_buf_put(out, w->payload.data, w->payload.size);
    cz_buf_free(&head);
    return st;
}

climz_status clz_writer_finish_into(clz_writer *w, const char *header_json, void *dst, size_t cap, size_t *written) {
    CZ_RETURN_IF(w->ext_bytes, CLIMZ_ERR_INVALID_ARG, "the writer has external chunks: use clz_writer_head");
    cz_buf head = {0};
    CZ_FORWARD(writer_layout(w, header_json, &head));
    size_t const total = head.size + w->payload.size;
    climz_status st = CLIMZ_OK;
    if (total > cap) st = cz_error(CLIMZ_ERR_DST_TOO_SMALL, "the frame needs %zu bytes, the buffer holds %zu", total, cap);
    else {
        memcpy(dst, head.data, head.size);
        if (w->payload.size) memcpy((uint8_t *)dst + head.size, w->payload.data, w->payload.size);
        *written = total;
    }
    cz_buf_free(&head);
    return st;
}

climz_status clz_writer_finish(clz_writer *w, const char *header_json, const char *path) {
    CZ_RETURN_IF(w->ext_bytes, CLIMZ_ERR_INVALID_ARG, "the writer has external chunks: use clz_writer_head");
    cz_buf head = {0};
    CZ_FORWARD(writer_layout(w, header_json, &head));
    cz_atomic a;
    climz_status st = cz_atomic_open(&a, path);
    if (st != CLIMZ_OK) {
        cz_buf_free(&head);
        return st;
    }
    st = cz_atomic_write(&a, head.data, head.size);
    if (st == CLIMZ_OK) st = cz_atomic_write(&a, w->payload.data, w->payload.size);
    cz_buf_free(&head);
    if (st != CLIMZ_OK) {
        cz_atomic_abort(&a);
        return st;
    }
    return cz_atomic_commit(&a);
}

/* ==== reader ========================================================================== */

struct clz_reader {
    const uint8_t *base; /* the whole file: mapping or owned copy */
    size_t size;
    void *map;           /* mmap'd region (or NULL) */
    size_t map_size;
    uint8_t *owned;      /* malloc'd copy (or NULL) */
    uint8_t *expanded;   /* the image a compact frame expanded to (or NULL): base then points here */
    size_t stored_size;  /* bytes of the file or buffer as given (a compact frame's are fewer) */
    unsigned major, minor;
    char *header;
    size_t header_size;
    clz_chunk *chunks;
    size_t n;
    uint32_t *order;     /* chunk positions sorted by key */
    /* names for messages, sorted by var: the name table, else the header JSON's */
    uint32_t *name_var;
    char **name;
    size_t nnames;
};

void clz_reader_free(clz_reader *r) {
    if (!r) return;
    if (r->map) munmap(r->map, r->map_size);
    free(r->owned);
    free(r->expanded);
    free(r->header);
    free(r->chunks);
    free(r->order);
    for (size_t i = 0; i < r->nnames; i++) free(r->name[i]);
    free(r->name);
    free(r->name_var);
    free(r);
}

const char *clz_reader_var_name(const clz_reader *r, uint32_t var) {
    size_t lo = 0, hi = r->nnames;
    while (lo < hi) {
        size_t const mid = lo + (hi - lo) / 2;
        if (r->name_var[mid] == var) return r->name[mid];
        if (r->name_var[mid] < var) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static char *describe_key(const clz_reader *r, size_t i, uint32_t var, uint32_t t, uint16_t stream,
                          char *buf, size_t cap) {
    char vs[80], ts[32];
    const char *name = r ? clz_reader_var_name(r, var) : NULL;
    if (var == CLZ_NO_VAR) snprintf(vs, sizeof vs, "no var");
    else if (name) snprintf(vs, sizeof vs, "var %.64s", name);
    else snprintf(vs, sizeof vs, "var #%u", (unsigned)var);
    if (t == CLZ_NO_TIME) snprintf(ts, sizeof ts, "all times");
    else snprintf(ts, sizeof ts, "time %u", (unsigned)t);
    if (stream >= CLZ_STREAM_SCHEMA && stream <= CLZ_STREAM_INR)
        snprintf(buf, cap, "chunk %zu (%s, %s, stream %s)", i, vs, ts, clz_stream_name(stream));
    else
        snprintf(buf, cap, "chunk %zu (%s, %s, stream %u)", i, vs, ts, (unsigned)stream);
    return buf;
}

char *clz_reader_describe(const clz_reader *r, size_t i, char *buf, size_t cap) {
    if (i >= r->n) {
        snprintf(buf, cap, "chunk %zu (absent)", i);
        return buf;
    }
    const clz_chunk *c = &r->chunks[i];
    return describe_key(r, i, c->var, c->t, c->stream, buf, cap);
}

/* Sort chunk positions by their chunks' keys: a merge sort, since qsort would need the
 * chunk array in a global to compare positions. tmp has n entries. */
static void sort_order(const clz_chunk *ch, uint32_t *a, uint32_t *tmp, size_t n) {
    if (n < 2) return;
    size_t const h = n / 2;
    sort_order(ch, a, tmp, h);
    sort_order(ch, a + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        const clz_chunk *x = &ch[a[i]], *y = &ch[a[j]];
        if (key_cmp(x->var, x->t, x->stream, y->var, y->t, y->stream) <= 0) tmp[k++] = a[i++];
        else tmp[k++] = a[j++];
    }
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

typedef struct name_pair {
    uint32_t var;
    uint32_t pos; /* position in the JSON array: the first entry of a var wins */
    const char *name;
} name_pair;

static int name_pair_cmp(const void *a, const void *b) {
    const name_pair *x = a, *y = b;
    if (x->var != y->var) return x->var < y->var ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Names from the header JSON when the file has no name table: "variables": [ "name" |
 * {"name": ..., "index": var}, ... ] (var = "index" when present, else the position).
 * Best effort: a header without them is fine. */
static void header_json_names(clz_reader *r) {
    json_error_t jerr;
    json_t *root = json_loadb(r->header, r->header_size, 0, &jerr);
    if (!root) return;
    json_t *vars = json_is_object(root) ? json_object_get(root, "variables") : NULL;
    size_t const nv = json_is_array(vars) && json_array_size(vars) < UINT32_MAX ? json_array_size(vars) : 0;
    name_pair *pr = nv ? cz_malloc(nv * sizeof *pr) : NULL;
    r->name = nv ? cz_calloc(nv, sizeof *r->name) : NULL;
    r->name_var = nv ? cz_calloc(nv, sizeof *r->name_var) : NULL;
    size_t np = 0;
    for (size_t i = 0; i < nv && pr && r->name && r->name_var; i++) {
        json_t *e = json_array_get(vars, i), *nm = e;
        json_int_t var = (json_int_t)i;
        if (json_is_object(e)) {
            nm = json_object_get(e, "name");
            json_t *ix = json_object_get(e, "index");
            if (json_is_integer(ix)) var = json_integer_value(ix);
        }
        if (!json_is_string(nm) || var < 0 || var >= (json_int_t)CLZ_NO_VAR) continue;
        pr[np++] = (name_pair){(uint32_t)var, (uint32_t)i, json_string_value(nm)};
    }
    if (np > 1) qsort(pr, np, sizeof *pr, name_pair_cmp);
    for (size_t i = 0; i < np; i++) {
        if (i > 0 && pr[i].var == pr[i - 1].var) continue;
        char *d = cz_strdup(pr[i].name);
        if (!d) break;
        r->name[r->nnames] = d;
        r->name_var[r->nnames] = pr[i].var;
        r->nnames++;
    }
    free(pr);
    json_decref(root);
}

static climz_status parse_index(clz_reader *r, const uint8_t *p, uint64_t size, uint64_t count,
                                uint64_t data_off) {
    cz_rd rd = cz_rd_make(p, (size_t)size);
    r->chunks = cz_calloc((size_t)count, sizeof *r->chunks);
    CZ_RETURN_IF(!r->chunks, CLIMZ_ERR_ALLOC, "out of memory for %llu index entries",
                 (unsigned long long)count);
    r->n = (size_t)count;
    uint64_t expect = data_off;
    for (size_t i = 0; i < r->n; i++) {
        clz_chunk *c = &r->chunks[i];
        uint16_t reserved;
        CZ_FORWARD(cz_rd_u32(&rd, &c->var));
        CZ_FORWARD(cz_rd_u32(&rd, &c->t));
        CZ_FORWARD(cz_rd_u16(&rd, &c->stream));
        CZ_FORWARD(cz_rd_u16(&rd, &reserved));
        CZ_FORWARD(cz_rd_u32(&rd, &c->crc));
        CZ_FORWARD(cz_rd_u64(&rd, &c->offset));
        CZ_FORWARD(cz_rd_u64(&rd, &c->size));
        char d[160];
        CZ_RETURN_IF(c->stream == 0, CLIMZ_ERR_CORRUPT, "%s: stream 0 is reserved",
                     describe_key(NULL, i, c->var, c->t, c->stream, d, sizeof d));
        /* payloads are contiguous in index order: every byte is under exactly one CRC */
        CZ_RETURN_IF(c->offset != expect, CLIMZ_ERR_CORRUPT,
                     "%s: offset %llu, expected %llu",
                     describe_key(NULL, i, c->var, c->t, c->stream, d, sizeof d),
                     (unsigned long long)c->offset, (unsigned long long)expect);
        CZ_RETURN_IF(c->size > r->size - c->offset, CLIMZ_ERR_CORRUPT,
                     "%s: %llu bytes at offset %llu run past the end of the %zu-byte file",
                     describe_key(NULL, i, c->var, c->t, c->stream, d, sizeof d),
                     (unsigned long long)c->size, (unsigned long long)c->offset, r->size);
        expect = c->offset + c->size;
    }
    CZ_RETURN_IF(expect != r->size, CLIMZ_ERR_CORRUPT,
                 "chunks end at byte %llu but the file has %zu bytes", (unsigned long long)expect,
                 r->size);

    uint32_t nn;
    CZ_FORWARD(cz_rd_u32(&rd, &nn));
    /* each entry takes at least 8 bytes: bound the count before allocating */
    CZ_RETURN_IF(nn > cz_rd_left(&rd) / 8, CLIMZ_ERR_CORRUPT, "name table count %u is too large",
                 (unsigned)nn);
    if (nn) {
        r->name = cz_calloc(nn, sizeof *r->name);
        r->name_var = cz_calloc(nn, sizeof *r->name_var);
        CZ_RETURN_IF(!r->name || !r->name_var, CLIMZ_ERR_ALLOC, "out of memory");
    }
    for (uint32_t i = 0; i < nn; i++) {
        uint32_t len;
        const uint8_t *q;
        CZ_FORWARD(cz_rd_u32(&rd, &r->name_var[i]));
        CZ_FORWARD(cz_rd_u32(&rd, &len));
        CZ_RETURN_IF(len > CLZ_MAX_NAME, CLIMZ_ERR_CORRUPT, "name table entry %u is %u bytes long",
                     (unsigned)i, (unsigned)len);
        CZ_FORWARD(cz_rd_skip(&rd, len, &q));
        CZ_RETURN_IF(memchr(q, 0, len) != NULL, CLIMZ_ERR_CORRUPT,
                     "name table entry %u contains a NUL byte", (unsigned)i);
        CZ_RETURN_IF(i > 0 && r->name_var[i] <= r->name_var[i - 1], CLIMZ_ERR_CORRUPT,
                     "name table is not sorted by variable");
        CZ_RETURN_IF(r->name_var[i] == CLZ_NO_VAR, CLIMZ_ERR_CORRUPT,
                     "name table names CLZ_NO_VAR");
        r->name[i] = cz_malloc((size_t)len + 1);
        CZ_RETURN_IF(!r->name[i], CLIMZ_ERR_ALLOC, "out of memory");
        r->nnames = i + 1;
        memcpy(r->name[i], q, len);
        r->name[i][len] = 0;
    }
    CZ_RETURN_IF(cz_rd_left(&rd) != 0, CLIMZ_ERR_CORRUPT, "%zu unexplained bytes after the index",
                 cz_rd_left(&rd));

    /* sorted key order for lookups; duplicate keys are corrupt */
    r->order = cz_malloc(r->n * sizeof *r->order);
    uint32_t *tmp = cz_malloc(r->n * sizeof *tmp);
    if (!r->order || !tmp) {
        free(tmp);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    for (size_t i = 0; i < r->n; i++) r->order[i] = (uint32_t)i;
    sort_order(r->chunks, r->order, tmp, r->n);
    free(tmp);
    for (size_t i = 1; i < r->n; i++) {
        const clz_chunk *a = &r->chunks[r->order[i - 1]], *b = &r->chunks[r->order[i]];
        char d[160];
        CZ_RETURN_IF(key_cmp(a->var, a->t, a->stream, b->var, b->t, b->stream) == 0,
                     CLIMZ_ERR_CORRUPT, "%s: duplicate key",
                     describe_key(NULL, r->order[i], b->var, b->t, b->stream, d, sizeof d));
    }
    return CLIMZ_OK;
}

/* Checks the image r->base[0..size) and fills the reader. */
static climz_status reader_parse(clz_reader *r) {
    r->stored_size = r->size;
    if (clz_compact_is(r->base, r->size)) { /* a compact frame: its image is what is read */
        CZ_FORWARD(clz_compact_expand(r->base, r->size, &r->expanded, &r->size));
        r->base = r->expanded;
    }
    const uint8_t *b = r->base;
    size_t const size = r->size;
    if (size < 8) {
        CZ_RETURN_IF(size == 0 || memcmp(b, clz_magic, size) == 0, CLIMZ_ERR_TRUNCATED,
                     "file of %zu bytes is shorter than the .clz preamble", size);
        return cz_error(CLIMZ_ERR_CORRUPT, "not a .clz file (bad magic)");
    }
    CZ_RETURN_IF(memcmp(b, clz_magic, 8) != 0, CLIMZ_ERR_CORRUPT, "not a .clz file (bad magic)");
    CZ_RETURN_IF(size < 16, CLIMZ_ERR_TRUNCATED,
                 "file of %zu bytes is shorter than the .clz preamble", size);
    /* bytes 0..15 (magic, version, preamble size) and the preamble CRC in its last 4 bytes
     * keep their places in every version, so even a newer file's preamble can be checked
     * before its version is judged */
    uint32_t const psize = cz_load_le32(b + 12);
    CZ_RETURN_IF(psize < 20 || psize > CLZ_MAX_PREAMBLE || psize % 4, CLIMZ_ERR_CORRUPT,
                 "preamble size %u is invalid", (unsigned)psize);
    CZ_RETURN_IF(size < psize, CLIMZ_ERR_TRUNCATED,
                 "file of %zu bytes is shorter than its %u-byte preamble", size, (unsigned)psize);
    CZ_RETURN_IF(cz_crc32c(0, b, psize - 4) != cz_load_le32(b + psize - 4), CLIMZ_ERR_CHECKSUM,
                 "preamble: CRC-32C mismatch");
    r->major = (unsigned)(b[8] | b[9] << 8);
    r->minor = (unsigned)(b[10] | b[11] << 8);
    CZ_RETURN_IF(r->major > CLZ_FORMAT_MAJOR, CLIMZ_ERR_VERSION,
                 "file format version %u.%u is newer than this reader's %u.%u", r->major,
                 r->minor, CLZ_FORMAT_MAJOR, CLZ_FORMAT_MINOR);
    CZ_RETURN_IF(r->major == 0, CLIMZ_ERR_CORRUPT, "file format version 0.%u is invalid",
                 r->minor);
    CZ_RETURN_IF(psize < CLZ_PREAMBLE_SIZE, CLIMZ_ERR_CORRUPT,
                 "preamble size %u is below the %u bytes of version 1", (unsigned)psize,
                 CLZ_PREAMBLE_SIZE);
    uint32_t const flags = cz_load_le32(b + 16);
    CZ_RETURN_IF(flags & CLZ_FLAGS_REQUIRED & ~CLZ_FLAGS_KNOWN, CLIMZ_ERR_UNSUPPORTED,
                 "file needs features this reader lacks (flags 0x%08x)", (unsigned)flags);
    uint32_t const header_crc = cz_load_le32(b + 20);
    uint64_t const file_size = cz_load_le64(b + 24);
    uint64_t const hoff = cz_load_le64(b + 32), hsize = cz_load_le64(b + 40);
    uint64_t const ioff = cz_load_le64(b + 48), isize = cz_load_le64(b + 56);
    uint64_t const count = cz_load_le64(b + 64);
    uint32_t const index_crc = cz_load_le32(b + 72);
    CZ_RETURN_IF(file_size > size, CLIMZ_ERR_TRUNCATED,
                 "file is %zu bytes but its preamble says %llu: truncated", size,
                 (unsigned long long)file_size);
    CZ_RETURN_IF(file_size < size, CLIMZ_ERR_CORRUPT,
                 "file is %zu bytes but its preamble says %llu: trailing bytes", size,
                 (unsigned long long)file_size);
    /* sections are contiguous: preamble, header, index, chunks */
    CZ_RETURN_IF(hoff != psize || hsize > size - hoff, CLIMZ_ERR_CORRUPT,
                 "header (%llu bytes at %llu) does not fit the file", (unsigned long long)hsize,
                 (unsigned long long)hoff);
    CZ_RETURN_IF(ioff != hoff + hsize || isize > size - ioff, CLIMZ_ERR_CORRUPT,
                 "chunk index (%llu bytes at %llu) does not fit the file",
                 (unsigned long long)isize, (unsigned long long)ioff);
    CZ_RETURN_IF(isize < 4 || count > (isize - 4) / CLZ_INDEX_ENTRY_SIZE || count >= UINT32_MAX,
                 CLIMZ_ERR_CORRUPT, "chunk count %llu does not fit the %llu-byte index",
                 (unsigned long long)count, (unsigned long long)isize);
    CZ_RETURN_IF(cz_crc32c(0, b + hoff, (size_t)hsize) != header_crc, CLIMZ_ERR_CHECKSUM,
                 "header: CRC-32C mismatch");
    CZ_RETURN_IF(cz_crc32c(0, b + ioff, (size_t)isize) != index_crc, CLIMZ_ERR_CHECKSUM,
                 "chunk index: CRC-32C mismatch");
    CZ_RETURN_IF(memchr(b + hoff, 0, (size_t)hsize) != NULL, CLIMZ_ERR_CORRUPT,
                 "header contains a NUL byte");
    r->header = cz_malloc((size_t)hsize + 1);
    CZ_RETURN_IF(!r->header, CLIMZ_ERR_ALLOC, "out of memory for a %llu-byte header",
                 (unsigned long long)hsize);
    memcpy(r->header, b + hoff, (size_t)hsize);
    r->header[hsize] = 0;
    r->header_size = (size_t)hsize;
    CZ_FORWARD(parse_index(r, b + ioff, isize, count, ioff + isize));
    if (r->nnames == 0) header_json_names(r);
    return CLIMZ_OK;
}

climz_status clz_reader_open_view(const void *data, size_t size, clz_reader **r) {
    *r = NULL;
    clz_reader *x = cz_calloc(1, sizeof *x);
    CZ_RETURN_IF(!x, CLIMZ_ERR_ALLOC, "out of memory");
    x->base = data;
    x->size = size;
    climz_status const st = reader_parse(x);
    if (st != CLIMZ_OK) {
        clz_reader_free(x);
        return st;
    }
    *r = x;
    return CLIMZ_OK;
}

climz_status clz_reader_open_mem(const void *data, size_t size, clz_reader **r) {
    *r = NULL;
    uint8_t *copy = cz_malloc(size ? size : 1);
    CZ_RETURN_IF(!copy, CLIMZ_ERR_ALLOC, "out of memory copying a %zu-byte file", size);
    if (size) memcpy(copy, data, size);
    climz_status const st = clz_reader_open_view(copy, size, r);
    if (st != CLIMZ_OK) {
        free(copy);
        return st;
    }
    (*r)->owned = copy; /* freed with the reader */
    return CLIMZ_OK;
}

climz_status clz_reader_open(const char *path, clz_reader **r) {
    *r = NULL;
    int const fd = open(path, O_RDONLY);
    CZ_RETURN_IF(fd < 0, errno == ENOENT ? CLIMZ_ERR_NOT_FOUND : CLIMZ_ERR_IO,
                 "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cz_error(CLIMZ_ERR_IO, "%s: not a regular file", path);
    }
    clz_reader *x = cz_calloc(1, sizeof *x);
    if (!x) {
        close(fd);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    x->size = (size_t)st.st_size;
    if (x->size > 0) {
        void *m = mmap(NULL, x->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            x->map = m;
            x->map_size = x->size;
            x->base = m;
        }
    }
    if (!x->map) { /* empty file, or a file system without mmap: read it */
        close(fd);
        uint8_t *d;
        size_t n;
        climz_status const s = cz_read_file(path, &d, &n);
        if (s != CLIMZ_OK) {
            free(x);
            return s;
        }
        x->owned = d;
        x->base = d;
        x->size = n;
    } else {
        close(fd);
    }
    climz_status const s = reader_parse(x);
    if (s != CLIMZ_OK) {
        clz_reader_free(x);
        return cz_error_prefix(s, "%s", path);
    }
    *r = x;
    return CLIMZ_OK;
}

const char *clz_reader_header(const clz_reader *r) { return r->header; }
size_t clz_reader_header_size(const clz_reader *r) { return r->header_size; }
void clz_reader_version(const clz_reader *r, unsigned *major, unsigned *minor) {
    *major = r->major;
    *minor = r->minor;
}
size_t clz_reader_nchunks(const clz_reader *r) { return r->n; }
const clz_chunk *clz_reader_chunk(const clz_reader *r, size_t i) {
    return i < r->n ? &r->chunks[i] : NULL;
}
uint64_t clz_reader_file_size(const clz_reader *r) { return r->stored_size; }

size_t clz_reader_find(const clz_reader *r, uint32_t var, uint32_t t, uint16_t stream) {
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t const mid = lo + (hi - lo) / 2;
        const clz_chunk *c = &r->chunks[r->order[mid]];
        int const k = key_cmp(c->var, c->t, c->stream, var, t, stream);
        if (k == 0) return r->order[mid];
        if (k < 0) lo = mid + 1;
        else hi = mid;
    }
    return SIZE_MAX;
}

const uint8_t *clz_reader_peek_at(const clz_reader *r, size_t i, size_t *size) {
    *size = i < r->n ? (size_t)r->chunks[i].size : 0;
    return i < r->n ? r->base + r->chunks[i].offset : NULL;
}

climz_status clz_reader_get_at(const clz_reader *r, size_t i, const uint8_t **data,
                               size_t *size) {
    *data = NULL;
    size_t n;
    const uint8_t *p = clz_reader_peek_at(r, i, &n); /* inside the file: checked at open */
    *size = 0;
    CZ_RETURN_IF(!p, CLIMZ_ERR_NOT_FOUND, "chunk %zu does not exist (%zu chunks)", i, r->n);
    if (cz_crc32c(0, p, n) != r->chunks[i].crc) {
        char d[160];
        return cz_error(CLIMZ_ERR_CHECKSUM, "%s: CRC-32C mismatch",
                        clz_reader_describe(r, i, d, sizeof d));
    }
    *data = p;
    *size = n;
    return CLIMZ_OK;
}

climz_status clz_reader_get(const clz_reader *r, uint32_t var, uint32_t t, uint16_t stream,
                            const uint8_t **data, size_t *size) {
    size_t const i = clz_reader_find(r, var, t, stream);
    if (i == SIZE_MAX) {
        char d[160];
        *data = NULL;
        *size = 0;
        describe_key(r, 0, var, t, stream, d, sizeof d);
        /* drop the "chunk 0 " prefix: the chunk has no position */
        return cz_error(CLIMZ_ERR_NOT_FOUND, "no chunk %s in the file", d + 8);
    }
    return clz_reader_get_at(r, i, data, size);
}

climz_status clz_reader_verify_all(const clz_reader *r) {
    for (size_t i = 0; i < r->n; i++) {
        const uint8_t *p;
        size_t n;
        CZ_FORWARD(clz_reader_get_at(r, i, &p, &n));
    }
    return CLIMZ_OK;
}
