"""Temporal prior: flow warp, forward-backward check, reset at cuts, the pipeline's use of it."""

from __future__ import annotations

import itertools
import pickle

import cv2
import numpy as np
import pytest
from conftest import random_colorizer
from media import make_video, read_video

from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import TemporalConfig, TileConfig
from vidcolor.shot import Shot
from vidcolor.temporal import (
    ShotState,
    TemporalPrior,
    chroma_stats,
    consistent,
    flow_between,
    hold_stats,
    warp,
)
from vidcolor.weights import default_weights_path


def texture(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 3)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def test_flow_warp_of_a_shifted_pattern_lines_up():
    big = texture(120, 160)
    prev, cur = big[10:106, 10:138], big[10:106, 14:142]  # the camera moved 4 px right
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    back = flow_between(dis, cur, prev)
    inner = (slice(16, -16), slice(16, -16))
    assert np.median(back[..., 0][inner]) == pytest.approx(4.0, abs=0.3)
    aligned = warp(prev.astype(np.float32), back)
    assert np.abs(aligned[inner] - cur[inner]).mean() < 2.0
    ok = consistent(back, flow_between(dis, prev, cur))
    assert ok[inner].mean() > 0.9
    assert not ok[:, -2:].any()  # pixels whose source left the frame are not trusted


def test_prior_carries_chroma_along_the_motion():
    tp = TemporalPrior(TemporalConfig(confidence=0.8, uncertain_confidence=0.3))
    big = texture(120, 160, seed=2)
    prev, cur = big[10:106, 10:138], big[10:106, 16:144]
    ab = np.zeros((1, 2, 96, 128), np.float32)
    ab[:, 0, :, 60:70] = 50.0  # a red stripe at x = 60..69 in the previous frame
    assert tp.carry(prev) is None
    tp.update(prev, ab)
    prior = tp.carry(cur)[0]
    assert prior is not None and prior.shape == (1, 3, 96, 128) and prior.dtype == np.float32
    stripe = prior[0, 0, 20:76].mean(0)
    assert stripe[54:64].mean() > 40 and np.abs(stripe[70:80]).mean() < 5  # moved 6 px left
    levels = np.unique(prior[0, 2])
    assert np.all((levels == 0) | (np.abs(levels - 0.8) < 1e-6) | (np.abs(levels - 0.3) < 1e-6))
    assert (prior[0, 2] > 0.5).mean() > 0.8
    # Pixels whose source lies outside the previous frame get nothing; pixels that fail the
    # forward-backward check keep the warped chroma at the lower confidence.
    assert (prior[0, 2, :, -4:] == 0).all() and (prior[0, :2, :, -4:] == 0).all()
    uncertain = np.abs(prior[0, 2] - 0.3) < 1e-6
    assert np.array_equal(uncertain, (
        ~consistent(flow_between(tp._dis, cur, prev), flow_between(tp._dis, prev, cur))
        & (prior[0, 2] > 0)))
    tp.reset()
    assert tp.carry(cur) is None


def _colorizer(temporal: bool, **cfg) -> FrameColorizer:
    backend = create_backend("torch", random_colorizer, "cpu")
    return FrameColorizer(backend, TileConfig(render_size=64),
                          TemporalConfig(enabled=temporal, **cfg))


def test_first_frame_after_a_cut_equals_its_independent_colorization():
    a, b = texture(48, 64, 1), texture(48, 64, 5)
    temporal, independent = Shot(_colorizer(True)), _colorizer(False)
    for t in range(3):
        temporal.chroma_planes(np.roll(a, t, axis=1), False, "bt601", True)
    temporal = Shot(temporal.colorizer)  # a cut
    got = temporal.chroma_planes(b, False, "bt601", True)
    want = independent.chroma_planes(b, False, "bt601", True)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    # Within a shot the prior is used: the next frame differs from its independent colorization.
    nxt = temporal.chroma_planes(np.roll(b, 1, axis=1), False, "bt601", True)
    ind = independent.chroma_planes(np.roll(b, 1, axis=1), False, "bt601", True)
    assert np.abs(nxt[0].astype(int) - ind[0]).max() > 0


def test_pipeline_resets_at_cuts_and_no_temporal_flag(tmp_path, random_weights):
    from vidcolor.cli import main

    src = make_video(tmp_path / "two.mp4", 96, 64, frames=24, shots=2)
    (tmp_path / "cuts.csv").write_text("12\n")
    for i, extra in enumerate(([], ["--no-temporal"], ["--shots", str(tmp_path / "cuts.csv")])):
        dst = tmp_path / f"out{i}.mp4"
        assert main([str(src), "-o", str(dst), "--weights", str(random_weights), "--render-size",
                     "64", "-q", *extra]) == 0
        assert len(read_video(dst)["y"]) == 24


@pytest.mark.skipif(not default_weights_path().exists(), reason="trained weights not shipped")
def test_static_video_is_stable_with_trained_weights(tmp_path):
    import av

    from vidcolor.cli import main

    src = tmp_path / "static.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("ffv1", rate=8)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        y = texture(64, 96, 3)
        for i in range(8):
            f = av.VideoFrame.from_ndarray(y, format="gray").reformat(format="yuv420p")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    dst = tmp_path / "o.mkv"
    # Default settings (render size 224): the trained network, at the resolution it runs at.
    assert main([str(src), "-o", str(dst), "--codec", "ffv1", "-q"]) == 0
    with av.open(str(dst)) as c:
        frames = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
    for a, b in itertools.pairwise(frames):
        assert np.abs(a - b).mean() < 1.0


def test_drift_guard_bounds_spread_and_hue_of_each_channel():
    rng = np.random.default_rng(0)
    spread, mean = np.float32([4, 10]).reshape(1, 2, 1, 1), np.float32([-2, 8]).reshape(1, 2, 1, 1)
    anchor = rng.standard_normal((1, 2, 40, 60), np.float32) * spread + mean
    target = chroma_stats(anchor)
    # Within the tolerance nothing changes.
    assert np.array_equal(hold_stats(anchor, target, 0.1), anchor)
    # A faded, hue-shifted frame is brought back to the tolerance's edge, and no further.
    drifted = anchor.copy()
    drifted[:, 0] = (anchor[:, 0] + 2.0) * 0.5 - 6.0
    drifted[:, 1] = anchor[:, 1] * 1.6
    fixed = chroma_stats(hold_stats(drifted, target, 0.1))
    assert fixed[1] == pytest.approx(0.9 * target[1], rel=1e-4)  # spread of a raised to -10%
    assert fixed[3] == pytest.approx(1.1 * target[3], rel=1e-4)  # spread of b cut to +10%
    slack_a = 0.1 * np.hypot(target[0], target[1])
    assert fixed[0] == pytest.approx(target[0] - slack_a, rel=1e-4)  # mean of a held
    before = chroma_stats(drifted)
    assert abs(fixed[0] - target[0]) < abs(before[0] - target[0])


def test_drift_guard_keeps_greys_grey():
    # Half blue sky, half grey road; the frame came out 60 % too colourful.
    target_ab = np.zeros((1, 2, 20, 40), np.float32)
    target_ab[:, 1, :10] = -30.0
    target = chroma_stats(target_ab)
    held = hold_stats(target_ab * 1.6, target, 0.2)
    assert chroma_stats(held)[3] == pytest.approx(1.2 * target[3], rel=1e-4)
    # The spread is cut toward neutral, not toward the (bluish) mean, which is within the
    # tolerance once scaled: the road stays grey (scaling about the mean gave it b = -1.2).
    assert np.abs(held[:, :, 10:]).max() < 1e-4


class _RunawayNet:
    """A stand-in network: with no prior, a fixed red with some spread; with a prior, the prior
    made 20 % more colourful (fed its own output, its colours would run away)."""

    name = "stub"
    precision = "fp32"

    def __init__(self) -> None:
        self.free_calls = 0

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        b, _, h, w = lum.shape
        if float(prior[:, 2].max()) == 0.0:
            self.free_calls += 1
            ab = np.zeros((b, 2, h, w), np.float32)
            ab[:, 0] = 12.0
            ab[:, 1] = np.linspace(-5, 5, w, dtype=np.float32)
            return ab
        return prior[:, :2] * 1.2


def test_shot_is_held_to_its_anchor_frame_and_runs_one_unconditioned_pass():
    cfg = TemporalConfig(blend=0.0, reanchor_every=0)  # the guard alone
    col = FrameColorizer(_RunawayNet(), TileConfig(render_size=64, saturation=1.0), cfg)
    luma = texture(48, 64, 3).astype(np.float32)[None, None] / 255.0
    shot = Shot(col)
    first = shot.colorize(luma)
    anchor = chroma_stats(first)
    for _ in range(200):
        last = shot.colorize(luma)
    assert col.backend.free_calls == 1  # the anchor; every other frame follows its neighbour
    held = chroma_stats(last)
    tol = cfg.drift_tolerance
    assert held[1] <= anchor[1] * (1 + tol) + 1e-3 and held[3] <= anchor[3] * (1 + tol) + 1e-3
    assert abs(held[0] - anchor[0]) <= tol * np.hypot(anchor[0], anchor[1]) + 1e-3


class _ChangingNet:
    """A stand-in network: with no prior, red as strong as the frame is bright; with a prior,
    the prior as it is (the loop alone would hold the first frame's red for ever)."""

    name = "stub"
    precision = "fp32"

    def __init__(self) -> None:
        self.free_calls = 0

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        if float(prior[:, 2].max()) > 0.0:
            return prior[:, :2].copy()
        self.free_calls += 1
        ab = np.zeros((lum.shape[0], 2, *lum.shape[2:]), np.float32)
        ab[:, 0] = 0.5 * lum.mean(axis=(1, 2, 3))[:, None, None]
        ab[:, 1] = np.linspace(-5, 5, lum.shape[3], dtype=np.float32)
        return ab


@pytest.mark.parametrize("every", [0, 5])
def test_re_anchoring_follows_what_the_shot_comes_to_show(every):
    cfg = TemporalConfig(blend=0.0, reanchor_every=every, reanchor_rate=0.2)
    net = _ChangingNet()
    col = FrameColorizer(net, TileConfig(render_size=64, saturation=1.0), cfg)
    base = texture(48, 64, 3).astype(np.float32)[None, None] / 255.0
    frames = [np.clip(base * (0.4 + 0.015 * t), 0, 1) for t in range(40)]  # brightening
    shot = Shot(col)
    got = [chroma_stats(shot.colorize(f))[0] for f in frames]
    own = [chroma_stats(FrameColorizer(_ChangingNet(), col.tile).predict_small(
        col.working_luma(f), None))[0] for f in frames]
    assert own[-1] > 1.5 * own[0]
    if every == 0:  # held to the anchor frame's colours
        assert net.free_calls == 1
        assert abs(got[-1] - own[0]) < 0.02 * own[0]
    else:  # one pass on its own every 5 frames, and the colours follow, gliding
        assert net.free_calls == 1 + 39 // 5
        assert own[-1] - 0.25 * (own[-1] - own[0]) < got[-1] < own[-1]  # lags, a little
        steps = np.abs(np.diff(got))
        assert steps.max() < 3 * np.median(steps) + 1e-3


@pytest.mark.parametrize("cfg", [{}, {"reanchor_every": 2, "reanchor_rate": 0.3}])
def test_a_shot_state_continues_a_shot_exactly_in_another_colorizer(cfg):
    frames = [texture(48, 64, 7)[:, t:t + 56].astype(np.float32)[None, None] / 255.0
              for t in range(6)]
    whole = Shot(_colorizer(True, **cfg))
    want = [whole.colorize(f) for f in frames]
    head = Shot(_colorizer(True, **cfg))
    for f in frames[:4]:  # with re-anchoring: after a re-anchor, the glide under way
        head.colorize(f)
    state = head.state()
    assert state is not None and not state.keyed
    # The state survives the trip through a file (a resume) and a pickle (a Ray worker).
    restored = ShotState.from_arrays(pickle.loads(pickle.dumps(state)).arrays())
    tail = Shot.resume(_colorizer(True, **cfg), restored)
    for f, w in zip(frames[4:], want[4:], strict=True):
        np.testing.assert_array_equal(tail.colorize(f), w)


class _LumaNet:
    """A stand-in network: chroma from the lightness, half the prior's where there is one."""

    name = "stub"
    precision = "fp32"

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        own = np.concatenate([0.3 * lum - 10.0, 0.1 * lum], axis=1).astype(np.float32)
        c = prior[:, 2:3]
        return (own * (1 - 0.5 * c) + 0.5 * c * prior[:, :2]).astype(np.float32)


def test_own_stats_are_the_full_passes_also_with_windows():
    col = FrameColorizer(_LumaNet(), TileConfig(render_size=320), TemporalConfig())
    small = col.working_luma(texture(240, 320, 9).astype(np.float32)[None, None] / 255.0)
    assert col.uses_windows(*small.shape[-2:])  # the cheap path is the one tested
    full = chroma_stats(col.predict_small(small, None, 1.0))
    np.testing.assert_allclose(col.own_stats(small), full, rtol=1e-3, atol=1e-3)
