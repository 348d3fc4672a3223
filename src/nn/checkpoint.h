/*
 * checkpoint.h — model and training checkpoints in the safetensors layout, readable and
 * writable by Python's `safetensors` (and so by PyTorch's save_file / load_file).
 *
 * The file, byte by byte (all integers little-endian):
 *     u64 N                      length of the JSON header
 *     N bytes of JSON, UTF-8     {"__metadata__": {"key": "value", ...},
 *                                 "tensor.name": {"dtype": "F32", "shape": [2, 3],
 *                                                 "data_offsets": [begin, end]}, ...}
 *                                padded with spaces so that 8 + N is a multiple of 8
 *     data                       raw little-endian elements, row-major; tensor bytes are
 *                                [begin, end) relative to the start of data
 *
 * READ ME FIRST
 *  - The reader is strict, as the reference implementation is: every tensor's byte length
 *    must equal numel * dtype size, and the tensors, sorted by offset, must tile the data
 *    section exactly (no overlap, no gap, no trailing bytes). A file that ends early is
 *    CLIMZ_ERR_TRUNCATED; any other inconsistency is CLIMZ_ERR_CORRUPT; a dtype climz
 *    does not know is CLIMZ_ERR_UNSUPPORTED. Messages name the file and the tensor.
 *  - The writer orders the data by element size (8-byte types first, stable otherwise), so
 *    every tensor is naturally aligned without padding, and writes the header keys in that
 *    order with "__metadata__" first. Output bytes are a pure function of the inputs.
 *  - The writer BORROWS tensor data: the pointers given to nn_ckpt_put() must stay valid
 *    until nn_ckpt_write()/nn_ckpt_encode(). Metadata strings are copied.
 *  - Metadata values are strings (safetensors allows nothing else): put configs and
 *    statistics there as JSON text.
 *  - nn_ckpt_open() memory-maps the file (read-only, private): do not truncate or rewrite a
 *    checkpoint while it is open (climz's own writer replaces files by rename, which is
 *    safe). Tensor bytes in the map are unaligned in general: copy them out with
 *    nn_ckpt_get().
 *  - Parameter stores (params.h) map to tensors of the same names, dtype F32. A training
 *    checkpoint adds "optim.exp_avg.<name>" and "optim.exp_avg_sq.<name>" (AdamW m and v)
 *    and the optimizer state as JSON text under the metadata key "climz.optim".
 */
#ifndef NN_CHECKPOINT_H
#define NN_CHECKPOINT_H

#include "nn/optim.h"
#include "nn/params.h"

#include <stddef.h>
#include <stdint.h>

typedef enum nn_dtype {
    NN_DT_F32 = 0, NN_DT_F64, NN_DT_F16, NN_DT_BF16,
    NN_DT_I64, NN_DT_I32, NN_DT_I16, NN_DT_I8,
    NN_DT_U64, NN_DT_U32, NN_DT_U16, NN_DT_U8, NN_DT_BOOL,
    NN_DT_COUNT_
} nn_dtype;

size_t nn_dtype_size(nn_dtype dt);      /* bytes per element; 0 for an invalid value */
const char *nn_dtype_name(nn_dtype dt); /* safetensors spelling: "F32", "BF16", "U8", ... */
int nn_dtype_parse(const char *s);      /* the nn_dtype, or -1 when unknown */

#define NN_CKPT_MAX_DIMS 8
#define NN_CKPT_MAX_HEADER 100000000u /* as the reference implementation: 100 MB */
#define NN_CKPT_OPTIM_KEY "climz.optim"

typedef struct nn_ckpt_entry {
    char *name;
    nn_dtype dtype;
    size_t ndim;
    uint64_t shape[NN_CKPT_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; /* byte range in the data section */
    const void *src;     /* writer only: the borrowed elements, host byte order */
} nn_ckpt_entry;

typedef struct nn_ckpt_kv {
    char *key, *value;
} nn_ckpt_kv;

/* ---- writing --------------------------------------------------------------------------- */

typedef struct nn_ckpt_writer {
    nn_ckpt_entry *t;
    size_t n, cap;
    nn_ckpt_kv *meta;
    size_t n_meta, cap_meta;
} nn_ckpt_writer;

void nn_ckpt_writer_init(nn_ckpt_writer *w);
void nn_ckpt_writer_free(nn_ckpt_writer *w); /* NULL allowed */

/*! nn_ckpt_put() : adds tensor `name` of dtype dt and shape[0..ndim) whose elements are at
 *  data (host order, borrowed; may be NULL only when the tensor has no elements).
 *  @return CLIMZ_OK; CLIMZ_ERR_INVALID_ARG for an empty, duplicate or reserved
 *  ("__metadata__") name, ndim > NN_CKPT_MAX_DIMS or a bad dtype; CLIMZ_ERR_DIMENSION when
 *  the byte size overflows. */
climz_status nn_ckpt_put(nn_ckpt_writer *w, const char *name, nn_dtype dt, size_t ndim,
                         const size_t *shape, const void *data);
/*! nn_ckpt_put_meta() : sets metadata key to value (both copied; a key set twice keeps the
 *  last value). @return CLIMZ_OK, CLIMZ_ERR_ALLOC or CLIMZ_ERR_INVALID_ARG (NULL). */
climz_status nn_ckpt_put_meta(nn_ckpt_writer *w, const char *key, const char *value);

/*! nn_ckpt_encode() : the whole file, appended to out. */
climz_status nn_ckpt_encode(const nn_ckpt_writer *w, cz_buf *out);
/*! nn_ckpt_write() : writes the file at path atomically (temporary file + rename), streaming
 *  tensor data without a copy. @return CLIMZ_OK, CLIMZ_ERR_IO / NO_SPACE / ALLOC. */
climz_status nn_ckpt_write(const nn_ckpt_writer *w, const char *path);

/* ---- reading --------------------------------------------------------------------------- */

typedef struct nn_ckpt {
    char *path;          /* label used in messages (the file path) */
    const uint8_t *file; /* the whole file */
    size_t size;
    const uint8_t *data; /* data section: file + 8 + N */
    uint64_t data_size;
    nn_ckpt_entry *t;    /* tensors in header order */
    size_t n;
    nn_ckpt_kv *meta;
    size_t n_meta;
    int mapped;          /* file is an mmap (1) or malloc'd (0) or borrowed (2) */
} nn_ckpt;

/*! nn_ckpt_open() : maps (or reads) the file at path and validates the whole header
 *  against the file size. @return CLIMZ_OK; CLIMZ_ERR_NOT_FOUND / IO when it cannot be
 *  opened; CLIMZ_ERR_TRUNCATED, CORRUPT, UNSUPPORTED as in READ ME FIRST. On failure *ck is
 *  left closed (nn_ckpt_close() is still allowed). */
climz_status nn_ckpt_open(nn_ckpt *ck, const char *path);
/*! nn_ckpt_open_mem() : the same over a caller's buffer, which must outlive ck; label names
 *  it in messages. */
climz_status nn_ckpt_open_mem(nn_ckpt *ck, const void *buf, size_t size, const char *label);
void nn_ckpt_close(nn_ckpt *ck); /* NULL allowed; also on a zeroed struct */

const nn_ckpt_entry *nn_ckpt_find(const nn_ckpt *ck, const char *name); /* NULL if absent */
const char *nn_ckpt_meta(const nn_ckpt *ck, const char *key);            /* NULL if absent */
/* Raw little-endian bytes of an entry (end - begin of them); not aligned in general. */
static inline const uint8_t *nn_ckpt_bytes(const nn_ckpt *ck, const nn_ckpt_entry *e) {
    return ck->data + e->begin;
}

/*! nn_ckpt_get() : copies tensor `name` into dst as dtype dt, in host order, after checking
 *  that its shape is exactly shape[0..ndim). The stored dtype must be dt, except that
 *  F16 and BF16 are widened exactly when dt is F32.
 *  @return CLIMZ_OK; CLIMZ_ERR_NOT_FOUND (no such tensor); CLIMZ_ERR_DIMENSION (another
 *  shape, both printed); CLIMZ_ERR_UNSUPPORTED (a dtype that cannot become dt). */
climz_status nn_ckpt_get(const nn_ckpt *ck, const char *name, nn_dtype dt, size_t ndim,
                         const size_t *shape, void *dst);

/* ---- parameter stores and optimizer state ---------------------------------------------- */

/*! nn_ckpt_put_params() : adds every tensor of p (F32, borrowing p->data). */
climz_status nn_ckpt_put_params(nn_ckpt_writer *w, const nn_params *p);
/*! nn_ckpt_put_optim() : adds m and v of every tensor and the state of o (steps, clip,
 *  per-group hyper-parameters and frozen flags) under NN_CKPT_OPTIM_KEY.
 *  @return CLIMZ_ERR_INVALID_ARG when p has no training buffers. */
climz_status nn_ckpt_put_optim(nn_ckpt_writer *w, const nn_params *p, const nn_adamw *o);
/*! nn_ckpt_get_params() : fills every tensor of p from ck. Each must be present with exactly
 *  p's shape (F32, or F16/BF16 widened); tensors of ck that p does not declare are ignored
 *  (optimizer moments, other modules' tables). @return CLIMZ_OK, CLIMZ_ERR_NOT_FOUND,
 *  DIMENSION, UNSUPPORTED, naming file and tensor; INVALID_ARG if p is not allocated. */
climz_status nn_ckpt_get_params(const nn_ckpt *ck, nn_params *p);
/*! nn_ckpt_get_optim() : restores m, v and the state of o written by nn_ckpt_put_optim(),
 *  including per-group hyper-parameters and p's frozen flags, so that training continues
 *  bit for bit. @return as nn_ckpt_get_params(), plus CLIMZ_ERR_NOT_FOUND when there is no
 *  optimizer state (or a group of p is missing from it) and CLIMZ_ERR_CORRUPT when it does
 *  not parse. On failure o and the frozen flags are unchanged, but m and v may be partly
 *  overwritten. */
climz_status nn_ckpt_get_optim(const nn_ckpt *ck, nn_params *p, nn_adamw *o);

/*! nn_checkpoint_save() : writes p (and, when o != NULL, the optimizer state) plus the
 *  metadata pairs kv[0] = key, kv[1] = value, ..., ended by a NULL key (kv may be NULL),
 *  atomically at path. */
climz_status nn_checkpoint_save(const char *path, const nn_params *p, const nn_adamw *o,
                                const char *const *kv);
/*! nn_checkpoint_load() : nn_ckpt_open + nn_ckpt_get_params (+ nn_ckpt_get_optim when
 *  o != NULL) + close. */
climz_status nn_checkpoint_load(const char *path, nn_params *p, nn_adamw *o);
/*! nn_checkpoint_hash() : SHA-256 of the whole file, the model's identity in .clz files.
 *  hex (may be NULL) receives 64 lowercase hex digits and a NUL. */
climz_status nn_checkpoint_hash(const char *path, uint8_t digest[32], char hex[65]);

#endif /* NN_CHECKPOINT_H */
