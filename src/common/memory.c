/* memory.c — allocation wrappers, the growable output buffer and the bounded reader. */
#include "cz_common.h"

#include <stdlib.h>
#include <string.h>

void *cz_malloc(size_t n) { return malloc(n ? n : 1); }
void *cz_calloc(size_t count, size_t size) { return calloc(count ? count : 1, size ? size : 1); }
void *cz_realloc(void *p, size_t n) { return realloc(p, n ? n : 1); }

char *cz_strdup(const char *s) {
    if (!s) return NULL;
    size_t const n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

bool cz_mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

void climz_free(void *p) { free(p); }

/* ---- cz_buf ---- */

void cz_buf_free(cz_buf *b) {
    free(b->data);
    b->data = NULL;
    b->size = b->cap = 0;
}

climz_status cz_buf_reserve(cz_buf *b, size_t extra) {
    CZ_RETURN_IF(extra > SIZE_MAX - b->size, CLIMZ_ERR_ALLOC, "buffer size overflow");
    size_t const need = b->size + extra;
    if (need <= b->cap) return CLIMZ_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *d = realloc(b->data, cap);
    CZ_RETURN_IF(!d, CLIMZ_ERR_ALLOC, "out of memory growing a buffer to %zu bytes", cap);
    b->data = d;
    b->cap = cap;
    return CLIMZ_OK;
}

climz_status cz_buf_put(cz_buf *b, const void *p, size_t n) {
    if (n == 0) return CLIMZ_OK;
    CZ_FORWARD(cz_buf_reserve(b, n));
    memcpy(b->data + b->size, p, n);
    b->size += n;
    return CLIMZ_OK;
}

climz_status cz_buf_put_u8(cz_buf *b, uint8_t v) { return cz_buf_put(b, &v, 1); }
climz_status cz_buf_put_u16(cz_buf *b, uint16_t v) {
    uint8_t t[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return cz_buf_put(b, t, 2);
}
climz_status cz_buf_put_u32(cz_buf *b, uint32_t v) {
    uint8_t t[4] = {0};
    cz_store_le32(t, v);
    return cz_buf_put(b, t, 4);
}
climz_status cz_buf_put_u64(cz_buf *b, uint64_t v) {
    uint8_t t[8] = {0};
    cz_store_le64(t, v);
    return cz_buf_put(b, t, 8);
}
climz_status cz_buf_put_f32(cz_buf *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return cz_buf_put_u32(b, u);
}
climz_status cz_buf_put_f64(cz_buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return cz_buf_put_u64(b, u);
}
climz_status cz_buf_put_str(cz_buf *b, const char *s) {
    size_t const n = s ? strlen(s) : 0;
    CZ_RETURN_IF(n > UINT32_MAX, CLIMZ_ERR_INVALID_ARG, "string too long");
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)n));
    return cz_buf_put(b, s, n);
}

/* ---- cz_rd ---- */

climz_status cz_rd_bytes(cz_rd *r, void *dst, size_t n) {
    CZ_RETURN_IF(cz_rd_left(r) < n, CLIMZ_ERR_TRUNCATED, "data ends %zu bytes early",
                 n - cz_rd_left(r));
    if (n) memcpy(dst, r->p, n);
    r->p += n;
    return CLIMZ_OK;
}

climz_status cz_rd_skip(cz_rd *r, size_t n, const uint8_t **where) {
    CZ_RETURN_IF(cz_rd_left(r) < n, CLIMZ_ERR_TRUNCATED, "data ends %zu bytes early",
                 n - cz_rd_left(r));
    if (where) *where = r->p;
    r->p += n;
    return CLIMZ_OK;
}

climz_status cz_rd_u8(cz_rd *r, uint8_t *v) { return cz_rd_bytes(r, v, 1); }

climz_status cz_buf_put_varint(cz_buf *b, uint64_t v) {
    uint8_t t[10];
    int n = 0;
    do {
        t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return cz_buf_put(b, t, (size_t)n);
}

climz_status cz_rd_varint(cz_rd *r, uint64_t *v) {
    uint64_t x = 0;
    for (int sh = 0; sh < 64; sh += 7) {
        uint8_t c;
        CZ_FORWARD(cz_rd_u8(r, &c));
        CZ_RETURN_IF(sh == 63 && c > 1, CLIMZ_ERR_CORRUPT, "varint overflows 64 bits");
        x |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) {
            *v = x;
            return CLIMZ_OK;
        }
    }
    return cz_error(CLIMZ_ERR_CORRUPT, "varint longer than 10 bytes");
}

climz_status cz_rd_u16(cz_rd *r, uint16_t *v) {
    uint8_t t[2] = {0};
    CZ_FORWARD(cz_rd_bytes(r, t, 2));
    *v = (uint16_t)(t[0] | t[1] << 8);
    return CLIMZ_OK;
}
climz_status cz_rd_u32(cz_rd *r, uint32_t *v) {
    uint8_t t[4] = {0};
    CZ_FORWARD(cz_rd_bytes(r, t, 4));
    *v = cz_load_le32(t);
    return CLIMZ_OK;
}
climz_status cz_rd_u64(cz_rd *r, uint64_t *v) {
    uint8_t t[8] = {0};
    CZ_FORWARD(cz_rd_bytes(r, t, 8));
    *v = cz_load_le64(t);
    return CLIMZ_OK;
}
climz_status cz_rd_f32(cz_rd *r, float *v) {
    uint32_t u;
    CZ_FORWARD(cz_rd_u32(r, &u));
    memcpy(v, &u, 4);
    return CLIMZ_OK;
}
climz_status cz_rd_f64(cz_rd *r, double *v) {
    uint64_t u;
    CZ_FORWARD(cz_rd_u64(r, &u));
    memcpy(v, &u, 8);
    return CLIMZ_OK;
}
climz_status cz_rd_str(cz_rd *r, char **s, size_t max_len) {
    uint32_t n;
    CZ_FORWARD(cz_rd_u32(r, &n));
    CZ_RETURN_IF(n > max_len, CLIMZ_ERR_CORRUPT, "string length %u exceeds limit %zu", n, max_len);
    CZ_RETURN_IF(cz_rd_left(r) < n, CLIMZ_ERR_TRUNCATED, "string of %u bytes is cut off", n);
    char *d = malloc((size_t)n + 1);
    CZ_RETURN_IF(!d, CLIMZ_ERR_ALLOC, "out of memory");
    memcpy(d, r->p, n);
    d[n] = 0;
    r->p += n;
    *s = d;
    return CLIMZ_OK;
}
