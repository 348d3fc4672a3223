/* vae_latent_chunk.c — the VAEformer's latent chunk (one per prediction group): the writer
 * and the parser. The byte layout is specified in doc/format.md, section 9 ("latent (4)");
 * the decoder refuses a chunk whose sizes or flags disagree with the header and the group, a
 * code out of range, a stream for no sample or one not consumed exactly (CLIMZ_ERR_CORRUPT). */
#include "vae/vae_group_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The latent chunk of group g: the gn steps of ns samples from it (doc/format.md, section 9). */
climz_status vf_chunk_write(const vae_loaded *v, const vf_layout *L, vf_item *it, size_t gn, const vf_group *g,
                            cz_buf *chunk, vae_group_totals *tot) {
    size_t const ns = L->nsamples, n = gn * ns;
    chunk->size = 0;
    uint8_t const head[2] = {
        g->step ? VF_VERSION_STEP : VF_VERSION,
        (uint8_t)((v->m.cfg.field_norm ? VF_FLAG_STATS : 0) | (g->time.has_codes ? VF_FLAG_CODES : 0) |
                  (g->time.noz ? VF_FLAG_NOZ : 0) | (g->level.has_codes ? VF_FLAG_LEVEL_CODES : 0) |
                  (g->level.noz ? VF_FLAG_LEVEL_NOZ : 0) | (g->spatial ? VF_FLAG_SPATIAL : 0) |
                  (g->step ? VF_FLAG_STEP : 0))};
    CZ_FORWARD(cz_buf_put(chunk, head, 2));
    CZ_FORWARD(cz_buf_put_varint(chunk, gn));
    CZ_FORWARD(cz_buf_put_varint(chunk, ns));
    CZ_FORWARD(cz_buf_put_varint(chunk, L->C));
    if (g->step) CZ_FORWARD(cz_buf_put_u8(chunk, (uint8_t)(int8_t)g->step));
    for (int k = 0; k < 2; k++) {
        const vf_pred *p = k ? &g->level : &g->time;
        if (!p->has_codes) continue;
        CZ_FORWARD(cz_buf_put_varint(chunk, v->m.cfg.latent));
        CZ_FORWARD(cz_buf_put(chunk, p->codes, v->m.cfg.latent));
    }
    if (g->spatial) {
        size_t const nlat = v->m.cfg.latent;
        uint8_t const kb[2] = {(uint8_t)(g->sp.k[0] | g->sp.k[1] << 4), g->sp.k[2]};
        CZ_FORWARD(cz_buf_put_varint(chunk, nlat));
        CZ_FORWARD(cz_buf_put(chunk, kb, 2));
        for (size_t c = 0; c < nlat; c += 2)
            CZ_FORWARD(cz_buf_put_u8(chunk, (uint8_t)(g->sp.w[c] | (c + 1 < nlat ? g->sp.w[c + 1] << 4 : 0))));
    }
    vae_job **zj = malloc(2 * n * sizeof *zj), **yj = zj + n;
    CZ_RETURN_IF(!zj, CLIMZ_ERR_ALLOC, "out of memory");
    size_t nzj = 0, nyj = 0;
    for (size_t k = 0; k < n; k++) {
        const vf_item *x = &it[k];
        if (x->interp) {
            tot->interp++;
            climz_status const st = cz_buf_put_u8(chunk, VF_KIND_INTERP);
            if (!st) continue;
            free(zj);
            return st;
        }
        climz_status st = cz_buf_put_u8(chunk, (uint8_t)(x->kind | (x->delta ? VF_KIND_DELTA : 0)));
        for (size_t c = 0; c < L->C && v->m.cfg.field_norm && !st; c++) {
            st = x->delta ? cz_buf_put_u16(chunk, x->dstat[2 * c]) : cz_buf_put_f32(chunk, x->mean[c]);
            if (!st) st = x->delta ? cz_buf_put_u16(chunk, x->dstat[2 * c + 1]) : cz_buf_put_f32(chunk, x->sd[c]);
        }
        if (st) {
            free(zj);
            return st;
        }
        if (!x->kind) {
            tot->empty++;
            continue;
        }
        if (!x->noz) zj[nzj++] = x->job;
        yj[nyj++] = x->job;
        const vae_sample_info *in = vae_job_info(x->job);
        tot->samples++;
        tot->z_samples += !x->noz;
        tot->y_escapes += in->y_escapes;
        tot->t_analysis += in->t_analysis;
        tot->t_hyper += in->t_hyper;
        tot->t_synthesis += in->t_synthesis;
    }
    cz_buf zs = {0}, ys = {0};
    double const t0 = cz_now();
    climz_status st = nzj ? cz_buf_put_u32(chunk, vf_group_crc(it, n)) : CLIMZ_OK;
    if (!st) st = vae_jobs_encode_z(zj, nzj, &zs);
    if (!st) st = vae_jobs_encode_y(yj, nyj, &ys);
    tot->t_entropy += cz_now() - t0;
    for (int k = 0; k < 2 && !st; k++) {
        const cz_buf *b = k ? &ys : &zs;
        st = cz_buf_put_varint(chunk, b->size);
        if (!st) st = cz_buf_put(chunk, b->data, b->size);
    }
    tot->z_bytes += zs.size;
    tot->y_bytes += ys.size;
    cz_buf_free(&zs);
    cz_buf_free(&ys);
    free(zj);
    return st;
}

/* Reads a chain's prediction codes (varint count, cfg.latent bytes, each < VAE_PRED_CODES). */
static climz_status read_codes(cz_rd *rz, size_t nlat, uint8_t *codes, const char *what) {
    uint64_t nc;
    CZ_FORWARD(cz_rd_varint(rz, &nc));
    CZ_RETURN_IF(nc != nlat, CLIMZ_ERR_CORRUPT, "latent stream has %llu %s prediction codes for %zu channels",
                 (unsigned long long)nc, what, nlat);
    CZ_FORWARD(cz_rd_bytes(rz, codes, nlat));
    for (size_t c = 0; c < nlat; c++)
        CZ_RETURN_IF(codes[c] >= VAE_PRED_CODES, CLIMZ_ERR_CORRUPT, "latent channel %zu: %s prediction code %u", c,
                     what, codes[c]);
    return CLIMZ_OK;
}

/* Reads a group's spatial context codes (varint count, the k triple in 2 bytes, cfg.latent
 * weight nibbles); the decoder refuses codes out of range. */
static climz_status read_spatial(cz_rd *rz, size_t nlat, vf_group *g) {
    uint64_t nc;
    uint8_t kb[2];
    CZ_FORWARD(cz_rd_varint(rz, &nc));
    CZ_RETURN_IF(nc != nlat, CLIMZ_ERR_CORRUPT, "latent stream has %llu spatial context codes for %zu channels",
                 (unsigned long long)nc, nlat);
    CZ_FORWARD(cz_rd_bytes(rz, kb, 2));
    CZ_RETURN_IF(kb[1] > VAE_SPATIAL_KMAX, CLIMZ_ERR_CORRUPT, "latent stream: spatial context scale code %u", kb[1]);
    g->sp.k[0] = kb[0] & 15u, g->sp.k[1] = kb[0] >> 4, g->sp.k[2] = kb[1];
    for (size_t c = 0; c < nlat; c += 2) {
        uint8_t b;
        CZ_FORWARD(cz_rd_u8(rz, &b));
        g->sp.w[c] = b & 15u;
        if (c + 1 < nlat) g->sp.w[c + 1] = b >> 4;
        CZ_RETURN_IF(g->sp.w[c] > VAE_SPATIAL_WMAX || (c + 1 < nlat ? g->sp.w[c + 1] > VAE_SPATIAL_WMAX : b >> 4),
                     CLIMZ_ERR_CORRUPT, "latent stream: spatial context weight codes %u, %u", b & 15u, b >> 4);
    }
    return CLIMZ_OK;
}

/* Parses the latent chunk p[0..n) of the group of gn steps from file step t into its items
 * (gn * nsamples) and g: codes, modes, CRC and the decoders of its streams (which point into
 * the chunk), with the items linked along the group's prediction chains. */
climz_status vf_chunk_parse(const vae_loaded *v, const vf_layout *L, size_t t, size_t gn, const uint8_t *p,
                            size_t n, vf_item *items, vf_group *g) {
    const vae_config *cfg = &v->m.cfg;
    size_t const ns = L->nsamples;
    cz_rd rz = cz_rd_make(p, n);
    uint8_t head[2];
    uint64_t steps, nsam, C, len[2];
    CZ_FORWARD(cz_rd_bytes(&rz, head, 2));
    CZ_RETURN_IF(head[0] > VF_VERSION_STEP, CLIMZ_ERR_VERSION,
                 "latent stream version %u is newer than this decoder's (%u)", head[0], VF_VERSION_STEP);
    CZ_RETURN_IF(head[0] < VF_VERSION_MIN, CLIMZ_ERR_VERSION,
                 "latent stream version %u (one chunk per time step, an older climz) is no longer read; this decoder "
                 "reads versions %u to %u", head[0], VF_VERSION_MIN, VF_VERSION_STEP);
    unsigned const allowed = VF_FLAG_STATS | VF_FLAG_CODES | VF_FLAG_NOZ | VF_FLAG_LEVEL_CODES | VF_FLAG_LEVEL_NOZ |
                             (head[0] >= VF_VERSION ? VF_FLAG_SPATIAL : 0) | /* spatial: since 6 */
                             (head[0] >= VF_VERSION_STEP ? VF_FLAG_STEP : 0);
    CZ_RETURN_IF(!!(head[1] & VF_FLAG_STATS) != !!cfg->field_norm || (head[1] & ~allowed) ||
                     (head[0] == VF_VERSION_STEP) != !!(head[1] & VF_FLAG_STEP),
                 CLIMZ_ERR_CORRUPT, "latent stream header is malformed");
    g->time.has_codes = !!(head[1] & VF_FLAG_CODES);
    g->time.noz = !!(head[1] & VF_FLAG_NOZ);
    g->level.has_codes = !!(head[1] & VF_FLAG_LEVEL_CODES);
    g->level.noz = !!(head[1] & VF_FLAG_LEVEL_NOZ);
    g->spatial = !!(head[1] & VF_FLAG_SPATIAL);
    CZ_RETURN_IF(g->time.has_codes != (gn > 1) || (g->time.noz && !g->time.has_codes), CLIMZ_ERR_CORRUPT,
                 "latent stream flags (%u) disagree with the group's %zu step(s)", head[1], gn);
    CZ_RETURN_IF((g->level.has_codes && L->nplanes < 2) || (g->level.noz && !g->level.has_codes), CLIMZ_ERR_CORRUPT,
                 "latent stream flags (%u): level prediction where a step has no levels to predict", head[1]);
    CZ_FORWARD(cz_rd_varint(&rz, &steps));
    CZ_FORWARD(cz_rd_varint(&rz, &nsam));
    CZ_FORWARD(cz_rd_varint(&rz, &C));
    CZ_RETURN_IF(steps != gn || nsam != ns || C != L->C, CLIMZ_ERR_CORRUPT,
                 "latent stream has %llu step(s) of %llu samples of %llu channels, the header says %zu of %zu of %zu",
                 (unsigned long long)steps, (unsigned long long)nsam, (unsigned long long)C, gn, ns, L->C);
    g->step = 0;
    if (head[1] & VF_FLAG_STEP) {
        uint8_t b;
        CZ_FORWARD(cz_rd_u8(&rz, &b));
        g->step = (int8_t)b;
        CZ_RETURN_IF(!g->step || g->step < VAE_STEP_MIN || g->step > VAE_STEP_MAX, CLIMZ_ERR_CORRUPT,
                     "latent stream has rate level %d (allowed: %d..%d, not 0)", g->step, VAE_STEP_MIN, VAE_STEP_MAX);
    }
    if (g->time.has_codes) CZ_FORWARD(read_codes(&rz, cfg->latent, g->time.codes, "time"));
    if (g->level.has_codes) CZ_FORWARD(read_codes(&rz, cfg->latent, g->level.codes, "level"));
    if (g->spatial) CZ_FORWARD(read_spatial(&rz, cfg->latent, g));
    for (size_t k = 0; k < gn * ns; k++) {
        vf_item *it = &items[k];
        CZ_FORWARD(vf_item_init(it, L, t + k / ns, k % ns));
        it->grp = g;
        uint8_t kind;
        CZ_FORWARD(cz_rd_u8(&rz, &kind));
        it->delta = !!(kind & VF_KIND_DELTA);
        it->interp = kind == VF_KIND_INTERP;
        CZ_RETURN_IF((kind & ~(1u | VF_KIND_DELTA | VF_KIND_INTERP)) || (it->delta && (k < ns || !cfg->field_norm)) ||
                         ((kind & VF_KIND_INTERP) && (!it->interp || k < ns || k >= (gn - 1) * ns)),
                     CLIMZ_ERR_CORRUPT, "step %zu, sample %zu has kind %u", t + k / ns, k % ns, kind);
        if (it->interp) continue;
        const vf_item *before = vf_row_before(items, k, ns); /* the step before that stores statistics */
        it->kind = kind & 1u;
        for (size_t c = 0; c < L->C; c++) {
            if (cfg->field_norm && it->delta) {
                uint16_t dm, ds;
                CZ_FORWARD(cz_rd_u16(&rz, &dm));
                CZ_FORWARD(cz_rd_u16(&rz, &ds));
                it->mean[c] = vf_stat_after(before->mean[c], dm);
                it->sd[c] = vf_stat_after(before->sd[c], ds);
            } else if (cfg->field_norm) {
                CZ_FORWARD(cz_rd_f32(&rz, &it->mean[c]));
                CZ_FORWARD(cz_rd_f32(&rz, &it->sd[c]));
            }
            if (cfg->field_norm)
                CZ_RETURN_IF(!isfinite(it->mean[c]) || !isfinite(it->sd[c]), CLIMZ_ERR_CORRUPT,
                             "step %zu, sample %zu: normalisation is not finite", t + k / ns, k % ns);
            else {
                it->mean[c] = v->m.norm_mean[c];
                it->sd[c] = v->m.norm_std[c];
            }
        }
        if (it->kind) CZ_FORWARD(vae_job_create(&it->job, &v->c, it->h, it->w));
        if (it->kind) CZ_FORWARD(vae_job_set_step(it->job, g->step));
        if (it->kind && g->spatial) CZ_FORWARD(vae_job_set_spatial(it->job, &g->sp));
    }
    CZ_RETURN_IF(!vf_link_interp(items, gn, ns), CLIMZ_ERR_CORRUPT,
                 "latent stream interpolates a sample between steps that coded none");
    if (g->level.has_codes) vf_link_chain(items, 0, L->nplanes, L->tiles, &g->level);
    if (gn > 1) vf_link_chain(items, 0, gn, ns, &g->time);
    g->nz = g->ny = 0;
    for (size_t k = 0; k < gn * ns; k++) {
        g->ny += items[k].kind;
        g->nz += items[k].kind && !items[k].noz;
    }
    if (g->nz) CZ_FORWARD(cz_rd_u32(&rz, &g->crc));
    const uint8_t *sp[2];
    for (int k = 0; k < 2; k++) {
        CZ_FORWARD(cz_rd_varint(&rz, &len[k]));
        CZ_RETURN_IF(len[k] > cz_rd_left(&rz), CLIMZ_ERR_TRUNCATED, "%s stream cut", k ? "y" : "z");
        CZ_FORWARD(cz_rd_skip(&rz, (size_t)len[k], &sp[k]));
    }
    CZ_RETURN_IF(cz_rd_left(&rz), CLIMZ_ERR_CORRUPT, "latent stream has trailing bytes");
    CZ_RETURN_IF((!g->nz && len[0]) || (!g->ny && len[1]), CLIMZ_ERR_CORRUPT, "latent stream has a stream for no sample");
    for (int k = 0; k < 2; k++) {
        climz_status const st = (k ? g->ny : g->nz) ? ent_dec_begin(k ? &g->yd : &g->zd, sp[k], (size_t)len[k]) : 0;
        if (st) return cz_error_prefix(st, "%s stream", k ? "y" : "z");
    }
    return CLIMZ_OK;
}
