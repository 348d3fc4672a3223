#!/bin/bash
# mpirun -n 2 climz compress writes the same bytes as one process, for every codec (residual
# split on time blocks, in several variables, temporal, lossless, GRIB, missing values found by
# the ranks' scans; vaeformer plain and bounded, whole and split along its prediction groups;
# inr; a variable with no points); each rank reads less than the whole file; a failing rank
# leaves nothing at the output and its message names the rank.
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
# an RMSE target: the bound is searched on the whole variable, which is then coded whole
same residual-rmse-target --codec residual --rel-rmse 0.003 "$DATA/hgt.nc"
same residual-rmse-target-vars --codec residual --rel-rmse 0.01 "$DATA/bcsd_obs_1999.nc"
same vaeformer-below-floor --codec vaeformer --opt fallback=0 --rel-rmse 0.003 "$DATA/hgt.nc"
# missing values that differ from step to step (fills, NaN payloads first met on rank 1, values
# over valid_max): each rank scans only its steps, the specials and every step's mask chunk
# must come out as one process writes them
/usr/bin/python3 "$(dirname "$0")/make_specials_nc.py" "$OUT/specials.nc" || fail "make_specials_nc.py failed"
same residual-specials --codec residual --rel-error 1e-3 "$OUT/specials.nc"
same residual-specials-lossless --codec residual --max-abs-error 0 "$OUT/specials.nc"

# one vaeformer variable split along its prediction groups (issue 19): each rank codes a
# slice of the same variable (CLIMZ_MPI_PLAN_REPORT says which steps), and the per-variable
# decisions are agreed over the ranks: the NaN fallback, the never-worse choice of the residual
# codec (both outcomes: the residual codec wins the weighing, and fallback=0 keeps the
# VAEformer and its residual stage), the counts of the header entry, and the masks of
# missing values found on each rank. split NAME VAR ARGS...: as same, and asserts the split.
split() {
    local n=$1 v=$2; shift 2
    CLIMZ_MPI_PLAN_REPORT=1 same "$n" "$@"
    for r in 0 1; do
        grep -q "^climz: rank $r of 2 codes variable '$v' steps [0-9]* to [0-9]* of" "$OUT/$n.mpi.err" ||
            fail "$n: rank $r coded no slice of '$v': $(grep -c . "$OUT/$n.mpi.err") lines"
    done
    grep "codes variable '$v'" "$OUT/$n.mpi.err" | sed "s/^climz: /  $n: /"
}
GRIB=$DATA/era5-2mt-2019-03-01-02-uk.grib # 48 steps of 33 x 49: groups and residual blocks of 32
split vaeformer-split 2t --codec vaeformer "$GRIB"
split vaeformer-split-bound-residual-wins 2t --codec vaeformer --max-abs-error 0.5 "$GRIB"
grep -aq '"codec_asked":"vaeformer","codec_asked_bytes":[0-9]*' "$OUT/vaeformer-split-bound-residual-wins.one.clz" ||
    fail "vaeformer 0.5 K: the residual codec did not win (the case is meant to test that outcome)"
split vaeformer-split-bound-kept 2t --codec vaeformer --opt fallback=0 --max-abs-error 0.5 "$GRIB"
grep -aq '"residual":true' "$OUT/vaeformer-split-bound-kept.one.clz" || fail "fallback=0: no residual stage"
# fills, NaN payloads and values over valid_max, 6 steps in groups of 2: three slices
split vaeformer-split-specials t --codec vaeformer --opt group=2 "$OUT/specials.nc"
split vaeformer-split-specials-bound t --codec vaeformer --opt group=2 --rel-error 1e-3 "$OUT/specials.nc"
# the parallel file decodes to the serial file's values, bit for bit
for n in vaeformer-split vaeformer-split-specials-bound; do
    for w in one mpi; do "$CLIMZ" decompress "$OUT/$n.$w.clz" -o "$OUT/$n.$w.nc" >/dev/null 2>&1 || fail "$n: decompress $w"; done
    cmp -s "$OUT/$n.one.nc" "$OUT/$n.mpi.nc" && echo "ok $n decodes to the same values" || fail "$n: decoded files differ"
done
# a variable with no points (no records yet) is stored as it is, as one process does it
if command -v ncgen >/dev/null; then
    cat >"$OUT/empty.cdl" <<'CDL'
netcdf empty {
dimensions: t = UNLIMITED ; s = 4 ; y = 3 ; x = 4 ;
variables:
  float a(s, y, x) ; a:units = "K" ;
  float b(t, y, x) ;
data:
  a = 1,2,3,4,5,6,7,8,9,10,11,12, 2,3,4,5,6,7,8,9,10,11,12,13, 3,4,5,6,7,8,9,10,11,12,13,14,
      4,5,6,7,8,9,10,11,12,13,14,15 ;
}
CDL
    ncgen -o "$OUT/empty.nc" "$OUT/empty.cdl" || fail "ncgen failed"
    same empty-residual --codec residual --rel-error 1e-2 "$OUT/empty.nc"
    same empty-vaeformer --codec vaeformer "$OUT/empty.nc"
    grep -aq "variable 'b' has no points" "$OUT/empty-residual.mpi.clz" || fail "empty: no note in the header"
else
    echo "ncgen not found: the zero-size variable case is skipped"
fi

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
# the same while the ranks share a vaeformer variable: the other rank waits in their first
# collective and learns the failure there (no hang); the message is the failing rank's
for r in 0 1; do
    CLIMZ_MPI_FAIL_RANK=$r timeout 300 $MPIRUN "$CLIMZ" compress --codec vaeformer "$GRIB" -o "$OUT/fail$r.clz" >/dev/null 2>"$OUT/fail$r.err"
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "failing rank $r in a split variable: exit status $rc"
    [ -e "$OUT/fail$r.clz" ] && fail "failing rank $r in a split variable: a file was left at the output"
    [ "$(grep -c "climz: error" "$OUT/fail$r.err")" = 1 ] || fail "failing rank $r in a split variable: not one error line"
    grep -q "rank $r of 2: injected failure" "$OUT/fail$r.err" || fail "failing rank $r in a split variable: $(grep climz "$OUT/fail$r.err")"
done
# an output directory that does not exist: refused by every rank, one message
$MPIRUN "$CLIMZ" compress --codec residual --max-abs-error 0.5 "$DATA/hgt.nc" -o "$OUT/no/such/dir.clz" >/dev/null 2>"$OUT/nodir.err" && fail "missing directory: exit status 0"
[ "$(grep -c "climz: error" "$OUT/nodir.err")" = 1 ] || fail "missing directory: not one error line"
finish
