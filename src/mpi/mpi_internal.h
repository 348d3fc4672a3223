/* mpi_internal.h — helpers shared by the MPI drivers (src/mpi/). */
#ifndef CZ_MPI_INTERNAL_H
#define CZ_MPI_INTERNAL_H

#include "climz_mpi.h"
#include "common/cz_common.h"

/* Collective: CLIMZ_OK when every rank passed CLIMZ_OK; else every rank returns the status and
 * message of the lowest failing rank, prefixed with "rank R of N: ". */
climz_status czmpi_agree(climz_status st, MPI_Comm comm);
/* Completes req, or finds a message (MPI_Probe), sleeping between polls instead of spinning
 * (mpi_util.c: a waiting rank must not take the core of one that is coding). */
void czmpi_wait(MPI_Request *req);
void czmpi_probe(int from, int tag, MPI_Comm comm, MPI_Status *status);
/* Collective: every rank returns root's st and message (no prefix). */
climz_status czmpi_share(climz_status st, int root, MPI_Comm comm);
/* Point-to-point bytes of any size (in pieces that fit an int count). */
void czmpi_send(const void *p, size_t n, int to, int tag, MPI_Comm comm);
void czmpi_recv(void *p, size_t n, int from, int tag, MPI_Comm comm);

#endif
