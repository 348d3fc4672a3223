/* compress.c — climz_compress_file(): data set in, .clz out.
 *
 * Each selected variable gets one mask chunk per time step that has missing points, and
 * the chunks of its codec (codec.h), so a reader can decode any variable alone (and, for
 * codecs with a chunk per time step, any time step). The encoder measures the errors of what
 * the decoder will reproduce and records them in the header. */
#include "codec.h"
#include "residual_target.h"
#include "container/mask.h"
#include "container/schema.h"
#include "metrics/metrics.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void api_field_range(const cz_field *f, double *lo, double *hi, size_t *nvalid) {
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    double a = INFINITY, b = -INFINITY;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!f->miss[i]) {
            double const v = f->values[i];
            a = v < a ? v : a;
            b = v > b ? v : b;
            k++;
        }
    *lo = k ? a : 0;
    *hi = k ? b : 0;
    *nvalid = k;
}

double api_field_rmse(const cz_field *f, const float *y) {
    size_t const rows = f->nt * f->nz * f->ny, nx = f->nx;
    double sum = 0;
    size_t m = 0;
    for (size_t r = 0; r < rows; r++) { /* row by row, as met_compare() sums: climz eval's figure */
        double row = 0;
        for (size_t x = 0; x < nx; x++) {
            size_t const i = r * nx + x;
            if (f->miss[i]) continue;
            double const e = (double)y[i] - (double)f->values[i];
            row += e * e;
            m++;
        }
        sum += row;
    }
    return m ? sqrt(sum / (double)m) : 0;
}

double api_field_spread(const cz_field *f) {
    double lo, hi;
    size_t nvalid;
    api_field_range(f, &lo, &hi, &nvalid);
    return hi > lo ? hi - lo : 0;
}

static int any_missing(const uint8_t *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (m[i]) return 1;
    return 0;
}

/* One mask chunk per time step that has missing points, and an exact chunk where points of
 * v's oor_code occur (doc/format.md §8.1); returns the bytes written. */
static climz_status write_masks(clz_writer *w, uint32_t var, const cz_var *v, const cz_field *f, size_t *bytes) {
    size_t const plane = f->nz * f->ny * f->nx;
    size_t const es = cz_dtype_size(v->type);
    cz_buf b = {0};
    climz_status st = CLIMZ_OK;
    for (size_t t = 0; t < f->nt && !st; t++) {
        const uint8_t *miss = f->miss + t * plane;
        if (!any_missing(miss, plane)) continue;
        b.size = 0;
        st = clz_mask_encode_rows(miss, plane, f->nx, &b);
        if (!st) st = clz_writer_add(w, var, (uint32_t)t, CLZ_STREAM_MASK, b.data, b.size);
        *bytes += b.size;
        if (st || !v->oor_code || !f->exact || !memchr(miss, v->oor_code, plane)) continue;
        b.size = 0;
        st = cz_buf_put_u8(&b, (uint8_t)v->oor_code);
        for (size_t i = 0; i < plane && !st; i++)
            if (miss[i] == v->oor_code) {
                uint8_t le[8];
                cz_store_le64(le, f->exact[t * plane + i]);
                st = cz_buf_put(&b, le, es);
            }
        if (!st) st = clz_writer_add(w, var, (uint32_t)t, CLZ_STREAM_EXACT, b.data, b.size);
        *bytes += b.size;
    }
    cz_buf_free(&b);
    return st;
}

static json_t *stats_json(const met_stats *s) {
    json_t *j = json_object();
    json_object_set_new(j, "n_valid", json_integer((json_int_t)s->n_valid));
    json_object_set_new(j, "rmse", json_real(s->rmse));
    json_object_set_new(j, "nrmse", json_real(s->nrmse));
    json_object_set_new(j, "lat_rmse", json_real(s->lat_rmse));
    json_object_set_new(j, "max_abs_error", json_real(s->max_abs_error));
    if (isfinite(s->psnr)) json_object_set_new(j, "psnr", json_real(s->psnr));
    return j;
}

static json_t *dims_json(const cz_dataset *ds, const cz_var *v) {
    json_t *a = json_array();
    for (int d = 0; d < v->ndims; d++) json_array_append_new(a, json_string(ds->dims[v->dimids[d]].name));
    return a;
}

climz_status api_field_bound(const climz_ctx *ctx, const cz_var *v, const cz_field *f, api_bound *b) {
    double lo, hi;
    size_t nvalid;
    api_field_range(f, &lo, &hi, &nvalid);
    return api_range_bound(ctx, v, lo, hi, b);
}

climz_status api_range_bound(const climz_ctx *ctx, const cz_var *v, double lo, double hi, api_bound *b) {
    double const range = hi - lo;
    CZ_RETURN_IF(ctx->rel_error > 0 && !isfinite(range), CLIMZ_ERR_INVALID_ARG,
                 "variable '%s' has an infinite value at a valid point (range %g to %g), so a bound "
                 "relative to its range (--rel-error) is not defined; give --max-abs-error instead",
                 v->name, lo, hi);
    b->E = ctx->rel_error > 0 ? ctx->rel_error * range : ctx->max_abs_error;
    /* integer-valued storage: the bound in whole quanta, so that the value written after
     * rounding is within E (storage.c); E = 0 asked is lossless (residual) or no bound */
    b->asked = b->E > 0;
    b->quantum = api_storage_quantum(v);
    if (b->quantum > 0) b->E = api_bound_in_quanta(b->E, b->quantum);
    return CLIMZ_OK;
}

climz_status api_write_masks(clz_writer *w, uint32_t var, const cz_var *v, const cz_field *f, size_t *bytes) {
    return write_masks(w, var, v, f, bytes);
}

climz_status api_entry_finish(const climz_ctx *ctx, const api_codec *c, const cz_dataset *ds, int i,
                              const cz_field *fp, const float *decoded, size_t mask_bytes, double E, json_t *e) {
    cz_field const f = *fp;
    const cz_var *v = &ds->vars[i];
    size_t const n = f.nt * f.nz * f.ny * f.nx;
    double lo, hi;
    size_t nvalid;
    api_field_range(&f, &lo, &hi, &nvalid);
    json_object_set_new(e, "name", json_string(v->name));
    json_object_set_new(e, "index", json_integer(i));
    json_object_set_new(e, "codec", json_string(c->name));
    json_object_set_new(e, "dims", dims_json(ds, v));
    json_t *shape = json_array();
    json_array_append_new(shape, json_integer((json_int_t)f.nt));
    json_array_append_new(shape, json_integer((json_int_t)f.nz));
    json_array_append_new(shape, json_integer((json_int_t)f.ny));
    json_array_append_new(shape, json_integer((json_int_t)f.nx));
    json_object_set_new(e, "shape", shape);
    json_object_set_new(e, "max_abs_error_bound", json_real(E));
    if (ctx->rel_error > 0) json_object_set_new(e, "rel_error_bound", json_real(ctx->rel_error));
    json_object_set_new(e, "min", json_real(lo));
    json_object_set_new(e, "max", json_real(hi));
    json_object_set_new(e, "n_points", json_integer((json_int_t)n));
    json_object_set_new(e, "n_missing", json_integer((json_int_t)(n - nvalid)));
    json_object_set_new(e, "mask_bytes", json_integer((json_int_t)mask_bytes));
    if (nvalid) {
        met_field_view const view = {f.values, decoded, f.miss, f.lat, f.nt * f.nz, f.ny, f.nx};
        met_stats s;
        CZ_FORWARD(met_compare(&view, &s));
        json_object_set_new(e, "errors", stats_json(&s));
    }
    return CLIMZ_OK;
}

/* What a variable's coding adds to the file: its chunks' payload and index entries (after
 * mark_n chunks, mark_b bytes; this slice's when coded in slices) and its codec's header keys
 * (e, the whole variable's). */
static size_t chunk_cost(const clz_writer *w, size_t mark_n, size_t mark_b) {
    return clz_writer_payload_bytes(w) - mark_b + (clz_writer_nchunks(w) - mark_n) * CLZ_INDEX_ENTRY_SIZE;
}

static size_t keys_cost(const json_t *e) {
    char *j = json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
    size_t const keys = j ? strlen(j) : 0;
    free(j);
    return keys;
}

/* The collectives of a field coded in slices; in one process the values are already whole. */
static climz_status split_sum(const api_split *sp, climz_status st, size_t *v, size_t n) {
    return sp ? sp->sum(sp->user, st, v, n) : st;
}

static climz_status split_merge(const api_split *sp, climz_status st, const api_codec *c, json_t **e) {
    return sp ? sp->merge(sp->user, st, c, e) : st;
}

/* The residual codec's coding of a field (variable i, this slice) under bound E, or at the
 * largest bound within cap that meets the RMSE target of rep (rep->target > 0), into a scratch
 * trial (residual_target.h): what it would add to the file (chunk_cost of its writer, its
 * keys) and, when it is then chosen, the very chunks, keys and decoded values that go into the
 * file, so the field is not coded twice. */
static climz_status residual_trial_code(const climz_ctx *ctx, const cz_dataset *ds, int i, const cz_field *f,
                                        double E, double cap, api_residual_trial *t, api_bound_report *rep) {
    api_encode_args const args = {ctx, NULL, ds, i, f, E, NULL};
    if (rep->target > 0) return api_residual_search(&args, NULL, cap, t, rep);
    return api_residual_trial_code(&args, NULL, t);
}

/* A fallback to the residual codec drops the learned codec's options: an RMSE target among
 * them was parsed by the driver already, which searches the residual codec's bound itself. */
static const climz_compress_opts *residual_opts(const climz_compress_opts *opts, climz_compress_opts *buf) {
    if (!opts) return NULL;
    *buf = *opts;
    buf->options = NULL;
    buf->model = NULL;
    return buf;
}

/* Codes f with codec c under bound b into w (after mark_n chunks, mark_b bytes), checking what
 * the decoder will give: a learned codec's NaN/inf falls back to the residual codec (under a
 * bound or an RMSE target) or fails; a valid value written as an integer fill value codes
 * again with half the quanta. Under a bound a learned codec that weighs the residual codec
 * (codec.h) is never worse than the classical one: when the residual codec alone would add
 * fewer bytes to the file (its chunks and keys against the learned codec's), the variable is
 * coded with it instead (the entry's "codec" says which; "codec_asked" and "codec_asked_bytes"
 * record the learned codec passed over and what it cost). An RMSE target (options rmse= /
 * rel-rmse=, residual_target.h) sets the residual codec's bound: the largest within the asked
 * one (if any) that meets it, searched on trial encodings; the residual codec weighed against
 * a learned codec meets the same target (and is weighed under a target with no bound too: the
 * learned codec's rate search met it); a learned codec whose residual stage searched its bound
 * says so (args.bound_used), and that bound is then the one it is weighed under. *c and
 * b->E are what was finally used; *entry the codec's keys. Coded in slices (split), every
 * quantity that decides is summed over the owners first and the keys are the whole
 * variable's, so each owner takes the decision one process takes, in the same order of
 * collectives (a failure travels in the next one); a variable with an RMSE target is never
 * split (the codecs' split_steps). */
static climz_status encode_checked(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec **c,
                                   const cz_dataset *ds, int i, const cz_field *f, api_bound *b,
                                   const api_split *split, clz_writer *w, float *decoded, json_t **entry,
                                   api_residual_trial *trial) {
    const cz_var *v = &ds->vars[i];
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    size_t const mark_n = clz_writer_nchunks(w), mark_b = clz_writer_payload_bytes(w);
    const api_codec *const residual = api_codec_find("residual");
    climz_compress_opts ropts_buf;
    const api_codec *asked = NULL; /* the learned codec given up for the residual codec */
    size_t asked_bytes = 0;
    /* the RMSE target of the residual codec (alone or weighed against a learned codec) and what
     * its search did; cap: the asked bound, within which a searched one stays */
    api_bound_report rep = {0};
    int searched = 0;
    double const cap = b->asked ? b->E : INFINITY;
    const char *const *kv = opts ? opts->options : NULL;
    climz_status tst = CLIMZ_OK;
    if (*c == residual) { /* its options, checked here: a searched coding is placed, not encoded */
        api_rmse_target_opts ro;
        tst = api_parse_options("residual", api_rmse_target_specs, 2, kv, &ro);
    }
    if (!tst && (*c == residual || ((*c)->weighs_residual && (*c)->weighs_residual(opts))))
        tst = api_rmse_target(kv, f, &rep.target, &rep.rel_target);
    const api_codec *const c_asked = *c;
    if (!tst && rep.target > 0 && split)
        tst = cz_error(CLIMZ_ERR_UNSUPPORTED, "a variable with an RMSE target is coded whole, not in slices");
    for (;;) {
        /* a bound under one quantum means lossless, which only the residual codec does */
        if (b->asked && b->E == 0) *c = residual;
        json_t *e = json_object();
        climz_status st = tst ? tst : e ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        tst = CLIMZ_OK;
        /* the residual codec at a target: the bound searched once, its coding kept to be placed */
        if (!st && *c == residual && rep.target > 0 && !searched && !(b->asked && b->E == 0)) {
            api_residual_trial_free(trial);
            st = residual_trial_code(ctx, ds, i, f, 0, cap, trial, &rep);
            if (!st) b->E = trial->E, b->asked = 1, searched = 1;
        }
        double used = -1;
        api_encode_args const args = {ctx, *c != c_asked ? residual_opts(opts, &ropts_buf) : opts, ds, i, f,
                                      b->E, &used};
        if (!st)
            st = *c == residual && trial->w && trial->E == b->E ? api_residual_trial_place(trial, w, decoded, n, e)
                                                                : (*c)->encode(&args, w, decoded, e);
        if (!st && used >= 0) b->E = used, b->asked = 1; /* a learned codec's residual stage searched it */
        /* cnt[0]: valid points the decoder gives as NaN/inf; cnt[1]: valid values that would
         * be written as the fill value (an integer _FillValue inside the data range) */
        size_t cnt[2] = {0, 0};
        for (size_t k = 0; k < n && !st; k++) cnt[0] += !f->miss[k] && !isfinite(decoded[k]);
        if (!st && !cnt[0]) cnt[1] = api_round_to_storage(v, decoded, f->miss, n);
        st = split_sum(split, st, cnt, 2);
        if (st) {
            json_decref(e);
            return st;
        }
        if (cnt[0]) { /* a learned codec's network gave NaN/inf: the residual codec, or fail */
            json_decref(e);
            clz_writer_rollback(w, mark_n, mark_b);
            CZ_RETURN_IF(*c == residual || !(b->asked || rep.target > 0), CLIMZ_ERR_BOUND,
                         "the %s codec reconstructs %zu valid points as NaN or infinity", (*c)->name, cnt[0]);
            asked = *c;
            *c = residual;
            continue;
        }
        /* a valid value written as the fill value would be lost: code again with half the
         * quanta, down to lossless */
        if (cnt[1] && b->asked && b->E > 0) {
            json_decref(e);
            clz_writer_rollback(w, mark_n, mark_b);
            b->E = api_bound_in_quanta(floor(b->E / b->quantum / 2) * b->quantum, b->quantum);
            continue;
        }
        st = split_merge(split, CLIMZ_OK, *c, &e);
        if (!st && (*c)->weighs_residual && (*c)->weighs_residual(opts) && ((b->asked && b->E > 0) || rep.target > 0)) {
            size_t bytes[2] = {chunk_cost(w, mark_n, mark_b), 0}; /* learned, classical: chunks */
            api_residual_trial_free(trial);
            api_bound_report rrep = {.target = rep.target, .rel_target = rep.rel_target};
            climz_status rst = residual_trial_code(ctx, ds, i, f, b->E, cap, trial, &rrep);
            json_t *re = rst ? NULL : json_deep_copy(trial->keys); /* merged apart: trial's stay the slice's */
            if (!rst && !re) rst = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
            if (!rst) bytes[1] = chunk_cost(trial->w, 0, 0);
            rst = split_merge(split, rst, residual, &re);
            if (!rst) rst = split_sum(split, CLIMZ_OK, bytes, 2);
            size_t const learned = bytes[0] + keys_cost(e), classical = bytes[1] + keys_cost(re);
            json_decref(re);
            st = rst;
            if (!st && classical < learned) {
                json_decref(e);
                clz_writer_rollback(w, mark_n, mark_b);
                asked = *c;
                asked_bytes = learned;
                *c = residual;
                b->E = trial->E; /* its own bound at the target: the one placed */
                rep = rrep;
                searched = rep.target > 0;
                continue;
            }
        }
        if (st) {
            json_decref(e);
            return st;
        }
        if (asked) {
            json_object_set_new(e, "codec_asked", json_string(asked->name));
            if (asked_bytes) json_object_set_new(e, "codec_asked_bytes", json_integer((json_int_t)asked_bytes));
        }
        if (*c == residual && searched) api_bound_report_json(&rep, e);
        *entry = e;
        return CLIMZ_OK;
    }
}

climz_status api_encode_checked(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec **c,
                                const cz_dataset *ds, int i, const cz_field *f, api_bound *b, const api_split *split,
                                clz_writer *w, float *decoded, json_t **entry) {
    api_residual_trial trial = {0};
    climz_status const st = encode_checked(ctx, opts, c, ds, i, f, b, split, w, decoded, entry, &trial);
    api_residual_trial_free(&trial);
    return st;
}

void api_drop_empty_vars(const cz_dataset *ds, uint8_t *sel, json_t *root) {
    json_t *notes = json_array();
    for (int i = 0; i < ds->nvars; i++) {
        if (!sel[i] || io_var_count(ds, &ds->vars[i]) != 0) continue;
        sel[i] = 0;
        char note[512];
        snprintf(note, sizeof note, "variable '%s' has no points (a dimension of size 0): stored "
                 "as it is", ds->vars[i].name);
        json_array_append_new(notes, json_string(note));
    }
    if (json_array_size(notes)) json_object_set_new(root, "notes", notes);
    else json_decref(notes);
}

climz_status api_compress_field(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec *c,
                                const cz_dataset *ds, int i, const cz_field *fp, clz_writer *w, json_t **entry) {
    cz_field const f = *fp;
    float *decoded = NULL;
    climz_status st = CLIMZ_OK;
    const cz_var *v = &ds->vars[i];
    size_t n;
    if (!cz_mul_ok(f.nt * f.nz, f.ny * f.nx, &n) || n == 0)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_EMPTY, "variable '%s' has no points (a dimension of size 0)",
                     v->name);
    api_bound b;
    CZ_CHECK_GOTO(st, api_field_bound(ctx, v, &f, &b), done);
    decoded = malloc(n * sizeof *decoded);
    if (!decoded) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", v->name);
    size_t mask_bytes = 0;
    CZ_CHECK_GOTO(st, clz_writer_set_var_name(w, (uint32_t)i, v->name), done);
    CZ_CHECK_GOTO(st, write_masks(w, (uint32_t)i, v, &f, &mask_bytes), done);
    json_t *e = NULL;
    CZ_CHECK_GOTO(st, api_encode_checked(ctx, opts, &c, ds, i, &f, &b, NULL, w, decoded, &e), done);
    st = api_entry_finish(ctx, c, ds, i, &f, decoded, mask_bytes, b.E, e);
    if (st) json_decref(e);
    else *entry = e;
done:
    free(decoded);
    if (st) cz_error_prefix(st, "variable '%s'", v->name);
    return st;
}

const api_codec *api_codec_for(const climz_compress_opts *opts) {
    const char *codec = opts && opts->codec ? opts->codec : "residual";
    const api_codec *c = api_codec_find(codec);
    if (!c) {
        char names[256];
        api_codec_names(names, sizeof names);
        cz_error(CLIMZ_ERR_UNSUPPORTED, "codec '%s' is not available; available: %s", codec, names);
    }
    return c;
}

json_t *api_header_new(const char *codec, const char *source, const char *source_format) {
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("climz"));
    json_object_set_new(root, "writer", json_string(climz_version_string()));
    json_object_set_new(root, "codec", json_string(codec));
    if (source) json_object_set_new(root, "source", json_string(source));
    json_object_set_new(root, "source_format", json_string(source_format));
    json_object_set_new(root, "variables", json_array());
    return root;
}

climz_status api_header_finish(const cz_dataset *ds, const uint8_t *stored, json_t *root, clz_writer *w,
                               char **header) {
    size_t f32_bytes = 0, k;
    json_t *e;
    json_array_foreach(json_object_get(root, "variables"), k, e)
        f32_bytes += 4 * (size_t)json_integer_value(json_object_get(e, "n_points"));
    json_object_set_new(root, "float32_bytes", json_integer((json_int_t)f32_bytes));
    /* metadata and the small variables stored as they are (coordinates, bounds) */
    cz_buf schema = {0};
    climz_status st = clz_schema_encode(ds, stored, &schema);
    if (!st) st = clz_writer_add(w, CLZ_NO_VAR, CLZ_NO_TIME, CLZ_STREAM_SCHEMA, schema.data, schema.size);
    cz_buf_free(&schema);
    if (st) return st;
    *header = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
    CZ_RETURN_IF(!*header, CLIMZ_ERR_ALLOC, "out of memory writing the header");
    return CLIMZ_OK;
}

/* Codes variable i of ds with codec c and returns its header entry in *entry. */
static climz_status compress_var(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec *c,
                                 const cz_dataset *ds, int i, clz_writer *w, json_t **entry) {
    cz_field f = {0};
    climz_status st = io_load_field(ds, i, &f);
    if (st) cz_error_prefix(st, "variable '%s'", ds->vars[i].name);
    else st = api_compress_field(ctx, opts, c, ds, i, &f, w, entry);
    io_field_free(&f);
    return st;
}

climz_status climz_compress_file(climz_ctx *ctx, const char *in_path, const char *out_path,
                                 const climz_compress_opts *opts) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    if (!in_path || !out_path)
        return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "input and output paths are required"));
    const api_codec *c = api_codec_for(opts);
    if (!c) return api_fail(ctx, CLIMZ_ERR_UNSUPPORTED);

    cz_dataset *ds = NULL;
    clz_writer *w = NULL;
    uint8_t *sel = NULL, *keep = NULL;
    json_t *root = NULL;
    char *header = NULL;
    climz_status st = CLIMZ_OK;

    CZ_CHECK_GOTO(st, api_check_output(out_path, in_path, NULL, opts ? opts->model : NULL,
                                       opts ? opts->options : NULL), done);
    CZ_CHECK_GOTO(st, io_open(in_path, &ds), done);
    CZ_CHECK_GOTO(st, api_check_output(out_path, NULL, ds->data_path, NULL, NULL), done);
    sel = calloc((size_t)ds->nvars + 1, 1);
    keep = calloc((size_t)ds->nvars + 1, 1);
    if (!sel || !keep) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    CZ_CHECK_GOTO(st, api_select_vars(ds, opts ? opts->vars : NULL, sel), done);
    /* gridded variables that were not asked for are left out of the file */
    for (int i = 0; i < ds->nvars; i++) keep[i] = sel[i] || !ds->vars[i].is_grid;
    io_drop_vars(ds, keep);
    CZ_CHECK_GOTO(st, api_select_vars(ds, opts ? opts->vars : NULL, sel), done);

    CZ_CHECK_GOTO(st, clz_writer_create(&w), done);
    root = api_header_new(c->name, io_base_name(in_path), io_format_name(ds->format));
    /* a variable with no points (a dimension of size 0) has nothing to code: it is stored as
     * it is with the coordinates, and the header says so */
    api_drop_empty_vars(ds, sel, root);
    for (int i = 0; i < ds->nvars; i++) {
        if (!sel[i]) continue;
        json_t *e = NULL;
        CZ_CHECK_GOTO(st, compress_var(ctx, opts, c, ds, i, w, &e), done);
        json_array_append_new(json_object_get(root, "variables"), e);
    }
    for (int i = 0; i < ds->nvars; i++) keep[i] = !sel[i];
    CZ_CHECK_GOTO(st, api_header_finish(ds, keep, root, w, &header), done);
    CZ_CHECK_GOTO(st, clz_writer_finish(w, header, out_path), done);

done:
    if (st && !strstr(cz_error_message(), in_path)) cz_error_prefix(st, "%s", in_path);
    free(header);
    json_decref(root);
    clz_writer_free(w);
    free(sel);
    free(keep);
    io_free(ds);
    return api_fail(ctx, st);
}
