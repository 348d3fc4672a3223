/* test_residual.c — the error-bounded residual codec (src/residual/residual.h) on real data.
 *
 * Every round trip checks, point by point: |x - x'| <= E in double at every valid point
 * (bit equality for E = 0), missing points decode to +0.0f, res_decode() returns exactly
 * the encoder's `decoded`, and a second encode gives the same bytes. */
#include "field_fixture.h"
#include "io/dataset.h"
#include "residual/residual.h"
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Encodes, decodes and checks; returns the stream size (0 on failure). The stream is left
 * in *keep when keep != NULL. */
static size_t roundtrip(const char *label, const float *x, const uint8_t *miss, const float *pred,
                        const float *prev, size_t nz, size_t ny, size_t nx, double E,
                        const res_options *opt, cz_buf *keep) {
    size_t const n = nz * ny * nx;
    res_params const p = {E, prev != NULL};
    float *dec = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    cz_buf a = {0}, b = {0};
    size_t size = 0;
    climz_status st = res_encode_ex(x, miss, pred, prev, nz, ny, nx, &p, opt, &a, dec);
    CHECK_MSG(st == CLIMZ_OK, "%s: encode: %s %s", label, climz_status_name(st), cz_error_message());
    if (st != CLIMZ_OK) goto done;
    st = res_encode_ex(x, miss, pred, prev, nz, ny, nx, &p, opt, &b, NULL);
    CHECK_MSG(st == CLIMZ_OK && a.size == b.size && memcmp(a.data, b.data, a.size) == 0,
              "%s: second encode differs", label);
    for (size_t i = 0; i < n; i++) out[i] = u2f(0x7fc0dead); /* garbage the decoder must overwrite */
    st = res_decode(a.data, a.size, miss, pred, prev, nz, ny, nx, out);
    CHECK_MSG(st == CLIMZ_OK, "%s: decode: %s %s", label, climz_status_name(st), cz_error_message());
    if (st != CLIMZ_OK) goto done;
    size_t bad = 0, mism = 0, first = n;
    double maxe = 0, se = 0;
    size_t nv = 0;
    for (size_t i = 0; i < n; i++) {
        if (f2u(out[i]) != f2u(dec[i])) mism++;
        if (miss && miss[i]) {
            if (f2u(out[i]) != 0) bad++;
            continue;
        }
        nv++;
        if (f2u(out[i]) == f2u(x[i])) continue;
        double const e = fabs((double)x[i] - (double)out[i]);
        if (!(E > 0 && e <= E)) {
            if (first == n) first = i;
            bad++;
        } else {
            se += e * e;
            if (e > maxe) maxe = e;
        }
    }
    CHECK_MSG(mism == 0, "%s: %zu points differ from the encoder's decoded values", label, mism);
    CHECK_MSG(bad == 0, "%s: %zu points break the bound %g (first %zu: %.9g -> %.9g)", label, bad, E,
              first, first < n ? (double)x[first] : 0.0, first < n ? (double)out[first] : 0.0);
    size = a.size;
    if (getenv("RES_VERBOSE"))
        printf("  %-34s E=%-10.3g ratio %8.2f  rmse %.3g  max %.3g\n", label, E,
               (double)n * 4 / (double)a.size, nv ? sqrt(se / (double)nv) : 0.0, maxe);
    if (keep) {
        keep->size = 0;
        CHECK_OK(cz_buf_put(keep, a.data, a.size));
    }
done:
    cz_buf_free(&a);
    cz_buf_free(&b);
    free(dec);
    free(out);
    return size;
}

/* Box-smoothed copy (3x3 in each plane): a stand-in for a neural reconstruction. */
static float *smoothed(const float *x, size_t nz, size_t ny, size_t nx) {
    float *s = malloc(nz * ny * nx * sizeof(float));
    for (size_t k = 0; k < nz; k++)
        for (size_t j = 0; j < ny; j++)
            for (size_t i = 0; i < nx; i++) {
                double acc = 0;
                int c = 0;
                for (long dj = -1; dj <= 1; dj++)
                    for (long di = -1; di <= 1; di++) {
                        long const jj = (long)j + dj, ii = (long)i + di;
                        if (jj < 0 || ii < 0 || jj >= (long)ny || ii >= (long)nx) continue;
                        acc += x[(k * ny + (size_t)jj) * nx + (size_t)ii];
                        c++;
                    }
                s[(k * ny + j) * nx + i] = (float)(acc / c);
            }
    return s;
}

/* ---- real data: HGT (21 x 73 x 144), whole block and step by step -------------------- */
static void test_hgt(void) {
    cz_dataset *ds = NULL;
    cz_field f = {0};
    if (!fixture_load(tu_data("hgt.nc"), "HGT", &ds, &f)) goto done;
    size_t const nz = f.nt * f.nz, ny = f.ny, nx = f.nx, n = nz * ny * nx, plane = ny * nx;
    CHECK(nz == 21 && ny == 73 && nx == 144);
    double const R = fixture_value_range(f.values, f.miss, n);
    CHECK(R > 500 && R < 2000);
    static const double rel[3] = {1e-2, 1e-3, 1e-4};
    static const double min_ratio[3] = {60, 18, 7}; /* measured 112, 27, 9.4: catches regressions */
    char lab[64];
    for (int e = 0; e < 3; e++) {
        snprintf(lab, sizeof lab, "HGT 3-D %.0e R", rel[e]);
        size_t const sz = roundtrip(lab, f.values, f.miss, NULL, NULL, nz, ny, nx, rel[e] * R, NULL, NULL);
        CHECK_MSG(sz > 0 && (double)n * 4 / (double)sz >= min_ratio[e], "%s: ratio %.2f below %.0f", lab,
                  sz ? (double)n * 4 / (double)sz : 0.0, min_ratio[e]);
    }
    /* a tiny absolute bound: below float resolution of the values (~5e-4): near lossless */
    roundtrip("HGT 3-D E=1e-5", f.values, f.miss, NULL, NULL, nz, ny, nx, 1e-5, NULL, NULL);
    roundtrip("HGT 3-D E=1e-30", f.values, f.miss, NULL, NULL, nz, ny, nx, 1e-30, NULL, NULL);
    size_t const ll = roundtrip("HGT 3-D lossless", f.values, f.miss, NULL, NULL, nz, ny, nx, 0, NULL, NULL);
    CHECK_MSG(ll > 0 && ll < n * 4 * 3 / 4, "lossless HGT: %zu bytes", ll);

    /* step by step with the previous decoded step (temporal), the way the driver does it */
    {
        float *dec = malloc(n * sizeof(float));
        res_params const p = {1e-3 * R, 1};
        size_t total = 0;
        for (size_t t = 0; t < nz; t++) {
            cz_buf b = {0};
            const float *prev = t ? dec + (t - 1) * plane : NULL;
            CHECK_OK(res_encode(f.values + t * plane, NULL, NULL, prev, 1, ny, nx, &p, &b, dec + t * plane));
            float *out = malloc(plane * sizeof(float));
            CHECK_OK(res_decode(b.data, b.size, NULL, NULL, prev, 1, ny, nx, out));
            CHECK(memcmp(out, dec + t * plane, plane * sizeof(float)) == 0);
            res_info info;
            CHECK_OK(res_stream_info(b.data, b.size, &info));
            if (t && info.domain == RES_DOM_PREV) /* the stream needs prev: refuse without it */
                CHECK_STATUS(res_decode(b.data, b.size, NULL, NULL, NULL, 1, ny, nx, out), CLIMZ_ERR_INVALID_ARG);
            for (size_t i = 0; i < plane; i++)
                if (!(fabs((double)f.values[t * plane + i] - (double)dec[t * plane + i]) <= p.max_abs_error)) {
                    CHECK_MSG(0, "temporal step %zu point %zu breaks the bound", t, i);
                    break;
                }
            total += b.size;
            free(out);
            cz_buf_free(&b);
        }
        CHECK_MSG((double)n * 4 / (double)total > 15, "HGT step by step: ratio %.2f", (double)n * 4 / (double)total);
        free(dec);
    }

    /* forced domain x - prev: a stream that needs prev must refuse to decode without it */
    {
        res_options opt = {0};
        opt.domain = RES_DOM_PREV;
        cz_buf s = {0};
        roundtrip("HGT step 5 domain prev", f.values + 5 * plane, NULL, NULL, f.values + 4 * plane, 1, ny,
                  nx, 1e-3 * R, &opt, &s);
        float *out = malloc(plane * sizeof(float));
        CHECK_STATUS(res_decode(s.data, s.size, NULL, NULL, NULL, 1, ny, nx, out), CLIMZ_ERR_INVALID_ARG);
        free(out);
        cz_buf_free(&s);
    }

    /* with an external prediction: a smoothed copy stands in for a neural reconstruction */
    {
        float *pred = smoothed(f.values, nz, ny, nx);
        size_t const s_auto = roundtrip("HGT pred auto", f.values, NULL, pred, NULL, nz, ny, nx, 1e-3 * R, NULL, NULL);
        res_options opt = {0};
        opt.domain = RES_DOM_PRED;
        opt.predictor = RES_PRED_ZERO;
        cz_buf s = {0};
        size_t const s_zero = roundtrip("HGT pred direct", f.values, NULL, pred, NULL, nz, ny, nx, 1e-3 * R, &opt, &s);
        float *out = malloc(n * sizeof(float));
        CHECK_STATUS(res_decode(s.data, s.size, NULL, NULL, NULL, nz, ny, nx, out), CLIMZ_ERR_INVALID_ARG);
        opt.predictor = RES_PRED_CUBIC;
        roundtrip("HGT pred interp(x - pred)", f.values, NULL, pred, NULL, nz, ny, nx, 1e-3 * R, &opt, NULL);
        CHECK(s_auto > 0 && s_zero > 0);
        opt.predictor = RES_PRED_LORENZO;
        roundtrip("HGT pred lorenzo(x - pred)", f.values, NULL, pred, NULL, nz, ny, nx, 1e-3 * R, &opt, NULL);
        roundtrip("HGT pred lossless", f.values, NULL, pred, NULL, nz, ny, nx, 0, NULL, NULL);
        free(out);
        free(pred);
        cz_buf_free(&s);
    }
done:
    io_field_free(&f);
    io_free(ds);
}

/* ---- other bundled samples: GRIB (ERA5 2 m temperature) and CMIP5 tas, whole and chunked -- */
static void test_more_data(void) {
    static const struct { const char *file, *var; double min_ratio; } sets[] = {
        {"era5-2mt-2019-03-01-02-uk.grib", "2t", 7}, /* measured 8.98 at 1e-3 R */
        {"tas_rectilinear_grid_2D.nc", "tas", 10},   /* measured 12.9 */
    };
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
        cz_dataset *ds = NULL;
        cz_field f = {0};
        if (fixture_load(tu_data(sets[k].file), sets[k].var, &ds, &f)) {
            size_t const nz = f.nt * f.nz, n = nz * f.ny * f.nx, plane = f.ny * f.nx;
            double const R = fixture_value_range(f.values, f.miss, n);
            char lab[96];
            snprintf(lab, sizeof lab, "%s 3-D 1e-3 R", sets[k].var);
            size_t const sz = roundtrip(lab, f.values, f.miss, NULL, NULL, nz, f.ny, f.nx, 1e-3 * R, NULL, NULL);
            CHECK_MSG(sz && (double)n * 4 / (double)sz >= sets[k].min_ratio, "%s: ratio %.2f", lab,
                      sz ? (double)n * 4 / (double)sz : 0.0);
            for (int o = 3; o <= 5; o++) {
                res_options opt = {0};
                opt.order = o;
                snprintf(lab, sizeof lab, "%s 1e-2 R structure %d", sets[k].var, o);
                roundtrip(lab, f.values, f.miss, NULL, NULL, nz, f.ny, f.nx, 1e-2 * R, &opt, NULL);
            }
            /* chunks of 5 steps (the last one shorter) */
            for (size_t t = 0; t < nz; t += 5) {
                size_t const c = t + 5 <= nz ? 5 : nz - t;
                snprintf(lab, sizeof lab, "%s chunk at %zu", sets[k].var, t);
                roundtrip(lab, f.values + t * plane, f.miss + t * plane, NULL, NULL, c, f.ny, f.nx, 1e-2 * R, NULL, NULL);
            }
            roundtrip(sets[k].var, f.values, f.miss, NULL, NULL, nz, f.ny, f.nx, 0, NULL, NULL);
        }
        io_field_free(&f);
        io_free(ds);
    }
}

/* ---- missing points: bcsd_obs_1999 (NaN over the ocean, 22 % of the points) ---------------- */
static void test_missing(void) {
    static const char *vars[2] = {"tas", "pr"};
    for (int k = 0; k < 2; k++) {
        cz_dataset *ds = NULL;
        cz_field f = {0};
        if (fixture_load(tu_data("bcsd_obs_1999.nc"), vars[k], &ds, &f)) {
            size_t const nz = f.nt * f.nz, n = nz * f.ny * f.nx;
            size_t nm = 0;
            for (size_t i = 0; i < n; i++) nm += f.miss[i] != 0;
            CHECK_MSG(nm > n / 10 && nm < n / 2, "%s: %zu of %zu missing", vars[k], nm, n);
            double const R = fixture_value_range(f.values, f.miss, n);
            /* the values under the mask must not matter: poison them */
            for (size_t i = 0; i < n; i++)
                if (f.miss[i]) f.values[i] = (i & 1) ? NAN : 1e30f;
            char lab[64];
            for (int e = 0; e <= 4; e++) {
                double const E = e == 4 ? 0 : R * pow(10, -1 - e);
                snprintf(lab, sizeof lab, "bcsd %s E=%.0e R", vars[k], E / R);
                roundtrip(lab, f.values, f.miss, NULL, NULL, nz, f.ny, f.nx, E, NULL, NULL);
                static const int preds[3] = {RES_PRED_LORENZO, RES_PRED_LINEAR, RES_PRED_CUBIC};
                for (int p = 0; p < 3 && e == 2; p++) {
                    res_options opt = {0};
                    opt.predictor = (res_predictor)preds[p];
                    snprintf(lab, sizeof lab, "bcsd %s forced %d", vars[k], preds[p]);
                    roundtrip(lab, f.values, f.miss, NULL, NULL, nz, f.ny, f.nx, E, &opt, NULL);
                }
            }
            /* every point missing: a header only */
            uint8_t *all = malloc(n);
            memset(all, 1, n);
            cz_buf b = {0};
            size_t const sz = roundtrip("bcsd all missing", f.values, all, NULL, NULL, nz, f.ny, f.nx, 0.1, NULL, &b);
            CHECK(sz > 0 && sz < 16);
            free(all);
            cz_buf_free(&b);
        }
        io_field_free(&f);
        io_free(ds);
    }
}

/* ---- lossless: special values, every lossless payload, every domain ----------------------- */
static void test_lossless_specials(void) {
    size_t const nz = 3, ny = 17, nx = 29, n = nz * ny * nx;
    float *x = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    unsigned long long seed = 42;
    static const uint32_t special[] = {
        0x00000000u, 0x80000000u,             /* +0, -0 */
        0x00000001u, 0x807fffffu, 0x00400000u, /* denormals */
        0x7f7fffffu, 0xff7fffffu,             /* +-FLT_MAX */
        0x7f800000u, 0xff800000u,             /* +-inf */
        0x7fc00001u, 0xffbfffffu, 0x7f800001u, /* NaNs with payloads (quiet, signalling) */
        0x00800000u, 0x3f800000u, 0xbf800000u, /* FLT_MIN, 1, -1 */
    };
    size_t const ns = sizeof special / sizeof *special;
    for (size_t i = 0; i < n; i++) {
        uint64_t const r = tu_rand_u64(&seed);
        if (i < 4 * ns) x[i] = u2f(special[i % ns]);
        else if (r % 5 == 0) x[i] = u2f((uint32_t)(r >> 32)); /* any bit pattern */
        else x[i] = (float)(100.0 * sin((double)i * 0.01) + tu_rand_normal(&seed));
        ref[i] = x[i] + 0.5f;
    }
    static const int modes[3] = {0, RES_MODE_LOSSLESS, RES_MODE_ZSTD};
    char lab[64];
    for (int m = 0; m < 3; m++)
        for (int d = RES_DOM_AUTO; d <= RES_DOM_PREV; d++) {
            res_options opt = {0};
            opt.lossless_mode = modes[m];
            opt.domain = (res_domain)d;
            snprintf(lab, sizeof lab, "specials lossless mode %d dom %d", modes[m], d);
            roundtrip(lab, x, NULL, d == RES_DOM_PRED ? ref : NULL, d == RES_DOM_PREV ? ref : NULL, nz, ny, nx, 0,
                      &opt, NULL);
        }
    /* lossy with specials: the non-finite values and extremes are stored raw */
    roundtrip("specials E=0.01", x, NULL, NULL, NULL, nz, ny, nx, 0.01, NULL, NULL);
    roundtrip("specials E=1e30", x, NULL, NULL, NULL, nz, ny, nx, 1e30, NULL, NULL);
    static const int preds[4] = {RES_PRED_ZERO, RES_PRED_LORENZO, RES_PRED_LINEAR, RES_PRED_CUBIC};
    for (int p = 0; p < 4; p++) {
        res_options opt = {0};
        opt.predictor = (res_predictor)preds[p];
        snprintf(lab, sizeof lab, "specials lossy pred %d", preds[p]);
        roundtrip(lab, x, NULL, NULL, NULL, nz, ny, nx, 0.25, &opt, NULL);
    }
    /* -0.0 must survive the lossless path as -0.0 */
    {
        float z[4] = {-0.0f, 0.0f, -0.0f, -0.0f}, o[4];
        cz_buf b = {0};
        res_params const p = {0, 0};
        CHECK_OK(res_encode(z, NULL, NULL, NULL, 1, 1, 4, &p, &b, NULL));
        CHECK_OK(res_decode(b.data, b.size, NULL, NULL, NULL, 1, 1, 4, o));
        CHECK(f2u(o[0]) == 0x80000000u && f2u(o[1]) == 0 && f2u(o[3]) == 0x80000000u);
        cz_buf_free(&b);
    }
    free(x);
    free(ref);
}

/* ---- shapes, constant fields, every predictor and structure --------------------------- */
static void test_shapes(void) {
    static const size_t shapes[][3] = {{1, 1, 1},  {1, 1, 2},   {1, 1, 1000}, {1, 1000, 1}, {700, 1, 1},
                                       {5, 1, 200}, {5, 200, 1}, {1, 37, 45},  {3, 4, 5},    {9, 33, 17},
                                       {2, 65, 129}};
    unsigned long long seed = 7;
    char lab[96];
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t const nz = shapes[s][0], ny = shapes[s][1], nx = shapes[s][2], n = nz * ny * nx;
        float *x = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float)), *pr = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            size_t const k = i / (ny * nx), j = i / nx % ny, l = i % nx;
            x[i] = (float)(280 + 10 * sin(0.1 * (double)l) * cos(0.07 * (double)j) + 0.5 * (double)k +
                           0.3 * tu_rand_normal(&seed));
            c[i] = 273.15f;
            pr[i] = x[i] + (float)(0.2 * tu_rand_normal(&seed));
        }
        for (int p = RES_PRED_AUTO; p <= RES_PRED_CUBIC; p++)
            for (int o = 0; o <= 5; o++) {
                if (o && p != RES_PRED_LINEAR && p != RES_PRED_CUBIC) continue;
                res_options opt = {0};
                opt.predictor = (res_predictor)p;
                opt.order = o;
                snprintf(lab, sizeof lab, "shape %zux%zux%zu pred %d order %d", nz, ny, nx, p, o);
                roundtrip(lab, x, NULL, NULL, NULL, nz, ny, nx, 0.05, &opt, NULL);
                if (o == 0) {
                    opt.domain = RES_DOM_PRED;
                    roundtrip(lab, x, NULL, pr, NULL, nz, ny, nx, 0.05, &opt, NULL);
                }
            }
        snprintf(lab, sizeof lab, "shape %zux%zux%zu lossless", nz, ny, nx);
        roundtrip(lab, x, NULL, NULL, NULL, nz, ny, nx, 0, NULL, NULL);
        /* a constant field costs next to nothing and decodes within the bound */
        snprintf(lab, sizeof lab, "shape %zux%zux%zu constant", nz, ny, nx);
        size_t const sz = roundtrip(lab, c, NULL, NULL, NULL, nz, ny, nx, 1e-3, NULL, NULL);
        CHECK_MSG(sz <= 48 + n / 200, "%s: %zu bytes", lab, sz);
        size_t const szl = roundtrip(lab, c, NULL, NULL, NULL, nz, ny, nx, 0, NULL, NULL);
        CHECK_MSG(szl <= 64 + n / 100, "%s lossless: %zu bytes", lab, szl);
        free(x);
        free(c);
        free(pr);
    }
}

/* ---- sparse and patterned masks (one valid point, checkerboard, missing rows) ----------- */
static void test_masks(void) {
    size_t const nz = 3, ny = 20, nx = 33, n = nz * ny * nx;
    float *x = malloc(n * sizeof(float));
    uint8_t *m = malloc(n);
    unsigned long long seed = 5;
    for (size_t i = 0; i < n; i++) x[i] = (float)(10 * cos((double)i * 0.05) + tu_rand_normal(&seed));
    char lab[64];
    for (int pat = 0; pat < 3; pat++) {
        for (size_t i = 0; i < n; i++) {
            size_t const j = i / nx % ny, l = i % nx;
            m[i] = pat == 0 ? i != n / 2 : pat == 1 ? (j + l) % 2 : (j % 4 == 1 || l == 0);
        }
        for (int p = RES_PRED_AUTO; p <= RES_PRED_CUBIC; p++)
            for (int o = 0; o <= 5; o += 5) {
                res_options opt = {0};
                opt.predictor = (res_predictor)p;
                opt.order = (p == RES_PRED_LINEAR || p == RES_PRED_CUBIC) ? o : 0;
                snprintf(lab, sizeof lab, "mask %d pred %d order %d", pat, p, opt.order);
                roundtrip(lab, x, m, NULL, NULL, nz, ny, nx, 0.1, &opt, NULL);
            }
        snprintf(lab, sizeof lab, "mask %d lossless", pat);
        roundtrip(lab, x, m, NULL, NULL, nz, ny, nx, 0, NULL, NULL);
    }
    free(x);
    free(m);
}

/* ---- argument and stream errors ---------------------------------------------------------- */
static void test_errors(void) {
    float x[64], o[64];
    for (int i = 0; i < 64; i++) x[i] = (float)i * 0.25f;
    cz_buf b = {0};
    res_params p = {0.01, 0};
    CHECK_STATUS(res_encode(x, NULL, NULL, NULL, 0, 8, 8, &p, &b, NULL), CLIMZ_ERR_EMPTY);
    CHECK_STATUS(res_encode(x, NULL, NULL, NULL, 1, 0, 8, &p, &b, NULL), CLIMZ_ERR_EMPTY);
    CHECK_STATUS(res_encode(x, NULL, NULL, NULL, 1, 8, 0, &p, &b, NULL), CLIMZ_ERR_EMPTY);
    CHECK_STATUS(res_decode((const uint8_t *)"x", 1, NULL, NULL, NULL, 0, 8, 8, o), CLIMZ_ERR_EMPTY);
    CHECK(b.size == 0);
    CHECK_STATUS(res_encode(x, NULL, NULL, NULL, (size_t)1 << 40, (size_t)1 << 40, 8, &p, &b, NULL),
                 CLIMZ_ERR_DIMENSION);
    p.max_abs_error = -1;
    CHECK_STATUS(res_encode(x, NULL, NULL, NULL, 1, 8, 8, &p, &b, NULL), CLIMZ_ERR_INVALID_ARG);
    p.max_abs_error = NAN;
    CHECK_STATUS(res_encode(x, NULL, NULL, NULL, 1, 8, 8, &p, &b, NULL), CLIMZ_ERR_INVALID_ARG);
    p.max_abs_error = INFINITY;
    CHECK_STATUS(res_encode(x, NULL, NULL, NULL, 1, 8, 8, &p, &b, NULL), CLIMZ_ERR_INVALID_ARG);
    p.max_abs_error = 0.01;
    res_options opt = {0};
    opt.domain = RES_DOM_PRED; /* no pred given */
    CHECK_STATUS(res_encode_ex(x, NULL, NULL, NULL, 1, 8, 8, &p, &opt, &b, NULL), CLIMZ_ERR_INVALID_ARG);
    opt.domain = RES_DOM_PREV; /* prev given but temporal = 0 */
    CHECK_STATUS(res_encode_ex(x, NULL, NULL, x, 1, 8, 8, &p, &opt, &b, NULL), CLIMZ_ERR_INVALID_ARG);
    CHECK(b.size == 0);
    /* appends: whatever out held stays in front */
    CHECK_OK(cz_buf_put(&b, "abc", 3));
    CHECK_OK(res_encode(x, NULL, NULL, NULL, 1, 8, 8, &p, &b, NULL));
    CHECK(b.size > 3 && memcmp(b.data, "abc", 3) == 0);
    CHECK_OK(res_decode(b.data + 3, b.size - 3, NULL, NULL, NULL, 1, 8, 8, o));
    CHECK_STATUS(res_decode(b.data + 3, b.size - 3, NULL, NULL, NULL, 1, 4, 16, o), CLIMZ_ERR_DIMENSION);
    CHECK_STATUS(res_decode(b.data + 3, b.size - 3, NULL, NULL, NULL, 2, 8, 8, o), CLIMZ_ERR_DIMENSION);
    res_info info;
    CHECK_OK(res_stream_info(b.data + 3, b.size - 3, &info));
    CHECK(info.mode == RES_MODE_LOSSY && info.nz == 1 && info.ny == 8 && info.nx == 8);
    CHECK(info.step > 0.019f && info.step <= 0.02f);
    uint8_t bad[4] = {0x00, 0x11, 1, 1};
    CHECK_STATUS(res_decode(bad, 4, NULL, NULL, NULL, 1, 1, 1, o), CLIMZ_ERR_CORRUPT);
    bad[0] = 0xC7;
    bad[1] = 0xF1; /* version 15 */
    CHECK_STATUS(res_decode(bad, 4, NULL, NULL, NULL, 1, 1, 1, o), CLIMZ_ERR_VERSION);
    CHECK_STATUS(res_decode(bad, 0, NULL, NULL, NULL, 1, 1, 1, o), CLIMZ_ERR_TRUNCATED);
    cz_buf_free(&b);
}

/* ---- corrupt streams: truncations and byte flips never crash or over-read ------------------- */
static void fuzz_stream(const char *label, const cz_buf *s, const uint8_t *miss, const float *pred,
                        const float *prev, size_t nz, size_t ny, size_t nx, unsigned long long seed,
                        size_t min_detect) {
    size_t const n = nz * ny * nx;
    float *out = malloc(n * sizeof(float));
    size_t trunc_ok = 0;
    /* truncations: every length of the first 64 bytes and 200 more spread over the rest */
    for (size_t k = 0; k < 264 && k < s->size; k++) {
        size_t const len = k < 64 ? k : 64 + (s->size - 64) * (k - 64) / 200;
        uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
        memcpy(cut, s->data, len);
        climz_status const st = res_decode(cut, len, miss, pred, prev, nz, ny, nx, out);
        if (st == CLIMZ_OK) trunc_ok++;
        free(cut);
    }
    CHECK_MSG(trunc_ok == 0, "%s: %zu truncated streams decoded without error", label, trunc_ok);
    /* flips: 300 single-byte changes */
    uint8_t *cp = malloc(s->size);
    size_t nerr = 0;
    for (int k = 0; k < 300; k++) {
        memcpy(cp, s->data, s->size);
        size_t const pos = (size_t)(tu_rand_u64(&seed) % s->size);
        cp[pos] ^= (uint8_t)(1 + tu_rand_u64(&seed) % 255);
        climz_status const st = res_decode(cp, s->size, miss, pred, prev, nz, ny, nx, out);
        CHECK_MSG(st == CLIMZ_OK || st == CLIMZ_ERR_CORRUPT || st == CLIMZ_ERR_TRUNCATED || st == CLIMZ_ERR_VERSION ||
                      st == CLIMZ_ERR_DIMENSION || st == CLIMZ_ERR_INVALID_ARG,
                  "%s: flip at %zu gave %s", label, pos, climz_status_name(st));
        nerr += st != CLIMZ_OK;
    }
    /* lossy streams: the rANS states catch most flips (raw floats cannot be checked; the
     * container's CRC does that); lossless raw bits and zstd frames carry no check */
    if (min_detect) CHECK_MSG(nerr >= min_detect, "%s: only %zu of 300 flips detected", label, nerr);
    free(cp);
    free(out);
}

static void test_corrupt(void) {
    size_t const nz = 2, ny = 40, nx = 50, n = nz * ny * nx;
    float *x = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    uint8_t *miss = calloc(n, 1);
    unsigned long long seed = 99;
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(50 * sin((double)i * 0.003) + tu_rand_normal(&seed));
        ref[i] = x[i] * 0.9f;
        miss[i] = (i % 97) == 0;
    }
    x[77] = NAN; /* one raw value in the stream */
    static const struct { double E; int pred, dom, ll; } cases[] = {
        {0.05, RES_PRED_CUBIC, RES_DOM_X, 0},   {0.05, RES_PRED_LORENZO, RES_DOM_X, 0},
        {0.05, RES_PRED_ZERO, RES_DOM_PRED, 0}, {0.05, RES_PRED_LINEAR, RES_DOM_PREV, 0},
        {0, 0, RES_DOM_X, RES_MODE_LOSSLESS},   {0, 0, RES_DOM_PRED, RES_MODE_ZSTD},
    };
    char lab[64];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        res_options opt = {0};
        opt.predictor = (res_predictor)cases[c].pred;
        opt.domain = (res_domain)cases[c].dom;
        opt.lossless_mode = cases[c].ll;
        if (cases[c].pred == RES_PRED_CUBIC || cases[c].pred == RES_PRED_LINEAR) opt.order = 3;
        const float *pred = cases[c].dom == RES_DOM_PRED ? ref : NULL;
        const float *prev = cases[c].dom == RES_DOM_PREV ? ref : NULL;
        cz_buf s = {0};
        snprintf(lab, sizeof lab, "corrupt case %zu", c);
        if (roundtrip(lab, x, miss, pred, prev, nz, ny, nx, cases[c].E, &opt, &s))
            fuzz_stream(lab, &s, miss, pred, prev, nz, ny, nx, 1000 + c, cases[c].E > 0 ? 200 : 0);
        cz_buf_free(&s);
    }
    free(x);
    free(ref);
    free(miss);
}

/* ---- golden: the stream of a seeded synthetic field (any format change shows up here;
 * after an intended change, run with RES_GOLDEN_PRINT=1 and paste the new values) ------------ */
static void test_golden(void) {
    size_t const nz = 4, ny = 31, nx = 47, n = nz * ny * nx;
    float *x = malloc(n * sizeof(float));
    unsigned long long seed = 2024;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(15 * sin((double)(i % nx) * 0.2) * cos((double)(i / nx % ny) * 0.15) +
                       0.1 * (double)(i / (nx * ny)) + 0.05 * tu_rand_normal(&seed));
    static const double Es[3] = {0.1, 0.001, 0};
    static const uint32_t golden_crc[3] = {0x872a4c3cu, 0x77532376u, 0x5cfa6446u};
    static const size_t golden_size[3] = {1096, 5760, 15885};
    for (int e = 0; e < 3; e++) {
        cz_buf b = {0};
        res_params const p = {Es[e], 0};
        CHECK_OK(res_encode(x, NULL, NULL, NULL, nz, ny, nx, &p, &b, NULL));
        uint32_t const crc = cz_crc32c(0, b.data, b.size);
        if (getenv("RES_GOLDEN_PRINT")) printf("golden E=%g: size %zu crc 0x%08xu\n", Es[e], b.size, crc);
        else CHECK_MSG(crc == golden_crc[e] && b.size == golden_size[e],
                       "golden E=%g: size %zu crc 0x%08x, expected %zu 0x%08x", Es[e], b.size, crc,
                       golden_size[e], golden_crc[e]);
        cz_buf_free(&b);
    }
    free(x);
}

int main(void) {
    test_errors();
    test_shapes();
    test_masks();
    test_lossless_specials();
    test_corrupt();
    test_missing();
    test_more_data();
    test_hgt();
    test_golden();
    return tu_finish();
}
