/* eval.c — climz_eval_json(): the errors a scientist cares about (SPEC section 7), per
 * variable and per level, between an original data set and a decoded one (NetCDF, or a .clz
 * decoded on the fly, which also gives the ratio and decode throughput). */
#include "api_internal.h"
#include "metrics/fidelity.h"
#include "metrics/metrics.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const quantile_names[4] = {"90", "95", "98", "99.5"};

static void put_real(json_t *o, const char *k, double v) {
    /* JSON has no inf/nan: a perfect reconstruction has PSNR inf, reported as null */
    json_object_set_new(o, k, isfinite(v) ? json_real(v) : json_null());
}

static json_t *stats_json(const met_stats *s, int extremes) {
    json_t *o = json_object();
    json_object_set_new(o, "n_valid", json_integer((json_int_t)s->n_valid));
    /* decoded values that are NaN or infinite where the original is valid */
    json_object_set_new(o, "n_nonfinite", json_integer((json_int_t)s->n_nonfinite));
    put_real(o, "range", s->range);
    put_real(o, "rmse", s->rmse);
    put_real(o, "nrmse", s->nrmse);
    put_real(o, "lat_rmse", s->lat_rmse);
    put_real(o, "max_abs_error", s->max_abs_error);
    put_real(o, "mean_error", s->mean_error);
    put_real(o, "psnr", s->psnr);
    if (extremes) {
        json_t *sedi = json_object(), *rqe = json_object();
        for (int q = 0; q < 4; q++) {
            put_real(sedi, quantile_names[q], s->sedi[q]);
            put_real(rqe, quantile_names[q], s->rqe[q]);
        }
        json_object_set_new(o, "sedi", sedi);
        json_object_set_new(o, "rqe", rqe);
    }
    return o;
}

static json_t *per_field_json(const met_per_field *f) {
    json_t *o = json_object();
    put_real(o, "mean", f->mean);
    put_real(o, "min", f->min);
    json_object_set_new(o, "n_fields", json_integer((json_int_t)f->n_fields));
    return o;
}

/* The science-fidelity figures of issue 21 (metrics/fidelity.h, doc/metrics.md) over every
 * 2-D field of the variable; added to e. */
static climz_status fidelity_json(const met_field_view *v, const double *lon, json_t *e) {
    met_error_tail tail;
    CZ_FORWARD(met_error_tail_of(v, &tail));
    json_t *jt = json_object();
    put_real(jt, "p99.9", tail.p999);
    put_real(jt, "p99.99", tail.p9999);
    put_real(jt, "max", tail.max);
    put_real(jt, "fraction_beyond_5rmse", tail.frac_beyond_5rmse);
    json_object_set_new(e, "abs_error_tail", jt);

    met_per_field corr, ssim;
    CZ_FORWARD(met_field_correlation(v, &corr));
    CZ_FORWARD(met_field_ssim(v, &ssim));
    json_object_set_new(e, "correlation", per_field_json(&corr));
    json_t *js = per_field_json(&ssim);
    json_object_set_new(js, "window", json_string("gaussian 7x7, sigma 1.5; fields scaled by the original's range"));
    json_object_set_new(e, "ssim", js);

    json_t *jz = json_object();
    int const periodic = met_lon_periodic(lon, v->nx);
    json_object_set_new(jz, "rows", json_string(periodic ? "periodic (global longitude circle)"
                                                         : "non-periodic (limited area or unknown longitudes): "
                                                           "linear trend removed, Hann window"));
    json_object_set_new(jz, "latitude_weighted", json_boolean(v->lat != NULL));
    met_spectrum sp = {0};
    /* rows of fewer than 4 points have no spectrum: reported as no row used */
    climz_status const st = v->nx >= 4 ? met_zonal_spectrum(v, periodic, &sp) : CLIMZ_ERR_EMPTY;
    if (st && st != CLIMZ_ERR_EMPTY) {
        json_decref(jz);
        return st;
    }
    if (st == CLIMZ_ERR_EMPTY) cz_error_clear();
    json_object_set_new(jz, "rows_used", json_integer((json_int_t)sp.rows_used));
    json_object_set_new(jz, "rows_skipped_missing", json_integer((json_int_t)sp.rows_skipped));
    json_object_set_new(jz, "rows_skipped_nonfinite", json_integer((json_int_t)sp.n_nonfinite));
    if (!st) {
        json_object_set_new(jz, "resolved_wavenumbers", json_integer((json_int_t)sp.n_resolved));
        put_real(jz, "max_abs_log_ratio", sp.max_abs_log_ratio);
        json_object_set_new(jz, "k_max_abs_log_ratio", json_integer((json_int_t)sp.k_max_abs_log));
        /* null: the ratio never drops below 0.9 */
        json_object_set_new(jz, "k_ratio_below_0.9", sp.k_below_090 ? json_integer((json_int_t)sp.k_below_090) : json_null());
        json_t *jr = json_array();
        for (size_t k = 0; k < sp.nk; k++) json_array_append_new(jr, isfinite(sp.ratio[k]) ? json_real(sp.ratio[k]) : json_null());
        json_object_set_new(jz, "energy_ratio", jr);
        met_spectrum_free(&sp);
    }
    json_object_set_new(e, "zonal_spectrum", jz);
    return CLIMZ_OK;
}

/* Compares one variable; appends its entry to out. */
static climz_status eval_var(const cz_dataset *ref, int ri, const cz_dataset *test, int ti, json_t *out) {
    cz_field a = {0}, b = {0};
    uint8_t *miss = NULL;
    float *la = NULL, *lb = NULL;
    climz_status st = CLIMZ_OK;
    const char *name = ref->vars[ri].name;
    CZ_CHECK_GOTO(st, io_load_field(ref, ri, &a), done);
    CZ_CHECK_GOTO(st, io_load_field(test, ti, &b), done);
    if (a.nt != b.nt || a.nz != b.nz || a.ny != b.ny || a.nx != b.nx)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_DIMENSION,
                     "variable '%s': shapes differ (%zu x %zu x %zu x %zu vs %zu x %zu x %zu x %zu)", name,
                     a.nt, a.nz, a.ny, a.nx, b.nt, b.nz, b.ny, b.nx);
    size_t const plane = a.ny * a.nx, n = a.nt * a.nz * plane;
    miss = malloc(n);
    if (!miss) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    size_t mismatch = 0;
    for (size_t i = 0; i < n; i++) {
        mismatch += a.miss[i] != b.miss[i];
        miss[i] = a.miss[i] || b.miss[i];
    }
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string(name));
    json_t *shape = json_pack("[IIII]", (json_int_t)a.nt, (json_int_t)a.nz, (json_int_t)a.ny, (json_int_t)a.nx);
    json_object_set_new(e, "shape", shape);
    json_object_set_new(e, "missing_mask_mismatches", json_integer((json_int_t)mismatch));
    met_field_view const all = {a.values, b.values, miss, a.lat, a.nt * a.nz, a.ny, a.nx};
    met_stats s;
    st = met_compare(&all, &s);
    if (st == CLIMZ_ERR_EMPTY) { /* nothing valid to compare: say so, not an error */
        json_object_set_new(e, "n_valid", json_integer(0));
        json_array_append_new(out, e);
        st = CLIMZ_OK;
        goto done;
    }
    if (st) {
        json_decref(e);
        goto done;
    }
    json_t *sj = stats_json(&s, 1);
    json_object_update(e, sj);
    json_decref(sj);
    put_real(e, "bias", s.mean_error); /* = mean_error, under the name of issue 21 */
    st = fidelity_json(&all, a.lon, e);
    if (st) {
        json_decref(e);
        goto done;
    }
    if (a.nz > 1) { /* per level (channel), over all time steps */
        json_t *levels = json_array();
        la = malloc(a.nt * plane * sizeof *la);
        lb = malloc(a.nt * plane * sizeof *lb);
        uint8_t *lm = malloc(a.nt * plane);
        if (!la || !lb || !lm) {
            free(lm);
            json_decref(levels);
            json_decref(e);
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
        }
        for (size_t z = 0; z < a.nz; z++) {
            for (size_t t = 0; t < a.nt; t++) {
                size_t const off = (t * a.nz + z) * plane;
                memcpy(la + t * plane, a.values + off, plane * sizeof *la);
                memcpy(lb + t * plane, b.values + off, plane * sizeof *lb);
                memcpy(lm + t * plane, miss + off, plane);
            }
            met_field_view const lv = {la, lb, lm, a.lat, a.nt, a.ny, a.nx};
            met_stats ls;
            if (met_compare(&lv, &ls) == CLIMZ_OK) {
                json_t *l = stats_json(&ls, 0);
                json_object_set_new(l, "level", json_integer((json_int_t)z));
                json_array_append_new(levels, l);
            }
        }
        free(lm);
        json_object_set_new(e, "levels", levels);
    }
    json_array_append_new(out, e);
done:
    free(la);
    free(lb);
    free(miss);
    io_field_free(&a);
    io_field_free(&b);
    return st;
}

climz_status climz_eval_json(climz_ctx *ctx, const char *ref_path, const char *test_path,
                             const char *const *vars, char **json) {
    if (!ctx || !json || !ref_path || !test_path) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    *json = NULL;
    cz_dataset *ref = NULL, *test = NULL;
    api_decoded dec = {0};
    json_t *root = json_object(), *jv = json_array();
    climz_status st = CLIMZ_OK;
    int const is_clz = api_is_clz(test_path);

    CZ_CHECK_GOTO(st, io_open(ref_path, &ref), done);
    if (is_clz) {
        CZ_CHECK_GOTO(st, api_decode_clz(ctx, test_path, NULL, &dec), done);
        test = dec.ds;
    } else {
        CZ_CHECK_GOTO(st, io_open(test_path, &test), done);
    }
    for (const char *const *v = vars; v && *v; v++) {
        if (io_find_var(ref, *v) < 0) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_NOT_FOUND, "%s: no variable '%s'", ref_path, *v);
        if (io_find_var(test, *v) < 0) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_NOT_FOUND, "%s: no variable '%s'", test_path, *v);
    }
    size_t f32_points = 0;
    for (int ti = 0; ti < test->nvars; ti++) {
        const cz_var *tv = &test->vars[ti];
        int const ri = io_find_var(ref, tv->name);
        if (!tv->is_grid || ri < 0 || !ref->vars[ri].is_grid) continue;
        if (vars) {
            int listed = 0;
            for (const char *const *v = vars; *v; v++) listed |= strcmp(*v, tv->name) == 0;
            if (!listed) continue;
        }
        CZ_CHECK_GOTO(st, eval_var(ref, ri, test, ti, jv), done);
        f32_points += io_var_count(test, tv);
    }
    if (json_array_size(jv) == 0)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_NOT_FOUND, "no gridded variable is in both %s and %s", ref_path, test_path);
    json_object_set_new(root, "reference", json_string(ref_path));
    json_object_set_new(root, "test", json_string(test_path));
    if (is_clz) {
        json_object_set_new(root, "file_bytes", json_integer((json_int_t)dec.file_size));
        put_real(root, "compression_ratio", met_ratio(f32_points, dec.file_size));
        put_real(root, "bits_per_value", met_bits_per_value(f32_points, dec.file_size));
        put_real(root, "decode_seconds", dec.decode_seconds);
        put_real(root, "decode_MBps", 4e-6 * (double)f32_points / dec.decode_seconds);
        /* context files kept outside the .clz (CA-INR): the ratio if they were shipped too */
        json_int_t ext = 0;
        json_t *h = json_loads(dec.header_json, 0, NULL);
        size_t k, c;
        json_t *e, *jc;
        json_array_foreach(json_object_get(h, "variables"), k, e)
            json_array_foreach(json_object_get(e, "contexts"), c, jc) ext += json_integer_value(json_object_get(jc, "external_bytes"));
        json_decref(h);
        if (ext) put_real(root, "compression_ratio_with_external_contexts", met_ratio(f32_points, dec.file_size + (size_t)ext));
    }
    json_object_set(root, "variables", jv);
    *json = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
    if (!*json) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
done:
    json_decref(jv);
    json_decref(root);
    if (is_clz) api_decoded_free(&dec);
    else io_free(test);
    io_free(ref);
    return api_fail(ctx, st);
}
