#!/bin/bash
# Bad input: each case must give a clear message, a non-zero exit, no crash, no output file
# (not even a temporary one), and leave the input untouched.
. "$(dirname "$0")/clitest.sh"

sums_before=$(cd "$DATA" && sha256sum *)
cp "$DATA/tas_rectilinear_grid_2D.nc" "$OUT/in.nc"
check "good compress" "$CLIMZ" compress --max-abs-error 0.1 "$OUT/in.nc" -o "$OUT/good.clz"
size=$(stat -c %s "$OUT/good.clz")

# missing files and variables
expect_fail "missing input" "nosuch.nc.*(No such file|cannot open)" "$OUT/x.clz" \
    "$CLIMZ" compress --max-abs-error 0.1 "$OUT/nosuch.nc" -o "$OUT/x.clz"
expect_fail "missing variable" "no variable 'nosuch'.*tas" "$OUT/x.clz" \
    "$CLIMZ" compress --max-abs-error 0.1 --var nosuch "$OUT/in.nc" -o "$OUT/x.clz"
expect_fail "not gridded" "'lat_bnds' is not a gridded" "$OUT/x.clz" \
    "$CLIMZ" compress --max-abs-error 0.1 --var lat_bnds "$OUT/in.nc" -o "$OUT/x.clz"
expect_fail "decompress missing variable" "no compressed variable 'uas'" "$OUT/x.nc" \
    "$CLIMZ" decompress "$OUT/good.clz" -o "$OUT/x.nc" --var uas
expect_fail "time range" "time steps 20..30 requested, the file has 12" "$OUT/x.nc" \
    "$CLIMZ" decompress "$OUT/good.clz" -o "$OUT/x.nc" --times 20:30
expect_fail "usage" "needs --max-abs-error E, --rel-error R or an RMSE target" - "$CLIMZ" compress "$OUT/in.nc" -o "$OUT/x.clz"

# damaged .clz files
head -c $((size / 2)) "$OUT/good.clz" >"$OUT/trunc.clz"
expect_fail "truncated clz" "trunc.clz.*(truncat|ends)" "$OUT/x.nc" "$CLIMZ" decompress "$OUT/trunc.clz" -o "$OUT/x.nc"
for off in 40 $((size / 3)) $((size * 2 / 3)) $((size - 9)); do
    cp "$OUT/good.clz" "$OUT/flip.clz"
    printf "$(printf '\\x%02x' $(( ($(od -An -tu1 -j $off -N1 "$OUT/flip.clz") ^ 0x5a) & 255 )))" |
        dd of="$OUT/flip.clz" bs=1 seek=$off conv=notrunc status=none
    expect_fail "flipped byte at $off" "flip.clz.*(CRC|checksum|corrupt|CORRUPT|CHECKSUM)" "$OUT/x.nc" \
        "$CLIMZ" decompress "$OUT/flip.clz" -o "$OUT/x.nc"
done
# a flip inside a data chunk names the chunk
cp "$OUT/good.clz" "$OUT/flip.clz"
printf '\xff' | dd of="$OUT/flip.clz" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_fail "chunk named" "chunk .*(time|var).*CRC|CHECKSUM" "$OUT/x.nc" "$CLIMZ" decompress "$OUT/flip.clz" -o "$OUT/x.nc"
expect_fail "not a clz" "not a climz|magic" "$OUT/x.nc" "$CLIMZ" decompress "$OUT/in.nc" -o "$OUT/x.nc"
expect_fail "info on truncated" "trunc.clz" - "$CLIMZ" info "$OUT/trunc.clz"

# damaged or unsupported inputs
head -c 20000 "$OUT/in.nc" >"$OUT/trunc.nc"
expect_fail "truncated netcdf" "trunc.nc" "$OUT/x.clz" "$CLIMZ" compress --max-abs-error 0.1 "$OUT/trunc.nc" -o "$OUT/x.clz"
echo "just text" >"$OUT/text.nc"
expect_fail "not a data file" "text.nc.*unsupported" "$OUT/x.clz" "$CLIMZ" compress --max-abs-error 0.1 "$OUT/text.nc" -o "$OUT/x.clz"
sample=/usr/share/eccodes/samples/reduced_gg_pl_32_grib2.tmpl
if [ -r $sample ]; then
    cp $sample "$OUT/reduced.grib"
    expect_fail "non-grid GRIB" "reduced.grib.*(grid|unsupported)" "$OUT/x.clz" \
        "$CLIMZ" compress --max-abs-error 0.1 "$OUT/reduced.grib" -o "$OUT/x.clz"
fi

# output that cannot be written: missing directory, full disk (file-size limit)
expect_fail "unwritable output" "nodir" "$OUT/nodir/x.clz" "$CLIMZ" compress --max-abs-error 0.1 "$OUT/in.nc" -o "$OUT/nodir/x.clz"
expect_fail "full disk (clz)" "(space|too large|write)" "$OUT/full.clz" \
    bash -c "ulimit -f 16; exec \"$CLIMZ\" compress --max-abs-error 0 \"$OUT/in.nc\" -o \"$OUT/full.clz\""
expect_fail "full disk (netcdf)" "(space|too large|write|limit|NetCDF|HDF)" "$OUT/full.nc" \
    bash -c "ulimit -f 16; exec \"$CLIMZ\" decompress \"$OUT/good.clz\" -o \"$OUT/full.nc\""

# degenerate fields: NaN-only and constant fields compress and come back exactly;
# a variable with a zero-size dimension is stored as it is, with a note (issue 20)
cat >"$OUT/odd.cdl" <<'CDL'
netcdf odd {
dimensions:
    time = UNLIMITED ; lat = 3 ; lon = 4 ;
variables:
    float lat(lat) ; lat:units = "degrees_north" ;
    float lon(lon) ; lon:units = "degrees_east" ;
    float time(time) ; time:units = "days since 2000-01-01" ;
    float allnan(time, lat, lon) ;
    float constant(time, lat, lon) ; constant:_FillValue = -999.f ;
data:
    lat = -10, 0, 10 ; lon = 0, 90, 180, 270 ; time = 0, 1 ;
    allnan = NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN,
             NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN ;
    constant = 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, -999, 7, 7 ;
}
CDL
ncgen -o "$OUT/odd.nc" "$OUT/odd.cdl"
check "odd compress" "$CLIMZ" compress --rel-error 0.01 "$OUT/odd.nc" -o "$OUT/odd.clz"
check "odd decompress" "$CLIMZ" decompress "$OUT/odd.clz" -o "$OUT/odd2.nc"
if cmp -s <(ncdump "$OUT/odd.nc" | tail -n +2) <(ncdump "$OUT/odd2.nc" | tail -n +2); then ok; else bad "NaN-only/constant fields changed"; fi
cat >"$OUT/empty.cdl" <<'CDL'
netcdf empty {
dimensions:
    time = UNLIMITED ; lat = 3 ; lon = 4 ;
variables:
    float lat(lat) ; lat:units = "degrees_north" ;
    float lon(lon) ; lon:units = "degrees_east" ;
    float t2m(time, lat, lon) ;
data:
    lat = -10, 0, 10 ; lon = 0, 90, 180, 270 ;
}
CDL
ncgen -o "$OUT/empty.nc" "$OUT/empty.cdl"
check "zero-size dimension" "$CLIMZ" compress --max-abs-error 0.1 "$OUT/empty.nc" -o "$OUT/x.clz"
grep -q "t2m.*no points.*stored as it is" "$OUT/last.out" && ok || bad "zero-size dimension: no note"
rm -f "$OUT/x.clz"

# the inputs were never touched
sums_after=$(cd "$DATA" && sha256sum *)
[ "$sums_before" = "$sums_after" ] && ok || bad "bundled inputs were modified"
cmp -s "$OUT/in.nc" "$DATA/tas_rectilinear_grid_2D.nc" && ok || bad "input modified"
finish
