/*
 * container.h — the .clz container: a preamble, a JSON header, a chunk index and the chunk
 * payloads, each section under its own CRC-32C. The byte layout is in doc/format.md.
 *
 * READ ME FIRST
 *  - A chunk is addressed by the key (var, t, stream). var is the driver's variable number
 *    (CLZ_NO_VAR for chunks that belong to no variable, such as the schema); t is the time
 *    step (CLZ_NO_TIME for chunks covering every time step). Keys are unique in a file.
 *  - The writer keeps everything in memory and writes the file in one go, atomically, at
 *    clz_writer_finish(); nothing appears at the path before that.
 *  - The reader checks at open time everything it can check cheaply: magic, version,
 *    preamble / header / index CRCs, and that every chunk lies inside the file (sections are
 *    contiguous, so every byte of a valid file is covered by exactly one CRC). A chunk's own
 *    CRC is checked when the chunk is fetched with clz_reader_get(), so random access by
 *    (var, t) touches only the chunks it needs. A file is memory-mapped, not read whole
 *    (so, as with any mmap, a file truncated by another process while open can fault).
 *  - Errors name the chunk: "chunk 17 (var UWND, time 5, stream residual): CRC-32C mismatch".
 *    Variable names come from the writer's name table (clz_writer_set_var_name) or, when
 *    absent, from the header JSON's "variables" array (element var, a string or an object
 *    with "name").
 *  - A reader is immutable after open: clz_reader_get() may be called from many threads.
 */
#ifndef CZ_CODEC_CONTAINER_H
#define CZ_CODEC_CONTAINER_H

#include "common/cz_common.h"

#define CLZ_FORMAT_MAJOR 1 /* a reader refuses files with a newer major (CLIMZ_ERR_VERSION) */
#define CLZ_FORMAT_MINOR 0 /* newer minors only add what older readers may ignore */
#define CLZ_PREAMBLE_SIZE 80
#define CLZ_INDEX_ENTRY_SIZE 32

enum clz_stream {
    CLZ_STREAM_SCHEMA = 1,   /* data set metadata + small stored variables (schema.h) */
    CLZ_STREAM_MASK = 2,     /* missing-value map of a (var, t) (mask.h) */
    CLZ_STREAM_RESIDUAL = 3, /* error-bounded residual */
    CLZ_STREAM_LATENT = 4,   /* VAEformer latents z and y of one prediction group (5 is not used) */
    CLZ_STREAM_INR = 6,      /* CA-INR weights */
    CLZ_STREAM_CONTEXT = 7,  /* a context field stored in the file (CA-INR climatology) */
    CLZ_STREAM_EXACT = 8,    /* exact stored bits of a (var, t)'s out-of-valid-range points */
};
/*! clz_stream_name() : "schema", "mask", "residual", "latent", "inr", "context";
 *  "unknown" for other numbers. Never NULL. */
const char *clz_stream_name(int stream);

#define CLZ_NO_VAR UINT32_MAX  /* chunk not tied to a variable (schema) */
#define CLZ_NO_TIME UINT32_MAX /* chunk covering all time steps */

typedef struct clz_chunk {
    uint32_t var, t;
    uint16_t stream;
    uint64_t offset, size; /* payload bytes [offset, offset+size) of the file */
    uint32_t crc;          /* CRC-32C of the payload */
} clz_chunk;

/* ---- writing ---------------------------------------------------------------------- */

typedef struct clz_writer clz_writer; /* collects chunks in memory */

climz_status clz_writer_create(clz_writer **w); /* CLIMZ_ERR_ALLOC */
/*! clz_writer_add() : appends a chunk; data is copied (size may be 0). Not thread-safe.
 *  @return CLIMZ_ERR_INVALID_ARG for a key already added or stream 0. */
climz_status clz_writer_add(clz_writer *w, uint32_t var, uint32_t t, uint16_t stream,
                            const void *data, size_t size);
/*! clz_writer_set_var_name() : names variable var in the container's name table, used by
 *  readers in error messages only (the header JSON stays the authority). Optional. */
climz_status clz_writer_set_var_name(clz_writer *w, uint32_t var, const char *name);
size_t clz_writer_nchunks(const clz_writer *w);
size_t clz_writer_payload_bytes(const clz_writer *w); /* sum of the chunk sizes so far */
/* Drops the chunks added after the writer had n chunks and `bytes` payload bytes (a variable
 * coded again with other settings). */
void clz_writer_rollback(clz_writer *w, size_t n, size_t bytes);
/*! clz_writer_finish() : writes preamble, header_json (UTF-8, stored without its NUL),
 *  index and chunks to path atomically (temp file + rename). The writer stays valid, so a
 *  failed write may be retried. CLIMZ_ERR_INVALID_ARG (NULL header), CLIMZ_ERR_IO,
 *  CLIMZ_ERR_NO_SPACE, CLIMZ_ERR_NOT_FOUND (no such directory). */
climz_status clz_writer_finish(clz_writer *w, const char *header_json, const char *path);
/*! clz_writer_finish_mem() : the same file image appended to out (tests, the fuzz corpus,
 *  in-memory use). */
climz_status clz_writer_finish_mem(clz_writer *w, const char *header_json, cz_buf *out);
/*! clz_writer_finish_into() : the same file image into the caller's dst (cap bytes);
 *  *written = its size. CLIMZ_ERR_DST_TOO_SMALL (nothing written) when it does not fit. */
climz_status clz_writer_finish_into(clz_writer *w, const char *header_json, void *dst, size_t cap, size_t *written);
void clz_writer_free(clz_writer *w); /* NULL allowed */

/* For writers that lay payloads down themselves (the MPI driver, src/mpi/: every rank writes
 * its chunks at its offset of one shared file). A writer holds stored chunks (clz_writer_add)
 * or external ones, never both. */
/*! clz_writer_add_external() : appends an index entry whose payload (size bytes, CRC-32C crc)
 *  the caller writes at data start + the sizes of the entries before it. */
climz_status clz_writer_add_external(clz_writer *w, uint32_t var, uint32_t t, uint16_t stream, uint64_t size,
                                     uint32_t crc);
/*! clz_writer_head() : preamble + header + index (the bytes before the first payload) into head. */
climz_status clz_writer_head(clz_writer *w, const char *header_json, cz_buf *head);
/*! clz_writer_chunk_at() : entry i in the order added (offset relative to the first payload)
 *  and its stored payload (*data NULL for external chunks). CLIMZ_ERR_NOT_FOUND past the end. */
climz_status clz_writer_chunk_at(const clz_writer *w, size_t i, clz_chunk *c, const uint8_t **data);

/* ---- reading ---------------------------------------------------------------------- */

typedef struct clz_reader clz_reader;

/*! clz_reader_open() : maps the file and checks magic, version, preamble / header / index
 *  CRCs and that every chunk lies inside the file.
 *  @return CLIMZ_ERR_NOT_FOUND, CLIMZ_ERR_IO, CLIMZ_ERR_CORRUPT (not a .clz file, or
 *  inconsistent offsets), CLIMZ_ERR_TRUNCATED (file shorter than it says),
 *  CLIMZ_ERR_CHECKSUM, CLIMZ_ERR_VERSION (newer major), CLIMZ_ERR_UNSUPPORTED (a required
 *  flag this reader does not know). */
climz_status clz_reader_open(const char *path, clz_reader **r);
/*! clz_reader_open_mem() : the same on a caller buffer, which is copied. */
climz_status clz_reader_open_mem(const void *data, size_t size, clz_reader **r);
/*! clz_reader_open_view() : the same on a caller buffer that is not copied: it must stay
 *  unchanged and alive until clz_reader_free(). */
climz_status clz_reader_open_view(const void *data, size_t size, clz_reader **r);
void clz_reader_free(clz_reader *r); /* NULL allowed */

const char *clz_reader_header(const clz_reader *r); /* header JSON, NUL-terminated */
size_t clz_reader_header_size(const clz_reader *r); /* its bytes, without the NUL */
void clz_reader_version(const clz_reader *r, unsigned *major, unsigned *minor);
size_t clz_reader_nchunks(const clz_reader *r);
const clz_chunk *clz_reader_chunk(const clz_reader *r, size_t i); /* NULL when i >= n */
uint64_t clz_reader_file_size(const clz_reader *r); /* bytes as stored (a compact frame: its own) */
/* index of the chunk (var, t, stream), or SIZE_MAX if absent; O(log n) */
size_t clz_reader_find(const clz_reader *r, uint32_t var, uint32_t t, uint16_t stream);
/*! clz_reader_get() : payload of the chunk (var, t, stream), valid until clz_reader_free();
 *  its CRC is verified now. @return CLIMZ_ERR_NOT_FOUND if absent, CLIMZ_ERR_CHECKSUM
 *  naming the chunk. Thread-safe. */
climz_status clz_reader_get(const clz_reader *r, uint32_t var, uint32_t t, uint16_t stream,
                            const uint8_t **data, size_t *size);
/* the same by index position i */
climz_status clz_reader_get_at(const clz_reader *r, size_t i, const uint8_t **data, size_t *size);
/* the same without verifying the CRC, NULL when i >= n: introspection (climz info) reads a
 * stream's header without touching the rest of the payload, which may be damaged */
const uint8_t *clz_reader_peek_at(const clz_reader *r, size_t i, size_t *size);
/* verifies every chunk's CRC (climz info --check); the first failure is returned */
climz_status clz_reader_verify_all(const clz_reader *r);
/* name of variable var for messages: the name table, the header JSON, or NULL */
const char *clz_reader_var_name(const clz_reader *r, uint32_t var);
/* "chunk 17 (var UWND, time 5, stream residual)" into buf; returns buf */
char *clz_reader_describe(const clz_reader *r, size_t i, char *buf, size_t cap);

#endif /* CZ_CODEC_CONTAINER_H */
