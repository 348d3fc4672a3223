/* train.c — climz_train_file() and climz_finetune_file(): the public entry points of the
 * VAEformer's training loop (src/vae/vae_train.h). */
#include "api_internal.h"
#include "vae/vae_train.h"

climz_status climz_train_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts) {
    if (!ctx || !opts) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    return api_fail(ctx, vae_train(VAE_PHASE_PRETRAIN, out_path, opts));
}

climz_status climz_finetune_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts) {
    if (!ctx || !opts) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    return api_fail(ctx, vae_train(VAE_PHASE_FINETUNE, out_path, opts));
}
