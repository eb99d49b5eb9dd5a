"""A shot's colour state: one owner (Shot), a stateless FrameColorizer, one anchor-frame recipe."""

from __future__ import annotations

import itertools
import json

import av
import cv2
import numpy as np
from media import make_video

from vidcolor.colorize import FrameColorizer
from vidcolor.config import TemporalConfig, TileConfig
from vidcolor.hints import Hint
from vidcolor.shot import AnchorInputs, Shot, anchor_frame
from vidcolor.temporal import ShotState


def _frames(seed: int, n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 1, (48, 64 + 2 * n)).astype(np.float32), (0, 0), 3)
    big = cv2.normalize(big, None, 0, 1, cv2.NORM_MINMAX)
    return [big[None, None, :, 2 * t:2 * t + 64].copy() for t in range(n)]


class _Net:
    """A stand-in network (the real one is slow on CPU): chroma from the lightness's texture,
    leaning on the prior by its confidence."""

    name = "stub"
    precision = "fp32"

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        own = np.concatenate([lum - lum.mean(), 0.5 * lum[..., ::-1, :] - 20.0], axis=1)
        c = prior[:, 2:3]
        return (own * (1 - 0.7 * c) + 0.7 * c * prior[:, :2]).astype(np.float32)


def _colorizer() -> FrameColorizer:
    return FrameColorizer(_Net(), TileConfig(render_size=48), TemporalConfig(reanchor_every=2))


def test_interleaved_shots_on_one_colorizer_give_what_each_gives_alone():
    key = np.full((1, 2, 48, 64), 20.0, np.float32)
    inputs = [AnchorInputs(),
              AnchorInputs(hints=(Hint(frame=0, x=20, y=24, a=40.0, b=-30.0, radius=3),)),
              AnchorInputs(keyframe=key)]
    frames = [_frames(seed) for seed in range(3)]
    alone = []
    for i, inp in enumerate(inputs):
        shot = Shot(_colorizer(), inp)
        alone.append([shot.colorize(f) for f in frames[i]])
    col = _colorizer()
    held = dict(vars(col))
    shots = [Shot(col, inp) for inp in inputs]
    together: list[list[np.ndarray]] = [[], [], []]
    for t, i in itertools.product(range(6), range(3)):
        together[i].append(shots[i].colorize(frames[i][t]))
    for a, b in zip(alone, together, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    # The colorizer's fields are its settings and a window-grid cache, nothing of a shot.
    assert set(vars(col)) == {"backend", "tile", "temporal", "drawn", "_grids"}
    assert all(vars(col)[k] is v for k, v in held.items() if k != "_grids")


def test_a_shot_state_keeps_its_saved_form():
    # A job folder's states are np.savez of these names; a resume after an upgrade reads them.
    state = ShotState(luma=np.zeros((4, 6), np.uint8), ab=np.zeros((4, 6, 2), np.float32),
                      anchor=np.arange(4.0), keyed=True, since=3,
                      hinted=np.ones((4, 6), np.float32))
    assert set(state.arrays()) == {"luma", "ab", "anchor", "keyed", "since", "goal", "hinted"}
    old = {k: v for k, v in state.arrays().items() if k not in ("since", "goal", "hinted")}
    back = ShotState.from_arrays(old)  # a state saved before re-anchoring and hints
    assert back.since == 0 and back.hinted is None
    np.testing.assert_array_equal(back.goal, back.anchor)


def test_a_reference_prior_colours_the_anchor_frame_by_its_confidence():
    col = _colorizer()
    luma = _frames(3)[0]
    auto = anchor_frame(col, luma)
    h, w = auto.ab.shape[-2:]
    reference = np.zeros((1, 3, h, w), np.float32)
    reference[:, 0], reference[:, 1] = 40.0, -30.0
    reference[:, 2, :, : w // 2] = 1.0  # confident on the left half only
    made = anchor_frame(col, luma, AnchorInputs(reference=reference))
    np.testing.assert_allclose(made.ab[..., : w // 2], reference[:, :2, :, : w // 2], atol=1e-4)
    np.testing.assert_array_equal(made.ab[..., w // 2:], auto.ab[..., w // 2:])
    assert not made.keyed
    # Without confidence anywhere: the automatic anchor frame, bit for bit.
    reference[:, 2] = 0.0
    np.testing.assert_array_equal(anchor_frame(col, luma, AnchorInputs(reference=reference)).ab,
                                  auto.ab)


class _References:
    """Stand-in reference photos: one colour, matched with full confidence everywhere."""

    def prior(self, luma: np.ndarray) -> np.ndarray:
        out = np.zeros((1, 3, *luma.shape), np.float32)
        out[:, 0], out[:, 1], out[:, 2] = 40.0, -30.0, 1.0
        return out


def _reference_shot(frames, references=None, cut=None):
    """A shot steered by ``_References`` (matched again later only if given ``references``);
    with ``cut``, saved after that many frames and resumed."""
    col = FrameColorizer(_Net(), TileConfig(render_size=48), TemporalConfig())
    inputs = AnchorInputs(reference=_References().prior(col.working_luma(frames[0])[0, 0]))
    shot = Shot(col, inputs, references)
    out = []
    for t, frame in enumerate(frames):
        if t == cut:
            state = ShotState.from_arrays(shot.state().arrays())  # as a resumed job reads it
            shot = Shot.resume(col, state, references)
        out.append(shot.colorize(frame))
    return out


def test_a_shot_s_references_steer_its_later_frames_too():
    frames = _frames(4, 48)
    anchored = _reference_shot(frames)  # the anchor frame alone takes their colours
    steered = _reference_shot(frames, _References())
    np.testing.assert_array_equal(anchored[0], steered[0])
    np.testing.assert_array_equal(anchored[3], steered[3])  # nothing before the first match

    def off(ab):  # how far the frame's mean colour is from the references'
        return float(np.abs(ab[0].mean(axis=(1, 2)) - [40.0, -30.0]).mean())

    assert off(steered[0]) < 1.0
    # Without a new match the shot returns to the network's own colours; with one it stays.
    assert off(anchored[-1]) > 10.0
    assert off(steered[-1]) < off(anchored[-1]) / 3
    # In steps, not a jump: no frame's mean colour moves by more than the anchor's neighbours'.
    steps = [off(a) - off(b) for a, b in itertools.pairwise(steered)]
    assert max(abs(x) for x in steps) < 5.0


def test_a_shot_with_references_resumed_anywhere_gives_the_same_chroma():
    frames = _frames(5, 36)
    whole = _reference_shot(frames, _References())
    for cut in (1, 4, 16, 17, 30):
        for a, b in zip(whole, _reference_shot(frames, _References(), cut), strict=True):
            np.testing.assert_array_equal(a, b)


def test_the_hints_page_still_is_the_render_s_anchor_frame(tmp_path, random_weights,
                                                          monkeypatch):
    import vidcolor.hints_session
    import vidcolor.shot
    from vidcolor.cli import main
    from vidcolor.config import JobConfig
    from vidcolor.lab.video_metrics import chroma_difference, frame_rgb
    from vidcolor.probe import read_media_info
    from vidcolor.runner import make_colorizer
    from vidcolor.server import HintsSession

    calls: list[tuple[str, AnchorInputs]] = []

    def spy(where):
        def call(colorizer, luma, inputs=vidcolor.shot.NO_INPUTS):
            calls.append((where, inputs))
            return anchor_frame(colorizer, luma, inputs)
        return call

    monkeypatch.setattr(vidcolor.shot, "anchor_frame", spy("render"))
    monkeypatch.setattr(vidcolor.hints_session, "anchor_frame", spy("server"))
    # Full range: the page's gray still holds the frame's luma exactly.
    src = make_video(tmp_path / "two.mp4", 160, 96, frames=24, shots=2, pix_fmt="yuvj420p")
    folder = tmp_path / "P"
    w = ["--weights", str(random_weights), "--render-size", "64", "-q"]
    assert main([str(src), "--preview", str(folder), *w]) == 0
    shot = json.loads((folder / "shots.json").read_text())["shots"][1]
    session = HintsSession(folder, make_colorizer(JobConfig(weights=random_weights,
                                                            tile=TileConfig(render_size=64))))
    session.set_hints(2, [{"x": 80, "y": 48, "radius": 6, "lab": [50.0, 60.0, 50.0]}])
    png = np.frombuffer(session.still(2), np.uint8)
    still = cv2.imdecode(png, cv2.IMREAD_COLOR)[:, :, ::-1]
    dst = tmp_path / "hinted.mp4"
    assert main([str(src), "-o", str(dst), "--hints", str(folder / "hints.json"), "--crf", "0",
                 *w]) == 0
    # Both went through anchor_frame with the same hints (the render: for each shot's anchor).
    hinted = [inp for _, inp in calls if inp.hints]
    assert [where for where, inp in calls if inp.hints] == ["server", "render"]
    assert hinted[0].hints == hinted[1].hints and hinted[0].keyframe is hinted[1].keyframe is None
    info = read_media_info(dst)
    with av.open(str(dst)) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == shot["preview_frame"])
    rendered = frame_rgb(frame, info.full_range, info.matrix)
    mean, p90 = chroma_difference(still, rendered)
    assert mean == 0.0, (mean, p90)  # the same frame, as the preview's stills are
    assert still[48, 80, 0] > still[48, 80, 2] + 30  # and it shows the hint


class _Lighter:
    """A stand-in network whose own colour follows the frame's brightness (a = mean L / 2 - 20,
    b = 0), leaning on the prior by its confidence."""

    name = "lighter"
    precision = "fp32"

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        own = np.zeros_like(prior[:, :2])
        own[:, 0] = 0.5 * float(lum.mean()) - 20.0
        c = prior[:, 2:3]
        return (own * (1 - c) + c * prior[:, :2]).astype(np.float32)


def test_a_hinted_shot_follows_what_it_comes_to_show_where_no_hint_is():
    # The background brightens through the shot, and the network's colour of it changes with
    # it; a hint is on a dark square. Where no hint is, the hinted shot must follow the new
    # colours as the automatic shot does (re-anchoring). Before, a hinted shot never
    # re-anchored: its drift guard held the background to the anchor's colour to the end.
    from vidcolor.shot import shot_chroma

    yy, xx = np.mgrid[0:48, 0:64]
    lumas = []
    for t in range(41):
        f = 0.5 + 0.008 * t + 0.03 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
        f[16:32, 6:22] = 0.02  # a dark square: the hint's spread does not leave it
        lumas.append(f[None, None].astype(np.float32))
    col = FrameColorizer(_Lighter(), TileConfig(render_size=48, saturation=1.0),
                         TemporalConfig())
    auto = shot_chroma(col, lumas, 0)
    hint = Hint(frame=0, x=14, y=24, a=30.0, b=30.0, radius=3, alike=False)
    hinted = shot_chroma(col, lumas, 0, AnchorInputs(hints=(hint,)))
    right = np.s_[0, 0, :, 36:]  # background only
    assert abs(hinted[0][right].mean() - auto[0][right].mean()) < 0.1
    drift = auto[-1][right].mean() - auto[0][right].mean()
    assert drift > 5  # the automatic shot's background changes colour (5 -> 11)
    # The hinted one's followed it (11.1; it stayed at 5.3 before).
    assert abs(hinted[-1][right].mean() - auto[-1][right].mean()) < 0.1 * drift
    np.testing.assert_allclose(hinted[-1][0, :, 24, 14], [30.0, 30.0], atol=0.5)  # the hint


def test_the_hints_page_still_with_a_reference_is_the_render_s_anchor_frame(tmp_path,
                                                                           random_weights):
    # A reference dropped on the page: its still is the frame the render then gives there.
    from vidcolor.cli import main
    from vidcolor.config import JobConfig
    from vidcolor.lab.video_metrics import chroma_difference, frame_rgb
    from vidcolor.probe import read_media_info
    from vidcolor.runner import make_colorizer
    from vidcolor.server import HintsSession

    src = make_video(tmp_path / "two.mp4", 160, 96, frames=24, shots=2, pix_fmt="yuvj420p")
    folder = tmp_path / "P"
    w = ["--weights", str(random_weights), "--render-size", "64", "-q"]
    assert main([str(src), "--preview", str(folder), *w]) == 0
    shot = json.loads((folder / "shots.json").read_text())["shots"][1]
    gray = cv2.imread(str(folder / shot["gray_image"]), cv2.IMREAD_GRAYSCALE)
    lab = cv2.cvtColor(cv2.merge([gray, gray, gray]), cv2.COLOR_BGR2LAB)
    lab[..., 1], lab[..., 2] = 128 + 45, 128 - 35
    data = cv2.imencode(".jpg", cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))[1].tobytes()
    session = HintsSession(folder, make_colorizer(JobConfig(
        weights=random_weights, tile=TileConfig(render_size=64))), random_weights)
    assert session.set_reference(2, data, "ref.jpg") == "shot-0002.reference.jpg"
    still = cv2.imdecode(np.frombuffer(session.still(2), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    dst = tmp_path / "steered.mp4"
    assert main([str(src), "-o", str(dst), "--hints", str(folder / "hints.json"), "--crf", "0",
                 *w]) == 0
    info = read_media_info(dst)
    with av.open(str(dst)) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == shot["preview_frame"])
    mean, p90 = chroma_difference(still, frame_rgb(frame, info.full_range, info.matrix))
    assert mean == 0.0, (mean, p90)
    auto = cv2.imread(str(folder / shot["image"]))[:, :, ::-1]
    assert chroma_difference(still, auto)[0] > 2  # and the reference did steer it
