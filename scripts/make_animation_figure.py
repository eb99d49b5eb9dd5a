"""docs/animation.png: grey | photo model | animation model | truth, on held-out drawings.

Only licence-clean held-out material: clip art of held-out openclipart folders (public
domain) and held-out Kenney sprites of the arcade wheel (CC0), as
``scripts/make_animation_data.py`` writes them into ``runs/anim/val`` (never the cartoons
made from ../shared photos, whose terms forbid redistribution). Each picture is rendered as
``vidcolor IMAGE -o OUT --model photo|animation`` renders it.

Example::

    python scripts/make_animation_figure.py --names clip_a clip_b sprite_c
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.config import JobConfig
from vidcolor.image import colorize_array, image_luma
from vidcolor.lab.training_data import read_rgb
from vidcolor.pipeline import make_colorizer

ROOT = Path(__file__).resolve().parents[1]
CELL = 200  # px, each picture's height


def _cell(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2  # a centred square, so the grid is even
    cell = cv2.resize(rgb[y0 : y0 + side, x0 : x0 + side], (CELL, CELL),
                      interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(cell, 3, 3, 3, 3, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def _label(text: str) -> np.ndarray:
    bar = np.full((24, CELL + 6, 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--held-out", type=Path, default=ROOT / "runs" / "anim" / "val")
    p.add_argument("--names", nargs="+", required=True,
                   help="held-out file stems (clip_* or sprite_* only)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "animation.png")
    args = p.parse_args(argv)
    bad = [n for n in args.names if not n.startswith(("clip_", "sprite_"))]
    if bad:
        p.error(f"only public-domain clip art and CC0 sprites may be shown: {bad}")
    photo = make_colorizer(JobConfig(model="photo"))
    anim = make_colorizer(JobConfig(model="animation"))
    rows = [np.concatenate([_label(t) for t in ("grey", "photo model", "animation model",
                                                "truth")], 1)]
    for name in args.names:
        truth = read_rgb(args.held_out / f"{name}.png")
        y = (image_luma(truth, 255)[0, 0] * 255.0 + 0.5).astype(np.uint8)
        grey = np.repeat(y[:, :, None], 3, axis=2)
        rows.append(np.concatenate([_cell(grey), _cell(colorize_array(photo, truth)),
                                    _cell(colorize_array(anim, truth)), _cell(truth)], 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.concatenate(rows, 0)[:, :, ::-1])
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
