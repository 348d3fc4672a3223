/* outpath.c — output-path safety: an output never replaces one of its own inputs nor
 * anything but a regular file, and the temporary files beside outputs are tracked so that
 * a signal handler can remove them (and a later run removes those a killed process left).
 *
 * Temporary names are "<path>.tmp.<pid>.XXXXXX": the pid of the writing process is in the
 * name, so a run to the same output can tell a temporary of a process that no longer
 * exists (SIGKILL, power loss) and remove it. */
#include "cz_common.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- same file / regular file ------------------------------------------------------- */

climz_status cz_output_check(const char *out, const char *const *inputs, int ninputs) {
    CZ_RETURN_IF(!out || !*out, CLIMZ_ERR_INVALID_ARG, "no output path");
    struct stat so;
    if (stat(out, &so) != 0) {
        /* a dangling symlink or a path that does not exist yet: a fresh file, nothing to lose */
        return CLIMZ_OK;
    }
    CZ_RETURN_IF(S_ISDIR(so.st_mode), CLIMZ_ERR_INVALID_ARG, "%s: the output is a directory", out);
    CZ_RETURN_IF(!S_ISREG(so.st_mode), CLIMZ_ERR_INVALID_ARG,
                 "%s: the output exists and is not a regular file (device, FIFO or socket); "
                 "climz replaces only regular files", out);
    for (int i = 0; i < ninputs; i++) {
        struct stat si;
        if (!inputs[i] || stat(inputs[i], &si) != 0) continue;
        CZ_RETURN_IF(si.st_dev == so.st_dev && si.st_ino == so.st_ino, CLIMZ_ERR_INVALID_ARG,
                     "%s: the output is the same file as the input %s; refusing to overwrite "
                     "it", out, inputs[i]);
    }
    return CLIMZ_OK;
}

/* Checked again just before the rename: what the path names now must be a regular file, a
 * symlink to one (the link is replaced, its target untouched) or nothing. */
climz_status cz_output_replaceable(const char *out) {
    struct stat st;
    if (lstat(out, &st) != 0) return CLIMZ_OK;
    if (S_ISLNK(st.st_mode) && stat(out, &st) != 0) return CLIMZ_OK;
    CZ_RETURN_IF(!S_ISREG(st.st_mode), CLIMZ_ERR_INVALID_ARG,
                 "%s: the output exists and is not a regular file; climz replaces only regular "
                 "files", out);
    return CLIMZ_OK;
}

/* ---- temporary files ---------------------------------------------------------------- */

#define CZ_MAX_TEMPS 16
#define CZ_TEMP_PATH_MAX 4096

static char temp_path[CZ_MAX_TEMPS][CZ_TEMP_PATH_MAX];
static volatile sig_atomic_t temp_used[CZ_MAX_TEMPS];
static pthread_mutex_t temp_lock = PTHREAD_MUTEX_INITIALIZER;

void cz_temp_register(const char *path) {
    if (strlen(path) >= CZ_TEMP_PATH_MAX) return;
    pthread_mutex_lock(&temp_lock);
    for (int i = 0; i < CZ_MAX_TEMPS; i++) {
        if (temp_used[i]) continue;
        memcpy(temp_path[i], path, strlen(path) + 1);
        temp_used[i] = 1; /* set after the copy: a handler sees a whole path or none */
        break;
    }
    pthread_mutex_unlock(&temp_lock);
}

void cz_temp_forget(const char *path) {
    pthread_mutex_lock(&temp_lock);
    for (int i = 0; i < CZ_MAX_TEMPS; i++) {
        if (temp_used[i] && !strcmp(temp_path[i], path)) {
            temp_used[i] = 0;
            break;
        }
    }
    pthread_mutex_unlock(&temp_lock);
}

void cz_temp_remove(const char *path) {
    unlink(path);
    cz_temp_forget(path);
}

/* async-signal-safe: only unlink() and reads of the static table */
void cz_temp_remove_all(void) {
    for (int i = 0; i < CZ_MAX_TEMPS; i++) {
        if (temp_used[i]) {
            unlink(temp_path[i]);
            temp_used[i] = 0;
        }
    }
}

/* Removes "<base>.tmp.<pid>.XXXXXX" files beside path whose pid names no live process. */
void cz_temp_remove_stale(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[CZ_TEMP_PATH_MAX];
    if (slash) snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    DIR *d = opendir(dir);
    if (!d) return;
    size_t const bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp.", 5) != 0) continue;
        const char *p = n + bl + 5;
        char *end;
        errno = 0;
        long const pid = strtol(p, &end, 10);
        if (end == p || errno || pid <= 0 || *end != '.' || strlen(end + 1) != 6) continue;
        if (pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to tell */
        char full[2 * CZ_TEMP_PATH_MAX];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode)) unlink(full);
    }
    closedir(d);
}
