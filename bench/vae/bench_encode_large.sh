#!/bin/bash
# bench_encode_large.sh — seconds per field to compress and decompress a 721 x 1440 field with
# the VAEformer at default settings, two builds side by side (interleaved, REPS rounds), and
# the residual codec beside them; ratio and RMSE from the CLI's summary.
#
#   bash bench/vae/bench_encode_large.sh NEW_BUILD OLD_BUILD WORK_DIR [REPS]
#
# The field: data/hgt.nc step 0 on a 0.25-degree grid (quarter_degree_hgt.py), as bench_memory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
new=$1/climz old=$2/climz work=$3 reps=${4:-3}
mkdir -p "$work"
f=$work/hgt_721x1440.nc
if [ ! -f "$f" ]; then
    ncdump -v HGT -l 100000 "$here/../../data/hgt.nc" | python3 "$here/quarter_degree_hgt.py" > "$work/f.cdl"
    ncgen -o "$f" "$work/f.cdl"
fi
t() { # seconds of a command, its output in $work/last.out
    local a b
    a=$(date +%s.%N)
    "$@" > "$work/last.out" 2>&1 || { cat "$work/last.out" >&2; exit 1; }
    b=$(date +%s.%N)
    echo "$b - $a" | bc
}
row() { # label program codec-arguments...
    local label=$1 prog=$2; shift 2
    local c d
    c=$(t "$prog" compress --threads 2 "$@" "$f" -o "$work/$label.clz")
    local s
    s=$(grep -E "^ +HGT" "$work/last.out" | awk '{print "ratio " $3 " rmse " $5}')
    d=$(t "$prog" decompress --threads 2 "$work/$label.clz" -o "$work/$label.nc")
    rm -f "$work/$label.nc"
    echo "$label compress $c decompress $d $s"
}
for r in $(seq "$reps"); do
    row old-vaeformer "$old" --codec vaeformer
    row new-vaeformer "$new" --codec vaeformer
    row residual-1e-3 "$new" --codec residual --rel-error 1e-3
    row residual-1e-2 "$new" --codec residual --rel-error 1e-2
done
