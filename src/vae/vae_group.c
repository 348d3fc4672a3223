/* vae_group.c — the VAEformer's group engine (vae_group.h): samples in batches of whole
 * prediction groups, the stages that code and decode them, and the encoder's choices of
 * prediction, interpolation and spatial context. The latent chunk itself is written and
 * parsed by vae_latent_chunk.c. */
#include "vae/vae_group_internal.h"
#include "nn/nn.h"

#include <jansson.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The decoder rebuilds reconstructions and interpolations bit for bit on any build: no
 * fusing of a * b + c into an FMA (clang contracts by default even in ISO C; GCC does not
 * in the ISO C mode the build sets). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define VF_INTERP_SPAN 8     /* the encoder interpolates between coded steps at most this far apart */
/* The weight of the error against the bits when the encoder chooses what to interpolate, as a
 * fraction of the model's own lambda * 255^2: with the lambda itself it interpolates too little
 * for the ratio at equal RMSE (hourly ERA5 2 m temperature, lambdas 1.5e-4 and 2.5e-4, group
 * 32: bytes at equal RMSE with 1 / 0.5 / 0.25 / 0.1 x lambda: 1 / 0.96 / 0.91 / 0.93). */
#define VF_INTERP_WEIGHT 0.25
/* No step is left to interpolation whose squared error would exceed this many times its
 * error coded: the steps of a series keep errors of one size. Without it, monthly series
 * at low rates (HGT, tas, lambda <= 3e-4) interpolated a quarter to a half of their steps at
 * 1.5-2x the error, and lost ratio at equal RMSE. */
#define VF_INTERP_MAX_ERROR 2.0

/* Tiles by default for planes of more latent tokens than a 512 x 512 tile (patch 8) holds.
 * Global attention costs O(tokens^2) per sample, and the analysis runs it three times (the
 * shared trunk's global block and the mean and log-variance heads) where the synthesis runs
 * it once: on a whole 721 x 1440 plane (16380 tokens) the encoder took 2.8x the decoder's
 * time; in tiles of 512 (six of ~361 x 480) 1.9x, each 3-5x faster, the ratio 0.4 % higher
 * and the RMSE 2 % lower (bench/RESULTS.md, VAEformer). Before: 16384 tokens, tiles of 256. */
#define VF_AUTO_TOKENS 4096 /* latent tokens of a plane above which tiles are the default */
#define VF_AUTO_TILE 512    /* their size in points: global attention stays O(tile^2) */
#define VF_GROUP_MAX 32 /* default group length, capped by the steps of a batch (16 before
                           interpolation: with it a group codes about half its steps) */

/* ---- the loaded model ------------------------------------------------------------------------ */

void vae_loaded_close(vae_loaded *v) {
    vae_coder_release(&v->c);
    vae_model_free(&v->m);
}

climz_status vae_loaded_open(vae_loaded *v, const char *path, int det) {
    memset(v, 0, sizeof *v);
    snprintf(v->path, sizeof v->path, "%s", path);
    v->det = det;
    climz_status st = vae_model_load(&v->m, path, 0, NULL);
    if (!st) st = vae_coder_init(&v->c, &v->m, det);
    if (st) {
        if (!strstr(cz_error_message(), path)) cz_error_prefix(st, "model %s", path);
        vae_loaded_close(v);
    }
    return st;
}

/* The refinement weighs rate and error with the model's lambda. */
climz_status vae_loaded_lambda(const vae_loaded *v, double *lambda) {
    const char *ft = vae_model_meta(&v->m, "vae.finetune");
    json_t *j = ft ? json_loads(ft, 0, NULL) : NULL;
    json_t *jl = j ? json_object_get(j, "lambda") : NULL;
    *lambda = json_is_number(jl) ? json_number_value(jl) : 0;
    json_decref(j);
    CZ_RETURN_IF(!(*lambda > 0) || !isfinite(*lambda), CLIMZ_ERR_UNSUPPORTED,
                 "model %s records no phase-2 lambda (vae.finetune): refine and interp=1 need it", v->path);
    return CLIMZ_OK;
}

/* ---- layout ------------------------------------------------------------------------------------ */

static climz_status make_layout(const vae_config *cfg, size_t nz, size_t ny, size_t nx, size_t tile,
                                vf_layout *L) {
    L->C = cfg->in_channels;
    CZ_RETURN_IF(L->C != 1 && L->C != nz, CLIMZ_ERR_DIMENSION,
                 "the model codes %zu channels at once but the variable has %zu level(s) per time step "
                 "(a multi-channel model needs one channel per level)", L->C, nz);
    L->nplanes = L->C == 1 ? nz : 1;
    L->ty = tile ? (ny + tile - 1) / tile : 1;
    L->tx = tile ? (nx + tile - 1) / tile : 1;
    L->ny = ny;
    L->nx = nx;
    L->tiles = L->ty * L->tx;
    L->nsamples = L->nplanes * L->tiles;
    return CLIMZ_OK;
}

/* Rows [*y0, *y0 + *h) and columns [*x0, *x0 + *w) of tile (i, j): near-equal splits. */
static void tile_rect(const vf_layout *L, size_t i, size_t j, size_t *y0, size_t *h, size_t *x0, size_t *w) {
    *y0 = L->ny * i / L->ty;
    *h = L->ny * (i + 1) / L->ty - *y0;
    *x0 = L->nx * j / L->tx;
    *w = L->nx * (j + 1) / L->tx - *x0;
}

/* Sample s of a step -> its plane group p and tile (i, j). Channel c of the sample is plane
 * p * C + c of the step (p = the level for a single-channel model, 0 otherwise). */
static void sample_pos(const vf_layout *L, size_t s, size_t *p, size_t *i, size_t *j) {
    *p = s / L->tiles;
    size_t const r = s % L->tiles;
    *i = r / L->tx;
    *j = r % L->tx;
}


/* ---- samples in flight -------------------------------------------------------------------- */

/* Steps are coded in batches of whole prediction groups: every sample of a batch goes
 * through stage 1 (analysis, or reading z), stage 2 (h_s: one after the other, it switches
 * deterministic mode itself), stage 3 (the y symbols: step after step, since a predicted
 * step needs the y_hat of the step before) and stage 4 (the synthesis). Small samples run in
 * parallel over samples, one thread each (OpenMP's and OpenBLAS's threads only fight over
 * tiny matrices); large ones one after the other with every thread inside the kernels. */
#define VF_PAR_TOKENS 4096          /* latent tokens below which samples run in parallel */
#define VF_RUN_TOKENS 512           /* latent tokens of samples synthesised together, at most */
#define VF_BATCH_POINTS (4u << 20)  /* grid points per batch of steps */

static void item_release(vf_item *it) {
    free(it->mean);
    free(it->dstat);
    free(it->x);
    free(it->xm);
    free(it->xh);
    vae_job_free(it->job);
    memset(it, 0, sizeof *it);
}

enum { ST_ANALYSE, ST_READ_Z, ST_HYPER, ST_CODE_Y, ST_READ_Y };

static climz_status stage_one(vf_item *it, int stage) {
    if (it->noz && (stage == ST_READ_Z || stage == ST_HYPER)) return CLIMZ_OK;
    if ((stage == ST_CODE_Y || stage == ST_READ_Y) && it->prev) {
        if (it->noz) CZ_FORWARD(vae_job_inherit(it->job, it->prev->job));
        CZ_FORWARD(vae_job_predict(it->job, it->prev->job, it->pred->codes));
    }
    switch (stage) {
    case ST_ANALYSE: return vae_job_analyse(it->job, it->x);
    case ST_READ_Z: return vae_job_read_z(it->job, &it->grp->zd);
    case ST_CODE_Y:
        if (it->refine) CZ_FORWARD(vae_job_refine(it->job, it->x, it->xm, it->refine, it->lambda, NULL));
        return vae_job_quantise_y(it->job);
    case ST_READ_Y: return vae_job_read_y(it->job, &it->grp->yd);
    }
    return vae_job_hyper(it->job, &it->crc);
}

/* an item's failure st, with the message the failing call left */
static void item_fail(vf_item *x, climz_status st) {
    x->st = st;
    snprintf(x->msg, sizeof x->msg, "%s", cz_error_message());
}

/* the first failure among it[0..n), in item order */
static climz_status first_failure(const vf_item *it, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (it[i].st) return cz_error(it[i].st, "time step %zu, sample %zu: %s", it[i].t, it[i].s, it[i].msg);
    return CLIMZ_OK;
}

/* Runs a stage over the coded items; the first failure (in item order) is returned. Reading
 * a group's streams goes item after item (the samples of a group share them). */
static climz_status run_stage(vf_item *it, size_t n, int stage, int par) {
    int const omp = cz_num_threads();
    int const serial = stage == ST_HYPER || stage == ST_READ_Z || stage == ST_READ_Y;
    int const det = nn_deterministic(); /* the workers take the calling thread's mode (nn.h) */
    if (par && stage == ST_HYPER) cz_set_num_threads(1); /* small h_s: no thread team (this thread's setting) */
#pragma omp parallel for schedule(dynamic) if (par && !serial)
    for (long i = 0; i < (long)n; i++) {
        nn_set_deterministic(det);
        vf_item *x = &it[i];
        if (!x->kind || x->st) continue;
        climz_status const st = stage_one(x, stage);
        if (st) item_fail(x, st);
    }
    if (par) cz_set_num_threads(omp);
    return first_failure(it, n);
}

/* Stage 3 of a batch of nsteps steps of L->nsamples samples in groups of G steps: y step
 * after step (and plane after plane in a step whose planes are predicted from each other). */
static climz_status run_y(vf_item *it, size_t nsteps, const vf_layout *L, const vf_group *groups, size_t G,
                          int encode, int par) {
    size_t const ns = L->nsamples;
    for (size_t b = 0; b < nsteps; b++) {
        size_t const unit = b % G == 0 && groups[b / G].level.has_codes ? L->tiles : ns;
        for (size_t k = 0; k < ns; k += unit)
            CZ_FORWARD(run_stage(it + b * ns + k, unit, encode ? ST_CODE_Y : ST_READ_Y, par));
    }
    return CLIMZ_OK;
}

/* Stage 4 of a batch of nsteps steps of ns samples in groups of G steps, in deterministic
 * mode when det. The coded samples of a group that share an image size go through the
 * synthesis together (vae_jobs_synthesis), in runs of at most VF_RUN_TOKENS latent tokens (at
 * least one sample): on a small grid one run packs the weights once for many samples and its
 * products are tall enough for the sgemm's full rate. OpenBLAS does not give a row the same
 * rounding at every height of a product, so the runs depend on nothing but the group's coded
 * samples (not on the steps asked for, nor on the threads): a run synthesises whole when one
 * of its samples is asked for (synth), and the decoder reproduces the encoder's runs. With
 * par and at least as many runs as threads the runs go in parallel, one thread each. */
static climz_status run_synthesis(vf_item *it, size_t nsteps, size_t ns, size_t G, int det, int par) {
    size_t const n = nsteps * ns;
    if (!n) return CLIMZ_OK;
    vae_job **jobs = malloc(n * sizeof *jobs);
    float **xh = malloc(n * sizeof *xh);
    size_t *sel = malloc(2 * (n + 1) * sizeof *sel), *start = sel + n, m = 0, nb = 0;
    uint8_t *taken = calloc(n, 1);
    if (!jobs || !xh || !sel || !taken) {
        free(jobs);
        free(xh);
        free(sel);
        free(taken);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    for (size_t g0 = 0; g0 < n; g0 += G * ns) {
        size_t const g1 = g0 + G * ns < n ? g0 + G * ns : n;
        for (size_t k = g0; k < g1; k++) {
            if (!it[k].kind || !it[k].job || taken[k]) continue;
            const vae_sample_info *in = vae_job_info(it[k].job);
            size_t const tokens = in->h * in->w, cap = tokens < VF_RUN_TOKENS ? VF_RUN_TOKENS / tokens : 1;
            size_t run = 0;
            for (size_t e = k; e < g1; e++) { /* the group's samples of this size, in runs of cap */
                if (!it[e].kind || !it[e].job || taken[e] || it[e].h != it[k].h || it[e].w != it[k].w) continue;
                if (run++ % cap == 0) start[nb++] = m;
                taken[e] = 1;
                jobs[m] = it[e].job;
                xh[m] = it[e].xh;
                sel[m++] = e;
            }
        }
    }
    start[nb] = m;
    if (nb < (size_t)cz_num_threads()) par = 0; /* fewer runs than threads: the threads share each run's products */
    int const was = nn_deterministic(), mode = det || was;
#pragma omp parallel for schedule(dynamic) if (par)
    for (long b = 0; b < (long)nb; b++) {
        nn_set_deterministic(mode); /* every worker, this thread included (nn.h) */
        size_t const k0 = start[b], k1 = start[b + 1];
        int asked = 0;
        for (size_t k = k0; k < k1; k++) asked |= it[sel[k]].synth && !it[sel[k]].st;
        climz_status const st = asked ? vae_jobs_synthesis(jobs + k0, k1 - k0, xh + k0) : CLIMZ_OK;
        for (size_t k = k0; k < k1 && st; k++) item_fail(&it[sel[k]], st);
    }
    nn_set_deterministic(was);
    free(jobs);
    free(xh);
    free(sel);
    free(taken);
    return first_failure(it, n);
}

/* CRC-32C of the index-map CRCs of the items that code a z, among n (LE, in item order). */
uint32_t vf_group_crc(const vf_item *it, size_t n) {
    uint32_t crc = 0;
    for (size_t k = 0; k < n; k++)
        if (it[k].kind && !it[k].noz) {
            uint8_t b[4];
            cz_store_le32(b, it[k].crc);
            crc = cz_crc32c(crc, b, 4);
        }
    return crc;
}

/* The same sample as item k of a group (rows of ns samples from it) at the nearest row before
 * that is not interpolated; NULL in the group's first row (which never is). */
vf_item *vf_row_before(vf_item *it, size_t k, size_t ns) {
    if (k < ns) return NULL;
    vf_item *b = &it[k - ns];
    while (b->interp) b -= ns;
    return b;
}

/* Links the rows [b0, b0 + gn) of ns samples each (the steps of a group, or the planes of
 * its first step) for the prediction p: every coded sample after the first row to the same
 * sample in the nearest row before that is not interpolated, when that one was coded too; in
 * a chain without z, exactly those samples code no z. */
void vf_link_chain(vf_item *it, size_t b0, size_t gn, size_t ns, const vf_pred *p) {
    for (size_t b = b0 + 1; b < b0 + gn; b++)
        for (size_t s = 0; s < ns; s++) {
            vf_item *x = &it[b * ns + s];
            const vf_item *before = vf_row_before(it + b0 * ns, (b - b0) * ns + s, ns);
            x->prev = x->kind && before->kind ? before : NULL;
            x->pred = p;
            x->noz = p->noz && x->prev;
        }
}

/* Links the interpolated samples of a group (gn rows of ns samples) to the same sample at the
 * nearest steps before and after that are not interpolated; 0 when one of those is missing
 * or was not coded (a damaged chunk: the encoder never writes that). */
int vf_link_interp(vf_item *it, size_t gn, size_t ns) {
    for (size_t k = 0; k < gn * ns; k++) {
        vf_item *x = &it[k];
        if (!x->interp) continue;
        size_t b = k;
        while (b + ns < gn * ns && it[b].interp) b += ns;
        x->ia = vf_row_before(it, k, ns);
        x->ib = &it[b];
        if (!x->ia || x->ib->interp || !x->ia->kind || !x->ib->kind) return 0;
        x->wb = (float)(x->t - x->ia->t) / (float)(x->ib->t - x->ia->t);
    }
    return 1;
}

/* Sets up item (t, s): its tile, and buffers for C channels. */
climz_status vf_item_init(vf_item *it, const vf_layout *L, size_t t, size_t s) {
    memset(it, 0, sizeof *it);
    it->t = t;
    it->s = s;
    size_t i, j;
    sample_pos(L, s, &it->p, &i, &j);
    tile_rect(L, i, j, &it->y0, &it->h, &it->x0, &it->w);
    size_t const n = L->C * it->h * it->w;
    it->mean = malloc(2 * L->C * sizeof *it->mean);
    it->dstat = malloc(2 * L->C * sizeof *it->dstat);
    it->x = malloc(n * sizeof *it->x);
    it->xm = malloc(n);
    it->xh = malloc(n * sizeof *it->xh);
    CZ_RETURN_IF(!it->mean || !it->dstat || !it->x || !it->xm || !it->xh, CLIMZ_ERR_ALLOC, "out of memory");
    it->sd = it->mean + L->C;
    return CLIMZ_OK;
}

/* index of point (r, q) of channel c of item it in a step (nz*ny*nx) */
static size_t item_at(const vf_layout *L, const vf_item *it, size_t c, size_t r, size_t q) {
    return ((it->p * L->C + c) * L->ny + it->y0 + r) * L->nx + it->x0 + q;
}

/* point i of channel c of a coded item's reconstruction: x * sd + mean in float */
static float item_value(const vf_item *it, size_t c, size_t i) { return it->xh[i] * it->sd[c] + it->mean[c]; }

/* point i of channel c interpolated between coded items ia and ib: a + wb * (b - a), one
 * rounding each */
static float interp_value(const vf_item *ia, const vf_item *ib, float wb, size_t c, size_t i) {
    float const a = item_value(ia, c, i), d = item_value(ib, c, i) - a;
    float const e = wb * d;
    return a + e;
}

/* rec (step) <- the item's reconstruction (0 where nothing was coded) */
static void item_scatter(const vf_layout *L, const vf_item *it, float *rec) {
    for (size_t c = 0; c < L->C; c++)
        for (size_t r = 0; r < it->h; r++)
            for (size_t q = 0; q < it->w; q++) {
                size_t const i = (c * it->h + r) * it->w + q;
                rec[item_at(L, it, c, r, q)] =
                    it->interp ? interp_value(it->ia, it->ib, it->wb, c, i) : it->kind ? item_value(it, c, i) : 0.0f;
            }
}

static int small_samples(const vae_loaded *v, const vf_layout *L, size_t nitems) {
    vae_geom g;
    size_t const h = (L->ny + L->ty - 1) / L->ty, w = (L->nx + L->tx - 1) / L->tx;
    if (vae_geometry(&v->m.cfg, h, w, &g)) return 0;
    return nitems > 1 && cz_num_threads() > 1 && g.h * g.w < VF_PAR_TOKENS;
}

/* Steps per batch for a memory of about VF_BATCH_POINTS points (1..64). */
static size_t batch_steps(const vf_layout *L, size_t nz) {
    size_t const pts = nz * L->ny * L->nx;
    size_t const b = pts ? VF_BATCH_POINTS / pts : 1;
    return b < 1 ? 1 : b > 64 ? 64 : b;
}

/* The default prediction group: VF_GROUP_MAX steps, fewer when a batch holds fewer (a group
 * is coded in one batch: its steps' latents are all in memory at once). */
static size_t group_length(const vf_layout *L, size_t nz) {
    size_t const b = batch_steps(L, nz);
    return b < VF_GROUP_MAX ? b : VF_GROUP_MAX;
}

size_t vae_group_auto_length(size_t nz, size_t ny, size_t nx) {
    vf_layout L = {0};
    L.ny = ny;
    L.nx = nx;
    return group_length(&L, nz);
}

/* Batches hold whole groups of g steps. */
static size_t batch_of_groups(const vf_layout *L, size_t nz, size_t g) {
    size_t const b = batch_steps(L, nz);
    return b < g ? g : b - b % g;
}

/* ---- encoding ------------------------------------------------------------------------------- */

/* *h = the change of a statistic from its value before; 0 when it does not fit binary16 or
 * the stored value would not be finite (and, with positive, above 0) */
static int stat_change(double value, float before, int positive, uint16_t *h) {
    *h = cz_f16_from_f32((float)(value - (double)before));
    float const stored = vf_stat_after(before, *h);
    return (*h & 0x7c00u) != 0x7c00u && isfinite(stored) && (!positive || stored > 0);
}

/* statistics and normalised input of item it of step x (nz*ny*nx); prev: the same sample one
 * step before in its group (NULL in a group's first step), whose statistics it stores its own
 * against when every channel's change fits binary16 */
static void item_normalise(const vae_loaded *v, const vf_layout *L, vf_item *it, const float *x, const uint8_t *miss,
                           const vf_item *prev) {
    size_t nvalid_all = 0;
    it->delta = v->m.cfg.field_norm && prev;
    for (size_t c = 0; c < L->C; c++) {
        double sum = 0, sum2 = 0;
        size_t nv = 0;
        for (size_t r = 0; r < it->h; r++)
            for (size_t q = 0; q < it->w; q++) {
                size_t const k = item_at(L, it, c, r, q);
                if (!miss[k]) sum += x[k], nv++;
            }
        double const mu = nv ? sum / (double)nv : 0;
        for (size_t r = 0; r < it->h; r++)
            for (size_t q = 0; q < it->w; q++) {
                size_t const k = item_at(L, it, c, r, q);
                if (!miss[k]) sum2 += (x[k] - mu) * (x[k] - mu);
            }
        if (v->m.cfg.field_norm) {
            it->mean[c] = (float)mu;
            it->sd[c] = nv ? (float)sqrt(sum2 / (double)nv) : 1.0f;
            if (!(it->sd[c] > 0) || !isfinite(it->sd[c])) it->sd[c] = 1;
            if (it->delta)
                it->delta = stat_change(mu, prev->mean[c], 0, &it->dstat[2 * c]) &&
                            stat_change(it->sd[c], prev->sd[c], 1, &it->dstat[2 * c + 1]);
        } else {
            it->mean[c] = v->m.norm_mean[c];
            it->sd[c] = v->m.norm_std[c];
        }
        nvalid_all += nv;
    }
    if (it->delta) /* the stored statistics, the ones the decoder will use */
        for (size_t c = 0; c < L->C; c++) {
            it->mean[c] = vf_stat_after(prev->mean[c], it->dstat[2 * c]);
            it->sd[c] = vf_stat_after(prev->sd[c], it->dstat[2 * c + 1]);
        }
    it->kind = nvalid_all ? 1 : 0;
    for (size_t c = 0; c < L->C; c++)
        for (size_t r = 0; r < it->h; r++)
            for (size_t q = 0; q < it->w; q++) {
                size_t const k = item_at(L, it, c, r, q);
                it->xm[(c * it->h + r) * it->w + q] = miss[k] != 0;
                it->x[(c * it->h + r) * it->w + q] =
                    miss[k] ? 0.0f : (float)(((double)x[k] - (double)it->mean[c]) / (double)it->sd[c]);
            }
}

/* The samples of a batch of nb steps, its groups of G steps with nlat codes each (one
 * allocation), and (rec != NULL) the reconstruction of nt steps. */
static climz_status batch_alloc(const vf_layout *L, size_t nb, size_t G, size_t nlat, size_t nt, size_t plane,
                                vf_item **items, vf_group **groups, float **rec) {
    size_t const ng = (nb + G - 1) / G;
    *items = calloc(nb * L->nsamples, sizeof **items);
    *groups = calloc(1, ng * (sizeof **groups + 3 * nlat));
    if (rec) *rec = malloc(nt * plane * sizeof **rec);
    CZ_RETURN_IF(!*items || !*groups || (rec && !*rec), CLIMZ_ERR_ALLOC, "out of memory");
    uint8_t *const codes = (uint8_t *)(*groups + ng);
    for (size_t i = 0; i < ng; i++) {
        (*groups)[i].time.codes = codes + 3 * i * nlat;
        (*groups)[i].level.codes = codes + (3 * i + 1) * nlat;
        (*groups)[i].sp.w = codes + (3 * i + 2) * nlat;
    }
    return CLIMZ_OK;
}

/* Estimated bits of the chain over rows [b0, b0 + gn) of ns samples each (see link_chain)
 * in its two modes: predicted samples with a z of their own (codes own; y bits, and z for
 * their z streams, CRCs and length bytes) or inheriting the entropy model (codes inh). */
typedef struct vf_estimate {
    double own, z, inherit;
} vf_estimate;

static double estimate_best(const vf_estimate *e) { return e->inherit < e->own + e->z ? e->inherit : e->own + e->z; }

static climz_status estimate_chain(const vae_loaded *v, const vf_item *items, size_t b0, size_t gn, size_t ns,
                                   vae_job *const *models, uint8_t *own, uint8_t *inh, vf_estimate *e) {
    vae_job **jobs = calloc(gn * ns, sizeof *jobs);
    CZ_RETURN_IF(!jobs, CLIMZ_ERR_ALLOC, "out of memory");
    e->z = 0;
    for (size_t s = 0; s < ns; s++) /* each sample's rows without the interpolated ones */
        for (size_t b = 0, r = 0; b < gn; b++) {
            const vf_item *x = &items[(b0 + b) * ns + s];
            if (x->interp) continue;
            jobs[r * ns + s] = x->kind ? x->job : NULL;
            if (r && x->kind && jobs[(r - 1) * ns + s]) e->z += vae_job_z_bits(x->job);
            r++;
        }
    climz_status st = vae_predict_choose(&v->c, jobs, models, gn, ns, 0, own, &e->own);
    if (!st) st = vae_predict_choose(&v->c, jobs, models, gn, ns, 1, inh, &e->inherit);
    free(jobs);
    return st;
}

/* The encoder's prediction of group g, steps [b0, b0 + gn) of a batch: the codes and modes
 * of its time chain and (with levels, when a step has more than one plane) of the level
 * chain of its first step, by estimated bits, and the links. A level chain without z hands
 * the entropy model of the lowest plane up to all planes of the first step, and a time
 * chain without z hands it on to the later steps; so that mode is weighed together with
 * the time chain it leaves. A level chain that gains nothing (no code predicts, every z
 * coded) is left out. */
static climz_status choose_group(const vae_loaded *v, const vf_layout *L, vf_item *items, size_t b0, size_t gn,
                                 int levels, vf_group *g) {
    size_t const ns = L->nsamples, nlat = v->m.cfg.latent;
    vf_item *const first = items + b0 * ns;
    int const lv = levels && L->nplanes > 1;
    g->level.has_codes = g->level.noz = g->time.has_codes = g->time.noz = 0;
    uint8_t *buf = malloc(6 * nlat);
    vae_job **models = malloc(ns * sizeof *models);
    climz_status st = buf && models ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    uint8_t *const lown = buf, *const linh = buf + nlat, *town = buf + 2 * nlat, *tinh = buf + 3 * nlat;
    vf_estimate el = {0}, et = {0}, et2;
    if (!st && lv) st = estimate_chain(v, first, 0, L->nplanes, L->tiles, NULL, lown, linh, &el);
    if (!st && gn > 1) st = estimate_chain(v, items, b0, gn, ns, NULL, town, tinh, &et);
    int lnoz = !st && lv && el.inherit < el.own + el.z;
    if (lnoz && gn > 1) { /* the time chain again, over the entropy models the level chain leaves */
        for (size_t s = 0; s < ns; s++)
            models[s] = s >= L->tiles && first[s].kind && first[s - L->tiles].kind ? models[s - L->tiles] : first[s].job;
        st = estimate_chain(v, items, b0, gn, ns, models, buf + 4 * nlat, buf + 5 * nlat, &et2);
        lnoz = !st && el.inherit + estimate_best(&et2) < el.own + el.z + estimate_best(&et);
        if (lnoz) {
            et = et2;
            town = buf + 4 * nlat;
            tinh = buf + 5 * nlat;
        }
    }
    if (!st && lv) {
        memcpy(g->level.codes, lnoz ? linh : lown, nlat);
        g->level.noz = lnoz;
        g->level.has_codes = lnoz;
        for (size_t c = 0; c < nlat; c++) g->level.has_codes |= g->level.codes[c] != VAE_PRED_INTRA;
        if (g->level.has_codes) vf_link_chain(first, 0, L->nplanes, L->tiles, &g->level);
    }
    if (!st && gn > 1) {
        g->time.noz = et.inherit < et.own + et.z;
        g->time.has_codes = 1;
        memcpy(g->time.codes, g->time.noz ? tinh : town, nlat);
        vf_link_chain(items, b0, gn, ns, &g->time);
    }
    free(buf);
    free(models);
    return st;
}

/* bytes of a group's spatial context codes: varint L, the k triple, L weight nibbles */
static size_t spatial_bytes(size_t nlat) {
    size_t n = 1;
    for (size_t x = nlat; x >= 128; x >>= 7) n++;
    return n + 2 + (nlat + 1) / 2;
}

/* The encoder's spatial context of group g (gn steps of items, after stage 3 without one):
 * when its estimated saving exceeds the bytes of its codes, stage 3 runs again with it (on
 * the latents as they were quantised: a refinement is not repeated). */
static climz_status choose_spatial(const vae_loaded *v, const vf_layout *L, vf_item *it, size_t gn, vf_group *g,
                                   size_t G, int par) {
    size_t const n = gn * L->nsamples;
    vae_job **jobs = malloc(n * sizeof *jobs);
    CZ_RETURN_IF(!jobs, CLIMZ_ERR_ALLOC, "out of memory");
    for (size_t k = 0; k < n; k++) jobs[k] = it[k].kind ? it[k].job : NULL;
    double saved = 0;
    climz_status st = vae_spatial_choose(&v->c, jobs, n, g->sp.w, g->sp.k, &saved);
    free(jobs);
    g->spatial = !st && saved > 8.0 * (double)spatial_bytes(v->m.cfg.latent);
    for (size_t k = 0; k < n && g->spatial && !st; k++)
        if (it[k].kind) {
            vae_job_restore_y(it[k].job);
            st = vae_job_set_spatial(it[k].job, &g->sp);
            it[k].refine = 0;
        }
    return st || !g->spatial ? st : run_y(it, gn, L, g, G, 1, par);
}

/* Codes the bt steps of field f from step t0 (a batch of whole groups of G steps): items set
 * up and normalised, stages 1 to 4 with each group's prediction chosen, the reconstruction of
 * those steps in rec (planes of the whole field). interp (bt * nsamples flags, NULL: none)
 * marks the samples that are interpolated instead of coded. */
static climz_status code_batch(const vae_loaded *v, const vf_layout *L, const cz_field *f, size_t t0, size_t bt,
                               size_t G, const vae_group_opts *o, int refine, double lambda, int det, int par,
                               const uint8_t *interp, vf_item *items, vf_group *groups, float *rec) {
    size_t const ns = L->nsamples, n = bt * ns, plane = f->nz * f->ny * f->nx;
    for (size_t k = 0; k < n; k++) {
        vf_item *it = &items[k];
        size_t const t = t0 + k / ns;
        CZ_FORWARD(vf_item_init(it, L, t, k % ns));
        it->interp = interp && interp[k];
        if (it->interp) continue;
        size_t const g0 = k / ns / G * G * ns; /* the group's first item */
        item_normalise(v, L, it, f->values + t * plane, f->miss + t * plane, vf_row_before(items + g0, k - g0, ns));
        it->synth = 1;
        it->refine = refine;
        it->lambda = lambda;
        if (it->kind) CZ_FORWARD(vae_job_create(&it->job, &v->c, it->h, it->w));
        if (it->kind) CZ_FORWARD(vae_job_set_step(it->job, (int)o->step));
        if (it->kind && o->memo && o->memo->n == f->nt * ns) vae_job_set_memo(it->job, &o->memo->slot[t * ns + it->s]);
    }
    CZ_FORWARD(run_stage(items, n, ST_ANALYSE, par));
    CZ_FORWARD(run_stage(items, n, ST_HYPER, par));
    for (size_t b0 = 0; b0 < bt; b0 += G) {
        size_t const gn = bt - b0 < G ? bt - b0 : G;
        CZ_FORWARD(choose_group(v, L, items, b0, gn, o->levels, &groups[b0 / G]));
        groups[b0 / G].step = (int)o->step;
        vf_link_interp(items + b0 * ns, gn, ns);
    }
    CZ_FORWARD(run_y(items, bt, L, groups, G, 1, par));
    for (size_t b0 = 0; b0 < bt && o->spatial; b0 += G)
        CZ_FORWARD(choose_spatial(v, L, items + b0 * ns, bt - b0 < G ? bt - b0 : G, &groups[b0 / G], G, par));
    CZ_FORWARD(run_synthesis(items, bt, ns, G, det, par));
    for (size_t k = 0; k < n; k++) item_scatter(L, &items[k], rec + (t0 + k / ns) * plane);
    return CLIMZ_OK;
}

/* ---- the encoder's choice of interpolated samples ------------------------------------------ */

/* One sample's steps in a group, after a first coding of every step: the costs of coding a
 * step or of interpolating it, in the units of the model's phase-2 loss (bits + lambda *
 * 255^2 * squared error of the normalised field). */
typedef struct vf_ichain {
    vf_item **row;    /* gn: the sample at each step of the group */
    const cz_field *f;
    const vf_layout *L;
    double mu;        /* lambda * 255^2 */
    double *dcode;    /* gn: squared error of the coded step (normalised units) */
    double *zbits;    /* gn: its z bits (0 without a z of its own) */
    double *pair;     /* gn x VF_INTERP_SPAN: pair[a * SPAN + d - 1] = y bits of step a + d
                         predicted from step a */
    uint8_t *coded;   /* gn: still coded (else interpolated) */
} vf_ichain;

/* squared error (normalised by u's statistics) of step u interpolated between steps a and b */
static double interp_error(const vf_ichain *ch, size_t a, size_t u, size_t b) {
    const vf_item *x = ch->row[u];
    float const wb = (float)(u - a) / (float)(b - a);
    size_t const plane = ch->f->nz * ch->f->ny * ch->f->nx;
    const float *xv = ch->f->values + x->t * plane;
    const uint8_t *xm = ch->f->miss + x->t * plane;
    double e = 0;
    for (size_t c = 0; c < ch->L->C; c++) {
        double ec = 0;
        for (size_t r = 0; r < x->h; r++)
            for (size_t q = 0; q < x->w; q++) {
                size_t const k = item_at(ch->L, x, c, r, q);
                if (xm[k]) continue;
                double const d = (double)interp_value(ch->row[a], ch->row[b], wb, c, (c * x->h + r) * x->w + q) - xv[k];
                ec += d * d;
            }
        e += ec / ((double)x->sd[c] * x->sd[c]);
    }
    return e;
}

/* squared error of a coded item's reconstruction (normalised units, valid points) */
static double coded_error(const vf_item *x, size_t C) {
    double e = 0;
    for (size_t i = 0; i < C * x->h * x->w; i++) {
        double const d = x->xm[i] ? 0 : (double)x->xh[i] - x->x[i];
        e += d * d;
    }
    return e;
}

/* Change of the cost when step t stops being coded (< 0: a gain), or +inf when it cannot:
 * the group's first and last steps, a neighbour without a valid point, neighbours more than
 * VF_INTERP_SPAN steps apart, a step between them whose interpolation errs more than
 * VF_INTERP_MAX_ERROR times its coding. */
static double interp_gain(const vf_ichain *ch, size_t gn, size_t t) {
    if (!t || t + 1 >= gn || !ch->coded[t]) return INFINITY;
    size_t a = t - 1, b = t + 1;
    while (a && !ch->coded[a] && ch->row[a]->kind) a--;
    while (b + 1 < gn && !ch->coded[b] && ch->row[b]->kind) b++;
    if (!ch->coded[a] || !ch->coded[b] || b - a > VF_INTERP_SPAN) return INFINITY;
    double now = ch->dcode[t], after = 0;
    for (size_t u = a + 1; u < b; u++) {
        double const e = interp_error(ch, a, u, b);
        if (e > VF_INTERP_MAX_ERROR * ch->dcode[u]) return INFINITY;
        after += e;
        if (u != t) now += interp_error(ch, u < t ? a : t, u, u < t ? t : b);
    }
    double const bits_now = ch->pair[a * VF_INTERP_SPAN + (t - a) - 1] + ch->pair[t * VF_INTERP_SPAN + (b - t) - 1] + ch->zbits[t];
    return ch->mu * (after - now) + ch->pair[a * VF_INTERP_SPAN + (b - a) - 1] - bits_now;
}

/* Marks in flags (gn rows of ns samples) the samples of a group (after code_batch with every
 * step coded) that cost less interpolated in time between the coded steps around them than
 * coded, greedily, the largest gain first; *n += how many. */
static climz_status choose_interp_group(const vae_loaded *v, const vf_layout *L, const cz_field *f, vf_item *items,
                                        size_t gn, const vf_group *g, double lambda, uint8_t *flags, size_t *n) {
    size_t const ns = L->nsamples, npair = gn * VF_INTERP_SPAN;
    vf_ichain ch = {.f = f, .L = L, .mu = VF_INTERP_WEIGHT * lambda * VAE_DIST_SCALE};
    ch.row = malloc(gn * sizeof *ch.row);
    ch.dcode = malloc((3 * gn + 2 * npair) * sizeof *ch.dcode);
    ch.coded = malloc(gn);
    const vae_job **to = malloc(2 * npair * sizeof *to), **from = to + npair;
    if (!ch.row || !ch.dcode || !ch.coded || !to) {
        free(ch.row);
        free(ch.dcode);
        free(ch.coded);
        free(to);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    ch.zbits = ch.dcode + gn;
    ch.pair = ch.zbits + gn;
    double *const pb = ch.pair + npair, *const gain = pb + npair;
    climz_status st = CLIMZ_OK;
    for (size_t s = 0; s < ns && !st && g->time.has_codes; s++) {
        size_t np = 0;
        for (size_t b = 0; b < gn; b++) {
            vf_item *x = ch.row[b] = &items[b * ns + s];
            ch.coded[b] = (uint8_t)x->kind;
            ch.zbits[b] = x->kind && !x->noz && b ? vae_job_z_bits(x->job) : 0;
            ch.dcode[b] = x->kind ? coded_error(x, L->C) : 0;
            for (size_t d = 1; d <= VF_INTERP_SPAN; d++) /* every pair (b, b + d) of coded steps */
                if (b + d < gn && x->kind && items[(b + d) * ns + s].kind) {
                    to[np] = items[(b + d) * ns + s].job;
                    from[np++] = x->job;
                }
        }
        st = vae_jobs_y_bits(&v->c, to, from, g->time.codes, np, pb);
        for (size_t b = 0, k = 0; b < gn; b++)
            for (size_t d = 1; d <= VF_INTERP_SPAN; d++)
                ch.pair[b * VF_INTERP_SPAN + d - 1] =
                    b + d < gn && ch.row[b]->kind && ch.row[b + d]->kind ? pb[k++] : INFINITY;
        for (size_t t = 0; t < gn; t++) gain[t] = interp_gain(&ch, gn, t);
        for (;;) {
            size_t best = 0;
            for (size_t t = 1; t < gn; t++)
                if (gain[t] < gain[best]) best = t;
            if (st || !(gain[best] < 0)) break;
            ch.coded[best] = 0;
            flags[best * ns + s] = 1;
            (*n)++;
            gain[best] = INFINITY;
            size_t a = best - 1, b = best + 1; /* the gains of the coded neighbours change */
            while (!ch.coded[a] && ch.row[a]->kind) a--;
            while (!ch.coded[b] && ch.row[b]->kind) b++;
            gain[a] = interp_gain(&ch, gn, a);
            gain[b] = interp_gain(&ch, gn, b);
        }
    }
    free(ch.row);
    free(ch.dcode);
    free(ch.coded);
    free(to);
    return st;
}

/* ---- the encoder ---------------------------------------------------------------------------- */

void vae_group_memo_free(vae_group_memo *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) vae_memo_free(&m->slot[i]);
    free(m->slot);
    m->slot = NULL, m->n = 0;
}

climz_status vae_group_encode(const vae_loaded *v, const cz_field *f, vae_group_opts *o, vae_chunk_put_fn put,
                              void *user, float *rec, vae_group_totals *tot) {
    int const det = v->det;
    vf_layout L;
    vf_item *items = NULL;
    vf_group *groups = NULL;
    size_t nb = 0, G = 1;
    uint8_t *interp = NULL;
    double lambda = 0;
    cz_buf chunk = {0};
    climz_status st = CLIMZ_OK;
    memset(tot, 0, sizeof *tot);
    if (o->tile == VAE_GROUP_TILE_AUTO) {
        vae_geom g;
        CZ_FORWARD(vae_geometry(&v->m.cfg, f->ny, f->nx, &g));
        o->tile = g.h * g.w > VF_AUTO_TOKENS ? VF_AUTO_TILE : 0;
    }
    CZ_FORWARD(make_layout(&v->m.cfg, f->nz, f->ny, f->nx, (size_t)o->tile, &L));
    if (o->memo && !o->memo->n) { /* the first call with this memo: a slot per sample */
        o->memo->slot = cz_calloc(f->nt * L.nsamples, sizeof *o->memo->slot);
        CZ_RETURN_IF(!o->memo->slot, CLIMZ_ERR_ALLOC, "out of memory");
        o->memo->n = f->nt * L.nsamples;
    }
    tot->channels = L.C;
    tot->samples_per_step = L.nsamples;
    if (o->refine || o->interp) {
        st = vae_loaded_lambda(v, &lambda);
        if (st && !o->refine && o->interp < 0) { /* interpolation by default only where the model allows it */
            st = CLIMZ_OK;
            cz_error_clear();
            o->interp = 0;
        }
        if (st) return st;
        /* at a rate level the trade of bits against error is that of the level's lambda,
         * lambda * D^-2 (the weight multi-rate training gives it, vae_train.c) */
        if (o->step) lambda /= (double)vae_step_of_level((int)o->step) * (double)vae_step_of_level((int)o->step);
    }
    G = o->group == VAE_GROUP_AUTO ? group_length(&L, f->nz) : (size_t)o->group;
    o->group = (long)G;
    nb = batch_of_groups(&L, f->nz, G);
    nb = nb < f->nt ? nb : f->nt;
    CZ_CHECK_GOTO(st, batch_alloc(&L, nb, G, v->m.cfg.latent, 0, 0, &items, &groups, NULL), done);
    int const par = small_samples(v, &L, nb * L.nsamples);
    int const choose = o->interp != 0 && G > 2;
    interp = choose ? malloc(nb * L.nsamples) : NULL;
    CZ_CHECK_GOTO(st, interp || !choose ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory"), done);
    for (size_t t0 = 0; t0 < f->nt; t0 += nb) { /* t0: a multiple of G */
        size_t const bt = f->nt - t0 < nb ? f->nt - t0 : nb, nitems = bt * L.nsamples;
        /* with interpolation: every step coded first (unrefined), then again with the samples
         * that cost less interpolated left out */
        CZ_CHECK_GOTO(st, code_batch(v, &L, f, t0, bt, G, o, choose ? 0 : (int)o->refine, lambda, det, par, NULL,
                                     items, groups, rec), done);
        if (choose) {
            size_t ni = 0;
            memset(interp, 0, nitems);
            for (size_t b0 = 0; b0 < bt; b0 += G) {
                size_t const gn = bt - b0 < G ? bt - b0 : G;
                CZ_CHECK_GOTO(st, choose_interp_group(v, &L, f, items + b0 * L.nsamples, gn, &groups[b0 / G], lambda,
                                                      interp + b0 * L.nsamples, &ni), done);
            }
            if (ni || o->refine) {
                for (size_t k = 0; k < nitems; k++) item_release(&items[k]);
                CZ_CHECK_GOTO(st, code_batch(v, &L, f, t0, bt, G, o, (int)o->refine, lambda, det, par, interp, items,
                                             groups, rec), done);
            }
        }
        for (size_t b0 = 0; b0 < bt; b0 += G) {
            size_t const gn = bt - b0 < G ? bt - b0 : G;
            CZ_CHECK_GOTO(st, vf_chunk_write(v, &L, items + b0 * L.nsamples, gn, &groups[b0 / G], &chunk, tot), done);
            CZ_CHECK_GOTO(st, put(user, t0 + b0, chunk.data, chunk.size), done);
        }
        for (size_t k = 0; k < nitems; k++) item_release(&items[k]);
    }
done:
    for (size_t k = 0; items && k < nb * L.nsamples; k++) item_release(&items[k]);
    cz_buf_free(&chunk);
    free(items);
    free(groups);
    free(interp);
    return st;
}

/* ---- decoding ------------------------------------------------------------------------------- */

/* The neural reconstruction of file steps [s0, s0 + n) into rec (n planes), in batches of
 * whole groups of G steps (nt_file steps in all): the groups that hold the range are
 * entropy-decoded whole, the synthesis runs for the steps of the range only. */
static climz_status decode_steps(vae_chunk_get_fn get, void *user, const vae_loaded *v, const vf_layout *L,
                                 size_t nz, size_t G, size_t nt_file, size_t s0, size_t n, int det, float *rec) {
    size_t const plane = nz * L->ny * L->nx, ns = L->nsamples, g0 = s0 - s0 % G, end = s0 + n;
    size_t const gend = (end + G - 1) / G * G < nt_file ? (end + G - 1) / G * G : nt_file;
    size_t nb = batch_of_groups(L, nz, G);
    nb = nb < gend - g0 ? nb : gend - g0;
    vf_item *items = NULL;
    vf_group *groups = NULL;
    climz_status st = batch_alloc(L, nb, G, v->m.cfg.latent, 0, 0, &items, &groups, NULL);
    int const par = st ? 0 : small_samples(v, L, nb * ns);
    for (size_t t0 = g0; t0 < gend && !st; t0 += nb) { /* t0: a multiple of G */
        size_t const bt = gend - t0 < nb ? gend - t0 : nb;
        for (size_t b0 = 0; b0 < bt && !st; b0 += G) {
            size_t const gn = bt - b0 < G ? bt - b0 : G;
            const uint8_t *p;
            size_t pn;
            st = get(user, t0 + b0, &p, &pn);
            if (!st) st = vf_chunk_parse(v, L, t0 + b0, gn, p, pn, items + b0 * ns, &groups[b0 / G]);
            if (st) cz_error_prefix(st, "time steps %zu to %zu", t0 + b0, t0 + b0 + gn - 1);
        }
        for (size_t k = 0; k < bt * ns; k++) items[k].synth = t0 + k / ns >= s0 && t0 + k / ns < end;
        for (size_t k = 0; k < bt * ns && !st; k++) /* an interpolated sample needs its neighbours' */
            if (items[k].synth && items[k].interp) items[k].ia->synth = items[k].ib->synth = 1;
        if (!st) st = run_stage(items, bt * ns, ST_READ_Z, par);
        if (!st) st = run_stage(items, bt * ns, ST_HYPER, par);
        for (size_t b0 = 0; b0 < bt && !st; b0 += G) {
            size_t const gn = bt - b0 < G ? bt - b0 : G;
            uint32_t const crc = vf_group_crc(items + b0 * ns, gn * ns), want = groups[b0 / G].crc;
            if (crc != want)
                st = cz_error(CLIMZ_ERR_DETERMINISM,
                              "time steps %zu to %zu: the scale-index maps derived here (CRC-32C %08x) differ from the "
                              "encoder's (%08x): the hyper-decoder did not reproduce the encoder's entropy model "
                              "(damaged z stream, or a model/build that is not bit-reproducible)",
                              t0 + b0, t0 + b0 + gn - 1, (unsigned)crc, (unsigned)want);
        }
        if (!st) st = run_y(items, bt, L, groups, G, 0, par);
        for (size_t b0 = 0; b0 < bt && !st; b0 += G) {
            const vf_group *g = &groups[b0 / G];
            for (int k = 0; k < 2 && !st; k++) /* every symbol read: the states are back, no byte is left */
                if ((st = (k ? g->ny : g->nz) ? ent_dec_end(k ? &g->yd : &g->zd) : CLIMZ_OK))
                    cz_error_prefix(st, "time steps from %zu: %s stream", t0 + b0, k ? "y" : "z");
        }
        if (!st) st = run_synthesis(items, bt, ns, G, det, par);
        for (size_t k = 0; k < bt * ns && !st; k++)
            if (t0 + k / ns >= s0 && t0 + k / ns < end) item_scatter(L, &items[k], rec + (t0 + k / ns - s0) * plane);
        for (size_t k = 0; k < nb * ns; k++) item_release(&items[k]);
    }
    free(items);
    free(groups);
    return st;
}

climz_status vae_group_decode(const vae_loaded *v, vae_chunk_get_fn get, void *user, size_t nz, size_t ny,
                              size_t nx, size_t tile, size_t G, size_t nt_file, size_t s0, size_t n, float *rec) {
    vf_layout L;
    CZ_FORWARD(make_layout(&v->m.cfg, nz, ny, nx, tile, &L));
    return decode_steps(get, user, v, &L, nz, G, nt_file, s0, n, v->det, rec);
}
