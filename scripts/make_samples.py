"""Make the bundled samples from photos that scikit-image ships (public domain / CC0).

* ``samples/film.mp4``: 5 s, 480x270, 24 fps, grayscale H.264 with an AAC audio track: a slow
  camera move over scikit-image's ``chelsea`` (a cat), a hard cut, then a move over ``rocket``.
* ``samples/photo.png``: scikit-image's ``camera`` (a real black-and-white photograph).

Needs ``pip install scikit-image`` (only for this script). Run: ``python scripts/make_samples.py``.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

SIZE = (480, 270)
RATE = Fraction(24)
SHOT_FRAMES = 60


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _camera_move(img: np.ndarray, t: float, zoom: tuple[float, float], pan: float) -> np.ndarray:
    """Crop of ``img`` at time ``t`` (0..1): a slow zoom and horizontal pan, resized to SIZE."""
    h, w = img.shape[:2]
    z = zoom[0] + (zoom[1] - zoom[0]) * t
    cw = min(w, int(h * SIZE[0] / SIZE[1])) / z
    ch = cw * SIZE[1] / SIZE[0]
    cx = w / 2 + pan * (t - 0.5) * (w - cw)
    cy = h / 2
    m = np.array([[SIZE[0] / cw, 0, SIZE[0] / 2 - cx * SIZE[0] / cw],
                  [0, SIZE[1] / ch, SIZE[1] / 2 - cy * SIZE[1] / ch]])
    return cv2.warpAffine(img, m, SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def make_film(path: Path, shots: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.codec_context.options = {"crf": "20", "preset": "slow"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        index = 0
        for shot, (img, zoom, pan) in enumerate(zip(shots, ((1.0, 1.25), (1.1, 1.0)), (0.6, -0.5),
                                                    strict=True)):
            for i in range(SHOT_FRAMES):
                y = _gray(_camera_move(img, i / (SHOT_FRAMES - 1), zoom, pan))
                frame = av.VideoFrame.from_ndarray(y, format="gray").reformat(format="yuv420p")
                frame.pts = index
                index += 1
                for packet in video.encode(frame):
                    out.mux(packet)
            del shot
        for packet in video.encode(None):
            out.mux(packet)
        samples = int(48000 * index / RATE)
        t = np.arange(samples) / 48000
        tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
        for start in range(0, samples, 1024):
            chunk = tone[start : start + 1024].astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)


def main(argv: list[str] | None = None) -> int:
    from skimage import data

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "samples")
    args = p.parse_args(argv)
    args.out.mkdir(exist_ok=True)
    make_film(args.out / "film.mp4", [data.chelsea(), data.rocket()])
    cv2.imwrite(str(args.out / "photo.png"), data.camera())
    for f in ("film.mp4", "photo.png"):
        print(args.out / f, (args.out / f).stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
