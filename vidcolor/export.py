"""Export the colorizer to ONNX (dynamic batch, height and width) and cache the result."""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from pathlib import Path

import torch

log = logging.getLogger(__name__)

OPSET = 17
SHIPPED_ONNX = "vidcolor-lite0.onnx"


class ExportUnavailable(RuntimeError):
    """The ONNX model would have to be built, but the ``onnx`` package is not installed."""


def export_onnx(model: torch.nn.Module, path: Path, weights_digest: str = "") -> None:
    """Write ``model`` as ONNX with inputs ``lum`` (B,1,H,W), ``prior`` (B,3,H,W), output ``ab``.

    Batch, height and width are dynamic (H and W must be multiples of 32 at run time). The file
    is written under a temporary name and renamed, so a crash never leaves a half file;
    ``weights_digest`` is stored in its metadata (``weights_sha256``).

    Raises:
        ExportUnavailable: the ``onnx`` package (the ``export`` extra) is missing.
    """
    try:
        import onnx
    except ImportError as e:
        raise ExportUnavailable("the onnx package is not installed") from e
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
    proto = onnx.load(str(tmp))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "weights_sha256", weights_digest
    onnx.save(proto, str(tmp))
    tmp.replace(path)


def cache_dir() -> Path:
    """Where built ONNX files live: ``$VIDCOLOR_CACHE`` or ``~/.cache/vidcolor``."""
    env = os.environ.get("VIDCOLOR_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidcolor"


def onnx_digest(path: Path) -> str:
    """The ``weights_sha256`` an ONNX file was built from ('' when absent or unreadable)."""
    import onnxruntime as ort

    try:
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception:
        return ""
    return meta.custom_metadata_map.get("weights_sha256", "")


def cached_onnx(model: torch.nn.Module, weights_digest: str) -> Path:
    """The ONNX file for weights ``weights_digest``: shipped in ``models/``, or built once.

    The shipped file is used only when its recorded ``weights_sha256`` matches. Otherwise the
    file is built into :func:`cache_dir` under a name that carries the digest, so changed
    weights never meet a stale file.

    Raises:
        ExportUnavailable: it must be built and the ``onnx`` package is missing.
    """
    from vidcolor.weights import models_dir

    shipped = models_dir() / SHIPPED_ONNX
    if shipped.exists() and onnx_digest(shipped) == weights_digest:
        return shipped
    path = cache_dir() / f"colorizer-{weights_digest[:16]}-op{OPSET}.onnx"
    if not path.exists():
        if importlib.util.find_spec("onnx") is None:
            raise ExportUnavailable("the onnx package is not installed")
        log.info("building the ONNX model once (cached in %s)", path.parent)
        export_onnx(model, path, weights_digest)
    return path
