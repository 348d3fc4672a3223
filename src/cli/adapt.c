/* adapt.c — `climz adapt`: fine-tunes a VAEformer model (the bundled one by default) on a
 * user's own files, the way CRA5 was trained on the archive it compresses, and reports what
 * it gained on time steps it never trained on.
 *
 * READ ME FIRST
 *  - One command, the finetune path: adapt plans the run (which steps train, which are held
 *    out) and hands it to the same call as `climz finetune` (cli_mpi_train: data parallel
 *    under mpirun, atomic model file, checkpoints). It has no training loop of its own.
 *  - Held-out steps: the last --holdout fraction (default 0.2, at least one step, rounded) of
 *    every variable's time steps, or the steps after B for a spec FILE[:VARS]@A:B. They are
 *    the training's validation set and never a training sample. A variable with fewer than
 *    two time steps has no room for them: an error, before anything is trained.
 *  - Defaults (bench/vae/train_per_set.sh, which reached 2x SZ3 on four held-out sets):
 *    5000 steps, lr 2e-4, 50 warm-up steps, encoder trained too, seed 2, and the lambda the
 *    model was fine-tuned with (its "vae.finetune" record), multi-rate over rate levels
 *    ADAPT_RATE_LEVELS (quantiser steps 0.5 .. 8 at lambda * 4 .. lambda / 64, vae_train.c):
 *    the adapted model serves `--rel-rmse` / `--rmse` / `--ratio` targets over about a 10x
 *    range of error; `--rate-levels 0` trains the one operating point of lambda.
 *  - The report runs the real codec (climz_compress / climz_decompress, vaeformer) on each
 *    variable's held-out block with the starting model and then with the adapted one:
 *    ratio = float32 bytes / frame bytes, RMSE over valid points in % of the whole variable's
 *    range R, at the model's own rate and with the codec's rate search for RMSE <= 1 % of R
 *    (the figure issue 22 compares with SZ3; fallback=0: the model's file, never the residual
 *    codec's that the never-worse choice would write). Rank 0 alone reports.
 *  - Failures: bad input stops before training; the model file is written atomically at the
 *    end of training (never a partial one; Ctrl-C removes the temporary). The checkpoint
 *    MODEL.ckpt is removed after a run that finished.
 */
#include "climz.h"
#include "cli.h"

#include "api/api_internal.h"
#include "io/dataset.h"
#include "vae/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DATA 64
#define ADAPT_RATE_MIN (-8) /* the default --rate-levels */
#define ADAPT_RATE_MAX 24
#define MAX_HELD 256

/* One variable's plan: trained on steps [0, t_hold), held out [t_hold, nt). */
typedef struct held {
    char path[4096];
    char var[256];   /* as given, levels included: "T[0:3]" */
    char name[256];  /* the variable's name */
    long z0, z1;     /* levels [z0, z1], z1 = -1: all */
    size_t t_first;  /* first training step */
    size_t t_hold, nt;
    char spec[4600]; /* the finetune data spec */
} held;

static void adapt_usage(FILE *f) {
    fprintf(f,
            "usage: climz adapt --data FILE[:VAR[,VAR...]][@A:B] [--data ...] -o MODEL.safetensors\n"
            "         [--model MODEL] [--steps 5000] [--lambda L] [--holdout 0.2] [--lr 2e-4]\n"
            "         [--rate-levels -8:24 [--rate-gains]] [--warmup 50] [--batch 8] [--crop 64x64] [--seed 2]\n"
            "         [--threads N] [--quiet]\n"
            "  Fine-tunes the bundled VAEformer model (or --model) on your files, holding out the\n"
            "  last --holdout fraction of each variable's time steps (or the steps after B of\n"
            "  FILE@A:B), then reports ratio and RMSE (%% of the range) on the held-out steps\n"
            "  before and after. The model drives `climz compress --codec vaeformer --model MODEL`.\n"
            "  --lambda: distortion weight (default: the starting model's; lower = smaller files,\n"
            "  larger error). --rate-levels KMIN:KMAX: the rate levels trained together (quantiser\n"
            "  step 2^(K/8) at lambda * 2^(-K/4)), so that the model serves --rel-rmse / --ratio\n"
            "  targets; 0: one rate. --rate-gains: also learn a quantiser-step gain per latent channel\n"
            "  and level (as climz finetune --rate-gains). --crop HxW: the training patches (a\n"
            "  field's whole grid trains its global attention as the codec uses it: tas 96x192,\n"
            "  bench/RESULTS.md). Under mpirun -n N: data parallel, as climz finetune.\n");
}

/* The lambda the model was fine-tuned with (its "vae.finetune" record), 0 if unknown. */
static double model_lambda(const char *path) {
    vae_model m;
    memset(&m, 0, sizeof m);
    double lam = 0;
    if (vae_model_load(&m, path, 0, NULL) == CLIMZ_OK) {
        const char *rec = vae_model_meta(&m, "vae.finetune");
        const char *k = rec ? strstr(rec, "\"lambda\":") : NULL;
        if (k) lam = strtod(k + 9, NULL);
    }
    vae_model_free(&m);
    return lam > 0 && isfinite(lam) ? lam : 0;
}

/* "NAME" or "NAME[i]" / "NAME[i:j]" -> name, levels. */
static int parse_var(const char *s, char *name, size_t cap, long *z0, long *z1) {
    const char *br = strchr(s, '[');
    size_t const len = br ? (size_t)(br - s) : strlen(s);
    if (!len || len >= cap) return 0;
    memcpy(name, s, len);
    name[len] = 0;
    *z0 = 0, *z1 = -1;
    if (!br) return 1;
    char *end;
    *z0 = strtol(br + 1, &end, 10);
    *z1 = *z0;
    if (*end == ':') *z1 = strtol(end + 1, &end, 10);
    return *end == ']' && !end[1] && *z0 >= 0 && *z1 >= *z0;
}

/* Plans one --data spec: one entry per variable. Returns 0 after printing the problem. */
static int plan_spec(const char *spec_in, double frac, held *h, size_t *nh) {
    char spec[4096], range[64] = "";
    if (strlen(spec_in) >= sizeof spec) {
        fprintf(stderr, "climz adapt: data spec too long\n");
        return 0;
    }
    snprintf(spec, sizeof spec, "%s", spec_in);
    char *at = strrchr(spec, '@');
    if (at && at[1] && strspn(at + 1, "0123456789-:") == strlen(at + 1) && strlen(at + 1) < sizeof range) {
        memcpy(range, at + 1, strlen(at + 1) + 1);
        *at = 0;
    }
    char *vars = NULL, *colon = strrchr(spec, ':');
    if (colon && colon != spec && access(spec, F_OK) != 0) *colon = 0, vars = colon + 1;
    cz_dataset *ds = NULL;
    climz_status st = io_open_ex(spec, IO_OPEN_LAZY, &ds);
    if (st) {
        fprintf(stderr, "climz adapt: %s: %s\n", spec, climz_status_message(st));
        return 0;
    }
    char list[4096] = "";
    if (vars && *vars) snprintf(list, sizeof list, "%s", vars);
    else
        for (int v = 0; v < ds->nvars; v++)
            if (ds->vars[v].is_grid && strlen(list) + strlen(ds->vars[v].name) + 2 < sizeof list)
                strcat(list, list[0] ? "," : ""), strcat(list, ds->vars[v].name);
    int ok = list[0] != 0;
    if (!ok) fprintf(stderr, "climz adapt: %s has no gridded variable\n", spec);
    for (char *p = list, *next; ok && p && *p; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = 0;
        if (*nh == MAX_HELD) {
            fprintf(stderr, "climz adapt: more than %d variables\n", MAX_HELD);
            ok = 0;
            break;
        }
        held *e = &h[*nh];
        memset(e, 0, sizeof *e);
        int v = -1;
        size_t nt = 0, nz, ny, nx;
        if (snprintf(e->path, sizeof e->path, "%s", spec) >= (int)sizeof e->path ||
            snprintf(e->var, sizeof e->var, "%s", p) >= (int)sizeof e->var) {
            fprintf(stderr, "climz adapt: %s: the path or the variable \"%.40s\" is too long\n", spec_in, p);
            ok = 0;
        } else if (!parse_var(p, e->name, sizeof e->name, &e->z0, &e->z1)) {
            fprintf(stderr, "climz adapt: bad variable \"%s\" in %s\n", p, spec_in);
            ok = 0;
        } else if ((v = io_find_var(ds, e->name)) < 0 || !ds->vars[v].is_grid) {
            fprintf(stderr, "climz adapt: %s has no gridded variable %s\n", spec, e->name);
            ok = 0;
        } else if (io_field_shape(ds, v, &nt, &nz, &ny, &nx) != CLIMZ_OK) {
            fprintf(stderr, "climz adapt: %s:%s: %s\n", spec, e->name, climz_status_message(CLIMZ_ERR_UNSUPPORTED));
            ok = 0;
        } else if (!io_var_has_time(ds, &ds->vars[v]) || nt < 2) {
            fprintf(stderr, "climz adapt: %s:%s has %zu time step%s: no room for held-out steps "
                            "(adapt needs at least 2; climz finetune trains without them)\n",
                    spec, e->name, nt, nt == 1 ? "" : "s");
            ok = 0;
        } else if (e->z1 >= (long)nz) {
            fprintf(stderr, "climz adapt: %s:%s has %zu levels\n", spec, e->name, nz);
            ok = 0;
        }
        if (!ok) break;
        e->nt = nt;
        if (range[0]) { /* "A:B": train on A..B, hold out the steps after B */
            char *end;
            long a = strtol(range, &end, 10), b = a;
            if (*end == ':') b = strtol(end + 1, &end, 10);
            if (a < 0) a += (long)nt;
            if (b < 0) b += (long)nt;
            if (*end || a < 0 || b < a || b + 1 >= (long)nt) {
                fprintf(stderr, "climz adapt: %s: the range @%s leaves no held-out step after it "
                                "(%s:%s has %zu steps)\n", spec_in, range, spec, e->name, nt);
                ok = 0;
                break;
            }
            e->t_first = (size_t)a, e->t_hold = (size_t)b + 1;
        } else {
            size_t k = (size_t)floor(frac * (double)nt + 0.5);
            if (k < 1) k = 1;
            if (k > nt - 1) k = nt - 1;
            e->t_hold = nt - k;
        }
        if (snprintf(e->spec, sizeof e->spec, "%s:%s@%zu:%zu/%zu:%zu", spec, p, e->t_first, e->t_hold - 1,
                     e->t_hold, nt - 1) >= (int)sizeof e->spec) {
            fprintf(stderr, "climz adapt: %s: the data spec is too long\n", spec_in);
            ok = 0;
            break;
        }
        (*nh)++;
    }
    io_free(ds);
    return ok;
}

typedef struct score {
    double ratio, rel_rmse; /* rel_rmse: RMSE / R */
    double ratio_1;         /* with an RMSE target of ADAPT_TARGET * R (the rate search); 0: none met */
} score;

#define ADAPT_TARGET 0.01 /* the report's error target: RMSE 1 % of the variable's range */

/* One frame of in with the vaeformer codec (options: NULL-terminated or NULL), decoded into
 * y: its bytes in *written (0 when a target is out of the model's reach). */
static climz_status code_block(climz_ctx *ctx, const climz_field *in, const char *model, const char *const *options,
                               unsigned char *frame, size_t cap, float *y, size_t *written) {
    climz_compress_opts co;
    memset(&co, 0, sizeof co);
    co.codec = "vaeformer", co.model = model, co.options = options;
    *written = 0;
    climz_status st = climz_compress(ctx, in, &co, frame, cap, written);
    if (st == CLIMZ_ERR_INVALID_ARG && options && strstr(climz_ctx_last_error(ctx), "no rate level reaches")) {
        *written = 0; /* the target: out of reach */
        return CLIMZ_OK;
    }
    if (!st) st = climz_ctx_set_model(ctx, model);
    climz_field out_f = *in;
    out_f.data = y;
    if (!st) st = climz_decompress(ctx, frame, *written, &out_f);
    return st;
}

/* The vaeformer codec with `model` on e's held-out steps: ratio and RMSE / R at the model's
 * own rate, and the ratio with the RMSE target ADAPT_TARGET * R. */
static climz_status score_held_out(climz_ctx *ctx, const held *e, const char *model, score *sc) {
    cz_dataset *ds = NULL;
    cz_field f;
    memset(&f, 0, sizeof f);
    float *x = NULL, *y = NULL;
    unsigned char *frame = NULL;
    climz_status st = io_open_ex(e->path, IO_OPEN_LAZY, &ds);
    int const v = st ? -1 : io_find_var(ds, e->name);
    if (!st && v < 0) st = CLIMZ_ERR_NOT_FOUND;
    if (!st) st = io_load_field(ds, v, &f);
    if (st) goto out;
    size_t const z0 = (size_t)e->z0, z1 = e->z1 < 0 ? f.nz - 1 : (size_t)e->z1, nz = z1 - z0 + 1;
    size_t const plane = f.ny * f.nx, K = e->nt - e->t_hold, n = K * nz * plane;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < f.nt * f.nz * plane; i++) /* R: the whole variable's valid range */
        if (!f.miss[i]) lo = fmin(lo, f.values[i]), hi = fmax(hi, f.values[i]);
    x = malloc(n * sizeof *x), y = malloc(n * sizeof *y);
    climz_field in = {CLIMZ_FLOAT32, x, K, nz, f.ny, f.nx, 0, 0, 0, 0, 0, 0, f.lat, 0, 0, e->name, 4};
    size_t const cap = climz_compress_bound(&in);
    frame = malloc(cap ? cap : 1);
    if (!x || !y || !frame) {
        st = CLIMZ_ERR_ALLOC;
        goto out;
    }
    for (size_t t = 0; t < K; t++)
        for (size_t z = 0; z < nz; z++) {
            size_t const src = ((e->t_hold + t) * f.nz + z0 + z) * plane, dst = (t * nz + z) * plane;
            for (size_t i = 0; i < plane; i++)
                x[dst + i] = f.miss[src + i] ? NAN : f.values[src + i];
        }
    size_t written = 0;
    st = code_block(ctx, &in, model, NULL, frame, cap, y, &written);
    if (st) goto out;
    double se = 0;
    size_t nv = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]), nv++;
    sc->ratio = (double)(n * sizeof(float)) / (double)written;
    sc->rel_rmse = nv && hi > lo ? sqrt(se / (double)nv) / (hi - lo) : NAN;
    /* the target: an RMSE in units, of the whole variable's range (the codec's --rel-rmse
     * would take the held-out block's own range) */
    sc->ratio_1 = 0;
    if (hi > lo) {
        char opt[64];
        snprintf(opt, sizeof opt, "rmse=%.9g", ADAPT_TARGET * (hi - lo));
        const char *const opts[] = {opt, "fallback=0", NULL}; /* the model's file, not the residual codec's */
        st = code_block(ctx, &in, model, opts, frame, cap, y, &written);
        if (!st && written) sc->ratio_1 = (double)(n * sizeof(float)) / (double)written;
    }
out:
    free(x), free(y), free(frame);
    io_field_free(&f);
    io_free(ds);
    return st;
}

/* The report of one model on every held-out block (rank 0). */
static climz_status score_all(climz_ctx *ctx, const held *h, size_t nh, const char *model, score *sc) {
    for (size_t i = 0; i < nh; i++) {
        climz_status st = score_held_out(ctx, &h[i], model, &sc[i]);
        if (st) {
            fprintf(stderr, "climz adapt: the codec on %s:%s with %s: %s\n", h[i].path, h[i].var, model,
                    climz_ctx_last_error(ctx)[0] ? climz_ctx_last_error(ctx) : climz_status_message(st));
            return st;
        }
    }
    return CLIMZ_OK;
}

int cli_adapt(int argc, char **argv) {
    climz_train_opts o;
    memset(&o, 0, sizeof o);
    const char *data[MAX_DATA + 1], *out = NULL, *model = NULL;
    int nd = 0, threads = 0, quiet = 0;
    double frac = 0.2;
    o.steps = 5000, o.lr = 2e-4, o.warmup = 50, o.seed = 2, o.unfreeze_encoder = 1;
    o.rate_min = ADAPT_RATE_MIN, o.rate_max = ADAPT_RATE_MAX;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            adapt_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(a, "--rate-gains")) { o.rate_gains = 1; continue; }
        if (!v) {
            fprintf(stderr, "climz adapt: option %s needs a value (or is unknown)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) { out = v; continue; }
        if (!strcmp(a, "--model")) { model = v; continue; }
        if (!strcmp(a, "--data")) {
            if (nd == MAX_DATA) goto bad;
            data[nd++] = v;
            continue;
        }
        if (!strcmp(a, "--rate-levels")) {
            if (!cli_parse_levels(v, &o.rate_min, &o.rate_max)) goto bad;
            continue;
        }
        if (!strcmp(a, "--crop")) {
            if (!cli_parse_crop(v, &o.crop_h, &o.crop_w)) goto bad;
            continue;
        }
        if (!cli_parse_number(v, &d)) goto bad;
        if (!strcmp(a, "--holdout") && d > 0 && d < 1) frac = d;
        else if (!strcmp(a, "--lambda") && d > 0) o.lambda = d;
        else if (!strcmp(a, "--lr") && d > 0) o.lr = d;
        else if (!strcmp(a, "--steps") && d >= 1 && d <= 1e9 && d == floor(d)) o.steps = (long)d;
        else if (!strcmp(a, "--warmup") && d >= 1 && d <= 1e9 && d == floor(d)) o.warmup = (long)d;
        else if (!strcmp(a, "--batch") && d >= 1 && d <= 4096 && d == floor(d)) o.batch = (long)d;
        else if (!strcmp(a, "--seed") && d >= 0 && d <= 1e18 && d == floor(d)) o.seed = (unsigned long long)d;
        else if (!strcmp(a, "--threads") && d >= 0 && d <= 1024 && d == floor(d)) threads = (int)d;
        else if (!strcmp(a, "--holdout") || !strcmp(a, "--lambda") || !strcmp(a, "--lr") || !strcmp(a, "--steps") ||
                 !strcmp(a, "--warmup") || !strcmp(a, "--batch") || !strcmp(a, "--seed") || !strcmp(a, "--threads"))
            goto bad;
        else {
            fprintf(stderr, "climz adapt: unknown option %s\n", a);
            adapt_usage(stderr);
            return 2;
        }
        continue;
    bad:
        fprintf(stderr, "climz adapt: bad value for %s: %s\n", a, v);
        return 2;
    }
    if (!out || !nd) {
        fprintf(stderr, "climz adapt: %s\n", !out ? "no output (-o MODEL)" : "no --data");
        adapt_usage(stderr);
        return 2;
    }
    if (o.warmup > o.steps) o.warmup = o.steps / 20;
    char bundled[4096];
    if (!model || !strcmp(model, "bundled")) {
        if (api_vaeformer_default_model(bundled, sizeof bundled) != CLIMZ_OK) {
            fprintf(stderr, "climz adapt: %s\n", cz_error_message());
            return 1;
        }
        model = bundled;
    }
    if (!o.lambda && !(o.lambda = model_lambda(model))) {
        fprintf(stderr, "climz adapt: %s records no phase-2 lambda: give --lambda\n", model);
        return 2;
    }
    /* the plan: one finetune spec per variable, the held-out steps its validation set */
    static held h[MAX_HELD];
    size_t nh = 0;
    const char *specs[MAX_HELD + 1];
    for (int i = 0; i < nd; i++)
        if (!plan_spec(data[i], frac, h, &nh)) return 2;
    for (size_t i = 0; i < nh; i++) specs[i] = h[i].spec;
    specs[nh] = NULL;
    int const root = cli_mpi_rank() == 0, talk = root && !quiet;
    if (talk) {
        fprintf(stderr, "adapt: %s -> %s, lambda %g, %ld steps, rate levels %d..%d\n", model, out, o.lambda, o.steps,
                o.rate_min, o.rate_max);
        for (size_t i = 0; i < nh; i++)
            fprintf(stderr, "adapt: %s:%s trains on steps %zu..%zu, holds out %zu..%zu (%zu of %zu)\n", h[i].path,
                    h[i].var, h[i].t_first, h[i].t_hold - 1, h[i].t_hold, h[i].nt - 1, h[i].nt - h[i].t_hold,
                    h[i].nt);
    }
    climz_ctx *ctx = climz_ctx_create();
    if (!ctx) {
        fprintf(stderr, "climz: out of memory\n");
        return 1;
    }
    static score before[MAX_HELD], after[MAX_HELD];
    climz_status st = climz_ctx_set_param(ctx, CLIMZ_P_THREADS, threads);
    if (!st && root && !quiet) st = score_all(ctx, h, nh, model, before);
    o.model = model;
    o.data = specs;
    o.val_every = o.steps / 5 > 0 ? o.steps / 5 : 1;
    o.log_every = o.steps / 100 > 10 ? o.steps / 100 : 10;
    if (talk) o.progress = cli_print_line;
    if (!st) st = cli_mpi_train(ctx, 1, out, &o); /* climz finetune's path */
    if (st) {
        if (root) fprintf(stderr, "climz adapt: %s (%s)\n", climz_ctx_last_error(ctx), climz_status_name(st));
        climz_ctx_free(ctx);
        return 1;
    }
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", out);
    if (root) remove(ckpt); /* the run finished: nothing to resume */
    if (talk && !(st = score_all(ctx, h, nh, out, after))) {
        fprintf(stderr, "adapt: held-out steps, the vaeformer codec (ratio at RMSE %% of the range), "
                        "before -> after:\n");
        for (size_t i = 0; i < nh; i++) {
            char b1[32] = "none", a1[32] = "none"; /* "none": no rate level meets the target */
            if (before[i].ratio_1 > 0) snprintf(b1, sizeof b1, "%.1fx", before[i].ratio_1);
            if (after[i].ratio_1 > 0) snprintf(a1, sizeof a1, "%.1fx", after[i].ratio_1);
            fprintf(stderr, "adapt:   %s:%s steps %zu..%zu: %.1fx at %.3f %% -> %.1fx at %.3f %%; at RMSE %g %% of the "
                            "range: %s -> %s\n",
                    h[i].path, h[i].var, h[i].t_hold, h[i].nt - 1, before[i].ratio, 100 * before[i].rel_rmse,
                    after[i].ratio, 100 * after[i].rel_rmse, 100 * ADAPT_TARGET, b1, a1);
        }
        fprintf(stderr, "adapt: compress with: climz compress IN -o OUT.clz --codec vaeformer --model %s\n", out);
    }
    climz_ctx_free(ctx);
    return st ? 1 : 0;
}
