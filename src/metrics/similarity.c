/* similarity.c — Pearson correlation and SSIM of each 2-D field (fidelity.h). */
#include "metrics/fidelity.h"

#include <math.h>
#include <stdlib.h>

#define SSIM_R 3                 /* window radius: 7 x 7 */
#define SSIM_W (2 * SSIM_R + 1)
#define SSIM_C1 (0.01 * 0.01)    /* (K1 L)^2, L = 1 after scaling by the range */
#define SSIM_C2 (0.03 * 0.03)    /* (K2 L)^2 */

static inline int is_miss(const uint8_t *miss, size_t i) { return miss && miss[i]; }

/* Adds a field's figure (if defined) to the running mean and minimum. */
static void per_field_add(met_per_field *o, double *sum, double f) {
    if (isnan(f)) return;
    *sum += f;
    if (o->n_fields++ == 0 || f < o->min) o->min = f;
}

static void per_field_finish(met_per_field *o, double sum, int failed) {
    if (failed || o->n_fields == 0) {
        o->mean = o->min = NAN;
        return;
    }
    o->mean = sum / (double)o->n_fields;
}

/* Scans a field's valid points: ref must be finite; *nonfinite = test is not somewhere;
 * the reference's min and max. @return the number of valid points. */
static climz_status field_scan(const float *ref, const float *test, const uint8_t *miss, size_t np,
                               size_t *nvalid, int *nonfinite, double *rmin, double *rmax) {
    size_t nv = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < np; i++) {
        if (is_miss(miss, i)) continue;
        double const r = ref[i];
        CZ_RETURN_IF(!isfinite(r), CLIMZ_ERR_INVALID_ARG,
                     "similarity: reference is %g at a valid point (mark it missing)", r);
        if (!isfinite(test[i])) *nonfinite = 1;
        if (r < lo) lo = r;
        if (r > hi) hi = r;
        nv++;
    }
    *nvalid = nv;
    *rmin = lo;
    *rmax = hi;
    return CLIMZ_OK;
}

/* ---- correlation ------------------------------------------------------------------------ */

climz_status met_field_correlation(const met_field_view *v, met_per_field *out) {
    size_t n;
    CZ_RETURN_IF(out == NULL, CLIMZ_ERR_INVALID_ARG, "correlation: NULL output");
    out->n_fields = 0;
    out->mean = out->min = NAN;
    CZ_FORWARD(met_check_view(v, &n));
    size_t const np = v->ny * v->nx;
    double sum = 0.0;
    int failed = 0;
    for (size_t c = 0; c < v->nch; c++) {
        const float *const r = v->ref + c * np, *const t = v->test + c * np;
        const uint8_t *const m = v->miss ? v->miss + c * np : NULL;
        size_t nv;
        double lo, hi;
        CZ_FORWARD(field_scan(r, t, m, np, &nv, &failed, &lo, &hi));
        if (failed) break;
        if (nv == 0) continue;
        double mr = 0.0, mt = 0.0; /* two passes: the means, then the centred sums */
        for (size_t i = 0; i < np; i++)
            if (!is_miss(m, i)) {
                mr += r[i];
                mt += t[i];
            }
        mr /= (double)nv;
        mt /= (double)nv;
        double srr = 0.0, stt = 0.0, srt = 0.0;
        for (size_t i = 0; i < np; i++) {
            if (is_miss(m, i)) continue;
            double const a = r[i] - mr, b = t[i] - mt;
            srr += a * a;
            stt += b * b;
            srt += a * b;
        }
        per_field_add(out, &sum, srr > 0.0 && stt > 0.0 ? srt / sqrt(srr * stt) : NAN);
    }
    per_field_finish(out, sum, failed);
    return CLIMZ_OK;
}

/* ---- SSIM ------------------------------------------------------------------------------- */

/* Row r of the fields, scaled (x - lo) * scale and filtered along the row by g: the window
 * sums of x, y, xx, yy, xy and the missing count for every centre x0 <= cx < nx - R, into
 * h[0..5] (nx values each, indexed by cx). */
static void ssim_row(const float *r, const float *t, const uint8_t *miss, size_t row, size_t nx, double lo,
                     double scale, const double g[SSIM_W], double *const h[6]) {
    for (size_t cx = SSIM_R; cx < nx - SSIM_R; cx++) {
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, sm = 0;
        for (int d = -SSIM_R; d <= SSIM_R; d++) {
            size_t const i = row * nx + (size_t)((ptrdiff_t)cx + d);
            int const ms = is_miss(miss, i);
            /* a missing point counts as 0: the window that holds it is not used */
            double const w = g[d + SSIM_R], a = ms ? 0.0 : ((double)r[i] - lo) * scale,
                         b = ms ? 0.0 : ((double)t[i] - lo) * scale;
            sx += w * a;
            sy += w * b;
            sxx += w * a * a;
            syy += w * b * b;
            sxy += w * a * b;
            sm += ms;
        }
        h[0][cx] = sx;
        h[1][cx] = sy;
        h[2][cx] = sxx;
        h[3][cx] = syy;
        h[4][cx] = sxy;
        h[5][cx] = sm;
    }
}

/* SSIM of one field pair (ny x nx, ny and nx >= 7), NaN without a window. ring: 6 * 7 * nx
 * doubles, the row-filtered sums of the 7 rows of the current window (a ring, so memory is
 * O(nx) whatever the field's size). */
static double ssim_field(const float *r, const float *t, const uint8_t *miss, size_t ny, size_t nx, double lo,
                         double scale, const double g[SSIM_W], double *ring) {
    double sum = 0.0;
    size_t nwin = 0;
    for (size_t row = 0; row < ny; row++) {
        double *h[6];
        for (int q = 0; q < 6; q++) h[q] = ring + ((size_t)q * SSIM_W + row % SSIM_W) * nx;
        ssim_row(r, t, miss, row, nx, lo, scale, g, h);
        if (row < SSIM_W - 1) continue;
        size_t const cy = row - SSIM_R; /* the window rows cy - R .. cy + R = row are in the ring */
        for (size_t cx = SSIM_R; cx < nx - SSIM_R; cx++) {
            double mx = 0, my = 0, exx = 0, eyy = 0, exy = 0, sm = 0;
            for (int d = -SSIM_R; d <= SSIM_R; d++) {
                size_t const o = ((size_t)((ptrdiff_t)cy + d) % SSIM_W) * nx + cx;
                double const w = g[d + SSIM_R];
                mx += w * ring[o];
                my += w * ring[SSIM_W * nx + o];
                exx += w * ring[2 * SSIM_W * nx + o];
                eyy += w * ring[3 * SSIM_W * nx + o];
                exy += w * ring[4 * SSIM_W * nx + o];
                sm += ring[5 * SSIM_W * nx + o];
            }
            if (sm > 0) continue; /* the window holds a missing point */
            double const vx = exx - mx * mx, vy = eyy - my * my, cxy = exy - mx * my;
            sum += ((2.0 * mx * my + SSIM_C1) * (2.0 * cxy + SSIM_C2)) /
                   ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2));
            nwin++;
        }
    }
    return nwin ? sum / (double)nwin : NAN;
}

climz_status met_field_ssim(const met_field_view *v, met_per_field *out) {
    size_t n;
    CZ_RETURN_IF(out == NULL, CLIMZ_ERR_INVALID_ARG, "ssim: NULL output");
    out->n_fields = 0;
    out->mean = out->min = NAN;
    CZ_FORWARD(met_check_view(v, &n));
    size_t const np = v->ny * v->nx;
    double g[SSIM_W], gs = 0.0;
    for (int d = -SSIM_R; d <= SSIM_R; d++) gs += g[d + SSIM_R] = exp(-(double)(d * d) / (2.0 * 1.5 * 1.5));
    for (int d = 0; d < SSIM_W; d++) g[d] /= gs;
    if (v->ny < SSIM_W || v->nx < SSIM_W) { /* no window fits: undefined, not an error */
        per_field_finish(out, 0.0, 0);
        return CLIMZ_OK;
    }
    double *ring = cz_malloc(6 * SSIM_W * v->nx * sizeof *ring);
    if (!ring) return cz_error(CLIMZ_ERR_ALLOC, "ssim: out of memory for rows of %zu", v->nx);
    climz_status st = CLIMZ_OK;
    double sum = 0.0;
    int failed = 0;
    for (size_t c = 0; c < v->nch && !failed; c++) {
        const float *const r = v->ref + c * np, *const t = v->test + c * np;
        const uint8_t *const m = v->miss ? v->miss + c * np : NULL;
        size_t nv;
        double lo, hi;
        st = field_scan(r, t, m, np, &nv, &failed, &lo, &hi);
        if (st) break;
        if (failed || nv == 0) continue;
        double const scale = hi > lo ? 1.0 / (hi - lo) : 1.0;
        per_field_add(out, &sum, ssim_field(r, t, m, v->ny, v->nx, lo, scale, g, ring));
    }
    free(ring);
    if (st) return st;
    per_field_finish(out, sum, failed);
    return CLIMZ_OK;
}
