/*
 * rng.h — seeded, machine-independent random numbers for the nn engine (splitmix64).
 *
 * The state is one 64-bit integer, so a generator is copied, saved and restored by value.
 * nn_rng_u64 and nn_rng_uniform give the same numbers on every machine. nn_rng_normal uses
 * log/cos from libm in double and rounds to float; libm implementations may differ in the
 * last bit of a double, which changes the float result with probability ~2^-29 per draw.
 */
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stdint.h>

typedef struct nn_rng {
    uint64_t s;
} nn_rng;

void nn_rng_seed(nn_rng *r, uint64_t seed);
uint64_t nn_rng_u64(nn_rng *r);  /* next 64 random bits */
float nn_rng_uniform(nn_rng *r); /* [0, 1), a multiple of 2^-24 (top 24 bits) */
double nn_rng_uniform_f64(nn_rng *r); /* [0, 1), a multiple of 2^-53 (top 53 bits) */
float nn_rng_normal(nn_rng *r);  /* N(0, 1), Box-Muller in double; one u64 pair per draw */
/* Skips n u64 draws at once (the state is a counter): a data-parallel rank jumps over the
 * noise of the other ranks' samples. */
void nn_rng_skip(nn_rng *r, uint64_t n);

#endif /* NN_RNG_H */
