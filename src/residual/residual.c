/*
 * residual.c — stream format, predictor choice and entry points of the residual codec.
 *
 * Stream (little-endian; varint = LEB128):
 *   u8  0xC7                       magic
 *   u8  version << 4 | mode        version 1 for modes 0-3, 2 for mode 4 (PLATEAU, which
 *                                  decoders of version 1 refuse as a newer version)
 *   varint nz, ny, nx              checked against the caller's dims
 *   EMPTY:    nothing more (every point missing)
 *   LOSSY:    u8 predictor | domain << 4 (res_predictor, res_domain)
 *             u8 order | planes << 2 | scheme << 4: order = interpolation axis order (1 z-y-x,
 *                2 x-y-z; 0 for Lorenzo/zero), planes = 0 3-D, 1 each z plane apart, 2 each
 *                plane on the decoded plane before, 3 planes in hierarchical order on the
 *                mean of the decoded planes at -+s; scheme = context scheme (res_ctx_init)
 *             f32 step0 (bin width of the finest level), u8 alpha16, u8 beta: level l uses
 *                step0 / min((alpha16/16)^(l-1), beta), computed in float
 *             varint n_raw, varint n_entropy, the ent_aenc stream (one bin per valid point
 *                in coding order, RES_UNPRED for a raw point), n_raw f32 raw values in
 *                coding order
 *   PLATEAU:  as LOSSY, with f32 c (the plateau value) after beta; the ent_aenc stream
 *             first holds the map of the valid points that decode to c exactly (res_plateau.c:
 *             per plane, the types of 4 x 4 tiles, then a bit per valid point of the mixed
 *             ones), then the bins of the other valid points, the map's points being missing
 *             points of the traversal
 *   LOSSLESS: u8 domain, then res_lossless.c's payload to the end
 *   ZSTD:     u8 domain, then res_lossless.c's payload to the end
 * The stream must end exactly where its last part ends.
 *
 * Choice (encoder only, deterministic): candidate plans run on a sample of the block (one
 * central tile of half the extent for small blocks, else 2^k+1 tiles spread over it, about
 * N/16 points), their bins' cost is estimated from per-context empirical entropy in the
 * entropy coder's alphabet, and the cheapest wins. Stage 1 compares domains, Lorenzo and
 * the cubic interpolation in each plane structure; stage 2 tries variants of the winner.
 */
#include "residual/res_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RES_MAGIC 0xC7
#define RES_VERSION 1
#define RES_VERSION_PLATEAU 2 /* the version of RES_MODE_PLATEAU streams (new in it) */
#define RES_DEFAULT_ALPHA16 20 /* alpha = 1.25 */
#define RES_DEFAULT_BETA 2
#define RES_SAMPLE_MIN 16384 /* points of the predictor-choice sample (at least) */

/* ---- varints ---------------------------------------------------------------------------- */

/* ---- encoder state ---------------------------------------------------------------------- */

typedef struct res_plan {
    int predictor, domain, order;
    int planar, pdiff; /* interpolation: per z plane; reference of plane k: none (pdiff 0), plane
                          k - 1 (1), or z-interpolation of decoded planes, hierarchical (2) */
    int scheme;        /* context scheme */
    int plateau;       /* plateau mode: miss holds RES_MISS_PLATEAU for the map's points */
    float step0;
    int alpha16, beta;
} res_plan;

typedef struct res_opt_filter {
    int p, o; /* forced predictor / structure, 0 = free */
} res_opt_filter;

typedef struct res_enc {
    const float *x, *pred, *prev;
    const uint8_t *miss;     /* plateau mode: the caller's missing points and the map's */
    size_t n[3], N, nvalid;
    double E;
    res_options opt;
    /* plateau mode (pmap != NULL) */
    const uint8_t *pmap;     /* 1: the point decodes to plateau */
    const uint8_t *miss0;    /* the caller's missing points (NULL: none) */
    float plateau;
} res_enc;

static const float *res_base_of(const float *pred, const float *prev, int domain) {
    return domain == RES_DOM_PRED ? pred : domain == RES_DOM_PREV ? prev : NULL;
}

static void res_run_free(res_run *R) {
    free(R->raw);
    free(R->fix);
    free(R->lpd);
    free(R->lq);
    free(R->zref);
    R->zref = NULL;
    R->raw = NULL;
    R->fix = NULL;
    R->lpd = NULL;
    R->lq = NULL;
    R->nraw = R->raw_cap = R->nfix = R->fix_cap = R->lcap = 0;
}

static int res_is_interp(int predictor) {
    return predictor == RES_PRED_LINEAR || predictor == RES_PRED_CUBIC;
}

/* Does the plan need a work array (w or v) apart from out? */
static int res_needs_work(const res_plan *pl) {
    return !res_is_interp(pl->predictor) || pl->domain != RES_DOM_X || pl->pdiff;
}

/* Points R at a block; wbuf (n floats) is w or v when res_needs_work(), else w aliases out. */
static void res_run_setup(res_run *R, const res_plan *pl, const float *x, const uint8_t *miss,
                          const float *pred, const float *prev, const size_t n[3], double E,
                          float *out, float *wbuf, uint8_t *mag) {
    R->n0 = n[0];
    R->n1 = n[1];
    R->n2 = n[2];
    R->x = x;
    R->miss = miss;
    R->pcode = pl->plateau ? RES_MISS_PLATEAU : -1;
    R->base = res_base_of(pred, prev, pl->domain);
    R->predictor = pl->predictor;
    R->order = pl->order;
    R->planar = pl->planar;
    R->pdiff = pl->pdiff;
    R->E = E;
    R->out = out;
    R->w = res_needs_work(pl) ? wbuf : out;
    R->v = (int32_t *)(void *)wbuf;
    R->mag = mag;
    R->nraw = 0;
    res_level_steps(pl->step0, pl->alpha16, pl->beta, res_levels(n[0], n[1], n[2]), R->steps);
}

/* ---- cost estimate of a trial's bins ------------------------------------------------------- */

static double res_hist_bits(const res_hist *h, int nctx) {
    double bits = h->extra;
    for (int c = 0; c < nctx; c++) {
        double tot = 0;
        int used = 0;
        for (int s = 0; s < RES_HSYM; s++) {
            tot += h->c[c][s];
            used += h->c[c][s] > 0;
        }
        if (tot == 0) continue;
        for (int s = 0; s < RES_HSYM; s++)
            if (h->c[c][s]) bits += h->c[c][s] * log2(tot / h->c[c][s]);
        bits += 0.5 * used * log2(tot + 1); /* learning cost of an adaptive model */
    }
    return bits;
}

/* ---- sampling ---------------------------------------------------------------------------- */

typedef struct res_sample {
    size_t nb;              /* number of tiles */
    size_t b[3], bn;        /* tile dims, points per tile */
    float *x, *pred, *prev; /* nb * bn each (pred/prev only if given) */
    uint8_t *miss;
} res_sample;

static void res_sample_free(res_sample *S) {
    free(S->x);
    free(S->pred);
    free(S->prev);
    free(S->miss);
    memset(S, 0, sizeof *S);
}

static void res_copy_tile(float *dst, const float *src, const size_t n[3], const size_t o[3],
                          const size_t b[3]) {
    for (size_t k = 0; k < b[0]; k++)
        for (size_t j = 0; j < b[1]; j++)
            memcpy(dst + (k * b[1] + j) * b[2], src + ((o[0] + k) * n[1] + o[1] + j) * n[2] + o[2],
                   b[2] * sizeof(float));
}

/* The sample: a few tiles spread over the block (sizes 2^k + 1 so that interpolation needs
 * no extrapolation inside a tile), about N / 16 points but at least RES_SAMPLE_MIN; a block
 * of up to 4 RES_SAMPLE_MIN points is sampled by one central tile of half its extent. */
static climz_status res_sample_make(const res_enc *C, res_sample *S) {
    memset(S, 0, sizeof *S);
    int const nd = (C->n[0] > 1) + (C->n[1] > 1) + (C->n[2] > 1);
    size_t tiles[3], T = 1, want = C->N / 16;
    if (want < RES_SAMPLE_MIN) want = RES_SAMPLE_MIN;
    int const small = C->N <= 4 * RES_SAMPLE_MIN;
    size_t const B = nd >= 3 ? 33 : nd == 2 ? (want >= 4 * 129 * 129 ? 129 : 65) : 16385;
    for (int d = 0; d < 3; d++) {
        if (small) S->b[d] = C->n[d] > 16 ? (C->n[d] + 1) / 2 : C->n[d];
        else S->b[d] = C->n[d] < B ? C->n[d] : B;
        tiles[d] = C->n[d] / S->b[d];
        T *= tiles[d];
    }
    S->bn = S->b[0] * S->b[1] * S->b[2];
    S->nb = small ? 1 : (want + S->bn - 1) / S->bn;
    if (S->nb > T) S->nb = T;
    if (S->nb < 1) S->nb = 1;
    size_t const tot = S->nb * S->bn;
    S->x = cz_malloc(tot * sizeof(float));
    S->miss = C->miss ? cz_malloc(tot) : NULL;
    S->pred = C->pred ? cz_malloc(tot * sizeof(float)) : NULL;
    S->prev = C->prev ? cz_malloc(tot * sizeof(float)) : NULL;
    CZ_RETURN_IF(!S->x || (C->miss && !S->miss) || (C->pred && !S->pred) || (C->prev && !S->prev),
                 CLIMZ_ERR_ALLOC, "residual codec: out of memory for the sample");
    for (size_t t = 0; t < S->nb; t++) {
        /* tile index spread evenly over the T tiles, in (z, y, x) tile coordinates */
        size_t idx = (size_t)(((double)t + 0.5) * (double)T / (double)S->nb);
        if (idx >= T) idx = T - 1;
        size_t o[3];
        o[2] = (idx % tiles[2]) * S->b[2];
        o[1] = (idx / tiles[2] % tiles[1]) * S->b[1];
        o[0] = (idx / tiles[2] / tiles[1]) * S->b[0];
        if (small)
            for (int d = 0; d < 3; d++) o[d] = (C->n[d] - S->b[d]) / 2;
        res_copy_tile(S->x + t * S->bn, C->x, C->n, o, S->b);
        if (S->pred) res_copy_tile(S->pred + t * S->bn, C->pred, C->n, o, S->b);
        if (S->prev) res_copy_tile(S->prev + t * S->bn, C->prev, C->n, o, S->b);
        if (S->miss)
            for (size_t k = 0; k < S->b[0]; k++)
                for (size_t j = 0; j < S->b[1]; j++)
                    memcpy(S->miss + t * S->bn + (k * S->b[1] + j) * S->b[2],
                           C->miss + ((o[0] + k) * C->n[1] + o[1] + j) * C->n[2] + o[2], S->b[2]);
    }
    return CLIMZ_OK;
}

/* Estimated bits of plan pl over the sample; R has work arrays for one tile. */
static double res_trial(const res_enc *C, const res_sample *S, res_run *R, float *out, float *wbuf,
                        uint8_t *mag, const res_plan *pl) {
    int const nctx = res_ctx_init(R, pl->predictor, pl->scheme);
    memset(R->hist->c, 0, (size_t)nctx * sizeof R->hist->c[0]); /* only the rows in use */
    R->hist->extra = 0;
    for (size_t t = 0; t < S->nb; t++) {
        size_t const o = t * S->bn;
        res_run_setup(R, pl, S->x + o, S->miss ? S->miss + o : NULL, S->pred ? S->pred + o : NULL,
                      S->prev ? S->prev + o : NULL, S->b, C->E, out, wbuf, mag);
        (void)res_run_lossy(R, 0);
    }
    return res_hist_bits(R->hist, nctx);
}

/* Candidate plans of a stage of the choice: stage 1 = every domain with ZERO (reference
 * domains), LORENZO and the cubic (or the forced interpolation) in each structure;
 * stage 2 = variants of the stage-1 winner w (linear instead of cubic, axis order 2). */
static int res_candidates(const res_enc *C, int stage, const res_plan *w, res_plan *cand) {
    int const is3d = C->n[0] > 1;
    /* on a single plane the planar structures are the 3-D one */
    res_opt_filter const F = {C->opt.predictor, !is3d && C->opt.order >= 3 ? 1 : C->opt.order};
    int doms[3], nd = 0, nc = 0;
    if (C->opt.domain != RES_DOM_AUTO) {
        doms[nd++] = C->opt.domain;
    } else {
        doms[nd++] = RES_DOM_X;
        if (C->pred) doms[nd++] = RES_DOM_PRED;
        if (C->prev) doms[nd++] = RES_DOM_PREV;
    }
#define RES_ADD(P, D, O)                                                                    \
    do {                                                                                    \
        res_plan pl_ = *w;                                                                  \
        pl_.predictor = (P);                                                                \
        pl_.domain = (D);                                                                   \
        pl_.order = res_is_interp(P) ? ((O) == 2 ? 2 : 1) : 0;                              \
        pl_.planar = (O) >= 3;                                                              \
        pl_.pdiff = (O) >= 4 ? (O) - 3 : 0;                                                 \
        cand[nc++] = pl_;                                                                   \
    } while (0)
    if (stage == 1) {
        for (int a = 0; a < nd; a++) {
            int const d = doms[a];
            if ((d != RES_DOM_X && !F.p) || F.p == RES_PRED_ZERO) RES_ADD(RES_PRED_ZERO, d, 0);
            if (!F.p || F.p == RES_PRED_LORENZO) RES_ADD(RES_PRED_LORENZO, d, 0);
            int const ip = !F.p || F.p == RES_PRED_CUBIC ? RES_PRED_CUBIC : F.p == RES_PRED_LINEAR ? RES_PRED_LINEAR : 0;
            if (!ip) continue;
            for (int o = 1; o <= 5; o++) {
                if (F.o ? o != F.o : (o == 2 || (!is3d && o != 1) || (is3d && d != RES_DOM_X && o == 1))) continue;
                if (o >= 3 && !is3d) continue;
                if (o >= 4 && d != RES_DOM_X) continue;
                RES_ADD(ip, d, o);
            }
        }
    } else if (res_is_interp(w->predictor)) {
        int const o = w->planar ? 3 + w->pdiff : w->order;
        if (w->predictor == RES_PRED_CUBIC && !F.p) RES_ADD(RES_PRED_LINEAR, w->domain, o);
        if (is3d && o == 1 && !F.o) RES_ADD(w->predictor, w->domain, 2);
    }
#undef RES_ADD
    return nc;
}

static climz_status res_choose(const res_enc *C, res_plan *best) {
    res_plan cand[16];
    int nc = res_candidates(C, 1, best, cand);
    CZ_RETURN_IF(nc == 0, CLIMZ_ERR_INVALID_ARG, "residual codec: no predictor fits the options");
    if (nc == 1) {
        res_plan c2[8];
        if (res_candidates(C, 2, &cand[0], c2) == 0) {
            *best = cand[0];
            return CLIMZ_OK;
        }
    }
    res_sample S;
    res_run R;
    memset(&R, 0, sizeof R);
    float *out = NULL, *wbuf = NULL;
    uint8_t *mag = NULL;
    climz_status st = res_sample_make(C, &S);
    if (st == CLIMZ_OK) {
        R.hist = cz_malloc(sizeof *R.hist);
        out = cz_malloc(S.bn * sizeof(float));
        wbuf = cz_malloc(S.bn * sizeof(float));
        mag = cz_malloc(S.bn);
        if (!R.hist || !out || !wbuf || !mag) st = cz_error(CLIMZ_ERR_ALLOC, "residual codec: out of memory");
    }
    double bb = INFINITY;
    for (int stage = 1; stage <= 2 && st == CLIMZ_OK; stage++) {
        if (stage == 2) nc = res_candidates(C, 2, best, cand); /* variants of the winner */
        for (int c = 0; c < nc; c++) {
            double const bits = res_trial(C, &S, &R, out, wbuf, mag, &cand[c]);
            if (bits < bb) {
                bb = bits;
                *best = cand[c];
            }
        }
    }
    free(R.hist);
    R.hist = NULL;
    res_run_free(&R);
    free(out);
    free(wbuf);
    free(mag);
    res_sample_free(&S);
    return st;
}

/* ---- header ------------------------------------------------------------------------------ */

static climz_status res_put_header(cz_buf *out, int mode, const size_t n[3]) {
    int const version = mode == RES_MODE_PLATEAU ? RES_VERSION_PLATEAU : RES_VERSION;
    CZ_FORWARD(cz_buf_put_u8(out, RES_MAGIC));
    CZ_FORWARD(cz_buf_put_u8(out, (uint8_t)(version << 4 | mode)));
    for (int d = 0; d < 3; d++) CZ_FORWARD(cz_buf_put_varint(out, n[d]));
    return CLIMZ_OK;
}

/* Bin width of the finest level: 2E less a margin for the float rounding of the
 * reconstruction (a few ulps of the largest magnitude involved), so that points whose error
 * lands near +-E do not all become raw points. */
static float res_step0(const res_enc *C, const float *base) {
    float mx = 0.f;
    for (size_t i = 0; i < C->N; i++) {
        if (C->miss && C->miss[i]) continue;
        float const a = fabsf(C->x[i]);
        if (a <= FLT_MAX && a > mx) mx = a;
        if (base) {
            float const b = fabsf(base[i]);
            if (b <= FLT_MAX && b > mx) mx = b;
        }
    }
    double half = C->E - (double)mx * 0x1p-22;
    if (half < 0.5 * C->E) half = 0.5 * C->E;
    if (half > FLT_MAX / 2) half = FLT_MAX / 2; /* any finite value is within E of anything */
    float s = (float)(2.0 * half);
    if ((double)s > 2.0 * half) s = nextafterf(s, 0.f);
    if (!(s > 0.f)) s = FLT_MIN; /* E below the float range: every point ends up raw */
    return s;
}

/* ---- lossy encode -------------------------------------------------------------------------- */

static climz_status res_encode_lossy(const res_enc *C, cz_buf *out, float *dec, size_t *nraw) {
    res_plan pl = {.predictor = RES_PRED_CUBIC, .domain = RES_DOM_X, .order = 1,
                   .alpha16 = C->opt.level_alpha > 0 ? (int)lrint(C->opt.level_alpha * 16) : RES_DEFAULT_ALPHA16,
                   .beta = C->opt.level_beta > 0 ? (int)lrint(C->opt.level_beta) : RES_DEFAULT_BETA};
    if (pl.alpha16 < 16) pl.alpha16 = 16;
    if (pl.alpha16 > 255) pl.alpha16 = 255;
    if (pl.beta < 1) pl.beta = 1;
    if (pl.beta > 255) pl.beta = 255;
    /* the margin of step0 depends on the domain: take the larger of x and pred/prev */
    const float *bigger = C->pred ? C->pred : C->prev;
    pl.step0 = res_step0(C, bigger);
    pl.scheme = C->opt.ctx_scheme > 0 ? C->opt.ctx_scheme - 1 : res_scheme_for(C->N);
    pl.plateau = C->pmap != NULL;
    CZ_FORWARD(res_choose(C, &pl));

    res_run R;
    memset(&R, 0, sizeof R);
    cz_buf es = {0};
    float *wbuf = NULL, *own = NULL;
    uint8_t *mag = cz_malloc(C->N);
    climz_status st = CLIMZ_OK;
    if (!dec) dec = own = cz_malloc(C->N * sizeof(float));
    if (res_needs_work(&pl)) wbuf = cz_malloc(C->N * sizeof(float));
    if (!mag || !dec || (res_needs_work(&pl) && !wbuf))
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "residual codec: out of memory for %zu points", C->N);
    res_run_setup(&R, &pl, C->x, C->miss, C->pred, C->prev, C->n, C->E, dec, wbuf, mag);
    CZ_CHECK_GOTO(st, ent_aenc_create(&R.enc, res_ctx_init(&R, pl.predictor, pl.scheme)), done);
    if (C->pmap) CZ_CHECK_GOTO(st, res_plateau_put(R.enc, C->pmap, C->miss0, C->n[0], C->n[1], C->n[2]), done);
    CZ_CHECK_GOTO(st, res_run_lossy(&R, 0), done);
    CZ_CHECK_GOTO(st, ent_aenc_finish(R.enc, &es), done);
    if (C->pmap)
        for (size_t i = 0; i < C->N; i++)
            if (C->pmap[i]) dec[i] = C->plateau;

    CZ_CHECK_GOTO(st, res_put_header(out, C->pmap ? RES_MODE_PLATEAU : RES_MODE_LOSSY, C->n), done);
    CZ_CHECK_GOTO(st, cz_buf_put_u8(out, (uint8_t)(pl.predictor | pl.domain << 4)), done);
    CZ_CHECK_GOTO(st, cz_buf_put_u8(out, (uint8_t)(pl.order | (pl.planar + pl.pdiff) << 2 | pl.scheme << 4)), done);
    CZ_CHECK_GOTO(st, cz_buf_put_f32(out, pl.step0), done);
    CZ_CHECK_GOTO(st, cz_buf_put_u8(out, (uint8_t)pl.alpha16), done);
    CZ_CHECK_GOTO(st, cz_buf_put_u8(out, (uint8_t)pl.beta), done);
    if (C->pmap) CZ_CHECK_GOTO(st, cz_buf_put_f32(out, C->plateau), done);
    CZ_CHECK_GOTO(st, cz_buf_put_varint(out, R.nraw), done);
    CZ_CHECK_GOTO(st, cz_buf_put_varint(out, es.size), done);
    CZ_CHECK_GOTO(st, cz_buf_put(out, es.data, es.size), done);
    for (size_t k = 0; k < R.nraw; k++) CZ_CHECK_GOTO(st, cz_buf_put_f32(out, R.raw[k]), done);
    *nraw = R.nraw;
done:
    ent_aenc_free(R.enc);
    cz_buf_free(&es);
    res_run_free(&R);
    free(mag);
    free(wbuf);
    free(own);
    return st;
}

/* Plateau mode (E > 0): when many valid points lie within E of the min (or max) of the
 * block, codes them as a map and the rest as missing points of an ordinary lossy stream,
 * and keeps that stream if it is smaller than out[start..) (opt.plateau 2: always). */
static climz_status res_try_plateau(const res_enc *C, size_t start, cz_buf *out, float *dec,
                                    size_t *nraw) {
    float c;
    size_t const np = res_plateau_pick(C->x, C->miss, C->N, C->E, &c);
    if (np == 0 || (C->opt.plateau != 2 && np < C->nvalid / 8)) return CLIMZ_OK;
    uint8_t *pmap = cz_malloc(C->N), *miss2 = cz_malloc(C->N);
    float *dec2 = cz_malloc(C->N * sizeof(float));
    cz_buf pb = {0};
    climz_status st = CLIMZ_OK;
    size_t nraw2 = 0;
    if (!pmap || !miss2 || !dec2) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "residual codec: out of memory");
    res_plateau_map(C->x, C->miss, C->N, C->E, c, pmap);
    for (size_t i = 0; i < C->N; i++)
        miss2[i] = C->miss && C->miss[i] ? 1 : pmap[i] ? RES_MISS_PLATEAU : 0;
    res_enc C2 = *C;
    C2.miss = miss2;
    C2.miss0 = C->miss;
    C2.pmap = pmap;
    C2.plateau = c;
    C2.nvalid = C->nvalid - np;
    CZ_CHECK_GOTO(st, res_encode_lossy(&C2, &pb, dec2, &nraw2), done);
    if (C->opt.plateau == 2 || pb.size < out->size - start) {
        out->size = start;
        CZ_CHECK_GOTO(st, cz_buf_put(out, pb.data, pb.size), done);
        memcpy(dec, dec2, C->N * sizeof(float));
        *nraw = nraw2;
    }
done:
    cz_buf_free(&pb);
    free(pmap);
    free(miss2);
    free(dec2);
    return st;
}

/* ---- lossless encode ----------------------------------------------------------------------- */

/* Size of the class-coded lossless payload in a domain (to choose the domain). */
static double res_ll_estimate(const res_enc *C, const float *base) {
    cz_buf b = {0};
    climz_status const st = res_lossless_encode(C->x, C->miss, base, C->n[0], C->n[1], C->n[2], 0, &b);
    double const r = st == CLIMZ_OK ? (double)b.size : INFINITY;
    cz_buf_free(&b);
    return r;
}

static climz_status res_encode_lossless(const res_enc *C, cz_buf *out) {
    int dom = C->opt.domain != RES_DOM_AUTO ? (int)C->opt.domain : RES_DOM_X;
    if (C->opt.domain == RES_DOM_AUTO && (C->pred || C->prev)) {
        double best = res_ll_estimate(C, NULL);
        if (C->pred) {
            double const b = res_ll_estimate(C, C->pred);
            if (b < best) best = b, dom = RES_DOM_PRED;
        }
        if (C->prev) {
            double const b = res_ll_estimate(C, C->prev);
            if (b < best) best = b, dom = RES_DOM_PREV;
        }
    }
    const float *const base = res_base_of(C->pred, C->prev, dom);
    /* try the allowed payloads, keep the smallest */
    static const int modes[3][2] = {{RES_MODE_LOSSLESS, 0}, {RES_MODE_ZSTD, 1}, {RES_MODE_ZSTD, 2}};
    size_t const start = out->size;
    cz_buf cand = {0};
    climz_status st = CLIMZ_OK;
    int have = 0;
    for (int m = 0; m < 3; m++) {
        if (C->opt.lossless_mode && C->opt.lossless_mode != modes[m][0]) continue;
        cand.size = 0;
        CZ_CHECK_GOTO(st, res_put_header(&cand, modes[m][0], C->n), done);
        CZ_CHECK_GOTO(st, cz_buf_put_u8(&cand, (uint8_t)dom), done);
        CZ_CHECK_GOTO(st, res_lossless_encode(C->x, C->miss, base, C->n[0], C->n[1], C->n[2],
                                              modes[m][1], &cand), done);
        if (!have || cand.size < out->size - start) {
            out->size = start;
            CZ_CHECK_GOTO(st, cz_buf_put(out, cand.data, cand.size), done);
            have = 1;
        }
    }
    if (!have) st = cz_error(CLIMZ_ERR_INVALID_ARG, "residual codec: lossless mode %d unknown",
                             C->opt.lossless_mode);
done:
    cz_buf_free(&cand);
    return st;
}

/* ---- entry points ---------------------------------------------------------------------------- */

static climz_status res_check_dims(size_t nz, size_t ny, size_t nx, size_t *N) {
    size_t a, b;
    CZ_RETURN_IF(!cz_mul_ok(nz, ny, &a) || !cz_mul_ok(a, nx, &b) || !cz_mul_ok(b, 8, &a),
                 CLIMZ_ERR_DIMENSION, "residual codec: %zu x %zu x %zu points overflow", nz, ny, nx);
    CZ_RETURN_IF(b == 0, CLIMZ_ERR_EMPTY, "residual codec: zero-size block %zu x %zu x %zu", nz, ny, nx);
    *N = b;
    return CLIMZ_OK;
}

climz_status res_encode_ex(const float *x, const uint8_t *miss, const float *pred,
                           const float *prev, size_t nz, size_t ny, size_t nx,
                           const res_params *p, const res_options *opt, cz_buf *out,
                           float *decoded) {
    res_enc C;
    memset(&C, 0, sizeof C);
    CZ_RETURN_IF(!p || !out, CLIMZ_ERR_INVALID_ARG, "residual codec: NULL argument");
    CZ_FORWARD(res_check_dims(nz, ny, nx, &C.N));
    CZ_RETURN_IF(!x, CLIMZ_ERR_INVALID_ARG, "residual codec: NULL values");
    CZ_RETURN_IF(!(p->max_abs_error >= 0) || !(p->max_abs_error <= DBL_MAX), CLIMZ_ERR_INVALID_ARG,
                 "residual codec: error bound %g must be finite and >= 0", p->max_abs_error);
    if (opt) C.opt = *opt;
    C.x = x;
    C.miss = miss;
    C.pred = pred;
    C.prev = p->temporal ? prev : NULL;
    C.n[0] = nz;
    C.n[1] = ny;
    C.n[2] = nx;
    C.E = p->max_abs_error;
    CZ_RETURN_IF(C.opt.domain == RES_DOM_PRED && !C.pred, CLIMZ_ERR_INVALID_ARG, "residual codec: domain pred without pred");
    CZ_RETURN_IF(C.opt.domain == RES_DOM_PREV && !C.prev, CLIMZ_ERR_INVALID_ARG, "residual codec: domain prev without prev (or temporal = 0)");
    CZ_RETURN_IF((int)C.opt.predictor < 0 || C.opt.predictor > RES_PRED_CUBIC || (int)C.opt.domain < 0 ||
                 C.opt.domain > RES_DOM_PREV || C.opt.order < 0 || C.opt.order > 5 ||
                 C.opt.plateau < 0 || C.opt.plateau > 2,
                 CLIMZ_ERR_INVALID_ARG, "residual codec: bad option");
    for (size_t i = 0; i < C.N; i++) C.nvalid += !miss || !miss[i];

    size_t const start = out->size;
    float *dec = decoded;
    climz_status st = CLIMZ_OK;
    if (!dec) {
        dec = cz_malloc(C.N * sizeof(float));
        CZ_RETURN_IF(!dec, CLIMZ_ERR_ALLOC, "residual codec: out of memory");
    }
    if (C.nvalid == 0) {
        CZ_CHECK_GOTO(st, res_put_header(out, RES_MODE_EMPTY, C.n), fail);
        memset(dec, 0, C.N * sizeof(float));
    } else if (C.E == 0) {
        CZ_CHECK_GOTO(st, res_encode_lossless(&C, out), fail);
        for (size_t i = 0; i < C.N; i++) dec[i] = miss && miss[i] ? 0.f : x[i];
    } else {
        size_t nraw = 0;
        CZ_CHECK_GOTO(st, res_encode_lossy(&C, out, dec, &nraw), fail);
        if (C.opt.plateau != 1) CZ_CHECK_GOTO(st, res_try_plateau(&C, start, out, dec, &nraw), fail);
        if (nraw > C.nvalid / 16) { /* E near float precision: lossless may be smaller */
            cz_buf ll = {0};
            res_options o2 = C.opt;
            res_enc C2 = C;
            o2.domain = RES_DOM_AUTO;
            o2.lossless_mode = 0;
            C2.opt = o2;
            st = res_encode_lossless(&C2, &ll);
            if (st == CLIMZ_OK && ll.size < out->size - start) {
                out->size = start;
                st = cz_buf_put(out, ll.data, ll.size);
                for (size_t i = 0; i < C.N; i++) dec[i] = miss && miss[i] ? 0.f : x[i];
            }
            cz_buf_free(&ll);
            if (st != CLIMZ_OK) goto fail;
        }
    }
    /* the encoder's own check of every valid point (bit-exact for E = 0) */
    for (size_t i = 0; i < C.N; i++) {
        if (miss && miss[i]) continue;
        uint32_t a, b;
        memcpy(&a, &x[i], 4);
        memcpy(&b, &dec[i], 4);
        if (a == b) continue;
        if (C.E > 0 && fabs((double)x[i] - (double)dec[i]) <= C.E) continue;
        CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_BOUND, "residual codec: point %zu decodes to %.9g, value %.9g, bound %g",
                     i, (double)dec[i], (double)x[i], C.E);
    }
    if (dec != decoded) free(dec);
    return CLIMZ_OK;
fail:
    out->size = start;
    if (dec != decoded) free(dec);
    return st;
}

climz_status res_encode(const float *x, const uint8_t *miss, const float *pred, const float *prev,
                        size_t nz, size_t ny, size_t nx, const res_params *p, cz_buf *out,
                        float *decoded) {
    return res_encode_ex(x, miss, pred, prev, nz, ny, nx, p, NULL, out, decoded);
}

/* Parses the header up to the mode-specific part. */
static climz_status res_read_header(cz_rd *rd, int *mode, size_t n[3]) {
    uint8_t magic, vm;
    CZ_FORWARD(cz_rd_u8(rd, &magic));
    CZ_RETURN_IF(magic != RES_MAGIC, CLIMZ_ERR_CORRUPT, "residual stream: bad magic 0x%02x", magic);
    CZ_FORWARD(cz_rd_u8(rd, &vm));
    CZ_RETURN_IF(vm >> 4 != RES_VERSION && vm >> 4 != RES_VERSION_PLATEAU, CLIMZ_ERR_VERSION,
                 "residual stream: version %u, this decoder reads %u and %u", vm >> 4, RES_VERSION,
                 RES_VERSION_PLATEAU);
    *mode = vm & 15;
    CZ_RETURN_IF(*mode > RES_MODE_PLATEAU, CLIMZ_ERR_CORRUPT, "residual stream: mode %d", *mode);
    CZ_RETURN_IF((vm >> 4 == RES_VERSION_PLATEAU) != (*mode == RES_MODE_PLATEAU), CLIMZ_ERR_CORRUPT,
                 "residual stream: mode %d in a version %u stream", *mode, vm >> 4);
    for (int d = 0; d < 3; d++) {
        uint64_t v;
        CZ_FORWARD(cz_rd_varint(rd, &v));
        CZ_RETURN_IF(v > SIZE_MAX, CLIMZ_ERR_CORRUPT, "residual stream: dimension too large");
        n[d] = (size_t)v;
    }
    return CLIMZ_OK;
}

typedef struct res_lossy_hdr {
    res_plan pl;
    float plateau; /* RES_MODE_PLATEAU */
    uint64_t nraw, elen;
} res_lossy_hdr;

/* The LOSSY / PLATEAU fields after the dims. */
static climz_status res_read_lossy(cz_rd *rd, int mode, res_lossy_hdr *h) {
    uint8_t pd, ord, a16, beta;
    CZ_FORWARD(cz_rd_u8(rd, &pd));
    CZ_FORWARD(cz_rd_u8(rd, &ord));
    CZ_FORWARD(cz_rd_f32(rd, &h->pl.step0));
    CZ_FORWARD(cz_rd_u8(rd, &a16));
    CZ_FORWARD(cz_rd_u8(rd, &beta));
    h->plateau = 0.f;
    if (mode == RES_MODE_PLATEAU) {
        CZ_FORWARD(cz_rd_f32(rd, &h->plateau));
        CZ_RETURN_IF(!isfinite(h->plateau), CLIMZ_ERR_CORRUPT, "residual stream: plateau value %g",
                     (double)h->plateau);
    }
    CZ_FORWARD(cz_rd_varint(rd, &h->nraw));
    CZ_FORWARD(cz_rd_varint(rd, &h->elen));
    h->pl.predictor = pd & 15;
    h->pl.domain = pd >> 4;
    h->pl.order = ord & 3;
    h->pl.planar = ((ord >> 2) & 3) != 0;
    h->pl.pdiff = h->pl.planar ? ((ord >> 2) & 3) - 1 : 0;
    h->pl.scheme = ord >> 4;
    h->pl.alpha16 = a16;
    h->pl.beta = beta;
    h->pl.plateau = mode == RES_MODE_PLATEAU;
    CZ_RETURN_IF(h->pl.predictor < RES_PRED_ZERO || h->pl.predictor > RES_PRED_CUBIC ||
                 h->pl.domain < RES_DOM_X || h->pl.domain > RES_DOM_PREV || (ord & 3) > 2 || h->pl.scheme >= RES_NSCHEME ||
                 (h->pl.pdiff && (!h->pl.planar || h->pl.domain != RES_DOM_X)) ||
                 (res_is_interp(h->pl.predictor) != ((ord & 3) != 0)) || (!res_is_interp(h->pl.predictor) && (ord & 15)) ||
                 a16 < 16 || beta < 1,
                 CLIMZ_ERR_CORRUPT, "residual stream: bad predictor byte 0x%02x/%u/%u/%u", pd, ord, a16, beta);
    CZ_RETURN_IF(!(h->pl.step0 > 0.f) || !(h->pl.step0 <= FLT_MAX), CLIMZ_ERR_CORRUPT,
                 "residual stream: bad step %g", (double)h->pl.step0);
    return CLIMZ_OK;
}

climz_status res_stream_info(const uint8_t *in, size_t size, res_info *info) {
    CZ_RETURN_IF(!in || !info, CLIMZ_ERR_INVALID_ARG, "residual codec: NULL argument");
    memset(info, 0, sizeof *info);
    cz_rd rd = cz_rd_make(in, size);
    int mode;
    size_t n[3];
    CZ_FORWARD(res_read_header(&rd, &mode, n));
    info->mode = (res_mode)mode;
    info->nz = n[0];
    info->ny = n[1];
    info->nx = n[2];
    if (mode == RES_MODE_LOSSY || mode == RES_MODE_PLATEAU) {
        res_lossy_hdr h;
        CZ_FORWARD(res_read_lossy(&rd, mode, &h));
        info->plateau = h.plateau;
        info->predictor = (res_predictor)h.pl.predictor;
        info->domain = (res_domain)h.pl.domain;
        info->order = h.pl.planar ? 3 + h.pl.pdiff : h.pl.order;
        info->step = h.pl.step0;
        info->n_unpred = (size_t)h.nraw;
        info->entropy_bytes = (size_t)h.elen;
    } else if (mode != RES_MODE_EMPTY) {
        uint8_t dom;
        CZ_FORWARD(cz_rd_u8(&rd, &dom));
        info->domain = (res_domain)dom;
        info->predictor = RES_PRED_LORENZO;
    }
    return CLIMZ_OK;
}

climz_status res_decode(const uint8_t *in, size_t size, const uint8_t *miss, const float *pred,
                        const float *prev, size_t nz, size_t ny, size_t nx, float *out) {
    size_t N;
    CZ_FORWARD(res_check_dims(nz, ny, nx, &N));
    CZ_RETURN_IF(!in || !out, CLIMZ_ERR_INVALID_ARG, "residual codec: NULL argument");
    cz_rd rd = cz_rd_make(in, size);
    int mode;
    size_t n[3];
    CZ_FORWARD(res_read_header(&rd, &mode, n));
    CZ_RETURN_IF(n[0] != nz || n[1] != ny || n[2] != nx, CLIMZ_ERR_DIMENSION,
                 "residual stream: made for %zu x %zu x %zu, asked for %zu x %zu x %zu", n[0], n[1],
                 n[2], nz, ny, nx);
    if (mode == RES_MODE_EMPTY) {
        for (size_t i = 0; i < N; i++)
            CZ_RETURN_IF(!miss || !miss[i], CLIMZ_ERR_CORRUPT, "residual stream: empty, but point %zu is valid", i);
        memset(out, 0, N * sizeof(float));
        CZ_RETURN_IF(cz_rd_left(&rd) != 0, CLIMZ_ERR_CORRUPT, "residual stream: trailing bytes");
        return CLIMZ_OK;
    }
    if (mode == RES_MODE_LOSSLESS || mode == RES_MODE_ZSTD) {
        uint8_t dom;
        CZ_FORWARD(cz_rd_u8(&rd, &dom));
        CZ_RETURN_IF(dom < RES_DOM_X || dom > RES_DOM_PREV, CLIMZ_ERR_CORRUPT, "residual stream: domain %u", dom);
        const float *base = res_base_of(pred, prev, dom);
        CZ_RETURN_IF(dom != RES_DOM_X && !base, CLIMZ_ERR_INVALID_ARG, "residual stream needs %s",
                     dom == RES_DOM_PRED ? "the prediction (pred)" : "the previous time step (prev)");
        CZ_FORWARD(res_lossless_decode(&rd, miss, base, nz, ny, nx, mode == RES_MODE_ZSTD, out));
        CZ_RETURN_IF(cz_rd_left(&rd) != 0, CLIMZ_ERR_CORRUPT, "residual stream: trailing bytes");
        return CLIMZ_OK;
    }
    res_lossy_hdr h;
    CZ_FORWARD(res_read_lossy(&rd, mode, &h));
    const float *const base = res_base_of(pred, prev, h.pl.domain);
    CZ_RETURN_IF(h.pl.domain != RES_DOM_X && !base, CLIMZ_ERR_INVALID_ARG, "residual stream needs %s",
                 h.pl.domain == RES_DOM_PRED ? "the prediction (pred)" : "the previous time step (prev)");
    CZ_RETURN_IF(h.elen > cz_rd_left(&rd), CLIMZ_ERR_TRUNCATED, "residual stream: entropy part cut");
    const uint8_t *ep;
    CZ_FORWARD(cz_rd_skip(&rd, (size_t)h.elen, &ep));
    CZ_RETURN_IF(h.nraw > cz_rd_left(&rd) / 4, CLIMZ_ERR_TRUNCATED, "residual stream: raw values cut");
    CZ_RETURN_IF(h.nraw * 4 != cz_rd_left(&rd), CLIMZ_ERR_CORRUPT, "residual stream: trailing bytes");

    res_run R;
    memset(&R, 0, sizeof R);
    int const needw = res_needs_work(&h.pl), plateau = mode == RES_MODE_PLATEAU;
    float *wbuf = needw ? cz_malloc(N * sizeof(float)) : NULL;
    uint8_t *mag = cz_malloc(N);
    uint8_t *pmap = plateau ? cz_malloc(N) : NULL, *miss2 = plateau ? cz_malloc(N) : NULL;
    climz_status st = CLIMZ_OK;
    if (!mag || (needw && !wbuf) || (plateau && (!pmap || !miss2)))
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "residual codec: out of memory");
    res_run_setup(&R, &h.pl, NULL, plateau ? miss2 : miss, pred, prev, n, 0.0, out, wbuf, mag);
    R.rawp = rd.p;
    R.raw_left = (size_t)h.nraw;
    CZ_CHECK_GOTO(st, ent_adec_create(&R.dec, res_ctx_init(&R, h.pl.predictor, h.pl.scheme), ep, (size_t)h.elen), done);
    if (plateau) {
        CZ_CHECK_GOTO(st, res_plateau_get(R.dec, pmap, miss, nz, ny, nx), done);
        for (size_t i = 0; i < N; i++) miss2[i] = miss && miss[i] ? 1 : pmap[i] ? RES_MISS_PLATEAU : 0;
    }
    CZ_CHECK_GOTO(st, res_run_lossy(&R, 1), done);
    CZ_CHECK_GOTO(st, ent_adec_finish(R.dec), done); /* the stream ends where the encoder's did */
    if (R.raw_left != 0) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "residual stream: %zu raw values unused", R.raw_left);
    if (plateau)
        for (size_t i = 0; i < N; i++)
            if (pmap[i]) out[i] = h.plateau;
done:
    ent_adec_free(R.dec);
    res_run_free(&R);
    free(wbuf);
    free(mag);
    free(pmap);
    free(miss2);
    return st;
}

size_t res_time_block(size_t plane, size_t nt) {
    size_t b = plane ? (65536 + plane - 1) / plane : 1;
    b = b > 32 ? 32 : b;
    return b > nt ? nt : b;
}
