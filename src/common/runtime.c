/* runtime.c — thread count and clock helpers. */
#include "cz_common.h"

#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int cz_num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void cz_set_num_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
#else
    (void)n;
#endif
}

static double clock_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cz_now(void) { return clock_seconds(CLOCK_MONOTONIC); }

double cz_thread_cpu_now(void) { return clock_seconds(CLOCK_THREAD_CPUTIME_ID); }
