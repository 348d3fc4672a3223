/* make_corpus.c — writes the seed corpus of the decoder fuzz target (tests/fuzz/corpus):
 * small valid .clz files built from the bundled data, the same files damaged in specific
 * ways (named err-NAME-*: they must fail with CLIMZ_ERR_NAME), and raw schema / mask
 * streams. Every file stays under 20 KB. Run by hand after a format change:
 *     cmake --build BUILD --target fuzz_make_corpus && BUILD/tests/fuzz/fuzz_make_corpus */
#include "container/container.h"
#include "container/mask.h"
#include "container/schema.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const char *out_dir;
static int failures;

#define MUST(expr)                                                                          \
    do {                                                                                    \
        climz_status const s_ = (expr);                                                     \
        if (s_ != CLIMZ_OK) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s %s\n", __FILE__, __LINE__, #expr,                \
                    climz_status_name(s_), cz_error_message());                             \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

static void save(const char *name, const uint8_t *p, size_t n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    if (n >= 20000) {
        fprintf(stderr, "%s: %zu bytes is too big for the corpus\n", name, n);
        failures++;
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    printf("%-32s %6zu bytes\n", name, n);
}

static void fix_preamble_crc(uint8_t *f) { cz_store_le32(f + 76, cz_crc32c(0, f, 76)); }

/* schema of a bundled file (coordinates stored) + masks of var `mv` for times [0, nt) +
 * small pseudo-random residual chunks */
static void data_file(const char *file, const char *mv, size_t nt, cz_buf *out) {
    cz_dataset *ds;
    MUST(io_open(tu_data(file), &ds));
    uint8_t *store = cz_calloc((size_t)ds->nvars, 1);
    clz_writer *w;
    MUST(clz_writer_create(&w));
    cz_buf b = {0};
    char header[1024];
    int len = snprintf(header, sizeof header, "{\"codec\":\"residual\",\"variables\":[");
    for (int i = 0; i < ds->nvars; i++) {
        store[i] = !ds->vars[i].is_grid;
        len += snprintf(header + len, sizeof header - (size_t)len, "%s{\"name\":\"%s\"}",
                        i ? "," : "", ds->vars[i].name);
    }
    snprintf(header + len, sizeof header - (size_t)len, "]}");
    MUST(clz_schema_encode(ds, store, &b));
    MUST(clz_writer_add(w, CLZ_NO_VAR, CLZ_NO_TIME, CLZ_STREAM_SCHEMA, b.data, b.size));
    int const v = io_find_var(ds, mv);
    cz_field f;
    MUST(io_load_field(ds, v, &f));
    size_t const plane = f.nz * f.ny * f.nx;
    unsigned long long rng = 1;
    for (size_t t = 0; t < nt && t < f.nt; t++) {
        b.size = 0;
        MUST(clz_mask_encode_rows(f.miss + t * plane, plane, f.nx, &b));
        MUST(clz_writer_add(w, (uint32_t)v, (uint32_t)t, CLZ_STREAM_MASK, b.data, b.size));
        uint8_t res[48];
        for (size_t k = 0; k < sizeof res; k++) res[k] = (uint8_t)tu_rand_u64(&rng);
        MUST(clz_writer_add(w, (uint32_t)v, (uint32_t)t, CLZ_STREAM_RESIDUAL, res, sizeof res));
    }
    io_field_free(&f);
    MUST(clz_writer_finish_mem(w, header, out));
    clz_writer_free(w);
    cz_buf_free(&b);
    free(store);
    io_free(ds);
}

int main(int argc, char **argv) {
    out_dir = argc > 1 ? argv[1] : CLIMZ_SOURCE_DIR "/tests/fuzz/corpus";

    cz_buf bcsd = {0}, red = {0}, b = {0};
    data_file("bcsd_obs_1999.nc", "pr", 2, &bcsd);
    save("ok-bcsd.clz", bcsd.data, bcsd.size);
    data_file("reduced.nc", "sst", 1, &red);
    save("ok-reduced.clz", red.data, red.size);

    /* synthetic masks, every method forced on a disc with two specials and a few dots,
     * in one file with a name table and a stream number from the future */
    clz_writer *w;
    MUST(clz_writer_create(&w));
    uint8_t m[2500];
    for (size_t i = 0; i < 2500; i++) {
        size_t const y = i / 50, x = i % 50;
        m[i] = (uint8_t)(((x - 25) * (x - 25) + (y - 25) * (y - 25) < 300) ? (x < 25 ? 2 : 5)
                         : (x * y) % 97 == 1 ? 1 : 0);
    }
    static const int methods[] = {CLZ_MASK_CONST, CLZ_MASK_RUNS, CLZ_MASK_ZSTD, CLZ_MASK_ROWS, CLZ_MASK_G4};
    uint8_t zero[2500] = {0};
    for (int k = 0; k < 5; k++) {
        cz_buf mk = {0};
        MUST(clz_mask_encode_method(k == 0 ? zero : m, 2500, 50, methods[k], &mk));
        MUST(clz_writer_add(w, (uint32_t)k, 0, CLZ_STREAM_MASK, mk.data, mk.size));
        char name[64];
        snprintf(name, sizeof name, "raw-mask-%s.bin", clz_mask_method_name(methods[k]));
        save(name, mk.data, mk.size);
        cz_buf_free(&mk);
    }
    MUST(clz_writer_add(w, 1, 7, 99, "future stream", 13));
    MUST(clz_writer_set_var_name(w, 0, "zeros"));
    MUST(clz_writer_set_var_name(w, 2, "disc"));
    MUST(clz_writer_finish_mem(w, "{\"note\":\"masks\"}", &b));
    save("ok-masks.clz", b.data, b.size);
    clz_writer_free(w);

    /* empty container */
    b.size = 0;
    MUST(clz_writer_create(&w));
    MUST(clz_writer_finish_mem(w, "{}", &b));
    save("ok-empty.clz", b.data, b.size);
    clz_writer_free(w);

    /* raw schema stream */
    {
        cz_dataset *ds;
        MUST(io_open(tu_data("bcsd_obs_1999.nc"), &ds));
        b.size = 0;
        uint8_t store[64] = {0};
        for (int i = 0; i < ds->nvars && i < 64; i++) store[i] = !ds->vars[i].is_grid;
        MUST(clz_schema_encode(ds, store, &b));
        save("raw-schema-bcsd.bin", b.data, b.size);
        io_free(ds);
    }

    /* damaged copies of ok-bcsd.clz */
    uint8_t *g = malloc(bcsd.size + 1);
    clz_reader *r;
    MUST(clz_reader_open_mem(bcsd.data, bcsd.size, &r));
    const clz_chunk *res = NULL; /* the last residual chunk */
    for (size_t i = 0; i < clz_reader_nchunks(r); i++)
        if (clz_reader_chunk(r, i)->stream == CLZ_STREAM_RESIDUAL) res = clz_reader_chunk(r, i);
    const clz_chunk *sch = clz_reader_chunk(r, 0);
    uint64_t const res_off = res ? res->offset : 0, sch_off = sch->offset;
    clz_reader_free(r);
    if (!res) {
        fprintf(stderr, "bcsd: no residual chunk\n");
        return 1;
    }
#define DAMAGED(name, n, edit)                                                              \
    do {                                                                                    \
        memcpy(g, bcsd.data, bcsd.size);                                                    \
        edit;                                                                               \
        save(name, g, n);                                                                   \
    } while (0)
    DAMAGED("err-CHECKSUM-chunk.clz", bcsd.size, g[res_off + 3] ^= 0x40);
    DAMAGED("err-CHECKSUM-preamble.clz", bcsd.size, g[45] ^= 0x01);
    DAMAGED("err-CHECKSUM-header.clz", bcsd.size, g[90] ^= 0x20);
    DAMAGED("err-CHECKSUM-index.clz", bcsd.size, g[cz_load_le64(g + 48) + 5] ^= 0x02);
    DAMAGED("err-TRUNCATED-half.clz", bcsd.size / 2, (void)0);
    DAMAGED("err-TRUNCATED-preamble.clz", 50, (void)0);
    DAMAGED("err-CORRUPT-magic.clz", bcsd.size, g[1] = 'X');
    DAMAGED("err-CORRUPT-trailing.clz", bcsd.size + 1, g[bcsd.size] = 0);
    DAMAGED("err-VERSION-major2.clz", bcsd.size, (g[8] = 2, fix_preamble_crc(g)));
    DAMAGED("err-UNSUPPORTED-flag.clz", bcsd.size, (g[16] = 1, fix_preamble_crc(g)));
    /* a schema chunk with a bad value inside, but valid CRCs: the schema decoder refuses it */
    {
        memcpy(g, bcsd.data, bcsd.size);
        g[sch_off + 4] = 0; /* schema version 0 */
        uint64_t const ioff = cz_load_le64(g + 48), isize = cz_load_le64(g + 56);
        cz_store_le32(g + ioff + 12, cz_crc32c(0, g + sch_off, cz_load_le64(g + ioff + 24)));
        cz_store_le32(g + 72, cz_crc32c(0, g + ioff, isize));
        fix_preamble_crc(g);
        save("err-CORRUPT-schema.clz", g, bcsd.size);
    }
    /* a mask stream written for another point count */
    {
        b.size = 0;
        MUST(clz_writer_create(&w));
        MUST(clz_writer_add(w, 0, 0, CLZ_STREAM_MASK, "\x01\x01", 2)); /* runs, n = 1 */
        MUST(clz_writer_finish_mem(w, "{}", &b));
        save("err-CORRUPT-mask.clz", b.data, b.size);
        clz_writer_free(w);
    }
    free(g);
    cz_buf_free(&b);
    cz_buf_free(&bcsd);
    cz_buf_free(&red);
    return failures ? 1 : 0;
}
