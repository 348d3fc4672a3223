/* frame_compact.c — a frame's .clz image to its compact form and back (frame_compact.h;
 * layout in doc/format.md §10.1). */
#include "container/frame_compact.h"

#include "container/container.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static const uint8_t compact_magic[4] = {0x89, 'C', 'Z', 'F'};

/* The meta block holds the header, index and schema of frames: far below this. A larger
 * size read from a frame is damage, refused before any allocation. */
#define COMPACT_MAX_META (64u << 20)
#define COMPACT_ZSTD_LEVEL 19

/* Decoding a compact frame is on the path of every HDF5 chunk read, where making a zstd
 * decompression context (~100 KB, zeroed) and loading the dictionary cost as much as the
 * rest of the frame's metadata. So the dictionary is digested once for the process (a
 * ZSTD_DDict, read-only: threads may share it) and each thread keeps one context, freed when
 * the thread exits, or when the library is unloaded (then only the unloading thread's). */
static pthread_once_t dd_once = PTHREAD_ONCE_INIT;
static ZSTD_DDict *dd;           /* written once, under dd_once */
static pthread_key_t dctx_key;
static int dctx_key_ok;          /* written once, under dd_once */
static atomic_int dctx_key_gone; /* the library is being unloaded */

static void dctx_free(void *d) { ZSTD_freeDCtx(d); }

static void dd_make(void) {
    dd = ZSTD_createDDict(clz_compact_dict_v1, clz_compact_dict_v1_size);
    dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

__attribute__((destructor)) static void dd_drop(void) {
    pthread_once(&dd_once, dd_make);
    if (atomic_exchange(&dctx_key_gone, 1) || !dctx_key_ok) return;
    ZSTD_freeDCtx(pthread_getspecific(dctx_key));
    pthread_setspecific(dctx_key, NULL);
    pthread_key_delete(dctx_key);
}

/* The thread's decompression context (*owned = 0), or a new one the caller frees. */
static ZSTD_DCtx *thread_dctx(int *owned) {
    pthread_once(&dd_once, dd_make);
    int const keyed = dctx_key_ok && !atomic_load(&dctx_key_gone);
    ZSTD_DCtx *d = keyed ? pthread_getspecific(dctx_key) : NULL;
    *owned = 0;
    if (!d && (d = ZSTD_createDCtx())) *owned = !keyed || pthread_setspecific(dctx_key, d) != 0;
    return d;
}

int clz_compact_is(const void *p, size_t n) { return p && n >= 4 && memcmp(p, compact_magic, 4) == 0; }

const char *clz_compact_codec_name(uint8_t codec) {
    switch (codec) {
    case CLZ_COMPACT_RESIDUAL: return "residual";
    case CLZ_COMPACT_VAEFORMER: return "vaeformer";
    case CLZ_COMPACT_INR: return "inr";
    default: return "other";
    }
}

/* var and t as written: 0 for CLZ_NO_VAR / CLZ_NO_TIME, else the number + 1 */
static uint64_t key_out(uint32_t k) { return k == UINT32_MAX ? 0 : (uint64_t)k + 1; }

static climz_status key_in(cz_rd *r, uint32_t *k) {
    uint64_t v;
    CZ_FORWARD(cz_rd_varint(r, &v));
    CZ_RETURN_IF(v > UINT32_MAX, CLIMZ_ERR_CORRUPT, "compact frame: chunk key %llu out of range",
                 (unsigned long long)v);
    *k = v == 0 ? UINT32_MAX : (uint32_t)(v - 1);
    return CLIMZ_OK;
}

/* The name table of the image (u32 count, count x {u32 var; u32 len; bytes}) into meta as
 * varint count, count x {varint var; varint len; bytes}. */
static climz_status names_out(const uint8_t *p, size_t n, cz_buf *meta) {
    cz_rd r = cz_rd_make(p, n);
    uint32_t count;
    CZ_FORWARD(cz_rd_u32(&r, &count));
    CZ_FORWARD(cz_buf_put_varint(meta, count));
    for (uint32_t i = 0; i < count; i++) {
        uint32_t var, len;
        const uint8_t *s;
        CZ_FORWARD(cz_rd_u32(&r, &var));
        CZ_FORWARD(cz_rd_u32(&r, &len));
        CZ_FORWARD(cz_rd_skip(&r, len, &s));
        CZ_FORWARD(cz_buf_put_varint(meta, var));
        CZ_FORWARD(cz_buf_put_varint(meta, len));
        CZ_FORWARD(cz_buf_put(meta, s, len));
    }
    return CLIMZ_OK;
}

/* A schema chunk into meta with its body stored as is (compression 0, doc/format.md §7): the
 * dictionary then matches its names and types; a zstd body of a small schema alone is mostly
 * zstd's own framing. Any other payload, or a body that does not decode, goes as it is. */
static climz_status schema_out(const uint8_t *p, size_t n, cz_buf *meta) {
    enum { PREFIX = 16, MAX_BODY = 1u << 20 };
    if (n <= PREFIX || memcmp(p, "CLZS", 4) || p[5] != 1 || cz_load_le64(p + 8) > MAX_BODY)
        return cz_buf_put(meta, p, n);
    size_t const raw = (size_t)cz_load_le64(p + 8);
    CZ_FORWARD(cz_buf_reserve(meta, PREFIX + raw));
    uint8_t *dst = meta->data + meta->size;
    size_t const got = ZSTD_decompress(dst + PREFIX, raw, p + PREFIX, n - PREFIX);
    if (ZSTD_isError(got) || got != raw) return cz_buf_put(meta, p, n);
    memcpy(dst, p, PREFIX);
    dst[5] = 0; /* body stored as is */
    meta->size += PREFIX + raw;
    return CLIMZ_OK;
}

climz_status clz_compact_encode(const uint8_t *img, size_t n, uint8_t codec, cz_buf *out) {
    clz_reader *r = NULL;
    CZ_FORWARD(clz_reader_open_view(img, n, &r));
    unsigned major, minor;
    clz_reader_version(r, &major, &minor);
    /* what expansion rebuilds: a 1.0 preamble of 80 bytes without flags */
    climz_status st = CLIMZ_OK;
    if (major != 1 || minor != 0 || cz_load_le32(img + 12) != CLZ_PREAMBLE_SIZE || cz_load_le32(img + 16) != 0)
        st = cz_error(CLIMZ_ERR_UNSUPPORTED, "a .clz %u.%u image with flags %u: kept as it is", major, minor,
                      (unsigned)cz_load_le32(img + 16));
    cz_buf meta = {0};
    uint8_t *z = NULL;
    size_t const count = clz_reader_nchunks(r);
    size_t const hsize = clz_reader_header_size(r);
    if (!st) st = cz_buf_put_varint(&meta, hsize);
    if (!st) st = cz_buf_put(&meta, clz_reader_header(r), hsize);
    /* the schema goes into the meta block, after the entries, which give its size there */
    cz_buf schemas = {0};
    if (!st) st = cz_buf_put_varint(&meta, count);
    for (size_t i = 0; i < count && !st; i++) {
        const clz_chunk *c = clz_reader_chunk(r, i);
        size_t size = (size_t)c->size;
        if (c->stream == CLZ_STREAM_SCHEMA) {
            size_t const before = schemas.size;
            st = schema_out(img + c->offset, size, &schemas);
            size = schemas.size - before;
        }
        if (!st) st = cz_buf_put_varint(&meta, key_out(c->var));
        if (!st) st = cz_buf_put_varint(&meta, key_out(c->t));
        if (!st) st = cz_buf_put_varint(&meta, c->stream);
        if (!st) st = cz_buf_put_varint(&meta, size);
    }
    uint64_t const index_off = cz_load_le64(img + 48), index_size = cz_load_le64(img + 56);
    size_t const entries = count * CLZ_INDEX_ENTRY_SIZE;
    if (!st) st = names_out(img + index_off + entries, (size_t)index_size - entries, &meta);
    if (!st) st = cz_buf_put(&meta, schemas.data, schemas.size);
    cz_buf_free(&schemas);
    if (!st && meta.size > COMPACT_MAX_META)
        st = cz_error(CLIMZ_ERR_UNSUPPORTED, "a frame with %zu bytes of metadata: kept as it is", meta.size);
    size_t zsize = 0;
    if (!st) {
        size_t const bound = ZSTD_compressBound(meta.size);
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        z = malloc(bound);
        if (!cc || !z) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        else {
            zsize = ZSTD_compress_usingDict(cc, z, bound, meta.data, meta.size, clz_compact_dict_v1,
                                            clz_compact_dict_v1_size, COMPACT_ZSTD_LEVEL);
            if (ZSTD_isError(zsize)) st = cz_error(CLIMZ_ERR_GENERIC, "zstd: %s", ZSTD_getErrorName(zsize));
        }
        ZSTD_freeCCtx(cc);
    }
    size_t const start = out->size;
    if (!st) st = cz_buf_put(out, compact_magic, 4);
    if (!st) st = cz_buf_put_u8(out, CLZ_COMPACT_VERSION);
    if (!st) st = cz_buf_put_u8(out, codec);
    if (!st) st = cz_buf_put_varint(out, meta.size);
    if (!st) st = cz_buf_put_varint(out, zsize);
    if (!st) st = cz_buf_put(out, z, zsize);
    for (size_t i = 0; i < count && !st; i++) {
        const clz_chunk *c = clz_reader_chunk(r, i);
        if (c->stream != CLZ_STREAM_SCHEMA) st = cz_buf_put(out, img + c->offset, (size_t)c->size);
    }
    if (!st) st = cz_buf_put_u32(out, cz_crc32c(0, out->data + start, out->size - start));
    if (st) out->size = start;
    free(z);
    cz_buf_free(&meta);
    clz_reader_free(r);
    return st;
}

/* Rebuilds the image from the meta block m and the payload area pay. */
static climz_status rebuild(cz_rd *m, cz_rd *pay, cz_buf *img) {
    uint64_t hsize, count;
    const uint8_t *h;
    CZ_FORWARD(cz_rd_varint(m, &hsize));
    CZ_RETURN_IF(hsize > cz_rd_left(m), CLIMZ_ERR_CORRUPT, "compact frame: header of %llu bytes does not fit",
                 (unsigned long long)hsize);
    CZ_FORWARD(cz_rd_skip(m, (size_t)hsize, &h));
    CZ_RETURN_IF(memchr(h, 0, (size_t)hsize), CLIMZ_ERR_CORRUPT, "compact frame: header contains a NUL byte");
    CZ_FORWARD(cz_rd_varint(m, &count));
    CZ_RETURN_IF(count > cz_rd_left(m) / 4, CLIMZ_ERR_CORRUPT, "compact frame: %llu chunks do not fit its index",
                 (unsigned long long)count); /* an entry takes 4 bytes at least */
    struct ent {
        uint32_t var, t;
        uint64_t stream, size;
    } *e = malloc((count ? count : 1) * sizeof *e);
    char *header = malloc((size_t)hsize + 1);
    clz_writer *w = NULL;
    climz_status st = e && header ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    if (!st) {
        memcpy(header, h, (size_t)hsize);
        header[hsize] = 0;
    }
    for (uint64_t i = 0; i < count && !st; i++) {
        st = key_in(m, &e[i].var);
        if (!st) st = key_in(m, &e[i].t);
        if (!st) st = cz_rd_varint(m, &e[i].stream);
        if (!st) st = cz_rd_varint(m, &e[i].size);
        if (!st && (e[i].stream == 0 || e[i].stream > UINT16_MAX))
            st = cz_error(CLIMZ_ERR_CORRUPT, "compact frame: chunk %llu has stream %llu", (unsigned long long)i,
                          (unsigned long long)e[i].stream);
    }
    if (!st) st = clz_writer_create(&w);
    uint64_t nnames = 0;
    if (!st) st = cz_rd_varint(m, &nnames);
    for (uint64_t i = 0; i < nnames && !st; i++) {
        uint64_t var, len;
        const uint8_t *s;
        st = cz_rd_varint(m, &var);
        if (!st) st = cz_rd_varint(m, &len);
        if (!st && (var >= UINT32_MAX || len > cz_rd_left(m)))
            st = cz_error(CLIMZ_ERR_CORRUPT, "compact frame: a malformed name table");
        if (!st) st = cz_rd_skip(m, (size_t)len, &s);
        char *name = st ? NULL : malloc((size_t)len + 1);
        if (!st && !name) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        if (!st) {
            memcpy(name, s, (size_t)len);
            name[len] = 0;
            st = strlen(name) == len ? clz_writer_set_var_name(w, (uint32_t)var, name)
                                     : cz_error(CLIMZ_ERR_CORRUPT, "compact frame: a NUL in a variable name");
        }
        free(name);
    }
    for (uint64_t i = 0; i < count && !st; i++) { /* schemas from the meta block, the rest in order */
        cz_rd *from = e[i].stream == CLZ_STREAM_SCHEMA ? m : pay;
        const uint8_t *p;
        if (e[i].size > cz_rd_left(from))
            st = cz_error(CLIMZ_ERR_CORRUPT, "compact frame: chunk %llu (%llu bytes) does not fit",
                          (unsigned long long)i, (unsigned long long)e[i].size);
        if (!st) st = cz_rd_skip(from, (size_t)e[i].size, &p);
        if (!st) st = clz_writer_add(w, e[i].var, e[i].t, (uint16_t)e[i].stream, p, (size_t)e[i].size);
    }
    if (!st && (cz_rd_left(m) || cz_rd_left(pay)))
        st = cz_error(CLIMZ_ERR_CORRUPT, "compact frame: %zu bytes left after its chunks",
                      cz_rd_left(m) + cz_rd_left(pay));
    if (!st) st = clz_writer_finish_mem(w, header, img);
    clz_writer_free(w);
    free(header);
    free(e);
    return st;
}

climz_status clz_compact_expand(const uint8_t *p, size_t n, uint8_t **img, size_t *img_n) {
    *img = NULL;
    *img_n = 0;
    CZ_RETURN_IF(!clz_compact_is(p, n), CLIMZ_ERR_CORRUPT, "not a compact climz frame");
    CZ_RETURN_IF(n < 12, CLIMZ_ERR_TRUNCATED, "compact frame of %zu bytes: truncated", n);
    CZ_RETURN_IF(cz_crc32c(0, p, n - 4) != cz_load_le32(p + n - 4), CLIMZ_ERR_CHECKSUM,
                 "compact frame: CRC-32C mismatch (damaged or truncated)");
    CZ_RETURN_IF(p[4] > CLZ_COMPACT_VERSION, CLIMZ_ERR_VERSION,
                 "compact frame version %u; this climz reads up to %d", p[4], CLZ_COMPACT_VERSION);
    CZ_RETURN_IF(p[4] == 0, CLIMZ_ERR_CORRUPT, "compact frame version 0");
    cz_rd r = cz_rd_make(p + 6, n - 10);
    uint64_t msize, zsize;
    const uint8_t *z;
    CZ_FORWARD(cz_rd_varint(&r, &msize));
    CZ_FORWARD(cz_rd_varint(&r, &zsize));
    CZ_RETURN_IF(msize > COMPACT_MAX_META || zsize > cz_rd_left(&r), CLIMZ_ERR_CORRUPT,
                 "compact frame: a metadata block of %llu bytes (%llu coded) does not fit",
                 (unsigned long long)msize, (unsigned long long)zsize);
    CZ_FORWARD(cz_rd_skip(&r, (size_t)zsize, &z));
    uint8_t *meta = malloc(msize ? (size_t)msize : 1);
    int owned;
    ZSTD_DCtx *dc = thread_dctx(&owned);
    climz_status st = meta && dc && dd ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    if (!st) {
        size_t const got = ZSTD_decompress_usingDDict(dc, meta, (size_t)msize, z, (size_t)zsize, dd);
        if (ZSTD_isError(got) || got != msize)
            st = cz_error(CLIMZ_ERR_CORRUPT, "compact frame: its metadata block does not decode (%s)",
                          ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
    }
    if (owned) ZSTD_freeDCtx(dc);
    cz_buf out = {0};
    if (!st) {
        cz_rd m = cz_rd_make(meta, (size_t)msize);
        st = rebuild(&m, &r, &out);
    }
    free(meta);
    if (st) {
        cz_buf_free(&out);
        return st;
    }
    *img = out.data;
    *img_n = out.size;
    return CLIMZ_OK;
}
