/* outpath.c — the inputs an output must not replace, gathered from each entry point's
 * arguments (see cz_output_check in src/common/outpath.c). A spec such as "FILE:VAR" or
 * "FILE:VAR@A:B" names a file by a prefix; every prefix that ends before a ':' or '@' is a
 * candidate, and those that name no file are skipped, so a file name with ':' in it is
 * still found. */
#include "api_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 256

typedef struct in_list {
    char *p[MAX_INPUTS];
    int n;
} in_list;

static void add_path(in_list *l, const char *s, size_t len) {
    if (!s || !len || l->n == MAX_INPUTS) return;
    char *c = malloc(len + 1);
    if (!c) return;
    memcpy(c, s, len);
    c[len] = 0;
    l->p[l->n++] = c;
}

static void add_spec(in_list *l, const char *s) {
    if (!s) return;
    for (size_t i = 0; s[i]; i++)
        if (s[i] == ':' || s[i] == '@') add_path(l, s, i);
    add_path(l, s, strlen(s));
}

static climz_status check_and_free(in_list *l, const char *out) {
    climz_status const st = cz_output_check(out, (const char *const *)l->p, l->n);
    for (int i = 0; i < l->n; i++) free(l->p[i]);
    return st;
}

static void add_context_options(in_list *l, const char *const *options) {
    for (const char *const *o = options; o && *o; o++)
        if (!strncmp(*o, "context=", 8)) add_spec(l, *o + 8);
}

climz_status api_check_output(const char *out, const char *in, const char *in_data,
                              const char *model, const char *const *options) {
    in_list l = {{0}, 0};
    add_path(&l, in, in ? strlen(in) : 0);
    add_path(&l, in_data, in_data ? strlen(in_data) : 0);
    add_path(&l, model, model ? strlen(model) : 0);
    add_context_options(&l, options);
    return check_and_free(&l, out);
}

climz_status api_check_train_output(const char *out, const char *ckpt, const climz_train_opts *o) {
    in_list l = {{0}, 0};
    for (const char *const *d = o->data; d && *d; d++) add_spec(&l, *d);
    add_path(&l, o->model, o->model ? strlen(o->model) : 0);
    add_path(&l, o->resume, o->resume ? strlen(o->resume) : 0);
    climz_status st = check_and_free(&l, out);
    if (st == CLIMZ_OK && ckpt) {
        const char *const self[1] = {out};
        /* the checkpoint is written beside the model and must not be it */
        st = cz_output_check(ckpt, self, 1);
        if (st == CLIMZ_OK && !strcmp(ckpt, out))
            st = cz_error(CLIMZ_ERR_INVALID_ARG, "%s: the checkpoint path is the output", out);
    }
    return st;
}

void climz_remove_temp_files(void) { cz_temp_remove_all(); }
