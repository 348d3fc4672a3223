/* test_vae_model.c — the VAEformer model: configuration JSON, geometry on awkward grids,
 * forward shapes, gradients of the whole composed model (both training phases) against
 * central finite differences in double, float against double, model files round trip,
 * deterministic hyper-decoder, freezing. */
#include "nn/gradcheck.h"
#include "nn/loss.h"
#include "testutil.h"
#include "vae/vae.h"
#include "vae/vae_internal.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* A tiny configuration exercising every feature: 2 channels, a kernel larger than the
 * stride, all four block kinds, wrap, Fourier position embedding, latent padding for h_a. */
static const char *tiny_json =
    "{\"in_channels\": 2, \"patch_kernel\": [3, 3], \"patch_stride\": [2, 2], \"width\": 8,"
    " \"heads\": 2, \"mlp_ratio\": 2, \"encoder\": \"S G\", \"decoder\": \"EW NS\","
    " \"win_s\": [2, 2], \"win_ew\": [1, 4], \"win_ns\": [3, 1], \"wrap_lon\": true,"
    " \"pos\": \"fourier\", \"pos_freqs\": 2, \"latent\": 3, \"hyper_patch\": 2,"
    " \"hyper_width\": 8, \"hyper_heads\": 2, \"hyper_blocks_a\": 1, \"hyper_blocks_s\": 1,"
    " \"hyper_latent\": 2, \"fp_filters\": [3, 3], \"field_norm\": false}";

static void test_config(void) {
    vae_config c, d;
    char *j1 = NULL, *j2 = NULL;
    vae_config_default(&c);
    CHECK_OK(vae_config_check(&c));
    CHECK_OK(vae_config_to_json(&c, &j1));
    CHECK_OK(vae_config_from_json(&d, j1));
    CHECK_OK(vae_config_to_json(&d, &j2));
    CHECK(j1 && j2 && strcmp(j1, j2) == 0);
    CHECK(d.n_enc == 4 && d.enc[1] == VAE_WIN_EW && d.enc[3] == VAE_WIN_G);
    free(j1), free(j2);

    /* models/climz-default.json (the bundled model's) is the default configuration */
    {
        char path[1024], *ja = NULL, *jb = NULL;
        snprintf(path, sizeof path, "%s/models/climz-default.json", CLIMZ_SOURCE_DIR);
        CHECK_OK(vae_config_load(&d, path));
        vae_config_default(&c);
        CHECK_OK(vae_config_to_json(&c, &ja));
        CHECK_OK(vae_config_to_json(&d, &jb));
        CHECK(ja && jb && strcmp(ja, jb) == 0);
        free(ja), free(jb);
    }
    CHECK_OK(vae_config_from_json(&c, tiny_json));
    CHECK(c.in_channels == 2 && c.patch_kh == 3 && c.patch_sh == 2 && c.n_enc == 2 &&
          c.dec[0] == VAE_WIN_EW && c.dec[1] == VAE_WIN_NS && c.pos == VAE_POS_FOURIER &&
          c.wrap_lon == 1 && c.n_fp_filters == 2);
    CHECK_STATUS(vae_config_from_json(&c, "{\"widht\": 8}"), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(vae_config_from_json(&c, "{\"encoder\": \"S XX\"}"), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(vae_config_from_json(&c, "{\"width\": 10, \"heads\": 3}"), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(vae_config_from_json(&c, "{\"patch_kernel\": 2, \"patch_stride\": 4}"),
                 CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(vae_config_from_json(&c, "{\"in_channels\": 3}"), CLIMZ_ERR_INVALID_ARG); /* field_norm */
    CHECK_STATUS(vae_config_from_json(&c, "{ not json"), CLIMZ_ERR_CORRUPT);
    CHECK_STATUS(vae_config_from_json(&c, "{\"pad_tokens\": \"zero\", \"wrap_lon\": true}"),
                 CLIMZ_ERR_INVALID_ARG);
}

static void test_geometry(void) {
    vae_config c;
    vae_geom g;
    /* the reference: 721 x 1440, kernel 11x10, stride 10 -> 72 x 144 tokens, no padding */
    CHECK_OK(vae_config_from_json(&c, "{\"patch_kernel\": [11, 10], \"patch_stride\": [10, 10], \"hyper_patch\": 4}"));
    CHECK_OK(vae_geometry(&c, 721, 1440, &g));
    CHECK(g.h == 72 && g.w == 144 && g.Hp == 721 && g.Wp == 1440 && g.hz == 18 && g.wz == 36);
    /* hgt: 73 x 144 with 4x4 patches -> 19 x 36 tokens over 76 x 144; h_a 5 x 9 over 20 x 36 */
    CHECK_OK(vae_config_from_json(&c, "{\"patch\": 4, \"hyper_patch\": 4}"));
    CHECK_OK(vae_geometry(&c, 73, 144, &g));
    CHECK(g.h == 19 && g.w == 36 && g.Hp == 76 && g.Wp == 144 && g.hz == 5 && g.wz == 9 &&
          g.hp == 20 && g.wp == 36);
    /* the default: 8x8 patches, hyper patch 2 -> 10 x 18 tokens over 80 x 144, 5 x 9 */
    vae_config_default(&c);
    CHECK_OK(vae_geometry(&c, 73, 144, &g));
    CHECK(g.h == 10 && g.w == 18 && g.Hp == 80 && g.Wp == 144 && g.hz == 5 && g.wz == 9);
    /* smaller than one patch */
    CHECK_OK(vae_config_from_json(&c, "{\"patch\": 4, \"hyper_patch\": 4}"));
    CHECK_OK(vae_geometry(&c, 1, 3, &g));
    CHECK(g.h == 1 && g.w == 1 && g.Hp == 4 && g.Wp == 4);
    CHECK_STATUS(vae_geometry(&c, 0, 3, &g), CLIMZ_ERR_DIMENSION);
    CHECK_OK(vae_config_from_json(&c, "{\"patch\": 4, \"pos\": \"learned\", \"pos_h\": 19, \"pos_w\": 36}"));
    CHECK_OK(vae_geometry(&c, 73, 144, &g));
    CHECK_STATUS(vae_geometry(&c, 64, 64, &g), CLIMZ_ERR_DIMENSION);
}

/* ---- gradient checks ----------------------------------------------------------------- */

enum { GB = 2, GH = 10, GW = 12, GC = 2 };

typedef struct gc_ctx {
    vae_trainer_f64 *t;
    double *P;
    const double *x, *row_w;
    const uint8_t *mask;
    double weight;
    uint64_t seed;
} gc_ctx;

static double gc_loss(void *p) {
    gc_ctx *c = p;
    nn_rng rng;
    vae_losses ls;
    nn_rng_seed(&rng, c->seed);
    if (vae_trainer_step_p_f64(c->t, c->P, NULL, c->x, c->mask, c->row_w, c->weight, &rng, &ls) !=
        CLIMZ_OK)
        return NAN;
    return ls.loss;
}

static void make_batch(double *x, uint8_t *mask, double *row_w, unsigned long long *s) {
    for (size_t i = 0; i < (size_t)GB * GC * GH * GW; i++) {
        x[i] = tu_rand_normal(s);
        mask[i] = tu_rand_uniform(s) < 0.1;
        if (mask[i]) x[i] = 0;
    }
    for (size_t i = 0; i < (size_t)GB * GH; i++) row_w[i] = 0.2 + tu_rand_uniform(s);
}

/* Gradient of every tensor of every group that is not frozen, in double, against central
 * differences; then the float gradients against the double ones. */
static void gradcheck_phase(vae_model *m, vae_phase ph, double weight, double step, const char *label) {
    size_t const n = m->p.numel, nx = (size_t)GB * GC * GH * GW;
    double *P = malloc(n * sizeof *P), *G = calloc(n, sizeof *G);
    double *x = malloc(nx * sizeof *x), *row_w = malloc(GB * GH * sizeof *row_w);
    float *xf = malloc(nx * sizeof *xf), *rwf = malloc(GB * GH * sizeof *rwf);
    uint8_t *mask = malloc(nx);
    unsigned long long s = 42;
    make_batch(x, mask, row_w, &s);
    for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i];
    for (size_t i = 0; i < GB * GH; i++) rwf[i] = (float)row_w[i];
    for (size_t i = 0; i < n; i++) P[i] = m->p.data[i];

    vae_trainer_f64 *t = NULL;
    CHECK_OK(vae_trainer_create_f64(&t, m, ph, GB, GH, GW));
    CHECK_OK(vae_trainer_set_step_f64(t, step)); /* a rate level: the coded domain is y / step */
    gc_ctx ctx = {t, P, x, row_w, mask, weight, 7};
    nn_rng rng;
    vae_losses ls;
    nn_rng_seed(&rng, ctx.seed);
    CHECK_OK(vae_trainer_step_p_f64(t, P, G, x, mask, row_w, weight, &rng, &ls));
    printf("%s: loss %.6f mse %.6f kl %.6f bpv %.6f\n", label, ls.loss, ls.mse, ls.kl, ls.bpv);
    CHECK(isfinite(ls.loss) && ls.mse > 0);

    double worst = 0;
    const char *worst_name = "";
    size_t checked = 0;
    for (size_t i = 0; i < m->p.n; i++) {
        const nn_param *pt = &m->p.t[i];
        if (m->p.groups[pt->group].frozen) continue;
        double const e = gc_check(P + pt->offset, G + pt->offset, pt->numel, gc_loss, &ctx);
        checked += pt->numel;
        if (getenv("VAE_GC_VERBOSE")) printf("  %-50s %.3g\n", pt->name, e);
        if (!(e <= worst)) worst = e, worst_name = pt->name;
    }
    printf("%s: %zu parameters checked, worst relative error %.3g (%s)\n", label, checked, worst,
           worst_name);
    CHECK_MSG(worst < 1e-5, "%s: gradient of %s off by %.3g", label, worst_name, worst);
    CHECK(checked > 1000);

    /* float gradients against the double ones, tensor by tensor (relative L2) */
    vae_trainer *tf = NULL;
    CHECK_OK(vae_trainer_create(&tf, m, ph, GB, GH, GW));
    CHECK_OK(vae_trainer_set_step(tf, step));
    nn_params_zero_grad(&m->p);
    nn_rng_seed(&rng, ctx.seed);
    vae_losses lf;
    CHECK_OK(vae_trainer_step(tf, xf, mask, rwf, weight, &rng, &lf));
    CHECK_NEAR(lf.loss, ls.loss, 1e-4 * fabs(ls.loss));
    double fworst = 0;
    for (size_t i = 0; i < m->p.n; i++) {
        const nn_param *pt = &m->p.t[i];
        if (m->p.groups[pt->group].frozen || pt->group == nn_params_find_group(&m->p, "aux")) continue;
        double d2 = 0, g2 = 0;
        for (size_t k = 0; k < pt->numel; k++) {
            double const gd = G[pt->offset + k], gf = m->p.grad[pt->offset + k];
            d2 += (gd - gf) * (gd - gf);
            g2 += gd * gd;
        }
        double const e = sqrt(d2) / (sqrt(g2) + 1e-6);
        if (e > fworst) fworst = e;
    }
    printf("%s: float vs double gradients, worst relative L2 %.3g\n", label, fworst);
    CHECK(fworst < 2e-3);
    vae_trainer_free(tf);
    vae_trainer_free_f64(t);
    free(P), free(G), free(x), free(row_w), free(xf), free(rwf), free(mask);
}

/* the tiny model with weights that exercise the nonlinearities (see below) */
static void gradcheck_model(vae_model *mp, const char *json_extra) {
    vae_config c;
    vae_model m;
    char json[2048];
    snprintf(json, sizeof json, "%.*s%s}", (int)strlen(tiny_json) - 1, tiny_json, json_extra);
    CHECK_OK(vae_config_from_json(&c, json));
    CHECK_OK(vae_model_create(&m, &c, 1));
    CHECK_OK(vae_model_init_weights(&m, 1234));
    /* weights of 0.02 make every path nearly linear: scale them up so that GELU, LayerNorm
     * and softmax are exercised off their linear regime; but keep mu small, so that no
     * likelihood of the Gaussian conditional falls to its floor (where CompressAI's
     * LowerBound gradient is not the derivative of the floored value) */
    for (size_t i = 0; i < m.p.t[m.ix.fp_first].offset; i++) m.p.data[i] *= 4.0f;
    for (size_t i = 0; i < m.p.t[m.ix.enc_out_w].numel; i++)
        nn_params_data(&m.p, m.ix.enc_out_w)[i] *= 0.2f;
    /* LayerNorm gains and biases away from 1 / 0, so their gradients are tested too */
    {
        unsigned long long s = 5;
        for (size_t i = 0; i < m.p.n; i++)
            if (strstr(m.p.t[i].name, "norm") || m.p.t[i].ndim == 1)
                for (size_t k = 0; k < m.p.t[i].numel; k++)
                    m.p.data[m.p.t[i].offset + k] += (float)(0.3 * tu_rand_normal(&s));
    }
    /* h_s's scales near 1.5, far from the 0.11 bound of the Gaussian conditional, where the
     * LowerBound gradient is not the derivative either */
    for (size_t i = 0; i < c.latent * c.hyper_patch * c.hyper_patch; i++)
        nn_params_data(&m.p, m.ix.hs_out_b)[i] = 1.5f;
    for (size_t i = 0; i < m.p.t[m.ix.hs_out_w].numel; i++)
        nn_params_data(&m.p, m.ix.hs_out_w)[i] *= 0.25f;
    /* phase 1: every group the loss reaches (hyper and entropy get no gradient: frozen) */
    *mp = m;
}

static void test_gradients(void) {
    vae_model m;
    gradcheck_model(&m, "");
    CHECK_OK(nn_params_freeze_group(&m.p, "hyper", 1));
    CHECK_OK(nn_params_freeze_group(&m.p, "entropy", 1));
    CHECK_OK(nn_params_freeze_group(&m.p, "aux", 1));
    gradcheck_phase(&m, VAE_PHASE_PRETRAIN, 0.05, 1.0, "phase 1");
    /* phase 2 with the encoder trainable too (aux frozen: its loss is not in `loss`) */
    CHECK_OK(nn_params_freeze_group(&m.p, "hyper", 0));
    CHECK_OK(nn_params_freeze_group(&m.p, "entropy", 0));
    gradcheck_phase(&m, VAE_PHASE_FINETUNE, 1e-4, 1.0, "phase 2");
    /* at a rate level (multi-rate training): y / D, means / D, scales / D coded, D * y_hat
     * synthesised; D = 2^(-3/8) and 2^(5/8) keep the scales / D clear of the 0.11 bound */
    gradcheck_phase(&m, VAE_PHASE_FINETUNE, 1e-4, 0.7711054127039704, "phase 2 at step 2^(-3/8)");
    gradcheck_phase(&m, VAE_PHASE_FINETUNE, 1e-4, 1.5422108254079407, "phase 2 at step 2^(5/8)");
    /* with rate gains (issue 22): channel c coded with D * 2^(a_c(level)), a_c between two
     * anchors; the gradient reaches the anchors through y / D_c + u, means / D_c, scales / D_c
     * and D_c * (.). Gains of +-0.4 octave; levels -3 (5/8 of the way from anchor -8 to 0),
     * 0 (on an anchor) and 5 */
    CHECK_OK(vae_model_add_rate_gain(&m));
    CHECK(vae_model_has_rate_gain(&m) && !nn_params_group_frozen(&m.p, "gain"));
    {
        unsigned long long s = 11;
        float *a = nn_params_data(&m.p, m.ix.rate_gain);
        for (size_t i = 0; i < m.p.t[m.ix.rate_gain].numel; i++) a[i] = (float)(0.8 * tu_rand_uniform(&s) - 0.4);
    }
    gradcheck_phase(&m, VAE_PHASE_FINETUNE, 1e-4, 0.7711054127039704, "phase 2 with rate gains at level -3");
    gradcheck_phase(&m, VAE_PHASE_FINETUNE, 1e-4, 1.0, "phase 2 with rate gains at level 0");
    gradcheck_phase(&m, VAE_PHASE_FINETUNE, 1e-4, 1.5422108254079407, "phase 2 with rate gains at level 5");
    {
        vae_trainer *tb = NULL;
        CHECK_OK(vae_trainer_create(&tb, &m, VAE_PHASE_FINETUNE, GB, GH, GW));
        CHECK_STATUS(vae_trainer_set_level(tb, 41), CLIMZ_ERR_INVALID_ARG);
        CHECK_STATUS(vae_trainer_set_level(tb, -17), CLIMZ_ERR_INVALID_ARG);
        /* level -3: only the anchors of levels -8 and 0 (rows 1 and 2) get a gradient, 3 : 5 */
        unsigned long long s = 3;
        size_t const nx = (size_t)GB * GC * GH * GW, L = m.cfg.latent;
        float *x = malloc(nx * sizeof *x), *rw = malloc(GB * GH * sizeof *rw);
        for (size_t i = 0; i < nx; i++) x[i] = (float)tu_rand_normal(&s);
        for (size_t i = 0; i < GB * GH; i++) rw[i] = 1.0f;
        CHECK_OK(vae_trainer_set_level(tb, -3));
        nn_params_zero_grad(&m.p);
        nn_rng rng;
        nn_rng_seed(&rng, 9);
        CHECK_OK(vae_trainer_step(tb, x, NULL, rw, 1e-4, &rng, NULL));
        const float *gg = nn_params_grad(&m.p, m.ix.rate_gain);
        double g1 = 0, g2 = 0, rest = 0, ratio = 0;
        for (size_t r = 0; r < VAE_GAIN_ANCHORS; r++)
            for (size_t c = 0; c < L; c++) {
                double const v = fabs((double)gg[r * L + c]);
                if (r == 1) g1 += v, ratio += gg[r * L + c] != 0 ? (double)gg[2 * L + c] / gg[r * L + c] : 0;
                else if (r == 2) g2 += v;
                else rest += v;
            }
        printf("rate-gain gradient at level -3: |anchor -8| %.3g, |anchor 0| %.3g, others %.3g\n", g1, g2, rest);
        CHECK(g1 > 0 && g2 > 0 && rest == 0);
        CHECK_NEAR(ratio / (double)L, 5.0 / 3.0, 1e-3);
        free(x), free(rw);
        CHECK_STATUS(vae_trainer_set_step(tb, 0.0), CLIMZ_ERR_INVALID_ARG);
        CHECK_STATUS(vae_trainer_set_step(tb, NAN), CLIMZ_ERR_INVALID_ARG);
        vae_trainer_free(tb);
        CHECK_OK(vae_trainer_create(&tb, &m, VAE_PHASE_PRETRAIN, GB, GH, GW));
        CHECK_STATUS(vae_trainer_set_step(tb, 2.0), CLIMZ_ERR_INVALID_ARG); /* no quantiser in phase 1 */
        vae_trainer_free(tb);
    }
    vae_model_free(&m);
    /* the reference's zero-padded windows (every window block pads here: 5 x 6 tokens) */
    gradcheck_model(&m, ", \"pad_tokens\": \"zero\", \"wrap_lon\": false");
    CHECK(m.cfg.zero_pad == 1);
    CHECK_OK(nn_params_freeze_group(&m.p, "hyper", 1));
    CHECK_OK(nn_params_freeze_group(&m.p, "entropy", 1));
    CHECK_OK(nn_params_freeze_group(&m.p, "aux", 1));
    gradcheck_phase(&m, VAE_PHASE_PRETRAIN, 0.05, 1.0, "phase 1, zero-padded windows");
    vae_model_free(&m);
}

/* ---- inference, files, determinism ----------------------------------------------------- */

static void test_inference_and_files(void) {
    vae_config c;
    vae_model m, m2;
    CHECK_OK(vae_config_from_json(&c, tiny_json));
    CHECK_OK(vae_model_create(&m, &c, 0));
    CHECK_OK(vae_model_init_weights(&m, 99));
    for (size_t i = 0; i < m.p.t[m.ix.fp_first].offset; i++) m.p.data[i] *= 10.0f;
    size_t const H = 13, W = 17; /* odd sizes: padded rows and wrapped columns */
    vae_geom g;
    CHECK_OK(vae_geometry(&c, H, W, &g));
    CHECK(g.h == 6 && g.w == 8 && g.Hp == 13 && g.Wp == 17 && g.hz == 3 && g.wz == 4);
    size_t const L = c.latent, Lz = c.hyper_latent, T = g.h * g.w, Tz = g.hz * g.wz;
    float *x = malloc(2 * H * W * sizeof *x), *xh = malloc(2 * H * W * sizeof *xh);
    float *xh2 = malloc(2 * H * W * sizeof *xh2);
    float *y = malloc(T * L * sizeof *y), *z = malloc(Tz * Lz * sizeof *z);
    float *sc = malloc(T * L * sizeof *sc), *mn = malloc(T * L * sizeof *mn);
    float *sc2 = malloc(T * L * sizeof *sc2), *mn2 = malloc(T * L * sizeof *mn2);
    unsigned long long s = 3;
    for (size_t i = 0; i < 2 * H * W; i++) x[i] = (float)tu_rand_normal(&s);
    size_t h, w, hz, wz;
    CHECK_OK(vae_encode_latent(&m, x, H, W, y, &h, &w));
    CHECK(h == g.h && w == g.w);
    CHECK_OK(vae_hyper_encode(&m, y, h, w, z, &hz, &wz));
    CHECK(hz == g.hz && wz == g.wz);
    for (size_t i = 0; i < Tz * Lz; i++) z[i] = nearbyintf(z[i]);
    /* deterministic: bit-identical with 1 and 2 threads */
    omp_set_num_threads(1);
    CHECK_OK(vae_hyper_decode(&m, z, hz, wz, sc, mn, h, w));
    omp_set_num_threads(2);
    CHECK_OK(vae_hyper_decode(&m, z, hz, wz, sc2, mn2, h, w));
    omp_set_num_threads(1);
    CHECK(memcmp(sc, sc2, T * L * sizeof *sc) == 0 && memcmp(mn, mn2, T * L * sizeof *mn) == 0);
    CHECK(nn_deterministic() == 0); /* restored */
    CHECK_STATUS(vae_hyper_decode(&m, z, hz + 1, wz, sc, mn, h, w), CLIMZ_ERR_DIMENSION);
    CHECK_OK(vae_decode_latent(&m, 1, (const float *const *)&y, h, w, &xh, H, W));
    CHECK_STATUS(vae_decode_latent(&m, 1, (const float *const *)&y, h, w + 1, &xh, H, W), CLIMZ_ERR_DIMENSION);
    {
        /* a batch gives each sample what it gives alone: exactly in deterministic mode, to
         * float rounding with the fast kernels */
        float *yb = malloc(3 * T * L * sizeof *yb), *xb = malloc(6 * 2 * H * W * sizeof *xb);
        for (size_t i = 0; i < T * L; i++) {
            yb[i] = y[i];
            yb[T * L + i] = 0.5f * y[i] - 0.25f;
            yb[2 * T * L + i] = y[(i * 7) % (T * L)];
        }
        const float *ys[3] = {yb, yb + T * L, yb + 2 * T * L};
        for (int det = 0; det < 2; det++) {
            nn_set_deterministic(det);
            float *xs[3] = {xb, xb + 2 * H * W, xb + 4 * H * W};
            CHECK_OK(vae_decode_latent(&m, 3, ys, h, w, xs, H, W));
            int same = 1;
            double dmax = 0, amax = 0;
            for (int b = 0; b < 3; b++) {
                float *one = xb + (3 + b) * 2 * H * W;
                CHECK_OK(vae_decode_latent(&m, 1, &ys[b], h, w, &one, H, W));
                same &= memcmp(xs[b], one, 2 * H * W * sizeof *one) == 0;
                for (size_t i = 0; i < 2 * H * W; i++) {
                    dmax = fmax(dmax, fabs((double)xs[b][i] - one[i]));
                    amax = fmax(amax, fabs((double)one[i]));
                }
            }
            CHECK_MSG(det ? same : dmax <= 1e-5 * amax, "batch of 3 against alone, %s kernels: max difference %g of %g",
                      det ? "deterministic" : "fast", dmax, amax);
        }
        nn_set_deterministic(0);
        free(yb);
        free(xb);
    }
    int finite = 1;
    for (size_t i = 0; i < 2 * H * W; i++) finite &= isfinite(xh[i]);
    CHECK(finite);
    /* vae_reconstruct without quantisation = decode(encode(x)) */
    double by, bz;
    CHECK_OK(vae_reconstruct(&m, x, H, W, 0, xh2, NULL, NULL));
    CHECK(memcmp(xh, xh2, 2 * H * W * sizeof *xh) == 0);
    CHECK_OK(vae_reconstruct(&m, x, H, W, 1, xh2, &by, &bz));
    CHECK(by > 0 && bz > 0 && isfinite(by) && isfinite(bz));

    /* float inference against the double twin */
    {
        double *P = malloc(m.p.numel * sizeof *P), *xd = malloc(2 * H * W * sizeof *xd);
        double *yd = malloc(T * L * sizeof *yd), *xhd = malloc(2 * H * W * sizeof *xhd);
        for (size_t i = 0; i < m.p.numel; i++) P[i] = m.p.data[i];
        for (size_t i = 0; i < 2 * H * W; i++) xd[i] = x[i];
        CHECK_OK(vn_encode_latent_f64(&m, P, xd, H, W, yd, NULL, NULL));
        CHECK_OK(vn_decode_latent_f64(&m, P, 1, (const double *const *)&yd, h, w, &xhd, H, W));
        double ey = 0, ex = 0, ny = 0, nx = 0;
        for (size_t i = 0; i < T * L; i++) ey += (yd[i] - y[i]) * (yd[i] - y[i]), ny += yd[i] * yd[i];
        for (size_t i = 0; i < 2 * H * W; i++)
            ex += (xhd[i] - xh[i]) * (xhd[i] - xh[i]), nx += xhd[i] * xhd[i];
        printf("float vs double inference: y rel %.3g, x_hat rel %.3g\n", sqrt(ey / ny), sqrt(ex / nx));
        CHECK(sqrt(ey / ny) < 1e-5 && sqrt(ex / nx) < 1e-5);
        free(P), free(xd), free(yd), free(xhd);
    }

    /* save / load: weights, stats, extras, metadata, same outputs bit for bit */
    const char *dir = tu_tmpdir("test_vae_model");
    char path[1024], bad[1024];
    snprintf(path, sizeof path, "%s/tiny.safetensors", dir);
    m.norm_mean[0] = 5.0f, m.norm_std[1] = 3.0f;
    uint32_t table[5] = {1, 2, 3, 4, 0xdeadbeef};
    size_t const shape = 5;
    CHECK_OK(vae_model_put_extra(&m, "cdf.z", NN_DT_U32, 1, &shape, table));
    CHECK_OK(vae_model_set_meta(&m, "vae.note", "hello"));
    CHECK_STATUS(vae_model_set_meta(&m, "other", "x"), CLIMZ_ERR_INVALID_ARG);
    CHECK_OK(vae_model_save(&m, path, NULL));
    CHECK_OK(vae_model_load(&m2, path, 0, NULL));
    CHECK(m2.p.numel == m.p.numel && memcmp(m2.p.data, m.p.data, m.p.numel * sizeof(float)) == 0);
    CHECK(m2.norm_mean[0] == 5.0f && m2.norm_std[1] == 3.0f && m2.norm_std[0] == 1.0f);
    const vae_extra *e = vae_model_extra(&m2, "cdf.z");
    CHECK(e && e->dtype == NN_DT_U32 && e->bytes == sizeof table && memcmp(e->data, table, sizeof table) == 0);
    CHECK(vae_model_meta(&m2, "vae.note") && !strcmp(vae_model_meta(&m2, "vae.note"), "hello"));
    char hex[65];
    uint8_t digest[32];
    CHECK_OK(nn_checkpoint_hash(path, digest, hex));
    CHECK(strcmp(hex, m2.sha256) == 0);
    CHECK_OK(vae_decode_latent(&m2, 1, (const float *const *)&y, h, w, &xh2, H, W));
    CHECK(memcmp(xh, xh2, 2 * H * W * sizeof *xh) == 0);
    CHECK(m2.p.t[m2.ix.enc_blk[0][2]].name && !strcmp(m2.p.t[m2.ix.enc_blk[0][2]].name,
                                                        "encoder.blocks.0.attn.qkv.weight"));
    /* a training load without optimizer state in the file */
    vae_model m3;
    nn_adamw opt;
    CHECK_STATUS(vae_model_load(&m3, path, 1, &opt), CLIMZ_ERR_NOT_FOUND);
    vae_model_free(&m3);
    vae_model_free(&m2);
    /* a truncated file and a safetensors file that is not a VAEformer */
    {
        uint8_t *buf;
        size_t size;
        CHECK_OK(cz_read_file(path, &buf, &size));
        CHECK_STATUS(vae_model_load_mem(&m2, buf, size - 9, "cut", 0), CLIMZ_ERR_TRUNCATED);
        vae_model_free(&m2);
        CHECK_OK(vae_model_load_mem(&m2, buf, size, "mem", 0));
        CHECK(strcmp(m2.sha256, hex) == 0);
        vae_model_free(&m2);
        free(buf);
        nn_params p;
        nn_params_init(&p);
        size_t const sh[1] = {3};
        CHECK_OK(nn_params_add(&p, "w", 1, sh, NULL, NULL));
        CHECK_OK(nn_params_alloc(&p, 0));
        snprintf(bad, sizeof bad, "%s/other.safetensors", dir);
        CHECK_OK(nn_checkpoint_save(bad, &p, NULL, NULL));
        CHECK_STATUS(vae_model_load(&m2, bad, 0, NULL), CLIMZ_ERR_UNSUPPORTED);
        vae_model_free(&m2);
        nn_params_free(&p);
    }
    /* groups and sizes */
    CHECK(vae_model_num_params(&m, "encoder") + vae_model_num_params(&m, "decoder") +
              vae_model_num_params(&m, "hyper") + vae_model_num_params(&m, "entropy") +
              vae_model_num_params(&m, "aux") ==
          vae_model_num_params(&m, NULL));
    CHECK(vae_model_num_params(&m, "aux") == 3 * Lz);
    float med[2];
    vae_model_z_medians(&m, med);
    CHECK(med[0] == 0.0f && med[1] == 0.0f);
    double aux0 = nn_fp_aux_forward(vae_model_fp_params(&m), &m.fp), aux1;
    CHECK_OK(vae_fit_quantiles(&m, &aux1));
    printf("aux loss %.4f -> %.4f after fitting the quantiles\n", aux0, aux1);
    CHECK(aux1 < 1e-3 * aux0);
    vae_model_z_medians(&m, med);
    printf("medians after fitting: %g %g\n", med[0], med[1]);

    vae_model_free(&m);
    free(x), free(xh), free(xh2), free(y), free(z), free(sc), free(mn), free(sc2), free(mn2);
}

/* The inference path (ping-pong buffers, one block's activations at a time, shared padded
 * buffers) against the training path: with the log-variance pinned at the clamp (sigma =
 * e^-15), the trainer's phase-1 MSE is the MSE of vae_reconstruct(quantize = 0). */
static void test_train_vs_inference(const char *json_extra, const char *label) {
    vae_model m;
    gradcheck_model(&m, json_extra);
    size_t const L = m.cfg.latent, D2 = 2 * m.cfg.width, H = 11, W = 13, n = 2 * H * W;
    float *w = nn_params_data(&m.p, m.ix.enc_out_w), *b = nn_params_data(&m.p, m.ix.enc_out_b);
    for (size_t i = L * D2; i < 2 * L * D2; i++) w[i] = 0;
    for (size_t i = L; i < 2 * L; i++) b[i] = -40;
    float *x = malloc(n * sizeof *x), *xh = malloc(n * sizeof *xh);
    unsigned long long s = 9;
    for (size_t i = 0; i < n; i++) x[i] = (float)tu_rand_normal(&s);
    vae_trainer *t = NULL;
    vae_losses ls;
    nn_rng rng;
    nn_rng_seed(&rng, 1);
    CHECK_OK(vae_trainer_create(&t, &m, VAE_PHASE_PRETRAIN, 1, H, W));
    CHECK_OK(vae_trainer_step(t, x, NULL, NULL, 0.0, &rng, &ls));
    CHECK_OK(vae_reconstruct(&m, x, H, W, 0, xh, NULL, NULL));
    double const mse = nn_mse_forward(xh, x, NULL, NULL, 1, 2, H, W);
    printf("%s: trainer MSE %.9f, inference MSE %.9f\n", label, ls.mse, mse);
    CHECK(fabs(ls.mse - mse) <= 1e-5 * mse);
    vae_trainer_free(t);
    vae_model_free(&m);
    free(x), free(xh);
}

/* The default (recommended) configuration on the real hgt grid: shapes and a finite output. */
static void test_default_on_hgt_grid(void) {
    vae_config c;
    vae_model m;
    vae_config_default(&c);
    CHECK_OK(vae_model_create(&m, &c, 0));
    CHECK_OK(vae_model_init_weights(&m, 1));
    printf("default model: %zu parameters (encoder %zu, decoder %zu, hyper %zu)\n",
           vae_model_num_params(&m, NULL), vae_model_num_params(&m, "encoder"),
           vae_model_num_params(&m, "decoder"), vae_model_num_params(&m, "hyper"));
    size_t const H = 73, W = 144;
    float *x = calloc(H * W, sizeof *x), *xh = calloc(H * W, sizeof *xh);
    for (size_t i = 0; i < H; i++)
        for (size_t j = 0; j < W; j++) x[i * W + j] = sinf(0.1f * (float)i) * cosf(0.05f * (float)j);
    double by, bz;
    CHECK_OK(vae_reconstruct(&m, x, H, W, 1, xh, &by, &bz));
    int finite = 1;
    for (size_t i = 0; i < H * W; i++) finite &= isfinite(xh[i]);
    CHECK(finite && isfinite(by) && isfinite(bz));
    free(x), free(xh);
    vae_model_free(&m);
}

/* A model file of m's weights (without gains) plus a tensor rate_gain of shape (a, b), every
 * value v. */
static void write_gain_file(const char *path, const vae_model *m, size_t a, size_t b, float v) {
    nn_ckpt_writer w;
    nn_ckpt_writer_init(&w);
    char *cfg = NULL;
    size_t const C = m->cfg.in_channels, shape[2] = {a, b};
    float *g = malloc(a * b * sizeof *g);
    for (size_t i = 0; i < a * b; i++) g[i] = v;
    CHECK_OK(vae_config_to_json(&m->cfg, &cfg));
    CHECK_OK(nn_ckpt_put_meta(&w, VAE_META_KIND, VAE_MODEL_KIND));
    CHECK_OK(nn_ckpt_put_meta(&w, VAE_META_CONFIG, cfg));
    CHECK_OK(nn_ckpt_put_params(&w, &m->p));
    CHECK_OK(nn_ckpt_put(&w, "norm.mean", NN_DT_F32, 1, &C, m->norm_mean));
    CHECK_OK(nn_ckpt_put(&w, "norm.std", NN_DT_F32, 1, &C, m->norm_std));
    CHECK_OK(nn_ckpt_put(&w, VAE_GAIN_TENSOR, NN_DT_F32, 2, shape, g));
    CHECK_OK(nn_ckpt_write(&w, path));
    nn_ckpt_writer_free(&w);
    free(cfg);
    free(g);
}

/* Rate gains in the model (issue 22): adding them keeps every weight (and the optimizer's
 * moments) and, at 0, the quantised reconstruction bit for bit; they survive a save and a
 * load; a file whose gains are mis-shaped, not finite or beyond +-8 octaves is refused,
 * naming the tensor. */
static void test_rate_gain_files(void) {
    vae_config c;
    vae_model m, m2;
    CHECK_OK(vae_config_from_json(&c, tiny_json));
    CHECK_OK(vae_model_create(&m, &c, 1));
    CHECK_OK(vae_model_init_weights(&m, 31));
    size_t const H = 13, W = 17, L = c.latent, n0 = m.p.numel;
    float *x = malloc(2 * H * W * sizeof *x), *xa = malloc(2 * H * W * sizeof *xa), *xb = malloc(2 * H * W * sizeof *xb);
    unsigned long long s = 8;
    for (size_t i = 0; i < 2 * H * W; i++) x[i] = (float)tu_rand_normal(&s);
    float *w0 = malloc(n0 * sizeof *w0);
    memcpy(w0, m.p.data, n0 * sizeof *w0);
    for (size_t i = 0; i < n0; i++) m.p.m[i] = (float)i, m.p.v[i] = 2.0f;
    CHECK_OK(nn_params_freeze_group(&m.p, "encoder", 1));
    double b0, b1;
    CHECK_OK(vae_reconstruct(&m, x, H, W, 1, xa, &b0, NULL));
    CHECK(!vae_model_has_rate_gain(&m));
    CHECK_OK(vae_model_add_rate_gain(&m));
    CHECK_OK(vae_model_add_rate_gain(&m)); /* a no-op the second time */
    CHECK(vae_model_has_rate_gain(&m) && m.p.numel == n0 + VAE_GAIN_ANCHORS * L);
    CHECK(m.p.t[m.ix.rate_gain].offset == n0 && !memcmp(m.p.data, w0, n0 * sizeof *w0));
    CHECK(m.p.m[5] == 5.0f && m.p.v[n0 - 1] == 2.0f && nn_params_group_frozen(&m.p, "encoder"));
    CHECK(vae_model_num_params(&m, "gain") == VAE_GAIN_ANCHORS * L);
    CHECK_OK(vae_reconstruct(&m, x, H, W, 1, xb, &b1, NULL));
    CHECK_MSG(!memcmp(xa, xb, 2 * H * W * sizeof *xa) && b0 == b1, "gains of 0 change the reconstruction");
    /* gains at level 0 change it; the file keeps them */
    float *a = nn_params_data(&m.p, m.ix.rate_gain);
    for (size_t i = 0; i < VAE_GAIN_ANCHORS * L; i++) a[i] = (float)(0.5 * tu_rand_normal(&s));
    for (size_t i = 0; i < L; i++) a[2 * L + i] = 1.0f; /* level 0: every step doubled */
    CHECK_OK(vae_reconstruct(&m, x, H, W, 1, xb, &b1, NULL));
    printf("rate gains of +1 octave at level 0: bits %.1f -> %.1f\n", b0, b1);
    CHECK(b1 < b0);
    const char *dir = tu_tmpdir("test_vae_model");
    char path[1024];
    snprintf(path, sizeof path, "%s/gain.safetensors", dir);
    CHECK_OK(vae_model_save(&m, path, NULL));
    CHECK_OK(vae_model_load(&m2, path, 0, NULL));
    CHECK(vae_model_has_rate_gain(&m2) && m2.p.numel == m.p.numel &&
          !memcmp(m2.p.data, m.p.data, m.p.numel * sizeof(float)));
    vae_model_free(&m2);
    /* damaged gains */
    struct { size_t a, b; float v; } const bad[] = {{VAE_GAIN_ANCHORS - 1, L, 0}, {VAE_GAIN_ANCHORS, L + 1, 0},
                                                     {VAE_GAIN_ANCHORS, L, NAN}, {VAE_GAIN_ANCHORS, L, INFINITY},
                                                     {VAE_GAIN_ANCHORS, L, 8.5f}};
    vae_model base;
    CHECK_OK(vae_model_create(&base, &c, 0));
    CHECK_OK(vae_model_init_weights(&base, 31));
    write_gain_file(path, &base, VAE_GAIN_ANCHORS, L, -0.25f);
    CHECK_OK(vae_model_load(&m2, path, 0, NULL));
    CHECK(vae_model_has_rate_gain(&m2) && nn_params_data(&m2.p, m2.ix.rate_gain)[L] == -0.25f);
    vae_model_free(&m2);
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        write_gain_file(path, &base, bad[k].a, bad[k].b, bad[k].v);
        CHECK_STATUS(vae_model_load(&m2, path, 0, NULL), CLIMZ_ERR_CORRUPT);
        printf("damaged rate gains %zu: %s\n", k, cz_error_message());
        CHECK(strstr(cz_error_message(), VAE_GAIN_TENSOR) != NULL);
        vae_model_free(&m2);
    }
    vae_model_free(&base);
    vae_model_free(&m);
    free(x), free(xa), free(xb), free(w0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* tiny shapes: threads only cost (and the machine is shared) */
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    test_config();
    test_geometry();
    test_gradients();
    test_inference_and_files();
    test_rate_gain_files();
    test_train_vs_inference("", "train vs inference");
    test_train_vs_inference(", \"pad_tokens\": \"zero\", \"wrap_lon\": false",
                            "train vs inference, zero-padded windows");
    test_default_on_hgt_grid();
    return tu_finish();
}
