/*
 * nn_tmpl.h — instantiate a kernel template `<name>_impl.inc` in float and in double.
 *
 * Usage in <name>.c:
 *     #define NN_PRECISION 32
 *     #include "nn/nn_tmpl.h"
 *     #include "<name>_impl.inc"
 *     #define NN_PRECISION 64   (after #undef NN_PRECISION)
 *     #include "nn/nn_tmpl.h"
 *     #include "<name>_impl.inc"
 * This header has no include guard on purpose: each inclusion redefines the macros below
 * for the current NN_PRECISION. NN_SFX(name) gives name (float) or name_f64 (double).
 * Literals in templates are written NN_C(0.5) so that float code stays in float.
 */
#include <math.h>

#include <cblas.h>

#undef NN_REAL
#undef NN_SFX
#undef NN_GEMM_BLAS
#undef NN_C
#undef NN_EXP
#undef NN_LOG
#undef NN_SQRT
#undef NN_ERF
#undef NN_SIN
#undef NN_COS
#undef NN_TANH
#undef NN_FABS
#undef NN_NEARBYINT

#if NN_PRECISION == 32
#define NN_REAL float
#define NN_SFX(x) x
#define NN_GEMM_BLAS cblas_sgemm
#define NN_C(x) ((float)(x))
#define NN_EXP expf
#define NN_LOG logf
#define NN_SQRT sqrtf
#define NN_ERF erff
#define NN_SIN sinf
#define NN_COS cosf
#define NN_TANH tanhf
#define NN_FABS fabsf
#define NN_NEARBYINT nearbyintf
#elif NN_PRECISION == 64
#define NN_REAL double
#define NN_SFX(x) x##_f64
#define NN_GEMM_BLAS cblas_dgemm
#define NN_C(x) ((double)(x))
#define NN_EXP exp
#define NN_LOG log
#define NN_SQRT sqrt
#define NN_ERF erf
#define NN_SIN sin
#define NN_COS cos
#define NN_TANH tanh
#define NN_FABS fabs
#define NN_NEARBYINT nearbyint
#else
#error "define NN_PRECISION to 32 or 64 before including nn_tmpl.h"
#endif
