/*
 * adaptive.h — adaptive frequency model for integer residuals (quantisation bins of the
 * error-bounded residual codec), coded with 2 interleaved rANS states.
 *
 * READ ME FIRST
 *  - The encoder BUFFERS: ent_aenc_put() runs the model forward and records each coded
 *    interval (4 bytes per operation); ent_aenc_finish() runs rANS backwards over the
 *    records (rANS is LIFO) and appends the stream. The decoder runs forward and updates
 *    its model exactly as the encoder did, so put/get sequences (contexts and order)
 *    must match.
 *  - Contexts are the caller's: any function of already-coded data (e.g. the magnitudes
 *    of coded neighbours) known to both sides. Each context has its own model.
 *  - Alphabet: v is zigzag-mapped, u = 2|v| - (v < 0); u < ENT_A_DIRECT is its own
 *    symbol; larger u are sent as a magnitude-class symbol ENT_A_DIRECT + k for
 *    m = u - ENT_A_DIRECT + 1 in [2^k, 2^(k+1)), followed by the k low bits of m raw
 *    (bypass, in the same rANS stream). Classes are adaptive too, so wide residual
 *    distributions lose little, and every int32 (INT32_MIN included) is codable.
 *  - Model: integer counts per context (+32 per symbol, halved when the total passes
 *    2^18, i.e. a memory of roughly the last 8000 symbols of the context, so it follows
 *    regional changes); the coding table (16-bit frequencies, every symbol >= 1) is
 *    rebuilt after 2, 4, 8, ... and then every 512 symbols of that context. All integer
 *    arithmetic: bit-identical on every machine. On real fields (Lorenzo residual bins
 *    of HGT, UWND, tas, etopo20 at 1e-2..1e-4 of the range, 8 neighbour contexts) the
 *    stream is within 0.3 % of the static empirical conditional entropy.
 *  - Stream: state 0, state 1 (8 bytes LE each), then 32-bit LE words; operation j
 *    (symbols, raw chunks and caller-modelled bits, in coding order) uses state j % 2. An empty stream is 16
 *    bytes. Call ent_adec_finish() after the last get: it verifies the final rANS
 *    states and that the stream was consumed exactly (a ~62-bit integrity check).
 */
#ifndef CLIMZ_ENTROPY_ADAPTIVE_H
#define CLIMZ_ENTROPY_ADAPTIVE_H

#include "common/cz_common.h"

#ifndef ENT_A_DIRECT
#define ENT_A_DIRECT 64       /* zigzag values with their own symbol */
#endif
#define ENT_A_MAX_CTX 4096    /* contexts per coder (each model is ~5 KiB) */

typedef struct ent_aenc ent_aenc; /* adaptive encoder: buffers symbols, codes at finish */
typedef struct ent_adec ent_adec;

/*! ent_aenc_create() : nctx contexts (1..ENT_A_MAX_CTX).
 *  @return CLIMZ_OK and *e (free with ent_aenc_free), INVALID_ARG or ALLOC. */
climz_status ent_aenc_create(ent_aenc **e, int nctx);
/*! ent_aenc_put() : codes v in context ctx (amortised O(1)).
 *  @return CLIMZ_OK, INVALID_ARG (ctx out of range) or ALLOC. */
climz_status ent_aenc_put(ent_aenc *e, int ctx, int32_t v);
/*! ent_aenc_put_bit() : codes one bit with the caller's probability p1 of a 1, at scale
 *  2^16 (1..65535), in the same stream: for binary models the caller keeps itself (the
 *  decoder passes the same p1 to ent_adec_get_bit()). @return CLIMZ_OK, INVALID_ARG or ALLOC. */
climz_status ent_aenc_put_bit(ent_aenc *e, uint32_t p1, int bit);
/*! ent_aenc_finish() : appends the stream of everything put since creation (or the last
 *  finish) to out, then resets e to a fresh coder (models included) for reuse.
 *  @return CLIMZ_OK or ALLOC (e is reset either way). */
climz_status ent_aenc_finish(ent_aenc *e, cz_buf *out);
/* bytes the stream would take if finished now (an estimate from the model: for
 * choosing between alternatives without finishing) */
double ent_aenc_cost_bytes(const ent_aenc *e);
size_t ent_aenc_count(const ent_aenc *e); /* symbols put since the last finish */
void ent_aenc_free(ent_aenc *e);          /* NULL is allowed */

/*! ent_adec_create() : a decoder over in[0..size) (not copied: in must outlive d).
 *  @return CLIMZ_OK, TRUNCATED / CORRUPT (bad stream header), INVALID_ARG or ALLOC. */
climz_status ent_adec_create(ent_adec **d, int nctx, const uint8_t *in, size_t size);
/*! ent_adec_get() : the next value, coded in context ctx.
 *  @return CLIMZ_OK, CLIMZ_ERR_TRUNCATED / CORRUPT on bad input (sticky: every later call
 *  returns it too), INVALID_ARG for a bad ctx. Never reads outside in. */
climz_status ent_adec_get(ent_adec *d, int ctx, int32_t *v);
/*! ent_adec_get_bit() : the next bit, coded by ent_aenc_put_bit() with the same p1.
 *  @return CLIMZ_OK, TRUNCATED / CORRUPT (sticky, as ent_adec_get), INVALID_ARG for a bad p1. */
climz_status ent_adec_get_bit(ent_adec *d, uint32_t p1, int *bit);
/*! ent_adec_finish() : after the last get: CLIMZ_OK when the stream ended exactly where
 *  the encoder's did, CLIMZ_ERR_CORRUPT otherwise. */
climz_status ent_adec_finish(const ent_adec *d);
void ent_adec_free(ent_adec *d); /* NULL is allowed */

#endif /* CLIMZ_ENTROPY_ADAPTIVE_H */
