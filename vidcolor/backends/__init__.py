"""Inference backends behind one small protocol, chosen from a registry by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from vidcolor.errors import ModelError


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


def create_backend(name: str, model: torch.nn.Module, device: str) -> Backend:
    """Instantiate the backend ``name``; unknown names fail loudly."""
    from vidcolor.backends import torch_backend  # noqa: F401  (registers itself)

    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown backend {name!r}; choose one of {sorted(_REGISTRY)}") from None
    return factory(model, device)
