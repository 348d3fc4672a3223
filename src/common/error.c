/* error.c — status names, messages and the thread-local error slot. */
#include "cz_common.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char cz_msg[1024];

static const struct {
    const char *name;
    const char *message;
} cz_status_table[CLIMZ_STATUS_COUNT_] = {
    [CLIMZ_OK] = {"CLIMZ_OK", "no error"},
    [CLIMZ_ERR_GENERIC] = {"CLIMZ_ERR_GENERIC", "error"},
    [CLIMZ_ERR_ALLOC] = {"CLIMZ_ERR_ALLOC", "out of memory"},
    [CLIMZ_ERR_IO] = {"CLIMZ_ERR_IO", "input/output error"},
    [CLIMZ_ERR_CORRUPT] = {"CLIMZ_ERR_CORRUPT", "corrupt input"},
    [CLIMZ_ERR_CHECKSUM] = {"CLIMZ_ERR_CHECKSUM", "checksum mismatch"},
    [CLIMZ_ERR_TRUNCATED] = {"CLIMZ_ERR_TRUNCATED", "truncated input"},
    [CLIMZ_ERR_DST_TOO_SMALL] = {"CLIMZ_ERR_DST_TOO_SMALL", "destination buffer too small"},
    [CLIMZ_ERR_UNSUPPORTED] = {"CLIMZ_ERR_UNSUPPORTED", "unsupported input"},
    [CLIMZ_ERR_NOT_FOUND] = {"CLIMZ_ERR_NOT_FOUND", "not found"},
    [CLIMZ_ERR_INVALID_ARG] = {"CLIMZ_ERR_INVALID_ARG", "invalid argument"},
    [CLIMZ_ERR_VERSION] = {"CLIMZ_ERR_VERSION", "unsupported format version"},
    [CLIMZ_ERR_BOUND] = {"CLIMZ_ERR_BOUND", "error bound not met"},
    [CLIMZ_ERR_MODEL_MISMATCH] = {"CLIMZ_ERR_MODEL_MISMATCH", "model or context file mismatch"},
    [CLIMZ_ERR_NETCDF] = {"CLIMZ_ERR_NETCDF", "netCDF library error"},
    [CLIMZ_ERR_GRIB] = {"CLIMZ_ERR_GRIB", "ecCodes (GRIB) library error"},
    [CLIMZ_ERR_NO_SPACE] = {"CLIMZ_ERR_NO_SPACE", "no space left on device or file too large"},
    [CLIMZ_ERR_DIMENSION] = {"CLIMZ_ERR_DIMENSION", "wrong or inconsistent dimensions"},
    [CLIMZ_ERR_EMPTY] = {"CLIMZ_ERR_EMPTY", "empty input"},
    [CLIMZ_ERR_DETERMINISM] = {"CLIMZ_ERR_DETERMINISM", "decoder entropy model differs from encoder"},
};

const char *climz_status_name(climz_status s) {
    if ((unsigned)s >= CLIMZ_STATUS_COUNT_) return "CLIMZ_ERR_UNKNOWN";
    return cz_status_table[s].name;
}

const char *climz_status_message(climz_status s) {
    if ((unsigned)s >= CLIMZ_STATUS_COUNT_) return "unknown status code";
    return cz_status_table[s].message;
}

/* Length of the valid UTF-8 sequence of a character at p (1..4), 0 if it is not one. */
static size_t utf8_len(const unsigned char *p) {
    unsigned const c = p[0];
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (c >= 0xf5 || c < 0xc2) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
}

/* Names read from files (attributes, variables) end up in messages: control bytes and
 * bytes that are not UTF-8 are written as \xNN, so a damaged file cannot drive the
 * terminal. */
static void escape_message(char *msg, size_t cap) {
    char out[sizeof cz_msg];
    size_t o = 0;
    cap = cap < sizeof out ? cap : sizeof out;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 5 < cap;) {
        size_t const u = *p >= 0x80 ? utf8_len(p) : 0;
        if (u) {
            if (o + u + 1 >= cap) break;
            memcpy(out + o, p, u);
            o += u, p += u;
        } else if (*p < 0x20 || *p >= 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *p++);
        } else {
            out[o++] = (char)*p++;
        }
    }
    out[o] = 0;
    memcpy(msg, out, o + 1);
}

climz_status cz_error(climz_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cz_msg, sizeof cz_msg, fmt, ap);
    va_end(ap);
    escape_message(cz_msg, sizeof cz_msg);
    return code;
}

climz_status cz_error_prefix(climz_status code, const char *fmt, ...) {
    char prefix[256], out[sizeof cz_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    const char *old = cz_msg[0] ? cz_msg : climz_status_message(code);
    size_t const pl = strlen(prefix), room = sizeof out - pl - 3;
    size_t ol = strlen(old);
    ol = ol < room ? ol : room;
    memcpy(out, prefix, pl);
    memcpy(out + pl, ": ", 2);
    memcpy(out + pl + 2, old, ol);
    out[pl + 2 + ol] = 0;
    memcpy(cz_msg, out, pl + 3 + ol);
    escape_message(cz_msg, sizeof cz_msg);
    return code;
}

const char *cz_error_message(void) { return cz_msg; }
void cz_error_clear(void) { cz_msg[0] = 0; }
