"""``docs/frontier.png``: PSNR over gray against colourfulness, one line per model (evaluate.py).

Drawn with OpenCV (no plotting library among the dependencies). Each line is a gain sweep
(:func:`vidcolor.lab.evaluation.gain_sweep`); the issue's floor (CF >= 0.90 x truth and PSNR >= gray
+ 1.5 dB, at one setting) is the shaded corner. Published models are marked on the colourfulness
axis only: their PSNR was measured on ImageNet, not on these photos (DDColor, ICCV 2023,
Table 1; the truth's CF there is about 38.6).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# (name, colourfulness / truth) as published on ImageNet val 5k (DDColor, ICCV 2023, Table 1).
PUBLISHED = (("DeOldify", 0.55), ("CIC", 0.82), ("ColorFormer", 0.98), ("DDColor", 0.99))
FLOOR = (0.90, 1.5)  # colourfulness / truth, PSNR over gray (dB)
COLOURS = ((200, 60, 20), (30, 140, 30), (20, 90, 220), (150, 40, 150), (90, 90, 90))
W, H, LEFT, RIGHT, TOP, BOTTOM = 960, 620, 90, 30, 70, 70
X_RANGE = (0.5, 1.05)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5,
          colour: tuple[int, int, int] = (40, 40, 40)) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def draw_frontier(lines: dict[str, list], out: Path) -> None:
    """Draw ``lines`` (name -> :class:`GainPoint` list) into the PNG ``out``."""
    ys = [p.psnr_over_gray for pts in lines.values() for p in pts] + [FLOOR[1]]
    y_lo, y_hi = np.floor(min(ys) * 2 - 1) / 2, np.ceil(max(ys) * 2 + 1) / 2

    def at(cf: float, db: float) -> tuple[int, int]:
        x = LEFT + (cf - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0]) * (W - LEFT - RIGHT)
        y = TOP + (y_hi - db) / (y_hi - y_lo) * (H - TOP - BOTTOM)
        return round(x), round(y)

    img = np.full((H, W, 3), 255, np.uint8)
    x0, y0 = at(FLOOR[0], y_hi)
    x1, y1 = at(X_RANGE[1], FLOOR[1])
    cv2.rectangle(img, (x0, y0), (x1, y1), (215, 240, 215), -1)
    _text(img, "floor of the colour issue", (x0 + 6, y1 - 8), 0.45, (30, 110, 30))
    for cf in np.arange(0.5, 1.0501, 0.05):
        x, _ = at(cf, y_lo)
        cv2.line(img, (x, TOP), (x, H - BOTTOM), (230, 230, 230), 1)
        _text(img, f"{cf:.2f}", (x - 14, H - BOTTOM + 20), 0.42)
    for db in np.arange(y_lo, y_hi + 1e-6, 0.5):
        _, y = at(X_RANGE[0], db)
        cv2.line(img, (LEFT, y), (W - RIGHT, y), (230, 230, 230), 1)
        _text(img, f"{db:+.1f}", (LEFT - 44, y + 5), 0.42)
    cv2.rectangle(img, (LEFT, TOP), (W - RIGHT, H - BOTTOM), (120, 120, 120), 1)
    _text(img, "colourfulness / truth's (val photos)", (W // 2 - 150, H - 22), 0.55)
    _text(img, "PSNR over gray, dB", (8, TOP - 14), 0.55)
    for name, cf in PUBLISHED:
        x, _ = at(cf, y_lo)
        for y in range(TOP, H - BOTTOM, 10):
            cv2.line(img, (x, y), (x, y + 4), (160, 160, 160), 1)
        _text(img, name, (x - 28, TOP - 4 - 14 * (name == "DDColor")), 0.4, (110, 110, 110))
    for k, (name, pts) in enumerate(lines.items()):
        colour = COLOURS[k % len(COLOURS)]
        xy = [at(p.cf_ratio, p.psnr_over_gray) for p in pts]
        cv2.polylines(img, [np.array(xy, np.int32)], False, colour, 2, cv2.LINE_AA)
        for p, (x, y) in zip(pts, xy, strict=True):
            cv2.circle(img, (x, y), 4, colour, -1, cv2.LINE_AA)
            if k == 0:
                _text(img, f"{p.gain:g}", (x + 6, y - 6), 0.4, colour)
        _text(img, name, (LEFT + 12, TOP + 22 + 20 * k), 0.5, colour)
    _text(img, "points: chroma gain (--saturation); grey dashes: published CF on ImageNet "
          "(their PSNR is not on these photos)", (LEFT, H - 4), 0.38, (110, 110, 110))
    cv2.imwrite(str(out), img)
