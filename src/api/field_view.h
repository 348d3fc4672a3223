/* field_view.h — reading and writing the caller's strided climz_field (the in-memory API):
 * checks, element access, and the scatter of a decoded field into it. */
#ifndef CZ_API_FIELD_VIEW_H
#define CZ_API_FIELD_VIEW_H

#include "io/dataset.h"

/* CLIMZ_OK when f describes an array (known type, data, every size >= 1, no overflow); *n =
 * its points. CLIMZ_ERR_INVALID_ARG / CLIMZ_ERR_DIMENSION with a message otherwise. */
climz_status fv_check(const climz_field *f, size_t *n);
size_t fv_elem_size(climz_type t);
/* f's strides in elements (C order when all four are 0) */
void fv_strides(const climz_field *f, ptrdiff_t s[4]);
double fv_load(climz_type t, const void *e);
void fv_store(climz_type t, void *e, double v);
/* value of special k of v (its stored float or double bits; NaN for other types) */
double fv_special_value(const cz_var *v, int k);

static inline uint8_t *fv_at(const climz_field *f, const ptrdiff_t s[4], size_t t, size_t z, size_t y, size_t x) {
    ptrdiff_t const off = (ptrdiff_t)t * s[0] + (ptrdiff_t)z * s[1] + (ptrdiff_t)y * s[2] + (ptrdiff_t)x * s[3];
    return (uint8_t *)f->data + off * (ptrdiff_t)fv_elem_size(f->type);
}

typedef struct fv_scatter_opts {
    const cz_var *specials; /* missing point k -> special k-1 of this variable; NULL: NaN or
                               the destination's fill value */
    climz_type stored;      /* type the specials are stored in (their bits are copied when the
                               destination has this type) */
    double scale, offset;   /* packing grid the valid values are put back on (scale 0: none) */
    int has_fill;           /* a valid value equal to fill is moved one unit in the last place */
    double fill;
} fv_scatter_opts;

/* Writes the decoded field f (same dims as dst) into dst's memory, converting to its type. */
void fv_scatter(const cz_field *f, const fv_scatter_opts *o, const climz_field *dst);

#endif
