"""Sliding windows over the working frame, blended without seams; padding to the network's stride.

A frame is colorized in two passes. The *global* pass sees the whole frame at
``GLOBAL_SIZE`` on its short side, so every object is seen with its context. When the working
resolution is larger than that, the frame is also covered by ``WINDOW`` x ``WINDOW`` windows
that overlap by ``overlap`` pixels; each window gets the global pass's chroma as its prior (at
``global_confidence``, or the temporal prior where one exists), so windows that each see only
part of an object still agree on its colour. Window outputs are blended with raised-cosine
ramps across each overlap, which sum to 1 at every pixel.

A frame or window whose sides are not multiples of the network's ``STRIDE`` is padded to it and
the output cropped back (:func:`predict_padded`). The chroma is brought to the source resolution
by :mod:`vidcolor.guided`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from vidcolor.colorspace import Array

if TYPE_CHECKING:
    import torch

STRIDE = 32  # the network's input sides must be multiples of this (vidcolor.network uses it)

WINDOW = 224
GLOBAL_SIZE = 224
MAX_ASPECT = 4  # the working frame's long side is at most this many times its short side

Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]


def working_size(height: int, width: int, render_size: int) -> tuple[int, int]:
    """Size ``(h, w)`` the network sees: short side ``render_size``, long side capped."""
    short, long_ = min(height, width), max(height, width)
    scale = render_size / short
    long_px = min(round(long_ * scale), MAX_ASPECT * render_size)
    short_px = max(1, min(render_size, round(short * long_px / long_)))
    return (short_px, long_px) if height <= width else (long_px, short_px)


def window_starts(length: int, window: int, overlap: int) -> list[int]:
    """Start offsets of windows of ``window`` pixels covering ``0..length`` with overlap.

    Windows are spread evenly, so neighbours overlap by at least ``overlap`` pixels. A side no
    longer than one window gets one window (the caller pads it to the network's stride).
    """
    if length <= window:
        return [0]
    overlap = min(max(overlap, 0), window // 2)
    count = math.ceil((length - overlap) / (window - overlap))
    count = max(count, 2)
    span = length - window
    return [round(i * span / (count - 1)) for i in range(count)]


def _ramp(n: int) -> np.ndarray:
    """Raised-cosine ramp of ``n`` samples rising from ~0 to ~1; ``ramp + flip(ramp) == 1``."""
    i = np.arange(n, dtype=np.float32) + 0.5
    return 0.5 - 0.5 * np.cos(math.pi * i / n)


def axis_weights(starts: list[int], window: int) -> list[np.ndarray]:
    """1-D blend weights of each window: 1 inside, raised-cosine cross-fades in the overlaps.

    Between two neighbours the cross-fade spans ``min(overlap, window - overlap)`` pixels
    centred in their overlap, so no three windows ever fade at once; the two ramps are mirror
    images, so the weights of all windows sum to exactly 1 at every position. Frame borders
    are not tapered.
    """
    weights = [np.ones(window, np.float32) for _ in starts]
    for k in range(len(starts) - 1):
        a, b = starts[k], starts[k + 1]
        overlap = a + window - b
        n = min(overlap, window - overlap)
        if overlap <= 0 or n <= 0:
            continue
        r0 = b + (overlap - n) // 2  # absolute start of the cross-fade
        ramp = _ramp(n)
        weights[k][r0 - a: r0 - a + n] *= ramp[::-1]
        weights[k][r0 - a + n:] = 0.0
        weights[k + 1][: r0 - b] = 0.0
        weights[k + 1][r0 - b: r0 - b + n] *= ramp
    return weights


class WindowGrid:
    """The windows covering a ``(height, width)`` working frame, and their blend weights."""

    def __init__(self, height: int, width: int, window: int = WINDOW, overlap: int = 32) -> None:
        self.height, self.width = height, width
        # A side shorter than a window is covered by one window padded to the stride.
        self.win_h = window if height > window else height + (-height) % STRIDE
        self.win_w = window if width > window else width + (-width) % STRIDE
        self.ys = window_starts(height, window, overlap)
        self.xs = window_starts(width, window, overlap)
        self.wy = axis_weights(self.ys, self.win_h)
        self.wx = axis_weights(self.xs, self.win_w)

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    def boxes(self) -> list[tuple[int, int]]:
        """``(y, x)`` top-left corner of every window, row by row."""
        return [(y, x) for y in self.ys for x in self.xs]

    def weight(self, index: int) -> np.ndarray:
        """``(win_h, win_w)`` blend weight of window ``index``."""
        row, col = divmod(index, len(self.xs))
        return self.wy[row][:, None] * self.wx[col][None, :]

    def weight_sum(self) -> np.ndarray:
        """Sum of all windows' weights over the frame (1 everywhere, by construction)."""
        total = np.zeros((self.height + self.win_h, self.width + self.win_w), np.float32)
        for k, (y, x) in enumerate(self.boxes()):
            total[y:y + self.win_h, x:x + self.win_w] += self.weight(k)
        return total[: self.height, : self.width]

    def border_mask(self, margin: int = 2) -> np.ndarray:
        """Pixels within ``margin`` of a window edge inside the frame (not the frame's own)."""
        mask = np.zeros((self.height, self.width), bool)
        for y in {*self.ys, *(y + self.win_h for y in self.ys)} - {0, self.height}:
            if 0 < y < self.height:
                mask[max(0, y - margin): y + margin, :] = True
        for x in {*self.xs, *(x + self.win_w for x in self.xs)} - {0, self.width}:
            if 0 < x < self.width:
                mask[:, max(0, x - margin): x + margin] = True
        return mask

    def run(self, predict: Predict, lum: np.ndarray, prior: np.ndarray,
            batch: int) -> np.ndarray:
        """Blend ``predict`` over all windows of ``lum`` ``(1, 1, H, W)`` with ``prior``.

        Returns ``(1, 2, H, W)`` ab; the result does not depend on ``batch``.
        """
        pad_h = max(0, self.win_h - self.height)
        pad_w = max(0, self.win_w - self.width)
        if pad_h or pad_w:
            pad = ((0, 0), (0, 0), (0, pad_h), (0, pad_w))
            lum = np.pad(lum, pad, mode="edge")
            prior = np.pad(prior, pad, mode="edge")
        boxes = list(enumerate(self.boxes()))
        out = np.zeros((1, 2, self.height + pad_h, self.width + pad_w), np.float32)
        norm = np.zeros((1, 1, self.height + pad_h, self.width + pad_w), np.float32)
        for first in range(0, len(boxes), max(1, batch)):
            chunk = boxes[first: first + max(1, batch)]
            lum_b = np.concatenate(
                [lum[..., y:y + self.win_h, x:x + self.win_w] for _, (y, x) in chunk]
            )
            pri_b = np.concatenate(
                [prior[..., y:y + self.win_h, x:x + self.win_w] for _, (y, x) in chunk]
            )
            ab_b = predict(lum_b, pri_b)
            for j, (k, (y, x)) in enumerate(chunk):
                w = self.weight(k)
                out[..., y:y + self.win_h, x:x + self.win_w] += ab_b[j: j + 1] * w
                norm[..., y:y + self.win_h, x:x + self.win_w] += w
        out = out / np.maximum(norm, 1e-6)
        return out[..., : self.height, : self.width]


def combine_priors(temporal: np.ndarray | None, global_ab: np.ndarray,
                   global_confidence: float) -> np.ndarray:
    """The windows' prior: the temporal prior where it is confident, else the global chroma."""
    conf_g = np.full_like(global_ab[:, :1], global_confidence)
    if temporal is None:
        return np.concatenate([global_ab, conf_g], 1)
    conf_t = temporal[:, 2:3]
    ab = conf_t * temporal[:, :2] + (1.0 - conf_t) * global_ab
    return np.concatenate([ab, conf_t + (1.0 - conf_t) * conf_g], 1)


def seam_score(ab: np.ndarray, border: np.ndarray) -> float:
    """Mean chroma gradient on window-border pixels over the mean elsewhere (1 = no seams).

    Args:
        ab: ``(1, 2, H, W)`` chroma at the working resolution.
        border: ``(H, W)`` bool mask of pixels near window edges (:meth:`WindowGrid.border_mask`).
    """
    gy = np.zeros_like(ab)
    gx = np.zeros_like(ab)
    gy[..., 1:, :] = np.abs(ab[..., 1:, :] - ab[..., :-1, :])
    gx[..., :, 1:] = np.abs(ab[..., :, 1:] - ab[..., :, :-1])
    grad = (gy + gx).mean(axis=(0, 1))
    if not border.any() or border.all():
        return 1.0
    inside = float(grad[~border].mean())
    return float(grad[border].mean()) / max(inside, 1e-6)


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
