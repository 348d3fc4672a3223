/*
 * forecaster.h — the small weather forecaster of the downstream experiment (issue 21): it
 * learns to predict the next hourly field of one variable from the last two, and is rolled
 * out autoregressively. Built on the nn engine (src/nn): a per-pixel MLP over local patches.
 *
 * READ ME FIRST
 *  - The model: for each grid point, the features are the (2r+1)^2 normalised values of the
 *    latest field around it, the (2r+1)^2 normalised one-hour changes (latest minus the one
 *    before) around it (edge points repeated at the borders), the hour of day of the latest
 *    field as sin/cos, and the point's position in the grid in [-1, 1] (y, x). Two hidden
 *    layers of GELU, one output: the change to the next hour in units of the training set's
 *    hourly-change standard deviation. The next field is the latest plus that change.
 *  - Loss: the latitude-weighted MSE (cos latitude) of the normalised change, over whole
 *    grids; each AdamW update takes `batch` random time steps of the training series. The
 *    two input fields get independent Gaussian noise (input_noise) and the target is the
 *    change from the noisy latest field to the true next one: without it, a model trained
 *    one step ahead drifts off in a 24 h roll-out (50 K RMSE at 24 h in one of our runs).
 *  - Everything the model knows about the data (mean, standard deviation, change standard
 *    deviation) comes from the training series it is given, never from the test data, so a
 *    forecaster trained on decoded data never sees the original.
 *  - Reproducible on one machine: the seed fixes the initial weights (nn_params streams) and
 *    the order of the training steps; one thread.
 */
#ifndef BENCH_FORECASTER_H
#define BENCH_FORECASTER_H

#include <stddef.h>
#include <stdint.h>

#include "nn/optim.h"
#include "nn/params.h"

typedef struct fc_config {
    int radius;       /* patch half-width r: (2r+1)^2 points per input field */
    int hidden;       /* width of both hidden layers */
    int steps;        /* AdamW updates */
    int batch;        /* whole grids (time steps) per update */
    double lr, lr_min, weight_decay;
    int warmup;
    double input_noise; /* std of the Gaussian noise added to the training inputs, in units
                           of the hourly-change std: teaches the model to damp the errors
                           of its own roll-out (0: none) */
} fc_config;

/* The experiment's setting: r 2, width 48, 2000 updates of 8 grids, lr 2e-3 -> 1e-4 cosine
 * after 50 warm-up steps, weight decay 1e-4, input noise 0.3. */
fc_config fc_config_default(void);

/* A series of hourly fields, (nt, ny, nx) C order, rows north to south. hour0 is the hour of
 * day (UTC) of step 0. The caller owns x. */
typedef struct fc_series {
    const float *x;
    size_t nt, ny, nx;
    int hour0;
} fc_series;

typedef struct fc_model {
    fc_config cfg;
    size_t ny, nx, nfeat;
    double mean, std, dstd; /* of the training series: values and hourly changes */
    nn_params p;
    size_t w1, b1, w2, b2, w3, b3; /* tensor indices in p */
} fc_model;

/*! fc_train() : builds a model for series of ny x nx and trains it on s (nt >= 3) with seed.
 *  row_weight (ny) are the loss's row weights (cos latitude), NULL for all 1. loss_first and
 *  loss_last (may be NULL) receive the mean training loss of the first and last 10 % of the
 *  updates. On failure the model is freed. @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG (bad
 *  configuration or series), CLIMZ_ERR_ALLOC. */
climz_status fc_train(fc_model *m, const fc_config *cfg, const fc_series *s,
                      const float *row_weight, uint64_t seed, double *loss_first,
                      double *loss_last);
void fc_free(fc_model *m); /* NULL allowed */

/*! fc_rollout_rmse() : forecasts from every start step i in [1, nt - 1 - max lead] of the
 *  test series (initial condition: fields i-1 and i of test), autoregressively, and gives
 *  the latitude-weighted RMSE against test at each of the nlead lead times (hours, each in
 *  1..nt-2): rmse[k] = sqrt(sum over starts and points of w_y e^2 / sum of w_y). model NULL
 *  gives persistence (the forecast is field i). @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG
 *  (grid mismatch, too short a series, bad leads), CLIMZ_ERR_ALLOC. */
climz_status fc_rollout_rmse(const fc_model *m, const fc_series *test, const float *row_weight,
                             const int *leads, size_t nlead, double *rmse);

#endif /* BENCH_FORECASTER_H */
