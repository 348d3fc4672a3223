/* test_schema.c — schema round trip on every bundled data set (and the NetCDF-4 / GrADS
 * shared ones), on a hand-built data set with every attribute type, and on corrupt input. */
#include "container/schema.h"
#include "testutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ---- deep comparison ---- */

static int values_equal(cz_dtype t, const void *a, const void *b, size_t count) {
    if (count == 0) return 1;
    if (!a || !b) return 0;
    if (t == CZ_T_STRING) {
        char *const *x = a, *const *y = b;
        for (size_t i = 0; i < count; i++) {
            if (!x[i] || !y[i]) {
                if (x[i] != y[i]) return 0;
            } else if (strcmp(x[i], y[i]) != 0) {
                return 0;
            }
        }
        return 1;
    }
    return memcmp(a, b, count * cz_dtype_size(t)) == 0; /* bit patterns, NaN payloads too */
}

static int attrs_equal(const cz_attr *a, int na, const cz_attr *b, int nb, const char *owner) {
    if (na != nb) {
        fprintf(stderr, "%s: %d vs %d attributes\n", owner, na, nb);
        return 0;
    }
    for (int i = 0; i < na; i++) {
        if (strcmp(a[i].name, b[i].name) || a[i].type != b[i].type || a[i].len != b[i].len ||
            !values_equal(a[i].type, a[i].data, b[i].data, a[i].len)) {
            fprintf(stderr, "%s: attribute %s differs\n", owner, a[i].name);
            return 0;
        }
        if (a[i].type == CZ_T_CHAR && ((const char *)b[i].data)[b[i].len] != 0) {
            fprintf(stderr, "%s: text attribute %s is not NUL-terminated\n", owner, a[i].name);
            return 0;
        }
    }
    return 1;
}

static const char *base_name(const char *p) {
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p ? p : "";
}

/* the NetCDF-4 layout survives the schema (its HDF5 filter is for writing only: not kept) */
static int storage_equal(const cz_var *x, const cz_var *y) {
    const cz_storage *a = &x->storage, *b = &y->storage;
    if (!a->set || !b->set) return !a->set == !b->set;
    int ok = a->chunked == b->chunked && a->deflate == b->deflate && !a->shuffle == !b->shuffle &&
             !a->fletcher32 == !b->fletcher32 && b->filter_id == 0;
    for (int d = 0; d < (a->chunked ? x->ndims : 0); d++) ok &= a->chunk[d] == b->chunk[d];
    return ok;
}

/* 1 when b is a's exact schema image: metadata equal, raw equal where stored, NULL elsewhere */
static int dataset_equal(const cz_dataset *a, const cz_dataset *b, const uint8_t *store) {
    int ok = 1;
    if (a->format != b->format || strcmp(base_name(a->path), b->path) != 0 ||
        a->nc_kind != b->nc_kind) {
        fprintf(stderr, "format/path/kind differ: %d %s %d vs %d %s %d\n", a->format,
                base_name(a->path), a->nc_kind, b->format, b->path, b->nc_kind);
        ok = 0;
    }
    if (a->ndims != b->ndims) return 0;
    for (int i = 0; i < a->ndims; i++)
        if (strcmp(a->dims[i].name, b->dims[i].name) || a->dims[i].len != b->dims[i].len ||
            !a->dims[i].unlimited != !b->dims[i].unlimited) {
            fprintf(stderr, "dim %d differs\n", i);
            ok = 0;
        }
    ok &= attrs_equal(a->gatts, a->ngatts, b->gatts, b->ngatts, "global");
    if (a->ngroups != b->ngroups) return 0;
    for (int i = 0; i < a->ngroups; i++) {
        ok &= strcmp(a->groups[i].name, b->groups[i].name) == 0;
        ok &= attrs_equal(a->groups[i].atts, a->groups[i].natts, b->groups[i].atts,
                          b->groups[i].natts, a->groups[i].name);
    }
    if (a->nvars != b->nvars) return 0;
    for (int i = 0; i < a->nvars; i++) {
        const cz_var *x = &a->vars[i], *y = &b->vars[i];
        int vok = !strcmp(x->name, y->name) && x->type == y->type && x->ndims == y->ndims &&
                  memcmp(x->dimids, y->dimids, (size_t)x->ndims * sizeof(int)) == 0 &&
                  !x->is_grid == !y->is_grid && !x->is_coord == !y->is_coord &&
                  x->axis == y->axis && !x->packed == !y->packed &&
                  memcmp(&x->scale, &y->scale, 8) == 0 && memcmp(&x->offset, &y->offset, 8) == 0 &&
                  x->nspecials == y->nspecials &&
                  memcmp(x->specials, y->specials, (size_t)x->nspecials * 8) == 0;
        vok &= attrs_equal(x->atts, x->natts, y->atts, y->natts, x->name);
        vok &= storage_equal(x, y);
        if (store && store[i]) vok &= y->raw && values_equal(x->type, x->raw, y->raw, io_var_count(a, x));
        else vok &= y->raw == NULL;
        if (!vok) fprintf(stderr, "variable %s differs\n", x->name);
        ok &= vok;
    }
    return ok;
}

/* encode, decode, compare; also checks that encoding is deterministic */
static size_t round_trip(const cz_dataset *ds, const uint8_t *store, const char *what) {
    cz_buf a = {0}, b = {0};
    CHECK_OK(clz_schema_encode(ds, store, &a));
    CHECK_OK(clz_schema_encode(ds, store, &b));
    CHECK_MSG(a.size == b.size && memcmp(a.data, b.data, a.size) == 0, "%s: encoding not deterministic", what);
    cz_dataset *d = NULL;
    CHECK_OK(clz_schema_decode(a.data, a.size, &d));
    if (d) CHECK_MSG(dataset_equal(ds, d, store), "%s: schema round trip differs", what);
    io_free(d);
    size_t const n = a.size;
    cz_buf_free(&a);
    cz_buf_free(&b);
    return n;
}

static void test_files(void) {
    DIR *dir = opendir(CLIMZ_DATA_DIR);
    CHECK(dir != NULL);
    if (!dir) return;
    char names[64][256];
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && nn < 64)
        if (e->d_name[0] != '.' && (strstr(e->d_name, ".nc") || strstr(e->d_name, ".grib") ||
                                    strstr(e->d_name, ".cdf") || strstr(e->d_name, ".ctl")))
            snprintf(names[nn++], 256, "%s", e->d_name);
    closedir(dir);
    qsort(names, (size_t)nn, 256, (int (*)(const void *, const void *))strcmp);
    const char *extra[] = {"nc4uvt.nc", "model.ctl", "coads_climatology.cdf", "vinth2p.nc"};
    int tested = 0;
    for (int k = 0; k < nn + 4; k++) {
        const char *path = k < nn ? tu_data(names[k]) : tu_shared(extra[k - nn]);
        if (!path) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s", path);
        cz_dataset *ds = NULL;
        climz_status const st = io_open(p, &ds);
        CHECK_MSG(st == CLIMZ_OK, "io_open(%s): %s %s", p, climz_status_name(st), cz_error_message());
        if (st != CLIMZ_OK) continue;
        uint8_t store[4096] = {0}, all[4096];
        memset(all, 1, sizeof all);
        CHECK(ds->nvars <= 4096);
        size_t raw_meta = 0;
        for (int i = 0; i < ds->nvars; i++) {
            store[i] = !ds->vars[i].is_grid; /* what the driver does: coordinates stored */
            if (store[i]) raw_meta += io_var_count(ds, &ds->vars[i]) * cz_dtype_size(ds->vars[i].type);
        }
        for (int i = 0; i < ds->nvars; i++)
            CHECK_MSG(!ds->vars[i].storage.set == (ds->format != CZ_FMT_NETCDF4),
                      "%s: %s: storage recorded for a NetCDF-4 source only", p, ds->vars[i].name);
        size_t const n1 = round_trip(ds, store, p);
        size_t const n2 = round_trip(ds, all, p); /* everything stored, exact */
        round_trip(ds, NULL, p);
        printf("%-36s %2d vars %2d dims %2d groups: schema %6zu B (coords %7zu B raw), all stored %7zu B\n",
               base_name(p), ds->nvars, ds->ndims, ds->ngroups, n1, raw_meta, n2);
        tested++;
        io_free(ds);
    }
    CHECK(tested >= 7);
}

/* A data set with every attribute type, NULL and empty strings, NaN payloads, extremes,
 * unlimited and zero-length dims, a scalar, a stored string variable and groups. */
static cz_dataset *hand_built(void) {
    cz_dataset *ds;
    if (io_dataset_new(&ds) != CLIMZ_OK) return NULL;
    ds->format = CZ_FMT_NETCDF4;
    ds->nc_kind = 3;
    ds->path = cz_strdup("/very/private/dir/hand.nc");
    int t, y, x, z, s;
    io_dim_add(ds, "time", 3, 1, &t);
    io_dim_add(ds, "lat", 2, 0, &y);
    io_dim_add(ds, "lon", 4, 0, &x);
    io_dim_add(ds, "empty", 0, 0, &z);
    io_dim_add(ds, "grp1/nstr", 3, 0, &s);
    const char *strs[] = {"caf\xc3\xa9", "", "line\nbreak \"quoted\""};
    io_attr_set(&ds->gatts, &ds->ngatts, "strings", CZ_T_STRING, 3, strs);
    io_attr_set(&ds->gatts, &ds->ngatts, "title", CZ_T_CHAR, 5, "hello");
    io_attr_set(&ds->gatts, &ds->ngatts, "empty_text", CZ_T_CHAR, 0, "");
    int8_t i8[] = {-128, 0, 127};
    uint8_t u8[] = {0, 255};
    int16_t i16[] = {-32768, 32767};
    uint16_t u16[] = {65535};
    int32_t i32[] = {INT32_MIN, INT32_MAX};
    uint32_t u32[] = {UINT32_MAX};
    int64_t i64[] = {INT64_MIN, INT64_MAX, -1};
    uint64_t u64[] = {UINT64_MAX, 0x0123456789abcdefull};
    uint32_t fbits[] = {0x7fc00001u, 0xffa00000u, 0x80000000u, 0x7f800000u, 0x00000001u};
    uint64_t dbits[] = {0x7ff8000000000abcull, 0xfff0000000000000ull, 0x8000000000000000ull};
    io_attr_set(&ds->gatts, &ds->ngatts, "i8", CZ_T_I8, 3, i8);
    io_attr_set(&ds->gatts, &ds->ngatts, "u8", CZ_T_U8, 2, u8);
    io_attr_set(&ds->gatts, &ds->ngatts, "i16", CZ_T_I16, 2, i16);
    io_attr_set(&ds->gatts, &ds->ngatts, "u16", CZ_T_U16, 1, u16);
    io_attr_set(&ds->gatts, &ds->ngatts, "i32", CZ_T_I32, 2, i32);
    io_attr_set(&ds->gatts, &ds->ngatts, "u32", CZ_T_U32, 1, u32);
    io_attr_set(&ds->gatts, &ds->ngatts, "i64", CZ_T_I64, 3, i64);
    io_attr_set(&ds->gatts, &ds->ngatts, "u64", CZ_T_U64, 2, u64);
    io_attr_set(&ds->gatts, &ds->ngatts, "f32_specials", CZ_T_F32, 5, fbits);
    io_attr_set(&ds->gatts, &ds->ngatts, "f64_specials", CZ_T_F64, 3, dbits);
    io_attr_set(&ds->gatts, &ds->ngatts, "no_values", CZ_T_F64, 0, NULL);
    int g;
    io_group_add(ds, "grp1", &g);
    io_group_add(ds, "grp1/sub", NULL);
    const char *gs[] = {"group string"};
    io_attr_set(&ds->groups[g].atts, &ds->groups[g].natts, "gattr", CZ_T_STRING, 1, gs);

    int v;
    int dims_txy[] = {t, y, x};
    io_var_add(ds, "T", CZ_T_I16, 3, dims_txy, &v);
    cz_var *T = &ds->vars[v];
    T->is_grid = 1;
    T->packed = 1;
    T->scale = 0.01;
    T->offset = 273.15;
    T->nspecials = 2;
    cz_store_le64(T->specials[0], 0xfc19u); /* -999 */
    cz_store_le64(T->specials[1], 0x7fffu);
    int16_t fill = -999;
    io_attr_set(&T->atts, &T->natts, "_FillValue", CZ_T_I16, 1, &fill);
    io_attr_set(&T->atts, &T->natts, "units", CZ_T_CHAR, 1, "K");
    T->raw = cz_calloc(24, 2);
    for (int i = 0; i < 24; i++) ((int16_t *)T->raw)[i] = (int16_t)(i * 1000 - 12000);

    io_var_add(ds, "lat", CZ_T_F64, 1, &y, &v);
    ds->vars[v].is_coord = 1;
    ds->vars[v].axis = CZ_AXIS_Y;
    ds->vars[v].raw = cz_malloc(16);
    double lat[] = {-45.5, 45.5};
    memcpy(ds->vars[v].raw, lat, 16);

    io_var_add(ds, "scalar", CZ_T_U64, 0, NULL, &v);
    ds->vars[v].raw = cz_malloc(8);
    memcpy(ds->vars[v].raw, &u64[1], 8);

    io_var_add(ds, "nothing", CZ_T_F32, 1, &z, &v); /* zero elements, stored */
    ds->vars[v].raw = cz_malloc(1);

    io_var_add(ds, "grp1/labels", CZ_T_STRING, 1, &s, &v);
    char **lab = cz_calloc(3, sizeof *lab);
    lab[0] = cz_strdup("first");
    lab[1] = NULL; /* a NULL entry of a NetCDF string array */
    lab[2] = cz_strdup("");
    ds->vars[v].raw = lab;

    io_var_add(ds, "chars", CZ_T_CHAR, 2, (int[]){y, x}, &v);
    ds->vars[v].raw = cz_malloc(8);
    memcpy(ds->vars[v].raw, "abcd\0fgh", 8);

    io_var_add(ds, "fnan", CZ_T_F32, 1, &x, &v); /* NaN payloads in raw values */
    ds->vars[v].raw = cz_malloc(16);
    memcpy(ds->vars[v].raw, fbits, 16);
    ds->vars[v].nspecials = 1;
    cz_store_le64(ds->vars[v].specials[0], 0x7fc00001u);
    return ds;
}

/* the uncompressed body of an encoded schema (zstd or stored) */
static int body_of(const cz_buf *e, cz_buf *body) {
    uint64_t const n = cz_load_le64(e->data + 8);
    body->data = malloc(n ? n : 1);
    body->size = body->cap = n;
    if (e->data[5] == 0) {
        memcpy(body->data, e->data + 16, n);
        return 1;
    }
    return ZSTD_decompress(body->data, n, e->data + 16, e->size - 16) == n;
}

static void test_hand_built(void) {
    cz_dataset *ds = hand_built();
    CHECK(ds != NULL);
    if (!ds) return;
    uint8_t store[7] = {1, 1, 1, 1, 1, 1, 1};
    round_trip(ds, store, "hand-built");
    uint8_t none[7] = {0, 1, 0, 0, 1, 0, 0};
    round_trip(ds, none, "hand-built, partly stored");
    /* golden: the uncompressed body is fixed by doc/format.md */
    cz_buf e = {0}, body = {0};
    CHECK_OK(clz_schema_encode(ds, store, &e));
    CHECK(memcmp(e.data, "CLZS\x01", 5) == 0 && e.data[6] == 0 && e.data[7] == 0);
    CHECK(body_of(&e, &body));
    uint32_t const crc = cz_crc32c(0, body.data, body.size);
    CHECK_MSG(crc == 0xDAB46AB4u && body.size == 1106, "golden schema body: %zu bytes, CRC 0x%08X", body.size,
              (unsigned)crc);
    /* the path keeps only its base name */
    CHECK(body.data[1] == 7 && memcmp(body.data + 5, "hand.nc", 7) == 0);
    cz_buf_free(&body);

    /* encoder refuses what it cannot describe */
    cz_buf o = {0};
    void *raw = ds->vars[0].raw;
    ds->vars[0].raw = NULL;
    CHECK_STATUS(clz_schema_encode(ds, store, &o), CLIMZ_ERR_INVALID_ARG);
    ds->vars[0].raw = raw;
    ds->vars[1].dimids[0] = 99;
    CHECK_STATUS(clz_schema_encode(ds, store, &o), CLIMZ_ERR_INVALID_ARG);
    ds->vars[1].dimids[0] = 1;
    cz_buf_free(&o);
    io_free(ds);

    /* a schema from a newer writer: unknown extension record and per-var extension bytes
     * are skipped; a newer schema version is refused */
    cz_buf_free(&e);
    cz_dataset *one;
    io_dataset_new(&one);
    one->format = CZ_FMT_NETCDF3;
    int d0, v0;
    io_dim_add(one, "x", 2, 0, &d0);
    io_var_add(one, "x", CZ_T_I32, 1, &d0, &v0);
    CHECK_OK(clz_schema_encode(one, NULL, &e));
    CHECK(body_of(&e, &body));
    cz_buf nb = {0};
    cz_buf_put(&nb, "CLZS\x01\0\0\0", 8); /* uncompressed image */
    cz_buf_put_u64(&nb, 0);
    cz_buf_put(&nb, body.data, body.size - 1); /* drop the stored flag (last byte) */
    cz_buf_free(&body);
    size_t const ext_at = nb.size - 4;
    cz_store_le32(nb.data + ext_at, 3);
    cz_buf_put(&nb, "xyz", 3);
    cz_buf_put_u8(&nb, 0);                 /* stored flag */
    cz_buf_put(&nb, "\x7f\x02\0\0\0ab", 7); /* extension record tag 127 */
    cz_store_le64(nb.data + 8, nb.size - 16);
    cz_dataset *d = NULL;
    CHECK_OK(clz_schema_decode(nb.data, nb.size, &d));
    CHECK(d && dataset_equal(one, d, NULL));
    io_free(d);
    nb.data[4] = 2;
    CHECK_STATUS(clz_schema_decode(nb.data, nb.size, &d), CLIMZ_ERR_VERSION);
    cz_buf_free(&nb);
    cz_buf_free(&e);
    io_free(one);
}

/* The NetCDF-4 layout of a variable (VAR_EXT_STORAGE) round-trips; its HDF5 filter is not
 * kept; a bad record is refused. */
static void test_storage(void) {
    cz_dataset *ds = hand_built();
    CHECK(ds != NULL);
    if (!ds) return;
    uint8_t store[7] = {1, 1, 1, 1, 1, 1, 1};
    cz_storage *a = &ds->vars[0].storage, *b = &ds->vars[1].storage;
    CHECK(ds->vars[0].ndims >= 1);
    *a = (cz_storage){.set = 1, .chunked = 1, .deflate = 9, .shuffle = 1, .fletcher32 = 1};
    for (int d = 0; d < ds->vars[0].ndims; d++) a->chunk[d] = (size_t)d + 1;
    *b = (cz_storage){.set = 1};
    round_trip(ds, store, "storage");
    a->filter_id = 400; /* for the writer only */
    a->ncd = 1;
    round_trip(ds, store, "storage with a filter");
    a->deflate = 10;
    cz_buf o = {0};
    CHECK_STATUS(clz_schema_encode(ds, store, &o), CLIMZ_ERR_INVALID_ARG);
    /* a deflate level of 10 written by hand is refused */
    a->deflate = 9;
    CHECK_OK(clz_schema_encode(ds, store, &o));
    cz_buf body = {0};
    CHECK(body_of(&o, &body));
    const uint8_t rec[] = {2, (uint8_t)(4 + 8 * ds->vars[0].ndims), 0, 0, 0, 1, 9, 1, 1};
    uint8_t *at = NULL;
    for (size_t i = 0; !at && i + sizeof rec <= body.size; i++)
        if (memcmp(body.data + i, rec, sizeof rec) == 0) at = body.data + i;
    CHECK(at != NULL);
    if (at) {
        at[6] = 10;
        cz_buf nb = {0};
        cz_buf_put(&nb, "CLZS\x01\0\0\0", 8);
        cz_buf_put_u64(&nb, body.size);
        cz_buf_put(&nb, body.data, body.size);
        cz_dataset *d = NULL;
        CHECK_STATUS(clz_schema_decode(nb.data, nb.size, &d), CLIMZ_ERR_CORRUPT);
        io_free(d);
        cz_buf_free(&nb);
    }
    cz_buf_free(&body);
    cz_buf_free(&o);
    io_free(ds);
}

/* Corrupt input: never a crash (ASan run), never an over-read, never a huge allocation. */
static void test_corrupt(void) {
    cz_dataset *ds = hand_built();
    uint8_t store[7] = {1, 1, 1, 1, 1, 1, 1};
    cz_buf e = {0};
    CHECK_OK(clz_schema_encode(ds, store, &e));
    cz_buf body = {0};
    CHECK(body_of(&e, &body));
    /* an uncompressed image of the same schema, so that flips hit the structure itself */
    cz_buf raw = {0};
    cz_buf_put(&raw, e.data, 16);
    raw.data[5] = 0;
    cz_buf_put(&raw, body.data, body.size);
    cz_dataset *d = NULL;
    CHECK_OK(clz_schema_decode(raw.data, raw.size, &d));
    io_free(d);
    int bad_trunc = 0, bad_flip = 0, flips_ok = 0;
    const cz_buf *imgs[2] = {&e, &raw};
    for (int m = 0; m < 2; m++) {
        const cz_buf *im = imgs[m];
        for (size_t n = 0; n < im->size; n++) {
            uint8_t *g = malloc(n ? n : 1);
            memcpy(g, im->data, n);
            d = NULL;
            climz_status const st = clz_schema_decode(g, n, &d);
            if (st != CLIMZ_ERR_CORRUPT || d) bad_trunc++;
            io_free(d);
            free(g);
        }
        uint8_t *g = malloc(im->size);
        for (size_t i = 0; i < im->size; i++)
            for (int k = 0; k < 8; k++) {
                memcpy(g, im->data, im->size);
                g[i] ^= (uint8_t)(1u << k);
                d = NULL;
                climz_status const st = clz_schema_decode(g, im->size, &d);
                /* no CRC inside the schema (the chunk has one): a flip may decode */
                if (st == CLIMZ_OK) flips_ok++;
                else if (st != CLIMZ_ERR_CORRUPT && st != CLIMZ_ERR_VERSION) bad_flip++;
                if ((st == CLIMZ_OK) != (d != NULL)) bad_flip++;
                io_free(d);
            }
        free(g);
    }
    CHECK_MSG(bad_trunc == 0, "%d truncations not CLIMZ_ERR_CORRUPT", bad_trunc);
    CHECK_MSG(bad_flip == 0, "%d flips gave an unexpected status", bad_flip);
    printf("schema corruption: %zu + %zu truncations, %zu bit flips (%d still decode)\n", e.size,
           raw.size, 8 * (e.size + raw.size), flips_ok);

    /* lying lengths: each must fail fast, without allocating what it claims */
    uint8_t lie[64] = "CLZS\x01\0\0\0";
    static const struct { size_t off; uint8_t val[4]; } lies[] = {
        {17, {0xff, 0xff, 0xff, 0xff}}, /* path length */
        {21, {0xff, 0xff, 0xff, 0x7f}}, /* dim count */
        {25, {0xff, 0xff, 0xff, 0x0f}}, /* attribute count */
    };
    for (size_t k = 0; k < sizeof lies / sizeof *lies; k++) {
        memset(lie + 8, 0, 56);
        cz_store_le64(lie + 8, 48);
        lie[16] = CZ_FMT_NETCDF3;
        memcpy(lie + lies[k].off, lies[k].val, 4);
        CHECK_STATUS(clz_schema_decode(lie, 64, &d), CLIMZ_ERR_CORRUPT);
    }
    /* an attribute claiming 2^60 doubles */
    cz_buf a = {0};
    cz_buf_put(&a, "CLZS\x01\0\0\0", 8);
    cz_buf_put_u64(&a, 0);
    cz_buf_put_u8(&a, CZ_FMT_NETCDF3);
    cz_buf_put_str(&a, "");
    cz_buf_put_u32(&a, 0);
    cz_buf_put_u32(&a, 1);
    cz_buf_put_str(&a, "big");
    cz_buf_put_u8(&a, CZ_T_F64);
    cz_buf_put_u64(&a, 1ull << 60);
    cz_buf_put_u64(&a, 0);
    cz_store_le64(a.data + 8, a.size - 16);
    CHECK_STATUS(clz_schema_decode(a.data, a.size, &d), CLIMZ_ERR_CORRUPT);
    a.data[a.size - 17] = CZ_T_STRING;
    CHECK_STATUS(clz_schema_decode(a.data, a.size, &d), CLIMZ_ERR_CORRUPT);
    cz_buf_free(&a);
    /* a zstd frame announcing 2^40 bytes: refused after decompressing what is really there */
    cz_buf z = {0};
    cz_buf_put(&z, e.data, e.size);
    cz_store_le64(z.data + 8, 1ull << 40);
    double const t0 = cz_now();
    CHECK_STATUS(clz_schema_decode(z.data, z.size, &d), CLIMZ_ERR_CORRUPT);
    CHECK(cz_now() - t0 < 1.0);
    /* announcing fewer bytes than the frame holds */
    cz_store_le64(z.data + 8, body.size - 1);
    CHECK_STATUS(clz_schema_decode(z.data, z.size, &d), CLIMZ_ERR_CORRUPT);
    /* trailing garbage after the frame */
    cz_store_le64(z.data + 8, body.size);
    cz_buf_put_u8(&z, 0);
    CHECK_STATUS(clz_schema_decode(z.data, z.size, &d), CLIMZ_ERR_CORRUPT);
    CHECK_STATUS(clz_schema_decode((const uint8_t *)"CLZX", 4, &d), CLIMZ_ERR_CORRUPT);
    CHECK(d == NULL);
    cz_buf_free(&z);
    cz_buf_free(&raw);
    cz_buf_free(&body);
    cz_buf_free(&e);
    io_free(ds);
}

int main(void) {
    test_hand_built();
    test_corrupt();
    test_storage();
    test_files();
    return tu_finish();
}
