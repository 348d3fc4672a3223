/*
 * residual_target.h — the error-bounded residual coding (codec_residual.c) at an RMSE target:
 * the largest error bound E whose coding has an RMSE within the target, found on trial
 * encodings. Used by the driver for `--codec residual --rmse X | --rel-rmse r` (compress.c)
 * and by the VAEformer for its residual stage below the latent's distortion floor
 * (codec_vaeformer.c).
 *
 * READ ME FIRST
 *  - Target: options rmse=X (data units) or rel-rmse=r (X = r * the range of the variable's
 *    valid values), the last of each given; not both. The RMSE counted is over valid points,
 *    of what the decoder returns and, for integer-valued storage, also of those values as
 *    written (rounded to the storage's quanta): the larger of the two meets the target.
 *  - Bounds tried: whole storage quanta where the variable has them (storage.c), any positive
 *    number otherwise; never above cap (the user's --max-abs-error: the smaller bound wins).
 *    Every point of a coding at E is within E, so E = T meets T without a trial; the search
 *    starts at E = T * sqrt(3) (the RMSE of an error uniform in [-E, E]), steps up or down by
 *    2^(1/4), 2^(1/2), 2^1 ... until the target is bracketed, then bisects (geometrically)
 *    until the bound that missed is within 2^(1/64) (1.1 %) or one quantum of the one that
 *    met: about 6 trials. The RMSE is taken as monotone in E between the trials (it is on
 *    smooth data; where it is not, the bound found still meets the target: it was measured).
 *  - The trial that met the target at the bound chosen is kept, so the caller places its
 *    chunks instead of coding again.
 */
#ifndef CZ_API_RESIDUAL_TARGET_H
#define CZ_API_RESIDUAL_TARGET_H

#include "codec.h"
#include "codec_options.h"

/* One residual coding of a field into a scratch writer: what it adds to the file and, when
 * it is chosen, the very chunks, keys and decoded values that go into the file. */
typedef struct api_residual_trial {
    clz_writer *w;
    float *decoded;
    json_t *keys; /* the codec's keys (this slice's when coded in slices) */
    double E;     /* its bound */
    double rmse;  /* over valid points (READ ME FIRST) */
} api_residual_trial;

/* What a bound search did, for the header entry. */
typedef struct api_bound_report {
    double target;        /* T, data units */
    double rel_target;    /* r when the target was relative, else 0 */
    double rejected;      /* the smallest bound tried that missed T (0: none, E is the cap or the range) */
    double rejected_rmse; /* its RMSE */
    int trials;           /* trial encodings */
} api_bound_report;

/*! api_rmse_target() : the RMSE target of the codec options kv in *T (data units; 0: none,
 *  or a relative target on a field of one value) and *rel (r, or 0); f gives the range.
 *  @return CLIMZ_OK or CLIMZ_ERR_INVALID_ARG (a bad value, or both keys given). */
climz_status api_rmse_target(const char *const *kv, const cz_field *f, double *T, double *rel);

/* 1 when kv holds an RMSE target key (rmse= or rel-rmse=), whatever its value. */
int api_has_rmse_target(const char *const *kv);

/* The target keys as api_parse_options() sets them from api_rmse_target_specs, for a codec
 * that takes them (codec_options.h). */
typedef struct api_rmse_target_opts {
    double rmse, rel_rmse;
} api_rmse_target_opts;
extern const api_opt_spec api_rmse_target_specs[2];

/*! api_residual_trial_code() : codes a->f with the residual stage at bound a->max_abs_error on
 *  top of pred (NULL: the residual codec alone) into t (freed with api_residual_trial_free;
 *  *t zeroed first). */
climz_status api_residual_trial_code(const api_encode_args *a, const float *pred, api_residual_trial *t);

/* Appends the trial's chunks to w, its decoded values (n) to decoded and its keys to e. */
climz_status api_residual_trial_place(const api_residual_trial *t, clz_writer *w, float *decoded, size_t n, json_t *e);

void api_residual_trial_free(api_residual_trial *t);

/*! api_residual_search() : the largest bound <= cap (INFINITY: none) whose coding of a->f (on
 *  top of pred, or alone) has an RMSE <= rep->target (READ ME FIRST; a->max_abs_error is not
 *  read); best gets that coding (free with api_residual_trial_free), rep the rest. */
climz_status api_residual_search(const api_encode_args *a, const float *pred, double cap, api_residual_trial *best,
                                 api_bound_report *rep);

/* Adds the report's keys to a header entry: rmse_target[, rel_rmse_target], bound_trials[,
 * bound_rejected, bound_rejected_rmse]. */
void api_bound_report_json(const api_bound_report *rep, json_t *e);

#endif
