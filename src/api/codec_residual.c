/* codec_residual.c — the error-bounded residual codec (src/residual/residual.h) as a driver
 * codec.
 *
 * Time steps are coded in blocks of `time_block` consecutive steps (res_time_block()),
 * stacked as planes of one residual stream, one chunk per block (keyed by its first step).
 * Reading one time step decodes its block. Blocks are coded in parallel and added in time
 * order, so the file is the same for any thread count. With temporal prediction (each step
 * predicted from the previous decoded one) every block is a single step. */
#include "codec.h"
#include "codec_options.h"
#include "residual_target.h"
#include "residual/residual.h"

#include <stdlib.h>
#include <string.h>

/* The coded form of one block. */
typedef struct block_out {
    cz_buf data;
    climz_status st;
    char msg[512];
} block_out;

climz_status api_residual_encode(const api_encode_args *a, const float *pred, clz_writer *w, float *decoded,
                                 json_t *entry) {
    const cz_field *f = a->f;
    size_t const nt = f->nt, plane = f->nz * f->ny * f->nx;
    int const temporal = a->ctx->temporal && !pred;
    size_t const tb = temporal ? 1 : res_time_block(plane, nt);
    size_t const nb = (nt + tb - 1) / tb;
    res_params const rp = {.max_abs_error = a->max_abs_error, .temporal = temporal};
    block_out *o = calloc(nb, sizeof *o);
    CZ_RETURN_IF(!o, CLIMZ_ERR_ALLOC, "out of memory");
    /* block b holds steps [b*tb, min(nt, (b+1)*tb)) as its planes */
#define CODE_BLOCK(b, prev)                                                                 \
    do {                                                                                    \
        size_t const t0_ = (b) * tb, n_ = (t0_ + tb <= nt ? tb : nt - t0_);                 \
        o[b].st = res_encode(f->values + t0_ * plane, f->miss + t0_ * plane,               \
                             pred ? pred + t0_ * plane : NULL, (prev),                      \
                             n_ * f->nz, f->ny, f->nx, &rp, &o[b].data, decoded + t0_ * plane); \
        if (o[b].st) snprintf(o[b].msg, sizeof o[b].msg, "%s", cz_error_message());         \
    } while (0)
    if (temporal) {
        for (size_t b = 0; b < nb; b++) CODE_BLOCK(b, b ? decoded + (b - 1) * plane : NULL);
    } else {
#pragma omp parallel for schedule(dynamic)
        for (long b = 0; b < (long)nb; b++) CODE_BLOCK((size_t)b, NULL);
    }
#undef CODE_BLOCK
    climz_status st = CLIMZ_OK;
    for (size_t b = 0; b < nb && !st; b++) {
        if (o[b].st) st = cz_error(o[b].st, "time steps from %zu: %s", b * tb, o[b].msg);
        else st = clz_writer_add(w, (uint32_t)a->var, (uint32_t)(b * tb), CLZ_STREAM_RESIDUAL, o[b].data.data,
                                 o[b].data.size);
    }
    for (size_t b = 0; b < nb; b++) cz_buf_free(&o[b].data);
    free(o);
    json_object_set_new(entry, "temporal", json_boolean(temporal));
    json_object_set_new(entry, "time_block", json_integer((json_int_t)tb));
    return st;
}

/* Decodes block starting at file step s0 with n steps into out/miss (n * plane each). */
static climz_status decode_block(const clz_reader *r, uint32_t var, const cz_field *f, size_t s0, size_t n,
                                 const float *pred, const float *prev, uint8_t *miss, float *out) {
    size_t const plane = f->nz * f->ny * f->nx;
    const uint8_t *p;
    size_t size;
    CZ_FORWARD(api_decode_masks(r, var, plane, s0, n, miss));
    CZ_FORWARD(clz_reader_get(r, var, (uint32_t)s0, CLZ_STREAM_RESIDUAL, &p, &size));
    return res_decode(p, size, miss, pred, prev, n * f->nz, f->ny, f->nx, out);
}

climz_status api_residual_blocks(json_t *entry, size_t t_first, size_t nt, size_t *s0, size_t *s1) {
    json_t *jtb = json_object_get(entry, "time_block");
    json_int_t const tb = jtb ? json_integer_value(jtb) : 1;
    json_int_t const nt_file = json_integer_value(json_array_get(json_object_get(entry, "shape"), 0));
    CZ_RETURN_IF(tb < 1 || tb > nt_file || (json_int_t)(t_first + nt) > nt_file, CLIMZ_ERR_CORRUPT,
                 "header has a bad time_block %lld", (long long)tb);
    *s0 = t_first / (size_t)tb * (size_t)tb;
    size_t const end = ((t_first + nt - 1) / (size_t)tb + 1) * (size_t)tb;
    *s1 = end < (size_t)nt_file ? end : (size_t)nt_file;
    return CLIMZ_OK;
}

climz_status api_residual_decode(const clz_reader *r, uint32_t var, json_t *entry, cz_field *f, size_t t_first,
                                 const float *pred, size_t pred_t0) {
    size_t const nt = f->nt, plane = f->nz * f->ny * f->nx;
    size_t s_lo, s_hi;
    CZ_FORWARD(api_residual_blocks(entry, t_first, nt, &s_lo, &s_hi));
    size_t const tb = (size_t)json_integer_value(json_object_get(entry, "time_block"));
    size_t const nt_file = (size_t)json_integer_value(json_array_get(json_object_get(entry, "shape"), 0));
    if (json_is_true(json_object_get(entry, "temporal"))) {
        CZ_RETURN_IF(t_first != 0 || tb != 1, CLIMZ_ERR_CORRUPT, "temporal streams decode one step at a time from the first");
        for (size_t t = 0; t < nt; t++)
            CZ_FORWARD(decode_block(r, var, f, t, 1, NULL, t ? f->values + (t - 1) * plane : NULL,
                                    f->miss + t * plane, f->values + t * plane));
        return CLIMZ_OK;
    }
    /* the blocks that overlap [t_first, t_first + nt) */
    climz_status st = CLIMZ_OK;
    char msg[512] = "";
#pragma omp parallel for schedule(dynamic)
    for (long bl = (long)(s_lo / tb); bl < (long)((s_hi + tb - 1) / tb); bl++) {
        size_t const s0 = (size_t)bl * tb, n = s0 + tb <= nt_file ? tb : nt_file - s0;
        float *vals = malloc(n * plane * sizeof *vals);
        uint8_t *miss = malloc(n * plane);
        const float *bp = pred ? pred + (s0 - pred_t0) * plane : NULL;
        climz_status s = vals && miss ? decode_block(r, var, f, s0, n, bp, NULL, miss, vals)
                                      : cz_error(CLIMZ_ERR_ALLOC, "out of memory");
        if (!s) { /* copy the requested steps of this block */
            size_t const lo = s0 > t_first ? s0 : t_first, hi = s0 + n < t_first + nt ? s0 + n : t_first + nt;
            memcpy(f->values + (lo - t_first) * plane, vals + (lo - s0) * plane, (hi - lo) * plane * sizeof *vals);
        }
        free(vals);
        free(miss);
        if (s) {
#pragma omp critical
            if (!st) {
                st = s;
                snprintf(msg, sizeof msg, "%s", cz_error_message());
            }
        }
    }
    if (st) cz_error(st, "%s", msg);
    return st;
}

/* The codec's only options are an RMSE target, for which the driver searches the bound it
 * is then given (compress.c, residual_target.h): here they are checked, not used. */
static climz_status residual_encode(const api_encode_args *a, clz_writer *w, float *decoded, json_t *entry) {
    api_rmse_target_opts o = {0, 0};
    CZ_FORWARD(api_parse_options("residual", api_rmse_target_specs, 2, a->opts ? a->opts->options : NULL, &o));
    return api_residual_encode(a, NULL, w, decoded, entry);
}

static climz_status residual_decode(const climz_ctx *ctx, const clz_reader *r, uint32_t var, json_t *entry,
                                    const climz_decompress_opts *opts, cz_field *f, size_t t_first) {
    (void)ctx;
    (void)opts;
    return api_residual_decode(r, var, entry, f, t_first, NULL, 0);
}

/* Blocks are coded apart: a slice of whole blocks codes to the same chunks; with temporal
 * prediction every step follows the one before, and with an RMSE target the bound is searched
 * on the whole field's RMSE, so the variable is then coded whole. */
static size_t residual_split_steps(const climz_ctx *ctx, const climz_compress_opts *opts, size_t nt, size_t nz,
                                   size_t ny, size_t nx) {
    if (ctx->temporal || api_has_rmse_target(opts ? opts->options : NULL)) return 0;
    return res_time_block(nz * ny * nx, nt);
}

const api_codec api_codec_residual = {"residual", residual_encode, residual_decode, NULL, residual_split_steps, NULL};
