/* test_loss.c — losses and rate terms: VAE reparameterisation and KL, masked
 * latitude-weighted MSE, quantisation proxies, the discretised Gaussian and the factorised
 * prior. Golden values, finite-difference gradients in double (< 1e-6 relative), float
 * against double, and the LowerBound gradient rules. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/factorized.h"
#include "nn/loss.h"
#include "testutil.h"

static unsigned long long g_st = 0x5eed0002ull;

#define dalloc gc_dalloc
#define falloc gc_falloc
#define fcopy gc_fcopy
#define drand(n, lo, hi) gc_drand((n), (lo), (hi), &g_st)

#define TOL64 1e-6

/* ---- VAE ---------------------------------------------------------------------------------- */

typedef struct {
    double *mu, *lv, *eps, *r, *y;
    size_t n;
    int kl;
} vae_ctx;

static double vae_loss(void *p) {
    vae_ctx *c = (vae_ctx *)p;
    if (c->kl) return 3.0 * nn_kl_forward_f64(c->mu, c->lv, c->n);
    nn_reparam_forward_f64(c->y, c->eps, c->mu, c->lv, c->n, NULL);
    return gc_dot(c->y, c->r, c->n);
}

static void test_vae(void) {
    /* golden: KL(mu = 1, lv = 0) = 0.5, KL(0, 0) = 0, KL(0, ln 2) = 0.5 (2 - 1 - ln 2) */
    float mu[3] = {1, 0, 0}, lv[3] = {0, 0, (float)log(2.0)};
    CHECK_NEAR(nn_kl_forward(mu, lv, 1), 0.5, 1e-12);
    CHECK_NEAR(nn_kl_forward(mu + 1, lv + 1, 1), 0.0, 1e-12);
    CHECK_NEAR(nn_kl_forward(mu + 2, lv + 2, 1), 0.5 * (1 - log(2.0)), 1e-7);
    CHECK_NEAR(nn_kl_forward(mu, lv, 3), (0.5 + 0.5 * (1 - log(2.0))) / 3, 1e-7);
    /* reparameterisation draws eps in order from the generator */
    nn_rng r1, r2;
    nn_rng_seed(&r1, 99), nn_rng_seed(&r2, 99);
    float y[3], eps[3];
    nn_reparam_forward(y, eps, mu, lv, 3, &r1);
    int same = 1;
    for (int i = 0; i < 3; i++) same &= eps[i] == nn_rng_normal(&r2);
    CHECK(same);
    CHECK_NEAR(y[2], 0 + sqrt(2.0) * eps[2], 1e-6);
    /* clamp: logvar 50 acts as 20 */
    float lvbig = 50, mu0 = 0, e1 = 1, yb;
    nn_reparam_forward(&yb, &e1, &mu0, &lvbig, 1, NULL);
    CHECK_NEAR(yb, exp(10.0), 1e-3);

    for (int kl = 0; kl < 2; kl++) {
        vae_ctx c = {0};
        c.n = 12, c.kl = kl;
        c.mu = drand(c.n, -2, 2), c.lv = drand(c.n, -3, 3), c.eps = drand(c.n, -2, 2);
        c.r = drand(c.n, -1, 1), c.y = dalloc(c.n);
        /* below the clamp: zero gradient (above it, e^20 terms would drown the finite
         * differences in rounding noise; checked directly below) */
        c.lv[0] = -31, c.lv[1] = -40;
        double *dmu = dalloc(c.n), *dlv = dalloc(c.n);
        if (kl) nn_kl_backward_f64(dmu, dlv, c.mu, c.lv, c.n, 3.0);
        else nn_reparam_backward_f64(dmu, dlv, c.r, c.lv, c.eps, c.n);
        CHECK(dlv[0] == 0 && dlv[1] == 0);
        double big = 20.5, g = 0;
        if (kl) nn_kl_backward_f64(NULL, &g, c.mu, &big, 1, 1.0);
        else nn_reparam_backward_f64(NULL, &g, c.r, &big, c.eps, 1);
        CHECK(g == 0);
        GC_EXPECT(kl ? "kl mu" : "reparam mu", c.mu, dmu, c.n, vae_loss, &c, TOL64);
        GC_EXPECT(kl ? "kl logvar" : "reparam logvar", c.lv, dlv, c.n, vae_loss, &c, TOL64);
        /* float twins */
        float *fm = fcopy(c.mu, c.n), *fl = fcopy(c.lv, c.n), *fe = fcopy(c.eps, c.n), *fy = falloc(c.n);
        if (kl) {
            CHECK_NEAR(nn_kl_forward(fm, fl, c.n), nn_kl_forward_f64(c.mu, c.lv, c.n), 1e-6);
        } else {
            vae_loss(&c);
            nn_reparam_forward(fy, fe, fm, fl, c.n, NULL);
            CHECK(gc_rel_diff_fd(fy, c.y, c.n, 1e-2) < 1e-5);
        }
        free(c.mu), free(c.lv), free(c.eps), free(c.r), free(c.y), free(dmu), free(dlv);
        free(fm), free(fl), free(fe), free(fy);
    }
}

/* ---- MSE ------------------------------------------------------------------------------------ */

typedef struct {
    double *pred, *target, *rw;
    uint8_t *mask;
    size_t B, C, H, W;
} mse_ctx;

static double mse_loss(void *p) {
    mse_ctx *c = (mse_ctx *)p;
    return 2.0 * nn_mse_forward_f64(c->pred, c->target, c->mask, c->rw, c->B, c->C, c->H, c->W);
}

static void test_mse(void) {
    /* golden: (1, 1, 2, 2), errors 1, 2 (row 0), 3, 4 (row 1), row weights 1, 3, mask drops 4 */
    float pred[4] = {1, 2, 3, 4}, tgt[4] = {0, 0, 0, 0}, rw[2] = {1, 3};
    uint8_t mask[4] = {0, 0, 0, 1};
    CHECK_NEAR(nn_mse_forward(pred, tgt, NULL, NULL, 1, 1, 2, 2), 30.0 / 4, 1e-12);
    CHECK_NEAR(nn_mse_forward(pred, tgt, NULL, rw, 1, 1, 2, 2), (1 + 4 + 3 * (9 + 16)) / 8.0, 1e-12);
    CHECK_NEAR(nn_mse_forward(pred, tgt, mask, rw, 1, 1, 2, 2), (1 + 4 + 3 * 9) / 5.0, 1e-12);
    float dp[4] = {0};
    nn_mse_backward(dp, pred, tgt, mask, rw, 1, 1, 2, 2, 1.0f);
    CHECK_NEAR(dp[0], 2.0 * 1 / 5, 1e-7);
    CHECK_NEAR(dp[2], 2.0 * 3 * 3 / 5, 1e-6);
    CHECK(dp[3] == 0);
    uint8_t all[4] = {1, 1, 1, 1};
    float dz[4] = {0};
    CHECK(nn_mse_forward(pred, tgt, all, rw, 1, 1, 2, 2) == 0.0);
    nn_mse_backward(dz, pred, tgt, all, rw, 1, 1, 2, 2, 1.0f);
    CHECK(dz[0] == 0 && dz[1] == 0 && dz[2] == 0 && dz[3] == 0);

    mse_ctx c = {0};
    c.B = 2, c.C = 3, c.H = 4, c.W = 5;
    size_t const n = c.B * c.C * c.H * c.W;
    c.pred = drand(n, -1, 1), c.target = drand(n, -1, 1), c.rw = drand(c.H, 0.2, 1);
    c.mask = (uint8_t *)calloc(n, 1);
    for (size_t i = 0; i < n; i++) c.mask[i] = tu_rand_uniform(&g_st) < 0.2;
    double *d = dalloc(n);
    nn_mse_backward_f64(d, c.pred, c.target, c.mask, c.rw, c.B, c.C, c.H, c.W, 2.0);
    GC_EXPECT("mse pred (masked, weighted)", c.pred, d, n, mse_loss, &c, TOL64);
    float *fp = fcopy(c.pred, n), *ft = fcopy(c.target, n), *fw = fcopy(c.rw, c.H);
    double const lf = nn_mse_forward(fp, ft, c.mask, fw, c.B, c.C, c.H, c.W);
    double const ld = nn_mse_forward_f64(c.pred, c.target, c.mask, c.rw, c.B, c.C, c.H, c.W);
    CHECK(fabs(lf - ld) < 1e-5 * ld);
    free(c.pred), free(c.target), free(c.rw), free(c.mask), free(d), free(fp), free(ft), free(fw);
}

/* ---- quantisation ----------------------------------------------------------------------------- */

static void test_quant(void) {
    float x[8] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 0.49f, -2.51f, 3.0f}, o[8];
    float const want[8] = {0, 2, 2, -0.0f, -2, 0, -3, 3};
    nn_round_forward(o, x, NULL, 8, 8);
    CHECK(memcmp(o, want, sizeof o) == 0); /* half to even, sign of zero kept */
    float off[2] = {0.25f, -1.0f}, o2[4];
    float x2[4] = {0.75f, 0.5f, 1.24f, -0.4f};
    nn_round_forward(o2, x2, off, 4, 2); /* per channel: offsets repeat with period 2 */
    /* round(0.5) + 0.25, round(1.5) - 1, round(0.99) + 0.25, round(0.6) - 1 */
    CHECK(o2[0] == 0.25f && o2[1] == 1.0f && o2[2] == 1.25f && o2[3] == 0.0f);
    size_t const n = 20000;
    float *a = falloc(n), *b = falloc(n), *c = falloc(n);
    nn_rng r;
    nn_rng_seed(&r, 5);
    nn_noise_forward(b, a, n, &r);
    double mn = 1, mx = -1, mean = 0;
    for (size_t i = 0; i < n; i++) {
        mn = b[i] < mn ? b[i] : mn, mx = b[i] > mx ? b[i] : mx, mean += b[i];
    }
    mean /= (double)n;
    CHECK(mn >= -0.5 && mx < 0.5 && mn < -0.49 && mx > 0.49 && fabs(mean) < 0.01);
    nn_rng_seed(&r, 5);
    nn_noise_forward(c, a, n, &r);
    CHECK(memcmp(b, c, n * sizeof(float)) == 0);
    for (size_t i = 0; i < n; i++) a[i] = 1.0f;
    memset(c, 0, n * sizeof(float));
    nn_quant_backward(c, a, n);
    nn_quant_backward(c, a, n);
    CHECK(c[0] == 2.0f && c[n - 1] == 2.0f);
    free(a), free(b), free(c);
}

/* ---- discretised Gaussian ---------------------------------------------------------------------- */

typedef struct {
    double *v, *mean, *scale;
    size_t n;
} ga_ctx;

static double ga_loss(void *p) {
    ga_ctx *c = (ga_ctx *)p;
    return 1.5 * nn_gauss_forward_f64(NULL, c->v, c->mean, c->scale, c->n);
}

static void test_gauss(void) {
    float v0 = 0, s1 = 1, lik;
    double const bits = nn_gauss_forward(&lik, &v0, NULL, &s1, 1);
    CHECK_NEAR(lik, 0.38292492254802624, 1e-7);
    CHECK_NEAR(bits, -log2(0.38292492254802624), 1e-6);
    CHECK_NEAR(nn_gauss_pmf(0, 1), 0.38292492254802624, 1e-15);
    CHECK_NEAR(nn_gauss_pmf(1.3, 2), nn_gauss_pmf(-1.3, 2), 1e-17);
    /* scales below 0.11 act as 0.11; far tails floor at 1e-9 */
    float sm = 0.01f, s011 = 0.11f, l1, l2, far = 30;
    nn_gauss_forward(&l1, &v0, NULL, &sm, 1);
    nn_gauss_forward(&l2, &v0, NULL, &s011, 1);
    CHECK(l1 == l2);
    CHECK_NEAR(nn_gauss_forward(&l1, &far, NULL, &s1, 1), -log2(1e-9), 1e-9);
    CHECK(l1 == 1e-9f);
    double tot = 0;
    for (int k = -200; k <= 200; k++) tot += nn_gauss_pmf(k, 5.0);
    CHECK_NEAR(tot, 1.0, 1e-12);

    ga_ctx c = {0};
    c.n = 30;
    /* |u| <= 2, scale >= 0.5: likelihoods stay above the floor (below it the finite
     * difference is 0 while LowerBound passes the gradient on purpose) */
    c.v = drand(c.n, -1.5, 1.5), c.mean = drand(c.n, -0.5, 0.5), c.scale = drand(c.n, 0.5, 3);
    double *dv = dalloc(c.n), *dm = dalloc(c.n), *ds = dalloc(c.n);
    nn_gauss_backward_f64(dv, dm, ds, c.v, c.mean, c.scale, c.n, 1.5);
    GC_EXPECT("gauss v", c.v, dv, c.n, ga_loss, &c, TOL64);
    GC_EXPECT("gauss mean", c.mean, dm, c.n, ga_loss, &c, TOL64);
    GC_EXPECT("gauss scale", c.scale, ds, c.n, ga_loss, &c, TOL64);
    float *fv = fcopy(c.v, c.n), *fm = fcopy(c.mean, c.n), *fs = fcopy(c.scale, c.n);
    double const bf = nn_gauss_forward(NULL, fv, fm, fs, c.n);
    /* the float inputs differ from the double ones by their rounding: compare on them */
    double *dv2 = dalloc(c.n), *dm2 = dalloc(c.n), *ds2 = dalloc(c.n);
    for (size_t i = 0; i < c.n; i++) dv2[i] = fv[i], dm2[i] = fm[i], ds2[i] = fs[i];
    CHECK_NEAR(bf, nn_gauss_forward_f64(NULL, dv2, dm2, ds2, c.n), 1e-9 * fabs(bf));

    /* LowerBound rules below the scale bound 0.11 */
    double v = 0, sc = 0.05, g = 0;
    nn_gauss_backward_f64(NULL, NULL, &g, &v, NULL, &sc, 1, 1.0);
    CHECK_MSG(g == 0, "scale below the bound with u = 0: bits grow with the scale, gradient must stop (%g)", g);
    v = 2, g = 0;
    nn_gauss_backward_f64(NULL, NULL, &g, &v, NULL, &sc, 1, 1.0);
    CHECK_MSG(g < 0, "scale below the bound with u = 2: raising the scale lowers bits, gradient passes (%g)", g);
    /* through the likelihood floor the gradient still pushes the likelihood up */
    v = 10, sc = 0.3, g = 0;
    double gv = 0;
    nn_gauss_backward_f64(&gv, NULL, &g, &v, NULL, &sc, 1, 1.0);
    CHECK(g < 0 && gv > 0);
    free(c.v), free(c.mean), free(c.scale), free(dv), free(dm), free(ds), free(fv), free(fm), free(fs);
    free(dv2), free(dm2), free(ds2);
}

/* ---- factorised prior ------------------------------------------------------------------------ */

typedef struct {
    const nn_fp *fp;
    double *v, *params;
    size_t N;
    int aux;
} fp_ctx;

static double fp_loss(void *p) {
    fp_ctx *c = (fp_ctx *)p;
    if (c->aux) return 0.7 * nn_fp_aux_forward_f64(c->params, c->fp);
    return 0.7 * nn_fp_forward_f64(NULL, c->v, c->params, c->fp, c->N);
}

static void test_factorized(void) {
    nn_fp fp;
    size_t const filters[4] = {3, 3, 3, 3};
    CHECK_OK(nn_fp_init(&fp, 2, filters, 4));
    CHECK(fp.K == 5 && fp.nparams == 2 * 61); /* CompressAI: 61 parameters per channel */
    CHECK(fp.off_bias[0] == 6 && fp.off_factor[0] == 12 && fp.off_matrix[1] == 18 &&
          fp.off_matrix[4] == 18 + 90 && fp.off_quantiles == 122 - 6);
    size_t const bad[2] = {3, 17};
    CHECK_STATUS(nn_fp_init(&fp, 2, bad, 2), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_fp_init(&fp, 0, filters, 4), CLIMZ_ERR_INVALID_ARG);

    size_t const C = 3, N = 7;
    CHECK_OK(nn_fp_init(&fp, C, filters, 4));
    float *pf = falloc(fp.nparams);
    nn_rng rng;
    nn_rng_seed(&rng, 11);
    nn_fp_init_params(&fp, pf, 10.0f, &rng);
    double const h0 = log(expm1(1.0 / pow(10.0, 0.2) / 3.0)), h4 = log(expm1(1.0 / pow(10.0, 0.2)));
    CHECK_NEAR(pf[fp.off_matrix[0]], h0, 1e-6);
    CHECK_NEAR(pf[fp.off_matrix[4]], h4, 1e-6);
    CHECK(pf[fp.off_factor[2]] == 0 && pf[fp.off_quantiles] == -10 && pf[fp.off_quantiles + 2] == 10);
    int bias_ok = 1;
    for (size_t i = 0; i < C * 3; i++) bias_ok &= fabsf(pf[fp.off_bias[1] + i]) <= 0.5f;
    CHECK(bias_ok);

    /* golden: at initialisation with zero biases the chain is logits(x) = x / init_scale,
     * so likelihood(v) = sigmoid((v + .5) / 10) - sigmoid((v - .5) / 10) */
    float *pz = falloc(fp.nparams);
    memcpy(pz, pf, fp.nparams * sizeof(float));
    for (size_t k = 0; k < fp.K; k++)
        for (size_t i = 0; i < C * fp.f[k + 1]; i++) pz[fp.off_bias[k] + i] = 0;
    float vz[3] = {0, 3, -7}, lz[3];
    nn_fp_forward(lz, vz, pz, &fp, 1);
    CHECK_NEAR(lz[0], tanh(0.025), 1e-7);
    CHECK_NEAR(lz[1], 1 / (1 + exp(-0.35)) - 1 / (1 + exp(-0.25)), 1e-7);
    CHECK_NEAR(lz[2], 1 / (1 + exp(0.65)) - 1 / (1 + exp(0.75)), 1e-7);
    /* pmf + tails telescope to 1 */
    double pmf[41], tail;
    nn_fp_pmf(pmf, &tail, pf, &fp, 1, -20.0, 41);
    double tot = tail;
    for (int i = 0; i < 41; i++) tot += pmf[i];
    CHECK_NEAR(tot, 1.0, 1e-12);
    CHECK(tail > 0.01); /* scale 10 at init: plenty of mass beyond +-20.5 */
    float med[3];
    nn_fp_medians(med, pf, &fp);
    CHECK(med[0] == 0 && med[2] == 0);

    /* gradients: random parameters around the initialisation, factors non-zero */
    double *pd = dalloc(fp.nparams);
    for (size_t i = 0; i < fp.nparams; i++) pd[i] = pf[i] + 0.3 * (tu_rand_uniform(&g_st) - 0.5);
    for (size_t j = 0; j < 3 * C; j++) pd[fp.off_quantiles + j] = pf[fp.off_quantiles + j] * 0.5 + tu_rand_uniform(&g_st);
    fp_ctx c = {&fp, drand(N * C, -12, 12), pd, N, 0};
    double *dv = dalloc(N * C), *dp = dalloc(fp.nparams);
    nn_fp_backward_f64(dv, dp, c.v, pd, &fp, N, 0.7);
    int q_untouched = 1;
    for (size_t j = 0; j < 3 * C; j++) q_untouched &= dp[fp.off_quantiles + j] == 0;
    CHECK(q_untouched);
    printf("factorised prior\n");
    GC_EXPECT("fp v", c.v, dv, N * C, fp_loss, &c, TOL64);
    GC_EXPECT("fp params", pd, dp, fp.off_quantiles, fp_loss, &c, TOL64);
    /* auxiliary loss: only the quantiles */
    c.aux = 1;
    double *da = dalloc(fp.nparams);
    nn_fp_aux_backward_f64(da, pd, &fp, 0.7);
    int rest_untouched = 1;
    for (size_t i = 0; i < fp.off_quantiles; i++) rest_untouched &= da[i] == 0;
    CHECK(rest_untouched);
    GC_EXPECT("fp aux quantiles", pd + fp.off_quantiles, da + fp.off_quantiles, 3 * C, fp_loss, &c, TOL64);
    /* the float twin computes in double inside: same bits from the same values */
    float *pf2 = fcopy(pd, fp.nparams), *vf = fcopy(c.v, N * C);
    double *pd2 = dalloc(fp.nparams), *vd2 = dalloc(N * C);
    for (size_t i = 0; i < fp.nparams; i++) pd2[i] = pf2[i];
    for (size_t i = 0; i < N * C; i++) vd2[i] = vf[i];
    CHECK(nn_fp_forward(NULL, vf, pf2, &fp, N) == nn_fp_forward_f64(NULL, vd2, pd2, &fp, N));
    CHECK(nn_fp_aux_forward(pf2, &fp) == nn_fp_aux_forward_f64(pd2, &fp));
    free(pf), free(pz), free(pd), free(c.v), free(dv), free(dp), free(da), free(pf2), free(vf);
    free(pd2), free(vd2);
}

int main(void) {
    test_vae();
    test_mse();
    test_quant();
    test_gauss();
    test_factorized();
    return tu_finish();
}
