/* test_io_grib.c — GRIB through ecCodes: the bundled ERA5 file (48 messages, golden values
 * from `grib_get_data -F %.9g`), GRIB -> NetCDF, messages made here from ecCodes samples
 * (levels x times, a bitmap, a missing slot), and refusals (reduced Gaussian, spherical
 * harmonics, duplicates, truncation). */
#include "io_testlib.h"

#include <eccodes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_era5(const char *dir) {
    cz_dataset *ds = NULL;
    CHECK_OK(io_open(tu_data("era5-2mt-2019-03-01-02-uk.grib"), &ds));
    if (!ds) return;
    CHECK(ds->format == CZ_FMT_GRIB && ds->ndims == 3 && ds->nvars == 4);
    CHECK(!strcmp(ds->dims[0].name, "time") && ds->dims[0].len == 48);
    CHECK(!strcmp(ds->dims[1].name, "latitude") && ds->dims[1].len == 33);
    CHECK(!strcmp(ds->dims[2].name, "longitude") && ds->dims[2].len == 49);
    int const v = io_find_var(ds, "2t"), t = io_find_var(ds, "time"), la = io_find_var(ds, "latitude"),
              lo = io_find_var(ds, "longitude");
    CHECK(v >= 0 && t >= 0 && la >= 0 && lo >= 0);
    if (v < 0 || t < 0 || la < 0 || lo < 0) {
        io_free(ds);
        return;
    }
    const cz_var *x = &ds->vars[v];
    CHECK(x->is_grid && x->type == CZ_T_F32 && x->ndims == 3 && x->nspecials == 0);
    CHECK(!strcmp(io_attr_text(x->atts, x->natts, "units"), "K"));
    CHECK(!strcmp(io_attr_text(x->atts, x->natts, "long_name"), "2 metre temperature"));
    const cz_attr *pid = io_attr_find(x->atts, x->natts, "GRIB_paramId");
    CHECK(pid && pid->type == CZ_T_I32 && *(int32_t *)pid->data == 167);
    CHECK(!io_attr_find(x->atts, x->natts, "_FillValue")); /* no bitmap, nothing missing */
    CHECK(ds->vars[t].axis == CZ_AXIS_T && ds->vars[la].axis == CZ_AXIS_Y && ds->vars[lo].axis == CZ_AXIS_X);
    CHECK(!strcmp(io_attr_text(ds->vars[t].atts, ds->vars[t].natts, "units"), "hours since 2019-03-01 00:00:00"));
    const double *tv = ds->vars[t].raw, *lat = ds->vars[la].raw, *lon = ds->vars[lo].raw;
    int hourly = 1;
    for (int i = 0; i < 48; i++) hourly &= tv[i] == i;
    CHECK(hourly);
    CHECK(lat[0] == 58 && lat[1] == 57.75 && lat[32] == 50); /* first row 58N, north to south */
    CHECK(lon[0] == -10 && lon[1] == -9.75 && lon[48] == 2);
    cz_field f;
    CHECK_OK(io_load_field(ds, v, &f));
    CHECK(f.nt == 48 && f.nz == 1 && f.ny == 33 && f.nx == 49 && it_nmiss(&f) == 0);
    size_t const plane = 33 * 49;
    /* message 1: (58,-10) 282.424805, (58,-9.75) 282.307617, (50,2) 282.088867;
     * message 48 (2019-03-02 23 UTC): (58,-10) 281.484375, (54,-6.5) 279.736328, (50,2) 283.28125 */
    CHECK_NEAR(f.values[0], 282.424805, 5e-5);
    CHECK_NEAR(f.values[1], 282.307617, 5e-5);
    CHECK_NEAR(f.values[plane - 1], 282.088867, 5e-5);
    CHECK_NEAR(f.values[47 * plane], 281.484375, 5e-5);
    CHECK_NEAR(f.values[47 * plane + 798], 279.736328, 5e-5);
    CHECK_NEAR(f.values[48 * plane - 1], 283.28125, 5e-5);
    CHECK(f.lat && f.lat[0] == 58 && f.lon && f.lon[0] == -10);
    io_field_free(&f);

    /* GRIB -> NetCDF classic: same coordinates and values when read back */
    char out[4200];
    snprintf(out, sizeof out, "%s/era5.nc", dir);
    CHECK_OK(io_write_netcdf(ds, out));
    cz_dataset *nc = NULL;
    CHECK_OK(io_open(out, &nc));
    if (nc) {
        CHECK(nc->format == CZ_FMT_NETCDF3);
        it_check_same(ds, nc, "era5 grib -> netcdf");
        int const v2 = io_find_var(nc, "2t");
        CHECK(v2 >= 0 && nc->vars[v2].is_grid);
        io_free(nc);
    }
    io_free(ds);
}

/* A message from an ecCodes sample with the given keys set; appended to *buf. */
static int add_message(const char *sample, const char *level_type, long level, long date, long hhmm,
                       int bitmap, unsigned char **buf, size_t *n) {
    codes_handle *h = codes_grib_handle_new_from_samples(NULL, sample);
    if (!h) return -1;
    int e = 0;
    if (level_type) {
        size_t l = strlen(level_type);
        e |= codes_set_string(h, "typeOfLevel", level_type, &l);
        e |= codes_set_long(h, "level", level);
    }
    e |= codes_set_long(h, "dataDate", date);
    e |= codes_set_long(h, "dataTime", hhmm);
    e |= codes_set_long(h, "bitsPerValue", 16);
    size_t nv = 0;
    e |= codes_get_size(h, "values", &nv);
    long ni = 0, nj = 0; /* some samples carry no values: then the regular grid's size */
    if (nv == 0 && !codes_get_long(h, "Ni", &ni) && !codes_get_long(h, "Nj", &nj) && ni > 0 &&
        nj > 0 && ni < 100000 && nj < 100000)
        nv = (size_t)(ni * nj);
    double *v = malloc(nv * sizeof *v);
    for (size_t i = 0; i < nv; i++) v[i] = 250.0 + (double)level * 0.01 + (double)(i % 17) + hhmm / 100.0;
    if (bitmap) {
        e |= codes_set_long(h, "bitmapPresent", 1);
        e |= codes_set_double(h, "missingValue", 9999);
        v[0] = v[5] = 9999;
    }
    e |= codes_set_double_array(h, "values", v, nv);
    free(v);
    const void *msg;
    size_t len;
    e |= codes_get_message(h, &msg, &len);
    if (!e) {
        *buf = realloc(*buf, *n + len);
        memcpy(*buf + *n, msg, len);
        *n += len;
    }
    codes_handle_delete(h);
    return e ? -1 : 0;
}

static void test_made_messages(const char *dir) {
    char path[4200];
    unsigned char *buf = NULL;
    size_t n = 0;
    /* 2 levels x 2 times of t on pressure levels, in scrambled order, plus a surface field
     * with a bitmap at one time only */
    int e = 0;
    e |= add_message("regular_ll_pl_grib2", "isobaricInhPa", 500, 20200101, 600, 0, &buf, &n);
    e |= add_message("regular_ll_pl_grib2", "isobaricInhPa", 850, 20200101, 0, 0, &buf, &n);
    e |= add_message("regular_ll_pl_grib2", "isobaricInhPa", 500, 20200101, 0, 0, &buf, &n);
    e |= add_message("regular_ll_pl_grib2", "isobaricInhPa", 850, 20200101, 600, 0, &buf, &n);
    e |= add_message("regular_ll_sfc_grib2", NULL, 0, 20200101, 600, 1, &buf, &n);
    CHECK_MSG(e == 0, "could not make GRIB messages from the ecCodes samples");
    snprintf(path, sizeof path, "%s/made.grib2", dir);
    CHECK(it_write(path, buf, n) == 0);
    cz_dataset *ds = NULL;
    climz_status st = io_open(path, &ds);
    CHECK_MSG(st == CLIMZ_OK, "made.grib2: %s", cz_error_message());
    if (ds) {
        /* both are shortName t: the names get the level type */
        int const t = io_find_var(ds, "t_isobaricInhPa");
        int const lev = io_find_var(ds, "isobaricInhPa");
        CHECK(t >= 0 && lev >= 0);
        if (t >= 0 && lev >= 0) {
            const cz_var *v = &ds->vars[t];
            CHECK(v->ndims == 4 && ds->dims[v->dimids[0]].len == 2 && ds->dims[v->dimids[1]].len == 2);
            const double *L = ds->vars[lev].raw;
            CHECK(L[0] == 850 && L[1] == 500 && ds->vars[lev].axis == CZ_AXIS_Z); /* surface first */
            size_t nt, nz, ny, nx;
            CHECK_OK(io_field_shape(ds, t, &nt, &nz, &ny, &nx));
            cz_field f;
            CHECK_OK(io_load_field(ds, t, &f));
            size_t const plane = ny * nx;
            /* slot (time 06, 500 hPa) holds 250 + 5 + 6 at point 0 */
            CHECK_NEAR(f.values[(1 * 2 + 1) * plane], 250 + 5 + 6, 2e-3);
            CHECK_NEAR(f.values[0], 250 + 8.5, 2e-3);
            io_field_free(&f);
        }
        /* the surface field: bitmap -> _FillValue; the 00 UTC slot has no message -> missing */
        int const s = io_find_var(ds, "t_heightAboveGround");
        CHECK(s >= 0);
        if (s >= 0) {
            const cz_var *v = &ds->vars[s];
            const cz_attr *fv = io_attr_find(v->atts, v->natts, "_FillValue");
            CHECK(fv && fv->type == CZ_T_F32 && v->nspecials == 1);
            cz_field f;
            CHECK_OK(io_load_field(ds, s, &f));
            size_t const plane = f.ny * f.nx;
            CHECK(f.nt == 1 || f.nt == 2);
            /* it shares no time axis with t only if its times differ: here it has 06 UTC only */
            CHECK(f.nt == 1 && it_nmiss(&f) == 2 && f.miss[0] == 1 && f.miss[5] == 1 && f.miss[1] == 0);
            CHECK(plane > 6);
            io_field_free(&f);
        }
        char out[4200];
        snprintf(out, sizeof out, "%s/made.nc", dir);
        CHECK_OK(io_write_netcdf(ds, out));
        cz_dataset *back = NULL;
        CHECK_OK(io_open(out, &back));
        if (back) {
            it_check_same(ds, back, "made grib -> netcdf");
            io_free(back);
        }
        io_free(ds);
    }
    /* the same message twice: refused, naming both */
    size_t const one = n;
    e = add_message("regular_ll_pl_grib2", "isobaricInhPa", 850, 20200101, 600, 0, &buf, &n);
    CHECK(e == 0);
    snprintf(path, sizeof path, "%s/dup.grib2", dir);
    CHECK(it_write(path, buf, n) == 0);
    ds = NULL;
    CHECK_STATUS(io_open(path, &ds), CLIMZ_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(cz_error_message(), "messages 4 and 6"), "%s", cz_error_message());
    n = one;
    free(buf);
}

/* regular Gaussian grid, GRIB 1 and 2: latitudes from ecCodes' geometry (T42: 87.8638,
 * 85.0965, ... north to south), stacked over two times */
static void test_gaussian(const char *dir) {
    const char *samples[] = {"regular_gg_sfc_grib1", "regular_gg_sfc_grib2"};
    for (int k = 0; k < 2; k++) {
        unsigned char *buf = NULL;
        size_t n = 0;
        CHECK(add_message(samples[k], NULL, 0, 20200101, 1200, 0, &buf, &n) == 0);
        CHECK(add_message(samples[k], NULL, 0, 20200101, 0, 0, &buf, &n) == 0);
        char path[4200];
        snprintf(path, sizeof path, "%s/gg%d.grib", dir, k + 1);
        CHECK(it_write(path, buf, n) == 0);
        free(buf);
        cz_dataset *ds = NULL;
        CHECK_OK(io_open(path, &ds));
        if (!ds) continue;
        int const la = io_find_var(ds, "latitude"), t = io_find_var(ds, "t"), tm = io_find_var(ds, "time");
        CHECK(la >= 0 && t >= 0 && tm >= 0 && ds->dims[ds->vars[la].dimids[0]].len == 64);
        if (la >= 0 && t >= 0 && tm >= 0) {
            const double *lat = ds->vars[la].raw, *tv = ds->vars[tm].raw;
            CHECK_NEAR(lat[0], 87.8638, 1e-3);
            CHECK_NEAR(lat[1], 85.0965, 1e-3);
            CHECK_NEAR(lat[63], -87.8638, 1e-3);
            CHECK(tv[0] == 0 && tv[1] == 12); /* sorted by time, hours since 00 UTC */
            cz_field f;
            CHECK_OK(io_load_field(ds, t, &f));
            CHECK(f.nt == 2 && f.ny == 64 && f.nx == 128);
            CHECK_NEAR(f.values[0], 250.0, 2e-3);                    /* 00 UTC */
            CHECK_NEAR(f.values[64 * 128], 250.0 + 12, 2e-3);        /* 12 UTC */
            io_field_free(&f);
        }
        io_free(ds);
    }
}

static void test_refusals(const char *dir) {
    char path[4200];
    size_t n;
    unsigned char *era = it_read(tu_data("era5-2mt-2019-03-01-02-uk.grib"), &n);
    CHECK(era && n == 48 * 3342);
    if (!era) return;
    const char *samples[] = {"reduced_gg_pl_32_grib2", "sh_ml_grib2", "polar_stereographic_pl_grib2"};
    const char *types[] = {"reduced_gg", "sh", "polar_stereographic"};
    for (int k = 0; k < 3; k++) {
        /* one good message, then the non-regular one: "message 2" */
        unsigned char *buf = malloc(3342);
        memcpy(buf, era, 3342);
        size_t len = 3342;
        CHECK(add_message(samples[k], NULL, 0, 20190301, 100, 0, &buf, &len) == 0);
        snprintf(path, sizeof path, "%s/bad%d.grib", dir, k);
        CHECK(it_write(path, buf, len) == 0);
        free(buf);
        cz_dataset *ds = NULL;
        CHECK_STATUS(io_open(path, &ds), CLIMZ_ERR_UNSUPPORTED);
        char want[200];
        snprintf(want, sizeof want, "message 2: grid type %s is not a regular grid", types[k]);
        CHECK_MSG(strstr(cz_error_message(), want) != NULL, "'%s' lacks '%s'", cz_error_message(), want);
        CHECK(ds == NULL);
    }
    /* truncated: the second message cut short */
    snprintf(path, sizeof path, "%s/trunc.grib", dir);
    CHECK(it_write(path, era, 3342 + 2000) == 0);
    cz_dataset *ds = NULL;
    climz_status const st = io_open(path, &ds);
    CHECK_MSG(st == CLIMZ_ERR_CORRUPT, "truncated GRIB: %s %s", climz_status_name(st), cz_error_message());
    CHECK(strstr(cz_error_message(), "message 2") != NULL);
    io_free(ds);
    free(era);
}

int main(void) {
    const char *dir = tu_tmpdir("test_io_grib");
    test_era5(dir);
    test_made_messages(dir);
    test_gaussian(dir);
    test_refusals(dir);
    return tu_finish();
}
