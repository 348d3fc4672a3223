/* error_tail.c — the far tail of the absolute error (fidelity.h): a learned codec's RMSE can
 * hide a few points many times further off, which these figures show. */
#include "metrics/fidelity.h"
#include "metrics/sort.h"

#include <math.h>
#include <stdlib.h>

climz_status met_error_tail_of(const met_field_view *v, met_error_tail *out) {
    size_t n;
    CZ_RETURN_IF(out == NULL, CLIMZ_ERR_INVALID_ARG, "error tail: NULL output");
    out->n_valid = 0;
    out->p999 = out->p9999 = out->max = out->rmse = out->frac_beyond_5rmse = NAN;
    CZ_FORWARD(met_check_view(v, &n));
    size_t nv = 0, nbad = 0;
    double sum_sq = 0.0, max = 0.0;
    for (size_t i = 0; i < n; i++) { /* pass 1: count, rmse (the same order as metrics.c's) */
        if (v->miss && v->miss[i]) continue;
        double const r = v->ref[i], t = v->test[i];
        CZ_RETURN_IF(!isfinite(r), CLIMZ_ERR_INVALID_ARG,
                     "error tail: reference is %g at valid point %zu (mark it missing)", r, i);
        nv++;
        if (!isfinite(t)) {
            nbad++;
            continue;
        }
        double const e = fabs(t - r);
        sum_sq += e * e;
        if (e > max) max = e;
    }
    CZ_RETURN_IF(nv == 0, CLIMZ_ERR_EMPTY, "error tail: no valid point");
    out->n_valid = nv;
    if (nbad) { /* a decoding failure: the maximum says so, the rest is undefined */
        out->max = out->rmse = INFINITY;
        return CLIMZ_OK;
    }
    out->max = max;
    out->rmse = sqrt(sum_sq / (double)nv);
    uint32_t *keys = cz_malloc(nv * sizeof *keys), *tmp = cz_malloc(nv * sizeof *tmp);
    if (!keys || !tmp) {
        free(keys);
        free(tmp);
        return cz_error(CLIMZ_ERR_ALLOC, "error tail: no memory for %zu sort keys", nv);
    }
    double const lim = 5.0 * out->rmse;
    size_t k = 0, beyond = 0;
    for (size_t i = 0; i < n; i++) { /* pass 2: the sort keys and the count beyond 5 rmse */
        if (v->miss && v->miss[i]) continue;
        double const e = fabs((double)v->test[i] - (double)v->ref[i]);
        beyond += e > lim;
        keys[k++] = met_key((float)e);
    }
    const uint32_t *const sorted = met_radix_sort(keys, tmp, nv);
    out->p999 = met_quantile_sorted(sorted, nv, 0.999);
    out->p9999 = met_quantile_sorted(sorted, nv, 0.9999);
    out->frac_beyond_5rmse = out->rmse > 0.0 ? (double)beyond / (double)nv : 0.0;
    free(keys);
    free(tmp);
    return CLIMZ_OK;
}
