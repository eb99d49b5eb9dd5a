import itertools

import numpy as np
import pytest
from conftest import random_colorizer

from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.colorspace import rgb_to_luma
from vidcolor.config import TileConfig
from vidcolor.guided import guided_upsample
from vidcolor.resample import resize_area, resize_bilinear
from vidcolor.tiling import (
    WINDOW,
    WindowGrid,
    seam_score,
    window_starts,
    working_size,
)
from vidcolor.weights import default_weights_path, verify_weights


def _textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = 0.5 + 0.3 * np.sin(x / 7.0) * np.cos(y / 11.0) + 0.1 * rng.standard_normal((h, w))
    return img.clip(0, 1).astype(np.float32)[None, None]


@pytest.fixture(scope="module")
def backend():
    return create_backend("torch", random_colorizer, "cpu")


@pytest.mark.parametrize("h,w", [(256, 455), (241, 321), (1, 500), (17, 4099), (448, 796),
                                 (225, 225), (2160 // 4, 3840 // 4)])
def test_windows_cover_every_pixel_and_weights_sum_to_one(h, w):
    grid = WindowGrid(h, w, overlap=32)
    covered = np.zeros((h, w), bool)
    for y, x in grid.boxes():
        covered[y:y + grid.win_h, x:x + grid.win_w] = True
    assert covered.all()
    total = grid.weight_sum()
    assert np.allclose(total, np.ones_like(total), atol=1e-5)
    assert grid.win_h % 32 == 0 and grid.win_w % 32 == 0


def test_window_starts_keep_the_overlap():
    for length in (225, 300, 455, 1000, 3840):
        starts = window_starts(length, WINDOW, 32)
        assert starts[0] == 0 and starts[-1] == length - WINDOW
        assert all(b - a <= WINDOW - 32 for a, b in itertools.pairwise(starts))


@pytest.mark.parametrize("w,h", [(321, 241), (1, 500), (4099, 17), (64, 48)])
def test_awkward_sizes_keep_size_and_luminance(backend, w, h):
    col = FrameColorizer(backend, TileConfig(render_size=320, batch=4))
    luma = _textured(h, w)
    rgb = col.colorize_luma(luma)
    assert rgb.shape == (1, 3, h, w)
    assert np.isfinite(rgb).all()
    inside = (rgb > 0.002) & (rgb < 0.998)  # clipping at the gamut's edge may move luma
    mask = inside.all(axis=1, keepdims=True)
    assert np.abs((rgb_to_luma(rgb) - luma)[mask]).max() <= 1.0 / 255


def test_windows_are_used_above_the_global_size(backend):
    calls = []

    class Spy:
        name = "spy"
        precision = "fp32"

        def predict(self, lum, prior):
            calls.append(tuple(lum.shape))
            return backend.predict(lum, prior)

    col = FrameColorizer(Spy(), TileConfig(render_size=320, batch=4))
    col.predict_ab(_textured(360, 640))
    h, w = working_size(360, 640, 320)
    n = len(WindowGrid(h, w))
    assert calls[0][0] == 1 and calls[0][2] == 224  # the global pass
    assert sum(c[0] for c in calls[1:]) == n and all(c[1:] == (1, 224, 224) for c in calls[1:])


def test_batch_size_does_not_change_the_result(backend):
    luma = _textured(300, 520)
    a = FrameColorizer(backend, TileConfig(render_size=300, batch=1)).predict_ab(luma)
    b = FrameColorizer(backend, TileConfig(render_size=300, batch=7)).predict_ab(luma)
    # Only the summation order of the CPU's kernels may differ with the batch (1.07e-4 seen on
    # an AVX2-only CPU, under 1e-4 with AVX-512); a window mixed up would be off by units.
    assert np.abs(a - b).max() <= 1e-3


def test_seam_score_sees_a_seam():
    grid = WindowGrid(256, 455)
    ab = np.zeros((1, 2, 256, 455), np.float32)
    ab[..., :, 116:] = 20.0  # a chroma step exactly on a window edge
    noise = 0.5 * np.random.default_rng(0).standard_normal(ab.shape, np.float32)
    assert abs(seam_score(noise, grid.border_mask()) - 1.0) < 0.05
    assert seam_score(ab + noise, grid.border_mask()) > 1.3


@pytest.mark.skipif(not default_weights_path().exists(), reason="trained weights not shipped")
def test_flat_prior_over_the_frame_gives_no_seams():
    weights = verify_weights(default_weights_path())
    col = FrameColorizer(create_backend("torch", weights.load, "cpu"), TileConfig(render_size=320))
    luma = _textured(360, 640, seed=3)
    h, w = working_size(360, 640, 320)
    prior = np.zeros((1, 3, h, w), np.float32)
    prior[:, 0], prior[:, 1], prior[:, 2] = 12.0, 30.0, 1.0
    ab = col.predict_ab(luma, prior)
    assert seam_score(ab, col.grid(h, w).border_mask()) <= 1.05


def test_guided_upsample_keeps_chroma_off_the_other_side_of_an_edge():
    big = np.zeros((1, 1, 200, 200), np.float32)
    big[..., :, 101:] = 1.0  # a luminance edge between columns 100 and 101
    ab = np.zeros((1, 2, 200, 200), np.float32)
    ab[..., :, 101:] = 40.0
    small = resize_area(ab, (50, 50))
    plain = resize_bilinear(small, (200, 200))
    guided = guided_upsample(small, big)
    band = slice(94, 108)
    err_plain = np.abs((plain - ab)[..., band]).mean()
    err_guided = np.abs((guided - ab)[..., band]).mean()
    assert err_guided < 0.5 * err_plain
    # Flat regions keep their colour.
    assert np.abs((guided - ab)[..., :, :80]).max() < 1.0
