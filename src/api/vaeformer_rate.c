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

/* the "no level meets the target" error, naming the level that came nearest */
static climz_status unreachable(const rate_probe *pp, int rmse, double target, double raw_bytes, const char *what,
                               int far) {
    int const i = far - VAE_STEP_MIN;
    if (rmse)
        return cz_error(CLIMZ_ERR_INVALID_ARG,
                        "%s: no rate level reaches RMSE %g: the finest (step %g) gives %g; ask for more, or "
                        "add --max-abs-error for a bound",
                        what, target, (double)vae_step_of_level(far), pp->rmse[i]);
    return cz_error(CLIMZ_ERR_INVALID_ARG, "%s: no rate level reaches ratio %g: the coarsest (step %g) gives %.1f",
                    what, target, (double)vae_step_of_level(far),
                    raw_bytes / (double)(pp->bytes[i] ? pp->bytes[i] : 1));
}

climz_status vf_rate_search(vf_rate_kind kind, double target, double raw_bytes, int lo, int hi,
                            vf_rate_trial_fn trial, void *user, const char *what, int *level) {
    rate_probe local = {.trial = trial, .user = user}, *const pp = &local;
    double const goal = kind == VF_RATE_RMSE ? target : raw_bytes / target;
    /* RMSE: the coarsest level that meets it (meets() holds below some level); ratio: the
     * finest that meets it (meets() holds above some level). "Coarser" and "finer" below are
     * in the direction of the answer: away from it, meets() fails. */
    int const rmse = kind == VF_RATE_RMSE;
    lo = lo < VAE_STEP_MIN ? VAE_STEP_MIN : lo > VAE_STEP_MAX ? VAE_STEP_MAX : lo;
    hi = hi < lo ? lo : hi > VAE_STEP_MAX ? VAE_STEP_MAX : hi;
    int const start = lo > 0 ? lo : hi < 0 ? hi : 0;
    /* the edges of the preferred range and of the codec's, on the side where meets() fails
     * (out) and where it holds (in) */
    int const out_edge = rmse ? hi : lo, out_limit = rmse ? VAE_STEP_MAX : VAE_STEP_MIN;
    int const in_edge = rmse ? lo : hi, in_limit = rmse ? VAE_STEP_MIN : VAE_STEP_MAX;
    int const past = rmse ? 1 : -1; /* one level beyond the out side */
    CZ_FORWARD(probe(pp, start));
    int good, bad; /* meets(good), !meets(bad) (bad may be one past the range: never probed) */
    if (meets(pp, kind, goal, start)) {
        good = start;
        bad = out_limit + past;
        if (out_edge != out_limit) { /* the range's edge: the answer lies before it or beyond */
            if (out_edge != start) CZ_FORWARD(probe(pp, out_edge));
            if (meets(pp, kind, goal, out_edge)) good = out_edge;
            else bad = out_edge;
        }
    } else {
        int far = in_edge;
        if (far != start) CZ_FORWARD(probe(pp, far));
        if ((far == start || !meets(pp, kind, goal, far)) && far != in_limit) {
            far = in_limit; /* beyond the range the model was trained for */
            CZ_FORWARD(probe(pp, far));
        }
        if (!meets(pp, kind, goal, far)) return unreachable(pp, rmse, target, raw_bytes, what, far);
        good = far;
        bad = far == in_limit && in_edge != start && in_edge != in_limit ? in_edge : start;
    }
    while (abs(good - bad) > 1) {
        int const mid = (good + bad) / 2;
        CZ_FORWARD(probe(pp, mid));
        if (meets(pp, kind, goal, mid)) good = mid;
        else bad = mid;
    }
    *level = good;
    if (!rmse && bad >= VAE_STEP_MIN && bad <= VAE_STEP_MAX && pp->done[bad - VAE_STEP_MIN]) {
        /* the ratio: of the two levels around the target, the nearer (log terms) */
        double const rg = raw_bytes / (double)pp->bytes[good - VAE_STEP_MIN];
        double const rb = raw_bytes / (double)(pp->bytes[bad - VAE_STEP_MIN] ? pp->bytes[bad - VAE_STEP_MIN] : 1);
        if (fabs(log(rb / target)) < fabs(log(rg / target))) *level = bad;
    }
    return CLIMZ_OK;
}
