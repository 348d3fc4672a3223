/* io_readers.h — the format readers' entry points, for io_open() (the data set code does not
 * depend on any of them: values a lazy reader leaves on disk come through ds->source). */
#ifndef CZ_IO_READERS_H
#define CZ_IO_READERS_H

#include "io/io_internal.h"

/* Format readers: fill an empty ds (from io_dataset_new) from path; io_open() has already
 * checked the magic bytes. On failure ds may hold partial content; the caller frees it. */
climz_status io_read_netcdf(const char *path, cz_dataset *ds, int lazy); /* lazy: IO_OPEN_* flags, 0 = load all */
climz_status io_read_grib(const char *path, cz_dataset *ds);
climz_status io_read_grads(const char *path, cz_dataset *ds);

/* Checks that a NetCDF-3 file (CDF-1/2/5) is as long as its header says: the header is
 * parsed with bounds checks, and every variable's data must lie inside the file.
 * libnetcdf silently reads zeros past the end of a truncated file, hence this check.
 * CLIMZ_ERR_CORRUPT with "truncated" in the message when it is shorter. */
climz_status io_nc3_check_size(const char *path);

#endif /* CZ_IO_READERS_H */
