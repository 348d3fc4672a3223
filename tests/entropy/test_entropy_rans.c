/* test_entropy_rans.c — rANS primitives (rans64.h), CDF quantisation and the static
 * single-table coder (cdf.h): round trips, invariants, golden values, robustness. */
#include "entropy/cdf.h"
#include "entropy/rans64.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* ---- quantisation ------------------------------------------------------------------------- */

static void test_quantize_golden(void) {
    /* dyadic pmf: exact */
    double const p1[5] = {0.5, 0.25, 0.125, 0.0625, 0.0625};
    uint32_t f[8];
    CHECK_OK(ent_quantize_pmf(f, p1, 5, 4, 0));
    CHECK(f[0] == 8 && f[1] == 4 && f[2] == 2 && f[3] == 1 && f[4] == 1);
    /* worked by hand (cdf.h): shares 179.2, 51.2, 23.04, 2.56 of 256: floors 255, the unit
     * left goes to the largest remainder (index 3); the zero keeps 0 */
    double const p2[5] = {0.7, 0.2, 0.09, 0.01, 0.0};
    CHECK_OK(ent_quantize_pmf(f, p2, 5, 8, 0));
    CHECK_MSG(f[0] == 179 && f[1] == 51 && f[2] == 23 && f[3] == 3 && f[4] == 0,
              "got %u %u %u %u %u", f[0], f[1], f[2], f[3], f[4]);
    /* ENT_Q_ALL: the zero gets one slot; R = 255: 178.5, 51, 22.95, 2.55 -> floors 253,
     * 2 left to remainders .95 (index 2) and .55 (index 3) */
    uint32_t const c2[5] = {700, 200, 90, 10, 0};
    CHECK_OK(ent_quantize_counts(f, c2, 5, 8, ENT_Q_ALL));
    CHECK_MSG(f[0] == 178 && f[1] == 51 && f[2] == 23 && f[3] == 3 && f[4] == 1,
              "got %u %u %u %u %u", f[0], f[1], f[2], f[3], f[4]);
    CHECK_OK(ent_quantize_counts(f, c2, 5, 8, 0));
    CHECK(f[0] == 179 && f[1] == 51 && f[2] == 23 && f[3] == 3 && f[4] == 0);
    /* the one-slot step cascades: twelve 1s take one slot each, which leaves the 4 with a
     * share of 4 * 4 / 44 < 1, so it takes one too, and the 40 gets the last 3 */
    uint32_t c7[14] = {40, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4}, f7[14];
    CHECK_OK(ent_quantize_counts(f7, c7, 14, 4, 0));
    int ok7 = f7[0] == 3;
    for (int i = 1; i < 14; i++) ok7 &= f7[i] == 1;
    CHECK(ok7);
    /* scale does not matter: counts and an unnormalised pmf give the same table */
    uint32_t const c3[4] = {700, 200, 90, 10};
    double const p3[4] = {7e-300, 2e-300, 0.9e-300, 0.1e-300};
    uint32_t g[4], h[4];
    CHECK_OK(ent_quantize_counts(g, c3, 4, 12, 0));
    CHECK_OK(ent_quantize_pmf(h, p3, 4, 12, 0));
    CHECK(memcmp(g, h, sizeof g) == 0);
    /* ties go to the lower index: 3 equal symbols at prec 2 -> 2, 1, 1 */
    uint32_t const c4[3] = {5, 5, 5};
    CHECK_OK(ent_quantize_counts(f, c4, 3, 2, 0));
    CHECK(f[0] == 2 && f[1] == 1 && f[2] == 1);
    /* a single possible symbol takes everything */
    uint32_t const c5[3] = {0, 9, 0};
    CHECK_OK(ent_quantize_counts(f, c5, 3, 16, 0));
    CHECK(f[0] == 0 && f[1] == 65536 && f[2] == 0);
    /* all zero with ENT_Q_ALL: uniform */
    uint32_t const c6[3] = {0, 0, 0};
    CHECK_OK(ent_quantize_counts(f, c6, 3, 4, ENT_Q_ALL));
    CHECK(f[0] == 6 && f[1] == 5 && f[2] == 5);
}

static void test_quantize_errors(void) {
    uint32_t f[4];
    double const neg[3] = {0.5, -0.1, 0.6}, nan_[2] = {NAN, 1}, inf_[2] = {INFINITY, 1}, zero[2] = {0, 0};
    CHECK_STATUS(ent_quantize_pmf(f, neg, 3, 8, 0), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_quantize_pmf(f, nan_, 2, 8, 0), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_quantize_pmf(f, inf_, 2, 8, 0), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_quantize_pmf(f, zero, 2, 8, 0), CLIMZ_ERR_INVALID_ARG);
    double const four[4] = {1, 1, 1, 1};
    CHECK_STATUS(ent_quantize_pmf(f, four, 4, 1, 0), CLIMZ_ERR_INVALID_ARG); /* 4 > 2^1 */
    CHECK_STATUS(ent_quantize_pmf(f, four, 4, 17, 0), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(ent_quantize_pmf(f, four, 0, 8, 0), CLIMZ_ERR_INVALID_ARG);
    CHECK_OK(ent_quantize_pmf(f, four, 4, 2, 0));
    CHECK(f[0] == 1 && f[3] == 1);
}

static void test_quantize_invariants(void) {
    unsigned long long seed = 11;
    uint32_t *f = malloc(5000 * sizeof *f);
    double *p = malloc(5000 * sizeof *p);
    uint64_t *cnt = malloc(5000 * sizeof *cnt);
    int bad = 0;
    for (int trial = 0; trial < 300; trial++) {
        unsigned const prec = 8 + (unsigned)(tu_rand_u64(&seed) % 9);
        size_t const n = 1 + tu_rand_u64(&seed) % (trial < 200 ? 300 : 4000);
        if (n > (1u << prec)) continue;
        int const kind = (int)(tu_rand_u64(&seed) % 4);
        for (size_t i = 0; i < n; i++) {
            double const u = tu_rand_uniform(&seed);
            p[i] = kind == 0 ? u : kind == 1 ? exp(-30 * u) : kind == 2 ? (u < 0.3 ? 0 : u) : pow(u, 40);
        }
        p[tu_rand_u64(&seed) % n] = 1; /* at least one possible symbol */
        unsigned const flags = trial % 2 ? ENT_Q_ALL : 0;
        if (ent_quantize_pmf(f, p, n, prec, flags) != CLIMZ_OK) { bad++; continue; }
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            sum += f[i];
            if ((p[i] > 0 || flags) && f[i] == 0) bad++;
            if (p[i] == 0 && !flags && f[i] != 0) bad++;
        }
        if (sum != (1ull << prec)) bad++;
        /* near-optimal: the code length of the pmf with the quantised table is within
         * a small margin of its entropy, when the table has room to spare */
        if (kind == 0 && n * 64 <= (1u << prec)) {
            double tot = 0, h = 0, cl = 0;
            for (size_t i = 0; i < n; i++) tot += p[i];
            for (size_t i = 0; i < n; i++) {
                double const q = p[i] / tot;
                if (q > 0) h -= q * log2(q);
                if (q > 0) cl += q * (prec - log2(f[i]));
                cnt[i] = 0;
            }
            if (cl - h > 0.02) bad++;
        }
    }
    CHECK_MSG(bad == 0, "%d quantisation invariant failures", bad);
    free(f);
    free(p);
    free(cnt);
}

/* ---- rANS primitives ---------------------------------------------------------------------- */

/* One state, a random table per call, symbols and raw bits mixed. */
static void test_primitives(void) {
    unsigned long long seed = 5;
    enum { N = 20000, NS = 40 };
    for (int trial = 0; trial < 20; trial++) {
        unsigned const prec = 1 + (unsigned)(trial % 16);
        uint32_t const M = 1u << prec;
        size_t const ns = M < NS ? M : NS;
        uint32_t freq[NS], cum[NS + 1];
        /* freq 1 for most symbols, the rest to symbol 0 */
        for (size_t s = 0; s < ns; s++) freq[s] = s == 0 ? M - (uint32_t)(ns - 1) : 1;
        if (ns > 2 && M > 4 * ns) { /* one mid-size symbol too */
            freq[0] -= M / 4;
            freq[1] += M / 4;
        }
        cum[0] = 0;
        for (size_t s = 0; s < ns; s++) cum[s + 1] = cum[s] + freq[s];
        static uint32_t sym[N], rawv[N], rawn[N], got[N];
        for (size_t i = 0; i < N; i++) {
            sym[i] = (uint32_t)(tu_rand_u64(&seed) % ns);
            rawn[i] = 1 + (unsigned)(tu_rand_u64(&seed) % 16);
            rawv[i] = (uint32_t)(tu_rand_u64(&seed) & ((1u << rawn[i]) - 1));
        }
        static uint8_t buf[RANS_ENC_BOUND(2 * N, 1)];
        uint8_t *const end = buf + sizeof buf;
        uint8_t *p = end;
        rans_state r;
        rans_enc_init(&r);
        for (size_t i = N; i-- > 0;) {
            rans_enc_put_bits(&r, &p, rawv[i], rawn[i]);
            if (i % 2) rans_enc_put(&r, &p, cum[sym[i]], freq[sym[i]], prec);
            else {
                rans_enc_sym es;
                rans_enc_sym_init(&es, cum[sym[i]], freq[sym[i]], prec);
                rans_enc_put_sym(&r, &p, &es);
            }
        }
        rans_enc_flush(&r, &p);
        CHECK(p >= buf);
        const uint8_t *q = p;
        rans_state d = 0;
        climz_status st = rans_dec_init(&d, &q, end);
        int bad = 0;
        for (size_t i = 0; i < N && st == CLIMZ_OK; i++) {
            uint32_t const slot = rans_dec_get(&d, prec);
            uint32_t s = 0;
            while (cum[s + 1] <= slot) s++;
            got[i] = s;
            st = rans_dec_advance(&d, &q, end, cum[s], freq[s], prec);
            uint32_t bits = 0;
            if (st == CLIMZ_OK) st = rans_dec_get_bits(&d, &q, end, rawn[i], &bits);
            bad += got[i] != sym[i] || bits != rawv[i];
        }
        CHECK_OK(st);
        CHECK_MSG(bad == 0, "prec %u: %d symbols differ", prec, bad);
        CHECK_OK(rans_dec_done(d, q, end));
    }
    /* reciprocal encoder == division encoder for every freq at scale 16 and 31-bit states */
    int bad = 0;
    for (uint32_t f = 1; f <= 65536; f += (f < 600 ? 1 : 97)) {
        uint32_t const start = (65536 - f) / 2;
        rans_enc_sym es;
        rans_enc_sym_init(&es, start, f, 16);
        for (int k = 0; k < 50; k++) {
            uint64_t const x = RANS_L + tu_rand_u64(&seed) % ((RANS_L << 32) - RANS_L);
            uint8_t b1[8], b2[8];
            uint8_t *p1 = b1 + 8, *p2 = b2 + 8;
            rans_state r1 = x, r2 = x;
            rans_enc_put(&r1, &p1, start, f, 16);
            rans_enc_put_sym(&r2, &p2, &es);
            bad += r1 != r2 || (p1 - b1) != (p2 - b2);
        }
    }
    CHECK_MSG(bad == 0, "%d reciprocal mismatches", bad);
    /* decoder bounds: a lone state with nothing after it must not be read past */
    uint8_t st8[8];
    cz_store_le64(st8, RANS_L);
    const uint8_t *q = st8;
    rans_state d = 0;
    CHECK_STATUS(rans_dec_init(&d, &q, st8 + 7), CLIMZ_ERR_TRUNCATED);
    CHECK_OK(rans_dec_init(&d, &q, st8 + 8));
    CHECK_STATUS(rans_dec_advance(&d, &q, st8 + 8, 0, 1, 16), CLIMZ_ERR_TRUNCATED);
    cz_store_le64(st8, RANS_L - 1);
    q = st8;
    CHECK_STATUS(rans_dec_init(&d, &q, st8 + 8), CLIMZ_ERR_CORRUPT);
    cz_store_le64(st8, RANS_L << 32);
    q = st8;
    CHECK_STATUS(rans_dec_init(&d, &q, st8 + 8), CLIMZ_ERR_CORRUPT);
}

/* ---- static single-table coder ------------------------------------------------------------ */

static void roundtrip_cdf(const ent_cdf *c, const uint16_t *sym, size_t n, size_t *size) {
    cz_buf out = {0};
    CHECK_OK(ent_cdf_encode(c, sym, n, &out));
    uint16_t *dec = malloc((n + 1) * sizeof *dec);
    CHECK_OK(ent_cdf_decode(c, out.data, out.size, dec, n));
    CHECK(n == 0 || memcmp(sym, dec, n * sizeof *sym) == 0);
    if (size) *size = out.size;
    free(dec);
    cz_buf_free(&out);
}

static void test_cdf_coder(void) {
    unsigned long long seed = 7;
    /* empty input and a single symbol */
    uint32_t const f4[4] = {40000, 20000, 5535, 1};
    ent_cdf *c;
    CHECK_OK(ent_cdf_create(&c, f4, 4, 16));
    size_t sz = 0;
    uint16_t one = 3;
    roundtrip_cdf(c, &one, 0, &sz);
    CHECK(sz == 32); /* four flushed initial states */
    roundtrip_cdf(c, &one, 1, &sz);
    /* every length 0..9 (the tail of the 4-way interleave) and only the freq-1 symbol */
    uint16_t rare[9] = {3, 3, 3, 3, 3, 3, 3, 3, 3};
    for (size_t n = 0; n <= 9; n++) roundtrip_cdf(c, rare, n, NULL);
    ent_cdf_free(c);
    /* a one-symbol table (freq == 2^prec): zero bits per symbol */
    uint32_t const f1[1] = {1u << 16};
    CHECK_OK(ent_cdf_create(&c, f1, 1, 16));
    uint16_t zeros[1000] = {0};
    roundtrip_cdf(c, zeros, 1000, &sz);
    CHECK(sz == 32);
    ent_cdf_free(c);
    /* random tables, with frequency-1 and zero-frequency symbols, all precisions */
    for (int trial = 0; trial < 40; trial++) {
        unsigned const prec = 1 + (unsigned)(trial % 16);
        size_t const n = 1 + tu_rand_u64(&seed) % (prec >= 9 ? 300 : (1u << prec));
        uint32_t *cnt = malloc(n * sizeof *cnt), *f = malloc(n * sizeof *f);
        for (size_t i = 0; i < n; i++) cnt[i] = tu_rand_u64(&seed) % 3 == 0 ? 0 : (uint32_t)(tu_rand_u64(&seed) % 1000);
        cnt[0] = 1;
        CHECK_OK(ent_quantize_counts(f, cnt, n, prec, 0));
        CHECK_OK(ent_cdf_create(&c, f, n, prec));
        size_t const len = 5000 + (size_t)trial;
        uint16_t *sym = malloc(len * sizeof *sym);
        uint64_t *hist = calloc(n, sizeof *hist);
        size_t nz = 0;
        for (size_t i = 0; i < n; i++) nz += f[i] > 0;
        for (size_t i = 0; i < len; i++) { /* uniform over the codable symbols */
            size_t k = tu_rand_u64(&seed) % nz, s = 0;
            for (;; s++) if (f[s] && k-- == 0) break;
            sym[i] = (uint16_t)s;
            hist[s]++;
        }
        roundtrip_cdf(c, sym, len, &sz);
        double const ideal = ent_code_length_bits(f, hist, n, prec) / 8;
        CHECK_MSG(sz <= ideal * 1.001 + 40 && sz + 1 >= ideal, "size %zu vs ideal %.1f", sz, ideal);
        /* a symbol of frequency 0 is refused */
        for (size_t i = 0; i < n; i++)
            if (!f[i]) {
                uint16_t const s0 = (uint16_t)i;
                cz_buf out = {0};
                CHECK_STATUS(ent_cdf_encode(c, &s0, 1, &out), CLIMZ_ERR_INVALID_ARG);
                cz_buf_free(&out);
                break;
            }
        free(cnt);
        free(f);
        free(sym);
        free(hist);
        ent_cdf_free(c);
    }
    /* a large alphabet (the 6-byte slot layout): 1000 symbols, Zipf-like */
    {
        enum { NS = 1000, LEN = 30000 };
        static uint32_t cnt[NS], f[NS];
        static uint16_t sym[LEN];
        for (int i = 0; i < NS; i++) cnt[i] = 100000 / (i + 1);
        CHECK_OK(ent_quantize_counts(f, cnt, NS, 16, 0));
        CHECK_OK(ent_cdf_create(&c, f, NS, 16));
        for (int i = 0; i < LEN; i++) sym[i] = (uint16_t)(tu_rand_u64(&seed) % (i % 3 ? 20 : NS));
        roundtrip_cdf(c, sym, LEN, &sz);
        ent_cdf_free(c);
    }
    /* creation errors */
    uint32_t const badf[2] = {100, 200};
    CHECK_STATUS(ent_cdf_create(&c, badf, 2, 8), CLIMZ_ERR_INVALID_ARG);
    CHECK(c == NULL);
}

/* Golden stream: a seeded input must always give the same bytes (format stability). */
static void test_cdf_golden_and_robust(void) {
    unsigned long long seed = 99;
    enum { N = 20000 };
    uint32_t cnt[64], f[64];
    for (int i = 0; i < 64; i++) cnt[i] = (uint32_t)(100000.0 * exp(-0.2 * i)) + (i == 63);
    CHECK_OK(ent_quantize_counts(f, cnt, 64, 16, 0));
    ent_cdf *c;
    CHECK_OK(ent_cdf_create(&c, f, 64, 16));
    static uint16_t sym[N], dec[N];
    for (size_t i = 0; i < N; i++) {
        int v = (int)fabs(tu_rand_normal(&seed) * 6);
        sym[i] = (uint16_t)(v > 63 ? 63 : v);
    }
    cz_buf a = {0}, b = {0};
    CHECK_OK(ent_cdf_encode(c, sym, N, &a));
    CHECK_OK(ent_cdf_encode(c, sym, N, &b));
    CHECK(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    uint32_t const crc = cz_crc32c(0, a.data, a.size);
    printf("static golden: size %zu crc %08x\n", a.size, crc);
    CHECK(a.size == 9276 && crc == 0xe2a2be93u);
    /* every truncation fails cleanly; decoding never reads outside [in, in + len) (ASan) */
    int ok_trunc = 0, iters = 0;
    for (size_t len = 0; len < a.size; len += (len < 64 ? 1 : 37), iters++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, a.data, len);
        climz_status const st = ent_cdf_decode(c, cut, len, dec, N);
        ok_trunc += st == CLIMZ_ERR_TRUNCATED || st == CLIMZ_ERR_CORRUPT;
        free(cut);
    }
    CHECK_MSG(ok_trunc == iters, "%d of %d truncations rejected", ok_trunc, iters);
    /* random byte flips: an error or garbage, never a crash; the final-state check
     * catches nearly all */
    int detected = 0;
    for (int t = 0; t < 200; t++) {
        uint8_t *m = malloc(a.size);
        memcpy(m, a.data, a.size);
        m[tu_rand_u64(&seed) % a.size] ^= (uint8_t)(1 + tu_rand_u64(&seed) % 255);
        detected += ent_cdf_decode(c, m, a.size, dec, N) != CLIMZ_OK;
        free(m);
    }
    CHECK_MSG(detected >= 195, "only %d of 200 corruptions detected", detected);
    /* trailing bytes and a wrong count are errors */
    CHECK_OK(cz_buf_put_u8(&b, 0));
    CHECK_STATUS(ent_cdf_decode(c, b.data, b.size, dec, N), CLIMZ_ERR_CORRUPT);
    CHECK(ent_cdf_decode(c, a.data, a.size, dec, N - 1) != CLIMZ_OK);
    cz_buf_free(&a);
    cz_buf_free(&b);
    ent_cdf_free(c);
}

int main(void) {
    test_quantize_golden();
    test_quantize_errors();
    test_quantize_invariants();
    test_primitives();
    test_cdf_coder();
    test_cdf_golden_and_robust();
    return tu_finish();
}
