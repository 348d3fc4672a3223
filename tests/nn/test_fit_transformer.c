/* test_fit_transformer.c — the engine trains a transformer: a linear input head (1 -> 32)
 * plus a learned position embedding, two pre-norm blocks with window attention on an 8 x 8
 * token grid (square 4 x 4 windows, then east-west 2 x 8 windows), width 32, 4 heads,
 * and a linear output head (32 -> 1), all in one parameter store, trained with AdamW
 * (warm-up + cosine, clipping). Task: from a random field x on the grid, output its 3 x 3
 * box average (edges replicated), a token-wise function of the neighbours that needs both
 * attention (mixing) and positions (which neighbour is which).
 * Pass: the MSE on the training set falls by at least FIT_FACTOR in FIT_STEPS steps (measured:
 * 52x in 400 steps, about 2 s on one core) to below 10% of the target's variance: a model
 * that does not mix tokens cannot go below ~75% (8/9 of each output comes from the
 * neighbours, independent of the token itself). A checkpoint of the trained model reloads
 * to the same predictions.
 * Runs on ONE thread: at these tiny sizes every OpenMP region costs more than it saves, and
 * on a loaded machine spinning workers made the same run take 100 s instead of 2 s. */
#include "nn/block.h"
#include "nn/checkpoint.h"
#include "nn/ops.h"

#include "testutil.h"

#include <cblas.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { B = 8, GH = 8, GW = 8, T = GH * GW, C = 32, NH = 4, NB = 2, FIT_STEPS = 400 };
#define FIT_FACTOR 20.0

typedef struct model {
    nn_params p;
    size_t in_w, in_b, pos, head_w, head_b;
    size_t blk[NB][NN_BLOCK_NPARAMS];
    nn_block_cfg cfg[NB];
    nn_block_acts acts[NB];
    float *t[NB + 1];   /* block inputs/outputs (B*T, C) */
    float *dt[NB + 1];  /* their gradients */
    float *out, *dout;  /* (B*T) */
} model;

static void build(model *m, uint64_t seed) {
    nn_params *p = &m->p;
    nn_params_init(p);
    size_t const s_in_w[] = {C, 1}, s_c[] = {C}, s_pos[] = {1, T, C}, s_head_w[] = {1, C}, s_1[] = {1};
    CHECK_OK(nn_params_add(p, "embed.weight", 2, s_in_w, "encoder", &m->in_w));
    CHECK_OK(nn_params_add(p, "embed.bias", 1, s_c, "encoder", &m->in_b));
    CHECK_OK(nn_params_add(p, "pos_embed", 3, s_pos, "encoder", &m->pos));
    nn_window const wins[NB] = {{4, 4, 0}, {2, 8, 0}};
    for (int k = 0; k < NB; k++) {
        m->cfg[k] = (nn_block_cfg){C, NH, 0, 1e-6f, NN_ATTN_WINDOW, wins[k]};
        CHECK_OK(nn_block_cfg_check(&m->cfg[k]));
        for (size_t i = 0; i < NN_BLOCK_NPARAMS; i++) {
            char name[96];
            size_t ndim, shape[2];
            nn_block_param_shape(&m->cfg[k], i, &ndim, shape);
            snprintf(name, sizeof name, "blocks.%d.%s", k, nn_block_param_names[i]);
            CHECK_OK(nn_params_add(p, name, ndim, shape, "encoder", &m->blk[k][i]));
        }
    }
    CHECK_OK(nn_params_add(p, "head.weight", 2, s_head_w, "decoder", &m->head_w));
    CHECK_OK(nn_params_add(p, "head.bias", 1, s_1, "decoder", &m->head_b));
    CHECK_OK(nn_params_alloc(p, 1));
    /* torch defaults: Linear U(+-1/sqrt(fan_in)) for weight and bias, LayerNorm 1 / 0;
     * position embedding trunc_normal(std 0.02) as timm */
    for (size_t i = 0; i < p->n; i++) {
        nn_param const *t = &p->t[i];
        const char *last = strrchr(t->name, '.');
        int const is_norm = strstr(t->name, "norm") != NULL;
        if (i == m->pos) CHECK_OK(nn_params_init_trunc_normal(p, i, seed, 0.0f, 0.02f, -2.0f, 2.0f));
        else if (is_norm) CHECK_OK(nn_params_init_const(p, i, last && strcmp(last, ".weight") == 0 ? 1.0f : 0.0f));
        else {
            /* fan_in: columns of the weight (the bias shares its layer's) */
            char wname[96];
            snprintf(wname, sizeof wname, "%.*s.weight", (int)(last - t->name), t->name);
            long const wi = nn_params_find(p, wname);
            size_t const fan_in = wi >= 0 ? p->t[wi].shape[1] : 1;
            float const k = 1.0f / sqrtf((float)fan_in);
            CHECK_OK(nn_params_init_uniform(p, i, seed, -k, k));
        }
    }
    for (int k = 0; k < NB; k++) CHECK_OK(nn_block_acts_alloc(&m->acts[k], &m->cfg[k], B, GH, GW, 1));
    for (int k = 0; k <= NB; k++) {
        m->t[k] = calloc((size_t)B * T * C, sizeof(float));
        m->dt[k] = calloc((size_t)B * T * C, sizeof(float));
    }
    m->out = calloc((size_t)B * T, sizeof(float));
    m->dout = calloc((size_t)B * T, sizeof(float));
}

static void release(model *m) {
    for (int k = 0; k < NB; k++) nn_block_acts_free(&m->acts[k]);
    for (int k = 0; k <= NB; k++) free(m->t[k]), free(m->dt[k]);
    free(m->out), free(m->dout);
    nn_params_free(&m->p);
}

static void block_views(const model *m, int k, nn_block_params *w, nn_block_params *g) {
    float *tw[NN_BLOCK_NPARAMS], *tg[NN_BLOCK_NPARAMS];
    for (size_t i = 0; i < NN_BLOCK_NPARAMS; i++) {
        tw[i] = nn_params_data(&m->p, m->blk[k][i]);
        tg[i] = nn_params_grad(&m->p, m->blk[k][i]);
    }
    nn_block_params_from_array(w, tw);
    if (g) nn_block_params_from_array(g, tg);
}

/* x (B*T) -> m->out (B*T) */
static void forward(model *m, const float *x) {
    nn_params *p = &m->p;
    size_t const N = (size_t)B * T;
    nn_linear_forward(m->t[0], x, nn_params_data(p, m->in_w), nn_params_data(p, m->in_b), N, 1, C);
    const float *pos = nn_params_data(p, m->pos);
    for (size_t b = 0; b < B; b++) nn_add_forward(m->t[0] + b * T * C, m->t[0] + b * T * C, pos, (size_t)T * C);
    for (int k = 0; k < NB; k++) {
        nn_block_params w;
        block_views(m, k, &w, NULL);
        CHECK_OK(nn_block_forward(m->t[k + 1], &m->acts[k], m->t[k], &w, &m->cfg[k]));
    }
    nn_linear_forward(m->out, m->t[NB], nn_params_data(p, m->head_w), nn_params_data(p, m->head_b), N, C, 1);
}

/* forward + MSE + backward into the store's gradients; returns the MSE */
static double train_step(model *m, const float *x, const float *y) {
    nn_params *p = &m->p;
    size_t const N = (size_t)B * T;
    forward(m, x);
    double loss = 0;
    for (size_t i = 0; i < N; i++) {
        double const d = (double)m->out[i] - y[i];
        loss += d * d;
        m->dout[i] = (float)(2.0 * d / (double)N);
    }
    nn_params_zero_grad(p);
    for (int k = 0; k <= NB; k++) memset(m->dt[k], 0, N * C * sizeof(float));
    nn_linear_backward(m->dt[NB], nn_params_grad(p, m->head_w), nn_params_grad(p, m->head_b), m->dout, m->t[NB],
                       nn_params_data(p, m->head_w), N, C, 1);
    for (int k = NB - 1; k >= 0; k--) {
        nn_block_params w, g;
        block_views(m, k, &w, &g);
        CHECK_OK(nn_block_backward(m->dt[k], &g, m->dt[k + 1], m->t[k], &w, &m->acts[k], &m->cfg[k]));
    }
    float *dpos = nn_params_grad(p, m->pos);
    if (dpos)
        for (size_t b = 0; b < B; b++) nn_add_backward(dpos, NULL, m->dt[0] + b * T * C, (size_t)T * C);
    nn_linear_backward(NULL, nn_params_grad(p, m->in_w), nn_params_grad(p, m->in_b), m->dt[0], x,
                       nn_params_data(p, m->in_w), N, 1, C);
    return loss / (double)N;
}

int main(void) {
    /* data: B random fields (smoothed white noise, unit-ish variance) and their 3x3 means */
    static float x[B * T], y[B * T];
    unsigned long long s = 31337;
    for (size_t i = 0; i < (size_t)B * T; i++) x[i] = (float)tu_rand_normal(&s);
    for (size_t b = 0; b < B; b++)
        for (int r = 0; r < GH; r++)
            for (int c = 0; c < GW; c++) {
                double acc = 0;
                for (int dr = -1; dr <= 1; dr++)
                    for (int dc = -1; dc <= 1; dc++) {
                        int const rr = r + dr < 0 ? 0 : r + dr >= GH ? GH - 1 : r + dr;
                        int const cc = c + dc < 0 ? 0 : c + dc >= GW ? GW - 1 : c + dc;
                        acc += x[b * T + rr * GW + cc];
                    }
                y[b * T + r * GW + c] = (float)(acc / 9.0);
            }
    double var = 0;
    for (size_t i = 0; i < (size_t)B * T; i++) var += (double)y[i] * y[i];
    var /= (double)B * T;

    cz_set_num_threads(1);
    openblas_set_num_threads(1); /* its own pthreads, not governed by OpenMP */
    double const t0 = cz_now();
    model m;
    build(&m, 99);
    CHECK(m.p.numel == 2 * (size_t)C + (size_t)T * C + 2 * nn_block_num_params(&m.cfg[0]) + C + 1);
    nn_adamw o;
    nn_adamw_hparams hp = nn_adamw_defaults();
    hp.weight_decay = 1e-4;
    nn_adamw_init(&o, &hp);
    o.clip_norm = 1.0;
    nn_lr_schedule const sch = {3e-3, 3e-5, 20, FIT_STEPS};
    double first = 0, last = 0;
    for (int k = 0; k < FIT_STEPS; k++) {
        double const loss = train_step(&m, x, y);
        if (k == 0) first = loss;
        CHECK_OK(nn_adamw_step(&o, &m.p, nn_lr_at(&sch, o.step), NULL));
    }
    last = train_step(&m, x, y);
    double const secs = cz_now() - t0;
    printf("transformer fit: %zu parameters, MSE %.6g -> %.6g (factor %.1f; target variance %.4g) in %d "
           "AdamW steps, %.2f s\n", m.p.numel, first, last, first / last, var, FIT_STEPS, secs);
    CHECK_MSG(first / last >= FIT_FACTOR, "loss fell only %.1fx (need %.0fx)", first / last, FIT_FACTOR);
    CHECK(last < 0.1 * var);

    /* the trained model survives a checkpoint: same predictions after reload */
    const char *dir = tu_tmpdir("test_fit_transformer");
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *const kv[] = {"climz.config", "{\"width\":32,\"blocks\":2,\"grid\":[8,8]}", NULL};
    CHECK_OK(nn_checkpoint_save(path, &m.p, NULL, kv));
    float *pred = malloc((size_t)B * T * sizeof(float));
    forward(&m, x);
    memcpy(pred, m.out, (size_t)B * T * sizeof(float));
    model m2;
    build(&m2, 12345); /* other initial weights */
    CHECK_OK(nn_checkpoint_load(path, &m2.p, NULL));
    forward(&m2, x);
    CHECK(memcmp(pred, m2.out, (size_t)B * T * sizeof(float)) == 0);
    free(pred);
    release(&m);
    release(&m2);
    return tu_finish();
}
