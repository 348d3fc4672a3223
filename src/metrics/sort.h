/* sort.h — the exact sort behind every quantile of the metrics module (internal): floats
 * mapped to order-preserving uint32 keys, an LSD radix sort, and the type-7 quantile of the
 * sorted keys (definition in metrics.h). O(n), no bad cases, deterministic. */
#ifndef CZ_METRICS_SORT_H
#define CZ_METRICS_SORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Order-preserving map float -> uint32: flip all bits of negatives, set the sign bit of the
 * rest, so unsigned order equals numeric order for finite values (-0 sorts just below +0). */
static inline uint32_t met_key(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static inline float met_unkey(uint32_t k) {
    uint32_t const u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* LSD radix sort of n >= 1 keys in 3 passes of 11/11/10 bits. keys and tmp are n entries;
 * @return the array that holds the sorted keys (tmp after an odd number of passes). */
uint32_t *met_radix_sort(uint32_t *keys, uint32_t *tmp, size_t n);

/* Type-7 quantile (metrics.h) at level p in [0, 1] of n >= 1 sorted keys. */
double met_quantile_sorted(const uint32_t *sorted, size_t n, double p);

#endif /* CZ_METRICS_SORT_H */
