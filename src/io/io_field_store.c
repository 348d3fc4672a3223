/* io_field_store.c — the float32 field view, writing: repacking and exact specials. */
#include "io/io_elem.h"
#include "io/io_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_special(const uint64_t *sp, int ns, uint64_t b) {
    for (int k = 0; k < ns; k++)
        if (sp[k] == b) return 1;
    return 0;
}

/* float specials compare by value, as netCDF does: a zero of either sign is missing when
 * one zero is a special */
static int is_special_f(const uint64_t *sp, int ns, uint64_t b, uint64_t nosign) {
    if ((b & nosign) == 0)
        for (int k = 0; k < ns; k++)
            if ((sp[k] & nosign) == 0) return 1;
    return is_special(sp, ns, b);
}

climz_status io_store_field_times(cz_dataset *ds, int var, size_t t0, const cz_field *f) {
    size_t NT, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, var, &NT, &nz, &ny, &nx));
    cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(f->nz != nz || f->ny != ny || f->nx != nx, CLIMZ_ERR_DIMENSION,
                 "variable '%s': field is %zu x %zu x %zu, the variable %zu x %zu x %zu", v->name,
                 f->nz, f->ny, f->nx, nz, ny, nx);
    CZ_RETURN_IF(t0 > NT || f->nt > NT - t0, CLIMZ_ERR_DIMENSION,
                 "variable '%s': time steps [%zu, %zu) outside its %zu steps", v->name, t0,
                 t0 + f->nt, NT);
    size_t const es = cz_dtype_size(v->type);
    size_t const total = io_var_count(ds, v);
    size_t const plane = nz * ny * nx, n = f->nt * plane;
    CZ_RETURN_IF(n && (!f->values || !f->miss), CLIMZ_ERR_INVALID_ARG, "variable '%s': empty field", v->name);
    if (!v->raw) {
        void *raw = cz_calloc(total ? total : 1, es);
        CZ_RETURN_IF(!raw, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", v->name);
        /* lazily opened: the steps not stored here keep their values from the file */
        if (ds->lazy && total) {
            climz_status const st = io_source_read(ds, var, 0, io_var_has_time(ds, v) ? NT : 1, raw);
            if (st) {
                free(raw);
                return st;
            }
        }
        v->raw = raw;
    }
    int const ns = v->nspecials;
    uint64_t sp[CZ_MAX_SPECIALS];
    for (int k = 0; k < ns; k++) sp[k] = cz_load_le64(v->specials[k]);
    double lo, hi;
    int_range(v->type, &lo, &hi);
    /* a decoded valid value stays inside the valid range (CF: outside it is missing); the
     * original was inside, so clamping only brings the value closer to it */
    double vlo, vhi;
    int vunpack;
    int const vr = io_valid_range(v, &vlo, &vhi, &vunpack);
    if (vr && !v->packed) vunpack = 0;
    if (vr && !vunpack && !is_float(v->type)) { /* integer limits in stored units */
        vlo = ceil(vlo), vhi = floor(vhi);
        if (vlo > lo) lo = vlo;
        if (vhi < hi) hi = vhi;
    }
    size_t const base = t0 * plane;
    for (size_t i = 0; i < n; i++) {
        int const m = f->miss[i];
        CZ_RETURN_IF(m > ns, CLIMZ_ERR_INVALID_ARG,
                     "variable '%s': missing-value code %d at point %zu but only %d specials",
                     v->name, m, i, ns);
        if (m) {
            put_bits(v->raw, base + i, es, m == v->oor_code && f->exact ? f->exact[i] : sp[m - 1]);
            continue;
        }
        float const x = f->values[i];
        uint64_t b;
        if (v->type == CZ_T_F32) {
            float y = x;
            if (vr && y < vlo) for (y = (float)vlo; y < vlo;) y = nextafterf(y, INFINITY);
            if (vr && y > vhi) for (y = (float)vhi; y > vhi;) y = nextafterf(y, -INFINITY);
            uint32_t u;
            memcpy(&u, &y, 4);
            /* a valid value must never read back as missing: step one ulp away */
            for (int g = 0; g < CZ_MAX_SPECIALS + 1 && is_special_f(sp, ns, u, 0x7fffffffu); g++) {
                y = nextafterf(y, y > 0 ? 0.0f : INFINITY);
                memcpy(&u, &y, 4);
            }
            b = u;
        } else if (v->type == CZ_T_F64) {
            double y = x;
            if (vr && y < vlo) y = vlo;
            if (vr && y > vhi) y = vhi;
            memcpy(&b, &y, 8);
            for (int g = 0; g < CZ_MAX_SPECIALS + 1 && is_special_f(sp, ns, b, 0x7fffffffffffffffull); g++) {
                y = nextafter(y, y > 0 ? 0.0 : INFINITY);
                memcpy(&b, &y, 8);
            }
        } else {
            double d = v->packed ? ((double)x - v->offset) / v->scale : (double)x;
            if (isnan(d)) d = 0;
            double r = round(d);
            if (r < lo) r = lo;
            if (r > hi) r = hi;
            if (vr && vunpack) { /* valid range in unpacked units: move whole quanta inwards */
                double const up = v->scale > 0 ? 1 : -1;
                for (int g = 0; g < 4 && r * v->scale + v->offset < vlo; g++) {
                    if (g == 0) r = (v->scale > 0 ? ceil : floor)((vlo - v->offset) / v->scale);
                    else r += up;
                }
                for (int g = 0; g < 4 && r * v->scale + v->offset > vhi; g++) {
                    if (g == 0) r = (v->scale > 0 ? floor : ceil)((vhi - v->offset) / v->scale);
                    else r -= up;
                }
            }
            b = to_bits(r, v->type, NULL);
            if (es < 8) b &= (1ull << (8 * es)) - 1;
            /* step one unit away from a special, towards the side of the exact value */
            double const step = d >= r ? 1 : -1;
            for (int g = 0; g < CZ_MAX_SPECIALS + 1 && is_special(sp, ns, b); g++) {
                double nr = r + (g % 2 ? -step : step) * (double)(g / 2 + 1);
                if (nr < lo || nr > hi) continue;
                b = to_bits(nr, v->type, NULL);
                if (es < 8) b &= (1ull << (8 * es)) - 1;
            }
        }
        put_bits(v->raw, base + i, es, b);
    }
    return CLIMZ_OK;
}

climz_status io_store_field(cz_dataset *ds, int var, const cz_field *f) {
    size_t nt, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, var, &nt, &nz, &ny, &nx));
    CZ_RETURN_IF(f->nt != nt, CLIMZ_ERR_DIMENSION, "variable '%s': field has %zu time steps, the "
                 "variable %zu", ds->vars[var].name, f->nt, nt);
    return io_store_field_times(ds, var, 0, f);
}
