/* io_grib.c — GRIB 1/2 through ecCodes, into the same data model as NetCDF.
 *
 * READ ME FIRST
 *  - One field per message. Messages with the same (shortName, typeOfLevel) form one
 *    variable, stacked along time (validityDate/validityTime) and, when there is more than
 *    one level, along a level dim named after typeOfLevel. Dims: time[, level], latitude,
 *    longitude; coordinate variables carry CF attributes ("hours since ...", degrees_north /
 *    degrees_east). Data variables are float32.
 *  - Only regular grids (regular_ll, regular_gg) are read; any other message is refused with
 *    CLIMZ_ERR_UNSUPPORTED "message N: grid type X is not a regular grid".
 *  - Missing points (bitmap) and (time, level) slots no message fills get the netCDF default
 *    float fill 9.96921e36f, declared as _FillValue; a variable without either has none.
 *  - Two messages for the same variable, time and level (ensemble members, overlapping
 *    forecasts) are refused: climz has no dim for them.
 */
#include "io/io_readers.h"

#include <eccodes.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GRIB_FILL 9.9692099683868690e+36f /* NC_FILL_FLOAT */

typedef struct g_grid {
    char type[64];
    long ni, nj, iscan_neg, jscan_pos, consecutive;
    double la1, lo1, la2, lo2;
    double *lat, *lon; /* nj, ni in stored row / column order */
    int dim_y, dim_x;
} g_grid;

typedef struct g_var {
    char short_name[64], level_type[64], name[256], units[64], cf_name[128], cf_var[64];
    long param_id;
    int grid;
    int64_t *times; /* distinct validity times (minutes since 1970), sorted */
    int ntimes;
    double *levels; /* distinct levels, sorted */
    int nlevels;
    int any_missing;
    int time_set, level_set; /* which time / level dim */
    char out_name[160];
} g_var;

typedef struct g_msg {
    int var;
    int64_t t;
    double level;
    float *values; /* nj*ni, rows as stored */
    int bitmap;
} g_msg;

typedef struct g_state {
    const char *path;
    g_grid *grids;
    int ngrids;
    g_var *vars;
    int nvars;
    g_msg *msgs;
    size_t nmsgs;
    long edition;
    char centre[64], centre_desc[256];
} g_state;

/* ecCodes prints its diagnostics to stderr by default; the library must not print, so they
 * are caught here and appended to our error messages instead. The logging procedure is
 * process-wide (ecCodes' default context). */
static char g_log[512];

static void grib_log(const codes_context *c, int level, const char *msg) {
    (void)c;
    if (level == CODES_LOG_ERROR || level == CODES_LOG_FATAL || !g_log[0])
        snprintf(g_log, sizeof g_log, "%s", msg ? msg : "");
}

static climz_status gerr(const g_state *s, size_t msg, int err, const char *what) {
    return cz_error(err == CODES_OUT_OF_MEMORY ? CLIMZ_ERR_ALLOC : CLIMZ_ERR_GRIB,
                    "%s: message %zu: %s: %s%s%s%s", s->path, msg, what, codes_get_error_message(err),
                    g_log[0] ? " (ecCodes: " : "", g_log, g_log[0] ? ")" : "");
}

static int get_str(codes_handle *h, const char *key, char *buf, size_t cap) {
    size_t len = cap;
    int const e = codes_get_string(h, key, buf, &len);
    if (e) buf[0] = 0;
    buf[cap - 1] = 0;
    return e;
}

static int64_t minutes_of(long date, long hhmm) {
    long const y = date / 10000, m = date / 100 % 100, d = date % 100;
    return io_days_from_civil(y, (unsigned)m, (unsigned)d) * 1440 + (hhmm / 100) * 60 + hhmm % 100;
}

static void free_state(g_state *s) {
    for (int i = 0; i < s->ngrids; i++) {
        free(s->grids[i].lat);
        free(s->grids[i].lon);
    }
    free(s->grids);
    for (int i = 0; i < s->nvars; i++) {
        free(s->vars[i].times);
        free(s->vars[i].levels);
    }
    free(s->vars);
    for (size_t i = 0; i < s->nmsgs; i++) free(s->msgs[i].values);
    free(s->msgs);
}

/* the grid of message h (found or added) */
static climz_status msg_grid(g_state *s, codes_handle *h, size_t msgno, const char *gtype, long ni,
                             long nj, int *out) {
    g_grid g;
    memset(&g, 0, sizeof g);
    snprintf(g.type, sizeof g.type, "%s", gtype);
    g.ni = ni, g.nj = nj;
    int e = 0;
    if ((e = codes_get_double(h, "latitudeOfFirstGridPointInDegrees", &g.la1)) ||
        (e = codes_get_double(h, "longitudeOfFirstGridPointInDegrees", &g.lo1)) ||
        (e = codes_get_double(h, "latitudeOfLastGridPointInDegrees", &g.la2)) ||
        (e = codes_get_double(h, "longitudeOfLastGridPointInDegrees", &g.lo2)) ||
        (e = codes_get_long(h, "iScansNegatively", &g.iscan_neg)) ||
        (e = codes_get_long(h, "jScansPositively", &g.jscan_pos)) ||
        (e = codes_get_long(h, "jPointsAreConsecutive", &g.consecutive)))
        return gerr(s, msgno, e, "grid geometry");
    for (int i = 0; i < s->ngrids; i++) {
        const g_grid *o = &s->grids[i];
        if (!strcmp(o->type, g.type) && o->ni == ni && o->nj == nj && o->la1 == g.la1 &&
            o->lo1 == g.lo1 && o->la2 == g.la2 && o->lo2 == g.lo2 && o->iscan_neg == g.iscan_neg &&
            o->jscan_pos == g.jscan_pos && o->consecutive == g.consecutive) {
            *out = i;
            return CLIMZ_OK;
        }
    }
    /* coordinates from ecCodes' geometry (exact Gaussian latitudes for regular_gg) */
    size_t const n = (size_t)ni * (size_t)nj;
    double *lats = cz_malloc(n * sizeof *lats), *lons = cz_malloc(n * sizeof *lons);
    g.lat = cz_malloc((size_t)nj * sizeof *g.lat);
    g.lon = cz_malloc((size_t)ni * sizeof *g.lon);
    climz_status st = CLIMZ_OK;
    if (!lats || !lons || !g.lat || !g.lon) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    size_t la = n, lo = n;
    if ((e = codes_get_double_array(h, "latitudes", lats, &la)) ||
        (e = codes_get_double_array(h, "longitudes", lons, &lo))) {
        st = gerr(s, msgno, e, "grid coordinates");
        goto done;
    }
    if (la != n || lo != n)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "%s: message %zu: %zu coordinates for a %ld x %ld "
                     "grid", s->path, msgno, la, nj, ni);
    for (long j = 0; j < nj; j++) g.lat[j] = lats[g.consecutive ? (size_t)j : (size_t)j * (size_t)ni];
    for (long i = 0; i < ni; i++) g.lon[i] = lons[g.consecutive ? (size_t)i * (size_t)nj : (size_t)i];
    g_grid *ng = cz_realloc(s->grids, ((size_t)s->ngrids + 1) * sizeof *ng);
    if (!ng) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    s->grids = ng;
    ng[s->ngrids] = g;
    g.lat = g.lon = NULL;
    *out = s->ngrids++;
done:
    free(lats);
    free(lons);
    free(g.lat);
    free(g.lon);
    return st;
}

static climz_status read_message(g_state *s, codes_handle *h, size_t msgno) {
    char gtype[64];
    int e = get_str(h, "gridType", gtype, sizeof gtype);
    if (e) return gerr(s, msgno, e, "gridType");
    CZ_RETURN_IF(strcmp(gtype, "regular_ll") != 0 && strcmp(gtype, "regular_gg") != 0,
                 CLIMZ_ERR_UNSUPPORTED, "%s: message %zu: grid type %s is not a regular grid "
                 "(climz reads regular_ll and regular_gg)", s->path, msgno, gtype);
    long ni = 0, nj = 0, date = 0, hhmm = 0, bitmap = 0;
    if ((e = codes_get_long(h, "Ni", &ni)) || (e = codes_get_long(h, "Nj", &nj)))
        return gerr(s, msgno, e, "grid size");
    CZ_RETURN_IF(ni <= 0 || nj <= 0 || ni > (1L << 24) || nj > (1L << 24), CLIMZ_ERR_CORRUPT,
                 "%s: message %zu: grid of %ld x %ld points", s->path, msgno, nj, ni);
    if ((e = codes_get_long(h, "validityDate", &date)) || (e = codes_get_long(h, "validityTime", &hhmm)))
        return gerr(s, msgno, e, "validity time");
    if ((e = codes_get_long(h, "bitmapPresent", &bitmap))) bitmap = 0;
    char sn[64], lt[64];
    if ((e = get_str(h, "shortName", sn, sizeof sn))) return gerr(s, msgno, e, "shortName");
    if (get_str(h, "typeOfLevel", lt, sizeof lt)) snprintf(lt, sizeof lt, "unknown");
    double level = 0;
    if (codes_get_double(h, "level", &level)) level = 0;
    if (!s->nmsgs) {
        codes_get_long(h, "edition", &s->edition);
        get_str(h, "centre", s->centre, sizeof s->centre);
        get_str(h, "centreDescription", s->centre_desc, sizeof s->centre_desc);
    }

    size_t n = 0;
    if ((e = codes_get_size(h, "values", &n))) return gerr(s, msgno, e, "values");
    CZ_RETURN_IF(n != (size_t)ni * (size_t)nj, CLIMZ_ERR_CORRUPT, "%s: message %zu: %zu values "
                 "for a %ld x %ld grid", s->path, msgno, n, nj, ni);
    int grid = 0;
    CZ_FORWARD(msg_grid(s, h, msgno, gtype, ni, nj, &grid));
    int vi = -1;
    for (int i = 0; i < s->nvars; i++)
        if (!strcmp(s->vars[i].short_name, sn) && !strcmp(s->vars[i].level_type, lt)) vi = i;
    if (vi < 0) {
        g_var *nv = cz_realloc(s->vars, ((size_t)s->nvars + 1) * sizeof *nv);
        CZ_RETURN_IF(!nv, CLIMZ_ERR_ALLOC, "out of memory");
        s->vars = nv;
        g_var *v = &nv[s->nvars];
        memset(v, 0, sizeof *v);
        snprintf(v->short_name, sizeof v->short_name, "%s", sn);
        snprintf(v->level_type, sizeof v->level_type, "%s", lt);
        get_str(h, "name", v->name, sizeof v->name);
        get_str(h, "units", v->units, sizeof v->units);
        get_str(h, "cfName", v->cf_name, sizeof v->cf_name);
        get_str(h, "cfVarName", v->cf_var, sizeof v->cf_var);
        if (codes_get_long(h, "paramId", &v->param_id)) v->param_id = 0;
        v->grid = grid;
        vi = s->nvars++;
    }
    CZ_RETURN_IF(s->vars[vi].grid != grid, CLIMZ_ERR_UNSUPPORTED, "%s: message %zu: variable %s "
                 "(%s) changes its grid from one message to the next", s->path, msgno, sn, lt);

    /* bitmap points come back as missingValue: make it the fill we declare */
    if (bitmap && (e = codes_set_double(h, "missingValue", (double)GRIB_FILL)))
        return gerr(s, msgno, e, "missingValue");
    double *d = cz_malloc(n * sizeof *d);
    float *f = cz_malloc(n * sizeof *f);
    if (!d || !f) {
        free(d);
        free(f);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    size_t got = n;
    if ((e = codes_get_double_array(h, "values", d, &got)) || got != n) {
        free(d);
        free(f);
        return e ? gerr(s, msgno, e, "decoding values")
                 : cz_error(CLIMZ_ERR_CORRUPT, "%s: message %zu: short values", s->path, msgno);
    }
    long const consecutive = s->grids[grid].consecutive;
    for (size_t j = 0; j < (size_t)nj; j++)
        for (size_t i = 0; i < (size_t)ni; i++)
            f[j * (size_t)ni + i] = (float)d[consecutive ? i * (size_t)nj + j : j * (size_t)ni + i];
    free(d);

    g_msg *nm = cz_realloc(s->msgs, (s->nmsgs + 1) * sizeof *nm);
    if (!nm) {
        free(f);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    s->msgs = nm;
    nm[s->nmsgs++] = (g_msg){vi, minutes_of(date, hhmm), level, f, (int)bitmap};
    if (bitmap) s->vars[vi].any_missing = 1;
    return CLIMZ_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t const x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}
static int cmp_f64(const void *a, const void *b) {
    double const x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* distinct sorted times and levels of each variable */
static climz_status collect_axes(g_state *s) {
    for (int vi = 0; vi < s->nvars; vi++) {
        g_var *v = &s->vars[vi];
        size_t cnt = 0;
        for (size_t m = 0; m < s->nmsgs; m++) cnt += s->msgs[m].var == vi;
        v->times = cz_malloc(cnt * sizeof *v->times);
        v->levels = cz_malloc(cnt * sizeof *v->levels);
        CZ_RETURN_IF(!v->times || !v->levels, CLIMZ_ERR_ALLOC, "out of memory");
        size_t k = 0;
        for (size_t m = 0; m < s->nmsgs; m++)
            if (s->msgs[m].var == vi) {
                v->times[k] = s->msgs[m].t;
                v->levels[k++] = s->msgs[m].level;
            }
        qsort(v->times, cnt, sizeof *v->times, cmp_i64);
        qsort(v->levels, cnt, sizeof *v->levels, cmp_f64);
        int nt = 0, nl = 0;
        for (size_t i = 0; i < cnt; i++) {
            if (!nt || v->times[nt - 1] != v->times[i]) v->times[nt++] = v->times[i];
            if (!nl || v->levels[nl - 1] != v->levels[i]) v->levels[nl++] = v->levels[i];
        }
        v->ntimes = nt, v->nlevels = nl;
        /* pressure levels from the surface up, as usual in climate files */
        if (!strncmp(v->level_type, "isobaric", 8))
            for (int i = 0; i < nl / 2; i++) {
                double const t = v->levels[i];
                v->levels[i] = v->levels[nl - 1 - i];
                v->levels[nl - 1 - i] = t;
            }
    }
    return CLIMZ_OK;
}

static int find_i64(const int64_t *a, int n, int64_t x) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int const mid = (lo + hi) / 2;
        if (a[mid] == x) return mid;
        if (a[mid] < x) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static climz_status set_text(cz_attr **a, int *n, const char *name, const char *s) {
    return io_attr_set_text(a, n, name, s);
}

static climz_status build(g_state *s, cz_dataset *ds) {
    /* time dims: variables with identical time sets share one */
    int tset_first[256], ntsets = 0;
    for (int vi = 0; vi < s->nvars; vi++) {
        g_var *v = &s->vars[vi];
        v->time_set = -1;
        for (int k = 0; k < ntsets; k++) {
            const g_var *o = &s->vars[tset_first[k]];
            if (o->ntimes == v->ntimes && !memcmp(o->times, v->times, (size_t)v->ntimes * sizeof *v->times))
                v->time_set = k;
        }
        if (v->time_set < 0) {
            CZ_RETURN_IF(ntsets == 256, CLIMZ_ERR_UNSUPPORTED, "%s: too many distinct time axes", s->path);
            tset_first[ntsets] = vi;
            v->time_set = ntsets++;
        }
    }
    int64_t t0 = INT64_MAX;
    for (int vi = 0; vi < s->nvars; vi++) t0 = s->vars[vi].times[0] < t0 ? s->vars[vi].times[0] : t0;
    /* level dims: only for variables with more than one level */
    int lset_first[256], nlsets = 0;
    for (int vi = 0; vi < s->nvars; vi++) {
        g_var *v = &s->vars[vi];
        v->level_set = -1;
        if (v->nlevels < 2) continue;
        for (int k = 0; k < nlsets; k++) {
            const g_var *o = &s->vars[lset_first[k]];
            if (!strcmp(o->level_type, v->level_type) && o->nlevels == v->nlevels &&
                !memcmp(o->levels, v->levels, (size_t)v->nlevels * sizeof *v->levels))
                v->level_set = k;
        }
        if (v->level_set < 0) {
            CZ_RETURN_IF(nlsets == 256, CLIMZ_ERR_UNSUPPORTED, "%s: too many distinct level axes", s->path);
            lset_first[nlsets] = vi;
            v->level_set = nlsets++;
        }
    }
    /* names: shortName, or shortName_typeOfLevel when two variables share a shortName */
    for (int vi = 0; vi < s->nvars; vi++) {
        g_var *v = &s->vars[vi];
        int clash = 0;
        for (int o = 0; o < s->nvars; o++) clash |= o != vi && !strcmp(s->vars[o].short_name, v->short_name);
        if (!strcmp(v->short_name, "unknown") || !v->short_name[0])
            snprintf(v->out_name, sizeof v->out_name, "param%ld", v->param_id);
        else if (clash)
            snprintf(v->out_name, sizeof v->out_name, "%s_%s", v->short_name, v->level_type);
        else
            snprintf(v->out_name, sizeof v->out_name, "%s", v->short_name);
    }

    /* dims and coordinate variables */
    int tdim[256], ldim[256], ci;
    char nm[128], units[96];
    int64_t y;
    unsigned mo, dd;
    io_civil_from_days(t0 >= 0 ? t0 / 1440 : -((-t0 + 1439) / 1440), &y, &mo, &dd);
    int64_t const tod = t0 - io_days_from_civil(y, mo, dd) * 1440;
    snprintf(units, sizeof units, "hours since %04lld-%02u-%02u %02d:%02d:00", (long long)y, mo, dd,
             (int)(tod / 60), (int)(tod % 60));
    for (int k = 0; k < ntsets; k++) {
        const g_var *v = &s->vars[tset_first[k]];
        if (k) snprintf(nm, sizeof nm, "time%d", k + 1);
        else snprintf(nm, sizeof nm, "time");
        CZ_FORWARD(io_dim_add(ds, nm, (size_t)v->ntimes, 0, &tdim[k]));
        CZ_FORWARD(io_var_add(ds, nm, CZ_T_F64, 1, &tdim[k], &ci));
        cz_var *c = &ds->vars[ci];
        double *t = cz_malloc((size_t)v->ntimes * sizeof *t);
        CZ_RETURN_IF(!t, CLIMZ_ERR_ALLOC, "out of memory");
        c->raw = t;
        for (int i = 0; i < v->ntimes; i++) t[i] = (double)(v->times[i] - t0) / 60.0;
        CZ_FORWARD(set_text(&c->atts, &c->natts, "standard_name", "time"));
        CZ_FORWARD(set_text(&c->atts, &c->natts, "long_name", "time"));
        CZ_FORWARD(set_text(&c->atts, &c->natts, "units", units));
        CZ_FORWARD(set_text(&c->atts, &c->natts, "calendar", "proleptic_gregorian"));
        CZ_FORWARD(set_text(&c->atts, &c->natts, "axis", "T"));
    }
    for (int k = 0; k < nlsets; k++) {
        const g_var *v = &s->vars[lset_first[k]];
        int dup = 0;
        for (int o = 0; o < k; o++) dup += !strcmp(s->vars[lset_first[o]].level_type, v->level_type);
        if (dup) snprintf(nm, sizeof nm, "%s%d", v->level_type, dup + 1);
        else snprintf(nm, sizeof nm, "%s", v->level_type);
        CZ_FORWARD(io_dim_add(ds, nm, (size_t)v->nlevels, 0, &ldim[k]));
        CZ_FORWARD(io_var_add(ds, nm, CZ_T_F64, 1, &ldim[k], &ci));
        cz_var *c = &ds->vars[ci];
        double *l = cz_malloc((size_t)v->nlevels * sizeof *l);
        CZ_RETURN_IF(!l, CLIMZ_ERR_ALLOC, "out of memory");
        c->raw = l;
        memcpy(l, v->levels, (size_t)v->nlevels * sizeof *l);
        const char *u = "1", *pos = "up";
        if (!strcmp(v->level_type, "isobaricInhPa")) u = "hPa", pos = "down";
        else if (!strcmp(v->level_type, "isobaricInPa")) u = "Pa", pos = "down";
        else if (!strncmp(v->level_type, "heightAbove", 11) || !strncmp(v->level_type, "depthBelow", 10))
            u = "m", pos = strncmp(v->level_type, "depth", 5) ? "up" : "down";
        CZ_FORWARD(set_text(&c->atts, &c->natts, "long_name", v->level_type));
        CZ_FORWARD(set_text(&c->atts, &c->natts, "units", u));
        CZ_FORWARD(set_text(&c->atts, &c->natts, "positive", pos));
        CZ_FORWARD(set_text(&c->atts, &c->natts, "axis", "Z"));
    }
    for (int g = 0; g < s->ngrids; g++) {
        g_grid *gr = &s->grids[g];
        for (int axis = 0; axis < 2; axis++) {
            const char *base = axis ? "longitude" : "latitude";
            if (g) snprintf(nm, sizeof nm, "%s%d", base, g + 1);
            else snprintf(nm, sizeof nm, "%s", base);
            size_t const len = (size_t)(axis ? gr->ni : gr->nj);
            int d;
            CZ_FORWARD(io_dim_add(ds, nm, len, 0, &d));
            if (axis) gr->dim_x = d;
            else gr->dim_y = d;
            CZ_FORWARD(io_var_add(ds, nm, CZ_T_F64, 1, &d, &ci));
            cz_var *c = &ds->vars[ci];
            c->raw = cz_malloc(len * sizeof(double));
            CZ_RETURN_IF(!c->raw, CLIMZ_ERR_ALLOC, "out of memory");
            memcpy(c->raw, axis ? gr->lon : gr->lat, len * sizeof(double));
            CZ_FORWARD(set_text(&c->atts, &c->natts, "standard_name", base));
            CZ_FORWARD(set_text(&c->atts, &c->natts, "long_name", base));
            CZ_FORWARD(set_text(&c->atts, &c->natts, "units", axis ? "degrees_east" : "degrees_north"));
            CZ_FORWARD(set_text(&c->atts, &c->natts, "axis", axis ? "X" : "Y"));
        }
    }

    /* data variables */
    size_t *slot_msg = NULL;
    for (int vi = 0; vi < s->nvars; vi++) {
        g_var *v = &s->vars[vi];
        const g_grid *gr = &s->grids[v->grid];
        int dims[4], nd = 0;
        dims[nd++] = tdim[v->time_set];
        if (v->level_set >= 0) dims[nd++] = ldim[v->level_set];
        dims[nd++] = gr->dim_y;
        dims[nd++] = gr->dim_x;
        int di;
        CZ_FORWARD(io_var_add(ds, v->out_name, CZ_T_F32, nd, dims, &di));
        cz_var *dv = &ds->vars[di];
        size_t const plane = (size_t)gr->ni * (size_t)gr->nj;
        size_t const nslots = (size_t)v->ntimes * (size_t)v->nlevels;
        size_t total;
        CZ_RETURN_IF(!cz_mul_ok(nslots, plane, &total), CLIMZ_ERR_ALLOC, "%s: %s too large", s->path, v->out_name);
        float *raw = cz_malloc(total * sizeof *raw);
        free(slot_msg);
        slot_msg = cz_calloc(nslots, sizeof *slot_msg);
        if (!raw || !slot_msg) {
            free(raw);
            free(slot_msg);
            return cz_error(CLIMZ_ERR_ALLOC, "out of memory for %s", v->out_name);
        }
        dv->raw = raw;
        for (size_t m = 0; m < s->nmsgs; m++) {
            const g_msg *g = &s->msgs[m];
            if (g->var != vi) continue;
            size_t const ti = (size_t)find_i64(v->times, v->ntimes, g->t);
            size_t li = 0;
            while (li + 1 < (size_t)v->nlevels && v->levels[li] != g->level) li++;
            size_t const slot = ti * (size_t)v->nlevels + li;
            if (slot_msg[slot]) {
                climz_status const st = cz_error(
                    CLIMZ_ERR_UNSUPPORTED, "%s: messages %zu and %zu both hold %s (%s %g) for "
                    "the same time: ensembles or overlapping forecasts are not supported",
                    s->path, slot_msg[slot], m + 1, v->short_name, v->level_type, g->level);
                free(slot_msg);
                return st;
            }
            slot_msg[slot] = m + 1;
            memcpy(raw + slot * plane, g->values, plane * sizeof *raw);
        }
        for (size_t k = 0; k < nslots; k++)
            if (!slot_msg[k]) {
                v->any_missing = 1;
                for (size_t i = 0; i < plane; i++) raw[k * plane + i] = GRIB_FILL;
            }
        climz_status st = CLIMZ_OK;
        cz_attr **a = &dv->atts;
        int *na = &dv->natts;
        if (v->cf_name[0] && strcmp(v->cf_name, "unknown") != 0)
            st = st ? st : set_text(a, na, "standard_name", v->cf_name);
        st = st ? st : set_text(a, na, "long_name", v->name);
        st = st ? st : set_text(a, na, "units", v->units);
        if (v->any_missing) st = st ? st : io_attr_set_f32(a, na, "_FillValue", GRIB_FILL);
        st = st ? st : set_text(a, na, "GRIB_shortName", v->short_name);
        st = st ? st : io_attr_set_i32(a, na, "GRIB_paramId", (int32_t)v->param_id);
        if (v->cf_var[0] && strcmp(v->cf_var, "unknown") != 0)
            st = st ? st : set_text(a, na, "GRIB_cfVarName", v->cf_var);
        st = st ? st : set_text(a, na, "GRIB_typeOfLevel", v->level_type);
        if (v->nlevels == 1) st = st ? st : io_attr_set_f64(a, na, "GRIB_level", v->levels[0]);
        st = st ? st : set_text(a, na, "GRIB_gridType", gr->type);
        if (st) {
            free(slot_msg);
            return st;
        }
    }
    free(slot_msg);
    CZ_FORWARD(set_text(&ds->gatts, &ds->ngatts, "Conventions", "CF-1.7"));
    if (s->centre_desc[0]) CZ_FORWARD(set_text(&ds->gatts, &ds->ngatts, "institution", s->centre_desc));
    if (s->centre[0]) CZ_FORWARD(set_text(&ds->gatts, &ds->ngatts, "GRIB_centre", s->centre));
    CZ_FORWARD(io_attr_set_i32(&ds->gatts, &ds->ngatts, "GRIB_edition", (int32_t)s->edition));
    CZ_FORWARD(set_text(&ds->gatts, &ds->ngatts, "source", "GRIB messages decoded with ecCodes by climz"));
    return CLIMZ_OK;
}

climz_status io_read_grib(const char *path, cz_dataset *ds) {
    FILE *f = fopen(path, "rb");
    CZ_RETURN_IF(!f, CLIMZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    g_state s;
    memset(&s, 0, sizeof s);
    s.path = path;
    climz_status st = CLIMZ_OK;
    codes_context_set_logging_proc(codes_context_get_default(), grib_log);
    for (size_t msgno = 1;; msgno++) {
        int err = 0;
        g_log[0] = 0;
        codes_handle *h = codes_handle_new_from_file(NULL, f, PRODUCT_GRIB, &err);
        if (!h) {
            if (err != CODES_SUCCESS)
                st = cz_error(err == CODES_OUT_OF_MEMORY ? CLIMZ_ERR_ALLOC : CLIMZ_ERR_CORRUPT,
                              "%s: message %zu: %s%s%s%s%s", path, msgno, codes_get_error_message(err),
                              err == CODES_END_OF_FILE || err == CODES_PREMATURE_END_OF_FILE
                                  ? " (the file is truncated)" : "",
                              g_log[0] ? " (ecCodes: " : "", g_log, g_log[0] ? ")" : "");
            break;
        }
        st = read_message(&s, h, msgno);
        codes_handle_delete(h);
        if (st) break;
    }
    fclose(f);
    if (!st && s.nmsgs == 0) st = cz_error(CLIMZ_ERR_CORRUPT, "%s: no GRIB message found", path);
    if (!st) st = collect_axes(&s);
    if (!st) st = build(&s, ds);
    free_state(&s);
    if (st) return st;
    ds->format = CZ_FMT_GRIB;
    io_classify(ds);
    for (int i = 0; i < ds->nvars && !st; i++) st = io_scan_specials(ds, i, 0);
    return st;
}
