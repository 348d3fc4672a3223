/* io_open.c — format detection by magic bytes and dispatch to the readers. Anything that is
 * not NetCDF-3/4, GRIB or a GrADS descriptor is refused with CLIMZ_ERR_UNSUPPORTED and a
 * message that says what the file looks like and why it is refused. */
#include "io/io_readers.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define IO_SNIFF 4096

static int starts(const uint8_t *b, size_t n, const char *m, size_t mlen) {
    return n >= mlen && memcmp(b, m, mlen) == 0;
}

/* printable text (UTF-8 bytes allowed), no NUL */
static int looks_text(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t const c = b[i];
        if (c == 0 || (c < 32 && c != '\n' && c != '\r' && c != '\t' && c != '\f')) return 0;
    }
    return 1;
}

/* a GrADS descriptor: text whose lines before DSET are blank, comments ('*') or other
 * descriptor keywords */
static int looks_grads(const uint8_t *b, size_t n) {
    if (!looks_text(b, n)) return 0;
    static const char *const kw[] = {"dset", "title", "undef", "options", "dtype", "xdef", "ydef",
                                     "zdef", "tdef", "vars", "index", "stnmap", "pdef", "edef",
                                     "chsub", "fileheader", "theader", "xyheader", "unpack", NULL};
    size_t i = 0;
    while (i < n) {
        while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) i++;
        if (i >= n) break;
        size_t j = i;
        while (j < n && b[j] != '\n') j++;
        if (b[i] != '*' && b[i] != '@') {
            size_t w = i;
            while (w < j && isalpha(b[w])) w++;
            int known = 0;
            for (const char *const *k = kw; *k; k++)
                if (w - i == strlen(*k) && strncasecmp((const char *)b + i, *k, w - i) == 0) known = 1;
            if (!known) return 0;
            if (w - i == 4 && strncasecmp((const char *)b + i, "dset", 4) == 0) return 1;
        }
        i = j;
    }
    return 0;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Is path the data file of a GrADS descriptor next to it? Fills ctl with its name. */
static int find_descriptor(const char *path, char *ctl, size_t cap) {
    const char *base = io_base_name(path);
    size_t const dlen = (size_t)(base - path);
    /* same stem: model.dat -> model.ctl */
    const char *dot = strrchr(base, '.');
    size_t const stem = dot ? (size_t)(dot - base) : strlen(base);
    if (dlen + stem + 5 < cap) {
        snprintf(ctl, cap, "%.*s%.*s.ctl", (int)dlen, path, (int)stem, base);
        if (file_exists(ctl)) {
            snprintf(ctl, cap, "%.*s.ctl", (int)stem, base);
            return 1;
        }
    }
    /* a descriptor in the same directory whose DSET names this file */
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", dlen ? (int)dlen : 1, dlen ? path : ".");
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0, seen = 0;
    struct dirent *e;
    while (!found && seen < 256 && (e = readdir(d))) {
        size_t const l = strlen(e->d_name);
        if (l < 5 || strcasecmp(e->d_name + l - 4, ".ctl") != 0) continue;
        seen++;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "rb");
        if (!f) continue;
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char *s = line;
            while (*s == ' ' || *s == '\t') s++;
            if (strncasecmp(s, "dset", 4) != 0) continue;
            s += 4;
            while (*s == ' ' || *s == '\t') s++;
            if (*s == '^') s++;
            s[strcspn(s, " \t\r\n")] = 0;
            if (strcmp(io_base_name(s), base) == 0) {
                snprintf(ctl, cap, "%s", e->d_name);
                found = 1;
            }
            break;
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

/* The format of path, or an UNSUPPORTED / NOT_FOUND / IO error saying why not. */
static climz_status sniff(const char *path, cz_format *fmt) {
    struct stat st;
    if (stat(path, &st) != 0) {
        int const e = errno;
        return cz_error(e == ENOENT || e == ENOTDIR ? CLIMZ_ERR_NOT_FOUND : CLIMZ_ERR_IO,
                        "%s: cannot open: %s", path, strerror(e));
    }
    CZ_RETURN_IF(S_ISDIR(st.st_mode), CLIMZ_ERR_UNSUPPORTED,
                 "%s: unsupported because it is a directory, not a data file", path);
    CZ_RETURN_IF(!S_ISREG(st.st_mode), CLIMZ_ERR_UNSUPPORTED,
                 "%s: unsupported because it is not a regular file (a device, pipe or socket)", path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int const e = errno;
        return cz_error(e == ENOENT ? CLIMZ_ERR_NOT_FOUND : CLIMZ_ERR_IO, "%s: cannot open: %s",
                        path, strerror(e));
    }
    uint8_t b[IO_SNIFF];
    size_t const n = fread(b, 1, sizeof b, f);
    int const rerr = ferror(f);
    fclose(f);
    CZ_RETURN_IF(rerr, CLIMZ_ERR_IO, "%s: read error", path);
    CZ_RETURN_IF(n == 0, CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because the file is empty", path);

    if (starts(b, n, "CDF", 3) && n >= 4) {
        if (b[3] == 1 || b[3] == 2 || b[3] == 5) {
            *fmt = CZ_FMT_NETCDF3;
            return CLIMZ_OK;
        }
        return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it starts like NetCDF-3 "
                        "('CDF') but with unknown version byte %u", path, b[3]);
    }
    /* HDF5 superblock at 0, 512, 1024 or 2048 (a user block may come first) */
    for (size_t off = 0; off + 8 <= n; off = off ? off * 2 : 512) {
        if (memcmp(b + off, "\x89HDF\r\n\x1a\n", 8) == 0) {
            *fmt = CZ_FMT_NETCDF4;
            return CLIMZ_OK;
        }
    }
    /* GRIB at the start, or after a short text header (a WMO bulletin heading), which
     * ecCodes skips; never inside a text file that merely mentions GRIB */
    for (size_t i = 0; i + 8 <= n && i <= 256; i++) {
        if (memcmp(b + i, "GRIB", 4) != 0) continue;
        if (i && (!looks_text(b, i) || looks_text(b, n))) break;
        if (b[i + 7] != 1 && b[i + 7] != 2)
            return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it is GRIB edition "
                            "%u (only editions 1 and 2 are read)", path, b[i + 7]);
        *fmt = CZ_FMT_GRIB;
        return CLIMZ_OK;
    }
    if (looks_grads(b, n)) {
        *fmt = CZ_FMT_GRADS;
        return CLIMZ_OK;
    }

    /* refusals, as precise as we can make them */
    if (starts(b, n, "BUFR", 4))
        return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it is BUFR (observation "
                        "reports), not gridded data", path);
    if (starts(b, n, "\x1f\x8b", 2) || starts(b, n, "\x28\xb5\x2f\xfd", 4) ||
        starts(b, n, "BZh", 3) || starts(b, n, "\xfd" "7zXZ", 5))
        return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it is a compressed file "
                        "(gzip/zstd/bzip2/xz): decompress it first", path);
    if (starts(b, n, "\x0e\x03\x13\x01", 4))
        return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it is HDF4, not NetCDF-4 "
                        "(HDF5)", path);
    if (starts(b, n, "CLZ", 3))
        return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it looks like a climz "
                        "file: decompress it first", path);
    char ctl[512];
    if (!looks_text(b, n) && find_descriptor(path, ctl, sizeof ctl))
        return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it is raw binary without "
                        "descriptor: open %s (the GrADS descriptor that describes it)", path, ctl);
    if (looks_text(b, n)) {
        if (starts(b, n, "netcdf ", 7))
            return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it is CDL text "
                            "(ncdump output): make a NetCDF file with ncgen first", path);
        return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because it is a text file, not "
                        "NetCDF, GRIB or a GrADS descriptor (a .ctl with a DSET line)", path);
    }
    return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: unsupported because the format is not recognised "
                    "(no NetCDF 'CDF' or HDF5 signature, no 'GRIB' marker, not a GrADS "
                    "descriptor)", path);
}

climz_status io_open(const char *path, cz_dataset **out) { return io_open_ex(path, 0, out); }

climz_status io_open_ex(const char *path, unsigned flags, cz_dataset **out) {
    *out = NULL;
    CZ_RETURN_IF(!path, CLIMZ_ERR_INVALID_ARG, "no input path");
    cz_format fmt;
    CZ_FORWARD(sniff(path, &fmt));
    cz_dataset *ds;
    CZ_FORWARD(io_dataset_new(&ds));
    climz_status st = CLIMZ_OK;
    ds->format = fmt;
    ds->path = cz_strdup(path);
    if (!ds->path) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "out of memory");
    switch (fmt) {
    case CZ_FMT_NETCDF3:
    case CZ_FMT_NETCDF4: st = io_read_netcdf(path, ds, flags & IO_OPEN_LAZY ? (int)(flags & (IO_OPEN_LAZY | IO_OPEN_NO_SCAN)) : 0); break;
    case CZ_FMT_GRIB: st = io_read_grib(path, ds); break;
    case CZ_FMT_GRADS: st = io_read_grads(path, ds); break;
    }
    if (st) goto fail;
    *out = ds;
    return CLIMZ_OK;
fail:
    if (!strstr(cz_error_message(), path)) cz_error_prefix(st, "%s", path);
    io_free(ds);
    return st;
}
