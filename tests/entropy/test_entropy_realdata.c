/* test_entropy_realdata.c — the coders on real fields: quantisation bins of the 2-D
 * Lorenzo residual of 500 hPa height (data/hgt.nc, 21 x 73 x 144) and, when present,
 * navy winds (../shared/data), at error bounds of 1e-2 .. 1e-4 of the value range,
 * coded (a) with the adaptive model and 8 neighbour contexts, (b) with the Gaussian
 * conditional, scale from the neighbours. Exact round trips, and sizes against the
 * empirical conditional entropy. */
#include "entropy/adaptive.h"
#include "entropy/gaussian.h"
#include "testutil.h"

#include <netcdf.h>
#include <stdlib.h>
#include <string.h>

static float *read_var(const char *path, const char *var, size_t *T, size_t *H, size_t *W) {
    int nc, v, nd, dims[8];
    if (nc_open(path, NC_NOWRITE, &nc) != NC_NOERR) return NULL;
    float *x = NULL;
    size_t len[8];
    if (nc_inq_varid(nc, var, &v) || nc_inq_varndims(nc, v, &nd) || nd < 2 || nd > 8 ||
        nc_inq_vardimid(nc, v, dims))
        goto done;
    for (int i = 0; i < nd; i++) nc_inq_dimlen(nc, dims[i], &len[i]);
    *T = 1;
    for (int i = 0; i < nd - 2; i++) *T *= len[i];
    *H = len[nd - 2];
    *W = len[nd - 1];
    x = malloc(*T * *H * *W * sizeof *x);
    if (x && nc_get_var_float(nc, v, x) != NC_NOERR) {
        free(x);
        x = NULL;
    }
done:
    nc_close(nc);
    return x;
}

static int ctx_of(int32_t a, int32_t b, int32_t c) { /* 0..7 from neighbour magnitudes */
    uint32_t s = (uint32_t)abs(a) + (uint32_t)abs(b) + (uint32_t)abs(c) / 2;
    int k = 0;
    while (s > 0 && k < 7) {
        k++;
        s >>= 1;
    }
    return k;
}

static void run_field(const char *name, const float *x, size_t T, size_t H, size_t W,
                      const ent_gauss_tables *g) {
    size_t const n = T * H * W;
    float mn = x[0], mx = x[0];
    for (size_t i = 0; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    int32_t *r = malloc(n * sizeof *r), *w = malloc(n * sizeof *w);
    uint8_t *ctx = malloc(n), *idx = malloc(n);
    int64_t *q = malloc(n * sizeof *q);
    for (int ie = 2; ie <= 4; ie++) {
        double const E = (mx - mn) * pow(10.0, -ie);
        for (size_t i = 0; i < n; i++) q[i] = llround(x[i] / (2 * E));
        static uint32_t hist[8][1024];
        memset(hist, 0, sizeof hist);
        size_t cnt[8] = {0};
        for (size_t t = 0; t < T; t++)
            for (size_t i = 0; i < H; i++)
                for (size_t j = 0; j < W; j++) {
                    size_t const k = (t * H + i) * W + j;
                    int64_t const a = j ? q[k - 1] : 0, b = i ? q[k - W] : 0, c = i && j ? q[k - W - 1] : 0;
                    int64_t const pred = i && j ? a + b - c : i ? b : j ? a : 0;
                    r[k] = (int32_t)(q[k] - pred);
                    int32_t const ra = j ? r[k - 1] : 0, rb = i ? r[k - W] : 0, rc = i && j ? r[k - W - 1] : 0;
                    ctx[k] = (uint8_t)ctx_of(ra, rb, rc);
                    /* Gaussian: scale ~ the neighbours' mean magnitude */
                    idx[k] = ent_gauss_scale_index((float)(0.3 + 0.6 * (abs(ra) + abs(rb) + abs(rc)) / 3.0));
                    uint32_t const z = r[k] < 0 ? 2u * (uint32_t)(-(int64_t)r[k]) - 1 : 2u * (uint32_t)r[k];
                    hist[ctx[k]][z < 1023 ? z : 1023]++;
                    cnt[ctx[k]]++;
                }
        double H0 = 0;
        for (int c = 0; c < 8; c++)
            for (int z = 0; z < 1024; z++)
                if (hist[c][z]) H0 -= hist[c][z] * log2((double)hist[c][z] / (double)cnt[c]);
        /* (a) adaptive */
        ent_aenc *e = NULL;
        CHECK_OK(ent_aenc_create(&e, 8));
        if (!e) break;
        for (size_t k = 0; k < n; k++) CHECK_OK(ent_aenc_put(e, ctx[k], r[k]));
        cz_buf out = {0};
        CHECK_OK(ent_aenc_finish(e, &out));
        ent_aenc_free(e);
        ent_adec *d = NULL;
        CHECK_OK(ent_adec_create(&d, 8, out.data, out.size));
        climz_status st = CLIMZ_OK;
        for (size_t k = 0; k < n && d && st == CLIMZ_OK; k++) st = ent_adec_get(d, ctx[k], &w[k]);
        CHECK_OK(st);
        if (d) CHECK_OK(ent_adec_finish(d));
        ent_adec_free(d);
        CHECK(memcmp(r, w, n * sizeof *r) == 0);
        /* (b) Gaussian conditional */
        cz_buf gout = {0};
        CHECK_OK(ent_gauss_encode(g, r, idx, n, &gout));
        memset(w, 0, n * sizeof *w);
        CHECK_OK(ent_gauss_decode(g, gout.data, gout.size, idx, n, w));
        CHECK(memcmp(r, w, n * sizeof *r) == 0);
        printf("%-5s E=1e-%d: adaptive %7zu B (ratio %5.1f, %+.2f%% vs static entropy %.0f B), gaussian %7zu B\n",
               name, ie, out.size, 4.0 * n / out.size, 100 * (out.size * 8 / H0 - 1), H0 / 8, gout.size);
        /* the adaptive model pays no table and follows the field: within 2 % of the
         * static empirical entropy (which ignores the cost of sending a table) */
        CHECK(out.size * 8.0 < H0 * 1.02);
        cz_buf_free(&out);
        cz_buf_free(&gout);
    }
    free(r);
    free(w);
    free(ctx);
    free(idx);
    free(q);
}

int main(void) {
    ent_gauss_tables *g = NULL;
    CHECK_OK(ent_gauss_tables_build(&g, 16));
    if (!g) return tu_finish();
    size_t T, H, W;
    float *x = read_var(tu_data("hgt.nc"), "HGT", &T, &H, &W);
    CHECK(x != NULL);
    if (x) {
        CHECK(T == 21 && H == 73 && W == 144);
        run_field("HGT", x, T, H, W, g);
        free(x);
    }
    const char *navy = tu_shared("monthly_navy_winds.cdf");
    if (navy && (x = read_var(navy, "UWND", &T, &H, &W)) != NULL) {
        run_field("UWND", x, T < 24 ? T : 24, H, W, g); /* first two years */
        free(x);
    }
    ent_gauss_tables_free(g);
    return tu_finish();
}
