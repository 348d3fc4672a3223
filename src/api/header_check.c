/* header_check.c — the header's variable list checked against the schema when a .clz is
 * opened (decompress, info, eval alike): each entry names a distinct variable of the schema,
 * and its shape (4 positive extents) holds exactly the schema variable's points. A damaged
 * header is refused here instead of being printed (info) or decoded once per duplicate. */
#include "codec.h"

#include <jansson.h>
#include <stdlib.h>

climz_status api_check_header_vars(const cz_dataset *ds, json_t *vars) {
    uint8_t *seen = calloc((size_t)ds->nvars + 1, 1);
    CZ_RETURN_IF(!seen, CLIMZ_ERR_ALLOC, "out of memory");
    climz_status st = CLIMZ_OK;
    size_t k;
    json_t *e;
    json_array_foreach(vars, k, e) {
        json_t *ji = json_object_get(e, "index"), *shape = json_object_get(e, "shape");
        json_int_t const vi = json_integer_value(ji);
        if (!json_is_integer(ji) || vi < 0 || vi >= ds->nvars) {
            st = cz_error(CLIMZ_ERR_CORRUPT, "header entry %zu names variable %lld of %d", k,
                          (long long)vi, ds->nvars);
            break;
        }
        const cz_var *v = &ds->vars[vi];
        if (seen[vi]) {
            st = cz_error(CLIMZ_ERR_CORRUPT, "the header lists variable '%s' more than once", v->name);
            break;
        }
        seen[vi] = 1;
        if (v->raw) {
            st = cz_error(CLIMZ_ERR_CORRUPT, "the header lists variable '%s' as coded, the schema "
                          "stores it", v->name);
            break;
        }
        size_t pts = 1, expect = 1;
        int ok = json_array_size(shape) == 4;
        for (size_t d = 0; ok && d < 4; d++) {
            json_int_t const x = json_integer_value(json_array_get(shape, d));
            ok = json_is_integer(json_array_get(shape, d)) && x > 0 && x <= (json_int_t)1 << 40 &&
                 cz_mul_ok(pts, (size_t)x, &pts);
        }
        for (int d = 0; ok && d < v->ndims; d++) ok = cz_mul_ok(expect, ds->dims[v->dimids[d]].len, &expect);
        if (!ok || pts != expect) {
            st = cz_error(CLIMZ_ERR_CORRUPT, "variable '%s': the header's shape does not match "
                          "its %d stored dimensions", v->name, v->ndims);
            break;
        }
    }
    free(seen);
    return st;
}
