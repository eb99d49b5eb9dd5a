"""The CLI end to end as a subprocess: a normal run, and a run killed mid-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from media import make_video, read_video


def _env():
    env = dict(os.environ)
    env.pop("VIDCOLOR_DEBUG", None)
    return env


def test_subprocess_end_to_end(tmp_path, random_weights):
    src = make_video(tmp_path / "in.mp4", frames=6, audio=True)
    dst = tmp_path / "out.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--weights",
         str(random_weights), "--render-size", "64", "--preset", "ultrafast"],
        capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "frame" in proc.stderr  # the progress bar
    assert len(read_video(dst)["y"]) == 6


def test_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vidcolor", str(tmp_path / "missing.mp4"), "-o",
                           str(tmp_path / "o.mp4")], capture_output=True, text=True, env=_env(),
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"vidcolor: error: input not found: {tmp_path / 'missing.mp4'}"
    ]


def test_killed_run_leaves_nothing_at_the_target(tmp_path, random_weights):
    src = make_video(tmp_path / "in.mp4", 128, 96, frames=400)
    dst = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--weights",
         str(random_weights), "--render-size", "64", "-q"], env=_env(),
    )
    job = tmp_path / "out.mp4.vidcolor-job"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(job.glob("seg-*")):
        time.sleep(0.05)
    time.sleep(1.0)
    assert proc.poll() is None, "finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not dst.exists()


def test_ctrl_c_exits_130(tmp_path, random_weights):
    src = make_video(tmp_path / "in.mp4", 128, 96, frames=400)
    dst = tmp_path / "out.mp4"
    # Delays at every hand-off between threads (the determinism test's jitter, up to 20 ms)
    # keep the render of these tiny frames from finishing before the signal arrives.
    env = {**_env(), "VIDCOLOR_JITTER": "1", "VIDCOLOR_JITTER_MS": "20"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--weights",
         str(random_weights), "--render-size", "64", "-q", "--segment-frames", "10"], env=env,
        stderr=subprocess.PIPE, text=True,
        # A shell without job control starts background commands with SIGINT ignored, and a
        # child inherits that (CI run in the background): give this one the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    job = tmp_path / "out.mp4.vidcolor-job"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # until a segment is recorded
        try:
            if any(s["done"] for s in json.loads((job / "manifest.json").read_text())["segments"]):
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: re-run the same command to resume" in err
    assert not dst.exists()
    assert (job / "manifest.json").exists()  # finished segments are kept for resuming


NO_TORCH_RUN = """
import sys

import vidcolor.cli, vidcolor.pipeline, vidcolor.preview
from vidcolor.cli import main

video, photo, out, weights = sys.argv[1:]
common = ["--weights", weights, "--render-size", "64", "--backend", "onnx", "-q"]
codes = [main([video, "--preview", out + "/preview", *common]),
         main([photo, "-o", out + "/still.png", *common])]
print(codes, "torch" in sys.modules)
"""


def test_preview_and_still_through_onnx_do_not_import_torch(tmp_path, random_weights):
    import cv2
    from media import gray_pattern

    from vidcolor.cli import main

    src = make_video(tmp_path / "in.mp4", 96, 64, frames=12, shots=2)
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), gray_pattern(50, 40, 0))
    # Once in this process: builds the ONNX file for these weights into the test cache (the
    # export needs torch; a user's first run with new weights does the same).
    assert main([str(photo), "-o", str(tmp_path / "first.png"), "--weights", str(random_weights),
                 "--render-size", "64", "--backend", "onnx", "-q"]) == 0
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH_RUN, str(src), str(photo), str(tmp_path),
         str(random_weights)], capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[0, 0] False", proc.stdout + proc.stderr
    assert (tmp_path / "preview" / "shots.json").exists() and (tmp_path / "still.png").exists()


NO_ONNXRUNTIME_RUN = """
import sys

sys.modules["onnxruntime"] = None  # as if it were not installed
from vidcolor.cli import main

photo, out, weights = sys.argv[1:]
print(main([photo, "-o", out, "--weights", weights, "--render-size", "64", "-q"]))
"""


def test_without_onnxruntime_torch_takes_over_with_one_line(tmp_path, random_weights):
    import cv2
    from media import gray_pattern

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), gray_pattern(50, 40, 0))
    out = tmp_path / "out.png"
    proc = subprocess.run(
        [sys.executable, "-c", NO_ONNXRUNTIME_RUN, str(photo), str(out), str(random_weights)],
        capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "0", proc.stdout + proc.stderr
    assert out.exists()
    assert proc.stderr.count("onnxruntime is not installed: using the torch backend") == 1, \
        proc.stderr


def test_version_into_a_pipe_that_closes_early():
    proc = subprocess.run(f"'{sys.executable}' -m vidcolor --version | head -c 3", shell=True,
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.stdout == "vid"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
