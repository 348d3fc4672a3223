/* mpi_train.c — czmpi_train_file() / czmpi_finetune_file(): the VAEformer's training loop
 * (src/vae/vae_train.c, which splits every global batch over the ranks) with MPI collectives.
 *
 * The gradient sum (comm->sum) is a reduce-scatter and an allgather with a FIXED order:
 *  - rank k owns the k-th of N near-equal slices of the gradient; MPI_Alltoallv sends every
 *    rank's part of slice k to rank k, which adds the N parts in rank order (0, 1, ..., N-1,
 *    in double, rounded once to float); MPI_Allgatherv hands the summed slices to every rank.
 *  - So the bits of the sum depend only on N, never on which algorithm MPI_Allreduce picks
 *    (OpenMPI's tuned component chooses by message size and rank count, and its reduction
 *    order differs between algorithms and between versions). Nothing here relies on MPI's
 *    arithmetic: MPI only moves bytes.
 *  - It moves what a bandwidth-optimal (ring / Rabenseifner) allreduce moves: 2 (N-1)/N of
 *    the gradient per rank per step, in two collectives.
 * A rank that cannot allocate the slice buffer prints why and calls MPI_Abort (the other ranks
 * are already inside the collective); every other failure is exchanged as a status at the
 * loop's collective points (czmpi_agree), so all ranks return the failing rank's message. */
#include "api/api_internal.h"
#include "mpi_internal.h"
#include "vae/vae_train.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct train_comm {
    MPI_Comm comm;
    int rank, size;
    float *parts;   /* size * slice: the parts of this rank's slice, in rank order */
    size_t cap;
    int *counts, *displs, *rcounts, *rdispls;
} train_comm;

static void die(const train_comm *c, const char *what) {
    fprintf(stderr, "climz: error: rank %d of %d: %s\n", c->rank, c->size, what);
    fflush(stderr);
    MPI_Abort(c->comm, 1);
}

static void tc_allgather(void *user, const void *mine, void *all, size_t n) {
    train_comm *c = user;
    if (n > INT_MAX) die(c, "gather too large");
    MPI_Allgather(mine, (int)n, MPI_BYTE, all, (int)n, MPI_BYTE, c->comm);
}

static void tc_sum(void *user, float *buf, size_t n) {
    train_comm *c = user;
    size_t const N = (size_t)c->size;
    size_t const lo = (size_t)c->rank * n / N, mine = ((size_t)c->rank + 1) * n / N - lo;
    if (n / N + 1 > INT_MAX / N) die(c, "gradient too large for one MPI_Alltoallv");
    if (N * mine > c->cap) {
        free(c->parts);
        c->cap = N * (n / N + 1);
        if (!(c->parts = malloc(c->cap * sizeof *c->parts))) die(c, "out of memory (gradient sum)");
    }
    for (size_t k = 0; k < N; k++) {
        size_t const a = k * n / N, b = (k + 1) * n / N;
        c->counts[k] = (int)(b - a), c->displs[k] = (int)a;     /* my part of slice k */
        c->rcounts[k] = (int)mine, c->rdispls[k] = (int)(k * mine); /* rank k's part of mine */
    }
    MPI_Alltoallv(buf, c->counts, c->displs, MPI_FLOAT, c->parts, c->rcounts, c->rdispls, MPI_FLOAT,
                  c->comm);
    for (size_t i = 0; i < mine; i++) {
        double s = 0;
        for (size_t k = 0; k < N; k++) s += (double)c->parts[k * mine + i]; /* rank order */
        buf[lo + i] = (float)s;
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, buf, c->counts, c->displs, MPI_FLOAT, c->comm);
}

static climz_status tc_agree(void *user, climz_status st) {
    return czmpi_agree(st, ((train_comm *)user)->comm);
}

static climz_status tc_share(void *user, climz_status st, int root) {
    return czmpi_share(st, root, ((train_comm *)user)->comm);
}

static climz_status train_on(climz_ctx *ctx, int finetune, const char *out_path,
                             const climz_train_opts *opts, MPI_Comm comm) {
    train_comm c = {comm, 0, 1, NULL, 0, NULL, NULL, NULL, NULL};
    MPI_Comm_rank(comm, &c.rank);
    MPI_Comm_size(comm, &c.size);
    c.counts = malloc(4 * (size_t)c.size * sizeof *c.counts);
    if (!c.counts) die(&c, "out of memory");
    c.displs = c.counts + c.size, c.rcounts = c.displs + c.size, c.rdispls = c.rcounts + c.size;
    vae_train_comm vc = {c.rank, c.size, &c, tc_allgather, tc_sum, tc_agree, tc_share};
    climz_status const st = api_train(ctx, finetune, out_path, opts, &vc);
    free(c.parts);
    free(c.counts);
    return st;
}

climz_status czmpi_train_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts,
                              MPI_Comm comm) {
    return train_on(ctx, 0, out_path, opts, comm);
}

climz_status czmpi_finetune_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts,
                                 MPI_Comm comm) {
    return train_on(ctx, 1, out_path, opts, comm);
}
