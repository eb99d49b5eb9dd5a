"""The backend protocol and the registry the backends add themselves to.

Apart from the package's ``__init__`` so that a backend module registering itself does not
import the module that imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

ModelLoader = Callable[[], "torch.nn.Module"]  # builds the torch network when a backend needs it


class Backend(Protocol):
    """Runs the colorizer on batches of windows."""

    name: str
    precision: str  # the network that runs: ``fp32`` or ``int8``

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """``(B, 1, H, W)`` L and ``(B, 3, H, W)`` prior -> ``(B, 2, H, W)`` ab, float32 numpy."""
        ...


_REGISTRY: dict[str, Callable[..., Backend]] = {}


def register(name: str) -> Callable[[Callable[..., Backend]], Callable[..., Backend]]:
    """Class decorator adding a backend factory to the registry.

    A factory is called as ``factory(load_model, device, weights_digest, threads, precision)``.
    """

    def add(factory: Callable[..., Backend]) -> Callable[..., Backend]:
        _REGISTRY[name] = factory
        return factory

    return add
