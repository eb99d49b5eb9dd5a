#!/usr/bin/env bash
# The animation model's CUDA burst on the lent GPU machine: three fine-tunes of the animation
# weights INIT (default: the shipped ones) side by side on the one GPU (each its own process),
# MINUTES minutes each, bf16, 192-px crops, batch 64; validated in the loop on .gpu/tune (training
# pictures set aside, neither trained on nor the held-out evaluation set). Then each run's moving
# average of its weights is exported (fp16 safetensors) with its log to $OUT, and
# scripts/gpu_check.sh runs. The three differ only in how hard they push colour:
#   a: the recipe of vidcolor-anim0 (rebalance power 0.7)
#   b: a: plus the chroma-magnitude loss on too little colour (--colour-weight 0.5)
#   c: a: with rebalance power 1.0
# Prepare (here, on the CPU machine):
#   python scripts/gpu_pack_images.py --data runs/anim/train --out .gpu --budget-mib 36
#   (cd .gpu && python3 -m zipfile -c anim.zip train tune)   # one file: thousands travel slower
# and take the ONNX files and figures out of what travels (tracked, 47 MB) for the call.
#
#   [INIT=.gpu/init.safetensors] bash scripts/gpu_burst_animation.sh [MINUTES]
set -uo pipefail
minutes=${1:-6}
init=${INIT:-vidcolor/model_files/vidcolor-anim1.safetensors}  # the chain's weights
out=${OUT:-/tmp/out}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
mkdir -p /tmp/gpu && (cd /tmp/gpu && python3 -m zipfile -e "$OLDPWD/.gpu/anim.zip" .)
common=(--device cuda --init "$init" --data /tmp/gpu/train
        --val /tmp/gpu/tune --val-images 153 --crop 192 --batch 64 --images 100000000 --lr 0.0002
        --encoder-lr-scale 0.3 --warmup-steps 100 --neutral-floor 1.0 --ema 0.999
        --val-every 500 --checkpoint-minutes 2 --minutes "$minutes" --threads 4)
python3 scripts/train.py "${common[@]}" --out /tmp/a --rebalance-power 0.7 --seed 51 > /tmp/a.log 2>&1 &
python3 scripts/train.py "${common[@]}" --out /tmp/b --rebalance-power 0.7 --seed 52 \
  --colour-weight 0.5 --colour-under-only yes > /tmp/b.log 2>&1 &
python3 scripts/train.py "${common[@]}" --out /tmp/c --rebalance-power 1.0 --seed 53 > /tmp/c.log 2>&1 &
wait
for r in a b c; do
  python3 scripts/train.py --out /tmp/$r --export "$out/anim_$r.safetensors" >> /tmp/$r.log 2>&1
  grep -v "loading\|^\s*$" /tmp/$r.log | grep -E "step|val|sha256|Error|error" | tail -n 30 > "$out/anim_$r.txt"
  tail -n 5 /tmp/$r.log >> "$out/anim_$r.txt"
done
bash scripts/gpu_check.sh 2>&1 | tee "$out/check.txt"
