/* cli.h — subcommands of the climz program that live in their own files. Each takes the
 * whole argv (argv[1] is the subcommand) and returns the exit status. */
#ifndef CLIMZ_CLI_H
#define CLIMZ_CLI_H

int cli_train(int argc, char **argv);    /* climz train: phase 1 of the VAEformer */
int cli_finetune(int argc, char **argv); /* climz finetune: phase 2 */
int cli_adapt(int argc, char **argv);    /* climz adapt: finetune on your files, held-out report */
int cli_plot(int argc, char **argv);     /* climz plot: runs python3 -m climz.plot */

/* shared by the training commands (train.c) */
void cli_print_line(void *user, const char *line); /* a progress line to stderr, flushed */
int cli_parse_number(const char *s, double *v);     /* 1: all of s is one finite number */
/* "KMIN:KMAX" (or "K"): a range of rate levels for multi-rate training (climz_train_opts
 * rate_min / rate_max), -16 <= KMIN <= KMAX <= 40. Returns 0 if s is not one. */
int cli_parse_levels(const char *s, int *kmin, int *kmax);
/* "HxW" (or "N": N x N): a training crop. Returns 0 if s is not one. */
int cli_parse_crop(const char *s, long *h, long *w);

/* netCDF-4 files with the climz HDF5 filter (nc4.c) */
int cli_compress_nc4(const char *in, const char *out, const char *codec, const char *const *vars, double max_abs_error,
                     double rel_error, const char *chunk, int json);
int cli_is_nc4(const char *path); /* 1: an HDF5 file (netCDF-4) */
int cli_info_nc4(const char *path, int json);
/* SIGTERM/SIGINT/SIGHUP remove the temporary output files before the program ends */
void cli_install_signal_handlers(void);

/* MPI (mpi_cli.c): started only under mpirun and only where CMake found MPI; otherwise one
 * process (size 1, rank 0) and the plain library calls. */
#include "climz.h"
int cli_mpi_start(int *argc, char ***argv); /* MPI_Init under mpirun; returns the rank count */
void cli_mpi_stop(void);                    /* MPI_Finalize if started */
int cli_mpi_rank(void);
int cli_mpi_size(void);
climz_status cli_mpi_compress(climz_ctx *ctx, const char *in, const char *out, const climz_compress_opts *o);
climz_status cli_mpi_decompress(climz_ctx *ctx, const char *in, const char *out, const climz_decompress_opts *o);
climz_status cli_mpi_train(climz_ctx *ctx, int finetune, const char *out, const climz_train_opts *o);

#endif
