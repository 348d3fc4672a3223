/*
 * dataset.h — the in-memory data model of climz (SPEC section 2), shared by the readers,
 * the writer, the container and the codecs.
 *
 * READ ME FIRST
 *  - A cz_dataset mirrors one file: its dimensions, global attributes and variables, each
 *    variable with its attributes and its values *as stored* (`raw`, in the stored type).
 *    Enough is kept to write the file back with the same dims, coordinates, attributes
 *    and data types.
 *  - A *gridded data variable* (cz_var.is_grid) has at least two dims, and its last two dims
 *    are the horizontal grid (lat, lon or y, x). For those, io_load_field() gives the
 *    values as a cz_field: float32, unpacked (scale_factor/add_offset applied), with an exact
 *    per-point missing-value code.
 *  - Missing values are carried exactly: cz_field.miss[i] is 0 for a valid point, or k >= 1
 *    meaning "the k-th entry of cz_var.specials" (the stored bit pattern of _FillValue,
 *    missing_value, a NaN with its payload, ...). io_store_field() puts those exact stored
 *    bits back. Valid values never equal a special.
 *  - Variable names of NetCDF-4 groups are paths: "grp1/T". Root group names have no '/'.
 *    Groups themselves (with their attributes, empty ones too) are listed in
 *    cz_dataset.groups, parents before children.
 *  - Packing (cz_var.packed) applies to integer types only: a float variable that carries
 *    scale_factor/add_offset is given as stored (its attributes still say how to scale it),
 *    so that its values round-trip bit for bit.
 *  - Specials are found when the file is read, over the whole variable: first _FillValue,
 *    then each missing_value entry, then the float zero of the other sign when a declared
 *    float fill or missing_value is a zero and that zero occurs (netCDF and CF readers
 *    compare float fills by value: -0.0 == 0.0; its own slot brings its sign back; with no
 *    slot left it is folded onto the declared zero), then the netCDF default fill (only when no _FillValue is
 *    declared, fill mode is on, the type is not a byte type, and the value occurs), then
 *    every NaN payload that occurs (declared or not), then values outside valid_min /
 *    valid_max / valid_range (compared unpacked when given in a float type for a packed
 *    variable; each distinct bit pattern its own special if all of them fit in the slots left,
 *    otherwise one special, cz_var.oor_code, stands for all of them and cz_field.exact
 *    carries their bits). NaN payloads beyond
 *    CZ_MAX_SPECIALS are folded onto the first NaN pattern: such a NaN comes back with the
 *    first NaN's payload (the one loss of exactness, documented).
 *  - CHAR attribute data is followed by a NUL that `len` does not count, so text attributes
 *    can be used as C strings.
 *  - Not thread-safe: libnetcdf is not. Call io_* functions from one thread at a time (the
 *    codecs may then work on the loaded fields in parallel).
 */
#ifndef CZ_IO_DATASET_H
#define CZ_IO_DATASET_H

#include "common/cz_common.h"

#define CZ_MAX_DIMS 8
#define CZ_MAX_SPECIALS 15 /* distinct missing-value bit patterns per variable */

typedef enum cz_dtype {
    CZ_T_NONE = 0,
    CZ_T_I8 = 1, CZ_T_U8 = 2, CZ_T_I16 = 3, CZ_T_U16 = 4, CZ_T_I32 = 5, CZ_T_U32 = 6,
    CZ_T_I64 = 7, CZ_T_U64 = 8, CZ_T_F32 = 9, CZ_T_F64 = 10,
    CZ_T_CHAR = 11,   /* text: `len` bytes, not NUL-terminated in the file */
    CZ_T_STRING = 12, /* NetCDF-4 variable-length strings: `len` char* entries */
} cz_dtype;

size_t cz_dtype_size(cz_dtype t); /* bytes per element; sizeof(char*) for STRING; 0 for NONE */
const char *cz_dtype_name(cz_dtype t); /* "float", "short", ... (CDL names) */

typedef enum cz_format {
    CZ_FMT_NETCDF3 = 1,     /* classic / 64-bit offset */
    CZ_FMT_NETCDF4 = 2,     /* HDF5-based, may have groups */
    CZ_FMT_GRIB = 3,
    CZ_FMT_GRADS = 4,
} cz_format;

typedef struct cz_attr {
    char *name;
    cz_dtype type;
    size_t len;  /* number of elements (bytes for CHAR) */
    void *data;  /* len elements of type; for STRING an array of len malloc'd char* */
} cz_attr;

typedef struct cz_dim {
    char *name;    /* path for dims of a group: "grp1/lat" */
    size_t len;
    int unlimited;
} cz_dim;

typedef enum cz_axis { CZ_AXIS_NONE = 0, CZ_AXIS_T, CZ_AXIS_Z, CZ_AXIS_Y, CZ_AXIS_X } cz_axis;

/* How a NetCDF-4 variable is laid out in its file: chunking, deflate, shuffle, fletcher32,
 * and optionally one more HDF5 filter (the climz filter of `compress --format nc4`). The
 * NetCDF reader fills it from a NetCDF-4 source, the container keeps it (schema), and the
 * NetCDF-4 writer applies it. `set` == 0: nothing known, the writer's default. */
#define CZ_STORAGE_MAX_CD 16
typedef struct cz_storage {
    int set;            /* 1: the fields below apply */
    int chunked;        /* 1: chunked with `chunk`, 0: contiguous */
    size_t chunk[CZ_MAX_DIMS];
    int deflate;        /* deflate level 1-9, 0 none */
    int shuffle;        /* 1: byte shuffle before deflate */
    int fletcher32;     /* 1: checksum of every chunk */
    unsigned filter_id; /* 0, or an HDF5 filter applied after the above (writing only: not kept
                           in the container) */
    size_t ncd;         /* its parameters */
    unsigned cd[CZ_STORAGE_MAX_CD];
} cz_storage;

typedef struct cz_var {
    char *name;
    cz_dtype type;      /* stored type */
    int ndims;
    int dimids[CZ_MAX_DIMS]; /* indexes into cz_dataset.dims */
    cz_attr *atts;
    int natts;
    void *raw;          /* all values in the stored type (C order), or NULL if not loaded */
    /* classification, filled by the readers */
    int is_grid;        /* gridded data variable (see READ ME FIRST) */
    int is_coord;       /* a coordinate variable (1-D, same name as its dim) or bounds/aux */
    cz_axis axis;       /* for coordinate variables: which axis they describe */
    /* packing, from the attributes: value = raw * scale + offset */
    int packed;
    double scale, offset;
    /* exact missing values: stored bit patterns (in the stored type, little-endian,
     * zero-padded to 8 bytes), nspecials of them; see READ ME FIRST */
    int nspecials;
    uint8_t specials[CZ_MAX_SPECIALS][8];
    /* 0, or k: special k stands for every value outside the valid range (more distinct ones
     * than free slots); the exact stored bits of those points travel in cz_field.exact and
     * in the file's exact chunks (stream 8); special k itself is the first such value */
    int oor_code;
    cz_storage storage; /* NetCDF-4 layout of the source (or the one wanted), see cz_storage */
    int scan_pending;   /* IO_OPEN_NO_SCAN left the specials unfound: 1, or 2 when the netCDF
                           default fill counts (fill mode on); 0 otherwise */
} cz_var;

/* A NetCDF-4 group below the root, with its own attributes. */
typedef struct cz_group {
    char *name;   /* path without leading '/': "grp1", "grp1/sub" */
    cz_attr *atts;
    int natts;
} cz_group;

typedef struct cz_dataset {
    char *path;          /* the file it was read from (informative) */
    cz_format format;
    cz_dim *dims;
    int ndims;
    cz_attr *gatts;      /* global attributes of the root group */
    int ngatts;
    cz_var *vars;
    int nvars;
    /* additions (kept at the end so that older code stays valid) */
    cz_group *groups;    /* NetCDF-4 groups below the root, parents first (NULL if none) */
    int ngroups;
    int nc_kind;         /* NC_FORMAT_* of a NetCDF source, 0 otherwise: the writer keeps a
                            64-bit-offset / CDF-5 / NetCDF-4-classic source in its kind */
    int lazy;            /* opened with IO_OPEN_LAZY: gridded variables with raw == NULL are
                            read from `path` when needed, through `source` */
    const struct io_source_ops *source; /* how the reader that opened a lazy data set reads
                                           values left on disk (io_internal.h); NULL if none */
    void *source_ctx;    /* that reader's state, passed to source's functions */
    char *data_path;     /* the file the values are read from when it is not `path` (the
                            DSET of a GrADS .ctl), NULL otherwise: an output must not be it */
} cz_dataset;

/* A gridded variable's values as float32: shape (nt, nz, ny, nx); nt is the first dim when
 * it is the time axis (else 1); nz is the product of all dims between time and the grid
 * (levels, ensemble members...). Row order is as stored. */
typedef struct cz_field {
    size_t nt, nz, ny, nx;
    float *values;    /* nt*nz*ny*nx; at missing points the value is 0 */
    uint8_t *miss;    /* nt*nz*ny*nx; 0 = valid, k = specials[k-1] of the variable */
    double *lat;      /* ny latitudes in degrees (NULL if unknown); row weights for metrics */
    double *lon;      /* nx longitudes in degrees (NULL if unknown) */
    uint64_t *exact;  /* NULL, or nt*nz*ny*nx: the stored bits of each point whose code is the
                         variable's oor_code (other entries unused) */
} cz_field;

/* ---- reading ---- */

/*! io_open() : reads a NetCDF-3/4, GRIB 1/2 or GrADS (.ctl) data set: dims, attributes,
 *  variables and all their raw values. The format is detected from the file's magic bytes.
 *  A file that is not supported is refused with CLIMZ_ERR_UNSUPPORTED and a message that
 *  says why. */
climz_status io_open(const char *path, cz_dataset **ds);
void io_free(cz_dataset *ds); /* NULL allowed */

/*! io_open_ex() : io_open() with flags. IO_OPEN_LAZY: for NetCDF sources, gridded variables
 *  are not loaded (raw = NULL, ds->lazy = 1); their specials are found at open time in one
 *  streaming pass, io_load_field_times() reads just the steps asked for, io_write_netcdf()
 *  copies them from the source slab by slab, and io_store_field*() loads the whole variable
 *  first. Memory stays bounded by one variable's few time steps. The source file must stay
 *  unchanged while ds is in use. GRIB and GrADS sources are always loaded whole. */
#define IO_OPEN_LAZY 1u
/* IO_OPEN_NO_SCAN (with IO_OPEN_LAZY): not even the streaming pass: the specials of gridded
 * variables left on disk are not searched at open (cz_var.scan_pending is set), so that each
 * of several processes can read just its own steps of the file. Before loading a field of
 * such a variable the caller finds them from the pieces that are read anywhere: for each
 * piece io_load_raw_times and io_specials_scan, io_specials_merge in file order (a piece
 * read by another process travels as the plain struct), then io_specials_set; the fields then
 * come from the raw pieces (io_field_from_raw). The specials are the ones io_open finds. */
#define IO_OPEN_NO_SCAN 2u
climz_status io_open_ex(const char *path, unsigned flags, cz_dataset **ds);

/* What a scan found in one piece of a variable (plain data: it may be sent as bytes). */
typedef struct io_specials_part {
    uint64_t nans[CZ_MAX_SPECIALS], oor[CZ_MAX_SPECIALS]; /* in order of first occurrence */
    int32_t nnans, noor, oor_overflow, zero2_found, dfill_found;
} io_specials_part;
/* Steps [t0, t0+nt) of gridded variable var in its stored type (all of it when it has no time
 * axis), read from the file when it was left on disk; the caller frees *raw. */
climz_status io_load_raw_times(const cz_dataset *ds, int var, size_t t0, size_t nt, void **raw);
/* *p = what n stored values of var at raw hold (the variable's specials still pending). */
climz_status io_specials_scan(const cz_dataset *ds, int var, const void *raw, size_t n, io_specials_part *p);
/* a = a then b (b the piece that follows a in the file; an empty part changes nothing). */
void io_specials_merge(io_specials_part *a, const io_specials_part *b);
/* Sets var's specials from what the scans of all its pieces found (merged in file order). */
climz_status io_specials_set(cz_dataset *ds, int var, const io_specials_part *p);

int io_find_var(const cz_dataset *ds, const char *name); /* index or -1 */
size_t io_var_count(const cz_dataset *ds, const cz_var *v); /* number of elements */
/* Removes every variable i with keep[i] == 0 from ds (frees its memory). */
void io_drop_vars(cz_dataset *ds, const uint8_t *keep);

/*! io_load_field() : the variable's values unpacked to float32 with the exact missing-value
 *  map. f->lat / f->lon come from 1-D coordinate variables in degrees; on a curvilinear grid
 *  (2-D lat/lon) f->lat holds each row's mean latitude and f->lon is NULL. The caller frees
 *  f with io_field_free(). Fails with CLIMZ_ERR_UNSUPPORTED for a variable that is not
 *  gridded. */
climz_status io_load_field(const cz_dataset *ds, int var, cz_field *f);
/* The same for the time steps [t0, t0+nt) only (f->nt = nt). A variable without a time axis
 * has one step. CLIMZ_ERR_INVALID_ARG when the range is outside the variable. */
climz_status io_load_field_times(const cz_dataset *ds, int var, size_t t0, size_t nt, cz_field *f);
/* The same from raw = io_load_raw_times(ds, var, t0, nt) (no read). */
climz_status io_field_from_raw(const cz_dataset *ds, int var, const void *raw, size_t nt, cz_field *f);
void io_field_free(cz_field *f); /* frees the arrays and zeroes f; NULL members allowed */
/* Sets f->lat and f->lon (f->ny, f->nx given) from var's coordinate variables, as
 * io_load_field() does; NULL where they are unknown. */
climz_status io_field_coords(const cz_dataset *ds, int var, cz_field *f);

/* 1 when the variable's first dim is a time axis (its coordinate variable has axis T, or the
 * dim is unlimited, or it is named like time), else 0. */
int io_var_has_time(const cz_dataset *ds, const cz_var *v);
/* Shape of a gridded variable as io_load_field() gives it (CLIMZ_ERR_UNSUPPORTED if not). */
climz_status io_field_shape(const cz_dataset *ds, int var, size_t *nt, size_t *nz, size_t *ny,
                            size_t *nx);

/*! io_store_field() : writes f back into var's raw values in the stored type: repacks
 *  packed integers (round to nearest), rounds to integer types, and puts the exact special
 *  bit patterns back where f.miss says. Allocates var->raw if needed. */
climz_status io_store_field(cz_dataset *ds, int var, const cz_field *f);
/* The same for time steps [t0, t0+f->nt) (streaming decode); other steps are left as they
 * are (zero when raw is allocated here). A valid value that would be stored with a
 * special's exact bits is moved one unit (one ulp for floats) away so that it stays valid. */
climz_status io_store_field_times(cz_dataset *ds, int var, size_t t0, const cz_field *f);

/* ---- writing ---- */

/*! io_write_netcdf() : writes ds as NetCDF (classic for NETCDF3/GRIB/GRADS sources, NetCDF-4
 *  for NETCDF4 sources, with groups) atomically: a temp file renamed into place, removed on
 *  any failure. A classic source keeps its kind (CDF-1/2/5); CDF-5 is chosen for unsigned or
 *  64-bit integer types, NetCDF-4 whenever groups, strings or several unlimited dims need it.
 *  Every variable must have raw values (or be left on disk by IO_OPEN_LAZY). NetCDF-4 is
 *  built in memory and then written (HDF5 never writes to the disk itself), each variable
 *  with its cz_storage when set.
 *  @return CLIMZ_ERR_NO_SPACE (disk full, file-size limit), CLIMZ_ERR_NOT_FOUND (no such
 *  directory), CLIMZ_ERR_IO, CLIMZ_ERR_NETCDF, CLIMZ_ERR_INVALID_ARG (no values). */
climz_status io_write_netcdf(const cz_dataset *ds, const char *path);

/* ---- building (used by the container to rebuild a data set) ---- */
climz_status io_dataset_new(cz_dataset **ds);
/* io_attr_set() : adds an attribute, or replaces the one with the same name (keeping its
 * place). data is copied (STRING: len char* copied deeply). */
climz_status io_attr_set(cz_attr **atts, int *natts, const char *name, cz_dtype type, size_t len,
                         const void *data);
const cz_attr *io_attr_find(const cz_attr *atts, int natts, const char *name);
/* a text attribute (CHAR, or a STRING with one entry) as a C string, else NULL */
const char *io_attr_text(const cz_attr *atts, int natts, const char *name);
/* element i of a numeric attribute as double; 0 if absent, not numeric or i out of range */
int io_attr_number(const cz_attr *a, size_t i, double *out);
/* io_dim_add() / io_var_add() / io_group_add() : append to ds and give the new index.
 * Names are copied; a var starts with no attributes and raw = NULL. */
climz_status io_dim_add(cz_dataset *ds, const char *name, size_t len, int unlimited, int *id);
climz_status io_var_add(cz_dataset *ds, const char *name, cz_dtype type, int ndims,
                        const int *dimids, int *idx);
climz_status io_group_add(cz_dataset *ds, const char *path, int *idx);
/* io_classify() : sets is_grid, is_coord, axis, packed, scale and offset of every variable
 * from names, dims and attributes (the readers call it; a rebuilt data set may too). */
void io_classify(cz_dataset *ds);
/* io_find_specials() : recomputes var's specials from its attributes and raw values (the
 * order of READ ME FIRST; the netCDF default fill counts as used). */
climz_status io_find_specials(cz_dataset *ds, int var);
const char *io_format_name(cz_format f); /* "netcdf3", "netcdf4", "grib", "grads" */
int io_nc_type(cz_dtype t); /* the netCDF type (nc_type) of a stored type; NC_NAT (0) for none */
const char *io_base_name(const char *path); /* the part after the last '/' */

#endif /* CZ_IO_DATASET_H */
