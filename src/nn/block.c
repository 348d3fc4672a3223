/*
 * block.c — the pre-norm transformer block (see block.h): configuration, the parameter
 * table, the activation layout; the kernels are in block_impl.inc (float and double).
 */
#include "nn/block.h"

#include "common/cz_common.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const nn_block_param_names[NN_BLOCK_NPARAMS] = {
    "norm1.weight",     "norm1.bias",     "attn.qkv.weight", "attn.qkv.bias",
    "attn.proj.weight", "attn.proj.bias", "norm2.weight",    "norm2.bias",
    "mlp.fc1.weight",   "mlp.fc1.bias",   "mlp.fc2.weight",  "mlp.fc2.bias"};

size_t nn_block_hidden(const nn_block_cfg *cfg) { return cfg->hidden ? cfg->hidden : 4 * cfg->C; }

climz_status nn_block_cfg_check(const nn_block_cfg *cfg) {
    CZ_RETURN_IF(!cfg, CLIMZ_ERR_INVALID_ARG, "block: no configuration");
    CZ_RETURN_IF(cfg->C == 0 || cfg->NH == 0 || cfg->C % cfg->NH != 0, CLIMZ_ERR_INVALID_ARG,
                 "block: width %zu is not a positive multiple of %zu heads", cfg->C, cfg->NH);
    CZ_RETURN_IF(!(cfg->eps > 0) || !isfinite(cfg->eps), CLIMZ_ERR_INVALID_ARG,
                 "block: LayerNorm eps %g is not positive", (double)cfg->eps);
    CZ_RETURN_IF(cfg->attn != NN_ATTN_WINDOW && cfg->attn != NN_ATTN_GLOBAL,
                 CLIMZ_ERR_INVALID_ARG, "block: unknown attention kind %d", (int)cfg->attn);
    CZ_RETURN_IF(cfg->attn == NN_ATTN_WINDOW && (cfg->win.wh == 0 || cfg->win.ww == 0),
                 CLIMZ_ERR_INVALID_ARG, "block: empty window %zu x %zu", cfg->win.wh,
                 cfg->win.ww);
    return CLIMZ_OK;
}

size_t nn_block_param_shape(const nn_block_cfg *cfg, size_t i, size_t *ndim, size_t shape[2]) {
    size_t const C = cfg->C, hid = nn_block_hidden(cfg);
    /* rows (output features) of each tensor; weights have C or hid columns */
    size_t rows, cols = 0;
    switch (i) {
    case 0: case 1: case 5: case 6: case 7: case 11: rows = C; break;
    case 2: rows = 3 * C; cols = C; break;
    case 3: rows = 3 * C; break;
    case 4: rows = C; cols = C; break;
    case 8: rows = hid; cols = C; break;
    case 9: rows = hid; break;
    case 10: rows = C; cols = hid; break;
    default: *ndim = 0; return 0;
    }
    shape[0] = rows;
    shape[1] = cols ? cols : 1;
    *ndim = cols ? 2 : 1;
    return rows * shape[1];
}

size_t nn_block_num_params(const nn_block_cfg *cfg) {
    size_t n = 0, nd, sh[2];
    for (size_t i = 0; i < NN_BLOCK_NPARAMS; i++) n += nn_block_param_shape(cfg, i, &nd, sh);
    return n;
}

/* ---- activation layout ----------------------------------------------------------------------- */

enum {
    A_LN1, A_LN1_MEAN, A_LN1_RSTD, A_QKV, A_ATTY, A_STATS, A_RES1, A_LN2, A_LN2_MEAN,
    A_LN2_RSTD, A_FCH, A_FCH_GELU, A_WORK, A_DBIG0, A_DBIG1, A_DC0, A_DC1, A_COUNT
};

/* Tensors start on 64-byte boundaries (16 floats / 8 doubles; 16 elements covers both). */
#define BLOCK_ALIGN 16

static size_t block_round(size_t n) { return (n + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN; }

/* sizes in elements of every activation tensor; @return 0 on overflow, else the total */
static size_t block_act_sizes(const nn_block_cfg *cfg, size_t B, size_t H, size_t W,
                              int training, size_t sz[A_COUNT]) {
    size_t const C = cfg->C, hid = nn_block_hidden(cfg);
    size_t const big = hid > 3 * C ? hid : 3 * C;
    size_t T, N, NC, N3C, Nhid, Nbig, total = 0;
    if (!cz_mul_ok(H, W, &T) || !cz_mul_ok(B, T, &N) || !cz_mul_ok(N, C, &NC) ||
        !cz_mul_ok(NC, 3, &N3C) || !cz_mul_ok(N, hid, &Nhid) || !cz_mul_ok(N, big, &Nbig) ||
        N3C > SIZE_MAX / 16 || Nbig > SIZE_MAX / 16)
        return 0;
    memset(sz, 0, A_COUNT * sizeof sz[0]);
    sz[A_LN1] = sz[A_ATTY] = sz[A_RES1] = sz[A_LN2] = NC;
    sz[A_LN1_MEAN] = sz[A_LN1_RSTD] = sz[A_LN2_MEAN] = sz[A_LN2_RSTD] = N;
    sz[A_QKV] = N3C;
    sz[A_STATS] = nn_attention_stats_size(B, T, cfg->NH);
    sz[A_FCH] = sz[A_FCH_GELU] = Nhid;
    sz[A_WORK] = cfg->attn == NN_ATTN_WINDOW ? nn_window_attention_work_size(B, H, W, C, &cfg->win) : 0;
    if (training) {
        sz[A_DBIG0] = sz[A_DBIG1] = Nbig;
        sz[A_DC0] = sz[A_DC1] = NC;
    }
    for (int i = 0; i < A_COUNT; i++) {
        if (total > SIZE_MAX / 2 - block_round(sz[i])) return 0;
        total += block_round(sz[i]);
    }
    return total;
}

size_t nn_block_acts_numel(const nn_block_cfg *cfg, size_t B, size_t H, size_t W, int training) {
    size_t sz[A_COUNT];
    if (nn_block_cfg_check(cfg) != CLIMZ_OK) return 0;
    return block_act_sizes(cfg, B, H, W, training, sz);
}

/* ---- the two precisions ---------------------------------------------------------------------- */

#define NN_PRECISION 32
#include "nn/nn_tmpl.h"
#include "block_impl.inc"
#undef NN_PRECISION

#define NN_PRECISION 64
#include "nn/nn_tmpl.h"
#include "block_impl.inc"
#undef NN_PRECISION
