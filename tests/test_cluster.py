"""Ray scale-out: the same bytes as one process, worker and driver faults survived.

Runs a local Ray instance (2 CPUs) in subprocesses, as a user runs ``--workers``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from media import make_video

pytest.importorskip("ray", reason="the ray extra is not installed")

COMMON = ["--render-size", "64", "--segment-frames", "5"]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIDCOLOR_DEBUG", None)
    env.pop("RAY_ADDRESS", None)
    env.update(extra)
    return env


def _run(src: Path, dst: Path, weights: Path, *extra: str, **env: str):
    return subprocess.run(
        [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--weights", str(weights),
         *COMMON, *(extra if "-v" in extra else (*extra, "-q"))],
        capture_output=True, text=True, env=_env(**env), timeout=600)


@pytest.fixture(scope="module")
def film(tmp_path_factory, random_weights):
    """Four shots (one of 21 frames: split into 3+ segments each way of its anchor) and the
    single-process render."""
    folder = tmp_path_factory.mktemp("cluster")
    src = make_video(folder / "four.mp4", 96, 64, frames=57, shots=4, audio=True)
    ref = folder / "one.mp4"
    proc = _run(src, ref, random_weights)
    assert proc.returncode == 0, proc.stderr
    return src, ref.read_bytes()


def test_two_workers_give_the_bytes_of_one_process(film, tmp_path, random_weights):
    src, ref = film
    dst = tmp_path / "ray.mp4"
    proc = _run(src, dst, random_weights, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert dst.read_bytes() == ref


def test_workers_writing_into_a_shared_job_folder(film, tmp_path, random_weights):
    src, ref = film
    dst = tmp_path / "ray.mp4"
    proc = _run(src, dst, random_weights, "--workers", "2", "--work-dir",
                str(tmp_path / "shared-job"))
    assert proc.returncode == 0, proc.stderr
    assert dst.read_bytes() == ref


def test_a_worker_killed_mid_segment_is_retried(film, tmp_path, random_weights):
    src, ref = film
    dst, marker = tmp_path / "ray.mp4", tmp_path / "killed"
    proc = _run(src, dst, random_weights, "--workers", "2",
                VIDCOLOR_KILL_AT="inference:3", VIDCOLOR_FAULT_ONCE=str(marker))
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()  # a worker did die
    assert dst.read_bytes() == ref


def test_driver_killed_then_resumed_without_ray(film, tmp_path, random_weights):
    src, ref = film
    dst = tmp_path / "ray.mp4"
    killed = _run(src, dst, random_weights, "--workers", "2",
                  VIDCOLOR_KILL_AT="manifest-write:4")
    assert killed.returncode == -9
    assert not dst.exists()
    assert (tmp_path / "ray.mp4.vidcolor-job" / "manifest.json").exists()
    resumed = _run(src, dst, random_weights, "-v")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming:" in resumed.stderr
    assert dst.read_bytes() == ref


def test_a_task_that_fails_stops_the_job_in_one_line_and_it_resumes(film, tmp_path,
                                                                     random_weights):
    src, ref = film
    dst = tmp_path / "ray.mp4"
    failed = _run(src, dst, random_weights, "--workers", "2",
                  VIDCOLOR_FAIL_AT="segment-write:3",
                  VIDCOLOR_FAULT_ONCE=str(tmp_path / "failed"))
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], lines
    assert not dst.exists()
    resumed = _run(src, dst, random_weights, "--workers", "2", "-v")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming:" in resumed.stderr
    assert dst.read_bytes() == ref


def _in_colour(gray: Path, out: Path, a: int, b: int) -> Path:
    """``gray`` (a preview's gray still) in one strong colour: a reference that matches it."""
    import cv2

    g = cv2.imread(str(gray), cv2.IMREAD_GRAYSCALE)
    lab = cv2.cvtColor(cv2.merge([g, g, g]), cv2.COLOR_BGR2LAB)
    lab[..., 1], lab[..., 2] = 128 + a, 128 + b
    cv2.imwrite(str(out), cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))
    return out


def test_references_on_two_workers_give_the_bytes_of_one_process(film, tmp_path,
                                                                  random_weights):
    # --reference for every shot, and shot 2's own in the preview folder beside --hints: the
    # workers read the same files (tasks carry their paths; the job names their sha256).
    import json

    src, auto = film
    folder = tmp_path / "P"
    preview = subprocess.run(
        [sys.executable, "-m", "vidcolor", str(src), "--preview", str(folder), "--weights",
         str(random_weights), "--render-size", "64", "-q"],
        capture_output=True, text=True, env=_env(), timeout=600)
    assert preview.returncode == 0, preview.stderr
    shots = json.loads((folder / "shots.json").read_text())["shots"]
    everywhere = _in_colour(folder / shots[2]["gray_image"], tmp_path / "all.png", -40, 50)
    _in_colour(folder / shots[1]["gray_image"], folder / "shot-0002.reference.png", 45, -35)
    (folder / "hints.json").write_text('{"version": 1, "hints": []}\n')
    steer = ["--reference", str(everywhere), "--hints", str(folder / "hints.json")]
    one, ray = tmp_path / "one.mp4", tmp_path / "ray.mp4"
    proc = _run(src, one, random_weights, *steer)
    assert proc.returncode == 0, proc.stderr
    proc = _run(src, ray, random_weights, *steer, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert ray.read_bytes() == one.read_bytes()
    # Both steered it: the shot's own reference, and --reference.
    alone = tmp_path / "alone.mp4"
    proc = _run(src, alone, random_weights, "--reference", str(everywhere))
    assert proc.returncode == 0, proc.stderr
    assert len({auto, alone.read_bytes(), one.read_bytes()}) == 3


def test_ray_asked_for_without_ray_installed(film, tmp_path, random_weights):
    src, _ = film
    dst = tmp_path / "o.mp4"
    code = ("import sys; sys.modules['ray'] = None; from vidcolor.cli import main; "
            f"sys.exit(main({[str(src), '-o', str(dst), '--ray', '-q']!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "vidcolor[ray]"' in lines[0], proc.stderr
    assert not dst.exists()


def test_a_cluster_that_does_not_answer(film, tmp_path, random_weights):
    src, _ = film
    dst = tmp_path / "o.mp4"
    proc = _run(src, dst, random_weights, "--ray-address", "127.0.0.1:9")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Ray cluster at 127.0.0.1:9" in lines[0]
    assert not dst.exists() and not (tmp_path / "o.mp4.vidcolor-job").exists()


class _FakeRay:
    """What ray_executor asks of Ray, recorded."""

    def __init__(self, initialized: bool):
        self.initialized, self.calls = initialized, []

    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self.calls.append("init")

    def shutdown(self):
        self.calls.append("shutdown")

    def cancel(self, ref, **kwargs):
        self.calls.append(("cancel", ref, kwargs.get("force", False)))


@pytest.mark.parametrize("caller_started_ray", [False, True])
def test_tasks_left_when_one_fails_end_with_our_ray_not_by_cancelling(monkeypatch,
                                                                      caller_started_ray):
    """Ray's cancel races a task's reply and can crash the driver (19 lines of stack): a Ray
    (or connection) this job started is shut down, which ends its tasks; a caller's own Ray is
    left running, so there the tasks still out are cancelled, gently."""
    from vidcolor import cluster
    from vidcolor.config import JobConfig

    fake = _FakeRay(caller_started_ray)
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(cluster, "check_available", lambda cfg: None)

    class TasksOut:
        def __init__(self, *args):
            self.pending = {"ref-1": {}, "ref-2": {}}

    monkeypatch.setattr(cluster, "RayExecutor", TasksOut)
    with pytest.raises(OSError), cluster.ray_executor(Path("in.mp4"), None, JobConfig(workers=2),
                                                       None, None, ".mkv", "matroska", None):
        raise OSError(28, "No space left on device")
    if caller_started_ray:
        assert fake.calls == [("cancel", "ref-1", False), ("cancel", "ref-2", False)]
    else:
        assert fake.calls == ["init", "shutdown"]


def test_what_ray_writes_to_stderr_while_stopping_goes_to_the_log(capfd, caplog):
    import logging

    from vidcolor.cluster import _stderr_to_log

    with caplog.at_level(logging.DEBUG, logger="vidcolor.cluster"), _stderr_to_log():
        os.write(2, b"[E task_manager.cc:1545] Failed to push error to driver\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    assert "Failed to push error to driver" in caplog.text
