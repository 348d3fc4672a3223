/* vae_predict.c — prediction of the latent y from the y_hat of the step before (or of the
 * level below), and the encoder's choice of its per-channel codes (see vae_codec.h). */
#include "vae/vae_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The decoder rebuilds the predicted means bit for bit on any build: forbid fusing
 * m + w * d into an FMA even in GNU dialects or with clang's default (-ffp-contract=on). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define PRED_KMIN (-3) /* code % 16 = k - PRED_KMIN */

static float code_weight(unsigned code) { return (float)(code / 16) * 0.25f; }
static int code_shift(unsigned code) { return (int)(code % 16) + PRED_KMIN; }

/* mean + w * (prev - mean), two roundings */
static float predicted_mean(float mean, float prev, float w) {
    if (w == 0.0f) return mean;
    float const d = prev - mean;
    float const e = w * d;
    return mean + e;
}

uint8_t vae_shifted_index(uint8_t idx, int k) {
    int const i = (int)idx - k;
    return (uint8_t)(i < 0 ? 0 : i > ENT_GAUSS_LEVELS - 1 ? ENT_GAUSS_LEVELS - 1 : i);
}

climz_status vae_job_predict(vae_job *j, const vae_job *prev, const uint8_t *code) {
    size_t const L = j->c->m->cfg.latent, plane = j->g.h * j->g.w;
    CZ_RETURN_IF(prev->ny != j->ny, CLIMZ_ERR_CORRUPT, "temporal prediction from a sample of another size");
    for (size_t c = 0; c < L; c++)
        CZ_RETURN_IF(code[c] >= VAE_PRED_CODES, CLIMZ_ERR_CORRUPT, "latent channel %zu: prediction code %u", c,
                     code[c]);
    for (size_t c = 0; c < L; c++) {
        float const w = code_weight(code[c]);
        int const k = code_shift(code[c]);
        for (size_t i = c * plane; i < (c + 1) * plane; i++) {
            j->pmeans[i] = predicted_mean(j->means[i], prev->y[i], w);
            j->pidx[i] = vae_shifted_index(j->idx[i], k);
        }
    }
    j->predicted = 1;
    return CLIMZ_OK;
}

climz_status vae_job_inherit(vae_job *j, const vae_job *prev) {
    CZ_RETURN_IF(prev->ny != j->ny, CLIMZ_ERR_CORRUPT, "entropy model inherited from a sample of another size");
    memcpy(j->means, prev->means, j->ny * sizeof *j->means);
    memcpy(j->idx, prev->idx, j->ny);
    return CLIMZ_OK;
}

/* ---- the encoder's choice ------------------------------------------------------------------ */

climz_status vae_len_tables_build(vae_len_tables *lt, const ent_gauss_tables *g) {
    double const total = ldexp(1.0, (int)ent_gauss_prec(g));
    size_t n = 0;
    for (unsigned i = 0; i < ENT_GAUSS_LEVELS; i++) {
        lt->tail[i] = ent_gauss_tail(g, i);
        lt->off[i] = n;
        n += (size_t)lt->tail[i] + 1;
    }
    lt->len = malloc(n * sizeof *lt->len);
    CZ_RETURN_IF(!lt->len, CLIMZ_ERR_ALLOC, "out of memory");
    for (unsigned i = 0; i < ENT_GAUSS_LEVELS; i++) {
        for (int32_t v = 0; v <= lt->tail[i]; v++)
            lt->len[lt->off[i] + (size_t)v] = (float)-log2((double)ent_gauss_freq(g, i, v) / total);
        lt->esc[i] = (float)-log2((double)ent_gauss_freq(g, i, lt->tail[i] + 1) / total);
    }
    return CLIMZ_OK;
}

float vae_value_bits(const vae_len_tables *lt, unsigned i, int32_t v) {
    uint32_t const a = v < 0 ? (uint32_t)-(int64_t)v : (uint32_t)v;
    if (a <= (uint32_t)lt->tail[i]) return lt->len[lt->off[i] + a];
    return lt->esc[i] + 2.0f * floorf(log2f((float)(a - (uint32_t)lt->tail[i]))) + 2.0f;
}

/* The y_hat of one channel of one sample along a group's steps, coded with prediction weight
 * w: bits[k] += the bits of its predicted steps with scale shift k + PRED_KMIN. prev and cur
 * are scratch planes (swapped along the chain). */
static void chain_bits(const vae_len_tables *lt, vae_job *const *jobs, const vae_job *model0, size_t nt, size_t ns,
                       size_t s, size_t ch, float w, int inherit, float *prev, float *cur, double *bits) {
    const vae_job *before = NULL, *root = NULL; /* root: where the entropy model comes from */
    for (size_t t = 0; t < nt; before = jobs[t * ns + s], t++) {
        const vae_job *j = jobs[t * ns + s];
        if (!j) continue;
        if (!before || !inherit) root = !t && model0 ? model0 : j;
        size_t const plane = j->g.h * j->g.w, o = ch * plane;
        for (size_t i = 0; i < plane; i++) {
            int32_t q = 0; /* stays 0 for a y that is not finite: quantise_y refuses it later */
            /* without prediction (a chain's first row) the bits are the same for every code */
            float const m = before ? predicted_mean(root->means[o + i], prev[i], w) : root->means[o + i];
            vae_symbol(j->y[o + i] - m, &q);
            cur[i] = (float)q + m;
            for (unsigned k = 0; before && k < 16; k++)
                bits[k] += vae_value_bits(lt, vae_shifted_index(root->idx[o + i], (int)k + PRED_KMIN), q);
        }
        float *const sw = prev;
        prev = cur;
        cur = sw;
    }
}

climz_status vae_predict_choose(const vae_coder *c, vae_job *const *jobs, vae_job *const *models, size_t nt,
                                size_t ns, int inherit, uint8_t *code, double *bits_out) {
    size_t const L = c->m->cfg.latent;
    size_t plane_max = 0;
    for (size_t k = 0; k < nt * ns; k++)
        if (jobs[k] && jobs[k]->g.h * jobs[k]->g.w > plane_max) plane_max = jobs[k]->g.h * jobs[k]->g.w;
    vae_len_tables lt;
    CZ_FORWARD(vae_len_tables_build(&lt, c->gauss));
    climz_status st = CLIMZ_OK;
    double total = 0;
#pragma omp parallel
    {
        /* the chain of one sample: y_hat of the step before and of this step */
        float *const buf = malloc(2 * plane_max * sizeof *buf);
        if (!buf) {
#pragma omp critical
            st = CLIMZ_ERR_ALLOC;
        }
#pragma omp for schedule(dynamic) reduction(+ : total)
        for (long cl = 0; cl < (long)L; cl++) {
            if (!buf) continue;
            size_t const ch = (size_t)cl;
            double bits[VAE_PRED_CODES] = {0};
            for (unsigned wi = 0; wi < VAE_PRED_CODES / 16; wi++)
                for (size_t s = 0; s < ns; s++)
                    chain_bits(&lt, jobs, models ? models[s] : NULL, nt, ns, s, ch, code_weight(wi * 16), inherit,
                               buf, buf + plane_max, bits + wi * 16);
            unsigned best = VAE_PRED_INTRA;
            for (unsigned k = 0; k < VAE_PRED_CODES; k++)
                if (bits[k] < bits[best]) best = k;
            code[ch] = (uint8_t)best;
            total += bits[best];
        }
        free(buf);
    }
    free(lt.len);
    if (st) return cz_error(st, "out of memory choosing the temporal prediction");
    if (bits_out) *bits_out = total;
    return CLIMZ_OK;
}

climz_status vae_jobs_y_bits(const vae_coder *c, const vae_job *const *jobs, const vae_job *const *from,
                             const uint8_t *code, size_t n, double *bits) {
    size_t const L = c->m->cfg.latent;
    for (size_t k = 0; k < n; k++)
        CZ_RETURN_IF(from[k] && from[k]->ny != jobs[k]->ny, CLIMZ_ERR_CORRUPT,
                     "temporal prediction from a sample of another size");
    vae_len_tables lt;
    CZ_FORWARD(vae_len_tables_build(&lt, c->gauss));
#pragma omp parallel for schedule(dynamic)
    for (long kl = 0; kl < (long)n; kl++) {
        const vae_job *j = jobs[kl], *p = from[kl];
        size_t const plane = j->g.h * j->g.w;
        double b = 0;
        for (size_t ch = 0; ch < L; ch++) {
            float const w = p ? code_weight(code[ch]) : 0.0f;
            int const shift = p ? code_shift(code[ch]) : 0;
            for (size_t i = ch * plane; i < (ch + 1) * plane; i++) {
                int32_t q = 0;
                vae_symbol(j->y_cont[i] - (p ? predicted_mean(j->means[i], p->y[i], w) : j->means[i]), &q);
                b += vae_value_bits(&lt, vae_shifted_index(j->idx[i], shift), q);
            }
        }
        bits[kl] = b;
    }
    free(lt.len);
    return CLIMZ_OK;
}
