/* test_fit_mlp.c — the engine trains: a two-layer MLP (linear 2->64, exact GELU,
 * linear 64->1) fitted with AdamW (warm-up + cosine schedule, clipping) to
 * y = sin(3 x1) cos(2 x2) on a 16 x 16 grid of [-1, 1]^2, full batch, seeded.
 * Pass: the MSE falls by at least FIT_FACTOR in FIT_STEPS steps (one thread: see
 * test_fit_transformer.c). Also: in deterministic mode, 40 steps on 1 and on 2 threads
 * give the same bits. */
#include "nn/nn.h"
#include "nn/ops.h"
#include "nn/optim.h"

#include "testutil.h"

#include <cblas.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NPTS = 256, HID = 64, FIT_STEPS = 500 };
#define FIT_FACTOR 50.0 /* measured: 129x */

typedef struct mlp {
    nn_params p;
    size_t w1, b1, w2, b2;
    float *h, *a, *out, *dh, *da, *dout; /* activations and their gradients */
} mlp;

static void mlp_build(mlp *m, uint64_t seed) {
    size_t const s_w1[] = {HID, 2}, s_b1[] = {HID}, s_w2[] = {1, HID}, s_b2[] = {1};
    nn_params_init(&m->p);
    CHECK_OK(nn_params_add(&m->p, "fc1.weight", 2, s_w1, "mlp", &m->w1));
    CHECK_OK(nn_params_add(&m->p, "fc1.bias", 1, s_b1, "mlp", &m->b1));
    CHECK_OK(nn_params_add(&m->p, "fc2.weight", 2, s_w2, "mlp", &m->w2));
    CHECK_OK(nn_params_add(&m->p, "fc2.bias", 1, s_b2, "mlp", &m->b2));
    CHECK_OK(nn_params_alloc(&m->p, 1));
    /* torch.nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias */
    float const k1 = 1.0f / sqrtf(2.0f), k2 = 1.0f / sqrtf((float)HID);
    CHECK_OK(nn_params_init_uniform(&m->p, m->w1, seed, -k1, k1));
    CHECK_OK(nn_params_init_uniform(&m->p, m->b1, seed, -k1, k1));
    CHECK_OK(nn_params_init_uniform(&m->p, m->w2, seed, -k2, k2));
    CHECK_OK(nn_params_init_uniform(&m->p, m->b2, seed, -k2, k2));
    m->h = calloc(NPTS * HID, sizeof(float));
    m->a = calloc(NPTS * HID, sizeof(float));
    m->dh = calloc(NPTS * HID, sizeof(float));
    m->da = calloc(NPTS * HID, sizeof(float));
    m->out = calloc(NPTS, sizeof(float));
    m->dout = calloc(NPTS, sizeof(float));
}

static void mlp_free(mlp *m) {
    nn_params_free(&m->p);
    free(m->h), free(m->a), free(m->dh), free(m->da), free(m->out), free(m->dout);
}

/* One forward + backward; returns the MSE. Gradients land in m->p.grad. */
static double mlp_step(mlp *m, const float *x, const float *y) {
    nn_params *p = &m->p;
    nn_linear_forward(m->h, x, nn_params_data(p, m->w1), nn_params_data(p, m->b1), NPTS, 2, HID);
    nn_gelu_forward(m->a, m->h, NPTS * HID);
    nn_linear_forward(m->out, m->a, nn_params_data(p, m->w2), nn_params_data(p, m->b2), NPTS, HID, 1);
    double loss = 0;
    for (size_t i = 0; i < NPTS; i++) {
        double const d = (double)m->out[i] - y[i];
        loss += d * d;
        m->dout[i] = (float)(2.0 * d / NPTS);
    }
    nn_params_zero_grad(p);
    memset(m->da, 0, NPTS * HID * sizeof(float));
    memset(m->dh, 0, NPTS * HID * sizeof(float));
    nn_linear_backward(m->da, nn_params_grad(p, m->w2), nn_params_grad(p, m->b2), m->dout, m->a,
                       nn_params_data(p, m->w2), NPTS, HID, 1);
    nn_gelu_backward(m->dh, m->da, m->h, NPTS * HID);
    nn_linear_backward(NULL, nn_params_grad(p, m->w1), nn_params_grad(p, m->b1), m->dh, x,
                       nn_params_data(p, m->w1), NPTS, 2, HID);
    return loss / NPTS;
}

/* Train `steps` steps; returns the first and last loss; weights stay in m. */
static void fit(mlp *m, const float *x, const float *y, int steps, double *first, double *last) {
    nn_adamw o;
    nn_adamw_hparams hp = nn_adamw_defaults();
    hp.weight_decay = 1e-4;
    nn_adamw_init(&o, &hp);
    o.clip_norm = 1.0;
    nn_lr_schedule const sch = {2e-2, 1e-4, 25, FIT_STEPS};
    for (int s = 0; s < steps; s++) {
        double const loss = mlp_step(m, x, y);
        if (s == 0) *first = loss;
        CHECK_OK(nn_adamw_step(&o, &m->p, nn_lr_at(&sch, o.step), NULL));
    }
    *last = mlp_step(m, x, y);
}

int main(void) {
    float x[NPTS * 2], y[NPTS];
    for (size_t i = 0; i < 16; i++)
        for (size_t j = 0; j < 16; j++) {
            size_t const k = i * 16 + j;
            x[2 * k] = -1.0f + 2.0f * (float)i / 15.0f;
            x[2 * k + 1] = -1.0f + 2.0f * (float)j / 15.0f;
            y[k] = (float)(sin(3.0 * x[2 * k]) * cos(2.0 * x[2 * k + 1]));
        }
    int const nt = cz_num_threads();
    cz_set_num_threads(1);
    openblas_set_num_threads(1); /* its own pthreads, not governed by OpenMP */
    double const t0 = cz_now();
    mlp m;
    mlp_build(&m, 2024);
    double first = 0, last = 0;
    fit(&m, x, y, FIT_STEPS, &first, &last);
    double const secs = cz_now() - t0;
    printf("MLP fit: MSE %.6g -> %.6g (factor %.1f) in %d AdamW steps, %.2f s\n", first, last, first / last,
           FIT_STEPS, secs);
    CHECK_MSG(first / last >= FIT_FACTOR, "loss fell only %.1fx (need %.0fx)", first / last, FIT_FACTOR);
    CHECK(last < 5e-3);

    /* deterministic mode: the same bits with 1 and 2 threads */
    nn_set_deterministic(1);
    mlp m1, m2;
    mlp_build(&m1, 7);
    mlp_build(&m2, 7);
    double f1, l1, f2, l2;
    cz_set_num_threads(1);
    fit(&m1, x, y, 40, &f1, &l1);
    cz_set_num_threads(2);
    fit(&m2, x, y, 40, &f2, &l2);
    cz_set_num_threads(nt);
    nn_set_deterministic(0);
    CHECK(f1 == f2 && l1 == l2);
    CHECK_MSG(memcmp(m1.p.data, m2.p.data, m1.p.numel * sizeof(float)) == 0,
              "deterministic training differs between 1 and 2 threads");
    CHECK_MSG(f1 / l1 >= 1.3, "deterministic run: loss fell only %.2fx in 40 steps", f1 / l1); /* 1.60x */
    mlp_free(&m);
    mlp_free(&m1);
    mlp_free(&m2);
    return tu_finish();
}
