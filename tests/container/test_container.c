/* test_container.c — .clz container: round trip with random access, golden layout, every
 * bit flip and every truncation detected, version and flag policy, error messages. */
#include "container/container.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- helpers ---- */

typedef struct ref_chunk {
    uint32_t var, t;
    uint16_t stream;
    uint8_t *data;
    size_t size;
} ref_chunk;

static void fill_random(uint8_t *p, size_t n, unsigned long long *rng) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)tu_rand_u64(rng);
}

/* Re-stamp the preamble CRC after a deliberate edit of its fields. */
static void fix_preamble_crc(uint8_t *f) {
    uint32_t const ps = cz_load_le32(f + 12);
    cz_store_le32(f + ps - 4, cz_crc32c(0, f, ps - 4));
}

/* A small file: schema chunk, 2 vars x 3 times x (mask, residual), names set. Over 4 KB, so
 * that a flipped preamble-size field (<= 4096) still points inside the file. */
static climz_status small_file(cz_buf *out, int with_names) {
    clz_writer *w;
    unsigned long long rng = 7;
    CZ_FORWARD(clz_writer_create(&w));
    uint8_t tmp[3200];
    climz_status st = CLIMZ_OK;
    fill_random(tmp, sizeof tmp, &rng);
    if (!st) st = clz_writer_add(w, CLZ_NO_VAR, CLZ_NO_TIME, CLZ_STREAM_SCHEMA, tmp, 3200);
    for (uint32_t v = 0; v < 2 && !st; v++)
        for (uint32_t t = 0; t < 3 && !st; t++) {
            fill_random(tmp, sizeof tmp, &rng);
            st = clz_writer_add(w, v, t, CLZ_STREAM_MASK, tmp, 3 + v + t);
            if (!st) st = clz_writer_add(w, v, t, CLZ_STREAM_RESIDUAL, tmp + 20, 100 + 37 * t);
        }
    if (!st && with_names) st = clz_writer_set_var_name(w, 1, "VWND");
    if (!st && with_names) st = clz_writer_set_var_name(w, 0, "UWND");
    if (!st) st = clz_writer_finish_mem(w, "{\"codec\":\"residual\",\"note\":\"small test\"}", out);
    clz_writer_free(w);
    return st;
}

/* Fully reads a file image: open, then every chunk. Returns the first failure. */
static climz_status read_all(const uint8_t *p, size_t n) {
    clz_reader *r;
    CZ_FORWARD(clz_reader_open_mem(p, n, &r));
    climz_status const st = clz_reader_verify_all(r);
    clz_reader_free(r);
    return st;
}

/* ---- tests ---- */

static void test_round_trip(void) {
    const char *dir = tu_tmpdir("test_container");
    char path[4200];
    snprintf(path, sizeof path, "%s/many.clz", dir);
    unsigned long long rng = 42;
    enum { NV = 5, NT = 24, NS = 3 };
    static const uint16_t streams[NS] = {CLZ_STREAM_MASK, CLZ_STREAM_RESIDUAL, CLZ_STREAM_LATENT};
    ref_chunk ref[1 + NV * NT * NS];
    size_t nref = 0;
    clz_writer *w;
    CHECK_OK(clz_writer_create(&w));
    /* added in time-major order, as the driver does; lookups later by key */
    ref[nref] = (ref_chunk){CLZ_NO_VAR, CLZ_NO_TIME, CLZ_STREAM_SCHEMA, NULL, 1000};
    nref++;
    for (uint32_t t = 0; t < NT; t++)
        for (uint32_t v = 0; v < NV; v++)
            for (int s = 0; s < NS; s++) {
                size_t const sz = (tu_rand_u64(&rng) % 7 == 0) ? 0 : (size_t)(tu_rand_u64(&rng) % 3000);
                ref[nref++] = (ref_chunk){v, t, streams[s], NULL, sz};
            }
    for (size_t i = 0; i < nref; i++) {
        ref[i].data = malloc(ref[i].size ? ref[i].size : 1);
        fill_random(ref[i].data, ref[i].size, &rng);
        CHECK_OK(clz_writer_add(w, ref[i].var, ref[i].t, ref[i].stream, ref[i].data, ref[i].size));
    }
    CHECK(clz_writer_nchunks(w) == nref);
    const char *names[NV] = {"UWND", "VWND", "grp1/T", "air temperature", "x"};
    for (uint32_t v = 0; v < NV; v++) CHECK_OK(clz_writer_set_var_name(w, v, names[v]));
    const char *header = "{\"format\":\"clz\",\"variables\":[\"ignored\"],\"unicode\":\"\xc3\xa9t\xc3\xa9\"}";
    CHECK_OK(clz_writer_finish(w, header, path));
    /* finish twice gives the same bytes (deterministic) */
    cz_buf a = {0}, b = {0};
    CHECK_OK(clz_writer_finish_mem(w, header, &a));
    CHECK_OK(clz_writer_finish_mem(w, header, &b));
    CHECK(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    clz_writer_free(w);

    struct stat stt;
    CHECK(stat(path, &stt) == 0 && (size_t)stt.st_size == a.size);
    uint8_t *disk;
    size_t disk_n;
    CHECK_OK(cz_read_file(path, &disk, &disk_n));
    CHECK(disk_n == a.size && memcmp(disk, a.data, a.size) == 0);
    free(disk);

    for (int mode = 0; mode < 2; mode++) {
        clz_reader *r = NULL;
        if (mode == 0) CHECK_OK(clz_reader_open(path, &r));
        else CHECK_OK(clz_reader_open_mem(a.data, a.size, &r));
        if (!r) continue;
        CHECK(strcmp(clz_reader_header(r), header) == 0);
        CHECK(clz_reader_header_size(r) == strlen(header));
        CHECK(clz_reader_nchunks(r) == nref);
        CHECK(clz_reader_file_size(r) == a.size);
        unsigned maj, min;
        clz_reader_version(r, &maj, &min);
        CHECK(maj == CLZ_FORMAT_MAJOR && min == CLZ_FORMAT_MINOR);
        /* index in add order, contiguous */
        uint64_t end = 0;
        for (size_t i = 0; i < nref; i++) {
            const clz_chunk *c = clz_reader_chunk(r, i);
            CHECK(c->var == ref[i].var && c->t == ref[i].t && c->stream == ref[i].stream &&
                  c->size == ref[i].size);
            CHECK(c->crc == cz_crc32c(0, ref[i].data, ref[i].size));
            if (i) CHECK(c->offset == end);
            end = c->offset + c->size;
        }
        CHECK(end == a.size);
        CHECK(clz_reader_chunk(r, nref) == NULL);
        /* random access in a shuffled order */
        size_t perm[1 + NV * NT * NS];
        for (size_t i = 0; i < nref; i++) perm[i] = i;
        for (size_t i = nref - 1; i > 0; i--) {
            size_t const j = (size_t)(tu_rand_u64(&rng) % (i + 1)), x = perm[i];
            perm[i] = perm[j];
            perm[j] = x;
        }
        int bad = 0;
        for (size_t k = 0; k < nref; k++) {
            const ref_chunk *e = &ref[perm[k]];
            const uint8_t *p;
            size_t n;
            if (clz_reader_get(r, e->var, e->t, e->stream, &p, &n) != CLIMZ_OK || n != e->size ||
                (n && memcmp(p, e->data, n) != 0) || clz_reader_find(r, e->var, e->t, e->stream) != perm[k])
                bad++;
        }
        CHECK_MSG(bad == 0, "%d chunks differ after random access", bad);
        /* absent keys */
        const uint8_t *p;
        size_t n;
        CHECK_STATUS(clz_reader_get(r, 0, NT, CLZ_STREAM_MASK, &p, &n), CLIMZ_ERR_NOT_FOUND);
        CHECK(strstr(cz_error_message(), "var UWND, time 24, stream mask") != NULL);
        CHECK_STATUS(clz_reader_get(r, NV, 0, CLZ_STREAM_MASK, &p, &n), CLIMZ_ERR_NOT_FOUND);
        CHECK_STATUS(clz_reader_get(r, 0, 0, CLZ_STREAM_INR, &p, &n), CLIMZ_ERR_NOT_FOUND);
        CHECK(p == NULL && n == 0);
        CHECK(clz_reader_find(r, 1, 2, CLZ_STREAM_CONTEXT) == SIZE_MAX);
        CHECK(strcmp(clz_reader_var_name(r, 2), "grp1/T") == 0);
        CHECK(clz_reader_var_name(r, NV) == NULL);
        CHECK_OK(clz_reader_verify_all(r));
        clz_reader_free(r);
    }
    cz_buf_free(&a);
    cz_buf_free(&b);
    for (size_t i = 0; i < nref; i++) free(ref[i].data);
}

/* Golden layout: exact preamble fields and a CRC of the whole image, so that any change
 * of the format shows up here (and must come with a doc/format.md update). */
static void test_golden(void) {
    clz_writer *w;
    CHECK_OK(clz_writer_create(&w));
    CHECK_OK(clz_writer_add(w, CLZ_NO_VAR, CLZ_NO_TIME, CLZ_STREAM_SCHEMA, "schema", 6));
    CHECK_OK(clz_writer_add(w, 0, 0, CLZ_STREAM_MASK, "", 0));
    CHECK_OK(clz_writer_add(w, 0, 0, CLZ_STREAM_RESIDUAL, "abc", 3));
    CHECK_OK(clz_writer_set_var_name(w, 0, "T"));
    cz_buf f = {0};
    CHECK_OK(clz_writer_finish_mem(w, "{}", &f));
    clz_writer_free(w);
    /* 80 preamble + 2 header + 3*32 entries + (4 + 4+4+1) names + 9 payload */
    CHECK(f.size == 80 + 2 + 96 + 13 + 9);
    static const uint8_t magic[8] = {0x89, 'C', 'L', 'Z', '\r', '\n', 0x1a, '\n'};
    CHECK(memcmp(f.data, magic, 8) == 0);
    CHECK(f.data[8] == 1 && f.data[9] == 0 && f.data[10] == 0 && f.data[11] == 0);
    CHECK(cz_load_le32(f.data + 12) == 80);
    CHECK(cz_load_le32(f.data + 16) == 0);
    CHECK(cz_load_le32(f.data + 20) == cz_crc32c(0, "{}", 2));
    CHECK(cz_load_le64(f.data + 24) == f.size);
    CHECK(cz_load_le64(f.data + 32) == 80 && cz_load_le64(f.data + 40) == 2);
    CHECK(cz_load_le64(f.data + 48) == 82 && cz_load_le64(f.data + 56) == 96 + 13);
    CHECK(cz_load_le64(f.data + 64) == 3);
    CHECK(cz_load_le32(f.data + 72) == cz_crc32c(0, f.data + 82, 109));
    CHECK(cz_load_le32(f.data + 76) == cz_crc32c(0, f.data, 76));
    const uint8_t *e = f.data + 82 + 64; /* third entry */
    CHECK(cz_load_le32(e) == 0 && cz_load_le32(e + 4) == 0 && e[8] == 3 && e[9] == 0);
    CHECK(cz_load_le32(e + 12) == cz_crc32c(0, "abc", 3));
    CHECK(cz_load_le64(e + 16) == 191 + 6 && cz_load_le64(e + 24) == 3);
    CHECK(memcmp(f.data + 82 + 96, "\x01\0\0\0\0\0\0\0\x01\0\0\0T", 13) == 0);
    CHECK(memcmp(f.data + f.size - 9, "schemaabc", 9) == 0);
    uint32_t const crc = cz_crc32c(0, f.data, f.size);
    CHECK_MSG(crc == 0xB2FEA3E0u, "golden image CRC 0x%08X changed", (unsigned)crc);
    cz_buf_free(&f);
}

static void test_bit_flips(void) {
    cz_buf f = {0};
    CHECK_OK(small_file(&f, 1));
    CHECK_OK(read_all(f.data, f.size));
    int undetected = 0, wrong = 0;
    uint8_t *g = malloc(f.size);
    for (size_t i = 0; i < f.size; i++)
        for (int k = 0; k <= 8; k++) {
            memcpy(g, f.data, f.size);
            g[i] ^= k < 8 ? (uint8_t)(1u << k) : 0xff;
            climz_status const st = read_all(g, f.size);
            if (st == CLIMZ_OK) undetected++;
            else if (st != CLIMZ_ERR_CHECKSUM && st != CLIMZ_ERR_CORRUPT) {
                if (wrong++ < 5)
                    fprintf(stderr, "flip at %zu ^%d: %s %s\n", i, k, climz_status_name(st),
                            cz_error_message());
            }
        }
    CHECK_MSG(undetected == 0, "%d of %zu byte flips undetected", undetected, f.size * 9);
    CHECK_MSG(wrong == 0, "%d flips gave a status other than CHECKSUM/CORRUPT", wrong);
    printf("bit flips: %zu positions x 9 patterns in a %zu-byte file, all detected\n", f.size,
           f.size);
    free(g);
    cz_buf_free(&f);
}

static void test_truncation(void) {
    cz_buf f = {0};
    CHECK_OK(small_file(&f, 1));
    int wrong = 0;
    for (size_t n = 0; n < f.size; n++) {
        /* exact-size copies so that ASan sees any read past the end */
        uint8_t *g = malloc(n ? n : 1);
        memcpy(g, f.data, n);
        clz_reader *r = NULL;
        climz_status const st = clz_reader_open_mem(g, n, &r);
        if (st != CLIMZ_ERR_TRUNCATED || r != NULL) wrong++;
        clz_reader_free(r);
        free(g);
    }
    CHECK_MSG(wrong == 0, "%d truncation lengths not reported as CLIMZ_ERR_TRUNCATED", wrong);
    /* trailing bytes are corrupt too */
    cz_buf_put(&f, "x", 1);
    CHECK_STATUS(read_all(f.data, f.size), CLIMZ_ERR_CORRUPT);
    f.size--;
    /* on disk: truncated and empty files, a missing file, a non-.clz file */
    const char *dir = tu_tmpdir("test_container_trunc");
    char path[4200];
    snprintf(path, sizeof path, "%s/t.clz", dir);
    size_t const lens[] = {0, 5, 40, 80, 200, f.size - 1};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        FILE *fp = fopen(path, "wb");
        fwrite(f.data, 1, lens[k], fp);
        fclose(fp);
        clz_reader *r = NULL;
        CHECK_STATUS(clz_reader_open(path, &r), CLIMZ_ERR_TRUNCATED);
        CHECK(r == NULL);
    }
    CHECK(strstr(cz_error_message(), "truncated") != NULL);
    clz_reader *r = NULL;
    snprintf(path, sizeof path, "%s/absent.clz", dir);
    CHECK_STATUS(clz_reader_open(path, &r), CLIMZ_ERR_NOT_FOUND);
    CHECK_STATUS(clz_reader_open(tu_data("hgt.nc"), &r), CLIMZ_ERR_CORRUPT);
    CHECK(strstr(cz_error_message(), "not a .clz file") != NULL);
    CHECK_STATUS(clz_reader_open_mem("CDF\x01", 4, &r), CLIMZ_ERR_CORRUPT);
    cz_buf_free(&f);
}

static void test_version(void) {
    cz_buf f = {0};
    CHECK_OK(small_file(&f, 1));
    uint8_t *g = malloc(f.size + 64);
    clz_reader *r = NULL;
    /* newer major: refused by version, even though its layout might be anything */
    memcpy(g, f.data, f.size);
    g[8] = 2;
    fix_preamble_crc(g);
    CHECK_STATUS(clz_reader_open_mem(g, f.size, &r), CLIMZ_ERR_VERSION);
    CHECK(strstr(cz_error_message(), "2.0 is newer") != NULL);
    g[8] = 1;
    g[9] = 1; /* major 257 */
    fix_preamble_crc(g);
    CHECK_STATUS(clz_reader_open_mem(g, f.size, &r), CLIMZ_ERR_VERSION);
    /* a version-2 file with a larger preamble: CRC still found, version still judged */
    memcpy(g, f.data, 76);
    memset(g + 76, 0, 20);
    g[8] = 2;
    cz_store_le32(g + 12, 96);
    fix_preamble_crc(g);
    CHECK_STATUS(clz_reader_open_mem(g, 96, &r), CLIMZ_ERR_VERSION);
    /* major 0 is invalid */
    memcpy(g, f.data, f.size);
    g[8] = 0;
    fix_preamble_crc(g);
    CHECK_STATUS(clz_reader_open_mem(g, f.size, &r), CLIMZ_ERR_CORRUPT);
    /* newer minor: read */
    memcpy(g, f.data, f.size);
    g[10] = 7;
    fix_preamble_crc(g);
    CHECK_OK(clz_reader_open_mem(g, f.size, &r));
    if (r) {
        unsigned maj, min;
        clz_reader_version(r, &maj, &min);
        CHECK(maj == 1 && min == 7);
        CHECK_OK(clz_reader_verify_all(r));
        clz_reader_free(r);
        r = NULL;
    }
    /* a required flag this reader does not know; an optional one is ignored */
    memcpy(g, f.data, f.size);
    g[16] = 0x04;
    fix_preamble_crc(g);
    CHECK_STATUS(clz_reader_open_mem(g, f.size, &r), CLIMZ_ERR_UNSUPPORTED);
    memcpy(g, f.data, f.size);
    g[18] = 0x01; /* bit 16 */
    fix_preamble_crc(g);
    CHECK_OK(read_all(g, f.size));
    /* version 1.1 with a 96-byte preamble: everything after it moves by 16 bytes */
    {
        uint64_t const hsize = cz_load_le64(f.data + 40), ioff = cz_load_le64(f.data + 48);
        uint64_t const isize = cz_load_le64(f.data + 56), count = cz_load_le64(f.data + 64);
        memcpy(g, f.data, 80);
        memset(g + 76, 0xEE, 16); /* new fields that 1.0 does not know */
        memcpy(g + 96, f.data + 80, f.size - 80);
        g[10] = 1;
        cz_store_le32(g + 12, 96);
        cz_store_le64(g + 24, f.size + 16);
        cz_store_le64(g + 32, 96);
        cz_store_le64(g + 48, ioff + 16);
        for (uint64_t i = 0; i < count; i++) {
            uint8_t *e = g + ioff + 16 + i * 32;
            cz_store_le64(e + 16, cz_load_le64(e + 16) + 16);
        }
        cz_store_le32(g + 72, cz_crc32c(0, g + ioff + 16, isize));
        fix_preamble_crc(g);
        CHECK_OK(read_all(g, f.size + 16));
        CHECK(hsize > 0);
    }
    free(g);
    cz_buf_free(&f);
}

static void test_messages(void) {
    cz_buf f = {0};
    CHECK_OK(small_file(&f, 1));
    clz_reader *r = NULL;
    CHECK_OK(clz_reader_open_mem(f.data, f.size, &r));
    /* corrupt the payload of chunk (var 1, time 2, residual) after open, in a copy */
    size_t const i = clz_reader_find(r, 1, 2, CLZ_STREAM_RESIDUAL);
    CHECK(i == 12);
    uint64_t const off = clz_reader_chunk(r, i)->offset;
    clz_reader_free(r);
    f.data[off + 5] ^= 0x10;
    CHECK_OK(clz_reader_open_mem(f.data, f.size, &r));
    const uint8_t *p;
    size_t n;
    CHECK_STATUS(clz_reader_get(r, 1, 2, CLZ_STREAM_RESIDUAL, &p, &n), CLIMZ_ERR_CHECKSUM);
    CHECK_MSG(strcmp(cz_error_message(), "chunk 12 (var VWND, time 2, stream residual): CRC-32C mismatch") == 0,
              "message: %s", cz_error_message());
    CHECK(p == NULL && n == 0);
    CHECK_OK(clz_reader_get(r, 1, 1, CLZ_STREAM_RESIDUAL, &p, &n)); /* neighbours intact */
    CHECK_STATUS(clz_reader_verify_all(r), CLIMZ_ERR_CHECKSUM);
    char d[160];
    CHECK(strcmp(clz_reader_describe(r, 0, d, sizeof d), "chunk 0 (no var, all times, stream schema)") == 0);
    clz_reader_free(r);
    cz_buf_free(&f);

    /* no name table: names from the header JSON's "variables" array */
    clz_writer *w;
    CHECK_OK(clz_writer_create(&w));
    CHECK_OK(clz_writer_add(w, 0, 5, CLZ_STREAM_RESIDUAL, "aaaa", 4));
    CHECK_OK(clz_writer_add(w, 1, 5, CLZ_STREAM_RESIDUAL, "bbbb", 4));
    CHECK_OK(clz_writer_add(w, 7, 5, 99, "cccc", 4)); /* a stream from a future minor */
    CHECK_OK(clz_writer_finish_mem(w, "{\"variables\":[{\"name\":\"UWND\"},\"VWND\"]}", &f));
    clz_writer_free(w);
    f.data[f.size - 5] ^= 1; /* in chunk 1 */
    CHECK_OK(clz_reader_open_mem(f.data, f.size, &r));
    CHECK_STATUS(clz_reader_get(r, 1, 5, CLZ_STREAM_RESIDUAL, &p, &n), CLIMZ_ERR_CHECKSUM);
    CHECK_MSG(strcmp(cz_error_message(), "chunk 1 (var VWND, time 5, stream residual): CRC-32C mismatch") == 0,
              "message: %s", cz_error_message());
    CHECK(strcmp(clz_reader_describe(r, 2, d, sizeof d), "chunk 2 (var #7, time 5, stream 99)") == 0);
    CHECK_OK(clz_reader_get(r, 7, 5, 99, &p, &n));
    CHECK(n == 4 && memcmp(p, "cccc", 4) == 0);
    clz_reader_free(r);
    cz_buf_free(&f);

    /* the driver's header: entries carry the variable number as "index" */
    CHECK_OK(clz_writer_create(&w));
    CHECK_OK(clz_writer_add(w, 3, 0, CLZ_STREAM_RESIDUAL, "aaaa", 4));
    CHECK_OK(clz_writer_finish_mem(w, "{\"variables\":[{\"name\":\"tas\",\"index\":3},"
                                      "{\"name\":\"pr\",\"index\":1},{\"index\":2},7]}", &f));
    clz_writer_free(w);
    CHECK_OK(clz_reader_open_mem(f.data, f.size, &r));
    CHECK(strcmp(clz_reader_var_name(r, 3), "tas") == 0 && strcmp(clz_reader_var_name(r, 1), "pr") == 0);
    CHECK(clz_reader_var_name(r, 0) == NULL && clz_reader_var_name(r, 2) == NULL);
    CHECK(strcmp(clz_reader_describe(r, 0, d, sizeof d), "chunk 0 (var tas, time 0, stream residual)") == 0);
    clz_reader_free(r);
    cz_buf_free(&f);
}

static void test_writer_errors(void) {
    clz_writer *w;
    CHECK_OK(clz_writer_create(&w));
    CHECK_STATUS(clz_writer_add(w, 0, 0, 0, "x", 1), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(clz_writer_add(w, 0, 0, 1, NULL, 1), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(clz_writer_set_var_name(w, CLZ_NO_VAR, "x"), CLIMZ_ERR_INVALID_ARG);
    CHECK_OK(clz_writer_add(w, 3, 4, CLZ_STREAM_RESIDUAL, "x", 1));
    CHECK_OK(clz_writer_add(w, 3, 4, CLZ_STREAM_MASK, "x", 1));
    CHECK_OK(clz_writer_add(w, 3, 4, CLZ_STREAM_RESIDUAL, "y", 1));
    cz_buf f = {0};
    CHECK_STATUS(clz_writer_finish_mem(w, "{}", &f), CLIMZ_ERR_INVALID_ARG);
    CHECK(strstr(cz_error_message(), "added twice") != NULL);
    clz_writer_free(w);

    /* empty container; NULL header; missing directory leaves nothing behind */
    CHECK_OK(clz_writer_create(&w));
    CHECK_STATUS(clz_writer_finish_mem(w, NULL, &f), CLIMZ_ERR_INVALID_ARG);
    CHECK_OK(clz_writer_finish_mem(w, "", &f));
    CHECK(f.size == 84);
    clz_reader *r = NULL;
    CHECK_OK(clz_reader_open_mem(f.data, f.size, &r));
    if (r) {
        CHECK(clz_reader_nchunks(r) == 0 && strcmp(clz_reader_header(r), "") == 0);
        const uint8_t *p;
        size_t n;
        CHECK_STATUS(clz_reader_get(r, 0, 0, 1, &p, &n), CLIMZ_ERR_NOT_FOUND);
        CHECK_STATUS(clz_reader_get_at(r, 0, &p, &n), CLIMZ_ERR_NOT_FOUND);
    }
    clz_reader_free(r);
    const char *dir = tu_tmpdir("test_container_err");
    char path[4200];
    snprintf(path, sizeof path, "%s/no/such/dir/x.clz", dir);
    climz_status const st = clz_writer_finish(w, "{}", path);
    CHECK(st == CLIMZ_ERR_NOT_FOUND || st == CLIMZ_ERR_IO);
    struct stat sb;
    CHECK(stat(path, &sb) != 0);
    clz_writer_free(w);
    clz_writer_free(NULL);
    clz_reader_free(NULL);
    cz_buf_free(&f);

    /* a header with a NUL byte inside is refused by the reader */
    CHECK_OK(small_file(&f, 0));
    uint64_t const hoff = cz_load_le64(f.data + 32);
    f.data[hoff + 3] = 0;
    cz_store_le32(f.data + 20, cz_crc32c(0, f.data + hoff, cz_load_le64(f.data + 40)));
    fix_preamble_crc(f.data);
    CHECK_STATUS(read_all(f.data, f.size), CLIMZ_ERR_CORRUPT);
    cz_buf_free(&f);
    CHECK(strcmp(clz_stream_name(CLZ_STREAM_RESIDUAL), "residual") == 0);
    CHECK(strcmp(clz_stream_name(CLZ_STREAM_LATENT), "latent") == 0);
    CHECK(strcmp(clz_stream_name(5), "unknown") == 0);
    CHECK(strcmp(clz_stream_name(0), "unknown") == 0);
}

int main(void) {
    test_round_trip();
    test_golden();
    test_bit_flips();
    test_truncation();
    test_version();
    test_messages();
    test_writer_errors();
    return tu_finish();
}
