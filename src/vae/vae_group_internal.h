/*
 * vae_group_internal.h — what the group engine (vae_group.c) and the latent chunk writer and
 * parser (vae_latent_chunk.c) share: the samples in flight, a group's prediction chains, and
 * the chunk's version, flags and sample kinds (layout: doc/format.md, section 9).
 */
#ifndef CZ_VAE_GROUP_INTERNAL_H
#define CZ_VAE_GROUP_INTERNAL_H

#include "entropy/ent_dec.h"
#include "vae/vae_group.h"

#define VF_VERSION 6         /* 6: spatial context (5, without, is read too; 4: one chunk per step, not) */
#define VF_VERSION_STEP 7    /* 7: a chunk with a rate level (written only then: a step-1 chunk stays 6) */
#define VF_VERSION_MIN 5
#define VF_FLAG_STATS 1u     /* per-sample normalisation statistics present */
#define VF_FLAG_CODES 4u     /* the time prediction codes follow (a group of several steps) */
#define VF_FLAG_NOZ 8u       /* the time-predicted samples code no z */
#define VF_FLAG_LEVEL_CODES 16u /* the first step's level prediction codes follow */
#define VF_FLAG_LEVEL_NOZ 32u   /* its level-predicted samples code no z */
#define VF_FLAG_SPATIAL 64u     /* the spatial context codes follow: y coded with the checkerboard context */
#define VF_FLAG_STEP 128u       /* version 7: the rate level follows (int8, != 0; absent: 0, D = 1) */
#define VF_KIND_DELTA 2u     /* sample kind bit: statistics as binary16 changes from the step before */
#define VF_KIND_INTERP 4u    /* sample kind: nothing coded, interpolated in time between its neighbours */

/* How a time step (nz, ny, nx) splits into samples (C, th, tw). */
typedef struct vf_layout {
    size_t C;              /* channels per sample */
    size_t nplanes;        /* plane groups: nz (single-channel model) or 1 */
    size_t ty, tx;         /* tiles per plane along y and x */
    size_t tiles;          /* samples per plane group: ty * tx */
    size_t ny, nx;
    size_t nsamples;       /* nplanes * tiles */
} vf_layout;

/* A chain of prediction: rows of samples, each sample predicted from the same sample one
 * row before (time: the steps of a group; levels: the planes of a group's first step). */
typedef struct vf_pred {
    uint8_t *codes; /* cfg.latent prediction codes (in the batch's allocation) */
    int has_codes;  /* the chain has predicted rows; the group's first step carries the codes */
    int noz;        /* its predicted samples code no z */
} vf_pred;

/* A prediction group of a batch (steps [kG, kG + G) of the field): one chunk. */
typedef struct vf_group {
    vf_pred time;  /* the steps after the first, from the step before */
    vf_pred level; /* the first step's planes after the first, from the plane below */
    int spatial;   /* y coded with the checkerboard context sp (sp.w in the batch's allocation) */
    int step;      /* the rate level of its samples' y (vae_job_set_step; 0: D = 1) */
    vae_spatial sp;
    size_t nz, ny; /* samples that code a z, samples coded */
    uint32_t crc;  /* CRC-32C of their scale-index maps' CRCs (LE, in order) */
    ent_dec zd, yd; /* decoder: the group's z and y streams */
} vf_group;

typedef struct vf_item {
    size_t t, s;               /* step (index in the field) and sample */
    size_t p, y0, h, x0, w;    /* plane group and tile */
    uint8_t kind;              /* 0: no valid point */
    float *mean, *sd;          /* C each */
    uint16_t *dstat;           /* encoder, with delta: C x (mean, sd) binary16 changes (stat_change) */
    int delta;                 /* the statistics are stored as changes from the step before (VF_KIND_DELTA) */
    float *x, *xh;             /* C*h*w each: normalised input / reconstruction */
    uint8_t *xm;               /* C*h*w: the input's missing points (encoder) */
    int refine;                /* encoder: refinement steps of its latent (0: none) */
    double lambda;             /* with refine: the model's rate-distortion weight */
    vae_job *job;
    vf_group *grp;             /* decoder: the group whose streams it reads */
    const struct vf_item *prev; /* the same sample one step before, when y is predicted from it */
    const vf_pred *pred;       /* with prev: the chain, for its prediction codes */
    int interp;                /* VF_KIND_INTERP: the linear interpolation in time of ia and ib */
    struct vf_item *ia, *ib;   /* with interp: the same sample at the coded steps around it */
    float wb;                  /* with interp: ib's weight, (t - ia->t) / (ib->t - ia->t) */
    int noz;                   /* with prev: no z, the entropy model is prev's (vae_job_inherit) */
    int synth;                 /* 1: run the synthesis (decoding skips the steps before the range) */
    uint32_t crc;
    climz_status st;
    char msg[384];
} vf_item;

/* a statistic stored as the binary16 change h from its value one step before: the value both
 * sides use (one float addition) */
static inline float vf_stat_after(float before, uint16_t h) { return before + cz_f32_from_f16(h); }

/* Sets up item (t, s) of layout L: its tile, and buffers for C channels. */
climz_status vf_item_init(vf_item *it, const vf_layout *L, size_t t, size_t s);
/* The same sample as item k of a group (rows of ns samples from it) at the nearest row before
 * that is not interpolated; NULL in the group's first row (which never is). */
vf_item *vf_row_before(vf_item *it, size_t k, size_t ns);
/* Links rows [b0, b0 + gn) of ns samples along the prediction chain p (see vae_group.c). */
void vf_link_chain(vf_item *it, size_t b0, size_t gn, size_t ns, const vf_pred *p);
/* Links the interpolated samples of a group; 0 when a neighbour is missing or not coded. */
int vf_link_interp(vf_item *it, size_t gn, size_t ns);
/* CRC-32C of the index-map CRCs of the items that code a z, among n (LE, in item order). */
uint32_t vf_group_crc(const vf_item *it, size_t n);

/* The latent chunk of group g: the gn steps of L->nsamples samples from it, into chunk
 * (emptied first); tot gains its bytes and counts. */
climz_status vf_chunk_write(const vae_loaded *v, const vf_layout *L, vf_item *it, size_t gn, const vf_group *g,
                            cz_buf *chunk, vae_group_totals *tot);
/* Parses the latent chunk p[0..n) of the group of gn steps from file step t into its items
 * (gn * nsamples) and g: codes, modes, CRC and the decoders of its streams (which point into
 * the chunk), with the items linked along the group's prediction chains. */
climz_status vf_chunk_parse(const vae_loaded *v, const vf_layout *L, size_t t, size_t gn, const uint8_t *p, size_t n,
                            vf_item *items, vf_group *g);

#endif
