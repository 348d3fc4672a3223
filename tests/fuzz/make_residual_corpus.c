/* make_residual_corpus.c — writes the seed corpus of the residual decoder's fuzz target
 * (tests/fuzz/corpus-residual; input format in fuzz_residual_decode.c): valid streams of a
 * seeded piecewise-constant field (an "ice" patch of noisy values near 1 on a plateau of
 * zeros, with land dots of 0 inside it) in every lossy mode — plateau mode (stream version
 * 2) in 2-D, 3-D, with missing points and with a prediction, and the version-1 lossy
 * stream of the same field — and copies damaged in specific ways (err-NAME-*: they must
 * fail with CLIMZ_ERR_NAME). Run by hand after a format change:
 *     cmake --build BUILD --target fuzz_make_residual_corpus && BUILD/tests/fuzz/fuzz_make_residual_corpus */
#include "residual/residual.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *out_dir;

static void save(const char *name, const cz_buf *b) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->data, 1, b->size, f) != b->size || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    printf("%-36s %6zu bytes\n", name, b->size);
}

/* The input for shape (nz, ny, nx) and flags (bit 0: zero prediction, bit 1: every 7th
 * point missing) of the field, coded with the given plateau option. */
static void seed(cz_buf *b, size_t nz, size_t ny, size_t nx, int flags, int plateau, double E) {
    size_t const n = nz * ny * nx;
    float *x = malloc(n * sizeof *x), *pred = calloc(n, sizeof *pred);
    uint8_t *miss = calloc(n, 1);
    unsigned long long rs = 17;
    for (size_t i = 0; i < n; i++) {
        size_t const k = i / (ny * nx), j = i / nx % ny, l = i % nx;
        double const r = hypot((double)j - 0.4 * (double)ny, (double)l - 0.5 * (double)nx - (double)k);
        x[i] = r < 0.35 * (double)nx && (i % 23) ? (float)(0.95 + 0.02 * tu_rand_normal(&rs)) : 0.f;
        if (x[i] > 1.f) x[i] = 1.f;
        if (flags & 2) miss[i] = i % 7 == 0;
    }
    res_params const p = {E, 0};
    res_options opt;
    memset(&opt, 0, sizeof opt);
    opt.plateau = plateau;
    b->size = 0;
    uint8_t const hdr[4] = {(uint8_t)(nz - 1), (uint8_t)(ny - 1), (uint8_t)(nx - 1), (uint8_t)flags};
    climz_status st = cz_buf_put(b, hdr, 4);
    if (st == CLIMZ_OK)
        st = res_encode_ex(x, miss, flags & 1 ? pred : NULL, NULL, nz, ny, nx, &p, &opt, b, NULL);
    if (st != CLIMZ_OK) {
        fprintf(stderr, "encode: %s %s\n", climz_status_name(st), cz_error_message());
        exit(1);
    }
    free(x);
    free(pred);
    free(miss);
}

int main(int argc, char **argv) {
    out_dir = argc > 1 ? argv[1] : CLIMZ_SOURCE_DIR "/tests/fuzz/corpus-residual";
    cz_buf b = {0}, d = {0};
    seed(&b, 1, 40, 50, 0, 2, 0.002);
    save("ok-plateau-2d", &b);
    seed(&b, 3, 24, 32, 0, 2, 0.002);
    save("ok-plateau-3d", &b);
    seed(&b, 1, 40, 50, 2, 2, 0.01);
    save("ok-plateau-missing", &b);
    seed(&b, 2, 20, 30, 1, 2, 0.01);
    save("ok-plateau-pred", &b);
    seed(&b, 1, 40, 50, 0, 1, 0.002);
    save("ok-lossy-v1", &b); /* the version-1 stream of the same field */

    seed(&b, 1, 40, 50, 0, 2, 0.002); /* the damaged copies: byte 4 + k is byte k of the stream */
    d.size = 0;
    (void)cz_buf_put(&d, b.data, b.size);
    d.data[5] = (uint8_t)(3 << 4 | RES_MODE_PLATEAU); /* version 3 */
    save("err-VERSION-plateau-v3", &d);
    d.data[5] = (uint8_t)(1 << 4 | RES_MODE_PLATEAU); /* plateau mode in a version-1 stream */
    save("err-CORRUPT-plateau-in-v1", &d);
    d.data[5] = (uint8_t)(2 << 4 | RES_MODE_LOSSY); /* version 2 is plateau mode only */
    save("err-CORRUPT-v2-lossy", &d);
    d.data[5] = b.data[5];
    /* the plateau value (f32 after magic, mode, 3 dims, predictor, order, step, alpha, beta) */
    size_t const pv = 4 + 2 + 3 + 2 + 4 + 2;
    memcpy(d.data + pv, (const uint8_t[4]){0, 0, 0xc0, 0x7f}, 4); /* NaN */
    save("err-CORRUPT-plateau-nan", &d);
    memcpy(d.data + pv, b.data + pv, 4);
    d.data[d.size / 2] ^= 0x5a; /* inside the rANS words: the final-state check */
    save("err-CORRUPT-plateau-flip", &d);
    d.size = b.size * 2 / 3;
    memcpy(d.data, b.data, d.size);
    save("err-TRUNCATED-plateau-cut", &d);
    cz_buf_free(&b);
    cz_buf_free(&d);
    return 0;
}
