/* nc4.c — `climz compress --format nc4` and `climz info` of a netCDF-4 file whose variables
 * go through the climz HDF5 filter (src/h5filter). */
#include "cli.h"

#include "h5filter/h5z_climz.h"
#include "h5filter/nc4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "N" (time steps per chunk) or "A,B,C" (the chunk shape; 0 = the whole dim) */
static int parse_chunk(const char *s, h5c_nc4_opts *o) {
    const char *p = s;
    int n = 0;
    size_t v[H5C_MAX_CHUNK_DIMS];
    for (;;) {
        char *end;
        long long const x = strtoll(p, &end, 10);
        if (end == p || x < 0 || n == H5C_MAX_CHUNK_DIMS) return 0;
        v[n++] = (size_t)x;
        if (*end == 0) break;
        if (*end != ',') return 0;
        p = end + 1;
    }
    if (n == 1) {
        if (!v[0]) return 0;
        o->chunk_steps = v[0];
        return 1;
    }
    memcpy(o->chunk, v, sizeof v);
    o->nchunk = n;
    return 1;
}

int cli_compress_nc4(const char *in, const char *out, const char *codec, const char *const *vars, double max_abs_error,
                     double rel_error, const char *chunk, int json) {
    h5c_nc4_opts o = {0};
    if (!codec || !strcmp(codec, "residual")) o.codec = CLIMZ_H5_RESIDUAL;
    else if (!strcmp(codec, "vaeformer")) o.codec = CLIMZ_H5_VAEFORMER;
    else {
        fprintf(stderr, "climz compress: --format nc4 takes --codec residual or vaeformer, not '%s'\n", codec);
        return 2;
    }
    if (chunk && !parse_chunk(chunk, &o)) {
        fprintf(stderr, "climz compress: --chunk needs N (time steps per chunk) or sizes A,B,... (0 = whole dim), "
                        "got '%s'\n", chunk);
        return 2;
    }
    o.max_abs_error = max_abs_error;
    o.rel_error = rel_error;
    o.vars = vars;
    climz_status s = h5c_write_nc4(in, out, &o);
    if (s) {
        fprintf(stderr, "climz: error: %s [%s]\n", h5c_last_error(), climz_status_name(s));
        return 1;
    }
    s = h5c_info(out, json, stdout);
    if (s) {
        fprintf(stderr, "climz: error: %s [%s]\n", h5c_last_error(), climz_status_name(s));
        return 1;
    }
    return 0;
}

int cli_is_nc4(const char *path) { return h5c_is_hdf5(path); }

int cli_info_nc4(const char *path, int json) {
    climz_status const s = h5c_info(path, json, stdout);
    if (s) {
        fprintf(stderr, "climz: error: %s [%s]\n", h5c_last_error(), climz_status_name(s));
        return 1;
    }
    return 0;
}
