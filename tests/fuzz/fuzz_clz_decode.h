/* fuzz_clz_decode.h — the fuzz target's entry point, shared with the corpus replay driver. */
#ifndef CLIMZ_FUZZ_CLZ_DECODE_H
#define CLIMZ_FUZZ_CLZ_DECODE_H

#include "common/cz_common.h"

/* Decodes data[0..size) every way the target does; returns the status of the plain
 * container pass (open, every chunk, schema, masks): the first failure, or CLIMZ_OK. */
climz_status fuzz_clz_decode_one(const uint8_t *data, size_t size);

#endif
