"""Eager PyTorch backend (CPU or CUDA); torch is imported when the backend is created."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from vidcolor.backends.base import ModelLoader, register
from vidcolor.errors import ModelError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without CUDA is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise ModelError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


@register("torch")
class TorchBackend:
    """Runs the network with torch, in fp32 on the CPU and bf16 autocast on CUDA."""

    name = "torch"

    def __init__(self, load_model: ModelLoader, device: str, weights_digest: str = "",
                 threads: int = 0, precision: str = "auto") -> None:
        import torch

        if precision == "int8":
            raise ModelError("--precision int8 runs with ONNX Runtime on the CPU "
                             "(--backend onnx --device cpu)")
        self.precision = "fp32"

        if threads:
            torch.set_num_threads(threads)
        self.device = resolve_device(device)
        self.model = load_model().to(self.device).eval()
        if self.device.type == "cpu":
            # Near-zero activations become denormal floats, which made CPU inference 4-5x slower.
            torch.set_flush_denormal(True)

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """See :class:`vidcolor.backends.Backend`."""
        import torch

        lum_t = torch.from_numpy(np.ascontiguousarray(lum, dtype=np.float32))
        prior_t = torch.from_numpy(np.ascontiguousarray(prior, dtype=np.float32))
        try:
            with torch.inference_mode(), torch.autocast(
                "cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"
            ):
                out = self.model(lum_t.to(self.device), prior_t.to(self.device))
        except torch.OutOfMemoryError as e:
            raise ModelError(
                "out of memory in the colorizer: lower --render-size, or use --device cpu"
            ) from e
        return out.float().cpu().numpy()
