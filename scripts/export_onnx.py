"""Export weights to ONNX (dynamic batch/height/width), e.g. the shipped ones.

Example::

    python scripts/export_onnx.py     # shipped weights -> vidcolor/model_files/vidcolor-lite0.onnx
    python scripts/export_onnx.py --model animation   # -> vidcolor/model_files/vidcolor-anim1.onnx
    python scripts/export_onnx.py --weights w.safetensors --out w.onnx

Needs the ``export`` extra (``pip install -e ".[export]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.export import export_onnx
from vidcolor.weights import MODEL_NAMES, models_dir, sha256_of, shipped_model, verify_weights


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", choices=MODEL_NAMES, default="photo",
                   help="the shipped model whose weights (and ONNX file name) to use")
    p.add_argument("--weights", type=Path, help="safetensors weights (default: the model's)")
    p.add_argument("--out", type=Path, help="default: the model's shipped ONNX file")
    args = p.parse_args(argv)
    weights = verify_weights(args.weights, args.model)
    out = args.out or models_dir() / shipped_model(args.model).onnx_name
    export_onnx(weights.load(), out, weights.digest)
    print(f"{out}  sha256 {sha256_of(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
