/*
 * rans64.h — 64-bit-state rANS coder with 32-bit renormalisation, in the manner of
 * ryg_rans rans64.h (Fabian Giesen, public domain): tiny static inline functions, the
 * state is a value, the caller passes the buffer cursor.
 *
 * READ ME FIRST
 *  1. rANS is last-in first-out: the ENCODER RUNS IN REVERSE. To decode symbols
 *     s[0..n) in order, encode s[n-1] first and s[0] last.
 *  2. THE OUTPUT GROWS BACKWARDS: rans_enc_put() writes 32-bit words at *pptr - 4 and
 *     moves the cursor down; start at the END of a buffer and, when done, the stream is
 *     [*pptr, end). Each put writes at most 4 bytes and rans_enc_flush() 8, so a buffer
 *     of RANS_ENC_BOUND(nput, nstates) bytes is always enough (the encoder does not
 *     check: size it with that bound).
 *  3. STREAMS CAN BE INTERLEAVED: several states may write into the same buffer as long
 *     as the decoder performs exactly the reverse sequence of operations (state k
 *     flushed last is read first). Interleaving 2+ states hides the latency of the
 *     decode chain (table lookup, multiply) and is what makes decoding fast.
 *  4. Unlike ryg's, the DECODER NEVER READS PAST ITS END POINTER: rans_dec_init() and
 *     rans_dec_advance() return CLIMZ_ERR_TRUNCATED instead, and rans_dec_done()
 *     returns CLIMZ_ERR_CORRUPT unless the final state is the encoder's initial state
 *     and every byte was consumed (a free integrity check of ~31 bits per state).
 *  5. Words are stored little-endian on every machine (ryg stores host order).
 *
 * Maths. With M = 2^scale_bits and a symbol occupying [start, start + freq) of M:
 *     encode: x' = (x / freq) * M + (x % freq) + start
 *     decode: s from slot = x % M; x = freq * (x / M) + slot - start
 * The state lives in [L, L * 2^32) with L = 2^31. Before an encode the encoder emits the
 * low 32 bits while x >= x_max = ((L >> scale_bits) << 32) * freq, which keeps x' below
 * L * 2^32; once is always enough. After a decode step x >= freq * (L >> scale_bits) >= 1,
 * so one 32-bit read always brings x back to >= L. scale_bits <= 16 in climz (CDFs are
 * 16-bit); the coder itself is valid up to 31.
 *
 * Raw (bypass) bits share the stream: n raw bits w are a symbol with start = w, freq = 1
 * at scale n (rans_enc_put_bits / rans_dec_get_bits, n <= 16).
 */
#ifndef CLIMZ_RANS64_H
#define CLIMZ_RANS64_H

#include "common/cz_common.h"

#include <assert.h>
#include <stdint.h>

typedef uint64_t rans_state;

#define RANS_L (1ull << 31) /* lower bound of the normalisation interval */
#define RANS_MAX_SCALE_BITS 16u
/* bytes an encoder may write for nput puts and nstates flushes */
#define RANS_ENC_BOUND(nput, nstates) ((size_t)(nput) * 4u + (size_t)(nstates) * 8u)

/* ---- 64x64 -> high 64 multiply (for the reciprocal encoder) ---------------------------- */
#if defined(__SIZEOF_INT128__)
__extension__ typedef unsigned __int128 rans_u128_;
static inline uint64_t rans_mulhi64(uint64_t a, uint64_t b) {
    return (uint64_t)(((rans_u128_)a * b) >> 64);
}
#else
static inline uint64_t rans_mulhi64(uint64_t a, uint64_t b) {
    uint64_t const a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t const t = a1 * b0 + ((a0 * b0) >> 32);
    uint64_t const w1 = (uint32_t)t + a0 * b1;
    return a1 * b1 + (t >> 32) + (w1 >> 32);
}
#endif

/* ---- encoder ----------------------------------------------------------------------------- */

static inline void rans_enc_init(rans_state *r) { *r = RANS_L; }

/* Encode the symbol [start, start+freq) of 2^scale_bits (plain division; fine when the
 * table changes per symbol). Needs 1 <= freq, start + freq <= 2^scale_bits. */
static inline void rans_enc_put(rans_state *r, uint8_t **pptr, uint32_t start, uint32_t freq,
                                unsigned scale_bits) {
    assert(freq >= 1 && scale_bits <= 31 && start + (uint64_t)freq <= (1ull << scale_bits));
    uint64_t x = *r;
    uint64_t const x_max = ((RANS_L >> scale_bits) << 32) * freq;
    if (x >= x_max) {
        *pptr -= 4;
        cz_store_le32(*pptr, (uint32_t)x);
        x >>= 32;
    }
    *r = ((x / freq) << scale_bits) + (x % freq) + start;
}

/* n raw bits (n <= 16) as a symbol of frequency 1 at scale n. */
static inline void rans_enc_put_bits(rans_state *r, uint8_t **pptr, uint32_t bits, unsigned n) {
    assert(n >= 1 && n <= 16 && bits < (1u << n));
    uint64_t x = *r;
    if (x >= ((RANS_L >> n) << 32)) {
        *pptr -= 4;
        cz_store_le32(*pptr, (uint32_t)x);
        x >>= 32;
    }
    *r = (x << n) | bits;
}

/* Write the final state (8 bytes). After all states are flushed the stream is complete. */
static inline void rans_enc_flush(const rans_state *r, uint8_t **pptr) {
    *pptr -= 8;
    cz_store_le64(*pptr, *r);
}

/* Precomputed encoder symbol: replaces the division by a multiply with a fixed-point
 * reciprocal (Alverson, "Integer division using reciprocals"; derivation in ryg_rans).
 *   q = mulhi(x, rcp_freq) >> rcp_shift  equals x / freq for every x < 2^63, so
 *   x' = q * M + (x - q * freq) + start = x + bias + q * cmpl_freq, cmpl_freq = M - freq.
 * freq = 1 has no reciprocal below 1: use rcp = 2^64 - 1, shift 0, which gives q = x - 1
 * (x >= 1), and compensate with bias = start + M - 1. */
typedef struct rans_enc_sym {
    uint64_t x_max;     /* renormalise when x >= x_max */
    uint64_t rcp_freq;  /* fixed-point reciprocal of freq */
    uint32_t bias;      /* start, or start + M - 1 when freq == 1 */
    uint32_t cmpl_freq; /* M - freq */
    uint32_t rcp_shift;
    uint32_t pad_;
} rans_enc_sym;

static inline void rans_enc_sym_init(rans_enc_sym *s, uint32_t start, uint32_t freq,
                                     unsigned scale_bits) {
    assert(scale_bits <= 31 && freq >= 1 && start + (uint64_t)freq <= (1ull << scale_bits));
    uint64_t const M = 1ull << scale_bits;
    s->x_max = ((RANS_L >> scale_bits) << 32) * freq;
    s->cmpl_freq = (uint32_t)(M - freq);
    s->pad_ = 0;
    if (freq < 2) {
        s->rcp_freq = ~0ull;
        s->rcp_shift = 0;
        s->bias = (uint32_t)(start + M - 1);
    } else {
        /* shift = ceil(log2(freq)); rcp = ceil(2^(shift+63) / freq), computed as two
         * 64:64 divisions because the dividend has the simple form 2^(shift+63). */
        uint32_t shift = 0;
        while (freq > (1u << shift)) shift++;
        uint64_t x0 = freq - 1;
        uint64_t const x1 = 1ull << (shift + 31);
        uint64_t const t1 = x1 / freq;
        x0 += (x1 % freq) << 32;
        uint64_t const t0 = x0 / freq;
        s->rcp_freq = t0 + (t1 << 32);
        s->rcp_shift = shift - 1;
        s->bias = start;
    }
}

static inline void rans_enc_put_sym(rans_state *r, uint8_t **pptr, const rans_enc_sym *s) {
    uint64_t x = *r;
    if (x >= s->x_max) {
        *pptr -= 4;
        cz_store_le32(*pptr, (uint32_t)x);
        x >>= 32;
    }
    uint64_t const q = rans_mulhi64(x, s->rcp_freq) >> s->rcp_shift;
    *r = x + s->bias + q * s->cmpl_freq;
}

/* ---- decoder ----------------------------------------------------------------------------- */

/* Read a flushed state. TRUNCATED when fewer than 8 bytes remain, CORRUPT when the value
 * is outside [L, L * 2^32), which no encoder produces. */
static inline climz_status rans_dec_init(rans_state *r, const uint8_t **pptr, const uint8_t *end) {
    if (end - *pptr < 8) return cz_error(CLIMZ_ERR_TRUNCATED, "rANS stream ends inside its header");
    uint64_t const x = cz_load_le64(*pptr);
    if (x < RANS_L || x >= (RANS_L << 32)) return cz_error(CLIMZ_ERR_CORRUPT, "rANS state out of range");
    *pptr += 8;
    *r = x;
    return CLIMZ_OK;
}

/* The slot (cumulative frequency) the next symbol occupies; look the symbol up with it. */
static inline uint32_t rans_dec_get(const rans_state *r, unsigned scale_bits) {
    return (uint32_t)(*r & ((1ull << scale_bits) - 1));
}

/* Bring x back to >= L. The only read of the decoder, and it is bounds-checked. */
static inline climz_status rans_dec_renorm(rans_state *r, const uint8_t **pptr, const uint8_t *end) {
    uint64_t x = *r;
    if (x < RANS_L) {
        if (end - *pptr < 4) return cz_error(CLIMZ_ERR_TRUNCATED, "rANS stream ends early");
        x = (x << 32) | cz_load_le32(*pptr);
        *pptr += 4;
        *r = x;
    }
    return CLIMZ_OK;
}

/* Remove the symbol [start, start+freq) found through rans_dec_get(). */
static inline climz_status rans_dec_advance(rans_state *r, const uint8_t **pptr, const uint8_t *end,
                                            uint32_t start, uint32_t freq, unsigned scale_bits) {
    uint64_t const mask = (1ull << scale_bits) - 1;
    uint64_t const x = *r;
    *r = freq * (x >> scale_bits) + (x & mask) - start;
    return rans_dec_renorm(r, pptr, end);
}

/* n raw bits (n <= 16) written by rans_enc_put_bits(). */
static inline climz_status rans_dec_get_bits(rans_state *r, const uint8_t **pptr, const uint8_t *end,
                                             unsigned n, uint32_t *bits) {
    uint64_t const x = *r;
    *bits = (uint32_t)(x & ((1u << n) - 1));
    *r = x >> n;
    return rans_dec_renorm(r, pptr, end);
}

/* Integrity check once every symbol is decoded: each state must be back at L (the
 * encoder's initial state) and the whole stream consumed. */
static inline climz_status rans_dec_done(rans_state r, const uint8_t *ptr, const uint8_t *end) {
    if (r != RANS_L) return cz_error(CLIMZ_ERR_CORRUPT, "rANS final state mismatch");
    if (ptr != end) return cz_error(CLIMZ_ERR_CORRUPT, "rANS stream has %zu trailing bytes",
                                    (size_t)(end - ptr));
    return CLIMZ_OK;
}

#endif /* CLIMZ_RANS64_H */
