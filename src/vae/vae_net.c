/*
 * vae_net.c — the VAEformer network in float and double (vae_net_impl.inc), and the public
 * inference and training entry points of vae.h on the model's own weights.
 */
#include "vae/vae.h"
#include "vae/vae_internal.h"

#include "nn/loss.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A list of allocations freed together (every buffer of a stage or a trainer). */
#define VN_ARENA_MAX 512
typedef struct vn_arena {
    void *p[VN_ARENA_MAX];
    size_t n;
} vn_arena;

/* n zeroed elements of size el, 64-byte aligned; NULL on failure or when the list is full */
static void *vn_arena_alloc(vn_arena *a, size_t n, size_t el) {
    size_t bytes;
    if (a->n >= VN_ARENA_MAX || !cz_mul_ok(n ? n : 1, el, &bytes) || bytes > SIZE_MAX - 64)
        return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (!p) return NULL;
    memset(p, 0, bytes);
    a->p[a->n++] = p;
    return p;
}

static void vn_arena_free(vn_arena *a) {
    for (size_t i = 0; i < a->n; i++) free(a->p[i]);
    a->n = 0;
}

#define NN_PRECISION 32
#include "nn/nn_tmpl.h"
#include "vae_net_impl.inc"
#undef NN_PRECISION

#define NN_PRECISION 64
#include "nn/nn_tmpl.h"
#include "vae_net_impl.inc"
#undef NN_PRECISION

/* ---- the public entry points on the model's weights --------------------------------------- */

climz_status vae_encode_latent(const vae_model *m, const float *x, size_t H, size_t W, float *y,
                               size_t *h, size_t *w) {
    return vn_encode_latent(m, m->p.data, x, H, W, y, h, w);
}

climz_status vae_hyper_encode(const vae_model *m, const float *y, size_t h, size_t w, float *z,
                              size_t *hz, size_t *wz) {
    return vn_hyper_encode(m, m->p.data, y, h, w, z, hz, wz);
}

climz_status vae_hyper_decode(const vae_model *m, const float *z_hat, size_t hz, size_t wz,
                              float *scales, float *means, size_t h, size_t w) {
    return vn_hyper_decode(m, m->p.data, z_hat, hz, wz, scales, means, h, w);
}

climz_status vae_decode_latent(const vae_model *m, size_t B, const float *const *y_hat, size_t h, size_t w,
                               float *const *x_hat, size_t H, size_t W) {
    return vn_decode_latent(m, m->p.data, B, y_hat, h, w, x_hat, H, W);
}

climz_status vae_reconstruct(const vae_model *m, const float *x, size_t H, size_t W, int quantize,
                             float *x_hat, double *bits_y, double *bits_z) {
    return vn_reconstruct(m, m->p.data, x, H, W, quantize, x_hat, bits_y, bits_z);
}

climz_status vae_trainer_step(vae_trainer *t, const float *x, const uint8_t *mask,
                              const float *row_w, double weight, nn_rng *rng, vae_losses *out) {
    CZ_RETURN_IF(!t->m->p.grad, CLIMZ_ERR_INVALID_ARG, "vae: the model has no training buffers");
    return vae_trainer_step_p(t, t->m->p.data, t->m->p.grad, x, mask, row_w, weight, rng, out);
}

climz_status vae_trainer_set_shard(vae_trainer *t, const vae_shard *s) {
    if (!s) {
        t->sh.first = 0, t->sh.total = t->B, t->sh.mse_weight = 0, t->sh.aux = 1;
        return CLIMZ_OK;
    }
    CZ_RETURN_IF(s->total < t->B || s->first > s->total - t->B, CLIMZ_ERR_INVALID_ARG,
                 "vae: a shard of %zu samples at %zu of a batch of %zu", t->B, s->first, s->total);
    t->sh = *s;
    return CLIMZ_OK;
}

/* the per-sample weight of batch_mse (vae_net_impl.inc), in the same order of operations */
double vae_mse_weight(const uint8_t *mask, const float *row_w, size_t C, size_t H, size_t W) {
    double s = 0;
    for (size_t c = 0; c < C; c++)
        for (size_t i = 0; i < H; i++) {
            double const wr = row_w ? (double)row_w[i] : 1.0;
            const uint8_t *mk = mask ? mask + (c * H + i) * W : NULL;
            size_t valid = W;
            if (mk)
                for (size_t j = 0; j < W; j++) valid -= mk[j] != 0;
            s += wr * (double)valid;
        }
    return s;
}

/* ---- quantile fitting ------------------------------------------------------------------ */

/* The aux loss is sum |logits_c(q) - target| with logits_c increasing, so each quantile has
 * its own root, and the sign of the aux gradient at q is the sign of logits_c(q) - target:
 * every quantile is bracketed (doubling steps) and bisected at once, one gradient call per
 * iteration for all of them. */
climz_status vae_fit_quantiles(vae_model *m, double *aux) {
    const nn_fp *fp = &m->fp;
    size_t const nq = 3 * fp->C;
    float *params = nn_params_data(&m->p, m->ix.fp_first);
    float *q = params + fp->off_quantiles;
    float *g = cz_calloc(fp->nparams, sizeof *g);
    double *lo = cz_calloc(3 * nq, sizeof *lo);
    if (!g || !lo) {
        free(g), free(lo);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    double *hi = lo + nq, *step = hi + nq;
    float *gq = g + fp->off_quantiles;
    /* bracket: lo with sign < 0, hi with sign > 0 (NAN while unknown) */
    for (size_t i = 0; i < nq; i++) lo[i] = hi[i] = NAN, step[i] = 1.0;
    for (int it = 0; it < 200; it++) {
        memset(g, 0, fp->nparams * sizeof *g);
        nn_fp_aux_backward(g, params, fp, 1.0f);
        int open = 0;
        for (size_t i = 0; i < nq; i++) {
            double const x = q[i];
            if (gq[i] > 0) hi[i] = x;
            else if (gq[i] < 0) lo[i] = x;
            else lo[i] = hi[i] = x; /* exactly on the root */
            if (isnan(lo[i])) {
                q[i] = (float)(x - step[i]), step[i] *= 2, open = 1;
            } else if (isnan(hi[i])) {
                q[i] = (float)(x + step[i]), step[i] *= 2, open = 1;
            } else {
                float const mid = (float)(0.5 * (lo[i] + hi[i]));
                if (mid != q[i] && (float)lo[i] != (float)hi[i]) open = 1;
                q[i] = mid;
            }
        }
        if (!open) break;
    }
    if (aux) *aux = nn_fp_aux_forward(params, fp);
    free(g), free(lo);
    return CLIMZ_OK;
}
