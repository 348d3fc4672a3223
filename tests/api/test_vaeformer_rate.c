/* test_vaeformer_rate.c — the VAEformer's rate search (src/api/vaeformer_rate.c) on synthetic
 * monotone trials: for RMSE and ratio targets across and beyond the codec's levels, with the
 * whole range and with the range a multi-rate model was trained on, the level found is the
 * one an exhaustive scan picks; a target inside the trained range probes no level outside it;
 * an unreachable target is an error naming the nearest level. */
#include "testutil.h"
#include "api/vaeformer_rate.h"
#include "vae/vae_codec.h"

#include <math.h>
#include <string.h>

#define NL (VAE_STEP_MAX - VAE_STEP_MIN + 1)
#define RAW 4.0e6

typedef struct fake {
    int probed[NL];
    int n, lo_seen, hi_seen;
} fake;

/* RMSE grows and bytes shrink with the step, with a floor and a kink as a real model has */
static double f_rmse(int k) { return 0.4 + pow(2.0, k / 8.0) * (k > 10 ? 1.3 : 1.0); }
static size_t f_bytes(int k) { return (size_t)(2.0e5 / (1.0 + pow(2.0, k / 6.0)) + 300); }

static climz_status trial(void *user, int level, size_t *bytes, double *rmse) {
    fake *f = user;
    f->probed[level - VAE_STEP_MIN]++;
    f->n++;
    f->lo_seen = level < f->lo_seen ? level : f->lo_seen;
    f->hi_seen = level > f->hi_seen ? level : f->hi_seen;
    *bytes = f_bytes(level);
    *rmse = f_rmse(level);
    return CLIMZ_OK;
}

/* the exhaustive answer, or VAE_STEP_MIN - 1 when no level meets the target; *edge: the
 * coarsest level meeting an RMSE, the finest meeting a ratio (before the nearer of two) */
static int scan(vf_rate_kind kind, double target, int *edge) {
    if (kind == VF_RATE_RMSE) {
        for (int k = VAE_STEP_MAX; k >= VAE_STEP_MIN; k--)
            if (f_rmse(k) <= target) return *edge = k;
        return VAE_STEP_MIN - 1;
    }
    for (int k = VAE_STEP_MIN; k <= VAE_STEP_MAX; k++)
        if ((double)f_bytes(k) <= RAW / target) {
            *edge = k;
            if (k > VAE_STEP_MIN) { /* the nearer of it and the finer one, in log terms */
                double const rg = RAW / (double)f_bytes(k), rb = RAW / (double)f_bytes(k - 1);
                if (fabs(log(rb / target)) < fabs(log(rg / target))) return k - 1;
            }
            return k;
        }
    return VAE_STEP_MIN - 1;
}

int main(void) {
    static const int ranges[][2] = {{VAE_STEP_MIN, VAE_STEP_MAX}, {-8, 24}, {0, 16}, {8, 24}, {-12, -4}, {5, 5}};
    int cases = 0, worst_trials = 0;
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        int const lo = ranges[r][0], hi = ranges[r][1];
        for (int kind = 0; kind < 2; kind++)
            for (int i = 0; i <= 80; i++) {
                /* RMSE 0.3 .. 60 (below the floor, through every level, past the coarsest);
                 * ratio 15 .. 15000 */
                double const target = kind == VF_RATE_RMSE ? 0.3 * pow(200.0, i / 80.0) : 15.0 * pow(1000.0, i / 80.0);
                fake f;
                memset(&f, 0, sizeof f);
                f.lo_seen = VAE_STEP_MAX + 1, f.hi_seen = VAE_STEP_MIN - 1;
                int level = -999;
                climz_status const st =
                    vf_rate_search((vf_rate_kind)kind, target, RAW, lo, hi, trial, &f, "test", &level);
                int edge = 0;
                int const want = scan((vf_rate_kind)kind, target, &edge);
                cases++;
                if (want < VAE_STEP_MIN) {
                    CHECK_MSG(st == CLIMZ_ERR_INVALID_ARG, "range %d:%d kind %d target %g: no error", lo, hi, kind, target);
                    CHECK(strstr(cz_error_message(), "no rate level reaches") != NULL);
                    cz_error_clear();
                    continue;
                }
                CHECK_MSG(st == CLIMZ_OK && level == want, "range %d:%d kind %d target %g: level %d, scan %d", lo, hi,
                          kind, target, level, want);
                for (int k = 0; k < NL; k++) CHECK(f.probed[k] <= 1); /* each level at most once */
                worst_trials = f.n > worst_trials ? f.n : worst_trials;
                /* the answer inside the trained range: nothing outside it was encoded */
                int const beyond = kind == VF_RATE_RMSE ? edge + 1 : edge - 1; /* the neighbour the search must see */
                if (edge >= lo && edge <= hi && beyond >= lo && beyond <= hi)
                    CHECK_MSG(f.lo_seen >= lo && f.hi_seen <= hi, "range %d:%d target %g: probed %d..%d", lo, hi,
                              target, f.lo_seen, f.hi_seen);
            }
    }
    printf("%d targets, at most %d trial encodings\n", cases, worst_trials);
    CHECK(worst_trials <= 9);
    return tu_finish();
}
