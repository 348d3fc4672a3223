/*
 * bench_forecast.c — the downstream forecasting experiment of issue 21, one training set at a
 * time: trains the forecaster of forecaster.h on a (possibly decoded) training series with
 * several seeds and reports the latitude-weighted RMSE of its 24 h roll-outs against the
 * ORIGINAL test series. bench/downstream/run.sh drives it over every training set.
 *
 *   bench_forecast --ref SRC --test SRC [--train SRC] [--label L] [--seeds N] [--seed0 S]
 *                  [--steps N] [--batch B] [--hidden H] [--radius R] [--hour0 H]
 *   bench_forecast --ref SRC --train SRC --rmse-only     the decoded training set's error
 *   bench_forecast --dump SRC -o OUT.f32                 raw float32 (C order) for zfp
 *
 * SRC is FILE[:VAR][@A:B] (any file climz reads; VAR default the first gridded variable;
 * time steps A..B, 0-based inclusive, default all) or raw:PATH, float32 in the shape of --ref.
 * --train defaults to --ref (the original). Step 0 of FILE is at hour --hour0 UTC (default 0;
 * the shared ERA5 file starts at 00 UTC). Rows are latitudes; the weights are cos(latitude)
 * of --ref (of --test when it has none, all 1 when neither has latitudes).
 *
 * Output, tab-separated lines on stdout (run.sh's make_report.py reads them):
 *   train_rmse LABEL RMSE LAT_RMSE RANGE       decoded training data against --ref
 *   persistence LEAD RMSE                      forecast = the start field
 *   loss LABEL SEED FIRST LAST SECONDS         mean training loss of the first / last 10 %
 *   rmse LABEL SEED LEAD RMSE                  the forecaster's roll-out against --test
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cz_common.h"
#include "forecaster.h"
#include "io/dataset.h"
#include "nn/nn.h"

static const int k_leads[] = {1, 3, 6, 12, 24};
#define NLEAD (sizeof k_leads / sizeof k_leads[0])

typedef struct series {
    float *x;
    double *lat;
    size_t nt, ny, nx;
    int hour0;
} series;

static void series_free(series *s) {
    free(s->x), free(s->lat);
    memset(s, 0, sizeof *s);
}

static int usage(void) {
    fprintf(stderr,
            "usage: bench_forecast --ref SRC --test SRC [--train SRC] [--label L] [--seeds N]\n"
            "                      [--seed0 S] [--steps N] [--batch B] [--hidden H] [--radius R]\n"
            "                      [--hour0 H]\n"
            "       bench_forecast --ref SRC --train SRC --rmse-only\n"
            "       bench_forecast --dump SRC -o OUT.f32\n"
            "  SRC: FILE[:VAR][@A:B] (steps A..B inclusive) or raw:PATH (float32, shape of --ref)\n");
    return 2;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* raw:PATH, nt * ny * nx float32 values (shape from `like`) */
static climz_status load_raw(const char *path, const series *like, series *s) {
    FILE *f = fopen(path, "rb");
    CZ_RETURN_IF(!f, CLIMZ_ERR_IO, "%s: cannot open", path);
    size_t const n = like->nt * like->ny * like->nx;
    memset(s, 0, sizeof *s);
    s->x = cz_malloc(n * sizeof(float));
    if (!s->x) {
        fclose(f);
        return cz_error(CLIMZ_ERR_ALLOC, "%s: out of memory", path);
    }
    size_t const got = fread(s->x, sizeof(float), n, f);
    int const extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) {
        series_free(s);
        return cz_error(CLIMZ_ERR_DIMENSION, "%s: expected exactly %zu float32 values (%zu x %zu x %zu)",
                        path, n, like->nt, like->ny, like->nx);
    }
    s->nt = like->nt, s->ny = like->ny, s->nx = like->nx, s->hour0 = like->hour0;
    return CLIMZ_OK;
}

/* FILE[:VAR][@A:B] through the io module (the reader of `climz compress`) */
static climz_status load_spec(const char *spec, int hour0, const series *like, series *s) {
    if (strncmp(spec, "raw:", 4) == 0) {
        CZ_RETURN_IF(!like, CLIMZ_ERR_INVALID_ARG, "%s: raw input needs --ref for its shape", spec);
        return load_raw(spec + 4, like, s);
    }
    char path[4096];
    CZ_RETURN_IF(strlen(spec) >= sizeof path, CLIMZ_ERR_INVALID_ARG, "source name too long");
    strcpy(path, spec);
    long a = 0, b = -1;
    char *at = strrchr(path, '@');
    if (at) {
        char *end = NULL;
        *at = '\0';
        a = strtol(at + 1, &end, 10);
        CZ_RETURN_IF(*end != ':', CLIMZ_ERR_INVALID_ARG, "%s: time range is not A:B", spec);
        b = strtol(end + 1, &end, 10);
        CZ_RETURN_IF(*end != '\0' || a < 0 || b < a, CLIMZ_ERR_INVALID_ARG,
                     "%s: time range is not A:B with 0 <= A <= B", spec);
    }
    char *colon = strrchr(path, ':');
    const char *var = NULL;
    if (colon && colon > strrchr(path, '/')) *colon = '\0', var = colon + 1;

    cz_dataset *ds = NULL;
    CZ_FORWARD(io_open(path, &ds));
    int vi = -1;
    if (var) vi = io_find_var(ds, var);
    else
        for (int i = 0; i < ds->nvars && vi < 0; i++)
            if (ds->vars[i].is_grid) vi = i;
    if (vi < 0) {
        io_free(ds);
        return cz_error(CLIMZ_ERR_NOT_FOUND, "%s: no variable %s", path, var ? var : "(gridded)");
    }
    size_t nt, nz, ny, nx;
    climz_status st = io_field_shape(ds, vi, &nt, &nz, &ny, &nx);
    if (st == CLIMZ_OK && nz != 1)
        st = cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: %zu levels; the forecaster takes one", path, nz);
    if (st == CLIMZ_OK && b >= (long)nt)
        st = cz_error(CLIMZ_ERR_INVALID_ARG, "%s: steps %ld:%ld outside its %zu steps", path, a, b, nt);
    cz_field f = {0};
    if (st == CLIMZ_OK)
        st = io_load_field_times(ds, vi, (size_t)a, b < 0 ? nt : (size_t)(b - a + 1), &f);
    io_free(ds);
    CZ_FORWARD(st);
    for (size_t i = 0; i < f.nt * f.ny * f.nx; i++)
        if (f.miss[i]) {
            io_field_free(&f);
            return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: has missing values; the forecaster needs none", path);
        }
    memset(s, 0, sizeof *s);
    s->x = f.values, s->lat = f.lat;
    f.values = NULL, f.lat = NULL;
    s->nt = f.nt, s->ny = f.ny, s->nx = f.nx;
    s->hour0 = (int)((hour0 + a) % 24);
    io_field_free(&f);
    return CLIMZ_OK;
}

/* RMSE, latitude-weighted RMSE and the range of ref */
static void train_error(const series *ref, const series *s, const float *w, double out[3]) {
    size_t const plane = ref->ny * ref->nx, n = ref->nt * plane;
    double se = 0.0, wse = 0.0, wsum = 0.0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double const e = (double)s->x[i] - ref->x[i];
        double const wi = w[(i % plane) / ref->nx];
        se += e * e, wse += wi * e * e, wsum += wi;
        lo = ref->x[i] < lo ? ref->x[i] : lo;
        hi = ref->x[i] > hi ? ref->x[i] : hi;
    }
    out[0] = sqrt(se / (double)n), out[1] = sqrt(wse / wsum), out[2] = hi - lo;
}

static int fail(climz_status st) {
    fprintf(stderr, "bench_forecast: %s\n", cz_error_message()[0] ? cz_error_message() : climz_status_name(st));
    return 1;
}

static int dump(const char *spec, const char *out, int hour0) {
    series s;
    climz_status const st = load_spec(spec, hour0, NULL, &s);
    if (st != CLIMZ_OK) return fail(st);
    FILE *f = fopen(out, "wb");
    size_t const n = s.nt * s.ny * s.nx;
    int ok = f && fwrite(s.x, sizeof(float), n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "bench_forecast: %s: cannot write\n", out);
        remove(out);
    } else {
        fprintf(stderr, "%s: %zu x %zu x %zu float32 -> %s\n", spec, s.nt, s.ny, s.nx, out);
    }
    series_free(&s);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    const char *ref_spec = NULL, *test_spec = NULL, *train_spec = NULL, *label = "original";
    const char *dump_spec = NULL, *out = NULL;
    int seeds = 3, seed0 = 1, hour0 = 0, rmse_only = 0;
    fc_config cfg = fc_config_default();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--rmse-only") == 0) { rmse_only = 1; continue; }
        if (!v) return usage();
        i++;
        if (strcmp(a, "--ref") == 0) ref_spec = v;
        else if (strcmp(a, "--test") == 0) test_spec = v;
        else if (strcmp(a, "--train") == 0) train_spec = v;
        else if (strcmp(a, "--label") == 0) label = v;
        else if (strcmp(a, "--dump") == 0) dump_spec = v;
        else if (strcmp(a, "-o") == 0) out = v;
        else if (strcmp(a, "--seeds") == 0) seeds = atoi(v);
        else if (strcmp(a, "--seed0") == 0) seed0 = atoi(v);
        else if (strcmp(a, "--steps") == 0) cfg.steps = atoi(v);
        else if (strcmp(a, "--batch") == 0) cfg.batch = atoi(v);
        else if (strcmp(a, "--hidden") == 0) cfg.hidden = atoi(v);
        else if (strcmp(a, "--radius") == 0) cfg.radius = atoi(v);
        else if (strcmp(a, "--hour0") == 0) hour0 = atoi(v);
        else return usage();
    }
    if (dump_spec) return out ? dump(dump_spec, out, hour0) : usage();
    if (!ref_spec || (!test_spec && !rmse_only) || (rmse_only && !train_spec) || seeds < 1 ||
        hour0 < 0 || hour0 > 23)
        return usage();
    nn_set_threads(1); /* one loaded core per run (bench/README.md) */

    series ref = {0}, train = {0}, test = {0};
    float *w = NULL;
    int rc = 1;
    climz_status st = load_spec(ref_spec, hour0, NULL, &ref);
    if (st != CLIMZ_OK) return fail(st);
    if (train_spec) CZ_CHECK_GOTO(st, load_spec(train_spec, hour0, &ref, &train), done);
    if (test_spec) CZ_CHECK_GOTO(st, load_spec(test_spec, hour0, &ref, &test), done);
    const series *tr = train_spec ? &train : &ref;
    if (tr->nt != ref.nt || tr->ny != ref.ny || tr->nx != ref.nx) {
        st = cz_error(CLIMZ_ERR_DIMENSION, "--train is %zu x %zu x %zu, --ref %zu x %zu x %zu",
                      tr->nt, tr->ny, tr->nx, ref.nt, ref.ny, ref.nx);
        goto done;
    }
    if (test_spec && (test.ny != ref.ny || test.nx != ref.nx)) {
        st = cz_error(CLIMZ_ERR_DIMENSION, "--test grid %zu x %zu, --ref %zu x %zu", test.ny,
                      test.nx, ref.ny, ref.nx);
        goto done;
    }
    w = cz_malloc(ref.ny * sizeof(float));
    if (!w) {
        st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        goto done;
    }
    const double *lat = ref.lat ? ref.lat : test.lat;
    if (!lat) fprintf(stderr, "bench_forecast: no latitudes; rows weighted equally\n");
    for (size_t y = 0; y < ref.ny; y++) w[y] = lat ? (float)cos(lat[y] * M_PI / 180.0) : 1.0f;

    if (train_spec) {
        double e[3];
        train_error(&ref, &train, w, e);
        printf("train_rmse\t%s\t%.6g\t%.6g\t%.6g\n", label, e[0], e[1], e[2]);
    }
    if (rmse_only) {
        rc = 0;
        goto done;
    }
    fc_series const s = {tr->x, tr->nt, tr->ny, tr->nx, tr->hour0};
    fc_series const ts = {test.x, test.nt, test.ny, test.nx, test.hour0};
    double rmse[NLEAD];
    CZ_CHECK_GOTO(st, fc_rollout_rmse(NULL, &ts, w, k_leads, NLEAD, rmse), done);
    for (size_t k = 0; k < NLEAD; k++) printf("persistence\t%d\t%.6g\n", k_leads[k], rmse[k]);
    fflush(stdout);
    for (int sd = seed0; sd < seed0 + seeds; sd++) {
        fc_model m;
        double first, last, t0 = now_s();
        CZ_CHECK_GOTO(st, fc_train(&m, &cfg, &s, w, (uint64_t)sd, &first, &last), done);
        double const secs = now_s() - t0;
        st = fc_rollout_rmse(&m, &ts, w, k_leads, NLEAD, rmse);
        fc_free(&m);
        if (st != CLIMZ_OK) goto done;
        printf("loss\t%s\t%d\t%.6g\t%.6g\t%.1f\n", label, sd, first, last, secs);
        for (size_t k = 0; k < NLEAD; k++)
            printf("rmse\t%s\t%d\t%d\t%.6g\n", label, sd, k_leads[k], rmse[k]);
        fflush(stdout);
    }
    rc = 0;
done:
    if (st != CLIMZ_OK) rc = fail(st);
    free(w);
    series_free(&ref), series_free(&train), series_free(&test);
    return rc;
}
