/* mask.c — lossless coding of missing-value maps; see mask.h and doc/format.md. */
#include "container/mask.h"

#include "entropy/adaptive.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ---- stream header: method byte, LEB128 n ---------------------------------------------- */

static climz_status put_varint(cz_buf *b, uint64_t v) {
    uint8_t t[10];
    size_t k = 0;
    do {
        t[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) t[k] |= 0x80;
        k++;
    } while (v);
    return cz_buf_put(b, t, k);
}

static climz_status get_varint(cz_rd *r, uint64_t *v) {
    uint64_t x = 0;
    for (int k = 0; k < 10; k++) {
        uint8_t c;
        CZ_RETURN_IF(cz_rd_u8(r, &c) != CLIMZ_OK, CLIMZ_ERR_CORRUPT, "mask: header cut off");
        CZ_RETURN_IF(k == 9 && c > 1, CLIMZ_ERR_CORRUPT, "mask: varint overflows 64 bits");
        x |= (uint64_t)(c & 0x7f) << (7 * k);
        if (!(c & 0x80)) {
            /* the shortest form only: one stream per map */
            CZ_RETURN_IF(k > 0 && c == 0, CLIMZ_ERR_CORRUPT, "mask: overlong varint");
            *v = x;
            return CLIMZ_OK;
        }
    }
    return cz_error(CLIMZ_ERR_CORRUPT, "mask: varint longer than 10 bytes");
}

const char *clz_mask_method_name(int method) {
    switch (method) {
    case CLZ_MASK_CONST: return "const";
    case CLZ_MASK_RUNS: return "runs";
    case CLZ_MASK_ZSTD: return "zstd";
    case CLZ_MASK_ROWS: return "rows";
    case CLZ_MASK_G4: return "g4";
    default: return "unknown";
    }
}

static unsigned bit_len(uint64_t v) {
    unsigned b = 0;
    while (v) {
        b++;
        v >>= 1;
    }
    return b;
}

static int popcount16(unsigned v) {
    int c = 0;
    for (; v; v &= v - 1) c++;
    return c;
}

/* ---- RUNS: run lengths and run values with adaptive models ------------------------------
 * A run is (value, length L >= 1). L - 1 is coded in pieces of at most RUN_PIECE (a piece
 * equal to RUN_PIECE means "more follows"), in context (value != 0, run_bucket() of the
 * previous run of the same class). With exactly two values in the map they alternate and
 * are not coded; otherwise each run's value is coded in the context of the previous one. */

#define RUN_PIECE (1 << 20)
#define RUN_LEN_BUCKETS 8
/* context of a run length: the previous run of the same class, by its bit length in pairs
 * (few contexts: each must learn its distribution from scratch, and maps are small) */
static unsigned run_bucket(uint64_t prev_len) {
    unsigned const b = (bit_len(prev_len) + 1) / 2;
    return b < RUN_LEN_BUCKETS - 1 ? b : RUN_LEN_BUCKETS - 1;
}
#define RUN_CTX_VALUE (2 * RUN_LEN_BUCKETS)
#define RUN_NCTX (RUN_CTX_VALUE + CZ_MAX_SPECIALS + 1)

static climz_status runs_encode(const uint8_t *m, size_t n, unsigned used, cz_buf *out) {
    ent_aenc *e;
    CZ_FORWARD(ent_aenc_create(&e, RUN_NCTX));
    climz_status st = CLIMZ_OK;
    int const alternate = popcount16(used) == 2;
    uint64_t prev_len[2] = {0, 0};
    size_t i = 0;
    int prev = -1;
    while (i < n && st == CLIMZ_OK) {
        uint8_t const v = m[i];
        size_t j = i + 1;
        while (j < n && m[j] == v) j++;
        if (!alternate && prev >= 0) st = ent_aenc_put(e, RUN_CTX_VALUE + prev, v);
        int const cls = v != 0;
        int const ctx = cls * RUN_LEN_BUCKETS + (int)run_bucket(prev_len[cls]);
        uint64_t rest = j - i - 1;
        for (;;) {
            int32_t const piece = rest >= RUN_PIECE ? RUN_PIECE : (int32_t)rest;
            if (st == CLIMZ_OK) st = ent_aenc_put(e, ctx, piece);
            if (piece < RUN_PIECE) break;
            rest -= RUN_PIECE;
        }
        prev_len[cls] = j - i;
        prev = v;
        i = j;
    }
    if (st == CLIMZ_OK) st = ent_aenc_finish(e, out);
    ent_aenc_free(e);
    return st;
}

static climz_status runs_decode(const uint8_t *in, size_t size, uint8_t *m, size_t n,
                                unsigned used, int first) {
    ent_adec *d;
    climz_status st = ent_adec_create(&d, RUN_NCTX, in, size);
    CZ_RETURN_IF(st == CLIMZ_ERR_ALLOC, st, "out of memory");
    CZ_RETURN_IF(st != CLIMZ_OK, CLIMZ_ERR_CORRUPT, "mask: bad run-length stream");
    int const alternate = popcount16(used) == 2;
    int other = -1; /* with two values: the one that is not `first` */
    for (int k = 0; k <= CZ_MAX_SPECIALS; k++)
        if ((used >> k & 1) && k != first) other = k;
    uint64_t prev_len[2] = {0, 0};
    size_t i = 0;
    int v = first, prev = -1;
    while (i < n) {
        if (prev >= 0) {
            if (alternate) {
                v = prev == first ? other : first;
            } else {
                int32_t x;
                CZ_CHECK_GOTO(st, ent_adec_get(d, RUN_CTX_VALUE + prev, &x), bad);
                if (x < 0 || x > CZ_MAX_SPECIALS || x == prev || !(used >> x & 1))
                    CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "mask: bad run value %d", (int)x);
                v = x;
            }
        }
        int const cls = v != 0;
        int const ctx = cls * RUN_LEN_BUCKETS + (int)run_bucket(prev_len[cls]);
        uint64_t len = 1;
        for (;;) {
            int32_t piece;
            CZ_CHECK_GOTO(st, ent_adec_get(d, ctx, &piece), bad);
            if (piece < 0 || piece > RUN_PIECE || (uint64_t)piece > (n - i) - len)
                CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_CORRUPT, "mask: run overruns the %zu points", n);
            len += (uint64_t)piece;
            if (piece < RUN_PIECE) break;
        }
        memset(m + i, v, (size_t)len);
        i += (size_t)len;
        prev_len[cls] = len;
        prev = v;
    }
    CZ_CHECK_GOTO(st, ent_adec_finish(d), bad);
    ent_adec_free(d);
    return CLIMZ_OK;
bad:
    if (st != CLIMZ_ERR_ALLOC) st = cz_error_prefix(CLIMZ_ERR_CORRUPT, "mask");
fail:
    ent_adec_free(d);
    return st;
}

/* ---- ROWS and G4: each row's transitions against the row above (fax G4 / T.6 READ) ------
 * The binary layer "missing or not" is coded row by row. A row is described by its
 * changing elements (positions where the colour differs from the point before; colour 0
 * before the row start), each coded against the reference row (the one above; all valid
 * for the first row) in one of three modes, as ITU-T T.6 does:
 *   a0: current position (-1 at row start) of colour c; a1, a2: the next two changing
 *   elements of the row after a0; b1: the first changing element of the reference row
 *   after a0 that changes to !c; b2: the one after it (nx when absent).
 *   PASS       if b2 < a1                  a0 = b2
 *   V(a1-b1)   else if |a1 - b1| <= 3      a0 = a1, c = !c
 *   H          else: runs a1-max(a0,0), a2-a1    a0 = a2
 * A land mask costs about one V0 per coastline crossing. When the map uses more than one
 * special, the value of every missing point follows in raster order.
 * Two coders share this walk: ROWS codes modes (V: -3..3, H: 4, PASS: -4), runs and
 * values with the adaptive rANS coder (best on big maps); G4 writes them with T.6's fixed
 * prefix codes and Elias-gamma runs, which has no model to learn and no coder state to
 * flush (best on the small maps of one time step). */

#define ROWS_H 4
#define ROWS_PASS (-4)
#define ROWS_CTX_MODE 0
#define ROWS_CTX_RUN 1
#define ROWS_CTX_VALUE 2 /* 16: previous special */
#define ROWS_NCTX (ROWS_CTX_VALUE + CZ_MAX_SPECIALS + 1)

/* LSB-first bit writer / bounds-checked reader for G4 */
typedef struct bitw {
    cz_buf *out;
    uint64_t acc;
    unsigned n;
} bitw;

static climz_status bw_put(bitw *w, uint32_t v, unsigned nb) { /* nb <= 32 */
    w->acc |= (uint64_t)v << w->n;
    w->n += nb;
    while (w->n >= 8) {
        CZ_FORWARD(cz_buf_put_u8(w->out, (uint8_t)w->acc));
        w->acc >>= 8;
        w->n -= 8;
    }
    return CLIMZ_OK;
}

/* Elias gamma of v >= 1: bit_len(v) - 1 zeros, then v's bits from the top (the leading 1
 * ends the zeros) */
static climz_status bw_gamma(bitw *w, uint64_t v) {
    unsigned const nb = bit_len(v);
    CZ_FORWARD(bw_put(w, 0, nb - 1 > 32 ? 32 : nb - 1));
    if (nb - 1 > 32) CZ_FORWARD(bw_put(w, 0, nb - 1 - 32));
    for (unsigned k = nb; k-- > 0;) CZ_FORWARD(bw_put(w, (uint32_t)(v >> k) & 1, 1));
    return CLIMZ_OK;
}

static climz_status bw_flush(bitw *w) { /* zero padding to a byte */
    return w->n ? bw_put(w, 0, 8 - w->n) : CLIMZ_OK;
}

typedef struct bitr {
    const uint8_t *p, *end;
    uint64_t acc;
    unsigned n;
} bitr;

static climz_status br_bit(bitr *r, unsigned *bit) {
    if (r->n == 0) {
        CZ_RETURN_IF(r->p == r->end, CLIMZ_ERR_CORRUPT, "mask: bit stream cut off");
        r->acc = *r->p++;
        r->n = 8;
    }
    *bit = (unsigned)(r->acc & 1);
    r->acc >>= 1;
    r->n--;
    return CLIMZ_OK;
}

static climz_status br_bits(bitr *r, unsigned nb, uint32_t *v) {
    uint32_t x = 0;
    for (unsigned k = 0; k < nb; k++) {
        unsigned b = 0;
        CZ_FORWARD(br_bit(r, &b));
        x |= (uint32_t)b << k;
    }
    *v = x;
    return CLIMZ_OK;
}

static climz_status br_gamma(bitr *r, uint64_t *v) {
    unsigned z = 0, b;
    for (;;) {
        CZ_FORWARD(br_bit(r, &b));
        if (b) break;
        CZ_RETURN_IF(++z > 63, CLIMZ_ERR_CORRUPT, "mask: Elias-gamma code too long");
    }
    uint64_t x = 1;
    for (unsigned k = 0; k < z; k++) {
        CZ_FORWARD(br_bit(r, &b));
        x = x << 1 | b;
    }
    *v = x;
    return CLIMZ_OK;
}

/* T.6 mode codes, written MSB first as in the recommendation: code bits and length per
 * mode value + 4 (PASS, VL3, VL2, VL1, V0, VR1, VR2, VR3, H) */
static const struct { uint8_t bits, len; } g4_code[9] = {
    {0x1, 4}, {0x02, 7}, {0x02, 6}, {0x2, 3}, {0x1, 1}, {0x3, 3}, {0x03, 6}, {0x03, 7}, {0x1, 3},
};

/* the coder behind the walk: adaptive rANS (ROWS) or bits (G4) */
typedef struct mcoder {
    ent_aenc *e;
    ent_adec *d;
    bitw w;
    bitr r;
} mcoder;

static climz_status put_mode(mcoder *c, int mode) {
    if (c->e) return ent_aenc_put(c->e, ROWS_CTX_MODE, mode);
    for (unsigned k = g4_code[mode + 4].len; k-- > 0;)
        CZ_FORWARD(bw_put(&c->w, (uint32_t)(g4_code[mode + 4].bits >> k) & 1, 1));
    return CLIMZ_OK;
}

static climz_status get_mode(mcoder *c, int *mode) {
    if (c->d) {
        int32_t v;
        CZ_FORWARD(ent_adec_get(c->d, ROWS_CTX_MODE, &v));
        CZ_RETURN_IF(v < ROWS_PASS || v > ROWS_H, CLIMZ_ERR_CORRUPT, "mask: bad row mode %d", (int)v);
        *mode = v;
        return CLIMZ_OK;
    }
    unsigned code = 0, len = 0, b;
    while (len < 7) { /* prefix-free: the first match is the mode */
        CZ_FORWARD(br_bit(&c->r, &b));
        code = code << 1 | b;
        len++;
        for (int m = 0; m < 9; m++)
            if (g4_code[m].len == len && g4_code[m].bits == code) {
                *mode = m - 4;
                return CLIMZ_OK;
            }
    }
    return cz_error(CLIMZ_ERR_CORRUPT, "mask: bad G4 mode code");
}

static climz_status put_run(mcoder *c, size_t r) { /* r <= nx < 2^31 */
    return c->e ? ent_aenc_put(c->e, ROWS_CTX_RUN, (int32_t)r) : bw_gamma(&c->w, (uint64_t)r + 1);
}

static climz_status get_run(mcoder *c, size_t max, size_t *r) {
    uint64_t v = 0;
    if (c->d) {
        int32_t x;
        CZ_FORWARD(ent_adec_get(c->d, ROWS_CTX_RUN, &x));
        CZ_RETURN_IF(x < 0, CLIMZ_ERR_CORRUPT, "mask: negative run");
        v = (uint64_t)x;
    } else {
        CZ_FORWARD(br_gamma(&c->r, &v));
        v--;
    }
    CZ_RETURN_IF(v > max, CLIMZ_ERR_CORRUPT, "mask: run past the row end");
    *r = (size_t)v;
    return CLIMZ_OK;
}

/* special values of the missing points, in raster order: adaptive in the context of the
 * previous one (ROWS), or runs of equal values, each 4 bits + Elias gamma length (G4) */
static climz_status put_values(mcoder *c, const uint8_t *m, size_t n) {
    int prev = 1;
    for (size_t i = 0; i < n; i++) {
        if (!m[i]) continue;
        if (c->e) {
            CZ_FORWARD(ent_aenc_put(c->e, ROWS_CTX_VALUE + prev, m[i]));
            prev = m[i];
            continue;
        }
        size_t j = i + 1, len = 1;
        for (; j < n; j++) {
            if (!m[j]) continue;
            if (m[j] != m[i]) break;
            len++;
        }
        CZ_FORWARD(bw_put(&c->w, m[i], 4));
        CZ_FORWARD(bw_gamma(&c->w, len));
        i = j - 1;
    }
    return CLIMZ_OK;
}

static climz_status get_values(mcoder *c, uint8_t *m, size_t n, unsigned used) {
    int prev = 1;
    size_t left = 0; /* G4: points left in the current run of value prev */
    for (size_t i = 0; i < n; i++) {
        if (!m[i]) continue;
        int32_t x;
        if (c->d) {
            CZ_FORWARD(ent_adec_get(c->d, ROWS_CTX_VALUE + prev, &x));
        } else if (left) {
            x = prev;
            left--;
        } else {
            uint32_t b;
            uint64_t len;
            CZ_FORWARD(br_bits(&c->r, 4, &b));
            CZ_FORWARD(br_gamma(&c->r, &len));
            CZ_RETURN_IF(len > n - i, CLIMZ_ERR_CORRUPT, "mask: value run past the map");
            x = (int32_t)b;
            left = (size_t)len - 1;
        }
        CZ_RETURN_IF(x < 1 || x > CZ_MAX_SPECIALS || !(used >> x & 1), CLIMZ_ERR_CORRUPT,
                     "mask: bad special %d", (int)x);
        m[i] = (uint8_t)x;
        prev = x;
    }
    /* G4: a run longer than the missing points left is corrupt */
    CZ_RETURN_IF(left, CLIMZ_ERR_CORRUPT, "mask: value run past the last missing point");
    return CLIMZ_OK;
}

/* changing elements of a binary row b[0..nx) into ch; returns their count */
static size_t row_changes(const uint8_t *b, size_t nx, size_t *ch) {
    size_t k = 0;
    uint8_t prev = 0;
    for (size_t x = 0; x < nx; x++) {
        uint8_t const v = b[x] != 0;
        if (v != prev) ch[k++] = x;
        prev = v;
    }
    return k;
}

/* b1, b2 of the reference changes R[0..nr): R[k] changes to colour 1 when k is even */
static void ref_b1b2(const size_t *R, size_t nr, size_t *kr, long a0, int c, size_t nx,
                     size_t *b1, size_t *b2) {
    size_t k = *kr; /* a0 only grows within a row */
    while (k < nr && (long)R[k] <= a0) k++;
    *kr = k;
    if (k < nr && (int)(k & 1) != c) k++;
    *b1 = k < nr ? R[k] : nx;
    *b2 = k + 1 < nr ? R[k + 1] : nx;
}

static climz_status rows_walk_encode(mcoder *cd, const uint8_t *m, size_t n, size_t nx,
                                     unsigned used) {
    size_t *R = cz_malloc((nx + 1) * sizeof *R), *C = cz_malloc((nx + 1) * sizeof *C);
    climz_status st = (R && C) ? CLIMZ_OK : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    size_t nr = 0;
    for (size_t row = 0; row < n / nx && st == CLIMZ_OK; row++) {
        size_t const nc = row_changes(m + row * nx, nx, C);
        long a0 = -1;
        int c = 0;
        size_t kr = 0, kc = 0;
        while (a0 < (long)nx && st == CLIMZ_OK) {
            size_t b1, b2;
            ref_b1b2(R, nr, &kr, a0, c, nx, &b1, &b2);
            while (kc < nc && (long)C[kc] <= a0) kc++;
            size_t const a1 = kc < nc ? C[kc] : nx, a2 = kc + 1 < nc ? C[kc + 1] : nx;
            long const dv = (long)a1 - (long)b1;
            if (b2 < a1) {
                st = put_mode(cd, ROWS_PASS);
                a0 = (long)b2;
            } else if (dv >= -3 && dv <= 3) {
                st = put_mode(cd, (int)dv);
                a0 = (long)a1;
                c ^= 1;
            } else {
                size_t const start = a0 < 0 ? 0 : (size_t)a0;
                st = put_mode(cd, ROWS_H);
                if (st == CLIMZ_OK) st = put_run(cd, a1 - start);
                if (st == CLIMZ_OK) st = put_run(cd, a2 - a1);
                a0 = (long)a2;
            }
        }
        memcpy(R, C, nc * sizeof *C);
        nr = nc;
    }
    if (st == CLIMZ_OK && popcount16(used & ~1u) > 1) st = put_values(cd, m, n);
    free(R);
    free(C);
    return st;
}

static climz_status rows_walk_decode(mcoder *cd, uint8_t *m, size_t n, size_t nx, unsigned used) {
    size_t *R = cz_malloc((nx + 1) * sizeof *R);
    CZ_RETURN_IF(!R, CLIMZ_ERR_ALLOC, "out of memory");
    climz_status st = CLIMZ_OK;
    size_t nr = 0;
    for (size_t row = 0; row < n / nx; row++) {
        uint8_t *b = m + row * nx;
        long a0 = -1;
        int c = 0;
        size_t kr = 0;
        while (a0 < (long)nx) {
            size_t b1, b2, start = a0 < 0 ? 0 : (size_t)a0;
            ref_b1b2(R, nr, &kr, a0, c, nx, &b1, &b2);
            int mode = 0;
            CZ_CHECK_GOTO(st, get_mode(cd, &mode), out);
            if (mode == ROWS_PASS) {
                if (b2 >= nx) CZ_FAIL_GOTO(st, out, CLIMZ_ERR_CORRUPT, "mask: pass past the row end");
                memset(b + start, c, b2 - start);
                a0 = (long)b2;
            } else if (mode != ROWS_H) {
                long const a1 = (long)b1 + mode;
                if (a1 <= a0 || a1 > (long)nx)
                    CZ_FAIL_GOTO(st, out, CLIMZ_ERR_CORRUPT, "mask: change outside the row");
                memset(b + start, c, (size_t)a1 - start);
                a0 = a1;
                c ^= 1;
            } else {
                size_t r1, r2;
                CZ_CHECK_GOTO(st, get_run(cd, nx - start, &r1), out);
                CZ_CHECK_GOTO(st, get_run(cd, nx - start - r1, &r2), out);
                size_t const a1 = start + r1, a2 = a1 + r2;
                /* as the encoder makes them: a1 > a0, and a2 > a1 unless the row ended */
                if ((long)a1 <= a0 || (a2 == a1 && a2 != nx))
                    CZ_FAIL_GOTO(st, out, CLIMZ_ERR_CORRUPT, "mask: empty run");
                memset(b + start, c, a1 - start);
                memset(b + a1, !c, a2 - a1);
                a0 = (long)a2;
            }
        }
        nr = row_changes(b, nx, R);
    }
    if (popcount16(used & ~1u) > 1) {
        CZ_CHECK_GOTO(st, get_values(cd, m, n, used), out);
    } else {
        int single = 0; /* the one special */
        for (int k = 1; k <= CZ_MAX_SPECIALS; k++)
            if (used >> k & 1) single = k;
        for (size_t i = 0; i < n; i++) {
            if (!m[i]) continue;
            if (!single) CZ_FAIL_GOTO(st, out, CLIMZ_ERR_CORRUPT, "mask: a missing point in a map without specials");
            m[i] = (uint8_t)single;
        }
    }
out:
    free(R);
    return st;
}

static climz_status rows_encode(const uint8_t *m, size_t n, size_t nx, unsigned used, int g4,
                                cz_buf *out) {
    mcoder cd = {0};
    climz_status st;
    if (g4) {
        cd.w.out = out;
        st = rows_walk_encode(&cd, m, n, nx, used);
        if (st == CLIMZ_OK) st = bw_flush(&cd.w);
        return st;
    }
    CZ_FORWARD(ent_aenc_create(&cd.e, ROWS_NCTX));
    st = rows_walk_encode(&cd, m, n, nx, used);
    if (st == CLIMZ_OK) st = ent_aenc_finish(cd.e, out);
    ent_aenc_free(cd.e);
    return st;
}

static climz_status rows_decode(const uint8_t *in, size_t size, uint8_t *m, size_t n, size_t nx,
                                unsigned used, int g4) {
    mcoder cd = {0};
    climz_status st;
    if (g4) {
        cd.r.p = in;
        cd.r.end = in + size;
        st = rows_walk_decode(&cd, m, n, nx, used);
        /* the stream ends in this byte, padded with zeros */
        if (st == CLIMZ_OK && (cd.r.p != cd.r.end || cd.r.acc != 0))
            st = cz_error(CLIMZ_ERR_CORRUPT, "mask: bytes or bits after the G4 stream");
        return st;
    }
    st = ent_adec_create(&cd.d, ROWS_NCTX, in, size);
    CZ_RETURN_IF(st == CLIMZ_ERR_ALLOC, st, "out of memory");
    CZ_RETURN_IF(st != CLIMZ_OK, CLIMZ_ERR_CORRUPT, "mask: bad row stream");
    st = rows_walk_decode(&cd, m, n, nx, used);
    if (st == CLIMZ_OK) st = ent_adec_finish(cd.d);
    ent_adec_free(cd.d);
    if (st != CLIMZ_OK && st != CLIMZ_ERR_ALLOC && st != CLIMZ_ERR_CORRUPT)
        st = cz_error_prefix(CLIMZ_ERR_CORRUPT, "mask");
    return st;
}

/* ---- the encoder: try each method, keep the smallest ----------------------------------- */

static climz_status header(cz_buf *b, int method, size_t n) {
    CZ_FORWARD(cz_buf_put_u8(b, (uint8_t)method));
    return put_varint(b, n);
}

/* the row methods need whole rows of a bounded length (the decoder allocates per row) */
static int rows_ok(size_t n, size_t nx) {
    return nx >= 2 && nx < n && nx <= CLZ_MASK_MAX_ROW && n % nx == 0;
}

/* replaces best with cand when cand is smaller (frees the loser) */
static void keep_smaller(cz_buf *best, cz_buf *cand) {
    if (cand->size && (best->size == 0 || cand->size < best->size)) {
        cz_buf const t = *best;
        *best = *cand;
        *cand = t;
    }
    cz_buf_free(cand);
}

/* value set of the map (bit k: value k occurs) */
static climz_status scan(const uint8_t *miss, size_t n, unsigned *used) {
    CZ_RETURN_IF(n && !miss, CLIMZ_ERR_INVALID_ARG, "mask is NULL");
    unsigned u = 0;
    for (size_t i = 0; i < n; i++) {
        CZ_RETURN_IF(miss[i] > CZ_MAX_SPECIALS, CLIMZ_ERR_INVALID_ARG,
                     "mask value %u at point %zu exceeds %d", (unsigned)miss[i], i, CZ_MAX_SPECIALS);
        u |= 1u << miss[i];
    }
    *used = u;
    return CLIMZ_OK;
}

/* one method's complete stream appended to out; used from scan() */
static climz_status encode_with(const uint8_t *miss, size_t n, size_t nx, unsigned used,
                                int method, cz_buf *out) {
    switch (method) {
    case CLZ_MASK_CONST:
        CZ_RETURN_IF(popcount16(used) > 1, CLIMZ_ERR_INVALID_ARG, "mask is not constant");
        CZ_FORWARD(header(out, CLZ_MASK_CONST, n));
        return cz_buf_put_u8(out, n ? miss[0] : 0);
    case CLZ_MASK_RUNS:
        CZ_RETURN_IF(popcount16(used) < 2, CLIMZ_ERR_INVALID_ARG, "constant mask: use const");
        CZ_FORWARD(header(out, CLZ_MASK_RUNS, n));
        CZ_FORWARD(cz_buf_put_u8(out, miss[0]));
        CZ_FORWARD(cz_buf_put_u16(out, (uint16_t)used));
        return runs_encode(miss, n, used, out);
    case CLZ_MASK_ROWS:
        CZ_RETURN_IF(popcount16(used) < 2 || !rows_ok(n, nx), CLIMZ_ERR_INVALID_ARG,
                     "rows needs a non-constant map of whole rows (nx %zu, n %zu)", nx, n);
        CZ_FORWARD(header(out, CLZ_MASK_ROWS, n));
        CZ_FORWARD(put_varint(out, nx));
        CZ_FORWARD(cz_buf_put_u16(out, (uint16_t)used));
        return rows_encode(miss, n, nx, used, 0, out);
    case CLZ_MASK_G4:
        CZ_RETURN_IF(popcount16(used) < 2 || !rows_ok(n, nx), CLIMZ_ERR_INVALID_ARG,
                     "g4 needs a non-constant map of whole rows (nx %zu, n %zu)", nx, n);
        CZ_FORWARD(header(out, CLZ_MASK_G4, n));
        CZ_FORWARD(put_varint(out, nx));
        CZ_FORWARD(cz_buf_put_u16(out, (uint16_t)used));
        return rows_encode(miss, n, nx, used, 1, out);
    case CLZ_MASK_ZSTD: {
        /* its best levels are slow on big maps, which the other methods win anyway */
        int const level = n <= (1u << 18) ? 19 : 9;
        size_t const bound = ZSTD_compressBound(n);
        CZ_FORWARD(header(out, CLZ_MASK_ZSTD, n));
        CZ_FORWARD(cz_buf_reserve(out, bound));
        size_t const z = ZSTD_compress(out->data + out->size, bound, miss, n, level);
        CZ_RETURN_IF(ZSTD_isError(z), CLIMZ_ERR_GENERIC, "mask: zstd: %s", ZSTD_getErrorName(z));
        out->size += z;
        return CLIMZ_OK;
    }
    default:
        return cz_error(CLIMZ_ERR_INVALID_ARG, "unknown mask method %d", method);
    }
}

climz_status clz_mask_encode_method(const uint8_t *miss, size_t n, size_t nx, int method,
                                    cz_buf *out) {
    unsigned used;
    CZ_FORWARD(scan(miss, n, &used));
    return encode_with(miss, n, nx, used, method, out);
}

climz_status clz_mask_encode_rows(const uint8_t *miss, size_t n, size_t nx, cz_buf *out) {
    unsigned used;
    CZ_FORWARD(scan(miss, n, &used));
    if (popcount16(used) <= 1) /* all valid or all missing: 3 bytes for a small map */
        return encode_with(miss, n, nx, used, CLZ_MASK_CONST, out);
    /* the adaptive methods first; zstd as the fallback for maps with neither long runs nor
     * 2-D structure */
    static const int methods[] = {CLZ_MASK_RUNS, CLZ_MASK_G4, CLZ_MASK_ROWS, CLZ_MASK_ZSTD};
    cz_buf best = {0}, cand = {0};
    climz_status st = CLIMZ_OK;
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
        if ((methods[k] == CLZ_MASK_ROWS || methods[k] == CLZ_MASK_G4) && !rows_ok(n, nx)) continue;
        CZ_CHECK_GOTO(st, encode_with(miss, n, nx, used, methods[k], &cand), fail);
        keep_smaller(&best, &cand);
    }
    st = cz_buf_put(out, best.data, best.size);
fail:
    cz_buf_free(&cand);
    cz_buf_free(&best);
    return st;
}

climz_status clz_mask_encode(const uint8_t *miss, size_t n, cz_buf *out) {
    return clz_mask_encode_rows(miss, n, 0, out);
}

/* ---- the decoder ------------------------------------------------------------------------ */

climz_status clz_mask_info(const uint8_t *in, size_t size, int *method, size_t *n) {
    cz_rd r = cz_rd_make(in, size);
    uint8_t m;
    uint64_t v;
    CZ_RETURN_IF(cz_rd_u8(&r, &m) != CLIMZ_OK, CLIMZ_ERR_CORRUPT, "mask: empty stream");
    CZ_RETURN_IF(m > CLZ_MASK_G4, CLIMZ_ERR_CORRUPT, "mask: unknown method %u", (unsigned)m);
    CZ_FORWARD(get_varint(&r, &v));
    CZ_RETURN_IF(v > SIZE_MAX, CLIMZ_ERR_CORRUPT, "mask: %llu points", (unsigned long long)v);
    *method = m;
    *n = (size_t)v;
    return CLIMZ_OK;
}

static climz_status check_used(unsigned used, size_t n) {
    CZ_RETURN_IF(used >> (CZ_MAX_SPECIALS + 1), CLIMZ_ERR_CORRUPT, "mask: value set 0x%04x",
                 used);
    CZ_RETURN_IF(popcount16(used) < 2 || n < 2, CLIMZ_ERR_CORRUPT,
                 "mask: value set 0x%04x for %zu points", used, n);
    return CLIMZ_OK;
}

climz_status clz_mask_decode(const uint8_t *in, size_t size, uint8_t *miss, size_t n) {
    int method;
    size_t count;
    CZ_FORWARD(clz_mask_info(in, size, &method, &count));
    CZ_RETURN_IF(count != n, CLIMZ_ERR_CORRUPT, "mask: stream holds %zu points, %zu expected",
                 count, n);
    cz_rd r = cz_rd_make(in, size);
    uint64_t skip;
    (void)cz_rd_skip(&r, 1, NULL);
    CZ_FORWARD(get_varint(&r, &skip));
    if (method == CLZ_MASK_CONST) {
        uint8_t v;
        CZ_RETURN_IF(cz_rd_u8(&r, &v) != CLIMZ_OK || cz_rd_left(&r) != 0 || v > CZ_MAX_SPECIALS,
                     CLIMZ_ERR_CORRUPT, "mask: bad constant map");
        if (n) memset(miss, v, n);
        return CLIMZ_OK;
    }
    if (method == CLZ_MASK_ZSTD) {
        unsigned long long const fs = ZSTD_getFrameContentSize(r.p, cz_rd_left(&r));
        CZ_RETURN_IF(fs != n, CLIMZ_ERR_CORRUPT, "mask: zstd frame of %llu bytes, %zu expected",
                     fs, n);
        size_t const got = ZSTD_decompress(miss, n, r.p, cz_rd_left(&r));
        CZ_RETURN_IF(ZSTD_isError(got) || got != n, CLIMZ_ERR_CORRUPT, "mask: zstd: %s",
                     ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
        for (size_t i = 0; i < n; i++)
            CZ_RETURN_IF(miss[i] > CZ_MAX_SPECIALS, CLIMZ_ERR_CORRUPT, "mask: value %u",
                         (unsigned)miss[i]);
        return CLIMZ_OK;
    }
    if (method == CLZ_MASK_RUNS) {
        uint8_t first;
        uint16_t used;
        CZ_RETURN_IF(cz_rd_u8(&r, &first) != CLIMZ_OK || cz_rd_u16(&r, &used) != CLIMZ_OK,
                     CLIMZ_ERR_CORRUPT, "mask: header cut off");
        CZ_FORWARD(check_used(used, n));
        CZ_RETURN_IF(first > CZ_MAX_SPECIALS || !(used >> first & 1), CLIMZ_ERR_CORRUPT,
                     "mask: first value %u not in the value set", (unsigned)first);
        return runs_decode(r.p, cz_rd_left(&r), miss, n, used, first);
    }
    /* CLZ_MASK_ROWS, CLZ_MASK_G4 */
    uint64_t nx;
    uint16_t used;
    CZ_FORWARD(get_varint(&r, &nx));
    CZ_RETURN_IF(cz_rd_u16(&r, &used) != CLIMZ_OK, CLIMZ_ERR_CORRUPT, "mask: header cut off");
    CZ_RETURN_IF(nx < 2 || nx >= n || nx > CLZ_MASK_MAX_ROW || n % nx, CLIMZ_ERR_CORRUPT,
                 "mask: row length %llu for %zu points",
                 (unsigned long long)nx, n);
    CZ_FORWARD(check_used(used, n));
    return rows_decode(r.p, cz_rd_left(&r), miss, n, (size_t)nx, used, method == CLZ_MASK_G4);
}
