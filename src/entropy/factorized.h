/*
 * factorized.h — per-channel static tables for the hyperprior z (SPEC section 3: the
 * factorised prior). The network computes, for each channel c, a pmf over the integer
 * range [offset_c, offset_c + n_c) and the mass outside it; this module quantises those
 * to integer tables (cdf.h) once, and codes arrays of symbols with them.
 *
 * READ ME FIRST
 *  - Values outside a channel's range are still codable: they escape (tables.h).
 *    Every in-range value gets freq >= 1 even where the pmf is 0.
 *  - Element i uses channel (i / plane_size) % C (the NCHW layout of z: C planes of
 *    plane_size values, possibly several batch items), or ch[i] with the _ch variants.
 *  - Store the quantised tables in the model file (ent_factorized_serialize): the pmf
 *    comes from floating-point network code, so only the stored integers are
 *    guaranteed identical between the encoder's and the decoder's machines.
 */
#ifndef CLIMZ_ENTROPY_FACTORIZED_H
#define CLIMZ_ENTROPY_FACTORIZED_H

#include "common/cz_common.h"
#include "entropy/ent_dec.h"

typedef struct ent_factorized ent_factorized;

/*! ent_factorized_build() : C channels (1..65536); channel c covers values
 *  offset[c] .. offset[c] + n[c] - 1 (n[c] >= 1) with probabilities pmf[pos_c + k],
 *  pos_c = n[0] + ... + n[c-1] (any positive scale), and tail_mass[c] the probability of
 *  any value outside (NULL: 1e-9 for every channel). prec in [1,16], n[c] < 1 << prec.
 *  @return CLIMZ_OK and *f (free with ent_factorized_free), INVALID_ARG or ALLOC. */
climz_status ent_factorized_build(ent_factorized **f, uint32_t C, const int32_t *offset,
                                  const uint32_t *n, const double *pmf, const double *tail_mass,
                                  unsigned prec);
void ent_factorized_free(ent_factorized *f); /* NULL is allowed */
uint32_t ent_factorized_channels(const ent_factorized *f);

/*! ent_factorized_encode() : appends the stream of sym[0..n) to out, element i with
 *  channel (i / plane_size) % C. @return CLIMZ_OK, INVALID_ARG (plane_size 0) or ALLOC. */
climz_status ent_factorized_encode(const ent_factorized *f, const int32_t *sym, size_t n,
                                   size_t plane_size, cz_buf *out);
/*! ent_factorized_decode() : decodes n symbols from exactly in[0..size).
 *  @return CLIMZ_OK, TRUNCATED, CORRUPT or INVALID_ARG; never reads outside in. */
climz_status ent_factorized_decode(const ent_factorized *f, const uint8_t *in, size_t size,
                                   size_t n, size_t plane_size, int32_t *sym);
/* the next n symbols of the stream d (ent_dec.h), element i with channel (i / plane_size) % C */
climz_status ent_factorized_decode_more(const ent_factorized *f, ent_dec *d, size_t n, size_t plane_size,
                                        int32_t *sym);
/* explicit channel per element: ch[i] < C (INVALID_ARG otherwise) */
climz_status ent_factorized_encode_ch(const ent_factorized *f, const int32_t *sym,
                                      const uint16_t *ch, size_t n, cz_buf *out);
climz_status ent_factorized_decode_ch(const ent_factorized *f, const uint8_t *in, size_t size,
                                      const uint16_t *ch, size_t n, int32_t *sym);

/* frequency of value v in channel c (the escape's when v is outside the range) */
uint32_t ent_factorized_freq(const ent_factorized *f, uint32_t c, int32_t v);

/*! serialised form: the table set of tables.h ("CZTS" ... CRC-32C). deserialize reads
 *  exactly in[0..size). */
climz_status ent_factorized_serialize(const ent_factorized *f, cz_buf *out);
climz_status ent_factorized_deserialize(ent_factorized **f, const uint8_t *in, size_t size);

#endif /* CLIMZ_ENTROPY_FACTORIZED_H */
