/* main.c — the climz command-line program, built on the public API (include/climz.h).
 *
 *   climz compress   --codec residual (--max-abs-error E | --rel-error R) [--var V]... IN -o OUT.clz
 *   climz decompress IN.clz -o OUT.nc [--var V]... [--times A:B]
 *   climz compress   --format nc4 ... IN -o OUT.nc [--chunk N|A,B,...]
 *   climz info       IN.clz|IN.nc [--json]
 *   climz eval       --ref ORIGINAL DECODED.(nc|clz) [--var V]... [--json]
 *
 * Exit status: 0 on success, 1 on a failure reported by the library, 2 on a usage error. */
#include "climz.h"
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_VARS 256

static void usage(FILE *f) {
    fprintf(f,
            "climz %s — compression of gridded weather and climate data\n\n"
            "usage:\n"
            "  climz compress [--codec residual|vaeformer|inr] [--max-abs-error E | --rel-error R] [--var NAME]...\n"
            "                 [--threads N] [--temporal] [--format clz|nc4] [--chunk N|A,B,...] IN -o OUT\n"
            "      IN: NetCDF (3 or 4), GRIB (1 or 2) or GrADS .ctl. --var repeats; default: every\n"
            "      gridded data variable. E = 0 is lossless; R is relative to each variable's range.\n"
            "      The residual codec needs a bound (E = 0: lossless) or an RMSE target: --rmse X\n"
            "      (data units) or --rel-rmse r (of each variable's range) codes at the largest bound\n"
            "      whose RMSE is within it (searched on trial encodings; with a bound too, the smaller\n"
            "      bound wins; climz info shows it). With a learned codec the bound is optional (0 or\n"
            "      absent: none) and adds the residual stage on top of the network.\n"
            "      vaeformer: [--model MODEL] (default: the bundled models/climz-default.safetensors)\n"
            "           [--opt group=N] [--opt levels=0|1] [--opt tile=N] [--opt refine=STEPS]\n"
            "           [--opt interp=0|1] [--opt spatial=0|1] [--opt fallback=0|1] [--opt floor=0|1]\n"
            "           [--rmse X | --rel-rmse r | --ratio R | --opt step=K]\n"
            "           under a bound or an RMSE target a variable the residual codec alone makes\n"
            "           smaller is coded with it (fallback=0: never). One model, many rates: --rmse X\n"
            "           (data units), --rel-rmse r (of the range) or --ratio R pick the quantisation\n"
            "           step of the latent per variable (the coarsest within the RMSE; the ratio\n"
            "           within ~5 %%); step=K fixes it (2^(K/8), -16..40; 0: the model's own rate).\n"
            "           An RMSE below the finest step's (~0.5 %% of the range) is met by the residual\n"
            "           stage at a searched bound on the latent of step 24 (floor=0: an error)\n"
            "      inr: [--context FILE:VAR]... [--context climatology] [--ratio R | --psnr P]\n"
            "           [--opt arch=siren|resgelu] [--opt width=W] [--opt depth=D] [--opt iters=N]\n"
            "           [--opt lr=L] [--opt batch=B] [--opt fourier=F] [--opt sigma=S] [--opt seed=S]\n"
            "      --format nc4: a netCDF-4 file instead of a .clz, its gridded float variables coded\n"
            "           by the climz HDF5 filter (residual or vaeformer; readers need\n"
            "           HDF5_PLUGIN_PATH=<build>/plugins), one time step per chunk or --chunk N steps\n"
            "           or --chunk A,B,... (the chunk shape, 0 = whole dim); see doc/hdf5-filter.md\n"
            "  climz decompress IN.clz -o OUT.nc [--var NAME]... [--times A:B] [--threads N]\n"
            "                 [--context FILE:VAR]...\n"
            "      --times A:B decodes time steps A..B (0-based, inclusive); --context points at a\n"
            "      context file that moved (its SHA-256 must match the one recorded).\n"
            "  climz train --data FILE[:VAR[,VAR...]]... --train-times A:B [--val-times C:D] -o MODEL\n"
            "  climz finetune --model MODEL --data ... -o MODEL2   (climz train --help for all options)\n"
            "  climz adapt --data FILE[:VAR...]... -o MODEL [--steps 5000] [--lambda L] [--holdout 0.2]\n"
            "      fine-tunes the bundled model on your files, reports ratio and RMSE on held-out\n"
            "      steps before and after (climz adapt --help)\n"
            "  climz info IN.clz|IN.nc [--json]\n"
            "      IN.nc: a netCDF-4 / HDF5 file: chunks, filters and ratio of every variable\n"
            "  climz eval --ref ORIGINAL DECODED [--var NAME]... [--json]\n"
            "      DECODED: a NetCDF file or a .clz (decoded on the fly).\n"
            "  climz plot IN.clz --ref ORIGINAL.nc -o OUT.png [--var NAME] [--time T] [--level L]\n"
            "      original, decoded and error maps (python3 -m climz.plot, matplotlib).\n"
            "  climz --version\n",
            climz_version_string());
}

/* Command-line options shared by the subcommands. */
#define MAX_OPTS 32

typedef struct cli_opts {
    const char *in, *out, *ref, *codec, *model, *format, *chunk;
    char optbuf[MAX_OPTS][512]; /* codec options "key=value" */
    const char *options[MAX_OPTS + 1];
    int noptions;
    const char *vars[MAX_VARS + 1];
    int nvars;
    double max_abs_error, rel_error;
    int have_abs, have_rel, json, threads, temporal;
    long t_first, t_count;
} cli_opts;

static int parse_double(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return *s && !*end && isfinite(*v);
}

static int parse_times(const char *s, long *first, long *count) {
    char *end;
    long const a = strtol(s, &end, 10);
    long b = a;
    if (end == s) return 0;
    if (*end == ':') {
        const char *s2 = end + 1;
        b = strtol(s2, &end, 10);
        if (end == s2) return 0;
    }
    if (*end || a < 0 || b < a) return 0;
    *first = a;
    *count = b - a + 1;
    return 1;
}

/* Adds codec option key=value; returns 0, or prints the problem and returns 2. */
static int add_option(cli_opts *o, const char *key, const char *value) {
    if (o->noptions == MAX_OPTS) {
        fprintf(stderr, "climz: too many codec options\n");
        return 2;
    }
    char *b = o->optbuf[o->noptions];
    if (key) snprintf(b, sizeof o->optbuf[0], "%s=%s", key, value);
    else snprintf(b, sizeof o->optbuf[0], "%s", value);
    if (!strchr(b, '=')) {
        fprintf(stderr, "climz: codec option '%s' is not key=value\n", b);
        return 2;
    }
    o->options[o->noptions++] = b;
    o->options[o->noptions] = NULL;
    return 0;
}

/* Parses argv[2..]; returns 0 on success, prints the problem and returns 2 otherwise. */
static int parse_opts(int argc, char **argv, cli_opts *o) {
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VAL()                                                                          \
    do {                                                                                    \
        if (!val) {                                                                         \
            fprintf(stderr, "climz: option %s needs a value\n", a);                         \
            return 2;                                                                       \
        }                                                                                   \
        i++;                                                                                \
    } while (0)
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) { NEED_VAL(); o->out = val; }
        else if (!strcmp(a, "--ref")) { NEED_VAL(); o->ref = val; }
        else if (!strcmp(a, "--codec")) { NEED_VAL(); o->codec = val; }
        else if (!strcmp(a, "--model")) { NEED_VAL(); o->model = val; }
        else if (!strcmp(a, "--format")) { NEED_VAL(); o->format = val; }
        else if (!strcmp(a, "--chunk")) { NEED_VAL(); o->chunk = val; }
        else if (!strcmp(a, "--context") || !strcmp(a, "--ratio") || !strcmp(a, "--psnr") || !strcmp(a, "--rmse") ||
                 !strcmp(a, "--rel-rmse")) {
            NEED_VAL();
            if (add_option(o, a + 2, val)) return 2;
        } else if (!strcmp(a, "--opt")) {
            NEED_VAL();
            if (add_option(o, NULL, val)) return 2;
        }
        else if (!strcmp(a, "--var") || !strcmp(a, "--vars")) {
            NEED_VAL();
            /* an empty name (--var '', "a,,b") would silently mean every variable */
            size_t const vl = strlen(val);
            if (!vl || val[0] == ',' || val[vl - 1] == ',' || strstr(val, ",,")) {
                fprintf(stderr, "climz: %s needs variable names, got '%s'\n", a, val);
                return 2;
            }
            /* --vars takes a comma-separated list too (argv strings may be modified) */
            for (char *tok = strtok(argv[i], ","); tok; tok = strtok(NULL, ",")) {
                if (o->nvars == MAX_VARS) { fprintf(stderr, "climz: too many --var\n"); return 2; }
                o->vars[o->nvars++] = tok;
            }
        } else if (!strcmp(a, "--max-abs-error")) {
            NEED_VAL();
            if (!parse_double(val, &o->max_abs_error) || o->max_abs_error < 0) {
                fprintf(stderr, "climz: --max-abs-error needs a number >= 0, got '%s'\n", val);
                return 2;
            }
            o->have_abs = 1;
        } else if (!strcmp(a, "--rel-error")) {
            NEED_VAL();
            if (!parse_double(val, &o->rel_error) || o->rel_error <= 0 || o->rel_error > 1) {
                fprintf(stderr, "climz: --rel-error needs a number in (0, 1], got '%s'\n", val);
                return 2;
            }
            o->have_rel = 1;
        } else if (!strcmp(a, "--threads")) {
            NEED_VAL();
            char *end;
            long const t = strtol(val, &end, 10);
            if (!*val || *end || t < 0 || t > 1024) {
                fprintf(stderr, "climz: --threads needs a whole number from 0 to 1024, got '%s'\n", val);
                return 2;
            }
            o->threads = (int)t;
        } else if (!strcmp(a, "--times")) {
            NEED_VAL();
            if (!parse_times(val, &o->t_first, &o->t_count)) {
                fprintf(stderr, "climz: --times needs A:B (0-based, inclusive), got '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--temporal")) o->temporal = 1;
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "climz: unknown option %s\n", a); return 2; }
        else if (!o->in) o->in = a;
        else { fprintf(stderr, "climz: unexpected argument '%s'\n", a); return 2; }
#undef NEED_VAL
    }
    o->vars[o->nvars] = NULL;
    return 0;
}

static int fail(climz_ctx *ctx, climz_status s) {
    fprintf(stderr, "climz: error: %s [%s]\n", climz_ctx_last_error(ctx), climz_status_name(s));
    return 1;
}

static double jnum(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Human summary of a .clz from its info JSON. */
static void print_info(const char *text) {
    json_t *root = json_loads(text, JSON_ALLOW_NUL, NULL);
    if (!root) return;
    printf("%s: %s codec, %.0f bytes, ratio %.2f vs float32 (%.3f bits/value)\n",
           json_string_value(json_object_get(root, "file")), json_string_value(json_object_get(root, "codec")),
           jnum(root, "file_bytes"), jnum(root, "ratio"), jnum(root, "bits_per_value"));
    if (json_object_get(root, "ratio_with_external_contexts"))
        printf("  ratio %.2f counting the external context files (zstd -19 of their values)\n",
               jnum(root, "ratio_with_external_contexts"));
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(root, "notes"), k, e) printf("  note: %s\n", json_string_value(e));
    printf("  %-16s %-22s %10s %12s %12s %12s %9s\n", "variable", "shape (t,z,y,x)", "ratio", "bound", "rmse",
           "max error", "psnr dB");
    json_array_foreach(json_object_get(root, "variables"), k, e) {
        json_t *sh = json_object_get(e, "shape"), *er = json_object_get(e, "errors");
        char shape[64];
        snprintf(shape, sizeof shape, "%lld,%lld,%lld,%lld", (long long)json_integer_value(json_array_get(sh, 0)),
                 (long long)json_integer_value(json_array_get(sh, 1)), (long long)json_integer_value(json_array_get(sh, 2)),
                 (long long)json_integer_value(json_array_get(sh, 3)));
        printf("  %-16s %-22s %10.2f %12.4g %12.4g %12.4g %9.2f\n", json_string_value(json_object_get(e, "name")),
               shape, jnum(e, "ratio"), jnum(e, "max_abs_error_bound"), jnum(er, "rmse"), jnum(er, "max_abs_error"),
               jnum(er, "psnr"));
    }
    json_array_foreach(json_object_get(root, "variables"), k, e) { /* which coder each variable got */
        json_t *asked = json_object_get(e, "codec_asked"), *modes = json_object_get(e, "residual_modes");
        if (!asked && !modes) continue;
        printf("  %s: %s codec", json_string_value(json_object_get(e, "name")),
               json_string_value(json_object_get(e, "codec")));
        if (asked) {
            printf(" (chosen over %s", json_string_value(asked));
            if (json_object_get(e, "codec_asked_bytes")) printf(": %.0f bytes", jnum(e, "codec_asked_bytes"));
            printf(")");
        }
        const char *mode;
        json_t *count;
        char const *sep = "; residual streams: ";
        json_object_foreach(modes, mode, count) {
            printf("%s%lld %s", sep, (long long)json_integer_value(count), mode);
            sep = ", ";
        }
        printf("\n");
    }
    json_decref(root);
}

static void print_eval(const char *text) {
    json_t *root = json_loads(text, JSON_ALLOW_NUL, NULL);
    if (!root) return;
    if (json_object_get(root, "compression_ratio"))
        printf("ratio %.2f vs float32 (%.3f bits/value), decoded in %.3f s (%.1f MB/s)\n",
               jnum(root, "compression_ratio"), jnum(root, "bits_per_value"), jnum(root, "decode_seconds"),
               jnum(root, "decode_MBps"));
    if (json_object_get(root, "compression_ratio_with_external_contexts"))
        printf("ratio %.2f counting the external context files\n", jnum(root, "compression_ratio_with_external_contexts"));
    printf("  %-16s %12s %12s %12s %12s %9s %9s %8s\n", "variable", "rmse", "lat rmse", "nrmse", "max error",
           "psnr dB", "SEDI99.5", "masks");
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(root, "variables"), k, e) {
        printf("  %-16s %12.5g %12.5g %12.4g %12.5g %9.2f %9.4f %8s\n", json_string_value(json_object_get(e, "name")),
               jnum(e, "rmse"), jnum(e, "lat_rmse"), jnum(e, "nrmse"), jnum(e, "max_abs_error"), jnum(e, "psnr"),
               jnum(json_object_get(e, "sedi"), "99.5"),
               json_integer_value(json_object_get(e, "missing_mask_mismatches")) ? "DIFFER" : "same");
    }
    /* science fidelity (issue 21, doc/metrics.md): bias, per-field correlation and SSIM, the
     * tail of |error|, and the zonal spectrum's decoded / original energy */
    printf("\n  %-16s %11s %9s %8s %11s %11s %9s %10s %7s %s\n", "variable", "bias", "corr", "SSIM", "p99.9|e|",
           "p99.99|e|", ">5rmse", "max|lnE|", "k<0.9E", "spectrum rows");
    json_array_foreach(json_object_get(root, "variables"), k, e) {
        json_t *const z = json_object_get(e, "zonal_spectrum"), *const kb = json_object_get(z, "k_ratio_below_0.9");
        char kbuf[24] = "none", lbuf[24] = "-"; /* "-": no row without a missing point */
        if (json_is_integer(kb)) snprintf(kbuf, sizeof kbuf, "%lld", (long long)json_integer_value(kb));
        if (json_is_number(json_object_get(z, "max_abs_log_ratio"))) snprintf(lbuf, sizeof lbuf, "%.4f", jnum(z, "max_abs_log_ratio"));
        else snprintf(kbuf, sizeof kbuf, "-");
        const char *const rows = json_string_value(json_object_get(z, "rows"));
        printf("  %-16s %11.4g %9.6f %8.5f %11.5g %11.5g %9.2e %10s %7s %lld used, %lld skipped, %s\n",
               json_string_value(json_object_get(e, "name")), jnum(e, "bias"),
               jnum(json_object_get(e, "correlation"), "mean"), jnum(json_object_get(e, "ssim"), "mean"),
               jnum(json_object_get(e, "abs_error_tail"), "p99.9"), jnum(json_object_get(e, "abs_error_tail"), "p99.99"),
               jnum(json_object_get(e, "abs_error_tail"), "fraction_beyond_5rmse"), lbuf, kbuf,
               (long long)json_integer_value(json_object_get(z, "rows_used")),
               (long long)json_integer_value(json_object_get(z, "rows_skipped_missing")),
               rows && !strncmp(rows, "periodic", 8) ? "periodic" : "non-periodic (detrended, Hann window)");
    }
    json_decref(root);
}

/* Progress lines overwrite each other on a terminal, and are plain lines otherwise. */
static void print_progress(void *user, const char *line) {
    *(int *)user = 1;
    fprintf(stderr, isatty(2) ? "\r%s\033[K" : "%s\n", line);
}

static int cmd_compress(climz_ctx *ctx, const cli_opts *o) {
    if (!o->in || !o->out) { fprintf(stderr, "climz compress: need IN and -o OUT.clz\n"); return 2; }
    int const learned = o->codec && strcmp(o->codec, "residual") != 0;
    if (o->have_abs && o->have_rel) {
        fprintf(stderr, "climz compress: give only one of --max-abs-error E or --rel-error R\n");
        return 2;
    }
    int rmse_target = 0; /* --rmse / --rel-rmse: the residual codec's bound is searched for it */
    for (int k = 0; k < o->noptions; k++) {
        rmse_target |= !strncmp(o->options[k], "rmse=", 5) || !strncmp(o->options[k], "rel-rmse=", 9);
        if (!learned && (!strncmp(o->options[k], "ratio=", 6) || !strncmp(o->options[k], "psnr=", 5))) {
            fprintf(stderr, "climz compress: --%.*s is a target of a learned codec (--codec vaeformer or inr); the "
                    "residual codec is set by its bound or an RMSE target (--rmse, --rel-rmse)\n",
                    (int)strcspn(o->options[k], "="), o->options[k]);
            return 2;
        }
    }
    if (!learned && !o->have_abs && !o->have_rel && !rmse_target) {
        fprintf(stderr, "climz compress: the residual codec needs --max-abs-error E, --rel-error R or an RMSE target "
                        "(--rmse X, --rel-rmse r)\n");
        return 2;
    }
    int const nc4 = o->format && !strcmp(o->format, "nc4");
    if (nc4 && o->noptions) { /* the HDF5 filter codes each chunk under a bound, with no codec options */
        fprintf(stderr, "climz compress: --format nc4 takes a bound (--max-abs-error, --rel-error) only, not "
                        "--rmse, --rel-rmse, --ratio or --opt\n");
        return 2;
    }
    if (o->format && !nc4 && strcmp(o->format, "clz")) {
        fprintf(stderr, "climz compress: --format is clz or nc4, not '%s'\n", o->format);
        return 2;
    }
    if (!nc4 && o->chunk) { fprintf(stderr, "climz compress: --chunk goes with --format nc4\n"); return 2; }
    if (nc4) /* the filter's codecs, through HDF5 */
        return cli_compress_nc4(o->in, o->out, o->codec, o->nvars ? o->vars : NULL, o->max_abs_error,
                                o->have_rel ? o->rel_error : 0, o->chunk, o->json);
    climz_status s = o->have_rel ? climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, o->rel_error)
                                 : climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, o->max_abs_error);
    if (!s) s = climz_ctx_set_param(ctx, CLIMZ_P_TEMPORAL, o->temporal);
    if (s) return fail(ctx, s);
    int progressed = 0;
    climz_compress_opts const co = {.codec = o->codec, .vars = o->nvars ? o->vars : NULL, .model = o->model,
                                    .options = o->noptions ? o->options : NULL, .progress = print_progress,
                                    .progress_user = &progressed};
    s = cli_mpi_compress(ctx, o->in, o->out, &co); /* climz_compress_file, spread over ranks under mpirun */
    if (progressed && isatty(2)) fputc('\n', stderr); /* end the overwritten line */
    if (cli_mpi_rank()) return s ? 1 : 0;           /* rank 0 alone reports */
    if (s) return fail(ctx, s);
    char *info = NULL;
    s = climz_info_json(ctx, o->out, &info);
    if (s) return fail(ctx, s);
    if (o->json) puts(info);
    else print_info(info);
    climz_free(info);
    return 0;
}

static int cmd_decompress(climz_ctx *ctx, const cli_opts *o) {
    if (!o->in || !o->out) { fprintf(stderr, "climz decompress: need IN.clz and -o OUT.nc\n"); return 2; }
    climz_decompress_opts const d = {.vars = o->nvars ? o->vars : NULL, .time_first = o->t_first,
                                     .time_count = o->t_count, .model = o->model,
                                     .options = o->noptions ? o->options : NULL};
    climz_status const s = cli_mpi_decompress(ctx, o->in, o->out, &d);
    if (cli_mpi_rank()) return s ? 1 : 0;
    if (s) return fail(ctx, s);
    if (!o->json) printf("%s -> %s\n", o->in, o->out);
    return 0;
}

static int cmd_info(climz_ctx *ctx, const cli_opts *o) {
    if (!o->in) { fprintf(stderr, "climz info: need a .clz file\n"); return 2; }
    if (cli_is_nc4(o->in)) return cli_info_nc4(o->in, o->json);
    char *info = NULL;
    climz_status const s = climz_info_json(ctx, o->in, &info);
    if (s) return fail(ctx, s);
    if (o->json) puts(info);
    else print_info(info);
    climz_free(info);
    return 0;
}

static int cmd_eval(climz_ctx *ctx, const cli_opts *o) {
    if (!o->ref || !o->in) { fprintf(stderr, "climz eval: need --ref ORIGINAL and DECODED\n"); return 2; }
    char *out = NULL;
    climz_status const s = climz_eval_json(ctx, o->ref, o->in, o->nvars ? o->vars : NULL, &out);
    if (s) return fail(ctx, s);
    if (o->json) puts(out);
    else print_eval(out);
    climz_free(out);
    return 0;
}

/* OpenMP threads that spin while waiting (libgomp's default) fight for the cores with
 * OpenBLAS and with other processes: on a loaded 2-core machine training ran 7x slower with
 * 2 spinning threads than with 1. libgomp reads OMP_WAIT_POLICY once at start-up, so when it
 * is unset the program starts itself again with OMP_WAIT_POLICY=PASSIVE. */
static void passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv); /* returns only on failure: then carry on as we are */
}

int main(int argc, char **argv) {
    passive_openmp(argv);
    /* a file-size limit (ulimit -f) must surface as a write error, not kill the process */
    signal(SIGXFSZ, SIG_IGN);
    cli_install_signal_handlers();
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("climz %s\n", climz_version_string());
        return 0;
    }
    if (!strcmp(argv[1], "train") || !strcmp(argv[1], "finetune") || !strcmp(argv[1], "adapt")) {
        cli_mpi_start(&argc, &argv); /* data parallel under mpirun */
        int const rc = !strcmp(argv[1], "train")      ? cli_train(argc, argv)
                       : !strcmp(argv[1], "finetune") ? cli_finetune(argc, argv)
                                                      : cli_adapt(argc, argv);
        cli_mpi_stop();
        return rc;
    }
    if (!strcmp(argv[1], "plot")) return cli_plot(argc, argv);
    cli_opts o;
    int const r = parse_opts(argc, argv, &o);
    if (r) return r;
    if (!strcmp(argv[1], "compress") || !strcmp(argv[1], "decompress")) cli_mpi_start(&argc, &argv);
    climz_ctx *ctx = climz_ctx_create();
    if (!ctx) { fprintf(stderr, "climz: out of memory\n"); return 1; }
    int rc = 2;
    if (o.threads && climz_ctx_set_param(ctx, CLIMZ_P_THREADS, o.threads) != CLIMZ_OK) rc = fail(ctx, CLIMZ_ERR_INVALID_ARG);
    else if (!strcmp(argv[1], "compress")) rc = cmd_compress(ctx, &o);
    else if (!strcmp(argv[1], "decompress")) rc = cmd_decompress(ctx, &o);
    else if (!strcmp(argv[1], "info")) rc = cmd_info(ctx, &o);
    else if (!strcmp(argv[1], "eval")) rc = cmd_eval(ctx, &o);
    else {
        fprintf(stderr, "climz: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
    }
    climz_ctx_free(ctx);
    cli_mpi_stop();
    return rc;
}
