"""Image-quality numbers used by training, evaluation and the benchmarks (numpy / torch only)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.network import STRIDE


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


def pad_to_stride(x: torch.Tensor, stride: int = STRIDE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad ``(B, C, H, W)`` so H and W are multiples of ``stride``; returns the pad."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (ph, pw)


def predict_padded(predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                   lum: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """``predict(lum, prior)`` over a whole ``(B, 1, H, W)`` L image of any size.

    The inputs are padded to the network's stride and the output cropped back.
    """
    h, w = lum.shape[-2:]
    lum_p, _ = pad_to_stride(lum)
    prior_p, _ = pad_to_stride(prior)
    return predict(lum_p, prior_p)[..., :h, :w]


@torch.no_grad()
def predict_whole(model: torch.nn.Module, lum: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """One network pass over a whole ``(B, 1, H, W)`` L image of any size (padded internally)."""
    return predict_padded(model, lum, prior)
