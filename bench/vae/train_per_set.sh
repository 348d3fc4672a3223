#!/bin/sh
# train_per_set.sh — the models fine-tuned on one data set's own training steps, the way CRA5
# trains one model for ERA5 (bench/vae/RESULTS.md, "Models of one data set").
#
#   sh bench/vae/train_per_set.sh BUILD_DIR WORK_DIR [DATA_DIR]
#
# WORK_DIR: the folder of models/train_default.sh (its training subsets) holding the
# benchmark's 10000-step variants long10000_lambda*.safetensors (bench/vae/RESULTS.md). Each
# model continues a variant for 5000 phase-2 steps on one data set (~4.5 min, one thread).
# DATA_DIR (default ../shared/data) holds the ERA5 file, whose model trains on every hour.
set -eu
B=$(cd "$1" && pwd)
D=$(cd "${3:-$(dirname "$0")/../../../shared/data}" && pwd)
cd "$2"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# set_model NAME FROM_LAMBDA LAMBDA DATA: set_NAME_LAMBDA.safetensors from long10000_lambdaFROM_LAMBDA
set_model() {
    "$B/climz" finetune --threads 1 --model "long10000_lambda$2.safetensors" --data "$4" \
        --train-times 0:-2 --val-times -1:-1 --lambda "$3" --unfreeze-encoder --lr 2e-4 --warmup 50 \
        --steps 5000 --seed 2 --val-every 1000 --log-every 1000 -o "set_$1_$3.safetensors"
}

for lam in 0.0012 0.0018; do set_model hgt $lam $lam hgt_train.nc:HGT; done
set_model navy 0.0003 0.0004 navy_train.nc:UWND,VWND
set_model navy 0.0005 0.0005 navy_train.nc:UWND,VWND
for lam in 0.001 0.0012 0.0015 0.0018; do set_model tas $lam $lam tas_train.nc:tas; done
# ERA5 2 m temperature: all 408 hours of days 1-17 (the general models saw 68 six-hourly fields;
# the model of the set trained on those 68 gained nothing, on the 408 it gains)
grib_copy -w dataDate=20190301/20190302/20190303/20190304/20190305/20190306/20190307/20190308/20190309/20190310/20190311/20190312/20190313/20190314/20190315/20190316/20190317 \
    "$D/era5-2mt-2019-03-uk-days01-21.grib" era5_hourly_train.grib
for lam in 0.00025 0.0003; do set_model era5 $lam $lam era5_hourly_train.grib; done
set_model era5 0.0002 0.0002 era5_hourly_train.grib
set_model era5 0.0002 0.00015 era5_hourly_train.grib
