"""Fit and measure the drawn-or-photographed detector of ``--model auto`` (vidcolor/lab/drawn.py).

Fitting: every ``--every``-th picture of the animation model's training set (drawn: clip art,
sprites, cartoons made from train photos) and of ``../shared/data/train`` (photographs), each
made grey, half of them with simulated film wear (grain, blur, JPEG, a contrast change); a
logistic model on vidcolor.drawn.features with a little L2, by Newton steps. Its coefficients are
printed as Python to paste into vidcolor/lab/drawn.py.

Measuring (never fitted on): the animation held-out set (``runs/anim/val``) against the val
photos and frames of the colour clips (``../shared/data/video``), each clean and worn; the share
right per group and overall, with the coefficients in vidcolor/lab/drawn.py (``--check``) or the
fresh ones. The issue's bar for ``--model auto`` as the default is 95 % right on such a mix.

    python scripts/fit_drawn_detector.py            # fit, print coefficients and held-out table
    python scripts/fit_drawn_detector.py --check    # the shipped coefficients on the held-out mix
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.lab import drawn
from vidcolor.lab.training_data import list_images


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1(name.encode()).hexdigest()[:8], 16))


def gray_of(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def worn(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Film wear: a contrast change, blur, grain and JPEG, drawn from ``rng``."""
    g = gray.astype(np.float32)
    lo, hi = rng.uniform(0, 40), rng.uniform(200, 255)
    g = lo + g * (hi - lo) / 255.0
    sigma = rng.uniform(0.3, 1.2)
    g = cv2.GaussianBlur(g, (0, 0), sigma)
    g = g + rng.normal(0.0, rng.uniform(2.0, 9.0), g.shape).astype(np.float32)
    g = np.clip(np.rint(g), 0, 255).astype(np.uint8)
    _, buf = cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 90))])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def clip_frames(folder: Path, per_clip: int) -> list[tuple[str, np.ndarray]]:
    import av

    out = []
    for clip in sorted(folder.glob("*.mp4")):
        with av.open(str(clip)) as box:
            frames = [f.to_ndarray(format="gray") for f in box.decode(video=0)]
        for i in np.linspace(0, len(frames) - 1, per_clip).round().astype(int):
            out.append((f"{clip.stem}_{i}", frames[i]))
    return out


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> tuple:
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = np.c_[(x - mean) / scale, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        hess = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return mean, scale, w[:-1], float(w[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--drawn", type=Path, default=Path("runs/anim/train"))
    p.add_argument("--photos", type=Path, default=Path("../shared/data/train"))
    p.add_argument("--held-drawn", type=Path, default=Path("runs/anim/val"))
    p.add_argument("--held-photos", type=Path, default=Path("../shared/data/val"))
    p.add_argument("--clips", type=Path, default=Path("../shared/data/video"))
    p.add_argument("--clip-frames", type=int, default=10, help="frames per clip")
    p.add_argument("--every", type=int, default=3)
    p.add_argument("--check", action="store_true",
                   help="measure vidcolor/lab/drawn.py's coefficients")
    p.add_argument("--save", type=Path, help="also save the fitting features (.npz)")
    args = p.parse_args()

    if not args.check:
        xs, ys = [], []
        for label, folder in ((1, args.drawn), (0, args.photos)):
            for path in list_images(folder)[:: args.every]:
                g = gray_of(path)
                rng = _rng(path.name)
                xs.append(drawn.features(worn(g, rng) if rng.random() < 0.5 else g))
                ys.append(label)
        x, y = np.array(xs), np.array(ys, float)
        if args.save:
            np.savez(args.save, x=x, y=y)
        drawn.MEAN, drawn.SCALE, drawn.WEIGHTS, drawn.BIAS = fit(x, y)
        z = ((x - drawn.MEAN) / drawn.SCALE) @ drawn.WEIGHTS + drawn.BIAS
        print(f"fitted on {len(y)} pictures ({int(y.sum())} drawn), "
              f"right on {np.mean((z > 0) == y):.1%} of them")
        fmt = lambda a: "np.array([" + ", ".join(f"{v:.6g}" for v in a) + "])"  # noqa: E731
        print(f"MEAN = {fmt(drawn.MEAN)}\nSCALE = {fmt(drawn.SCALE)}\n"
              f"WEIGHTS = {fmt(drawn.WEIGHTS)}\nBIAS = {drawn.BIAS:.6g}")

    groups: dict[str, list[bool]] = {}
    held = [("drawn", 1, [(q.name, gray_of(q)) for q in list_images(args.held_drawn)]),
            ("photos", 0, [(q.name, gray_of(q)) for q in list_images(args.held_photos)]),
            ("film frames", 0, clip_frames(args.clips, args.clip_frames))]
    wrong: list[str] = []
    for name, label, pictures in held:
        for key, g in pictures:
            for wear in ("clean", "worn"):
                pic = g if wear == "clean" else worn(g, _rng("held" + key))
                right = drawn.is_drawn([pic]) == bool(label)
                groups.setdefault(f"{name}, {wear}", []).append(right)
                if not right:
                    wrong.append(f"{key} ({wear})")
    print("\n| held out | n | right |\n| --- | ---: | ---: |")
    for key, v in groups.items():
        print(f"| {key} | {len(v)} | {np.mean(v):.1%} |")
    everything = [r for v in groups.values() for r in v]
    drawn_side = [r for k, v in groups.items() if k.startswith("drawn") for r in v]
    photo_side = [r for k, v in groups.items() if not k.startswith("drawn") for r in v]
    print(f"| all | {len(everything)} | {np.mean(everything):.1%} |")
    print(f"| balanced (mean of drawn and photographed) | | "
          f"{(np.mean(drawn_side) + np.mean(photo_side)) / 2:.1%} |")
    print("wrong:", ", ".join(wrong[:40]), "..." if len(wrong) > 40 else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
