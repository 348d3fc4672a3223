/* inr_encode.c — CA-INR encoder: fit the network to a field (AdamW on random mini-batches of
 * grid points, warm-up + cosine schedule, latitude-weighted MSE over valid points), choose
 * the weight bit width, write the stream, and decode it to give the caller the exact
 * reconstruction (inr.h). */
#include "inr/inr_internal.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "nn/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#define INR_TID() omp_get_thread_num()
#define INR_NTHREADS() omp_get_num_threads()
#else
#define INR_TID() 0
#define INR_NTHREADS() 1
#endif

#define INR_EVAL_CAP 1024      /* at least this many points per thread and chunk */
#define INR_LSQ_SAMPLES 32768  /* points of the least-squares start of the skip */
#define INR_BITS_START 4       /* the bit-width search starts here (lower only to fit a size) */
#define INR_EST_BITS 6.5       /* bits per weight assumed when choosing the width (b ~ 8) */
#define INR_SUB 65536          /* points of the subset that ranks bit widths */
#define INR_QAT_GAIN 1.0       /* dB of quantisation loss the fine-tuning is expected to win back */

void inr_config_default(inr_config *c) {
    memset(c, 0, sizeof *c);
    c->arch = INR_SIREN;
    c->width = 0;
    c->depth = 3;
    c->n_fourier = 0;
    c->fourier_sigma = 1.0f;
    c->omega0 = 30.0f;
    c->iters = 2000;
    c->batch = 2048;
    c->lr = 0; /* auto */
    c->warmup = -1;
    c->seed = 1;
    c->weight_bits = 0;
    c->lat_weighted = 1;
    c->qat_iters = -1;
}

/* Encoder state. */
typedef struct inr_enc {
    const cz_field *f;
    const inr_config *cfg;
    inr_grid g;
    inr_net net;
    int nth;           /* threads */
    inr_work *w;       /* nth per-thread activations */
    float *gbuf;       /* nth per-thread gradients (numel each) */
    double *part;      /* 2 nth per-thread partial sums */
    size_t n;          /* grid points */
    size_t *valid;     /* indexes of the valid points */
    size_t nvalid;
    size_t *sub;       /* a strided subset of them (at most INR_SUB points) */
    size_t nsub;
    float *rw;         /* (ny) loss weight of each row */
    float mean, std;   /* normalisation (as stored) */
    uint8_t boff[INR_MAX_TENSORS]; /* extra bits of each tensor over the base width */
    double range;      /* max - min over valid points */
} inr_enc;

typedef struct inr_err {
    double psnr, rmse, maxerr;
} inr_err;

static void inr_enc_free_(inr_enc *e) {
    inr_grid_free(&e->g);
    inr_net_free(&e->net);
    for (int t = 0; e->w && t < e->nth; t++) inr_work_free(&e->w[t]);
    free(e->w);
    free(e->gbuf);
    free(e->part);
    free(e->valid);
    free(e->sub);
    free(e->rw);
}

static double inr_psnr_(double range, double rmse) {
    if (rmse == 0) return INFINITY;
    return 20.0 * log10(range / rmse);
}

/* Errors of the current weights on every valid point (fast path: BLAS, libm), one chunk of
 * points per thread at a time. */
static void inr_eval_fast_(inr_enc *e, const size_t *pts, size_t npts, inr_err *r) {
    size_t const cap = e->w[0].cap, nch = (npts + cap - 1) / cap;
    int nthr = 1;
    int const det = nn_deterministic(); /* the workers take the calling thread's mode (nn.h) */
#pragma omp parallel num_threads(e->nth)
    {
        nn_set_deterministic(det);
        int const tid = INR_TID();
        inr_work *const w = &e->w[tid];
        double sse = 0, mx = 0;
#pragma omp single
        nthr = INR_NTHREADS();
#pragma omp for schedule(static)
        for (size_t c = 0; c < nch; c++) {
            size_t const s = c * cap, m = npts - s < cap ? npts - s : cap;
            inr_features(&e->net, &e->g, pts + s, 0, m, w->x);
            inr_forward_fast(&e->net, w, m);
            for (size_t j = 0; j < m; j++) {
                double const v = (double)w->pred[j] * e->std + e->mean;
                double const d = fabs(v - (double)e->f->values[pts[s + j]]);
                sse += d * d;
                mx = d > mx || d != d ? d : mx;
            }
        }
        e->part[tid] = sse;
        e->part[e->nth + tid] = mx;
    }
    double sse = 0, mx = 0;
    for (int t = 0; t < nthr; t++) {
        sse += e->part[t];
        mx = e->part[e->nth + t] > mx || e->part[e->nth + t] != e->part[e->nth + t] ? e->part[e->nth + t] : mx;
    }
    r->rmse = sqrt(sse / (double)npts);
    r->maxerr = mx;
    r->psnr = inr_psnr_(e->range, r->rmse);
}

/* Least-squares start of the skip weights and the output bias: the linear model of the
 * normalised target over [coordinates, contexts, 1] (weighted like the loss) on a strided
 * sample of valid points, by Gaussian elimination with partial pivoting and a tiny ridge. */
static void inr_lsq_init_(inr_enc *e) {
    size_t const m = e->net.n_skip + 1;
    double A[(INR_NCOORD + INR_MAX_CTX + 1) * (INR_NCOORD + INR_MAX_CTX + 2)];
    double *const b = A + m * m;
    memset(A, 0, sizeof A);
    size_t const stride = e->nvalid > INR_LSQ_SAMPLES ? e->nvalid / INR_LSQ_SAMPLES : 1;
    size_t const ns = e->nvalid / stride;
    double xr[INR_NCOORD + INR_MAX_CTX + 1];
    for (size_t j = 0; j < ns; j++) {
        size_t const i = e->valid[j * stride];
        inr_features(&e->net, &e->g, &i, 0, 1, e->w[0].x);
        for (size_t k = 0; k + 1 < m; k++) xr[k] = e->w[0].x[k];
        xr[m - 1] = 1.0;
        double const y = ((double)e->f->values[i] - e->mean) / e->std;
        double const wt = e->rw[i / e->g.nx % e->g.ny];
        for (size_t r = 0; r < m; r++) {
            for (size_t c = 0; c < m; c++) A[r * m + c] += wt * xr[r] * xr[c];
            b[r] += wt * xr[r] * y;
        }
    }
    double tr = 0;
    for (size_t r = 0; r < m; r++) tr += A[r * m + r];
    for (size_t r = 0; r < m; r++) A[r * m + r] += 1e-6 * tr / (double)m + 1e-12;
    for (size_t c = 0; c < m; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < m; r++)
            if (fabs(A[r * m + c]) > fabs(A[piv * m + c])) piv = r;
        if (A[piv * m + c] == 0) return; /* leave the zero start */
        if (piv != c) {
            for (size_t k = 0; k < m; k++) {
                double const t = A[c * m + k];
                A[c * m + k] = A[piv * m + k], A[piv * m + k] = t;
            }
            double const t = b[c];
            b[c] = b[piv], b[piv] = t;
        }
        for (size_t r = c + 1; r < m; r++) {
            double const fct = A[r * m + c] / A[c * m + c];
            for (size_t k = c; k < m; k++) A[r * m + k] -= fct * A[c * m + k];
            b[r] -= fct * b[c];
        }
    }
    double coef[INR_NCOORD + INR_MAX_CTX + 1];
    for (size_t r = m; r-- > 0;) {
        double s = b[r];
        for (size_t k = r + 1; k < m; k++) s -= A[r * m + k] * coef[k];
        coef[r] = s / A[r * m + r];
        if (!isfinite(coef[r])) return;
    }
    float *const sk = nn_params_data(&e->net.p, e->net.skip_w);
    for (size_t k = 0; k + 1 < m; k++) sk[k] = (float)coef[k];
    *nn_params_data(&e->net.p, e->net.out_b) = (float)coef[m - 1];
}

/* The width whose parameter count fits the byte budget of target_ratio (at INR_EST_BITS per
 * weight), at least 4. */
static int inr_auto_width_(const inr_config *cfg, int nctx, size_t n) {
    if (!(cfg->target_ratio > 0)) return 64;
    double const budget = 4.0 * (double)n / cfg->target_ratio - 64.0 - 10.0 * nctx;
    int best = 4;
    for (int W = 4; W <= INR_MAX_WIDTH; W++) {
        double const nin = INR_NCOORD + nctx + 2.0 * cfg->n_fourier;
        double const L = cfg->arch == INR_SIREN ? (double)cfg->depth : 1.0 + 2.0 * cfg->depth;
        double const np = W * (nin + 1) + (L - 1) * W * (W + 1.0) + W + 1 + INR_NCOORD + nctx;
        double const tens = 2 * L + 3;
        if (np * INR_EST_BITS / 8.0 + 4.0 * tens > budget) break;
        best = W;
    }
    return best;
}

static climz_status inr_check_config_(const inr_config *c) {
    CZ_RETURN_IF(!c, CLIMZ_ERR_INVALID_ARG, "inr: NULL config");
    CZ_RETURN_IF(c->iters < 1 || c->iters > 10000000, CLIMZ_ERR_INVALID_ARG, "inr: %d iterations", c->iters);
    CZ_RETURN_IF(c->batch < 1 || c->batch > (1 << 20), CLIMZ_ERR_INVALID_ARG, "inr: batch %d", c->batch);
    CZ_RETURN_IF(!(c->lr >= 0 && c->lr < 10), CLIMZ_ERR_INVALID_ARG, "inr: learning rate %g", (double)c->lr);
    CZ_RETURN_IF(c->weight_bits != 0 && (c->weight_bits < INR_BITS_MIN || c->weight_bits > INR_BITS_MAX),
                 CLIMZ_ERR_INVALID_ARG, "inr: %d weight bits (0 or %d..%d)", c->weight_bits,
                 INR_BITS_MIN, INR_BITS_MAX);
    CZ_RETURN_IF(!(c->target_ratio >= 0) || !(c->target_psnr >= 0) || !(c->target_max_error >= 0) ||
                     !isfinite(c->target_ratio) || !isfinite(c->target_psnr) || !isfinite(c->target_max_error),
                 CLIMZ_ERR_INVALID_ARG, "inr: negative or non-finite target");
    CZ_RETURN_IF(c->width < 0 || c->width > INR_MAX_WIDTH, CLIMZ_ERR_INVALID_ARG, "inr: width %d", c->width);
    CZ_RETURN_IF(c->qat_iters < -1 || c->qat_iters > 10000000, CLIMZ_ERR_INVALID_ARG,
                 "inr: %d fine-tuning iterations", c->qat_iters);
    return CLIMZ_OK;
}

/* Peak learning rate: cfg->lr, or for 0 the measured sweet spot: SIREN 0.2 / width (in
 * [5e-4, 5e-3]; wider SIRENs diverge at rates that suit narrow ones), RESGELU 3e-3. */
static double inr_lr_(const inr_config *cfg, int width) {
    if (cfg->lr > 0) return cfg->lr;
    if (cfg->arch != INR_SIREN) return 3e-3;
    double const lr = 0.2 / width;
    return lr < 5e-4 ? 5e-4 : lr > 5e-3 ? 5e-3 : lr;
}

/* Sets up e: valid points, normalisation, grid, network (initialised), activations. */
static climz_status inr_enc_setup_(inr_enc *e, const cz_field *f, const inr_context *ctx, int nctx,
                                   const inr_config *cfg) {
    memset(e, 0, sizeof *e);
    e->f = f, e->cfg = cfg;
    CZ_RETURN_IF(!f || !f->values, CLIMZ_ERR_INVALID_ARG, "inr_encode: NULL field");
    CZ_RETURN_IF(f->nt > UINT32_MAX || f->nz > UINT32_MAX || f->ny > UINT32_MAX || f->nx > UINT32_MAX,
                 CLIMZ_ERR_UNSUPPORTED, "inr_encode: a dimension above 2^32 - 1");
    CZ_FORWARD(inr_grid_init(&e->g, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, ctx, nctx));
    e->n = f->nt * f->nz * f->ny * f->nx;
    e->valid = cz_malloc(e->n * sizeof *e->valid);
    e->rw = cz_malloc(f->ny * sizeof *e->rw);
    CZ_RETURN_IF(!e->valid || !e->rw, CLIMZ_ERR_ALLOC, "inr_encode: %zu points", e->n);
    double s = 0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < e->n; i++) {
        if (f->miss && f->miss[i]) continue;
        double const v = (double)f->values[i];
        CZ_RETURN_IF(!isfinite(v), CLIMZ_ERR_INVALID_ARG, "inr_encode: non-finite value at %zu not marked missing", i);
        e->valid[e->nvalid++] = i;
        s += v;
        lo = v < lo ? v : lo, hi = v > hi ? v : hi;
    }
    CZ_RETURN_IF(e->nvalid == 0, CLIMZ_ERR_EMPTY, "inr_encode: no valid point");
    size_t const stride = (e->nvalid + INR_SUB - 1) / INR_SUB;
    e->sub = cz_malloc(((e->nvalid + stride - 1) / stride) * sizeof *e->sub);
    CZ_RETURN_IF(!e->sub, CLIMZ_ERR_ALLOC, "inr_encode: subset");
    for (size_t j = 0; j < e->nvalid; j += stride) e->sub[e->nsub++] = e->valid[j];
    double const mean = s / (double)e->nvalid;
    double ss = 0;
    for (size_t j = 0; j < e->nvalid; j++) {
        double const d = (double)f->values[e->valid[j]] - mean;
        ss += d * d;
    }
    double sd = sqrt(ss / (double)e->nvalid);
    if (!(sd > 0)) sd = 1.0; /* constant field: the bias alone carries it */
    e->mean = (float)mean, e->std = (float)sd;
    e->range = hi - lo;
    for (size_t y = 0; y < f->ny; y++) {
        double const lat = f->lat ? f->lat[y] : -90.0 + 180.0 * ((double)y + 0.5) / (double)f->ny;
        double const w = cfg->lat_weighted ? cos(lat * (3.14159265358979323846 / 180.0)) : 1.0;
        e->rw[y] = (float)(w > 1e-3 ? w : 1e-3);
    }
    inr_arch a = {0};
    a.arch = cfg->arch, a.depth = cfg->depth, a.n_fourier = cfg->n_fourier, a.nctx = nctx;
    a.width = cfg->width ? cfg->width : inr_auto_width_(cfg, nctx, e->n);
    a.sigma = cfg->fourier_sigma, a.omega0 = cfg->omega0;
    a.fseed = (uint32_t)((cfg->seed * 0x9E3779B97F4A7C15ull) >> 32);
    CZ_FORWARD(inr_net_layout(&e->net, &a, false));
    CZ_FORWARD(inr_net_alloc(&e->net, 1));
    CZ_FORWARD(inr_net_init(&e->net, cfg->seed));
    e->nth = cz_num_threads();
    size_t const per = ((size_t)cfg->batch + (size_t)e->nth - 1) / (size_t)e->nth;
    size_t const cap = per > INR_EVAL_CAP ? per : INR_EVAL_CAP;
    e->w = cz_calloc((size_t)e->nth, sizeof *e->w);
    e->gbuf = cz_malloc((size_t)e->nth * e->net.p.numel * sizeof *e->gbuf);
    e->part = cz_malloc(2 * (size_t)e->nth * sizeof *e->part);
    CZ_RETURN_IF(!e->w || !e->gbuf || !e->part, CLIMZ_ERR_ALLOC, "inr_encode: per-thread buffers");
    for (int t = 0; t < e->nth; t++) CZ_FORWARD(inr_work_alloc(&e->w[t], &e->net, cap));
    return CLIMZ_OK;
}

/* Overwrites the weights with their quantised values at base width b (tensor t at
 * min(b + boff[t], INR_BITS_MAX) bits), as the decoder will see them. */
static climz_status inr_apply_quant_(inr_net *net, int bits, const uint8_t *boff) {
    nn_params *const p = &net->p;
    size_t mx = 0;
    for (size_t t = 0; t < p->n; t++) mx = p->t[t].numel > mx ? p->t[t].numel : mx;
    int32_t *q = cz_malloc(mx * sizeof *q);
    CZ_RETURN_IF(!q, CLIMZ_ERR_ALLOC, "inr: quantisation");
    for (size_t t = 0; t < p->n; t++) {
        float *const w = nn_params_data(p, t);
        int const bt = bits + boff[t] < INR_BITS_MAX ? bits + boff[t] : INR_BITS_MAX;
        float const step = inr_quantize(q, w, p->t[t].numel, bt);
        for (size_t i = 0; i < p->t[t].numel; i++) w[i] = (float)q[i] * step;
    }
    free(q);
    return CLIMZ_OK;
}

/* One phase of fitting: iters AdamW steps with the schedule sch. qbits > 0: quantisation-aware
 * (each step runs forward and backward through the weights quantised at qbits, and the
 * update goes to the float weights: the straight-through estimator); master is a numel
 * scratch buffer then. stop: early stopping on the targets allowed. *iters_run receives the
 * steps done. */
static climz_status inr_fit_(inr_enc *e, inr_progress_fn progress, void *user, int iters,
                             nn_lr_schedule sch, int qbits, float *master, int stop,
                             int *iters_run) {
    inr_config const *const cfg = e->cfg;
    size_t const B = (size_t)cfg->batch < e->nvalid ? (size_t)cfg->batch : e->nvalid;
    size_t *const idx = cz_malloc(B * sizeof *idx);
    float *const y = cz_malloc(B * 2 * sizeof *y);
    CZ_RETURN_IF(!idx || !y, (free(idx), free(y), CLIMZ_ERR_ALLOC), "inr: batch");
    float *const wt = y + B;
    nn_adamw_hparams hp = nn_adamw_defaults();
    hp.weight_decay = 0; /* the goal is to overfit */
    nn_adamw opt;
    nn_adamw_init(&opt, &hp);
    nn_rng rng;
    nn_rng_seed(&rng, cfg->seed ^ (qbits ? 0x5851F42D4C957F2Dull : 0xB5AD4ECEDA1CE2A9ull));
    int const every = iters >= 100 ? iters / 100 : 1;
    int const check = iters >= 20 ? iters / 20 : 1;
    int const want_stop = stop && (cfg->target_psnr > 0 || cfg->target_max_error > 0);
    size_t const numel = e->net.p.numel;
    double ema = -1, t0 = cz_now();
    climz_status st = CLIMZ_OK;
    int it;
    for (it = 0; it < iters; it++) {
        for (size_t j = 0; j < B; j++) idx[j] = e->valid[nn_rng_u64(&rng) % e->nvalid];
        double sw = 0;
        for (size_t j = 0; j < B; j++) {
            y[j] = (e->f->values[idx[j]] - e->mean) / e->std;
            wt[j] = e->rw[idx[j] / e->g.nx % e->g.ny];
            sw += wt[j];
        }
        if (qbits) {
            memcpy(master, e->net.p.data, numel * sizeof *master);
            CZ_CHECK_GOTO(st, inr_apply_quant_(&e->net, qbits, e->boff), done);
        }
        /* data parallel, one parallel region per step: a slice of the batch per thread, then
         * one thread sums the gradients in thread order and takes the AdamW step (a few
         * thousand weights: cheaper than another fork and join) */
        double loss = 0;
        climz_status ost = CLIMZ_OK;
        double const lr = nn_lr_at(&sch, (uint64_t)it);
        int const det = nn_deterministic(); /* the workers take the calling thread's mode (nn.h) */
#pragma omp parallel num_threads(e->nth)
        {
            nn_set_deterministic(det);
            int const tid = INR_TID(), nt_ = INR_NTHREADS();
            size_t const j0 = B * (size_t)tid / (size_t)nt_, j1 = B * (size_t)(tid + 1) / (size_t)nt_;
            size_t const m = j1 - j0;
            inr_work *const w = &e->w[tid];
            float *const g = e->gbuf + (size_t)tid * numel;
            memset(g, 0, numel * sizeof *g);
            inr_features(&e->net, &e->g, idx + j0, 0, m, w->x);
            inr_forward_fast(&e->net, w, m);
            double l = 0;
            for (size_t j = 0; j < m; j++) {
                double const d = (double)w->pred[j] - y[j0 + j];
                l += wt[j0 + j] * d * d;
                w->dpred[j] = (float)(2.0 * wt[j0 + j] * d / sw);
            }
            e->part[tid] = l;
            inr_backward(&e->net, w, m, g);
#pragma omp barrier
#pragma omp single
            {
                for (int t = 0; t < nt_; t++) loss += e->part[t];
                loss /= sw;
                float *const grad = e->net.p.grad;
                memcpy(grad, e->gbuf, numel * sizeof *grad);
                for (int t = 1; t < nt_; t++)
                    for (size_t i = 0; i < numel; i++) grad[i] += e->gbuf[(size_t)t * numel + i];
                if (qbits) memcpy(e->net.p.data, master, numel * sizeof *master);
                if (isfinite(loss)) {
                    ost = nn_adamw_step(&opt, &e->net.p, lr, NULL);
                    if (ost == CLIMZ_ERR_GENERIC) ost = CLIMZ_OK; /* non-finite gradient: skip */
                }
            }
        }
        if (!isfinite(loss)) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_GENERIC, "inr: the fit diverged at step %d", it);
        if ((st = ost) != CLIMZ_OK) goto done;
        ema = ema < 0 ? loss : 0.95 * ema + 0.05 * loss;
        if (progress && ((it + 1) % every == 0 || it + 1 == iters)) {
            double const el = cz_now() - t0;
            progress(user, it + 1, iters, ema, inr_psnr_(e->range, sqrt(ema) * e->std),
                     el / (it + 1) * (iters - it - 1));
        }
        if (want_stop && (it + 1) % check == 0 && it + 1 < iters) {
            double const est = inr_psnr_(e->range, sqrt(ema) * e->std);
            if (cfg->target_psnr > 0 && est < cfg->target_psnr) continue;
            inr_err r;
            inr_eval_fast_(e, e->valid, e->nvalid, &r);
            /* margins leave room for the weight quantisation */
            if ((cfg->target_psnr <= 0 || r.psnr >= cfg->target_psnr + 0.3) &&
                (cfg->target_max_error <= 0 || r.maxerr <= 0.9 * cfg->target_max_error)) {
                it++;
                break;
            }
        }
    }
done:
    *iters_run = it;
    free(idx);
    free(y);
    return st;
}

static void inr_header_fill_(inr_header *h, const inr_enc *e, const inr_context *ctx, int bits) {
    memset(h, 0, sizeof *h);
    h->a = e->net.a;
    h->bits = bits;
    memcpy(h->boff, e->boff, sizeof h->boff);
    h->flags = e->cfg->lat_weighted ? 1 : 0;
    h->nt = e->f->nt, h->nz = e->f->nz, h->ny = e->f->ny, h->nx = e->f->nx;
    h->mean = e->mean, h->std = e->std;
    h->grid_crc = e->g.grid_crc;
    for (int c = 0; c < e->g.nctx; c++) {
        h->ctx_layout[c] = (ctx[c].per_time ? 1 : 0) | (ctx[c].per_level ? 2 : 0);
        if (ctx[c].name) memcpy(h->ctx_name[c], ctx[c].name, strlen(ctx[c].name) + 1);
        h->ctx_crc[c] = e->g.ctx_crc[c];
    }
}

/* Extra bits per tensor from measured sensitivities (rate-distortion rule). Quantising tensor
 * t alone at INR_SENS_BITS raises the MSE by s_t; with D_t(b_t) = s_t 4^(b0 - b_t) and rate
 * n_t b_t, the Lagrangian optimum has D_t / n_t equal across tensors, so
 *     b_t - b_ref = log2((s_t / n_t) / (s_ref / n_ref)) / 2,
 * where the reference is the weight-count median of s_t / n_t: the bulk of the weights gets
 * the base width b, and the tiny, sensitive tensors (first layer, biases, the skip) a few
 * more bits for a handful of bytes (never fewer: they cost nothing). keep: the float
 * weights, restored after each trial. */
#define INR_SENS_BITS 6
static void inr_bit_offsets_(inr_enc *e, const float *keep, double mse_float) {
    nn_params *const p = &e->net.p;
    double ratio[INR_MAX_TENSORS];
    size_t order[INR_MAX_TENSORS];
    int32_t *q = cz_malloc(p->numel * sizeof *q);
    memset(e->boff, 0, sizeof e->boff);
    if (!q) return; /* no offsets: still a valid (if larger) stream */
    for (size_t t = 0; t < p->n; t++) {
        float *const w = nn_params_data(p, t);
        size_t const n = p->t[t].numel;
        float const step = inr_quantize(q, w, n, INR_SENS_BITS);
        for (size_t i = 0; i < n; i++) w[i] = (float)q[i] * step;
        inr_err r;
        inr_eval_fast_(e, e->sub, e->nsub, &r);
        memcpy(w, keep + p->t[t].offset, n * sizeof *w);
        ratio[t] = (r.rmse * r.rmse - mse_float) / (double)n;
        order[t] = t;
    }
    free(q);
    for (size_t i = 1; i < p->n; i++) /* insertion sort by ratio */
        for (size_t j = i; j > 0 && ratio[order[j]] < ratio[order[j - 1]]; j--) {
            size_t const tmp = order[j];
            order[j] = order[j - 1], order[j - 1] = tmp;
        }
    size_t acc = 0, ref = order[0];
    for (size_t i = 0; i < p->n; i++) {
        ref = order[i];
        acc += p->t[ref].numel;
        if (2 * acc >= p->numel) break;
    }
    double const rr = ratio[ref] > 0 ? ratio[ref] : 1e-300;
    for (size_t t = 0; t < p->n; t++) {
        if (!(ratio[t] > rr)) continue;
        double const off = floor(0.5 * log2(ratio[t] / rr) + 0.5);
        e->boff[t] = (uint8_t)(off > INR_MAX_BOFF ? INR_MAX_BOFF : off);
    }
}

/* Targets of a call: bytes (INFINITY = none), PSNR and max error (0 = none). */
typedef struct inr_target {
    double max_bytes, psnr, maxerr;
} inr_target;

/* One quantised candidate: bit width, stream size, errors and whether it meets the targets. */
typedef struct inr_cand {
    int bits, fits, ok;
    size_t size;
    double psnr;
} inr_cand;

static int inr_err_ok_(const inr_target *tg, const inr_err *r, double slack_db) {
    return (tg->psnr <= 0 || r->psnr >= tg->psnr - slack_db) && (tg->maxerr <= 0 || r->maxerr <= tg->maxerr);
}

/* Stream size of the current weights at b bits (sb is scratch). */
static climz_status inr_size_at_(inr_enc *e, const inr_context *ctx, int b, cz_buf *sb, size_t *size) {
    inr_header h;
    inr_header_fill_(&h, e, ctx, b);
    sb->size = 0;
    CZ_FORWARD(inr_stream_write(&h, &e->net, sb));
    *size = sb->size;
    return CLIMZ_OK;
}

/* Errors of the current weights quantised at b bits; the weights are restored from keep.
 * On the subset unless a max-error target needs every point. */
static climz_status inr_err_at_(inr_enc *e, const inr_target *tg, int b, const float *keep, inr_err *r) {
    CZ_FORWARD(inr_apply_quant_(&e->net, b, e->boff));
    if (tg->maxerr > 0) inr_eval_fast_(e, e->valid, e->nvalid, r);
    else inr_eval_fast_(e, e->sub, e->nsub, r);
    memcpy(e->net.p.data, keep, e->net.p.numel * sizeof *keep);
    return CLIMZ_OK;
}

/* Bit width of the float weights (post-training quantisation), b from low to high: see
 * inr.h. With quantisation-aware fine-tuning to follow (qat), the error criteria allow the
 * loss it is expected to win back. */
static climz_status inr_search_bits_(inr_enc *e, const inr_context *ctx, const inr_target *tg,
                                     const inr_err *ef, const float *keep, int qat, cz_buf *sb,
                                     int *bits) {
    int const err_target = tg->psnr > 0 || tg->maxerr > 0;
    size_t size;
    int b = INR_BITS_START;
    for (;;) { /* below the start only while nothing fits */
        CZ_FORWARD(inr_size_at_(e, ctx, b, sb, &size));
        if ((double)size <= tg->max_bytes || b == INR_BITS_MIN) break;
        b--;
    }
    int chosen = 0;
    double prev = -INFINITY;
    for (; b <= INR_BITS_MAX; b++) {
        CZ_FORWARD(inr_size_at_(e, ctx, b, sb, &size));
        int const fits = (double)size <= tg->max_bytes;
        if (!fits && chosen) break; /* sizes grow with b */
        inr_err r;
        CZ_FORWARD(inr_err_at_(e, tg, b, keep, &r));
        chosen = b;
        if (err_target) {
            if (inr_err_ok_(tg, &r, qat ? INR_QAT_GAIN : 0)) break;
            if (b > INR_BITS_START && r.psnr <= prev + 0.01) break; /* saturated */
        } else if (r.psnr >= ef->psnr - (tg->max_bytes < INFINITY ? (qat ? 0.3 : 0.02)
                                                                   : (qat ? INR_QAT_GAIN : 0.1))) {
            break;
        }
        if (!fits) break; /* the smallest b, and it does not fit either */
        prev = r.psnr;
    }
    *bits = chosen;
    return CLIMZ_OK;
}

/* Measures the current (fine-tuned float) weights at b bits on every valid point. */
static climz_status inr_candidate_(inr_enc *e, const inr_context *ctx, const inr_target *tg, int b,
                                   float *scratch, cz_buf *sb, inr_cand *c) {
    c->bits = b;
    CZ_FORWARD(inr_size_at_(e, ctx, b, sb, &c->size));
    c->fits = (double)c->size <= tg->max_bytes;
    memcpy(scratch, e->net.p.data, e->net.p.numel * sizeof *scratch);
    CZ_FORWARD(inr_apply_quant_(&e->net, b, e->boff));
    inr_err r;
    inr_eval_fast_(e, e->valid, e->nvalid, &r);
    memcpy(e->net.p.data, scratch, e->net.p.numel * sizeof *scratch);
    c->psnr = r.psnr;
    c->ok = inr_err_ok_(tg, &r, 0);
    return CLIMZ_OK;
}

/* 1 when a is preferable to b (NULL: anything is): fitting the size first, then meeting the
 * error targets at the smallest size, else the best PSNR. */
static int inr_cand_better_(const inr_cand *a, const inr_cand *b, int err_target) {
    if (!b) return 1;
    if (a->fits != b->fits) return a->fits;
    if (!a->fits) return a->size < b->size;
    if (err_target && a->ok != b->ok) return a->ok;
    if (err_target && a->ok) return a->size < b->size;
    return a->psnr > b->psnr;
}

climz_status inr_encode(const cz_field *f, const inr_context *ctx, int nctx,
                        const inr_config *cfg, inr_progress_fn progress, void *user,
                        cz_buf *out, float *decoded, inr_stats *stats) {
    double const t_start = cz_now();
    CZ_FORWARD(inr_check_config_(cfg));
    CZ_RETURN_IF(!out, CLIMZ_ERR_INVALID_ARG, "inr_encode: NULL output buffer");
    inr_enc e;
    cz_buf sb = {0};
    float *saved = NULL, *dec = NULL;
    inr_stats s;
    memset(&s, 0, sizeof s);
    /* each thread runs its own sub-batch: BLAS calls must not start threads of their own
     * (OpenBLAS single-threaded once per process; never set and reset around a call) */
    nn_blas_single_thread();
    climz_status st = inr_enc_setup_(&e, f, ctx, nctx, cfg);
    if (st != CLIMZ_OK) goto done;
    s.arch = e.net.a.arch, s.width = e.net.a.width, s.depth = e.net.a.depth;
    s.n_fourier = e.net.a.n_fourier, s.n_params = e.net.p.numel;
    inr_lsq_init_(&e);
    {
        int const it = cfg->iters;
        double const lr = inr_lr_(cfg, e.net.a.width);
        nn_lr_schedule const sch = {lr, lr / 20.0,
                                    (uint64_t)(cfg->warmup >= 0 ? cfg->warmup : it / 20), (uint64_t)it};
        CZ_CHECK_GOTO(st, inr_fit_(&e, progress, user, it, sch, 0, NULL, 1, &s.iters_run), done);
    }
    double const t_fit = cz_now();
    s.fit_s = t_fit - t_start;
    inr_err ef;
    inr_eval_fast_(&e, e.valid, e.nvalid, &ef);
    s.psnr_float = ef.psnr;
    size_t const numel = e.net.p.numel;
    saved = cz_malloc(3 * numel * sizeof *saved);
    if (!saved) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "inr: weights copy");
    float *const best = saved + numel, *const scratch = best + numel;
    memcpy(saved, e.net.p.data, numel * sizeof *saved);
    {
        inr_err es;
        inr_eval_fast_(&e, e.sub, e.nsub, &es);
        inr_bit_offsets_(&e, saved, es.rmse * es.rmse);
    }
    inr_target tg;
    tg.max_bytes = cfg->target_ratio > 0 ? 4.0 * (double)e.n / cfg->target_ratio : INFINITY;
    tg.psnr = cfg->target_psnr, tg.maxerr = cfg->target_max_error;
    int const err_target = tg.psnr > 0 || tg.maxerr > 0;
    int const qat = cfg->qat_iters >= 0 ? cfg->qat_iters : (cfg->iters / 4 > 50 ? cfg->iters / 4 : 50);
    int bits = cfg->weight_bits;
    if (!bits) CZ_CHECK_GOTO(st, inr_search_bits_(&e, ctx, &tg, &ef, saved, qat > 0, &sb, &bits), done);

    /* quantisation-aware fine-tuning from the float weights, at most 3 rounds: down a bit when
     * the result no longer fits the size target, up a bit when it misses an error target */
    inr_cand cand[3];
    int nc = 0, bi = -1;
    for (; qat > 0 && nc < 3;) {
        memcpy(e.net.p.data, saved, numel * sizeof *saved);
        double const lr = inr_lr_(cfg, e.net.a.width);
        nn_lr_schedule const sq = {lr * 0.3, lr * 0.03, 0, (uint64_t)qat};
        int done_it;
        CZ_CHECK_GOTO(st, inr_fit_(&e, progress, user, qat, sq, bits, scratch, 0, &done_it), done);
        inr_cand *const c = &cand[nc++];
        CZ_CHECK_GOTO(st, inr_candidate_(&e, ctx, &tg, bits, scratch, &sb, c), done);
        if (inr_cand_better_(c, bi < 0 ? NULL : &cand[bi], err_target)) {
            bi = nc - 1;
            memcpy(best, e.net.p.data, numel * sizeof *best); /* the float weights behind it */
        }
        int next = 0;
        if (!c->fits && bits > INR_BITS_MIN) next = bits - 1;
        else if (c->fits && err_target && !c->ok && !cfg->weight_bits && bits < INR_BITS_MAX) next = bits + 1;
        for (int k = 0; k < nc; k++)
            if (cand[k].bits == next) next = 0; /* tried already */
        if (!next || cfg->weight_bits) break;
        bits = next;
    }
    if (bi >= 0) {
        bits = cand[bi].bits;
        memcpy(e.net.p.data, best, numel * sizeof *best);
    }
    inr_header h;
    sb.size = 0;
    inr_header_fill_(&h, &e, ctx, bits);
    CZ_CHECK_GOTO(st, inr_stream_write(&h, &e.net, &sb), done);
    int met = (double)sb.size <= tg.max_bytes;
    s.bits = bits;
    s.stream_bytes = sb.size;
    s.quant_s = cz_now() - t_fit;

    /* the reconstruction is the decoder's, run on the stream itself */
    dec = decoded ? decoded : cz_malloc(e.n * sizeof *dec);
    if (!dec) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "inr: reconstruction");
    CZ_CHECK_GOTO(st, inr_decode(sb.data, sb.size, ctx, nctx, f->nt, f->nz, f->ny, f->nx, f->lat,
                                 f->lon, dec), done);
    double sse = 0, mx = 0;
    for (size_t j = 0; j < e.nvalid; j++) {
        double const d = fabs((double)dec[e.valid[j]] - (double)f->values[e.valid[j]]);
        sse += d * d;
        mx = d > mx || d != d ? d : mx;
    }
    s.rmse = sqrt(sse / (double)e.nvalid);
    s.max_abs_error = mx;
    s.psnr = inr_psnr_(e.range, s.rmse);
    if ((tg.psnr > 0 && !(s.psnr >= tg.psnr)) || (tg.maxerr > 0 && !(s.max_abs_error <= tg.maxerr)))
        met = 0;
    s.target_met = met;
    CZ_CHECK_GOTO(st, cz_buf_put(out, sb.data, sb.size), done);
    s.total_s = cz_now() - t_start;
    if (stats) *stats = s;
done:
    if (dec != decoded) free(dec);
    free(saved);
    cz_buf_free(&sb);
    inr_enc_free_(&e);
    return st;
}
