/* inr_decode.c — CA-INR decoder: parse the stream, check it was made for these dims, grid
 * and contexts, and evaluate the network with the fixed-order forward (inr.h). */
#include "inr/inr_internal.h"

#include <stdlib.h>
#include <string.h>

climz_status inr_decode_times(const uint8_t *in, size_t size, const inr_context *ctx, int nctx,
                              size_t nt, size_t nz, size_t ny, size_t nx, const double *lat,
                              const double *lon, size_t t0, size_t count, float *out) {
    CZ_RETURN_IF(!out, CLIMZ_ERR_INVALID_ARG, "inr_decode: NULL output");
    CZ_RETURN_IF(nctx < 0 || (nctx > 0 && !ctx), CLIMZ_ERR_INVALID_ARG, "inr_decode: bad contexts");
    CZ_RETURN_IF(t0 > nt || count > nt - t0, CLIMZ_ERR_INVALID_ARG,
                 "inr_decode: time steps [%zu, %zu) outside [0, %zu)", t0, t0 + count, nt);
    inr_header h;
    inr_net net;
    CZ_FORWARD(inr_stream_read(in, size, &h, &net));
    inr_grid g;
    memset(&g, 0, sizeof g);
    climz_status st = CLIMZ_OK;
    if (h.nt != nt || h.nz != nz || h.ny != ny || h.nx != nx)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_DIMENSION,
                     "inr_decode: stream is for %zu x %zu x %zu x %zu, not %zu x %zu x %zu x %zu",
                     h.nt, h.nz, h.ny, h.nx, nt, nz, ny, nx);
    if (h.a.nctx != nctx)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_MODEL_MISMATCH,
                     "inr_decode: stream needs %d context channels, %d given", h.a.nctx, nctx);
    for (int c = 0; c < nctx; c++) {
        int const lay = (ctx[c].per_time ? 1 : 0) | (ctx[c].per_level ? 2 : 0);
        char const *const name = ctx[c].name ? ctx[c].name : "";
        if (lay != h.ctx_layout[c] || strcmp(name, h.ctx_name[c]) != 0)
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_MODEL_MISMATCH,
                         "inr_decode: context %d is '%s' (layout %d), the stream's is '%s' (layout %d)",
                         c, name, lay, h.ctx_name[c], h.ctx_layout[c]);
    }
    CZ_CHECK_GOTO(st, inr_grid_init(&g, nt, nz, ny, nx, lat, lon, ctx, nctx), done);
    if (g.grid_crc != h.grid_crc)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_MODEL_MISMATCH, "inr_decode: latitudes/longitudes differ from the encoder's");
    for (int c = 0; c < nctx; c++)
        if (g.ctx_crc[c] != h.ctx_crc[c])
            CZ_FAIL_GOTO(st, done, CLIMZ_ERR_MODEL_MISMATCH,
                         "inr_decode: values of context '%s' differ from the encoder's (CRC-32C)",
                         h.ctx_name[c]);
    size_t const vol = nz * ny * nx;
    if (count) CZ_CHECK_GOTO(st, inr_forward_det(&net, &g, t0 * vol, count * vol, out), done);
    double const mean = (double)h.mean, sd = (double)h.std;
    for (size_t i = 0; i < count * vol; i++) out[i] = (float)((double)out[i] * sd + mean);
done:
    inr_grid_free(&g);
    inr_net_free(&net);
    return st;
}

climz_status inr_decode(const uint8_t *in, size_t size, const inr_context *ctx, int nctx,
                        size_t nt, size_t nz, size_t ny, size_t nx, const double *lat,
                        const double *lon, float *out) {
    return inr_decode_times(in, size, ctx, nctx, nt, nz, ny, nx, lat, lon, 0, nt, out);
}

climz_status inr_stream_info(const uint8_t *in, size_t size, inr_info *info) {
    CZ_RETURN_IF(!info, CLIMZ_ERR_INVALID_ARG, "inr_stream_info: NULL info");
    inr_header h;
    CZ_FORWARD(inr_stream_read(in, size, &h, NULL));
    memset(info, 0, sizeof *info);
    info->arch = h.a.arch, info->width = h.a.width, info->depth = h.a.depth;
    info->n_fourier = h.a.n_fourier, info->bits = h.bits, info->nctx = h.a.nctx;
    info->fourier_sigma = h.a.sigma, info->omega0 = h.a.omega0;
    info->nt = h.nt, info->nz = h.nz, info->ny = h.ny, info->nx = h.nx;
    inr_net net;
    CZ_FORWARD(inr_net_layout(&net, &h.a, true));
    for (size_t t = 0; t < net.p.n; t++) info->n_params += net.p.t[t].numel;
    inr_net_free(&net);
    for (int c = 0; c < h.a.nctx; c++) {
        memcpy(info->ctx_name[c], h.ctx_name[c], sizeof info->ctx_name[c]);
        info->ctx_per_time[c] = h.ctx_layout[c] & 1;
        info->ctx_per_level[c] = (h.ctx_layout[c] >> 1) & 1;
    }
    return CLIMZ_OK;
}
