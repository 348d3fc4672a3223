/* io_specials.c — exact missing values: finding a variable's specials (see dataset.h). */
#include "io/io_elem.h"
#include "io/io_internal.h"

#include <math.h>
#include <string.h>

/* netCDF default fill values (netcdf.h NC_FILL_*) as stored bits, 0 = none used for that
 * type (bytes: the NUG says byte default fills are not to be treated as missing) */
static int default_fill_bits(cz_dtype t, uint64_t *bits) {
    switch (t) {
    case CZ_T_I16: *bits = 0x8001u; return 1;                /* -32767 */
    case CZ_T_U16: *bits = 0xffffu; return 1;                /* 65535 */
    case CZ_T_I32: *bits = 0x80000001u; return 1;            /* -2147483647 */
    case CZ_T_U32: *bits = 0xffffffffu; return 1;            /* 4294967295 */
    case CZ_T_I64: *bits = 0x8000000000000002ull; return 1;  /* -9223372036854775806 */
    case CZ_T_U64: *bits = 0xfffffffffffffffeull; return 1;  /* 18446744073709551614 */
    case CZ_T_F32: { float const f = 9.9692099683868690e+36f; uint32_t u; memcpy(&u, &f, 4); *bits = u; return 1; }
    case CZ_T_F64: { double const d = 9.9692099683868690e+36; memcpy(bits, &d, 8); return 1; }
    default: return 0;
    }
}

/* the bits of a float zero of type t with the other sign, or 0 when b is no float zero */
static uint64_t other_zero(uint64_t b, cz_dtype t) {
    uint64_t const sign = t == CZ_T_F32 ? 0x80000000u : t == CZ_T_F64 ? 0x8000000000000000ull : 0;
    return sign && (b & ~sign) == 0 ? b ^ sign : 0;
}

static int bl_find(const io_bitlist *l, uint64_t b) {
    for (int i = 0; i < l->n; i++)
        if (l->b[i] == b) return i;
    return -1;
}
static void bl_add(io_bitlist *l, uint64_t b) {
    if (l->n < CZ_MAX_SPECIALS && bl_find(l, b) < 0) l->b[l->n++] = b;
}

/* the declared value(s) of attribute name as stored bits of type t */
static void add_declared(io_bitlist *l, const cz_var *v, const char *name) {
    const cz_attr *a = io_attr_find(v->atts, v->natts, name);
    if (!a || !is_numeric(a->type)) return;
    size_t const es = cz_dtype_size(v->type);
    for (size_t k = 0; k < a->len; k++) {
        if (a->type == v->type) {
            bl_add(l, elem_bits(a->data, k, es));
            continue;
        }
        int exact;
        uint64_t const b = to_bits(elem_value(a->data, k, a->type), v->type, &exact);
        if (exact) bl_add(l, es == 8 ? b : b & ((1ull << (8 * es)) - 1));
    }
}

void io_scan_begin(io_scan *s, const cz_var *v, int use_default_fill) {
    memset(s, 0, sizeof *s);
    s->type = v->type;
    if (!is_numeric(v->type)) return;
    s->es = cz_dtype_size(v->type);
    add_declared(&s->sp, v, "_FillValue");
    add_declared(&s->sp, v, "missing_value");
    /* netCDF and every CF reader compare float fills by value: -0.0 == 0.0. The zero of the
     * other sign, when it occurs, becomes a special of its own (so its bits come back) */
    for (int k = 0; k < s->sp.n; k++)
        if (other_zero(s->sp.b[k], v->type) && bl_find(&s->sp, other_zero(s->sp.b[k], v->type)) < 0)
            s->zero2 = other_zero(s->sp.b[k], v->type), s->want_zero2 = 1;
    s->want_dfill = use_default_fill && !io_attr_find(v->atts, v->natts, "_FillValue") &&
                    default_fill_bits(v->type, &s->dfill) && bl_find(&s->sp, s->dfill) < 0;
    s->has_range = io_valid_range(v, &s->lo, &s->hi, &s->unpack);
    s->scale = v->scale, s->offset = v->offset;
}

int io_valid_range(const cz_var *v, double *lo, double *hi, int *unpack) {
    *lo = -INFINITY, *hi = INFINITY, *unpack = 0;
    if (!is_numeric(v->type)) return 0;
    int has = 0;
    const cz_attr *vr = io_attr_find(v->atts, v->natts, "valid_range");
    if (vr && vr->len == 2 && io_attr_number(vr, 0, lo) && io_attr_number(vr, 1, hi)) {
        has = 1;
    } else {
        has |= io_attr_number(io_attr_find(v->atts, v->natts, "valid_min"), 0, lo);
        has |= io_attr_number(io_attr_find(v->atts, v->natts, "valid_max"), 0, hi);
    }
    if (has && (isnan(*lo) || isnan(*hi))) has = 0;
    /* CF: valid_* of a packed variable are packed values, unless given in the unpacked
     * (floating-point) type; then compare unpacked values */
    const cz_attr *va = vr ? vr : io_attr_find(v->atts, v->natts, "valid_min");
    if (!va) va = io_attr_find(v->atts, v->natts, "valid_max");
    if (v->packed && va && va->type != v->type && is_float(va->type)) *unpack = 1;
    return has;
}

void io_scan_chunk(io_scan *s, const void *data, size_t n) {
    if (!is_numeric(s->type)) return;
    int const fl = is_float(s->type);
    for (size_t i = 0; i < n; i++) {
        uint64_t const b = elem_bits(data, i, s->es);
        if (bl_find(&s->sp, b) >= 0) continue;
        if (s->want_zero2 && b == s->zero2) {
            s->zero2_found = 1;
            continue;
        }
        if (fl && bits_is_nan(b, s->type)) {
            bl_add(&s->nans, b); /* payloads beyond the slots are folded onto the first */
            continue;
        }
        if (s->want_dfill && b == s->dfill) {
            s->dfill_found = 1;
            continue;
        }
        if (s->has_range && !s->oor_overflow) {
            double x = elem_value(data, i, s->type);
            if (s->unpack) x = x * s->scale + s->offset;
            if ((x < s->lo || x > s->hi) && bl_find(&s->oor, b) < 0) {
                if (s->oor.n == CZ_MAX_SPECIALS) s->oor_overflow = 1;
                else s->oor.b[s->oor.n++] = b;
            }
        }
    }
}

void io_scan_end(io_scan *s, cz_var *v) {
    io_bitlist sp = s->sp;
    if (s->zero2_found) bl_add(&sp, s->zero2);
    if (s->dfill_found) bl_add(&sp, s->dfill);
    for (int k = 0; k < s->nans.n; k++) bl_add(&sp, s->nans.b[k]);
    v->oor_code = 0;
    if (!s->oor_overflow && s->oor.n <= CZ_MAX_SPECIALS - sp.n) {
        for (int k = 0; k < s->oor.n; k++) bl_add(&sp, s->oor.b[k]);
    } else if (sp.n < CZ_MAX_SPECIALS) { /* one code for all, their bits kept apart */
        sp.b[sp.n++] = s->oor.b[0];
        v->oor_code = sp.n;
    } /* else (15 declared fills and NaN payloads) they stay ordinary values */
    memset(v->specials, 0, sizeof v->specials);
    v->nspecials = sp.n;
    for (int k = 0; k < sp.n; k++) cz_store_le64(v->specials[k], sp.b[k]);
}

climz_status io_scan_specials(cz_dataset *ds, int vi, int use_default_fill) {
    CZ_RETURN_IF(vi < 0 || vi >= ds->nvars, CLIMZ_ERR_INVALID_ARG, "no variable %d", vi);
    cz_var *v = &ds->vars[vi];
    io_scan s;
    io_scan_begin(&s, v, use_default_fill);
    if (v->raw) io_scan_chunk(&s, v->raw, io_var_count(ds, v));
    io_scan_end(&s, v);
    return CLIMZ_OK;
}

climz_status io_find_specials(cz_dataset *ds, int var) { return io_scan_specials(ds, var, 1); }

/* ---- specials of a variable read in pieces, maybe by several processes (IO_OPEN_NO_SCAN) ---- */

climz_status io_specials_scan(const cz_dataset *ds, int vi, const void *raw, size_t n, io_specials_part *p) {
    CZ_RETURN_IF(vi < 0 || vi >= ds->nvars, CLIMZ_ERR_INVALID_ARG, "no variable %d", vi);
    const cz_var *v = &ds->vars[vi];
    io_scan s;
    io_scan_begin(&s, v, v->scan_pending == 2);
    io_scan_chunk(&s, raw, n);
    memset(p, 0, sizeof *p);
    memcpy(p->nans, s.nans.b, sizeof p->nans);
    memcpy(p->oor, s.oor.b, sizeof p->oor);
    p->nnans = s.nans.n, p->noor = s.oor.n, p->oor_overflow = s.oor_overflow;
    p->zero2_found = s.zero2_found, p->dfill_found = s.dfill_found;
    return CLIMZ_OK;
}

/* b's lists after a's, as one io_scan_chunk pass over both pieces would build them */
void io_specials_merge(io_specials_part *a, const io_specials_part *b) {
    io_bitlist l = {{0}, 0};
    memcpy(l.b, a->nans, sizeof l.b), l.n = a->nnans;
    for (int k = 0; k < b->nnans && k < CZ_MAX_SPECIALS; k++) bl_add(&l, b->nans[k]); /* folded past the slots */
    memcpy(a->nans, l.b, sizeof l.b), a->nnans = l.n;
    for (int k = 0; k < b->noor && k < CZ_MAX_SPECIALS && !a->oor_overflow; k++) {
        memcpy(l.b, a->oor, sizeof l.b), l.n = a->noor;
        if (bl_find(&l, b->oor[k]) >= 0) continue;
        if (a->noor == CZ_MAX_SPECIALS) a->oor_overflow = 1; /* one distinct value too many */
        else a->oor[a->noor++] = b->oor[k];
    }
    a->oor_overflow |= b->oor_overflow; /* after taking b's first values: the first one is kept */
    a->zero2_found |= b->zero2_found;
    a->dfill_found |= b->dfill_found;
}

climz_status io_specials_set(cz_dataset *ds, int vi, const io_specials_part *p) {
    CZ_RETURN_IF(vi < 0 || vi >= ds->nvars, CLIMZ_ERR_INVALID_ARG, "no variable %d", vi);
    CZ_RETURN_IF(p->nnans < 0 || p->nnans > CZ_MAX_SPECIALS || p->noor < 0 || p->noor > CZ_MAX_SPECIALS,
                 CLIMZ_ERR_CORRUPT, "variable '%s': a scan of its missing values is malformed", ds->vars[vi].name);
    cz_var *v = &ds->vars[vi];
    io_scan s;
    io_scan_begin(&s, v, v->scan_pending == 2);
    memcpy(s.nans.b, p->nans, sizeof s.nans.b), s.nans.n = p->nnans;
    memcpy(s.oor.b, p->oor, sizeof s.oor.b), s.oor.n = p->noor;
    s.oor_overflow = p->oor_overflow, s.zero2_found = p->zero2_found, s.dfill_found = p->dfill_found;
    io_scan_end(&s, v);
    v->scan_pending = 0;
    return CLIMZ_OK;
}
