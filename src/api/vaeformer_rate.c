/* vaeformer_rate.c — the VAEformer's rate control (vaeformer_rate.h). */
#include "vaeformer_rate.h"
#include "vae/vae_codec.h"

#include <math.h>
#include <stdlib.h>

#define NLEVELS (VAE_STEP_MAX - VAE_STEP_MIN + 1)

typedef struct rate_probe {
    vf_rate_trial_fn trial;
    void *user;
    int done[NLEVELS];
    size_t bytes[NLEVELS];
    double rmse[NLEVELS];
} rate_probe;

/* level k encoded once: its bytes and RMSE */
static climz_status probe(rate_probe *p, int k) {
    int const i = k - VAE_STEP_MIN;
    if (p->done[i]) return CLIMZ_OK;
    CZ_FORWARD(p->trial(p->user, k, &p->bytes[i], &p->rmse[i]));
    p->done[i] = 1;
    return CLIMZ_OK;
}

/* ok(k): level k meets the target (RMSE <= it, or bytes <= it) */
static int meets(const rate_probe *p, vf_rate_kind kind, double target, int k) {
    int const i = k - VAE_STEP_MIN;
    return kind == VF_RATE_RMSE ? p->rmse[i] <= target : (double)p->bytes[i] <= target;
}

climz_status vf_rate_search(vf_rate_kind kind, double target, double raw_bytes, vf_rate_trial_fn trial, void *user,
                            const char *what, int *level) {
    rate_probe local = {.trial = trial, .user = user}, *const pp = &local;
    double const goal = kind == VF_RATE_RMSE ? target : raw_bytes / target;
    /* RMSE: the coarsest level that meets it (meets() holds below some level); ratio: the
     * finest that meets it (meets() holds above some level) */
    int const rmse = kind == VF_RATE_RMSE;
    CZ_FORWARD(probe(pp, 0));
    int good, bad; /* meets(good), !meets(bad) (bad may be one past the range: never probed) */
    if (meets(pp, kind, goal, 0)) {
        good = 0;
        bad = rmse ? VAE_STEP_MAX + 1 : VAE_STEP_MIN - 1;
    } else {
        int const far = rmse ? VAE_STEP_MIN : VAE_STEP_MAX;
        CZ_FORWARD(probe(pp, far));
        if (!meets(pp, kind, goal, far)) {
            int const i = far - VAE_STEP_MIN;
            if (rmse)
                return cz_error(CLIMZ_ERR_INVALID_ARG,
                                "%s: no rate level reaches RMSE %g: the finest (step %g) gives %g; ask for more, or "
                                "add --max-abs-error for a bound",
                                what, target, (double)vae_step_of_level(far), pp->rmse[i]);
            return cz_error(CLIMZ_ERR_INVALID_ARG,
                            "%s: no rate level reaches ratio %g: the coarsest (step %g) gives %.1f", what, target,
                            (double)vae_step_of_level(far), raw_bytes / (double)(pp->bytes[i] ? pp->bytes[i] : 1));
        }
        good = far;
        bad = 0;
    }
    while (abs(good - bad) > 1) {
        int const mid = (good + bad) / 2;
        CZ_FORWARD(probe(pp, mid));
        if (meets(pp, kind, goal, mid)) good = mid;
        else bad = mid;
    }
    *level = good;
    if (!rmse && bad >= VAE_STEP_MIN && pp->done[bad - VAE_STEP_MIN]) {
        /* the ratio: of the two levels around the target, the nearer (log terms) */
        double const rg = raw_bytes / (double)pp->bytes[good - VAE_STEP_MIN];
        double const rb = raw_bytes / (double)(pp->bytes[bad - VAE_STEP_MIN] ? pp->bytes[bad - VAE_STEP_MIN] : 1);
        if (fabs(log(rb / target)) < fabs(log(rg / target))) *level = bad;
    }
    return CLIMZ_OK;
}
