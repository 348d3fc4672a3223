/* test_ops.c — dense ops of the nn engine: golden forward values, backward against central
 * finite differences in double (< 1e-6 relative), float against double forward (< 1e-5),
 * the fixed-order gemm against its written contract, and deterministic mode giving the same
 * bits with 1 and 2 OpenMP threads. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/ops.h"
#include "testutil.h"

static unsigned long long g_st = 0x5eed0001ull;

#define dalloc gc_dalloc
#define falloc gc_falloc
#define fcopy gc_fcopy
#define drand(n, lo, hi) gc_drand((n), (lo), (hi), &g_st)
/* grad buffers start at 0.5 to check that backward accumulates; gsub removes it again */
static double *dgrad(size_t n) {
    double *g = dalloc(n);
    for (size_t i = 0; i < n; i++) g[i] = 0.5;
    return g;
}
static void gsub(double *g, size_t n) {
    for (size_t i = 0; i < n; i++) g[i] -= 0.5;
}

#define TOL64 1e-6
#define TOL32 1e-5

/* ---- gemm ------------------------------------------------------------------------------ */

/* the written contract of nn_gemm_det: s accumulated in float from k = 0 upwards */
static void gemm_ref(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                     size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            float s = 0;
            for (size_t k = 0; k < K; k++) {
                float const a = ta ? A[k * lda + m] : A[m * lda + k];
                float const b = tb ? B[n * ldb + k] : B[k * ldb + n];
                float const p = a * b;
                s = s + p;
            }
            float const as = alpha * s;
            C[m * ldc + n] = beta == 0 ? as : as + beta * C[m * ldc + n];
        }
}

static void test_gemm(void) {
    size_t const M = 37, N = 70, K = 300, ld = 310;
    float *A = falloc(ld * ld), *B = falloc(ld * ld), *C0 = falloc(M * ld), *C1 = falloc(M * ld),
          *C2 = falloc(M * ld);
    for (size_t i = 0; i < ld * ld; i++) {
        A[i] = (float)(tu_rand_uniform(&g_st) * 2 - 1);
        B[i] = (float)(tu_rand_uniform(&g_st) * 2 - 1);
    }
    int exact = 1;
    double worst_blas = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bi = 0; bi < 2; bi++) {
                float const beta = bi ? 0.75f : 0.0f;
                for (size_t i = 0; i < M * ld; i++) C0[i] = C1[i] = C2[i] = (float)i * 1e-3f;
                gemm_ref(ta, tb, M, N, K, 1.5f, A, ld, B, ld, beta, C0, ld);
                nn_gemm_det(ta, tb, M, N, K, 1.5f, A, ld, B, ld, beta, C1, ld);
                nn_gemm(ta, tb, M, N, K, 1.5f, A, ld, B, ld, beta, C2, ld);
                if (memcmp(C0, C1, M * ld * sizeof(float)) != 0) exact = 0;
                for (size_t i = 0; i < M * ld; i++) {
                    double const e = fabs((double)C2[i] - C0[i]) / (fabs(C0[i]) + 1);
                    if (e > worst_blas) worst_blas = e;
                }
            }
    CHECK_MSG(exact, "nn_gemm_det differs from its fixed-order contract");
    CHECK_MSG(worst_blas < 1e-5, "nn_gemm (BLAS) vs reference: %g", worst_blas);
    /* K = 0: C = beta C; M = 0: nothing */
    C1[0] = 2;
    nn_gemm(0, 0, 1, 1, 0, 1, A, 1, B, 1, 0.5f, C1, 1);
    CHECK(C1[0] == 1.0f);
    nn_gemm(0, 0, 0, 5, 5, 1, A, 5, B, 5, 0, NULL, 5);
    free(A), free(B), free(C0), free(C1), free(C2);
}

/* ---- linear ------------------------------------------------------------------------------ */

typedef struct {
    double *inp, *w, *b, *r, *out;
    size_t N, C, OC;
} lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = (lin_ctx *)p;
    nn_linear_forward_f64(c->out, c->inp, c->w, c->b, c->N, c->C, c->OC);
    return gc_dot(c->out, c->r, c->N * c->OC);
}

static void test_linear(int with_bias, int det) {
    nn_set_deterministic(det);
    lin_ctx c = {0};
    c.N = 5, c.C = 7, c.OC = 6;
    size_t const N = c.N, C = c.C, OC = c.OC;
    c.inp = drand(N * C, -1, 1), c.w = drand(OC * C, -1, 1), c.r = drand(N * OC, -1, 1);
    c.b = with_bias ? drand(OC, -1, 1) : NULL;
    c.out = dalloc(N * OC);
    double *dinp = dgrad(N * C), *dw = dgrad(OC * C), *db = dgrad(OC);
    nn_linear_backward_f64(dinp, dw, with_bias ? db : NULL, c.r, c.inp, c.w, N, C, OC);
    gsub(dinp, N * C), gsub(dw, OC * C), gsub(db, OC);
    printf("linear (bias %d, deterministic %d)\n", with_bias, det);
    GC_EXPECT("linear inp", c.inp, dinp, N * C, lin_loss, &c, TOL64);
    GC_EXPECT("linear w", c.w, dw, OC * C, lin_loss, &c, TOL64);
    if (with_bias) GC_EXPECT("linear b", c.b, db, OC, lin_loss, &c, TOL64);
    /* float forward against double */
    lin_loss(&c);
    float *fi = fcopy(c.inp, N * C), *fw = fcopy(c.w, OC * C), *fb = with_bias ? fcopy(c.b, OC) : NULL;
    float *fo = falloc(N * OC);
    nn_linear_forward(fo, fi, fw, fb, N, C, OC);
    CHECK(gc_rel_diff_fd(fo, c.out, N * OC, 1e-2) < TOL32);
    /* float backward against double */
    float *fdi = falloc(N * C), *fdw = falloc(OC * C), *fdb = falloc(OC), *fr = fcopy(c.r, N * OC);
    nn_linear_backward(fdi, fdw, fdb, fr, fi, fw, N, C, OC);
    CHECK(gc_rel_diff_fd(fdi, dinp, N * C, 1e-2) < TOL32);
    CHECK(gc_rel_diff_fd(fdw, dw, OC * C, 1e-2) < TOL32);
    free(c.inp), free(c.w), free(c.b), free(c.r), free(c.out), free(dinp), free(dw), free(db);
    free(fi), free(fw), free(fb), free(fo), free(fdi), free(fdw), free(fdb), free(fr);
    nn_set_deterministic(0);
}

/* ---- patch embedding / un-embedding ---------------------------------------------------------- */

typedef struct {
    double *inp, *w, *b, *r, *out;
    size_t B, C, H, W, OC, KH, KW, SH, SW, IH, IW;
} conv_ctx;

static double pe_loss(void *p) {
    conv_ctx *c = (conv_ctx *)p;
    climz_status const s = nn_patch_embed_forward_f64(c->out, c->inp, c->w, c->b, c->B, c->C,
                                                      c->H, c->W, c->OC, c->KH, c->KW, c->SH, c->SW);
    if (s != CLIMZ_OK) return NAN;
    return gc_dot(c->out, c->r, c->B * c->IH * c->IW * c->OC);
}

static double pu_loss(void *p) { /* here inp is (B, IH*IW, C), out (B, OC, H, W) */
    conv_ctx *c = (conv_ctx *)p;
    climz_status const s =
        nn_patch_unembed_forward_f64(c->out, c->inp, c->w, c->b, c->B, c->C, c->IH, c->IW, c->OC,
                                     c->KH, c->KW, c->SH, c->SW, c->H, c->W);
    if (s != CLIMZ_OK) return NAN;
    return gc_dot(c->out, c->r, c->B * c->OC * c->H * c->W);
}

static void test_patch_embed_golden(void) {
    /* 2x2 kernel, stride 2, one-hot weights: token channel oc is pixel (oc/2, oc%2) of its
     * patch, plus bias 100*oc */
    float img[16], w[16] = {0}, b[4] = {0, 100, 200, 300}, out[16];
    for (int i = 0; i < 16; i++) img[i] = (float)i;
    for (int oc = 0; oc < 4; oc++) w[oc * 4 + oc] = 1;
    CHECK_OK(nn_patch_embed_forward(out, img, w, b, 1, 1, 4, 4, 4, 2, 2, 2, 2));
    int ok = 1;
    for (int ty = 0; ty < 2; ty++)
        for (int tx = 0; tx < 2; tx++)
            for (int oc = 0; oc < 4; oc++) {
                float const want = img[(2 * ty + oc / 2) * 4 + 2 * tx + oc % 2] + b[oc];
                if (out[(ty * 2 + tx) * 4 + oc] != want) ok = 0;
            }
    CHECK_MSG(ok, "patch embedding with a one-hot kernel does not pick the patch pixels");
    /* its transposed convolution with the same weights puts them back (no overlap) */
    float back[16];
    CHECK_OK(nn_patch_unembed_forward(back, out, w, NULL, 1, 4, 2, 2, 1, 2, 2, 2, 2, 4, 4));
    ok = 1;
    for (int ty = 0; ty < 2; ty++)
        for (int tx = 0; tx < 2; tx++)
            for (int oc = 0; oc < 4; oc++)
                if (back[(2 * ty + oc / 2) * 4 + 2 * tx + oc % 2] != img[(2 * ty + oc / 2) * 4 + 2 * tx + oc % 2] + b[oc])
                    ok = 0;
    CHECK_MSG(ok, "un-embedding with a one-hot kernel does not restore the pixels");
    /* bad shapes are errors, not crashes */
    CHECK_STATUS(nn_patch_embed_forward(out, img, w, b, 1, 1, 4, 4, 4, 5, 2, 2, 2), CLIMZ_ERR_DIMENSION);
    CHECK_STATUS(nn_patch_embed_forward(out, img, w, b, 1, 1, 4, 4, 4, 2, 2, 0, 2), CLIMZ_ERR_DIMENSION);
    CHECK_STATUS(nn_patch_unembed_forward(back, out, w, NULL, 1, 4, 2, 2, 1, 2, 2, 2, 2, 6, 4),
                 CLIMZ_ERR_DIMENSION);
}

/* the reference 11x10 kernel with stride 10: rows overlap by one */
static void test_patch_embed_reference_shape(void) {
    size_t const B = 1, C = 2, OC = 3, KH = 11, KW = 10, S = 10;
    size_t const H = 23, W = 20; /* -> (23-11)/10+1 = 2 by (20-10)/10+1 = 2 tokens */
    float *img = falloc(B * C * H * W), *w = falloc(OC * C * KH * KW), *b = falloc(OC);
    float *tok = falloc(B * 4 * OC), *back = falloc(B * OC * H * W);
    for (size_t i = 0; i < B * C * H * W; i++) img[i] = (float)(tu_rand_uniform(&g_st) - 0.5);
    for (size_t i = 0; i < OC * C * KH * KW; i++) w[i] = (float)(tu_rand_uniform(&g_st) - 0.5);
    for (size_t i = 0; i < OC; i++) b[i] = (float)i;
    CHECK_OK(nn_patch_embed_forward(tok, img, w, b, B, C, H, W, OC, KH, KW, S, S));
    /* token (1, 0) channel 0 by hand: rows 10..20 (row 10 shared with token row 0) */
    double s = b[0];
    for (size_t c = 0; c < C; c++)
        for (size_t kh = 0; kh < KH; kh++)
            for (size_t kw = 0; kw < KW; kw++)
                s += (double)img[(c * H + 10 + kh) * W + kw] * w[(c * KH + kh) * KW + kw];
    CHECK_NEAR(tok[(1 * 2 + 0) * OC + 0], s, 1e-4);
    /* transposed convolution: 2x2 tokens -> full (21, 20), padded to 23 x 20 as the input */
    float *w2 = falloc(OC * 2 * KH * KW); /* (C_in = OC, C_out = 2, KH, KW) */
    for (size_t i = 0; i < OC * 2 * KH * KW; i++) w2[i] = (float)(tu_rand_uniform(&g_st) - 0.5);
    float b2[2] = {7, -7};
    CHECK_OK(nn_patch_unembed_forward(back, tok, w2, b2, B, OC, 2, 2, 2, KH, KW, S, S, H, W));
    CHECK(back[(0 * H + 21) * W + 3] == 7.0f && back[(1 * H + 22) * W + 19] == -7.0f);
    CHECK(back[(0 * H + 10) * W + 3] != 7.0f); /* row 10 gets both token rows */
    /* 721 x 1440 bookkeeping: 72 x 144 tokens and back */
    CHECK((721 - KH) / S + 1 == 72 && (1440 - KW) / S + 1 == 144);
    CHECK((72 - 1) * S + KH == 721 && (144 - 1) * S + KW == 1440);
    free(img), free(w), free(b), free(tok), free(back), free(w2);
}

static void test_patch_embed_grad(void) {
    conv_ctx c = {0};
    c.B = 2, c.C = 2, c.H = 7, c.W = 6, c.OC = 3, c.KH = 3, c.KW = 2, c.SH = 2, c.SW = 2;
    c.IH = (c.H - c.KH) / c.SH + 1, c.IW = (c.W - c.KW) / c.SW + 1;
    size_t const ni = c.B * c.C * c.H * c.W, nw = c.OC * c.C * c.KH * c.KW,
                 no = c.B * c.IH * c.IW * c.OC;
    c.inp = drand(ni, -1, 1), c.w = drand(nw, -1, 1), c.b = drand(c.OC, -1, 1);
    c.r = drand(no, -1, 1), c.out = dalloc(no);
    double *di = dgrad(ni), *dw = dgrad(nw), *db = dgrad(c.OC);
    CHECK_OK(nn_patch_embed_backward_f64(di, dw, db, c.r, c.inp, c.w, c.B, c.C, c.H, c.W, c.OC,
                                         c.KH, c.KW, c.SH, c.SW));
    gsub(di, ni), gsub(dw, nw), gsub(db, c.OC);
    printf("patch embedding (kernel 3x2, stride 2, overlapping rows)\n");
    GC_EXPECT("patch_embed inp", c.inp, di, ni, pe_loss, &c, TOL64);
    GC_EXPECT("patch_embed w", c.w, dw, nw, pe_loss, &c, TOL64);
    GC_EXPECT("patch_embed b", c.b, db, c.OC, pe_loss, &c, TOL64);
    pe_loss(&c);
    float *fi = fcopy(c.inp, ni), *fw = fcopy(c.w, nw), *fb = fcopy(c.b, c.OC), *fo = falloc(no);
    CHECK_OK(nn_patch_embed_forward(fo, fi, fw, fb, c.B, c.C, c.H, c.W, c.OC, c.KH, c.KW, c.SH, c.SW));
    CHECK(gc_rel_diff_fd(fo, c.out, no, 1e-2) < TOL32);

    /* adjoint: <embed(x; w), t> = <x, unembed(t; w)>, same weight array, no bias */
    double *t = drand(no, -1, 1), *xt = dalloc(ni);
    CHECK_OK(nn_patch_embed_forward_f64(c.out, c.inp, c.w, NULL, c.B, c.C, c.H, c.W, c.OC, c.KH,
                                        c.KW, c.SH, c.SW));
    CHECK_OK(nn_patch_unembed_forward_f64(xt, t, c.w, NULL, c.B, c.OC, c.IH, c.IW, c.C, c.KH, c.KW,
                                          c.SH, c.SW, c.H, c.W));
    double const l = gc_dot(c.out, t, no), rr = gc_dot(c.inp, xt, ni);
    CHECK_MSG(fabs(l - rr) < 1e-12 * (fabs(l) + 1), "embed/unembed not adjoint: %.17g vs %.17g", l, rr);
    free(c.inp), free(c.w), free(c.b), free(c.r), free(c.out), free(di), free(dw), free(db);
    free(fi), free(fw), free(fb), free(fo), free(t), free(xt);
}

static void test_patch_unembed_grad(void) {
    conv_ctx c = {0};
    /* full output (5, 6); H = 4 crops a row, W = 7 adds a bias-only column */
    c.B = 2, c.C = 3, c.IH = 2, c.IW = 3, c.OC = 2, c.KH = 3, c.KW = 2, c.SH = 2, c.SW = 2;
    c.H = 4, c.W = 7;
    size_t const ni = c.B * c.IH * c.IW * c.C, nw = c.C * c.OC * c.KH * c.KW,
                 no = c.B * c.OC * c.H * c.W;
    c.inp = drand(ni, -1, 1), c.w = drand(nw, -1, 1), c.b = drand(c.OC, -1, 1);
    c.r = drand(no, -1, 1), c.out = dalloc(no);
    double *di = dgrad(ni), *dw = dgrad(nw), *db = dgrad(c.OC);
    CHECK_OK(nn_patch_unembed_backward_f64(di, dw, db, c.r, c.inp, c.w, c.B, c.C, c.IH, c.IW, c.OC,
                                           c.KH, c.KW, c.SH, c.SW, c.H, c.W));
    gsub(di, ni), gsub(dw, nw), gsub(db, c.OC);
    printf("patch un-embedding (transposed conv, cropped rows, padded column)\n");
    GC_EXPECT("patch_unembed inp", c.inp, di, ni, pu_loss, &c, TOL64);
    GC_EXPECT("patch_unembed w", c.w, dw, nw, pu_loss, &c, TOL64);
    GC_EXPECT("patch_unembed b", c.b, db, c.OC, pu_loss, &c, TOL64);
    pu_loss(&c);
    float *fi = fcopy(c.inp, ni), *fw = fcopy(c.w, nw), *fb = fcopy(c.b, c.OC), *fo = falloc(no);
    CHECK_OK(nn_patch_unembed_forward(fo, fi, fw, fb, c.B, c.C, c.IH, c.IW, c.OC, c.KH, c.KW, c.SH,
                                      c.SW, c.H, c.W));
    CHECK(gc_rel_diff_fd(fo, c.out, no, 1e-2) < TOL32);
    free(c.inp), free(c.w), free(c.b), free(c.r), free(c.out), free(di), free(dw), free(db);
    free(fi), free(fw), free(fb), free(fo);
}

/* ---- pixel shuffle ----------------------------------------------------------------------- */

typedef struct {
    double *inp, *r, *out;
    size_t B, H, W, C, rr;
    int shuffle;
} ps_ctx;

static double ps_loss(void *p) {
    ps_ctx *c = (ps_ctx *)p;
    if (c->shuffle) nn_pixel_shuffle_forward_f64(c->out, c->inp, c->B, c->H, c->W, c->C, c->rr);
    else nn_pixel_unshuffle_forward_f64(c->out, c->inp, c->B, c->H, c->W, c->C, c->rr);
    return gc_dot(c->out, c->r, c->B * c->H * c->W * c->C * (c->shuffle ? c->rr * c->rr : 1));
}

static void test_pixel_shuffle(void) {
    /* golden: (1, 2, 2, 2) with inp[y][x][c] = 10c + 2y + x -> (1, 1, 1, 8) in order c*4 + i*2 + j */
    float inp[8], out[8], back[8];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            for (int c = 0; c < 2; c++) inp[(y * 2 + x) * 2 + c] = (float)(10 * c + 2 * y + x);
    nn_pixel_unshuffle_forward(out, inp, 1, 2, 2, 2, 2);
    float const want[8] = {0, 1, 2, 3, 10, 11, 12, 13};
    CHECK(memcmp(out, want, sizeof want) == 0);
    nn_pixel_shuffle_forward(back, out, 1, 1, 1, 2, 2);
    CHECK(memcmp(back, inp, sizeof inp) == 0);
    /* larger: index formula and round trip */
    size_t const B = 2, H = 4, W = 6, C = 3, r = 2, n = B * H * W * C;
    float *x = falloc(n), *u = falloc(n), *y = falloc(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    nn_pixel_unshuffle_forward(u, x, B, H, W, C, r);
    int ok = 1;
    for (size_t b = 0; b < B; b++)
        for (size_t yy = 0; yy < H / r; yy++)
            for (size_t xx = 0; xx < W / r; xx++)
                for (size_t c = 0; c < C; c++)
                    for (size_t i = 0; i < r; i++)
                        for (size_t j = 0; j < r; j++)
                            if (u[((b * (H / r) + yy) * (W / r) + xx) * C * r * r + c * r * r + i * r + j] !=
                                x[((b * H + yy * r + i) * W + xx * r + j) * C + c])
                                ok = 0;
    CHECK_MSG(ok, "pixel unshuffle index mapping");
    nn_pixel_shuffle_forward(y, u, B, H / r, W / r, C, r);
    CHECK(memcmp(x, y, n * sizeof(float)) == 0);
    free(x), free(u), free(y);

    for (int sh = 0; sh < 2; sh++) {
        ps_ctx c = {0};
        c.B = 2, c.C = 2, c.rr = 2, c.shuffle = sh;
        c.H = sh ? 2 : 4, c.W = sh ? 3 : 6; /* input sizes */
        size_t const nn = c.B * c.H * c.W * c.C * (sh ? 4 : 1);
        c.inp = drand(nn, -1, 1), c.r = drand(nn, -1, 1), c.out = dalloc(nn);
        double *d = dgrad(nn);
        if (sh) nn_pixel_shuffle_backward_f64(d, c.r, c.B, c.H, c.W, c.C, c.rr);
        else nn_pixel_unshuffle_backward_f64(d, c.r, c.B, c.H, c.W, c.C, c.rr);
        gsub(d, nn);
        GC_EXPECT(sh ? "pixel_shuffle inp" : "pixel_unshuffle inp", c.inp, d, nn, ps_loss, &c, TOL64);
        free(c.inp), free(c.r), free(c.out), free(d);
    }
}

/* ---- LayerNorm ---------------------------------------------------------------------------- */

typedef struct {
    double *inp, *g, *b, *r, *out, *mean, *rstd;
    size_t N, C;
} ln_ctx;

static double ln_loss(void *p) {
    ln_ctx *c = (ln_ctx *)p;
    nn_layernorm_forward_f64(c->out, NULL, NULL, c->inp, c->g, c->b, c->N, c->C, 1e-6);
    return gc_dot(c->out, c->r, c->N * c->C);
}

static void test_layernorm(void) {
    float x[3] = {1, 2, 3}, g[3] = {1, 1, 1}, b[3] = {0, 0, 0}, o[3], m, rs;
    nn_layernorm_forward(o, &m, &rs, x, g, b, 1, 3, 1e-6f);
    double const want = 1.0 / sqrt(2.0 / 3.0 + 1e-6); /* (3 - 2) * rstd */
    CHECK_NEAR(m, 2.0, 0);
    CHECK_NEAR(rs, want, 1e-6);
    CHECK_NEAR(o[0], -want, 1e-6);
    CHECK_NEAR(o[1], 0.0, 0);
    CHECK_NEAR(o[2], want, 1e-6);

    ln_ctx c = {0};
    c.N = 4, c.C = 9;
    size_t const n = c.N * c.C;
    c.inp = drand(n, -2, 2), c.g = drand(c.C, 0.5, 1.5), c.b = drand(c.C, -1, 1);
    c.r = drand(n, -1, 1), c.out = dalloc(n), c.mean = dalloc(c.N), c.rstd = dalloc(c.N);
    nn_layernorm_forward_f64(c.out, c.mean, c.rstd, c.inp, c.g, c.b, c.N, c.C, 1e-6);
    double *di = dgrad(n), *dg = dgrad(c.C), *db = dgrad(c.C);
    nn_layernorm_backward_f64(di, dg, db, c.r, c.inp, c.g, c.mean, c.rstd, c.N, c.C);
    gsub(di, n), gsub(dg, c.C), gsub(db, c.C);
    printf("layernorm\n");
    GC_EXPECT("layernorm inp", c.inp, di, n, ln_loss, &c, TOL64);
    GC_EXPECT("layernorm g", c.g, dg, c.C, ln_loss, &c, TOL64);
    GC_EXPECT("layernorm b", c.b, db, c.C, ln_loss, &c, TOL64);
    ln_loss(&c);
    float *fi = fcopy(c.inp, n), *fg = fcopy(c.g, c.C), *fb = fcopy(c.b, c.C), *fo = falloc(n);
    nn_layernorm_forward(fo, NULL, NULL, fi, fg, fb, c.N, c.C, 1e-6f);
    CHECK(gc_rel_diff_fd(fo, c.out, n, 1e-2) < TOL32);
    free(c.inp), free(c.g), free(c.b), free(c.r), free(c.out), free(c.mean), free(c.rstd);
    free(di), free(dg), free(db), free(fi), free(fg), free(fb), free(fo);
}

/* ---- elementwise: GELU, sin, add ----------------------------------------------------------- */

typedef struct {
    double *inp, *inp2, *r, *out;
    double omega;
    size_t n;
    int op; /* 0 gelu, 1 sin, 2 add */
} ew_ctx;

static double ew_loss(void *p) {
    ew_ctx *c = (ew_ctx *)p;
    if (c->op == 0) nn_gelu_forward_f64(c->out, c->inp, c->n);
    else if (c->op == 1) nn_sin_forward_f64(c->out, c->inp, c->omega, c->n);
    else nn_add_forward_f64(c->out, c->inp, c->inp2, c->n);
    return gc_dot(c->out, c->r, c->n);
}

static void test_elementwise(void) {
    float one = 1, g1;
    nn_gelu_forward(&g1, &one, 1);
    CHECK_NEAR(g1, 0.8413447460685429, 1e-7);
    double d1 = 1, gd;
    nn_gelu_forward_f64(&gd, &d1, 1);
    CHECK_NEAR(gd, 0.8413447460685429, 1e-15);
    nn_set_deterministic(1);
    nn_gelu_forward_f64(&gd, &d1, 1);
    CHECK_NEAR(gd, 0.8413447460685429, 1e-15);
    nn_set_deterministic(0);
    float si, half = 0.5f;
    nn_sin_forward(&si, &half, 30.0f, 1);
    CHECK_NEAR(si, sin(15.0), 1e-6);

    for (int op = 0; op < 3; op++) {
        ew_ctx c = {0};
        c.n = 40, c.op = op, c.omega = 3.0;
        c.inp = drand(c.n, -3, 3), c.inp2 = drand(c.n, -3, 3), c.r = drand(c.n, -1, 1);
        c.out = dalloc(c.n);
        double *d = dgrad(c.n), *d2 = dgrad(c.n);
        if (op == 0) nn_gelu_backward_f64(d, c.r, c.inp, c.n);
        else if (op == 1) nn_sin_backward_f64(d, c.r, c.inp, c.omega, c.n);
        else nn_add_backward_f64(d, d2, c.r, c.n);
        gsub(d, c.n), gsub(d2, c.n);
        static const char *const names[3] = {"gelu inp", "sin inp", "add a"};
        GC_EXPECT(names[op], c.inp, d, c.n, ew_loss, &c, TOL64);
        if (op == 2) GC_EXPECT("add b", c.inp2, d2, c.n, ew_loss, &c, TOL64);
        ew_loss(&c);
        float *fi = fcopy(c.inp, c.n), *fi2 = fcopy(c.inp2, c.n), *fo = falloc(c.n);
        if (op == 0) nn_gelu_forward(fo, fi, c.n);
        else if (op == 1) nn_sin_forward(fo, fi, (float)c.omega, c.n);
        else nn_add_forward(fo, fi, fi2, c.n);
        /* the float GELU uses the vectorised rational erf (nn/fastmath.h): its error is
         * absolute (1.4e-6 at most), so it is checked against a floor of 1, not 1e-2 */
        double const fl = op == 0 ? 1.0 : 1e-2, tol = op == 0 ? 2e-6 : TOL32;
        CHECK_MSG(gc_rel_diff_fd(fo, c.out, c.n, fl) < tol, "%s float forward", names[op]);
        free(c.inp), free(c.inp2), free(c.r), free(c.out), free(d), free(d2), free(fi), free(fi2), free(fo);
    }

    /* SIREN init: bounds of both kinds, and spread */
    nn_rng rng;
    nn_rng_seed(&rng, 7);
    size_t const fi = 64, fo = 32;
    float *w = falloc(fi * fo);
    for (int first = 0; first < 2; first++) {
        nn_siren_init(w, fi, fo, 30.0f, first, &rng);
        double const bound = first ? 1.0 / 64 : sqrt(6.0 / 64) / 30;
        double mx = 0, mean = 0;
        for (size_t i = 0; i < fi * fo; i++) {
            mx = fabs(w[i]) > mx ? fabs(w[i]) : mx;
            mean += w[i];
        }
        mean /= (double)(fi * fo);
        CHECK(mx <= bound * (1 + 1e-6) && mx > 0.95 * bound);
        CHECK(fabs(mean) < 0.1 * bound);
    }
    free(w);
}

/* ---- softmax ------------------------------------------------------------------------------- */

typedef struct {
    double *inp, *r, *out;
    size_t N, C;
} sm_ctx;

static double sm_loss(void *p) {
    sm_ctx *c = (sm_ctx *)p;
    nn_softmax_forward_f64(c->out, c->inp, c->N, c->C);
    return gc_dot(c->out, c->r, c->N * c->C);
}

static void test_softmax(void) {
    float x[2] = {0, (float)log(2.0)}, y[2];
    nn_softmax_forward(y, x, 1, 2);
    CHECK_NEAR(y[0], 1.0 / 3, 1e-7);
    CHECK_NEAR(y[1], 2.0 / 3, 1e-7);
    double xd[2] = {0, log(2.0)}, yd[2];
    nn_softmax_forward_f64(yd, xd, 1, 2);
    CHECK_NEAR(yd[0], 1.0 / 3, 1e-15);
    float masked[3] = {-INFINITY, -INFINITY, -INFINITY}, ym[3] = {1, 1, 1};
    nn_softmax_forward(ym, masked, 1, 3);
    CHECK(ym[0] == 0 && ym[1] == 0 && ym[2] == 0);
    float part[3] = {1, -INFINITY, 1};
    nn_softmax_forward(ym, part, 1, 3);
    CHECK(ym[0] == 0.5f && ym[1] == 0 && ym[2] == 0.5f);

    sm_ctx c = {0};
    c.N = 3, c.C = 7;
    size_t const n = c.N * c.C;
    c.inp = drand(n, -3, 3), c.r = drand(n, -1, 1), c.out = dalloc(n);
    sm_loss(&c);
    double *d = dgrad(n);
    nn_softmax_backward_f64(d, c.r, c.out, c.N, c.C);
    gsub(d, n);
    GC_EXPECT("softmax inp", c.inp, d, n, sm_loss, &c, TOL64);
    sm_loss(&c);
    float *fi = fcopy(c.inp, n), *fo = falloc(n);
    nn_softmax_forward(fo, fi, c.N, c.C);
    CHECK(gc_rel_diff_fd(fo, c.out, n, 1e-2) < TOL32);
    free(c.inp), free(c.r), free(c.out), free(d), free(fi), free(fo);
}

/* ---- Fourier features ------------------------------------------------------------------------ */

typedef struct {
    double *inp, *Bm, *r, *out;
    size_t N, D, F;
} ff_ctx;

static double ff_loss(void *p) {
    ff_ctx *c = (ff_ctx *)p;
    nn_fourier_forward_f64(c->out, c->inp, c->Bm, c->N, c->D, c->F);
    return gc_dot(c->out, c->r, c->N * 2 * c->F);
}

static void test_fourier(void) {
    /* golden: x = (0.25), B = (1) -> [sin(pi/2), cos(pi/2)] = [1, 0] */
    float x = 0.25f, Bm = 1.0f, o[2];
    nn_fourier_forward(o, &x, &Bm, 1, 1, 1);
    CHECK_NEAR(o[0], 1.0, 1e-7);
    CHECK_NEAR(o[1], 0.0, 1e-6);

    ff_ctx c = {0};
    c.N = 6, c.D = 3, c.F = 5;
    c.inp = drand(c.N * c.D, -1, 1), c.Bm = drand(c.F * c.D, -2, 2);
    c.r = drand(c.N * 2 * c.F, -1, 1), c.out = dalloc(c.N * 2 * c.F);
    ff_loss(&c);
    double *di = dgrad(c.N * c.D), *dB = dgrad(c.F * c.D);
    nn_fourier_backward_f64(di, dB, c.r, c.out, c.inp, c.Bm, c.N, c.D, c.F);
    gsub(di, c.N * c.D), gsub(dB, c.F * c.D);
    GC_EXPECT("fourier inp", c.inp, di, c.N * c.D, ff_loss, &c, TOL64);
    GC_EXPECT("fourier Bmat", c.Bm, dB, c.F * c.D, ff_loss, &c, TOL64);
    ff_loss(&c);
    float *fi = fcopy(c.inp, c.N * c.D), *fB = fcopy(c.Bm, c.F * c.D), *fo = falloc(c.N * 2 * c.F);
    nn_fourier_forward(fo, fi, fB, c.N, c.D, c.F);
    /* sin/cos of arguments up to ~40 rad: float rounding of the argument dominates */
    CHECK(gc_rel_diff_fd(fo, c.out, c.N * 2 * c.F, 1) < 1e-5);
    free(c.inp), free(c.Bm), free(c.r), free(c.out), free(di), free(dB), free(fi), free(fB), free(fo);
}

/* ---- deterministic mode and portable math ------------------------------------------------- */

static void test_det_math(void) {
    double worst_e = 0, worst_f = 0;
    for (int i = 0; i <= 20000; i++) {
        double const x = -708.0 + 1417.0 * i / 20000.0; /* normal results */
        double const a = nn_det_exp(x), b = exp(x);
        double const e = fabs(a - b) / b;
        if (e > worst_e) worst_e = e;
    }
    for (int i = 0; i <= 20000; i++) {
        double const x = -1.0 + 2.0 * i / 20000.0;
        double const e = fabs(nn_det_exp(x) - exp(x)) / exp(x);
        if (e > worst_e) worst_e = e;
    }
    for (int i = 0; i <= 40000; i++) {
        double const x = -7.0 + 14.0 * i / 40000.0;
        double const a = nn_det_erf(x), b = erf(x);
        double const e = fabs(a - b) / (fabs(b) > 1e-300 ? fabs(b) : 1);
        if (e > worst_f) worst_f = e;
    }
    /* erfc relative accuracy in the tail (GELU of negative inputs in deterministic mode) */
    double worst_c = 0;
    for (int i = 0; i <= 20000; i++) {
        double const x = -6.0 + 32.0 * i / 20000.0;
        double const a = nn_det_erfc(x), b = erfc(x);
        double const e = b > 0 ? fabs(a - b) / b : fabs(a);
        if (e > worst_c) worst_c = e;
    }
    printf("nn_det_exp max rel err %.3g, nn_det_erf %.3g, nn_det_erfc %.3g\n", worst_e, worst_f,
           worst_c);
    CHECK(worst_e < 5e-16);
    CHECK(worst_f < 1e-14);
    CHECK(worst_c < 1e-10);
    CHECK(nn_det_exp(0) == 1.0 && nn_det_erf(0) == 0.0);
    CHECK(nn_det_exp(-800) == 0 && isinf(nn_det_exp(800)) && nn_det_erf(10) == 1.0);
    CHECK(isnan(nn_det_exp(NAN)) && isnan(nn_det_erf(NAN)));
    /* golden: FNV-1a of the bits of nn_det_exp on a grid over [-746, 10]: entropy-model
     * parameters are defined by these bits, so they must never change */
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i <= 200000; i++) {
        double const x = -746.0 + 756.0 * i / 200000.0, e = nn_det_exp(x);
        uint64_t b;
        memcpy(&b, &e, sizeof b);
        h = (h ^ b) * 1099511628211ull;
    }
    CHECK_MSG(h == 0x4d4e9c38f69adb94ull, "nn_det_exp bits changed: %016llx", (unsigned long long)h);
    /* the table GELU of deterministic mode: within float resolution of x Phi(x), NaN kept,
     * the tails exact, and through nn_gelu_forward in deterministic mode */
    nn_det_gelu_init();
    double mg = 0;
    for (int i = -12000; i <= 12000; i++) {
        float const x = (float)i * 0.001f;
        double const ref = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        double const d = fabs((double)nn_det_gelu(x) - ref);
        mg = d > mg ? d : mg;
    }
    CHECK_MSG(mg < 1e-6, "det GELU differs from x Phi(x) by %g", mg);
    CHECK(isnan(nn_det_gelu(NAN)) && nn_det_gelu(20.0f) == 20.0f && nn_det_gelu(-20.0f) == 0.0f);
    float gx[3] = {-1.5f, 0.25f, 3.0f}, gy[3];
    nn_set_deterministic(1);
    nn_gelu_forward(gy, gx, 3);
    nn_set_deterministic(0);
    for (int i = 0; i < 3; i++) CHECK(gy[i] == nn_det_gelu(gx[i]));
    /* the vector form gives the same bits for every x <= 0: a dense grid, the subnormal
     * results, -0, -inf and NaN */
    size_t differ = 0;
    for (int i = 0; i <= 400000; i++) {
        double const x = -746.0 * i / 400000.0, e = nn_det_exp(x), v = nn_det_exp_le0(x);
        differ += memcmp(&e, &v, sizeof e) != 0;
    }
    CHECK_MSG(differ == 0, "nn_det_exp_le0 differs from nn_det_exp at %zu points", differ);
    CHECK(nn_det_exp_le0(-INFINITY) == 0.0 && isnan(nn_det_exp_le0(NAN)) && nn_det_exp_le0(-0.0) == 1.0);
}

static void fill_f(float *x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * tu_rand_uniform(&g_st));
}

/* deterministic mode: the same bits with 1 and 2 threads, and the documented sum order */
static void test_det_threads(void) {
    nn_set_deterministic(1);
    CHECK(nn_deterministic() == 1);
    size_t const N = 200, C = 192, OC = 150;
    float *inp = falloc(N * C), *w = falloc(OC * C), *b = falloc(OC);
    fill_f(inp, N * C, -1, 1), fill_f(w, OC * C, -1, 1), fill_f(b, OC, -1, 1);
    size_t const nmax = N * (C > OC ? C : OC);
    float *o1[4], *o2[4];
    for (int k = 0; k < 4; k++) o1[k] = falloc(nmax), o2[k] = falloc(nmax);
    float *mean = falloc(N), *rstd = falloc(N);
    int const saved = omp_get_max_threads();
    for (int pass = 0; pass < 2; pass++) {
        omp_set_num_threads(pass ? 2 : 1);
        float **o = pass ? o2 : o1;
        nn_linear_forward(o[0], inp, w, b, N, C, OC);
        nn_layernorm_forward(o[1], mean, rstd, inp, b, b, N, OC, 1e-6f); /* rows of length OC */
        nn_softmax_forward(o[2], inp, N, C);
        nn_gelu_forward(o[3], inp, N * C);
    }
    omp_set_num_threads(saved);
    CHECK_MSG(memcmp(o1[0], o2[0], N * OC * sizeof(float)) == 0, "det linear differs with 2 threads");
    CHECK_MSG(memcmp(o1[1], o2[1], N * OC * sizeof(float)) == 0, "det layernorm differs");
    CHECK_MSG(memcmp(o1[2], o2[2], N * C * sizeof(float)) == 0, "det softmax differs");
    CHECK_MSG(memcmp(o1[3], o2[3], N * C * sizeof(float)) == 0, "det gelu differs");
    /* linear in deterministic mode = (sum_c in order) + bias, bit for bit */
    int exact = 1;
    for (size_t n = 0; n < N && exact; n++)
        for (size_t oc = 0; oc < OC; oc++) {
            float s = 0;
            for (size_t c = 0; c < C; c++) {
                float const p = inp[n * C + c] * w[oc * C + c];
                s = s + p;
            }
            float const want = s + b[oc];
            if (o1[0][n * OC + oc] != want) { exact = 0; break; }
        }
    CHECK_MSG(exact, "deterministic linear is not the fixed-order sum");
    /* and close to the BLAS path */
    nn_set_deterministic(0);
    nn_linear_forward(o2[0], inp, w, b, N, C, OC);
    double worst = 0;
    for (size_t i = 0; i < N * OC; i++) {
        double const e = fabs((double)o1[0][i] - o2[0][i]) / (fabs(o2[0][i]) + 1);
        worst = e > worst ? e : worst;
    }
    CHECK(worst < 1e-5);
    nn_softmax_forward(o2[2], inp, N, C);
    nn_gelu_forward(o2[3], inp, N * C);
    worst = 0;
    for (size_t i = 0; i < N * C; i++) {
        double e = fabs((double)o1[2][i] - o2[2][i]) / (fabs(o2[2][i]) + 1e-3);
        worst = e > worst ? e : worst;
        e = fabs((double)o1[3][i] - o2[3][i]) / (fabs(o2[3][i]) + 1e-3);
        worst = e > worst ? e : worst;
    }
    CHECK(worst < 1e-5);
    for (int k = 0; k < 4; k++) free(o1[k]), free(o2[k]);
    free(inp), free(w), free(b), free(mean), free(rstd);
}

int main(void) {
    test_gemm();
    for (int det = 0; det < 2; det++) {
        test_linear(1, det);
        test_linear(0, det);
    }
    test_patch_embed_golden();
    test_patch_embed_reference_shape();
    test_patch_embed_grad();
    test_patch_unembed_grad();
    test_pixel_shuffle();
    test_layernorm();
    test_elementwise();
    test_softmax();
    test_fourier();
    test_det_math();
    test_det_threads();
    return tu_finish();
}
