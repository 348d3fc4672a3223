#!/bin/bash
# bench_mpi.sh — climz compress / decompress with 1 process and with mpirun -n 2 (one thread
# each), side by side in one run, and MPI_Allreduce of the bundled model's gradient.
# Usage: bench/mpi/bench_mpi.sh [build dir] [data file] [reps, default 5]   (writes into /tmp/climz-bench-mpi)
set -eu
B=${1:-build}; IN=${2:-/work/shared/data/monthly_navy_winds.cdf}; REPS=${3:-5}
CLIMZ=$B/climz; OUT=/tmp/climz-bench-mpi; mkdir -p "$OUT"
MPIRUN="mpirun -n 2 --oversubscribe"; [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
best() { # median wall seconds of REPS runs of "$@" (the machine is shared: medians, not minima)
    local t=()
    for _ in $(seq "$REPS"); do
        local s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
        local e=$(date +%s.%N); t+=("$(echo "$e - $s" | bc -l)")
    done; printf "%s\n" "${t[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'
}
"$CLIMZ" compress --threads 1 --codec residual --rel-error 1e-3 "$IN" -o "$OUT/probe.clz" >/dev/null
MB=$("$CLIMZ" info --json "$OUT/probe.clz" | python3 -c 'import sys,json; print(json.load(sys.stdin)["float32_bytes"]/1e6)')
echo "input $IN: $MB MB as float32; median of $REPS; wall time includes process start (mpirun: ~0.3 s)"
printf "%-32s %10s %10s %10s %10s %8s\n" case "1 proc s" "MB/s" "2 ranks s" "MB/s" speedup
run() { # name, command (compress|decompress), args...
    local n=$1; shift
    local a=$(best "$CLIMZ" "$@" -o "$OUT/$n.one.$2") b=$(best $MPIRUN "$CLIMZ" "$@" -o "$OUT/$n.mpi.$2")
    printf "%-32s %10.3f %10.2f %10.3f %10.2f %8.2f\n" "$n" "$a" "$(echo "$MB / $a" | bc -l)" "$b" "$(echo "$MB / $b" | bc -l)" "$(echo "$a / $b" | bc -l)"
}
CL() { local n=$1; shift; local a=$(best "$CLIMZ" compress --threads 1 "$@" "$IN" -o "$OUT/$n.one.clz") b=$(best $MPIRUN "$CLIMZ" compress --threads 1 "$@" "$IN" -o "$OUT/$n.mpi.clz")
    cmp -s "$OUT/$n.one.clz" "$OUT/$n.mpi.clz" && same=identical || same=DIFFERENT
    printf "%-32s %10.3f %10.2f %10.3f %10.2f %8.2f  %s\n" "compress $n" "$a" "$(echo "$MB / $a" | bc -l)" "$b" "$(echo "$MB / $b" | bc -l)" "$(echo "$a / $b" | bc -l)" "$same"; }
DL() { local n=$1; local a=$(best "$CLIMZ" decompress --threads 1 "$OUT/$n.one.clz" -o "$OUT/$n.one.nc") b=$(best $MPIRUN "$CLIMZ" decompress --threads 1 "$OUT/$n.one.clz" -o "$OUT/$n.mpi.nc")
    printf "%-32s %10.3f %10.2f %10.3f %10.2f %8.2f\n" "decompress $n" "$a" "$(echo "$MB / $a" | bc -l)" "$b" "$(echo "$MB / $b" | bc -l)" "$(echo "$a / $b" | bc -l)"; }
CL residual-1e-3 --codec residual --rel-error 1e-3
CL residual-lossless --codec residual --max-abs-error 0
CL vaeformer --codec vaeformer
DL residual-1e-3
DL vaeformer
# bytes of input each process reads (rchar, from the page cache or the disk), file size beside
echo "input file: $(stat -c %s "$IN") bytes; bytes read per process (CLIMZ_MPI_READ_REPORT):"
for c in "residual --rel-error 1e-3" vaeformer; do
    one=$(CLIMZ_MPI_READ_REPORT=1 "$CLIMZ" compress --threads 1 --codec $c "$IN" -o "$OUT/read.one.clz" 2>&1 >/dev/null | grep -o "rank.*")
    two=$(CLIMZ_MPI_READ_REPORT=1 $MPIRUN "$CLIMZ" compress --threads 1 --codec $c "$IN" -o "$OUT/read.mpi.clz" 2>&1 >/dev/null | grep -o "rank.*" | sort | tr '\n' ';')
    echo "  $c: $one; $two"
done
mpicc -O2 -o "$OUT/bench_allreduce" "$(dirname "$0")/bench_allreduce.c"
for n in 1323236 13232360; do $MPIRUN "$OUT/bench_allreduce" $n 20; done
