"""Figures for the README, drawn from the bundled sample (nothing from ../shared).

``docs/windows.png``: the window grid over a frame of ``samples/film.mp4`` at a working
resolution of 448 (left), and the blend weights of the windows (right: each window's weight in
its own colour; they sum to 1 everywhere, so the colours mix only in the cross-fades).

Example::

    python scripts/make_figures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.planes import luma_plane
from vidcolor.tiling import WindowGrid, working_size

ROOT = Path(__file__).resolve().parents[1]

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
           (0, 128, 128), (170, 110, 40), (128, 0, 0), (170, 255, 195), (128, 128, 0)]


def main() -> int:
    with av.open(str(ROOT / "samples" / "film.mp4")) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == 12:
                y = luma_plane(frame)
                break
    h, w = working_size(*y.shape, 448)
    gray = cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC)
    grid = WindowGrid(h, w, overlap=32)
    left = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    weights = np.zeros((h, w, 3), np.float32)
    for k, (y0, x0) in enumerate(grid.boxes()):
        color = PALETTE[k % len(PALETTE)]
        wk = grid.weight(k)[: h - y0, : w - x0]
        weights[y0:y0 + wk.shape[0], x0:x0 + wk.shape[1]] += wk[..., None] * np.array(color)
        cv2.rectangle(left, (x0, y0), (x0 + grid.win_w - 1, y0 + grid.win_h - 1), color, 2)
    right = (0.35 * cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB) + 0.65 * weights).astype(np.uint8)
    total = grid.weight_sum()
    caption = (f"{len(grid)} windows of 224x224 over a {w}x{h} working frame; "
               f"weights sum to {total.min():.4f}..{total.max():.4f}")
    canvas = np.full((h + 36, 2 * w + 12, 3), 255, np.uint8)
    canvas[:h, :w], canvas[:h, w + 12:] = left, right
    cv2.putText(canvas, caption, (8, h + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                cv2.LINE_AA)
    out = ROOT / "docs" / "windows.png"
    out.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(out), canvas[:, :, ::-1])
    print(f"wrote {out} ({caption})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
