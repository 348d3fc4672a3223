#!/bin/sh
# run.sh — the downstream forecasting experiment of issue 21, one command:
#
#   sh bench/downstream/run.sh [BUILD_DIR] [WORK_DIR]
#
# BUILD_DIR (default build/) holds climz and bench/bench_forecast (a Release build);
# WORK_DIR (default BUILD_DIR/downstream-work) gets the training sets; DATA_DIR (environment,
# default ../shared/data beside the repository) holds era5-2mt-2019-03-uk-days01-21.grib.
# SEEDS (default 5) forecasters per training set; FT_STEPS (default 3000) phase-2 steps of the
# model fine-tuned on the training days (made once, then reused from WORK_DIR); MODEL (default
# the bundled models/climz-default.safetensors) the VAEformer model of the vaeformer sets.
#
# Hourly ERA5 2 m temperature over the UK, 504 steps of 33 x 49: the forecaster
# (bench/downstream/forecaster.h) trains on days 1-17 (steps 0..407) of each training set and
# is evaluated on days 18-21 (steps 408..503) of the ORIGINAL file. Training sets:
#   original            the file as it is
#   vaeformer           climz --codec vaeformer, the bundled model
#   vaeformer-ft        climz --codec vaeformer, the bundled model fine-tuned on the training
#                       days at lambda 2e-4 (a higher-ratio operating point)
#   vaeformer-ft@step-3 the same model at the finer rate level -3 (--opt step=-3: quantiser
#                       step 2^(-3/8)), the finest level whose file is still >= 100x
#   residual-1%         climz --codec residual --rel-error 0.01
#   zfp@vaeformer       zfp fixed rate, the rate bisected to the RMSE of `vaeformer`
#   zfp@vaeformer-ft    zfp fixed rate at the RMSE of `vaeformer-ft`
#   zfp@vaeformer-ft@step-3  zfp fixed rate at the RMSE of `vaeformer-ft@step-3`
# Writes bench/downstream/results.tsv (every figure), results.md (the table) and
# rmse_vs_lead.png (the chart).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=$(cd "${1:-$ROOT/build}" && pwd)
W=${2:-$B/downstream-work}
D=${DATA_DIR:-$ROOT/../shared/data}
SEEDS=${SEEDS:-5}
FT_STEPS=${FT_STEPS:-3000}
FT_LAMBDA=0.0002
MODEL=$(realpath "${MODEL:-$ROOT/models/climz-default.safetensors}")
FT=ft_$(basename "$MODEL" .safetensors)_lambda$FT_LAMBDA.safetensors
ERA5=$D/era5-2mt-2019-03-uk-days01-21.grib
CLIMZ=$B/climz
FC=$B/bench/bench_forecast
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
for f in "$ERA5" "$CLIMZ" "$FC"; do
    [ -e "$f" ] || { echo "run.sh: $f not found" >&2; exit 1; }
done
command -v zfp >/dev/null || { echo "run.sh: needs the zfp command (Debian package zfp)" >&2; exit 1; }
command -v grib_copy >/dev/null || { echo "run.sh: needs grib_copy (libeccodes-tools)" >&2; exit 1; }
mkdir -p "$W"
cd "$W"

# ---- the split: days 1-17 train, days 18-21 test --------------------------------------------
NT=408 NY=33 NX=49
RAW_BYTES=$((NT * NY * NX * 4))
DAYS=$(seq -f 201903%02g 1 17 | paste -sd/)
[ -s train.grib ] || grib_copy -w dataDate="$DAYS" "$ERA5" train.grib
REF=train.grib
TEST="$ERA5@408:503"
"$FC" --dump "$REF" -o train.f32

: > sets.tsv # label, bytes, description
add_set() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> sets.tsv; }
size() { stat -c %s "$1"; }

# ---- climz -----------------------------------------------------------------------------------
"$CLIMZ" compress --threads 1 --codec vaeformer --model "$MODEL" "$REF" -o vae.clz
"$CLIMZ" decompress vae.clz -o vae.nc
add_set vaeformer "$(size vae.clz)" "climz vaeformer, $(basename "$MODEL")"

if [ ! -s "$FT" ]; then
    echo "fine-tuning $MODEL on the training days, lambda $FT_LAMBDA, $FT_STEPS steps" >&2
    "$CLIMZ" finetune --threads 1 --model "$MODEL" --data "$REF" \
        --train-times 0:-2 --val-times -1:-1 --lambda "$FT_LAMBDA" --unfreeze-encoder --lr 2e-4 \
        --warmup 50 --steps "$FT_STEPS" --seed 2 --val-every 1000 --log-every 500 \
        -o "$FT" >&2
fi
"$CLIMZ" compress --threads 1 --codec vaeformer --model "$FT" "$REF" -o vae_ft.clz
"$CLIMZ" decompress vae_ft.clz -o vae_ft.nc
add_set vaeformer-ft "$(size vae_ft.clz)" "climz vaeformer, fine-tuned on days 1-17 (lambda $FT_LAMBDA)"
"$CLIMZ" compress --threads 1 --codec vaeformer --model "$FT" --opt step=-3 "$REF" \
    -o vae_ft_s3.clz
"$CLIMZ" decompress vae_ft_s3.clz -o vae_ft_s3.nc
add_set vaeformer-ft@step-3 "$(size vae_ft_s3.clz)" "the same at rate level -3 (--opt step=-3)"

"$CLIMZ" compress --threads 1 --codec residual --rel-error 0.01 "$REF" -o res.clz
"$CLIMZ" decompress res.clz -o res.nc
add_set residual-1% "$(size res.clz)" "climz residual, max error 1 % of the range"

# ---- zfp, fixed rate bisected to a target RMSE -----------------------------------------------
rmse_of() { "$FC" --ref "$REF" --train "$1" --rmse-only | cut -f3; }
zfp_at() { # zfp_at TARGET_RMSE OUT_PREFIX: bisects the rate (bits/value) in log space
    lo=0.05 hi=16 i=0
    while [ $i -lt 14 ]; do
        r=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.5f", sqrt(a * b) }')
        zfp -f -3 $NX $NY $NT -r "$r" -i train.f32 -z "$2.zfp" -o "$2.f32" >/dev/null 2>&1
        e=$(rmse_of "raw:$2.f32")
        if awk -v e="$e" -v t="$1" 'BEGIN { exit !(e > t) }'; then lo=$r; else hi=$r; fi
        i=$((i + 1))
    done
    # the last rate whose RMSE is at most the target
    zfp -f -3 $NX $NY $NT -r "$hi" -i train.f32 -z "$2.zfp" -o "$2.f32" >/dev/null 2>&1
    echo "zfp rate $hi bits/value: RMSE $(rmse_of "raw:$2.f32") (target $1)" >&2
    ZFP_RATE=$hi
}
zfp_at "$(rmse_of vae.nc)" zfp_vae
add_set zfp@vaeformer "$(size zfp_vae.zfp)" "zfp -r $ZFP_RATE (3-D), RMSE of vaeformer"
zfp_at "$(rmse_of vae_ft.nc)" zfp_vae_ft
add_set zfp@vaeformer-ft "$(size zfp_vae_ft.zfp)" "zfp -r $ZFP_RATE (3-D), RMSE of vaeformer-ft"
zfp_at "$(rmse_of vae_ft_s3.nc)" zfp_vae_ft_s3
add_set zfp@vaeformer-ft@step-3 "$(size zfp_vae_ft_s3.zfp)" "zfp -r $ZFP_RATE (3-D), RMSE of vaeformer-ft@step-3"

# ---- forecasters -----------------------------------------------------------------------------
OUT=$HERE/results.tsv
printf 'raw_bytes\t%s\n' "$RAW_BYTES" > "$OUT"
awk -F'\t' '{ print "set\t" $0 }' sets.tsv >> "$OUT"
"$FC" --ref "$REF" --test "$TEST" --seeds "$SEEDS" --label original >> "$OUT"
for s in vaeformer:vae.nc vaeformer-ft:vae_ft.nc vaeformer-ft@step-3:vae_ft_s3.nc residual-1%:res.nc \
         zfp@vaeformer:raw:zfp_vae.f32 zfp@vaeformer-ft:raw:zfp_vae_ft.f32 \
         zfp@vaeformer-ft@step-3:raw:zfp_vae_ft_s3.f32; do
    label=${s%%:*} src=${s#*:}
    echo "training on $label" >&2
    "$FC" --ref "$REF" --train "$src" --test "$TEST" --seeds "$SEEDS" --label "$label" \
        | grep -v '^persistence' >> "$OUT"
done
/usr/bin/python3 "$HERE/make_report.py" "$OUT" "$HERE/results.md" "$HERE/rmse_vs_lead.png"
cat "$HERE/results.md"
