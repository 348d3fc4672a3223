/*
 * h5z_climz.c — the climz HDF5 filter: one HDF5 chunk in, one climz frame out, and back,
 * through the in-memory API (climz_compress / climz_decompress).
 *
 * READ ME FIRST
 *  - Built twice: as the dynamically loaded plugin build/plugins/libh5climz.so (with
 *    H5Z_CLIMZ_PLUGIN: the H5PLget_plugin_type / H5PLget_plugin_info entry points that
 *    HDF5 looks for under HDF5_PLUGIN_PATH), and into the climz program, which registers the
 *    class itself (climz_h5z_register) to write netCDF-4 files.
 *  - No shared mutable state: each thread that calls the filter gets a climz context of its
 *    own, kept until the thread exits (with its model cache, so that vaeformer chunks do not
 *    load the model again), so HDF5 (or anything above it) may call it from any thread.
 *  - set_local checks the user's words and appends the chunk's shape, element type and fill
 *    value (layout in h5z_climz.h); bad words or a type that is not IEEE float32/float64 in
 *    the machine's byte order make the dataset's creation fail, with a message on the HDF5
 *    error stack.
 *  - A chunk that does not decode (damaged bytes, a model that is not the recorded one, a
 *    shape other than the dataset's) makes the filter return 0: HDF5 fails the read and the
 *    error stack says what is wrong with the chunk. The caller never sees garbage.
 *  - Missing points: NaN always, and the dataset's fill value when it has one (netCDF's
 *    _FillValue; netCDF-4 pads the part of an edge chunk outside the data with it) come back
 *    bit for bit. A chunk of fill values costs a frame header and a few bytes of mask.
 *  - Environment: CLIMZ_MODEL (a model file to decode vaeformer chunks with; it must have
 *    the SHA-256 recorded in the chunk), CLIMZ_MODEL_DIR (where the bundled model is looked
 *    for), CLIMZ_H5_THREADS (threads per chunk, default 1: HDF5 filters one chunk at a time).
 */
#include "h5filter/h5z_climz.h"

#include "climz.h"

#include <H5PLextern.h>
#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Pushes "climz filter: <message>" on the HDF5 error stack. When the program has turned
 * HDF5's automatic error printing off (libnetcdf does: ncdump and nccopy would only say
 * "NetCDF: HDF error"), the line also goes to stderr, unless CLIMZ_H5_QUIET is set. */
static void h5c_error(const char *func, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* before the push: an HDF5 API call clears the error stack on entry */
    H5E_auto2_t autof = NULL;
    void *data = NULL;
    int const quiet_hdf5 = H5Eget_auto2(H5E_DEFAULT, &autof, &data) >= 0 && !autof;
    H5Epush2(H5E_DEFAULT, __FILE__, func, (unsigned)line, H5E_ERR_CLS, H5E_PLINE, H5E_CANTFILTER, "climz filter: %s",
             msg);
    const char *quiet = getenv("CLIMZ_H5_QUIET");
    if (quiet_hdf5 && !(quiet && *quiet)) fprintf(stderr, "climz filter: %s\n", msg);
}
/* H5C_ERROR must be the last HDF5 call on a failure path (see above) */
#define H5C_ERROR(...) h5c_error(__func__, __LINE__, __VA_ARGS__)

/* ---- parameters ----------------------------------------------------------------------- */

typedef struct h5c_params {
    unsigned codec, mode;
    double bound;
    climz_type type;
    size_t nt, nz, ny, nx;
    int has_fill;
    double fill;
} h5c_params;

static const char *const codec_names[] = {"residual", "vaeformer"};

/* Checks the user's words; 0 or -1 with the problem pushed. */
static int check_user(size_t n, const unsigned *cd, h5c_params *p) {
    if (n < CLIMZ_H5_NUSER) {
        H5C_ERROR("%zu parameters given; it needs %d: codec (0 residual, 1 vaeformer), bound mode (0 absolute, "
                  "1 relative to the chunk's range), the bound as a double in two words (low, high): see "
                  "doc/hdf5-filter.md", n, CLIMZ_H5_NUSER);
        return -1;
    }
    p->codec = cd[CLIMZ_H5_CODEC];
    p->mode = cd[CLIMZ_H5_MODE];
    p->bound = climz_h5_get_double(cd + CLIMZ_H5_BOUND_LO);
    if (p->codec > CLIMZ_H5_VAEFORMER) {
        H5C_ERROR("codec %u is not 0 (residual) or 1 (vaeformer)", p->codec);
        return -1;
    }
    if (p->mode > CLIMZ_H5_RELATIVE) {
        H5C_ERROR("bound mode %u is not 0 (absolute) or 1 (relative to the chunk's range)", p->mode);
        return -1;
    }
    if (!(p->bound >= 0 && isfinite(p->bound)) || (p->mode == CLIMZ_H5_RELATIVE && p->bound > 1)) {
        H5C_ERROR("bound %g (words %u, %u) is not a number in [0, %s]", p->bound, cd[CLIMZ_H5_BOUND_LO],
                  cd[CLIMZ_H5_BOUND_HI], p->mode == CLIMZ_H5_RELATIVE ? "1" : "inf)");
        return -1;
    }
    return 0;
}

/* Checks all words of a dataset's pipeline (user's and set_local's). */
static int parse_all(size_t n, const unsigned *cd, h5c_params *p) {
    if (check_user(n, cd, p) < 0) return -1;
    if (n < CLIMZ_H5_NVALUES || cd[CLIMZ_H5_LAYOUT] != CLIMZ_H5_LAYOUT_VERSION) {
        H5C_ERROR("the dataset's filter parameters (%zu words, layout %u) are not those of this plugin's "
                  "set_local (%d words, layout %d)", n, n > CLIMZ_H5_LAYOUT ? cd[CLIMZ_H5_LAYOUT] : 0,
                  CLIMZ_H5_NVALUES, CLIMZ_H5_LAYOUT_VERSION);
        return -1;
    }
    unsigned const t = cd[CLIMZ_H5_TYPE];
    if (t != CLIMZ_FLOAT32 && t != CLIMZ_FLOAT64) {
        H5C_ERROR("element type %u is not 1 (float32) or 2 (float64)", t);
        return -1;
    }
    p->type = (climz_type)t;
    p->nt = cd[CLIMZ_H5_NT], p->nz = cd[CLIMZ_H5_NZ], p->ny = cd[CLIMZ_H5_NY], p->nx = cd[CLIMZ_H5_NX];
    if (!p->nt || !p->nz || !p->ny || !p->nx) {
        H5C_ERROR("chunk shape (%zu, %zu, %zu, %zu) has a zero", p->nt, p->nz, p->ny, p->nx);
        return -1;
    }
    if (cd[CLIMZ_H5_MISSING] > CLIMZ_H5_MISS_USER) {
        H5C_ERROR("missing-value word %u is not 0, 1 or 2", cd[CLIMZ_H5_MISSING]);
        return -1;
    }
    p->has_fill = cd[CLIMZ_H5_MISSING] != CLIMZ_H5_MISS_NONE;
    p->fill = climz_h5_get_double(cd + CLIMZ_H5_MISS_VALUE_LO);
    return 0;
}

static size_t elem_size(climz_type t) { return t == CLIMZ_FLOAT64 ? 8 : 4; }

/* ---- can_apply / set_local -------------------------------------------------------------- */

/* The type is IEEE float32 or float64 in this machine's byte order (the filter sees the bytes
 * as stored in the file). 1, or 0 with the problem pushed. */
static int type_ok(hid_t type) {
    if (H5Tget_class(type) != H5T_FLOAT) {
        H5C_ERROR("the dataset's type is not floating point: climz codes float32 and float64 only");
        return 0;
    }
    size_t const size = H5Tget_size(type);
    if (size != 4 && size != 8) {
        H5C_ERROR("the dataset's floats are %zu bytes; climz codes float32 (4) and float64 (8) only", size);
        return 0;
    }
    H5T_order_t const native = H5Tget_order(H5T_NATIVE_FLOAT);
    if (H5Tget_order(type) != native) {
        H5C_ERROR("the dataset's floats are not in this machine's byte order");
        return 0;
    }
    return 1;
}

static htri_t can_apply(hid_t dcpl, hid_t type, hid_t space) {
    (void)space;
    if (!type_ok(type)) return -1;
    if (H5Pget_layout(dcpl) != H5D_CHUNKED) {
        H5C_ERROR("the dataset is not chunked: HDF5 filters work on chunks");
        return -1;
    }
    return 1;
}

static herr_t set_local(hid_t dcpl, hid_t type, hid_t space) {
    (void)space;
    unsigned flags = 0, cd[32] = {0};
    size_t n = 32;
    if (H5Pget_filter_by_id2(dcpl, H5Z_FILTER_CLIMZ, &flags, &n, cd, 0, NULL, NULL) < 0) {
        H5C_ERROR("cannot read the filter's parameters");
        return -1;
    }
    h5c_params p;
    if (check_user(n, cd, &p) < 0 || !type_ok(type)) return -1;
    hsize_t dims[H5S_MAX_RANK];
    int const rank = H5Pget_chunk(dcpl, H5S_MAX_RANK, dims);
    if (rank < 1) {
        H5C_ERROR("the dataset is not chunked: HDF5 filters work on chunks");
        return -1;
    }
    /* (t, z, y, x): x, y from the last two dims, z the third-last of a 4-D chunk, t the rest */
    hsize_t s[4] = {1, 1, 1, 1};
    s[3] = dims[rank - 1];
    if (rank >= 2) s[2] = dims[rank - 2];
    if (rank == 3) s[0] = dims[0];
    if (rank >= 4) {
        s[1] = dims[rank - 3];
        for (int d = 0; d < rank - 3; d++) s[0] *= dims[d];
    }
    for (int k = 0; k < 4; k++)
        if (s[k] > 0xffffffffu) {
            H5C_ERROR("a chunk dim of %llu points is too large", (unsigned long long)s[k]);
            return -1;
        }
    size_t const size = H5Tget_size(type);
    /* what marks missing points: a value the user gave (6 words; kept when a filtered dataset
     * is copied with its 13 words), else the dataset's fill value when one was set (HDF5's
     * default, 0, is an ordinary value) */
    unsigned miss = CLIMZ_H5_MISS_NONE;
    double mval = 0;
    if (n == CLIMZ_H5_NUSER_MISS || (n == CLIMZ_H5_NVALUES && cd[CLIMZ_H5_LAYOUT] == CLIMZ_H5_LAYOUT_VERSION &&
                                     cd[CLIMZ_H5_MISSING] == CLIMZ_H5_MISS_USER)) {
        miss = CLIMZ_H5_MISS_USER;
        mval = climz_h5_get_double(cd + (n == CLIMZ_H5_NUSER_MISS ? CLIMZ_H5_USER_MISS_LO : CLIMZ_H5_MISS_VALUE_LO));
    } else if (n != CLIMZ_H5_NUSER && n != CLIMZ_H5_NVALUES) {
        H5C_ERROR("%zu parameters given; it takes %d (codec, bound mode, bound as two words) or %d (and a missing "
                  "value as two words): see doc/hdf5-filter.md", n, CLIMZ_H5_NUSER, CLIMZ_H5_NUSER_MISS);
        return -1;
    } else {
        H5D_fill_value_t fv = H5D_FILL_VALUE_UNDEFINED;
        if (H5Pfill_value_defined(dcpl, &fv) >= 0 && fv == H5D_FILL_VALUE_USER_DEFINED) {
            unsigned char b[8];
            if (H5Pget_fill_value(dcpl, type, b) < 0) {
                H5C_ERROR("cannot read the dataset's fill value");
                return -1;
            }
            if (size == 8) memcpy(&mval, b, 8);
            else {
                float f;
                memcpy(&f, b, 4);
                mval = f;
            }
            miss = CLIMZ_H5_MISS_FILL;
        }
    }
    if (size == 4 && miss && !isnan(mval) && (double)(float)mval != mval) {
        H5C_ERROR("the missing value %g is not a float32 number, as the dataset's values are", mval);
        return -1;
    }
    cd[CLIMZ_H5_LAYOUT] = CLIMZ_H5_LAYOUT_VERSION;
    cd[CLIMZ_H5_TYPE] = size == 8 ? CLIMZ_FLOAT64 : CLIMZ_FLOAT32;
    cd[CLIMZ_H5_NT] = (unsigned)s[0], cd[CLIMZ_H5_NZ] = (unsigned)s[1];
    cd[CLIMZ_H5_NY] = (unsigned)s[2], cd[CLIMZ_H5_NX] = (unsigned)s[3];
    cd[CLIMZ_H5_MISSING] = miss;
    climz_h5_put_double(cd + CLIMZ_H5_MISS_VALUE_LO, mval);
    if (H5Pmodify_filter(dcpl, H5Z_FILTER_CLIMZ, flags, CLIMZ_H5_NVALUES, cd) < 0) {
        H5C_ERROR("cannot store the filter's parameters");
        return -1;
    }
    return 0;
}

/* ---- the filter --------------------------------------------------------------------------- */

/* The calling thread's climz context, kept from call to call so that its model cache (up to
 * 4 VAEformer models, keyed by SHA-256 and path: src/api/context.c) spares a vaeformer chunk
 * the loading of its model. One context per thread, never shared: the filter holds no mutable
 * state that two threads see. A thread's context is freed when the thread exits (the key's
 * destructor) and the main thread's when the plugin is unloaded or the process ends; after
 * that, and when the key cannot be made, each call uses a context of its own. */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static int ctx_key_ok;          /* written once, under ctx_once */
static atomic_int ctx_key_gone; /* set when the plugin is unloaded */

static void ctx_free_value(void *ctx) { climz_ctx_free(ctx); }
static void ctx_key_make(void) { ctx_key_ok = pthread_key_create(&ctx_key, ctx_free_value) == 0; }

/* Unloading the plugin (HDF5's H5close, dlclose) or the end of the process: the calling
 * thread's context is freed and the key deleted, so that no thread that outlives the plugin
 * calls a destructor that is no longer mapped (their contexts are then not freed). */
__attribute__((destructor)) static void ctx_key_drop(void) {
    pthread_once(&ctx_once, ctx_key_make); /* orders the read of ctx_key_ok */
    if (atomic_exchange(&ctx_key_gone, 1) || !ctx_key_ok) return;
    climz_ctx *ctx = pthread_getspecific(ctx_key);
    pthread_setspecific(ctx_key, NULL);
    climz_ctx_free(ctx);
    pthread_key_delete(ctx_key);
}

/* The context a call works with: the thread's (*owned = 0) or, without one, a new one the
 * caller frees (*owned = 1). Its parameters are set for this call: threads, the bound, the
 * model (CLIMZ_MODEL, or none: the chunk's recorded model). */
static climz_ctx *call_ctx(const h5c_params *p, int *owned) {
    climz_ctx *ctx = NULL;
    *owned = 0;
    pthread_once(&ctx_once, ctx_key_make);
    int const keyed = ctx_key_ok && !atomic_load(&ctx_key_gone);
    if (keyed) ctx = pthread_getspecific(ctx_key);
    if (!ctx) {
        if (!(ctx = climz_ctx_create())) return NULL;
        *owned = !keyed || pthread_setspecific(ctx_key, ctx) != 0;
    }
    const char *th = getenv("CLIMZ_H5_THREADS");
    double const threads = th && *th ? atof(th) : 1;
    if (climz_ctx_set_param(ctx, CLIMZ_P_THREADS, threads) != CLIMZ_OK) climz_ctx_set_param(ctx, CLIMZ_P_THREADS, 1);
    int const rel = p->mode == CLIMZ_H5_RELATIVE;
    climz_ctx_set_param(ctx, CLIMZ_P_MAX_ABS_ERROR, rel ? 0 : p->bound);
    climz_ctx_set_param(ctx, CLIMZ_P_REL_ERROR, rel ? p->bound : 0);
    const char *model = getenv("CLIMZ_MODEL");
    if (climz_ctx_set_model(ctx, model && *model ? model : NULL) != CLIMZ_OK) {
        if (*owned) climz_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

static void ctx_release(climz_ctx *ctx, int owned) {
    if (owned) climz_ctx_free(ctx);
}

static void field_of(const h5c_params *p, void *data, climz_field *f) {
    memset(f, 0, sizeof *f);
    f->type = p->type;
    f->data = data;
    f->nt = p->nt, f->nz = p->nz, f->ny = p->ny, f->nx = p->nx;
    if (p->has_fill) {
        f->flags = CLIMZ_FIELD_FILL;
        f->fill_value = p->fill;
    }
}

static size_t encode(const h5c_params *p, size_t nbytes, size_t *buf_size, void **buf) {
    climz_field f;
    field_of(p, *buf, &f);
    size_t const want = p->nt * p->nz * p->ny * p->nx * elem_size(p->type);
    if (nbytes != want) {
        H5C_ERROR("compressing a chunk of %zu bytes where its shape (%zu, %zu, %zu, %zu) needs %zu", nbytes, p->nt,
                  p->nz, p->ny, p->nx, want);
        return 0;
    }
    int owned;
    climz_ctx *ctx = call_ctx(p, &owned);
    size_t const cap = climz_compress_bound(&f);
    void *out = cap ? H5allocate_memory(cap, 0) : NULL;
    if (!ctx || !out) {
        if (ctx) ctx_release(ctx, owned);
        if (out) H5free_memory(out);
        H5C_ERROR("out of memory for a chunk of %zu bytes", nbytes);
        return 0;
    }
    climz_compress_opts opts = {0};
    opts.codec = codec_names[p->codec];
    size_t written = 0;
    climz_status st = climz_compress(ctx, &f, &opts, out, cap, &written);
    if (st == CLIMZ_ERR_UNSUPPORTED && p->codec == CLIMZ_H5_VAEFORMER) {
        /* a chunk the network cannot code (too small a grid): the residual codec, which the
         * frame records, under the same bound (lossless when none is given) */
        opts.codec = codec_names[CLIMZ_H5_RESIDUAL];
        st = climz_compress(ctx, &f, &opts, out, cap, &written);
    }
    if (st != CLIMZ_OK) {
        H5free_memory(out);
        H5C_ERROR("compressing a chunk of shape (%zu, %zu, %zu, %zu) with %s: %s [%s]", p->nt, p->nz, p->ny, p->nx,
                  opts.codec, climz_ctx_last_error(ctx), climz_status_name(st));
        ctx_release(ctx, owned);
        return 0;
    }
    ctx_release(ctx, owned);
    void *shrunk = H5resize_memory(out, written);
    if (shrunk) out = shrunk;
    H5free_memory(*buf);
    *buf = out;
    *buf_size = shrunk ? written : cap;
    return written;
}

/* One parse of the frame: climz_decompress checks it (CRC, version) and that its shape is the
 * chunk's (CLIMZ_ERR_DIMENSION), so no climz_frame_info first (a second parse of the header,
 * about 15 % of the filter's time on a 49 x 100 chunk). */
static size_t decode(const h5c_params *p, size_t nbytes, size_t *buf_size, void **buf) {
    size_t const want = p->nt * p->nz * p->ny * p->nx * elem_size(p->type);
    int owned;
    climz_ctx *ctx = call_ctx(p, &owned);
    void *out = H5allocate_memory(want, 0);
    if (!ctx || !out) {
        if (ctx) ctx_release(ctx, owned);
        if (out) H5free_memory(out);
        H5C_ERROR("out of memory for a chunk of %zu bytes", want);
        return 0;
    }
    climz_field f;
    field_of(p, out, &f);
    climz_status const st = climz_decompress(ctx, *buf, nbytes, &f);
    if (st != CLIMZ_OK) {
        H5free_memory(out);
        H5C_ERROR("a stored chunk of %zu bytes (shape (%zu, %zu, %zu, %zu)) does not decode: %s [%s]", nbytes, p->nt,
                  p->nz, p->ny, p->nx, climz_ctx_last_error(ctx), climz_status_name(st));
        ctx_release(ctx, owned);
        return 0;
    }
    ctx_release(ctx, owned);
    H5free_memory(*buf);
    *buf = out;
    *buf_size = want;
    return want;
}

static size_t h5z_climz(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes, size_t *buf_size,
                        void **buf) {
    h5c_params p;
    if (parse_all(cd_nelmts, cd_values, &p) < 0) return 0;
    if (flags & H5Z_FLAG_REVERSE) return decode(&p, nbytes, buf_size, buf);
    return encode(&p, nbytes, buf_size, buf);
}

static const H5Z_class2_t climz_class = {
    H5Z_CLASS_T_VERS,
    (H5Z_filter_t)H5Z_FILTER_CLIMZ,
    1, /* encoder present */
    1, /* decoder present */
    H5Z_CLIMZ_NAME,
    can_apply,
    set_local,
    h5z_climz,
};

int climz_h5z_register(void) { return H5Zregister(&climz_class) < 0 ? -1 : 0; }

#ifdef H5Z_CLIMZ_PLUGIN
H5PL_type_t H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }
const void *H5PLget_plugin_info(void) { return &climz_class; }
#endif
