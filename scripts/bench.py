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
    python scripts/bench.py --reanchor 5        # the cost of re-anchoring, 5 rounds
    python scripts/bench.py --determinism 20    # same bytes every run?
    python scripts/bench.py --batch 6           # a folder as one batch vs one run per file
    python scripts/bench.py --whole             # the whole process on a multi-shot clip, per
                                                # stage, and its ratio to the I/O floor
    python scripts/bench.py --whole CLIP --every 1 4   # a clip of yours, two settings in turns
    python scripts/bench.py --whole A.mp4 B.mp4 C.mp4  # their gray versions joined: 3 shots
    python scripts/bench.py --chroma-cost OUT.mkv --sizes 640x360 1920x1080  # x264 on colour
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.config import PRECISIONS, TileConfig

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
    from vidcolor.encode import VideoWriter
    from vidcolor.lab.clips import gray_frame
    from vidcolor.planes import luma_plane
    from vidcolor.probe import read_media_info

    info = read_media_info(src)
    part = dst.with_name("floor-part.mp4")
    writer = VideoWriter(part, info, EncodeConfig(), "mp4")
    for frame in iter_frames(src):
        out = gray_frame(luma_plane(frame), writer.plan, info.full_range, info.matrix)
        out.pts, out.time_base = frame.pts, info.time_base
        writer.write(out)
    writer.close()
    assemble([part], src, dst, "mp4")
    part.unlink()


def _median_fps(results: list[dict]) -> tuple[float, float, str]:
    """Median frames per second of runs, their largest peak RSS, and the range if several."""
    fps = sorted(r["frames"] / r["seconds"] for r in results)
    spread = f" ({fps[0]:.2f}–{fps[-1]:.2f})" if len(fps) > 1 else ""
    return statistics.median(fps), max(r["rss_mb"] for r in results), spread


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


def whole_vs_floor(args: argparse.Namespace, run) -> int:
    """The whole process on a multi-shot clip, every stage timed, and the I/O floor, in turns.

    ``--runs`` rounds of the floor and of each ``--every``; prints each setting's median-round
    profile and the ratios (the floor's seconds over the whole process's, start-up included).
    """
    from bench_profile import print_whole

    from vidcolor.lab.clips import gray_video

    settings = args.every or [None]
    with tempfile.TemporaryDirectory() as tmp:
        if len(args.whole) == 1:
            src = args.whole[0]
        elif args.whole:
            src = Path(tmp) / "joined.mp4"
            gray_video(args.whole, src, crf=18, preset="veryfast", rate=25)
        else:
            w, h = (int(v) for v in args.sizes[0].split("x"))
            src = Path(tmp) / f"multi_{w}x{h}.mp4"
            make_clip(src, w, h, 480)
        floors, results = [], {e: [] for e in settings}
        for _ in range(args.runs):
            res = run("--worker", "floor", "--src", str(src), "--dst", str(Path(tmp) / "f.mp4"))
            floors.append({"seconds": res["seconds"], "fps": res["frames"] / res["seconds"]})
            for every in settings:
                extra = ["--every", str(every)] if every is not None else []
                t0 = time.perf_counter()
                res = run("--worker", "whole", "--precision", args.precision, *extra,
                          "--src", str(src), "--dst", str(Path(tmp) / "p.mp4"))
                res["total"] = time.perf_counter() - t0
                results[every].append(res)
        floor = sorted(floors, key=lambda f: f["seconds"])[len(floors) // 2]
        name = (", ".join(str(c) for c in args.whole) if args.whole
                else "the sample film looped, " + args.sizes[0])
        print(f"clip: {name}; "
              f"precision {args.precision}; {args.runs} round(s), floor and settings in turns\n")
        summary = []
        for every in settings:
            rounds = sorted(results[every], key=lambda r: r["total"])
            mid = rounds[len(rounds) // 2]
            label = "default" if every is None else f"--every {every}"
            print_whole(mid, mid["total"], floor, label)
            ratios = [f["seconds"] / r["total"] for f, r in zip(floors, results[every],
                                                                strict=True)]
            summary.append(f"| {label} | {mid['frames'] / mid['total']:.2f} | "
                           f"{floor['fps']:.2f} | {statistics.median(ratios):.3f} | "
                           f"{', '.join(f'{r:.3f}' for r in ratios)} | {mid['rss_mb']:.0f} |")
        print_table(["setting", "whole-process fps:", "I/O floor fps:",
                     "ratio (median):", "ratio per round", "peak RSS MB:"], summary)
    return 0


def print_table(columns: list[str], rows: list[str]) -> None:
    """A markdown table; a column named with a trailing ``:`` is numeric (right-aligned)."""
    print("| " + " | ".join(c.rstrip(":") for c in columns) + " |")
    print("| " + " | ".join("---:" if c.endswith(":") else "---" for c in columns) + " |")
    print("\n".join(rows))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--runs", type=int, default=1,
                   help="rounds of every configuration; the table shows medians (and ranges)")
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
    p.add_argument("--whole", nargs="*", type=Path, metavar="CLIP",
                   help="instead: the whole process (start-up to the assembled file) on a "
                        "multi-shot clip (one CLIP; several: their Y' planes joined, one shot "
                        "each; none: 480 frames of the looped sample film at the first --sizes, "
                        "8 shots), every stage timed, against the I/O floor in the same run")
    p.add_argument("--chroma-cost", type=Path, metavar="CLIP",
                   help="instead: libx264 on a colour clip's own chroma vs neutral chroma (the "
                        "floor's), at --sizes")
    p.add_argument("--every", type=int, nargs="+", metavar="N",
                   help="with --whole: the network-frame gaps to compare (default: the default)")
    p.add_argument("--worker", choices=("pipeline", "floor", "window", "single", "whole"),
                   help=argparse.SUPPRESS)
    p.add_argument("--backend", default="onnx", help=argparse.SUPPRESS)
    p.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--profile", choices=PRECISIONS, metavar="PRECISION",
                   help="per-stage milliseconds per frame of the render (in-process)")
    p.add_argument("--reanchor", type=int, metavar="ROUNDS",
                   help="instead: wall per frame with the drift guard's re-anchoring vs without")
    p.add_argument("--render-size", type=int, default=TileConfig().render_size,
                   help=argparse.SUPPRESS)
    p.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--dst", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "window":
        print(json.dumps({"ms": window_ms(args.backend, args.threads, args.precision)}))
        return 0
    if args.chroma_cost:
        from bench_profile import chroma_cost

        chroma_cost(args.chroma_cost, args.sizes)
        return 0
    if args.worker == "whole":
        from bench_profile import whole_process

        result = whole_process(args.src, args.dst, args.precision,
                               args.every[0] if args.every else None)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
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

    if args.whole is not None:
        return whole_vs_floor(args, run)
    if args.profile:
        from bench_profile import profile_sizes

        return profile_sizes(args.sizes, args.frames, args.profile, make_clip)
    if args.reanchor:
        from bench_profile import reanchor_cost

        return reanchor_cost(args.sizes[:1], args.frames, args.reanchor, make_clip)
    if args.segments:
        return segments_overhead(args, run)
    if args.codecs is not None:
        from bench_more import codecs

        return codecs(args.codecs or ["libvpx-vp9", "libsvtav1"], args.crfs)
    if args.determinism:
        from bench_more import determinism

        return determinism(args.determinism)
    if args.workers:
        from bench_cluster import workers_vs_one

        return workers_vs_one(args.workers, 480, 2)
    if args.batch:
        from bench_more import batch_overhead

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
            configs = [(b, pr, rs) for b, pr in nets for rs in args.render_sizes]
            done: dict[tuple, list[dict]] = {}
            # Rounds of every configuration (and the floor) in turn, so that the host's load
            # falls on all of them alike; the table shows each one's median round.
            for _ in range(args.runs):
                done.setdefault(("floor",), []).append(run(
                    "--worker", "floor", "--src", str(src), "--dst",
                    str(Path(tmp) / f"floor_{w}x{h}.mp4")))
                for backend, precision, rs in configs:
                    done.setdefault((backend, precision, rs), []).append(run(
                        "--worker", "pipeline", "--backend", backend, "--precision", precision,
                        "--render-size", str(rs), "--src", str(src), "--dst",
                        str(Path(tmp) / "p.mp4")))
            floor_fps, floor_rss, _ = _median_fps(done["floor",])
            for backend, precision, rs in configs:
                fps, rss, spread = _median_fps(done[backend, precision, rs])
                rows.append(
                    f"| {backend} {precision} | cpu | {w}x{h} | {rs} | "
                    f"{ms[backend, precision]:.1f} | {args.frames} | {fps:.2f}{spread} | "
                    f"{rss:.0f} | {floor_fps:.2f} | {floor_rss:.0f} | {fps / floor_fps:.3f} |"
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
