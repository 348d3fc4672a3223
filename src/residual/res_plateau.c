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
 * machine): p moves towards the bit by (target - p) * floor(2^16 / (n + 1)) >> 16, n
 * counting the context's bits up to RES_PM_WARM, so it starts as a running frequency and
 * ends as an exponential average.
 */
#include "residual/res_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RES_PM_NCTX 32      /* point bits: W, N, NW, NE and the plane before */
#define RES_PM_TCTX 27      /* tile types: W, N and the plane before (3 x 3 x 3) */
#define RES_PM_TILE 4       /* tiles of 4 x 4 points of a plane */
#define RES_PM_WARM 30      /* rate 1 / (n + 1) for the first bits of a context, then 1/31 */
#define RES_PM_PMIN 64      /* probabilities stay in [PMIN, 2^16 - PMIN] */

enum { RES_TILE_NONE = 0, RES_TILE_ALL = 1, RES_TILE_MIXED = 2 };

typedef struct res_pm {
    uint32_t p[RES_PM_NCTX + 2 * RES_PM_TCTX]; /* probability of a 1, scale 2^16 */
    uint8_t n[RES_PM_NCTX + 2 * RES_PM_TCTX];  /* bits seen (saturating at RES_PM_WARM) */
    ent_aenc *enc;  /* encoder, or ... */
    ent_adec *dec;  /* ... decoder */
} res_pm;

static void res_pm_init(res_pm *m, ent_aenc *enc, ent_adec *dec) {
    for (int c = 0; c < RES_PM_NCTX + 2 * RES_PM_TCTX; c++) m->p[c] = 1u << 15;
    memset(m->n, 0, sizeof m->n);
    m->enc = enc;
    m->dec = dec;
}

/* Codes (encoder) or decodes (decoder) *bit in model c, and adapts the model. */
static inline climz_status res_pm_bit(res_pm *m, int c, int *bit) {
    if (m->dec) CZ_FORWARD(ent_adec_get_bit(m->dec, m->p[c], bit));
    else CZ_FORWARD(ent_aenc_put_bit(m->enc, m->p[c], *bit));
    /* rate 1 / (n + 1) as a multiply: 2^16 / (n + 1), n = 1..RES_PM_WARM (no division) */
    static const uint32_t rate[RES_PM_WARM + 1] = {
        0,    32768, 21845, 16384, 13107, 10922, 9362, 8192, 7281, 6553, 5957,
        5461, 5041,  4681,  4369,  4096,  3855,  3640, 3449, 3276, 3120, 2978,
        2849, 2730,  2621,  2520,  2427,  2340,  2259, 2184, 2114};
    if (m->n[c] < RES_PM_WARM) m->n[c]++;
    int32_t const p = (int32_t)m->p[c];
    uint32_t const r = rate[m->n[c]];
    int32_t q = *bit ? p + (int32_t)(((uint32_t)(65536 - p) * r) >> 16) : p - (int32_t)(((uint32_t)p * r) >> 16);
    q = q < RES_PM_PMIN ? RES_PM_PMIN : q > 65536 - RES_PM_PMIN ? 65536 - RES_PM_PMIN : q;
    m->p[c] = (uint32_t)q;
    return CLIMZ_OK;
}

/* Context of point (k, j, l) from the map bits already known (0 where missing / outside). */
static inline int res_pm_ctx(const uint8_t *pmap, size_t i, size_t k, size_t j, size_t l,
                             size_t n1, size_t n2) {
    int const hx = l > 0, hy = j > 0, hr = hy && l + 1 < n2;
    return (hx ? pmap[i - 1] : 0) | (hy ? pmap[i - n2] : 0) << 1 | (hx && hy ? pmap[i - n2 - 1] : 0) << 2 |
           (hr ? pmap[i - n2 + 1] : 0) << 3 | (k > 0 ? pmap[i - n1 * n2] : 0) << 4;
}

/* The map of one (n0, n1, n2) block, coded (pmap given, dec NULL) or decoded into pmap.
 * Each plane: first the type of every 4 x 4 tile (none / all of its valid points on the
 * plateau / mixed; tiles without valid points have none) as the bits "mixed?" and, if not,
 * "all?", in contexts of the types of the tiles west, north and in the plane before; then,
 * in raster order, the bit of every valid point of a mixed tile. Uniform areas (open water,
 * land, pack ice) thus cost a fraction of a bit per 16 points, and the decoder's work is
 * mostly the mixed tiles along the edges. ttype: scratch of 2 * tiles-per-plane bytes.
 * Decoder: pmap must be all 0 on entry; the encoder's pmap is only read. */
static climz_status res_pm_run(res_pm *m, uint8_t *pmap, const uint8_t *miss, size_t n0, size_t n1,
                               size_t n2, uint8_t *ttype) {
    size_t const ty = (n1 + RES_PM_TILE - 1) / RES_PM_TILE, tx = (n2 + RES_PM_TILE - 1) / RES_PM_TILE;
    size_t const nt = ty * tx, plane = n1 * n2;
    for (size_t k = 0; k < n0; k++) {
        uint8_t *const tt = ttype + (k & 1) * nt, *const tprev = ttype + ((k + 1) & 1) * nt;
        uint8_t *const pm = pmap + k * plane;
        const uint8_t *const ms = miss ? miss + k * plane : NULL;
        for (size_t a = 0; a < ty; a++)
            for (size_t b = 0; b < tx; b++) {
                size_t const j1 = (a + 1) * RES_PM_TILE < n1 ? (a + 1) * RES_PM_TILE : n1;
                size_t const l1 = (b + 1) * RES_PM_TILE < n2 ? (b + 1) * RES_PM_TILE : n2;
                size_t nv = (j1 - a * RES_PM_TILE) * (l1 - b * RES_PM_TILE), np = 0;
                if (ms || !m->dec) { /* the decoder without a mask needs no scan */
                    nv = 0;
                    for (size_t j = a * RES_PM_TILE; j < j1; j++)
                        for (size_t l = b * RES_PM_TILE; l < l1; l++) {
                            size_t const i = j * n2 + l;
                            if (ms && ms[i]) continue;
                            nv++;
                            np += pm[i]; /* (decoder: 0) */
                        }
                }
                size_t const t = a * tx + b;
                tt[t] = RES_TILE_NONE;
                if (nv == 0) continue;
                int const c = (b ? tt[t - 1] : 0) + 3 * (a ? tt[t - tx] : 0) + 9 * (k ? tprev[t] : 0);
                int mixed = np > 0 && np < nv, all = np == nv;
                CZ_FORWARD(res_pm_bit(m, RES_PM_NCTX + c, &mixed));
                if (!mixed) CZ_FORWARD(res_pm_bit(m, RES_PM_NCTX + RES_PM_TCTX + c, &all));
                tt[t] = (uint8_t)(mixed ? RES_TILE_MIXED : all ? RES_TILE_ALL : RES_TILE_NONE);
                if (m->dec && all && !mixed) /* (pmap starts all 0) */
                    for (size_t j = a * RES_PM_TILE; j < j1; j++)
                        for (size_t l = b * RES_PM_TILE; l < l1; l++)
                            pm[j * n2 + l] = (uint8_t)!(ms && ms[j * n2 + l]);
            }
        for (size_t j = 0; j < n1; j++) { /* raster order, visiting the mixed tiles only */
            const uint8_t *const trow = tt + (j / RES_PM_TILE) * tx;
            for (size_t c = 0; c < tx; c++) {
                if (trow[c] != RES_TILE_MIXED) continue;
                size_t const l1 = (c + 1) * RES_PM_TILE < n2 ? (c + 1) * RES_PM_TILE : n2;
                for (size_t l = c * RES_PM_TILE; l < l1; l++) {
                    size_t const i = j * n2 + l;
                    if (ms && ms[i]) continue;
                    int bit = pm[i];
                    CZ_FORWARD(res_pm_bit(m, res_pm_ctx(pmap, k * plane + i, k, j, l, n1, n2), &bit));
                    if (m->dec) pm[i] = (uint8_t)bit;
                }
            }
        }
    }
    return CLIMZ_OK;
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
    res_pm_init(&m, enc, NULL);
    size_t const nt = ((n1 + RES_PM_TILE - 1) / RES_PM_TILE) * ((n2 + RES_PM_TILE - 1) / RES_PM_TILE);
    uint8_t *tt = cz_malloc(2 * nt);
    CZ_RETURN_IF(!tt, CLIMZ_ERR_ALLOC, "residual codec: out of memory for the plateau map");
    /* res_pm_run writes to pmap only when decoding */
    climz_status const st = res_pm_run(&m, (uint8_t *)(uintptr_t)pmap, miss, n0, n1, n2, tt);
    free(tt);
    return st;
}

climz_status res_plateau_get(ent_adec *dec, uint8_t *pmap, const uint8_t *miss, size_t n0,
                             size_t n1, size_t n2) {
    res_pm m;
    res_pm_init(&m, NULL, dec);
    memset(pmap, 0, n0 * n1 * n2);
    size_t const nt = ((n1 + RES_PM_TILE - 1) / RES_PM_TILE) * ((n2 + RES_PM_TILE - 1) / RES_PM_TILE);
    uint8_t *tt = cz_malloc(2 * nt);
    CZ_RETURN_IF(!tt, CLIMZ_ERR_ALLOC, "residual codec: out of memory for the plateau map");
    climz_status const st = res_pm_run(&m, pmap, miss, n0, n1, n2, tt);
    free(tt);
    return st;
}
