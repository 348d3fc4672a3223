/* io_testlib.c — see io_testlib.h. */
#include "io_testlib.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int attrs_same(const cz_attr *a, int na, const cz_attr *b, int nb, const char *what,
                      const char *owner) {
    int ok = na == nb;
    CHECK_MSG(na == nb, "%s: %s has %d attributes, copy %d", what, owner, na, nb);
    for (int i = 0; ok && i < na; i++) {
        int same = !strcmp(a[i].name, b[i].name) && a[i].type == b[i].type && a[i].len == b[i].len;
        if (same && a[i].type == CZ_T_STRING) {
            for (size_t k = 0; k < a[i].len; k++)
                same &= !strcmp(((char **)a[i].data)[k], ((char **)b[i].data)[k]);
        } else if (same) {
            same = !memcmp(a[i].data, b[i].data, a[i].len * cz_dtype_size(a[i].type));
        }
        CHECK_MSG(same, "%s: attribute %s:%s differs (copy: %s)", what, owner, a[i].name, b[i].name);
        ok &= same;
    }
    return ok;
}

void it_check_same(const cz_dataset *a, const cz_dataset *b, const char *what) {
    CHECK_MSG(a->ndims == b->ndims, "%s: %d dims, copy %d", what, a->ndims, b->ndims);
    for (int i = 0; i < a->ndims && i < b->ndims; i++)
        CHECK_MSG(!strcmp(a->dims[i].name, b->dims[i].name) && a->dims[i].len == b->dims[i].len &&
                      !a->dims[i].unlimited == !b->dims[i].unlimited,
                  "%s: dim %d %s=%zu%s vs %s=%zu%s", what, i, a->dims[i].name, a->dims[i].len,
                  a->dims[i].unlimited ? " (unlimited)" : "", b->dims[i].name, b->dims[i].len,
                  b->dims[i].unlimited ? " (unlimited)" : "");
    CHECK_MSG(a->ngroups == b->ngroups, "%s: %d groups, copy %d", what, a->ngroups, b->ngroups);
    for (int i = 0; i < a->ngroups && i < b->ngroups; i++) {
        CHECK_MSG(!strcmp(a->groups[i].name, b->groups[i].name), "%s: group %s vs %s", what,
                  a->groups[i].name, b->groups[i].name);
        attrs_same(a->groups[i].atts, a->groups[i].natts, b->groups[i].atts, b->groups[i].natts,
                   what, a->groups[i].name);
    }
    attrs_same(a->gatts, a->ngatts, b->gatts, b->ngatts, what, "global");
    CHECK_MSG(a->nvars == b->nvars, "%s: %d vars, copy %d", what, a->nvars, b->nvars);
    for (int i = 0; i < a->nvars && i < b->nvars; i++) {
        const cz_var *x = &a->vars[i], *y = &b->vars[i];
        int same = !strcmp(x->name, y->name) && x->type == y->type && x->ndims == y->ndims;
        for (int d = 0; same && d < x->ndims; d++) same = x->dimids[d] == y->dimids[d];
        CHECK_MSG(same, "%s: variable %d: %s vs %s (type or dims differ)", what, i, x->name, y->name);
        if (!same) continue;
        attrs_same(x->atts, x->natts, y->atts, y->natts, what, x->name);
        size_t const n = io_var_count(a, x);
        int eq = 1;
        if (x->type == CZ_T_STRING) {
            for (size_t k = 0; k < n && eq; k++) eq = !strcmp(((char **)x->raw)[k], ((char **)y->raw)[k]);
        } else {
            eq = !memcmp(x->raw, y->raw, n * cz_dtype_size(x->type));
        }
        CHECK_MSG(eq, "%s: values of %s differ", what, x->name);
        CHECK_MSG(x->is_grid == y->is_grid && x->is_coord == y->is_coord && x->axis == y->axis &&
                      x->nspecials == y->nspecials &&
                      !memcmp(x->specials, y->specials, sizeof x->specials),
                  "%s: classification or specials of %s differ", what, x->name);
    }
}

char *it_ncdump_h(const char *path) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ncdump -h '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    int c, first = 1;
    while (s && (c = fgetc(p)) != EOF) {
        if (first) { /* drop the first line: it names the file */
            if (c == '\n') first = 0;
            continue;
        }
        if (n + 2 > cap) {
            char *t = realloc(s, cap *= 2);
            if (!t) { free(s); s = NULL; break; }
            s = t;
        }
        s[n++] = (char)c;
    }
    int const rc = pclose(p);
    if (!s) return NULL;
    s[n] = 0;
    if (rc != 0 || n == 0) {
        free(s);
        return NULL;
    }
    return s;
}

int it_count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

unsigned char *it_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long const sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

int it_write(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t const w = fwrite(p, 1, n, f);
    return (fclose(f) != 0 || w != n) ? -1 : 0;
}

size_t it_nmiss(const cz_field *f) {
    size_t const n = f->nt * f->nz * f->ny * f->nx;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += f->miss[i] != 0;
    return m;
}

unsigned it_f32_bits(float x) {
    unsigned u;
    memcpy(&u, &x, 4);
    return u;
}
