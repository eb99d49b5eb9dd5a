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
