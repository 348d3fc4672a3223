/* mpi_compress.c — czmpi_compress_file(): one data set into one .clz, the encoding spread over
 * the ranks of an MPI communicator, the file byte-identical to one process's.
 *
 * How the work is split
 *  - Work units, in file order: for every selected variable, the codec's split_steps (codec.h)
 *    where its chunks of distinct units are independent of each other, else the whole
 *    variable (doc/mpi.md has the table):
 *      residual (not --temporal): blocks of K = res_time_block() steps;
 *      vaeformer: prediction groups of G steps; under a bound lcm(G, K), whole groups that
 *      are also whole blocks of its residual stage and of the residual codec it is weighed
 *      against; a rate target (rmse, rel-rmse, ratio: searched on the whole field) and
 *      --temporal with the fallback are coded whole;
 *      inr, integer storage: the whole variable (one unit; a file with several variables
 *      still spreads them over the ranks).
 *    Units go to ranks in contiguous runs of about equal points, so each rank owns one
 *    contiguous stretch of the file's payloads (at most one slice of a variable), and one run
 *    of units of a variable is coded by one codec call on that slice of the field.
 *    Variables with no points are left out and noted in the header, as in one process.
 *  - A slice of whole units codes to the same chunks as inside the whole field: the residual
 *    block length is min(steps, K(plane)), and a slice's length is a multiple of K or the
 *    field's tail; a VAEformer group is normalised, predicted, coded and synthesised on its
 *    own steps. Its chunk keys are shifted by the slice's first step.
 *  - Per-variable decisions (api_encode_checked): the owners of a split variable share a
 *    communicator (split_link); the NaN fallback, the fill-value retry and the never-worse
 *    choice of the residual codec are taken on counts and sizes summed over the owners in
 *    slice order, with the header keys merged (the codec's merge_entry), so every owner takes
 *    the decision one process takes on the whole field, and the entry rank 0 completes is the
 *    one process's. A failure on one owner reaches the others in their next collective; they
 *    drop the variable and the failing rank reports.
 *  - Every rank encodes its slices into memory; then rank 0 receives from each rank, in file
 *    order, the chunk table (keys, sizes, CRCs), the codec's header entry and the decoded
 *    values of each slice, and builds the header exactly as compress.c does (the errors are
 *    measured on the whole decoded field, in the same order, so they are the same bits).
 *  - Offsets: rank 0 places the chunks in one process's order (place_var: a variable's masks,
 *    then its codec's streams one after the other, each slice after slice: the VAEformer's
 *    latent chunks of every rank come before its residual chunks), sends each rank the file
 *    offsets of its chunks, and each writes them there with MPI-IO (runs that follow each
 *    other in one write); rank 0 writes preamble, header, index and the schema chunk (the
 *    last payload).
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
 * of /proc/self/io: every read call, page cache or disk; the input, and a model if any);
 * CLIMZ_MPI_PLAN_REPORT which steps of which variable it codes, and the CPU and wall seconds
 * of its call. */
#include "api/codec.h"
#include "mpi_internal.h"
#include "container/container.h"

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
#define TAG_OFFSETS 104

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
    const api_codec *used; /* a slice of a split variable: the codec it was coded with */
    double E;              /* and the bound */
} slice_out;

/* ---- the owners of a split variable agree (api_split) ---- */

/* The ranks that code slices of one variable: a communicator of their own (slice order = rank
 * order), and whether the failure the last collective returned was another owner's. */
typedef struct split_link {
    MPI_Comm comm;
    int elsewhere;
} split_link;

#define LINK_MAX_SUM 4

/* Collective over l: the status of owner `first`, which failed (st: this owner's), with its
 * message on every owner. */
static climz_status link_failure(split_link *l, int first, climz_status code, climz_status st) {
    int me;
    MPI_Comm_rank(l->comm, &me);
    char msg[1024] = "";
    if (me == first) snprintf(msg, sizeof msg, "%s", cz_error_message());
    MPI_Bcast(msg, sizeof msg, MPI_CHAR, first, l->comm);
    if (me == first) return st;
    l->elsewhere = 1;
    return cz_error(code, "%s", msg[0] ? msg : climz_status_name(code));
}

/* api_split's sum: every owner's status and values gathered, added in slice order. */
static climz_status link_sum(void *user, climz_status st, size_t *v, size_t n) {
    split_link *l = user;
    int no;
    MPI_Comm_size(l->comm, &no);
    uint64_t rec[1 + LINK_MAX_SUM] = {(uint64_t)st};
    for (size_t k = 0; k < n && k < LINK_MAX_SUM; k++) rec[1 + k] = v[k];
    uint64_t *all = malloc((size_t)no * sizeof rec);
    if (!all) MPI_Abort(l->comm, 1); /* the other owners are in the collective */
    MPI_Request req; /* the other owners may still be coding their slices: wait asleep */
    MPI_Iallgather(rec, 1 + LINK_MAX_SUM, MPI_UINT64_T, all, 1 + LINK_MAX_SUM, MPI_UINT64_T, l->comm, &req);
    czmpi_wait(&req);
    int first = -1;
    for (int r = 0; r < no && first < 0; r++)
        if (all[(size_t)r * (1 + LINK_MAX_SUM)]) first = r;
    climz_status const code = first < 0 ? CLIMZ_OK : (climz_status)all[(size_t)first * (1 + LINK_MAX_SUM)];
    for (size_t k = 0; first < 0 && k < n && k < LINK_MAX_SUM; k++) {
        v[k] = 0;
        for (int r = 0; r < no; r++) v[k] += (size_t)all[(size_t)r * (1 + LINK_MAX_SUM) + 1 + k];
    }
    free(all);
    return first < 0 ? CLIMZ_OK : link_failure(l, first, code, st);
}

/* api_split's merge: every owner's keys gathered as JSON and merged in slice order. */
static climz_status link_merge(void *user, climz_status st, const api_codec *c, json_t **e) {
    split_link *l = user;
    int no;
    MPI_Comm_size(l->comm, &no);
    char *mine = st ? NULL : json_dumps(*e, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
    if (!st && (!mine || strlen(mine) > INT_MAX / 4)) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    int const ilen = mine ? (int)strlen(mine) : 0;
    st = link_sum(user, st, NULL, 0); /* every owner has its keys */
    int *counts = st ? NULL : malloc(2 * (size_t)no * sizeof *counts);
    if (!st && !counts) MPI_Abort(l->comm, 1);
    char *all = NULL;
    if (!st) {
        MPI_Allgather(&ilen, 1, MPI_INT, counts, 1, MPI_INT, l->comm);
        size_t total = 0;
        for (int r = 0; r < no; r++) {
            counts[no + r] = total <= INT_MAX ? (int)total : 0; /* displacement */
            total += (size_t)counts[r];
        }
        if (total > INT_MAX) st = cz_error(CLIMZ_ERR_DIMENSION, "header entries too large"); /* on every owner */
        all = st ? NULL : malloc(total + 1);
        if (!st && !all) MPI_Abort(l->comm, 1);
        if (!st) MPI_Allgatherv(mine, ilen, MPI_CHAR, all, counts, counts + no, MPI_CHAR, l->comm);
    }
    free(mine);
    json_t *into = NULL;
    for (int r = 0; r < no && !st; r++) {
        json_error_t jerr;
        json_t *x = json_loadb(all + counts[no + r], (size_t)counts[r], 0, &jerr);
        if (!x) st = cz_error(CLIMZ_ERR_CORRUPT, "the keys of a slice: %s", jerr.text);
        else if (!into) into = x;
        else {
            if (c->merge_entry) st = c->merge_entry(into, x);
            json_decref(x);
        }
    }
    free(all);
    free(counts);
    if (st) {
        json_decref(into);
        return st;
    }
    json_decref(*e);
    *e = into;
    return CLIMZ_OK;
}

#define agree czmpi_agree

/* ---- plan ---- */

/* The steps of a unit of variable v of shape (nt, nz, ny, nx): the codec's split_steps, or nt
 * (the variable coded whole). Integer storage is coded whole: a valid value that would be
 * written as the fill value makes the bound be retried with half the quanta, which the owners
 * of a split variable would agree on like the other decisions, but no test covers it yet. */
static size_t unit_steps(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec *c, const cz_var *v,
                         size_t nt, size_t nz, size_t ny, size_t nx) {
    size_t const whole = nt ? nt : 1;
    if (!c->split_steps || api_storage_quantum(v) != 0) return whole;
    size_t const k = c->split_steps(ctx, opts, nt, nz, ny, nx);
    return k && k < nt ? k : whole;
}

/* Slices of the selected variables, in file order, owned by contiguous runs of ranks. */
static climz_status plan(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec *c,
                         const cz_dataset *ds, const uint8_t *sel, int nranks, slice **out, size_t *nout) {
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
        size_t const plane = nz * ny * nx > 0 ? nz * ny * nx : 1, k = unit_steps(ctx, opts, c, &ds->vars[i], nt, nz, ny, nx);
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

/* Codes slice s from f (its steps). A slice of a split variable codes under bound b with the
 * checks and choices of one process, agreed with the variable's other owners over link
 * (api_encode_checked); the first one also writes the variable's masks: its own steps', then
 * the packed mask chunks of the later slices (masks_in, see pack_masks), as one process does.
 * A failure before the coding still takes part in the owners' first collective. */
static climz_status encode_slice(const climz_ctx *ctx, const climz_compress_opts *opts, const api_codec *c,
                                 const cz_dataset *ds, const slice *s, const cz_field *f, api_bound b,
                                 split_link *link, const cz_buf *masks_in, size_t masks_in_bytes, slice_out *o) {
    size_t const plane = f->nz * f->ny * f->nx;
    climz_status st = plane * f->nt != 0 ? clz_writer_create(&o->w)
                                    : cz_error(CLIMZ_ERR_EMPTY, "variable '%s' has no points (a dimension of size 0)",
                                               ds->vars[s->var].name);
    json_t *e = NULL;
    if (!link) { /* as one process codes it, entry and errors complete */
        if (!st) st = api_compress_field(ctx, opts, c, ds, s->var, f, o->w, &e);
    } else {
        size_t const n = (s->t1 - s->t0) * plane;
        o->n = n;
        o->decoded = st ? NULL : malloc((n ? n : 1) * sizeof *o->decoded);
        if (!st && !o->decoded) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory for variable '%s'", ds->vars[s->var].name);
        if (!st && s->t0 == 0) {
            st = api_write_masks(o->w, (uint32_t)s->var, &ds->vars[s->var], f, &o->mask_bytes);
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
        api_split const sp = {link_sum, link_merge, link};
        o->used = c;
        if (st) return link_sum(link, st, NULL, 0); /* the other owners learn it in their first collective */
        st = api_encode_checked(ctx, opts, &o->used, ds, s->var, f, &b, &sp, o->w, o->decoded, &e);
        o->E = b.E;
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
    CZ_FORWARD(cz_buf_put_str(b, o->entry ? o->entry : ""));
    CZ_FORWARD(cz_buf_put_str(b, o->used ? o->used->name : ""));
    uint64_t E;
    memcpy(&E, &o->E, sizeof E);
    return cz_buf_put_u64(b, E);
}

/* One chunk of a slice as rank 0 places it: its key, size and CRC, and where it is: the
 * owner and its number among the owner's chunks (slices in file order, each in its order). */
typedef struct chunk_rec {
    uint32_t var, t, crc;
    uint16_t stream;
    uint64_t size;
    int owner;
    size_t local;
} chunk_rec;

typedef struct chunk_list {
    chunk_rec *r;
    size_t n, cap;
} chunk_list;

static climz_status chunk_list_add(chunk_list *l, chunk_rec c) {
    if (l->n == l->cap) {
        size_t const cap = l->cap ? 2 * l->cap : 256;
        chunk_rec *r = realloc(l->r, cap * sizeof *r);
        CZ_RETURN_IF(!r, CLIMZ_ERR_ALLOC, "out of memory");
        l->r = r;
        l->cap = cap;
    }
    l->r[l->n++] = c;
    return CLIMZ_OK;
}

/* Appends the chunk table of a packed slice of owner to l (*local: the owner's chunks so far);
 * *entry: the codec's entry JSON (or NULL); a slice of a split variable: *used, the codec it
 * was coded with (else NULL), *E its bound. */
static climz_status unpack_meta(const uint8_t *p, size_t size, int owner, size_t *local, chunk_list *l,
                                size_t *mask_bytes, json_t **entry, const api_codec **used, double *E) {
    CZ_RETURN_IF(size < 20, CLIMZ_ERR_CORRUPT, "short message from a rank");
    *mask_bytes = (size_t)cz_load_le64(p + 8);
    uint32_t const n = cz_load_le32(p + 16);
    size_t at = 20;
    CZ_RETURN_IF((size - at) / 22 < n, CLIMZ_ERR_CORRUPT, "short message from a rank");
    for (uint32_t k = 0; k < n; k++, at += 22) {
        chunk_rec const c = {cz_load_le32(p + at),      cz_load_le32(p + at + 4), cz_load_le32(p + at + 10),
                             (uint16_t)(p[at + 8] | p[at + 9] << 8), cz_load_le64(p + at + 14), owner, (*local)++};
        CZ_FORWARD(chunk_list_add(l, c));
    }
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
    at += len;
    char name[64] = "";
    uint32_t const nlen = size - at >= 4 ? cz_load_le32(p + at) : UINT32_MAX;
    if (nlen < sizeof name && size - at - 4 >= (size_t)nlen + 8) {
        memcpy(name, p + at + 4, nlen);
        uint64_t const bits = cz_load_le64(p + at + 4 + nlen);
        memcpy(E, &bits, sizeof *E);
    } else {
        json_decref(*entry);
        *entry = NULL;
        return cz_error(CLIMZ_ERR_CORRUPT, "short message from a rank");
    }
    *used = name[0] ? api_codec_find(name) : NULL;
    if (name[0] && !*used) {
        json_decref(*entry);
        *entry = NULL;
        return cz_error(CLIMZ_ERR_CORRUPT, "a rank coded with codec '%s', which is not here", name);
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

static int is_mask_stream(uint16_t stream) { return stream == CLZ_STREAM_MASK || stream == CLZ_STREAM_EXACT; }

/* The index order of a variable's chunks pend[0..n) (in slice order): one process's. Its
 * masks (all in the first slice) come first; then the codec's chunks stream by stream in the
 * order the streams first appear, each stream's slice after slice (codec.h: a codec writes
 * its chunks stream by stream, each in time order). Appended to meta and placed. */
static climz_status place_var(const chunk_list *pend, clz_writer *meta, chunk_list *placed) {
    uint16_t order[64]; /* the codec's streams in the order they first appear */
    size_t ns = 0;
    for (size_t k = 0; k < pend->n; k++) {
        uint16_t const s = pend->r[k].stream;
        size_t j = 0;
        while (j < ns && order[j] != s) j++;
        if (j == ns && !is_mask_stream(s)) {
            CZ_RETURN_IF(ns == sizeof order / sizeof *order, CLIMZ_ERR_GENERIC, "too many streams in a variable");
            order[ns++] = s;
        }
    }
    for (size_t r = 0; r <= ns; r++) /* r = 0: the masks; then stream order[r - 1] */
        for (size_t k = 0; k < pend->n; k++) {
            const chunk_rec *c = &pend->r[k];
            if (r ? c->stream != order[r - 1] : !is_mask_stream(c->stream)) continue;
            CZ_FORWARD(clz_writer_add_external(meta, c->var, c->t, c->stream, c->size, c->crc));
            CZ_FORWARD(chunk_list_add(placed, *c));
        }
    return CLIMZ_OK;
}

/* Rank 0: receives (or takes its own) slices in file order and completes the header root (begun
 * in phase 1, with its notes), the index of external chunks and the schema chunk. Drains every
 * message even after a failure. */
static climz_status assemble(const climz_ctx *ctx, const cz_dataset *ds, const uint8_t *sel, const slice *sl,
                             size_t ns, const slice_out *mine, json_t *root, clz_writer *meta, chunk_list *placed,
                             cz_buf *schema, char **header, MPI_Comm comm) {
    climz_status st = CLIMZ_OK;
    int nranks;
    MPI_Comm_size(comm, &nranks);
    size_t *local = calloc((size_t)nranks, sizeof *local); /* each rank's chunks so far */
    chunk_list pend = {0};                                  /* the current variable's */
    if (!local) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    cz_field f = {0};
    float *decoded = NULL;
    json_t *entry = NULL;
    size_t mask_bytes = 0;
    const api_codec *used = NULL; /* the codec and bound of the variable coded in slices */
    double used_E = 0;
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
            czmpi_probe(s->owner, TAG_META, comm, &ms);
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
        const api_codec *u = NULL;
        double E = 0;
        st = unpack_meta(mp, msize, s->owner, &local[s->owner], &pend, &mb, &e, &u, &E);
        if (s->t0 == 0) {
            entry = e;
            mask_bytes = mb;
            used = u;
            used_E = E;
        } else json_decref(e);
        if (!st && (whole || s->t1 == f.nt)) { /* the variable's last slice */
            st = place_var(&pend, meta, placed);
            pend.n = 0;
            if (!st && !entry) st = cz_error(CLIMZ_ERR_GENERIC, "no header entry for variable '%s'", ds->vars[s->var].name);
            else if (!st && !json_object_get(entry, "n_points")) { /* coded in slices: the driver's keys here */
                if (!used) st = cz_error(CLIMZ_ERR_GENERIC, "no codec for variable '%s'", ds->vars[s->var].name);
                else st = api_entry_finish(ctx, used, ds, s->var, &f, decoded, mask_bytes, used_E, entry);
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
    free(pend.r);
    free(local);
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
                                  int rank, const slice_out *out, api_bound **bound, MPI_Comm comm) {
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
        st = api_range_bound(ctx, &ds->vars[i], cnt[i] > 0 ? lo[i] : 0, cnt[i] > 0 ? hi[i] : 0, &(*bound)[i]);
        if (st) cz_error_prefix(st, "variable '%s'", ds->vars[i].name);
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
        czmpi_probe(sl[kk].owner, TAG_MASKS, comm, &ms);
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
    api_bound *bound = NULL;
    split_link *links = NULL; /* per variable: its owners, when it is coded in slices */
    json_t *root = NULL;
    chunk_list placed = {0}; /* rank 0: the chunks in index order, with their owners */
    uint64_t *offsets = NULL; /* this rank's chunks' file offsets, in its order */
    int have_tmp = 0;

    unsigned long long const read0 = czmpi_bytes_read();
    double const cpu0 = czmpi_cpu_seconds(), wall0 = cz_now();
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
    if (!st) { /* the header as one process begins it: variables with no points are stored */
        root = api_header_new(c->name, io_base_name(in_path), io_format_name(ds->format));
        api_drop_empty_vars(ds, sel, root);
    }
    if (!st) st = plan(ctx, &opts, c, ds, sel, nranks, &sl, &ns);
    st = agree(st, comm);
    if (st) goto done;
    if (getenv("CLIMZ_MPI_PLAN_REPORT")) /* tests, bench: which steps each rank codes */
        for (size_t k = 0; k < ns; k++) {
            size_t nt = 1, nz, ny, nx;
            if (io_field_shape(ds, sl[k].var, &nt, &nz, &ny, &nx)) cz_error_clear();
            if (sl[k].owner == rank)
                fprintf(stderr, "climz: rank %d of %d codes variable '%s' steps %zu to %zu of %zu\n", rank, nranks,
                        ds->vars[sl[k].var].name, sl[k].t0, sl[k].t1, nt);
        }

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

    /* phase 3: the owners of each split variable get a communicator (every rank takes part in
     * each split, in file order); the masks of later slices go to their variable's first
     * slice; each rank codes */
    links = calloc((size_t)ds->nvars + 1, sizeof *links);
    if (!links) MPI_Abort(comm, 1); /* the other ranks are in the collectives below */
    for (int i = 0; i < ds->nvars; i++) links[i].comm = MPI_COMM_NULL;
    for (size_t k = 0; k + 1 < ns; k++) {
        if (sl[k].t0 != 0 || sl[k + 1].var != sl[k].var) continue; /* a variable's first slice, not its only one */
        int own = 0;
        for (size_t j = k; j < ns && sl[j].var == sl[k].var; j++) own |= sl[j].owner == rank;
        MPI_Comm_split(comm, own ? 0 : MPI_UNDEFINED, rank, &links[sl[k].var].comm);
    }
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
        split_link *link = links[sl[k].var].comm != MPI_COMM_NULL ? &links[sl[k].var] : NULL;
        if (sl[k].t0 == 0 && link) r = recv_masks(sl, ns, k, &masks, &mbytes, comm);
        if (!st) st = r;
        if (!st) {
            st = encode_slice(ctx, &opts, c, ds, &sl[k], &out[j].orig, bound[sl[k].var], link, &masks, mbytes,
                              &out[j]);
            if (st && link && link->elsewhere) { /* the owner that failed reports it */
                cz_error_clear();
                st = CLIMZ_OK;
                link->elsewhere = 0;
            } else if (st) cz_error_prefix(st, "variable '%s'", ds->vars[sl[k].var].name);
        } else if (link) {
            link_sum(link, st, NULL, 0); /* the other owners stop at their first collective */
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
        st = assemble(ctx, ds, sel, sl, ns, out, root, meta, &placed, &schema, &header, comm);
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

    /* phase 5: offsets, and the one shared file. Rank 0 placed every chunk (a split variable's
     * streams interleave the ranks' chunks); each rank gets the offsets of its own. */
    uint64_t const data_start = head.size;
    size_t nchunks = 0;
    for (size_t j = 0; j < nmine; j++) nchunks += clz_writer_nchunks(out[j].w);
    offsets = malloc((nchunks + 1) * sizeof *offsets);
    if (!offsets) MPI_Abort(comm, 1); /* the other ranks are in the exchange */
    if (rank == 0) {
        uint64_t **per = calloc((size_t)nranks, sizeof *per);
        size_t *cnt = calloc((size_t)nranks, sizeof *cnt);
        if (!per || !cnt) MPI_Abort(comm, 1);
        for (size_t k = 0; k < placed.n; k++) {
            int const o = placed.r[k].owner;
            cnt[o] = placed.r[k].local + 1 > cnt[o] ? placed.r[k].local + 1 : cnt[o];
        }
        for (int r = 0; r < nranks; r++) {
            per[r] = r ? malloc((cnt[r] + 1) * sizeof **per) : offsets;
            if (!per[r]) MPI_Abort(comm, 1);
        }
        for (size_t k = 0; k < placed.n; k++) { /* index entry k is placed.r[k] (the schema comes last) */
            clz_chunk ch;
            const uint8_t *d;
            if (clz_writer_chunk_at(meta, k, &ch, &d)) MPI_Abort(comm, 1);
            per[placed.r[k].owner][placed.r[k].local] = data_start + ch.offset;
        }
        for (int r = 1; r < nranks; r++) {
            czmpi_send(per[r], cnt[r] * sizeof **per, r, TAG_OFFSETS, comm);
            free(per[r]);
        }
        free(per);
        free(cnt);
    } else {
        czmpi_recv(offsets, nchunks * sizeof *offsets, 0, TAG_OFFSETS, comm);
    }
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
        /* each slice's chunks lie one after the other in memory: runs that also follow each
         * other in the file go in one write */
        size_t q = 0;
        for (size_t j = 0; j < nmine && !st; j++) {
            size_t const nc = clz_writer_nchunks(out[j].w);
            for (size_t k = 0; k < nc && !st;) {
                clz_chunk ch;
                const uint8_t *d = NULL;
                st = clz_writer_chunk_at(out[j].w, k, &ch, &d);
                uint64_t const at = offsets[q];
                uint64_t n = ch.size;
                for (k++, q++; !st && k < nc && offsets[q] == at + n; k++, q++) {
                    clz_chunk nx;
                    const uint8_t *dn;
                    st = clz_writer_chunk_at(out[j].w, k, &nx, &dn);
                    n += nx.size;
                }
                if (!st) st = write_at(fh, at, d, n, "chunks");
            }
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
    if (getenv("CLIMZ_MPI_PLAN_REPORT"))
        fprintf(stderr, "climz: rank %d of %d used %.3f s of CPU in %.3f s\n", rank, nranks, czmpi_cpu_seconds() - cpu0,
                cz_now() - wall0);
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
    for (int i = 0; links && i < ds->nvars; i++)
        if (links[i].comm != MPI_COMM_NULL) MPI_Comm_free(&links[i].comm);
    free(links);
    json_decref(root);
    free(placed.r);
    free(offsets);
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
