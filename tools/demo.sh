#!/bin/sh
# demo.sh — the README's main job: compress a bundled real sample, decode it back to NetCDF
# and report the compression ratio and the errors.
set -e
cd "$(dirname "$0")/.."
out=${TMPDIR:-/tmp}/climz-demo
mkdir -p "$out"
in=data/hgt.nc   # NCEP 500 hPa geopotential height, 21 steps on a 73 x 144 global grid
echo "== climz compress (error-bounded residual codec, max error 1 m) $in"
build/climz compress --codec residual --max-abs-error 1 "$in" -o "$out/hgt.clz"
echo "== climz decompress"
build/climz decompress "$out/hgt.clz" -o "$out/hgt.nc"
echo "== climz eval (errors of the decoded NetCDF against the original)"
build/climz eval --ref "$in" "$out/hgt.clz"
