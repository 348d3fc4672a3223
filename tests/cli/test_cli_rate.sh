#!/bin/bash
# One VAEformer model at many rates (issue 22, part 1): the rate level (a quantisation step of
# the latent, doc/format.md section 9) chosen with --opt step=K or searched for --rel-rmse /
# --rmse / --ratio. Checks: level 0 is the stream of before byte for byte; a coarser level
# gives a smaller file with a larger error and decodes the same with any thread count; the
# targets are met within their stated tolerance (RMSE in (T/1.5, T], ratio within 10 %);
# bad values and conflicting options are refused with a clear message and no output.
. "$(dirname "$0")/clitest.sh"
IN=$DATA/tas_rectilinear_grid_2D.nc
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

check "default" "$CLIMZ" compress --threads 2 --codec vaeformer "$IN" -o "$OUT/d.clz"
check "step=0" "$CLIMZ" compress --threads 2 --codec vaeformer --opt step=0 "$IN" -o "$OUT/s0.clz"
if cmp -s "$OUT/d.clz" "$OUT/s0.clz"; then ok; else bad "step=0 differs from the default stream"; fi
if grep -aq step_level "$OUT/d.clz"; then bad "a level-0 file records step_level"; else ok; fi

check "step=12" "$CLIMZ" compress --threads 2 --codec vaeformer --opt step=12 "$IN" -o "$OUT/s12.clz"
if grep -aq '"step_level":12' "$OUT/s12.clz"; then ok; else bad "step=12 not recorded"; fi
check "decode 1 thread" "$CLIMZ" decompress --threads 1 "$OUT/s12.clz" -o "$OUT/s12a.nc"
check "decode 2 threads" "$CLIMZ" decompress --threads 2 "$OUT/s12.clz" -o "$OUT/s12b.nc"
if cmp -s "$OUT/s12a.nc" "$OUT/s12b.nc"; then ok; else bad "step=12 decodes differently with 1 and 2 threads"; fi
check "eval s0" "$CLIMZ" eval --json --ref "$IN" "$OUT/s0.clz"; cp "$OUT/last.out" "$OUT/e0.json"
check "eval s12" "$CLIMZ" eval --json --ref "$IN" "$OUT/s12a.nc"; cp "$OUT/last.out" "$OUT/e12.json"
r0=$(json "$OUT/e0.json" "d['variables'][0]['rmse']") r12=$(json "$OUT/e12.json" "d['variables'][0]['rmse']")
b0=$(stat -c %s "$OUT/s0.clz") b12=$(stat -c %s "$OUT/s12.clz")
echo "step 0: $b0 bytes, RMSE $r0; step 12: $b12 bytes, RMSE $r12"
if [ "$b12" -lt "$b0" ]; then ok; else bad "step=12 is not smaller ($b12 >= $b0 bytes)"; fi
if /usr/bin/python3 -c "import sys; sys.exit(not float(sys.argv[2]) > 1.2 * float(sys.argv[1]))" "$r0" "$r12"; then ok
else bad "step=12 RMSE $r12 not above 1.2 x step 0's $r0"; fi

# at a level the encoder weighs the error of interpolating a step at the level's lambda
# (lambda * D^-2): coarser levels leave more steps to interpolation (tas: none at levels 0
# and 8; at level 12, 2 of 12 steps, where the model's own lambda left none)
check "step=8" "$CLIMZ" compress --threads 2 --codec vaeformer --opt step=8 "$IN" -o "$OUT/s8.clz"
i0=$(grep -ao '"interpolated_samples":[0-9]*' "$OUT/s0.clz" | cut -d: -f2)
i8=$(grep -ao '"interpolated_samples":[0-9]*' "$OUT/s8.clz" | cut -d: -f2)
i12=$(grep -ao '"interpolated_samples":[0-9]*' "$OUT/s12.clz" | cut -d: -f2)
echo "interpolated samples: level 0 ${i0:-0}, 8 ${i8:-0}, 12 ${i12:-0}"
if [ "${i12:-0}" -gt "${i0:-0}" ] && [ "${i12:-0}" -ge "${i8:-0}" ] && [ "${i8:-0}" -ge "${i0:-0}" ]; then ok
else bad "interpolated samples do not grow with the level: ${i0:-0} / ${i8:-0} / ${i12:-0}"; fi

# targets: the RMSE in (T / 1.5, T]; the variable's ratio (climz info) within 10 %
for rel in 0.006 0.02; do
    check "rel-rmse $rel" "$CLIMZ" compress --threads 2 --codec vaeformer --rel-rmse $rel "$IN" -o "$OUT/r$rel.clz"
    check "eval rel-rmse $rel" "$CLIMZ" eval --json --ref "$IN" "$OUT/r$rel.clz"
    n=$(json "$OUT/last.out" "d['variables'][0]['nrmse']")
    echo "--rel-rmse $rel: nrmse $n"
    if /usr/bin/python3 -c "import sys; t,n=map(float,sys.argv[1:]); sys.exit(not (t/1.5 < n <= t*1.0001))" $rel "$n"; then ok
    else bad "--rel-rmse $rel gave nrmse $n"; fi
done
# the search keeps each sample's analysis across its trials (vae_group_memo): the file it
# writes is the one a plain encoding at the level it found writes, byte for byte
k=$(grep -ao '"step_level":-\?[0-9]*' "$OUT/r0.02.clz" | head -1 | cut -d: -f2)
check "step=$k (the level --rel-rmse 0.02 found)" "$CLIMZ" compress --threads 2 --codec vaeformer --opt step=$k "$IN" \
    -o "$OUT/k.clz"
if [ -n "$k" ] && cmp -s "$OUT/k.clz" "$OUT/r0.02.clz"; then ok; else bad "--rel-rmse 0.02 (level $k) differs from --opt step=$k"; fi
check "rmse 1.0" "$CLIMZ" compress --threads 2 --codec vaeformer --rmse 1.0 "$IN" -o "$OUT/a1.clz"
check "eval rmse 1.0" "$CLIMZ" eval --json --ref "$IN" "$OUT/a1.clz"
r=$(json "$OUT/last.out" "d['variables'][0]['rmse']")
if /usr/bin/python3 -c "import sys; r=float(sys.argv[1]); sys.exit(not (1/1.5 < r <= 1.0001))" "$r"; then ok; else bad "--rmse 1.0 gave $r"; fi
check "ratio 150" "$CLIMZ" compress --threads 2 --codec vaeformer --ratio 150 "$IN" -o "$OUT/q150.clz"
check "info ratio 150" "$CLIMZ" info --json "$OUT/q150.clz"
q=$(json "$OUT/last.out" "d['variables'][0]['ratio']")
echo "--ratio 150: variable ratio $q"
if /usr/bin/python3 -c "import sys; q=float(sys.argv[1]); sys.exit(not abs(q/150-1) <= 0.10)" "$q"; then ok; else bad "--ratio 150 gave $q"; fi
# a target with a bound: the bound holds on top
check "rel-rmse with bound" "$CLIMZ" compress --threads 2 --codec vaeformer --opt fallback=0 --rel-rmse 0.02 \
    --max-abs-error 3 "$IN" -o "$OUT/rb.clz"
check "eval bound" "$CLIMZ" eval --json --ref "$IN" "$OUT/rb.clz"
m=$(json "$OUT/last.out" "d['variables'][0]['max_abs_error']")
if /usr/bin/python3 -c "import sys; sys.exit(not float(sys.argv[1]) <= 3)" "$m"; then ok; else bad "bound 3 broken: $m"; fi

B=$OUT/bad.clz
V="$CLIMZ compress --codec vaeformer"
expect_fail "rel-rmse 0" "rel-rmse=0: use" "$B" $V --rel-rmse 0 "$IN" -o "$B"
expect_fail "rel-rmse 2" "rel-rmse=2: use" "$B" $V --rel-rmse 2 "$IN" -o "$B"
expect_fail "rmse -1" "rmse=-1: use" "$B" $V --rmse -1 "$IN" -o "$B"
expect_fail "rmse text" "needs a number" "$B" $V --rmse abc "$IN" -o "$B"
expect_fail "ratio 0.5" "ratio=0.5: use" "$B" $V --ratio 0.5 "$IN" -o "$B"
expect_fail "step 41" "step=41: use" "$B" $V --opt step=41 "$IN" -o "$B"
expect_fail "two targets" "give one of" "$B" $V --rmse 1 --ratio 50 "$IN" -o "$B"
expect_fail "step and target" "give one of" "$B" $V --opt step=3 --rel-rmse 0.01 "$IN" -o "$B"
expect_fail "ratio with bound" "ratio target and an error bound" "$B" $V --ratio 50 --max-abs-error 1 "$IN" -o "$B"
expect_fail "refine with a level" "refine works at the model's own rate" "$B" $V --opt refine=5 --opt step=4 "$IN" -o "$B"
# below the latent's floor the residual stage meets an RMSE target (test_cli_rmse_target), unless floor=0
expect_fail "impossible rmse" "no rate level reaches RMSE" "$B" $V --opt floor=0 --rel-rmse 1e-6 "$IN" -o "$B"
expect_fail "impossible ratio" "no rate level reaches ratio" "$B" $V --ratio 1e8 "$IN" -o "$B"
expect_fail "residual with ratio" "ratio is a target of a learned codec" "$B" "$CLIMZ" compress --codec residual --ratio 50 --max-abs-error 1 "$IN" -o "$B"
finish
