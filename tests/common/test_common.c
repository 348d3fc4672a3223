/* test_common.c — golden values for CRC-32C and SHA-256, reader bounds, atomic output. */
#include "common/cz_common.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_crc32c(void) {
    /* RFC 3720 appendix B.4 test vectors */
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    CHECK(cz_crc32c(0, buf, 32) == 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    CHECK(cz_crc32c(0, buf, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    CHECK(cz_crc32c(0, buf, 32) == 0x46DD794Eu);
    CHECK(cz_crc32c(0, "123456789", 9) == 0xE3069283u);
    /* chaining equals one pass */
    CHECK(cz_crc32c(cz_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
}

static void test_sha256(void) {
    uint8_t d[32];
    char hex[65];
    cz_sha256 s;
    cz_sha256_init(&s);
    cz_sha256_update(&s, "abc", 3);
    cz_sha256_final(&s, d);
    cz_sha256_hex(d, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    cz_sha256_init(&s);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cz_sha256_update(&s, m, strlen(m));
    cz_sha256_final(&s, d);
    cz_sha256_hex(d, hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
}

static void test_reader(void) {
    cz_buf b = {0};
    CHECK_OK(cz_buf_put_u32(&b, 0xdeadbeefu));
    CHECK_OK(cz_buf_put_f64(&b, -1.5));
    CHECK_OK(cz_buf_put_str(&b, "lat"));
    cz_rd r = cz_rd_make(b.data, b.size);
    uint32_t u;
    double d;
    char *s = NULL;
    CHECK_OK(cz_rd_u32(&r, &u));
    CHECK(u == 0xdeadbeefu);
    CHECK_OK(cz_rd_f64(&r, &d));
    CHECK(d == -1.5);
    CHECK_OK(cz_rd_str(&r, &s, 64));
    CHECK(s && strcmp(s, "lat") == 0);
    free(s);
    CHECK_STATUS(cz_rd_u8(&r, (uint8_t *)&u), CLIMZ_ERR_TRUNCATED);
    /* a string whose length runs past the end */
    r = cz_rd_make(b.data + 12, 6);
    CHECK_STATUS(cz_rd_str(&r, &s, 64), CLIMZ_ERR_TRUNCATED);
    cz_buf_free(&b);
}

static void test_atomic(void) {
    const char *dir = tu_tmpdir("test_common");
    char path[4200];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    cz_atomic a;
    CHECK_OK(cz_atomic_open(&a, path));
    CHECK_OK(cz_atomic_write(&a, "hello", 5));
    CHECK(access(path, F_OK) != 0); /* nothing at the final path before commit */
    CHECK_OK(cz_atomic_commit(&a));
    CHECK(access(path, F_OK) == 0);
    CHECK_OK(cz_atomic_open(&a, path));
    CHECK_OK(cz_atomic_write(&a, "x", 1));
    cz_atomic_abort(&a);
    uint8_t *data;
    size_t n;
    CHECK_OK(cz_read_file(path, &data, &n)); /* the aborted write left the old file alone */
    CHECK(n == 5 && memcmp(data, "hello", 5) == 0);
    free(data);
    snprintf(path, sizeof path, "%s/no/such/dir/out.bin", dir);
    CHECK_STATUS(cz_atomic_open(&a, path), CLIMZ_ERR_NOT_FOUND);
}

/* binary16: every half value survives the round trip (NaNs stay NaN), and floats round to
 * nearest even, against the hardware's conversion where the compiler has _Float16 */
static void test_half(void) {
    size_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float const f = cz_f32_from_f16((uint16_t)h);
        uint16_t const back = cz_f16_from_f32(f);
        int const nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
        bad += nan ? !(f != f) || (back & 0x7c00u) != 0x7c00u || !(back & 0x3ffu) : back != h;
    }
    CHECK_MSG(bad == 0, "%zu half values do not survive the round trip", bad);
    CHECK(cz_f16_from_f32(1.0f) == 0x3c00 && cz_f16_from_f32(-2.0f) == 0xc000);
    CHECK(cz_f16_from_f32(65504.0f) == 0x7bff && cz_f16_from_f32(65520.0f) == 0x7c00);
    CHECK(cz_f16_from_f32(65519.0f) == 0x7bff);
    CHECK(cz_f16_from_f32(1.0f + 1.0f / 2048) == 0x3c00);     /* tie: to even */
    CHECK(cz_f16_from_f32(1.0f + 3.0f / 2048) == 0x3c02);     /* tie: to even (up) */
    CHECK(cz_f16_from_f32(5.9604645e-8f) == 0x0001);          /* 2^-24, the smallest subnormal */
    CHECK(cz_f16_from_f32(2.9802322e-8f) == 0x0000);          /* 2^-25: tie to even, zero */
    CHECK(cz_f16_from_f32(6.1035156e-5f) == 0x0400);          /* 2^-14, the smallest normal */
    CHECK(cz_f32_from_f16(0x0001) == 5.9604645e-8f && cz_f32_from_f16(0x3555) == 0.33325195f);
#if defined(__FLT16_MAX__)
    __extension__ typedef _Float16 hw_half;
    unsigned long long rs = 99;
    size_t diff = 0;
    for (int k = 0; k < 200000; k++) {
        uint32_t bits = (uint32_t)tu_rand_u64(&rs);
        float f;
        memcpy(&f, &bits, sizeof f);
        if (f != f) continue;
        hw_half const hw = (hw_half)f;
        uint16_t hb;
        memcpy(&hb, &hw, sizeof hb);
        diff += hb != cz_f16_from_f32(f);
    }
    CHECK_MSG(diff == 0, "%zu of 200000 random floats convert unlike the hardware", diff);
#endif
}

int main(void) {
    test_half();
    test_crc32c();
    test_sha256();
    test_reader();
    test_atomic();
    CHECK(strcmp(climz_status_name(CLIMZ_ERR_CHECKSUM), "CLIMZ_ERR_CHECKSUM") == 0);
    CHECK(strcmp(climz_status_name((climz_status)999), "CLIMZ_ERR_UNKNOWN") == 0);
    return tu_finish();
}
