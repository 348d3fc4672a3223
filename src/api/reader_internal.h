/* reader_internal.h — the climz_reader handle, shared by reader.c (coded variables as float
 * fields) and reader_meta.c (the whole data set: dims, attributes, stored values). */
#ifndef CZ_API_READER_INTERNAL_H
#define CZ_API_READER_INTERNAL_H

#include "codec.h"

#include <jansson.h>

struct climz_reader {
    clz_reader *r;
    json_t *header;
    cz_dataset *ds;
    int tdim;    /* the file's time dimension, -1 if none */
    size_t tlen; /* its length */
    size_t nvars;
    json_t **entry;        /* header entry of each coded variable */
    climz_var_info *info;
};

#endif
