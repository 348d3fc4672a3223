/* info.c — climz_info_json(): what a .clz holds, from its header, chunk index and schema. */
#include "codec.h"
#include "residual/residual.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *dims_object(const cz_dataset *ds) {
    json_t *o = json_object();
    for (int d = 0; d < ds->ndims; d++) json_object_set_new(o, ds->dims[d].name, json_integer((json_int_t)ds->dims[d].len));
    return o;
}

/* Counts the residual stream of chunk c in modes by the mode its encoder chose
 * ({"lossy": 3, "plateau": 1}), from the stream's header alone; one that does not parse
 * counts as "damaged" (info describes, decompress is where a damaged file fails). */
static void count_residual_mode(const clz_reader *r, size_t c, json_t *modes) {
    static const char *const names[] = {"empty", "lossy", "lossless", "zstd", "plateau"};
    size_t size;
    const uint8_t *p = clz_reader_peek_at(r, c, &size);
    res_info ri;
    char const *name = p && !res_stream_info(p, size, &ri) && ri.mode < sizeof names / sizeof *names
                           ? names[ri.mode] : "damaged";
    json_object_set_new(modes, name, json_integer(json_integer_value(json_object_get(modes, name)) + 1));
}

climz_status climz_info_json(climz_ctx *ctx, const char *clz_path, char **json) {
    if (!ctx || !json) return CLIMZ_ERR_INVALID_ARG;
    api_begin(ctx);
    *json = NULL;
    clz_reader *r = NULL;
    cz_dataset *ds = NULL;
    json_t *root = NULL;
    climz_status st = CLIMZ_OK;
    size_t n;

    CZ_CHECK_GOTO(st, api_open_clz(clz_path, &r, &root, &ds, &n), done);
    json_t *vars = json_object_get(root, "variables");

    uint64_t const fsize = clz_reader_file_size(r);
    json_object_set_new(root, "file", json_string(clz_path));
    json_object_set_new(root, "file_bytes", json_integer((json_int_t)fsize));
    json_object_set_new(root, "chunks", json_integer((json_int_t)clz_reader_nchunks(r)));
    json_object_set_new(root, "dims", dims_object(ds));
    json_object_set_new(root, "schema_bytes", json_integer((json_int_t)n));
    json_int_t const f32 = json_integer_value(json_object_get(root, "float32_bytes"));
    if (fsize) {
        json_object_set_new(root, "ratio", json_real((double)f32 / (double)fsize));
        json_object_set_new(root, "bits_per_value", json_real(8.0 * (double)fsize / ((double)f32 / 4.0)));
    }
    /* per variable: bytes per stream and the ratio of its coded chunks alone */
    json_int_t ext_total = 0;
    size_t k;
    json_t *e;
    json_array_foreach(vars, k, e) {
        json_int_t const vi = json_integer_value(json_object_get(e, "index"));
        json_t *streams = json_object(), *modes = json_object();
        uint64_t total = 0;
        for (size_t c = 0; c < clz_reader_nchunks(r); c++) {
            const clz_chunk *ch = clz_reader_chunk(r, c);
            if ((json_int_t)ch->var != vi) continue;
            if (ch->stream == CLZ_STREAM_RESIDUAL) count_residual_mode(r, c, modes);
            const char *sn = clz_stream_name(ch->stream);
            json_int_t const prev = json_integer_value(json_object_get(streams, sn));
            json_object_set_new(streams, sn, json_integer(prev + (json_int_t)ch->size));
            total += ch->size;
        }
        json_object_set_new(e, "stream_bytes", streams);
        if (json_object_size(modes)) json_object_set_new(e, "residual_modes", modes);
        else json_decref(modes);
        json_int_t const pts = json_integer_value(json_object_get(e, "n_points"));
        if (total) json_object_set_new(e, "ratio", json_real(4.0 * (double)pts / (double)total));
        /* context files kept outside the .clz: the ratio if they were shipped too */
        json_int_t ext = 0;
        size_t c;
        json_t *jc;
        json_array_foreach(json_object_get(e, "contexts"), c, jc) ext += json_integer_value(json_object_get(jc, "external_bytes"));
        if (ext) {
            json_object_set_new(e, "ratio_with_external_contexts", json_real(4.0 * (double)pts / (double)(total + (uint64_t)ext)));
            ext_total += ext;
        }
        if (vi >= 0 && vi < ds->nvars) {
            const cz_var *v = &ds->vars[vi];
            const cz_attr *u = io_attr_find(v->atts, v->natts, "units");
            if (u && u->type == CZ_T_CHAR) /* some files count a trailing NUL in the length */
                json_object_set_new(e, "units", json_stringn(u->data, strnlen(u->data, u->len)));
        }
    }
    if (ext_total && fsize)
        json_object_set_new(root, "ratio_with_external_contexts", json_real((double)f32 / (double)(fsize + (uint64_t)ext_total)));
    json_t *others = json_array();
    for (int i = 0; i < ds->nvars; i++)
        if (ds->vars[i].raw) json_array_append_new(others, json_string(ds->vars[i].name));
    json_object_set_new(root, "stored_variables", others);
    *json = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
    if (!*json) st = cz_error(CLIMZ_ERR_ALLOC, "out of memory");

done:
    if (st && !strstr(cz_error_message(), clz_path)) cz_error_prefix(st, "%s", clz_path);
    json_decref(root);
    io_free(ds);
    clz_reader_free(r);
    return api_fail(ctx, st);
}
