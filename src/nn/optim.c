/* optim.c — AdamW, learning-rate schedule, gradient-norm clipping; see optim.h. */
#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

nn_adamw_hparams nn_adamw_defaults(void) {
    nn_adamw_hparams const hp = {1.0, 0.9, 0.999, 1e-8, 0.01};
    return hp;
}

void nn_adamw_init(nn_adamw *o, const nn_adamw_hparams *hp) {
    nn_adamw_hparams const h = hp ? *hp : nn_adamw_defaults();
    memset(o, 0, sizeof *o);
    for (size_t g = 0; g < NN_MAX_GROUPS; g++) o->hp[g] = h;
}

climz_status nn_adamw_set_group(nn_adamw *o, const nn_params *p, const char *group,
                                const nn_adamw_hparams *hp) {
    int const g = nn_params_find_group(p, group ? group : "");
    CZ_RETURN_IF(g < 0, CLIMZ_ERR_NOT_FOUND, "AdamW: no parameter group '%s'", group ? group : "(null)");
    CZ_RETURN_IF(!(hp->beta1 >= 0 && hp->beta1 < 1) || !(hp->beta2 >= 0 && hp->beta2 < 1) ||
                     !(hp->eps > 0) || !(hp->weight_decay >= 0) || !(hp->lr_scale >= 0) ||
                     !isfinite(hp->eps) || !isfinite(hp->weight_decay) || !isfinite(hp->lr_scale),
                 CLIMZ_ERR_INVALID_ARG,
                 "AdamW group %s: bad hyper-parameters (betas %g %g, eps %g, decay %g, scale %g)",
                 group, hp->beta1, hp->beta2, hp->eps, hp->weight_decay, hp->lr_scale);
    o->hp[g] = *hp;
    return CLIMZ_OK;
}

/* Sum of squares of x[0..n) in double over fixed chunks: chunk k covers
 * [k*NN_NORM_CHUNK, (k+1)*NN_NORM_CHUNK) of the GROUP slice and is summed left to right;
 * the partials are then added in chunk order. Threads only decide who computes a chunk. */
static double sumsq_fixed(const float *x, size_t n) {
    size_t const nchunk = (n + NN_NORM_CHUNK - 1) / NN_NORM_CHUNK;
    if (nchunk <= 1) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
        return s;
    }
    double stack_part[64];
    double *part = nchunk <= 64 ? stack_part : malloc(nchunk * sizeof *part);
    if (!part) { /* no memory for partials: same order, one thread */
        double total = 0;
        for (size_t k = 0; k < nchunk; k++) {
            size_t const b = k * NN_NORM_CHUNK, e = b + NN_NORM_CHUNK < n ? b + NN_NORM_CHUNK : n;
            double s = 0;
            for (size_t i = b; i < e; i++) s += (double)x[i] * (double)x[i];
            total += s;
        }
        return total;
    }
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < nchunk; k++) {
        size_t const b = k * NN_NORM_CHUNK, e = b + NN_NORM_CHUNK < n ? b + NN_NORM_CHUNK : n;
        double s = 0;
        for (size_t i = b; i < e; i++) s += (double)x[i] * (double)x[i];
        part[k] = s;
    }
    double total = 0;
    for (size_t k = 0; k < nchunk; k++) total += part[k];
    if (part != stack_part) free(part);
    return total;
}

double nn_grad_norm(const nn_params *p) {
    if (!p->grad) return 0;
    double s = 0;
    for (size_t g = 0; g < p->n_groups; g++) {
        nn_param_group const *G = &p->groups[g];
        if (!G->frozen) s += sumsq_fixed(p->grad + G->begin, G->end - G->begin);
    }
    return sqrt(s);
}

climz_status nn_adamw_step(nn_adamw *o, nn_params *p, double lr, double *grad_norm) {
    CZ_RETURN_IF(!p->grad || !p->m || !p->v, CLIMZ_ERR_INVALID_ARG,
                 "AdamW: parameter store allocated without training buffers");
    CZ_RETURN_IF(!(lr >= 0) || !isfinite(lr), CLIMZ_ERR_INVALID_ARG, "AdamW: bad learning rate %g", lr);
    double const norm = nn_grad_norm(p);
    if (grad_norm) *grad_norm = norm;
    CZ_RETURN_IF(!isfinite(norm), CLIMZ_ERR_GENERIC,
                 "AdamW step %llu: gradient norm is %g (NaN or Inf in a gradient); nothing updated",
                 (unsigned long long)o->step, norm);
    float const clip = (o->clip_norm > 0 && norm > o->clip_norm)
                           ? (float)(o->clip_norm / (norm + 1e-6)) : 1.0f;

    for (size_t g = 0; g < p->n_groups; g++) {
        if (p->groups[g].frozen) continue;
        nn_adamw_hparams const *hp = &o->hp[g];
        uint64_t const t = ++o->group_step[g];
        /* torch: step_size = lr / bc1; denom = sqrt(v) / sqrt(bc2) + eps (bc in double) */
        double const glr = lr * hp->lr_scale;
        double const bc1 = 1.0 - pow(hp->beta1, (double)t);
        double const bc2 = 1.0 - pow(hp->beta2, (double)t);
        float const step_size = (float)(glr / bc1);
        float const sbc2 = (float)sqrt(bc2);
        float const b1 = (float)hp->beta1, b2 = (float)hp->beta2, eps = (float)hp->eps;
        float const ob1 = (float)(1.0 - hp->beta1), ob2 = (float)(1.0 - hp->beta2);
        for (size_t i = 0; i < p->n; i++) {
            nn_param const *T = &p->t[i];
            if (T->group != (int)g || T->numel == 0) continue;
            float *restrict w = p->data + T->offset;
            float *restrict m = p->m + T->offset;
            float *restrict v = p->v + T->offset;
            const float *restrict gr = p->grad + T->offset;
            float const decay = T->decay ? (float)(1.0 - glr * hp->weight_decay) : 1.0f;
            size_t const n = T->numel;
#pragma omp parallel for schedule(static) if (n >= 16384)
            for (size_t j = 0; j < n; j++) {
                float const gj = gr[j] * clip;
                float const mj = b1 * m[j] + ob1 * gj;
                float const vj = b2 * v[j] + ob2 * gj * gj;
                m[j] = mj;
                v[j] = vj;
                w[j] = w[j] * decay - step_size * (mj / (sqrtf(vj) / sbc2 + eps));
            }
        }
    }
    o->step++;
    return CLIMZ_OK;
}

double nn_lr_at(const nn_lr_schedule *s, uint64_t step) {
    if (step < s->warmup_steps) return s->lr_max * (double)(step + 1) / (double)s->warmup_steps;
    if (step >= s->total_steps || s->total_steps <= s->warmup_steps) return s->lr_min;
    double const r = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    return s->lr_min + (s->lr_max - s->lr_min) * 0.5 * (1.0 + cos(3.14159265358979323846 * r));
}
