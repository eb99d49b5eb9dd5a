"""The animation model against the photo model on held-out drawn stills and a drawn clip.

Stills: the held-out set of ``scripts/make_animation_data.py`` (``runs/anim/val``: clip art
of held-out openclipart folders, cartoons of val photos, held-out arcade sprites), each made
grey and colorized as ``vidcolor IMAGE -o OUT`` would (its luma kept). Numbers: PSNR over the
grey image, and colourfulness over the truth's (ratio of means), per source and overall, for
the photo model and the animation model, each with and without the flat-region step.

Clip (``--clip-frames``): a pan over held-out drawings (their canvas enlarged 2x, a window
moving 3 px right and 2 px down a frame), rendered as a video is (temporal prior): warp error
(``vidcolor.lab.video_metrics.warp_errors``; the truth's own is the floor) and the chroma spread
over time of each flat region (std of its mean a*b* over the frames it is whole in).

Photos (``--photos``): the same PSNR / colourfulness on val photos, both models.

Example::

    python scripts/evaluate_animation.py
    python scripts/evaluate_animation.py --animation-weights w.safetensors --limit 60
    python scripts/evaluate_animation.py --saturation 1.3 --clip-frames 0 --photo-limit 0
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import TemporalConfig, TileConfig
from vidcolor.image import colorize_array, image_luma
from vidcolor.lab.metrics import colorfulness, psnr
from vidcolor.lab.training_data import list_images, read_rgb
from vidcolor.lab.video_metrics import warp_errors
from vidcolor.regions import region_labels
from vidcolor.shot import shot_chroma
from vidcolor.weights import verify_weights

SOURCES = ("clip", "photo", "sprite")  # file-name prefixes: clip art, cartoons, sprites
SOURCE_NAMES = {"clip": "clip art", "photo": "cartoons of val photos", "sprite": "sprites"}


def grey_of(rgb: np.ndarray) -> np.ndarray:
    """The grey RGB image with ``rgb``'s luma (what a black-and-white source shows)."""
    y = image_luma(rgb, 255)[0, 0]
    return np.repeat((y * 255.0 + 0.5).astype(np.uint8)[:, :, None], 3, axis=2)


def make_colorizers(args: argparse.Namespace) -> dict[str, FrameColorizer]:
    """Photo and animation models, each without and with the flat-region step."""
    out = {}
    for model, path in (("photo", args.photo_weights), ("animation", args.animation_weights)):
        weights = verify_weights(path, model)
        backend = create_backend(args.backend, weights.load, "cpu", weights.digest,
                                 args.threads, args.precision)
        for flat in (False, True):
            name = f"{model}{' + flat' if flat else ''}"
            tile = TileConfig(flat_regions=flat, saturation=args.saturation)
            out[name] = FrameColorizer(backend, tile, TemporalConfig())
    return out


def still_table(colorizers: dict[str, FrameColorizer], paths: list[Path],
                by_source: bool) -> str:
    """Markdown table: PSNR over grey, CF x truth per colorizer (and per source)."""
    rows: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for path in paths:
        truth = read_rgb(path)
        grey = grey_of(truth)
        base = psnr(grey, truth)
        src = path.name.split("_")[0] if by_source else "all"
        for name, col in colorizers.items():
            out = colorize_array(col, truth)
            for key in {src, "all"}:
                rows.setdefault((key, name), []).append(
                    (psnr(out, truth) - base, colorfulness(out), colorfulness(truth)))
    groups = [s for s in SOURCES if (s, next(iter(colorizers))) in rows] if by_source else []
    lines = ["| set | n | " + " | ".join(colorizers) + " |",
             "| --- | ---: |" + " ---: |" * len(colorizers)]
    for key in [*groups, "all"]:
        cells = []
        for name in colorizers:
            r = np.array(rows[(key, name)])
            cells.append(f"{r[:, 0].mean():+.2f} dB, {r[:, 1].mean() / r[:, 2].mean():.2f}")
        label = SOURCE_NAMES.get(key, "all") if by_source else "val photos"
        lines.append(f"| {label} | {len(rows[(key, next(iter(colorizers)))])} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def pan_frames(canvas: np.ndarray, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """``frames`` windows of ``size`` (h, w) panning over ``canvas`` (3 px right, 2 down)."""
    h, w = size
    out = []
    for t in range(frames):
        y, x = min(2 * t, canvas.shape[0] - h), min(3 * t, canvas.shape[1] - w)
        out.append(canvas[y : y + h, x : x + w])
    return out


def region_spread(outputs: list[np.ndarray], canvas: np.ndarray,
                  size: tuple[int, int]) -> tuple[float, float]:
    """Chroma spread of the canvas's flat regions (the truth's), over time and within.

    Returns the mean over regions of the std over time of a region's mean a*b* (Lab), and
    the mean over regions and frames of the a*b* std within a region.
    """
    labels, count = region_labels(image_luma(canvas, 255)[0, 0])
    h, w = size
    means: dict[int, list[np.ndarray]] = {}
    within: list[float] = []
    for t, out in enumerate(outputs):
        y, x = min(2 * t, canvas.shape[0] - h), min(3 * t, canvas.shape[1] - w)
        lab = cv2.cvtColor(out, cv2.COLOR_RGB2LAB).astype(np.float32)[:, :, 1:] - 128.0
        lab_full = labels[y : y + h, x : x + w].ravel()
        sizes = np.bincount(lab_full, minlength=count)
        sums = [np.bincount(lab_full, weights=lab[:, :, c].ravel(), minlength=count)
                for c in range(2)]
        squares = [np.bincount(lab_full, weights=lab[:, :, c].ravel() ** 2, minlength=count)
                   for c in range(2)]
        whole = np.bincount(labels.ravel(), minlength=count)
        for r in np.nonzero((sizes >= 200) & (sizes == whole))[0]:
            if r == 0:
                continue
            mean = np.array([sums[0][r], sums[1][r]]) / sizes[r]
            var = np.array([squares[0][r], squares[1][r]]) / sizes[r] - mean**2
            means.setdefault(int(r), []).append(mean)
            within.append(float(np.sqrt(max(var.sum(), 0.0))))
    spreads = [float(np.linalg.norm(np.std(np.array(v), axis=0)))
               for v in means.values() if len(v) >= len(outputs) // 2]
    return (float(np.mean(spreads)) if spreads else float("nan"),
            float(np.mean(within)) if within else float("nan"))


def clip_table(colorizers: dict[str, FrameColorizer], paths: list[Path], frames: int) -> str:
    """Markdown table of the drawn pan clips: warp error and region chroma spread over time."""
    res: dict[str, list[tuple[float, float, float, float]]] = {"truth": []}
    for path in paths:
        truth = read_rgb(path)
        canvas = cv2.resize(truth, (truth.shape[1] * 2, truth.shape[0] * 2),
                            interpolation=cv2.INTER_CUBIC)
        size = (240, 320)
        if canvas.shape[0] < size[0] + 2 * frames or canvas.shape[1] < size[1] + 3 * frames:
            continue
        true_frames = pan_frames(canvas, frames, size)
        greys = [cv2.cvtColor(grey_of(f), cv2.COLOR_RGB2GRAY) for f in true_frames]
        lumas = [image_luma(f, 255) for f in true_frames]
        res["truth"].append((float(np.mean(warp_errors(true_frames, greys))),
                             *region_spread(true_frames, canvas, size), 0.0))
        for name, col in colorizers.items():
            abs_ = shot_chroma(col, lumas, 0)
            outs = [(col.rgb_from_ab(lu, ab)[0].transpose(1, 2, 0) * 255.0 + 0.5)
                    .clip(0, 255).astype(np.uint8) for lu, ab in zip(lumas, abs_, strict=True)]
            gain = float(np.mean([psnr(o, t) - psnr(grey_of(t), t)
                                  for o, t in zip(outs, true_frames, strict=True)]))
            res.setdefault(name, []).append((float(np.mean(warp_errors(outs, greys))),
                                             *region_spread(outs, canvas, size), gain))
    lines = ["| clip render | warp error (x 1e3) | region chroma std over time (a*b*) "
             "| chroma std within a region | PSNR over grey |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in res.items():
        a = np.array(r)
        psnr_cell = "" if name == "truth" else f"{a[:, 3].mean():+.2f} dB"
        lines.append(f"| {name} | {a[:, 0].mean() * 1e3:.3f} | {np.nanmean(a[:, 1]):.2f} | "
                     f"{np.nanmean(a[:, 2]):.2f} | {psnr_cell} |")
    return f"{len(res['truth'])} clips x {frames} frames\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--held-out", type=Path, default=Path("runs/anim/val"))
    p.add_argument("--limit", type=int, default=0, help="stills per source (0: all)")
    p.add_argument("--photo-weights", type=Path, help="default: the shipped photo model")
    p.add_argument("--animation-weights", type=Path, help="default: the shipped animation model")
    p.add_argument("--backend", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--saturation", type=float, default=TileConfig().saturation,
                   help="the gain on the network's colours (default: the CLI's)")
    p.add_argument("--clip-frames", type=int, default=24, help="0: no clip")
    p.add_argument("--clips", type=int, default=3, help="held-out drawings panned over")
    p.add_argument("--photos", type=Path, default=Path("../shared/data/val"))
    p.add_argument("--photo-limit", type=int, default=40, help="0: no photo check")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    colorizers = make_colorizers(args)
    paths = list_images(args.held_out)
    if args.limit:
        paths = [q for s in SOURCES for q in [x for x in paths if x.name.startswith(s + "_")]
                 [: args.limit]]
    start = time.perf_counter()
    print(f"held-out drawn stills ({args.held_out}): PSNR over grey, colourfulness x truth\n")
    print(still_table(colorizers, paths, by_source=True))
    print(f"\n({time.perf_counter() - start:.0f} s)\n")
    if args.clip_frames:
        picks = [x for s in SOURCES for x in [q for q in paths if q.name.startswith(s + "_")]
                 [: max(1, args.clips // len(SOURCES))]]
        print(clip_table(colorizers, picks, args.clip_frames) + "\n")
    if args.photo_limit and args.photos.is_dir():
        photos = list_images(args.photos)
        photos = photos[:: max(1, len(photos) // args.photo_limit)][: args.photo_limit]
        print(f"val photos ({args.photos}, {len(photos)}): PSNR over grey, colourfulness x "
              "truth\n")
        print(still_table({k: v for k, v in colorizers.items() if "flat" not in k}, photos,
                          by_source=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
