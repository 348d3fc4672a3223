#!/bin/sh
# train_per_set.sh — the models fine-tuned on one data set's own training steps, the way CRA5
# trains one model for ERA5 (bench/vae/RESULTS.md, "Models of one data set").
#
#   sh bench/vae/train_per_set.sh BUILD_DIR WORK_DIR
#
# WORK_DIR: the folder of models/train_default.sh (its training subsets) holding the
# benchmark's 10000-step variants long10000_lambda*.safetensors (bench/vae/RESULTS.md). Each
# model continues a variant for 5000 phase-2 steps on one data set (~4.5 min, one thread).
set -eu
B=$(cd "$1" && pwd)
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
for lam in 0.00025 0.0003; do set_model era5 $lam $lam era5_train.grib; done
