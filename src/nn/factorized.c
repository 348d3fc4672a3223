/* factorized.c — the factorised prior (nn/factorized.h): layout, initialisation, and the
 * precision-independent logit chain; factorized_impl.inc adds the float/double entry
 * points. */
#include "nn/factorized.h"

#include <math.h>
#include <string.h>

#include "common/cz_common.h"
#include "nn/loss.h"

#define NN_FP_NBLK ((size_t)64) /* fixed reduction blocks (over channels) */
#define NN_FP_W2 (NN_FP_MAX_WIDTH * NN_FP_MAX_WIDTH)

/* one channel's transformed parameters */
typedef struct nn_fpc_ {
    double sp[NN_FP_MAX_LAYERS][NN_FP_W2]; /* softplus(H_k), (f[k+1], f[k]) */
    double sg[NN_FP_MAX_LAYERS][NN_FP_W2]; /* softplus'(H_k) = sigmoid(H_k) */
    double b[NN_FP_MAX_LAYERS][NN_FP_MAX_WIDTH];
    double ta[NN_FP_MAX_LAYERS][NN_FP_MAX_WIDTH]; /* tanh(a_k) */
} nn_fpc_;

/* activations of one evaluation of the chain, for its backward */
typedef struct nn_fptape_ {
    double z[NN_FP_MAX_LAYERS + 1][NN_FP_MAX_WIDTH]; /* z[k] enters layer k; z[K][0] = logit */
    double tu[NN_FP_MAX_LAYERS][NN_FP_MAX_WIDTH];    /* tanh of the pre-gate values */
} nn_fptape_;

/* gradient accumulators of one channel */
typedef struct nn_fpgrad_ {
    double dH[NN_FP_MAX_LAYERS][NN_FP_W2];
    double db[NN_FP_MAX_LAYERS][NN_FP_MAX_WIDTH];
    double da[NN_FP_MAX_LAYERS][NN_FP_MAX_WIDTH];
} nn_fpgrad_;

/* torch.nn.functional.softplus (beta 1, threshold 20) and its derivative */
static double nn_softplus_(double x) { return x > 20.0 ? x : log1p(exp(x)); }
static double nn_sigmoid_(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double const e = exp(x);
    return e / (1.0 + e);
}
static double nn_softplus_grad_(double x) { return x > 20.0 ? 1.0 : nn_sigmoid_(x); }

climz_status nn_fp_init(nn_fp *fp, size_t C, const size_t *filters, size_t nf) {
    CZ_RETURN_IF(C == 0, CLIMZ_ERR_INVALID_ARG, "factorised prior: no channels");
    CZ_RETURN_IF(nf + 1 > NN_FP_MAX_LAYERS, CLIMZ_ERR_INVALID_ARG,
                 "factorised prior: %zu hidden layers (at most %d)", nf, NN_FP_MAX_LAYERS - 1);
    memset(fp, 0, sizeof *fp);
    fp->C = C;
    fp->K = nf + 1;
    fp->f[0] = 1;
    for (size_t i = 0; i < nf; i++) {
        CZ_RETURN_IF(filters[i] == 0 || filters[i] > NN_FP_MAX_WIDTH, CLIMZ_ERR_INVALID_ARG,
                     "factorised prior: width %zu out of range 1..%d", filters[i], NN_FP_MAX_WIDTH);
        fp->f[i + 1] = filters[i];
    }
    fp->f[fp->K] = 1;
    size_t off = 0;
    for (size_t k = 0; k < fp->K; k++) {
        fp->off_matrix[k] = off;
        off += C * fp->f[k + 1] * fp->f[k];
        fp->off_bias[k] = off;
        off += C * fp->f[k + 1];
        if (k + 1 < fp->K) {
            fp->off_factor[k] = off;
            off += C * fp->f[k + 1];
        }
    }
    fp->off_quantiles = off;
    fp->nparams = off + 3 * C;
    return CLIMZ_OK;
}

void nn_fp_init_params(const nn_fp *fp, float *params, float init_scale, nn_rng *rng) {
    double const sc = pow((double)init_scale, 1.0 / (double)fp->K);
    size_t const C = fp->C;
    for (size_t k = 0; k < fp->K; k++) {
        float const h = (float)log(expm1(1.0 / sc / (double)fp->f[k + 1]));
        for (size_t i = 0; i < C * fp->f[k + 1] * fp->f[k]; i++) params[fp->off_matrix[k] + i] = h;
        for (size_t i = 0; i < C * fp->f[k + 1]; i++)
            params[fp->off_bias[k] + i] = nn_rng_uniform(rng) - 0.5f;
        if (k + 1 < fp->K)
            for (size_t i = 0; i < C * fp->f[k + 1]; i++) params[fp->off_factor[k] + i] = 0;
    }
    for (size_t c = 0; c < C; c++) {
        params[fp->off_quantiles + 3 * c + 0] = -init_scale;
        params[fp->off_quantiles + 3 * c + 1] = 0;
        params[fp->off_quantiles + 3 * c + 2] = init_scale;
    }
}

/* logits(x) through the chain, recording the tape */
static double nn_fp_logits_(const nn_fp *fp, const nn_fpc_ *p, double x, nn_fptape_ *t) {
    t->z[0][0] = x;
    for (size_t k = 0; k < fp->K; k++) {
        size_t const fo = fp->f[k + 1], fi = fp->f[k];
        for (size_t i = 0; i < fo; i++) {
            double u = p->b[k][i];
            for (size_t j = 0; j < fi; j++) u += p->sp[k][i * fi + j] * t->z[k][j];
            if (k + 1 < fp->K) {
                double const tu = tanh(u);
                t->tu[k][i] = tu;
                u += p->ta[k][i] * tu;
            }
            t->z[k + 1][i] = u;
        }
    }
    return t->z[fp->K][0];
}

/* Backward of one chain evaluation with upstream g on its logit: adds the parameter
 * gradients into gr (may be NULL) and returns g * dlogit/dx. Per gated layer
 * z' = u + tanh(a) tanh(u): dz'/du = 1 + tanh(a)(1 - tanh(u)^2), dz'/da = (1 - tanh(a)^2)
 * tanh(u); per affine layer u = softplus(H) z + b: du/dH_ij = sigmoid(H_ij) z_j. */
static double nn_fp_chain_back_(const nn_fp *fp, const nn_fpc_ *p, const nn_fptape_ *t, double g,
                                nn_fpgrad_ *gr) {
    double dz[NN_FP_MAX_WIDTH], du[NN_FP_MAX_WIDTH];
    dz[0] = g;
    for (size_t kk = fp->K; kk-- > 0;) {
        size_t const fo = fp->f[kk + 1], fi = fp->f[kk];
        for (size_t i = 0; i < fo; i++) {
            if (kk + 1 < fp->K) {
                double const ta = p->ta[kk][i], tu = t->tu[kk][i];
                du[i] = dz[i] * (1.0 + ta * (1.0 - tu * tu));
                if (gr) gr->da[kk][i] += dz[i] * (1.0 - ta * ta) * tu;
            } else {
                du[i] = dz[i];
            }
            if (gr) {
                gr->db[kk][i] += du[i];
                for (size_t j = 0; j < fi; j++)
                    gr->dH[kk][i * fi + j] += du[i] * p->sg[kk][i * fi + j] * t->z[kk][j];
            }
        }
        for (size_t j = 0; j < fi; j++) {
            double s = 0;
            for (size_t i = 0; i < fo; i++) s += du[i] * p->sp[kk][i * fi + j];
            dz[j] = s;
        }
    }
    return dz[0];
}

/* likelihood of one value with the sign trick, and what its backward needs */
typedef struct nn_fp_point_ {
    double lik;      /* |su - sl|, not floored */
    double d;        /* su - sl */
    double s;        /* the sign */
    double dsu, dsl; /* sigmoid'(s up), sigmoid'(s lo) */
} nn_fp_point_;

static nn_fp_point_ nn_fp_point_eval_(const nn_fp *fp, const nn_fpc_ *p, double v,
                                      nn_fptape_ *tl, nn_fptape_ *tu) {
    double const lo = nn_fp_logits_(fp, p, v - 0.5, tl);
    double const up = nn_fp_logits_(fp, p, v + 0.5, tu);
    nn_fp_point_ r;
    r.s = lo + up > 0 ? -1.0 : 1.0;
    double const su = nn_sigmoid_(r.s * up), sl = nn_sigmoid_(r.s * lo);
    r.d = su - sl;
    r.lik = fabs(r.d);
    r.dsu = su * nn_sigmoid_(-r.s * up);
    r.dsl = sl * nn_sigmoid_(-r.s * lo);
    return r;
}

#define NN_PRECISION 32
#include "nn/nn_tmpl.h"
#include "factorized_impl.inc"
#undef NN_PRECISION

#define NN_PRECISION 64
#include "nn/nn_tmpl.h"
#include "factorized_impl.inc"
#undef NN_PRECISION
