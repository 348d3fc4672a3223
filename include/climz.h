/*
 * climz.h — public API of climz, learned and error-bounded compression of gridded
 * weather and climate data.
 *
 * READ ME FIRST
 *  - The library never exits, aborts or prints. Every call that can fail returns a
 *    climz_status; CLIMZ_OK is 0. climz_status_name() gives the stable name of a code,
 *    climz_ctx_last_error() the detailed message of the last failure on a context.
 *  - Contexts are opaque, one per thread, created once and reused. *_free(NULL) is a no-op.
 *  - Files are written through a temporary file in the destination directory that is
 *    renamed into place only when complete: a failed call leaves no partial output and
 *    never modifies its input.
 */
#ifndef CLIMZ_H
#define CLIMZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLIMZ_VERSION_MAJOR 0
#define CLIMZ_VERSION_MINOR 1
#define CLIMZ_VERSION_PATCH 0
#define CLIMZ_VERSION_NUMBER (CLIMZ_VERSION_MAJOR * 10000 + CLIMZ_VERSION_MINOR * 100 + CLIMZ_VERSION_PATCH)

unsigned climz_version_number(void); /* CLIMZ_VERSION_NUMBER of the linked library */
const char *climz_version_string(void); /* "0.1.0" */

/* Status codes. Numbers are stable and never reused. */
typedef enum climz_status {
    CLIMZ_OK = 0,
    CLIMZ_ERR_GENERIC = 1,         /* an error that fits no other code */
    CLIMZ_ERR_ALLOC = 2,           /* out of memory */
    CLIMZ_ERR_IO = 3,              /* a read or write on a file failed */
    CLIMZ_ERR_CORRUPT = 4,         /* input is malformed */
    CLIMZ_ERR_CHECKSUM = 5,        /* a CRC-32C did not match */
    CLIMZ_ERR_TRUNCATED = 6,       /* input ends early */
    CLIMZ_ERR_DST_TOO_SMALL = 7,   /* the caller's buffer is too small */
    CLIMZ_ERR_UNSUPPORTED = 8,     /* valid input that climz does not handle */
    CLIMZ_ERR_NOT_FOUND = 9,       /* a named variable, dimension or file is missing */
    CLIMZ_ERR_INVALID_ARG = 10,    /* a parameter is out of range */
    CLIMZ_ERR_VERSION = 11,        /* format version newer than this library */
    CLIMZ_ERR_BOUND = 12,          /* the error bound could not be met */
    CLIMZ_ERR_MODEL_MISMATCH = 13, /* model or context file differs from the one recorded */
    CLIMZ_ERR_NETCDF = 14,         /* libnetcdf reported an error */
    CLIMZ_ERR_GRIB = 15,           /* ecCodes reported an error */
    CLIMZ_ERR_NO_SPACE = 16,       /* the output device is full or a file size limit was hit */
    CLIMZ_ERR_DIMENSION = 17,      /* dimensions are wrong or inconsistent */
    CLIMZ_ERR_EMPTY = 18,          /* nothing to do: zero-size data or no valid points */
    CLIMZ_ERR_DETERMINISM = 19,    /* decoder-side entropy model differs from the encoder's */
    CLIMZ_STATUS_COUNT_
} climz_status;

/*! climz_status_name() : @return the stable name of a code, e.g. "CLIMZ_ERR_CHECKSUM";
 *  "CLIMZ_ERR_UNKNOWN" for a number that is not a code. Never NULL. */
const char *climz_status_name(climz_status s);
/*! climz_status_message() : @return a one-line human description of a code. Never NULL. */
const char *climz_status_message(climz_status s);

/* ---- contexts ---------------------------------------------------------------------- */
typedef struct climz_ctx climz_ctx;

climz_ctx *climz_ctx_create(void); /* NULL on allocation failure */
void climz_ctx_free(climz_ctx *ctx); /* NULL is allowed */
/*! climz_ctx_last_error() : @return the message of the last failure on ctx ("" if none).
 *  The string is owned by ctx and valid until its next call. */
const char *climz_ctx_last_error(const climz_ctx *ctx);

/* Parameters set one by one; see climz_param_bounds() for valid ranges. */
typedef enum climz_param {
    CLIMZ_P_MAX_ABS_ERROR = 1, /* absolute error bound E (>= 0); 0 = lossless. default 0 */
    CLIMZ_P_REL_ERROR = 2,     /* error bound relative to each variable's value range; overrides
                                  MAX_ABS_ERROR when > 0. default 0 */
    CLIMZ_P_THREADS = 3,       /* worker threads, 0 = all cores. default 0 */
    CLIMZ_P_TEMPORAL = 4,      /* 1: residual codec also predicts from the previous time step (then a
                                  time step decodes only after the ones before it). default 0 */
} climz_param;

climz_status climz_ctx_set_param(climz_ctx *ctx, climz_param p, double value);
climz_status climz_ctx_get_param(const climz_ctx *ctx, climz_param p, double *value);
climz_status climz_param_bounds(climz_param p, double *lo, double *hi);

/* ---- file-level operations ----------------------------------------------------------- */

/* Options of a file compression. Zero-initialise, then set what you need. */
typedef struct climz_compress_opts {
    const char *codec;          /* "residual" (default when NULL); see climz --help for others */
    const char *const *vars;    /* variables to compress, NULL-terminated; NULL = every gridded
                                   data variable */
    const char *model;          /* model file of a learned codec; NULL = the codec's default */
    const char *const *options; /* codec options as "key=value", NULL-terminated, or NULL */
} climz_compress_opts;

/*! climz_compress_file() : reads a NetCDF, GRIB or GrADS data set at in_path and writes a
 *  .clz file at out_path (atomically). Gridded data variables are coded with the chosen codec
 *  under the context's error bound; other variables (coordinates, bounds) are stored losslessly.
 *  @return CLIMZ_OK or an error code; details in climz_ctx_last_error(ctx). */
climz_status climz_compress_file(climz_ctx *ctx, const char *in_path, const char *out_path,
                                 const climz_compress_opts *opts);

/* Options of a file decompression. Zero-initialise, then set what you need. */
typedef struct climz_decompress_opts {
    const char *const *vars; /* variables to decode, NULL-terminated; NULL = all */
    long time_first;         /* first time index to decode (default 0) */
    long time_count;         /* number of time steps, 0 = to the end */
    const char *model;       /* model file of a learned codec; NULL = the one recorded at
                                compression (checked against its SHA-256 in the file) */
    const char *const *options; /* codec options as "key=value", NULL-terminated, or NULL */
} climz_decompress_opts;

/*! climz_decompress_file() : decodes a .clz file into a NetCDF file at out_path (atomically),
 *  with the original dimensions, coordinates, attributes, data types and missing values. */
climz_status climz_decompress_file(climz_ctx *ctx, const char *clz_path, const char *out_path,
                                   const climz_decompress_opts *opts);

/*! climz_info_json() : describes a .clz file (variables, dims, codec, chunk sizes, errors
 *  recorded at compression, error bound) as a JSON text.
 *  @return CLIMZ_OK and *json (caller frees with climz_free()), or an error code. */
climz_status climz_info_json(climz_ctx *ctx, const char *clz_path, char **json);

/*! climz_eval_json() : compares a decoded data set (NetCDF, or a .clz decoded on the fly)
 *  with the original and reports the metrics of SPEC section 7 per variable as JSON.
 *  vars: NULL-terminated list, NULL = every gridded variable present in both. */
climz_status climz_eval_json(climz_ctx *ctx, const char *ref_path, const char *test_path,
                             const char *const *vars, char **json);

void climz_free(void *p); /* frees memory returned by climz; NULL is allowed */

#ifdef __cplusplus
}
#endif
#endif /* CLIMZ_H */
