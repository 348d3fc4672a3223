/* io_internal.h — helpers shared by the readers and the writer of src/io (not for other
 * modules: they use dataset.h). */
#ifndef CZ_IO_INTERNAL_H
#define CZ_IO_INTERNAL_H

#include "io/dataset.h"

/* Format readers: fill an empty ds (from io_dataset_new) from path; io_open() has already
 * checked the magic bytes. On failure ds may hold partial content; the caller frees it. */
climz_status io_read_netcdf(const char *path, cz_dataset *ds, int lazy);
climz_status io_read_grib(const char *path, cz_dataset *ds);
climz_status io_read_grads(const char *path, cz_dataset *ds);

/* Checks that a NetCDF-3 file (CDF-1/2/5) is as long as its header says: the header is
 * parsed with bounds checks, and every variable's data must lie inside the file.
 * libnetcdf silently reads zeros past the end of a truncated file, hence this check.
 * CLIMZ_ERR_CORRUPT with "truncated" in the message when it is shorter. */
climz_status io_nc3_check_size(const char *path);

void io_attrs_free(cz_attr *a, int n);
void io_var_clear(cz_var *v, size_t count); /* frees a var's name, attributes and raw */
climz_status io_attr_set_text(cz_attr **atts, int *natts, const char *name, const char *s);
climz_status io_attr_set_f64(cz_attr **atts, int *natts, const char *name, double v);
climz_status io_attr_set_f32(cz_attr **atts, int *natts, const char *name, float v);
climz_status io_attr_set_i32(cz_attr **atts, int *natts, const char *name, int32_t v);

/* Internal version of io_find_specials(): use_default_fill = 0 when the variable has fill
 * mode off (then the netCDF default fill is an ordinary value). */
climz_status io_scan_specials(cz_dataset *ds, int var, int use_default_fill);

/* The same scan over values that arrive in pieces (a lazily opened variable):
 * io_scan_begin, io_scan_chunk for every piece in any order, io_scan_end sets v->specials. */
typedef struct io_bitlist {
    uint64_t b[CZ_MAX_SPECIALS];
    int n;
} io_bitlist;
typedef struct io_scan {
    cz_dtype type;
    size_t es;
    io_bitlist sp, nans, oor;
    uint64_t dfill;
    int want_dfill, dfill_found, has_range, oor_overflow, unpack;
    double lo, hi, scale, offset;
} io_scan;
void io_scan_begin(io_scan *s, const cz_var *v, int use_default_fill);
void io_scan_chunk(io_scan *s, const void *data, size_t n);
void io_scan_end(io_scan *s, cz_var *v);

/* Reads time steps [t0, t0+nt) of variable var (all of it when its first dim is not time)
 * from the NetCDF file ds->path into buf, in the stored type. For lazily opened data sets. */
climz_status io_nc_read_steps(const cz_dataset *ds, int var, size_t t0, size_t nt, void *buf);

/* the base name of a path ("grp1/T" -> "T") */
const char *io_base_name(const char *path);

/* days since 1970-01-01 of a proleptic Gregorian date */
int64_t io_days_from_civil(int64_t y, unsigned m, unsigned d);
void io_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif /* CZ_IO_INTERNAL_H */
