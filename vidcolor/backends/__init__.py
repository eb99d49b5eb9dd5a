"""Inference backends behind one small protocol, chosen from a registry by name.

Backends take and return numpy arrays. Importing this package, choosing a backend and running
the ONNX one do not import torch; the torch backend imports it when it is created.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import sys
from pathlib import Path

from vidcolor.backends.base import _REGISTRY, Backend, ModelLoader
from vidcolor.config import PRECISIONS
from vidcolor.errors import ModelError

log = logging.getLogger(__name__)


def _load_registry() -> None:
    from vidcolor.backends import torch_backend  # noqa: F401  (registers itself)

    # onnx_backend imports onnxruntime only when a session is made: ask whether it is there.
    if importlib.util.find_spec("onnxruntime") is None:
        log.debug("onnx backend unavailable: onnxruntime is not installed")
        return
    from vidcolor.backends import onnx_backend  # noqa: F401


# Device nodes / driver files without which no CUDA (or ROCm) device can be seen on Linux.
_GPU_MARKERS = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg", "/dev/kfd")


def _torch_may_have_cuda() -> bool:
    """False only when ``torch.cuda.is_available()`` is certainly False; no torch import.

    Certain when torch is not installed, when its build has neither CUDA nor ROCm (the
    ``cuda`` and ``hip`` entries of its ``version.py`` are ``None``), or, on Linux, when no
    NVIDIA / ROCm / WSL GPU device or driver file exists.
    """
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except OSError:
        return True
    builds = re.findall(r"^(cuda|hip)\b[^=\n]*=\s*(.+?)\s*$", text, flags=re.MULTILINE)
    if len(builds) == 2 and all(value == "None" for _, value in builds):
        return False
    return not sys.platform.startswith("linux") or any(map(os.path.exists, _GPU_MARKERS))


def cuda_available(device: str) -> bool:
    """Whether ``device`` means CUDA: ``cuda``, or ``auto`` and ``torch.cuda.is_available()``.

    For ``auto`` torch is asked only when it is imported already or when
    :func:`_torch_may_have_cuda` cannot rule CUDA out; the answer is then torch's own, and
    torch is needed anyway (``auto`` runs the torch backend on CUDA).
    """
    if device != "auto":
        return device == "cuda"
    if "torch" not in sys.modules and not _torch_may_have_cuda():
        return False
    import torch

    return torch.cuda.is_available()


def choose_backend(name: str, device: str) -> str:
    """Resolve ``auto``: ONNX Runtime on the CPU (3-4x faster there), torch on CUDA.

    ``auto`` means torch when the device is CUDA (``--device cuda``, or ``auto`` with
    ``torch.cuda.is_available()``; see :func:`cuda_available`, which answers without importing
    torch where CUDA is impossible), else ONNX Runtime. An explicit ``onnx`` without
    onnxruntime installed falls back to torch with one log line.
    """
    _load_registry()
    if name == "auto":
        name = "torch" if cuda_available(device) else "onnx"
    if name == "onnx" and "onnx" not in _REGISTRY:
        log.warning("onnxruntime is not installed: using the torch backend")
        return "torch"
    return name


def resolve_precision(name: str, device: str, weights_digest: str, precision: str) -> str:
    """The precision :func:`create_backend` would run, without building a backend.

    ``auto`` becomes ``int8`` where the ONNX backend would run on this machine's CPU, the CPU
    does int8 exactly (:func:`vidcolor.backends.onnx_backend.cpu_int8_exact`) and the shipped
    int8 model was made from ``weights_digest``; else ``fp32``.
    """
    if precision != "auto":
        return precision
    if choose_backend(name, device) != "onnx" or cuda_available(device):
        return "fp32"
    from vidcolor.backends.onnx_backend import cpu_int8_exact
    from vidcolor.export import int8_digest

    exact = cpu_int8_exact()
    return "int8" if exact and int8_digest(weights_digest) == weights_digest else "fp32"


def create_backend(
    name: str, load_model: ModelLoader, device: str, weights_digest: str = "", threads: int = 0,
    precision: str = "auto",
) -> Backend:
    """Instantiate the backend ``name`` (or ``auto``); unknown names fail loudly.

    Args:
        name: ``auto``, ``torch`` or ``onnx``.
        load_model: builds the torch network (e.g. :meth:`vidcolor.weights.Weights.load`);
            called at most once, and only when needed: by the torch backend, or by the ONNX
            one when no ONNX file for ``weights_digest`` exists yet.
        device: ``auto``, ``cpu`` or ``cuda``.
        weights_digest: identity of the weights, which selects the ONNX file.
        threads: CPU threads for inference (0: the runtime's default).
        precision: ``auto`` (the int8 model with ONNX Runtime on the CPU where there is one
            for these weights, else fp32), ``fp32`` or ``int8`` (an error where there is none).
    """
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    name = choose_backend(name, device)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(["auto", *sorted(_REGISTRY)])
        raise ModelError(f"unknown backend {name!r}; choose one of {known}") from None
    load_model = functools.cache(load_model)
    if name == "onnx":
        from vidcolor.export import ExportUnavailable

        try:
            return factory(load_model, device, weights_digest or "unversioned", threads, precision)
        except ExportUnavailable:
            log.warning(
                "no ONNX model for these weights and the onnx package is missing "
                "(pip install 'vidcolor[export]'): using the torch backend"
            )
            factory = _REGISTRY["torch"]
    return factory(load_model, device, weights_digest, threads, precision)
