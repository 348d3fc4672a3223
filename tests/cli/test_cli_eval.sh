#!/bin/bash
# test_cli_eval.sh — the science-fidelity figures of `climz eval` (issue 21, doc/metrics.md) on
# bundled samples: every key is there in --json and in the text table, an original against
# itself gives the perfect values, a decoded file sensible ones (tail ordered, the maximum
# equal to max_abs_error, periodic rows on a global grid, non-periodic on the UK grid), and a
# masked grid says how many rows it used. Reads the JSON with python3 (skips, 77, without it).
d=$(dirname "$0")
. "$d/clitest.sh"
[ -x /usr/bin/python3 ] || { echo "no /usr/bin/python3"; exit 77; }

# check_json DESCRIPTION FILE PYTHON_EXPR: the expression (over v = variables[0], z = its
# zonal spectrum, t = its error tail, and d = the whole document) must be true
check_json() {
    local what=$1 f=$2 expr=$3
    if /usr/bin/python3 - "$f" "$expr" <<'PY'; then ok; else bad "$what: $3"; fi
import json, sys
d = json.load(open(sys.argv[1]))
v = d["variables"][0]
z, t = v.get("zonal_spectrum", {}), v.get("abs_error_tail", {})
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

keys='all(k in v for k in ("bias","abs_error_tail","correlation","ssim","zonal_spectrum","sedi","rqe")) and all(k in t for k in ("p99.9","p99.99","max","fraction_beyond_5rmse")) and all(k in z for k in ("rows","rows_used","rows_skipped_missing","max_abs_log_ratio","k_ratio_below_0.9","energy_ratio","latitude_weighted"))'

# the original against itself: ratio 1 at every wavenumber, SSIM 1, correlation 1, bias 0
check "eval hgt itself" "$CLIMZ" eval --json --ref "$DATA/hgt.nc" "$DATA/hgt.nc"
cp "$OUT/last.out" "$OUT/self.json"
check_json "self keys" "$OUT/self.json" "$keys"
check_json "self perfect" "$OUT/self.json" 'v["bias"] == 0 and v["ssim"]["mean"] == 1 and v["ssim"]["min"] == 1 and v["correlation"]["mean"] == 1 and t["max"] == 0 and t["p99.99"] == 0 and t["fraction_beyond_5rmse"] == 0'
check_json "self spectrum" "$OUT/self.json" 'z["rows"].startswith("periodic") and z["max_abs_log_ratio"] == 0 and z["k_ratio_below_0.9"] is None and all(r == 1 for r in z["energy_ratio"] if r is not None) and len(z["energy_ratio"]) == v["shape"][3] // 2 + 1 and z["rows_used"] == v["shape"][0] * v["shape"][1] * v["shape"][2]'

# a decoded file (residual codec, 1 % of the range): the tail is ordered and ends at max_abs_error
check "compress hgt" "$CLIMZ" compress --codec residual --rel-error 1e-2 "$DATA/hgt.nc" -o "$OUT/hgt.clz"
check "eval hgt" "$CLIMZ" eval --json --ref "$DATA/hgt.nc" "$OUT/hgt.clz"
cp "$OUT/last.out" "$OUT/hgt.json"
check_json "hgt keys" "$OUT/hgt.json" "$keys"
check_json "hgt tail" "$OUT/hgt.json" '0 < t["p99.9"] <= t["p99.99"] <= t["max"] == v["max_abs_error"] and 0 <= t["fraction_beyond_5rmse"] < 0.01'
check_json "hgt similarity" "$OUT/hgt.json" '0.9 < v["ssim"]["min"] <= v["ssim"]["mean"] < 1 and 0.99 < v["correlation"]["mean"] < 1 and v["ssim"]["n_fields"] == v["shape"][0] * v["shape"][1] and abs(v["bias"]) < v["rmse"]'
check_json "hgt spectrum" "$OUT/hgt.json" 'z["rows"].startswith("periodic") and z["max_abs_log_ratio"] > 0 and z["resolved_wavenumbers"] > 0 and abs(z["energy_ratio"][1] - 1) < 0.01'

# a limited-area grid (ERA5 over the UK): non-periodic rows, said in both outputs
check "compress era5" "$CLIMZ" compress --codec residual --rel-error 1e-2 "$DATA/era5-2mt-2019-03-01-02-uk.grib" -o "$OUT/uk.clz"
check "eval era5" "$CLIMZ" eval --json --ref "$DATA/era5-2mt-2019-03-01-02-uk.grib" "$OUT/uk.clz"
cp "$OUT/last.out" "$OUT/uk.json"
check_json "era5 non-periodic" "$OUT/uk.json" 'z["rows"].startswith("non-periodic") and z["rows_used"] > 0 and z["max_abs_log_ratio"] is not None'
check "eval era5 text" "$CLIMZ" eval --ref "$DATA/era5-2mt-2019-03-01-02-uk.grib" "$OUT/uk.clz"
grep -q "non-periodic (detrended, Hann window)" "$OUT/last.out" && grep -q "SSIM" "$OUT/last.out" && grep -q "p99.99|e|" "$OUT/last.out" && ok || bad "eval text lacks the fidelity table"

# a masked grid (every row has a missing point): no spectrum, and it says why
check "eval bcsd itself" "$CLIMZ" eval --json --ref "$DATA/bcsd_obs_1999.nc" "$DATA/bcsd_obs_1999.nc"
cp "$OUT/last.out" "$OUT/bcsd.json"
check_json "bcsd rows" "$OUT/bcsd.json" 'z["rows_used"] == 0 and z["rows_skipped_missing"] > 0 and z.get("max_abs_log_ratio") is None and v["ssim"]["n_fields"] >= 0'
finish
