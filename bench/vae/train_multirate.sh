#!/bin/sh
# train_multirate.sh — a multi-rate variant of the bundled model (issue 22, part 1): the
# bundled lambda-3e-3 model fine-tuned with a rate level drawn per step over KMIN:KMAX
# (`climz finetune --rate-levels`, src/vae/vae_train.c), so that one file serves
# `--rel-rmse` / `--rmse` / `--ratio` targets. Measured with rate_sweep.py (bench/RESULTS.md,
# "Issue 22, part 1").
#
#   sh bench/vae/train_multirate.sh BUILD_DIR OUT.safetensors [STEPS [LEVELS [DATA_DIR]]]
#   GAINS=1 [GAIN_LR=X] sh bench/vae/train_multirate.sh ...   # the gained variant: per-channel
#                                     rate gains trained with the levels (--rate-gains, --gain-lr)
#
# The data are those of models/train_default.sh, its training subsets given as per-spec time
# ranges (@A:B/C:D: trains on A..B, validates on C..D; the held-out steps of bench/vae are
# outside both) instead of files cut with ncks; ERA5 2 m temperature trains on every hour of
# days 1-17 (steps 0..407; the bundled model saw the 68 six-hourly fields of those days).
set -eu
B=$(cd "$1" && pwd)
OUT=$2
STEPS=${3:-3000}
LEVELS=${4:--8:24}
D=$(cd "${5:-$(dirname "$0")/../../../shared/data}" && pwd)
M=$(cd "$(dirname "$0")/../../models" && pwd)
GAIN_OPTS=""
if [ "${GAINS:-0}" = 1 ]; then GAIN_OPTS="--rate-gains${GAIN_LR:+ --gain-lr $GAIN_LR}"; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
"$B/climz" finetune --threads 1 --model "$M/climz-default.safetensors" \
    --data "$D/monthly_navy_winds.cdf:UWND,VWND@0:106/107:107" --data "$D/hgt.nc:HGT@0:15/16:16" \
    --data "$D/fice.nc:fice@0:106/107:107" --data "$D/era5-2mt-2019-03-uk-days01-21.grib:2t@0:406/407:407" \
    --data "$D/tas_rectilinear_grid_2D.nc:tas@0:7/8:8" --data "$D/uas_rectilinear_grid_2D.nc:uas@0:7/8:8" \
    --data "$D/vas_rectilinear_grid_2D.nc:vas@0:7/8:8" --data "$D/test_stageiv_xyt.nc@0:17/18:18" \
    --data "$D/etopo20.cdf:ROSE" --data "$D/coads_climatology.cdf:SST,AIRT,SLP@0:10/11:11" \
    --data "$D/vinth2p.nc:T" \
    --lambda 0.003 --rate-levels "$LEVELS" --unfreeze-encoder --lr 2e-4 --warmup 50 --steps "$STEPS" --seed 2 \
    --val-every 1000 --log-every 100 $GAIN_OPTS -o "$OUT"
