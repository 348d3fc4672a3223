/* residual_target.c — the residual coding at an RMSE target (residual_target.h). */
#include "residual_target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const api_opt_spec api_rmse_target_specs[2] = {
    {"rmse", API_OPT_DOUBLE, offsetof(api_rmse_target_opts, rmse), 1e-300, 1e300, 0, "an RMSE > 0, in the variable's units"},
    {"rel-rmse", API_OPT_DOUBLE, offsetof(api_rmse_target_opts, rel_rmse), 1e-9, 1, 0,
     "an RMSE relative to the range, in (0, 1]"},
};

static int is_target_key(const char *kv) { return !strncmp(kv, "rmse=", 5) || !strncmp(kv, "rel-rmse=", 9); }

int api_has_rmse_target(const char *const *kv) {
    for (; kv && *kv; kv++)
        if (is_target_key(*kv)) return 1;
    return 0;
}

climz_status api_rmse_target(const char *const *kv, const cz_field *f, double *T, double *rel) {
    api_rmse_target_opts o = {0, 0};
    *T = *rel = 0;
    for (; kv && *kv; kv++) { /* the target keys only: the codec checks its other options */
        if (!is_target_key(*kv)) continue;
        const char *one[2] = {*kv, NULL};
        CZ_FORWARD(api_parse_options("the RMSE target", api_rmse_target_specs, 2, one, &o));
    }
    CZ_RETURN_IF(o.rmse > 0 && o.rel_rmse > 0, CLIMZ_ERR_INVALID_ARG,
                 "give one of rmse (--rmse) and rel-rmse (--rel-rmse), not both");
    if (o.rmse > 0) *T = o.rmse;
    else if (o.rel_rmse > 0) {
        double lo, hi;
        size_t nvalid;
        api_field_range(f, &lo, &hi, &nvalid);
        *rel = o.rel_rmse;
        *T = hi > lo ? o.rel_rmse * (hi - lo) : 0; /* one value (or none): no target */
        CZ_RETURN_IF(!isfinite(*T), CLIMZ_ERR_INVALID_ARG,
                     "an infinite value at a valid point (range %g to %g): an RMSE relative to the range "
                     "(--rel-rmse) is not defined; give --rmse", lo, hi);
    }
    return CLIMZ_OK;
}

climz_status api_residual_trial_code(const api_encode_args *a, const float *pred, api_residual_trial *t) {
    const cz_field *f = a->f;
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    *t = (api_residual_trial){.E = a->max_abs_error};
    t->decoded = malloc(n * sizeof *t->decoded);
    t->keys = json_object();
    CZ_RETURN_IF(!t->decoded || !t->keys, CLIMZ_ERR_ALLOC, "out of memory");
    CZ_FORWARD(clz_writer_create(&t->w));
    CZ_FORWARD(api_residual_encode(a, pred, t->w, t->decoded, t->keys));
    t->rmse = api_field_rmse(f, t->decoded);
    const cz_var *v = a->ds ? &a->ds->vars[a->var] : NULL;
    if (v && api_storage_quantum(v) > 0) { /* and as written to integer storage */
        float *y = malloc(n * sizeof *y);
        CZ_RETURN_IF(!y, CLIMZ_ERR_ALLOC, "out of memory");
        memcpy(y, t->decoded, n * sizeof *y);
        api_round_to_storage(v, y, f->miss, n);
        double const r = api_field_rmse(f, y);
        free(y);
        t->rmse = r > t->rmse ? r : t->rmse;
    }
    return CLIMZ_OK;
}

climz_status api_residual_trial_place(const api_residual_trial *t, clz_writer *w, float *decoded, size_t n, json_t *e) {
    for (size_t k = 0; k < clz_writer_nchunks(t->w); k++) {
        clz_chunk ch;
        const uint8_t *data;
        CZ_FORWARD(clz_writer_chunk_at(t->w, k, &ch, &data));
        CZ_FORWARD(clz_writer_add(w, ch.var, ch.t, ch.stream, data, ch.size));
    }
    memcpy(decoded, t->decoded, n * sizeof *decoded);
    return json_object_update(e, t->keys) ? cz_error(CLIMZ_ERR_ALLOC, "out of memory") : CLIMZ_OK;
}

void api_residual_trial_free(api_residual_trial *t) {
    clz_writer_free(t->w);
    free(t->decoded);
    json_decref(t->keys);
    *t = (api_residual_trial){0};
}

/* ---- the search ------------------------------------------------------------------------- */

#define FINE 1.0108892860517005 /* 2^(1/64): bounds closer than this are one */

/* E on the search's grid: whole quanta (q > 0), as it is otherwise */
static double snap(double E, double q) { return q > 0 ? api_bound_in_quanta(E, q) : E; }

/* a bound that met (good) and one that missed (bad) with nothing to try between them */
static int adjacent(double good, double bad, double q) {
    return bad <= good * FINE || (q > 0 && bad - good <= q * 1.5);
}

/* a bound strictly between good and bad (not adjacent): their geometric mean on the grid */
static double between(double good, double bad, double q) {
    double m = snap(good > 0 ? sqrt(good * bad) : bad / 2, q);
    if (q > 0 && m <= good) m = good + q;
    if (q > 0 && m >= bad) m = bad - q;
    return m;
}

/* the next bound to try after a trial at E with RMSE r: where the RMSE reaches T on the line
 * through the two bracketing trials in log-log terms (the proportional line through the last
 * trial while one side is unknown), strictly between good and bad on the grid; lo, hi: the
 * sure bound and the limit */
static double predict(double E, double r, double T, double good, double rg, double bad, double rb, double q, double lo,
                      double hi) {
    double p;
    if (good > 0 && bad < INFINITY && rg > 0 && rb > rg)
        p = exp(log(good) + (log(T) - log(rg)) * (log(bad) - log(good)) / (log(rb) - log(rg)));
    else p = r > 0 ? E * T / r : E * 4; /* RMSE ~ E; none at all: far up */
    if (bad == INFINITY) p = fmin(fmax(p, good * FINE), fmin(good * 4, hi)); /* only up */
    if (good < 0) p = fmax(fmin(p, bad / FINE), fmax(bad / 4, lo));         /* only down */
    p = snap(p, q);
    if (good >= 0 && p <= good) p = q > 0 ? good + q : good * FINE;
    if (bad < INFINITY && p >= bad) p = q > 0 ? bad - q : bad / FINE;
    if (good >= 0 && p <= good) p = between(good, bad, q); /* a grid too coarse for the line: halve */
    return p;
}

climz_status api_residual_search(const api_encode_args *a, const float *pred, double cap, api_residual_trial *best,
                                 api_bound_report *rep) {
    const cz_var *v = a->ds ? &a->ds->vars[a->var] : NULL;
    double const T = rep->target, q = v ? api_storage_quantum(v) : 0;
    *best = (api_residual_trial){0};
    rep->rejected = rep->rejected_rmse = 0;
    rep->trials = 0;
    CZ_RETURN_IF(!(T > 0) || !(cap > 0), CLIMZ_ERR_INVALID_ARG, "an RMSE target %g under a bound %g: nothing to search",
                 T, cap);
    /* sure: within T at every point, so within T in RMSE; limit: the largest bound worth a try */
    double const sure = snap(fmin(T, cap), q);
    double const sp = api_field_spread(a->f), first = T * sqrt(3.0);
    CZ_RETURN_IF(!isfinite(sp), CLIMZ_ERR_INVALID_ARG,
                 "an infinite value at a valid point: no bound gives an RMSE target; give --max-abs-error");
    double const limit = snap(fmin(cap, fmax(sp, first)), q);
    double E = snap(fmin(first, limit), q), good = -1, bad = INFINITY, rg = 0;
    E = E < sure ? sure : E;
    int side = 0, same = 0; /* the last trial's side (1 met, -1 missed); trials in a row on it */
    for (;;) {
        api_encode_args t_args = *a;
        t_args.max_abs_error = E;
        api_residual_trial t;
        climz_status const st = api_residual_trial_code(&t_args, pred, &t);
        rep->trials++;
        if (st) {
            api_residual_trial_free(&t);
            api_residual_trial_free(best);
            return st;
        }
        double const r = t.rmse;
        int const s = r <= T ? 1 : -1;
        same = s == side ? same + 1 : 1;
        side = s;
        if (s > 0) {
            api_residual_trial_free(best);
            *best = t;
            good = E, rg = r;
        } else {
            bad = E;
            rep->rejected = E;
            rep->rejected_rmse = r;
            api_residual_trial_free(&t);
        }
        if (bad == INFINITY && good >= limit) break; /* the limit meets it */
        CZ_RETURN_IF(good < 0 && bad <= sure, CLIMZ_ERR_BOUND,
                     "the residual coding at bound %g has RMSE %g, above the target %g it must meet", bad, r, T);
        if (good >= 0 && bad < INFINITY && adjacent(good, bad, q)) break;
        /* the line, except after two trials in a row on one side of a bracket: halve it */
        E = good >= 0 && bad < INFINITY && same >= 2
                ? between(good, bad, q)
                : predict(E, r, T, good, rg, bad, rep->rejected_rmse, q, sure, limit);
    }
    return CLIMZ_OK;
}

void api_bound_report_json(const api_bound_report *rep, json_t *e) {
    json_object_set_new(e, "rmse_target", json_real(rep->target));
    if (rep->rel_target > 0) json_object_set_new(e, "rel_rmse_target", json_real(rep->rel_target));
    json_object_set_new(e, "bound_trials", json_integer(rep->trials));
    if (rep->rejected > 0) {
        json_object_set_new(e, "bound_rejected", json_real(rep->rejected));
        json_object_set_new(e, "bound_rejected_rmse", json_real(rep->rejected_rmse));
    }
}
