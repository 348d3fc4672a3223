/* mpi_util.c — status agreement and large transfers for the MPI drivers. */
#include "mpi_internal.h"

#include <limits.h>
#include <stdio.h>

#define MSG_CAP 1024
#define PIECE (1 << 30)

climz_status czmpi_agree(climz_status st, MPI_Comm comm) {
    int rank, size, first;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine = st ? rank : size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == size) return CLIMZ_OK;
    char msg[MSG_CAP] = "";
    int code = (int)st;
    if (rank == first) snprintf(msg, sizeof msg, "%s", cz_error_message());
    MPI_Bcast(msg, sizeof msg, MPI_CHAR, first, comm);
    MPI_Bcast(&code, 1, MPI_INT, first, comm);
    return cz_error((climz_status)code, "rank %d of %d: %s", first, size,
                    msg[0] ? msg : climz_status_name((climz_status)code));
}

climz_status czmpi_share(climz_status st, int root, MPI_Comm comm) {
    int rank, code = (int)st;
    MPI_Comm_rank(comm, &rank);
    MPI_Bcast(&code, 1, MPI_INT, root, comm);
    if (!code) return CLIMZ_OK;
    char msg[MSG_CAP] = "";
    if (rank == root) snprintf(msg, sizeof msg, "%s", cz_error_message());
    MPI_Bcast(msg, sizeof msg, MPI_CHAR, root, comm);
    return rank == root ? st : cz_error((climz_status)code, "%s", msg);
}

void czmpi_send(const void *p, size_t n, int to, int tag, MPI_Comm comm) {
    const char *c = p;
    do {
        int const k = n > PIECE ? PIECE : (int)n;
        MPI_Send(c, k, MPI_BYTE, to, tag, comm);
        c += k;
        n -= (size_t)k;
    } while (n);
}

void czmpi_recv(void *p, size_t n, int from, int tag, MPI_Comm comm) {
    char *c = p;
    do {
        int const k = n > PIECE ? PIECE : (int)n;
        MPI_Recv(c, k, MPI_BYTE, from, tag, comm, MPI_STATUS_IGNORE);
        c += k;
        n -= (size_t)k;
    } while (n);
}

unsigned long long czmpi_bytes_read(void) {
    FILE *fp = fopen("/proc/self/io", "r");
    unsigned long long n = 0;
    char line[128];
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "rchar: %llu", &n) == 1) break;
    if (fp) fclose(fp);
    return n;
}
