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

/* One progress line (no newline) of a long operation (training, an INR fit); called from the
 * calling thread. */
typedef void (*climz_progress_fn)(void *user, const char *line);

/* Options of a file compression. Zero-initialise, then set what you need. */
typedef struct climz_compress_opts {
    const char *codec;          /* "residual" (default when NULL); see climz --help for others */
    const char *const *vars;    /* variables to compress, NULL-terminated; NULL = every gridded
                                   data variable */
    const char *model;          /* model file of a learned codec; NULL = the codec's default */
    const char *const *options; /* codec options as "key=value", NULL-terminated, or NULL */
    climz_progress_fn progress; /* progress of codecs that fit a network (inr); NULL: silent */
    void *progress_user;
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
 *  with the original and reports the metrics of SPEC section 7 per variable as JSON, and
 *  the science-fidelity figures (error tail, correlation, SSIM, zonal spectrum); every key is
 *  defined in doc/metrics.md. vars: NULL-terminated list, NULL = every gridded variable
 *  present in both. */
climz_status climz_eval_json(climz_ctx *ctx, const char *ref_path, const char *test_path,
                             const char *const *vars, char **json);

void climz_free(void *p); /* frees memory returned by climz; NULL is allowed */

/*! climz_remove_temp_files() : removes the temporary files ("OUT.tmp.<pid>.XXXXXX") of the
 *  outputs this process is writing. Async-signal-safe: meant for a SIGTERM/SIGINT/SIGHUP
 *  handler, which then re-raises the signal; an output written afterwards by this process
 *  fails. A process killed by SIGKILL leaves its temporary: the next write to the same output
 *  removes temporaries whose process no longer exists. */
void climz_remove_temp_files(void);

/* ======================================================================================
 * ---- in-memory API ------------------------------------------------------------------------
 * For filters, bindings and parallel drivers (HDF5, Zarr, Python, MPI): one field in the
 * caller's memory in, one self-contained *frame* out, and back. A frame is a .clz image of one
 * variable (the same container, chunks, CRC-32C and header JSON as a file: `climz info`
 * reads a frame saved to disk), so there is no second format. The caller owns every buffer;
 * nothing prints or exits. One context per thread; contexts share nothing, so threads with
 * their own contexts compress and decompress at the same time and get the bytes and values
 * of a serial run.
 *
 *     climz_field f = {.type = CLIMZ_FLOAT32, .data = temp, .nt = 1, .nz = 1, .ny = 721, .nx = 1440};
 *     climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, 0.05);
 *     size_t cap = climz_compress_bound(&f), n;
 *     void *frame = malloc(cap);
 *     climz_compress(ctx, &f, NULL, frame, cap, &n);          // residual codec, |error| <= 0.05
 *     climz_field g;
 *     climz_frame_info(frame, n, &g);                          // type and dims, before allocating
 *     g.data = malloc(g.nt * g.nz * g.ny * g.nx * sizeof(float));
 *     climz_decompress(ctx, frame, n, &g);
 *
 * Codec options (climz_compress_opts.codec / .model / .options) as for files:
 *  - "residual" (default): the context's MAX_ABS_ERROR or REL_ERROR (0 = lossless), TEMPORAL.
 *  - "vaeformer": .model (NULL = the bundled model; the frame records its SHA-256 and the
 *    decoder refuses another file); options group=N levels=0|1 tile=N refine=N interp=0|1
 *    spatial=0|1; a bound > 0 adds the residual stage.
 *  - "inr": options arch, width, depth, iters, lr, batch, fourier, sigma, seed, ratio, psnr
 *    (contexts other than "climatology" need files and are for the file API).
 * ====================================================================================== */

typedef enum climz_type { CLIMZ_FLOAT32 = 1, CLIMZ_FLOAT64 = 2 } climz_type;

#define CLIMZ_FIELD_FILL 1u /* fill_value marks missing points */

/* A 4-D array in the caller's memory, element (t, z, y, x) at
 * data + t*st + z*sz + y*sy + x*sx (strides in elements, any sign); all four strides 0 means
 * C order. Absent dims have size 1. Missing points: NaN always, and values equal to fill_value
 * when flags has CLIMZ_FIELD_FILL (compared by value, as netCDF does: -0.0 equals 0.0); their
 * exact bits come back. Codecs work in float32: a float64 field is coded through float32,
 * and the bound is checked against the float64 values. */
typedef struct climz_field {
    climz_type type;
    void *data;                /* element (0,0,0,0); only read by climz_compress */
    size_t nt, nz, ny, nx;     /* time steps, levels, rows (latitude), columns (longitude) */
    ptrdiff_t st, sz, sy, sx;  /* strides in elements; all 0 = contiguous C order */
    unsigned flags;            /* CLIMZ_FIELD_FILL */
    double fill_value;
    const double *lat;         /* ny latitudes in degrees, or NULL: row weights of the errors a
                                  learned codec minimises and reports (not stored) */
    double scale_factor;       /* packing of the original integers: values are add_offset + k *
                                  scale_factor for integer k; decoded values are put back on that
                                  grid, within the bound. 0 = not packed */
    double add_offset;
    const char *name;          /* variable name recorded in the frame; NULL = "data" */
    int ndims;                 /* dims of the caller's array (1..4, its last ones are y and x),
                                  recorded in the frame for bindings that restore the shape;
                                  0 = not said */
} climz_field;

/*! climz_compress_bound() : the largest frame climz_compress() writes for f with any codec
 *  and bound (0 when f is invalid). */
size_t climz_compress_bound(const climz_field *f);

/*! climz_compress() : codes f into a frame in dst (cap bytes), *written = its size, under the
 *  context's error bound (CLIMZ_P_MAX_ABS_ERROR / CLIMZ_P_REL_ERROR of the valid values'
 *  range). opts may be NULL (residual codec); opts->vars is ignored. The only copy of the
 *  input is its float32 working copy. The frame is written in its compact form (a smaller
 *  encoding of the same .clz image, doc/format.md §10.1), which every reader of frames takes,
 *  as it takes plain frames. @return CLIMZ_ERR_DST_TOO_SMALL when cap is below the frame's size, CLIMZ_ERR_DIMENSION for sizes or strides that do not describe an array,
 *  CLIMZ_ERR_BOUND when a float64 field's bound is finer than float32 can hold. */
climz_status climz_compress(climz_ctx *ctx, const climz_field *f, const climz_compress_opts *opts,
                            void *dst, size_t cap, size_t *written);

/*! climz_frame_info() : type, dims, fill and packing of a frame, without decoding it; out's
 *  data, lat and name are NULL and its strides 0. CLIMZ_ERR_CORRUPT / _CHECKSUM / _TRUNCATED
 *  for a damaged frame; CLIMZ_ERR_UNSUPPORTED for a .clz of several variables (use a
 *  climz_reader). */
climz_status climz_frame_info(const void *src, size_t size, climz_field *out);

/*! climz_decompress() : decodes a frame into out->data with out's strides. out's dims must
 *  equal the frame's; its type may differ (values are converted; missing points get the
 *  original bits when the type is the frame's, else NaN or the converted fill value).
 *  The model of a learned codec is the one recorded (or climz_ctx_set_model()). */
climz_status climz_decompress(climz_ctx *ctx, const void *src, size_t size, const climz_field *out);

/*! climz_ctx_set_model() : model file that decoding on ctx uses instead of the recorded one
 *  (it must have the recorded SHA-256); NULL = the recorded one. The path is copied. */
climz_status climz_ctx_set_model(climz_ctx *ctx, const char *path);

/* ---- random access into a .clz file or buffer ---------------------------------------- */
typedef struct climz_reader climz_reader;

/* What a reader knows of one coded variable. Strings are owned by the reader. */
typedef struct climz_var_info {
    const char *name;
    const char *codec;          /* "residual", "vaeformer", "inr" */
    size_t nt, nz, ny, nx;      /* as climz_field */
    const char *dims[8];        /* the variable's dimension names (ndims of them) */
    size_t dim_len[8];
    int ndims;
    double max_abs_error_bound; /* 0: lossless or none */
    size_t time_group;          /* steps decoded together (reading one decodes its group) */
} climz_var_info;

/*! climz_reader_open() : opens a .clz file (memory-mapped) and checks its header, index and
 *  schema; chunks are checked when read. */
climz_status climz_reader_open(climz_ctx *ctx, const char *path, climz_reader **r);
/*! climz_reader_open_buffer() : the same on a .clz image or frame in memory, which is not
 *  copied: it must stay alive and unchanged until climz_reader_free(). */
climz_status climz_reader_open_buffer(climz_ctx *ctx, const void *src, size_t size, climz_reader **r);
void climz_reader_free(climz_reader *r); /* NULL is allowed */
size_t climz_reader_nvars(const climz_reader *r);
/*! climz_reader_var() : variable i (0 <= i < nvars). CLIMZ_ERR_NOT_FOUND past the end. */
climz_status climz_reader_var(const climz_reader *r, size_t i, climz_var_info *info);
/*! climz_reader_find() : index of the variable called name, or CLIMZ_ERR_NOT_FOUND. */
climz_status climz_reader_find(const climz_reader *r, const char *name, size_t *i);
/*! climz_reader_read() : decodes time steps [t0, t0 + nt) of variable var into dst (dims
 *  (nt, nz, ny, nx) of the variable with nt steps; any type and strides), decoding only the
 *  chunks that hold those steps. Values are unpacked (scale_factor / add_offset applied);
 *  missing points get NaN, or dst->fill_value when dst->flags has CLIMZ_FIELD_FILL. Several
 *  threads may read one reader at once, each with its own ctx. */
climz_status climz_reader_read(climz_ctx *ctx, const climz_reader *r, size_t var, size_t t0, size_t nt,
                               const climz_field *dst);

/* ---- the whole data set of a reader (bindings: python/climz's xarray backend) -------- */
/*! climz_reader_schema_json() : every dimension, group, global and variable attribute and
 *  variable (coded or stored) of the file as JSON text (caller frees with climz_free()):
 *  {"dims": [{"name", "len", "unlimited"}], "time_dim": name or null, "attributes": [A],
 *   "groups": [{"name", "attributes": [A]}], "variables": [{"name", "type" (CDL name:
 *   "float", "short", ...), "dims": [names], "attributes": [A], "coded": index for
 *   climz_reader_var() or -1 when stored losslessly, "time_axis": first dim is time_dim}],
 *   "header": the header JSON}; an attribute A is {"name", "type", "value"} for text
 *  ("char": a string, "string": an array of strings) or {"name", "type", "hex"} for numbers
 *  (the little-endian bytes of the stored type, so NaN and fill bits are exact). */
climz_status climz_reader_schema_json(climz_ctx *ctx, const climz_reader *r, char **json);
/*! climz_reader_read_stored() : the values of the variable called name in its stored type
 *  (schema "type"; "string" variables are CLIMZ_ERR_UNSUPPORTED) and C order, bit for bit as
 *  climz_decompress_file() writes them: coded variables packed again and with their exact
 *  missing-value bits, stored ones as stored. For a variable whose first dim is the time dim,
 *  steps [t0, t0 + nt) (only their chunks are decoded); otherwise t0 = 0 and nt = 0 or 1, the
 *  whole variable (nt = 0 with t0 = 0 is always the whole variable). cap is dst's size in
 *  bytes (CLIMZ_ERR_DST_TOO_SMALL if short). */
climz_status climz_reader_read_stored(climz_ctx *ctx, const climz_reader *r, const char *name, size_t t0,
                                      size_t nt, void *dst, size_t cap);

/* ======================================================================================
 * ---- training (VAEformer, SPEC section 3) --------------------------------------------
 * Phase 1 (climz_train_file) pretrains the VAEformer's encoder and decoder with MSE +
 * beta * KL; phase 2 (climz_finetune_file) trains the hyperprior, the entropy model and the
 * decoder with lambda * 255^2 * MSE + bits per value (encoder frozen unless asked), then
 * fits the factorised prior's quantiles and stores the CDF tables the codec needs.
 * Both are reproducible from a seed and resumable from their own checkpoints.
 * ====================================================================================== */


/* Options of a training run. Zero-initialise, then set what you need: 0 / NULL means the
 * default given here. */
typedef struct climz_train_opts {
    const char *config;         /* train: model configuration JSON (vae.h keys); NULL = the
                                   built-in default (models/climz-default.json) */
    const char *model;          /* finetune: the phase-1 model file (required) */
    const char *const *data;    /* data specs "FILE[:VAR[,VAR...]][@A:B[/C:D]]", NULL-terminated
                                   (required): NetCDF, GRIB or GrADS; no VAR = every gridded
                                   variable; VAR[i] or VAR[i:j] picks levels; @A:B gives this
                                   spec its own training steps (validation: /C:D, or without
                                   it every other step) instead of train_times / val_times */
    const char *train_times;    /* "A:B": time steps A..B (0-based, inclusive; negative counts
                                   from the end, -1 = last) of every file; NULL = all */
    const char *val_times;      /* "C:D" held out for validation; NULL = none. Fields without
                                   a time axis are always training data. */
    long steps;                 /* optimizer steps (total, also when resuming); 1000 / 500 */
    long batch;                 /* samples per step; 8 */
    long crop_h, crop_w;        /* training patch; 64 x 64 (smaller fields are padded, masked) */
    double lr;                  /* peak learning rate; 2e-4 (train) / 5e-5 (finetune) */
    double lr_min;              /* cosine floor; lr / 10 */
    long warmup;                /* linear warm-up steps; steps / 20 */
    double weight_decay;        /* AdamW decoupled decay; 0.01 (< 0 means 0) */
    double clip;                /* global gradient-norm clip; 1.0 (< 0: none) */
    double beta;                /* phase 1: KL weight; 3e-3 */
    double lambda;              /* phase 2: distortion weight (x 255^2); 1e-2 */
    unsigned long long seed;    /* everything random derives from it; 0 is a valid seed */
    int unfreeze_encoder;       /* phase 2: also train the encoder */
    int no_lat_weight;          /* 1: plain MSE instead of cos(latitude)-weighted */
    const char *resume;         /* a checkpoint of an earlier run to continue (bit for bit) */
    const char *checkpoint;     /* checkpoint path; NULL = "<out>.ckpt" */
    long checkpoint_every;      /* steps between checkpoints; 250 (the last step always) */
    long log_every;             /* steps between progress lines; 10 */
    long val_every;             /* steps between validations; 100 (and at the end) */
    long val_max;               /* validation fields at most; 16 */
    long max_fields;            /* training samples at most (the first ones); 0 = all */
    long stop_at;               /* stop after this step with a checkpoint (a run split into
                                   sessions, continued with resume); 0 = run to the end */
    int rate_min, rate_max;     /* phase 2, multi-rate: every step draws a rate level K
                                   uniformly from rate_min..rate_max (VAE_STEP_MIN -16 .. 40;
                                   quantiser step D = 2^(K/8), as `--opt step=K` codes) and
                                   weighs the distortion by lambda * D^-2, so one model learns
                                   every level; both 0 = one rate (level 0). The model records
                                   the range ("vae.rate_levels") */
    int rate_gains;             /* phase 2, multi-rate: 1 adds per-channel rate gains (log2
                                   step multipliers per latent channel at every 8th level,
                                   starting at 0) to a model without them; a model that has
                                   them trains them in every multi-rate run and keeps them
                                   unchanged in a one-rate run */
    double gain_lr;             /* the rate gains' peak learning rate; 10 * lr */
    climz_progress_fn progress; /* NULL: silent */
    void *progress_user;
} climz_train_opts;

/*! climz_train_file() : phase 1. Writes the model file at out_path (atomically) with the
 *  config, weights and per-channel normalisation statistics of the training split, and a
 *  checkpoint (optimizer included) beside it. @return CLIMZ_OK or an error code; details in
 *  climz_ctx_last_error(ctx). Uses the context's thread count. */
climz_status climz_train_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts);

/*! climz_finetune_file() : phase 2 on opts->model; writes the finished model (with the
 *  entropy tables the vaeformer codec needs) at out_path. */
climz_status climz_finetune_file(climz_ctx *ctx, const char *out_path,
                                 const climz_train_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* CLIMZ_H */
