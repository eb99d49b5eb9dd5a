"""More of ``scripts/bench.py``: encoders, folders, determinism.

``--codecs`` (every encoder: size, PSNR, speed), ``--batch`` (a folder as one batch vs one run
per file) and ``--determinism`` (the same bytes every run).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from bench import ROOT, make_clip, print_table


def codecs(names: list[str], crfs: list[int]) -> int:
    """Encode a colorized render of the sample with each codec and CRF: size, PSNR, speed.

    The default WebM codec is the faster of VP9 and AV1 at equal quality; this is the table
    that choice is read from (the frames are vidcolor's own output, 480x270, 120 frames).
    """
    import av
    import numpy as np

    from vidcolor.config import EncodeConfig
    from vidcolor.encode import VideoWriter
    from vidcolor.probe import read_media_info

    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref.mkv"
        subprocess.run([sys.executable, "-m", "vidcolor", str(ROOT / "samples" / "film.mp4"),
                        "-o", str(ref), "--codec", "ffv1", "-q", "-y"], check=True)
        info = read_media_info(ref)
        with av.open(str(ref)) as c:
            frames = [f.reformat(format="yuv420p") for f in c.decode(video=0)]
        planes = [f.to_ndarray() for f in frames]
        rows = []
        for name in names:
            for crf in crfs:
                dst = Path(tmp) / f"{name}-{crf}.webm"
                writer = VideoWriter(dst, info, EncodeConfig(codec=name, crf=crf), "webm")
                t0 = time.perf_counter()
                for i, f in enumerate(frames):
                    f.pts, f.time_base = i, Fraction(1, 24)
                    writer.write(f)
                writer.close()
                seconds = time.perf_counter() - t0
                with av.open(str(dst)) as c:
                    out = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]
                mse = np.mean([np.mean((a.astype(float) - b) ** 2)
                               for a, b in zip(out, planes, strict=True)])
                kbps = dst.stat().st_size * 8 / 1000 / (len(frames) / 24)
                rows.append(f"| {name} | {crf} | {kbps:.0f} | {10 * np.log10(255**2 / mse):.2f} "
                            f"| {len(frames) / seconds:.1f} |")
    print_table(["codec", "crf:", "kbit/s:", "PSNR dB (YUV 4:2:0):", "encode fps:"], rows)
    return 0


def batch_overhead(count: int, frames: int) -> int:
    """A folder of ``count`` clips as one batch vs one ``vidcolor`` run per clip (wall time).

    The batch starts Python, loads the network once per film and writes its summary; the
    single runs pay the start-up each. Target: batch <= sum of singles x 1.05 + one start-up.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reels"
        folder.mkdir()
        for i in range(count):
            make_clip(folder / f"reel{i}.mp4", 320, 180, frames)

        def timed(*args: str) -> float:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vidcolor", *args, "-q", "-y"], check=True)
            return time.perf_counter() - t0

        startup = timed("--version")
        singles = sum(timed(str(p), "-o", str(Path(tmp) / f"single_{p.name}"))
                      for p in sorted(folder.iterdir()))
        batch = timed(str(folder), "-o", str(Path(tmp) / "out"))
    print_table(["clips:", "frames each:", "start-up s:", "sum of single runs s:", "batch s:",
                 "batch / singles:"],
                [f"| {count} | {frames} | {startup:.1f} | {singles:.1f} | {batch:.1f} | "
                 f"{batch / singles:.3f} |"])
    return 0


def determinism(runs: int, parallel: int = 3) -> int:
    """Render the sample and a multi-shot clip ``runs`` times each, ``parallel`` at once.

    Prints the distinct sha256 counts (1 means every run gave the same bytes); the clip has
    cuts, a shot split across segments and a height that is not a multiple of 16.
    """
    import hashlib

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "cuts.mp4"
        make_clip(clip, 200, 118, 96)
        rows = []
        for name, src, extra in (("samples/film.mp4", ROOT / "samples" / "film.mp4", []),
                                 ("200x118, 96 frames, --segment-frames 20", clip,
                                  ["--segment-frames", "20"])):
            digests: dict[str, int] = {}
            t0 = time.perf_counter()
            for start in range(0, runs, parallel):
                procs = []
                for i in range(start, min(runs, start + parallel)):
                    dst = Path(tmp) / f"out{i}.mp4"
                    cmd = [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "-q",
                           "-y", *extra]
                    procs.append((subprocess.Popen(cmd), dst))
                for proc, dst in procs:
                    if proc.wait() != 0:
                        raise SystemExit(f"vidcolor failed on {name}")
                    digest = hashlib.sha256(dst.read_bytes()).hexdigest()
                    digests[digest] = digests.get(digest, 0) + 1
            counts = ", ".join(f"{d[:12]} x{n}" for d, n in digests.items())
            rows.append(f"| {name} | {runs} | {parallel} | {len(digests)} | {counts} | "
                        f"{time.perf_counter() - t0:.0f} |")
    print_table(["input", "runs:", "at once:", "distinct sha256:", "digests", "seconds:"], rows)
    return 0
