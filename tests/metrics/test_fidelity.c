/* test_fidelity.c — the science-fidelity metrics (metrics/fidelity.h): the FFT against a
 * plain DFT, golden spectra (a pure zonal sine, a 1-2-1 smoothing whose energy ratio is
 * cos^4), identical fields, SSIM against a brute-force window loop, correlation and the
 * error tail on hand-computed distributions. */
#include "metrics/fft.h"
#include "metrics/fidelity.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

static met_field_view view(const float *ref, const float *test, const uint8_t *miss, const double *lat,
                           size_t nch, size_t ny, size_t nx) {
    met_field_view v = {ref, test, miss, lat, nch, ny, nx};
    return v;
}

/* The FFT (radix 2 and Bluestein) against an O(n^2) DFT in long double. */
static void test_fft_vs_dft(void) {
    static const size_t lens[] = {1, 2, 3, 5, 8, 12, 64, 73, 144, 360, 1440};
    unsigned long long rng = 7;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        size_t const n = lens[li], nk = n / 2 + 1;
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        double *px = malloc(nk * sizeof *px), *py = malloc(nk * sizeof *py);
        for (size_t j = 0; j < n; j++) {
            x[j] = tu_rand_normal(&rng);
            y[j] = 3.0 + tu_rand_uniform(&rng);
        }
        met_fft *p = NULL;
        CHECK_OK(met_fft_create(n, &p));
        met_fft_power2(p, x, y, px, py);
        double worst = 0.0;
        for (size_t k = 0; k < nk; k++) {
            long double xr = 0, xi = 0, yr = 0, yi = 0;
            for (size_t j = 0; j < n; j++) {
                long double const a = -2.0L * 3.14159265358979323846264338L * (long double)((j * k) % n) / (long double)n;
                xr += x[j] * cosl(a);
                xi += x[j] * sinl(a);
                yr += y[j] * cosl(a);
                yi += y[j] * sinl(a);
            }
            double const ex = (double)(xr * xr + xi * xi), ey = (double)(yr * yr + yi * yi);
            double const dx = fabs(px[k] - ex) / (1.0 + (double)n), dy = fabs(py[k] - ey) / (1.0 + (double)n * n);
            if (dx > worst) worst = dx;
            if (dy > worst) worst = dy;
        }
        CHECK_MSG(worst < 1e-9, "fft n = %zu: worst scaled error %g", n, worst);
        met_fft_free(p);
        free(x);
        free(y);
        free(px);
        free(py);
    }
    met_fft *p = NULL;
    CHECK_STATUS(met_fft_create(0, &p), CLIMZ_ERR_INVALID_ARG);
}

/* A pure zonal wave A sin(2 pi k0 x / n + phase) on a periodic row has all its energy, A^2/2
 * (its mean square), at k0. */
static void test_sine_golden(void) {
    size_t const ny = 5, nx = 144, k0 = 7;
    double const A = 3.0;
    float *f = malloc(ny * nx * sizeof *f), *g = malloc(ny * nx * sizeof *g);
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            f[y * nx + x] = (float)(A * sin(2.0 * PI * (double)(k0 * x) / (double)nx + 0.3 * (double)y));
            g[y * nx + x] = 0.5f * f[y * nx + x]; /* half the amplitude: a quarter of the energy */
        }
    double lat[5] = {-60, -30, 0, 30, 60};
    met_field_view v = view(f, g, NULL, lat, 1, ny, nx);
    met_spectrum s;
    CHECK_OK(met_zonal_spectrum(&v, 1, &s));
    CHECK(s.nk == nx / 2 + 1 && s.rows_used == ny && s.rows_skipped == 0 && s.periodic);
    double off = 0.0;
    for (size_t k = 0; k < s.nk; k++)
        if (k != k0 && s.e_ref[k] > off) off = s.e_ref[k];
    /* float32 samples: the off-peak energy is round-off (~1e-14 of the peak) */
    CHECK_NEAR(s.e_ref[k0], A * A / 2.0, 1e-5);
    CHECK_MSG(off < 1e-10, "energy off the wavenumber: %g", off);
    CHECK_NEAR(s.ratio[k0], 0.25, 1e-12);
    CHECK(s.n_resolved == 1 && s.k_max_abs_log == k0 && s.k_below_090 == k0);
    CHECK_NEAR(s.max_abs_log_ratio, log(4.0), 1e-12);
    met_spectrum_free(&s);
    CHECK(s.e_ref == NULL && s.nk == 0);

    /* the same wave on a limited-area row with a linear trend added: detrended and windowed,
     * the peak is still at k0, and the spectrum is the one without the trend */
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) g[y * nx + x] = f[y * nx + x] + 0.05f * (float)x;
    v = view(f, g, NULL, NULL, 1, ny, nx);
    CHECK_OK(met_zonal_spectrum(&v, 0, &s));
    size_t kmax = 0;
    double worst = 0.0;
    for (size_t k = 1; k < s.nk; k++) {
        if (s.e_ref[k] > s.e_ref[kmax]) kmax = k;
        double const d = fabs(s.e_test[k] - s.e_ref[k]) / s.e_ref[k0];
        if (d > worst) worst = d;
    }
    CHECK(kmax == k0 && !s.periodic);
    CHECK_MSG(worst < 1e-6, "the trend is left: %g of the peak", worst);
    /* the Hann window keeps the leak of a whole-wavelength wave to a few neighbours */
    CHECK_MSG(s.e_ref[k0 + 3] < 1e-3 * s.e_ref[k0], "leak 3 bins away: %g", s.e_ref[k0 + 3] / s.e_ref[k0]);
    met_spectrum_free(&s);
    free(f);
    free(g);
}

/* Identical fields: energy ratio 1 everywhere, SSIM 1, correlation 1, bias 0, no tail. */
static void test_identical(void) {
    size_t const nch = 3, ny = 20, nx = 36, n = nch * ny * nx;
    float *f = malloc(n * sizeof *f);
    unsigned long long rng = 11;
    for (size_t i = 0; i < n; i++) f[i] = (float)(280.0 + 10.0 * tu_rand_normal(&rng));
    met_field_view v = view(f, f, NULL, NULL, nch, ny, nx);
    met_spectrum s;
    CHECK_OK(met_zonal_spectrum(&v, 1, &s));
    for (size_t k = 0; k < s.nk; k++) CHECK(s.ratio[k] == 1.0);
    CHECK(s.max_abs_log_ratio == 0.0 && s.k_below_090 == 0 && s.n_resolved == nx / 2);
    met_spectrum_free(&s);
    met_per_field ss, cc;
    CHECK_OK(met_field_ssim(&v, &ss));
    CHECK(ss.n_fields == nch && ss.mean == 1.0 && ss.min == 1.0);
    CHECK_OK(met_field_correlation(&v, &cc));
    CHECK(cc.n_fields == nch);
    CHECK_NEAR(cc.mean, 1.0, 1e-15);
    met_error_tail t;
    CHECK_OK(met_error_tail_of(&v, &t));
    CHECK(t.max == 0 && t.p999 == 0 && t.p9999 == 0 && t.rmse == 0 && t.frac_beyond_5rmse == 0);
    met_stats st;
    CHECK_OK(met_compare(&v, &st));
    CHECK(st.mean_error == 0.0);
    free(f);
}

/* A 1-2-1 smoothing along periodic rows multiplies X_k by cos^2(pi k / n): the energy ratio
 * is cos^4(pi k / n), 1 at k = 0 and falling to 0 at n/2. */
static void test_smoothed(void) {
    size_t const ny = 8, nx = 90, n = ny * nx;
    float *f = malloc(n * sizeof *f), *g = malloc(n * sizeof *g);
    unsigned long long rng = 5;
    for (size_t i = 0; i < n; i++) f[i] = (float)tu_rand_normal(&rng);
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            const float *r = f + y * nx;
            g[y * nx + x] = (float)(0.25 * r[(x + nx - 1) % nx] + 0.5 * r[x] + 0.25 * r[(x + 1) % nx]);
        }
    met_field_view v = view(f, g, NULL, NULL, 1, ny, nx);
    met_spectrum s;
    CHECK_OK(met_zonal_spectrum(&v, 1, &s));
    size_t want_k = 0;
    double worst = 0.0;
    for (size_t k = 1; k < s.nk; k++) {
        double const c = cos(PI * (double)k / (double)nx), want = c * c * c * c;
        if (want_k == 0 && want < 0.9) want_k = k;
        /* the smoothed row is rounded to float32: ~1e-7 relative to the energy */
        if (want > 1e-3 && fabs(s.ratio[k] - want) > worst) worst = fabs(s.ratio[k] - want);
    }
    CHECK_MSG(worst < 1e-5, "ratio vs cos^4: worst %g", worst);
    CHECK(s.k_below_090 == want_k && want_k > 1);
    CHECK(s.ratio[nx / 2 - 1] < 0.01);
    met_spectrum_free(&s);
    free(f);
    free(g);
}

/* Longitudes: a global 2.5-degree circle is periodic, a limited area and a circle with one
 * point short are not. Masks: a row with a missing point is skipped. */
static void test_periodic_and_masks(void) {
    double lon[144], uk[49];
    for (int i = 0; i < 144; i++) lon[i] = 2.5 * i;
    for (int i = 0; i < 49; i++) uk[i] = -10.0 + 0.25 * i;
    CHECK(met_lon_periodic(lon, 144) == 1);
    CHECK(met_lon_periodic(lon, 143) == 0);
    CHECK(met_lon_periodic(uk, 49) == 0);
    CHECK(met_lon_periodic(NULL, 144) == 0);
    for (int i = 0; i < 144; i++) lon[i] = 180.0 - 2.5 * i; /* descending */
    CHECK(met_lon_periodic(lon, 144) == 1);

    size_t const ny = 4, nx = 16;
    float f[64];
    uint8_t m[64] = {0};
    for (int i = 0; i < 64; i++) f[i] = (float)(i % 5);
    m[17] = 1; /* row 1 */
    met_field_view v = view(f, f, m, NULL, 1, ny, nx);
    met_spectrum s;
    CHECK_OK(met_zonal_spectrum(&v, 1, &s));
    CHECK(s.rows_used == 3 && s.rows_skipped == 1);
    met_spectrum_free(&s);
    memset(m, 1, sizeof m);
    CHECK_STATUS(met_zonal_spectrum(&v, 1, &s), CLIMZ_ERR_EMPTY);
    CHECK(s.e_ref == NULL && s.rows_skipped == 4);
    v = view(f, f, NULL, NULL, 1, 16, 3);
    CHECK_STATUS(met_zonal_spectrum(&v, 1, &s), CLIMZ_ERR_DIMENSION);
    v = view(f, f, NULL, NULL, 1, 16, 4); /* 4 points: the least; one resolved wavenumber */
    CHECK_OK(met_zonal_spectrum(&v, 0, &s));
    CHECK(s.nk == 3 && s.rows_used == 16);
    met_spectrum_free(&s);
}

/* Brute-force SSIM of one field: every 7 x 7 window, Gaussian weights, directly. */
static double ssim_brute(const float *r, const float *t, const uint8_t *m, size_t ny, size_t nx) {
    double lo = INFINITY, hi = -INFINITY, g[7], gs = 0;
    for (size_t i = 0; i < ny * nx; i++)
        if (!m || !m[i]) {
            if (r[i] < lo) lo = r[i];
            if (r[i] > hi) hi = r[i];
        }
    for (int d = 0; d < 7; d++) gs += g[d] = exp(-(double)((d - 3) * (d - 3)) / 4.5);
    double sum = 0;
    size_t nw = 0;
    for (size_t cy = 3; cy + 3 < ny; cy++)
        for (size_t cx = 3; cx + 3 < nx; cx++) {
            double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
            int hole = 0;
            for (size_t y = cy - 3; y <= cy + 3; y++)
                for (size_t x = cx - 3; x <= cx + 3; x++) hole |= m && m[y * nx + x];
            if (hole) continue;
            for (size_t y = cy - 3; y <= cy + 3; y++)
                for (size_t x = cx - 3; x <= cx + 3; x++) {
                    double const w = g[y + 3 - cy] * g[x + 3 - cx] / (gs * gs);
                    mx += w * (r[y * nx + x] - lo) / (hi - lo);
                    my += w * (t[y * nx + x] - lo) / (hi - lo);
                }
            for (size_t y = cy - 3; y <= cy + 3; y++)
                for (size_t x = cx - 3; x <= cx + 3; x++) {
                    double const w = g[y + 3 - cy] * g[x + 3 - cx] / (gs * gs);
                    double const a = (r[y * nx + x] - lo) / (hi - lo) - mx, b = (t[y * nx + x] - lo) / (hi - lo) - my;
                    sxx += w * a * a;
                    syy += w * b * b;
                    sxy += w * a * b;
                }
            sum += (2 * mx * my + 1e-4) * (2 * sxy + 9e-4) / ((mx * mx + my * my + 1e-4) * (sxx + syy + 9e-4));
            nw++;
        }
    return sum / (double)nw;
}

static void test_ssim_and_correlation(void) {
    size_t const ny = 20, nx = 25, np = ny * nx;
    float r[2 * 500], t[2 * 500];
    uint8_t m[2 * 500] = {0};
    unsigned long long rng = 3;
    for (size_t i = 0; i < 2 * np; i++) {
        size_t const x = i % nx, y = (i / nx) % ny;
        r[i] = (float)(10.0 * sin(0.3 * (double)x) + 0.2 * (double)y * (double)y);
        t[i] = r[i] + (float)((i < np ? 0.5 : 2.0) * tu_rand_normal(&rng));
    }
    m[np + 7 * nx + 9] = 1; /* a hole in the second field */
    met_field_view v = view(r, t, m, NULL, 2, ny, nx);
    met_per_field s;
    CHECK_OK(met_field_ssim(&v, &s));
    double const s0 = ssim_brute(r, t, NULL, ny, nx), s1 = ssim_brute(r + np, t + np, m + np, ny, nx);
    CHECK(s.n_fields == 2);
    CHECK_NEAR(s.mean, 0.5 * (s0 + s1), 1e-12);
    CHECK_NEAR(s.min, s1, 1e-12);
    CHECK(s1 < s0 && s0 < 1.0 && s1 > 0.0); /* more noise, lower SSIM */

    /* too small for a 7 x 7 window: undefined, not an error */
    v = view(r, t, NULL, NULL, 1, 6, 25);
    CHECK_OK(met_field_ssim(&v, &s));
    CHECK(s.n_fields == 0 && isnan(s.mean));
    /* a NaN in the decoded field: a failure, NaN */
    t[40] = NAN;
    v = view(r, t, NULL, NULL, 1, ny, nx);
    CHECK_OK(met_field_ssim(&v, &s));
    CHECK(isnan(s.mean));
    met_per_field c;
    CHECK_OK(met_field_correlation(&v, &c));
    CHECK(isnan(c.mean));

    /* correlation by hand: {1,2,3} vs {1,3,2}: cov 0.5 / (1 * 1) = 0.5; an affine copy 1;
     * a negated copy -1; a constant field undefined */
    const float a[3] = {1, 2, 3}, b[3] = {1, 3, 2}, aff[3] = {5, 7, 9}, neg[3] = {-1, -2, -3}, k[3] = {4, 4, 4};
    v = view(a, b, NULL, NULL, 1, 1, 3);
    CHECK_OK(met_field_correlation(&v, &c));
    CHECK_NEAR(c.mean, 0.5, 1e-15);
    v.test = aff;
    CHECK_OK(met_field_correlation(&v, &c));
    CHECK_NEAR(c.mean, 1.0, 1e-15);
    v.test = neg;
    CHECK_OK(met_field_correlation(&v, &c));
    CHECK_NEAR(c.mean, -1.0, 1e-15);
    v.test = k;
    CHECK_OK(met_field_correlation(&v, &c));
    CHECK(c.n_fields == 0 && isnan(c.mean));
    float rr[6] = {1, 2, 3, 1, 2, 3}, tt[6] = {1, 3, 2, 5, 7, 9};
    v = view(rr, tt, NULL, NULL, 2, 1, 3); /* mean of 0.5 and 1 */
    CHECK_OK(met_field_correlation(&v, &c));
    CHECK(c.n_fields == 2);
    CHECK_NEAR(c.mean, 0.75, 1e-15);
    CHECK_NEAR(c.min, 0.5, 1e-15);
}

/* The error tail on known distributions. */
static void test_error_tail(void) {
    size_t const n = 10000;
    float *r = calloc(n, sizeof *r), *t = malloc(n * sizeof *t);
    /* |e| = 0, 1, ..., 9999: type-7 p99.9 at h = 9999 * 0.999 = 9989.001, p99.99 at 9998.0001;
     * rmse = sqrt(9999 * 19999 / 6) = 5773.21..., 5 rmse > max: fraction 0 */
    for (size_t i = 0; i < n; i++) t[i] = (i % 2 ? -1.0f : 1.0f) * (float)i;
    met_field_view v = view(r, t, NULL, NULL, 1, 100, 100);
    met_error_tail e;
    CHECK_OK(met_error_tail_of(&v, &e));
    CHECK(e.n_valid == n);
    CHECK_NEAR(e.p999, 9989.001, 1e-8);
    CHECK_NEAR(e.p9999, 9998.0001, 1e-8);
    CHECK_NEAR(e.max, 9999.0, 0);
    CHECK_NEAR(e.rmse, sqrt(9999.0 * 19999.0 / 6.0), 1e-9);
    CHECK(e.frac_beyond_5rmse == 0.0);
    /* 9990 zeros and 10 errors of 10: rmse = sqrt(1000 / 10000), all 10 beyond 5 rmse = 1.58:
     * 1e-3; p99.9 = 0 + 0.001 * 10 (between sorted 9989 and 9990), p99.99 = 10 */
    for (size_t i = 0; i < n; i++) t[i] = i % 1000 == 999 ? 10.0f : 0.0f;
    CHECK_OK(met_error_tail_of(&v, &e));
    CHECK_NEAR(e.rmse, sqrt(0.1), 1e-15);
    CHECK_NEAR(e.frac_beyond_5rmse, 1e-3, 0);
    CHECK_NEAR(e.p999, 0.01, 1e-10); /* h - k = 9989.001 - 9989 in double */
    CHECK_NEAR(e.p9999, 10.0, 0);
    CHECK_NEAR(e.max, 10.0, 0);
    /* masked points do not count; a NaN is a failure */
    uint8_t *m = calloc(n, 1);
    for (size_t i = 0; i < n; i++) m[i] = t[i] != 0.0f;
    v.miss = m;
    CHECK_OK(met_error_tail_of(&v, &e));
    CHECK(e.n_valid == n - 10 && e.max == 0.0);
    t[0] = NAN;
    CHECK_OK(met_error_tail_of(&v, &e));
    CHECK(isinf(e.max) && isnan(e.p999));
    memset(m, 1, n);
    CHECK_STATUS(met_error_tail_of(&v, &e), CLIMZ_ERR_EMPTY);
    free(m);
    free(r);
    free(t);
}

int main(void) {
    test_fft_vs_dft();
    test_sine_golden();
    test_identical();
    test_smoothed();
    test_periodic_and_masks();
    test_ssim_and_correlation();
    test_error_tail();
    return tu_finish();
}
