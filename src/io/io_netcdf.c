/* io_netcdf.c — NetCDF-3/4 reading and writing through libnetcdf.
 *
 * READ ME FIRST
 *  - Reading loads everything: dims (groups' dims named "grp/dim"), attributes of every type
 *    (NC_STRING included), and every variable's values in the stored type. User-defined
 *    types (compound, vlen, enum, opaque) are refused with CLIMZ_ERR_UNSUPPORTED.
 *  - libnetcdf reads zeros past the end of a truncated NetCDF-3 file without an error, so a
 *    NetCDF-3 file is first checked against its own header (io_nc3_check_size).
 *  - Writing is atomic: a fresh temporary name beside the output (removed on any failure),
 *    renamed into place after nc_close() succeeded. Every libnetcdf return is checked; a full
 *    disk or a file-size limit gives CLIMZ_ERR_NO_SPACE.
 *  - Before writing, the free space of the output's file system and the process file-size
 *    limit are checked against the size of the values stored uncompressed (a lower bound of
 *    the file size): an output that cannot fit fails at once with CLIMZ_ERR_NO_SPACE.
 *  - NetCDF-4 is built in memory and written by cz_atomic_*: HDF5 never writes to the disk.
 *    When HDF5 1.10 (Debian bookworm) hits a full disk mid-write, nc_abort() crashes and a
 *    failed nc_close() leaves the file half closed in HDF5, which then crashes in its exit
 *    handler (issue 20); no cleanup through the HDF5 API avoids that. NC_DISKLESS (HDF5's
 *    core driver) is used, not nc_create_mem: the latter creates the file without link and
 *    attribute creation order, so names would come back sorted. The bytes come from
 *    core driver's buffer (see nc4_write_image). Memory: the whole output file, once.
 *  - A variable's cz_storage (chunks, deflate, shuffle, fletcher32, an HDF5 filter) is
 *    applied to NetCDF-4 output; the reader records it from a NetCDF-4 source.
 */
#include "io/io_readers.h"

#include <errno.h>
#include <stdatomic.h>
#include <hdf5.h>
#include <netcdf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- NetCDF-3 header check ----------------------------------------------------------- */

typedef struct be_rd {
    const uint8_t *p, *end;
    int short_read; /* ran past the buffer */
} be_rd;

static uint64_t be_u(be_rd *r, int n) {
    if (r->short_read || (size_t)(r->end - r->p) < (size_t)n) {
        r->short_read = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | r->p[i];
    r->p += n;
    return v;
}

static void be_skip(be_rd *r, uint64_t n) {
    if (r->short_read || (uint64_t)(r->end - r->p) < n) {
        r->short_read = 1;
        return;
    }
    r->p += n;
}

static uint64_t pad4(uint64_t n) { return (n + 3) & ~(uint64_t)3; }

static size_t nc3_type_size(uint64_t t) {
    switch (t) {
    case 1: case 2: case 7: return 1;
    case 3: case 8: return 2;
    case 4: case 5: case 9: return 4;
    case 6: case 10: case 11: return 8;
    default: return 0;
    }
}

typedef struct nc3_var {
    uint64_t begin, bytes; /* bytes of the whole variable, or of one record */
    int rec;
    char name[64];
} nc3_var;

/* Parses the header in buf[0, n). Returns 0 when it needs more bytes, 1 when parsed (*need
 * = bytes the data needs, *what = the variable that needs them), -1 when malformed. */
static int nc3_parse(const uint8_t *buf, size_t n, uint64_t *need, char *what, size_t wcap) {
    be_rd r = {buf, buf + n, 0};
    be_skip(&r, 3);
    int const ver = (int)be_u(&r, 1);
    int const nn = ver == 5 ? 8 : 4;           /* NON_NEG width */
    int const on = ver == 1 ? 4 : 8;           /* OFFSET width */
    uint64_t const numrecs = be_u(&r, nn);
    int const streaming = numrecs == (nn == 4 ? 0xffffffffull : ~0ull);
    /* dims */
    uint64_t dimlen[1024];
    uint64_t ndims = 0;
    uint64_t tag = be_u(&r, 4), cnt = be_u(&r, nn);
    if (tag == 0x0a) {
        ndims = cnt;
    } else if (tag != 0 || cnt != 0) {
        return r.short_read ? 0 : -1;
    }
    if (ndims > 1024) return -1;
    for (uint64_t i = 0; i < ndims; i++) {
        uint64_t const l = be_u(&r, nn);
        be_skip(&r, pad4(l));
        dimlen[i] = be_u(&r, nn);
    }
    /* global attributes */
    tag = be_u(&r, 4), cnt = be_u(&r, nn);
    if (tag != 0x0c && (tag != 0 || cnt != 0)) return r.short_read ? 0 : -1;
    for (uint64_t i = 0; i < (tag ? cnt : 0) && !r.short_read; i++) {
        uint64_t const l = be_u(&r, nn);
        be_skip(&r, pad4(l));
        size_t const ts = nc3_type_size(be_u(&r, 4));
        uint64_t const ne = be_u(&r, nn);
        if (!ts && !r.short_read) return -1;
        if (ne > UINT64_MAX / 8) return -1;
        be_skip(&r, pad4(ne * ts));
    }
    /* variables */
    tag = be_u(&r, 4), cnt = be_u(&r, nn);
    if (tag != 0x0b && (tag != 0 || cnt != 0)) return r.short_read ? 0 : -1;
    uint64_t const nvars = tag ? cnt : 0;
    uint64_t recsize = 0, nrecvars = 0, end = 0;
    nc3_var last_rec = {0, 0, 0, ""};
    nc3_var *vars = nvars && nvars < (1u << 24) ? calloc(nvars, sizeof *vars) : NULL;
    if (nvars && !vars) return -1;
    for (uint64_t i = 0; i < nvars && !r.short_read; i++) {
        nc3_var *v = &vars[i];
        uint64_t const l = be_u(&r, nn);
        if (!r.short_read && (uint64_t)(r.end - r.p) >= l)
            snprintf(v->name, sizeof v->name, "%.*s", (int)(l < 63 ? l : 63), (const char *)r.p);
        be_skip(&r, pad4(l));
        uint64_t const nd = be_u(&r, nn);
        if (nd > 1024) { free(vars); return r.short_read ? 0 : -1; }
        uint64_t count = 1;
        for (uint64_t d = 0; d < nd; d++) {
            uint64_t const id = be_u(&r, nn);
            if (r.short_read) break;
            if (id >= ndims) { free(vars); return -1; }
            if (d == 0 && dimlen[id] == 0) v->rec = 1;
            else if (dimlen[id] && count > UINT64_MAX / dimlen[id]) { free(vars); return -1; }
            else count *= dimlen[id];
        }
        uint64_t const atag = be_u(&r, 4), acnt = be_u(&r, nn);
        if (atag != 0x0c && (atag != 0 || acnt != 0) && !r.short_read) { free(vars); return -1; }
        for (uint64_t a = 0; a < (atag ? acnt : 0) && !r.short_read; a++) {
            uint64_t const al = be_u(&r, nn);
            be_skip(&r, pad4(al));
            size_t const ts = nc3_type_size(be_u(&r, 4));
            uint64_t const ne = be_u(&r, nn);
            if ((!ts || ne > UINT64_MAX / 8) && !r.short_read) { free(vars); return -1; }
            be_skip(&r, pad4(ne * ts));
        }
        size_t const ts = nc3_type_size(be_u(&r, 4));
        be_u(&r, nn); /* vsize: may be clipped in CDF-1/2, recomputed below */
        v->begin = be_u(&r, on);
        if (r.short_read) break;
        if (!ts || count > UINT64_MAX / 8) { free(vars); return -1; }
        v->bytes = count * ts;
        if (v->rec) {
            recsize += pad4(v->bytes);
            nrecvars++;
            last_rec = *v;
        }
    }
    if (r.short_read) {
        free(vars);
        return 0;
    }
    if (nrecvars == 1) recsize = last_rec.bytes; /* one record variable: records unpadded */
    for (uint64_t i = 0; i < nvars; i++) {
        const nc3_var *v = &vars[i];
        uint64_t e = v->begin;
        if (!v->rec) e += v->bytes;
        else if (streaming || numrecs == 0) continue;
        else e += (numrecs - 1) * recsize + v->bytes;
        if (e > end) {
            end = e;
            snprintf(what, wcap, "%s", v->name);
        }
    }
    free(vars);
    *need = end;
    return 1;
}

climz_status io_nc3_check_size(const char *path) {
    FILE *f = fopen(path, "rb");
    CZ_RETURN_IF(!f, CLIMZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return cz_error(CLIMZ_ERR_IO, "%s: cannot stat", path);
    }
    uint64_t const fsize = (uint64_t)st.st_size;
    size_t cap = 1 << 16;
    uint8_t *buf = NULL;
    climz_status s = CLIMZ_OK;
    for (;;) {
        size_t const want = fsize < cap ? (size_t)fsize : cap;
        uint8_t *nb = realloc(buf, want ? want : 1);
        if (!nb) { s = cz_error(CLIMZ_ERR_ALLOC, "out of memory"); break; }
        buf = nb;
        rewind(f);
        size_t const got = fread(buf, 1, want, f);
        if (got != want) { s = cz_error(CLIMZ_ERR_IO, "%s: read error", path); break; }
        uint64_t need = 0;
        char what[64] = "";
        int const p = nc3_parse(buf, got, &need, what, sizeof what);
        if (p < 0) {
            s = cz_error(CLIMZ_ERR_CORRUPT, "%s: corrupt NetCDF-3 header", path);
            break;
        }
        if (p == 0) {
            if (want == fsize) {
                s = cz_error(CLIMZ_ERR_CORRUPT, "%s: NetCDF file is truncated: it ends inside its "
                             "header (%llu bytes)", path, (unsigned long long)fsize);
                break;
            }
            cap *= 4;
            continue;
        }
        if (need > fsize)
            s = cz_error(CLIMZ_ERR_CORRUPT, "%s: NetCDF file is truncated: %llu bytes, but its "
                         "header places data of variable '%s' up to byte %llu", path,
                         (unsigned long long)fsize, what, (unsigned long long)need);
        break;
    }
    free(buf);
    fclose(f);
    return s;
}

/* ---- reading ------------------------------------------------------------------------- */

static climz_status nc_status(int e) {
    if (e > 0) return cz_status_from_errno(e);
    if (e == NC_ENOMEM) return CLIMZ_ERR_ALLOC;
    return CLIMZ_ERR_NETCDF;
}

/* message "<context>: <nc_strerror>" for libnetcdf error e */
static climz_status nc_err(int e, const char *path, const char *ctx, const char *name) {
    return cz_error(nc_status(e), "%s: %s%s%s: %s", path, ctx, name ? " " : "", name ? name : "",
                    nc_strerror(e));
}

static cz_dtype from_nc_type(nc_type t) {
    switch (t) {
    case NC_BYTE: return CZ_T_I8;
    case NC_UBYTE: return CZ_T_U8;
    case NC_CHAR: return CZ_T_CHAR;
    case NC_SHORT: return CZ_T_I16;
    case NC_USHORT: return CZ_T_U16;
    case NC_INT: return CZ_T_I32;
    case NC_UINT: return CZ_T_U32;
    case NC_INT64: return CZ_T_I64;
    case NC_UINT64: return CZ_T_U64;
    case NC_FLOAT: return CZ_T_F32;
    case NC_DOUBLE: return CZ_T_F64;
    case NC_STRING: return CZ_T_STRING;
    default: return CZ_T_NONE;
    }
}

int io_nc_type(cz_dtype t) {
    switch (t) {
    case CZ_T_I8: return NC_BYTE;
    case CZ_T_U8: return NC_UBYTE;
    case CZ_T_CHAR: return NC_CHAR;
    case CZ_T_I16: return NC_SHORT;
    case CZ_T_U16: return NC_USHORT;
    case CZ_T_I32: return NC_INT;
    case CZ_T_U32: return NC_UINT;
    case CZ_T_I64: return NC_INT64;
    case CZ_T_U64: return NC_UINT64;
    case CZ_T_F32: return NC_FLOAT;
    case CZ_T_F64: return NC_DOUBLE;
    case CZ_T_STRING: return NC_STRING;
    case CZ_T_NONE: break;
    }
    return NC_NAT;
}

typedef struct nc_rctx {
    const char *path;
    cz_dataset *ds;
    int *ncdim;   /* libnetcdf dim id of ds->dims[i] */
    int *usefill; /* per variable: fill mode on */
    int *grp, *varid; /* per variable: where it is in the file */
} nc_rctx;

/* bytes read or copied at a time when streaming a variable along its first dim */
#define IO_SLAB_BYTES ((size_t)64 << 20)

/* all attributes of (grp, varid) into *atts */
static climz_status read_atts(nc_rctx *c, int grp, int varid, const char *owner, cz_attr **atts,
                              int *natts) {
    int n = 0, e;
    if (varid == NC_GLOBAL) e = nc_inq_natts(grp, &n);
    else e = nc_inq_varnatts(grp, varid, &n);
    if (e) return nc_err(e, c->path, "attributes of", owner);
    for (int i = 0; i < n; i++) {
        char name[NC_MAX_NAME + 1];
        nc_type t;
        size_t len;
        if ((e = nc_inq_attname(grp, varid, i, name)) || (e = nc_inq_att(grp, varid, name, &t, &len)))
            return nc_err(e, c->path, "attribute of", owner);
        cz_dtype const ct = from_nc_type(t);
        CZ_RETURN_IF(ct == CZ_T_NONE, CLIMZ_ERR_UNSUPPORTED, "%s: attribute %s of %s has a "
                     "user-defined type (compound, vlen, enum or opaque), which climz does not "
                     "read", c->path, name, owner);
        if (ct == CZ_T_STRING) {
            char **s = cz_calloc(len ? len : 1, sizeof *s);
            CZ_RETURN_IF(!s, CLIMZ_ERR_ALLOC, "out of memory");
            if ((e = nc_get_att_string(grp, varid, name, s))) {
                free(s);
                return nc_err(e, c->path, "reading attribute", name);
            }
            climz_status const st = io_attr_set(atts, natts, name, ct, len, s);
            nc_free_string(len, s);
            free(s);
            CZ_FORWARD(st);
            continue;
        }
        size_t const es = cz_dtype_size(ct);
        void *d = cz_malloc(len * es + 1);
        CZ_RETURN_IF(!d, CLIMZ_ERR_ALLOC, "out of memory");
        if ((e = nc_get_att(grp, varid, name, d))) {
            free(d);
            return nc_err(e, c->path, "reading attribute", name);
        }
        climz_status const st = io_attr_set(atts, natts, name, ct, len, d);
        free(d);
        CZ_FORWARD(st);
    }
    return CLIMZ_OK;
}

static int cmp_int(const void *a, const void *b) {
    int const x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int ds_dim_of(const nc_rctx *c, int ncdim) {
    for (int i = 0; i < c->ds->ndims; i++)
        if (c->ncdim[i] == ncdim) return i;
    return -1;
}

/* the NetCDF-4 layout of (grp, varid): chunking, deflate, shuffle, fletcher32 (other filters
 * are not carried: a decoded file has no use for them) */
static climz_status read_storage(nc_rctx *c, int grp, int varid, const char *name, cz_storage *s) {
    memset(s, 0, sizeof *s);
    if (c->ds->format != CZ_FMT_NETCDF4) return CLIMZ_OK;
    int layout = NC_CONTIGUOUS, shuffle = 0, deflate = 0, level = 0, f32 = 0, e;
    size_t chunk[NC_MAX_VAR_DIMS];
    if ((e = nc_inq_var_chunking(grp, varid, &layout, chunk)) ||
        (e = nc_inq_var_deflate(grp, varid, &shuffle, &deflate, &level)) ||
        (e = nc_inq_var_fletcher32(grp, varid, &f32)))
        return nc_err(e, c->path, "storage of variable", name);
    s->set = 1;
    s->chunked = layout == NC_CHUNKED;
    if (s->chunked)
        for (int d = 0; d < c->ds->vars[c->ds->nvars - 1].ndims; d++) s->chunk[d] = chunk[d];
    s->deflate = deflate ? level : 0;
    s->shuffle = shuffle != 0;
    s->fletcher32 = f32 != 0;
    return CLIMZ_OK;
}

static climz_status read_var(nc_rctx *c, int grp, int varid, const char *prefix) {
    char name[NC_MAX_NAME + 1], full[2 * NC_MAX_NAME + 512];
    nc_type t;
    int nd, e;
    if ((e = nc_inq_varname(grp, varid, name)) || (e = nc_inq_varndims(grp, varid, &nd)) ||
        (e = nc_inq_vartype(grp, varid, &t)))
        return nc_err(e, c->path, "variable", NULL);
    snprintf(full, sizeof full, "%s%s", prefix, name);
    CZ_RETURN_IF(nd > CZ_MAX_DIMS, CLIMZ_ERR_UNSUPPORTED, "%s: variable %s has %d dimensions "
                 "(climz reads at most %d)", c->path, full, nd, CZ_MAX_DIMS);
    cz_dtype const ct = from_nc_type(t);
    CZ_RETURN_IF(ct == CZ_T_NONE, CLIMZ_ERR_UNSUPPORTED, "%s: variable %s has a user-defined type "
                 "(compound, vlen, enum or opaque), which climz does not read", c->path, full);
    int ncd[NC_MAX_VAR_DIMS], dims[CZ_MAX_DIMS];
    if ((e = nc_inq_vardimid(grp, varid, ncd))) return nc_err(e, c->path, "variable", full);
    for (int d = 0; d < nd; d++) {
        dims[d] = ds_dim_of(c, ncd[d]);
        CZ_RETURN_IF(dims[d] < 0, CLIMZ_ERR_CORRUPT, "%s: variable %s uses an unknown dimension",
                     c->path, full);
    }
    int vi;
    CZ_FORWARD(io_var_add(c->ds, full, ct, nd, dims, &vi));
    int *uf = cz_realloc(c->usefill, ((size_t)vi + 1) * sizeof *uf);
    if (uf) c->usefill = uf;
    int *gr = cz_realloc(c->grp, ((size_t)vi + 1) * sizeof *gr);
    if (gr) c->grp = gr;
    int *vr = cz_realloc(c->varid, ((size_t)vi + 1) * sizeof *vr);
    if (vr) c->varid = vr;
    CZ_RETURN_IF(!uf || !gr || !vr, CLIMZ_ERR_ALLOC, "out of memory");
    int no_fill = 0;
    if (nc_inq_var_fill(grp, varid, &no_fill, NULL) != NC_NOERR) no_fill = 0;
    uf[vi] = !no_fill;
    gr[vi] = grp;
    vr[vi] = varid;
    cz_var *v = &c->ds->vars[vi];
    CZ_FORWARD(read_storage(c, grp, varid, full, &v->storage));
    return read_atts(c, grp, varid, full, &v->atts, &v->natts);
}

/* all values of variable vi into v->raw */
static climz_status load_var(nc_rctx *c, int vi) {
    cz_var *v = &c->ds->vars[vi];
    int const grp = c->grp[vi], varid = c->varid[vi];
    int e;
    size_t const n = io_var_count(c->ds, v);
    size_t const es = cz_dtype_size(v->type);
    size_t bytes;
    CZ_RETURN_IF(!cz_mul_ok(n, es, &bytes), CLIMZ_ERR_ALLOC, "%s: variable %s is too large", c->path, v->name);
    void *raw = cz_calloc(1, bytes ? bytes : 1);
    CZ_RETURN_IF(!raw, CLIMZ_ERR_ALLOC, "%s: out of memory reading variable %s (%zu bytes)",
                 c->path, v->name, bytes);
    v->raw = raw;
    if (n == 0) return CLIMZ_OK;
    if (v->type == CZ_T_STRING) {
        char **tmp = cz_calloc(n, sizeof *tmp);
        CZ_RETURN_IF(!tmp, CLIMZ_ERR_ALLOC, "out of memory");
        if ((e = nc_get_var_string(grp, varid, tmp))) {
            free(tmp);
            return nc_err(e, c->path, "reading variable", v->name);
        }
        climz_status st = CLIMZ_OK;
        for (size_t k = 0; k < n && !st; k++) {
            ((char **)raw)[k] = cz_strdup(tmp[k] ? tmp[k] : "");
            if (!((char **)raw)[k]) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        }
        nc_free_string(n, tmp);
        free(tmp);
        return st;
    }
    if ((e = nc_get_var(grp, varid, raw))) return nc_err(e, c->path, "reading variable", v->name);
    return CLIMZ_OK;
}

/* start/count of the slab [t, t+k) along the first dim of v (whole other dims); returns the
 * number of elements of one step of the first dim */
static size_t slab(const cz_dataset *ds, const cz_var *v, size_t t, size_t k, size_t *start,
                   size_t *count) {
    size_t rec = 1;
    for (int d = 0; d < v->ndims; d++) {
        start[d] = 0;
        count[d] = ds->dims[v->dimids[d]].len;
        if (d) rec *= count[d];
    }
    if (v->ndims) start[0] = t, count[0] = k;
    return rec;
}

/* steps of the first dim that fit in IO_SLAB_BYTES (at least 1) */
static size_t slab_steps(const cz_dataset *ds, const cz_var *v) {
    size_t start[CZ_MAX_DIMS], count[CZ_MAX_DIMS];
    size_t const rec = slab(ds, v, 0, 1, start, count) * cz_dtype_size(v->type);
    return rec && rec < IO_SLAB_BYTES ? IO_SLAB_BYTES / rec : 1;
}

/* the specials of a variable left on disk, in one streaming pass */
static climz_status scan_lazy(nc_rctx *c, int vi) {
    cz_var *v = &c->ds->vars[vi];
    size_t const len0 = c->ds->dims[v->dimids[0]].len, k = slab_steps(c->ds, v);
    size_t start[CZ_MAX_DIMS], count[CZ_MAX_DIMS];
    size_t const rec = slab(c->ds, v, 0, 1, start, count);
    void *buf = cz_malloc((k < len0 ? k : len0 ? len0 : 1) * (rec ? rec : 1) * cz_dtype_size(v->type));
    CZ_RETURN_IF(!buf, CLIMZ_ERR_ALLOC, "%s: out of memory scanning %s", c->path, v->name);
    io_scan s;
    io_scan_begin(&s, v, c->usefill[vi]);
    for (size_t t = 0; t < len0; t += k) {
        size_t const m = len0 - t < k ? len0 - t : k;
        slab(c->ds, v, t, m, start, count);
        int const e = rec ? nc_get_vara(c->grp[vi], c->varid[vi], start, count, buf) : 0;
        if (e) {
            free(buf);
            return nc_err(e, c->path, "reading variable", v->name);
        }
        io_scan_chunk(&s, buf, m * rec);
    }
    io_scan_end(&s, v);
    free(buf);
    return CLIMZ_OK;
}

/* the group and variable ids of ds variable `name` in the open file ncid */
static int find_nc_var(int ncid, const char *name, int *grp, int *varid) {
    const char *b = io_base_name(name);
    int e = 0;
    *grp = ncid;
    if (b != name) {
        char full[2 * NC_MAX_NAME + 512];
        snprintf(full, sizeof full, "/%.*s", (int)(b - name - 1), name);
        if ((e = nc_inq_grp_full_ncid(ncid, full, grp))) return e;
    }
    return nc_inq_varid(*grp, b, varid);
}

/* io_source_ops.read_steps of a lazily opened NetCDF file: reopens ds->path (no state) */
static climz_status nc_read_steps(const cz_dataset *ds, void *ctx, int var, size_t t0, size_t nt,
                                  void *buf) {
    (void)ctx;
    const cz_var *v = &ds->vars[var];
    CZ_RETURN_IF(!ds->path || (ds->format != CZ_FMT_NETCDF3 && ds->format != CZ_FMT_NETCDF4),
                 CLIMZ_ERR_INVALID_ARG, "variable '%s' has no values and no NetCDF source", v->name);
    int ncid, grp, varid, e;
    if ((e = nc_open(ds->path, NC_NOWRITE, &ncid))) return nc_err(e, ds->path, "reopening", NULL);
    size_t start[CZ_MAX_DIMS], count[CZ_MAX_DIMS];
    if (io_var_has_time(ds, v)) slab(ds, v, t0, nt, start, count);
    else slab(ds, v, 0, v->ndims ? ds->dims[v->dimids[0]].len : 1, start, count);
    if (!(e = find_nc_var(ncid, v->name, &grp, &varid))) e = nc_get_vara(grp, varid, start, count, buf);
    nc_close(ncid);
    if (e) return nc_err(e, ds->path, "reading variable", v->name);
    return CLIMZ_OK;
}

static const io_source_ops nc_source = {nc_read_steps, NULL};

static climz_status read_group(nc_rctx *c, int grp, const char *prefix, int gidx) {
    int nd = 0, e;
    if ((e = nc_inq_dimids(grp, &nd, NULL, 0))) return nc_err(e, c->path, "dimensions", NULL);
    int *ids = cz_malloc(((size_t)nd + 1) * sizeof *ids);
    int nu = 0;
    int *unl = NULL;
    CZ_RETURN_IF(!ids, CLIMZ_ERR_ALLOC, "out of memory");
    climz_status st = CLIMZ_OK;
    if ((e = nc_inq_dimids(grp, &nd, ids, 0)) || (e = nc_inq_unlimdims(grp, &nu, NULL)))
        CZ_FAIL_GOTO(st, done, nc_status(e), "%s: dimensions: %s", c->path, nc_strerror(e));
    unl = cz_malloc(((size_t)nu + 1) * sizeof *unl);
    if (!unl) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    if ((e = nc_inq_unlimdims(grp, &nu, unl)))
        CZ_FAIL_GOTO(st, done, nc_status(e), "%s: dimensions: %s", c->path, nc_strerror(e));
    qsort(ids, (size_t)nd, sizeof *ids, cmp_int); /* creation order */
    for (int i = 0; i < nd; i++) {
        char name[NC_MAX_NAME + 1], full[2 * NC_MAX_NAME + 512];
        size_t len;
        if ((e = nc_inq_dim(grp, ids[i], name, &len)))
            CZ_FAIL_GOTO(st, done, nc_status(e), "%s: dimension: %s", c->path, nc_strerror(e));
        snprintf(full, sizeof full, "%s%s", prefix, name);
        int unlimited = 0;
        for (int k = 0; k < nu; k++) unlimited |= unl[k] == ids[i];
        int di;
        CZ_CHECK_GOTO(st, io_dim_add(c->ds, full, len, unlimited, &di), done);
        int *m = cz_realloc(c->ncdim, ((size_t)di + 1) * sizeof *m);
        if (!m) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
        c->ncdim = m;
        m[di] = ids[i];
    }
    free(ids);
    ids = NULL;

    int nv = 0;
    if ((e = nc_inq_varids(grp, &nv, NULL)))
        CZ_FAIL_GOTO(st, done, nc_status(e), "%s: variables: %s", c->path, nc_strerror(e));
    ids = cz_malloc(((size_t)nv + 1) * sizeof *ids);
    if (!ids) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    if ((e = nc_inq_varids(grp, &nv, ids)))
        CZ_FAIL_GOTO(st, done, nc_status(e), "%s: variables: %s", c->path, nc_strerror(e));
    for (int i = 0; i < nv; i++) CZ_CHECK_GOTO(st, read_var(c, grp, ids[i], prefix), done);
    free(ids);
    ids = NULL;

    if (gidx < 0) {
        CZ_CHECK_GOTO(st, read_atts(c, grp, NC_GLOBAL, "the file", &c->ds->gatts, &c->ds->ngatts), done);
    } else {
        cz_group *g = &c->ds->groups[gidx];
        CZ_CHECK_GOTO(st, read_atts(c, grp, NC_GLOBAL, g->name, &g->atts, &g->natts), done);
    }

    int ng = 0;
    if ((e = nc_inq_grps(grp, &ng, NULL)))
        CZ_FAIL_GOTO(st, done, nc_status(e), "%s: groups: %s", c->path, nc_strerror(e));
    ids = cz_malloc(((size_t)ng + 1) * sizeof *ids);
    if (!ids) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    if ((e = nc_inq_grps(grp, &ng, ids)))
        CZ_FAIL_GOTO(st, done, nc_status(e), "%s: groups: %s", c->path, nc_strerror(e));
    for (int i = 0; i < ng; i++) {
        char name[NC_MAX_NAME + 1], full[2 * NC_MAX_NAME + 512];
        if ((e = nc_inq_grpname(ids[i], name)))
            CZ_FAIL_GOTO(st, done, nc_status(e), "%s: group: %s", c->path, nc_strerror(e));
        snprintf(full, sizeof full, "%s%s", prefix, name);
        int gi;
        CZ_CHECK_GOTO(st, io_group_add(c->ds, full, &gi), done);
        strcat(full, "/");
        CZ_CHECK_GOTO(st, read_group(c, ids[i], full, gi), done);
    }
done:
    free(ids);
    free(unl);
    return st;
}

climz_status io_read_netcdf(const char *path, cz_dataset *ds, int lazy) {
    if (ds->format == CZ_FMT_NETCDF3) CZ_FORWARD(io_nc3_check_size(path));
    int ncid, e;
    if ((e = nc_open(path, NC_NOWRITE, &ncid))) {
        if (e > 0 || e == NC_ENOMEM) return nc_err(e, path, "cannot open", NULL);
        return cz_error(CLIMZ_ERR_CORRUPT, "%s: cannot open as NetCDF (truncated or corrupt?): %s",
                        path, nc_strerror(e));
    }
    nc_rctx c = {path, ds, NULL, NULL, NULL, NULL};
    int kind = 0;
    climz_status st = CLIMZ_OK;
    if ((e = nc_inq_format(ncid, &kind)))
        CZ_FAIL_GOTO(st, done, nc_status(e), "%s: %s", path, nc_strerror(e));
    ds->nc_kind = kind;
    ds->format = kind == NC_FORMAT_NETCDF4 || kind == NC_FORMAT_NETCDF4_CLASSIC ? CZ_FMT_NETCDF4
                                                                                : CZ_FMT_NETCDF3;
    CZ_CHECK_GOTO(st, read_group(&c, ncid, "", -1), done);
    io_classify(ds);
    /* gridded variables stay on disk when lazy; everything else is small and loaded */
    ds->lazy = lazy != 0;
    if (lazy) ds->source = &nc_source;
    for (int i = 0; i < ds->nvars && !st; i++) {
        if (lazy && ds->vars[i].is_grid) {
            if (lazy & IO_OPEN_NO_SCAN) { /* the caller scans the pieces it reads */
                io_scan s;
                io_scan_begin(&s, &ds->vars[i], c.usefill[i]);
                io_scan_end(&s, &ds->vars[i]); /* the declared specials, until io_specials_set */
                ds->vars[i].scan_pending = c.usefill[i] ? 2 : 1;
            } else st = scan_lazy(&c, i);
        } else {
            st = load_var(&c, i);
            if (!st) st = io_scan_specials(ds, i, c.usefill[i]);
        }
    }
done:
    nc_close(ncid);
    free(c.ncdim);
    free(c.usefill);
    free(c.grp);
    free(c.varid);
    return st;
}

/* ---- writing ------------------------------------------------------------------------- */

typedef struct nc_wctx {
    const char *path;  /* final path, for messages */
    int ncid;
    int classic;       /* no groups, no NC_STRING */
    char **gpath;      /* groups created so far and their ids */
    int *gid;
    int ng;
} nc_wctx;

/* the deepest message of HDF5's error stack, or the one an HDF5 filter (climz's) pushed */
static herr_t h5_message_cb(unsigned n, const H5E_error2_t *e, void *user) {
    (void)n;
    char *out = user;
    if (e->desc && strncmp(out, "climz filter:", 13) != 0) snprintf(out, 512, "%s", e->desc);
    return 0;
}

static climz_status nc_werr(int e, const nc_wctx *w, const char *what, const char *name) {
    int const sys = errno;
    climz_status code = nc_status(e);
    if (e < 0 && e != NC_ENOMEM && (sys == ENOSPC || sys == EFBIG
#ifdef EDQUOT
                                    || sys == EDQUOT
#endif
                                    ))
        code = CLIMZ_ERR_NO_SPACE;
    char h5[512] = "";
    if (!w->classic && (e == NC_EHDFERR || e == NC_EFILTER))
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_message_cb, h5);
    return cz_error(code, "%s: %s%s%s: %s%s%s", w->path, what, name ? " " : "", name ? name : "",
                    nc_strerror(e), h5[0] ? ": " : "", h5);
}

/* the libnetcdf id of group `path` (first plen bytes), created on first use */
static climz_status group_id(nc_wctx *w, const char *path, size_t plen, int *id) {
    if (plen == 0) {
        *id = w->ncid;
        return CLIMZ_OK;
    }
    for (int i = 0; i < w->ng; i++)
        if (strlen(w->gpath[i]) == plen && memcmp(w->gpath[i], path, plen) == 0) {
            *id = w->gid[i];
            return CLIMZ_OK;
        }
    CZ_RETURN_IF(w->classic, CLIMZ_ERR_UNSUPPORTED, "%s: groups need NetCDF-4 output", w->path);
    size_t pl = plen;
    while (pl > 0 && path[pl - 1] != '/') pl--;
    int parent;
    CZ_FORWARD(group_id(w, path, pl ? pl - 1 : 0, &parent));
    char name[NC_MAX_NAME + 1];
    CZ_RETURN_IF(plen - pl > NC_MAX_NAME, CLIMZ_ERR_INVALID_ARG, "%s: group name too long", w->path);
    memcpy(name, path + pl, plen - pl);
    name[plen - pl] = 0;
    int g, e;
    if ((e = nc_def_grp(parent, name, &g))) return nc_werr(e, w, "defining group", name);
    char **gp = cz_realloc(w->gpath, ((size_t)w->ng + 1) * sizeof *gp);
    if (gp) w->gpath = gp;
    int *gi = cz_realloc(w->gid, ((size_t)w->ng + 1) * sizeof *gi);
    if (gi) w->gid = gi;
    CZ_RETURN_IF(!gp || !gi, CLIMZ_ERR_ALLOC, "out of memory");
    gp[w->ng] = cz_malloc(plen + 1);
    CZ_RETURN_IF(!gp[w->ng], CLIMZ_ERR_ALLOC, "out of memory");
    memcpy(gp[w->ng], path, plen);
    gp[w->ng][plen] = 0;
    gi[w->ng++] = g;
    *id = g;
    return CLIMZ_OK;
}

static size_t prefix_len(const char *name) {
    const char *s = strrchr(name, '/');
    return s ? (size_t)(s - name) : 0;
}

static climz_status put_atts(nc_wctx *w, int grp, int varid, const cz_attr *a, int n,
                             const char *owner) {
    for (int i = 0; i < n; i++) {
        int e;
        if (a[i].type == CZ_T_STRING && w->classic) {
            /* classic files have no NC_STRING: the strings joined by newlines as text */
            size_t tot = 1;
            for (size_t k = 0; k < a[i].len; k++) tot += strlen(((char **)a[i].data)[k]) + 1;
            char *s = cz_malloc(tot);
            CZ_RETURN_IF(!s, CLIMZ_ERR_ALLOC, "out of memory");
            s[0] = 0;
            for (size_t k = 0; k < a[i].len; k++) {
                if (k) strcat(s, "\n");
                strcat(s, ((char **)a[i].data)[k]);
            }
            e = nc_put_att_text(grp, varid, a[i].name, strlen(s), s);
            free(s);
        } else if (a[i].type == CZ_T_STRING) {
            e = nc_put_att_string(grp, varid, a[i].name, a[i].len, (const char **)a[i].data);
        } else {
            nc_type const t = io_nc_type(a[i].type);
            CZ_RETURN_IF(t == NC_NAT, CLIMZ_ERR_INVALID_ARG, "%s: attribute %s of %s has no type",
                         w->path, a[i].name, owner);
            e = nc_put_att(grp, varid, a[i].name, t, a[i].len, a[i].data);
        }
        if (e) {
            char what[600];
            snprintf(what, sizeof what, "writing attribute %s of", a[i].name);
            return nc_werr(e, w, what, owner);
        }
    }
    return CLIMZ_OK;
}

/* v->storage in the file (NetCDF-4 only; after the attributes, so that a filter's set_local
 * callback sees _FillValue). Nothing known: libnetcdf's default. */
static climz_status def_storage(nc_wctx *w, const cz_dataset *ds, const cz_var *v, int grp, int varid) {
    const cz_storage *s = &v->storage;
    if (!s->set || w->classic || v->ndims == 0) return CLIMZ_OK;
    size_t chunk[CZ_MAX_DIMS];
    for (int d = 0; d < v->ndims; d++) {
        const cz_dim *dim = &ds->dims[v->dimids[d]];
        if (!dim->unlimited && dim->len == 0) return CLIMZ_OK; /* no chunk fits: default */
        chunk[d] = s->chunk[d] ? s->chunk[d] : 1;
        if (!dim->unlimited && chunk[d] > dim->len) chunk[d] = dim->len;
    }
    int e = 0;
    if (s->chunked) e = nc_def_var_chunking(grp, varid, NC_CHUNKED, chunk);
    if (!e && (s->deflate || s->shuffle)) e = nc_def_var_deflate(grp, varid, s->shuffle, s->deflate > 0, s->deflate);
    if (!e && s->filter_id) e = nc_def_var_filter(grp, varid, s->filter_id, s->ncd, s->cd);
    if (!e && s->fletcher32) e = nc_def_var_fletcher32(grp, varid, NC_FLETCHER32);
    return e ? nc_werr(e, w, "setting the storage (chunks, filters) of variable", v->name) : CLIMZ_OK;
}

static int is_classic_type(cz_dtype t) {
    return t == CZ_T_I8 || t == CZ_T_CHAR || t == CZ_T_I16 || t == CZ_T_I32 || t == CZ_T_F32 ||
           t == CZ_T_F64;
}

/* copies variable vi of a lazily opened ds from its source file, slab by slab */
static climz_status copy_lazy(nc_wctx *w, const cz_dataset *ds, int vi, int dgrp, int dvar) {
    const cz_var *v = &ds->vars[vi];
    int src, sgrp, svar, e;
    if ((e = nc_open(ds->path, NC_NOWRITE, &src))) return nc_err(e, ds->path, "reopening", NULL);
    climz_status st = CLIMZ_OK;
    size_t start[CZ_MAX_DIMS], count[CZ_MAX_DIMS];
    size_t const len0 = ds->dims[v->dimids[0]].len, c0 = v->storage.chunked ? v->storage.chunk[0] : 1;
    size_t k = slab_steps(ds, v);
    if (c0 > 1) k = k < c0 ? c0 : k / c0 * c0; /* whole chunks: each goes through its filters once */
    size_t const rec = slab(ds, v, 0, 1, start, count);
    void *buf = cz_malloc((k < len0 ? k : len0) * rec * cz_dtype_size(v->type));
    if (!buf) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory copying %s", v->name);
    if ((e = find_nc_var(src, v->name, &sgrp, &svar))) {
        st = nc_err(e, ds->path, "finding variable", v->name);
        goto done;
    }
    for (size_t t = 0; t < len0; t += k) {
        size_t const m = len0 - t < k ? len0 - t : k;
        slab(ds, v, t, m, start, count);
        if ((e = nc_get_vara(sgrp, svar, start, count, buf))) {
            st = nc_err(e, ds->path, "reading variable", v->name);
            goto done;
        }
        errno = 0;
        if ((e = nc_put_vara(dgrp, dvar, start, count, buf))) {
            st = nc_werr(e, w, "writing variable", v->name);
            goto done;
        }
    }
done:
    free(buf);
    nc_close(src);
    return st;
}

static climz_status write_all(nc_wctx *w, const cz_dataset *ds, int *ncdim, int *ncvar, int *vgrp) {
    int e;
    if (w->classic) {
        int old;
        /* every value is written below, so prefilling would only cost time */
        if ((e = nc_set_fill(w->ncid, NC_NOFILL, &old))) return nc_werr(e, w, "set fill", NULL);
    }
    for (int g = 0; g < ds->ngroups; g++) {
        int id;
        CZ_FORWARD(group_id(w, ds->groups[g].name, strlen(ds->groups[g].name), &id));
    }
    for (int i = 0; i < ds->ndims; i++) {
        const cz_dim *d = &ds->dims[i];
        int g;
        CZ_FORWARD(group_id(w, d->name, prefix_len(d->name), &g));
        if ((e = nc_def_dim(g, io_base_name(d->name), d->unlimited ? NC_UNLIMITED : d->len, &ncdim[i])))
            return nc_werr(e, w, "defining dimension", d->name);
    }
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *v = &ds->vars[i];
        int g, dims[CZ_MAX_DIMS];
        CZ_FORWARD(group_id(w, v->name, prefix_len(v->name), &g));
        for (int d = 0; d < v->ndims; d++) dims[d] = ncdim[v->dimids[d]];
        nc_type const t = io_nc_type(v->type);
        CZ_RETURN_IF(t == NC_NAT, CLIMZ_ERR_INVALID_ARG, "%s: variable %s has no type", w->path, v->name);
        if ((e = nc_def_var(g, io_base_name(v->name), t, v->ndims, dims, &ncvar[i])))
            return nc_werr(e, w, "defining variable", v->name);
        vgrp[i] = g;
        /* attributes in their order; _FillValue among them, before enddef / any data */
        CZ_FORWARD(put_atts(w, g, ncvar[i], v->atts, v->natts, v->name));
        CZ_FORWARD(def_storage(w, ds, v, g, ncvar[i]));
    }
    CZ_FORWARD(put_atts(w, w->ncid, NC_GLOBAL, ds->gatts, ds->ngatts, "the file"));
    for (int g = 0; g < ds->ngroups; g++) {
        int id;
        CZ_FORWARD(group_id(w, ds->groups[g].name, strlen(ds->groups[g].name), &id));
        CZ_FORWARD(put_atts(w, id, NC_GLOBAL, ds->groups[g].atts, ds->groups[g].natts, ds->groups[g].name));
    }
    if ((e = nc_enddef(w->ncid))) return nc_werr(e, w, "ending define mode", NULL);
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *v = &ds->vars[i];
        size_t start[CZ_MAX_DIMS] = {0}, count[CZ_MAX_DIMS];
        size_t n = 1;
        for (int d = 0; d < v->ndims; d++) n *= count[d] = ds->dims[v->dimids[d]].len;
        if (n == 0) continue;
        if (!v->raw) { /* lazily opened: copied from the source */
            CZ_FORWARD(copy_lazy(w, ds, i, vgrp[i], ncvar[i]));
            continue;
        }
        /* nc_put_vara with explicit counts: nc_put_var would write no record of a record
         * variable in a file that has none yet */
        if (v->type == CZ_T_STRING)
            e = nc_put_vara_string(vgrp[i], ncvar[i], start, count, (const char **)v->raw);
        else
            e = nc_put_vara(vgrp[i], ncvar[i], start, count, v->raw);
        if (e) return nc_werr(e, w, "writing variable", v->name);
    }
    return CLIMZ_OK;
}

/* fails with CLIMZ_ERR_NO_SPACE when `need` bytes cannot fit beside path: free space of the
 * file system, or the process file-size limit (an early refusal; writes are checked anyway) */
static climz_status check_room(const char *path, uint64_t need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        return cz_error(CLIMZ_ERR_NO_SPACE, "%s: the output needs at least %llu bytes, over the "
                        "file-size limit of %llu", path, (unsigned long long)need,
                        (unsigned long long)rl.rlim_cur);
    char dir[4096];
    const char *b = io_base_name(path);
    snprintf(dir, sizeof dir, "%.*s", b == path ? 1 : (int)(b - path), b == path ? "." : path);
    struct statvfs fs;
    if (statvfs(dir, &fs) == 0) {
        uint64_t const avail = (uint64_t)fs.f_bavail * (uint64_t)fs.f_frsize;
        if (avail < need)
            return cz_error(CLIMZ_ERR_NO_SPACE, "%s: the output needs at least %llu bytes, only "
                            "%llu are free", path, (unsigned long long)need, (unsigned long long)avail);
    }
    return CLIMZ_OK;
}

/* A name for an in-memory NetCDF-4 file beside path that no file has: libnetcdf looks at
 * an existing file of that name even for NC_DISKLESS. */
static climz_status mem_name(const char *path, char **name) {
    static atomic_uint seq; /* contexts of several threads may write at once */
    size_t const n = strlen(path) + 64;
    char *s = malloc(n);
    CZ_RETURN_IF(!s, CLIMZ_ERR_ALLOC, "out of memory");
    struct stat st;
    do snprintf(s, n, "%s.in-memory.%ld.%u", path, (long)getpid(), atomic_fetch_add(&seq, 1u));
    while (lstat(s, &st) == 0);
    *name = s;
    return CLIMZ_OK;
}

/* Bob Jenkins' lookup3 hash (hashlittle, initval 0), HDF5's metadata checksum */
#define ROT32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static uint32_t lookup3(const uint8_t *k, size_t len) {
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len;
    while (len > 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c; a ^= ROT32(c, 4); c += b;
        b -= a; b ^= ROT32(a, 6); a += c;
        c -= b; c ^= ROT32(b, 8); b += a;
        a -= c; a ^= ROT32(c, 16); c += b;
        b -= a; b ^= ROT32(a, 19); a += c;
        c -= b; c ^= ROT32(b, 4); b += a;
        len -= 12;
        k += 12;
    }
    switch (len) { /* the last 1-12 bytes */
    case 12: c += (uint32_t)k[11] << 24; /* fall through */
    case 11: c += (uint32_t)k[10] << 16; /* fall through */
    case 10: c += (uint32_t)k[9] << 8; /* fall through */
    case 9: c += k[8]; /* fall through */
    case 8: b += (uint32_t)k[7] << 24; /* fall through */
    case 7: b += (uint32_t)k[6] << 16; /* fall through */
    case 6: b += (uint32_t)k[5] << 8; /* fall through */
    case 5: b += k[4]; /* fall through */
    case 4: a += (uint32_t)k[3] << 24; /* fall through */
    case 3: a += (uint32_t)k[2] << 16; /* fall through */
    case 2: a += (uint32_t)k[1] << 8; /* fall through */
    case 1: a += k[0]; break;
    case 0: return c;
    }
    c ^= b; c -= ROT32(b, 14);
    a ^= c; a -= ROT32(c, 11);
    b ^= a; b -= ROT32(a, 25);
    c ^= b; c -= ROT32(b, 16);
    a ^= c; a -= ROT32(c, 4);
    b ^= a; b -= ROT32(a, 14);
    c ^= b; c -= ROT32(b, 24);
    return c;
}

/* Clears the "open for write" flag of a version 2/3 superblock at p and recomputes its
 * checksum (12 + 4 offsets, then the lookup3 checksum); 0 if p is no such superblock. */
static int superblock_closed(uint8_t *p, size_t n) {
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (n < 48 || memcmp(p, sig, 8) != 0 || (p[8] != 2 && p[8] != 3) || (p[9] != 4 && p[9] != 8))
        return 0;
    size_t const at = 12 + 4 * (size_t)p[9];
    p[11] = 0;
    uint32_t const sum = lookup3(p, at);
    for (int k = 0; k < 4; k++) p[at + k] = (uint8_t)(sum >> (8 * k));
    return 1;
}

/* Writes the in-memory NetCDF-4 file `name` (open as w->ncid) to w->path through cz_atomic,
 * complete as nc_close would leave it. The bytes are those of HDF5's core driver, read in
 * place (H5Fget_vfd_handle gives its buffer) when its superblock can be closed here, else
 * copied by H5Fget_file_image, which clears the superblock's "open for write" flag without
 * updating its checksum in HDF5 1.10 (hence superblock_closed on the copy as well). */
static climz_status nc4_write_image(nc_wctx *w, const char *name) {
    int e = nc_sync(w->ncid); /* libnetcdf's pending metadata, then H5Fflush */
    if (e) return nc_werr(e, w, "building the output", NULL);
    ssize_t const nf = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE);
    hid_t *ids = nf > 0 ? cz_calloc((size_t)nf, sizeof *ids) : NULL;
    CZ_RETURN_IF(!ids, CLIMZ_ERR_ALLOC, "out of memory");
    ssize_t const got = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_FILE, (size_t)nf, ids);
    hid_t f = H5I_INVALID_HID;
    for (ssize_t i = 0; i < got && f == H5I_INVALID_HID; i++) {
        char fn[4096];
        ssize_t const l = H5Fget_name(ids[i], fn, sizeof fn);
        if (l > 0 && (size_t)l < sizeof fn && strcmp(fn, name) == 0) f = ids[i];
    }
    free(ids);
    CZ_RETURN_IF(f == H5I_INVALID_HID, CLIMZ_ERR_NETCDF, "%s: HDF5 does not list the in-memory "
                 "file being built", w->path);
    ssize_t const n = H5Fget_file_image(f, NULL, 0); /* the file's size (end of allocation) */
    CZ_RETURN_IF(n < 48, CLIMZ_ERR_NETCDF, "%s: HDF5 gives no image of the file built", w->path);
    /* in place: the core driver's buffer, when it holds the whole image */
    const uint8_t *mem = NULL;
    hsize_t fsize = 0;
    hid_t const fapl = H5Fget_access_plist(f);
    void *handle = NULL;
    if (fapl >= 0 && H5Pget_driver(fapl) == H5FD_CORE && H5Fget_filesize(f, &fsize) >= 0 &&
        fsize >= (hsize_t)n && H5Fget_vfd_handle(f, H5P_DEFAULT, &handle) >= 0 && handle)
        mem = *(const uint8_t **)handle;
    if (fapl >= 0) H5Pclose(fapl);
    uint8_t head[48];
    size_t const hn = 12 + 4 * (size_t)(mem ? mem[9] : 0) + 4; /* the superblock up to its checksum */
    uint8_t *copy = NULL;
    if (mem && hn <= sizeof head) {
        memcpy(head, mem, hn);
        if (!superblock_closed(head, sizeof head < (size_t)n ? sizeof head : (size_t)n)) mem = NULL;
    } else {
        mem = NULL;
    }
    if (!mem) {
        copy = cz_malloc((size_t)n);
        CZ_RETURN_IF(!copy, CLIMZ_ERR_ALLOC, "%s: out of memory for the %lld bytes of the output",
                     w->path, (long long)n);
        if (H5Fget_file_image(f, copy, (size_t)n) != n) {
            free(copy);
            return cz_error(CLIMZ_ERR_NETCDF, "%s: HDF5 could not copy the file built", w->path);
        }
        superblock_closed(copy, (size_t)n);
    }
    cz_atomic a;
    climz_status st = cz_atomic_open(&a, w->path);
    if (!st && mem) st = cz_atomic_write(&a, head, hn);
    if (!st) st = mem ? cz_atomic_write(&a, mem + hn, (size_t)n - hn) : cz_atomic_write(&a, copy, (size_t)n);
    if (!st) st = cz_atomic_commit(&a);
    else if (a.tmp_path) cz_atomic_abort(&a);
    free(copy);
    return st;
}

climz_status io_write_netcdf(const cz_dataset *ds, const char *path) {
    CZ_RETURN_IF(!ds || !path, CLIMZ_ERR_INVALID_ARG, "io_write_netcdf: no data set or path");
    int needs_nc4 = ds->ngroups > 0, needs_cdf5 = 0, nunlim = 0;
    uint64_t total = 0, need = 0; /* bytes of the values; those stored without compression */
    for (int i = 0; i < ds->ndims; i++) {
        nunlim += ds->dims[i].unlimited != 0;
        needs_nc4 |= strchr(ds->dims[i].name, '/') != NULL;
    }
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *v = &ds->vars[i];
        size_t const n = io_var_count(ds, v);
        CZ_RETURN_IF(n && !v->raw && !(ds->lazy && v->ndims && v->type != CZ_T_STRING),
                     CLIMZ_ERR_INVALID_ARG, "%s: variable %s has no values to write", path, v->name);
        needs_nc4 |= v->type == CZ_T_STRING || strchr(v->name, '/') != NULL;
        needs_cdf5 |= !is_classic_type(v->type);
        total += (uint64_t)n * cz_dtype_size(v->type);
        if (!(v->storage.set && (v->storage.deflate || v->storage.filter_id)))
            need += (uint64_t)n * cz_dtype_size(v->type); /* compressed ones: no lower bound */
    }
    needs_nc4 |= nunlim > 1;
    int cmode;
    int const nc4 = ds->format == CZ_FMT_NETCDF4 || needs_nc4;
    if (nc4) {
        cmode = NC_NETCDF4;
        if (ds->nc_kind == NC_FORMAT_NETCDF4_CLASSIC && !needs_nc4 && !needs_cdf5) cmode |= NC_CLASSIC_MODEL;
    } else if (ds->nc_kind == NC_FORMAT_64BIT_DATA || needs_cdf5) {
        cmode = NC_64BIT_DATA;
    } else if (ds->nc_kind == NC_FORMAT_64BIT_OFFSET || total > ((uint64_t)1 << 31) - ((uint64_t)1 << 24)) {
        cmode = NC_64BIT_OFFSET;
    } else {
        cmode = 0; /* CDF-1 classic */
    }

    CZ_FORWARD(check_room(path, nc4 ? need : total));
    nc_wctx w = {path, -1, !nc4, NULL, NULL, 0};
    char *tmp = NULL;
    /* NetCDF-4 is built in memory under a name no file has, classic in a temporary file */
    climz_status st = nc4 ? mem_name(path, &tmp) : cz_temp_path_beside(path, &tmp);
    if (st) return st;
    /* libnetcdf creates the file itself, with the usual permissions rather than mkstemp's
     * 0600; the name stays ours through NC_NOCLOBBER */
    if (!nc4) unlink(tmp);
    int *ncdim = cz_calloc((size_t)ds->ndims + 1, sizeof *ncdim);
    int *ncvar = cz_calloc((size_t)ds->nvars + 1, sizeof *ncvar);
    int *vgrp = cz_calloc((size_t)ds->nvars + 1, sizeof *vgrp);
    int e;
    if (!ncdim || !ncvar || !vgrp) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory");
    errno = 0;
    if ((e = nc_create(tmp, NC_NOCLOBBER | cmode | (nc4 ? NC_DISKLESS : 0), &w.ncid))) {
        w.ncid = -1;
        st = nc_werr(e, &w, "cannot create", NULL);
        goto fail;
    }
    CZ_CHECK_GOTO(st, write_all(&w, ds, ncdim, ncvar, vgrp), fail);
    if (nc4) {
        st = nc4_write_image(&w, tmp);
        nc_close(w.ncid); /* in memory only: nothing left to write */
        w.ncid = -1;
        goto done;
    }
    errno = 0;
    e = nc_close(w.ncid);
    w.ncid = -1;
    if (e) {
        st = nc_werr(e, &w, "closing (flushing) the output", NULL);
        goto fail;
    }
    st = cz_rename_into_place(tmp, path);
    goto done;
fail:
    /* an in-memory NetCDF-4 file closes without writing; classic output is aborted */
    if (w.ncid >= 0) (void)(nc4 ? nc_close(w.ncid) : nc_abort(w.ncid));
    if (tmp && !nc4) cz_temp_remove(tmp);
done:
    for (int i = 0; i < w.ng; i++) free(w.gpath[i]);
    free(w.gpath);
    free(w.gid);
    free(ncdim);
    free(ncvar);
    free(vgrp);
    free(tmp);
    return st;
}
