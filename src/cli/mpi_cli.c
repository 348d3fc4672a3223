/* mpi_cli.c — the climz program under mpirun (README "MPI"). Built with MPI when CMake found
 * it (CLIMZ_HAVE_MPI); without it, or when the program was not started by mpirun, every
 * function here is the one-process behaviour. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef CLIMZ_HAVE_MPI
#include "mpi/climz_mpi.h"

static int mpi_on, mpi_rank, mpi_size = 1;

/* mpirun (OpenMPI, MPICH, Slurm's PMI) sets one of these in every process it starts; a
 * program run alone does not start MPI (a singleton MPI_Init is slow and noisy). */
static int under_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

static double wall_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cli_mpi_start(int *argc, char ***argv) {
    if (mpi_on || !under_mpirun()) return mpi_size;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return 1;
    mpi_on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
    return mpi_size;
}

void cli_mpi_stop(void) {
    if (mpi_on) MPI_Finalize();
    mpi_on = 0;
}

int cli_mpi_rank(void) { return mpi_rank; }
int cli_mpi_size(void) { return mpi_size; }

climz_status cli_mpi_compress(climz_ctx *ctx, const char *in, const char *out, const climz_compress_opts *o) {
    if (mpi_size > 1) return czmpi_compress_file(ctx, in, out, o, MPI_COMM_WORLD);
    unsigned long long const read0 = czmpi_bytes_read();
    double const cpu0 = czmpi_cpu_seconds(), wall0 = wall_seconds();
    climz_status const st = climz_compress_file(ctx, in, out, o);
    if (getenv("CLIMZ_MPI_PLAN_REPORT")) /* the one-process figures beside the ranks' */
        fprintf(stderr, "climz: rank 0 of 1 used %.3f s of CPU in %.3f s\n", czmpi_cpu_seconds() - cpu0, wall_seconds() - wall0);
    if (getenv("CLIMZ_MPI_READ_REPORT")) /* the one-process figure beside the ranks' */
        fprintf(stderr, "climz: rank 0 of 1 read %llu bytes of input\n", czmpi_bytes_read() - read0);
    return st;
}

climz_status cli_mpi_decompress(climz_ctx *ctx, const char *in, const char *out, const climz_decompress_opts *o) {
    if (mpi_size > 1) return czmpi_decompress_file(ctx, in, out, o, MPI_COMM_WORLD);
    return climz_decompress_file(ctx, in, out, o);
}

climz_status cli_mpi_train(climz_ctx *ctx, int finetune, const char *out, const climz_train_opts *o) {
    if (mpi_size > 1)
        return finetune ? czmpi_finetune_file(ctx, out, o, MPI_COMM_WORLD) : czmpi_train_file(ctx, out, o, MPI_COMM_WORLD);
    return finetune ? climz_finetune_file(ctx, out, o) : climz_train_file(ctx, out, o);
}

#else /* no MPI at build time */

int cli_mpi_start(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 1;
}
void cli_mpi_stop(void) {}
int cli_mpi_rank(void) { return 0; }
int cli_mpi_size(void) { return 1; }
climz_status cli_mpi_compress(climz_ctx *ctx, const char *in, const char *out, const climz_compress_opts *o) {
    return climz_compress_file(ctx, in, out, o);
}
climz_status cli_mpi_decompress(climz_ctx *ctx, const char *in, const char *out, const climz_decompress_opts *o) {
    return climz_decompress_file(ctx, in, out, o);
}

climz_status cli_mpi_train(climz_ctx *ctx, int finetune, const char *out, const climz_train_opts *o) {
    return finetune ? climz_finetune_file(ctx, out, o) : climz_train_file(ctx, out, o);
}

#endif
