"""Export the colorizer to ONNX (dynamic batch, height and width), cache it, open it.

Only building the file needs torch (and the ``onnx`` package); finding and opening a matching
file does not, so the ONNX backend builds the torch network only when it must export it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidcolor.atomic import atomic_path

if TYPE_CHECKING:
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
    import torch

    model = model.eval().float().cpu()
    lum = torch.rand(2, 1, 64, 96) * 100
    prior = torch.zeros(2, 3, 64, 96)
    axes = {0: "batch", 2: "height", 3: "width"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, per_process=True) as tmp, warnings.catch_warnings():
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


def cache_dir() -> Path:
    """Where built ONNX files live: ``$VIDCOLOR_CACHE`` or ``~/.cache/vidcolor``."""
    env = os.environ.get("VIDCOLOR_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidcolor"


def cached_onnx_path(weights_digest: str) -> Path:
    """Where the ONNX file built from weights ``weights_digest`` is cached.

    The name carries the digest, so changed weights never meet a stale file.
    """
    return cache_dir() / f"colorizer-{weights_digest[:16]}-op{OPSET}.onnx"


def session_digest(session: Any) -> str:
    """The ``weights_sha256`` an open ONNX Runtime session's model was built from ('' if none)."""
    return session.get_modelmeta().custom_metadata_map.get("weights_sha256", "")


def onnx_digest(path: Path) -> str:
    """The ``weights_sha256`` an ONNX file was built from ('' when absent or unreadable)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception:
        return ""
    return session_digest(session)


def _matching_session(path: Path, weights_digest: str,
                      open_session: Callable[[Path], Any]) -> Any | None:
    """The session of ``path`` if it opens and was built from ``weights_digest``, else None."""
    if not path.exists():
        return None
    try:
        session = open_session(path)
    except Exception as e:
        log.warning("cannot use %s (%s)", path, e)
        return None
    if session_digest(session) != weights_digest:
        log.debug("%s was built from other weights", path)
        return None
    return session


def _shipped_int8(weights_digest: str = "") -> Path:
    """Where the int8 model of the shipped weights with ``weights_digest`` is.

    It is only ever shipped (``scripts/quantize_int8.py`` makes it, from calibration photos),
    never built at run time, so other weights have none (their digest names the photo model's
    file, which its recorded digest then refuses).
    """
    from vidcolor.weights import models_dir, shipped_model_of

    return models_dir() / shipped_model_of(weights_digest).int8_name


def _shipped_onnx(weights_digest: str) -> Path:
    """Where the fp32 ONNX file of the shipped weights with ``weights_digest`` is."""
    from vidcolor.weights import models_dir, shipped_model_of

    return models_dir() / shipped_model_of(weights_digest).onnx_name


def open_int8(weights_digest: str, open_session: Callable[[Path], Any]) -> tuple[Any, Path] | None:
    """The session of the shipped int8 model and its file, if it was made from these weights."""
    path = _shipped_int8(weights_digest)
    session = _matching_session(path, weights_digest, open_session)
    return None if session is None else (session, path)


def int8_digest(weights_digest: str = "") -> str:
    """The ``weights_sha256`` of the shipped int8 model that would serve ``weights_digest``.

    '' when there is none; the photo model's file for weights that are not shipped.
    """
    path = _shipped_int8(weights_digest)
    return onnx_digest(path) if path.exists() else ""


def open_onnx(weights_digest: str, load_model: Callable[[], torch.nn.Module],
              open_session: Callable[[Path], Any]) -> tuple[Any, Path]:
    """An ONNX Runtime session of the network with weights ``weights_digest``, and its file.

    Each candidate is opened once, with ``open_session``, and kept when the session's metadata
    (``weights_sha256``) matches: first the shipped file (package data), then the one built
    into :func:`cache_dir`. Only when neither matches is the torch network built
    (``load_model``) and exported, once, into the cache. A cached file that cannot be opened
    is rebuilt.

    Raises:
        ExportUnavailable: it must be built and the ``onnx`` package is missing.
    """
    cached = cached_onnx_path(weights_digest)
    for path in (_shipped_onnx(weights_digest), cached):
        session = _matching_session(path, weights_digest, open_session)
        if session is not None:
            return session, path
    cached.unlink(missing_ok=True)  # damaged, or built from other weights: rebuild it once
    if importlib.util.find_spec("onnx") is None:
        raise ExportUnavailable("the onnx package is not installed")
    log.info("building the ONNX model once (cached in %s)", cached.parent)
    export_onnx(load_model(), cached, weights_digest)
    return open_session(cached), cached
