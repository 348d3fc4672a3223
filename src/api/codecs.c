/* codecs.c — the registry of codecs known to the driver. */
#include "codec.h"

#include <stdio.h>
#include <string.h>

static const api_codec *const codecs[] = {&api_codec_residual, &api_codec_inr, &api_codec_vaeformer};

const api_codec *api_codec_find(const char *name) {
    for (size_t i = 0; i < sizeof codecs / sizeof *codecs; i++)
        if (strcmp(codecs[i]->name, name) == 0) return codecs[i];
    return NULL;
}

void api_codec_names(char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof codecs / sizeof *codecs && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", codecs[i]->name);
}
