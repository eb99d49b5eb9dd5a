#!/usr/bin/env bash
# A CUDA training burst on the lent GPU machine: continues the chain from the weights .gpu/init.path names
# for MINUTES minutes (bf16, channels-last, 224-px crops, batch 96), then writes the weights
# (fp16 safetensors + sha256; the run's moving average of its weights, --ema) and the training
# log to $OUT, then runs scripts/gpu_check.sh. The colour-distribution head trains with the network
# (--class-weight 1.0; it starts new where the init weights lack one): the joint training issue 16
# asks for is what a GPU is for.
# Prepare with scripts/gpu_prepare.sh; bring the result back into the chain with
#   python scripts/train.py --out runs/sN --init <returned safetensors> ...
#
#   bash scripts/gpu_burst.sh [MINUTES]
set -uo pipefail
minutes=${1:-8}
out=${OUT:-/tmp/out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 scripts/train.py --device cuda --data .gpu/train --val .gpu/val --out /tmp/burst \
  --init "$(cat .gpu/init.path)" --crop 224 --batch 96 --images 10000000 --lr 0.0002 \
  --warmup-steps 50 --semantic-weight 2.0 --rebalance-power 0.7 --neutral-floor 1.0 --class-weight 1.0 --class-rebalance-power 1.0 --val-every 250 \
  --checkpoint-minutes 2 --minutes "$minutes" --seed 8 --ema 0.998 2>&1 | tail -n 40 | tee "$out/train.txt"
python3 scripts/train.py --out /tmp/burst --export "$out/burst.safetensors" | tee -a "$out/train.txt"
cp /tmp/burst/log.jsonl "$out/log.jsonl"
bash scripts/gpu_check.sh 2>&1 | tee "$out/check.txt"
