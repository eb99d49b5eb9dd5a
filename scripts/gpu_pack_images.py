"""Pack a folder of training images into a size budget, for a burst on the lent GPU machine.

The device machine receives at most 64 MiB (repository included), so the images travel
re-encoded: each file as the smaller of lossless WebP at its stored size and WebP quality 90 with
the short side at ``--short`` px (flat drawings compress far better losslessly; photos lossy).
Every ``--tune-every``-th image goes to a tuning folder instead (in-loop validation that is
neither the held-out evaluation set nor trained on). If the packed files exceed the budget, the kind
of image (file-name prefix) that takes most room is thinned evenly until they fit.
Deterministic: sorted file names, fixed rules.

Example (the animation model's burst, models/README.md)::

    python scripts/gpu_pack_images.py --data runs/anim/train --out .gpu --budget-mib 36
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2


def encode(path: Path, short: int) -> bytes | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return None
    _, lossless = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])
    h, w = image.shape[:2]
    scale = short / min(h, w)
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_AREA)
    _, lossy = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 90])
    return min(lossless.tobytes(), lossy.tobytes(), key=len)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(".gpu"))
    parser.add_argument("--budget-mib", type=float, required=True)
    parser.add_argument("--short", type=int, default=192)
    parser.add_argument("--tune-every", type=int, default=60)
    args = parser.parse_args()
    files = sorted(p for p in args.data.iterdir() if p.is_file())
    packed = {p: encode(p, args.short) for p in files}
    broken = [p.name for p, b in packed.items() if b is None]
    train = [p for p in files if packed[p] is not None]
    tune = train[:: args.tune_every]
    train = [p for p in train if p not in set(tune)]
    budget = args.budget_mib * 2**20 - sum(len(packed[p]) for p in tune)
    kinds: dict[str, list[Path]] = {}
    for p in train:
        kinds.setdefault(p.name.split("_")[0], []).append(p)
    size = {k: sum(len(packed[p]) for p in v) for k, v in kinds.items()}
    big = max(kinds, key=size.get)
    share = min(1.0, max(0.0, (budget - sum(size.values()) + size[big]) / size[big]))
    # The largest kind is thinned evenly: image i is kept when floor((i + 1) * share) grows.
    kept = {k: v for k, v in kinds.items()}
    kept[big] = [p for i, p in enumerate(kinds[big]) if int((i + 1) * share) > int(i * share)]
    shutil.rmtree(args.out / "train", ignore_errors=True)
    shutil.rmtree(args.out / "tune", ignore_errors=True)
    (args.out / "train").mkdir(parents=True)
    (args.out / "tune").mkdir(parents=True)
    total = 0
    for v in kept.values():
        for p in v:
            (args.out / "train" / (p.stem + ".webp")).write_bytes(packed[p])
            total += len(packed[p])
    for p in tune:
        (args.out / "tune" / (p.stem + ".webp")).write_bytes(packed[p])
        total += len(packed[p])
    counts = {k: len(v) for k, v in kept.items()}
    print(f"train {counts}, tune {len(tune)}, {total / 2**20:.1f} MiB; unreadable: {broken}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
