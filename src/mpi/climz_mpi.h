/*
 * climz_mpi.h — climz under mpirun (built only when CMake finds MPI; see README "MPI").
 *
 * READ ME FIRST
 *  - Every function here is collective over comm: all ranks call it with the same arguments,
 *    and all return the same status. On failure every rank gets the same message, which
 *    names the rank that failed first and its cause ("rank 1: variable 'HGT': ...").
 *  - Output is atomic as in one process: the ranks write one temporary file beside the
 *    output with MPI-IO, and rank 0 renames it into place only when every rank succeeded;
 *    otherwise it is deleted and nothing appears at the output path.
 *  - The file written is byte-identical to the one climz_compress_file() writes in one
 *    process (tests/mpi). How the work is split: see mpi_compress.c.
 */
#ifndef CLIMZ_MPI_H
#define CLIMZ_MPI_H

#include "climz.h"

#include <mpi.h>

/*! czmpi_compress_file() : climz_compress_file() spread over the ranks of comm. */
climz_status czmpi_compress_file(climz_ctx *ctx, const char *in_path, const char *out_path,
                                 const climz_compress_opts *opts, MPI_Comm comm);

/* Bytes this process has read so far (rchar of /proc/self/io: every read call, from the page
 * cache or the disk; 0 where unknown). With CLIMZ_MPI_READ_REPORT set, compress says on stderr
 * what each rank read of its input (tests, bench/mpi). */
unsigned long long czmpi_bytes_read(void);
/* CPU seconds (user + system) this process has used so far. With CLIMZ_MPI_PLAN_REPORT set,
 * compress says on stderr which steps each rank codes and the CPU and wall seconds of its call
 * (tests, bench/mpi: the work is split even where a loaded machine hides it in wall time). */
double czmpi_cpu_seconds(void);

/*! czmpi_decompress_file() : climz_decompress_file() with the decoding spread over the ranks
 *  of comm (each decodes its time steps, rank 0 writes the NetCDF file). */
climz_status czmpi_decompress_file(climz_ctx *ctx, const char *in_path, const char *out_path,
                                   const climz_decompress_opts *opts, MPI_Comm comm);

/*! czmpi_train_file() / czmpi_finetune_file() : climz_train_file() / climz_finetune_file()
 *  data parallel over the ranks of comm: each rank computes its slice of every global batch,
 *  the gradients are summed in rank order, rank 0 alone writes checkpoints, the model and the
 *  progress lines (src/vae/vae_train.c and mpi_train.c say how). */
climz_status czmpi_train_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts,
                              MPI_Comm comm);
climz_status czmpi_finetune_file(climz_ctx *ctx, const char *out_path, const climz_train_opts *opts,
                                 MPI_Comm comm);

#endif
