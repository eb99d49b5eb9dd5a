"""Training material for the animation model: photos made into cartoons, clip art flattened.

Training-side only (``scripts/make_animation_data.py``, ``scripts/evaluate_animation.py``);
the runtime never imports it. numpy and OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np


def resize_short(rgb: np.ndarray, short: int = 256, max_ratio: float = 2.0) -> np.ndarray:
    """``rgb`` resized so its short side is ``short``, centre-cropped to at most ``max_ratio``."""
    h, w = rgb.shape[:2]
    scale = short / min(h, w)
    size = (max(short, round(w * scale)), max(short, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    out = cv2.resize(rgb, size, interpolation=interp)
    h, w = out.shape[:2]
    long_max = int(short * max_ratio)
    if w > long_max:
        x0 = (w - long_max) // 2
        out = out[:, x0 : x0 + long_max]
    if h > long_max:
        y0 = (h - long_max) // 2
        out = out[y0 : y0 + long_max]
    return np.ascontiguousarray(out)


def flatten_alpha(image: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """An image as OpenCV reads it unchanged (grey, BGR or BGRA, 8 or 16 bit) -> RGB uint8.

    Transparent pixels are composited onto ``background`` (RGB).
    """
    if image.dtype == np.uint16:
        image = (image / 257.0 + 0.5).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGRA)
    elif image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    elif image.shape[2] == 2:  # grey + alpha
        grey = cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
        image = np.dstack((grey, image[:, :, 1]))
    rgb = image[:, :, 2::-1].astype(np.float32)
    alpha = image[:, :, 3:4].astype(np.float32) / 255.0
    bg = np.array(background, np.float32).reshape(1, 1, 3)
    return (rgb * alpha + bg * (1.0 - alpha) + 0.5).clip(0, 255).astype(np.uint8)


def light_background(rng: np.random.Generator) -> tuple[int, int, int]:
    """White two times in three, else a random light colour (each channel 200..255)."""
    if rng.random() < 2 / 3:
        return (255, 255, 255)
    return tuple(int(v) for v in rng.integers(200, 256, 3))  # type: ignore[return-value]


def chroma_share(rgb: np.ndarray, level: float = 12.0) -> float:
    """Share of pixels whose Lab chroma exceeds ``level`` (a colour-content check)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma = np.hypot(lab[:, :, 1] - 128.0, lab[:, :, 2] - 128.0)
    return float((chroma > level).mean())


def dark_outlines(rgb: np.ndarray, strength: float = 4.0, sigma: float = 1.0) -> np.ndarray:
    """A mask ``(H, W)`` of dark lines from a difference of Gaussians of the luma."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    dog = cv2.GaussianBlur(grey, (0, 0), sigma) - cv2.GaussianBlur(grey, (0, 0), sigma * 1.6)
    return dog < -strength


def cartoonize(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photo made into a flat cartoon that keeps the photo's true colours.

    Edge-preserving smoothing (bilateral, applied a few times), colour quantisation to ``k``
    flat levels (k-means in Lab on the smoothed photo; each level is the mean of the photo's
    own colours in it), a median filter to clean specks, then dark outlines from a difference
    of Gaussians drawn over it.

    Args:
        rgb: uint8 ``(H, W, 3)`` RGB photo.
        rng: the random source of ``k`` (5..12), the smoothing and the line weight.

    Returns:
        uint8 ``(H, W, 3)`` RGB cartoon.
    """
    smooth = rgb
    for _ in range(int(rng.integers(2, 4))):
        smooth = cv2.bilateralFilter(smooth, 7, float(rng.uniform(30, 60)), 7)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    k = int(rng.integers(5, 13))
    sample = lab[rng.choice(len(lab), min(len(lab), 4096), replace=False)]
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(int(rng.integers(1 << 30)))
    _, _, centres = cv2.kmeans(sample, k, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    dist = ((lab[:, None, :] - centres[None]) ** 2).sum(-1)
    label = dist.argmin(1).astype(np.uint8).reshape(rgb.shape[:2])
    label = cv2.medianBlur(label, 5)
    flat = np.zeros_like(rgb)
    for i in range(k):
        sel = label == i
        if sel.any():
            flat[sel] = rgb[sel].reshape(-1, 3).mean(0).round().astype(np.uint8)
    lines = dark_outlines(smooth, float(rng.uniform(2.5, 5.0)))
    if rng.random() < 0.5:
        lines = cv2.dilate(lines.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
    ink = int(rng.integers(10, 50))
    flat[lines] = ink
    return flat
