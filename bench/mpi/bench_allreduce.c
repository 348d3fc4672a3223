/* bench_allreduce.c — time of MPI_Allreduce (sum, float32) of a gradient of N floats, the
 * data-parallel training step's communication. Usage: mpirun -n R bench_allreduce N [reps].
 * Prints rank count, floats, bytes, the median seconds per allreduce (rank 0). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long n = argc > 1 ? atol(argv[1]) : 1323236;
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    float *g = malloc((size_t)n * sizeof *g), *s = malloc((size_t)n * sizeof *s);
    double *t = malloc((size_t)reps * sizeof *t);
    for (long i = 0; i < n; i++) g[i] = (float)(i % 97) * 1e-3f + (float)rank;
    MPI_Allreduce(g, s, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* warm-up */
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double const t0 = MPI_Wtime();
        MPI_Allreduce(g, s, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[r] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    if (rank == 0) printf("ranks %d floats %ld bytes %ld median_s %.6f min_s %.6f\n", size, n, n * 4, t[reps / 2], t[0]);
    free(g);
    free(s);
    free(t);
    MPI_Finalize();
    return 0;
}
