"""Propagated frames (``--every N``): which frames run the network, and that the bytes hold.

A frame between network frames takes its neighbour's chroma carried along the flow. The network
must still run at a cut, a flash and a pan the flow cannot follow; a still scene must be
propagated; ``--every 1`` is the network on every frame; and the frames that are propagated may
not depend on how the shot is split into segments or on an interruption.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import av
import numpy as np
import pytest
from media import make_video

from vidcolor.cli import main
from vidcolor.colorize import FrameColorizer
from vidcolor.config import TemporalConfig
from vidcolor.propagate import FLOW_FAILED_SHARE, lean, network_frame, propagates
from vidcolor.shot import Shot, shot_chroma
from vidcolor.temporal import ShotState, TemporalPrior

H, W = 72, 128


def _texture(seed: int, shift: int = 0) -> np.ndarray:
    """A smooth random texture ``(H, W)`` uint8, moved ``shift`` pixels to the right."""
    rng = np.random.default_rng(seed)
    big = rng.random((H // 4 + 1, (W + 200) // 4 + 1)).astype(np.float32)
    import cv2

    field = cv2.resize(big, ((W + 200) // 4 * 4 + 4, H // 4 * 4 + 4),
                       interpolation=cv2.INTER_CUBIC)[:H]
    field = field[:, 100 - shift:100 - shift + W]
    return np.clip(40 + 170 * field, 0, 255).astype(np.uint8)


def _decision(before: np.ndarray, after: np.ndarray, since: int = 1, every: int = 4) -> bool:
    """Whether ``after``, following ``before`` in a shot, is propagated (not a network frame)."""
    cfg = TemporalConfig(every=every)
    prior = TemporalPrior(cfg)
    prior.update(before, np.zeros((1, 2, H, W), np.float32))
    assert prior.carry(after) is not None
    return propagates(cfg, prior, after, since)


def test_a_still_scene_and_a_slow_pan_are_propagated():
    still = _texture(1)
    assert _decision(still, still)
    assert _decision(_texture(1, 0), _texture(1, 2))


def test_a_cut_runs_the_network():
    assert not _decision(_texture(1), _texture(2))


def test_a_flash_runs_the_network():
    frame = _texture(1)
    flash = np.clip(frame.astype(np.int16) + 40, 0, 255).astype(np.uint8)
    assert not _decision(frame, flash)
    dimmer = np.clip(frame.astype(np.int16) - 2, 0, 255).astype(np.uint8)
    assert _decision(frame, dimmer)  # an exposure drifting is not a flash


def test_a_pan_that_breaks_the_flow_runs_the_network():
    # Half the frame new: the flow of that half leaves the frame and fails the check.
    assert not _decision(_texture(1, 0), _texture(1, W // 2))


def test_the_network_runs_every_n_frames_and_at_re_anchoring():
    assert network_frame(4, 4, 16, 0.0, 0.0) and network_frame(4, 8, 16, 0.0, 0.0)
    assert not network_frame(4, 5, 16, 0.0, 0.0)
    assert network_frame(5, 16, 16, 0.0, 0.0)  # a re-anchoring frame
    assert network_frame(1, 5, 16, 0.0, 0.0)  # --every 1: every frame
    assert network_frame(4, 5, 16, FLOW_FAILED_SHARE + 0.01, 0.0)
    still = _texture(1)
    assert not _decision(still, still, since=4)
    assert not _decision(still, still, every=1)


def test_a_network_frame_after_propagated_ones_leans_less_on_them():
    w = np.full((1, 1, 2, 2), 0.9, np.float32)
    assert lean(w, None) is w  # right after a network frame, and --every 1: as before
    before = np.array([[0.9 ** 3, 0.9 ** 3], [0.9 ** 2 * 0.76, 0.0]], np.float32)
    np.testing.assert_allclose(lean(w, before)[0, 0], 0.9 * before, rtol=1e-6)


def test_where_the_flow_failed_on_the_way_the_next_network_frame_leans_least():
    # A pan of 8 pixels: the left strip of frame 2 is new (its flow leaves the frame).
    frames = [_texture(1, 0), _texture(1, 0), _texture(1, 8), _texture(1, 8), _texture(1, 8)]
    shot = Shot(FrameColorizer(CountingBackend(), temporal=TemporalConfig(every=4)))
    leans = []
    for f in frames:
        shot.colorize(f.astype(np.float32)[None, None] / 255.0)
        state = shot.state()
        leans.append(state.lean)
        restored = ShotState.from_arrays(state.arrays())  # it is part of the saved state
        assert (restored.lean is None) == (state.lean is None)
    assert leans[0] is None and leans[4] is None  # the anchor, and a network frame (since 4)
    assert leans[1] is not None and leans[3] is not None  # propagated
    np.testing.assert_allclose(leans[1], 0.95 * 0.95, rtol=1e-5)  # a still: blend x confidence
    inside = float(leans[3][:, 40:].mean())
    assert 0.95 ** 6 * 0.9 < inside < 0.95 ** 6 * 1.01  # three propagated frames
    assert float(leans[3][:, :4].max()) < 0.5 * inside  # the new strip: the network's


class CountingBackend:
    """A stand-in network: chroma from the luma and the prior; counts its calls."""

    name, precision = "counting", "fp32"

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        self.calls += 1
        own = np.concatenate([lum - 50.0, 30.0 - 0.5 * lum], axis=1) * 0.4
        return (prior[:, 2:3] * prior[:, :2] + (1.0 - prior[:, 2:3]) * own).astype(np.float32)


def _shot(frames: list[np.ndarray], every: int) -> tuple[list[np.ndarray], int]:
    backend = CountingBackend()
    col = FrameColorizer(backend, temporal=TemporalConfig(every=every))
    lumas = [f.astype(np.float32)[None, None] / 255.0 for f in frames]
    out = shot_chroma(col, lumas, 0)
    return out, backend.calls


def test_a_still_shot_runs_the_network_only_every_n_frames():
    frames = [_texture(1)] * 12
    _, calls = _shot(frames, 4)
    assert calls == 3  # the anchor, frames 4 and 8
    _, calls = _shot(frames, 1)
    assert calls == 12


def test_every_1_is_the_network_on_every_frame(monkeypatch):
    import vidcolor.shot

    frames = [_texture(1, 2 * t) for t in range(8)] + [_texture(3)] + [_texture(3)] * 3
    out, calls = _shot(frames, 1)
    assert calls == 12
    propagated, fewer = _shot(frames, 4)
    assert fewer < calls and any(not np.array_equal(a, b) for a, b in zip(out, propagated,
                                                                         strict=True))
    # --every 1 never propagates: the same chroma as with propagation taken out.
    monkeypatch.setattr(vidcolor.shot, "propagates", lambda *args: False)
    again, _ = _shot(frames, 1)
    for a, b in zip(out, again, strict=True):
        np.testing.assert_array_equal(a, b)


BASE = ["--render-size", "64", "-q", "--crf", "0", "--every", "4"]


def _planes(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def film(tmp_path_factory, random_weights):
    folder = tmp_path_factory.mktemp("propagate")
    src = make_video(folder / "three.mp4", 96, 64, frames=48, shots=3)
    ref = folder / "ref.mp4"
    assert main([str(src), "-o", str(ref), "--weights", str(random_weights),
                 "--segment-frames", "5", *BASE]) == 0
    return src, ref, ["--weights", str(random_weights)]


def test_propagated_frames_do_not_depend_on_segments(film, tmp_path, monkeypatch):
    import vidcolor.shot

    src, ref, w = film
    decide = vidcolor.shot.propagates
    propagated = []

    def counted(*args):
        propagated.append(decide(*args))
        return propagated[-1]

    monkeypatch.setattr(vidcolor.shot, "propagates", counted)
    for frames in ("3", "1000"):
        out = tmp_path / f"s{frames}.mp4"
        assert main([str(src), "-o", str(out), "--segment-frames", frames, *w, *BASE]) == 0
        for pa, pb in zip(_planes(ref), _planes(out), strict=True):
            np.testing.assert_array_equal(pa, pb)
    assert sum(propagated) > len(propagated) // 3  # most of these frames are propagated
    every1 = tmp_path / "every1.mp4"
    assert main([str(src), "-o", str(every1), *w, *BASE, "--every", "1"]) == 0
    assert any(not np.array_equal(pa, pb)
               for pa, pb in zip(_planes(ref), _planes(every1), strict=True))


def test_a_propagated_frame_after_a_resume_is_the_same_bytes(film, tmp_path):
    src, ref, w = film
    dst = tmp_path / "out.mp4"
    env = dict(os.environ)
    env.pop("VIDCOLOR_DEBUG", None)
    cmd = [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--segment-frames", "5",
           *w, *BASE]
    # (tests/test_resume.py kills the default render, --every 4 too, at ten more moments.)
    for kill in ("inference:19",):
        killed = subprocess.run(cmd, env={**env, "VIDCOLOR_KILL_AT": kill}, timeout=300,
                                capture_output=True, text=True)
        assert killed.returncode == -9, killed.stderr
        resumed = subprocess.run(cmd, env=env, timeout=300, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        assert dst.read_bytes() == ref.read_bytes(), kill
        dst.unlink()


def test_every_is_part_of_the_job(film, tmp_path):
    from vidcolor.config import JobConfig
    from vidcolor.segments import job_identity

    a = JobConfig()
    b = dataclasses.replace(a, temporal=dataclasses.replace(a.temporal, every=3))
    assert job_identity({}, a, 10, "x") != job_identity({}, b, 10, "x")
