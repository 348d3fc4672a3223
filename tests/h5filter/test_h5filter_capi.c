/* test_h5filter_capi.c — the climz HDF5 filter through the HDF5 C API, loaded as a plugin from
 * HDF5_PLUGIN_PATH (the test's environment points it at build/plugins):
 *  - H5Pset_filter on NCEP 500 hPa height (data/hgt.nc) with fill values and NaNs put in,
 *    chunks that do not divide the dims (partial edge chunks): every valid point within the
 *    bound, fill values and NaNs back bit for bit; float64 too; relative bound;
 *  - an edge chunk that is mostly fill costs a fraction of a full one;
 *  - bad cd_values and an integer dataset are refused when the dataset is created;
 *  - a damaged chunk fails H5Dread with the filter's message on the error stack;
 *  - two threads run the plugin's filter function at once on different chunks and get the
 *    bytes and values of a serial run (no shared mutable state), residual and vaeformer (each
 *    thread's context keeps its model);
 *  - a model file that changes on disk after a thread cached it is loaded again, and refused
 *    when its SHA-256 is not the chunk's. */
#include "testutil.h"

#include "h5filter/h5z_climz.h"

#include <dlfcn.h>
#include <hdf5.h>
#include <math.h>
#include <netcdf.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NT 21
#define NY 73
#define NX 144
#define FILL -999.0f

static float *load_hgt(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/hgt.nc", CLIMZ_DATA_DIR);
    int nc, v;
    float *a = malloc(sizeof(float) * NT * NY * NX);
    if (nc_open(path, NC_NOWRITE, &nc) || nc_inq_varid(nc, "HGT", &v) || nc_get_var_float(nc, v, a)) {
        free(a);
        return NULL;
    }
    nc_close(nc);
    /* missing points: a block of fill values and a scatter of NaNs */
    for (int y = 10; y < 20; y++)
        for (int x = 30; x < 60; x++) a[(3 * NY + y) * NX + x] = FILL;
    for (int i = 7; i < NT * NY * NX; i += 997) a[i] = NAN;
    return a;
}

static int same_bits_f(float a, float b) { return memcmp(&a, &b, 4) == 0; }

static herr_t find_msg(unsigned n, const H5E_error2_t *e, void *user);

/* writes a (NT, NY, NX) dataset with the filter; H5Dcreate's result, and in msg (when not
 * NULL) the climz message on the error stack */
static hid_t create(hid_t file, const char *name, hid_t type, const hsize_t *chunk, const unsigned *cd, size_t ncd,
                    const void *fill, char *msg) {
    hsize_t const dims[3] = {NT, NY, NX};
    hid_t const space = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    if (fill) H5Pset_fill_value(dcpl, type, fill);
    H5Pset_filter(dcpl, H5Z_FILTER_CLIMZ, H5Z_FLAG_MANDATORY, ncd, cd);
    hid_t const d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (msg) { /* before any other call: each HDF5 call clears the error stack */
        msg[0] = 0;
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_msg, msg);
    }
    H5Pclose(dcpl);
    H5Sclose(space);
    return d;
}

/* the first climz message on the error stack */
static herr_t find_msg(unsigned n, const H5E_error2_t *e, void *user) {
    (void)n;
    char *out = user;
    if (!out[0] && e->desc && strstr(e->desc, "climz filter")) snprintf(out, 512, "%s", e->desc);
    return 0;
}

static void round_trip(hid_t file, const float *a, const char *name, int f64, unsigned mode, double bound) {
    hsize_t const chunk[3] = {4, 30, 50};
    unsigned cd[CLIMZ_H5_NUSER];
    climz_h5_params(cd, CLIMZ_H5_RESIDUAL, mode, bound);
    size_t const n = (size_t)NT * NY * NX;
    hid_t const type = f64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
    double const fill = FILL;
    float const fillf = FILL;
    hid_t const d = create(file, name, type, chunk, cd, CLIMZ_H5_NUSER, f64 ? (const void *)&fill : (const void *)&fillf, NULL);
    CHECK(d >= 0);
    if (d < 0) return;
    double *ad = malloc(n * sizeof *ad), *bd = malloc(n * sizeof *bd);
    float *bf = malloc(n * sizeof *bf);
    for (size_t i = 0; i < n; i++) /* float64: values that float32 does not hold */
        ad[i] = (double)a[i] + (f64 && !isnan(a[i]) && a[i] != FILL ? 1e-3 * sin((double)i) : 0);
    CHECK(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, f64 ? (const void *)ad : (const void *)a) >= 0);
    CHECK(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, f64 ? (void *)bd : (void *)bf) >= 0);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (!isnan(a[i]) && a[i] != FILL) lo = fmin(lo, ad[i]), hi = fmax(hi, ad[i]);
    /* relative: to each chunk's range, at most the whole range */
    double const E = mode == CLIMZ_H5_RELATIVE ? bound * (hi - lo) : bound;
    double maxe = 0;
    size_t bad_missing = 0;
    for (size_t i = 0; i < n; i++) {
        double const b = f64 ? bd[i] : bf[i];
        if (isnan(a[i])) bad_missing += !isnan(b);
        else if (a[i] == FILL) bad_missing += f64 ? b != fill : !same_bits_f(bf[i], fillf);
        else maxe = fmax(maxe, fabs(b - (f64 ? ad[i] : a[i])));
    }
    hsize_t const stored = H5Dget_storage_size(d);
    printf("%-10s %s mode %u bound %g: %llu bytes (%.1fx), max error %.4g (E %.4g), missing wrong %zu\n", name,
           f64 ? "float64" : "float32", mode, bound, (unsigned long long)stored,
           (double)(n * (f64 ? 8 : 4)) / (double)stored, maxe, E, bad_missing);
    CHECK(maxe <= E);
    CHECK(bad_missing == 0);
    if (bound > 0) CHECK(stored < n); /* well under 1 byte a value */
    H5Dclose(d);
    free(ad);
    free(bd);
    free(bf);
}

/* (5, NY, NX) in chunks of 4 steps: the second chunk is one step of data and three of fill */
static void edge_chunk(hid_t file, const float *a) {
    hsize_t const dims[3] = {5, NY, NX}, chunk[3] = {4, NY, NX};
    unsigned cd[CLIMZ_H5_NUSER];
    climz_h5_params(cd, CLIMZ_H5_RESIDUAL, CLIMZ_H5_ABSOLUTE, 1.0);
    hid_t const space = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    float const fill = FILL;
    H5Pset_chunk(dcpl, 3, chunk);
    H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &fill);
    H5Pset_filter(dcpl, H5Z_FILTER_CLIMZ, H5Z_FLAG_MANDATORY, CLIMZ_H5_NUSER, cd);
    hid_t const d = H5Dcreate2(file, "edge", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(d >= 0);
    CHECK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a + 4 * NY * NX) >= 0);
    H5Dflush(d);
    hsize_t const o0[3] = {0, 0, 0}, o1[3] = {4, 0, 0};
    hsize_t s0 = 0, s1 = 0;
    haddr_t a0, a1;
    unsigned m;
    CHECK(H5Dget_chunk_info_by_coord(d, o0, &m, &a0, &s0) >= 0);
    CHECK(H5Dget_chunk_info_by_coord(d, o1, &m, &a1, &s1) >= 0);
    printf("edge chunk: full chunk (4 steps) %llu bytes, edge chunk (1 step + 3 of fill) %llu bytes\n",
           (unsigned long long)s0, (unsigned long long)s1);
    /* one step's share of a full chunk, a frame header (about 700 bytes) and the three fill
     * steps' mask (about 100 bytes a step of 10512 points): 0.3 % of their raw 126 kB */
    CHECK(s1 > 0 && s1 < s0 / 4 + 1100);
    float *b = malloc(sizeof(float) * 5 * NY * NX);
    CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) >= 0);
    size_t wrong = 0;
    for (size_t i = 0; i < (size_t)5 * NY * NX; i++) {
        float const x = a[4 * NY * NX + i];
        wrong += isnan(x) ? !isnan(b[i]) : x == FILL ? !same_bits_f(b[i], x) : fabsf(b[i] - x) > 1.0f;
    }
    CHECK(wrong == 0);
    free(b);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
}

static void refused(hid_t file) {
    hsize_t const chunk[3] = {1, NY, NX};
    unsigned cd[CLIMZ_H5_NUSER_MISS];
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct {
        const char *why;
        unsigned w[4];
        size_t n;
        hid_t type;
    } const cases[] = {
        {"codec 7", {7, 0, 0, 0}, 4, H5T_NATIVE_FLOAT},
        {"mode 3", {0, 3, 0, 0}, 4, H5T_NATIVE_FLOAT},
        {"3 words", {0, 0, 0, 0}, 3, H5T_NATIVE_FLOAT},
        {"5 words", {0, 0, 0, 0}, 5, H5T_NATIVE_FLOAT},
        {"negative bound", {0, 0, 0, 0xbff00000u}, 4, H5T_NATIVE_FLOAT},
        {"NaN bound", {0, 0, 0, 0x7ff80000u}, 4, H5T_NATIVE_FLOAT},
        {"relative bound 2", {0, 1, 0, 0x40000000u}, 4, H5T_NATIVE_FLOAT},
        {"int32 dataset", {0, 0, 0, 0}, 4, H5T_NATIVE_INT},
        {"float16-like size", {0, 0, 0, 0}, 4, H5T_NATIVE_LDOUBLE},
        {"big-endian floats", {0, 0, 0, 0}, 4, H5T_IEEE_F32BE},
    };
    char name[64];
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        memset(cd, 0, sizeof cd);
        memcpy(cd, cases[k].w, sizeof cases[k].w);
        snprintf(name, sizeof name, "refused%zu", k);
        char msg[512] = "";
        hid_t const d = create(file, name, cases[k].type, chunk, cd, cases[k].n, NULL, msg);
        printf("refused (%s): %s\n", cases[k].why, d < 0 ? msg : "NOT REFUSED");
        CHECK(d < 0);
        CHECK(strstr(msg, "climz filter") != NULL);
        if (d >= 0) H5Dclose(d);
    }
}

/* damages a byte in the middle of chunk (t0 = 4) of `name` in the closed file, then reads */
static void damaged(const char *path, const char *name) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hsize_t const off[3] = {4, 30, 50};
    haddr_t addr = 0;
    hsize_t size = 0;
    unsigned m;
    CHECK(H5Dget_chunk_info_by_coord(d, off, &m, &addr, &size) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(path, "r+b");
    CHECK(fp != NULL);
    if (!fp) return;
    for (hsize_t at = addr + size / 3; at < addr + size; at += size / 3) { /* a header byte and a payload byte */
        fseek(fp, (long)at, SEEK_SET);
        int const c = fgetc(fp);
        fseek(fp, (long)at, SEEK_SET);
        fputc(c ^ 0x5a, fp);
    }
    fclose(fp);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    d = H5Dopen2(f, name, H5P_DEFAULT);
    float *b = malloc(sizeof(float) * NT * NY * NX);
    H5Eclear2(H5E_DEFAULT);
    herr_t const r = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, b);
    char msg[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_msg, msg);
    printf("damaged chunk: H5Dread %s; %s\n", r < 0 ? "failed" : "SUCCEEDED", msg);
    CHECK(r < 0);
    CHECK(strstr(msg, "climz filter") && strstr(msg, "chunk"));
    /* a chunk that is intact still reads */
    hsize_t const start[3] = {0, 0, 0}, count[3] = {4, 30, 50};
    hid_t const fs = H5Dget_space(d), ms = H5Screate_simple(3, count, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    CHECK(H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, b) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    free(b);
    H5Dclose(d);
    H5Fclose(f);
}

/* ---- two threads in the plugin's filter function at once ---- */
typedef size_t (*filter_fn)(unsigned, size_t, const unsigned *, size_t, size_t *, void **);

typedef struct job {
    filter_fn fn;
    const unsigned *cd;
    const float *src;     /* one chunk (1, NY, NX) */
    unsigned char *frame; /* out: its frame */
    size_t frame_size;
    float *back;          /* out: decoded */
    int ok;
} job;

static void *run_job(void *p) {
    job *j = p;
    j->ok = 1;
    for (int rep = 0; rep < 3 && j->ok; rep++) {
        size_t const nbytes = sizeof(float) * NY * NX;
        size_t bs = nbytes;
        void *buf = H5allocate_memory(nbytes, 0);
        memcpy(buf, j->src, nbytes);
        size_t const n = j->fn(0, CLIMZ_H5_NVALUES, j->cd, nbytes, &bs, &buf);
        if (!n) { j->ok = 0; H5free_memory(buf); break; }
        if (rep == 0) {
            j->frame = malloc(n);
            memcpy(j->frame, buf, n);
            j->frame_size = n;
        } else if (n != j->frame_size || memcmp(buf, j->frame, n)) j->ok = 0;
        size_t const m = j->fn(H5Z_FLAG_REVERSE, CLIMZ_H5_NVALUES, j->cd, n, &bs, &buf);
        if (m != nbytes) j->ok = 0;
        else memcpy(j->back, buf, nbytes);
        H5free_memory(buf);
    }
    return NULL;
}

/* The plugin's class, loaded as HDF5 loads it (the handle stays open: HDF5 may hold the same
 * library); NULL with the failure recorded. */
static const H5Z_class2_t *plugin_class(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/plugins/libh5climz.so", CLIMZ_BUILD_DIR);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    if (!h) return NULL;
    void *sym = dlsym(h, "H5PLget_plugin_info");
    const void *(*info)(void) = NULL;
    if (sym) memcpy(&info, &sym, sizeof info); /* ISO C has no object-to-function pointer cast */
    CHECK(info != NULL);
    const H5Z_class2_t *cls = info ? info() : NULL;
    CHECK(cls && cls->id == H5Z_FILTER_CLIMZ);
    return cls;
}

/* the words of a (1, NY, NX) float32 chunk with fill FILL after set_local */
static void chunk_words(unsigned cd[CLIMZ_H5_NVALUES], unsigned codec, double bound) {
    memset(cd, 0, CLIMZ_H5_NVALUES * sizeof *cd);
    climz_h5_params(cd, codec, CLIMZ_H5_ABSOLUTE, bound);
    cd[CLIMZ_H5_LAYOUT] = CLIMZ_H5_LAYOUT_VERSION, cd[CLIMZ_H5_TYPE] = 1;
    cd[CLIMZ_H5_NT] = 1, cd[CLIMZ_H5_NZ] = 1, cd[CLIMZ_H5_NY] = NY, cd[CLIMZ_H5_NX] = NX;
    cd[CLIMZ_H5_MISSING] = CLIMZ_H5_MISS_FILL;
    climz_h5_put_double(cd + CLIMZ_H5_MISS_VALUE_LO, FILL);
}

static void threads(const float *a, unsigned codec) {
    const H5Z_class2_t *cls = plugin_class();
    if (!cls) return;
    unsigned cd[CLIMZ_H5_NVALUES];
    /* the vaeformer without a bound: with one, the residual codec alone wins on these small
     * chunks and no model would be used */
    chunk_words(cd, codec, codec == CLIMZ_H5_VAEFORMER ? 0.0 : 2.0);
    job serial[2], par[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        float *bs = malloc(sizeof(float) * NY * NX), *bp = malloc(sizeof(float) * NY * NX);
        serial[k] = (job){(filter_fn)cls->filter, cd, a + (size_t)(3 + 10 * k) * NY * NX, NULL, 0, bs, 0};
        par[k] = serial[k];
        par[k].back = bp;
        run_job(&serial[k]);
    }
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, run_job, &par[k]);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        CHECK(serial[k].ok && par[k].ok);
        CHECK(par[k].frame_size == serial[k].frame_size &&
                   memcmp(par[k].frame, serial[k].frame, par[k].frame_size) == 0);
        CHECK(memcmp(par[k].back, serial[k].back, sizeof(float) * NY * NX) == 0);
        free(serial[k].frame), free(par[k].frame), free(serial[k].back), free(par[k].back);
    }
    printf("two threads in the filter at once (%s): same frames and values as serial\n",
           codec == CLIMZ_H5_VAEFORMER ? "vaeformer, each thread's model cache" : "residual");
}

static int copy_file(const char *from, const char *to) {
    FILE *i = fopen(from, "rb"), *o = fopen(to, "wb");
    int ok = i && o;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, i)) > 0) ok = fwrite(buf, 1, n, o) == n;
    if (i) fclose(i);
    if (o && fclose(o)) ok = 0;
    return ok;
}

/* decodes frame (n bytes) with the plugin: 1 when it decodes */
static int plugin_decodes(filter_fn fn, const unsigned *cd, const void *frame, size_t n) {
    size_t bs = n;
    void *buf = H5allocate_memory(n, 0);
    memcpy(buf, frame, n);
    size_t const m = fn(H5Z_FLAG_REVERSE, CLIMZ_H5_NVALUES, cd, n, &bs, &buf);
    H5free_memory(buf);
    return m == sizeof(float) * NY * NX;
}

/* The thread's model cache never decodes with a model file that changed on disk since it was
 * loaded: CLIMZ_MODEL names a copy of the bundled model; a chunk decodes with it (the copy is
 * now cached), then one byte of the copy's weights changes (same size) and the chunk is
 * refused (its recorded SHA-256 is not the file's); with the byte back it decodes again. */
static void model_changed(const float *a) {
    const H5Z_class2_t *cls = plugin_class();
    if (!cls) return;
    filter_fn const fn = (filter_fn)cls->filter;
    unsigned cd[CLIMZ_H5_NVALUES];
    chunk_words(cd, CLIMZ_H5_VAEFORMER, 0.0); /* no bound: the chunk is the network's own */
    size_t const nbytes = sizeof(float) * NY * NX;
    size_t bs = nbytes;
    void *buf = H5allocate_memory(nbytes, 0);
    memcpy(buf, a, nbytes);
    size_t const n = fn(0, CLIMZ_H5_NVALUES, cd, nbytes, &bs, &buf);
    CHECK(n > 0);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/h5filter_model_%d.safetensors", CLIMZ_BUILD_DIR, (int)getpid());
    CHECK(copy_file(CLIMZ_SOURCE_DIR "/models/climz-default.safetensors", copy));
    setenv("CLIMZ_MODEL", copy, 1);
    CHECK(n && plugin_decodes(fn, cd, buf, n));
    FILE *f = fopen(copy, "r+b");
    CHECK(f != NULL);
    long const at = 4000000; /* inside the weights: the file still loads, with another hash */
    int c = EOF;
    if (f) {
        fseek(f, at, SEEK_SET);
        c = fgetc(f);
        fseek(f, at, SEEK_SET);
        fputc(c ^ 0x01, f);
        fclose(f);
    }
    setenv("CLIMZ_H5_QUIET", "1", 1);
    CHECK_MSG(n && !plugin_decodes(fn, cd, buf, n), "a chunk decoded with a model file changed since it was cached");
    unsetenv("CLIMZ_H5_QUIET");
    H5Eclear2(H5E_DEFAULT);
    if ((f = fopen(copy, "r+b"))) {
        fseek(f, at, SEEK_SET);
        fputc(c, f);
        fclose(f);
    }
    CHECK(n && plugin_decodes(fn, cd, buf, n));
    unsetenv("CLIMZ_MODEL");
    unlink(copy);
    H5free_memory(buf);
    printf("the model cache loads a model file again when it changed, and refuses it when its hash is not the chunk's\n");
}

int main(void) {
    if (!getenv("HDF5_PLUGIN_PATH")) {
        fprintf(stderr, "HDF5_PLUGIN_PATH is not set (ctest sets it to build/plugins)\n");
        return 1;
    }
    float *a = load_hgt();
    CHECK(a != NULL);
    if (!a) return tu_finish();
    char path[4096];
    snprintf(path, sizeof path, "%s/h5filter_capi_%d.h5", CLIMZ_BUILD_DIR, (int)getpid());
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(file >= 0);
    CHECK(H5Zfilter_avail(H5Z_FILTER_CLIMZ) > 0); /* found under HDF5_PLUGIN_PATH */
    round_trip(file, a, "abs5", 0, CLIMZ_H5_ABSOLUTE, 5.0);
    round_trip(file, a, "abs0.5", 0, CLIMZ_H5_ABSOLUTE, 0.5);
    round_trip(file, a, "lossless", 0, CLIMZ_H5_ABSOLUTE, 0);
    round_trip(file, a, "rel1e-3", 0, CLIMZ_H5_RELATIVE, 1e-3);
    round_trip(file, a, "f64", 1, CLIMZ_H5_ABSOLUTE, 0.1);
    edge_chunk(file, a);
    refused(file);
    H5Fclose(file);
    damaged(path, "abs5");
    threads(a, CLIMZ_H5_RESIDUAL);
    threads(a, CLIMZ_H5_VAEFORMER);
    model_changed(a);
    unlink(path);
    free(a);
    return tu_finish();
}
