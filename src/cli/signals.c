/* signals.c — SIGTERM, SIGINT and SIGHUP remove the temporary output files, then end the
 * program as the signal would have (the default action, re-raised). */
#include "climz.h"
#include "cli.h"

#include <signal.h>
#include <string.h>

static void on_signal(int sig) {
    climz_remove_temp_files(); /* async-signal-safe: unlink() only */
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_install_signal_handlers(void) {
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        /* a signal ignored when the program started (nohup) stays ignored */
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[i], &sa, NULL);
    }
}
