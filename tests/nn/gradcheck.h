/*
 * gradcheck.h — finite-difference gradient checks for the nn engine's tests (header-only).
 *
 * Usage: write a loss callback that runs the _f64 forward on the current buffers and
 * returns a scalar, usually L = sum(out * r) with a fixed random r (then dout = r is the
 * upstream gradient for the op's backward). Run the backward once into zeroed gradient
 * buffers, then for every input and parameter tensor call
 *     double e = gc_check(x, dx, n, loss_fn, ctx);
 * which perturbs each element of x by +-h (h = 1e-5 * max(1, |x_i|)), takes the central
 * difference (L(x+h) - L(x-h)) / 2h and returns the largest relative error
 *     |num - ana| / max(|num|, |ana|, GC_FLOOR)
 * over the elements (GC_FLOOR keeps gradients that are ~0 from dividing by ~0). x is
 * restored exactly after each element. The bar: < 1e-6 in double.
 */
#ifndef CLIMZ_TESTS_NN_GRADCHECK_H
#define CLIMZ_TESTS_NN_GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define GC_FLOOR 1e-3

typedef double (*gc_loss_fn)(void *ctx);

/* Largest relative error between the analytic gradient grad (n) and central differences of
 * f with respect to x (n). Prints the worst element to stderr when it is above 1e-7. */
static inline double gc_check(double *x, const double *grad, size_t n, gc_loss_fn f, void *ctx) {
    double worst = 0;
    size_t worst_i = 0;
    double worst_num = 0;
    for (size_t i = 0; i < n; i++) {
        double const x0 = x[i];
        double const h = 1e-5 * (fabs(x0) > 1 ? fabs(x0) : 1);
        x[i] = x0 + h;
        double const lp = f(ctx);
        x[i] = x0 - h;
        double const lm = f(ctx);
        x[i] = x0;
        double const num = (lp - lm) / (2 * h);
        double den = fabs(num) > fabs(grad[i]) ? fabs(num) : fabs(grad[i]);
        if (den < GC_FLOOR) den = GC_FLOOR;
        double const e = fabs(num - grad[i]) / den;
        if (!(e <= worst)) { /* also catches NaN */
            worst = e;
            worst_i = i;
            worst_num = num;
            if (e != e) break;
        }
    }
    if (worst > 1e-7)
        fprintf(stderr, "  gc_check: worst element %zu: numeric %.12g analytic %.12g (rel %.3g)\n",
                worst_i, worst_num, n ? grad[worst_i] : 0.0, worst);
    return worst;
}

/* CHECK that the gradient of tensor `name` passes (< tol) and say how close it was. */
#define GC_EXPECT(name, x, grad, n, f, ctx, tol)                                            \
    do {                                                                                    \
        double const gc_e_ = gc_check((x), (grad), (n), (f), (ctx));                        \
        printf("  grad %-28s max rel err %.3g\n", (name), gc_e_);                           \
        CHECK_MSG(gc_e_ < (tol), "gradient of %s: max rel err %g >= %g", (name), gc_e_,      \
                  (double)(tol));                                                           \
    } while (0)

/* x[i] ~ U(lo, hi) from the test generator */
static inline void gc_fill(double *x, size_t n, double lo, double hi, unsigned long long *st) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * tu_rand_uniform(st);
}

static inline double gc_dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void gc_to_float(float *dst, const double *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

/* Largest |f - d| / max(|d|, floor) between a float and a double result. */
static inline double gc_rel_diff_fd(const float *f, const double *d, size_t n, double floor) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double den = fabs(d[i]);
        if (den < floor) den = floor;
        double const e = fabs((double)f[i] - d[i]) / den;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* Zeroed buffers and seeded random inputs for the op tests (callers free them). */
static inline double *gc_dalloc(size_t n) { return (double *)calloc(n ? n : 1, sizeof(double)); }
static inline float *gc_falloc(size_t n) { return (float *)calloc(n ? n : 1, sizeof(float)); }
static inline double *gc_drand(size_t n, double lo, double hi, unsigned long long *st) {
    double *x = gc_dalloc(n);
    gc_fill(x, n, lo, hi, st);
    return x;
}
static inline float *gc_fcopy(const double *d, size_t n) {
    float *f = gc_falloc(n);
    gc_to_float(f, d, n);
    return f;
}

#endif /* CLIMZ_TESTS_NN_GRADCHECK_H */
