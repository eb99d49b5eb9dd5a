"""FrameColorizer: a frame's luma in, its predicted chroma out (at any size).

Everything here is numpy: float32 arrays in the ``(B, C, H, W)`` layout of
:mod:`vidcolor.colorspace` (``B`` is 1 for a frame).
"""

from __future__ import annotations

import logging

import numpy as np

from vidcolor.backends import Backend
from vidcolor.colorspace import lab_to_chroma_codes, luma_to_l, merge_chroma, ycbcr_to_rgb
from vidcolor.config import TemporalConfig, TileConfig
from vidcolor.guided import guided_upsample
from vidcolor.hints import look_alike
from vidcolor.planes import chroma_guides, plane_to_luma
from vidcolor.regions import flatten_regions
from vidcolor.resample import resize_area, resize_bilinear, shrink_area
from vidcolor.temporal import chroma_stats, hold_stats
from vidcolor.tiling import (
    GLOBAL_SIZE,
    WindowGrid,
    combine_priors,
    predict_padded,
    working_size,
)

log = logging.getLogger(__name__)

__all__ = ["FrameColorizer", "working_size"]

WINDOW_STATS_TOLERANCE = 0.0  # windows' chroma spread and mean: the global pass's (measured best)
FOLLOW_FROM = 0.03  # hints: the output follows their spread colours above this confidence
# Hints: the confidence the first result has as the prior of the second look (see steered); the
# value of most gain on the tuning photos (docs/experiments.md, the constants of colour hints).
SECOND_LOOK = 0.3


class FrameColorizer:
    """Predicts Lab chroma for frames: frame (and prior) in, chroma out; no state of a shot.

    The state a shot's frames share (its anchor, drift guard and previous frame) is
    :class:`vidcolor.shot.Shot`'s; ``temporal`` is only the setting shots colorized with this
    colorizer carry colour from frame to frame with (``None``: every frame on its own).
    """

    def __init__(
        self, backend: Backend, tile: TileConfig | None = None,
        temporal: TemporalConfig | None = None, drawn: bool = False,
    ) -> None:
        self.backend = backend
        self.tile = tile or TileConfig()
        self.temporal = temporal if temporal is not None and temporal.enabled else None
        # Drawn content (the animation model): a colour hint fills its line-bounded region.
        self.drawn = drawn
        self._grids: dict[tuple[int, int], WindowGrid] = {}  # a cache, the same for any frame

    def working_luma(self, luma: np.ndarray) -> np.ndarray:
        """A full-range luma ``(1, 1, H, W)`` brought to the working resolution."""
        h, w = luma.shape[-2:]
        wh, ww = working_size(h, w, self.tile.render_size)
        if (wh, ww) == (h, w):
            return luma
        return shrink_area(luma, (wh, ww)) if wh <= h and ww <= w else resize_area(luma, (wh, ww))

    def grid(self, height: int, width: int) -> WindowGrid:
        """The window grid over a working frame of ``(height, width)`` (cached)."""
        key = (height, width)
        if key not in self._grids:
            self._grids = {key: WindowGrid(height, width, overlap=self.tile.overlap)}
        return self._grids[key]

    def uses_windows(self, height: int, width: int) -> bool:
        """Whether a working frame of this size is covered by windows (else one pass)."""
        gh, gw = working_size(height, width, GLOBAL_SIZE)
        return self.tile.windows and gh * gw < height * width

    def predict_small(self, small: np.ndarray, prior: np.ndarray | None,
                      gain: float | None = None) -> np.ndarray:
        """Chroma ``(1, 2, h, w)`` of a working-size luma ``(1, 1, h, w)`` (0..1) and a prior.

        A global pass, then windows that follow it (where the frame is larger than one view).

        ``gain`` multiplies the chroma; by default the saturation gain, faded out by the
        prior's mean confidence.
        """
        h, w = small.shape[-2:]
        lum = luma_to_l(small)
        if not self.uses_windows(h, w):
            # The working frame is no larger than the global view: one pass sees it all.
            prior_w = prior if prior is not None else np.zeros((1, 3, h, w), np.float32)
            ab = predict_padded(self.backend.predict, lum, prior_w)
        else:
            ab_g = self._global_pass(lum, prior)
            prior_w = combine_priors(prior, ab_g, self.tile.global_confidence)
            ab = self.grid(h, w).run(self.backend.predict, lum, prior_w, self.tile.batch)
            # The network, given a prior, tends to add saturation to it; the frame's colour
            # distribution stays the global pass's, the windows add local detail.
            ab = hold_stats(ab, chroma_stats(ab_g), WINDOW_STATS_TOLERANCE)
        # The gain compensates the unconditioned network's muted colours; where a confident
        # prior sets the colours (a keyframe, a reference) it fades out.
        if gain is None:
            conf = float(prior[:, 2].mean()) if prior is not None else 0.0
            gain = 1.0 + (self.tile.saturation - 1.0) * (1.0 - conf)
        return np.clip(ab * gain, -110.0, 110.0)

    def _global_pass(self, lum: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
        """The network's chroma of the whole frame at 224 on its short side, at ``lum``'s size."""
        h, w = lum.shape[-2:]
        gh, gw = working_size(h, w, GLOBAL_SIZE)
        lum_g = resize_area(lum, (gh, gw))
        prior_g = (np.zeros((1, 3, gh, gw), np.float32) if prior is None
                   else resize_area(prior, (gh, gw)))
        return resize_bilinear(predict_padded(self.backend.predict, lum_g, prior_g), (h, w))

    def own_stats(self, small: np.ndarray, weight: np.ndarray | None = None,
                  over: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """:func:`chroma_stats` of a working-size luma colorized on its own (gain 1).

        Windows are given the global pass's statistics, so where there are windows the
        global pass alone tells them, at a fraction of the cost. ``weight`` ``(h, w)``: each
        pixel's share (as for :func:`chroma_stats`); ``over``: a share ``(h, w)`` and chroma
        ``(1, 2, h, w)`` laid over the network's own colours first (a hinted shot's hints).
        """
        if self.uses_windows(*small.shape[-2:]):
            own = self._global_pass(luma_to_l(small), None)
        else:
            own = self.predict_small(small, None, 1.0)
        if over is not None:
            share = over[0][None, None]
            own = share * over[1] + (1.0 - share) * own
        return chroma_stats(own, weight)

    def upsample(self, ab: np.ndarray, luma: np.ndarray, interleaved: bool = False) -> np.ndarray:
        """Working-size ``ab`` to the size of ``luma`` (edge-aware unless turned off).

        With ``flat_regions``, then one chroma per line-bounded region (drawn frames).
        ``luma``: ``(1, 1, H, W)`` or ``(H, W)``; ``interleaved``: ``(H, W, 2)`` out, else
        ``(1, 2, H, W)``.
        """
        if self.tile.edge_aware and not self.tile.flat_regions:
            return guided_upsample(ab, luma, interleaved=interleaved)
        luma = luma if luma.ndim == 4 else luma[None, None]
        ab = guided_upsample(ab, luma) if self.tile.edge_aware else resize_bilinear(
            ab, luma.shape[-2:])
        ab = flatten_regions(ab, luma) if self.tile.flat_regions else ab
        return np.ascontiguousarray(ab[0].transpose(1, 2, 0)) if interleaved else ab

    def steered(self, small: np.ndarray, keyframe: np.ndarray | None,
                hints: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Chroma of a working-size luma steered by a keyframe and/or hints.

        ``keyframe``: a user's chroma ``(1, 2, h, w)``, followed at confidence 1; ``hints``:
        the prior ``(1, 3, h, w)`` of colour hints (:func:`vidcolor.hints.hint_prior`), which
        override the keyframe where they are confident. The anchor frame of a shot is made
        with this (:func:`vidcolor.shot.anchor_frame`).

        Also returns the hints' share of each pixel's chroma ``(h, w)`` (``None`` without
        hints, or with a keyframe): what the shot carries along as the hints' own.

        Where the hints are not confident, the saturation gain applies as to the network's
        own colours; a keyframe's colours are taken as given. The network, trained on dense
        priors, follows a sparse one only partly, so the output leans on the hints' spread
        colours by the square root of their confidence above 0.03 (none below: beyond a
        strong edge, a step of 0.6 in luminance, a hint has no say). On 100 training photos,
        1 / 3 / 10 hints: +0.87 / +2.12 / +3.71 dB over automatic; +1.02 / +2.26 / +3.74 with
        the square root down to 0 (which keeps a tenth of a hint's colour across such an
        edge), +0.78 / +2.00 / +3.61 above 0.1 only, +0.62 / +1.66 / +3.18 with the network
        alone.
        """
        prior = np.zeros((1, 3, *small.shape[-2:]), np.float32)
        if keyframe is not None:
            prior[:, :2] = resize_area(keyframe, small.shape[-2:])
            prior[:, 2] = 1.0
        h = None
        if hints is not None:
            h = resize_area(hints, small.shape[-2:]) if hints.shape[-2:] != small.shape[-2:] \
                else hints
            c = h[:, 2:3]
            prior[:, :2] = c * h[:, :2] + (1.0 - c) * prior[:, :2]
            prior[:, 2:3] = np.maximum(prior[:, 2:3], c)
        ab = self._follow(self.predict_small(small, prior, 1.0), prior, keyframe is None, h)
        share = None
        if hints is not None and keyframe is None:
            # A second look: the first result, hints followed, as a dense prior of low
            # confidence, so the network carries the hints' colours on into the regions
            # they belong to (it follows a dense prior better than a sparse one).
            again = np.maximum(prior[:, 2:3], SECOND_LOOK)
            ab = self._follow(self.predict_small(small, np.concatenate([ab * again, again], 1),
                                                  1.0), prior, True, h)
            # Where the spread does not reach, the parts that look like a hint's point take its
            # colour (hints.look_alike).
            own = self.predict_small(small, None, 1.0)
            alike = look_alike(h, luma_to_l(small)[0, 0], own)
            taken = alike[:, 2:3] * (1.0 - np.clip(h[:, 2:3], 0.0, 1.0))
            ab = np.clip(taken * alike[:, :2] + (1.0 - taken) * ab, -110.0, 110.0)
            followed = self._follow_share(h[:, 2:3])
            share = (followed + (1.0 - followed) * taken)[0, 0].astype(np.float32)
            # What the hints did not reach keeps the network's own colours: the second look
            # may carry a hint's colour onto look-alike parts the user never touched.
            auto = np.clip(own * self.tile.saturation, -110.0, 110.0)
            ab = share[None, None] * ab + (1.0 - share[None, None]) * auto
        return ab, share

    @staticmethod
    def _follow_share(confidence: np.ndarray) -> np.ndarray:
        """How much the output follows hints spread at ``confidence`` (see steered)."""
        return np.sqrt(np.clip((confidence - FOLLOW_FROM) / (1.0 - FOLLOW_FROM), 0.0, 1.0))

    def _follow(self, ab: np.ndarray, prior: np.ndarray, gain: bool,
                hints: np.ndarray | None) -> np.ndarray:
        """The network's chroma, leaning on the hints' spread colours by their confidence.

        ``gain``: the saturation gain applies where the prior is not confident (see steered).
        """
        if gain:
            ab = ab * (1.0 + (self.tile.saturation - 1.0) * (1.0 - prior[:, 2:3]))
        if hints is not None:
            follow = self._follow_share(hints[:, 2:3])
            ab = follow * hints[:, :2] + (1.0 - follow) * ab
        return np.clip(ab, -110.0, 110.0)

    def gain_map(self, hinted: np.ndarray) -> np.ndarray:
        """The saturation gain of a hinted frame: none where a hint's colour is."""
        return 1.0 + (self.tile.saturation - 1.0) * (1.0 - hinted[None, None])

    def predict_ab(self, luma: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        """Chroma at the working resolution for a full-range luma ``(1, 1, H, W)`` in 0..1.

        Args:
            luma: ``(1, 1, H, W)`` full-range ``Y'`` in 0..1.
            prior: optional ``(1, 3, H, W)`` Lab ``a, b`` and confidence at the luma's size.

        Returns:
            ``(1, 2, h, w)`` Lab ``a, b`` at the working size (see :func:`working_size`).
        """
        small = self.working_luma(luma)
        if prior is not None and prior.shape[-2:] != small.shape[-2:]:
            prior = resize_area(prior, small.shape[-2:])
        return self.predict_small(small, prior)

    def chroma_planes(
        self, y_plane: np.ndarray, full_range: bool, matrix: str,
        subsample: bool | tuple[int, int], ab: np.ndarray | None = None, depth: int = 8,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``Cb, Cr`` planes of a video frame whose ``Y'`` plane is ``y_plane``.

        The frame on its own (:meth:`predict_ab`) unless its chroma ``ab`` is given (a shot's
        frames get theirs from :class:`vidcolor.shot.Shot`); then :meth:`planes_from_ab`.

        Args:
            y_plane: ``(H, W)`` luma plane (uint8, or uint16 at ``depth`` bits), copied
                unchanged into the output frame.
            full_range: the plane uses the full range (else 16..235 scaled to the depth;
                chroma then 16..240).
            matrix: ``bt601`` or ``bt709``.
            subsample: ``True`` or ``(1, 1)`` for 4:2:0 planes (H and W even), ``(1, 0)`` for
                4:2:2 (W even), ``False`` or ``(0, 0)`` for 4:4:4.
            ab: the frame's working-size chroma, when already known.
            depth: bits per sample of the planes (8: uint8; 9-16: uint16).
        """
        if ab is None:
            ab = self.predict_ab(plane_to_luma(y_plane, full_range, depth))
        return self.planes_from_ab(y_plane, ab, full_range, matrix, subsample, depth)

    def planes_from_ab(
        self, y_plane: np.ndarray, ab: np.ndarray, full_range: bool, matrix: str,
        subsample: bool | tuple[int, int], depth: int = 8,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``Cb, Cr`` planes of a frame from its working-size chroma (see :meth:`chroma_planes`).

        It may run in another thread (the encoder's) while the next frame is colorized.
        """
        shifts = (1, 1) if subsample is True else (0, 0) if subsample is False else subsample
        luma, lum = chroma_guides(y_plane, full_range, depth, shifts)
        ab = self.upsample(ab, luma, interleaved=True)
        unit = float(1 << (depth - 8))
        scale = (255.0 * unit + unit - 1.0) if full_range else 224.0 * unit
        return lab_to_chroma_codes(lum, ab, matrix, scale, 128.0 * unit, (1 << depth) - 1)

    def colorize_luma(
        self, luma: np.ndarray, prior: np.ndarray | None = None, matrix: str = "bt601"
    ) -> np.ndarray:
        """RGB ``(1, 3, H, W)`` in 0..1 whose luma equals ``luma`` ``(1, 1, H, W)`` (0..1)."""
        return self.rgb_from_ab(luma, self.predict_ab(luma, prior), matrix)

    def rgb_from_ab(self, luma: np.ndarray, ab: np.ndarray, matrix: str = "bt601") -> np.ndarray:
        """RGB ``(1, 3, H, W)`` of a luma and its working-size chroma (upsampled here)."""
        ab = self.upsample(ab, luma)
        return ycbcr_to_rgb(luma, merge_chroma(luma, ab, matrix), matrix)
