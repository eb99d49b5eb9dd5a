"""The same input and settings give the same bytes, however the threads interleave.

Renders run as concurrent processes with random delays injected at every thread hand-off
(``VIDCOLOR_JITTER``: decode queue, encoder queue, segment close and open), on a clip whose
height is not a multiple of 16, with three cuts and a shot split across segments, at the
default encoder preset (the fast presets turn off the lookahead where libx264's own threads
raced).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from media import make_video

RUNS = 6


def _start(src: Path, dst: Path, weights: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, VIDCOLOR_JITTER="random", VIDCOLOR_JITTER_MS="4")
    env.pop("VIDCOLOR_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "--weights", str(weights),
         "--render-size", "64", "--segment-frames", "10", "-q", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def test_same_bytes_under_jittered_concurrent_runs(tmp_path, random_weights):
    src = make_video(tmp_path / "cuts.mp4", 112, 54, frames=48, shots=4, audio=True)
    digests = set()
    for batch in range(RUNS // 3):
        procs = [(_start(src, tmp_path / f"out{batch}{i}.mp4", random_weights),
                  tmp_path / f"out{batch}{i}.mp4") for i in range(3)]
        for proc, dst in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            digests.add(hashlib.sha256(dst.read_bytes()).hexdigest())
    assert len(digests) == 1, f"{len(digests)} different outputs from {RUNS} runs"
