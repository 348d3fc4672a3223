/*
 * h5z_climz.h — the climz HDF5 filter: its ID and the layout of its parameters (cd_values).
 *
 * READ ME FIRST
 *  - H5Z_FILTER_CLIMZ is PROVISIONAL: the HDF Group has registered no ID for climz, so it is
 *    taken from the range 256-511 that the HDF Group sets aside for testing. This header is
 *    the one place that defines it. Every chunk the filter writes is a self-contained climz
 *    frame (magic, version, codec, CRC-32C), so the data stay readable when a registered ID
 *    replaces this one (h5repack can rewrite the filter ID of a file).
 *  - cd_values: the user gives the first CLIMZ_H5_NUSER words (nccopy -F 'VAR,ID,w0,w1,w2,w3',
 *    h5repack -f UD=ID,0,4,w0,w1,w2,w3, H5Pset_filter); set_local appends the rest when the
 *    dataset is created (the layout below; doc/hdf5-filter.md explains it for users).
 *  - A double (the bound, the fill value) is two words: the low 32 bits of its IEEE-754
 *    binary64 pattern first, then the high 32 bits (as the ZFP and SZ3 plugins do on
 *    little-endian machines).
 */
#ifndef CLIMZ_H5Z_CLIMZ_H
#define CLIMZ_H5Z_CLIMZ_H

#include <stdint.h>
#include <string.h>

#define H5Z_FILTER_CLIMZ 400 /* PROVISIONAL, from the testing range 256-511 (see above) */
#define H5Z_CLIMZ_NAME "climz: error-bounded (residual) and learned (vaeformer) compression of gridded fields"

/* cd_values[] words */
enum {
    CLIMZ_H5_CODEC = 0,     /* 0 = residual, 1 = vaeformer                                         */
    CLIMZ_H5_MODE = 1,      /* 0 = absolute bound, 1 = bound relative to the chunk's value range    */
    CLIMZ_H5_BOUND_LO = 2,  /* the bound (double): low word ...                                    */
    CLIMZ_H5_BOUND_HI = 3,  /* ... high word. 0 = lossless (residual) / no bound (vaeformer)       */
    CLIMZ_H5_NUSER = 4,     /* ---- words the user gives (4, or 6 with the two below) ----           */
    CLIMZ_H5_USER_MISS_LO = 4, /* optional: the value that marks missing points (a double, e.g.   */
    CLIMZ_H5_USER_MISS_HI = 5, /* netCDF's missing_value) instead of the dataset's fill value      */
    CLIMZ_H5_NUSER_MISS = 6,
    /* ---- after set_local (CLIMZ_H5_NVALUES words; words 4 and 5 are reused) ---- */
    CLIMZ_H5_LAYOUT = 4,    /* layout version of these words: CLIMZ_H5_LAYOUT_VERSION              */
    CLIMZ_H5_TYPE = 5,      /* 1 = float32, 2 = float64 (climz_type)                                */
    CLIMZ_H5_NT = 6,        /* the chunk's shape as (nt, nz, ny, nx): the last two chunk dims are   */
    CLIMZ_H5_NZ = 7,        /* y and x, a 3-D chunk is (t, y, x), a 4-D one (t, z, y, x), and the    */
    CLIMZ_H5_NY = 8,        /* dims before the last three of a deeper chunk are folded into t       */
    CLIMZ_H5_NX = 9,
    CLIMZ_H5_MISSING = 10,  /* what marks missing points besides NaN: CLIMZ_H5_MISS_*              */
    CLIMZ_H5_MISS_VALUE_LO = 11, /* that value as a double: low word ...                          */
    CLIMZ_H5_MISS_VALUE_HI = 12, /* ... high word                                                 */
    CLIMZ_H5_NVALUES = 13   /* words after set_local                                                */
};

#define CLIMZ_H5_MISS_NONE 0 /* NaN only (the dataset has HDF5's default fill, 0, an ordinary value) */
#define CLIMZ_H5_MISS_FILL 1 /* the dataset's fill value (netCDF's _FillValue or default fill)     */
#define CLIMZ_H5_MISS_USER 2 /* the value the user gave in words 4 and 5                            */
#define CLIMZ_H5_LAYOUT_VERSION 1
#define CLIMZ_H5_RESIDUAL 0
#define CLIMZ_H5_VAEFORMER 1
#define CLIMZ_H5_ABSOLUTE 0
#define CLIMZ_H5_RELATIVE 1

/* the two words of a double, low first */
static inline void climz_h5_put_double(unsigned *w, double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    w[0] = (unsigned)(u & 0xffffffffu);
    w[1] = (unsigned)(u >> 32);
}

static inline double climz_h5_get_double(const unsigned *w) {
    uint64_t const u = (uint64_t)(w[0] & 0xffffffffu) | (uint64_t)(w[1] & 0xffffffffu) << 32;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* The CLIMZ_H5_NUSER words a user passes to H5Pset_filter / nc_def_var_filter. */
static inline void climz_h5_params(unsigned cd[CLIMZ_H5_NUSER], unsigned codec, unsigned mode, double bound) {
    cd[CLIMZ_H5_CODEC] = codec;
    cd[CLIMZ_H5_MODE] = mode;
    climz_h5_put_double(cd + CLIMZ_H5_BOUND_LO, bound);
}

/*! climz_h5z_register() : registers the filter with the HDF5 library of this process (a
 *  program linked with the filter, such as climz itself, needs no HDF5_PLUGIN_PATH).
 *  @return 0, or a negative number when HDF5 refused. */
int climz_h5z_register(void);

#endif /* CLIMZ_H5Z_CLIMZ_H */
