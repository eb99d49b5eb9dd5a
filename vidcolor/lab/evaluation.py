"""Still-image evaluation: colorize gray versions of colour photos and compare with the truth.

Numbers (per folder): PSNR (RGB, 8-bit), colourfulness (Hasler & Süsstrunk) and its ratio to
the truth's, ImageNet top-1 agreement of the Lite0 classifier (output vs truth), the same for
the gray baseline, and PSNR with a shifted true-chroma prior (confidence 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcolor.colorize import FrameColorizer
from vidcolor.colorspace import merge_rgb, rgb_to_lab, rgb_to_luma
from vidcolor.lab.metrics import colorfulness, psnr
from vidcolor.lab.training import frozen_classifier, list_images, read_rgb, to_tensor, to_uint8
from vidcolor.network import normalize_rgb

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """Mean metrics over a folder."""

    images: int
    psnr: float
    psnr_gray: float
    cf: float
    cf_gray: float
    cf_truth: float
    top1: float
    top1_gray: float
    psnr_prior: float

    def table(self) -> str:
        """A markdown table of the numbers."""
        rows = [
            "| method | PSNR dB | CF | CF / truth | top-1 agreement |",
            "| --- | --- | --- | --- | --- |",
            f"| gray baseline (a = b = 0) | {self.psnr_gray:.2f} | {self.cf_gray:.1f} | "
            f"{self.cf_gray / self.cf_truth:.2f} | {100 * self.top1_gray:.1f}% |",
            f"| vidcolor, no prior | {self.psnr:.2f} | {self.cf:.1f} | "
            f"{self.cf / self.cf_truth:.2f} | {100 * self.top1:.1f}% |",
            f"| vidcolor, shifted true prior | {self.psnr_prior:.2f} | | | |",
            f"| truth | | {self.cf_truth:.1f} | 1.00 | 100% |",
        ]
        return "\n".join(rows) + f"\n\n{self.images} images; PSNR gain over gray: " + (
            f"{self.psnr - self.psnr_gray:+.2f} dB; top-1 gain: "
            f"{100 * (self.top1 - self.top1_gray):+.1f} points\n"
        )


class Classifier:
    """The ImageNet Lite0 classifier, for top-1 agreement."""

    def __init__(self) -> None:
        self.net = frozen_classifier(torch.device("cpu"))

    @torch.no_grad()
    def top1(self, rgb: np.ndarray) -> int:
        """Top-1 class of a uint8 RGB image (short side resized to 224, centre crop)."""
        h, w = rgb.shape[:2]
        s = 224 / min(h, w)
        img = cv2.resize(rgb, (max(224, round(w * s)), max(224, round(h * s))),
                         interpolation=cv2.INTER_AREA)
        y0, x0 = (img.shape[0] - 224) // 2, (img.shape[1] - 224) // 2
        x = to_tensor(np.ascontiguousarray(img[y0 : y0 + 224, x0 : x0 + 224]))
        return int(self.net(normalize_rgb(x)).argmax())


def shifted_prior(rgb: torch.Tensor, gen: torch.Generator, max_shift: int = 8) -> torch.Tensor:
    """True chroma of ``rgb`` ``(1, 3, H, W)``, shifted up to ``max_shift`` px; confidence 1."""
    ab = rgb_to_lab(rgb)[:, 1:]
    dy, dx = (torch.randint(-max_shift, max_shift + 1, (2,), generator=gen)).tolist()
    ab = torch.roll(ab, shifts=(dy, dx), dims=(2, 3))
    return torch.cat((ab, torch.ones_like(ab[:, :1])), 1)


def _photos(folder: Path, limit: int, cls: Classifier):
    """Each photo of ``folder`` (the first ``limit``; 0: all) as what the measures compare.

    Yields the true image ``(H, W, 3)`` uint8, its luma ``(1, 1, H, W)``, the gray baseline
    (the luma with a = b = 0) and the classifier's top-1 class of the truth.

    Raises:
        ValueError: the folder holds no images.
    """
    paths = list_images(folder)[: limit or None]
    if not paths:
        raise ValueError(f"no images in {folder}")
    for path in paths:
        truth = read_rgb(path)
        luma = rgb_to_luma(to_tensor(truth))
        yield truth, luma, to_uint8(merge_rgb(luma, torch.zeros(1, 2, *luma.shape[-2:]))), \
            cls.top1(truth)


def evaluate_folder(
    colorizer: FrameColorizer, folder: Path, limit: int = 0, grid: Path | None = None
) -> EvalResult:
    """Evaluate on every image of ``folder`` (or the first ``limit``) at its stored size."""
    cls = Classifier()
    gen = torch.Generator().manual_seed(0)
    acc: dict[str, list[float]] = {k: [] for k in
                                   ("psnr", "psnr_gray", "cf", "cf_gray", "cf_truth", "top1",
                                    "top1_gray", "psnr_prior")}
    tiles = []
    for truth, luma, gray, t_truth in _photos(folder, limit, cls):
        out = to_uint8(torch.from_numpy(colorizer.colorize_luma(luma.numpy())))
        prior = shifted_prior(to_tensor(truth), gen).numpy()
        with_prior = to_uint8(torch.from_numpy(colorizer.colorize_luma(luma.numpy(), prior)))
        acc["psnr"].append(psnr(out, truth))
        acc["psnr_gray"].append(psnr(gray, truth))
        acc["psnr_prior"].append(psnr(with_prior, truth))
        acc["cf"].append(colorfulness(out))
        acc["cf_gray"].append(colorfulness(gray))
        acc["cf_truth"].append(colorfulness(truth))
        acc["top1"].append(float(cls.top1(out) == t_truth))
        acc["top1_gray"].append(float(cls.top1(gray) == t_truth))
        if grid is not None and len(tiles) < 16:
            tiles.append(_grid_row(gray, out, truth))
    if grid is not None:
        cv2.imwrite(str(grid), np.concatenate(tiles, 0)[:, :, ::-1])
    means = {k: float(np.mean(v)) for k, v in acc.items()}
    return EvalResult(images=len(acc["psnr"]), **means)


@dataclass(frozen=True)
class GainPoint:
    """One chroma gain's means over a folder, relative to the gray baseline and the truth."""

    gain: float
    psnr_over_gray: float
    cf_ratio: float
    top1_over_gray: float


def gain_sweep(colorizer: FrameColorizer, folder: Path, gains: list[float],
               limit: int = 0) -> list[GainPoint]:
    """The PSNR-colourfulness frontier: every gain of ``gains`` on every photo of ``folder``.

    The network runs once per photo (``colorizer`` at saturation 1.0); each gain multiplies its
    chroma before the upsampling, as the saturation setting does with no prior
    (:func:`evaluate_folder` at that ``--saturation`` gives the same numbers).
    """
    cls = Classifier()
    sums = {g: np.zeros(3) for g in gains}
    base = np.zeros(3)
    n = 0
    for truth, luma, gray, t_truth in _photos(folder, limit, cls):
        n += 1
        base += (psnr(gray, truth), colorfulness(truth), cls.top1(gray) == t_truth)
        ab = colorizer.predict_ab(luma.numpy())
        for g in gains:
            rgb = colorizer.rgb_from_ab(luma.numpy(), np.clip(ab * g, -110.0, 110.0))
            out = to_uint8(torch.from_numpy(rgb))
            sums[g] += (psnr(out, truth), colorfulness(out), cls.top1(out) == t_truth)
    return [GainPoint(g, (sums[g][0] - base[0]) / n, sums[g][1] / base[1],
                      100 * (sums[g][2] - base[2]) / n) for g in gains]


def _grid_row(*images: np.ndarray, height: int = 160) -> np.ndarray:
    cells = []
    for img in images:
        h, w = img.shape[:2]
        cell = cv2.resize(img, (round(w * height / h), height), interpolation=cv2.INTER_AREA)
        cell = cv2.copyMakeBorder(cell[:, :240], 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255,) * 3)
        if cell.shape[1] < 244:
            cell = cv2.copyMakeBorder(cell, 0, 0, 0, 244 - cell.shape[1], cv2.BORDER_CONSTANT,
                                      value=(255,) * 3)
        cells.append(cell)
    return np.concatenate(cells, 1)



@dataclass
class TilingRow:
    """Windowed vs whole-frame numbers at one working resolution and input scale."""

    scale: int
    render_size: int
    windows_per_frame: float
    psnr_whole: float
    psnr_windows: float
    cf_whole: float
    cf_windows: float
    seam_whole: float
    seam_windows: float
    bleed_bilinear: float
    bleed_guided: float


def edge_band(luma: np.ndarray, width: int = 3, threshold: float = 0.25) -> np.ndarray:
    """Pixels within ``width`` px of a strong luminance edge (Sobel magnitude, luma in 0..1)."""
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)
    edges = (np.hypot(gx, gy) > threshold).astype(np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return cv2.dilate(edges, kernel).astype(bool)


def evaluate_tiling(backend, folder: Path, render_sizes: list[int], scales: list[int],
                    limit: int = 0, overlap: int = 32,
                    global_confidence: float | None = None) -> list[TilingRow]:
    """Windows vs one whole-frame pass, and guided vs bilinear upsampling, on a photo folder.

    Each photo (upscaled ``scale`` times, bicubic) is made gray and colorized at each working
    resolution twice: with windows and with a single pass over the whole working frame.
    Seam score (see :func:`vidcolor.tiling.seam_score`) is measured on the working-resolution
    chroma; chroma bleeding is the mean Lab ``|Δab|`` vs the truth within 3 px of strong
    luminance edges, with the guided-filter upsampling and with plain bilinear upsampling.
    """
    from vidcolor.config import TileConfig
    from vidcolor.tiling import seam_score, working_size

    paths = list_images(folder)[: limit or None]
    if global_confidence is None:
        global_confidence = TileConfig().global_confidence
    rows = []
    for scale in scales:
        for size in render_sizes:
            acc: dict[str, list[float]] = {}
            for path in paths:
                truth = read_rgb(path)
                if scale != 1:
                    truth = cv2.resize(truth, None, fx=scale, fy=scale,
                                       interpolation=cv2.INTER_CUBIC)
                rgb = to_tensor(truth).numpy()  # the colorizer's numpy arrays from here on
                luma = rgb_to_luma(rgb)
                truth_ab = rgb_to_lab(rgb)[:, 1:]
                band = edge_band(luma[0, 0])
                h, w = working_size(*luma.shape[-2:], size)
                for name, windows in (("whole", False), ("windows", True)):
                    col = FrameColorizer(backend, TileConfig(
                        render_size=size, overlap=overlap, windows=windows,
                        global_confidence=global_confidence))
                    ab = col.predict_ab(luma)
                    grid = col.grid(h, w)
                    if windows:
                        acc.setdefault("n", []).append(len(grid) if col.uses_windows(h, w) else 0)
                    acc.setdefault(f"seam_{name}", []).append(
                        seam_score(ab, grid.border_mask()))
                    out = to_uint8(torch.from_numpy(merge_rgb(luma, col.upsample(ab, luma))))
                    acc.setdefault(f"psnr_{name}", []).append(psnr(out, truth))
                    acc.setdefault(f"cf_{name}", []).append(colorfulness(out))
                    if windows:
                        for up, edge_aware in (("guided", True), ("bilinear", False)):
                            col.tile = TileConfig(render_size=size, edge_aware=edge_aware)
                            rgb_out = merge_rgb(luma, col.upsample(ab, luma))
                            err = np.abs(rgb_to_lab(rgb_out)[:, 1:] - truth_ab).mean(1)[0]
                            acc.setdefault(f"bleed_{up}", []).append(
                                float(err[band].mean()) if band.any() else float("nan"))
            m = {k: float(np.nanmean(v)) for k, v in acc.items()}
            rows.append(TilingRow(
                scale=scale, render_size=size, windows_per_frame=m["n"],
                psnr_whole=m["psnr_whole"], psnr_windows=m["psnr_windows"],
                cf_whole=m["cf_whole"], cf_windows=m["cf_windows"],
                seam_whole=m["seam_whole"], seam_windows=m["seam_windows"],
                bleed_bilinear=m["bleed_bilinear"], bleed_guided=m["bleed_guided"]))
    return rows


def tiling_table(rows: list[TilingRow]) -> str:
    """Markdown table of :func:`evaluate_tiling` rows."""
    lines = [
        "| input | render size | windows/frame | PSNR whole | PSNR windows | ΔPSNR | CF whole | "
        "CF windows | CF ratio | seam whole | seam windows | bleed bilinear | bleed guided |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for r in rows:
        lines.append(
            f"| ×{r.scale} | {r.render_size} | {r.windows_per_frame:.1f} | {r.psnr_whole:.2f} | "
            f"{r.psnr_windows:.2f} | {r.psnr_windows - r.psnr_whole:+.2f} | {r.cf_whole:.1f} | "
            f"{r.cf_windows:.1f} | {r.cf_windows / max(r.cf_whole, 1e-6):.3f} | "
            f"{r.seam_whole:.3f} | {r.seam_windows:.3f} | {r.bleed_bilinear:.2f} | "
            f"{r.bleed_guided:.2f} |")
    return "\n".join(lines) + "\n"


def evaluate_hints(colorizer: FrameColorizer, folder: Path, counts: list[int],
                   limit: int = 0, rules: tuple[str, ...] = ("largest", "worst")) -> str:
    """Colour hints on val photos: PSNR over the automatic result, colour error at the hints.

    For each photo, rule and K in ``counts``, K hints are taken from the truth by
    :func:`vidcolor.lab.hint_sampling.sample_hints`: at the largest regions of one true colour
    (``largest``), or where the automatic result is most wrong, as a user places them
    (``worst``: area x chroma error). They are spread into a prior and followed, as in the
    render's anchor frame (:func:`vidcolor.shot.anchor_frame`). Returns a markdown table: the
    mean gain, the share of photos made worse by more than 0.1 dB and the worst photo, beside
    the colour error at the hints.
    """
    import time

    from vidcolor.lab.hint_sampling import sample_hints
    from vidcolor.shot import AnchorInputs, anchor_frame

    paths = list_images(folder)[: limit or None]
    auto_psnr: list[float] = []
    rows = {(rule, k): {"psnr": [], "de": [], "shown": [], "ms": []}
            for rule in rules for k in counts}
    for path in paths:
        truth = read_rgb(path)
        luma = rgb_to_luma(to_tensor(truth)).numpy()
        auto = to_uint8(torch.from_numpy(colorizer.colorize_luma(luma)))
        auto_psnr.append(psnr(auto, truth))
        truth_lab = cv2.cvtColor(truth.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        for rule, k in rows:
            hints = sample_hints(truth, k, auto=auto if rule == "worst" else None)
            r = rows[(rule, k)]
            t0 = time.perf_counter()
            ab = anchor_frame(colorizer, luma, AnchorInputs(hints=tuple(hints))).ab
            r["ms"].append(1000 * (time.perf_counter() - t0))
            ab = colorizer.upsample(ab, luma)
            out = to_uint8(torch.from_numpy(merge_rgb(luma, ab)))
            r["psnr"].append(psnr(out, truth))
            out_lab = cv2.cvtColor(out.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
            for h in hints:
                y, x = int(h.y), int(h.x)
                wanted = np.array([truth_lab[y, x, 0], h.a, h.b], np.float32)
                r["de"].append(float(np.linalg.norm(out_lab[y, x] - wanted)))
                # The hint as the output can show it at this pixel (the source's luma kept;
                # a region's mean colour may lie outside the gamut at a darker point).
                shown = merge_rgb(luma[:, :, y:y + 1, x:x + 1],
                                  np.array([h.a, h.b], np.float32).reshape(1, 2, 1, 1))
                shown_lab = cv2.cvtColor(shown[0].transpose(1, 2, 0).astype(np.float32),
                                         cv2.COLOR_RGB2Lab)[0, 0]
                r["shown"].append(float(np.linalg.norm(out_lab[y, x] - shown_lab)))
    base = np.array(auto_psnr)
    lines = [f"{len(paths)} photos of {folder}; automatic PSNR {base.mean():.2f} dB\n",
             "| placement | hints | PSNR dB | over automatic | photos worse by > 0.1 dB | "
             "worst photo | ΔE at the hints: mean | 95th pct | over 5 | over 5 from the hint "
             "as shown there | ms per frame (spread + network) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (rule, k), r in rows.items():
        gain = np.array(r["psnr"]) - base
        de = np.array(r["de"])
        lines.append(f"| {rule} | {k} | {np.mean(r['psnr']):.2f} | {gain.mean():+.2f} | "
                     f"{100 * np.mean(gain < -0.1):.1f} % | {gain.min():+.2f} | "
                     f"{de.mean():.2f} | {np.percentile(de, 95):.2f} | "
                     f"{100 * np.mean(de > 5):.1f} % | "
                     f"{100 * np.mean(np.array(r['shown']) > 5):.1f} % | "
                     f"{np.median(r['ms']):.0f} |")
    return "\n".join(lines)
