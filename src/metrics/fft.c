/* fft.c — see fft.h. */
#include "metrics/fft.h"

#include <math.h>
#include <stdlib.h>

#define MET_PI 3.14159265358979323846

struct met_fft {
    size_t n, m;       /* row length; transform length (n if n is a power of two) */
    size_t *rev;       /* bit reversal permutation of m */
    double *cs, *sn;   /* cos, sin(2 pi k / m), k < m/2 */
    double *wr, *wi;   /* Bluestein chirp w_j = exp(-i pi j^2 / n), j < n (NULL if m == n) */
    double *br, *bi;   /* FFT of the convolution kernel conj(w), length m (NULL if m == n) */
    double *zr, *zi;   /* work, m */
};

/* In-place forward FFT of length m (a power of two): X_k = sum z_j exp(-2 pi i j k / m). */
static void fft_pow2(const met_fft *p, double *re, double *im) {
    size_t const m = p->m;
    for (size_t i = 0; i < m; i++) {
        size_t const j = p->rev[i];
        if (j > i) {
            double t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    for (size_t len = 2; len <= m; len <<= 1) {
        size_t const half = len >> 1, step = m / len;
        for (size_t s = 0; s < m; s += len) {
            for (size_t k = 0; k < half; k++) {
                double const c = p->cs[k * step], sn = -p->sn[k * step];
                size_t const a = s + k, b = a + half;
                double const tr = re[b] * c - im[b] * sn, ti = re[b] * sn + im[b] * c;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
    }
}

void met_fft_free(met_fft *p) {
    if (!p) return;
    free(p->rev);
    free(p->cs);
    free(p->sn);
    free(p->wr);
    free(p->wi);
    free(p->br);
    free(p->bi);
    free(p->zr);
    free(p->zi);
    free(p);
}

climz_status met_fft_create(size_t n, met_fft **out) {
    CZ_RETURN_IF(out == NULL || n == 0, CLIMZ_ERR_INVALID_ARG, "fft: length 0 or NULL output");
    *out = NULL;
    CZ_RETURN_IF(n > ((size_t)1 << 28), CLIMZ_ERR_DIMENSION, "fft: row of %zu values is too long", n);
    met_fft *p = cz_calloc(1, sizeof *p);
    if (!p) return cz_error(CLIMZ_ERR_ALLOC, "fft: out of memory");
    int const pow2 = (n & (n - 1)) == 0;
    size_t m = 1;
    while (m < (pow2 ? n : 2 * n - 1)) m <<= 1;
    p->n = n;
    p->m = m;
    p->rev = cz_malloc(m * sizeof *p->rev);
    p->cs = cz_malloc((m / 2 + 1) * sizeof *p->cs);
    p->sn = cz_malloc((m / 2 + 1) * sizeof *p->sn);
    p->zr = cz_malloc(m * sizeof *p->zr);
    p->zi = cz_malloc(m * sizeof *p->zi);
    int ok = p->rev && p->cs && p->sn && p->zr && p->zi;
    if (ok && !pow2) {
        p->wr = cz_malloc(n * sizeof *p->wr);
        p->wi = cz_malloc(n * sizeof *p->wi);
        p->br = cz_calloc(m, sizeof *p->br);
        p->bi = cz_calloc(m, sizeof *p->bi);
        ok = p->wr && p->wi && p->br && p->bi;
    }
    if (!ok) {
        met_fft_free(p);
        return cz_error(CLIMZ_ERR_ALLOC, "fft: out of memory for a plan of %zu", n);
    }
    unsigned bits = 0;
    while (((size_t)1 << bits) < m) bits++;
    for (size_t i = 0; i < m; i++) {
        size_t r = 0;
        for (unsigned b = 0; b < bits; b++) r |= ((i >> b) & 1u) << (bits - 1 - b);
        p->rev[i] = r;
    }
    for (size_t k = 0; k <= m / 2; k++) {
        p->cs[k] = cos(2.0 * MET_PI * (double)k / (double)m);
        p->sn[k] = sin(2.0 * MET_PI * (double)k / (double)m);
    }
    if (!pow2) {
        for (size_t j = 0; j < n; j++) {
            /* j^2 mod 2n keeps the angle small, so large j lose no accuracy */
            size_t const q = (size_t)(((unsigned long long)j * j) % (2ull * n));
            double const a = MET_PI * (double)q / (double)n;
            p->wr[j] = cos(a);
            p->wi[j] = -sin(a);
        }
        /* kernel b_j = conj(w_j) at j and at m - j (a circular convolution of length m) */
        p->br[0] = p->wr[0];
        p->bi[0] = -p->wi[0];
        for (size_t j = 1; j < n; j++) {
            p->br[j] = p->br[m - j] = p->wr[j];
            p->bi[j] = p->bi[m - j] = -p->wi[j];
        }
        fft_pow2(p, p->br, p->bi);
    }
    *out = p;
    return CLIMZ_OK;
}

/* z = the DFT of length n of (re, im), left in p->zr, p->zi [0, n). */
static void fft_any(met_fft *p, const double *re, const double *im) {
    size_t const n = p->n, m = p->m;
    double *const zr = p->zr, *const zi = p->zi;
    if (m == n) {
        for (size_t j = 0; j < n; j++) {
            zr[j] = re[j];
            zi[j] = im[j];
        }
        fft_pow2(p, zr, zi);
        return;
    }
    /* Bluestein: X_k = w_k sum_j (z_j w_j) conj(w_{k-j}), since 2jk = j^2 + k^2 - (k-j)^2 */
    for (size_t j = 0; j < n; j++) {
        zr[j] = re[j] * p->wr[j] - im[j] * p->wi[j];
        zi[j] = re[j] * p->wi[j] + im[j] * p->wr[j];
    }
    for (size_t j = n; j < m; j++) zr[j] = zi[j] = 0.0;
    fft_pow2(p, zr, zi);
    for (size_t k = 0; k < m; k++) { /* times FFT(b), conjugated for the inverse below */
        double const a = zr[k] * p->br[k] - zi[k] * p->bi[k];
        double const b = zr[k] * p->bi[k] + zi[k] * p->br[k];
        zr[k] = a;
        zi[k] = -b;
    }
    fft_pow2(p, zr, zi); /* inverse = conj(FFT(conj(.))) / m */
    double const inv = 1.0 / (double)m;
    for (size_t k = 0; k < n; k++) {
        double const a = zr[k] * inv, b = -zi[k] * inv;
        zr[k] = a * p->wr[k] - b * p->wi[k];
        zi[k] = a * p->wi[k] + b * p->wr[k];
    }
}

void met_fft_power2(met_fft *p, const double *x, const double *y, double *px, double *py) {
    size_t const n = p->n;
    fft_any(p, x, y); /* Z = X + i Y; X_k = (Z_k + conj Z_{n-k}) / 2, Y_k = (Z_k - conj Z_{n-k}) / 2i */
    for (size_t k = 0; k <= n / 2; k++) {
        size_t const c = k ? n - k : 0;
        double const ar = p->zr[k], ai = p->zi[k], br = p->zr[c], bi = -p->zi[c];
        double const xr = 0.5 * (ar + br), xi = 0.5 * (ai + bi);
        double const yr = 0.5 * (ai - bi), yi = -0.5 * (ar - br);
        px[k] = xr * xr + xi * xi;
        py[k] = yr * yr + yi * yi;
    }
}
