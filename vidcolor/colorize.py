"""FrameColorizer: a frame's luma in, its predicted chroma out (at any size).

Everything here is numpy: float32 arrays in the ``(B, C, H, W)`` layout of
:mod:`vidcolor.colorspace` (``B`` is 1 for a frame).
"""

from __future__ import annotations

import logging

import numpy as np

from vidcolor.backends import Backend
from vidcolor.colorspace import luma_to_l, merge_chroma, ycbcr_to_rgb
from vidcolor.config import TemporalConfig, TileConfig
from vidcolor.guided import guided_upsample
from vidcolor.hints import look_alike
from vidcolor.planes import plane_to_luma
from vidcolor.regions import flatten_regions
from vidcolor.resample import pool2, resize_area, resize_bilinear, shrink_area
from vidcolor.temporal import ShotState, TemporalPrior, chroma_stats, hold_stats
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
# Hints: the confidence the first result has as the prior of the second look (see guided); the
# value of most gain on the tuning photos (docs/experiments.md, the constants of colour hints).
SECOND_LOOK = 0.3


class FrameColorizer:
    """Predicts Lab chroma for frames; holds the temporal state of the current shot."""

    def __init__(
        self, backend: Backend, tile: TileConfig | None = None,
        temporal: TemporalConfig | None = None,
    ) -> None:
        self.backend = backend
        self.tile = tile or TileConfig()
        self.temporal = TemporalPrior(temporal) if temporal and temporal.enabled else None
        # Chroma statistics (mean a, std a, mean b, std b) the drift guard holds the shot's
        # frames to: the anchor frame's, gliding toward the goal re-anchoring sets.
        self._anchor = np.zeros(4)
        self._goal = np.zeros(4)  # where the anchor glides to (see TemporalConfig.reanchor_every)
        self._keyed = False  # the anchor is a user's keyframe
        self._since = 0  # frames colorized after the anchor, in this direction
        self._keyframe: np.ndarray | None = None
        self._hints: np.ndarray | None = None
        self._grids: dict[tuple[int, int], WindowGrid] = {}

    def new_shot(self, keyframe: np.ndarray | None = None,
                 hints: np.ndarray | None = None) -> None:
        """Start a shot: the next frame is its anchor and gets no prior from the one before.

        Args:
            keyframe: a user's chroma ``(1, 2, h, w)`` (working size) for the anchor frame,
                followed at confidence 1; ``None``: the network's own colours.
            hints: the prior ``(1, 3, h, w)`` of the anchor frame's colour hints
                (:func:`vidcolor.hints.hint_prior`); with a keyframe, they override it where
                they are confident.
        """
        if self.temporal is not None:
            self.temporal.reset()
        self._keyframe = keyframe
        self._hints = hints
        self._keyed = False

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

    def _predict_small(self, small: np.ndarray, prior: np.ndarray | None,
                       gain: float | None = None) -> np.ndarray:
        """Chroma of a working-size luma: a global pass, then windows that follow it.

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

    def own_stats(self, small: np.ndarray) -> np.ndarray:
        """:func:`chroma_stats` of a working-size luma colorized on its own (gain 1).

        Windows are given the global pass's statistics, so where there are windows the
        global pass alone tells them, at a fraction of the cost.
        """
        if self.uses_windows(*small.shape[-2:]):
            return chroma_stats(self._global_pass(luma_to_l(small), None))
        return chroma_stats(self._predict_small(small, None, 1.0))

    def upsample(self, ab: np.ndarray, luma: np.ndarray) -> np.ndarray:
        """Working-size ``ab`` to the size of ``luma`` (edge-aware unless turned off).

        With ``flat_regions``, then one chroma per line-bounded region (drawn frames).
        """
        ab = guided_upsample(ab, luma) if self.tile.edge_aware else resize_bilinear(
            ab, luma.shape[-2:])
        return flatten_regions(ab, luma) if self.tile.flat_regions else ab

    def predict_frame_ab(self, luma: np.ndarray) -> np.ndarray:
        """Like :meth:`predict_ab` for the next frame of a video, with the temporal prior."""
        return self.predict_working(self.working_luma(luma))

    def state(self) -> ShotState | None:
        """What the next frame of this shot depends on (``None`` before its anchor)."""
        previous = self.temporal.previous if self.temporal is not None else None
        if previous is None:
            return None
        return ShotState(luma=previous[0], ab=previous[1], anchor=self._anchor.copy(),
                         keyed=self._keyed, since=self._since,
                         goal=self._goal.copy(), hinted=self.temporal.hinted)

    def restore(self, state: ShotState) -> None:
        """Continue a shot from :meth:`state` (as if its frame had just been colorized).

        The next frame may be on either side of that one: a shot is colorized outward from its
        anchor, forward to its end and backward to its start.
        """
        self.new_shot()
        self._anchor = np.asarray(state.anchor, np.float64).reshape(4).copy()
        self._keyed = state.keyed
        self._since = state.since
        self._goal = np.asarray(state.goal, np.float64).reshape(4).copy()
        if self.temporal is not None:
            self.temporal.restore(state.luma, state.ab, state.hinted)

    def guided(self, small: np.ndarray, keyframe: np.ndarray | None,
               hints: np.ndarray | None) -> np.ndarray:
        """Chroma of a working-size luma steered by a keyframe and/or hints (see steered)."""
        return self.steered(small, keyframe, hints)[0]

    def steered(self, small: np.ndarray, keyframe: np.ndarray | None,
                hints: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Chroma of a working-size luma steered by a keyframe and/or hints (see new_shot).

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
        ab = self._follow(self._predict_small(small, prior, 1.0), prior, keyframe is None, h)
        share = None
        if hints is not None and keyframe is None:
            # A second look: the first result, hints followed, as a dense prior of low
            # confidence, so the network carries the hints' colours on into the regions
            # they belong to (it follows a dense prior better than a sparse one).
            again = np.maximum(prior[:, 2:3], SECOND_LOOK)
            ab = self._follow(self._predict_small(small, np.concatenate([ab * again, again], 1),
                                                  1.0), prior, True, h)
            # Where the spread does not reach, the parts that look like a hint's point take its
            # colour (hints.look_alike).
            own = self._predict_small(small, None, 1.0)
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
        """How much the output follows hints spread at ``confidence`` (see guided)."""
        return np.sqrt(np.clip((confidence - FOLLOW_FROM) / (1.0 - FOLLOW_FROM), 0.0, 1.0))

    def _follow(self, ab: np.ndarray, prior: np.ndarray, gain: bool,
                hints: np.ndarray | None) -> np.ndarray:
        """The network's chroma, leaning on the hints' spread colours by their confidence.

        ``gain``: the saturation gain applies where the prior is not confident (see guided).
        """
        if gain:
            ab = ab * (1.0 + (self.tile.saturation - 1.0) * (1.0 - prior[:, 2:3]))
        if hints is not None:
            follow = self._follow_share(hints[:, 2:3])
            ab = follow * hints[:, :2] + (1.0 - follow) * ab
        return np.clip(ab, -110.0, 110.0)

    def _anchor_frame(self, small: np.ndarray, small_u8: np.ndarray) -> np.ndarray:
        """The shot's anchor frame: colorized on its own (or from the user's keyframe)."""
        assert self.temporal is not None
        hinted = None
        if self._keyframe is not None or self._hints is not None:
            ab, hinted = self.steered(small, self._keyframe, self._hints)
            # A keyframe's colours are the user's everywhere; hints' only where they reach.
            self._keyed = self._keyframe is not None
            self._keyframe, self._hints = None, None
            if hinted is not None:  # the loop holds gain-1 chroma (see predict_working)
                ab = ab / self._gain_map(hinted)
        else:
            # Exactly the still of the preview: the frame on its own, no prior.
            ab = self._predict_small(small, None, 1.0)
            self._keyed = False
        # The drift guard holds the shot to the anchor's colours where no hint is: a hint's
        # colour statistics are not spread over the frame.
        self._anchor = chroma_stats(ab, None if hinted is None else 1.0 - hinted)
        self._goal = self._anchor.copy()
        self._since = 0
        self.temporal.update(small_u8, ab, hinted)
        return ab

    def _gain_map(self, hinted: np.ndarray) -> np.ndarray:
        """The saturation gain of a hinted frame: none where a hint's colour is."""
        return 1.0 + (self.tile.saturation - 1.0) * (1.0 - hinted[None, None])

    def predict_working(self, small: np.ndarray) -> np.ndarray:
        """Chroma of the next frame of a shot from its working-size luma ``(1, 1, h, w)``.

        The first frame after :meth:`new_shot` is the shot's anchor; every other frame follows
        the one colorized before it (its neighbour, on either side) through the temporal prior.
        """
        if self.temporal is None:
            return self._predict_small(small, None)
        # The shot's loop runs on the network's own chroma (gain 1), so the saturation gain is
        # not fed back frame after frame; it is applied to what leaves the loop.
        small_u8 = np.round(small[0, 0] * 255.0).astype(np.uint8)
        cfg = self.temporal.cfg
        # In a keyframe's shot the carried chroma is the user's: where the flow check fails it
        # is still a better guess than the network's, so it keeps full confidence there.
        prior = None
        if self._keyframe is None and self._hints is None:
            prior = self.temporal.prior(small_u8, cfg.confidence if self._keyed else None)
        if prior is None:
            ab = self._anchor_frame(small, small_u8)
            carried = self.temporal.hinted
        else:
            carried = self.temporal.carried
            rest = None if carried is None else 1.0 - carried
            ab = self._predict_small(small, prior, 1.0)
            blend = cfg.keyframe_blend if self._keyed else cfg.blend
            if blend > 0:
                # Smoothing along the motion: where the warped neighbour's chroma is trusted,
                # the output leans on it, so what changes from frame to frame is only what must.
                w = blend * prior[:, 2:3]
                ab = w * prior[:, :2] + (1.0 - w) * ab
            self._since += 1
            if cfg.reanchor_every and not self._keyed and carried is None:
                # The guard's target follows what the shot comes to show (its own colours,
                # seen afresh every few frames), gliding, so the loop cannot drift but the
                # content may change, and no frame jumps.
                if self._since % cfg.reanchor_every == 0:
                    self._goal = self.own_stats(small)
                self._anchor = self._anchor + cfg.reanchor_rate * (self._goal - self._anchor)
            # Drift guard: the shot's colour distribution stays within a tolerance of its
            # anchor's, however far from it the frame is.
            ab = hold_stats(ab, self._anchor, cfg.drift_tolerance, rest)
            if carried is not None:
                # A hint's colour rides along the flow, as the user gave it.
                ab = carried[None, None] * prior[:, :2] + (1.0 - carried[None, None]) * ab
            self.temporal.update(small_u8, ab, carried)
        gain = 1.0 if self._keyed else self.tile.saturation
        if carried is not None:
            gain = self._gain_map(carried)
        return np.clip(ab * gain, -110.0, 110.0)

    def shot_chroma(self, lumas: list[np.ndarray], anchor: int,
                    keyframe: np.ndarray | None = None,
                    hints: np.ndarray | None = None) -> list[np.ndarray]:
        """Working-size chroma of a whole shot held in memory, as a render gives it.

        The shot is colorized outward from frame ``anchor``: forward to its end, then backward
        from the anchor to its start (the chroma of frames before the anchor passes through
        float16, as the render keeps it on disk). For evaluations and tests; the render does
        the same a segment at a time (:mod:`vidcolor.render`).

        Args:
            lumas: full-range luma ``(1, 1, H, W)`` in 0..1 of every frame of the shot.
            anchor: index of the anchor frame in ``lumas``.
            keyframe: a user's chroma for the anchor frame (see :meth:`new_shot`).
            hints: the anchor frame's hint prior (see :meth:`new_shot`).
        """
        out: list[np.ndarray] = [np.zeros(0)] * len(lumas)
        self.new_shot(keyframe, hints)
        out[anchor] = self.predict_frame_ab(lumas[anchor])
        at_anchor = self.state()
        for t in range(anchor + 1, len(lumas)):
            out[t] = self.predict_frame_ab(lumas[t])
        if at_anchor is not None:
            self.restore(at_anchor)
        for t in range(anchor - 1, -1, -1):
            out[t] = self.predict_frame_ab(lumas[t]).astype(np.float16).astype(np.float32)
        return out

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
        return self._predict_small(small, prior)

    def chroma_planes(
        self, y_plane: np.ndarray, full_range: bool, matrix: str,
        subsample: bool | tuple[int, int], ab: np.ndarray | None = None, depth: int = 8,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``Cb, Cr`` planes for the next video frame, whose ``Y'`` plane is ``y_plane``.

        Uses the temporal prior (call :meth:`new_shot` at cuts): :meth:`frame_ab`, then
        :meth:`planes_from_ab`.

        Args:
            y_plane: ``(H, W)`` luma plane (uint8, or uint16 at ``depth`` bits), copied
                unchanged into the output frame.
            full_range: the plane uses the full range (else 16..235 scaled to the depth;
                chroma then 16..240).
            matrix: ``bt601`` or ``bt709``.
            subsample: ``True`` or ``(1, 1)`` for 4:2:0 planes (H and W even), ``(1, 0)`` for
                4:2:2 (W even), ``False`` or ``(0, 0)`` for 4:4:4.
            ab: the frame's working-size chroma, when already known (keyframe shots);
                otherwise it is predicted here.
            depth: bits per sample of the planes (8: uint8; 9-16: uint16).
        """
        ab = self.frame_ab(y_plane, full_range, ab, depth)
        return self.planes_from_ab(y_plane, ab, full_range, matrix, subsample, depth)

    def frame_ab(self, y_plane: np.ndarray, full_range: bool, ab: np.ndarray | None = None,
                 depth: int = 8) -> np.ndarray:
        """The next video frame's working-size chroma (``ab`` itself when given)."""
        if ab is None:
            ab = self.predict_frame_ab(plane_to_luma(y_plane, full_range, depth))
        return ab

    def planes_from_ab(
        self, y_plane: np.ndarray, ab: np.ndarray, full_range: bool, matrix: str,
        subsample: bool | tuple[int, int], depth: int = 8,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``Cb, Cr`` planes of a frame from its working-size chroma (see :meth:`chroma_planes`).

        Reads no shot state, so it may run in another thread (the encoder's) while the next
        frame is colorized.
        """
        luma = plane_to_luma(y_plane, full_range, depth)
        shifts = (1, 1) if subsample is True else (0, 0) if subsample is False else subsample
        if shifts == (1, 1):
            luma = pool2(luma)
        elif shifts == (1, 0):  # 4:2:2: pairs of columns
            luma = 0.5 * (luma[..., 0::2] + luma[..., 1::2])
        ab = self.upsample(ab, luma)
        cbcr = merge_chroma(luma, ab, matrix)[0]
        unit = float(1 << (depth - 8))
        scale = (255.0 * unit + unit - 1.0) if full_range else 224.0 * unit
        top = (1 << depth) - 1
        planes = np.clip(np.round(cbcr * scale + 128.0 * unit), 0, top)
        planes = planes.astype(np.uint8 if depth <= 8 else np.uint16)
        return planes[0], planes[1]

    def colorize_luma(
        self, luma: np.ndarray, prior: np.ndarray | None = None, matrix: str = "bt601"
    ) -> np.ndarray:
        """RGB ``(1, 3, H, W)`` in 0..1 whose luma equals ``luma`` ``(1, 1, H, W)`` (0..1)."""
        return self.rgb_from_ab(luma, self.predict_ab(luma, prior), matrix)

    def rgb_from_ab(self, luma: np.ndarray, ab: np.ndarray, matrix: str = "bt601") -> np.ndarray:
        """RGB ``(1, 3, H, W)`` of a luma and its working-size chroma (upsampled here)."""
        ab = self.upsample(ab, luma)
        return ycbcr_to_rgb(luma, merge_chroma(luma, ab, matrix), matrix)
