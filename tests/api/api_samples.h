/* api_samples.h — real bundled fields as the caller's arrays, for the in-memory API tests. */
#ifndef TESTS_API_SAMPLES_H
#define TESTS_API_SAMPLES_H

#include "climz.h"
#include "io/dataset.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

/* Variable var of bundled sample file as a C-order float32 array: missing points hold NaN, or
 * fill when fill is not NaN (then *f says so). lat is kept for the learned codecs. */
static inline float *sample_field(const char *file, const char *var, float fill, climz_field *f, double **lat) {
    cz_dataset *ds = NULL;
    cz_field cf = {0};
    float *a = NULL;
    if (io_open(tu_data(file), &ds) == CLIMZ_OK) {
        int const vi = io_find_var(ds, var);
        if (vi >= 0 && io_load_field(ds, vi, &cf) == CLIMZ_OK) {
            size_t const n = cf.nt * cf.nz * cf.ny * cf.nx;
            a = malloc(n * sizeof *a);
            for (size_t i = 0; i < n; i++) a[i] = cf.miss[i] ? fill : cf.values[i];
            *f = (climz_field){.type = CLIMZ_FLOAT32, .data = a, .nt = cf.nt, .nz = cf.nz, .ny = cf.ny, .nx = cf.nx};
            if (!isnan(fill)) f->flags = CLIMZ_FIELD_FILL, f->fill_value = fill;
            *lat = cf.lat;
            cf.lat = NULL;
        }
        io_field_free(&cf);
    }
    io_free(ds);
    CHECK_MSG(a != NULL, "cannot load %s:%s", file, var);
    return a;
}

#endif
