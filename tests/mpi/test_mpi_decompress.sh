#!/bin/bash
# mpirun -n 2 climz decompress (each rank decodes its steps, rank 0 writes) gives the same
# NetCDF file as one process, whole and for a time range, for every codec.
. "$(dirname "$0")/mpitest.sh"
same() { # name, [decompress args] -- compress arguments...
    local n=$1; shift
    local dargs=()
    while [ "$1" != "--" ]; do dargs+=("$1"); shift; done; shift
    "$CLIMZ" compress --threads 1 "$@" -o "$OUT/$n.clz" >/dev/null 2>"$OUT/$n.err" || { fail "$n: compress: $(tail -1 "$OUT/$n.err")"; return; }
    "$CLIMZ" decompress "${dargs[@]}" "$OUT/$n.clz" -o "$OUT/$n.one.nc" >/dev/null 2>>"$OUT/$n.err" || { fail "$n: one process: $(tail -1 "$OUT/$n.err")"; return; }
    $MPIRUN "$CLIMZ" decompress "${dargs[@]}" "$OUT/$n.clz" -o "$OUT/$n.mpi.nc" >/dev/null 2>>"$OUT/$n.err" || { fail "$n: mpirun: $(tail -1 "$OUT/$n.err")"; return; }
    if cmp -s "$OUT/$n.one.nc" "$OUT/$n.mpi.nc"; then echo "ok $n"; else fail "$n: the two NetCDF files differ"; fi
}
same residual-model -- --codec residual --rel-error 1e-3 "$DATA/model_T.nc"
same residual-model-times --times 1:3 -- --codec residual --rel-error 1e-3 "$DATA/model_T.nc"
same residual-hgt-times --times 5:17 -- --codec residual --max-abs-error 0.5 "$DATA/hgt.nc"
same residual-temporal -- --codec residual --rel-error 1e-3 --temporal "$DATA/hgt.nc"
same residual-reduced -- --codec residual --rel-error 1e-3 "$DATA/reduced.nc"
same vaeformer-hgt -- --codec vaeformer "$DATA/hgt.nc"
same vaeformer-reduced-bounded -- --codec vaeformer --max-abs-error 0.5 "$DATA/reduced.nc"
same inr-reduced -- --codec inr --max-abs-error 0.5 "$DATA/reduced.nc"
# a missing input: one message, exit 1
$MPIRUN "$CLIMZ" decompress "$OUT/none.clz" -o "$OUT/none.nc" >/dev/null 2>"$OUT/none.err" && fail "missing input: exit status 0"
[ "$(grep -c "climz: error" "$OUT/none.err")" = 1 ] || fail "missing input: not one error line"
[ -e "$OUT/none.nc" ] && fail "missing input: an output was left"
finish
