/* file.c — whole-file reads and atomic (temp + rename) output. */
#include "cz_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

climz_status cz_status_from_errno(int err) {
    switch (err) {
    case 0: return CLIMZ_OK;
    case ENOSPC:
    case EFBIG:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return CLIMZ_ERR_NO_SPACE;
    case ENOENT: return CLIMZ_ERR_NOT_FOUND;
    case ENOMEM: return CLIMZ_ERR_ALLOC;
    default: return CLIMZ_ERR_IO;
    }
}

climz_status cz_read_file(const char *path, uint8_t **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    CZ_RETURN_IF(!f, errno == ENOENT ? CLIMZ_ERR_NOT_FOUND : CLIMZ_ERR_IO, "%s: cannot open: %s",
                 path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cz_error(CLIMZ_ERR_IO, "%s: not a regular file", path);
    }
    size_t const n = (size_t)st.st_size;
    uint8_t *d = cz_malloc(n);
    if (!d) {
        fclose(f);
        return cz_error(CLIMZ_ERR_ALLOC, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t const got = fread(d, 1, n, f);
    fclose(f);
    if (got != n) {
        free(d);
        return cz_error(CLIMZ_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    *data = d;
    *size = n;
    return CLIMZ_OK;
}

climz_status cz_temp_path_beside(const char *path, char **tmp) {
    /* a temporary that a killed run to the same output left behind */
    cz_temp_remove_stale(path);
    size_t const n = strlen(path) + 40;
    char *t = malloc(n);
    CZ_RETURN_IF(!t, CLIMZ_ERR_ALLOC, "out of memory");
    snprintf(t, n, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    int const fd = mkstemp(t);
    if (fd < 0) {
        int const e = errno;
        free(t);
        return cz_error(e == ENOENT ? CLIMZ_ERR_NOT_FOUND : cz_status_from_errno(e),
                        "%s: cannot create output: %s", path, strerror(e));
    }
    /* mkstemp creates 0600; give the output the permissions any new file would get */
    mode_t const mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) { /* keep 0600: a stricter mode is harmless */ }
    close(fd);
    cz_temp_register(t);
    *tmp = t;
    return CLIMZ_OK;
}

climz_status cz_rename_into_place(const char *tmp, const char *path) {
    climz_status const ok = cz_output_replaceable(path);
    if (ok != CLIMZ_OK) {
        cz_temp_remove(tmp);
        return ok;
    }
    if (rename(tmp, path) != 0) {
        int const e = errno;
        cz_temp_remove(tmp);
        return cz_error(cz_status_from_errno(e), "%s: cannot rename output into place: %s", path,
                        strerror(e));
    }
    cz_temp_forget(tmp);
    return CLIMZ_OK;
}

climz_status cz_atomic_open(cz_atomic *a, const char *path) {
    memset(a, 0, sizeof *a);
    CZ_FORWARD(cz_temp_path_beside(path, &a->tmp_path));
    a->final_path = cz_strdup(path);
    a->f = fopen(a->tmp_path, "wb");
    if (!a->f || !a->final_path) {
        int const e = errno;
        cz_atomic_abort(a);
        return cz_error(cz_status_from_errno(e), "%s: cannot open output: %s", path, strerror(e));
    }
    return CLIMZ_OK;
}

climz_status cz_atomic_write(cz_atomic *a, const void *p, size_t n) {
    CZ_RETURN_IF(!a->f, CLIMZ_ERR_IO, "write to a closed output");
    if (n && fwrite(p, 1, n, a->f) != n) {
        int const e = errno;
        return cz_error(cz_status_from_errno(e), "%s: write failed: %s", a->final_path, strerror(e));
    }
    return CLIMZ_OK;
}

climz_status cz_atomic_commit(cz_atomic *a) {
    climz_status st = CLIMZ_OK;
    int e = 0;
    if (fflush(a->f) != 0 || ferror(a->f)) e = errno ? errno : EIO;
    if (fclose(a->f) != 0 && !e) e = errno ? errno : EIO;
    a->f = NULL;
    if (e) {
        st = cz_error(cz_status_from_errno(e), "%s: write failed: %s", a->final_path, strerror(e));
        cz_atomic_abort(a);
        return st;
    }
    st = cz_rename_into_place(a->tmp_path, a->final_path);
    free(a->tmp_path);
    free(a->final_path);
    a->tmp_path = a->final_path = NULL;
    return st;
}

void cz_atomic_abort(cz_atomic *a) {
    if (a->f) fclose(a->f);
    if (a->tmp_path) cz_temp_remove(a->tmp_path);
    free(a->tmp_path);
    free(a->final_path);
    memset(a, 0, sizeof *a);
}
