/* test_checkpoint.c — safetensors checkpoints: golden bytes written by hand (as Python's
 * safetensors lays them out) read back; our writer's exact bytes; round trips of every
 * dtype and of parameter stores; rejection of each kind of corrupt or truncated file with
 * the right code and a message naming file and tensor; the model hash. */
#include "nn/checkpoint.h"

#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *tmp;

static const char *path_in_tmp(const char *name) {
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static void put_bytes(cz_buf *b, const void *p, size_t n) { CHECK_OK(cz_buf_put(b, p, n)); }

/* A file laid out byte by byte: u64 header length, header text, data. */
static void make_file(cz_buf *b, const char *header, size_t pad, const void *data, size_t n) {
    uint8_t len8[8];
    cz_store_le64(len8, strlen(header) + pad);
    b->size = 0;
    put_bytes(b, len8, 8);
    put_bytes(b, header, strlen(header));
    for (size_t i = 0; i < pad; i++) put_bytes(b, " ", 1);
    put_bytes(b, data, n);
}

/* Golden file 1, as Python's safetensors.torch.save_file({"weight": torch.tensor([[0.5, -1],
 * [3.25, 1e-3]]), "idx": torch.tensor([-7])}, metadata={"format": "pt"}) writes it: header
 * keys in another order than the data (idx, the 8-byte type, comes first in the data),
 * compact JSON, padded with spaces to a multiple of 8 (148 + 4 bytes). */
static const char golden1_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],"
    "\"data_offsets\":[8,24]},\"idx\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
static const uint8_t golden1_data[24] = {
    0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,                        /* I64 -7 */
    0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0xbf,                        /* 0.5, -1 */
    0x00, 0x00, 0x50, 0x40, 0x6f, 0x12, 0x83, 0x3a};                      /* 3.25, 1e-3 */

static void test_golden_read(void) {
    CHECK(strlen(golden1_header) == 148);
    cz_buf b = {0};
    make_file(&b, golden1_header, 4, golden1_data, sizeof golden1_data);
    CHECK(b.size == 8 + 152 + 24);
    CHECK(b.data[0] == 152 && b.data[1] == 0 && b.data[7] == 0);
    nn_ckpt ck;
    CHECK_OK(nn_ckpt_open_mem(&ck, b.data, b.size, "golden1"));
    CHECK(ck.n == 2 && ck.n_meta == 1);
    CHECK(nn_ckpt_meta(&ck, "format") && strcmp(nn_ckpt_meta(&ck, "format"), "pt") == 0);
    CHECK(nn_ckpt_meta(&ck, "nope") == NULL);
    nn_ckpt_entry const *w = nn_ckpt_find(&ck, "weight"), *ix = nn_ckpt_find(&ck, "idx");
    CHECK(w && ix && nn_ckpt_find(&ck, "nope") == NULL);
    if (w && ix) {
        CHECK(w->dtype == NN_DT_F32 && w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 2 && w->numel == 4);
        CHECK(w->begin == 8 && w->end == 24 && ix->dtype == NN_DT_I64 && ix->numel == 1);
    }
    float wv[4];
    size_t const s22[] = {2, 2}, s1[] = {1};
    CHECK_OK(nn_ckpt_get(&ck, "weight", NN_DT_F32, 2, s22, wv));
    CHECK(wv[0] == 0.5f && wv[1] == -1.0f && wv[2] == 3.25f && wv[3] == 1e-3f);
    int64_t iv = 0;
    CHECK_OK(nn_ckpt_get(&ck, "idx", NN_DT_I64, 1, s1, &iv));
    CHECK(iv == -7);
    /* errors of nn_ckpt_get, each naming the tensor */
    size_t const s4[] = {4};
    CHECK_STATUS(nn_ckpt_get(&ck, "weight", NN_DT_F32, 1, s4, wv), CLIMZ_ERR_DIMENSION);
    CHECK(strstr(cz_error_message(), "weight") && strstr(cz_error_message(), "[2, 2]") &&
          strstr(cz_error_message(), "[4]") && strstr(cz_error_message(), "golden1"));
    CHECK_STATUS(nn_ckpt_get(&ck, "idx", NN_DT_I32, 1, s1, &iv), CLIMZ_ERR_UNSUPPORTED);
    CHECK(strstr(cz_error_message(), "I64") && strstr(cz_error_message(), "idx"));
    CHECK_STATUS(nn_ckpt_get(&ck, "bias", NN_DT_F32, 1, s1, wv), CLIMZ_ERR_NOT_FOUND);
    CHECK(strstr(cz_error_message(), "bias") && strstr(cz_error_message(), "golden1"));
    nn_ckpt_close(&ck);
    nn_ckpt_close(&ck); /* closing twice is harmless */

    /* Half precision widened exactly: F16 1, -2, 2^-24 (subnormal), 65504, -inf;
     * BF16 1, -3, 2^-133 (subnormal) */
    static const char h2[] = "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
                             "\"bf\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[10,16]}}";
    static const uint8_t d2[16] = {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b, 0x00, 0xfc,
                                   0x80, 0x3f, 0x40, 0xc0, 0x01, 0x00};
    size_t const pad = (8 - strlen(h2) % 8) % 8;
    make_file(&b, h2, pad, d2, sizeof d2);
    CHECK_OK(nn_ckpt_open_mem(&ck, b.data, b.size, "half"));
    float hv[5], bv[3];
    size_t const s5[] = {5}, s3[] = {3};
    CHECK_OK(nn_ckpt_get(&ck, "h", NN_DT_F32, 1, s5, hv));
    CHECK(hv[0] == 1.0f && hv[1] == -2.0f && hv[2] == 0x1p-24f && hv[3] == 65504.0f && isinf(hv[4]) && hv[4] < 0);
    CHECK_OK(nn_ckpt_get(&ck, "bf", NN_DT_F32, 1, s3, bv));
    CHECK(bv[0] == 1.0f && bv[1] == -3.0f && bv[2] == 0x1p-133f);
    uint16_t raw[5];
    CHECK_OK(nn_ckpt_get(&ck, "h", NN_DT_F16, 1, s5, raw)); /* raw copy in its own dtype */
    CHECK(raw[0] == 0x3c00 && raw[4] == 0xfc00);
    CHECK_STATUS(nn_ckpt_get(&ck, "h", NN_DT_F64, 1, s5, raw), CLIMZ_ERR_UNSUPPORTED);
    nn_ckpt_close(&ck);
    cz_buf_free(&b);
}

/* Our writer's bytes for a known input, written out by hand: metadata first, compact JSON,
 * padded with one space to 80 bytes, then the data. */
static void test_golden_write(void) {
    static const char want_header[] =
        "{\"__metadata__\":{\"k\":\"v\"},\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} ";
    static const uint8_t want_data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0}; /* 1, -2.5 */
    CHECK(strlen(want_header) == 80);
    float const t[2] = {1.0f, -2.5f};
    size_t const s2[] = {2};
    nn_ckpt_writer w;
    nn_ckpt_writer_init(&w);
    CHECK_OK(nn_ckpt_put(&w, "t", NN_DT_F32, 1, s2, t));
    CHECK_OK(nn_ckpt_put_meta(&w, "k", "first"));
    CHECK_OK(nn_ckpt_put_meta(&w, "k", "v")); /* the last value wins */
    cz_buf b = {0};
    CHECK_OK(nn_ckpt_encode(&w, &b));
    CHECK(b.size == 8 + 80 + 8);
    if (b.size == 96) {
        CHECK(cz_load_le64(b.data) == 80);
        CHECK(memcmp(b.data + 8, want_header, 80) == 0);
        CHECK(memcmp(b.data + 88, want_data, 8) == 0);
    }
    /* and the file on disk is the same bytes */
    const char *path = path_in_tmp("golden_write.safetensors");
    CHECK_OK(nn_ckpt_write(&w, path));
    uint8_t *fd = NULL;
    size_t fn = 0;
    CHECK_OK(cz_read_file(path, &fd, &fn));
    CHECK(fn == b.size && fd && memcmp(fd, b.data, fn) == 0);
    free(fd);
    /* writer argument errors */
    CHECK_STATUS(nn_ckpt_put(&w, "t", NN_DT_F32, 1, s2, t), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_ckpt_put(&w, "__metadata__", NN_DT_F32, 1, s2, t), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_ckpt_put(&w, "", NN_DT_F32, 1, s2, t), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_ckpt_put(&w, "x", NN_DT_COUNT_, 1, s2, t), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(nn_ckpt_put(&w, "x", NN_DT_F32, 1, s2, NULL), CLIMZ_ERR_INVALID_ARG);
    size_t const s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_STATUS(nn_ckpt_put(&w, "x", NN_DT_F32, 9, s9, t), CLIMZ_ERR_INVALID_ARG);
    /* a failed write leaves nothing behind */
    CHECK(nn_ckpt_write(&w, path_in_tmp("no/such/dir/x.safetensors")) != CLIMZ_OK);
    struct stat st;
    CHECK(stat(path_in_tmp("no/such/dir/x.safetensors"), &st) != 0);
    nn_ckpt_writer_free(&w);
    nn_ckpt_writer_free(NULL);
    cz_buf_free(&b);
}

/* Every dtype, odd sizes, a scalar, an empty tensor: written, read back bit for bit. */
static void test_roundtrip_dtypes(void) {
    unsigned long long s = 99;
    enum { N = 37 };
    float f32[N];
    double f64[N];
    int32_t i32[N];
    uint16_t u16[N], f16[N];
    uint8_t u8[N], bl[N];
    int64_t i64[N];
    int8_t i8[N];
    for (int i = 0; i < N; i++) {
        f32[i] = (float)tu_rand_normal(&s);
        f64[i] = tu_rand_normal(&s) * 1e300;
        i32[i] = (int32_t)tu_rand_u64(&s);
        u16[i] = (uint16_t)tu_rand_u64(&s);
        f16[i] = (uint16_t)(tu_rand_u64(&s) & 0x7bff);
        u8[i] = (uint8_t)tu_rand_u64(&s);
        bl[i] = (uint8_t)(tu_rand_u64(&s) & 1);
        i64[i] = (int64_t)tu_rand_u64(&s);
        i8[i] = (int8_t)tu_rand_u64(&s);
    }
    f32[3] = -0.0f;
    float const scalar = 42.5f;
    size_t const sN[] = {N}, s_1_37[] = {1, N, 1}, s0[] = {3, 0};
    nn_ckpt_writer w;
    nn_ckpt_writer_init(&w);
    CHECK_OK(nn_ckpt_put(&w, "u8", NN_DT_U8, 1, sN, u8));
    CHECK_OK(nn_ckpt_put(&w, "f32", NN_DT_F32, 3, s_1_37, f32));
    CHECK_OK(nn_ckpt_put(&w, "f64", NN_DT_F64, 1, sN, f64));
    CHECK_OK(nn_ckpt_put(&w, "i32", NN_DT_I32, 1, sN, i32));
    CHECK_OK(nn_ckpt_put(&w, "u16", NN_DT_U16, 1, sN, u16));
    CHECK_OK(nn_ckpt_put(&w, "f16", NN_DT_F16, 1, sN, f16));
    CHECK_OK(nn_ckpt_put(&w, "i64", NN_DT_I64, 1, sN, i64));
    CHECK_OK(nn_ckpt_put(&w, "i8", NN_DT_I8, 1, sN, i8));
    CHECK_OK(nn_ckpt_put(&w, "bool", NN_DT_BOOL, 1, sN, bl));
    CHECK_OK(nn_ckpt_put(&w, "scalar", NN_DT_F32, 0, NULL, &scalar));
    CHECK_OK(nn_ckpt_put(&w, "empty", NN_DT_F32, 2, s0, NULL));
    CHECK_OK(nn_ckpt_put(&w, "encoder.blocks.0.attn.qkv.weight \xc3\xa9\xe2\x82\xac", NN_DT_U8, 1, sN, u8));
    CHECK_OK(nn_ckpt_put_meta(&w, "config", "{\"width\": 32, \"windows\": [[24, 24], [12, 48]]}"));
    CHECK_OK(nn_ckpt_put_meta(&w, "note", "quotes \" backslash \\ newline \n unicode \xce\xbb"));
    CHECK_OK(nn_ckpt_put_meta(&w, "empty", ""));
    const char *path = path_in_tmp("dtypes.safetensors");
    CHECK_OK(nn_ckpt_write(&w, path));
    nn_ckpt_writer_free(&w);

    nn_ckpt ck;
    CHECK_OK(nn_ckpt_open(&ck, path));
    CHECK(ck.n == 12 && ck.n_meta == 3);
    CHECK((cz_load_le64(ck.file) + 8) % 8 == 0);
    for (size_t i = 0; i < ck.n; i++) /* natural alignment without padding */
        CHECK_MSG(ck.t[i].begin % nn_dtype_size(ck.t[i].dtype) == 0, "%s at %llu", ck.t[i].name,
                  (unsigned long long)ck.t[i].begin);
    CHECK(strcmp(nn_ckpt_meta(&ck, "note"), "quotes \" backslash \\ newline \n unicode \xce\xbb") == 0);
    CHECK(strcmp(nn_ckpt_meta(&ck, "config"), "{\"width\": 32, \"windows\": [[24, 24], [12, 48]]}") == 0);
    CHECK(strcmp(nn_ckpt_meta(&ck, "empty"), "") == 0);
    float rf32[N];
    double rf64[N];
    int32_t ri32[N];
    uint16_t ru16[N], rf16[N];
    uint8_t ru8[N], rbl[N];
    int64_t ri64[N];
    int8_t ri8[N];
    float rs = 0;
    CHECK_OK(nn_ckpt_get(&ck, "f32", NN_DT_F32, 3, s_1_37, rf32));
    CHECK_OK(nn_ckpt_get(&ck, "f64", NN_DT_F64, 1, sN, rf64));
    CHECK_OK(nn_ckpt_get(&ck, "i32", NN_DT_I32, 1, sN, ri32));
    CHECK_OK(nn_ckpt_get(&ck, "u16", NN_DT_U16, 1, sN, ru16));
    CHECK_OK(nn_ckpt_get(&ck, "f16", NN_DT_F16, 1, sN, rf16));
    CHECK_OK(nn_ckpt_get(&ck, "u8", NN_DT_U8, 1, sN, ru8));
    CHECK_OK(nn_ckpt_get(&ck, "bool", NN_DT_BOOL, 1, sN, rbl));
    CHECK_OK(nn_ckpt_get(&ck, "i64", NN_DT_I64, 1, sN, ri64));
    CHECK_OK(nn_ckpt_get(&ck, "i8", NN_DT_I8, 1, sN, ri8));
    CHECK_OK(nn_ckpt_get(&ck, "scalar", NN_DT_F32, 0, NULL, &rs));
    CHECK_OK(nn_ckpt_get(&ck, "empty", NN_DT_F32, 2, s0, NULL));
    CHECK_OK(nn_ckpt_get(&ck, "encoder.blocks.0.attn.qkv.weight \xc3\xa9\xe2\x82\xac", NN_DT_U8, 1, sN, ru8));
    CHECK(memcmp(f32, rf32, sizeof f32) == 0 && memcmp(f64, rf64, sizeof f64) == 0);
    CHECK(memcmp(i32, ri32, sizeof i32) == 0 && memcmp(u16, ru16, sizeof u16) == 0);
    CHECK(memcmp(f16, rf16, sizeof f16) == 0 && memcmp(u8, ru8, sizeof u8) == 0);
    CHECK(memcmp(bl, rbl, sizeof bl) == 0 && memcmp(i64, ri64, sizeof i64) == 0);
    CHECK(memcmp(i8, ri8, sizeof i8) == 0 && rs == 42.5f);
    CHECK(nn_ckpt_find(&ck, "scalar")->ndim == 0 && nn_ckpt_find(&ck, "empty")->numel == 0);
    /* F16 widened to F32 matches a direct decode of a few values */
    float wide[N];
    CHECK_OK(nn_ckpt_get(&ck, "f16", NN_DT_F32, 1, sN, wide));
    for (int i = 0; i < N; i++) {
        int const e = (f16[i] >> 10) & 31, m = f16[i] & 1023;
        double const want = (f16[i] & 0x8000 ? -1 : 1) * (e ? ldexp(1024 + m, e - 25) : ldexp(m, -24));
        CHECK(wide[i] == (float)want);
    }
    nn_ckpt_close(&ck);
}

/* One corrupt file: the open must fail with `want` and a message containing both the
 * label and `needle`. */
static void expect_bad(const char *label, const uint8_t *data, size_t n, climz_status want, const char *needle) {
    nn_ckpt ck;
    cz_error_clear();
    climz_status const st = nn_ckpt_open_mem(&ck, data, n, label);
    CHECK_MSG(st == want, "%s: got %s, expected %s (%s)", label, climz_status_name(st), climz_status_name(want),
              cz_error_message());
    CHECK_MSG(strstr(cz_error_message(), label) && (!needle || strstr(cz_error_message(), needle)),
              "%s: message '%s' lacks '%s'", label, cz_error_message(), needle ? needle : "");
    printf("  %-17s %-22s %s\n", label, climz_status_name(st), cz_error_message());
    if (st == CLIMZ_OK) nn_ckpt_close(&ck);
    CHECK(ck.t == NULL && ck.path == NULL); /* a failed open leaves ck closed */
}

static void bad_header(const char *label, const char *header, size_t data_bytes, climz_status want,
                       const char *needle) {
    cz_buf b = {0};
    uint8_t zeros[64] = {0};
    make_file(&b, header, (8 - strlen(header) % 8) % 8, zeros, data_bytes);
    expect_bad(label, b.data, b.size, want, needle);
    cz_buf_free(&b);
}

static void test_corrupt(void) {
    cz_buf b = {0};
    make_file(&b, golden1_header, 4, golden1_data, sizeof golden1_data);
    /* short file, header length beyond the file, absurd header length */
    expect_bad("short", b.data, 5, CLIMZ_ERR_TRUNCATED, "too short");
    expect_bad("hdr-trunc", b.data, 100, CLIMZ_ERR_TRUNCATED, "header length 152");
    uint8_t big[16] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'};
    expect_bad("absurd", big, sizeof big, CLIMZ_ERR_CORRUPT, "100 MB");
    /* data cut short: the last tensor lies beyond the end */
    expect_bad("data-trunc", b.data, b.size - 1, CLIMZ_ERR_TRUNCATED, "weight");
    /* every truncation of a valid file fails cleanly with TRUNCATED */
    for (size_t n = 0; n < b.size; n++) {
        nn_ckpt ck;
        climz_status const st = nn_ckpt_open_mem(&ck, b.data, n, "cut");
        CHECK_MSG(st == CLIMZ_ERR_TRUNCATED, "cut at %zu: %s", n, climz_status_name(st));
    }
    /* trailing garbage after the last tensor */
    {
        cz_buf c = {0};
        make_file(&c, golden1_header, 4, golden1_data, sizeof golden1_data);
        put_bytes(&c, "xx", 2);
        expect_bad("trailing", c.data, c.size, CLIMZ_ERR_CORRUPT, "after the last tensor");
        cz_buf_free(&c);
    }
    /* header problems */
    bad_header("not-json", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4,
               CLIMZ_ERR_CORRUPT, "invalid JSON");
    bad_header("not-object", "[1, 2, 3]", 0, CLIMZ_ERR_CORRUPT, "'{'");
    bad_header("garbage-after", "{} x", 0, CLIMZ_ERR_CORRUPT, "invalid JSON");
    bad_header("dup-key", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
               "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, CLIMZ_ERR_CORRUPT, "invalid JSON");
    bad_header("entry-not-object", "{\"a\":5}", 0, CLIMZ_ERR_CORRUPT, "'a'");
    bad_header("no-dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CLIMZ_ERR_CORRUPT, "'a'");
    bad_header("bad-dtype", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
               CLIMZ_ERR_UNSUPPORTED, "F8_E4M3");
    bad_header("neg-shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
               CLIMZ_ERR_CORRUPT, "'a'");
    bad_header("real-shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
               CLIMZ_ERR_CORRUPT, "'a'");
    bad_header("overflow-shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
               "\"data_offsets\":[0,4]}}", 4, CLIMZ_ERR_CORRUPT, "overflows");
    bad_header("bad-offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
               CLIMZ_ERR_CORRUPT, "data_offsets");
    bad_header("reversed-offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
               CLIMZ_ERR_CORRUPT, "end before begin");
    bad_header("size-mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
               CLIMZ_ERR_CORRUPT, "needs 24 bytes");
    bad_header("outside", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[1000000,1000016]}}", 16,
               CLIMZ_ERR_TRUNCATED, "'w'");
    bad_header("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, CLIMZ_ERR_CORRUPT, "overlap");
    bad_header("same-range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, CLIMZ_ERR_CORRUPT, "overlap");
    bad_header("gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, CLIMZ_ERR_CORRUPT,
               "unused bytes");
    bad_header("meta-not-string", "{\"__metadata__\":{\"k\":1}}", 0, CLIMZ_ERR_CORRUPT, "'k'");
    bad_header("meta-not-object", "{\"__metadata__\":[]}", 0, CLIMZ_ERR_CORRUPT, "__metadata__");
    bad_header("bad-utf8", "{\"\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
               CLIMZ_ERR_CORRUPT, "invalid JSON");
    /* a valid empty file: no tensors at all */
    {
        cz_buf c = {0};
        make_file(&c, "{}", 6, NULL, 0);
        nn_ckpt ck;
        CHECK_OK(nn_ckpt_open_mem(&ck, c.data, c.size, "empty"));
        CHECK(ck.n == 0 && ck.n_meta == 0);
        nn_ckpt_close(&ck);
        cz_buf_free(&c);
    }
    /* random single-byte damage anywhere: never crashes or reads out of bounds (ASan), and
     * damage to the length or the JSON structure is reported */
    unsigned long long s = 5;
    int rejected = 0;
    for (int k = 0; k < 3000; k++) {
        cz_buf c = {0};
        put_bytes(&c, b.data, b.size);
        size_t const at = (size_t)(tu_rand_u64(&s) % c.size);
        c.data[at] ^= (uint8_t)(1 + tu_rand_u64(&s) % 255);
        nn_ckpt ck;
        if (nn_ckpt_open_mem(&ck, c.data, c.size, "flip") == CLIMZ_OK) nn_ckpt_close(&ck);
        else rejected++;
        cz_buf_free(&c);
    }
    CHECK(rejected > 1000);
    /* a missing file */
    nn_ckpt ck;
    CHECK_STATUS(nn_ckpt_open(&ck, path_in_tmp("does-not-exist.safetensors")), CLIMZ_ERR_NOT_FOUND);
    CHECK(strstr(cz_error_message(), "does-not-exist"));
    nn_ckpt_close(&ck);
    /* an empty file on disk */
    const char *ep = path_in_tmp("zero.safetensors");
    FILE *f = fopen(ep, "wb");
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK_STATUS(nn_ckpt_open(&ck, ep), CLIMZ_ERR_TRUNCATED);
    cz_buf_free(&b);
}

/* A small model: 3 groups, shapes of every rank. */
static void model(nn_params *p, int training, uint64_t seed) {
    size_t const s_qkv[] = {96, 32}, s_b[] = {96}, s_conv[] = {32, 3, 11, 10}, s_pos[] = {1, 64, 32}, s_q[] = {4};
    nn_params_init(p);
    CHECK_OK(nn_params_add(p, "encoder.pos_embed", 3, s_pos, "encoder", NULL));
    CHECK_OK(nn_params_add(p, "encoder.patch_embed.proj.weight", 4, s_conv, "encoder", NULL));
    CHECK_OK(nn_params_add(p, "decoder.blocks.0.attn.qkv.weight", 2, s_qkv, "decoder", NULL));
    CHECK_OK(nn_params_add(p, "decoder.blocks.0.attn.qkv.bias", 1, s_b, "decoder", NULL));
    CHECK_OK(nn_params_add(p, "entropy.quantiles", 1, s_q, "entropy", NULL));
    CHECK_OK(nn_params_alloc(p, training));
    for (size_t i = 0; i < p->n; i++) CHECK_OK(nn_params_init_normal(p, i, seed, 0.0f, 0.5f));
}

static void test_params_checkpoint(void) {
    nn_params a, b;
    model(&a, 0, 1);
    model(&b, 0, 2);
    CHECK(memcmp(a.data, b.data, a.numel * sizeof(float)) != 0);
    const char *path = path_in_tmp("model.safetensors");
    const char *const kv[] = {"climz.config", "{\"width\":32}", "climz.norm", "[1.5, 2.5]", NULL};
    CHECK_OK(nn_checkpoint_save(path, &a, NULL, kv));
    CHECK_OK(nn_checkpoint_load(path, &b, NULL));
    CHECK(memcmp(a.data, b.data, a.numel * sizeof(float)) == 0);
    nn_ckpt ck;
    CHECK_OK(nn_ckpt_open(&ck, path));
    CHECK(ck.n == 5 && strcmp(nn_ckpt_meta(&ck, "climz.norm"), "[1.5, 2.5]") == 0);
    CHECK(nn_ckpt_meta(&ck, NN_CKPT_OPTIM_KEY) == NULL);
    nn_ckpt_close(&ck);
    /* hash: SHA-256 of the file; same parameters, same bytes, same hash */
    uint8_t d1[32], d2[32];
    char hex[65];
    CHECK_OK(nn_checkpoint_hash(path, d1, hex));
    CHECK(strlen(hex) == 64);
    uint8_t *fd = NULL;
    size_t fn = 0;
    CHECK_OK(cz_read_file(path, &fd, &fn));
    cz_sha256 sh;
    cz_sha256_init(&sh);
    cz_sha256_update(&sh, fd, fn);
    cz_sha256_final(&sh, d2);
    CHECK(memcmp(d1, d2, 32) == 0);
    free(fd);
    const char *path2 = path_in_tmp("model2.safetensors");
    CHECK_OK(nn_checkpoint_save(path2, &b, NULL, kv));
    CHECK_OK(nn_checkpoint_hash(path2, d2, NULL));
    CHECK(memcmp(d1, d2, 32) == 0);
    b.data[7] += 1.0f;
    CHECK_OK(nn_checkpoint_save(path2, &b, NULL, kv));
    CHECK_OK(nn_checkpoint_hash(path2, d2, NULL));
    CHECK(memcmp(d1, d2, 32) != 0);
    CHECK_STATUS(nn_checkpoint_hash(path_in_tmp("nope"), d2, NULL), CLIMZ_ERR_NOT_FOUND);

    /* a model that does not match the file: missing tensor, wrong shape, wrong dtype */
    nn_params c;
    nn_params_init(&c);
    size_t const s_qkv[] = {96, 32}, s_wrong[] = {32, 96}, s_missing[] = {3};
    CHECK_OK(nn_params_add(&c, "decoder.blocks.0.attn.qkv.weight", 2, s_qkv, "decoder", NULL));
    CHECK_OK(nn_params_add(&c, "decoder.blocks.0.attn.proj.weight", 1, s_missing, "decoder", NULL));
    CHECK_OK(nn_params_alloc(&c, 0));
    CHECK_STATUS(nn_checkpoint_load(path, &c, NULL), CLIMZ_ERR_NOT_FOUND);
    CHECK(strstr(cz_error_message(), "decoder.blocks.0.attn.proj.weight") && strstr(cz_error_message(), path));
    nn_params_free(&c);
    nn_params_init(&c);
    CHECK_OK(nn_params_add(&c, "decoder.blocks.0.attn.qkv.weight", 2, s_wrong, "decoder", NULL));
    CHECK_OK(nn_params_alloc(&c, 0));
    CHECK_STATUS(nn_checkpoint_load(path, &c, NULL), CLIMZ_ERR_DIMENSION);
    CHECK(strstr(cz_error_message(), "qkv.weight") && strstr(cz_error_message(), "[96, 32]") &&
          strstr(cz_error_message(), "[32, 96]"));
    nn_params_free(&c);
    /* an I32 tensor where the model wants F32 */
    nn_ckpt_writer w;
    nn_ckpt_writer_init(&w);
    int32_t iv[96 * 32] = {0};
    CHECK_OK(nn_ckpt_put(&w, "decoder.blocks.0.attn.qkv.weight", NN_DT_I32, 2, s_qkv, iv));
    const char *path3 = path_in_tmp("int.safetensors");
    CHECK_OK(nn_ckpt_write(&w, path3));
    nn_ckpt_writer_free(&w);
    nn_params_init(&c);
    CHECK_OK(nn_params_add(&c, "decoder.blocks.0.attn.qkv.weight", 2, s_qkv, "decoder", NULL));
    CHECK_OK(nn_params_alloc(&c, 1));
    CHECK_STATUS(nn_checkpoint_load(path3, &c, NULL), CLIMZ_ERR_UNSUPPORTED);
    CHECK(strstr(cz_error_message(), "I32"));
    /* no optimizer state in a model file */
    CHECK_OK(nn_ckpt_open(&ck, path));
    nn_adamw o;
    nn_adamw_init(&o, NULL);
    CHECK_STATUS(nn_ckpt_get_optim(&ck, &c, &o), CLIMZ_ERR_NOT_FOUND);
    nn_ckpt_close(&ck);
    nn_params_free(&c);
    /* an inference store cannot save optimizer state */
    CHECK_STATUS(nn_checkpoint_save(path2, &a, &o, NULL), CLIMZ_ERR_INVALID_ARG);
    nn_params_free(&a);
    nn_params_free(&b);
}

int main(void) {
    tmp = tu_tmpdir("test_checkpoint");
    test_golden_read();
    test_golden_write();
    test_roundtrip_dtypes();
    test_corrupt();
    test_params_checkpoint();
    return tu_finish();
}
