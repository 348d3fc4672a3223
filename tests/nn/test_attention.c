/* test_attention.c — plain, window and streamed global attention (src/nn/attention.h):
 * backward vs central finite differences in double, window attention vs plain attention
 * over explicitly gathered windows (padding masked out, wrapped longitude), window ==
 * global when one window covers the grid, streamed == plain for T > 1000 in float, the
 * accumulate (+=) contract, deterministic mode bit-identical for 1, 2 and 3 threads. */
#include "nn/attention.h"

#include "gradcheck.h"
#include "testutil.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { K_PLAIN, K_WINDOW, K_GLOBAL };

typedef struct cfg {
    int kind;
    size_t B, H, W, C, NH;
    nn_window win;
} cfg;

static size_t cfg_T(const cfg *c) { return c->H * c->W; }

static void fill_normal(double *x, size_t n, unsigned long long *st) {
    for (size_t i = 0; i < n; i++) x[i] = tu_rand_normal(st);
}
static void to_float(float *y, const double *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
}
static double max_abs(const double *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}
/* max |a - b| / max |b| */
static double rel_diff_fd(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
    return m / (max_abs(b, n) + 1e-300);
}
static double rel_diff_dd(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i] - b[i]) > m ? fabs(a[i] - b[i]) : m;
    return m / (max_abs(b, n) + 1e-300);
}

/* ---- the kernels under one interface (double) -------------------------------------------- */

typedef struct run_d {
    double *out, *save, *work; /* save: att (plain) or stats */
} run_d;

static void run_d_alloc(run_d *r, const cfg *c) {
    size_t const T = cfg_T(c);
    r->out = calloc(c->B * T * c->C, sizeof(double));
    r->save = calloc(c->kind == K_PLAIN ? c->B * c->NH * T * T : nn_attention_stats_size(c->B, T, c->NH),
                     sizeof(double));
    size_t const nw = c->kind == K_WINDOW ? nn_window_attention_work_size(c->B, c->H, c->W, c->C, &c->win) : 0;
    r->work = nw ? calloc(nw, sizeof(double)) : NULL;
}
static void run_d_free(run_d *r) {
    free(r->out);
    free(r->save);
    free(r->work);
}

static climz_status fwd_d(run_d *r, const double *qkv, const cfg *c) {
    size_t const T = cfg_T(c);
    switch (c->kind) {
    case K_PLAIN: nn_attention_forward_f64(r->out, r->save, qkv, c->B, T, c->C, c->NH); return CLIMZ_OK;
    case K_WINDOW:
        return nn_window_attention_forward_f64(r->out, r->save, r->work, qkv, c->B, c->H, c->W, c->C,
                                               c->NH, &c->win);
    default: return nn_global_attention_forward_f64(r->out, r->save, qkv, c->B, T, c->C, c->NH);
    }
}
static climz_status bwd_d(double *dqkv, run_d *r, const double *dout, const double *qkv, const cfg *c) {
    size_t const T = cfg_T(c);
    switch (c->kind) {
    case K_PLAIN: nn_attention_backward_f64(dqkv, dout, qkv, r->save, c->B, T, c->C, c->NH); return CLIMZ_OK;
    case K_WINDOW:
        return nn_window_attention_backward_f64(dqkv, r->work, dout, qkv, r->out, r->save, c->B, c->H,
                                                c->W, c->C, c->NH, &c->win);
    default:
        return nn_global_attention_backward_f64(dqkv, dout, qkv, r->out, r->save, c->B, T, c->C, c->NH);
    }
}

/* float twin */
typedef struct run_f {
    float *out, *save, *work;
} run_f;

static void run_f_alloc(run_f *r, const cfg *c) {
    size_t const T = cfg_T(c);
    r->out = calloc(c->B * T * c->C, sizeof(float));
    r->save = calloc(c->kind == K_PLAIN ? c->B * c->NH * T * T : nn_attention_stats_size(c->B, T, c->NH),
                     sizeof(float));
    size_t const nw = c->kind == K_WINDOW ? nn_window_attention_work_size(c->B, c->H, c->W, c->C, &c->win) : 0;
    r->work = nw ? calloc(nw, sizeof(float)) : NULL;
}
static void run_f_free(run_f *r) {
    free(r->out);
    free(r->save);
    free(r->work);
}
static climz_status fwd_f(run_f *r, const float *qkv, const cfg *c) {
    size_t const T = cfg_T(c);
    switch (c->kind) {
    case K_PLAIN: nn_attention_forward(r->out, r->save, qkv, c->B, T, c->C, c->NH); return CLIMZ_OK;
    case K_WINDOW:
        return nn_window_attention_forward(r->out, r->save, r->work, qkv, c->B, c->H, c->W, c->C, c->NH,
                                           &c->win);
    default: return nn_global_attention_forward(r->out, r->save, qkv, c->B, T, c->C, c->NH);
    }
}
static climz_status bwd_f(float *dqkv, run_f *r, const float *dout, const float *qkv, const cfg *c) {
    size_t const T = cfg_T(c);
    switch (c->kind) {
    case K_PLAIN: nn_attention_backward(dqkv, dout, qkv, r->save, c->B, T, c->C, c->NH); return CLIMZ_OK;
    case K_WINDOW:
        return nn_window_attention_backward(dqkv, r->work, dout, qkv, r->out, r->save, c->B, c->H, c->W,
                                            c->C, c->NH, &c->win);
    default: return nn_global_attention_backward(dqkv, dout, qkv, r->out, r->save, c->B, T, c->C, c->NH);
    }
}

/* ---- reference: plain attention over explicitly gathered windows (double) ------------------
 * Window (wi, wj) holds rows wi*wh.. and the columns c0 + j, j < ww, c0 = wj*ww: a column
 * c < W is the window's own token (a query); c >= W is column c - W when wrapping, and absent
 * otherwise (padding). The gathered sequence runs plain attention; the own tokens' outputs
 * are kept, and backward scatters the gradient of every gathered row (dout of wrapped rows
 * is 0, they are not outputs). */
static size_t ref_window_tokens(const cfg *c, size_t wi, size_t wj, size_t *idx, size_t *nq) {
    size_t const wh = c->win.wh < c->H ? c->win.wh : c->H, ww = c->win.ww < c->W ? c->win.ww : c->W;
    size_t const nww = (c->W + ww - 1) / ww;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) { /* own tokens first, then wrapped ones */
        for (size_t r = wi * wh; r < wi * wh + wh && r < c->H; r++)
            for (size_t j = 0; j < ww; j++) {
                size_t const col = wj * ww + j;
                if (pass == 0 && col < c->W) idx[n++] = r * c->W + col;
                if (pass == 1 && col >= c->W && c->win.wrap_lon && nww > 1) idx[n++] = r * c->W + col - c->W;
            }
        if (pass == 0) *nq = n;
    }
    return n;
}

static void ref_window(double *out, double *dqkv, const double *qkv, const double *dout, const cfg *c) {
    size_t const T = cfg_T(c), C = c->C, C3 = 3 * C;
    size_t const wh = c->win.wh < c->H ? c->win.wh : c->H, ww = c->win.ww < c->W ? c->win.ww : c->W;
    size_t const nwh = (c->H + wh - 1) / wh, nww = (c->W + ww - 1) / ww;
    size_t *idx = malloc(2 * wh * ww * sizeof(size_t));
    double *sq = malloc(2 * wh * ww * C3 * sizeof(double)), *so = malloc(2 * wh * ww * C * sizeof(double));
    double *sdo = calloc(2 * wh * ww * C, sizeof(double)), *sdq = malloc(2 * wh * ww * C3 * sizeof(double));
    double *att = malloc(c->NH * 4 * wh * ww * wh * ww * sizeof(double));
    for (size_t b = 0; b < c->B; b++)
        for (size_t wi = 0; wi < nwh; wi++)
            for (size_t wj = 0; wj < nww; wj++) {
                size_t nq = 0;
                size_t const n = ref_window_tokens(c, wi, wj, idx, &nq);
                for (size_t i = 0; i < n; i++) memcpy(sq + i * C3, qkv + (b * T + idx[i]) * C3, C3 * sizeof(double));
                nn_attention_forward_f64(so, att, sq, 1, n, C, c->NH);
                for (size_t i = 0; i < nq; i++) memcpy(out + (b * T + idx[i]) * C, so + i * C, C * sizeof(double));
                if (!dqkv) continue;
                memset(sdo, 0, n * C * sizeof(double));
                for (size_t i = 0; i < nq; i++) memcpy(sdo + i * C, dout + (b * T + idx[i]) * C, C * sizeof(double));
                memset(sdq, 0, n * C3 * sizeof(double));
                nn_attention_backward_f64(sdq, sdo, sq, att, 1, n, C, c->NH);
                for (size_t i = 0; i < n; i++)
                    for (size_t e = 0; e < C3; e++) dqkv[(b * T + idx[i]) * C3 + e] += sdq[i * C3 + e];
            }
    free(idx);
    free(sq);
    free(so);
    free(sdo);
    free(sdq);
    free(att);
}

/* ---- finite differences (tests/nn/gradcheck.h) ------------------------------------------ */

typedef struct fd_ctx {
    const cfg *c;
    run_d *r;
    const double *qkv, *R;
    size_t nout;
} fd_ctx;

static double fd_loss(void *p) { /* sum(out * R) */
    fd_ctx *const x = p;
    fwd_d(x->r, x->qkv, x->c);
    return gc_dot(x->r->out, x->R, x->nout);
}

/* d sum(out * R) / d qkv from backward against central differences, on the tokens listed in
 * toks (all tokens of batch 0 and 1 when ntok == 0); @return the max relative error. */
static double fd_check(const cfg *c, const size_t *toks, size_t ntok, unsigned long long seed) {
    size_t const T = cfg_T(c), C3 = 3 * c->C, nin = c->B * T * C3, nout = c->B * T * c->C;
    double *qkv = malloc(nin * sizeof(double)), *R = malloc(nout * sizeof(double));
    double *dq = calloc(nin, sizeof(double));
    unsigned long long st = seed;
    fill_normal(qkv, nin, &st);
    fill_normal(R, nout, &st);
    run_d r;
    run_d_alloc(&r, c);
    CHECK_OK(fwd_d(&r, qkv, c));
    CHECK_OK(bwd_d(dq, &r, R, qkv, c));
    fd_ctx x = {c, &r, qkv, R, nout};
    double worst = 0;
    if (ntok == 0) {
        worst = gc_check(qkv, dq, nin, fd_loss, &x);
    } else {
        /* gc_check's step h = 1e-5 is for small losses: this one sums ~10^4 products and its
         * rounding noise (~1e-14) over 2h swamps gradients of 1e-3 (the error grows as h
         * shrinks: 1.5e-5 at h = 1e-6, 2.8e-6 at 1e-5, 4e-7 at 1e-4), so these elements use
         * the same central difference with h = 1e-4 (truncation h^2 f3 / 6 ~ 1e-9). */
        double const h = 1e-4;
        for (size_t i = 0; i < ntok; i++)
            for (size_t e = toks[i] * C3; e < (toks[i] + 1) * C3; e++) {
                double const x0 = qkv[e];
                qkv[e] = x0 + h;
                double const lp = fd_loss(&x);
                qkv[e] = x0 - h;
                double const lm = fd_loss(&x);
                qkv[e] = x0;
                double const num = (lp - lm) / (2 * h);
                double den = fabs(num) > fabs(dq[e]) ? fabs(num) : fabs(dq[e]);
                den = den > GC_FLOOR ? den : GC_FLOOR;
                worst = fabs(num - dq[e]) / den > worst ? fabs(num - dq[e]) / den : worst;
            }
    }
    run_d_free(&r);
    free(qkv);
    free(R);
    free(dq);
    return worst;
}

static void test_fd(void) {
    static const struct {
        const char *name;
        cfg c;
    } cases[] = {
        {"plain", {K_PLAIN, 2, 3, 5, 8, 2, {0, 0, 0}}},
        {"window 2x3 padded", {K_WINDOW, 2, 5, 7, 8, 2, {2, 3, 0}}},
        {"window 1x4 wide, wrap", {K_WINDOW, 1, 4, 7, 8, 2, {1, 4, 1}}},
        {"window 3x3 wrap (2 wrapped columns)", {K_WINDOW, 2, 5, 7, 6, 3, {3, 3, 1}}},
        {"window 4x1 tall", {K_WINDOW, 1, 7, 3, 8, 2, {4, 1, 0}}},
        {"window covers grid", {K_WINDOW, 2, 3, 4, 8, 2, {5, 9, 1}}},
        {"global small", {K_GLOBAL, 2, 1, 17, 8, 2, {0, 0, 0}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double const e = fd_check(&cases[i].c, NULL, 0, 100 + i);
        printf("  fd %-44s max rel err %.2e\n", cases[i].name, e);
        CHECK_MSG(e < 1e-6, "finite differences, %s: rel err %.3g", cases[i].name, e);
    }
    /* Several query and key blocks (64 queries, 128 keys at hd = 32, forward tasks of 256
     * queries): tokens at the block edges. A 10x15 window on 11x16 (windows of 150, 15, 10,
     * 1 tokens, wrap), global T = 300. */
    static const size_t wt[] = {0, 63, 64, 127, 128, 149, 150, 175};
    static const size_t gt[] = {0, 63, 64, 127, 128, 255, 256, 299, 300, 599};
    cfg const cw = {K_WINDOW, 1, 11, 16, 32, 1, {10, 15, 1}}, cg = {K_GLOBAL, 2, 1, 300, 32, 1, {0, 0, 0}};
    double const ew = fd_check(&cw, wt, sizeof wt / sizeof wt[0], 200);
    double const eg = fd_check(&cg, gt, sizeof gt / sizeof gt[0], 201);
    printf("  fd %-44s max rel err %.2e\n", "window 10x15 wrap on 11x16 (block edges)", ew);
    printf("  fd %-44s max rel err %.2e\n", "global T=300 (5 query x 3 key blocks)", eg);
    CHECK_MSG(ew < 1e-6 && eg < 1e-6, "finite differences, several blocks: %.3g %.3g", ew, eg);
}

/* ---- window attention == plain attention over gathered windows (double and float) ---------- */

static void test_window_vs_ref(void) {
    static const cfg cases[] = {
        {K_WINDOW, 2, 5, 7, 16, 2, {4, 4, 0}},  /* square, padded in both directions */
        {K_WINDOW, 1, 5, 7, 16, 2, {4, 4, 1}},  /* square, wrapped in longitude */
        {K_WINDOW, 2, 6, 11, 16, 4, {2, 4, 1}}, /* wide, wrap */
        {K_WINDOW, 1, 9, 5, 16, 2, {4, 2, 0}},  /* tall */
        {K_WINDOW, 1, 9, 5, 16, 2, {4, 2, 1}},  /* tall, wrap */
        {K_WINDOW, 1, 18, 37, 64, 2, {12, 16, 1}}, /* 192-token windows: several blocks */
        {K_WINDOW, 1, 6, 8, 16, 2, {3, 4, 1}},  /* exact tiling: wrap changes nothing */
        {K_WINDOW, 1, 21, 23, 32, 1, {20, 20, 1}}, /* 400 queries + 340 wrapped keys */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const cfg *c = &cases[k];
        size_t const T = cfg_T(c), nin = c->B * T * 3 * c->C, nout = c->B * T * c->C;
        unsigned long long st = 7 + k;
        double *qkv = malloc(nin * sizeof(double)), *dout = malloc(nout * sizeof(double));
        double *ro = calloc(nout, sizeof(double)), *rdq = calloc(nin, sizeof(double));
        double *dq = calloc(nin, sizeof(double));
        fill_normal(qkv, nin, &st);
        fill_normal(dout, nout, &st);
        ref_window(ro, rdq, qkv, dout, c);
        run_d r;
        run_d_alloc(&r, c);
        CHECK_OK(fwd_d(&r, qkv, c));
        CHECK_OK(bwd_d(dq, &r, dout, qkv, c));
        double const eo = rel_diff_dd(r.out, ro, nout), eg = rel_diff_dd(dq, rdq, nin);
        CHECK_MSG(eo < 1e-13 && eg < 1e-13, "window %zux%zu wrap %d on %zux%zu (double): out %.3g dqkv %.3g",
                  c->win.wh, c->win.ww, c->win.wrap_lon, c->H, c->W, eo, eg);
        /* float */
        float *fq = malloc(nin * sizeof(float)), *fdo = malloc(nout * sizeof(float));
        float *fdq = calloc(nin, sizeof(float));
        to_float(fq, qkv, nin);
        to_float(fdo, dout, nout);
        run_f rf;
        run_f_alloc(&rf, c);
        CHECK_OK(fwd_f(&rf, fq, c));
        CHECK_OK(bwd_f(fdq, &rf, fdo, fq, c));
        double const fo = rel_diff_fd(rf.out, ro, nout), fg = rel_diff_fd(fdq, rdq, nin);
        printf("  window %2zux%-2zu wrap %d on %2zux%-2zu: double out %.1e dqkv %.1e, float out %.1e dqkv %.1e\n",
               c->win.wh, c->win.ww, c->win.wrap_lon, c->H, c->W, eo, eg, fo, fg);
        CHECK_MSG(fo < 1e-5 && fg < 1e-5, "window (float): out %.3g dqkv %.3g", fo, fg);
        run_f_free(&rf);
        run_d_free(&r);
        free(fq);
        free(fdo);
        free(fdq);
        free(qkv);
        free(dout);
        free(ro);
        free(rdq);
        free(dq);
    }
}

/* Masking, directly: a padded window's real tokens must not see anything else. Changing the
 * tokens of one window leaves the outputs of every other window bit-identical. */
static void test_windows_independent(void) {
    cfg const c = {K_WINDOW, 1, 5, 7, 16, 2, {4, 4, 0}};
    size_t const T = cfg_T(&c), nin = T * 3 * c.C, nout = T * c.C;
    unsigned long long st = 99;
    double *q = malloc(nin * sizeof(double));
    fill_normal(q, nin, &st);
    float *fq = malloc(nin * sizeof(float)), *o1 = malloc(nout * sizeof(float));
    to_float(fq, q, nin);
    run_f r;
    run_f_alloc(&r, &c);
    CHECK_OK(fwd_f(&r, fq, &c));
    memcpy(o1, r.out, nout * sizeof(float));
    /* scramble the bottom-right window (rows 4, columns 4..6): 3 real tokens */
    for (size_t t = 4 * 7 + 4; t < T; t++)
        for (size_t e = 0; e < 3 * c.C; e++) fq[t * 3 * c.C + e] *= -3.0f;
    CHECK_OK(fwd_f(&r, fq, &c));
    size_t same = 0, changed = 0;
    for (size_t t = 0; t < T; t++) {
        int const inside = t / 7 >= 4 && t % 7 >= 4;
        int const eq = !memcmp(o1 + t * c.C, r.out + t * c.C, c.C * sizeof(float));
        same += !inside && eq;
        changed += inside && !eq;
    }
    CHECK(same == T - 3 && changed == 3);
    run_f_free(&r);
    free(q);
    free(fq);
    free(o1);
}

/* ---- one window covering the grid == streamed global == plain ------------------------------ */

static void test_window_equals_global(void) {
    size_t const B = 2, H = 6, W = 9, C = 16, NH = 2, T = H * W, nin = B * T * 3 * C, nout = B * T * C;
    cfg const cw = {K_WINDOW, B, H, W, C, NH, {6, 9, 0}}, cb = {K_WINDOW, B, H, W, C, NH, {100, 100, 1}};
    cfg const cg = {K_GLOBAL, B, 1, T, C, NH, {0, 0, 0}}, cp = {K_PLAIN, B, 1, T, C, NH, {0, 0, 0}};
    CHECK(nn_window_attention_work_size(B, H, W, C, &cw.win) == 0);
    unsigned long long st = 5;
    double *q = malloc(nin * sizeof(double)), *dout = malloc(nout * sizeof(double));
    fill_normal(q, nin, &st);
    fill_normal(dout, nout, &st);
    float *fq = malloc(nin * sizeof(float)), *fdo = malloc(nout * sizeof(float));
    to_float(fq, q, nin);
    to_float(fdo, dout, nout);
    const cfg *cs[4] = {&cw, &cb, &cg, &cp};
    float *outs[4], *dqs[4];
    for (int k = 0; k < 4; k++) {
        run_f r;
        run_f_alloc(&r, cs[k]);
        dqs[k] = calloc(nin, sizeof(float));
        CHECK_OK(fwd_f(&r, fq, cs[k]));
        CHECK_OK(bwd_f(dqs[k], &r, fdo, fq, cs[k]));
        outs[k] = r.out;
        r.out = NULL;
        run_f_free(&r);
    }
    /* the same engine with the same blocks: window(whole grid) and global are bit-identical */
    CHECK(!memcmp(outs[0], outs[2], nout * sizeof(float)) && !memcmp(dqs[0], dqs[2], nin * sizeof(float)));
    CHECK(!memcmp(outs[1], outs[2], nout * sizeof(float)) && !memcmp(dqs[1], dqs[2], nin * sizeof(float)));
    double *po = malloc(nout * sizeof(double)), *pdq = malloc(nin * sizeof(double));
    for (size_t i = 0; i < nout; i++) po[i] = outs[3][i];
    for (size_t i = 0; i < nin; i++) pdq[i] = dqs[3][i];
    double const eo = rel_diff_fd(outs[2], po, nout), eg = rel_diff_fd(dqs[2], pdq, nin);
    CHECK_MSG(eo < 1e-5 && eg < 1e-5, "global vs plain: out %.3g dqkv %.3g", eo, eg);
    for (int k = 0; k < 4; k++) {
        free(outs[k]);
        free(dqs[k]);
    }
    free(q);
    free(dout);
    free(fq);
    free(fdo);
    free(po);
    free(pdq);
}

/* ---- streamed global == plain for T = 1100 (float, forward and backward) ------------------- */

static void test_streamed_large(void) {
    size_t const B = 2, T = 1100, C = 64, NH = 2, nin = B * T * 3 * C, nout = B * T * C;
    cfg const cg = {K_GLOBAL, B, 1, T, C, NH, {0, 0, 0}}, cp = {K_PLAIN, B, 1, T, C, NH, {0, 0, 0}};
    unsigned long long st = 11;
    double *q = malloc(nin * sizeof(double)), *dout = malloc(nout * sizeof(double));
    fill_normal(q, nin, &st);
    fill_normal(dout, nout, &st);
    for (size_t i = 0; i < nin; i++) q[i] *= 1.5; /* sharper softmax rows */
    float *fq = malloc(nin * sizeof(float)), *fdo = malloc(nout * sizeof(float));
    to_float(fq, q, nin);
    to_float(fdo, dout, nout);
    run_f rg, rp;
    run_f_alloc(&rg, &cg);
    run_f_alloc(&rp, &cp);
    float *dg = calloc(nin, sizeof(float)), *dp = calloc(nin, sizeof(float));
    double const t0 = omp_get_wtime();
    CHECK_OK(fwd_f(&rg, fq, &cg));
    CHECK_OK(bwd_f(dg, &rg, fdo, fq, &cg));
    double const t1 = omp_get_wtime();
    fwd_f(&rp, fq, &cp);
    bwd_f(dp, &rp, fdo, fq, &cp);
    double const t2 = omp_get_wtime();
    double *po = malloc(nout * sizeof(double)), *pdq = malloc(nin * sizeof(double));
    for (size_t i = 0; i < nout; i++) po[i] = rp.out[i];
    for (size_t i = 0; i < nin; i++) pdq[i] = dp[i];
    double const eo = rel_diff_fd(rg.out, po, nout), eg = rel_diff_fd(dg, pdq, nin);
    printf("  streamed vs plain, T=%zu: out %.2e dqkv %.2e (max |out| %.3g, |dqkv| %.3g); %.3f s vs %.3f s\n",
           T, eo, eg, max_abs(po, nout), max_abs(pdq, nin), t1 - t0, t2 - t1);
    CHECK_MSG(eo < 1e-5 && eg < 1e-5, "streamed vs plain: out %.3g dqkv %.3g", eo, eg);
    run_f_free(&rg);
    run_f_free(&rp);
    free(dg);
    free(dp);
    free(q);
    free(dout);
    free(fq);
    free(fdo);
    free(po);
    free(pdq);
}

/* ---- backward accumulates ------------------------------------------------------------------ */

static void test_accumulates(void) {
    static const cfg cases[] = {{K_WINDOW, 1, 5, 7, 8, 2, {2, 3, 1}},
                                {K_GLOBAL, 1, 1, 70, 8, 2, {0, 0, 0}},
                                {K_PLAIN, 1, 1, 9, 8, 2, {0, 0, 0}}};
    for (size_t k = 0; k < 3; k++) {
        const cfg *c = &cases[k];
        size_t const nin = c->B * cfg_T(c) * 3 * c->C, nout = c->B * cfg_T(c) * c->C;
        unsigned long long st = 3;
        double *q = malloc(nin * sizeof(double)), *dout = malloc(nout * sizeof(double));
        double *g1 = calloc(nin, sizeof(double)), *g2 = malloc(nin * sizeof(double));
        fill_normal(q, nin, &st);
        fill_normal(dout, nout, &st);
        run_d r;
        run_d_alloc(&r, c);
        CHECK_OK(fwd_d(&r, q, c));
        CHECK_OK(bwd_d(g1, &r, dout, q, c));
        for (size_t i = 0; i < nin; i++) g2[i] = 1.0; /* start from ones: result = 1 + g1 */
        CHECK_OK(bwd_d(g2, &r, dout, q, c));
        double e = 0;
        for (size_t i = 0; i < nin; i++) e = fmax(e, fabs(g2[i] - (1.0 + g1[i])));
        CHECK_MSG(e < 1e-12, "kind %d: backward does not accumulate (%.3g)", c->kind, e);
        run_d_free(&r);
        free(q);
        free(dout);
        free(g1);
        free(g2);
    }
}

/* ---- deterministic mode: the same bits for 1, 2 and 3 threads ------------------------------- */

static void test_deterministic(void) {
    static const cfg cases[] = {{K_WINDOW, 2, 13, 22, 64, 2, {8, 8, 1}},
                                {K_WINDOW, 1, 12, 30, 32, 2, {4, 16, 0}},
                                {K_GLOBAL, 2, 1, 333, 64, 4, {0, 0, 0}},
                                {K_PLAIN, 1, 1, 50, 16, 2, {0, 0, 0}}};
    int const saved = omp_get_max_threads();
    nn_set_deterministic(1);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const cfg *c = &cases[k];
        size_t const nin = c->B * cfg_T(c) * 3 * c->C, nout = c->B * cfg_T(c) * c->C;
        unsigned long long st = 21 + k;
        double *q = malloc(nin * sizeof(double)), *dout = malloc(nout * sizeof(double));
        fill_normal(q, nin, &st);
        fill_normal(dout, nout, &st);
        float *fq = malloc(nin * sizeof(float)), *fdo = malloc(nout * sizeof(float));
        to_float(fq, q, nin);
        to_float(fdo, dout, nout);
        float *o[3], *g[3];
        for (int nt = 1; nt <= 3; nt++) {
            omp_set_num_threads(nt);
            run_f r;
            run_f_alloc(&r, c);
            g[nt - 1] = calloc(nin, sizeof(float));
            CHECK_OK(fwd_f(&r, fq, c));
            CHECK_OK(bwd_f(g[nt - 1], &r, fdo, fq, c));
            o[nt - 1] = r.out;
            r.out = NULL;
            run_f_free(&r);
        }
        for (int i = 1; i < 3; i++)
            CHECK_MSG(!memcmp(o[0], o[i], nout * sizeof(float)) && !memcmp(g[0], g[i], nin * sizeof(float)),
                      "kind %d: deterministic mode differs between 1 and %d threads", c->kind, i + 1);
        /* and it still computes attention: close to the BLAS path */
        nn_set_deterministic(0);
        omp_set_num_threads(saved);
        run_f r;
        run_f_alloc(&r, c);
        float *gb = calloc(nin, sizeof(float));
        CHECK_OK(fwd_f(&r, fq, c));
        CHECK_OK(bwd_f(gb, &r, fdo, fq, c));
        double *ro = malloc(nout * sizeof(double)), *rg = malloc(nin * sizeof(double));
        for (size_t i = 0; i < nout; i++) ro[i] = r.out[i];
        for (size_t i = 0; i < nin; i++) rg[i] = gb[i];
        double const eo = rel_diff_fd(o[0], ro, nout), eg = rel_diff_fd(g[0], rg, nin);
        CHECK_MSG(eo < 1e-5 && eg < 1e-5, "kind %d: deterministic vs BLAS path: %.3g %.3g", c->kind, eo, eg);
        nn_set_deterministic(1);
        run_f_free(&r);
        free(gb);
        free(ro);
        free(rg);
        for (int i = 0; i < 3; i++) {
            free(o[i]);
            free(g[i]);
        }
        free(q);
        free(dout);
        free(fq);
        free(fdo);
    }
    nn_set_deterministic(0);
    omp_set_num_threads(saved);
}

static void test_errors(void) {
    float x[96] = {0}, o[32], s[64], w[1];
    nn_window const bad = {0, 4, 0}, ok = {2, 2, 0};
    CHECK_STATUS(nn_window_attention_forward(o, s, w, x, 1, 2, 2, 8, 3, &ok), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_window_attention_forward(o, s, w, x, 1, 2, 2, 8, 2, &bad), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_global_attention_forward(o, s, x, 1, 4, 8, 0), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_global_attention_backward(x, o, x, o, s, 1, 4, 6, 4), CLIMZ_ERR_INVALID_ARG);
    CHECK_OK(nn_global_attention_forward(o, s, x, 1, 0, 8, 2)); /* nothing to do */
    CHECK(nn_attention_stats_size(2, 10, 4) == 160);
    /* work: gathered qkv and its gradient (5 rows x 8 gathered columns with 1 wrapped), out, dout */
    nn_window const wr = {2, 4, 1};
    CHECK(nn_window_attention_work_size(1, 5, 7, 8, &wr) == 2 * 5 * 8 * 24 + 2 * 35 * 8);
}

int main(void) {
    test_errors();
    test_fd();
    test_window_vs_ref();
    test_windows_independent();
    test_window_equals_global();
    test_accumulates();
    test_deterministic();
    test_streamed_large();
    return tu_finish();
}
