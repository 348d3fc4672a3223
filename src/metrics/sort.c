/* sort.c — see sort.h. */
#include "metrics/sort.h"

#include <math.h>

uint32_t *met_radix_sort(uint32_t *keys, uint32_t *tmp, size_t n) {
    static const unsigned shift[3] = {0, 11, 22};
    size_t count[2048];
    uint32_t *src = keys, *dst = tmp;
    for (int pass = 0; pass < 3; pass++) {
        unsigned const sh = shift[pass];
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++) count[(src[i] >> sh) & 2047u]++;
        if (count[(src[0] >> sh) & 2047u] == n) continue; /* every key has this digit */
        size_t sum = 0;
        for (size_t b = 0; b < 2048; b++) {
            size_t const c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) dst[count[(src[i] >> sh) & 2047u]++] = src[i];
        uint32_t *const t = src;
        src = dst;
        dst = t;
    }
    return src;
}

double met_quantile_sorted(const uint32_t *sorted, size_t n, double p) {
    double const h = (double)(n - 1) * p;
    size_t const k = (size_t)floor(h);
    double const lo = met_unkey(sorted[k]);
    if (k + 1 >= n) return lo;
    double const hi = met_unkey(sorted[k + 1]);
    return lo + (h - (double)k) * (hi - lo);
}
