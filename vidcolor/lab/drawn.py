"""Drawn or photographed? A candidate detector for ``--model auto`` (not shipped: see below).

A black-and-white picture is all the detector sees (colour is what we are about to invent), so it
reads the marks drawing leaves in luminance: large areas of one flat grey (paint), few distinct
grey levels, thin dark outlines, and steps between flat areas rather than texture. Film grain
and scanning blur hide these in old cartoons, so the features are taken after a median filter
and at a fixed working size, and the detector is fitted on pictures with simulated grain, blur
and JPEG (``scripts/fit_drawn_detector.py``, which prints its held-out accuracy; the model card
quotes it).

A logistic model on :func:`features`; its coefficients (:data:`WEIGHTS`, :data:`BIAS`) are that
script's output. A film would be judged by the median score of a few frames spread over it.
It is right on 92.8 % of the held-out mix (models/README.md), under the 95 % that making
``--model auto`` available asks for, so the runtime does not use it. numpy and OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SHORT = 256  # features are measured with the short side at this many pixels

# Fitted by scripts/fit_drawn_detector.py (see the model card, "Choosing the model").
MEAN = np.array([
    0.203611, 0.610057, 0.0365307, 3.49467, 0.366973, 0.414868, 0.697116, 2.79422,
    0.140922, 0.593735, 0.0823348, 4.00714, 0.362173, 0.29362, 0.713705, 3.25087,
])
SCALE = np.array([
    0.277756, 0.250365, 0.0394438, 0.794319, 0.0885832, 0.249435, 0.209427, 0.764599,
    0.232469, 0.227972, 0.0672394, 0.664844, 0.0870007, 0.241907, 0.1932, 0.721226,
])
WEIGHTS = np.array([
    2.03877, -21.6088, 1.44211, -4.08419, 1.37202, -0.766185, -23.9465, 1.00692,
    -2.69277, 19.7896, -0.398891, 4.23711, -0.725621, 0.0935158, 16.5252, -1.38138,
])
BIAS = 1.14489


def _work(gray: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)`` at the working size, grain reduced by a 3x3 median."""
    g = np.asarray(gray)
    if g.dtype != np.uint8:
        g = np.clip(np.rint(g * (255.0 if g.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
    h, w = g.shape[:2]
    scale = WORK_SHORT / min(h, w)
    if scale != 1.0:
        inter = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        g = cv2.resize(g, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=inter)
    return cv2.medianBlur(np.ascontiguousarray(g), 3)


def _scale_features(g: np.ndarray) -> list[float]:
    kernel = np.ones((5, 5), np.uint8)
    spread = cv2.dilate(g, kernel).astype(np.int16) - cv2.erode(g, kernel).astype(np.int16)
    flat_mask = spread <= 2
    hist = np.bincount((g >> 2).ravel(), minlength=64).astype(np.float64)
    closed = cv2.morphologyEx(g, cv2.MORPH_CLOSE, kernel)
    lap = np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3))
    busy = ~flat_mask
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy).ravel()
    mag = mag[mag > 8]
    top = np.sort(mag)[-max(1, mag.size // 10):] if mag.size >= 10 else None
    p = hist / hist.sum()
    return [
        float(flat_mask.mean()),
        float(np.sort(hist)[-8:].sum() / hist.sum()),
        float(((closed.astype(np.int16) - g) > 24).mean()),
        float(np.log1p(lap[busy].mean())) if busy.any() else 0.0,
        float(top.sum() / mag.sum()) if top is not None else 0.0,
        float((spread <= 8).mean()),
        float(-(p[p > 0] * np.log2(p[p > 0])).sum() / 6.0),
        float(np.log1p(np.median(lap[busy]))) if busy.any() else 0.0,
    ]


def features(gray: np.ndarray) -> np.ndarray:
    """The detector's features of one grey picture ``(H, W)`` (uint8, or float in 0..1).

    At the working size and at half of it: the share of pixels whose 5x5 neighbourhood varies
    by at most 2 grey levels (flat paint) and by at most 8; the share in the 8 most common of 64
    grey levels, and the entropy of those 64; the share darker than their 5x5 closing by more
    than 24 levels (outlines); the mean and median absolute Laplacian off the flat areas
    (texture); the share of gradient magnitude carried by the strongest 10 % of edge pixels.
    """
    g = _work(gray)
    half = cv2.resize(g, (max(1, g.shape[1] // 2), max(1, g.shape[0] // 2)),
                      interpolation=cv2.INTER_AREA)
    return np.array(_scale_features(g) + _scale_features(half))


def drawn_score(gray: np.ndarray) -> float:
    """The probability-like score (0..1) that a grey picture is drawn, not photographed."""
    z = float(((features(gray) - MEAN) / SCALE) @ WEIGHTS + BIAS)
    return float(1.0 / (1.0 + np.exp(-z)))


def is_drawn(frames: list[np.ndarray]) -> bool:
    """Whether pictures (a still, or frames spread over a film) are drawn: the median score."""
    if not frames:
        return False
    return float(np.median([drawn_score(f) for f in frames])) >= 0.5
