/* fuzz_clz_decode.c — decoder fuzz target: arbitrary bytes through the .clz reader, every
 * chunk fetch, the schema decoder on the schema chunk and the mask decoder on mask chunks.
 * Nothing may crash, over-read, leak or allocate absurdly; invariants the decoders promise
 * are checked and abort() here (a finding) when broken.
 *
 * Each input is decoded twice: as it is (the real checks: magic, version, CRCs, layout), and
 * as a copy whose CRCs were recomputed (like zstd's fuzzing mode), so that mutations reach
 * the index, the name table, the schema and the masks instead of dying at a CRC. An input
 * that starts like a schema or a mask stream is also fed straight to that decoder.
 *
 * Built as a libFuzzer target with CLIMZ_FUZZ=ON (clang), and always linked with
 * replay_main.c into test_fuzz_replay, which runs the committed corpus. */
#include "container/container.h"
#include "container/mask.h"
#include "container/schema.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_targets.h"

#define FUZZ_MAX_MASK (1u << 22) /* points: bounds the fuzzer's own allocation */

#define FUZZ_ASSERT(c)                                                                      \
    do {                                                                                    \
        if (!(c)) abort();                                                                  \
    } while (0)

static void check_dataset(const cz_dataset *ds) {
    FUZZ_ASSERT(ds->ndims >= 0 && ds->nvars >= 0 && ds->ngatts >= 0 && ds->ngroups >= 0);
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *v = &ds->vars[i];
        FUZZ_ASSERT(v->name && v->ndims >= 0 && v->ndims <= CZ_MAX_DIMS);
        FUZZ_ASSERT(v->nspecials >= 0 && v->nspecials <= CZ_MAX_SPECIALS);
        for (int d = 0; d < v->ndims; d++) FUZZ_ASSERT(v->dimids[d] >= 0 && v->dimids[d] < ds->ndims);
        if (v->raw && v->type == CZ_T_STRING) {
            size_t const n = io_var_count(ds, v);
            for (size_t k = 0; k < n; k++) {
                const char *s = ((char *const *)v->raw)[k];
                if (s) FUZZ_ASSERT(strlen(s) < SIZE_MAX); /* touches every string */
            }
        }
        for (int a = 0; a < v->natts; a++) FUZZ_ASSERT(v->atts[a].name != NULL);
    }
}

static climz_status decode_schema(const uint8_t *p, size_t n) {
    cz_dataset *ds = NULL;
    climz_status const st = clz_schema_decode(p, n, &ds);
    FUZZ_ASSERT((st == CLIMZ_OK) == (ds != NULL));
    if (ds) check_dataset(ds);
    io_free(ds);
    return st;
}

static climz_status decode_mask(const uint8_t *p, size_t n) {
    int method;
    size_t count;
    climz_status st = clz_mask_info(p, n, &method, &count);
    if (st != CLIMZ_OK) return st;
    if (count > FUZZ_MAX_MASK) return CLIMZ_OK; /* valid but too big for the fuzzer */
    uint8_t *m = malloc(count ? count : 1);
    if (!m) return CLIMZ_ERR_ALLOC;
    st = clz_mask_decode(p, n, m, count);
    if (st == CLIMZ_OK)
        for (size_t i = 0; i < count; i++) FUZZ_ASSERT(m[i] <= CZ_MAX_SPECIALS);
    if (count > 0) { /* the wrong n must be refused */
        climz_status const s2 = clz_mask_decode(p, n, m, count - 1);
        FUZZ_ASSERT(s2 != CLIMZ_OK);
    }
    free(m);
    return st;
}

/* Open + fetch every chunk + decode schema and masks; the first failure is returned. */
static climz_status decode_container(const uint8_t *data, size_t size) {
    clz_reader *r = NULL;
    climz_status st = clz_reader_open_mem(data, size, &r);
    FUZZ_ASSERT((st == CLIMZ_OK) == (r != NULL));
    if (st != CLIMZ_OK) return st;
    FUZZ_ASSERT(strlen(clz_reader_header(r)) == clz_reader_header_size(r));
    FUZZ_ASSERT(clz_reader_file_size(r) == size);
    climz_status first = CLIMZ_OK;
    size_t const n = clz_reader_nchunks(r);
    for (size_t i = 0; i < n; i++) {
        const clz_chunk *c = clz_reader_chunk(r, i);
        FUZZ_ASSERT(c && c->offset <= size && c->size <= size - c->offset);
        FUZZ_ASSERT(clz_reader_find(r, c->var, c->t, c->stream) == i);
        const uint8_t *p;
        size_t len;
        st = clz_reader_get(r, c->var, c->t, c->stream, &p, &len);
        char d[200];
        FUZZ_ASSERT(strlen(clz_reader_describe(r, i, d, sizeof d)) < sizeof d);
        if (st == CLIMZ_OK) {
            FUZZ_ASSERT(len == c->size);
            if (c->stream == CLZ_STREAM_SCHEMA) st = decode_schema(p, len);
            else if (c->stream == CLZ_STREAM_MASK) st = decode_mask(p, len);
        }
        if (first == CLIMZ_OK) first = st;
    }
    clz_reader_free(r);
    return first;
}

/* Recompute every CRC of a .clz image in place, trusting its own offsets where they are in
 * range (layout of doc/format.md). Leaves what is out of range alone. */
static void fix_crcs(uint8_t *b, size_t size) {
    if (size < 16) return;
    uint32_t const ps = cz_load_le32(b + 12);
    if (ps < 80 || ps > size || ps % 4) return;
    uint64_t const hoff = cz_load_le64(b + 32), hsize = cz_load_le64(b + 40);
    uint64_t const ioff = cz_load_le64(b + 48), isize = cz_load_le64(b + 56);
    uint64_t const count = cz_load_le64(b + 64);
    if (hoff <= size && hsize <= size - hoff) cz_store_le32(b + 20, cz_crc32c(0, b + hoff, (size_t)hsize));
    if (ioff <= size && isize <= size - ioff) {
        for (uint64_t i = 0; i < count && i < isize / 32; i++) {
            uint8_t *e = b + ioff + 32 * i;
            uint64_t const off = cz_load_le64(e + 16), len = cz_load_le64(e + 24);
            if (off <= size && len <= size - off) cz_store_le32(e + 12, cz_crc32c(0, b + off, (size_t)len));
        }
        cz_store_le32(b + 72, cz_crc32c(0, b + ioff, (size_t)isize));
    }
    cz_store_le32(b + ps - 4, cz_crc32c(0, b, ps - 4));
}

climz_status fuzz_clz_decode_one(const uint8_t *data, size_t size) {
    climz_status const st = decode_container(data, size);
    if (st == CLIMZ_ERR_CHECKSUM) {
        uint8_t *copy = malloc(size ? size : 1);
        if (copy) {
            memcpy(copy, data, size);
            fix_crcs(copy, size);
            (void)decode_container(copy, size);
            free(copy);
        }
    }
    if (size >= 4 && memcmp(data, "CLZS", 4) == 0) (void)decode_schema(data, size);
    else if (size >= 1 && data[0] <= CLZ_MASK_ROWS) (void)decode_mask(data, size);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)fuzz_clz_decode_one(data, size);
    cz_error_clear();
    return 0;
}
