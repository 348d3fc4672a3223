/* factorized.c — per-channel static tables with escapes (see factorized.h). */
#include "entropy/factorized.h"
#include "entropy/cdf.h"
#include "entropy/tables.h"

#include <math.h>
#include <stdlib.h>

#define ENT_FACT_TAIL_DEFAULT 1e-9

struct ent_factorized {
    ent_tabset ts;
};

void ent_factorized_free(ent_factorized *f) {
    if (!f) return;
    ent_tabset_release(&f->ts);
    free(f);
}

uint32_t ent_factorized_channels(const ent_factorized *f) { return f->ts.ntab; }

climz_status ent_factorized_build(ent_factorized **out, uint32_t C, const int32_t *offset,
                                  const uint32_t *n, const double *pmf, const double *tail_mass,
                                  unsigned prec) {
    *out = NULL;
    CZ_RETURN_IF(prec < 1 || prec > 16, CLIMZ_ERR_INVALID_ARG, "precision %u not in [1,16]", prec);
    CZ_RETURN_IF(C == 0 || C > ENT_TS_MAX_TABLES, CLIMZ_ERR_INVALID_ARG, "%u channels", (unsigned)C);
    uint64_t total = 0;
    for (uint32_t c = 0; c < C; c++) {
        CZ_RETURN_IF(n[c] < 1 || n[c] >= (1u << prec), CLIMZ_ERR_INVALID_ARG,
                     "channel %u: %u values (1..2^%u - 1)", (unsigned)c, (unsigned)n[c], prec);
        CZ_RETURN_IF((int64_t)offset[c] + n[c] - 1 > INT32_MAX, CLIMZ_ERR_INVALID_ARG,
                     "channel %u: range exceeds int32", (unsigned)c);
        total += n[c] + 1;
    }
    CZ_RETURN_IF(total > ENT_TS_MAX_TOTAL, CLIMZ_ERR_INVALID_ARG, "tables too large");
    climz_status st = CLIMZ_OK;
    ent_factorized *f = cz_calloc(1, sizeof *f);
    uint32_t *nsym = cz_malloc(C * sizeof *nsym);
    uint32_t *freq = cz_malloc((size_t)total * sizeof *freq);
    double *p = cz_malloc((size_t)total * sizeof *p);
    if (!f || !nsym || !freq || !p) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "factorised tables");
    size_t ipos = 0, opos = 0;
    for (uint32_t c = 0; c < C; c++) {
        for (uint32_t k = 0; k < n[c]; k++) p[opos + k] = pmf[ipos + k];
        double const tm = tail_mass ? tail_mass[c] : ENT_FACT_TAIL_DEFAULT;
        if (!(tm >= 0) || !isfinite(tm))
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_INVALID_ARG, "channel %u: tail mass %g", (unsigned)c, tm);
        p[opos + n[c]] = tm;
        nsym[c] = n[c] + 1;
        CZ_CHECK_GOTO(st, ent_quantize_pmf(freq + opos, p + opos, nsym[c], prec, ENT_Q_ALL), done);
        ipos += n[c];
        opos += nsym[c];
    }
    CZ_CHECK_GOTO(st, ent_tabset_init(&f->ts, prec, C, offset, nsym, freq, false), done);
    *out = f;
    f = NULL;
done:
    ent_factorized_free(f);
    free(nsym);
    free(freq);
    free(p);
    return st;
}

climz_status ent_factorized_encode(const ent_factorized *f, const int32_t *sym, size_t n,
                                   size_t plane_size, cz_buf *out) {
    CZ_RETURN_IF(plane_size == 0, CLIMZ_ERR_INVALID_ARG, "plane size 0");
    ent_tmap const map = {NULL, NULL, plane_size};
    return ent_tabset_encode(&f->ts, sym, map, n, out);
}

climz_status ent_factorized_decode(const ent_factorized *f, const uint8_t *in, size_t size,
                                   size_t n, size_t plane_size, int32_t *sym) {
    CZ_RETURN_IF(plane_size == 0, CLIMZ_ERR_INVALID_ARG, "plane size 0");
    ent_tmap const map = {NULL, NULL, plane_size};
    return ent_tabset_decode(&f->ts, in, size, map, n, sym);
}

climz_status ent_factorized_decode_more(const ent_factorized *f, ent_dec *d, size_t n, size_t plane_size,
                                        int32_t *sym) {
    CZ_RETURN_IF(plane_size == 0, CLIMZ_ERR_INVALID_ARG, "plane size 0");
    ent_tmap const map = {NULL, NULL, plane_size};
    return ent_tabset_decode_more(&f->ts, d, map, n, sym);
}

climz_status ent_factorized_encode_ch(const ent_factorized *f, const int32_t *sym,
                                      const uint16_t *ch, size_t n, cz_buf *out) {
    ent_tmap const map = {NULL, ch, 0};
    return ent_tabset_encode(&f->ts, sym, map, n, out);
}

climz_status ent_factorized_decode_ch(const ent_factorized *f, const uint8_t *in, size_t size,
                                      const uint16_t *ch, size_t n, int32_t *sym) {
    ent_tmap const map = {NULL, ch, 0};
    return ent_tabset_decode(&f->ts, in, size, map, n, sym);
}

uint32_t ent_factorized_freq(const ent_factorized *f, uint32_t c, int32_t v) {
    if (c >= f->ts.ntab) return 0;
    const ent_tab *const tb = &f->ts.tab[c];
    int64_t const d = (int64_t)v - tb->offset;
    uint32_t const s = d >= 0 && d < (int64_t)tb->nsym - 1 ? (uint32_t)d : tb->nsym - 1;
    return ent_tabset_freq(&f->ts, c, s);
}

climz_status ent_factorized_serialize(const ent_factorized *f, cz_buf *out) {
    return ent_tabset_serialize(&f->ts, out);
}

climz_status ent_factorized_deserialize(ent_factorized **out, const uint8_t *in, size_t size) {
    *out = NULL;
    ent_factorized *f = cz_calloc(1, sizeof *f);
    CZ_RETURN_IF(!f, CLIMZ_ERR_ALLOC, "factorised tables");
    cz_rd r = cz_rd_make(in, size);
    climz_status st = ent_tabset_deserialize(&f->ts, &r);
    if (st == CLIMZ_OK && cz_rd_left(&r) != 0)
        st = cz_error(CLIMZ_ERR_CORRUPT, "factorised tables: %zu trailing bytes", cz_rd_left(&r));
    if (st != CLIMZ_OK) {
        ent_factorized_free(f);
        return st;
    }
    *out = f;
    return CLIMZ_OK;
}
