"""Ray scale-out: measured wall time against one process, and the makespan of a film on paper.

``--workers 1 2``: the same clip (the sample film looped, 640x360, a cut every 60 frames)
rendered by the CLI in one process and with ``--workers N`` (a local Ray instance), whole
commands timed (start-up included), alternating, best of ``--repeat``.

``--plan``: the makespan of a feature film's job on 1, 8, 64 and 512 workers, by list scheduling
its task DAG (each shot: the segment at its anchor, then the forward and backward chains) with
per-frame seconds and per-task overhead measured here; a table, and ``--plot`` draws it.

Example::

    python scripts/bench_cluster.py --workers 1 2
    python scripts/bench_cluster.py --plan --plot docs/scaling.png
"""

from __future__ import annotations

import argparse
import heapq
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import make_clip

from vidcolor.segments import plan_segments

ROOT = Path(__file__).resolve().parents[1]
FILM_FRAMES, FILM_SHOTS, RATE = 130_000, 1_500, 24


def cli_seconds(src: Path, dst: Path, *extra: str) -> float:
    """Wall time of one whole ``vidcolor`` command."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "-q", "-y",
                    *extra], check=True, cwd=ROOT)
    return time.perf_counter() - t0


def workers_vs_one(counts: list[int], frames: int, repeat: int) -> int:
    """The clip rendered in one process and with ``--workers N`` for each N."""
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        make_clip(src, 640, 360, frames)
        runs = [("one process", ())] + [(f"--workers {n}", ("--workers", str(n)))
                                        for n in counts]
        outputs = {}
        for _ in range(repeat):  # alternate, so drifting load hits every mode alike
            for name, extra in runs:
                dst = Path(tmp) / f"{name.replace(' ', '_')}.mp4"
                times.setdefault(name, []).append(cli_seconds(src, dst, *extra))
                outputs[name] = dst.read_bytes()
        same = all(v == outputs["one process"] for v in outputs.values())
    base = min(times["one process"])
    print(f"{frames} frames, 640x360, a cut every 60 frames; whole commands, best of {repeat}\n")
    print("| run | wall s | fps | vs one process |\n| --- | ---: | ---: | ---: |")
    for name, _ in runs:
        t = min(times[name])
        print(f"| {name} | {t:.1f} | {frames / t:.2f} | {t / base:.2f}x |")
    print(f"\nall outputs byte-identical: {'yes' if same else 'NO'}")
    return 0


LONG_TAKES = 20  # shots of 1-4 minutes among them


def film_shots(seed: int = 0) -> list[tuple[int, int, int]]:
    """A modelled feature film.

    FILM_SHOTS shots of log-normal length (median 3 s) and LONG_TAKES long takes of 1-4
    minutes, scaled to FILM_FRAMES frames; anchors at 30-70 % of each shot.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.lognormal(np.log(3 * RATE), 0.9, FILM_SHOTS)
    lengths[rng.choice(FILM_SHOTS, LONG_TAKES, replace=False)] = rng.uniform(
        60 * RATE, 240 * RATE, LONG_TAKES)
    lengths = np.maximum(6, np.round(lengths * FILM_FRAMES / lengths.sum())).astype(int)
    lengths[-1] += FILM_FRAMES - lengths.sum()
    shots, first = [], 0
    for n in lengths:
        anchor = first + int(n * rng.uniform(0.3, 0.7))
        shots.append((first, first + n - 1, anchor))
        first += n
    return shots


def makespan(segments: list[dict], workers: int, spf: float, overhead: float) -> float:
    """List scheduling of the segment DAG on ``workers``.

    A task waits for the one it starts from; of the ready tasks, the one heading the longest
    remaining chain goes first.
    """
    cost = {s["index"]: (s["end"] - s["start"] + 1) * spf + overhead for s in segments}
    children: dict[int, list[int]] = {}
    for s in segments:
        if s["after"] is not None:
            children.setdefault(s["after"], []).append(s["index"])
    tail: dict[int, float] = {}

    def chain(i: int) -> float:
        if i not in tail:
            tail[i] = cost[i] + max((chain(c) for c in children.get(i, [])), default=0.0)
        return tail[i]

    ready = [(-chain(s["index"]), s["index"]) for s in segments if s["after"] is None]
    if workers >= len(segments):  # unbounded: the longest chain
        return -min(ready)[0]
    heapq.heapify(ready)
    free = [0.0] * workers
    running: list[tuple[float, int]] = []
    now = 0.0
    while ready or running:
        while ready and free and min(free) <= now:
            _, i = heapq.heappop(ready)
            free.remove(min(free))
            heapq.heappush(running, (now + cost[i], i))
        end, i = heapq.heappop(running)
        now = end
        free.append(end)
        for c in children.get(i, []):
            heapq.heappush(ready, (-chain(c), c))
    return now


def plan(spf: float, overhead: float, plot: Path | None) -> int:
    """The modelled film's makespan table (and plot) at three segment lengths."""
    shots = film_shots()
    lengths = np.array([last - first + 1 for first, last, _ in shots])
    print(f"modelled film: {FILM_FRAMES} frames ({FILM_FRAMES / RATE / 3600:.2f} h at {RATE} "
          f"fps), {len(shots)} shots (median {np.median(lengths) / RATE:.1f} s, longest "
          f"{lengths.max() / RATE:.0f} s); {spf * 1000:.0f} ms per frame and {overhead:.2f} s "
          "per task, measured here\n")
    counts = [1, 8, 64, 512]
    print("| segment length | tasks | longest chain h | " + " | ".join(
        f"{n} workers h" for n in counts) + " |")
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in counts) + " |")
    curves = {}
    for seconds, anchor_task in ((30, True), (10, True), (3, True), (30, False)):
        segs = plan_segments(shots, seconds * RATE)
        if anchor_task:
            # As --ray runs it: the backward chain starts from a one-frame task for the anchor,
            # not after the whole first forward segment (modelled as one more frame of work).
            for s in segs:
                if s["from_anchor"]:
                    s["after"] = None
                    s["start"] -= 1
        spans = [makespan(segs, n, spf, overhead) / 3600 for n in counts]
        longest = makespan(segs, 10**6, spf, overhead) / 3600
        if anchor_task:
            curves[seconds] = spans
        name = f"{seconds} s" + ("" if anchor_task else ", backward chain after the anchor's "
                                 "segment (before the anchor task of 2026-12-01)")
        print(f"| {name} | {len(segs)} | {longest:.2f} | "
              + " | ".join(f"{v:.2f}" for v in spans) + " |")
    if plot:
        draw(plot, counts, curves, FILM_FRAMES * spf / 3600)
    return 0


def draw(path: Path, counts: list[int], curves: dict[int, list[float]], one: float) -> None:
    """Makespan against workers, log-log, with perfect scaling for reference."""
    import cv2

    w, h, pad = 760, 420, 70
    canvas = np.full((h, w, 3), 255, np.uint8)
    xs = np.log2(counts)
    lo, hi = np.log10(one / counts[-1] / 1.5), np.log10(one * 1.5)

    def pt(x: float, v: float) -> tuple[int, int]:
        px = pad + int((x - xs[0]) / (xs[-1] - xs[0]) * (w - 2 * pad))
        py = h - pad - int((np.log10(v) - lo) / (hi - lo) * (h - 2 * pad))
        return px, py

    cv2.rectangle(canvas, (pad, pad), (w - pad, h - pad), (0, 0, 0), 1)
    ideal = [pt(x, one / n) for x, n in zip(xs, counts, strict=True)]
    cv2.polylines(canvas, [np.array(ideal, np.int32)], False, (160, 160, 160), 1)
    colors = {30: (200, 60, 40), 10: (40, 140, 40), 3: (40, 60, 200)}
    for k, (seconds, values) in enumerate(curves.items()):
        pts = [pt(x, v) for x, v in zip(xs, values, strict=True)]
        cv2.polylines(canvas, [np.array(pts, np.int32)], False, colors[seconds], 2)
        cv2.putText(canvas, f"segments of {seconds} s", (w - 250, pad + 20 + 20 * k),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colors[seconds], 1)
    cv2.putText(canvas, "perfect scaling", (w - 250, pad + 80), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (120, 120, 120), 1)
    for x, n in zip(xs, counts, strict=True):
        cv2.putText(canvas, str(n), (pt(x, one)[0] - 10, h - pad + 20),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    for v in (0.01, 0.1, 1, 10, 100):
        if lo <= np.log10(v) <= hi:
            cv2.putText(canvas, f"{v:g} h", (5, pt(xs[0], v)[1] + 5), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (0, 0, 0), 1)
    cv2.putText(canvas, "makespan of a feature film (130,000 frames, 1,500 shots) vs workers",
                (pad, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    cv2.imwrite(str(path), canvas[:, :, ::-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workers", type=int, nargs="+", metavar="N")
    p.add_argument("--frames", type=int, default=480)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--plan", action="store_true")
    p.add_argument("--seconds-per-frame", type=float, default=0.2,
                   help="measured render seconds per frame (default: 1080p, 2 cores)")
    p.add_argument("--task-overhead", type=float, default=0.5,
                   help="measured seconds each Ray task adds")
    p.add_argument("--plot", type=Path)
    args = p.parse_args(argv)
    if args.workers:
        return workers_vs_one(args.workers, args.frames, args.repeat)
    if args.plan:
        return plan(args.seconds_per_frame, args.task_overhead, args.plot)
    p.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
