/* tables.c — static table sets with escapes (see tables.h). */
#include "entropy/tables.h"
#include "entropy/cdf.h"
#include "entropy/rans64.h"

#include <stdlib.h>
#include <string.h>

#define ENT_TS_MAGIC 0x53545a43u /* "CZTS" */
#define ENT_TS_VERSION 1u
#define ENT_GAMMA_MAX_K 32u

void ent_tabset_release(ent_tabset *ts) {
    free(ts->tab);
    free(ts->cum);
    free(ts->bucket);
    memset(ts, 0, sizeof *ts);
}

climz_status ent_tabset_init(ent_tabset *ts, unsigned prec, uint32_t ntab, const int32_t *offset,
                             const uint32_t *nsym, const uint32_t *freq, bool from_stream) {
    climz_status const bad = from_stream ? CLIMZ_ERR_CORRUPT : CLIMZ_ERR_INVALID_ARG;
    memset(ts, 0, sizeof *ts);
    CZ_RETURN_IF(prec < 1 || prec > ENT_PREC_MAX, bad, "table precision %u not in [1,16]", prec);
    CZ_RETURN_IF(ntab == 0 || ntab > ENT_TS_MAX_TABLES, bad, "%u tables", (unsigned)ntab);
    uint32_t const M = 1u << prec;
    uint64_t total = 0;
    for (uint32_t t = 0; t < ntab; t++) {
        CZ_RETURN_IF(nsym[t] < 2 || nsym[t] > M, bad, "table %u has %u symbols (2..2^%u)",
                     (unsigned)t, (unsigned)nsym[t], prec);
        CZ_RETURN_IF((int64_t)offset[t] + nsym[t] - 2 > INT32_MAX, bad,
                     "table %u range exceeds int32", (unsigned)t);
        total += nsym[t];
    }
    CZ_RETURN_IF(total > ENT_TS_MAX_TOTAL, bad, "tables too large (%llu symbols)",
                 (unsigned long long)total);
    ts->prec = prec;
    ts->bucket_bits = prec < 8 ? prec : 8;
    ts->ntab = ntab;
    size_t const nb = ((size_t)1 << ts->bucket_bits) + 1;
    ts->tab = cz_malloc(ntab * sizeof *ts->tab);
    ts->cum = cz_malloc((size_t)(total + ntab) * sizeof *ts->cum);
    ts->bucket = cz_malloc(ntab * nb * sizeof *ts->bucket);
    if (!ts->tab || !ts->cum || !ts->bucket) {
        ent_tabset_release(ts);
        return cz_error(CLIMZ_ERR_ALLOC, "table set");
    }
    unsigned const shift = prec - ts->bucket_bits;
    size_t fpos = 0, cpos = 0;
    for (uint32_t t = 0; t < ntab; t++) {
        ent_tab *const tb = &ts->tab[t];
        tb->offset = offset[t];
        tb->nsym = nsym[t];
        tb->cum = (uint32_t)cpos;
        tb->bucket = (uint32_t)(t * nb);
        uint32_t *const c = ts->cum + cpos;
        uint64_t sum = 0;
        for (uint32_t s = 0; s < nsym[t]; s++) {
            uint32_t const f = freq[fpos + s];
            if (f == 0 || f >= M || sum + f > M) {
                ent_tabset_release(ts);
                return cz_error(bad, "table %u: symbol %u has frequency %u", (unsigned)t,
                                (unsigned)s, (unsigned)f);
            }
            c[s] = (uint32_t)sum;
            sum += f;
        }
        if (sum != M) {
            ent_tabset_release(ts);
            return cz_error(bad, "table %u: frequencies sum to %llu, not 2^%u", (unsigned)t,
                            (unsigned long long)sum, prec);
        }
        c[nsym[t]] = M;
        /* bucket b: the symbol owning slot b << shift; the last entry is the last symbol */
        uint16_t *const bk = ts->bucket + tb->bucket;
        uint32_t s = 0;
        for (size_t b = 0; b + 1 < nb; b++) {
            uint32_t const slot = (uint32_t)(b << shift);
            while (c[s + 1] <= slot) s++;
            bk[b] = (uint16_t)s;
        }
        bk[nb - 1] = (uint16_t)(nsym[t] - 1);
        fpos += nsym[t];
        cpos += nsym[t] + 1;
    }
    return CLIMZ_OK;
}

static inline uint32_t ent_tmap_get(const ent_tmap *m, size_t i, uint32_t ntab) {
    if (m->u8) return m->u8[i];
    if (m->u16) return m->u16[i];
    return (uint32_t)((i / m->plane) % ntab);
}

static inline unsigned ent_bitlen64(uint64_t m) { /* floor(log2 m) for m >= 1 */
    unsigned k = 0;
    while (m >> (k + 1)) k++;
    return k;
}

/* Escape payload of value v under a table: m = raw + 1 as described in tables.h. */
static inline uint64_t ent_escape_m(int32_t v, const ent_tab *tb) {
    int64_t const lo = tb->offset, hi = (int64_t)tb->offset + tb->nsym - 2;
    uint64_t const raw = v < lo ? 2 * (uint64_t)(lo - 1 - v) + 1 : 2 * (uint64_t)(v - hi - 1);
    return raw + 1;
}

climz_status ent_tabset_encode(const ent_tabset *ts, const int32_t *val, ent_tmap map, size_t n,
                               cz_buf *out) {
    CZ_RETURN_IF(!map.u8 && !map.u16 && map.plane == 0, CLIMZ_ERR_INVALID_ARG, "no table map");
    /* pass 1: validate and count operations, for an exact output bound */
    size_t nops = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t const t = ent_tmap_get(&map, i, ts->ntab);
        CZ_RETURN_IF(t >= ts->ntab, CLIMZ_ERR_INVALID_ARG, "table index %u at %zu (have %u)",
                     (unsigned)t, i, (unsigned)ts->ntab);
        const ent_tab *const tb = &ts->tab[t];
        int64_t const d = (int64_t)val[i] - tb->offset;
        nops++;
        if (d < 0 || d >= (int64_t)tb->nsym - 1) {
            unsigned const k = ent_bitlen64(ent_escape_m(val[i], tb));
            nops += k + 1 + (k + 15) / 16;
        }
    }
    CZ_RETURN_IF(nops > (SIZE_MAX - 64) / 4, CLIMZ_ERR_INVALID_ARG, "too many symbols");
    size_t const bound = RANS_ENC_BOUND(nops, 2);
    CZ_FORWARD(cz_buf_reserve(out, bound));
    uint8_t *const end = out->data + out->size + bound;
    uint8_t *p = end;
    rans_state r[2];
    rans_enc_init(&r[0]);
    rans_enc_init(&r[1]);
    unsigned const prec = ts->prec;
    for (size_t i = n; i-- > 0;) {
        const ent_tab *const tb = &ts->tab[ent_tmap_get(&map, i, ts->ntab)];
        const uint32_t *const cum = ts->cum + tb->cum;
        rans_state *const x = &r[i & 1];
        int64_t const d = (int64_t)val[i] - tb->offset;
        uint32_t s = (uint32_t)d;
        if (d < 0 || d >= (int64_t)tb->nsym - 1) {
            /* reverse of the decoder's order: suffix chunks last-first, the 1, the zeros */
            s = tb->nsym - 1;
            uint64_t const m = ent_escape_m(val[i], tb);
            unsigned const k = ent_bitlen64(m);
            uint64_t const suffix = m & ((1ull << k) - 1);
            for (unsigned j = (k + 15) / 16; j-- > 0;) {
                unsigned const nb = k - 16 * j < 16 ? k - 16 * j : 16;
                rans_enc_put_bits(x, &p, (uint32_t)(suffix >> (16 * j)) & ((1u << nb) - 1), nb);
            }
            rans_enc_put_bits(x, &p, 1, 1);
            for (unsigned j = 0; j < k; j++) rans_enc_put_bits(x, &p, 0, 1);
        }
        rans_enc_put(x, &p, cum[s], cum[s + 1] - cum[s], prec);
    }
    rans_enc_flush(&r[1], &p);
    rans_enc_flush(&r[0], &p);
    size_t const len = (size_t)(end - p);
    memmove(out->data + out->size, p, len);
    out->size += len;
    return CLIMZ_OK;
}

/* Decode one escape payload after the escape symbol: returns the value. */
static climz_status ent_escape_decode(rans_state *x, const uint8_t **p, const uint8_t *end,
                                      const ent_tab *tb, int32_t *v) {
    unsigned k = 0;
    for (;;) {
        uint32_t bit;
        CZ_FORWARD(rans_dec_get_bits(x, p, end, 1, &bit));
        if (bit) break;
        CZ_RETURN_IF(++k > ENT_GAMMA_MAX_K, CLIMZ_ERR_CORRUPT, "escape code too long");
    }
    uint64_t suffix = 0;
    for (unsigned j = 0; 16 * j < k; j++) {
        unsigned const nb = k - 16 * j < 16 ? k - 16 * j : 16;
        uint32_t bits;
        CZ_FORWARD(rans_dec_get_bits(x, p, end, nb, &bits));
        suffix |= (uint64_t)bits << (16 * j);
    }
    uint64_t const raw = ((1ull << k) | suffix) - 1;
    int64_t const lo = tb->offset, hi = (int64_t)tb->offset + tb->nsym - 2;
    int64_t const w = (raw & 1) ? lo - 1 - (int64_t)(raw >> 1) : hi + 1 + (int64_t)(raw >> 1);
    CZ_RETURN_IF(w < INT32_MIN || w > INT32_MAX, CLIMZ_ERR_CORRUPT, "escaped value out of range");
    *v = (int32_t)w;
    return CLIMZ_OK;
}

climz_status ent_dec_begin(ent_dec *d, const uint8_t *in, size_t size) {
    d->p = in;
    d->end = in + size;
    d->k = 0;
    CZ_FORWARD(rans_dec_init(&d->r[0], &d->p, d->end));
    return rans_dec_init(&d->r[1], &d->p, d->end);
}

climz_status ent_dec_end(const ent_dec *d) {
    CZ_FORWARD(rans_dec_done(d->r[0], d->p, d->end));
    return rans_dec_done(d->r[1], d->p, d->end);
}

climz_status ent_tabset_decode_more(const ent_tabset *ts, ent_dec *d, ent_tmap map, size_t n, int32_t *val) {
    CZ_RETURN_IF(!map.u8 && !map.u16 && map.plane == 0, CLIMZ_ERR_INVALID_ARG, "no table map");
    const uint8_t *p = d->p;
    const uint8_t *const end = d->end;
    unsigned const prec = ts->prec, shift = prec - ts->bucket_bits;
    uint64_t const mask = (1ull << prec) - 1;
    for (size_t i = 0; i < n; i++) { /* after an error d is of no further use */
        uint32_t const t = ent_tmap_get(&map, i, ts->ntab);
        CZ_RETURN_IF(t >= ts->ntab, CLIMZ_ERR_INVALID_ARG, "table index %u at %zu (have %u)",
                     (unsigned)t, i, (unsigned)ts->ntab);
        const ent_tab *const tb = &ts->tab[t];
        const uint32_t *const cum = ts->cum + tb->cum;
        const uint16_t *const bk = ts->bucket + tb->bucket;
        rans_state *const xp = &d->r[(d->k + i) & 1];
        uint64_t x = *xp;
        uint32_t const slot = (uint32_t)(x & mask);
        /* the symbol lies in [bk[b], bk[b + 1]]: binary search for the last cum <= slot */
        uint32_t lo = bk[slot >> shift], hi = bk[(slot >> shift) + 1];
        while (lo < hi) {
            uint32_t const mid = (lo + hi + 1) >> 1;
            if (cum[mid] <= slot) lo = mid;
            else hi = mid - 1;
        }
        uint32_t const start = cum[lo], freq = cum[lo + 1] - start;
        x = freq * (x >> prec) + slot - start;
        if (x < RANS_L) {
            CZ_RETURN_IF(end - p < 4, CLIMZ_ERR_TRUNCATED, "rANS stream ends early");
            x = (x << 32) | cz_load_le32(p);
            p += 4;
        }
        *xp = x;
        if (lo == tb->nsym - 1) CZ_FORWARD(ent_escape_decode(xp, &p, end, tb, &val[i]));
        else val[i] = (int32_t)(tb->offset + (int64_t)lo);
    }
    d->p = p;
    d->k += n;
    return CLIMZ_OK;
}

climz_status ent_tabset_decode(const ent_tabset *ts, const uint8_t *in, size_t size, ent_tmap map,
                               size_t n, int32_t *val) {
    ent_dec d;
    CZ_FORWARD(ent_dec_begin(&d, in, size));
    CZ_FORWARD(ent_tabset_decode_more(ts, &d, map, n, val));
    return ent_dec_end(&d);
}

climz_status ent_tabset_serialize(const ent_tabset *ts, cz_buf *out) {
    size_t const start = out->size;
    CZ_FORWARD(cz_buf_put_u32(out, ENT_TS_MAGIC));
    CZ_FORWARD(cz_buf_put_u8(out, ENT_TS_VERSION));
    CZ_FORWARD(cz_buf_put_u8(out, (uint8_t)ts->prec));
    CZ_FORWARD(cz_buf_put_u16(out, 0));
    CZ_FORWARD(cz_buf_put_u32(out, ts->ntab));
    for (uint32_t t = 0; t < ts->ntab; t++) {
        CZ_FORWARD(cz_buf_put_u32(out, (uint32_t)ts->tab[t].offset));
        CZ_FORWARD(cz_buf_put_u32(out, ts->tab[t].nsym));
    }
    for (uint32_t t = 0; t < ts->ntab; t++)
        for (uint32_t s = 0; s < ts->tab[t].nsym; s++)
            CZ_FORWARD(cz_buf_put_u16(out, (uint16_t)ent_tabset_freq(ts, t, s)));
    uint32_t const crc = cz_crc32c(0, out->data + start, out->size - start);
    return cz_buf_put_u32(out, crc);
}

climz_status ent_tabset_deserialize(ent_tabset *ts, cz_rd *r) {
    memset(ts, 0, sizeof *ts);
    const uint8_t *const begin = r->p;
    uint32_t magic, ntab;
    uint8_t version, prec;
    uint16_t zero;
    CZ_FORWARD(cz_rd_u32(r, &magic));
    CZ_RETURN_IF(magic != ENT_TS_MAGIC, CLIMZ_ERR_CORRUPT, "not a climz table set");
    CZ_FORWARD(cz_rd_u8(r, &version));
    CZ_RETURN_IF(version != ENT_TS_VERSION, CLIMZ_ERR_VERSION, "table set version %u", version);
    CZ_FORWARD(cz_rd_u8(r, &prec));
    CZ_FORWARD(cz_rd_u16(r, &zero));
    CZ_FORWARD(cz_rd_u32(r, &ntab));
    CZ_RETURN_IF(ntab == 0 || ntab > ENT_TS_MAX_TABLES, CLIMZ_ERR_CORRUPT, "%u tables", (unsigned)ntab);
    CZ_RETURN_IF(cz_rd_left(r) / 8 < ntab, CLIMZ_ERR_TRUNCATED, "table set ends in its directory");
    int32_t *offset = cz_malloc(ntab * sizeof *offset);
    uint32_t *nsym = cz_malloc(ntab * sizeof *nsym);
    uint32_t *freq = NULL;
    climz_status st = CLIMZ_OK;
    if (!offset || !nsym) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "table set directory");
    uint64_t total = 0;
    for (uint32_t t = 0; t < ntab; t++) {
        uint32_t o;
        CZ_CHECK_GOTO(st, cz_rd_u32(r, &o), done);
        CZ_CHECK_GOTO(st, cz_rd_u32(r, &nsym[t]), done);
        offset[t] = (int32_t)o;
        total += nsym[t];
    }
    if (total > ENT_TS_MAX_TOTAL) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "table set too large");
    if (cz_rd_left(r) < total * 2 + 4) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_TRUNCATED, "table set ends early");
    freq = cz_malloc((size_t)total * sizeof *freq + 1);
    if (!freq) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "table set frequencies");
    for (uint64_t k = 0; k < total; k++) {
        uint16_t f;
        CZ_CHECK_GOTO(st, cz_rd_u16(r, &f), done);
        freq[k] = f;
    }
    uint32_t const crc = cz_crc32c(0, begin, (size_t)(r->p - begin));
    uint32_t stored;
    CZ_CHECK_GOTO(st, cz_rd_u32(r, &stored), done);
    if (crc != stored) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CHECKSUM, "table set checksum mismatch");
    if (zero != 0) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "table set reserved field set");
    st = ent_tabset_init(ts, prec, ntab, offset, nsym, freq, true);
done:
    free(offset);
    free(nsym);
    free(freq);
    return st;
}
