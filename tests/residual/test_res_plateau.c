/* test_res_plateau.c — plateau mode of the residual codec (RES_MODE_PLATEAU, stream version
 * 2; src/residual/res_plateau.c) on real data: sea-ice fraction (../shared/data/fice.nc,
 * 0 over open water and land) step by step and stacked, land fraction (0 / 100 plateaus)
 * and the other bundled samples, with missing points and with a reference field; edge
 * cases (constant, non-finite values, thin blocks); golden streams of a tiny hand-made chunk
 * in both versions; damaged plateau streams.
 *
 * Every round trip checks: |x - x'| <= E in double at every valid point (non-finite values:
 * the same bits), the map's points decode to the plateau value exactly, missing points to
 * +0.0f, res_decode() gives exactly the encoder's `decoded`, and a second encode gives the
 * same bytes. */
#include "field_fixture.h"
#include "io/dataset.h"
#include "residual/residual.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Encodes with plateau option `plateau` (0 auto, 1 off, 2 forced), decodes, checks; returns
 * the stream size (0 on failure) and its mode in *mode. */
static size_t roundtrip(const char *label, const float *x, const uint8_t *miss, const float *pred,
                        size_t nz, size_t ny, size_t nx, double E, int plateau, res_mode *mode) {
    size_t const n = nz * ny * nx;
    res_params const p = {E, 0};
    res_options opt;
    memset(&opt, 0, sizeof opt);
    opt.plateau = plateau;
    float *dec = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    cz_buf a = {0}, b = {0};
    size_t size = 0;
    climz_status st = res_encode_ex(x, miss, pred, NULL, nz, ny, nx, &p, &opt, &a, dec);
    CHECK_MSG(st == CLIMZ_OK, "%s: encode: %s %s", label, climz_status_name(st), cz_error_message());
    if (st != CLIMZ_OK) goto done;
    CHECK_OK(res_encode_ex(x, miss, pred, NULL, nz, ny, nx, &p, &opt, &b, NULL));
    CHECK_MSG(a.size == b.size && memcmp(a.data, b.data, a.size) == 0, "%s: second encode differs", label);
    res_info info;
    CHECK_OK(res_stream_info(a.data, a.size, &info));
    *mode = info.mode;
    for (size_t i = 0; i < n; i++) out[i] = NAN; /* the decoder must overwrite every point */
    st = res_decode(a.data, a.size, miss, pred, NULL, nz, ny, nx, out);
    CHECK_MSG(st == CLIMZ_OK, "%s: decode: %s %s", label, climz_status_name(st), cz_error_message());
    if (st != CLIMZ_OK) goto done;
    size_t bad = 0, mism = 0, nplat = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        mism += f2u(out[i]) != f2u(dec[i]);
        if (miss && miss[i]) {
            bad += f2u(out[i]) != 0;
            continue;
        }
        if (info.mode == RES_MODE_PLATEAU && f2u(out[i]) == f2u(info.plateau)) nplat++;
        if (f2u(out[i]) == f2u(x[i])) continue; /* (NaN and inf come back bit for bit) */
        if (!(fabs((double)x[i] - (double)out[i]) <= E) && first == n) first = i;
        bad += !(fabs((double)x[i] - (double)out[i]) <= E);
    }
    CHECK_MSG(mism == 0, "%s: %zu points differ from the encoder's decoded values", label, mism);
    CHECK_MSG(bad == 0, "%s: %zu points break the bound %g (first %zu: %.9g -> %.9g)", label, bad, E,
              first, first < n ? (double)x[first] : 0.0, first < n ? (double)out[first] : 0.0);
    /* plateau mode: every valid point within E of c is a map point and decodes to c */
    if (info.mode == RES_MODE_PLATEAU) {
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
            want += (!miss || !miss[i]) && fabs((double)x[i] - (double)info.plateau) <= E;
        CHECK_MSG(nplat >= want, "%s: %zu points decode to the plateau %g, %zu lie within E of it", label,
                  nplat, (double)info.plateau, want);
    }
    size = a.size;
done:
    cz_buf_free(&a);
    cz_buf_free(&b);
    free(dec);
    free(out);
    return size;
}

/* Blocks of `steps` planes of field f at E = rel * range, auto vs off vs forced: the bound
 * everywhere, auto never larger than off, auto = the smaller of off and forced whenever it
 * picks plateau mode. Returns the totals of auto and off; *nplat = blocks in plateau mode. */
static void blocks(const char *name, const cz_field *f, const float *pred, size_t steps, double rel,
                   size_t *tot_auto, size_t *tot_off, size_t *nplat) {
    size_t const nz = f->nt * f->nz, plane = f->ny * f->nx;
    double const E = rel * fixture_value_range(f->values, f->miss, nz * plane);
    *tot_auto = *tot_off = *nplat = 0;
    for (size_t t = 0; t < nz; t += steps) {
        size_t const c = t + steps <= nz ? steps : nz - t;
        char lab[128];
        res_mode ma, mo, mf;
        snprintf(lab, sizeof lab, "%s %g R planes %zu-%zu", name, rel, t, t + c - 1);
        const float *x = f->values + t * plane;
        const uint8_t *miss = f->miss + t * plane;
        const float *pr = pred ? pred + t * plane : NULL;
        size_t const sa = roundtrip(lab, x, miss, pr, c, f->ny, f->nx, E, 0, &ma);
        size_t const so = roundtrip(lab, x, miss, pr, c, f->ny, f->nx, E, 1, &mo);
        size_t const sf = roundtrip(lab, x, miss, pr, c, f->ny, f->nx, E, 2, &mf);
        CHECK_MSG(sa <= so, "%s: auto %zu bytes > off %zu", lab, sa, so);
        CHECK_MSG(mo != RES_MODE_PLATEAU, "%s: plateau mode while turned off", lab);
        if (ma == RES_MODE_PLATEAU) CHECK_MSG(sa == sf && sa < so, "%s: auto %zu, forced %zu, off %zu", lab, sa, sf, so);
        *tot_auto += sa;
        *tot_off += so;
        *nplat += ma == RES_MODE_PLATEAU;
    }
    if (getenv("RES_VERBOSE"))
        printf("  %-44s %g R: auto %zu bytes, off %zu (%+.1f %%), %zu blocks in plateau mode\n", name, rel,
               *tot_auto, *tot_off, 100.0 * ((double)*tot_auto / (double)*tot_off - 1), *nplat);
}

/* ---- fice.nc: 120 monthly steps of 49 x 100, 0 over open water and land ------------------ */
static void test_fice(void) {
    const char *path = tu_shared("fice.nc");
    if (!path) {
        printf("  ../shared/data/fice.nc absent: sea-ice part skipped\n");
        return;
    }
    cz_dataset *ds = NULL;
    cz_field f = {0};
    if (fixture_load(path, "fice", &ds, &f)) {
        size_t sa, so, np;
        /* one step per block, as the HDF5 filter codes one chunk: at 0.1 % of the range the
         * streams were 15.9 % smaller (203400 vs 241916 bytes) when this test was written */
        blocks("fice one step", &f, NULL, 1, 1e-3, &sa, &so, &np);
        CHECK_MSG((double)sa <= 0.88 * (double)so, "fice 1e-3 R: plateau %zu vs %zu bytes", sa, so);
        CHECK_MSG(np == f.nt, "fice 1e-3 R: %zu of %zu steps in plateau mode", np, f.nt);
        blocks("fice one step", &f, NULL, 1, 1e-2, &sa, &so, &np);
        CHECK_MSG((double)sa <= 0.88 * (double)so, "fice 1e-2 R: plateau %zu vs %zu bytes", sa, so);
        /* stacked steps (the .clz container's time blocks): the map's context sees the plane before */
        blocks("fice 12 steps", &f, NULL, 12, 1e-3, &sa, &so, &np);
        CHECK_MSG((double)sa <= 0.85 * (double)so, "fice 12 steps: plateau %zu vs %zu bytes", sa, so);
    }
    io_field_free(&f);
    io_free(ds);
}

/* ---- the bundled samples: plateau mode where it pays, never larger ------------------------ */
static void test_samples(void) {
    static const struct { const char *file, *var; size_t steps; } sets[] = {
        {"sftlf_mod1_rectilinear_grid_2D.nc", "sftlf", 1}, /* land fraction: 0 and 100 */
        {"bcsd_obs_1999.nc", "pr", 1},                     /* NaN ocean (missing), dry zeros */
        {"bcsd_obs_1999.nc", "pr", 12},
        {"hgt.nc", "HGT", 1},                              /* no plateau at all */
        {"tas_rectilinear_grid_2D.nc", "tas", 4},
        {"reduced.nc", "ice", 1},                          /* packed shorts, -999 fill */
    };
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
        cz_dataset *ds = NULL;
        cz_field f = {0};
        if (fixture_load(tu_data(sets[k].file), sets[k].var, &ds, &f)) {
            char name[96];
            snprintf(name, sizeof name, "%s %zu step(s)", sets[k].var, sets[k].steps);
            size_t sa, so, np;
            blocks(name, &f, NULL, sets[k].steps, 1e-3, &sa, &so, &np);
            blocks(name, &f, NULL, sets[k].steps, 1e-2, &sa, &so, &np);
            if (strcmp(sets[k].var, "sftlf") == 0)
                CHECK_MSG(np == 1 && (double)sa < 0.8 * (double)so, "sftlf: %zu vs %zu bytes", sa, so);
            if (strcmp(sets[k].var, "HGT") == 0) CHECK_MSG(np == 0 && sa == so, "HGT: plateau mode");
            /* with a reference field (a stand-in for the network's prediction: x rounded to
             * 10 % of the range): the map is of x, the bins of x - pred */
            if (sets[k].steps == 1 && strcmp(sets[k].var, "HGT") != 0) {
                size_t const n = f.nt * f.nz * f.ny * f.nx;
                double const R = fixture_value_range(f.values, f.miss, n);
                float *pred = malloc(n * sizeof(float));
                for (size_t i = 0; i < n; i++) pred[i] = (float)(floor(f.values[i] / (0.1 * R)) * 0.1 * R);
                snprintf(name, sizeof name, "%s with pred", sets[k].var);
                blocks(name, &f, pred, 1, 1e-2, &sa, &so, &np);
                free(pred);
            }
        }
        io_field_free(&f);
        io_free(ds);
    }
}

/* ---- the caller's missing codes: any non-zero code is missing, plateau mode included ------ */
static void test_miss_codes(void) {
    size_t const ny = 30, nx = 40, n = ny * nx;
    float x[30 * 40];
    uint8_t m1[30 * 40], m2[30 * 40];
    unsigned long long rs = 5;
    for (size_t i = 0; i < n; i++) {
        size_t const j = i / nx, l = i % nx;
        x[i] = l > 10 + j / 3 ? (float)(50 + 10 * tu_rand_normal(&rs)) : 0.f;
        m1[i] = (uint8_t)(i % 11 == 0);
        m2[i] = (uint8_t)(m1[i] ? 2 + i % 200 : 0); /* 2 is the codec's own code for map points */
    }
    res_params const p = {0.5, 0};
    cz_buf a = {0}, b = {0};
    CHECK_OK(res_encode(x, m1, NULL, NULL, 1, ny, nx, &p, &a, NULL));
    CHECK_OK(res_encode(x, m2, NULL, NULL, 1, ny, nx, &p, &b, NULL));
    CHECK(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    res_info info;
    CHECK_OK(res_stream_info(a.data, a.size, &info));
    CHECK(info.mode == RES_MODE_PLATEAU && info.plateau == 0.f);
    res_mode mode;
    CHECK(roundtrip("missing codes", x, m2, NULL, 1, ny, nx, 0.5, 0, &mode) == a.size);
    cz_buf_free(&a);
    cz_buf_free(&b);
}

/* ---- edge cases: every point on the plateau, non-finite values, thin and single-point
 * blocks, 3-D blocks whose planes differ, the max as the plateau ------------------------- */
static void test_edges(void) {
    size_t const n = 3 * 17 * 9;
    float *x = malloc(n * sizeof(float));
    uint8_t *miss = calloc(n, 1);
    res_mode mode;
    char lab[64];
    for (int form = 0; form < 5; form++) {
        unsigned long long rs = 77 + (unsigned long long)form;
        for (size_t i = 0; i < n; i++) {
            double const u = tu_rand_uniform(&rs);
            switch (form) {
            case 0: x[i] = 3.5f; break;                                   /* constant */
            case 1: x[i] = u < 0.6 ? 0.f : (float)(10 * u); break;        /* specks */
            case 2: x[i] = u < 0.5 ? 100.f : (float)(100 * u); break;     /* the max */
            case 3: x[i] = i / 153 == 1 ? 0.f : (float)(5 * u); break;     /* one plane flat */
            default: x[i] = u < 0.6 ? 0.f : (float)u; /* non-finite values, not missing */
                if (i % 37 == 5) x[i] = NAN;
                if (i % 41 == 6) x[i] = INFINITY;
            }
            miss[i] = form == 1 && i % 5 == 0;
        }
        static const size_t shapes[4][3] = {{3, 17, 9}, {1, 51, 9}, {51, 1, 9}, {1, 1, 1}};
        for (int sh = 0; sh < 4; sh++)
            for (int pl = 0; pl <= 2; pl++) {
                snprintf(lab, sizeof lab, "edge form %d shape %d plateau %d", form, sh, pl);
                size_t const sz = roundtrip(lab, x, miss, NULL, shapes[sh][0], shapes[sh][1], shapes[sh][2], 0.01, pl, &mode);
                CHECK_MSG(sz > 0, "%s: failed", lab);
                if (pl == 2 && form < 4 && sh < 3) CHECK_MSG(mode == RES_MODE_PLATEAU, "%s: mode %d", lab, (int)mode);
            }
    }
    free(x);
    free(miss);
}

/* ---- golden: a tiny hand-made chunk (6 x 8 sea-ice fractions, E = 0.005) ----------------- */
static const float TINY[48] = {
    0.f, 0.f, 0.f,   0.61f, 0.92f, 0.97f, 0.98f, 0.99f, 0.f, 0.f, 0.35f, 0.88f, 0.96f, 0.f,  0.97f, 0.98f,
    0.f, 0.f, 0.52f, 0.93f, 0.95f, 0.96f, 0.97f, 0.99f, 0.f, 0.f, 0.f,   0.44f, 0.81f, 0.9f, 0.94f, 0.96f,
    0.f, 0.f, 0.f,   0.f,   0.12f, 0.47f, 0.7f,  0.83f, 0.f, 0.f, 0.f,   0.f,   0.f,   0.f,  0.03f, 0.2f};
/* version 1 (LOSSY), written by the encoder before plateau mode existed (4e56107) */
static const uint8_t TINY_V1[67] = {
    0xc7, 0x11, 0x01, 0x06, 0x08, 0x12, 0x20, 0x0f, 0xd5, 0x23, 0x3c, 0x14,
    0x02, 0x00, 0x34, 0xcf, 0x00, 0x17, 0xb1, 0xcc, 0x1e, 0x31, 0x2d, 0xee,
    0x01, 0x38, 0x38, 0x8a, 0x03, 0x00, 0x00, 0x19, 0xa7, 0x04, 0x8c, 0xee,
    0x14, 0x81, 0x8d, 0x4f, 0xd9, 0x8c, 0xd0, 0x5e, 0xd0, 0xee, 0x85, 0x74,
    0x07, 0x80, 0x8f, 0x95, 0xdc, 0xa4, 0x96, 0x27, 0x00, 0xe4, 0x45, 0x70,
    0x7b, 0x6a, 0x81, 0x7f, 0x0f, 0x05, 0x9e,
};
static const uint32_t TINY_V1_DEC[48] = {
    0x00000000u, 0x00000000u, 0x00000000u, 0x3f1c2712u, 0x3f6b8246u, 0x3f784eebu,
    0x3f7ade3fu, 0x3f7d6d93u, 0x00000000u, 0x00000000u, 0x3eb33108u, 0x3f6144f5u,
    0x3f75bf96u, 0x00000000u, 0x3f784eebu, 0x3f7ade3fu, 0x00000000u, 0x00000000u,
    0x3f051d1cu, 0x3f6e119au, 0x3f733042u, 0x3f75bf96u, 0x3f784eebu, 0x3f7d6d93u,
    0x00000000u, 0x00000000u, 0x00000000u, 0x3ee144f5u, 0x3f4f59a7u, 0x3f66639du,
    0x3f70a0eeu, 0x3f75bf96u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u,
    0x3df5bf96u, 0x3ef0a0eeu, 0x3f333108u, 0x3f54784fu, 0x00000000u, 0x00000000u,
    0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x3cf5bf96u, 0x3e4cca53u,
};
/* version 2 (PLATEAU), the same chunk */
static const uint8_t TINY_V2[63] = {
    0xc7, 0x24, 0x01, 0x06, 0x08, 0x13, 0x21, 0x0f, 0xd5, 0x23, 0x3c, 0x14,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x95, 0x0e, 0x25, 0x2a, 0x01,
    0x00, 0x00, 0x00, 0x03, 0x70, 0x10, 0x18, 0xca, 0xb3, 0xcd, 0x0e, 0xa9,
    0x55, 0x3e, 0xb0, 0x83, 0x69, 0xc4, 0x66, 0x4e, 0xa5, 0x73, 0xfb, 0xac,
    0x56, 0xd0, 0xbc, 0x11, 0xd6, 0x0c, 0xfd, 0x89, 0x1a, 0xc8, 0xfe, 0x91,
    0x0b, 0xb6, 0x85,
};
static const uint32_t TINY_V2_DEC[48] = {
    0x00000000u, 0x00000000u, 0x00000000u, 0x3f1c75b6u, 0x3f6beb20u, 0x3f78d1fbu,
    0x3f7b7b86u, 0x3f7e2510u, 0x00000000u, 0x00000000u, 0x3eb293c2u, 0x3f6216aau,
    0x3f75224fu, 0x00000000u, 0x3f796f43u, 0x3f7b95bcu, 0x00000000u, 0x00000000u,
    0x3f044b68u, 0x3f6cd70cu, 0x3f741c2eu, 0x3f75bf97u, 0x3f776300u, 0x3f7e2511u,
    0x00000000u, 0x00000000u, 0x00000000u, 0x3ee0590bu, 0x3f4ebc60u, 0x3f655d7cu,
    0x3f71c147u, 0x3f767715u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u,
    0x3df90669u, 0x3ef1a710u, 0x3f33ce50u, 0x3f552fcdu, 0x00000000u, 0x00000000u,
    0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x3cf90660u, 0x3e4fa849u,
};

static void test_tiny_golden(void) {
    res_params const p = {0.005, 0};
    float out[48];
    /* the encoder writes plateau mode, byte for byte */
    cz_buf b = {0};
    CHECK_OK(res_encode(TINY, NULL, NULL, NULL, 1, 6, 8, &p, &b, NULL));
    CHECK_MSG(b.size == sizeof TINY_V2 && memcmp(b.data, TINY_V2, b.size) == 0, "tiny: %zu bytes, not the golden %zu",
              b.size, sizeof TINY_V2);
    /* plateau turned off: the version-1 stream of the encoder before plateau mode */
    res_options opt;
    memset(&opt, 0, sizeof opt);
    opt.plateau = 1;
    b.size = 0;
    CHECK_OK(res_encode_ex(TINY, NULL, NULL, NULL, 1, 6, 8, &p, &opt, &b, NULL));
    CHECK(b.size == sizeof TINY_V1 && memcmp(b.data, TINY_V1, b.size) == 0);
    cz_buf_free(&b);
    /* both decode to their golden values, bit for bit, within the bound */
    static const struct { const uint8_t *s; size_t n; const uint32_t *dec; } g[2] = {
        {TINY_V1, sizeof TINY_V1, TINY_V1_DEC}, {TINY_V2, sizeof TINY_V2, TINY_V2_DEC}};
    for (int v = 0; v < 2; v++) {
        CHECK_OK(res_decode(g[v].s, g[v].n, NULL, NULL, NULL, 1, 6, 8, out));
        size_t diff = 0, bad = 0;
        for (int i = 0; i < 48; i++) {
            diff += f2u(out[i]) != g[v].dec[i];
            bad += !(fabs((double)out[i] - (double)TINY[i]) <= 0.005);
        }
        CHECK_MSG(diff == 0 && bad == 0, "tiny version %d: %zu values differ, %zu out of bound", v + 1, diff, bad);
    }
    /* the map: exactly the 21 zeros decode to 0 in plateau mode (no other value is within E) */
    res_info info;
    CHECK_OK(res_stream_info(TINY_V2, sizeof TINY_V2, &info));
    CHECK(info.mode == RES_MODE_PLATEAU && info.plateau == 0.f && info.predictor != RES_PRED_AUTO);
    int zeros = 0, same = 0;
    for (int i = 0; i < 48; i++) {
        zeros += TINY[i] == 0.f;
        same += (TINY[i] == 0.f) == (TINY_V2_DEC[i] == 0);
    }
    CHECK(zeros == 21 && same == 48);
}

/* ---- damaged plateau streams: truncations and byte flips never crash or over-read --------- */
static void test_corrupt(void) {
    size_t const ny = 40, nx = 50, n = ny * nx;
    float *x = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    uint8_t *miss = calloc(n, 1);
    unsigned long long rs = 31;
    for (size_t i = 0; i < n; i++) {
        size_t const j = i / nx, l = i % nx;
        x[i] = (j - 20.0) * (j - 20.0) + (l - 25.0) * (l - 25.0) < 200 ? (float)(0.9 + 0.03 * tu_rand_normal(&rs)) : 0.f;
        miss[i] = i % 53 == 0;
    }
    res_params const p = {0.002, 0};
    cz_buf s = {0};
    CHECK_OK(res_encode(x, miss, NULL, NULL, 1, ny, nx, &p, &s, NULL));
    res_info info;
    CHECK_OK(res_stream_info(s.data, s.size, &info));
    CHECK(info.mode == RES_MODE_PLATEAU);
    size_t trunc_ok = 0, nerr = 0;
    for (size_t len = 0; len < s.size; len += len < 64 ? 1 : 7) {
        uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
        memcpy(cut, s.data, len);
        trunc_ok += res_decode(cut, len, miss, NULL, NULL, 1, ny, nx, out) == CLIMZ_OK;
        free(cut);
    }
    CHECK_MSG(trunc_ok == 0, "%zu truncated plateau streams decoded", trunc_ok);
    uint8_t *cp = malloc(s.size);
    for (int k = 0; k < 300; k++) {
        memcpy(cp, s.data, s.size);
        size_t const pos = (size_t)(tu_rand_u64(&rs) % s.size);
        cp[pos] ^= (uint8_t)(1 + tu_rand_u64(&rs) % 255);
        climz_status const st = res_decode(cp, s.size, miss, NULL, NULL, 1, ny, nx, out);
        CHECK_MSG(st == CLIMZ_OK || st == CLIMZ_ERR_CORRUPT || st == CLIMZ_ERR_TRUNCATED || st == CLIMZ_ERR_VERSION ||
                      st == CLIMZ_ERR_DIMENSION,
                  "flip at %zu gave %s", pos, climz_status_name(st));
        nerr += st != CLIMZ_OK;
    }
    CHECK_MSG(nerr >= 250, "only %zu of 300 flips detected", nerr); /* the rANS final states */
    free(cp);
    cz_buf_free(&s);
    free(x);
    free(out);
    free(miss);
}

int main(void) {
    test_tiny_golden();
    test_miss_codes();
    test_edges();
    test_corrupt();
    test_samples();
    test_fice();
    return tu_finish();
}
