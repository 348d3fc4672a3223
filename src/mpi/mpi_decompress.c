/* mpi_decompress.c — czmpi_decompress_file(): a .clz decoded by the ranks of a communicator,
 * written by rank 0.
 *
 * Rank 0 runs the one-process decoder (api_decode_clz_fetch, the same variable selection, time
 * cut and NetCDF writer, so the output is the one climz_decompress_file writes) with its
 * field fetch replaced: for each coded variable it broadcasts (variable, first step, steps);
 * every rank decodes its share of the steps with api_decode_field (shares cut on the codec's
 * independent units: residual time blocks, VAEformer prediction groups; a temporal residual
 * stream, an INR variable without a time axis and any variable without a time dimension are
 * decoded by rank 0 alone) and sends values and missing map back; rank 0 writes the file
 * (io_write_netcdf, atomic). The libnetcdf of Debian is serial, so no parallel NetCDF. */
#include "api/codec.h"
#include "mpi_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_STATUS 201
#define TAG_DATA 202

typedef struct req {
    int64_t var; /* the entry's "index"; -1: no more requests */
    uint64_t t0, nt, tlen;
    int64_t tdim;
} req;

typedef struct fetch_ctx {
    MPI_Comm comm;
    int size;
} fetch_ctx;

/* Steps of the units that can be decoded apart (1: any step alone; 0: not at all). */
static size_t unit_of(json_t *e) {
    if (json_is_true(json_object_get(e, "temporal"))) return 0;
    size_t u = 1;
    json_t *tb = json_object_get(e, "time_block");
    if (json_is_integer(tb) && json_integer_value(tb) > 0) u = (size_t)json_integer_value(tb);
    json_t *g = json_object_get(json_object_get(e, "vaeformer"), "group");
    if (json_is_integer(g) && json_integer_value(g) > 0) { /* both must be whole: their lcm */
        size_t a = u, b = (size_t)json_integer_value(g);
        while (b) {
            size_t const r = a % b;
            a = b;
            b = r;
        }
        u = u / a * (size_t)json_integer_value(g);
    }
    return u;
}

/* Share [*a, *b) of rank k of the file steps [t0, t0 + nt), cut on multiples of unit. */
static void share(size_t t0, size_t nt, size_t unit, int k, int n, size_t *a, size_t *b) {
    if (unit == 0) { /* rank 0 alone */
        *a = k ? t0 + nt : t0;
        *b = t0 + nt;
        return;
    }
    size_t const u0 = t0 / unit, u1 = (t0 + nt + unit - 1) / unit, nu = u1 - u0;
    size_t const lo = (u0 + (nu * (size_t)k + (size_t)n - 1) / (size_t)n) * unit,
                 hi = (u0 + (nu * (size_t)(k + 1) + (size_t)n - 1) / (size_t)n) * unit; /* rank 0 never empty */
    *a = lo < t0 ? t0 : lo > t0 + nt ? t0 + nt : lo;
    *b = hi > t0 + nt ? t0 + nt : hi < *a ? *a : hi;
}

static json_t *entry_of(json_t *header, int64_t vi) {
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(header, "variables"), k, e)
        if (json_integer_value(json_object_get(e, "index")) == vi) return e;
    return NULL;
}

/* Decodes this rank's share of request q: part->nt == 0 when it has none. */
static climz_status decode_share(const climz_ctx *ctx, const clz_reader *r, const cz_dataset *ds, json_t *e,
                                 const req *q,
                                 const climz_decompress_opts *opts, int rank, int size, cz_field *part) {
    memset(part, 0, sizeof *part);
    CZ_RETURN_IF(!e, CLIMZ_ERR_CORRUPT, "no header entry for variable %lld", (long long)q->var);
    const cz_var *v = &ds->vars[q->var];
    int const sliced = q->tdim >= 0 && v->ndims && v->dimids[0] == q->tdim;
    size_t a, b;
    share(q->t0, q->nt, sliced ? unit_of(e) : 0, rank, size, &a, &b);
    if (a == b) return CLIMZ_OK;
    return api_decode_field(ctx, r, ds, e, (int)q->tdim, q->tlen, a, b - a, opts, part);
}

/* Rank 0's fetch: its own share, then the others' in rank order. */
static climz_status fetch(void *user, const climz_ctx *ctx, const clz_reader *r, const cz_dataset *ds, json_t *e,
                          int tdim, size_t tlen, size_t t0, size_t nt, const climz_decompress_opts *opts, cz_field *f) {
    const fetch_ctx *fc = user;
    req q = {json_integer_value(json_object_get(e, "index")), t0, nt, tlen, tdim};
    MPI_Bcast(&q, sizeof q, MPI_BYTE, 0, fc->comm);
    climz_status st = decode_share(ctx, r, ds, e, &q, opts, 0, fc->size, f);
    size_t const plane = f->nz * f->ny * f->nx;
    size_t have = f->nt;
    if (!st && f->nt < nt && fc->size > 1) { /* room for the whole range */
        float *v = realloc(f->values, nt * plane * sizeof *v);
        if (v) f->values = v;
        uint8_t *m = v ? realloc(f->miss, nt * plane) : NULL;
        if (m) f->miss = m;
        if (!v || !m) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    for (int k = 1; k < fc->size; k++) { /* every answer is taken, even after a failure */
        int64_t hdr[2]; /* status, steps */
        char msg[1024];
        MPI_Recv(hdr, 2, MPI_INT64_T, k, TAG_STATUS, fc->comm, MPI_STATUS_IGNORE);
        MPI_Recv(msg, sizeof msg, MPI_CHAR, k, TAG_STATUS, fc->comm, MPI_STATUS_IGNORE);
        size_t const n = (size_t)hdr[1] * plane;
        if (hdr[0]) {
            if (!st) st = cz_error((climz_status)hdr[0], "rank %d of %d: %s", k, fc->size, msg);
            continue;
        }
        if (!n) continue;
        int const fits = !st && have + (size_t)hdr[1] <= nt;
        float *vals = fits ? f->values + have * plane : malloc(n * sizeof *vals);
        uint8_t *miss = fits ? f->miss + have * plane : malloc(n);
        if (!vals || !miss) MPI_Abort(fc->comm, 1); /* cannot drain the message */
        czmpi_recv(vals, n * sizeof *vals, k, TAG_DATA, fc->comm);
        czmpi_recv(miss, n, k, TAG_DATA, fc->comm);
        if (fits) have += (size_t)hdr[1];
        else {
            free(vals);
            free(miss);
        }
    }
    if (!st && have != f->nt && have != nt) st = cz_error(CLIMZ_ERR_GENERIC, "ranks returned %zu of %zu steps", have, nt);
    if (!st) f->nt = have;
    if (st) io_field_free(f);
    return st;
}

/* Ranks other than 0: answer requests until the end marker. ctx: this rank's context, so a
 * learned codec's model is loaded once (its cache) and not again for every piece. */
static void serve(const climz_ctx *ctx, const char *in_path, const climz_decompress_opts *opts, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    clz_reader *r = NULL;
    json_t *header = NULL;
    cz_dataset *ds = NULL;
    climz_status const open_st = api_open_clz(in_path, &r, &header, &ds, NULL);
    char const *open_msg = cz_error_message();
    char omsg[1024];
    snprintf(omsg, sizeof omsg, "%s", open_msg);
    for (;;) {
        req q;
        MPI_Bcast(&q, sizeof q, MPI_BYTE, 0, comm);
        if (q.var < 0) break;
        cz_field part = {0};
        climz_status st = open_st;
        if (st) cz_error(st, "%s", omsg);
        else if (q.var >= ds->nvars) st = cz_error(CLIMZ_ERR_CORRUPT, "variable %lld out of range", (long long)q.var);
        else st = decode_share(ctx, r, ds, entry_of(header, q.var), &q, opts, rank, size, &part);
        int64_t hdr[2] = {st, st ? 0 : (int64_t)part.nt};
        char msg[1024] = "";
        if (st) snprintf(msg, sizeof msg, "%s", cz_error_message());
        MPI_Send(hdr, 2, MPI_INT64_T, 0, TAG_STATUS, comm);
        MPI_Send(msg, sizeof msg, MPI_CHAR, 0, TAG_STATUS, comm);
        size_t const n = part.nt * part.nz * part.ny * part.nx;
        if (!st && n) {
            czmpi_send(part.values, n * sizeof *part.values, 0, TAG_DATA, comm);
            czmpi_send(part.miss, n, 0, TAG_DATA, comm);
        }
        io_field_free(&part);
    }
    json_decref(header);
    clz_reader_free(r);
    io_free(ds);
}

climz_status czmpi_decompress_file(climz_ctx *ctx, const char *in_path, const char *out_path,
                                   const climz_decompress_opts *opts, MPI_Comm comm) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    climz_status st = CLIMZ_OK;
    if (!in_path || !out_path) st = cz_error(CLIMZ_ERR_INVALID_ARG, "input and output paths are required");
    st = czmpi_agree(st, comm);
    if (st) return api_fail(ctx, st);
    if (rank == 0) {
        fetch_ctx fc = {comm, size};
        api_decoded d;
        st = api_decode_clz_fetch(ctx, in_path, opts, fetch, &fc, &d);
        req const end = {-1, 0, 0, 0, -1};
        MPI_Bcast((void *)&end, sizeof end, MPI_BYTE, 0, comm);
        if (!st) {
            st = io_write_netcdf(d.ds, out_path);
            api_decoded_free(&d);
        }
    } else serve(ctx, in_path, opts, comm);
    return api_fail(ctx, czmpi_share(st, 0, comm));
}
