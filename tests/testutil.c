/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tu_checks, tu_failures;

void tu_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    tu_failures++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tu_finish(void) {
    printf("%d checks, %d passed, %d failed\n", tu_checks, tu_checks - tu_failures, tu_failures);
    return tu_failures ? 1 : 0;
}

void tu_skip(const char *why) {
    printf("SKIPPED: %s\n", why);
    exit(77);
}

const char *tu_data(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", CLIMZ_DATA_DIR, name);
    return path;
}

const char *tu_shared(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", CLIMZ_SHARED_DATA, name);
    return access(path, R_OK) == 0 ? path : NULL;
}

const char *tu_tmpdir(const char *test_name) {
    static char path[4096];
    char cmd[8400];
    snprintf(path, sizeof path, "%s/test-output/%s", CLIMZ_BUILD_DIR, test_name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(2);
    }
    return path;
}

unsigned long long tu_rand_u64(unsigned long long *s) {
    /* splitmix64: the same sequence on every machine */
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_rand_uniform(unsigned long long *s) { return (double)(tu_rand_u64(s) >> 11) * 0x1.0p-53; }

double tu_rand_normal(unsigned long long *s) {
    double const u1 = tu_rand_uniform(s) + 1e-300, u2 = tu_rand_uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
