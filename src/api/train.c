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

climz_status climz_train_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts) {
    if (!ctx || !opts) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    climz_status const st = check_outputs(out_path, opts);
    return api_fail(ctx, st ? st : vae_train(VAE_PHASE_PRETRAIN, out_path, opts));
}

climz_status climz_finetune_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts) {
    if (!ctx || !opts) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    climz_status const st = check_outputs(out_path, opts);
    return api_fail(ctx, st ? st : vae_train(VAE_PHASE_FINETUNE, out_path, opts));
}
