/* bench_block.c — speed of one transformer block (src/nn/block.h) next to OpenBLAS sgemm.
 *
 * For widths 128 and 256, token grids 16x32, 32x32, 32x64 and 64x64 (512 .. 4096 tokens) and
 * attention in 8x8, 4x16 and 16x4 windows or global (streamed): median time of forward and
 * of forward+backward, achieved GFLOP/s, and the bytes of the block's activations (training
 * layout: saved tensors + backward scratch), which grow linearly with tokens for global
 * attention too. FLOPs counted as the issue asks, per block forward:
 *     qkv 2 N C 3C + attention 4 N n C + proj 2 N C C + MLP 16 N C C
 * (n = keys per query: the window's tokens, or N for global); backward = 2 x forward.
 *
 * Reference rates, measured in the same run and INTERLEAVED with the block (each repetition
 * times the block, pauses 20 ms, then times sgemm M=N=K=1024 (OpenBLAS through nn_gemm, in
 * deterministic mode off), then the block's own four
 * products - qkv, proj, fc1, fc2 at this N and C - as plain sgemm calls, "linear"): the
 * "% sgemm" and "% linear" columns are medians of per-repetition ratios, so load from other
 * processes on a shared machine cancels out to first order. Times and GFLOP/s are medians.
 *
 * Usage: bench_block [--reps R] [--width C] [--tokens N] [--attn 8x8|4x16|16x4|global]
 *                    [--breakdown]
 * Run with OMP_NUM_THREADS=2; results go into bench/nn/RESULTS.md.
 */
#include "nn/block.h"
#include "nn/ops.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_REPS 64

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double const x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *x, int n) {
    double s[MAX_REPS];
    memcpy(s, x, (size_t)n * sizeof s[0]);
    qsort(s, (size_t)n, sizeof s[0], cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static void fill(float *x, size_t n, float scale, unsigned seed) {
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = scale * nn_rng_normal(&r);
}

/* C (M, N) = A (M, K) B (N, K)^T, a Linear forward, as one sgemm call */
typedef struct gemm_case {
    size_t M, N, K;
    float *A, *B, *C;
} gemm_case;

static void gemm_case_init(gemm_case *g, size_t M, size_t N, size_t K) {
    g->M = M;
    g->N = N;
    g->K = K;
    g->A = malloc(M * K * sizeof(float));
    g->B = malloc(N * K * sizeof(float));
    g->C = malloc(M * N * sizeof(float));
    fill(g->A, M * K, 1.0f, 1);
    fill(g->B, N * K, 1.0f, 2);
}
static void gemm_case_free(gemm_case *g) {
    free(g->A);
    free(g->B);
    free(g->C);
}
/* through nn_gemm, the engine's own path to sgemm (OpenBLAS with all its threads today), so
 * that the reference follows any change in how the engine threads its products */
static double gemm_case_run(const gemm_case *g) { /* seconds */
    double const t0 = now();
    nn_gemm(0, 1, g->M, g->N, g->K, 1.0f, g->A, g->K, g->B, g->K, 0.0f, g->C, g->N);
    return now() - t0;
}

typedef struct attn_opt {
    const char *name;
    nn_attn_kind kind;
    size_t wh, ww;
} attn_opt;

static const attn_opt ATTN[] = {{"8x8", NN_ATTN_WINDOW, 8, 8},
                                {"4x16", NN_ATTN_WINDOW, 4, 16},
                                {"16x4", NN_ATTN_WINDOW, 16, 4},
                                {"global", NN_ATTN_GLOBAL, 0, 0}};
static const size_t GRIDS[][2] = {{16, 32}, {32, 32}, {32, 64}, {64, 64}};

/* forward-time breakdown by stage, replaying nn_block_forward's calls */
static void breakdown(const nn_block_cfg *c, nn_block_acts *a, const float *inp, float *out,
                      const nn_block_params *p, int reps) {
    size_t const B = a->B, H = a->H, W = a->W, T = H * W, N = B * T, C = c->C, hid = 4 * C;
    double t[8][MAX_REPS];
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        nn_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, inp, p->ln1_g, p->ln1_b, N, C, c->eps);
        double t1 = now();
        t[0][r] = t1 - t0;
        nn_linear_forward(a->qkv, a->ln1, p->qkv_w, p->qkv_b, N, C, 3 * C);
        t0 = now();
        t[1][r] = t0 - t1;
        if (c->attn == NN_ATTN_GLOBAL)
            nn_global_attention_forward(a->atty, a->att_stats, a->qkv, B, T, C, c->NH);
        else
            nn_window_attention_forward(a->atty, a->att_stats, a->att_work, a->qkv, B, H, W, C,
                                        c->NH, &c->win);
        t1 = now();
        t[2][r] = t1 - t0;
        nn_linear_forward(a->res1, a->atty, p->proj_w, p->proj_b, N, C, C);
        nn_add_forward(a->res1, a->res1, inp, N * C);
        t0 = now();
        t[3][r] = t0 - t1;
        nn_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res1, p->ln2_g, p->ln2_b, N, C,
                             c->eps);
        t1 = now();
        t[4][r] = t1 - t0;
        nn_linear_forward(a->fch, a->ln2, p->fc1_w, p->fc1_b, N, C, hid);
        t0 = now();
        t[5][r] = t0 - t1;
        nn_gelu_forward(a->fch_gelu, a->fch, N * hid);
        t1 = now();
        t[6][r] = t1 - t0;
        nn_linear_forward(out, a->fch_gelu, p->fc2_w, p->fc2_b, N, hid, C);
        nn_add_forward(out, out, a->res1, N * C);
        t[7][r] = now() - t1;
    }
    static const char *const names[8] = {"ln1", "qkv", "attn", "proj+add", "ln2",
                                         "fc1", "gelu", "fc2+add"};
    printf("    forward breakdown (ms):");
    for (int s = 0; s < 8; s++) printf(" %s %.2f", names[s], 1e3 * median(t[s], reps));
    printf("\n");
}

int main(int argc, char **argv) {
    int reps = 5, want_breakdown = 0;
    size_t only_c = 0, only_n = 0;
    const char *only_attn = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--width") && i + 1 < argc) only_c = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) only_n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--attn") && i + 1 < argc) only_attn = argv[++i];
        else if (!strcmp(argv[i], "--breakdown")) want_breakdown = 1;
        else {
            fprintf(stderr, "usage: %s [--reps R] [--width C] [--tokens N] [--attn A] [--breakdown]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 3) reps = 3;
    if (reps > MAX_REPS) reps = MAX_REPS;
    static const char *const par[] = {"sequential", "pthreads", "OpenMP"};
    int const bp = openblas_get_parallel();
    double load = -1;
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf", &load) != 1) load = -1;
        fclose(lf);
    }
    printf("# bench_block: %d OpenMP threads, median of %d runs; %s (%s threads); load %.2f\n\n",
           omp_get_max_threads(), reps, openblas_get_config(), bp >= 0 && bp <= 2 ? par[bp] : "?",
           load);
    printf("| C | tokens (grid) | attention | fwd ms | fwd GFLOP/s | fwd %% sgemm | fwd %% linear |"
           " f+b ms | f+b GFLOP/s | f+b %% sgemm | f+b %% linear | sgemm GFLOP/s | linear GFLOP/s |"
           " acts MB |\n");
    printf("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    gemm_case g1024;
    gemm_case_init(&g1024, 1024, 1024, 1024);
    gemm_case_run(&g1024);
    static const size_t widths[2] = {128, 256};
    for (int wi = 0; wi < 2; wi++) {
        size_t const C = widths[wi], NH = C / 32, hid = 4 * C;
        if (only_c && only_c != C) continue;
        for (size_t gi = 0; gi < sizeof GRIDS / sizeof GRIDS[0]; gi++) {
            size_t const H = GRIDS[gi][0], W = GRIDS[gi][1], N = H * W;
            if (only_n && only_n != N) continue;
            /* the block's four products as plain sgemm calls: the "linear" reference */
            gemm_case lin[4];
            gemm_case_init(&lin[0], N, 3 * C, C);
            gemm_case_init(&lin[1], N, C, C);
            gemm_case_init(&lin[2], N, hid, C);
            gemm_case_init(&lin[3], N, C, hid);
            double const lin_flops = 2.0 * (double)N * (double)(3 * C * C + C * C + 2 * hid * C);
            for (size_t ai = 0; ai < sizeof ATTN / sizeof ATTN[0]; ai++) {
                const attn_opt *ao = &ATTN[ai];
                if (only_attn && strcmp(only_attn, ao->name)) continue;
                nn_block_cfg cfg;
                memset(&cfg, 0, sizeof cfg);
                cfg.C = C;
                cfg.NH = NH;
                cfg.eps = 1e-6f;
                cfg.attn = ao->kind;
                cfg.win.wh = ao->wh;
                cfg.win.ww = ao->ww;
                size_t const np = nn_block_num_params(&cfg);
                float *w = malloc(np * sizeof(float)), *gw = calloc(np, sizeof(float));
                float *inp = malloc(N * C * sizeof(float)), *out = malloc(N * C * sizeof(float));
                float *dout = malloc(N * C * sizeof(float)), *dinp = calloc(N * C, sizeof(float));
                nn_block_params p, g;
                nn_block_params_point(&p, w, &cfg);
                nn_block_params_point(&g, gw, &cfg);
                nn_rng rng;
                nn_rng_seed(&rng, 7);
                nn_block_init(&p, &cfg, &rng, NN_INIT_TRUNC_NORMAL);
                fill(inp, N * C, 1.0f, 3);
                fill(dout, N * C, 1.0f, 4);
                nn_block_acts a;
                if (nn_block_acts_alloc(&a, &cfg, 1, H, W, 1) != CLIMZ_OK) {
                    fprintf(stderr, "out of memory\n");
                    return 1;
                }
                double const keys = ao->kind == NN_ATTN_GLOBAL ? (double)N : (double)(ao->wh * ao->ww);
                double const ffl = 2.0 * N * C * 3 * C + 4.0 * N * keys * C + 2.0 * N * C * C +
                                   16.0 * N * C * C;
                double tf[MAX_REPS], tb[MAX_REPS], rs[2][MAX_REPS], rl[2][MAX_REPS];
                double gs[MAX_REPS], gl[MAX_REPS];
                nn_block_forward(out, &a, inp, &p, &cfg); /* warm-up */
                nn_block_backward(dinp, &g, dout, inp, &p, &a, &cfg);
                for (int r = 0; r < reps; r++) {
                    double t0 = now();
                    if (nn_block_forward(out, &a, inp, &p, &cfg) != CLIMZ_OK) return 1;
                    tf[r] = now() - t0;
                    t0 = now();
                    if (nn_block_forward(out, &a, inp, &p, &cfg) != CLIMZ_OK ||
                        nn_block_backward(dinp, &g, dout, inp, &p, &a, &cfg) != CLIMZ_OK)
                        return 1;
                    tb[r] = now() - t0;
                    /* let OpenMP's workers stop spinning (libgomp spins a few ms after a
                     * parallel region), so that the reference measures sgemm alone */
                    struct timespec const pause = {0, 20000000};
                    nanosleep(&pause, NULL);
                    gs[r] = 2e-9 * 1024.0 * 1024.0 * 1024.0 / gemm_case_run(&g1024);
                    double tl = 0;
                    for (int k = 0; k < 4; k++) tl += gemm_case_run(&lin[k]);
                    gl[r] = 1e-9 * lin_flops / tl;
                    rs[0][r] = 1e-9 * ffl / tf[r] / gs[r];
                    rl[0][r] = 1e-9 * ffl / tf[r] / gl[r];
                    rs[1][r] = 3e-9 * ffl / tb[r] / gs[r];
                    rl[1][r] = 3e-9 * ffl / tb[r] / gl[r];
                }
                double const mf = median(tf, reps), mb = median(tb, reps);
                printf("| %zu | %zu (%zux%zu) | %s | %.1f | %.1f | %.0f | %.0f | %.1f | %.1f | %.0f | %.0f |"
                       " %.1f | %.1f | %.1f |\n",
                       C, N, H, W, ao->name, 1e3 * mf, 1e-9 * ffl / mf, 100 * median(rs[0], reps),
                       100 * median(rl[0], reps), 1e3 * mb, 3e-9 * ffl / mb,
                       100 * median(rs[1], reps), 100 * median(rl[1], reps), median(gs, reps),
                       median(gl, reps), (double)a.numel * sizeof(float) / 1048576.0);
                if (want_breakdown) breakdown(&cfg, &a, inp, out, &p, reps);
                fflush(stdout);
                nn_block_acts_free(&a);
                free(w);
                free(gw);
                free(inp);
                free(out);
                free(dout);
                free(dinp);
            }
            for (int k = 0; k < 4; k++) gemm_case_free(&lin[k]);
        }
    }
    gemm_case_free(&g1024);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf", &load) != 1) load = -1;
        fclose(lf);
    }
    printf("\npeak RSS %.1f MB; load at the end %.2f\n", (double)ru.ru_maxrss / 1024.0, load);
    return 0;
}
