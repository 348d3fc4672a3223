/* test_entropy_adaptive.c — adaptive residual model: 1e6 Laplacian round trip with 4
 * contexts and its size against the empirical entropy, extreme values, reuse, golden
 * stream, robustness against truncation and damage. */
#include "entropy/adaptive.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static double laplace(unsigned long long *s, double b) {
    double const u = tu_rand_uniform(s) - 0.5;
    return u < 0 ? b * log(1 + 2 * u) : -b * log(1 - 2 * u);
}

/* Encode v[0..n) with contexts ctx[], append to out. */
static void encode(const int32_t *v, const uint8_t *ctx, size_t n, int nctx, cz_buf *out) {
    ent_aenc *e = NULL;
    CHECK_OK(ent_aenc_create(&e, nctx));
    if (!e) return;
    climz_status st = CLIMZ_OK;
    for (size_t i = 0; i < n && st == CLIMZ_OK; i++) st = ent_aenc_put(e, ctx[i], v[i]);
    CHECK_OK(st);
    CHECK(ent_aenc_count(e) == n);
    CHECK_OK(ent_aenc_finish(e, out));
    ent_aenc_free(e);
}

/* Decode n values; returns the first error (or the finish check). */
static climz_status decode(const uint8_t *in, size_t size, const uint8_t *ctx, size_t n, int nctx,
                           int32_t *w) {
    ent_adec *d = NULL;
    climz_status st = ent_adec_create(&d, nctx, in, size);
    for (size_t i = 0; i < n && st == CLIMZ_OK; i++) st = ent_adec_get(d, ctx[i], &w[i]);
    if (st == CLIMZ_OK) st = ent_adec_finish(d);
    ent_adec_free(d);
    return st;
}

static void test_laplace_1e6(void) {
    enum { N = 1000000 };
    static const double b[4] = {0.3, 1.0, 3.0, 12.0};
    int32_t *v = malloc(N * sizeof *v), *w = malloc(N * sizeof *w);
    uint8_t *ctx = malloc(N);
    unsigned long long seed = 1234;
    enum { R = 4096 };
    uint32_t *hist = calloc(4 * (2 * R + 1), sizeof *hist);
    size_t cnt[4] = {0};
    for (size_t i = 0; i < N; i++) {
        ctx[i] = (uint8_t)(tu_rand_u64(&seed) % 4);
        v[i] = (int32_t)lrint(laplace(&seed, b[ctx[i]]));
        int const k = v[i] < -R ? 0 : v[i] > R ? 2 * R : v[i] + R;
        hist[ctx[i] * (2 * R + 1) + k]++;
        cnt[ctx[i]]++;
    }
    double H = 0;
    for (int c = 0; c < 4; c++)
        for (int k = 0; k <= 2 * R; k++) {
            uint32_t const h = hist[c * (2 * R + 1) + k];
            if (h) H -= h * log2((double)h / (double)cnt[c]);
        }
    cz_buf out = {0};
    double const t0 = cz_now();
    encode(v, ctx, N, 4, &out);
    double const t1 = cz_now();
    CHECK_OK(decode(out.data, out.size, ctx, N, 4, w));
    double const t2 = cz_now();
    CHECK(memcmp(v, w, N * sizeof *v) == 0);
    printf("laplace 1e6: %zu bytes, empirical entropy %.0f bytes (+%.2f%%), enc %.0f / dec %.0f Msym/s\n",
           out.size, H / 8, 100 * (out.size * 8 / H - 1), N / (t1 - t0) / 1e6, N / (t2 - t1) / 1e6);
    CHECK(out.size * 8.0 < H * 1.01);  /* within 1 % of the empirical conditional entropy */
    CHECK(out.size * 8.0 > H * 0.995); /* and no better than it can be */
    /* the same stream twice (determinism) */
    cz_buf again = {0};
    encode(v, ctx, N, 4, &again);
    CHECK(again.size == out.size && memcmp(again.data, out.data, out.size) == 0);
    /* a single context for everything costs more: contexts matter */
    uint8_t *zero = calloc(N, 1);
    cz_buf one = {0};
    encode(v, zero, N, 1, &one);
    CHECK(one.size > out.size * 1.1);
    cz_buf_free(&out);
    cz_buf_free(&again);
    cz_buf_free(&one);
    free(zero);
    free(v);
    free(w);
    free(ctx);
    free(hist);
}

static void test_edges(void) {
    /* empty: just the two states */
    cz_buf out = {0};
    uint8_t c0[1] = {0};
    int32_t w[64];
    encode(NULL, c0, 0, 3, &out);
    CHECK(out.size == 16);
    CHECK_OK(decode(out.data, out.size, c0, 0, 3, w));
    /* a single value, and extreme ones, in several contexts */
    int32_t const x[16] = {0, INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1, -1, 1, 31, -32, 32,
                           -33, 63, 64, 65535, -65536, 1 << 30};
    uint8_t cx[16];
    for (int i = 0; i < 16; i++) cx[i] = (uint8_t)(i % 3);
    for (size_t n = 1; n <= 16; n++) {
        out.size = 0;
        encode(x, cx, n, 3, &out);
        memset(w, 0x55, sizeof w);
        CHECK_OK(decode(out.data, out.size, cx, n, 3, w));
        CHECK(memcmp(x, w, n * sizeof *x) == 0);
    }
    /* every int32 magnitude class, both signs */
    int32_t big[66];
    uint8_t bc[66] = {0};
    for (int k = 0; k < 32; k++) {
        big[2 * k] = (int32_t)((1u << k) - 1 + (k > 3 ? 3 : 0));
        big[2 * k + 1] = -big[2 * k] - 1;
    }
    big[64] = INT32_MAX;
    big[65] = INT32_MIN;
    out.size = 0;
    encode(big, bc, 66, 1, &out);
    int32_t wb[66];
    CHECK_OK(decode(out.data, out.size, bc, 66, 1, wb));
    CHECK(memcmp(big, wb, sizeof big) == 0);
    /* all-escape data: uniformly random int32 */
    enum { NR = 50000 };
    static int32_t r[NR], rw[NR];
    static uint8_t rc[NR];
    unsigned long long seed = 8;
    for (int i = 0; i < NR; i++) {
        r[i] = (int32_t)(uint32_t)tu_rand_u64(&seed);
        rc[i] = (uint8_t)(i & 1);
    }
    out.size = 0;
    encode(r, rc, NR, 2, &out);
    CHECK_OK(decode(out.data, out.size, rc, NR, 2, rw));
    CHECK(memcmp(r, rw, sizeof r) == 0);
    CHECK(out.size < NR * 4.05); /* random 32-bit values: close to 32 bits each */
    /* reuse: finish resets the encoder to a fresh one; the cost estimate is close */
    ent_aenc *e = NULL;
    CHECK_OK(ent_aenc_create(&e, 2));
    for (int i = 0; i < NR; i++) CHECK_OK(ent_aenc_put(e, i & 1, r[i] / 1000));
    double const est = ent_aenc_cost_bytes(e);
    out.size = 0;
    CHECK_OK(ent_aenc_finish(e, &out));
    CHECK_MSG(fabs(est - (double)out.size) < 0.002 * out.size + 8, "estimate %.0f, size %zu", est, out.size);
    cz_buf s1 = {0}, s2 = {0};
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < 1000; i++) CHECK_OK(ent_aenc_put(e, i & 1, r[i] % 7));
        CHECK_OK(ent_aenc_finish(e, rep ? &s2 : &s1));
    }
    CHECK(s1.size == s2.size && memcmp(s1.data, s2.data, s1.size) == 0);
    CHECK(ent_aenc_count(e) == 0);
    CHECK_STATUS(ent_aenc_put(e, 2, 0), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_aenc_put(e, -1, 0), CLIMZ_ERR_INVALID_ARG);
    ent_aenc_free(e);
    ent_aenc_free(NULL);
    ent_adec_free(NULL);
    CHECK_STATUS(ent_aenc_create(&e, 0), CLIMZ_ERR_INVALID_ARG);
    ent_adec *d = NULL;
    CHECK_STATUS(ent_adec_create(&d, 1, s1.data, 15), CLIMZ_ERR_TRUNCATED);
    CHECK_OK(ent_adec_create(&d, 2, s1.data, s1.size));
    CHECK_STATUS(ent_adec_get(d, 5, w), CLIMZ_ERR_INVALID_ARG);
    ent_adec_free(d);
    cz_buf_free(&out);
    cz_buf_free(&s1);
    cz_buf_free(&s2);
}

/* Golden stream and damaged streams: errors, or garbage decoded safely (run under ASan:
 * never a read outside the buffer). */
static void test_golden_and_robust(void) {
    enum { N = 30000 };
    static int32_t v[N], w[N];
    static uint8_t ctx[N];
    unsigned long long seed = 77;
    for (int i = 0; i < N; i++) {
        ctx[i] = (uint8_t)(i % 5);
        v[i] = (int32_t)lrint(laplace(&seed, 0.5 + ctx[i] * 4));
    }
    v[100] = 5000000; /* some escapes */
    v[200] = -70000;
    cz_buf out = {0};
    encode(v, ctx, N, 5, &out);
    uint32_t const crc = cz_crc32c(0, out.data, out.size);
    printf("adaptive golden: %zu bytes crc %08x\n", out.size, crc);
    CHECK(out.size == 18572 && crc == 0x640b002du);
    int bad = 0, iters = 0;
    for (size_t len = 0; len < out.size; len += (len < 80 ? 1 : 113), iters++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, out.data, len);
        climz_status const st = decode(cut, len, ctx, N, 5, w);
        bad += st != CLIMZ_ERR_TRUNCATED && st != CLIMZ_ERR_CORRUPT;
        free(cut);
    }
    CHECK_MSG(bad == 0, "%d of %d truncations not reported", bad, iters);
    int detected = 0;
    for (int t = 0; t < 100; t++) {
        uint8_t *m = malloc(out.size);
        memcpy(m, out.data, out.size);
        m[tu_rand_u64(&seed) % out.size] ^= (uint8_t)(1 + tu_rand_u64(&seed) % 255);
        detected += decode(m, out.size, ctx, N, 5, w) != CLIMZ_OK;
        free(m);
    }
    CHECK_MSG(detected >= 98, "only %d of 100 corruptions detected", detected);
    /* pure noise as a stream: errors only, no crash */
    for (int t = 0; t < 50; t++) {
        size_t const len = 16 + tu_rand_u64(&seed) % 3000;
        uint8_t *m = malloc(len);
        for (size_t i = 0; i < len; i++) m[i] = (uint8_t)tu_rand_u64(&seed);
        detected += decode(m, len, ctx, N, 5, w) != CLIMZ_OK;
        free(m);
    }
    /* wrong contexts on decode: detected by the final check */
    uint8_t *c2 = malloc(N);
    memcpy(c2, ctx, N);
    c2[N / 3] = (uint8_t)((c2[N / 3] + 1) % 5);
    CHECK(decode(out.data, out.size, c2, N, 5, w) != CLIMZ_OK);
    free(c2);
    /* decoding fewer values than coded: the finish check fails */
    CHECK(decode(out.data, out.size, ctx, N - 1, 5, w) == CLIMZ_ERR_CORRUPT);
    cz_buf_free(&out);
}

int main(void) {
    test_laplace_1e6();
    test_edges();
    test_golden_and_robust();
    return tu_finish();
}
