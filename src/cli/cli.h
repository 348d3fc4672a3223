/* cli.h — subcommands of the climz program that live in their own files. Each takes the
 * whole argv (argv[1] is the subcommand) and returns the exit status. */
#ifndef CLIMZ_CLI_H
#define CLIMZ_CLI_H

int cli_train(int argc, char **argv);    /* climz train: phase 1 of the VAEformer */
int cli_finetune(int argc, char **argv); /* climz finetune: phase 2 */
/* SIGTERM/SIGINT/SIGHUP remove the temporary output files before the program ends */
void cli_install_signal_handlers(void);

#endif
