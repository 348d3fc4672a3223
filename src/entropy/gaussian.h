/*
 * gaussian.h — the discretised Gaussian conditional of SPEC section 3: 64 static tables,
 * one per scale level, for symbols v = round(y - mean), coded with per-symbol table
 * indexes derived from the hyper-decoder's scales.
 *
 * READ ME FIRST
 *  - Scale levels: s_i = 0.11 * (256 / 0.11)^(i / 63), i = 0..63, rounded to float (the
 *    float values are constants in gaussian.c, so every machine has the same ones).
 *    ent_gauss_scale_index(scale) = the smallest i with s_i >= scale (63 above 256 and
 *    for NaN): plain float comparisons, bit-identical everywhere.
 *  - Table i codes v in [-tail_i, tail_i] with the likelihood
 *        Phi((0.5 - |v|) / s) - Phi((-0.5 - |v|) / s),  s = max(s_i, 0.11), floored at 1e-9,
 *    plus an escape symbol with the tail mass 2 Phi(-(tail_i + 0.5) / s); values outside
 *    the range are sent as the escape and an Elias-gamma code in raw bits (tables.h).
 *    tail_i = ceil(m_i * s_i), m_i = 6 for s_i <= 1 falling linearly in log2(s_i) to 4
 *    at s_i = 256 (tails 1 .. 1024; see gaussian.c for why).
 *  - DETERMINISM: Phi is computed here from + - * / and the exact floor/ldexp only (own
 *    exp and erfc; no libm transcendental, no FMA contraction) and the pmf is quantised
 *    in integers (cdf.h), so
 *    ent_gauss_tables_build() gives bit-identical tables on every IEEE-754 machine.
 *    On top of that, a model file should store the tables (ent_gauss_tables_serialize)
 *    and decoders use the stored integers: the build method may then change freely.
 *  - Stream: see tables.h (2 interleaved rANS states; final state and exact length
 *    checked). The caller stores n and the stream size; the idx array must be the same
 *    on both sides (SPEC: a hash of it is recorded in the container).
 */
#ifndef CLIMZ_ENTROPY_GAUSSIAN_H
#define CLIMZ_ENTROPY_GAUSSIAN_H

#include "common/cz_common.h"
#include "entropy/ent_dec.h"

#define ENT_GAUSS_LEVELS 64
#define ENT_GAUSS_SCALE_MIN 0.11
#define ENT_GAUSS_SCALE_MAX 256.0
#define ENT_GAUSS_LIK_MIN 1e-9

typedef struct ent_gauss_tables ent_gauss_tables;

/*! ent_gauss_tables_build() : builds the 64 quantised tables at CDF precision prec
 *  (16 in climz; 10..16 accepted). @return CLIMZ_OK and *t (free with
 *  ent_gauss_tables_free), CLIMZ_ERR_INVALID_ARG or ALLOC. */
climz_status ent_gauss_tables_build(ent_gauss_tables **t, unsigned prec);
void ent_gauss_tables_free(ent_gauss_tables *t); /* NULL is allowed */

/*! ent_gauss_scale() : @return the canonical scale level i (0..63) as a float. */
float ent_gauss_scale(unsigned i);
/*! ent_gauss_scale_index() : index of the smallest canonical level >= scale (63 when
 *  scale > 256 or NaN; 0 when scale <= 0.11). */
uint8_t ent_gauss_scale_index(float scale);
/* the same for every element: idx[i] = ent_gauss_scale_index(scale[i]) */
void ent_gauss_scale_indexes(uint8_t *idx, const float *scale, size_t n);
/* the same rule against the levels stored in t (equal to the canonical ones unless the
 * tables were deserialised from a model that chose others) */
uint8_t ent_gauss_tables_index(const ent_gauss_tables *t, float scale);
float ent_gauss_tables_scale(const ent_gauss_tables *t, unsigned i);

/*! ent_gauss_encode() : appends the stream of sym[0..n) to out; sym[i] is coded with
 *  table idx[i]. Any int32 value can be coded. @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG
 *  (an idx >= 64) or ALLOC. */
climz_status ent_gauss_encode(const ent_gauss_tables *t, const int32_t *sym, const uint8_t *idx,
                              size_t n, cz_buf *out);
/*! ent_gauss_decode() : decodes n symbols from exactly in[0..size).
 *  @return CLIMZ_OK, CLIMZ_ERR_TRUNCATED, CLIMZ_ERR_CORRUPT (wrong stream, wrong idx,
 *  trailing bytes), CLIMZ_ERR_INVALID_ARG (an idx >= 64). Never reads outside in. */
climz_status ent_gauss_decode(const ent_gauss_tables *t, const uint8_t *in, size_t size,
                              const uint8_t *idx, size_t n, int32_t *sym);
/*! ent_gauss_decode_more() : the next n symbols of the stream d (ent_dec.h), the same as
 *  ent_gauss_decode on a stream that holds more. */
climz_status ent_gauss_decode_more(const ent_gauss_tables *t, ent_dec *d, const uint8_t *idx, size_t n,
                                   int32_t *sym);

/*! ent_gauss_tables_serialize() : appends the tables (scales and integer frequencies,
 *  CRC-protected, little-endian) to out. */
climz_status ent_gauss_tables_serialize(const ent_gauss_tables *t, cz_buf *out);
/*! ent_gauss_tables_deserialize() : rebuilds tables from exactly in[0..size).
 *  @return CLIMZ_OK, CLIMZ_ERR_CORRUPT, TRUNCATED, CHECKSUM, VERSION or ALLOC. */
climz_status ent_gauss_tables_deserialize(ent_gauss_tables **t, const uint8_t *in, size_t size);

/* Introspection (tests, benches, the model writer). */
unsigned ent_gauss_prec(const ent_gauss_tables *t);
int32_t ent_gauss_tail(const ent_gauss_tables *t, unsigned i); /* table i covers [-tail, tail] */
/* frequency of value v in table i (v outside the range: the escape's frequency) */
uint32_t ent_gauss_freq(const ent_gauss_tables *t, unsigned i, int32_t v);

/* Deterministic maths used by the tables (exposed for tests and for callers that need the
 * same likelihood): relative accuracy about 1e-14 against libm. */
double ent_det_exp(double x);        /* e^x, x in [-745, 709] */
double ent_det_erfc(double x);       /* complementary error function */
double ent_gauss_likelihood(int32_t v, double scale); /* the floored likelihood above */

#endif /* CLIMZ_ENTROPY_GAUSSIAN_H */
