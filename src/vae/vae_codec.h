/*
 * vae_codec.h — the entropy-coding side of the VAEformer (SPEC section 3): the quantised
 * CDF tables kept in the model file, and the coder of one sample (one normalised image
 * (C, H, W)) into a z stream and a y stream and back. The file-level codec
 * (src/vae/vae_group.c, behind src/api/codec_vaeformer.c) wraps these streams into .clz chunks.
 *
 * READ ME FIRST
 *  - Tables live in the model file as extra tensors (vae.h), written by
 *    vae_model_build_tables() at the end of phase 2:
 *      extra.gauss_tables  U8   the 64 Gaussian-conditional tables (ent_gauss_tables_serialize)
 *      extra.z_tables      U8   one table per channel of z (ent_factorized_serialize)
 *      extra.z_medians     F32  (Lz) the medians the z tables were built around
 *    Encoder and decoder use the stored integers only: the factorised prior's pmf comes from
 *    floating-point network code, so building the tables again on another machine could
 *    give other integers. A model without tables is refused (CLIMZ_ERR_UNSUPPORTED).
 *  - z symbols: s = round(z - median_c) (half to even), z_hat = s + median_c; channel c of
 *    z covers s in [-ceil(median - q_lo), ceil(q_hi - median)] (CompressAI's pmf range,
 *    capped at VAE_Z_MAX_HALF each side); anything outside escapes, so any value codes.
 *  - y symbols: s = round(y - mean) with (scale, mean) = h_s(z_hat), table index
 *    ent_gauss_tables_index(scale), y_hat = s + mean. h_s runs in deterministic mode
 *    (vae.h), so the index map is bit-identical on every machine and thread count; its
 *    CRC-32C travels with the stream and the decoder refuses a map that differs
 *    (CLIMZ_ERR_DETERMINISM) instead of decoding garbage.
 *  - x_hat = g_s(y_hat). vae_sample_encode() returns exactly what vae_sample_decode() will
 *    (it runs the decoder's path). With det_decode = 1, g_s also runs in deterministic mode,
 *    so x_hat is bit-identical on every machine (needed when an error-bounded residual
 *    stage is coded against it); with 0 it uses the fast kernels (OpenBLAS), identical for
 *    any thread count on one machine but not guaranteed across machines.
 *  - Deterministic mode is the calling thread's (nn.h): threads with a coder each may code
 *    at once; OpenMP workers that code samples take the mode of the thread that forked them.
 */
#ifndef CZ_VAE_CODEC_H
#define CZ_VAE_CODEC_H

#include "entropy/factorized.h"
#include "entropy/gaussian.h"
#include "vae/vae.h"

#define VAE_EXTRA_GAUSS "gauss_tables"
#define VAE_EXTRA_ZTAB "z_tables"
#define VAE_EXTRA_ZMED "z_medians"
#define VAE_Z_MAX_HALF 2048 /* z table range cap each side of the median */
#define VAE_CDF_PREC 16

/*! vae_model_build_tables() : quantises the Gaussian-conditional tables and the factorised
 *  prior of z (current quantiles and weights) and stores them in m as the extra tensors
 *  above (replacing older ones). Call after the last change to the "entropy"/"aux" groups,
 *  before vae_model_save(). @return CLIMZ_OK, CLIMZ_ERR_ALLOC, CLIMZ_ERR_INVALID_ARG (a
 *  prior whose quantiles are not finite). */
climz_status vae_model_build_tables(vae_model *m);
/* 1 when m carries all three table tensors. */
int vae_model_has_tables(const vae_model *m);

/* A model with its tables deserialised, ready to code samples. */
typedef struct vae_coder {
    const vae_model *m;     /* borrowed */
    ent_gauss_tables *gauss;
    ent_factorized *zt;
    float *zmed;            /* (Lz) */
    int32_t *gain_q;        /* (VAE_GAIN_ANCHORS, L) the rate gains in 1/64 octaves; NULL: none */
    int det_decode;         /* 1: g_s in deterministic mode (see READ ME FIRST) */
} vae_coder;

/*! vae_coder_init() : reads the tables (and any rate gains) of m (which must outlive c).
 *  @return CLIMZ_OK; CLIMZ_ERR_UNSUPPORTED (no tables: "run climz finetune"),
 *  CLIMZ_ERR_CORRUPT / CHECKSUM / TRUNCATED (damaged tables; a gain not finite or beyond
 *  VAE_GAIN_MAX), CLIMZ_ERR_ALLOC. */
climz_status vae_coder_init(vae_coder *c, const vae_model *m, int det_decode);
void vae_coder_release(vae_coder *c); /* zeroed struct allowed */

/* Sizes and timings of one coded sample (for `climz info` and the benchmarks). */
typedef struct vae_sample_info {
    size_t h, w, hz, wz;       /* latent and hyper-latent grids */
    size_t y_bytes, z_bytes;   /* stream sizes (vae_sample_*; a job's streams may be shared) */
    size_t y_escapes;          /* y symbols outside their table's range */
    double t_analysis;         /* seconds in g_a + h_a */
    double t_hyper;            /* seconds in h_s */
    double t_entropy;          /* seconds in rANS coding */
    double t_synthesis;        /* seconds in g_s */
} vae_sample_info;

/*! vae_sample_encode() : codes one image.
 *  x      : (C, H, W) normalised, missing points filled (0), C = cfg.in_channels
 *  zs, ys : the z and y streams are appended
 *  idx_crc: CRC-32C of the y scale-index map (L*h*w bytes)
 *  x_hat  : (C, H, W) normalised reconstruction, exactly what vae_sample_decode() gives
 *  info   : NULL or filled
 *  @return CLIMZ_OK, CLIMZ_ERR_DIMENSION, CLIMZ_ERR_ALLOC, CLIMZ_ERR_INVALID_ARG (a latent
 *  that is not finite: input not normalised or not filled). */
climz_status vae_sample_encode(const vae_coder *c, const float *x, size_t H, size_t W, cz_buf *zs,
                               cz_buf *ys, uint32_t *idx_crc, float *x_hat, vae_sample_info *info);

/*! vae_sample_decode() : decodes the streams zs[0..zn), ys[0..yn) of one (H, W) image into
 *  x_hat (C, H, W), normalised. Never reads outside the streams.
 *  @return CLIMZ_OK; CLIMZ_ERR_CORRUPT / TRUNCATED (a damaged stream);
 *  CLIMZ_ERR_DETERMINISM (the scale-index map differs from the encoder's: other model
 *  tables, or h_s not reproducible here); CLIMZ_ERR_DIMENSION, CLIMZ_ERR_ALLOC. */
climz_status vae_sample_decode(const vae_coder *c, const uint8_t *zs, size_t zn, const uint8_t *ys,
                               size_t yn, uint32_t idx_crc, size_t H, size_t W, float *x_hat,
                               vae_sample_info *info);

/* ---- the same in stages, for coding many samples at once ----------------------------------
 * vae_sample_encode() = analyse + hyper + quantise_y + synthesis, then vae_jobs_encode_z and
 * _y on the one job; vae_sample_decode() = read_z + hyper (+ CRC check) + read_y + synthesis.
 * A caller with many small samples runs the stages of different jobs in parallel (each job
 * is independent) except h_s (which switches deterministic mode on and back) and the
 * reading of a stream shared by several jobs: one job after the other. The z (or y) symbols
 * of several jobs may form one stream (vae_jobs_encode_*, in the order the decoder reads
 * them with vae_job_read_*): short streams pay the rANS states (16 bytes) once. The
 * synthesis runs g_s in the mode that is set when it is called: the caller sets
 * deterministic mode around it when the coder's det_decode asks for it (vae_sample_*() do
 * it themselves). */
typedef struct vae_job vae_job;

/*! vae_job_create() : buffers for one (H, W) sample of c's model, at rate level 0. @return CLIMZ_OK,
 *  CLIMZ_ERR_DIMENSION, CLIMZ_ERR_ALLOC. */
climz_status vae_job_create(vae_job **j, const vae_coder *c, size_t H, size_t W);
void vae_job_free(vae_job *j); /* NULL allowed */
/* stage 1 of encoding: y = g_a(x), z = h_a(y), z quantised (its symbols kept) */
climz_status vae_job_analyse(vae_job *j, const float *x);
/* the estimated bits of the job's z symbols, from the tables' integer frequencies */
double vae_job_z_bits(const vae_job *j);
/* stage 1 of decoding: the job's z symbols, the next ones of the stream d */
climz_status vae_job_read_z(vae_job *j, ent_dec *d);
/* stage 2: (scale, mean) = h_s(z_hat), scale-index map; *idx_crc = its CRC-32C */
climz_status vae_job_hyper(vae_job *j, uint32_t *idx_crc);
/*! vae_job_refine() : optional, before stage 3 of encoding (after any prediction): moves y
 *  so that, quantised, it lowers lambda * 255^2 * MSE(g_s(y_hat), x) + bits / value under the
 *  entropy model it will be coded with (Adam, iters steps, straight-through rounding; the
 *  best iterate is kept, so the loss never rises). The decoder is unchanged: only the
 *  encoder's choice of symbols moves. x: the job's normalised input (C, H, W), miss: nonzero
 *  where a point is missing (or NULL). *gain (may be NULL): the relative fall of the loss.
 *  @return CLIMZ_OK, CLIMZ_ERR_ALLOC. */
climz_status vae_job_refine(vae_job *j, const float *x, const uint8_t *miss, int iters, double lambda, double *gain);
/* stage 3 of encoding: y quantised against its coding model (symbols kept); y becomes y_hat */
climz_status vae_job_quantise_y(vae_job *j);
/* stage 3 of decoding: the job's y symbols, the next ones of the stream d, into y_hat */
climz_status vae_job_read_y(vae_job *j, ent_dec *d);
/* stage 4 of n jobs of one image size in one batch (vae_decode_latent): x_hat[k] (C, H, W)
 * = g_s(y_hat of jobs[k]), the same as each alone */
climz_status vae_jobs_synthesis(vae_job *const *jobs, size_t n, float *const *x_hat);
/*! vae_jobs_encode_z(), vae_jobs_encode_y() : appends one stream of the z (after stage 1)
 *  or y (after stage 3) symbols of jobs[0..n), in that order, to out. @return CLIMZ_OK,
 *  CLIMZ_ERR_ALLOC. */
climz_status vae_jobs_encode_z(vae_job *const *jobs, size_t n, cz_buf *out);
climz_status vae_jobs_encode_y(vae_job *const *jobs, size_t n, cz_buf *out);
/* sizes and timings so far */
const vae_sample_info *vae_job_info(const vae_job *j);

/* ---- prediction of y from the step before or the level below (between stages 2 and 3) ---
 * Consecutive time steps of a field have similar latents. A step may code y against a
 * prediction from the previous step's y_hat instead of the hyper-prior's mean alone: per
 * latent channel, a one-byte code (w, k) gives
 *     mean' = mean + w * (y_hat_prev - mean),  w = code / 16 / 4  in {0, 1/4, 1/2, 3/4, 1}
 *     idx'  = clamp(idx - k, 0, 63),           k = code % 16 - 3 in {-3 .. 12}
 * (a table index lower by k is a scale (256/0.11)^(-k/63) ~ 1.13^-k times the hyper-prior's:
 * the difference to the prediction is narrower than y around its mean). Only the mean
 * depends on y_hat_prev; the table indexes, and with them the entropy decoding, come from the
 * step's own h_s, so random access needs the previous steps' y symbols but never their
 * synthesis. Float operations are single roundings without contraction: bit-identical
 * everywhere. The code VAE_PRED_INTRA (w = 0, k = 0) is coding without prediction.
 * A predicted step may also skip its z altogether and inherit (mean, idx) from the step
 * before (vae_job_inherit), and so from the last step that coded a z: on hourly ERA5 2 m
 * temperature the y bits grow by ~1 % while z (a quarter of the file) is gone.
 * The same prediction serves the levels of one step (the codec predicts level k from level
 * k - 1 of the same time step). */
#define VAE_PRED_CODES 80 /* codes 0..79 */
#define VAE_PRED_INTRA 3

/*! vae_job_predict() : applies per-channel codes (cfg.latent bytes, each < VAE_PRED_CODES)
 *  with the previous step's job prev (same sample, after its stage 3) to j (after stage 2
 *  or vae_job_inherit, before stage 3). @return CLIMZ_OK or CLIMZ_ERR_CORRUPT (a code out
 *  of range; prev of another size). */
climz_status vae_job_predict(vae_job *j, const vae_job *prev, const uint8_t *code);
/*! vae_job_inherit() : instead of stages 1 and 2, j takes the entropy model (means and
 *  scale indexes before prediction) of prev (same sample, one step before). @return
 *  CLIMZ_OK or CLIMZ_ERR_CORRUPT (prev of another size). */
climz_status vae_job_inherit(vae_job *j, const vae_job *prev);

/*! vae_predict_choose() : the encoder's choice of the codes for a chain of nt rows (the
 *  steps of a group, or the levels of a step) of ns samples each: jobs[t * ns + s] after
 *  stage 2 (NULL where a sample was not coded). Row 0 is coded without prediction, a row
 *  t > 0 of sample s against row t - 1 when both are coded (else without); with inherit,
 *  such a row uses the entropy model of the first row of its chain (vae_job_inherit)
 *  instead of its own. models (NULL: none) gives for each sample of row 0 the job whose
 *  entropy model it is coded with, when that is not its own (it inherited one itself). For
 *  every latent channel the code with the fewest estimated bits (from the tables' integer
 *  frequencies) over the predicted rows is written to code (cfg.latent bytes); *bits (may be
 *  NULL) = their sum. @return CLIMZ_OK, CLIMZ_ERR_ALLOC. */
climz_status vae_predict_choose(const vae_coder *c, vae_job *const *jobs, vae_job *const *models, size_t nt,
                                size_t ns, int inherit, uint8_t *code, double *bits);

/*! vae_jobs_y_bits() : the encoder's estimate of what re-linking a chain would cost: for each
 *  k < n, the bits (from the tables' integer frequencies) of jobs[k]'s y (kept by stage 3 of
 *  encoding) quantised against the prediction from from[k]'s y_hat with the codes (cfg.latent
 *  bytes), or without prediction where from[k] is NULL, under jobs[k]'s entropy model (its
 *  means and scale indexes before prediction), into bits[k]. @return CLIMZ_OK,
 *  CLIMZ_ERR_ALLOC, CLIMZ_ERR_CORRUPT (a sample of another size). */
climz_status vae_jobs_y_bits(const vae_coder *c, const vae_job *const *jobs, const vae_job *const *from,
                             const uint8_t *code, size_t n, double *bits);

/* ---- checkerboard context: y from the points beside it (within a sample) ---------------------
 * With a spatial context set on a job, every channel plane of y is coded in two passes: the
 * anchors ((row + column) even) against their entropy model as above, then the other points
 * against the anchors beside them (up, down, left, right: 2 to 4). With a the mean of those
 * anchors' symbols (y_hat - mean: integers) and u the sum of their absolute values,
 *     mean' = mean + w_c * a,        w_c = code_c / 4, code_c in 0..VAE_SPATIAL_WMAX per channel
 *     idx'  = clamp(idx - k_b, 0, 63), b = 0 (u = 0), 1 (u <= 2), 2 (u > 2), k_b = k[b] - 3
 * (mean and idx: the coding model, after any prediction from the step before). The residual
 * of a latent point against the hyper-prior is correlated with its neighbours' (the
 * hyper-latent z has one point per 2 x 2 latent points in the bundled configuration), and
 * a point whose neighbours all coded 0 is itself narrower. The stream holds a job's anchors
 * (channel, row, column order), then its other points. Float operations are single roundings
 * without contraction: bit-identical everywhere. Held-out steps, per-channel weights and one
 * k triple chosen per group by the encoder: 1-5 % fewer y bits (vae_spatial_choose). */
#define VAE_SPATIAL_WMAX 4
#define VAE_SPATIAL_KMAX 15

typedef struct vae_spatial {
    uint8_t k[3];      /* k_b + 3, each 0..VAE_SPATIAL_KMAX */
    uint8_t *w;        /* cfg.latent channel codes, each 0..VAE_SPATIAL_WMAX */
} vae_spatial;

/*! vae_job_set_spatial() : codes j's y with the context sp (NULL: without), from the next
 *  stage 3 on; sp (and its w) must outlive that. @return CLIMZ_OK or CLIMZ_ERR_CORRUPT (a
 *  code out of range). */
climz_status vae_job_set_spatial(vae_job *j, const vae_spatial *sp);
/*! vae_job_restore_y() : encoder, after stage 3: y back to what stage 3 quantised, so that
 *  stage 3 can run again (with another context or prediction). */
void vae_job_restore_y(vae_job *j);
/*! vae_spatial_choose() : the encoder's context for jobs[0..n) (after stage 3 without one):
 *  per channel the weight code, and one k triple, with the fewest estimated bits (from the
 *  tables' integer frequencies) for their y, into w (cfg.latent bytes) and k; *saved = the
 *  bits it saves on those jobs (>= 0; 0 with w all 0 and k all 3: no context).
 *  @return CLIMZ_OK, CLIMZ_ERR_ALLOC. */
climz_status vae_spatial_choose(const vae_coder *c, vae_job *const *jobs, size_t n, uint8_t *w, uint8_t k[3],
                                double *saved);

/* ---- rate levels: one model, many operating points -------------------------------------------
 * A job may code its latent with a quantisation step D != 1 (the step-size approach of
 * variable-rate learned compression, Choi et al. 2019 / Cui et al. 2021, with one step for
 * every channel): y, the hyper-prior's means and scales are divided by D right after h_a / h_s,
 * so everything after them (prediction, spatial context, the encoder's estimates, the
 * symbols) works unchanged on y / D, and the synthesis gets D * y_hat. D comes from the level
 * k: D = 2^(k / 8), k in [VAE_STEP_MIN, VAE_STEP_MAX], from a table of 8 float mantissas and
 * an exact ldexpf, and the divisions and the product are single float roundings: the same bits
 * on every machine. k = 0 (D = 1) changes nothing.
 * A model with rate gains (vae.h) codes channel c with its own step D_c = 2^(k/8 + a_c(k)),
 * everything above per channel. So that D_c is the same bits everywhere, no exp2 of trained
 * floats runs: the coder rounds each anchor's gain to an integer number of 1/64 octaves once
 * (q = round(64 a), vae_coder_init), interpolates those integers at k (round((q_i (8 - r) +
 * q_{i+1} r) / 8), r = k's distance above anchor i), and D_c = 2^(e / 64) with e = 8 k + that,
 * from a table of the 64 float mantissas 2^(i/64) and an exact ldexpf. (Training uses the
 * unrounded 2^(k/8 + a_c(k)): at most 1/128 octave, 0.55 %, from the codec's step.) */
#define VAE_STEP_MIN (-16) /* D = 0.25 */
#define VAE_STEP_MAX 40    /* D = 32 */

/* The step D of level k (clamped to the range). */
float vae_step_of_level(int k);
/*! vae_coder_steps() : the per-channel steps D_c (cfg.latent floats) of level k (clamped to
 *  the range) with c's model: every one vae_step_of_level(k) without rate gains. */
void vae_coder_steps(const vae_coder *c, int k, float *steps);
/*! vae_job_set_step() : codes j's y with the steps of level k from the next stage 1 (encoder)
 *  or stage 2 (decoder) on. @return CLIMZ_OK or CLIMZ_ERR_CORRUPT (k out of range). */
climz_status vae_job_set_step(vae_job *j, int k);

/* ---- the encoder's memo of a sample's transforms, across rate levels ------------------------
 * h_a and h_s do not depend on the level (the step divides their outputs): a rate search that
 * codes one field at several levels keeps each sample's y, z_hat and the hyper-prior's means
 * and scales from the first trial and copies them in the next ones, instead of re-running
 * the analysis (bit-identical: the same values the transforms gave). The memo keeps the
 * sample's normalised input too and is used only for the same input bits (a sample's
 * normalisation may follow the step before it, which a level can change). */
typedef struct vae_memo {
    size_t nx, ny, nz;              /* the sample's sizes (0: empty) */
    float *x;                       /* the input the transforms were run on */
    float *y, *z, *scales, *means;  /* before the step's division */
    int32_t *zsym;
    int have_y, have_hyper;
} vae_memo;
void vae_memo_free(vae_memo *m);
/*! vae_job_set_memo() : stage 1 and stage 2 of j take their results from m when m holds
 *  them (for a sample of j's sizes) and store them in m otherwise. NULL: no memo. The memo
 *  must outlive the stages. */
void vae_job_set_memo(vae_job *j, vae_memo *m);

#endif /* CZ_VAE_CODEC_H */
