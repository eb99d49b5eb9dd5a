"""Make the int8 model of the shipped weights, and measure it against fp32.

Calibrates on training photos (every Nth of ``../shared/data/train``, each alone and with a
shifted true prior, through the pipeline's own frame path so the network sees the inputs it
will see), quantizes with ONNX Runtime's tools (:mod:`vidcolor.lab.quantize`), then compares it
with the fp32 model on other training photos: mean |Δab| and milliseconds per 224x224 window.

Example::

    python scripts/quantize_int8.py     # -> vidcolor/model_files/vidcolor-lite0.int8.onnx
    python scripts/quantize_int8.py --out /tmp/x.onnx --float-layers /_conv_stem/ /out/
    python scripts/quantize_int8.py --out /tmp/x.onnx --time-also old.int8.onnx

Needs the ``export`` extra (the ``onnx`` package) and the training photos.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import TileConfig
from vidcolor.lab.quantize import FLOAT_PREFIXES, Recorder, photo_lumas, quantize_int8
from vidcolor.lab.training_data import list_images
from vidcolor.weights import MODEL_NAMES, models_dir, sha256_of, shipped_model, verify_weights

DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class _File:
    """A backend running one ONNX file (to compare two without the shipped-file lookup)."""

    name = "onnx"

    def __init__(self, path: Path, precision: str) -> None:
        self.session, self.precision = _session(path), precision

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        return self.session.run(["ab"], {"lum": lum.astype(np.float32),
                                         "prior": prior.astype(np.float32)})[0]


def _chroma(backend, items) -> list[np.ndarray]:
    colorizer = FrameColorizer(backend, TileConfig())
    return [colorizer.predict_ab(luma, prior) for luma, prior in items]


def _ms_per_window(backend, batch: int = 8, repeats: int = 12) -> float:
    lum = np.random.default_rng(0).uniform(0, 100, (batch, 1, 224, 224)).astype(np.float32)
    prior = np.zeros((batch, 3, 224, 224), np.float32)
    backend.predict(lum, prior)
    start = time.perf_counter()
    for _ in range(repeats):
        backend.predict(lum, prior)
    return (time.perf_counter() - start) / repeats / batch * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_TRAIN, help="calibration photos")
    p.add_argument("--calibration", type=int, default=32, help="photos to calibrate on (32)")
    p.add_argument("--held-out", type=int, default=40, help="other photos to compare on (40)")
    p.add_argument("--model", choices=MODEL_NAMES, default="photo",
                   help="the shipped model to quantize (animation: calibrate with --data "
                        "runs/anim/train)")
    p.add_argument("--out", type=Path, help="default: the model's shipped int8 file")
    p.add_argument("--float-layers", nargs="*", default=list(FLOAT_PREFIXES), metavar="PREFIX",
                   help="node-name prefixes of the convolutions to keep in float")
    p.add_argument("--time-also", type=Path, nargs="*", default=[], metavar="ONNX",
                   help="other ONNX files (an earlier int8 model, say) timed in the same run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    weights = verify_weights(None, args.model)
    fp32 = models_dir() / shipped_model(args.model).onnx_name
    args.out = args.out or models_dir() / shipped_model(args.model).int8_name
    reference = create_backend("onnx", weights.load, "cpu", weights.digest, precision="fp32")
    if reference.path != fp32:
        raise SystemExit(f"{fp32} does not match the shipped weights: run scripts/export_onnx.py")
    photos = list_images(args.data)
    if len(photos) < 2 * (args.calibration + args.held_out):
        raise SystemExit(f"too few photos in {args.data}")
    step = len(photos) // args.calibration
    calibration = photos[::step][: args.calibration]
    held_out = photos[step // 2 :: len(photos) // args.held_out][: args.held_out]
    recorder = Recorder(reference)
    _chroma(recorder, photo_lumas(calibration))
    start = time.perf_counter()
    nodes = quantize_int8(fp32, args.out, recorder.inputs, tuple(args.float_layers))
    built = time.perf_counter() - start
    int8 = _File(args.out, "int8")
    items = photo_lumas(held_out, seed=1)
    ref, got = _chroma(reference, items), _chroma(int8, items)
    diff = [float(np.abs(a - b).mean()) for a, b in zip(ref, got, strict=True)]
    size = float(np.mean([np.abs(a).mean() for a in ref]))
    print(f"{args.out}  sha256 {sha256_of(args.out)}  ({len(nodes)} nodes int8, "
          f"{len(recorder.inputs)} calibration inputs, {built:.0f} s)\n")
    print("| held-out training photos | mean abs ab, fp32 | mean abs diff ab, int8 vs fp32 |")
    print("| --- | ---: | ---: |")
    print(f"| {len(held_out)} alone | {size:.2f} | {np.mean(diff[0::2]):.3f} |")
    print(f"| {len(held_out)} with a shifted true prior | | {np.mean(diff[1::2]):.3f} |\n")
    fp32_ms, int8_ms = _ms_per_window(reference), _ms_per_window(int8)
    print(f"network per 224x224 window (batch 8): fp32 {fp32_ms:.2f} ms, int8 {int8_ms:.2f} ms "
          f"({fp32_ms / int8_ms:.2f}x)")
    for other in args.time_also:
        ms = _ms_per_window(_File(other, "int8"))
        print(f"{other}: {ms:.2f} ms per window (this int8 model: {int8_ms / ms:.2f}x that)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
