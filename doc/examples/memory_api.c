/* memory_api.c — the in-memory API of climz in one page: a 2-D float32 field and a strided
 * 3-D float64 field (every other column of a larger array) compressed into frames with the
 * residual codec and the bundled VAEformer, decoded, and the bound checked at every point.
 * Build: cc memory_api.c -I include -L build -lclimz -lm; run: ./a.out (exit 0 = all good). */
#include "climz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define NY 73
#define NX 144

/* a smooth field like 500 hPa height: a jet, planetary waves and a little noise */
static double height(int t, int y, int x) {
    double const lat = 90.0 - 2.5 * y, lon = 2.5 * x, pi = 3.14159265358979;
    return 5500 + 300 * cos(lat * pi / 180) + 80 * sin(3 * lon * pi / 180 + 0.2 * t) * cos(lat * pi / 90) +
           3 * sin(17.0 * x + 29.0 * y + 5.0 * t);
}

/* compresses f with codec under bound E, decodes into a float32 or float64 copy, checks it */
static int round_trip(climz_ctx *ctx, const climz_field *f, const char *codec, double E) {
    climz_compress_opts opts = {0};
    opts.codec = codec;
    climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, E);
    size_t const cap = climz_compress_bound(f);
    unsigned char *frame = malloc(cap);
    size_t size = 0;
    climz_status st = climz_compress(ctx, f, &opts, frame, cap, &size);
    if (st != CLIMZ_OK) {
        fprintf(stderr, "compress (%s): %s: %s\n", codec, climz_status_name(st), climz_ctx_last_error(ctx));
        free(frame);
        return 1;
    }
    climz_field g;
    climz_frame_info(frame, size, &g); /* type and dims before allocating */
    size_t const n = g.nt * g.nz * g.ny * g.nx;
    g.data = malloc(n * (g.type == CLIMZ_FLOAT64 ? sizeof(double) : sizeof(float)));
    st = climz_decompress(ctx, frame, size, &g);
    if (st != CLIMZ_OK) {
        fprintf(stderr, "decompress (%s): %s: %s\n", codec, climz_status_name(st), climz_ctx_last_error(ctx));
        free(frame);
        free(g.data);
        return 1;
    }
    double maxe = 0; /* the input through its strides (C order when all are 0), the output in C order */
    int const c_order = !f->st && !f->sz && !f->sy && !f->sx;
    ptrdiff_t const sx = c_order ? 1 : f->sx, sy = c_order ? (ptrdiff_t)f->nx : f->sy,
                    st_ = c_order ? (ptrdiff_t)(f->nx * f->ny * f->nz) : f->st;
    size_t i = 0;
    for (size_t t = 0; t < f->nt; t++)
        for (size_t y = 0; y < f->ny; y++)
            for (size_t x = 0; x < f->nx; x++, i++) {
                ptrdiff_t const o = (ptrdiff_t)t * st_ + (ptrdiff_t)y * sy + (ptrdiff_t)x * sx;
                double const a = f->type == CLIMZ_FLOAT64 ? ((const double *)f->data)[o] : ((const float *)f->data)[o];
                double const b = g.type == CLIMZ_FLOAT64 ? ((double *)g.data)[i] : ((float *)g.data)[i];
                maxe = fmax(maxe, fabs(a - b));
            }
    int const ok = E > 0 ? maxe <= E : 1;
    printf("%-9s %s %zu x %zu x %zu: %zu bytes (%.1fx), max error %.4g%s\n", codec,
           f->type == CLIMZ_FLOAT64 ? "float64" : "float32", f->nt, f->ny, f->nx, size,
           (double)n * (f->type == CLIMZ_FLOAT64 ? 8 : 4) / (double)size, maxe, ok ? "" : "  BOUND BROKEN");
    free(frame);
    free(g.data);
    return !ok;
}

int main(void) {
    climz_ctx *ctx = climz_ctx_create();
    int bad = 0;
    /* 2-D float32, C order */
    float *a = malloc(NY * NX * sizeof *a);
    for (int y = 0; y < NY; y++)
        for (int x = 0; x < NX; x++) a[y * NX + x] = (float)height(0, y, x);
    climz_field f2 = {.type = CLIMZ_FLOAT32, .data = a, .nt = 1, .nz = 1, .ny = NY, .nx = NX};
    bad |= round_trip(ctx, &f2, "residual", 1.0);
    bad |= round_trip(ctx, &f2, "vaeformer", 5.0);
    bad |= round_trip(ctx, &f2, "vaeformer", 0); /* no bound: the network alone */
    /* 3-D float64: 4 steps, every other column of a (4, NY, 2 NX) array, without a copy */
    double *b = malloc(4 * NY * 2 * NX * sizeof *b);
    for (int t = 0; t < 4; t++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < 2 * NX; x++) b[((size_t)t * NY + y) * 2 * NX + x] = height(t, y, x / 2);
    climz_field f3 = {.type = CLIMZ_FLOAT64, .data = b, .nt = 4, .nz = 1, .ny = NY, .nx = NX,
                      .st = NY * 2 * NX, .sz = 0, .sy = 2 * NX, .sx = 2};
    bad |= round_trip(ctx, &f3, "residual", 0.5);
    bad |= round_trip(ctx, &f3, "vaeformer", 2.0);
    free(a);
    free(b);
    climz_ctx_free(ctx);
    return bad;
}
