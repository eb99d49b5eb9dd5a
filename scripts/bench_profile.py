"""Where a frame's time goes: the render profiled per stage (``scripts/bench.py --profile``).

Runs the pipeline in this process under cProfile on a clip of each size and sums the time
spent in the functions of each stage of the main thread; waits on the decode and encode
threads' queues show as queue waits. Prints milliseconds per frame.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
import time
from pathlib import Path

# (stage, substrings of "file:function" of the functions whose own time it takes), in order.
STAGES = (
    ("network (ONNX Runtime / torch)", ("onnxruntime", "torch/nn", "_conv_forward")),
    ("optical flow", ("DenseOpticalFlow",)),
    ("Y' to L, resizing to working size", ("plane_to_luma", "luma_to_l", "pool2", "reduceat",
                                           "resample.py", "srgb_to_linear")),
    ("prior (warp, blend, drift guard)", ("temporal.py", "remap")),
    ("chroma upsampling (guided filter)", ("guided_upsample", "guided.py", "<resize>",
                                           "<blur>", "<multiply>", "<add>", "<merge>")),
    ("colour conversion (Lab to Cb/Cr)", ("lab_to_rgb", "<cvtColor>", "rgb_to_chroma",
                                          "merge_chroma", "linear_to_srgb", "rgb_to_luma",
                                          "colorspace.py")),
    ("encoder (in the main thread)", ("'encode' of", "encode.py", "build_frame")),
    ("queue waits (decode / encode threads)", ("acquire", "queue.py", "threading.py")),
)
OTHER = "other (numpy glue, shots, bookkeeping)"


def _stage(key: tuple[str, int, str]) -> str:
    name = f"{key[0]}:{key[2]}"
    for stage, needles in STAGES:
        if any(n in name for n in needles):
            return stage
    return OTHER


def profile_sizes(sizes: list[str], frames: int, precision: str, make_clip) -> int:
    """Profile a render of a ``frames``-frame clip of each ``WxH`` size; print a table."""
    from vidcolor.config import JobConfig
    from vidcolor.pipeline import run_job

    columns: dict[str, dict[str, float]] = {}
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            w, h = (int(v) for v in size.split("x"))
            src = Path(tmp) / f"in_{w}x{h}.mp4"
            make_clip(src, w, h, frames)
            cfg = JobConfig(overwrite=True, precision=precision)
            run_job(src, Path(tmp) / "warm.mp4", cfg)  # load the model, warm the caches
            prof = cProfile.Profile()
            start = time.perf_counter()
            prof.enable()
            run_job(src, Path(tmp) / "out.mp4", cfg)
            prof.disable()
            walls[size] = (time.perf_counter() - start) * 1000 / frames
            totals: dict[str, float] = {}
            for key, row in pstats.Stats(prof).stats.items():  # type: ignore[attr-defined]
                stage = _stage(key)
                totals[stage] = totals.get(stage, 0.0) + row[2] * 1000 / frames
            columns[size] = totals
    names = [s for s, _ in STAGES] + [OTHER]
    print(f"ms per frame in the main thread ({frames} frames, precision {precision}; "
          "cProfile, so a little slower than the bench)\n")
    print("| stage | " + " | ".join(sizes) + " |")
    print("| --- |" + " ---: |" * len(sizes))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{columns[s].get(name, 0.0):.1f}" for s in sizes)
              + " |")
    print("| **wall per frame** | " + " | ".join(f"**{walls[s]:.1f}**" for s in sizes) + " |")
    return 0


def reanchor_cost(sizes: list[str], frames: int, rounds: int, make_clip) -> int:
    """Wall time per frame with re-anchoring (the default) against without, in turns.

    In this process, the same clip, ``rounds`` renders each, alternating (so load on a shared
    machine falls on both alike); prints medians and their ratio.
    """
    import dataclasses
    import statistics

    from vidcolor.config import JobConfig, TemporalConfig
    from vidcolor.pipeline import run_job

    on = JobConfig(overwrite=True)
    off = dataclasses.replace(on, temporal=TemporalConfig(reanchor_every=0))
    print(f"| clip | re-anchoring every {on.temporal.reanchor_every} frames, ms/frame | "
          "off, ms/frame | ratio |")
    print("| --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            w, h = (int(v) for v in size.split("x"))
            src = Path(tmp) / f"in_{w}x{h}.mp4"
            make_clip(src, w, h, frames)
            run_job(src, Path(tmp) / "warm.mp4", on)
            times: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(rounds):
                for name, cfg in (("on", on), ("off", off)):
                    start = time.perf_counter()
                    run_job(src, Path(tmp) / "out.mp4", cfg)
                    times[name].append((time.perf_counter() - start) * 1000 / frames)
            a, b = statistics.median(times["on"]), statistics.median(times["off"])
            print(f"| {size}, {frames} frames | {a:.1f} | {b:.1f} | {a / b:.3f} |")
    return 0


# The whole process, stage by stage: (module, owner attribute path, stage). Each wrapped
# function's own time (less the wrapped functions it calls) goes to its stage, per thread.
WHOLE_STAGES = (
    ("vidcolor.pipeline", "verify_weights", "start-up: weights check (sha256)"),
    ("vidcolor.pipeline", "make_colorizer", "start-up: model load"),
    ("vidcolor.pipeline", "first_pass", "first pass: decode, cuts, frame times"),
    ("vidcolor.render", "_backward_chroma", "backward first pass: decode, working luma, scratch"),
    ("vidcolor.render", "luma_plane", "Y' plane of a decoded frame"),
    ("vidcolor.render", "plane_to_luma", "Y' to luma, working size"),
    ("vidcolor.colorize", "plane_to_luma", "Y' to luma, working size"),
    ("vidcolor.colorize", "FrameColorizer.working_luma", "Y' to luma, working size"),
    ("vidcolor.colorize", "FrameColorizer.predict_small", "network"),
    ("vidcolor.colorize", "FrameColorizer._global_pass", "network"),
    ("vidcolor.temporal", "flow_between", "optical flow (DIS, two a frame)"),
    ("vidcolor.temporal", "TemporalPrior.carry", "prior: warp, flow check"),
    ("vidcolor.shot", "Shot._next", "temporal loop: blend, drift guard, propagation"),
    ("vidcolor.colorize", "guided_upsample", "chroma upsampling (guided filter)"),
    ("vidcolor.colorize", "merge_chroma", "colour conversion (Lab to Cb/Cr)"),
    ("vidcolor.colorize", "FrameColorizer.planes_from_ab", "colour conversion (Lab to Cb/Cr)"),
    ("vidcolor.encode", "build_frame", "frame building"),
    ("vidcolor.encode", "VideoWriter.write", "encode (libx264)"),
    ("vidcolor.encode", "VideoWriter.close", "encode (libx264)"),
    ("vidcolor.encode", "AsyncWriter.write", "waits on the encoder thread"),
    ("vidcolor.encode", "AsyncWriter.write_deferred", "waits on the encoder thread"),
    ("vidcolor.encode", "AsyncWriter.close", "waits on the encoder thread"),
    ("vidcolor.pipeline", "assemble", "assembly (packet copy)"),
)


class StageTimer:
    """Wall time of wrapped functions, each call's own (less wrapped callees), per thread."""

    def __init__(self) -> None:
        import threading
        from collections import defaultdict

        self.own: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: list[tuple[str, float]] = []  # (stage, inclusive seconds) of every call
        self._local = threading.local()
        self._lock = threading.Lock()

    def wrap(self, owner: object, name: str, stage: str) -> None:
        """Replace ``owner.name`` by a timed version (``stage``)."""
        import functools
        import threading

        fn = getattr(owner, name)
        if getattr(fn, "_timed", False):
            return

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            stack = self._local.__dict__.setdefault("stack", [])
            frame = [time.perf_counter(), 0.0]
            stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                stack.pop()
                spent = time.perf_counter() - frame[0]
                if stack:
                    stack[-1][1] += spent
                who = "main" if threading.current_thread() is threading.main_thread() \
                    else "worker threads"
                with self._lock:
                    self.own[stage, who] += spent - frame[1]
                    self.calls.append((stage, spent))

        timed._timed = True  # type: ignore[attr-defined]
        setattr(owner, name, timed)

    def install(self) -> None:
        """Wrap every function of :data:`WHOLE_STAGES`."""
        import importlib

        for module, path, stage in WHOLE_STAGES:
            owner: object = importlib.import_module(module)
            *parents, name = path.split(".")
            for p in parents:
                owner = getattr(owner, p)
            self.wrap(owner, name, stage)


def whole_process(src: Path, dst: Path, precision: str, every: int | None = None) -> dict:
    """Render ``src`` in this process with every stage timed; returns the times (seconds).

    ``startup_imports``: importing the pipeline; the other stages as :data:`WHOLE_STAGES`.
    """
    import dataclasses

    t0 = time.perf_counter()
    from vidcolor.config import JobConfig
    from vidcolor.pipeline import run_job

    imports = time.perf_counter() - t0
    timer = StageTimer()
    timer.install()
    cfg = JobConfig(overwrite=True, precision=precision)
    if every is not None:
        cfg = dataclasses.replace(cfg, temporal=dataclasses.replace(cfg.temporal, every=every))
    t1 = time.perf_counter()
    frames = run_job(src, dst, cfg)
    wall = time.perf_counter() - t1
    backward = [s for st, s in timer.calls if st.startswith("backward first pass")]
    network_calls = sum(1 for st, _ in timer.calls if st == "network")
    return {"frames": frames, "wall": wall, "imports": imports,
            "own": {f"{k[0]}|{k[1]}": v for k, v in timer.own.items()},
            "backward": backward, "network_calls": network_calls}


def print_whole(result: dict, total: float, floor: dict, label: str) -> None:
    """The table of :func:`whole_process` (``total``: the process's wall, start-up included)."""
    frames = result["frames"]
    own: dict[str, float] = result["own"]
    stages = list(dict.fromkeys(stage for _, _, stage in WHOLE_STAGES))
    main = {s: own.get(f"{s}|main", 0.0) for s in stages}
    side = {s: own.get(f"{s}|worker threads", 0.0) for s in stages}
    startup = total - result["wall"]
    print(f"{label}: {frames} frames, whole process {total:.1f} s ({frames / total:.2f} fps); "
          f"I/O floor {floor['seconds']:.1f} s ({floor['fps']:.2f} fps); "
          f"ratio {floor['seconds'] / total:.3f}\n")
    print("| stage | main thread s | ms/frame | encoder thread s |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| start-up: Python, imports (outside run_job) | {startup:.2f} | "
          f"{1000 * startup / frames:.1f} | |")
    for s in stages:
        if main[s] or side[s]:
            print(f"| {s} | {main[s]:.2f} | {1000 * main[s] / frames:.1f} | "
                  f"{side[s]:.2f} |")
    rest = result["wall"] - sum(main.values())
    print(f"| other: decode waits, segments, glue | {rest:.2f} | {1000 * rest / frames:.1f} | |")
    print(f"| **whole process** | **{total:.2f}** | **{1000 * total / frames:.1f}** | |")
    if result["backward"]:
        print("\nbackward first passes (each backward segment, s): "
              + ", ".join(f"{s:.2f}" for s in result["backward"]))
    print(f"network calls: {result['network_calls']}\n")


def chroma_cost(clip: Path, sizes: list[str], rounds: int = 2) -> None:
    """libx264 (the render's settings) on a colour clip's own chroma against neutral chroma.

    The I/O floor encodes neutral chroma; this says how much of the render's encoding time is
    the colour itself. Frames are decoded and scaled beforehand, so only the encoder is timed.
    """
    import io

    import av
    import cv2
    import numpy as np

    with av.open(str(clip)) as src:
        frames = [f.to_ndarray(format="yuv420p") for f in src.decode(video=0)]
    print(f"clip: {clip}, {len(frames)} frames; libx264 crf 18 medium, mbtree=0, 2 threads")
    print("| size | chroma | encode s (rounds) | MB |\n| --- | --- | --- | ---: |")
    for size in sizes:
        w, h = (int(v) // 2 * 2 for v in size.split("x"))
        planes = []
        for a in frames:
            h0, w0 = a.shape[0] * 2 // 3, a.shape[1]
            y, uv = a[:h0], a[h0:].reshape(2, h0 // 2, w0 // 2)
            y = cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC)
            uv = [cv2.resize(c, (w // 2, h // 2), interpolation=cv2.INTER_CUBIC) for c in uv]
            planes.append((y, uv))
        times: dict[str, list[float]] = {"own": [], "neutral": []}
        sizes_mb: dict[str, float] = {}
        for _ in range(rounds):
            for kind in times:
                buf = io.BytesIO()
                with av.open(buf, "w", format="mp4") as out:
                    stream = out.add_stream("libx264", rate=25)
                    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                    stream.codec_context.thread_count = 2
                    stream.codec_context.options = {"crf": "18", "preset": "medium",
                                                    "x264-params": "mbtree=0"}
                    start = time.perf_counter()
                    for i, (y, uv) in enumerate(planes):
                        u, v = uv if kind == "own" else [np.full_like(uv[0], 128)] * 2
                        frame = av.VideoFrame.from_ndarray(
                            np.concatenate([y, u.reshape(-1, w), v.reshape(-1, w)]),
                            format="yuv420p")
                        frame.pts = i
                        for packet in stream.encode(frame):
                            out.mux(packet)
                    for packet in stream.encode(None):
                        out.mux(packet)
                    times[kind].append(time.perf_counter() - start)
                sizes_mb[kind] = len(buf.getvalue()) / 1e6
        for kind, ts in times.items():
            print(f"| {w}x{h} | {kind} | {min(ts):.2f} ({', '.join(f'{t:.2f}' for t in ts)}) "
                  f"| {sizes_mb[kind]:.2f} |")
