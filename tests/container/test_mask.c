/* test_mask.c — missing-value maps: exact round trips on real land masks (bcsd pr NaN mask,
 * reduced.nc sst, the GrADS below-ground mask) with the size of every method, constant
 * maps, synthetic multi-valued maps, long runs, golden streams and corrupt streams. */
#include "container/mask.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const int all_methods[] = {CLZ_MASK_RUNS, CLZ_MASK_ROWS, CLZ_MASK_ZSTD, CLZ_MASK_G4};

/* decode s and compare with m; returns 1 when identical */
static int decodes_to(const cz_buf *s, const uint8_t *m, size_t n) {
    uint8_t *d = malloc(n ? n : 1);
    memset(d, 0xAA, n);
    climz_status const st = clz_mask_decode(s->data, s->size, d, n);
    int const ok = st == CLIMZ_OK && (n == 0 || memcmp(d, m, n) == 0);
    if (st != CLIMZ_OK) fprintf(stderr, "decode: %s %s\n", climz_status_name(st), cz_error_message());
    free(d);
    return ok;
}

/* round trip with the automatic choice and with every method; returns the chosen size and
 * fills sizes[method] (0 when the method does not apply) */
static size_t round_trip(const uint8_t *m, size_t n, size_t nx, size_t sizes[5], const char *what) {
    cz_buf s = {0}, s2 = {0};
    CHECK_OK(clz_mask_encode_rows(m, n, nx, &s));
    CHECK_OK(clz_mask_encode_rows(m, n, nx, &s2));
    CHECK_MSG(s.size == s2.size && memcmp(s.data, s2.data, s.size) == 0, "%s: not deterministic", what);
    CHECK_MSG(decodes_to(&s, m, n), "%s: automatic round trip differs", what);
    size_t const chosen = s.size;
    size_t best = SIZE_MAX;
    for (int k = 0; k < 5; k++) sizes[k] = 0;
    for (size_t k = 0; k < sizeof all_methods / sizeof *all_methods; k++) {
        int const meth = all_methods[k];
        cz_buf f = {0};
        climz_status const st = clz_mask_encode_method(m, n, nx, meth, &f);
        if (st == CLIMZ_OK) {
            sizes[meth] = f.size;
            if (f.size < best) best = f.size;
            CHECK_MSG(decodes_to(&f, m, n), "%s: method %s round trip differs", what, clz_mask_method_name(meth));
            int method;
            size_t nn;
            CHECK_OK(clz_mask_info(f.data, f.size, &method, &nn));
            CHECK(method == meth && nn == n);
        }
        cz_buf_free(&f);
    }
    if (best != SIZE_MAX) CHECK_MSG(chosen == best, "%s: chose %zu bytes, best method %zu", what, chosen, best);
    /* a stream for n points is refused for n - 1 and n + 1 */
    uint8_t *d = malloc(n + 1);
    CHECK_STATUS(clz_mask_decode(s.data, s.size, d, n + 1), CLIMZ_ERR_CORRUPT);
    if (n) CHECK_STATUS(clz_mask_decode(s.data, s.size, d, n - 1), CLIMZ_ERR_CORRUPT);
    free(d);
    cz_buf_free(&s);
    cz_buf_free(&s2);
    return chosen;
}

static size_t count_missing(const uint8_t *m, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += m[i] != 0;
    return c;
}

/* every time step's map of a variable, then the whole variable at once */
static void real_mask(const char *path, const char *var, int want_missing) {
    if (!path) return;
    cz_dataset *ds;
    CHECK_OK(io_open(path, &ds));
    int const v = io_find_var(ds, var);
    CHECK_MSG(v >= 0, "%s: no variable %s", path, var);
    cz_field f;
    CHECK_OK(io_load_field(ds, v, &f));
    size_t const plane = f.nz * f.ny * f.nx, n = f.nt * plane;
    size_t const nmiss = count_missing(f.miss, n);
    if (want_missing) CHECK_MSG(nmiss > 0 && nmiss < n, "%s %s: %zu of %zu missing", path, var, nmiss, n);
    size_t tot_auto = 0, tot[5] = {0};
    char what[256];
    for (size_t t = 0; t < f.nt; t++) {
        size_t sz[5];
        snprintf(what, sizeof what, "%s %s t=%zu", path, var, t);
        tot_auto += round_trip(f.miss + t * plane, plane, f.nx, sz, what);
        for (int k = 0; k < 5; k++) tot[k] += sz[k];
    }
    size_t whole[5];
    snprintf(what, sizeof what, "%s %s all", path, var);
    size_t const all = round_trip(f.miss, n, f.nx, whole, what);
    const char *b = strrchr(path, '/');
    printf("%-16s %-4s %2zu x %zux%zux%zu %4.1f%% missing | per step: chosen %5zu B = %4zu B/step "
           "(runs %zu, rows %zu, g4 %zu, zstd %zu) | all steps at once: %zu B (runs %zu, rows %zu, "
           "g4 %zu, zstd %zu)\n",
           b ? b + 1 : path, var, f.nt, f.nz, f.ny, f.nx, 100.0 * (double)nmiss / (double)n,
           tot_auto, tot_auto / f.nt, tot[CLZ_MASK_RUNS], tot[CLZ_MASK_ROWS], tot[CLZ_MASK_G4],
           tot[CLZ_MASK_ZSTD], all, whole[CLZ_MASK_RUNS], whole[CLZ_MASK_ROWS], whole[CLZ_MASK_G4],
           whole[CLZ_MASK_ZSTD]);
    io_field_free(&f);
    io_free(ds);
}

/* the GrADS file: every variable with missing points (below-ground undef on low levels) */
static void grads_masks(void) {
    const char *p = tu_shared("model.ctl");
    if (!p) {
        printf("model.ctl absent: GrADS mask skipped\n");
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s", p);
    cz_dataset *ds;
    CHECK_OK(io_open(path, &ds));
    int found = 0;
    for (int v = 0; v < ds->nvars; v++) {
        if (!ds->vars[v].is_grid) continue;
        cz_field f;
        if (io_load_field(ds, v, &f) != CLIMZ_OK) continue;
        size_t const n = f.nt * f.nz * f.ny * f.nx;
        size_t const nmiss = count_missing(f.miss, n);
        io_field_free(&f);
        if (nmiss > 0 && nmiss < n) {
            real_mask(path, ds->vars[v].name, 1);
            found++;
        }
    }
    CHECK_MSG(found > 0, "model.ctl: no variable with a below-ground mask");
    io_free(ds);
}

static void test_constant(void) {
    static const size_t ns[] = {0, 1, 2, 1000, 1000000};
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
        size_t const n = ns[k];
        uint8_t *m = calloc(n ? n : 1, 1);
        for (int val = 0; val <= 15; val += 15) {
            if (val) memset(m, val, n);
            cz_buf s = {0};
            CHECK_OK(clz_mask_encode(m, n, &s));
            CHECK_MSG(s.size <= 5, "constant map of %zu points: %zu bytes", n, s.size);
            CHECK(s.data[0] == CLZ_MASK_CONST);
            CHECK(decodes_to(&s, m, n));
            cz_buf_free(&s);
        }
        /* all-one (every point the first special) */
        memset(m, 1, n);
        cz_buf s = {0};
        CHECK_OK(clz_mask_encode(m, n, &s));
        CHECK(s.size <= 5 && decodes_to(&s, m, n));
        if (n == 1000000) printf("all-zero / all-one map of 10^6 points: %zu bytes\n", s.size);
        cz_buf_free(&s);
        free(m);
    }
    /* all-zero golden: method, LEB128 n, value */
    uint8_t z[300] = {0};
    cz_buf s = {0};
    CHECK_OK(clz_mask_encode(z, 300, &s));
    CHECK(s.size == 4 && memcmp(s.data, "\x00\xac\x02\x00", 4) == 0);
    cz_buf_free(&s);
}

static void test_synthetic(void) {
    unsigned long long rng = 99;
    size_t const n = 20000, nx = 200;
    uint8_t *m = malloc(n);
    size_t sz[5];
    /* blobs with several specials */
    for (size_t i = 0; i < n; i++) {
        size_t const y = i / nx, x = i % nx;
        int v = 0;
        if ((x - 50) * (x - 50) + (y - 40) * (y - 40) < 900) v = 1;
        if ((x - 150) * (x - 150) + (y - 60) * (y - 60) < 400) v = 3;
        if (x > 180 && y < 10) v = 15;
        m[i] = (uint8_t)v;
    }
    round_trip(m, n, nx, sz, "blobs");
    CHECK_MSG(sz[CLZ_MASK_G4] < sz[CLZ_MASK_ZSTD] && sz[CLZ_MASK_ROWS] < sz[CLZ_MASK_ZSTD],
              "blobs: g4 %zu and rows %zu should beat zstd %zu", sz[CLZ_MASK_G4], sz[CLZ_MASK_ROWS],
              sz[CLZ_MASK_ZSTD]);
    /* noise over all 16 values; sparse single points; a checkerboard; one missing point */
    for (size_t i = 0; i < n; i++) m[i] = (uint8_t)(tu_rand_u64(&rng) % 16);
    round_trip(m, n, nx, sz, "noise");
    for (size_t i = 0; i < n; i++) m[i] = tu_rand_u64(&rng) % 50 == 0 ? 2 : 0;
    round_trip(m, n, nx, sz, "sparse");
    for (size_t i = 0; i < n; i++) m[i] = (uint8_t)(((i / nx) + (i % nx)) % 2);
    CHECK(round_trip(m, n, nx, sz, "checkerboard") < 100);
    memset(m, 0, n);
    m[n - 1] = 7;
    round_trip(m, n, nx, sz, "last point");
    m[n - 1] = 0;
    m[0] = 7;
    round_trip(m, n, 0, sz, "first point, no rows");
    /* tiny maps */
    uint8_t t2[2] = {0, 4};
    round_trip(t2, 2, 0, sz, "two points");
    uint8_t t3[3] = {5, 0, 5};
    round_trip(t3, 3, 2, sz, "three points");
    free(m);

    /* runs longer than a run-length piece (2^20), and many values alternating */
    size_t const big = 3u << 20 | 12345;
    uint8_t *b = calloc(big, 1);
    memset(b + 100, 1, (2u << 20) + 7);  /* one run of 2^21 + 7 */
    memset(b + big - (1u << 20), 2, 1u << 20); /* exactly one piece */
    cz_buf s = {0};
    CHECK_OK(clz_mask_encode_method(b, big, 0, CLZ_MASK_RUNS, &s));
    CHECK(decodes_to(&s, b, big));
    CHECK(s.size < 64);
    cz_buf_free(&s);
    double const t0 = cz_now();
    CHECK_OK(clz_mask_encode_rows(b, big, 1024, &s));
    double const t1 = cz_now();
    CHECK(decodes_to(&s, b, big));
    double const t2d = cz_now();
    printf("3.1 M-point map with long runs: %zu bytes (%s), encode %.1f ms (all methods), decode %.1f ms\n",
           s.size, clz_mask_method_name(s.data[0]), 1e3 * (t1 - t0), 1e3 * (t2d - t1));
    cz_buf_free(&s);
    free(b);

    /* values above CZ_MAX_SPECIALS are refused */
    uint8_t bad[4] = {0, 1, 16, 0};
    CHECK_STATUS(clz_mask_encode(bad, 4, &s), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(clz_mask_encode_method(t2, 2, 0, CLZ_MASK_CONST, &s), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(clz_mask_encode_method(t2, 2, 5, CLZ_MASK_ROWS, &s), CLIMZ_ERR_INVALID_ARG);
    cz_buf_free(&s);
}

/* Golden streams of the adaptive methods: a change of the mask format or of the entropy
 * coder's stream shows up here (and must come with a doc/format.md update). */
static void test_golden(void) {
    uint8_t m[600];
    for (size_t i = 0; i < 600; i++) {
        size_t const y = i / 30, x = i % 30;
        m[i] = (uint8_t)((x + y < 12) ? 1 : (x > 25 && y > 15) ? 2 : 0);
    }
    cz_buf r = {0}, c = {0}, g = {0};
    CHECK_OK(clz_mask_encode_method(m, 600, 30, CLZ_MASK_RUNS, &r));
    CHECK_OK(clz_mask_encode_method(m, 600, 30, CLZ_MASK_ROWS, &c));
    CHECK_OK(clz_mask_encode_method(m, 600, 30, CLZ_MASK_G4, &g));
    CHECK(memcmp(r.data, "\x01\xd8\x04\x01\x07\x00", 6) == 0); /* runs, n=600, first 1, {0,1,2} */
    CHECK(memcmp(c.data, "\x03\xd8\x04\x1e\x07\x00", 6) == 0); /* rows, n=600, nx=30 */
    uint32_t const cr = cz_crc32c(0, r.data, r.size), cc = cz_crc32c(0, c.data, c.size);
    uint32_t const cg = cz_crc32c(0, g.data, g.size);
    CHECK_MSG(r.size == 58 && cr == 0x9B831CD7u, "golden runs stream: %zu bytes, CRC 0x%08X", r.size, (unsigned)cr);
    CHECK_MSG(c.size == 42 && cc == 0x67E859E7u, "golden rows stream: %zu bytes, CRC 0x%08X", c.size, (unsigned)cc);
    CHECK_MSG(g.size == 22 && cg == 0x40206C0Bu, "golden g4 stream: %zu bytes, CRC 0x%08X", g.size, (unsigned)cg);
    /* G4 by hand: the first row has points 0..11 missing and an all-valid reference, so
     * a1 = 0 is far from b1 = 30: H mode, runs 0 and 12: "001" + gamma(0+1) + gamma(12+1) */
    CHECK(g.data[0] == CLZ_MASK_G4 && memcmp(g.data + 1, "\xd8\x04\x1e\x07\x00", 5) == 0);
    for (int k = 0; k < 3; k++) CHECK((g.data[6] >> k & 1) == (k == 2)); /* 001, LSB first */
    CHECK((g.data[6] >> 3 & 1) == 1);                                   /* gamma(1) = 1 */
    cz_buf_free(&r);
    cz_buf_free(&c);
    cz_buf_free(&g);
}

/* Corrupt streams: every truncation is CORRUPT; every bit flip is CORRUPT or decodes to a
 * valid map (zstd frames carry no checksum here: the chunk CRC covers them); never a crash
 * (this runs under ASan in the sanitizer build). */
static void test_corrupt(void) {
    uint8_t m[900];
    for (size_t i = 0; i < 900; i++) {
        size_t const y = i / 30, x = i % 30;
        m[i] = (uint8_t)(((x - 12) * (x - 12) + (y - 15) * (y - 15) < 60) ? 1 : (x + y) % 29 == 0 ? 4 : 0);
    }
    static const int methods[] = {CLZ_MASK_CONST, CLZ_MASK_RUNS, CLZ_MASK_ROWS, CLZ_MASK_ZSTD, CLZ_MASK_G4};
    uint8_t zero[900] = {0};
    int bad_trunc = 0, bad_flip = 0, undetected = 0, flips = 0;
    uint8_t *d = malloc(900);
    for (int k = 0; k < 5; k++) {
        cz_buf s = {0};
        CHECK_OK(clz_mask_encode_method(k == 0 ? zero : m, 900, 30, methods[k], &s));
        for (size_t n = 0; n < s.size; n++) {
            uint8_t *g = malloc(n ? n : 1);
            memcpy(g, s.data, n);
            if (clz_mask_decode(g, n, d, 900) != CLIMZ_ERR_CORRUPT) bad_trunc++;
            free(g);
        }
        uint8_t *g = malloc(s.size);
        for (size_t i = 0; i < s.size; i++)
            for (int b = 0; b < 8; b++) {
                memcpy(g, s.data, s.size);
                g[i] ^= (uint8_t)(1u << b);
                flips++;
                climz_status const st = clz_mask_decode(g, s.size, d, 900);
                if (st == CLIMZ_OK) {
                    undetected++;
                    for (size_t j = 0; j < 900; j++)
                        if (d[j] > CZ_MAX_SPECIALS) bad_flip++;
                } else if (st != CLIMZ_ERR_CORRUPT) {
                    bad_flip++;
                }
            }
        free(g);
        cz_buf_free(&s);
    }
    CHECK_MSG(bad_trunc == 0, "%d truncated mask streams not CLIMZ_ERR_CORRUPT", bad_trunc);
    CHECK_MSG(bad_flip == 0, "%d flipped mask streams gave a bad status or value", bad_flip);
    printf("mask corruption: %d bit flips, %d decode to another valid map\n", flips, undetected);
    /* unknown method, overlong varint, empty stream, bad value set */
    CHECK_STATUS(clz_mask_decode((const uint8_t *)"\x07\x01\x00", 3, d, 1), CLIMZ_ERR_CORRUPT);
    CHECK_STATUS(clz_mask_decode((const uint8_t *)"\x00\x81\x00\x00", 4, d, 1), CLIMZ_ERR_CORRUPT);
    CHECK_STATUS(clz_mask_decode((const uint8_t *)"", 0, d, 0), CLIMZ_ERR_CORRUPT);
    CHECK_STATUS(clz_mask_decode((const uint8_t *)"\x00\x01\x10", 3, d, 1), CLIMZ_ERR_CORRUPT);
    CHECK_STATUS(clz_mask_decode((const uint8_t *)"\x01\x04\x00\x01\x00", 5, d, 4), CLIMZ_ERR_CORRUPT);
    CHECK_STATUS(clz_mask_decode((const uint8_t *)"\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x00",
                                 12, d, 1), CLIMZ_ERR_CORRUPT);
    free(d);
}

/* A big real map: the land/sea split of etopo20 (540 x 1081, 1/3 degree) as a mask, with
 * the time every method takes (the driver codes one such map per time step). */
static void big_mask(void) {
    const char *p = tu_shared("etopo20.cdf");
    if (!p) {
        printf("etopo20.cdf absent: big-map timing skipped\n");
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s", p);
    cz_dataset *ds;
    CHECK_OK(io_open(path, &ds));
    int const v = io_find_var(ds, "ROSE");
    cz_field f;
    CHECK_OK(io_load_field(ds, v, &f));
    size_t const n = f.ny * f.nx;
    uint8_t *m = malloc(n);
    for (size_t i = 0; i < n; i++) m[i] = f.values[i] < 0 ? 0 : 1; /* land "missing" */
    printf("etopo20 land mask %zux%zu, %.1f%% land:", f.ny, f.nx, 100.0 * (double)count_missing(m, n) / (double)n);
    static const int methods[] = {CLZ_MASK_RUNS, CLZ_MASK_ROWS, CLZ_MASK_G4, CLZ_MASK_ZSTD};
    for (int k = 0; k < 4; k++) {
        cz_buf s = {0};
        double const t0 = cz_now();
        CHECK_OK(clz_mask_encode_method(m, n, f.nx, methods[k], &s));
        double const t1 = cz_now();
        CHECK(decodes_to(&s, m, n));
        double const t2 = cz_now();
        printf(" %s %zu B (enc %.1f ms, dec %.1f ms);", clz_mask_method_name(methods[k]), s.size,
               1e3 * (t1 - t0), 1e3 * (t2 - t1));
        cz_buf_free(&s);
    }
    cz_buf s = {0};
    double const t0 = cz_now();
    CHECK_OK(clz_mask_encode_rows(m, n, f.nx, &s));
    printf(" chosen %s, %.1f ms\n", clz_mask_method_name(s.data[0]), 1e3 * (cz_now() - t0));
    cz_buf_free(&s);
    free(m);
    io_field_free(&f);
    io_free(ds);
}

int main(void) {
    test_constant();
    test_synthetic();
    test_golden();
    test_corrupt();
    real_mask(tu_data("bcsd_obs_1999.nc"), "pr", 1);
    real_mask(tu_data("bcsd_obs_1999.nc"), "tas", 1);
    real_mask(tu_data("reduced.nc"), "sst", 1);
    real_mask(tu_data("reduced.nc"), "ice", 1);
    grads_masks();
    big_mask();
    return tu_finish();
}
