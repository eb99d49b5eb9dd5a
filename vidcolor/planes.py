"""A frame's ``Y'`` plane read out, as the luma the network reads, and planes back to RGB.

Every video frame's plane is converted twice (for the network, and for the colour conversion of
its output), so the conversion goes through a table of every code's value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from vidcolor.colorspace import luma_to_l, ycbcr_to_rgb

if TYPE_CHECKING:
    import av

_PLANAR_8BIT = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuv411p"}
)


def luma_plane(frame: av.VideoFrame, depth: int = 8) -> np.ndarray:
    """The frame's ``Y'`` plane ``(H, W)``: 8-bit, or at ``depth`` bits (uint16) when > 8.

    Wider or packed formats are converted first; a planar source of that depth is read as is,
    so its samples stay bit-exact.
    """
    name = frame.format.name
    if depth <= 8:
        dtype, readable, target = np.uint8, name in _PLANAR_8BIT or name == "gray", "yuv444p"
    else:
        dtype, target = np.uint16, f"yuv444p{depth}le"
        readable = name.startswith("yuv4") and name.endswith(f"p{depth}le")
    if not readable:
        frame = frame.reformat(format=target)
    plane = frame.planes[0]
    buf = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype().itemsize)
    return buf[:, : plane.width].copy()


def plane_to_luma(y_plane: np.ndarray, full_range: bool, depth: int = 8) -> np.ndarray:
    """A ``Y'`` plane of ``depth`` bits as a full-range ``(1, 1, H, W)`` float32 luma in 0..1.

    uint8 and uint16 planes go through a table of every code's value (the same numbers as the
    arithmetic, about 10x faster: every frame's plane is converted twice).
    """
    return _plane_values(np.asarray(y_plane), full_range, depth)[None, None]


def _plane_values(y: np.ndarray, full_range: bool, depth: int,
                  lightness: bool = False) -> np.ndarray:
    """Each sample's luma ``(H, W)`` (0..1), or with ``lightness`` its Lab ``L``.

    uint8 and uint16 planes through a table of every code's value, others by the arithmetic.
    """
    if y.dtype == np.uint8:
        return cv2.LUT(y, _luma_table(full_range, depth, 256, lightness))
    if y.dtype == np.uint16:
        return np.take(_luma_table(full_range, depth, 65536, lightness), y)
    luma = _luma_values(y.astype(np.float32), full_range, depth)
    return luma_to_l(luma).astype(np.float32) if lightness else luma


def _luma_values(y: np.ndarray, full_range: bool, depth: int) -> np.ndarray:
    if full_range:
        return y / float((1 << depth) - 1)
    unit = float(1 << (depth - 8))
    return np.clip((y - 16.0 * unit) / (219.0 * unit), 0.0, 1.0)


_LUMA_TABLES: dict[tuple[bool, int, int, bool], np.ndarray] = {}


def _luma_table(full_range: bool, depth: int, codes: int, lightness: bool = False) -> np.ndarray:
    """Every code's luma (0..1), or with ``lightness`` its Lab ``L`` (:func:`luma_to_l`)."""
    key = (full_range, depth, codes, lightness)
    if key not in _LUMA_TABLES:
        values = _luma_values(np.arange(codes, dtype=np.float32), full_range, depth)
        if lightness:
            values = luma_to_l(values).astype(np.float32)
        _LUMA_TABLES[key] = values
    return _LUMA_TABLES[key]


def chroma_guides(y_plane: np.ndarray, full_range: bool, depth: int,
                  shifts: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The luma (0..1) and Lab ``L`` of a ``Y'`` plane, each ``(h, w)`` at its chroma's size.

    ``shifts``: (1, 1) for 4:2:0, (1, 0) for 4:2:2, (0, 0) for 4:4:4. Each is the mean of
    the codes' values over the block a chroma sample covers (OpenCV's exact box mean; ``L`` is
    averaged, not taken of the averaged luma), both through tables.
    """
    y = np.asarray(y_plane)
    luma = _plane_values(y, full_range, depth)
    lum = _plane_values(y, full_range, depth, lightness=True)
    sx, sy = shifts
    if (sx, sy) == (0, 0):
        return luma, lum
    h, w = y.shape[0] >> sy, y.shape[1] >> sx
    luma, lum = luma[: h << sy, : w << sx], lum[: h << sy, : w << sx]
    return (cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA),
            cv2.resize(lum, (w, h), interpolation=cv2.INTER_AREA))


def planes_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, full_range: bool,
                  matrix: str) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` of 8-bit ``Y', Cb, Cr`` planes (chroma at any subsampling).

    The inverse of :meth:`FrameColorizer.chroma_planes`; subsampled chroma is upsampled
    bilinearly. Preview stills are made through it from the planes the render encodes, and
    rendered frames are read back through it to compare them.
    """
    h, w = y.shape
    up = [cv2.resize(c.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
          if c.shape != (h, w) else c.astype(np.float32) for c in (cb, cr)]
    scale = 255.0 if full_range else 224.0
    cbcr = (np.stack(up)[None] - 128.0) / scale
    rgb = ycbcr_to_rgb(plane_to_luma(y, full_range), cbcr, matrix)[0].transpose(1, 2, 0)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
