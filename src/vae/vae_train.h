/*
 * vae_train.h — the VAEformer's training loop: phase 1 (VAE_PHASE_PRETRAIN: encoder and
 * decoder) and phase 2 (VAE_PHASE_FINETUNE: the entropy model, quantised) on the data specs
 * of climz_train_opts (include/climz.h documents every option). Sampling, the phases' frozen
 * groups, the optimizer steps, validation and checkpoints are described in vae_train.c.
 */
#ifndef CZ_VAE_TRAIN_H
#define CZ_VAE_TRAIN_H

#include "climz.h"
#include "vae/vae.h"

/*! vae_train() : runs phase ph and writes the model at out_path (atomically), with a
 *  checkpoint beside it (opts->checkpoint, or "<out_path>.ckpt"). Threads: the caller's
 *  OpenMP team. @return CLIMZ_OK or an error code, with the thread's error message. */
climz_status vae_train(vae_phase ph, const char *out_path, const climz_train_opts *opts);

#endif
