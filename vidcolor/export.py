"""Export the colorizer to ONNX (dynamic batch, height and width) and cache the result."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch

log = logging.getLogger(__name__)

OPSET = 17


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    """Write ``model`` as ONNX with inputs ``lum`` (B,1,H,W), ``prior`` (B,3,H,W), output ``ab``.

    Batch, height and width are dynamic (H and W must be multiples of 32 at run time). The file
    is written under a temporary name and renamed, so a crash never leaves a half file.
    """
    model = model.eval().float().cpu()
    lum = torch.rand(2, 1, 64, 96) * 100
    prior = torch.zeros(2, 3, 64, 96)
    axes = {0: "batch", 2: "height", 3: "width"}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about Python-side shape arithmetic
        torch.onnx.export(
            model,
            (lum, prior),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=["lum", "prior"],
            output_names=["ab"],
            dynamic_axes={"lum": axes, "prior": axes, "ab": axes},
        )
    tmp.replace(path)


def cache_dir() -> Path:
    """Where built ONNX files live: ``$VIDCOLOR_CACHE`` or ``~/.cache/vidcolor``."""
    env = os.environ.get("VIDCOLOR_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidcolor"


def cached_onnx(model: torch.nn.Module, weights_digest: str) -> Path:
    """The ONNX file for weights ``weights_digest``, built on first use.

    The file name carries the weights' sha256 (and the opset), so changed weights never meet a
    stale file.
    """
    path = cache_dir() / f"colorizer-{weights_digest[:16]}-op{OPSET}.onnx"
    if not path.exists():
        log.info("building the ONNX model once (cached in %s)", path.parent)
        export_onnx(model, path)
    return path
