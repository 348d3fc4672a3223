/* test_metrics.c — met_* against hand-computed values, edge cases (masks, NaN, empty), the
 * exact quantile sort against qsort, and a real field (hgt.nc) against an independent
 * long-double computation. */
#include "metrics/metrics.h"
#include "testutil.h"

#include <netcdf.h>
#include <stdlib.h>
#include <string.h>

static met_field_view view(const float *ref, const float *test, const uint8_t *miss,
                           const double *lat, size_t nch, size_t ny, size_t nx) {
    met_field_view v = {ref, test, miss, lat, nch, ny, nx};
    return v;
}

/* 2x2 field: e = test - ref = {0.5, 0, -1, 0}. By hand: sum e^2 = 1.25, N = 4,
 * rmse = sqrt(0.3125) = 0.5590169943749475, range = 4 - 1 = 3, nrmse = 0.18633899812498247,
 * psnr = 20 log10(3 / 0.5590...) = 14.593924877592308, max 1, mean -0.5/4 = -0.125.
 * lat {0, 60}: w = {1, 0.5}; row sums of e^2 {0.25, 1}:
 * lat_rmse^2 = (1*0.25 + 0.5*1) / (1*2 + 0.5*2) = 0.25 -> 0.5. */
static void test_hand_values(void) {
    const float ref[4] = {1, 2, 3, 4}, test[4] = {1.5f, 2, 2, 4};
    const double lat[2] = {0.0, 60.0};
    met_stats s;
    met_field_view v = view(ref, test, NULL, NULL, 1, 2, 2);
    CHECK_OK(met_compare(&v, &s));
    CHECK(s.n_valid == 4 && s.n_nonfinite == 0);
    CHECK_NEAR(s.range, 3.0, 0);
    CHECK_NEAR(s.rmse, 0.5590169943749475, 1e-15);
    CHECK_NEAR(s.nrmse, 0.18633899812498247, 1e-15);
    CHECK_NEAR(s.psnr, 14.593924877592308, 1e-12);
    CHECK_NEAR(s.max_abs_error, 1.0, 0);
    CHECK_NEAR(s.mean_error, -0.125, 0);
    CHECK_NEAR(s.lat_rmse, s.rmse, 0); /* no lat: unweighted */

    v.lat = lat;
    CHECK_OK(met_compare(&v, &s));
    CHECK_NEAR(s.lat_rmse, 0.5, 1e-15);
    CHECK_NEAR(s.rmse, 0.5590169943749475, 1e-15); /* lat changes only lat_rmse */

    /* the same with lat {-60, 0} (southern hemisphere weights are symmetric):
     * (0.5*0.25 + 1*1) / (0.5*2 + 1*2) = 0.375 -> sqrt = 0.6123724356957945 */
    const double lat2[2] = {-60.0, 0.0};
    v.lat = lat2;
    CHECK_OK(met_compare(&v, &s));
    CHECK_NEAR(s.lat_rmse, 0.6123724356957945, 1e-15);

    /* a perfect copy: rmse 0, psnr +inf, SEDI 1, RQE 0 */
    v = view(ref, ref, NULL, NULL, 1, 1, 4);
    CHECK_OK(met_compare(&v, &s));
    CHECK(s.rmse == 0 && s.nrmse == 0 && s.max_abs_error == 0 && isinf(s.psnr) && s.psnr > 0);
    for (int j = 0; j < MET_NQ; j++) CHECK(s.sedi[j] == 1.0 && s.rqe[j] == 0.0);

    /* constant reference: range 0 -> nrmse +inf, psnr -inf, SEDI NaN (no exceedance) */
    const float cref[4] = {5, 5, 5, 5}, ctest[4] = {5, 5, 5, 6};
    v = view(cref, ctest, NULL, NULL, 1, 2, 2);
    CHECK_OK(met_compare(&v, &s));
    CHECK(s.range == 0 && isinf(s.nrmse) && isinf(s.psnr) && s.psnr < 0);
    CHECK_NEAR(s.rmse, 0.5, 0);
    CHECK(isnan(s.sedi[0]));
    /* Q_ref = 5 at every level; Q_test(0.9) = 5 + 0.7*1 (h = 2.7) -> rqe 0.14 */
    CHECK_NEAR(s.rqe[0], 0.7 / 5.0, 1e-15);
}

/* ref = 0..99 in a shuffled order. Type-7 quantiles: h = 99 p -> 89.1, 94.05, 97.02, 98.505.
 * test = ref + 2 shifts each quantile by 2 exactly: rqe = 2 / Q. */
static void test_quantiles_rqe(void) {
    float ref[100], test[100];
    unsigned long long rng = 7;
    for (int i = 0; i < 100; i++) ref[i] = (float)i;
    for (int i = 99; i > 0; i--) { /* Fisher-Yates */
        int const j = (int)(tu_rand_u64(&rng) % (unsigned)(i + 1));
        float const t = ref[i];
        ref[i] = ref[j];
        ref[j] = t;
    }
    const double q[MET_NQ] = {89.1, 94.05, 97.02, 98.505};
    met_stats s;
    for (int i = 0; i < 100; i++) test[i] = ref[i] + 2.0f;
    met_field_view v = view(ref, test, NULL, NULL, 1, 10, 10);
    CHECK_OK(met_compare(&v, &s));
    for (int j = 0; j < MET_NQ; j++) CHECK_NEAR(s.rqe[j], 2.0 / q[j], 1e-13);
    CHECK_NEAR(s.mean_error, 2.0, 0);
    CHECK_NEAR(s.psnr, 20 * log10(99.0 / 2.0), 1e-12);

    /* negative values: ref - 50 has quantiles q - 50 (39.1 ...); test = ref - 1 -> rqe = -1/|Q| */
    for (int i = 0; i < 100; i++) {
        ref[i] -= 50.0f;
        test[i] = ref[i] - 1.0f;
    }
    CHECK_OK(met_compare(&v, &s));
    for (int j = 0; j < MET_NQ; j++) CHECK_NEAR(s.rqe[j], -1.0 / (q[j] - 50.0), 1e-13);

    /* all values negative: ref = -109..-10, Q_ref(0.9) = 89.1 - 109 = -19.9; test = ref + 1
     * -> rqe = +1/19.9 */
    for (int i = 0; i < 100; i++) {
        ref[i] -= 59.0f;
        test[i] = ref[i] + 1.0f;
    }
    CHECK_OK(met_compare(&v, &s));
    CHECK_NEAR(s.rqe[0], 1.0 / 19.9, 1e-13);
    CHECK(s.rqe[0] > 0); /* signed relative to |Q_ref| */
}

/* SEDI of a hand-made table at the 90 % level: ref = 0..99, T = 89.1, events 90..99 (10).
 * test: 3 events missed (set to 0), 5 non-events raised to 95 -> a=7, b=5, c=3, d=85:
 * H = 0.7, F = 5/90, SEDI = 0.8164077083370261 (python, formula in metrics.h). */
static void test_sedi(void) {
    float ref[100], test[100];
    for (int i = 0; i < 100; i++) ref[i] = test[i] = (float)((i * 37) % 100); /* a permutation */
    int missed = 0, raised = 0;
    for (int i = 0; i < 100; i++) {
        if (ref[i] > 89.1f && missed < 3) { test[i] = 0.0f; missed++; }
        else if (ref[i] < 50.0f && raised < 5) { test[i] = 95.0f; raised++; }
    }
    CHECK(missed == 3 && raised == 5);
    met_stats s;
    met_field_view v = view(ref, test, NULL, NULL, 1, 4, 25);
    CHECK_OK(met_compare(&v, &s));
    CHECK_NEAR(s.sedi[0], 0.8164077083370261, 1e-14);
    CHECK_NEAR(met_sedi(7, 5, 3, 85), 0.8164077083370261, 1e-15);

    /* clamps: H = 0 -> 0.5/10, F = 5/90: -0.018554441720180732; H = 1, F = 0 but not perfect
     * by the exception rule cannot happen (b = c = 0 is the exception); H = 0.9, F = 0 clamps
     * F to 0.5/90: 0.9708323283738991; F = 1 side: (10, 89, 0, 1) -> -0.20431273431672928 */
    CHECK_NEAR(met_sedi(0, 5, 10, 85), -0.018554441720180732, 1e-15);
    CHECK_NEAR(met_sedi(9, 0, 1, 90), 0.9708323283738991, 1e-15);
    CHECK_NEAR(met_sedi(10, 89, 0, 1), -0.20431273431672928, 1e-15);
    CHECK(met_sedi(10, 0, 0, 90) == 1.0);
    CHECK(met_sedi(0, 90, 10, 0) == -1.0);
    CHECK(isnan(met_sedi(0, 3, 0, 97)) && isnan(met_sedi(5, 0, 5, 0)));
    /* no skill: H = F = 0.1 gives 0 */
    CHECK_NEAR(met_sedi(1, 9, 9, 81), 0.0, 1e-15);
}

/* Masked points are excluded whatever they hold; all masked -> EMPTY; NaN in test at a valid
 * point is a failure (inf), NaN at a masked point is ignored; NaN in ref at a valid point is
 * an argument error. */
static void test_masks_and_nan(void) {
    /* the 2x2 field of test_hand_values padded to 2x3 with a garbage masked column */
    const float ref[6] = {1, 2, -1e30f, 3, 4, NAN}, test0[6] = {1.5f, 2, 7e20f, 2, 4, 123};
    const uint8_t miss[6] = {0, 0, 1, 0, 0, 2};
    const double lat[2] = {0.0, 60.0};
    float test[6];
    met_stats s;
    memcpy(test, test0, sizeof test);
    met_field_view v = view(ref, test, miss, lat, 1, 2, 3);
    CHECK_OK(met_compare(&v, &s));
    CHECK(s.n_valid == 4 && s.n_nonfinite == 0);
    CHECK_NEAR(s.rmse, 0.5590169943749475, 1e-15);
    CHECK_NEAR(s.lat_rmse, 0.5, 1e-15);
    CHECK_NEAR(s.range, 3.0, 0);
    CHECK_NEAR(s.max_abs_error, 1.0, 0);

    test[2] = NAN; /* masked: ignored */
    CHECK_OK(met_compare(&v, &s));
    CHECK(isfinite(s.rmse) && s.n_nonfinite == 0);

    test[1] = NAN; /* valid: a failure */
    CHECK_OK(met_compare(&v, &s));
    CHECK(s.n_nonfinite == 1 && s.n_valid == 4);
    CHECK(isinf(s.rmse) && isinf(s.max_abs_error) && isinf(s.lat_rmse) && isinf(s.nrmse));
    CHECK(isinf(s.psnr) && s.psnr < 0);
    CHECK(isnan(s.mean_error) && isnan(s.sedi[0]) && isnan(s.rqe[3]));
    test[1] = INFINITY;
    CHECK_OK(met_compare(&v, &s));
    CHECK(s.n_nonfinite == 1 && isinf(s.rmse));

    size_t cnt, first;
    CHECK_OK(met_bound_violations(&v, 1.0, &cnt, &first));
    CHECK(cnt == 1 && first == 1); /* the inf; |e| = 1 at index 3 is within the bound */
    CHECK_OK(met_bound_violations(&v, 0.5, &cnt, &first));
    CHECK(cnt == 2 && first == 1);
    memcpy(test, test0, sizeof test);
    CHECK_OK(met_bound_violations(&v, 0.99, &cnt, &first));
    CHECK(cnt == 1 && first == 3);
    CHECK_OK(met_bound_violations(&v, 1.0, &cnt, NULL));
    CHECK(cnt == 0);
    CHECK_STATUS(met_bound_violations(&v, -1.0, &cnt, NULL), CLIMZ_ERR_INVALID_ARG);

    const uint8_t all[6] = {1, 1, 1, 1, 1, 1};
    v.miss = all;
    CHECK_STATUS(met_compare(&v, &s), CLIMZ_ERR_EMPTY);
    CHECK(s.n_valid == 0 && isnan(s.rmse));

    v.miss = NULL; /* ref NaN at index 5 is now valid */
    CHECK_STATUS(met_compare(&v, &s), CLIMZ_ERR_INVALID_ARG);
    CHECK(strstr(cz_error_message(), "mark it missing") != NULL);

    /* bad arguments */
    v = view(ref, test, miss, NULL, 1, 0, 3);
    CHECK_STATUS(met_compare(&v, &s), CLIMZ_ERR_DIMENSION);
    v = view(ref, NULL, miss, NULL, 1, 2, 3);
    CHECK_STATUS(met_compare(&v, &s), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(met_compare(NULL, &s), CLIMZ_ERR_INVALID_ARG);
    const double badlat[2] = {0.0, 91.0};
    v = view(ref, test, miss, badlat, 1, 2, 3);
    CHECK_STATUS(met_compare(&v, &s), CLIMZ_ERR_INVALID_ARG);
    v = view(ref, test, miss, NULL, (size_t)1 << 40, (size_t)1 << 20, 1 << 10);
    CHECK_STATUS(met_compare(&v, &s), CLIMZ_ERR_DIMENSION);
}

/* Per channel: each channel equals met_compare on its own slice; an all-masked channel gets
 * n_valid 0 and NaN; every channel masked -> EMPTY. */
static void test_channels(void) {
    enum { NY = 3, NX = 5, P = NY * NX };
    float ref[3 * P], test[3 * P];
    uint8_t miss[3 * P] = {0};
    double lat[NY] = {-30, 10, 80};
    unsigned long long rng = 99;
    for (int i = 0; i < 3 * P; i++) {
        ref[i] = (float)(100.0 * tu_rand_normal(&rng));
        test[i] = ref[i] + (float)tu_rand_normal(&rng);
        miss[i] = (i % 7) == 3;
    }
    for (int i = P; i < 2 * P; i++) miss[i] = 1; /* channel 1 entirely masked */
    met_stats per[3], one;
    met_field_view v = view(ref, test, miss, lat, 3, NY, NX);
    CHECK_OK(met_compare_channels(&v, per));
    for (int c = 0; c < 3; c += 2) {
        met_field_view vc = view(ref + c * P, test + c * P, miss + c * P, lat, 1, NY, NX);
        CHECK_OK(met_compare(&vc, &one));
        CHECK(memcmp(&one, &per[c], sizeof one) == 0); /* bit-identical */
        CHECK(one.n_valid > 0 && one.n_valid < P);
    }
    CHECK(per[1].n_valid == 0 && isnan(per[1].rmse) && isnan(per[1].sedi[0]));
    /* the whole view pools channels 0 and 2 */
    CHECK_OK(met_compare(&v, &one));
    CHECK(one.n_valid == per[0].n_valid + per[2].n_valid);
    double const pooled = sqrt((per[0].rmse * per[0].rmse * (double)per[0].n_valid +
                                per[2].rmse * per[2].rmse * (double)per[2].n_valid) /
                               (double)one.n_valid);
    CHECK_NEAR(one.rmse, pooled, 1e-12);

    memset(miss, 1, sizeof miss);
    CHECK_STATUS(met_compare_channels(&v, per), CLIMZ_ERR_EMPTY);
}

static int cmp_float(const void *a, const void *b) {
    float const x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The radix-sorted quantiles equal qsort's, exactly, on 200k values with ties, negatives,
 * zeros of both signs and a huge spread. */
static void test_quantiles_vs_qsort(void) {
    size_t const n = 200000;
    float *ref = malloc(n * sizeof *ref), *test = malloc(n * sizeof *test);
    float *sorted = malloc(n * sizeof *sorted);
    CHECK(ref && test && sorted);
    if (!ref || !test || !sorted) goto done;
    unsigned long long rng = 2024;
    for (size_t i = 0; i < n; i++) {
        double const u = tu_rand_uniform(&rng);
        double const g = tu_rand_normal(&rng);
        ref[i] = u < 0.1 ? 0.0f : u < 0.15 ? -0.0f : u < 0.3 ? (float)floor(g * 10) :
                 (float)(g * pow(10.0, 6 * u - 3));
        test[i] = ref[i] + (float)(0.01 * tu_rand_normal(&rng));
    }
    met_stats s;
    met_field_view v = view(ref, test, NULL, NULL, 1, 400, 500);
    CHECK_OK(met_compare(&v, &s));
    const double p[MET_NQ] = MET_QUANTILES;
    double qr[MET_NQ], qt[MET_NQ];
    for (int f = 0; f < 2; f++) {
        memcpy(sorted, f ? test : ref, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_float);
        for (int j = 0; j < MET_NQ; j++) {
            double const h = (double)(n - 1) * p[j];
            size_t const k = (size_t)floor(h);
            double const q = sorted[k] + (h - (double)k) * ((double)sorted[k + 1] - sorted[k]);
            (f ? qt : qr)[j] = q;
        }
    }
    for (int j = 0; j < MET_NQ; j++) {
        double const want = (qt[j] - qr[j]) / fabs(qr[j]);
        CHECK_MSG(s.rqe[j] == want, "rqe[%d] = %.17g, qsort gives %.17g", j, s.rqe[j], want);
    }
    /* deterministic: a second call gives the same bits */
    met_stats s2;
    CHECK_OK(met_compare(&v, &s2));
    CHECK(memcmp(&s, &s2, sizeof s) == 0);
done:
    free(ref);
    free(test);
    free(sorted);
}

/* Real data: HGT (21 x 73 x 144, lat from the file) with every value rounded to a multiple of
 * 2E (a uniform quantiser, as the residual codec does). Cross-check against a separate
 * long-double computation, the bound, and rmse ~ E/sqrt(3). */
static void test_real_hgt(void) {
    int nc, vid, lid;
    size_t const nt = 21, ny = 73, nx = 144, n = nt * ny * nx;
    float *ref = malloc(n * sizeof *ref), *test = malloc(n * sizeof *test), latf[73];
    double lat[73];
    CHECK(ref && test);
    if (!ref || !test) goto done;
    CHECK(nc_open(tu_data("hgt.nc"), NC_NOWRITE, &nc) == NC_NOERR);
    CHECK(nc_inq_varid(nc, "HGT", &vid) == NC_NOERR && nc_inq_varid(nc, "lat", &lid) == NC_NOERR);
    CHECK(nc_get_var_float(nc, vid, ref) == NC_NOERR && nc_get_var_float(nc, lid, latf) == NC_NOERR);
    nc_close(nc);
    for (size_t y = 0; y < ny; y++) lat[y] = latf[y];
    double const E = 1.0; /* gpm; the field spans ~4800..5900 */
    for (size_t i = 0; i < n; i++) test[i] = (float)(2 * E * nearbyint(ref[i] / (2 * E)));

    met_stats s;
    met_field_view v = view(ref, test, NULL, lat, 1, nt * ny, nx);
    /* lat is per row of a (ny, nx) plane: view the stack as nt channels instead */
    v.nch = nt;
    v.ny = ny;
    CHECK_OK(met_compare(&v, &s));
    long double sq = 0, wsq = 0, ws = 0, se = 0, mx = 0, lo = 1e30L, hi = -1e30L;
    for (size_t i = 0; i < n; i++) {
        long double const e = (long double)test[i] - ref[i];
        long double const w = cosl((long double)lat[(i / nx) % ny] * 3.141592653589793238L / 180);
        sq += e * e;
        wsq += w * e * e;
        ws += w;
        se += e;
        if (fabsl(e) > mx) mx = fabsl(e);
        if (ref[i] < lo) lo = ref[i];
        if (ref[i] > hi) hi = ref[i];
    }
    CHECK(s.n_valid == n);
    CHECK_NEAR(s.rmse, (double)sqrtl(sq / n), 1e-12);
    CHECK_NEAR(s.lat_rmse, (double)sqrtl(wsq / ws), 1e-12);
    CHECK_NEAR(s.mean_error, (double)(se / n), 1e-12);
    CHECK_NEAR(s.max_abs_error, (double)mx, 0);
    CHECK_NEAR(s.range, (double)(hi - lo), 0);
    CHECK(s.max_abs_error <= E);
    CHECK_NEAR(s.rmse, E / sqrt(3.0), 0.05 * E); /* uniform quantisation error */
    size_t cnt;
    CHECK_OK(met_bound_violations(&v, E, &cnt, NULL));
    CHECK(cnt == 0);
    /* rounding to 2E = 2 gpm barely moves the upper quantiles of a ~1000 gpm-wide field */
    for (int j = 0; j < MET_NQ; j++) CHECK(fabs(s.rqe[j]) <= 2 * E / 4000 && s.sedi[j] > 0.95);
    printf("hgt, E = 1 gpm: rmse %.6f lat_rmse %.6f psnr %.3f dB sedi %.4f %.4f %.4f %.4f\n", s.rmse,
           s.lat_rmse, s.psnr, s.sedi[0], s.sedi[1], s.sedi[2], s.sedi[3]);
done:
    free(ref);
    free(test);
}

static void test_ratio(void) {
    CHECK_NEAR(met_ratio(1000, 400), 10.0, 0);
    CHECK_NEAR(met_bits_per_value(1000, 400), 3.2, 1e-15);
    CHECK_NEAR(met_ratio(73 * 144, 73 * 144 * 4), 1.0, 0);
    CHECK(isinf(met_ratio(10, 0)));
}

int main(void) {
    test_hand_values();
    test_quantiles_rqe();
    test_sedi();
    test_masks_and_nan();
    test_channels();
    test_quantiles_vs_qsort();
    test_real_hgt();
    test_ratio();
    return tu_finish();
}
