/*
 * metrics.h — error metrics of a decoded field against its original (SPEC section 7), used by
 * `climz eval`, the container's "errors recorded at compression" and the benchmarks.
 *
 * READ ME FIRST
 *  - Only *valid* points count: a point is valid when miss is NULL or miss[i] == 0. The
 *    reference must be finite at every valid point (mark NaN/inf as missing first), else
 *    CLIMZ_ERR_INVALID_ARG. No valid point at all: CLIMZ_ERR_EMPTY.
 *  - A NaN or inf in `test` at a valid point is a decoding failure, never skipped: it is
 *    counted in n_nonfinite, and then rmse, nrmse, lat_rmse and max_abs_error are +inf,
 *    psnr is -inf, and mean_error, sedi[] and rqe[] are NaN. Check n_nonfinite (or isfinite)
 *    before trusting a result.
 *  - met_compare_channels() gives each channel its own statistics (its own range, quantiles
 *    and latitude-weight normalisation). A channel without valid points gets n_valid = 0 and
 *    NaN everywhere; the call fails with CLIMZ_ERR_EMPTY only when every channel is empty.
 *  - Results are deterministic: sums run in double in a fixed order (each grid row left to
 *    right, then rows top to bottom, then channels), quantiles come from an exact sort.
 *    Thread count and machine do not change them (up to libm's cos() for lat weights).
 *
 * Definitions, over the N valid points i with e_i = (double)test_i - (double)ref_i:
 *   range         = max(ref) - min(ref)
 *   rmse          = sqrt(sum e_i^2 / N)
 *   nrmse         = rmse / range        (0 when rmse = 0; +inf when range = 0 < rmse)
 *   lat_rmse      = sqrt(sum w_i e_i^2 / sum w_i), w_i = cos(lat of row i); this is the
 *                   weighting "cos(lat) normalised to mean 1 over the valid points" (the
 *                   normalisation constant cancels). = rmse when lat is NULL. NaN when
 *                   sum w_i = 0 (every valid point on a pole).
 *   max_abs_error = max |e_i|
 *   mean_error    = sum e_i / N                    (bias, test minus ref)
 *   psnr          = 20 log10(range / rmse) dB      (+inf when rmse = 0; -inf when range = 0 < rmse)
 *   quantile Q(p) of a sample of N values: sort ascending x_0 <= ... <= x_{N-1}, h = (N-1) p,
 *                   k = floor(h), Q = x_k + (h - k) (x_{k+1} - x_k)  (linear interpolation in
 *                   sorted order, numpy's default "linear"/Hyndman-Fan type 7); Q = x_k if k = N-1.
 *   quantile levels p_j = 0.90, 0.95, 0.98, 0.995 (MET_QUANTILES), j = 0..3.
 *   rqe[j]        = (Q_test(p_j) - Q_ref(p_j)) / |Q_ref(p_j)|, each quantile taken from its own
 *                   field's valid values (the two samples are sorted independently). Signed:
 *                   > 0 means the decoded field's extremes are too high. When Q_ref = 0: 0 if
 *                   Q_test = 0, else +-inf with the sign of the difference.
 *   sedi[j]       = Symmetric Extremal Dependence Index (Ferro & Stephenson 2011, Wea.
 *                   Forecasting 26, 699-713) of the event "value > T_j", T_j = Q_ref(p_j)
 *                   applied to both fields (strictly greater). Contingency table:
 *                   a = ref>T & test>T (hits), b = ref<=T & test>T (false alarms),
 *                   c = ref>T & test<=T (misses), d = ref<=T & test<=T (correct negatives);
 *                   H = a/(a+c), F = b/(b+d),
 *                   SEDI = (ln F - ln H - ln(1-F) + ln(1-H)) / (ln F + ln H + ln(1-F) + ln(1-H)).
 *                   Clamp: SEDI is undefined at H or F in {0, 1}, so H is clamped to
 *                   [1/(2(a+c)), 1 - 1/(2(a+c))] and F to [1/(2(b+d)), 1 - 1/(2(b+d))] (half a
 *                   count, the usual continuity correction; e.g. H = 1, F = 0 with 10 events in
 *                   100 points would give 0.986). Exception: b = c = 0 (every event and
 *                   non-event reproduced) is exactly 1 and a = d = 0 exactly -1, the limits of
 *                   SEDI as (H, F) -> (1, 0) and (0, 1). NaN when a+c = 0 (no value of ref
 *                   exceeds T_j, e.g. a constant field) or b+d = 0. Range [-1, 1], 1 = perfect.
 */
#ifndef CZ_METRICS_H
#define CZ_METRICS_H

#include "common/cz_common.h"

#define MET_NQ 4
/* The quantile levels of sedi[] and rqe[], in this order. */
#define MET_QUANTILES {0.90, 0.95, 0.98, 0.995}

typedef struct met_field_view {   /* one channel or a stack of channels of the same grid */
    const float *ref, *test;      /* n = nch*ny*nx values each, C order (ch, y, x) */
    const uint8_t *miss;          /* NULL or n flags; nonzero = excluded */
    const double *lat;            /* ny latitudes (deg, in [-90, 90]) or NULL = unweighted */
    size_t nch, ny, nx;
} met_field_view;

typedef struct met_stats {
    size_t n_valid;        /* valid points (see READ ME FIRST) */
    size_t n_nonfinite;    /* valid points where test is NaN or inf (a failure, see above) */
    double range;          /* max - min of ref over valid points */
    double rmse, nrmse;    /* nrmse = rmse / range */
    double lat_rmse;       /* latitude-weighted, weights cos(lat) normalised to mean 1 */
    double max_abs_error, mean_error, psnr; /* psnr = 20 log10(range / rmse), dB */
    double sedi[MET_NQ];   /* at the 90/95/98/99.5 % quantiles of ref (threshold applied to both) */
    double rqe[MET_NQ];    /* (Q_test - Q_ref) / |Q_ref| at the same 4 levels */
} met_stats;

/*! met_compare() : statistics of the whole view (all channels together).
 *  v : ref/test/miss are nch*ny*nx values, lat is ny values or NULL.
 *  @return CLIMZ_OK and *out filled; CLIMZ_ERR_INVALID_ARG (NULL pointer, ref not finite at a
 *  valid point, latitude outside [-90, 90]), CLIMZ_ERR_DIMENSION (a zero dim or n overflows),
 *  CLIMZ_ERR_EMPTY (no valid point), CLIMZ_ERR_ALLOC. Temporary memory: 8 bytes per valid point. */
climz_status met_compare(const met_field_view *v, met_stats *out);

/*! met_compare_channels() : the same per channel; per_ch has v->nch entries.
 *  @return as met_compare(), CLIMZ_ERR_EMPTY only when no channel has a valid point. */
climz_status met_compare_channels(const met_field_view *v, met_stats *per_ch);

/*! met_bound_violations() : counts valid points with |test - ref| > max_abs_error (a NaN or inf
 *  in test counts as a violation); *first = index of the first (SIZE_MAX when none). Either
 *  output may be NULL. For checking the error-bounded mode on every point.
 *  @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG, CLIMZ_ERR_DIMENSION. */
climz_status met_bound_violations(const met_field_view *v, double max_abs_error, size_t *count,
                                  size_t *first);

/*! met_check_view() : checks v (pointers, dims, latitudes) as every met_* function does;
 *  *n = nch*ny*nx. @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG, CLIMZ_ERR_DIMENSION. */
climz_status met_check_view(const met_field_view *v, size_t *n);

/* SEDI of a 2x2 contingency table (a hits, b false alarms, c misses, d correct negatives)
 * with the clamp and the exceptions defined above; NaN when a+c = 0 or b+d = 0. */
double met_sedi(size_t a, size_t b, size_t c, size_t d);

/* Compression ratio against float32: 4 * n_values_f32 / compressed_bytes (IEEE division:
 * +inf for 0 bytes). */
double met_ratio(size_t n_values_f32, size_t compressed_bytes);
/* 8 * compressed_bytes / n_values (bits per value; "bpsp" when values are sub-pixels). */
double met_bits_per_value(size_t n_values, size_t compressed_bytes);

#endif /* CZ_METRICS_H */
