/* bench_memory.c — the in-memory API against the file path, side by side in one run: for each
 * field and codec, the median wall time of climz_compress on the caller's array and of
 * climz_compress_file on the same field in a NetCDF file, and likewise for decoding
 * (climz_decompress into an array, climz_reader_read of the whole variable, and
 * climz_decompress_file to NetCDF). Frames and files must hold the same codec chunks, so the
 * sizes are printed side by side too.
 *
 *   bench_memory DATA_DIR OUT_DIR [REPS]     (REPS timed runs after one warm-up, default 5)
 *
 * Fields: HGT of data/hgt.nc step 0 interpolated bilinearly to a 721 x 1440 (0.25 degree)
 * grid, written as NetCDF for the file path (residual and the VAEformer); and the bundled
 * samples as they are (residual, VAEformer, VAEformer with a bound of 1 % of the range). */
#include "climz.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAXREP 21

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double const x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void die(const char *what, climz_ctx *ctx) {
    fprintf(stderr, "bench_memory: %s: %s\n", what, ctx ? climz_ctx_last_error(ctx) : "");
    exit(1);
}

/* A field read back from a .clz of the file (the lossless residual coding of its variable), so
 * the memory path sees exactly the values the file path reads. */
static float *load_var(climz_ctx *ctx, const char *nc, const char *var, const char *tmp, climz_field *f) {
    const char *vars[] = {var, NULL};
    climz_compress_opts o = {.codec = "residual", .vars = vars};
    climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, 0);
    climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, 0);
    if (climz_compress_file(ctx, nc, tmp, &o)) die(nc, ctx);
    climz_reader *r;
    if (climz_reader_open(ctx, tmp, &r)) die(tmp, ctx);
    climz_var_info in;
    climz_reader_var(r, 0, &in);
    size_t const n = in.nt * in.nz * in.ny * in.nx;
    float *a = malloc(n * sizeof *a);
    *f = (climz_field){.type = CLIMZ_FLOAT32, .data = a, .nt = in.nt, .nz = in.nz, .ny = in.ny, .nx = in.nx};
    if (climz_reader_read(ctx, r, 0, 0, in.nt, f)) die("read", ctx);
    climz_reader_free(r);
    return a;
}

/* HGT step 0 on a 0.25-degree grid, also written to nc_path as NetCDF-4 (float, lat, lon) */
static float *quarter_degree(climz_ctx *ctx, const char *data_dir, const char *tmp, const char *nc_path,
                             climz_field *f) {
    char p[1024];
    snprintf(p, sizeof p, "%s/hgt.nc", data_dir);
    climz_field h;
    float *src = load_var(ctx, p, "HGT", tmp, &h);
    size_t const NY = 721, NX = 1440;
    float *a = malloc(NY * NX * sizeof *a);
    double *lat = malloc(NY * sizeof *lat), *lon = malloc(NX * sizeof *lon);
    for (size_t y = 0; y < NY; y++) {
        double const fy = (double)y / 10.0; /* 73 rows of 2.5 degrees */
        size_t const y0 = (size_t)fy < 72 ? (size_t)fy : 71;
        double const wy = fy - (double)y0;
        lat[y] = 90.0 - 0.25 * (double)y;
        for (size_t x = 0; x < NX; x++) {
            double const fx = (double)x / 10.0;
            size_t const x0 = (size_t)fx % 144, x1 = (x0 + 1) % 144;
            double const wx = fx - floor(fx);
            const float *r0 = src + y0 * 144, *r1 = src + (y0 + 1) * 144;
            a[y * NX + x] = (float)((1 - wy) * ((1 - wx) * r0[x0] + wx * r0[x1]) + wy * ((1 - wx) * r1[x0] + wx * r1[x1]));
        }
    }
    for (size_t x = 0; x < NX; x++) lon[x] = 0.25 * (double)x;
    int nc, dy, dx, vy, vx, vv, dims[2];
    if (nc_create(nc_path, NC_CLOBBER | NC_NETCDF4, &nc) || nc_def_dim(nc, "lat", NY, &dy) ||
        nc_def_dim(nc, "lon", NX, &dx) || nc_def_var(nc, "lat", NC_DOUBLE, 1, &dy, &vy) ||
        nc_def_var(nc, "lon", NC_DOUBLE, 1, &dx, &vx) ||
        nc_put_att_text(nc, vy, "units", 13, "degrees_north") || nc_put_att_text(nc, vx, "units", 12, "degrees_east"))
        die("netcdf", NULL);
    dims[0] = dy, dims[1] = dx;
    if (nc_def_var(nc, "HGT", NC_FLOAT, 2, dims, &vv) || nc_put_att_text(nc, vv, "units", 1, "m") || nc_enddef(nc) ||
        nc_put_var_double(nc, vy, lat) || nc_put_var_double(nc, vx, lon) || nc_put_var_float(nc, vv, a) || nc_close(nc))
        die("netcdf write", NULL);
    free(src);
    free(lat);
    free(lon);
    *f = (climz_field){.type = CLIMZ_FLOAT32, .data = a, .nt = 1, .nz = 1, .ny = NY, .nx = NX};
    return a;
}

typedef struct codec_case {
    const char *label, *codec;
    double rel;
} codec_case;

/* ncases: the first ncases codec cases (the large field skips the bounded VAEformer) */
static void run(climz_ctx *ctx, const char *label, const char *nc, const char *var, climz_field *f,
                const char *out_dir, int reps, size_t ncases) {
    static const codec_case cases[] = {
        {"residual 1e-3", "residual", 1e-3}, {"vaeformer", "vaeformer", 0}, {"vaeformer+1e-2", "vaeformer", 1e-2}};
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    size_t const cap = climz_compress_bound(f);
    unsigned char *frame = malloc(cap);
    float *dec = malloc(n * sizeof *dec);
    char clz[1024], back[1024];
    snprintf(clz, sizeof clz, "%s/bench.clz", out_dir);
    snprintf(back, sizeof back, "%s/bench.nc", out_dir);
    const char *vars[] = {var, NULL};
    for (size_t c = 0; c < ncases && c < sizeof cases / sizeof *cases; c++) {
        climz_compress_opts o = {.codec = cases[c].codec, .vars = vars};
        climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, 0);
        climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, cases[c].rel);
        double tm[MAXREP], tf[MAXREP], dm[MAXREP], dr[MAXREP], df[MAXREP];
        size_t size = 0;
        for (int k = -1; k < reps; k++) { /* k = -1: warm-up (model loaded, caches filled) */
            double t0 = now();
            if (climz_compress(ctx, f, &o, frame, cap, &size)) die("climz_compress", ctx);
            double t1 = now();
            if (climz_compress_file(ctx, nc, clz, &o)) die("climz_compress_file", ctx);
            double t2 = now();
            climz_field g = *f;
            g.data = dec, g.st = g.sz = g.sy = g.sx = 0, g.lat = NULL;
            if (climz_decompress(ctx, frame, size, &g)) die("climz_decompress", ctx);
            double t3 = now();
            climz_reader *r;
            if (climz_reader_open(ctx, clz, &r) || climz_reader_read(ctx, r, 0, 0, f->nt, &g)) die("reader", ctx);
            climz_reader_free(r);
            double t4 = now();
            climz_decompress_opts d = {.vars = vars};
            if (climz_decompress_file(ctx, clz, back, &d)) die("climz_decompress_file", ctx);
            double t5 = now();
            if (k >= 0) tm[k] = t1 - t0, tf[k] = t2 - t1, dm[k] = t3 - t2, dr[k] = t4 - t3, df[k] = t5 - t4;
        }
        FILE *fp = fopen(clz, "rb");
        fseek(fp, 0, SEEK_END);
        long const fsize = ftell(fp);
        fclose(fp);
        double const a = median(tm, reps), b = median(tf, reps), x = median(dm, reps), y = median(dr, reps),
                     z = median(df, reps);
        printf("| %s | %s | %zu | %ld | %.4f | %.4f | %.2f | %.4f | %.4f | %.4f | %.2f |\n", label, cases[c].label, size,
               fsize, a, b, a / b, x, y, z, x / z);
        fflush(stdout);
    }
    free(frame);
    free(dec);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_memory DATA_DIR OUT_DIR [REPS]\n");
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    reps = reps < 1 ? 1 : reps > MAXREP ? MAXREP : reps;
    climz_ctx *ctx = climz_ctx_create();
    climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 1);
    char tmp[1024], nc[1024], p[1024];
    snprintf(tmp, sizeof tmp, "%s/load.clz", argv[2]);
    snprintf(nc, sizeof nc, "%s/hgt_0.25deg.nc", argv[2]);
    printf("| field | codec | frame bytes | file bytes | compress memory s | compress file s | memory / file | "
           "decompress memory s | reader s | decompress to NetCDF s | memory / file |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    climz_field f;
    float *a = quarter_degree(ctx, argv[1], tmp, nc, &f);
    run(ctx, "HGT 721 x 1440", nc, "HGT", &f, argv[2], reps, 2);
    free(a);
    static const char *const samples[][2] = {{"hgt.nc", "HGT"}, {"tas_rectilinear_grid_2D.nc", "tas"},
                                              {"model_T.nc", "T"}, {"era5-2mt-2019-03-01-02-uk.grib", "2t"}};
    for (size_t s = 0; s < sizeof samples / sizeof *samples; s++) {
        snprintf(p, sizeof p, "%s/%s", argv[1], samples[s][0]);
        a = load_var(ctx, p, samples[s][1], tmp, &f);
        run(ctx, samples[s][0], p, samples[s][1], &f, argv[2], reps, 3);
        free(a);
    }
    climz_ctx_free(ctx);
    return 0;
}
