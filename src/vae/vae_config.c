/*
 * vae_config.c — the VAEformer configuration: defaults, checks, JSON (de)serialisation and
 * the geometry of an image (see vae.h).
 */
#include "vae/vae.h"
#include "vae/vae_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const win_names[4] = {"S", "EW", "NS", "G"};
static const char *const pos_names[3] = {"none", "learned", "fourier"};

void vae_config_default(vae_config *c) {
    memset(c, 0, sizeof *c);
    c->in_channels = 1;
    c->patch_kh = c->patch_kw = 8;
    c->patch_sh = c->patch_sw = 8;
    c->width = 96;
    c->heads = 3;
    c->mlp_ratio = 4.0;
    c->eps = 1e-6;
    c->n_enc = 4;
    c->enc[0] = VAE_WIN_S, c->enc[1] = VAE_WIN_EW, c->enc[2] = VAE_WIN_NS, c->enc[3] = VAE_WIN_G;
    c->n_dec = 4;
    c->dec[0] = VAE_WIN_S, c->dec[1] = VAE_WIN_EW, c->dec[2] = VAE_WIN_NS, c->dec[3] = VAE_WIN_G;
    c->win_s[0] = 4, c->win_s[1] = 4;
    c->win_ew[0] = 2, c->win_ew[1] = 8;
    c->win_ns[0] = 8, c->win_ns[1] = 2;
    c->wrap_lon = 0;
    c->pos = VAE_POS_NONE;
    c->pos_freqs = 4;
    c->latent = 32;
    c->hyper_patch = 2;
    c->hyper_width = 64;
    c->hyper_heads = 2;
    c->hyper_blocks_a = 1;
    c->hyper_blocks_s = 1;
    c->hyper_latent = 16;
    c->n_fp_filters = 4;
    for (size_t i = 0; i < 4; i++) c->fp_filters[i] = 3;
    c->fp_init_scale = 10.0;
    c->field_norm = 1;
}

size_t vae_hidden_of(const vae_config *c, size_t width) {
    double const h = floor(c->mlp_ratio * (double)width + 0.5);
    return h < 1 ? 1 : (size_t)h;
}

size_t vae_config_hidden(const vae_config *c) { return vae_hidden_of(c, c->width); }

nn_block_cfg vae_block_cfg(const vae_config *c, int kind, int hyper) {
    nn_block_cfg b;
    memset(&b, 0, sizeof b);
    b.C = hyper ? c->hyper_width : c->width;
    b.NH = hyper ? c->hyper_heads : c->heads;
    b.hidden = vae_hidden_of(c, b.C);
    b.eps = (float)c->eps;
    b.attn = kind == VAE_WIN_G ? NN_ATTN_GLOBAL : NN_ATTN_WINDOW;
    const size_t *w = kind == VAE_WIN_S ? c->win_s : kind == VAE_WIN_EW ? c->win_ew : c->win_ns;
    b.win.wh = w[0];
    b.win.ww = w[1];
    b.win.wrap_lon = c->wrap_lon;
    return b;
}

#define BIG ((size_t)1 << 20) /* no size in a sane configuration comes near this */

climz_status vae_config_check(const vae_config *c) {
    CZ_RETURN_IF(!c, CLIMZ_ERR_INVALID_ARG, "vae config: none");
#define NEED(cond, ...) CZ_RETURN_IF(!(cond), CLIMZ_ERR_INVALID_ARG, "vae config: " __VA_ARGS__)
    NEED(c->in_channels >= 1 && c->in_channels < BIG, "in_channels %zu", c->in_channels);
    NEED(c->patch_sh >= 1 && c->patch_sw >= 1 && c->patch_sh < 4096 && c->patch_sw < 4096,
         "patch stride %zu x %zu", c->patch_sh, c->patch_sw);
    NEED(c->patch_kh >= c->patch_sh && c->patch_kw >= c->patch_sw && c->patch_kh < 4096 &&
             c->patch_kw < 4096,
         "patch kernel %zu x %zu must be at least the stride %zu x %zu", c->patch_kh,
         c->patch_kw, c->patch_sh, c->patch_sw);
    NEED(c->width >= 1 && c->width < BIG, "width %zu", c->width);
    NEED(c->heads >= 1 && c->width % c->heads == 0, "width %zu is not a multiple of heads %zu",
         c->width, c->heads);
    NEED(isfinite(c->mlp_ratio) && c->mlp_ratio > 0 && c->mlp_ratio <= 64, "mlp_ratio %g",
         c->mlp_ratio);
    NEED(isfinite(c->eps) && c->eps > 0 && c->eps < 1, "eps %g", c->eps);
    NEED(c->n_enc <= VAE_MAX_BLOCKS && c->n_dec <= VAE_MAX_BLOCKS,
         "at most %d blocks per stage", VAE_MAX_BLOCKS);
    for (size_t i = 0; i < c->n_enc; i++) NEED(c->enc[i] <= VAE_WIN_G, "encoder block kind");
    for (size_t i = 0; i < c->n_dec; i++) NEED(c->dec[i] <= VAE_WIN_G, "decoder block kind");
    NEED(c->win_s[0] && c->win_s[1] && c->win_ew[0] && c->win_ew[1] && c->win_ns[0] &&
             c->win_ns[1] && c->win_s[0] < BIG && c->win_s[1] < BIG && c->win_ew[0] < BIG &&
             c->win_ew[1] < BIG && c->win_ns[0] < BIG && c->win_ns[1] < BIG,
         "empty window");
    NEED(c->wrap_lon == 0 || c->wrap_lon == 1, "wrap_lon must be 0 or 1");
    NEED(c->pos >= VAE_POS_NONE && c->pos <= VAE_POS_FOURIER, "pos");
    NEED(c->pos != VAE_POS_LEARNED || (c->pos_h >= 1 && c->pos_w >= 1 && c->pos_h < 65536 &&
                                       c->pos_w < 65536),
         "a learned position table needs pos_h, pos_w");
    NEED(c->pos != VAE_POS_FOURIER || (c->pos_freqs >= 1 && c->pos_freqs <= 256),
         "pos_freqs %zu", c->pos_freqs);
    NEED(c->latent >= 1 && c->latent < BIG, "latent %zu", c->latent);
    NEED(c->hyper_patch >= 1 && c->hyper_patch <= 64, "hyper_patch %zu", c->hyper_patch);
    NEED(c->hyper_width >= 1 && c->hyper_width < BIG, "hyper_width %zu", c->hyper_width);
    NEED(c->hyper_heads >= 1 && c->hyper_width % c->hyper_heads == 0,
         "hyper_width %zu is not a multiple of hyper_heads %zu", c->hyper_width,
         c->hyper_heads);
    NEED(c->hyper_blocks_a <= VAE_MAX_BLOCKS && c->hyper_blocks_s <= VAE_MAX_BLOCKS,
         "at most %d hyper blocks", VAE_MAX_BLOCKS);
    NEED(c->hyper_latent >= 1 && c->hyper_latent < BIG, "hyper_latent %zu", c->hyper_latent);
    NEED(c->n_fp_filters + 1 <= NN_FP_MAX_LAYERS, "at most %d fp_filters",
         NN_FP_MAX_LAYERS - 1);
    for (size_t i = 0; i < c->n_fp_filters; i++)
        NEED(c->fp_filters[i] >= 1 && c->fp_filters[i] <= NN_FP_MAX_WIDTH, "fp_filters[%zu]", i);
    NEED(isfinite(c->fp_init_scale) && c->fp_init_scale > 0, "fp_init_scale %g",
         c->fp_init_scale);
    NEED(c->field_norm == 0 || c->field_norm == 1, "field_norm must be 0 or 1");
    NEED(!c->field_norm || c->in_channels == 1, "field_norm needs in_channels 1");
    NEED(c->zero_pad == 0 || c->zero_pad == 1, "pad_tokens");
    NEED(!c->zero_pad || !c->wrap_lon, "pad_tokens \"zero\" and wrap_lon exclude each other");
#undef NEED
    return CLIMZ_OK;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static climz_status parse_pattern(const char *key, const char *s, uint8_t *kinds, size_t *n) {
    *n = 0;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t') s++;
        if (!*s) break;
        size_t len = 0;
        while (s[len] && s[len] != ' ' && s[len] != ',' && s[len] != '\t') len++;
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (strlen(win_names[i]) == len && strncmp(s, win_names[i], len) == 0) k = i;
        CZ_RETURN_IF(k < 0, CLIMZ_ERR_INVALID_ARG,
                     "vae config: %s: unknown block kind '%.*s' (S, EW, NS or G)", key, (int)len, s);
        CZ_RETURN_IF(*n >= VAE_MAX_BLOCKS, CLIMZ_ERR_INVALID_ARG,
                     "vae config: %s: more than %d blocks", key, VAE_MAX_BLOCKS);
        kinds[(*n)++] = (uint8_t)k;
        s += len;
    }
    return CLIMZ_OK;
}

static climz_status get_size(const char *key, json_t *v, size_t *out) {
    CZ_RETURN_IF(!json_is_integer(v) || json_integer_value(v) < 0, CLIMZ_ERR_INVALID_ARG,
                 "vae config: %s must be a non-negative integer", key);
    *out = (size_t)json_integer_value(v);
    return CLIMZ_OK;
}

static climz_status get_pair(const char *key, json_t *v, size_t out[2]) {
    CZ_RETURN_IF(!json_is_array(v) || json_array_size(v) != 2, CLIMZ_ERR_INVALID_ARG,
                 "vae config: %s must be [rows, cols]", key);
    CZ_FORWARD(get_size(key, json_array_get(v, 0), &out[0]));
    return get_size(key, json_array_get(v, 1), &out[1]);
}

static climz_status get_flag(const char *key, json_t *v, int *out) {
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return CLIMZ_OK;
    }
    CZ_RETURN_IF(!json_is_integer(v) || (json_integer_value(v) != 0 && json_integer_value(v) != 1),
                 CLIMZ_ERR_INVALID_ARG, "vae config: %s must be true/false", key);
    *out = (int)json_integer_value(v);
    return CLIMZ_OK;
}

static climz_status get_real(const char *key, json_t *v, double *out) {
    CZ_RETURN_IF(!json_is_number(v), CLIMZ_ERR_INVALID_ARG, "vae config: %s must be a number",
                 key);
    *out = json_number_value(v);
    return CLIMZ_OK;
}

static climz_status apply_key(vae_config *c, const char *k, json_t *v) {
    size_t pair[2] = {0, 0};
#define SZ(name) if (!strcmp(k, #name)) return get_size(k, v, &c->name)
    SZ(in_channels); SZ(width); SZ(heads); SZ(latent); SZ(hyper_patch); SZ(hyper_width);
    SZ(hyper_heads); SZ(hyper_blocks_a); SZ(hyper_blocks_s); SZ(hyper_latent); SZ(pos_h);
    SZ(pos_w); SZ(pos_freqs);
#undef SZ
    if (!strcmp(k, "mlp_ratio")) return get_real(k, v, &c->mlp_ratio);
    if (!strcmp(k, "eps")) return get_real(k, v, &c->eps);
    if (!strcmp(k, "fp_init_scale")) return get_real(k, v, &c->fp_init_scale);
    if (!strcmp(k, "wrap_lon")) return get_flag(k, v, &c->wrap_lon);
    if (!strcmp(k, "field_norm")) return get_flag(k, v, &c->field_norm);
    if (!strcmp(k, "pad_tokens")) {
        const char *t = json_is_string(v) ? json_string_value(v) : "";
        CZ_RETURN_IF(strcmp(t, "mask") && strcmp(t, "zero"), CLIMZ_ERR_INVALID_ARG,
                     "vae config: pad_tokens must be \"mask\" or \"zero\"");
        c->zero_pad = !strcmp(t, "zero");
        return CLIMZ_OK;
    }
    if (!strcmp(k, "patch_kernel") || !strcmp(k, "patch_stride") || !strcmp(k, "patch")) {
        if (json_is_integer(v)) {
            CZ_FORWARD(get_size(k, v, &pair[0]));
            pair[1] = pair[0];
        } else {
            CZ_FORWARD(get_pair(k, v, pair));
        }
        if (strcmp(k, "patch_stride")) c->patch_kh = pair[0], c->patch_kw = pair[1];
        if (strcmp(k, "patch_kernel")) c->patch_sh = pair[0], c->patch_sw = pair[1];
        return CLIMZ_OK;
    }
    if (!strcmp(k, "win_s")) return get_pair(k, v, c->win_s);
    if (!strcmp(k, "win_ew")) return get_pair(k, v, c->win_ew);
    if (!strcmp(k, "win_ns")) return get_pair(k, v, c->win_ns);
    if (!strcmp(k, "encoder") || !strcmp(k, "decoder")) {
        CZ_RETURN_IF(!json_is_string(v), CLIMZ_ERR_INVALID_ARG,
                     "vae config: %s must be a pattern string such as \"S EW NS G\"", k);
        if (!strcmp(k, "encoder")) return parse_pattern(k, json_string_value(v), c->enc, &c->n_enc);
        return parse_pattern(k, json_string_value(v), c->dec, &c->n_dec);
    }
    if (!strcmp(k, "pos")) {
        CZ_RETURN_IF(!json_is_string(v), CLIMZ_ERR_INVALID_ARG,
                     "vae config: pos must be \"none\", \"learned\" or \"fourier\"");
        for (int i = 0; i < 3; i++)
            if (!strcmp(json_string_value(v), pos_names[i])) {
                c->pos = (vae_pos)i;
                return CLIMZ_OK;
            }
        return cz_error(CLIMZ_ERR_INVALID_ARG, "vae config: unknown pos \"%s\"",
                        json_string_value(v));
    }
    if (!strcmp(k, "fp_filters")) {
        CZ_RETURN_IF(!json_is_array(v) || json_array_size(v) + 1 > NN_FP_MAX_LAYERS,
                     CLIMZ_ERR_INVALID_ARG, "vae config: fp_filters must be an array of at most %d",
                     NN_FP_MAX_LAYERS - 1);
        c->n_fp_filters = json_array_size(v);
        for (size_t i = 0; i < c->n_fp_filters; i++)
            CZ_FORWARD(get_size(k, json_array_get(v, i), &c->fp_filters[i]));
        return CLIMZ_OK;
    }
    if (k[0] == '_') return CLIMZ_OK; /* "_comment" and the like */
    return cz_error(CLIMZ_ERR_INVALID_ARG, "vae config: unknown key \"%s\"", k);
}

climz_status vae_config_from_json(vae_config *c, const char *text) {
    json_error_t jerr;
    vae_config_default(c);
    json_t *root = json_loads(text, 0, &jerr);
    CZ_RETURN_IF(!root, CLIMZ_ERR_CORRUPT, "vae config: not JSON (line %d: %s)", jerr.line,
                 jerr.text);
    climz_status st = CLIMZ_OK;
    if (!json_is_object(root)) {
        st = cz_error(CLIMZ_ERR_INVALID_ARG, "vae config: not a JSON object");
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
            st = apply_key(c, k, v);
            if (st != CLIMZ_OK) break;
        }
    }
    json_decref(root);
    CZ_FORWARD(st);
    return vae_config_check(c);
}

climz_status vae_config_load(vae_config *c, const char *path) {
    uint8_t *data;
    size_t size;
    CZ_FORWARD(cz_read_file(path, &data, &size));
    char *text = cz_malloc(size + 1);
    if (!text) {
        free(data);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    memcpy(text, data, size);
    text[size] = 0;
    free(data);
    climz_status const st = vae_config_from_json(c, text);
    free(text);
    if (st != CLIMZ_OK) return cz_error_prefix(st, "%s", path);
    return CLIMZ_OK;
}

static json_t *pattern_json(const uint8_t *k, size_t n) {
    char buf[VAE_MAX_BLOCKS * 4 + 1];
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? " " : "",
                                win_names[k[i] & 3]);
    return json_string(buf);
}

static json_t *pair_json(size_t a, size_t b) {
    json_t *arr = json_array();
    json_array_append_new(arr, json_integer((json_int_t)a));
    json_array_append_new(arr, json_integer((json_int_t)b));
    return arr;
}

climz_status vae_config_to_json(const vae_config *c, char **json) {
    json_t *o = json_object();
    CZ_RETURN_IF(!o, CLIMZ_ERR_ALLOC, "out of memory");
#define I(name) json_object_set_new(o, #name, json_integer((json_int_t)c->name))
    I(in_channels);
    json_object_set_new(o, "patch_kernel", pair_json(c->patch_kh, c->patch_kw));
    json_object_set_new(o, "patch_stride", pair_json(c->patch_sh, c->patch_sw));
    I(width);
    I(heads);
    json_object_set_new(o, "mlp_ratio", json_real(c->mlp_ratio));
    json_object_set_new(o, "eps", json_real(c->eps));
    json_object_set_new(o, "encoder", pattern_json(c->enc, c->n_enc));
    json_object_set_new(o, "decoder", pattern_json(c->dec, c->n_dec));
    json_object_set_new(o, "win_s", pair_json(c->win_s[0], c->win_s[1]));
    json_object_set_new(o, "win_ew", pair_json(c->win_ew[0], c->win_ew[1]));
    json_object_set_new(o, "win_ns", pair_json(c->win_ns[0], c->win_ns[1]));
    json_object_set_new(o, "wrap_lon", json_boolean(c->wrap_lon));
    json_object_set_new(o, "pos", json_string(pos_names[c->pos]));
    I(pos_h);
    I(pos_w);
    I(pos_freqs);
    I(latent);
    I(hyper_patch);
    I(hyper_width);
    I(hyper_heads);
    I(hyper_blocks_a);
    I(hyper_blocks_s);
    I(hyper_latent);
    json_t *f = json_array();
    for (size_t i = 0; i < c->n_fp_filters; i++)
        json_array_append_new(f, json_integer((json_int_t)c->fp_filters[i]));
    json_object_set_new(o, "fp_filters", f);
    json_object_set_new(o, "fp_init_scale", json_real(c->fp_init_scale));
    json_object_set_new(o, "field_norm", json_boolean(c->field_norm));
    json_object_set_new(o, "pad_tokens", json_string(c->zero_pad ? "zero" : "mask"));
#undef I
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    CZ_RETURN_IF(!s, CLIMZ_ERR_ALLOC, "out of memory");
    *json = cz_strdup(s);
    free(s);
    CZ_RETURN_IF(!*json, CLIMZ_ERR_ALLOC, "out of memory");
    return CLIMZ_OK;
}

/* ---- geometry --------------------------------------------------------------------------- */

/* tokens along one axis of n pixels, kernel k, stride s; *padded = the pixels they cover */
static size_t axis_tokens(size_t n, size_t k, size_t s, size_t *padded) {
    size_t const t = n <= k ? 1 : (n - k + s - 1) / s + 1;
    *padded = (t - 1) * s + k;
    return t;
}

climz_status vae_geometry(const vae_config *c, size_t H, size_t W, vae_geom *g) {
    CZ_RETURN_IF(H == 0 || W == 0 || H > ((size_t)1 << 24) || W > ((size_t)1 << 24),
                 CLIMZ_ERR_DIMENSION, "vae: image of %zu x %zu", H, W);
    memset(g, 0, sizeof *g);
    g->H = H, g->W = W;
    g->h = axis_tokens(H, c->patch_kh, c->patch_sh, &g->Hp);
    g->w = axis_tokens(W, c->patch_kw, c->patch_sw, &g->Wp);
    size_t const r = c->hyper_patch;
    g->hz = (g->h + r - 1) / r, g->wz = (g->w + r - 1) / r;
    g->hp = g->hz * r, g->wp = g->wz * r;
    CZ_RETURN_IF(c->pos == VAE_POS_LEARNED && (g->h != c->pos_h || g->w != c->pos_w),
                 CLIMZ_ERR_DIMENSION,
                 "vae: this model's learned position table is for %zu x %zu tokens, the "
                 "%zu x %zu image gives %zu x %zu",
                 c->pos_h, c->pos_w, H, W, g->h, g->w);
    return CLIMZ_OK;
}
