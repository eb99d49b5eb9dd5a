#!/usr/bin/env bash
# The checks that need a CUDA GPU: the gpu-marked tests and a CUDA render of the sample.
# Run on the lent device machine (see scripts/gpu_burst.sh), after the .whl wheels are on
# PYTHONPATH. Prints what it ran and each result; exits non-zero if a check failed.
set -uo pipefail
status=0
python3 - <<'PY' || status=1
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0))
from vidcolor.weights import load_colorizer
model = load_colorizer().cuda().eval()
x = torch.rand(8, 1, 224, 224, device="cuda") * 100
with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
    y = model(x, torch.zeros(8, 3, 224, 224, device="cuda"))
print("forward ok", tuple(y.shape), float(y.float().abs().mean()))
PY
if python3 -c "import av, onnxruntime" 2>/dev/null; then
  python3 -m pytest -q -m gpu tests || status=1
else
  echo "PyAV or onnxruntime missing there: gpu-marked tests skipped (carry their wheels)"
fi
exit $status
