/*
 * inr.h — CA-INR codec core (SPEC section 4): one variable's field (nt, nz, ny, nx) is coded
 * as a small MLP overfitted to it at compression time, optionally fed with co-located
 * context fields (surface height, land fraction, the field's own climatology). The stream
 * holds the quantised, entropy-coded weights and everything else the decoder needs.
 *
 * READ ME FIRST
 *  - The context VALUES are not in the stream. The caller stores them elsewhere (in the
 *    .clz, counted in the ratio, or as an external file named by its hash) and passes the
 *    very same arrays to inr_decode(). The stream records the number of channels, their
 *    names and layouts and a CRC-32C of each one's values: a decode with other contexts is
 *    refused (CLIMZ_ERR_MODEL_MISMATCH), never decoded as garbage. The same holds for the
 *    latitudes/longitudes (a CRC of the grid is stored). Contexts are raw values: the codec
 *    scales each to [-1, 1] itself (inr_context_scale), from the values both sides hold.
 *  - Decoding is bit-exact across thread counts and across IEEE-754 machines: fixed-order
 *    matrix products (nn_gemm_det), and sin/cos/GELU/normal draws from portable float and
 *    double arithmetic in this module (no libm, no BLAS, no FMA contraction). The encoder's
 *    `decoded` output is made by running the decoder on the stream it just wrote, so it
 *    equals inr_decode() bit for bit. Training uses BLAS and is reproducible for a seed on
 *    one machine and thread count, not across them.
 *  - Weights: per-tensor uniform quantisation (max-abs scale). The bulk of the weights gets
 *    the base width b; small, sensitive tensors (first layer, biases, the skip) get a few
 *    more bits, from measured sensitivities (see inr_encode). Entropy coding: the smaller of
 *    the adaptive rANS model and per-tensor Gaussian/Laplace tables (src/entropy).
 *  - Missing points (f->miss[i] != 0) are excluded from the fit; the decoder has no missing
 *    map and returns the network's value there too: the caller restores the missing points.
 *  - Network input per point: [the point on the unit sphere (3), time, level (each scaled to
 *    [-1, 1], 0 for a single step/level), the nctx scaled contexts, sin and cos of the F
 *    Gaussian Fourier features 2 pi B c of the 5 coordinates]. The output is the normalised
 *    value ((x - mean) / std), plus a linear "skip" term over the coordinates and contexts
 *    (initialised by least squares, so a climatology context is used directly).
 *  - Architectures: INR_SIREN: `depth` sine layers sin(omega0 (W h + b)) of `width` units
 *    (Sitzmann et al. initialisation), then a linear output. INR_RESGELU: a linear input
 *    layer, `depth` residual blocks h += W2 gelu(W1 h + b1) + b2 (exact GELU), then a linear
 *    output (Huang & Hoefler 2023).
 */
#ifndef CZ_INR_H
#define CZ_INR_H

#include "common/cz_common.h"
#include "io/dataset.h"

enum { INR_SIREN = 1, INR_RESGELU = 2 };

#define INR_MAX_CTX 16       /* context channels */
#define INR_MAX_WIDTH 1024
#define INR_MAX_DEPTH 64
#define INR_MAX_FOURIER 1024
#define INR_NAME_MAX 63      /* bytes of a context name, without the NUL */
#define INR_BITS_MIN 2
#define INR_BITS_MAX 16
#define INR_NCOORD 5         /* x, y, z on the unit sphere, time, level */

typedef struct inr_config {
    int arch;              /* INR_SIREN or INR_RESGELU */
    int width;             /* hidden units; 0 = the widest that fits target_ratio (else 64) */
    int depth;             /* SIREN: sine layers; RESGELU: residual blocks */
    int n_fourier;         /* Gaussian Fourier features F (2F inputs); 0 = none */
    float fourier_sigma;   /* std of the Fourier frequencies (cycles per unit coordinate) */
    float omega0;          /* SIREN frequency factor (30 in the paper) */
    int iters;             /* AdamW steps of the fit */
    int batch;             /* random valid grid points per step */
    float lr;              /* peak learning rate (linear warm-up, then cosine to lr / 20);
                              0 = auto: SIREN 0.2 / width in [5e-4, 5e-3], RESGELU 3e-3 */
    int warmup;            /* warm-up steps; < 0 = iters / 20 */
    uint64_t seed;         /* initialisation, Fourier matrix, mini-batches */
    int weight_bits;       /* uniform bit width b of the weights, 0 = auto (see inr_encode) */
    double target_ratio;   /* float32 bytes / stream bytes to reach; 0 = none */
    double target_psnr;    /* dB, 20 log10(range / RMSE) over valid points; 0 = none */
    double target_max_error; /* max |x - x'| on valid points; 0 = none */
    int lat_weighted;      /* 1: loss weighted by cos(latitude) */
    int qat_iters;         /* quantisation-aware fine-tuning steps per round; -1 = iters / 4
                              (at least 50), 0 = none */
} inr_config;

/*! inr_config_default() : SIREN, width 0 (auto), depth 3, no Fourier features (sigma 1 when
 *  set), omega0 30, 2000 iterations, batch 2048, lr auto, seed 1, bits auto, no targets,
 *  latitude-weighted loss, fine-tuning iters / 4. Measured on CMIP5 tas (bench/inr). */
void inr_config_default(inr_config *c);

typedef struct inr_context {
    const float *values; /* (per_time ? nt : 1) x (per_level ? nz : 1) x ny x nx; NaN/inf =
                            unknown (scaled to 0) */
    int per_time;        /* 1: one map per time step */
    int per_level;       /* 1: one map per level (e.g. a climatology from inr_climatology) */
    const char *name;    /* recorded in the stream, at most INR_NAME_MAX bytes; NULL = "" */
} inr_context;

/* Progress of a fit: iteration (1-based), total iterations, the running training loss
 * (weighted MSE in normalised units), the PSNR it implies (dB), seconds left (estimate). */
typedef void (*inr_progress_fn)(void *user, int iter, int iters, double loss, double psnr,
                                double eta_s);

/* What inr_encode() did (all errors over valid points, decoded vs original). */
typedef struct inr_stats {
    int arch, width, depth, n_fourier;
    int bits;              /* weight bit width chosen */
    int iters_run;         /* < iters when a target stopped the fit early */
    int target_met;        /* 1 when every target that was set is met (1 if none set) */
    size_t n_params;
    size_t stream_bytes;   /* bytes appended to out */
    double psnr, rmse, max_abs_error; /* of the decoded field */
    double psnr_float;     /* of the unquantised network (fast path) */
    double fit_s, quant_s, total_s;   /* seconds: fitting, bit-width search, everything */
} inr_stats;

/*! inr_encode() : fits the network to f (values, miss, lat, lon; lat/lon NULL = a regular
 *  global grid, rows south to north), quantises and codes it, and appends the stream to out.
 *  ctx[0..nctx) : context channels (nctx <= INR_MAX_CTX; ctx may be NULL when nctx = 0).
 *  Steps: least-squares start of the skip; cfg->iters AdamW steps on random mini-batches
 *  (stopping early once a PSNR / max-error target is met with a margin); extra bits per
 *  tensor over the base width (each tensor quantised alone at 6 bits gives its sensitivity
 *  s_t; b_t - b = log2((s_t/n_t) / median) / 2, the Lagrangian optimum of MSE + rate); the
 *  base weight bit width b; then quantisation-aware fine-tuning at b (cfg->qat_iters steps, straight-through), up
 *  to 3 rounds that move b down when the result outgrows a ratio target or up when it misses
 *  an error target. b = cfg->weight_bits when set; else b is tried from low to high on the
 *  float weights: with a PSNR / max-error target, the smallest b that meets it (allowing the
 *  1 dB the fine-tuning typically wins back); with a ratio target only, the largest b that
 *  fits (stopping once b no longer helps); with neither, the smallest b within 1 dB of the
 *  unquantised network (0.1 dB without fine-tuning). A ratio target always wins: b never
 *  exceeds what fits (the smallest b when nothing fits). stats->target_met tells whether
 *  every target set was met. Training runs one parallel region per step (a slice of the
 *  batch per thread, gradients summed in thread order); OpenBLAS is set to 1 thread for
 *  the duration of the call and restored after.
 *  progress, user : optional callback (NULL allowed), called every ~1 % of the steps of the
 *  fit and of each fine-tuning round (which counts its own steps).
 *  decoded : NULL or nt*nz*ny*nx floats, receives exactly what inr_decode() returns.
 *  stats : NULL or filled.
 *  @return CLIMZ_OK; CLIMZ_ERR_INVALID_ARG (bad config or context, a valid value that is not
 *  finite), CLIMZ_ERR_EMPTY (no valid point), CLIMZ_ERR_UNSUPPORTED (a dimension above
 *  2^32-1), CLIMZ_ERR_ALLOC, CLIMZ_ERR_GENERIC (the fit diverged to NaN). out keeps its old
 *  size on failure. */
climz_status inr_encode(const cz_field *f, const inr_context *ctx, int nctx,
                        const inr_config *cfg, inr_progress_fn progress, void *user,
                        cz_buf *out, float *decoded, inr_stats *stats);

/*! inr_decode() : evaluates the coded network on every grid point.
 *  in[0..size) : exactly one stream from inr_encode(); ctx/nctx : the encoder's contexts;
 *  nt, nz, ny, nx, lat, lon : the field's shape and grid, as given to the encoder.
 *  out : nt*nz*ny*nx floats.
 *  @return CLIMZ_OK; CLIMZ_ERR_CORRUPT / CLIMZ_ERR_TRUNCATED / CLIMZ_ERR_VERSION for a bad
 *  stream; CLIMZ_ERR_DIMENSION for other dims; CLIMZ_ERR_MODEL_MISMATCH for another number
 *  of contexts, other names, layouts or values, or another grid; CLIMZ_ERR_ALLOC. */
climz_status inr_decode(const uint8_t *in, size_t size, const inr_context *ctx, int nctx,
                        size_t nt, size_t nz, size_t ny, size_t nx, const double *lat,
                        const double *lon, float *out);

/*! inr_decode_times() : the same for time steps [t0, t0 + count) only (random access):
 *  out has count*nz*ny*nx floats, identical to that slice of inr_decode()'s output.
 *  Per-time contexts are still the whole nt steps. CLIMZ_ERR_INVALID_ARG for a bad range. */
climz_status inr_decode_times(const uint8_t *in, size_t size, const inr_context *ctx, int nctx,
                              size_t nt, size_t nz, size_t ny, size_t nx, const double *lat,
                              const double *lon, size_t t0, size_t count, float *out);

/* What a stream holds (for `climz info`). */
typedef struct inr_info {
    int arch, width, depth, n_fourier, bits, nctx;
    float fourier_sigma, omega0;
    size_t nt, nz, ny, nx;
    size_t n_params;
    char ctx_name[INR_MAX_CTX][INR_NAME_MAX + 1];
    int ctx_per_time[INR_MAX_CTX], ctx_per_level[INR_MAX_CTX];
} inr_info;

/*! inr_stream_info() : parses (and CRC-checks) a stream without decoding the weights.
 *  @return CLIMZ_OK, CLIMZ_ERR_CORRUPT, CLIMZ_ERR_TRUNCATED or CLIMZ_ERR_VERSION. */
climz_status inr_stream_info(const uint8_t *in, size_t size, inr_info *info);

/*! inr_context_scale() : dst[i] = 2 (src[i] - lo) / (hi - lo) - 1 in [-1, 1], lo/hi the min
 *  and max of src over points with miss == NULL or miss[i] == 0 and a finite value; those
 *  other points get 0, and a constant field gives 0 everywhere. Computed in double from
 *  float inputs: the same bits on every machine. dst may equal src.
 *  @return CLIMZ_OK or CLIMZ_ERR_INVALID_ARG (NULL pointer). */
climz_status inr_context_scale(float *dst, const float *src, const uint8_t *miss, size_t n);

/*! inr_climatology() : the time mean of f at each (z, y, x) over valid steps, clim has
 *  nz*ny*nx floats (a per_level context). A point valid at no step gets the mean of the
 *  climatology over the points that have one (so that it does not stretch the scaling).
 *  @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG, CLIMZ_ERR_EMPTY (no valid point). */
climz_status inr_climatology(const cz_field *f, float *clim);

/* ---- lower-level pieces, exposed for tests and benchmarks -------------------------------- */

/*! inr_quantize() : q[i] = round(w[i] / step) with step = max|w| / (2^(bits-1) - 1) (0 for an
 *  all-zero tensor), so |q| <= 2^(bits-1) - 1 and |w - q step| <= step / 2.
 *  @return the step (>= 0). bits in [INR_BITS_MIN, INR_BITS_MAX]. */
float inr_quantize(int32_t *q, const float *w, size_t n, int bits);

/* Portable (FMA-free; no libm but the exact fmod) sine and cosine in double, ~1e-16 error
 * for |x| < 2^19 (beyond that x is first reduced by fmod(x, 2 pi)). */
double inr_det_sin(double x);
double inr_det_cos(double x);

#endif /* CZ_INR_H */
