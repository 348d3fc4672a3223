/*
 * res_plateau.c — the plateau map of RES_MODE_PLATEAU: fields such as sea-ice fraction or
 * precipitation sit exactly at one value (0: open water, land, dry) over much of the grid,
 * with sharp edges to the rest. A predictor that runs across such an edge leaves large bins
 * on both sides of it. Plateau mode instead sends a one-bit map "this point decodes to the
 * plateau value c" and codes the other points with the ordinary lossy traversal, the map's
 * points being treated as missing (they neither cost bins nor feed predictions).
 *
 * Shapes: x, miss, pmap are (n0, n1, n2) in C order (x fastest).
 *
 * The map is coded in raster order, one bit per valid point (missing points have none), in
 * the residual stream's own rANS stream before the bins. Context of a bit: the map bits of
 * the west, north, north-west and north-east neighbours of its plane and, in 3-D blocks, of
 * the same point in the plane before (missing or outside: 0) — 32 contexts. Each context
 * keeps an adaptive probability of a 1 at scale 2^16, integer-only (bit-identical on every
 * machine): p += (target - p) / (n + 1), n counting the context's bits up to
 * RES_PM_WARM, so it starts as a running frequency and ends as an exponential average.
 */
#include "residual/res_internal.h"

#include <math.h>
#include <string.h>

#define RES_PM_NCTX 32
#define RES_PM_WARM 30      /* rate 1 / (n + 1) for the first bits of a context, then 1/31 */
#define RES_PM_PMIN 64      /* probabilities stay in [PMIN, 2^16 - PMIN] */

typedef struct res_pm {
    uint32_t p[RES_PM_NCTX]; /* probability of a 1 (plateau point), scale 2^16 */
    uint8_t n[RES_PM_NCTX];
} res_pm;

static void res_pm_init(res_pm *m) {
    for (int c = 0; c < RES_PM_NCTX; c++) m->p[c] = 1u << 15;
    memset(m->n, 0, sizeof m->n);
}

static inline void res_pm_update(res_pm *m, int c, int bit) {
    if (m->n[c] < RES_PM_WARM) m->n[c]++;
    int32_t const p = (int32_t)m->p[c], div = m->n[c] + 1;
    int32_t q = bit ? p + (65536 - p) / div : p - p / div;
    q = q < RES_PM_PMIN ? RES_PM_PMIN : q > 65536 - RES_PM_PMIN ? 65536 - RES_PM_PMIN : q;
    m->p[c] = (uint32_t)q;
}

/* Context of point (k, j, l) from the map bits already known (0 where missing / outside). */
static inline int res_pm_ctx(const uint8_t *pmap, size_t i, size_t k, size_t j, size_t l,
                             size_t n1, size_t n2) {
    int const hx = l > 0, hy = j > 0, hr = hy && l + 1 < n2;
    return (hx ? pmap[i - 1] : 0) | (hy ? pmap[i - n2] : 0) << 1 | (hx && hy ? pmap[i - n2 - 1] : 0) << 2 |
           (hr ? pmap[i - n2 + 1] : 0) << 3 | (k > 0 ? pmap[i - n1 * n2] : 0) << 4;
}

size_t res_plateau_pick(const float *x, const uint8_t *miss, size_t N, double E, float *c) {
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < N; i++) {
        if (miss && miss[i]) continue;
        if (x[i] < lo) lo = x[i]; /* NaN compares false */
        if (x[i] > hi) hi = x[i];
    }
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi)) return 0;
    size_t nlo = 0, nhi = 0;
    for (size_t i = 0; i < N; i++) {
        if (miss && miss[i]) continue;
        nlo += fabs((double)x[i] - (double)lo) <= E;
        nhi += fabs((double)x[i] - (double)hi) <= E;
    }
    *c = nlo >= nhi ? lo : hi;
    return nlo >= nhi ? nlo : nhi;
}

void res_plateau_map(const float *x, const uint8_t *miss, size_t N, double E, float c,
                     uint8_t *pmap) {
    for (size_t i = 0; i < N; i++)
        pmap[i] = (uint8_t)((!miss || !miss[i]) && fabs((double)x[i] - (double)c) <= E);
}

climz_status res_plateau_put(ent_aenc *enc, const uint8_t *pmap, const uint8_t *miss, size_t n0,
                             size_t n1, size_t n2) {
    res_pm m;
    res_pm_init(&m);
    for (size_t k = 0, i = 0; k < n0; k++)
        for (size_t j = 0; j < n1; j++)
            for (size_t l = 0; l < n2; l++, i++) {
                if (miss && miss[i]) continue;
                int const c = res_pm_ctx(pmap, i, k, j, l, n1, n2);
                CZ_FORWARD(ent_aenc_put_bit(enc, m.p[c], pmap[i]));
                res_pm_update(&m, c, pmap[i]);
            }
    return CLIMZ_OK;
}

climz_status res_plateau_get(ent_adec *dec, uint8_t *pmap, const uint8_t *miss, size_t n0,
                             size_t n1, size_t n2) {
    res_pm m;
    res_pm_init(&m);
    for (size_t k = 0, i = 0; k < n0; k++)
        for (size_t j = 0; j < n1; j++)
            for (size_t l = 0; l < n2; l++, i++) {
                if (miss && miss[i]) {
                    pmap[i] = 0;
                    continue;
                }
                int const c = res_pm_ctx(pmap, i, k, j, l, n1, n2);
                int bit;
                CZ_FORWARD(ent_adec_get_bit(dec, m.p[c], &bit));
                pmap[i] = (uint8_t)bit;
                res_pm_update(&m, c, bit);
            }
    return CLIMZ_OK;
}
