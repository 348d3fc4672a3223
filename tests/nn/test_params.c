/* test_params.c — the parameter store: layout by group, lookup, frozen groups, the weight
 * decay name rule, and seeded initialisation (golden stream seeds, order independence,
 * distribution moments). */
#include "nn/params.h"
#include "nn/rng.h"

#include "testutil.h"

#include <math.h>
#include <string.h>

static void test_layout(void) {
    nn_params p;
    nn_params_init(&p);
    size_t const s34[] = {3, 4}, s22[] = {2, 2}, s4[] = {4}, s5[] = {5}, s2x3x2x2[] = {2, 3, 2, 2};
    size_t i0, i1, i2, i3, i4;
    CHECK_OK(nn_params_add(&p, "encoder.proj.weight", 2, s34, "encoder", &i0));
    CHECK_OK(nn_params_add(&p, "decoder.proj.weight", 2, s22, "decoder", &i1));
    CHECK_OK(nn_params_add(&p, "encoder.proj.bias", 1, s4, "encoder", &i2));
    CHECK_OK(nn_params_add(&p, "hyperprior.h_a.0.weight", 4, s2x3x2x2, "hyperprior", &i3));
    CHECK_OK(nn_params_add(&p, "entropy.scale", 0, NULL, NULL, &i4)); /* scalar, group "default" */
    CHECK(i0 == 0 && i1 == 1 && i2 == 2 && i3 == 3 && i4 == 4);
    CHECK(p.n_groups == 4);
    /* errors */
    size_t const s5d[] = {1, 1, 1, 1, 1};
    CHECK_STATUS(nn_params_add(&p, "encoder.proj.weight", 2, s34, "encoder", NULL), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_params_add(&p, "x", 5, s5d, "encoder", NULL), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_params_add(&p, "", 1, s5, "encoder", NULL), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_params_add(&p, "y", 1, s5, "a-group-name-that-is-much-too-long-for-the-table", NULL),
                 CLIMZ_ERR_INVALID_ARG);
    size_t const huge[] = {SIZE_MAX / 2, 3};
    CHECK_STATUS(nn_params_add(&p, "huge", 2, huge, "encoder", NULL), CLIMZ_ERR_DIMENSION);
    CHECK(p.n == 5);
    CHECK(nn_params_tensor(&p, "encoder.proj.weight") == NULL); /* not allocated yet */

    CHECK_OK(nn_params_alloc(&p, 1));
    CHECK_STATUS(nn_params_alloc(&p, 1), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_params_add(&p, "late", 1, s5, "encoder", NULL), CLIMZ_ERR_INVALID_ARG);
    /* grouped layout: encoder (12 + 4), decoder (4), hyperprior (24), default (1) */
    CHECK(p.numel == 12 + 4 + 4 + 24 + 1);
    CHECK(p.t[i0].offset == 0 && p.t[i2].offset == 12 && p.t[i1].offset == 16 && p.t[i3].offset == 20 &&
          p.t[i4].offset == 44);
    CHECK(p.groups[0].begin == 0 && p.groups[0].end == 16);
    CHECK(p.groups[1].begin == 16 && p.groups[1].end == 20);
    CHECK(p.groups[3].begin == 44 && p.groups[3].end == 45);
    CHECK(p.t[i4].numel == 1 && p.t[i3].numel == 24);
    CHECK(((uintptr_t)p.data & 63) == 0 && ((uintptr_t)p.grad & 63) == 0);
    CHECK(nn_params_find(&p, "decoder.proj.weight") == 1);
    CHECK(nn_params_find(&p, "nope") == -1);
    CHECK(nn_params_tensor(&p, "hyperprior.h_a.0.weight") == p.data + 20);
    CHECK(nn_params_tensor(&p, "nope") == NULL);
    for (size_t i = 0; i < p.numel; i++) CHECK(p.data[i] == 0 && p.grad[i] == 0 && p.m[i] == 0 && p.v[i] == 0);

    /* frozen groups: no grad pointer, not zeroed, not counted as trainable */
    for (size_t i = 0; i < p.numel; i++) p.grad[i] = 1.0f;
    CHECK(nn_params_trainable(&p) == 45);
    CHECK_OK(nn_params_freeze_group(&p, "encoder", 1));
    CHECK(nn_params_group_frozen(&p, "encoder") && !nn_params_group_frozen(&p, "decoder"));
    CHECK_STATUS(nn_params_freeze_group(&p, "vae", 1), CLIMZ_ERR_NOT_FOUND);
    CHECK(strstr(cz_error_message(), "vae") != NULL);
    CHECK(nn_params_grad(&p, i0) == NULL && nn_params_grad(&p, i2) == NULL);
    CHECK(nn_params_grad(&p, i1) == p.grad + 16);
    CHECK(nn_params_m(&p, i0) == p.m && nn_params_v(&p, i2) == p.v + 12);
    CHECK(nn_params_trainable(&p) == 45 - 16);
    nn_params_zero_grad(&p);
    int ok = 1;
    for (size_t i = 0; i < p.numel; i++) ok &= p.grad[i] == (i < 16 ? 1.0f : 0.0f);
    CHECK_MSG(ok, "zero_grad touched a frozen group or missed a trainable one");
    CHECK_OK(nn_params_freeze_group(&p, "encoder", 0));
    CHECK(nn_params_grad(&p, i0) == p.grad);
    nn_params_free(&p);
    CHECK(p.n == 0 && p.data == NULL);
    nn_params_free(NULL);

    /* inference store: weights only */
    nn_params q;
    nn_params_init(&q);
    CHECK_OK(nn_params_add(&q, "w", 2, s22, "decoder", NULL));
    CHECK_OK(nn_params_alloc(&q, 0));
    CHECK(q.data != NULL && q.grad == NULL && q.m == NULL && q.v == NULL);
    CHECK(nn_params_grad(&q, 0) == NULL && nn_params_m(&q, 0) == NULL);
    nn_params_zero_grad(&q); /* no-op */
    nn_params_free(&q);
}

static void test_decay_rule(void) {
    CHECK(nn_params_default_decay("encoder.blocks.0.attn.qkv.weight", 2) == 1);
    CHECK(nn_params_default_decay("encoder.blocks.0.attn.qkv.bias", 1) == 0);
    CHECK(nn_params_default_decay("encoder.blocks.0.norm1.weight", 1) == 0);
    CHECK(nn_params_default_decay("encoder.patch_embed.proj.weight", 4) == 1);
    CHECK(nn_params_default_decay("encoder.pos_embed", 3) == 0);
    CHECK(nn_params_default_decay("decoder.norm.weight", 2) == 0);   /* a norm, whatever its rank */
    CHECK(nn_params_default_decay("h_s.ln_f.weight", 2) == 0);
    CHECK(nn_params_default_decay("weird.bias", 2) == 0);
    CHECK(nn_params_default_decay("decoder.linear.weight", 2) == 1); /* "linear" is not "ln" */
    CHECK(nn_params_default_decay("entropy.quantiles", 3) == 1);
    CHECK(nn_params_default_decay("scalar", 0) == 0);
    nn_params p;
    nn_params_init(&p);
    size_t const s[] = {2, 2};
    CHECK_OK(nn_params_add(&p, "a.weight", 2, s, "g", NULL));
    CHECK_OK(nn_params_add(&p, "a.bias", 1, s, "g", NULL));
    CHECK(p.t[0].decay == 1 && p.t[1].decay == 0);
    nn_params_set_decay(&p, 0, 0);
    CHECK(p.t[0].decay == 0);
    nn_params_free(&p);
}

static double mean_of(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}
static double std_of(const float *x, size_t n) {
    double const m = mean_of(x, n);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (double)n);
}

static void test_init(void) {
    /* golden stream seeds: FNV-1a 64 of the name, xor seed, splitmix64 finaliser
     * (values computed independently in Python) */
    CHECK(nn_params_stream_seed(0, "a") == 0x02c0bdbf481420f8ull);
    CHECK(nn_params_stream_seed(42, "encoder.blocks.0.attn.qkv.weight") == 0x76e504821a69e135ull);

    /* two stores declaring tensors in different orders and groups get the same values */
    size_t const big[] = {100, 200}, small[] = {7};
    nn_params a, b;
    nn_params_init(&a);
    nn_params_init(&b);
    CHECK_OK(nn_params_add(&a, "enc.w", 2, big, "encoder", NULL));
    CHECK_OK(nn_params_add(&a, "enc.b", 1, small, "encoder", NULL));
    CHECK_OK(nn_params_add(&b, "other", 1, small, "decoder", NULL));
    CHECK_OK(nn_params_add(&b, "enc.b", 1, small, "decoder", NULL));
    CHECK_OK(nn_params_add(&b, "enc.w", 2, big, "encoder", NULL));
    CHECK_OK(nn_params_alloc(&a, 0));
    CHECK_OK(nn_params_alloc(&b, 0));
    CHECK_OK(nn_params_init_normal(&a, 0, 1234, 0.0f, 0.02f));
    CHECK_OK(nn_params_init_uniform(&a, 1, 1234, -0.5f, 0.5f));
    CHECK_OK(nn_params_init_uniform(&b, 0, 1234, -0.5f, 0.5f));
    CHECK_OK(nn_params_init_uniform(&b, 1, 1234, -0.5f, 0.5f));
    CHECK_OK(nn_params_init_normal(&b, 2, 1234, 0.0f, 0.02f));
    CHECK(memcmp(nn_params_tensor(&a, "enc.w"), nn_params_tensor(&b, "enc.w"), 20000 * sizeof(float)) == 0);
    CHECK(memcmp(nn_params_tensor(&a, "enc.b"), nn_params_tensor(&b, "enc.b"), 7 * sizeof(float)) == 0);
    CHECK(memcmp(nn_params_tensor(&b, "other"), nn_params_tensor(&b, "enc.b"), 7 * sizeof(float)) != 0);

    /* the values are the documented stream: uniform = lo + (hi - lo) * nn_rng_uniform */
    nn_rng r;
    nn_rng_seed(&r, nn_params_stream_seed(1234, "enc.b"));
    const float *eb = nn_params_tensor(&a, "enc.b");
    for (int i = 0; i < 7; i++) CHECK(eb[i] == (float)(-0.5 + 1.0 * (double)nn_rng_uniform(&r)));

    /* moments */
    const float *w = nn_params_tensor(&a, "enc.w");
    CHECK_NEAR(mean_of(w, 20000), 0.0, 0.02 * 4 / sqrt(20000.0));
    CHECK_NEAR(std_of(w, 20000), 0.02, 0.02 * 0.03);
    CHECK_OK(nn_params_init_uniform(&a, 0, 9, -1.0f, 3.0f));
    float lo = 1e9f, hi = -1e9f;
    for (size_t i = 0; i < 20000; i++) lo = fminf(lo, w[i]), hi = fmaxf(hi, w[i]);
    CHECK(lo >= -1.0f && hi < 3.0f && lo < -0.99f && hi > 2.99f);
    CHECK_NEAR(mean_of(w, 20000), 1.0, 4 * (4 / sqrt(12.0)) / sqrt(20000.0));
    /* truncated normal N(0, 1) cut to [-1, 2]: every value inside, truncated moments */
    CHECK_OK(nn_params_init_trunc_normal(&a, 0, 5, 0.0f, 1.0f, -1.0f, 2.0f));
    lo = 1e9f, hi = -1e9f;
    for (size_t i = 0; i < 20000; i++) lo = fminf(lo, w[i]), hi = fmaxf(hi, w[i]);
    CHECK(lo >= -1.0f && hi <= 2.0f);
    /* mean of N(0,1) on [a,b] = (phi(a) - phi(b)) / (Phi(b) - Phi(a)) */
    double const phia = exp(-0.5) / sqrt(2 * M_PI), phib = exp(-2.0) / sqrt(2 * M_PI);
    double const Z = 0.5 * (erf(2 / sqrt(2.0)) - erf(-1 / sqrt(2.0)));
    CHECK_NEAR(mean_of(w, 20000), (phia - phib) / Z, 0.02);
    CHECK_OK(nn_params_init_const(&a, 1, 0.25f));
    for (int i = 0; i < 7; i++) CHECK(nn_params_tensor(&a, "enc.b")[i] == 0.25f);
    /* bad arguments */
    CHECK_STATUS(nn_params_init_trunc_normal(&a, 0, 5, 0.0f, 1.0f, 10.0f, 11.0f), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_params_init_trunc_normal(&a, 0, 5, 0.0f, 1.0f, 1.0f, -1.0f), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_params_init_normal(&a, 0, 5, 0.0f, -1.0f), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_params_init_uniform(&a, 0, 5, 1.0f, 0.0f), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_params_init_const(&a, 2, 0.0f), CLIMZ_ERR_INVALID_ARG);
    nn_params_free(&a);
    nn_params_free(&b);
    nn_params c;
    nn_params_init(&c);
    CHECK_OK(nn_params_add(&c, "w", 1, small, NULL, NULL));
    CHECK_STATUS(nn_params_init_const(&c, 0, 1.0f), CLIMZ_ERR_INVALID_ARG); /* not allocated */
    nn_params_free(&c);
}

int main(void) {
    test_layout();
    test_decay_rule();
    test_init();
    return tu_finish();
}
