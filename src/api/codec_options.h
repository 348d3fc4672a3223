/*
 * codec_options.h — the one parser of the codec options ("--opt key=value", the strings of
 * climz_compress_opts.options) for every codec: a codec describes its options in a table of
 * (key, type, range, help) and gets them in a struct of its own.
 *
 * Messages (CLIMZ_ERR_INVALID_ARG), the same for every codec:
 *   codec option 'X' is not key=value
 *   <codec> has no option 'KEY' (options: a, b, c)
 *   codec option 'KEY=V' needs an integer >= 0      (API_OPT_LONG with lo >= 0)
 *   codec option 'KEY=V' needs an integer / a number
 *   KEY=V: use <help>                                (out of range)
 */
#ifndef CZ_API_CODEC_OPTIONS_H
#define CZ_API_CODEC_OPTIONS_H

#include "common/cz_common.h"

#include <stddef.h>

typedef enum api_opt_type {
    API_OPT_LONG,   /* long, decimal */
    API_OPT_DOUBLE, /* double (strtod) */
    API_OPT_STRING, /* const char * into the option string itself */
    API_OPT_LIST,   /* a string that may be given several times: checked, not stored (read
                       them with api_option_value) */
} api_opt_type;

typedef struct api_opt_spec {
    const char *key;
    api_opt_type type;
    size_t field;    /* offsetof(the codec's struct, member); unused for API_OPT_LIST */
    double lo, hi;   /* allowed range of a number */
    long gap;        /* API_OPT_LONG: values 1 .. gap - 1 refused too (tile: 0 or >= 8); 0: none */
    const char *help; /* the allowed values in words, for the message */
} api_opt_spec;

/*! api_parse_options() : sets the members of out named by specs[0..n) from the NULL-terminated
 *  "key=value" strings kv (NULL: none); members of keys not given keep their values, a key
 *  given twice takes the last. codec names the codec in messages. @return CLIMZ_OK or
 *  CLIMZ_ERR_INVALID_ARG (messages above). */
climz_status api_parse_options(const char *codec, const api_opt_spec *specs, size_t n, const char *const *kv,
                               void *out);

/* The value of the nth (0-based) "key=..." among kv, or NULL. */
const char *api_option_value(const char *const *kv, const char *key, int nth);

#endif
