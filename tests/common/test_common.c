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

int main(void) {
    test_crc32c();
    test_sha256();
    test_reader();
    test_atomic();
    CHECK(strcmp(climz_status_name(CLIMZ_ERR_CHECKSUM), "CLIMZ_ERR_CHECKSUM") == 0);
    CHECK(strcmp(climz_status_name((climz_status)999), "CLIMZ_ERR_UNKNOWN") == 0);
    return tu_finish();
}
