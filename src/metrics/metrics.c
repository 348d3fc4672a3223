/* metrics.c — see metrics.h for the definitions and the contract. */
#include "metrics/metrics.h"
#include "metrics/sort.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double met_q_levels[MET_NQ] = MET_QUANTILES;

double met_sedi(size_t a, size_t b, size_t c, size_t d) {
    if (a + c == 0 || b + d == 0) return NAN;
    if (b == 0 && c == 0) return 1.0;  /* the limit at (H, F) = (1, 0), not the clamped 0.98 */
    if (a == 0 && d == 0) return -1.0; /* the limit at (H, F) = (0, 1) */
    double const ne = (double)(a + c), nn = (double)(b + d);
    double H = (double)a / ne, F = (double)b / nn;
    /* half a count keeps every log finite: SEDI -> 1 for a perfect forecast, not 0/0 */
    double const hlo = 0.5 / ne, flo = 0.5 / nn;
    if (H < hlo) H = hlo;
    if (H > 1.0 - hlo) H = 1.0 - hlo;
    if (F < flo) F = flo;
    if (F > 1.0 - flo) F = 1.0 - flo;
    double const lf = log(F), lh = log(H), l1f = log1p(-F), l1h = log1p(-H);
    return (lf - lh - l1f + l1h) / (lf + lh + l1f + l1h);
}

/* ---- checks ----------------------------------------------------------------------------- */

climz_status met_check_view(const met_field_view *v, size_t *n) {
    CZ_RETURN_IF(v == NULL || v->ref == NULL || v->test == NULL, CLIMZ_ERR_INVALID_ARG,
                 "metrics: NULL view or data pointer");
    CZ_RETURN_IF(v->nch == 0 || v->ny == 0 || v->nx == 0, CLIMZ_ERR_DIMENSION,
                 "metrics: zero dimension (nch %zu, ny %zu, nx %zu)", v->nch, v->ny, v->nx);
    size_t plane;
    CZ_RETURN_IF(!cz_mul_ok(v->ny, v->nx, &plane) || !cz_mul_ok(plane, v->nch, n),
                 CLIMZ_ERR_DIMENSION, "metrics: %zu x %zu x %zu values overflow size_t", v->nch,
                 v->ny, v->nx);
    if (v->lat) {
        for (size_t y = 0; y < v->ny; y++)
            CZ_RETURN_IF(!(v->lat[y] >= -90.0 && v->lat[y] <= 90.0), CLIMZ_ERR_INVALID_ARG,
                         "metrics: latitude %g of row %zu is outside [-90, 90]", v->lat[y], y);
    }
    return CLIMZ_OK;
}

static void met_set_nan(met_stats *s) {
    s->n_valid = 0;
    s->n_nonfinite = 0;
    s->range = s->rmse = s->nrmse = s->lat_rmse = NAN;
    s->max_abs_error = s->mean_error = s->psnr = NAN;
    for (int j = 0; j < MET_NQ; j++) s->sedi[j] = s->rqe[j] = NAN;
}

/* ---- one block of nch contiguous channels ----------------------------------------------- */

/* ref, test, miss: nch*ny*nx (miss may be NULL); lat: ny or NULL (already checked).
 * Returns CLIMZ_ERR_EMPTY (with *out all NaN) when no point is valid. */
static climz_status met_compare_block(const float *ref, const float *test, const uint8_t *miss,
                                      const double *lat, size_t nch, size_t ny, size_t nx,
                                      met_stats *out) {
    size_t n_valid = 0, n_bad = 0;
    double sum_sq = 0.0, sum_e = 0.0, wsum_sq = 0.0, wsum = 0.0, max_abs = 0.0;
    double rmin = INFINITY, rmax = -INFINITY;

    met_set_nan(out);
    /* pass 1: moments, row by row so the lat weight multiplies a row sum */
    for (size_t c = 0; c < nch; c++) {
        for (size_t y = 0; y < ny; y++) {
            size_t const row = (c * ny + y) * nx;
            double row_sq = 0.0, row_e = 0.0;
            size_t row_n = 0;
            for (size_t x = 0; x < nx; x++) {
                size_t const i = row + x;
                if (miss && miss[i]) continue;
                double const r = ref[i], t = test[i];
                CZ_RETURN_IF(!isfinite(r), CLIMZ_ERR_INVALID_ARG,
                             "metrics: reference is %g at valid point %zu (mark it missing)", r,
                             i);
                if (r < rmin) rmin = r;
                if (r > rmax) rmax = r;
                n_valid++;
                if (!isfinite(t)) {
                    n_bad++;
                    continue;
                }
                double const e = t - r, ae = fabs(e);
                row_sq += e * e;
                row_e += e;
                row_n++;
                if (ae > max_abs) max_abs = ae;
            }
            sum_sq += row_sq;
            sum_e += row_e;
            if (lat && row_n) {
                double w = cos(lat[y] * (3.14159265358979323846 / 180.0));
                if (w < 0.0) w = 0.0;
                wsum_sq += w * row_sq;
                wsum += w * (double)row_n;
            }
        }
    }
    if (n_valid == 0) return cz_error(CLIMZ_ERR_EMPTY, "metrics: no valid point");

    out->n_valid = n_valid;
    out->n_nonfinite = n_bad;
    out->range = rmax - rmin;
    if (n_bad) { /* a decoding failure: make every error figure say so (see metrics.h) */
        out->rmse = out->nrmse = out->lat_rmse = out->max_abs_error = INFINITY;
        out->psnr = -INFINITY;
        return CLIMZ_OK; /* mean_error, sedi, rqe stay NaN */
    }
    double const N = (double)n_valid;
    out->rmse = sqrt(sum_sq / N);
    out->mean_error = sum_e / N;
    out->max_abs_error = max_abs;
    out->lat_rmse = lat ? (wsum > 0.0 ? sqrt(wsum_sq / wsum) : NAN) : out->rmse;
    if (out->rmse == 0.0) {
        out->nrmse = 0.0;
        out->psnr = INFINITY;
    } else {
        out->nrmse = out->range > 0.0 ? out->rmse / out->range : INFINITY;
        out->psnr = out->range > 0.0 ? 20.0 * log10(out->range / out->rmse) : -INFINITY;
    }

    /* quantiles: exact sorts of the valid values of each field */
    size_t const n = nch * ny * nx;
    uint32_t *keys = cz_malloc(n_valid * sizeof *keys), *tmp = cz_malloc(n_valid * sizeof *tmp);
    if (!keys || !tmp) {
        free(keys);
        free(tmp);
        return cz_error(CLIMZ_ERR_ALLOC, "metrics: no memory for %zu sort keys", n_valid);
    }
    double qref[MET_NQ], qtest[MET_NQ];
    for (int f = 0; f < 2; f++) {
        const float *const src = f == 0 ? ref : test;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!(miss && miss[i])) keys[k++] = met_key(src[i]);
        const uint32_t *const sorted = met_radix_sort(keys, tmp, n_valid);
        for (int j = 0; j < MET_NQ; j++)
            (f == 0 ? qref : qtest)[j] = met_quantile_sorted(sorted, n_valid, met_q_levels[j]);
    }
    free(keys);
    free(tmp);

    /* pass 2: contingency tables of "value > Q_ref(p_j)" */
    size_t tab[MET_NQ][4] = {{0}};
    for (size_t i = 0; i < n; i++) {
        if (miss && miss[i]) continue;
        double const r = ref[i], t = test[i];
        for (int j = 0; j < MET_NQ; j++) {
            int const re = r > qref[j], te = t > qref[j];
            tab[j][re ? (te ? 0 : 2) : (te ? 1 : 3)]++;
        }
    }
    for (int j = 0; j < MET_NQ; j++) {
        out->sedi[j] = met_sedi(tab[j][0], tab[j][1], tab[j][2], tab[j][3]);
        double const d = qtest[j] - qref[j];
        out->rqe[j] = qref[j] != 0.0 ? d / fabs(qref[j]) : (d == 0.0 ? 0.0 : copysign(INFINITY, d));
    }
    return CLIMZ_OK;
}

climz_status met_compare(const met_field_view *v, met_stats *out) {
    size_t n;
    CZ_RETURN_IF(out == NULL, CLIMZ_ERR_INVALID_ARG, "metrics: NULL output");
    met_set_nan(out);
    CZ_FORWARD(met_check_view(v, &n));
    return met_compare_block(v->ref, v->test, v->miss, v->lat, v->nch, v->ny, v->nx, out);
}

climz_status met_compare_channels(const met_field_view *v, met_stats *per_ch) {
    size_t n;
    CZ_RETURN_IF(per_ch == NULL, CLIMZ_ERR_INVALID_ARG, "metrics: NULL output");
    CZ_FORWARD(met_check_view(v, &n));
    size_t const plane = v->ny * v->nx;
    size_t nonempty = 0;
    for (size_t c = 0; c < v->nch; c++) {
        size_t const o = c * plane;
        climz_status const s = met_compare_block(v->ref + o, v->test + o, v->miss ? v->miss + o : NULL,
                                                 v->lat, 1, v->ny, v->nx, &per_ch[c]);
        if (s == CLIMZ_ERR_EMPTY) continue; /* per_ch[c] is all NaN with n_valid 0 */
        if (s != CLIMZ_OK) return cz_error_prefix(s, "channel %zu", c);
        nonempty++;
    }
    CZ_RETURN_IF(nonempty == 0, CLIMZ_ERR_EMPTY, "metrics: no valid point in any of %zu channels",
                 v->nch);
    return CLIMZ_OK;
}

climz_status met_bound_violations(const met_field_view *v, double max_abs_error, size_t *count,
                                  size_t *first) {
    size_t n, cnt = 0, fst = SIZE_MAX;
    if (count) *count = 0;
    if (first) *first = SIZE_MAX;
    CZ_FORWARD(met_check_view(v, &n));
    CZ_RETURN_IF(!(max_abs_error >= 0.0), CLIMZ_ERR_INVALID_ARG, "metrics: bound %g < 0",
                 max_abs_error);
    for (size_t i = 0; i < n; i++) {
        if (v->miss && v->miss[i]) continue;
        /* written so that NaN in either field counts as a violation */
        if (!(fabs((double)v->test[i] - (double)v->ref[i]) <= max_abs_error)) {
            if (cnt++ == 0) fst = i;
        }
    }
    if (count) *count = cnt;
    if (first) *first = fst;
    return CLIMZ_OK;
}

double met_ratio(size_t n_values_f32, size_t compressed_bytes) {
    return 4.0 * (double)n_values_f32 / (double)compressed_bytes;
}

double met_bits_per_value(size_t n_values, size_t compressed_bytes) {
    return 8.0 * (double)compressed_bytes / (double)n_values;
}
