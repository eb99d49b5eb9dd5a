"""Resuming interrupted jobs: kill -9 anywhere, damaged segments, bad manifests, full disks."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from media import make_video

from vidcolor.segments import plan_segments, render_order

POINTS = ("decode", "inference", "segment-write", "manifest-write", "assembly")
FRAMES, SEGMENT = 40, 8


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIDCOLOR_DEBUG", None)
    env.update(extra)
    return env


def _run(src: Path, dst: Path, weights: Path, *extra: str, **env: str):
    quiet = [] if "-v" in extra else ["-q"]
    return subprocess.run(
        [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--weights", str(weights),
         "--render-size", "64", "--segment-frames", str(SEGMENT),
         *quiet, *extra], capture_output=True, text=True, env=_env(**env), timeout=300,
    )


def _decoded(path: Path) -> tuple[list[int], list[bytes]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return [f.pts for f in frames], [f.to_ndarray().tobytes() for f in frames]


@pytest.fixture(scope="module")
def clip(tmp_path_factory, random_weights):
    """A two-shot clip and its uninterrupted render."""
    folder = tmp_path_factory.mktemp("resume")
    src = make_video(folder / "in.mp4", 96, 64, frames=FRAMES, shots=2, audio=True)
    ref = folder / "ref.mp4"
    proc = _run(src, ref, random_weights)
    assert proc.returncode == 0, proc.stderr
    return src, _decoded(ref), ref.read_bytes()


def test_segments_split_at_cuts_anchors_and_length():
    # Shot 1 (frames 0-19) is anchored at frame 10, shot 2 (20-39) at its first frame.
    segs = plan_segments([(0, 19, 10), (20, 39, 20)], 8)
    assert [(s["start"], s["end"], s["backward"], s["after"], s["from_anchor"])
            for s in segs] == [
        (0, 1, True, 1, False), (2, 9, True, 2, True), (10, 17, False, None, False),
        (18, 19, False, 2, False), (20, 27, False, None, False), (28, 35, False, 4, False),
        (36, 39, False, 5, False)]
    # Each segment runs after the one it starts from: the anchor's, then outward.
    assert [s["index"] for s in render_order(segs)] == [2, 1, 0, 3, 4, 5, 6]
    # Without the temporal prior nothing is handed on.
    assert all(s["after"] is None for s in plan_segments([(0, 39, 0)], 8, temporal=False))


def test_kill_9_at_ten_moments_then_resume_gives_the_same_file(tmp_path, clip, random_weights):
    src, (ref_pts, ref_frames), ref_bytes = clip
    rng = random.Random(7)
    hits = {"decode": FRAMES, "inference": FRAMES, "segment-write": 6, "manifest-write": 7,
            "assembly": 1}
    moments = [(p, 1) for p in POINTS] + [
        (p, rng.randint(2, hits[p])) for p in rng.sample(POINTS[:4], 4)] + [("inference", 23)]
    assert len(moments) == 10
    for k, (point, n) in enumerate(moments):
        dst = tmp_path / f"out{k}.mp4"
        killed = _run(src, dst, random_weights, VIDCOLOR_KILL_AT=f"{point}:{n}")
        assert killed.returncode == -signal.SIGKILL, (point, n, killed.stderr)
        assert not dst.exists()
        resumed = _run(src, dst, random_weights)
        assert resumed.returncode == 0, (point, n, resumed.stderr)
        pts, frames = _decoded(dst)
        assert pts == ref_pts, (point, n)
        assert frames == ref_frames, f"output differs after a kill at {point}:{n}"
        assert dst.read_bytes() == ref_bytes, f"file bytes differ after a kill at {point}:{n}"
        assert not (tmp_path / f"out{k}.mp4.vidcolor-job").exists()


def test_truncated_segment_is_redone(tmp_path, clip, random_weights):
    src, (ref_pts, ref_frames), _ = clip
    dst = tmp_path / "out.mp4"
    assert _run(src, dst, random_weights, VIDCOLOR_KILL_AT="assembly:1").returncode == -9
    job = tmp_path / "out.mp4.vidcolor-job"
    manifest = json.loads((job / "manifest.json").read_text())
    assert all(s["done"] for s in manifest["segments"])
    last = job / f"{manifest['segments'][-1]['file']}.mp4"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    proc = _run(src, dst, random_weights, "-v")
    assert proc.returncode == 0, proc.stderr
    assert "damaged: redoing it" in proc.stderr
    assert "resuming: 5 of 6 segments done" in proc.stderr
    assert _decoded(dst) == (ref_pts, ref_frames)


def test_corrupted_manifest_is_a_clear_error(tmp_path, clip, random_weights):
    src, (ref_pts, ref_frames), _ = clip
    dst = tmp_path / "out.mp4"
    assert _run(src, dst, random_weights, VIDCOLOR_KILL_AT="segment-write:3").returncode == -9
    (tmp_path / "out.mp4.vidcolor-job" / "manifest.json").write_text('{"version": 1, "segm')
    proc = _run(src, dst, random_weights)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged manifest" in lines[0] and "--restart" in lines[0]
    assert _run(src, dst, random_weights, "--restart").returncode == 0
    assert _decoded(dst) == (ref_pts, ref_frames)


def test_disk_full_is_a_clear_error_and_the_job_resumes(tmp_path, clip, random_weights):
    src, (ref_pts, ref_frames), _ = clip
    dst = tmp_path / "out.mp4"
    for point in ("segment-write:3", "manifest-write:4"):
        proc = _run(src, dst, random_weights, VIDCOLOR_FAIL_AT=point)
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0], lines
        assert not dst.exists()
    proc = _run(src, dst, random_weights, "-v")
    assert proc.returncode == 0, proc.stderr
    assert "resuming:" in proc.stderr
    assert _decoded(dst) == (ref_pts, ref_frames)


def _main(src: Path, dst: Path, weights: Path) -> int:
    from vidcolor.cli import main

    return main([str(src), "-o", str(dst), "--weights", str(weights), "--render-size", "64",
                 "--segment-frames", str(SEGMENT), "-q"])


def test_a_disk_that_fills_under_the_scratch_arrays_is_one_line_not_a_bus_error(
        tmp_path, clip, random_weights, monkeypatch, capsys):
    # The backward segments' scratch arrays were memory maps of sparse files: a page the disk
    # could not back killed the process with SIGBUS (exit 135, no message). Their blocks are
    # now allocated before mapping, so a full disk is ENOSPC there: one line, the job kept.
    import errno

    import vidcolor.space

    src, (ref_pts, ref_frames), _ = clip
    dst = tmp_path / "out.mp4"
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vidcolor.space.os, "posix_fallocate", full)
    assert _main(src, dst, random_weights) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "No space left on device" in lines[0] and "MB free" in lines[0], lines[0]
    assert "needs about" in lines[0] and "re-run" in lines[0]
    assert not dst.exists() and (tmp_path / "out.mp4.vidcolor-job" / "manifest.json").exists()
    assert not list((tmp_path / "out.mp4.vidcolor-job").glob("**/*.npy.partial"))
    monkeypatch.undo()
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    assert _main(src, dst, random_weights) == 0
    assert _decoded(dst) == (ref_pts, ref_frames)


def test_a_job_larger_than_the_free_space_is_refused_before_rendering_naming_both(
        tmp_path, clip, random_weights, monkeypatch, capsys):
    import vidcolor.space

    src, (ref_pts, ref_frames), _ = clip
    dst = tmp_path / "out.mp4"
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    monkeypatch.setattr(vidcolor.space, "free_bytes", lambda folder: 3 << 10)
    assert _main(src, dst, random_weights) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not enough free space" in lines[0], lines
    assert "0.0 MB free" in lines[0] and "needs about" in lines[0]
    job = tmp_path / "out.mp4.vidcolor-job"
    assert not dst.exists() and not list(job.glob("seg-*"))
    assert (job / "manifest.json").exists()  # the plan (first pass) is kept for the re-run
    monkeypatch.undo()
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    assert _main(src, dst, random_weights) == 0
    assert _decoded(dst) == (ref_pts, ref_frames)


def test_changed_input_or_settings_are_refused(tmp_path, random_weights):
    mine = make_video(tmp_path / "in.mp4", 96, 64, frames=FRAMES, shots=2, audio=True)
    dst = tmp_path / "out.mp4"
    assert _run(mine, dst, random_weights, VIDCOLOR_KILL_AT="segment-write:2").returncode == -9
    proc = _run(mine, dst, random_weights, "--crf", "30")
    assert proc.returncode == 1 and "settings (encode) changed" in proc.stderr
    time.sleep(0.01)
    make_video(mine, 96, 64, frames=FRAMES, shots=3, audio=True)  # a different film, same name
    proc = _run(mine, dst, random_weights)
    assert proc.returncode == 1
    assert "input changed" in proc.stderr and "--restart" in proc.stderr
    assert _run(mine, dst, random_weights, "--restart").returncode == 0


def test_keep_work_and_work_dir(tmp_path, clip, random_weights):
    src, (ref_pts, ref_frames), _ = clip
    dst, work = tmp_path / "out.mp4", tmp_path / "jobs" / "film"
    proc = _run(src, dst, random_weights, "--work-dir", str(work), "--keep-work")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((work / "manifest.json").read_text())
    assert len(manifest["segments"]) == 6 and all(s["done"] for s in manifest["segments"])
    assert _decoded(dst) == (ref_pts, ref_frames)
    assert np.load(work / "times.npy").shape == (FRAMES,)


def test_second_run_on_the_same_output_refuses_then_takes_a_stale_lock(tmp_path, random_weights):
    src = make_video(tmp_path / "long.mp4", 128, 96, frames=300, shots=2)
    dst = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--weights",
           str(random_weights), "--render-size", "64", "-q"]
    first = subprocess.Popen(cmd, env=_env(), stderr=subprocess.PIPE)
    job = tmp_path / "out.mp4.vidcolor-job"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (job / "manifest.json").exists():
        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    assert first.poll() is None, "the first run ended before the second started"
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"vidcolor: error: another vidcolor (process {first.pid}) is writing {dst} (its job "
        f"folder is {job}); wait for it to finish or stop it"]
    first.kill()
    first.wait()
    assert (job / ".lock").exists()  # left by the killed run: stale, taken over
    third = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert third.returncode == 0, third.stderr
    assert len(_decoded(dst)[0]) == 300


def test_a_changed_reference_is_a_changed_job_named_in_the_refusal(tmp_path, random_weights):
    import cv2

    mine = make_video(tmp_path / "in.mp4", 96, 64, frames=FRAMES, shots=2)
    ref = tmp_path / "ref.png"
    colour = np.zeros((48, 64, 3), np.uint8)
    colour[:, :32], colour[:, 32:] = (40, 60, 200), (200, 120, 30)
    cv2.imwrite(str(ref), colour)
    dst = tmp_path / "out.mp4"
    killed = _run(mine, dst, random_weights, "--reference", str(ref),
                  VIDCOLOR_KILL_AT="segment-write:2")
    assert killed.returncode == -9
    cv2.imwrite(str(ref), colour[:, ::-1])  # the same file name, other colours
    proc = _run(mine, dst, random_weights, "--reference", str(ref))
    assert proc.returncode == 1 and "settings (references) changed" in proc.stderr
    assert _run(mine, dst, random_weights, "--reference", str(ref), "--restart").returncode == 0
