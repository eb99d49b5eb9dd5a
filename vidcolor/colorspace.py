"""Colour-space conversions: sRGB <-> CIE Lab (D65), and the luminance merge.

Every function takes numpy arrays (inference, which must not need torch) or torch tensors
(training, with autograd) and returns the same kind; the formulas are written once, and the
few calls whose spelling differs go through the helpers below. One exception, for speed:
Lab -> sRGB of float32 numpy arrays is OpenCV's implementation of the same formulas (within
6e-4; see :func:`lab_to_rgb`).

Conventions used everywhere in vidcolor:

* RGB arrays are ``(B, 3, H, W)`` float, sRGB-encoded, in ``0..1``.
* Lab arrays are ``(B, 3, H, W)``: ``L`` in ``0..100``, ``a`` and ``b`` roughly in ``-110..110``.
* ``L`` alone is ``(B, 1, H, W)``; chroma ``ab`` is ``(B, 2, H, W)``.
* Luma ``Y'`` (what a video's Y plane holds, after range expansion) is ``(B, 1, H, W)`` in ``0..1``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

    Array = TypeVar("Array", np.ndarray, torch.Tensor)
else:
    Array = TypeVar("Array")

# D65 white point, CIE XYZ.
_WHITE = (0.95047, 1.0, 1.08883)
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_XYZ_TO_RGB = tuple(map(tuple, np.linalg.inv(np.array(_RGB_TO_XYZ, np.float64)).tolist()))
_EPS = 6.0 / 29.0

# ITU-R BT.601 / BT.709 luma coefficients (Kr, Kb).
LUMA_COEFFS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def _torch(x: Any) -> Any:
    """The torch module when ``x`` is a tensor (torch is then imported already), else ``None``."""
    torch_module = sys.modules.get("torch")
    if torch_module is not None and isinstance(x, torch_module.Tensor):
        return torch_module
    return None


def _where(cond: Array, a: Array, b: Array) -> Array:
    th = _torch(cond)
    return np.where(cond, a, b) if th is None else th.where(cond, a, b)


def _clip(x: Array, lo: float | None = None, hi: float | None = None) -> Array:
    return np.clip(x, lo, hi) if _torch(x) is None else x.clamp(lo, hi)


def _cat(parts: Sequence[Array], dim: int) -> Array:
    th = _torch(parts[0])
    return np.concatenate(parts, axis=dim) if th is None else th.cat(parts, dim=dim)


def _stack(parts: Sequence[Array], dim: int) -> Array:
    th = _torch(parts[0])
    return np.stack(parts, axis=dim) if th is None else th.stack(parts, dim=dim)


def _amin(x: Array, dim: int) -> Array:
    th = _torch(x)
    return np.amin(x, axis=dim, keepdims=True) if th is None else th.amin(x, dim=dim, keepdim=True)


def _constant(values: tuple, like: Array) -> Array:
    """``values`` as an array of ``like``'s kind, dtype (and device)."""
    th = _torch(like)
    if th is None:
        return np.asarray(values, dtype=like.dtype)
    return th.tensor(values, dtype=like.dtype, device=like.device)


def _einsum(spec: str, matrix: Array, x: Array) -> Array:
    th = _torch(x)
    return np.einsum(spec, matrix, x) if th is None else th.einsum(spec, matrix, x)


def srgb_to_linear(x: Array) -> Array:
    """Decode the sRGB transfer curve; any shape, values in 0..1."""
    return _where(x > 0.04045, ((_clip(x, 0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92)


def linear_to_srgb(x: Array) -> Array:
    """Encode with the sRGB transfer curve; any shape, values in 0..1."""
    x = _clip(x, 0.0, 1.0)
    high = 1.055 * _clip(x, 0.0031308) ** (1 / 2.4) - 0.055
    return _where(x > 0.0031308, high, 12.92 * x)


def _f(t: Array) -> Array:
    return _where(t > _EPS**3, _clip(t, _EPS**3) ** (1 / 3), t / (3 * _EPS**2) + 4 / 29)


def _f_inv(t: Array) -> Array:
    return _where(t > _EPS, t**3, 3 * _EPS**2 * (t - 4 / 29))


def rgb_to_lab(rgb: Array) -> Array:
    """Convert ``(B, 3, H, W)`` sRGB in 0..1 to Lab (L 0..100, a/b about -110..110)."""
    lin = srgb_to_linear(_clip(rgb, 0.0, 1.0))
    xyz = _einsum("ij,bjhw->bihw", _constant(_RGB_TO_XYZ, rgb), lin)
    white = _constant(_WHITE, rgb).reshape(1, 3, 1, 1)
    f = _f(xyz / white)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    lum = 116.0 * fy - 16.0
    return _stack((lum, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=1)


def lab_to_rgb(lab: Array) -> Array:
    """Convert ``(B, 3, H, W)`` Lab to sRGB in 0..1 (out-of-gamut colours are clipped).

    float32 numpy arrays go through OpenCV's conversion (the same D65 formulas, its sRGB curve
    tabulated; within 6e-4 of these, 10x faster: a 1080p frame's 4:2:0 chroma in 1.6 ms, not
    19); torch tensors and other dtypes through the formulas below.
    """
    if isinstance(lab, np.ndarray) and lab.dtype == np.float32:
        import cv2

        return np.stack([cv2.cvtColor(cv2.merge(list(item)), cv2.COLOR_Lab2RGB).transpose(2, 0, 1)
                         for item in lab])
    lum, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    fy = (lum + 16.0) / 116.0
    fxyz = _stack((fy + a / 500.0, fy, fy - b / 200.0), dim=1)
    white = _constant(_WHITE, lab).reshape(1, 3, 1, 1)
    xyz = _f_inv(fxyz) * white
    lin = _einsum("ij,bjhw->bihw", _constant(_XYZ_TO_RGB, lab), xyz)
    return linear_to_srgb(lin)


def luma_to_l(luma: Array) -> Array:
    """Lab ``L`` (0..100) of a grey pixel whose sRGB value is ``luma`` (0..1); any shape."""
    return 116.0 * _f(srgb_to_linear(_clip(luma, 0.0, 1.0))) - 16.0


def l_to_luma(lum: Array) -> Array:
    """Inverse of :func:`luma_to_l`: the sRGB grey value (0..1) of lightness ``L``; any shape."""
    return linear_to_srgb(_f_inv((lum + 16.0) / 116.0))


def rgb_to_luma(rgb: Array, matrix: str = "bt601") -> Array:
    """Luma ``Y'`` in 0..1, ``(B, 1, H, W)``, of ``(B, 3, H, W)`` sRGB in 0..1."""
    kr, kb = LUMA_COEFFS[matrix]
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return kr * r + (1.0 - kr - kb) * g + kb * b


def rgb_to_chroma(rgb: Array, matrix: str = "bt601") -> Array:
    """Full-range colour differences ``(Cb, Cr)`` in -0.5..0.5, ``(B, 2, H, W)``."""
    kr, kb = LUMA_COEFFS[matrix]
    y = rgb_to_luma(rgb, matrix)
    cb = (rgb[:, 2:3] - y) / (2.0 * (1.0 - kb))
    cr = (rgb[:, 0:1] - y) / (2.0 * (1.0 - kr))
    return _cat((cb, cr), dim=1)


def ycbcr_to_rgb(luma: Array, chroma: Array, matrix: str = "bt601") -> Array:
    """Full-range ``Y'`` ``(B, 1, H, W)`` 0..1 and ``CbCr`` ``(B, 2, H, W)`` to sRGB in 0..1.

    Out-of-gamut pixels are desaturated towards grey of the same ``Y'`` rather than clipped per
    channel, so the luma of the result equals ``luma`` (up to float rounding).
    """
    kr, kb = LUMA_COEFFS[matrix]
    y = _clip(luma, 0.0, 1.0)
    cb, cr = chroma[:, 0:1], chroma[:, 1:2]
    dr = 2.0 * (1.0 - kr) * cr
    db = 2.0 * (1.0 - kb) * cb
    dg = -(kr * dr + kb * db) / (1.0 - kr - kb)
    delta = _cat((dr, dg, db), dim=1)
    # Largest s in 0..1 with y + s * delta inside 0..1 for every channel.
    room = _where(delta > 0, (1.0 - y) / _clip(delta, 1e-8), y / _clip(-delta, 1e-8))
    scale = _clip(_amin(room, dim=1), 0.0, 1.0)
    return _clip(y + scale * delta, 0.0, 1.0)


def merge_chroma(luma: Array, ab: Array, matrix: str = "bt601") -> Array:
    """Colour difference planes for a frame whose luma stays exactly ``luma``.

    The predicted chroma ``ab`` is rendered with the source's own lightness, and only its
    ``Cb/Cr`` are kept, so the output's ``Y'`` plane can be the source's, untouched (Dahl's
    YUV design).

    Args:
        luma: ``(B, 1, H, W)`` source ``Y'`` in 0..1 (full range).
        ab: ``(B, 2, H, W)`` predicted Lab chroma at the same size.
        matrix: ``"bt601"`` or ``"bt709"``, the matrix the output will be tagged with.

    Returns:
        ``(B, 2, H, W)`` full-range ``Cb, Cr`` in -0.5..0.5.
    """
    lab = _cat((luma_to_l(luma), ab), dim=1)
    return rgb_to_chroma(lab_to_rgb(lab), matrix)


def lab_to_chroma_codes(lum: np.ndarray, ab: np.ndarray, matrix: str, scale: float,
                        offset: float, top: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``Cb, Cr`` code planes of Lab given as ``L`` ``(H, W)`` and ``ab`` ``(H, W, 2)``.

    Codes: ``scale * C + offset``, rounded, within ``0..top``; float32 numpy in.
    :func:`merge_chroma` for a video frame's planes, in OpenCV calls on interleaved pixels (Lab
    to sRGB, then one matrix for both differences, the scale and the offset): 1.6x faster on a
    1080p frame's 4:2:0 chroma than the formulas, within one code.
    """
    import cv2

    # rgb_to_chroma is linear: its matrix is its output for pure R, G and B.
    rows = rgb_to_chroma(np.eye(3)[:, :, None, None], matrix)[:, :, 0, 0].T
    m = np.zeros((3, 4), np.float32)  # a third (unused) output row: OpenCV's fast 3x4 kernel
    m[:2, :3], m[:2, 3] = rows * scale, offset
    rgb = cv2.cvtColor(cv2.merge((lum, ab)), cv2.COLOR_Lab2RGB)
    codes = cv2.transform(rgb, m)
    if top == 255:
        out = cv2.convertScaleAbs(codes)  # rounded and saturated; the codes are >= 0
    else:
        out = np.clip(np.rint(codes), 0, top).astype(np.uint16)
    return out[..., 0].copy(), out[..., 1].copy()


def merge_rgb(luma: Array, ab: Array, matrix: str = "bt601") -> Array:
    """Colour image ``(B, 3, H, W)`` in 0..1 whose luma is ``luma`` (within rounding and gamut)."""
    return ycbcr_to_rgb(luma, merge_chroma(luma, ab, matrix), matrix)
