/*
 * schema.h — the data set's metadata and its small non-compressed variables, as one
 * binary, zstd-compressed blob (the CLZ_STREAM_SCHEMA chunk). Byte layout: doc/format.md.
 *
 * READ ME FIRST
 *  - Exact: dims (with unlimited flags), global and variable attributes of every type
 *    (NC_STRING included, NaN payloads and all other bit patterns kept), variable types,
 *    dim ids, the readers' classification (is_grid, is_coord, axis), packing and the
 *    missing-value bit patterns (specials) round-trip bit for bit. Of ds->path only the
 *    base name is kept (a .clz file travels; the provider's directories need not).
 *  - store[i] != 0: var i's raw values are stored (coordinates, bounds, 0-/1-D vars...);
 *    store[i] == 0: only its metadata, the codec writes its values in its own chunks and
 *    the decoded var has raw == NULL. store == NULL stores no values.
 *  - The decoder trusts nothing: every count and length is checked against the bytes that
 *    remain before anything is allocated, the decompressed size grows only as zstd really
 *    produces output, and any inconsistency is CLIMZ_ERR_CORRUPT (never a crash).
 */
#ifndef CZ_CODEC_SCHEMA_H
#define CZ_CODEC_SCHEMA_H

#include "io/dataset.h"

#define CLZ_SCHEMA_VERSION 1

/*! clz_schema_encode() : appends the schema of ds to out.
 *  @return CLIMZ_ERR_INVALID_ARG (a stored var without raw values, a bad type or dim id),
 *  CLIMZ_ERR_ALLOC. */
climz_status clz_schema_encode(const cz_dataset *ds, const uint8_t *store, cz_buf *out);

/*! clz_schema_decode() : rebuilds a data set from p[0..n); raw values are allocated for
 *  stored vars only. Free with io_free().
 *  @return CLIMZ_ERR_CORRUPT (malformed input, whatever is wrong with it),
 *  CLIMZ_ERR_VERSION (a newer schema version), CLIMZ_ERR_ALLOC. */
climz_status clz_schema_decode(const uint8_t *p, size_t n, cz_dataset **ds);

/*! clz_schema_is_stored() : after decode, whether var i's values came from the schema. */
static inline int clz_schema_is_stored(const cz_dataset *ds, int i) { return ds->vars[i].raw != NULL; }

#endif /* CZ_CODEC_SCHEMA_H */
