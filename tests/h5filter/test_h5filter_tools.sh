#!/bin/bash
# The climz HDF5 filter through the netCDF and HDF5 command-line tools, on the bundled real
# samples (and ../shared/data when present): nccopy -F from the original to a filtered file,
# ncdump of it, back with nccopy -F none: every value within the bound, masks and attributes
# as in the original; h5dump and h5repack; climz compress --format nc4 (residual, vaeformer,
# --chunk) and climz info. HDF5_PLUGIN_PATH points at build/plugins (ctest sets it).
. "$(dirname "$0")/../cli/clitest.sh"
for t in nccopy ncdump h5dump h5repack; do
    command -v $t >/dev/null || { echo "skipped: $t is not installed (tools/deps.sh)"; exit 77; }
done
: "${HDF5_PLUGIN_PATH:?HDF5_PLUGIN_PATH must point at build/plugins}"
SHARED=$(cd "$DATA/../../shared/data" 2>/dev/null && pwd)

le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
# the first number after "KEY": in a JSON file
jget() { grep -Eo "\"$2\": [-0-9.eE+]+" "$1" | head -1 | awk '{print $2}'; }

# evals the decoded file against the original for one variable: max error <= E, same mask
check_bound() { # check_bound WHAT ORIGINAL DECODED VAR E
    local what=$1 orig=$2 dec=$3 var=$4 E=$5
    if ! "$CLIMZ" eval --json --var "$var" --ref "$orig" "$dec" >"$OUT/eval.json" 2>"$OUT/last.err"; then
        bad "$what: climz eval failed"; cat "$OUT/last.err" >&2; return
    fi
    local m; m=$(jget "$OUT/eval.json" max_abs_error)
    if le "$m" "$E"; then ok; else bad "$what: max error $m > bound $E"; fi
    if grep -q '"missing_mask_mismatches": [1-9]' "$OUT/eval.json"; then bad "$what: missing-value mask changed"; else ok; fi
    echo "$what: max error $m (bound $E)"
}

# the CDL header without the first line (the file's name) and the special attributes
# (ncdump splits text at newlines in classic files only: joined back here)
header() {
    ncdump -h "$1" | sed 1d | grep -v -E '^\s*:?_(NCProperties|SuperblockVersion|IsNetcdf4|Format)' |
        sed -E ':a;N;$!ba;s/\\n",\n\s*"/\\n/g'
}

cases="hgt.nc:HGT model_T.nc:T bcsd_obs_1999.nc:pr tas_rectilinear_grid_2D.nc:tas"
for c in $cases; do
    f=${c%%:*} v=${c#*:} b=${f%.nc}
    # the bound: 1 % of the variable's range, as climz compress --format nc4 --rel-error computes it
    check "compress --format nc4 $f" "$CLIMZ" compress --format nc4 --rel-error 0.01 --var "$v" "$DATA/$f" -o "$OUT/$b.climz.nc"
    check "info --json $b" "$CLIMZ" info --json "$OUT/$b.climz.nc"
    E=$(jget "$OUT/last.out" max_abs_error)
    check_bound "climz nc4 $f" "$DATA/$f" "$OUT/$b.climz.nc" "$v" "$E"
    # the same parameters by hand through nccopy -F, one time step per chunk; with the
    # missing value as words 4-5 when the variable has one (model T is NoFill: HDF5 knows no
    # fill value there, only the _FillValue attribute)
    filt=$(ncdump -hs "$OUT/$b.climz.nc" | grep -E "^\s*$v:_Filter" | sed -E 's/.*"400,([0-9,]+)".*/\1/')
    params=$(echo "$filt" | cut -d, -f1-4)
    [ "$(echo "$filt" | cut -d, -f11)" != 0 ] && params="$params,$(echo "$filt" | cut -d, -f12-13)"
    src="$DATA/$f"
    if ncdump -hs "$src" | grep -q "$v:_DeflateLevel"; then
        # nccopy 4.9.0 ignores -F for a variable that already has filters: remove them first
        check "nccopy -F none $f" nccopy -F none "$src" "$OUT/$b.plain.nc"
        src="$OUT/$b.plain.nc"
    fi
    check "nccopy -F $f" nccopy -4 -c "$(ncdump -h "$src" | grep -E "^\s+\w+ $v\(" | sed -E 's/.*\(([a-z_]+),.*/\1/')/1" \
        -F "$v,400,$params" "$src" "$OUT/$b.f.nc"
    check "ncdump $b.f.nc" ncdump "$OUT/$b.f.nc"
    if grep -Eq "^ $v =" "$OUT/last.out"; then ok; else bad "ncdump $b.f.nc: no data of $v"; fi
    check "ncdump -hs $b.f.nc" ncdump -hs "$OUT/$b.f.nc"
    if grep -q "_Filter = \"400,$(echo "$params" | cut -d, -f1-4)" "$OUT/last.out"; then ok; else bad "$b.f.nc: $v has no climz filter"; fi
    check "nccopy -F none $b" nccopy -F none "$OUT/$b.f.nc" "$OUT/$b.back.nc"
    check_bound "nccopy -F $f and back" "$DATA/$f" "$OUT/$b.back.nc" "$v" "$E"
    if diff <(header "$DATA/$f") <(header "$OUT/$b.back.nc") >"$OUT/hdr.diff"; then ok; else
        bad "$f: header (dims, attributes) changed:"; cat "$OUT/hdr.diff" >&2; fi
    if diff <(header "$DATA/$f") <(header "$OUT/$b.climz.nc") >"$OUT/hdr.diff"; then ok; else
        bad "$f: climz --format nc4 header changed:"; cat "$OUT/hdr.diff" >&2; fi
    # h5dump sees the filter and decodes the data
    check "h5dump -p -H $b" h5dump -p -H -d "/$v" "$OUT/$b.f.nc"
    if grep -q "FILTER_ID 400" "$OUT/last.out"; then ok; else bad "h5dump: no FILTER_ID 400 on $v"; fi
    check "h5dump -d /$v $b" h5dump -d "/$v" "$OUT/$b.f.nc"
done

# a missing_value without _FillValue (fice) from the shared data
if [ -n "$SHARED" ] && [ -f "$SHARED/fice.nc" ]; then
    check "compress --format nc4 fice" "$CLIMZ" compress --format nc4 --rel-error 0.001 "$SHARED/fice.nc" -o "$OUT/fice.nc"
    check "info fice" "$CLIMZ" info --json "$OUT/fice.nc"
    E=$(jget "$OUT/last.out" max_abs_error)
    check_bound "fice (missing_value only)" "$SHARED/fice.nc" "$OUT/fice.nc" fice "$E"
fi

# h5repack: on a netCDF-4 original (model T), then the filter removed again. Under a preloaded
# ASan runtime (sanitizer builds) Debian's h5repack 1.10.8 never exits, filter or not:
# `h5repack -f NONE` on a file without it hangs the same, in libp11-kit's destructor waiting
# for glibc's setlocale lock; so there these checks are left to the Release run.
case "${LD_PRELOAD:-}" in
*libasan*) echo "note: ASan runtime preloaded: h5repack checks skipped (h5repack hangs at exit there)" ;;
*)
    check "h5repack -f UD=400" h5repack -f "T:UD=400,0,4,0,0,0,1072693248" "$DATA/model_T.nc" "$OUT/T.rp.nc"
    check "h5dump repacked" h5dump -p -H -d /T "$OUT/T.rp.nc"
    if grep -q "FILTER_ID 400" "$OUT/last.out"; then ok; else bad "h5repack: no FILTER_ID 400"; fi
    check "h5repack -f NONE" h5repack -f "T:NONE" "$OUT/T.rp.nc" "$OUT/T.unrp.nc"
    check_bound "h5repack UD=400 (E = 1) and back" "$DATA/model_T.nc" "$OUT/T.unrp.nc" T 1.0
    ;;
esac

# vaeformer + bound, --chunk, the CLI's info
check "compress --format nc4 vaeformer" "$CLIMZ" compress --format nc4 --codec vaeformer --max-abs-error 5 \
    --chunk 7 "$DATA/hgt.nc" -o "$OUT/hgt.vae.nc"
if grep -q "climz(vaeformer, max abs error 5" "$OUT/last.out" && grep -Eq "HGT +21,73,144 +7,73,144" "$OUT/last.out"; then ok
else bad "info of the vaeformer file:"; cat "$OUT/last.out" >&2; fi
check_bound "vaeformer + bound 5" "$DATA/hgt.nc" "$OUT/hgt.vae.nc" HGT 5
check "compress --format nc4 --chunk A,B,C" "$CLIMZ" compress --format nc4 --max-abs-error 1 --chunk 5,40,0 \
    "$DATA/hgt.nc" -o "$OUT/hgt.c.nc"
if grep -Eq "HGT +21,73,144 +5,40,144" "$OUT/last.out"; then ok; else bad "--chunk 5,40,0 not applied"; fi
check_bound "partial edge chunks" "$DATA/hgt.nc" "$OUT/hgt.c.nc" HGT 1

# refusals: bad parameters at definition, a bad --chunk, no output left behind
expect_fail "nccopy -F bad codec" "codec 9" - nccopy -4 -F "HGT,400,9,0,0,0" "$DATA/hgt.nc" "$OUT/bad.nc"
expect_fail "nccopy -F on an int variable" "not floating point" - nccopy -4 -F "time,400,0,0,0,0" \
    "$DATA/hgt.nc" "$OUT/bad.nc"
rm -f "$OUT/bad.nc" # nccopy leaves what it wrote
expect_fail "--chunk x" "chunk needs" "$OUT/bad.nc" "$CLIMZ" compress --format nc4 --max-abs-error 1 --chunk x \
    "$DATA/hgt.nc" -o "$OUT/bad.nc"
expect_fail "--format nc4 --codec inr" "residual or vaeformer" "$OUT/bad.nc" "$CLIMZ" compress --format nc4 \
    --codec inr "$DATA/hgt.nc" -o "$OUT/bad.nc"
# without the plugin a reader fails instead of returning anything
expect_fail "ncdump without HDF5_PLUGIN_PATH" "HDF|filter" - env HDF5_PLUGIN_PATH=/nonexistent ncdump "$OUT/hgt.f.nc"
finish
