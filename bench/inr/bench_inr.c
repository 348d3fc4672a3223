/*
 * bench_inr.c — CA-INR (src/inr) against plain INR, ZFP and the climz residual codec on the
 * CMIP5 MPI-ESM-LR 2005 monthly fields tas, uas, vas (12 x 96 x 192) with the fixed fields
 * orog and sftlf of the same grid (SPEC sections 4 and 8). Prints markdown to stdout.
 *
 *   OMP_WAIT_POLICY=passive build/bench/bench_inr [DATA_DIR] [--iters N] [--only tas|uas|vas]
 *                                                  [--quick]
 *
 * OMP_WAIT_POLICY=passive matters on a shared machine: the fit runs one parallel region per
 * step, and libgomp's default spinning at barriers made it 5x slower than one thread when
 * other processes competed for the 2 cores (passive: 1.9x faster than one thread).
 * READ ME FIRST
 *  - Ratio = float32 bytes of the field / coded bytes. Every INR row gives two ratios:
 *    "ext" with the contexts as external files named by hash (not counted), and "stored" with
 *    them in the file: orog and sftlf coded losslessly (the smaller of the climz residual codec
 *    at E = 0 and zstd -19 of the floats), the climatology (time mean of the variable) coded by
 *    the residual codec at E = CLIM_BOUND of its range. The INR is fitted and decoded with the
 *    DECODED climatology, so both ratios describe the same stream honestly. orog/sftlf would
 *    be shared by every variable of an archive; they are charged here to each one in full.
 *  - Sizes: each INR row asks inr_encode for a ratio target (width from the byte budget, then
 *    the weight bit width, with quantisation-aware fine-tuning); the row shows what it got.
 *  - Peers at matched ratio: ZFP fixed-rate at exactly the INR row's ratio (3-D (t, y, x)
 *    array), and the ZFP fixed-accuracy and climz residual codec (whole series as one 3-D
 *    block) sweeps interpolated at that ratio (linear in log ratio between sweep points).
 *  - Errors from src/metrics on all points: PSNR = 20 log10(range / RMSE), latitude-weighted
 *    RMSE (cos lat). RMSE <= 1 % of the range is PSNR >= 40 dB.
 *  - The "best ratio at RMSE <= 1 % R" table runs inr_encode with target_psnr = 40 at a few
 *    widths (loss not latitude-weighted there: the criterion is the plain RMSE) and keeps the
 *    smallest stream that meets it; ZFP / residual from their sweeps;
 *    SZ3 quoted from SPEC section 8 (tas only).
 *  - Times: fit = inr_encode wall time (fit + bit-width search + fine-tuning + the encoder's
 *    own decode); dec = inr_decode wall time; threads = OMP_NUM_THREADS (default: all).
 */
#include "common/cz_common.h"
#include "inr/inr.h"
#include "io/dataset.h"
#include "metrics/metrics.h"
#include "residual/residual.h"

#include <zfp.h>
#include <zstd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BENCH_DEFAULT_DATA
#define BENCH_DEFAULT_DATA "../shared/data"
#endif

#define CLIM_BOUND 0.0025 /* residual-codec bound of the stored climatology, fraction of range */
#define CLIM_COARSE 0.01  /* the same for the cheapest stored variant */
#define MAXPTS 64

typedef struct curve { /* a peer's sweep: ratio ascending */
    int n;
    double ratio[MAXPTS], psnr[MAXPTS], lat_rmse[MAXPTS];
} curve;

typedef struct bench {
    const char *dir;
    int iters, quick;
    const char *only;
    cz_field orog, sftlf;
    size_t orog_bytes, sftlf_bytes;
} bench;

static void die(const char *what, climz_status st) {
    fprintf(stderr, "bench_inr: %s: %s (%s)\n", what, climz_status_name(st), cz_error_message());
    exit(1);
}

static void load(const bench *b, const char *file, const char *var, cz_field *f) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", b->dir, file);
    cz_dataset *ds = NULL;
    climz_status st = io_open(path, &ds);
    if (st) die(path, st);
    int const v = io_find_var(ds, var);
    if (v < 0) die(var, CLIMZ_ERR_NOT_FOUND);
    if ((st = io_load_field(ds, v, f))) die(var, st);
    io_free(ds);
}

static met_stats compare(const cz_field *f, const float *dec) {
    met_field_view const v = {f->values, dec, f->miss, f->lat, f->nt * f->nz, f->ny, f->nx};
    met_stats s;
    climz_status const st = met_compare(&v, &s);
    if (st) die("metrics", st);
    return s;
}

/* Lossless bytes of a static 2-D field: the smaller of residual E = 0 and zstd -19. */
static size_t lossless_bytes(const cz_field *f) {
    size_t const n = f->ny * f->nx;
    cz_buf out = {0};
    res_params const rp = {0, 0};
    climz_status const st = res_encode(f->values, f->miss, NULL, NULL, 1, f->ny, f->nx, &rp, &out, NULL);
    if (st) die("lossless context", st);
    size_t best = out.size;
    size_t const cap = ZSTD_compressBound(n * 4);
    void *z = malloc(cap);
    size_t const zs = ZSTD_compress(z, cap, f->values, n * 4, 19);
    if (!ZSTD_isError(zs) && zs < best) best = zs;
    free(z);
    cz_buf_free(&out);
    return best;
}

/* ---- peers ---------------------------------------------------------------------------------- */

/* ZFP on the (t, y, x) array: mode 0 fixed accuracy (p = tolerance), 1 fixed rate (p = bits
 * per value). Returns the coded bytes; dec receives the reconstruction. */
static size_t zfp_run(const cz_field *f, int mode, double p, float *dec, double *enc_s, double *dec_s) {
    size_t const n = f->nt * f->ny * f->nx;
    zfp_field *fld = zfp_field_3d(f->values, zfp_type_float, f->nx, f->ny, f->nt);
    zfp_stream *zs = zfp_stream_open(NULL);
    if (mode == 0) zfp_stream_set_accuracy(zs, p);
    else zfp_stream_set_rate(zs, p, zfp_type_float, 3, 0);
    size_t const cap = zfp_stream_maximum_size(zs, fld);
    void *buf = malloc(cap);
    bitstream *bs = stream_open(buf, cap);
    zfp_stream_set_bit_stream(zs, bs);
    zfp_stream_rewind(zs);
    double t0 = cz_now();
    size_t const bytes = zfp_compress(zs, fld);
    if (enc_s) *enc_s = cz_now() - t0;
    zfp_stream_rewind(zs);
    zfp_field_set_pointer(fld, dec);
    t0 = cz_now();
    if (!bytes || !zfp_decompress(zs, fld)) die("zfp", CLIMZ_ERR_GENERIC);
    if (dec_s) *dec_s = cz_now() - t0;
    (void)n;
    stream_close(bs);
    free(buf);
    zfp_field_free(fld);
    zfp_stream_close(zs);
    return bytes;
}

static size_t res_run(const cz_field *f, double E, float *dec) {
    cz_buf out = {0};
    res_params const rp = {E, 0};
    climz_status const st = res_encode(f->values, f->miss, NULL, NULL, f->nt, f->ny, f->nx, &rp, &out, dec);
    if (st) die("residual", st);
    size_t const s = out.size;
    cz_buf_free(&out);
    return s;
}

static void curve_add(curve *c, double ratio, const met_stats *s) {
    if (c->n == MAXPTS) return;
    int i = c->n++;
    while (i > 0 && c->ratio[i - 1] > ratio) { /* keep sorted by ratio */
        c->ratio[i] = c->ratio[i - 1], c->psnr[i] = c->psnr[i - 1], c->lat_rmse[i] = c->lat_rmse[i - 1];
        i--;
    }
    c->ratio[i] = ratio, c->psnr[i] = s->psnr, c->lat_rmse[i] = s->lat_rmse;
}

/* Value of a curve at ratio r, linear in log r; NAN outside the swept range. */
static double curve_at(const curve *c, double r, int which) {
    for (int i = 0; i + 1 < c->n; i++)
        if (c->ratio[i] <= r && r <= c->ratio[i + 1]) {
            double const u = (log(r) - log(c->ratio[i])) / (log(c->ratio[i + 1]) - log(c->ratio[i]));
            double const a = which ? c->lat_rmse[i] : c->psnr[i], b = which ? c->lat_rmse[i + 1] : c->psnr[i + 1];
            return a + u * (b - a);
        }
    return NAN;
}

/* Best ratio among points of a curve with PSNR >= 40 (RMSE <= 1 % R). */
static double curve_best40(const curve *c) {
    double best = NAN;
    for (int i = 0; i < c->n; i++)
        if (c->psnr[i] >= 40.0 && !(c->ratio[i] <= best)) best = c->ratio[i];
    return best;
}

static void sweep_peers(const cz_field *f, double range, curve *zacc, curve *zres) {
    size_t const n = f->nt * f->ny * f->nx;
    float *dec = malloc(n * sizeof *dec);
    for (int k = -14; k <= 6; k++) { /* zfp rounds tolerances down to powers of 2 */
        double const tol = ldexp(1.0, k);
        size_t const bytes = zfp_run(f, 0, tol, dec, NULL, NULL);
        met_stats const s = compare(f, dec);
        double const r = 4.0 * n / bytes;
        if (r >= 4 && r <= 3000) curve_add(zacc, r, &s);
    }
    for (int k = 0; k < 28; k++) { /* E from 1e-4 R to ~0.3 R, quarter octaves above 1e-3 */
        double const E = range * 1e-4 * pow(2.0, k * (k < 4 ? 1.0 : 0.5));
        size_t const bytes = res_run(f, E, dec);
        met_stats const s = compare(f, dec);
        double const r = 4.0 * n / bytes;
        if (r >= 4 && r <= 3000) curve_add(zres, r, &s);
    }
    free(dec);
}

/* ---- INR runs ---------------------------------------------------------------------------- */

typedef struct variant {
    const char *name;
    int orog, sftlf, clim, resgelu;
} variant;

typedef struct row {
    double ratio_ext, ratio_stored, psnr, lat_rmse, nrmse, fit_s, dec_s;
    size_t bytes, ctx_bytes;
    int width, bits, met;
} row;

static void run_inr(const bench *b, const cz_field *f, const float *clim, size_t clim_bytes,
                    const variant *v, const inr_config *cfg, row *r, float *dec) {
    inr_context ctx[3];
    int nctx = 0;
    r->ctx_bytes = 0;
    if (v->orog) ctx[nctx++] = (inr_context){b->orog.values, 0, 0, "orog"}, r->ctx_bytes += b->orog_bytes;
    if (v->sftlf) ctx[nctx++] = (inr_context){b->sftlf.values, 0, 0, "sftlf"}, r->ctx_bytes += b->sftlf_bytes;
    if (v->clim) ctx[nctx++] = (inr_context){clim, 0, 1, "clim"}, r->ctx_bytes += clim_bytes;
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    cz_buf out = {0};
    inr_stats s;
    double const t0 = cz_now();
    climz_status st = inr_encode(f, ctx, nctx, cfg, NULL, NULL, &out, dec, &s);
    if (st) die("inr_encode", st);
    r->fit_s = cz_now() - t0;
    float *d2 = malloc(n * sizeof *d2);
    double const t1 = cz_now();
    st = inr_decode(out.data, out.size, ctx, nctx, f->nt, f->nz, f->ny, f->nx, f->lat, f->lon, d2);
    r->dec_s = cz_now() - t1;
    if (st) die("inr_decode", st);
    if (memcmp(d2, dec, n * sizeof *d2) != 0) die("inr_decode differs from the encoder's", CLIMZ_ERR_DETERMINISM);
    free(d2);
    met_stats const m = compare(f, dec);
    r->bytes = out.size;
    r->ratio_ext = 4.0 * n / out.size;
    r->ratio_stored = 4.0 * n / (out.size + r->ctx_bytes);
    r->psnr = m.psnr, r->lat_rmse = m.lat_rmse, r->nrmse = m.nrmse;
    r->width = s.width, r->bits = s.bits, r->met = s.target_met;
    cz_buf_free(&out);
}

static void fmt(char *buf, size_t cap, double v, const char *f) {
    if (isnan(v)) snprintf(buf, cap, "-");
    else snprintf(buf, cap, f, v);
}

static void bench_var(bench *b, const char *file, const char *var, double sz3_1pct) {
    cz_field f = {0};
    load(b, file, var, &f);
    size_t const n = f.nt * f.nz * f.ny * f.nx;
    float *dec = malloc(n * sizeof *dec);
    printf("\n## %s\n", var);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) lo = f.values[i] < lo ? f.values[i] : lo, hi = f.values[i] > hi ? f.values[i] : hi;
    double const range = hi - lo;

    /* the climatology, stored lossy; the INR uses the decoded one */
    size_t const vol = f.nz * f.ny * f.nx;
    float *clim = malloc(vol * sizeof *clim), *climd = malloc(vol * sizeof *climd);
    climz_status st = inr_climatology(&f, clim);
    if (st) die("climatology", st);
    double clo = INFINITY, chi = -INFINITY;
    for (size_t i = 0; i < vol; i++) clo = clim[i] < clo ? clim[i] : clo, chi = clim[i] > chi ? clim[i] : chi;
    cz_buf cb = {0};
    res_params const rp = {CLIM_BOUND * (chi - clo), 0};
    if ((st = res_encode(clim, NULL, NULL, NULL, f.nz, f.ny, f.nx, &rp, &cb, climd))) die("clim", st);
    size_t const clim_bytes = cb.size;
    /* a coarse one (E = CLIM_COARSE of the range) for the cheapest stored variant */
    float *climc = malloc(vol * sizeof *climc);
    cb.size = 0;
    res_params const rpc = {CLIM_COARSE * (chi - clo), 0};
    if ((st = res_encode(clim, NULL, NULL, NULL, f.nz, f.ny, f.nx, &rpc, &cb, climc))) die("clim", st);
    size_t const climc_bytes = cb.size;
    cz_buf_free(&cb);

    printf("\n%zu x %zu x %zu, range %.4g\n\n", f.nt, f.ny, f.nx, range);
    printf("Stored contexts: orog %zu B, sftlf %zu B (lossless), climatology %zu B (residual codec, "
           "E = %.2g %% of its range %.3g; %zu B at E = %.2g %%, used only where marked \"coarse clim\").\n\n",
           b->orog_bytes, b->sftlf_bytes, clim_bytes, 100 * CLIM_BOUND, chi - clo, climc_bytes,
           100 * CLIM_COARSE);

    curve zacc = {0}, zres = {0};
    double const tp = cz_now();
    sweep_peers(&f, range, &zacc, &zres);
    double const peers_s = cz_now() - tp;

    /* rows: every variant at 400x, 150x, 60x on tas; the largest size (20x, wide and slow
     * networks) and the uas/vas tables with plain INR and CA-INR all only */
    static const variant V[8] = {{"plain INR", 0, 0, 0, 0},        {"CA-INR orog", 1, 0, 0, 0},
                                 {"CA-INR sftlf", 0, 1, 0, 0},     {"CA-INR clim", 0, 0, 1, 0},
                                 {"CA-INR sftlf+clim", 0, 1, 1, 0}, {"CA-INR all", 1, 1, 1, 0},
                                 {"CA-INR all, RESGELU", 1, 1, 1, 1}, {NULL, 0, 0, 0, 0}};
    int const is_tas = !strcmp(var, "tas");
    static const double ratios_tas[4] = {400, 150, 60, 20}, ratios_wind[3] = {400, 150, 50};
    double const *ratios = is_tas ? ratios_tas : ratios_wind;
    int const nrat = b->quick ? 2 : (is_tas ? 4 : 3);
    printf("| variant | target | ratio ext | ratio stored | bytes | width | bits | PSNR dB | lat-RMSE | "
           "RMSE/R %% | ZFP rate PSNR | ZFP acc PSNR | residual PSNR | ZFP rate lat-RMSE | fit s | dec s |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int ri = 0; ri < nrat; ri++) {
        for (int vi = 0; V[vi].name; vi++) {
            int const full = is_tas && ratios[ri] > 25;
            if (!full && vi != 0 && vi != 5) continue;
            if (V[vi].resgelu && ratios[ri] != 150) continue;
            inr_config c;
            inr_config_default(&c);
            c.iters = b->iters;
            c.target_ratio = ratios[ri];
            if (V[vi].resgelu) c.arch = INR_RESGELU, c.depth = 2, c.n_fourier = 16;
            row r;
            run_inr(b, &f, climd, clim_bytes, &V[vi], &c, &r, dec);
            /* ZFP fixed rate at exactly this ratio */
            float *zd = malloc(n * sizeof *zd);
            size_t const zb = zfp_run(&f, 1, 32.0 / r.ratio_ext, zd, NULL, NULL);
            met_stats const zm = compare(&f, zd);
            free(zd);
            char a[6][32];
            fmt(a[0], 32, curve_at(&zacc, r.ratio_ext, 0), "%.2f");
            fmt(a[1], 32, curve_at(&zres, r.ratio_ext, 0), "%.2f");
            printf("| %s | %.0f | %.1f | %.1f | %zu | %d | %d | %.2f | %.3f | %.2f | %.2f (%.0fx) | %s | %s | %.3f | %.1f | %.2f |\n",
                   V[vi].name, ratios[ri], r.ratio_ext, r.ratio_stored, r.bytes, r.width, r.bits, r.psnr,
                   r.lat_rmse, 100 * r.nrmse, zm.psnr, 4.0 * n / zb, a[0], a[1], zm.lat_rmse, r.fit_s, r.dec_s);
            fflush(stdout);
        }
    }

    /* best ratio at RMSE <= 1 % R (PSNR >= 40) */
    printf("\nBest ratio with RMSE <= 1 %% of the range (PSNR >= 40 dB):\n\n");
    printf("| codec | ratio ext | ratio stored | width | bits | PSNR | fit s |\n|---|---:|---:|---:|---:|---:|---:|\n");
    typedef struct search {
        int vi, coarse, nw, w[3];
    } search;
    static const search S_tas[5] = {{0, 0, 3, {48, 64, 80}},
                                    {5, 0, 3, {20, 24, 32}},
                                    {4, 0, 3, {20, 24, 32}},
                                    {3, 1, 2, {24, 32, 0}},
                                    {-1, 0, 0, {0}}};
    static const search S_wind[3] = {{0, 0, 1, {128}}, {5, 0, 1, {96}}, {-1, 0, 0, {0}}};
    for (search const *q = is_tas ? S_tas : S_wind; q->vi >= 0; q++) {
        row best = {0};
        for (int k = 0; k < (b->quick ? 1 : q->nw); k++) {
            inr_config c;
            inr_config_default(&c);
            c.iters = b->iters;
            c.width = q->w[k];
            c.target_psnr = 40.0;
            c.lat_weighted = 0; /* the criterion is the plain RMSE */
            row r;
            run_inr(b, &f, q->coarse ? climc : climd, q->coarse ? climc_bytes : clim_bytes, &V[q->vi], &c, &r, dec);
            if (r.psnr >= 40.0 && r.ratio_ext > best.ratio_ext) best = r;
        }
        char const *const tag = q->coarse ? ", coarse clim" : "";
        if (best.ratio_ext > 0)
            printf("| %s%s | %.1f | %.1f | %d | %d | %.2f | %.1f |\n", V[q->vi].name, tag, best.ratio_ext,
                   best.ratio_stored, best.width, best.bits, best.psnr, best.fit_s);
        else
            printf("| %s%s | not reached at width %d..%d | | | | | |\n", V[q->vi].name, tag, q->w[0],
                   q->w[q->nw - 1]);
    }
    char z1[32], z2[32];
    fmt(z1, 32, curve_best40(&zacc), "%.1f");
    fmt(z2, 32, curve_best40(&zres), "%.1f");
    printf("| ZFP fixed accuracy (sweep) | %s | | | | | |\n| climz residual (sweep) | %s | | | | | |\n", z1, z2);
    if (sz3_1pct > 0) printf("| SZ3 (SPEC section 8) | %.1f | | | | | |\n", sz3_1pct);
    printf("\n(peer sweeps: %.1f s)\n", peers_s);
    free(dec), free(clim), free(climd), free(climc);
    io_field_free(&f);
}

int main(int argc, char **argv) {
    bench b = {0};
    b.dir = BENCH_DEFAULT_DATA;
    b.iters = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) b.iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) b.only = argv[++i];
        else if (!strcmp(argv[i], "--quick")) b.quick = 1;
        else if (argv[i][0] != '-') b.dir = argv[i];
        else {
            fprintf(stderr, "usage: bench_inr [DATA_DIR] [--iters N] [--only tas|uas|vas] [--quick]\n");
            return 2;
        }
    }
    double const t0 = cz_now();
    load(&b, "orog_mod1_rectilinear_grid_2D.nc", "orog", &b.orog);
    load(&b, "sftlf_mod1_rectilinear_grid_2D.nc", "sftlf", &b.sftlf);
    b.orog_bytes = lossless_bytes(&b.orog);
    b.sftlf_bytes = lossless_bytes(&b.sftlf);
    printf("# bench_inr: CA-INR vs plain INR, ZFP %s, climz residual\n\n", zfp_version_string);
    printf("data %s; %d threads; %d iterations per fit (+ fine-tuning); defaults of inr_config_default "
           "(SIREN, depth 3, omega0 30, no Fourier features, batch 2048, lr 0.2/width, latitude-weighted loss)\n",
           b.dir, cz_num_threads(), b.iters);
    if (!b.only || !strcmp(b.only, "tas")) bench_var(&b, "tas_rectilinear_grid_2D.nc", "tas", 65.6);
    if (!b.only || !strcmp(b.only, "uas")) bench_var(&b, "uas_rectilinear_grid_2D.nc", "uas", 0);
    if (!b.only || !strcmp(b.only, "vas")) bench_var(&b, "vas_rectilinear_grid_2D.nc", "vas", 0);
    printf("\nTotal %.0f s\n", cz_now() - t0);
    io_field_free(&b.orog), io_field_free(&b.sftlf);
    return 0;
}
