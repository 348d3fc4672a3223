#!/bin/sh
# fidelity.sh — the science-fidelity figures of `climz eval` (issue 21, doc/metrics.md) for the
# VAEformer (bundled model) on every held-out set of bench/vae (models/README.md), without and
# with the residual stage (--rel-error, the bounded mode). Prints a markdown table.
#
#   sh bench/vae/fidelity.sh BUILD_DIR WORK_DIR [DATA_DIR] > fidelity.md
#
# Each set's held-out steps are cut out exactly: the variable is compressed losslessly
# (residual codec, E = 0) and decoded with --times, so every codec sees the same NetCDF file.
# Figures are over the held-out block; R is its range (eval's "range"). The ratio is eval's,
# from the whole .clz file (header and model hash included), so on the small sets it is below
# bench_vae's, which counts the codec's chunks. BOUNDS (default "0.01"): the --rel-error values.
set -eu
B=${1:?usage: fidelity.sh BUILD_DIR WORK_DIR [DATA_DIR]}
W=${2:?usage: fidelity.sh BUILD_DIR WORK_DIR [DATA_DIR]}
D=${3:-$(dirname "$0")/../../../shared/data}
BOUNDS=${BOUNDS:-0.01}
CLIMZ=$B/climz
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$W"

# label|file|variable|first:last held-out step (bench_vae.c's datasets[])
SETS="UWND|monthly_navy_winds.cdf|UWND|108:131
VWND|monthly_navy_winds.cdf|VWND|108:131
HGT|hgt.nc|HGT|17:20
ERA5 2t|era5-2mt-2019-03-uk-days01-21.grib|2t|408:503
tas|tas_rectilinear_grid_2D.nc|tas|9:11
fice|fice.nc|fice|108:119
model T|model.ctl|T|4:4"

row() { # row LABEL MODE EVAL_JSON: one table row
    /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import json, sys
label, mode, path = sys.argv[1:4]
d = json.load(open(path))
v = d["variables"][0]
t, z = v["abs_error_tail"], v["zonal_spectrum"]
R, rmse = v["range"], v["rmse"]
pc = lambda x: "%.3f" % (100.0 * x / R)
kb = z.get("k_ratio_below_0.9")
lr = z.get("max_abs_log_ratio")
spec = "-" if lr is None else "%.2f @ k=%d" % (lr, z["k_max_abs_log_ratio"])
rows = "periodic" if z["rows"].startswith("periodic") else "non-periodic"
print("| %s | %s | %.1f | %s | %s | %s | %s | %.1f | %.2e | %s | %.5f | %.6f | %s | %s | %s, %d rows |" % (
    label, mode, d["compression_ratio"], pc(rmse), pc(t["p99.9"]), pc(t["p99.99"]), pc(t["max"]),
    t["max"] / rmse, t["fraction_beyond_5rmse"], pc(v["bias"]), v["ssim"]["mean"],
    v["correlation"]["mean"], spec, "none" if kb is None else kb, rows, z["rows_used"]))
PY
}

echo "| data | residual stage | ratio | RMSE % R | p99.9 abs err % R | p99.99 % R | max % R | max / RMSE | > 5 RMSE | bias % R | SSIM | corr | max ln-ratio of zonal energy @ k | first k, energy < 0.9 | rows |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "$SETS" | while IFS='|' read -r label file var steps; do
    [ -e "$D/$file" ] || { echo "| $label | ($D/$file absent) |" ; continue; }
    tag=$(echo "$label" | tr -c 'A-Za-z0-9\n' '_')
    "$CLIMZ" compress --codec residual --max-abs-error 0 --var "$var" "$D/$file" -o "$W/$tag.full.clz" >/dev/null
    "$CLIMZ" decompress "$W/$tag.full.clz" -o "$W/$tag.held.nc" --times "$steps" >/dev/null
    "$CLIMZ" compress --codec vaeformer "$W/$tag.held.nc" -o "$W/$tag.vae.clz" >/dev/null
    "$CLIMZ" eval --json --ref "$W/$tag.held.nc" "$W/$tag.vae.clz" >"$W/$tag.vae.json"
    row "$label" "none" "$W/$tag.vae.json"
    for e in $BOUNDS; do
        "$CLIMZ" compress --codec vaeformer --rel-error "$e" "$W/$tag.held.nc" -o "$W/$tag.vae$e.clz" >/dev/null
        "$CLIMZ" eval --json --ref "$W/$tag.held.nc" "$W/$tag.vae$e.clz" >"$W/$tag.vae$e.json"
        row "$label" "E = $e R" "$W/$tag.vae$e.json"
    done
done
