/* fft.h — power spectra of real rows of any length n (internal to the metrics module).
 *
 * Why our own: the rows are short (144-1440 points on the grids we see) and the metrics must
 * be bit-identical on every machine (metrics.h); FFTW picks its codelets per CPU, so its
 * last bits differ between machines. This is a plain iterative radix-2 FFT in double, and
 * for other lengths Bluestein's chirp-z algorithm (the DFT of length n as a circular
 * convolution of length m = the power of two >= 2n - 1): O(m log m) per row, exact to a few
 * ulps of double, the same operations in the same order everywhere. Two real rows go through
 * one complex transform (x + i y): one FFT per pair of rows (two with Bluestein).
 */
#ifndef CZ_METRICS_FFT_H
#define CZ_METRICS_FFT_H

#include "common/cz_common.h"

typedef struct met_fft met_fft; /* a plan for one length; not shared between threads */

/*! met_fft_create() : a plan for rows of n >= 1 values.
 *  @return CLIMZ_OK, CLIMZ_ERR_INVALID_ARG (n = 0), CLIMZ_ERR_ALLOC. */
climz_status met_fft_create(size_t n, met_fft **out);
void met_fft_free(met_fft *p); /* NULL allowed */

/*! met_fft_power2() : |X_k|^2 and |Y_k|^2 for k = 0..n/2 of the real rows x and y (n values
 *  each), X_k = sum_j x_j exp(-2 pi i j k / n) (no normalisation). px, py: n/2 + 1 values. */
void met_fft_power2(met_fft *p, const double *x, const double *y, double *px, double *py);

#endif /* CZ_METRICS_FFT_H */
