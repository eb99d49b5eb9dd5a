"""Simulated colour hints for the evaluations: placed by a fixed rule from the true colours.

The user's two ways of placing points are measured (``scripts/evaluate.py --hints``,
``scripts/evaluate_video.py --hints``): at the largest regions of one true colour, and where the
automatic colours are most wrong (a user fixes those first).
"""

from __future__ import annotations

import cv2
import numpy as np

from vidcolor.hints import Hint


def _true_colour_regions(lab: np.ndarray, error: np.ndarray | None = None,
                         ) -> list[tuple[float, int, int, np.ndarray]]:
    """The regions of one colour of a true colour image's Lab ``(H, W, 3)``.

    The true ``a, b`` are quantized to a 12-unit grid; a region is a 4-connected run of one bin.
    Each is ``(score, bin, label, labels)`` (the region is ``labels == label``): its area, or
    with ``error`` ``(H, W)`` the sum of the error over it.
    """
    bins = np.floor((lab[..., 1:] + 128.0) / 12.0).astype(np.int32)
    label = bins[..., 0] * 32 + bins[..., 1]
    regions = []
    for value in np.unique(label):
        n, comp = cv2.connectedComponents((label == value).astype(np.uint8), connectivity=4)
        weights = None if error is None else error.ravel()
        score = np.bincount(comp.ravel(), weights=weights, minlength=n)
        regions.extend((float(score[c]), int(value), c, comp) for c in range(1, n))
    return regions


def _hint_in(lab: np.ndarray, mask: np.ndarray, frame: int, radius: float) -> Hint:
    """A hint at the most interior pixel of ``mask`` with the region's mean true colour."""
    inner = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    a, b = lab[..., 1][mask > 0].mean(), lab[..., 2][mask > 0].mean()
    return Hint(frame=frame, x=float(x), y=float(y), a=float(a), b=float(b), radius=radius)


def sample_hints(rgb: np.ndarray, count: int, frame: int = 0,
                 auto: np.ndarray | None = None) -> list[Hint]:
    """``count`` hints taken from a true colour image ``(H, W, 3)`` uint8, by a fixed rule.

    Regions of one true colour (a*b* on a 12-unit grid, connected) get a hint each, at their
    most interior pixel, with the region's mean true colour and a radius of 1 % of the short
    side. Without ``auto``, the largest regions; with ``auto`` (the automatic result, RGB), the
    regions a user would fix first: area x mean a*b* error of the automatic colours there.
    """
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    error = None
    if auto is not None:
        auto_ab = cv2.cvtColor(auto.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 1:]
        error = np.linalg.norm(auto_ab - lab[..., 1:], axis=2)
    regions = _true_colour_regions(lab, error)
    regions.sort(key=lambda r: (-r[0], r[1], r[2]))
    radius = max(1.0, 0.01 * min(rgb.shape[:2]))
    return [_hint_in(lab, (comp == c).astype(np.uint8), frame, radius)
            for _, _, c, comp in regions[:count]]
