"""Resampling of ``(B, C, H, W)`` float32 arrays, as torch's ``F.interpolate`` / ``avg_pool2d`` do.

Inference runs on numpy arrays so that it needs no torch; these are the three resamplings it
used from torch, with the same results (up to float rounding; tests compare them with torch):

* :func:`resize_area` is ``F.interpolate(mode="area")``, i.e. adaptive average pooling: output
  pixel ``i`` of ``n`` is the mean of input pixels ``floor(i * N / n)`` to
  ``ceil((i + 1) * N / n)`` (exclusive), per axis. For non-integer factors the bins overlap;
  this is not OpenCV's ``INTER_AREA``, which weighs fractional pixels.
* :func:`resize_bilinear` is ``F.interpolate(mode="bilinear", align_corners=False)`` (no
  antialiasing): half-pixel centres, edge samples clamped. OpenCV's ``INTER_LINEAR`` does the
  same but places the samples in double precision, torch in float32; this follows torch.
* :func:`pool2` is ``F.avg_pool2d(x, 2)``: the mean of each 2x2 block (an odd last row or
  column is dropped).

:func:`shrink_area` is not torch's: OpenCV's exact-footprint area filter, for the one resize
of every frame (its luma to the working size), where speed matters and no torch result is
matched.
"""

from __future__ import annotations

import cv2
import numpy as np


def _area_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Adaptive average pooling of ``x`` along ``axis`` to ``size`` samples."""
    axis %= x.ndim
    length = x.shape[axis]
    if size == length:
        return x
    if length % size == 0:  # equal, disjoint bins
        shape = (*x.shape[:axis], size, length // size, *x.shape[axis + 1:])
        return x.reshape(shape).mean(axis=axis + 1, dtype=np.float32)
    i = np.arange(size)
    start = i * length // size
    end = -(-(i + 1) * length // size)  # ceil
    if size > length:  # upsampling: bins of one or two pixels
        csum = np.cumsum(x, axis=axis, dtype=np.float64)
        pad = [(0, 0)] * x.ndim
        pad[axis] = (1, 0)
        csum = np.pad(csum, pad)
        shape = [1] * x.ndim
        shape[axis] = size
        sums = np.take(csum, end, axis=axis) - np.take(csum, start, axis=axis)
        return (sums / (end - start).reshape(shape)).astype(np.float32)
    # Downsampling: bin i is [start_i, end_i), the run up to the next bin's start plus that
    # bin's first pixel where the bins overlap (end_i - start_{i+1} is 0 or 1); reduceat sums
    # the runs (measured at 1080p to 224: 5 ms, the running sum in float64 took 24 ms).
    nxt = np.append(start[1:], length)
    sums = np.add.reduceat(x, start, axis=axis, dtype=np.float32)
    overlap = np.nonzero(end > nxt)[0]
    if overlap.size:
        index = [slice(None)] * x.ndim
        index[axis] = overlap
        sums[tuple(index)] += np.take(x, nxt[overlap], axis=axis)
    shape = [1] * x.ndim
    shape[axis] = size
    return sums / (end - start).reshape(shape).astype(np.float32)


def shrink_area(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(1, 1, H, W)`` float32 shrunk to ``(1, 1, *size)`` by OpenCV's ``INTER_AREA``.

    Each output pixel is the mean over its exact footprint (fractional input pixels weighed),
    the filter :func:`resize_area` approximates with whole-pixel bins; about 3x faster at
    640x360 and 1080p to 224 (the working luma of every frame).
    """
    h, w = size
    plane = cv2.resize(np.ascontiguousarray(x[0, 0], dtype=np.float32), (w, h),
                       interpolation=cv2.INTER_AREA)
    return plane[None, None]


def resize_area(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(B, C, H, W)`` float32 to ``(B, C, *size)`` by adaptive average pooling (torch's area)."""
    h, w = size
    return np.ascontiguousarray(_area_axis(_area_axis(x, h, -2), w, -1), dtype=np.float32)


def _linear_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``x`` along ``axis`` to ``size`` samples, as torch computes it.

    Source positions are computed in float32 like torch's (``scale * (i + 0.5) - 0.5`` with
    ``scale = length / size``, clamped at 0), so the samples and weights are torch's own.
    """
    axis %= x.ndim
    length = x.shape[axis]
    if size == length:
        return x
    scale = np.float32(length) / np.float32(size)
    # One rounding after the multiply-add, as the fused instruction torch's x86-64 (AVX2)
    # and ARM builds use (the float64 product of two float32 numbers is exact); a build
    # without FMA may place a rare sample one float32 step away.
    real = np.float64(scale) * (np.arange(size, dtype=np.float64) + 0.5) - 0.5
    real = np.maximum(real.astype(np.float32), np.float32(0))
    i0 = real.astype(np.int64)
    i1 = i0 + (i0 < length - 1)
    shape = [1] * x.ndim
    shape[axis] = size
    w1 = np.clip(real - i0.astype(np.float32), 0, 1).reshape(shape)
    w0 = 1 - w1
    return np.take(x, i0, axis=axis) * w0 + np.take(x, i1, axis=axis) * w1


def resize_bilinear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(B, C, H, W)`` float32 to ``(B, C, *size)``, bilinear with half-pixel centres."""
    h, w = size
    # Width first, then height: the order of torch's sums, so the rounding is the same too.
    return np.ascontiguousarray(_linear_axis(_linear_axis(x, w, -1), h, -2), dtype=np.float32)
