#!/bin/bash
# RMSE targets that set an error bound (issue 22, part 1; src/api/residual_target.h):
# `--codec residual --rel-rmse r | --rmse X` searches the largest bound whose coding meets the
# target, and the VAEformer below its latent's floor meets the target with its residual stage
# at a searched bound (never larger than the residual codec alone at the same target).
# Checks, per variable:
#  - climz eval's RMSE of the file <= the target (relative: nrmse <= r);
#  - the bound is the largest: the header records the smallest bound tried that missed
#    (bound_rejected); it is within one search step of the bound used (2^(1/64), or one
#    storage quantum for packed integers), and the residual codec at that bound, coded again
#    on its own with --max-abs-error, does miss the target;
#  - with --max-abs-error the smaller bound wins;
#  - bad targets are refused with a clear message and no output.
. "$(dirname "$0")/clitest.sh"
py() { /usr/bin/python3 -c "$@"; }
# hdr FILE VAR KEY: a key of a variable's header entry (climz info --json)
hdr() {
    "$CLIMZ" info --json "$1" | py "import json,sys; e=[v for v in json.load(sys.stdin)['variables'] if v['name']==sys.argv[1]][0]; print(e.get(sys.argv[2], ''))" "$2" "$3"
}
# evalv REF FILE VAR KEY: a variable's figure of climz eval
evalv() {
    "$CLIMZ" eval --json --ref "$1" "$2" --var "$3" | py "import json,sys; print(json.load(sys.stdin)['variables'][0][sys.argv[1]])" "$4"
}
# within A B: A <= B (to the last digits a printed double keeps)
within() { py "import sys; a,b=map(float,sys.argv[1:]); sys.exit(not a <= b*(1+1e-12))" "$1" "$2"; }

# ---- the residual codec at a target ----
# file:variable[:quantum] (reduced.nc's sst is packed in shorts of scale 0.01: whole quanta)
for spec in tas_rectilinear_grid_2D.nc:tas hgt.nc:HGT reduced.nc:sst:0.01 bcsd_obs_1999.nc:pr; do
    IFS=: read -r f var q <<< "$spec"
    for rel in 0.003 0.01; do
        out=$OUT/${f%%.*}.$var.r$rel.clz
        check "residual $f --rel-rmse $rel" "$CLIMZ" compress --threads 2 --codec residual --var "$var" --rel-rmse $rel \
            "$DATA/$f" -o "$out"
        [ -f "$out" ] || continue
        n=$(evalv "$DATA/$f" "$out" "$var" nrmse) rmse=$(evalv "$DATA/$f" "$out" "$var" rmse)
        T=$(hdr "$out" "$var" rmse_target) E=$(hdr "$out" "$var" max_abs_error_bound)
        Er=$(hdr "$out" "$var" bound_rejected) tr=$(hdr "$out" "$var" bound_trials)
        echo "$f $var --rel-rmse $rel: nrmse $n (RMSE $rmse, target $T), bound $E, missed at $Er, $tr trials"
        if within "$n" $rel && within "$rmse" "$T"; then ok; else bad "$f $var at $rel: nrmse $n, RMSE $rmse over $T"; fi
        if [ -z "$Er" ]; then bad "$f $var at $rel: no rejected bound recorded"; continue; fi
        if py "import sys; E,r=map(float,sys.argv[1:3]); q=float(sys.argv[3] or 0); sys.exit(not (r > E and (r <= E*2**(1/64)*(1+1e-6) or (q > 0 and r - E <= 1.5*q))))" \
            "$E" "$Er" "$q"; then ok; else bad "$f $var at $rel: missed bound $Er is not one step above $E"; fi
        # the bound one step coarser, coded with it as a plain bound, misses the target (info
        # prints 8 digits: a hair above, so that it is the same number of quanta)
        Er=$(py "print(repr(float('$Er') * (1 + 1e-7)))")
        check "residual $f at the missed bound $Er" "$CLIMZ" compress --threads 2 --codec residual --var "$var" \
            --max-abs-error "$Er" "$DATA/$f" -o "$OUT/missed.clz"
        m=$(evalv "$DATA/$f" "$OUT/missed.clz" "$var" rmse)
        if py "import sys; sys.exit(not float(sys.argv[1]) > float(sys.argv[2]))" "$m" "$T"; then ok
        else bad "$f $var at $rel: the missed bound $Er gives RMSE $m, within the target $T"; fi
    done
done
info_has() { # info_has FILE PATTERN: climz info's summary of FILE matches PATTERN
    if "$CLIMZ" info "$1" | grep -Eq "$2"; then ok; else bad "climz info $1 lacks /$2/"; "$CLIMZ" info "$1" >&2; fi
}
E=$(hdr "$OUT/tas_rectilinear_grid_2D.tas.r0.01.clz" tas max_abs_error_bound)
info_has "$OUT/tas_rectilinear_grid_2D.tas.r0.01.clz" "^  tas +12,1,96,192 +[0-9.]+ +$(py "print('%.4g' % float('$E'))") "

# with a bound: the smaller wins (tas at 1 % R searches ~3.2 K)
IN=$DATA/tas_rectilinear_grid_2D.nc
check "residual target and a tighter bound" "$CLIMZ" compress --codec residual --rel-rmse 0.01 --max-abs-error 1 "$IN" -o "$OUT/tight.clz"
E=$(hdr "$OUT/tight.clz" tas max_abs_error_bound) m=$(evalv "$IN" "$OUT/tight.clz" tas max_abs_error)
if py "import sys; sys.exit(not float(sys.argv[1]) == 1.0)" "$E" && within "$m" 1; then ok; else bad "bound 1 with a 1 % target: bound $E, max error $m"; fi
check "residual target and a looser bound" "$CLIMZ" compress --codec residual --rel-rmse 0.01 --max-abs-error 10 "$IN" -o "$OUT/loose.clz"
E2=$(hdr "$OUT/loose.clz" tas max_abs_error_bound) E1=$(hdr "$OUT/tas_rectilinear_grid_2D.tas.r0.01.clz" tas max_abs_error_bound)
if [ "$E2" = "$E1" ]; then ok; else bad "bound 10 with a 1 % target: bound $E2, not the searched $E1"; fi
# --rmse in data units: the same search
check "residual --rmse 0.5" "$CLIMZ" compress --codec residual --rmse 0.5 "$IN" -o "$OUT/abs.clz"
r=$(evalv "$IN" "$OUT/abs.clz" tas rmse)
if py "import sys; r=float(sys.argv[1]); sys.exit(not 0.45 < r <= 0.5)" "$r"; then ok; else bad "--rmse 0.5 gave RMSE $r"; fi

# ---- the VAEformer below its latent's floor (0.29-0.52 % R on the bench sets, level -16) ----
T=0.002
for f in tas_rectilinear_grid_2D.nc hgt.nc; do
    b=${f%%.*} var=$([ $f = hgt.nc ] && echo HGT || echo tas)
    v=$OUT/$b.vae.clz k=$OUT/$b.vae-kept.clz r=$OUT/$b.res.clz
    check "vaeformer $f --rel-rmse $T" "$CLIMZ" compress --threads 2 --codec vaeformer --rel-rmse $T "$DATA/$f" -o "$v"
    check "vaeformer $f fallback=0" "$CLIMZ" compress --threads 2 --codec vaeformer --opt fallback=0 --rel-rmse $T \
        "$DATA/$f" -o "$k"
    check "residual $f --rel-rmse $T" "$CLIMZ" compress --threads 2 --codec residual --rel-rmse $T "$DATA/$f" -o "$r"
    [ -f "$v" ] && [ -f "$k" ] && [ -f "$r" ] || continue
    for x in "$v" "$k"; do
        n=$(evalv "$DATA/$f" "$x" $var nrmse)
        if within "$n" $T; then ok; else bad "$x: nrmse $n above $T"; fi
    done
    # kept: the latent and its residual stage, at a searched bound recorded in the header
    if grep -aq '"residual":true' "$k" && [ -n "$(hdr "$k" $var bound_trials)" ] && [ "$(hdr "$k" $var codec)" = vaeformer ]
    then ok; else bad "$f: fallback=0 below the floor did not keep the latent with a searched residual stage"; fi
    Ek=$(hdr "$k" $var max_abs_error_bound)
    if py "import sys; sys.exit(not float(sys.argv[1]) > 0)" "$Ek"; then ok; else bad "$f: kept file records bound $Ek"; fi
    vb=$(stat -c %s "$v") kb=$(stat -c %s "$k") rb=$(stat -c %s "$r")
    echo "$f at $T R: vaeformer $vb bytes ($(hdr "$v" $var codec)), latent + residual stage $kb, residual alone $rb"
    # never worse (a header's bytes of slack, as test_cli_never_worse)
    if [ "$vb" -le $((rb + 72)) ] && [ "$vb" -le $((kb + 72)) ]; then ok
    else bad "$f: vaeformer $vb bytes > min(residual $rb, kept $kb) + 72"; fi
    # decoding does not depend on the thread count (the residual stage's prediction is the
    # deterministic synthesis)
    check "decode $b 1 thread" "$CLIMZ" decompress --threads 1 "$k" -o "$OUT/$b.k1.nc"
    check "decode $b 2 threads" "$CLIMZ" decompress --threads 2 "$k" -o "$OUT/$b.k2.nc"
    if cmp -s "$OUT/$b.k1.nc" "$OUT/$b.k2.nc"; then ok; else bad "$f: decodes differently with 1 and 2 threads"; fi
done

# ---- refused ----
B=$OUT/bad.clz
R="$CLIMZ compress --codec residual"
V="$CLIMZ compress --codec vaeformer"
expect_fail "residual rel-rmse 0" "rel-rmse=0: use an RMSE relative to the range" "$B" $R --rel-rmse 0 "$IN" -o "$B"
expect_fail "residual rel-rmse negative" "rel-rmse=-0.01: use" "$B" $R --rel-rmse -0.01 "$IN" -o "$B"
expect_fail "residual rel-rmse 2" "rel-rmse=2: use" "$B" $R --rel-rmse 2 "$IN" -o "$B"
expect_fail "residual rmse 0" "rmse=0: use an RMSE > 0" "$B" $R --rmse 0 "$IN" -o "$B"
expect_fail "residual rmse text" "needs a number" "$B" $R --rmse abc "$IN" -o "$B"
expect_fail "residual two targets" "give one of rmse" "$B" $R --rmse 1 --rel-rmse 0.01 "$IN" -o "$B"
expect_fail "residual with ratio" "ratio is a target of a learned codec" "$B" $R --rel-rmse 0.01 --ratio 50 "$IN" -o "$B"
expect_fail "residual other option" "residual has no option 'step'" "$B" $R --rel-rmse 0.01 --opt step=3 "$IN" -o "$B"
expect_fail "vaeformer target and ratio" "give one of" "$B" $V --rel-rmse 0.003 --ratio 50 "$IN" -o "$B"
expect_fail "nc4 with a target" "format nc4 takes a bound" "$OUT/bad.nc" $R --format nc4 --rel-rmse 0.01 "$IN" -o "$OUT/bad.nc"
# forbidden below the floor: the rate search's own message
expect_fail "below the floor, floor=0" "no rate level reaches RMSE" "$B" $V --opt floor=0 --rel-rmse 0.003 "$IN" -o "$B"
expect_fail "below the floor, deterministic=0" "deterministic=0 turns off" "$B" $V --opt deterministic=0 --rel-rmse 0.003 \
    "$IN" -o "$B"
expect_fail "floor=2" "floor=2: use 0 or 1" "$B" $V --opt floor=2 --rel-rmse 0.003 "$IN" -o "$B"
finish
