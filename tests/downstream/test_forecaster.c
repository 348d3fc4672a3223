/*
 * test_forecaster.c — the forecaster of the downstream experiment (bench/downstream) on a
 * tiny synthetic series: a wave moving east over a 9 x 12 grid with a diurnal cycle. Its
 * training loss falls by more than half in 200 updates, the same seed gives the same run,
 * the trained 1 h forecast beats persistence, and bad arguments are refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecaster.h"
#include "nn/nn.h"
#include "testutil.h"

enum { NT = 48, NY = 9, NX = 12 };

static void make_series(float *x) {
    for (int t = 0; t < NT; t++)
        for (int y = 0; y < NY; y++)
            for (int i = 0; i < NX; i++) {
                double const phase = 2.0 * M_PI * (i - 0.7 * t) / NX;
                x[(t * NY + y) * NX + i] =
                    (float)(280.0 + 4.0 * sin(phase) * cos(0.2 * y) + 2.0 * sin(2.0 * M_PI * t / 24.0));
            }
}

int main(void) {
    nn_set_threads(1);
    float *x = malloc(sizeof(float) * NT * NY * NX);
    CHECK(x != NULL);
    if (!x) return tu_finish();
    make_series(x);
    float w[NY];
    for (int y = 0; y < NY; y++) w[y] = (float)cos((50.0 + y) * M_PI / 180.0);

    fc_config cfg = fc_config_default();
    cfg.radius = 1, cfg.hidden = 16, cfg.steps = 200, cfg.batch = 4, cfg.warmup = 10;
    fc_series const train = {x, 36, NY, NX, 0};
    fc_series const test = {x + 34 * NY * NX, NT - 34, NY, NX, 10};

    fc_model m;
    double first = 0.0, last = 0.0;
    CHECK_OK(fc_train(&m, &cfg, &train, w, 7, &first, &last));
    CHECK_MSG(isfinite(first) && isfinite(last) && last < 0.5 * first,
              "training loss %.4g -> %.4g: does not fall by half", first, last);

    /* the same seed, the same run */
    fc_model m2;
    double first2 = 0.0, last2 = 0.0;
    CHECK_OK(fc_train(&m2, &cfg, &train, w, 7, &first2, &last2));
    CHECK(first2 == first && last2 == last);
    fc_free(&m2);

    int const leads[] = {1, 3, 6};
    double model[3], persist[3];
    CHECK_OK(fc_rollout_rmse(&m, &test, w, leads, 3, model));
    CHECK_OK(fc_rollout_rmse(NULL, &test, w, leads, 3, persist));
    for (int k = 0; k < 3; k++) CHECK(isfinite(model[k]) && persist[k] > 0.0);
    CHECK_MSG(model[0] < persist[0], "1 h forecast %.4g not better than persistence %.4g",
              model[0], persist[0]);

    /* bad arguments */
    int const too_long[] = {13};
    CHECK_STATUS(fc_rollout_rmse(&m, &test, w, too_long, 1, model), CLIMZ_ERR_INVALID_ARG);
    fc_series const other = {x, NT, NY - 1, NX, 0};
    CHECK_STATUS(fc_rollout_rmse(&m, &other, w, leads, 1, model), CLIMZ_ERR_INVALID_ARG);
    fc_free(&m);
    fc_series const short_series = {x, 2, NY, NX, 0};
    CHECK_STATUS(fc_train(&m, &cfg, &short_series, w, 1, NULL, NULL), CLIMZ_ERR_INVALID_ARG);
    float *flat = calloc(NT * NY * NX, sizeof(float));
    fc_series const constant = {flat, NT, NY, NX, 0};
    CHECK_STATUS(fc_train(&m, &cfg, &constant, w, 1, NULL, NULL), CLIMZ_ERR_INVALID_ARG);
    free(flat);
    free(x);
    return tu_finish();
}
