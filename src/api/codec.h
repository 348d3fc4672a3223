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
    /* NULL, or whether (1) under an error bound the driver weighs the residual codec alone
     * against this codec and keeps the smaller, with these options (compress.c,
     * encode_checked): a learned codec that must never be worse than the classical one. */
    int (*weighs_residual)(const climz_compress_opts *opts);
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
/* The same from the variable's range of valid values [lo, hi] (0, 0 when none), found
 * elsewhere (the MPI driver reduces it over the ranks' steps). */
climz_status api_range_bound(const climz_ctx *ctx, const cz_var *v, double lo, double hi, api_bound *b);
climz_status api_write_masks(clz_writer *w, uint32_t var, const cz_var *v, const cz_field *f, size_t *bytes);
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
