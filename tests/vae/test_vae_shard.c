/* test_vae_shard.c — data-parallel shards (vae_shard): a global batch computed as two shards
 * (what two MPI ranks compute) gives the losses and the summed gradients of the whole batch in
 * one trainer, in both phases, with masked points and latitude weights: the MSE shares, the
 * KL and bit normalisations, the aux gradient (once) and the noise each sample draws. They
 * differ only by float summation order; a shard that drew the wrong noise, or normalised by
 * its own batch, would be off by far more than the tolerances here. */
#include "testutil.h"
#include "vae/vae.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static const char *tiny_cfg =
    "{\"width\": 16, \"heads\": 2, \"mlp_ratio\": 2, \"encoder\": \"S G\", \"decoder\": \"EW G\","
    " \"win_s\": [4, 4], \"win_ew\": [2, 8], \"latent\": 4, \"hyper_patch\": 2,"
    " \"hyper_width\": 16, \"hyper_heads\": 2, \"hyper_latent\": 2}";

#define B 4
#define H 32
#define W 32

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static void run_phase(vae_model *m, vae_phase ph, const float *x, const uint8_t *mask, const float *row_w) {
    nn_params *p = &m->p;
    size_t const n = p->numel, S = H * W;
    double const weight = ph == VAE_PHASE_PRETRAIN ? 3e-3 : 1e-2;
    float *g_full = malloc(n * sizeof *g_full);
    CHECK(g_full != NULL);
    if (!g_full) return;

    /* the whole batch in one trainer */
    vae_trainer *full = NULL, *half = NULL;
    CHECK_OK(vae_trainer_create(&full, m, ph, B, H, W));
    CHECK_OK(vae_trainer_create(&half, m, ph, B / 2, H, W));
    if (!full || !half) goto out;
    nn_rng rng;
    nn_rng_seed(&rng, 12345);
    vae_losses lf, l0, l1;
    nn_params_zero_grad(p);
    CHECK_OK(vae_trainer_step(full, x, mask, row_w, weight, &rng, &lf));
    uint64_t const after_full = rng.s;
    memcpy(g_full, p->grad, n * sizeof *g_full);

    /* two shards of B/2, as ranks 0 and 1: same step generator, gradients added together */
    double wsum = 0;
    for (size_t b = 0; b < B; b++) wsum += vae_mse_weight(mask + b * S, row_w + b * H, 1, H, W);
    nn_params_zero_grad(p);
    vae_shard s0 = {0, B, wsum, 1}, s1 = {B / 2, B, wsum, 0};
    CHECK_OK(vae_trainer_set_shard(half, &s0));
    nn_rng_seed(&rng, 12345);
    CHECK_OK(vae_trainer_step(half, x, mask, row_w, weight, &rng, &l0));
    CHECK(rng.s == after_full); /* the shard skipped the other shard's draws */
    CHECK_OK(vae_trainer_set_shard(half, &s1));
    nn_rng_seed(&rng, 12345);
    CHECK_OK(vae_trainer_step(half, x + B / 2 * S, mask + B / 2 * S, row_w + B / 2 * H, weight, &rng, &l1));
    CHECK(rng.s == after_full);

    /* losses: sums of double parts, so agreement to ~1e-6 relative (the forward passes of
     * the halves round like the whole batch's up to float reassociation) */
    double const tl = 1e-5 * fabs(lf.loss);
    CHECK_NEAR(l0.loss + l1.loss, lf.loss, tl);
    CHECK_NEAR(l0.mse + l1.mse, lf.mse, 1e-5 * lf.mse);
    if (ph == VAE_PHASE_PRETRAIN) {
        CHECK_NEAR(l0.kl + l1.kl, lf.kl, 1e-5 * lf.kl + 1e-12);
        CHECK_NEAR(l0.sigma + l1.sigma, lf.sigma, 1e-5 * lf.sigma);
    } else {
        CHECK_NEAR(l0.bpv + l1.bpv, lf.bpv, 1e-5 * lf.bpv);
        CHECK(l0.aux == lf.aux && l1.aux == lf.aux);
    }
    CHECK_NEAR(l0.y_absmean + l1.y_absmean, lf.y_absmean, 1e-5 * lf.y_absmean);
    /* gradients: float sums over a batch in another grouping; 1e-4 of the largest entry is
     * ~1000 float ulps and far below a wrong noise draw or normalisation (order 1e-1) */
    double const gmax = max_abs(g_full, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double const d = fabs((double)p->grad[i] - (double)g_full[i]);
        worst = d > worst ? d : worst;
    }
    CHECK(gmax > 0);
    CHECK_MSG(worst <= 1e-4 * gmax, "phase %d: gradients of two shards differ by %g (max |g| %g)",
              (int)ph, worst, gmax);
    printf("phase %d: loss %.9g = %.9g + %.9g, max gradient difference %.3g of %.3g\n", (int)ph,
           lf.loss, l0.loss, l1.loss, worst, gmax);

    /* a shard that does not fit the batch is refused */
    vae_shard bad = {3, B, wsum, 0};
    CHECK_STATUS(vae_trainer_set_shard(half, &bad), CLIMZ_ERR_INVALID_ARG);
    CHECK_OK(vae_trainer_set_shard(half, NULL));
out:
    vae_trainer_free(full);
    vae_trainer_free(half);
    free(g_full);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    omp_set_num_threads(1);
    vae_config c;
    vae_model m;
    CHECK_OK(vae_config_from_json(&c, tiny_cfg));
    CHECK_OK(vae_model_create(&m, &c, 1));
    CHECK_OK(vae_model_init_weights(&m, 7));

    size_t const S = H * W;
    float *x = malloc(B * S * sizeof *x), *row_w = malloc(B * H * sizeof *row_w);
    uint8_t *mask = calloc(B * S, 1);
    CHECK(x && row_w && mask);
    if (!x || !row_w || !mask) return tu_finish();
    unsigned long long st = 99;
    for (size_t i = 0; i < B * S; i++) x[i] = (float)tu_rand_normal(&st);
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < H; i++) row_w[b * H + i] = (float)(0.6 + 0.4 * cos((double)i * 0.1 + (double)b));
    for (size_t i = 0; i < S / 3; i++) mask[1 * S + i] = 1; /* a third of sample 1 missing */
    for (size_t i = 0; i < S; i += 7) mask[3 * S + i] = 1;

    /* phase 1: encoder and decoder */
    CHECK_OK(nn_params_freeze_group(&m.p, "hyper", 1));
    CHECK_OK(nn_params_freeze_group(&m.p, "entropy", 1));
    CHECK_OK(nn_params_freeze_group(&m.p, "aux", 1));
    run_phase(&m, VAE_PHASE_PRETRAIN, x, mask, row_w);
    /* phase 2 with every group trained (the encoder too, and the aux loss) */
    CHECK_OK(nn_params_freeze_group(&m.p, "hyper", 0));
    CHECK_OK(nn_params_freeze_group(&m.p, "entropy", 0));
    CHECK_OK(nn_params_freeze_group(&m.p, "aux", 0));
    run_phase(&m, VAE_PHASE_FINETUNE, x, mask, row_w);

    vae_model_free(&m);
    free(x), free(row_w), free(mask);
    return tu_finish();
}
