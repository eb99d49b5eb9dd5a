"""Per-shot preview and keyframe-guided colorization."""

from __future__ import annotations

import json
import re

import av
import cv2
import numpy as np
import pytest
from media import gray_pattern, make_video, read_video

import vidcolor.pipeline as pipeline
import vidcolor.runner as runner
from vidcolor.cli import main
from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig
from vidcolor.scan import ScanResult, format_timecode, parse_timecode, representative_frame


class FollowPrior:
    """A test double for the network that copies its prior where the confidence is > 0.

    It makes the propagation of a keyframe through a shot exactly observable.
    """

    name = "follow"
    precision = "fp32"

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        return prior[:, :2] * (prior[:, 2:3] > 0)


@pytest.fixture
def follow(monkeypatch):
    def make(cfg: JobConfig, weights: object = None) -> FrameColorizer:
        return FrameColorizer(FollowPrior(), cfg.tile, cfg.temporal)

    monkeypatch.setattr(pipeline, "make_colorizer", make)
    monkeypatch.setattr(runner, "make_colorizer", make)


def test_timecodes_round_trip():
    assert format_timecode(83.456) == "00:01:23.456"
    assert format_timecode(3723.5, "-") == "01-02-03.500"
    assert parse_timecode("01-02-03.500") == pytest.approx(3723.5)


def test_representative_frame_avoids_a_fade_in():
    n = 20
    std = np.full(n, 40.0, np.float32)
    std[:6] = np.linspace(1, 30, 6)  # fading in
    sharp = np.ones(n, np.float32)
    sharp[4] = 100.0  # a sharp frame inside the fade (noise, say)
    sharp[11] = 10.0
    scan = ScanResult(cuts=[], frames=n, times=np.arange(n) / 24.0, mean=std, std=std,
                      sharpness=sharp)
    assert representative_frame(scan, 0, n - 1) == 11


def test_preview_of_three_shots(tmp_path, random_weights, monkeypatch):
    src = make_video(tmp_path / "a&b <film>.mp4", 96, 64, frames=36, shots=3)
    out = tmp_path / "preview"
    assert main([str(src), "--preview", str(out), "--weights", str(random_weights),
                 "--render-size", "64", "-q"]) == 0
    data = json.loads((out / "shots.json").read_text())
    shots = data["shots"]
    assert [(s["start_frame"], s["end_frame"]) for s in shots] == [(0, 11), (12, 23), (24, 35)]
    for s in shots:
        assert s["start_frame"] <= s["preview_frame"] <= s["end_frame"]
        color = cv2.imread(str(out / s["image"]))
        gray = cv2.imread(str(out / s["gray_image"]))
        assert color.shape == gray.shape == (64, 96, 3)
        assert np.abs(color.astype(int) - gray).max() > 0  # the preview is colorized
        assert re.fullmatch(r"shot-\d{4}_\d{2}-\d{2}-\d{2}\.\d{3}\.png", s["image"])
    assert len(list(out.glob("shot-*_gray.png"))) == 3
    page = (out / "index.html").read_text()
    assert "<film>" not in page and "a&amp;b &lt;film&gt;" in page
    refs = re.findall(r'src="([^"]+)"', page)
    assert len(refs) == 6 and all((out / ref).is_file() for ref in refs)
    # A second preview into the same folder needs -y.
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    assert main([str(src), "--preview", str(out), "--weights", str(random_weights), "-q"]) == 1


def test_preview_or_output_is_required(tmp_path):
    src = make_video(tmp_path / "v.mp4")
    assert main([str(src)]) == 2
    assert main([str(src), "-o", str(tmp_path / "o.mp4"), "--preview", str(tmp_path / "p")]) == 2


def _keyframe(path, frame_index, a, b):
    """A colour image of a frame of the 3-shot test video with Lab chroma (a, b)."""
    y = gray_pattern(96, 64, frame_index, frame_index * 3 // 36)
    lab = np.stack([y.astype(np.float32) * 100 / 255, np.full_like(y, a, np.float32),
                    np.full_like(y, b, np.float32)], -1)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    cv2.imwrite(str(path), (rgb[:, :, ::-1] * 255 + 0.5).clip(0, 255).astype(np.uint8))


def _chroma_means(path):
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    out = []
    for rgb in frames:
        lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
        out.append((lab[..., 1].mean(), lab[..., 2].mean()))
    return np.array(out)


def test_keyframe_steers_its_shot_both_ways_and_leaves_others(tmp_path, follow):
    src = make_video(tmp_path / "three.mp4", 96, 64, frames=36, shots=3)
    keys = tmp_path / "keys"
    keys.mkdir()
    # Named as --preview names it: frame 18 is at 0.750 s (24 fps).
    _keyframe(keys / "shot-0002_00-00-00.750.png", 18, 40.0, -30.0)
    plain, keyed = tmp_path / "plain.mp4", tmp_path / "keyed.mp4"
    base = ["--render-size", "64", "-q", "--crf", "0"]
    assert main([str(src), "-o", str(plain), *base]) == 0
    assert main([str(src), "-o", str(keyed), "--keyframes", str(keys), *base]) == 0
    a, b = _chroma_means(plain), _chroma_means(keyed)
    assert len(b) == 36
    for y_out, y_in in zip(read_video(keyed)["y"], read_video(src)["y"], strict=True):
        assert np.abs(y_out.astype(int) - y_in).max() <= 1  # luminance kept
    shot2 = b[12:24]
    assert (shot2[:, 0] > 20).all() and (shot2[:, 1] < -15).all()  # before and after frame 18
    np.testing.assert_allclose(b[:12], a[:12], atol=0.5)  # shot 1 untouched
    np.testing.assert_allclose(b[24:], a[24:], atol=0.5)  # shot 3 untouched


def test_keyframe_by_frame_number_and_a_wrong_keyframe(tmp_path, follow, capsys, monkeypatch):
    src = make_video(tmp_path / "three.mp4", 96, 64, frames=36, shots=3)
    good = tmp_path / "good.png"
    _keyframe(good, 30, -20.0, 40.0)
    dst = tmp_path / "o.mp4"
    assert main([str(src), "-o", str(dst), "--keyframe", f"30={good}", "--render-size", "64",
                 "-q"]) == 0
    means = _chroma_means(dst)
    assert (means[24:, 1] > 20).all()
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    noise = tmp_path / "noise.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(noise), rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    bad = tmp_path / "bad.mp4"
    assert main([str(src), "-o", str(bad), "--keyframe", f"20={noise}", "--render-size", "64",
                 "-q"]) == 1
    assert "does not match" in capsys.readouterr().err
    assert not bad.exists()
    assert main([str(src), "-o", str(bad), "--keyframe", f"20={good}", "--no-temporal",
                 "-q"]) == 1


@pytest.mark.parametrize(("seek_seconds", "kept_frames"), [(0.0, 0), (10.0, 0), (10.0, 100)])
def test_stills_from_the_scan_or_by_seeking_are_the_frames_decoded_in_order(
        tmp_path, monkeypatch, seek_seconds, kept_frames):
    import vidcolor.preview as preview
    from vidcolor.config import ShotConfig
    from vidcolor.probe import read_media_info
    from vidcolor.scan import scan_video

    src = make_video(tmp_path / "long.mp4", frames=620, shots=3)
    truth = read_video(src)["y"]
    info = read_media_info(src)
    scan = scan_video(src, info, ShotConfig(), detect=False,
                      keep_bytes=kept_frames * truth[0].nbytes)
    assert sorted(scan.lumas) == list(range(kept_frames))
    wanted = [0, 7, 8, 250, 251, 499, 619]
    monkeypatch.setattr(preview, "SEEK_SECONDS", seek_seconds)
    got = dict(preview._still_lumas(src, info, scan, wanted))
    assert sorted(got) == wanted
    for i in wanted:
        assert np.array_equal(got[i], truth[i]), i
    # Without timestamps the frames are decoded in order.
    scan.pts = [None] * len(scan.pts)
    got = dict(preview._still_lumas(src, info, scan, wanted))
    assert sorted(got) == wanted and all(np.array_equal(got[i], truth[i]) for i in wanted)
