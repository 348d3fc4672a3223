/*
 * res_internal.h — shared by the residual codec's files (residual.c: stream format and
 * predictor choice; res_kernels.c: prediction + quantisation traversals; res_lossless.c).
 *
 * READ ME FIRST
 *  - Encoder and decoder run the *same* traversal function (flag `dec`), so the decoded
 *    value of every point is computed by one piece of code on both sides; that is what
 *    makes the encoder's own bound check trustworthy.
 *  - The "domain" is what the predictor sees: w = x (no reference) or w = x - ref with ref
 *    = pred or prev. Decoded point: x' = ref + w'; interpolation: w' = prediction + q * step
 *    (float), Lorenzo/zero: w' = v * step with the integer v = prediction + q.
 *  - Contexts for the bins come only from magnitudes of bins decoded earlier (mag[]), plus
 *    the interpolation level, so the decoder derives them identically.
 */
#ifndef CZ_CODEC_RES_INTERNAL_H
#define CZ_CODEC_RES_INTERNAL_H

#include "residual/residual.h"
#include "entropy/adaptive.h"

#define RES_QMAX 32767         /* largest |bin|; larger errors are stored raw */
#define RES_UNPRED (-32768)    /* the bin that marks a raw (unpredictable) point */
#define RES_MAG_MAX 15         /* mag[] saturates here; raw points count as RES_MAG_MAX */
#define RES_MISS_PLATEAU 2     /* plateau mode: miss code of the map's points (1: the caller's) */
#define RES_MAG_PLATEAU 2      /* ... and their mag[] (chosen on fice.nc: 2-4 code 2.6 % smaller
                                  than 0 there) */
#define RES_MAX_LEVELS 64
#define RES_NSCHEME 3          /* context schemes: fewer contexts learn faster on small blocks */
#define RES_VMAX (1 << 30)     /* Lorenzo: |x / step| beyond this is stored raw */
#define RES_NCTX_INTERP 108    /* most contexts of any scheme (interpolation, scheme 0) */
#define RES_NCTX_LOSSLESS 34

/* Bin statistics of a trial run (encoder's predictor choice), in the entropy coder's own
 * alphabet: zigzag values below ENT_A_DIRECT are symbols, larger ones a magnitude class
 * (symbol ENT_A_DIRECT + k) plus k raw bits. */
#define RES_HSYM (ENT_A_DIRECT + 32)
typedef struct res_hist {
    uint32_t c[RES_NCTX_INTERP][RES_HSYM];
    double extra; /* bits outside the histograms: raw bits of classes and raw values */
} res_hist;

typedef struct res_fix {
    size_t i;
    float v;
} res_fix;

typedef struct res_run {
    size_t n0, n1, n2;       /* dims (nz, ny, nx), x fastest */
    const uint8_t *miss;     /* NULL: every point valid */
    int pcode;               /* miss code of plateau points (RES_MISS_PLATEAU), or -1 */
    const float *base;       /* reference field of the domain, or NULL (domain x) */
    int predictor;           /* RES_PRED_ZERO / LORENZO / LINEAR / CUBIC */
    int order;               /* interpolation: 1: passes z, y, x; 2: x, y, z */
    int planar;              /* interpolation: each z plane on its own (no pass along z) */
    int scheme;              /* context scheme 0 (most contexts) .. RES_NSCHEME - 1 (fewest) */
    uint8_t cta[64], cte[64]; /* context buckets of the two neighbour-magnitude sums */
    int cne, cgroup, nlg;    /* buckets of cte; contexts per level group; level groups */
    int pdiff;               /* planar: 1: plane k > 0 predicts x - (decoded plane k-1); 2: planes
                                in hierarchical z order, each predicting x - (mean of the decoded
                                planes k -+ s, or plane k - s at the end) */
    float *zref;             /* pdiff 2: the reference plane (n1 * n2) */
    float steps[RES_MAX_LEVELS + 1]; /* bin width of level l (1 = finest; Lorenzo uses [1]) */
    float *out;              /* n: decoded values */
    float *w;                /* n: interpolation: decoded values in the predictor domain; == out
                                when there is no reference field, then missing points hold their
                                prediction and non-finite raw values a finite stand-in until the
                                end of res_run_lossy() */
    int32_t *v;              /* n: Lorenzo/zero: decoded values as integer multiples of the step */
    uint8_t *mag;            /* n: min(|q|, RES_MAG_MAX), 0 for missing points */
    float *lpd;              /* interpolation: predictions of one line (lcap) */
    int32_t *lq;             /* interpolation: bins of one line */
    size_t lcap;
    res_fix *fix;            /* (w == out) raw points whose value is not finite */
    size_t nfix, fix_cap;
    /* encoder */
    const float *x;          /* original values */
    double E;                /* the bound, checked in double */
    ent_aenc *enc;           /* bins go here, or ... */
    res_hist *hist;          /* ... into these histograms (trial) */
    float *raw;              /* unpredictable values in coding order */
    size_t nraw, raw_cap;
    /* decoder */
    ent_adec *dec;
    const uint8_t *rawp;     /* raw floats, LE */
    size_t raw_left;         /* how many are left */
    climz_status err;        /* first failure */
} res_run;

/* number of interpolation levels for dims n: smallest L with 2^L >= max(n) */
int res_levels(size_t n0, size_t n1, size_t n2);
/* Bin widths per level: steps[l] = step0 / min(alpha^(l-1), beta), float arithmetic. */
void res_level_steps(float step0, int alpha16, int beta, int L, float *steps);

/* Runs the lossy traversal of R->predictor over the block. Encoder (dec = 0): fills
 * w/out/mag/raw and sends the bins to R->enc or R->hist. Decoder (dec = 1): pulls bins from
 * R->dec and raw values from R->rawp. Then fixes up out (missing points = 0, raw values).
 * @return R->err. */
climz_status res_run_lossy(res_run *R, int dec);
/* Context tables of scheme for predictor; @return the number of contexts. */
int res_ctx_init(res_run *R, int predictor, int scheme);
/* Scheme the encoder uses for a block of n points (a function of n only). */
int res_scheme_for(size_t n);

/* Lossless (E = 0) coding, res_lossless.c. base: reference or NULL. Encoder zstd_mode: 0 =
 * class coder payload (RES_MODE_LOSSLESS), 1 = zstd of the ulp residuals, 2 = zstd of the
 * floats (both RES_MODE_ZSTD). Decoder: 0 = class coder, else zstd (variant in the payload).
 * The caller checked n0*n1*n2*8 for overflow. */
climz_status res_lossless_encode(const float *x, const uint8_t *miss, const float *base,
                                 size_t n0, size_t n1, size_t n2, int zstd_mode, cz_buf *out);
climz_status res_lossless_decode(cz_rd *rd, const uint8_t *miss, const float *base, size_t n0,
                                 size_t n1, size_t n2, int zstd_mode, float *out);

/* Plateau map (RES_MODE_PLATEAU), res_plateau.c. pmap: N bytes, 1 = the point decodes to
 * the plateau value c. */
/* The better of c = min and c = max of the valid values; @return how many valid points lie
 * within E of it (0 if there is no finite valid value). */
size_t res_plateau_pick(const float *x, const uint8_t *miss, size_t N, double E, float *c);
/* pmap[i] = 1 for the valid points within E of c (in double), else 0. */
void res_plateau_map(const float *x, const uint8_t *miss, size_t N, double E, float c,
                     uint8_t *pmap);
/* Codes the map bits of the valid points into enc (before the bins). */
climz_status res_plateau_put(ent_aenc *enc, const uint8_t *pmap, const uint8_t *miss, size_t n0,
                             size_t n1, size_t n2);
/* Decodes them into pmap (0 for missing points). */
climz_status res_plateau_get(ent_adec *dec, uint8_t *pmap, const uint8_t *miss, size_t n0,
                             size_t n1, size_t n2);

#endif /* CZ_CODEC_RES_INTERNAL_H */
