/* mpi_compress.c — czmpi_compress_file(): one data set into one .clz, the encoding spread over
 * the ranks of an MPI communicator, the file byte-identical to one process's.
 *
 * How the work is split
 *  - Work units, in file order: for every selected variable, its time blocks where the codec's
 *    chunks of distinct blocks are independent of each other, else the whole variable:
 *      residual (not --temporal): blocks of res_time_block() steps, the codec's own chunks;
 *      vaeformer, inr, residual --temporal: the whole variable (one unit; a file with several
 *      variables still spreads them over the ranks).
 *    Units go to ranks in contiguous runs of about equal points (steps x plane), so each rank
 *    owns one contiguous stretch of the file's payloads, and one run of blocks of a variable
 *    is coded by one codec call on that slice of the field (its threads stay busy).
 *  - A slice of whole blocks codes to the same chunks as inside the whole field: the residual
 *    codec's block length is min(steps, K(plane)), and a slice's length is a multiple of K
 *    or the field's tail. Its chunk keys are shifted by the slice's first step.
 *  - Every rank encodes its slices into memory; then rank 0 receives from each rank, in file
 *    order, the chunk table (keys, sizes, CRCs), the codec's header entry and the decoded
 *    values of each slice, and builds the header exactly as compress.c does (the errors are
 *    measured on the whole decoded field, in the same order, so they are the same bits).
 *  - Offsets: rank 0 broadcasts where the payloads start (after header and index); each rank
 *    finds its own offset with an exclusive scan of the payload bytes (MPI_Exscan) and writes
 *    its chunks there with MPI-IO; rank 0 writes preamble, header, index and the schema chunk
 *    (the last payload).
 *  - Every rank reads the input (io_open reads a whole data set) and unpacks the variables
 *    it codes; rank 0 also unpacks every variable to measure the errors.
 *
 * Failures: after each phase the ranks agree on a status (MPI_Allreduce of the first failing
 * rank); the failing rank's message is broadcast and every rank returns it, prefixed with
 * "rank R of N". The temporary file is removed; nothing appears at the output path.
 * CLIMZ_MPI_FAIL_RANK=R (tests) makes rank R fail as its encoding starts. */
#include "api/codec.h"
#include "mpi_internal.h"
#include "container/container.h"
#include "residual/residual.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAG_META 101
#define TAG_VALUES 102

/* One slice of a variable: steps [t0, t1), coded by rank owner. */
typedef struct slice {
    int var;
    size_t t0, t1;
    int owner;
} slice;

/* What a rank keeps of a slice it coded. */
typedef struct slice_out {
    clz_writer *w;     /* masks (first slice) and the codec's chunks, keys already shifted */
    char *entry;       /* the codec's header entry (JSON), from the variable's first slice */
    float *decoded;    /* n = (t1 - t0) * plane values */
    size_t n, mask_bytes;
} slice_out;

#define agree czmpi_agree

/* ---- plan ---- */

/* The units of variable i: whole blocks of the codec, or the variable (*len = nt). */
static size_t unit_steps(const climz_ctx *ctx, const api_codec *c, const cz_var *v, size_t nt, size_t plane) {
    /* integer storage is coded whole: its bound may be retried for the whole variable */
    if (c == &api_codec_residual && !ctx->temporal && api_storage_quantum(v) == 0) return res_time_block(plane, nt);
    return nt ? nt : 1;
}

/* Slices of the selected variables, in file order, owned by contiguous runs of ranks. */
static climz_status plan(const climz_ctx *ctx, const api_codec *c, const cz_dataset *ds, const uint8_t *sel,
                         int nranks, slice **out, size_t *nout) {
    size_t nu = 0, cap = 0;
    slice *u = NULL;
    double total = 0;
    for (int i = 0; i < ds->nvars; i++) {
        if (!sel[i]) continue;
        size_t nt = 1, nz = 1, ny = 1, nx = 1;
        if (io_field_shape(ds, i, &nt, &nz, &ny, &nx) != CLIMZ_OK) { /* coded whole: the codec reports it */
            cz_error_clear();
            nt = 1;
        }
        size_t const plane = nz * ny * nx > 0 ? nz * ny * nx : 1, k = unit_steps(ctx, c, &ds->vars[i], nt, plane);
        for (size_t t0 = 0; t0 < (nt ? nt : 1); t0 += k) {
            if (nu == cap) {
                cap = cap ? 2 * cap : 64;
                slice *p = realloc(u, cap * sizeof *p);
                if (!p) {
                    free(u);
                    return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
                }
                u = p;
            }
            size_t const t1 = t0 + k < nt ? t0 + k : nt;
            u[nu++] = (slice){i, t0, t1, 0};
            total += (double)((t1 > t0 ? t1 - t0 : 1) * plane);
        }
    }
    /* owner: the rank whose share of the points holds the unit's middle point */
    double cum = 0;
    for (size_t k = 0; k < nu; k++) {
        size_t nz = 1, ny = 1, nx = 1, nt;
        if (io_field_shape(ds, u[k].var, &nt, &nz, &ny, &nx) != CLIMZ_OK) cz_error_clear();
        double const w = (double)((u[k].t1 > u[k].t0 ? u[k].t1 - u[k].t0 : 1) * (nz * ny * nx > 0 ? nz * ny * nx : 1));
        int o = total > 0 ? (int)((cum + w / 2) * nranks / total) : 0;
        u[k].owner = o < nranks ? o : nranks - 1;
        cum += w;
    }
    /* merge neighbouring units of one variable and one rank into one slice */
    size_t m = 0;
    for (size_t k = 0; k < nu; k++) {
        if (m && u[m - 1].var == u[k].var && u[m - 1].owner == u[k].owner && u[m - 1].t1 == u[k].t0) u[m - 1].t1 = u[k].t1;
        else u[m++] = u[k];
    }
    *out = u;
    *nout = m;
    return CLIMZ_OK;
}

/* ---- encoding ---- */

static climz_status encode_slice(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec *c,
                                 const cz_dataset *ds, const slice *s, const cz_field *f, slice_out *o) {
    size_t const plane = f->nz * f->ny * f->nx;
    CZ_RETURN_IF(plane * f->nt == 0, CLIMZ_ERR_EMPTY, "variable '%s' has no points (a dimension of size 0)",
                 ds->vars[s->var].name);
    CZ_FORWARD(clz_writer_create(&o->w));
    size_t const n = (s->t1 - s->t0) * plane;
    o->n = n;
    o->decoded = malloc(n * sizeof *o->decoded);
    CZ_RETURN_IF(!o->decoded, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", ds->vars[s->var].name);
    climz_status st = CLIMZ_OK;
    json_t *e = NULL;
    if (s->t0 == 0 && s->t1 == f->nt) { /* the whole variable: as one process codes it, entry complete */
        st = api_compress_field(ctx, opts, c, ds, s->var, f, o->w, &e);
        memset(o->decoded, 0, n * sizeof *o->decoded); /* the entry has its errors: not needed */
    } else {
        if (s->t0 == 0) CZ_FORWARD(api_write_masks(o->w, (uint32_t)s->var, &ds->vars[s->var], f, &o->mask_bytes));
        cz_field sub = *f;
        sub.nt = s->t1 - s->t0;
        sub.values = f->values + s->t0 * plane;
        sub.miss = f->miss + s->t0 * plane;
        api_bound b;
        CZ_FORWARD(api_field_bound(ctx, &ds->vars[s->var], f, &b));
        api_encode_args const args = {ctx, opts, ds, s->var, &sub, b.E};
        e = json_object();
        st = c->encode(&args, o->w, o->decoded, e);
    }
    if (!st && s->t0 == 0) {
        o->entry = json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
        if (!o->entry) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    json_decref(e);
    if (st) return st;
    if (s->t0) { /* the codec numbered the slice's steps from 0 */
        clz_writer *shifted;
        CZ_FORWARD(clz_writer_create(&shifted));
        for (size_t k = 0; k < clz_writer_nchunks(o->w) && !st; k++) {
            clz_chunk ch;
            const uint8_t *d;
            st = clz_writer_chunk_at(o->w, k, &ch, &d);
            uint32_t const t = ch.t == CLZ_NO_TIME ? ch.t : ch.t + (uint32_t)s->t0; /* no masks after step 0 */
            if (!st) st = clz_writer_add(shifted, ch.var, t, ch.stream, d, (size_t)ch.size);
        }
        clz_writer_free(o->w);
        o->w = shifted;
    }
    return st;
}

/* ---- messages to rank 0 ---- */

static climz_status pack_meta(const slice_out *o, cz_buf *b) {
    size_t const n = clz_writer_nchunks(o->w);
    CZ_FORWARD(cz_buf_put_u64(b, o->n));
    CZ_FORWARD(cz_buf_put_u64(b, o->mask_bytes));
    CZ_FORWARD(cz_buf_put_u32(b, (uint32_t)n));
    for (size_t k = 0; k < n; k++) {
        clz_chunk ch;
        const uint8_t *d;
        CZ_FORWARD(clz_writer_chunk_at(o->w, k, &ch, &d));
        CZ_FORWARD(cz_buf_put_u32(b, ch.var));
        CZ_FORWARD(cz_buf_put_u32(b, ch.t));
        CZ_FORWARD(cz_buf_put_u16(b, ch.stream));
        CZ_FORWARD(cz_buf_put_u32(b, ch.crc));
        CZ_FORWARD(cz_buf_put_u64(b, ch.size));
    }
    return cz_buf_put_str(b, o->entry ? o->entry : "");
}

/* Adds the chunk table of a packed slice to meta; *entry: the codec's entry JSON (or NULL). */
static climz_status unpack_meta(const uint8_t *p, size_t size, clz_writer *meta, size_t *mask_bytes,
                                json_t **entry) {
    CZ_RETURN_IF(size < 20, CLIMZ_ERR_CORRUPT, "short message from a rank");
    *mask_bytes = (size_t)cz_load_le64(p + 8);
    uint32_t const n = cz_load_le32(p + 16);
    size_t at = 20;
    CZ_RETURN_IF((size - at) / 22 < n, CLIMZ_ERR_CORRUPT, "short message from a rank");
    for (uint32_t k = 0; k < n; k++, at += 22)
        CZ_FORWARD(clz_writer_add_external(meta, cz_load_le32(p + at), cz_load_le32(p + at + 4),
                                           (uint16_t)(p[at + 8] | p[at + 9] << 8), cz_load_le64(p + at + 14),
                                           cz_load_le32(p + at + 10)));
    CZ_RETURN_IF(size - at < 4, CLIMZ_ERR_CORRUPT, "short message from a rank");
    uint32_t const len = cz_load_le32(p + at);
    at += 4;
    CZ_RETURN_IF(size - at < len, CLIMZ_ERR_CORRUPT, "short message from a rank");
    *entry = NULL;
    if (len) {
        json_error_t jerr;
        *entry = json_loadb((const char *)p + at, len, 0, &jerr);
        CZ_RETURN_IF(!*entry, CLIMZ_ERR_CORRUPT, "a rank's header entry: %s", jerr.text);
    }
    return CLIMZ_OK;
}

/* Sends / receives n floats in pieces that fit an int count. */
static void send_floats(const float *v, size_t n, MPI_Comm comm) {
    for (size_t at = 0; at < n;) {
        int const k = n - at > (size_t)(INT_MAX / 8) ? INT_MAX / 8 : (int)(n - at);
        MPI_Send(v + at, k, MPI_FLOAT, 0, TAG_VALUES, comm);
        at += (size_t)k;
    }
}
static void recv_floats(float *v, size_t n, int from, MPI_Comm comm) {
    for (size_t at = 0; at < n;) {
        int const k = n - at > (size_t)(INT_MAX / 8) ? INT_MAX / 8 : (int)(n - at);
        MPI_Recv(v + at, k, MPI_FLOAT, from, TAG_VALUES, comm, MPI_STATUS_IGNORE);
        at += (size_t)k;
    }
}

static climz_status write_at(MPI_File fh, uint64_t off, const uint8_t *p, uint64_t n, const char *what) {
    while (n) {
        int const k = n > (1u << 30) ? 1 << 30 : (int)n;
        MPI_Status ms;
        int got = 0;
        int const rc = MPI_File_write_at(fh, (MPI_Offset)off, p, k, MPI_BYTE, &ms);
        if (rc == MPI_SUCCESS) MPI_Get_count(&ms, MPI_BYTE, &got);
        if (rc != MPI_SUCCESS || got != k) {
            char e[MPI_MAX_ERROR_STRING] = "short write";
            int len;
            if (rc != MPI_SUCCESS) MPI_Error_string(rc, e, &len);
            return cz_error(CLIMZ_ERR_IO, "writing %s at offset %llu: %s", what, (unsigned long long)off, e);
        }
        off += (uint64_t)k;
        p += k;
        n -= (uint64_t)k;
    }
    return CLIMZ_OK;
}

/* Rank 0: receives (or takes its own) slices in file order and builds the header, the index
 * of external chunks and the schema chunk. Drains every message even after a failure. */
static climz_status assemble(const climz_ctx *ctx, const api_codec *c, const cz_dataset *ds, const uint8_t *sel,
                             const slice *sl, size_t ns, const slice_out *mine, const char *in_path,
                             clz_writer *meta, cz_buf *schema, char **header, MPI_Comm comm) {
    climz_status st = CLIMZ_OK;
    json_t *root = api_header_new(c->name, io_base_name(in_path), io_format_name(ds->format));
    cz_field f = {0};
    float *decoded = NULL;
    json_t *entry = NULL;
    size_t mask_bytes = 0;
    cz_buf msg = {0};
    for (int i = 0; i < ds->nvars; i++)
        if (sel[i] && !st) st = clz_writer_set_var_name(meta, (uint32_t)i, ds->vars[i].name);
    for (size_t k = 0; k < ns; k++) {
        const slice *s = &sl[k];
        if (s->t0 == 0 && !st) { /* a new variable */
            io_field_free(&f);
            free(decoded);
            decoded = NULL;
            st = io_load_field(ds, s->var, &f);
            size_t const n = f.nt * f.nz * f.ny * f.nx;
            if (!st) decoded = malloc((n ? n : 1) * sizeof *decoded);
            if (!st && !decoded) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        }
        size_t const plane = f.nz * f.ny * f.nx;
        const uint8_t *mp;
        size_t msize;
        if (s->owner == 0) {
            msg.size = 0;
            if (!st) st = pack_meta(mine++, &msg);
            mp = msg.data;
            msize = msg.size;
            if (!st) memcpy(decoded + s->t0 * plane, mine[-1].decoded, (s->t1 - s->t0) * plane * sizeof *decoded);
        } else {
            MPI_Status ms;
            int count;
            MPI_Probe(s->owner, TAG_META, comm, &ms);
            MPI_Get_count(&ms, MPI_BYTE, &count);
            msg.size = 0;
            climz_status const r = cz_buf_reserve(&msg, (size_t)count);
            MPI_Recv(r ? NULL : msg.data, r ? 0 : count, MPI_BYTE, s->owner, TAG_META, comm, MPI_STATUS_IGNORE);
            if (r && !st) st = r;
            msg.size = (size_t)count;
            mp = msg.data;
            msize = msg.size;
            /* the values come anyway (their count first in the message): take them even
             * when they are not used, so the sender never waits forever */
            size_t const n = count >= 8 && msg.data ? (size_t)cz_load_le64(msg.data) : 0;
            if (!st && n == (s->t1 - s->t0) * plane) recv_floats(decoded + s->t0 * plane, n, s->owner, comm);
            else {
                float *scratch = malloc((n ? n : 1) * sizeof *scratch);
                if (!scratch) MPI_Abort(comm, 1); /* cannot drain the message */
                recv_floats(scratch, n, s->owner, comm);
                free(scratch);
                if (!st) st = cz_error(CLIMZ_ERR_GENERIC, "rank %d sent %zu values for variable '%s', not %zu",
                                       s->owner, n, ds->vars[s->var].name, (s->t1 - s->t0) * plane);
            }
        }
        if (st) continue;
        json_t *e = NULL;
        size_t mb = 0;
        st = unpack_meta(mp, msize, meta, &mb, &e);
        if (s->t0 == 0) {
            entry = e;
            mask_bytes = mb;
        } else json_decref(e);
        if (!st && s->t1 == f.nt) { /* the variable's last slice */
            api_bound b = {0};
            if (!entry) st = cz_error(CLIMZ_ERR_GENERIC, "no header entry for variable '%s'", ds->vars[s->var].name);
            else if (!json_object_get(entry, "n_points")) { /* coded in slices: the driver's keys here */
                st = api_field_bound(ctx, &ds->vars[s->var], &f, &b);
                if (!st) st = api_entry_finish(ctx, c, ds, s->var, &f, decoded, mask_bytes, b.E, entry);
            }
            if (st) cz_error_prefix(st, "variable '%s'", ds->vars[s->var].name);
            else json_array_append(json_object_get(root, "variables"), entry);
            json_decref(entry);
            entry = NULL;
        }
    }
    if (!st) {
        uint8_t *keep = calloc((size_t)ds->nvars + 1, 1);
        clz_writer *sw = NULL;
        if (!keep) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        for (int i = 0; keep && i < ds->nvars; i++) keep[i] = !sel[i];
        if (!st) st = clz_writer_create(&sw);
        if (!st) st = api_header_finish(ds, keep, root, sw, header); /* adds the schema chunk to sw */
        clz_chunk ch;
        const uint8_t *d;
        if (!st) st = clz_writer_chunk_at(sw, 0, &ch, &d);
        if (!st) st = cz_buf_put(schema, d, (size_t)ch.size);
        if (!st) st = clz_writer_add_external(meta, ch.var, ch.t, ch.stream, ch.size, ch.crc);
        clz_writer_free(sw);
        free(keep);
    }
    json_decref(entry);
    cz_buf_free(&msg);
    free(decoded);
    io_field_free(&f);
    json_decref(root);
    return st;
}

climz_status czmpi_compress_file(climz_ctx *ctx, const char *in_path, const char *out_path,
                                 const climz_compress_opts *opts_in, MPI_Comm comm) {
    if (!ctx) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    climz_compress_opts opts = opts_in ? *opts_in : (climz_compress_opts){0};
    if (rank) opts.progress = NULL; /* rank 0 alone reports */
    climz_status st = CLIMZ_OK;
    if (!in_path || !out_path) st = cz_error(CLIMZ_ERR_INVALID_ARG, "input and output paths are required");
    const api_codec *c = st ? NULL : api_codec_for(&opts);
    if (!st && !c) st = CLIMZ_ERR_UNSUPPORTED;

    cz_dataset *ds = NULL;
    uint8_t *sel = NULL, *keep = NULL;
    slice *sl = NULL;
    size_t ns = 0, nmine = 0;
    slice_out *out = NULL;
    clz_writer *meta = NULL;
    cz_buf schema = {0}, head = {0};
    char *header = NULL, *tmp = NULL;
    cz_field f = {0};
    int fvar = -1, have_tmp = 0;

    /* phase 1: open, select, plan (every rank the same) */
    if (!st) st = io_open(in_path, &ds);
    if (!st) {
        sel = calloc((size_t)ds->nvars + 1, 1);
        keep = calloc((size_t)ds->nvars + 1, 1);
        if (!sel || !keep) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    if (!st) st = api_select_vars(ds, opts.vars, sel);
    if (!st) {
        for (int i = 0; i < ds->nvars; i++) keep[i] = sel[i] || !ds->vars[i].is_grid;
        io_drop_vars(ds, keep);
        st = api_select_vars(ds, opts.vars, sel);
    }
    if (!st) st = plan(ctx, c, ds, sel, nranks, &sl, &ns);
    st = agree(st, comm);
    if (st) goto done;

    /* phase 2: each rank codes its slices */
    for (size_t k = 0; k < ns; k++) nmine += sl[k].owner == rank;
    out = calloc(nmine + 1, sizeof *out);
    if (!out) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    const char *inject = getenv("CLIMZ_MPI_FAIL_RANK");
    if (!st && inject && atoi(inject) == rank)
        st = cz_error(CLIMZ_ERR_IO, "injected failure (CLIMZ_MPI_FAIL_RANK=%d)", rank);
    for (size_t k = 0, j = 0; k < ns && !st; k++) {
        if (sl[k].owner != rank) continue;
        if (sl[k].var != fvar) {
            io_field_free(&f);
            fvar = sl[k].var;
            st = io_load_field(ds, fvar, &f);
        }
        if (!st) st = encode_slice(ctx, &opts, c, ds, &sl[k], &f, &out[j++]);
        if (st) cz_error_prefix(st, "variable '%s'", ds->vars[sl[k].var].name);
    }
    io_field_free(&f);
    st = agree(st, comm);
    if (st) goto done;

    /* phase 3: chunk tables, entries and decoded values to rank 0, which builds the head */
    if (rank == 0) {
        if (clz_writer_create(&meta)) MPI_Abort(comm, 1); /* the other ranks are sending */
        /* assemble() receives every message whatever happens, so the senders never hang */
        st = assemble(ctx, c, ds, sel, sl, ns, out, in_path, meta, &schema, &header, comm);
        if (!st) st = clz_writer_head(meta, header, &head);
        if (!st) st = cz_temp_path_beside(out_path, &tmp);
        have_tmp = !st;
    } else {
        cz_buf msg = {0};
        for (size_t k = 0, j = 0; k < ns; k++) {
            if (sl[k].owner != rank) continue;
            msg.size = 0;
            climz_status const r = pack_meta(&out[j], &msg);
            if (r && !st) st = r;
            MPI_Send(r ? NULL : msg.data, r ? 0 : (int)msg.size, MPI_BYTE, 0, TAG_META, comm);
            if (!r) send_floats(out[j].decoded, out[j].n, comm);
            j++;
        }
        cz_buf_free(&msg);
    }
    st = agree(st, comm);
    if (st) goto done;

    /* phase 4: offsets, and the one shared file */
    uint64_t data_start = head.size, mine = 0, base = 0;
    for (size_t j = 0; j < nmine; j++) mine += clz_writer_payload_bytes(out[j].w);
    MPI_Bcast(&data_start, 1, MPI_UINT64_T, 0, comm);
    MPI_Exscan(&mine, &base, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (rank == 0) base = 0; /* MPI_Exscan leaves rank 0's result undefined */
    int tlen = rank == 0 ? (int)strlen(tmp) + 1 : 0;
    MPI_Bcast(&tlen, 1, MPI_INT, 0, comm);
    if (rank) {
        tmp = malloc((size_t)tlen);
        have_tmp = 1;
    }
    MPI_Bcast(tmp, tlen, MPI_CHAR, 0, comm);
    MPI_File fh;
    int const orc = MPI_File_open(comm, tmp, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    if (orc != MPI_SUCCESS) {
        char e[MPI_MAX_ERROR_STRING];
        int len;
        MPI_Error_string(orc, e, &len);
        st = cz_error(CLIMZ_ERR_IO, "%s: MPI_File_open: %s", tmp, e);
    } else {
        uint64_t at = data_start + base;
        for (size_t j = 0; j < nmine && !st; j++) {
            clz_chunk ch;
            const uint8_t *d = NULL;
            size_t const n = clz_writer_payload_bytes(out[j].w);
            if (n) st = clz_writer_chunk_at(out[j].w, 0, &ch, &d);
            if (!st) st = write_at(fh, at, d, n, "chunks");
            at += n;
        }
        if (rank == 0 && !st) st = write_at(fh, 0, head.data, head.size, "header and index");
        if (rank == 0 && !st) { /* the schema: the last payload */
            const clz_chunk *last = NULL;
            clz_chunk ch;
            const uint8_t *d;
            size_t const nc = clz_writer_nchunks(meta);
            if (!clz_writer_chunk_at(meta, nc - 1, &ch, &d)) last = &ch;
            st = last ? write_at(fh, data_start + last->offset, schema.data, schema.size, "schema")
                      : cz_error(CLIMZ_ERR_GENERIC, "no schema chunk");
        }
        if (MPI_File_sync(fh) != MPI_SUCCESS && !st) st = cz_error(CLIMZ_ERR_IO, "%s: MPI_File_sync failed", tmp);
        if (MPI_File_close(&fh) != MPI_SUCCESS && !st) st = cz_error(CLIMZ_ERR_IO, "%s: MPI_File_close failed", tmp);
    }
    st = agree(st, comm);
    if (!st && rank == 0) {
        st = cz_rename_into_place(tmp, out_path);
        have_tmp = st != CLIMZ_OK;
    }
    st = agree(st, comm);

done:
    if (rank == 0 && have_tmp && tmp) unlink(tmp);
    if (st && !strstr(cz_error_message(), in_path ? in_path : "")) cz_error_prefix(st, "%s", in_path ? in_path : "");
    for (size_t j = 0; out && j < nmine; j++) {
        clz_writer_free(out[j].w);
        free(out[j].entry);
        free(out[j].decoded);
    }
    free(out);
    free(tmp);
    free(header);
    cz_buf_free(&schema);
    cz_buf_free(&head);
    clz_writer_free(meta);
    free(sl);
    free(sel);
    free(keep);
    io_free(ds);
    return api_fail(ctx, st);
}
