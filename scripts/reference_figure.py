"""``docs/reference.png``: reference | automatic | with the reference | truth, three clips.

Each clip is a slow camera move (2 s at 24 fps, 384x216) over a public-domain / CC0 photo that
scikit-image ships (``chelsea``, ``coffee``, ``astronaut``), turned gray and colorized as the
render does it (anchored at the preview frame, carried by the temporal prior). The reference is
the true colour frame farthest from the anchor (the scene moved on); the row shows the frame at
the other end of the clip. PSNR of the whole clip against the truth is printed.

Needs scikit-image's data folder (``pip install scikit-image``, or ``--data DIR``). Example::

    python scripts/reference_figure.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.colorspace import rgb_to_luma
from vidcolor.config import JobConfig
from vidcolor.lab.clips import anchor_of
from vidcolor.lab.metrics import psnr
from vidcolor.reference import ReferenceSet, encoder_features
from vidcolor.runner import make_colorizer
from vidcolor.shot import AnchorInputs, shot_chroma
from vidcolor.weights import verify_weights

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = (("chelsea.png", (1.0, 1.5), 1.0), ("coffee.png", (1.1, 1.6), -1.0),
          ("astronaut.png", (1.0, 1.6), 1.0))
FRAMES = 48
SIZE = (384, 216)


def camera_move(img: np.ndarray, t: float, zoom: tuple[float, float], pan: float) -> np.ndarray:
    """Crop of ``img`` at time ``t`` (0..1) of a slow zoom and pan, at SIZE."""
    h, w = img.shape[:2]
    z = zoom[0] + (zoom[1] - zoom[0]) * t
    cw = min(w, int(h * SIZE[0] / SIZE[1])) / z
    ch = cw * SIZE[1] / SIZE[0]
    cx, cy = w / 2 + pan * (t - 0.5) * (w - cw), h / 2
    m = np.array([[SIZE[0] / cw, 0, SIZE[0] / 2 - cx * SIZE[0] / cw],
                  [0, SIZE[1] / ch, SIZE[1] / 2 - cy * SIZE[1] / ch]])
    return cv2.warpAffine(img, m, SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def clip(photo: np.ndarray, zoom: tuple[float, float], pan: float) -> list[np.ndarray]:
    """RGB frames of a slow zoom and pan over ``photo``."""
    return [camera_move(photo, t / (FRAMES - 1), zoom, pan) for t in range(FRAMES)]


def to_u8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, help="scikit-image's data folder")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "reference.png")
    args = p.parse_args(argv)
    data = args.data
    if data is None:
        import skimage.data

        data = Path(skimage.data.__file__).parent
    weights = verify_weights(None)
    colorizer = make_colorizer(JobConfig(device="cpu"), weights)
    features = encoder_features(weights.path)
    rows = []
    for name, zoom, pan in PHOTOS:
        photo = cv2.cvtColor(cv2.imread(str(data / name)), cv2.COLOR_BGR2RGB)
        truth = clip(photo, zoom, pan)
        lumas = [rgb_to_luma(f.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)
                 for f in truth]
        ys = [np.round(luma[0, 0] * 255).astype(np.uint8) for luma in lumas]
        at = anchor_of(ys)
        far = 0 if at >= FRAMES - 1 - at else FRAMES - 1
        shown = FRAMES - 1 - far
        refs = ReferenceSet(features, [truth[far].astype(np.float32) / 255.0])
        prior = refs.prior(colorizer.working_luma(lumas[at])[0, 0])
        auto = shot_chroma(colorizer, lumas, at)
        steered = shot_chroma(colorizer, lumas, at, AnchorInputs(reference=prior))
        outs = {}
        for label, chroma in (("automatic", auto), ("reference", steered)):
            frames = [to_u8(colorizer.rgb_from_ab(luma, ab)) for luma, ab in
                      zip(lumas, chroma, strict=True)]
            outs[label] = frames
            score = np.mean([psnr(o, t) for o, t in zip(frames, truth, strict=True)])
            print(f"{name}: {label}: PSNR {score:.2f} dB")
        rows.append(np.concatenate([truth[far], outs["automatic"][shown],
                                    outs["reference"][shown], truth[shown]], axis=1))
    sheet = np.concatenate(rows, axis=0)
    head = np.full((28, sheet.shape[1], 3), 255, np.uint8)
    for k, text in enumerate(("reference (another frame)", "automatic", "with the reference",
                              "truth")):
        cv2.putText(head, text, (k * SIZE[0] + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate([head, sheet]), cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
