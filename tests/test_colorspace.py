"""Colour conversions: one implementation for numpy (inference) and torch (training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcolor import colorspace as cs


def _inputs() -> dict[str, tuple]:
    rng = np.random.default_rng(0)
    rgb = rng.random((2, 3, 24, 40), np.float32)
    rgb[0, :, 0, :4] = [[0.0], [0.5], [1.0]]  # gamut corners and a grey
    luma = rng.random((2, 1, 24, 40), np.float32)
    ab = (rng.standard_normal((2, 2, 24, 40)) * 40).astype(np.float32)
    lab = cs.rgb_to_lab(rgb)
    return {
        "srgb_to_linear": (rgb,), "linear_to_srgb": (rgb,), "rgb_to_lab": (rgb,),
        "lab_to_rgb": (lab,), "luma_to_l": (luma,), "l_to_luma": (luma * 100,),
        "rgb_to_luma": (rgb, "bt709"), "rgb_to_chroma": (rgb,),
        "ycbcr_to_rgb": (luma, ab / 100), "merge_chroma": (luma, ab),
        "merge_rgb": (luma, ab, "bt709"),
    }


@pytest.mark.parametrize("name", sorted(_inputs()))
def test_numpy_and_torch_agree(name):
    args = _inputs()[name]
    got = getattr(cs, name)(*args)
    want = getattr(cs, name)(*(torch.from_numpy(a) if isinstance(a, np.ndarray) else a
                               for a in args))
    assert isinstance(got, np.ndarray) and isinstance(want, torch.Tensor)
    assert got.dtype == np.float32 and want.dtype == torch.float32
    assert got.shape == tuple(want.shape)
    scale = max(1.0, float(np.abs(got).max()))  # Lab values reach ~100: relative float rounding
    # Lab -> sRGB runs through OpenCV for float32 numpy (speed): its tabulated sRGB curve and
    # rounded white point agree within 6e-4, a sixth of an 8-bit step.
    tolerance = 7e-4 if name in ("lab_to_rgb", "merge_chroma", "merge_rgb") else 2e-6 * scale
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=tolerance)


def test_torch_path_keeps_autograd_and_float64():
    rgb = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    lab = cs.rgb_to_lab(rgb)
    assert lab.dtype == torch.float64
    lab[:, 1:].abs().sum().backward()
    assert rgb.grad is not None and rgb.grad.abs().sum() > 0
    back = cs.lab_to_rgb(lab.detach())
    torch.testing.assert_close(back, rgb.detach(), atol=1e-6, rtol=0)


def test_round_trip_and_luma_kept_in_numpy():
    rng = np.random.default_rng(1)
    rgb = rng.random((1, 3, 16, 16), np.float32)
    np.testing.assert_allclose(cs.lab_to_rgb(cs.rgb_to_lab(rgb)), rgb, atol=2e-4)
    luma = rng.random((1, 1, 16, 16), np.float32)
    out = cs.merge_rgb(luma, (rng.standard_normal((1, 2, 16, 16)) * 20).astype(np.float32))
    inside = ((out > 0.002) & (out < 0.998)).all(axis=1, keepdims=True)
    assert np.abs(cs.rgb_to_luma(out) - luma)[inside].max() < 1e-5


@pytest.mark.parametrize(("dtype", "depth"), [(np.uint8, 8), (np.uint16, 10), (np.uint16, 16)])
@pytest.mark.parametrize("full_range", [True, False])
def test_plane_to_luma_table_is_the_arithmetic(dtype, depth, full_range):
    from vidcolor.planes import plane_to_luma

    top = np.iinfo(dtype).max
    plane = np.random.default_rng(depth).integers(0, top + 1, (40, 70)).astype(dtype)
    plane = plane[:, 3:61]  # a strided view, as a decoded frame's plane with line padding
    y = plane.astype(np.float32)
    unit = float(1 << (depth - 8))
    want = y / float((1 << depth) - 1) if full_range else \
        np.clip((y - 16.0 * unit) / (219.0 * unit), 0.0, 1.0)
    got = plane_to_luma(plane, full_range, depth)
    assert got.shape == (1, 1, 40, 58) and got.dtype == np.float32
    np.testing.assert_array_equal(got[0, 0], want)


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full_range,depth", [(False, 8), (True, 8), (False, 10)])
def test_chroma_codes_match_the_formulas(matrix, full_range, depth):
    # The render's OpenCV path to Cb/Cr codes against merge_chroma's formulas, rounded the same
    # way: within one code everywhere, and equal on nearly every sample.
    from vidcolor.colorspace import lab_to_chroma_codes

    rng = np.random.default_rng(5)
    luma = rng.random((1, 1, 40, 60), dtype=np.float32)
    ab = (rng.standard_normal((1, 2, 40, 60)) * 30).astype(np.float32)
    unit = float(1 << (depth - 8))
    scale = (255.0 * unit + unit - 1.0) if full_range else 224.0 * unit
    top = (1 << depth) - 1
    want = np.clip(np.round(cs.merge_chroma(luma, ab, matrix)[0] * scale + 128.0 * unit), 0, top)
    lum = cs.luma_to_l(luma)[0, 0].astype(np.float32)
    cb, cr = lab_to_chroma_codes(lum, np.ascontiguousarray(ab[0].transpose(1, 2, 0)), matrix,
                                 scale, 128.0 * unit, top)
    assert cb.dtype == (np.uint8 if depth == 8 else np.uint16) and cb.shape == (40, 60)
    got = np.stack((cb, cr)).astype(np.int64)
    diff = np.abs(got - want.astype(np.int64))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.02


def test_chroma_guides_are_the_planes_block_means():
    from vidcolor.planes import chroma_guides, plane_to_luma

    rng = np.random.default_rng(6)
    y = rng.integers(0, 256, (24, 32), dtype=np.uint8)
    full = plane_to_luma(y, False, 8)[0, 0]
    for shifts, (bh, bw) in (((1, 1), (2, 2)), ((1, 0), (1, 2)), ((0, 0), (1, 1))):
        luma, lum = chroma_guides(y, False, 8, shifts)
        assert luma.shape == (24 // bh, 32 // bw) == lum.shape
        blocks = full.reshape(24 // bh, bh, 32 // bw, bw)
        np.testing.assert_allclose(luma, blocks.mean(axis=(1, 3)), atol=1e-6)
        l_blocks = cs.luma_to_l(full).reshape(24 // bh, bh, 32 // bw, bw)
        np.testing.assert_allclose(lum, l_blocks.mean(axis=(1, 3)), atol=1e-3)
