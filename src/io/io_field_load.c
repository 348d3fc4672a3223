/* io_field_load.c — the float32 field view, reading: shape, unpacking, missing-value map. */
#include "io/io_elem.h"
#include "io/io_internal.h"

#include <stdlib.h>
#include <string.h>

climz_status io_field_shape(const cz_dataset *ds, int var, size_t *nt, size_t *nz, size_t *ny,
                            size_t *nx) {
    CZ_RETURN_IF(var < 0 || var >= ds->nvars, CLIMZ_ERR_INVALID_ARG, "no variable number %d", var);
    const cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(!v->is_grid || v->ndims < 2, CLIMZ_ERR_UNSUPPORTED,
                 "variable '%s' is not a gridded data variable (its last two dimensions are not "
                 "latitude and longitude)", v->name);
    int const ht = io_var_has_time(ds, v);
    size_t z = 1;
    for (int d = ht; d < v->ndims - 2; d++)
        CZ_RETURN_IF(!cz_mul_ok(z, ds->dims[v->dimids[d]].len, &z), CLIMZ_ERR_DIMENSION,
                     "variable '%s' is too large", v->name);
    *nt = ht ? ds->dims[v->dimids[0]].len : 1;
    *nz = z;
    *ny = ds->dims[v->dimids[v->ndims - 2]].len;
    *nx = ds->dims[v->dimids[v->ndims - 1]].len;
    return CLIMZ_OK;
}

void io_field_free(cz_field *f) {
    if (!f) return;
    free(f->values);
    free(f->miss);
    free(f->exact);
    free(f->lat);
    free(f->lon);
    memset(f, 0, sizeof *f);
}

/* n stored values at raw -> float32 values + missing codes (see READ ME FIRST) */
static void convert(const cz_var *v, const void *raw, size_t n, float *values, uint8_t *miss,
                    uint64_t *exact) {
    size_t const es = cz_dtype_size(v->type);
    int const ns = v->nspecials;
    uint64_t sp[CZ_MAX_SPECIALS];
    int first_nan = -1, first_zero = -1;
    uint64_t const nosign = v->type == CZ_T_F32 ? 0x7fffffffu : 0x7fffffffffffffffull;
    for (int k = 0; k < ns; k++) {
        sp[k] = cz_load_le64(v->specials[k]);
        if (first_nan < 0 && bits_is_nan(sp[k], v->type)) first_nan = k;
        if (first_zero < 0 && is_float(v->type) && (sp[k] & nosign) == 0) first_zero = k;
    }
    /* a float zero not listed (its sign's slot was not free) is missing by value as well */
    double vlo = 0, vhi = 0;
    int unpack = 0;
    int const oor = v->oor_code > 0 && v->oor_code <= ns && exact &&
                    io_valid_range(v, &vlo, &vhi, &unpack);
    if (v->type == CZ_T_F32 && !oor) { /* the common case, without the per-element type switch */
        const uint32_t *r = raw;
        for (size_t i = 0; i < n; i++) {
            uint32_t const b = r[i];
            int k = 0;
            while (k < ns && b != (uint32_t)sp[k]) k++;
            if (k == ns && first_nan >= 0 && bits_is_nan(b, CZ_T_F32)) k = first_nan;
            if (k == ns && first_zero >= 0 && (b & nosign) == 0) k = first_zero;
            if (k < ns) {
                miss[i] = (uint8_t)(k + 1);
                values[i] = 0;
            } else {
                miss[i] = 0;
                memcpy(&values[i], &b, 4);
            }
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t const b = elem_bits(raw, i, es);
        int k = 0;
        while (k < ns && b != sp[k]) k++;
        if (k == ns && first_nan >= 0 && bits_is_nan(b, v->type)) k = first_nan;
        if (k == ns && first_zero >= 0 && (b & nosign) == 0) k = first_zero;
        if (k < ns) {
            miss[i] = (uint8_t)(k + 1);
            if (oor && k + 1 == v->oor_code) exact[i] = b;
            values[i] = 0;
            continue;
        }
        double x = elem_value(raw, i, v->type);
        if (oor && ((unpack ? x * v->scale + v->offset : x) < vlo ||
                    (unpack ? x * v->scale + v->offset : x) > vhi)) {
            miss[i] = (uint8_t)v->oor_code;
            exact[i] = b;
            values[i] = 0;
            continue;
        }
        if (v->packed) x = x * v->scale + v->offset;
        miss[i] = 0;
        values[i] = (float)x;
    }
}

climz_status io_source_read(const cz_dataset *ds, int var, size_t t0, size_t nt, void *buf) {
    CZ_RETURN_IF(!ds->source || !ds->source->read_steps, CLIMZ_ERR_INVALID_ARG,
                 "variable '%s' has no values and no source file", ds->vars[var].name);
    return ds->source->read_steps(ds, ds->source_ctx, var, t0, nt, buf);
}

/* shape checks shared by the loaders: the steps' plane and count of values */
static climz_status steps_shape(const cz_dataset *ds, int var, size_t t0, size_t nt, size_t *plane, size_t *n,
                                cz_field *f) {
    size_t NT, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, var, &NT, &nz, &ny, &nx));
    const cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(t0 > NT || nt > NT - t0, CLIMZ_ERR_INVALID_ARG,
                 "variable '%s': time steps [%zu, %zu) outside its %zu steps", v->name, t0, t0 + nt, NT);
    CZ_RETURN_IF(!v->raw && !ds->lazy, CLIMZ_ERR_INVALID_ARG, "variable '%s' has no values loaded",
                 v->name);
    CZ_RETURN_IF(!cz_mul_ok(nz, ny * nx, plane) || !cz_mul_ok(*plane, nt, n), CLIMZ_ERR_DIMENSION,
                 "variable '%s' is too large", v->name);
    if (f) f->nt = nt, f->nz = nz, f->ny = ny, f->nx = nx;
    return CLIMZ_OK;
}

climz_status io_load_raw_times(const cz_dataset *ds, int var, size_t t0, size_t nt, void **raw) {
    *raw = NULL;
    size_t plane, n;
    CZ_FORWARD(steps_shape(ds, var, t0, nt, &plane, &n, NULL));
    const cz_var *v = &ds->vars[var];
    size_t const es = cz_dtype_size(v->type);
    void *buf = cz_malloc((n ? n : 1) * es);
    CZ_RETURN_IF(!buf, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", v->name);
    climz_status st = CLIMZ_OK;
    if (v->raw) memcpy(buf, (const uint8_t *)v->raw + t0 * plane * es, n * es);
    else st = io_source_read(ds, var, io_var_has_time(ds, v) ? t0 : 0, io_var_has_time(ds, v) ? nt : 1, buf);
    if (st) free(buf);
    else *raw = buf;
    return st;
}

climz_status io_field_from_raw(const cz_dataset *ds, int var, const void *raw, size_t nt, cz_field *f) {
    memset(f, 0, sizeof *f);
    size_t plane, n;
    CZ_FORWARD(steps_shape(ds, var, 0, nt, &plane, &n, f));
    const cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(v->scan_pending, CLIMZ_ERR_INVALID_ARG,
                 "variable '%s': its missing values are not known yet (io_specials_set)", v->name);
    f->values = cz_malloc((n ? n : 1) * sizeof *f->values);
    f->miss = cz_calloc(n ? n : 1, 1);
    climz_status st = CLIMZ_OK;
    if (v->oor_code) f->exact = cz_malloc((n ? n : 1) * sizeof *f->exact);
    if (!f->values || !f->miss || (v->oor_code && !f->exact))
        CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", v->name);
    CZ_CHECK_GOTO(st, io_field_coords(ds, var, f), fail);
    convert(v, raw, n, f->values, f->miss, f->exact);
    return CLIMZ_OK;
fail:
    io_field_free(f);
    return st;
}

climz_status io_load_field_times(const cz_dataset *ds, int var, size_t t0, size_t nt, cz_field *f) {
    memset(f, 0, sizeof *f);
    size_t plane, n;
    CZ_FORWARD(steps_shape(ds, var, t0, nt, &plane, &n, NULL));
    const cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(v->scan_pending, CLIMZ_ERR_INVALID_ARG,
                 "variable '%s': its missing values are not known yet (io_specials_set)", v->name);
    if (v->raw) return io_field_from_raw(ds, var, (const uint8_t *)v->raw + t0 * plane * cz_dtype_size(v->type), nt, f);
    /* a lazily opened data set: read the steps from the file */
    void *buf;
    CZ_FORWARD(io_load_raw_times(ds, var, t0, nt, &buf));
    climz_status const st = io_field_from_raw(ds, var, buf, nt, f);
    free(buf);
    return st;
}

climz_status io_load_field(const cz_dataset *ds, int var, cz_field *f) {
    memset(f, 0, sizeof *f);
    size_t nt, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, var, &nt, &nz, &ny, &nx));
    return io_load_field_times(ds, var, 0, nt, f);
}
