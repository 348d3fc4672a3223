/*
 * vae_model.c — the VAEformer parameter table (PyTorch-style names, groups), seeded
 * initialisation, model files (safetensors), extra tensors and metadata (see vae.h).
 */
#include "vae/vae.h"
#include "vae/vae_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)

/* ---- building the parameter table ------------------------------------------------------- */

typedef struct builder {
    nn_params *p;
    const char *group;
    char prefix[96];
} builder;

static climz_status add(builder *b, size_t *ix, const char *name, size_t ndim, size_t d0,
                        size_t d1, size_t d2, size_t d3) {
    char full[192];
    size_t const shape[4] = {d0, d1, d2, d3};
    snprintf(full, sizeof full, "%s%s", b->prefix, name);
    return nn_params_add(b->p, full, ndim, shape, b->group, ix);
}

static climz_status add_block(builder *b, size_t ix[NN_BLOCK_NPARAMS], const char *prefix,
                              size_t C, size_t hid) {
    nn_block_cfg cfg = {C, 1, hid, 1e-6f, NN_ATTN_GLOBAL, {1, 1, 0}};
    char save[96];
    memcpy(save, b->prefix, sizeof save);
    snprintf(b->prefix, sizeof b->prefix, "%s%s", save, prefix);
    for (size_t i = 0; i < NN_BLOCK_NPARAMS; i++) {
        size_t nd, sh[2];
        nn_block_param_shape(&cfg, i, &nd, sh);
        climz_status const st = add(b, &ix[i], nn_block_param_names[i], nd, sh[0], sh[1], 1, 1);
        if (st != CLIMZ_OK) {
            memcpy(b->prefix, save, sizeof save);
            return st;
        }
    }
    memcpy(b->prefix, save, sizeof save);
    return CLIMZ_OK;
}

static climz_status build_table(vae_model *m, int rate_gain) {
    const vae_config *c = &m->cfg;
    vae_index *ix = &m->ix;
    size_t const C = c->in_channels, D = c->width, L = c->latent, Dh = c->hyper_width;
    size_t const Lz = c->hyper_latent, hid = vae_config_hidden(c), r = c->hyper_patch;
    size_t const hidh = vae_hidden_of(c, Dh);
    char name[64];
    builder b = {&m->p, "encoder", "encoder."};
    memset(ix, 0xff, sizeof *ix);

    CZ_FORWARD(add(&b, &ix->patch_w, "patch_embed.proj.weight", 4, D, C, c->patch_kh, c->patch_kw));
    CZ_FORWARD(add(&b, &ix->patch_b, "patch_embed.proj.bias", 1, D, 1, 1, 1));
    if (c->pos == VAE_POS_LEARNED)
        CZ_FORWARD(add(&b, &ix->pos_table, "pos_embed", 3, 1, c->pos_h * c->pos_w, D, 1));
    if (c->pos == VAE_POS_FOURIER)
        CZ_FORWARD(add(&b, &ix->pos_proj, "pos_embed_proj.weight", 2, D, 4 * c->pos_freqs, 1, 1));
    for (size_t i = 0; i < c->n_enc; i++) {
        snprintf(name, sizeof name, "blocks.%zu.", i);
        CZ_FORWARD(add_block(&b, ix->enc_blk[i], name, D, hid));
    }
    CZ_FORWARD(add_block(&b, ix->enc_mu, "block_mu.", D, hid));
    CZ_FORWARD(add_block(&b, ix->enc_lv, "block_logvar.", D, hid));
    CZ_FORWARD(add(&b, &ix->enc_out_w, "to_latent.weight", 2, 2 * L, 2 * D, 1, 1));
    CZ_FORWARD(add(&b, &ix->enc_out_b, "to_latent.bias", 1, 2 * L, 1, 1, 1));

    b.group = "decoder";
    snprintf(b.prefix, sizeof b.prefix, "decoder.");
    CZ_FORWARD(add(&b, &ix->dec_in_w, "from_latent.weight", 2, D, L, 1, 1));
    CZ_FORWARD(add(&b, &ix->dec_in_b, "from_latent.bias", 1, D, 1, 1, 1));
    for (size_t i = 0; i < c->n_dec; i++) {
        snprintf(name, sizeof name, "blocks.%zu.", i);
        CZ_FORWARD(add_block(&b, ix->dec_blk[i], name, D, hid));
    }
    CZ_FORWARD(add(&b, &ix->dec_norm_g, "norm.weight", 1, D, 1, 1, 1));
    CZ_FORWARD(add(&b, &ix->dec_norm_b, "norm.bias", 1, D, 1, 1, 1));
    /* ConvTranspose2d weight (C_in, C_out, KH, KW), no bias */
    CZ_FORWARD(add(&b, &ix->dec_out_w, "unembed.weight", 4, D, C, c->patch_kh, c->patch_kw));

    b.group = "hyper";
    snprintf(b.prefix, sizeof b.prefix, "hyper.h_a.");
    CZ_FORWARD(add(&b, &ix->ha_patch_w, "patch_embed.proj.weight", 4, Dh, L, r, r));
    CZ_FORWARD(add(&b, &ix->ha_patch_b, "patch_embed.proj.bias", 1, Dh, 1, 1, 1));
    for (size_t i = 0; i < c->hyper_blocks_a; i++) {
        snprintf(name, sizeof name, "blocks.%zu.", i);
        CZ_FORWARD(add_block(&b, ix->ha_blk[i], name, Dh, hidh));
    }
    CZ_FORWARD(add(&b, &ix->ha_fc1_w, "mlp.fc1.weight", 2, Dh, Dh, 1, 1));
    CZ_FORWARD(add(&b, &ix->ha_fc1_b, "mlp.fc1.bias", 1, Dh, 1, 1, 1));
    CZ_FORWARD(add(&b, &ix->ha_fc2_w, "mlp.fc2.weight", 2, Lz, Dh, 1, 1));
    CZ_FORWARD(add(&b, &ix->ha_fc2_b, "mlp.fc2.bias", 1, Lz, 1, 1, 1));
    snprintf(b.prefix, sizeof b.prefix, "hyper.h_s.");
    CZ_FORWARD(add(&b, &ix->hs_fc1_w, "mlp.fc1.weight", 2, Dh, Lz, 1, 1));
    CZ_FORWARD(add(&b, &ix->hs_fc1_b, "mlp.fc1.bias", 1, Dh, 1, 1, 1));
    CZ_FORWARD(add(&b, &ix->hs_fc2_w, "mlp.fc2.weight", 2, Dh, Dh, 1, 1));
    CZ_FORWARD(add(&b, &ix->hs_fc2_b, "mlp.fc2.bias", 1, Dh, 1, 1, 1));
    for (size_t i = 0; i < c->hyper_blocks_s; i++) {
        snprintf(name, sizeof name, "blocks.%zu.", i);
        CZ_FORWARD(add_block(&b, ix->hs_blk[i], name, Dh, hidh));
    }
    CZ_FORWARD(add(&b, &ix->hs_norm_g, "norm.weight", 1, Dh, 1, 1, 1));
    CZ_FORWARD(add(&b, &ix->hs_norm_b, "norm.bias", 1, Dh, 1, 1, 1));
    CZ_FORWARD(add(&b, &ix->hs_out_w, "out.weight", 2, 2 * L * r * r, Dh, 1, 1));
    CZ_FORWARD(add(&b, &ix->hs_out_b, "out.bias", 1, 2 * L * r * r, 1, 1, 1));

    /* the factorised prior, in nn_fp's flat order, so that it is one contiguous block:
     * the "entropy" group followed directly by the "aux" group (the quantiles) */
    const nn_fp *fp = &m->fp;
    b.group = "entropy";
    snprintf(b.prefix, sizeof b.prefix, "entropy_bottleneck.");
    for (size_t k = 0; k < fp->K; k++) {
        size_t i;
        snprintf(name, sizeof name, "_matrix%zu", k);
        CZ_FORWARD(add(&b, &i, name, 3, Lz, fp->f[k + 1], fp->f[k], 1));
        if (k == 0) ix->fp_first = i;
        snprintf(name, sizeof name, "_bias%zu", k);
        CZ_FORWARD(add(&b, NULL, name, 3, Lz, fp->f[k + 1], 1, 1));
        if (k + 1 < fp->K) {
            snprintf(name, sizeof name, "_factor%zu", k);
            CZ_FORWARD(add(&b, NULL, name, 3, Lz, fp->f[k + 1], 1, 1));
        }
    }
    b.group = "aux";
    CZ_FORWARD(add(&b, &ix->fp_quant, "quantiles", 3, Lz, 1, 3, 1));
    if (rate_gain) { /* last: the other tensors keep their offsets */
        b.group = "gain";
        b.prefix[0] = 0;
        CZ_FORWARD(add(&b, &ix->rate_gain, VAE_GAIN_TENSOR, 2, VAE_GAIN_ANCHORS, L, 1, 1));
    }
    /* no weight decay on the entropy model (CompressAI trains it with plain Adam) */
    for (size_t i = ix->fp_first; i < m->p.n; i++) nn_params_set_decay(&m->p, i, 0);
    return CLIMZ_OK;
}

static climz_status model_create(vae_model *m, const vae_config *c, int training, int rate_gain) {
    memset(m, 0, sizeof *m);
    nn_params_init(&m->p);
    CZ_FORWARD(vae_config_check(c));
    m->cfg = *c;
    CZ_FORWARD(nn_fp_init(&m->fp, c->hyper_latent, c->fp_filters, c->n_fp_filters));
    CZ_FORWARD(build_table(m, rate_gain));
    CZ_FORWARD(nn_params_alloc(&m->p, training));
    /* the flat-block assumption of the factorised prior */
    CZ_RETURN_IF(m->p.t[m->ix.fp_quant].offset != m->p.t[m->ix.fp_first].offset + m->fp.off_quantiles,
                 CLIMZ_ERR_GENERIC, "vae: factorised prior parameters are not contiguous");
    m->norm_mean = cz_calloc(c->in_channels, sizeof(float));
    m->norm_std = cz_calloc(c->in_channels, sizeof(float));
    CZ_RETURN_IF(!m->norm_mean || !m->norm_std, CLIMZ_ERR_ALLOC, "out of memory");
    for (size_t i = 0; i < c->in_channels; i++) m->norm_std[i] = 1.0f;
    return CLIMZ_OK;
}

climz_status vae_model_create(vae_model *m, const vae_config *c, int training) {
    return model_create(m, c, training, 0);
}

int vae_model_has_rate_gain(const vae_model *m) { return m->ix.rate_gain != NONE; }

climz_status vae_model_add_rate_gain(vae_model *m) {
    if (vae_model_has_rate_gain(m)) return CLIMZ_OK;
    /* a new store with the gains appended: the old one is a prefix of it, group by group */
    nn_params grown;
    nn_params_init(&grown);
    nn_params old = m->p;
    vae_index const old_ix = m->ix;
    m->p = grown;
    climz_status st = build_table(m, 1);
    if (!st) st = nn_params_alloc(&m->p, old.training);
    if (!st && (m->p.n_groups != old.n_groups + 1 || m->p.t[m->ix.rate_gain].offset != old.numel))
        st = cz_error(CLIMZ_ERR_GENERIC, "vae: the rate gains are not stored after the other weights");
    if (st) {
        nn_params_free(&m->p);
        m->p = old;
        m->ix = old_ix;
        return st;
    }
    memcpy(m->p.data, old.data, old.numel * sizeof *old.data);
    if (old.training) {
        memcpy(m->p.m, old.m, old.numel * sizeof *old.m);
        memcpy(m->p.v, old.v, old.numel * sizeof *old.v);
    }
    for (size_t g = 0; g < old.n_groups; g++) m->p.groups[g].frozen = old.groups[g].frozen;
    nn_params_free(&old);
    return CLIMZ_OK;
}

void vae_gain_anchor(double level, size_t *i, double *t) {
    double pos = (level - VAE_GAIN_LEVEL0) / 8.0;
    pos = pos < 0 ? 0 : pos > VAE_GAIN_ANCHORS - 1 ? VAE_GAIN_ANCHORS - 1 : pos;
    size_t k = (size_t)pos;
    if (k > VAE_GAIN_ANCHORS - 2) k = VAE_GAIN_ANCHORS - 2;
    *i = k;
    *t = pos - (double)k;
}

void vae_model_free(vae_model *m) {
    if (!m) return;
    nn_params_free(&m->p);
    free(m->norm_mean);
    free(m->norm_std);
    for (size_t i = 0; i < m->n_extra; i++) {
        free(m->extra[i].name);
        free(m->extra[i].data);
    }
    free(m->extra);
    for (size_t i = 0; i < m->n_meta; i++) {
        free(m->meta[i].key);
        free(m->meta[i].value);
    }
    free(m->meta);
    memset(m, 0, sizeof *m);
}

/* ---- initialisation --------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t const a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

climz_status vae_model_init_weights(vae_model *m, uint64_t seed) {
    CZ_RETURN_IF(!m->p.allocated, CLIMZ_ERR_INVALID_ARG, "vae: model not created");
    for (size_t i = 0; i < m->ix.fp_first; i++) {
        const nn_param *t = &m->p.t[i];
        int const is_norm = strstr(t->name, "norm") != NULL;
        if (is_norm && ends_with(t->name, ".weight")) {
            CZ_FORWARD(nn_params_init_const(&m->p, i, 1.0f));
        } else if (t->ndim >= 2 && !is_norm) {
            CZ_FORWARD(nn_params_init_trunc_normal(&m->p, i, seed, 0.0f, 0.02f, -2.0f, 2.0f));
        } else {
            CZ_FORWARD(nn_params_init_const(&m->p, i, 0.0f));
        }
    }
    /* h_s's scales start near 1 instead of 0, far from the 0.11 bound of the Gaussian
     * conditional, where the gradient is cut (scales are the first 2L*r*r/2 outputs in
     * the pixel-shuffle order: channel c*r*r + i*r + j, c < L). */
    {
        size_t const r2 = m->cfg.hyper_patch * m->cfg.hyper_patch;
        float *bias = nn_params_data(&m->p, m->ix.hs_out_b);
        for (size_t i = 0; i < m->cfg.latent * r2; i++) bias[i] = 1.0f;
    }
    nn_rng rng;
    nn_rng_seed(&rng, nn_params_stream_seed(seed, "entropy_bottleneck"));
    nn_fp_init_params(&m->fp, nn_params_data(&m->p, m->ix.fp_first), (float)m->cfg.fp_init_scale,
                      &rng);
    return CLIMZ_OK;
}

size_t vae_model_num_params(const vae_model *m, const char *group) {
    if (!group) return m->p.numel;
    int const g = nn_params_find_group(&m->p, group);
    return g < 0 ? 0 : m->p.groups[g].end - m->p.groups[g].begin;
}

const float *vae_model_fp_params(const vae_model *m) { return nn_params_data(&m->p, m->ix.fp_first); }

void vae_model_z_medians(const vae_model *m, float *median) {
    nn_fp_medians(median, vae_model_fp_params(m), &m->fp);
}

/* ---- extras and metadata ---------------------------------------------------------------- */

climz_status vae_model_put_extra(vae_model *m, const char *name, nn_dtype dt, size_t ndim,
                                 const size_t *shape, const void *data) {
    CZ_RETURN_IF(!name || !*name || strlen(name) > 200, CLIMZ_ERR_INVALID_ARG,
                 "vae: bad extra tensor name");
    CZ_RETURN_IF(nn_dtype_size(dt) == 0 || ndim > NN_CKPT_MAX_DIMS, CLIMZ_ERR_INVALID_ARG,
                 "vae: extra tensor %s: bad dtype or rank", name);
    size_t n = 1, bytes;
    for (size_t i = 0; i < ndim; i++)
        CZ_RETURN_IF(!cz_mul_ok(n, shape[i], &n), CLIMZ_ERR_DIMENSION, "vae: extra %s too big", name);
    CZ_RETURN_IF(!cz_mul_ok(n, nn_dtype_size(dt), &bytes), CLIMZ_ERR_DIMENSION,
                 "vae: extra %s too big", name);
    void *copy = cz_malloc(bytes ? bytes : 1);
    CZ_RETURN_IF(!copy, CLIMZ_ERR_ALLOC, "out of memory");
    if (bytes) memcpy(copy, data, bytes);
    vae_extra *e = NULL;
    for (size_t i = 0; i < m->n_extra; i++)
        if (!strcmp(m->extra[i].name, name)) e = &m->extra[i];
    if (!e) {
        vae_extra *grown = cz_realloc(m->extra, (m->n_extra + 1) * sizeof *grown);
        char *nm = cz_strdup(name);
        if (!grown || !nm) {
            if (grown) m->extra = grown;
            free(copy), free(nm);
            return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        }
        m->extra = grown;
        e = &m->extra[m->n_extra++];
        memset(e, 0, sizeof *e);
        e->name = nm;
    }
    free(e->data);
    e->data = copy;
    e->bytes = bytes;
    e->dtype = dt;
    e->ndim = ndim;
    for (size_t i = 0; i < NN_CKPT_MAX_DIMS; i++) e->shape[i] = i < ndim ? shape[i] : 1;
    return CLIMZ_OK;
}

const vae_extra *vae_model_extra(const vae_model *m, const char *name) {
    for (size_t i = 0; i < m->n_extra; i++)
        if (!strcmp(m->extra[i].name, name)) return &m->extra[i];
    return NULL;
}

climz_status vae_model_set_meta(vae_model *m, const char *key, const char *value) {
    CZ_RETURN_IF(!key || !value || strncmp(key, "vae.", 4) != 0 || !strcmp(key, VAE_META_CONFIG),
                 CLIMZ_ERR_INVALID_ARG, "vae: metadata keys start with \"vae.\" (not vae.config)");
    char *v = cz_strdup(value);
    CZ_RETURN_IF(!v, CLIMZ_ERR_ALLOC, "out of memory");
    for (size_t i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta[i].key, key)) {
            free(m->meta[i].value);
            m->meta[i].value = v;
            return CLIMZ_OK;
        }
    vae_kv *grown = cz_realloc(m->meta, (m->n_meta + 1) * sizeof *grown);
    char *k = cz_strdup(key);
    if (!grown || !k) {
        if (grown) m->meta = grown;
        free(v), free(k);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    m->meta = grown;
    m->meta[m->n_meta].key = k;
    m->meta[m->n_meta].value = v;
    m->n_meta++;
    return CLIMZ_OK;
}

const char *vae_model_meta(const vae_model *m, const char *key) {
    for (size_t i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta[i].key, key)) return m->meta[i].value;
    return NULL;
}

/* ---- files ------------------------------------------------------------------------------ */

climz_status vae_model_save(const vae_model *m, const char *path, const nn_adamw *opt) {
    nn_ckpt_writer w;
    char *cfg = NULL;
    climz_status st;
    nn_ckpt_writer_init(&w);
    size_t const C = m->cfg.in_channels;
    CZ_CHECK_GOTO(st, vae_config_to_json(&m->cfg, &cfg), done);
    CZ_CHECK_GOTO(st, nn_ckpt_put_meta(&w, VAE_META_KIND, VAE_MODEL_KIND), done);
    CZ_CHECK_GOTO(st, nn_ckpt_put_meta(&w, VAE_META_CONFIG, cfg), done);
    for (size_t i = 0; i < m->n_meta; i++)
        CZ_CHECK_GOTO(st, nn_ckpt_put_meta(&w, m->meta[i].key, m->meta[i].value), done);
    CZ_CHECK_GOTO(st, nn_ckpt_put_params(&w, &m->p), done);
    CZ_CHECK_GOTO(st, nn_ckpt_put(&w, "norm.mean", NN_DT_F32, 1, &C, m->norm_mean), done);
    CZ_CHECK_GOTO(st, nn_ckpt_put(&w, "norm.std", NN_DT_F32, 1, &C, m->norm_std), done);
    for (size_t i = 0; i < m->n_extra; i++) {
        char name[224];
        snprintf(name, sizeof name, "extra.%s", m->extra[i].name);
        CZ_CHECK_GOTO(st, nn_ckpt_put(&w, name, m->extra[i].dtype, m->extra[i].ndim,
                                      m->extra[i].shape, m->extra[i].data), done);
    }
    if (opt) CZ_CHECK_GOTO(st, nn_ckpt_put_optim(&w, &m->p, opt), done);
    CZ_CHECK_GOTO(st, nn_ckpt_write(&w, path), done);
done:
    free(cfg);
    nn_ckpt_writer_free(&w);
    return st;
}

static climz_status load_from(vae_model *m, const nn_ckpt *ck, int training, nn_adamw *opt) {
    const char *kind = nn_ckpt_meta(ck, VAE_META_KIND);
    const char *cfg_text = nn_ckpt_meta(ck, VAE_META_CONFIG);
    CZ_RETURN_IF(!kind || strcmp(kind, VAE_MODEL_KIND) || !cfg_text, CLIMZ_ERR_UNSUPPORTED,
                 "%s is not a VAEformer model file (no %s = %s)", ck->path, VAE_META_KIND,
                 VAE_MODEL_KIND);
    vae_config c;
    CZ_FORWARD(vae_config_from_json(&c, cfg_text));
    const nn_ckpt_entry *gain = nn_ckpt_find(ck, VAE_GAIN_TENSOR);
    CZ_RETURN_IF(gain && (gain->dtype != NN_DT_F32 || gain->ndim != 2 || gain->shape[0] != VAE_GAIN_ANCHORS ||
                          gain->shape[1] != c.latent),
                 CLIMZ_ERR_CORRUPT, "%s: tensor %s must be F32 [%d, %zu] (anchor levels x latent channels)", ck->path,
                 VAE_GAIN_TENSOR, VAE_GAIN_ANCHORS, c.latent);
    CZ_FORWARD(model_create(m, &c, training, gain != NULL));
    CZ_FORWARD(nn_ckpt_get_params(ck, &m->p));
    if (gain) {
        const float *a = nn_params_data(&m->p, m->ix.rate_gain);
        for (size_t i = 0; i < VAE_GAIN_ANCHORS * c.latent; i++)
            CZ_RETURN_IF(!(fabsf(a[i]) <= (float)VAE_GAIN_MAX), CLIMZ_ERR_CORRUPT,
                         "%s: rate gain %zu of %s is %g: not finite or beyond +-%g octaves", ck->path, i,
                         VAE_GAIN_TENSOR, (double)a[i], VAE_GAIN_MAX);
    }
    size_t const C = c.in_channels;
    CZ_FORWARD(nn_ckpt_get(ck, "norm.mean", NN_DT_F32, 1, &C, m->norm_mean));
    CZ_FORWARD(nn_ckpt_get(ck, "norm.std", NN_DT_F32, 1, &C, m->norm_std));
    for (size_t i = 0; i < ck->n; i++) {
        const nn_ckpt_entry *e = &ck->t[i];
        if (strncmp(e->name, "extra.", 6) != 0) continue;
        size_t shape[NN_CKPT_MAX_DIMS];
        for (size_t d = 0; d < e->ndim; d++) shape[d] = (size_t)e->shape[d];
        /* safetensors data is little-endian, as climz's supported hosts */
        CZ_FORWARD(vae_model_put_extra(m, e->name + 6, e->dtype, e->ndim, shape,
                                       nn_ckpt_bytes(ck, e)));
    }
    for (size_t i = 0; i < ck->n_meta; i++)
        if (!strncmp(ck->meta[i].key, "vae.", 4) && strcmp(ck->meta[i].key, VAE_META_CONFIG))
            CZ_FORWARD(vae_model_set_meta(m, ck->meta[i].key, ck->meta[i].value));
    if (opt) CZ_FORWARD(nn_ckpt_get_optim(ck, &m->p, opt));
    uint8_t digest[32];
    cz_sha256 sh;
    cz_sha256_init(&sh);
    cz_sha256_update(&sh, ck->file, ck->size);
    cz_sha256_final(&sh, digest);
    cz_sha256_hex(digest, m->sha256);
    return CLIMZ_OK;
}

climz_status vae_model_load(vae_model *m, const char *path, int training, nn_adamw *opt) {
    nn_ckpt ck;
    memset(m, 0, sizeof *m);
    CZ_FORWARD(nn_ckpt_open(&ck, path));
    climz_status const st = load_from(m, &ck, training, opt);
    nn_ckpt_close(&ck);
    if (st != CLIMZ_OK) vae_model_free(m);
    return st;
}

climz_status vae_model_load_mem(vae_model *m, const void *buf, size_t size, const char *label,
                                int training) {
    nn_ckpt ck;
    memset(m, 0, sizeof *m);
    CZ_FORWARD(nn_ckpt_open_mem(&ck, buf, size, label ? label : "model"));
    climz_status const st = load_from(m, &ck, training, NULL);
    nn_ckpt_close(&ck);
    if (st != CLIMZ_OK) vae_model_free(m);
    return st;
}
