/*
 * res_kernels.c — prediction + quantisation traversals of the lossy residual codec.
 *
 * Shapes: every array is (n0, n1, n2) = (nz, ny, nx) in C order; index i = (k*n1 + j)*n2 + l.
 * "Domain" value r = x - base (base = pred or prev), or r = x without a reference field.
 *
 * LORENZO / ZERO (raster order), dual quantisation: every value is first quantised on its
 * own, v = round(r / step) (an integer), and the integer v is predicted from decoded
 * integers by 3-D Lorenzo with zeros outside the block (ZERO: predicted as 0); the bin is
 * v - prediction, exact. Decoded x' = base + (float)(v * step). Same bins as classic Lorenzo
 * on decoded floats (its decoded values are multiples of the step too), but no float
 * feedback loop: the encoder has no serial dependency and the decoder's is one integer add.
 *
 * LINEAR / CUBIC: SZ3-style multilevel interpolation on decoded floats w. Level l (stride
 * s = 2^(l-1)) starts with every point whose coordinates are all multiples of 2s decoded,
 * then predicts, axis after axis (order 1: z, y, x; order 2: x, y, z), the points at odd
 * multiples of s along that axis from their neighbours at +-s (linear) or +-s, +-3s (cubic,
 * -1 9 9 -1 / 16; one-sided quadratic 3 6 -1 / 8 near an edge; the last point of an axis
 * extrapolates linearly from -s, -3s). After the last axis every point at multiples of s is
 * decoded. Point 0 is predicted as 0. Work goes line by line (predictions of a line first,
 * then its quantisation, then its contexts), which keeps the loops short and branch-light.
 * Planar modes run the 2-D scheme on each z plane: plain (the anchor of plane k predicted
 * by that of plane k-1), on x - (decoded plane k-1) (pdiff 1), or in hierarchical z order
 * on x - (mean of the decoded planes k -+ s) (pdiff 2, B-frames of a sort).
 * q = round((r - pred) / step), w' = pred + q * step in float.
 *
 * Both: the encoder keeps a bin only if |x - x'| <= E holds in double on the value the
 * decoder will build, else it codes RES_UNPRED and stores x raw.
 *
 * Contexts (decoder-derivable, res_ctx_init): buckets of sums of mag[] = min(|bin|, 15) of
 * neighbours already coded, and for interpolation the level group (stride 1, 2, >= 4).
 * Missing points count as 0, plateau points (miss code R->pcode) as RES_MAG_PLATEAU: the
 * points beside a plateau's edge have larger bins than those beside the caller's mask.
 */
#include "residual/res_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* The decoder must rebuild every float bit for bit on any build: forbid fusing a * b + c
 * into an FMA even in GNU dialects or with clang's default (-ffp-contract=on). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__GNUC__)
#define RES_INLINE static inline __attribute__((always_inline))
#else
#define RES_INLINE static inline
#endif

static int res_is_interp_pred(int p) { return p == RES_PRED_LINEAR || p == RES_PRED_CUBIC; }

/* nearest integer of |t| < 2^30, halves away from zero; branch-free (the sign of a
 * prediction error is a coin toss for the branch predictor) */
RES_INLINE int32_t res_round(float t) { return (int32_t)(t + copysignf(0.5f, t)); }

int res_levels(size_t n0, size_t n1, size_t n2) {
    size_t m = n0 > n1 ? n0 : n1;
    if (n2 > m) m = n2;
    int L = 0;
    while (L < 63 && ((size_t)1 << L) < m) L++;
    return L;
}

void res_level_steps(float step0, int alpha16, int beta, int L, float *steps) {
    float const alpha = (float)alpha16 / 16.f, b = (float)beta;
    float f = 1.f;
    steps[0] = step0;
    for (int l = 1; l <= L && l <= RES_MAX_LEVELS; l++) {
        steps[l] = step0 / (f < b ? f : b);
        f = f * alpha;
    }
}

/* Context schemes. A context is (level group, bucket of sum a, bucket of sum e), with
 * interpolation: a = mags of the previous points of the line and of the previous line,
 * e = mags of the two end points; Lorenzo/zero: a = left + up (+ below), e = up-left +
 * up-right (no level group). Scheme 0: 3 groups x 6 x 6 (b6 buckets); 1: 3 x 4 x 3;
 * 2: 2 x 3 x 2. */
int res_ctx_init(res_run *R, int predictor, int scheme) {
    static const uint8_t na[RES_NSCHEME] = {6, 4, 3}, ne[RES_NSCHEME] = {6, 3, 2}, ng[RES_NSCHEME] = {3, 3, 2};
    static const uint8_t ea[RES_NSCHEME][10] = {
        {0, 1, 2, 3, 3, 4, 4, 4, 4, 5}, {0, 1, 2, 3, 3, 3, 3, 3, 3, 3}, {0, 1, 2, 2, 2, 2, 2, 2, 2, 2}};
    static const uint8_t ee[RES_NSCHEME][10] = {
        {0, 1, 2, 3, 3, 4, 4, 4, 4, 5}, {0, 0, 1, 1, 1, 2, 2, 2, 2, 2}, {0, 0, 0, 1, 1, 1, 1, 1, 1, 1}};
    if (scheme < 0 || scheme >= RES_NSCHEME) scheme = 0;
    R->scheme = scheme;
    for (int v = 0; v < 64; v++) {
        R->cta[v] = ea[scheme][v < 9 ? v : 9];
        R->cte[v] = ee[scheme][v < 9 ? v : 9];
    }
    R->cne = ne[scheme];
    R->cgroup = na[scheme] * ne[scheme];
    R->nlg = res_is_interp_pred(predictor) ? ng[scheme] : 1;
    return R->nlg * R->cgroup;
}

int res_scheme_for(size_t n) { return n >= ((size_t)1 << 18) ? 0 : n >= ((size_t)1 << 14) ? 1 : 2; }

RES_INLINE uint8_t res_mag(int64_t q) {
    uint64_t const a = (uint64_t)(q < 0 ? -q : q);
    return (uint8_t)(a < RES_MAG_MAX ? a : RES_MAG_MAX);
}

/* ---- shared by both kernels ------------------------------------------------------------- */

static void res_put(res_run *R, int ctx, int32_t q) {
    climz_status const s = ent_aenc_put(R->enc, ctx, q);
    if (s != CLIMZ_OK && R->err == CLIMZ_OK) R->err = s;
}

/* The encoder's bin goes to the trial histograms h, or (h NULL) to the entropy coder. */
RES_INLINE void res_sink(res_run *R, res_hist *h, int ctx, int32_t q) {
    if (h) {
        uint32_t const u = ((uint32_t)q << 1) ^ (0u - ((uint32_t)q >> 31)); /* zigzag */
        if (u < ENT_A_DIRECT) {
            h->c[ctx][u]++;
        } else {
            int const k = 31 - __builtin_clz(u - ENT_A_DIRECT + 1);
            h->c[ctx][ENT_A_DIRECT + k]++;
            h->extra += k + (q == RES_UNPRED ? 32 : 0);
        }
        return;
    }
    res_put(R, ctx, q);
}

static void res_push_raw(res_run *R, float xv) {
    if (R->hist) return;
    if (R->nraw == R->raw_cap) {
        size_t const cap = R->raw_cap ? 2 * R->raw_cap : 256;
        float *f = cz_realloc(R->raw, cap * sizeof *f);
        if (!f) {
            R->err = cz_error(CLIMZ_ERR_ALLOC, "residual codec: out of memory");
            return;
        }
        R->raw = f;
        R->raw_cap = cap;
    }
    R->raw[R->nraw++] = xv;
}

/* Decoder: the next raw value; 0 after an error (recorded in R->err). */
static float res_pull_raw(res_run *R) {
    if (R->raw_left == 0) {
        if (R->err == CLIMZ_OK)
            R->err = cz_error(CLIMZ_ERR_CORRUPT, "residual stream: more raw points than stored");
        return 0.f;
    }
    uint32_t const u = cz_load_le32(R->rawp);
    float xv;
    memcpy(&xv, &u, 4);
    R->rawp += 4;
    R->raw_left--;
    return xv;
}

/* Decoder: the next bin; 0 after an error. */
RES_INLINE int32_t res_pull_bin(res_run *R, int ctx) {
    int32_t q;
    climz_status const s = ent_adec_get(R->dec, ctx, &q);
    if (s != CLIMZ_OK) {
        R->err = s;
        return 0;
    }
    if (q != RES_UNPRED && (q < -RES_QMAX || q > RES_QMAX)) {
        R->err = cz_error(CLIMZ_ERR_CORRUPT, "residual stream: bin %ld out of range", (long)q);
        return 0;
    }
    return q;
}

/* ---- Lorenzo / zero, dual quantisation ----------------------------------------------------- */

/* v of a raw value: round(r / step) when it fits, else the prediction; both sides agree. */
RES_INLINE int32_t res_vraw(float rv, float inv, int64_t pred) {
    float const t = rv * inv;
    if (fabsf(t) < (float)RES_VMAX) return res_round(t);
    return (int32_t)(pred > RES_VMAX ? RES_VMAX : pred < -RES_VMAX ? -RES_VMAX : pred);
}

RES_INLINE void res_raster_body(res_run *R, int dec, int hasbase) {
    size_t const n0 = R->n0, n1 = R->n1, n2 = R->n2, nxy = n1 * n2;
    float const step = R->steps[1], inv = 1.f / step;
    double const dstep = step, E = R->E;
    int const lor = R->predictor == RES_PRED_LORENZO;
    const float *const x = R->x, *const base = R->base;
    const uint8_t *const miss = R->miss;
    float *const out = R->out;
    int32_t *const v = R->v;
    uint8_t *const mag = R->mag;
    res_hist *const hist = R->hist;
    const uint8_t *const cta = R->cta, *const cte = R->cte;
    int const cne = R->cne;
    for (size_t k = 0; k < n0; k++) {
        for (size_t j = 0; j < n1; j++) {
            size_t const row = (k * n1 + j) * n2;
            int const hy = j > 0, hz = k > 0;
            for (size_t l = 0; l < n2; l++) {
                size_t const i = row + l;
                int const hx = l > 0, hr = hy && l + 1 < n2;
                int64_t pred = 0;
                if (lor) {
                    /* the terms without v[i-1] first: the decoder's chain is one add */
                    int64_t const a2 = hy ? v[i - n2] : 0;
                    int64_t const a3 = hz ? v[i - nxy] : 0;
                    int64_t const a4 = hx && hy ? v[i - n2 - 1] : 0;
                    int64_t const a5 = hx && hz ? v[i - nxy - 1] : 0;
                    int64_t const a6 = hy && hz ? v[i - nxy - n2] : 0;
                    int64_t const a7 = hx && hy && hz ? v[i - nxy - n2 - 1] : 0;
                    pred = (a2 + a3 - a4 - a5 - a6 + a7) + (hx ? v[i - 1] : 0);
                }
                if (miss && miss[i]) {
                    v[i] = (int32_t)(pred > RES_VMAX ? RES_VMAX : pred < -RES_VMAX ? -RES_VMAX : pred);
                    mag[i] = miss[i] == R->pcode ? RES_MAG_PLATEAU : 0;
                    out[i] = 0.f;
                    continue;
                }
                unsigned const ca = (hx ? mag[i - 1] : 0u) + (hy ? mag[i - n2] : 0u) + (hz ? mag[i - nxy] : 0u);
                unsigned const cb = (hx && hy ? mag[i - n2 - 1] : 0u) + (hr ? mag[i - n2 + 1] : 0u);
                int const ctx = cta[ca] * cne + cte[cb];
                if (!dec) {
                    float const xv = x[i];
                    float const rv = hasbase ? xv - base[i] : xv;
                    float const t = rv * inv;
                    if (fabsf(t) < (float)RES_VMAX) { /* false for NaN and inf */
                        int32_t const q = res_round(t);
                        int64_t const b = (int64_t)q - pred;
                        float const xr = hasbase ? base[i] + (float)((double)q * dstep) : (float)((double)q * dstep);
                        if (b >= -RES_QMAX && b <= RES_QMAX && fabs((double)xv - (double)xr) <= E) {
                            v[i] = q;
                            mag[i] = res_mag(b);
                            out[i] = xr;
                            res_sink(R, hist, ctx, (int32_t)b);
                            continue;
                        }
                    }
                    res_sink(R, hist, ctx, RES_UNPRED);
                    res_push_raw(R, xv);
                    v[i] = res_vraw(rv, inv, pred);
                    mag[i] = RES_MAG_MAX;
                    out[i] = xv;
                } else {
                    int32_t const b = R->err == CLIMZ_OK ? res_pull_bin(R, ctx) : 0;
                    if (b == RES_UNPRED) {
                        float const xv = res_pull_raw(R);
                        v[i] = res_vraw(hasbase ? xv - base[i] : xv, inv, pred);
                        mag[i] = RES_MAG_MAX;
                        out[i] = xv;
                        continue;
                    }
                    int64_t q = pred + b;
                    if (q > RES_VMAX || q < -RES_VMAX) { /* only a corrupt stream gets here */
                        if (R->err == CLIMZ_OK) R->err = cz_error(CLIMZ_ERR_CORRUPT, "residual stream: value out of range");
                        q = 0;
                    }
                    v[i] = (int32_t)q;
                    mag[i] = res_mag(b);
                    out[i] = hasbase ? base[i] + (float)((double)q * dstep) : (float)((double)q * dstep);
                }
            }
            if (R->err != CLIMZ_OK) return;
        }
    }
}

static void res_raster_e0(res_run *R) { res_raster_body(R, 0, 0); }
static void res_raster_e1(res_run *R) { res_raster_body(R, 0, 1); }
static void res_raster_d0(res_run *R) { res_raster_body(R, 1, 0); }
static void res_raster_d1(res_run *R) { res_raster_body(R, 1, 1); }

/* ---- multilevel interpolation ----------------------------------------------------------- */

RES_INLINE float res_sane(float pd) { return fabsf(pd) <= FLT_MAX ? pd : 0.f; }

/* The arrays of one (sub-)block, in locals so that stores through mag[] do not force
 * reloads of the pointers. */
typedef struct res_hot {
    const float *x, *base;
    const uint8_t *miss;
    float *w, *out;
    uint8_t *mag;
    size_t off;      /* index of this block's point 0 in the whole array (for res_fix) */
    double E;
    res_hist *hist;
} res_hot;

/* A point stored raw: its domain value, kept finite so that it can feed predictions. */
RES_INLINE void res_set_raw(res_run *R, const res_hot *H, size_t i, float xv, float pd, int hasbase) {
    float const wr = hasbase ? xv - H->base[i] : xv;
    H->mag[i] = RES_MAG_MAX;
    if (fabsf(wr) <= FLT_MAX) {
        H->w[i] = wr;
        if (H->w != H->out) H->out[i] = xv;
        return;
    }
    H->w[i] = pd;
    if (H->w != H->out) {
        H->out[i] = xv;
        return;
    }
    if (R->nfix == R->fix_cap) { /* rare: NaN/inf values not flagged missing */
        size_t const cap = R->fix_cap ? 2 * R->fix_cap : 64;
        res_fix *f = cz_realloc(R->fix, cap * sizeof *f);
        if (!f) {
            R->err = cz_error(CLIMZ_ERR_ALLOC, "residual codec: out of memory");
            return;
        }
        R->fix = f;
        R->fix_cap = cap;
    }
    R->fix[R->nfix].i = H->off + i;
    R->fix[R->nfix++].v = xv;
}

#define RES_LMISS INT32_MIN /* line bin of a missing point: nothing to code */

/* Encoder, one line of m points at i = i0 + j * inc with predictions pd[j]: quantises,
 * stores w/out/mag and the bins in lq[] (RES_LMISS for missing points). */
RES_INLINE void res_line_quant(res_run *R, const res_hot *H, size_t i0, size_t inc, size_t m,
                               const float *pd, int32_t *lq, float step, float inv, int hasbase) {
    const float *const x = H->x, *const base = H->base;
    const uint8_t *const miss = H->miss;
    float *const w = H->w, *const out = H->out;
    uint8_t *const mag = H->mag;
    int const alias = w == out;
    double const E = H->E;
    for (size_t j = 0; j < m; j++) {
        size_t const i = i0 + j * inc;
        float const p = res_sane(pd[j]);
        if (miss && miss[i]) {
            w[i] = p;
            if (!alias) out[i] = 0.f;
            mag[i] = miss[i] == R->pcode ? RES_MAG_PLATEAU : 0;
            lq[j] = RES_LMISS;
            continue;
        }
        float const xv = x[i];
        float const rv = hasbase ? xv - base[i] : xv;
        float const t = (rv - p) * inv;
        if (fabsf(t) < (float)RES_QMAX) { /* false for NaN and inf */
            int32_t const q = res_round(t);
            float const wr = p + (float)q * step;
            float const xr = hasbase ? base[i] + wr : wr;
            if (fabs((double)xv - (double)xr) <= E) {
                w[i] = wr;
                if (!alias) out[i] = xr;
                mag[i] = res_mag(q);
                lq[j] = q;
                continue;
            }
        }
        lq[j] = RES_UNPRED;
        res_push_raw(R, xv);
        res_set_raw(R, H, i, xv, p, hasbase);
    }
}

/* Context of point i of a pass: pa = mag of the previous point of the line (-inc) and of
 * the previous line (-prow); e = mags of the interpolation end points (-sd, +sd if r1). */
RES_INLINE int res_ictx(const res_run *R, const uint8_t *mag, size_t i, int hasl, size_t inc,
                        size_t prow, size_t sd, int r1, int cbase) {
    unsigned const e1 = mag[i - sd], e2 = r1 ? mag[i + sd] : e1;
    unsigned const pa = (hasl ? mag[i - inc] : 0u) + (prow ? mag[i - prow] : 0u);
    return cbase + R->cta[pa] * R->cne + R->cte[e1 + e2];
}

/* Decoder, one line: pulls the bins and rebuilds w/out/mag. r1[j] as in res_ictx: for a
 * pass along x it changes only at the last point (rlast = index from which r1 is 0). */
RES_INLINE void res_line_dec(res_run *R, const res_hot *H, size_t i0, size_t inc, size_t m,
                             const float *pd, float step, size_t prow, size_t sd, size_t rlast,
                             int cbase, int hasbase) {
    const float *const base = H->base;
    const uint8_t *const miss = H->miss;
    float *const w = H->w, *const out = H->out;
    uint8_t *const mag = H->mag;
    int const alias = w == out;
    for (size_t j = 0; j < m; j++) {
        size_t const i = i0 + j * inc;
        float const p = res_sane(pd[j]);
        if ((miss && miss[i]) || R->err != CLIMZ_OK) {
            w[i] = p;
            if (!alias) out[i] = 0.f;
            mag[i] = miss && miss[i] == R->pcode ? RES_MAG_PLATEAU : 0;
            continue;
        }
        int32_t const q = res_pull_bin(R, res_ictx(R, mag, i, j > 0, inc, prow, sd, j < rlast, cbase));
        if (q == RES_UNPRED) {
            res_set_raw(R, H, i, res_pull_raw(R), p, hasbase);
            continue;
        }
        float const wr = p + (float)q * step;
        w[i] = wr;
        if (!alias) out[i] = hasbase ? base[i] + wr : wr;
        mag[i] = res_mag(q);
    }
}

/* Predictions of a line along y or z (the edge case is the same for every point): the end
 * points of point j are at w[i -+ sd], w[i -+ 3 sd], i = i0 + j * inc. */
static void res_pred_yz(const float *w, size_t i0, size_t inc, size_t m, size_t sd, int r1,
                        int l3, int r3, int cubic, float *pd) {
    const float *const B = w + i0 - sd;
    if (!r1) {
        if (l3) {
            const float *const A = w + i0 - 3 * sd;
            for (size_t j = 0; j < m; j++) pd[j] = 1.5f * B[j * inc] - 0.5f * A[j * inc];
        } else {
            for (size_t j = 0; j < m; j++) pd[j] = B[j * inc];
        }
        return;
    }
    const float *const C = w + i0 + sd;
    if (cubic && l3 && r3) {
        const float *const A = w + i0 - 3 * sd, *const D = w + i0 + 3 * sd;
        for (size_t j = 0; j < m; j++)
            pd[j] = (9.f * (B[j * inc] + C[j * inc]) - (A[j * inc] + D[j * inc])) * 0.0625f;
    } else if (cubic && r3) {
        const float *const D = w + i0 + 3 * sd;
        for (size_t j = 0; j < m; j++) pd[j] = (3.f * B[j * inc] + 6.f * C[j * inc] - D[j * inc]) * 0.125f;
    } else if (cubic && l3) {
        const float *const A = w + i0 - 3 * sd;
        for (size_t j = 0; j < m; j++) pd[j] = (6.f * B[j * inc] + 3.f * C[j * inc] - A[j * inc]) * 0.125f;
    } else {
        for (size_t j = 0; j < m; j++) pd[j] = 0.5f * (B[j * inc] + C[j * inc]);
    }
}

/* Prediction of one point along x at coordinate k (odd multiple of s), row start r. */
RES_INLINE float res_pred_x1(const float *w, size_t r, size_t k, size_t s, size_t n2, int cubic) {
    float const b = w[r + k - s];
    if (k + s >= n2) return k >= 3 * s ? 1.5f * b - 0.5f * w[r + k - 3 * s] : b;
    float const c = w[r + k + s];
    if (cubic) {
        int const l3 = k >= 3 * s, r3 = k + 3 * s < n2;
        if (l3 && r3) return (9.f * (b + c) - (w[r + k - 3 * s] + w[r + k + 3 * s])) * 0.0625f;
        if (r3) return (3.f * b + 6.f * c - w[r + k + 3 * s]) * 0.125f;
        if (l3) return (6.f * b + 3.f * c - w[r + k - 3 * s]) * 0.125f;
    }
    return 0.5f * (b + c);
}

/* Predictions of the m points k = s, 3s, 5s, ... of the row starting at r. */
static void res_pred_x(const float *w, size_t r, size_t s, size_t n2, size_t m, int cubic, float *pd) {
    size_t j = 0;
    if (cubic) {
        pd[0] = res_pred_x1(w, r, s, s, n2, 1);
        /* interior: both +-3s exist */
        const float *const c0 = w + r;
        for (j = 1; j < m && s + 2 * s * j + 3 * s < n2; j++) {
            size_t const k = s + 2 * s * j;
            pd[j] = (9.f * (c0[k - s] + c0[k + s]) - (c0[k - 3 * s] + c0[k + 3 * s])) * 0.0625f;
        }
    } else {
        const float *const c0 = w + r;
        for (; j < m && s + 2 * s * j + s < n2; j++) {
            size_t const k = s + 2 * s * j;
            pd[j] = 0.5f * (c0[k - s] + c0[k + s]);
        }
    }
    for (; j < m; j++) pd[j] = res_pred_x1(w, r, s + 2 * s * j, s, n2, cubic);
}

/* One block (n0, n1, n2) with its arrays in H; anchor = prediction of point 0. */
RES_INLINE void res_interp_body(res_run *R, const res_hot *Hin, size_t n0, size_t n1, size_t n2,
                                float anchor, int dec, int hasbase) {
    res_hot const Hloc = *Hin; /* a local copy: stores through mag[] cannot change it */
    const res_hot *const H = &Hloc;
    size_t const n[3] = {n0, n1, n2};
    size_t const st[3] = {n1 * n2, n2, 1};
    int const L = res_levels(n0, n1, n2);
    int const cubic = R->predictor == RES_PRED_CUBIC;
    int const ord[3] = {R->order == 2 ? 2 : 0, 1, R->order == 2 ? 0 : 2};
    float *const pd = R->lpd;
    int32_t *const lq = R->lq;
    res_hist *const hist = H->hist;
    {
        float const step = R->steps[L > 0 ? L : 1], inv = 1.f / step;
        int const lg = L >= 3 ? 2 : L == 2 ? 1 : 0;
        int const ctx = (lg < R->nlg ? lg : R->nlg - 1) * R->cgroup;
        pd[0] = anchor;
        if (dec) {
            H->mag[0] = 0; /* the anchor's context reads it: e1 = e2 = mag[0] = 0 */
            res_line_dec(R, H, 0, 1, 1, pd, step, 0, 0, 0, ctx, hasbase);
        } else {
            res_line_quant(R, H, 0, 1, 1, pd, lq, step, inv, hasbase);
            if (lq[0] != RES_LMISS) res_sink(R, hist, ctx, lq[0]);
        }
    }
    for (int lv = L; lv >= 1; lv--) {
        size_t const s = (size_t)1 << (lv - 1);
        float const step = R->steps[lv], inv = 1.f / step;
        int const lg = lv >= 3 ? 2 : lv == 2 ? 1 : 0;
        int const cbase = (lg < R->nlg ? lg : R->nlg - 1) * R->cgroup;
        int done[3] = {0, 0, 0};
        for (int p = 0; p < 3; p++) {
            int const d = ord[p];
            if (n[d] <= s) {
                done[d] = 1;
                continue;
            }
            size_t b0[3], inc[3];
            for (int e = 0; e < 3; e++) {
                b0[e] = e == d ? s : 0;
                inc[e] = e == d ? 2 * s : done[e] ? s : 2 * s;
            }
            done[d] = 1;
            size_t const sd = s * st[d], nd = n[d], li = inc[2];
            size_t const m = (n2 - b0[2] + li - 1) / li; /* points per line */
            for (size_t i0 = b0[0]; i0 < n0; i0 += inc[0]) {
                for (size_t i1 = b0[1]; i1 < n1; i1 += inc[1]) {
                    size_t const row = i0 * st[0] + i1 * st[1];
                    size_t const prow = i1 > b0[1] ? inc[1] * st[1] : i0 > b0[0] ? inc[0] * st[0] : 0;
                    size_t rlast = m; /* r1 holds for j < rlast */
                    if (d != 2) {
                        size_t const k = d == 0 ? i0 : i1;
                        int const r1 = k + s < nd;
                        res_pred_yz(H->w, row, li, m, sd, r1, k >= 3 * s, k + 3 * s < nd, cubic, pd);
                        if (!r1) rlast = 0;
                    } else {
                        res_pred_x(H->w, row, s, n2, m, cubic, pd);
                        if (s + 2 * s * (m - 1) + s >= n2) rlast = m - 1;
                    }
                    size_t const i00 = row + b0[2];
                    if (dec) {
                        res_line_dec(R, H, i00, li, m, pd, step, prow, sd, rlast, cbase, hasbase);
                    } else {
                        res_line_quant(R, H, i00, li, m, pd, lq, step, inv, hasbase);
                        for (size_t j = 0; j < m; j++) {
                            if (lq[j] == RES_LMISS) continue;
                            size_t const i = i00 + j * li;
                            res_sink(R, hist, res_ictx(R, H->mag, i, j > 0, li, prow, sd, j < rlast, cbase), lq[j]);
                        }
                    }
                    if (R->err != CLIMZ_OK) return;
                }
            }
        }
    }
}

static void res_interp_e0(res_run *R, const res_hot *H, size_t n0, size_t n1, size_t n2, float a) {
    res_interp_body(R, H, n0, n1, n2, a, 0, 0);
}
static void res_interp_e1(res_run *R, const res_hot *H, size_t n0, size_t n1, size_t n2, float a) {
    res_interp_body(R, H, n0, n1, n2, a, 0, 1);
}
static void res_interp_d0(res_run *R, const res_hot *H, size_t n0, size_t n1, size_t n2, float a) {
    res_interp_body(R, H, n0, n1, n2, a, 1, 0);
}
static void res_interp_d1(res_run *R, const res_hot *H, size_t n0, size_t n1, size_t n2, float a) {
    res_interp_body(R, H, n0, n1, n2, a, 1, 1);
}

static void res_interp(res_run *R, int dec) {
    size_t const nxy = R->n1 * R->n2;
    if (R->lcap < R->n2) {
        float *a = cz_realloc(R->lpd, R->n2 * sizeof(float));
        if (a) R->lpd = a;
        int32_t *b = cz_realloc(R->lq, R->n2 * sizeof(int32_t));
        if (b) R->lq = b;
        if (!a || !b) {
            R->err = cz_error(CLIMZ_ERR_ALLOC, "residual codec: out of memory");
            return;
        }
        R->lcap = R->n2;
    }
    res_hot H = {R->x, R->base, R->miss, R->w, R->out, R->mag, 0, R->E, R->hist};
    if (!R->planar) {
        if (dec) (R->base ? res_interp_d1 : res_interp_d0)(R, &H, R->n0, R->n1, R->n2, 0.f);
        else (R->base ? res_interp_e1 : res_interp_e0)(R, &H, R->n0, R->n1, R->n2, 0.f);
        return;
    }
    if (R->pdiff == 2 && !R->zref) {
        R->zref = cz_malloc(nxy * sizeof(float));
        if (!R->zref) {
            R->err = cz_error(CLIMZ_ERR_ALLOC, "residual codec: out of memory");
            return;
        }
    }
    int const Lz = res_levels(R->n0, 1, 1);
    for (size_t t = 0; t < R->n0 && R->err == CLIMZ_OK; t++) {
        /* plane k of step t: in order, or hierarchical: 0, then the odd multiples of s for
         * s = 2^(Lz-1), ..., 2, 1 */
        size_t k = t;
        size_t s = 0;
        if (R->pdiff == 2 && t > 0) {
            size_t u = t; /* t-th plane after 0: find its level */
            for (int lv = Lz; lv >= 1; lv--) {
                size_t const ss = (size_t)1 << (lv - 1);
                if (ss >= R->n0) continue;
                size_t const cnt = (R->n0 - 1 - ss) / (2 * ss) + 1; /* ss, 3 ss, ... < n0 */
                if (u <= cnt) {
                    s = ss;
                    k = ss + 2 * ss * (u - 1);
                    break;
                }
                u -= cnt;
            }
        }
        size_t const o = k * nxy;
        res_hot P = {R->x ? R->x + o : NULL, NULL, R->miss ? R->miss + o : NULL, R->w + o,
                     R->out + o, R->mag + o, o, R->E, R->hist};
        float anchor = 0.f;
        if (R->pdiff == 1) {
            P.base = k ? R->out + o - nxy : NULL;
        } else if (R->pdiff == 2) {
            if (k) {
                const float *const a = R->out + o - s * nxy;
                if (k + s < R->n0) {
                    const float *const b = R->out + o + s * nxy;
                    for (size_t i = 0; i < nxy; i++) R->zref[i] = 0.5f * (a[i] + b[i]);
                } else {
                    memcpy(R->zref, a, nxy * sizeof(float));
                }
                P.base = R->zref;
            }
        } else {
            P.base = R->base ? R->base + o : NULL;
            if (k) anchor = R->w[o - nxy];
        }
        if (dec) (P.base ? res_interp_d1 : res_interp_d0)(R, &P, 1, R->n1, R->n2, anchor);
        else (P.base ? res_interp_e1 : res_interp_e0)(R, &P, 1, R->n1, R->n2, anchor);
    }
}

climz_status res_run_lossy(res_run *R, int dec) {
    R->err = CLIMZ_OK;
    R->nfix = 0;
    if (R->predictor == RES_PRED_LINEAR || R->predictor == RES_PRED_CUBIC) {
        res_interp(R, dec);
        if (R->w == R->out) { /* w aliases out: put the real values back */
            size_t const n = R->n0 * R->n1 * R->n2;
            if (R->miss)
                for (size_t i = 0; i < n; i++)
                    if (R->miss[i]) R->out[i] = 0.f;
            for (size_t k = 0; k < R->nfix; k++) R->out[R->fix[k].i] = R->fix[k].v;
        }
    } else if (dec) {
        (R->base ? res_raster_d1 : res_raster_d0)(R);
    } else {
        (R->base ? res_raster_e1 : res_raster_e0)(R);
    }
    return R->err;
}
