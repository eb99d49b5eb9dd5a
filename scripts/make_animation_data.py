"""Build the animation model's training and held-out sets (under runs/, never committed).

Sources (licences in models/README.md, "The animation model"):

* clip art: Debian's ``openclipart-png`` (public domain), split by leaf folder: a folder is
  held out when the sha1 of its path relative to the package root is 0 mod 8; transparent
  pixels composited onto white or a random light colour; nearly colourless pictures dropped.
* sprites: the Kenney.nl sprites in the ``arcade`` wheel (CC0, ``resources/assets/images/
  License.txt``); only the CC0 folders below; ``enemies`` and ``items`` held out.
* cartoons synthesised from photos (``vidcolor.lab.animation_data.cartoonize``): train photos for
  training, val photos for the held-out set. They keep the photo's true colours.

Every image is resized so its short side is 256 px. Deterministic (seeded per file name).

Example::

    python scripts/make_animation_data.py --out runs/anim --arcade runs/anim/arcade_whl
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.lab.animation_data import (
    cartoonize,
    chroma_share,
    flatten_alpha,
    light_background,
    resize_short,
)
from vidcolor.lab.training_data import list_images, read_rgb

ARCADE_CC0 = ("alien", "animated_characters", "backgrounds", "cards", "enemies", "items",
              "space_shooter", "tiles", "topdown_tanks")
ARCADE_HELD_OUT = ("enemies", "items")
MIN_CHROMA_SHARE = 0.03  # at least 3 % of the pixels coloured (Lab chroma > 12)


def _seed(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1(name.encode()).hexdigest()[:8], 16))


def held_out_folder(rel_dir: str) -> bool:
    """Whether an openclipart leaf folder (path relative to the png root) is held out."""
    return int(hashlib.sha1(rel_dir.encode()).hexdigest()[:8], 16) % 8 == 0


def _write(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), rgb[:, :, ::-1].copy())


def _drawn(src: Path, name: str, max_ratio: float = 2.0) -> np.ndarray | None:
    if src.stat().st_size > 1 << 20:  # a few posters of 10,000+ px a side: slow, skipped
        return None
    image = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
    if image is None or min(image.shape[:2]) < 32:
        return None
    if max(image.shape[:2]) / min(image.shape[:2]) > max_ratio * 1.5:
        return None
    rgb = resize_short(flatten_alpha(image, light_background(_seed(name))), 256, max_ratio)
    return rgb if chroma_share(rgb) >= MIN_CHROMA_SHARE else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/anim"))
    parser.add_argument("--clipart", type=Path, default=Path("/usr/share/openclipart/png"))
    parser.add_argument("--arcade", type=Path, default=Path("runs/anim/arcade_whl"),
                        help="the unzipped arcade wheel")
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/train"))
    parser.add_argument("--val-photos", type=Path, default=Path("../shared/data/val"))
    parser.add_argument("--val-cartoons", type=int, default=120)
    parser.add_argument("--val-clipart", type=int, default=120)
    args = parser.parse_args(argv)
    train_dir, val_dir = args.out / "train", args.out / "val"
    train_dir.mkdir(parents=True, exist_ok=True)
    val_dir.mkdir(parents=True, exist_ok=True)

    counts = {"clip_train": 0, "clip_val": 0, "sprite_train": 0, "sprite_val": 0}
    held_clip: list[tuple[str, np.ndarray]] = []
    for src in sorted(args.clipart.rglob("*.png")):
        rel = src.relative_to(args.clipart)
        name = "clip_" + "_".join(rel.with_suffix("").parts)
        rgb = _drawn(src, name)
        if rgb is None:
            continue
        if held_out_folder(str(rel.parent)):
            held_clip.append((name, rgb))
        else:
            _write(train_dir / f"{name}.png", rgb)
            counts["clip_train"] += 1
    for name, rgb in held_clip[:: max(1, len(held_clip) // args.val_clipart)][: args.val_clipart]:
        _write(val_dir / f"{name}.png", rgb)
        counts["clip_val"] += 1

    images = args.arcade / "arcade" / "resources" / "assets" / "images"
    for folder in ARCADE_CC0:
        held = folder in ARCADE_HELD_OUT
        for src in sorted((images / folder).rglob("*.png")):
            rel = src.relative_to(images)
            name = "sprite_" + "_".join(rel.with_suffix("").parts)
            rgb = _drawn(src, name, max_ratio=3.0)
            if rgb is None:
                continue
            _write((val_dir if held else train_dir) / f"{name}.png", rgb)
            counts["sprite_val" if held else "sprite_train"] += 1

    # As many cartoons as drawn pictures, so the mix is about half and half.
    photos = list_images(args.photos)
    n_cartoons = min(len(photos), counts["clip_train"] + counts["sprite_train"])
    picks = photos[:: max(1, len(photos) // n_cartoons)][:n_cartoons]
    for src in picks:
        _write(train_dir / f"photo_{src.stem}.png", cartoonize(read_rgb(src), _seed(src.stem)))
    val_photos = list_images(args.val_photos)
    val_picks = val_photos[:: max(1, len(val_photos) // args.val_cartoons)][: args.val_cartoons]
    for src in val_picks:
        _write(val_dir / f"photo_{src.stem}.png", cartoonize(read_rgb(src), _seed(src.stem)))
    counts["cartoon_train"], counts["cartoon_val"] = len(picks), len(val_picks)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
