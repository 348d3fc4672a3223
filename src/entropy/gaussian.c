/* gaussian.c — discretised Gaussian conditional tables (see gaussian.h). */

/* The likelihood must be bit-identical on every machine: no fused multiply-add. ISO C
 * mode (-std=c11) already implies this for GCC; say it explicitly for both compilers. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "entropy/gaussian.h"
#include "entropy/cdf.h"
#include "entropy/tables.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ENT_GAUSS_MAGIC 0x54475a43u /* "CZGT" */
#define ENT_GAUSS_VERSION 1u

struct ent_gauss_tables {
    float scale[ENT_GAUSS_LEVELS];
    ent_tabset ts;
};

/* s_i = 0.11 * (256 / 0.11)^(i / 63) rounded to float: exp(linspace(log .11, log 256, 64)). */
static const float ent_gauss_scales[ENT_GAUSS_LEVELS] = {
    0x1.c28f5cp-4f, 0x1.fd8f28p-4f, 0x1.20245ep-3f, 0x1.45df8cp-3f, /* 0..3 */
    0x1.708b9p-3f,  0x1.a0ce0ap-3f, 0x1.d76248p-3f, 0x1.0a8e12p-2f, /* 4..7 */
    0x1.2d759ap-2f, 0x1.54ef34p-2f, 0x1.81941ap-2f, 0x1.b41194p-2f, /* 8..11 */
    0x1.ed2b96p-2f, 0x1.16dfe4p-1f, 0x1.3b6466p-1f, 0x1.64b11p-1f,  /* 12..15 */
    0x1.93662ep-1f, 0x1.c8390ap-1f, 0x1.01fb56p+0f, 0x1.23c378p+0f, /* 16..19 */
    0x1.49f80cp+0f, 0x1.752d5cp+0f, 0x1.a60b1cp+0f, 0x1.dd4ef6p+0f, /* 20..23 */
    0x1.0de7b6p+1f, 0x1.313f8cp+1f, 0x1.59382ap+1f, 0x1.866cb4p+1f, /* 24..27 */
    0x1.b98cap+1f,  0x1.f35e5ep+1f, 0x1.1a612cp+2f, 0x1.3f5b2cp+2f, /* 28..31 */
    0x1.692cb8p+2f, 0x1.98781ep+2f, 0x1.cdf4fp+2f,  0x1.053964p+3f, /* 32..35 */
    0x1.276e38p+3f, 0x1.4e1dbap+3f, 0x1.79de0ep+3f, 0x1.ab5908p+3f, /* 36..39 */
    0x1.e34eb4p+3f, 0x1.114c22p+4f, 0x1.3515bp+4f,  0x1.5d8ee8p+4f, /* 40..43 */
    0x1.8b54e6p+4f, 0x1.bf195p+4f,  0x1.f9a516p+4f, 0x1.1dedbap+5f, /* 44..47 */
    0x1.435eb4p+5f, 0x1.6db6cep+5f, 0x1.9d9a5ep+5f, 0x1.d3c348p+5f, /* 48..51 */
    0x1.0881e2p+6f, 0x1.2b24c4p+6f, 0x1.5250bep+6f, 0x1.7e9dd8p+6f, /* 52..55 */
    0x1.b0b806p+6f, 0x1.e961cp+6f,  0x1.14bb78p+7f, 0x1.38f82ap+7f, /* 56..59 */
    0x1.61f39ep+7f, 0x1.904cep+7f,  0x1.c4b7dcp+7f, 0x1p+8f,        /* 60..63 */
};

float ent_gauss_scale(unsigned i) { return ent_gauss_scales[i < ENT_GAUSS_LEVELS ? i : ENT_GAUSS_LEVELS - 1]; }

static uint8_t ent_scale_index_in(const float *tab, float scale) {
    /* smallest i with tab[i] >= scale; NaN and > tab[63] give 63 (as CompressAI) */
    unsigned lo = 0, hi = ENT_GAUSS_LEVELS - 1;
    if (!(scale <= tab[hi])) return (uint8_t)hi;
    while (lo < hi) {
        unsigned const mid = (lo + hi) >> 1;
        if (tab[mid] >= scale) hi = mid;
        else lo = mid + 1;
    }
    return (uint8_t)lo;
}

uint8_t ent_gauss_scale_index(float scale) { return ent_scale_index_in(ent_gauss_scales, scale); }

uint8_t ent_gauss_tables_index(const ent_gauss_tables *t, float scale) {
    return ent_scale_index_in(t->scale, scale);
}

float ent_gauss_tables_scale(const ent_gauss_tables *t, unsigned i) {
    return t->scale[i < ENT_GAUSS_LEVELS ? i : ENT_GAUSS_LEVELS - 1];
}

void ent_gauss_scale_indexes(uint8_t *idx, const float *scale, size_t n) {
    for (size_t i = 0; i < n; i++) idx[i] = ent_scale_index_in(ent_gauss_scales, scale[i]);
}

/* ---- deterministic exp and erfc --------------------------------------------------------
 * Only + - * /, floor and ldexp (all exact or correctly rounded by IEEE 754), each
 * operation its own statement, so the results are the same bits on every machine. */

double ent_det_exp(double x) {
    if (x != x) return x;
    if (x > 709.0) return HUGE_VAL;
    if (x < -745.0) return 0.0;
    /* x = k ln2 + r, |r| <= ln2 / 2; ln2_hi has 32 significant bits so k * ln2_hi is exact
     * (Cody-Waite, constants from fdlibm) */
    static const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
                        log2e = 1.44269504088896338700e+00;
    double t = x * log2e;
    t = t + 0.5;
    double const kd = floor(t);
    double hi = kd * ln2_hi;
    hi = x - hi;
    double const lo = kd * ln2_lo;
    double const r = hi - lo;
    /* Taylor to degree 14: |error| < 0.35^15 / 15! ~ 1e-19 */
    static const double inv_fact[15] = {
        1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
        1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0,
        1.0 / 87178291200.0};
    double p = inv_fact[14];
    for (int j = 13; j >= 0; j--) {
        p = p * r;
        p = p + inv_fact[j];
    }
    return ldexp(p, (int)kd);
}

double ent_det_erfc(double x) {
    if (x != x) return x;
    if (x < 0) return 2.0 - ent_det_erfc(-x);
    static const double two_over_sqrtpi = 1.12837916709551257390, inv_sqrtpi = 0.56418958354775628695;
    double const x2 = x * x;
    if (x < 2.0) {
        /* erf(x) = 2/sqrt(pi) e^(-x^2) sum_n x (2x^2)^n / (1*3*...*(2n+1)): positive terms */
        double term = x, sum = x;
        double const a = 2.0 * x2;
        for (int n = 1; n < 200; n++) {
            term = term * a;
            term = term / (double)(2 * n + 1);
            sum = sum + term;
            if (term < sum * 1e-17) break;
        }
        double e = ent_det_exp(-x2);
        e = e * two_over_sqrtpi;
        e = e * sum;
        return 1.0 - e;
    }
    if (x > 27.5) return 0.0;
    /* Laplace continued fraction, evaluated backwards with a fixed depth:
     * erfc(x) = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))) */
    double k = x;
    for (int n = 120; n >= 1; n--) {
        double const q = (double)n * 0.5 / k;
        k = x + q;
    }
    double e = ent_det_exp(-x2);
    e = e * inv_sqrtpi;
    return e / k;
}

double ent_gauss_likelihood(int32_t v, double scale) {
    double const s = scale > ENT_GAUSS_SCALE_MIN ? scale : ENT_GAUSS_SCALE_MIN;
    double const d = s * 1.41421356237309504880; /* s * sqrt(2) */
    double const a = fabs((double)v);
    double p;
    if (a == 0) {
        p = 1.0 - ent_det_erfc(0.5 / d); /* Phi(0.5/s) - Phi(-0.5/s) */
    } else {
        /* both arguments in the lower tail: Phi(-(a-0.5)/s) - Phi(-(a+0.5)/s) */
        double const u = ent_det_erfc((a - 0.5) / d), l = ent_det_erfc((a + 0.5) / d);
        p = u - l;
        p = p * 0.5;
    }
    return p > ENT_GAUSS_LIK_MIN ? p : ENT_GAUSS_LIK_MIN;
}

/* Tail choice. Each in-range symbol costs at least one of 2^prec slots whatever its
 * probability, and an escape costs about 2 log2(overflow) + 15 bits. Extending the range
 * by one symbol pays off while its mass is more than ~2^-prec / 20, which puts the edge
 * near 6 sigma for narrow tables and near 4 sigma for the widest (at 16 bits:
 * 4 sigma of s = 256 already reserves 2049 of 65536 slots, 3 % of the space).
 * The multiplier goes linearly in log2(s) from 6 at s <= 1 to 4 at s = 256. Measured
 * (expected code length on Gaussian data between adjacent levels, 16-bit tables): at
 * s = 256 the excess over the entropy is 0.019 bits/symbol against 0.043 with
 * CompressAI's fixed 6.1 sigma; below s = 16 the choice makes no measurable difference. */
static int32_t ent_gauss_tail_for(double s) {
    double lg = 0;
    double t = s;
    while (t > 1.0) { /* log2(s) without libm: halvings plus a linear remainder */
        t = t * 0.5;
        lg = lg + 1.0;
    }
    if (s > 1.0) lg = lg - 1.0 + t * 2.0 - 1.0;
    double mult = 6.0 - lg * 0.25;
    if (mult < 4.0) mult = 4.0;
    double const e = mult * s;
    int32_t tail = (int32_t)ceil(e);
    return tail < 1 ? 1 : tail;
}

climz_status ent_gauss_tables_build(ent_gauss_tables **out, unsigned prec) {
    *out = NULL;
    CZ_RETURN_IF(prec < 10 || prec > ENT_PREC_MAX, CLIMZ_ERR_INVALID_ARG,
                 "Gaussian table precision %u not in [10,16]", prec);
    ent_gauss_tables *g = cz_calloc(1, sizeof *g);
    CZ_RETURN_IF(!g, CLIMZ_ERR_ALLOC, "Gaussian tables");
    memcpy(g->scale, ent_gauss_scales, sizeof g->scale);
    int32_t offset[ENT_GAUSS_LEVELS];
    uint32_t nsym[ENT_GAUSS_LEVELS];
    size_t total = 0;
    for (int i = 0; i < ENT_GAUSS_LEVELS; i++) {
        int32_t const tail = ent_gauss_tail_for(g->scale[i]);
        offset[i] = -tail;
        nsym[i] = (uint32_t)(2 * tail + 2);
        total += nsym[i];
    }
    climz_status st = CLIMZ_OK;
    double *pmf = cz_malloc(total * sizeof *pmf);
    uint32_t *freq = cz_malloc(total * sizeof *freq);
    if (!pmf || !freq) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "Gaussian pmf");
    size_t pos = 0;
    for (int i = 0; i < ENT_GAUSS_LEVELS; i++) {
        double const s = g->scale[i] > ENT_GAUSS_SCALE_MIN ? g->scale[i] : ENT_GAUSS_SCALE_MIN;
        int32_t const tail = -offset[i];
        for (int32_t v = -tail; v <= tail; v++) pmf[pos + (size_t)(v + tail)] = ent_gauss_likelihood(v, s);
        double esc = ent_det_erfc(((double)tail + 0.5) / (s * 1.41421356237309504880));
        pmf[pos + nsym[i] - 1] = esc > ENT_GAUSS_LIK_MIN ? esc : ENT_GAUSS_LIK_MIN;
        CZ_CHECK_GOTO(st, ent_quantize_pmf(freq + pos, pmf + pos, nsym[i], prec, ENT_Q_ALL), fail);
        pos += nsym[i];
    }
    CZ_CHECK_GOTO(st, ent_tabset_init(&g->ts, prec, ENT_GAUSS_LEVELS, offset, nsym, freq, false), fail);
    free(pmf);
    free(freq);
    *out = g;
    return CLIMZ_OK;
fail:
    free(pmf);
    free(freq);
    ent_gauss_tables_free(g);
    return st;
}

void ent_gauss_tables_free(ent_gauss_tables *t) {
    if (!t) return;
    ent_tabset_release(&t->ts);
    free(t);
}

climz_status ent_gauss_encode(const ent_gauss_tables *t, const int32_t *sym, const uint8_t *idx,
                              size_t n, cz_buf *out) {
    ent_tmap const map = {idx, NULL, 0};
    return ent_tabset_encode(&t->ts, sym, map, n, out);
}

climz_status ent_gauss_decode(const ent_gauss_tables *t, const uint8_t *in, size_t size,
                              const uint8_t *idx, size_t n, int32_t *sym) {
    ent_tmap const map = {idx, NULL, 0};
    return ent_tabset_decode(&t->ts, in, size, map, n, sym);
}

climz_status ent_gauss_decode_more(const ent_gauss_tables *t, ent_dec *d, const uint8_t *idx, size_t n,
                                   int32_t *sym) {
    ent_tmap const map = {idx, NULL, 0};
    return ent_tabset_decode_more(&t->ts, d, map, n, sym);
}

unsigned ent_gauss_prec(const ent_gauss_tables *t) { return t->ts.prec; }

int32_t ent_gauss_tail(const ent_gauss_tables *t, unsigned i) {
    return i < t->ts.ntab ? -t->ts.tab[i].offset : 0;
}

uint32_t ent_gauss_freq(const ent_gauss_tables *t, unsigned i, int32_t v) {
    if (i >= t->ts.ntab) return 0;
    const ent_tab *const tb = &t->ts.tab[i];
    int64_t const d = (int64_t)v - tb->offset;
    uint32_t const s = d >= 0 && d < (int64_t)tb->nsym - 1 ? (uint32_t)d : tb->nsym - 1;
    return ent_tabset_freq(&t->ts, i, s);
}

climz_status ent_gauss_tables_serialize(const ent_gauss_tables *t, cz_buf *out) {
    size_t const start = out->size;
    CZ_FORWARD(cz_buf_put_u32(out, ENT_GAUSS_MAGIC));
    CZ_FORWARD(cz_buf_put_u8(out, ENT_GAUSS_VERSION));
    CZ_FORWARD(cz_buf_put_u8(out, ENT_GAUSS_LEVELS));
    CZ_FORWARD(cz_buf_put_u16(out, 0));
    for (int i = 0; i < ENT_GAUSS_LEVELS; i++) CZ_FORWARD(cz_buf_put_f32(out, t->scale[i]));
    CZ_FORWARD(ent_tabset_serialize(&t->ts, out));
    return cz_buf_put_u32(out, cz_crc32c(0, out->data + start, out->size - start));
}

climz_status ent_gauss_tables_deserialize(ent_gauss_tables **out, const uint8_t *in, size_t size) {
    *out = NULL;
    CZ_RETURN_IF(size < 4, CLIMZ_ERR_TRUNCATED, "Gaussian tables truncated");
    cz_rd r = cz_rd_make(in, size - 4);
    CZ_RETURN_IF(cz_crc32c(0, in, size - 4) != cz_load_le32(in + size - 4), CLIMZ_ERR_CHECKSUM,
                 "Gaussian tables checksum mismatch");
    uint32_t magic;
    uint8_t version, levels;
    uint16_t zero;
    CZ_FORWARD(cz_rd_u32(&r, &magic));
    CZ_RETURN_IF(magic != ENT_GAUSS_MAGIC, CLIMZ_ERR_CORRUPT, "not climz Gaussian tables");
    CZ_FORWARD(cz_rd_u8(&r, &version));
    CZ_RETURN_IF(version != ENT_GAUSS_VERSION, CLIMZ_ERR_VERSION, "Gaussian tables version %u", version);
    CZ_FORWARD(cz_rd_u8(&r, &levels));
    CZ_FORWARD(cz_rd_u16(&r, &zero));
    CZ_RETURN_IF(levels != ENT_GAUSS_LEVELS || zero != 0, CLIMZ_ERR_CORRUPT,
                 "Gaussian tables: %u levels", levels);
    ent_gauss_tables *g = cz_calloc(1, sizeof *g);
    CZ_RETURN_IF(!g, CLIMZ_ERR_ALLOC, "Gaussian tables");
    climz_status st = CLIMZ_OK;
    for (int i = 0; i < ENT_GAUSS_LEVELS; i++) {
        CZ_CHECK_GOTO(st, cz_rd_f32(&r, &g->scale[i]), fail);
        if (!(g->scale[i] > 0) || !isfinite(g->scale[i]) || (i > 0 && !(g->scale[i] > g->scale[i - 1])))
            CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "Gaussian scale %d invalid", i);
    }
    CZ_CHECK_GOTO(st, ent_tabset_deserialize(&g->ts, &r), fail);
    if (g->ts.ntab != ENT_GAUSS_LEVELS)
        CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "Gaussian tables: %u tables", (unsigned)g->ts.ntab);
    if (cz_rd_left(&r) != 0) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "Gaussian tables: trailing bytes");
    *out = g;
    return CLIMZ_OK;
fail:
    ent_gauss_tables_free(g);
    return st;
}
