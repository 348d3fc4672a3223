#!/bin/sh
# train_multirate.sh — the last stage of the bundled model (models/README.md) and its variants
# measured in bench/RESULTS.md (issue 22, part 1): the previous bundled lambda-3e-3 model
# (climz-default-7d5522d5.safetensors) fine-tuned with a rate level drawn per step over
# KMIN:KMAX (`climz finetune --rate-levels`, src/vae/vae_train.c), so that one file serves
# `--rel-rmse` / `--rmse` / `--ratio` targets.
#
#   sh models/train_multirate.sh BUILD_DIR OUT.safetensors [STEPS [LEVELS [DATA_DIR]]]
#   GAINS=1 [GAIN_LR=X] sh models/train_multirate.sh ...   # with per-channel rate gains trained
#                                     with the levels (--rate-gains, --gain-lr)
#   GAINS=1 GAIN_LR=1e-2 sh models/train_multirate.sh BUILD_DIR climz-default.safetensors 3000 -8:24
#                                     # the bundled model (~4 min on one core)
#   FROM=MODEL sh models/train_multirate.sh ...   # start from MODEL (train_default.sh: its own
#                                     copy of the previous bundled model)
#
# The data are those of models/train_default.sh, its training subsets given as per-spec time
# ranges (@A:B/C:D: trains on A..B, validates on C..D; the held-out steps of bench/vae are
# outside both) instead of files cut with ncks; ERA5 2 m temperature trains on every hour of
# days 1-17 (steps 0..406, step 407 validates; the earlier stages saw the 68 six-hourly fields of those days).
set -eu
B=$(cd "$1" && pwd)
OUT=$2
STEPS=${3:-3000}
LEVELS=${4:--8:24}
D=$(cd "${5:-$(dirname "$0")/../../shared/data}" && pwd)
M=$(cd "$(dirname "$0")" && pwd)
FROM=${FROM:-$M/climz-default-7d5522d5.safetensors}
GAIN_OPTS=""
if [ "${GAINS:-0}" = 1 ]; then GAIN_OPTS="--rate-gains${GAIN_LR:+ --gain-lr $GAIN_LR}"; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
"$B/climz" finetune --threads 1 --model "$FROM" \
    --data "$D/monthly_navy_winds.cdf:UWND,VWND@0:106/107:107" --data "$D/hgt.nc:HGT@0:15/16:16" \
    --data "$D/fice.nc:fice@0:106/107:107" --data "$D/era5-2mt-2019-03-uk-days01-21.grib:2t@0:406/407:407" \
    --data "$D/tas_rectilinear_grid_2D.nc:tas@0:7/8:8" --data "$D/uas_rectilinear_grid_2D.nc:uas@0:7/8:8" \
    --data "$D/vas_rectilinear_grid_2D.nc:vas@0:7/8:8" --data "$D/test_stageiv_xyt.nc@0:17/18:18" \
    --data "$D/etopo20.cdf:ROSE" --data "$D/coads_climatology.cdf:SST,AIRT,SLP@0:10/11:11" \
    --data "$D/vinth2p.nc:T" \
    --lambda 0.003 --rate-levels "$LEVELS" --unfreeze-encoder --lr 2e-4 --warmup 50 --steps "$STEPS" --seed 2 \
    --val-every 1000 --log-every 100 $GAIN_OPTS -o "$OUT"
