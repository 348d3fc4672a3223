/* vae_codec.c — model-side entropy tables and the coder of one sample (see vae_codec.h). */
#include "vae/vae_codec.h"
#include "nn/nn.h"
#include "vae/vae_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ------------------------------------------------------------------------------ */

static climz_status put_bytes(vae_model *m, const char *name, const cz_buf *b) {
    size_t const shape[1] = {b->size};
    return vae_model_put_extra(m, name, NN_DT_U8, 1, shape, b->data);
}

climz_status vae_model_build_tables(vae_model *m) {
    const nn_fp *fp = &m->fp;
    size_t const C = fp->C;
    const float *P = vae_model_fp_params(m);
    CZ_RETURN_IF(!P || C == 0, CLIMZ_ERR_INVALID_ARG, "model has no factorised prior");
    ent_gauss_tables *g = NULL;
    ent_factorized *f = NULL;
    cz_buf b = {0};
    int32_t *offset = malloc(C * sizeof *offset);
    uint32_t *n = malloc(C * sizeof *n);
    double *tail = malloc(C * sizeof *tail);
    float *med = malloc(C * sizeof *med);
    double *pmf = NULL;
    climz_status st = CLIMZ_OK;
    if (!offset || !n || !tail || !med) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");

    CZ_CHECK_GOTO(st, ent_gauss_tables_build(&g, VAE_CDF_PREC), done);
    CZ_CHECK_GOTO(st, ent_gauss_tables_serialize(g, &b), done);
    CZ_CHECK_GOTO(st, put_bytes(m, VAE_EXTRA_GAUSS, &b), done);

    /* CompressAI's range: [median - ceil(median - q_lo), median + ceil(q_hi - median)] */
    size_t total = 0;
    for (size_t c = 0; c < C; c++) {
        const float *q = P + fp->off_quantiles + 3 * c;
        if (!isfinite(q[0]) || !isfinite(q[1]) || !isfinite(q[2]))
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_INVALID_ARG, "z channel %zu: quantiles are not finite", c);
        med[c] = q[1];
        double lo = ceil((double)q[1] - (double)q[0]), hi = ceil((double)q[2] - (double)q[1]);
        lo = lo < 0 ? 0 : lo > VAE_Z_MAX_HALF ? VAE_Z_MAX_HALF : lo;
        hi = hi < 0 ? 0 : hi > VAE_Z_MAX_HALF ? VAE_Z_MAX_HALF : hi;
        offset[c] = -(int32_t)lo;
        n[c] = (uint32_t)(lo + hi) + 1;
        total += n[c];
    }
    pmf = malloc(total * sizeof *pmf);
    if (!pmf) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    size_t pos = 0;
    for (size_t c = 0; c < C; c++) {
        nn_fp_pmf(pmf + pos, tail + c, P, fp, c, (double)med[c] + offset[c], n[c]);
        /* a degenerate prior (all mass far away) still gives a usable table: flat */
        double sum = tail[c] >= 0 && isfinite(tail[c]) ? tail[c] : 0;
        for (uint32_t k = 0; k < n[c]; k++) {
            if (!(pmf[pos + k] >= 0) || !isfinite(pmf[pos + k])) pmf[pos + k] = 0;
            sum += pmf[pos + k];
        }
        if (!(tail[c] >= 0) || !isfinite(tail[c])) tail[c] = 0;
        if (!(sum > 0))
            for (uint32_t k = 0; k < n[c]; k++) pmf[pos + k] = 1;
        pos += n[c];
    }
    CZ_CHECK_GOTO(st, ent_factorized_build(&f, (uint32_t)C, offset, n, pmf, tail, VAE_CDF_PREC), done);
    b.size = 0;
    CZ_CHECK_GOTO(st, ent_factorized_serialize(f, &b), done);
    CZ_CHECK_GOTO(st, put_bytes(m, VAE_EXTRA_ZTAB, &b), done);
    size_t const shape[1] = {C};
    CZ_CHECK_GOTO(st, vae_model_put_extra(m, VAE_EXTRA_ZMED, NN_DT_F32, 1, shape, med), done);
done:
    ent_gauss_tables_free(g);
    ent_factorized_free(f);
    cz_buf_free(&b);
    free(offset);
    free(n);
    free(tail);
    free(med);
    free(pmf);
    return st;
}

int vae_model_has_tables(const vae_model *m) {
    return vae_model_extra(m, VAE_EXTRA_GAUSS) && vae_model_extra(m, VAE_EXTRA_ZTAB) &&
           vae_model_extra(m, VAE_EXTRA_ZMED);
}

void vae_coder_release(vae_coder *c) {
    if (!c) return;
    ent_gauss_tables_free(c->gauss);
    ent_factorized_free(c->zt);
    free(c->zmed);
    free(c->gain_q);
    memset(c, 0, sizeof *c);
}

climz_status vae_coder_init(vae_coder *c, const vae_model *m, int det_decode) {
    memset(c, 0, sizeof *c);
    c->m = m;
    c->det_decode = det_decode;
    const vae_extra *eg = vae_model_extra(m, VAE_EXTRA_GAUSS), *ez = vae_model_extra(m, VAE_EXTRA_ZTAB),
                    *em = vae_model_extra(m, VAE_EXTRA_ZMED);
    CZ_RETURN_IF(!eg || !ez || !em, CLIMZ_ERR_UNSUPPORTED,
                 "the model has no entropy tables (a phase-1 model?): fine-tune it with `climz finetune`, "
                 "which stores them");
    size_t const Lz = m->cfg.hyper_latent;
    CZ_RETURN_IF(eg->dtype != NN_DT_U8 || ez->dtype != NN_DT_U8 || em->dtype != NN_DT_F32 ||
                     em->bytes != Lz * sizeof(float),
                 CLIMZ_ERR_CORRUPT, "the model's entropy tables have the wrong type or size");
    climz_status st = CLIMZ_OK;
    CZ_CHECK_GOTO(st, ent_gauss_tables_deserialize(&c->gauss, eg->data, eg->bytes), fail);
    CZ_CHECK_GOTO(st, ent_factorized_deserialize(&c->zt, ez->data, ez->bytes), fail);
    if (ent_factorized_channels(c->zt) != Lz)
        CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "the model's z tables have %u channels, z has %zu",
                     (unsigned)ent_factorized_channels(c->zt), Lz);
    c->zmed = malloc(Lz * sizeof *c->zmed);
    if (!c->zmed) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory");
    memcpy(c->zmed, em->data, Lz * sizeof *c->zmed);
    for (size_t i = 0; i < Lz; i++)
        if (!isfinite(c->zmed[i])) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "z median %zu is not finite", i);
    if (vae_model_has_rate_gain(m)) { /* the gains in whole 1/64 octaves (vae_codec.h: rate levels) */
        size_t const n = VAE_GAIN_ANCHORS * m->cfg.latent;
        const float *a = nn_params_data(&m->p, m->ix.rate_gain);
        c->gain_q = malloc(n * sizeof *c->gain_q);
        if (!c->gain_q) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory");
        for (size_t i = 0; i < n; i++) {
            if (!(fabsf(a[i]) <= (float)VAE_GAIN_MAX))
                CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "rate gain %zu is %g: not finite or beyond +-%g octaves", i,
                             (double)a[i], VAE_GAIN_MAX);
            c->gain_q[i] = (int32_t)nearbyintf(64.0f * a[i]); /* 64 a is exact: a power of two */
        }
    }
    return CLIMZ_OK;
fail:
    cz_error_prefix(st, "model entropy tables");
    vae_coder_release(c);
    return st;
}

/* ---- one sample, in stages ------------------------------------------------------------------ */

void vae_job_free(vae_job *j) {
    if (!j) return;
    free(j->y);
    free(j->y_cont);
    free(j->scales);
    free(j->means);
    free(j->z);
    free(j->idx);
    free(j->pmeans);
    free(j->pidx);
    free(j->cidx);
    free(j->zsym);
    free(j->sym);
    free(j->steps);
    free(j);
}

climz_status vae_job_create(vae_job **out, const vae_coder *c, size_t H, size_t W) {
    *out = NULL;
    vae_job *j = calloc(1, sizeof *j);
    CZ_RETURN_IF(!j, CLIMZ_ERR_ALLOC, "out of memory");
    j->c = c;
    j->H = H;
    j->W = W;
    climz_status const st = vae_geometry(&c->m->cfg, H, W, &j->g);
    if (st) {
        free(j);
        return st;
    }
    j->ny = c->m->cfg.latent * j->g.h * j->g.w;
    j->nz = c->m->cfg.hyper_latent * j->g.hz * j->g.wz;
    j->y = malloc(j->ny * sizeof *j->y);
    j->scales = malloc(j->ny * sizeof *j->scales);
    j->means = malloc(j->ny * sizeof *j->means);
    j->z = malloc(j->nz * sizeof *j->z);
    j->idx = malloc(j->ny);
    j->pmeans = malloc(j->ny * sizeof *j->pmeans);
    j->pidx = malloc(j->ny);
    j->cidx = malloc(j->ny);
    j->zsym = malloc(j->nz * sizeof *j->zsym);
    j->sym = malloc(j->ny * sizeof *j->sym);
    j->steps = malloc(c->m->cfg.latent * sizeof *j->steps);
    if (!j->y || !j->scales || !j->means || !j->z || !j->idx || !j->pmeans || !j->pidx || !j->cidx || !j->zsym || !j->sym ||
        !j->steps) {
        vae_job_free(j);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory for a %zu x %zu sample", H, W);
    }
    j->info.h = j->g.h, j->info.w = j->g.w, j->info.hz = j->g.hz, j->info.wz = j->g.wz;
    *out = j;
    return vae_job_set_step(j, 0); /* level 0: D_c = 1, or 2^(a_c(0)) with rate gains */
}

const vae_sample_info *vae_job_info(const vae_job *j) { return &j->info; }

/* floor(a / b) for b > 0 */
static int32_t floor_div(int32_t a, int32_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* 2^(e / 64), rounded to float: the same constants everywhere (entry 8 i is 2^(i / 8)) */
static float pow2_64ths(int32_t e) {
    static const float mant[64] = {
        0x1p+0f,        0x1.02c9a4p+0f, 0x1.059b0ep+0f, 0x1.087452p+0f, 0x1.0b5586p+0f, 0x1.0e3ec4p+0f,
        0x1.11301ep+0f, 0x1.1429aap+0f, 0x1.172b84p+0f, 0x1.1a35bep+0f, 0x1.1d4874p+0f, 0x1.2063b8p+0f,
        0x1.2387a6p+0f, 0x1.26b456p+0f, 0x1.29e9ep+0f,  0x1.2d285ap+0f, 0x1.306fep+0f,  0x1.33c08cp+0f,
        0x1.371a74p+0f, 0x1.3a7db4p+0f, 0x1.3dea64p+0f, 0x1.4160a2p+0f, 0x1.44e086p+0f, 0x1.486a2cp+0f,
        0x1.4bfdaep+0f, 0x1.4f9b28p+0f, 0x1.5342b6p+0f, 0x1.56f474p+0f, 0x1.5ab07ep+0f, 0x1.5e76f2p+0f,
        0x1.6247ecp+0f, 0x1.662388p+0f, 0x1.6a09e6p+0f, 0x1.6dfb24p+0f, 0x1.71f75ep+0f, 0x1.75feb6p+0f,
        0x1.7a1148p+0f, 0x1.7e2f34p+0f, 0x1.82589ap+0f, 0x1.868d9ap+0f, 0x1.8ace54p+0f, 0x1.8f1aeap+0f,
        0x1.93737cp+0f, 0x1.97d82ap+0f, 0x1.9c4918p+0f, 0x1.a0c668p+0f, 0x1.a5503cp+0f, 0x1.a9e6b6p+0f,
        0x1.ae89fap+0f, 0x1.b33a2cp+0f, 0x1.b7f77p+0f,  0x1.bcc1eap+0f, 0x1.c199bep+0f, 0x1.c67f12p+0f,
        0x1.cb720ep+0f, 0x1.d072d4p+0f, 0x1.d5818ep+0f, 0x1.da9e6p+0f,  0x1.dfc974p+0f, 0x1.e502eep+0f,
        0x1.ea4afap+0f, 0x1.efa1bep+0f, 0x1.f50766p+0f, 0x1.fa7c18p+0f};
    int32_t const o = floor_div(e, 64);
    return ldexpf(mant[e - 64 * o], (int)o);
}

float vae_step_of_level(int k) {
    k = k < VAE_STEP_MIN ? VAE_STEP_MIN : k > VAE_STEP_MAX ? VAE_STEP_MAX : k;
    return pow2_64ths(8 * k);
}

void vae_coder_steps(const vae_coder *c, int k, float *steps) {
    size_t const L = c->m->cfg.latent;
    k = k < VAE_STEP_MIN ? VAE_STEP_MIN : k > VAE_STEP_MAX ? VAE_STEP_MAX : k;
    if (!c->gain_q) {
        float const D = vae_step_of_level(k);
        for (size_t ch = 0; ch < L; ch++) steps[ch] = D;
        return;
    }
    /* the anchors around k and k's distance r (0..8) above the lower one, in integers */
    int32_t const o = k - VAE_GAIN_LEVEL0;
    int32_t i = o / 8, r = o % 8;
    if (i > VAE_GAIN_ANCHORS - 2) i = VAE_GAIN_ANCHORS - 2, r = o - 8 * i;
    const int32_t *q0 = c->gain_q + (size_t)i * L, *q1 = q0 + L;
    for (size_t ch = 0; ch < L; ch++)
        steps[ch] = pow2_64ths(8 * k + floor_div(q0[ch] * (8 - r) + q1[ch] * r + 4, 8));
}

climz_status vae_job_set_step(vae_job *j, int k) {
    CZ_RETURN_IF(k < VAE_STEP_MIN || k > VAE_STEP_MAX, CLIMZ_ERR_CORRUPT, "rate level %d is outside %d..%d", k,
                 VAE_STEP_MIN, VAE_STEP_MAX);
    size_t const L = j->c->m->cfg.latent;
    vae_coder_steps(j->c, k, j->steps);
    j->scaled = 0;
    for (size_t ch = 0; ch < L; ch++) j->scaled |= j->steps[ch] != 1.0f;
    return CLIMZ_OK;
}

void vae_memo_free(vae_memo *m) {
    if (!m) return;
    free(m->x), free(m->y), free(m->z), free(m->scales), free(m->means), free(m->zsym);
    memset(m, 0, sizeof *m);
}

void vae_job_set_memo(vae_job *j, vae_memo *m) { j->memo = m; }

/* j's memo when it is for j's sizes (allocated on first use; NULL without one, or out of memory:
 * the stages then run the transforms) */
static vae_memo *job_memo(vae_job *j) {
    vae_memo *m = j->memo;
    if (!m) return NULL;
    size_t const nx = j->H * j->W * j->c->m->cfg.in_channels;
    if (m->nx != nx || m->ny != j->ny || m->nz != j->nz) {
        vae_memo_free(m);
        m->x = malloc(nx * sizeof *m->x);
        m->y = malloc(j->ny * sizeof *m->y), m->scales = malloc(j->ny * sizeof *m->scales);
        m->means = malloc(j->ny * sizeof *m->means), m->z = malloc(j->nz * sizeof *m->z);
        m->zsym = malloc(j->nz * sizeof *m->zsym);
        if (!m->x || !m->y || !m->scales || !m->means || !m->z || !m->zsym) {
            vae_memo_free(m);
            return NULL;
        }
        m->nx = nx, m->ny = j->ny, m->nz = j->nz;
    }
    return m;
}

climz_status vae_job_analyse(vae_job *j, const float *x) {
    const vae_coder *c = j->c;
    size_t h, w, hz, wz;
    double const t0 = cz_now();
    vae_memo *const memo = job_memo(j);
    if (memo && memo->have_y && !memcmp(memo->x, x, memo->nx * sizeof *x)) { /* an earlier trial's */
        memcpy(j->y, memo->y, j->ny * sizeof *j->y);
        memcpy(j->z, memo->z, j->nz * sizeof *j->z);
        memcpy(j->zsym, memo->zsym, j->nz * sizeof *j->zsym);
        goto step;
    }
    CZ_FORWARD(vae_encode_latent(c->m, x, j->H, j->W, j->y, &h, &w));
    CZ_FORWARD(vae_hyper_encode(c->m, j->y, h, w, j->z, &hz, &wz));
    CZ_RETURN_IF(h != j->g.h || w != j->g.w || hz != j->g.hz || wz != j->g.wz, CLIMZ_ERR_DIMENSION,
                 "latent grid %zux%zu / %zux%zu differs from the geometry", h, w, hz, wz);
    /* z: s = round(z - median), z_hat = s + median (z is overwritten by z_hat) */
    size_t const zplane = hz * wz;
    for (size_t i = 0; i < j->nz; i++) {
        float const med = c->zmed[i / zplane];
        CZ_RETURN_IF(!vae_symbol(j->z[i] - med, &j->zsym[i]), CLIMZ_ERR_INVALID_ARG,
                     "hyper-latent z is not finite (input not normalised?)");
        j->z[i] = (float)j->zsym[i] + med;
    }
    if (memo) {
        memcpy(memo->x, x, memo->nx * sizeof *x);
        memo->have_hyper = 0; /* h_s of this z: the next stage 2 */
        memcpy(memo->y, j->y, j->ny * sizeof *j->y);
        memcpy(memo->z, j->z, j->nz * sizeof *j->z);
        memcpy(memo->zsym, j->zsym, j->nz * sizeof *j->zsym);
        memo->have_y = 1;
    }
step:
    if (j->scaled) { /* the rate level: y / D_c from here on (z came from y itself) */
        size_t const plane = j->g.h * j->g.w;
        for (size_t i = 0; i < j->ny; i++) j->y[i] /= j->steps[i / plane];
    }
    j->info.t_analysis += cz_now() - t0;
    return CLIMZ_OK;
}

double vae_job_z_bits(const vae_job *j) {
    double const total = ldexp(1.0, VAE_CDF_PREC);
    size_t const zplane = j->g.hz * j->g.wz;
    double bits = 0;
    for (size_t i = 0; i < j->nz; i++)
        bits -= log2((double)ent_factorized_freq(j->c->zt, (uint32_t)(i / zplane), j->zsym[i]) / total);
    return bits;
}

climz_status vae_job_read_z(vae_job *j, ent_dec *d) {
    const vae_coder *c = j->c;
    size_t const zplane = j->g.hz * j->g.wz;
    double const t0 = cz_now();
    climz_status const st = ent_factorized_decode_more(c->zt, d, j->nz, zplane, j->zsym);
    if (st) return cz_error_prefix(st, "z stream");
    for (size_t i = 0; i < j->nz; i++) j->z[i] = (float)j->zsym[i] + c->zmed[i / zplane];
    j->info.t_entropy += cz_now() - t0;
    return CLIMZ_OK;
}

climz_status vae_job_hyper(vae_job *j, uint32_t *idx_crc) {
    double const t0 = cz_now();
    vae_memo *const memo = job_memo(j);
    if (memo && memo->have_hyper) {
        memcpy(j->scales, memo->scales, j->ny * sizeof *j->scales);
        memcpy(j->means, memo->means, j->ny * sizeof *j->means);
    } else {
        CZ_FORWARD(vae_hyper_decode(j->c->m, j->z, j->g.hz, j->g.wz, j->scales, j->means, j->g.h, j->g.w));
        if (memo) {
            memcpy(memo->scales, j->scales, j->ny * sizeof *j->scales);
            memcpy(memo->means, j->means, j->ny * sizeof *j->means);
            memo->have_hyper = 1;
        }
    }
    if (j->scaled) { /* the rate level: the entropy model of y / D_c */
        size_t const plane = j->g.h * j->g.w;
        for (size_t i = 0; i < j->ny; i++) {
            float const D = j->steps[i / plane];
            j->scales[i] /= D;
            j->means[i] /= D;
        }
    }
    for (size_t i = 0; i < j->ny; i++) j->idx[i] = ent_gauss_tables_index(j->c->gauss, j->scales[i]);
    *idx_crc = cz_crc32c(0, j->idx, j->ny);
    j->info.t_hyper += cz_now() - t0;
    return CLIMZ_OK;
}

climz_status vae_jobs_synthesis(vae_job *const *jobs, size_t n, float *const *x_hat) {
    if (!n) return CLIMZ_OK;
    const vae_job *j = jobs[0];
    for (size_t k = 1; k < n; k++)
        CZ_RETURN_IF(jobs[k]->H != j->H || jobs[k]->W != j->W, CLIMZ_ERR_INVALID_ARG,
                     "vae: one synthesis batch of %zu x %zu and %zu x %zu images", j->H, j->W, jobs[k]->H, jobs[k]->W);
    const float **y = malloc(n * sizeof *y);
    CZ_RETURN_IF(!y, CLIMZ_ERR_ALLOC, "out of memory");
    size_t nscaled = 0; /* the jobs with a rate level get D_c * y_hat, in a copy (y stays y / D_c) */
    for (size_t k = 0; k < n; k++) nscaled += jobs[k]->scaled != 0;
    float *scaled = nscaled ? malloc(nscaled * j->ny * sizeof *scaled) : NULL;
    if (nscaled && !scaled) {
        free(y);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    for (size_t k = 0, o = 0; k < n; k++) {
        y[k] = jobs[k]->y;
        if (!jobs[k]->scaled) continue;
        float *const d = scaled + o;
        size_t const plane = j->g.h * j->g.w;
        for (size_t i = 0; i < j->ny; i++) d[i] = jobs[k]->steps[i / plane] * jobs[k]->y[i];
        y[k] = d;
        o += j->ny;
    }
    double const t0 = cz_now();
    climz_status const st = vae_decode_latent(j->c->m, n, y, j->g.h, j->g.w, x_hat, j->H, j->W);
    double const dt = (cz_now() - t0) / (double)n;
    for (size_t k = 0; k < n; k++) jobs[k]->info.t_synthesis += dt;
    free(scaled);
    free(y);
    return st;
}

/* the means and table indexes y is coded with: the predicted ones once vae_job_predict ran */
static void coding_model(const vae_job *j, const float **means, const uint8_t **idx) {
    *means = j->predicted ? j->pmeans : j->means;
    *idx = j->predicted ? j->pidx : j->idx;
}

/* y symbol i against (mean, idx): s = round(y - mean), y_hat = s + mean (y is overwritten);
 * *esc += whether it escapes its table. @return 0 when y is not finite. */
static int quantise_one(vae_job *j, size_t i, float mean, uint8_t idx, size_t *esc) {
    if (!vae_symbol(j->y[i] - mean, &j->sym[i])) return 0;
    int32_t const tail = ent_gauss_tail(j->c->gauss, idx);
    *esc += j->sym[i] > tail || j->sym[i] < -tail;
    j->cidx[i] = idx;
    j->y[i] = (float)j->sym[i] + mean;
    return 1;
}

/* 1 when y point i of j is coded in pass 0 (the anchors; every point without a context) or
 * pass 1 (the other points, against the anchors beside them): the stream's order */
static int in_pass(const vae_job *j, size_t i, int pass) {
    size_t const w = j->g.w, p = i % (j->g.h * w);
    int const first = !j->sp || vae_anchor(p / w, p % w);
    return pass ? !first : first;
}

/* the model (*m, *x) y point i of j is coded with in its pass, from the coding model (means, idx) */
static void point_model(const vae_job *j, size_t i, int pass, const float *means, const uint8_t *idx, float *m,
                        uint8_t *x) {
    if (pass) vae_spatial_point(j, i, means[i], idx[i], m, x);
    else *m = means[i], *x = idx[i];
}

climz_status vae_job_quantise_y(vae_job *j) {
    size_t esc = 0;
    const float *means;
    const uint8_t *idx;
    coding_model(j, &means, &idx);
    if (!j->y_cont) j->y_cont = malloc(j->ny * sizeof *j->y_cont);
    CZ_RETURN_IF(!j->y_cont, CLIMZ_ERR_ALLOC, "out of memory");
    memcpy(j->y_cont, j->y, j->ny * sizeof *j->y);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < j->ny; i++) {
            if (!in_pass(j, i, pass)) continue;
            float m;
            uint8_t x;
            point_model(j, i, pass, means, idx, &m, &x);
            CZ_RETURN_IF(!quantise_one(j, i, m, x, &esc), CLIMZ_ERR_INVALID_ARG,
                         "latent y is not finite (input not normalised?)");
        }
    j->info.y_escapes = esc;
    return CLIMZ_OK;
}

void vae_job_restore_y(vae_job *j) {
    if (j->y_cont) memcpy(j->y, j->y_cont, j->ny * sizeof *j->y);
}

#define VAE_REFINE_LR 0.003 /* Adam step on y, in quantiser steps (0.001-0.05 tried on ERA5: best) */

climz_status vae_job_refine(vae_job *j, const float *x, const uint8_t *miss, int iters, double lambda, double *gain) {
    const float *means;
    const uint8_t *idx;
    coding_model(j, &means, &idx);
    for (size_t i = 0; i < j->ny; i++) /* the table scales y will be coded with (h_s's are used) */
        j->scales[i] = ent_gauss_tables_scale(j->c->gauss, idx[i]);
    double l0 = 0, l1 = 0;
    climz_status const st = vn_refine_latent(j->c->m, j->c->m->p.data, j->y, means, j->scales,
                                             j->scaled ? j->steps : NULL, j->g.h, j->g.w, x, miss,
                                             j->H, j->W, iters, VAE_REFINE_LR, lambda * VAE_DIST_SCALE, &l0, &l1);
    if (!st && gain) *gain = l0 > 0 ? (l0 - l1) / l0 : 0;
    return st;
}

climz_status vae_job_read_y(vae_job *j, ent_dec *d) {
    double const t0 = cz_now();
    const float *means;
    const uint8_t *idx;
    coding_model(j, &means, &idx);
    int32_t *sym = malloc(j->ny * sizeof *sym);
    uint8_t *sidx = malloc(j->ny);
    climz_status st = sym && sidx ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    /* pass by pass: y holds the mean each symbol is coded against until it becomes y_hat */
    for (int pass = 0; pass < 2 && !st; pass++) {
        size_t k = 0;
        for (size_t i = 0; i < j->ny; i++)
            if (in_pass(j, i, pass)) {
                point_model(j, i, pass, means, idx, &j->y[i], &j->cidx[i]);
                sidx[k++] = j->cidx[i];
            }
        if (k && (st = ent_gauss_decode_more(j->c->gauss, d, sidx, k, sym))) cz_error_prefix(st, "y stream");
        for (size_t i = 0, e = 0; i < j->ny && !st; i++)
            if (in_pass(j, i, pass)) {
                j->sym[i] = sym[e++];
                j->y[i] += (float)j->sym[i];
            }
    }
    free(sym);
    free(sidx);
    j->info.t_entropy += cz_now() - t0;
    return st;
}

/* The z (y = 0: zsym, each with its channel) or y (y = 1: sym, each with its coding table
 * index) symbols of jobs[0..n) concatenated, and coded as one stream. */
static climz_status jobs_encode(vae_job *const *jobs, size_t n, int y, cz_buf *out) {
    if (!n) return CLIMZ_OK;
    size_t total = 0;
    for (size_t k = 0; k < n; k++) total += y ? jobs[k]->ny : jobs[k]->nz;
    int32_t *sym = malloc(total * sizeof *sym);
    uint16_t *map = malloc(total * sizeof *map); /* u16 channels (z) or, as bytes, u8 indexes (y) */
    climz_status st = sym && map ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    for (size_t k = 0, o = 0; k < n && !st; k++) {
        const vae_job *j = jobs[k];
        if (y) {
            for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < j->ny; i++)
                    if (in_pass(j, i, pass)) {
                        sym[o] = j->sym[i];
                        ((uint8_t *)map)[o++] = j->cidx[i];
                    }
        } else {
            memcpy(sym + o, j->zsym, j->nz * sizeof *sym);
            for (size_t i = 0; i < j->nz; i++) map[o + i] = (uint16_t)(i / (j->g.hz * j->g.wz));
            o += j->nz;
        }
    }
    if (!st)
        st = y ? ent_gauss_encode(jobs[0]->c->gauss, sym, (const uint8_t *)map, total, out)
               : ent_factorized_encode_ch(jobs[0]->c->zt, sym, map, total, out);
    free(sym);
    free(map);
    return st;
}

climz_status vae_jobs_encode_z(vae_job *const *jobs, size_t n, cz_buf *out) { return jobs_encode(jobs, n, 0, out); }
climz_status vae_jobs_encode_y(vae_job *const *jobs, size_t n, cz_buf *out) { return jobs_encode(jobs, n, 1, out); }

/* ---- one sample, whole ---------------------------------------------------------------------- */

climz_status vae_sample_encode(const vae_coder *c, const float *x, size_t H, size_t W, cz_buf *zs,
                               cz_buf *ys, uint32_t *idx_crc, float *x_hat, vae_sample_info *info) {
    vae_job *j = NULL;
    CZ_FORWARD(vae_job_create(&j, c, H, W));
    size_t const zs0 = zs->size, ys0 = ys->size;
    int const was = nn_deterministic();
    climz_status st = vae_job_analyse(j, x);
    if (!st) st = vae_job_hyper(j, idx_crc);
    if (!st) st = vae_job_quantise_y(j);
    if (!st) st = vae_jobs_encode_z(&j, 1, zs);
    if (!st) st = vae_jobs_encode_y(&j, 1, ys);
    if (!st && c->det_decode) nn_set_deterministic(1);
    if (!st) st = vae_jobs_synthesis(&j, 1, &x_hat);
    nn_set_deterministic(was);
    if (st) {
        zs->size = zs0;
        ys->size = ys0;
    } else if (info) {
        *info = j->info;
        info->z_bytes = zs->size - zs0;
        info->y_bytes = ys->size - ys0;
    }
    vae_job_free(j);
    return st;
}

/* the job's symbols from a whole stream in[0..n) (z or y) */
static climz_status read_whole(vae_job *j, const uint8_t *in, size_t n, int y) {
    ent_dec d;
    climz_status st = ent_dec_begin(&d, in, n);
    if (!st) {
        st = y ? vae_job_read_y(j, &d) : vae_job_read_z(j, &d); /* prefixes its own errors */
        if (st) return st;
        st = ent_dec_end(&d);
    }
    return st ? cz_error_prefix(st, y ? "y stream" : "z stream") : CLIMZ_OK;
}

climz_status vae_sample_decode(const vae_coder *c, const uint8_t *zs, size_t zn, const uint8_t *ys,
                               size_t yn, uint32_t idx_crc, size_t H, size_t W, float *x_hat,
                               vae_sample_info *info) {
    vae_job *j = NULL;
    CZ_FORWARD(vae_job_create(&j, c, H, W));
    uint32_t crc = 0;
    int const was = nn_deterministic();
    climz_status st = read_whole(j, zs, zn, 0);
    if (!st) st = vae_job_hyper(j, &crc);
    if (!st && crc != idx_crc)
        st = cz_error(CLIMZ_ERR_DETERMINISM,
                      "the scale-index map derived here (CRC-32C %08x) differs from the encoder's (%08x): the "
                      "hyper-decoder did not reproduce the encoder's entropy model (damaged z stream, or a "
                      "model/build that is not bit-reproducible)",
                      (unsigned)crc, (unsigned)idx_crc);
    if (!st) st = read_whole(j, ys, yn, 1);
    if (!st && c->det_decode) nn_set_deterministic(1);
    if (!st) st = vae_jobs_synthesis(&j, 1, &x_hat);
    nn_set_deterministic(was);
    if (!st && info) {
        *info = j->info;
        info->z_bytes = zn;
        info->y_bytes = yn;
    }
    vae_job_free(j);
    return st;
}
