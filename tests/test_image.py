"""Still-image mode: formats, bit depths, gray/RGB, EXIF orientation, folders, the API."""

from __future__ import annotations

import re
import struct

import cv2
import numpy as np
import pytest
from conftest import random_colorizer
from media import gray_pattern

import vidcolor
from vidcolor.backends import create_backend
from vidcolor.cli import main
from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig, TileConfig
from vidcolor.image import colorize_array


def luma601(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 0.299 * r + 0.587 * g + 0.114 * b


@pytest.fixture(scope="module")
def colorizer():
    return FrameColorizer(create_backend("torch", random_colorizer, "cpu"), TileConfig(64))


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif", ".webp", ".bmp"])
def test_formats(tmp_path, random_weights, ext):
    cv2.imwrite(str(tmp_path / f"in{ext}"), gray_pattern(50, 40, 0))
    out = tmp_path / f"out{ext}"
    assert main([str(tmp_path / f"in{ext}"), "-o", str(out), "--weights", str(random_weights),
                 "--render-size", "64", "-q"]) == 0
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape == (40, 50, 3)


def test_luminance_kept_8bit(colorizer):
    gray = gray_pattern(70, 45, 3)
    rgb = colorize_array(colorizer, gray, 255)
    assert rgb.dtype == np.uint8 and rgb.shape == (45, 70, 3)
    assert np.abs(luma601(rgb) - gray).max() <= 1.0
    assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2]).mean() > 1  # coloured, not grey


def test_16bit_kept_and_luminance(tmp_path, random_weights):
    gray = (gray_pattern(40, 32, 0).astype(np.uint16) * 257) + 3
    cv2.imwrite(str(tmp_path / "in.png"), gray)
    assert main([str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--weights",
                 str(random_weights), "--render-size", "64", "-q"]) == 0
    out = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (32, 40, 3)
    assert np.abs(luma601(out[..., ::-1]) - gray).max() <= 257


def test_rgb_input_colorized_from_its_luminance(colorizer):
    gray = gray_pattern(48, 32, 1)
    rgb_in = np.stack([gray] * 3, -1)
    tinted = rgb_in.copy()
    tinted[..., 0] = np.clip(tinted[..., 0].astype(int) + 40, 0, 255)
    a = colorize_array(colorizer, rgb_in, 255)
    b = colorize_array(colorizer, gray, 255)
    np.testing.assert_array_equal(a, b)
    # A tinted input only matters through its luminance.
    c = colorize_array(colorizer, tinted, 255)
    assert np.abs(luma601(c) - luma601(tinted)).max() <= 1.0


def _jpeg_with_orientation(path, img, orientation):
    _, buf = cv2.imencode(".jpg", img)
    data = buf.tobytes()
    ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x0112, 3, 1, orientation << 16)
    tiff = b"MM\x00*" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    path.write_bytes(data[:2] + segment + data[2:])


def test_exif_orientation_honoured(tmp_path, random_weights):
    img = gray_pattern(60, 30, 0)  # landscape as stored
    _jpeg_with_orientation(tmp_path / "in.jpg", img, 6)  # 6: display rotated 90° clockwise
    assert main([str(tmp_path / "in.jpg"), "-o", str(tmp_path / "o.png"), "--weights",
                 str(random_weights), "--render-size", "64", "-q"]) == 0
    assert cv2.imread(str(tmp_path / "o.png")).shape[:2] == (60, 30)


def test_folder_mode(tmp_path, random_weights, caplog):
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), gray_pattern(40, 30, 0))
    cv2.imwrite(str(src / "b.jpg"), gray_pattern(30, 40, 1))
    (src / "notes.txt").write_text("not an image")
    dst = tmp_path / "out"
    assert main([str(src), "-o", str(dst), "--weights", str(random_weights), "--render-size",
                 "64"]) == 0
    assert sorted(p.name for p in dst.iterdir()) == ["a.png", "b.jpg", "vidcolor-batch.json"]
    assert any("notes.txt" in r.getMessage() for r in caplog.records)


def test_api_colorize_image_array_and_path(tmp_path, random_weights):
    cfg = JobConfig(weights=random_weights, tile=TileConfig(render_size=64))
    gray = gray_pattern(50, 34, 2)
    out = vidcolor.colorize_image(gray, cfg)
    assert out.shape == (34, 50, 3) and out.dtype == np.uint8
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    np.testing.assert_array_equal(vidcolor.colorize_image(tmp_path / "g.png", cfg), out)


@pytest.mark.parametrize("shape, dtype", [((0, 0), np.uint8), ((1, 40), np.uint8),
                                           ((30, 40, 2), np.uint8), ((30, 40, 5), np.uint8),
                                           ((3, 30, 40), np.uint16), ((2, 30, 40, 3), np.uint8),
                                           ((30, 40), np.float32), ((30, 40, 3), np.int64)])
def test_api_refuses_arrays_it_cannot_colorize_naming_the_shape(random_weights, shape, dtype):
    cfg = JobConfig(weights=random_weights, tile=TileConfig(render_size=64))
    with pytest.raises(vidcolor.InputError, match=re.escape(str(shape))):
        vidcolor.colorize_image(np.zeros(shape, dtype), cfg)


def test_api_takes_gray_with_a_channel_axis_and_rgba_keeping_alpha(tmp_path, random_weights):
    cfg = JobConfig(weights=random_weights, tile=TileConfig(render_size=64))
    gray = gray_pattern(50, 34, 2)
    plain = vidcolor.colorize_image(gray, cfg)
    np.testing.assert_array_equal(vidcolor.colorize_image(gray[:, :, None], cfg), plain)
    alpha = np.tile(np.arange(50, dtype=np.uint8) * 5, (34, 1))
    rgba = np.dstack([gray, gray, gray, alpha])
    out = vidcolor.colorize_image(rgba, cfg)
    assert out.shape == (34, 50, 4)
    np.testing.assert_array_equal(out[:, :, 3], alpha)
    np.testing.assert_array_equal(out[:, :, :3], plain)
    # A PNG with alpha keeps it through the CLI too; a JPEG cannot hold it (dropped).
    cv2.imwrite(str(tmp_path / "a.png"), rgba[:, :, [2, 1, 0, 3]])
    for ext, channels in ((".png", 4), (".jpg", 3)):
        dst = tmp_path / f"out{ext}"
        assert main([str(tmp_path / "a.png"), "-o", str(dst), "--weights", str(random_weights),
                     "--render-size", "64", "-q"]) == 0
        back = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
        assert back.shape == (34, 50, channels)
        if channels == 4:
            np.testing.assert_array_equal(back[:, :, 3], alpha)


def test_api_colorize_video_refuses_what_is_not_a_path(tmp_path):
    with pytest.raises(vidcolor.InputError, match="src is a ndarray"):
        vidcolor.colorize_video(np.zeros((4, 4), np.uint8), tmp_path / "o.mp4")


def test_api_colorize_video(tmp_path, random_weights):
    from media import make_video, read_video

    src = make_video(tmp_path / "in.mp4", frames=5)
    vidcolor.colorize_video(src, tmp_path / "o.mp4", weights=random_weights, render_size=64,
                            preset="ultrafast")
    assert len(read_video(tmp_path / "o.mp4")["y"]) == 5
    with pytest.raises(TypeError):
        vidcolor.colorize_video(src, tmp_path / "p.mp4", no_such_option=1)


def test_saturation_zero_gives_the_gray_source(colorizer):
    gray = gray_pattern(40, 32, 2)
    zero = FrameColorizer(colorizer.backend, TileConfig(render_size=64, saturation=0.0))
    rgb = colorize_array(zero, gray, 255).astype(int)
    assert np.abs(rgb - gray[..., None]).max() <= 1


def test_gain_sweep_is_evaluate_folder_at_each_gain(tmp_path, random_weights):
    # The frontier figure's sweep runs the network once and scales its chroma per gain; it
    # must give what evaluating at that --saturation gives.
    import cv2

    from vidcolor.backends import create_backend
    from vidcolor.colorize import FrameColorizer
    from vidcolor.config import TileConfig
    from vidcolor.lab.evaluation import evaluate_folder, gain_sweep
    from vidcolor.weights import verify_weights

    rng = np.random.default_rng(3)
    for k in range(2):
        img = cv2.GaussianBlur(rng.integers(0, 256, (40, 56, 3), np.uint8), (0, 0), 3)
        cv2.imwrite(str(tmp_path / f"p{k}.png"), img)
    weights = verify_weights(random_weights)
    backend = create_backend("torch", weights.load, "cpu", weights.digest)
    sweep = gain_sweep(FrameColorizer(backend, TileConfig(render_size=32, saturation=1.0)),
                       tmp_path, [1.0, 1.5])
    for point in sweep:
        tile = TileConfig(render_size=32, saturation=point.gain)
        full = evaluate_folder(FrameColorizer(backend, tile), tmp_path)
        assert point.psnr_over_gray == pytest.approx(full.psnr - full.psnr_gray, abs=1e-6)
        assert point.cf_ratio == pytest.approx(full.cf / full.cf_truth, abs=1e-6)
        assert point.top1_over_gray == pytest.approx(100 * (full.top1 - full.top1_gray))
    assert sweep[1].cf_ratio > sweep[0].cf_ratio
