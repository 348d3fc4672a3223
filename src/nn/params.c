/* params.c — the parameter store; see params.h. */
#include "nn/params.h"

#include "nn/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nn_params_init(nn_params *p) { memset(p, 0, sizeof *p); }

void nn_params_free(nn_params *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) free(p->t[i].name);
    free(p->t);
    free(p->data);
    free(p->grad);
    free(p->m);
    free(p->v);
    memset(p, 0, sizeof *p);
}

int nn_params_find_group(const nn_params *p, const char *group) {
    for (size_t g = 0; g < p->n_groups; g++)
        if (strcmp(p->groups[g].name, group) == 0) return (int)g;
    return -1;
}

long nn_params_find(const nn_params *p, const char *name) {
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0) return (long)i;
    return -1;
}

float *nn_params_tensor(const nn_params *p, const char *name) {
    long const i = nn_params_find(p, name);
    return (i < 0 || !p->data) ? NULL : p->data + p->t[i].offset;
}

/* Does any '.'-separated component of name satisfy pred? */
static int any_component(const char *name, int (*pred)(const char *c, size_t n)) {
    const char *c = name;
    for (;;) {
        const char *dot = strchr(c, '.');
        size_t const n = dot ? (size_t)(dot - c) : strlen(c);
        if (pred(c, n)) return 1;
        if (!dot) return 0;
        c = dot + 1;
    }
}

static int contains(const char *c, size_t n, const char *sub) {
    size_t const k = strlen(sub);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(c + i, sub, k) == 0) return 1;
    return 0;
}
static int is_no_decay_component(const char *c, size_t n) {
    return contains(c, n, "norm") || (n >= 2 && c[0] == 'l' && c[1] == 'n') ||
           contains(c, n, "pos_embed");
}

int nn_params_default_decay(const char *name, size_t ndim) {
    if (ndim < 2) return 0;
    const char *last = strrchr(name, '.');
    last = last ? last + 1 : name;
    if (strcmp(last, "bias") == 0) return 0;
    return !any_component(name, is_no_decay_component);
}

void nn_params_set_decay(nn_params *p, size_t index, int decay) {
    if (index < p->n) p->t[index].decay = decay != 0;
}

climz_status nn_params_add(nn_params *p, const char *name, size_t ndim, const size_t *shape,
                           const char *group, size_t *index) {
    CZ_RETURN_IF(p->allocated, CLIMZ_ERR_INVALID_ARG, "nn_params_add(%s): store already allocated",
                 name ? name : "(null)");
    CZ_RETURN_IF(!name || !*name, CLIMZ_ERR_INVALID_ARG, "nn_params_add: empty tensor name");
    CZ_RETURN_IF(ndim > NN_MAX_DIMS, CLIMZ_ERR_INVALID_ARG, "tensor %s: rank %zu > %d", name, ndim,
                 NN_MAX_DIMS);
    CZ_RETURN_IF(ndim && !shape, CLIMZ_ERR_INVALID_ARG, "tensor %s: no shape", name);
    CZ_RETURN_IF(nn_params_find(p, name) >= 0, CLIMZ_ERR_INVALID_ARG, "tensor %s declared twice",
                 name);
    if (!group || !*group) group = "default";
    CZ_RETURN_IF(strlen(group) >= NN_GROUP_NAME_MAX, CLIMZ_ERR_INVALID_ARG,
                 "tensor %s: group name '%s' longer than %d bytes", name, group,
                 NN_GROUP_NAME_MAX - 1);
    size_t numel = 1;
    for (size_t d = 0; d < ndim; d++)
        CZ_RETURN_IF(!cz_mul_ok(numel, shape[d], &numel), CLIMZ_ERR_DIMENSION,
                     "tensor %s: element count overflows", name);

    int g = nn_params_find_group(p, group);
    if (g < 0) {
        CZ_RETURN_IF(p->n_groups >= NN_MAX_GROUPS, CLIMZ_ERR_INVALID_ARG,
                     "tensor %s: more than %d parameter groups", name, NN_MAX_GROUPS);
        g = (int)p->n_groups++;
        memset(&p->groups[g], 0, sizeof p->groups[g]);
        memcpy(p->groups[g].name, group, strlen(group) + 1);
    }
    if (p->n == p->cap) {
        size_t const cap = p->cap ? 2 * p->cap : 32;
        nn_param *t = cz_realloc(p->t, cap * sizeof *t);
        CZ_RETURN_IF(!t, CLIMZ_ERR_ALLOC, "tensor %s: out of memory", name);
        p->t = t;
        p->cap = cap;
    }
    nn_param *t = &p->t[p->n];
    memset(t, 0, sizeof *t);
    t->name = cz_strdup(name);
    CZ_RETURN_IF(!t->name, CLIMZ_ERR_ALLOC, "tensor %s: out of memory", name);
    t->ndim = ndim;
    for (size_t d = 0; d < NN_MAX_DIMS; d++) t->shape[d] = d < ndim ? shape[d] : 1;
    t->numel = numel;
    t->group = g;
    t->decay = nn_params_default_decay(name, ndim);
    if (index) *index = p->n;
    p->n++;
    return CLIMZ_OK;
}

/* 64-byte aligned, zeroed; n elements (n may be 0). */
static float *alloc_floats(size_t n) {
    size_t bytes;
    if (!cz_mul_ok(n ? n : 1, sizeof(float), &bytes) || bytes > SIZE_MAX - 64) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    float *f = aligned_alloc(64, bytes);
    if (f) memset(f, 0, bytes);
    return f;
}

climz_status nn_params_alloc(nn_params *p, int training) {
    CZ_RETURN_IF(p->allocated, CLIMZ_ERR_INVALID_ARG, "nn_params_alloc: already allocated");
    size_t off = 0;
    for (size_t g = 0; g < p->n_groups; g++) {
        p->groups[g].begin = off;
        for (size_t i = 0; i < p->n; i++) {
            if (p->t[i].group != (int)g) continue;
            p->t[i].offset = off;
            CZ_RETURN_IF(off > SIZE_MAX - p->t[i].numel, CLIMZ_ERR_DIMENSION,
                         "parameter store: element count overflows");
            off += p->t[i].numel;
        }
        p->groups[g].end = off;
    }
    p->numel = off;
    p->data = alloc_floats(off);
    if (training) {
        p->grad = alloc_floats(off);
        p->m = alloc_floats(off);
        p->v = alloc_floats(off);
    }
    if (!p->data || (training && (!p->grad || !p->m || !p->v))) {
        free(p->data), free(p->grad), free(p->m), free(p->v);
        p->data = p->grad = p->m = p->v = NULL;
        return cz_error(CLIMZ_ERR_ALLOC, "parameter store: out of memory for %zu parameters%s", off,
                        training ? " (x4 for training)" : "");
    }
    p->allocated = 1;
    p->training = training != 0;
    return CLIMZ_OK;
}

void nn_params_zero_grad(nn_params *p) {
    if (!p->grad) return;
    for (size_t g = 0; g < p->n_groups; g++) {
        nn_param_group const *G = &p->groups[g];
        if (!G->frozen && G->end > G->begin)
            memset(p->grad + G->begin, 0, (G->end - G->begin) * sizeof(float));
    }
}

climz_status nn_params_freeze_group(nn_params *p, const char *group, int frozen) {
    int const g = nn_params_find_group(p, group ? group : "");
    CZ_RETURN_IF(g < 0, CLIMZ_ERR_NOT_FOUND, "no parameter group '%s'", group ? group : "(null)");
    p->groups[g].frozen = frozen != 0;
    return CLIMZ_OK;
}

int nn_params_group_frozen(const nn_params *p, const char *group) {
    int const g = nn_params_find_group(p, group);
    return g >= 0 && p->groups[g].frozen;
}

size_t nn_params_trainable(const nn_params *p) {
    size_t n = 0;
    for (size_t g = 0; g < p->n_groups; g++)
        if (!p->groups[g].frozen) n += p->groups[g].end - p->groups[g].begin;
    return n;
}

/* ---- initialisation ------------------------------------------------------------------- */

uint64_t nn_params_stream_seed(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) h = (h ^ *c) * 0x100000001b3ull;
    /* one splitmix64 finaliser so that nearby seeds give unrelated streams */
    uint64_t z = seed ^ h;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static climz_status init_target(nn_params *p, size_t index, const char *what) {
    CZ_RETURN_IF(!p->data, CLIMZ_ERR_INVALID_ARG, "%s: parameter store not allocated", what);
    CZ_RETURN_IF(index >= p->n, CLIMZ_ERR_INVALID_ARG, "%s: tensor index %zu out of range (%zu)",
                 what, index, p->n);
    return CLIMZ_OK;
}

climz_status nn_params_init_const(nn_params *p, size_t index, float value) {
    CZ_FORWARD(init_target(p, index, "nn_params_init_const"));
    float *w = nn_params_data(p, index);
    for (size_t i = 0; i < p->t[index].numel; i++) w[i] = value;
    return CLIMZ_OK;
}

climz_status nn_params_init_uniform(nn_params *p, size_t index, uint64_t seed, float lo, float hi) {
    CZ_FORWARD(init_target(p, index, "nn_params_init_uniform"));
    CZ_RETURN_IF(!(lo <= hi) || !isfinite(lo) || !isfinite(hi), CLIMZ_ERR_INVALID_ARG,
                 "tensor %s: bad uniform bounds [%g, %g)", p->t[index].name, lo, hi);
    nn_rng r;
    nn_rng_seed(&r, nn_params_stream_seed(seed, p->t[index].name));
    float *w = nn_params_data(p, index);
    double const span = (double)hi - (double)lo;
    for (size_t i = 0; i < p->t[index].numel; i++)
        w[i] = (float)((double)lo + span * (double)nn_rng_uniform(&r));
    return CLIMZ_OK;
}

climz_status nn_params_init_normal(nn_params *p, size_t index, uint64_t seed, float mean, float std) {
    CZ_FORWARD(init_target(p, index, "nn_params_init_normal"));
    CZ_RETURN_IF(!(std >= 0) || !isfinite(std) || !isfinite(mean), CLIMZ_ERR_INVALID_ARG,
                 "tensor %s: bad normal(%g, %g)", p->t[index].name, mean, std);
    nn_rng r;
    nn_rng_seed(&r, nn_params_stream_seed(seed, p->t[index].name));
    float *w = nn_params_data(p, index);
    for (size_t i = 0; i < p->t[index].numel; i++)
        w[i] = (float)((double)mean + (double)std * (double)nn_rng_normal(&r));
    return CLIMZ_OK;
}

climz_status nn_params_init_trunc_normal(nn_params *p, size_t index, uint64_t seed, float mean,
                                         float std, float lo, float hi) {
    CZ_FORWARD(init_target(p, index, "nn_params_init_trunc_normal"));
    const char *const name = p->t[index].name;
    CZ_RETURN_IF(!(std > 0) || !isfinite(std) || !isfinite(mean) || !(lo < hi), CLIMZ_ERR_INVALID_ARG,
                 "tensor %s: bad trunc_normal(%g, %g, [%g, %g])", name, mean, std, lo, hi);
    /* mass of [lo, hi] under N(mean, std): rejection needs 1/mass draws per element */
    double const a = ((double)lo - mean) / std, b = ((double)hi - mean) / std;
    double const mass = 0.5 * (erf(b / sqrt(2.0)) - erf(a / sqrt(2.0)));
    CZ_RETURN_IF(!(mass >= 0.01), CLIMZ_ERR_INVALID_ARG,
                 "tensor %s: trunc_normal interval [%g, %g] holds only %.3g of N(%g, %g)", name, lo,
                 hi, mass, mean, std);
    nn_rng r;
    nn_rng_seed(&r, nn_params_stream_seed(seed, name));
    float *w = nn_params_data(p, index);
    for (size_t i = 0; i < p->t[index].numel; i++) {
        float x;
        do x = (float)((double)mean + (double)std * (double)nn_rng_normal(&r));
        while (!(x >= lo && x <= hi));
        w[i] = x;
    }
    return CLIMZ_OK;
}
