/* io_testlib.h — helpers for the I/O tests. */
#ifndef CZ_IO_TESTLIB_H
#define CZ_IO_TESTLIB_H

#include "io/dataset.h"
#include "testutil.h"

/* Checks (with CHECK_MSG) that a and b have the same dims, groups, attributes (names, types,
 * values bit for bit) and variables (names, types, dims, raw values bit for bit). */
void it_check_same(const cz_dataset *a, const cz_dataset *b, const char *what);
/* `ncdump -h path` without its first line ("netcdf NAME {"); malloc'd, NULL if ncdump failed */
char *it_ncdump_h(const char *path);
/* number of directory entries other than . and .. */
int it_count_files(const char *dir);
/* the whole file into a malloc'd buffer (NULL on failure) */
unsigned char *it_read(const char *path, size_t *n);
int it_write(const char *path, const void *p, size_t n); /* 0 on success */
/* count of missing points in a field */
size_t it_nmiss(const cz_field *f);
/* element i of a float field, as bits */
unsigned it_f32_bits(float x);

#endif
