#!/bin/bash
# mpirun -n 2 climz compress writes the same bytes as one process, for every codec (residual
# split on time blocks, in several variables, temporal, lossless, GRIB, missing values found by
# the ranks' scans; vaeformer plain and bounded; inr); each rank reads less than the whole
# file; a failing rank leaves nothing at the output and its message names the rank.
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
# missing values that differ from step to step (fills, NaN payloads first met on rank 1, values
# over valid_max): each rank scans only its steps, the specials and every step's mask chunk
# must come out as one process writes them
/usr/bin/python3 "$(dirname "$0")/make_specials_nc.py" "$OUT/specials.nc" || fail "make_specials_nc.py failed"
same residual-specials --codec residual --rel-error 1e-3 "$OUT/specials.nc"
same residual-specials-lossless --codec residual --max-abs-error 0 "$OUT/specials.nc"

# each rank reads only its steps: less than the whole file (every rank read all of it before)
CLIMZ_MPI_READ_REPORT=1 $MPIRUN "$CLIMZ" compress --threads 1 --codec residual --max-abs-error 0.5 "$DATA/hgt.nc" -o "$OUT/read.clz" >/dev/null 2>"$OUT/read.err" || fail "read volume: mpirun failed"
whole=$(stat -c %s "$DATA/hgt.nc")
for r in 0 1; do
    got=$(sed -n "s/^climz: rank $r of 2 read \([0-9]*\) bytes of input$/\1/p" "$OUT/read.err")
    if [ -z "$got" ]; then fail "read volume: rank $r said nothing"
    elif [ "$got" -ge "$whole" ]; then fail "read volume: rank $r read $got bytes, the whole file is $whole"
    else echo "ok rank $r read $got of $whole bytes"; fi
done

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
