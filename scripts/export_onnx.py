"""Export weights to ONNX (dynamic batch/height/width), e.g. the shipped ones.

Example::

    python scripts/export_onnx.py     # shipped weights -> vidcolor/model_files/vidcolor-lite0.onnx
    python scripts/export_onnx.py --weights w.safetensors --out w.onnx

Needs the ``export`` extra (``pip install -e ".[export]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.export import SHIPPED_ONNX, export_onnx
from vidcolor.weights import models_dir, sha256_of, verify_weights


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--weights", type=Path, help="safetensors weights (default: shipped)")
    p.add_argument("--out", type=Path, default=models_dir() / SHIPPED_ONNX)
    args = p.parse_args(argv)
    weights = verify_weights(args.weights)
    export_onnx(weights.load(), args.out, weights.digest)
    print(f"{args.out}  sha256 {sha256_of(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
