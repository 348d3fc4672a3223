/* frame.c — the in-memory API: a caller's strided field in, a one-variable .clz image (a
 * frame) out, and back (climz_compress, climz_frame_info, climz_decompress). */
#include "codec.h"
#include "container/frame_compact.h"
#include "field_view.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bytes a frame adds to its chunks at most (preamble, header JSON, index, schema), and per
 * (t, z) plane (index entries, chunk headers, a mask chunk). */
#define FRAME_OVERHEAD 65536u
#define FRAME_PER_PLANE 256u

size_t climz_compress_bound(const climz_field *f) {
    size_t n;
    if (fv_check(f, &n) != CLIMZ_OK) return 0;
    size_t const planes = f->nt * f->nz;
    /* float32 values coded losslessly at worst take about 4.3 bytes (measured on noise) and a
     * missing-value mask under 1 byte a point: 6 bytes a point is a safe ceiling */
    if (n > (SIZE_MAX - FRAME_OVERHEAD) / 8 || planes > SIZE_MAX / FRAME_PER_PLANE / 2) return 0;
    return FRAME_OVERHEAD + 6 * n + FRAME_PER_PLANE * planes;
}

/* The exact bits of a missing value in v's specials (added when new; folded onto the first
 * special of the same kind, NaN or not, when all slots are taken). @return its code k >= 1. */
static uint8_t special_code(cz_var *v, double x, const void *elem, size_t esz) {
    uint8_t bits[8] = {0};
    memcpy(bits, elem, esz);
    for (int k = 0; k < v->nspecials; k++)
        if (memcmp(v->specials[k], bits, 8) == 0) return (uint8_t)(k + 1);
    if (v->nspecials < CZ_MAX_SPECIALS) {
        memcpy(v->specials[v->nspecials++], bits, 8);
        return (uint8_t)v->nspecials;
    }
    for (int k = 0; k < v->nspecials; k++)
        if (isnan(fv_special_value(v, k)) == isnan(x)) return (uint8_t)(k + 1);
    return 1;
}

/* What the gather learned of the valid values. */
typedef struct gather_stats {
    double lo, hi;       /* range */
    double round_err;    /* largest |x - (float)x| of a float64 field */
    size_t nvalid;
} gather_stats;

/* The caller's field as float32 values and missing codes (C order): the one copy of the input. */
static climz_status gather(const climz_field *f, size_t n, cz_var *v, cz_field *out, gather_stats *gs) {
    out->nt = f->nt, out->nz = f->nz, out->ny = f->ny, out->nx = f->nx;
    out->values = malloc(n * sizeof *out->values);
    out->miss = malloc(n);
    CZ_RETURN_IF(!out->values || !out->miss, CLIMZ_ERR_ALLOC, "out of memory for a working copy of %zu points", n);
    int const fill = (f->flags & CLIMZ_FIELD_FILL) && !isnan(f->fill_value);
    size_t const esz = fv_elem_size(f->type);
    if (fill) { /* the declared fill value is special 1, whether or not it occurs */
        uint8_t b[8];
        fv_store(f->type, b, f->fill_value);
        special_code(v, f->fill_value, b, esz);
    }
    ptrdiff_t s[4];
    fv_strides(f, s);
    *gs = (gather_stats){INFINITY, -INFINITY, 0, 0};
    size_t i = 0;
    for (size_t t = 0; t < f->nt; t++)
        for (size_t z = 0; z < f->nz; z++)
            for (size_t y = 0; y < f->ny; y++) {
                const uint8_t *row = fv_at(f, s, t, z, y, 0);
                for (size_t x = 0; x < f->nx; x++, i++) {
                    const uint8_t *e = row + (ptrdiff_t)x * s[3] * (ptrdiff_t)esz;
                    double const d = fv_load(f->type, e);
                    if (isnan(d) || (fill && d == f->fill_value)) {
                        out->miss[i] = special_code(v, d, e, esz);
                        out->values[i] = 0;
                        continue;
                    }
                    CZ_RETURN_IF(!(fabs(d) <= FLT_MAX), CLIMZ_ERR_UNSUPPORTED,
                                 "value %g at (t %zu, z %zu, y %zu, x %zu) is outside the float32 range the codecs "
                                 "work in; mark it missing with a fill value", d, t, z, y, x);
                    float const r = (float)d;
                    out->values[i] = r;
                    out->miss[i] = 0;
                    double const re = fabs(d - (double)r);
                    gs->round_err = re > gs->round_err ? re : gs->round_err;
                    gs->lo = d < gs->lo ? d : gs->lo;
                    gs->hi = d > gs->hi ? d : gs->hi;
                    gs->nvalid++;
                }
            }
    return CLIMZ_OK;
}

/* The bound the codec works to on the float32 copy, so that the decoded values (put back on the
 * packing grid, converted to the field's type) are within E of the caller's values. */
static climz_status codec_bound(const climz_field *f, double E, const gather_stats *gs, double *Ec) {
    if (E == 0) {
        CZ_RETURN_IF(gs->round_err > 0, CLIMZ_ERR_BOUND,
                     "lossless coding of float64 values needs them to be float32 numbers (largest rounding "
                     "error %g); give a bound of at least that", gs->round_err);
        *Ec = 0;
        return CLIMZ_OK;
    }
    double e = E;
    if (f->scale_factor != 0) { /* decoded values snap to the grid: k whole quanta of error at most */
        double const q = fabs(f->scale_factor);
        double const k = floor(E / q * (1 - 1e-9));
        e = (k + 0.5) * q * (1 - 1e-6);
        e = e < E ? e : E;
    }
    *Ec = e - gs->round_err;
    CZ_RETURN_IF(!(*Ec > 0), CLIMZ_ERR_BOUND,
                 "the bound %g is finer than float32 holds these float64 values (rounding error %g)", E,
                 gs->round_err);
    return CLIMZ_OK;
}

/* The latitudes as the coordinate variable of dim y (a codec that decodes from coordinates
 * needs them: CA-INR's network inputs); stored in the frame. */
static climz_status add_lat(cz_dataset *ds, int ydim, const double *lat, size_t ny) {
    int ci;
    CZ_FORWARD(io_var_add(ds, "y", CZ_T_F64, 1, &ydim, &ci));
    cz_var *c = &ds->vars[ci];
    CZ_FORWARD(io_attr_set(&c->atts, &c->natts, "units", CZ_T_CHAR, 13, "degrees_north"));
    c->raw = cz_malloc(ny * sizeof *lat);
    CZ_RETURN_IF(!c->raw, CLIMZ_ERR_ALLOC, "out of memory");
    memcpy(c->raw, lat, ny * sizeof *lat);
    c->is_coord = 1;
    c->axis = CZ_AXIS_Y;
    return CLIMZ_OK;
}

/* A data set of one variable (dims time, level, y, x) that stands for the caller's field, and
 * with store_lat the latitudes as variable 1. */
static climz_status field_dataset(const climz_field *f, int store_lat, cz_dataset **out) {
    cz_dataset *ds = NULL;
    CZ_FORWARD(io_dataset_new(&ds));
    ds->format = CZ_FMT_NETCDF4;
    static const char *const names[4] = {"time", "level", "y", "x"};
    size_t const len[4] = {f->nt, f->nz, f->ny, f->nx};
    int ids[4], vi;
    climz_status st = CLIMZ_OK;
    for (int d = 0; d < 4 && !st; d++) st = io_dim_add(ds, names[d], len[d], 0, &ids[d]);
    cz_dtype const type = f->type == CLIMZ_FLOAT64 ? CZ_T_F64 : CZ_T_F32;
    if (!st) st = io_var_add(ds, f->name && f->name[0] ? f->name : "data", type, 4, ids, &vi);
    if (!st && (f->flags & CLIMZ_FIELD_FILL)) {
        uint8_t b[8];
        fv_store(f->type, b, f->fill_value);
        st = io_attr_set(&ds->vars[vi].atts, &ds->vars[vi].natts, "_FillValue", type, 1, b);
    }
    if (!st && store_lat) st = add_lat(ds, ids[2], f->lat, f->ny);
    if (st) {
        io_free(ds);
        return st;
    }
    ds->vars[vi].is_grid = 1;
    *out = ds;
    return CLIMZ_OK;
}

/* The frame's .clz image img into dst (cap bytes) in its compact form (doc/format.md §10.1),
 * which keeps every chunk and packs the ~700 bytes of preamble, header, index and schema (what
 * a small array, such as an HDF5 chunk, pays per frame) into ~50-90; plain when that is not
 * smaller. dst is not touched when the frame does not fit. */
static climz_status frame_store(const char *codec, const cz_buf *img, void *dst, size_t cap, size_t *written) {
    static const struct {
        const char *name;
        uint8_t id;
    } ids[] = {{"residual", CLZ_COMPACT_RESIDUAL}, {"vaeformer", CLZ_COMPACT_VAEFORMER}, {"inr", CLZ_COMPACT_INR}};
    uint8_t id = CLZ_COMPACT_OTHER;
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (!strcmp(codec, ids[i].name)) id = ids[i].id;
    cz_buf c = {0};
    climz_status st = clz_compact_encode(img->data, img->size, id, &c);
    if (st == CLIMZ_ERR_UNSUPPORTED) st = CLIMZ_OK, cz_error_clear();
    const cz_buf *out = !st && c.size && c.size < img->size ? &c : img;
    if (!st && out->size > cap)
        st = cz_error(CLIMZ_ERR_DST_TOO_SMALL, "the frame needs %zu bytes, the buffer holds %zu", out->size, cap);
    if (!st) {
        memcpy(dst, out->data, out->size);
        *written = out->size;
    }
    cz_buf_free(&c);
    return st;
}

climz_status climz_compress(climz_ctx *ctx, const climz_field *f, const climz_compress_opts *opts, void *dst,
                            size_t cap, size_t *written) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    size_t n;
    if (!written || !dst) return api_fail(ctx, cz_error(CLIMZ_ERR_INVALID_ARG, "no output buffer"));
    *written = 0;
    CZ_FORWARD(api_fail(ctx, fv_check(f, &n)));
    const api_codec *c = api_codec_for(opts);
    if (!c) return api_fail(ctx, CLIMZ_ERR_UNSUPPORTED);

    cz_dataset *ds = NULL;
    cz_field cf = {0};
    clz_writer *w = NULL;
    json_t *root = NULL;
    char *header = NULL;
    cz_buf img = {0};
    gather_stats gs = {0};
    climz_status st = CLIMZ_OK;
    int const store_lat = f->lat && strcmp(c->name, "inr") == 0;
    CZ_CHECK_GOTO(st, field_dataset(f, store_lat, &ds), done);
    CZ_CHECK_GOTO(st, gather(f, n, &ds->vars[0], &cf, &gs), done);
    cf.lat = (double *)f->lat; /* borrowed: freed below without io_field_free */
    double const range = gs.nvalid ? gs.hi - gs.lo : 0;
    double const E = ctx->rel_error > 0 ? ctx->rel_error * range : ctx->max_abs_error;
    double Ec = 0;
    CZ_CHECK_GOTO(st, codec_bound(f, E, &gs, &Ec), done);
    climz_ctx local = *ctx; /* the codec's bound on the float32 copy */
    local.max_abs_error = Ec;
    local.rel_error = 0;

    CZ_CHECK_GOTO(st, clz_writer_create(&w), done);
    root = api_header_new(c->name, NULL, "memory");
    json_t *e = NULL;
    CZ_CHECK_GOTO(st, api_compress_field(&local, opts, c, ds, 0, &cf, w, &e), done);
    json_object_del(e, "errors"); /* per-chunk statistics: not worth their bytes in a frame */
    json_array_append_new(json_object_get(root, "variables"), e);
    json_t *fr = json_object();
    json_object_set_new(fr, "max_abs_error", json_real(E));
    if (ctx->rel_error > 0) json_object_set_new(fr, "rel_error", json_real(ctx->rel_error));
    if (f->ndims >= 1 && f->ndims <= 4) json_object_set_new(fr, "ndims", json_integer(f->ndims));
    if (f->scale_factor != 0) {
        json_object_set_new(fr, "scale_factor", json_real(f->scale_factor));
        json_object_set_new(fr, "add_offset", json_real(f->add_offset));
    }
    json_object_set_new(root, "frame", fr);
    uint8_t const stored[2] = {0, 1};
    CZ_CHECK_GOTO(st, api_header_finish(ds, stored, root, w, &header), done);
    CZ_CHECK_GOTO(st, clz_writer_finish_mem(w, header, &img), done);
    CZ_CHECK_GOTO(st, frame_store(c->name, &img, dst, cap, written), done);
done:
    cz_buf_free(&img);
    free(cf.values);
    free(cf.miss);
    free(header);
    json_decref(root);
    clz_writer_free(w);
    io_free(ds);
    return api_fail(ctx, st);
}

/* An open frame: its container, header, data set and only variable. */
typedef struct frame {
    clz_reader *r;
    json_t *header, *entry;
    cz_dataset *ds;
    double scale, offset;
} frame;

static void frame_close(frame *fr) {
    json_decref(fr->header);
    clz_reader_free(fr->r);
    io_free(fr->ds);
}

static climz_status frame_open(const void *src, size_t size, frame *fr) {
    memset(fr, 0, sizeof *fr);
    CZ_RETURN_IF(!src, CLIMZ_ERR_INVALID_ARG, "no frame");
    CZ_FORWARD(api_open_clz_mem(src, size, &fr->r, &fr->header, &fr->ds));
    json_t *vars = json_object_get(fr->header, "variables");
    climz_status st = CLIMZ_OK;
    if (json_array_size(vars) != 1)
        st = cz_error(CLIMZ_ERR_UNSUPPORTED, "this .clz holds %zu coded variables, a frame one: open it with a reader",
                      json_array_size(vars));
    fr->entry = json_array_get(vars, 0);
    json_int_t const vi = json_integer_value(json_object_get(fr->entry, "index"));
    if (!st && (vi < 0 || vi >= fr->ds->nvars))
        st = cz_error(CLIMZ_ERR_CORRUPT, "the frame's header names variable %lld of %d", (long long)vi, fr->ds->nvars);
    if (!st && fr->ds->vars[vi].type != CZ_T_F32 && fr->ds->vars[vi].type != CZ_T_F64)
        st = cz_error(CLIMZ_ERR_UNSUPPORTED, "variable '%s' is stored as %s, not float or double: open it with a reader",
                      fr->ds->vars[vi].name, cz_dtype_name(fr->ds->vars[vi].type));
    json_t *jf = json_object_get(fr->header, "frame");
    fr->scale = json_real_value(json_object_get(jf, "scale_factor"));
    fr->offset = json_real_value(json_object_get(jf, "add_offset"));
    if (!st && !(isfinite(fr->scale) && isfinite(fr->offset)))
        st = cz_error(CLIMZ_ERR_CORRUPT, "the frame's packing is not finite");
    if (st) frame_close(fr);
    return st;
}

static const cz_var *frame_var(const frame *fr) {
    return &fr->ds->vars[json_integer_value(json_object_get(fr->entry, "index"))];
}

climz_status climz_frame_info(const void *src, size_t size, climz_field *out) {
    CZ_RETURN_IF(!out, CLIMZ_ERR_INVALID_ARG, "no output field");
    frame fr;
    CZ_FORWARD(frame_open(src, size, &fr));
    const cz_var *v = frame_var(&fr);
    json_t *shape = json_object_get(fr.entry, "shape");
    memset(out, 0, sizeof *out);
    out->type = v->type == CZ_T_F64 ? CLIMZ_FLOAT64 : CLIMZ_FLOAT32;
    size_t *const dims[4] = {&out->nt, &out->nz, &out->ny, &out->nx};
    climz_status st = CLIMZ_OK;
    for (size_t k = 0; k < 4; k++) {
        json_int_t const d = json_integer_value(json_array_get(shape, k));
        if (d <= 0) st = cz_error(CLIMZ_ERR_CORRUPT, "the frame's header has a malformed shape");
        *dims[k] = (size_t)d;
    }
    const cz_attr *fa = io_attr_find(v->atts, v->natts, "_FillValue");
    if (fa && fa->len == 1 && fa->type == v->type) {
        out->flags |= CLIMZ_FIELD_FILL;
        out->fill_value = fv_load(out->type, fa->data);
    }
    out->scale_factor = fr.scale;
    out->add_offset = fr.offset;
    json_int_t const nd = json_integer_value(json_object_get(json_object_get(fr.header, "frame"), "ndims"));
    out->ndims = nd >= 1 && nd <= 4 ? (int)nd : 0;
    frame_close(&fr);
    return st;
}

climz_status climz_decompress(climz_ctx *ctx, const void *src, size_t size, const climz_field *out) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    size_t n;
    CZ_FORWARD(api_fail(ctx, fv_check(out, &n)));
    frame fr;
    CZ_FORWARD(api_fail(ctx, frame_open(src, size, &fr)));
    cz_field cf = {0};
    climz_status st = CLIMZ_OK;
    int const tdim = api_find_time_dim(fr.ds, json_object_get(fr.header, "variables"));
    size_t const tlen = tdim >= 0 ? fr.ds->dims[tdim].len : 1;
    climz_decompress_opts const dopts = {.model = ctx->model};
    CZ_CHECK_GOTO(st, api_decode_field(ctx, fr.r, fr.ds, fr.entry, tdim, tlen, 0, tlen, &dopts, &cf), done);
    if (cf.nt != out->nt || cf.nz != out->nz || cf.ny != out->ny || cf.nx != out->nx)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_DIMENSION,
                     "the frame holds (%zu, %zu, %zu, %zu) points, the output field is (%zu, %zu, %zu, %zu)", cf.nt,
                     cf.nz, cf.ny, cf.nx, out->nt, out->nz, out->ny, out->nx);
    const cz_var *v = frame_var(&fr);
    climz_type const stored = v->type == CZ_T_F64 ? CLIMZ_FLOAT64 : CLIMZ_FLOAT32;
    const cz_attr *fa = io_attr_find(v->atts, v->natts, "_FillValue");
    int const has_fill = fa && fa->len == 1 && fa->type == v->type;
    fv_scatter_opts const so = {.specials = v, .stored = stored, .scale = fr.scale, .offset = fr.offset,
                                .has_fill = has_fill, .fill = has_fill ? fv_load(stored, fa->data) : 0};
    fv_scatter(&cf, &so, out);
done:
    io_field_free(&cf);
    frame_close(&fr);
    return api_fail(ctx, st);
}
