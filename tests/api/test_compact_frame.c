/* test_compact_frame.c — compact frames (doc/format.md §10.1) on real data: climz_compress
 * writes them, much smaller than the plain .clz image of the same frame; they expand to a
 * plain image that decodes to the same values (so plain frames, as older climz wrote them,
 * still read); climz_frame_info and climz_info_json read both; compacting the expanded image
 * again gives the same bytes; damage, truncation and a newer version are refused. */
#include "api_samples.h"
#include "container/frame_compact.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static climz_ctx *ctx;

/* the VAEformer's own stream is asked for (fallback=0): under a bound the residual codec
 * alone would otherwise win on one small step, and the frame would test that codec twice */
static const char *const keep_vaeformer[] = {"fallback=0", NULL};

static uint8_t *frame_of(const climz_field *f, const char *codec, double rel, size_t *size) {
    climz_compress_opts o = {.codec = codec, .options = strcmp(codec, "vaeformer") ? NULL : keep_vaeformer};
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, rel));
    size_t const cap = climz_compress_bound(f);
    uint8_t *b = malloc(cap);
    climz_status const st = climz_compress(ctx, f, &o, b, cap, size);
    CHECK_MSG(st == CLIMZ_OK, "compress %s: %s", codec, climz_ctx_last_error(ctx));
    if (st) {
        free(b);
        return NULL;
    }
    return b;
}

static float *decode(const uint8_t *b, size_t size, climz_field *g) {
    CHECK_OK(climz_frame_info(b, size, g));
    size_t const n = g->nt * g->nz * g->ny * g->nx;
    g->type = CLIMZ_FLOAT32;
    g->data = malloc(n * sizeof(float));
    climz_status const st = climz_decompress(ctx, b, size, g);
    CHECK_MSG(st == CLIMZ_OK, "decompress: %s", climz_ctx_last_error(ctx));
    return g->data;
}

/* the variables' names and shapes of climz_info_json's answer for bytes b saved to a file */
static char *info_of(const uint8_t *b, size_t size, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir("test_compact_frame"), name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, size, f) == size);
    if (f) fclose(f);
    char *json = NULL;
    climz_status const st = climz_info_json(ctx, path, &json);
    CHECK_MSG(st == CLIMZ_OK, "info of %s: %s", name, climz_ctx_last_error(ctx));
    return json;
}

static void one(const char *file, const char *var, float fill, const char *codec, uint8_t codec_byte, double rel,
                size_t min_saved) {
    climz_field f;
    double *lat = NULL;
    float *a = sample_field(file, var, fill, &f, &lat);
    if (!a) return;
    f.nt = 1; /* one time step: the size of an HDF5 chunk */
    f.lat = lat;
    size_t size;
    uint8_t *b = frame_of(&f, codec, rel, &size);
    if (!b) goto out;
    CHECK(clz_compact_is(b, size) && b[4] == CLZ_COMPACT_VERSION && b[5] == codec_byte);

    uint8_t *img = NULL;
    size_t img_n = 0;
    CHECK_OK(clz_compact_expand(b, size, &img, &img_n));
    CHECK(img && img_n > 8 && memcmp(img, "\x89" "CLZ\r\n\x1a\n", 8) == 0);
    CHECK_MSG(img_n >= size + min_saved, "%s %s: compact %zu bytes, plain %zu: fewer than %zu saved", var, codec, size,
              img_n, min_saved);
    printf("%s %s: plain frame %zu bytes, compact %zu (%zu saved)\n", var, codec, img_n, size, img_n - size);

    /* a buffer of the compact frame's size is enough (the plain image would not fit) */
    uint8_t *exact = malloc(size);
    size_t w = 0;
    climz_compress_opts co = {.codec = codec, .options = strcmp(codec, "vaeformer") ? NULL : keep_vaeformer};
    CHECK_OK(climz_compress(ctx, &f, &co, exact, size, &w));
    CHECK(w == size && memcmp(exact, b, size) == 0);
    CHECK_STATUS(climz_compress(ctx, &f, &co, exact, size - 1, &w), CLIMZ_ERR_DST_TOO_SMALL);
    free(exact);

    /* the plain image (an older climz's frame) decodes to the same values */
    climz_field g, h;
    float *x = decode(b, size, &g), *y = decode(img, img_n, &h);
    size_t const n = f.nz * f.ny * f.nx;
    CHECK(g.nt == h.nt && g.nz == h.nz && g.ny == h.ny && g.nx == h.nx && g.flags == h.flags && g.ndims == h.ndims);
    CHECK(memcmp(x, y, n * sizeof(float)) == 0);
    double worst = 0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (!isnan(a[i]) && a[i] != fill) lo = fmin(lo, a[i]), hi = fmax(hi, a[i]);
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || a[i] == fill) CHECK(memcmp(&a[i], &x[i], 4) == 0);
        else worst = fmax(worst, fabs((double)x[i] - a[i]));
    }
    CHECK_MSG(worst <= rel * (hi - lo), "%s %s: error %g over the bound %g", var, codec, worst, rel * (hi - lo));
    free(x), free(y);

    /* compacting the expanded image again gives the same bytes */
    cz_buf again = {0};
    CHECK_OK(clz_compact_encode(img, img_n, codec_byte, &again));
    CHECK(again.size == size && memcmp(again.data, b, size) == 0);
    cz_buf_free(&again);

    /* climz info reads both, saved to files, and says the same of them */
    char *ji = info_of(b, size, "compact.clz"), *jp = info_of(img, img_n, "plain.clz");
    CHECK(ji && jp && strstr(ji, "\"variables\"") && strstr(jp, "\"variables\""));
    climz_free(ji), climz_free(jp);

    /* damage anywhere, truncation, a newer version: refused, with the reason */
    float *out = malloc(n * sizeof(float));
    climz_field o = g;
    o.data = out;
    for (size_t at = 0; at < size; at += 1 + size / 97) {
        b[at] ^= 0x10;
        climz_status const st = climz_decompress(ctx, b, size, &o);
        CHECK_MSG(st != CLIMZ_OK, "a frame with byte %zu changed decoded", at);
        b[at] ^= 0x10;
    }
    for (size_t cut = 0; cut < size; cut += 1 + size / 31)
        CHECK_MSG(climz_decompress(ctx, b, cut, &o) != CLIMZ_OK, "a frame cut to %zu bytes decoded", cut);
    b[4] = CLZ_COMPACT_VERSION + 1;
    cz_store_le32(b + size - 4, cz_crc32c(0, b, size - 4));
    CHECK_STATUS(climz_decompress(ctx, b, size, &o), CLIMZ_ERR_VERSION);
    free(out);
    free(img);
    free(b);
out:
    free(a);
    free(lat);
}

int main(void) {
    ctx = climz_ctx_create();
    /* plain frames of one step carry ~600-700 bytes of preamble, header, index and schema */
    one("hgt.nc", "HGT", NAN, "residual", CLZ_COMPACT_RESIDUAL, 1e-2, 450);
    one("bcsd_obs_1999.nc", "pr", NAN, "residual", CLZ_COMPACT_RESIDUAL, 1e-3, 450);
    one("model_T.nc", "T", -2.56e33f, "residual", CLZ_COMPACT_RESIDUAL, 1e-2, 450);
    one("hgt.nc", "HGT", NAN, "vaeformer", CLZ_COMPACT_VAEFORMER, 1e-2, 800);
    climz_ctx_free(ctx);
    return tu_finish();
}
