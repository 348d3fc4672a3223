/* test_optim_resume.c — a training checkpoint (weights, AdamW m and v, steps, per-group
 * hyper-parameters, frozen flags) resumes training bit for bit: 40 steps straight equal
 * 20 steps, save, load into fresh objects, 20 more steps. */
#include "nn/checkpoint.h"

#include "testutil.h"

#include <math.h>
#include <string.h>

static void build(nn_params *p) {
    size_t const s_w[] = {16, 8}, s_b[] = {16}, s_e[] = {5, 3};
    nn_params_init(p);
    CHECK_OK(nn_params_add(p, "encoder.w", 2, s_w, "encoder", NULL));
    CHECK_OK(nn_params_add(p, "decoder.w", 2, s_w, "decoder", NULL));
    CHECK_OK(nn_params_add(p, "decoder.b", 1, s_b, "decoder", NULL));
    CHECK_OK(nn_params_add(p, "entropy.e", 2, s_e, "entropy", NULL));
    CHECK_OK(nn_params_alloc(p, 1));
}

static void setup_optim(nn_adamw *o, const nn_params *p) {
    nn_adamw_init(o, NULL);
    nn_adamw_hparams h = nn_adamw_defaults();
    h.lr_scale = 10.0; /* the entropy model learns faster, without decay */
    h.weight_decay = 0.0;
    h.beta2 = 0.99;
    CHECK_OK(nn_adamw_set_group(o, p, "entropy", &h));
    o->clip_norm = 2.0;
}

/* Gradient of 0.5 |w - target|^2 plus a step-dependent, deterministic term. */
static void grads(nn_params *p, int step) {
    nn_params_zero_grad(p);
    for (size_t i = 0; i < p->n; i++) {
        float *g = nn_params_grad(p, i);
        if (!g) continue; /* frozen */
        const float *w = nn_params_data(p, i);
        for (size_t j = 0; j < p->t[i].numel; j++)
            g[j] += w[j] - (float)sin(0.1 * (double)j + (double)i) + 0.3f * (float)cos(0.7 * step + (double)j);
    }
}

static void train(nn_params *p, nn_adamw *o, int from, int to) {
    nn_lr_schedule const sch = {0.05, 0.001, 5, 40};
    for (int s = from; s < to; s++) {
        if (s == 10) CHECK_OK(nn_params_freeze_group(p, "encoder", 1)); /* phase 2 */
        grads(p, s);
        CHECK_OK(nn_adamw_step(o, p, nn_lr_at(&sch, o->step), NULL));
    }
}

int main(void) {
    const char *dir = tu_tmpdir("test_optim_resume");
    char path[4096];
    snprintf(path, sizeof path, "%s/train.safetensors", dir);

    nn_params a;
    nn_adamw oa;
    build(&a);
    for (size_t i = 0; i < a.n; i++) CHECK_OK(nn_params_init_normal(&a, i, 7, 0.0f, 1.0f));
    setup_optim(&oa, &a);
    train(&a, &oa, 0, 20);
    const char *const kv[] = {"climz.train.note", "step 20", NULL};
    CHECK_OK(nn_checkpoint_save(path, &a, &oa, kv));

    /* fresh objects with other hyper-parameters and nothing frozen: all comes from the file */
    nn_params b;
    nn_adamw ob;
    build(&b);
    nn_adamw_init(&ob, NULL);
    CHECK_OK(nn_checkpoint_load(path, &b, &ob));
    CHECK(ob.step == 20 && ob.clip_norm == 2.0);
    CHECK(ob.group_step[0] == 10 && ob.group_step[1] == 20 && ob.group_step[2] == 20);
    CHECK(ob.hp[2].lr_scale == 10.0 && ob.hp[2].beta2 == 0.99 && ob.hp[2].weight_decay == 0.0);
    CHECK(ob.hp[1].eps == 1e-8 && ob.hp[1].weight_decay == 0.01);
    CHECK(nn_params_group_frozen(&b, "encoder") && !nn_params_group_frozen(&b, "decoder"));
    CHECK(memcmp(a.data, b.data, a.numel * sizeof(float)) == 0);
    CHECK(memcmp(a.m, b.m, a.numel * sizeof(float)) == 0);
    CHECK(memcmp(a.v, b.v, a.numel * sizeof(float)) == 0);

    train(&a, &oa, 20, 40);
    train(&b, &ob, 20, 40);
    CHECK_MSG(memcmp(a.data, b.data, a.numel * sizeof(float)) == 0, "resumed weights differ");
    CHECK(memcmp(a.m, b.m, a.numel * sizeof(float)) == 0 && memcmp(a.v, b.v, a.numel * sizeof(float)) == 0);
    CHECK(oa.step == 40 && ob.step == 40 && memcmp(&oa, &ob, sizeof oa) == 0);

    /* the training checkpoint also loads as a plain model (optimizer tensors ignored) */
    nn_params c;
    nn_params_init(&c);
    size_t const s_w[] = {16, 8};
    CHECK_OK(nn_params_add(&c, "decoder.w", 2, s_w, "decoder", NULL));
    CHECK_OK(nn_params_alloc(&c, 0));
    CHECK_OK(nn_checkpoint_load(path, &c, NULL));
    nn_params_free(&c);

    /* damaged optimizer state is reported, not half-applied to the optimizer */
    nn_ckpt_writer w;
    nn_ckpt_writer_init(&w);
    CHECK_OK(nn_ckpt_put_params(&w, &a));
    CHECK_OK(nn_ckpt_put_optim(&w, &a, &oa));
    CHECK_OK(nn_ckpt_put_meta(&w, NN_CKPT_OPTIM_KEY, "{\"version\":1,\"step\":3}"));
    cz_buf buf = {0};
    CHECK_OK(nn_ckpt_encode(&w, &buf));
    nn_ckpt_writer_free(&w);
    nn_ckpt ck;
    CHECK_OK(nn_ckpt_open_mem(&ck, buf.data, buf.size, "damaged"));
    nn_adamw saved = ob;
    CHECK_STATUS(nn_ckpt_get_optim(&ck, &b, &ob), CLIMZ_ERR_CORRUPT);
    CHECK(memcmp(&saved, &ob, sizeof ob) == 0);
    nn_ckpt_close(&ck);
    cz_buf_free(&buf);

    nn_params_free(&a);
    nn_params_free(&b);
    return tu_finish();
}
