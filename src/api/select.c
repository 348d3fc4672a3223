/* select.c — choosing the variables of a data set that a codec compresses. */
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
