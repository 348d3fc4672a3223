/* test_io_shared.c — every file of ../shared/data either loads or is refused with a clear
 * message; each NetCDF file round-trips through io_write_netcdf() bit for bit with the same
 * `ncdump -h` text (nc4uvt.nc: NetCDF-4 with groups and NC_STRING attributes); the GRIB and
 * the GrADS data set load with the shapes and missing counts of MANIFEST.md and convert to
 * NetCDF. Skips (77) when the shared data is absent. */
#include "io_testlib.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf) {
    size_t const n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static void roundtrip_nc(const cz_dataset *a, const char *src, const char *dir, const char *name) {
    char out[4400];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    climz_status const st = io_write_netcdf(a, out);
    CHECK_MSG(st == CLIMZ_OK, "write %s: %s", name, cz_error_message());
    cz_dataset *b = NULL;
    if (st == CLIMZ_OK && io_open(out, &b) == CLIMZ_OK) {
        it_check_same(a, b, name);
        if (src) {
            char *h1 = it_ncdump_h(src), *h2 = it_ncdump_h(out);
            CHECK_MSG(h1 && h2 && !strcmp(h1, h2), "%s: ncdump -h of the copy differs", name);
            free(h1);
            free(h2);
        }
        io_free(b);
    } else {
        CHECK_MSG(0, "%s: reading the copy back: %s", name, cz_error_message());
    }
    remove(out);
}

static void check_grib(const cz_dataset *ds) {
    int const v = io_find_var(ds, "2t"), t = io_find_var(ds, "time"), la = io_find_var(ds, "latitude");
    CHECK(v >= 0 && t >= 0 && la >= 0);
    if (v < 0 || t < 0 || la < 0) return;
    size_t nt, nz, ny, nx;
    CHECK_OK(io_field_shape(ds, v, &nt, &nz, &ny, &nx));
    CHECK_MSG(nt == 504 && nz == 1 && ny == 33 && nx == 49, "2t is [%zu][%zu][%zu][%zu]", nt, nz, ny, nx);
    const double *tv = ds->vars[t].raw;
    CHECK(tv[0] == 0 && tv[503] == 503 && ((double *)ds->vars[la].raw)[0] == 58);
    cz_field f;
    CHECK_OK(io_load_field(ds, v, &f));
    float lo = 1e9f, hi = -1e9f;
    for (size_t i = 0; i < 504 * 33 * 49; i++) lo = fminf(lo, f.values[i]), hi = fmaxf(hi, f.values[i]);
    CHECK_NEAR(lo, 265.68, 0.01); /* MANIFEST: 265.68 to 290.09 K */
    CHECK_NEAR(hi, 290.09, 0.01);
    io_field_free(&f);
}

static void check_grads(const cz_dataset *ds) {
    CHECK(ds->format == CZ_FMT_GRADS && ds->nvars == 5 + 8);
    int const u = io_find_var(ds, "U"), q = io_find_var(ds, "Q"), z = io_find_var(ds, "Z"),
              ps = io_find_var(ds, "PS"), lev5 = io_find_var(ds, "lev5"), lat = io_find_var(ds, "lat");
    CHECK(u >= 0 && q >= 0 && z >= 0 && ps >= 0 && lev5 >= 0 && lat >= 0);
    if (u < 0 || q < 0 || z < 0 || ps < 0 || lev5 < 0 || lat < 0) return;
    CHECK(((double *)ds->vars[lat].raw)[0] == -90 && ((double *)ds->vars[lat].raw)[45] == 90);
    CHECK(((double *)ds->vars[lev5].raw)[4] == 300);
    cz_field f;
    size_t const plane = 46 * 72;
    if (io_load_field(ds, u, &f) == CLIMZ_OK) {
        /* below-ground undef per level over the 5 days: 8714, 2235, 1076, 11, 0, 0, 0 */
        size_t const want[7] = {8714, 2235, 1076, 11, 0, 0, 0};
        CHECK(f.nt == 5 && f.nz == 7 && f.ny == 46 && f.nx == 72);
        for (size_t k = 0; k < 7; k++) {
            size_t m = 0;
            for (size_t t = 0; t < 5; t++)
                for (size_t i = 0; i < plane; i++) m += f.miss[(t * 7 + k) * plane + i] != 0;
            CHECK_MSG(m == want[k], "U level %zu: %zu undef, want %zu", k, m, want[k]);
        }
        io_field_free(&f);
    }
    if (io_load_field(ds, q, &f) == CLIMZ_OK) {
        CHECK(f.nz == 5 && it_nmiss(&f) == 8714 + 2235 + 1076 + 11);
        io_field_free(&f);
    }
    if (io_load_field(ds, z, &f) == CLIMZ_OK) { /* Z at 500 hPa: 4784 to 5922 m */
        float lo = 1e9f, hi = -1e9f;
        for (size_t t = 0; t < 5; t++)
            for (size_t i = 0; i < plane; i++) {
                size_t const k = (t * 7 + 3) * plane + i;
                if (!f.miss[k]) lo = fminf(lo, f.values[k]), hi = fmaxf(hi, f.values[k]);
            }
        CHECK(lo > 4783 && lo < 4785 && hi > 5921 && hi < 5923);
        io_field_free(&f);
    }
    if (io_load_field(ds, ps, &f) == CLIMZ_OK) {
        CHECK(f.nz == 1 && it_nmiss(&f) == 0 && f.values[0] > 480 && f.values[0] < 1050);
        io_field_free(&f);
    }
}

static void check_nc4uvt(const cz_dataset *ds) {
    CHECK(ds->format == CZ_FMT_NETCDF4 && ds->ngroups == 3);
    CHECK(ds->ngroups == 3 && !strcmp(ds->groups[0].name, "grp1") && !strcmp(ds->groups[1].name, "group2") &&
          !strcmp(ds->groups[2].name, "g3") && ds->groups[1].natts == 0);
    const cz_attr *a = io_attr_find(ds->gatts, ds->ngatts, "title");
    CHECK(a && a->type == CZ_T_STRING && !strcmp(io_attr_text(ds->gatts, ds->ngatts, "title"), "NCL generated netCDF file"));
    int const t = io_find_var(ds, "T"), t1 = io_find_var(ds, "grp1/T");
    CHECK(t >= 0 && t1 >= 0);
    if (t < 0 || t1 < 0) return;
    CHECK(ds->vars[t1].is_grid && !memcmp(ds->vars[t].raw, ds->vars[t1].raw, 14 * 64 * 128 * 4));
    const cz_attr *u = io_attr_find(ds->vars[t].atts, ds->vars[t].natts, "units");
    CHECK(u && u->type == CZ_T_STRING && !strcmp(((char **)u->data)[0], "C"));
    cz_field f;
    if (io_load_field(ds, t1, &f) == CLIMZ_OK) {
        CHECK(f.nt == 1 && f.nz == 14 && f.ny == 64 && f.nx == 128 && it_nmiss(&f) == 0);
        CHECK(f.values[0] == 266.693359f && f.values[100000] == 227.660645f);
        io_field_free(&f);
    }
}

int main(void) {
    if (!tu_shared("MANIFEST.md")) tu_skip("../shared/data is absent");
    const char *out = tu_tmpdir("test_io_shared");
    DIR *d = opendir(CLIMZ_SHARED_DATA);
    CHECK(d != NULL);
    if (!d) return tu_finish();
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int loaded = 0, refused = 0;
    double const t0 = cz_now();
    for (int i = 0; i < n; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", CLIMZ_SHARED_DATA, names[i]);
        cz_dataset *ds = NULL;
        climz_status const st = io_open(path, &ds);
        int const must_load = ends_with(names[i], ".nc") || ends_with(names[i], ".cdf") ||
                              ends_with(names[i], ".grib") || ends_with(names[i], ".ctl");
        if (must_load) {
            CHECK_MSG(st == CLIMZ_OK, "%s: %s %s", names[i], climz_status_name(st), cz_error_message());
        } else {
            CHECK_MSG(st == CLIMZ_ERR_UNSUPPORTED && strstr(cz_error_message(), "unsupported because") &&
                          strstr(cz_error_message(), names[i]),
                      "%s: want a clear refusal, got %s '%s'", names[i], climz_status_name(st), cz_error_message());
            if (!strcmp(names[i], "model.dat"))
                CHECK_MSG(strstr(cz_error_message(), "raw binary without descriptor: open model.ctl"),
                          "model.dat: '%s'", cz_error_message());
            printf("refused %-22s %s\n", names[i], cz_error_message() + strlen(path) + 2);
            refused++;
            continue;
        }
        if (!ds) continue;
        loaded++;
        int ngrid = 0;
        for (int k = 0; k < ds->nvars; k++) {
            if (!ds->vars[k].is_grid) continue;
            ngrid++;
            cz_field f;
            climz_status const ls = io_load_field(ds, k, &f);
            CHECK_MSG(ls == CLIMZ_OK, "%s: %s: %s", names[i], ds->vars[k].name, cz_error_message());
            if (ls == CLIMZ_OK) io_field_free(&f);
        }
        CHECK_MSG(ngrid > 0, "%s: no gridded variable", names[i]);
        printf("loaded  %-34s %-7s %d vars, %d gridded\n", names[i], io_format_name(ds->format), ds->nvars, ngrid);
        if (ds->format == CZ_FMT_NETCDF3 || ds->format == CZ_FMT_NETCDF4) {
            roundtrip_nc(ds, path, out, names[i]);
            /* lazily opened: same specials, the copy streamed from the source is identical */
            cz_dataset *l = NULL, *b = NULL;
            CHECK_OK(io_open_ex(path, IO_OPEN_LAZY, &l));
            char lp[4400];
            snprintf(lp, sizeof lp, "%s/lazy_%s", out, names[i]);
            if (l && io_write_netcdf(l, lp) == CLIMZ_OK && io_open(lp, &b) == CLIMZ_OK) {
                it_check_same(ds, b, "lazy copy");
                for (int k = 0; k < ds->nvars; k++)
                    CHECK(ds->vars[k].nspecials == l->vars[k].nspecials &&
                          !memcmp(ds->vars[k].specials, l->vars[k].specials, sizeof l->vars[k].specials));
            } else {
                CHECK_MSG(0, "%s: lazy copy: %s", names[i], cz_error_message());
            }
            io_free(b);
            io_free(l);
            remove(lp);
        }
        else
            roundtrip_nc(ds, NULL, out, "converted.nc"); /* GRIB / GrADS -> NetCDF classic */
        if (ends_with(names[i], ".grib")) check_grib(ds);
        if (!strcmp(names[i], "model.ctl")) check_grads(ds);
        if (!strcmp(names[i], "nc4uvt.nc")) check_nc4uvt(ds);
        if (!strcmp(names[i], "coads_climatology.cdf")) {
            int const s = io_find_var(ds, "SST");
            cz_field f;
            if (s >= 0 && io_load_field(ds, s, &f) == CLIMZ_OK) {
                double const frac = (double)it_nmiss(&f) / (12.0 * 90 * 180);
                CHECK_MSG(frac > 0.445 && frac < 0.482, "coads SST missing %.3f", frac);
                io_field_free(&f);
            }
        }
        if (!strcmp(names[i], "test_stageiv_xyt.nc")) { /* curvilinear: 2-D lat/lon */
            int const p = io_find_var(ds, "Total_precipitation_surface_1_Hour_Accumulation");
            cz_field f;
            if (p >= 0 && io_load_field(ds, p, &f) == CLIMZ_OK) {
                CHECK(f.nt == 23 && f.ny == 118 && f.nx == 87 && f.lat && !f.lon);
                CHECK(f.lat && f.lat[0] > 32 && f.lat[0] < 38);
                io_field_free(&f);
            }
        }
        io_free(ds);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    printf("%d loaded, %d refused in %.2f s\n", loaded, refused, cz_now() - t0);
    CHECK(loaded >= 20 && refused >= 3);
    return tu_finish();
}
