/*
 * nc4.h — netCDF-4 files whose gridded variables go through the climz HDF5 filter:
 * `climz compress --format nc4` (h5c_write_nc4) and `climz info` of such a file (h5c_info).
 *
 * READ ME FIRST
 *  - The writer registers the filter in this process (no HDF5_PLUGIN_PATH needed to write);
 *    readers of the file need the plugin (HDF5_PLUGIN_PATH=build/plugins).
 *  - Each chunk is compressed once: data are written whole chunks at a time (a lossy filter
 *    must never see a chunk read back, changed and written again).
 *  - Errors are climz status codes with the message in h5c_last_error() (this thread's).
 */
#ifndef CLIMZ_H5FILTER_NC4_H
#define CLIMZ_H5FILTER_NC4_H

#include "climz.h"

#include <stdio.h>

#define H5C_MAX_CHUNK_DIMS 8

typedef struct h5c_nc4_opts {
    unsigned codec;            /* CLIMZ_H5_RESIDUAL or CLIMZ_H5_VAEFORMER */
    double max_abs_error;      /* absolute bound (used when rel_error is 0); 0 = lossless / none */
    double rel_error;          /* > 0: bound relative to each variable's range (whole variable) */
    const char *const *vars;   /* NULL-terminated names to compress; NULL = every gridded variable */
    size_t chunk_steps;        /* time steps per chunk; 0 = 1 */
    size_t chunk[H5C_MAX_CHUNK_DIMS]; /* explicit chunk shape (nchunk dims; 0 = whole dim) */
    int nchunk;                /* 0: chunks of chunk_steps steps and the whole of every other dim */
} h5c_nc4_opts;

/*! h5c_write_nc4() : reads in_path (NetCDF, GRIB or GrADS) and writes a netCDF-4 file at
 *  out_path through io_write_netcdf() (atomically; built in memory) with the same dims,
 *  coordinates, attributes and types, the chosen gridded float variables compressed by the
 *  climz filter, other gridded variables with deflate level 4. */
climz_status h5c_write_nc4(const char *in_path, const char *out_path, const h5c_nc4_opts *o);

/*! h5c_info() : describes an HDF5 / netCDF-4 file: every dataset, its chunking and filters
 *  (the climz filter's parameters decoded), stored bytes and ratio; JSON when json != 0. */
climz_status h5c_info(const char *path, int json, FILE *out);

/* 1 when the file starts with the HDF5 signature */
int h5c_is_hdf5(const char *path);

const char *h5c_last_error(void);

#endif /* CLIMZ_H5FILTER_NC4_H */
