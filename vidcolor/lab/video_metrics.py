"""Numbers of a colorized clip: warp error, CDC, colourfulness drift, preview agreement."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np

from vidcolor.image import read_image
from vidcolor.lab.metrics import colorfulness
from vidcolor.planes import planes_to_rgb
from vidcolor.preview import upright
from vidcolor.probe import read_media_info
from vidcolor.temporal import consistent, flow_between, warp


def warp_errors(outputs: list[np.ndarray], grays: list[np.ndarray],
                cuts: frozenset[int] = frozenset()) -> list[float]:
    """Per-frame warp error (Lai et al. 2018), frames 1..T-1 (0 at cuts).

    Mean squared difference (RGB in 0..1) between output ``t`` and output ``t-1`` warped onto it
    with DIS flow computed on the *input* frames ``grays``; occluded pixels (forward-backward
    check) are left out.
    """
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    errs = []
    for t in range(1, len(outputs)):
        if t in cuts:
            errs.append(0.0)
            continue
        back = flow_between(dis, grays[t], grays[t - 1])
        fwd = flow_between(dis, grays[t - 1], grays[t])
        mask = consistent(back, fwd)
        prev = warp(outputs[t - 1].astype(np.float32) / 255.0, back)
        diff = ((outputs[t].astype(np.float32) / 255.0 - prev) ** 2).mean(axis=2)
        errs.append(float(diff[mask].mean()) if mask.any() else 0.0)
    return errs


def _hists(rgb: np.ndarray) -> np.ndarray:
    h = np.stack([np.bincount(rgb[..., c].ravel(), minlength=256) for c in range(3)]).astype(float)
    return h / h.sum(axis=1, keepdims=True)


def _jsd(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / b[nz])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def cdc(outputs: list[np.ndarray]) -> float:
    """TCVC's colour distribution consistency: mean JSD of per-channel 256-bin RGB histograms.

    Between frames t and t+1, t+2, t+4 (1/3 each), averaged over channels and frames.
    """
    hists = [_hists(o) for o in outputs]
    scores = []
    for t in range(len(hists) - 4):
        s = 0.0
        for k in (1, 2, 4):
            s += np.mean([_jsd(hists[t][c], hists[t + k][c]) for c in range(3)]) / 3.0
        scores.append(s)
    return float(np.mean(scores)) if scores else 0.0


def colorfulness_drift(outputs: list[np.ndarray], span: int = 5) -> float:
    """Colourfulness of the last ``span`` frames over that of the first ``span`` frames."""
    start = np.mean([colorfulness(o) for o in outputs[:span]])
    end = np.mean([colorfulness(o) for o in outputs[-span:]])
    return float(end / max(start, 1e-6))


def frame_rgb(frame: av.VideoFrame, full_range: bool, matrix: str) -> np.ndarray:
    """A decoded 8-bit YUV frame as uint8 RGB ``(H, W, 3)`` (:func:`planes_to_rgb`)."""
    if frame.format.name not in ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "yuvj444p"):
        frame = frame.reformat(format="yuv444p")
    y, u, v = (np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width]
               for p in frame.planes)
    return planes_to_rgb(y, u, v, full_range, matrix)


def chroma_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean and 90th percentile of the per-pixel ``a*, b*`` distance of two uint8 RGB images.

    OpenCV's 8-bit Lab: one unit of ``a`` or ``b`` is one Lab unit.
    """
    lab_a = cv2.cvtColor(a, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_b = cv2.cvtColor(b, cv2.COLOR_RGB2LAB).astype(np.float32)
    dist = np.hypot(lab_a[..., 1] - lab_b[..., 1], lab_a[..., 2] - lab_b[..., 2])
    return float(dist.mean()), float(np.percentile(dist, 90))


def preview_agreement(preview_dir: Path, rendered: Path) -> list[dict]:
    """Each shot's preview still against the rendered frame at its ``preview_frame``.

    Returns one row per shot: ``shot``, ``frame``, ``mean`` and ``p90`` chroma difference
    (:func:`chroma_difference`).
    """
    shots = json.loads((preview_dir / "shots.json").read_text(encoding="utf-8"))["shots"]
    wanted = {s["preview_frame"]: s for s in shots}
    info = read_media_info(rendered)
    rows = []
    with av.open(str(rendered)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            shot = wanted.get(index)
            if shot is None:
                continue
            still, _ = read_image(preview_dir / shot["image"])
            out = upright(frame_rgb(frame, info.full_range, info.matrix), info.rotation)
            mean, p90 = chroma_difference(still, out)
            rows.append({"shot": shot["shot"], "frame": index, "mean": mean, "p90": p90})
    return rows
