/* chunk_decode.c — the HDF5 filter's decode work alone: reads the raw (still compressed)
 * chunks of a climz-filtered dataset with H5Dread_chunk, then decodes every chunk REPS times
 * through climz_decompress on one thread, as h5z_climz.c does, and prints the best total.
 * Optionally writes the decoded values of the first pass to DUMP (to compare two builds).
 * Not built by CMake; against the build tree (or statically, with other objects first, to
 * compare a changed source file with its base version in the same run):
 *   gcc -O2 -Iinclude -I/usr/include/hdf5/serial bench/h5/chunk_decode.c -o /tmp/chunk_decode \
 *       -Lbuild -Wl,-rpath,$PWD/build -lclimz -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5
 *   OMP_WAIT_POLICY=passive /tmp/chunk_decode FILE.nc VAR REPS [DUMP] */
#include "climz.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: chunk_decode FILE.nc VAR REPS [DUMP]\n");
        return 2;
    }
    hid_t const f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t const d = f < 0 ? -1 : H5Dopen2(f, argv[2], H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "chunk_decode: cannot open %s:%s\n", argv[1], argv[2]);
        return 1;
    }
    hsize_t n = 0;
    hid_t const sp = H5Dget_space(d);
    H5Dget_num_chunks(d, sp, &n);
    void **buf = calloc(n, sizeof *buf);
    size_t *size = calloc(n, sizeof *size);
    for (hsize_t i = 0; i < n; i++) {
        hsize_t off[H5S_MAX_RANK], s = 0;
        unsigned mask;
        haddr_t addr;
        uint32_t filters = 0;
        H5Dget_chunk_info(d, sp, i, off, &mask, &addr, &s);
        buf[i] = malloc(s);
        size[i] = s;
        if (!buf[i] || H5Dread_chunk(d, H5P_DEFAULT, off, &filters, buf[i]) < 0) {
            fprintf(stderr, "chunk_decode: chunk %llu unreadable\n", (unsigned long long)i);
            return 1;
        }
    }
    climz_ctx *ctx = climz_ctx_create();
    climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 1); /* the filter's default (CLIMZ_H5_THREADS) */
    climz_field g;
    if (n == 0 || climz_frame_info(buf[0], size[0], &g) != CLIMZ_OK) {
        fprintf(stderr, "chunk_decode: the first chunk is not a climz frame\n");
        return 1;
    }
    size_t const bytes = g.nt * g.nz * g.ny * g.nx * (g.type == CLIMZ_FLOAT64 ? 8 : 4);
    g.data = malloc(bytes);
    FILE *dump = argc > 4 ? fopen(argv[4], "wb") : NULL;
    int const reps = atoi(argv[3]);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double const t0 = now();
        for (hsize_t i = 0; i < n; i++) {
            if (climz_decompress(ctx, buf[i], size[i], &g) != CLIMZ_OK) {
                fprintf(stderr, "chunk %llu: %s\n", (unsigned long long)i, climz_ctx_last_error(ctx));
                return 1;
            }
            if (dump && r == 0) fwrite(g.data, bytes, 1, dump);
        }
        double const t = now() - t0;
        best = t < best ? t : best;
    }
    if (dump) fclose(dump);
    printf("%s %llu chunks, best of %d: %.3f ms (%.1f us/chunk)\n", argv[1], (unsigned long long)n, reps,
           best * 1e3, best * 1e6 / (double)n);
    return 0;
}
