/*
 * bench_vae.c — the VAEformer codec on held-out time steps of real data, side by side with
 * ZFP (libzfp) and the climz residual codec at matched RMSE (SPEC sections 3, 7 and 8).
 * Prints markdown tables to stdout.
 *
 *   build/bench/bench_vae --model M1.safetensors [--model M2 ...] [--data DIR] [--only LABEL]
 *                         [--no-peers] [--no-train] [--tile N] [--opt KEY=VALUE]...
 *
 * READ ME FIRST
 *  - Held-out steps: the last steps of every series, never seen in training (the split of
 *    models/README.md): navy winds 1991-1992 (steps 108..131), HGT steps 17..20, ERA5 2 m
 *    temperature days 18-21 (steps 408..503), CMIP5 tas months 10-12 (steps 9..11), fice
 *    the last 12 months (steps 108..119), GrADS model T day 5 (7 levels), and, only with
 *    --only etopo5 (slow), the 2161 x 4320 etopo5 relief, a resolution never trained on.
 *    R = the value range of the whole variable (as in SPEC section 8, whose SZ3 figures
 *    cover the whole series).
 *  - The VAEformer rows run the real codec (src/api/codec_vaeformer.c) on the held-out
 *    steps: bytes = every chunk payload it writes + 32 bytes of container index per chunk
 *    (the file's fixed header and schema are left out, as for the peers). Decoding runs the
 *    real decoder on the container image and must give the encoder's reconstruction bit for
 *    bit (checked; a mismatch is printed, never hidden).
 *  - "VAE + residual E": the residual stage of the codec (res_encode of time blocks with the
 *    neural reconstruction as prediction) swept over E; the neural reconstruction is the fast one
 *    (the file codec uses the deterministic synthesis with a bound: same size within bytes).
 *  - Peers: ZFP fixed accuracy (tolerances 2^k, per step 2-D and the whole held-out block
 *    3-D), ZFP fixed rate, and the climz residual codec alone (time blocks of
 *    res_time_block() steps, as the driver writes it), swept over E.
 *    "Best ratio at RMSE <= target" is taken over each sweep. SZ3 is quoted from SPEC.
 *  - Speed: encode/decode MB/s of float32 and seconds per step on the threads OpenMP gives
 *    (OMP_NUM_THREADS; decoding and model loading: the median of 5 to 41 runs, as the
 *    machine is shared; with one thread on the thread's CPU clock, as the sgemm reference),
 *    the decoder's FLOPs per step (counted from the config: g_s, and h_s
 *    for the share of samples that code a z) against the
 *    OpenBLAS sgemm rate measured in the same run, and training samples/s (phase 1 and 2,
 *    batch 8 of 64 x 64 crops).
 */
#include "api/codec.h"
#include "container/container.h"
#include "io/dataset.h"
#include "metrics/metrics.h"
#include "nn/nn.h"
#include "nn/rng.h"
#include "residual/residual.h"
#include "vae/vae_codec.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zfp.h>

#ifndef BENCH_DEFAULT_DATA
#define BENCH_DEFAULT_DATA "../shared/data"
#endif
#define MAX_MODELS 16
#define MAX_PTS 1024 /* points of one sweep series: models x bounds */

extern const api_codec api_codec_vaeformer;

typedef struct bdata {
    const char *file, *var, *label;
    size_t t0, nt;          /* held-out steps */
    double sz3_rm1, sz3_rm01; /* SZ3 best ratio at RMSE <= 1 % R, 0.1 % R (SPEC section 8), NAN if none */
} bdata;

static const bdata datasets[] = {
    {"monthly_navy_winds.cdf", "UWND", "UWND", 108, 24, 33.5, 8.70},
    {"monthly_navy_winds.cdf", "VWND", "VWND", 108, 24, 32.8, 8.46},
    {"hgt.nc", "HGT", "HGT", 17, 4, 81.4, 19.9},
    {"era5-2mt-2019-03-uk-days01-21.grib", "2t", "ERA5 2t", 408, 96, 73.1, 10.6},
    {"tas_rectilinear_grid_2D.nc", "tas", "tas", 9, 3, 65.6, 11.7},
    {"fice.nc", "fice", "fice", 108, 12, NAN, NAN},
    {"model.ctl", "T", "model T", 4, 1, NAN, NAN}, /* 7 levels: channels of a CRA5-style model */
    {"etopo5.cdf", "ROSE", "etopo5", 0, 1, 346.5, 25.2}, /* only with --only etopo5 (slow) */
};

typedef struct pt {
    double ratio, rmse, lat_rmse, maxe;
} pt;

typedef struct series {
    pt p[MAX_PTS];
    int n;
} series;

static void add_pt(series *s, double ratio, double rmse, double lat_rmse, double maxe) {
    if (s->n == MAX_PTS) { /* a best-of-sweep over a truncated sweep would be wrong */
        fprintf(stderr, "bench_vae: more than %d points in a series\n", MAX_PTS);
        exit(1);
    }
    s->p[s->n++] = (pt){ratio, rmse, lat_rmse, maxe};
}

static double best_ratio(const series *s, double target) {
    double b = NAN;
    for (int i = 0; i < s->n; i++)
        if (s->p[i].rmse <= target && !(s->p[i].ratio <= b)) b = s->p[i].ratio;
    return b;
}

/* the held-out block */
typedef struct blk {
    size_t nt, ny, nx, n; /* nt = planes = steps * levels */
    size_t steps, nz;
    float *x;
    uint8_t *miss;
    double *lat;
    double R;
} blk;

static double rmse_of(const blk *b, const float *y, double *lat_rmse, double *maxe) {
    double s = 0, sw = 0, ws = 0, m = 0;
    size_t nv = 0;
    for (size_t t = 0; t < b->nt; t++)
        for (size_t i = 0; i < b->ny; i++) {
            double const w = b->lat ? cos(b->lat[i] * M_PI / 180.0) : 1.0;
            for (size_t j = 0; j < b->nx; j++) {
                size_t const k = (t * b->ny + i) * b->nx + j;
                if (b->miss[k]) continue;
                double const e = (double)y[k] - (double)b->x[k];
                s += e * e;
                sw += w * e * e;
                ws += w;
                nv++;
                m = fabs(e) > m ? fabs(e) : m;
            }
        }
    if (lat_rmse) *lat_rmse = ws > 0 ? sqrt(sw / ws) : NAN;
    if (maxe) *maxe = m;
    return nv ? sqrt(s / (double)nv) : NAN;
}

static int cmp_f(const void *a, const void *b) {
    float const x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* quantile (type 7) of sorted v[0..n) */
static double qtl(const float *v, size_t n, double p) {
    double const h = (double)(n - 1) * p;
    size_t const k = (size_t)floor(h);
    return k + 1 < n ? v[k] + (h - (double)k) * ((double)v[k + 1] - v[k]) : v[k];
}

/* SEDI and RQE at the 99 % quantile of the reference */
static void extremes99(const blk *b, const float *y, double *sedi, double *rqe) {
    float *r = malloc(b->n * sizeof *r), *d = malloc(b->n * sizeof *d);
    size_t nv = 0;
    for (size_t k = 0; k < b->n; k++)
        if (!b->miss[k]) r[nv] = b->x[k], d[nv] = y[k], nv++;
    qsort(r, nv, sizeof *r, cmp_f);
    qsort(d, nv, sizeof *d, cmp_f);
    double const qr = qtl(r, nv, 0.99), qd = qtl(d, nv, 0.99);
    *rqe = qr != 0 ? (qd - qr) / fabs(qr) : NAN;
    size_t a = 0, bb = 0, c = 0, dd = 0;
    for (size_t k = 0; k < b->n; k++) {
        if (b->miss[k]) continue;
        int const er = b->x[k] > qr, et = y[k] > qr;
        a += er && et, bb += !er && et, c += er && !et, dd += !er && !et;
    }
    *sedi = met_sedi(a, bb, c, dd);
    free(r);
    free(d);
}

/* ---- FLOPs of the decoder side (h_s + g_s), counted from the config ------------------------ */

static double block_flops(size_t T, size_t C, size_t hid, size_t Tw) {
    return (double)T * (2.0 * (4.0 * C * C + 2.0 * C * hid) + 4.0 * (double)C * (double)Tw);
}

static size_t win_tokens(const vae_config *c, int kind, size_t h, size_t w) {
    size_t r = h, q = w;
    if (kind == VAE_WIN_S) r = c->win_s[0], q = c->win_s[1];
    if (kind == VAE_WIN_EW) r = c->win_ew[0], q = c->win_ew[1];
    if (kind == VAE_WIN_NS) r = c->win_ns[0], q = c->win_ns[1];
    return (r < h ? r : h) * (q < w ? q : w);
}

/* flops of decoding one (H, W) sample: h_s on the hyper grid, then g_s */
/* FLOPs of decoding one (H, W) sample: g_s, plus h_s in *hs_flops (run only for samples that
 * code a z); the encoder's in *enc_flops (NULL: not wanted). */
static double decode_flops(const vae_config *c, size_t H, size_t W, double *hs_flops, double *enc_flops) {
    vae_geom g;
    if (vae_geometry(c, H, W, &g)) return NAN;
    size_t const T = g.h * g.w, Tz = g.hz * g.wz, D = c->width, Dh = c->hyper_width, L = c->latent;
    size_t const hid = vae_config_hidden(c), hidh = (size_t)floor(c->mlp_ratio * (double)Dh + 0.5);
    size_t const r = c->hyper_patch, Cin = c->in_channels;
    double f = (double)Tz * 2.0 * ((double)c->hyper_latent * Dh + (double)Dh * Dh + (double)Dh * 2 * L * r * r);
    for (size_t i = 0; i < c->hyper_blocks_s; i++) f += block_flops(Tz, Dh, hidh, Tz);
    *hs_flops = f;
    f = (double)T * 2.0 * L * D;
    for (size_t i = 0; i < c->n_dec; i++) f += block_flops(T, D, hid, win_tokens(c, c->dec[i], g.h, g.w));
    f += (double)T * 2.0 * D * Cin * c->patch_kh * c->patch_kw;
    if (enc_flops) {
        double e = (double)T * 2.0 * D * Cin * c->patch_kh * c->patch_kw;
        for (size_t i = 0; i < c->n_enc; i++) e += block_flops(T, D, hid, win_tokens(c, c->enc[i], g.h, g.w));
        e += 2 * block_flops(T, D, hid, T) + (double)T * 2.0 * 2 * D * 2 * L;
        e += (double)Tz * 2.0 * ((double)Dh * L * r * r + (double)Dh * Dh + (double)Dh * c->hyper_latent);
        for (size_t i = 0; i < c->hyper_blocks_a; i++) e += block_flops(Tz, Dh, hidh, Tz);
        *enc_flops = e + f + *hs_flops; /* the encoder also runs the decoder's path */
    }
    return f;
}

/* Decodes and model loads timed per run: at least BENCH_REPS, more (up to BENCH_REPS_MAX)
 * until BENCH_TIMED_S seconds are spent; the median is reported. */
#define BENCH_REPS 5
#define BENCH_REPS_MAX 41
#define BENCH_TIMED_S 0.5

static int more_reps(int k, double spent) { return k < BENCH_REPS || (k < BENCH_REPS_MAX && spent < BENCH_TIMED_S); }

/* The clock of timings: with one thread the calling thread's CPU clock (other jobs on the
 * shared machine do not count), else the wall clock. */
static double bench_clock(void) {
    return cz_num_threads() > 1 ? cz_now() : cz_thread_cpu_now();
}

static double sgemm_gflops(void) {
    size_t const n = 1024;
    float *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b), *c = malloc(n * n * sizeof *c);
    for (size_t i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.2f;
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double const t0 = bench_clock();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n,
                    0.0f, c, (int)n);
        double const t = bench_clock() - t0;
        best = t < best ? t : best;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * (double)n * n * n / best * 1e-9;
}

/* ---- ZFP and the residual codec -------------------------------------------------------------- */

/* bytes of ZFP on x (nb blocks of nz*ny*nx), decoded into y; mode 0 accuracy, 1 rate */
static size_t zfp_code(int mode, double p, const float *x, float *y, size_t nb, size_t nz, size_t ny, size_t nx) {
    zfp_stream *zs = zfp_stream_open(NULL);
    if (mode == 0) zfp_stream_set_accuracy(zs, p);
    else zfp_stream_set_rate(zs, p, zfp_type_float, nz > 1 ? 3 : 2, zfp_false);
    size_t const bs = nz * ny * nx;
    memcpy(y, x, nb * bs * sizeof *y);
    zfp_field *f = nz > 1 ? zfp_field_3d(y, zfp_type_float, nx, ny, nz) : zfp_field_2d(y, zfp_type_float, nx, ny);
    size_t const cap = zfp_stream_maximum_size(zs, f);
    void *buf = malloc(cap);
    size_t total = 0;
    for (size_t b = 0; b < nb; b++) {
        bitstream *s = stream_open(buf, cap);
        zfp_stream_set_bit_stream(zs, s);
        zfp_stream_rewind(zs);
        zfp_field_set_pointer(f, y + b * bs);
        size_t const r = zfp_compress(zs, f);
        zfp_stream_rewind(zs);
        zfp_decompress(zs, f);
        stream_close(s);
        total += r + (nb > 1 ? 4 : 0);
    }
    free(buf);
    zfp_field_free(f);
    zfp_stream_close(zs);
    return total;
}

static void zfp_sweeps(const blk *b, series *acc, series *rate) {
    float *xf = malloc(b->n * sizeof *xf), *y = malloc(b->n * sizeof *y);
    /* missing points: the block's mean (ZFP has no mask; they are not scored) */
    double mu = 0;
    size_t nv = 0;
    for (size_t k = 0; k < b->n; k++)
        if (!b->miss[k]) mu += b->x[k], nv++;
    mu = nv ? mu / (double)nv : 0;
    for (size_t k = 0; k < b->n; k++) xf[k] = b->miss[k] ? (float)mu : b->x[k];
    for (int k = (int)floor(log2(b->R)) - 16; k <= (int)ceil(log2(b->R)); k++)
        for (int three = 0; three < 2; three++) {
            if (three && b->nt < 4) continue;
            size_t const bytes = three ? zfp_code(0, ldexp(1, k), xf, y, 1, b->nt, b->ny, b->nx)
                                       : zfp_code(0, ldexp(1, k), xf, y, b->nt, 1, b->ny, b->nx);
            double lr, me;
            double const r = rmse_of(b, y, &lr, &me);
            add_pt(acc, 4.0 * (double)b->n / (double)bytes, r, lr, me);
        }
    const double rates[] = {0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16};
    for (size_t i = 0; i < sizeof rates / sizeof *rates; i++)
        for (int three = 0; three < 2; three++) {
            if (three && b->nt < 4) continue;
            size_t const bytes = three ? zfp_code(1, rates[i], xf, y, 1, b->nt, b->ny, b->nx)
                                       : zfp_code(1, rates[i], xf, y, b->nt, 1, b->ny, b->nx);
            double lr, me;
            double const r = rmse_of(b, y, &lr, &me);
            add_pt(rate, 4.0 * (double)b->n / (double)bytes, r, lr, me);
        }
    free(xf);
    free(y);
}

/* error bounds E / R of the residual sweeps: 0.05 down to 0.0005 in steps of 10^(1/20)
 * (12 %), and the round values in between (the ratio is not smooth in E: the best ratio at
 * a target RMSE is taken over all of them) */
static const double eround[] = {0.03, 0.02, 0.015, 0.007, 0.003, 0.002, 0.0015, 0.0007};
#define NE_GEO 41
#define NE (NE_GEO + sizeof eround / sizeof *eround)
static double esweep_at(size_t e) { return e < NE_GEO ? 0.05 * pow(10.0, -(double)e / 20.0) : eround[e - NE_GEO]; }

/* residual codec over E (pred NULL: alone; else on top of pred), extra bytes added; blocks of
 * res_time_block() steps, one chunk each, as the driver writes them */
static void residual_sweep(const blk *b, const float *pred, size_t extra_bytes, series *s) {
    size_t const plane = b->ny * b->nx, tb = res_time_block(plane, b->nt);
    float *y = malloc(b->n * sizeof *y);
    cz_buf out = {0};
    for (size_t e = 0; e < NE; e++) {
        res_params const rp = {.max_abs_error = esweep_at(e) * b->R};
        size_t bytes = extra_bytes;
        for (size_t t = 0; t < b->nt; t += tb) {
            size_t const n = t + tb <= b->nt ? tb : b->nt - t;
            out.size = 0;
            if (res_encode(b->x + t * plane, b->miss + t * plane, pred ? pred + t * plane : NULL, NULL, n, b->ny, b->nx,
                           &rp, &out, y + t * plane)) {
                fprintf(stderr, "res_encode: %s\n", cz_error_message());
                goto done;
            }
            bytes += out.size + 32;
        }
        double lr, me;
        double const r = rmse_of(b, y, &lr, &me);
        add_pt(s, 4.0 * (double)b->n / (double)bytes, r, lr, me);
    }
done:
    cz_buf_free(&out);
    free(y);
}

/* ---- the VAEformer codec ---------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double const x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

typedef struct vrun {
    const char *model;
    double lambda;
    size_t bytes, y_bytes, z_bytes;
    double t_enc, t_dec;
    met_stats s;
    double sedi99, rqe99;
    int exact;
    double interp;                 /* fraction of the samples interpolated instead of coded */
    double t_an, t_hy, t_en, t_sy; /* encoder's breakdown, seconds */
    float *rec;                    /* decoded (nt, ny, nx) */
    double dec_flops, enc_flops;   /* per step */
    double t_load;                 /* model load + table setup, part of t_enc and t_dec */
    double t_work;                 /* the decoder's own time: median of (decode - load) pairs */
} vrun;

/* codec options: timings=1 and those of the command line (--tile N is tile=N, --opt K=V) */
#define MAX_OPTS 8
static const char *codec_opts[MAX_OPTS + 2] = {"timings=1"};

static int run_vae(const blk *b, const char *model, vrun *v) {
    memset(v, 0, sizeof *v);
    v->model = model;
    cz_field f = {b->steps, b->nz, b->ny, b->nx, b->x, b->miss, b->lat, NULL, NULL};
    float *dec = malloc(b->n * sizeof *dec), *out = malloc(b->n * sizeof *out);
    climz_compress_opts co = {.codec = "vaeformer", .model = model, .options = codec_opts};
    climz_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    api_encode_args const a = {&ctx, &co, NULL, 0, &f, 0, NULL};
    clz_writer *w = NULL;
    clz_reader *r = NULL;
    json_t *entry = json_object();
    cz_buf img = {0};
    int ok = 0;
    clz_writer_create(&w);
    double t0 = bench_clock();
    if (api_codec_vaeformer.encode(&a, w, dec, entry)) {
        fprintf(stderr, "encode %s: %s\n", model, cz_error_message());
        goto done;
    }
    v->t_enc = bench_clock() - t0;
    json_t *shape = json_array(); /* what the driver adds to the entry (the decoder reads it) */
    size_t const dims[4] = {b->steps, b->nz, b->ny, b->nx};
    for (int k = 0; k < 4; k++) json_array_append_new(shape, json_integer((json_int_t)dims[k]));
    json_object_set_new(entry, "shape", shape);
    json_t *j = json_object_get(entry, "vaeformer");
    v->y_bytes = (size_t)json_integer_value(json_object_get(j, "y_bytes"));
    v->z_bytes = (size_t)json_integer_value(json_object_get(j, "z_bytes"));
    v->t_an = json_real_value(json_object_get(j, "seconds_analysis"));
    v->t_hy = json_real_value(json_object_get(j, "seconds_hyper"));
    v->t_en = json_real_value(json_object_get(j, "seconds_entropy"));
    v->t_sy = json_real_value(json_object_get(j, "seconds_synthesis"));
    clz_writer_finish_mem(w, "{}", &img);
    if (clz_reader_open_mem(img.data, img.size, &r)) {
        fprintf(stderr, "container: %s\n", cz_error_message());
        goto done;
    }
    for (size_t i = 0; i < clz_reader_nchunks(r); i++) v->bytes += clz_reader_chunk(r, i)->size + 32;
    cz_field g = {b->steps, b->nz, b->ny, b->nx, out, b->miss, b->lat, NULL, NULL};
    climz_decompress_opts dop = {.model = model};
    /* decode and model load (the same load and table setup as the codec's) timed in pairs,
     * so that the decoder's own time (decode - load) is taken under the same conditions */
    double td[BENCH_REPS_MAX], tl[BENCH_REPS_MAX], tw[BENCH_REPS_MAX], spent = 0;
    vae_model m;
    memset(&m, 0, sizeof m);
    int loaded = 1, nd = 0;
    for (; more_reps(nd, spent) && loaded; nd++) {
        if (nd) vae_model_free(&m);
        t0 = bench_clock();
        loaded = !vae_model_load(&m, model, 0, NULL);
        vae_coder cd;
        if (loaded && !vae_coder_init(&cd, &m, 0)) vae_coder_release(&cd);
        tl[nd] = bench_clock() - t0;
        t0 = bench_clock();
        if (api_codec_vaeformer.decode(NULL, r, 0, entry, &dop, &g, 0)) {
            fprintf(stderr, "decode %s: %s\n", model, cz_error_message());
            vae_model_free(&m);
            goto done;
        }
        td[nd] = bench_clock() - t0;
        tw[nd] = td[nd] - tl[nd];
        spent += td[nd] + tl[nd];
    }
    v->t_dec = median_of(td, nd);
    v->t_load = median_of(tl, nd);
    v->t_work = median_of(tw, nd);
    v->exact = 1;
    for (size_t k = 0; k < b->n; k++)
        if (!b->miss[k] && memcmp(&out[k], &dec[k], 4)) v->exact = 0;
    met_field_view const view = {b->x, out, b->miss, b->lat, b->nt, b->ny, b->nx};
    met_compare(&view, &v->s);
    extremes99(b, out, &v->sedi99, &v->rqe99);
    if (loaded) {
        const char *ft = vae_model_meta(&m, "vae.finetune"); /* JSON record of phase 2 */
        json_t *jf = ft ? json_loads(ft, 0, NULL) : NULL;
        json_t *jl = jf ? json_object_get(jf, "lambda") : NULL;
        v->lambda = json_is_number(jl) ? json_number_value(jl) : NAN;
        json_decref(jf);
        /* per step: a single-channel model codes each level as a sample, and each tile of a
         * plane (the codec's choice, recorded in the entry; same near-equal split) */
        double const per = m.cfg.in_channels == 1 ? (double)b->nz : 1.0;
        size_t const tl = (size_t)json_integer_value(json_object_get(j, "tile"));
        size_t const ty = tl ? (b->ny + tl - 1) / tl : 1, tx = tl ? (b->nx + tl - 1) / tl : 1;
        /* h_s runs only for the samples that code a z (a prediction group's others inherit) */
        double const coded = (double)json_integer_value(json_object_get(j, "coded_samples"));
        double const zfrac = coded > 0 ? (double)json_integer_value(json_object_get(j, "z_samples")) / coded : 1.0;
        /* the synthesis (and h_s) runs for the coded samples only, not the interpolated ones */
        double const ni = (double)json_integer_value(json_object_get(j, "interpolated_samples"));
        double const sfrac = coded + ni > 0 ? coded / (coded + ni) : 1.0;
        v->interp = 1.0 - sfrac;
        v->dec_flops = v->enc_flops = 0;
        for (size_t i = 0; i < ty; i++)
            for (size_t q = 0; q < tx; q++) {
                size_t const h = b->ny * (i + 1) / ty - b->ny * i / ty, w = b->nx * (q + 1) / tx - b->nx * q / tx;
                double e = 0, hs = 0;
                v->dec_flops += per * sfrac * (decode_flops(&m.cfg, h, w, &hs, &e) + zfrac * hs);
                v->enc_flops += per * e;
            }
        vae_model_free(&m);
    }
    v->rec = out;
    out = NULL;
    ok = 1;
done:
    json_decref(entry);
    clz_writer_free(w);
    clz_reader_free(r);
    cz_buf_free(&img);
    free(dec);
    free(out);
    return ok;
}

/* ---- training throughput ------------------------------------------------------------------- */

static void bench_train(const char *model) {
    size_t const B = 8, H = 64, W = 64;
    printf("\n### Training throughput (%s, batch %zu of %zu x %zu crops, %d threads)\n\n", model, B, H, W,
           cz_num_threads());
    printf("| phase | s/iteration | samples/s |\n|---|---:|---:|\n");
    for (int ph = 1; ph <= 2; ph++) {
        vae_model m;
        memset(&m, 0, sizeof m);
        if (vae_model_load(&m, model, 1, NULL)) {
            printf("| %d | (load failed: %s) | |\n", ph, cz_error_message());
            return;
        }
        if (ph == 2) nn_params_freeze_group(&m.p, "encoder", 1);
        vae_trainer *t = NULL;
        if (vae_trainer_create(&t, &m, ph == 1 ? VAE_PHASE_PRETRAIN : VAE_PHASE_FINETUNE, B, H, W)) {
            printf("| %d | (trainer: %s) | |\n", ph, cz_error_message());
            vae_model_free(&m);
            return;
        }
        float *x = malloc(B * m.cfg.in_channels * H * W * sizeof *x);
        nn_rng rng;
        nn_rng_seed(&rng, 5);
        for (size_t i = 0; i < B * m.cfg.in_channels * H * W; i++)
            x[i] = sinf((float)(i % W) * 0.1f) + 0.3f * nn_rng_normal(&rng);
        vae_losses l;
        nn_params_zero_grad(&m.p);
        vae_trainer_step(t, x, NULL, NULL, ph == 1 ? 1e-3 : 1e-2, &rng, &l); /* warm-up */
        int const reps = 4;
        double const t0 = cz_now();
        for (int r = 0; r < reps; r++) {
            nn_params_zero_grad(&m.p);
            vae_trainer_step(t, x, NULL, NULL, ph == 1 ? 1e-3 : 1e-2, &rng, &l);
        }
        double const dt = (cz_now() - t0) / reps;
        printf("| %s | %.3f | %.1f |\n", ph == 1 ? "1 (pretrain)" : "2 (finetune, encoder frozen)", dt,
               (double)B / dt);
        free(x);
        vae_trainer_free(t);
        vae_model_free(&m);
    }
}

/* ---- main ---------------------------------------------------------------------------------- */

static void fmt(char *buf, size_t cap, double v, const char *f) {
    if (isnan(v)) snprintf(buf, cap, "-");
    else snprintf(buf, cap, f, v);
}

static const char *base(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int main(int argc, char **argv) {
    const char *models[MAX_MODELS];
    int nm = 0, peers = 1, train = 1, nopt = 1;
    char tile_opt[32];
    const char *dir = BENCH_DEFAULT_DATA, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc && nm < MAX_MODELS) models[nm++] = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc && nopt < MAX_OPTS + 1) {
            snprintf(tile_opt, sizeof tile_opt, "tile=%s", argv[++i]);
            codec_opts[nopt++] = tile_opt;
        } else if (!strcmp(argv[i], "--opt") && i + 1 < argc && nopt < MAX_OPTS + 1)
            codec_opts[nopt++] = argv[++i];
        else if (!strcmp(argv[i], "--no-peers")) peers = 0;
        else if (!strcmp(argv[i], "--no-train")) train = 0;
        else {
            fprintf(stderr, "usage: bench_vae --model M [--model M2 ...] (at most 16) [--data DIR] [--only LABEL] [--tile N] "
                            "[--opt KEY=VALUE]... [--no-peers] [--no-train]\n");
            return 2;
        }
    }
    if (!nm) {
        fprintf(stderr, "bench_vae: give at least one --model\n");
        return 2;
    }
    openblas_set_num_threads(cz_num_threads()); /* the same thread count for sgemm and the codec */
    double const gf = sgemm_gflops();
    openblas_set_num_threads(1); /* the codec's products split rows over OpenMP (nn_blas_single_thread) */
    printf("## VAEformer on held-out time steps\n\n");
    printf("%d OpenMP threads; OpenBLAS sgemm (1024^3) %.1f GFLOP/s measured in this run.\n", cz_num_threads(), gf);
    for (int k = 0; k < nm; k++) printf("- model %d: `%s`\n", k + 1, models[k]);
    printf("- codec options:");
    for (int k = 0; k < nopt; k++) printf(" `%s`", codec_opts[k]);
    printf("\n");

    for (size_t d = 0; d < sizeof datasets / sizeof *datasets; d++) {
        const bdata *D = &datasets[d];
        if (only ? strcmp(only, D->label) != 0 : !strcmp(D->label, "etopo5")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, D->file);
        cz_dataset *ds = NULL;
        cz_field all = {0}, hf = {0};
        if (io_open(path, &ds)) {
            printf("\n(%s: %s — skipped)\n", D->label, cz_error_message());
            continue;
        }
        int const vi = io_find_var(ds, D->var);
        if (vi < 0 || io_load_field(ds, vi, &all) || io_load_field_times(ds, vi, D->t0, D->nt, &hf)) {
            printf("\n(%s: cannot load %s — skipped)\n", D->label, D->var);
            io_free(ds);
            continue;
        }
        double lo = INFINITY, hi = -INFINITY;
        for (size_t k = 0; k < all.nt * all.nz * all.ny * all.nx; k++)
            if (!all.miss[k]) lo = all.values[k] < lo ? all.values[k] : lo, hi = all.values[k] > hi ? all.values[k] : hi;
        blk b = {hf.nt * hf.nz, hf.ny, hf.nx, hf.nt * hf.nz * hf.ny * hf.nx, hf.nt, hf.nz, hf.values, hf.miss, hf.lat,
                 hi - lo};
        double const mb = 4.0 * (double)b.n / 1e6;
        printf("\n### %s (%s), held-out steps %zu..%zu: %zu x %zu x %zu x %zu, R = %.5g\n\n", D->label, D->file, D->t0,
               D->t0 + D->nt - 1, b.steps, b.nz, b.ny, b.nx, b.R);
        printf("| model | lambda | ratio | bits/value | RMSE | lat RMSE | RMSE/R %% | max err | SEDI99 | RQE99 | "
               "enc MB/s | dec MB/s | enc s/step | dec s/step | interp. %% | exact |\n");
        printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        vrun runs[MAX_MODELS];
        series vae_pts = {0}, vae_res = {0};
        double const gf_set = sgemm_gflops(); /* again next to this set's timings: the machine is shared */
        for (int k = 0; k < nm; k++) {
            vrun *v = &runs[k];
            if (!run_vae(&b, models[k], v)) {
                printf("| %s | failed | | | | | | | | | | | | | | |\n", base(models[k]));
                v->rec = NULL;
                continue;
            }
            double const ratio = 4.0 * (double)b.n / (double)v->bytes;
            char lam[32];
            fmt(lam, sizeof lam, v->lambda, "%.3g");
            printf("| %s | %s | %.1f | %.3f | %.4g | %.4g | %.3f | %.4g | %.3f | %+.4f | %.2f | %.2f | %.4f | %.4f | %.0f | "
                   "%s |\n",
                   base(models[k]), lam, ratio, 8.0 * (double)v->bytes / (double)b.n, v->s.rmse, v->s.lat_rmse,
                   100 * v->s.rmse / b.R, v->s.max_abs_error, v->sedi99, v->rqe99, mb / v->t_enc, mb / v->t_dec,
                   v->t_enc / (double)b.steps, v->t_dec / (double)b.steps, 100 * v->interp, v->exact ? "yes" : "**NO**");
            add_pt(&vae_pts, ratio, v->s.rmse, v->s.lat_rmse, v->s.max_abs_error);
            residual_sweep(&b, v->rec, v->bytes, &vae_res);
        }
        /* speed breakdown */
        printf("\nPer step (%zu x %zu; sgemm %.1f GFLOP/s measured before this set): ", b.ny, b.nx, gf_set);
        for (int k = 0; k < nm; k++) {
            const vrun *v = &runs[k];
            if (!v->rec) continue;
            double const st = (double)b.steps;
            double const td = v->t_work, gfd = v->dec_flops * st / td * 1e-9;
        printf("%s%s: encoder stages analysis %.4f s, h_s %.4f s, rANS %.4f s, synthesis %.4f s (thread-seconds); "
               "model load %.4f s per call; decoder %.3g GFLOP/step in %.4f s/step (load excluded) = %.2f GFLOP/s "
               "= %.0f%% of sgemm (decode time = %.2fx FLOPs/sgemm); encoder %.3g GFLOP/step",
               k ? "; " : "", base(v->model), v->t_an / st, v->t_hy / st, v->t_en / st, v->t_sy / st, v->t_load,
               v->dec_flops * 1e-9, td / st, gfd, 100 * gfd / gf_set, gf_set / gfd, v->enc_flops * 1e-9);
        }
        printf("\n");
        if (peers) {
            series zacc = {0}, zrate = {0}, res = {0};
            zfp_sweeps(&b, &zacc, &zrate);
            residual_sweep(&b, NULL, 0, &res);
            printf("\nBest ratio at RMSE <= target (targets: 1 %% R, 0.1 %% R, and each model's RMSE):\n\n");
            printf("| target RMSE | VAEformer | VAE + residual | climz residual | ZFP accuracy | ZFP rate | SZ3 (SPEC) | "
                   "VAE best / SZ3 |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            double targets[2 + MAX_MODELS];
            const char *tname[2 + MAX_MODELS];
            char tbuf[MAX_MODELS][64];
            int nt = 0;
            targets[nt] = 0.01 * b.R, tname[nt++] = "1 % R";
            targets[nt] = 0.001 * b.R, tname[nt++] = "0.1 % R";
            for (int k = 0; k < nm; k++)
                if (runs[k].rec) {
                    snprintf(tbuf[k], sizeof tbuf[k], "%s's %.4g", base(models[k]), runs[k].s.rmse);
                    targets[nt] = runs[k].s.rmse, tname[nt++] = tbuf[k];
                }
            for (int i = 0; i < nt; i++) {
                double const rv = best_ratio(&vae_pts, targets[i]), rr = best_ratio(&vae_res, targets[i]);
                double const sz3 = i == 0 ? D->sz3_rm1 : i == 1 ? D->sz3_rm01 : NAN;
                double const bestv = isnan(rv) ? rr : isnan(rr) ? rv : fmax(rv, rr);
                char c[7][32];
                fmt(c[0], 32, rv, "%.1f");
                fmt(c[1], 32, rr, "%.1f");
                fmt(c[2], 32, best_ratio(&res, targets[i]), "%.1f");
                fmt(c[3], 32, best_ratio(&zacc, targets[i]), "%.1f");
                fmt(c[4], 32, best_ratio(&zrate, targets[i]), "%.1f");
                fmt(c[5], 32, sz3, "%.1f");
                fmt(c[6], 32, bestv / sz3, "%.2f");
                printf("| %s (%.4g) | %s | %s | %s | %s | %s | %s | %s |\n", tname[i], targets[i], c[0], c[1], c[2], c[3],
                       c[4], c[5], c[6]);
            }
        }
        for (int k = 0; k < nm; k++) free(runs[k].rec);
        io_field_free(&all);
        io_field_free(&hf);
        io_free(ds);
        fflush(stdout);
    }
    if (train) bench_train(models[0]);
    return 0;
}
