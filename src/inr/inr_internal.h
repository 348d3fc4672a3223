/*
 * inr_internal.h — what the encoder and the decoder of the CA-INR codec share: the network
 * description and its parameter layout, the per-point input features, the forward passes
 * (fast for training, fixed-order for decoding) and the stream format.
 *
 * Stream (little-endian), version 1:
 *   "CZIN", u8 version, u8 arch, u8 bits, u8 coder (INR_CODER_*)
 *   u16 width, u16 depth, u16 n_fourier, u8 nctx, u8 flags (bit 0: latitude-weighted fit)
 *   f32 fourier_sigma, f32 omega0, u32 fourier_seed
 *   u32 nt, nz, ny, nx
 *   f32 mean, f32 std                   (value = y * std + mean, in double, then float)
 *   u32 CRC-32C of the grid (lat, lon as used, f64 LE)
 *   nctx x { u8 layout (bit 0 per_time, bit 1 per_level), u8 len, name, u32 CRC-32C of the
 *            context values as f32 LE }
 *   ntensors x f32 step                 (tensor order of inr_net_layout)
 *   ceil(ntensors / 2) x u8             extra bits of each tensor over the base b, 4 bits
 *                                       each, tensor 2i in the low nibble of byte i
 *   coder parameters: INR_CODER_PARAM: ntensors x u8 (bit 7 Laplace, bits 0..6 the scale
 *                     index k: scale = 2^(k / 4 - 4) in quantisation steps)
 *   u32 payload bytes, payload (the integer weights, every tensor in order)
 *   u32 CRC-32C of every byte before it
 */
#ifndef CZ_INR_INTERNAL_H
#define CZ_INR_INTERNAL_H

#include "inr/inr.h"
#include "nn/params.h"

#define INR_MAGIC "CZIN"
#define INR_VERSION 1
#define INR_CODER_ADAPTIVE 0 /* adaptive rANS model, one context per tensor kind */
#define INR_CODER_PARAM 1    /* per-tensor discretised Gaussian/Laplace tables */
#define INR_MAX_PARAMS ((size_t)1 << 22) /* bounds what a stream can make us allocate */
#define INR_MAX_TENSORS (2 * (1 + 2 * INR_MAX_DEPTH) + 3)
#define INR_MAX_BOFF 14 /* largest extra bits of one tensor over the base width */

/* Network description: what the stream header records. */
typedef struct inr_arch {
    int arch, width, depth, n_fourier, nctx;
    float sigma, omega0;
    uint32_t fseed;
} inr_arch;

typedef struct inr_net {
    inr_arch a;
    size_t n_in;      /* INR_NCOORD + nctx + 2F */
    size_t n_skip;    /* INR_NCOORD + nctx: the inputs of the linear skip */
    size_t nlin;      /* hidden linear layers (SIREN: depth; RESGELU: 1 + 2 depth) */
    size_t lw[1 + 2 * INR_MAX_DEPTH], lb[1 + 2 * INR_MAX_DEPTH]; /* tensor indexes */
    size_t lfan[1 + 2 * INR_MAX_DEPTH];                           /* fan-in of each */
    size_t out_w, out_b, skip_w;
    nn_params p;
    float *B;         /* (F, INR_NCOORD) Fourier frequencies */
} inr_net;

/* Checks a; builds the parameter table (not allocated). INVALID_ARG (or CORRUPT when
 * from_stream) for values out of range. */
climz_status inr_net_layout(inr_net *net, const inr_arch *a, bool from_stream);
/* Allocates (training: grads and moments too) and makes the Fourier matrix. */
climz_status inr_net_alloc(inr_net *net, int training);
void inr_net_free(inr_net *net);
/* Seeded initialisation (SIREN or torch-like), skip and output bias left at 0. */
climz_status inr_net_init(inr_net *net, uint64_t seed);

/* The grid and contexts, as both sides see them: per-point inputs of the network. */
typedef struct inr_grid {
    size_t nt, nz, ny, nx;
    size_t nplane;            /* ny * nx */
    float *clat, *slat;       /* ny: cos, sin of latitude */
    float *clon, *slon;       /* nx */
    int nctx;
    float *ctx[INR_MAX_CTX];  /* scaled contexts (owned) */
    int per_time[INR_MAX_CTX], per_level[INR_MAX_CTX];
    uint32_t grid_crc;
    uint32_t ctx_crc[INR_MAX_CTX];
} inr_grid;

/* lat/lon NULL: a regular global grid. Context values are validated (non-NULL) and scaled. */
climz_status inr_grid_init(inr_grid *g, size_t nt, size_t nz, size_t ny, size_t nx,
                           const double *lat, const double *lon, const inr_context *ctx,
                           int nctx);
void inr_grid_free(inr_grid *g);

/* x (n, n_in): inputs of the points idx[0..n) (flat indexes t, z, y, x), or first + i when
 * idx is NULL. Portable arithmetic (same bits everywhere). */
void inr_features(const inr_net *net, const inr_grid *g, const size_t *idx, size_t first,
                  size_t n, float *x);

/* Training-time activations of a batch of up to cap points. */
typedef struct inr_work {
    size_t cap;
    float *x;        /* (cap, n_in) */
    float *z, *a;    /* per hidden layer (cap, width): pre-activations and outputs */
    float *cs;       /* SIREN: per hidden layer cos(omega z), for backward */
    float *dz, *da;  /* (cap, width) scratch */
    float *pred, *dpred; /* (cap) */
} inr_work;

climz_status inr_work_alloc(inr_work *w, const inr_net *net, size_t cap);
void inr_work_free(inr_work *w);
/* Fast forward (BLAS, libm) of w->x (n <= w->cap rows) into w->pred; keeps activations.
 * The kernels it calls parallelise themselves unless called inside a parallel region: the
 * encoder calls it from one region per step, one sub-batch per thread. */
void inr_forward_fast(const inr_net *net, inr_work *w, size_t n);
/* Backward of w->dpred: ADDS the gradients into grad, laid out like net->p.data (numel). */
void inr_backward(const inr_net *net, inr_work *w, size_t n, float *grad);

/* Fixed-order forward of every point in [first, first + n) into pred (normalised units):
 * bit-identical for any thread count and machine. */
climz_status inr_forward_det(const inr_net *net, const inr_grid *g, size_t first, size_t n,
                             float *pred);

/* s[i] = sin(omega x[i]), c[i] = cos(omega x[i]) (c may be NULL), float, portable, ~1e-7. */
void inr_sincos_f32(float *s, float *c, const float *x, float omega, size_t n);


/* Standard normal draw from a uniform u in (0, 1) by inverting Phi (portable). */
double inr_det_normal_inv(double u);

/* ---- stream ---- */
typedef struct inr_header {
    inr_arch a;
    int bits, coder, flags;  /* bits: the base width b */
    uint8_t boff[INR_MAX_TENSORS]; /* tensor t has min(b + boff[t], INR_BITS_MAX) bits */
    size_t nt, nz, ny, nx;
    float mean, std;
    uint32_t grid_crc;
    int ctx_layout[INR_MAX_CTX];
    char ctx_name[INR_MAX_CTX][INR_NAME_MAX + 1];
    uint32_t ctx_crc[INR_MAX_CTX];
} inr_header;

/* Bits of tensor t under h. */
static inline int inr_tensor_bits(const inr_header *h, size_t t) {
    int const b = h->bits + h->boff[t];
    return b < INR_BITS_MAX ? b : INR_BITS_MAX;
}

/* Appends the stream of net's weights quantised at h's bit widths to out. */
climz_status inr_stream_write(const inr_header *h, const inr_net *net, cz_buf *out);
/* Parses a stream: header into h and, when net != NULL, the dequantised weights into a
 * freshly built net (inference only). Verifies the CRC first. */
climz_status inr_stream_read(const uint8_t *in, size_t size, inr_header *h, inr_net *net);

#endif /* CZ_INR_INTERNAL_H */
