/* fuzz_targets.h — the fuzz targets' entry points, shared with the corpus replay driver and
 * the corpus writer. */
#ifndef CLIMZ_FUZZ_TARGETS_H
#define CLIMZ_FUZZ_TARGETS_H

#include "common/cz_common.h"

/* fuzz_clz_decode.c: decodes data[0..size) every way the target does; returns the status of
 * the plain container pass (open, every chunk, schema, masks): the first failure, or
 * CLIMZ_OK. */
climz_status fuzz_clz_decode_one(const uint8_t *data, size_t size);

/* fuzz_latent_decode.c: the VAEformer decoder on a field of FL_NT steps of FL_NZ levels of
 * FL_NY x FL_NX points whose latent chunks are the input (format there); returns its status. */
#define FL_NT 3
#define FL_NZ 2
#define FL_NY 20
#define FL_NX 28
climz_status fuzz_latent_decode_one(const uint8_t *data, size_t size);
/* the path of the fuzzed model (made on first use, removed at exit) */
climz_status fuzz_latent_model(const char **path);
/* appends to out the input that holds the latent chunks the encoder writes for the field x
 * (FL_NT * FL_NZ * FL_NY * FL_NX values, missing map miss) with codec options opts (NULL
 * terminated, or NULL), behind the first byte g */
climz_status fuzz_latent_seed(const float *x, const uint8_t *miss, const char *const *opts, uint8_t g, cz_buf *out);

/* fuzz_residual_decode.c: the residual stream decoder on an input of 4 bytes (block shape,
 * flags; format there) and the stream; returns res_decode()'s status (TRUNCATED under 4
 * bytes). */
climz_status fuzz_residual_decode_one(const uint8_t *data, size_t size);

#endif
