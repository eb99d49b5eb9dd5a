"""Benchmark the video pipeline against the I/O floor, at 640x360 and 1920x1080.

For each size a clip is made from ``samples/film.mp4`` (resized), then two runs, each in its own
process (so peak RSS is its own): the full vidcolor pipeline, and a plain decode -> encode pass
with the same encoder settings (the I/O floor: same frame building, no network). Prints a
markdown table with fps, peak RSS and the pipeline/floor ratio.

Example::

    python scripts/bench.py --frames 48
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ((640, 360), (1920, 1080))


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    import av
    import cv2

    with av.open(str(ROOT / "samples" / "film.mp4")) as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"crf": "18", "preset": "veryfast"}
        for n, frame in enumerate(src.decode(video=0)):
            if n == frames:
                break
            y = cv2.resize(frame.to_ndarray(format="gray"), (width, height))
            f = av.VideoFrame.from_ndarray(y, format="gray").reformat(format="yuv420p")
            f.pts = n
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)


def worker(mode: str, src: Path, dst: Path, threads: int) -> dict:
    """Run one mode in this process; returns seconds and frames."""
    import torch

    from vidcolor.config import JobConfig
    from vidcolor.pipeline import run_job

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if mode == "pipeline":
        run_job(src, dst, JobConfig(overwrite=True, threads=threads))
    else:
        io_floor(src, dst)
    seconds = time.perf_counter() - t0
    import av

    with av.open(str(dst)) as c:
        frames = sum(1 for _ in c.demux(video=0) if _.size)
    return {"seconds": seconds, "frames": frames}


def io_floor(src: Path, dst: Path) -> None:
    """Decode, rebuild each frame from its own planes, encode and assemble: no network."""
    from vidcolor.assemble import assemble
    from vidcolor.config import EncodeConfig
    from vidcolor.decode import iter_frames
    from vidcolor.encode import VideoWriter, build_frame, luma_plane
    from vidcolor.probe import read_media_info

    info = read_media_info(src)
    part = dst.with_name("floor-part.mp4")
    writer = VideoWriter(part, info, EncodeConfig(), "mp4")
    for frame in iter_frames(src):
        y = luma_plane(frame)
        h, w = y.shape
        import numpy as np

        c = np.full(((h + 1) // 2, (w + 1) // 2), 128, np.uint8)
        out = build_frame(y, c, c, writer.plan, info.full_range, info.matrix)
        out.pts, out.time_base = frame.pts, info.time_base
        writer.write(out)
    writer.close()
    assemble([part], src, dst, "mp4")
    part.unlink()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--worker", choices=("pipeline", "floor"), help=argparse.SUPPRESS)
    p.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--dst", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        result = worker(args.worker, args.src, args.dst, args.threads)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in SIZES:
            src = Path(tmp) / f"in_{w}x{h}.mp4"
            make_clip(src, w, h, args.frames)
            res = {}
            for mode in ("floor", "pipeline"):
                cmd = [sys.executable, __file__, "--worker", mode, "--src", str(src), "--dst",
                       str(Path(tmp) / f"{mode}_{w}x{h}.mp4"), "--threads", str(args.threads)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                res[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            fps = {m: r["frames"] / r["seconds"] for m, r in res.items()}
            rows.append(
                f"| {w}x{h} | {res['pipeline']['frames']} | {fps['pipeline']:.2f} | "
                f"{res['pipeline']['rss_mb']:.0f} | {fps['floor']:.2f} | "
                f"{res['floor']['rss_mb']:.0f} | {fps['pipeline'] / fps['floor']:.3f} |"
            )
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; libx264 crf 18 "
          "medium for both runs\n")
    print("| size | frames | pipeline fps | pipeline peak RSS MB | I/O floor fps | "
          "floor peak RSS MB | pipeline / floor |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
