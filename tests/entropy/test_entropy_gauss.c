/* test_entropy_gauss.c — Gaussian conditional: deterministic maths, scale table and index
 * rule, golden tables, serialisation, round trips (escapes, extreme values), robustness. */
#include "entropy/cdf.h"
#include "entropy/gaussian.h"
#include "testutil.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static void test_det_math(void) {
    double worst_e = 0, worst_c = 0;
    for (double x = -700; x < 700; x += 0.37) { /* normal results only */
        double const r = fabs(ent_det_exp(x) / exp(x) - 1);
        if (r > worst_e) worst_e = r;
    }
    for (double x = -6; x < 27; x += 0.0013) {
        double const ref = erfc(x);
        if (ref < 1e-300) continue;
        double const r = fabs(ent_det_erfc(x) / ref - 1);
        if (r > worst_c) worst_c = r;
    }
    printf("det_exp max rel err %.3g, det_erfc max rel err %.3g\n", worst_e, worst_c);
    CHECK(worst_e < 1e-14);
    CHECK(worst_c < 1e-12);
    CHECK(ent_det_exp(0) == 1.0);
    CHECK(ent_det_erfc(0) == 1.0);
    CHECK(ent_det_erfc(30) == 0.0 && ent_det_erfc(-30) == 2.0);
    /* likelihoods of a scale sum to ~1 and are symmetric */
    double sum = 0;
    for (int v = -550; v <= 550; v++) sum += ent_gauss_likelihood(v, 100); /* +-5.5 sigma */
    CHECK_NEAR(sum, 1.0, 1e-7);
    CHECK(ent_gauss_likelihood(3, 2.5) == ent_gauss_likelihood(-3, 2.5));
    CHECK_NEAR(ent_gauss_likelihood(0, 1.0), 0.38292492254802624, 1e-15); /* erf(0.5/sqrt2) */
    CHECK(ent_gauss_likelihood(50, 0.11) == ENT_GAUSS_LIK_MIN);
    CHECK(ent_gauss_likelihood(1, 0.0) == ent_gauss_likelihood(1, 0.11)); /* s = max(., .11) */
}

static void test_scales(void) {
    CHECK(ent_gauss_scale(0) == 0.11f);
    CHECK(ent_gauss_scale(63) == 256.0f);
    int bad = 0;
    for (unsigned i = 0; i < 64; i++) {
        double const want = exp(log(0.11) + (log(256.0) - log(0.11)) * i / 63.0);
        float const s = ent_gauss_scale(i);
        bad += fabs(s - want) > want * 1.2e-7; /* float rounding of the exact value */
        bad += i > 0 && !(s > ent_gauss_scale(i - 1));
        /* index rule: smallest level >= scale */
        bad += ent_gauss_scale_index(s) != i;
        if (i < 63) bad += ent_gauss_scale_index(nextafterf(s, INFINITY)) != i + 1;
        if (i > 0) bad += ent_gauss_scale_index(nextafterf(s, 0)) != i;
    }
    CHECK_MSG(bad == 0, "%d scale table failures", bad);
    CHECK_NEAR(ent_gauss_scale(32), 5.64335, 1e-4);
    CHECK(ent_gauss_scale_index(0.0f) == 0 && ent_gauss_scale_index(-5.0f) == 0);
    CHECK(ent_gauss_scale_index(0.05f) == 0);
    CHECK(ent_gauss_scale_index(1.0f) == 18); /* s_17 = 0.891 < 1 <= s_18 = 1.0077 */
    CHECK(ent_gauss_scale_index(257.0f) == 63 && ent_gauss_scale_index(INFINITY) == 63);
    CHECK(ent_gauss_scale_index(NAN) == 63);
    float sc[4] = {0.2f, 3.0f, 1e6f, 0.11f};
    uint8_t ix[4];
    ent_gauss_scale_indexes(ix, sc, 4);
    CHECK(ix[0] == ent_gauss_scale_index(0.2f) && ix[1] == ent_gauss_scale_index(3.0f) && ix[2] == 63 && ix[3] == 0);
}

static void test_tables_golden(const ent_gauss_tables *g) {
    int bad = 0;
    for (unsigned i = 0; i < 64; i++) {
        int32_t const tail = ent_gauss_tail(g, i);
        uint64_t sum = ent_gauss_freq(g, i, tail + 1); /* the escape */
        uint32_t prev = 0;
        for (int32_t v = -tail; v <= tail; v++) {
            uint32_t const f = ent_gauss_freq(g, i, v);
            sum += f;
            bad += f == 0;
            /* symmetric and unimodal, up to the one unit that ties in the largest-remainder
             * step give to the lower index */
            bad += f > ent_gauss_freq(g, i, -v) + 1 || f + 1 < ent_gauss_freq(g, i, -v);
            if (v <= 0) bad += f + 1 < prev;
            if (v <= 0) prev = f;
        }
        bad += sum != 65536;
        bad += ent_gauss_freq(g, i, INT32_MIN) != ent_gauss_freq(g, i, tail + 1);
    }
    CHECK_MSG(bad == 0, "%d table invariant failures", bad);
    /* stored numbers (regenerate with care: a change here changes the format) */
    printf("tails: %d %d %d %d %d\n", ent_gauss_tail(g, 0), ent_gauss_tail(g, 1), ent_gauss_tail(g, 20),
           ent_gauss_tail(g, 40), ent_gauss_tail(g, 63));
    printf("t0: %u %u %u  t20: %u %u %u  t63: %u %u %u %u %u\n", ent_gauss_freq(g, 0, 0),
           ent_gauss_freq(g, 0, 1), ent_gauss_freq(g, 0, 2), ent_gauss_freq(g, 20, 0),
           ent_gauss_freq(g, 20, 1), ent_gauss_freq(g, 20, 9), ent_gauss_freq(g, 63, 0),
           ent_gauss_freq(g, 63, 100), ent_gauss_freq(g, 63, 500), ent_gauss_freq(g, 63, 1024),
           ent_gauss_freq(g, 63, 5000));
    CHECK(ent_gauss_tail(g, 0) == 1 && ent_gauss_tail(g, 1) == 1 && ent_gauss_tail(g, 20) == 8 &&
          ent_gauss_tail(g, 40) == 76 && ent_gauss_tail(g, 63) == 1024);
    /* table 0 (s = 0.11): P(0) = erf(0.5 / (0.11 sqrt 2)) = 1 - 5.5e-6, so all but the
     * three forced single slots */
    CHECK(ent_gauss_freq(g, 0, 0) == 65533 && ent_gauss_freq(g, 0, 1) == 1 && ent_gauss_freq(g, 0, 2) == 1);
    /* table 20 (s = 1.289): P(0) = 0.3019 -> 19785; v = 9 escapes */
    CHECK(ent_gauss_freq(g, 20, 0) == 19785 && ent_gauss_freq(g, 20, 1) == 14861 && ent_gauss_freq(g, 20, 9) == 1);
    /* table 63 (s = 256): P(0) = 1 / (256 sqrt(2 pi)) = 0.001558 -> 102 */
    CHECK(ent_gauss_freq(g, 63, 0) == 102 && ent_gauss_freq(g, 63, 100) == 94 && ent_gauss_freq(g, 63, 500) == 15 &&
          ent_gauss_freq(g, 63, 1024) == 1 && ent_gauss_freq(g, 63, 5000) == 4);
    /* the whole set, bit for bit */
    cz_buf b = {0};
    CHECK_OK(ent_gauss_tables_serialize(g, &b));
    uint32_t const crc = cz_crc32c(0, b.data, b.size);
    printf("serialised tables: %zu bytes, crc %08x\n", b.size, crc);
    CHECK(b.size == 39648 && crc == 0x48674bc7u);
    cz_buf_free(&b);
}

static void test_serialize(const ent_gauss_tables *g) {
    cz_buf a = {0}, b = {0};
    CHECK_OK(ent_gauss_tables_serialize(g, &a));
    ent_gauss_tables *h = NULL;
    CHECK_OK(ent_gauss_tables_deserialize(&h, a.data, a.size));
    if (!h) return;
    CHECK_OK(ent_gauss_tables_serialize(h, &b));
    CHECK(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    /* the deserialised tables code identically */
    unsigned long long seed = 3;
    enum { N = 5000 };
    static int32_t v[N], w[N];
    static uint8_t idx[N];
    for (int i = 0; i < N; i++) {
        idx[i] = (uint8_t)(tu_rand_u64(&seed) % 64);
        v[i] = (int32_t)lrint(tu_rand_normal(&seed) * ent_gauss_scale(idx[i]));
    }
    cz_buf s1 = {0}, s2 = {0};
    CHECK_OK(ent_gauss_encode(g, v, idx, N, &s1));
    CHECK_OK(ent_gauss_encode(h, v, idx, N, &s2));
    CHECK(s1.size == s2.size && memcmp(s1.data, s2.data, s1.size) == 0);
    CHECK_OK(ent_gauss_decode(h, s1.data, s1.size, idx, N, w));
    CHECK(memcmp(v, w, sizeof v) == 0);
    ent_gauss_tables_free(h);
    /* damaged copies are refused with a specific code, never crash */
    int bad = 0;
    for (size_t len = 0; len < a.size; len += 1 + len / 8) {
        h = NULL;
        climz_status const st = ent_gauss_tables_deserialize(&h, a.data, len);
        bad += st == CLIMZ_OK || h != NULL;
    }
    for (int t = 0; t < 100; t++) {
        uint8_t *m = malloc(a.size);
        memcpy(m, a.data, a.size);
        m[tu_rand_u64(&seed) % a.size] ^= (uint8_t)(1u << (tu_rand_u64(&seed) % 8));
        h = NULL;
        climz_status const st = ent_gauss_tables_deserialize(&h, m, a.size);
        bad += st != CLIMZ_ERR_CHECKSUM;
        ent_gauss_tables_free(h);
        free(m);
    }
    CHECK_MSG(bad == 0, "%d damaged table sets accepted", bad);
    /* a valid CRC over invalid content: sum of frequencies broken */
    uint8_t *m = malloc(a.size);
    memcpy(m, a.data, a.size);
    m[4 + 4 + 256 + 16 + 8 * 64] ^= 1; /* first frequency of table 0 */
    uint32_t const inner = cz_crc32c(0, m + 4 + 4 + 256, a.size - 4 - 4 - 4 - 256 - 4);
    cz_store_le32(m + a.size - 8, inner);
    cz_store_le32(m + a.size - 4, cz_crc32c(0, m, a.size - 4));
    h = NULL;
    CHECK_STATUS(ent_gauss_tables_deserialize(&h, m, a.size), CLIMZ_ERR_CORRUPT);
    free(m);
    cz_buf_free(&a);
    cz_buf_free(&b);
    cz_buf_free(&s1);
    cz_buf_free(&s2);
}

static void roundtrip(const ent_gauss_tables *g, const int32_t *v, const uint8_t *idx, size_t n,
                      size_t *size) {
    cz_buf out = {0};
    CHECK_OK(ent_gauss_encode(g, v, idx, n, &out));
    int32_t *w = malloc((n + 1) * sizeof *w);
    CHECK_OK(ent_gauss_decode(g, out.data, out.size, idx, n, w));
    CHECK(n == 0 || memcmp(v, w, n * sizeof *v) == 0);
    if (size) *size = out.size;
    free(w);
    cz_buf_free(&out);
}

static void test_roundtrips(const ent_gauss_tables *g) {
    unsigned long long seed = 17;
    size_t sz;
    int32_t one = 0;
    uint8_t i0 = 0;
    roundtrip(g, &one, &i0, 0, &sz);
    CHECK(sz == 16);
    roundtrip(g, &one, &i0, 1, &sz);
    CHECK(sz == 16); /* P(0 | s=0.11) ~ 1: the symbol fits in the states */
    /* extreme values under every table: all escape */
    enum { NX = 64 * 12 };
    static int32_t xv[NX];
    static uint8_t xi[NX];
    int32_t const extremes[12] = {INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, -1025, 1025,
                                  -2, 2, 123456789, -987654321, 65536, -65537};
    for (int t = 0; t < 64; t++)
        for (int k = 0; k < 12; k++) {
            xv[t * 12 + k] = extremes[k];
            xi[t * 12 + k] = (uint8_t)t;
        }
    roundtrip(g, xv, xi, NX, &sz);
    /* huge random values across the whole int32 range */
    enum { NH = 20000 };
    static int32_t hv[NH];
    static uint8_t hi[NH];
    for (int i = 0; i < NH; i++) {
        hv[i] = (int32_t)(uint32_t)tu_rand_u64(&seed);
        hi[i] = (uint8_t)(tu_rand_u64(&seed) % 64);
    }
    roundtrip(g, hv, hi, NH, &sz);
    CHECK(sz < NH * 12); /* escapes cost ~ 2 * 32 + 16 bits at most */
    /* realistic data: size close to the model's ideal code length */
    enum { N = 200000 };
    int32_t *v = malloc(N * sizeof *v);
    uint8_t *idx = malloc(N);
    double ideal = 0;
    for (int i = 0; i < N; i++) {
        float const s = (float)exp(log(0.11) + (log(64.0) - log(0.11)) * tu_rand_uniform(&seed));
        idx[i] = ent_gauss_scale_index(s);
        v[i] = (int32_t)lrint(tu_rand_normal(&seed) * s);
        ideal -= log2(ent_gauss_likelihood(v[i], ent_gauss_scale(idx[i])));
    }
    roundtrip(g, v, idx, N, &sz);
    printf("gaussian: %zu bytes, ideal %.0f (+%.2f%%)\n", sz, ideal / 8, 100 * (sz * 8 / ideal - 1));
    CHECK(sz * 8 < ideal * 1.01 + 200 && sz * 8 > ideal * 0.99);
    /* determinism: twice the same bytes */
    cz_buf a = {0}, b = {0};
    CHECK_OK(ent_gauss_encode(g, v, idx, N, &a));
    CHECK_OK(ent_gauss_encode(g, v, idx, N, &b));
    CHECK(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    printf("gaussian stream crc %08x\n", cz_crc32c(0, a.data, a.size));
    CHECK(cz_crc32c(0, a.data, a.size) == 0x2104fff1u);
    /* robustness: truncations, flips, wrong indexes, trailing bytes */
    int32_t *w = malloc(N * sizeof *w);
    int bad = 0, iters = 0;
    for (size_t len = 0; len < a.size; len += (len < 100 ? 1 : 997), iters++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, a.data, len);
        climz_status const st = ent_gauss_decode(g, cut, len, idx, N, w);
        bad += st != CLIMZ_ERR_TRUNCATED && st != CLIMZ_ERR_CORRUPT;
        free(cut);
    }
    CHECK_MSG(bad == 0, "%d of %d truncations not reported", bad, iters);
    int detected = 0;
    for (int t = 0; t < 60; t++) {
        uint8_t *m = malloc(a.size);
        memcpy(m, a.data, a.size);
        m[tu_rand_u64(&seed) % a.size] ^= (uint8_t)(1 + tu_rand_u64(&seed) % 255);
        detected += ent_gauss_decode(g, m, a.size, idx, N, w) != CLIMZ_OK;
        free(m);
    }
    CHECK_MSG(detected >= 58, "only %d of 60 corruptions detected", detected);
    uint8_t *idx2 = malloc(N);
    memcpy(idx2, idx, N);
    idx2[N / 2] = (uint8_t)((idx2[N / 2] + 7) % 64);
    CHECK(ent_gauss_decode(g, a.data, a.size, idx2, N, w) != CLIMZ_OK);
    idx2[N / 2] = 64;
    CHECK_STATUS(ent_gauss_decode(g, a.data, a.size, idx2, N, w), CLIMZ_ERR_INVALID_ARG);
    cz_buf c = {0};
    CHECK_STATUS(ent_gauss_encode(g, v, idx2, N, &c), CLIMZ_ERR_INVALID_ARG);
    CHECK_OK(cz_buf_put_u8(&a, 0));
    CHECK_STATUS(ent_gauss_decode(g, a.data, a.size, idx, N, w), CLIMZ_ERR_CORRUPT);
    cz_buf_free(&a);
    cz_buf_free(&b);
    cz_buf_free(&c);
    free(v);
    free(w);
    free(idx);
    free(idx2);
}

int main(void) {
    test_det_math();
    test_scales();
    ent_gauss_tables *g = NULL, *g2 = NULL;
    CHECK_OK(ent_gauss_tables_build(&g, 16));
    CHECK_OK(ent_gauss_tables_build(&g2, 16));
    if (!g || !g2) return tu_finish();
    /* building twice gives the same bytes */
    cz_buf a = {0}, b = {0};
    CHECK_OK(ent_gauss_tables_serialize(g, &a));
    CHECK_OK(ent_gauss_tables_serialize(g2, &b));
    CHECK(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    cz_buf_free(&a);
    cz_buf_free(&b);
    ent_gauss_tables_free(g2);
    CHECK_STATUS(ent_gauss_tables_build(&g2, 9), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_gauss_tables_build(&g2, 17), CLIMZ_ERR_INVALID_ARG);
    test_tables_golden(g);
    test_serialize(g);
    test_roundtrips(g);
    ent_gauss_tables_free(g);
    return tu_finish();
}
