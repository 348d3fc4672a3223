/* io_attrs.c — attributes: set (deep copy), find, read as text or number, free. */
#include "io/io_elem.h"
#include "io/io_internal.h"

#include <stdlib.h>
#include <string.h>

static void attr_data_free(cz_attr *a) {
    if (a->type == CZ_T_STRING && a->data)
        for (size_t k = 0; k < a->len; k++) free(((char **)a->data)[k]);
    free(a->data);
    a->data = NULL;
}

void io_attrs_free(cz_attr *a, int n) {
    for (int i = 0; i < n; i++) {
        attr_data_free(&a[i]);
        free(a[i].name);
    }
    free(a);
}

climz_status io_attr_set(cz_attr **atts, int *natts, const char *name, cz_dtype type, size_t len,
                         const void *data) {
    size_t const es = cz_dtype_size(type);
    CZ_RETURN_IF(es == 0, CLIMZ_ERR_INVALID_ARG, "attribute %s: no type", name);
    CZ_RETURN_IF(len && !data, CLIMZ_ERR_INVALID_ARG, "attribute %s: no data", name);
    size_t bytes;
    CZ_RETURN_IF(!cz_mul_ok(len, es, &bytes) || bytes > SIZE_MAX - 8, CLIMZ_ERR_ALLOC,
                 "attribute %s too large", name);
    /* CHAR: one more byte for the NUL; never a zero-size allocation */
    void *copy = cz_calloc(1, bytes + 1);
    CZ_RETURN_IF(!copy, CLIMZ_ERR_ALLOC, "out of memory");
    if (type == CZ_T_STRING) {
        for (size_t k = 0; k < len; k++) {
            const char *s = ((const char *const *)data)[k];
            char *c = cz_strdup(s ? s : "");
            if (!c) {
                for (size_t j = 0; j < k; j++) free(((char **)copy)[j]);
                free(copy);
                return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
            }
            ((char **)copy)[k] = c;
        }
    } else if (bytes) {
        memcpy(copy, data, bytes);
    }
    for (int i = 0; i < *natts; i++) {
        if (strcmp((*atts)[i].name, name) == 0) {
            attr_data_free(&(*atts)[i]);
            (*atts)[i].type = type;
            (*atts)[i].len = len;
            (*atts)[i].data = copy;
            return CLIMZ_OK;
        }
    }
    char *n = cz_strdup(name);
    cz_attr *a = n ? cz_realloc(*atts, ((size_t)*natts + 1) * sizeof *a) : NULL;
    if (!a) {
        cz_attr tmp = {NULL, type, len, copy};
        attr_data_free(&tmp);
        free(n);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    a[*natts] = (cz_attr){n, type, len, copy};
    *atts = a;
    (*natts)++;
    return CLIMZ_OK;
}

const cz_attr *io_attr_find(const cz_attr *atts, int natts, const char *name) {
    for (int i = 0; i < natts; i++)
        if (strcmp(atts[i].name, name) == 0) return &atts[i];
    return NULL;
}

const char *io_attr_text(const cz_attr *atts, int natts, const char *name) {
    const cz_attr *a = io_attr_find(atts, natts, name);
    if (!a) return NULL;
    if (a->type == CZ_T_CHAR) return (const char *)a->data;
    if (a->type == CZ_T_STRING && a->len == 1) return ((char *const *)a->data)[0];
    return NULL;
}

int io_attr_number(const cz_attr *a, size_t i, double *out) {
    if (!a || !is_numeric(a->type) || i >= a->len) return 0;
    *out = elem_value(a->data, i, a->type);
    return 1;
}

climz_status io_attr_set_text(cz_attr **atts, int *natts, const char *name, const char *s) {
    return io_attr_set(atts, natts, name, CZ_T_CHAR, strlen(s), s);
}
climz_status io_attr_set_f64(cz_attr **atts, int *natts, const char *name, double v) {
    return io_attr_set(atts, natts, name, CZ_T_F64, 1, &v);
}
climz_status io_attr_set_f32(cz_attr **atts, int *natts, const char *name, float v) {
    return io_attr_set(atts, natts, name, CZ_T_F32, 1, &v);
}
climz_status io_attr_set_i32(cz_attr **atts, int *natts, const char *name, int32_t v) {
    return io_attr_set(atts, natts, name, CZ_T_I32, 1, &v);
}
