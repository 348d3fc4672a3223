/* testutil.h — tiny assertion helpers for climz test programs.
 * A test program calls CHECK*() as often as it likes and ends with `return tu_finish();`,
 * which prints a summary and returns non-zero if any check failed. tu_skip() exits 77,
 * which ctest reports as skipped (used when optional data in ../shared/data is absent). */
#ifndef CLIMZ_TESTUTIL_H
#define CLIMZ_TESTUTIL_H

#include "climz.h"

#include <math.h>
#include <stdio.h>

extern int tu_checks, tu_failures;

void tu_fail(const char *file, int line, const char *fmt, ...);
int tu_finish(void);
void tu_skip(const char *why);
/* path of a bundled sample (data/NAME) or a shared one (../shared/data/NAME); the
 * returned string is static storage overwritten by the next call. */
const char *tu_data(const char *name);
const char *tu_shared(const char *name); /* NULL when ../shared/data/NAME is absent */
/* A fresh empty directory under the build tree for a test's outputs. */
const char *tu_tmpdir(const char *test_name);
/* deterministic pseudo-random numbers for tests */
unsigned long long tu_rand_u64(unsigned long long *state);
double tu_rand_uniform(unsigned long long *state); /* [0,1) */
double tu_rand_normal(unsigned long long *state);

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        tu_checks++;                                                                        \
        if (!(cond)) tu_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                       \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                \
    do {                                                                                    \
        tu_checks++;                                                                        \
        if (!(cond)) tu_fail(__FILE__, __LINE__, __VA_ARGS__);                              \
    } while (0)

#define CHECK_OK(expr)                                                                      \
    do {                                                                                    \
        climz_status const tu_s_ = (expr);                                                  \
        tu_checks++;                                                                        \
        if (tu_s_ != CLIMZ_OK)                                                              \
            tu_fail(__FILE__, __LINE__, "%s returned %s", #expr, climz_status_name(tu_s_)); \
    } while (0)

#define CHECK_STATUS(expr, want)                                                            \
    do {                                                                                    \
        climz_status const tu_s_ = (expr);                                                  \
        tu_checks++;                                                                        \
        if (tu_s_ != (want))                                                                \
            tu_fail(__FILE__, __LINE__, "%s returned %s, expected %s", #expr,               \
                    climz_status_name(tu_s_), climz_status_name(want));                     \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                               \
    do {                                                                                    \
        double const tu_a_ = (a), tu_b_ = (b);                                              \
        tu_checks++;                                                                        \
        if (!(fabs(tu_a_ - tu_b_) <= (tol)))                                                \
            tu_fail(__FILE__, __LINE__, "%s = %.9g, expected %.9g (tol %g)", #a, tu_a_,     \
                    tu_b_, (double)(tol));                                                  \
    } while (0)

#endif
