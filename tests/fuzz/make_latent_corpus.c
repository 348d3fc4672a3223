/* make_latent_corpus.c — writes the seed corpus of the latent fuzz target
 * (tests/fuzz/corpus-latent, format in fuzz_latent_decode.c): the latent chunks the encoder
 * writes for a real field (data/model_T.nc: T, days 1-3, 1000 and 850 hPa with their
 * below-ground points, a 20 x 28 window) with the fuzzed model, under several options, and
 * copies damaged in specific ways (err-NAME-*: they must fail with CLIMZ_ERR_NAME). Run by
 * hand after a change of the latent format or of the fuzzed model:
 *     cmake --build BUILD --target fuzz_make_latent_corpus && BUILD/tests/fuzz/fuzz_make_latent_corpus */
#include "io/dataset.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_targets.h"

#define FL_N (FL_NT * FL_NZ * FL_NY * FL_NX)

static const char *out_dir;

static void must(climz_status st, const char *what) {
    if (st == CLIMZ_OK) return;
    fprintf(stderr, "%s: %s %s\n", what, climz_status_name(st), cz_error_message());
    exit(1);
}

static void save(const char *name, const uint8_t *p, size_t n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    /* a seed must give what its name says */
    climz_status const st = fuzz_latent_decode_one(p, n);
    printf("%-28s %6zu bytes: %s\n", name, n, climz_status_name(st));
    if ((strncmp(name, "ok-", 3) == 0) != (st == CLIMZ_OK)) exit(1);
}

/* the window of model T: steps 0..2, levels 0..1, rows 10.., columns 20.. */
static void load_window(float *x, uint8_t *miss) {
    cz_dataset *ds;
    cz_field f;
    must(io_open(tu_data("model_T.nc"), &ds), "model_T.nc");
    must(io_load_field(ds, io_find_var(ds, "T"), &f), "T");
    for (size_t t = 0; t < FL_NT; t++)
        for (size_t z = 0; z < FL_NZ; z++)
            for (size_t r = 0; r < FL_NY; r++)
                for (size_t q = 0; q < FL_NX; q++) {
                    size_t const i = ((t * FL_NZ + z) * FL_NY + r) * FL_NX + q;
                    size_t const k = ((t * f.nz + z) * f.ny + 10 + r) * f.nx + 20 + q;
                    x[i] = f.values[k];
                    miss[i] = f.miss[k];
                }
    io_field_free(&f);
    io_free(ds);
}

int main(int argc, char **argv) {
    out_dir = argc > 1 ? argv[1] : CLIMZ_SOURCE_DIR "/tests/fuzz/corpus-latent";
    static float x[FL_N];
    static uint8_t miss[FL_N];
    load_window(x, miss);
    const char *g1[] = {"group=1", NULL}, *nolev[] = {"levels=0", NULL};
    cz_buf b = {0};
    /* g: group 1 + g % 3 (the encoder's default group of 16 is the same on 3 steps), bit 7:
     * decode from step 1 */
    must(fuzz_latent_seed(x, miss, NULL, 2, &b), "default");
    save("ok-groups.lat", b.data, b.size);
    b.data[0] = 0x82;
    save("ok-slice.lat", b.data, b.size);
    b.data[0] = 0; /* a group of 1 step, but the chunk says 3 */
    save("err-CORRUPT-group.lat", b.data, b.size);
    b.data[0] = 2;
    b.data[4] ^= 0x40; /* the group's flags: an unknown bit */
    save("err-CORRUPT-flags.lat", b.data, b.size);
    b.data[4] ^= 0x40;
    b.data[3] = 9; /* the group's version */
    save("err-VERSION-future.lat", b.data, b.size);
    b.size = 0;
    must(fuzz_latent_seed(x, miss, g1, 0, &b), "group=1");
    save("ok-alone.lat", b.data, b.size);
    b.size = 0;
    must(fuzz_latent_seed(x, miss, nolev, 2, &b), "levels=0");
    save("ok-nolevels.lat", b.data, b.size);
    save("err-TRUNCATED-cut.lat", b.data, b.size - 1);
    cz_buf_free(&b);
    return 0;
}
