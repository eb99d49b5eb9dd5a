"""Colour hints: the spread prior, the hints file, and a hinted shot in a render."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from media import make_video

from vidcolor.cli import main
from vidcolor.hints import Hint, hint_prior, read_hints, write_hints
from vidcolor.lab.hint_sampling import sample_hints

BASE = ["--render-size", "64", "-q", "--crf", "0", "--segment-frames", "7"]


def test_a_hint_spreads_within_its_region_and_not_across_an_edge():
    luma = np.full((60, 80), 0.3, np.float32)
    luma[:, 40:] = 0.9  # a strong edge down the middle
    prior = hint_prior([Hint(frame=0, x=10, y=30, a=40.0, b=-20.0, radius=2)], luma, (60, 80))
    conf = prior[0, 2]
    assert conf[30, 10] == 1.0
    assert conf[:, :35].mean() > 0.9  # its own side, however far
    assert conf[:, 45:].max() < 0.05  # the other side of the edge
    np.testing.assert_allclose(prior[0, 0][conf > 0.5], 40.0, atol=1e-3)
    np.testing.assert_allclose(prior[0, 1][conf > 0.5], -20.0, atol=1e-3)


def test_a_hint_spreads_through_texture_but_not_across_an_edge():
    # Fine texture (a checkerboard of +-0.08, like grain or fabric) is no edge: the spread is
    # guided by the blurred luminance, so it crosses it; the strong edge still stops it.
    luma = np.full((60, 80), 0.4, np.float32)
    luma[:, :50] += 0.08 * ((np.indices((60, 50)).sum(axis=0) % 2) * 2 - 1)
    luma[:, 50:] = 0.95
    conf = hint_prior([Hint(frame=0, x=5, y=30, a=40.0, b=-20.0, radius=2)], luma,
                      (60, 80))[0, 2]
    assert conf[:, 40:45].mean() > 0.5
    assert conf[:, 56:].max() < 0.05


def test_a_hint_carried_into_shadow_keeps_its_share_of_chroma():
    # A wall in light and shade: the hint's colour reaches the dark end scaled to what that
    # lightness holds (L 9 holds about 0.6 of L 53's chroma), not at full strength.
    luma = np.tile(np.linspace(0.5, 0.1, 80, dtype=np.float32), (60, 1))
    prior = hint_prior([Hint(frame=0, x=2, y=30, a=30.0, b=20.0, radius=1)], luma, (60, 80))
    np.testing.assert_allclose(prior[0, :2, 30, 2], [30.0, 20.0], atol=1e-4)
    dark = prior[0, :2, 30, 79] / np.array([30.0, 20.0])
    assert 0.5 < dark[0] < 0.7 and dark[0] == pytest.approx(dark[1])


def test_two_hints_each_keep_their_own_colour():
    luma = np.full((60, 80), 0.5, np.float32)
    hints = [Hint(0, 10, 30, 40.0, 0.0, 2), Hint(0, 70, 30, -40.0, 0.0, 2)]
    prior = hint_prior(hints, luma, (60, 80))
    assert prior[0, 0, 30, 10] == pytest.approx(40.0)
    assert prior[0, 0, 30, 70] == pytest.approx(-40.0)
    assert hint_prior([], luma, (60, 80)).max() == 0.0


def test_a_hint_keeps_its_colour_at_its_point_through_the_upsampling():
    # Two hints of opposite colour close together on a flat frame four times the working size:
    # after the chroma is upsampled to the source, each point still has its hint's colour
    # (with discs of 0.75 working px, as before, both points were 34 a*b* units off).
    from vidcolor.guided import guided_upsample

    hints = [Hint(0, 100.0, 112.0, 40.0, 20.0, 2), Hint(0, 140.0, 112.0, -30.0, 10.0, 2)]
    prior = hint_prior(hints, np.full((56, 56), 0.5, np.float32), (224, 224))
    up = guided_upsample(prior[:, :2], np.full((1, 1, 224, 224), 0.5, np.float32))
    for h in hints:
        assert np.hypot(up[0, 0, 112, int(h.x)] - h.a, up[0, 1, 112, int(h.x)] - h.b) < 3.0


def test_hints_from_the_truth_land_in_the_largest_regions():
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :40] = (200, 40, 40)
    rgb[:, 40:] = (40, 40, 200)
    hints = sample_hints(rgb, 2)
    assert len(hints) == 2
    assert hints[0].x < 40 and hints[0].a > 30  # the red area is the larger one
    assert hints[1].x >= 40 and hints[1].b < -30


def test_a_hint_reaches_the_parts_that_look_like_its_point_and_no_others():
    from vidcolor.hints import look_alike

    lightness = np.full((60, 90), 50.0, np.float32)
    lightness[:, 16:19] = 5.0  # a dark post the spread cannot cross
    lightness[:, 60:] = 85.0  # a lighter part
    lightness[20:40, 70:80] = 50.0  # ... with a patch as light as the hint's
    auto = np.zeros((1, 2, 60, 90), np.float32)
    auto[0, :, 20:40, 70:80] = 20.0  # which the network saw as another colour
    prior = hint_prior([Hint(frame=0, x=10, y=30, a=40.0, b=-30.0, radius=2)], lightness / 100,
                       (60, 90))
    assert prior[0, 2, 30, 24] < 0.03  # the spread stops at the post
    alike = look_alike(prior, lightness, auto)
    np.testing.assert_allclose(alike[0, :2, 30, 24], [40.0, -30.0], atol=1e-3)
    assert alike[0, 2, 30, 24] > 0.65  # beyond the post: as light, as grey to the network
    assert alike[0, 2, 30, 50] < 0.35  # as alike, but far: out of a hint's reach
    assert alike[0, 2, 10, 75] < 0.01  # lighter
    assert alike[0, 2, 30, 75] < 0.05  # as light, but another colour to the network
    textured = lightness.copy()
    textured[:, 20:38:2] = 90.0  # white stripes: the pixels between as light, the texture not
    assert look_alike(prior, textured, auto)[0, 2, 30, 29] < 0.3
    assert not look_alike(np.zeros_like(prior), lightness, auto).any()  # no hints, no reach
    # Two grey hints, on a dark part and on a light one: each part is like its own hint, and a
    # part midway between them like neither.
    two = np.full((60, 90), 20.0, np.float32)
    two[:, 30:60] = 50.0
    two[:, 60:] = 80.0
    grey = [Hint(frame=0, x=x, y=30, a=0.0, b=0.0, radius=2) for x in (10, 80)]
    alike = look_alike(hint_prior(grey, two / 100, (60, 90)), two, np.zeros_like(auto))
    assert alike[0, 2, 30, 20] > 0.7 and alike[0, 2, 30, 70] > 0.7
    assert alike[0, 2, 30, 45] < 0.15


def test_a_hinted_frame_colours_a_near_look_alike_part_and_leaves_a_far_one():
    from vidcolor.colorize import FrameColorizer
    from vidcolor.config import TemporalConfig, TileConfig

    backend = _Recorder()
    col = FrameColorizer(backend, TileConfig(render_size=48, saturation=1.0), TemporalConfig())
    small = np.full((1, 1, 48, 96), 0.5, np.float32)
    small[..., 14:17] = 0.05  # a dark post the spread cannot cross
    small[..., 30:33] = 0.05  # and another
    prior = hint_prior([Hint(frame=0, x=6, y=24, a=40.0, b=-30.0, radius=2)], small[0, 0],
                       (48, 96))
    ab = col.steered(small, None, prior)[0]
    # Just beyond the first post, where the spread is not confident, the part as light as the
    # hint's point takes its colour: the same object, cut by the post.
    assert prior[0, 2, 24, 22] < 0.1
    assert ab[0, 0, 24, 22] > 15 and ab[0, 1, 24, 22] < -11
    # Far away (the grey road beside the grey cart), resemblance alone claims nothing: the part
    # keeps the network's own colour (grey here). It took the hint's colour before.
    assert np.abs(ab[0, :, :, 70:]).max() < 3
    # A hint kept to its spread ("alike": false) leaves the near part as the network has it,
    # and still holds its own colour at its point.
    local = hint_prior([Hint(frame=0, x=6, y=24, a=40.0, b=-30.0, radius=2, alike=False)],
                       small[0, 0], (48, 96))
    ab = col.steered(small, None, local)[0]
    assert abs(ab[0, 0, 24, 22]) < 5 and abs(ab[0, 1, 24, 22]) < 5
    np.testing.assert_allclose(ab[0, :, 24, 6], [40.0, -30.0], atol=0.5)


class _BlendPrior:
    """A network that follows a prior by its confidence and is grey on its own."""

    name = "blend"
    precision = "fp32"

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        return prior[:, :2] * prior[:, 2:3]


def test_a_hinted_colour_moves_with_its_object_and_leaves_its_old_place():
    # A bright box slides right over a textured wall; the hint is on the box. Its colour must
    # ride along with the box, and the wall it uncovers (and the rest of the wall) keeps the
    # network's own colour. Before, the whole hinted frame was carried at full confidence: the
    # wall took a quarter of the hint's colour at the anchor and kept it through the shot.
    from vidcolor.colorize import FrameColorizer
    from vidcolor.config import TemporalConfig, TileConfig
    from vidcolor.shot import AnchorInputs, shot_chroma

    yy, xx = np.mgrid[0:48, 0:64]
    wall = 0.45 + 0.05 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
    lumas = []
    for t in range(13):
        f = wall.copy()
        x0 = 8 + 2 * t
        f[16:32, x0:x0 + 12] = 0.85 + 0.05 * np.sin((xx[16:32, x0:x0 + 12] - x0) / 2.0)
        lumas.append(f[None, None].astype(np.float32))
    col = FrameColorizer(_BlendPrior(), TileConfig(render_size=48, saturation=1.0),
                         TemporalConfig())
    hint = Hint(frame=0, x=14, y=24, a=50.0, b=-40.0, radius=3, alike=False)
    out = shot_chroma(col, lumas, 0, AnchorInputs(hints=(hint,)))
    np.testing.assert_allclose(out[0][0, :, 24, 14], [50.0, -40.0], atol=0.1)
    last = out[-1][0]
    assert last[0, 24, 38] > 40 and last[1, 24, 38] < -32  # the box, now at x 32..43
    assert np.abs(last[:, 24, 10:18]).max() < 12  # where the box was
    wall_only = np.ones((48, 64), bool)
    wall_only[14:34, 6:46] = False
    assert np.abs(last[:, wall_only]).mean() < 6  # the wall


def test_hints_file_round_trip_and_bad_files(tmp_path):
    path = tmp_path / "hints.json"
    hints = [Hint(frame=3, x=5.5, y=6.0, a=10.0, b=-5.0, radius=3, shot=1),
             Hint(frame=4, x=1.0, y=2.0, a=0.0, b=0.0, alike=False)]
    write_hints(path, hints)
    assert read_hints(path) == hints
    path.write_text(json.dumps({"version": 1, "hints": [
        {"frame": 1, "x": 2, "y": 3, "rgb": "#ff0000"}]}))
    assert read_hints(path)[0].a > 50
    from vidcolor.errors import InputError

    for text in ("not json", '{"hints": 3}', '{"hints": [{"frame": 1, "x": 2}]}',
                 '{"hints": [{"frame": 1, "x": 2, "y": 3, "rgb": "red"}]}',
                 '{"hints": [{"frame": 1, "x": 2, "y": 3, "rgb": "#ff0000", "alike": "no"}]}'):
        path.write_text(text)
        with pytest.raises(InputError):
            read_hints(path)


def _planes(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


def test_a_hinted_shot_follows_its_hints_and_the_others_do_not_change(tmp_path,
                                                                      random_weights):
    src = make_video(tmp_path / "three.mp4", 96, 64, frames=36, shots=3)
    w = ["--weights", str(random_weights)]
    auto = tmp_path / "auto.mp4"
    assert main([str(src), "-o", str(auto), *w, *BASE]) == 0
    hints = tmp_path / "hints.json"
    write_hints(hints, [Hint(frame=17, x=48, y=32, a=60.0, b=50.0, radius=8, shot=2)])
    hinted = tmp_path / "hinted.mp4"
    assert main([str(src), "-o", str(hinted), "--hints", str(hints), *w, *BASE]) == 0
    a, b = _planes(auto), _planes(hinted)
    for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
        if 12 <= i < 24:
            assert not np.array_equal(pa, pb), i  # the hinted shot, before and after frame 17
        else:
            np.testing.assert_array_equal(pa, pb)  # other shots byte for byte
    with av.open(str(hinted)) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 17)
    rgb = frame.to_ndarray(format="rgb24")
    assert rgb[32, 48, 0] > rgb[32, 48, 2] + 30  # orange-red where the hint is


@pytest.mark.parametrize(("text", "message"), [
    ("{oops", "not JSON"),
    ('{"version": 1, "hints": [{"frame": 99, "x": 1, "y": 1, "lab": [50, 1, 1]}]}',
     "the video has 36 frames"),
    ('{"version": 1, "hints": [{"frame": 1, "x": 500, "y": 1, "lab": [50, 1, 1]}]}',
     "outside the 96x64 picture"),
])
def test_bad_hints_are_one_line_before_any_work(tmp_path, random_weights, capsys,
                                                monkeypatch, text, message):
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    src = make_video(tmp_path / "three.mp4", 96, 64, frames=36, shots=3)
    hints = tmp_path / "hints.json"
    hints.write_text(text)
    dst = tmp_path / "o.mp4"
    assert main([str(src), "-o", str(dst), "--hints", str(hints), "--weights",
                 str(random_weights), *BASE]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not dst.exists() and not (tmp_path / "o.mp4.vidcolor-job").exists()


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_a_point_on_the_upright_still_is_the_same_pixel_of_the_stored_frame(turns):
    from vidcolor.hints import stored_point

    stored = np.arange(7 * 11).reshape(7, 11)  # height 7, width 11
    upright = np.rot90(stored, turns)  # what the preview shows for a rotated video
    for y, x in ((0, 0), (2, 5), (upright.shape[0] - 1, upright.shape[1] - 1)):
        p = stored_point(Hint(frame=0, x=x, y=y, a=0, b=0), turns, 11, 7)
        assert stored[int(p.y), int(p.x)] == upright[y, x]


class _FollowPrior:
    name = "follow"
    precision = "fp32"

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        return prior[:, :2] * (prior[:, 2:3] > 0)


def test_hints_override_a_keyframe_where_confident_and_leave_it_elsewhere():
    from vidcolor.colorize import FrameColorizer
    from vidcolor.config import TemporalConfig, TileConfig

    col = FrameColorizer(_FollowPrior(), TileConfig(render_size=48, saturation=1.0),
                         TemporalConfig())
    small = np.full((1, 1, 48, 64), 0.3, np.float32)
    small[..., 32:] = 0.9  # an edge
    key = np.zeros((1, 2, 48, 64), np.float32) + np.array([10.0, 10.0], np.float32)[:, None, None]
    prior = hint_prior([Hint(frame=0, x=8, y=24, a=50.0, b=-50.0, radius=2)], small[0, 0],
                       (48, 64))
    ab = col.steered(small, key, prior)[0]
    np.testing.assert_allclose(ab[0, :, 24, 8], [50.0, -50.0], atol=0.5)  # the hint
    np.testing.assert_allclose(ab[0, :, 24, 60], [10.0, 10.0], atol=3.0)  # the keyframe


def test_overlapping_discs_split_between_their_hints():
    # Two hints closer than their discs' width: each point keeps its own colour.
    luma = np.full((60, 80), 0.5, np.float32)
    hints = [Hint(0, 30, 30, 40.0, 0.0, 6), Hint(0, 36, 30, -40.0, 0.0, 6)]
    for order in (hints, hints[::-1]):
        prior = hint_prior(order, luma, (60, 80))
        assert prior[0, 0, 30, 30] == pytest.approx(40.0)
        assert prior[0, 0, 30, 36] == pytest.approx(-40.0)
        assert prior[0, 2, 30, 33] == 1.0


def test_evaluate_hints_table_measures_what_hints_add(tmp_path):
    # Photos of two flat colours: one hint on each half is the truth there, so the hinted
    # output gains over the automatic one and every point shows its hint's colour.
    import cv2
    from conftest import random_colorizer

    from vidcolor.backends import create_backend
    from vidcolor.colorize import FrameColorizer
    from vidcolor.config import TileConfig
    from vidcolor.lab.evaluation import evaluate_hints

    rng = np.random.default_rng(3)
    for i in range(2):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:, :32] = rng.integers(60, 200, 3)
        img[:, 32:] = rng.integers(60, 200, 3)
        cv2.imwrite(str(tmp_path / f"p{i}.png"), img)
    model = random_colorizer()
    colorizer = FrameColorizer(create_backend("torch", lambda: model, "cpu"),
                               TileConfig(render_size=64))
    table = evaluate_hints(colorizer, tmp_path, [2])
    for rule in ("largest", "worst"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {rule} | 2 |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[3]) > 3.0  # dB over automatic
        assert cells[4] == "0.0 %" and float(cells[5]) > 0  # no photo worse; the worst gains
        assert float(cells[6]) < 3.0 and cells[9] == "0.0 %"  # ΔE mean; none off the hint


class _Recorder(_FollowPrior):
    def __init__(self):
        self.priors = []

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        self.priors.append(prior.copy())
        return super().predict(lum, prior)


def test_hints_get_a_second_look_with_the_first_result_as_a_dense_prior():
    from vidcolor.colorize import SECOND_LOOK, FrameColorizer
    from vidcolor.config import TemporalConfig, TileConfig

    backend = _Recorder()
    col = FrameColorizer(backend, TileConfig(render_size=48, saturation=1.0), TemporalConfig())
    small = np.full((1, 1, 48, 64), 0.3, np.float32)
    small[..., 32:] = 0.9  # an edge the hint's confidence falls across
    prior = hint_prior([Hint(frame=0, x=8, y=24, a=50.0, b=-50.0, radius=2)], small[0, 0],
                       (48, 64))
    ab = col.steered(small, None, prior)[0]
    # Two passes with the hints, and one without any prior for look_alike's resemblance.
    first, second, unhinted = backend.priors
    assert not unhinted.any()
    assert first[0, 2].min() < 0.03  # sparse: beyond the edge the hint says nothing
    assert second[0, 2].min() == pytest.approx(SECOND_LOOK)  # dense
    assert second[0, 2, 24, 8] == pytest.approx(1.0)
    # Beyond the edge the first result (gray there) is what the second pass is shown.
    np.testing.assert_allclose(second[0, :2, 24, 60], [0.0, 0.0], atol=1.0)
    np.testing.assert_allclose(ab[0, :, 24, 8], [50.0, -50.0], atol=0.5)
    backend.priors.clear()
    key = np.full((1, 2, 48, 64), 10.0, np.float32)
    col.steered(small, key, prior)
    assert len(backend.priors) == 1  # a keyframe's prior is dense already
