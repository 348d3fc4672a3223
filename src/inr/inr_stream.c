/* inr_stream.c — weight quantisation, entropy coding of the integer weights and the byte
 * layout of a CA-INR stream (documented in inr_internal.h).
 *
 * Two coders; the writer keeps the smaller stream:
 *  - INR_CODER_ADAPTIVE: the adaptive rANS model of src/entropy (no side information; it
 *    learns the distribution as it goes), one context per kind of tensor.
 *  - INR_CODER_PARAM: per tensor a discretised Gaussian or Laplace table of a stored scale
 *    (one byte per tensor), built on both sides from portable arithmetic (nn_det_erfc,
 *    nn_det_exp) and quantised to integers by src/entropy, so the tables are bit-identical
 *    everywhere. Values beyond the table escape (Elias-gamma, tables.h). */
#include "inr/inr_internal.h"
#include "entropy/adaptive.h"
#include "entropy/factorized.h"
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define INR_PK_MAX 2047   /* largest |value| inside a parametric table */
#define INR_PREC 16

/* ---- quantisation --------------------------------------------------------------------- */

float inr_quantize(int32_t *q, const float *w, size_t n, int bits) {
    int32_t const qmax = (int32_t)((1u << (bits - 1)) - 1);
    float mx = 0;
    for (size_t i = 0; i < n; i++) mx = fabsf(w[i]) > mx ? fabsf(w[i]) : mx;
    float const step = mx / (float)qmax;
    for (size_t i = 0; i < n; i++) {
        int32_t v = 0;
        if (step > 0) {
            float const r = nearbyintf(w[i] / step);
            v = r > (float)qmax ? qmax : r < (float)-qmax ? -qmax : (int32_t)r;
        }
        q[i] = v;
    }
    return step;
}

/* ---- parametric tables ---------------------------------------------------------------- */

/* scale of index k: 2^(k/4 - 4), exact powers times 2^(j/4) constants */
static double inr_pscale_(int k) {
    static const double frac[4] = {1.0, 1.18920711500272106672, 1.41421356237309504880,
                                   1.68179283050742908606};
    return ldexp(frac[k & 3], k / 4 - 4);
}

/* Table of code (bit 7 Laplace, bits 0..6 k) for |q| <= qmax: values -K..K, pmf[0..2K],
 * tail = mass outside. Portable arithmetic only. */
static void inr_param_table_(int code, int32_t qmax, int32_t *K_out, double *pmf, double *tail) {
    double const s = inr_pscale_(code & 127);
    int const lap = (code & 128) != 0;
    double const reach = (lap ? 24.0 : 9.0) * s + 1.0; /* mass beyond: < 4e-11 / 2e-19 */
    int32_t K = reach < (double)INR_PK_MAX ? (int32_t)reach : INR_PK_MAX;
    if (K > qmax) K = qmax;
    double const r2 = 0.70710678118654752440 / s;
    for (int32_t v = 0; v <= K; v++) {
        double p;
        if (lap) {
            p = v == 0 ? 1.0 - nn_det_exp(-0.5 / s)
                       : 0.5 * (nn_det_exp(-((double)v - 0.5) / s) - nn_det_exp(-((double)v + 0.5) / s));
        } else {
            p = v == 0 ? 1.0 - nn_det_erfc(0.5 * r2)
                       : 0.5 * (nn_det_erfc(((double)v - 0.5) * r2) - nn_det_erfc(((double)v + 0.5) * r2));
        }
        pmf[K + v] = p;
        pmf[K - v] = p;
    }
    double const t = lap ? nn_det_exp(-((double)K + 0.5) / s) : nn_det_erfc(((double)K + 0.5) * r2);
    *tail = t > 1e-12 ? t : 1e-12;
    *K_out = K;
}

/* Builds the factorised coder of ntens tables (tensor t: |q| <= qmax[t]). */
static climz_status inr_param_build_(ent_factorized **f, const uint8_t *codes, size_t ntens,
                                     const int32_t *qmax) {
    size_t const cap = 2 * (size_t)INR_PK_MAX + 1;
    int32_t *off = cz_malloc(ntens * sizeof *off);
    uint32_t *nv = cz_malloc(ntens * sizeof *nv);
    double *tail = cz_malloc(ntens * sizeof *tail);
    double *pmf = cz_malloc(ntens * cap * sizeof *pmf);
    climz_status st = CLIMZ_OK;
    if (!off || !nv || !tail || !pmf) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "inr: tables");
    size_t pos = 0;
    for (size_t t = 0; t < ntens; t++) {
        int32_t K;
        inr_param_table_(codes[t], qmax[t], &K, pmf + pos, &tail[t]);
        off[t] = -K;
        nv[t] = (uint32_t)(2 * K + 1);
        pos += nv[t];
    }
    st = ent_factorized_build(f, (uint32_t)ntens, off, nv, pmf, tail, INR_PREC);
done:
    free(off), free(nv), free(tail), free(pmf);
    return st;
}

/* The code of a tensor's table: the family and scale index of least ideal cost (encoder
 * only: its choice is recorded, so libm may be used here). */
static uint8_t inr_param_choose_(const int32_t *q, size_t n, int32_t qmax) {
    double s2 = 0, s1 = 0;
    for (size_t i = 0; i < n; i++) s2 += (double)q[i] * q[i], s1 += fabs((double)q[i]);
    double const sd = sqrt(s2 / (double)n), ma = s1 / (double)n;
    int best = 0;
    double best_bits = INFINITY;
    double *pmf = cz_malloc((2 * (size_t)INR_PK_MAX + 1) * sizeof *pmf);
    if (!pmf) return 0;
    for (int lap = 0; lap < 2; lap++) {
        double const s = lap ? ma : sd;
        int const k0 = s > 0 ? (int)lround(4.0 * (log2(s) + 4.0)) : 0;
        for (int k = k0 - 2; k <= k0 + 2; k++) {
            if (k < 0 || k > 127) continue;
            int const code = k | (lap ? 128 : 0);
            int32_t K;
            double tail;
            inr_param_table_(code, qmax, &K, pmf, &tail);
            double tot = tail;
            for (int32_t v = 0; v <= 2 * K; v++) tot += pmf[v];
            double bits = 0;
            for (size_t i = 0; i < n; i++) {
                int32_t const v = q[i];
                if (v >= -K && v <= K) bits -= log2(pmf[v + K] / tot + 1e-300);
                else bits += -log2(tail / tot) + 2.0 * log2(fabs((double)v) + 1.0) + 1.0;
            }
            if (bits < best_bits) best_bits = bits, best = code;
        }
    }
    free(pmf);
    return (uint8_t)best;
}

/* ---- stream ----------------------------------------------------------------------------- */

/* adaptive coder context of tensor t: first layer, hidden weights, biases/out/skip */
static int inr_actx_(const inr_net *net, size_t t) {
    if (t == net->lw[0]) return 0;
    if (net->p.t[t].ndim == 2 && net->p.t[t].shape[0] > 1) return 1;
    return 2;
}

static climz_status inr_header_put_(const inr_header *h, int coder, cz_buf *b) {
    CZ_FORWARD(cz_buf_put(b, INR_MAGIC, 4));
    CZ_FORWARD(cz_buf_put_u8(b, INR_VERSION));
    CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)h->a.arch));
    CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)h->bits));
    CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)coder));
    CZ_FORWARD(cz_buf_put_u16(b, (uint16_t)h->a.width));
    CZ_FORWARD(cz_buf_put_u16(b, (uint16_t)h->a.depth));
    CZ_FORWARD(cz_buf_put_u16(b, (uint16_t)h->a.n_fourier));
    CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)h->a.nctx));
    CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)h->flags));
    CZ_FORWARD(cz_buf_put_f32(b, h->a.sigma));
    CZ_FORWARD(cz_buf_put_f32(b, h->a.omega0));
    CZ_FORWARD(cz_buf_put_u32(b, h->a.fseed));
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)h->nt));
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)h->nz));
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)h->ny));
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)h->nx));
    CZ_FORWARD(cz_buf_put_f32(b, h->mean));
    CZ_FORWARD(cz_buf_put_f32(b, h->std));
    CZ_FORWARD(cz_buf_put_u32(b, h->grid_crc));
    for (int c = 0; c < h->a.nctx; c++) {
        size_t const len = strlen(h->ctx_name[c]);
        CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)h->ctx_layout[c]));
        CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)len));
        CZ_FORWARD(cz_buf_put(b, h->ctx_name[c], len));
        CZ_FORWARD(cz_buf_put_u32(b, h->ctx_crc[c]));
    }
    return CLIMZ_OK;
}

climz_status inr_stream_write(const inr_header *h, const inr_net *net, cz_buf *out) {
    nn_params const *const p = &net->p;
    size_t const ntens = p->n, nw = p->numel;
    CZ_RETURN_IF(h->bits < INR_BITS_MIN || h->bits > INR_BITS_MAX, CLIMZ_ERR_INVALID_ARG,
                 "inr: %d weight bits", h->bits);
    CZ_RETURN_IF(ntens > INR_MAX_TENSORS, CLIMZ_ERR_INVALID_ARG, "inr: %zu tensors", ntens);
    int32_t qmax[INR_MAX_TENSORS];
    for (size_t t = 0; t < ntens; t++) {
        CZ_RETURN_IF(h->boff[t] > INR_MAX_BOFF, CLIMZ_ERR_INVALID_ARG, "inr: %d extra bits", h->boff[t]);
        qmax[t] = (int32_t)((1u << (inr_tensor_bits(h, t) - 1)) - 1);
    }
    int32_t *q = cz_malloc(nw * sizeof *q);
    uint16_t *ch = cz_malloc(nw * sizeof *ch);
    float steps[INR_MAX_TENSORS];
    uint8_t codes[INR_MAX_TENSORS];
    cz_buf pa = {0}, pp = {0}, b = {0};
    ent_aenc *ae = NULL;
    ent_factorized *fz = NULL;
    climz_status st = CLIMZ_OK;
    if (!q || !ch) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "inr: quantised weights");
    /* tensors in table order; p->t[i].offset gives the storage place */
    size_t pos = 0;
    for (size_t t = 0; t < ntens; t++) {
        size_t const n = p->t[t].numel;
        steps[t] = inr_quantize(q + pos, nn_params_data(p, t), n, inr_tensor_bits(h, t));
        for (size_t i = 0; i < n; i++) ch[pos + i] = (uint16_t)t;
        codes[t] = inr_param_choose_(q + pos, n, qmax[t]);
        pos += n;
    }
    /* adaptive */
    CZ_CHECK_GOTO(st, ent_aenc_create(&ae, 3), done);
    pos = 0;
    for (size_t t = 0; t < ntens; t++) {
        int const c = inr_actx_(net, t);
        for (size_t i = 0; i < p->t[t].numel; i++) CZ_CHECK_GOTO(st, ent_aenc_put(ae, c, q[pos + i]), done);
        pos += p->t[t].numel;
    }
    CZ_CHECK_GOTO(st, ent_aenc_finish(ae, &pa), done);
    /* parametric */
    CZ_CHECK_GOTO(st, inr_param_build_(&fz, codes, ntens, qmax), done);
    CZ_CHECK_GOTO(st, ent_factorized_encode_ch(fz, q, ch, nw, &pp), done);
    int const coder = pp.size + ntens < pa.size ? INR_CODER_PARAM : INR_CODER_ADAPTIVE;
    cz_buf const *const pay = coder == INR_CODER_PARAM ? &pp : &pa;
    CZ_CHECK_GOTO(st, inr_header_put_(h, coder, &b), done);
    for (size_t t = 0; t < ntens; t++) CZ_CHECK_GOTO(st, cz_buf_put_f32(&b, steps[t]), done);
    for (size_t t = 0; t < ntens; t += 2)
        CZ_CHECK_GOTO(st, cz_buf_put_u8(&b, (uint8_t)(h->boff[t] | (t + 1 < ntens ? h->boff[t + 1] << 4 : 0))), done);
    if (coder == INR_CODER_PARAM) CZ_CHECK_GOTO(st, cz_buf_put(&b, codes, ntens), done);
    CZ_CHECK_GOTO(st, cz_buf_put_u32(&b, (uint32_t)pay->size), done);
    CZ_CHECK_GOTO(st, cz_buf_put(&b, pay->data, pay->size), done);
    CZ_CHECK_GOTO(st, cz_buf_put_u32(&b, cz_crc32c(0, b.data, b.size)), done);
    CZ_CHECK_GOTO(st, cz_buf_put(out, b.data, b.size), done);
done:
    free(q), free(ch);
    cz_buf_free(&pa), cz_buf_free(&pp), cz_buf_free(&b);
    ent_aenc_free(ae);
    ent_factorized_free(fz);
    return st;
}

static climz_status inr_header_get_(cz_rd *r, inr_header *h) {
    uint8_t magic[4], u8;
    uint16_t u16;
    uint32_t u32;
    memset(h, 0, sizeof *h);
    CZ_FORWARD(cz_rd_bytes(r, magic, 4));
    CZ_RETURN_IF(memcmp(magic, INR_MAGIC, 4) != 0, CLIMZ_ERR_CORRUPT, "inr: not a CA-INR stream");
    CZ_FORWARD(cz_rd_u8(r, &u8));
    CZ_RETURN_IF(u8 > INR_VERSION, CLIMZ_ERR_VERSION, "inr: stream version %u (this library: %d)",
                 (unsigned)u8, INR_VERSION);
    CZ_RETURN_IF(u8 == 0, CLIMZ_ERR_CORRUPT, "inr: stream version 0");
    CZ_FORWARD(cz_rd_u8(r, &u8)); h->a.arch = u8;
    CZ_FORWARD(cz_rd_u8(r, &u8)); h->bits = u8;
    CZ_FORWARD(cz_rd_u8(r, &u8)); h->coder = u8;
    CZ_FORWARD(cz_rd_u16(r, &u16)); h->a.width = u16;
    CZ_FORWARD(cz_rd_u16(r, &u16)); h->a.depth = u16;
    CZ_FORWARD(cz_rd_u16(r, &u16)); h->a.n_fourier = u16;
    CZ_FORWARD(cz_rd_u8(r, &u8)); h->a.nctx = u8;
    CZ_FORWARD(cz_rd_u8(r, &u8)); h->flags = u8;
    CZ_FORWARD(cz_rd_f32(r, &h->a.sigma));
    CZ_FORWARD(cz_rd_f32(r, &h->a.omega0));
    CZ_FORWARD(cz_rd_u32(r, &h->a.fseed));
    CZ_FORWARD(cz_rd_u32(r, &u32)); h->nt = u32;
    CZ_FORWARD(cz_rd_u32(r, &u32)); h->nz = u32;
    CZ_FORWARD(cz_rd_u32(r, &u32)); h->ny = u32;
    CZ_FORWARD(cz_rd_u32(r, &u32)); h->nx = u32;
    CZ_FORWARD(cz_rd_f32(r, &h->mean));
    CZ_FORWARD(cz_rd_f32(r, &h->std));
    CZ_FORWARD(cz_rd_u32(r, &h->grid_crc));
    CZ_RETURN_IF(h->bits < INR_BITS_MIN || h->bits > INR_BITS_MAX, CLIMZ_ERR_CORRUPT,
                 "inr: %d weight bits", h->bits);
    CZ_RETURN_IF(h->coder != INR_CODER_ADAPTIVE && h->coder != INR_CODER_PARAM, CLIMZ_ERR_CORRUPT,
                 "inr: unknown coder %d", h->coder);
    CZ_RETURN_IF(h->a.nctx > INR_MAX_CTX, CLIMZ_ERR_CORRUPT, "inr: %d contexts", h->a.nctx);
    CZ_RETURN_IF(!isfinite(h->mean) || !isfinite(h->std), CLIMZ_ERR_CORRUPT, "inr: bad normalisation");
    CZ_RETURN_IF(h->nt == 0 || h->nz == 0 || h->ny == 0 || h->nx == 0, CLIMZ_ERR_CORRUPT,
                 "inr: zero dimension");
    for (int c = 0; c < h->a.nctx; c++) {
        CZ_FORWARD(cz_rd_u8(r, &u8));
        CZ_RETURN_IF(u8 > 3, CLIMZ_ERR_CORRUPT, "inr: context layout %u", (unsigned)u8);
        h->ctx_layout[c] = u8;
        CZ_FORWARD(cz_rd_u8(r, &u8));
        CZ_RETURN_IF(u8 > INR_NAME_MAX, CLIMZ_ERR_CORRUPT, "inr: context name of %u bytes", (unsigned)u8);
        CZ_FORWARD(cz_rd_bytes(r, h->ctx_name[c], u8));
        h->ctx_name[c][u8] = 0;
        CZ_RETURN_IF(strlen(h->ctx_name[c]) != u8, CLIMZ_ERR_CORRUPT, "inr: NUL in a context name");
        CZ_FORWARD(cz_rd_u32(r, &h->ctx_crc[c]));
    }
    return CLIMZ_OK;
}

climz_status inr_stream_read(const uint8_t *in, size_t size, inr_header *h, inr_net *net) {
    CZ_RETURN_IF(!in || size < 4, CLIMZ_ERR_TRUNCATED, "inr: stream of %zu bytes", size);
    cz_rd r = cz_rd_make(in, size);
    CZ_FORWARD(inr_header_get_(&r, h));
    /* the table layout follows from the header; check it before trusting any length */
    inr_net tmp;
    inr_net *const nt = net ? net : &tmp;
    CZ_FORWARD(inr_net_layout(nt, &h->a, true));
    size_t const ntens = nt->p.n;
    climz_status st = CLIMZ_OK;
    float steps[INR_MAX_TENSORS];
    uint8_t codes[INR_MAX_TENSORS];
    int32_t *q = NULL;
    uint16_t *ch = NULL;
    ent_adec *ad = NULL;
    ent_factorized *fz = NULL;
    for (size_t t = 0; t < ntens; t++) {
        CZ_CHECK_GOTO(st, cz_rd_f32(&r, &steps[t]), done);
        if (!(steps[t] >= 0 && steps[t] <= 1e30f)) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "inr: bad step");
    }
    for (size_t t = 0; t < ntens; t += 2) {
        uint8_t u8;
        CZ_CHECK_GOTO(st, cz_rd_u8(&r, &u8), done);
        h->boff[t] = u8 & 15;
        if (t + 1 < ntens) h->boff[t + 1] = u8 >> 4;
        else if (u8 >> 4) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "inr: bad bit table");
        if (h->boff[t] > INR_MAX_BOFF || (t + 1 < ntens && h->boff[t + 1] > INR_MAX_BOFF))
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "inr: bad bit table");
    }
    if (h->coder == INR_CODER_PARAM) CZ_CHECK_GOTO(st, cz_rd_bytes(&r, codes, ntens), done);
    uint32_t plen;
    CZ_CHECK_GOTO(st, cz_rd_u32(&r, &plen), done);
    const uint8_t *pay;
    CZ_CHECK_GOTO(st, cz_rd_skip(&r, plen, &pay), done);
    uint32_t crc;
    size_t const body = size - cz_rd_left(&r);
    CZ_CHECK_GOTO(st, cz_rd_u32(&r, &crc), done);
    if (cz_rd_left(&r) != 0) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "inr: %zu trailing bytes", cz_rd_left(&r));
    if (crc != cz_crc32c(0, in, body)) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "inr: CRC-32C mismatch");
    if (!net) goto done;
    /* weights */
    CZ_CHECK_GOTO(st, inr_net_alloc(nt, 0), done); /* layout bounded the size */
    size_t const nw = nt->p.numel;
    q = cz_malloc(nt->p.numel * sizeof *q);
    ch = cz_malloc(nt->p.numel * sizeof *ch);
    if (!q || !ch) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "inr: weights");
    int32_t qmax[INR_MAX_TENSORS];
    for (size_t t = 0; t < ntens; t++) qmax[t] = (int32_t)((1u << (inr_tensor_bits(h, t) - 1)) - 1);
    size_t pos = 0;
    for (size_t t = 0; t < ntens; t++) {
        for (size_t i = 0; i < nt->p.t[t].numel; i++) ch[pos + i] = (uint16_t)t;
        pos += nt->p.t[t].numel;
    }
    if (h->coder == INR_CODER_PARAM) {
        CZ_CHECK_GOTO(st, inr_param_build_(&fz, codes, ntens, qmax), done);
        st = ent_factorized_decode_ch(fz, pay, plen, ch, nw, q);
        if (st == CLIMZ_ERR_INVALID_ARG) st = cz_error(CLIMZ_ERR_CORRUPT, "inr: bad weight stream");
        if (st != CLIMZ_OK) goto done;
    } else {
        CZ_CHECK_GOTO(st, ent_adec_create(&ad, 3, pay, plen), done);
        pos = 0;
        for (size_t t = 0; t < ntens; t++) {
            int const c = inr_actx_(nt, t);
            for (size_t i = 0; i < nt->p.t[t].numel; i++) CZ_CHECK_GOTO(st, ent_adec_get(ad, c, &q[pos + i]), done);
            pos += nt->p.t[t].numel;
        }
        CZ_CHECK_GOTO(st, ent_adec_finish(ad), done);
    }
    pos = 0;
    for (size_t t = 0; t < ntens; t++) {
        float *const w = nn_params_data(&nt->p, t);
        for (size_t i = 0; i < nt->p.t[t].numel; i++) {
            int32_t const v = q[pos + i];
            if (v > qmax[t] || v < -qmax[t]) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "inr: weight out of range");
            w[i] = (float)v * steps[t];
        }
        pos += nt->p.t[t].numel;
    }
done:
    free(q), free(ch);
    ent_adec_free(ad);
    ent_factorized_free(fz);
    if (!net || st != CLIMZ_OK) inr_net_free(nt);
    return st;
}
