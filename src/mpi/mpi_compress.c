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
 *  - Reading: every rank opens the input lazily without the specials pass (IO_OPEN_LAZY |
 *    IO_OPEN_NO_SCAN: coordinates and attributes only) and reads from disk just the steps of
 *    its slices. What needs a whole variable is gathered: the missing-value specials (each
 *    rank scans its steps, the parts are merged in file order on every rank: the specials
 *    of one process), the value range of --rel-error (min / max reduced over the ranks: the
 *    same doubles), the mask chunks (the owner of a variable's first slice writes all of
 *    them first, as one process does: the other owners send theirs) and the header errors:
 *    the owners of a variable coded in slices send their original values and missing map
 *    with the decoded values, so rank 0 measures the errors on the whole field in the same
 *    order (the same bits) without reading it. A variable coded whole is measured by its
 *    owner (api_compress_field); rank 0 gets only its entry.
 *
 * Failures: after each phase the ranks agree on a status (MPI_Allreduce of the first failing
 * rank); the failing rank's message is broadcast and every rank returns it, prefixed with
 * "rank R of N". The temporary file is removed; nothing appears at the output path.
 * CLIMZ_MPI_FAIL_RANK=R (tests) makes rank R fail as its encoding starts; CLIMZ_MPI_READ_REPORT
 * (tests, bench) makes each rank say on stderr how many bytes it read during the call (rchar
 * of /proc/self/io: every read call, page cache or disk; the input, and a model if any). */
#include "api/codec.h"
#include "mpi_internal.h"
#include "container/container.h"
#include "residual/residual.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAG_META 101
#define TAG_VALUES 102
#define TAG_MASKS 103

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
    void *raw;         /* the slice's steps as stored, until the specials are known */
    cz_field orig;     /* the slice's steps as read */
    float *decoded;    /* n = (t1 - t0) * plane values; n = 0 for a variable coded whole */
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

/* 1 when slice s is the whole variable (steps [0, nt) of shape) */
static int slice_whole(const cz_dataset *ds, const slice *s) {
    size_t nt = 1, nz, ny, nx;
    if (io_field_shape(ds, s->var, &nt, &nz, &ny, &nx) != CLIMZ_OK) {
        cz_error_clear();
        nt = 1;
    }
    return s->t0 == 0 && s->t1 == (nt ? nt : 1);
}

/* Codes slice s from f (its steps). A slice of a split variable codes under bound E with
 * the codec alone; the first one also writes the variable's masks: its own steps', then the
 * packed mask chunks of the later slices (masks_in, see pack_masks), as one process does. */
static climz_status encode_slice(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec *c,
                                 const cz_dataset *ds, const slice *s, const cz_field *f, double E,
                                 const cz_buf *masks_in, size_t masks_in_bytes, slice_out *o) {
    size_t const plane = f->nz * f->ny * f->nx;
    CZ_RETURN_IF(plane * f->nt == 0, CLIMZ_ERR_EMPTY, "variable '%s' has no points (a dimension of size 0)",
                 ds->vars[s->var].name);
    CZ_FORWARD(clz_writer_create(&o->w));
    climz_status st = CLIMZ_OK;
    json_t *e = NULL;
    if (slice_whole(ds, s)) { /* as one process codes it, entry and errors complete */
        st = api_compress_field(ctx, opts, c, ds, s->var, f, o->w, &e);
    } else {
        size_t const n = (s->t1 - s->t0) * plane;
        o->n = n;
        o->decoded = malloc(n * sizeof *o->decoded);
        CZ_RETURN_IF(!o->decoded, CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", ds->vars[s->var].name);
        if (s->t0 == 0) {
            CZ_FORWARD(api_write_masks(o->w, (uint32_t)s->var, &ds->vars[s->var], f, &o->mask_bytes));
            const uint8_t *p = masks_in ? masks_in->data : NULL;
            size_t at = 0;
            while (masks_in && at + 14 <= masks_in->size && !st) { /* t, stream, size, bytes */
                uint32_t const t = cz_load_le32(p + at);
                uint16_t const stream = (uint16_t)(p[at + 4] | p[at + 5] << 8);
                uint64_t const size = cz_load_le64(p + at + 6);
                at += 14;
                if (size > masks_in->size - at) st = cz_error(CLIMZ_ERR_CORRUPT, "short mask message from a rank");
                else st = clz_writer_add(o->w, (uint32_t)s->var, t, stream, p + at, (size_t)size);
                at += (size_t)size;
            }
            o->mask_bytes += masks_in_bytes;
        }
        api_encode_args const args = {ctx, opts, ds, s->var, f, E};
        e = json_object();
        if (!st) st = c->encode(&args, o->w, o->decoded, e);
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

/* The mask chunks of a later slice s (field f), keys shifted to the variable's steps, packed
 * for the owner of the variable's first slice: per chunk t, stream, size, bytes. */
static climz_status pack_masks(const cz_dataset *ds, const slice *s, const cz_field *f, cz_buf *b, size_t *bytes) {
    clz_writer *w;
    CZ_FORWARD(clz_writer_create(&w));
    climz_status st = api_write_masks(w, (uint32_t)s->var, &ds->vars[s->var], f, bytes);
    for (size_t k = 0; k < clz_writer_nchunks(w) && !st; k++) {
        clz_chunk ch;
        const uint8_t *d;
        st = clz_writer_chunk_at(w, k, &ch, &d);
        if (!st) st = cz_buf_put_u32(b, ch.t + (uint32_t)s->t0);
        if (!st) st = cz_buf_put_u16(b, ch.stream);
        if (!st) st = cz_buf_put_u64(b, ch.size);
        if (!st) st = cz_buf_put(b, d, (size_t)ch.size);
    }
    clz_writer_free(w);
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
        int const whole = slice_whole(ds, s);
        if (s->t0 == 0 && !st) { /* a new variable: its original and decoded values come in slices */
            io_field_free(&f);
            free(decoded);
            decoded = NULL;
            if (whole) f.nt = 1, f.nz = f.ny = f.nx = 0; /* its owner measured it */
            else st = io_field_shape(ds, s->var, &f.nt, &f.nz, &f.ny, &f.nx);
            size_t const n = f.nt * f.nz * f.ny * f.nx;
            if (!st && !whole) {
                f.values = malloc((n ? n : 1) * sizeof *f.values);
                f.miss = malloc(n ? n : 1);
                decoded = malloc((n ? n : 1) * sizeof *decoded);
                if (!f.values || !f.miss || !decoded) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
                if (!st) st = io_field_coords(ds, s->var, &f);
            }
        }
        size_t const plane = f.nz * f.ny * f.nx;
        const uint8_t *mp;
        size_t msize;
        if (s->owner == 0) {
            msg.size = 0;
            if (!st) st = pack_meta(mine++, &msg);
            mp = msg.data;
            msize = msg.size;
            size_t const n = (s->t1 - s->t0) * plane;
            if (!st && n) {
                memcpy(decoded + s->t0 * plane, mine[-1].decoded, n * sizeof *decoded);
                memcpy(f.values + s->t0 * plane, mine[-1].orig.values, n * sizeof *f.values);
                memcpy(f.miss + s->t0 * plane, mine[-1].orig.miss, n);
            }
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
            if (!st && n == (s->t1 - s->t0) * plane) {
                if (n) {
                    recv_floats(decoded + s->t0 * plane, n, s->owner, comm);
                    recv_floats(f.values + s->t0 * plane, n, s->owner, comm);
                    czmpi_recv(f.miss + s->t0 * plane, n, s->owner, TAG_VALUES, comm);
                }
            } else {
                float *scratch = malloc((n ? n : 1) * sizeof *scratch);
                if (!scratch) MPI_Abort(comm, 1); /* cannot drain the message */
                recv_floats(scratch, n, s->owner, comm);
                recv_floats(scratch, n, s->owner, comm);
                czmpi_recv(scratch, n, s->owner, TAG_VALUES, comm);
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
        if (!st && (whole || s->t1 == f.nt)) { /* the variable's last slice */
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

/* ---- reading: each rank its own steps ---- */

/* Reads the stored values of this rank's slices and scans them for missing values. */
static climz_status read_mine(const cz_dataset *ds, const slice *sl, size_t ns, int rank, slice_out *out,
                              io_specials_part *parts) {
    climz_status st = CLIMZ_OK;
    for (size_t k = 0, j = 0; k < ns && !st; k++) {
        if (sl[k].owner != rank) continue;
        const slice *s = &sl[k];
        st = io_load_raw_times(ds, s->var, s->t0, s->t1 - s->t0, &out[j].raw);
        size_t nt, nz, ny, nx;
        if (!st && ds->vars[s->var].scan_pending && !(st = io_field_shape(ds, s->var, &nt, &nz, &ny, &nx))) {
            io_specials_part p;
            st = io_specials_scan(ds, s->var, out[j].raw, (s->t1 - s->t0) * nz * ny * nx, &p);
            io_specials_merge(&parts[s->var], &p); /* this rank's slices are in file order */
        }
        if (st) cz_error_prefix(st, "variable '%s'", ds->vars[s->var].name);
        j++;
    }
    return st;
}

/* Collective: every rank merges the ranks' scans in rank order (= file order: slice owners
 * rise along the file), sets the specials, and unpacks its slices. */
static climz_status merge_specials(cz_dataset *ds, const slice *sl, size_t ns, int rank, slice_out *out,
                                   const io_specials_part *parts, MPI_Comm comm) {
    int nranks;
    MPI_Comm_size(comm, &nranks);
    size_t const nv = (size_t)ds->nvars, bytes = nv * sizeof *parts;
    io_specials_part *all = malloc((bytes ? bytes : 1) * (size_t)nranks);
    if (!all) MPI_Abort(comm, 1); /* the other ranks are in the collective */
    CZ_RETURN_IF(bytes > INT_MAX, CLIMZ_ERR_DIMENSION, "too many variables");
    MPI_Allgather(parts, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, comm);
    climz_status st = CLIMZ_OK;
    for (size_t i = 0; i < nv && !st; i++) {
        if (!ds->vars[i].scan_pending) continue;
        io_specials_part m = all[i];
        for (int r = 1; r < nranks; r++) io_specials_merge(&m, &all[(size_t)r * nv + i]);
        st = io_specials_set(ds, (int)i, &m);
    }
    free(all);
    for (size_t k = 0, j = 0; k < ns && !st; k++) {
        if (sl[k].owner != rank) continue;
        st = io_field_from_raw(ds, sl[k].var, out[j].raw, sl[k].t1 - sl[k].t0, &out[j].orig);
        free(out[j].raw);
        out[j++].raw = NULL;
    }
    return st;
}

/* Collective: bound[i], the error bound of each variable coded in slices, from its range of
 * valid values reduced over the ranks (min and max: the same doubles as one pass). */
static climz_status reduce_bounds(const climz_ctx *ctx, const cz_dataset *ds, const slice *sl, size_t ns,
                                  int rank, const slice_out *out, double **bound, MPI_Comm comm) {
    size_t const nv = (size_t)ds->nvars;
    double *lo = malloc((nv + 1) * sizeof *lo), *hi = malloc((nv + 1) * sizeof *hi);
    double *cnt = calloc(nv + 1, sizeof *cnt);
    *bound = calloc(nv + 1, sizeof **bound);
    if (!lo || !hi || !cnt || !*bound) MPI_Abort(comm, 1); /* the other ranks are in the collective */
    for (size_t i = 0; i < nv; i++) lo[i] = INFINITY, hi[i] = -INFINITY;
    for (size_t k = 0, j = 0; k < ns; k++) {
        if (sl[k].owner != rank) continue;
        const cz_field *f = &out[j++].orig;
        size_t const n = f->nt * f->nz * f->ny * f->nx, i = (size_t)sl[k].var;
        for (size_t p = 0; p < n; p++)
            if (!f->miss[p]) {
                double const v = f->values[p];
                lo[i] = v < lo[i] ? v : lo[i];
                hi[i] = v > hi[i] ? v : hi[i];
                cnt[i]++;
            }
    }
    MPI_Allreduce(MPI_IN_PLACE, lo, (int)nv, MPI_DOUBLE, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, hi, (int)nv, MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, cnt, (int)nv, MPI_DOUBLE, MPI_SUM, comm);
    climz_status st = CLIMZ_OK;
    for (size_t k = 0; k < ns && !st; k++) {
        if (sl[k].t0 || slice_whole(ds, &sl[k])) continue; /* a variable coded whole: its codec */
        int const i = sl[k].var;
        api_bound b;
        st = api_range_bound(ctx, &ds->vars[i], cnt[i] > 0 ? lo[i] : 0, cnt[i] > 0 ? hi[i] : 0, &b);
        if (st) cz_error_prefix(st, "variable '%s'", ds->vars[i].name);
        else (*bound)[i] = b.E;
    }
    free(lo);
    free(hi);
    free(cnt);
    return st;
}

/* ---- masks: a variable's are all written with its first slice ---- */

/* Posts this rank's mask message (at most one: its first slice, when it continues a variable
 * begun on a lower rank) to the owner of that variable's first slice. */
static climz_status send_masks(const cz_dataset *ds, const slice *sl, size_t ns, int rank, const slice_out *out,
                               cz_buf *msg, MPI_Request *req, MPI_Comm comm) {
    climz_status st = CLIMZ_OK;
    for (size_t k = 0, j = 0; k < ns; k++) {
        if (sl[k].owner != rank) continue;
        const slice *s = &sl[j++, k];
        if (s->t0 == 0) continue;
        size_t first = k;
        while (first > 0 && sl[first].t0) first--;
        size_t bytes = 0;
        msg->size = 0;
        st = cz_buf_put_u64(msg, 0);
        if (!st) st = pack_masks(ds, s, &out[j - 1].orig, msg, &bytes);
        if (!st) cz_store_le64(msg->data, bytes);
        MPI_Isend(st ? NULL : msg->data, st ? 0 : (int)msg->size, MPI_BYTE, sl[first].owner, TAG_MASKS, comm, req);
        return st;
    }
    return st;
}

/* The mask chunks of the later slices of first slice k's variable, in file order. */
static climz_status recv_masks(const slice *sl, size_t ns, size_t k, cz_buf *masks, size_t *bytes, MPI_Comm comm) {
    climz_status st = CLIMZ_OK;
    for (size_t kk = k + 1; kk < ns && sl[kk].var == sl[k].var && sl[kk].t0; kk++) {
        MPI_Status ms;
        int count;
        MPI_Probe(sl[kk].owner, TAG_MASKS, comm, &ms);
        MPI_Get_count(&ms, MPI_BYTE, &count);
        uint8_t *p = malloc((size_t)count + 1);
        if (!p) MPI_Abort(comm, 1); /* cannot drain the message */
        MPI_Recv(p, count, MPI_BYTE, sl[kk].owner, TAG_MASKS, comm, MPI_STATUS_IGNORE);
        if (count < 8 && !st) st = cz_error(CLIMZ_ERR_GENERIC, "rank %d sent no masks", sl[kk].owner);
        if (!st) *bytes += (size_t)cz_load_le64(p);
        if (!st) st = cz_buf_put(masks, p + 8, (size_t)count - 8);
        free(p);
    }
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
    double *bound = NULL;
    int have_tmp = 0;

    unsigned long long const read0 = czmpi_bytes_read();
    /* phase 1: open (coordinates and attributes), select, plan (every rank the same) */
    if (!st) st = io_open_ex(in_path, IO_OPEN_LAZY | IO_OPEN_NO_SCAN, &ds);
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

    /* phase 2: each rank reads its steps; the specials and ranges of the whole variables */
    for (size_t k = 0; k < ns; k++) nmine += sl[k].owner == rank;
    out = calloc(nmine + 1, sizeof *out);
    if (!out) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    io_specials_part *parts = st ? NULL : calloc((size_t)ds->nvars + 1, sizeof *parts);
    if (!st && !parts) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    if (!st) st = read_mine(ds, sl, ns, rank, out, parts);
    st = agree(st, comm);
    if (!st) st = agree(merge_specials(ds, sl, ns, rank, out, parts, comm), comm);
    free(parts);
    if (!st) st = agree(reduce_bounds(ctx, ds, sl, ns, rank, out, &bound, comm), comm);
    if (st) goto done;

    /* phase 3: the masks of later slices to their variable's first slice; each rank codes */
    const char *inject = getenv("CLIMZ_MPI_FAIL_RANK");
    if (inject && atoi(inject) == rank)
        st = cz_error(CLIMZ_ERR_IO, "injected failure (CLIMZ_MPI_FAIL_RANK=%d)", rank);
    /* the mask messages are posted, received whatever happens and waited for after coding */
    cz_buf mask_msg = {0};
    MPI_Request mask_req = MPI_REQUEST_NULL;
    climz_status const sm = send_masks(ds, sl, ns, rank, out, &mask_msg, &mask_req, comm);
    if (!st) st = sm;
    for (size_t k = 0, j = 0; k < ns; k++) {
        if (sl[k].owner != rank) continue;
        cz_buf masks = {0};
        size_t mbytes = 0;
        climz_status r = CLIMZ_OK;
        if (sl[k].t0 == 0 && !slice_whole(ds, &sl[k])) r = recv_masks(sl, ns, k, &masks, &mbytes, comm);
        if (!st) st = r;
        if (!st) {
            st = encode_slice(ctx, &opts, c, ds, &sl[k], &out[j].orig, bound[sl[k].var], &masks, mbytes, &out[j]);
            if (st) cz_error_prefix(st, "variable '%s'", ds->vars[sl[k].var].name);
        }
        cz_buf_free(&masks);
        j++;
    }
    MPI_Wait(&mask_req, MPI_STATUS_IGNORE);
    cz_buf_free(&mask_msg);
    st = agree(st, comm);
    if (st) goto done;

    /* phase 4: chunk tables, entries and decoded values to rank 0, which builds the head */
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
            if (!r && out[j].n) {
                send_floats(out[j].decoded, out[j].n, comm);
                send_floats(out[j].orig.values, out[j].n, comm);
                czmpi_send(out[j].orig.miss, out[j].n, 0, TAG_VALUES, comm);
            }
            j++;
        }
        cz_buf_free(&msg);
    }
    st = agree(st, comm);
    if (st) goto done;

    /* phase 5: offsets, and the one shared file */
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
    if (getenv("CLIMZ_MPI_READ_REPORT")) /* the whole call, as the one-process figure (mpi_cli.c) */
        fprintf(stderr, "climz: rank %d of %d read %llu bytes of input\n", rank, nranks, czmpi_bytes_read() - read0);
    if (rank == 0 && have_tmp && tmp) unlink(tmp);
    if (st && !strstr(cz_error_message(), in_path ? in_path : "")) cz_error_prefix(st, "%s", in_path ? in_path : "");
    for (size_t j = 0; out && j < nmine; j++) {
        clz_writer_free(out[j].w);
        free(out[j].entry);
        free(out[j].decoded);
        io_field_free(&out[j].orig);
    }
    free(bound);
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
