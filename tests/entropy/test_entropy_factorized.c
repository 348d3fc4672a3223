/* test_entropy_factorized.c — per-channel tables for the hyperprior: build from pmfs,
 * round trips by plane and by explicit channel, escapes, serialisation, errors. */
#include "entropy/factorized.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

enum { C = 6, NV = 41 };

/* channel c: a discretised logistic of scale 0.5 + c over [-20, 20], mean c - 2 */
static ent_factorized *build(void) {
    int32_t offset[C];
    uint32_t n[C];
    static double pmf[C * NV];
    double tail[C];
    for (int c = 0; c < C; c++) {
        offset[c] = -20;
        n[c] = NV;
        double const s = 0.5 + c, mu = c - 2;
        double mass = 0;
        for (int k = 0; k < NV; k++) {
            double const v = offset[c] + k;
            double const hi = 1 / (1 + exp(-(v + 0.5 - mu) / s)), lo = 1 / (1 + exp(-(v - 0.5 - mu) / s));
            pmf[c * NV + k] = hi - lo;
            mass += hi - lo;
        }
        tail[c] = 1 - mass;
    }
    pmf[3 * NV + 40] = 0; /* a zero in the pmf: still codable */
    ent_factorized *f = NULL;
    CHECK_OK(ent_factorized_build(&f, C, offset, n, pmf, tail, 16));
    return f;
}

int main(void) {
    ent_factorized *f = build();
    if (!f) return tu_finish();
    CHECK(ent_factorized_channels(f) == C);
    uint64_t sum = 0;
    for (int32_t v = -20; v <= 21; v++) sum += ent_factorized_freq(f, 2, v); /* 21 = escape */
    CHECK(sum == 65536);
    CHECK(ent_factorized_freq(f, 3, 20) >= 1);
    CHECK(ent_factorized_freq(f, 0, -2) > ent_factorized_freq(f, 0, 5));
    unsigned long long seed = 21;
    enum { PLANE = 7 * 9, B = 3, N = B * C * PLANE };
    static int32_t v[N], w[N];
    static uint16_t ch[N];
    for (int i = 0; i < N; i++) {
        int const c = (i / PLANE) % C;
        double const u = tu_rand_uniform(&seed);
        v[i] = (int32_t)lrint((c - 2) + (0.5 + c) * log(u / (1 - u))); /* logistic sample */
        ch[i] = (uint16_t)c;
    }
    v[5] = 1000;        /* escapes */
    v[6] = -1000000;
    v[7] = INT32_MIN;
    v[N - 1] = INT32_MAX;
    v[3 * PLANE + 1] = 20;
    cz_buf a = {0}, b = {0};
    CHECK_OK(ent_factorized_encode(f, v, N, PLANE, &a));
    CHECK_OK(ent_factorized_decode(f, a.data, a.size, N, PLANE, w));
    CHECK(memcmp(v, w, sizeof v) == 0);
    /* the explicit channel array gives the same stream */
    CHECK_OK(ent_factorized_encode_ch(f, v, ch, N, &b));
    CHECK(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    memset(w, 0, sizeof w);
    CHECK_OK(ent_factorized_decode_ch(f, b.data, b.size, ch, N, w));
    CHECK(memcmp(v, w, sizeof v) == 0);
    printf("factorised: %d symbols in %zu bytes\n", N, a.size);
    CHECK(a.size < N * 4 / 8 * 2); /* well under 8 bits per symbol */
    /* serialisation round trip */
    cz_buf s1 = {0}, s2 = {0};
    CHECK_OK(ent_factorized_serialize(f, &s1));
    ent_factorized *g = NULL;
    CHECK_OK(ent_factorized_deserialize(&g, s1.data, s1.size));
    if (g) {
        CHECK_OK(ent_factorized_serialize(g, &s2));
        CHECK(s1.size == s2.size && memcmp(s1.data, s2.data, s1.size) == 0);
        memset(w, 0, sizeof w);
        CHECK_OK(ent_factorized_decode(g, a.data, a.size, N, PLANE, w));
        CHECK(memcmp(v, w, sizeof v) == 0);
        ent_factorized_free(g);
    }
    int bad = 0;
    for (size_t len = 0; len < s1.size; len++) {
        g = NULL;
        bad += ent_factorized_deserialize(&g, s1.data, len) == CLIMZ_OK || g != NULL;
    }
    CHECK_MSG(bad == 0, "%d truncated table sets accepted", bad);
    s1.data[20] ^= 4;
    CHECK_STATUS(ent_factorized_deserialize(&g, s1.data, s1.size), CLIMZ_ERR_CHECKSUM);
    /* robustness of the decoder */
    bad = 0;
    for (size_t len = 0; len < a.size; len++)
        bad += ent_factorized_decode(f, a.data, len, N, PLANE, w) == CLIMZ_OK;
    CHECK_MSG(bad == 0, "%d truncated streams accepted", bad);
    ch[10] = C;
    CHECK_STATUS(ent_factorized_encode_ch(f, v, ch, N, &b), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_factorized_decode_ch(f, a.data, a.size, ch, N, w), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_factorized_encode(f, v, N, 0, &b), CLIMZ_ERR_INVALID_ARG);
    /* build errors */
    int32_t const off1[1] = {0};
    uint32_t const n1[1] = {0}, n2[1] = {65536};
    double const p1[1] = {1};
    ent_factorized *h = NULL;
    CHECK_STATUS(ent_factorized_build(&h, 1, off1, n1, p1, NULL, 16), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_factorized_build(&h, 1, off1, n2, p1, NULL, 16), CLIMZ_ERR_INVALID_ARG);
    double const pneg[2] = {1, -1};
    uint32_t const n3[1] = {2};
    CHECK_STATUS(ent_factorized_build(&h, 1, off1, n3, pneg, NULL, 16), CLIMZ_ERR_INVALID_ARG);
    int32_t const offmax[1] = {INT32_MAX};
    double const p2[2] = {1, 1};
    CHECK_STATUS(ent_factorized_build(&h, 1, offmax, n3, p2, NULL, 16), CLIMZ_ERR_INVALID_ARG);
    CHECK(h == NULL);
    cz_buf_free(&a);
    cz_buf_free(&b);
    cz_buf_free(&s1);
    cz_buf_free(&s2);
    ent_factorized_free(f);
    return tu_finish();
}
