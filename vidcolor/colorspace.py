"""Colour-space conversions in pure torch: sRGB <-> CIE Lab (D65), and the luminance merge.

Conventions used everywhere in vidcolor:

* RGB tensors are ``(B, 3, H, W)`` float, sRGB-encoded, in ``0..1``.
* Lab tensors are ``(B, 3, H, W)``: ``L`` in ``0..100``, ``a`` and ``b`` roughly in ``-110..110``.
* ``L`` alone is ``(B, 1, H, W)``; chroma ``ab`` is ``(B, 2, H, W)``.
* Luma ``Y'`` (what a video's Y plane holds, after range expansion) is ``(B, 1, H, W)`` in ``0..1``.
"""

from __future__ import annotations

import torch

# D65 white point, CIE XYZ.
_WHITE = (0.95047, 1.0, 1.08883)
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_EPS = 6.0 / 29.0

# ITU-R BT.601 / BT.709 luma coefficients (Kr, Kb).
LUMA_COEFFS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode the sRGB transfer curve; any shape, values in 0..1."""
    return torch.where(x > 0.04045, ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode with the sRGB transfer curve; any shape, values in 0..1."""
    x = x.clamp(0.0, 1.0)
    high = 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055
    return torch.where(x > 0.0031308, high, 12.92 * x)


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPS**3, t.clamp(min=_EPS**3) ** (1 / 3), t / (3 * _EPS**2) + 4 / 29)


def _f_inv(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPS, t**3, 3 * _EPS**2 * (t - 4 / 29))


def _matrix(rows: tuple[tuple[float, ...], ...], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Convert ``(B, 3, H, W)`` sRGB in 0..1 to Lab (L 0..100, a/b about -110..110)."""
    lin = srgb_to_linear(rgb.clamp(0.0, 1.0))
    xyz = torch.einsum("ij,bjhw->bihw", _matrix(_RGB_TO_XYZ, rgb), lin)
    white = torch.tensor(_WHITE, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    fx, fy, fz = _f(xyz / white).unbind(1)
    lum = 116.0 * fy - 16.0
    return torch.stack((lum, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Convert ``(B, 3, H, W)`` Lab to sRGB in 0..1 (out-of-gamut colours are clipped)."""
    lum, a, b = lab.unbind(1)
    fy = (lum + 16.0) / 116.0
    fxyz = torch.stack((fy + a / 500.0, fy, fy - b / 200.0), dim=1)
    white = torch.tensor(_WHITE, dtype=lab.dtype, device=lab.device).view(1, 3, 1, 1)
    xyz = _f_inv(fxyz) * white
    inv = torch.linalg.inv(_matrix(_RGB_TO_XYZ, lab).double()).to(lab.dtype)
    lin = torch.einsum("ij,bjhw->bihw", inv, xyz)
    return linear_to_srgb(lin)


def luma_to_l(luma: torch.Tensor) -> torch.Tensor:
    """Lab ``L`` (0..100) of a grey pixel whose sRGB value is ``luma`` (0..1); any shape."""
    return 116.0 * _f(srgb_to_linear(luma.clamp(0.0, 1.0))) - 16.0


def l_to_luma(lum: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`luma_to_l`: the sRGB grey value (0..1) of lightness ``L``; any shape."""
    return linear_to_srgb(_f_inv((lum + 16.0) / 116.0))


def rgb_to_luma(rgb: torch.Tensor, matrix: str = "bt601") -> torch.Tensor:
    """Luma ``Y'`` in 0..1, ``(B, 1, H, W)``, of ``(B, 3, H, W)`` sRGB in 0..1."""
    kr, kb = LUMA_COEFFS[matrix]
    r, g, b = rgb.unbind(1)
    return (kr * r + (1.0 - kr - kb) * g + kb * b).unsqueeze(1)


def rgb_to_chroma(rgb: torch.Tensor, matrix: str = "bt601") -> torch.Tensor:
    """Full-range colour differences ``(Cb, Cr)`` in -0.5..0.5, ``(B, 2, H, W)``."""
    kr, kb = LUMA_COEFFS[matrix]
    y = rgb_to_luma(rgb, matrix)
    r, _, b = rgb.unbind(1)
    cb = (b.unsqueeze(1) - y) / (2.0 * (1.0 - kb))
    cr = (r.unsqueeze(1) - y) / (2.0 * (1.0 - kr))
    return torch.cat((cb, cr), dim=1)


def ycbcr_to_rgb(luma: torch.Tensor, chroma: torch.Tensor, matrix: str = "bt601") -> torch.Tensor:
    """Full-range ``Y'`` ``(B, 1, H, W)`` 0..1 and ``CbCr`` ``(B, 2, H, W)`` to sRGB in 0..1.

    Out-of-gamut pixels are desaturated towards grey of the same ``Y'`` rather than clipped per
    channel, so the luma of the result equals ``luma`` (up to float rounding).
    """
    kr, kb = LUMA_COEFFS[matrix]
    y = luma.clamp(0.0, 1.0)
    cb, cr = chroma[:, 0:1], chroma[:, 1:2]
    dr = 2.0 * (1.0 - kr) * cr
    db = 2.0 * (1.0 - kb) * cb
    dg = -(kr * dr + kb * db) / (1.0 - kr - kb)
    delta = torch.cat((dr, dg, db), dim=1)
    # Largest s in 0..1 with y + s * delta inside 0..1 for every channel.
    room = torch.where(delta > 0, (1.0 - y) / delta.clamp(min=1e-8), y / (-delta).clamp(min=1e-8))
    scale = room.amin(dim=1, keepdim=True).clamp(0.0, 1.0)
    return (y + scale * delta).clamp(0.0, 1.0)


def merge_chroma(luma: torch.Tensor, ab: torch.Tensor, matrix: str = "bt601") -> torch.Tensor:
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
    lab = torch.cat((luma_to_l(luma), ab), dim=1)
    return rgb_to_chroma(lab_to_rgb(lab), matrix)


def merge_rgb(luma: torch.Tensor, ab: torch.Tensor, matrix: str = "bt601") -> torch.Tensor:
    """Colour image ``(B, 3, H, W)`` in 0..1 whose luma is ``luma`` (within rounding and gamut)."""
    return ycbcr_to_rgb(luma, merge_chroma(luma, ab, matrix), matrix)
