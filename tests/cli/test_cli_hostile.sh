#!/bin/bash
# What a careless or hostile user does (issue 20): a disk that fills while a NetCDF-4 output
# is written, odd option values, damaged headers. Each must end with a message, a non-zero
# exit, no crash and nothing left behind.
. "$(dirname "$0")/clitest.sh"

# --- a full disk while NetCDF-4 is written: the free-space check is an estimate (464,760
# bytes for model_T.nc, 479,408 written), so a file-size limit between the two makes HDF5's
# own writes fail; climz used to crash in HDF5's exit handler (exit 139)
check "compress model_T" "$CLIMZ" compress --rel-error 1e-3 "$DATA/model_T.nc" -o "$OUT/mt.clz"
for kb in 456 460 464 468; do
    expect_fail "NetCDF-4 output over a ${kb} KB file-size limit" "NO_SPACE|too large|no space" "$OUT/mt.nc" \
        bash -c "ulimit -f $kb; exec \"\$0\" decompress \"\$1\" -o \"\$2\"" "$CLIMZ" "$OUT/mt.clz" "$OUT/mt.nc"
done
check "decompress model_T without a limit" "$CLIMZ" decompress "$OUT/mt.clz" -o "$OUT/mt.nc"
finish
