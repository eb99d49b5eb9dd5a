"""The colour state of a shot: its anchor frame, the drift guard, the frame carried to the next.

A shot is colorized outward from one frame, its anchor: forward to its end and backward to its
start, each frame following the one colorized before it through the temporal prior. Everything
a shot's frames depend on beyond their own pixels lives in one :class:`Shot`: what steers the
anchor frame (:class:`AnchorInputs`), the reference photos matched again as the shot goes on,
the chroma statistics the drift guard holds the shot to (and the goal re-anchoring glides them
to), and the previous frame with its hints' share. Its snapshot,
:class:`~vidcolor.temporal.ShotState`, is the value handed from segment to segment (the
references are not in it: they come with each segment of the shot).

The :class:`~vidcolor.colorize.FrameColorizer` a shot runs on holds no state of a shot: frame and
prior in, chroma out. :func:`anchor_frame` is the one recipe of an anchor frame from its inputs,
used by the render, the hints page and the lab alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vidcolor.colorize import FrameColorizer
from vidcolor.hints import Hint, hint_prior
from vidcolor.planes import plane_to_luma
from vidcolor.propagate import lean, propagated_chroma, propagated_lean, propagates
from vidcolor.reference import ReferenceSet, follow
from vidcolor.space import load_chroma, load_luma, store_chroma, store_luma
from vidcolor.temporal import ShotState, TemporalPrior, chroma_stats, hold_stats

log = logging.getLogger(__name__)

# A shot with references is matched to them again every this many frames from its anchor
# (with ``--every 4``, at every frame the network runs on), and each such frame takes this
# share of their colours by their confidence: the match steers the whole shot, in small steps
# that the temporal prior carries along (scripts/evaluate_reference.py --clips: with 4 and 0.5
# the worst clip gains +1.33 dB instead of +0.09; matching every 8 frames, +1.09; at the
# re-anchoring frames only, +0.71; the whole share, a 4-8 % higher warp error).
REFERENCE_EVERY = 4
REFERENCE_SHARE = 0.5

__all__ = ["NO_INPUTS", "AnchorFrame", "AnchorInputs", "Shot", "anchor_frame", "shot_chroma"]


@dataclass(frozen=True, eq=False)
class AnchorInputs:
    """What steers a shot's anchor frame, by authority: keyframe > hints > reference > network.

    Attributes:
        keyframe: a user's chroma ``(1, 2, h, w)`` (Lab ``a, b``, resized to the working size),
            followed at confidence 1; ``None``: the network's own colours.
        hints: colour hints in the pixels of the anchor frame's luma (see
            :func:`vidcolor.hints.hint_prior`); with a keyframe, they override it where they
            are confident.
        reference: the prior ``(1, 3, h, w)`` (working size) of reference photos
            (:meth:`vidcolor.reference.ReferenceSet.prior`): the anchor frame, colorized on its
            own, takes their matched colours by their confidence (the shot's later frames are
            matched by the :class:`Shot`, given the references themselves); with hints (and no
            keyframe), the frame so coloured is the keyframe the hints override where they are
            confident.
    """

    keyframe: np.ndarray | None = None
    hints: tuple[Hint, ...] = ()
    reference: np.ndarray | None = None

    @property
    def steers(self) -> bool:
        """Whether anything but the network sets the anchor frame's colours."""
        return self.keyframe is not None or bool(self.hints)


NO_INPUTS = AnchorInputs()


@dataclass(frozen=True)
class AnchorFrame:
    """A shot's anchor frame, colorized (working size).

    Attributes:
        ab: ``(1, 2, h, w)`` its chroma as shown (the saturation gain applied where it applies).
        loop: the chroma the shot carries on to the next frame: ``ab`` before the gain (the
            shot's loop runs on the network's own chroma, so the gain is not fed back).
        hinted: ``(h, w)`` the hints' share of each pixel's chroma, carried along the flow as
            the hints' own (``None``: no hints, or a keyframe).
        keyed: the colours are a user's keyframe (followed with no gain).
    """

    ab: np.ndarray
    loop: np.ndarray
    hinted: np.ndarray | None
    keyed: bool


def anchor_frame(colorizer: FrameColorizer, luma: np.ndarray,
                 inputs: AnchorInputs = NO_INPUTS) -> AnchorFrame:
    """The anchor frame of a shot from its luma ``(1, 1, H, W)`` (0..1) and what steers it.

    Without inputs, the frame colorized on its own (exactly the preview's still); else steered
    by them (:meth:`FrameColorizer.steered`). Hints are in the pixels of ``luma``.
    """
    small = colorizer.working_luma(luma)
    reference = inputs.reference if inputs.keyframe is None else None
    if not inputs.steers:
        loop = colorizer.predict_small(small, None, 1.0)
        if reference is not None:
            loop = take_reference(colorizer, loop, reference)
        return AnchorFrame(ab=np.clip(loop * colorizer.tile.saturation, -110.0, 110.0),
                           loop=loop, hinted=None, keyed=False)
    keyframe = inputs.keyframe
    if reference is not None:  # hints over the references' colours
        keyframe = follow(colorizer.predict_small(small, None), reference)
    prior = hint_prior(list(inputs.hints), small[0, 0], luma.shape[-2:],
                       fill_regions=colorizer.drawn) if inputs.hints else None
    ab, hinted = colorizer.steered(small, keyframe, prior)
    loop = ab if hinted is None else ab / colorizer.gain_map(hinted)
    return AnchorFrame(ab=ab, loop=loop, hinted=hinted, keyed=keyframe is not None)


def take_reference(colorizer: FrameColorizer, loop: np.ndarray, reference: np.ndarray,
                   share: float = 1.0) -> np.ndarray:
    """Gain-1 chroma ``loop`` taking a reference prior's colours by ``share`` of their confidence.

    The prior's colours are as shown (with the saturation gain), so they enter the loop divided
    by it.
    """
    conf = np.clip(reference[:, 2:3], 0.0, 1.0)
    if share != 1.0:
        conf = conf * np.float32(share)
    gain = max(colorizer.tile.saturation, 1e-3)
    return conf * reference[:, :2] / gain + (1.0 - conf) * loop


class Shot:
    """The shot being colorized, frame after frame, on a stateless :class:`FrameColorizer`.

    The first frame given is the anchor (:func:`anchor_frame`), unless the shot continues from a
    :class:`ShotState` (:meth:`resume`); every other frame follows the one colorized before it,
    on either side. Without the temporal prior (``colorizer.temporal`` is ``None``) every frame
    is colorized on its own.
    """

    def __init__(self, colorizer: FrameColorizer, inputs: AnchorInputs = NO_INPUTS,
                 references: ReferenceSet | None = None) -> None:
        """Start a shot whose next frame is its anchor, steered by ``inputs``.

        ``references``: the shot's reference photos, matched again every
        :data:`REFERENCE_EVERY` frames after its anchor; the anchor frame's own match is
        ``inputs.reference``.
        """
        self.colorizer = colorizer
        self.references = references
        self.cfg = colorizer.temporal
        self._inputs = inputs  # until the anchor frame is colorized
        # The last frame colorized, its chroma and its hints' share (what the next one follows).
        self._temporal = TemporalPrior(self.cfg) if self.cfg is not None else None
        # Chroma statistics (mean a, std a, mean b, std b) the drift guard holds the shot's
        # frames to: the anchor frame's, gliding toward the goal re-anchoring sets.
        self.anchor = np.zeros(4)
        self.goal = np.zeros(4)  # where the anchor glides to (see TemporalConfig.reanchor_every)
        self.keyed = False  # the anchor is a user's keyframe
        self.since = 0  # frames colorized after the anchor, in this direction

    @classmethod
    def resume(cls, colorizer: FrameColorizer, state: ShotState,
               references: ReferenceSet | None = None) -> Shot:
        """Continue a shot from :meth:`state` (as if its frame had just been colorized).

        The next frame may be on either side of that one: a shot is colorized outward from its
        anchor, forward to its end and backward to its start. ``references``: the shot's, as
        it was started with (they come with each of its segments, not with the state).
        """
        shot = cls(colorizer, references=references)
        shot.anchor = np.asarray(state.anchor, np.float64).reshape(4).copy()
        shot.keyed = state.keyed
        shot.since = state.since
        shot.goal = np.asarray(state.goal, np.float64).reshape(4).copy()
        if shot._temporal is not None:
            shot._temporal.restore(state.luma, state.ab, state.hinted, state.lean)
        return shot

    def state(self) -> ShotState | None:
        """What the next frame of this shot depends on (``None`` before its anchor)."""
        if self._temporal is None or self._temporal.previous is None:
            return None
        luma, ab = self._temporal.previous
        return ShotState(luma=luma, ab=ab, anchor=self.anchor.copy(), keyed=self.keyed,
                         since=self.since, goal=self.goal.copy(), hinted=self._temporal.hinted,
                         lean=self._temporal.lean)

    def colorize(self, luma: np.ndarray) -> np.ndarray:
        """Working-size chroma ``(1, 2, h, w)`` of the shot's next frame, luma ``(1, 1, H, W)``."""
        return self._next(self.colorizer.working_luma(luma), luma)

    def colorize_working(self, small: np.ndarray) -> np.ndarray:
        """Like :meth:`colorize`, from the frame's working-size luma (hints in its pixels)."""
        return self._next(small, small)

    def chroma_planes(self, y_plane: np.ndarray, full_range: bool, matrix: str,
                      subsample: bool | tuple[int, int], depth: int = 8,
                      ) -> tuple[np.ndarray, np.ndarray]:
        """``Cb, Cr`` planes of the shot's next frame (see :meth:`FrameColorizer.chroma_planes`)."""
        ab = self.colorize(plane_to_luma(y_plane, full_range, depth))
        return self.colorizer.planes_from_ab(y_plane, ab, full_range, matrix, subsample, depth)

    def _next(self, small: np.ndarray, luma: np.ndarray) -> np.ndarray:
        col, cfg, previous = self.colorizer, self.cfg, self._temporal
        if cfg is None or previous is None:
            return col.predict_small(small, None)
        small_u8 = np.round(small[0, 0] * 255.0).astype(np.uint8)
        # In a keyframe's shot the carried chroma is the user's: where the flow check fails it
        # is still a better guess than the network's, so it keeps full confidence there.
        carry, leaning = None, None
        if not self._inputs.steers:
            carry = previous.carry(small_u8, cfg.confidence if self.keyed else None)
        if carry is None:
            made = anchor_frame(col, luma, self._inputs)
            self._inputs = NO_INPUTS
            self.keyed, ab, carried = made.keyed, made.loop, made.hinted
            # The drift guard holds the shot to the anchor's colours where no hint is: a
            # hint's colour statistics are not spread over the frame.
            self.anchor = chroma_stats(ab, None if carried is None else 1.0 - carried)
            self.goal = self.anchor.copy()
            self.since = 0
        else:
            prior, carried = carry
            rest = None if carried is None else 1.0 - carried
            blend = cfg.keyframe_blend if self.keyed else cfg.blend
            # Smoothing along the motion: where the warped neighbour's chroma is trusted, the
            # output leans on it, so what changes from frame to frame is only what must.
            w = lean(blend * prior[:, 2:3], propagated_lean(previous))
            if propagates(cfg, previous, small_u8, self.since + 1):
                ab = propagated_chroma(previous)  # no network: the neighbour's, moved
                leaning = w[0, 0]  # what the next network frame will lean (propagate.lean)
            else:
                ab = col.predict_small(small, prior, 1.0)
                if blend > 0:
                    ab = w * prior[:, :2] + (1.0 - w) * ab
            self.since += 1
            if cfg.reanchor_every and not self.keyed:
                # The guard's target follows what the shot comes to show (its own colours,
                # seen afresh every few frames), gliding, so the loop cannot drift but the
                # content may change, and no frame jumps. In a hinted shot, where no hint is.
                matched = None
                if (self.references is not None and carried is None
                        and self.since % REFERENCE_EVERY == 0):
                    # The references steer the whole shot, not its anchor frame alone: every
                    # few frames they are matched again and the frame takes a share of their
                    # colours, carried on along the flow.
                    matched = self.references.prior(small[0, 0])
                    ab = take_reference(col, ab, matched, REFERENCE_SHARE)
                if self.since % cfg.reanchor_every == 0:
                    self.goal = self._goal(small, matched, rest, None if carried is None
                                           else (carried, prior[:, :2]))
                self.anchor = self.anchor + cfg.reanchor_rate * (self.goal - self.anchor)
            # Drift guard: the shot's colour distribution stays within a tolerance of its
            # anchor's, however far from it the frame is.
            ab = hold_stats(ab, self.anchor, cfg.drift_tolerance, rest)
            if carried is not None:
                # A hint's colour rides along the flow, as the user gave it.
                ab = carried[None, None] * prior[:, :2] + (1.0 - carried[None, None]) * ab
        previous.update(small_u8, ab, carried, leaning)
        # The loop holds gain-1 chroma; the saturation gain applies to what leaves it.
        gain = 1.0 if self.keyed else col.tile.saturation
        if carried is not None:
            gain = col.gain_map(carried)
        return np.clip(ab * gain, -110.0, 110.0)

    def _goal(self, small: np.ndarray, prior: np.ndarray | None, rest: np.ndarray | None,
              hinted: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """The drift guard's goal at a re-anchoring frame: the frame's own colours, gain 1.

        With references, those colours taking theirs (``prior``: their match of the frame, if
        made), as the anchor frame's do; else the network's own. In a hinted shot (``hinted``:
        the hints' carried share and colours, laid over the network's; ``rest``: where no hint
        is, the weight of the statistics) the references are not matched again.
        """
        col = self.colorizer
        if self.references is None or hinted is not None:
            return col.own_stats(small, rest, hinted)
        if prior is None:
            prior = self.references.prior(small[0, 0])
        return chroma_stats(take_reference(col, col.predict_small(small, None, 1.0), prior))


def shot_chroma(colorizer: FrameColorizer, lumas: list[np.ndarray], anchor: int,
                inputs: AnchorInputs = NO_INPUTS, references: ReferenceSet | None = None
                ) -> list[np.ndarray]:
    """Working-size chroma of a whole shot held in memory, as a render gives it.

    The shot is colorized outward from frame ``anchor``: forward to its end, then backward
    from the anchor to its start (the luma and chroma of frames before the anchor pass through
    the values the render keeps on disk, :mod:`vidcolor.space`). For evaluations and tests;
    the render does the same a segment at a time (:mod:`vidcolor.render`).

    Args:
        colorizer: the frame colorizer (its ``temporal`` settings carry the shot).
        lumas: full-range luma ``(1, 1, H, W)`` in 0..1 of every frame of the shot.
        anchor: index of the anchor frame in ``lumas``.
        inputs: what steers the anchor frame (hints in the pixels of ``lumas``).
        references: the shot's reference photos (``inputs.reference`` is their anchor prior).
    """
    out: list[np.ndarray] = [np.zeros(0)] * len(lumas)
    shot = Shot(colorizer, inputs, references)
    out[anchor] = shot.colorize(lumas[anchor])
    at_anchor = shot.state()
    for t in range(anchor + 1, len(lumas)):
        out[t] = shot.colorize(lumas[t])
    if at_anchor is not None:
        shot = Shot.resume(colorizer, at_anchor, references)
    for t in range(anchor - 1, -1, -1):
        small = load_luma(store_luma(colorizer.working_luma(lumas[t])))
        out[t] = load_chroma(store_chroma(shot.colorize_working(small)))
    return out
