/* test_exec_threads.c — the execution policy is the calling thread's (nn.h), not the
 * process's: one thread's deterministic mode or thread count never leaks into another.
 *
 *  1. Two threads run the same nn kernels (gemm, layernorm, GELU, softmax) over and over at
 *     once, one in deterministic mode, one with the fast kernels: each gets, bit for bit, what
 *     a serial run in its own mode gives (the two modes give other bits on these inputs, so a
 *     leak would show).
 *  2. One thread compresses a bundled sample with the VAEformer (deterministic=1, no bound:
 *     the decoded values are the synthesis's), and decodes it, on a context of 2 threads (the synthesis in deterministic mode runs in
 *     OpenMP workers: the mode must reach them), while another runs the fast kernels: the
 *     file's bytes and decoded values equal those of a serial run on 1 thread (no workers),
 *     and the kernels' results those of a serial fast run. The context keeps
 *     the model it loaded (one cache entry), and a second compression on it gives the same
 *     bytes.
 * Results are collected per thread and checked after the join (the CHECK counters are not
 * thread-safe). */
#include "api/api_internal.h"
#include "io/dataset.h"
#include "nn/nn.h"
#include "nn/ops.h"
#include "testutil.h"
#include "vae/vae_group.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KM 48
#define KN 40
#define KK 64
#define ROUNDS 12

typedef struct kernel_out {
    float gemm[KM * KN], ln[KM * KK], gelu[KM * KK], sm[KM * KK];
} kernel_out;

static float A[KM * KK], B[KK * KN], G[KK], Bi[KK];

static void kernels(kernel_out *o) {
    nn_gemm(0, 0, KM, KN, KK, 1.0f, A, KK, B, KN, 0.0f, o->gemm, KN);
    nn_layernorm_forward(o->ln, NULL, NULL, A, G, Bi, KM, KK, 1e-5f);
    nn_gelu_forward(o->gelu, A, (size_t)KM * KK);
    nn_softmax_forward(o->sm, A, KM, KK);
}

typedef struct kernel_job {
    int det, threads;
    const kernel_out *want;
    int mismatches, mode_lost;
    volatile int *stop; /* with a stop flag: run until it is set (at least ROUNDS rounds) */
} kernel_job;

static void *kernel_thread(void *arg) {
    kernel_job *j = arg;
    kernel_out *o = malloc(sizeof *o);
    omp_set_num_threads(j->threads);
    nn_set_deterministic(j->det);
    for (int r = 0; o && (r < ROUNDS || (j->stop && !__atomic_load_n(j->stop, __ATOMIC_ACQUIRE))); r++) {
        kernels(o);
        j->mismatches += memcmp(o, j->want, sizeof *o) != 0;
        j->mode_lost += nn_deterministic() != j->det;
    }
    if (!o) j->mismatches = -1;
    free(o);
    return NULL;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long const len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = len > 0 ? malloc((size_t)len) : NULL;
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = b ? (size_t)len : 0;
    return b;
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *x = read_all(a, &na), *y = read_all(b, &nb);
    int const same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

typedef struct compress_job {
    climz_ctx *ctx;
    const char *out;
    climz_status st;
    char msg[256];
    float *values; /* the file decoded on the same context */
    size_t n;
} compress_job;

/* The decoded values of the HGT variable of the .clz at path, with ctx's policy. */
static climz_status decode_values(climz_ctx *ctx, const char *path, float **values, size_t *n) {
    api_begin(ctx);
    api_decoded d;
    cz_field f = {0};
    CZ_FORWARD(api_decode_clz(ctx, path, NULL, &d));
    int const vi = io_find_var(d.ds, "HGT");
    climz_status st = vi < 0 ? cz_error(CLIMZ_ERR_NOT_FOUND, "no HGT") : io_load_field(d.ds, vi, &f);
    if (!st) {
        *n = f.nt * f.nz * f.ny * f.nx;
        *values = f.values;
        f.values = NULL;
    }
    io_field_free(&f);
    api_decoded_free(&d);
    return st;
}

static void *compress_thread(void *arg) {
    compress_job *j = arg;
    const char *const opts[] = {"deterministic=1", NULL}; /* the synthesis in deterministic mode */
    climz_compress_opts const o = {.codec = "vaeformer", .options = opts};
    j->st = climz_compress_file(j->ctx, tu_data("hgt.nc"), j->out, &o);
    if (!j->st) j->st = decode_values(j->ctx, j->out, &j->values, &j->n);
    snprintf(j->msg, sizeof j->msg, "%s", j->st ? climz_ctx_last_error(j->ctx) : "");
    if (j->st && !*j->msg) snprintf(j->msg, sizeof j->msg, "%s", cz_error_message());
    return NULL;
}

static climz_ctx *vae_ctx(int threads) {
    climz_ctx *ctx = climz_ctx_create();
    if (ctx) climz_ctx_set_param(ctx, CLIMZ_P_THREADS, threads);
    return ctx;
}

static int cached_models(const climz_ctx *ctx) {
    int n = 0;
    for (int i = 0; i < API_MODEL_CACHE; i++) n += ctx->models->e[i].model != NULL;
    return n;
}

int main(void) {
    unsigned long long s = 7;
    for (size_t i = 0; i < KM * KK; i++) A[i] = (float)(3 * tu_rand_normal(&s));
    for (size_t i = 0; i < KK * KN; i++) B[i] = (float)tu_rand_normal(&s);
    for (size_t i = 0; i < KK; i++) G[i] = 1.0f + 0.1f * (float)i / KK, Bi[i] = 0.01f * (float)i;
    nn_det_gelu_init();

    /* serial references, one per mode */
    static kernel_out want_fast, want_det;
    omp_set_num_threads(1);
    nn_set_deterministic(0);
    kernels(&want_fast);
    nn_set_deterministic(1);
    kernels(&want_det);
    nn_set_deterministic(0);
    CHECK_MSG(memcmp(&want_fast, &want_det, sizeof want_fast) != 0, "the two modes agree: the test could not see a leak");

    /* 1. two kernel threads, one per mode */
    kernel_job jd = {1, 1, &want_det, 0, 0, NULL}, jf = {0, 1, &want_fast, 0, 0, NULL};
    pthread_t td, tf;
    CHECK(pthread_create(&td, NULL, kernel_thread, &jd) == 0);
    CHECK(pthread_create(&tf, NULL, kernel_thread, &jf) == 0);
    pthread_join(td, NULL);
    pthread_join(tf, NULL);
    CHECK_MSG(jd.mismatches == 0 && jd.mode_lost == 0, "deterministic thread: %d of %d rounds differ, mode lost %d times",
              jd.mismatches, ROUNDS, jd.mode_lost);
    CHECK_MSG(jf.mismatches == 0 && jf.mode_lost == 0, "fast thread: %d of %d rounds differ, mode lost %d times",
              jf.mismatches, ROUNDS, jf.mode_lost);
    CHECK(nn_deterministic() == 0); /* this thread's mode: untouched by theirs */

    /* 2. a VAEformer compression (deterministic synthesis, 2 threads) beside fast kernels */
    const char *dir = tu_tmpdir("test_exec_threads");
    char serial[1024], concurrent[1024], again[1024];
    snprintf(serial, sizeof serial, "%s/serial.clz", dir);
    snprintf(concurrent, sizeof concurrent, "%s/concurrent.clz", dir);
    snprintf(again, sizeof again, "%s/again.clz", dir);
    climz_ctx *c1 = vae_ctx(1); /* no OpenMP workers: the reference for the mode reaching them */
    CHECK(c1 != NULL);
    if (!c1) return tu_finish();
    compress_job js = {c1, serial, 0, "", NULL, 0};
    compress_thread(&js);
    if (js.st == CLIMZ_ERR_NOT_FOUND) {
        climz_ctx_free(c1);
        tu_skip("the bundled VAEformer model is not here");
    }
    CHECK_MSG(js.st == CLIMZ_OK, "serial compression: %s", js.msg);
    CHECK(nn_deterministic() == 0); /* api_begin left this thread fast; the codec restored it */
    climz_ctx *c2 = vae_ctx(2);
    volatile int stop = 0;
    compress_job jc = {c2, concurrent, 0, "", NULL, 0};
    kernel_job jk = {0, 1, &want_fast, 0, 0, &stop};
    pthread_t tc, tk;
    CHECK(pthread_create(&tk, NULL, kernel_thread, &jk) == 0);
    CHECK(pthread_create(&tc, NULL, compress_thread, &jc) == 0);
    pthread_join(tc, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(tk, NULL);
    CHECK_MSG(jc.st == CLIMZ_OK, "concurrent compression: %s", jc.msg);
    CHECK_MSG(same_file(serial, concurrent), "the compression beside fast kernels wrote other bytes");
    CHECK_MSG(js.values && jc.values && js.n == jc.n && !memcmp(js.values, jc.values, js.n * sizeof *js.values),
              "the decoded values (2 threads, beside fast kernels) differ from the serial decode (1 thread)");
    CHECK_MSG(jk.mismatches == 0 && jk.mode_lost == 0,
              "fast kernels beside the compression: %d rounds differ, mode lost %d times", jk.mismatches, jk.mode_lost);

    /* the context kept its model; a second compression on it uses it and writes the same bytes */
    CHECK(cached_models(c2) == 1);
    compress_job ja = {c2, again, 0, "", NULL, 0};
    compress_thread(&ja);
    CHECK_MSG(ja.st == CLIMZ_OK, "second compression: %s", ja.msg);
    CHECK(cached_models(c2) == 1);
    CHECK_MSG(same_file(serial, again), "the cached model wrote other bytes");
    free(js.values);
    free(jc.values);
    free(ja.values);
    climz_ctx_free(c1);
    climz_ctx_free(c2);
    return tu_finish();
}
