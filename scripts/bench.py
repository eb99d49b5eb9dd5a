"""Benchmark the video pipeline against the I/O floor, per backend, size and render size.

For each size a clip is made from ``samples/film.mp4`` (resized), then runs, each in its own
process (so peak RSS is its own): the full vidcolor pipeline (per backend and render size), and
a plain decode -> encode pass with the same encoder settings (the I/O floor: same frame
building, no network). Also the network alone: ms per 224x224 window at batch 8. Prints one
markdown table: backend x size x render size -> ms/window, pipeline fps, floor fps, ratio,
peak RSS.

Example::

    python scripts/bench.py --frames 48
    python scripts/bench.py --sizes 640x360 1920x1080 3840x2160 --backends onnx torch
    python scripts/bench.py --preview 60        # preview vs full render, sample and 60 s
    python scripts/bench.py --profile int8      # where a frame's time goes, per stage
    python scripts/bench.py --determinism 20    # same bytes every run?
    python scripts/bench.py --batch 6           # a folder as one batch vs one run per file
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.config import TileConfig

ROOT = Path(__file__).resolve().parents[1]

SIZES = ("640x360", "1920x1080")


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    """A clip of ``frames`` frames from the sample film (looped), resized."""
    import av
    import cv2

    with av.open(str(ROOT / "samples" / "film.mp4")) as src:
        grays = [f.to_ndarray(format="gray") for f in src.decode(video=0)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"crf": "18", "preset": "veryfast"}
        for n in range(frames):
            y = cv2.resize(grays[n % len(grays)], (width, height))
            f = av.VideoFrame.from_ndarray(y, format="gray").reformat(format="yuv420p")
            f.pts = n
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)


def worker(mode: str, src: Path, dst: Path, threads: int, backend: str,
           render_size: int, precision: str = "auto") -> dict:
    """Run one mode in this process; returns seconds and frames."""
    from vidcolor.config import JobConfig, TileConfig
    from vidcolor.pipeline import run_job

    t0 = time.perf_counter()
    if mode in ("pipeline", "single"):
        run_job(src, dst, JobConfig(overwrite=True, threads=threads, backend=backend,
                                    precision=precision,
                                    tile=TileConfig(render_size=render_size),
                                    segment_frames=-1 if mode == "single" else 0))
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


def window_ms(backend: str, threads: int, precision: str = "auto", batch: int = 8,
              repeats: int = 5) -> float:
    """The network alone: milliseconds per 224x224 window at ``batch``."""
    import numpy as np

    from vidcolor.backends import create_backend
    from vidcolor.weights import verify_weights

    weights = verify_weights(None)
    net = create_backend(backend, weights.load, "cpu", weights.digest, threads, precision)
    lum = np.random.default_rng(0).random((batch, 1, 224, 224), np.float32) * 100
    prior = np.zeros((batch, 3, 224, 224), np.float32)
    net.predict(lum, prior)
    t0 = time.perf_counter()
    for _ in range(repeats):
        net.predict(lum, prior)
    return (time.perf_counter() - t0) * 1000 / (repeats * batch)


def segments_overhead(args: argparse.Namespace, run) -> int:
    """Wall time of the default (segmented, resumable) render vs one single segment."""
    w, h = (int(v) for v in args.sizes[0].split("x"))
    frames = round(24 * args.segments)
    rs = str(args.render_sizes[0])
    times: dict[str, list[float]] = {"single": [], "pipeline": []}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        make_clip(src, w, h, frames)
        for _ in range(2):  # alternate, so drifting machine load hits both alike
            for mode in ("single", "pipeline"):
                res = run("--worker", mode, "--render-size", rs, "--src", str(src), "--dst",
                          str(Path(tmp) / f"{mode}.mp4"))
                times[mode].append(res["seconds"])
    single, segmented = min(times["single"]), min(times["pipeline"])
    print(f"{frames} frames at {w}x{h}, render size {rs} (24 fps, a cut every 60 frames; "
          f"segments of 30 s split at cuts)\n")
    print("| run | best of 2, s | fps |\n| --- | ---: | ---: |")
    print(f"| one single segment | {single:.1f} | {frames / single:.2f} |")
    print(f"| resumable segments + assembly | {segmented:.1f} | {frames / segmented:.2f} |")
    print(f"\noverhead of segments: {100 * (segmented / single - 1):+.1f}%")
    return 0


def preview_vs_render(lengths: list[float], repeat: int = 3) -> int:
    """Wall time of ``vidcolor IN --preview DIR`` vs ``vidcolor IN -o OUT``, as a user runs them.

    On the bundled sample film and on clips of ``lengths`` seconds made from it (looped: a cut
    every 60 frames). Both commands include starting Python and the imports; each pair runs
    ``repeat`` times, alternating, and the medians are reported.
    """
    import av

    def cli(*args: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vidcolor", *args, "-q", "-y"], check=True,
                       cwd=ROOT)
        return time.perf_counter() - t0

    with av.open(str(ROOT / "samples" / "film.mp4")) as c:
        w, h = c.streams.video[0].width, c.streams.video[0].height
    print(f"| input | frames | shots | preview s | full render s | preview / render "
          f"(median of {repeat}) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [("samples/film.mp4", ROOT / "samples" / "film.mp4")]
        for seconds in lengths:
            src = Path(tmp) / f"film_{seconds:g}s.mp4"
            make_clip(src, w, h, round(24 * seconds))
            inputs.append((f"sample looped to {seconds:g} s", src))
        for name, src in inputs:
            pdir = Path(tmp) / f"preview_{src.stem}"
            previews, renders = [], []
            for _ in range(repeat):
                previews.append(cli(str(src), "--preview", str(pdir)))
                renders.append(cli(str(src), "-o", str(Path(tmp) / f"out_{src.stem}.mp4")))
            preview, render = statistics.median(previews), statistics.median(renders)
            shots = json.loads((pdir / "shots.json").read_text())
            print(f"| {name} | {shots['frames']} | {len(shots['shots'])} | {preview:.2f} | "
                  f"{render:.2f} | {100 * preview / render:.1f}% |")
            print(f"<!-- previews {[round(t, 2) for t in previews]}, "
                  f"renders {[round(t, 2) for t in renders]} -->")
    return 0


def print_table(columns: list[str], rows: list[str]) -> None:
    """A markdown table; a column named with a trailing ``:`` is numeric (right-aligned)."""
    print("| " + " | ".join(c.rstrip(":") for c in columns) + " |")
    print("| " + " | ".join("---:" if c.endswith(":") else "---" for c in columns) + " |")
    print("\n".join(rows))


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--sizes", nargs="+", default=list(SIZES), help="WxH clip sizes")
    p.add_argument("--backends", nargs="+", default=["onnx"], choices=("onnx", "torch"))
    p.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=("fp32", "int8"),
                   help="the ONNX backend's precisions to compare (torch: fp32 only)")
    p.add_argument("--render-sizes", type=int, nargs="+", default=[TileConfig().render_size])
    p.add_argument("--segments", type=float, metavar="SECONDS",
                   help="instead: the cost of resumable segments + assembly vs one single pass, "
                        "on a clip of this many seconds at the first --sizes")
    p.add_argument("--preview", type=float, nargs="*", metavar="SECONDS",
                   help="instead: preview vs full render time on the sample film and on "
                        "versions of it looped to these lengths")
    p.add_argument("--repeat", type=int, default=3,
                   help="with --preview: runs of each command (the median is reported)")
    p.add_argument("--codecs", nargs="*", metavar="CODEC",
                   help="instead: WebM codecs compared at --crfs (default libvpx-vp9 libsvtav1)")
    p.add_argument("--crfs", type=int, nargs="+", default=[24, 30, 36])
    p.add_argument("--batch", type=int, metavar="N",
                   help="instead: a folder of N clips as one batch vs N single runs")
    p.add_argument("--workers", type=int, nargs="+", metavar="N",
                   help="Ray: the CLI in one process vs --workers N (scripts/bench_cluster.py)")
    p.add_argument("--determinism", type=int, metavar="N",
                   help="instead: N renders each of the sample and of a multi-shot clip, 3 at "
                        "once; prints how many distinct outputs (must be 1)")
    p.add_argument("--worker", choices=("pipeline", "floor", "window", "single"),
                   help=argparse.SUPPRESS)
    p.add_argument("--backend", default="onnx", help=argparse.SUPPRESS)
    p.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--profile", choices=("auto", "fp32", "int8"), metavar="PRECISION",
                   help="per-stage milliseconds per frame of the render (in-process)")
    p.add_argument("--render-size", type=int, default=TileConfig().render_size,
                   help=argparse.SUPPRESS)
    p.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--dst", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "window":
        print(json.dumps({"ms": window_ms(args.backend, args.threads, args.precision)}))
        return 0
    if args.worker:
        result = worker(args.worker, args.src, args.dst, args.threads, args.backend,
                        args.render_size, args.precision)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0

    def run(*extra: str) -> dict:
        cmd = [sys.executable, __file__, "--threads", str(args.threads), *extra]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    if args.profile:
        from bench_profile import profile_sizes

        return profile_sizes(args.sizes, args.frames, args.profile, make_clip)
    if args.segments:
        return segments_overhead(args, run)
    if args.codecs is not None:
        return codecs(args.codecs or ["libvpx-vp9", "libsvtav1"], args.crfs)
    if args.determinism:
        return determinism(args.determinism)
    if args.workers:
        from bench_cluster import workers_vs_one

        return workers_vs_one(args.workers, 480, 2)
    if args.batch:
        return batch_overhead(args.batch, args.frames)
    if args.preview is not None:
        return preview_vs_render(args.preview, args.repeat)
    nets = [(b, pr) for b in args.backends for pr in args.precisions
            if b == "onnx" or pr == "fp32"]
    ms = {net: run("--worker", "window", "--backend", net[0], "--precision", net[1])["ms"]
          for net in nets}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            src = Path(tmp) / f"in_{w}x{h}.mp4"
            make_clip(src, w, h, args.frames)
            floor = run("--worker", "floor", "--src", str(src), "--dst",
                        str(Path(tmp) / f"floor_{w}x{h}.mp4"))
            floor_fps = floor["frames"] / floor["seconds"]
            for backend, precision in nets:
                for rs in args.render_sizes:
                    res = run("--worker", "pipeline", "--backend", backend, "--precision",
                              precision, "--render-size", str(rs), "--src", str(src), "--dst",
                              str(Path(tmp) / "p.mp4"))
                    fps = res["frames"] / res["seconds"]
                    rows.append(
                        f"| {backend} {precision} | cpu | {w}x{h} | {rs} | "
                        f"{ms[backend, precision]:.1f} | "
                        f"{res['frames']} | {fps:.2f} | {res['rss_mb']:.0f} | {floor_fps:.2f} | "
                        f"{floor['rss_mb']:.0f} | {fps / floor_fps:.3f} |"
                    )
    import torch

    print(f"torch {torch.__version__}, {args.threads or torch.get_num_threads()} threads, CPU; "
          "libx264 crf 18 medium for both runs; default settings otherwise\n")
    print("| backend | device | size | render size | net ms/window (batch 8) | frames | "
          "pipeline fps | pipeline peak RSS MB | I/O floor fps | floor peak RSS MB | "
          "pipeline / floor |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
