/*
 * fidelity.h — the numbers a scientist asks before trusting decoded data, beyond RMSE
 * (issue 21; definitions and references in doc/metrics.md): zonal power spectra, per-field
 * correlation and structural similarity (SSIM), and the tail of the absolute error.
 * One concern per file: spectrum.c, similarity.c (correlation, SSIM), error_tail.c.
 *
 * READ ME FIRST
 *  - The input is a met_field_view (metrics.h): nch 2-D fields (time steps x levels) of
 *    ny rows x nx columns, the same validity rule (miss NULL or 0 = valid) and the same
 *    reference rule (ref finite at every valid point, else CLIMZ_ERR_INVALID_ARG).
 *  - A NaN or inf in test at a valid point is a decoding failure: the spectrum leaves that
 *    row out and counts it in n_nonfinite; the per-field figures and the error tail are NaN
 *    (the tail's maximum +inf), as in metrics.h.
 *  - Latitude weighting: the spectrum averages rows with weight cos(lat) (area, as
 *    lat_rmse) when lat is given; correlation, SSIM and the error tail count every valid
 *    point (or window) equally, as rmse and max_abs_error do.
 *  - Deterministic: fixed summation order, our own FFT (fft.h), exact sorts (sort.h).
 */
#ifndef CZ_METRICS_FIDELITY_H
#define CZ_METRICS_FIDELITY_H

#include "metrics/metrics.h"

/* ---- zonal power spectrum (spectrum.c) -------------------------------------------------
 * Each row r (a latitude circle, or a row of a limited-area grid) of each field, both
 * fields alike: periodic rows are used as they are; non-periodic rows have their least-
 * squares line removed and are multiplied by a Hann window h_j = 0.5 (1 - cos(2 pi j/(n-1))).
 * E_r(k) = c_k |X_k|^2 / (n sum_j h_j^2), k = 0..n/2, c_k = 2 for 0 < k < n/2 else 1, so
 * that sum_k E_r(k) is the row's mean square (Parseval; h = 1 for periodic rows).
 * e_ref(k), e_test(k) = sum_r w_r E_r(k) / sum_r w_r over the rows used (every field);
 * w_r = cos(lat) (>= 0) or 1. A row with any missing point is skipped (rows_skipped).
 * ratio(k) = e_test(k) / e_ref(k) (NaN where e_ref(k) = 0).
 * Resolved wavenumbers: k = 1..n/2 with e_ref(k) > 1e-12 max_k' e_ref(k') (below, the
 * reference has only round-off energy). On them:
 *   max_abs_log_ratio = max |ln ratio(k)| (at k_max_abs_log);
 *   k_below_090 = the lowest k where ratio(k) < 0.9 (0: none). */
typedef struct met_spectrum {
    size_t nk;                 /* nx/2 + 1 */
    double *e_ref, *e_test;    /* nk each: mean energy per zonal wavenumber */
    double *ratio;             /* nk: e_test / e_ref */
    int periodic;              /* rows were treated as periodic (global longitude circle) */
    size_t rows_used, rows_skipped, n_nonfinite;
    size_t n_resolved;         /* wavenumbers 1..n/2 in the summary */
    double max_abs_log_ratio;  /* NaN when no wavenumber is resolved */
    size_t k_max_abs_log;
    size_t k_below_090;
} met_spectrum;

/*! met_lon_periodic() : 1 when the nx longitudes (deg) are evenly spaced (each step within
 *  1 % of the mean step d) and nx steps span 360 degrees within 0.1 d (etopo5's stored
 *  longitudes are 0.0043 degrees = 0.05 d off), i.e. column nx is column 0 again; 0
 *  otherwise and when lon is NULL or nx < 4. */
int met_lon_periodic(const double *lon, size_t nx);

/*! met_zonal_spectrum() : the spectra above; rows as periodic or not per `periodic`.
 *  @return CLIMZ_OK (out's arrays allocated: met_spectrum_free), CLIMZ_ERR_INVALID_ARG,
 *  CLIMZ_ERR_DIMENSION, CLIMZ_ERR_EMPTY (no row without a missing point; out is empty),
 *  CLIMZ_ERR_ALLOC. nx < 4 is CLIMZ_ERR_DIMENSION (too short a row for a spectrum). */
climz_status met_zonal_spectrum(const met_field_view *v, int periodic, met_spectrum *out);
void met_spectrum_free(met_spectrum *s); /* frees the arrays and zeroes s */

/* ---- per-field similarity (similarity.c) ---------------------------------------------
 * Over each 2-D field (channel) f, then the mean and minimum over the fields where it is
 * defined (n_fields of them):
 *   correlation: Pearson's r over the field's valid points, undefined when either field is
 *     constant there.
 *   ssim: both fields scaled by the reference field's range, x' = (x - min ref) / R (R = 1
 *     when R = 0), dynamic range L = 1; SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, IEEE
 *     TIP 13, 600-612) with K1 = 0.01, K2 = 0.03, C1 = (K1 L)^2, C2 = (K2 L)^2, local
 *     statistics under a 7 x 7 Gaussian window (sigma 1.5, weights normalised to sum 1):
 *     SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
 *     averaged over every window that lies inside the grid (no wrap) and holds no missing
 *     point; undefined for a field without such a window (smaller than 7 x 7). */
typedef struct met_per_field {
    size_t n_fields;   /* fields where the figure is defined */
    double mean, min;  /* NaN when n_fields = 0 or test is not finite at a valid point */
} met_per_field;

climz_status met_field_correlation(const met_field_view *v, met_per_field *out);
climz_status met_field_ssim(const met_field_view *v, met_per_field *out);

/* ---- the tail of the absolute error (error_tail.c) ------------------------------------
 * Over all N valid points, |e_i| = |test_i - ref_i| (computed in double, rounded to float32
 * for the exact sort): the type-7 quantiles (metrics.h) at 0.999 and 0.9999, the maximum,
 * rmse as in metrics.h, and the fraction of points with |e_i| > 5 rmse. */
typedef struct met_error_tail {
    size_t n_valid;
    double p999, p9999, max, rmse;
    double frac_beyond_5rmse;  /* in [0, 1]; 0 when rmse = 0 */
} met_error_tail;

climz_status met_error_tail_of(const met_field_view *v, met_error_tail *out);

#endif /* CZ_METRICS_FIDELITY_H */
