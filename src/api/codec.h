/*
 * codec.h — the table of codecs the file-level driver can use.
 *
 * The driver (compress.c, decode.c) owns everything common to all codecs: reading the data
 * set, choosing variables, the error bound, one missing-value mask chunk per (variable,
 * time step) that has missing points, the schema chunk, the header and the container. A
 * codec only turns one variable's field into its own chunks and back.
 */
#ifndef CZ_API_CODEC_H
#define CZ_API_CODEC_H

#include "api_internal.h"
#include "container/container.h"

#include <jansson.h>

typedef struct api_encode_args {
    const climz_ctx *ctx;
    const climz_compress_opts *opts; /* codec options (model path, key=value options) */
    const cz_dataset *ds;
    int var;                         /* index of the variable in ds (= chunk var number) */
    const cz_field *f;               /* its values and missing map */
    double max_abs_error;            /* E of this variable (0 = lossless / no bound) */
    double *bound_used;              /* NULL, or where a learned codec whose residual stage searched
                                        its bound for an RMSE target (below its latent's floor,
                                        residual_target.h) writes that bound; untouched otherwise */
} api_encode_args;

typedef struct api_codec {
    const char *name;
    /* Codes a->f into chunks of w (key var = a->var); writes into decoded (same size as the
     * field) exactly what decode() will return, and may add keys to the variable's header
     * entry. */
    climz_status (*encode)(const api_encode_args *a, clz_writer *w, float *decoded, json_t *entry);
    /* Decodes the file's time steps [t_first, t_first + f->nt) of variable var into
     * f->values; f->miss is already decoded. entry is the variable's header entry; opts
     * (may be NULL) carries a model path or options given at decompression; ctx (may be
     * NULL) keeps loaded models between calls. */
    climz_status (*decode)(const climz_ctx *ctx, const clz_reader *r, uint32_t var, json_t *entry,
                           const climz_decompress_opts *opts, cz_field *f, size_t t_first);
    /* NULL, or whether (1) under an error bound or an RMSE target the driver weighs the
     * residual codec alone (at the same bound, or at its own searched bound for the target)
     * against this codec and keeps the smaller, with these options (compress.c,
     * encode_checked): a learned codec that must never be worse than the classical one. */
    int (*weighs_residual)(const climz_compress_opts *opts);
    /* NULL (a variable is always coded whole), or the number of steps at whose multiples a
     * variable of nt steps of (nz, ny, nx) may be cut into slices coded apart under ctx's
     * bound (0 or >= nt: not with these options): each slice, coded alone with its steps
     * numbered from 0, gives the chunks of those steps in the coding of the whole variable,
     * and its keys merge (merge_entry) into those of the whole. The codec writes its chunks
     * stream by stream, each in time order, so the driver can put the slices' chunks in the
     * whole's order. The MPI driver's split. */
    size_t (*split_steps)(const climz_ctx *ctx, const climz_compress_opts *opts, size_t nt, size_t nz, size_t ny,
                          size_t nx);
    /* With split_steps: adds the keys of the next slice (from) to those of the slices before
     * it (into), in place; NULL when a slice's keys are those of the whole (the first's). */
    climz_status (*merge_entry)(json_t *into, const json_t *from);
} api_codec;

/* ---- the driver's steps, shared by the file and the in-memory paths ---- */

/* The codec opts->codec names (residual when NULL), or NULL with the error recorded. */
const api_codec *api_codec_for(const climz_compress_opts *opts);
/* Codes the loaded field f of variable i of ds with codec c: its mask chunks and codec chunks
 * into w, and its header entry (shape, bound, range, errors) into *entry. */
climz_status api_compress_field(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec *c,
                                const cz_dataset *ds, int i, const cz_field *f, clz_writer *w, json_t **entry);
/* The pieces of api_compress_field(), for drivers that code a field in parts (src/mpi/):
 * the error bound of the loaded field f of variable v (E absolute, in whole quanta for integer
 * storage; asked: E > 0 before the quanta; quantum 0 for float storage), its mask chunks
 * (*bytes += their size), and the driver's keys of its header entry e (after the codec's),
 * with the errors measured against decoded (the whole field as the decoder returns it). */
typedef struct api_bound {
    double E;
    int asked;
    double quantum;
} api_bound;
climz_status api_field_bound(const climz_ctx *ctx, const cz_var *v, const cz_field *f, api_bound *b);
/* The smallest and largest of f's valid values and how many there are (0, 0, 0 when none). */
void api_field_range(const cz_field *f, double *lo, double *hi, size_t *nvalid);
double api_field_spread(const cz_field *f); /* largest - smallest valid value; 0 with fewer than two */
/* RMSE of y against f over its valid points, summed as climz eval sums it (0 with none). */
double api_field_rmse(const cz_field *f, const float *y);
/* The same from the variable's range of valid values [lo, hi] (0, 0 when none), found
 * elsewhere (the MPI driver reduces it over the ranks' steps). */
climz_status api_range_bound(const climz_ctx *ctx, const cz_var *v, double lo, double hi, api_bound *b);
climz_status api_write_masks(clz_writer *w, uint32_t var, const cz_var *v, const cz_field *f, size_t *bytes);
/* A variable coded in slices by several coders (the MPI driver's ranks), each slice by its
 * owner: the collectives that make each owner take the decision one coder takes on the whole
 * field. Each is called by every owner in the same order; st is this owner's status so far;
 * each returns CLIMZ_OK when every owner passed CLIMZ_OK, else (on every owner) the status
 * and message of the first failing owner. */
typedef struct api_split {
    /* v[0..n) (n <= 4) summed over the owners' slices */
    climz_status (*sum)(void *user, climz_status st, size_t *v, size_t n);
    /* *e, this slice's codec keys, becomes the whole variable's: c's merge_entry of the
     * owners' keys in slice order (the first's when c has none) */
    climz_status (*merge)(void *user, climz_status st, const api_codec *c, json_t **e);
    void *user;
} api_split;
/* Codes the field f (variable i of ds, or a slice of its steps when split is not NULL) with
 * codec *c under bound b into w, with the checks and fallbacks of one process (compress.c):
 * a learned codec's NaN falls back to the residual codec under a bound, a valid value written
 * as an integer fill value codes again with half the quanta, and under a bound a codec that
 * weighs the residual codec keeps the smaller of the two. *c and b->E are what was finally
 * used, decoded what the decoder returns for f, *entry the codec's keys (the whole
 * variable's when split). */
climz_status api_encode_checked(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec **c,
                                const cz_dataset *ds, int i, const cz_field *f, api_bound *b, const api_split *split,
                                clz_writer *w, float *decoded, json_t **entry);
/* Leaves out of sel the selected variables of ds with no points (a dimension of size 0),
 * which are stored as they are, and says so in root's "notes". */
void api_drop_empty_vars(const cz_dataset *ds, uint8_t *sel, json_t *root);
climz_status api_entry_finish(const climz_ctx *ctx, const api_codec *c, const cz_dataset *ds, int i,
                              const cz_field *f, const float *decoded, size_t mask_bytes, double E, json_t *e);
/* A new header object with an empty "variables" array; source may be NULL. */
json_t *api_header_new(const char *codec, const char *source, const char *source_format);
/* Adds the schema chunk (variables with stored[i] keep their values) and float32_bytes, and
 * dumps the header JSON into *header (caller frees). */
climz_status api_header_finish(const cz_dataset *ds, const uint8_t *stored, json_t *root, clz_writer *w,
                               char **header);
/* Decodes the file's time steps [t0, t0 + nt) of the coded variable of header entry e into f
 * (allocated here; free with io_field_free). tdim is the file's time dimension (-1: none) and
 * tlen its length in the file; ds's dims may already be cut to the requested range. */
climz_status api_decode_field(const climz_ctx *ctx, const clz_reader *r, const cz_dataset *ds, json_t *e, int tdim,
                              size_t tlen, size_t t0, size_t nt, const climz_decompress_opts *opts, cz_field *f);
/* api_decode_clz() with the coded fields obtained by fetch (arguments as api_decode_field,
 * which it replaces; NULL = api_decode_field): the MPI driver decodes steps on other ranks. */
typedef climz_status (*api_field_fetch)(void *user, const climz_ctx *ctx, const clz_reader *r, const cz_dataset *ds, json_t *e, int tdim,
                                        size_t tlen, size_t t0, size_t nt, const climz_decompress_opts *opts,
                                        cz_field *f);
climz_status api_decode_clz_fetch(const climz_ctx *ctx, const char *path, const climz_decompress_opts *opts, api_field_fetch fetch,
                                  void *user, api_decoded *out);
/* The time dimension of a file (-1 if none), from its header's variable list. */
int api_find_time_dim(const cz_dataset *ds, json_t *vars);
/* Opens a .clz image in memory without copying it (it must outlive r): like api_open_clz. */
climz_status api_open_clz_mem(const void *data, size_t size, clz_reader **r, json_t **header, cz_dataset **ds);

/* Missing-value maps (plane points each) of the file's time steps [t_first, t_first + nt) of
 * variable var into miss (nt * plane); steps without a mask chunk have no missing point. */
climz_status api_decode_masks(const clz_reader *r, uint32_t var, size_t plane, size_t t_first, size_t nt,
                              uint8_t *miss);

/* Opens a .clz: the reader, its parsed JSON header (with a "variables" array) and the data
 * set rebuilt from its schema chunk (schema_bytes, if not NULL, gets that chunk's size).
 * On failure nothing is left open. */
climz_status api_open_clz(const char *path, clz_reader **r, json_t **header, cz_dataset **ds, size_t *schema_bytes);
/* Each header entry names a distinct coded variable of ds with a shape that holds its points
 * (header_check.c); called by api_open_clz. */
climz_status api_check_header_vars(const cz_dataset *ds, json_t *vars);

/* Integer-valued storage (storage.c): the quantum of v's stored values (|scale_factor| when
 * packed, 1 for an integer type, 0 for floating point); the largest whole number of quanta
 * within E; and decoded values rounded as the NetCDF writer will store them (valid points
 * only), returning how many would be written as one of v's missing values. */
double api_storage_quantum(const cz_var *v);
double api_bound_in_quanta(double E, double q);
size_t api_round_to_storage(const cz_var *v, float *y, const uint8_t *miss, size_t n);

/* The codec called name, or NULL. */
const api_codec *api_codec_find(const char *name);
/* Writes "residual, vaeformer, ..." into buf, for messages. */
void api_codec_names(char *buf, size_t cap);

extern const api_codec api_codec_residual;
extern const api_codec api_codec_inr;
extern const api_codec api_codec_vaeformer;

/* The error-bounded residual stage (codec_residual.c), on its own or on top of a learned
 * codec's reconstruction pred (same size as the field, or NULL): chunks of res_time_block()
 * steps under stream CLZ_STREAM_RESIDUAL, each within a->max_abs_error of the original. */
climz_status api_residual_encode(const api_encode_args *a, const float *pred, clz_writer *w, float *decoded,
                                 json_t *entry);
/* The file steps [*s0, *s1) of the residual blocks that cover steps [t_first, t_first + nt). */
climz_status api_residual_blocks(json_t *entry, size_t t_first, size_t nt, size_t *s0, size_t *s1);
/* Decodes steps [t_first, t_first + f->nt) into f->values; pred (NULL or the reconstruction of
 * the file steps from pred_t0 to the end of the last block needed) as at encoding. */
climz_status api_residual_decode(const clz_reader *r, uint32_t var, json_t *entry, cz_field *f, size_t t_first,
                                 const float *pred, size_t pred_t0);

#endif
