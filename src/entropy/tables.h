/*
 * tables.h — internal: a set of static quantised tables with escapes, coded with 2
 * interleaved rANS states. The engine under ent_gauss (one table per scale level) and
 * ent_factorized (one table per channel).
 *
 * READ ME FIRST
 *  - Table t codes the values offset_t .. offset_t + nsym_t - 2 as symbols 0..nsym_t - 2;
 *    the last symbol (nsym_t - 1) is the ESCAPE. Every symbol has freq >= 1, so every
 *    int32 value can be coded under every table.
 *  - An escaped value v is sent as the escape symbol followed by the Elias-gamma code of
 *    m = raw + 1 in raw bits, with raw = 2 * (offset - 1 - v) + 1 below the range and
 *    raw = 2 * (v - hi - 1) above it (hi = the last in-range value): k zero bits, a one,
 *    then the k low bits of m (k = floor(log2 m) <= 32).
 *  - Stream: state 0, state 1 (8 bytes LE each), then 32-bit words. Symbol i and its
 *    escape bits use state i % 2. The decoder checks the final states and that the
 *    stream is consumed exactly (CLIMZ_ERR_CORRUPT otherwise).
 *  - Serialised form (little-endian): "CZTS", u8 version 1, u8 prec, u16 0, u32 ntab,
 *    ntab x {i32 offset, u32 nsym}, sum(nsym) x u16 freq, u32 CRC-32C of all before.
 */
#ifndef CLIMZ_ENTROPY_TABLES_H
#define CLIMZ_ENTROPY_TABLES_H

#include "common/cz_common.h"
#include "entropy/ent_dec.h"

#define ENT_TS_MAX_TABLES 65536u
#define ENT_TS_MAX_TOTAL (1u << 24) /* sum of nsym over all tables */

typedef struct ent_tab {
    int32_t offset;  /* value of symbol 0 */
    uint32_t nsym;   /* symbols including the escape (the last one); >= 2 */
    uint32_t cum;    /* index of this table's nsym + 1 cumulative frequencies in cum[] */
    uint32_t bucket; /* index of its (1 << bucket_bits) + 1 bucket entries in bucket[] */
} ent_tab;

typedef struct ent_tabset {
    unsigned prec;        /* CDF precision, 1..16 */
    unsigned bucket_bits; /* decode lookup: slot >> (prec - bucket_bits) picks a bucket */
    uint32_t ntab;
    ent_tab *tab;
    uint32_t *cum;    /* cumulative frequencies, cum[t.cum + nsym] == 1 << prec */
    uint16_t *bucket; /* per bucket: the symbol owning its first slot (and one past) */
} ent_tabset;

/* How element i finds its table: u8[i], u16[i], or (i / plane) % ntab when both are NULL. */
typedef struct ent_tmap {
    const uint8_t *u8;
    const uint16_t *u16;
    size_t plane;
} ent_tmap;

/* Build from per-table offset/nsym and concatenated freq (each table's freqs >= 1 and
 * summing to 1 << prec). INVALID_ARG (or CORRUPT when from_stream) on bad input. */
climz_status ent_tabset_init(ent_tabset *ts, unsigned prec, uint32_t ntab, const int32_t *offset,
                             const uint32_t *nsym, const uint32_t *freq, bool from_stream);
void ent_tabset_release(ent_tabset *ts); /* frees and zeroes; zeroed ts allowed */

climz_status ent_tabset_encode(const ent_tabset *ts, const int32_t *val, ent_tmap map, size_t n,
                               cz_buf *out);
climz_status ent_tabset_decode(const ent_tabset *ts, const uint8_t *in, size_t size, ent_tmap map,
                               size_t n, int32_t *val);
/* the next n symbols of a stream started with ent_dec_begin (ent_dec.h) */
climz_status ent_tabset_decode_more(const ent_tabset *ts, ent_dec *d, ent_tmap map, size_t n, int32_t *val);

climz_status ent_tabset_serialize(const ent_tabset *ts, cz_buf *out);
/* Reads one serialised set from r (advancing it). */
climz_status ent_tabset_deserialize(ent_tabset *ts, cz_rd *r);

/* freq of symbol s in table t */
static inline uint32_t ent_tabset_freq(const ent_tabset *ts, uint32_t t, uint32_t s) {
    const uint32_t *c = ts->cum + ts->tab[t].cum;
    return c[s + 1] - c[s];
}

#endif /* CLIMZ_ENTROPY_TABLES_H */
