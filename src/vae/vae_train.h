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

/* The ranks of a data-parallel job (src/mpi/mpi_train.c fills it with MPI; libclimz itself
 * does not depend on MPI). Every callback is collective: all ranks call it, in the same order.
 * How the work is split and what each rank does: vae_train.c, READ ME FIRST. */
typedef struct vae_train_comm {
    int rank, size;
    void *user;
    /* every rank receives the n bytes of every rank, in rank order (all: size * n bytes) */
    void (*allgather)(void *user, const void *mine, void *all, size_t n);
    /* n floats summed over the ranks in rank order (the same bits on every run with the same
     * rank count), the sum on every rank */
    void (*sum)(void *user, float *buf, size_t n);
    /* CLIMZ_OK when every rank passed CLIMZ_OK, else every rank returns the lowest failing
     * rank's status and message, naming that rank */
    climz_status (*agree)(void *user, climz_status st);
    /* every rank returns root's status and message */
    climz_status (*share)(void *user, climz_status st, int root);
} vae_train_comm;

/*! vae_train_ex() : vae_train() as one rank of comm (NULL or one rank: vae_train()). Every
 *  rank returns the same status. */
climz_status vae_train_ex(vae_phase ph, const char *out_path, const climz_train_opts *opts,
                          const vae_train_comm *comm);

#endif
