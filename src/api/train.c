/* train.c — climz_train_file() and climz_finetune_file(): the public entry points of the
 * VAEformer's training loop (src/vae/vae_train.h). */
#include "api_internal.h"
#include "vae/vae_train.h"

#include <stdio.h>

/* The run's outputs (model, checkpoint) must be none of the files it reads. */
static climz_status check_outputs(const char *out_path, const climz_train_opts *o) {
    CZ_RETURN_IF(!out_path || !*out_path, CLIMZ_ERR_INVALID_ARG, "no output path");
    char ckpt[4096];
    if (o->checkpoint) snprintf(ckpt, sizeof ckpt, "%s", o->checkpoint);
    else snprintf(ckpt, sizeof ckpt, "%s.ckpt", out_path);
    return api_check_train_output(out_path, ckpt, o);
}

climz_status api_train(climz_ctx *ctx, int finetune, const char *out_path, const climz_train_opts *opts,
                       const vae_train_comm *comm) {
    if (!ctx || !opts) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    climz_status st = check_outputs(out_path, opts);
    if (comm && comm->size > 1) st = comm->agree(comm->user, st); /* the ranks stop together */
    if (!st) st = vae_train_ex(finetune ? VAE_PHASE_FINETUNE : VAE_PHASE_PRETRAIN, out_path, opts, comm);
    return api_fail(ctx, st);
}

climz_status climz_train_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts) {
    return api_train(ctx, 0, out_path, opts, NULL);
}

climz_status climz_finetune_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts) {
    return api_train(ctx, 1, out_path, opts, NULL);
}
