/* io_grads.c — GrADS descriptor (.ctl) + raw binary data, the subset real sample files use.
 *
 * READ ME FIRST
 *  - Supported: DSET (^ = beside the .ctl), TITLE, UNDEF, OPTIONS little_endian /
 *    big_endian / byteswapped / yrev, XDEF/YDEF/ZDEF LINEAR or LEVELS, TDEF LINEAR with
 *    mn/hr/dy/mo/yr steps, VARS ... ENDVARS with per-variable level counts, '*' comments.
 *    Anything else (templates, headers, PDEF, DTYPE netcdf/grib, station data...) is refused
 *    with CLIMZ_ERR_UNSUPPORTED naming the keyword.
 *  - Data: for each time step, each variable in VARS order, max(1, levels) fields of
 *    nx*ny float32 (x fastest), no record markers.
 *  - A variable with fewer levels than ZDEF (Q: 5 of 7) gets its own level dim "lev5"
 *    holding the first 5 levels; 0 levels = a surface variable (time, lat, lon).
 *  - UNDEF values are missing: _FillValue = UNDEF as float32, matched by exact bits.
 */
#include "io/io_readers.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct gr_axis {
    size_t n;
    double *v;
} gr_axis;

typedef struct gr_var {
    char name[64], desc[256];
    size_t levs; /* 0 = surface */
} gr_var;

typedef struct gr_ctl {
    char dset[4096];
    char title[512];
    double undef;
    int have_undef, yrev, order; /* order: 0 native, 1 little, 2 big, 3 swapped */
    gr_axis x, y, z;
    size_t nt;
    int64_t t0_min; /* minutes since 1970 */
    double tinc;
    char tunit[16]; /* "minutes", "hours", "days", "months", "years" */
    gr_var *vars;
    size_t nvars;
} gr_ctl;

static void ctl_free(gr_ctl *c) {
    free(c->x.v);
    free(c->y.v);
    free(c->z.v);
    free(c->vars);
}

/* ---- tokenizer over the descriptor's lines --------------------------------------------- */

typedef struct gr_lex {
    char *s;  /* whole text, modified in place */
    char *p;  /* next line */
    int line; /* number of the line just returned */
} gr_lex;

/* next non-blank, non-comment line, trimmed; NULL at the end */
static char *next_line(gr_lex *x) {
    while (x->p && *x->p) {
        char *l = x->p;
        char *e = strchr(l, '\n');
        if (e) {
            *e = 0;
            x->p = e + 1;
        } else {
            x->p = l + strlen(l);
        }
        x->line++;
        size_t n = strlen(l);
        while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t')) l[--n] = 0;
        while (*l == ' ' || *l == '\t') l++;
        if (!*l || *l == '*') continue;
        return l;
    }
    return NULL;
}

/* splits off the next blank-separated word of *s */
static char *word(char **s) {
    char *p = *s;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return NULL;
    char *w = p;
    while (*p && *p != ' ' && *p != '\t') p++;
    if (*p) *p++ = 0;
    *s = p;
    return w;
}

static int parse_num(const char *w, double *v) {
    if (!w) return 0;
    char *end;
    errno = 0;
    *v = strtod(w, &end);
    return end != w && *end == 0 && errno == 0 && isfinite(*v);
}

static int parse_size(const char *w, size_t *n) {
    double v;
    if (!parse_num(w, &v) || v < 1 || v > 1e8 || v != floor(v)) return 0;
    *n = (size_t)v;
    return 1;
}

/* XDEF/YDEF/ZDEF: "n LINEAR start step" or "n LEVELS v1 v2 ..." (values may go on over the
 * following lines) */
static climz_status parse_axis(gr_lex *x, char *rest, const char *kw, const char *path, gr_axis *a) {
    char *w = word(&rest);
    size_t n;
    CZ_RETURN_IF(!parse_size(w, &n), CLIMZ_ERR_CORRUPT, "%s: line %d: %s needs a positive size",
                 path, x->line, kw);
    char *mode = word(&rest);
    CZ_RETURN_IF(!mode, CLIMZ_ERR_CORRUPT, "%s: line %d: %s needs LINEAR or LEVELS", path, x->line, kw);
    free(a->v);
    a->v = cz_malloc(n * sizeof *a->v);
    CZ_RETURN_IF(!a->v, CLIMZ_ERR_ALLOC, "out of memory");
    a->n = n;
    if (!strcasecmp(mode, "linear")) {
        double s, d;
        CZ_RETURN_IF(!parse_num(word(&rest), &s) || !parse_num(word(&rest), &d), CLIMZ_ERR_CORRUPT,
                     "%s: line %d: %s LINEAR needs a start and a step", path, x->line, kw);
        for (size_t i = 0; i < n; i++) a->v[i] = s + (double)i * d;
        return CLIMZ_OK;
    }
    CZ_RETURN_IF(strcasecmp(mode, "levels") != 0, CLIMZ_ERR_UNSUPPORTED, "%s: line %d: %s %s is "
                 "not supported (only LINEAR and LEVELS)", path, x->line, kw, mode);
    size_t k = 0;
    while (k < n) {
        char *v;
        while (k < n && (v = word(&rest))) {
            CZ_RETURN_IF(!parse_num(v, &a->v[k]), CLIMZ_ERR_CORRUPT, "%s: line %d: %s LEVELS: "
                         "'%s' is not a number", path, x->line, kw, v);
            k++;
        }
        if (k < n) {
            rest = next_line(x);
            CZ_RETURN_IF(!rest, CLIMZ_ERR_CORRUPT, "%s: %s LEVELS lists %zu of %zu values", path,
                         kw, k, n);
        }
    }
    return CLIMZ_OK;
}

/* GrADS time "[hh[:mm]Z][dd]mmmyyyy" -> minutes since 1970 */
static int parse_time(const char *w, int64_t *out) {
    static const char *const mon[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                      "jul", "aug", "sep", "oct", "nov", "dec"};
    int hh = 0, mi = 0, dd = 1;
    const char *z = strpbrk(w, "zZ");
    if (z) {
        if (sscanf(w, "%d:%d", &hh, &mi) < 1) return 0;
        w = z + 1;
    }
    if (isdigit((unsigned char)*w)) {
        dd = 0;
        while (isdigit((unsigned char)*w)) dd = dd * 10 + (*w++ - '0');
    }
    int m = -1;
    for (int i = 0; i < 12; i++)
        if (!strncasecmp(w, mon[i], 3)) m = i + 1;
    if (m < 0) return 0;
    w += 3;
    char *end;
    long y = strtol(w, &end, 10);
    if (end == w || *end) return 0;
    if (end - w <= 2) y += y < 50 ? 2000 : 1900;
    if (dd < 1 || dd > 31 || hh < 0 || hh > 23 || mi < 0 || mi > 59) return 0;
    *out = io_days_from_civil(y, (unsigned)m, (unsigned)dd) * 1440 + hh * 60 + mi;
    return 1;
}

static climz_status parse_ctl(char *text, const char *path, gr_ctl *c) {
    gr_lex x = {text, text, 0};
    char *l;
    int have_dset = 0, have_t = 0, have_vars = 0;
    while ((l = next_line(&x))) {
        char *rest = l;
        char *kw = word(&rest);
        while (*rest == ' ' || *rest == '\t') rest++;
        if (!strcasecmp(kw, "dset")) {
            CZ_RETURN_IF(strchr(rest, '%'), CLIMZ_ERR_UNSUPPORTED, "%s: line %d: DSET templates "
                         "('%%' in the file name) are not supported", path, x.line);
            snprintf(c->dset, sizeof c->dset, "%s", rest);
            have_dset = 1;
        } else if (!strcasecmp(kw, "title")) {
            snprintf(c->title, sizeof c->title, "%s", rest);
        } else if (!strcasecmp(kw, "undef")) {
            CZ_RETURN_IF(!parse_num(word(&rest), &c->undef), CLIMZ_ERR_CORRUPT, "%s: line %d: "
                         "UNDEF needs a number", path, x.line);
            c->have_undef = 1;
        } else if (!strcasecmp(kw, "dtype")) {
            char *t = word(&rest);
            CZ_RETURN_IF(!t || strcasecmp(t, "binary") != 0, CLIMZ_ERR_UNSUPPORTED, "%s: line %d: "
                         "DTYPE %s is not supported (open the data file itself if it is NetCDF "
                         "or GRIB)", path, x.line, t ? t : "");
        } else if (!strcasecmp(kw, "options")) {
            char *o;
            while ((o = word(&rest))) {
                if (!strcasecmp(o, "little_endian")) c->order = 1;
                else if (!strcasecmp(o, "big_endian")) c->order = 2;
                else if (!strcasecmp(o, "byteswapped")) c->order = 3;
                else if (!strcasecmp(o, "yrev")) c->yrev = 1;
                else
                    return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: line %d: OPTIONS %s is not "
                                    "supported", path, x.line, o);
            }
        } else if (!strcasecmp(kw, "xdef")) {
            CZ_FORWARD(parse_axis(&x, rest, "XDEF", path, &c->x));
        } else if (!strcasecmp(kw, "ydef")) {
            CZ_FORWARD(parse_axis(&x, rest, "YDEF", path, &c->y));
        } else if (!strcasecmp(kw, "zdef")) {
            CZ_FORWARD(parse_axis(&x, rest, "ZDEF", path, &c->z));
        } else if (!strcasecmp(kw, "tdef")) {
            char *n = word(&rest), *mode = word(&rest), *t = word(&rest), *inc = word(&rest);
            CZ_RETURN_IF(!parse_size(n, &c->nt) || !mode || strcasecmp(mode, "linear") != 0,
                         CLIMZ_ERR_UNSUPPORTED, "%s: line %d: TDEF must be 'TDEF n LINEAR start "
                         "step'", path, x.line);
            CZ_RETURN_IF(!t || !parse_time(t, &c->t0_min), CLIMZ_ERR_CORRUPT, "%s: line %d: TDEF "
                         "start time '%s' not understood", path, x.line, t ? t : "");
            char *u = inc;
            double v = 0;
            if (u) {
                v = strtod(inc, &u);
                if (u == inc) v = 0;
            }
            static const char *const units[][2] = {{"mn", "minutes"}, {"hr", "hours"},
                                                   {"dy", "days"}, {"mo", "months"}, {"yr", "years"}};
            c->tunit[0] = 0;
            for (int i = 0; i < 5 && v > 0; i++)
                if (!strcasecmp(u, units[i][0])) snprintf(c->tunit, sizeof c->tunit, "%s", units[i][1]);
            CZ_RETURN_IF(!c->tunit[0], CLIMZ_ERR_UNSUPPORTED, "%s: line %d: TDEF step '%s' not "
                         "understood (use mn, hr, dy, mo or yr)", path, x.line, inc ? inc : "");
            c->tinc = v;
            have_t = 1;
        } else if (!strcasecmp(kw, "vars")) {
            size_t n;
            CZ_RETURN_IF(!parse_size(word(&rest), &n) || n > 100000, CLIMZ_ERR_CORRUPT,
                         "%s: line %d: VARS needs a count", path, x.line);
            c->vars = cz_calloc(n, sizeof *c->vars);
            CZ_RETURN_IF(!c->vars, CLIMZ_ERR_ALLOC, "out of memory");
            for (size_t i = 0; i < n; i++) {
                char *vl = next_line(&x);
                CZ_RETURN_IF(!vl, CLIMZ_ERR_CORRUPT, "%s: VARS lists %zu of %zu variables", path, i, n);
                char *name = word(&vl), *levs = word(&vl), *units = word(&vl);
                while (vl && (*vl == ' ' || *vl == '\t')) vl++;
                double lv;
                CZ_RETURN_IF(!name || !parse_num(levs, &lv) || lv < 0 || lv != floor(lv),
                             CLIMZ_ERR_CORRUPT, "%s: line %d: a VARS line needs 'name levels "
                             "units description'", path, x.line);
                CZ_RETURN_IF(!strcasecmp(name, "endvars"), CLIMZ_ERR_CORRUPT, "%s: line %d: "
                             "ENDVARS after %zu of %zu variables", path, x.line, i, n);
                CZ_RETURN_IF(strstr(name, "=>") || strlen(name) >= sizeof c->vars[i].name,
                             CLIMZ_ERR_UNSUPPORTED, "%s: line %d: variable name '%s' is not "
                             "supported", path, x.line, name);
                CZ_RETURN_IF(units && (units[0] == '-' || strchr(units, ',')),
                             CLIMZ_ERR_UNSUPPORTED, "%s: line %d: variable %s: units field '%s' "
                             "(a special data layout) is not supported", path, x.line, name, units);
                snprintf(c->vars[i].name, sizeof c->vars[i].name, "%s", name);
                snprintf(c->vars[i].desc, sizeof c->vars[i].desc, "%s", vl ? vl : "");
                c->vars[i].levs = (size_t)lv;
                c->nvars = i + 1;
            }
            char *e = next_line(&x);
            CZ_RETURN_IF(!e || strncasecmp(e, "endvars", 7) != 0, CLIMZ_ERR_CORRUPT, "%s: ENDVARS "
                         "missing after %zu variables", path, n);
            have_vars = 1;
        } else {
            return cz_error(CLIMZ_ERR_UNSUPPORTED, "%s: line %d: GrADS keyword %s is not supported",
                            path, x.line, kw);
        }
    }
    CZ_RETURN_IF(!have_dset, CLIMZ_ERR_CORRUPT, "%s: no DSET line", path);
    CZ_RETURN_IF(!c->x.n || !c->y.n, CLIMZ_ERR_CORRUPT, "%s: XDEF and YDEF are required", path);
    CZ_RETURN_IF(!have_t, CLIMZ_ERR_CORRUPT, "%s: TDEF is required", path);
    CZ_RETURN_IF(!have_vars, CLIMZ_ERR_CORRUPT, "%s: VARS is required", path);
    if (!c->z.n) {
        c->z.v = cz_calloc(1, sizeof *c->z.v);
        CZ_RETURN_IF(!c->z.v, CLIMZ_ERR_ALLOC, "out of memory");
        c->z.n = 1;
    }
    for (size_t i = 0; i < c->nvars; i++)
        CZ_RETURN_IF(c->vars[i].levs > c->z.n, CLIMZ_ERR_CORRUPT, "%s: variable %s has %zu levels, "
                     "ZDEF only %zu", path, c->vars[i].name, c->vars[i].levs, c->z.n);
    return CLIMZ_OK;
}

static climz_status add_coord(cz_dataset *ds, const char *name, size_t n, const double *v, int *dim,
                              const char *const *atts) {
    int ci;
    CZ_FORWARD(io_dim_add(ds, name, n, 0, dim));
    CZ_FORWARD(io_var_add(ds, name, CZ_T_F64, 1, dim, &ci));
    cz_var *c = &ds->vars[ci];
    c->raw = cz_malloc(n * sizeof(double));
    CZ_RETURN_IF(!c->raw, CLIMZ_ERR_ALLOC, "out of memory");
    memcpy(c->raw, v, n * sizeof(double));
    for (; atts[0]; atts += 2) CZ_FORWARD(io_attr_set_text(&c->atts, &c->natts, atts[0], atts[1]));
    return CLIMZ_OK;
}

static climz_status build(const gr_ctl *c, const char *path, const char *data_path, cz_dataset *ds) {
    size_t const nx = c->x.n, ny = c->y.n, plane = nx * ny;
    size_t fields = 0;
    for (size_t i = 0; i < c->nvars; i++) fields += c->vars[i].levs ? c->vars[i].levs : 1;
    uint64_t const need = (uint64_t)c->nt * fields * plane * 4;
    FILE *f = fopen(data_path, "rb");
    CZ_RETURN_IF(!f, errno == ENOENT ? CLIMZ_ERR_NOT_FOUND : CLIMZ_ERR_IO, "%s: data file %s "
                 "(DSET): %s", path, data_path, strerror(errno));
    climz_status st = CLIMZ_OK;
    double *tv = NULL, *lat = NULL;
    if (fseek(f, 0, SEEK_END) != 0) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_IO, "%s: cannot seek", data_path);
    long const fsize = ftell(f);
    if (fsize < 0 || (uint64_t)fsize < need)
        CZ_FAIL_GOTO(st, done, CLIMZ_ERR_CORRUPT, "%s: data file is truncated: %ld bytes, the "
                     "descriptor %s describes %llu", data_path, fsize, path, (unsigned long long)need);

    /* coordinates */
    int dt, dz = -1, dy, dx;
    tv = cz_malloc(c->nt * sizeof *tv);
    lat = cz_malloc(ny * sizeof *lat);
    if (!tv || !lat) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory");
    for (size_t i = 0; i < c->nt; i++) tv[i] = (double)i * c->tinc;
    for (size_t j = 0; j < ny; j++) lat[j] = c->y.v[c->yrev ? ny - 1 - j : j];
    int64_t y;
    unsigned mo, dd;
    int64_t const t0 = c->t0_min;
    io_civil_from_days(t0 >= 0 ? t0 / 1440 : -((-t0 + 1439) / 1440), &y, &mo, &dd);
    int64_t const tod = t0 - io_days_from_civil(y, mo, dd) * 1440;
    char units[96];
    snprintf(units, sizeof units, "%s since %04lld-%02u-%02u %02d:%02d:00", c->tunit, (long long)y,
             mo, dd, (int)(tod / 60), (int)(tod % 60));
    const char *ta[] = {"standard_name", "time", "long_name", "time", "units", units,
                        "calendar", "standard", "axis", "T", NULL};
    const char *za[] = {"long_name", "level (GrADS ZDEF)", "axis", "Z", NULL};
    const char *ya[] = {"standard_name", "latitude", "long_name", "latitude", "units",
                        "degrees_north", "axis", "Y", NULL};
    const char *xa[] = {"standard_name", "longitude", "long_name", "longitude", "units",
                        "degrees_east", "axis", "X", NULL};
    CZ_CHECK_GOTO(st, add_coord(ds, "time", c->nt, tv, &dt, ta), done);
    int any_full = 0;
    for (size_t i = 0; i < c->nvars; i++) any_full |= c->vars[i].levs == c->z.n;
    if (any_full) CZ_CHECK_GOTO(st, add_coord(ds, "lev", c->z.n, c->z.v, &dz, za), done);
    /* a level dim for each shorter level count, named lev<count> */
    int subdim[64];
    size_t subn[64];
    int nsub = 0;
    for (size_t i = 0; i < c->nvars; i++) {
        size_t const L = c->vars[i].levs;
        if (!L || L == c->z.n) continue;
        int found = 0;
        for (int k = 0; k < nsub; k++) found |= subn[k] == L;
        if (found) continue;
        if (nsub == 64) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_UNSUPPORTED, "%s: too many level counts", path);
        char nm[32];
        snprintf(nm, sizeof nm, "lev%zu", L);
        subn[nsub] = L;
        CZ_CHECK_GOTO(st, add_coord(ds, nm, L, c->z.v, &subdim[nsub], za), done);
        nsub++;
    }
    CZ_CHECK_GOTO(st, add_coord(ds, "lat", ny, lat, &dy, ya), done);
    CZ_CHECK_GOTO(st, add_coord(ds, "lon", nx, c->x.v, &dx, xa), done);

    /* data: record layout t -> var -> level -> (y, x) */
    int const host_le = (union { uint16_t u; uint8_t b[2]; }){1}.b[0] == 1;
    int const file_le = c->order == 1 ? 1 : c->order == 2 ? 0 : c->order == 3 ? !host_le : host_le;
    float const undef = (float)c->undef;
    int first_var = ds->nvars;
    for (size_t i = 0; i < c->nvars; i++) {
        const gr_var *gv = &c->vars[i];
        int dims[4], nd = 0;
        dims[nd++] = dt;
        if (gv->levs) {
            int d = dz;
            for (int k = 0; k < nsub; k++)
                if (subn[k] == gv->levs) d = subdim[k];
            dims[nd++] = d;
        }
        dims[nd++] = dy;
        dims[nd++] = dx;
        int vi;
        CZ_CHECK_GOTO(st, io_var_add(ds, gv->name, CZ_T_F32, nd, dims, &vi), done);
        cz_var *v = &ds->vars[vi];
        size_t const nl = gv->levs ? gv->levs : 1;
        v->raw = cz_malloc(c->nt * nl * plane * sizeof(float));
        if (!v->raw) CZ_FAIL_GOTO(st, done, CLIMZ_ERR_ALLOC, "out of memory for %s", gv->name);
        if (gv->desc[0]) CZ_CHECK_GOTO(st, io_attr_set_text(&v->atts, &v->natts, "long_name", gv->desc), done);
        if (c->have_undef) CZ_CHECK_GOTO(st, io_attr_set_f32(&v->atts, &v->natts, "_FillValue", undef), done);
    }
    size_t const bytes = plane * 4;
    for (size_t t = 0, field = 0; t < c->nt; t++) {
        for (size_t i = 0; i < c->nvars; i++) {
            size_t const nl = c->vars[i].levs ? c->vars[i].levs : 1;
            uint8_t *dst = (uint8_t *)ds->vars[first_var + (int)i].raw + t * nl * bytes;
            if (fseek(f, (long)(field * bytes), SEEK_SET) != 0 || fread(dst, 1, nl * bytes, f) != nl * bytes)
                CZ_FAIL_GOTO(st, done, CLIMZ_ERR_IO, "%s: read error", data_path);
            if (file_le != host_le)
                for (size_t k = 0; k < nl * bytes; k += 4) {
                    uint8_t const a = dst[k], b = dst[k + 1];
                    dst[k] = dst[k + 3], dst[k + 1] = dst[k + 2], dst[k + 2] = b, dst[k + 3] = a;
                }
            field += nl;
        }
    }
    if (c->title[0]) CZ_CHECK_GOTO(st, io_attr_set_text(&ds->gatts, &ds->ngatts, "title", c->title), done);
    char src[600];
    snprintf(src, sizeof src, "GrADS descriptor %s with data %s", io_base_name(path), io_base_name(data_path));
    CZ_CHECK_GOTO(st, io_attr_set_text(&ds->gatts, &ds->ngatts, "source", src), done);
done:
    fclose(f);
    free(tv);
    free(lat);
    return st;
}

climz_status io_read_grads(const char *path, cz_dataset *ds) {
    uint8_t *text = NULL;
    size_t n = 0;
    CZ_FORWARD(cz_read_file(path, &text, &n));
    char *s = cz_realloc(text, n + 1);
    if (!s) {
        free(text);
        return cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    s[n] = 0;
    gr_ctl c;
    memset(&c, 0, sizeof c);
    climz_status st = parse_ctl(s, path, &c);
    char data_path[8192];
    if (!st) {
        if (c.dset[0] == '^') {
            const char *b = io_base_name(path);
            snprintf(data_path, sizeof data_path, "%.*s%s", (int)(b - path), path, c.dset + 1);
        } else {
            snprintf(data_path, sizeof data_path, "%s", c.dset);
        }
        st = build(&c, path, data_path, ds);
        if (!st && !(ds->data_path = cz_strdup(data_path))) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");
    }
    ctl_free(&c);
    free(s);
    if (st) return st;
    ds->format = CZ_FMT_GRADS;
    io_classify(ds);
    for (int i = 0; i < ds->nvars && !st; i++) st = io_scan_specials(ds, i, 0);
    return st;
}
