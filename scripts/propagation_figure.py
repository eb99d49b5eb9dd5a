"""``docs/propagation.png``: per-frame colourfulness and warp error, ``--every N`` against 1.

One real clip (default: the dashcam clip of ../shared/data/video, turned gray) colorized
in-process as the render does it (:func:`vidcolor.lab.clips.colorize`), once with the network on
every frame and once with propagated frames (``--every N``); its network frames are marked
under each panel (the anchor in black). Drawn with OpenCV (no plotting library among the
dependencies).

Example::

    python scripts/propagation_figure.py --every 4 --out docs/propagation.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from video_studies import propagation_decisions

from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import TemporalConfig
from vidcolor.lab.clips import anchor_of, colorize, read_clip
from vidcolor.lab.metrics import colorfulness
from vidcolor.lab.video_metrics import warp_errors
from vidcolor.weights import verify_weights

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
W, PANEL, LEFT, RIGHT, TOP = 1100, 250, 80, 30, 60
GREY, BLUE, RED, BLACK = (150, 150, 150), (200, 90, 20), (30, 30, 210), (20, 20, 20)


def network_frames(decisions: list[bool], frames: int, anchor: int) -> list[int]:
    """The frames that ran the network, from the decisions in the order the shot was made.

    A one-shot clip is colorized from its anchor forward to its end, then backward to its
    start; every frame but the anchor is decided (``True``: propagated).
    """
    order = [*range(anchor + 1, frames), *range(anchor - 1, -1, -1)]
    return [anchor] + [f for f, p in zip(order, decisions, strict=True) if not p]


def draw(path: Path, name: str, curves: dict[str, tuple[list[float], list[float]]],
         marks: list[int], anchor: int, every: int) -> None:
    """Two panels (colourfulness, warp error x1000), a line per setting, network frames marked."""
    n = len(next(iter(curves.values()))[0])
    img = np.full((TOP + 2 * PANEL + 60, W, 3), 255, np.uint8)

    def text(s: str, org: tuple[int, int], scale: float = 0.5, colour=BLACK) -> None:
        cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)

    text(f"{name}: --every 1 (grey) and --every {every} (blue); network frames of "
         f"--every {every} in red, the anchor in black", (LEFT, 30), 0.55)
    x = lambda i: int(LEFT + (W - LEFT - RIGHT) * i / max(n - 1, 1))  # noqa: E731
    for k, (title, idx) in enumerate((("colourfulness", 0), ("warp error x1000", 1))):
        top = TOP + k * PANEL
        bottom = top + PANEL - 50
        values = [v for c in curves.values() for v in c[idx]]
        lo, hi = min(values), max(values)
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad

        def y(v: float, lo: float = lo, hi: float = hi, top: int = top,
              bottom: int = bottom) -> int:
            return int(bottom - (bottom - top - 10) * (v - lo) / (hi - lo))

        cv2.rectangle(img, (LEFT, top), (W - RIGHT, bottom), (210, 210, 210), 1)
        text(title, (LEFT + 6, top + 18))
        for v in (lo + pad, hi - pad):
            text(f"{v:.2f}", (8, y(v) + 4), 0.4)
        for label, colour in (("1", GREY), (str(every), BLUE)):
            vals = curves[label][idx]
            start = n - len(vals)  # warp error starts at frame 1
            pts = np.array([(x(start + i), y(v)) for i, v in enumerate(vals)], np.int32)
            cv2.polylines(img, [pts], False, colour, 2 if colour == BLUE else 1, cv2.LINE_AA)
        for f in marks:
            cv2.line(img, (x(f), bottom + 4), (x(f), bottom + 14), BLACK if f == anchor else RED,
                     2 if f == anchor else 1)
        for f in range(0, n, 25):
            text(str(f), (x(f) - 8, bottom + 30), 0.4)
    text("frame", (W // 2, TOP + 2 * PANEL + 30), 0.45)
    cv2.imwrite(str(path), img)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clip", type=Path, default=SHARED / "video" / "highway_dashcam.mp4")
    p.add_argument("--every", type=int, default=4)
    p.add_argument("--frames", type=int, default=0, help="first N frames (0: all)")
    p.add_argument("--out", type=Path, default=Path("docs/propagation.png"))
    args = p.parse_args(argv)
    weights = verify_weights(None)
    backend = create_backend("auto", weights.load, "cpu", weights.digest)
    ys, _, full, matrix = read_clip(args.clip, args.frames)
    anchor = anchor_of(ys)
    curves, marks = {}, []
    for every in (1, args.every):
        with propagation_decisions() as decisions:
            out = colorize(FrameColorizer(backend, None, TemporalConfig(every=every)), ys,
                           full, matrix)
        curves[str(every)] = ([colorfulness(f) for f in out],
                              [1000 * e for e in warp_errors(out, ys)])
        if every == args.every:
            marks = network_frames(decisions, len(ys), anchor)
    draw(args.out, args.clip.stem, curves, marks, anchor, args.every)
    c1, cn = (np.mean(curves[k][0]) for k in ("1", str(args.every)))
    w1, wn = (np.mean(curves[k][1]) for k in ("1", str(args.every)))
    print(f"{args.clip.stem}, {len(ys)} frames, --every {args.every}: {len(marks)} network "
          f"frames; colourfulness {cn:.2f} vs {c1:.2f} ({cn / c1:.3f}), warp error x1000 "
          f"{wn:.3f} vs {w1:.3f} ({wn / w1:.3f}); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
