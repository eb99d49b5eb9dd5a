"""Shot detection on synthetic luma sequences."""

from __future__ import annotations

import cv2
import numpy as np

from vidcolor.shots import detect_shots


def scene(seed: int, h: int = 180, w: int = 480, blur: float = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.normal(128, 60, (h, w)).astype(np.float32), (0, 0), blur)
    img = (img - img.mean()) / (img.std() + 1e-6) * 45 + rng.uniform(80, 170)
    return np.clip(img, 0, 255).astype(np.float32)


def pan(img: np.ndarray, t: int, speed: int = 3, width: int = 320) -> np.ndarray:
    x = (t * speed) % (img.shape[1] - width)
    return img[:, x : x + width]


def as_u8(frames):
    return [np.clip(f, 0, 255).astype(np.uint8) for f in frames]


def test_hard_cuts_found_exactly_and_pans_are_not_cuts():
    frames = []
    for shot in range(3):
        img = scene(shot)
        frames += [pan(img, t) for t in range(30)]
    assert detect_shots(as_u8(frames)) == [30, 60]


def test_film_grain_is_not_a_cut():
    rng = np.random.default_rng(1)
    img = scene(5)
    frames = [pan(img, t, 1) + rng.normal(0, 10, (180, 320)) for t in range(60)]
    assert detect_shots(as_u8(frames)) == []


def test_flash_is_not_a_cut():
    img = scene(2)
    frames = [pan(img, t) for t in range(40)]
    frames[20] = np.clip(frames[20] * 1.8 + 60, 0, 255)
    frames[21] = np.full_like(frames[21], 250)
    assert detect_shots(as_u8(frames[:21] + frames[22:])) == []


def test_fade_to_black_is_one_boundary_not_a_cut_per_frame():
    a, b = scene(3), scene(4)
    frames = [pan(a, t) for t in range(20)]
    frames += [pan(a, 20 + t) * (1 - (t + 1) / 12) for t in range(12)]  # fade out
    frames += [np.zeros((180, 320), np.float32)] * 4
    frames += [pan(b, t) * ((t + 1) / 12) for t in range(12)]  # fade in
    frames += [pan(b, 12 + t) for t in range(20)]
    cuts = detect_shots(as_u8(frames))
    assert len(cuts) == 1
    assert 32 <= cuts[0] <= 48  # inside the black or the fade-in


def test_short_shots_are_merged():
    frames = [pan(scene(s), t) for s in range(4) for t in range(3)]
    cuts = detect_shots(as_u8(frames))
    assert all(b - a >= 6 for a, b in zip([0, *cuts], cuts, strict=False))


def test_cut_list_files(tmp_path):
    import pytest

    from vidcolor.errors import InputError
    from vidcolor.shots import read_cut_list

    (tmp_path / "a.json").write_text('{"cuts": [30, 0, 12]}')
    (tmp_path / "b.csv").write_text("12,30\n45\n")
    (tmp_path / "c.txt").write_text("12 x 30")
    assert read_cut_list(tmp_path / "a.json") == [12, 30]
    assert read_cut_list(tmp_path / "b.csv") == [12, 30, 45]
    with pytest.raises(InputError, match="not a list of cut frame numbers"):
        read_cut_list(tmp_path / "c.txt")
    with pytest.raises(InputError, match="cannot read"):
        read_cut_list(tmp_path / "missing.json")


def test_a_dissolve_is_one_cut_inside_it():
    a, b = scene(11, blur=24), scene(12, blur=24)  # large shapes, as in real footage
    frames = [pan(a, t, 1) for t in range(40)]
    for i in range(12):  # a 12-frame cross-dissolve while both shots keep panning
        w = (i + 1) / 13
        frames.append((1 - w) * pan(a, 40 + i, 1) + w * pan(b, i, 1))
    frames += [pan(b, 12 + t, 1) for t in range(40)]
    cuts = detect_shots(as_u8(frames))
    assert len(cuts) == 1 and 38 <= cuts[0] <= 54, cuts
