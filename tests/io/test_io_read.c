/* test_io_read.c — NetCDF reading on the bundled samples (dims, classification, golden values
 * from `ncdump -p 9,17`, missing values, packing), the missing-value rules on small files
 * written here with libnetcdf (default fill, NaN payloads, valid_range, missing_value
 * arrays), the same specials found in pieces (IO_OPEN_NO_SCAN), and format detection / bad
 * input. */
#include "io_testlib.h"

#include <math.h>
#include <netcdf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static float fval(const cz_field *f, size_t i) { return f->values[i]; }

static cz_dataset *open_ok(const char *path) {
    cz_dataset *ds = NULL;
    climz_status const st = io_open(path, &ds);
    CHECK_MSG(st == CLIMZ_OK, "io_open(%s): %s %s", path, climz_status_name(st), cz_error_message());
    return st == CLIMZ_OK ? ds : NULL;
}

static int var_of(const cz_dataset *ds, const char *name) {
    int const i = io_find_var(ds, name);
    CHECK_MSG(i >= 0, "no variable %s", name);
    return i;
}

static void test_hgt(void) {
    cz_dataset *ds = open_ok(tu_data("hgt.nc"));
    if (!ds) return;
    CHECK(ds->format == CZ_FMT_NETCDF3 && ds->nc_kind == NC_FORMAT_CLASSIC);
    CHECK(ds->ndims == 3 && ds->nvars == 4 && ds->ngroups == 0);
    CHECK(!strcmp(ds->dims[0].name, "time") && ds->dims[0].len == 21 && !ds->dims[0].unlimited);
    int const h = var_of(ds, "HGT"), t = var_of(ds, "time"), la = var_of(ds, "lat"), lo = var_of(ds, "lon");
    if (h < 0 || t < 0 || la < 0 || lo < 0) goto done;
    CHECK(ds->vars[h].is_grid && !ds->vars[h].is_coord && ds->vars[h].type == CZ_T_F32);
    CHECK(ds->vars[t].is_coord && ds->vars[t].axis == CZ_AXIS_T && ds->vars[t].type == CZ_T_I32);
    CHECK(ds->vars[la].is_coord && ds->vars[la].axis == CZ_AXIS_Y);
    CHECK(ds->vars[lo].is_coord && ds->vars[lo].axis == CZ_AXIS_X);
    CHECK(io_var_has_time(ds, &ds->vars[h]));
    /* _FillValue -999.f is the one special; time's _FillValue -999 (int) too */
    CHECK(ds->vars[h].nspecials == 1 && cz_load_le64(ds->vars[h].specials[0]) == 0xc479c000u);
    CHECK(ds->vars[t].nspecials == 1 && cz_load_le64(ds->vars[t].specials[0]) == 0xfffffc19u);
    const int32_t *tv = ds->vars[t].raw; /* irregular: 0, 1, 13, 25, ... 229 */
    CHECK(tv[0] == 0 && tv[1] == 1 && tv[2] == 13 && tv[20] == 229);
    CHECK(io_attr_text(ds->vars[t].atts, ds->vars[t].natts, "units") &&
          !strcmp(io_attr_text(ds->vars[t].atts, ds->vars[t].natts, "units"), "months since 1958-1-1 00:00:00"));
    const cz_attr *lev = io_attr_find(ds->vars[h].atts, ds->vars[h].natts, "lev");
    CHECK(lev && lev->type == CZ_T_F32 && lev->len == 1 && *(float *)lev->data == 500.0f);
    cz_field f;
    CHECK_OK(io_load_field(ds, h, &f));
    CHECK(f.nt == 21 && f.nz == 1 && f.ny == 73 && f.nx == 144);
    CHECK(fval(&f, 0) == 5168.3999f && fval(&f, 1000) == 5118.5f && fval(&f, 220751) == 5036.7998f);
    CHECK(it_nmiss(&f) == 0);
    CHECK(f.lat && f.lon && f.lat[0] == -90 && f.lat[72] == 90 && f.lon[0] == 0 && f.lon[143] == 357.5);
    /* a time slice equals the same part of the whole field */
    cz_field g;
    CHECK_OK(io_load_field_times(ds, h, 5, 3, &g));
    CHECK(g.nt == 3 && !memcmp(g.values, f.values + 5 * 73 * 144, 3 * 73 * 144 * sizeof(float)));
    io_field_free(&g);
    CHECK_STATUS(io_load_field_times(ds, h, 20, 2, &g), CLIMZ_ERR_INVALID_ARG);
    CHECK_STATUS(io_load_field(ds, t, &g), CLIMZ_ERR_UNSUPPORTED); /* a coordinate */
    io_field_free(&f);
done:
    io_free(ds);
}

static void test_tas(void) {
    cz_dataset *ds = open_ok(tu_data("tas_rectilinear_grid_2D.nc"));
    if (!ds) return;
    int const tas = var_of(ds, "tas"), tb = var_of(ds, "time_bnds"), lb = var_of(ds, "lat_bnds"),
              tm = var_of(ds, "time");
    if (tas < 0 || tb < 0 || lb < 0 || tm < 0) goto done;
    CHECK(ds->dims[3].unlimited && !strcmp(ds->dims[3].name, "time") && ds->dims[3].len == 12);
    CHECK(ds->vars[tas].is_grid && ds->vars[tb].is_coord && !ds->vars[tb].is_grid);
    CHECK(ds->vars[lb].is_coord && !ds->vars[lb].is_grid);
    CHECK(ds->vars[tm].axis == CZ_AXIS_T);
    CHECK(((double *)ds->vars[lb].raw)[1] == -87.647350311279297);
    CHECK(((double *)ds->vars[tm].raw)[0] == 56628.5 && ((double *)ds->vars[tm].raw)[11] == 56962.5);
    cz_field f;
    CHECK_OK(io_load_field(ds, tas, &f));
    CHECK(f.nt == 12 && f.nz == 1 && f.ny == 96 && f.nx == 192);
    CHECK(fval(&f, 0) == 239.096191f && fval(&f, 12345) == 275.273926f && fval(&f, 221183) == 249.377487f);
    CHECK(it_nmiss(&f) == 0);
    CHECK(f.lat && f.lat[0] == -88.572166442871094);
    io_field_free(&f);
done:
    io_free(ds);
}

static void test_fixed_fields(void) {
    const char *files[] = {"orog_mod1_rectilinear_grid_2D.nc", "sftlf_mod1_rectilinear_grid_2D.nc"};
    const char *names[] = {"orog", "sftlf"};
    float const gold[2][3] = {{2699.18774f, 13.1877441f, 11.3127441f}, {100.0f, 100.0f, 0.0f}};
    for (int k = 0; k < 2; k++) {
        cz_dataset *ds = open_ok(tu_data(files[k]));
        if (!ds) continue;
        int const v = var_of(ds, names[k]);
        cz_field f;
        if (v >= 0 && io_load_field(ds, v, &f) == CLIMZ_OK) {
            CHECK(f.nt == 1 && f.nz == 1 && f.ny == 96 && f.nx == 192);
            CHECK(!io_var_has_time(ds, &ds->vars[v]));
            CHECK(fval(&f, 0) == gold[k][0] && fval(&f, 9000) == gold[k][1]);
            if (k == 0) CHECK(fval(&f, 18431) == gold[k][2]);
            /* 1e20 is declared as _FillValue and missing_value: one special, never present */
            CHECK(ds->vars[v].nspecials == 1 && it_nmiss(&f) == 0);
            if (k == 1) { /* sftlf is binary: 66.2% 0 and 33.8% 100 */
                size_t z = 0, h = 0;
                for (size_t i = 0; i < 96 * 192; i++) z += f.values[i] == 0, h += f.values[i] == 100;
                CHECK(z + h == 96 * 192 && fabs((double)z / (96 * 192) - 0.662) < 0.001);
            }
            io_field_free(&f);
        } else {
            CHECK_MSG(0, "%s: load failed: %s", files[k], cz_error_message());
        }
        io_free(ds);
    }
}

static void test_bcsd(void) {
    cz_dataset *ds = open_ok(tu_data("bcsd_obs_1999.nc"));
    if (!ds) return;
    int const pr = var_of(ds, "pr"), tas = var_of(ds, "tas");
    if (pr < 0 || tas < 0) goto done;
    /* _FillValue 1e20 declared, NaN used: two specials, NaN second */
    const cz_var *v = &ds->vars[pr];
    CHECK(v->nspecials == 2 && cz_load_le64(v->specials[0]) == 0x60ad78ecu &&
          cz_load_le64(v->specials[1]) == 0x7fc00000u);
    cz_field f;
    CHECK_OK(io_load_field(ds, pr, &f));
    CHECK(f.nt == 12 && f.ny == 33 && f.nx == 81);
    size_t const plane = 33 * 81;
    for (size_t t = 0; t < 12; t++) {
        size_t m = 0, code_ok = 1;
        for (size_t i = 0; i < plane; i++) {
            m += f.miss[t * plane + i] != 0;
            code_ok &= f.miss[t * plane + i] == 0 || f.miss[t * plane + i] == 2;
            code_ok &= f.miss[t * plane + i] == 0 ? isfinite(f.values[t * plane + i]) : f.values[t * plane + i] == 0;
        }
        CHECK_MSG(m == 593 && code_ok, "month %zu: %zu NaN cells (want 593)", t, m);
    }
    CHECK(fval(&f, 0) == 159.080002f && fval(&f, 1000) == 122.32f && f.miss[32075] == 2);
    CHECK(f.lat[0] == 33.0625 && f.lat[32] == 37.0625 && f.lon[0] == -84.9375);
    io_field_free(&f);
    CHECK_OK(io_load_field(ds, tas, &f));
    CHECK(fval(&f, 1000) == 8.5022583f && it_nmiss(&f) == 12 * 593);
    /* store back: the NaN cells come back with their exact bits */
    void *orig = malloc(io_var_count(ds, &ds->vars[tas]) * 4);
    memcpy(orig, ds->vars[tas].raw, io_var_count(ds, &ds->vars[tas]) * 4);
    memset(ds->vars[tas].raw, 0, io_var_count(ds, &ds->vars[tas]) * 4);
    CHECK_OK(io_store_field(ds, tas, &f));
    CHECK(!memcmp(orig, ds->vars[tas].raw, io_var_count(ds, &ds->vars[tas]) * 4));
    free(orig);
    io_field_free(&f);
done:
    io_free(ds);
}

static void test_reduced(void) {
    cz_dataset *ds = open_ok(tu_data("reduced.nc"));
    if (!ds) return;
    const char *names[] = {"sst", "anom", "err", "ice"};
    for (int k = 0; k < 4; k++) {
        int const vi = var_of(ds, names[k]);
        if (vi < 0) continue;
        cz_var *v = &ds->vars[vi];
        CHECK(v->type == CZ_T_I16 && v->packed && v->scale == (double)0.01f && v->offset == 0);
        CHECK(v->nspecials == 1 && cz_load_le64(v->specials[0]) == 0xfc19u); /* -999s */
        CHECK(v->ndims == 4 && io_var_has_time(ds, v));
        cz_field f;
        CHECK_OK(io_load_field(ds, vi, &f));
        size_t const n = 90 * 180;
        CHECK(f.nt == 1 && f.nz == 1 && f.ny == 90 && f.nx == 180);
        size_t const m = it_nmiss(&f);
        if (k < 3) CHECK_MSG(m == 4448, "%s: %zu missing (27.5%% = 4448)", names[k], m);
        else CHECK_MSG(m == 13266, "ice: %zu missing (81.9%%)", m);
        if (k == 0) {
            const int16_t *r = v->raw;
            CHECK(r[0] == -999 && r[8000] == 2937 && r[9000] == -999 && r[16199] == -169);
            CHECK(f.miss[0] == 1 && f.miss[9000] == 1 && f.values[0] == 0);
            CHECK(f.values[8000] == (float)(2937 * (double)0.01f) && f.values[16199] == (float)(-169 * (double)0.01f));
            CHECK(fabs(f.values[8000] - 29.37) < 1e-5);
        }
        /* unpack -> repack is bit-exact */
        int16_t *orig = malloc(n * 2);
        memcpy(orig, v->raw, n * 2);
        memset(v->raw, 0x55, n * 2);
        CHECK_OK(io_store_field(ds, vi, &f));
        CHECK_MSG(!memcmp(orig, v->raw, n * 2), "%s: repacked values differ", names[k]);
        /* a valid value that would pack onto the fill stays valid; out-of-range values clamp */
        f.miss[1] = 0, f.values[1] = -9.99f;
        f.miss[2] = 0, f.values[2] = 1000.0f;
        f.miss[3] = 0, f.values[3] = -1000.0f;
        CHECK_OK(io_store_field(ds, vi, &f));
        const int16_t *r = v->raw;
        CHECK(r[1] == -998 || r[1] == -1000);
        CHECK(r[2] == 32767 && r[3] == -32768);
        cz_field g;
        CHECK_OK(io_load_field(ds, vi, &g));
        CHECK(g.miss[1] == 0 && g.miss[2] == 0 && g.miss[3] == 0);
        io_field_free(&g);
        memcpy(v->raw, orig, n * 2);
        free(orig);
        io_field_free(&f);
    }
    io_free(ds);
}

/* ---- rules on files written here ------------------------------------------------------ */

#define NCOK(x) CHECK_MSG((x) == NC_NOERR, "%s failed", #x)

/* a (t=2, lat=3, lon=4) float file with coordinate variables; returns ncid in define mode
 * and the ids of the data variables named in names[] */
static int make_grid_file(const char *path, int mode, int nv, const char *const *names,
                          const nc_type *types, int *vids) {
    int nc, dt, dy, dx, c;
    NCOK(nc_create(path, NC_CLOBBER | mode, &nc));
    NCOK(nc_def_dim(nc, "time", NC_UNLIMITED, &dt));
    NCOK(nc_def_dim(nc, "lat", 3, &dy));
    NCOK(nc_def_dim(nc, "lon", 4, &dx));
    NCOK(nc_def_var(nc, "lat", NC_FLOAT, 1, &dy, &c));
    NCOK(nc_put_att_text(nc, c, "units", 13, "degrees_north"));
    NCOK(nc_def_var(nc, "lon", NC_FLOAT, 1, &dx, &c));
    NCOK(nc_put_att_text(nc, c, "units", 12, "degrees_east"));
    int dims[3] = {dt, dy, dx};
    for (int i = 0; i < nv; i++) NCOK(nc_def_var(nc, names[i], types[i], 3, dims, &vids[i]));
    return nc;
}

static void test_default_fill(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/deffill.nc", dir);
    const char *names[] = {"a", "b", "c", "d"};
    nc_type const types[] = {NC_FLOAT, NC_BYTE, NC_SHORT, NC_FLOAT};
    int v[4];
    int const nc = make_grid_file(path, 0, 4, names, types, v);
    float const lat[3] = {10, 20, 30}, lon[4] = {0, 1, 2, 3};
    float const fill = -1;
    NCOK(nc_put_att_float(nc, v[3], "_FillValue", NC_FLOAT, 1, &fill));
    NCOK(nc_enddef(nc));
    NCOK(nc_put_var_float(nc, 0, lat));
    NCOK(nc_put_var_float(nc, 1, lon));
    /* 2 records; only the first record of each variable is written */
    size_t start[3] = {0, 0, 0}, count[3] = {1, 3, 4};
    float fv[12];
    signed char bv[12];
    short sv[12];
    for (int i = 0; i < 12; i++) fv[i] = (float)i, bv[i] = (signed char)-127, sv[i] = (short)i;
    NCOK(nc_put_vara_float(nc, v[0], start, count, fv));
    NCOK(nc_put_vara_schar(nc, v[1], start, count, bv)); /* -127 = the byte default fill */
    NCOK(nc_put_vara_short(nc, v[2], start, count, sv));
    NCOK(nc_put_vara_float(nc, v[3], start, count, fv));
    start[0] = 1;
    NCOK(nc_put_vara_float(nc, v[0], start, count, fv)); /* makes 2 records everywhere */
    start[0] = 0;
    NCOK(nc_close(nc));

    cz_dataset *ds = open_ok(path);
    if (!ds) return;
    cz_field f;
    /* a: both records written, no default fill occurs, none */
    int i = var_of(ds, "a");
    CHECK(i >= 0 && ds->vars[i].nspecials == 0);
    /* b: byte default fill is data, never missing */
    i = var_of(ds, "b");
    CHECK(i >= 0 && ds->vars[i].nspecials == 0);
    if (i >= 0 && io_load_field(ds, i, &f) == CLIMZ_OK) {
        CHECK(it_nmiss(&f) == 0 && f.values[0] == -127);
        io_field_free(&f);
    }
    /* c: record 1 never written -> default fill -32767, missing */
    i = var_of(ds, "c");
    CHECK(i >= 0 && ds->vars[i].nspecials == 1 && cz_load_le64(ds->vars[i].specials[0]) == 0x8001u);
    if (i >= 0 && io_load_field(ds, i, &f) == CLIMZ_OK) {
        CHECK(it_nmiss(&f) == 12 && f.miss[12] == 1 && f.miss[11] == 0 && f.values[11] == 11);
        io_field_free(&f);
    }
    /* d: has its own _FillValue (-1, written as the fill of record 1): the default is not used */
    i = var_of(ds, "d");
    CHECK(i >= 0 && ds->vars[i].nspecials == 1 && cz_load_le64(ds->vars[i].specials[0]) == it_f32_bits(-1.0f));
    if (i >= 0 && io_load_field(ds, i, &f) == CLIMZ_OK) {
        CHECK(it_nmiss(&f) == 12);
        io_field_free(&f);
    }
    io_free(ds);
}

static float nan_payload(unsigned p) {
    unsigned const u = 0x7fc00000u | p;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static void test_nan_payloads_and_ranges(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/specials.nc", dir);
    const char *names[] = {"nan20", "rng", "rngmany", "mv2", "pk"};
    nc_type const types[] = {NC_FLOAT, NC_FLOAT, NC_FLOAT, NC_SHORT, NC_SHORT};
    int v[5];
    int const nc = make_grid_file(path, 0, 5, names, types, v);
    /* packed, with valid_min/max in the unpacked (float) type: compared after unpacking */
    float const sf = 0.1f, vmin = 0, vmax = 10;
    NCOK(nc_put_att_float(nc, v[4], "scale_factor", NC_FLOAT, 1, &sf));
    NCOK(nc_put_att_float(nc, v[4], "valid_min", NC_FLOAT, 1, &vmin));
    NCOK(nc_put_att_float(nc, v[4], "valid_max", NC_FLOAT, 1, &vmax));
    float const fill = 1e20f, vr[2] = {0, 100};
    short const mv[2] = {-999, -888};
    NCOK(nc_put_att_float(nc, v[0], "_FillValue", NC_FLOAT, 1, &fill));
    NCOK(nc_put_att_float(nc, v[1], "valid_range", NC_FLOAT, 2, vr));
    NCOK(nc_put_att_float(nc, v[2], "valid_min", NC_FLOAT, 1, &vr[0]));
    NCOK(nc_put_att_float(nc, v[2], "valid_max", NC_FLOAT, 1, &vr[1]));
    NCOK(nc_put_att_short(nc, v[3], "missing_value", NC_SHORT, 2, mv));
    NCOK(nc_enddef(nc));
    float a[24], b[24], c[24];
    short d[24];
    for (int i = 0; i < 24; i++) {
        a[i] = i < 20 ? nan_payload((unsigned)i) : (float)i; /* 20 distinct NaN payloads */
        b[i] = (float)i;
        c[i] = (float)i;
        d[i] = (short)i;
    }
    a[21] = 1e20f;
    b[3] = -5, b[4] = 200, b[5] = -5; /* 2 distinct out-of-range values */
    for (int i = 0; i < 16; i++) c[i] = 1000.0f + (float)i; /* 16 distinct: more than the slots */
    d[0] = -999, d[1] = -888, d[2] = -999;
    size_t start[3] = {0, 0, 0}, count[3] = {2, 3, 4};
    NCOK(nc_put_vara_float(nc, v[0], start, count, a));
    NCOK(nc_put_vara_float(nc, v[1], start, count, b));
    NCOK(nc_put_vara_float(nc, v[2], start, count, c));
    NCOK(nc_put_vara_short(nc, v[3], start, count, d));
    for (int i = 0; i < 24; i++) d[i] = (short)(i * 4); /* 0 .. 9.2 after unpacking */
    d[6] = 150, d[7] = -3;
    NCOK(nc_put_vara_short(nc, v[4], start, count, d));
    NCOK(nc_close(nc));

    cz_dataset *ds = open_ok(path);
    if (!ds) return;
    cz_field f;
    int i = var_of(ds, "nan20");
    if (i >= 0) {
        cz_var *x = &ds->vars[i];
        /* _FillValue, then the first 14 NaN payloads (0x7fc00000 .. +13); 6 more folded */
        CHECK(x->nspecials == CZ_MAX_SPECIALS);
        CHECK(cz_load_le64(x->specials[0]) == it_f32_bits(1e20f));
        for (int k = 1; k < CZ_MAX_SPECIALS; k++)
            CHECK(cz_load_le64(x->specials[k]) == (0x7fc00000u | (unsigned)(k - 1)));
        if (io_load_field(ds, i, &f) == CLIMZ_OK) {
            CHECK(it_nmiss(&f) == 21);
            CHECK(f.miss[0] == 2 && f.miss[13] == 15 && f.miss[14] == 2 && f.miss[19] == 2 && f.miss[21] == 1);
            CHECK(f.miss[20] == 0 && f.values[20] == 20);
            CHECK_OK(io_store_field(ds, i, &f));
            const unsigned *r = x->raw;
            CHECK(r[13] == (0x7fc00000u | 13) && r[14] == 0x7fc00000u && r[19] == 0x7fc00000u);
            CHECK(r[21] == it_f32_bits(1e20f));
            io_field_free(&f);
        }
    }
    i = var_of(ds, "rng");
    if (i >= 0) {
        CHECK(ds->vars[i].nspecials == 2 && cz_load_le64(ds->vars[i].specials[0]) == it_f32_bits(-5) &&
              cz_load_le64(ds->vars[i].specials[1]) == it_f32_bits(200));
        if (io_load_field(ds, i, &f) == CLIMZ_OK) {
            CHECK(it_nmiss(&f) == 3 && f.miss[3] == 1 && f.miss[4] == 2 && f.miss[5] == 1);
            io_field_free(&f);
        }
    }
    i = var_of(ds, "rngmany"); /* 16 distinct out-of-range values: one code, bits kept apart */
    if (i >= 0) {
        CHECK(ds->vars[i].nspecials == 1 && ds->vars[i].oor_code == 1 &&
              cz_load_le64(ds->vars[i].specials[0]) == it_f32_bits(1000));
        if (io_load_field(ds, i, &f) == CLIMZ_OK) {
            CHECK(it_nmiss(&f) == 16 && f.miss[15] == 1 && f.exact && f.exact[15] == it_f32_bits(1015) &&
                  f.exact[0] == it_f32_bits(1000));
            io_field_free(&f);
        }
    }
    i = var_of(ds, "mv2");
    if (i >= 0) {
        CHECK(ds->vars[i].nspecials == 2 && !ds->vars[i].packed);
        if (io_load_field(ds, i, &f) == CLIMZ_OK) {
            CHECK(it_nmiss(&f) == 3 && f.miss[0] == 1 && f.miss[1] == 2 && f.miss[2] == 1 && f.values[3] == 3);
            io_field_free(&f);
        }
    }
    i = var_of(ds, "pk");
    if (i >= 0) {
        CHECK(ds->vars[i].packed && ds->vars[i].nspecials == 2);
        if (io_load_field(ds, i, &f) == CLIMZ_OK) {
            CHECK(it_nmiss(&f) == 2 && f.miss[6] == 1 && f.miss[7] == 2 && f.miss[23] == 0);
            CHECK_NEAR(f.values[23], 9.2, 1e-5);
            io_field_free(&f);
        }
    }
    io_free(ds);
}

/* IO_OPEN_NO_SCAN: the specials found from pieces of the steps (as MPI ranks do: each piece
 * scanned alone, the parts merged in file order) are those of one pass, and so are the fields,
 * for every cut into two pieces and for one piece per step. */
static void check_pieces(const char *path) {
    cz_dataset *a = NULL;
    CHECK_OK(io_open(path, &a));
    if (!a) return;
    for (int i = 0; i < a->nvars; i++) {
        size_t nt, nz, ny, nx;
        if (!a->vars[i].is_grid || io_field_shape(a, i, &nt, &nz, &ny, &nx) != CLIMZ_OK) continue;
        size_t const plane = nz * ny * nx;
        for (size_t cut = 0; cut <= nt + 1; cut++) { /* cut nt + 1: one piece per step */
            cz_dataset *l = NULL;
            CHECK_OK(io_open_ex(path, IO_OPEN_LAZY | IO_OPEN_NO_SCAN, &l));
            if (!l) break;
            cz_var *y = &l->vars[i];
            CHECK_MSG(y->scan_pending, "%s: %s: scanned at open", path, y->name);
            cz_field g;
            CHECK(io_load_field(l, i, &g) != CLIMZ_OK); /* refused until the specials are set */
            cz_error_clear();
            io_specials_part m = {0};
            void *raw[2] = {NULL, NULL};
            size_t const b[3] = {0, cut <= nt ? cut : 0, nt};
            for (size_t t = 0, k = 0; t < nt; k++) { /* pieces [b[k], b[k+1]) or single steps */
                size_t const t1 = cut <= nt ? b[k + 1] : t + 1;
                if (t1 == t) continue;
                void *r = NULL;
                io_specials_part p;
                CHECK_OK(io_load_raw_times(l, i, t, t1 - t, &r));
                if (r) CHECK_OK(io_specials_scan(l, i, r, (t1 - t) * plane, &p));
                if (r) io_specials_merge(&m, &p);
                free(r);
                t = t1;
            }
            CHECK_OK(io_specials_set(l, i, &m));
            const cz_var *x = &a->vars[i];
            CHECK_MSG(x->nspecials == y->nspecials && x->oor_code == y->oor_code &&
                          !memcmp(x->specials, y->specials, sizeof x->specials) && !y->scan_pending,
                      "%s: %s: cut %zu: specials differ (%d vs %d)", path, x->name, cut, y->nspecials, x->nspecials);
            cz_field f;
            CHECK_OK(io_load_field(a, i, &f));
            CHECK_OK(io_load_raw_times(l, i, 0, nt, &raw[0]));
            if (raw[0] && io_field_from_raw(l, i, raw[0], nt, &g) == CLIMZ_OK) {
                size_t const n = nt * plane;
                CHECK_MSG(!memcmp(f.values, g.values, n * 4) && !memcmp(f.miss, g.miss, n) &&
                              (!f.exact) == (!g.exact),
                          "%s: %s: cut %zu: fields differ", path, x->name, cut);
                io_field_free(&g);
            }
            free(raw[0]);
            io_field_free(&f);
            io_free(l);
        }
    }
    io_free(a);
}

static void test_no_scan(const char *dir) {
    char p[4200];
    const char *files[] = {"hgt.nc", "bcsd_obs_1999.nc", "reduced.nc", "model_T.nc"};
    for (int k = 0; k < 4; k++) check_pieces(tu_data(files[k]));
    snprintf(p, sizeof p, "%s/deffill.nc", dir); /* a default fill only in the second step */
    check_pieces(p);
    snprintf(p, sizeof p, "%s/specials.nc", dir); /* NaN payloads and 16 out-of-range values over both steps */
    check_pieces(p);
}

/* ---- detection and bad input ----------------------------------------------------------- */

static void expect_refusal(const char *path, climz_status want, const char *needle) {
    cz_dataset *ds = (cz_dataset *)1;
    climz_status const st = io_open(path, &ds);
    CHECK_MSG(st == want, "io_open(%s) = %s, want %s (%s)", path, climz_status_name(st),
              climz_status_name(want), cz_error_message());
    CHECK(ds == NULL);
    CHECK_MSG(strstr(cz_error_message(), needle) != NULL, "message '%s' lacks '%s'", cz_error_message(), needle);
    CHECK_MSG(strstr(cz_error_message(), path) != NULL, "message '%s' lacks the file name", cz_error_message());
    if (st == CLIMZ_OK) io_free(ds);
}

static void test_bad_input(const char *dir) {
    char p[4200], q[4200];
    snprintf(p, sizeof p, "%s/no_such_file.nc", dir);
    expect_refusal(p, CLIMZ_ERR_NOT_FOUND, "No such file");
    expect_refusal(tu_data("README.md"), CLIMZ_ERR_UNSUPPORTED, "unsupported because it is a text file");
    expect_refusal(dir, CLIMZ_ERR_UNSUPPORTED, "directory");
    snprintf(p, sizeof p, "%s/empty.nc", dir);
    CHECK(it_write(p, "", 0) == 0);
    expect_refusal(p, CLIMZ_ERR_UNSUPPORTED, "empty");
    unsigned char junk[600];
    for (int i = 0; i < 600; i++) junk[i] = (unsigned char)(i * 7 + 3);
    snprintf(p, sizeof p, "%s/junk.bin", dir);
    CHECK(it_write(p, junk, sizeof junk) == 0);
    expect_refusal(p, CLIMZ_ERR_UNSUPPORTED, "not recognised");
    snprintf(p, sizeof p, "%s/data.gz", dir);
    CHECK(it_write(p, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8) == 0);
    expect_refusal(p, CLIMZ_ERR_UNSUPPORTED, "decompress it first");
    /* raw binary next to its GrADS descriptor */
    snprintf(p, sizeof p, "%s/model.dat", dir);
    CHECK(it_write(p, junk, sizeof junk) == 0);
    snprintf(q, sizeof q, "%s/model.ctl", dir);
    const char *ctl = "DSET ^model.dat\nXDEF 10 LINEAR 0 1\n";
    CHECK(it_write(q, ctl, strlen(ctl)) == 0);
    expect_refusal(p, CLIMZ_ERR_UNSUPPORTED, "raw binary without descriptor: open model.ctl");
    /* a descriptor with a keyword climz does not handle */
    const char *ctl2 = "DSET ^model.dat\nPDEF 10 10 lcc 1 2 3\n";
    CHECK(it_write(q, ctl2, strlen(ctl2)) == 0);
    expect_refusal(q, CLIMZ_ERR_UNSUPPORTED, "PDEF");
    const char *ctl3 = "DSET ^model.dat\nOPTIONS template\nXDEF 2 LINEAR 0 1\n";
    CHECK(it_write(q, ctl3, strlen(ctl3)) == 0);
    expect_refusal(q, CLIMZ_ERR_UNSUPPORTED, "OPTIONS template");
    /* a descriptor whose data file is too short */
    const char *ctl4 = "DSET ^model.dat\nUNDEF -9\nXDEF 10 LINEAR 0 1\nYDEF 10 LINEAR 0 1\n"
                       "TDEF 2 LINEAR 00Z01JAN2000 6hr\nVARS 1\nA 0 99 a\nENDVARS\n";
    CHECK(it_write(q, ctl4, strlen(ctl4)) == 0);
    expect_refusal(q, CLIMZ_ERR_CORRUPT, "truncated");

    /* truncated NetCDF: inside the data, and inside the header */
    size_t n;
    unsigned char *b = it_read(tu_data("hgt.nc"), &n);
    CHECK(b != NULL);
    if (b) {
        snprintf(p, sizeof p, "%s/trunc_data.nc", dir);
        CHECK(it_write(p, b, n - 1) == 0);
        expect_refusal(p, CLIMZ_ERR_CORRUPT, "truncated");
        snprintf(p, sizeof p, "%s/trunc_head.nc", dir);
        CHECK(it_write(p, b, 300) == 0);
        expect_refusal(p, CLIMZ_ERR_CORRUPT, "truncated");
        /* a corrupt header: a bogus dimension tag */
        b[11] = 0x77;
        snprintf(p, sizeof p, "%s/corrupt_head.nc", dir);
        CHECK(it_write(p, b, n) == 0);
        expect_refusal(p, CLIMZ_ERR_CORRUPT, "corrupt_head.nc");
        free(b);
    }
    /* a truncated NetCDF-4 (HDF5) file: libnetcdf refuses it, with its message */
    int nc, d, vv;
    snprintf(q, sizeof q, "%s/full4.nc", dir);
    NCOK(nc_create(q, NC_CLOBBER | NC_NETCDF4, &nc));
    NCOK(nc_def_dim(nc, "x", 1000, &d));
    NCOK(nc_def_var(nc, "v", NC_DOUBLE, 1, &d, &vv));
    NCOK(nc_close(nc));
    b = it_read(q, &n);
    if (b) {
        snprintf(p, sizeof p, "%s/trunc4.nc", dir);
        CHECK(it_write(p, b, n / 2) == 0);
        cz_dataset *ds = NULL;
        climz_status const st = io_open(p, &ds);
        CHECK_MSG(st == CLIMZ_ERR_CORRUPT || st == CLIMZ_ERR_NETCDF, "truncated NetCDF-4: %s",
                  climz_status_name(st));
        CHECK(strstr(cz_error_message(), "NetCDF") != NULL && strstr(cz_error_message(), "trunc4.nc") != NULL);
        io_free(ds);
        free(b);
    }
}

int main(void) {
    const char *dir = tu_tmpdir("test_io_read");
    test_hgt();
    test_tas();
    test_fixed_fields();
    test_bcsd();
    test_reduced();
    test_default_fill(dir);
    test_nan_payloads_and_ranges(dir);
    test_no_scan(dir);
    test_bad_input(dir);
    return tu_finish();
}
