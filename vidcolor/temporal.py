"""The previous-frame prior: flow warp, forward-backward confidence, reset at cuts.

Frame t's prior is frame t-1's predicted chroma (at the working resolution) warped onto frame t
with dense optical flow (OpenCV DIS) computed on the luminance. Pixels whose forward and backward
flows disagree (occlusions, unreliable flow) or that come from outside the frame get confidence
0; the rest get ``TemporalConfig.confidence``. The network was trained to follow such a prior
where it agrees with the luminance and to ignore it elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from vidcolor.config import TemporalConfig

log = logging.getLogger(__name__)

HINT_KEPT = 0.5  # of a hint's share, where the flow check fails, each frame


def _dis() -> cv2.DISOpticalFlow:
    # ULTRAFAST rather than FAST: half the CPU per flow (two flows a frame) for the same warp
    # error (measured: docs/speed.md).
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)


def flow_between(dis: cv2.DISOpticalFlow, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Dense flow ``(H, W, 2)`` such that ``src[p] ~ dst[p + flow[p]]``; uint8 ``(H, W)`` inputs."""
    return dis.calc(np.ascontiguousarray(src), np.ascontiguousarray(dst), None)


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def _grid(h: int, w: int) -> np.ndarray:
    """Pixel coordinates ``(h, w, 2)`` (x, y), float32 (cached per size)."""
    key = (h, w)
    if key not in _GRIDS:
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        if len(_GRIDS) > 8:
            _GRIDS.clear()
        _GRIDS[key] = np.dstack((gx, gy))
    return _GRIDS[key]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` ``(H, W[, C])`` at ``p + flow[p]`` (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    return _sample(image, _grid(h, w) + flow)


def _sample(image: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Sample ``image`` at the positions ``target`` ``(H, W, 2)`` (x, y)."""
    return cv2.remap(image, target, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _norm2(v: np.ndarray) -> np.ndarray:
    """Squared length of ``(H, W, 2)`` vectors (what ``einsum("ijk,ijk->ij")`` gives, 5x faster)."""
    return v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1]


def consistent(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Forward-backward check (Sundaram et al. 2010): bool ``(H, W)`` of reliable pixels.

    ``backward`` maps frame t to t-1, ``forward`` maps t-1 to t. Also false where the backward
    flow leaves the frame.
    """
    target = _grid(*backward.shape[:2]) + backward
    return _round_trip_ok(backward, forward, target) & _inside(target)


def _round_trip_ok(backward: np.ndarray, forward: np.ndarray,
                   target: np.ndarray) -> np.ndarray:
    """Where following ``backward`` (to ``target``) then ``forward`` comes back near the start."""
    fw = _sample(forward, target)
    round_trip = backward + fw
    return _norm2(round_trip) < 0.01 * (_norm2(backward) + _norm2(fw)) + 0.5


def _inside(target: np.ndarray) -> np.ndarray:
    """Bool ``(H, W)``: where the positions ``target`` ``(H, W, 2)`` lie within the frame."""
    h, w = target.shape[:2]
    x, y = target[..., 0], target[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


@dataclass(frozen=True)
class ShotState:
    """Everything the next frame of a shot depends on: the value handed from task to task.

    A shot is colorized outward from its anchor frame (forward to its end, backward to its
    start), a segment at a time; a segment starts from the state the one before it in that
    direction ended with, whether that ran in this process, was saved for a resume
    (:meth:`arrays`) or came from a Ray worker (it pickles). It is small: two working-size
    planes and ten numbers.

    Attributes:
        luma: uint8 ``(h, w)`` working-size luma of the last frame colorized.
        ab: float32 ``(h, w, 2)`` its Lab chroma as the temporal loop holds it (before the
            saturation gain).
        anchor: float64 ``(4,)`` mean and spread of ``a`` and ``b`` the drift guard holds
            every frame of the shot to: the anchor frame's, moved since by re-anchoring.
        keyed: the anchor is a user's keyframe (its colours are followed at full confidence,
            with no gain).
        since: frames colorized after the anchor in this direction (when to re-anchor, see
            ``TemporalConfig.reanchor_every``).
        goal: float64 ``(4,)``: the statistics ``anchor`` glides to (``None`` given: ``anchor``).
        hinted: float32 ``(h, w)``: how much of each pixel's chroma is a colour hint's, carried
            with it along the flow (``None``: a shot without hints).
        lean: float32 ``(h, w)``: after a propagated frame, how much the next network frame
            leans on its warped neighbour, from the propagated frames since the last network
            frame (see :func:`vidcolor.propagate.lean`; ``None``: the frame ran the network).
    """

    luma: np.ndarray
    ab: np.ndarray
    anchor: np.ndarray
    keyed: bool = False
    since: int = 0
    goal: np.ndarray | None = None
    hinted: np.ndarray | None = None
    lean: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.goal is None:  # not gliding anywhere (and states saved before re-anchoring)
            object.__setattr__(self, "goal", self.anchor)

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays (for ``np.savez``)."""
        out = {"luma": self.luma, "ab": self.ab, "anchor": self.anchor,
               "keyed": np.bool_(self.keyed), "since": np.int64(self.since), "goal": self.goal}
        if self.hinted is not None:
            out["hinted"] = self.hinted
        if self.lean is not None:
            out["lean"] = self.lean
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ShotState:
        """The state :meth:`arrays` wrote."""
        return cls(luma=np.asarray(arrays["luma"], np.uint8),
                   ab=np.asarray(arrays["ab"], np.float32),
                   anchor=np.asarray(arrays["anchor"], np.float64).reshape(4),
                   keyed=bool(arrays["keyed"]),
                   since=int(arrays["since"]) if "since" in arrays else 0,
                   goal=(np.asarray(arrays["goal"], np.float64).reshape(4)
                         if "goal" in arrays else None),
                   hinted=(np.asarray(arrays["hinted"], np.float32)
                           if "hinted" in arrays else None),
                   lean=np.asarray(arrays["lean"], np.float32) if "lean" in arrays else None)


class TemporalPrior:
    """Holds the previous frame's luma, chroma and hint share; turns them into the next prior.

    One per shot being colorized (owned by :class:`vidcolor.shot.Shot`).
    """

    def __init__(self, cfg: TemporalConfig | None = None) -> None:
        self.cfg = cfg or TemporalConfig()
        self._dis = _dis()
        self._luma: np.ndarray | None = None
        self._ab: np.ndarray | None = None
        self._hinted: np.ndarray | None = None
        self._lean: np.ndarray | None = None
        # Of the last carry(): the share of the frame that passed the flow check, and where
        # each of its pixels comes from in the frame before (vidcolor.propagate).
        self.reliable = 1.0
        self.target: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (a cut)."""
        self._luma, self._ab, self._hinted, self._lean = None, None, None, None

    def carry(self, luma: np.ndarray, uncertain: float | None = None,
              ) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The prior ``(1, 3, h, w)`` of a frame, and the hints' share carried onto it.

        ``luma``: the frame's working-size uint8 luma; the share ``(h, w)`` is ``None`` in a
        shot without hints. ``None`` when there is no previous frame of the same shot.
        ``uncertain`` overrides ``TemporalConfig.uncertain_confidence`` (the confidence where
        the flow check fails).
        """
        if self._luma is None or self._ab is None or self._luma.shape != luma.shape:
            return None
        backward = flow_between(self._dis, luma, self._luma)
        forward = flow_between(self._dis, self._luma, luma)
        target = _grid(*luma.shape) + backward
        ab = _sample(self._ab, target)
        if uncertain is None:
            uncertain = self.cfg.uncertain_confidence
        within = _inside(target)
        ok = _round_trip_ok(backward, forward, target) & within  # consistent(), sharing within
        self.reliable, self.target = float(np.count_nonzero(ok)) / ok.size, target
        conf = np.where(ok, np.float32(self.cfg.confidence), np.float32(uncertain))
        conf[~within] = 0.0
        carried = None
        if self._hinted is not None:
            # A hint's colour stays on what the flow follows; where the check fails it may have
            # landed on something else (an occlusion, fast motion, a new object): there its
            # share fades (HINT_KEPT a frame: a flow that fails once does not blink it), and
            # what fades is not offered to the network either.
            moved = np.clip(_sample(self._hinted, target), 0.0, 1.0) * within
            lost = np.where(ok, np.float32(0.0), np.float32(1.0 - HINT_KEPT)) * moved
            carried = (moved - lost).astype(np.float32)
            conf = conf * (1.0 - lost)
        prior = np.concatenate((ab * (conf[..., None] > 0), conf[..., None]), axis=2)
        return np.ascontiguousarray(prior.transpose(2, 0, 1))[None], carried

    @property
    def previous(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The previous frame's uint8 luma ``(h, w)`` and chroma ``(h, w, 2)``, if any."""
        if self._luma is None or self._ab is None:
            return None
        return self._luma, self._ab

    @property
    def hinted(self) -> np.ndarray | None:
        """The previous frame's hint share ``(h, w)`` (``None``: no hints in this shot)."""
        return self._hinted

    @property
    def lean(self) -> np.ndarray | None:
        """The previous frame's lean ``(h, w)`` (:attr:`ShotState.lean`), if it was propagated."""
        return self._lean

    def restore(self, luma: np.ndarray, ab: np.ndarray, hinted: np.ndarray | None = None,
                lean: np.ndarray | None = None) -> None:
        """Continue from a previous frame's luma, chroma, hint share and lean."""
        self._luma = np.asarray(luma, np.uint8)
        self._ab = np.asarray(ab, np.float32)
        self._hinted = None if hinted is None else np.asarray(hinted, np.float32)
        self._lean = None if lean is None else np.asarray(lean, np.float32)

    def update(self, luma: np.ndarray, ab: np.ndarray, hinted: np.ndarray | None = None,
               lean: np.ndarray | None = None) -> None:
        """Remember this frame: uint8 luma ``(h, w)``, chroma ``(1, 2, h, w)``, hint share, lean."""
        self._luma = luma
        self._ab = np.ascontiguousarray(ab[0].transpose(1, 2, 0), dtype=np.float32)
        self._hinted = hinted
        self._lean = lean


def chroma_stats(ab: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Mean and standard deviation of ``a`` and of ``b`` of ``(1, 2, h, w)`` chroma.

    ``weight`` ``(h, w)``: each pixel's share (a shot's hinted pixels are left out this way).
    """
    if weight is None or float(weight.sum()) < 1.0:
        # OpenCV sums in float64 without a float64 copy of the frame (1.6 ms -> 0.05 ms at
        # 224 x 398, every frame).
        m = [cv2.meanStdDev(np.ascontiguousarray(ab[0, c])) for c in range(2)]
        return np.array([m[0][0][0, 0], m[0][1][0, 0], m[1][0][0, 0], m[1][1][0, 0]])
    flat = ab[0].reshape(2, -1).astype(np.float64)
    w = weight.reshape(-1).astype(np.float64)
    mean = flat @ w / w.sum()
    std = np.sqrt(np.clip(((flat - mean[:, None]) ** 2) @ w / w.sum(), 0.0, None))
    return np.array([mean[0], std[0], mean[1], std[1]])


def hold_stats(ab: np.ndarray, target: np.ndarray, tolerance: float,
               weight: np.ndarray | None = None) -> np.ndarray:
    """``ab`` with each channel's spread and mean brought within ``tolerance`` of ``target``.

    Per channel, a spread beyond ``(1 +- tolerance)`` times the target's is scaled back to that
    bound, and a mean further than ``tolerance`` times the target's RMS from the target's mean
    is then moved back to that bound: a global affine correction, so the frame-to-frame
    agreement along the motion is kept while the shot cannot drift in saturation or hue.
    Within the tolerance nothing changes. The spread is scaled about neutral (0), not about the
    mean: scaling about a bluish mean would tint a grey road blue; the mean moves only where it
    must. ``weight``: as for :func:`chroma_stats`.
    """
    stats = chroma_stats(ab, weight)
    out = ab.copy()
    for c in range(2):
        mean, std = stats[2 * c], stats[2 * c + 1]
        t_mean, t_std = target[2 * c], target[2 * c + 1]
        scale = 1.0
        if t_std > 0.25 and std > 1e-3:
            bounded = min(max(std, (1.0 - tolerance) * t_std), (1.0 + tolerance) * t_std)
            scale = bounded / std
        slack = tolerance * float(np.hypot(t_mean, t_std))
        scaled_mean = mean * scale
        new_mean = min(max(scaled_mean, t_mean - slack), t_mean + slack)
        if scale != 1.0 or new_mean != mean:
            # Python floats: the arithmetic stays in ab's float32.
            out[:, c] = ab[:, c] * float(scale) + float(new_mean - scaled_mean)
    return out
