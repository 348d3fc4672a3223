/* test_vae_codec.c — the VAEformer codec: model tables, one sample coded and decoded, and the
 * file-level codec through climz_compress_file / climz_decompress_file on bundled samples.
 *
 * Models: tiny seeded models made here (untrained; the latent is scaled up so that symbols
 * span several values and escapes occur), written to the test's temporary directory. When
 * the bundled default model exists it is also checked on hgt.nc (ratio and error). */
#include "testutil.h"

#include "api/codec.h"
#include "container/container.h"
#include "io/dataset.h"
#include "metrics/metrics.h"
#include "nn/nn.h"
#include "vae/vae_codec.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern const api_codec api_codec_vaeformer;

static char dir[1024];

/* dir/name in one of 64 rotating buffers (a test holds fewer than 64 paths at once) */
static const char *tmp(const char *name) {
    static char buf[64][1200];
    static int k;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* every size set here: the test must not follow changes of vae_config_default() */
static void tiny_config(vae_config *c, size_t C) {
    vae_config_default(c);
    c->in_channels = C;
    c->patch_kh = c->patch_kw = c->patch_sh = c->patch_sw = 4;
    c->mlp_ratio = 4.0;
    c->win_s[0] = 8, c->win_s[1] = 8;
    c->win_ew[0] = 4, c->win_ew[1] = 16;
    c->win_ns[0] = 16, c->win_ns[1] = 4;
    c->wrap_lon = 0;
    c->pos = VAE_POS_NONE;
    c->hyper_patch = 4;
    c->hyper_heads = 2;
    c->hyper_blocks_a = c->hyper_blocks_s = 1;
    c->n_fp_filters = 4;
    for (size_t i = 0; i < 4; i++) c->fp_filters[i] = 3;
    c->fp_init_scale = 10.0;
    c->width = 32;
    c->heads = 2;
    c->n_enc = 2;
    c->enc[0] = VAE_WIN_S, c->enc[1] = VAE_WIN_G;
    c->n_dec = 2;
    c->dec[0] = VAE_WIN_EW, c->dec[1] = VAE_WIN_G;
    c->latent = 8;
    c->hyper_width = 32;
    c->hyper_latent = 4;
    c->field_norm = C == 1;
}

/* A seeded tiny model; the posterior mean is scaled by yscale; tables optional. */
static void make_model(const char *path, size_t C, uint64_t seed, float yscale, int tables) {
    vae_config cfg;
    vae_model m;
    memset(&m, 0, sizeof m);
    tiny_config(&cfg, C);
    CHECK_OK(vae_model_create(&m, &cfg, 0));
    CHECK_OK(vae_model_init_weights(&m, seed));
    float *wt = nn_params_data(&m.p, m.ix.enc_out_w);
    for (size_t i = 0; i < m.p.t[m.ix.enc_out_w].numel; i++) wt[i] *= yscale;
    for (size_t c = 0; c < C; c++) m.norm_mean[c] = 250.0f, m.norm_std[c] = 20.0f;
    if (tables) CHECK_OK(vae_model_build_tables(&m));
    CHECK(vae_model_has_tables(&m) == tables);
    CHECK_OK(vae_model_save(&m, path, NULL));
    vae_model_free(&m);
}

static int load_var(const char *path, const char *var, cz_dataset **ds, cz_field *f) {
    memset(f, 0, sizeof *f);
    if (io_open(path, ds) != CLIMZ_OK) return -1;
    int const vi = io_find_var(*ds, var);
    if (vi < 0 || io_load_field(*ds, vi, f) != CLIMZ_OK) return -1;
    return vi;
}

/* ---- tables survive save/load; one sample round trip; damaged streams ---------------------- */
/* big_latent: scale the latent so far up that most y symbols escape their tables (whose raw
 * bits carry no redundancy: flips there are caught by the container's CRC, not here) */
static void test_sample(int big_latent) {
    const char *mp = tmp("tiny.safetensors");
    make_model(mp, 1, 7, big_latent ? 3000.0f : 200.0f, 1);
    vae_model m;
    memset(&m, 0, sizeof m);
    CHECK_OK(vae_model_load(&m, mp, 0, NULL));
    CHECK(vae_model_has_tables(&m));
    CHECK(strlen(m.sha256) == 64);
    /* rebuilding from the loaded weights gives the same bytes */
    const vae_extra *e0 = vae_model_extra(&m, VAE_EXTRA_ZTAB);
    size_t const n0 = e0 ? e0->bytes : 0;
    uint8_t *copy = malloc(n0 + 1);
    if (e0) memcpy(copy, e0->data, n0);
    CHECK_OK(vae_model_build_tables(&m));
    const vae_extra *e1 = vae_model_extra(&m, VAE_EXTRA_ZTAB);
    CHECK(e1 && e1->bytes == n0 && memcmp(e1->data, copy, n0) == 0);
    free(copy);

    cz_dataset *ds = NULL;
    cz_field f;
    CHECK(load_var(tu_data("hgt.nc"), "HGT", &ds, &f) >= 0);
    size_t const H = f.ny, W = f.nx, n = H * W;
    float *x = malloc(n * sizeof *x), *xh = malloc(n * sizeof *xh), *xd = malloc(n * sizeof *xd);
    double mu = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) mu += f.values[i];
    mu /= (double)n;
    for (size_t i = 0; i < n; i++) s2 += (f.values[i] - mu) * (f.values[i] - mu);
    double const sd = sqrt(s2 / (double)n);
    for (size_t i = 0; i < n; i++) x[i] = (float)((f.values[i] - mu) / sd);

    vae_coder c;
    CHECK_OK(vae_coder_init(&c, &m, 0));
    cz_buf zs = {0}, ys = {0};
    uint32_t crc = 0;
    vae_sample_info info;
    CHECK_OK(vae_sample_encode(&c, x, H, W, &zs, &ys, &crc, xh, &info));
    CHECK(info.h == (H + 3) / 4 && info.w == W / 4 && zs.size > 0 && ys.size > 0);
    CHECK(info.y_bytes == ys.size && info.z_bytes == zs.size);
    printf("sample: analysis %.3f s, hyper %.3f s, entropy %.3f s, synthesis %.3f s\n", info.t_analysis,
           info.t_hyper, info.t_entropy, info.t_synthesis);
    printf("sample %zux%zu: latent %zux%zu, hyper %zux%zu, y %zu B, z %zu B, %zu escapes\n", H, W, info.h, info.w,
           info.hz, info.wz, ys.size, zs.size, info.y_escapes);
    CHECK(big_latent ? info.y_escapes > n / 100 : info.y_escapes < n / 1000);
    CHECK_OK(vae_sample_decode(&c, zs.data, zs.size, ys.data, ys.size, crc, H, W, xd, NULL));
    CHECK(memcmp(xh, xd, n * sizeof *xd) == 0);
    /* coding twice gives the same streams */
    cz_buf zs2 = {0}, ys2 = {0};
    uint32_t crc2 = 0;
    CHECK_OK(vae_sample_encode(&c, x, H, W, &zs2, &ys2, &crc2, xd, NULL));
    CHECK(crc2 == crc && zs2.size == zs.size && ys2.size == ys.size && !memcmp(zs2.data, zs.data, zs.size) &&
          !memcmp(ys2.data, ys.data, ys.size));
    /* the deterministic synthesis gives the same streams, and decodes to itself */
    vae_coder cd;
    CHECK_OK(vae_coder_init(&cd, &m, 1));
    zs2.size = ys2.size = 0;
    CHECK_OK(vae_sample_encode(&cd, x, H, W, &zs2, &ys2, &crc2, xd, NULL));
    CHECK(crc2 == crc && ys2.size == ys.size && !memcmp(ys2.data, ys.data, ys.size));
    float *xdet = malloc(n * sizeof *xdet);
    zs2.size = ys2.size = 0;
    CHECK_OK(vae_sample_encode(&cd, x, H, W, &zs2, &ys2, &crc2, xdet, NULL));
    CHECK_OK(vae_sample_decode(&cd, zs.data, zs.size, ys.data, ys.size, crc, H, W, xd, NULL));
    CHECK(memcmp(xdet, xd, n * sizeof *xd) == 0);
    CHECK(nn_deterministic() == 0); /* restored */
    double dmax = 0;
    for (size_t i = 0; i < n; i++) dmax = fmax(dmax, fabs((double)xdet[i] - xh[i]));
    printf("deterministic vs fast synthesis: max difference %.3g (normalised units)\n", dmax);
    CHECK(dmax < 1e-3);
    free(xdet);
    vae_coder_release(&cd);

    /* a wrong index-map hash is a determinism error, never a decode */
    CHECK_STATUS(vae_sample_decode(&c, zs.data, zs.size, ys.data, ys.size, crc ^ 1, H, W, xd, NULL),
                 CLIMZ_ERR_DETERMINISM);
    /* every flipped byte of y (sampled) and z is detected */
    size_t bad_y = 0, tried_y = 0, bad_z = 0;
    for (size_t pos = 0; !big_latent && pos < ys.size; pos += 1 + ys.size / 16, tried_y++) {
        ys.data[pos] ^= 0x10;
        climz_status const s = vae_sample_decode(&c, zs.data, zs.size, ys.data, ys.size, crc, H, W, xd, NULL);
        bad_y += s == CLIMZ_ERR_CORRUPT || s == CLIMZ_ERR_TRUNCATED;
        ys.data[pos] ^= 0x10;
    }
    size_t tried_z = 0;
    for (size_t pos = 0; !big_latent && pos < zs.size; pos += 1 + zs.size / 16, tried_z++) {
        zs.data[pos] ^= 0x01;
        climz_status const s = vae_sample_decode(&c, zs.data, zs.size, ys.data, ys.size, crc, H, W, xd, NULL);
        bad_z += s == CLIMZ_ERR_CORRUPT || s == CLIMZ_ERR_TRUNCATED || s == CLIMZ_ERR_DETERMINISM;
        zs.data[pos] ^= 0x01;
    }
    CHECK_MSG(bad_y == tried_y, "%zu of %zu flipped y bytes detected", bad_y, tried_y);
    CHECK_MSG(bad_z == tried_z, "%zu of %zu flipped z bytes detected", bad_z, tried_z);
    /* truncated streams */
    CHECK(vae_sample_decode(&c, zs.data, zs.size, ys.data, ys.size - 1, crc, H, W, xd, NULL) != CLIMZ_OK);
    CHECK(vae_sample_decode(&c, zs.data, zs.size - 1, ys.data, ys.size, crc, H, W, xd, NULL) != CLIMZ_OK);
    /* still decodes after all that */
    CHECK_OK(vae_sample_decode(&c, zs.data, zs.size, ys.data, ys.size, crc, H, W, xd, NULL));
    CHECK(memcmp(xh, xd, n * sizeof *xd) == 0);

    /* grids smaller than a patch, odd sizes, a single row: exact round trips */
    const size_t sizes[][2] = {{1, 1}, {5, 7}, {1, 200}, {33, 49}};
    unsigned long long rs = 99;
    for (size_t k = 0; !big_latent && k < sizeof sizes / sizeof *sizes; k++) {
        size_t const h = sizes[k][0], w = sizes[k][1];
        float *xs = malloc(h * w * sizeof *xs), *a = malloc(h * w * sizeof *a), *b = malloc(h * w * sizeof *b);
        for (size_t i = 0; i < h * w; i++) xs[i] = (float)tu_rand_normal(&rs);
        cz_buf z1 = {0}, y1 = {0};
        uint32_t c1 = 0;
        CHECK_OK(vae_sample_encode(&c, xs, h, w, &z1, &y1, &c1, a, NULL));
        CHECK_OK(vae_sample_decode(&c, z1.data, z1.size, y1.data, y1.size, c1, h, w, b, NULL));
        CHECK_MSG(memcmp(a, b, h * w * sizeof *a) == 0, "%zu x %zu sample does not decode to itself", h, w);
        cz_buf_free(&z1);
        cz_buf_free(&y1);
        free(xs);
        free(a);
        free(b);
    }

    /* a model without tables is refused with a clear message */
    const char *mp0 = tmp("notables.safetensors");
    make_model(mp0, 1, 7, 20.0f, 0);
    vae_model m0;
    memset(&m0, 0, sizeof m0);
    CHECK_OK(vae_model_load(&m0, mp0, 0, NULL));
    vae_coder c0;
    CHECK_STATUS(vae_coder_init(&c0, &m0, 0), CLIMZ_ERR_UNSUPPORTED);
    CHECK(strstr(cz_error_message(), "finetune") != NULL);
    vae_model_free(&m0);

    cz_buf_free(&zs);
    cz_buf_free(&ys);
    cz_buf_free(&zs2);
    cz_buf_free(&ys2);
    vae_coder_release(&c);
    vae_model_free(&m);
    free(x);
    free(xh);
    free(xd);
    io_field_free(&f);
    io_free(ds);
}

/* Temporal prediction with the job API on two consecutive HGT steps: the intra code gives the
 * very streams of coding without prediction; a predicted step decodes to the encoder's
 * y_hat (same synthesis, bit for bit); the chosen codes cost no more than coding alone. */

/* one job's z (after stage 1) or y (quantised here) as a stream of its own */
static climz_status code_z(vae_job *j, cz_buf *out) { return vae_jobs_encode_z(&j, 1, out); }
static climz_status code_y(vae_job *j, cz_buf *out) {
    climz_status const st = vae_job_quantise_y(j);
    return st ? st : vae_jobs_encode_y(&j, 1, out);
}
/* the job's z or y symbols from the whole stream b, which must end with them */
static climz_status read_stream(vae_job *j, const cz_buf *b, int y) {
    ent_dec d;
    climz_status st = ent_dec_begin(&d, b->data, b->size);
    if (!st) st = y ? vae_job_read_y(j, &d) : vae_job_read_z(j, &d);
    return st ? st : ent_dec_end(&d);
}

/* A decoder's job, reading the z and y streams of a step predicted from prev with code,
 * derives the encoder's index map (crc) and reproduces the encoder job enc's synthesis. */
static void check_predicted_decode(const vae_coder *c, size_t H, size_t W, const vae_job *prev, const uint8_t *code,
                                   const cz_buf *z, const cz_buf *y, uint32_t crc, vae_job *enc) {
    vae_job *d = NULL;
    size_t const n = c->m->cfg.in_channels * H * W;
    float *xa = malloc(n * sizeof *xa), *xb = malloc(n * sizeof *xb);
    uint32_t crc_d = 0;
    CHECK_OK(vae_job_create(&d, c, H, W));
    CHECK_OK(read_stream(d, z, 0));
    CHECK_OK(vae_job_hyper(d, &crc_d));
    CHECK(crc_d == crc);
    CHECK_OK(vae_job_predict(d, prev, code));
    CHECK_OK(read_stream(d, y, 1));
    CHECK_OK(vae_jobs_synthesis(&enc, 1, &xa));
    CHECK_OK(vae_jobs_synthesis(&d, 1, &xb));
    CHECK(memcmp(xa, xb, n * sizeof *xa) == 0);
    vae_job_free(d);
    free(xa);
    free(xb);
}

/* A tiny model loaded with its coder, and the first steps of HGT, each normalised by its own
 * mean and deviation as the codec does (x: nt * H * W). */
typedef struct tiny_hgt {
    vae_model m;
    vae_coder c;
    cz_dataset *ds;
    cz_field f;
    float *x;
    size_t H, W, n, L; /* grid, points of a step, latent channels */
} tiny_hgt;

static void tiny_hgt_open(tiny_hgt *t, const char *name, size_t nt) {
    const char *mp = tmp(name);
    make_model(mp, 1, 7, 200.0f, 1);
    memset(t, 0, sizeof *t);
    CHECK_OK(vae_model_load(&t->m, mp, 0, NULL));
    CHECK_OK(vae_coder_init(&t->c, &t->m, 0));
    CHECK(load_var(tu_data("hgt.nc"), "HGT", &t->ds, &t->f) >= 0);
    t->H = t->f.ny, t->W = t->f.nx, t->n = t->H * t->W, t->L = t->m.cfg.latent;
    size_t const n = t->n;
    const float *v = t->f.values;
    t->x = malloc(nt * n * sizeof *t->x);
    for (size_t s = 0; s < nt; s++) {
        double mu = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) mu += v[s * n + i];
        mu /= (double)n;
        for (size_t i = 0; i < n; i++) s2 += (v[s * n + i] - mu) * (v[s * n + i] - mu);
        for (size_t i = 0; i < n; i++) t->x[s * n + i] = (float)((v[s * n + i] - mu) / sqrt(s2 / (double)n));
    }
}

static void tiny_hgt_close(tiny_hgt *t) {
    free(t->x);
    vae_coder_release(&t->c);
    vae_model_free(&t->m);
    io_field_free(&t->f);
    io_free(t->ds);
}

static void test_predict(void) {
    tiny_hgt t;
    tiny_hgt_open(&t, "tiny_pred.safetensors", 2);
    const vae_coder *const c = &t.c;
    const float *x = t.x;
    size_t const H = t.H, W = t.W, n = t.n, L = t.L;
    float *xa = malloc(n * sizeof *xa), *xb = malloc(n * sizeof *xb);
    uint8_t *intra = malloc(L), *code = malloc(L);
    memset(intra, VAE_PRED_INTRA, L);
    vae_job *j0 = NULL, *j1 = NULL, *d1 = NULL;
    cz_buf z0 = {0}, y0 = {0}, z1 = {0}, y_alone = {0}, y_intra = {0}, y_pred = {0};
    uint32_t crc = 0;
    CHECK_OK(vae_job_create(&j0, c, H, W));
    CHECK_OK(vae_job_analyse(j0, x));
    CHECK_OK(code_z(j0, &z0));
    CHECK_OK(vae_job_hyper(j0, &crc));
    CHECK_OK(code_y(j0, &y0));
    /* step 1: alone, with the intra code, with the chosen codes (fresh jobs: stage 3 consumes y) */
    for (int k = 0; k < 3 && j0; k++) {
        cz_buf *out = k == 0 ? &y_alone : k == 1 ? &y_intra : &y_pred;
        vae_job_free(j1);
        j1 = NULL;
        z1.size = 0;
        CHECK_OK(vae_job_create(&j1, c, H, W));
        CHECK_OK(vae_job_analyse(j1, x + n));
        CHECK_OK(code_z(j1, &z1));
        CHECK_OK(vae_job_hyper(j1, &crc));
        if (k == 2) {
            vae_job *pair[2] = {j0, j1};
            double bits = 0;
            CHECK_OK(vae_predict_choose(c, pair, NULL, 2, 1, 0, code, &bits));
            CHECK(bits > 0 && bits < 8.0 * (double)y_alone.size);
            size_t used = 0;
            for (size_t i = 0; i < L; i++) used += code[i] != VAE_PRED_INTRA;
            printf("prediction codes: %zu of %zu channels predicted\n", used, L);
            for (size_t i = 0; i < L; i++) CHECK(code[i] < VAE_PRED_CODES);
        }
        if (k) CHECK_OK(vae_job_predict(j1, j0, k == 1 ? intra : code));
        CHECK_OK(code_y(j1, out));
    }
    CHECK(y_intra.size == y_alone.size && !memcmp(y_intra.data, y_alone.data, y_alone.size));
    printf("step 1 of HGT, tiny model: y %zu B alone, %zu B predicted from step 0\n", y_alone.size, y_pred.size);
    CHECK(y_pred.size <= y_alone.size + y_alone.size / 50 + 8);
    /* the decoder's side: z, h_s, the same prediction, y -> the encoder's synthesis */
    check_predicted_decode(c, H, W, j0, code, &z1, &y_pred, crc, j1);
    /* no z of its own: step 1 inherits step 0's entropy model; the decoder needs only y */
    vae_job *e1 = NULL, *d2 = NULL;
    cz_buf y_inh = {0};
    CHECK_OK(vae_job_create(&e1, c, H, W));
    z1.size = 0;
    CHECK_OK(vae_job_analyse(e1, x + n));
    CHECK_OK(code_z(e1, &z1));
    CHECK_OK(vae_job_hyper(e1, &crc));
    vae_job *pair[2] = {j0, e1};
    double bits_inh = 0;
    CHECK_OK(vae_predict_choose(c, pair, NULL, 2, 1, 1, code, &bits_inh));
    CHECK_OK(vae_job_inherit(e1, j0));
    CHECK_OK(vae_job_predict(e1, j0, code));
    CHECK_OK(code_y(e1, &y_inh));
    printf("step 1 inheriting step 0's model: y %zu B (estimated %.0f B), z %zu B saved\n", y_inh.size, bits_inh / 8,
           z1.size);
    CHECK(fabs(bits_inh / 8 - (double)y_inh.size) < 0.05 * (double)y_inh.size + 16);
    CHECK_OK(vae_job_create(&d2, c, H, W));
    CHECK_OK(vae_job_inherit(d2, j0));
    CHECK_OK(vae_job_predict(d2, j0, code));
    CHECK_OK(read_stream(d2, &y_inh, 1));
    CHECK_OK(vae_jobs_synthesis(&e1, 1, &xa));
    CHECK_OK(vae_jobs_synthesis(&d2, 1, &xb));
    CHECK(memcmp(xa, xb, n * sizeof *xa) == 0);
    /* both steps' y (and z) in one stream, read in two pieces: the same symbols, and the
     * 16 bytes of rANS states paid once (give or take a 32-bit word) */
    {
        cz_buf yy = {0}, zz = {0};
        vae_job *both[2] = {j0, e1}, *r0 = NULL, *r1 = NULL;
        CHECK_OK(vae_jobs_encode_y(both, 2, &yy));
        CHECK_OK(vae_jobs_encode_z(both, 2, &zz));
        printf("one y stream for two steps: %zu B, two streams: %zu B\n", yy.size, y0.size + y_inh.size);
        CHECK(yy.size + 8 <= y0.size + y_inh.size && yy.size + 24 >= y0.size + y_inh.size);
        CHECK(zz.size + 8 <= z0.size + z1.size);
        CHECK_OK(vae_job_create(&r0, c, H, W));
        CHECK_OK(vae_job_create(&r1, c, H, W));
        ent_dec dy, dz;
        CHECK_OK(ent_dec_begin(&dz, zz.data, zz.size));
        CHECK_OK(vae_job_read_z(r0, &dz));
        CHECK_STATUS(ent_dec_end(&dz), CLIMZ_ERR_CORRUPT); /* half read */
        CHECK_OK(vae_job_read_z(r1, &dz));
        CHECK_OK(ent_dec_end(&dz));
        uint32_t c0 = 0, c1 = 0;
        CHECK_OK(vae_job_hyper(r0, &c0));
        CHECK_OK(vae_job_hyper(r1, &c1));
        CHECK_OK(ent_dec_begin(&dy, yy.data, yy.size));
        CHECK_OK(vae_job_read_y(r0, &dy));
        CHECK_OK(vae_job_inherit(r1, r0));
        CHECK_OK(vae_job_predict(r1, r0, code));
        CHECK_OK(vae_job_read_y(r1, &dy));
        CHECK_OK(ent_dec_end(&dy));
        CHECK_OK(vae_jobs_synthesis(&r1, 1, &xb));
        CHECK(memcmp(xa, xb, n * sizeof *xa) == 0);
        CHECK_OK(ent_dec_begin(&dy, yy.data, yy.size - 4)); /* a cut stream */
        CHECK_OK(vae_job_read_y(r0, &dy));
        CHECK(vae_job_read_y(r1, &dy) != CLIMZ_OK || ent_dec_end(&dy) != CLIMZ_OK);
        vae_job_free(r0);
        vae_job_free(r1);
        cz_buf_free(&yy);
        cz_buf_free(&zz);
    }
    /* encoder-side refinement of step 1's latent (predicted from step 0) lowers its
     * rate-distortion loss; the decoder reads the refined symbols like any other */
    {
        vae_job *e2 = NULL;
        cz_buf z2 = {0}, y2 = {0};
        double gain = -1;
        CHECK_OK(vae_job_create(&e2, c, H, W));
        CHECK_OK(vae_job_analyse(e2, x + n));
        CHECK_OK(code_z(e2, &z2));
        CHECK_OK(vae_job_hyper(e2, &crc));
        CHECK_OK(vae_job_predict(e2, j0, code));
        CHECK_OK(vae_job_refine(e2, x + n, NULL, 10, 0.01, &gain));
        printf("refinement, 10 steps: loss %.2f %% lower\n", 100 * gain);
        CHECK(gain > 0 && gain < 1);
        CHECK_OK(code_y(e2, &y2));
        check_predicted_decode(c, H, W, j0, code, &z2, &y2, crc, e2);
        vae_job_free(e2);
        cz_buf_free(&z2);
        cz_buf_free(&y2);
    }
    vae_job_free(e1);
    vae_job_free(d2);
    cz_buf_free(&y_inh);
    /* a code out of range is refused */
    code[0] = VAE_PRED_CODES;
    CHECK_OK(vae_job_create(&d1, c, H, W));
    CHECK_STATUS(vae_job_predict(d1, j0, code), CLIMZ_ERR_CORRUPT);
    vae_job_free(j0);
    vae_job_free(j1);
    vae_job_free(d1);
    cz_buf_free(&z0);
    cz_buf_free(&y0);
    cz_buf_free(&z1);
    cz_buf_free(&y_alone);
    cz_buf_free(&y_intra);
    cz_buf_free(&y_pred);
    free(intra);
    free(code);
    free(xa);
    free(xb);
    tiny_hgt_close(&t);
}

/* The checkerboard context (vae_codec.h): the encoder's choice saves bits, its codes are in
 * range, a decoder with the same context reproduces the encoder's synthesis bit for bit (the
 * chosen codes, and extreme ones), and codes out of range are refused. */
static void test_spatial(void) {
    tiny_hgt t;
    tiny_hgt_open(&t, "tiny_spatial.safetensors", 1);
    const vae_coder *const c = &t.c;
    const float *x = t.x;
    size_t const H = t.H, W = t.W, n = t.n, L = t.L;
    float *xa = malloc(n * sizeof *xa), *xb = malloc(n * sizeof *xb);
    uint8_t *w = malloc(L), *wmax = malloc(L);
    memset(wmax, VAE_SPATIAL_WMAX, L);
    vae_spatial chosen = {.w = w}, extreme = {.k = {VAE_SPATIAL_KMAX, 0, 7}, .w = wmax};
    vae_job *e = NULL;
    cz_buf z = {0}, y_plain = {0};
    uint32_t crc = 0;
    double saved = -1;
    CHECK_OK(vae_job_create(&e, c, H, W));
    CHECK_OK(vae_job_analyse(e, x));
    CHECK_OK(code_z(e, &z));
    CHECK_OK(vae_job_hyper(e, &crc));
    CHECK_OK(code_y(e, &y_plain));
    CHECK_OK(vae_spatial_choose(c, &e, 1, w, chosen.k, &saved));
    size_t used = 0;
    for (size_t i = 0; i < L; i++) {
        used += w[i] != 0;
        CHECK(w[i] <= VAE_SPATIAL_WMAX);
    }
    for (int b = 0; b < 3; b++) CHECK(chosen.k[b] <= VAE_SPATIAL_KMAX);
    const vae_spatial *ctx[2] = {&chosen, &extreme};
    for (int k = 0; k < 2; k++) {
        cz_buf y = {0};
        vae_job *d = NULL;
        vae_job_restore_y(e);
        CHECK_OK(vae_job_set_spatial(e, ctx[k]));
        CHECK_OK(code_y(e, &y));
        if (!k) {
            printf("spatial context: %zu of %zu channels weighted, k %u %u %u; y %zu B -> %zu B (estimated %.0f B "
                   "saved)\n", used, L, chosen.k[0], chosen.k[1], chosen.k[2], y_plain.size, y.size, saved / 8);
            CHECK(saved > 0 && y.size < y_plain.size);
            CHECK(fabs((double)y_plain.size - (double)y.size - saved / 8) < 0.02 * (double)y_plain.size + 16);
        }
        CHECK_OK(vae_jobs_synthesis(&e, 1, &xa));
        CHECK_OK(vae_job_create(&d, c, H, W));
        CHECK_OK(read_stream(d, &z, 0));
        uint32_t dcrc = 0;
        CHECK_OK(vae_job_hyper(d, &dcrc));
        CHECK(dcrc == crc);
        CHECK_OK(vae_job_set_spatial(d, ctx[k]));
        CHECK_OK(read_stream(d, &y, 1));
        CHECK_OK(vae_jobs_synthesis(&d, 1, &xb));
        CHECK_MSG(!memcmp(xa, xb, n * sizeof *xa), "spatial context %d: decode differs from the encoder's", k);
        vae_job_free(d);
        cz_buf_free(&y);
    }
    vae_spatial bad = {.k = {3, 3, VAE_SPATIAL_KMAX + 1}, .w = w};
    CHECK_STATUS(vae_job_set_spatial(e, &bad), CLIMZ_ERR_CORRUPT);
    w[L - 1] = VAE_SPATIAL_WMAX + 1;
    bad.k[2] = 3;
    CHECK_STATUS(vae_job_set_spatial(e, &bad), CLIMZ_ERR_CORRUPT);
    vae_job_free(e);
    cz_buf_free(&z);
    cz_buf_free(&y_plain);
    free(xa);
    free(xb);
    free(w);
    free(wmax);
    tiny_hgt_close(&t);
}

/* ---- the file-level codec ------------------------------------------------------------------ */

/* The encoder's own reconstruction of var (what its `decoded` output says), coded with
 * opts and bound E, through the codec table entry directly. */
static float *encoder_output(const char *in, const char *var, const climz_compress_opts *opts, double E) {
    cz_dataset *ds = NULL;
    cz_field f;
    int const vi = load_var(in, var, &ds, &f);
    CHECK(vi >= 0);
    if (vi < 0) return NULL;
    size_t const n = f.nt * f.nz * f.ny * f.nx;
    float *dec = malloc(n * sizeof *dec);
    clz_writer *w = NULL;
    CHECK_OK(clz_writer_create(&w));
    climz_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    api_encode_args const a = {&ctx, opts, ds, vi, &f, E, NULL};
    json_t *entry = json_object();
    CHECK_OK(api_codec_vaeformer.encode(&a, w, dec, entry));
    CHECK(json_string_value(json_object_get(entry, "model_sha256")) != NULL);
    json_decref(entry);
    clz_writer_free(w);
    io_field_free(&f);
    io_free(ds);
    return dec;
}

/* Reads var of a NetCDF file back as float. */
static float *read_back(const char *path, const char *var, cz_field *f) {
    cz_dataset *ds = NULL;
    int const vi = load_var(path, var, &ds, f);
    CHECK(vi >= 0);
    io_free(ds);
    return vi >= 0 ? f->values : NULL;
}

static int same_valid(const float *a, const float *b, const uint8_t *miss, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!miss[i] && memcmp(&a[i], &b[i], sizeof *a)) return 0;
    return 1;
}

static long file_size(const char *p) {
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long const n = ftell(f);
    fclose(f);
    return n;
}

/* var of in coded with opts (no bound) into clz and decoded into out: the decoded values (f:
 * their field), checked to be the encoder's reconstruction bit for bit ("what" names the case) */
static float *code_exact(climz_ctx *ctx, const char *in, const char *var, const climz_compress_opts *opts,
                         const char *clz, const char *out, cz_field *f, const char *what) {
    CHECK_OK(climz_compress_file(ctx, in, clz, opts));
    CHECK_OK(climz_decompress_file(ctx, clz, out, NULL));
    float *enc = encoder_output(in, var, opts, 0), *dec = read_back(out, var, f);
    if (enc && dec)
        CHECK_MSG(same_valid(enc, dec, f->miss, f->nt * f->nz * f->ny * f->nx),
                  "%s: decoded != encoder's reconstruction", what);
    free(enc);
    return dec;
}

static void test_file(void) {
    if (!api_codec_find("vaeformer")) {
        CHECK_MSG(0, "codec 'vaeformer' is not registered in src/api/codecs.c");
        return;
    }
    const char *mA = tmp("A.safetensors"), *mB = tmp("B.safetensors"), *mR = tmp("R.safetensors");
    make_model(mA, 1, 11, 10.0f, 1);
    make_model(mB, 1, 12, 10.0f, 1);
    { /* A with the phase-2 record that refinement reads its lambda from */
        vae_model m;
        memset(&m, 0, sizeof m);
        CHECK_OK(vae_model_load(&m, mA, 0, NULL));
        CHECK_OK(vae_model_set_meta(&m, "vae.finetune", "{\"lambda\": 0.01}"));
        CHECK_OK(vae_model_save(&m, mR, NULL));
        vae_model_free(&m);
    }
    const char *in = tu_data("hgt.nc");
    climz_ctx *ctx = climz_ctx_create();
    /* groups of 16 steps: HGT's 21 make two chunks (steps 0..15 and 16..20), which the checks
     * of damaged chunks below take apart */
    const char *g16[] = {"group=16", NULL};
    climz_compress_opts co = {.codec = "vaeformer", .model = mA, .options = g16};
    { /* refinement needs the model's lambda */
        const char *ropt[] = {"refine=3", NULL};
        climz_compress_opts cr = {.codec = "vaeformer", .model = mA, .options = ropt};
        CHECK_STATUS(climz_compress_file(ctx, in, tmp("refine.clz"), &cr), CLIMZ_ERR_UNSUPPORTED);
        CHECK(strstr(climz_ctx_last_error(ctx), "lambda") != NULL);
    }

    /* pure neural: decompress == encoder's reconstruction, bit for bit; 1 and 2 threads */
    const char *clz = tmp("hgt.clz"), *clz2 = tmp("hgt2.clz");
    CHECK_OK(climz_compress_file(ctx, in, clz, &co));
    CHECK_OK(climz_compress_file(ctx, in, clz2, &co));
    {
        uint8_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        CHECK_OK(cz_read_file(clz, &a, &na));
        CHECK_OK(cz_read_file(clz2, &b, &nb));
        CHECK_MSG(na == nb && memcmp(a, b, na) == 0, "compressing twice gives different files");
        free(a);
        free(b);
    }
    float *enc = encoder_output(in, "HGT", &co, 0);
    climz_decompress_opts dopt = {0};
    dopt.model = mA;
    const char *o1 = tmp("hgt_t1.nc"), *o2 = tmp("hgt_t2.nc");
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 1));
    CHECK_OK(climz_decompress_file(ctx, clz, o1, NULL)); /* finds model A by its recorded path */
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 2));
    CHECK_OK(climz_decompress_file(ctx, clz, o2, &dopt));
    cz_field f1, f2, fo;
    float *d1 = read_back(o1, "HGT", &f1), *d2 = read_back(o2, "HGT", &f2), *orig = read_back(in, "HGT", &fo);
    size_t const n = fo.nt * fo.nz * fo.ny * fo.nx;
    if (enc && d1 && d2 && orig) {
        CHECK_MSG(same_valid(enc, d1, fo.miss, n), "decoded file differs from the encoder's reconstruction");
        CHECK_MSG(same_valid(d1, d2, fo.miss, n), "decoding with 1 and 2 threads differs");
        met_field_view const v = {orig, d1, fo.miss, fo.lat, fo.nt * fo.nz, fo.ny, fo.nx};
        met_stats s;
        CHECK_OK(met_compare(&v, &s));
        printf("tiny untrained model on HGT: ratio %.1f, rmse %.3g (range %.4g)\n",
               4.0 * (double)n / (double)file_size(clz), s.rmse, s.range);
        CHECK(s.n_nonfinite == 0 && isfinite(s.rmse));
    }
    /* time slice decodes the same values */
    climz_decompress_opts ds = {.time_first = 5, .time_count = 3};
    const char *o3 = tmp("hgt_slice.nc");
    CHECK_OK(climz_decompress_file(ctx, clz, o3, &ds));
    cz_field f3;
    float *d3 = read_back(o3, "HGT", &f3);
    size_t const plane = fo.ny * fo.nx;
    if (d3 && d1) CHECK(f3.nt == 3 && memcmp(d3, d1 + 5 * plane, 3 * plane * sizeof *d3) == 0);
    io_field_free(&f3);
    free(enc);

    /* prediction groups of 4 steps: every start inside a group decodes the same values as the
     * whole file (the steps before it in its group are entropy-decoded, not synthesised); no
     * groups (group=1) is exact too */
    for (int g = 0; g < 3; g++) {
        const char *gopt[] = {g == 1 ? "group=1" : "group=4", g == 2 ? "refine=3" : NULL, NULL};
        climz_compress_opts cg = {.codec = "vaeformer", .model = g == 2 ? mR : mA, .options = gopt};
        const char *clzg = tmp("hgt_group.clz"), *og = tmp("hgt_group.nc");
        CHECK_OK(climz_compress_file(ctx, in, clzg, &cg));
        CHECK_OK(climz_decompress_file(ctx, clzg, og, NULL));
        float *encg = encoder_output(in, "HGT", &cg, 0);
        cz_field fg;
        float *dg = read_back(og, "HGT", &fg);
        if (encg && dg) CHECK_MSG(same_valid(encg, dg, fo.miss, n), "%s: decoded != encoder's reconstruction", gopt[0]);
        for (size_t t = 3; t < 8 && dg; t++) {
            climz_decompress_opts one = {.time_first = t, .time_count = 2};
            cz_field fs;
            CHECK_OK(climz_decompress_file(ctx, clzg, og, &one));
            float *ds1 = read_back(og, "HGT", &fs);
            CHECK_MSG(ds1 && fs.nt == 2 && memcmp(ds1, encg + t * plane, 2 * plane * sizeof *ds1) == 0,
                      "%s: steps %zu..%zu decoded alone differ", gopt[0], t, t + 1);
            io_field_free(&fs);
        }
        free(encg);
        io_field_free(&fg);
    }
    const char *bad_group[] = {"group=0", NULL};
    climz_compress_opts cbg = {.codec = "vaeformer", .model = mA, .options = bad_group};
    CHECK_STATUS(climz_compress_file(ctx, in, tmp("x.clz"), &cbg), CLIMZ_ERR_INVALID_ARG);

    /* the wrong model is refused, naming both hashes */
    dopt.model = mB;
    CHECK_STATUS(climz_decompress_file(ctx, clz, tmp("wrong.nc"), &dopt), CLIMZ_ERR_MODEL_MISMATCH);
    CHECK(strstr(climz_ctx_last_error(ctx), "sha256") != NULL);
    printf("wrong model: %s\n", climz_ctx_last_error(ctx));
    /* a model that is not there */
    dopt.model = tmp("absent.safetensors");
    CHECK_STATUS(climz_decompress_file(ctx, clz, tmp("wrong.nc"), &dopt), CLIMZ_ERR_NOT_FOUND);

    /* the model is identified by content: a moved model is found through the option, a
     * vanished one is reported */
    {
        uint8_t *mdata = NULL;
        size_t msize = 0;
        CHECK_OK(cz_read_file(mA, &mdata, &msize));
        const char *moved = tmp("moved.safetensors");
        FILE *fp = fopen(moved, "wb");
        if (fp && mdata) fwrite(mdata, 1, msize, fp);
        if (fp) fclose(fp);
        free(mdata);
        climz_compress_opts cm = {.codec = "vaeformer", .model = moved};
        const char *clzm = tmp("moved.clz");
        CHECK_OK(climz_compress_file(ctx, in, clzm, &cm));
        remove(moved);
        CHECK_STATUS(climz_decompress_file(ctx, clzm, tmp("moved.nc"), NULL), CLIMZ_ERR_NOT_FOUND);
        CHECK(strstr(climz_ctx_last_error(ctx), "moved.safetensors") != NULL);
        dopt.model = mA; /* same bytes, other path */
        CHECK_OK(climz_decompress_file(ctx, clzm, tmp("moved.nc"), &dopt));
    }

    /* a flipped byte in the z stream of one group's latent chunk (steps 0..15) or in the y
     * stream (which ends the chunk) of the next (16..20): named checksum error */
    {
        clz_reader *r = NULL;
        CHECK_OK(clz_reader_open(clz, &r));
        int vi = -1; /* the variable number may not be 0 */
        for (size_t i = 0; r && i < clz_reader_nchunks(r); i++)
            if (clz_reader_chunk(r, i)->stream == CLZ_STREAM_LATENT) vi = (int)clz_reader_chunk(r, i)->var;
        size_t const i3 = vi >= 0 ? clz_reader_find(r, (uint32_t)vi, 0, CLZ_STREAM_LATENT) : SIZE_MAX;
        size_t const i4 = vi >= 0 ? clz_reader_find(r, (uint32_t)vi, 16, CLZ_STREAM_LATENT) : SIZE_MAX;
        uint64_t offy = 0, offz = 0;
        CHECK(i3 != SIZE_MAX && i4 != SIZE_MAX);
        if (i3 != SIZE_MAX && i4 != SIZE_MAX) {
            /* header and codes, 16 x (kind, mean, std), CRC, z length: the z stream from ~175 */
            CHECK(clz_reader_chunk(r, i3)->size > 200);
            offz = clz_reader_chunk(r, i3)->offset + 180;
            offy = clz_reader_chunk(r, i4)->offset + clz_reader_chunk(r, i4)->size - 1;
        }
        clz_reader_free(r);
        uint8_t *data = NULL;
        size_t size = 0;
        CHECK_OK(cz_read_file(clz, &data, &size));
        const uint64_t offs[2] = {offy, offz};
        const char *names[2] = {"time 16, stream latent", "time 0, stream latent"};
        for (int k = 0; k < 2 && data && offs[k]; k++) {
            data[offs[k]] ^= 0x04;
            FILE *fp = fopen(tmp("bad.clz"), "wb");
            fwrite(data, 1, size, fp);
            fclose(fp);
            data[offs[k]] ^= 0x04;
            CHECK_STATUS(climz_decompress_file(ctx, tmp("bad.clz"), tmp("bad.nc"), NULL), CLIMZ_ERR_CHECKSUM);
            CHECK_MSG(strstr(climz_ctx_last_error(ctx), names[k]) != NULL, "message '%s' does not name %s",
                      climz_ctx_last_error(ctx), names[k]);
        }
        free(data);
    }

    /* with an error bound: every point within E; decompress == encoder output (the VAEformer
     * and its residual stage kept, fallback=0, even where the residual codec alone is smaller) */
    double const E = 2.0; /* metres of geopotential height */
    const char *g16k[] = {"group=16", "fallback=0", NULL};
    climz_compress_opts cob = co;
    cob.options = g16k;
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, E));
    const char *clzb = tmp("hgt_bound.clz"), *ob = tmp("hgt_bound.nc");
    CHECK_OK(climz_compress_file(ctx, in, clzb, &cob));
    CHECK_OK(climz_decompress_file(ctx, clzb, ob, NULL));
    float *encb = encoder_output(in, "HGT", &cob, E);
    cz_field fb;
    float *db = read_back(ob, "HGT", &fb);
    if (db && orig && encb) {
        met_field_view const v = {orig, db, fo.miss, fo.lat, fo.nt * fo.nz, fo.ny, fo.nx};
        size_t viol = 1;
        CHECK_OK(met_bound_violations(&v, E, &viol, NULL));
        CHECK_MSG(viol == 0, "%zu points break the bound %g", viol, E);
        CHECK(same_valid(encb, db, fo.miss, n));
        printf("bounded E=%g: ratio %.2f\n", E, 4.0 * (double)n / (double)file_size(clzb));
    }
    free(encb);
    io_field_free(&fb);
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, 0));

    /* tiles: a different layout, still exact */
    const char *opts_tile[] = {"tile=40", NULL};
    climz_compress_opts cot = {.codec = "vaeformer", .model = mA, .options = opts_tile};
    cz_field ft;
    code_exact(ctx, in, "HGT", &cot, tmp("hgt_tile.clz"), tmp("hgt_tile.nc"), &ft, "tile=40");
    io_field_free(&ft);
    const char *bad_opts[] = {"tile=x", NULL};
    cot.options = bad_opts;
    CHECK_STATUS(climz_compress_file(ctx, in, tmp("x.clz"), &cot), CLIMZ_ERR_INVALID_ARG);

    /* a multi-channel model needs one channel per level */
    const char *m2 = tmp("C2.safetensors");
    make_model(m2, 2, 3, 1.0f, 1);
    climz_compress_opts co2 = {.codec = "vaeformer", .model = m2};
    CHECK_STATUS(climz_compress_file(ctx, in, tmp("c2.clz"), &co2), CLIMZ_ERR_DIMENSION);

    io_field_free(&f1);
    io_field_free(&f2);
    io_field_free(&fo);
    climz_ctx_free(ctx);
}

/* Rewrites the .clz at src into dst with chunk (t, stream) edited at pos: byte ^= val, cut
 * there, val appended, byte = val, or val inserted (the container's CRCs are recomputed, so
 * only the codec's own checks can catch it). */
enum { EDIT_FLIP, EDIT_CUT, EDIT_TRAIL, EDIT_SET, EDIT_INSERT };

static int rewrite_clz(const char *src, const char *dst, uint32_t t, uint16_t stream, int mode, size_t pos,
                       uint8_t val) {
    clz_reader *r = NULL;
    clz_writer *w = NULL;
    if (clz_reader_open(src, &r) || clz_writer_create(&w)) return 0;
    int ok = 1;
    for (size_t i = 0; i < clz_reader_nchunks(r) && ok; i++) {
        const clz_chunk *c = clz_reader_chunk(r, i);
        const uint8_t *p;
        size_t n;
        if (clz_reader_get_at(r, i, &p, &n)) ok = 0;
        uint8_t *q = malloc(n + 1);
        memcpy(q, p, n);
        size_t m = n;
        if (c->t == t && c->stream == stream) {
            if (mode == EDIT_FLIP && pos < n) q[pos] ^= val;
            if (mode == EDIT_CUT) m = pos < n ? pos : n;
            if (mode == EDIT_TRAIL) q[m++] = val;
            if (mode == EDIT_SET && pos < n) q[pos] = val;
            if (mode == EDIT_INSERT && pos <= n) {
                memmove(q + pos + 1, q + pos, n - pos);
                q[pos] = val;
                m = n + 1;
            }
        }
        if (ok && clz_writer_add(w, c->var, c->t, c->stream, q, m)) ok = 0;
        free(q);
    }
    if (ok && clz_writer_finish(w, clz_reader_header(r), dst)) ok = 0;
    clz_writer_free(w);
    clz_reader_free(r);
    return ok;
}

/* Where the parts of a latent chunk p[0..n) (version 6) lie, for a model with per-sample
 * statistics and a group that codes a z (so the CRC is there). 1 when it adds up. */
typedef struct chunk_map {
    size_t recs; /* the per-sample records (kind, mean, std) */
    size_t crc;  /* the CRC of the scale-index maps */
    size_t z, zn, y, yn; /* the z and y streams (after their lengths) */
} chunk_map;

static int map_chunk(const uint8_t *p, size_t n, chunk_map *m) {
    if (n < 2) return 0;
    cz_rd r = cz_rd_make(p + 2, n - 2);
    uint64_t steps, ns, C, cnt, zl, yl;
    if (cz_rd_varint(&r, &steps) || cz_rd_varint(&r, &ns) || cz_rd_varint(&r, &C)) return 0;
    for (unsigned bit = 4; bit <= 16; bit += 12) /* time and level codes: a count, count bytes */
        if ((p[1] & bit) && (cz_rd_varint(&r, &cnt) || cz_rd_skip(&r, (size_t)cnt, NULL))) return 0;
    /* spatial context codes: a count, the k triple in 2 bytes, count weight nibbles */
    if ((p[1] & 64) && (cz_rd_varint(&r, &cnt) || cz_rd_skip(&r, 2 + (size_t)(cnt + 1) / 2, NULL))) return 0;
    m->recs = (size_t)(r.p - p);
    for (uint64_t k = 0; k < steps * ns; k++) { /* kind; f32 statistics, binary16 changes (kind bit 1), none (4) */
        uint8_t kind;
        if (cz_rd_u8(&r, &kind) || cz_rd_skip(&r, (size_t)((kind & 4 ? 0 : kind & 2 ? 4 : 8) * C), NULL)) return 0;
    }
    m->crc = (size_t)(r.p - p);
    if (cz_rd_skip(&r, 4, NULL) || cz_rd_varint(&r, &zl)) return 0;
    m->z = (size_t)(r.p - p);
    m->zn = (size_t)zl;
    if (cz_rd_skip(&r, m->zn, NULL) || cz_rd_varint(&r, &yl)) return 0;
    m->y = (size_t)(r.p - p);
    m->yn = (size_t)yl;
    return m->y + m->yn == n;
}

/* The latent chunk at key t (of the file's only variable) of clz into buf (at most cap
 * bytes); its size, 0 when absent. */
static size_t latent_chunk(const char *clz, uint32_t t, uint8_t *buf, size_t cap) {
    clz_reader *r = NULL;
    const uint8_t *p = NULL;
    size_t n = 0;
    if (clz_reader_open(clz, &r)) return 0;
    for (size_t i = 0; i < clz_reader_nchunks(r); i++) {
        const clz_chunk *c = clz_reader_chunk(r, i);
        if (c->t == t && c->stream == CLZ_STREAM_LATENT && !clz_reader_get_at(r, i, &p, &n)) break;
    }
    if (buf) memcpy(buf, p, n < cap ? n : cap);
    clz_reader_free(r);
    return n;
}

/* damaged latent chunks with valid container checksums: an error, never a crash or an
 * over-read (run under ASan); only the normalisation floats are not protected here */
static void test_damaged_chunks(void) {
    if (!api_codec_find("vaeformer")) return;
    /* without prediction groups every step is a chunk of its own and carries its z (and
     * without the spatial context codes, at fixed places) */
    const char *clz = tmp("hgt_g1.clz"), *bad = tmp("damaged.clz"), *out = tmp("damaged.nc");
    const char *g1[] = {"group=1", "spatial=0", NULL};
    climz_compress_opts co = {.codec = "vaeformer", .model = tmp("A.safetensors"), .options = g1};
    climz_ctx *ctx = climz_ctx_create();
    CHECK_OK(climz_compress_file(ctx, tu_data("hgt.nc"), clz, &co));
    climz_decompress_opts d = {.time_first = 2, .time_count = 1};
    CHECK_OK(climz_decompress_file(ctx, clz, out, &d)); /* the intact file decodes */
    /* latent stream version 5 (before the spatial context) is read too: the same chunk marked 5 */
    CHECK(rewrite_clz(clz, bad, 2, CLZ_STREAM_LATENT, EDIT_SET, 0, 5));
    CHECK_OK(climz_decompress_file(ctx, bad, out, &d));
    size_t fails = 0, tries = 0;
    /* latent chunk of a one-step group of one sample: version (0), flags (1), nsteps (2),
     * nsamples (3), C (4), kind (5), mean and std (6..13, the only bytes not checked here),
     * index-map CRC (14..17), z length (varint from 18), z stream, y length (varint), y
     * stream to the end */
    uint8_t buf[4096];
    size_t const size = latent_chunk(clz, 2, buf, sizeof buf);
    chunk_map m = {0};
    CHECK(size > 40 && size <= sizeof buf && map_chunk(buf, size, &m) && m.recs == 5 && m.crc == 14 && m.z == 20);
    size_t const ylen_at = m.z + m.zn;
    const size_t zpos[] = {0, 1, 2, 3, 4, 5, 14, 15, 17, 18, 19, 20, 21, ylen_at - 1};
    for (size_t k = 0; k < sizeof zpos / sizeof *zpos; k++, tries++) {
        CHECK(rewrite_clz(clz, bad, 2, CLZ_STREAM_LATENT, EDIT_FLIP, zpos[k], 0x5a));
        climz_status const s = climz_decompress_file(ctx, bad, out, &d);
        fails += s != CLIMZ_OK;
        if (s == CLIMZ_OK) printf("latent byte %zu flipped: decoded without error\n", zpos[k]);
    }
    CHECK_MSG(fails == tries, "%zu of %zu damaged z parts refused", fails, tries);
    const size_t ypos[] = {ylen_at, ylen_at + 2, ylen_at + 3, (ylen_at + size) / 2, size - 1};
    fails = tries = 0;
    for (size_t k = 0; k < sizeof ypos / sizeof *ypos; k++, tries++) {
        CHECK(rewrite_clz(clz, bad, 2, CLZ_STREAM_LATENT, EDIT_FLIP, ypos[k], 0x5a));
        climz_status const s = climz_decompress_file(ctx, bad, out, &d);
        fails += s != CLIMZ_OK;
        if (s == CLIMZ_OK) printf("latent byte %zu (y part) flipped: decoded without error\n", ypos[k]);
    }
    CHECK_MSG(fails == tries, "%zu of %zu damaged y parts refused", fails, tries);
    /* truncations and a trailing byte */
    const size_t cut[] = {0, 1, 2, 4, 12, 16, 19, ylen_at, ylen_at + 1, size - 1};
    for (size_t k = 0; k < sizeof cut / sizeof *cut; k++) {
        CHECK(rewrite_clz(clz, bad, 2, CLZ_STREAM_LATENT, EDIT_CUT, cut[k], 0));
        CHECK_MSG(climz_decompress_file(ctx, bad, out, &d) != CLIMZ_OK, "latent chunk cut at %zu decoded", cut[k]);
    }
    CHECK(rewrite_clz(clz, bad, 2, CLZ_STREAM_LATENT, EDIT_TRAIL, 0, 0));
    CHECK_STATUS(climz_decompress_file(ctx, bad, out, &d), CLIMZ_ERR_CORRUPT);
    /* the scale-index hash (bytes 14..17): a determinism error */
    CHECK(rewrite_clz(clz, bad, 2, CLZ_STREAM_LATENT, EDIT_FLIP, 15, 0x5a));
    CHECK_STATUS(climz_decompress_file(ctx, bad, out, &d), CLIMZ_ERR_DETERMINISM);
    printf("determinism: %s\n", climz_ctx_last_error(ctx));
    /* groups of 16 steps (the file made above): the chunk of steps 0..15 has flags stats (1), time codes
     * (4), no z for the predicted samples (8) and the spatial context (64), then nsteps 16,
     * nsamples, C, a count (L = 8, byte 5) and L codes (bytes 6..13), then the spatial codes:
     * a count (14), the k triple (15, 16) and L weight nibbles (17..20). Unknown flags, a
     * wrong count, a code out of range: refused. Every flipped byte of its y stream and every
     * cut is refused too, decoding step 2 alone (which entropy-decodes the whole group). */
    clz = tmp("hgt.clz");
    {
        size_t const n0 = latent_chunk(clz, 0, buf, sizeof buf);
        CHECK(latent_chunk(clz, 2, NULL, 0) == 0); /* no chunk of its own */
        CHECK_MSG(n0 > 21 && n0 <= sizeof buf && buf[0] == 6 && buf[1] == 77 && buf[2] == 16 && buf[5] == 8 &&
                      map_chunk(buf, n0, &m),
                  "group chunk: version %u, flags %u, %u steps, %u codes", buf[0], buf[1], buf[2], buf[5]);
        /* the statistics: f32 in the first step (kind 1), binary16 changes from the step before
         * in the next (kind 3); a change in the first step, an unknown kind bit, an infinite
         * change: refused */
        CHECK_MSG(buf[m.recs] == 1 && buf[m.recs + 9] == 3, "kinds %u, %u", buf[m.recs], buf[m.recs + 9]);
        const size_t kpos[3][2] = {{m.recs, 3}, {m.recs + 9, 7}, {m.recs + 11, 0x7c}};
        for (int k = 0; k < 3; k++) {
            CHECK(rewrite_clz(clz, bad, 0, CLZ_STREAM_LATENT, EDIT_SET, kpos[k][0], (uint8_t)kpos[k][1]));
            CHECK_STATUS(climz_decompress_file(ctx, bad, out, &d), CLIMZ_ERR_CORRUPT);
            printf("statistics byte %zu set to %zu: %s\n", kpos[k][0], kpos[k][1], climz_ctx_last_error(ctx));
        }
        CHECK(rewrite_clz(clz, bad, 0, CLZ_STREAM_LATENT, EDIT_FLIP, 1, 0x5a)); /* flags 77 -> 0x17: level codes */
        CHECK_STATUS(climz_decompress_file(ctx, bad, out, &d), CLIMZ_ERR_CORRUPT);
        CHECK(rewrite_clz(clz, bad, 0, CLZ_STREAM_LATENT, EDIT_SET, 1, 77 | 128)); /* an unknown bit */
        CHECK_STATUS(climz_decompress_file(ctx, bad, out, &d), CLIMZ_ERR_CORRUPT);
        /* flags, nsteps, count, codes 0 and 4, spatial count, k2, weights of channels 0/1 and 6/7 */
        const size_t pos[] = {1, 2, 5, 6, 10, 14, 16, 17, 20};
        for (size_t k = 0; k < sizeof pos / sizeof *pos; k++) {
            CHECK(rewrite_clz(clz, bad, 0, CLZ_STREAM_LATENT, EDIT_SET, pos[k], 0xff));
            CHECK_STATUS(climz_decompress_file(ctx, bad, out, &d), CLIMZ_ERR_CORRUPT);
            printf("group chunk byte %zu damaged: %s\n", pos[k], climz_ctx_last_error(ctx));
        }
        size_t refused = 0, tried = 0;
        for (size_t p = m.y; p < n0 && m.yn; p += 1 + m.yn / 12, tried++) {
            CHECK(rewrite_clz(clz, bad, 0, CLZ_STREAM_LATENT, EDIT_FLIP, p, 0x5a));
            refused += climz_decompress_file(ctx, bad, out, &d) != CLIMZ_OK;
        }
        for (size_t cut = m.recs; cut < n0; cut += 1 + (n0 - m.recs) / 5, tried++) {
            CHECK(rewrite_clz(clz, bad, 0, CLZ_STREAM_LATENT, EDIT_CUT, cut, 0));
            refused += climz_decompress_file(ctx, bad, out, &d) != CLIMZ_OK;
        }
        CHECK_MSG(refused == tried && tried > 8, "%zu of %zu damaged y streams and cuts of a group refused", refused,
                  tried);
    }
    climz_ctx_free(ctx);
}

/* Random damage to the latent chunks at keys t[0] and t[1] of clz with valid container
 * checksums: n mutations (a flipped bit, a random byte, a cut, an inserted byte), each
 * decoded (time range d): an error or a decode, never a crash or an over-read (run under
 * ASan/UBSan); the intact file still decodes afterwards. Returns how many were refused. */
static size_t random_damage(const char *clz, const uint32_t t[2], climz_decompress_opts d, int n, unsigned long long rs) {
    const char *bad = tmp("random.clz"), *out = tmp("random.nc");
    climz_ctx *ctx = climz_ctx_create();
    size_t const size[2] = {latent_chunk(clz, t[0], NULL, 0), latent_chunk(clz, t[1], NULL, 0)};
    CHECK(size[0] > 0 && size[1] > 0);
    size_t refused = 0, decoded = 0;
    for (int k = 0; k < n && size[0] && size[1]; k++) {
        size_t const pos = (size_t)(tu_rand_u64(&rs) % size[k % 2]);
        int const mode = (int)(tu_rand_u64(&rs) % 4);
        int const edit = mode == 0 ? EDIT_FLIP : mode == 1 ? EDIT_SET : mode == 2 ? EDIT_CUT : EDIT_INSERT;
        uint8_t const val = mode == 0 ? (uint8_t)(1u << (tu_rand_u64(&rs) % 8)) : (uint8_t)tu_rand_u64(&rs);
        CHECK(rewrite_clz(clz, bad, t[k % 2], CLZ_STREAM_LATENT, edit, pos, val));
        if (climz_decompress_file(ctx, bad, out, &d) == CLIMZ_OK) decoded++;
        else refused++;
    }
    printf("random damage to the latent chunks at steps %u and %u of %s: %zu refused, %zu decoded (undetected: "
           "stats, codes, y values)\n", t[0], t[1], clz, refused, decoded);
    CHECK_OK(climz_decompress_file(ctx, clz, out, &d));
    climz_ctx_free(ctx);
    return refused;
}

/* the chunks of HGT's two groups (steps 0..15 and 16..20; codes, z of the first step, y) */
static void test_random_damage(void) {
    if (!api_codec_find("vaeformer")) return;
    uint32_t const steps[2] = {16, 0};
    climz_decompress_opts const d = {.time_first = 14, .time_count = 4};
    CHECK(random_damage(tmp("hgt.clz"), steps, d, 400, 2026) > 300);
}

/* missing values (NaN-filled land-only data): mask restored, bound holds on valid points */
static void test_missing(void) {
    if (!api_codec_find("vaeformer")) return;
    const char *in = tu_data("bcsd_obs_1999.nc");
    const char *mA = tmp("A.safetensors");
    climz_ctx *ctx = climz_ctx_create();
    climz_compress_opts co = {.codec = "vaeformer", .model = mA};
    const char *vars[] = {"pr", "tas", NULL};
    co.vars = vars;
    double const E = 0.05;
    CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, E));
    const char *clz = tmp("bcsd.clz"), *out = tmp("bcsd.nc");
    CHECK_OK(climz_compress_file(ctx, in, clz, &co));
    CHECK_OK(climz_decompress_file(ctx, clz, out, NULL));
    for (int k = 0; k < 2; k++) {
        cz_field fo, fd;
        float *o = read_back(in, vars[k], &fo), *d = read_back(out, vars[k], &fd);
        if (!o || !d) continue;
        size_t const n = fo.nt * fo.nz * fo.ny * fo.nx;
        size_t nmiss = 0;
        for (size_t i = 0; i < n; i++) nmiss += fo.miss[i] != 0;
        CHECK(nmiss > 0 && memcmp(fo.miss, fd.miss, n) == 0);
        met_field_view const v = {o, d, fo.miss, fo.lat, fo.nt * fo.nz, fo.ny, fo.nx};
        met_stats s;
        CHECK_OK(met_compare(&v, &s));
        size_t viol = 1;
        CHECK_OK(met_bound_violations(&v, E * s.range, &viol, NULL));
        CHECK_MSG(viol == 0, "%s: %zu points break the bound", vars[k], viol);
        printf("%s: %zu missing, max error %.4g <= %.4g\n", vars[k], nmiss, s.max_abs_error, E * s.range);
        /* a time range inside a residual block decodes the same values */
        climz_decompress_opts ds = {.time_first = 1, .time_count = 2};
        const char *o3 = tmp("bcsd_slice.nc");
        CHECK_OK(climz_decompress_file(ctx, clz, o3, &ds));
        cz_field f3;
        float *d3 = read_back(o3, vars[k], &f3);
        size_t const plane = fo.nz * fo.ny * fo.nx;
        if (d3) CHECK_MSG(f3.nt == 2 && same_valid(d3, d + plane, fo.miss + plane, 2 * plane), "%s: slice differs", vars[k]);
        io_field_free(&f3);
        io_field_free(&fo);
        io_field_free(&fd);
    }
    climz_ctx_free(ctx);
}


/* levels (data/model_T.nc: GrADS model T, 5 days of 7 pressure levels, below-ground points
 * undefined): a single-channel model codes each level as a sample and, in a group's first
 * step, predicts level k from level k - 1; a 7-channel model codes the 7 levels of a step as
 * its channels. Every file (and the bundled model's with level and time prediction) decodes
 * to the encoder's reconstruction, a time slice to the same values as the whole. With the bundled model and every step coded alone (group=1), level
 * prediction must save bytes; damaged level flags and codes are refused. */
static void test_levels(void) {
    if (!api_codec_find("vaeformer")) return;
    const char *in = tu_data("model_T.nc");
    const char *m7 = tmp("C7.safetensors");
    make_model(m7, 7, 5, 10.0f, 1);
    char def[1200];
    snprintf(def, sizeof def, "%s/models/climz-default.safetensors", CLIMZ_SOURCE_DIR);
    const char *vars[] = {"T", NULL}, *g1[] = {"group=1", NULL}, *g1_off[] = {"group=1", "levels=0", NULL};
    struct {
        const char *model, **opts, *name;
    } const runs[] = {{tmp("A.safetensors"), NULL, "lev1"}, {m7, NULL, "lev7"}, {def, g1, "levg1"},
                      {def, g1_off, "levg1_off"}, {def, NULL, "levdef"}};
    long size[5] = {0};
    climz_ctx *ctx = climz_ctx_create();
    for (int k = 0; k < 5; k++) {
        climz_compress_opts co = {.codec = "vaeformer", .model = runs[k].model, .vars = vars, .options = runs[k].opts};
        char name[3][64];
        snprintf(name[0], sizeof name[0], "%s.clz", runs[k].name);
        snprintf(name[1], sizeof name[1], "%s.nc", runs[k].name);
        snprintf(name[2], sizeof name[2], "%s.part.nc", runs[k].name);
        const char *clz = tmp(name[0]), *out = tmp(name[1]), *part = tmp(name[2]);
        CHECK_OK(climz_compress_file(ctx, in, clz, &co));
        CHECK_OK(climz_decompress_file(ctx, clz, out, NULL));
        climz_decompress_opts const d = {.time_first = 2, .time_count = 2};
        CHECK_OK(climz_decompress_file(ctx, clz, part, &d));
        size[k] = file_size(clz);
        float *enc = encoder_output(in, "T", &co, 0);
        cz_field fd, fo, fp;
        float *dd = read_back(out, "T", &fd), *o = read_back(in, "T", &fo), *dp = read_back(part, "T", &fp);
        if (enc && dd && o && dp) {
            CHECK(fo.nz == 7 && fp.nt == 2);
            size_t const n = fo.nt * fo.nz * fo.ny * fo.nx, step = fo.nz * fo.ny * fo.nx;
            CHECK_MSG(same_valid(enc, dd, fo.miss, n), "levels (%s): decode differs from the encoder's", runs[k].name);
            CHECK_MSG(same_valid(enc + 2 * step, dp, fo.miss + 2 * step, 2 * step),
                      "levels (%s): steps 2..3 alone decode differently", runs[k].name);
            CHECK(!memcmp(fo.miss, fd.miss, n));
        }
        free(enc);
        io_field_free(&fd);
        io_field_free(&fo);
        io_field_free(&fp);
    }
    printf("model T, bundled model, steps coded alone: %ld bytes with level prediction, %ld without\n", size[2],
           size[3]);
    CHECK(size[2] > 0 && size[2] < 0.98 * size[3]);
    /* the chunk of step 1 of levg1 (a group of one step): version, flags (stats 1 + level
     * codes 16 [+ level-predicted samples without z 32] [+ spatial context 64]), nsteps 1, nsamples 7, C 1, a count
     * (L = 32) and L level codes (bytes 6..37) */
    const char *clz = tmp("levg1.clz"), *bad = tmp("levbad.clz"), *out = tmp("levbad.nc");
    uint8_t head[40] = {0};
    CHECK(latent_chunk(clz, 1, head, sizeof head) > sizeof head);
    CHECK_MSG((head[1] & ~(32u | 64u)) == 17 && head[2] == 1 && head[3] == 7 && head[5] == 32,
              "step 1: flags %u, %u steps, %u samples, %u codes", head[1], head[2], head[3], head[5]);
    const uint8_t flags[] = {1 | 32, 1 | 2 | 16, 1 | 128, 1 | 4 | 16};
    for (size_t k = 0; k < sizeof flags; k++) { /* no codes / unknown bits / time codes in a one-step group */
        CHECK(rewrite_clz(clz, bad, 1, CLZ_STREAM_LATENT, EDIT_SET, 1, flags[k]));
        CHECK_STATUS(climz_decompress_file(ctx, bad, out, NULL), CLIMZ_ERR_CORRUPT);
    }
    for (size_t pos = 5; pos <= 37; pos += 16) { /* the count, codes 15 and 31 */
        CHECK(rewrite_clz(clz, bad, 1, CLZ_STREAM_LATENT, EDIT_SET, pos, 0xfe));
        CHECK_STATUS(climz_decompress_file(ctx, bad, out, NULL), CLIMZ_ERR_CORRUPT);
        printf("level chunk byte %zu damaged: %s\n", pos, climz_ctx_last_error(ctx));
    }
    /* an older (one chunk per step: 4) or a newer stream version: refused as such */
    for (uint8_t ver = 4; ver <= 8; ver += 4) { /* 7: the rate level (test_rate_level) */
        CHECK(rewrite_clz(clz, bad, 1, CLZ_STREAM_LATENT, EDIT_SET, 0, ver));
        CHECK_STATUS(climz_decompress_file(ctx, bad, out, NULL), CLIMZ_ERR_VERSION);
        printf("version %u: %s\n", ver, climz_ctx_last_error(ctx));
    }
    climz_ctx_free(ctx);
    uint32_t const steps[2] = {1, 3};
    climz_decompress_opts const all = {.time_first = 0, .time_count = 5};
    CHECK(random_damage(clz, steps, all, 200, 7) > 150);
}

/* 1 when the bundled default model is in the source tree (else the check says it skipped) */
static int bundled_model_present(const char *what) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/climz-default.safetensors", CLIMZ_SOURCE_DIR);
    FILE *fp = fopen(path, "rb");
    if (fp) fclose(fp);
    if (!fp || !api_codec_find("vaeformer")) printf("bundled default model absent: skipped %s\n", what);
    return fp && api_codec_find("vaeformer");
}

/* the bundled default model, when present: found without a model path, sensible on HGT */
static void test_default_model(void) {
    if (!bundled_model_present("its check")) return;
    const char *in = tu_data("hgt.nc");
    climz_ctx *ctx = climz_ctx_create();
    climz_compress_opts co = {.codec = "vaeformer"};
    const char *clz = tmp("hgt_default.clz"), *out = tmp("hgt_default.nc");
    CHECK_OK(climz_compress_file(ctx, in, clz, &co));
    CHECK_OK(climz_decompress_file(ctx, clz, out, NULL));
    cz_field fo, fd;
    float *o = read_back(in, "HGT", &fo), *d = read_back(out, "HGT", &fd);
    if (o && d) {
        size_t const n = fo.nt * fo.nz * fo.ny * fo.nx;
        met_field_view const v = {o, d, fo.miss, fo.lat, fo.nt * fo.nz, fo.ny, fo.nx};
        met_stats s;
        CHECK_OK(met_compare(&v, &s));
        double const ratio = 4.0 * (double)n / (double)file_size(clz);
        printf("default model on HGT: ratio %.1f, nrmse %.4f, lat rmse %.3g\n", ratio, s.nrmse, s.lat_rmse);
        CHECK(ratio > 35); /* the bundled model gives ~50 at ~1.1 % of the range */
        CHECK(s.nrmse < 0.02);
        /* temporal prediction of the latent: smaller than coding every step on its own */
        const char *g1[] = {"group=1", NULL};
        climz_compress_opts c1 = {.codec = "vaeformer", .options = g1};
        const char *clz1 = tmp("hgt_default_g1.clz");
        CHECK_OK(climz_compress_file(ctx, in, clz1, &c1));
        double const ratio1 = 4.0 * (double)n / (double)file_size(clz1);
        printf("default model on HGT without prediction: ratio %.1f (with: %.1f)\n", ratio1, ratio);
        CHECK(ratio > 1.05 * ratio1);
    }
    io_field_free(&fo);
    io_field_free(&fd);
    climz_ctx_free(ctx);
}

/* A file of the default model made before that model was replaced: the decoder finds the old
 * file kept beside the new default as climz-default-<sha8>.safetensors, and without it says
 * where to put it. Tiny models stand in for the bundled ones (CLIMZ_MODEL_DIR). */
static void test_retired_default(void) {
    if (!api_codec_find("vaeformer")) return;
    const char *in = tu_data("hgt.nc");
    char dirA[1200], dirB[1200], oldA[1300], newB[1300], retired[1400], hex[65];
    snprintf(dirA, sizeof dirA, "%s", tmp("defA"));
    snprintf(dirB, sizeof dirB, "%s", tmp("defB"));
    CHECK(mkdir(dirA, 0755) == 0 || errno == EEXIST);
    CHECK(mkdir(dirB, 0755) == 0 || errno == EEXIST);
    snprintf(oldA, sizeof oldA, "%s/climz-default.safetensors", dirA);
    snprintf(newB, sizeof newB, "%s/climz-default.safetensors", dirB);
    make_model(oldA, 1, 21, 10.0f, 1);
    make_model(newB, 1, 22, 10.0f, 1);
    uint8_t d[32];
    CHECK_OK(cz_sha256_file(oldA, d));
    cz_sha256_hex(d, hex);
    snprintf(retired, sizeof retired, "%s/climz-default-%.8s.safetensors", dirB, hex);
    char *const env = getenv("CLIMZ_MODEL_DIR") ? strdup(getenv("CLIMZ_MODEL_DIR")) : NULL;
    setenv("CLIMZ_MODEL_DIR", dirA, 1);
    climz_ctx *ctx = climz_ctx_create();
    climz_compress_opts co = {.codec = "vaeformer"};
    const char *clz = tmp("retired.clz"), *out = tmp("retired.nc"), *out0 = tmp("retired0.nc");
    CHECK_OK(climz_compress_file(ctx, in, clz, &co));
    CHECK_OK(climz_decompress_file(ctx, clz, out0, NULL));
    climz_ctx_free(ctx);
    /* the default model replaced: the old one is gone from its recorded path */
    CHECK(rename(oldA, tmp("oldA.safetensors")) == 0);
    setenv("CLIMZ_MODEL_DIR", dirB, 1);
    ctx = climz_ctx_create();
    CHECK_STATUS(climz_decompress_file(ctx, clz, out, NULL), CLIMZ_ERR_MODEL_MISMATCH);
    CHECK_MSG(strstr(climz_ctx_last_error(ctx), retired + strlen(dirB) + 1) != NULL, "no hint of %s: %s", retired,
              climz_ctx_last_error(ctx));
    /* kept under its hash beside the new default: found, and decodes as before */
    CHECK(rename(tmp("oldA.safetensors"), retired) == 0);
    CHECK_OK(climz_decompress_file(ctx, clz, out, NULL));
    cz_field f0, f1;
    float *v0 = read_back(out0, "HGT", &f0), *v1 = read_back(out, "HGT", &f1);
    if (v0 && v1) CHECK(same_valid(v0, v1, f0.miss, f0.nt * f0.nz * f0.ny * f0.nx));
    io_field_free(&f0);
    io_field_free(&f1);
    climz_ctx_free(ctx);
    if (env) setenv("CLIMZ_MODEL_DIR", env, 1);
    else unsetenv("CLIMZ_MODEL_DIR");
    free(env);
}

/* the header entry's count of interpolated samples of clz's only variable, -1 when absent */
static long interpolated_samples(climz_ctx *ctx, const char *clz) {
    char *js = NULL;
    long n = -1;
    CHECK_OK(climz_info_json(ctx, clz, &js));
    const char *p = js ? strstr(js, "\"interpolated_samples\"") : NULL;
    if (p) n = strtol(strchr(p, ':') + 1, NULL, 10);
    climz_free(js);
    return n;
}

/* Interpolated steps: the bundled model (which records its phase-2 lambda) on 48 hourly ERA5
 * 2 m temperature fields leaves some steps to interpolation between the coded steps around
 * them; the file is smaller than with interp=0 at a similar error; the decoder gives the
 * encoder's reconstruction, slices the same values (an interpolated step needs both its
 * neighbours' synthesis); an interpolated kind in a group's first or last step is refused. */
static void test_interp(void) {
    if (!bundled_model_present("the interpolation check")) return;
    const char *in = tu_data("era5-2mt-2019-03-01-02-uk.grib");
    const char *off[] = {"interp=0", NULL}, *bad_opt[] = {"interp=2", NULL};
    climz_compress_opts co = {.codec = "vaeformer"}, c0 = {.codec = "vaeformer", .options = off};
    climz_compress_opts cb = {.codec = "vaeformer", .options = bad_opt};
    const char *clz = tmp("era5_interp.clz"), *clz0 = tmp("era5_nointerp.clz"), *out = tmp("era5_interp.nc");
    const char *bad = tmp("era5_bad.clz");
    climz_ctx *ctx = climz_ctx_create();
    CHECK_STATUS(climz_compress_file(ctx, in, bad, &cb), CLIMZ_ERR_INVALID_ARG);
    CHECK_OK(climz_compress_file(ctx, in, clz, &co));
    CHECK_OK(climz_compress_file(ctx, in, clz0, &c0));
    long const ni = interpolated_samples(ctx, clz), ni0 = interpolated_samples(ctx, clz0);
    CHECK_MSG(ni >= 4 && ni0 == 0, "%ld / %ld interpolated samples", ni, ni0);
    CHECK_OK(climz_decompress_file(ctx, clz, out, NULL));
    cz_field fo, fd, f0;
    float *o = read_back(in, "2t", &fo), *d = read_back(out, "2t", &fd);
    CHECK_OK(climz_decompress_file(ctx, clz0, out, NULL));
    float *d0 = read_back(out, "2t", &f0);
    float *enc = encoder_output(in, "2t", &co, 0);
    if (o && d && d0 && enc) {
        size_t const plane = fo.ny * fo.nx, n = fo.nt * plane;
        CHECK_MSG(same_valid(enc, d, fo.miss, n), "decoded file differs from the encoder's reconstruction");
        met_field_view v = {o, d, fo.miss, fo.lat, fo.nt, fo.ny, fo.nx};
        met_stats s, s0;
        CHECK_OK(met_compare(&v, &s));
        v.test = d0;
        CHECK_OK(met_compare(&v, &s0));
        double const sz = (double)file_size(clz), sz0 = (double)file_size(clz0);
        printf("bundled model, ERA5 2t, 48 hours: %ld samples interpolated, %.0f bytes at rmse %.4f; none "
               "interpolated: %.0f bytes at rmse %.4f\n", ni, sz, s.rmse, sz0, s0.rmse);
        CHECK(sz < 0.95 * sz0 && s.rmse < 1.25 * s0.rmse); /* 0.92 and 1.06 here */
        /* single steps and a range across the two groups (0..31, 32..47) */
        const size_t first[] = {1, 2, 5, 30}, count[] = {1, 1, 1, 4};
        for (int k = 0; k < 4; k++) {
            climz_decompress_opts ds = {.time_first = first[k], .time_count = count[k]};
            cz_field fs;
            CHECK_OK(climz_decompress_file(ctx, clz, tmp("era5_slice.nc"), &ds));
            float *sl = read_back(tmp("era5_slice.nc"), "2t", &fs);
            CHECK_MSG(sl && fs.nt == count[k] && memcmp(sl, d + first[k] * plane, count[k] * plane * sizeof *sl) == 0,
                      "steps %zu..%zu decoded alone differ", first[k], first[k] + count[k] - 1);
            io_field_free(&fs);
        }
        /* with an error bound the interpolated steps are the residual stage's prediction too
         * (kept, fallback=0, even where the residual codec alone is smaller) */
        double const E = 0.1; /* K */
        const char *clzb = tmp("era5_interp_bound.clz");
        const char *keep[] = {"fallback=0", NULL};
        climz_compress_opts const ck = {.codec = "vaeformer", .options = keep};
        CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, E));
        CHECK_OK(climz_compress_file(ctx, in, clzb, &ck));
        CHECK_OK(climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, 0));
        CHECK(interpolated_samples(ctx, clzb) > 0);
        CHECK_OK(climz_decompress_file(ctx, clzb, out, NULL));
        cz_field fb;
        float *db = read_back(out, "2t", &fb);
        float *encb = encoder_output(in, "2t", &ck, E);
        if (db && encb) {
            met_field_view const vb = {o, db, fo.miss, fo.lat, fo.nt, fo.ny, fo.nx};
            size_t viol = 1;
            CHECK_OK(met_bound_violations(&vb, E, &viol, NULL));
            CHECK_MSG(viol == 0 && same_valid(encb, db, fo.miss, n), "%zu points break the bound %g", viol, E);
        }
        free(encb);
        io_field_free(&fb);
    }
    /* the records of the first group: kind 4 in its first step or its last is refused */
    uint8_t buf[1 << 15];
    chunk_map m = {0};
    size_t const n0 = latent_chunk(clz, 0, buf, sizeof buf);
    CHECK(n0 > 0 && n0 <= sizeof buf && map_chunk(buf, n0, &m));
    size_t last = m.recs; /* the record of step 31 */
    for (int k = 0; k < 31 && n0 <= sizeof buf; k++) last += 1 + (buf[last] & 4 ? 0 : buf[last] & 2 ? 4 : 8);
    const size_t at[2] = {m.recs, last};
    for (int k = 0; k < 2; k++) {
        CHECK(rewrite_clz(clz, bad, 0, CLZ_STREAM_LATENT, EDIT_SET, at[k], 4));
        CHECK_STATUS(climz_decompress_file(ctx, bad, out, NULL), CLIMZ_ERR_CORRUPT);
        printf("kind 4 in step %d: %s\n", k ? 31 : 0, climz_ctx_last_error(ctx));
    }
    free(enc);
    io_field_free(&fo);
    io_field_free(&fd);
    io_field_free(&f0);
    climz_ctx_free(ctx);
}

/* A rate level (issue 22): the chunk carries it as an i8 after C (version 7, flag bit 7); the
 * stream at level 0 is the one of before; a coarser level makes a smaller file with a larger
 * error; a level out of range, a level 0 written out, the flag without version 7 or version 7
 * without the flag: refused. */
static void test_rate_level(void) {
    if (!api_codec_find("vaeformer") || !bundled_model_present("the rate level's check")) return;
    const char *s0 = tmp("rate0.clz"), *s8 = tmp("rate8.clz"), *dflt = tmp("rate_default.clz"),
               *bad = tmp("rate_bad.clz"), *out = tmp("rate.nc");
    const char *o0[] = {"group=1", "spatial=0", "step=0", NULL}, *o8[] = {"group=1", "spatial=0", "step=8", NULL},
               *od[] = {"group=1", "spatial=0", NULL};
    climz_compress_opts co = {.codec = "vaeformer", .options = o0};
    climz_ctx *ctx = climz_ctx_create();
    CHECK_OK(climz_compress_file(ctx, tu_data("hgt.nc"), s0, &co));
    co.options = od;
    CHECK_OK(climz_compress_file(ctx, tu_data("hgt.nc"), dflt, &co));
    co.options = o8;
    CHECK_OK(climz_compress_file(ctx, tu_data("hgt.nc"), s8, &co));
    uint8_t a[4096], b[4096];
    size_t const na = latent_chunk(s0, 2, a, sizeof a), nd = latent_chunk(dflt, 2, b, sizeof b);
    CHECK(na > 8 && na == nd && !memcmp(a, b, na) && a[0] == 6 && !(a[1] & 128));
    size_t const n8 = latent_chunk(s8, 2, b, sizeof b);
    CHECK_MSG(n8 > 8 && n8 < na && b[0] == 7 && (b[1] & 128) && b[5] == 8, "level-8 chunk: %zu bytes (level 0: %zu), "
              "version %u, flags %u, level byte %u", n8, na, b[0], b[1], b[5]);
    climz_decompress_opts d = {.time_first = 2, .time_count = 1};
    CHECK_OK(climz_decompress_file(ctx, s8, out, &d));
    double e[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        const char *o = tmp(k ? "rate8.nc" : "rate0.nc");
        CHECK_OK(climz_decompress_file(ctx, k ? s8 : s0, o, NULL));
        cz_field fo, fd;
        float *x = read_back(tu_data("hgt.nc"), "HGT", &fo), *xd = read_back(o, "HGT", &fd);
        if (x && xd) {
            met_field_view const v = {x, xd, fo.miss, fo.lat, fo.nt * fo.nz, fo.ny, fo.nx};
            met_stats st;
            CHECK_OK(met_compare(&v, &st));
            e[k] = st.rmse;
        }
        if (x) io_field_free(&fo);
        if (xd) io_field_free(&fd);
    }
    printf("bundled model on HGT, level 0: %zu latent bytes of step 2, RMSE %.3f; level 8: %zu, RMSE %.3f\n", na, e[0],
           n8, e[1]);
    CHECK_MSG(e[1] > 1.2 * e[0] && e[0] > 0, "RMSE at level 8 %g, at level 0 %g", e[1], e[0]);
    const struct { size_t pos; uint8_t val; } edits[] = {{0, 6}, {1, (uint8_t)(b[1] & 127)}, {5, 0}, {5, 41},
                                                          {5, (uint8_t)(int8_t)-17}};
    for (size_t k = 0; k < sizeof edits / sizeof *edits; k++) {
        CHECK(rewrite_clz(s8, bad, 2, CLZ_STREAM_LATENT, EDIT_SET, edits[k].pos, edits[k].val));
        CHECK_STATUS(climz_decompress_file(ctx, bad, out, &d), CLIMZ_ERR_CORRUPT);
    }
    climz_ctx_free(ctx);
}

/* Rate gains (issue 22): the bundled model before its gains (kept beside the default for its
 * files, models/README.md) given gains of its own (random, +-0.75 octave: the codec's
 * behaviour, not a trained model's). With gains 0 the per-channel steps are the plain
 * steps, bit for bit, and the files those of the model without gains; with random gains the
 * steps stay within 1/64 octave of 2^(K/8 + a_c(K)) (exact on an anchor), and at levels on an
 * anchor and between (time prediction, spatial context, interpolation all on) and with the
 * refinement at level 0, the decoded file is the encoder's reconstruction, bit for bit, and
 * coarser levels make smaller files. */
static void test_rate_gain(void) {
    if (!bundled_model_present("the rate gains' check")) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/models/climz-default-7d5522d5.safetensors", CLIMZ_SOURCE_DIR);
    const char *mZ = tmp("gain0.safetensors"), *mG = tmp("gainR.safetensors");
    vae_model m;
    CHECK_OK(vae_model_load(&m, path, 0, NULL));
    CHECK(!vae_model_has_rate_gain(&m));
    size_t const L = m.cfg.latent;
    float *s0 = malloc(L * sizeof *s0), *s1 = malloc(L * sizeof *s1);
    vae_coder c0, cz, cg;
    CHECK_OK(vae_coder_init(&c0, &m, 1));
    CHECK_OK(vae_model_add_rate_gain(&m));
    CHECK_OK(vae_model_save(&m, mZ, NULL));
    CHECK_OK(vae_coder_init(&cz, &m, 1));
    int same = 1;
    for (int k = VAE_STEP_MIN; k <= VAE_STEP_MAX; k++) {
        vae_coder_steps(&c0, k, s0);
        vae_coder_steps(&cz, k, s1);
        for (size_t c = 0; c < L; c++) same &= s0[c] == vae_step_of_level(k) && s1[c] == s0[c];
    }
    CHECK_MSG(same, "gains of 0 do not give the plain steps");
    vae_coder_release(&cz);
    unsigned long long seed = 17;
    float *a = nn_params_data(&m.p, m.ix.rate_gain);
    for (size_t i = 0; i < VAE_GAIN_ANCHORS * L; i++) a[i] = (float)(1.5 * tu_rand_uniform(&seed) - 0.75);
    CHECK_OK(vae_model_save(&m, mG, NULL));
    CHECK_OK(vae_coder_init(&cg, &m, 1));
    double worst = 0;
    int exact = 1;
    for (int k = VAE_STEP_MIN; k <= VAE_STEP_MAX; k++) {
        vae_coder_steps(&cg, k, s1);
        size_t i;
        double t;
        vae_gain_anchor(k, &i, &t);
        for (size_t c = 0; c < L; c++) {
            double const ak = (1 - t) * a[i * L + c] + t * a[(i + 1) * L + c];
            double const off = fabs(log2((double)s1[c]) - (k / 8.0 + ak));
            worst = off > worst ? off : worst;
            if ((k - VAE_GAIN_LEVEL0) % 8 == 0) /* on an anchor: 2^((8 k + round(64 a)) / 64) */
                exact &= s1[c] == (float)exp2((8.0 * k + nearbyint(64.0 * a[(size_t)(k - VAE_GAIN_LEVEL0) / 8 * L + c])) / 64);
        }
    }
    printf("random rate gains: steps within %.4f octave of 2^(K/8 + a_c(K)) (1/64 = %.4f)\n", worst, 1.0 / 64);
    CHECK(worst <= 1.0 / 64 + 1e-6 && worst > 0);
    CHECK(exact);
    vae_coder_release(&cg);
    vae_coder_release(&c0);
    vae_model_free(&m);
    free(s0), free(s1);

    const char *in = tu_data("hgt.nc");
    climz_ctx *ctx = climz_ctx_create();
    size_t const cap = 1u << 20;
    uint8_t *b0 = malloc(cap), *b1 = malloc(cap);
    { /* gains 0: the latent stream of the model without gains */
        const char *o5[] = {"step=5", NULL};
        climz_compress_opts cb = {.codec = "vaeformer", .model = path, .options = o5}, cz0 = {.codec = "vaeformer", .model = mZ, .options = o5};
        const char *fb = tmp("gain_plain.clz"), *fz = tmp("gain_zero.clz");
        CHECK_OK(climz_compress_file(ctx, in, fb, &cb));
        CHECK_OK(climz_compress_file(ctx, in, fz, &cz0));
        size_t const nb = latent_chunk(fb, 0, b0, cap), nz = latent_chunk(fz, 0, b1, cap);
        CHECK_MSG(nb > 0 && nb <= cap && nb == nz && !memcmp(b0, b1, nb), "gains 0 change the stream at level 5");
    }
    cz_field fo;
    float *orig = read_back(in, "HGT", &fo);
    size_t const n = fo.nt * fo.nz * fo.ny * fo.nx;
    if (orig) { /* the refinement at level 0 (steps 2^(a_c(0))) synthesises from D_c * q(y) */
        const char *orf[] = {"refine=3", NULL}, *onr[] = {"refine=0", NULL};
        climz_compress_opts cr = {.codec = "vaeformer", .model = mG, .options = orf},
                            cn = {.codec = "vaeformer", .model = mG, .options = onr};
        const char *clz = tmp("gain_refine.clz"), *clzn = tmp("gain_norefine.clz");
        CHECK_OK(climz_compress_file(ctx, in, clzn, &cn));
        cz_field fd;
        float *dec = code_exact(ctx, in, "HGT", &cr, clz, tmp("gain_refine.nc"), &fd, "refined with rate gains");
        if (dec) {
            met_field_view const v = {orig, dec, fo.miss, fo.lat, fo.nt * fo.nz, fo.ny, fo.nx};
            met_stats st;
            CHECK_OK(met_compare(&v, &st));
            printf("random rate gains on HGT, level 0, refine=3: %ld bytes (refine=0: %ld), RMSE %.3f\n",
                   file_size(clz), file_size(clzn), st.rmse);
        }
        if (dec) io_field_free(&fd);
    }
    int const levels[] = {-5, 8, 13};
    long prev_size = 0;
    for (size_t q = 0; q < sizeof levels / sizeof *levels && orig; q++) {
        char opt[32];
        snprintf(opt, sizeof opt, "step=%d", levels[q]);
        const char *og[] = {opt, NULL};
        climz_compress_opts cg2 = {.codec = "vaeformer", .model = mG, .options = og};
        const char *clz = tmp("gain_rand.clz");
        cz_field fd;
        float *dec = code_exact(ctx, in, "HGT", &cg2, clz, tmp("gain_rand.nc"), &fd, opt);
        long const size = file_size(clz);
        if (dec) {
            met_field_view const v = {orig, dec, fo.miss, fo.lat, fo.nt * fo.nz, fo.ny, fo.nx};
            met_stats st;
            CHECK_OK(met_compare(&v, &st));
            printf("random rate gains on HGT, level %d: ratio %.1f, RMSE %.3f\n", levels[q],
                   4.0 * (double)n / (double)size, st.rmse);
            CHECK(st.n_nonfinite == 0 && st.rmse > 0);
        }
        if (q) CHECK_MSG(size < prev_size, "level %d: %ld bytes, not fewer than the level before (%ld)", levels[q], size,
                         prev_size);
        if (levels[q] == 8) { /* the gains change the stream */
            const char *o8[] = {"step=8", NULL};
            climz_compress_opts cz8 = {.codec = "vaeformer", .model = mZ, .options = o8};
            const char *fz8 = tmp("gain_zero8.clz");
            CHECK_OK(climz_compress_file(ctx, in, fz8, &cz8));
            size_t const ng = latent_chunk(clz, 0, b0, cap), nz8 = latent_chunk(fz8, 0, b1, cap);
            CHECK(ng > 0 && nz8 > 0 && (ng != nz8 || memcmp(b0, b1, ng)));
        }
        prev_size = size;
        if (dec) io_field_free(&fd);
    }
    if (orig) io_field_free(&fo);
    free(b0), free(b1);
    climz_ctx_free(ctx);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", tu_tmpdir("test_vae_codec"));
    double t0 = cz_now();
    test_sample(0);
    test_sample(1);
    test_predict();
    test_spatial();
    test_file();
    test_damaged_chunks();
    test_random_damage();
    test_missing();
    test_levels();
    test_default_model();
    test_retired_default();
    test_interp();
    test_rate_level();
    test_rate_gain();
    printf("%.1f s\n", cz_now() - t0);
    return tu_finish();
}
