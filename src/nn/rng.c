/* rng.c — splitmix64 (Steele, Lea, Flood 2014), the generator that seeds xoshiro. */
#include "nn/rng.h"

#include <math.h>

void nn_rng_seed(nn_rng *r, uint64_t seed) { r->s = seed; }

uint64_t nn_rng_u64(nn_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void nn_rng_skip(nn_rng *r, uint64_t n) { r->s += n * 0x9E3779B97F4A7C15ull; }

float nn_rng_uniform(nn_rng *r) {
    return (float)(nn_rng_u64(r) >> 40) * (1.0f / 16777216.0f); /* exact: 24 bits */
}

double nn_rng_uniform_f64(nn_rng *r) {
    return (double)(nn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

float nn_rng_normal(nn_rng *r) {
    /* u1 in (0, 1] so log(u1) is finite */
    double const u1 = ((double)(nn_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double const u2 = nn_rng_uniform_f64(r);
    double const twopi = 6.283185307179586476925286766559;
    return (float)(sqrt(-2.0 * log(u1)) * cos(twopi * u2));
}
