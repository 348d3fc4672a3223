/*
 * ent_dec.h — a rANS stream of tables.h decoded in pieces: several calls, each with its own
 * table map (ent_gauss_decode_more, ent_factorized_decode_more), read one stream that was
 * encoded as the concatenation of their symbols. The VAEformer codes the y symbols of every
 * sample of a prediction group as one stream, and decoding a step stops after its own.
 */
#ifndef CLIMZ_ENTROPY_ENT_DEC_H
#define CLIMZ_ENTROPY_ENT_DEC_H

#include "common/cz_common.h"

typedef struct ent_dec {
    uint64_t r[2];            /* the two interleaved states */
    const uint8_t *p, *end;   /* unread part of the stream */
    size_t k;                 /* symbols decoded so far (symbol k uses state k % 2) */
} ent_dec;

/*! ent_dec_begin() : starts on the stream in[0..size) (read, never written, until the
 *  decoding ends). @return CLIMZ_OK, CLIMZ_ERR_TRUNCATED or CLIMZ_ERR_CORRUPT. */
climz_status ent_dec_begin(ent_dec *d, const uint8_t *in, size_t size);
/*! ent_dec_end() : @return CLIMZ_OK when every symbol was read: the states are back at the
 *  encoder's initial state and no byte is left; CLIMZ_ERR_CORRUPT otherwise. A caller that
 *  stops early skips it. */
climz_status ent_dec_end(const ent_dec *d);

#endif /* CLIMZ_ENTROPY_ENT_DEC_H */
