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

struct climz_ctx {
    double max_abs_error;
    double rel_error;
    int threads;
    int temporal;
    char last_error[1024];
};

/* Copy the thread-local error message into ctx and return s. */
climz_status api_fail(climz_ctx *ctx, climz_status s);
/* Clear ctx's message and apply its thread count; call at the start of each public op. */
void api_begin(climz_ctx *ctx);

/* Refuse an output path that is one of the files an operation reads (outpath.c): the input,
 * a GrADS data file (in_data), the model and the "context=FILE:VAR" options; or that exists
 * and is not a regular file. Any argument but out may be NULL. */
climz_status api_check_output(const char *out, const char *in, const char *in_data,
                              const char *model, const char *const *options);
climz_status api_check_train_output(const char *out, const char *ckpt, const climz_train_opts *o);

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
climz_status api_decode_clz(const char *path, const climz_decompress_opts *opts, api_decoded *out);
void api_decoded_free(api_decoded *d);

/* Variable name -> is the file a .clz (by magic)? */
int api_is_clz(const char *path);

#endif
