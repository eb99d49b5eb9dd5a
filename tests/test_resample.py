"""The numpy resamplings used at inference give what torch's did (they replaced them)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidcolor.resample import resize_area, resize_bilinear, shrink_area

# (input H, W) -> (output h, w): integer and non-integer factors, down and up, one side only,
# the sample film at the working size and at --render-size 448, sides of 1.
SIZES = [
    ((270, 480), (224, 398)), ((270, 480), (448, 796)), ((224, 398), (224, 224)),
    ((64, 96), (32, 48)), ((10, 7), (3, 5)), ((5, 9), (10, 17)), ((1, 500), (1, 224)),
    ((17, 4099), (4, 900)), ((100, 100), (100, 33)), ((33, 20), (33, 20)), ((3, 3), (1, 1)),
]


def _random(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape, np.float32) * 200 - 100).astype(np.float32)


@pytest.mark.parametrize(("src", "dst"), SIZES)
def test_area_is_torch_area(src, dst):
    x = _random((2, 3, *src), seed=sum(src))
    want = F.interpolate(torch.from_numpy(x), size=dst, mode="area").numpy()
    got = resize_area(x, dst)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-5)  # values up to 100: float rounding


def test_area_is_not_opencv_inter_area():
    # For a non-integer factor torch's bins are whole input pixels (overlapping), OpenCV's
    # weigh fractions: the difference is large, so the test above does tell them apart.
    import cv2

    x = _random((1, 1, 270, 480), seed=1)
    cv = cv2.resize(x[0, 0], (398, 224), interpolation=cv2.INTER_AREA)
    assert np.abs(resize_area(x, (224, 398))[0, 0] - cv).max() > 1.0


@pytest.mark.parametrize(("src", "dst"), SIZES)
def test_bilinear_is_torch_bilinear(src, dst):
    # On white noise a sample placed one float32 step away would show: torch's kernels here
    # round the position's multiply-add once (FMA), and so does resize_bilinear.
    x = _random((1, 2, *src), seed=sum(dst))
    want = F.interpolate(torch.from_numpy(x), size=dst, mode="bilinear",
                         align_corners=False).numpy()
    got = resize_bilinear(x, dst)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-5)


@pytest.mark.parametrize("size", [(270, 480), (64, 96), (2, 2), (7, 9)])
def test_the_chroma_guide_is_avg_pool2d(size):
    # 4:2:0: the guide luma at the chroma's size is the 2x2 mean (odd sides: the last row or
    # column left out, as avg_pool2d does).
    from vidcolor.planes import chroma_guides

    y = np.random.default_rng(3).integers(0, 256, size, dtype=np.uint8)
    x = y.astype(np.float32)[None, None] / 255.0
    want = F.avg_pool2d(torch.from_numpy(x), 2).numpy()[0, 0]
    got, _ = chroma_guides(y, True, 8, (1, 1))
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


def test_shrink_area_is_the_exact_footprint_mean():
    # 3 -> 2 samples: output 0 covers input [0, 1.5), output 1 covers [1.5, 3).
    x = np.array([[[[0.0, 3.0, 6.0]] * 3]], np.float32)
    got = shrink_area(x, (2, 2))
    np.testing.assert_allclose(got[0, 0, 0], [(0 + 0.5 * 3) / 1.5, (0.5 * 3 + 6) / 1.5],
                               atol=1e-5)
    assert got.shape == (1, 1, 2, 2) and got.dtype == np.float32
    # A smooth ramp stays a ramp; torch's whole-pixel bins differ by a fraction of a step.
    ramp = np.tile(np.linspace(0, 1, 480, dtype=np.float32), (270, 1))[None, None]
    assert np.abs(shrink_area(ramp, (224, 398)) - resize_area(ramp, (224, 398))).max() < 3e-3
