/* test_vae_train.c — the two training phases through the public API on the bundled hgt.nc:
 * the loss falls, phase 2 leaves the frozen encoder bit-identical and stores the entropy
 * tables, a resumed run equals an uninterrupted one bit for bit, multi-rate phase 2 records its
 * levels, follows the seed and learns, a 2-channel model trains on
 * pr + tas (NaN-masked), and bad inputs fail with the right codes. */
#include "testutil.h"
#include "vae/vae.h"
#include "vae/vae_codec.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tiny model that trains in seconds on one core. */
static const char *tiny_cfg =
    "{\"width\": 16, \"heads\": 2, \"mlp_ratio\": 2, \"encoder\": \"S G\", \"decoder\": \"EW G\","
    " \"win_s\": [4, 4], \"win_ew\": [2, 8], \"latent\": 4, \"hyper_patch\": 2,"
    " \"hyper_width\": 16, \"hyper_heads\": 2, \"hyper_latent\": 2}";

/* progress lines: "step N/M  loss X ..." -> losses[] */
typedef struct capture {
    double loss[256];
    int n;
    int quiet;
    long ntrain, nval;
} capture;

static void on_line(void *user, const char *line) {
    capture *c = user;
    long s, total;
    double l;
    long p1, p2;
    if (sscanf(line, "step %ld/%ld loss %lf", &s, &total, &l) == 3 && c->n < 256) c->loss[c->n++] = l;
    if (sscanf(line, "train: %ld parameters (%ld trained), %ld training samples, %ld validation",
               &p1, &p2, &c->ntrain, &c->nval) == 4)
        (void)0;
    if (!c->quiet) printf("  | %s\n", line);
}

static const char *write_text(const char *dir, const char *name, const char *text) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
    return path;
}

static int same_group(const vae_model *a, const vae_model *b, const char *group) {
    int const g = nn_params_find_group(&a->p, group);
    if (g < 0) return 0;
    size_t const lo = a->p.groups[g].begin, hi = a->p.groups[g].end;
    return memcmp(a->p.data + lo, b->p.data + lo, (hi - lo) * sizeof(float)) == 0;
}

static void base_opts(climz_train_opts *o, const char *const *data, const char *cfg, capture *cap) {
    memset(o, 0, sizeof *o);
    o->config = cfg;
    o->data = data;
    o->train_times = "0:17";
    o->val_times = "18:20";
    o->batch = 4;
    o->crop_h = 32, o->crop_w = 32;
    o->seed = 11;
    o->log_every = 5;
    o->val_every = 1000;
    o->val_max = 3;
    o->lr = 2e-3;
    o->progress = on_line;
    o->progress_user = cap;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *dir = tu_tmpdir("test_vae_train");
    char cfg[1024], m1[1024], m2[1024], ma[1024], mb[1024], ck[1024], hgt[1024];
    snprintf(cfg, sizeof cfg, "%s", write_text(dir, "tiny.json", tiny_cfg));
    snprintf(m1, sizeof m1, "%s/p1.safetensors", dir);
    snprintf(m2, sizeof m2, "%s/p2.safetensors", dir);
    snprintf(ma, sizeof ma, "%s/a.safetensors", dir);
    snprintf(mb, sizeof mb, "%s/b.safetensors", dir);
    snprintf(ck, sizeof ck, "%s/b.ckpt", dir);
    snprintf(hgt, sizeof hgt, "%s:HGT", tu_data("hgt.nc"));
    const char *data[] = {hgt, NULL};
    climz_ctx *ctx = climz_ctx_create();
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 1)); /* small shapes: 1 thread is fastest */

    /* ---- phase 1: the loss falls ---- */
    capture cap = {{0}, 0, 0, 0, 0};
    climz_train_opts o;
    base_opts(&o, data, cfg, &cap);
    o.steps = 60;
    o.warmup = 5;
    o.val_every = 30;
    double t0 = cz_now();
    CHECK_OK(climz_train_file(ctx, m1, &o));
    printf("phase 1: %d loss reports, first %.4f last %.4f (%.1f s)\n", cap.n, cap.n ? cap.loss[0] : 0,
           cap.n ? cap.loss[cap.n - 1] : 0, cz_now() - t0);
    CHECK(cap.n == 12);
    /* the first report averages steps 1-5 (at the start the decoder outputs ~0: MSE ~1) */
    CHECK_MSG(cap.n && cap.loss[cap.n - 1] < 0.25 * cap.loss[0], "phase 1 loss %.4f -> %.4f",
              cap.loss[0], cap.loss[cap.n - 1]);
    vae_model a, b;
    CHECK_OK(vae_model_load(&a, m1, 0, NULL));
    CHECK(a.cfg.width == 16 && a.cfg.field_norm == 1 && vae_model_meta(&a, "vae.train") != NULL);
    /* per-channel statistics of the training split (hgt at 500 hPa: ~5000-5900 gpm) */
    printf("model stats: mean %.1f std %.1f\n", a.norm_mean[0], a.norm_std[0]);
    CHECK(a.norm_mean[0] > 5000 && a.norm_mean[0] < 6000 && a.norm_std[0] > 50 && a.norm_std[0] < 400);

    /* ---- phase 2: encoder frozen (bit-identical), decoder trained, tables stored ---- */
    capture cap2 = {{0}, 0, 0, 0, 0};
    base_opts(&o, data, NULL, &cap2);
    o.model = m1;
    o.steps = 30;
    o.lr = 1e-3;
    t0 = cz_now();
    CHECK_OK(climz_finetune_file(ctx, m2, &o));
    printf("phase 2: first %.4f last %.4f (%.1f s)\n", cap2.n ? cap2.loss[0] : 0,
           cap2.n ? cap2.loss[cap2.n - 1] : 0, cz_now() - t0);
    CHECK(cap2.n && cap2.loss[cap2.n - 1] < cap2.loss[0]);
    CHECK_OK(vae_model_load(&b, m2, 0, NULL));
    CHECK(same_group(&a, &b, "encoder"));
    CHECK(!same_group(&a, &b, "decoder"));
    CHECK(!same_group(&a, &b, "hyper"));
    CHECK(!same_group(&a, &b, "entropy"));
    CHECK(vae_model_has_tables(&b));
    CHECK(vae_model_meta(&b, "vae.finetune") != NULL && vae_model_meta(&b, "vae.train") != NULL);
    vae_model_free(&b);
    /* --unfreeze-encoder trains it */
    o.unfreeze_encoder = 1;
    o.steps = 5;
    cap2.quiet = 1;
    CHECK_OK(climz_finetune_file(ctx, m2, &o));
    CHECK_OK(vae_model_load(&b, m2, 0, NULL));
    CHECK(!same_group(&a, &b, "encoder"));
    vae_model_free(&b);
    vae_model_free(&a);

    /* ---- resume: 20 steps at once == 10 steps, stop, resume for 10 ---- */
    capture q = {{0}, 0, 1, 0, 0};
    base_opts(&o, data, cfg, &q);
    o.steps = 20;
    o.checkpoint_every = 1000;
    CHECK_OK(climz_train_file(ctx, ma, &o));
    o.stop_at = 10;
    o.checkpoint = ck;
    CHECK_OK(climz_train_file(ctx, mb, &o));
    o.stop_at = 0;
    o.resume = ck;
    o.config = NULL; /* taken from the checkpoint */
    o.seed = 999;    /* ignored too: the run's options come from the checkpoint */
    CHECK_OK(climz_train_file(ctx, mb, &o));
    CHECK_OK(vae_model_load(&a, ma, 0, NULL));
    CHECK_OK(vae_model_load(&b, mb, 0, NULL));
    CHECK(a.p.numel == b.p.numel && memcmp(a.p.data, b.p.data, a.p.numel * sizeof(float)) == 0);
    vae_model_free(&a);
    vae_model_free(&b);
    /* the same for phase 2 */
    base_opts(&o, data, NULL, &q);
    o.model = m1;
    o.steps = 10;
    CHECK_OK(climz_finetune_file(ctx, ma, &o));
    o.stop_at = 4;
    o.checkpoint = ck;
    CHECK_OK(climz_finetune_file(ctx, mb, &o));
    o.stop_at = 0;
    o.resume = ck;
    o.model = NULL;
    CHECK_OK(climz_finetune_file(ctx, mb, &o));
    CHECK_OK(vae_model_load(&a, ma, 0, NULL));
    CHECK_OK(vae_model_load(&b, mb, 0, NULL));
    CHECK(a.p.numel == b.p.numel && memcmp(a.p.data, b.p.data, a.p.numel * sizeof(float)) == 0);
    vae_model_free(&a);
    vae_model_free(&b);

    /* ---- multi-rate phase 2: a rate level per step (vae_train.c) ---- */
    {
        char mr[1024], mr2[1024];
        snprintf(mr, sizeof mr, "%s/mr.safetensors", dir);
        snprintf(mr2, sizeof mr2, "%s/mr2.safetensors", dir);
        capture cm = {{0}, 0, 1, 0, 0};
        base_opts(&o, data, NULL, &cm);
        o.model = m1;
        o.steps = 60;
        o.log_every = 10;
        o.lr = 1e-3;
        o.rate_min = -8, o.rate_max = 16;
        CHECK_OK(climz_finetune_file(ctx, ma, &o));
        /* the loss falls (each report averages 10 steps of mixed levels) */
        printf("multi-rate: %d reports, first %.4f %.4f last %.4f %.4f\n", cm.n, cm.loss[0], cm.loss[1],
               cm.loss[cm.n - 2], cm.loss[cm.n - 1]);
        CHECK(cm.n == 6);
        CHECK_MSG(cm.loss[4] + cm.loss[5] < 0.9 * (cm.loss[0] + cm.loss[1]), "multi-rate loss %.4f -> %.4f",
                  cm.loss[0], cm.loss[5]);
        /* the model records its range (and the run's options do) */
        CHECK_OK(vae_model_load(&a, ma, 0, NULL));
        const char *lv = vae_model_meta(&a, VAE_META_RATE_LEVELS), *rec = vae_model_meta(&a, "vae.finetune");
        CHECK(lv && !strcmp(lv, "-8:16"));
        CHECK(rec && strstr(rec, "\"rate_min\":-8") && strstr(rec, "\"rate_max\":16"));
        /* the levels follow the seed and the step alone: stopped at 25 and resumed == one run */
        o.stop_at = 25;
        o.checkpoint = ck;
        CHECK_OK(climz_finetune_file(ctx, mb, &o));
        o.stop_at = 0;
        o.resume = ck;
        o.model = NULL;
        o.rate_min = o.rate_max = 0; /* ignored: the checkpoint's range continues */
        CHECK_OK(climz_finetune_file(ctx, mb, &o));
        CHECK_OK(vae_model_load(&b, mb, 0, NULL));
        CHECK(a.p.numel == b.p.numel && memcmp(a.p.data, b.p.data, a.p.numel * sizeof(float)) == 0);
        vae_model_free(&b);
        /* ... and they matter: one rate from the same seed trains other weights, and a one-rate
         * fine-tune of the multi-rate model drops its record */
        base_opts(&o, data, NULL, &cm);
        o.model = m1;
        o.steps = 60;
        o.lr = 1e-3;
        CHECK_OK(climz_finetune_file(ctx, mr, &o));
        CHECK_OK(vae_model_load(&b, mr, 0, NULL));
        CHECK(memcmp(a.p.data, b.p.data, a.p.numel * sizeof(float)) != 0);
        CHECK(vae_model_meta(&b, VAE_META_RATE_LEVELS) == NULL);
        vae_model_free(&b);
        o.model = ma;
        o.steps = 2;
        CHECK_OK(climz_finetune_file(ctx, mr2, &o));
        CHECK_OK(vae_model_load(&b, mr2, 0, NULL));
        CHECK(vae_model_meta(&b, VAE_META_RATE_LEVELS) == NULL);
        vae_model_free(&b);
        vae_model_free(&a);
        /* rate gains (--rate-gains): added at 0 and trained with the levels; the anchors that
         * no level of -8..16 reached (levels -16, 24, 32, 40) take the gains of the nearest
         * trained level; stopped and resumed == one run; a one-rate fine-tune keeps them */
        {
            char mg[1024], mg2[1024];
            snprintf(mg, sizeof mg, "%s/mg.safetensors", dir);
            snprintf(mg2, sizeof mg2, "%s/mg2.safetensors", dir);
            base_opts(&o, data, NULL, &cm);
            o.model = m1;
            o.steps = 30;
            o.lr = 1e-3;
            o.rate_min = -8, o.rate_max = 16;
            o.rate_gains = 1;
            CHECK_OK(climz_finetune_file(ctx, mg, &o));
            vae_model g, g2;
            CHECK_OK(vae_model_load(&g, mg, 0, NULL));
            CHECK(vae_model_has_rate_gain(&g));
            const char *grec = vae_model_meta(&g, "vae.finetune");
            CHECK(grec && strstr(grec, "\"rate_gains\":true"));
            if (vae_model_has_rate_gain(&g)) {
                size_t const L = g.cfg.latent;
                const float *ga = nn_params_data(&g.p, g.ix.rate_gain);
                int trained = 1, copied = 1;
                for (size_t c = 0; c < L; c++) {
                    for (size_t i = 1; i <= 4; i++) trained &= ga[i * L + c] != 0;
                    copied &= ga[c] == ga[L + c];
                    for (size_t i = 5; i < VAE_GAIN_ANCHORS; i++) copied &= ga[i * L + c] == ga[4 * L + c];
                }
                printf("rate gains after 30 steps: level -8 channel 0 %+.4f, level 16 %+.4f\n", (double)ga[L],
                       (double)ga[4 * L]);
                CHECK(trained && copied);
            }
            o.stop_at = 12;
            o.checkpoint = ck;
            CHECK_OK(climz_finetune_file(ctx, mg2, &o));
            o.stop_at = 0;
            o.resume = ck;
            o.model = NULL;
            o.rate_gains = 0; /* from the checkpoint */
            CHECK_OK(climz_finetune_file(ctx, mg2, &o));
            CHECK_OK(vae_model_load(&g2, mg2, 0, NULL));
            CHECK_MSG(g.p.numel == g2.p.numel && !memcmp(g.p.data, g2.p.data, g.p.numel * sizeof(float)),
                      "rate gains: stopped and resumed differs from one run");
            vae_model_free(&g2);
            base_opts(&o, data, NULL, &cm);
            o.model = mg;
            o.steps = 2;
            CHECK_OK(climz_finetune_file(ctx, mg2, &o));
            CHECK_OK(vae_model_load(&g2, mg2, 0, NULL));
            CHECK(vae_model_has_rate_gain(&g2) &&
                  !memcmp(nn_params_data(&g.p, g.ix.rate_gain), nn_params_data(&g2.p, g2.ix.rate_gain),
                          VAE_GAIN_ANCHORS * g.cfg.latent * sizeof(float)));
            vae_model_free(&g2);
            /* a narrower multi-rate run trains the anchors its levels reach (8 and 16 for
             * 12..16) and leaves the others as the model had them: trained gains are not
             * overwritten by the extension to untrained anchors */
            o.rate_min = 12, o.rate_max = 16;
            CHECK_OK(climz_finetune_file(ctx, mg2, &o));
            CHECK_OK(vae_model_load(&g2, mg2, 0, NULL));
            if (vae_model_has_rate_gain(&g2)) {
                size_t const L = g.cfg.latent;
                const float *a0 = nn_params_data(&g.p, g.ix.rate_gain), *a1 = nn_params_data(&g2.p, g2.ix.rate_gain);
                int kept = 1, moved = 0;
                for (size_t i = 0; i < VAE_GAIN_ANCHORS; i++)
                    for (size_t c = 0; c < L; c++)
                        if (i == 3 || i == 4) moved |= a0[i * L + c] != a1[i * L + c];
                        else kept &= a0[i * L + c] == a1[i * L + c];
                CHECK_MSG(kept && moved, "a run over levels 12..16: anchors 8 and 16 %s, the others %s",
                          moved ? "trained" : "unchanged", kept ? "kept" : "overwritten");
            } else
                CHECK(vae_model_has_rate_gain(&g2));
            vae_model_free(&g2);
            vae_model_free(&g);
            o.rate_min = o.rate_max = 0;
            o.rate_gains = 1; /* without levels: refused */
            CHECK_STATUS(climz_finetune_file(ctx, mg2, &o), CLIMZ_ERR_INVALID_ARG);
            printf("message: %s\n", climz_ctx_last_error(ctx));
            base_opts(&o, data, NULL, &cm); /* the checks below start from ma again (mg ends here) */
            o.model = ma;
            o.steps = 2;
        }
        /* bad ranges; none in phase 1 */
        o.rate_min = 4, o.rate_max = 2;
        CHECK_STATUS(climz_finetune_file(ctx, mr2, &o), CLIMZ_ERR_INVALID_ARG);
        o.rate_min = -17, o.rate_max = 0;
        CHECK_STATUS(climz_finetune_file(ctx, mr2, &o), CLIMZ_ERR_INVALID_ARG);
        o.rate_min = 0, o.rate_max = 41;
        CHECK_STATUS(climz_finetune_file(ctx, mr2, &o), CLIMZ_ERR_INVALID_ARG);
        base_opts(&o, data, cfg, &cm);
        o.steps = 2;
        o.rate_min = -8, o.rate_max = 8;
        CHECK_STATUS(climz_train_file(ctx, mr2, &o), CLIMZ_ERR_INVALID_ARG);
        printf("message: %s\n", climz_ctx_last_error(ctx));
    }

    /* ---- a 2-channel model on pr + tas (NaN outside the land) ---- */
    {
        char spec[1024], m3[1024], cfg2[1024];
        snprintf(spec, sizeof spec, "%s:pr,tas", tu_data("bcsd_obs_1999.nc"));
        snprintf(m3, sizeof m3, "%s/two.safetensors", dir);
        snprintf(cfg2, sizeof cfg2, "%s",
                 write_text(dir, "two.json",
                            "{\"in_channels\": 2, \"field_norm\": false, \"width\": 16, \"heads\": 2,"
                            " \"encoder\": \"S\", \"decoder\": \"G\", \"latent\": 4,"
                            " \"hyper_width\": 16, \"hyper_heads\": 2, \"hyper_latent\": 2}"));
        const char *d2[] = {spec, NULL};
        capture c3 = {{0}, 0, 1, 0, 0};
        base_opts(&o, d2, cfg2, &c3);
        o.train_times = "0:9";
        o.val_times = "10:11";
        o.steps = 10;
        CHECK_OK(climz_train_file(ctx, m3, &o));
        CHECK_OK(vae_model_load(&a, m3, 0, NULL));
        printf("pr + tas stats: %.3g +- %.3g, %.3g +- %.3g\n", a.norm_mean[0], a.norm_std[0],
               a.norm_mean[1], a.norm_std[1]);
        CHECK(a.cfg.in_channels == 2 && a.norm_mean[1] > -30 && a.norm_mean[1] < 40 &&
              isfinite(a.norm_std[0]) && a.norm_std[0] > 0);
        vae_model_free(&a);
        /* a 2-channel model given 1 channel */
        snprintf(spec, sizeof spec, "%s:pr", tu_data("bcsd_obs_1999.nc"));
        CHECK_STATUS(climz_train_file(ctx, m3, &o), CLIMZ_ERR_DIMENSION);
    }

    /* ---- per-spec time ranges ---- */
    {
        char spec[1024];
        const char *d5[] = {spec, NULL};
        capture c5 = {{0}, 0, 1, 0, 0};
        snprintf(spec, sizeof spec, "%s:HGT@0:9", tu_data("hgt.nc"));
        base_opts(&o, d5, cfg, &c5);
        o.steps = 1;
        CHECK_OK(climz_train_file(ctx, ma, &o));
        CHECK(c5.ntrain == 10 && c5.nval == 11); /* global 0:17 / 18:20 overridden */
        snprintf(spec, sizeof spec, "%s:HGT@2:-4/-2:-1", tu_data("hgt.nc"));
        CHECK_OK(climz_train_file(ctx, ma, &o));
        CHECK(c5.ntrain == 16 && c5.nval == 2);
        snprintf(spec, sizeof spec, "%s:HGT@x", tu_data("hgt.nc")); /* not a range: a path */
        CHECK_STATUS(climz_train_file(ctx, ma, &o), CLIMZ_ERR_NOT_FOUND);
        printf("ntrain %ld nval %ld\n", c5.ntrain, c5.nval);
    }

    /* ---- bad inputs ---- */
    {
        char bad[1024];
        snprintf(bad, sizeof bad, "%s:NOPE", tu_data("hgt.nc"));
        const char *d3[] = {bad, NULL};
        capture c4 = {{0}, 0, 1, 0, 0};
        base_opts(&o, d3, cfg, &c4);
        o.steps = 2;
        CHECK_STATUS(climz_train_file(ctx, ma, &o), CLIMZ_ERR_NOT_FOUND);
        printf("message: %s\n", climz_ctx_last_error(ctx));
        CHECK(strstr(climz_ctx_last_error(ctx), "NOPE") != NULL);
        base_opts(&o, data, cfg, &c4);
        o.steps = 2;
        o.train_times = "30:40"; /* hgt has 21 steps */
        CHECK_STATUS(climz_train_file(ctx, ma, &o), CLIMZ_ERR_EMPTY);
        base_opts(&o, data, cfg, &c4);
        o.resume = m1; /* a model, not a checkpoint */
        CHECK(climz_train_file(ctx, ma, &o) != CLIMZ_OK);
        base_opts(&o, data, write_text(dir, "bad.json", "{\"width\": 10, \"heads\": 3}"), &c4);
        CHECK_STATUS(climz_train_file(ctx, ma, &o), CLIMZ_ERR_INVALID_ARG);
        base_opts(&o, data, NULL, &c4);
        CHECK_STATUS(climz_finetune_file(ctx, ma, &o), CLIMZ_ERR_INVALID_ARG); /* no model */
    }
    climz_ctx_free(ctx);
    return tu_finish();
}
