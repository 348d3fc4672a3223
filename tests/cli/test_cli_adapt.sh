#!/bin/bash
# climz adapt: a few fine-tuning steps of the bundled model on a bundled sample; the held-out
# steps are the training's validation set and not its samples (the training loop's own count
# says so); the model drives compress and decodes; bad input stops before training and
# leaves no model file. Multi-rate by default: the model records its rate levels and serves
# --rel-rmse.
. "$(dirname "$0")/clitest.sh"

M="$OUT/tas.safetensors"
tas="$DATA/tas_rectilinear_grid_2D.nc" # 12 monthly steps: the last 2 are held out (0.2 x 12, rounded)
check "adapt" "$CLIMZ" adapt --data "$tas:tas" -o "$M" --steps 3 --batch 2 --threads 1
cp "$OUT/last.err" "$OUT/adapt.log"
grep -q "tas trains on steps 0..9, holds out 10..11 (2 of 12)" "$OUT/adapt.log" && ok || bad "the plan is not reported"
grep -q "10 training samples, 2 validation" "$OUT/adapt.log" && ok || bad "the training saw held-out steps"
grep -Eq "step 3/3 .* samples/s .*ETA" "$OUT/adapt.log" && ok || bad "no progress line with ETA"
grep -Eq "steps 10..11: [0-9.]+x at [0-9.]+ % -> [0-9.]+x at [0-9.]+ %" "$OUT/adapt.log" && ok ||
    bad "no before/after report on the held-out steps"
grep -Eq "steps 10..11: .*; at RMSE 1 % of the range: [0-9.]+x -> [0-9.]+x" "$OUT/adapt.log" && ok ||
    bad "no before/after ratio at RMSE 1 % of the range"
[ -s "$M" ] && ok || bad "no model written"
# multi-rate by default: the range is trained, reported and recorded in the model
grep -q "rate levels -8..24" "$OUT/adapt.log" && grep -q "multi-rate: a rate level per step, uniform over -8..24" \
    "$OUT/adapt.log" && ok || bad "the default rate levels are not trained"
grep -aq '"vae.rate_levels":"-8:24"' "$M" && ok || bad "the model does not record its rate levels"
[ -e "$M.ckpt" ] && bad "the checkpoint of a finished run was left behind" || ok
cat "$OUT/adapt.log" >&2

# the adapted model drives compress, and the file decodes with it
check "compress with the adapted model" "$CLIMZ" compress --codec vaeformer --model "$M" --var tas "$tas" -o "$OUT/a.clz"
check "decompress" "$CLIMZ" decompress "$OUT/a.clz" -o "$OUT/a.nc"
check "eval" "$CLIMZ" eval --ref "$tas" "$OUT/a.nc" --var tas --json
grep -q '"rmse"' "$OUT/last.out" && ok || bad "eval reports no RMSE"

# ... so that it serves an error target by its rate search
check "compress --rel-rmse with the adapted model" "$CLIMZ" compress --codec vaeformer --model "$M" --var tas \
    --rel-rmse 0.02 "$tas" -o "$OUT/t.clz"
check "eval --rel-rmse" "$CLIMZ" eval --json --ref "$tas" "$OUT/t.clz"
n=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['variables'][0]['nrmse'])" "$OUT/last.out")
/usr/bin/python3 -c "import sys; n=float(sys.argv[1]); sys.exit(not 0.02 / 1.5 < n <= 0.02 * 1.0001)" "$n" && ok ||
    bad "--rel-rmse 0.02 with the adapted model gave nrmse $n"
# one rate on request: no range recorded
check "adapt --rate-levels 0" "$CLIMZ" adapt --data "$tas:tas" -o "$OUT/one.safetensors" --steps 2 --batch 2 \
    --threads 1 --rate-levels 0
grep -q "rate levels 0..0" "$OUT/last.err" && ok || bad "--rate-levels 0 not taken"
grep -aq 'vae.rate_levels' "$OUT/one.safetensors" && bad "a one-rate model records rate levels" || ok
# whole-field crops on request (the training record keeps them)
check "adapt --crop 96x192" "$CLIMZ" adapt --data "$tas:tas" -o "$OUT/crop.safetensors" --steps 2 --batch 1 \
    --threads 1 --rate-levels 0 --crop 96x192
grep -q "batch 1 of 96 x 192" "$OUT/last.err" && ok || bad "--crop 96x192 not taken"
grep -aqF 'crop_h\":96,\"crop_w\":192' "$OUT/crop.safetensors" && ok || bad "the model does not record the crop"

# an explicit training range: the steps after it are held out
check "adapt @0:8" "$CLIMZ" adapt --data "$tas:tas@0:8" -o "$OUT/r.safetensors" --steps 2 --batch 2 --threads 1 --quiet
grep -q "9 training samples, 3 validation" "$OUT/last.err" && bad "--quiet printed progress" || ok

# bad input: a clear message, non-zero exit, no model file
X="$OUT/none.safetensors"
expect_fail "no --data" "no --data" "$X" "$CLIMZ" adapt -o "$X"
expect_fail "no output" "no output" - "$CLIMZ" adapt --data "$tas"
expect_fail "missing file" "nope.nc" "$X" "$CLIMZ" adapt --data "$OUT/nope.nc" -o "$X" --steps 2
expect_fail "one time step" "no room for held-out steps" "$X" \
    "$CLIMZ" adapt --data "$DATA/orog_mod1_rectilinear_grid_2D.nc" -o "$X" --steps 2
expect_fail "a range with no step after it" "leaves no held-out step" "$X" \
    "$CLIMZ" adapt --data "$tas:tas@0:-1" -o "$X" --steps 2
expect_fail "no such variable" "no gridded variable nosuch" "$X" "$CLIMZ" adapt --data "$tas:nosuch" -o "$X"
expect_fail "bad holdout" "bad value for --holdout" "$X" "$CLIMZ" adapt --data "$tas" --holdout 1 -o "$X"
expect_fail "bad steps" "bad value for --steps" "$X" "$CLIMZ" adapt --data "$tas" --steps 0 -o "$X"
expect_fail "variable name too long" "is too long" "$X" "$CLIMZ" adapt --data "$tas:$(printf 'v%.0s' $(seq 300))" -o "$X"
expect_fail "bad crop" "bad value for --crop" "$X" "$CLIMZ" adapt --data "$tas" --crop 64x0 -o "$X"
expect_fail "bad rate levels" "bad value for --rate-levels" "$X" "$CLIMZ" adapt --data "$tas" --rate-levels 5:2 -o "$X"
expect_fail "rate levels past the codec's" "bad value for --rate-levels" "$X" \
    "$CLIMZ" adapt --data "$tas" --rate-levels -20:8 -o "$X"
expect_fail "finetune bad rate levels" "bad value for --rate-levels" "$X" \
    "$CLIMZ" finetune --model "$M" --data "$tas" --rate-levels 0:41 -o "$X"
finish
