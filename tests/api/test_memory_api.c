/* test_memory_api.c — frames and the random-access reader on real data: the same values as
 * the file path, the bound, exact missing values, strides, float64, packing, slices of a .clz,
 * buffers too small, damaged frames and bad fields. */
#include "api_samples.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

static climz_ctx *ctx;

/* compresses f into a new frame (*size bytes); NULL on failure (recorded) */
/* The VAEformer keeps its own residual stage under a bound (fallback=0), even where the residual
 * codec alone would be smaller: that stage is what these tests exercise. */
static const char *const *codec_options(const char *codec) {
    static const char *const keep[] = {"fallback=0", NULL};
    return strcmp(codec, "vaeformer") ? NULL : keep;
}

static uint8_t *frame_of(const climz_field *f, const char *codec, double E, int rel, size_t *size) {
    climz_compress_opts o = {0};
    o.codec = codec;
    o.options = codec_options(codec);
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, rel ? 0 : E));
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, rel ? E : 0));
    size_t const cap = climz_compress_bound(f);
    uint8_t *b = malloc(cap);
    climz_status const st = climz_compress(ctx, f, &o, b, cap, size);
    CHECK_MSG(st == CLIMZ_OK, "compress %s: %s", codec, climz_ctx_last_error(ctx));
    CHECK(*size <= cap);
    if (st) {
        free(b);
        return NULL;
    }
    return b;
}

/* decodes a frame into a new C-order array of type t */
static void *decode_frame(const uint8_t *b, size_t size, climz_type t, climz_field *g) {
    CHECK_OK(climz_frame_info(b, size, g));
    size_t const n = g->nt * g->nz * g->ny * g->nx;
    g->type = t;
    g->data = malloc(n * (t == CLIMZ_FLOAT64 ? 8 : 4));
    climz_status const st = climz_decompress(ctx, b, size, g);
    CHECK_MSG(st == CLIMZ_OK, "decompress: %s", climz_ctx_last_error(ctx));
    return g->data;
}

/* A: a frame decodes to the values the file path gives for the same variable and bound; the
 * bound holds; missing points come back with their bits */
static void same_as_file(const char *file, const char *var, float fill, const char *codec, double rel) {
    climz_field f;
    double *lat = NULL;
    float *a = sample_field(file, var, fill, &f, &lat);
    if (!a) return;
    f.lat = lat;
    size_t const n = f.nt * f.nz * f.ny * f.nx;
    size_t size;
    uint8_t *b = frame_of(&f, codec, rel, 1, &size);
    climz_field g;
    float *m = b ? decode_frame(b, size, CLIMZ_FLOAT32, &g) : NULL;

    char out[1024];
    snprintf(out, sizeof out, "%s/%s.%s.clz", tu_tmpdir("test_memory_api"), var, codec);
    const char *vars[] = {var, NULL};
    climz_compress_opts o = {.codec = codec, .vars = vars, .options = codec_options(codec)};
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, rel));
    CHECK_OK(climz_compress_file(ctx, tu_data(file), out, &o));
    climz_reader *r = NULL;
    CHECK_OK(climz_reader_open(ctx, out, &r));
    size_t vi = 99;
    CHECK_OK(climz_reader_find(r, var, &vi));
    float *c = malloc(n * sizeof *c);
    climz_field h = {.type = CLIMZ_FLOAT32, .data = c, .nt = f.nt, .nz = f.nz, .ny = f.ny, .nx = f.nx};
    CHECK_OK(climz_reader_read(ctx, r, vi, 0, f.nt, &h));
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (!isnan(a[i]) && !(f.flags && a[i] == fill)) lo = fmin(lo, a[i]), hi = fmax(hi, a[i]);
    double const E = rel * (hi - lo);
    size_t differ = 0, broken = 0, miss_bits = 0;
    for (size_t i = 0; m && i < n; i++) {
        int const missing = isnan(a[i]) || (f.flags && a[i] == fill);
        if (missing) {
            miss_bits += memcmp(&a[i], &m[i], 4) != 0;
            differ += !isnan(c[i]);
        } else {
            differ += memcmp(&m[i], &c[i], 4) != 0;
            broken += !(fabs((double)m[i] - a[i]) <= E);
        }
    }
    CHECK_MSG(differ == 0, "%s:%s %s: %zu points differ between the frame and the file", file, var, codec, differ);
    CHECK_MSG(broken == 0, "%s:%s %s: %zu points beyond the bound %g", file, var, codec, broken, E);
    CHECK_MSG(miss_bits == 0, "%s:%s: %zu missing points lost their bits", file, var, miss_bits);
    printf("%-28s %-5s %-9s frame %7zu bytes (%.1fx), bound %.4g\n", file, var, codec, size,
           4.0 * (double)n / (double)size, E);
    climz_reader_free(r);
    free(b);
    free(m);
    free(c);
    free(a);
    free(lat);
}

/* C: any slice of a .clz read through the reader equals that slice of a whole read */
static void slices(const char *file, const char *var, const char *codec) {
    char out[1024];
    snprintf(out, sizeof out, "%s/slices.%s.clz", tu_tmpdir("test_memory_api_slices"), codec);
    const char *vars[] = {var, NULL};
    climz_compress_opts o = {.codec = codec, .vars = vars, .options = codec_options(codec)};
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, 1e-2));
    CHECK_OK(climz_compress_file(ctx, tu_data(file), out, &o));
    climz_reader *r = NULL;
    CHECK_OK(climz_reader_open(ctx, out, &r));
    if (!r) return;
    CHECK(climz_reader_nvars(r) == 1);
    climz_var_info in;
    CHECK_OK(climz_reader_var(r, 0, &in));
    CHECK(strcmp(in.name, var) == 0 && strcmp(in.codec, codec) == 0);
    CHECK_STATUS(climz_reader_var(r, 1, &in), CLIMZ_ERR_NOT_FOUND);
    size_t const plane = in.nz * in.ny * in.nx;
    double *all = malloc(in.nt * plane * sizeof *all);
    climz_field w = {.type = CLIMZ_FLOAT64, .data = all, .nt = in.nt, .nz = in.nz, .ny = in.ny, .nx = in.nx};
    CHECK_OK(climz_reader_read(ctx, r, 0, 0, in.nt, &w));
    size_t const cases[][2] = {{0, 1}, {3, 5}, {in.nt - 1, 1}, {1, in.nt - 1}};
    for (size_t k = 0; k < 4; k++) {
        size_t const t0 = cases[k][0], nt = cases[k][1];
        float *s = malloc(nt * plane * sizeof *s);
        climz_field v = {.type = CLIMZ_FLOAT32, .data = s, .nt = nt, .nz = in.nz, .ny = in.ny, .nx = in.nx};
        CHECK_OK(climz_reader_read(ctx, r, 0, t0, nt, &v));
        size_t differ = 0;
        for (size_t i = 0; i < nt * plane; i++) differ += (float)all[t0 * plane + i] != s[i];
        CHECK_MSG(differ == 0, "%s slice %zu+%zu: %zu values differ from the whole read", codec, t0, nt, differ);
        free(s);
    }
    climz_field v = w;
    v.nt = 2;
    CHECK_STATUS(climz_reader_read(ctx, r, 0, in.nt - 1, 2, &v), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(climz_reader_read(ctx, r, 0, 0, 3, &v), CLIMZ_ERR_DIMENSION);
    free(all);
    climz_reader_free(r);
}

/* F, E, G: noise coded losslessly fits the bound; a buffer one byte short is refused without a
 * write past it; every damaged byte of a frame is refused */
static void noise_bound_and_damage(void) {
    enum { NT = 3, NY = 40, NX = 50 };
    static float a[NT * NY * NX];
    unsigned long long s = 11;
    for (size_t i = 0; i < NT * NY * NX; i++) {
        uint32_t const u = (uint32_t)tu_rand_u64(&s);
        memcpy(&a[i], &u, 4);
        if (!isfinite(a[i]) || fabsf(a[i]) > 1e30f) a[i] = (float)tu_rand_normal(&s);
        if (i % 7 == 0) a[i] = NAN;
    }
    climz_field f = {.type = CLIMZ_FLOAT32, .data = a, .nt = NT, .nz = 1, .ny = NY, .nx = NX};
    size_t size;
    uint8_t *b = frame_of(&f, "residual", 0, 0, &size);
    if (!b) return;
    CHECK_MSG(size <= climz_compress_bound(&f), "noise frame %zu > bound %zu", size, climz_compress_bound(&f));
    climz_field g;
    float *d = decode_frame(b, size, CLIMZ_FLOAT32, &g);
    CHECK(memcmp(d, a, sizeof a) == 0);
    free(d);
    uint8_t *small = malloc(size + 16);
    memset(small, 0xA5, size + 16);
    size_t w = 123;
    CHECK_STATUS(climz_compress(ctx, &f, NULL, small, size - 1, &w), CLIMZ_ERR_DST_TOO_SMALL);
    size_t touched = 0;
    for (size_t i = size - 1; i < size + 16; i++) touched += small[i] != 0xA5;
    CHECK(touched == 0 && w == 0);
    free(small);
    /* damage */
    float out[NT * NY * NX];
    climz_field h = {.type = CLIMZ_FLOAT32, .data = out, .nt = NT, .nz = 1, .ny = NY, .nx = NX};
    size_t refused = 0, tries = 0;
    for (size_t k = 0; k < 300; k++, tries++) {
        size_t const at = (size_t)(tu_rand_u64(&s) % size);
        b[at] ^= (uint8_t)(1u << (k % 8));
        refused += climz_decompress(ctx, b, size, &h) != CLIMZ_OK;
        b[at] ^= (uint8_t)(1u << (k % 8));
    }
    CHECK_MSG(refused == tries, "%zu of %zu damaged frames decoded", tries - refused, tries);
    for (size_t cut = 0; cut < size; cut += size / 37 + 1)
        CHECK_STATUS(climz_decompress(ctx, b, cut, &h) == CLIMZ_OK, 0);
    free(b);
}

/* D, H, J, K, L: frame info; float64 bounds; -0.0 under a 0.0 fill; a negative stride; bad fields */
static void descriptors(void) {
    enum { NY = 30, NX = 40 };
    static double d[NY * NX];
    for (int y = 0; y < NY; y++)
        for (int x = 0; x < NX; x++) d[y * NX + x] = 280 + 10 * sin(0.1 * x + 0.3) * cos(0.05 * y) + 1e-9 * x;
    climz_field f = {.type = CLIMZ_FLOAT64, .data = d, .nt = 1, .nz = 1, .ny = NY, .nx = NX};
    uint8_t buf[1 << 16];
    size_t size;
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, 0));
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, 0));
    CHECK_STATUS(climz_compress(ctx, &f, NULL, buf, sizeof buf, &size), CLIMZ_ERR_BOUND);
    CHECK(strstr(climz_ctx_last_error(ctx), "float64") != NULL);
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, 1e-4));
    CHECK_OK(climz_compress(ctx, &f, NULL, buf, sizeof buf, &size));
    climz_field g;
    double *o = decode_frame(buf, size, CLIMZ_FLOAT64, &g);
    CHECK(g.type == CLIMZ_FLOAT64 && g.nt == 1 && g.ny == NY && g.nx == NX && !(g.flags & CLIMZ_FIELD_FILL));
    double maxe = 0;
    for (int i = 0; i < NY * NX; i++) maxe = fmax(maxe, fabs(o[i] - d[i]));
    CHECK_MSG(maxe <= 1e-4, "float64 max error %g > 1e-4", maxe);
    free(o);

    /* -0.0 and 0.0 under _FillValue 0.0 are both missing and keep their bits; a negative row
     * stride (the rows given south to north) reads the same array */
    static float z[NY * NX];
    for (int i = 0; i < NY * NX; i++) z[i] = (float)(i % 11 == 0 ? (i % 2 ? -0.0 : 0.0) : 1 + 0.01 * i);
    climz_field fz = {.type = CLIMZ_FLOAT32, .data = z + (NY - 1) * NX, .nt = 1, .nz = 1, .ny = NY, .nx = NX,
                      .st = NY * NX, .sz = NY * NX, .sy = -NX, .sx = 1, .flags = CLIMZ_FIELD_FILL, .fill_value = 0.0};
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, 0.05));
    CHECK_OK(climz_compress(ctx, &fz, NULL, buf, sizeof buf, &size));
    float back[NY * NX];
    climz_field gz = {.type = CLIMZ_FLOAT32, .data = back + (NY - 1) * NX, .nt = 1, .nz = 1, .ny = NY, .nx = NX,
                      .st = NY * NX, .sz = NY * NX, .sy = -NX, .sx = 1};
    CHECK_OK(climz_decompress(ctx, buf, size, &gz));
    size_t bits = 0, bound = 0;
    for (int i = 0; i < NY * NX; i++) {
        if (z[i] == 0) bits += memcmp(&z[i], &back[i], 4) != 0;
        else bound += !(fabsf(back[i] - z[i]) <= 0.05f) || back[i] == 0;
    }
    CHECK_MSG(bits == 0 && bound == 0, "fill 0.0: %zu missing points lost their bits, %zu valid points broke", bits, bound);
    climz_field info;
    CHECK_OK(climz_frame_info(buf, size, &info));
    CHECK((info.flags & CLIMZ_FIELD_FILL) && info.fill_value == 0.0 && info.type == CLIMZ_FLOAT32);

    climz_field bad = f;
    bad.nx = 0;
    CHECK_STATUS(climz_compress(ctx, &bad, NULL, buf, sizeof buf, &size), CLIMZ_ERR_DIMENSION);
    bad = f;
    bad.type = (climz_type)7;
    CHECK_STATUS(climz_compress(ctx, &bad, NULL, buf, sizeof buf, &size), CLIMZ_ERR_INVALID_ARG);
    d[5] = INFINITY;
    CHECK_STATUS(climz_compress(ctx, &f, NULL, buf, sizeof buf, &size), CLIMZ_ERR_UNSUPPORTED);
    climz_compress_opts oc = {.codec = "zfp"};
    d[5] = 0;
    CHECK_STATUS(climz_compress(ctx, &f, &oc, buf, sizeof buf, &size), CLIMZ_ERR_UNSUPPORTED);
}

/* I: packed shorts (NOAA OI SST, scale 0.01) given unpacked: decoded values lie on the packing
 * grid, within the bound; below one quantum the values come back exactly */
static void packing(void) {
    climz_field f;
    double *lat = NULL;
    float *a = sample_field("reduced.nc", "sst", NAN, &f, &lat);
    if (!a) return;
    f.scale_factor = 0.01;
    f.add_offset = 0;
    size_t const n = f.nt * f.nz * f.ny * f.nx;
    double const bounds[] = {0.004, 0.01, 0.035};
    for (int k = 0; k < 3; k++) {
        size_t size;
        uint8_t *b = frame_of(&f, "residual", bounds[k], 0, &size);
        if (!b) continue;
        climz_field g;
        float *o = decode_frame(b, size, CLIMZ_FLOAT32, &g);
        CHECK(g.scale_factor == 0.01);
        size_t off_grid = 0, broken = 0, exact = 0, valid = 0;
        for (size_t i = 0; i < n; i++) {
            if (isnan(a[i])) continue;
            valid++;
            double const q = o[i] / 0.01;
            off_grid += fabs(q - nearbyint(q)) > 1e-3;
            broken += !(fabs((double)o[i] - a[i]) <= bounds[k]);
            exact += fabsf(o[i] - a[i]) <= 4 * FLT_EPSILON * fabsf(a[i]); /* up to the unpacking's rounding */
        }
        CHECK_MSG(off_grid == 0 && broken == 0, "packing, bound %g: %zu off the grid, %zu beyond the bound", bounds[k],
                  off_grid, broken);
        if (bounds[k] < 0.01) CHECK_MSG(exact == valid, "bound below a quantum: %zu of %zu exact", exact, valid);
        printf("reduced.nc sst packed 0.01, bound %g: %zu bytes, %zu of %zu exact\n", bounds[k], size, exact, valid);
        free(o);
        free(b);
    }
    free(a);
    free(lat);
}

int main(void) {
    ctx = climz_ctx_create();
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 2));
    same_as_file("hgt.nc", "HGT", NAN, "residual", 1e-3);
    same_as_file("model_T.nc", "T", -2.56e33f, "residual", 1e-3);
    same_as_file("bcsd_obs_1999.nc", "pr", NAN, "residual", 1e-2);
    same_as_file("tas_rectilinear_grid_2D.nc", "tas", NAN, "vaeformer", 1e-2);
    same_as_file("model_T.nc", "T", -2.56e33f, "vaeformer", 1e-2);
    slices("hgt.nc", "HGT", "residual");
    slices("hgt.nc", "HGT", "vaeformer");
    noise_bound_and_damage();
    descriptors();
    packing();
    climz_ctx_free(ctx);
    return tu_finish();
}
