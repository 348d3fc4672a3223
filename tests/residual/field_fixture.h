/* field_fixture.h — real fields for the residual codec's tests: loading one variable and
 * measuring its value range. */
#ifndef CLIMZ_TEST_FIELD_FIXTURE_H
#define CLIMZ_TEST_FIELD_FIXTURE_H

#include "io/dataset.h"

#include <stddef.h>
#include <stdint.h>

/* max - min over the points that are not missing (miss may be NULL) */
double fixture_value_range(const float *x, const uint8_t *miss, size_t n);

/* Opens path and loads variable var into f; a failure is a test failure (returns 0). */
int fixture_load(const char *path, const char *var, cz_dataset **ds, cz_field *f);

#endif
