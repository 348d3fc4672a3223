#!/bin/bash
# Round trips through the command-line program on the bundled real samples: the error bound
# holds at every point, metadata and missing values survive, random access works.
. "$(dirname "$0")/clitest.sh"

# jq-free JSON reading: python3 is not assumed; use the eval JSON through grep/awk.
jget() { # jget FILE KEY -> first numeric value of "KEY": in FILE
    grep -Eo "\"$2\": [-0-9.eE+]+" "$1" | head -1 | awk '{print $2}'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# 1. error bound on every point, several bounds, every bundled NetCDF/GRIB sample
for f in hgt.nc tas_rectilinear_grid_2D.nc bcsd_obs_1999.nc reduced.nc era5-2mt-2019-03-01-02-uk.grib; do
    for E in 0.5 0.01; do
        c="$OUT/${f%.*}_$E.clz"
        check "compress $f E=$E" "$CLIMZ" compress --codec residual --max-abs-error $E "$DATA/$f" -o "$c"
        check "eval $f E=$E" "$CLIMZ" eval --json --ref "$DATA/$f" "$c"
        cp "$OUT/last.out" "$OUT/eval_${f%.*}_$E.json"
        # every variable: max error within E (the packed file's bound is E plus half a packing step)
        tol=$E
        [ "$f" = reduced.nc ] && tol=$(awk -v e=$E 'BEGIN{print e + 0.005}')
        for m in $(grep -Eo '"max_abs_error": [-0-9.eE+]+' "$OUT/eval_${f%.*}_$E.json" | awk '{print $2}'); do
            if le "$m" "$tol"; then ok; else bad "$f E=$E: max error $m > $tol"; fi
        done
        if grep -q '"missing_mask_mismatches": [1-9]' "$OUT/eval_${f%.*}_$E.json"; then
            bad "$f: missing-value mask changed"; else ok; fi
    done
done

# 2. lossless: E = 0 decodes bit for bit (compare data with ncdump)
check "lossless compress" "$CLIMZ" compress --max-abs-error 0 "$DATA/hgt.nc" -o "$OUT/hgt0.clz"
check "lossless decompress" "$CLIMZ" decompress "$OUT/hgt0.clz" -o "$OUT/hgt0.nc"
if cmp -s <(ncdump -v HGT "$DATA/hgt.nc" | sed -n '/^data:/,$p') <(ncdump -v HGT "$OUT/hgt0.nc" | sed -n '/^data:/,$p'); then ok; else bad "lossless HGT differs"; fi

# 3. metadata: ncdump -h of original and round trip agree except the name line
for f in hgt.nc tas_rectilinear_grid_2D.nc bcsd_obs_1999.nc reduced.nc; do
    c="$OUT/${f%.*}_0.01.clz"
    check "decompress $f" "$CLIMZ" decompress "$c" -o "$OUT/${f%.*}.nc"
    if diff <(ncdump -h "$DATA/$f" | tail -n +2) <(ncdump -h "$OUT/${f%.*}.nc" | tail -n +2) >"$OUT/hdr.diff"; then ok
    else bad "$f: ncdump -h differs"; cat "$OUT/hdr.diff" >&2; fi
    # NetCDF written back evaluates the same as the .clz itself
    check "eval decoded nc $f" "$CLIMZ" eval --json --ref "$DATA/$f" "$OUT/${f%.*}.nc"
done
# fill values at exactly the same places: NaN land points of bcsd, -999 packed land of reduced
for pair in "bcsd_obs_1999 pr" "reduced sst"; do
    set -- $pair
    n1=$(ncdump -v $2 "$DATA/$1.nc" | grep -Eo 'NaN|-999|_' | wc -l)
    n2=$(ncdump -v $2 "$OUT/$1.nc" | grep -Eo 'NaN|-999|_' | wc -l)
    if [ "$n1" = "$n2" ] && [ "$n1" -gt 0 ]; then ok; else bad "$1 $2: $n1 missing values before, $n2 after"; fi
done

# 4. random access: one variable, some time steps
check "decompress times" "$CLIMZ" decompress "$OUT/hgt_0.01.clz" -o "$OUT/hgt_t.nc" --times 3:5
if ncdump -h "$OUT/hgt_t.nc" | grep -Eq 'time = (UNLIMITED ; // \(3 currently\)|3 ;)'; then ok; else bad "--times 3:5 did not give 3 steps"; fi
# ...and they are steps 3..5 of the full decode
check "decompress all" "$CLIMZ" decompress "$OUT/hgt_0.01.clz" -o "$OUT/hgt_all.nc"
first_values() { ncdump -v HGT -f c "$1" | grep -F "// HGT($2,0," | head -20 | awk -F, '{gsub(/[ \t]/, "", $1); print $1}'; }
if [ -n "$(first_values "$OUT/hgt_t.nc" 0)" ] && cmp -s <(first_values "$OUT/hgt_t.nc" 0) <(first_values "$OUT/hgt_all.nc" 3); then ok
else bad "--times 3:5 does not start at step 3"; fi
check "decompress var" "$CLIMZ" decompress "$OUT/tas_rectilinear_grid_2D_0.01.clz" -o "$OUT/tas_v.nc" --var tas

# 5. relative bound, info, determinism (same bytes twice, 1 and 2 threads)
check "rel compress" "$CLIMZ" compress --rel-error 1e-3 "$DATA/hgt.nc" -o "$OUT/r1.clz" --threads 1
check "rel compress 2 threads" "$CLIMZ" compress --rel-error 1e-3 "$DATA/hgt.nc" -o "$OUT/r2.clz" --threads 2
if cmp -s "$OUT/r1.clz" "$OUT/r2.clz"; then ok; else bad "output depends on thread count"; fi
check "info" "$CLIMZ" info "$OUT/r1.clz"
check "info json" "$CLIMZ" info --json "$OUT/r1.clz"
grep -q '"ratio"' "$OUT/last.out" && ok || bad "info --json has no ratio"
check "decompress 1 thread" "$CLIMZ" decompress "$OUT/r1.clz" -o "$OUT/d1.nc" --threads 1
check "decompress 2 threads" "$CLIMZ" decompress "$OUT/r1.clz" -o "$OUT/d2.nc" --threads 2
if cmp -s <(ncdump "$OUT/d1.nc" | tail -n +2) <(ncdump "$OUT/d2.nc" | tail -n +2); then ok; else bad "decode depends on thread count"; fi
finish
