/* test_optim.c — AdamW against hand-computed updates (golden numbers), the learning-rate
 * schedule at chosen steps, gradient-norm clipping, frozen groups, non-finite gradients,
 * and a gradient norm that is bit-identical for any thread count. */
#include "nn/optim.h"

#include "testutil.h"

#include <math.h>
#include <string.h>

/* Two tensors: "layer.weight" (2, 2) with decay, "layer.bias" (2) without. */
static void make_store(nn_params *p) {
    size_t const s22[] = {2, 2}, s2[] = {2};
    nn_params_init(p);
    CHECK_OK(nn_params_add(p, "layer.weight", 2, s22, "decoder", NULL));
    CHECK_OK(nn_params_add(p, "layer.bias", 1, s2, "decoder", NULL));
    CHECK_OK(nn_params_alloc(p, 1));
    float const w[] = {0.5f, -1.0f, 3.25f, 0.001f}, b[] = {0.1f, -0.2f};
    memcpy(nn_params_data(p, 0), w, sizeof w);
    memcpy(nn_params_data(p, 1), b, sizeof b);
}

static void set_grads(nn_params *p, const float *gw, const float *gb) {
    memcpy(p->grad + p->t[0].offset, gw, 4 * sizeof(float));
    memcpy(p->grad + p->t[1].offset, gb, 2 * sizeof(float));
}

static void check_vec(const char *what, const float *got, const double *want, size_t n, double tol) {
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(fabs(got[i] - want[i]) <= tol * fabs(want[i]) + 1e-12, "%s[%zu] = %.10g, expected %.10g",
                  what, i, got[i], want[i]);
}

/* Golden values: the torch.optim.AdamW formula evaluated in double (Python) on the same
 * float inputs: lr 0.01 then 0.005, betas (0.9, 0.999), eps 1e-8, weight decay 0.1.
 * Tolerance 1e-6 relative: float arithmetic, constants rounded to float once. */
static void test_golden_steps(void) {
    nn_params p;
    make_store(&p);
    nn_adamw o;
    nn_adamw_hparams hp = nn_adamw_defaults();
    CHECK(hp.beta1 == 0.9 && hp.beta2 == 0.999 && hp.eps == 1e-8 && hp.weight_decay == 0.01 && hp.lr_scale == 1.0);
    hp.weight_decay = 0.1;
    nn_adamw_init(&o, NULL);
    CHECK_OK(nn_adamw_set_group(&o, &p, "decoder", &hp));
    CHECK_STATUS(nn_adamw_set_group(&o, &p, "encoder", &hp), CLIMZ_ERR_NOT_FOUND);
    nn_adamw_hparams bad = hp;
    bad.beta2 = 1.0;
    CHECK_STATUS(nn_adamw_set_group(&o, &p, "decoder", &bad), CLIMZ_ERR_INVALID_ARG);

    float const g1w[] = {0.2f, -0.1f, 0.0f, 1e-3f}, g1b[] = {-0.5f, 2.0f};
    set_grads(&p, g1w, g1b);
    double norm = 0;
    CHECK_OK(nn_adamw_step(&o, &p, 0.01, &norm));
    CHECK_NEAR(norm, sqrt(0.04 + 0.01 + 1e-6 + 0.25 + 4.0), 1e-7);
    CHECK(o.step == 1 && o.group_step[0] == 1);
    double const w1[] = {0.4895000005, -0.989000001, 3.24675, -0.009000899954};
    double const b1[] = {0.1100000013, -0.2100000029};
    double const m1[] = {0.0200000003, -0.01000000015, 0, 0.0001000000047, -0.05, 0.2};
    double const v1[] = {4.000000119e-05, 1.00000003e-05, 0, 1.000000095e-09, 0.00025, 0.004};
    check_vec("w after step 1", nn_params_data(&p, 0), w1, 4, 1e-6);
    check_vec("b after step 1", nn_params_data(&p, 1), b1, 2, 1e-6);
    check_vec("m after step 1", p.m, m1, 6, 1e-6);
    check_vec("v after step 1", p.v, v1, 6, 1e-6);
    /* gradients are left as they were */
    CHECK(p.grad[0] == 0.2f && p.grad[5] == 2.0f);

    float const g2w[] = {0.1f, 0.3f, -0.2f, 0.0f}, g2b[] = {0.5f, -1.0f};
    set_grads(&p, g2w, g2b);
    CHECK_OK(nn_adamw_step(&o, &p, 0.005, NULL));
    double const w2[] = {0.4845943526, -0.9909764501, 3.248847309, -0.01234664338};
    double const b2[] = {0.1097368434, -0.2113316881};
    double const m2[] = {0.02800000042, 0.02100000106, -0.0200000003, 9.000000427e-05, 0.005, 0.08};
    double const v2[] = {4.996000149e-05, 9.999000745e-05, 4.000000119e-05, 9.990000949e-10, 0.00049975, 0.004996};
    check_vec("w after step 2", nn_params_data(&p, 0), w2, 4, 1e-6);
    check_vec("b after step 2", nn_params_data(&p, 1), b2, 2, 1e-6);
    check_vec("m after step 2", p.m, m2, 6, 1e-6);
    check_vec("v after step 2", p.v, v2, 6, 1e-6);

    /* bad calls change nothing */
    float before[6];
    memcpy(before, p.data, sizeof before);
    CHECK_STATUS(nn_adamw_step(&o, &p, -1.0, NULL), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_adamw_step(&o, &p, NAN, NULL), CLIMZ_ERR_INVALID_ARG);
    p.grad[3] = NAN;
    CHECK_STATUS(nn_adamw_step(&o, &p, 0.01, &norm), CLIMZ_ERR_GENERIC);
    CHECK(isnan(norm));
    p.grad[3] = INFINITY;
    CHECK_STATUS(nn_adamw_step(&o, &p, 0.01, NULL), CLIMZ_ERR_GENERIC);
    CHECK(memcmp(before, p.data, sizeof before) == 0 && o.step == 2);
    nn_params_free(&p);

    nn_params q;
    nn_params_init(&q);
    size_t const s1[] = {1};
    CHECK_OK(nn_params_add(&q, "w", 1, s1, NULL, NULL));
    CHECK_OK(nn_params_alloc(&q, 0));
    CHECK_STATUS(nn_adamw_step(&o, &q, 0.01, NULL), CLIMZ_ERR_INVALID_ARG);
    nn_params_free(&q);
}

static void test_schedule(void) {
    nn_lr_schedule const s = {1e-3, 1e-5, 10, 110};
    /* golden: llm.c's get_lr evaluated in Python */
    CHECK_NEAR(nn_lr_at(&s, 0), 1e-4, 1e-18);
    CHECK_NEAR(nn_lr_at(&s, 4), 5e-4, 1e-18);
    CHECK_NEAR(nn_lr_at(&s, 9), 1e-3, 1e-18);
    CHECK_NEAR(nn_lr_at(&s, 10), 1e-3, 1e-18);
    CHECK_NEAR(nn_lr_at(&s, 35), 0.00085501785668734098, 1e-17);
    CHECK_NEAR(nn_lr_at(&s, 60), 0.000505, 1e-17);
    CHECK_NEAR(nn_lr_at(&s, 85), 0.00015498214331265901, 1e-17);
    CHECK_NEAR(nn_lr_at(&s, 109), 1.0244252618962858e-05, 1e-18);
    CHECK_NEAR(nn_lr_at(&s, 110), 1e-5, 1e-20);
    CHECK_NEAR(nn_lr_at(&s, 500), 1e-5, 1e-20);
    /* monotone decay after warm-up */
    for (uint64_t t = 10; t < 110; t++) CHECK(nn_lr_at(&s, t + 1) <= nn_lr_at(&s, t));
    /* no warm-up; constant when total <= warmup */
    nn_lr_schedule const c = {2e-4, 2e-4, 0, 0};
    CHECK(nn_lr_at(&c, 0) == 2e-4 && nn_lr_at(&c, 1000) == 2e-4);
    nn_lr_schedule const nw = {1.0, 0.0, 0, 4};
    CHECK_NEAR(nn_lr_at(&nw, 0), 1.0, 0);
    CHECK_NEAR(nn_lr_at(&nw, 2), 0.5, 1e-15);
}

static void test_clipping(void) {
    nn_params p;
    nn_params_init(&p);
    size_t const s2[] = {2};
    CHECK_OK(nn_params_add(&p, "a.weight_like", 1, s2, "decoder", NULL));
    CHECK_OK(nn_params_alloc(&p, 1));
    nn_adamw o;
    nn_adamw_init(&o, NULL);
    o.clip_norm = 1.0;
    p.grad[0] = 3.0f, p.grad[1] = 4.0f;
    double norm;
    CHECK_OK(nn_adamw_step(&o, &p, 0.1, &norm));
    CHECK(norm == 5.0);
    /* m = (1 - beta1) g clip / (norm + 1e-6) (the Adam step itself is scale-invariant) */
    double const sc = 1.0 / (5.0 + 1e-6);
    CHECK_NEAR(p.m[0], 0.1 * 3.0 * sc, 1e-8);
    CHECK_NEAR(p.m[1], 0.1 * 4.0 * sc, 1e-8);
    CHECK_NEAR(p.v[1], 0.001 * 16.0 * sc * sc, 1e-11);
    CHECK(p.grad[0] == 3.0f && p.grad[1] == 4.0f); /* buffers untouched */
    /* below the threshold nothing is scaled */
    o.clip_norm = 10.0;
    memset(p.m, 0, 2 * sizeof(float));
    memset(p.v, 0, 2 * sizeof(float));
    CHECK_OK(nn_adamw_step(&o, &p, 0.1, NULL));
    CHECK_NEAR(p.m[0], 0.1 * 3.0, 3e-8);
    nn_params_free(&p);
}

static void test_frozen(void) {
    nn_params p;
    nn_params_init(&p);
    size_t const s3[] = {3}, s22[] = {2, 2};
    CHECK_OK(nn_params_add(&p, "encoder.w", 2, s22, "encoder", NULL));
    CHECK_OK(nn_params_add(&p, "decoder.w", 2, s22, "decoder", NULL));
    CHECK_OK(nn_params_add(&p, "encoder.b", 1, s3, "encoder", NULL));
    CHECK_OK(nn_params_alloc(&p, 1));
    for (size_t i = 0; i < p.numel; i++) p.data[i] = 1.0f, p.grad[i] = 0.5f;
    CHECK_OK(nn_params_freeze_group(&p, "encoder", 1));
    /* frozen gradients (even huge ones) do not enter the norm */
    for (size_t i = p.groups[0].begin; i < p.groups[0].end; i++) p.grad[i] = 1e6f;
    CHECK_NEAR(nn_grad_norm(&p), sqrt(4 * 0.25), 1e-12);
    nn_adamw o;
    nn_adamw_init(&o, NULL);
    o.clip_norm = 0.1;
    CHECK_OK(nn_adamw_step(&o, &p, 0.01, NULL));
    CHECK_OK(nn_adamw_step(&o, &p, 0.01, NULL));
    int frozen_same = 1, trained_moved = 1;
    for (size_t i = 0; i < p.numel; i++) {
        int const enc = i >= p.groups[0].begin && i < p.groups[0].end;
        if (enc) frozen_same &= p.data[i] == 1.0f && p.m[i] == 0.0f && p.v[i] == 0.0f;
        else trained_moved &= p.data[i] < 1.0f && p.m[i] > 0.0f;
    }
    CHECK_MSG(frozen_same, "a frozen group was updated");
    CHECK_MSG(trained_moved, "the trainable group was not updated");
    CHECK(o.step == 2 && o.group_step[0] == 0 && o.group_step[1] == 2);
    CHECK(strcmp(p.groups[0].name, "encoder") == 0); /* groups in order of first use */
    /* thaw: the encoder starts its own bias correction at t = 1, so its first update is
     * w - lr wd w - lr g / (|g| + eps) = 1 - 0.01*0.01 - 0.01 */
    CHECK_OK(nn_params_freeze_group(&p, "encoder", 0));
    for (size_t i = p.groups[0].begin; i < p.groups[0].end; i++) p.grad[i] = 0.5f;
    o.clip_norm = 0;
    CHECK_OK(nn_adamw_step(&o, &p, 0.01, NULL));
    CHECK(o.group_step[0] == 1 && o.group_step[1] == 3 && o.step == 3);
    float const *ew = nn_params_tensor(&p, "encoder.w"), *eb = nn_params_tensor(&p, "encoder.b");
    CHECK_NEAR(ew[0], 1.0 - 0.0001 - 0.01, 2e-7);
    CHECK_NEAR(eb[0], 1.0 - 0.01, 2e-7); /* bias: no decay */
    nn_params_free(&p);
}

/* The gradient norm is summed in a fixed order: the same bits for 1 and 2 threads, and
 * close to an exactly compensated reference. */
static void test_norm_determinism(void) {
    nn_params p;
    nn_params_init(&p);
    size_t const big[] = {1000, 1003}, mid[] = {5000};
    CHECK_OK(nn_params_add(&p, "a.weight", 2, big, "decoder", NULL));
    CHECK_OK(nn_params_add(&p, "b.weight", 1, mid, "hyperprior", NULL));
    CHECK_OK(nn_params_alloc(&p, 1));
    unsigned long long s = 77;
    for (size_t i = 0; i < p.numel; i++) p.grad[i] = (float)(tu_rand_normal(&s) * (1 + 1000 * (i % 7 == 0)));
    int const nt = cz_num_threads();
    cz_set_num_threads(1);
    double const n1 = nn_grad_norm(&p);
    cz_set_num_threads(2);
    double const n2 = nn_grad_norm(&p);
    cz_set_num_threads(3);
    double const n3 = nn_grad_norm(&p);
    cz_set_num_threads(nt);
    CHECK(memcmp(&n1, &n2, sizeof n1) == 0 && memcmp(&n1, &n3, sizeof n1) == 0);
    /* Kahan-compensated reference */
    double sum = 0, comp = 0;
    for (size_t i = 0; i < p.numel; i++) {
        double const y = (double)p.grad[i] * p.grad[i] - comp, t = sum + y;
        comp = (t - sum) - y;
        sum = t;
    }
    CHECK_NEAR(n1, sqrt(sum), sqrt(sum) * 1e-13);
    /* and whole AdamW steps are bit-identical for 1 and 2 threads */
    nn_params q;
    nn_params_init(&q);
    CHECK_OK(nn_params_add(&q, "a.weight", 2, big, "decoder", NULL));
    CHECK_OK(nn_params_add(&q, "b.weight", 1, mid, "hyperprior", NULL));
    CHECK_OK(nn_params_alloc(&q, 1));
    memcpy(q.grad, p.grad, p.numel * sizeof(float));
    nn_adamw o1, o2;
    nn_adamw_init(&o1, NULL);
    nn_adamw_init(&o2, NULL);
    o1.clip_norm = o2.clip_norm = 1.0;
    cz_set_num_threads(1);
    for (int k = 0; k < 3; k++) CHECK_OK(nn_adamw_step(&o1, &p, 1e-3, NULL));
    cz_set_num_threads(2);
    for (int k = 0; k < 3; k++) CHECK_OK(nn_adamw_step(&o2, &q, 1e-3, NULL));
    cz_set_num_threads(nt);
    CHECK(memcmp(p.data, q.data, p.numel * sizeof(float)) == 0);
    CHECK(memcmp(p.v, q.v, p.numel * sizeof(float)) == 0);
    nn_params_free(&p);
    nn_params_free(&q);
}

int main(void) {
    test_golden_steps();
    test_schedule();
    test_clipping();
    test_frozen();
    test_norm_determinism();
    return tu_finish();
}
