/* cdf.c — integer-exact frequency quantisation and the static single-table coder. */
#include "entropy/cdf.h"
#include "entropy/rans64.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- quantisation -------------------------------------------------------------------------- */

typedef struct {
    uint64_t key; /* remainder, or weight */
    uint32_t idx;
} ent_key_;

/* key descending, then index ascending: a total order, so qsort is deterministic */
static int ent_key_desc(const void *a, const void *b) {
    const ent_key_ *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

climz_status ent_quantize_weights(uint32_t *freq, const uint64_t *w, size_t n, unsigned prec,
                                  unsigned flags) {
    CZ_RETURN_IF(prec < 1 || prec > ENT_PREC_MAX, CLIMZ_ERR_INVALID_ARG, "precision %u not in [1,16]", prec);
    CZ_RETURN_IF(n == 0 || n > ENT_QUANT_MAX_SYMS, CLIMZ_ERR_INVALID_ARG, "%zu symbols", n);
    uint64_t const M = 1ull << prec;
    uint64_t W = 0;
    size_t np = 0; /* symbols that can occur */
    for (size_t i = 0; i < n; i++) {
        CZ_RETURN_IF(w[i] >= (1ull << 42), CLIMZ_ERR_INVALID_ARG, "weight %zu too large", i);
        W += w[i];
        np += (w[i] > 0 || (flags & ENT_Q_ALL));
    }
    CZ_RETURN_IF(np > M, CLIMZ_ERR_INVALID_ARG, "%zu possible symbols exceed 2^%u", np, prec);
    if (W == 0) {
        /* only possible with ENT_Q_ALL: a uniform table */
        CZ_RETURN_IF(!(flags & ENT_Q_ALL), CLIMZ_ERR_INVALID_ARG, "all probabilities are zero");
        for (size_t i = 0; i < n; i++) freq[i] = (uint32_t)(M / n + (i < M % n));
        return CLIMZ_OK;
    }
    ent_key_ *k = cz_malloc(np * sizeof *k);
    CZ_RETURN_IF(!k, CLIMZ_ERR_ALLOC, "quantisation scratch");
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        freq[i] = 0;
        if (w[i] > 0 || (flags & ENT_Q_ALL)) {
            k[m].key = w[i];
            k[m].idx = (uint32_t)i;
            m++;
        }
    }
    /* 1. the symbols whose share would fall below one slot get exactly one, smallest
     *    weight first; each one taken makes the others' shares R/W smaller, so
     *    re-check the next smallest against the updated R/W (stops at the first that
     *    keeps >= 1: the rest are larger) */
    qsort(k, m, sizeof *k, ent_key_desc);
    uint64_t R = M, Wr = W;
    size_t live = m; /* k[0..live) still share R in proportion */
    while (live > 0 && k[live - 1].key * R < Wr) {
        live--;
        freq[k[live].idx] = 1;
        R -= 1;
        Wr -= k[live].key;
    }
    /* 2. floors of the proportional shares (each >= 1 by step 1), then the units left
     *    over, one each, to the largest remainders */
    uint64_t used = 0;
    for (size_t j = 0; j < live; j++) {
        uint64_t const t = k[j].key * R; /* < 2^58 */
        uint64_t const q = t / Wr;
        freq[k[j].idx] = (uint32_t)q;
        used += q;
        k[j].key = t - q * Wr;
    }
    uint64_t const left = R - used; /* < live */
    if (left > 0) {
        qsort(k, live, sizeof *k, ent_key_desc);
        for (uint64_t j = 0; j < left; j++) freq[k[j].idx]++;
    }
    free(k);
    return CLIMZ_OK;
}

climz_status ent_quantize_pmf(uint32_t *freq, const double *pmf, size_t n, unsigned prec,
                              unsigned flags) {
    CZ_RETURN_IF(n == 0 || n > ENT_QUANT_MAX_SYMS, CLIMZ_ERR_INVALID_ARG, "%zu symbols", n);
    double pmax = 0;
    for (size_t i = 0; i < n; i++) {
        CZ_RETURN_IF(!(pmf[i] >= 0) || !isfinite(pmf[i]), CLIMZ_ERR_INVALID_ARG,
                     "pmf[%zu] = %g is not a probability", i, pmf[i]);
        if (pmf[i] > pmax) pmax = pmf[i];
    }
    uint64_t *w = cz_malloc(n * sizeof *w);
    CZ_RETURN_IF(!w, CLIMZ_ERR_ALLOC, "quantisation weights");
    /* exact scaling: the largest weight lands in [2^40, 2^41) */
    int const e = pmax > 0 ? 40 - ilogb(pmax) : 0;
    for (size_t i = 0; i < n; i++) {
        w[i] = pmax > 0 ? (uint64_t)ldexp(pmf[i], e) : 0;
        if (w[i] == 0 && pmf[i] > 0) w[i] = 1; /* below 2^-41 of the max: still possible */
    }
    climz_status const st = ent_quantize_weights(freq, w, n, prec, flags);
    free(w);
    return st;
}

climz_status ent_quantize_counts(uint32_t *freq, const uint32_t *counts, size_t n, unsigned prec,
                                 unsigned flags) {
    CZ_RETURN_IF(n == 0 || n > ENT_QUANT_MAX_SYMS, CLIMZ_ERR_INVALID_ARG, "%zu symbols", n);
    uint64_t *w = cz_malloc(n * sizeof *w);
    CZ_RETURN_IF(!w, CLIMZ_ERR_ALLOC, "quantisation weights");
    for (size_t i = 0; i < n; i++) w[i] = counts[i];
    climz_status const st = ent_quantize_weights(freq, w, n, prec, flags);
    free(w);
    return st;
}

climz_status ent_freq_check(const uint32_t *freq, size_t n, unsigned prec) {
    CZ_RETURN_IF(prec < 1 || prec > ENT_PREC_MAX, CLIMZ_ERR_CORRUPT, "precision %u", prec);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += freq[i];
    CZ_RETURN_IF(sum != (1ull << prec), CLIMZ_ERR_CORRUPT, "frequencies sum to %llu, not 2^%u",
                 (unsigned long long)sum, prec);
    return CLIMZ_OK;
}

double ent_code_length_bits(const uint32_t *freq, const uint64_t *counts, size_t n, unsigned prec) {
    double bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (!counts[i]) continue;
        if (!freq[i]) return INFINITY;
        bits += (double)counts[i] * ((double)prec - log2((double)freq[i]));
    }
    return bits;
}

/* ---- static single-table coder ------------------------------------------------------------ */

struct ent_cdf {
    unsigned prec;
    size_t n;
    uint32_t *freq;     /* n */
    rans_enc_sym *esym; /* n, reciprocal encoder symbols */
    uint32_t *slot;     /* 1 << prec: (freq - 1) << 16 | (slot - start); n > 256 only */
    uint16_t *slotsym;  /* 1 << prec: the symbol owning each slot; n > 256 only */
    uint8_t *slot8;     /* 1 << prec: the symbol owning each slot; n <= 256 only */
    uint32_t *symtab;   /* n: start | (freq - 1) << 16 */
};

void ent_cdf_free(ent_cdf *c) {
    if (!c) return;
    free(c->freq);
    free(c->esym);
    free(c->slot);
    free(c->slotsym);
    free(c->slot8);
    free(c->symtab);
    free(c);
}

size_t ent_cdf_nsym(const ent_cdf *c) { return c->n; }
unsigned ent_cdf_prec(const ent_cdf *c) { return c->prec; }

climz_status ent_cdf_create(ent_cdf **out, const uint32_t *freq, size_t n, unsigned prec) {
    *out = NULL;
    CZ_RETURN_IF(prec < 1 || prec > ENT_PREC_MAX, CLIMZ_ERR_INVALID_ARG, "precision %u not in [1,16]", prec);
    CZ_RETURN_IF(n == 0 || n > 65536, CLIMZ_ERR_INVALID_ARG, "%zu symbols (1..65536)", n);
    climz_status st = ent_freq_check(freq, n, prec);
    CZ_RETURN_IF(st != CLIMZ_OK, CLIMZ_ERR_INVALID_ARG, "frequencies do not sum to 2^%u", prec);
    size_t const M = (size_t)1 << prec;
    ent_cdf *c = cz_calloc(1, sizeof *c);
    CZ_RETURN_IF(!c, CLIMZ_ERR_ALLOC, "cdf");
    c->prec = prec;
    c->n = n;
    c->freq = cz_malloc(n * sizeof *c->freq);
    c->esym = cz_malloc(n * sizeof *c->esym);
    c->symtab = cz_malloc(n * sizeof *c->symtab);
    if (n <= 256) {
        c->slot8 = cz_malloc(M);
    } else {
        c->slot = cz_malloc(M * sizeof *c->slot);
        c->slotsym = cz_malloc(M * sizeof *c->slotsym);
    }
    if (!c->freq || !c->esym || !c->symtab || (n <= 256 ? !c->slot8 : (!c->slot || !c->slotsym))) {
        ent_cdf_free(c);
        return cz_error(CLIMZ_ERR_ALLOC, "cdf tables");
    }
    uint32_t start = 0;
    for (size_t s = 0; s < n; s++) {
        uint32_t const f = freq[s];
        c->freq[s] = f;
        if (f) rans_enc_sym_init(&c->esym[s], start, f, prec);
        else memset(&c->esym[s], 0, sizeof c->esym[s]);
        c->symtab[s] = f ? start | (f - 1) << 16 : 0;
        if (c->slot8) {
            if (f) memset(c->slot8 + start, (int)s, f);
        } else {
            for (uint32_t k = 0; k < f; k++) {
                c->slot[start + k] = (f - 1) << 16 | k;
                c->slotsym[start + k] = (uint16_t)s;
            }
        }
        start += f;
    }
    *out = c;
    return CLIMZ_OK;
}

#define CDF_NSTATES 4

climz_status ent_cdf_encode(const ent_cdf *c, const uint16_t *sym, size_t count, cz_buf *out) {
    for (size_t i = 0; i < count; i++)
        CZ_RETURN_IF(sym[i] >= c->n || c->freq[sym[i]] == 0, CLIMZ_ERR_INVALID_ARG,
                     "symbol %u at %zu cannot be coded with this table", (unsigned)sym[i], i);
    CZ_RETURN_IF(count > (SIZE_MAX - 64) / 4, CLIMZ_ERR_INVALID_ARG, "too many symbols");
    size_t const bound = RANS_ENC_BOUND(count, CDF_NSTATES);
    CZ_FORWARD(cz_buf_reserve(out, bound));
    uint8_t *const end = out->data + out->size + bound;
    uint8_t *p = end;
    rans_state r[CDF_NSTATES];
    for (int k = 0; k < CDF_NSTATES; k++) rans_enc_init(&r[k]);
    const rans_enc_sym *const es = c->esym;
    size_t i = count;
    /* the tail that does not fill a group of 4 first (reverse order) */
    while (i % CDF_NSTATES) {
        i--;
        rans_enc_put_sym(&r[i % CDF_NSTATES], &p, &es[sym[i]]);
    }
    while (i > 0) {
        i -= 4;
        rans_enc_put_sym(&r[3], &p, &es[sym[i + 3]]);
        rans_enc_put_sym(&r[2], &p, &es[sym[i + 2]]);
        rans_enc_put_sym(&r[1], &p, &es[sym[i + 1]]);
        rans_enc_put_sym(&r[0], &p, &es[sym[i + 0]]);
    }
    for (int k = CDF_NSTATES - 1; k >= 0; k--) rans_enc_flush(&r[k], &p);
    size_t const len = (size_t)(end - p);
    memmove(out->data + out->size, p, len);
    out->size += len;
    return CLIMZ_OK;
}

climz_status ent_cdf_decode(const ent_cdf *c, const uint8_t *in, size_t size, uint16_t *sym,
                            size_t count) {
    const uint8_t *p = in;
    const uint8_t *const end = in + size;
    rans_state r0 = 0, r1 = 0, r2 = 0, r3 = 0;
    CZ_FORWARD(rans_dec_init(&r0, &p, end));
    CZ_FORWARD(rans_dec_init(&r1, &p, end));
    CZ_FORWARD(rans_dec_init(&r2, &p, end));
    CZ_FORWARD(rans_dec_init(&r3, &p, end));
    unsigned const prec = c->prec;
    uint64_t const mask = (1ull << prec) - 1;
    size_t i = 0;
    if (c->slot8) {
        /* up to 256 symbols: a byte per slot (64 KiB at prec 16), then the symbol's
         * (start, freq - 1) from a table that stays in L1 */
        const uint8_t *const s8 = c->slot8;
        const uint32_t *const st = c->symtab;
#define CDF_DEC_STEP(x, k)                                                                   \
    do {                                                                                     \
        uint32_t const slot_ = (uint32_t)((x) & mask);                                       \
        uint32_t const s_ = s8[slot_];                                                       \
        uint32_t const e_ = st[s_];                                                          \
        sym[i + (k)] = (uint16_t)s_;                                                         \
        (x) = (uint64_t)((e_ >> 16) + 1) * ((x) >> prec) + slot_ - (e_ & 0xffff);            \
        if ((x) < RANS_L) {                                                                  \
            if (end - p < 4) goto truncated;                                                 \
            (x) = ((x) << 32) | cz_load_le32(p);                                             \
            p += 4;                                                                          \
        }                                                                                    \
    } while (0)
        for (; i + 4 <= count; i += 4) {
            CDF_DEC_STEP(r0, 0);
            CDF_DEC_STEP(r1, 1);
            CDF_DEC_STEP(r2, 2);
            CDF_DEC_STEP(r3, 3);
        }
        if (i < count) { CDF_DEC_STEP(r0, 0); i++; }
        if (i < count) { CDF_DEC_STEP(r1, 0); i++; }
        if (i < count) { CDF_DEC_STEP(r2, 0); i++; }
#undef CDF_DEC_STEP
    } else {
    const uint32_t *const tab = c->slot;
    const uint16_t *const ss = c->slotsym;
    /* one decode step: the slot gives (freq - 1, slot - start) and the symbol with two
     * independent loads; the renormalisation read is bounds-checked */
#define CDF_DEC_STEP(x, k)                                                                   \
    do {                                                                                     \
        uint32_t const slot_ = (uint32_t)((x) & mask);                                       \
        uint32_t const e_ = tab[slot_];                                                      \
        sym[i + (k)] = ss[slot_];                                                            \
        (x) = (uint64_t)((e_ >> 16) + 1) * ((x) >> prec) + (e_ & 0xffff);                    \
        if ((x) < RANS_L) {                                                                  \
            if (end - p < 4) goto truncated;                                                 \
            (x) = ((x) << 32) | cz_load_le32(p);                                             \
            p += 4;                                                                          \
        }                                                                                    \
    } while (0)
    for (; i + 4 <= count; i += 4) {
        CDF_DEC_STEP(r0, 0);
        CDF_DEC_STEP(r1, 1);
        CDF_DEC_STEP(r2, 2);
        CDF_DEC_STEP(r3, 3);
    }
    if (i < count) { CDF_DEC_STEP(r0, 0); i++; }
    if (i < count) { CDF_DEC_STEP(r1, 0); i++; }
    if (i < count) { CDF_DEC_STEP(r2, 0); i++; }
#undef CDF_DEC_STEP
    }
    CZ_FORWARD(rans_dec_done(r0, p, end));
    CZ_FORWARD(rans_dec_done(r1, p, end));
    CZ_FORWARD(rans_dec_done(r2, p, end));
    CZ_FORWARD(rans_dec_done(r3, p, end));
    return CLIMZ_OK;
truncated:
    return cz_error(CLIMZ_ERR_TRUNCATED, "rANS stream ends early");
}
