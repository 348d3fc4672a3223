/* train.c — `climz train` (phase 1) and `climz finetune` (phase 2) of the VAEformer, on the
 * public API (climz_train_file / climz_finetune_file; under mpirun data parallel, through
 * cli_mpi_train). Progress goes to stderr, from rank 0 only. */
#include "climz.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DATA 256

static void train_usage(FILE *f, int finetune) {
    if (!finetune)
        fprintf(f,
                "usage: climz train --data FILE[:VAR[,VAR...]] [--data ...] -o MODEL.safetensors\n"
                "         [--config CFG.json] [--train-times A:B] [--val-times C:D] [--steps N]\n"
                "         [--batch B] [--crop HxW] [--lr 2e-4] [--beta 3e-3] [--seed S] [--threads N]\n"
                "         [--resume CKPT] [common options]\n");
    else
        fprintf(f,
                "usage: climz finetune --model MODEL --data FILE[:VAR[,VAR...]] [--data ...] -o MODEL2\n"
                "         [--lambda 1e-2] [--unfreeze-encoder] [--lr 5e-5] [--steps N] [--batch B]\n"
                "         [--rate-levels KMIN:KMAX [--rate-gains] [--gain-lr X]] [--train-times A:B]\n"
                "         [--val-times C:D] [--resume CKPT]\n"
                "         [common options]\n"
                "  --rate-levels: multi-rate training: each step draws a rate level K in KMIN..KMAX\n"
                "  (-16 .. 40; quantiser step 2^(K/8), as --opt step=K codes) at lambda * 2^(-K/4),\n"
                "  so that one model serves --rmse / --rel-rmse / --ratio targets over that range.\n"
                "  --rate-gains (with --rate-levels): also learn a quantiser-step gain per latent channel\n"
                "  and level (kept in the model; a model that has them trains them in any multi-rate\n"
                "  run), at their own peak learning rate --gain-lr (10 x --lr).\n");
    fprintf(f,
            "  VAR may select levels: T[3] or T[0:5] (0-based, inclusive). Times are 0-based and\n"
            "  inclusive; negative counts from the end (-1 = last), as in --val-times -3:-1.\n"
            "  FILE[:VAR...]@A:B[/C:D] gives one spec its own training (validation) steps; with\n"
            "  @A:B alone its other steps are its validation set.\n"
            "common options: --lr-min X --warmup N --weight-decay X --clip X --no-lat-weight\n"
            "  --checkpoint PATH (default MODEL.ckpt) --checkpoint-every N --stop-at N\n"
            "  --log-every N --val-every N --val-max N --max-fields N --quiet\n"
            "A checkpoint continues a run bit for bit (--resume; the run's options come from it).\n"
            "Under mpirun -n N: data parallel, each rank computing its slice of every batch\n"
            "  (--batch >= N); rank 0 writes the model and the progress lines.\n");
}

void cli_print_line(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

int cli_parse_number(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return *s && !*end && isfinite(*v);
}

/* "A<sep>B" or "A" (then B = A): two whole numbers; 0 if s is not that. */
static int parse_pair(const char *s, char sep, long *a, long *b) {
    char *end;
    *a = *b = strtol(s, &end, 10);
    if (end == s) return 0;
    if (*end == sep) {
        const char *const q = end + 1;
        *b = strtol(q, &end, 10);
        if (end == q) return 0;
    }
    return !*end;
}

int cli_parse_crop(const char *s, long *h, long *w) {
    long a, b;
    if (!parse_pair(s, 'x', &a, &b) || a <= 0 || b <= 0) return 0;
    *h = a, *w = b;
    return 1;
}

int cli_parse_levels(const char *s, int *kmin, int *kmax) {
    long a, b;
    if (!parse_pair(s, ':', &a, &b) || a > b || a < -16 || b > 40) return 0; /* VAE_STEP_MIN .. VAE_STEP_MAX */
    *kmin = (int)a, *kmax = (int)b;
    return 1;
}

static int whole(const char *s, long *v) {
    char *end;
    *v = strtol(s, &end, 10);
    return *s && !*end;
}

static int run(int argc, char **argv, int finetune) {
    climz_train_opts o;
    const char *data[MAX_DATA + 1];
    const char *out = NULL;
    int nd = 0, threads = 0, quiet = 0;
    memset(&o, 0, sizeof o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        long l;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            train_usage(stdout, finetune);
            return 0;
        }
        if (!strcmp(a, "--no-lat-weight")) { o.no_lat_weight = 1; continue; }
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (finetune && !strcmp(a, "--unfreeze-encoder")) { o.unfreeze_encoder = 1; continue; }
        if (finetune && !strcmp(a, "--rate-gains")) { o.rate_gains = 1; continue; }
        if (!v) {
            fprintf(stderr, "climz: option %s needs a value (or is unknown)\n", a);
            return 2;
        }
        i++;
#define REAL(flag, field)                                                                    \
    if (!strcmp(a, flag)) {                                                                 \
        if (!cli_parse_number(v, &d) || d < 0) goto bad;                                    \
        o.field = d;                                                                        \
        continue;                                                                           \
    }
#define LONG(flag, field)                                                                    \
    if (!strcmp(a, flag)) {                                                                 \
        if (!whole(v, &l) || l <= 0) goto bad;                                               \
        o.field = l;                                                                        \
        continue;                                                                           \
    }
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) { out = v; continue; }
        if (!strcmp(a, "--data")) {
            if (nd >= MAX_DATA) goto bad;
            data[nd++] = v;
            continue;
        }
        if (!finetune && !strcmp(a, "--config")) { o.config = v; continue; }
        if (finetune && !strcmp(a, "--model")) { o.model = v; continue; }
        if (finetune && !strcmp(a, "--rate-levels")) {
            if (!cli_parse_levels(v, &o.rate_min, &o.rate_max)) goto bad;
            continue;
        }
        if (!strcmp(a, "--train-times")) { o.train_times = v; continue; }
        if (!strcmp(a, "--val-times")) { o.val_times = v; continue; }
        if (!strcmp(a, "--resume")) { o.resume = v; continue; }
        if (!strcmp(a, "--checkpoint")) { o.checkpoint = v; continue; }
        if (!strcmp(a, "--seed")) {
            char *end;
            o.seed = strtoull(v, &end, 10);
            if (!*v || *end) goto bad;
            continue;
        }
        if (!strcmp(a, "--threads")) {
            if (!whole(v, &l) || l < 0 || l > 1024) goto bad;
            threads = (int)l;
            continue;
        }
        if (!strcmp(a, "--crop")) {
            if (!cli_parse_crop(v, &o.crop_h, &o.crop_w)) goto bad;
            continue;
        }
        LONG("--steps", steps);
        LONG("--batch", batch);
        LONG("--warmup", warmup);
        LONG("--checkpoint-every", checkpoint_every);
        LONG("--log-every", log_every);
        LONG("--val-every", val_every);
        LONG("--val-max", val_max);
        LONG("--max-fields", max_fields);
        LONG("--stop-at", stop_at);
        REAL("--lr", lr);
        REAL("--lr-min", lr_min);
        REAL("--clip", clip);
        REAL("--beta", beta);
        if (finetune) REAL("--lambda", lambda);
        if (finetune) REAL("--gain-lr", gain_lr);
        if (!strcmp(a, "--weight-decay")) {
            if (!cli_parse_number(v, &d) || d < 0) goto bad;
            o.weight_decay = d > 0 ? d : -1; /* 0 means "none" here */
            continue;
        }
#undef REAL
#undef LONG
        fprintf(stderr, "climz: unknown option %s\n", a);
        train_usage(stderr, finetune);
        return 2;
    bad:
        fprintf(stderr, "climz: bad value for %s: %s\n", a, v);
        return 2;
    }
    data[nd] = NULL;
    if (!out || !nd || (finetune && !o.model && !o.resume)) {
        fprintf(stderr, "climz %s: %s\n", finetune ? "finetune" : "train",
                !out ? "no output (-o MODEL)" : !nd ? "no --data" : "no --model");
        train_usage(stderr, finetune);
        return 2;
    }
    o.data = data;
    if (!quiet && cli_mpi_rank() == 0) o.progress = cli_print_line; /* rank 0 alone reports */
    climz_ctx *ctx = climz_ctx_create();
    if (!ctx) {
        fprintf(stderr, "climz: out of memory\n");
        return 1;
    }
    climz_status st = climz_ctx_set_param(ctx, CLIMZ_P_THREADS, threads);
    if (st == CLIMZ_OK) st = cli_mpi_train(ctx, finetune, out, &o); /* data parallel under mpirun */
    if (st != CLIMZ_OK && cli_mpi_rank() == 0)
        fprintf(stderr, "climz %s: %s (%s)\n", finetune ? "finetune" : "train",
                climz_ctx_last_error(ctx), climz_status_name(st));
    climz_ctx_free(ctx);
    return st == CLIMZ_OK ? 0 : 1;
}

int cli_train(int argc, char **argv) { return run(argc, argv, 0); }

int cli_finetune(int argc, char **argv) { return run(argc, argv, 1); }
