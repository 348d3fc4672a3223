/* test_threads.c — contexts share nothing: N threads, each with its own context, compress and
 * decompress different real fields with every codec at the same time and get exactly the
 * frames and values of a serial run; several threads read one climz_reader at once. Built
 * with -fsanitize=thread too (see README, Developing). */
#include "api_samples.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

typedef struct job {
    const char *file, *var, *codec;
    const char *const *options;
    double rel;
    climz_field f;
    double *lat;
    /* results */
    uint8_t *frame;
    size_t size;
    float *decoded;
    climz_status st;
    char msg[512];
} job;

static void run_job(job *j) {
    climz_ctx *ctx = climz_ctx_create();
    climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 1);
    climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, j->rel);
    climz_compress_opts o = {.codec = j->codec, .options = j->options};
    size_t const cap = climz_compress_bound(&j->f), n = j->f.nt * j->f.nz * j->f.ny * j->f.nx;
    j->frame = malloc(cap);
    j->decoded = malloc(n * sizeof *j->decoded);
    j->st = climz_compress(ctx, &j->f, &o, j->frame, cap, &j->size);
    climz_field g = j->f;
    g.data = j->decoded, g.st = g.sz = g.sy = g.sx = 0;
    if (!j->st) j->st = climz_decompress(ctx, j->frame, j->size, &g);
    snprintf(j->msg, sizeof j->msg, "%s", climz_ctx_last_error(ctx));
    climz_ctx_free(ctx);
}

static void *thread_main(void *p) {
    run_job(p);
    return NULL;
}

typedef struct read_job {
    const climz_reader *r;
    size_t t0;
    float *out;
    size_t plane;
    climz_status st;
} read_job;

static void *read_main(void *p) {
    read_job *j = p;
    climz_ctx *ctx = climz_ctx_create();
    climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 1);
    climz_var_info in;
    climz_reader_var(j->r, 0, &in);
    climz_field d = {.type = CLIMZ_FLOAT32, .data = j->out, .nt = 2, .nz = in.nz, .ny = in.ny, .nx = in.nx};
    j->st = climz_reader_read(ctx, j->r, 0, j->t0, 2, &d);
    climz_ctx_free(ctx);
    return NULL;
}

int main(void) {
    static const char *const inr_opts[] = {"iters=60", "seed=5", "ratio=30", NULL};
    job jobs[] = {
        {.file = "hgt.nc", .var = "HGT", .codec = "residual", .rel = 1e-3},
        {.file = "tas_rectilinear_grid_2D.nc", .var = "tas", .codec = "vaeformer"},
        {.file = "model_T.nc", .var = "T", .codec = "vaeformer", .rel = 1e-2},
        {.file = "bcsd_obs_1999.nc", .var = "pr", .codec = "residual", .rel = 1e-2},
        {.file = "hgt.nc", .var = "HGT", .codec = "inr", .options = inr_opts},
        {.file = "tas_rectilinear_grid_2D.nc", .var = "tas", .codec = "residual"},
    };
    enum { NJ = sizeof jobs / sizeof *jobs };
    for (int k = 0; k < NJ; k++) {
        float *a = sample_field(jobs[k].file, jobs[k].var, NAN, &jobs[k].f, &jobs[k].lat);
        if (!a) return tu_finish();
        jobs[k].f.lat = jobs[k].lat;
    }
    /* serial */
    job serial[NJ];
    memcpy(serial, jobs, sizeof jobs);
    for (int k = 0; k < NJ; k++) {
        run_job(&serial[k]);
        CHECK_MSG(serial[k].st == CLIMZ_OK, "%s %s: %s", serial[k].var, serial[k].codec, serial[k].msg);
    }
    /* the same jobs at once, twice over (two threads per job) */
    job conc[2 * NJ];
    pthread_t th[2 * NJ];
    for (int k = 0; k < 2 * NJ; k++) {
        conc[k] = jobs[k % NJ];
        pthread_create(&th[k], NULL, thread_main, &conc[k]);
    }
    for (int k = 0; k < 2 * NJ; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2 * NJ; k++) {
        const job *s = &serial[k % NJ], *c = &conc[k];
        size_t const n = s->f.nt * s->f.nz * s->f.ny * s->f.nx;
        CHECK_MSG(c->st == CLIMZ_OK, "%s %s in a thread: %s", c->var, c->codec, c->msg);
        CHECK_MSG(c->size == s->size && memcmp(c->frame, s->frame, s->size) == 0,
                  "%s %s: the frame written in a thread differs from the serial one (%zu vs %zu bytes)", c->var,
                  c->codec, c->size, s->size);
        CHECK_MSG(memcmp(c->decoded, s->decoded, n * sizeof(float)) == 0,
                  "%s %s: values decoded in a thread differ from the serial ones", c->var, c->codec);
        if (k < NJ) printf("%-5s %-9s %8zu bytes, same in %d threads\n", s->var, s->codec, s->size, 2);
        free(conc[k].frame);
        free(conc[k].decoded);
    }
    /* one reader (the residual HGT frame), four threads reading different steps */
    climz_ctx *ctx = climz_ctx_create();
    climz_reader *r = NULL;
    CHECK_OK(climz_reader_open_buffer(ctx, serial[0].frame, serial[0].size, &r));
    if (r) {
        size_t const plane = 73 * 144;
        read_job rj[4];
        pthread_t rt[4];
        for (int k = 0; k < 4; k++) {
            rj[k] = (read_job){r, (size_t)(4 * k + 1), malloc(2 * plane * sizeof(float)), plane, CLIMZ_OK};
            pthread_create(&rt[k], NULL, read_main, &rj[k]);
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(rt[k], NULL);
            CHECK_OK(rj[k].st);
            CHECK(memcmp(rj[k].out, serial[0].decoded + rj[k].t0 * plane, 2 * plane * sizeof(float)) == 0);
            free(rj[k].out);
        }
    }
    climz_reader_free(r);
    climz_ctx_free(ctx);
    for (int k = 0; k < NJ; k++) {
        free(serial[k].frame);
        free(serial[k].decoded);
        free(jobs[k].f.data);
        free(jobs[k].lat);
    }
    return tu_finish();
}
