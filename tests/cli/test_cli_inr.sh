#!/bin/bash
# CA-INR through the command-line program: contexts from files (recorded by hash) and the
# stored climatology, decode with a moved context file, a wrong context refused, and the
# error-bounded residual stage on top of the network.
. "$(dirname "$0")/clitest.sh"
in="$DATA/tas_rectilinear_grid_2D.nc"
cp "$DATA/orog_mod1_rectilinear_grid_2D.nc" "$OUT/orog.nc"
fast="--opt iters=300 --opt seed=7"

check "inr compress" "$CLIMZ" compress --codec inr $fast --ratio 60 --context "$OUT/orog.nc:orog" \
    --context climatology "$in" -o "$OUT/tas.clz"
check "inr info" "$CLIMZ" info --json "$OUT/tas.clz"
grep -q '"ratio_with_external_contexts"' "$OUT/last.out" && ok || bad "info gives no ratio with the context"
grep -q '"sha256"' "$OUT/last.out" && ok || bad "info does not record the context hash"
check "inr eval" "$CLIMZ" eval --json --ref "$in" "$OUT/tas.clz"
psnr=$(grep -Eo '"psnr": [0-9.]+' "$OUT/last.out" | head -1 | awk '{print $2}')
awk -v p="$psnr" 'BEGIN { exit !(p > 35) }' && ok || bad "inr PSNR $psnr dB is too low"

# the context file moved: found through --context, same bits decoded
check "decompress" "$CLIMZ" decompress "$OUT/tas.clz" -o "$OUT/a.nc"
mv "$OUT/orog.nc" "$OUT/orog-moved.nc"
expect_fail "moved context" "orog.nc" "$OUT/b.nc" "$CLIMZ" decompress "$OUT/tas.clz" -o "$OUT/b.nc"
check "decompress moved" "$CLIMZ" decompress "$OUT/tas.clz" -o "$OUT/b.nc" --context "$OUT/orog-moved.nc:orog"
cmp -s <(ncdump "$OUT/a.nc" | tail -n +2) <(ncdump "$OUT/b.nc" | tail -n +2) && ok || bad "decode differs with the moved context"
# a different file under the same name is refused by its hash: one data value changed
cp "$OUT/orog-moved.nc" "$OUT/other.nc"
printf '\x42' | dd of="$OUT/other.nc" bs=1 seek=$(($(stat -c %s "$OUT/other.nc") - 10)) conv=notrunc status=none
expect_fail "wrong context" "sha256" "$OUT/c.nc" "$CLIMZ" decompress "$OUT/tas.clz" -o "$OUT/c.nc" \
    --context "$OUT/other.nc:orog"
# 1 and 2 threads decode the same bits
check "decompress 1 thread" "$CLIMZ" decompress "$OUT/tas.clz" -o "$OUT/t1.nc" --context "$OUT/orog-moved.nc:orog" --threads 1
check "decompress 2 threads" "$CLIMZ" decompress "$OUT/tas.clz" -o "$OUT/t2.nc" --context "$OUT/orog-moved.nc:orog" --threads 2
cmp -s <(ncdump "$OUT/t1.nc" | tail -n +2) <(ncdump "$OUT/t2.nc" | tail -n +2) && ok || bad "decode depends on thread count"

# error bound on top of the network holds at every point
check "inr bounded" "$CLIMZ" compress --codec inr $fast --ratio 100 --context climatology --max-abs-error 0.05 "$in" -o "$OUT/tb.clz"
check "inr bounded eval" "$CLIMZ" eval --json --ref "$in" "$OUT/tb.clz"
m=$(grep -Eo '"max_abs_error": [-0-9.eE+]+' "$OUT/last.out" | head -1 | awk '{print $2}')
awk -v m="$m" 'BEGIN { exit !(m <= 0.05) }' && ok || bad "bounded INR max error $m > 0.05"
finish
