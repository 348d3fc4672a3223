#!/bin/bash
# mpirun -n 2 climz train / finetune (data parallel, src/vae/vae_train.c, src/mpi/mpi_train.c):
# the same training as one process up to float summation order, bit-reproducible on 2 ranks,
# the weights identical on the ranks, --resume on 2 ranks bit for bit, multi-rate phase 2 draws
# the same rate levels on every rank, rank 0 alone reports,
# and a rank that fails (a data file it cannot read; other options than rank 0's) stops the
# job with one message naming the rank and leaves no model file. A tiny model: seconds a run.
. "$(dirname "$0")/mpitest.sh"
# MPMD (one command line per rank, "A : B"): the way to give rank 1 its own data file
MPMD="$MPIEXEC --oversubscribe"
[ "$(id -u)" = 0 ] && MPMD="$MPMD --allow-run-as-root"
cat >"$OUT/tiny.json" <<'EOF'
{"width": 16, "heads": 2, "mlp_ratio": 2, "encoder": "S G", "decoder": "EW G", "win_s": [4, 4],
 "win_ew": [2, 8], "latent": 4, "hyper_patch": 2, "hyper_width": 16, "hyper_heads": 2, "hyper_latent": 2}
EOF
COMMON=(--data "$DATA/hgt.nc" --train-times 0:17 --val-times 18:20 --batch 4 --crop 32x32 --seed 11
        --steps 6 --log-every 1 --val-every 3 --val-max 2 --threads 1)
TRAIN=(train --config "$OUT/tiny.json" "${COMMON[@]}" --lr 2e-3)
run1() { local n=$1; shift; "$CLIMZ" "$@" -o "$OUT/$n.st" 2>"$OUT/$n.err" || fail "$n: $(tail -1 "$OUT/$n.err")"; }
run2() { local n=$1; shift; $MPIRUN "$CLIMZ" "$@" -o "$OUT/$n.st" >"$OUT/$n.out" 2>"$OUT/$n.err" || fail "$n: $(grep climz "$OUT/$n.err" | tail -1)"; }
# "step K/M  loss X" of two logs: step 1 within abs1, every step within absn
losses_agree() { # name, log a, log b, abs1, absn
    python3 - "$@" <<'EOF'
import re, sys
name, a, b, t1, tn = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
get = lambda p: [float(m.group(1)) for m in re.finditer(r"^step \d+/\d+  loss (\S+)", open(p).read(), re.M)]
la, lb = get(a), get(b)
if not la or len(la) != len(lb): sys.exit(f"{name}: {len(la)} and {len(lb)} loss lines")
bad = [(i + 1, x, y) for i, (x, y) in enumerate(zip(la, lb)) if abs(x - y) > (t1 if i == 0 else tn)]
if bad: sys.exit(f"{name}: losses differ (step, 1 rank, 2 ranks): {bad}")
print(f"ok {name}: losses of {len(la)} steps agree: {la[0]} / {lb[0]} ... {la[-1]} / {lb[-1]}")
EOF
}
# RMS(b - a) against RMS(a - w0), the update of the run: rounding-level differences only
weights_close() { # a, b, w0, ratio
    python3 - "$@" <<'EOF'
import array, json, math, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    w = array.array("f")
    for k in sorted(k for k in h if k != "__metadata__"):
        s, e = h[k]["data_offsets"]; w.frombytes(b[8 + n + s:8 + n + e])
    return w
a, b, w0 = (load(p) for p in sys.argv[1:4])
rms = lambda x, y: math.sqrt(sum((u - v) ** 2 for u, v in zip(x, y)) / len(x))
move, diff = rms(a, w0), rms(b, a)
if not move > 0 or not diff <= float(sys.argv[4]) * move:
    sys.exit(f"weights: 1 and 2 ranks differ by RMS {diff:.3g}, the run moved them by {move:.3g}")
print(f"ok weights: 2 ranks - 1 rank RMS {diff:.3g}, the update RMS {move:.3g} (ratio {diff / move:.2g})")
EOF
}

# ---- phase 1 on 1 and 2 ranks -----------------------------------------------------------
run1 one "${TRAIN[@]}"
run1 init "${TRAIN[@]}" --lr 1e-12 --lr-min 1e-12   # the initial weights (moved by < 1e-11)
run2 two "${TRAIN[@]}"
run2 two-again "${TRAIN[@]}"
# Step 1 computes the same samples and noise on the same weights: only the order of float
# sums differs (test_vae_shard: ~1e-7 relative), so the printed loss (5 decimals, ~1) agrees to
# its last digit. Later steps start from weights that differ by the rounding of the gradient
# sums, which Adam's normalisation can amplify for near-zero gradients: 1e-3.
losses_agree "phase 1" "$OUT/one.err" "$OUT/two.err" 2e-5 1e-3 || fail "phase 1 losses"
# the update agrees to 1e-3 of its size (measured here: ~2e-6)
weights_close "$OUT/one.st" "$OUT/two.st" "$OUT/init.st" 1e-3 || fail "phase 1 weights"
cmp -s "$OUT/two.st" "$OUT/two-again.st" && echo "ok two 2-rank runs: bit-identical models" || fail "two 2-rank runs differ"
cmp -s "$OUT/two.st.ckpt" "$OUT/two-again.st.ckpt" || fail "two 2-rank runs: checkpoints differ"
# the weights' hashes compared at the start, at the validation of step 3 and at the end
n=$(grep -c "weights identical on the 2 ranks" "$OUT/two.err")
[ "$n" = 3 ] && echo "ok parameter hashes equal across ranks (3 checks)" || fail "$n hash checks, not 3"
# rank 0 alone reports: one line per step, with the rank count
[ "$(grep -c "^step 1/6 " "$OUT/two.err")" = 1 ] || fail "not one progress line per step"
grep -q "samples/s on 2 ranks" "$OUT/two.err" || fail "the progress lines do not give the rank count"
[ "$(grep -c "^wrote " "$OUT/two.err")" = 1 ] || fail "not one 'wrote' line"

# ---- --resume on 2 ranks: stopped at step 3 and resumed = uninterrupted -------------------
run2 part "${TRAIN[@]}" --stop-at 3
[ -e "$OUT/part.st" ] && fail "resume: a stopped run wrote the model"
$MPIRUN "$CLIMZ" "${TRAIN[@]}" --resume "$OUT/part.st.ckpt" -o "$OUT/resumed.st" >/dev/null 2>"$OUT/resumed.err" || fail "resume: $(grep climz "$OUT/resumed.err")"
cmp -s "$OUT/two.st" "$OUT/resumed.st" && echo "ok --resume on 2 ranks: bit-identical to the uninterrupted run" || fail "resume on 2 ranks differs"
# a 2-rank checkpoint resumed by one process: allowed (the same training), and said so
"$CLIMZ" "${TRAIN[@]}" --resume "$OUT/part.st.ckpt" -o "$OUT/resumed1.st" 2>"$OUT/resumed1.err" || fail "resume on 1 rank: $(tail -1 "$OUT/resumed1.err")"
grep -q "written by 2 rank(s), this run has 1" "$OUT/resumed1.err" || fail "resume on 1 rank: no note on the rank count"
weights_close "$OUT/two.st" "$OUT/resumed1.st" "$OUT/init.st" 1e-3 || fail "resume on 1 rank: weights"

# ---- phase 2 (finetune) on 1 and 2 ranks ---------------------------------------------------
FT=(finetune --model "$OUT/one.st" "${COMMON[@]}" --lr 1e-3)
run1 ft-one "${FT[@]}"
run2 ft-two "${FT[@]}"
# phase 2's loss is ~1e2 (lambda 255^2 MSE + bits), printed with 4 decimals
losses_agree "phase 2" "$OUT/ft-one.err" "$OUT/ft-two.err" 1e-3 0.5 || fail "phase 2 losses"
[ -e "$OUT/ft-two.st" ] || fail "finetune on 2 ranks wrote no model"
# multi-rate phase 2: every rank draws the step's rate level from (seed, step), so 2 ranks
# train what one process does (another level on a rank would move its loss by ~10)
run1 mr-one "${FT[@]}" --rate-levels -8:16
run2 mr-two "${FT[@]}" --rate-levels -8:16
losses_agree "multi-rate phase 2" "$OUT/mr-one.err" "$OUT/mr-two.err" 1e-3 0.5 || fail "multi-rate phase 2 losses"
grep -aq '"vae.rate_levels":"-8:16"' "$OUT/mr-two.st" || fail "multi-rate on 2 ranks: no rate levels recorded"
# with rate gains: their gradients are summed over the ranks with the others'
run1 mg-one "${FT[@]}" --rate-levels -8:16 --rate-gains
run2 mg-two "${FT[@]}" --rate-levels -8:16 --rate-gains
losses_agree "multi-rate phase 2 with rate gains" "$OUT/mg-one.err" "$OUT/mg-two.err" 1e-3 0.5 || fail "rate gains: losses"
grep -aq '"rate_gain"' "$OUT/mg-two.st" || fail "rate gains on 2 ranks: no rate_gain tensor in the model"
# a rank with another range: refused before the first step
$MPMD -n 1 "$CLIMZ" "${FT[@]}" --rate-levels -8:16 -o "$OUT/mr.st" : \
      -n 1 "$CLIMZ" "${FT[@]}" --rate-levels 0:16 -o "$OUT/mr.st" >/dev/null 2>"$OUT/mr.err" && fail "other rate levels on rank 1: exit status 0"
[ -e "$OUT/mr.st" ] && fail "other rate levels on rank 1: a model file was left"
grep -q "rank 1 of 2 was started with other training options" "$OUT/mr.err" && echo "ok other rate levels on rank 1: refused" \
    || fail "other rate levels on rank 1: $(cat "$OUT/mr.err")"

# ---- a failing rank: rank 1 cannot read its data file -----------------------------------
head -c 3000 "$DATA/hgt.nc" >"$OUT/truncated.nc"
$MPMD -n 1 "$CLIMZ" "${TRAIN[@]}" -o "$OUT/fail.st" : \
      -n 1 "$CLIMZ" "${TRAIN[@]}" --data "$OUT/truncated.nc" -o "$OUT/fail.st" >/dev/null 2>"$OUT/fail.err"
[ $? -ne 0 ] || fail "failing rank: exit status 0"
[ -e "$OUT/fail.st" ] && fail "failing rank: a model file was left"
[ -e "$OUT/fail.st.ckpt" ] && fail "failing rank: a checkpoint was left"
n=$(grep -c "^climz train:" "$OUT/fail.err")
[ "$n" = 1 ] || fail "failing rank: $n error lines, not 1: $(cat "$OUT/fail.err")"
grep "^climz train:" "$OUT/fail.err" | grep -q "rank 1 of 2: .*truncated.nc" && echo "ok failing rank: $(grep "^climz train:" "$OUT/fail.err")" \
    || fail "failing rank: the message does not name rank 1 and its file: $(cat "$OUT/fail.err")"
# a rank started with other options (a different seed): refused before the first step
$MPMD -n 1 "$CLIMZ" "${TRAIN[@]}" -o "$OUT/seed.st" : \
      -n 1 "$CLIMZ" "${TRAIN[@]}" --seed 12 -o "$OUT/seed.st" >/dev/null 2>"$OUT/seed.err" && fail "other seed on rank 1: exit status 0"
[ -e "$OUT/seed.st" ] && fail "other seed on rank 1: a model file was left"
grep -q "rank 1 of 2 was started with other training options" "$OUT/seed.err" && echo "ok other options on rank 1: refused" \
    || fail "other seed on rank 1: $(cat "$OUT/seed.err")"
# a batch smaller than the rank count
$MPIRUN "$CLIMZ" "${TRAIN[@]}" --batch 1 -o "$OUT/b1.st" >/dev/null 2>"$OUT/b1.err" && fail "batch 1 on 2 ranks: exit status 0"
[ "$(grep -c "^climz train:.*at least the rank count" "$OUT/b1.err")" = 1 ] || fail "batch 1 on 2 ranks: $(cat "$OUT/b1.err")"
finish
