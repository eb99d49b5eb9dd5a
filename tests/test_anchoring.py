"""Shots anchored at their preview frame: the preview is what the render gives.

A 3-shot clip rendered losslessly (``--crf 0``), so a rendered frame is exactly the planes the
render built: the preview still of every shot must equal the rendered frame it shows, untouched
stills given back as ``--keyframes`` must change nothing, an edited one only its shot, and the
frames must not depend on how the shots were split into segments or how frames were reached.
"""

from __future__ import annotations

import json
import shutil

import av
import cv2
import numpy as np
import pytest
from media import make_video

import vidcolor.render as render
from vidcolor.cli import main
from vidcolor.lab.video_metrics import preview_agreement

BASE = ["--render-size", "64", "-q", "--crf", "0"]


def _planes(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def film(tmp_path_factory, random_weights):
    folder = tmp_path_factory.mktemp("anchoring")
    src = make_video(folder / "three.mp4", 96, 64, frames=60, shots=3)
    w = ["--weights", str(random_weights)]
    assert main([str(src), "--preview", str(folder / "P"), *w, *BASE[:3]]) == 0
    auto = folder / "auto.mp4"
    assert main([str(src), "-o", str(auto), "--segment-frames", "6", *w, *BASE]) == 0
    return src, folder, auto, w


def test_every_preview_still_is_the_rendered_frame(film):
    _, folder, auto, _ = film
    shots = json.loads((folder / "P" / "shots.json").read_text())["shots"]
    assert len(shots) == 3
    # Anchors inside their shots: the render reaches the shot's first frame backward.
    assert sum(s["preview_frame"] > s["start_frame"] for s in shots) >= 2
    rows = preview_agreement(folder / "P", auto)
    assert [r["frame"] for r in rows] == [s["preview_frame"] for s in shots]
    for row in rows:
        assert row["mean"] == 0.0, row


def test_untouched_stills_change_nothing_and_an_edited_one_only_its_shot(film, tmp_path):
    src, folder, auto, w = film
    same = tmp_path / "same.mp4"
    assert main([str(src), "-o", str(same), "--keyframes", str(folder / "P"),
                 "--segment-frames", "6", *w, *BASE]) == 0
    assert same.read_bytes() == auto.read_bytes()

    edited = tmp_path / "P"
    shutil.copytree(folder / "P", edited)
    shots = json.loads((edited / "shots.json").read_text())["shots"]
    still = edited / shots[1]["image"]
    bgr = cv2.imread(str(still))
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)
    lab[..., 1], lab[..., 2] = 128 + 40, 128 - 30  # repaint shot 2 one colour
    cv2.imwrite(str(still), cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))
    keyed = tmp_path / "keyed.mp4"
    assert main([str(src), "-o", str(keyed), "--keyframes", str(edited),
                 "--segment-frames", "6", *w, *BASE]) == 0
    a, b = _planes(auto), _planes(keyed)
    first, last = shots[1]["start_frame"], shots[1]["end_frame"]
    for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
        if first <= i <= last:
            assert not np.array_equal(pa, pb), i  # the whole edited shot follows the still
        else:
            np.testing.assert_array_equal(pa, pb)  # other shots: the automatic render


def test_frames_do_not_depend_on_segments_or_on_seeking(film, tmp_path, monkeypatch):
    src, _, auto, w = film
    seeks = []
    real = render.frames_at

    def counting(*args, **kwargs):
        seeks.append(args[1][0])
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "frames_at", counting)
    whole = tmp_path / "whole.mp4"
    assert main([str(src), "-o", str(whole), "--segment-frames", "1000", *w, *BASE]) == 0
    assert seeks  # backward segments and forward ones after the first are found by seeking

    def broken(*args, **kwargs):
        raise render.InputError("no seeking here")

    monkeypatch.setattr(render, "frames_at", broken)
    in_order = tmp_path / "in_order.mp4"
    assert main([str(src), "-o", str(in_order), "--segment-frames", "6", *w, *BASE]) == 0
    ref = _planes(auto)
    for other in (whole, in_order):
        got = _planes(other)
        assert len(got) == len(ref) == 60
        for pa, pb in zip(ref, got, strict=True):
            np.testing.assert_array_equal(pa, pb)


def test_a_segment_whose_encoder_fails_once_is_made_again(film, tmp_path, monkeypatch):
    import av

    import vidcolor.encode as encode
    from vidcolor.errors import OutputError

    src, _, auto, w = film
    real = encode.VideoWriter.close
    failed = []

    def close_failing_once(self):
        if not failed:
            failed.append(self.path)
            real(self)
            raise OutputError(f"finishing {self.path} failed") from av.error.ArgumentError(
                22, "Invalid argument")
        return real(self)

    monkeypatch.setattr(encode.VideoWriter, "close", close_failing_once)
    again = tmp_path / "again.mp4"
    assert main([str(src), "-o", str(again), "--segment-frames", "6", *w, *BASE]) == 0
    assert failed and again.read_bytes() == auto.read_bytes()


def test_re_anchored_shots_do_not_depend_on_segments(film, tmp_path, monkeypatch):
    import functools

    import vidcolor.cli as cli
    from vidcolor.config import TemporalConfig

    src, folder, auto, w = film
    # Re-anchoring every 3rd frame, so it happens within every segment of 6 and across them.
    monkeypatch.setattr(cli, "TemporalConfig",
                        functools.partial(TemporalConfig, reanchor_every=3, reanchor_rate=0.3))
    outs = []
    for frames in ("6", "4", "1000"):
        out = tmp_path / f"re{frames}.mp4"
        assert main([str(src), "-o", str(out), "--segment-frames", frames, *w, *BASE]) == 0
        outs.append(_planes(out))
    for other in outs[1:]:
        for pa, pb in zip(outs[0], other, strict=True):
            np.testing.assert_array_equal(pa, pb)
    assert any(not np.array_equal(pa, pb) for pa, pb in zip(outs[0], _planes(auto), strict=True))
    # The anchors are untouched: every preview still is still the rendered frame.
    for row in preview_agreement(folder / "P", tmp_path / "re6.mp4"):
        assert row["mean"] == 0.0, row
