#!/bin/bash
# The .clz bytes that every codec writes for every bundled sample are fixed: SHA-256 of each
# file against tests/cli/golden.sha256 (recorded before the code was moved between folders,
# so a refactoring that changes an output byte fails here). Regenerate deliberately with
#   bash tests/cli/test_cli_golden.sh build/climz data /tmp/golden --record
# when a format change is intended, and say so in the commit.
. "$(dirname "$0")/clitest.sh"
golden="$(dirname "$0")/golden.sha256"
# the header records the model's path: the bundled model is read from one fixed place, so the
# hashes do not depend on where the checkout is
models=/tmp/climz-golden-models
mkdir -p "$models" && cp "$(dirname "$0")/../../models/climz-default.safetensors" "$models/"
export CLIMZ_MODEL_DIR=$models
record=${4:-}
fast_inr="--opt iters=200 --opt seed=3"
code() { # code NAME ARGS...: compress to $OUT/NAME.clz
    local name=$1; shift
    check "compress $name" "$CLIMZ" compress --threads 2 "$@" -o "$OUT/$name.clz"
}
for f in hgt.nc tas_rectilinear_grid_2D.nc bcsd_obs_1999.nc reduced.nc model_T.nc \
         era5-2mt-2019-03-01-02-uk.grib orog_mod1_rectilinear_grid_2D.nc sftlf_mod1_rectilinear_grid_2D.nc; do
    b=${f%%.*}
    code "$b.residual-lossless" --codec residual --max-abs-error 0 "$DATA/$f"
    code "$b.residual-1e-3" --codec residual --rel-error 1e-3 "$DATA/$f"
    code "$b.residual-temporal" --codec residual --rel-error 1e-2 --temporal "$DATA/$f"
    code "$b.vaeformer" --codec vaeformer "$DATA/$f"
    # the VAEformer with its residual stage, kept where the residual codec alone is smaller
    code "$b.vaeformer-bounded" --codec vaeformer --opt fallback=0 --rel-error 1e-2 "$DATA/$f"
    # the default under a bound: per variable the smaller of that and the residual codec alone
    code "$b.vaeformer-bounded-choice" --codec vaeformer --rel-error 1e-2 "$DATA/$f"
done
code "hgt.inr" --codec inr $fast_inr --ratio 40 "$DATA/hgt.nc"
code "tas.inr" --codec inr $fast_inr --ratio 60 --context climatology --rel-error 1e-2 \
    "$DATA/tas_rectilinear_grid_2D.nc"
(cd "$OUT" && sha256sum *.clz) > "$OUT/actual.sha256"
# The decoded values are fixed too (a faster decoder must give the same floats): the data
# section of ncdump at round-trip precision (9 / 17 digits) of every residual output, decoded
golden_dec="$(dirname "$0")/golden_decoded.sha256"
: > "$OUT/decoded.sha256"
for c in "$OUT"/*.residual-*.clz "$OUT"/hgt.vaeformer-bounded.clz; do
    n=$(basename "$c" .clz)
    check "decompress $n" "$CLIMZ" decompress --threads 2 "$c" -o "$OUT/$n.nc"
    echo "$(ncdump -p 9,17 "$OUT/$n.nc" | sed -n '/^data:/,$p' | sha256sum | cut -d' ' -f1)  $n" >> "$OUT/decoded.sha256"
done
# A file of the bundled model before the current one (kept as
# models/climz-default-7d5522d5.safetensors; coded with deterministic=1, so its values are the
# same in every build) decodes to the values it decoded to then: the default lookup finds the
# retired model by its name beside the default one
retired="$(dirname "$0")/hgt.vaeformer-7d5522d5.clz"
check "decompress a file of the retired bundled model" env -u CLIMZ_MODEL_DIR "$CLIMZ" decompress --threads 2 \
    "$retired" -o "$OUT/retired.nc"
h=$(ncdump -p 9,17 "$OUT/retired.nc" | sed -n '/^data:/,$p' | sha256sum | cut -d' ' -f1)
if [ "$h" = 54af769febb38ee1c196f61ab22970c8ba1b306a5f02457e8e8cb09043212060 ]; then ok
else bad "a file of the retired bundled model decodes to other values ($h)"; fi
if [ "$record" = --record ]; then
    cp "$OUT/actual.sha256" "$golden"
    cp "$OUT/decoded.sha256" "$golden_dec"
    echo "recorded $(wc -l < "$golden") hashes in $golden, $(wc -l < "$golden_dec") in $golden_dec"
fi
want_dec=$golden_dec
if [ "${CLIMZ_BUILD_TYPE:-Release}" != Release ]; then # the VAEformer's codes differ there (below)
    grep -v vaeformer "$golden_dec" > "$OUT/want_dec.sha256"
    grep -v vaeformer "$OUT/decoded.sha256" > "$OUT/dec.tmp" && mv "$OUT/dec.tmp" "$OUT/decoded.sha256"
    want_dec=$OUT/want_dec.sha256
fi
if diff -u "$want_dec" "$OUT/decoded.sha256" >&2; then ok; else bad "decoded values differ from $golden_dec"; fi
# The hashes are those of the Release build: at -O0 (Debug, sanitizers) the VAEformer encoder's
# float kernels round differently and choose other codes (its decoder stays exact either way).
want=$golden
if [ "${CLIMZ_BUILD_TYPE:-Release}" != Release ]; then
    echo "note: ${CLIMZ_BUILD_TYPE} build: VAEformer hashes not compared" >&2
    grep -v vaeformer "$golden" > "$OUT/want.sha256"
    grep -v vaeformer "$OUT/actual.sha256" > "$OUT/actual.tmp" && mv "$OUT/actual.tmp" "$OUT/actual.sha256"
    want=$OUT/want.sha256
fi
if diff -u "$want" "$OUT/actual.sha256" >&2; then ok; else bad "output bytes differ from $golden"; fi
finish
