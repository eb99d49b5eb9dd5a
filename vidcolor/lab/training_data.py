"""Training data: photos read into memory, random crops, and the simulated previous-frame prior.

Split from :mod:`vidcolor.lab.training` (the loss and the loop). Imports torch, numpy and OpenCV
only.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.colorspace import rgb_to_lab

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
AB_BINS = 22  # 22 x 22 bins of 10 Lab units over -110..110, as Zhang et al.


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: Path) -> np.ndarray:
    """A uint8 ``(H, W, 3)`` RGB array of an image file."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` -> float ``(1, 3, H, W)`` in 0..1."""
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """Float ``(1, 3, H, W)`` in 0..1 -> uint8 ``(H, W, 3)``."""
    return (rgb[0].permute(1, 2, 0).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()


def ab_histogram(images: list[np.ndarray], size: int = 64) -> np.ndarray:
    """Normalised ``(22, 22)`` histogram of Lab ``a, b`` over thumbnails of ``images``."""
    hist = np.zeros((AB_BINS, AB_BINS), np.float64)
    for img in images:
        thumb = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        ab = rgb_to_lab(to_tensor(thumb))[0, 1:].reshape(2, -1).numpy()
        idx = np.clip(((ab + 110.0) / 10.0).astype(int), 0, AB_BINS - 1)
        np.add.at(hist, (idx[0], idx[1]), 1.0)
    return hist / hist.sum()


def simulate_prior(ab: torch.Tensor, gen: torch.Generator, no_prior: float) -> torch.Tensor:
    """A prior ``(B, 3, H, W)`` as the previous frame of a video would give it.

    A fraction ``no_prior`` of samples get none (all zeros). The rest get the true chroma under a
    small random shift/rotation/zoom, degraded at random: blur, saturation change, hue drift, noise,
    holes with confidence 0; confidence elsewhere is 1 or drawn from 0.4..1. Saturation is
    jittered both ways (0.7..1.3), so the network neither boosts nor fades a prior it follows.
    """
    b, _, h, w = ab.shape
    dev = ab.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen).to(dev)

    angle = (rand(b) - 0.5) * math.radians(8)
    scale = 1.0 + (rand(b) - 0.5) * 0.16
    shift = (rand(b, 2) - 0.5) * 0.12
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        (torch.stack((cos, -sin, shift[:, 0]), 1), torch.stack((sin, cos, shift[:, 1]), 1)), 1
    )
    grid = F.affine_grid(theta, [b, 2, h, w], align_corners=False)
    prior = F.grid_sample(ab, grid, mode="bilinear", padding_mode="border", align_corners=False)
    inside = F.grid_sample(torch.ones(b, 1, h, w, device=dev), grid, align_corners=False)
    conf = (inside > 0.99).float()

    # Blur by down- and upsampling (factor 1, 2, 4 or 8).
    factor = (2 ** (rand(b) * 4).floor()).long()
    blurred = prior.clone()
    for f in (2, 4, 8):
        sel = factor == f
        if sel.any():
            small = F.avg_pool2d(prior[sel], f)
            blurred[sel] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    prior = blurred
    # Desaturation and hue drift (a rotation of the ab plane).
    # Saturation jitter both ways: a network that only ever saw desaturated priors learns to
    # boost them, and fed its own output frame after frame its colours run away.
    sat = torch.where(rand(b) < 0.5, 0.7 + 0.6 * rand(b), torch.ones(b, device=dev))
    hue = torch.where(rand(b) < 0.5, (rand(b) - 0.5) * math.radians(30), torch.zeros(b, device=dev))
    c, s = (torch.cos(hue) * sat).view(b, 1, 1), (torch.sin(hue) * sat).view(b, 1, 1)
    a0, b0 = prior[:, 0], prior[:, 1]
    prior = torch.stack((c * a0 - s * b0, s * a0 + c * b0), 1)
    noise = torch.randn(b, 2, h, w, generator=gen).to(dev) * (rand(b) * 6.0).view(b, 1, 1, 1)
    prior = prior + noise
    # Holes with confidence 0.
    for i in range(b):
        for _ in range(int(rand(1).item() * 4)):
            hh, ww = int(h * (0.1 + 0.3 * rand(1).item())), int(w * (0.1 + 0.3 * rand(1).item()))
            y0, x0 = int(rand(1).item() * (h - hh)), int(rand(1).item() * (w - ww))
            conf[i, :, y0 : y0 + hh, x0 : x0 + ww] = 0.0
    level = torch.where(rand(b) < 0.5, torch.ones(b, device=dev), 0.4 + 0.6 * rand(b))
    conf = conf * level.view(b, 1, 1, 1)
    keep = (rand(b) >= no_prior).float().view(b, 1, 1, 1)
    conf = conf * keep
    return torch.cat((prior * conf.clamp(max=1.0).ceil(), conf), 1)


def simulate_hints(prior: torch.Tensor, luma: torch.Tensor, ab: torch.Tensor,
                   gen: torch.Generator, fraction: float) -> torch.Tensor:
    """``prior`` with a ``fraction`` of its samples that have a prior replaced by colour hints'.

    Samples without a prior keep none, so the unconditioned path is trained as before.

    As a user gives them: 1 to 15 points at random places, each the true chroma averaged over
    a disc of radius 1-4 px, spread along the luma's edges exactly as at run time
    (:func:`vidcolor.hints.hint_prior`), so the network learns to follow sparse priors.
    """
    from vidcolor.hints import Hint, hint_prior

    b, _, h, w = ab.shape
    out = prior.clone()
    has_prior = prior[:, 2].flatten(1).amax(dim=1).cpu() > 0
    pick = (torch.rand(b, generator=gen) < fraction) & has_prior
    for i in torch.nonzero(pick).flatten().tolist():
        k = int(torch.randint(1, 16, (1,), generator=gen))
        pts = torch.rand(k, 3, generator=gen)
        plane = ab[i].float().cpu().numpy()
        hints = []
        for x, y, r in pts.tolist():
            cx, cy, rad = int(x * (w - 1)), int(y * (h - 1)), 1.0 + 3.0 * r
            y0, y1 = max(0, cy - int(rad)), min(h, cy + int(rad) + 1)
            x0, x1 = max(0, cx - int(rad)), min(w, cx + int(rad) + 1)
            a, bb = plane[:, y0:y1, x0:x1].reshape(2, -1).mean(axis=1)
            hints.append(Hint(frame=0, x=cx, y=cy, a=float(a), b=float(bb), radius=rad))
        lum = luma[i, 0].float().cpu().numpy()
        out[i] = torch.from_numpy(hint_prior(hints, lum, (h, w))[0]).to(out.device)
    return out


class CropSampler:
    """Random crops of in-memory images at random scales, with horizontal flips."""

    def __init__(self, images: list[np.ndarray], crop: int, seed: int) -> None:
        self.images = images
        self.crop = crop
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> torch.Tensor:
        """A ``(size, 3, crop, crop)`` float RGB batch in 0..1."""
        out = np.empty((size, self.crop, self.crop, 3), np.uint8)
        for i in range(size):
            img = self.images[self.rng.integers(len(self.images))]
            h, w = img.shape[:2]
            # Short side rescaled to crop..short side: objects at and below the stored scale.
            short = min(h, w)
            target = self.rng.uniform(self.crop, max(short, self.crop))
            side = min(round(self.crop * short / target), short)
            y0 = self.rng.integers(h - side + 1)
            x0 = self.rng.integers(w - side + 1)
            patch = img[y0 : y0 + side, x0 : x0 + side]
            patch = cv2.resize(patch, (self.crop, self.crop), interpolation=cv2.INTER_AREA)
            out[i] = patch[:, ::-1] if self.rng.random() < 0.5 else patch
        return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0
