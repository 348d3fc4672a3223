#!/bin/sh
# floor_sweep.sh — RMSE targets at and below the learned latent's distortion floor (issue 22,
# part 1): on every held-out set of bench/vae, the ratio at RMSE targets of 0.3, 0.5 and 0.75 %
# of the range for
#   - `climz compress --codec vaeformer --rmse X` (bundled model, the default fallback=1: the
#     smaller of the VAEformer and the residual codec alone at the same target),
#   - the same with `--opt fallback=0` (the VAEformer's own file: a rate level, or below the
#     floor the level-0 latent and its residual stage at a searched bound),
#   - `climz compress --codec residual --rmse X` (the searched bound),
#   - SZ3: SPEC section 8's ratios at RMSE <= 1 % and 0.1 % R, between them a power law (an
#     estimate, as bench/vae/rate_sweep.py and the tables of bench/RESULTS.md use).
# Then, on LEVEL_SETS, which latent level the residual stage below the floor should sit on:
# the codec's fallback=0 file at the first target against `--opt step=K --opt fallback=0
# --max-abs-error E` at levels K, E stepped by 2^(1/16) from that file's searched bound
# (starting a quarter octave below) until the RMSE leaves the target (the largest E that meets
# it is the one a search at level K would find, to within that step; "none meets": already
# the first E misses).
#
#   sh bench/vae/floor_sweep.sh BUILD_DIR WORK_DIR [DATA_DIR] > floor.md
#
# Held-out steps are cut out exactly as fidelity.sh does (lossless residual, decoded with
# --times). R is the range of the whole variable (as bench_vae and SPEC's SZ3 figures), so the
# targets are given as --rmse X = r * R. Ratios are per variable (climz info: float32 bytes of
# the variable over its coded chunks; the file's header, schema and index are left out, as in
# bench_vae). Seconds: wall clock of one compress (one thread; the machine is shared).
set -eu
B=${1:?usage: floor_sweep.sh BUILD_DIR WORK_DIR [DATA_DIR]}
W=${2:?usage: floor_sweep.sh BUILD_DIR WORK_DIR [DATA_DIR]}
D=${3:-$(dirname "$0")/../../../shared/data}
TARGETS=${TARGETS:-"0.003 0.005 0.0075"}
LEVEL_SETS=${LEVEL_SETS:-"HGT tas UWND"}
LEVELS=${LEVELS:-"-16 -8 8"}
CLIMZ=$B/climz
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$W"

# label|file|variable|first:last held-out step|SZ3 at 1 % R|SZ3 at 0.1 % R (bench_vae.c)
SETS="UWND|monthly_navy_winds.cdf|UWND|108:131|33.5|8.70
VWND|monthly_navy_winds.cdf|VWND|108:131|32.8|8.46
HGT|hgt.nc|HGT|17:20|81.4|19.9
ERA5 2t|era5-2mt-2019-03-uk-days01-21.grib|2t|408:503|73.1|10.6
tas|tas_rectilinear_grid_2D.nc|tas|9:11|65.6|11.7"

# v FILE KEY: a key of the (only) variable's header entry; "errors.rmse" reaches one level in
v() {
    "$CLIMZ" info --json "$1" | /usr/bin/python3 -c "
import json, sys
e = json.load(sys.stdin)['variables'][0]
for k in sys.argv[1].split('.'):
    e = e.get(k, '') if isinstance(e, dict) else ''
print(e)" "$2"
}
calc() { /usr/bin/python3 -c "import math, sys; print($1)"; }
# timed OUT ARGS...: compress to OUT; prints the wall seconds
timed() {
    out=$1
    shift
    t0=$(date +%s.%N)
    "$CLIMZ" compress --threads 1 "$@" -o "$out" >/dev/null
    calc "'%.1f' % ($(date +%s.%N) - $t0)"
}

echo "## RMSE targets at and below the latent's floor (bench/vae/floor_sweep.sh)"
echo
echo "| data | target % R | vaeformer: ratio, RMSE % R, coder (s) | fallback=0: ratio, RMSE % R, how | residual: ratio, RMSE % R, bound (s) | SZ3 est. | vaeformer / SZ3 | residual / SZ3 |"
echo "|---|---|---|---|---|---|---|---|"
echo "$SETS" | while IFS='|' read -r label file var steps s1 s01; do
    [ -e "$D/$file" ] || { echo "| $label | ($D/$file absent) |"; continue; }
    tag=$(echo "$label" | tr -c 'A-Za-z0-9\n' '_')
    "$CLIMZ" compress --codec residual --max-abs-error 0 --var "$var" "$D/$file" -o "$W/$tag.full.clz" >/dev/null
    "$CLIMZ" decompress "$W/$tag.full.clz" -o "$W/$tag.held.nc" --times "$steps" >/dev/null
    R=$(calc "$(v "$W/$tag.full.clz" max) - $(v "$W/$tag.full.clz" min)")
    for r in $TARGETS; do
        X=$(calc "repr($r * $R)")
        pc=$(calc "'%.2f' % ($r * 100)")
        tv=$(timed "$W/$tag.$r.vae.clz" --codec vaeformer --rmse "$X" "$W/$tag.held.nc")
        timed "$W/$tag.$r.keep.clz" --codec vaeformer --opt fallback=0 --rmse "$X" "$W/$tag.held.nc" >/dev/null
        tr=$(timed "$W/$tag.$r.res.clz" --codec residual --rmse "$X" "$W/$tag.held.nc")
        rv=$(v "$W/$tag.$r.vae.clz" ratio) rk=$(v "$W/$tag.$r.keep.clz" ratio) rr=$(v "$W/$tag.$r.res.clz" ratio)
        ev=$(calc "'%.3f' % (100 * $(v "$W/$tag.$r.vae.clz" errors.rmse) / $R)")
        ek=$(calc "'%.3f' % (100 * $(v "$W/$tag.$r.keep.clz" errors.rmse) / $R)")
        er=$(calc "'%.3f' % (100 * $(v "$W/$tag.$r.res.clz" errors.rmse) / $R)")
        coder=$(v "$W/$tag.$r.vae.clz" codec)
        lvl=$("$CLIMZ" info --json "$W/$tag.$r.keep.clz" | /usr/bin/python3 -c "
import json, sys
e = json.load(sys.stdin)['variables'][0]
k = e.get('vaeformer', {}).get('step_level', 0)
print('level %d + residual E = %.3g %% R' % (k, 100 * e['max_abs_error_bound'] / $R) if 'bound_trials' in e else 'level %d' % k)")
        Er=$(calc "'%.3g' % (100 * $(v "$W/$tag.$r.res.clz" max_abs_error_bound) / $R)")
        sz=$(calc "$s1 * ($r * 100) ** (math.log($s1 / $s01) / math.log(10.0))")
        echo "| $label | $pc | $(calc "'%.1f' % $rv"), $ev, $coder ($tv) | $(calc "'%.1f' % $rk"), $ek, $lvl | $(calc "'%.1f' % $rr"), $er, E = $Er % R ($tr) | $(calc "'%.1f' % $sz") | $(calc "'%.2f' % ($rv / $sz)") | $(calc "'%.2f' % ($rr / $sz)") |"
    done
done

echo
echo "### The latent's level below the floor (at ${TARGETS%% *} of the range)"
echo
head="| data | the codec's file (fallback=0): ratio, RMSE % R, E |" rule="|---|---|"
for K in $LEVELS; do head="$head level $K: ratio, RMSE % R, E |" rule="$rule---|"; done
echo "$head"
echo "$rule"
r=${TARGETS%% *}
echo "$SETS" | while IFS='|' read -r label file var steps s1 s01; do
    case " $LEVEL_SETS " in *" $label "*) ;; *) continue ;; esac
    tag=$(echo "$label" | tr -c 'A-Za-z0-9\n' '_')
    k0=$W/$tag.$r.keep.clz
    [ -e "$k0" ] || continue
    R=$(calc "$(v "$W/$tag.full.clz" max) - $(v "$W/$tag.full.clz" min)")
    T=$(v "$k0" rmse_target)
    E0=$(v "$k0" max_abs_error_bound)
    cells="$(calc "'%.1f' % $(v "$k0" ratio)"), $(calc "'%.3f' % (100 * $(v "$k0" errors.rmse) / $R)"), $(calc "'%.3g' % $E0")"
    for K in $LEVELS; do
        best=""
        for j in -4 -2 0 1 2 3 4 6 8 10 12 16; do
            E=$(calc "repr($E0 * 2 ** ($j / 16))")
            "$CLIMZ" compress --threads 1 --codec vaeformer --opt fallback=0 --opt step="$K" --max-abs-error "$E" \
                "$W/$tag.held.nc" -o "$W/$tag.lv.clz" >/dev/null
            e=$(v "$W/$tag.lv.clz" errors.rmse)
            if [ "$(calc "int($e <= $T)")" = 1 ]; then
                best="$(calc "'%.1f' % $(v "$W/$tag.lv.clz" ratio)"), $(calc "'%.3f' % (100 * $e / $R)"), $(calc "'%.3g' % $E")"
            else
                break
            fi
        done
        cells="$cells | ${best:-none meets}"
    done
    echo "| $label | $cells |"
done
