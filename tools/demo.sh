#!/bin/sh
# demo.sh — the README's main job on a bundled real sample (NCEP 500 hPa geopotential height,
# 21 steps on a 73 x 144 global grid): the bundled VAEformer model, then the same with the
# error-bounded residual stage, then the residual codec alone; each decoded back to NetCDF
# and evaluated against the original (ratio, latitude-weighted RMSE, max error).
set -e
cd "$(dirname "$0")/.."
out=${TMPDIR:-/tmp}/climz-demo
mkdir -p "$out"
in=data/hgt.nc
run() { # run NAME COMPRESS-OPTIONS...
    name=$1
    shift
    echo "== climz compress $* $in"
    build/climz compress "$@" "$in" -o "$out/$name.clz"
    build/climz decompress "$out/$name.clz" -o "$out/$name.nc"
    echo "== climz eval of the decoded $out/$name.nc"
    build/climz eval --ref "$in" "$out/$name.clz"
    echo
}
run vaeformer --codec vaeformer                          # bundled model models/climz-default.safetensors
run vaeformer-bounded --codec vaeformer --max-abs-error 5 # + residual stage: every point within 5 m
run residual --codec residual --max-abs-error 5           # the classical error-bounded codec alone
