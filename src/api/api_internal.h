/*
 * api_internal.h — pieces shared by the public file-level operations in src/api/.
 *
 * The .clz header is a JSON object written by compress.c (keys documented in
 * doc/format.md, "Header JSON"); decode.c turns a .clz back into a cz_dataset that the
 * NetCDF writer or the evaluator consumes.
 */
#ifndef CZ_API_INTERNAL_H
#define CZ_API_INTERNAL_H

#include "common/cz_common.h"
#include "io/dataset.h"

/* The VAEformer models a context keeps loaded, keyed by SHA-256 + path + deterministic
 * synthesis (the coder depends on it): a file with many variables, or many calls on one
 * context, loads a model once. The least recently used entry makes room. */
#define API_MODEL_CACHE 4
struct vae_loaded;
typedef struct api_model_cache {
    struct api_model_entry {
        char sha256[65];
        char path[4096];
        int det;
        struct vae_loaded *model; /* NULL: a free entry */
        uint64_t used;            /* clock of the last lookup */
        uint64_t file_id[5];      /* the file when it was loaded: device, inode, size, mtime and
                                   * ctime in ns (api_model_file_id); all 0 when unknown */
    } e[API_MODEL_CACHE];
    uint64_t clock;
} api_model_cache;

struct climz_ctx {
    double max_abs_error;
    double rel_error;
    int threads;
    int temporal;
    char *model; /* climz_ctx_set_model(): the model decoding uses; NULL = the recorded one */
    char last_error[1024];
    api_model_cache *models; /* allocated with the context, so that a const ctx still caches */
};

/* Copy the thread-local error message into ctx and return s. */
climz_status api_fail(climz_ctx *ctx, climz_status s);
/* Clear ctx's message and apply its thread count; call at the start of each public op. */
void api_begin(climz_ctx *ctx);

/* The model ctx keeps under (sha256, path, det), or NULL (also for a NULL ctx). */
struct vae_loaded *api_model_find(const climz_ctx *ctx, const char *sha256, const char *path, int det);
/* The context's model loaded from path with det whose file is, by api_model_file_id, the one
 * it was loaded from (no change since), else NULL: spares the encoder hashing the file. */
struct vae_loaded *api_model_find_unchanged(const climz_ctx *ctx, const char *path, int det);
/* Hands v (malloc'ed, open; its key: v->m.sha256, path, v->det) to ctx, which closes and frees
 * it in climz_ctx_free or when it makes room; 0 (the caller keeps v) for a NULL ctx. */
int api_model_keep(const climz_ctx *ctx, struct vae_loaded *v, const char *path);
/* Refuse an output path that is one of the files an operation reads (outpath.c): the input,
 * a GrADS data file (in_data), the model and the "context=FILE:VAR" options; or that exists
 * and is not a regular file. Any argument but out may be NULL. */
climz_status api_check_output(const char *out, const char *in, const char *in_data,
                              const char *model, const char *const *options);
/* the bundled VAEformer model's path ($CLIMZ_MODEL_DIR, beside the executable, the source
 * tree) into out; CLIMZ_ERR_NOT_FOUND naming the places tried */
climz_status api_vaeformer_default_model(char *out, size_t cap);
climz_status api_check_train_output(const char *out, const char *ckpt, const climz_train_opts *o);
/* climz_train_file (finetune 0) or climz_finetune_file (1) as one rank of comm (vae_train.h;
 * NULL: one process). */
struct vae_train_comm;
climz_status api_train(climz_ctx *ctx, int finetune, const char *out_path, const climz_train_opts *opts,
                       const struct vae_train_comm *comm);

/* Variables of a data set that a codec compresses: the named ones (error if one is missing
 * or not gridded), or every gridded data variable. sel[i] = 1 for selected vars. */
climz_status api_select_vars(const cz_dataset *ds, const char *const *names, uint8_t *sel);

/* A .clz decoded into memory: the data set (every kept variable with raw values) plus what
 * the header said about it. */
typedef struct api_decoded {
    cz_dataset *ds;
    char *header_json;
    uint64_t file_size;
    double decode_seconds;
} api_decoded;

/* Decode a .clz into a data set. opts (NULL = everything): the variables to keep (NULL = all
 * coded variables) and the time range [time_first, time_first + time_count) (count 0: to
 * the end) applied to every time-dependent variable, plus codec model/options. */
climz_status api_decode_clz(const climz_ctx *ctx, const char *path, const climz_decompress_opts *opts,
                            api_decoded *out);
void api_decoded_free(api_decoded *d);

/* Variable name -> is the file a .clz (by magic)? */
int api_is_clz(const char *path);

#endif
