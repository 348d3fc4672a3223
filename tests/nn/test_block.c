/* test_block.c — the pre-norm transformer block (src/nn/block.h): parameter table in
 * PyTorch naming, finite-difference check (double) of the input and all 12 parameter
 * gradients for window (padded, wrapped) and global attention, float vs double, the
 * accumulate contract, deterministic mode bit-identical for 1, 2 and 3 threads, init
 * statistics, activation sizes (linear in tokens for global attention). */
#include "nn/block.h"

#include "gradcheck.h"
#include "testutil.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static nn_block_cfg make_cfg(size_t C, size_t NH, size_t hidden, nn_attn_kind kind, size_t wh,
                             size_t ww, int wrap) {
    nn_block_cfg c;
    memset(&c, 0, sizeof c);
    c.C = C;
    c.NH = NH;
    c.hidden = hidden;
    c.eps = 1e-6f;
    c.attn = kind;
    c.win.wh = wh;
    c.win.ww = ww;
    c.win.wrap_lon = wrap;
    return c;
}

static double *field(const nn_block_params_f64 *p, size_t i) {
    double *const t[NN_BLOCK_NPARAMS] = {p->ln1_g, p->ln1_b, p->qkv_w, p->qkv_b, p->proj_w, p->proj_b,
                                         p->ln2_g, p->ln2_b, p->fc1_w, p->fc1_b, p->fc2_w, p->fc2_b};
    return t[i];
}

/* random parameters: LayerNorm gains 1 + 0.2 N(0,1), everything else 0.3 N(0,1) */
static void random_params(double *flat, const nn_block_cfg *c, unsigned long long *st) {
    size_t off = 0;
    for (size_t i = 0; i < NN_BLOCK_NPARAMS; i++) {
        size_t nd, sh[2];
        size_t const n = nn_block_param_shape(c, i, &nd, sh);
        for (size_t j = 0; j < n; j++)
            flat[off + j] = (i == 0 || i == 6) ? 1.0 + 0.2 * tu_rand_normal(st) : 0.3 * tu_rand_normal(st);
        off += n;
    }
}

static void test_param_table(void) {
    nn_block_cfg const c = make_cfg(8, 2, 12, NN_ATTN_WINDOW, 2, 2, 0);
    static const char *const want[NN_BLOCK_NPARAMS] = {
        "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
        "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"};
    static const size_t rows[NN_BLOCK_NPARAMS] = {8, 8, 24, 24, 8, 8, 8, 8, 12, 12, 8, 8};
    static const size_t cols[NN_BLOCK_NPARAMS] = {0, 0, 8, 0, 8, 0, 0, 0, 8, 0, 12, 0};
    size_t total = 0;
    for (size_t i = 0; i < NN_BLOCK_NPARAMS; i++) {
        size_t nd = 9, sh[2] = {0, 0};
        size_t const n = nn_block_param_shape(&c, i, &nd, sh);
        CHECK(!strcmp(nn_block_param_names[i], want[i]));
        CHECK(sh[0] == rows[i] && nd == (cols[i] ? 2u : 1u) && (!cols[i] || sh[1] == cols[i]));
        CHECK(n == rows[i] * (cols[i] ? cols[i] : 1));
        total += n;
    }
    size_t nd, sh[2];
    CHECK(nn_block_param_shape(&c, NN_BLOCK_NPARAMS, &nd, sh) == 0);
    /* 4C + 3C^2 + 3C + C^2 + C + 2 C hid + hid + C */
    CHECK(total == 4 * 8 + 3 * 64 + 24 + 64 + 8 + 2 * 8 * 12 + 12 + 8);
    CHECK(nn_block_num_params(&c) == total);
    nn_block_cfg const d = make_cfg(256, 8, 0, NN_ATTN_GLOBAL, 0, 0, 0); /* hidden 0 = 4C */
    CHECK(nn_block_hidden(&d) == 1024);
    CHECK(nn_block_num_params(&d) == 12 * 256 * 256 + 13 * 256);
    /* flat pointers follow the table */
    float *buf = malloc(total * sizeof(float));
    nn_block_params p;
    nn_block_params_point(&p, buf, &c);
    CHECK(p.ln1_b == buf + 8 && p.qkv_w == buf + 16 && p.qkv_b == buf + 16 + 192 && p.fc2_b == buf + total - 8);
    free(buf);
}

static void test_cfg_errors(void) {
    nn_block_cfg c = make_cfg(8, 3, 0, NN_ATTN_GLOBAL, 0, 0, 0);
    CHECK_STATUS(nn_block_cfg_check(&c), CLIMZ_ERR_INVALID_ARG);
    c = make_cfg(8, 2, 0, NN_ATTN_WINDOW, 0, 4, 0);
    CHECK_STATUS(nn_block_cfg_check(&c), CLIMZ_ERR_INVALID_ARG);
    c = make_cfg(8, 2, 0, NN_ATTN_GLOBAL, 0, 0, 0);
    c.eps = 0;
    CHECK_STATUS(nn_block_cfg_check(&c), CLIMZ_ERR_INVALID_ARG);
    c.eps = 1e-6f;
    CHECK_OK(nn_block_cfg_check(&c));
    nn_block_acts a;
    CHECK_OK(nn_block_acts_alloc(&a, &c, 1, 2, 3, 0));
    float x[48] = {0}, y[48], w[1000] = {0};
    nn_block_params p;
    nn_block_params_point(&p, w, &c);
    CHECK_OK(nn_block_forward(y, &a, x, &p, &c));
    CHECK_STATUS(nn_block_backward(x, NULL, y, x, &p, &a, &c), CLIMZ_ERR_INVALID_ARG); /* no scratch */
    nn_block_cfg c2 = c;
    c2.C = 16;
    CHECK_STATUS(nn_block_forward(y, &a, x, &p, &c2), CLIMZ_ERR_DIMENSION); /* sized for C = 8 */
    nn_block_acts_free(&a);
    nn_block_acts_free(&a); /* twice is fine */
    CHECK_STATUS(nn_block_acts_alloc(&a, &c, SIZE_MAX / 4, 4, 4, 1), CLIMZ_ERR_DIMENSION);
}

/* ---- finite differences -------------------------------------------------------------------- */

typedef struct fd_ctx {
    const nn_block_cfg *c;
    nn_block_acts_f64 *a;
    const nn_block_params_f64 *p;
    const double *inp, *R;
    double *out;
    size_t n;
} fd_ctx;

static double fd_loss(void *v) {
    fd_ctx *const x = v;
    nn_block_forward_f64(x->out, x->a, x->inp, x->p, x->c);
    return gc_dot(x->out, x->R, x->n);
}

static void fd_block(const char *name, const nn_block_cfg *c, size_t B, size_t H, size_t W) {
    size_t const N = B * H * W, n = N * c->C, np = nn_block_num_params(c);
    unsigned long long st = 1234;
    double *inp = malloc(n * sizeof(double)), *R = malloc(n * sizeof(double)), *out = malloc(n * sizeof(double));
    double *dinp = calloc(n, sizeof(double)), *w = malloc(np * sizeof(double)), *gw = calloc(np, sizeof(double));
    for (size_t i = 0; i < n; i++) inp[i] = 1.5 * tu_rand_normal(&st) + 0.3;
    /* R small: the key bias has an exactly zero gradient (softmax ignores a shift shared by
     * all keys), so there the check compares FD noise, ~1e-16 |L| / h, with GC_FLOOR */
    for (size_t i = 0; i < n; i++) R[i] = 0.25 * tu_rand_normal(&st);
    random_params(w, c, &st);
    nn_block_params_f64 p, g;
    nn_block_params_point_f64(&p, w, c);
    nn_block_params_point_f64(&g, gw, c);
    nn_block_acts_f64 a;
    CHECK_OK(nn_block_acts_alloc_f64(&a, c, B, H, W, 1));
    CHECK_OK(nn_block_forward_f64(out, &a, inp, &p, c));
    CHECK_OK(nn_block_backward_f64(dinp, &g, R, inp, &p, &a, c));
    fd_ctx x = {c, &a, &p, inp, R, out, n};
    printf("  block %s\n", name);
    GC_EXPECT("input", inp, dinp, n, fd_loss, &x, 1e-6);
    for (size_t i = 0; i < NN_BLOCK_NPARAMS; i++) {
        size_t nd, sh[2];
        size_t const m = nn_block_param_shape(c, i, &nd, sh);
        GC_EXPECT(nn_block_param_names[i], field(&p, i), field(&g, i), m, fd_loss, &x, 1e-6);
    }
    nn_block_acts_free_f64(&a);
    free(inp);
    free(R);
    free(out);
    free(dinp);
    free(w);
    free(gw);
}

static void test_fd(void) {
    nn_block_cfg c = make_cfg(8, 2, 12, NN_ATTN_WINDOW, 2, 3, 1); /* hidden 12 < 3C: scratch sizing */
    fd_block("window 2x3 wrap on 3x4 (B=2)", &c, 2, 3, 4);
    c = make_cfg(8, 2, 0, NN_ATTN_WINDOW, 2, 2, 0);
    fd_block("window 2x2 padded on 3x5", &c, 1, 3, 5);
    c = make_cfg(8, 2, 0, NN_ATTN_GLOBAL, 0, 0, 0);
    fd_block("global on 3x4 (B=2)", &c, 2, 3, 4);
}

/* ---- float block against the double block ---------------------------------------------------- */

typedef struct run {
    float *out, *dinp, *gw;
} run;

/* forward + backward of the float block on double data converted to float */
static run run_float(const nn_block_cfg *c, size_t B, size_t H, size_t W, const double *inp,
                     const double *dout, const double *w) {
    size_t const n = B * H * W * c->C, np = nn_block_num_params(c);
    float *fi = malloc(n * sizeof(float)), *fd = malloc(n * sizeof(float)), *fw = malloc(np * sizeof(float));
    gc_to_float(fi, inp, n);
    gc_to_float(fd, dout, n);
    gc_to_float(fw, w, np);
    run r = {malloc(n * sizeof(float)), calloc(n, sizeof(float)), calloc(np, sizeof(float))};
    nn_block_params p, g;
    nn_block_params_point(&p, fw, c);
    nn_block_params_point(&g, r.gw, c);
    nn_block_acts a;
    CHECK_OK(nn_block_acts_alloc(&a, c, B, H, W, 1));
    CHECK_OK(nn_block_forward(r.out, &a, fi, &p, c));
    CHECK_OK(nn_block_backward(r.dinp, &g, fd, fi, &p, &a, c));
    nn_block_acts_free(&a);
    free(fi);
    free(fd);
    free(fw);
    return r;
}

static void run_free(run *r) {
    free(r->out);
    free(r->dinp);
    free(r->gw);
}

static double rel_max(const float *f, const double *d, size_t n) {
    double m = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        m = fabs(d[i]) > m ? fabs(d[i]) : m;
        e = fabs((double)f[i] - d[i]) > e ? fabs((double)f[i] - d[i]) : e;
    }
    return e / (m > 0 ? m : 1);
}

static void test_float_vs_double(void) {
    static const struct {
        nn_attn_kind kind;
        size_t wh, ww;
        int wrap;
    } kinds[] = {{NN_ATTN_WINDOW, 4, 8, 1}, {NN_ATTN_WINDOW, 8, 4, 0}, {NN_ATTN_GLOBAL, 0, 0, 0}};
    size_t const B = 2, H = 9, W = 14, C = 32;
    for (size_t k = 0; k < 3; k++) {
        nn_block_cfg const c = make_cfg(C, 4, 0, kinds[k].kind, kinds[k].wh, kinds[k].ww, kinds[k].wrap);
        size_t const n = B * H * W * C, np = nn_block_num_params(&c);
        unsigned long long st = 77 + k;
        double *inp = malloc(n * sizeof(double)), *dout = malloc(n * sizeof(double)), *w = malloc(np * sizeof(double));
        double *out = malloc(n * sizeof(double)), *dinp = calloc(n, sizeof(double)), *gw = calloc(np, sizeof(double));
        for (size_t i = 0; i < n; i++) inp[i] = tu_rand_normal(&st);
        for (size_t i = 0; i < n; i++) dout[i] = tu_rand_normal(&st);
        random_params(w, &c, &st);
        for (size_t i = 0; i < np; i++) w[i] *= 0.5;
        nn_block_params_f64 p, g;
        nn_block_params_point_f64(&p, w, &c);
        nn_block_params_point_f64(&g, gw, &c);
        nn_block_acts_f64 a;
        CHECK_OK(nn_block_acts_alloc_f64(&a, &c, B, H, W, 1));
        CHECK_OK(nn_block_forward_f64(out, &a, inp, &p, &c));
        CHECK_OK(nn_block_backward_f64(dinp, &g, dout, inp, &p, &a, &c));
        run r = run_float(&c, B, H, W, inp, dout, w);
        double const eo = rel_max(r.out, out, n), ed = rel_max(r.dinp, dinp, n), eg = rel_max(r.gw, gw, np);
        printf("  float vs double, kind %d: out %.1e dinp %.1e dparams %.1e\n", (int)kinds[k].kind, eo, ed, eg);
        CHECK_MSG(eo < 1e-5 && ed < 1e-5 && eg < 1e-5, "float vs double: %.3g %.3g %.3g", eo, ed, eg);
        /* accumulate: a second backward into the same buffers doubles the gradients */
        for (size_t i = 0; i < np; i++) gw[i] = 1.0;
        double *gw1 = malloc(np * sizeof(double));
        CHECK_OK(nn_block_backward_f64(NULL, &g, dout, inp, &p, &a, &c));
        memcpy(gw1, gw, np * sizeof(double));
        memset(gw, 0, np * sizeof(double));
        CHECK_OK(nn_block_backward_f64(NULL, &g, dout, inp, &p, &a, &c));
        double e = 0;
        for (size_t i = 0; i < np; i++) e = fmax(e, fabs(gw1[i] - 1.0 - gw[i]));
        CHECK_MSG(e < 1e-12, "block backward does not accumulate into parameter gradients (%.3g)", e);
        /* inference: out may alias inp */
        double *io = malloc(n * sizeof(double));
        memcpy(io, inp, n * sizeof(double));
        CHECK_OK(nn_block_forward_f64(io, &a, io, &p, &c));
        CHECK(!memcmp(io, out, n * sizeof(double)));
        free(io);
        free(gw1);
        nn_block_acts_free_f64(&a);
        run_free(&r);
        free(inp);
        free(dout);
        free(w);
        free(out);
        free(dinp);
        free(gw);
    }
}

/* ---- deterministic mode ------------------------------------------------------------------------ */

static void test_deterministic(void) {
    size_t const B = 1, H = 12, W = 20, C = 64;
    int const saved = omp_get_max_threads();
    for (int kind = 0; kind < 2; kind++) {
        nn_block_cfg const c = make_cfg(C, 4, 0, kind ? NN_ATTN_GLOBAL : NN_ATTN_WINDOW, 8, 8, 1);
        size_t const n = B * H * W * C, np = nn_block_num_params(&c);
        unsigned long long st = 5;
        double *inp = malloc(n * sizeof(double)), *dout = malloc(n * sizeof(double)), *w = malloc(np * sizeof(double));
        for (size_t i = 0; i < n; i++) inp[i] = tu_rand_normal(&st);
        for (size_t i = 0; i < n; i++) dout[i] = tu_rand_normal(&st);
        random_params(w, &c, &st);
        run r[3];
        nn_set_deterministic(1);
        for (int t = 0; t < 3; t++) {
            omp_set_num_threads(t + 1);
            r[t] = run_float(&c, B, H, W, inp, dout, w);
        }
        nn_set_deterministic(0);
        omp_set_num_threads(saved);
        for (int t = 1; t < 3; t++)
            CHECK_MSG(!memcmp(r[0].out, r[t].out, n * sizeof(float)) && !memcmp(r[0].dinp, r[t].dinp, n * sizeof(float)) &&
                          !memcmp(r[0].gw, r[t].gw, np * sizeof(float)),
                      "block kind %d: deterministic mode differs between 1 and %d threads", kind, t + 1);
        for (int t = 0; t < 3; t++) run_free(&r[t]);
        free(inp);
        free(dout);
        free(w);
    }
}

/* ---- init ------------------------------------------------------------------------------------- */

static void test_init(void) {
    nn_block_cfg const c = make_cfg(64, 4, 0, NN_ATTN_GLOBAL, 0, 0, 0);
    size_t const np = nn_block_num_params(&c);
    float *w = malloc(np * sizeof(float)), *w2 = malloc(np * sizeof(float));
    double *wd = malloc(np * sizeof(double));
    nn_block_params p, p2;
    nn_block_params_f64 pd;
    nn_block_params_point(&p, w, &c);
    nn_block_params_point(&p2, w2, &c);
    nn_block_params_point_f64(&pd, wd, &c);
    for (int kind = 0; kind < 2; kind++) {
        nn_rng r1, r2, r3;
        nn_rng_seed(&r1, 42);
        nn_rng_seed(&r2, 42);
        nn_rng_seed(&r3, 42);
        nn_block_init(&p, &c, &r1, (nn_block_init_kind)kind);
        nn_block_init(&p2, &c, &r2, (nn_block_init_kind)kind);
        nn_block_init_f64(&pd, &c, &r3, (nn_block_init_kind)kind);
        CHECK(!memcmp(w, w2, np * sizeof(float)));
        int same = 1;
        for (size_t i = 0; i < np; i++) same &= (double)w[i] == wd[i];
        CHECK(same);
        size_t const C = 64;
        int ln_ok = 1;
        for (size_t i = 0; i < C; i++)
            ln_ok &= p.ln1_g[i] == 1.0f && p.ln1_b[i] == 0.0f && p.ln2_g[i] == 1.0f && p.ln2_b[i] == 0.0f;
        CHECK(ln_ok);
        /* fc1 weight (4C, C): mean 0; std 0.02 (timm) or 1/sqrt(3 C) (torch uniform bound 1/sqrt(C)) */
        double s = 0, s2 = 0, mx = 0;
        size_t const m = 4 * C * C;
        for (size_t i = 0; i < m; i++) {
            s += p.fc1_w[i];
            s2 += (double)p.fc1_w[i] * p.fc1_w[i];
            mx = fabs(p.fc1_w[i]) > mx ? fabs(p.fc1_w[i]) : mx;
        }
        double const mean = s / m, sd = sqrt(s2 / m - mean * mean);
        double const want = kind == 0 ? 0.02 : 1.0 / sqrt(3.0 * C);
        printf("  init %d: fc1 mean %.2e std %.5f (want %.5f) max %.4f\n", kind, mean, sd, want, mx);
        CHECK(fabs(mean) < 3 * want / sqrt((double)m) * 2 && fabs(sd / want - 1) < 0.03);
        if (kind == 1) {
            CHECK(mx <= 1.0 / sqrt((double)C));
            double mb = 0;
            for (size_t i = 0; i < C; i++) mb = fabs(p.fc2_b[i]) > mb ? fabs(p.fc2_b[i]) : mb;
            CHECK(mb > 0 && mb <= 1.0 / sqrt(4.0 * C)); /* fc2 fan_in = hidden */
        } else {
            int zero = 1;
            for (size_t i = 0; i < 3 * C; i++) zero &= p.qkv_b[i] == 0.0f;
            CHECK(zero);
        }
    }
    free(w);
    free(w2);
    free(wd);
}

/* ---- activation memory -------------------------------------------------------------------------- */

static void test_acts_size(void) {
    nn_block_cfg const g = make_cfg(256, 8, 0, NN_ATTN_GLOBAL, 0, 0, 0);
    nn_block_cfg const w = make_cfg(256, 8, 0, NN_ATTN_WINDOW, 8, 8, 0);
    size_t const g1 = nn_block_acts_numel(&g, 1, 32, 32, 1), g4 = nn_block_acts_numel(&g, 1, 64, 64, 1);
    size_t const w1 = nn_block_acts_numel(&w, 1, 32, 32, 1);
    /* per token: 7C + 8C (hidden 4C) forward, 2 NH stats, 4 LN stats; training 2*4C + 2C */
    size_t const per_tok = 7 * 256 + 8 * 256 + 2 * 8 + 4 + 2 * 1024 + 2 * 256;
    printf("  block activations, C=256: global %zu B/token (1024 and 4096 tokens), window %zu\n",
           g1 * 4 / 1024, w1 * 4 / 1024);
    CHECK(g1 >= 1024 * per_tok && g1 <= 1024 * per_tok + 17 * 16);
    CHECK(g4 >= 4096 * per_tok && g4 <= 4096 * per_tok + 17 * 16); /* linear in tokens */
    CHECK(w1 == g1 + nn_window_attention_work_size(1, 32, 32, 256, &w.win));
    CHECK(nn_block_acts_numel(&g, 1, 32, 32, 0) == g1 - 1024 * (2 * 1024 + 2 * 256));
}

int main(void) {
    test_param_table();
    test_cfg_errors();
    test_acts_size();
    test_init();
    test_fd();
    test_float_vs_double();
    test_deterministic();
    return tu_finish();
}
