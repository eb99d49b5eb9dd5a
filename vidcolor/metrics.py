"""Image-quality numbers (training, evaluation, benchmarks) and padding to the network's stride.

numpy only; torch is imported where a torch model is run (:func:`predict_whole`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from vidcolor.colorspace import Array

if TYPE_CHECKING:
    import torch

STRIDE = 32  # the network's input sides must be multiples of this (vidcolor.network uses it)


def psnr(output: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of two uint8 ``(H, W, 3)`` RGB images (8-bit peak)."""
    err = np.mean((output.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(255.0**2 / max(err, 1e-10)))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness of a uint8 ``(H, W, 3)`` RGB image."""
    x = rgb.astype(np.float64)
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def pad_to_stride(x: Array, stride: int = STRIDE) -> tuple[Array, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` so H and W are multiples of ``stride``; returns it and the pad.

    Reflected where the side allows it, else replicated. ``x`` is a numpy array or a torch
    tensor, and so is the result.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    if ph or pw:
        reflect = ph < h and pw < w
        if isinstance(x, np.ndarray):
            pad = ((0, 0),) * (x.ndim - 2) + ((0, ph), (0, pw))
            x = np.pad(x, pad, mode="reflect" if reflect else "edge")
        else:
            import torch.nn.functional as F

            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if reflect else "replicate")
    return x, (ph, pw)


def predict_padded(predict: Callable[[Array, Array], Array], lum: Array, prior: Array) -> Array:
    """``predict(lum, prior)`` over a whole ``(B, 1, H, W)`` L image of any size.

    The inputs are padded to the network's stride and the output cropped back. Works the same
    on torch tensors with a torch ``predict`` (see :func:`predict_whole`).
    """
    h, w = lum.shape[-2:]
    lum_p, _ = pad_to_stride(lum)
    prior_p, _ = pad_to_stride(prior)
    return predict(lum_p, prior_p)[..., :h, :w]


def predict_whole(model: torch.nn.Module, lum: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """One network pass over a whole ``(B, 1, H, W)`` L tensor of any size (padded internally)."""
    import torch

    with torch.no_grad():
        return predict_padded(model, lum, prior)
