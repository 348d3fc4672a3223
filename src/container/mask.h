/*
 * mask.h — lossless coding of a missing-value map (cz_field.miss: one byte per point,
 * 0 = valid, k in 1..CZ_MAX_SPECIALS = the k-th special of the variable). Byte layout:
 * doc/format.md.
 *
 * READ ME FIRST
 *  - The encoder tries several methods and keeps the smallest stream: a constant map
 *    (all valid: 2-3 bytes), run lengths coded with the adaptive rANS coder, zstd of the
 *    map, and — when the row length is known (clz_mask_encode_rows) — 2-D coding of each
 *    row's transitions against the row above (the fax G4 / T.6 scheme), which is what
 *    land masks need. The decoder needs no row length: the stream records everything.
 *  - The stream records n; clz_mask_decode() refuses a stream written for another n
 *    (CLIMZ_ERR_CORRUPT), so a mask never lands on the wrong field silently.
 *  - Decoding never reads outside in[0..size) nor writes outside miss[0..n), and every
 *    decoded value is <= CZ_MAX_SPECIALS.
 */
#ifndef CZ_CODEC_MASK_H
#define CZ_CODEC_MASK_H

#include "io/dataset.h"

/* stream methods (first byte) */
enum clz_mask_method {
    CLZ_MASK_CONST = 0, /* every point has the same value */
    CLZ_MASK_RUNS = 1,  /* run lengths, adaptive rANS */
    CLZ_MASK_ZSTD = 2,  /* zstd of the map */
    CLZ_MASK_ROWS = 3,  /* row transitions against the row above (G4 modes), adaptive rANS */
    CLZ_MASK_G4 = 4,    /* the same modes with T.6's fixed prefix codes (small maps) */
};
#define CLZ_MASK_MAX_ROW (1u << 20) /* longest row the row methods accept */
const char *clz_mask_method_name(int method); /* "const", "runs", "zstd", "rows", "g4", "unknown" */

/*! clz_mask_encode() : appends the coded map miss[0..n) to out.
 *  @return CLIMZ_ERR_INVALID_ARG for a value > CZ_MAX_SPECIALS, CLIMZ_ERR_ALLOC. */
climz_status clz_mask_encode(const uint8_t *miss, size_t n, cz_buf *out);
/*! clz_mask_encode_rows() : the same knowing that the map is made of rows of nx points
 *  (nx = 0: unknown), which enables the 2-D context model. */
climz_status clz_mask_encode_rows(const uint8_t *miss, size_t n, size_t nx, cz_buf *out);

/*! clz_mask_encode_method() : forces one method (tests, reports); CLZ_MASK_CONST only for
 *  a map with a single value, CLZ_MASK_ROWS and CLZ_MASK_G4 only with 1 < nx < n,
 *  nx <= CLZ_MASK_MAX_ROW and n a multiple of nx
 *  (CLIMZ_ERR_INVALID_ARG otherwise). */
climz_status clz_mask_encode_method(const uint8_t *miss, size_t n, size_t nx, int method,
                                    cz_buf *out);

/*! clz_mask_decode() : decodes in[0..size) into miss[0..n).
 *  @return CLIMZ_ERR_CORRUPT (malformed stream, or one written for another n; miss is then
 *  partly written), CLIMZ_ERR_ALLOC. */
climz_status clz_mask_decode(const uint8_t *in, size_t size, uint8_t *miss, size_t n);

/*! clz_mask_info() : the method and the n recorded in a stream, without decoding it. */
climz_status clz_mask_info(const uint8_t *in, size_t size, int *method, size_t *n);

#endif /* CZ_CODEC_MASK_H */
