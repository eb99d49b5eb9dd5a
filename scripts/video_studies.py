"""Two studies of ``scripts/evaluate_video.py`` (``--preview-agreement``, ``--every``).

Preview stills against the render at each shot's preview frame, and propagated frames
(``--every N``) against the network on every frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vidcolor.lab.clips import colorize, gray_video, read_clip
from vidcolor.lab.metrics import colorfulness, psnr
from vidcolor.lab.video_metrics import warp_errors


def preview_agreement_table(clips: list[Path], work: Path) -> None:
    """Preview stills vs the render at each shot's preview frame; untouched --keyframes."""
    import dataclasses

    from vidcolor.config import EncodeConfig, JobConfig
    from vidcolor.lab.video_metrics import preview_agreement
    from vidcolor.pipeline import run_job
    from vidcolor.preview import run_preview

    print("| clip | shot | frame | default render: mean | p90 | lossless render: mean | p90 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    worst = 0.0
    untouched = []
    for clip in clips:
        src = clip if "samples" in clip.parts else gray_video(
            [clip], work / f"{clip.stem}.mp4", crf=16)
        folder = work / f"{clip.stem}-preview"
        cfg = JobConfig(overwrite=True)
        run_preview(src, folder, cfg)
        rows = {}
        for name, crf in (("default", EncodeConfig().crf), ("lossless", 0)):
            out = work / f"{clip.stem}-{name}.mp4"
            run_job(src, out, dataclasses.replace(cfg, encode=EncodeConfig(crf=crf)))
            rows[name] = preview_agreement(folder, out)
        keyed = work / f"{clip.stem}-keyed.mp4"
        run_job(src, keyed, dataclasses.replace(cfg, keyframes_dir=folder))
        untouched.append((clip.stem, keyed.read_bytes() == (work / f"{clip.stem}-default.mp4")
                          .read_bytes()))
        for d, lossless in zip(rows["default"], rows["lossless"], strict=True):
            worst = max(worst, d["mean"])
            print(f"| {clip.stem} | {d['shot']} | {d['frame']} | {d['mean']:.2f} | "
                  f"{d['p90']:.2f} | {lossless['mean']:.2f} | {lossless['p90']:.2f} |")
    print(f"\nworst shot at the default crf: mean {worst:.2f} Lab units")
    print("--keyframes PREVIEW with no still changed, byte-identical to the automatic render: "
          + ", ".join(f"{name} {'yes' if same else 'NO'}" for name, same in untouched))


@contextlib.contextmanager
def propagation_decisions() -> Iterator[list[bool]]:
    """Within: each decision of ``vidcolor.shot.propagates`` (True: propagated), in order."""
    import vidcolor.shot

    decide = vidcolor.shot.propagates
    decisions: list[bool] = []

    def counted(*args, **kwargs) -> bool:
        decisions.append(decide(*args, **kwargs))
        return decisions[-1]

    vidcolor.shot.propagates = counted
    try:
        yield decisions
    finally:
        vidcolor.shot.propagates = decide


def every_table(clips: list[Path], frames: int, make, settings: list[int]) -> None:
    """Propagated frames (``--every N``) against the network on every frame, per clip.

    Prints warp error, PSNR against the truth, mean colourfulness and the share of network
    frames; then, on average over the clips, each setting's PSNR difference, warp-error ratio
    and colourfulness ratio to ``--every 1``.
    """
    print("| clip | --every | warp error x1000 | PSNR dB | colourfulness | network frames |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows: dict[int, list[list[float]]] = {}
    for clip in clips:
        ys, truth, full, matrix = read_clip(clip, frames)
        for every in [1, *settings]:
            with propagation_decisions() as decisions:
                out = colorize(make(True, every), ys, full, matrix)
            row = [1000 * float(np.mean(warp_errors(out, ys))),
                   float(np.mean([psnr(f, g) for f, g in zip(out, truth, strict=True)])),
                   float(np.mean([colorfulness(f) for f in out])),
                   1.0 - sum(decisions) / len(ys)]
            rows.setdefault(every, []).append(row)
            print(f"| {clip.stem} | {every} | {row[0]:.3f} | {row[1]:.2f} | {row[2]:.2f} | "
                  f"{100 * row[3]:.0f}% |")
    base = np.mean(rows[1], axis=0)
    print("\n| --every | PSNR vs --every 1, dB | warp error / --every 1 | colourfulness / "
          "--every 1 | network frames |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for every, r in rows.items():
        m = np.mean(r, axis=0)
        print(f"| {every} | {m[1] - base[1]:+.3f} | {m[0] / base[0]:.3f} | "
              f"{m[2] / base[2]:.3f} | {100 * m[3]:.0f}% |")
