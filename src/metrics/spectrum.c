/* spectrum.c — zonal power spectra of the decoded and the original fields (fidelity.h). */
#include "metrics/fidelity.h"
#include "metrics/fft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MET_PI 3.14159265358979323846

int met_lon_periodic(const double *lon, size_t nx) {
    if (!lon || nx < 4) return 0;
    double const d = (lon[nx - 1] - lon[0]) / (double)(nx - 1);
    if (!(fabs(d) > 0.0)) return 0;
    for (size_t x = 1; x < nx; x++)
        if (!(fabs((lon[x] - lon[x - 1]) - d) <= 0.01 * fabs(d))) return 0;
    return fabs((double)nx * fabs(d) - 360.0) <= 0.1 * fabs(d);
}

void met_spectrum_free(met_spectrum *s) {
    if (!s) return;
    free(s->e_ref);
    free(s->e_test);
    free(s->ratio);
    memset(s, 0, sizeof *s);
}

/* Removes the least-squares line a + b (j - c) from row x (n >= 2), c = (n-1)/2. */
static void detrend(double *x, size_t n) {
    double const c = 0.5 * (double)(n - 1);
    double sx = 0.0, sjx = 0.0, sjj = 0.0;
    for (size_t j = 0; j < n; j++) {
        double const dj = (double)j - c;
        sx += x[j];
        sjx += dj * x[j];
        sjj += dj * dj;
    }
    double const a = sx / (double)n, b = sjx / sjj;
    for (size_t j = 0; j < n; j++) x[j] -= a + b * ((double)j - c);
}

/* Adds w * c_k * norm * power of a row to e (nk values). */
static void accumulate(double *e, const double *pw, double w, double norm, size_t nx, size_t nk) {
    for (size_t k = 0; k < nk; k++) e[k] += w * ((k == 0 || 2 * k == nx) ? norm : 2.0 * norm) * pw[k];
}

climz_status met_zonal_spectrum(const met_field_view *v, int periodic, met_spectrum *out) {
    size_t n;
    CZ_RETURN_IF(out == NULL, CLIMZ_ERR_INVALID_ARG, "spectrum: NULL output");
    memset(out, 0, sizeof *out);
    CZ_FORWARD(met_check_view(v, &n));
    size_t const nx = v->nx, nk = nx / 2 + 1;
    /* a Hann window of 2 or 3 points keeps at most one point: 4 is the least that means anything */
    CZ_RETURN_IF(nx < 4, CLIMZ_ERR_DIMENSION, "spectrum: rows of %zu points, need 4 or more", nx);
    climz_status st = CLIMZ_OK;
    met_fft *plan = NULL;
    /* rows go through the FFT in pairs of the same field (x + i y): row a waits for row b;
     * the reference's pair and the decoded field's pair take the same operations, so
     * identical fields give identical spectra, bit for bit */
    double *buf = cz_malloc((5 * nx + 4 * nk) * sizeof *buf);
    out->e_ref = cz_calloc(nk, sizeof *out->e_ref);
    out->e_test = cz_calloc(nk, sizeof *out->e_test);
    out->ratio = cz_malloc(nk * sizeof *out->ratio);
    if (!buf || !out->e_ref || !out->e_test || !out->ratio)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "spectrum: out of memory for rows of %zu", nx);
    double *const ra = buf, *const ta = ra + nx, *const rb = ta + nx, *const tb = rb + nx, *const win = tb + nx;
    double *const pra = win + nx, *const prb = pra + nk, *const pta = prb + nk, *const ptb = pta + nk;
    CZ_CHECK_GOTO(st, met_fft_create(nx, &plan), done);
    out->nk = nk;
    out->periodic = periodic != 0;

    double wsq = 0.0; /* sum of the window's squares: n for periodic rows */
    for (size_t j = 0; j < nx; j++) {
        win[j] = periodic ? 1.0 : 0.5 * (1.0 - cos(2.0 * MET_PI * (double)j / (double)(nx - 1)));
        wsq += win[j] * win[j];
    }
    double const norm = 1.0 / ((double)nx * wsq);
    double wsum = 0.0, wa = 0.0;
    int pending = 0;
    for (size_t c = 0; c < v->nch; c++) {
        for (size_t y = 0; y < v->ny; y++) {
            size_t const row = (c * v->ny + y) * nx;
            double *const xr = pending ? rb : ra, *const xt = pending ? tb : ta;
            int skip = 0, bad = 0;
            for (size_t x = 0; x < nx; x++) {
                size_t const i = row + x;
                if (v->miss && v->miss[i]) {
                    skip = 1;
                    break;
                }
                if (!isfinite(v->ref[i]))
                    CZ_FAIL_GOTO(st, done, CLIMZ_ERR_INVALID_ARG,
                                 "spectrum: reference is %g at valid point %zu (mark it missing)",
                                 (double)v->ref[i], i);
                xr[x] = v->ref[i];
                xt[x] = v->test[i];
                bad |= !isfinite(xt[x]);
            }
            if (skip) {
                out->rows_skipped++;
                continue;
            }
            if (bad) { /* a decoding failure: counted, and it poisons nothing else */
                out->n_nonfinite++;
                continue;
            }
            if (!periodic) {
                detrend(xr, nx);
                detrend(xt, nx);
                for (size_t j = 0; j < nx; j++) {
                    xr[j] *= win[j];
                    xt[j] *= win[j];
                }
            }
            double w = 1.0;
            if (v->lat) {
                w = cos(v->lat[y] * (MET_PI / 180.0));
                if (w < 0.0) w = 0.0;
            }
            wsum += w;
            out->rows_used++;
            if (!pending) {
                wa = w;
                pending = 1;
                continue;
            }
            met_fft_power2(plan, ra, rb, pra, prb);
            met_fft_power2(plan, ta, tb, pta, ptb);
            accumulate(out->e_ref, pra, wa, norm, nx, nk);
            accumulate(out->e_test, pta, wa, norm, nx, nk);
            accumulate(out->e_ref, prb, w, norm, nx, nk);
            accumulate(out->e_test, ptb, w, norm, nx, nk);
            pending = 0;
        }
    }
    if (pending) { /* the last row alone, paired with zeros */
        for (size_t j = 0; j < nx; j++) rb[j] = tb[j] = 0.0;
        met_fft_power2(plan, ra, rb, pra, prb);
        met_fft_power2(plan, ta, tb, pta, ptb);
        accumulate(out->e_ref, pra, wa, norm, nx, nk);
        accumulate(out->e_test, pta, wa, norm, nx, nk);
    }
    if (out->rows_used == 0)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_EMPTY,
                     "spectrum: no row without missing or non-finite points (%zu skipped)",
                     out->rows_skipped + out->n_nonfinite);
    double emax = 0.0;
    for (size_t k = 0; k < nk; k++) {
        if (wsum > 0.0) {
            out->e_ref[k] /= wsum;
            out->e_test[k] /= wsum;
        }
        out->ratio[k] = out->e_ref[k] > 0.0 ? out->e_test[k] / out->e_ref[k] : NAN;
        if (k > 0 && out->e_ref[k] > emax) emax = out->e_ref[k];
    }
    out->max_abs_log_ratio = NAN;
    for (size_t k = 1; k < nk; k++) {
        if (!(out->e_ref[k] > 1e-12 * emax) || emax == 0.0) continue;
        double const l = fabs(log(out->ratio[k]));
        if (out->n_resolved++ == 0 || l > out->max_abs_log_ratio) {
            out->max_abs_log_ratio = l;
            out->k_max_abs_log = k;
        }
        if (out->k_below_090 == 0 && out->ratio[k] < 0.9) out->k_below_090 = k;
    }
done:
    met_fft_free(plan);
    free(buf);
    if (st) { /* nothing allocated is left, the row counts stay (CLIMZ_ERR_EMPTY says why) */
        size_t const skipped = out->rows_skipped, nonfinite = out->n_nonfinite;
        met_spectrum_free(out);
        out->rows_skipped = skipped;
        out->n_nonfinite = nonfinite;
    }
    return st;
}
