/* field_view.c — the caller's strided climz_field: checks, element access, scatter. */
#include "field_view.h"

#include <math.h>
#include <string.h>

size_t fv_elem_size(climz_type t) { return t == CLIMZ_FLOAT64 ? 8 : 4; }

climz_status fv_check(const climz_field *f, size_t *n) {
    CZ_RETURN_IF(!f, CLIMZ_ERR_INVALID_ARG, "no field");
    CZ_RETURN_IF(f->type != CLIMZ_FLOAT32 && f->type != CLIMZ_FLOAT64, CLIMZ_ERR_INVALID_ARG,
                 "field type %d is neither CLIMZ_FLOAT32 nor CLIMZ_FLOAT64", (int)f->type);
    CZ_RETURN_IF(!f->data, CLIMZ_ERR_INVALID_ARG, "the field has no data pointer");
    CZ_RETURN_IF(!f->nt || !f->nz || !f->ny || !f->nx, CLIMZ_ERR_DIMENSION,
                 "field sizes (%zu, %zu, %zu, %zu): every size must be at least 1", f->nt, f->nz, f->ny, f->nx);
    size_t a, b;
    CZ_RETURN_IF(!cz_mul_ok(f->nt, f->nz, &a) || !cz_mul_ok(f->ny, f->nx, &b) || !cz_mul_ok(a, b, n) ||
                     *n > (size_t)PTRDIFF_MAX / 8,
                 CLIMZ_ERR_DIMENSION, "field sizes (%zu, %zu, %zu, %zu) overflow", f->nt, f->nz, f->ny, f->nx);
    CZ_RETURN_IF(!isfinite(f->scale_factor) || !isfinite(f->add_offset), CLIMZ_ERR_INVALID_ARG,
                 "scale_factor and add_offset must be finite");
    return CLIMZ_OK;
}

void fv_strides(const climz_field *f, ptrdiff_t s[4]) {
    if (f->st || f->sz || f->sy || f->sx) {
        s[0] = f->st, s[1] = f->sz, s[2] = f->sy, s[3] = f->sx;
        return;
    }
    s[3] = 1;
    s[2] = (ptrdiff_t)f->nx;
    s[1] = s[2] * (ptrdiff_t)f->ny;
    s[0] = s[1] * (ptrdiff_t)f->nz;
}

double fv_load(climz_type t, const void *e) {
    if (t == CLIMZ_FLOAT64) {
        double d;
        memcpy(&d, e, 8);
        return d;
    }
    float x;
    memcpy(&x, e, 4);
    return x;
}

void fv_store(climz_type t, void *e, double v) {
    if (t == CLIMZ_FLOAT64) {
        memcpy(e, &v, 8);
        return;
    }
    float const x = (float)v;
    memcpy(e, &x, 4);
}

double fv_special_value(const cz_var *v, int k) {
    if (v->type == CZ_T_F64) return fv_load(CLIMZ_FLOAT64, v->specials[k]);
    if (v->type == CZ_T_F32) return fv_load(CLIMZ_FLOAT32, v->specials[k]);
    return NAN;
}

/* v put back on the packing grid, converted to t, and kept off the fill value */
static double valid_value(double v, const fv_scatter_opts *o, climz_type t) {
    if (o->scale != 0) v = o->offset + nearbyint((v - o->offset) / o->scale) * o->scale;
    if (o->has_fill) {
        double const r = t == CLIMZ_FLOAT64 ? v : (double)(float)v;
        if (r == o->fill) v = t == CLIMZ_FLOAT64 ? nextafter(r, INFINITY) : (double)nextafterf((float)r, INFINITY);
    }
    return v;
}

/* A missing point's element: its original bits, or the fill (NaN) when none are known. */
static void missing_value(uint8_t *e, uint8_t m, const fv_scatter_opts *o, climz_type t, size_t esz) {
    if (!o->specials) fv_store(t, e, o->has_fill ? o->fill : NAN);
    else if (t == o->stored) memcpy(e, o->specials->specials[m - 1], esz);
    else fv_store(t, e, fv_special_value(o->specials, m - 1));
}

/* The common case (float32 rows of unit stride, not packed): valid_value() without its
 * double round trips, which gives the same floats (a float's double is exact). */
static void scatter_row_f32(const float *v, const uint8_t *miss, size_t n, const fv_scatter_opts *o, uint8_t *row) {
    for (size_t x = 0; x < n; x++) {
        uint8_t *const e = row + x * 4;
        if (!miss[x]) {
            float r = v[x];
            if (o->has_fill && (double)r == o->fill) r = nextafterf(r, INFINITY);
            memcpy(e, &r, 4);
        } else {
            missing_value(e, miss[x], o, CLIMZ_FLOAT32, 4);
        }
    }
}

void fv_scatter(const cz_field *f, const fv_scatter_opts *o, const climz_field *dst) {
    ptrdiff_t s[4];
    fv_strides(dst, s);
    size_t const esz = fv_elem_size(dst->type);
    int const fast = dst->type == CLIMZ_FLOAT32 && s[3] == 1 && o->scale == 0;
    size_t i = 0;
    for (size_t t = 0; t < f->nt; t++)
        for (size_t z = 0; z < f->nz; z++)
            for (size_t y = 0; y < f->ny; y++) {
                uint8_t *row = fv_at(dst, s, t, z, y, 0);
                if (fast) {
                    scatter_row_f32(f->values + i, f->miss + i, f->nx, o, row);
                    i += f->nx;
                    continue;
                }
                for (size_t x = 0; x < f->nx; x++, i++) {
                    uint8_t *e = row + (ptrdiff_t)x * s[3] * (ptrdiff_t)esz;
                    uint8_t const m = f->miss[i];
                    if (!m) fv_store(dst->type, e, valid_value(f->values[i], o, dst->type));
                    else missing_value(e, m, o, dst->type, esz);
                }
            }
}
