/*
 * cz_common.h — internal helpers shared by every module: error reporting, growable byte
 * buffers, bounds-checked little-endian readers, checksums, atomic file output.
 *
 * READ ME FIRST
 *  - Errors: internal functions return climz_status. cz_error(code, fmt, ...) records a
 *    message in a thread-local slot and returns code, so error paths are one line:
 *        CZ_RETURN_IF(n == 0, CLIMZ_ERR_EMPTY, "variable %s has no points", name);
 *        CZ_FORWARD(io_read_var(...));
 *    The public API copies the thread-local message into the caller's context.
 *  - Readers never read past their end pointer: every cz_rd_* returns CLIMZ_ERR_TRUNCATED
 *    instead.
 */
#ifndef CZ_COMMON_H
#define CZ_COMMON_H

#include "climz.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <nettle/sha2.h>

/* ---- errors ------------------------------------------------------------------------ */

#if defined(__GNUC__)
#define CZ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CZ_PRINTF(f, a)
#endif

/* Record a message for code in the thread-local slot and return code. */
climz_status cz_error(climz_status code, const char *fmt, ...) CZ_PRINTF(2, 3);
/* Prefix the current thread-local message with "prefix: " (keeps the code). */
climz_status cz_error_prefix(climz_status code, const char *fmt, ...) CZ_PRINTF(2, 3);
const char *cz_error_message(void); /* the thread-local message, "" if none */
void cz_error_clear(void);

#define CZ_RETURN_IF(cond, code, ...)                                                       \
    do {                                                                                    \
        if (cond) return cz_error((code), __VA_ARGS__);                                     \
    } while (0)

#define CZ_FORWARD(expr)                                                                    \
    do {                                                                                    \
        climz_status const cz_fwd_s_ = (expr);                                              \
        if (cz_fwd_s_ != CLIMZ_OK) return cz_fwd_s_;                                        \
    } while (0)

/* For functions with cleanup: set `st` and jump to `label` on failure. */
#define CZ_CHECK_GOTO(st, expr, label)                                                      \
    do {                                                                                    \
        (st) = (expr);                                                                      \
        if ((st) != CLIMZ_OK) goto label;                                                   \
    } while (0)

#define CZ_FAIL_GOTO(st, label, code, ...)                                                  \
    do {                                                                                    \
        (st) = cz_error((code), __VA_ARGS__);                                               \
        goto label;                                                                         \
    } while (0)

/* ---- memory ------------------------------------------------------------------------ */

void *cz_malloc(size_t n);                  /* NULL on failure or n*size overflow */
void *cz_calloc(size_t count, size_t size); /* zeroed; NULL on failure */
void *cz_realloc(void *p, size_t n);
char *cz_strdup(const char *s); /* NULL for NULL */
/* a*b without overflow: returns false when the product does not fit in size_t */
bool cz_mul_ok(size_t a, size_t b, size_t *out);

/* ---- growable byte buffer (output) --------------------------------------------------- */

typedef struct cz_buf {
    uint8_t *data;
    size_t size;
    size_t cap;
} cz_buf;

void cz_buf_free(cz_buf *b); /* frees data, leaves an empty buffer */
climz_status cz_buf_reserve(cz_buf *b, size_t extra);
climz_status cz_buf_put(cz_buf *b, const void *p, size_t n);
climz_status cz_buf_put_u8(cz_buf *b, uint8_t v);
climz_status cz_buf_put_u16(cz_buf *b, uint16_t v);
climz_status cz_buf_put_u32(cz_buf *b, uint32_t v);
climz_status cz_buf_put_u64(cz_buf *b, uint64_t v);
climz_status cz_buf_put_f32(cz_buf *b, float v);
climz_status cz_buf_put_f64(cz_buf *b, double v);
climz_status cz_buf_put_str(cz_buf *b, const char *s); /* u32 length + bytes, no NUL */
climz_status cz_buf_put_varint(cz_buf *b, uint64_t v); /* LEB128: 7 bits a byte, low first */

/* ---- bounds-checked little-endian reader (input) ------------------------------------- */

typedef struct cz_rd {
    const uint8_t *p;
    const uint8_t *end;
} cz_rd;

static inline cz_rd cz_rd_make(const void *p, size_t n) {
    cz_rd r = {(const uint8_t *)p, (const uint8_t *)p + n};
    return r;
}
static inline size_t cz_rd_left(const cz_rd *r) { return (size_t)(r->end - r->p); }

climz_status cz_rd_bytes(cz_rd *r, void *dst, size_t n);
climz_status cz_rd_skip(cz_rd *r, size_t n, const uint8_t **where); /* where may be NULL */
climz_status cz_rd_u8(cz_rd *r, uint8_t *v);
climz_status cz_rd_u16(cz_rd *r, uint16_t *v);
climz_status cz_rd_u32(cz_rd *r, uint32_t *v);
climz_status cz_rd_u64(cz_rd *r, uint64_t *v);
climz_status cz_rd_f32(cz_rd *r, float *v);
climz_status cz_rd_f64(cz_rd *r, double *v);
climz_status cz_rd_varint(cz_rd *r, uint64_t *v); /* CLIMZ_ERR_CORRUPT when over 64 bits */
/* u32 length + bytes; returns a NUL-terminated malloc'd copy; max_len guards absurd sizes */
climz_status cz_rd_str(cz_rd *r, char **s, size_t max_len);

/* Unaligned little-endian load/store. */
/* IEEE binary16 (half.c): from float rounding to nearest even (overflow: infinity), and back
 * exactly; integer arithmetic, the same on every machine */
uint16_t cz_f16_from_f32(float f);
float cz_f32_from_f16(uint16_t h);

static inline uint32_t cz_load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t cz_load_le64(const uint8_t *p) {
    return (uint64_t)cz_load_le32(p) | (uint64_t)cz_load_le32(p + 4) << 32;
}
static inline void cz_store_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void cz_store_le64(uint8_t *p, uint64_t v) {
    cz_store_le32(p, (uint32_t)v);
    cz_store_le32(p + 4, (uint32_t)(v >> 32));
}

/* ---- checksums and hashes ------------------------------------------------------------ */

/* CRC-32C (Castagnoli). Start with crc = 0; chain calls to extend. */
uint32_t cz_crc32c(uint32_t crc, const void *data, size_t n);

typedef struct cz_sha256 {
    struct sha256_ctx ctx;
} cz_sha256;
void cz_sha256_init(cz_sha256 *s);
void cz_sha256_update(cz_sha256 *s, const void *data, size_t n);
void cz_sha256_final(cz_sha256 *s, uint8_t out[32]);
void cz_sha256_hex(const uint8_t digest[32], char hex[65]);
/* SHA-256 of a whole file */
climz_status cz_sha256_file(const char *path, uint8_t out[32]);

/* ---- files --------------------------------------------------------------------------- */

/* Read a whole file into memory (malloc'd, caller frees). */
climz_status cz_read_file(const char *path, uint8_t **data, size_t *size);

/* Atomic output: cz_atomic_open() creates "<path>.tmp.<pid>.XXXXXX" beside path;
 * cz_atomic_commit() flushes, checks every write for errors (full disk, file-size limit)
 * and renames it to path; cz_atomic_abort() removes it. Exactly one of commit/abort must
 * follow a successful open; commit removes the temporary itself on failure. */
typedef struct cz_atomic {
    FILE *f;
    char *tmp_path;
    char *final_path;
} cz_atomic;
climz_status cz_atomic_open(cz_atomic *a, const char *path);
climz_status cz_atomic_write(cz_atomic *a, const void *p, size_t n);
climz_status cz_atomic_commit(cz_atomic *a);
void cz_atomic_abort(cz_atomic *a);
/* Only a temporary path, for writers (libnetcdf) that create the file themselves:
 * fills tmp with a fresh unused name beside path. Caller renames with cz_rename_into_place. */
climz_status cz_temp_path_beside(const char *path, char **tmp);
climz_status cz_rename_into_place(const char *tmp, const char *path);

/* Output-path safety (outpath.c). cz_output_check() refuses an output that is one of the
 * inputs (same device and inode, through symlinks and hard links) or that exists and is not
 * a regular file; call it before any work. cz_rename_into_place() checks again with
 * cz_output_replaceable(). Temporaries are registered while they exist, so that
 * cz_temp_remove_all() (async-signal-safe) can remove them from a signal handler;
 * cz_temp_remove_stale() removes those of dead processes beside an output. */
climz_status cz_output_check(const char *out, const char *const *inputs, int ninputs);
climz_status cz_output_replaceable(const char *out);
void cz_temp_register(const char *path);
void cz_temp_forget(const char *path);
void cz_temp_remove(const char *path); /* unlink and forget */
void cz_temp_remove_all(void);
void cz_temp_remove_stale(const char *path);

/* errno of a failed write mapped to a status: ENOSPC/EFBIG/EDQUOT -> CLIMZ_ERR_NO_SPACE */
climz_status cz_status_from_errno(int err);

/* ---- threads ------------------------------------------------------------------------- */
int cz_num_threads(void);         /* threads OpenMP will use (1 without OpenMP) */
void cz_set_num_threads(int n);   /* n <= 0: all cores */

/* ---- time ---------------------------------------------------------------------------- */
double cz_now(void);            /* monotonic seconds */
double cz_thread_cpu_now(void); /* CPU seconds of the calling thread (benchmarks on a shared machine) */

#endif /* CZ_COMMON_H */
