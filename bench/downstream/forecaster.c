/*
 * forecaster.c — the per-pixel patch MLP of forecaster.h: features, forward, backward,
 * training with AdamW, autoregressive roll-out.
 */
#include "forecaster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cz_common.h"
#include "nn/loss.h"
#include "nn/ops.h"
#include "nn/rng.h"

#define FC_EXTRA_FEATURES 4 /* sin, cos of the hour of day; y, x position */
#define FC_EVAL_CHUNK 16     /* roll-out start steps forecast together */

fc_config fc_config_default(void) {
    fc_config c;
    c.radius = 2;
    c.hidden = 48;
    c.steps = 2000;
    c.batch = 8;
    c.lr = 2e-3;
    c.lr_min = 1e-4;
    c.weight_decay = 1e-4;
    c.warmup = 50;
    c.input_noise = 0.3;
    return c;
}

/* Activations of one forward pass over n rows, kept for backward. */
typedef struct fc_acts {
    size_t cap;
    float *x, *h1, *a1, *h2, *a2, *out;
} fc_acts;

static void acts_free(fc_acts *a) {
    free(a->x), free(a->h1), free(a->a1), free(a->h2), free(a->a2), free(a->out);
    memset(a, 0, sizeof *a);
}

static climz_status acts_alloc(fc_acts *a, size_t rows, size_t nfeat, size_t hidden) {
    memset(a, 0, sizeof *a);
    a->cap = rows;
    a->x = cz_malloc(rows * nfeat * sizeof(float));
    a->h1 = cz_malloc(rows * hidden * sizeof(float));
    a->a1 = cz_malloc(rows * hidden * sizeof(float));
    a->h2 = cz_malloc(rows * hidden * sizeof(float));
    a->a2 = cz_malloc(rows * hidden * sizeof(float));
    a->out = cz_malloc(rows * sizeof(float));
    if (!a->x || !a->h1 || !a->a1 || !a->h2 || !a->a2 || !a->out) {
        acts_free(a);
        return cz_error(CLIMZ_ERR_ALLOC, "forecaster: out of memory for %zu rows", rows);
    }
    return CLIMZ_OK;
}

static size_t clampi(long v, size_t n) { return v < 0 ? 0 : (size_t)v >= n ? n - 1 : (size_t)v; }

/* Feature rows (nb * ny * nx, nfeat) for nb pairs of fields: cur[b] the latest, prev[b] the
 * one before, hour[b] the hour of day of cur[b]. Layout of a row: patch values, patch
 * changes, sin, cos of the hour, y, x. */
static void build_features(float *X, const fc_model *m, const float *const *cur,
                           const float *const *prev, const int *hour, size_t nb) {
    long const r = m->cfg.radius;
    size_t const ny = m->ny, nx = m->nx, k = (size_t)(2 * r + 1) * (size_t)(2 * r + 1);
    float const inv_std = (float)(1.0 / m->std), inv_dstd = (float)(1.0 / m->dstd);
    float const mean = (float)m->mean;
    for (size_t b = 0; b < nb; b++) {
        double const ang = 2.0 * M_PI * hour[b] / 24.0;
        float const hs = (float)sin(ang), hc = (float)cos(ang);
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                float *row = X + ((b * ny + y) * nx + x) * m->nfeat;
                size_t j = 0;
                for (long dy = -r; dy <= r; dy++)
                    for (long dx = -r; dx <= r; dx++, j++) {
                        size_t const i = clampi((long)y + dy, ny) * nx + clampi((long)x + dx, nx);
                        row[j] = (cur[b][i] - mean) * inv_std;
                        row[k + j] = (cur[b][i] - prev[b][i]) * inv_dstd;
                    }
                row[2 * k] = hs;
                row[2 * k + 1] = hc;
                row[2 * k + 2] = ny > 1 ? 2.0f * (float)y / (float)(ny - 1) - 1.0f : 0.0f;
                row[2 * k + 3] = nx > 1 ? 2.0f * (float)x / (float)(nx - 1) - 1.0f : 0.0f;
            }
    }
}

/* out (n) = the normalised change predicted from the feature rows a->x (n, nfeat) */
static void forward(const fc_model *m, fc_acts *a, size_t n) {
    size_t const h = (size_t)m->cfg.hidden;
    const nn_params *p = &m->p;
    nn_linear_forward(a->h1, a->x, nn_params_data(p, m->w1), nn_params_data(p, m->b1), n, m->nfeat, h);
    nn_gelu_forward(a->a1, a->h1, n * h);
    nn_linear_forward(a->h2, a->a1, nn_params_data(p, m->w2), nn_params_data(p, m->b2), n, h, h);
    nn_gelu_forward(a->a2, a->h2, n * h);
    nn_linear_forward(a->out, a->a2, nn_params_data(p, m->w3), nn_params_data(p, m->b3), n, h, 1);
}

/* Adds the parameter gradients of the loss whose gradient at the output is dout (n). d1, d2:
 * scratch (n * hidden). */
static void backward(fc_model *m, const fc_acts *a, const float *dout, float *d1, float *d2,
                     size_t n) {
    size_t const h = (size_t)m->cfg.hidden;
    nn_params *p = &m->p;
    memset(d2, 0, n * h * sizeof(float));
    nn_linear_backward(d2, nn_params_grad(p, m->w3), nn_params_grad(p, m->b3), dout, a->a2,
                       nn_params_data(p, m->w3), n, h, 1);
    memset(d1, 0, n * h * sizeof(float));
    nn_gelu_backward(d1, d2, a->h2, n * h); /* d1 = dL/dh2 */
    memset(d2, 0, n * h * sizeof(float));
    nn_linear_backward(d2, nn_params_grad(p, m->w2), nn_params_grad(p, m->b2), d1, a->a1,
                       nn_params_data(p, m->w2), n, h, h);
    memset(d1, 0, n * h * sizeof(float));
    nn_gelu_backward(d1, d2, a->h1, n * h); /* d1 = dL/dh1 */
    nn_linear_backward(NULL, nn_params_grad(p, m->w1), nn_params_grad(p, m->b1), d1, a->x,
                       nn_params_data(p, m->w1), n, m->nfeat, h);
}

/* Mean and standard deviation of the values, and standard deviation of the hourly changes */
static climz_status series_stats(const fc_series *s, double *mean, double *std, double *dstd) {
    size_t const plane = s->ny * s->nx, n = s->nt * plane;
    double sum = 0.0, sum2 = 0.0, dsum = 0.0, dsum2 = 0.0;
    for (size_t i = 0; i < n; i++) sum += s->x[i];
    *mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) sum2 += (s->x[i] - *mean) * (s->x[i] - *mean);
    for (size_t i = plane; i < n; i++) dsum += s->x[i] - s->x[i - plane];
    double const dmean = dsum / (double)(n - plane);
    for (size_t i = plane; i < n; i++) {
        double const d = s->x[i] - s->x[i - plane] - dmean;
        dsum2 += d * d;
    }
    *std = sqrt(sum2 / (double)n);
    *dstd = sqrt(dsum2 / (double)(n - plane));
    CZ_RETURN_IF(!(*std > 0.0) || !(*dstd > 0.0) || !isfinite(*std) || !isfinite(*dstd),
                 CLIMZ_ERR_INVALID_ARG,
                 "forecaster: the training series is constant in space or time (or not finite)");
    return CLIMZ_OK;
}

static climz_status model_build(fc_model *m, const fc_config *cfg, size_t ny, size_t nx,
                                uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->ny = ny, m->nx = nx;
    size_t const k = (size_t)(2 * cfg->radius + 1) * (size_t)(2 * cfg->radius + 1);
    m->nfeat = 2 * k + FC_EXTRA_FEATURES;
    size_t const h = (size_t)cfg->hidden;
    size_t const s_w1[2] = {h, m->nfeat}, s_b[1] = {h}, s_w2[2] = {h, h}, s_w3[2] = {1, h},
                 s_b3[1] = {1};
    nn_params_init(&m->p);
    climz_status st;
    CZ_CHECK_GOTO(st, nn_params_add(&m->p, "l1.weight", 2, s_w1, NULL, &m->w1), fail);
    CZ_CHECK_GOTO(st, nn_params_add(&m->p, "l1.bias", 1, s_b, NULL, &m->b1), fail);
    CZ_CHECK_GOTO(st, nn_params_add(&m->p, "l2.weight", 2, s_w2, NULL, &m->w2), fail);
    CZ_CHECK_GOTO(st, nn_params_add(&m->p, "l2.bias", 1, s_b, NULL, &m->b2), fail);
    CZ_CHECK_GOTO(st, nn_params_add(&m->p, "l3.weight", 2, s_w3, NULL, &m->w3), fail);
    CZ_CHECK_GOTO(st, nn_params_add(&m->p, "l3.bias", 1, s_b3, NULL, &m->b3), fail);
    CZ_CHECK_GOTO(st, nn_params_alloc(&m->p, 1), fail);
    /* PyTorch's Linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    size_t const idx[6] = {m->w1, m->b1, m->w2, m->b2, m->w3, m->b3};
    size_t const fan_in[6] = {m->nfeat, m->nfeat, h, h, h, h};
    for (int i = 0; i < 6; i++) {
        float const bound = (float)(1.0 / sqrt((double)fan_in[i]));
        CZ_CHECK_GOTO(st, nn_params_init_uniform(&m->p, idx[i], seed, -bound, bound), fail);
    }
    return CLIMZ_OK;
fail:
    nn_params_free(&m->p);
    return st;
}

void fc_free(fc_model *m) {
    if (!m) return;
    nn_params_free(&m->p);
    memset(m, 0, sizeof *m);
}

climz_status fc_train(fc_model *m, const fc_config *cfg, const fc_series *s,
                      const float *row_weight, uint64_t seed, double *loss_first,
                      double *loss_last) {
    CZ_RETURN_IF(!m || !cfg || !s || !s->x, CLIMZ_ERR_INVALID_ARG, "forecaster: NULL argument");
    CZ_RETURN_IF(cfg->radius < 0 || cfg->radius > 8 || cfg->hidden < 1 || cfg->steps < 1 ||
                     cfg->batch < 1 || !(cfg->lr > 0.0) || cfg->lr_min < 0.0 || cfg->warmup < 0,
                 CLIMZ_ERR_INVALID_ARG, "forecaster: bad configuration");
    CZ_RETURN_IF(s->nt < 3 || s->ny < 1 || s->nx < 1, CLIMZ_ERR_INVALID_ARG,
                 "forecaster: the training series needs at least 3 steps (has %zu)", s->nt);
    CZ_FORWARD(model_build(m, cfg, s->ny, s->nx, seed));
    climz_status st = series_stats(s, &m->mean, &m->std, &m->dstd);
    if (st != CLIMZ_OK) {
        fc_free(m);
        return st;
    }

    size_t const plane = s->ny * s->nx, nb = (size_t)cfg->batch, n = nb * plane;
    size_t const h = (size_t)cfg->hidden;
    fc_acts a;
    st = acts_alloc(&a, n, m->nfeat, h);
    if (st != CLIMZ_OK) {
        fc_free(m);
        return st;
    }
    float *target = cz_malloc(n * sizeof(float)), *dout = cz_malloc(n * sizeof(float));
    float *d1 = cz_malloc(n * h * sizeof(float)), *d2 = cz_malloc(n * h * sizeof(float));
    const float **cur = cz_malloc(nb * sizeof *cur), **prev = cz_malloc(nb * sizeof *prev);
    float *noisy = cz_malloc(2 * n * sizeof(float)); /* perturbed copies of cur, prev */
    int *hour = cz_malloc(nb * sizeof *hour);
    if (!target || !dout || !d1 || !d2 || !cur || !prev || !hour || !noisy) {
        st = cz_error(CLIMZ_ERR_ALLOC, "forecaster: out of memory");
        goto done;
    }

    nn_adamw opt;
    nn_adamw_hparams hp = nn_adamw_defaults();
    hp.weight_decay = cfg->weight_decay;
    nn_adamw_init(&opt, &hp);
    nn_lr_schedule const sched = {cfg->lr, cfg->lr_min, (uint64_t)cfg->warmup,
                                  (uint64_t)cfg->steps};
    nn_rng rng;
    nn_rng_seed(&rng, nn_params_stream_seed(seed, "forecaster.batches"));
    int const tenth = cfg->steps >= 10 ? cfg->steps / 10 : 1;
    double first = 0.0, last = 0.0;
    float const inv_dstd = (float)(1.0 / m->dstd), sigma = (float)(cfg->input_noise * m->dstd);
    for (int step = 0; step < cfg->steps; step++) {
        /* nb random steps t in [1, nt - 2]: inputs t-1, t; target t+1 */
        for (size_t b = 0; b < nb; b++) {
            size_t const t = 1 + (size_t)(nn_rng_u64(&rng) % (s->nt - 2));
            const float *c = s->x + t * plane, *pv = s->x + (t - 1) * plane;
            const float *next = s->x + (t + 1) * plane;
            float *nc = noisy + b * plane, *np = noisy + (nb + b) * plane;
            /* inputs perturbed as a roll-out's own errors perturb them; the target is the
             * way back to the true next field, so that the model learns to damp them */
            for (size_t i = 0; i < plane; i++) {
                nc[i] = c[i] + sigma * nn_rng_normal(&rng);
                np[i] = pv[i] + sigma * nn_rng_normal(&rng);
                target[b * plane + i] = (next[i] - nc[i]) * inv_dstd;
            }
            cur[b] = nc, prev[b] = np;
            hour[b] = (int)((s->hour0 + t) % 24);
        }
        build_features(a.x, m, cur, prev, hour, nb);
        forward(m, &a, n);
        double const loss = nn_mse_forward(a.out, target, NULL, row_weight, nb, 1, s->ny, s->nx);
        nn_params_zero_grad(&m->p);
        memset(dout, 0, n * sizeof(float));
        nn_mse_backward(dout, a.out, target, NULL, row_weight, nb, 1, s->ny, s->nx, 1.0f);
        backward(m, &a, dout, d1, d2, n);
        st = nn_adamw_step(&opt, &m->p, nn_lr_at(&sched, opt.step), NULL);
        if (st != CLIMZ_OK) {
            st = cz_error(CLIMZ_ERR_GENERIC, "forecaster: training diverged at step %d", step);
            goto done;
        }
        if (step < tenth) first += loss / tenth;
        if (step >= cfg->steps - tenth) last += loss / tenth;
    }
    if (loss_first) *loss_first = first;
    if (loss_last) *loss_last = last;
done:
    acts_free(&a);
    free(target), free(dout), free(d1), free(d2), free(cur), free(prev), free(hour), free(noisy);
    if (st != CLIMZ_OK) fc_free(m);
    return st;
}

climz_status fc_rollout_rmse(const fc_model *m, const fc_series *test, const float *row_weight,
                             const int *leads, size_t nlead, double *rmse) {
    CZ_RETURN_IF(!test || !test->x || !leads || !rmse || nlead == 0, CLIMZ_ERR_INVALID_ARG,
                 "forecaster: NULL argument");
    CZ_RETURN_IF(m && (m->ny != test->ny || m->nx != test->nx), CLIMZ_ERR_INVALID_ARG,
                 "forecaster: trained on %zu x %zu, test grid %zu x %zu", m->ny, m->nx,
                 test->ny, test->nx);
    int max_lead = 0;
    for (size_t k = 0; k < nlead; k++) {
        CZ_RETURN_IF(leads[k] < 1, CLIMZ_ERR_INVALID_ARG, "forecaster: lead %d < 1", leads[k]);
        max_lead = leads[k] > max_lead ? leads[k] : max_lead;
    }
    CZ_RETURN_IF(test->nt < (size_t)max_lead + 2, CLIMZ_ERR_INVALID_ARG,
                 "forecaster: %zu test steps are too few for a %d h lead", test->nt, max_lead);
    size_t const ny = test->ny, nx = test->nx, plane = ny * nx;
    size_t const nstart = test->nt - 1 - (size_t)max_lead; /* starts 1 .. nt-1-max_lead */

    double *err = cz_calloc((size_t)max_lead + 1, sizeof(double));
    float *state = cz_malloc(2 * FC_EVAL_CHUNK * plane * sizeof(float)); /* prev, cur */
    fc_acts a = {0};
    climz_status st = CLIMZ_OK;
    if (!err || !state) {
        st = cz_error(CLIMZ_ERR_ALLOC, "forecaster: out of memory");
        goto done;
    }
    if (m) CZ_CHECK_GOTO(st, acts_alloc(&a, FC_EVAL_CHUNK * plane, m->nfeat, (size_t)m->cfg.hidden), done);
    double wsum = 0.0;
    for (size_t y = 0; y < ny; y++) wsum += row_weight ? row_weight[y] : 1.0;

    for (size_t s0 = 0; s0 < nstart; s0 += FC_EVAL_CHUNK) {
        size_t const nb = nstart - s0 < FC_EVAL_CHUNK ? nstart - s0 : FC_EVAL_CHUNK;
        float *prev_buf = state, *cur_buf = state + FC_EVAL_CHUNK * plane;
        for (size_t b = 0; b < nb; b++) {
            size_t const i = 1 + s0 + b;
            memcpy(prev_buf + b * plane, test->x + (i - 1) * plane, plane * sizeof(float));
            memcpy(cur_buf + b * plane, test->x + i * plane, plane * sizeof(float));
        }
        for (int lead = 1; lead <= max_lead; lead++) {
            if (m) {
                const float *cur[FC_EVAL_CHUNK], *prev[FC_EVAL_CHUNK];
                int hour[FC_EVAL_CHUNK];
                for (size_t b = 0; b < nb; b++) {
                    cur[b] = cur_buf + b * plane;
                    prev[b] = prev_buf + b * plane;
                    hour[b] = (int)((test->hour0 + 1 + s0 + b + (size_t)lead - 1) % 24);
                }
                build_features(a.x, m, cur, prev, hour, nb);
                forward(m, &a, nb * plane);
                /* the new field goes into prev's buffer, which then becomes cur */
                for (size_t i = 0; i < nb * plane; i++)
                    prev_buf[i] = cur_buf[i] + (float)m->dstd * a.out[i];
                float *tmp = prev_buf;
                prev_buf = cur_buf, cur_buf = tmp;
            }
            for (size_t b = 0; b < nb; b++) {
                const float *truth = test->x + (1 + s0 + b + (size_t)lead) * plane;
                const float *fc = cur_buf + b * plane; /* persistence: the start field */
                for (size_t y = 0; y < ny; y++) {
                    double rs = 0.0;
                    for (size_t x = 0; x < nx; x++) {
                        double const e = (double)fc[y * nx + x] - truth[y * nx + x];
                        rs += e * e;
                    }
                    err[lead] += (row_weight ? row_weight[y] : 1.0) * rs;
                }
            }
        }
    }
    for (size_t k = 0; k < nlead; k++)
        rmse[k] = sqrt(err[leads[k]] / (wsum * (double)nx * (double)nstart));
done:
    acts_free(&a);
    free(err), free(state);
    return st;
}
