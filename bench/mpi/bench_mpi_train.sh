#!/bin/bash
# bench_mpi_train.sh — climz train (phase 1) and climz finetune (phase 2) of the bundled model's
# configuration with 1 process and with mpirun -n 2 (one thread each), alternated in one run:
# training samples/s (the loop's own timing, from the last progress line) and, on 2 ranks,
# the gradient bytes summed per step, the time of the sums and of the loss exchange before
# them (where the ranks wait for the slowest); then MPI_Allreduce of the same bytes
# (bench_allreduce.c) under the same load, for comparison.
# Usage: bench/mpi/bench_mpi_train.sh [build dir] [data spec] [reps] [steps]
#        (writes into /tmp/climz-bench-mpi-train)
set -eu
B=${1:-build}; DATA=${2:-data/hgt.nc}; REPS=${3:-5}; STEPS=${4:-40}
CLIMZ=$B/climz; OUT=/tmp/climz-bench-mpi-train; mkdir -p "$OUT"
MPIRUN="mpirun -n 2 --oversubscribe"; [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive OPENBLAS_NUM_THREADS=1
M=$(dirname "$0")/../../models
COMMON=(--data "$DATA" --batch 8 --crop 64x64 --steps "$STEPS" --log-every "$STEPS" --val-every 100000
        --checkpoint-every 100000 --seed 1 --threads 1)
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
rate() { sed -n 's/.* steps in .* s (\([0-9.]*\) samples\/s.*/\1/p' "$1"; }
echo "data $DATA; batch 8 of 64 x 64; $STEPS steps; $REPS runs each, 1 process and 2 ranks alternated; medians"
printf "%-10s %14s %14s %8s %16s %12s %10s %12s\n" phase "1 proc samp/s" "2 ranks samp/s" speedup "grad bytes/step" "sum ms/step" "sum share" "wait ms/step"
for phase in train finetune; do
    if [ $phase = train ]; then ARGS=(train --config "$M/climz-default.json" "${COMMON[@]}")
    else ARGS=(finetune --model "$M/climz-default.safetensors" "${COMMON[@]}"); fi
    : >"$OUT/$phase.one" >"$OUT/$phase.two" >"$OUT/$phase.ms" >"$OUT/$phase.share" >"$OUT/$phase.wait"
    for r in $(seq "$REPS"); do
        "$CLIMZ" "${ARGS[@]}" -o "$OUT/$phase.one.st" 2>"$OUT/$phase.one.log"
        $MPIRUN "$CLIMZ" "${ARGS[@]}" -o "$OUT/$phase.two.st" >/dev/null 2>"$OUT/$phase.two.log"
        rate "$OUT/$phase.one.log" >>"$OUT/$phase.one"
        rate "$OUT/$phase.two.log" >>"$OUT/$phase.two"
        g=$(grep "gradient sums:" "$OUT/$phase.two.log")
        bytes=$(echo "$g" | sed -n 's/.*sums: \([0-9]*\) bytes.*/\1/p')
        echo "$g" | sed -n 's/.*bytes per step, \([0-9.]*\) ms.*/\1/p' >>"$OUT/$phase.ms"
        echo "$g" | sed -n 's/.*(\([0-9.]*\)% of the step.*/\1/p' >>"$OUT/$phase.share"
        echo "$g" | sed -n 's/.*the slowest: \([0-9.]*\) ms.*/\1/p' >>"$OUT/$phase.wait"
    done
    a=$(median <"$OUT/$phase.one"); b=$(median <"$OUT/$phase.two")
    printf "%-10s %14.1f %14.1f %8.2f %16s %12.2f %9.1f%% %12.2f\n" $phase "$a" "$b" "$(echo "$b / $a" | bc -l)" \
        "$bytes" "$(median <"$OUT/$phase.ms")" "$(median <"$OUT/$phase.share")" "$(median <"$OUT/$phase.wait")"
    echo "  runs (samples/s), 1 process: $(tr '\n' ' ' <"$OUT/$phase.one")/ 2 ranks: $(tr '\n' ' ' <"$OUT/$phase.two")"
    echo "$bytes" >"$OUT/$phase.bytes"
done
mpicc -O2 -o "$OUT/bench_allreduce" "$(dirname "$0")/bench_allreduce.c"
for phase in train finetune; do
    echo "MPI_Allreduce of the $phase gradient: $($MPIRUN "$OUT/bench_allreduce" $(($(cat "$OUT/$phase.bytes") / 4)) 20)"
done
