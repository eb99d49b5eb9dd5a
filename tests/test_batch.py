"""Batch folders: images and films together, one failure not stopping the rest, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from media import gray_pattern, make_video, read_video

import vidcolor
from vidcolor.cli import main
from vidcolor.config import JobConfig, TileConfig


def _folder(root: Path) -> Path:
    src = root / "reels"
    (src / "box").mkdir(parents=True)
    make_video(src / "a_reel.mp4", 64, 48, frames=12, shots=2)
    make_video(src / "b_reel.mkv", 64, 48, frames=30, shots=2, audio=True)
    make_video(src / "c_reel.mov", 48, 32, frames=10)
    cv2.imwrite(str(src / "photo.png"), gray_pattern(40, 30, 0))
    cv2.imwrite(str(src / "box" / "scan.jpg"), gray_pattern(30, 40, 1))
    (src / "notes.txt").write_text("not media")
    return src


def _args(src: Path, dst: Path, weights: Path, *extra: str) -> list[str]:
    return [str(src), "-o", str(dst), "--weights", str(weights), "--render-size", "32",
            "--segment-frames", "8", "-q", *extra]


@pytest.mark.allow_error_log
def test_folder_of_films_and_photos_with_a_damaged_one(tmp_path, random_weights):
    src = _folder(tmp_path)
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    dst = tmp_path / "out"
    assert main(_args(src, dst, random_weights, "--recursive")) == 1  # one failed
    assert sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file()) == [
        "a_reel.mp4", "b_reel.mkv", "box/scan.jpg", "c_reel.mov", "photo.png",
        "vidcolor-batch.json"]
    files = {f["source"]: f for f in json.loads((dst / "vidcolor-batch.json").read_text())["files"]}
    assert files["broken.mp4"]["result"].startswith("failed: ")
    assert files["b_reel.mkv"]["frames"] == 30 and files["b_reel.mkv"]["result"] == "done"
    assert len(read_video(dst / "b_reel.mkv")["audio"]) > 0
    assert len(read_video(dst / "a_reel.mp4")["y"]) == 12
    assert not list(dst.glob("*.vidcolor-job"))


def test_without_recursive_subfolders_stay_out_and_video_ext(tmp_path, random_weights):
    src = _folder(tmp_path)
    dst = tmp_path / "out"
    assert main(_args(src, dst, random_weights, "--video-ext", "mkv")) == 0
    assert sorted(p.name for p in dst.iterdir()) == [
        "a_reel.mkv", "b_reel.mkv", "c_reel.mkv", "photo.png", "vidcolor-batch.json"]


def test_killed_batch_resumes_skipping_what_is_complete(tmp_path, random_weights):
    src = _folder(tmp_path)
    dst = tmp_path / "out"
    env = dict(os.environ, VIDCOLOR_KILL_AT="inference:20")  # a_reel: 12 frames; then b_reel
    env.pop("VIDCOLOR_DEBUG", None)
    cmd = [sys.executable, "-m", "vidcolor", *_args(src, dst, random_weights)]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    first = dst / "a_reel.mp4"
    assert first.exists() and not (dst / "b_reel.mkv").exists()
    assert (dst / "b_reel.mkv.vidcolor-job" / "manifest.json").exists()
    mtime = first.stat().st_mtime_ns
    env.pop("VIDCOLOR_KILL_AT")
    resumed = subprocess.run([*cmd[:-1], "-v"], env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "a_reel.mp4: complete from an earlier run, skipped" in resumed.stderr
    assert "resuming: " in resumed.stderr
    assert first.stat().st_mtime_ns == mtime  # not rendered again
    # Every output is what a one-by-one run gives.
    for name in ("a_reel.mp4", "b_reel.mkv", "c_reel.mov"):
        single = tmp_path / f"single_{name}"
        assert main([str(src / name), "-o", str(single), "--weights", str(random_weights),
                     "--render-size", "32", "--segment-frames", "8", "-q"]) == 0
        assert single.read_bytes() == (dst / name).read_bytes(), name


def test_changed_settings_render_again_and_api_returns_results(tmp_path, random_weights):
    src = _folder(tmp_path)
    dst = tmp_path / "out"
    cfg = JobConfig(weights=random_weights, tile=TileConfig(render_size=32))
    items = vidcolor.colorize_folder(src, dst, cfg)
    assert [i.result for i in items] == ["done"] * 4
    again = vidcolor.colorize_folder(src, dst, cfg)
    assert [i.result for i in again] == ["skipped"] * 4
    changed = vidcolor.colorize_folder(src, dst, JobConfig(weights=random_weights,
                                                           tile=TileConfig(render_size=64)))
    assert [i.result for i in changed] == ["done"] * 4
