/*
 * vaeformer_rate.h — the VAEformer's rate control: the rate level (vae_codec.h, "rate
 * levels") that meets a target RMSE or compression ratio, searched over the encoder's own
 * trial encodings.
 *
 * READ ME FIRST
 *  - RMSE and bytes are taken as monotone in the level (a coarser step: more error, fewer
 *    bytes); the search is a bisection that starts at level 0 (the model's own operating
 *    point; the nearest level of [lo, hi] when 0 is outside) and encodes each level at most
 *    once: about 7 trials. [lo, hi] is the range a multi-rate model was trained on (its
 *    "vae.rate_levels"): the bisection stays in it when the target lies in it, and goes on to
 *    the codec's whole range [VAE_STEP_MIN, VAE_STEP_MAX] (one more trial) when it does not;
 *    lo = VAE_STEP_MIN, hi = VAE_STEP_MAX is the plain search.
 *  - RMSE target T: the coarsest level whose RMSE is <= T (so the RMSE lands in (T / ~1.1, T]
 *    where the error follows the step); the finest level's RMSE above T is an error.
 *  - Ratio target R (bytes B = raw / R): of the finest level with bytes <= B and the one finer,
 *    the one whose ratio is nearer R in log terms (a level changes the size by a few
 *    percent); the coarsest level's ratio below R is an error.
 */
#ifndef CZ_API_VAEFORMER_RATE_H
#define CZ_API_VAEFORMER_RATE_H

#include "common/cz_common.h"

#include <stddef.h>

typedef enum vf_rate_kind { VF_RATE_RMSE, VF_RATE_RATIO } vf_rate_kind;

/* One trial encoding at level k: its latent bytes and the RMSE of its reconstruction. */
typedef climz_status (*vf_rate_trial_fn)(void *user, int level, size_t *bytes, double *rmse);

/*! vf_rate_search() : the level (in *level) that meets target (an RMSE in data units, or a
 *  ratio of raw_bytes to the latent bytes), by calls to trial, searching [lo, hi] first
 *  (READ ME FIRST). what prefixes the
 *  messages. @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG (a target no level meets, the message
 *  says which level comes nearest) or trial's error. */
climz_status vf_rate_search(vf_rate_kind kind, double target, double raw_bytes, int lo, int hi,
                            vf_rate_trial_fn trial, void *user, const char *what, int *level);

#endif
