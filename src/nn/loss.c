/* loss.c — losses and rate terms (nn/loss.h): the template loss_impl.inc in float and
 * double, and the scalar discretised-Gaussian pmf. */
#include "nn/loss.h"

#include <math.h>
#include <stdint.h>

/* Scalar reductions: a fixed number of blocks, each summed in order, then the blocks in
 * order, so a loss value is the same for any thread count. */
#define NN_NBLK ((size_t)64)

static double nn_sum_blocks_(const double *part) {
    double s = 0;
    for (size_t k = 0; k < NN_NBLK; k++) s += part[k];
    return s;
}

/* Phi(x) = erfc(-x / sqrt 2) / 2. Evaluated at -|u| so both terms are lower tails: their
 * difference keeps its relative accuracy far from the mean (CompressAI does the same). */
double nn_gauss_pmf(double u, double scale) {
    double const a = fabs(u), k = -0.70710678118654752440 / scale;
    return 0.5 * erfc(k * (0.5 - a)) - 0.5 * erfc(k * (-0.5 - a));
}

#define NN_PRECISION 32
#include "nn/nn_tmpl.h"
#include "loss_impl.inc"
#undef NN_PRECISION

#define NN_PRECISION 64
#include "nn/nn_tmpl.h"
#include "loss_impl.inc"
#undef NN_PRECISION
