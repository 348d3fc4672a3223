#!/bin/bash
# mpirun -n 2 climz compress writes the same bytes as one process, for every codec (residual
# split on time blocks, in several variables, temporal, lossless, GRIB; vaeformer plain and
# bounded; inr); a failing rank leaves nothing at the output and its message names the rank.
# --threads 1 on both sides: the INR fit depends on the thread count (with mpirun's core
# binding, a process sees one core).
. "$(dirname "$0")/mpitest.sh"
same() { # name, compress arguments...
    local n=$1; shift
    "$CLIMZ" compress --threads 1 "$@" -o "$OUT/$n.one.clz" >/dev/null 2>"$OUT/$n.one.err" || { fail "$n: one process: $(tail -1 "$OUT/$n.one.err")"; return; }
    $MPIRUN "$CLIMZ" compress --threads 1 "$@" -o "$OUT/$n.mpi.clz" >"$OUT/$n.mpi.out" 2>"$OUT/$n.mpi.err" || { fail "$n: mpirun: $(head -1 "$OUT/$n.mpi.err")"; return; }
    if cmp -s "$OUT/$n.one.clz" "$OUT/$n.mpi.clz"; then echo "ok $n ($(stat -c %s "$OUT/$n.one.clz") bytes identical)"
    else fail "$n: the two files differ"; fi
    ls "$OUT" | grep -q "\.tmp\." && fail "$n: a temporary file was left"
}
same residual-hgt --codec residual --max-abs-error 0.5 "$DATA/hgt.nc"
same residual-model --codec residual --rel-error 1e-3 "$DATA/model_T.nc"
same residual-reduced --codec residual --rel-error 1e-3 "$DATA/reduced.nc"
same residual-temporal --codec residual --rel-error 1e-3 --temporal "$DATA/hgt.nc"
same residual-lossless --codec residual --max-abs-error 0 "$DATA/bcsd_obs_1999.nc"
same residual-grib --codec residual --rel-error 1e-3 "$DATA/era5-2mt-2019-03-01-02-uk.grib"
same vaeformer-hgt --codec vaeformer "$DATA/hgt.nc"
same vaeformer-reduced-bounded --codec vaeformer --max-abs-error 0.5 "$DATA/reduced.nc"
same inr-reduced --codec inr --max-abs-error 0.5 "$DATA/reduced.nc"

# a rank that fails: no file, one message naming rank 1 and the cause
CLIMZ_MPI_FAIL_RANK=1 $MPIRUN "$CLIMZ" compress --codec residual --max-abs-error 0.5 "$DATA/hgt.nc" -o "$OUT/fail.clz" >/dev/null 2>"$OUT/fail.err"
rc=$?
[ $rc -ne 0 ] || fail "failing rank: exit status 0"
[ -e "$OUT/fail.clz" ] && fail "failing rank: a file was left at the output"
ls "$OUT" | grep -q "fail.clz.tmp" && fail "failing rank: the temporary file was left"
n=$(grep -c "climz: error" "$OUT/fail.err")
[ "$n" = 1 ] || fail "failing rank: $n error lines, not 1"
grep -q "rank 1 of 2: injected failure" "$OUT/fail.err" || fail "failing rank: message does not name rank 1: $(grep climz "$OUT/fail.err")"
# an output directory that does not exist: refused by every rank, one message
$MPIRUN "$CLIMZ" compress --codec residual --max-abs-error 0.5 "$DATA/hgt.nc" -o "$OUT/no/such/dir.clz" >/dev/null 2>"$OUT/nodir.err" && fail "missing directory: exit status 0"
[ "$(grep -c "climz: error" "$OUT/nodir.err")" = 1 ] || fail "missing directory: not one error line"
finish
