/*
 * bench_rans.c — throughput of the entropy coders on one core, in million symbols per
 * second (median and best of RUNS runs), printed as a markdown table:
 *   (a) static single table (ent_cdf, 4 interleaved states, 16-bit CDF) on symbols drawn
 *       from a mixture of discretised Gaussians (scales 0.5..8), table = their histogram;
 *   (b) the adaptive model (ent_aenc/ent_adec) on Laplacian integers, 4 contexts with
 *       scales 0.5, 1, 2, 4 in runs of 64 symbols;
 *   (c) the Gaussian conditional (ent_gauss) with a per-symbol table index, scales
 *       log-uniform in [0.11, 32], symbols round(N(0, scale)).
 * Also prints bits per symbol against the ideal (empirical entropy or model likelihood).
 * Times are thread CPU time (the machine is shared; wall time would time the neighbours).
 * Usage: bench_rans [n_symbols (default 4000000)] [runs (default 7)]
 */
#include "entropy/adaptive.h"
#include "entropy/cdf.h"
#include "entropy/gaussian.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_u64(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_uniform(uint64_t *s) { return (double)(rng_u64(s) >> 11) * 0x1.0p-53; }
static double rng_normal(uint64_t *s) {
    double const u1 = rng_uniform(s) + 1e-300, u2 = rng_uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
static double rng_laplace(uint64_t *s, double b) {
    double const u = rng_uniform(s) - 0.5;
    return u < 0 ? b * log(1 + 2 * u) : -b * log(1 - 2 * u);
}

static int cmp_double(const void *a, const void *b) {
    double const x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

#define DIE_IF(cond, ...)                                                                    \
    do {                                                                                     \
        if (cond) {                                                                          \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, " (%s)\n", cz_error_message());                                  \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

typedef struct {
    const char *name;
    double enc, dec, enc_best, dec_best, bits, ideal;
} row;

static double best(const double *v, int n) {
    double b = v[0];
    for (int i = 1; i < n; i++) b = v[i] < b ? v[i] : b;
    return b;
}

static row bench_static(size_t n, int runs) {
    uint64_t seed = 1;
    static const double scales[5] = {0.5, 1, 2, 4, 8};
    uint16_t *sym = malloc(n * sizeof *sym), *dec = malloc(n * sizeof *dec);
    uint32_t counts[256] = {0}, freq[256];
    for (size_t i = 0; i < n; i++) {
        double const s = scales[(i / 256) % 5];
        long v = lround(rng_normal(&seed) * s) + 128;
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        sym[i] = (uint16_t)v;
        counts[v]++;
    }
    double ideal = 0;
    for (int k = 0; k < 256; k++)
        if (counts[k]) ideal -= counts[k] * log2((double)counts[k] / (double)n);
    DIE_IF(ent_quantize_counts(freq, counts, 256, 16, 0) != CLIMZ_OK, "quantize");
    ent_cdf *c;
    DIE_IF(ent_cdf_create(&c, freq, 256, 16) != CLIMZ_OK, "cdf");
    double te[64], td[64];
    cz_buf out = {0};
    for (int r = 0; r < runs; r++) {
        out.size = 0;
        double t0 = cz_thread_cpu_now();
        DIE_IF(ent_cdf_encode(c, sym, n, &out) != CLIMZ_OK, "encode");
        double t1 = cz_thread_cpu_now();
        DIE_IF(ent_cdf_decode(c, out.data, out.size, dec, n) != CLIMZ_OK, "decode");
        double t2 = cz_thread_cpu_now();
        te[r] = t1 - t0;
        td[r] = t2 - t1;
        DIE_IF(memcmp(sym, dec, n * sizeof *sym) != 0, "static round trip mismatch");
    }
    row const rw = {"(a) static table, 16-bit CDF, 256 symbols", n / median(te, runs) / 1e6,
                    n / median(td, runs) / 1e6, n / best(te, runs) / 1e6, n / best(td, runs) / 1e6,
                    out.size * 8.0 / n, ideal / n};
    cz_buf_free(&out);
    ent_cdf_free(c);
    free(sym);
    free(dec);
    return rw;
}

static row bench_adaptive(size_t n, int runs) {
    uint64_t seed = 2;
    static const double b[4] = {0.5, 1, 2, 4};
    int32_t *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
    uint8_t *ctx = malloc(n);
    /* empirical conditional entropy per context over a generous range */
    enum { R = 512 };
    static uint32_t hist[4][2 * R + 1];
    memset(hist, 0, sizeof hist);
    size_t nctx[4] = {0};
    for (size_t i = 0; i < n; i++) {
        ctx[i] = (uint8_t)((i / 64) % 4);
        v[i] = (int32_t)lround(rng_laplace(&seed, b[ctx[i]]));
        int const k = v[i] < -R ? 0 : v[i] > R ? 2 * R : v[i] + R;
        hist[ctx[i]][k]++;
        nctx[ctx[i]]++;
    }
    double ideal = 0;
    for (int c = 0; c < 4; c++)
        for (int k = 0; k <= 2 * R; k++)
            if (hist[c][k]) ideal -= hist[c][k] * log2((double)hist[c][k] / (double)nctx[c]);
    ent_aenc *e;
    DIE_IF(ent_aenc_create(&e, 4) != CLIMZ_OK, "aenc");
    double te[64], td[64];
    cz_buf out = {0};
    for (int r = 0; r < runs; r++) {
        out.size = 0;
        double t0 = cz_thread_cpu_now();
        for (size_t i = 0; i < n; i++) ent_aenc_put(e, ctx[i], v[i]);
        DIE_IF(ent_aenc_finish(e, &out) != CLIMZ_OK, "finish");
        double t1 = cz_thread_cpu_now();
        ent_adec *d;
        DIE_IF(ent_adec_create(&d, 4, out.data, out.size) != CLIMZ_OK, "adec");
        climz_status st = CLIMZ_OK;
        for (size_t i = 0; i < n; i++) st |= ent_adec_get(d, ctx[i], &w[i]);
        DIE_IF(st != CLIMZ_OK || ent_adec_finish(d) != CLIMZ_OK, "adaptive decode");
        double t2 = cz_thread_cpu_now();
        ent_adec_free(d);
        te[r] = t1 - t0;
        td[r] = t2 - t1;
        DIE_IF(memcmp(v, w, n * sizeof *v) != 0, "adaptive round trip mismatch");
    }
    row const rw = {"(b) adaptive, Laplacian b=0.5..4, 4 contexts", n / median(te, runs) / 1e6,
                    n / median(td, runs) / 1e6, n / best(te, runs) / 1e6, n / best(td, runs) / 1e6,
                    out.size * 8.0 / n, ideal / n};
    cz_buf_free(&out);
    ent_aenc_free(e);
    free(v);
    free(w);
    free(ctx);
    return rw;
}

static row bench_gauss(size_t n, int runs) {
    uint64_t seed = 3;
    ent_gauss_tables *g;
    DIE_IF(ent_gauss_tables_build(&g, 16) != CLIMZ_OK, "gauss tables");
    int32_t *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
    uint8_t *idx = malloc(n);
    double ideal = 0;
    double const lo = log(0.11), hi = log(32.0);
    for (size_t i = 0; i < n; i++) {
        float const s = (float)exp(lo + (hi - lo) * rng_uniform(&seed));
        idx[i] = ent_gauss_scale_index(s);
        v[i] = (int32_t)lrint(rng_normal(&seed) * s);
        ideal -= log2(ent_gauss_likelihood(v[i], s));
    }
    double te[64], td[64];
    cz_buf out = {0};
    for (int r = 0; r < runs; r++) {
        out.size = 0;
        double t0 = cz_thread_cpu_now();
        DIE_IF(ent_gauss_encode(g, v, idx, n, &out) != CLIMZ_OK, "gauss encode");
        double t1 = cz_thread_cpu_now();
        DIE_IF(ent_gauss_decode(g, out.data, out.size, idx, n, w) != CLIMZ_OK, "gauss decode");
        double t2 = cz_thread_cpu_now();
        te[r] = t1 - t0;
        td[r] = t2 - t1;
        DIE_IF(memcmp(v, w, n * sizeof *v) != 0, "gauss round trip mismatch");
    }
    row const rw = {"(c) Gaussian conditional, per-symbol index", n / median(te, runs) / 1e6,
                    n / median(td, runs) / 1e6, n / best(te, runs) / 1e6, n / best(td, runs) / 1e6,
                    out.size * 8.0 / n, ideal / n};
    cz_buf_free(&out);
    ent_gauss_tables_free(g);
    free(v);
    free(w);
    free(idx);
    return rw;
}

int main(int argc, char **argv) {
    size_t const n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 4000000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    runs = runs < 1 ? 1 : runs > 64 ? 64 : runs;
    row rows[3];
    rows[0] = bench_static(n, runs);
    rows[1] = bench_adaptive(n, runs);
    rows[2] = bench_gauss(n, runs);
    printf("rANS throughput, %zu symbols, median (best) of %d runs, one core, thread CPU time\n\n", n, runs);
    printf("| coder | encode Msym/s | decode Msym/s | bits/sym | ideal bits/sym |\n");
    printf("|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < 3; i++)
        printf("| %s | %.1f (%.1f) | %.1f (%.1f) | %.4f | %.4f |\n", rows[i].name, rows[i].enc,
               rows[i].enc_best, rows[i].dec, rows[i].dec_best, rows[i].bits, rows[i].ideal);
    return 0;
}
