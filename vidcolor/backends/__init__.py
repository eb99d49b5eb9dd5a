"""Inference backends behind one small protocol, chosen from a registry by name."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import torch

from vidcolor.errors import ModelError

log = logging.getLogger(__name__)


class Backend(Protocol):
    """Runs the colorizer on batches of windows."""

    name: str

    def predict(self, lum: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` L and ``(B, 3, H, W)`` prior -> ``(B, 2, H, W)`` ab, on the CPU."""
        ...


_REGISTRY: dict[str, Callable[..., Backend]] = {}


def register(name: str) -> Callable[[Callable[..., Backend]], Callable[..., Backend]]:
    """Class decorator adding a backend factory to the registry."""

    def add(factory: Callable[..., Backend]) -> Callable[..., Backend]:
        _REGISTRY[name] = factory
        return factory

    return add


def _load_registry() -> None:
    from vidcolor.backends import torch_backend  # noqa: F401  (registers itself)

    try:
        from vidcolor.backends import onnx_backend  # noqa: F401
    except ImportError as e:  # onnxruntime missing: the torch backend still works
        log.debug("onnx backend unavailable: %s", e)


def choose_backend(name: str, device: str) -> str:
    """Resolve ``auto``: ONNX Runtime on the CPU (3-4x faster there), torch on CUDA.

    An explicit ``onnx`` without onnxruntime installed falls back to torch with one log line.
    """
    _load_registry()
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if name == "auto":
        name = "torch" if cuda else "onnx"
    if name == "onnx" and "onnx" not in _REGISTRY:
        log.warning("onnxruntime is not installed: using the torch backend")
        return "torch"
    return name


def create_backend(
    name: str, model: torch.nn.Module, device: str, weights_digest: str = "", threads: int = 0
) -> Backend:
    """Instantiate the backend ``name`` (or ``auto``); unknown names fail loudly."""
    name = choose_backend(name, device)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(["auto", *sorted(_REGISTRY)])
        raise ModelError(f"unknown backend {name!r}; choose one of {known}") from None
    if name == "onnx":
        from vidcolor.export import ExportUnavailable

        try:
            return factory(model, device, weights_digest or "unversioned", threads)
        except ExportUnavailable:
            log.warning(
                "no ONNX model for these weights and the onnx package is missing "
                "(pip install 'vidcolor[export]'): using the torch backend"
            )
            factory = _REGISTRY["torch"]
    return factory(model, device)
