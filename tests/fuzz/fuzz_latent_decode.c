/* fuzz_latent_decode.c — decoder fuzz target for the VAEformer's latent chunks (the codec's
 * own parsing, prediction links, z and y rANS streams and determinism check).
 *
 * A tiny seeded model is made once (in a temporary file). The field is fixed: FL_NT steps of
 * FL_NZ levels of FL_NY x FL_NX points (levels: the level prediction is reached too). An input
 * is: u8 g (prediction group: G = 1 + (g & 127) % FL_NT steps; bit 7: decode from step 1 on),
 * then per group (keys 0, G, 2G, ...) a u16 LE length and that many bytes of its latent chunk
 * (what is missing is an empty chunk). The container around them is built here with valid CRCs, so that only the
 * codec's checks stand between the input and the decoder. Any input must decode or fail
 * with an error: never crash, over-read or leak.
 *
 * fuzz_latent_seed() writes an input from a real encoding (the seed corpus: make_corpus.c).
 * Built as a libFuzzer target with CLIMZ_FUZZ=ON (clang); replayed over the committed
 * corpus tests/fuzz/corpus-latent by test_fuzz_latent_replay. */
#include "api/codec.h"
#include "container/container.h"
#include "vae/vae_codec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_targets.h"

static char model_path[64];
static char model_sha[65];

static void remove_model(void) { unlink(model_path); }

/* the fuzzed model: one block per network, 8 latent channels, patch 4 */
static void tiny_fuzz_config(vae_config *c) {
    vae_config_default(c);
    c->in_channels = 1;
    c->patch_kh = c->patch_kw = c->patch_sh = c->patch_sw = 4;
    c->width = 16;
    c->heads = 2;
    c->mlp_ratio = 2.0;
    c->win_s[0] = c->win_s[1] = 4;
    c->n_enc = c->n_dec = 1;
    c->enc[0] = c->dec[0] = VAE_WIN_S;
    c->pos = VAE_POS_NONE;
    c->latent = 8;
    c->hyper_patch = 2;
    c->hyper_width = 16;
    c->hyper_heads = 2;
    c->hyper_blocks_a = c->hyper_blocks_s = 1;
    c->hyper_latent = 4;
    c->n_fp_filters = 2;
    c->fp_filters[0] = c->fp_filters[1] = 3;
    c->field_norm = 1;
}

climz_status fuzz_latent_model(const char **path) {
    if (!model_path[0]) {
        vae_config cfg;
        vae_model m;
        memset(&m, 0, sizeof m);
        tiny_fuzz_config(&cfg);
        char p[64] = "/tmp/climz-fuzz-model-XXXXXX";
        int const fd = mkstemp(p);
        if (fd < 0) return cz_error(CLIMZ_ERR_IO, "cannot create a temporary model file");
        close(fd);
        climz_status st = vae_model_create(&m, &cfg, 0);
        if (!st) st = vae_model_init_weights(&m, 11);
        if (!st) st = vae_model_build_tables(&m);
        if (!st) st = vae_model_save(&m, p, NULL);
        vae_model_free(&m);
        if (!st) st = vae_model_load(&m, p, 0, NULL);
        if (!st) snprintf(model_sha, sizeof model_sha, "%s", m.sha256);
        vae_model_free(&m);
        if (st) {
            unlink(p);
            return st;
        }
        memcpy(model_path, p, sizeof p);
        atexit(remove_model);
    }
    *path = model_path;
    return CLIMZ_OK;
}

/* The header entry the encoder writes, as far as the decoder reads it. */
static json_t *fuzz_entry(size_t group) {
    json_t *e = json_object(), *j = json_object();
    json_object_set_new(e, "model", json_string(model_path));
    json_object_set_new(e, "model_name", json_string("fuzz.safetensors"));
    json_object_set_new(e, "model_sha256", json_string(model_sha));
    json_t *shape = json_array();
    size_t const dims[4] = {FL_NT, FL_NZ, FL_NY, FL_NX};
    for (int k = 0; k < 4; k++) json_array_append_new(shape, json_integer((json_int_t)dims[k]));
    json_object_set_new(e, "shape", shape);
    json_object_set_new(j, "tile", json_integer(0));
    json_object_set_new(j, "group", json_integer((json_int_t)group));
    json_object_set_new(j, "deterministic_synthesis", json_false());
    json_object_set_new(j, "residual", json_false());
    json_object_set_new(e, "vaeformer", j);
    return e;
}

climz_status fuzz_latent_decode_one(const uint8_t *data, size_t size) {
    const char *path;
    CZ_FORWARD(fuzz_latent_model(&path));
    if (size < 1) return cz_error(CLIMZ_ERR_TRUNCATED, "empty input");
    size_t const group = 1 + (data[0] & 0x7f) % FL_NT, first = data[0] >> 7;
    size_t pos = 1;
    clz_writer *w = NULL;
    clz_reader *r = NULL;
    cz_buf img = {0};
    climz_status st = clz_writer_create(&w);
    for (uint32_t t = 0; t < FL_NT && !st; t += (uint32_t)group) {
        size_t n = 0;
        if (pos + 2 <= size) {
            n = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
            pos += 2;
            n = n < size - pos ? n : size - pos;
        }
        st = clz_writer_add(w, 0, t, CLZ_STREAM_LATENT, data + pos, n);
        pos += n;
    }
    if (!st) st = clz_writer_finish_mem(w, "{}", &img);
    if (!st) st = clz_reader_open_mem(img.data, img.size, &r);
    size_t const nt = FL_NT - first, n = nt * FL_NZ * FL_NY * FL_NX;
    float *values = calloc(n, sizeof *values);
    uint8_t *miss = calloc(n, 1);
    if (!st && (!values || !miss)) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    json_t *entry = fuzz_entry(group);
    climz_decompress_opts const opts = {.model = path};
    cz_field f = {nt, FL_NZ, FL_NY, FL_NX, values, miss, NULL, NULL, NULL};
    if (!st) st = api_codec_vaeformer.decode(NULL, r, 0, entry, &opts, &f, first);
    json_decref(entry);
    free(values);
    free(miss);
    clz_reader_free(r);
    clz_writer_free(w);
    cz_buf_free(&img);
    return st;
}

climz_status fuzz_latent_seed(const float *x, const uint8_t *miss, const char *const *opts, uint8_t g, cz_buf *out) {
    const char *path;
    CZ_FORWARD(fuzz_latent_model(&path));
    size_t const n = FL_NT * FL_NZ * FL_NY * FL_NX;
    cz_field f = {FL_NT, FL_NZ, FL_NY, FL_NX, (float *)x, (uint8_t *)miss, NULL, NULL, NULL};
    climz_compress_opts const co = {.codec = "vaeformer", .model = path, .options = opts};
    climz_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    api_encode_args const a = {&ctx, &co, NULL, 0, &f, 0, NULL};
    clz_writer *w = NULL;
    clz_reader *r = NULL;
    cz_buf img = {0};
    float *dec = malloc(n * sizeof *dec);
    json_t *entry = json_object();
    climz_status st = dec ? clz_writer_create(&w) : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    if (!st) st = api_codec_vaeformer.encode(&a, w, dec, entry);
    if (!st) st = clz_writer_finish_mem(w, "{}", &img);
    if (!st) st = clz_reader_open_mem(img.data, img.size, &r);
    if (!st) st = cz_buf_put_u8(out, g);
    for (uint32_t t = 0; t < FL_NT && !st; t += 1 + (g & 0x7f) % FL_NT) {
        const uint8_t *p;
        size_t m;
        st = clz_reader_get(r, 0, t, CLZ_STREAM_LATENT, &p, &m);
        if (!st && m > 0xffff) st = cz_error(CLIMZ_ERR_INVALID_ARG, "group at step %u: a %zu-byte chunk", t, m);
        if (!st) st = cz_buf_put_u8(out, (uint8_t)(m & 0xff));
        if (!st) st = cz_buf_put_u8(out, (uint8_t)(m >> 8));
        if (!st) st = cz_buf_put(out, p, m);
    }
    json_decref(entry);
    free(dec);
    clz_reader_free(r);
    clz_writer_free(w);
    cz_buf_free(&img);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)fuzz_latent_decode_one(data, size);
    cz_error_clear();
    return 0;
}
