#!/bin/bash
# Under a bound the VAEformer is never worse than the residual codec (issue 22, part 2): on
# every bundled sample at 1 % and 0.1 % of each variable's range, `--codec vaeformer` is at
# most a header's few bytes larger than `--codec residual` (the driver weighs the residual
# codec alone per variable and writes the smaller; src/api/compress.c, encode_checked). A
# variable that went to the residual codec says so in its header entry and decodes; with
# `--opt fallback=0` the VAEformer and its residual stage are kept, and that file is larger.
. "$(dirname "$0")/clitest.sh"
# per variable given up: "codec_asked":"vaeformer","codec_asked_bytes":N; per file: the
# longer codec name at the top of the header
slack_var=64
flipped=0
for f in hgt.nc tas_rectilinear_grid_2D.nc bcsd_obs_1999.nc reduced.nc model_T.nc \
         era5-2mt-2019-03-01-02-uk.grib orog_mod1_rectilinear_grid_2D.nc sftlf_mod1_rectilinear_grid_2D.nc; do
    b=${f%%.*}
    for rel in 1e-2 1e-3; do
        r=$OUT/$b.r$rel.clz v=$OUT/$b.v$rel.clz
        check "$b residual $rel" "$CLIMZ" compress --threads 2 --codec residual --rel-error $rel "$DATA/$f" -o "$r"
        check "$b vaeformer $rel" "$CLIMZ" compress --threads 2 --codec vaeformer --rel-error $rel "$DATA/$f" -o "$v"
        [ -f "$r" ] && [ -f "$v" ] || continue
        rb=$(stat -c %s "$r") vb=$(stat -c %s "$v") nflip=$(grep -ao '"codec_asked":"vaeformer"' "$v" | wc -l)
        slack=$((8 + nflip * slack_var))
        echo "$b rel-error $rel: residual $rb bytes, vaeformer $vb bytes ($nflip variables to the residual codec)"
        if [ "$vb" -le $((rb + slack)) ]; then ok; else bad "$b at $rel: vaeformer $vb bytes > residual $rb + $slack"; fi
        if [ "$nflip" -gt 0 ]; then
            flipped=$((flipped + 1))
            check "decode $b.v$rel" "$CLIMZ" decompress "$v" -o "$OUT/$b.v$rel.nc"
        fi
    done
done
echo "$flipped of 16 files coded some variable with the residual codec instead"
# the choice is real: forced to keep the VAEformer, the file has its latent and residual stage
k=$OUT/hgt.keep.clz
check "hgt fallback=0" "$CLIMZ" compress --threads 2 --codec vaeformer --opt fallback=0 --rel-error 1e-2 \
    "$DATA/hgt.nc" -o "$k"
if grep -aq '"codec_asked"' "$k" || ! grep -aq '"residual":true' "$k"; then bad "fallback=0 did not keep the VAEformer"; else ok; fi
if grep -aq '"codec_asked":"vaeformer"' "$OUT/hgt.v1e-2.clz"; then
    kb=$(stat -c %s "$k") vb=$(stat -c %s "$OUT/hgt.v1e-2.clz")
    if [ "$kb" -gt "$vb" ]; then ok; else bad "hgt: kept VAEformer $kb bytes, not larger than the chosen $vb"; fi
fi
# climz info names the coder each variable got and the modes of its residual streams
info_has() { # info_has FILE PATTERN: climz info's summary of FILE matches PATTERN
    if "$CLIMZ" info "$1" | grep -Eq "$2"; then ok; else bad "climz info $1 lacks /$2/"; "$CLIMZ" info "$1" >&2; fi
}
hb=$(grep -ao '"codec_asked_bytes":[0-9]*' "$OUT/hgt.v1e-2.clz" | cut -d: -f2)
info_has "$OUT/hgt.v1e-2.clz" "^  HGT: residual codec \(chosen over vaeformer: ${hb:-none} bytes\); residual streams: 3 lossy$"
info_has "$k" "^  HGT: vaeformer codec; residual streams: 3 lossy$"
info_has "$OUT/sftlf_mod1_rectilinear_grid_2D.r1e-2.clz" "^  sftlf: residual codec; residual streams: 1 plateau$"
expect_fail "fallback=2" "fallback=2: use 0 or 1" "$OUT/bad.clz" "$CLIMZ" compress --codec vaeformer \
    --opt fallback=2 --rel-error 1e-2 "$DATA/hgt.nc" -o "$OUT/bad.clz"
finish
