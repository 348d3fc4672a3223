/* io_classify.c — classification of variables (grid, coordinate, axis, time, packing) and
 * the latitudes / longitudes of a gridded variable. */
#include "io/io_elem.h"
#include "io/io_internal.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

static int name_in(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcasecmp(s, *list) == 0) return 1;
    return 0;
}

/* does the text s contain word w (case-insensitive), as a whole word */
static int has_word(const char *s, const char *w) {
    size_t const n = strlen(w);
    for (const char *p = s; *p; p++) {
        if (strncasecmp(p, w, n) == 0 && (p == s || !isalnum((unsigned char)p[-1])) &&
            !isalnum((unsigned char)p[n]))
            return 1;
    }
    return 0;
}

static cz_axis axis_of(const cz_var *v) {
    const char *a = io_attr_text(v->atts, v->natts, "axis");
    if (a) {
        if (!strcasecmp(a, "T")) return CZ_AXIS_T;
        if (!strcasecmp(a, "Z")) return CZ_AXIS_Z;
        if (!strcasecmp(a, "Y")) return CZ_AXIS_Y;
        if (!strcasecmp(a, "X")) return CZ_AXIS_X;
    }
    static const char *const north[] = {"degrees_north", "degree_north", "degree_N", "degrees_N",
                                        "degreeN", "degreesN", NULL};
    static const char *const east[] = {"degrees_east", "degree_east", "degree_E", "degrees_E",
                                       "degreeE", "degreesE", NULL};
    static const char *const zunits[] = {"Pa", "hPa", "kPa", "mb", "mbar", "millibar", "millibars",
                                         "bar", "atm", "level", "layer", "sigma", "sigma_level",
                                         "hybrid_sigma_pressure", NULL};
    const char *u = io_attr_text(v->atts, v->natts, "units");
    if (u) {
        if (has_word(u, "since")) return CZ_AXIS_T;
        if (name_in(u, north)) return CZ_AXIS_Y;
        if (name_in(u, east)) return CZ_AXIS_X;
        if (name_in(u, zunits)) return CZ_AXIS_Z;
    }
    const char *pos = io_attr_text(v->atts, v->natts, "positive");
    if (pos && (!strcasecmp(pos, "up") || !strcasecmp(pos, "down"))) return CZ_AXIS_Z;
    const char *sn = io_attr_text(v->atts, v->natts, "standard_name");
    if (sn) {
        static const char *const zsn[] = {"air_pressure", "height", "depth", "altitude",
                                          "model_level_number", NULL};
        if (!strcasecmp(sn, "time")) return CZ_AXIS_T;
        if (!strcasecmp(sn, "latitude") || !strcasecmp(sn, "grid_latitude")) return CZ_AXIS_Y;
        if (!strcasecmp(sn, "longitude") || !strcasecmp(sn, "grid_longitude")) return CZ_AXIS_X;
        if (name_in(sn, zsn) || !strncasecmp(sn, "atmosphere_", 11) || !strncasecmp(sn, "ocean_", 6))
            return CZ_AXIS_Z;
    }
    const char *ct = io_attr_text(v->atts, v->natts, "_CoordinateAxisType");
    if (ct) {
        if (!strcasecmp(ct, "Time")) return CZ_AXIS_T;
        if (!strcasecmp(ct, "Lat")) return CZ_AXIS_Y;
        if (!strcasecmp(ct, "Lon")) return CZ_AXIS_X;
        if (!strcasecmp(ct, "Height") || !strcasecmp(ct, "Pressure") || !strcasecmp(ct, "GeoZ"))
            return CZ_AXIS_Z;
    }
    static const char *const tn[] = {"time", "t", "times", "date", NULL};
    static const char *const yn[] = {"lat", "latitude", "y", "rlat", "yc", "nlat", "south_north", NULL};
    static const char *const xn[] = {"lon", "longitude", "x", "rlon", "xc", "nlon", "west_east", NULL};
    static const char *const zn[] = {"lev", "level", "levels", "plev", "height", "depth", "z",
                                     "zlev", "ilev", "pressure", "isobaric", "bottom_top", NULL};
    const char *b = io_base_name(v->name);
    if (name_in(b, tn)) return CZ_AXIS_T;
    if (name_in(b, yn)) return CZ_AXIS_Y;
    if (name_in(b, xn)) return CZ_AXIS_X;
    if (name_in(b, zn)) return CZ_AXIS_Z;
    return CZ_AXIS_NONE;
}

/* the coordinate variable of dim d (1-D, same name), or -1 */
static int coord_var_of_dim(const cz_dataset *ds, int d) {
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *v = &ds->vars[i];
        if (v->ndims == 1 && v->dimids[0] == d && strcmp(v->name, ds->dims[d].name) == 0) return i;
    }
    return -1;
}

/* axis of dim d: from its coordinate variable, else from its name */
static cz_axis dim_axis(const cz_dataset *ds, int d) {
    int const c = coord_var_of_dim(ds, d);
    if (c >= 0) return axis_of(&ds->vars[c]);
    cz_var tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.name = ds->dims[d].name;
    return axis_of(&tmp);
}

int io_var_has_time(const cz_dataset *ds, const cz_var *v) {
    if (v->ndims < 3) return 0; /* the last two dims are the grid */
    int const d = v->dimids[0];
    int const c = coord_var_of_dim(ds, d);
    if (c >= 0) return axis_of(&ds->vars[c]) == CZ_AXIS_T;
    if (ds->dims[d].unlimited) return 1;
    return dim_axis(ds, d) == CZ_AXIS_T;
}

/* the variable named `name` as seen from variable `from` (same group first, then root) */
static int resolve_name(const cz_dataset *ds, const cz_var *from, const char *name, size_t n) {
    char buf[512];
    const char *slash = strrchr(from->name, '/');
    size_t const plen = slash ? (size_t)(slash - from->name) + 1 : 0;
    if (plen + n + 1 > sizeof buf) return -1;
    memcpy(buf, from->name, plen);
    memcpy(buf + plen, name, n);
    buf[plen + n] = 0;
    int i = io_find_var(ds, buf);
    if (i < 0 && plen) {
        memcpy(buf, name, n);
        buf[n] = 0;
        i = io_find_var(ds, buf);
    }
    return i;
}

/* marks every variable named in the blank-separated list attribute attr of v as auxiliary */
static void mark_named(cz_dataset *ds, const cz_var *v, const char *attr) {
    const char *s = io_attr_text(v->atts, v->natts, attr);
    if (!s) return;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\n') s++;
        size_t n = 0;
        while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\n') n++;
        if (n) {
            int const i = resolve_name(ds, v, s, n);
            if (i >= 0 && &ds->vars[i] != v) ds->vars[i].is_coord = 1;
        }
        s += n;
    }
}

/* a 2-D latitude (want Y) or longitude (X) variable on dims (dy, dx), or -1 */
static int curvilinear_coord(const cz_dataset *ds, const cz_var *v, int dy, int dx, cz_axis want) {
    /* names in the variable's coordinates attribute first, then any variable on (dy, dx) */
    const char *s = io_attr_text(v->atts, v->natts, "coordinates");
    while (s && *s) {
        while (*s == ' ') s++;
        size_t n = 0;
        while (s[n] && s[n] != ' ') n++;
        if (n) {
            int const i = resolve_name(ds, v, s, n);
            if (i >= 0) {
                const cz_var *c = &ds->vars[i];
                if (c->ndims == 2 && c->dimids[0] == dy && c->dimids[1] == dx && axis_of(c) == want)
                    return i;
            }
        }
        s += n;
    }
    for (int i = 0; i < ds->nvars; i++) {
        const cz_var *c = &ds->vars[i];
        if (c != v && c->ndims == 2 && c->dimids[0] == dy && c->dimids[1] == dx &&
            is_numeric(c->type) && axis_of(c) == want)
            return i;
    }
    return -1;
}

void io_classify(cz_dataset *ds) {
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        v->is_grid = v->is_coord = 0;
        v->axis = CZ_AXIS_NONE;
        v->packed = 0;
        v->scale = 1;
        v->offset = 0;
    }
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        if (v->ndims == 1 && strcmp(v->name, ds->dims[v->dimids[0]].name) == 0) v->is_coord = 1;
        mark_named(ds, v, "bounds");
        mark_named(ds, v, "climatology");
        mark_named(ds, v, "coordinates");
    }
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        /* bounds-like: a last dim of length 2 that is no coordinate axis (nb2, bnds) */
        if (!v->is_coord && v->ndims >= 2) {
            int const d = v->dimids[v->ndims - 1];
            if (ds->dims[d].len == 2 && coord_var_of_dim(ds, d) < 0 &&
                dim_axis(ds, d) == CZ_AXIS_NONE)
                v->is_coord = 1;
        }
        if (v->is_coord) v->axis = axis_of(v);
    }
    for (int i = 0; i < ds->nvars; i++) {
        cz_var *v = &ds->vars[i];
        if (is_numeric(v->type) && !is_float(v->type)) {
            const cz_attr *sf = io_attr_find(v->atts, v->natts, "scale_factor");
            const cz_attr *ao = io_attr_find(v->atts, v->natts, "add_offset");
            double s = 1, o = 0;
            int const hs = io_attr_number(sf, 0, &s), ho = io_attr_number(ao, 0, &o);
            if ((hs || ho) && s != 0 && isfinite(s) && isfinite(o)) {
                v->packed = 1;
                v->scale = s;
                v->offset = o;
            }
        }
        if (v->is_coord || v->ndims < 2 || !is_numeric(v->type)) continue;
        int const dy = v->dimids[v->ndims - 2], dx = v->dimids[v->ndims - 1];
        int grid = dim_axis(ds, dy) == CZ_AXIS_Y && dim_axis(ds, dx) == CZ_AXIS_X;
        if (!grid)
            grid = curvilinear_coord(ds, v, dy, dx, CZ_AXIS_Y) >= 0 &&
                   curvilinear_coord(ds, v, dy, dx, CZ_AXIS_X) >= 0;
        v->is_grid = grid;
    }
}

static int is_lat_like(const cz_var *c) {
    const char *u = io_attr_text(c->atts, c->natts, "units");
    const char *sn = io_attr_text(c->atts, c->natts, "standard_name");
    static const char *const n[] = {"lat", "latitude", NULL};
    return (u && !strncasecmp(u, "degree", 6) && axis_of(c) == CZ_AXIS_Y) ||
           (sn && !strcasecmp(sn, "latitude")) || name_in(io_base_name(c->name), n);
}
static int is_lon_like(const cz_var *c) {
    const char *u = io_attr_text(c->atts, c->natts, "units");
    const char *sn = io_attr_text(c->atts, c->natts, "standard_name");
    static const char *const n[] = {"lon", "longitude", NULL};
    return (u && !strncasecmp(u, "degree", 6) && axis_of(c) == CZ_AXIS_X) ||
           (sn && !strcasecmp(sn, "longitude")) || name_in(io_base_name(c->name), n);
}

/* latitudes / longitudes of a field: 1-D coordinate variables in degrees; for a curvilinear
 * grid the mean latitude of each row (weights for metrics) and no longitudes */
static climz_status field_coords(const cz_dataset *ds, const cz_var *v, cz_field *f) {
    int const dy = v->dimids[v->ndims - 2], dx = v->dimids[v->ndims - 1];
    int const cy = coord_var_of_dim(ds, dy), cx = coord_var_of_dim(ds, dx);
    if (cy >= 0 && ds->vars[cy].raw && is_numeric(ds->vars[cy].type) && is_lat_like(&ds->vars[cy])) {
        f->lat = cz_malloc(f->ny * sizeof *f->lat);
        CZ_RETURN_IF(!f->lat, CLIMZ_ERR_ALLOC, "out of memory");
        for (size_t j = 0; j < f->ny; j++) f->lat[j] = elem_value(ds->vars[cy].raw, j, ds->vars[cy].type);
    } else if (cy < 0) {
        int const c = curvilinear_coord(ds, v, dy, dx, CZ_AXIS_Y);
        if (c >= 0 && ds->vars[c].raw && is_lat_like(&ds->vars[c])) {
            f->lat = cz_malloc(f->ny * sizeof *f->lat);
            CZ_RETURN_IF(!f->lat, CLIMZ_ERR_ALLOC, "out of memory");
            for (size_t j = 0; j < f->ny; j++) {
                double s = 0;
                for (size_t i = 0; i < f->nx; i++) s += elem_value(ds->vars[c].raw, j * f->nx + i, ds->vars[c].type);
                f->lat[j] = f->nx ? s / (double)f->nx : 0;
            }
        }
    }
    if (cx >= 0 && ds->vars[cx].raw && is_numeric(ds->vars[cx].type) && is_lon_like(&ds->vars[cx])) {
        f->lon = cz_malloc(f->nx * sizeof *f->lon);
        CZ_RETURN_IF(!f->lon, CLIMZ_ERR_ALLOC, "out of memory");
        for (size_t i = 0; i < f->nx; i++) f->lon[i] = elem_value(ds->vars[cx].raw, i, ds->vars[cx].type);
    }
    return CLIMZ_OK;
}

climz_status io_field_coords(const cz_dataset *ds, int var, cz_field *f) {
    CZ_RETURN_IF(var < 0 || var >= ds->nvars || ds->vars[var].ndims < 2, CLIMZ_ERR_INVALID_ARG,
                 "variable %d has no horizontal grid", var);
    return field_coords(ds, &ds->vars[var], f);
}
