/*
 * residual.h — the error-bounded residual codec (SPEC section 5): one time step of one
 * variable, a (nz, ny, nx) block of float32, coded so that every valid decoded point x'
 * satisfies |x - x'| <= E (E = 0: bit-exact lossless).
 *
 * READ ME FIRST
 *  - The stream records everything the decoder needs (step, predictor, domain, dims); the
 *    decoder takes no parameters. It does NOT record the missing-value map, the external
 *    prediction `pred` or the previous time step `prev`: the caller passes the very same
 *    arrays to res_decode() (prev = the *decoded* previous step, as the encoder saw it).
 *    A stream that needs pred/prev refuses to decode without them (CLIMZ_ERR_INVALID_ARG).
 *  - Missing points (miss[i] != 0) cost nothing and decode as 0.0f.
 *  - The encoder verifies the bound itself, in double, on the values the decoder will
 *    produce (same float code path): points where float rounding would break it are stored
 *    as raw floats. Decoding is deterministic (no fast-math, no FMA contraction: the build
 *    uses -std=c11, for which gcc turns contraction off; single thread).
 *  - nz may be levels, or several time steps stacked: the encoder then also tries 3-D
 *    interpolation, each plane on the decoded plane before, and planes in hierarchical order
 *    on the mean of their decoded neighbours (B-frames). Stacking 12-24 steps of a time
 *    series gives up to 2x the ratio of coding them one by one with `prev` (ERA5 hourly
 *    2 m temperature at E = 1% of the range: 39 vs 21), at the cost of random access.
 *  - Single-threaded and reentrant (no global state). Small blocks (a few thousand points)
 *    pay a fixed cost of ~30 bytes and of the predictor trials.
 */
#ifndef CZ_CODEC_RESIDUAL_H
#define CZ_CODEC_RESIDUAL_H

#include "common/cz_common.h"

typedef struct res_params {
    double max_abs_error; /* E >= 0; 0 = lossless (bit-exact floats) */
    int temporal;         /* 1: `prev` (previous time step, decoded) may be used as a predictor */
} res_params;

/*! res_encode() : codes x (nz*ny*nx floats, C order, x fastest) and appends the stream to out.
 *  miss : NULL or nz*ny*nx codes, 0 = valid point (others ignored and decoded as 0)
 *  pred : NULL or an external prediction of x (e.g. a neural reconstruction), same size
 *  prev : NULL or the previous decoded time step, same size (used only if p->temporal)
 *  decoded : NULL or nz*ny*nx floats that receive exactly what res_decode() will return.
 *  @return CLIMZ_OK; CLIMZ_ERR_EMPTY for a zero-size block; CLIMZ_ERR_INVALID_ARG for a
 *  negative/NaN bound; CLIMZ_ERR_BOUND if a decoded point broke the bound (never expected);
 *  CLIMZ_ERR_ALLOC. On failure out keeps its old size. */
climz_status res_encode(const float *x, const uint8_t *miss, const float *pred, const float *prev,
                        size_t nz, size_t ny, size_t nx, const res_params *p, cz_buf *out,
                        float *decoded);

/*! res_decode() : decodes a stream made by res_encode() with the same miss/pred/prev and dims
 *  into out (nz*ny*nx floats). Never reads outside in[0, size).
 *  @return CLIMZ_OK; CLIMZ_ERR_CORRUPT / CLIMZ_ERR_TRUNCATED / CLIMZ_ERR_VERSION for a bad
 *  stream; CLIMZ_ERR_DIMENSION if the stream was made for other dims; CLIMZ_ERR_INVALID_ARG if
 *  the stream needs pred or prev and it is NULL; CLIMZ_ERR_EMPTY for zero size. */
climz_status res_decode(const uint8_t *in, size_t size, const uint8_t *miss, const float *pred,
                        const float *prev, size_t nz, size_t ny, size_t nx, float *out);

/* ---- introspection and tuning (tests, benchmarks, `climz info`) ---- */

typedef enum res_mode {
    RES_MODE_EMPTY = 0,    /* no valid point: nothing but the header */
    RES_MODE_LOSSY = 1,    /* prediction + quantisation with bin width 2E */
    RES_MODE_LOSSLESS = 2, /* float Lorenzo, residuals in ulps */
    RES_MODE_ZSTD = 3,     /* byte-shuffled floats (or ulp residuals) through zstd */
    RES_MODE_PLATEAU = 4,  /* LOSSY plus a map of the points that decode to one plateau value
                              (stream version 2) */
} res_mode;

typedef enum res_predictor {
    RES_PRED_AUTO = 0,    /* encoder chooses by trial on a sample (the default) */
    RES_PRED_ZERO = 1,    /* the reference field itself (pred or prev); 0 without one */
    RES_PRED_LORENZO = 2, /* 3-D Lorenzo on decoded values */
    RES_PRED_LINEAR = 3,  /* multilevel linear interpolation */
    RES_PRED_CUBIC = 4,   /* multilevel cubic interpolation */
} res_predictor;

typedef enum res_domain {
    RES_DOM_AUTO = 0, /* encoder chooses */
    RES_DOM_X = 1,    /* predict x itself */
    RES_DOM_PRED = 2, /* predict x - pred */
    RES_DOM_PREV = 3, /* predict x - prev */
} res_domain;

/* Forced choices and knobs for tests and tuning; zero-initialised = defaults. */
typedef struct res_options {
    res_predictor predictor; /* RES_PRED_AUTO: by trial */
    res_domain domain;       /* RES_DOM_AUTO: by trial */
    int order;               /* interpolation: 0 auto, 1 3-D z-y-x, 2 3-D x-y-z, 3 each z plane
                                apart (2-D), 4 each z plane coding x - decoded plane before,
                                5 planes in hierarchical order (0, then odd multiples of
                                2^L, ..., 2, 1), each coding x - mean of the decoded planes
                                at -s and +s */
    int lossless_mode;       /* E = 0 only: 0 auto (smallest), RES_MODE_LOSSLESS, RES_MODE_ZSTD */
    double level_alpha;      /* coarse levels use bin width 2E / min(alpha^(l-1), beta); */
    double level_beta;       /*   0 = defaults; alpha = 1 turns it off */
    int ctx_scheme;          /* 0 auto (by block size), 1..3 = context scheme 0..2 */
    int plateau;             /* lossy: 0 auto (plateau mode where smaller), 1 never, 2 always
                                when some valid point is within E of the min or max */
} res_options;

/* res_encode() with options (NULL = defaults). */
climz_status res_encode_ex(const float *x, const uint8_t *miss, const float *pred,
                           const float *prev, size_t nz, size_t ny, size_t nx,
                           const res_params *p, const res_options *opt, cz_buf *out,
                           float *decoded);

typedef struct res_info {
    res_mode mode;
    res_predictor predictor;
    res_domain domain;
    int order;           /* interpolation only: as res_options.order (1..5) */
    size_t nz, ny, nx;
    float step;          /* bin width of the finest level (lossy) */
    size_t n_unpred;     /* points stored as raw floats (lossy) */
    size_t entropy_bytes; /* size of the coded-bins stream (with the plateau map) */
    float plateau;       /* RES_MODE_PLATEAU: the value of the map's points */
} res_info;

/*! res_stream_info() : parses the header of a stream. @return CLIMZ_OK or CORRUPT/TRUNCATED. */
climz_status res_stream_info(const uint8_t *in, size_t size, res_info *info);

/*! res_time_block() : how many consecutive time steps of `plane` points each the file driver
 *  stacks into one stream (planes of a block), out of nt: enough for about 64 Ki points, at
 *  most 32 steps. Small grids gain a lot: a stream has a fixed cost, and the predictor also
 *  works across the stacked steps. Reading one time step decodes its block. */
size_t res_time_block(size_t plane, size_t nt);

#endif /* CZ_CODEC_RESIDUAL_H */
