"""Reference photos: correspondence in the encoder's features -> prior; still mode; refusals."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidcolor.cli import main
from vidcolor.reference import MatchConfig, ReferenceSet, encoder_features, follow, match


def scene(height: int = 160, width: int = 240, seed: int = 0) -> np.ndarray:
    """A colour picture (RGB uint8) of textured patches, each of its own colour and lightness."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    colours = [(200, 40, 40), (40, 160, 60), (50, 70, 210), (230, 200, 40), (160, 60, 180),
               (40, 190, 200)]
    k = 0
    for y in range(0, height, 40):
        for x in range(0, width, 60):
            c = np.array(colours[k % len(colours)], np.float32)
            period = 4 + 3 * (k % 4)
            texture = 0.75 + 0.25 * np.sin((xx if k % 2 else yy) * 2 * np.pi / period)
            patch = (c[None, None] * texture[..., None])[y:y + 40, x:x + 60]
            img[y:y + 40, x:x + 60] = np.clip(patch, 0, 255)
            k += 1
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def chroma_error(rgb: np.ndarray, truth: np.ndarray) -> float:
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    ref = cv2.cvtColor(truth.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    return float(np.abs(lab[..., 1:] - ref[..., 1:]).mean())


def write(path, rgb):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_match_takes_the_colour_of_the_same_cell_and_gates_out_noise():
    rng = np.random.default_rng(0)
    desc = rng.normal(size=(12, 16)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    ab = rng.uniform(-60, 60, (12, 2)).astype(np.float32)
    out = match(desc, desc, ab, (3, 4), MatchConfig())
    assert np.allclose(out[0, :2].reshape(2, -1).T, ab, atol=1e-3)
    assert np.allclose(out[0, 2], 1.0)
    other = rng.normal(size=(12, 16)).astype(np.float32)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    assert np.all(match(other, desc, ab, (3, 4), MatchConfig())[0, 2] == 0.0)


def test_follow_keeps_the_frame_where_there_is_no_confidence():
    ab = np.full((1, 2, 4, 4), 7.0, np.float32)
    prior = np.zeros((1, 3, 4, 4), np.float32)
    prior[:, :2] = -20.0
    prior[:, 2, :2] = 1.0
    out = follow(ab, prior)
    assert np.all(out[:, :, :2] == -20.0) and np.all(out[:, :, 2:] == 7.0)


def test_a_gray_photo_comes_closer_to_its_truth_with_a_shifted_crop_of_it(
        tmp_path, random_weights):
    truth = scene()
    gray = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY)
    reference = cv2.resize(truth[20:, 30:], None, fx=1.2, fy=1.2)  # moved and scaled
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), gray)
    ref = write(tmp_path / "ref.png", reference)
    common = ["--weights", str(random_weights), "--render-size", "160", "-q"]
    assert main([str(src), "-o", str(tmp_path / "auto.png"), *common]) == 0
    assert main([str(src), "-o", str(tmp_path / "ref.png.out.png"), "--reference", str(ref),
                 *common]) == 0
    auto = cv2.cvtColor(cv2.imread(str(tmp_path / "auto.png")), cv2.COLOR_BGR2RGB)
    steered = cv2.cvtColor(cv2.imread(str(tmp_path / "ref.png.out.png")), cv2.COLOR_BGR2RGB)
    assert chroma_error(steered, truth) < 0.6 * chroma_error(auto, truth)
    # The luminance is the source's.
    assert np.abs(cv2.cvtColor(steered, cv2.COLOR_RGB2GRAY).astype(int) - gray).max() <= 3


def test_an_unrelated_reference_changes_little(random_weights):
    from vidcolor.weights import verify_weights

    features = encoder_features(verify_weights(random_weights).path)
    refs = ReferenceSet(features, [np.random.default_rng(1).uniform(0, 1, (96, 128, 3))
                                   .astype(np.float32)])
    luma = cv2.cvtColor(scene(), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    assert refs.prior(luma)[0, 2].mean() < 0.05


def test_several_references_pool_their_positions(random_weights):
    from vidcolor.weights import verify_weights

    features = encoder_features(verify_weights(random_weights).path)
    truth = scene()
    one = ReferenceSet(features, [truth[:, :120].astype(np.float32) / 255])
    both = ReferenceSet(features, [truth[:, :120].astype(np.float32) / 255,
                                   truth[:, 120:].astype(np.float32) / 255])
    assert len(both.desc) > len(one.desc) and len(both.ab) == len(both.desc)
    luma = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    right = (slice(None), slice(None), slice(None), slice(140, None))
    assert both.prior(luma)[right][0, 2].mean() > one.prior(luma)[right][0, 2].mean()


@pytest.mark.parametrize("kind", ["gray", "not an image", "missing", "gray rgb"])
def test_a_bad_reference_is_refused_in_one_line_before_any_work(tmp_path, random_weights,
                                                                 capsys, monkeypatch, kind):
    monkeypatch.delenv("VIDCOLOR_DEBUG")
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), cv2.cvtColor(scene(), cv2.COLOR_RGB2GRAY))
    ref = tmp_path / "ref.png"
    if kind == "gray":
        cv2.imwrite(str(ref), cv2.cvtColor(scene(), cv2.COLOR_RGB2GRAY))
    elif kind == "gray rgb":
        gray = cv2.cvtColor(scene(), cv2.COLOR_RGB2GRAY)
        cv2.imwrite(str(ref), cv2.merge([gray, gray, gray]))
    elif kind == "not an image":
        ref = tmp_path / "ref.jpg"
        ref.write_text("not a picture")
    out = tmp_path / "out.png"
    code = main([str(src), "-o", str(out), "--reference", str(ref), "--weights",
                 str(random_weights), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(ref) in err


def test_a_job_names_its_references_only_when_it_has_some(tmp_path):
    import dataclasses

    from vidcolor.config import JobConfig
    from vidcolor.segments import output_settings

    ref = write(tmp_path / "r.png", scene())
    plain = output_settings(JobConfig(), 10)
    assert "references" not in plain
    with_ref = output_settings(dataclasses.replace(JobConfig(), references=(ref,)), 10)
    write(ref, scene(seed=1))
    changed = output_settings(dataclasses.replace(JobConfig(), references=(ref,)), 10)
    assert with_ref["references"] != changed["references"]


def test_a_shot_s_own_reference_beside_the_hints_file_is_part_of_the_job(tmp_path):
    # The hints page saves a dropped reference beside hints.json: a render resumed after a new
    # one was dropped would mix the two, so the job names it (not only under --keyframes DIR).
    import dataclasses

    from vidcolor.config import JobConfig
    from vidcolor.segments import output_settings

    hints = tmp_path / "hints.json"
    hints.write_text('{"version": 1, "hints": []}')
    cfg = dataclasses.replace(JobConfig(), hints=hints)
    assert "shot_references" not in output_settings(cfg, 10)  # others' jobs stay as they were
    ref = write(tmp_path / "shot-0002.reference.png", scene())
    first = output_settings(cfg, 10)["shot_references"]
    assert list(first) == ["2"]
    write(ref, scene(seed=1))
    assert output_settings(cfg, 10)["shot_references"] != first


def _planes(path):
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


def test_a_shot_reference_in_the_preview_folder_steers_its_shot_only(tmp_path, random_weights):
    import json
    import shutil

    from media import make_video

    src = make_video(tmp_path / "three.mp4", 96, 64, frames=36, shots=3)
    w = ["--weights", str(random_weights), "--render-size", "64", "-q"]
    assert main([str(src), "--preview", str(tmp_path / "P"), *w]) == 0
    auto = tmp_path / "auto.mp4"
    assert main([str(src), "-o", str(auto), "--crf", "0", *w]) == 0
    folder = tmp_path / "Q"
    shutil.copytree(tmp_path / "P", folder)
    shots = json.loads((folder / "shots.json").read_text())["shots"]
    gray = cv2.imread(str(folder / shots[1]["gray_image"]), cv2.IMREAD_GRAYSCALE)
    lab = cv2.cvtColor(cv2.merge([gray, gray, gray]), cv2.COLOR_BGR2LAB)
    lab[..., 1], lab[..., 2] = 128 + 45, 128 - 35  # the shot's scene, in one strong colour
    cv2.imwrite(str(folder / "shot-0002.reference.png"), cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))
    steered = tmp_path / "steered.mp4"
    assert main([str(src), "-o", str(steered), "--crf", "0", "--keyframes", str(folder),
                 *w]) == 0
    a, b = _planes(auto), _planes(steered)
    first, last = shots[1]["start_frame"], shots[1]["end_frame"]
    for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
        if first <= i <= last:
            assert not np.array_equal(pa, pb), i
        else:
            np.testing.assert_array_equal(pa, pb)  # shots without a reference: as before
    # The whole film with --reference: every shot is steered, deterministically.
    ref = folder / "shot-0002.reference.png"
    again = [tmp_path / f"all{k}.mp4" for k in range(2)]
    for out in again:
        assert main([str(src), "-o", str(out), "--crf", "0", "--reference", str(ref), *w]) == 0
    assert again[0].read_bytes() == again[1].read_bytes()
    assert again[0].read_bytes() != auto.read_bytes()


def test_a_gray_reference_for_a_video_is_refused_before_any_work(tmp_path, random_weights,
                                                                 monkeypatch, capsys):
    from media import make_video

    monkeypatch.delenv("VIDCOLOR_DEBUG")
    src = make_video(tmp_path / "one.mp4", 64, 48, frames=6)
    ref = tmp_path / "gray.png"
    cv2.imwrite(str(ref), np.full((40, 40), 90, np.uint8))
    out = tmp_path / "out.mp4"
    assert main([str(src), "-o", str(out), "--reference", str(ref), "--weights",
                 str(random_weights), "-q"]) == 1
    assert "gray" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "out.mp4.vidcolor-job").exists()


def test_a_folder_applies_the_reference_to_every_photo(tmp_path, random_weights):
    reels = tmp_path / "reels"
    reels.mkdir()
    truth = scene()
    for k in range(2):
        cv2.imwrite(str(reels / f"p{k}.png"), cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY))
    ref = write(tmp_path / "ref.png", cv2.resize(truth[10:, 20:], None, fx=0.9, fy=0.9))
    common = ["--weights", str(random_weights), "--render-size", "160", "-q"]
    assert main([str(reels), "-o", str(tmp_path / "auto"), *common]) == 0
    assert main([str(reels), "-o", str(tmp_path / "ref"), "--reference", str(ref), *common]) == 0
    for k in range(2):
        auto = cv2.cvtColor(cv2.imread(str(tmp_path / "auto" / f"p{k}.png")), cv2.COLOR_BGR2RGB)
        steered = cv2.cvtColor(cv2.imread(str(tmp_path / "ref" / f"p{k}.png")),
                               cv2.COLOR_BGR2RGB)
        assert chroma_error(steered, truth) < chroma_error(auto, truth)


def test_a_reference_changed_during_the_render_stops_it_in_one_line(tmp_path, random_weights,
                                                                    monkeypatch, capsys):
    # The hints page may replace a shot's reference while a render runs: the segments after it
    # would take other colours than those before. Each task checks the file's sha256 against
    # the job's (paths and sha256 are what a task carries, to a Ray worker too).
    from media import make_video

    import vidcolor.runner

    monkeypatch.delenv("VIDCOLOR_DEBUG")
    src = make_video(tmp_path / "two.mp4", 96, 64, frames=24, shots=2)
    ref = write(tmp_path / "ref.png", scene(64, 96))
    real = vidcolor.runner.render_segment

    def then_change(*args, **kwargs):
        result = real(*args, **kwargs)
        write(ref, scene(64, 96, seed=3))  # after the first segment
        return result

    monkeypatch.setattr(vidcolor.runner, "render_segment", then_change)
    out = tmp_path / "out.mp4"
    assert main([str(src), "-o", str(out), "--reference", str(ref), "--weights",
                 str(random_weights), "--render-size", "64", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was changed after the render started" in err[0], err
    assert not out.exists()


def test_a_reference_shot_is_the_same_however_split_or_resumed(tmp_path, random_weights,
                                                              monkeypatch):
    import os
    import subprocess
    import sys

    from media import make_video

    confidence = []
    real = ReferenceSet.prior

    def prior(self, luma):
        out = real(self, luma)
        confidence.append(float(out[0, 2].mean()))
        return out

    monkeypatch.setattr(ReferenceSet, "prior", prior)

    # One shot, matched again every few frames after its anchor (vidcolor.shot).
    src = make_video(tmp_path / "one.mp4", 96, 64, frames=30, shots=1)
    gray = _planes(src)[0][:64]  # the first frame's luma (yuv420p planes stacked)
    lab = cv2.cvtColor(cv2.merge([gray, gray, gray]), cv2.COLOR_BGR2LAB)
    lab[..., 1], lab[..., 2] = 128 + 45, 128 - 35
    ref = tmp_path / "ref.png"
    cv2.imwrite(str(ref), cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))
    common = ["--weights", str(random_weights), "--render-size", "64", "-q", "--crf", "0",
              "--reference", str(ref)]
    outs = {}
    for frames in ("1000", "4"):
        outs[frames] = tmp_path / f"s{frames}.mp4"
        assert main([str(src), "-o", str(outs[frames]), "--segment-frames", frames,
                     *common]) == 0
    for pa, pb in zip(_planes(outs["1000"]), _planes(outs["4"]), strict=True):
        np.testing.assert_array_equal(pa, pb)
    # Matched at the anchor and again on both sides of it, in every segment, and taken.
    assert len(confidence) >= 2 * (1 + 6) and min(confidence) > 0.1
    dst = tmp_path / "resumed.mp4"
    env = dict(os.environ)
    env.pop("VIDCOLOR_DEBUG", None)
    cmd = [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--segment-frames", "4",
           *common]
    killed = subprocess.run(cmd, env={**env, "VIDCOLOR_KILL_AT": "inference:17"}, timeout=300,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    resumed = subprocess.run(cmd, env=env, timeout=300, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert dst.read_bytes() == outs["4"].read_bytes()
