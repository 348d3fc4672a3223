/* fuzz_residual_decode.c — libFuzzer target for the residual stream decoder.
 * Input: 3 bytes giving the block shape (nz, ny, nx: 1..16, 1..64, 1..64), 1 byte whose bit
 * 0 says whether a prediction (all zeros) is passed and bit 1 whether every 7th point is
 * missing, then the stream. Any input must return an error or decode, never crash or read
 * out of bounds. */
#include "fuzz_targets.h"
#include "residual/residual.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

climz_status fuzz_residual_decode_one(const uint8_t *data, size_t size) {
    if (size < 4) return CLIMZ_ERR_TRUNCATED;
    size_t const nz = 1 + data[0] % 16, ny = 1 + data[1] % 64, nx = 1 + data[2] % 64, n = nz * ny * nx;
    int const with_pred = data[3] & 1;
    float *out = malloc(n * sizeof *out), *pred = calloc(n, sizeof *pred);
    uint8_t *miss = calloc(n, 1);
    climz_status st = CLIMZ_ERR_ALLOC;
    if (out && pred && miss) {
        for (size_t i = 0; i < n; i += 7) miss[i] = (uint8_t)(data[3] >> 1 & 1); /* some masked points */
        st = res_decode(data + 4, size - 4, miss, with_pred ? pred : NULL, NULL, nz, ny, nx, out);
    }
    free(out);
    free(pred);
    free(miss);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)fuzz_residual_decode_one(data, size);
    return 0;
}
