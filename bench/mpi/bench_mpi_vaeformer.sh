#!/bin/bash
# bench_mpi_vaeformer.sh — one large VAEformer variable compressed by 1 process and by
# mpirun -n 2 (one thread each), side by side in one run: the ranks split the variable along
# its prediction groups (src/mpi/mpi_compress.c), so a one-variable file gains from MPI.
# Usage: bench/mpi/bench_mpi_vaeformer.sh [build dir] [reps, default 3] FILE[:VAR] ...
#   (writes into /tmp/climz-bench-mpi-vae; prints the load average before and after)
set -eu
B=${1:-build}; REPS=${2:-3}; shift 2
CLIMZ=$B/climz; OUT=/tmp/climz-bench-mpi-vae; mkdir -p "$OUT"
MPIRUN="mpirun -n 2 --oversubscribe"; [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
median() { # median wall seconds of REPS runs of "$@" (the machine is shared: medians)
    local t=()
    for _ in $(seq "$REPS"); do
        local s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
        local e=$(date +%s.%N); t+=("$(echo "$e - $s" | bc -l)")
    done; printf "%s\n" "${t[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); median of $REPS; wall time includes process start"
printf "%-50s %8s %8s %8s %8s %7s  %s\n" case "1 proc s" "MB/s" "2 rank s" "MB/s" speedup "output, codec; rank 1's steps; CPU s of the call: 1 process / rank 0 + rank 1"
for spec in "$@"; do
    IN=${spec%%:*}; VAR=; [ "$spec" != "$IN" ] && VAR=${spec#*:}
    VARG=(); [ -n "$VAR" ] && VARG=(--var "$VAR")
    for c in "" "--max-abs-error 0.5" "--rel-error 1e-3"; do
        n=$(basename "$IN" | cut -c1-20)${VAR:+-$VAR}${c:+ ${c#--}}
        args=(compress --threads 1 --codec vaeformer "${VARG[@]}" $c "$IN")
        a=$(median "$CLIMZ" "${args[@]}" -o "$OUT/one.clz")
        b=$(median $MPIRUN "$CLIMZ" "${args[@]}" -o "$OUT/mpi.clz")
        MB=$("$CLIMZ" info --json "$OUT/one.clz" | python3 -c 'import sys,json; print(json.load(sys.stdin)["float32_bytes"]/1e6)')
        cmp -s "$OUT/one.clz" "$OUT/mpi.clz" && same=identical || same=DIFFERENT
        codec=$(grep -ao '"codec":"[a-z]*"' "$OUT/one.clz" | tail -1 | cut -d'"' -f4)
        # one more run of each with CLIMZ_MPI_PLAN_REPORT: rank 1's steps, and the CPU seconds of
        # the call in each process (the split of the work, which wall time on a loaded machine hides)
        CLIMZ_MPI_PLAN_REPORT=1 "$CLIMZ" "${args[@]}" -o "$OUT/plan.clz" 2>"$OUT/plan1.err" >/dev/null
        CLIMZ_MPI_PLAN_REPORT=1 $MPIRUN "$CLIMZ" "${args[@]}" -o "$OUT/plan.clz" 2>"$OUT/plan2.err" >/dev/null
        slice=$(sed -n 's/^climz: rank 1 of 2 codes variable .* steps \([0-9]* to [0-9]* of [0-9]*\)$/\1/p' "$OUT/plan2.err" | head -1)
        cpu() { sed -n "s/^climz: rank $1 used \([0-9.]*\) s of CPU.*/\1/p" "$2"; }
        printf "%-50s %8.3f %8.2f %8.3f %8.2f %7.2f  %s, %s; %s; CPU s %s / %s + %s\n" "$n" "$a" "$(echo "$MB / $a" | bc -l)" "$b" \
            "$(echo "$MB / $b" | bc -l)" "$(echo "$a / $b" | bc -l)" "$same" "$codec" "${slice:-none}" \
            "$(cpu "0 of 1" "$OUT/plan1.err")" "$(cpu "0 of 2" "$OUT/plan2.err")" "$(cpu "1 of 2" "$OUT/plan2.err")"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
