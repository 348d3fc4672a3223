/* mpi_util.c — status agreement and large transfers for the MPI drivers. */
#include "mpi_internal.h"

#include <limits.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#define MSG_CAP 1024
#define PIECE (1 << 30)
/* A rank waiting for the others polls at most this far apart (ns): MPI's own blocking calls
 * spin, and on a node with more processes than free cores (a shared or oversubscribed one)
 * the spinning rank takes the core of a rank still coding: 2 ranks on this 2-core machine
 * under load took 12-15 s where one process took 5.5-7.5 s. A millisecond is nothing beside
 * a phase that codes for seconds. */
#define WAIT_MAX_NS 1000000L

void czmpi_wait(MPI_Request *req) {
    int done = 0;
    long ns = 1000;
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    while (!done) {
        struct timespec const ts = {0, ns};
        nanosleep(&ts, NULL);
        ns = ns < WAIT_MAX_NS ? 2 * ns : WAIT_MAX_NS;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
    }
}

void czmpi_probe(int from, int tag, MPI_Comm comm, MPI_Status *status) {
    int found = 0;
    long ns = 1000;
    MPI_Iprobe(from, tag, comm, &found, status);
    while (!found) {
        struct timespec const ts = {0, ns};
        nanosleep(&ts, NULL);
        ns = ns < WAIT_MAX_NS ? 2 * ns : WAIT_MAX_NS;
        MPI_Iprobe(from, tag, comm, &found, status);
    }
}

climz_status czmpi_agree(climz_status st, MPI_Comm comm) {
    int rank, size, first;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine = st ? rank : size;
    MPI_Request req;
    MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm, &req);
    czmpi_wait(&req); /* a rank that waits long for the others' coding sleeps */
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

double czmpi_cpu_seconds(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u)) return 0;
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec + 1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
