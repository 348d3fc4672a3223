/* inr_context.c — context helpers of the CA-INR codec: scaling to [-1, 1] and the time-mean
 * climatology of a field (inr.h). */
#include "inr/inr.h"

#include <math.h>
#include <stdlib.h>

climz_status inr_context_scale(float *dst, const float *src, const uint8_t *miss, size_t n) {
    CZ_RETURN_IF(!dst || (!src && n), CLIMZ_ERR_INVALID_ARG, "inr_context_scale: NULL array");
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float const v = src[i];
        if ((miss && miss[i]) || !isfinite(v)) continue;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    /* 2 (v - lo) / (hi - lo) - 1 in double: exact inputs, IEEE operations, one rounding */
    double const span = (double)hi - (double)lo;
    for (size_t i = 0; i < n; i++) {
        float const v = src[i];
        if ((miss && miss[i]) || !isfinite(v) || !(span > 0)) dst[i] = 0.0f;
        else dst[i] = (float)(2.0 * ((double)v - (double)lo) / span - 1.0);
    }
    return CLIMZ_OK;
}

climz_status inr_climatology(const cz_field *f, float *clim) {
    CZ_RETURN_IF(!f || !f->values || !clim, CLIMZ_ERR_INVALID_ARG, "inr_climatology: NULL argument");
    size_t plane, vol;
    CZ_RETURN_IF(!cz_mul_ok(f->ny, f->nx, &plane) || !cz_mul_ok(f->nz, plane, &vol),
                 CLIMZ_ERR_DIMENSION, "inr_climatology: size overflows");
    CZ_RETURN_IF(vol == 0 || f->nt == 0, CLIMZ_ERR_EMPTY, "inr_climatology: empty field");
    double sum_all = 0;
    size_t n_all = 0;
    for (size_t i = 0; i < vol; i++) {
        double s = 0;
        size_t k = 0;
        for (size_t t = 0; t < f->nt; t++) {
            size_t const j = t * vol + i;
            if (f->miss && f->miss[j]) continue;
            s += (double)f->values[j];
            k++;
        }
        clim[i] = k ? (float)(s / (double)k) : NAN;
        if (k) sum_all += (double)clim[i], n_all++;
    }
    CZ_RETURN_IF(n_all == 0, CLIMZ_ERR_EMPTY, "inr_climatology: no valid point");
    float const fill = (float)(sum_all / (double)n_all);
    for (size_t i = 0; i < vol; i++)
        if (isnan(clim[i])) clim[i] = fill;
    return CLIMZ_OK;
}
