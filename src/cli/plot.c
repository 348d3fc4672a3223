/* plot.c — climz plot IN.clz --ref ORIG -o out.png [--var V] [--time T] [--level L]: the
 * pictures live in one place, python/climz/plot.py (matplotlib), which this runs as
 * `python3 -m climz.plot ARGS...` with the package and libclimz.so of this build found first.
 * $CLIMZ_PYTHON names another interpreter. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CLIMZ_PYTHON_DIR
#define CLIMZ_PYTHON_DIR ""
#endif
#ifndef CLIMZ_PYTHON3
#define CLIMZ_PYTHON3 "python3"
#endif
#ifndef CLIMZ_LIBRARY_PATH
#define CLIMZ_LIBRARY_PATH ""
#endif

int cli_plot(int argc, char **argv) {
    if (argc < 3 || !strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")) {
        fprintf(argc < 3 ? stderr : stdout,
                "usage: climz plot IN.clz --ref ORIG.nc -o OUT.png [--var NAME] [--time T] [--level L]\n"
                "  original, decoded and error maps side by side (python3 -m climz.plot; needs\n"
                "  python3-matplotlib, python3-xarray and python3-netcdf4)\n");
        return argc < 3 ? 2 : 0;
    }
    const char *py = getenv("CLIMZ_PYTHON");
    if (!py || !*py) py = CLIMZ_PYTHON3;
    /* this build's package and library first; an installed climz otherwise */
    if (CLIMZ_PYTHON_DIR[0] && access(CLIMZ_PYTHON_DIR "/climz/plot.py", R_OK) == 0) {
        const char *old = getenv("PYTHONPATH");
        size_t const n = strlen(CLIMZ_PYTHON_DIR) + (old ? strlen(old) : 0) + 2;
        char *pp = malloc(n);
        if (!pp) return 1;
        snprintf(pp, n, "%s%s%s", CLIMZ_PYTHON_DIR, old && *old ? ":" : "", old && *old ? old : "");
        setenv("PYTHONPATH", pp, 1);
        free(pp);
    }
    if (CLIMZ_LIBRARY_PATH[0] && !getenv("CLIMZ_LIBRARY") && access(CLIMZ_LIBRARY_PATH, R_OK) == 0)
        setenv("CLIMZ_LIBRARY", CLIMZ_LIBRARY_PATH, 1);
    if (!getenv("MPLBACKEND")) setenv("MPLBACKEND", "Agg", 1);
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) return 1;
    args[0] = (char *)py;
    args[1] = "-m";
    args[2] = "climz.plot";
    for (int i = 2; i < argc; i++) args[i + 1] = argv[i];
    execvp(py, args);
    fprintf(stderr, "climz plot: cannot run %s: %s (set CLIMZ_PYTHON to a python3 with matplotlib)\n", py,
            strerror(errno));
    free(args);
    return 1;
}
