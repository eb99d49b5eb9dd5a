"""The picture at the top of the README: the bundled sample film before and after vidcolor.

Renders ``samples/film.mp4`` with the shipped weights and default settings (exactly what the
Quick start's first command does), then puts one frame of each of its two shots beside its gray
source: left the black-and-white input, right the colorized output. Nothing from ``../shared``.

Example::

    python scripts/readme_figure.py                  # writes docs/before_after.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vidcolor

ROOT = Path(__file__).resolve().parents[1]
GAP = 8
LABEL_H = 30


def _frames(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """RGB frames (H, W, 3) uint8 of ``path`` at the given 0-based indices."""
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if len(out) == len(wanted):
                break
    return out


def _label(width: int, text: str) -> np.ndarray:
    strip = np.full((LABEL_H, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[30, 96],
                        help="0-based frames of samples/film.mp4 to show, one row each")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "before_after.png")
    args = parser.parse_args(argv)

    src = ROOT / "samples" / "film.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "film_color.mp4"
        vidcolor.colorize_video(src, dst)
        before, after = _frames(src, args.frames), _frames(dst, args.frames)

    rows = []
    for i in args.frames:
        gray, colour = before[i], after[i]
        gap = np.full((gray.shape[0], GAP, 3), 255, np.uint8)
        rows.append(np.concatenate([gray, gap, colour], axis=1))
        rows.append(np.full((GAP, rows[-1].shape[1], 3), 255, np.uint8))
    width = rows[0].shape[1]
    half = (width - GAP) // 2
    right = _label(width - half - GAP, "vidcolor samples/film.mp4 -o film_color.mp4")
    header = np.concatenate([_label(half, "black and white (samples/film.mp4)"),
                             np.full((LABEL_H, GAP, 3), 255, np.uint8), right], axis=1)
    canvas = np.concatenate([header, *rows[:-1]], axis=0)
    args.out.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(args.out), canvas[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({canvas.shape[1]}x{canvas.shape[0]}, frames {args.frames})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
