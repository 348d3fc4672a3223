/* io_internal.h — helpers shared by the readers and the writer of src/io (not for other
 * modules: they use dataset.h). */
#ifndef CZ_IO_INTERNAL_H
#define CZ_IO_INTERNAL_H

#include "io/dataset.h"

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
    uint64_t dfill, zero2;
    int want_zero2, zero2_found, want_dfill, dfill_found, has_range, oor_overflow, unpack;
    double lo, hi, scale, offset;
} io_scan;
/* The valid range of v from valid_range / valid_min / valid_max ([-inf, inf] for a missing
 * end); *unpack = 1 when it is given in unpacked units for a packed variable. @return 1 when
 * v declares one. */
int io_valid_range(const cz_var *v, double *lo, double *hi, int *unpack);
void io_scan_begin(io_scan *s, const cz_var *v, int use_default_fill);
void io_scan_chunk(io_scan *s, const void *data, size_t n);
void io_scan_end(io_scan *s, cz_var *v);

/* The values a lazily opened data set left on disk, read by the reader that opened it: it
 * sets ds->source (and ds->source_ctx) with ds->lazy, and the data set code only calls
 * through them, so that it does not depend on any file format.
 *  - read_steps: time steps [t0, t0+nt) of variable var (all of it when its first dim is not
 *    time) into buf, in the stored type.
 *  - close: frees ctx (io_free calls it); NULL when the reader keeps no state. */
typedef struct io_source_ops {
    climz_status (*read_steps)(const cz_dataset *ds, void *ctx, int var, size_t t0, size_t nt,
                               void *buf);
    void (*close)(void *ctx);
} io_source_ops;
/* Reads steps [t0, t0+nt) of var through ds->source (CLIMZ_ERR_INVALID_ARG when it has none). */
climz_status io_source_read(const cz_dataset *ds, int var, size_t t0, size_t nt, void *buf);


/* days since 1970-01-01 of a proleptic Gregorian date */
int64_t io_days_from_civil(int64_t y, unsigned m, unsigned d);
void io_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif /* CZ_IO_INTERNAL_H */
