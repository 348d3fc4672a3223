/*
 * frame_compact.h — the compact frame: a lossless, smaller encoding of a frame (a one-variable
 * .clz image written by climz_compress) for callers that store many small frames, such as the
 * HDF5 filter's chunks. Layout: doc/format.md §10.1.
 *
 * READ ME FIRST
 *  - A compact frame keeps every chunk payload of the image as it is and replaces the
 *    preamble, the JSON header, the chunk index and the schema chunk (about 700 bytes of a
 *    frame) by one zstd frame coded against a fixed dictionary (frame_dict.c) and a CRC-32C
 *    over all its bytes. Expanding it gives back a valid .clz image with the same header,
 *    chunks and name table, which every reader then opens as before: the .clz format itself
 *    is unchanged, and plain frames (older writers') stay readable.
 *  - Its magic "\x89CZF" differs from the .clz magic in its fourth byte, so one look tells
 *    them apart (clz_compact_is); clz_reader_open* expand a compact frame themselves.
 */
#ifndef CZ_CONTAINER_FRAME_COMPACT_H
#define CZ_CONTAINER_FRAME_COMPACT_H
#include "common/cz_common.h"

#define CLZ_COMPACT_VERSION 1

/* the codec byte of a compact frame (informative: the header inside names the codec too) */
enum { CLZ_COMPACT_OTHER = 0, CLZ_COMPACT_RESIDUAL = 1, CLZ_COMPACT_VAEFORMER = 2, CLZ_COMPACT_INR = 3 };

/*! clz_compact_is() : 1 when p starts with the compact-frame magic (n >= 4), else 0. */
int clz_compact_is(const void *p, size_t n);

/*! clz_compact_encode() : the compact form of the valid .clz image img (n bytes) into out
 *  (appended), its codec byte codec. CLIMZ_ERR_UNSUPPORTED when the image is not one this
 *  version can give back exactly (a preamble other than 1.0's, flags set): the caller keeps
 *  the plain image. */
climz_status clz_compact_encode(const uint8_t *img, size_t n, uint8_t codec, cz_buf *out);

/*! clz_compact_expand() : the .clz image of the compact frame p (n bytes) into *img
 *  (malloc'ed, *img_n bytes). CLIMZ_ERR_CHECKSUM (CRC-32C mismatch), CLIMZ_ERR_TRUNCATED,
 *  CLIMZ_ERR_VERSION (a newer compact version), CLIMZ_ERR_CORRUPT. */
climz_status clz_compact_expand(const uint8_t *p, size_t n, uint8_t **img, size_t *img_n);

/*! clz_compact_codec_name() : "residual", "vaeformer", "inr" or "other" for a codec byte. */
const char *clz_compact_codec_name(uint8_t codec);

/* the zstd dictionary of compact version 1 (frame_dict.c): fixed forever, as decoding needs it */
extern const unsigned char clz_compact_dict_v1[];
extern const size_t clz_compact_dict_v1_size;

#endif /* CZ_CONTAINER_FRAME_COMPACT_H */
