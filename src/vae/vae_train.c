/* vae_train.c — the two training phases of the VAEformer (vae/vae.h) on NetCDF / GRIB /
 * GrADS data: data specs, sampling, the loop of optimizer steps, validation, checkpoints
 * (vae_train.h; climz_train_file() and climz_finetune_file() in src/api/train.c call it).
 *
 * READ ME FIRST
 *  - Samples. A single-channel model (in_channels 1) sees every (variable, level, time step)
 *    plane of every data spec as one sample; a multi-channel model sees one sample per time
 *    step, its channels being every (variable, level) of the specs in order (all on one
 *    grid with one time axis). Fields without a time axis are training data only.
 *  - Normalisation. field_norm models normalise each plane by its own mean/std; otherwise
 *    by the per-channel mean/std of the training split, stored in the model. Missing points
 *    are 0 after normalisation and excluded from the loss.
 *  - Batches are random crops (crop_h x crop_w) of random samples: a source variable drawn
 *    uniformly (so every data spec weighs alike, however many time steps it has), then one
 *    of its samples; a sample smaller than the crop is padded (edge values, masked). Row
 *    weights are cos(latitude) of the crop's rows.
 *  - A data spec "FILE[:VARS]@A:B[/C:D]" has its own training (and validation) time ranges,
 *    overriding train_times / val_times for it; "@A:B" alone validates on every other step.
 *  - Reproducible: step k draws everything (samples, crops, eps / noise) from a generator
 *    seeded with (seed, k). A checkpoint stores the weights, the optimizer, the step and the
 *    options, so a resumed run continues bit for bit (same machine and thread count).
 *  - Validation runs the codec's path (phase 2: quantised, with the rate the entropy model
 *    assigns) on whole held-out planes, centre-cropped to at most VAL_MAX_H x VAL_MAX_W.
 *  - Data parallel (vae_train_ex with N ranks, `mpirun -n N climz train`): the global batch
 *    and its draws are those of one process; rank r computes the contiguous slice
 *    [r*B/N, (r+1)*B/N) of it (every rank draws the whole batch's samples and crops from the
 *    step's generator, fills only its slice, and its trainer skips the other slices' noise:
 *    vae_shard). The per-sample MSE weights are gathered first, so each rank weighs its
 *    samples by their share of the global batch; the ranks' loss parts and gradients are
 *    summed in rank order (comm->sum), and every rank applies the same AdamW step to the same
 *    sum, so the weights stay identical; their SHA-256 is compared across the ranks at the
 *    start, at every validation and at the end. 1 and N ranks are the same training up to
 *    the order of float sums; N ranks are bit-reproducible for a fixed N.
 *  - Under N ranks every rank reads every data spec as one process does: it opens each file
 *    (lazily for NetCDF, but that open streams each gridded variable once to find its special
 *    values, src/io/io_netcdf.c; GRIB and GrADS are read whole) and loads the selected
 *    variables whole (io_load_field), since each step may draw any sample. Loading only the
 *    steps a rank's slices draw (io_load_field_times) would save memory but no reading, so it
 *    is not done. Rank 0 alone validates and writes checkpoints, the model and the progress
 *    lines. A checkpoint records its rank count: resuming on another count
 *    continues the same training (same global batch and draws), not bit for bit.
 *  - A failure on any rank (a file, memory, a non-finite loss) is exchanged at the next
 *    collective point (after setup, every step, validation, checkpoint, the end), so every
 *    rank stops with the failing rank's message and the model file is never written.
 */
#include "vae/vae_train.h"
#include "io/dataset.h"
#include "nn/loss.h"
#include "vae/vae.h"
#include "vae/vae_codec.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define VAL_MAX_H 128
#define VAL_MAX_W 256
#define META_STEP "vae.ckpt.step"
#define META_RANKS "vae.ckpt.ranks"
#define META_OPTS "vae.ckpt.opts"
#define META_TRAIN "vae.train"
#define META_VAL "vae.train.val"

/* ---- progress ------------------------------------------------------------------------ */

static void say(const climz_train_opts *o, const char *fmt, ...) CZ_PRINTF(2, 3);
static void say(const climz_train_opts *o, const char *fmt, ...) {
    if (!o->progress) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(o->progress_user, line);
}

static void fmt_secs(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* ---- data ------------------------------------------------------------------------------ */

typedef struct tr_field {
    char *label;     /* "file:var" */
    cz_field f;
    int has_time;
    size_t z0, z1;   /* levels used, [z0, z1) */
    char tr[64], va[64]; /* this spec's own time ranges ("@TRAIN/VAL"), "" = none */
    int va_rest;     /* validation = every step outside the training range */
} tr_field;

/* A sample: C planes on one ny x nx grid. */
typedef struct tr_sample {
    size_t ny, nx;
    const float **v;        /* C planes (ny * nx) */
    const uint8_t **miss;   /* C masks */
    const double *lat;      /* ny, or NULL */
    double *mean, *std;     /* C per-plane statistics (valid points) */
    double *lo, *hi;        /* C value ranges */
    int field;              /* first field (for labels) */
    size_t t;
} tr_sample;

typedef struct tr_data {
    tr_field *fields;
    size_t nfields;
    tr_sample *train, *val;
    size_t ntrain, nval;
    size_t *grp_first, *grp_count; /* training samples of each source field, contiguous */
    size_t ngrp;
    size_t C;
    size_t max_ny, max_nx;
} tr_data;

static void data_free(tr_data *d) {
    for (size_t i = 0; i < d->nfields; i++) {
        free(d->fields[i].label);
        io_field_free(&d->fields[i].f);
    }
    free(d->fields);
    tr_sample *lists[2] = {d->train, d->val};
    size_t counts[2] = {d->ntrain, d->nval};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < counts[k]; i++) {
            free(lists[k][i].v);
            free(lists[k][i].miss);
            free(lists[k][i].mean);
        }
        free(lists[k]);
    }
    free(d->grp_first);
    memset(d, 0, sizeof *d);
}

/* "A:B" (inclusive, negative from the end) against nt -> [*a, *b]; an empty range gives
 * *a > *b. s == NULL: everything. */
static climz_status parse_range(const char *s, size_t nt, long *a, long *b) {
    if (!s) {
        *a = 0, *b = (long)nt - 1;
        return CLIMZ_OK;
    }
    char *end;
    long x = strtol(s, &end, 10), y;
    CZ_RETURN_IF(end == s, CLIMZ_ERR_INVALID_ARG, "bad time range \"%s\" (A:B)", s);
    if (*end == ':') {
        const char *s2 = end + 1;
        y = strtol(s2, &end, 10);
        CZ_RETURN_IF(end == s2, CLIMZ_ERR_INVALID_ARG, "bad time range \"%s\" (A:B)", s);
    } else {
        y = x;
    }
    CZ_RETURN_IF(*end, CLIMZ_ERR_INVALID_ARG, "bad time range \"%s\" (A:B)", s);
    if (x < 0) x += (long)nt;
    if (y < 0) y += (long)nt;
    if (x < 0) x = 0;
    if (y > (long)nt - 1) y = (long)nt - 1;
    *a = x, *b = y;
    return CLIMZ_OK;
}

static int in_range(long t, long a, long b) { return t >= a && t <= b; }

/* Parses "VAR" or "VAR[i]" / "VAR[i:j]" (levels, 0-based inclusive) into name and range. */
static climz_status parse_var(const char *s, size_t len, char *name, size_t cap, long *l0,
                              long *l1) {
    const char *br = memchr(s, '[', len);
    size_t const nlen = br ? (size_t)(br - s) : len;
    CZ_RETURN_IF(nlen == 0 || nlen >= cap, CLIMZ_ERR_INVALID_ARG, "bad variable in data spec");
    memcpy(name, s, nlen);
    name[nlen] = 0;
    *l0 = 0, *l1 = -1;
    if (br) {
        char tmp[64];
        size_t const rl = len - nlen - 1;
        CZ_RETURN_IF(rl < 2 || rl >= sizeof tmp || s[len - 1] != ']', CLIMZ_ERR_INVALID_ARG,
                     "bad level selection in \"%.*s\"", (int)len, s);
        memcpy(tmp, br + 1, rl - 1);
        tmp[rl - 1] = 0;
        char *end;
        *l0 = strtol(tmp, &end, 10);
        *l1 = *l0;
        if (*end == ':') *l1 = strtol(end + 1, &end, 10);
        CZ_RETURN_IF(*end || *l0 < 0 || *l1 < *l0, CLIMZ_ERR_INVALID_ARG,
                     "bad level selection in \"%.*s\"", (int)len, s);
    }
    return CLIMZ_OK;
}

static climz_status add_field(tr_data *d, const cz_dataset *ds, int var, const char *path,
                              long l0, long l1) {
    tr_field *grown = cz_realloc(d->fields, (d->nfields + 1) * sizeof *grown);
    CZ_RETURN_IF(!grown, CLIMZ_ERR_ALLOC, "out of memory");
    d->fields = grown;
    tr_field *f = &d->fields[d->nfields];
    memset(f, 0, sizeof *f);
    CZ_FORWARD(io_load_field(ds, var, &f->f));
    d->nfields++;
    f->has_time = io_var_has_time(ds, &ds->vars[var]) && f->f.nt >= 1;
    if (f->f.nt == 1 && !io_var_has_time(ds, &ds->vars[var])) f->has_time = 0;
    size_t const len = strlen(path) + strlen(ds->vars[var].name) + 2;
    CZ_RETURN_IF(!(f->label = cz_malloc(len)), CLIMZ_ERR_ALLOC, "out of memory");
    snprintf(f->label, len, "%s:%s", path, ds->vars[var].name);
    if (l1 < 0) l1 = (long)f->f.nz - 1;
    CZ_RETURN_IF(l1 >= (long)f->f.nz, CLIMZ_ERR_INVALID_ARG, "%s has %zu levels, not %ld", f->label,
                 f->f.nz, l1 + 1);
    f->z0 = (size_t)l0, f->z1 = (size_t)l1 + 1;
    CZ_RETURN_IF(f->f.ny == 0 || f->f.nx == 0, CLIMZ_ERR_EMPTY, "%s is empty", f->label);
    return CLIMZ_OK;
}

/* Loads every data spec "FILE[:VAR[,VAR...]]". */
static climz_status load_specs(tr_data *d, const char *const *specs) {
    CZ_RETURN_IF(!specs || !specs[0], CLIMZ_ERR_INVALID_ARG, "no training data (--data)");
    for (size_t k = 0; specs[k]; k++) {
        char spec_buf[4096], tr[64] = "", va[64] = "";
        const char *spec = specs[k];
        const char *at = strrchr(spec, '@');
        if (at && at[1] && strspn(at + 1, "0123456789-:/") == strlen(at + 1)) {
            /* "...@TRAIN[/VAL]": this spec's own time ranges */
            const char *slash = strchr(at, '/');
            size_t const tl = slash ? (size_t)(slash - at - 1) : strlen(at + 1);
            CZ_RETURN_IF(tl == 0 || tl >= sizeof tr || (slash && strlen(slash + 1) >= sizeof va) ||
                             (size_t)(at - spec) >= sizeof spec_buf,
                         CLIMZ_ERR_INVALID_ARG, "bad time ranges in data spec \"%s\"", spec);
            memcpy(tr, at + 1, tl);
            tr[tl] = 0;
            if (slash) snprintf(va, sizeof va, "%s", slash + 1);
            memcpy(spec_buf, spec, (size_t)(at - spec));
            spec_buf[at - spec] = 0;
            spec = spec_buf;
        }
        size_t const first_field = d->nfields;
        char path[4096];
        const char *vars = NULL;
        const char *colon = strrchr(spec, ':');
        if (colon && !strchr(colon, '/') && colon != spec) {
            CZ_RETURN_IF((size_t)(colon - spec) >= sizeof path, CLIMZ_ERR_INVALID_ARG, "path too long");
            memcpy(path, spec, (size_t)(colon - spec));
            path[colon - spec] = 0;
            vars = colon + 1;
            FILE *probe = fopen(spec, "rb"); /* a file whose name has a ':' */
            if (probe) fclose(probe), snprintf(path, sizeof path, "%s", spec), vars = NULL;
        } else {
            CZ_RETURN_IF(strlen(spec) >= sizeof path, CLIMZ_ERR_INVALID_ARG, "path too long");
            snprintf(path, sizeof path, "%s", spec);
        }
        cz_dataset *ds = NULL;
        climz_status st = io_open_ex(path, IO_OPEN_LAZY, &ds);
        if (st) return cz_error_prefix(st, "%s", path);
        if (!vars || !*vars) {
            int any = 0;
            for (int v = 0; v < ds->nvars && !st; v++)
                if (ds->vars[v].is_grid) st = add_field(d, ds, v, path, 0, -1), any = 1;
            if (!st && !any) st = cz_error(CLIMZ_ERR_NOT_FOUND, "%s has no gridded variable", path);
        } else {
            const char *p = vars;
            while (*p && !st) {
                size_t len = strcspn(p, ",");
                char name[256];
                long l0 = 0, l1 = -1;
                st = parse_var(p, len, name, sizeof name, &l0, &l1);
                if (!st) {
                    int const v = io_find_var(ds, name);
                    if (v < 0) st = cz_error(CLIMZ_ERR_NOT_FOUND, "%s has no variable %s", path, name);
                    else if (!ds->vars[v].is_grid)
                        st = cz_error(CLIMZ_ERR_UNSUPPORTED, "%s:%s is not a gridded variable", path, name);
                    else st = add_field(d, ds, v, path, l0, l1);
                }
                p += len;
                if (*p == ',') p++;
            }
        }
        io_free(ds);
        CZ_FORWARD(st);
        for (size_t i = first_field; i < d->nfields; i++) {
            snprintf(d->fields[i].tr, sizeof d->fields[i].tr, "%s", tr);
            snprintf(d->fields[i].va, sizeof d->fields[i].va, "%s", va);
            d->fields[i].va_rest = tr[0] && !va[0];
        }
    }
    return CLIMZ_OK;
}

/* The training and validation ranges of field f: its own ("@TRAIN[/VAL]") or the global
 * ones. *rest = 1: validation is every step outside the training range. */
static climz_status field_ranges(const tr_field *f, const char *train_times, const char *val_times,
                                 long *ta, long *tb, long *va, long *vb, int *rest) {
    *va = 1, *vb = 0, *rest = 0;
    CZ_FORWARD(parse_range(f->tr[0] ? f->tr : train_times, f->f.nt, ta, tb));
    if (f->va[0]) return parse_range(f->va, f->f.nt, va, vb);
    if (f->va_rest) {
        *rest = 1;
        return CLIMZ_OK;
    }
    if (val_times) CZ_FORWARD(parse_range(val_times, f->f.nt, va, vb));
    return CLIMZ_OK;
}

static climz_status sample_alloc(tr_sample *s, size_t C) {
    s->v = cz_calloc(C, sizeof *s->v);
    s->miss = cz_calloc(C, sizeof *s->miss);
    s->mean = cz_calloc(4 * C, sizeof *s->mean);
    CZ_RETURN_IF(!s->v || !s->miss || !s->mean, CLIMZ_ERR_ALLOC, "out of memory");
    s->std = s->mean + C, s->lo = s->std + C, s->hi = s->lo + C;
    return CLIMZ_OK;
}

static void plane_stats(const float *v, const uint8_t *miss, size_t n, double *mean, double *std,
                        double *lo, double *hi) {
    double s = 0, a = INFINITY, b = -INFINITY;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!miss[i]) s += v[i], k++, a = v[i] < a ? v[i] : a, b = v[i] > b ? v[i] : b;
    double const mu = k ? s / (double)k : 0;
    double q = 0;
    for (size_t i = 0; i < n; i++)
        if (!miss[i]) q += ((double)v[i] - mu) * ((double)v[i] - mu);
    double sd = k ? sqrt(q / (double)k) : 1;
    if (!(sd > 1e-30 * (1 + fabs(mu)))) sd = 1; /* constant field */
    *mean = mu, *std = sd, *lo = k ? a : 0, *hi = k ? b : 0;
}

static climz_status push_sample(tr_sample **list, size_t *n, const tr_sample *s) {
    tr_sample *grown = cz_realloc(*list, (*n + 1) * sizeof *grown);
    CZ_RETURN_IF(!grown, CLIMZ_ERR_ALLOC, "out of memory");
    *list = grown;
    grown[(*n)++] = *s;
    return CLIMZ_OK;
}

/* Splits the loaded fields into training and validation samples. */
static climz_status build_samples(tr_data *d, size_t C, const char *train_times,
                                  const char *val_times, long max_fields) {
    d->C = C;
    if (C == 1) {
        for (size_t k = 0; k < d->nfields; k++) {
            tr_field *f = &d->fields[k];
            size_t const plane = f->f.ny * f->f.nx;
            long ta, tb, va, vb;
            int rest;
            CZ_FORWARD(field_ranges(f, train_times, val_times, &ta, &tb, &va, &vb, &rest));
            for (size_t t = 0; t < f->f.nt; t++) {
                int const tr = !f->has_time || in_range((long)t, ta, tb);
                int const vl = f->has_time && (rest ? !tr : in_range((long)t, va, vb));
                if (!tr && !vl) continue;
                for (size_t z = f->z0; z < f->z1; z++) {
                    if (!vl && max_fields > 0 && d->ntrain >= (size_t)max_fields) break;
                    tr_sample s;
                    memset(&s, 0, sizeof s);
                    CZ_FORWARD(sample_alloc(&s, 1));
                    size_t const off = (t * f->f.nz + z) * plane;
                    s.ny = f->f.ny, s.nx = f->f.nx, s.lat = f->f.lat, s.field = (int)k, s.t = t;
                    s.v[0] = f->f.values + off;
                    s.miss[0] = f->f.miss + off;
                    plane_stats(s.v[0], s.miss[0], plane, &s.mean[0], &s.std[0], &s.lo[0], &s.hi[0]);
                    climz_status const st = vl ? push_sample(&d->val, &d->nval, &s)
                                               : push_sample(&d->train, &d->ntrain, &s);
                    if (st) {
                        free(s.v), free(s.miss), free(s.mean);
                        return st;
                    }
                }
            }
        }
    } else {
        size_t chans = 0;
        tr_field *f0 = &d->fields[0];
        for (size_t k = 0; k < d->nfields; k++) {
            tr_field *f = &d->fields[k];
            CZ_RETURN_IF(f->f.ny != f0->f.ny || f->f.nx != f0->f.nx || f->f.nt != f0->f.nt,
                         CLIMZ_ERR_DIMENSION,
                         "a %zu-channel model needs every variable on one grid and time axis: "
                         "%s is %zu x %zu x %zu, %s is %zu x %zu x %zu",
                         C, f0->label, f0->f.nt, f0->f.ny, f0->f.nx, f->label, f->f.nt, f->f.ny,
                         f->f.nx);
            chans += f->z1 - f->z0;
        }
        CZ_RETURN_IF(chans != C, CLIMZ_ERR_DIMENSION,
                     "the model has %zu input channels, the data specs give %zu (variable, "
                     "level) pairs", C, chans);
        size_t const plane = f0->f.ny * f0->f.nx;
        long ta, tb, va, vb;
        int rest;
        CZ_FORWARD(field_ranges(f0, train_times, val_times, &ta, &tb, &va, &vb, &rest));
        for (size_t t = 0; t < f0->f.nt; t++) {
            int const tr = !f0->has_time || in_range((long)t, ta, tb);
            int const vl = f0->has_time && (rest ? !tr : in_range((long)t, va, vb));
            if (!tr && !vl) continue;
            tr_sample s;
            memset(&s, 0, sizeof s);
            CZ_FORWARD(sample_alloc(&s, C));
            s.ny = f0->f.ny, s.nx = f0->f.nx, s.lat = f0->f.lat, s.field = 0, s.t = t;
            size_t c = 0;
            for (size_t k = 0; k < d->nfields; k++) {
                tr_field *f = &d->fields[k];
                for (size_t z = f->z0; z < f->z1; z++, c++) {
                    size_t const off = (t * f->f.nz + z) * plane;
                    s.v[c] = f->f.values + off;
                    s.miss[c] = f->f.miss + off;
                    plane_stats(s.v[c], s.miss[c], plane, &s.mean[c], &s.std[c], &s.lo[c], &s.hi[c]);
                }
            }
            climz_status const st = vl ? push_sample(&d->val, &d->nval, &s)
                                       : push_sample(&d->train, &d->ntrain, &s);
            if (st) {
                free(s.v), free(s.miss), free(s.mean);
                return st;
            }
        }
    }
    CZ_RETURN_IF(d->ntrain == 0, CLIMZ_ERR_EMPTY, "no training samples in the time range %s",
                 train_times ? train_times : "(all)");
    /* groups of training samples by source field (pushed in field order) */
    d->grp_first = cz_calloc(2 * d->ntrain, sizeof *d->grp_first);
    CZ_RETURN_IF(!d->grp_first, CLIMZ_ERR_ALLOC, "out of memory");
    d->grp_count = d->grp_first + d->ntrain;
    for (size_t i = 0; i < d->ntrain; i++) {
        if (i == 0 || d->train[i].field != d->train[i - 1].field) d->grp_first[d->ngrp++] = i;
        d->grp_count[d->ngrp - 1]++;
    }
    for (size_t i = 0; i < d->ntrain; i++) {
        if (d->train[i].ny > d->max_ny) d->max_ny = d->train[i].ny;
        if (d->train[i].nx > d->max_nx) d->max_nx = d->train[i].nx;
    }
    return CLIMZ_OK;
}

/* Per-channel mean and std over the valid points of every training sample. */
static void channel_stats(const tr_data *d, float *mean, float *std) {
    for (size_t c = 0; c < d->C; c++) {
        double s = 0, q = 0, k = 0;
        for (size_t i = 0; i < d->ntrain; i++) {
            const tr_sample *sm = &d->train[i];
            size_t valid = 0;
            for (size_t p = 0; p < sm->ny * sm->nx; p++) valid += !sm->miss[c][p];
            /* combine (count, mean, M2) of the planes: exact up to rounding */
            double const kv = (double)valid;
            if (kv == 0) continue;
            double const mv = sm->mean[c], vv = sm->std[c] * sm->std[c];
            double const delta = mv - s, tot = k + kv;
            s += delta * kv / tot;
            q += vv * kv + delta * delta * k * kv / tot;
            k = tot;
        }
        double sd = k > 0 ? sqrt(q / k) : 1;
        if (!(sd > 0)) sd = 1;
        mean[c] = (float)s;
        std[c] = (float)sd;
    }
}

/* ---- batches ---------------------------------------------------------------------------- */

typedef struct tr_batch {
    size_t B, C, H, W;
    float *x;        /* (B, C, H, W) */
    uint8_t *mask;   /* (B, C, H, W) 1 = excluded */
    float *row_w;    /* (B, H) */
} tr_batch;

static climz_status batch_alloc(tr_batch *b, size_t B, size_t C, size_t H, size_t W) {
    b->B = B, b->C = C, b->H = H, b->W = W;
    b->x = cz_malloc(B * C * H * W * sizeof *b->x);
    b->mask = cz_malloc(B * C * H * W);
    b->row_w = cz_malloc(B * H * sizeof *b->row_w);
    CZ_RETURN_IF(!b->x || !b->mask || !b->row_w, CLIMZ_ERR_ALLOC, "out of memory");
    return CLIMZ_OK;
}

static void batch_free(tr_batch *b) { free(b->x), free(b->mask), free(b->row_w); }

/* Writes the crop (oy, ox, H, W) of sample s into slot b, normalised; positions outside the
 * sample repeat its edge and are masked. */
static void fill_crop(tr_batch *bt, size_t b, const tr_sample *s, size_t oy, size_t ox,
                      const vae_model *m, int lat_weight) {
    size_t const H = bt->H, W = bt->W, C = bt->C;
    for (size_t c = 0; c < C; c++) {
        double const mu = m->cfg.field_norm ? s->mean[c] : (double)m->norm_mean[c];
        double const sd = m->cfg.field_norm ? s->std[c] : (double)m->norm_std[c];
        double const inv = 1.0 / sd;
        float *xo = bt->x + (b * C + c) * H * W;
        uint8_t *mo = bt->mask + (b * C + c) * H * W;
        for (size_t i = 0; i < H; i++) {
            size_t const si = oy + i < s->ny ? oy + i : s->ny - 1;
            for (size_t j = 0; j < W; j++) {
                size_t const sj = ox + j < s->nx ? ox + j : s->nx - 1;
                size_t const p = si * s->nx + sj;
                int const miss = s->miss[c][p] != 0;
                xo[i * W + j] = miss ? 0.0f : (float)(((double)s->v[c][p] - mu) * inv);
                mo[i * W + j] = (uint8_t)(miss || oy + i >= s->ny || ox + j >= s->nx);
            }
        }
    }
    for (size_t i = 0; i < H; i++) {
        double w = 1;
        if (lat_weight && s->lat && oy + i < s->ny) {
            w = cos(s->lat[oy + i] * 3.14159265358979323846 / 180.0);
            if (!(w > 0)) w = 0;
        }
        bt->row_w[b * H + i] = (float)w;
    }
}

static uint64_t step_seed(uint64_t seed, uint64_t step) {
    uint64_t z = seed ^ (step + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 31)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 29);
}

/* Multi-rate training: the rate level of step k, drawn uniformly over the run's range from a
 * generator of its own (seed, k), so that every rank draws the same level and one-rate runs
 * draw their samples and noise exactly as before. */
static int step_level(uint64_t seed, long kmin, long kmax, long step) {
    if (kmin == kmax) return (int)kmin;
    nn_rng g;
    nn_rng_seed(&g, step_seed(seed ^ 0x7261746531657665ULL, (uint64_t)step));
    return (int)(kmin + (long)(nn_rng_u64(&g) % (uint64_t)(kmax - kmin + 1)));
}

/* The loss weight at a level of quantiser step D: lambda * D^-2. At high rate a uniform
 * quantiser of step D gives an MSE ~ D^2 / 12 and a rate ~ -log2 D per latent, so the level
 * at which lambda * MSE + rate is stationary scales as D ~ lambda^-1/2: each level is then
 * trained at the lambda for which it is the optimum (the step-scaling of Choi et al. 2019 and
 * of the asymmetric gained VAE, Cui et al. 2021, with the level the gain). */
static double level_weight(double lambda, int level) {
    double const D = (double)vae_step_of_level(level);
    return lambda / (D * D);
}

/* Draws the global batch of B samples and crops; fills the slots [first, first + bt->B) of it
 * (one rank's shard; all of it in one process). */
static void make_batch(tr_batch *bt, size_t B, size_t first, const tr_data *d, const vae_model *m,
                       nn_rng *rng, int lat_weight) {
    for (size_t b = 0; b < B; b++) {
        /* a source field uniformly, then one of its samples: every data spec counts alike,
         * however many time steps it has */
        size_t const g = (size_t)(nn_rng_u64(rng) % d->ngrp);
        const tr_sample *s = &d->train[d->grp_first[g] + nn_rng_u64(rng) % d->grp_count[g]];
        size_t const oy = s->ny > bt->H ? (size_t)(nn_rng_u64(rng) % (s->ny - bt->H + 1)) : 0;
        size_t const ox = s->nx > bt->W ? (size_t)(nn_rng_u64(rng) % (s->nx - bt->W + 1)) : 0;
        if (b >= first && b - first < bt->B) fill_crop(bt, b - first, s, oy, ox, m, lat_weight);
    }
}

/* ---- validation ------------------------------------------------------------------------- */

typedef struct tr_val {
    double nrmse;     /* latitude-weighted RMSE in units of each plane's std, RMS over samples */
    double rel_range; /* latitude-weighted RMSE / value range, mean over samples */
    double bpv;       /* phase 2: estimated bits per value */
    size_t n;
} tr_val;

static climz_status validate(const tr_data *d, const vae_model *m, long val_max, int quantize,
                             int lat_weight, tr_val *out) {
    memset(out, 0, sizeof *out);
    if (d->nval == 0) return CLIMZ_OK;
    size_t const C = d->C, n = val_max > 0 && (size_t)val_max < d->nval ? (size_t)val_max : d->nval;
    double sum_mse = 0, sum_rel = 0, bits = 0, vals = 0;
    for (size_t k = 0; k < n; k++) {
        const tr_sample *s = &d->val[k * d->nval / n];
        size_t const H = s->ny < VAL_MAX_H ? s->ny : VAL_MAX_H, W = s->nx < VAL_MAX_W ? s->nx : VAL_MAX_W;
        tr_batch bt;
        memset(&bt, 0, sizeof bt);
        float *xh = cz_malloc(C * H * W * sizeof *xh);
        climz_status st = xh ? batch_alloc(&bt, 1, C, H, W) : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        double by = 0, bz = 0;
        if (!st) {
            fill_crop(&bt, 0, s, (s->ny - H) / 2, (s->nx - W) / 2, m, lat_weight);
            st = vae_reconstruct(m, bt.x, H, W, quantize, xh, &by, &bz);
        }
        if (!st) {
            for (size_t c = 0; c < C; c++) {
                double const mse = nn_mse_forward(xh + c * H * W, bt.x + c * H * W, bt.mask + c * H * W,
                                                  bt.row_w, 1, 1, H, W);
                double const sd = m->cfg.field_norm ? s->std[c] : (double)m->norm_std[c];
                double const range = s->hi[c] - s->lo[c];
                sum_mse += mse * (m->cfg.field_norm ? 1.0 : sd * sd / (s->std[c] * s->std[c]));
                sum_rel += range > 0 ? sqrt(mse) * sd / range : 0;
            }
            bits += by + bz;
            vals += (double)(C * H * W);
        }
        free(xh);
        batch_free(&bt);
        CZ_FORWARD(st);
    }
    out->n = n;
    out->nrmse = sqrt(sum_mse / (double)(n * C));
    out->rel_range = sum_rel / (double)(n * C);
    out->bpv = vals > 0 ? bits / vals : 0;
    return CLIMZ_OK;
}

static void say_val(const climz_train_opts *o, long step, const tr_val *v, int quantize) {
    if (!v->n) return;
    if (quantize)
        say(o, "val  step %ld: lat-weighted RMSE %.4f std = %.3f%% of range, %.4f bits/value "
               "(ratio ~%.0f vs float32), %zu fields",
            step, v->nrmse, 100 * v->rel_range, v->bpv, v->bpv > 0 ? 32.0 / v->bpv : 0.0, v->n);
    else
        say(o, "val  step %ld: lat-weighted RMSE %.4f std = %.3f%% of range (y = mu, not "
               "quantised), %zu fields",
            step, v->nrmse, 100 * v->rel_range, v->n);
}

/* ---- options ---------------------------------------------------------------------------- */

typedef struct tr_opts {
    long steps, batch, crop_h, crop_w, warmup, checkpoint_every, log_every, val_every, val_max;
    long stop_at;
    long rate_min, rate_max; /* multi-rate: the levels drawn per step (both 0: one rate) */
    int rate_gains;          /* multi-rate: train per-channel rate gains (vae.h), adding them if absent */
    double gain_lr;          /* their peak learning rate */
    double lr, lr_min, weight_decay, clip, beta, lambda;
    unsigned long long seed;
    int unfreeze_encoder, lat_weight;
} tr_opts;

static climz_status resolve_opts(const climz_train_opts *o, vae_phase ph, tr_opts *t) {
    memset(t, 0, sizeof *t);
    t->steps = o->steps > 0 ? o->steps : ph == VAE_PHASE_PRETRAIN ? 1000 : 500;
    t->batch = o->batch > 0 ? o->batch : 8;
    t->crop_h = o->crop_h > 0 ? o->crop_h : 64;
    t->crop_w = o->crop_w > 0 ? o->crop_w : 64;
    t->lr = o->lr > 0 ? o->lr : ph == VAE_PHASE_PRETRAIN ? 2e-4 : 5e-5;
    t->lr_min = o->lr_min > 0 ? o->lr_min : t->lr / 10;
    t->warmup = o->warmup > 0 ? o->warmup : t->steps / 20;
    t->weight_decay = o->weight_decay > 0 ? o->weight_decay : o->weight_decay < 0 ? 0 : 0.01;
    t->clip = o->clip > 0 ? o->clip : o->clip < 0 ? 0 : 1.0;
    t->beta = o->beta > 0 ? o->beta : 3e-3;
    t->lambda = o->lambda > 0 ? o->lambda : 1e-2;
    t->seed = o->seed;
    t->unfreeze_encoder = o->unfreeze_encoder != 0;
    t->lat_weight = !o->no_lat_weight;
    t->checkpoint_every = o->checkpoint_every > 0 ? o->checkpoint_every : 250;
    t->log_every = o->log_every > 0 ? o->log_every : 10;
    t->val_every = o->val_every > 0 ? o->val_every : 100;
    t->val_max = o->val_max > 0 ? o->val_max : 16;
    t->rate_min = o->rate_min, t->rate_max = o->rate_max;
    CZ_RETURN_IF(t->rate_min > t->rate_max || t->rate_min < VAE_STEP_MIN || t->rate_max > VAE_STEP_MAX,
                 CLIMZ_ERR_INVALID_ARG, "rate levels %ld:%ld: need %d <= min <= max <= %d", t->rate_min,
                 t->rate_max, VAE_STEP_MIN, VAE_STEP_MAX);
    CZ_RETURN_IF((t->rate_min || t->rate_max) && ph != VAE_PHASE_FINETUNE, CLIMZ_ERR_INVALID_ARG,
                 "rate levels are a phase-2 (finetune) option: phase 1 has no quantiser");
    t->rate_gains = o->rate_gains != 0;
    CZ_RETURN_IF(t->rate_gains && !t->rate_min && !t->rate_max, CLIMZ_ERR_INVALID_ARG,
                 "rate gains are trained across rate levels: give --rate-levels KMIN:KMAX too");
    t->gain_lr = o->gain_lr > 0 ? o->gain_lr : 10 * t->lr;
    CZ_RETURN_IF(!isfinite(t->gain_lr), CLIMZ_ERR_INVALID_ARG, "bad gain learning rate");
    CZ_RETURN_IF(t->batch > 4096 || t->crop_h > 65536 || t->crop_w > 65536, CLIMZ_ERR_INVALID_ARG,
                 "batch or crop too large");
    CZ_RETURN_IF(!isfinite(t->lr) || !isfinite(t->beta) || !isfinite(t->lambda) ||
                     t->lr_min > t->lr,
                 CLIMZ_ERR_INVALID_ARG, "bad learning rate or loss weight");
    return CLIMZ_OK;
}

/* The options that define a run (stored in checkpoints; a resumed run takes them from there). */
static json_t *opts_json(const tr_opts *t, vae_phase ph) {
    json_t *j = json_object();
    json_object_set_new(j, "phase", json_integer(ph));
    json_object_set_new(j, "steps", json_integer(t->steps));
    json_object_set_new(j, "batch", json_integer(t->batch));
    json_object_set_new(j, "crop_h", json_integer(t->crop_h));
    json_object_set_new(j, "crop_w", json_integer(t->crop_w));
    json_object_set_new(j, "warmup", json_integer(t->warmup));
    json_object_set_new(j, "lr", json_real(t->lr));
    json_object_set_new(j, "lr_min", json_real(t->lr_min));
    json_object_set_new(j, "weight_decay", json_real(t->weight_decay));
    json_object_set_new(j, "clip", json_real(t->clip));
    json_object_set_new(j, "beta", json_real(t->beta));
    json_object_set_new(j, "lambda", json_real(t->lambda));
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", t->seed);
    json_object_set_new(j, "seed", json_string(seed));
    json_object_set_new(j, "unfreeze_encoder", json_boolean(t->unfreeze_encoder));
    json_object_set_new(j, "lat_weight", json_boolean(t->lat_weight));
    if (t->rate_min || t->rate_max) { /* absent in one-rate runs: their records stay as they were */
        json_object_set_new(j, "rate_min", json_integer(t->rate_min));
        json_object_set_new(j, "rate_max", json_integer(t->rate_max));
    }
    if (t->rate_gains) { /* absent without gains, as above */
        json_object_set_new(j, "rate_gains", json_true());
        json_object_set_new(j, "gain_lr", json_real(t->gain_lr));
    }
    return j;
}

static climz_status opts_from_json(tr_opts *t, const char *text, vae_phase ph) {
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    CZ_RETURN_IF(!j, CLIMZ_ERR_CORRUPT, "checkpoint: bad %s", META_OPTS);
    climz_status st = CLIMZ_OK;
    if (json_integer_value(json_object_get(j, "phase")) != ph)
        st = cz_error(CLIMZ_ERR_INVALID_ARG, "the checkpoint is of training phase %d, not %d",
                      (int)json_integer_value(json_object_get(j, "phase")), (int)ph);
#define GI(k) t->k = (long)json_integer_value(json_object_get(j, #k))
#define GR(k) t->k = json_number_value(json_object_get(j, #k))
    GI(steps); GI(batch); GI(crop_h); GI(crop_w); GI(warmup); GI(rate_min); GI(rate_max);
    GR(lr); GR(lr_min); GR(weight_decay); GR(clip); GR(beta); GR(lambda); GR(gain_lr);
#undef GI
#undef GR
    const char *seed = json_string_value(json_object_get(j, "seed"));
    t->seed = seed ? strtoull(seed, NULL, 10) : 0;
    t->unfreeze_encoder = json_is_true(json_object_get(j, "unfreeze_encoder"));
    t->lat_weight = json_is_true(json_object_get(j, "lat_weight"));
    t->rate_gains = json_is_true(json_object_get(j, "rate_gains"));
    json_decref(j);
    if (!st && (t->steps <= 0 || t->batch <= 0 || t->crop_h <= 0 || t->crop_w <= 0 || t->rate_min > t->rate_max ||
                t->rate_min < VAE_STEP_MIN || t->rate_max > VAE_STEP_MAX))
        st = cz_error(CLIMZ_ERR_CORRUPT, "checkpoint: bad %s", META_OPTS);
    return st;
}

static void drop_meta(vae_model *m, const char *key) {
    for (size_t i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta[i].key, key)) {
            free(m->meta[i].key);
            free(m->meta[i].value);
            m->meta[i] = m->meta[--m->n_meta];
            return;
        }
}

static climz_status save_checkpoint(vae_model *m, const nn_adamw *opt, const char *path, long step,
                                    const tr_opts *t, vae_phase ph, int ranks) {
    char buf[32], nr[32];
    snprintf(buf, sizeof buf, "%ld", step);
    snprintf(nr, sizeof nr, "%d", ranks);
    json_t *j = opts_json(t, ph);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(j);
    CZ_RETURN_IF(!s, CLIMZ_ERR_ALLOC, "out of memory");
    climz_status st = vae_model_set_meta(m, META_STEP, buf);
    if (!st) st = vae_model_set_meta(m, META_OPTS, s);
    if (!st) st = vae_model_set_meta(m, META_RANKS, nr);
    free(s);
    if (!st) st = vae_model_save(m, path, opt);
    drop_meta(m, META_STEP);
    drop_meta(m, META_OPTS);
    drop_meta(m, META_RANKS);
    return st;
}

/* ---- a run ------------------------------------------------------------------------------ */

typedef struct tr_run {
    const vae_train_comm *comm; /* NULL in one process */
    int rank, size;
    double comm_s;              /* seconds in the gradient sums */
    double wait_s;              /* seconds in the exchange of the step's losses (the ranks meet) */
    size_t comm_bytes;          /* gradient bytes summed per step */
    const climz_train_opts *o;
    vae_phase ph;
    const char *out_path;
    char *ckpt_path;
    vae_model m;
    nn_adamw opt;
    tr_opts t;
    tr_data d;
    long start;
} tr_run;

/* ---- the ranks (one process: size 1, every helper is a no-op) ---------------------------- */

static climz_status agree(const tr_run *r, climz_status st) {
    return r->size > 1 ? r->comm->agree(r->comm->user, st) : st;
}

static climz_status from_root(const tr_run *r, climz_status st) {
    return r->size > 1 ? r->comm->share(r->comm->user, st, 0) : st;
}

/* The SHA-256 of the weights (and, with what != NULL, of the string what) on every rank against
 * rank 0's: different weights mean the ranks no longer train one model. */
static climz_status check_same(tr_run *r, long step, const char *what) {
    if (r->size <= 1) return CLIMZ_OK;
    uint8_t mine[64], *all = cz_malloc((size_t)r->size * sizeof mine);
    climz_status st = agree(r, all ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory"));
    if (st) {
        free(all);
        return st;
    }
    cz_sha256 h;
    cz_sha256_init(&h);
    cz_sha256_update(&h, r->m.p.data, r->m.p.numel * sizeof *r->m.p.data);
    cz_sha256_final(&h, mine);
    cz_sha256_init(&h);
    if (what) cz_sha256_update(&h, what, strlen(what));
    cz_sha256_final(&h, mine + 32);
    r->comm->allgather(r->comm->user, mine, all, sizeof mine);
    char hex0[65], hex[65];
    cz_sha256_hex(all, hex0);
    for (int k = 1; k < r->size && !st; k++) {
        cz_sha256_hex(all + (size_t)k * sizeof mine, hex);
        if (memcmp(all + (size_t)k * sizeof mine + 32, all + 32, 32))
            st = cz_error(CLIMZ_ERR_INVALID_ARG,
                          "rank %d of %d was started with other training options or data than "
                          "rank 0 (every rank must run the same command)", k, r->size);
        else if (memcmp(all + (size_t)k * sizeof mine, all, 32))
            st = cz_error(CLIMZ_ERR_GENERIC,
                          "at step %ld the weights of rank %d of %d differ from rank 0's "
                          "(sha256 %.16s... against %.16s...): the ranks no longer train one model",
                          step, k, r->size, hex, hex0);
    }
    free(all);
    if (!st) say(r->o, "step %ld: weights identical on the %d ranks (sha256 %.16s...)", step, r->size, hex0);
    return st;
}

/* The per-sample MSE weights of every rank's slice, gathered in global sample order and
 * summed as one process sums them (vae_shard.mse_weight). */
static double global_mse_weight(const tr_run *r, const tr_batch *bt, size_t B, double *buf) {
    size_t const per = (B + (size_t)r->size - 1) / (size_t)r->size, S = bt->C * bt->H * bt->W;
    double *mine = buf + (size_t)r->size * per;
    for (size_t b = 0; b < per; b++)
        mine[b] = b < bt->B ? vae_mse_weight(bt->mask + b * S, r->t.lat_weight ? bt->row_w + b * bt->H : NULL,
                                             bt->C, bt->H, bt->W)
                            : 0;
    r->comm->allgather(r->comm->user, mine, buf, per * sizeof *mine);
    double total = 0;
    for (int k = 0; k < r->size; k++) {
        size_t const n = ((size_t)k + 1) * B / (size_t)r->size - (size_t)k * B / (size_t)r->size;
        for (size_t b = 0; b < n; b++) total += buf[(size_t)k * per + b];
    }
    return total;
}

enum { X_ST, X_LOSS, X_MSE, X_KL, X_BY, X_BZ, X_BPV, X_AUX, X_SIGMA, X_Y, X_N };

/* Every rank's step status and loss parts: a failure on any rank (other than a non-finite
 * loss, which skips the batch on every rank: *skip = its rank) stops every rank with its
 * message; else *ls becomes the global batch's losses (the parts summed in rank order; the
 * aux loss, which depends on the weights only, is rank 0's). */
static climz_status combine_step(const tr_run *r, climz_status st, vae_losses *ls, double *buf,
                                 int *skip) {
    double const mine[X_N] = {(double)st, ls->loss,  ls->mse, ls->kl,    ls->bits_y,
                              ls->bits_z, ls->bpv,   ls->aux, ls->sigma, ls->y_absmean};
    r->comm->allgather(r->comm->user, mine, buf, sizeof mine);
    int hard = 0;
    vae_losses sum;
    memset(&sum, 0, sizeof sum);
    *skip = -1;
    for (int k = 0; k < r->size; k++) {
        const double *a = buf + (size_t)k * X_N;
        int const sk = (int)a[X_ST];
        if (sk == CLIMZ_ERR_GENERIC) *skip = *skip < 0 ? k : *skip;
        else if (sk != CLIMZ_OK) hard = 1;
        sum.loss += a[X_LOSS], sum.mse += a[X_MSE], sum.kl += a[X_KL], sum.bits_y += a[X_BY];
        sum.bits_z += a[X_BZ], sum.bpv += a[X_BPV], sum.sigma += a[X_SIGMA], sum.y_absmean += a[X_Y];
    }
    sum.aux = buf[X_AUX];
    if (hard) return agree(r, st == CLIMZ_ERR_GENERIC ? CLIMZ_OK : st);
    *ls = sum;
    return CLIMZ_OK;
}

/* Sums the gradients of the groups being trained over the ranks (comm->sum: fixed order),
 * one call per run of adjacent trained groups (one run in both phases: few collectives, as
 * each costs a round trip). */
static void sum_gradients(tr_run *r) {
    nn_params *p = &r->m.p;
    double const t0 = cz_now();
    size_t bytes = 0;
    for (size_t g = 0; g < p->n_groups;) {
        if (p->groups[g].frozen) {
            g++;
            continue;
        }
        size_t const a = p->groups[g].begin;
        while (g < p->n_groups && !p->groups[g].frozen) g++;
        size_t const n = p->groups[g - 1].end - a;
        if (n) r->comm->sum(r->comm->user, p->grad + a, n);
        bytes += n * sizeof *p->grad;
    }
    r->comm_s += cz_now() - t0;
    r->comm_bytes = bytes;
}

/* ---- the training loop ------------------------------------------------------------------ */

static climz_status run_loop(tr_run *r) {
    vae_model *m = &r->m;
    const tr_opts *t = &r->t;
    const climz_train_opts *o = r->o;
    size_t const C = m->cfg.in_channels, B = (size_t)t->batch;
    size_t const H = (size_t)t->crop_h, W = (size_t)t->crop_w;
    /* this rank's slice of every global batch */
    size_t const first = (size_t)r->rank * B / (size_t)r->size;
    size_t const Bl = ((size_t)r->rank + 1) * B / (size_t)r->size - first;
    int const quantize = r->ph == VAE_PHASE_FINETUNE;
    double const weight = r->ph == VAE_PHASE_PRETRAIN ? t->beta : t->lambda;
    nn_lr_schedule sched = {t->lr, t->lr_min, (uint64_t)t->warmup, (uint64_t)t->steps};
    long const stop = o->stop_at > 0 && o->stop_at < t->steps ? o->stop_at : t->steps;
    vae_trainer *tr = NULL;
    tr_batch bt;
    memset(&bt, 0, sizeof bt);
    double *xbuf = NULL; /* the gathers: X_N and the MSE weights of every rank */
    climz_status st = CLIMZ_OK;
    if (r->size > 1) {
        size_t const per = (B + (size_t)r->size - 1) / (size_t)r->size;
        size_t const nx = (size_t)r->size * (per > X_N ? per : X_N) + per;
        if (!(xbuf = cz_malloc(nx * sizeof *xbuf))) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    if (!st) st = batch_alloc(&bt, Bl, C, H, W);
    if (!st) st = vae_trainer_create(&tr, m, r->ph, Bl, H, W);
    CZ_CHECK_GOTO(st, agree(r, st), done);
    char ranks[48] = "";
    if (r->size > 1) snprintf(ranks, sizeof ranks, " on %d ranks", r->size);
    say(o, "%s: %zu parameters (%zu trained), %zu training samples, %zu validation, batch %zu "
           "of %zu x %zu, steps %ld..%ld of %ld, %d threads%s",
        r->ph == VAE_PHASE_PRETRAIN ? "train" : "finetune", vae_model_num_params(m, NULL),
        nn_params_trainable(&m->p), r->d.ntrain, r->d.nval, B, H, W, r->start, stop, t->steps,
        cz_num_threads(), r->size > 1 ? " per rank" : "");
    if (t->rate_min || t->rate_max)
        say(o, "multi-rate: a rate level per step, uniform over %ld..%ld (quantiser step %.3g .. %.3g, "
               "lambda %.3g .. %.3g); validation at level 0",
            t->rate_min, t->rate_max, (double)vae_step_of_level((int)t->rate_min),
            (double)vae_step_of_level((int)t->rate_max), level_weight(t->lambda, (int)t->rate_min),
            level_weight(t->lambda, (int)t->rate_max));
    if (vae_model_has_rate_gain(m))
        say(o, "rate gains: %s (per-channel log2 step multipliers at levels %d, %d, .., %d)",
            nn_params_group_frozen(&m->p, "gain") ? "kept as they are" : "trained", VAE_GAIN_LEVEL0,
            VAE_GAIN_LEVEL0 + 8, VAE_GAIN_LEVEL0 + 8 * (VAE_GAIN_ANCHORS - 1));
    double const t0 = cz_now();
    double acc[8] = {0};
    long nacc = 0, done_steps = 0;
    for (long step = r->start; step < stop; step++) {
        nn_rng rng;
        nn_rng_seed(&rng, step_seed(t->seed, (uint64_t)step));
        make_batch(&bt, B, first, &r->d, m, &rng, t->lat_weight);
        if (r->size > 1) {
            vae_shard sh = {first, B, global_mse_weight(r, &bt, B, xbuf), first == 0};
            st = vae_trainer_set_shard(tr, &sh);
        }
        nn_params_zero_grad(&m->p);
        vae_losses ls;
        memset(&ls, 0, sizeof ls);
        double wk = weight;
        if (quantize && !st) { /* the step's rate level (0 and lambda itself in one-rate runs) */
            int const level = step_level(t->seed, t->rate_min, t->rate_max, step);
            wk = level ? level_weight(weight, level) : weight;
            st = vae_trainer_set_level(tr, level);
        }
        if (!st)
            st = vae_trainer_step(tr, bt.x, bt.mask, t->lat_weight ? bt.row_w : NULL, wk, &rng, &ls);
        if (r->size > 1) {
            int skip;
            double const w0 = cz_now();
            st = combine_step(r, st, &ls, xbuf, &skip);
            r->wait_s += cz_now() - w0;
            if (st) goto done;
            if (skip >= 0)
                st = cz_error(CLIMZ_ERR_GENERIC, "a non-finite loss on rank %d of %d", skip, r->size);
            else sum_gradients(r);
        }
        double gnorm = 0;
        if (st == CLIMZ_OK) st = nn_adamw_step(&r->opt, &m->p, nn_lr_at(&sched, (uint64_t)step), &gnorm);
        if (st == CLIMZ_ERR_GENERIC) {
            /* a non-finite loss or gradient: skip the batch (nothing was changed) */
            say(o, "step %ld: skipped (%s)", step + 1, cz_error_message());
            cz_error_clear();
            st = CLIMZ_OK;
        } else if (st != CLIMZ_OK) {
            goto done;
        } else {
            acc[0] += ls.loss, acc[1] += ls.mse, acc[2] += ls.kl, acc[3] += ls.bpv;
            acc[4] += ls.sigma, acc[5] += ls.y_absmean, acc[6] += gnorm, acc[7] += ls.aux;
            nacc++;
        }
        done_steps++;
        long const s1 = step + 1;
        if ((s1 % t->log_every == 0 || s1 == stop) && nacc) {
            double const el = cz_now() - t0, rate = (double)done_steps * (double)B / el;
            char eta[32];
            fmt_secs(eta, sizeof eta, el / (double)done_steps * (double)(stop - s1));
            double const k = (double)nacc;
            if (r->ph == VAE_PHASE_PRETRAIN)
                say(o, "step %ld/%ld  loss %.5f  mse %.5f  kl %.4f  sigma %.3f  |mu| %.3f  lr %.2e  "
                       "gnorm %.3f  %.1f samples/s%s  ETA %s",
                    s1, t->steps, acc[0] / k, acc[1] / k, acc[2] / k, acc[4] / k, acc[5] / k,
                    nn_lr_at(&sched, (uint64_t)step), acc[6] / k, rate, ranks, eta);
            else
                say(o, "step %ld/%ld  loss %.4f  mse %.5f  bits/value %.4f  aux %.2f  |y| %.3f  "
                       "lr %.2e  gnorm %.3f  %.1f samples/s%s  ETA %s",
                    s1, t->steps, acc[0] / k, acc[1] / k, acc[3] / k, acc[7] / k, acc[5] / k,
                    nn_lr_at(&sched, (uint64_t)step), acc[6] / k, rate, ranks, eta);
            memset(acc, 0, sizeof acc);
            nacc = 0;
        }
        if (s1 % t->val_every == 0 && s1 != stop) {
            tr_val v;
            if (r->rank == 0) {
                st = validate(&r->d, m, t->val_max, quantize, t->lat_weight, &v);
                if (!st) say_val(o, s1, &v, quantize);
            }
            CZ_CHECK_GOTO(st, from_root(r, st), done);
            CZ_CHECK_GOTO(st, check_same(r, s1, NULL), done);
        }
        if (s1 % t->checkpoint_every == 0 || s1 == stop) {
            if (r->rank == 0) st = save_checkpoint(m, &r->opt, r->ckpt_path, s1, t, r->ph, r->size);
            CZ_CHECK_GOTO(st, from_root(r, st), done);
        }
    }
    double const el = cz_now() - t0;
    say(o, "%ld steps in %.1f s (%.2f samples/s%s)", done_steps, el,
        done_steps ? (double)done_steps * (double)B / el : 0.0, ranks);
    if (r->size > 1 && done_steps)
        say(o, "gradient sums: %zu bytes per step, %.2f ms per step on rank 0 (%.1f%% of the step); "
               "the loss exchange before them, where the ranks wait for the slowest: %.2f ms",
            r->comm_bytes, 1e3 * r->comm_s / (double)done_steps, el > 0 ? 100 * r->comm_s / el : 0.0,
            1e3 * r->wait_s / (double)done_steps);
    r->start = stop;
done:
    vae_trainer_free(tr);
    batch_free(&bt);
    free(xbuf);
    return st;
}

/* The anchors of the rate gains that no run has trained (all 0 as vae_model_add_rate_gain
 * left them, and no level of kmin..kmax within 8 of them) take the gains of the nearest level
 * this run trained, so that the levels beyond its range code with those instead of falling
 * back to the plain steps; anchors an earlier run trained keep their gains. */
static void extend_gains(vae_model *m, long kmin, long kmax) {
    size_t const L = m->cfg.latent;
    float *a = nn_params_data(&m->p, m->ix.rate_gain);
    for (size_t i = 0; i < VAE_GAIN_ANCHORS; i++) {
        long const A = VAE_GAIN_LEVEL0 + 8 * (long)i;
        if (kmax > A - 8 && kmin < A + 8) continue; /* trained by this run */
        int untrained = 1;
        for (size_t c = 0; c < L; c++) untrained &= a[i * L + c] == 0.0f;
        if (!untrained) continue;
        size_t k;
        double t;
        vae_gain_anchor((double)(A < kmin ? kmin : kmax), &k, &t);
        for (size_t c = 0; c < L; c++)
            a[i * L + c] = (float)((1 - t) * (double)a[k * L + c] + t * (double)a[(k + 1) * L + c]);
    }
}

/* one line per anchor: the spread of the channels' gains */
static void say_gains(const climz_train_opts *o, const vae_model *m) {
    size_t const L = m->cfg.latent;
    const float *a = nn_params_data(&m->p, m->ix.rate_gain);
    for (size_t i = 0; i < VAE_GAIN_ANCHORS; i++) {
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        for (size_t c = 0; c < L; c++) {
            double const v = a[i * L + c];
            lo = v < lo ? v : lo, hi = v > hi ? v : hi, sum += v;
        }
        say(o, "rate gains at level %3d: mean %+.3f, min %+.3f, max %+.3f octaves", VAE_GAIN_LEVEL0 + 8 * (int)i,
            sum / (double)L, lo, hi);
    }
}

static climz_status finish(tr_run *r) {
    vae_model *m = &r->m;
    int const quantize = r->ph == VAE_PHASE_FINETUNE;
    if (r->start < r->t.steps) {
        say(r->o, "stopped at step %ld of %ld: continue with --resume %s", r->start, r->t.steps,
            r->ckpt_path);
        return CLIMZ_OK;
    }
    if (quantize && vae_model_has_rate_gain(m)) {
        if (!nn_params_group_frozen(&m->p, "gain")) extend_gains(m, r->t.rate_min, r->t.rate_max);
        say_gains(r->o, m);
    }
    if (quantize) {
        double aux;
        CZ_FORWARD(vae_fit_quantiles(m, &aux));
        say(r->o, "factorised prior: quantiles fitted (aux loss %.2e)", aux);
        CZ_FORWARD(vae_model_build_tables(m));
    }
    tr_val v;
    CZ_FORWARD(validate(&r->d, m, r->t.val_max, quantize, r->t.lat_weight, &v));
    say_val(r->o, r->t.steps, &v, quantize);
    /* the record of how the model was made */
    json_t *j = opts_json(&r->t, r->ph);
    json_t *data = json_array();
    for (size_t i = 0; r->o->data && r->o->data[i]; i++) json_array_append_new(data, json_string(r->o->data[i]));
    json_object_set_new(j, "data", data);
    if (r->o->train_times) json_object_set_new(j, "train_times", json_string(r->o->train_times));
    if (r->o->val_times) json_object_set_new(j, "val_times", json_string(r->o->val_times));
    json_object_set_new(j, "train_samples", json_integer((json_int_t)r->d.ntrain));
    if (v.n) {
        json_t *jv = json_object();
        json_object_set_new(jv, "fields", json_integer((json_int_t)v.n));
        json_object_set_new(jv, "nrmse", json_real(v.nrmse));
        json_object_set_new(jv, "rmse_over_range", json_real(v.rel_range));
        if (quantize) json_object_set_new(jv, "bits_per_value", json_real(v.bpv));
        json_object_set_new(j, "validation", jv);
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(j);
    CZ_RETURN_IF(!s, CLIMZ_ERR_ALLOC, "out of memory");
    climz_status st = vae_model_set_meta(m, quantize ? "vae.finetune" : META_TRAIN, s);
    free(s);
    CZ_FORWARD(st);
    /* the levels the model was trained for (the rate search of compress starts in them); a
     * one-rate fine-tune of a multi-rate model trains level 0 alone, so drops the record */
    drop_meta(m, VAE_META_RATE_LEVELS);
    if (quantize && (r->t.rate_min || r->t.rate_max)) {
        char lv[48];
        snprintf(lv, sizeof lv, "%ld:%ld", r->t.rate_min, r->t.rate_max);
        CZ_FORWARD(vae_model_set_meta(m, VAE_META_RATE_LEVELS, lv));
    }
    CZ_FORWARD(vae_model_save(m, r->out_path, NULL));
    say(r->o, "wrote %s", r->out_path);
    return CLIMZ_OK;
}

static climz_status setup_optimizer(tr_run *r) {
    nn_adamw_hparams hp = nn_adamw_defaults();
    hp.weight_decay = r->t.weight_decay;
    nn_adamw_init(&r->opt, &hp);
    r->opt.clip_norm = r->t.clip;
    /* the quantiles learn at CompressAI's aux rate 1e-3 (see vae_fit_quantiles for the end) */
    nn_adamw_hparams aux = hp;
    aux.weight_decay = 0;
    aux.lr_scale = 1e-3 / r->t.lr;
    CZ_FORWARD(nn_adamw_set_group(&r->opt, &r->m.p, "aux", &aux));
    if (!vae_model_has_rate_gain(&r->m)) return CLIMZ_OK;
    /* the rate gains: no decay (0 is not "small", it is the plain step), their own rate */
    nn_adamw_hparams gain = hp;
    gain.weight_decay = 0;
    gain.lr_scale = r->t.gain_lr / r->t.lr;
    return nn_adamw_set_group(&r->opt, &r->m.p, "gain", &gain);
}

static climz_status train_common(tr_run *r) {
    const climz_train_opts *o = r->o;
    CZ_RETURN_IF(!r->out_path || !*r->out_path, CLIMZ_ERR_INVALID_ARG, "no output path");
    if (o->checkpoint) r->ckpt_path = cz_strdup(o->checkpoint);
    else if ((r->ckpt_path = cz_malloc(strlen(r->out_path) + 6)))
        sprintf(r->ckpt_path, "%s.ckpt", r->out_path);
    CZ_RETURN_IF(!r->ckpt_path, CLIMZ_ERR_ALLOC, "out of memory");
    CZ_FORWARD(resolve_opts(o, r->ph, &r->t));
    if (o->resume) {
        CZ_FORWARD(vae_model_load(&r->m, o->resume, 1, &r->opt));
        const char *step = vae_model_meta(&r->m, META_STEP), *ot = vae_model_meta(&r->m, META_OPTS);
        CZ_RETURN_IF(!step || !ot, CLIMZ_ERR_INVALID_ARG,
                     "%s is not a training checkpoint (no %s)", o->resume, META_STEP);
        r->start = strtol(step, NULL, 10);
        const char *nr = vae_model_meta(&r->m, META_RANKS);
        int const ranks = nr ? (int)strtol(nr, NULL, 10) : 1;
        tr_opts keep = r->t;
        CZ_FORWARD(opts_from_json(&r->t, ot, r->ph));
        r->t.checkpoint_every = keep.checkpoint_every, r->t.log_every = keep.log_every;
        r->t.val_every = keep.val_every, r->t.val_max = keep.val_max;
        drop_meta(&r->m, META_STEP);
        drop_meta(&r->m, META_OPTS);
        drop_meta(&r->m, META_RANKS);
        CZ_RETURN_IF(r->start < 0 || r->start > r->t.steps, CLIMZ_ERR_CORRUPT,
                     "%s: step %ld outside the run's %ld", o->resume, r->start, r->t.steps);
        say(o, "resuming %s at step %ld of %ld (options from the checkpoint)", o->resume,
            r->start, r->t.steps);
        if (ranks != r->size)
            say(o, "note: the checkpoint was written by %d rank(s), this run has %d: the same "
                   "training (same global batch and draws), but not bit for bit", ranks, r->size);
    }
    return CLIMZ_OK;
}

static void run_free(tr_run *r) {
    vae_model_free(&r->m);
    data_free(&r->d);
    free(r->ckpt_path);
}

static climz_status load_data(tr_run *r) {
    const climz_train_opts *o = r->o;
    CZ_FORWARD(load_specs(&r->d, o->data));
    CZ_FORWARD(build_samples(&r->d, r->m.cfg.in_channels, o->train_times, o->val_times,
                             o->max_fields));
    return CLIMZ_OK;
}

static climz_status setup_train(tr_run *r) {
    const climz_train_opts *o = r->o;
    CZ_FORWARD(train_common(r));
    if (!o->resume) {
        vae_config c;
        if (o->config) CZ_FORWARD(vae_config_load(&c, o->config));
        else vae_config_default(&c);
        CZ_FORWARD(vae_model_create(&r->m, &c, 1));
        CZ_FORWARD(vae_model_init_weights(&r->m, r->t.seed));
    }
    CZ_FORWARD(load_data(r));
    if (!o->resume) {
        channel_stats(&r->d, r->m.norm_mean, r->m.norm_std);
        CZ_FORWARD(setup_optimizer(r));
    }
    /* phase 1 trains the encoder and the decoder */
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "encoder", 0));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "decoder", 0));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "hyper", 1));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "entropy", 1));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "aux", 1));
    return CLIMZ_OK;
}

static climz_status setup_finetune(tr_run *r) {
    const climz_train_opts *o = r->o;
    CZ_FORWARD(train_common(r));
    if (!o->resume) {
        CZ_RETURN_IF(!o->model, CLIMZ_ERR_INVALID_ARG, "finetune needs the phase-1 model (--model)");
        CZ_FORWARD(vae_model_load(&r->m, o->model, 1, NULL));
        if (r->t.rate_gains && !vae_model_has_rate_gain(&r->m)) {
            CZ_FORWARD(vae_model_add_rate_gain(&r->m));
            say(o, "added rate gains to the model (all 0: the plain steps 2^(K/8) to start from)");
        }
        CZ_FORWARD(setup_optimizer(r));
        say(o, "finetuning %s (sha256 %.16s...)", o->model, r->m.sha256);
    }
    CZ_FORWARD(load_data(r));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "encoder", !r->t.unfreeze_encoder));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "decoder", 0));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "hyper", 0));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "entropy", 0));
    CZ_FORWARD(nn_params_freeze_group(&r->m.p, "aux", 0));
    /* a model's gains are trained by multi-rate runs; a one-rate run keeps them as they are */
    if (vae_model_has_rate_gain(&r->m))
        CZ_FORWARD(nn_params_freeze_group(&r->m.p, "gain", !(r->t.rate_min || r->t.rate_max)));
    return CLIMZ_OK;
}

/* What must be the same on every rank: the run's options and its data (sample counts). */
static char *run_identity(const tr_run *r) {
    json_t *j = opts_json(&r->t, r->ph);
    json_object_set_new(j, "start", json_integer(r->start));
    json_object_set_new(j, "train_samples", json_integer((json_int_t)r->d.ntrain));
    json_object_set_new(j, "val_samples", json_integer((json_int_t)r->d.nval));
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(j);
    return s;
}

climz_status vae_train_ex(vae_phase ph, const char *out_path, const climz_train_opts *opts,
                          const vae_train_comm *comm) {
    CZ_RETURN_IF(!opts, CLIMZ_ERR_INVALID_ARG, "no training options");
    tr_run r;
    memset(&r, 0, sizeof r);
    climz_train_opts quiet = *opts;
    r.size = comm && comm->size > 1 ? comm->size : 1;
    r.rank = r.size > 1 ? comm->rank : 0;
    r.comm = r.size > 1 ? comm : NULL;
    if (r.rank != 0) quiet.progress = NULL; /* rank 0 alone reports */
    r.o = &quiet, r.ph = ph, r.out_path = out_path;
    climz_status st = ph == VAE_PHASE_PRETRAIN ? setup_train(&r) : setup_finetune(&r);
    if (!st && r.t.batch < r.size)
        st = cz_error(CLIMZ_ERR_INVALID_ARG, "a batch of %ld samples cannot be split over %d ranks "
                      "(--batch must be at least the rank count)", r.t.batch, r.size);
    st = agree(&r, st);
    if (!st && r.size > 1) {
        char *id = run_identity(&r);
        st = agree(&r, id ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory"));
        if (!st) st = check_same(&r, r.start, id);
        free(id);
    }
    if (!st) st = run_loop(&r);
    if (!st) st = check_same(&r, r.start, NULL);
    if (!st) {
        if (r.rank == 0) st = finish(&r); /* quantiles, validation, the model file */
        st = from_root(&r, st);
    }
    run_free(&r);
    return st;
}

climz_status vae_train(vae_phase ph, const char *out_path, const climz_train_opts *opts) {
    return vae_train_ex(ph, out_path, opts, NULL);
}
