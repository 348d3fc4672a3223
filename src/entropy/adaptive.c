/* adaptive.c — adaptive multi-symbol model + rANS for integer residuals (see adaptive.h). */
#include "entropy/adaptive.h"
#include "entropy/rans64.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define A_PREC 16u
#define A_M (1u << A_PREC)
#define A_CLASSES 32u /* magnitude classes k = 0..31 cover every zigzag value */
#define A_NSYM (ENT_A_DIRECT + A_CLASSES)
#ifndef A_INC /* (overridable only for tuning experiments: these define the format) */
#define A_INC 32u                /* count added per coded symbol */
#define A_LIMIT (1u << 18)       /* halve the counts when their total passes this */
#define A_FIRST_INTERVAL 2u      /* first rebuild after 2 symbols, then 4, 8, ... */
#define A_MAX_INTERVAL 512u      /* ... and then every 512 symbols */
#endif
#define A_BUCKET_SHIFT 4u        /* decoder lookup: 4096 buckets of 16 slots */
#define A_BUCKET_MIN 64u         /* decoder: buckets only for a table used this many times */

#if A_NSYM > 256
#error "bucket entries are uint8_t"
#endif
#if A_NSYM >= 128
#error "adec_search probes steps of 64 down to 1"
#endif

#if defined(__GNUC__)
#define A_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define A_NOINLINE __attribute__((noinline, cold))
#else
#define A_UNLIKELY(x) (x)
#define A_NOINLINE
#endif

/* One context's model: counts, and the coding table in force since the last rebuild. */
typedef struct ent_actx {
    uint32_t cum[A_NSYM + 1]; /* cum[A_NSYM] == 2^16 */
    uint32_t cnt[A_NSYM];
    uint32_t total;
    uint32_t left;     /* symbols until the next rebuild */
    uint32_t interval; /* current rebuild interval */
    uint32_t bucketed; /* decoder: bucket[] matches cum[] (else ent_adec_get searches cum) */
    uint8_t bucket[1u << (A_PREC - A_BUCKET_SHIFT)]; /* decoder: first symbol of each bucket */
} ent_actx;

static inline unsigned a_log2(uint32_t m) { /* floor(log2 m), m >= 1 */
#if defined(__GNUC__)
    return 31u - (unsigned)__builtin_clz(m);
#else
    unsigned k = 0;
    while (m >> (k + 1)) k++;
    return k;
#endif
}

static inline uint32_t a_zigzag(int32_t v) {
    uint32_t const uv = (uint32_t)v;
    return (uv << 1) ^ (0u - (uv >> 31));
}

static inline int32_t a_unzigzag(uint32_t u) {
    uint32_t const w = (u >> 1) ^ (0u - (u & 1));
    return w <= (uint32_t)INT32_MAX ? (int32_t)w : -(int32_t)(~w) - 1;
}

/* Counts -> frequencies: every symbol keeps 1 slot, the other 2^16 - A_NSYM are shared in
 * proportion to the counts (one division for the whole table), and the few left over by
 * the rounding go to the most frequent symbol. Integer-only. */
static void actx_rebuild(ent_actx *c, bool buckets) {
    uint64_t const mult = ((uint64_t)(A_M - A_NSYM) << 32) / c->total;
    uint32_t f[A_NSYM];
    uint32_t sum = 0, best = 0;
    for (uint32_t s = 0; s < A_NSYM; s++) {
        f[s] = 1 + (uint32_t)((c->cnt[s] * mult) >> 32);
        sum += f[s];
        if (c->cnt[s] > c->cnt[best]) best = s;
    }
    f[best] += A_M - sum;
    uint32_t acc = 0;
    for (uint32_t s = 0; s < A_NSYM; s++) {
        c->cum[s] = acc;
        acc += f[s];
    }
    c->cum[A_NSYM] = A_M;
    c->bucketed = buckets;
    if (buckets) {
        /* bucket b holds the owner of slot b * 16: the buckets whose first slot falls in
         * [cum[s], cum[s+1]) belong to s. Fine buckets keep the scan in ent_adec_get to
         * (almost always) zero steps, i.e. no mispredicted branch. */
        uint32_t const w = 1u << A_BUCKET_SHIFT;
        for (uint32_t s = 0; s < A_NSYM; s++) {
            uint32_t const b0 = (c->cum[s] + w - 1) >> A_BUCKET_SHIFT;
            uint32_t const b1 = (c->cum[s + 1] + w - 1) >> A_BUCKET_SHIFT;
            if (b1 > b0) memset(c->bucket + b0, (int)s, b1 - b0);
        }
    }
}

static void actx_init(ent_actx *c, bool decoder) {
    for (uint32_t s = 0; s < A_NSYM; s++) c->cnt[s] = 1;
    c->total = A_NSYM;
    c->interval = A_FIRST_INTERVAL;
    c->left = A_FIRST_INTERVAL;
    actx_rebuild(c, decoder && A_FIRST_INTERVAL >= A_BUCKET_MIN);
}

/* The rare part of an update, out of line so that the hot path stays small. */
static A_NOINLINE void actx_update_slow(ent_actx *c, bool decoder) {
    if (c->total > A_LIMIT) {
        uint32_t t = 0;
        for (uint32_t k = 0; k < A_NSYM; k++) {
            c->cnt[k] = (c->cnt[k] + 1) >> 1;
            t += c->cnt[k];
        }
        c->total = t;
    }
    if (c->left == 0) {
        if (c->interval < A_MAX_INTERVAL) c->interval *= 2;
        c->left = c->interval;
        /* filling the 4096 buckets costs about what 30 searches of cum[] do: the tables
         * that serve fewer than A_BUCKET_MIN symbols (the first 4 rebuilds of every context,
         * most of the rebuilds of a small chunk) are searched instead */
        actx_rebuild(c, decoder && c->interval >= A_BUCKET_MIN);
    }
}

static inline void actx_update(ent_actx *c, uint32_t s, bool decoder) {
    c->cnt[s] += A_INC;
    c->total += A_INC;
    c->left--;
    if (A_UNLIKELY(c->total > A_LIMIT || c->left == 0)) actx_update_slow(c, decoder);
}

/* ---- encoder ------------------------------------------------------------------------------- */

struct ent_aenc {
    int nctx;
    ent_actx *ctx;
    uint32_t *rec; /* per operation: start | (freq - 1) << 16, at scale 2^16 */
    size_t nrec, cap;
    size_t count;
};

static void aenc_reset(ent_aenc *e) {
    for (int i = 0; i < e->nctx; i++) actx_init(&e->ctx[i], false);
    e->nrec = 0;
    e->count = 0;
}

climz_status ent_aenc_create(ent_aenc **out, int nctx) {
    *out = NULL;
    CZ_RETURN_IF(nctx < 1 || nctx > ENT_A_MAX_CTX, CLIMZ_ERR_INVALID_ARG, "%d contexts", nctx);
    ent_aenc *e = cz_calloc(1, sizeof *e);
    CZ_RETURN_IF(!e, CLIMZ_ERR_ALLOC, "adaptive encoder");
    e->nctx = nctx;
    e->ctx = cz_malloc((size_t)nctx * sizeof *e->ctx);
    e->cap = 1024;
    e->rec = cz_malloc(e->cap * sizeof *e->rec);
    if (!e->ctx || !e->rec) {
        ent_aenc_free(e);
        return cz_error(CLIMZ_ERR_ALLOC, "adaptive encoder");
    }
    aenc_reset(e);
    *out = e;
    return CLIMZ_OK;
}

void ent_aenc_free(ent_aenc *e) {
    if (!e) return;
    free(e->ctx);
    free(e->rec);
    free(e);
}

size_t ent_aenc_count(const ent_aenc *e) { return e->count; }

static climz_status aenc_grow(ent_aenc *e) {
    CZ_RETURN_IF(e->cap > SIZE_MAX / 2 / sizeof *e->rec, CLIMZ_ERR_ALLOC, "too many symbols");
    uint32_t *r = cz_realloc(e->rec, 2 * e->cap * sizeof *r);
    CZ_RETURN_IF(!r, CLIMZ_ERR_ALLOC, "adaptive encoder records");
    e->rec = r;
    e->cap *= 2;
    return CLIMZ_OK;
}

climz_status ent_aenc_put(ent_aenc *e, int ctx, int32_t v) {
    CZ_RETURN_IF((unsigned)ctx >= (unsigned)e->nctx, CLIMZ_ERR_INVALID_ARG, "context %d of %d", ctx, e->nctx);
    if (e->cap - e->nrec < 3) CZ_FORWARD(aenc_grow(e));
    ent_actx *const c = &e->ctx[ctx];
    uint32_t const u = a_zigzag(v);
    uint32_t s, k = 0, bits = 0;
    if (u < ENT_A_DIRECT) {
        s = u;
    } else {
        uint32_t const m = u - ENT_A_DIRECT + 1; /* >= 1, <= 2^32 - ENT_A_DIRECT */
        k = a_log2(m);
        bits = m - (1u << k);
        s = ENT_A_DIRECT + k;
    }
    uint32_t const start = c->cum[s], freq = c->cum[s + 1] - start;
    uint32_t *const r = e->rec + e->nrec;
    r[0] = start | (freq - 1) << 16;
    size_t n = 1;
    /* raw bits as symbols of frequency 2^(16-nb) at scale 2^16: low chunk first */
    if (k > 16) {
        r[n++] = (bits & 0xffffu) | 0u << 16;
        bits >>= 16;
        k -= 16;
        r[n++] = (bits << (16 - k)) | ((1u << (16 - k)) - 1) << 16;
    } else if (k > 0) {
        r[n++] = (bits << (16 - k)) | ((1u << (16 - k)) - 1) << 16;
    }
    e->nrec += n;
    e->count++;
    actx_update(c, s, false);
    return CLIMZ_OK;
}

climz_status ent_aenc_put_bit(ent_aenc *e, uint32_t p1, int bit) {
    CZ_RETURN_IF(p1 < 1 || p1 >= A_M, CLIMZ_ERR_INVALID_ARG, "bit probability %u of 2^16", p1);
    if (e->cap - e->nrec < 1) CZ_FORWARD(aenc_grow(e));
    /* a 1 takes [0, p1), a 0 takes [p1, 2^16) */
    e->rec[e->nrec++] = bit ? (p1 - 1) << 16 : p1 | (A_M - p1 - 1) << 16;
    e->count++;
    return CLIMZ_OK;
}

climz_status ent_aenc_finish(ent_aenc *e, cz_buf *out) {
    size_t const nrec = e->nrec;
    if (nrec > (SIZE_MAX - 64) / 4) {
        aenc_reset(e);
        return cz_error(CLIMZ_ERR_ALLOC, "stream too large");
    }
    size_t const bound = RANS_ENC_BOUND(nrec, 2);
    climz_status const st = cz_buf_reserve(out, bound);
    if (st != CLIMZ_OK) {
        aenc_reset(e);
        return st;
    }
    uint8_t *const end = out->data + out->size + bound;
    uint8_t *p = end;
    rans_state s0, s1; /* operation j uses state j % 2 */
    rans_enc_init(&s0);
    rans_enc_init(&s1);
    const uint32_t *const rec = e->rec;
    size_t j = nrec;
    if (j & 1) {
        j--;
        rans_enc_put(&s0, &p, rec[j] & 0xffff, (rec[j] >> 16) + 1, A_PREC);
    }
    while (j > 0) {
        j -= 2;
        rans_enc_put(&s1, &p, rec[j + 1] & 0xffff, (rec[j + 1] >> 16) + 1, A_PREC);
        rans_enc_put(&s0, &p, rec[j] & 0xffff, (rec[j] >> 16) + 1, A_PREC);
    }
    rans_enc_flush(&s1, &p);
    rans_enc_flush(&s0, &p);
    size_t const len = (size_t)(end - p);
    memmove(out->data + out->size, p, len);
    out->size += len;
    aenc_reset(e);
    return CLIMZ_OK;
}

double ent_aenc_cost_bytes(const ent_aenc *e) {
    double bits = 0;
    for (size_t j = 0; j < e->nrec; j++) bits += 16.0 - log2((double)((e->rec[j] >> 16) + 1));
    return bits / 8 + 16;
}

/* ---- decoder ------------------------------------------------------------------------------- */

struct ent_adec {
    rans_state x[2]; /* operation j uses x[j & 1]; jx = j & 1 of the next one */
    unsigned jx;
    const uint8_t *p, *end;
    ent_actx *ctx;
    int nctx;
    climz_status failed; /* sticky error */
    uint8_t zero[4];     /* read instead of the stream once fewer than 4 bytes remain */
};

climz_status ent_adec_create(ent_adec **out, int nctx, const uint8_t *in, size_t size) {
    *out = NULL;
    CZ_RETURN_IF(nctx < 1 || nctx > ENT_A_MAX_CTX, CLIMZ_ERR_INVALID_ARG, "%d contexts", nctx);
    ent_adec *d = cz_calloc(1, sizeof *d);
    CZ_RETURN_IF(!d, CLIMZ_ERR_ALLOC, "adaptive decoder");
    d->nctx = nctx;
    d->p = in;
    d->end = in + size;
    climz_status st = rans_dec_init(&d->x[0], &d->p, d->end);
    if (st == CLIMZ_OK) st = rans_dec_init(&d->x[1], &d->p, d->end);
    if (st == CLIMZ_OK) {
        d->ctx = cz_malloc((size_t)nctx * sizeof *d->ctx);
        if (!d->ctx) st = cz_error(CLIMZ_ERR_ALLOC, "adaptive decoder contexts");
    }
    if (st != CLIMZ_OK) {
        ent_adec_free(d);
        return st;
    }
    for (int i = 0; i < nctx; i++) actx_init(&d->ctx[i], true);
    *out = d;
    return CLIMZ_OK;
}

void ent_adec_free(ent_adec *d) {
    if (!d) return;
    free(d->ctx);
    free(d);
}

/* Remove an operation [start, start+freq) from the current state and switch states. */
static A_NOINLINE climz_status adec_truncated(ent_adec *d) {
    return d->failed = cz_error(CLIMZ_ERR_TRUNCATED, "adaptive stream ends early");
}

/* Renormalisation without a data-dependent branch (whether a word is needed is random,
 * so a branch would be mispredicted often): the word is always loaded, from the stream
 * or, once fewer than 4 bytes remain, from zero[]; the only branch left is the
 * predictable end-of-stream test. */
static inline climz_status adec_advance(ent_adec *d, uint32_t slot, uint32_t start, uint32_t freq) {
    uint64_t x = d->x[d->jx];
    x = freq * (x >> A_PREC) + slot - start;
    unsigned const need = x < RANS_L;
    bool const have = d->end - d->p >= 4;
    if (A_UNLIKELY(need && !have)) return adec_truncated(d);
    const uint8_t *const src = have ? d->p : d->zero;
    uint64_t const w = cz_load_le32(src) & (0ull - need);
    x = (x << (need * 32)) | w;
    d->p += need * 4;
    /* one store per operation: the other state's chain never waits on this one */
    d->x[d->jx] = x;
    d->jx ^= 1;
    return CLIMZ_OK;
}

/* nb (1..16) raw bits, stored as a symbol of frequency 2^(16-nb) */
static inline climz_status adec_raw(ent_adec *d, unsigned nb, uint32_t *bits) {
    uint32_t const slot = (uint32_t)(d->x[d->jx] & (A_M - 1));
    uint32_t const f = 1u << (A_PREC - nb);
    uint32_t const start = slot & ~(f - 1);
    *bits = start >> (A_PREC - nb);
    return adec_advance(d, slot, start, f);
}

static climz_status adec_class(ent_adec *d, unsigned k, int32_t *v);

/* The s with cum[s] <= slot < cum[s + 1], by a branch-free binary search (cum[0] = 0,
 * cum[A_NSYM] = 2^16 > slot, so s stays below A_NSYM and every probe inside cum[]). */
static inline uint32_t adec_search(const uint32_t *cum, uint32_t slot) {
    uint32_t s = 0;
    for (uint32_t step = 64; step > 0; step >>= 1) {
        uint32_t const t = s + step;
        s = t <= A_NSYM && cum[t] <= slot ? t : s;
    }
    return s;
}

climz_status ent_adec_get(ent_adec *d, int ctx, int32_t *v) {
    if (d->failed) return d->failed;
    CZ_RETURN_IF((unsigned)ctx >= (unsigned)d->nctx, CLIMZ_ERR_INVALID_ARG, "context %d of %d", ctx, d->nctx);
    ent_actx *const c = &d->ctx[ctx];
    uint32_t const slot = (uint32_t)(d->x[d->jx] & (A_M - 1));
    uint32_t s;
    if (c->bucketed) {
        s = c->bucket[slot >> A_BUCKET_SHIFT];
        while (c->cum[s + 1] <= slot) s++;
    } else {
        s = adec_search(c->cum, slot);
    }
    uint32_t const start = c->cum[s];
    CZ_FORWARD(adec_advance(d, slot, start, c->cum[s + 1] - start));
    actx_update(c, s, true);
    if (A_UNLIKELY(s >= ENT_A_DIRECT)) return adec_class(d, s - ENT_A_DIRECT, v);
    *v = a_unzigzag(s);
    return CLIMZ_OK;
}

/* The raw bits after magnitude class k. */
static A_NOINLINE climz_status adec_class(ent_adec *d, unsigned k, int32_t *v) {
    uint32_t bits = 0, hi = 0;
    if (k > 16) {
        CZ_FORWARD(adec_raw(d, 16, &bits));
        CZ_FORWARD(adec_raw(d, k - 16, &hi));
        bits |= hi << 16;
    } else if (k > 0) {
        CZ_FORWARD(adec_raw(d, k, &bits));
    }
    /* u = m + ENT_A_DIRECT - 1 with m = 2^k + bits <= 2^32 - 1; a corrupt stream can
     * exceed 2^32 - ENT_A_DIRECT: reject rather than wrap */
    uint32_t const m = (1u << k) + bits;
    if (m > UINT32_MAX - ENT_A_DIRECT + 1)
        return d->failed = cz_error(CLIMZ_ERR_CORRUPT, "adaptive stream: value out of range");
    *v = a_unzigzag(m + ENT_A_DIRECT - 1);
    return CLIMZ_OK;
}

climz_status ent_adec_get_bit(ent_adec *d, uint32_t p1, int *bit) {
    if (d->failed) return d->failed;
    CZ_RETURN_IF(p1 < 1 || p1 >= A_M, CLIMZ_ERR_INVALID_ARG, "bit probability %u of 2^16", p1);
    uint32_t const slot = (uint32_t)(d->x[d->jx] & (A_M - 1));
    int const b = slot < p1;
    *bit = b;
    return b ? adec_advance(d, slot, 0, p1) : adec_advance(d, slot, p1, A_M - p1);
}

climz_status ent_adec_finish(const ent_adec *d) {
    if (d->failed) return d->failed;
    CZ_FORWARD(rans_dec_done(d->x[0], d->p, d->end));
    return rans_dec_done(d->x[1], d->p, d->end);
}
