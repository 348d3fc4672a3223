/* test_inr.c — the CA-INR codec core (src/inr):
 *  - portable math: inr_det_sin/cos against libm, the GELU table against erf;
 *  - weight quantisation: within half a step per weight, |q| <= 2^(b-1) - 1, b = 2..16;
 *  - context helpers: inr_context_scale golden values, inr_climatology with missing points;
 *  - a real fit: one month of data/tas_rectilinear_grid_2D.nc subsampled to 24 x 48 lowers
 *    the MSE by FIT_FACTOR against the field's variance (SIREN and RESGELU, with contexts);
 *  - the stream: encode -> decode equals the encoder's `decoded` bit for bit with 1 and 2
 *    threads, inr_decode_times gives the same slices, stream info, targets (ratio, PSNR with
 *    early stopping), missing points excluded from the fit;
 *  - a golden stream (below) decodes to a stored CRC-32C on every machine (the decoder is
 *    portable); INR_PRINT_GOLDEN=1 prints a fresh one when the format changes;
 *  - bad input: truncation at every length, every single-byte flip, random payload damage
 *    with a repaired CRC (must never crash; run under ASan), wrong number / names / values
 *    of contexts, wrong dims and grid. */
#include "inr/inr.h"
#include "inr/inr_internal.h"
#include "io/dataset.h"
#include "metrics/metrics.h"

#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIT_FACTOR 100.0 /* MSE reduction of the SIREN fit (measured: 459x; RESGELU 43x vs 30) */

/* ---- helpers --------------------------------------------------------------------------- */

/* One month (t0) of a (lat, lon) field, every 4th row and column: 24 x 48 from 96 x 192. */
static void subsample(const cz_field *src, size_t t0, size_t nt, cz_field *dst) {
    size_t const ny = src->ny / 4, nx = src->nx / 4;
    memset(dst, 0, sizeof *dst);
    dst->nt = nt, dst->nz = 1, dst->ny = ny, dst->nx = nx;
    dst->values = calloc(nt * ny * nx, sizeof(float));
    dst->miss = calloc(nt * ny * nx, 1);
    dst->lat = calloc(ny, sizeof(double));
    dst->lon = calloc(nx, sizeof(double));
    for (size_t t = 0; t < nt; t++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                size_t const s = ((t0 + t) * src->ny + 4 * y) * src->nx + 4 * x;
                dst->values[(t * ny + y) * nx + x] = src->values[s];
                dst->miss[(t * ny + y) * nx + x] = src->miss ? src->miss[s] : 0;
            }
    for (size_t y = 0; y < ny; y++) dst->lat[y] = src->lat ? src->lat[4 * y] : 0;
    for (size_t x = 0; x < nx; x++) dst->lon[x] = src->lon ? src->lon[4 * x] : 0;
}

static int load_var(const char *file, const char *var, cz_field *f) {
    cz_dataset *ds = NULL;
    if (io_open(tu_data(file), &ds) != CLIMZ_OK) return 0;
    int const v = io_find_var(ds, var);
    int const ok = v >= 0 && io_load_field(ds, v, f) == CLIMZ_OK;
    io_free(ds);
    return ok;
}

static double mse_valid(const cz_field *f, const float *dec, double *var) {
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    double s = 0, ss = 0, e = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (f->miss && f->miss[i]) continue;
        s += f->values[i], ss += (double)f->values[i] * f->values[i], k++;
        double const d = (double)dec[i] - f->values[i];
        e += d * d;
    }
    *var = ss / k - (s / k) * (s / k);
    return e / k;
}

static void small_config(inr_config *c) {
    inr_config_default(c);
    c->width = 32;
    c->depth = 3;
    c->iters = 300;
    c->batch = 512;
    c->qat_iters = 60;
    c->seed = 7;
}

/* ---- portable math --------------------------------------------------------------------- */

static void test_det_math(void) {
    double md = 0;
    for (int i = -20000; i <= 20000; i++) {
        double const x = i * 0.0123457;
        double const ds = fabs(inr_det_sin(x) - sin(x)), dc = fabs(inr_det_cos(x) - cos(x));
        md = ds > md ? ds : md;
        md = dc > md ? dc : md;
    }
    CHECK_MSG(md < 2e-15, "det sin/cos differ from libm by %g", md);
    CHECK(isnan(inr_det_sin(NAN)) && isnan(inr_det_cos(INFINITY)));
    CHECK_NEAR(inr_det_sin(1e7), sin(fmod(1e7, 6.28318530717958647693)), 1e-9); /* reduced by fmod */
    float xs[4001], sv[4001], cv[4001];
    for (int i = 0; i <= 4000; i++) xs[i] = (float)(i - 2000) * 0.0173f;
    inr_sincos_f32(sv, cv, xs, 30.0f, 4001); /* arguments up to +-1038 */
    double mf = 0;
    for (int i = 0; i <= 4000; i++) {
        double const a = (double)(30.0f * xs[i]);
        double const d = fmax(fabs(sv[i] - sin(a)), fabs(cv[i] - cos(a)));
        mf = d > mf ? d : mf;
    }
    CHECK_MSG(mf < 5e-7, "float sin/cos differ from libm by %g", mf);
    CHECK_NEAR(inr_det_normal_inv(0.5), 0.0, 1e-12);
    CHECK_NEAR(inr_det_normal_inv(0.975), 1.959963984540054, 1e-9);
}

/* ---- quantisation ---------------------------------------------------------------------- */

static void test_quantize(void) {
    unsigned long long rs = 42;
    enum { N = 4096 };
    float w[N];
    int32_t q[N];
    for (int i = 0; i < N; i++) w[i] = (float)(tu_rand_normal(&rs) * 0.3);
    w[17] = -2.5f; /* the max-abs weight */
    for (int b = INR_BITS_MIN; b <= INR_BITS_MAX; b++) {
        float const step = inr_quantize(q, w, N, b);
        int32_t const qmax = (1 << (b - 1)) - 1;
        CHECK_NEAR(step, 2.5f / (float)qmax, 1e-6 * step);
        int bad = 0, range = 0;
        for (int i = 0; i < N; i++) {
            float const back = (float)q[i] * step;
            /* half a step, plus the float rounding of w / step and q * step (an ulp or two) */
            if (!(fabsf(w[i] - back) <= 0.5f * step + 2.0f * FLT_EPSILON * fabsf(w[i]))) bad++;
            if (q[i] > qmax || q[i] < -qmax) range++;
        }
        CHECK_MSG(bad == 0, "b=%d: %d weights off by more than half a step", b, bad);
        CHECK_MSG(range == 0, "b=%d: %d values outside +-%d", b, range, qmax);
        CHECK(q[17] == -qmax);
    }
    float z[8] = {0};
    int32_t qz[8];
    CHECK(inr_quantize(qz, z, 8, 6) == 0.0f);
    CHECK(qz[3] == 0);
}

/* ---- context helpers ------------------------------------------------------------------- */

static void test_context_helpers(void) {
    float const src[6] = {2.0f, 4.0f, 3.0f, NAN, 100.0f, 6.0f};
    uint8_t const miss[6] = {0, 0, 0, 0, 1, 0};
    float dst[6];
    CHECK_OK(inr_context_scale(dst, src, miss, 6));
    CHECK(dst[0] == -1.0f && dst[1] == 0.0f && dst[2] == -0.5f && dst[3] == 0.0f &&
          dst[4] == 0.0f && dst[5] == 1.0f);
    float const cst[3] = {5, 5, 5};
    CHECK_OK(inr_context_scale(dst, cst, NULL, 3));
    CHECK(dst[0] == 0.0f && dst[2] == 0.0f);
    CHECK_STATUS(inr_context_scale(NULL, cst, NULL, 3), CLIMZ_ERR_INVALID_ARG);

    /* climatology: (nt 3, nz 1, 1 x 3); point 1 missing at t=1, point 2 missing always */
    float v[9] = {1, 10, 0, 3, 99, 0, 5, 20, 0};
    uint8_t m[9] = {0, 0, 1, 0, 1, 1, 0, 0, 1};
    cz_field f = {3, 1, 1, 3, v, m, NULL, NULL, NULL};
    float clim[3];
    CHECK_OK(inr_climatology(&f, clim));
    CHECK(clim[0] == 3.0f && clim[1] == 15.0f && clim[2] == 9.0f);
}

/* ---- fit, stream, determinism ----------------------------------------------------------- */

typedef struct fixture {
    cz_field tas1;            /* one month, 24 x 48 */
    cz_field tas2;            /* two months, for per-time contexts and random access */
    cz_field orog, sftlf;     /* 24 x 48 */
    float *clim2;             /* climatology of tas2 (1 x 24 x 48) */
} fixture;

static void fit_and_check(const char *what, const cz_field *f, const inr_context *ctx, int nctx,
                          const inr_config *cfg, double factor, cz_buf *out, float **dec_out) {
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    float *dec = malloc(n * sizeof *dec);
    inr_stats s;
    out->size = 0;
    CHECK_OK(inr_encode(f, ctx, nctx, cfg, NULL, NULL, out, dec, &s));
    double var;
    double const mse = mse_valid(f, dec, &var);
    printf("%-28s params %5zu bits %2d bytes %5zu  psnr %.2f dB  MSE/var = 1/%.0f  (%.2f s)\n", what,
           s.n_params, s.bits, s.stream_bytes, s.psnr, var / mse, s.total_s);
    CHECK_MSG(mse * factor <= var, "%s: MSE %g is not %g times below the variance %g", what, mse,
              factor, var);
    CHECK(s.stream_bytes == out->size);
    /* decoder == encoder's reconstruction, bit for bit, on 1 and 2 threads */
    float *d2 = malloc(n * sizeof *d2);
    int const th = cz_num_threads();
    for (int t = 1; t <= 2; t++) {
        cz_set_num_threads(t);
        memset(d2, 0xff, n * sizeof *d2);
        CHECK_OK(inr_decode(out->data, out->size, ctx, nctx, f->nt, f->nz, f->ny, f->nx, f->lat,
                            f->lon, d2));
        CHECK_MSG(memcmp(dec, d2, n * sizeof *d2) == 0, "%s: decode on %d thread(s) differs", what, t);
    }
    cz_set_num_threads(th);
    free(d2);
    if (dec_out) *dec_out = dec;
    else free(dec);
}

static void test_fit(const fixture *fx) {
    inr_config c;
    cz_buf out = {0};
    small_config(&c);
    fit_and_check("SIREN, no context", &fx->tas1, NULL, 0, &c, FIT_FACTOR, &out, NULL);
    /* reproducible: the same seed and thread count give the same bytes */
    cz_buf again = {0};
    CHECK_OK(inr_encode(&fx->tas1, NULL, 0, &c, NULL, NULL, &again, NULL, NULL));
    CHECK(again.size == out.size && memcmp(again.data, out.data, out.size) == 0);
    cz_buf_free(&again);

    /* RESGELU with Fourier features, orog + sftlf, encoded with 2 threads */
    int const th = cz_num_threads();
    cz_set_num_threads(2);
    inr_context const ctx[2] = {{fx->orog.values, 0, 0, "orog"}, {fx->sftlf.values, 0, 0, "sftlf"}};
    inr_config r = c;
    r.arch = INR_RESGELU, r.n_fourier = 8, r.fourier_sigma = 1.0f, r.depth = 2, r.width = 24;
    r.iters = 200, r.qat_iters = 40;
    fit_and_check("RESGELU + Fourier, 2 ctx", &fx->tas1, ctx, 2, &r, 30.0, &out, NULL);
    cz_set_num_threads(th);
    cz_buf_free(&out);
}

/* Random access: inr_decode_times equals the slices of the full decode; per-time and
 * per-level contexts; stream info. */
static void test_stream_features(const fixture *fx) {
    cz_field const *f = &fx->tas2;
    size_t const vol = f->ny * f->nx, n = f->nt * vol;
    float *pt = malloc(n * sizeof *pt); /* a per-time context: the field itself, shifted */
    for (size_t i = 0; i < n; i++) pt[i] = f->values[(i + 7) % n];
    inr_context const ctx[3] = {{fx->orog.values, 0, 0, "orog"},
                                {fx->clim2, 0, 1, "clim"},
                                {pt, 1, 0, "shifted"}};
    inr_config c;
    small_config(&c);
    c.iters = 150, c.qat_iters = 0, c.weight_bits = 9;
    cz_buf out = {0};
    float *dec = NULL;
    fit_and_check("SIREN, 3 ctx, 2 steps", f, ctx, 3, &c, 30.0, &out, &dec);
    float *slice = malloc(vol * sizeof *slice);
    for (size_t t = 0; t < f->nt; t++) {
        CHECK_OK(inr_decode_times(out.data, out.size, ctx, 3, f->nt, f->nz, f->ny, f->nx, f->lat,
                                  f->lon, t, 1, slice));
        CHECK(memcmp(slice, dec + t * vol, vol * sizeof *slice) == 0);
    }
    CHECK_STATUS(inr_decode_times(out.data, out.size, ctx, 3, f->nt, f->nz, f->ny, f->nx, f->lat,
                                  f->lon, 1, 2, slice), CLIMZ_ERR_INVALID_ARG);
    inr_info info;
    CHECK_OK(inr_stream_info(out.data, out.size, &info));
    CHECK(info.arch == INR_SIREN && info.width == 32 && info.depth == 3 && info.bits == 9);
    CHECK(info.nctx == 3 && !strcmp(info.ctx_name[1], "clim") && info.ctx_per_level[1] == 1 &&
          info.ctx_per_time[2] == 1 && info.ctx_per_time[0] == 0);
    CHECK(info.nt == 2 && info.ny == 24 && info.nx == 48 && info.n_params > 0);

    /* refused decodes */
    float *d2 = malloc(n * sizeof *d2);
    CHECK_STATUS(inr_decode(out.data, out.size, ctx, 2, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d2),
                 CLIMZ_ERR_MODEL_MISMATCH);
    CHECK_STATUS(inr_decode(out.data, out.size, NULL, 0, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d2),
                 CLIMZ_ERR_MODEL_MISMATCH);
    inr_context bad[3] = {ctx[0], ctx[1], ctx[2]};
    bad[1].name = "climatology";
    CHECK_STATUS(inr_decode(out.data, out.size, bad, 3, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d2),
                 CLIMZ_ERR_MODEL_MISMATCH);
    bad[1] = ctx[1], bad[1].per_level = 0;
    CHECK_STATUS(inr_decode(out.data, out.size, bad, 3, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d2),
                 CLIMZ_ERR_MODEL_MISMATCH);
    bad[1] = ctx[1];
    pt[100] += 1.0f; /* other context values */
    CHECK_STATUS(inr_decode(out.data, out.size, ctx, 3, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d2),
                 CLIMZ_ERR_MODEL_MISMATCH);
    pt[100] -= 1.0f;
    CHECK_STATUS(inr_decode(out.data, out.size, ctx, 3, f->nt, f->nz, f->ny, f->nx - 1, f->lat, f->lon, d2),
                 CLIMZ_ERR_DIMENSION);
    CHECK_STATUS(inr_decode(out.data, out.size, ctx, 3, f->nt, f->nz, f->ny, f->nx, NULL, f->lon, d2),
                 CLIMZ_ERR_MODEL_MISMATCH);
    CHECK_OK(inr_decode(out.data, out.size, ctx, 3, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d2));
    CHECK(memcmp(d2, dec, n * sizeof *d2) == 0);
    free(d2), free(slice), free(dec), free(pt);
    cz_buf_free(&out);
}

/* Targets: a size target is met; a PSNR target stops the fit early and is met; missing points
 * are excluded (their absurd values do not spoil the fit). */
static void test_targets(const fixture *fx) {
    cz_field const *f = &fx->tas1;
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    inr_config c;
    inr_stats s;
    cz_buf out = {0};
    small_config(&c);
    c.target_ratio = 12.0;
    c.width = 0; /* chosen from the ratio */
    CHECK_OK(inr_encode(f, NULL, 0, &c, NULL, NULL, &out, NULL, &s));
    printf("ratio target 12: width %d bits %d bytes %zu (<= %.0f) psnr %.2f met %d\n", s.width,
           s.bits, out.size, 4.0 * n / 12.0, s.psnr, s.target_met);
    CHECK(s.target_met == 1 && (double)out.size <= 4.0 * n / 12.0);

    small_config(&c);
    c.iters = 2000, c.target_psnr = 30.0;
    out.size = 0;
    CHECK_OK(inr_encode(f, NULL, 0, &c, NULL, NULL, &out, NULL, &s));
    printf("PSNR target 30: stopped after %d of %d steps, bits %d psnr %.2f met %d\n", s.iters_run,
           c.iters, s.bits, s.psnr, s.target_met);
    CHECK(s.iters_run < c.iters);
    CHECK(s.target_met == 1 && s.psnr >= 30.0);

    /* missing points: 10 % of the points set to 1e6 and marked missing */
    cz_field g = *f;
    g.values = malloc(n * sizeof *g.values);
    g.miss = calloc(n, 1);
    memcpy(g.values, f->values, n * sizeof *g.values);
    for (size_t i = 0; i < n; i += 10) g.values[i] = 1e6f, g.miss[i] = 1;
    small_config(&c);
    out.size = 0;
    float *dec = malloc(n * sizeof *dec);
    CHECK_OK(inr_encode(&g, NULL, 0, &c, NULL, NULL, &out, dec, &s));
    double var;
    double const mse = mse_valid(&g, dec, &var);
    CHECK_MSG(mse * FIT_FACTOR / 2 <= var, "missing points: MSE %g vs variance %g", mse, var);
    for (size_t i = 0; i < n; i += 10) g.miss[i] = 2;
    g.miss[0] = 0; /* a valid non-finite value is refused */
    g.values[0] = NAN;
    CHECK_STATUS(inr_encode(&g, NULL, 0, &c, NULL, NULL, &out, NULL, NULL), CLIMZ_ERR_INVALID_ARG);
    for (size_t i = 0; i < n; i++) g.miss[i] = 1;
    CHECK_STATUS(inr_encode(&g, NULL, 0, &c, NULL, NULL, &out, NULL, NULL), CLIMZ_ERR_EMPTY);
    free(g.values), free(g.miss), free(dec);

    /* bad configurations */
    small_config(&c);
    c.arch = 9;
    CHECK_STATUS(inr_encode(f, NULL, 0, &c, NULL, NULL, &out, NULL, NULL), CLIMZ_ERR_INVALID_ARG);
    small_config(&c);
    c.weight_bits = 17;
    CHECK_STATUS(inr_encode(f, NULL, 0, &c, NULL, NULL, &out, NULL, NULL), CLIMZ_ERR_INVALID_ARG);
    small_config(&c);
    CHECK_STATUS(inr_encode(f, NULL, 2, &c, NULL, NULL, &out, NULL, NULL), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(inr_encode(f, NULL, INR_MAX_CTX + 1, &c, NULL, NULL, &out, NULL, NULL),
                 CLIMZ_ERR_INVALID_ARG);
    cz_buf_free(&out);
}

/* ---- golden stream ----------------------------------------------------------------------- */

/* A synthetic field (1 x 1 x 8 x 16), RESGELU width 8, depth 1, 4 Fourier features, made by
 * make_golden(). Its decode must give GOLDEN_CRC on every machine and thread count. */
static const uint8_t golden[] = {
#include "golden_stream.inc"
};
#define GOLDEN_CRC 0x9557207fu /* from INR_PRINT_GOLDEN=1 */

static void synthetic(cz_field *f) {
    static float v[8 * 16];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 16; x++) v[y * 16 + x] = (float)(280.0 + 20.0 * sin(y * 0.4) * cos(x * 0.3));
    memset(f, 0, sizeof *f);
    f->nt = 1, f->nz = 1, f->ny = 8, f->nx = 16, f->values = v;
}

static uint32_t crc_floats(const float *v, size_t n) {
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b[4];
        uint32_t u;
        memcpy(&u, &v[i], 4);
        cz_store_le32(b, u);
        crc = cz_crc32c(crc, b, 4);
    }
    return crc;
}

static void test_golden(void) {
    cz_field f;
    synthetic(&f);
    float dec[8 * 16];
    if (getenv("INR_PRINT_GOLDEN")) {
        inr_config c;
        inr_config_default(&c);
        c.arch = INR_RESGELU, c.width = 8, c.depth = 1, c.n_fourier = 4, c.iters = 200;
        c.batch = 128, c.weight_bits = 8, c.qat_iters = 0;
        cz_buf out = {0};
        CHECK_OK(inr_encode(&f, NULL, 0, &c, NULL, NULL, &out, dec, NULL));
        for (size_t i = 0; i < out.size; i++) printf("0x%02x,%s", out.data[i], i % 16 == 15 ? "\n" : " ");
        printf("\nGOLDEN_CRC 0x%08xu\n", crc_floats(dec, 8 * 16));
        cz_buf_free(&out);
        return;
    }
    for (int t = 1; t <= 2; t++) {
        int const th = cz_num_threads();
        cz_set_num_threads(t);
        CHECK_OK(inr_decode(golden, sizeof golden, NULL, 0, 1, 1, 8, 16, NULL, NULL, dec));
        cz_set_num_threads(th);
        CHECK_MSG(crc_floats(dec, 8 * 16) == GOLDEN_CRC, "golden stream decodes to CRC %08x, not %08x",
                  crc_floats(dec, 8 * 16), GOLDEN_CRC);
    }
}

/* ---- corrupt streams ------------------------------------------------------------------------ */

static void test_corrupt(const fixture *fx) {
    cz_field const *f = &fx->tas1;
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    inr_context const ctx[1] = {{fx->sftlf.values, 0, 0, "sftlf"}};
    inr_config c;
    small_config(&c);
    c.iters = 60, c.qat_iters = 0, c.width = 12;
    cz_buf out = {0};
    CHECK_OK(inr_encode(f, ctx, 1, &c, NULL, NULL, &out, NULL, NULL));
    float *d = malloc(n * sizeof *d);
    uint8_t *buf = malloc(out.size);
    /* every truncation: TRUNCATED or CORRUPT */
    int bad = 0;
    for (size_t len = 0; len < out.size; len++) {
        memcpy(buf, out.data, len);
        climz_status const st = inr_decode(buf, len, ctx, 1, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d);
        if (st != CLIMZ_ERR_TRUNCATED && st != CLIMZ_ERR_CORRUPT) bad++;
    }
    CHECK_MSG(bad == 0, "%d truncations not reported as TRUNCATED/CORRUPT", bad);
    /* every single-byte flip: an error (the CRC covers every byte) */
    bad = 0;
    for (size_t i = 0; i < out.size; i++) {
        memcpy(buf, out.data, out.size);
        buf[i] ^= (uint8_t)(1u << (i % 8));
        climz_status const st = inr_decode(buf, out.size, ctx, 1, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d);
        if (st == CLIMZ_OK) bad++;
    }
    CHECK_MSG(bad == 0, "%d byte flips decoded without error", bad);
    /* damage behind a repaired CRC: any status, but never a crash or an out-of-range read */
    unsigned long long rs = 99;
    int ok = 0, errs = 0;
    for (int k = 0; k < 400; k++) {
        memcpy(buf, out.data, out.size);
        int const nflip = 1 + (int)(tu_rand_u64(&rs) % 4);
        for (int j = 0; j < nflip; j++) {
            size_t const pos = (size_t)(tu_rand_u64(&rs) % (out.size - 4));
            buf[pos] = (uint8_t)tu_rand_u64(&rs);
        }
        cz_store_le32(buf + out.size - 4, cz_crc32c(0, buf, out.size - 4));
        climz_status const st = inr_decode(buf, out.size, ctx, 1, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d);
        if (st == CLIMZ_OK) ok++;
        else errs++;
    }
    printf("damage with repaired CRC: %d decoded, %d refused\n", ok, errs);
    CHECK(errs > 0);
    CHECK_STATUS(inr_decode(NULL, 0, ctx, 1, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d),
                 CLIMZ_ERR_TRUNCATED);
    inr_info info;
    memcpy(buf, out.data, out.size);
    buf[4] = INR_VERSION + 1;
    CHECK_STATUS(inr_stream_info(buf, out.size, &info), CLIMZ_ERR_VERSION);
    free(d), free(buf);
    cz_buf_free(&out);
}

int main(void) {
    test_det_math();
    test_quantize();
    test_context_helpers();
    test_golden();
    if (getenv("INR_PRINT_GOLDEN")) return tu_finish();

    cz_field tas = {0}, orog = {0}, sftlf = {0};
    if (!load_var("tas_rectilinear_grid_2D.nc", "tas", &tas) ||
        !load_var("orog_mod1_rectilinear_grid_2D.nc", "orog", &orog) ||
        !load_var("sftlf_mod1_rectilinear_grid_2D.nc", "sftlf", &sftlf)) {
        CHECK_MSG(0, "cannot read the bundled samples: %s", cz_error_message());
        return tu_finish();
    }
    fixture fx;
    subsample(&tas, 0, 1, &fx.tas1);
    subsample(&tas, 0, 2, &fx.tas2);
    subsample(&orog, 0, 1, &fx.orog);
    subsample(&sftlf, 0, 1, &fx.sftlf);
    fx.clim2 = malloc(fx.tas2.ny * fx.tas2.nx * sizeof(float));
    CHECK_OK(inr_climatology(&fx.tas2, fx.clim2));

    test_fit(&fx);
    test_stream_features(&fx);
    test_targets(&fx);
    test_corrupt(&fx);

    io_field_free(&tas), io_field_free(&orog), io_field_free(&sftlf);
    io_field_free(&fx.tas1), io_field_free(&fx.tas2), io_field_free(&fx.orog), io_field_free(&fx.sftlf);
    free(fx.clim2);
    return tu_finish();
}
