"""The animation model (``--model animation``): CLI, weights check, flat regions."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from media import make_video, read_video

from vidcolor.cli import main
from vidcolor.config import JobConfig
from vidcolor.errors import ModelError
from vidcolor.regions import flatten_regions
from vidcolor.segments import output_settings
from vidcolor.weights import (
    ANIMATION_WEIGHTS_SHA256,
    SHIPPED_MODELS,
    default_weights_path,
    sha256_of,
    shipped_model,
    verify_weights,
)


def _drawing(h: int = 96, w: int = 128) -> np.ndarray:
    """A grey drawing: two flat areas of one grey, split by a dark line, a dark frame around."""
    img = np.full((h, w), 180, np.uint8)
    img[:, w // 2 - 1 : w // 2 + 1] = 20
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), 20, 2)
    return img


def test_animation_weights_are_verified_like_the_photo_weights(tmp_path):
    path = default_weights_path("animation")
    assert ANIMATION_WEIGHTS_SHA256 and sha256_of(path) == ANIMATION_WEIGHTS_SHA256
    assert verify_weights(model="animation").digest == ANIMATION_WEIGHTS_SHA256
    assert verify_weights(model="photo").digest != ANIMATION_WEIGHTS_SHA256
    bad = tmp_path / path.name
    shutil.copy(path, bad)
    bad.with_name(bad.name + ".sha256").write_text(ANIMATION_WEIGHTS_SHA256 + "\n")
    with bad.open("r+b") as fh:
        fh.seek(-8, 2)
        fh.write(b"\x00" * 8)
    with pytest.raises(ModelError, match="sha256"):
        verify_weights(bad)
    with pytest.raises(ModelError, match="unknown model"):
        shipped_model("cartoon")


def test_the_model_is_part_of_the_job_identity():
    photo = output_settings(JobConfig(), 100)
    anim = output_settings(JobConfig(model="animation"), 100)
    assert photo["model"] == "photo" and anim["model"] == "animation" and photo != anim


def test_unknown_model_is_a_usage_error(tmp_path, capsys):
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), _drawing())
    assert main([str(img), "-o", str(tmp_path / "out.png"), "--model", "cartoon"]) == 2
    err = capsys.readouterr().err
    assert "cartoon" in err and "photo" in err and "animation" in err
    assert not (tmp_path / "out.png").exists()


def test_cli_animation_model_on_an_image_and_a_video(tmp_path):
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), _drawing())
    assert main([str(img), "-o", str(tmp_path / "out.png"), "--model", "animation",
                 "--render-size", "64", "-q"]) == 0
    out = cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == (96, 128, 3)
    src = make_video(tmp_path / "in.mp4", frames=5)
    dst = tmp_path / "out.mp4"
    assert main([str(src), "-o", str(dst), "--model", "animation", "--render-size", "64",
                 "--preset", "ultrafast", "-q"]) == 0
    video = read_video(dst)
    assert len(video["y"]) == 5


def test_flat_regions_give_a_line_bounded_region_one_chroma():
    h, w = 96, 128
    luma = _drawing(h, w).astype(np.float32)[None, None] / 255.0
    rng = np.random.default_rng(0)
    # The network's chroma wanders inside each area: a ramp plus noise, other on each side.
    ramp = np.linspace(-30, 30, h, dtype=np.float32)[:, None]
    ab = np.zeros((1, 2, h, w), np.float32)
    ab[0, 0] = ramp + rng.normal(0, 5, (h, w))
    ab[0, 1, :, : w // 2] = 40 + rng.normal(0, 5, (h, w // 2))
    ab[0, 1, :, w // 2 :] = -40 + rng.normal(0, 5, (h, w - w // 2))
    out = flatten_regions(ab, luma)
    left, right = out[0, :, 8:-8, 8 : w // 2 - 8], out[0, :, 8:-8, w // 2 + 8 : -8]
    for side in (left, right):
        assert side.reshape(2, -1).std(1).max() < 1e-3  # one chroma
    assert left[1].mean() > 30 and right[1].mean() < -30  # the line keeps them apart
    assert ab[0, :, 8:-8, 8 : w // 2 - 8].reshape(2, -1).std(1).max() > 5  # it was not flat


def test_flat_regions_only_for_the_animation_model():
    assert not SHIPPED_MODELS["photo"].flat_regions


def test_api_takes_the_model():
    import vidcolor

    grey = np.dstack([_drawing()] * 3)
    photo = vidcolor.colorize_image(grey)
    anim = vidcolor.colorize_image(grey, model="animation")
    assert anim.shape == photo.shape == grey.shape
    assert not np.array_equal(anim, photo)  # other weights, other colours
    with pytest.raises(ModelError, match="unknown model"):
        vidcolor.colorize_image(grey, model="cartoon")


def test_a_hint_on_drawn_content_fills_the_region_it_is_put_in():
    from vidcolor.hints import Hint, hint_prior

    # Two flat areas split by a dark outline; one hint in the left area.
    luma = np.full((64, 96), 0.8, np.float32)
    luma[:, 47:49] = 0.02
    hint = Hint(frame=0, x=10.0, y=32.0, a=40.0, b=20.0, radius=3.0)
    drawn = hint_prior([hint], luma, (64, 96), fill_regions=True)
    plain = hint_prior([hint], luma, (64, 96))
    left, right = drawn[0, :, :, :46], drawn[0, :, :, 50:]
    # The whole left area is the hint's disc: its colour at full confidence, to the outline...
    assert np.allclose(left[:2], np.array([40.0, 20.0])[:, None, None])
    assert left[2].min() == pytest.approx(plain[0, 2].max())
    # ...where without regions the confidence fades away from the point.
    assert plain[0, 2, :, 40:46].max() < left[2].min()
    # Across the outline the hint hardly reaches (the edge-aware spread stops at the line).
    assert right[2].max() < 0.02


def test_the_animation_model_fills_a_hinted_region_and_the_photo_model_does_not():
    from vidcolor.colorize import FrameColorizer
    from vidcolor.hints import Hint
    from vidcolor.runner import make_colorizer
    from vidcolor.shot import AnchorInputs, anchor_frame

    drawn = make_colorizer(JobConfig(model="animation", backend="torch"))
    assert drawn.drawn and not make_colorizer(JobConfig(backend="torch")).drawn
    luma = np.full((1, 1, 64, 256), 0.8, np.float32)
    luma[..., 200:203] = 0.02  # an outline; the hint is far left of it
    inputs = AnchorInputs(hints=(Hint(frame=0, x=8.0, y=32.0, a=60.0, b=50.0, radius=3.0),))
    filled = anchor_frame(drawn, luma, inputs).ab
    plain = anchor_frame(FrameColorizer(drawn.backend, drawn.tile, drawn.temporal), luma,
                         inputs).ab
    hint = np.array([60.0, 50.0])[:, None]
    far = np.s_[0, :, 20:44, 150:190]  # inside the hinted area, far from the point
    err_filled = np.abs(filled[far].reshape(2, -1) - hint).mean()
    err_plain = np.abs(plain[far].reshape(2, -1) - hint).mean()
    assert err_filled < 0.5 * err_plain, (err_filled, err_plain)
