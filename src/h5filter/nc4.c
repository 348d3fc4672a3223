/* nc4.c — `climz compress --format nc4` (a netCDF-4 file whose gridded variables go through
 * the climz HDF5 filter) and `climz info` of an HDF5 / netCDF-4 file. See nc4.h. */
#include "h5filter/nc4.h"

#include "common/cz_common.h"
#include "h5filter/h5z_climz.h"
#include "io/dataset.h"

#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <netcdf.h>
#include <stdlib.h>
#include <string.h>

const char *h5c_last_error(void) { return cz_error_message(); }

int h5c_is_hdf5(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char b[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t const n = fread(b, 1, 8, f);
    fclose(f);
    return n == 8 && memcmp(b, sig, 8) == 0;
}

/* ---- writing --------------------------------------------------------------------------- */

/* The writer is io_write_netcdf(): here only each variable's storage is chosen (the climz
 * filter and its parameters, deflate, the chunk shape). */

_Static_assert(CLIMZ_H5_NUSER_MISS <= CZ_STORAGE_MAX_CD, "the filter's parameters fit in cz_storage");

static int selected(const h5c_nc4_opts *o, const char *name) {
    if (!o->vars) return 1;
    for (const char *const *v = o->vars; *v; v++)
        if (strcmp(*v, name) == 0 || strcmp(*v, io_base_name(name)) == 0) return 1;
    return 0;
}

/* the range of a variable's valid values (its specials and NaN excluded), slab by slab */
static climz_status var_range(const cz_dataset *ds, int vi, double *lo, double *hi) {
    size_t nt, nz, ny, nx;
    CZ_FORWARD(io_field_shape(ds, vi, &nt, &nz, &ny, &nx));
    *lo = INFINITY, *hi = -INFINITY;
    size_t const k = nz * ny * nx > ((size_t)1 << 24) ? 1 : 1 + ((size_t)1 << 24) / (nz * ny * nx);
    for (size_t t = 0; t < nt; t += k) {
        cz_field f = {0};
        CZ_FORWARD(io_load_field_times(ds, vi, t, t + k <= nt ? k : nt - t, &f));
        size_t const n = f.nt * f.nz * f.ny * f.nx;
        for (size_t i = 0; i < n; i++)
            if (!f.miss[i]) {
                *lo = f.values[i] < *lo ? f.values[i] : *lo;
                *hi = f.values[i] > *hi ? f.values[i] : *hi;
            }
        io_field_free(&f);
    }
    if (*lo > *hi) *lo = *hi = 0;
    return CLIMZ_OK;
}

/* Variable vi's storage: gridded float variables chosen get the climz filter, other gridded
 * ones deflate level 4 with shuffle, both chunked; the rest libnetcdf's default (a small
 * coordinate is smallest contiguous, whatever its layout in the source). *coded = 1 when the
 * climz filter was chosen. */
static climz_status plan_var(cz_dataset *ds, int vi, const h5c_nc4_opts *o, int *coded) {
    cz_var *v = &ds->vars[vi];
    *coded = 0;
    memset(&v->storage, 0, sizeof v->storage);
    size_t len[CZ_MAX_DIMS];
    for (int d = 0; d < v->ndims; d++) len[d] = ds->dims[v->dimids[d]].len;
    if (!v->is_grid || !selected(o, v->name) || v->ndims < 2) return CLIMZ_OK;
    for (int d = 0; d < v->ndims; d++)
        if (len[d] == 0) return CLIMZ_OK;
    cz_storage *p = &v->storage;
    p->set = p->chunked = 1;
    /* chunks: an explicit shape, or chunk_steps steps along a time axis and whole other dims */
    for (int d = 0; d < v->ndims; d++) p->chunk[d] = len[d];
    if (o->nchunk) {
        CZ_RETURN_IF(o->nchunk != v->ndims, CLIMZ_ERR_INVALID_ARG,
                     "--chunk gives %d sizes, variable %s has %d dims", o->nchunk, v->name, v->ndims);
        for (int d = 0; d < v->ndims; d++)
            if (o->chunk[d]) p->chunk[d] = o->chunk[d] < len[d] ? o->chunk[d] : len[d];
    } else if (io_var_has_time(ds, v)) {
        size_t const k = o->chunk_steps ? o->chunk_steps : 1;
        p->chunk[0] = k < len[0] ? k : len[0];
    }
    if (v->type != CZ_T_F32 && v->type != CZ_T_F64) {
        p->deflate = 4;
        p->shuffle = 1;
        return CLIMZ_OK;
    }
    double E = o->max_abs_error;
    if (o->rel_error > 0) {
        double lo, hi;
        CZ_FORWARD(var_range(ds, vi, &lo, &hi));
        E = o->rel_error * (hi - lo);
    }
    unsigned cd[CLIMZ_H5_NUSER_MISS];
    climz_h5_params(cd, o->codec, CLIMZ_H5_ABSOLUTE, E);
    p->ncd = CLIMZ_H5_NUSER;
    /* a missing_value without a _FillValue: it marks the missing points, not the default fill */
    const cz_attr *fa = io_attr_find(v->atts, v->natts, "_FillValue");
    const cz_attr *ma = io_attr_find(v->atts, v->natts, "missing_value");
    double mv;
    if (!fa && ma && ma->type == v->type && io_attr_number(ma, 0, &mv)) {
        climz_h5_put_double(cd + CLIMZ_H5_USER_MISS_LO, mv);
        p->ncd = CLIMZ_H5_NUSER_MISS;
    }
    memcpy(p->cd, cd, p->ncd * sizeof *cd);
    p->filter_id = H5Z_FILTER_CLIMZ;
    *coded = 1;
    return CLIMZ_OK;
}

climz_status h5c_write_nc4(const char *in_path, const char *out_path, const h5c_nc4_opts *o) {
    cz_error_clear();
    CZ_RETURN_IF(!in_path || !out_path || !o, CLIMZ_ERR_INVALID_ARG, "h5c_write_nc4: no input, output or options");
    CZ_RETURN_IF(o->codec > CLIMZ_H5_VAEFORMER, CLIMZ_ERR_INVALID_ARG, "unknown codec %u", o->codec);
    CZ_RETURN_IF(climz_h5z_register() < 0, CLIMZ_ERR_GENERIC, "HDF5 refused to register the climz filter");
    cz_dataset *ds = NULL;
    CZ_FORWARD(io_open_ex(in_path, IO_OPEN_LAZY, &ds));
    climz_status st = CLIMZ_OK;
    int ncoded = 0;
    for (int i = 0; i < ds->nvars && !st; i++) {
        int coded;
        st = plan_var(ds, i, o, &coded);
        ncoded += coded;
    }
    if (!st && o->vars && !ncoded)
        st = cz_error(CLIMZ_ERR_NOT_FOUND, "%s: none of the variables asked for is a gridded float "
                      "variable", ds->path);
    if (!st) {
        ds->format = CZ_FMT_NETCDF4;
        ds->nc_kind = NC_FORMAT_NETCDF4; /* groups, every type: not the classic model */
        st = io_write_netcdf(ds, out_path);
    }
    io_free(ds);
    return st;
}

/* ---- info ------------------------------------------------------------------------------- */

typedef struct ictx {
    json_t *vars;
    unsigned long long stored, raw; /* over the datasets the climz filter codes */
} ictx;

static const char *codec_name(unsigned c) { return c == CLIMZ_H5_RESIDUAL ? "residual" : c == CLIMZ_H5_VAEFORMER ? "vaeformer" : "?"; }

static void describe_filters(hid_t dcpl, json_t *e, int *uses_climz) {
    json_t *fl = json_array();
    int const nf = H5Pget_nfilters(dcpl);
    for (int k = 0; k < nf; k++) {
        unsigned flags = 0, cd[64] = {0}, fcfg = 0;
        size_t n = 64;
        char name[256] = "";
        H5Z_filter_t const id = H5Pget_filter2(dcpl, (unsigned)k, &flags, &n, cd, sizeof name, name, &fcfg);
        json_t *f = json_object();
        json_object_set_new(f, "id", json_integer(id));
        json_object_set_new(f, "name", json_string(id == H5Z_FILTER_DEFLATE ? "deflate" : id == H5Z_FILTER_SHUFFLE ? "shuffle" : id == 32013 ? "zfp" : id == 32015 ? "zstd" : name));
        json_t *params = json_array();
        for (size_t i = 0; i < n && i < 64; i++) json_array_append_new(params, json_integer(cd[i]));
        json_object_set_new(f, "cd_values", params);
        if (id == H5Z_FILTER_CLIMZ && n >= CLIMZ_H5_NUSER) {
            *uses_climz = 1;
            json_object_set_new(f, "name", json_string("climz"));
            json_object_set_new(f, "codec", json_string(codec_name(cd[CLIMZ_H5_CODEC])));
            double const b = climz_h5_get_double(cd + CLIMZ_H5_BOUND_LO);
            json_object_set_new(f, cd[CLIMZ_H5_MODE] == CLIMZ_H5_RELATIVE ? "rel_error_of_chunk_range" : "max_abs_error",
                                json_real(b));
            if (n >= CLIMZ_H5_NVALUES) {
                json_object_set_new(f, "element", json_string(cd[CLIMZ_H5_TYPE] == CLIMZ_FLOAT64 ? "float64" : "float32"));
                json_t *sh = json_array();
                for (int i = 0; i < 4; i++) json_array_append_new(sh, json_integer(cd[CLIMZ_H5_NT + i]));
                json_object_set_new(f, "chunk_tzyx", sh);
                if (cd[CLIMZ_H5_MISSING])
                    json_object_set_new(f, "missing_value", json_real(climz_h5_get_double(cd + CLIMZ_H5_MISS_VALUE_LO)));
            }
        }
        json_array_append_new(fl, f);
    }
    json_object_set_new(e, "filters", fl);
}

static herr_t visit_cb(hid_t obj, const char *name, const H5O_info_t *info, void *user) {
    ictx *c = user;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t const ds = H5Dopen2(obj, name, H5P_DEFAULT);
    if (ds < 0) return 0;
    hid_t const space = H5Dget_space(ds), type = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
    int const rank = H5Sget_simple_extent_dims(space, dims, NULL);
    size_t const esz = H5Tget_size(type);
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string(name));
    json_t *sh = json_array();
    unsigned long long npts = 1;
    for (int d = 0; d < rank; d++) {
        json_array_append_new(sh, json_integer((json_int_t)dims[d]));
        npts *= dims[d];
    }
    json_object_set_new(e, "shape", sh);
    json_object_set_new(e, "type", json_string(H5Tget_class(type) == H5T_FLOAT ? (esz == 8 ? "float64" : "float32")
                                               : H5Tget_class(type) == H5T_INTEGER ? "integer" : "other"));
    int uses = 0;
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        int const cr = H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk);
        json_t *ch = json_array();
        for (int d = 0; d < cr; d++) json_array_append_new(ch, json_integer((json_int_t)chunk[d]));
        json_object_set_new(e, "chunks", ch);
        hsize_t nch = 0;
        if (H5Dget_num_chunks(ds, space, &nch) >= 0) json_object_set_new(e, "stored_chunks", json_integer((json_int_t)nch));
    }
    describe_filters(dcpl, e, &uses);
    unsigned long long const stored = H5Dget_storage_size(ds), raw = npts * esz;
    json_object_set_new(e, "stored_bytes", json_integer((json_int_t)stored));
    json_object_set_new(e, "raw_bytes", json_integer((json_int_t)raw));
    if (stored) json_object_set_new(e, "ratio", json_real((double)raw / (double)stored));
    json_object_set_new(e, "climz", json_boolean(uses));
    if (uses) c->stored += stored, c->raw += raw;
    json_array_append_new(c->vars, e);
    H5Pclose(dcpl);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
    return 0;
}

climz_status h5c_info(const char *path, int json, FILE *out) {
    cz_error_clear();
    hid_t const f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CZ_RETURN_IF(f < 0, CLIMZ_ERR_IO, "%s: cannot open it as an HDF5 / netCDF-4 file", path);
    ictx c = {json_array(), 0, 0};
    herr_t const r = H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &c);
    H5Fclose(f);
    if (r < 0) {
        json_decref(c.vars);
        return cz_error(CLIMZ_ERR_IO, "%s: cannot list its datasets", path);
    }
    json_t *root = json_object();
    FILE *fp = fopen(path, "rb");
    long fsize = -1;
    if (fp && fseek(fp, 0, SEEK_END) == 0) fsize = ftell(fp);
    if (fp) fclose(fp);
    json_object_set_new(root, "file", json_string(path));
    json_object_set_new(root, "format", json_string("netcdf4/hdf5"));
    json_object_set_new(root, "file_bytes", json_integer(fsize));
    json_object_set_new(root, "climz_filter_id", json_integer(H5Z_FILTER_CLIMZ));
    json_object_set_new(root, "climz_stored_bytes", json_integer((json_int_t)c.stored));
    json_object_set_new(root, "climz_raw_bytes", json_integer((json_int_t)c.raw));
    if (c.stored) json_object_set_new(root, "climz_ratio", json_real((double)c.raw / (double)c.stored));
    json_object_set_new(root, "datasets", c.vars);
    if (json) {
        char *s = json_dumps(root, JSON_INDENT(2));
        if (s) fprintf(out, "%s\n", s);
        free(s);
        json_decref(root);
        return CLIMZ_OK;
    }
    fprintf(out, "%s: netCDF-4 / HDF5, %ld bytes; climz filter (ID %d, provisional) on %s\n", path, fsize,
            H5Z_FILTER_CLIMZ, c.stored ? "the variables marked *" : "no variable");
    if (c.stored)
        fprintf(out, "  climz-filtered data: %llu bytes stored for %llu raw, ratio %.2f\n", c.stored, c.raw,
                (double)c.raw / (double)c.stored);
    fprintf(out, "  %-2s%-24s %-18s %-18s %12s %9s  %s\n", "", "dataset", "shape", "chunks", "stored", "ratio",
            "filters");
    size_t k;
    json_t *e;
    json_array_foreach(c.vars, k, e) {
        char shape[64] = "", chunks[64] = "-", filt[512] = "";
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(e, "shape"), i, x) {
            size_t const l = strlen(shape);
            snprintf(shape + l, sizeof shape - l, "%s%lld", i ? "," : "", (long long)json_integer_value(x));
        }
        if (json_object_get(e, "chunks")) {
            chunks[0] = 0;
            json_array_foreach(json_object_get(e, "chunks"), i, x) {
                size_t const l = strlen(chunks);
                snprintf(chunks + l, sizeof chunks - l, "%s%lld", i ? "," : "", (long long)json_integer_value(x));
            }
        }
        json_array_foreach(json_object_get(e, "filters"), i, x) {
            size_t const l = strlen(filt);
            const char *nm = json_string_value(json_object_get(x, "name"));
            if (json_object_get(x, "codec")) {
                json_t *ab = json_object_get(x, "max_abs_error"), *rel = json_object_get(x, "rel_error_of_chunk_range");
                json_t *mv = json_object_get(x, "missing_value");
                char mvs[64] = "";
                if (mv) snprintf(mvs, sizeof mvs, ", missing %g", json_real_value(mv));
                snprintf(filt + l, sizeof filt - l, "%sclimz(%s, %s %g%s)", i ? " " : "",
                         json_string_value(json_object_get(x, "codec")), ab ? "max abs error" : "rel error of chunk range",
                         json_real_value(ab ? ab : rel), mvs);
            } else
                snprintf(filt + l, sizeof filt - l, "%s%s", i ? " " : "", nm ? nm : "?");
        }
        json_t *ratio = json_object_get(e, "ratio");
        char rs[32] = "-";
        if (ratio) snprintf(rs, sizeof rs, "%.2f", json_real_value(ratio));
        fprintf(out, "  %-2s%-24s %-18s %-18s %12lld %9s  %s\n", json_is_true(json_object_get(e, "climz")) ? "*" : "",
                json_string_value(json_object_get(e, "name")), shape, chunks,
                (long long)json_integer_value(json_object_get(e, "stored_bytes")), rs, filt[0] ? filt : "none");
    }
    json_decref(root);
    return CLIMZ_OK;
}
