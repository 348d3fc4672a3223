/* sha256.c — SHA-256 (FIPS 180-4), used to identify model and context files: Nettle's, which
 * uses the CPU's SHA instructions where there are some (a 5 MB model is hashed on every load). */
#include "cz_common.h"

#include <stdio.h>

void cz_sha256_init(cz_sha256 *s) { sha256_init(&s->ctx); }

void cz_sha256_update(cz_sha256 *s, const void *data, size_t n) { sha256_update(&s->ctx, n, data); }

void cz_sha256_final(cz_sha256 *s, uint8_t out[32]) { sha256_digest(&s->ctx, SHA256_DIGEST_SIZE, out); }

void cz_sha256_hex(const uint8_t digest[32], char hex[65]) {
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

climz_status cz_sha256_file(const char *path, uint8_t out[32]) {
    FILE *f = fopen(path, "rb");
    CZ_RETURN_IF(!f, CLIMZ_ERR_NOT_FOUND,
                 "%s: cannot open for reading", path);
    cz_sha256 s;
    cz_sha256_init(&s);
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) cz_sha256_update(&s, buf, n);
    int const err = ferror(f);
    fclose(f);
    CZ_RETURN_IF(err, CLIMZ_ERR_IO, "%s: read error", path);
    cz_sha256_final(&s, out);
    return CLIMZ_OK;
}
