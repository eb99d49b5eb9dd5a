"""FrameColorizer: a frame's luma in, its predicted chroma out (at any size)."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.backends import Backend
from vidcolor.colorspace import luma_to_l, merge_chroma, ycbcr_to_rgb
from vidcolor.config import TemporalConfig, TileConfig
from vidcolor.metrics import pad_to_stride
from vidcolor.temporal import TemporalPrior

log = logging.getLogger(__name__)

MAX_ASPECT = 4  # the working frame's long side is at most this many times its short side


def working_size(height: int, width: int, render_size: int) -> tuple[int, int]:
    """Size ``(h, w)`` the network sees: short side ``render_size``, long side capped."""
    short, long_ = min(height, width), max(height, width)
    scale = render_size / short
    long_px = min(round(long_ * scale), MAX_ASPECT * render_size)
    short_px = max(1, min(render_size, round(short * long_px / long_)))
    return (short_px, long_px) if height <= width else (long_px, short_px)


class FrameColorizer:
    """Predicts Lab chroma for frames; holds the temporal state of the current shot."""

    def __init__(
        self, backend: Backend, tile: TileConfig | None = None,
        temporal: TemporalConfig | None = None,
    ) -> None:
        self.backend = backend
        self.tile = tile or TileConfig()
        self.temporal = TemporalPrior(temporal) if temporal and temporal.enabled else None
        self._anchor = 0.0  # mean |ab| of the last unconditioned pass in this shot
        self._since_anchor = 0

    def new_shot(self) -> None:
        """Start a shot: the next frame gets no prior from the previous one."""
        if self.temporal is not None:
            self.temporal.reset()

    def _working(self, luma: torch.Tensor) -> torch.Tensor:
        h, w = luma.shape[-2:]
        wh, ww = working_size(h, w, self.tile.render_size)
        return F.interpolate(luma, size=(wh, ww), mode="area") if (wh, ww) != (h, w) else luma

    def _predict_small(self, small: torch.Tensor, prior: torch.Tensor | None) -> torch.Tensor:
        wh, ww = small.shape[-2:]
        lum_p, _ = pad_to_stride(luma_to_l(small))
        if prior is None:
            prior_p = torch.zeros(1, 3, *lum_p.shape[-2:])
        else:
            prior_p, _ = pad_to_stride(prior)
        ab = self.backend.predict(lum_p, prior_p)[..., :wh, :ww]
        return (ab * self.tile.saturation).clamp(-110.0, 110.0)

    def predict_frame_ab(self, luma: torch.Tensor) -> torch.Tensor:
        """Like :meth:`predict_ab` for the next frame of a video, with the temporal prior."""
        small = self._working(luma)
        if self.temporal is None:
            return self._predict_small(small, None)
        small_u8 = (small[0, 0] * 255.0).round().to(torch.uint8).numpy()
        prior = self.temporal.prior(small_u8)
        cfg = self.temporal.cfg
        if prior is None or self._since_anchor >= cfg.anchor_every:
            free = self._predict_small(small, None)
            self._anchor = float(free.abs().mean())
            self._since_anchor = 0
        ab = free if prior is None else self._predict_small(small, prior)
        self._since_anchor += 1
        # Drift guard: keep the shot's colourfulness within a tolerance of the anchor.
        level = float(ab.abs().mean())
        if self._anchor > 0.5 and level > 1e-3:
            ratio = level / self._anchor
            bounded = min(max(ratio, 1.0 - cfg.drift_tolerance), 1.0 + cfg.drift_tolerance)
            ab = ab * (bounded / ratio)
        self.temporal.update(small_u8, ab)
        return ab

    def predict_ab(self, luma: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """Chroma at the working resolution for a full-range luma ``(1, 1, H, W)`` in 0..1.

        Args:
            luma: ``(1, 1, H, W)`` full-range ``Y'`` in 0..1.
            prior: optional ``(1, 3, H, W)`` Lab ``a, b`` and confidence at the luma's size.

        Returns:
            ``(1, 2, h, w)`` Lab ``a, b`` at the working size (see :func:`working_size`).
        """
        small = self._working(luma)
        if prior is not None and prior.shape[-2:] != small.shape[-2:]:
            prior = F.interpolate(prior, size=small.shape[-2:], mode="area")
        return self._predict_small(small, prior)

    def chroma_planes(
        self, y_plane: np.ndarray, full_range: bool, matrix: str, subsample: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """8-bit ``Cb, Cr`` planes for the next video frame, whose 8-bit ``Y'`` is ``y_plane``.

        Uses the temporal prior (call :meth:`new_shot` at cuts).

        Args:
            y_plane: ``(H, W)`` uint8 luma plane, copied unchanged into the output frame.
            full_range: the plane uses 0..255 (else 16..235; chroma then 16..240).
            matrix: ``bt601`` or ``bt709``.
            subsample: return 4:2:0 planes (``(H/2, W/2)``; H and W even), else 4:4:4.
        """
        luma = _plane_to_luma(y_plane, full_range)
        ab = self.predict_frame_ab(luma)
        if subsample:
            luma = F.avg_pool2d(luma, 2)
        ab = F.interpolate(ab, size=luma.shape[-2:], mode="bilinear", align_corners=False)
        cbcr = merge_chroma(luma, ab, matrix)[0]
        scale = 255.0 if full_range else 224.0
        planes = (cbcr * scale + 128.0).round().clamp(0, 255).to(torch.uint8).numpy()
        return planes[0], planes[1]

    def colorize_luma(
        self, luma: torch.Tensor, prior: torch.Tensor | None = None, matrix: str = "bt601"
    ) -> torch.Tensor:
        """RGB ``(1, 3, H, W)`` in 0..1 whose luma equals ``luma`` ``(1, 1, H, W)`` (0..1)."""
        ab = self.predict_ab(luma, prior)
        ab = F.interpolate(ab, size=luma.shape[-2:], mode="bilinear", align_corners=False)
        return ycbcr_to_rgb(luma, merge_chroma(luma, ab, matrix), matrix)


def _plane_to_luma(y_plane: np.ndarray, full_range: bool) -> torch.Tensor:
    y = torch.from_numpy(np.ascontiguousarray(y_plane)).float()[None, None]
    if full_range:
        return y / 255.0
    return ((y - 16.0) / 219.0).clamp(0.0, 1.0)
