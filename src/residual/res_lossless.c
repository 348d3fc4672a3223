/*
 * res_lossless.c — E = 0: bit-exact coding of float32 blocks (fpzip manner).
 *
 * Shapes: x, miss, base, out are (n0, n1, n2) in C order.
 *
 * Each valid point is predicted in float by 3-D Lorenzo on decoded values of the domain
 * (x, or x - base), P = base + prediction. Floats map to unsigned integers in value order
 * (ord: negative floats reversed below positive ones, so -0.0 and +0.0 are neighbours and
 * every bit pattern, NaN payloads included, has its own code); the residual
 * d = ord(x) - ord(P) mod 2^32 is exact and invertible. It is coded as a class
 * k = bit length of |d| with its sign (symbol -32..32, adaptive model, context = mean class of
 * the left and upper neighbours) plus the k-1 bits under the leading one, raw.
 *
 * The zstd alternatives byte-shuffle (plane 0 = low bytes, ...) either the raw floats of the
 * valid points (variant 0) or their ulp residuals d (variant 1) and compress with zstd.
 *
 * Payloads (after the residual header's domain byte):
 *   RES_MODE_LOSSLESS: varint n_entropy, entropy stream, raw bits (LSB first) to the end
 *   RES_MODE_ZSTD:     u8 variant, zstd frame to the end
 */
#include "residual/res_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* The decoder must rebuild every float bit for bit on any build: forbid fusing a * b + c
 * into an FMA even in GNU dialects or with clang's default (-ffp-contract=on). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define RES_ZSTD_LEVEL 6

static inline uint32_t res_f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float res_u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t res_ord(uint32_t u) { return (u & 0x80000000u) ? ~u : (u | 0x80000000u); }
static inline uint32_t res_unord(uint32_t o) { return (o & 0x80000000u) ? (o & 0x7fffffffu) : ~o; }
static inline int res_bitlen(uint32_t a) { return a ? 32 - __builtin_clz(a) : 0; }
static inline float res_sane(float v) { return fabsf(v) <= FLT_MAX ? v : 0.f; }

/* ---- raw bit I/O ------------------------------------------------------------------------ */

typedef struct res_bitw {
    cz_buf *b;
    uint64_t acc;
    int n;
} res_bitw;

static inline climz_status res_bitw_put(res_bitw *bw, uint32_t v, int nb) {
    bw->acc |= (uint64_t)v << bw->n;
    bw->n += nb;
    if (bw->n >= 32) {
        CZ_FORWARD(cz_buf_put_u32(bw->b, (uint32_t)bw->acc));
        bw->acc >>= 32;
        bw->n -= 32;
    }
    return CLIMZ_OK;
}

static climz_status res_bitw_flush(res_bitw *bw) {
    while (bw->n > 0) {
        CZ_FORWARD(cz_buf_put_u8(bw->b, (uint8_t)bw->acc));
        bw->acc >>= 8;
        bw->n -= 8;
    }
    return CLIMZ_OK;
}

typedef struct res_bitr {
    const uint8_t *p, *end;
    uint64_t acc;
    int n;
} res_bitr;

static inline climz_status res_bitr_get(res_bitr *br, int nb, uint32_t *v) {
    while (br->n < nb) {
        CZ_RETURN_IF(br->p >= br->end, CLIMZ_ERR_TRUNCATED, "lossless stream: raw bits end early");
        br->acc |= (uint64_t)*br->p++ << br->n;
        br->n += 8;
    }
    *v = (uint32_t)(br->acc & ((1ull << nb) - 1));
    br->acc >>= nb;
    br->n -= nb;
    return CLIMZ_OK;
}

/* ---- the Lorenzo traversal ------------------------------------------------------------- */

typedef struct res_ll {
    size_t n0, n1, n2;
    const uint8_t *miss;
    const float *base;
    float *w;       /* domain values */
    uint8_t *kc;    /* class of each point's residual (0 for missing) */
    /* encoder */
    const float *x;
    uint32_t *d;    /* residuals of valid points, in order */
    int8_t *sym;    /* class symbols */
    uint8_t *ctx;
    size_t nv;
    /* decoder: residuals from adec + bits, or from d[] (zstd variant 1) */
    ent_adec *dec;
    res_bitr *br;
    const uint32_t *din;
    float *out;
} res_ll;

static climz_status res_ll_run(res_ll *S, int dec) {
    size_t const n0 = S->n0, n1 = S->n1, n2 = S->n2, nxy = n1 * n2;
    float *const w = S->w;
    uint8_t *const kc = S->kc;
    size_t nv = 0;
    for (size_t k = 0; k < n0; k++) {
        for (size_t j = 0; j < n1; j++) {
            size_t const row = (k * n1 + j) * n2;
            int const hy = j > 0, hz = k > 0;
            for (size_t l = 0; l < n2; l++) {
                size_t const i = row + l;
                int const hx = l > 0;
                float const a1 = hx ? w[i - 1] : 0.f;
                float const a2 = hy ? w[i - n2] : 0.f;
                float const a3 = hz ? w[i - nxy] : 0.f;
                float const a4 = hx && hy ? w[i - n2 - 1] : 0.f;
                float const a5 = hx && hz ? w[i - nxy - 1] : 0.f;
                float const a6 = hy && hz ? w[i - nxy - n2] : 0.f;
                float const a7 = hx && hy && hz ? w[i - nxy - n2 - 1] : 0.f;
                float const p = res_sane(a1 + a2 + a3 - a4 - a5 - a6 + a7);
                if (S->miss && S->miss[i]) {
                    w[i] = p;
                    kc[i] = 0;
                    if (dec) S->out[i] = 0.f;
                    continue;
                }
                float const P = S->base ? res_sane(S->base[i] + p) : p;
                int const ctx = ((hx ? kc[i - 1] : 0) + (hy ? kc[i - n2] : 0) + 1) >> 1;
                uint32_t d;
                if (!dec) {
                    d = res_ord(res_f2u(S->x[i])) - res_ord(res_f2u(P));
                    S->d[nv] = d;
                    int32_t const v = (int32_t)d;
                    int const kk = res_bitlen(v < 0 ? 0u - d : d);
                    S->sym[nv] = (int8_t)(v < 0 ? -kk : kk);
                    S->ctx[nv] = (uint8_t)ctx;
                    kc[i] = (uint8_t)kk;
                } else if (S->din) {
                    d = S->din[nv];
                    kc[i] = (uint8_t)res_bitlen((int32_t)d < 0 ? 0u - d : d);
                } else {
                    int32_t s;
                    CZ_FORWARD(ent_adec_get(S->dec, ctx, &s));
                    CZ_RETURN_IF(s < -32 || s > 32, CLIMZ_ERR_CORRUPT, "lossless stream: class %ld",
                                 (long)s);
                    int const kk = s < 0 ? -s : s;
                    uint32_t a = 0;
                    if (kk > 0) {
                        uint32_t lo = 0;
                        if (kk > 1) CZ_FORWARD(res_bitr_get(S->br, kk - 1, &lo));
                        a = (1u << (kk - 1)) | lo;
                    }
                    d = s < 0 ? 0u - a : a;
                    kc[i] = (uint8_t)kk;
                }
                float const xv = dec ? res_u2f(res_unord(res_ord(res_f2u(P)) + d)) : S->x[i];
                if (dec) S->out[i] = xv;
                float const wv = S->base ? xv - S->base[i] : xv;
                w[i] = fabsf(wv) <= FLT_MAX ? wv : p;
                nv++;
            }
        }
    }
    S->nv = nv;
    return CLIMZ_OK;
}

/* ---- shuffle + zstd ---------------------------------------------------------------------- */

static climz_status res_zstd_put(const uint32_t *v, size_t nv, cz_buf *out) {
    size_t nb;
    CZ_RETURN_IF(!cz_mul_ok(nv, 4, &nb), CLIMZ_ERR_ALLOC, "lossless: size overflow");
    uint8_t *sh = cz_malloc(nb);
    CZ_RETURN_IF(!sh, CLIMZ_ERR_ALLOC, "lossless: out of memory");
    for (size_t i = 0; i < nv; i++) {
        sh[i] = (uint8_t)v[i];
        sh[nv + i] = (uint8_t)(v[i] >> 8);
        sh[2 * nv + i] = (uint8_t)(v[i] >> 16);
        sh[3 * nv + i] = (uint8_t)(v[i] >> 24);
    }
    size_t const bound = ZSTD_compressBound(nb);
    climz_status st = cz_buf_reserve(out, bound);
    if (st == CLIMZ_OK) {
        size_t const z = ZSTD_compress(out->data + out->size, bound, sh, nb, RES_ZSTD_LEVEL);
        if (ZSTD_isError(z)) st = cz_error(CLIMZ_ERR_GENERIC, "zstd: %s", ZSTD_getErrorName(z));
        else out->size += z;
    }
    free(sh);
    return st;
}

static climz_status res_zstd_get(const uint8_t *in, size_t size, uint32_t *v, size_t nv) {
    size_t const nb = nv * 4; /* nv <= n, checked by the caller */
    uint8_t *sh = cz_malloc(nb);
    CZ_RETURN_IF(!sh, CLIMZ_ERR_ALLOC, "lossless: out of memory");
    size_t const z = ZSTD_decompress(sh, nb, in, size);
    climz_status st = CLIMZ_OK;
    if (ZSTD_isError(z)) st = cz_error(CLIMZ_ERR_CORRUPT, "lossless stream: zstd: %s", ZSTD_getErrorName(z));
    else if (z != nb) st = cz_error(CLIMZ_ERR_CORRUPT, "lossless stream: %zu bytes, expected %zu", z, nb);
    else {
        for (size_t i = 0; i < nv; i++)
            v[i] = (uint32_t)sh[i] | (uint32_t)sh[nv + i] << 8 | (uint32_t)sh[2 * nv + i] << 16 |
                   (uint32_t)sh[3 * nv + i] << 24;
    }
    free(sh);
    return st;
}

/* ---- entry points ----------------------------------------------------------------------- */

climz_status res_lossless_encode(const float *x, const uint8_t *miss, const float *base,
                                 size_t n0, size_t n1, size_t n2, int zstd_mode, cz_buf *out) {
    size_t const n = n0 * n1 * n2; /* the caller checked the product */
    res_ll S = {n0, n1, n2, miss, base, NULL, NULL, x, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL};
    climz_status st = CLIMZ_OK;
    ent_aenc *enc = NULL;
    cz_buf es = {0};
    S.w = cz_malloc(n * sizeof(float));
    S.kc = cz_malloc(n);
    S.d = cz_malloc(n * sizeof(uint32_t));
    S.sym = cz_malloc(n);
    S.ctx = cz_malloc(n);
    if (!S.w || !S.kc || !S.d || !S.sym || !S.ctx) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "lossless: out of memory");
    CZ_CHECK_GOTO(st, res_ll_run(&S, 0), done);
    if (zstd_mode == 1) { /* variant 1: ulp residuals */
        CZ_CHECK_GOTO(st, cz_buf_put_u8(out, 1), done);
        CZ_CHECK_GOTO(st, res_zstd_put(S.d, S.nv, out), done);
    } else if (zstd_mode == 2) { /* variant 0: the floats themselves */
        size_t nv = 0;
        for (size_t i = 0; i < n; i++)
            if (!miss || !miss[i]) S.d[nv++] = res_f2u(x[i]);
        CZ_CHECK_GOTO(st, cz_buf_put_u8(out, 0), done);
        CZ_CHECK_GOTO(st, res_zstd_put(S.d, nv, out), done);
    } else {
        CZ_CHECK_GOTO(st, ent_aenc_create(&enc, RES_NCTX_LOSSLESS), done);
        for (size_t i = 0; i < S.nv; i++) CZ_CHECK_GOTO(st, ent_aenc_put(enc, S.ctx[i], S.sym[i]), done);
        CZ_CHECK_GOTO(st, ent_aenc_finish(enc, &es), done);
        CZ_CHECK_GOTO(st, cz_buf_put_varint(out, es.size), done);
        CZ_CHECK_GOTO(st, cz_buf_put(out, es.data, es.size), done);
        res_bitw bw = {out, 0, 0};
        for (size_t i = 0; i < S.nv; i++) {
            int const kk = S.sym[i] < 0 ? -S.sym[i] : S.sym[i];
            if (kk > 1) {
                uint32_t const a = (int32_t)S.d[i] < 0 ? 0u - S.d[i] : S.d[i];
                CZ_CHECK_GOTO(st, res_bitw_put(&bw, a & ((1u << (kk - 1)) - 1), kk - 1), done);
            }
        }
        CZ_CHECK_GOTO(st, res_bitw_flush(&bw), done);
    }
done:
    ent_aenc_free(enc);
    cz_buf_free(&es);
    free(S.w);
    free(S.kc);
    free(S.d);
    free(S.sym);
    free(S.ctx);
    return st;
}

climz_status res_lossless_decode(cz_rd *rd, const uint8_t *miss, const float *base, size_t n0,
                                 size_t n1, size_t n2, int zstd_mode, float *out) {
    size_t const n = n0 * n1 * n2;
    res_ll S = {n0, n1, n2, miss, base, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, out};
    climz_status st = CLIMZ_OK;
    uint32_t *dv = NULL;
    res_bitr br = {0};
    S.w = cz_malloc(n * sizeof(float));
    S.kc = cz_malloc(n);
    if (!S.w || !S.kc) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "lossless: out of memory");
    size_t nv = 0;
    for (size_t i = 0; i < n; i++) nv += !miss || !miss[i];
    if (zstd_mode) {
        uint8_t variant;
        CZ_CHECK_GOTO(st, cz_rd_u8(rd, &variant), done);
        if (variant > 1) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "lossless stream: zstd variant %u", variant);
        dv = cz_malloc(nv * sizeof(uint32_t));
        if (!dv) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "lossless: out of memory");
        CZ_CHECK_GOTO(st, res_zstd_get(rd->p, cz_rd_left(rd), dv, nv), done);
        rd->p = rd->end;
        if (variant == 0) {
            size_t v = 0;
            for (size_t i = 0; i < n; i++) out[i] = miss && miss[i] ? 0.f : res_u2f(dv[v++]);
            goto done;
        }
        S.din = dv;
        CZ_CHECK_GOTO(st, res_ll_run(&S, 1), done);
    } else {
        uint64_t elen;
        const uint8_t *ep;
        CZ_CHECK_GOTO(st, cz_rd_varint(rd, &elen), done);
        if (elen > cz_rd_left(rd)) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_TRUNCATED, "lossless stream: entropy part cut");
        CZ_CHECK_GOTO(st, cz_rd_skip(rd, (size_t)elen, &ep), done);
        CZ_CHECK_GOTO(st, ent_adec_create(&S.dec, RES_NCTX_LOSSLESS, ep, (size_t)elen), done);
        br.p = rd->p;
        br.end = rd->end;
        S.br = &br;
        CZ_CHECK_GOTO(st, res_ll_run(&S, 1), done);
        CZ_CHECK_GOTO(st, ent_adec_finish(S.dec), done);
        /* every raw bit consumed: at most 7 padding bits may remain, all zero */
        if (br.end - br.p != 0 || br.acc != 0)
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "lossless stream: trailing bytes");
        rd->p = rd->end;
    }
done:
    ent_adec_free(S.dec);
    free(dv);
    free(S.w);
    free(S.kc);
    return st;
}
