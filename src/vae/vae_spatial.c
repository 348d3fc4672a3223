/* vae_spatial.c — the checkerboard context of y (the points of a plane coded after its
 * anchors, against them) and the encoder's choice of its codes (see vae_codec.h). */
#include "vae/vae_internal.h"

#include <stdlib.h>
#include <string.h>

/* The decoder rebuilds the context means bit for bit on any build: no FMA contraction. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define SP_KMIN (-3)  /* k[b] = k_b - SP_KMIN */
#define SP_NK (VAE_SPATIAL_KMAX + 1)
#define SP_NW (VAE_SPATIAL_WMAX + 1)

/* the anchors beside non-anchor (r, q): their symbols' sum, absolute sum and count */
static void neighbours(const int32_t *plane, size_t h, size_t w, size_t r, size_t q, int64_t *sum, int64_t *asum,
                       int *n) {
    size_t const i = r * w + q;
    int32_t v[4];
    int k = 0;
    if (r > 0) v[k++] = plane[i - w];
    if (r + 1 < h) v[k++] = plane[i + w];
    if (q > 0) v[k++] = plane[i - 1];
    if (q + 1 < w) v[k++] = plane[i + 1];
    *sum = *asum = 0;
    for (int e = 0; e < k; e++) {
        *sum += v[e];
        *asum += v[e] < 0 ? -(int64_t)v[e] : v[e];
    }
    *n = k;
}

static unsigned bucket(int64_t asum) { return asum == 0 ? 0u : asum <= 2 ? 1u : 2u; }

/* mean + w * a with a = sum / n: single roundings */
static float context_mean(float mean, unsigned wcode, int64_t sum, int n) {
    if (!wcode || !n) return mean;
    float const a = (float)sum / (float)n;
    float const e = ((float)wcode * 0.25f) * a;
    return mean + e;
}

void vae_spatial_point(const vae_job *j, size_t i, float mean, uint8_t idx0, float *m, uint8_t *idx) {
    size_t const h = j->g.h, w = j->g.w, p = i % (h * w);
    int64_t sum, asum;
    int n;
    neighbours(j->sym + (i - p), h, w, p / w, p % w, &sum, &asum, &n);
    *m = context_mean(mean, j->sp->w[i / (h * w)], sum, n);
    *idx = vae_shifted_index(idx0, (int)j->sp->k[bucket(asum)] + SP_KMIN);
}

climz_status vae_job_set_spatial(vae_job *j, const vae_spatial *sp) {
    if (sp) {
        for (size_t b = 0; b < 3; b++)
            CZ_RETURN_IF(sp->k[b] > VAE_SPATIAL_KMAX, CLIMZ_ERR_CORRUPT, "spatial context: scale code %u", sp->k[b]);
        for (size_t c = 0; c < j->c->m->cfg.latent; c++)
            CZ_RETURN_IF(sp->w[c] > VAE_SPATIAL_WMAX, CLIMZ_ERR_CORRUPT, "spatial context: channel %zu has weight code %u",
                         c, sp->w[c]);
    }
    j->sp = sp;
    return CLIMZ_OK;
}

/* Bits of the non-anchors of channel c of job j, with every weight code and k, per bucket:
 * bits[(wc * 3 + b) * SP_NK + k] += ... (from the job's continuous y and coding model). */
static void channel_bits(const vae_len_tables *lt, const vae_job *j, size_t c, double *bits) {
    size_t const h = j->g.h, w = j->g.w, o = c * h * w;
    const float *means = j->predicted ? j->pmeans : j->means;
    const uint8_t *idx = j->predicted ? j->pidx : j->idx;
    for (size_t r = 0; r < h; r++)
        for (size_t q = 0; q < w; q++) {
            if (vae_anchor(r, q)) continue;
            size_t const i = o + r * w + q;
            int64_t sum, asum;
            int n;
            neighbours(j->sym + o, h, w, r, q, &sum, &asum, &n);
            unsigned const b = bucket(asum);
            for (unsigned wc = 0; wc < SP_NW; wc++) {
                int32_t s = 0; /* stays 0 for a y that is not finite: quantise_y refuses it */
                vae_symbol(j->y_cont[i] - context_mean(means[i], wc, sum, n), &s);
                double *const row = bits + (wc * 3 + b) * SP_NK;
                for (int k = 0; k < SP_NK; k++) row[k] += vae_value_bits(lt, vae_shifted_index(idx[i], k + SP_KMIN), s);
            }
        }
}

climz_status vae_spatial_choose(const vae_coder *c, vae_job *const *jobs, size_t n, uint8_t *w, uint8_t k[3],
                                double *saved) {
    size_t const L = c->m->cfg.latent, per = SP_NW * 3 * SP_NK;
    double *bits = calloc(L * per, sizeof *bits);
    CZ_RETURN_IF(!bits, CLIMZ_ERR_ALLOC, "out of memory choosing the spatial context");
    vae_len_tables lt;
    climz_status const st = vae_len_tables_build(&lt, c->gauss);
    if (st) {
        free(bits);
        return st;
    }
#pragma omp parallel for schedule(dynamic)
    for (long cl = 0; cl < (long)L; cl++)
        for (size_t s = 0; s < n; s++)
            if (jobs[s]) channel_bits(&lt, jobs[s], (size_t)cl, bits + (size_t)cl * per);
    free(lt.len);
    /* without the context: weight 0, k_b = 0 in every bucket */
    double base = 0;
    for (size_t cl = 0; cl < L; cl++)
        for (unsigned b = 0; b < 3; b++) base += bits[cl * per + b * SP_NK - SP_KMIN];
    double best = base;
    memset(w, 0, L);
    k[0] = k[1] = k[2] = (uint8_t)-SP_KMIN;
    /* one k triple for all channels, the best weight per channel under it */
    for (int k0 = 0; k0 < SP_NK; k0++)
        for (int k1 = 0; k1 < SP_NK; k1++)
            for (int k2 = 0; k2 < SP_NK; k2++) {
                double tot = 0;
                for (size_t cl = 0; cl < L && tot < best; cl++) {
                    const double *b = bits + cl * per;
                    double m = INFINITY;
                    for (unsigned wc = 0; wc < SP_NW; wc++) {
                        double const v = b[(wc * 3) * SP_NK + k0] + b[(wc * 3 + 1) * SP_NK + k1] +
                                         b[(wc * 3 + 2) * SP_NK + k2];
                        if (v < m) m = v;
                    }
                    tot += m;
                }
                if (tot < best) {
                    best = tot;
                    k[0] = (uint8_t)k0, k[1] = (uint8_t)k1, k[2] = (uint8_t)k2;
                }
            }
    for (size_t cl = 0; cl < L; cl++) { /* the weights under the chosen triple */
        const double *b = bits + cl * per;
        double m = INFINITY;
        for (unsigned wc = 0; wc < SP_NW; wc++) {
            double const v = b[(wc * 3) * SP_NK + k[0]] + b[(wc * 3 + 1) * SP_NK + k[1]] + b[(wc * 3 + 2) * SP_NK + k[2]];
            if (v < m) m = v, w[cl] = (uint8_t)wc;
        }
    }
    *saved = base - best;
    free(bits);
    return CLIMZ_OK;
}
