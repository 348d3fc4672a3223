/* select.c — choosing and dropping variables of a data set. */
#include "api_internal.h"

#include <stdlib.h>
#include <string.h>

climz_status api_select_vars(const cz_dataset *ds, const char *const *names, uint8_t *sel) {
    memset(sel, 0, (size_t)ds->nvars);
    if (!names) {
        int any = 0;
        for (int i = 0; i < ds->nvars; i++) any |= sel[i] = (uint8_t)(ds->vars[i].is_grid != 0);
        CZ_RETURN_IF(!any, CLIMZ_ERR_NOT_FOUND, "%s: no gridded data variable (one with latitude "
                     "and longitude as its last two dimensions) to compress", ds->path);
        return CLIMZ_OK;
    }
    for (const char *const *n = names; *n; n++) {
        int const i = io_find_var(ds, *n);
        if (i < 0) {
            char list[512] = "";
            for (int k = 0; k < ds->nvars; k++)
                if (ds->vars[k].is_grid && strlen(list) + strlen(ds->vars[k].name) + 3 < sizeof list) {
                    if (list[0]) strcat(list, ", ");
                    strcat(list, ds->vars[k].name);
                }
            return cz_error(CLIMZ_ERR_NOT_FOUND, "%s: no variable '%s' (gridded variables: %s)",
                            ds->path, *n, list[0] ? list : "none");
        }
        CZ_RETURN_IF(!ds->vars[i].is_grid, CLIMZ_ERR_UNSUPPORTED,
                     "%s: variable '%s' is not a gridded data variable (it needs latitude and "
                     "longitude as its last two dimensions)", ds->path, *n);
        sel[i] = 1;
    }
    return CLIMZ_OK;
}

static void free_attrs(cz_attr *a, int n) {
    for (int i = 0; i < n; i++) {
        if (a[i].type == CZ_T_STRING)
            for (size_t k = 0; k < a[i].len; k++) free(((char **)a[i].data)[k]);
        free(a[i].name);
        free(a[i].data);
    }
    free(a);
}


void api_drop_vars(cz_dataset *ds, const uint8_t *keep) {
    int out = 0;
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        if (keep[i]) {
            ds->vars[out++] = *v;
            continue;
        }
        if (v->type == CZ_T_STRING && v->raw)
            for (size_t k = 0, n = io_var_count(ds, v); k < n; k++) free(((char **)v->raw)[k]);
        free(v->name);
        free(v->raw);
        free_attrs(v->atts, v->natts);
    }
    ds->nvars = out;
}
