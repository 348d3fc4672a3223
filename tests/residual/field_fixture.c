/* field_fixture.c — real fields for the residual codec's tests (field_fixture.h). */
#include "field_fixture.h"
#include "testutil.h"

#include <math.h>

double fixture_value_range(const float *x, const uint8_t *miss, size_t n) {
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (miss && miss[i]) continue;
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    return (double)hi - (double)lo;
}

int fixture_load(const char *path, const char *var, cz_dataset **ds, cz_field *f) {
    climz_status st = io_open(path, ds);
    CHECK_MSG(st == CLIMZ_OK, "io_open %s: %s %s", path, climz_status_name(st), cz_error_message());
    if (st != CLIMZ_OK) return 0;
    int const v = io_find_var(*ds, var);
    CHECK_MSG(v >= 0, "%s has no %s", path, var);
    if (v < 0) return 0;
    st = io_load_field(*ds, v, f);
    CHECK_MSG(st == CLIMZ_OK, "io_load_field %s: %s %s", var, climz_status_name(st), cz_error_message());
    return st == CLIMZ_OK;
}
