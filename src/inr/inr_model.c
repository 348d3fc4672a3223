/* inr_model.c — the CA-INR network: parameter layout, initialisation, per-point input
 * features, the fast (training) forward/backward and the fixed-order (decoding) forward.
 * Shapes and contracts in inr_internal.h. */
#include "inr/inr_internal.h"
#include "nn/ops.h"
#include "nn/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define INR_PI 3.14159265358979323846
#define INR_TWOPI_F 6.28318530717958647693f

/* ---- layout --------------------------------------------------------------------------- */

static climz_status inr_add_(inr_net *net, const char *name, size_t rows, size_t cols,
                             size_t *idx) {
    size_t const shape[2] = {rows, cols};
    return nn_params_add(&net->p, name, cols ? 2 : 1, shape, "inr", idx);
}

climz_status inr_net_layout(inr_net *net, const inr_arch *a, bool from_stream) {
    climz_status const bad = from_stream ? CLIMZ_ERR_CORRUPT : CLIMZ_ERR_INVALID_ARG;
    memset(net, 0, sizeof *net);
    nn_params_init(&net->p);
    CZ_RETURN_IF(a->arch != INR_SIREN && a->arch != INR_RESGELU, bad, "inr: unknown architecture %d",
                 a->arch);
    CZ_RETURN_IF(a->width < 1 || a->width > INR_MAX_WIDTH, bad, "inr: width %d not in [1, %d]",
                 a->width, INR_MAX_WIDTH);
    CZ_RETURN_IF(a->depth < 1 || a->depth > INR_MAX_DEPTH, bad, "inr: depth %d not in [1, %d]",
                 a->depth, INR_MAX_DEPTH);
    CZ_RETURN_IF(a->n_fourier < 0 || a->n_fourier > INR_MAX_FOURIER, bad,
                 "inr: %d Fourier features (0..%d)", a->n_fourier, INR_MAX_FOURIER);
    CZ_RETURN_IF(a->nctx < 0 || a->nctx > INR_MAX_CTX, bad, "inr: %d contexts (0..%d)", a->nctx,
                 INR_MAX_CTX);
    CZ_RETURN_IF(!(a->sigma >= 0 && a->sigma <= 1e4f), bad, "inr: Fourier sigma %g",
                 (double)a->sigma);
    CZ_RETURN_IF(a->arch == INR_SIREN && !(a->omega0 > 0 && a->omega0 <= 1e4f), bad,
                 "inr: omega0 %g", (double)a->omega0);
    net->a = *a;
    if (a->arch != INR_SIREN) net->a.omega0 = 0;
    size_t const W = (size_t)a->width;
    net->n_skip = INR_NCOORD + (size_t)a->nctx;
    net->n_in = net->n_skip + 2 * (size_t)a->n_fourier;
    net->nlin = a->arch == INR_SIREN ? (size_t)a->depth : 1 + 2 * (size_t)a->depth;
    char name[48];
    climz_status st = CLIMZ_OK;
    for (size_t i = 0; i < net->nlin; i++) {
        net->lfan[i] = i == 0 ? net->n_in : W;
        if (a->arch == INR_SIREN || i == 0) snprintf(name, sizeof name, "l%zu", i);
        else snprintf(name, sizeof name, "b%zu.fc%zu", (i - 1) / 2, (i - 1) % 2 + 1);
        size_t const nl = strlen(name);
        snprintf(name + nl, sizeof name - nl, ".weight");
        CZ_CHECK_GOTO(st, inr_add_(net, name, W, net->lfan[i], &net->lw[i]), fail);
        snprintf(name + nl, sizeof name - nl, ".bias");
        CZ_CHECK_GOTO(st, inr_add_(net, name, W, 0, &net->lb[i]), fail);
    }
    CZ_CHECK_GOTO(st, inr_add_(net, "out.weight", 1, W, &net->out_w), fail);
    CZ_CHECK_GOTO(st, inr_add_(net, "out.bias", 1, 0, &net->out_b), fail);
    CZ_CHECK_GOTO(st, inr_add_(net, "skip.weight", 1, net->n_skip, &net->skip_w), fail);
    size_t total = 0;
    for (size_t t = 0; t < net->p.n; t++) total += net->p.t[t].numel;
    if (total > INR_MAX_PARAMS)
        CZ_FAIL_GOTO(st, fail, bad, "inr: %zu parameters (at most %zu)", total, INR_MAX_PARAMS);
    return CLIMZ_OK;
fail:
    nn_params_free(&net->p);
    return st;
}

climz_status inr_net_alloc(inr_net *net, int training) {
    CZ_FORWARD(nn_params_alloc(&net->p, training));
    size_t const nb = (size_t)net->a.n_fourier * INR_NCOORD;
    net->B = cz_malloc((nb ? nb : 1) * sizeof *net->B);
    CZ_RETURN_IF(!net->B, CLIMZ_ERR_ALLOC, "inr: Fourier matrix");
    /* N(0, sigma^2) by inverse CDF of the portable uniform: the same on every machine */
    nn_rng r;
    nn_rng_seed(&r, (uint64_t)net->a.fseed * 0x9E3779B97F4A7C15ull + 0x1234567ull);
    for (size_t i = 0; i < nb; i++) {
        double const u = ((double)(nn_rng_u64(&r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        net->B[i] = (float)(inr_det_normal_inv(u) * (double)net->a.sigma);
    }
    return CLIMZ_OK;
}

void inr_net_free(inr_net *net) {
    if (!net) return;
    nn_params_free(&net->p);
    free(net->B);
    net->B = NULL;
}

climz_status inr_net_init(inr_net *net, uint64_t seed) {
    nn_params *const p = &net->p;
    size_t const W = (size_t)net->a.width;
    for (size_t i = 0; i < net->nlin; i++) {
        size_t const fan = net->lfan[i];
        float const kb = 1.0f / sqrtf((float)fan);
        if (net->a.arch == INR_SIREN) {
            nn_rng r;
            nn_rng_seed(&r, nn_params_stream_seed(seed, p->t[net->lw[i]].name));
            nn_siren_init(nn_params_data(p, net->lw[i]), fan, W, net->a.omega0, i == 0, &r);
            /* the bias of torch.nn.Linear, as the SIREN reference leaves it */
            CZ_FORWARD(nn_params_init_uniform(p, net->lb[i], seed, -kb, kb));
        } else {
            /* torch.nn.Linear's default; the second layer of each block starts small so that
             * every block begins close to the identity */
            float const kw = (i > 0 && i % 2 == 0) ? 0.1f * kb : kb;
            CZ_FORWARD(nn_params_init_uniform(p, net->lw[i], seed, -kw, kw));
            CZ_FORWARD(nn_params_init_uniform(p, net->lb[i], seed, -kb, kb));
            if (i > 0 && i % 2 == 0) CZ_FORWARD(nn_params_init_const(p, net->lb[i], 0.0f));
        }
    }
    float const ko = net->a.arch == INR_SIREN ? sqrtf(6.0f / (float)W) / net->a.omega0
                                              : 0.1f / sqrtf((float)W);
    CZ_FORWARD(nn_params_init_uniform(p, net->out_w, seed, -ko, ko));
    CZ_FORWARD(nn_params_init_const(p, net->out_b, 0.0f));
    CZ_FORWARD(nn_params_init_const(p, net->skip_w, 0.0f));
    return CLIMZ_OK;
}

/* ---- grid and contexts ---------------------------------------------------------------- */

void inr_grid_free(inr_grid *g) {
    if (!g) return;
    free(g->clat), free(g->slat), free(g->clon), free(g->slon);
    for (int c = 0; c < INR_MAX_CTX; c++) free(g->ctx[c]);
    memset(g, 0, sizeof *g);
}

static uint32_t inr_crc_f64_(uint32_t crc, const double *v, size_t n) {
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        cz_store_le64(b, u);
        crc = cz_crc32c(crc, b, 8);
    }
    return crc;
}

static uint32_t inr_crc_f32_(const float *v, size_t n) {
    uint32_t crc = 0;
    uint8_t b[4 * 256];
    for (size_t i = 0; i < n; i += 256) {
        size_t const m = n - i < 256 ? n - i : 256;
        for (size_t j = 0; j < m; j++) {
            uint32_t u;
            memcpy(&u, &v[i + j], 4);
            cz_store_le32(b + 4 * j, u);
        }
        crc = cz_crc32c(crc, b, 4 * m);
    }
    return crc;
}

climz_status inr_grid_init(inr_grid *g, size_t nt, size_t nz, size_t ny, size_t nx,
                           const double *lat, const double *lon, const inr_context *ctx,
                           int nctx) {
    memset(g, 0, sizeof *g);
    CZ_RETURN_IF(nt == 0 || nz == 0 || ny == 0 || nx == 0, CLIMZ_ERR_EMPTY, "inr: empty field");
    CZ_RETURN_IF(nctx < 0 || nctx > INR_MAX_CTX, CLIMZ_ERR_INVALID_ARG, "inr: %d contexts", nctx);
    CZ_RETURN_IF(nctx > 0 && !ctx, CLIMZ_ERR_INVALID_ARG, "inr: NULL context array");
    size_t plane, vol, n;
    CZ_RETURN_IF(!cz_mul_ok(ny, nx, &plane) || !cz_mul_ok(plane, nz, &vol) ||
                     !cz_mul_ok(vol, nt, &n) || !cz_mul_ok(n, 4 * sizeof(float), &n),
                 CLIMZ_ERR_DIMENSION, "inr: field size overflows");
    g->nt = nt, g->nz = nz, g->ny = ny, g->nx = nx, g->nplane = plane, g->nctx = nctx;
    g->clat = cz_malloc(ny * sizeof(float)), g->slat = cz_malloc(ny * sizeof(float));
    g->clon = cz_malloc(nx * sizeof(float)), g->slon = cz_malloc(nx * sizeof(float));
    double *dl = cz_malloc((ny > nx ? ny : nx) * sizeof(double));
    climz_status st = CLIMZ_OK;
    if (!g->clat || !g->slat || !g->clon || !g->slon || !dl)
        CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "inr: grid");
    /* latitudes (default: cell centres south to north), then longitudes (0 .. 360) */
    for (size_t y = 0; y < ny; y++) {
        double const v = lat ? lat[y] : -90.0 + 180.0 * ((double)y + 0.5) / (double)ny;
        if (!(v >= -90.0 && v <= 90.0)) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_INVALID_ARG, "inr: latitude %g", v);
        dl[y] = v;
        g->clat[y] = (float)inr_det_cos(v * (INR_PI / 180.0));
        g->slat[y] = (float)inr_det_sin(v * (INR_PI / 180.0));
    }
    g->grid_crc = inr_crc_f64_(0, dl, ny);
    for (size_t x = 0; x < nx; x++) {
        double const v = lon ? lon[x] : 360.0 * (double)x / (double)nx;
        if (!(v >= -1e6 && v <= 1e6)) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_INVALID_ARG, "inr: longitude %g", v);
        dl[x] = v;
        g->clon[x] = (float)inr_det_cos(v * (INR_PI / 180.0));
        g->slon[x] = (float)inr_det_sin(v * (INR_PI / 180.0));
    }
    g->grid_crc = inr_crc_f64_(g->grid_crc, dl, nx);
    for (int c = 0; c < nctx; c++) {
        if (!ctx[c].values) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_INVALID_ARG, "inr: context %d has no values", c);
        if (ctx[c].name && strlen(ctx[c].name) > INR_NAME_MAX)
            CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_INVALID_ARG, "inr: context name longer than %d bytes", INR_NAME_MAX);
        g->per_time[c] = ctx[c].per_time ? 1 : 0;
        g->per_level[c] = ctx[c].per_level ? 1 : 0;
        size_t const m = (g->per_time[c] ? nt : 1) * (g->per_level[c] ? nz : 1) * plane;
        g->ctx[c] = cz_malloc(m * sizeof(float));
        if (!g->ctx[c]) CZ_FAIL_GOTO(st, fail, CLIMZ_ERR_ALLOC, "inr: context %d", c);
        g->ctx_crc[c] = inr_crc_f32_(ctx[c].values, m);
        CZ_CHECK_GOTO(st, inr_context_scale(g->ctx[c], ctx[c].values, NULL, m), fail);
    }
    free(dl);
    return CLIMZ_OK;
fail:
    free(dl);
    inr_grid_free(g);
    return st;
}

/* ---- features ------------------------------------------------------------------------- */

static void inr_point_features_(const inr_net *net, const inr_grid *g, size_t i, float *x) {
    size_t const xi = i % g->nx, yi = i / g->nx % g->ny, zi = i / g->nplane % g->nz,
                 ti = i / g->nplane / g->nz;
    float c[INR_NCOORD];
    c[0] = g->clat[yi] * g->clon[xi];
    c[1] = g->clat[yi] * g->slon[xi];
    c[2] = g->slat[yi];
    c[3] = g->nt > 1 ? (float)(2.0 * (double)ti / (double)(g->nt - 1) - 1.0) : 0.0f;
    c[4] = g->nz > 1 ? (float)(2.0 * (double)zi / (double)(g->nz - 1) - 1.0) : 0.0f;
    for (int k = 0; k < INR_NCOORD; k++) x[k] = c[k];
    for (int k = 0; k < g->nctx; k++) {
        size_t const off = (g->per_time[k] ? ti * (g->per_level[k] ? g->nz : 1) : 0) +
                           (g->per_level[k] ? zi : 0);
        x[INR_NCOORD + k] = g->ctx[k][off * g->nplane + yi * g->nx + xi];
    }
    size_t const F = (size_t)net->a.n_fourier;
    float *const fs = x + net->n_skip, *const fc = fs + F;
    for (size_t f = 0; f < F; f++) { /* p = c . B_f in a fixed order, into the cosine slots */
        float const *const b = net->B + f * INR_NCOORD;
        float s = c[0] * b[0];
        for (int k = 1; k < INR_NCOORD; k++) s += c[k] * b[k];
        fc[f] = s;
    }
    inr_sincos_f32(fs, fc, fc, INR_TWOPI_F, F); /* [sin 2 pi p, cos 2 pi p] */
}

void inr_features(const inr_net *net, const inr_grid *g, const size_t *idx, size_t first,
                  size_t n, float *x) {
    size_t const nin = net->n_in;
#pragma omp parallel for schedule(static) if (n >= 256)
    for (size_t j = 0; j < n; j++) inr_point_features_(net, g, idx ? idx[j] : first + j, x + j * nin);
}

/* ---- training forward / backward ------------------------------------------------------ */

climz_status inr_work_alloc(inr_work *w, const inr_net *net, size_t cap) {
    memset(w, 0, sizeof *w);
    size_t const W = (size_t)net->a.width, L = net->nlin;
    w->cap = cap;
    w->x = cz_malloc(cap * net->n_in * sizeof(float));
    w->z = cz_malloc(cap * W * L * sizeof(float));
    w->cs = net->a.arch == INR_SIREN ? cz_malloc(cap * W * L * sizeof(float)) : NULL;
    w->a = cz_malloc(cap * W * L * sizeof(float));
    w->dz = cz_malloc(cap * W * sizeof(float));
    w->da = cz_malloc(cap * W * 2 * sizeof(float));
    w->pred = cz_malloc(cap * sizeof(float));
    w->dpred = cz_malloc(cap * sizeof(float));
    if (!w->x || !w->z || !w->a || !w->dz || !w->da || !w->pred || !w->dpred ||
        (net->a.arch == INR_SIREN && !w->cs)) {
        inr_work_free(w);
        return cz_error(CLIMZ_ERR_ALLOC, "inr: activations of %zu points", cap);
    }
    return CLIMZ_OK;
}

void inr_work_free(inr_work *w) {
    if (!w) return;
    free(w->x), free(w->z), free(w->cs), free(w->a), free(w->dz), free(w->da), free(w->pred);
    free(w->dpred);
    memset(w, 0, sizeof *w);
}

/* Activations: z_i = pre-activation of layer i (n, W). SIREN: a_i = sin(omega z_i), the input
 * of layer i + 1. RESGELU: a_0 = h_0 = z_0; block k: z_{2k+1} = h_k W1^T + b1,
 * a_{2k+1} = gelu(z_{2k+1}), z_{2k+2} = a_{2k+1} W2^T + b2, a_{2k+2} = h_{k+1} = h_k + z_{2k+2}.
 * The output reads a_{L-1}. */
void inr_forward_fast(const inr_net *net, inr_work *w, size_t n) {
    nn_params const *const p = &net->p;
    size_t const W = (size_t)net->a.width, L = net->nlin, cap = w->cap;
    for (size_t i = 0; i < L; i++) {
        float *const z = w->z + i * cap * W, *const a = w->a + i * cap * W;
        float const *const in = i == 0 ? w->x : w->a + (i - 1) * cap * W;
        nn_linear_forward(z, in, nn_params_data(p, net->lw[i]), nn_params_data(p, net->lb[i]), n,
                          net->lfan[i], W);
        if (net->a.arch == INR_SIREN) inr_sincos_f32(a, w->cs + i * cap * W, z, net->a.omega0, n * W);
        else if (i == 0) memcpy(a, z, n * W * sizeof(float));
        else if (i % 2 == 1) nn_gelu_forward(a, z, n * W);
        else nn_add_forward(a, w->a + (i - 2) * cap * W, z, n * W);
    }
    float const *const h = w->a + (L - 1) * cap * W;
    nn_linear_forward(w->pred, h, nn_params_data(p, net->out_w), nn_params_data(p, net->out_b), n,
                      W, 1);
    float const *const sk = nn_params_data(p, net->skip_w);
    size_t const ns = net->n_skip, nin = net->n_in;
    for (size_t j = 0; j < n; j++) {
        float s = 0;
        for (size_t k = 0; k < ns; k++) s += sk[k] * w->x[j * nin + k];
        w->pred[j] += s;
    }
}

void inr_backward(const inr_net *net, inr_work *w, size_t n, float *grad) {
    nn_params const *const p = &net->p;
    size_t const W = (size_t)net->a.width, L = net->nlin, cap = w->cap;
    size_t const ns = net->n_skip, nin = net->n_in;
#define INR_G(idx) (grad + p->t[(idx)].offset)
#define INR_D(idx) nn_params_data(p, (idx))
    float *const dsk = INR_G(net->skip_w);
    for (size_t k = 0; k < ns; k++) {
        double s = 0;
        for (size_t j = 0; j < n; j++) s += (double)w->dpred[j] * w->x[j * nin + k];
        dsk[k] += (float)s;
    }
    /* dh: gradient of the current layer output a_i (n, W) */
    float *dh = w->da, *dg = w->da + cap * W;
    memset(dh, 0, n * W * sizeof(float));
    nn_linear_backward(dh, INR_G(net->out_w), INR_G(net->out_b), w->dpred, w->a + (L - 1) * cap * W,
                       INR_D(net->out_w), n, W, 1);
    if (net->a.arch == INR_SIREN) {
        for (size_t i = L; i-- > 0;) {
            float const *const cs = w->cs + i * cap * W; /* cos(omega z_i), saved by forward */
            float const om = net->a.omega0;
            for (size_t e = 0; e < n * W; e++) w->dz[e] = dh[e] * om * cs[e];
            if (i > 0) memset(dg, 0, n * W * sizeof(float));
            nn_linear_backward(i > 0 ? dg : NULL, INR_G(net->lw[i]), INR_G(net->lb[i]), w->dz,
                               i == 0 ? w->x : w->a + (i - 1) * cap * W, INR_D(net->lw[i]), n,
                               net->lfan[i], W);
            float *const t = dh;
            dh = dg, dg = t;
        }
        return;
    }
    /* RESGELU: blocks in reverse; dh holds dL/dh_{k+1}, then dL/dh_k (identity path + branch) */
    for (size_t k = (L - 1) / 2; k-- > 0;) {
        size_t const i1 = 1 + 2 * k, i2 = 2 + 2 * k;
        float const *const hk = w->a + (i1 - 1) * cap * W;
        memset(dg, 0, n * W * sizeof(float));
        nn_linear_backward(dg, INR_G(net->lw[i2]), INR_G(net->lb[i2]), dh, w->a + i1 * cap * W,
                           INR_D(net->lw[i2]), n, W, W);
        memset(w->dz, 0, n * W * sizeof(float));
        nn_gelu_backward(w->dz, dg, w->z + i1 * cap * W, n * W);
        nn_linear_backward(dh, INR_G(net->lw[i1]), INR_G(net->lb[i1]), w->dz, hk, INR_D(net->lw[i1]),
                           n, W, W);
    }
    nn_linear_backward(NULL, INR_G(net->lw[0]), INR_G(net->lb[0]), dh, w->x, INR_D(net->lw[0]), n,
                       net->n_in, W);
#undef INR_G
#undef INR_D
}

/* ---- fixed-order forward (decoding) ----------------------------------------------------- */

#define INR_DET_CHUNK 256 /* points per task; results do not depend on it */

/* out (n, W) = in (n, C) @ w^T, each sum over c in order (nn_gemm_det), then + b */
static void inr_linear_det_(float *out, const float *in, const float *w, const float *b, size_t n,
                            size_t C, size_t W) {
    nn_gemm_det(0, 1, n, W, C, 1.0f, in, C, w, C, 0.0f, out, W);
    for (size_t j = 0; j < n; j++)
        for (size_t o = 0; o < W; o++) out[j * W + o] += b[o];
}

static void inr_chunk_det_(const inr_net *net, const inr_grid *g, size_t first, size_t n,
                           float *x, float *h, float *u, float *v, float *pred) {
    nn_params const *const p = &net->p;
    size_t const W = (size_t)net->a.width, L = net->nlin, nin = net->n_in, ns = net->n_skip;
    inr_features(net, g, NULL, first, n, x);
    inr_linear_det_(h, x, nn_params_data(p, net->lw[0]), nn_params_data(p, net->lb[0]), n, nin, W);
    if (net->a.arch == INR_SIREN) {
        float const om = net->a.omega0;
        for (size_t i = 0;; i++) {
            inr_sincos_f32(h, NULL, h, om, n * W);
            if (i + 1 == L) break;
            inr_linear_det_(u, h, nn_params_data(p, net->lw[i + 1]), nn_params_data(p, net->lb[i + 1]),
                            n, W, W);
            float *const t = h;
            h = u, u = t;
        }
    } else {
        for (size_t k = 0; 2 * k + 2 < L; k++) {
            size_t const i1 = 1 + 2 * k, i2 = 2 + 2 * k;
            inr_linear_det_(u, h, nn_params_data(p, net->lw[i1]), nn_params_data(p, net->lb[i1]), n,
                            W, W);
            for (size_t e = 0; e < n * W; e++) u[e] = nn_det_gelu(u[e]);
            inr_linear_det_(v, u, nn_params_data(p, net->lw[i2]), nn_params_data(p, net->lb[i2]), n,
                            W, W);
            for (size_t e = 0; e < n * W; e++) h[e] = h[e] + v[e];
        }
    }
    float const *const ow = nn_params_data(p, net->out_w), *const sk = nn_params_data(p, net->skip_w);
    float const ob = *nn_params_data(p, net->out_b);
    for (size_t j = 0; j < n; j++) {
        float s = 0, t = 0;
        for (size_t o = 0; o < W; o++) s += ow[o] * h[j * W + o];
        for (size_t k = 0; k < ns; k++) t += sk[k] * x[j * nin + k];
        pred[j] = (s + ob) + t;
    }
}

climz_status inr_forward_det(const inr_net *net, const inr_grid *g, size_t first, size_t n,
                             float *pred) {
    nn_det_gelu_init();
    size_t const W = (size_t)net->a.width, nin = net->n_in;
    size_t const per = INR_DET_CHUNK * (nin + 3 * W);
    int const nth = cz_num_threads();
    float *const scratch = cz_malloc((size_t)nth * per * sizeof(float));
    CZ_RETURN_IF(!scratch, CLIMZ_ERR_ALLOC, "inr: decoder scratch");
    size_t const nchunk = (n + INR_DET_CHUNK - 1) / INR_DET_CHUNK;
#pragma omp parallel num_threads(nth)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *const x = scratch + (size_t)tid * per;
        float *const h = x + INR_DET_CHUNK * nin, *const u = h + INR_DET_CHUNK * W,
                     *const v = u + INR_DET_CHUNK * W;
#pragma omp for schedule(dynamic, 1)
        for (size_t c = 0; c < nchunk; c++) {
            size_t const s = c * INR_DET_CHUNK;
            size_t const m = n - s < INR_DET_CHUNK ? n - s : INR_DET_CHUNK;
            inr_chunk_det_(net, g, first + s, m, x, h, u, v, pred + s);
        }
    }
    free(scratch);
    return CLIMZ_OK;
}
