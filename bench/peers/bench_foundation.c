/*
 * bench_foundation.c — the climz error-bounded residual codec side by side with ZFP, fpzip and
 * zstd on real data (SPEC sections 7 and 8). Prints markdown tables to stdout.
 *
 *   OMP_NUM_THREADS=1 build/bench/bench_foundation [DATA_DIR] [--reps N] [--only LABEL]
 *                                                  [--no-sweep]
 *
 * READ ME FIRST
 *  - Fields are read through src/io (io_open + io_load_field), the reader `climz compress`
 *    uses. Every codec compresses float32 and is measured the same way: ratio = float32 bytes
 *    / coded bytes, RMSE and max abs error of what the decoder returns (src/metrics), compress
 *    and decompress MB/s of float32 on one thread, median of --reps runs (default 3), timed
 *    with the thread's CPU clock (the shared machine's wall clock counts other jobs' time; the
 *    wall-clock medians are in the summary).
 *  - climz is measured as the file driver codes it (src/api/codec_residual.c): time steps in
 *    blocks of res_time_block(plane, nt) stacked as the planes of one residual stream, one
 *    chunk per block, each chunk charged its 32-byte index entry (doc/format.md section 4), plus
 *    the mask chunks of steps with missing points. "climz 3-D" (the whole series as one
 *    stream, the layout ZFP 3-D uses) is the upper reference; "climz --temporal" is the
 *    driver's other mode (one step per chunk, predicted from the previous decoded step). The
 *    container's preamble, JSON header and schema chunk are not charged (see `climz info`).
 *  - Peers are raw streams; those that code one stream per time step (ZFP 2-D) are charged
 *    4 bytes per step for an offset table.
 *  - Table 1, error bound E = 1e-2, 1e-3, 1e-4 of the value range R (and E = 0.1 m/s on UWND):
 *    climz, ZFP fixed-accuracy at tolerance E (whole (t, y, x) array as 3-D and per step as
 *    2-D; the better is reported) and ZFP tuned on the field (largest 2^k whose measured max
 *    error is <= E), fpzip lossy at the smallest precision whose max error is <= E, and once
 *    per field the lossless floors fpzip lossless and zstd -19.
 *  - Table 2, RMSE-matched: the best ratio with RMSE <= 1 % R and <= 0.1 % R, from sweeps:
 *    ZFP accuracy tolerances 2^k (zfp rounds the tolerance down to a power of 2, so these are
 *    all its distinct settings), fixed precisions and fixed rates, 3-D and 2-D; climz over E,
 *    driver layout and 3-D; fpzip over precision. SPEC section 8 gives this column for SZ3
 *    and ZFP.
 *  - SZ3 cannot be run here (not packaged): its ratios are quoted from SPEC section 8.
 *  - The bench trusts nothing: every decoded field is compared with the original point by
 *    point, and a bound that is not met is flagged in the table, never hidden.
 */
#include "common/cz_common.h"
#include "container/mask.h"
#include "io/dataset.h"
#include "metrics/metrics.h"
#include "residual/residual.h"

#include <fpzip.h>
#include <zfp.h>
#include <zstd.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifndef BENCH_DEFAULT_DATA
#define BENCH_DEFAULT_DATA "../shared/data"
#endif

#define CHUNK_INDEX_BYTES 32 /* one entry of the container's chunk index (doc/format.md 4.1) */
#define PEER_STEP_BYTES 4    /* per-step offset charged to peers that code steps apart */

/* ---- the data ------------------------------------------------------------------------------ */

typedef struct bfield {
    const char *label;    /* "UWND" */
    size_t ntime, nlev;   /* the driver's (nt, nz) */
    size_t nt, ny, nx, n; /* nt = ntime*nlev (levels folded into t for the peers); n = nt*ny*nx */
    float *x;
    uint8_t *miss;        /* n codes, 0 = valid; all zero when nothing is missing */
    double *lat;          /* ny or NULL */
    double lo, hi, range;
    size_t nmiss;
    size_t tblock;        /* res_time_block(nlev*ny*nx, ntime): steps per driver chunk */
    size_t mask_bytes;    /* the driver's mask chunks (steps with missing points), index included */
    size_t mask_chunks;
} bfield;

/* SZ3 and ZFP reference ratios of SPEC section 8 (NAN = not given there). */
typedef struct bref {
    double sz3_e1, sz3_e01;     /* SZ3, max error E = 1 % R, 0.1 % R */
    double sz3_rm1, sz3_rm01;   /* SZ3 @ RMSE <= 1 % R, 0.1 % R */
    double zfp_rm1, zfp_rm01;   /* ZFP @ RMSE <= 1 % R, 0.1 % R */
    double sz3_abs;             /* SZ3 at the extra absolute bound (UWND 0.1 m/s) */
} bref;

typedef struct bdata {
    const char *file, *var, *label;
    double abs_e;  /* extra absolute bound, 0 = none */
    bref ref;
    const char *note;
} bdata;

static const bdata bench_sets[] = {
    {"monthly_navy_winds.cdf", "UWND", "UWND", 0.1, {21.4, 7.2, 33.5, 8.70, 13.7, 5.93, 9.65}, NULL},
    {"monthly_navy_winds.cdf", "VWND", "VWND", 0, {NAN, NAN, 32.8, 8.46, 15.4, 6.23, NAN}, NULL},
    {"hgt.nc", "HGT", "HGT", 0, {47.2, 15.0, 81.4, 19.9, 20.4, 7.94, NAN}, NULL},
    {"era5-2mt-2019-03-uk-days01-21.grib", "2t", "ERA5 2t", 0, {31.7, 8.5, 73.1, 10.6, 24.5, 7.17, NAN},
     "SPEC's ERA5 figures are for the whole month (744 x 33 x 49); this file holds days 1-21 "
     "(504 steps), so its SZ3/ZFP columns compare with a longer series"},
    {"tas_rectilinear_grid_2D.nc", "tas", "tas", 0, {34.3, 9.2, 65.6, 11.7, 25.8, 7.87, NAN}, NULL},
    {"etopo5.cdf", "ROSE", "etopo5", 0, {81.2, 17.2, 346.5, 25.2, 25.8, 11.5, NAN}, NULL},
};
#define NSETS (sizeof bench_sets / sizeof bench_sets[0])

static void field_free(bfield *f) {
    free(f->x);
    free(f->miss);
    free(f->lat);
    memset(f, 0, sizeof *f);
}

/* What the driver's mask chunks cost (src/api/compress.c: one per step with a missing point). */
static climz_status field_mask_cost(bfield *f) {
    size_t const plane = f->nlev * f->ny * f->nx;
    cz_buf b = {0};
    climz_status st = CLIMZ_OK;
    for (size_t t = 0; t < f->ntime && !st; t++) {
        const uint8_t *m = f->miss + t * plane;
        size_t i = 0;
        while (i < plane && !m[i]) i++;
        if (i == plane) continue;
        b.size = 0;
        st = clz_mask_encode_rows(m, plane, f->nx, &b);
        f->mask_bytes += b.size + CHUNK_INDEX_BYTES;
        f->mask_chunks++;
    }
    cz_buf_free(&b);
    return st;
}

/* Through the io module: the same reader `climz compress` uses. */
static climz_status load_field(const char *dir, const bdata *d, bfield *f) {
    char path[4096];
    cz_dataset *ds = NULL;
    cz_field cf = {0};
    snprintf(path, sizeof path, "%s/%s", dir, d->file);
    CZ_FORWARD(io_open(path, &ds));
    int const vi = io_find_var(ds, d->var);
    if (vi < 0) {
        io_free(ds);
        return cz_error(CLIMZ_ERR_NOT_FOUND, "%s: no variable %s", path, d->var);
    }
    climz_status const st = io_load_field(ds, vi, &cf);
    io_free(ds);
    CZ_FORWARD(st);
    memset(f, 0, sizeof *f);
    f->label = d->label;
    f->ntime = cf.nt;
    f->nlev = cf.nz;
    f->nt = cf.nt * cf.nz;
    f->ny = cf.ny;
    f->nx = cf.nx;
    f->n = f->nt * f->ny * f->nx;
    f->x = cf.values;
    f->miss = cf.miss;
    f->lat = cf.lat;
    cf.values = NULL;
    cf.miss = NULL;
    cf.lat = NULL;
    io_field_free(&cf);
    f->tblock = res_time_block(f->nlev * f->ny * f->nx, f->ntime);

    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < f->n; i++) {
        if (f->miss[i]) {
            f->nmiss++;
            continue;
        }
        lo = f->x[i] < lo ? f->x[i] : lo;
        hi = f->x[i] > hi ? f->x[i] : hi;
    }
    CZ_RETURN_IF(f->nmiss == f->n, CLIMZ_ERR_EMPTY, "%s: every point is missing", f->label);
    f->lo = lo;
    f->hi = hi;
    f->range = hi - lo;
    return field_mask_cost(f);
}

/* ---- codecs behind one interface ----------------------------------------------------------- */

typedef enum codec_id {
    C_RES_DRV,  /* climz residual as the driver codes it: param = E, time blocks, chunk per block */
    C_RES_TEMP, /* the driver's --temporal mode: a chunk per step, predicted from the previous */
    C_RES3,     /* the whole (t, y, x) series as one stream (nz = nt), like ZFP 3-D */
    C_ZFP3_ACC, /* ZFP fixed accuracy, param = tolerance, whole array 3-D */
    C_ZFP2_ACC, /* ZFP fixed accuracy, per time step 2-D */
    C_ZFP3_PREC, C_ZFP2_PREC, /* ZFP fixed precision, param = bits */
    C_ZFP3_RATE, C_ZFP2_RATE, /* ZFP fixed rate, param = bits per value */
    C_FPZIP,    /* param = precision bits (32 = lossless) */
    C_ZSTD,     /* param = level */
} codec_id;

static int is_climz(codec_id c) { return c == C_RES_DRV || c == C_RES_TEMP || c == C_RES3; }

static const char *codec_name(codec_id c) {
    switch (c) {
    case C_RES_DRV: return "climz (driver)";
    case C_RES_TEMP: return "climz --temporal";
    case C_RES3: return "climz 3-D";
    case C_ZFP3_ACC: case C_ZFP2_ACC: return "ZFP accuracy";
    case C_ZFP3_PREC: case C_ZFP2_PREC: return "ZFP precision";
    case C_ZFP3_RATE: case C_ZFP2_RATE: return "ZFP rate";
    case C_FPZIP: return "fpzip";
    case C_ZSTD: return "zstd";
    }
    return "?";
}

/* A coded field: one buffer (peers; off has nblk+1 entries for per-step streams), or one
 * output buffer per chunk (climz). */
typedef struct coded {
    uint8_t *buf;
    size_t cap, size; /* size = stream bytes */
    size_t *off;
    cz_buf *chunks;   /* climz: one output buffer per chunk, reused across timed runs */
    size_t nchunks;
    size_t bytes;     /* what the ratio is charged: streams + index/offset costs */
} coded;

static void coded_free(coded *e) {
    free(e->buf);
    free(e->off);
    for (size_t t = 0; t < e->nchunks; t++) cz_buf_free(&e->chunks[t]);
    free(e->chunks);
    memset(e, 0, sizeof *e);
}

static climz_status coded_reserve(coded *e, size_t cap, size_t nblk) {
    if (e->cap < cap) {
        free(e->buf);
        e->buf = malloc(cap);
        e->cap = e->buf ? cap : 0;
        CZ_RETURN_IF(!e->buf, CLIMZ_ERR_ALLOC, "out of memory (%zu bytes)", cap);
    }
    if (!e->off) {
        e->off = calloc(nblk + 1, sizeof *e->off);
        CZ_RETURN_IF(!e->off, CLIMZ_ERR_ALLOC, "out of memory");
    }
    return CLIMZ_OK;
}

static void bench_zfp_mode(zfp_stream *zs, codec_id c, double p, unsigned dims) {
    if (c == C_ZFP3_ACC || c == C_ZFP2_ACC) zfp_stream_set_accuracy(zs, p);
    else if (c == C_ZFP3_RATE || c == C_ZFP2_RATE) zfp_stream_set_rate(zs, p, zfp_type_float, dims, zfp_false);
    else zfp_stream_set_precision(zs, (unsigned)p);
}

/* ZFP over nblk blocks of (nz, ny, nx) each (nz = 1 -> 2-D), stream per block. */
static climz_status zfp_run(int enc, codec_id c, double p, float *x, size_t nblk, size_t nz, size_t ny,
                            size_t nx, coded *e) {
    zfp_stream *zs = zfp_stream_open(NULL);
    CZ_RETURN_IF(!zs, CLIMZ_ERR_ALLOC, "zfp_stream_open");
    bench_zfp_mode(zs, c, p, nz > 1 ? 3 : 2);
    size_t const blk = nz * ny * nx;
    zfp_field *fld = nz > 1 ? zfp_field_3d(x, zfp_type_float, nx, ny, nz)
                            : zfp_field_2d(x, zfp_type_float, nx, ny);
    climz_status st = CLIMZ_OK;
    if (!fld) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "zfp_field");
    if (enc) {
        size_t const maxb = zfp_stream_maximum_size(zs, fld);
        CZ_CHECK_GOTO(st, coded_reserve(e, maxb * nblk, nblk), done);
        e->off[0] = 0;
    }
    for (size_t b = 0; b < nblk; b++) {
        size_t const avail = enc ? e->cap - e->off[b] : e->off[b + 1] - e->off[b];
        bitstream *bs = stream_open(e->buf + e->off[b], avail);
        if (!bs) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "stream_open");
        zfp_stream_set_bit_stream(zs, bs);
        zfp_stream_rewind(zs);
        zfp_field_set_pointer(fld, x + b * blk);
        size_t const r = enc ? zfp_compress(zs, fld) : zfp_decompress(zs, fld);
        stream_close(bs);
        if (r == 0) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_GENERIC, "zfp %s failed", enc ? "compress" : "decompress");
        if (enc) e->off[b + 1] = e->off[b] + r;
    }
    if (enc) {
        e->size = e->off[nblk];
        e->bytes = e->size + (nblk > 1 ? PEER_STEP_BYTES * nblk : 0);
    }
done:
    zfp_field_free(fld);
    zfp_stream_close(zs);
    return st;
}

static climz_status fpzip_run(int enc, int prec, float *x, const bfield *f, coded *e) {
    if (enc) CZ_FORWARD(coded_reserve(e, f->n * 4 + f->n / 2 + 4096, 1));
    FPZ *fpz = enc ? fpzip_write_to_buffer(e->buf, e->cap) : fpzip_read_from_buffer(e->buf);
    CZ_RETURN_IF(!fpz, CLIMZ_ERR_GENERIC, "fpzip: %s", fpzip_errstr[fpzip_errno]);
    fpz->type = FPZIP_TYPE_FLOAT;
    fpz->prec = prec >= 32 ? 0 : prec;
    fpz->nx = (int)f->nx;
    fpz->ny = (int)f->ny;
    fpz->nz = (int)f->nt;
    fpz->nf = 1;
    size_t const r = enc ? fpzip_write(fpz, x) : fpzip_read(fpz, x);
    if (enc) fpzip_write_close(fpz);
    else fpzip_read_close(fpz);
    CZ_RETURN_IF(r == 0, CLIMZ_ERR_GENERIC, "fpzip: %s", fpzip_errstr[fpzip_errno]);
    if (enc) e->size = e->bytes = r;
    return CLIMZ_OK;
}

static climz_status zstd_run(int enc, int level, float *x, const bfield *f, coded *e) {
    size_t const raw = f->n * sizeof(float);
    if (enc) {
        CZ_FORWARD(coded_reserve(e, ZSTD_compressBound(raw), 1));
        size_t const r = ZSTD_compress(e->buf, e->cap, x, raw, level);
        CZ_RETURN_IF(ZSTD_isError(r), CLIMZ_ERR_GENERIC, "zstd: %s", ZSTD_getErrorName(r));
        e->size = e->bytes = r;
    } else {
        size_t const r = ZSTD_decompress(x, raw, e->buf, e->size);
        CZ_RETURN_IF(ZSTD_isError(r) || r != raw, CLIMZ_ERR_GENERIC, "zstd decompress failed");
    }
    return CLIMZ_OK;
}

/* Steps per climz chunk for codec c. */
static size_t res_block(codec_id c, const bfield *f) {
    return c == C_RES3 ? f->ntime : c == C_RES_TEMP ? 1 : f->tblock;
}

/* climz residual in the layout of codec c, as src/api/codec_residual.c does it: chunk b holds
 * steps [b*tb, min(ntime, (b+1)*tb)) as its planes (levels inside each step). `scratch`
 * receives what the encoder says the decoder will reproduce (checked against the real decoder
 * by the caller). Charged: streams + 32 bytes per chunk + the mask chunks. */
static climz_status res_run(int enc, codec_id c, double E, const bfield *f, float *x, float *scratch,
                            coded *e) {
    size_t const plane = f->nlev * f->ny * f->nx, tb = res_block(c, f);
    size_t const nb = (f->ntime + tb - 1) / tb;
    res_params const rp = {.max_abs_error = E, .temporal = c == C_RES_TEMP};
    if (!e->chunks) {
        e->chunks = calloc(nb, sizeof *e->chunks);
        CZ_RETURN_IF(!e->chunks, CLIMZ_ERR_ALLOC, "out of memory");
        e->nchunks = nb;
    }
    CZ_RETURN_IF(e->nchunks != nb, CLIMZ_ERR_INVALID_ARG, "coded field has %zu chunks, not %zu", e->nchunks, nb);
    if (enc) e->size = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t const t0 = b * tb, nz = (t0 + tb <= f->ntime ? tb : f->ntime - t0) * f->nlev;
        size_t const o = t0 * plane;
        if (enc) {
            const float *prev = rp.temporal && b ? scratch + o - plane : NULL;
            e->chunks[b].size = 0;
            CZ_FORWARD(res_encode(f->x + o, f->miss + o, NULL, prev, nz, f->ny, f->nx, &rp, &e->chunks[b],
                                  scratch + o));
            e->size += e->chunks[b].size;
        } else {
            const float *prev = rp.temporal && b ? x + o - plane : NULL;
            CZ_FORWARD(res_decode(e->chunks[b].data, e->chunks[b].size, f->miss + o, NULL, prev, nz, f->ny, f->nx,
                                  x + o));
        }
    }
    if (enc) e->bytes = e->size + CHUNK_INDEX_BYTES * nb + f->mask_bytes;
    return CLIMZ_OK;
}

/* enc = 1: code f->x into e; enc = 0: decode e into out. */
static climz_status codec_run(int enc, codec_id c, double p, const bfield *f, float *out, float *scratch,
                              coded *e) {
    float *const x = enc ? f->x : out;
    switch (c) {
    case C_RES_DRV:
    case C_RES_TEMP:
    case C_RES3:
        return res_run(enc, c, p, f, x, scratch, e);
    case C_ZFP3_ACC:
    case C_ZFP3_PREC:
    case C_ZFP3_RATE:
        return zfp_run(enc, c, p, x, 1, f->nt, f->ny, f->nx, e);
    case C_ZFP2_ACC:
    case C_ZFP2_PREC:
    case C_ZFP2_RATE:
        return zfp_run(enc, c, p, x, f->nt, 1, f->ny, f->nx, e);
    case C_FPZIP:
        return fpzip_run(enc, (int)p, x, f, e);
    case C_ZSTD:
        return zstd_run(enc, (int)p, x, f, e);
    }
    return CLIMZ_ERR_INVALID_ARG;
}

/* ---- measuring ----------------------------------------------------------------------------- */

typedef struct result {
    codec_id c;
    double param;
    int ok;              /* ran */
    size_t bytes, chunks; /* chunks: climz only */
    double ratio, rmse, maxe, lat_rmse;
    double cmbs, dmbs;   /* MB/s of float32 by the thread CPU clock, NAN when not timed */
    double cmbs_wall, dmbs_wall; /* the same by the wall clock */
    size_t violations;   /* points with |err| > bound (when a bound applies) */
    int enc_dec_differ;  /* climz: encoder's idea of the decoded field != decoder's */
    char err[160];
} result;

static int cmp_double(const void *a, const void *b) {
    double const x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct bench {
    float *dec, *scratch;
    coded e;
    int reps;
} bench;

/* Codes and decodes f with codec c at setting p; reps > 0 also times both sides (median).
 * bound > 0: counts the points where the decoded error exceeds it. */
static result measure(bench *b, const bfield *f, codec_id c, double p, double bound, int reps) {
    result r;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.param = p;
    r.cmbs = r.dmbs = r.cmbs_wall = r.dmbs_wall = NAN;
    coded_free(&b->e);
    double tc[16], td[16], wc[16], wd[16];
    int const nrun = reps > 0 ? (reps > 16 ? 16 : reps) : 1;
    climz_status st = CLIMZ_OK;
    for (int k = 0; k < nrun && !st; k++) {
        double const w0 = cz_now(), c0 = cz_thread_cpu_now();
        st = codec_run(1, c, p, f, NULL, b->scratch, &b->e);
        tc[k] = cz_thread_cpu_now() - c0;
        wc[k] = cz_now() - w0;
    }
    for (int k = 0; k < nrun && !st; k++) {
        double const w0 = cz_now(), c0 = cz_thread_cpu_now();
        st = codec_run(0, c, p, f, b->dec, NULL, &b->e);
        td[k] = cz_thread_cpu_now() - c0;
        wd[k] = cz_now() - w0;
    }
    if (st) {
        snprintf(r.err, sizeof r.err, "%s", cz_error_message());
        return r;
    }
    r.ok = 1;
    r.bytes = b->e.bytes;
    r.chunks = b->e.nchunks;
    r.ratio = met_ratio(f->n, r.bytes);
    double const mb = (double)f->n * 4.0 / 1e6;
    if (reps > 0) {
        r.cmbs = mb / median(tc, nrun);
        r.dmbs = mb / median(td, nrun);
        r.cmbs_wall = mb / median(wc, nrun);
        r.dmbs_wall = mb / median(wd, nrun);
    }
    if (is_climz(c)) r.enc_dec_differ = memcmp(b->scratch, b->dec, f->n * sizeof(float)) != 0;
    /* the decoder's output at missing points is not compared (as in climz eval) */
    met_field_view const v = {f->x, b->dec, f->miss, f->lat, f->nt, f->ny, f->nx};
    met_stats s;
    if (met_compare(&v, &s) != CLIMZ_OK) {
        r.ok = 0;
        snprintf(r.err, sizeof r.err, "metrics: %s", cz_error_message());
        return r;
    }
    r.rmse = s.rmse;
    r.maxe = s.max_abs_error;
    r.lat_rmse = s.lat_rmse;
    if (bound > 0 && met_bound_violations(&v, bound, &r.violations, NULL) != CLIMZ_OK) {
        r.ok = 0;
        snprintf(r.err, sizeof r.err, "bound check: %s", cz_error_message());
    }
    return r;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* ---- printing ------------------------------------------------------------------------------ */

static void fmt_num(char *s, size_t n, double v, const char *f) {
    if (isnan(v)) snprintf(s, n, "–");
    else snprintf(s, n, f, v);
}

static void setting_str(char *s, size_t n, const result *r) {
    switch (r->c) {
    case C_RES_DRV: snprintf(s, n, "E=%.4g, %zu chunks", r->param, r->chunks); break;
    case C_RES_TEMP: snprintf(s, n, "E=%.4g, %zu chunks", r->param, r->chunks); break;
    case C_RES3: snprintf(s, n, "3-D E=%.4g", r->param); break;
    case C_ZFP3_ACC: snprintf(s, n, "3-D tol=%.4g", r->param); break;
    case C_ZFP2_ACC: snprintf(s, n, "2-D/step tol=%.4g", r->param); break;
    case C_ZFP3_PREC: snprintf(s, n, "3-D prec=%d", (int)r->param); break;
    case C_ZFP2_PREC: snprintf(s, n, "2-D/step prec=%d", (int)r->param); break;
    case C_ZFP3_RATE: snprintf(s, n, "3-D rate=%.3g", r->param); break;
    case C_ZFP2_RATE: snprintf(s, n, "2-D/step rate=%.3g", r->param); break;
    case C_FPZIP: r->param >= 32 ? snprintf(s, n, "lossless") : snprintf(s, n, "prec=%d", (int)r->param); break;
    case C_ZSTD: snprintf(s, n, "-%d", (int)r->param); break;
    }
}

/* "yes", "**NO** (k pts > E)", "exact", ... plus " enc/dec differ!" for climz. */
static void bound_str(char *s, size_t n, const result *r, double bound) {
    if (!r->ok) snprintf(s, n, "failed");
    else if (bound > 0 && r->violations) snprintf(s, n, "**NO** (%zu pts > E)", r->violations);
    else if (bound > 0) snprintf(s, n, "yes");
    else snprintf(s, n, "%s", r->maxe == 0 ? "exact" : "**NOT EXACT**");
    if (r->ok && r->enc_dec_differ) snprintf(s + strlen(s), n - strlen(s), " enc/dec differ!");
}

/* One row of table 1. bound 0 = lossless row; zfp_ratio/sz3 NAN = not applicable. */
static void print_row(const char *data, const char *etxt, const result *r, double bound, double zfp_ratio,
                      double sz3, const char *extra) {
    char set[64], sz[32], rz[32], rs[32], cm[32], dm[32], ok[96];
    setting_str(set, sizeof set, r);
    if (!r->ok) {
        printf("| %s | %s | %s | %s | failed: %s | | | | | | | | |\n", data, etxt, codec_name(r->c), set, r->err);
        return;
    }
    fmt_num(sz, sizeof sz, sz3, "%.4g");
    fmt_num(rz, sizeof rz, zfp_ratio > 0 ? r->ratio / zfp_ratio : NAN, "%.2f");
    fmt_num(rs, sizeof rs, sz3 > 0 ? r->ratio / sz3 : NAN, "%.2f");
    fmt_num(cm, sizeof cm, r->cmbs, "%.1f");
    fmt_num(dm, sizeof dm, r->dmbs, "%.1f");
    bound_str(ok, sizeof ok, r, bound);
    printf("| %s | %s | %s | %s%s | %.2f | %.4g | %.4g | %s | %s | %s | %s | %s | %s |\n", data, etxt,
           codec_name(r->c), set, extra ? extra : "", r->ratio, r->rmse, r->maxe, ok, cm, dm, sz, rz, rs);
}

/* ---- the benchmark ------------------------------------------------------------------------- */

/* Everything table 1 measured for one field at one bound (kept for the summary). */
typedef struct brow {
    int used;
    double E, sz3;
    char etxt[64];
    result drv, temp, r3, zfp, ztuned, fz; /* temp/r3 unused (ok = 0) for one-step fields */
} brow;

/* fpzip: the smallest precision (fewest bits kept, best ratio) whose max error is <= E. fpzip
 * keeps the leading bits of each float, so the error only shrinks as bits are added: binary
 * search over [2, 32]. @return the precision, 32 = lossless. */
static int fpzip_prec_for_bound(bench *b, const bfield *f, double E) {
    int lo = 2, hi = 32; /* hi always meets the bound (32 is lossless) */
    while (lo < hi) {
        int const mid = (lo + hi) / 2;
        result const r = measure(b, f, C_FPZIP, mid, 0, 0);
        if (r.ok && r.maxe <= E) hi = mid;
        else lo = mid + 1;
    }
    return hi;
}

/* Table 1 rows for one field at one bound. */
static void bench_bound(bench *b, const bfield *f, const bdata *d, double E, const char *etxt, double sz3,
                        brow *row) {
    memset(row, 0, sizeof *row);
    row->used = 1;
    row->E = E;
    row->sz3 = sz3;
    snprintf(row->etxt, sizeof row->etxt, "%s", etxt);
    result const zfp3 = f->nt > 1 ? measure(b, f, C_ZFP3_ACC, E, E, b->reps) : (result){.ok = 0};
    result const zfp2 = measure(b, f, C_ZFP2_ACC, E, E, b->reps);
    result const *zbest = (!zfp3.ok || (zfp2.ok && zfp2.ratio >= zfp3.ratio)) ? &zfp2 : &zfp3;
    result const *zother = zbest == &zfp2 ? &zfp3 : &zfp2;
    double const zr = zbest->ok ? zbest->ratio : NAN;
    row->zfp = *zbest;

    row->drv = measure(b, f, C_RES_DRV, E, E, b->reps);
    print_row(d->label, etxt, &row->drv, E, zr, sz3, NULL);
    if (f->ntime > 1) { /* one step: 3-D and --temporal code exactly what the driver does */
        row->r3 = measure(b, f, C_RES3, E, E, b->reps);
        print_row(d->label, etxt, &row->r3, E, zr, sz3, NULL);
        row->temp = measure(b, f, C_RES_TEMP, E, E, b->reps);
        print_row(d->label, etxt, &row->temp, E, zr, sz3, NULL);
    }
    char extra[64] = "";
    if (zother->ok) snprintf(extra, sizeof extra, " (%s: %.2f)", zother == &zfp3 ? "3-D" : "2-D", zother->ratio);
    print_row(d->label, etxt, zbest, E, zr, sz3, extra);
    /* ZFP's tolerance is conservative (max error is often E/4): also the largest tolerance 2^k
     * whose measured max error still meets E, in the better layout. Not a zfp guarantee: a
     * tuning on this very field, reported as context only. */
    codec_id const zc = zbest->c; /* an accuracy mode */
    double tuned = 0;
    for (int k = (int)floor(log2(E)); k <= (int)floor(log2(E)) + 8; k++) {
        result const r = measure(b, f, zc, ldexp(1.0, k), 0, 0);
        if (r.ok && r.maxe <= E) tuned = ldexp(1.0, k);
        else if (r.ok) break;
    }
    if (tuned > 0) {
        row->ztuned = measure(b, f, zc, tuned, E, b->reps);
        print_row(d->label, etxt, &row->ztuned, E, zr, sz3, " (tuned on this field)");
    }
    int const prec = fpzip_prec_for_bound(b, f, E);
    row->fz = measure(b, f, C_FPZIP, prec, E, b->reps);
    print_row(d->label, etxt, &row->fz, E, zr, sz3, NULL);
    fflush(stdout);
}

/* Table 2: best ratio with RMSE <= target for each tool. */
typedef struct matched {
    result best;
    int found;
} matched;

static void consider(matched *m, const result *r, double target) {
    if (r->ok && r->rmse <= target && (!m->found || r->ratio > m->best.ratio)) {
        m->best = *r;
        m->found = 1;
    }
}

/* climz in layout c: E = T .. 8T in quarter octaves (a uniform quantiser gives RMSE ~ E/sqrt(3);
 * prediction from coarse levels can do better). */
static matched climz_sweep(bench *b, const bfield *f, codec_id c, double T) {
    matched m = {0};
    for (int j = 0; j <= 12; j++) {
        result const r = measure(b, f, c, T * pow(2.0, j / 4.0), 0, 0);
        if (!r.ok && j == 0) {
            m.best = r; /* keeps the error for the table */
            break;
        }
        consider(&m, &r, T);
    }
    return m;
}

static void matched_str(char *s, size_t n, const matched *m) {
    char set[64];
    if (!m->found) {
        snprintf(s, n, "– (%s)", m->best.err[0] ? m->best.err : "none meets T");
        return;
    }
    setting_str(set, sizeof set, &m->best);
    snprintf(s, n, "%.2f (%s)", m->best.ratio, set);
}

static void bench_matched(bench *b, const bfield *f, const bdata *d, double frac, double sz3, double zfp_spec) {
    double const T = frac * f->range;
    matched z = {0}, fz = {0};
    /* ZFP accuracy: tolerances 2^k around T (RMSE is a fraction of the tolerance) */
    int const k0 = (int)floor(log2(T));
    for (int k = k0 - 2; k <= k0 + 7; k++) {
        result r = measure(b, f, C_ZFP2_ACC, ldexp(1.0, k), 0, 0);
        consider(&z, &r, T);
        if (f->nt > 1) {
            r = measure(b, f, C_ZFP3_ACC, ldexp(1.0, k), 0, 0);
            consider(&z, &r, T);
        }
    }
    /* ZFP precision: the fewest bit planes meeting T (error shrinks with planes) */
    for (int layout = 0; layout < (f->nt > 1 ? 2 : 1); layout++) {
        codec_id const c = layout ? C_ZFP3_PREC : C_ZFP2_PREC;
        int lo = 1, hi = 32;
        while (lo < hi) {
            int const mid = (lo + hi) / 2;
            result const r = measure(b, f, c, mid, 0, 0);
            consider(&z, &r, T);
            if (r.ok && r.rmse <= T) hi = mid;
            else lo = mid + 1;
        }
        result const r = measure(b, f, c, lo, 0, 0);
        consider(&z, &r, T);
    }
    /* ZFP fixed rate: bisection on bits per value (the error shrinks as the rate grows) */
    for (int layout = 0; layout < (f->nt > 1 ? 2 : 1); layout++) {
        codec_id const c = layout ? C_ZFP3_RATE : C_ZFP2_RATE;
        double lo = 0.0625, hi = 32.0;
        for (int it = 0; it < 12; it++) {
            double const mid = sqrt(lo * hi);
            result const r = measure(b, f, c, mid, 0, 0);
            consider(&z, &r, T);
            if (r.ok && r.rmse <= T) hi = mid;
            else lo = mid;
        }
        result const r = measure(b, f, c, hi, 0, 0);
        consider(&z, &r, T);
    }
    /* climz as the driver codes it, and as one 3-D stream (the same thing for one step) */
    matched const drv = climz_sweep(b, f, C_RES_DRV, T);
    matched const r3 = f->ntime > 1 ? climz_sweep(b, f, C_RES3, T) : drv;
    /* fpzip: fewest bits meeting T */
    {
        int lo = 2, hi = 32;
        while (lo < hi) {
            int const mid = (lo + hi) / 2;
            result const r = measure(b, f, C_FPZIP, mid, 0, 0);
            if (r.ok && r.rmse <= T) hi = mid;
            else lo = mid + 1;
        }
        result const r = measure(b, f, C_FPZIP, lo, 0, 0);
        consider(&fz, &r, T);
    }
    char ds[256], rs[256], zs[256], fs[256], zspec[32], sspec[32], c1[32], c2[32], c3[32], c4[32];
    matched_str(ds, sizeof ds, &drv);
    matched_str(rs, sizeof rs, &r3);
    matched_str(zs, sizeof zs, &z);
    matched_str(fs, sizeof fs, &fz);
    double const dr = drv.found ? drv.best.ratio : NAN, rr = r3.found ? r3.best.ratio : NAN;
    double const zr = z.found ? z.best.ratio : NAN;
    fmt_num(zspec, sizeof zspec, zfp_spec, "%.3g");
    fmt_num(sspec, sizeof sspec, sz3, "%.3g");
    fmt_num(c1, sizeof c1, dr / zr, "%.2f");
    fmt_num(c2, sizeof c2, dr / sz3, "%.2f");
    fmt_num(c3, sizeof c3, rr / sz3, "%.2f");
    fmt_num(c4, sizeof c4, zr / zfp_spec, "%.2f");
    printf("| %s | %g %% R = %.4g | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", d->label, frac * 100, T, ds,
           rs, zs, fs, zspec, sspec, c1, c2, c3, c4);
    fflush(stdout);
}

/* ---- the summary --------------------------------------------------------------------------- */

static void summary_ratios(const brow rows[][4]) {
    printf("\n## 4. Summary\n\n");
    printf("Ratios of table 1 side by side (max abs error <= E). \"climz (driver)\" is what a .clz file "
           "holds (less its header); for one-step fields it is also the 3-D figure. ZFP tol=E is "
           "the better layout; SZ3 from SPEC section 8.\n\n");
    printf("| data | E | climz (driver) | climz 3-D | ZFP tol=E | ZFP tuned | fpzip | SZ3 (SPEC) "
           "| driver / ZFP tol=E | driver / ZFP tuned | driver / SZ3 | every bound met |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t s = 0; s < NSETS; s++)
        for (int k = 0; k < 4; k++) {
            const brow *r = &rows[s][k];
            if (!r->used) continue;
            const result *three = r->r3.ok ? &r->r3 : &r->drv;
            double const v[6] = {r->drv.ok ? r->drv.ratio : NAN, three->ok ? three->ratio : NAN,
                                 r->zfp.ok ? r->zfp.ratio : NAN, r->ztuned.ok ? r->ztuned.ratio : NAN,
                                 r->fz.ok ? r->fz.ratio : NAN, r->sz3};
            char c[9][32];
            for (int i = 0; i < 6; i++) fmt_num(c[i], sizeof c[i], v[i], "%.2f");
            fmt_num(c[6], sizeof c[6], v[0] / v[2], "%.2f");
            fmt_num(c[7], sizeof c[7], v[0] / v[3], "%.2f");
            fmt_num(c[8], sizeof c[8], v[0] / v[5], "%.2f");
            const result *all[6] = {&r->drv, &r->r3, &r->temp, &r->zfp, &r->ztuned, &r->fz};
            int met = 1;
            for (int i = 0; i < 6; i++)
                if (all[i]->ok && (all[i]->violations || all[i]->enc_dec_differ)) met = 0;
            printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", bench_sets[s].label, r->etxt,
                   c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], met ? "yes" : "**NO**");
        }
}

/* Median MB/s per codec over the table 1 rows (both clocks), and the slowest row. */
static void summary_speed(const brow rows[][4], const result lossless[][2]) {
    enum { NG = 8, MAXR = 64 };
    static const char *names[NG] = {"climz (driver)", "climz 3-D", "climz --temporal", "ZFP tol=E",
                                    "ZFP tuned", "fpzip lossy", "fpzip lossless", "zstd -19"};
    double v[NG][4][MAXR];
    int nv[NG] = {0};
    for (size_t s = 0; s < NSETS; s++) {
        for (int k = 0; k < 4; k++) {
            const brow *r = &rows[s][k];
            if (!r->used) continue;
            const result *g[6] = {&r->drv, r->r3.ok ? &r->r3 : &r->drv, r->temp.ok ? &r->temp : &r->drv, &r->zfp,
                                  &r->ztuned, &r->fz};
            for (int i = 0; i < 6; i++)
                if (g[i]->ok && !isnan(g[i]->cmbs) && nv[i] < MAXR) {
                    v[i][0][nv[i]] = g[i]->cmbs;
                    v[i][1][nv[i]] = g[i]->dmbs;
                    v[i][2][nv[i]] = g[i]->cmbs_wall;
                    v[i][3][nv[i]++] = g[i]->dmbs_wall;
                }
        }
        for (int i = 0; i < 2; i++) {
            const result *l = &lossless[s][i];
            if (l->ok && !isnan(l->cmbs) && nv[6 + i] < MAXR) {
                v[6 + i][0][nv[6 + i]] = l->cmbs;
                v[6 + i][1][nv[6 + i]] = l->dmbs;
                v[6 + i][2][nv[6 + i]] = l->cmbs_wall;
                v[6 + i][3][nv[6 + i]++] = l->dmbs_wall;
            }
        }
    }
    printf("\nThroughput, MB/s of float32 on one thread: median over the table 1 rows (every data set "
           "and bound; for one-step fields the 3-D and --temporal groups count the driver's rows); "
           "slowest row in brackets. CPU = thread CPU clock (the table 1 figures), wall = wall "
           "clock on the shared machine.\n\n");
    printf("| codec | rows | compress (CPU) | decompress (CPU) | compress (wall) | decompress (wall) |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < NG; i++) {
        if (!nv[i]) continue;
        double lo[4];
        for (int q = 0; q < 4; q++) {
            lo[q] = INFINITY;
            for (int j = 0; j < nv[i]; j++) lo[q] = v[i][q][j] < lo[q] ? v[i][q][j] : lo[q];
        }
        double med[4];
        for (int q = 0; q < 4; q++) med[q] = median(v[i][q], nv[i]);
        printf("| %s | %d | %.1f (%.1f) | %.1f (%.1f) | %.1f (%.1f) | %.1f (%.1f) |\n", names[i], nv[i], med[0],
               lo[0], med[1], lo[1], med[2], lo[2], med[3], lo[3]);
    }
}

static void usage(void) {
    fprintf(stderr, "usage: bench_foundation [DATA_DIR] [--reps N] [--only LABEL] [--no-sweep]\n"
                    "  DATA_DIR defaults to %s\n", BENCH_DEFAULT_DATA);
}

int main(int argc, char **argv) {
    const char *dir = BENCH_DEFAULT_DATA, *only = NULL;
    int reps = 3, sweep = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--no-sweep") == 0) sweep = 0;
        else if (argv[i][0] == '-') {
            usage();
            return 2;
        } else dir = argv[i];
    }
    if (reps < 1) reps = 1;
    cz_set_num_threads(1); /* one thread for every codec that could use OpenMP */

    time_t const now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("# climz foundation benchmark\n\n");
    printf("%s; data %s; %d thread(s); median of %d runs; zfp %s, fpzip %s, zstd %s\n\n", date, dir,
           cz_num_threads(), reps, ZFP_VERSION_STRING, FPZIP_VERSION_STRING, ZSTD_versionString());

    static bfield fields[NSETS];
    static brow rows[NSETS][4];
    static result lossless[NSETS][2];
    double load_s[NSETS] = {0}, rss[NSETS] = {0};
    int loaded[NSETS] = {0};
    bench b = {0};
    b.reps = reps;

    printf("## 1. Error-bounded: max abs error <= E\n\n");
    printf("Ratio vs float32; MB/s of float32 on one thread (thread CPU clock); \"ratio / ZFP\" against "
           "ZFP at tolerance E; SZ3 at the same E from SPEC section 8. climz (driver): time blocks of "
           "res_time_block() steps, one chunk each, 32 B index entry per chunk.\n\n");
    printf("| data | E | codec | setting | ratio | RMSE | max err | bound met | comp MB/s | decomp MB/s "
           "| SZ3 ratio | ratio / ZFP | ratio / SZ3 |\n");
    printf("|---|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
    for (size_t s = 0; s < NSETS; s++) {
        const bdata *d = &bench_sets[s];
        if (only && strcmp(only, d->label) != 0) continue;
        double const t0 = cz_now();
        if (load_field(dir, d, &fields[s]) != CLIMZ_OK) {
            printf("| %s | | | load failed: %s | | | | | | | | | |\n", d->label, cz_error_message());
            field_free(&fields[s]);
            continue;
        }
        load_s[s] = cz_now() - t0;
        loaded[s] = 1;
        bfield *f = &fields[s];
        free(b.dec);
        free(b.scratch);
        b.dec = malloc(f->n * sizeof *b.dec);
        b.scratch = malloc(f->n * sizeof *b.scratch);
        if (!b.dec || !b.scratch) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        static const double rel[3] = {1e-2, 1e-3, 1e-4};
        for (int k = 0; k < 3; k++) {
            char etxt[64];
            snprintf(etxt, sizeof etxt, "%g R = %.4g", rel[k], rel[k] * f->range);
            double const sz3 = k == 0 ? d->ref.sz3_e1 : k == 1 ? d->ref.sz3_e01 : NAN;
            bench_bound(&b, f, d, rel[k] * f->range, etxt, sz3, &rows[s][k]);
        }
        if (d->abs_e > 0) {
            char etxt[64];
            snprintf(etxt, sizeof etxt, "%g (abs)", d->abs_e);
            bench_bound(&b, f, d, d->abs_e, etxt, d->ref.sz3_abs, &rows[s][3]);
        }
        lossless[s][0] = measure(&b, f, C_FPZIP, 32, 0, reps);
        print_row(d->label, "lossless", &lossless[s][0], 0, NAN, NAN, NULL);
        lossless[s][1] = measure(&b, f, C_ZSTD, 19, 0, reps);
        print_row(d->label, "lossless", &lossless[s][1], 0, NAN, NAN, NULL);
        coded_free(&b.e);
        rss[s] = peak_rss_mb();
        fflush(stdout);
    }

    if (sweep) {
        printf("\n## 2. RMSE-matched: best ratio with RMSE <= 1 %% R and 0.1 %% R\n\n");
        printf("Sweeps: ZFP accuracy 2^k, fixed precision and fixed rate, 3-D and 2-D per step; "
               "climz E = T..8T in quarter octaves, as the driver codes it and as one 3-D stream; fpzip "
               "precision. SPEC columns quote SPEC section 8.\n\n");
        printf("| data | RMSE target T | climz (driver) | climz 3-D | ZFP | fpzip | SPEC ZFP | SPEC SZ3 "
               "| driver / ZFP | driver / SZ3 | 3-D / SZ3 | our ZFP / SPEC ZFP |\n");
        printf("|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|\n");
        for (size_t s = 0; s < NSETS; s++) {
            if (!loaded[s]) continue;
            const bdata *d = &bench_sets[s];
            bfield *f = &fields[s];
            free(b.dec);
            free(b.scratch);
            b.dec = malloc(f->n * sizeof *b.dec);
            b.scratch = malloc(f->n * sizeof *b.scratch);
            if (!b.dec || !b.scratch) return 1;
            bench_matched(&b, f, d, 1e-2, d->ref.sz3_rm1, d->ref.zfp_rm1);
            bench_matched(&b, f, d, 1e-3, d->ref.sz3_rm01, d->ref.zfp_rm01);
            coded_free(&b.e);
        }
    }

    printf("\n## 3. Data and peak memory\n\n");
    printf("| data | file | shape (t, z, y, x) | driver: steps per chunk, chunks | missing | mask chunks (bytes) "
           "| range R | load s | peak RSS after its table 1 rows (MB) |\n");
    printf("|---|---|---|---|---:|---:|---:|---:|---:|\n");
    for (size_t s = 0; s < NSETS; s++) {
        if (!loaded[s]) continue;
        const bfield *f = &fields[s];
        printf("| %s | %s | %zu x %zu x %zu x %zu | %zu, %zu | %zu | %zu (%zu) | %.6g | %.2f | %.0f |\n",
               bench_sets[s].label, bench_sets[s].file, f->ntime, f->nlev, f->ny, f->nx, f->tblock,
               (f->ntime + f->tblock - 1) / f->tblock, f->nmiss, f->mask_chunks, f->mask_bytes, f->range, load_s[s],
               rss[s]);
    }
    printf("\nPeak RSS of the whole run: %.0f MB (getrusage ru_maxrss; the process holds every field).\n",
           peak_rss_mb());
    for (size_t s = 0; s < NSETS; s++)
        if (loaded[s] && bench_sets[s].note) printf("\nNote (%s): %s.\n", bench_sets[s].label, bench_sets[s].note);

    summary_ratios((const brow(*)[4])rows);
    summary_speed((const brow(*)[4])rows, (const result(*)[2])lossless);

    for (size_t s = 0; s < NSETS; s++) field_free(&fields[s]);
    free(b.dec);
    free(b.scratch);
    coded_free(&b.e);
    return 0;
}
