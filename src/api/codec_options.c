/* codec_options.c — the codec option parser (codec_options.h). */
#include "codec_options.h"

#include <stdlib.h>
#include <string.h>

const char *api_option_value(const char *const *kv, const char *key, int nth) {
    size_t const k = strlen(key);
    for (; kv && *kv; kv++)
        if (strncmp(*kv, key, k) == 0 && (*kv)[k] == '=' && nth-- == 0) return *kv + k + 1;
    return NULL;
}

static climz_status unknown_key(const char *codec, const api_opt_spec *specs, size_t n, const char *kv, size_t kl) {
    char names[256] = "";
    size_t used = 0;
    for (size_t k = 0; k < n && used < sizeof names; k++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "", specs[k].key);
    return cz_error(CLIMZ_ERR_INVALID_ARG, "%s has no option '%.*s' (options: %s)", codec, (int)kl, kv,
                    n ? names : "none");
}

static climz_status set_one(const api_opt_spec *sp, const char *kv, const char *val, void *out) {
    char *end;
    switch (sp->type) {
    case API_OPT_LONG: {
        long const v = strtol(val, &end, 10);
        CZ_RETURN_IF(!*val || *end || (sp->lo >= 0 && v < 0), CLIMZ_ERR_INVALID_ARG, "codec option '%s' needs an integer%s",
                     kv, sp->lo >= 0 ? " >= 0" : "");
        CZ_RETURN_IF((double)v < sp->lo || (double)v > sp->hi || (v > 0 && v < sp->gap), CLIMZ_ERR_INVALID_ARG,
                     "%s=%ld: use %s", sp->key, v, sp->help);
        *(long *)((char *)out + sp->field) = v;
        return CLIMZ_OK;
    }
    case API_OPT_DOUBLE: {
        double const v = strtod(val, &end);
        CZ_RETURN_IF(!*val || *end, CLIMZ_ERR_INVALID_ARG, "codec option '%s' needs a number", kv);
        CZ_RETURN_IF(!(v >= sp->lo && v <= sp->hi), CLIMZ_ERR_INVALID_ARG, "%s=%g: use %s", sp->key, v, sp->help);
        *(double *)((char *)out + sp->field) = v;
        return CLIMZ_OK;
    }
    case API_OPT_STRING: *(const char **)((char *)out + sp->field) = val; return CLIMZ_OK;
    case API_OPT_LIST: return CLIMZ_OK;
    }
    return cz_error(CLIMZ_ERR_INVALID_ARG, "codec option '%s' has an unknown type", kv);
}

climz_status api_parse_options(const char *codec, const api_opt_spec *specs, size_t n, const char *const *kv,
                               void *out) {
    for (; kv && *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        CZ_RETURN_IF(!eq, CLIMZ_ERR_INVALID_ARG, "codec option '%s' is not key=value", *kv);
        size_t const kl = (size_t)(eq - *kv);
        const api_opt_spec *sp = NULL;
        for (size_t k = 0; k < n && !sp; k++)
            if (strlen(specs[k].key) == kl && !strncmp(*kv, specs[k].key, kl)) sp = &specs[k];
        if (!sp) return unknown_key(codec, specs, n, *kv, kl);
        CZ_FORWARD(set_one(sp, *kv, eq + 1, out));
    }
    return CLIMZ_OK;
}
