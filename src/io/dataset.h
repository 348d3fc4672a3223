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
} cz_var;

typedef struct cz_dataset {
    char *path;          /* the file it was read from (informative) */
    cz_format format;
    cz_dim *dims;
    int ndims;
    cz_attr *gatts;      /* global attributes of the root group */
    int ngatts;
    cz_var *vars;
    int nvars;
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
} cz_field;

/* ---- reading ---- */

/*! io_open() : reads a NetCDF-3/4, GRIB 1/2 or GrADS (.ctl) data set: dims, attributes,
 *  variables and all their raw values. The format is detected from the file's magic bytes.
 *  A file that is not supported is refused with CLIMZ_ERR_UNSUPPORTED and a message that
 *  says why. */
climz_status io_open(const char *path, cz_dataset **ds);
void io_free(cz_dataset *ds); /* NULL allowed */

int io_find_var(const cz_dataset *ds, const char *name); /* index or -1 */
size_t io_var_count(const cz_dataset *ds, const cz_var *v); /* number of elements */

/*! io_load_field() : the variable's values unpacked to float32 with the exact missing-value
 *  map. Fails with CLIMZ_ERR_UNSUPPORTED for a variable that is not gridded. */
climz_status io_load_field(const cz_dataset *ds, int var, cz_field *f);
/* The same for the time steps [t0, t0+nt) only. */
climz_status io_load_field_times(const cz_dataset *ds, int var, size_t t0, size_t nt, cz_field *f);
void io_field_free(cz_field *f);

/*! io_store_field() : writes f back into var's raw values in the stored type: repacks
 *  packed integers (round to nearest), rounds to integer types, and puts the exact special
 *  bit patterns back where f.miss says. Allocates var->raw if needed. */
climz_status io_store_field(cz_dataset *ds, int var, const cz_field *f);

/* ---- writing ---- */

/*! io_write_netcdf() : writes ds as NetCDF (classic for NETCDF3/GRIB/GRADS sources, NetCDF-4
 *  for NETCDF4 sources, with groups) atomically: a temp file renamed into place. Every
 *  variable must have raw values. */
climz_status io_write_netcdf(const cz_dataset *ds, const char *path);

/* ---- building (used by the container to rebuild a data set) ---- */
climz_status io_dataset_new(cz_dataset **ds);
climz_status io_attr_set(cz_attr **atts, int *natts, const char *name, cz_dtype type, size_t len,
                         const void *data);
const cz_attr *io_attr_find(const cz_attr *atts, int natts, const char *name);

#endif /* CZ_IO_DATASET_H */
