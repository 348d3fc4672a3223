/*
 * cdf.h — integer-exact quantisation of probabilities to rANS frequency tables, and a
 * static single-table coder with a fast decode lookup.
 *
 * READ ME FIRST
 *  - Encoder and decoder must hold bit-identical tables, so every table that reaches the
 *    coder is made of integers: freq[i] >= 0, sum == 1 << prec, and every symbol that
 *    can occur has freq >= 1. The quantisation below runs in integers only; the one
 *    floating-point step (pmf -> integer weights) is an exact power-of-two scaling and a
 *    truncation, so the same pmf gives the same table on every IEEE-754 machine.
 *  - Method ("one slot for the tiny, largest remainder for the rest"): let P be the
 *    symbols that can occur (weight > 0, or all of them with ENT_Q_ALL), M = 1 << prec.
 *    Taking symbols of P by increasing weight (ties: higher index first), each whose
 *    proportional share w_i * R / W of the slots still unassigned (R, among the
 *    remaining weight W) is below 1 gets exactly 1. The others get
 *    floor(w_i * R / W) >= 1, and the R - sum(floor) units left over go, one each, to
 *    the largest remainders (w_i * R mod W), ties to the lower index. A pmf that fits
 *    exactly (e.g. dyadic) is reproduced exactly. Deterministic, O(n log n).
 *  - pmf -> weights: w_i = floor(ldexp(pmf_i, 40 - ilogb(max pmf))), at least 1 when
 *    pmf_i > 0: the largest weight lies in [2^40, 2^41). ldexp and the truncation are
 *    exact, so no libm rounding enters.
 */
#ifndef CLIMZ_ENTROPY_CDF_H
#define CLIMZ_ENTROPY_CDF_H

#include "common/cz_common.h"

#define ENT_PREC_MAX 16u         /* CDF precision of climz tables */
#define ENT_Q_ALL 1u             /* flag: every symbol can occur (zero weights get freq 1) */
#define ENT_QUANT_MAX_SYMS (1u << 20)

/*! ent_quantize_pmf() : freq[0..n) from pmf[0..n) (any positive scale, need not sum to 1).
 *  prec in [1, 16]. flags: 0 or ENT_Q_ALL.
 *  @return CLIMZ_OK, or CLIMZ_ERR_INVALID_ARG for a negative/NaN/infinite pmf, no symbol
 *  that can occur, more possible symbols than 1 << prec, or n > ENT_QUANT_MAX_SYMS. */
climz_status ent_quantize_pmf(uint32_t *freq, const double *pmf, size_t n, unsigned prec,
                              unsigned flags);
/*! ent_quantize_counts() : the same from integer counts (e.g. a histogram). */
climz_status ent_quantize_counts(uint32_t *freq, const uint32_t *counts, size_t n, unsigned prec,
                                 unsigned flags);
/*! ent_quantize_weights() : the integer core of both; weights < 2^42 each. */
climz_status ent_quantize_weights(uint32_t *freq, const uint64_t *w, size_t n, unsigned prec,
                                  unsigned flags);

/*! ent_freq_check() : @return CLIMZ_OK when freq[0..n) sums to 1 << prec, else
 *  CLIMZ_ERR_CORRUPT (used on deserialised tables). */
climz_status ent_freq_check(const uint32_t *freq, size_t n, unsigned prec);

/* Ideal code length, in bits, of counts[] coded with freq[] (both of length n);
 * +INFINITY when a symbol with a nonzero count has freq 0. For tests and benches. */
double ent_code_length_bits(const uint32_t *freq, const uint64_t *counts, size_t n, unsigned prec);

/* ---- static single-table coder ----------------------------------------------------------- */

/* One static distribution over symbols 0..n-1 (n <= 65536), with everything the hot
 * loops need precomputed: reciprocals for the encoder and a full 1 << prec slot table for
 * the decoder: a byte per slot plus a per-symbol (start, freq) table when n <= 256
 * (64 KiB at prec 16), else 6 bytes per slot (384 KiB; stays in L2). */
typedef struct ent_cdf ent_cdf;

/*! ent_cdf_create() : builds the coder for freq[0..n) (sum 1 << prec, prec in [1,16]).
 *  @return CLIMZ_OK and *c (free with ent_cdf_free), CLIMZ_ERR_INVALID_ARG or ALLOC. */
climz_status ent_cdf_create(ent_cdf **c, const uint32_t *freq, size_t n, unsigned prec);
void ent_cdf_free(ent_cdf *c); /* NULL is allowed */
size_t ent_cdf_nsym(const ent_cdf *c);
unsigned ent_cdf_prec(const ent_cdf *c);

/*! ent_cdf_encode() : appends the rANS stream of sym[0..count) to out (4 interleaved
 *  states, 32 + about count * H / 8 bytes).
 *  @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG for a symbol >= n or of frequency 0, ALLOC. */
climz_status ent_cdf_encode(const ent_cdf *c, const uint16_t *sym, size_t count, cz_buf *out);
/*! ent_cdf_decode() : decodes count symbols from in[0..size), which must be exactly one
 *  stream from ent_cdf_encode with the same table.
 *  @return CLIMZ_OK, CLIMZ_ERR_TRUNCATED or CLIMZ_ERR_CORRUPT; never reads outside in. */
climz_status ent_cdf_decode(const ent_cdf *c, const uint8_t *in, size_t size, uint16_t *sym,
                            size_t count);

#endif /* CLIMZ_ENTROPY_CDF_H */
