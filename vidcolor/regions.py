"""Flat regions stay flat: one chroma per line-bounded region of a drawn frame.

Drawn pictures (cartoons, clip art, cel animation) are flat paint inside dark outlines. The
network's chroma wanders inside such a region (a shirt half blue, half grey); here the frame is
cut into regions bounded by its dark lines and its luminance steps, and each region large
enough to matter gets one chroma, the mean of the network's over it. The source luminance is
untouched (the caller merges the chroma with it), so drawn shading stays.

Only for ``--model animation`` (:class:`vidcolor.config.TileConfig.flat_regions`). numpy and
OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

# A pixel bounds a region when it is a dark line (darker than its 7x7 neighbourhood's closing
# by LINE_DEPTH, or darker than DARK outright) or sits on a luminance step (3x3 Sobel magnitude
# over STEP, luma in 0..1).
LINE_DEPTH = 0.08
DARK = 0.12
STEP = 0.35
MIN_SHARE = 0.0005  # regions smaller than this share of the frame keep the network's chroma
MIN_PIXELS = 12


def region_labels(luma: np.ndarray) -> tuple[np.ndarray, int]:
    """Line-bounded regions of a luma ``(H, W)`` in 0..1: labels ``(H, W)`` int32 and count.

    Label 0 is the boundary (lines and steps); regions are 4-connected, so a one-pixel
    diagonal line still separates them.
    """
    y = np.ascontiguousarray(luma, np.float32)
    closed = cv2.morphologyEx(y, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    boundary = (closed - y > LINE_DEPTH) | (y < DARK) | (np.hypot(gx, gy) > STEP)
    inside = (~boundary).astype(np.uint8)
    count, labels = cv2.connectedComponents(inside, connectivity=4, ltype=cv2.CV_32S)
    return labels, count


def flatten_regions(ab: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """``ab`` with one chroma per line-bounded region of ``luma``.

    Args:
        ab: ``(1, 2, H, W)`` Lab ``a, b`` (float).
        luma: ``(1, 1, H, W)`` ``Y'`` in 0..1 at the same size.

    Returns:
        ``(1, 2, H, W)`` float32: inside each region of at least :data:`MIN_SHARE` of the frame
        the mean of ``ab`` over it; on lines, steps and small regions ``ab`` as given.
    """
    h, w = ab.shape[-2:]
    labels, count = region_labels(luma[0, 0])
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=count).astype(np.float64)
    big = sizes >= max(MIN_PIXELS, MIN_SHARE * h * w)
    big[0] = False  # the boundary is no region
    keep = big[flat]
    out = np.array(ab, np.float32, copy=True).reshape(2, -1)
    for c in range(2):
        means = np.bincount(flat, weights=out[c], minlength=count) / np.maximum(sizes, 1.0)
        out[c] = np.where(keep, means[flat], out[c])
    return out.reshape(1, 2, h, w)
