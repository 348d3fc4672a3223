/* replay_main.c — runs a decoder fuzz target over a corpus directory in the normal test
 * run, without libFuzzer: FUZZ_ONE (fuzz_clz_decode_one: test_fuzz_replay, or
 * fuzz_latent_decode_one: test_fuzz_latent_replay) over FUZZ_CORPUS.
 *
 * File names say what each seed must give (a golden test of valid and malformed files):
 *   ok-*      the plain pass must succeed: opens, every chunk CRC, schema and masks decode;
 *   err-NAME-*  it must fail with CLIMZ_ERR_NAME (e.g. err-CHECKSUM-chunk.clz);
 *   anything else (raw streams, inputs the fuzzer found) must just not crash.
 * Usage: test_fuzz_replay [DIR|FILE]...   (default: the committed corpus of the target) */
#include "fuzz_targets.h"
#include "testutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_ONE /* the container target unless the build names another */
#define FUZZ_ONE fuzz_clz_decode_one
#define FUZZ_CORPUS "corpus"
#define FUZZ_MIN_FILES 10 /* what the committed corpus holds at least: inputs, decoding seeds, */
#define FUZZ_MIN_OK 3     /* seeds that must fail */
#define FUZZ_MIN_ERR 5
#endif

static int nfiles, nok, nerr;

static void replay_file(const char *path) {
    uint8_t *d;
    size_t n;
    climz_status st = cz_read_file(path, &d, &n);
    CHECK_MSG(st == CLIMZ_OK, "%s: cannot read", path);
    if (st != CLIMZ_OK) return;
    /* an exact-size copy, so that ASan sees any over-read */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, d, n);
    free(d);
    st = FUZZ_ONE(copy, n);
    free(copy);
    nfiles++;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "ok-", 3) == 0) {
        nok++;
        CHECK_MSG(st == CLIMZ_OK, "%s: %s (%s)", base, climz_status_name(st), cz_error_message());
    } else if (strncmp(base, "err-", 4) == 0) {
        nerr++;
        char want[64] = "CLIMZ_ERR_";
        const char *dash = strchr(base + 4, '-');
        size_t const len = dash ? (size_t)(dash - (base + 4)) : 0;
        if (len && len < sizeof want - 11) memcpy(want + 10, base + 4, len);
        want[10 + len] = 0;
        CHECK_MSG(strcmp(climz_status_name(st), want) == 0, "%s: %s, expected %s (%s)", base,
                  climz_status_name(st), want, cz_error_message());
    }
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_path(const char *path) {
    struct stat sb;
    CHECK_MSG(stat(path, &sb) == 0, "%s: not found", path);
    if (!S_ISDIR(sb.st_mode)) {
        replay_file(path);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) return;
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (nn + 1) * sizeof *names);
        names[nn++] = cz_strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, nn, sizeof *names, name_cmp);
    for (size_t i = 0; i < nn; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", path, names[i]);
        replay_file(p);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    if (argc < 2) replay_path(CLIMZ_SOURCE_DIR "/tests/fuzz/" FUZZ_CORPUS);
    for (int i = 1; i < argc; i++) replay_path(argv[i]);
    printf("replayed %d inputs (%d must decode, %d must fail with a given code)\n", nfiles, nok,
           nerr);
    if (argc < 2) /* the committed corpus */
        CHECK(nfiles >= FUZZ_MIN_FILES && nok >= FUZZ_MIN_OK && nerr >= FUZZ_MIN_ERR);
    return tu_finish();
}
