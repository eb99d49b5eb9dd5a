"""The previous-frame prior: flow warp, forward-backward confidence, reset at cuts.

Frame t's prior is frame t-1's predicted chroma (at the working resolution) warped onto frame t
with dense optical flow (OpenCV DIS) computed on the luminance. Pixels whose forward and backward
flows disagree (occlusions, unreliable flow) or that come from outside the frame get confidence
0; the rest get ``TemporalConfig.confidence``. The network was trained to follow such a prior
where it agrees with the luminance and to ignore it elsewhere.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from vidcolor.config import TemporalConfig

log = logging.getLogger(__name__)


def _dis() -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)


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
    return cv2.remap(image, _grid(h, w) + flow, None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def consistent(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Forward-backward check (Sundaram et al. 2010): bool ``(H, W)`` of reliable pixels.

    ``backward`` maps frame t to t-1, ``forward`` maps t-1 to t. Also false where the backward
    flow leaves the frame.
    """
    return _round_trip_ok(backward, forward) & inside(backward)


def _round_trip_ok(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where following ``backward`` then ``forward`` comes back near the start pixel."""
    fw = warp(forward, backward)
    round_trip = backward + fw
    err = np.einsum("ijk,ijk->ij", round_trip, round_trip)
    mag = np.einsum("ijk,ijk->ij", backward, backward) + np.einsum("ijk,ijk->ij", fw, fw)
    return err < 0.01 * mag + 0.5


def inside(flow: np.ndarray) -> np.ndarray:
    """Bool ``(H, W)``: where ``p + flow[p]`` lies within the frame."""
    h, w = flow.shape[:2]
    target = _grid(h, w) + flow
    x, y = target[..., 0], target[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


class TemporalPrior:
    """Holds the previous frame's luma and chroma and turns them into the next frame's prior."""

    def __init__(self, cfg: TemporalConfig | None = None) -> None:
        self.cfg = cfg or TemporalConfig()
        self._dis = _dis()
        self._luma: np.ndarray | None = None
        self._ab: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (a cut)."""
        self._luma, self._ab = None, None

    def prior(self, luma: np.ndarray, uncertain: float | None = None) -> np.ndarray | None:
        """Prior ``(1, 3, h, w)`` for a frame whose working-size uint8 luma is ``luma``.

        ``None`` when there is no previous frame of the same shot. ``uncertain`` overrides
        ``TemporalConfig.uncertain_confidence`` (the confidence where the flow check fails).
        """
        if self._luma is None or self._ab is None or self._luma.shape != luma.shape:
            return None
        backward = flow_between(self._dis, luma, self._luma)
        forward = flow_between(self._dis, self._luma, luma)
        ab = warp(self._ab, backward)
        if uncertain is None:
            uncertain = self.cfg.uncertain_confidence
        within = inside(backward)
        ok = _round_trip_ok(backward, forward) & within  # consistent(), sharing ``within``
        conf = np.where(ok, np.float32(self.cfg.confidence), np.float32(uncertain))
        conf[~within] = 0.0
        prior = np.concatenate((ab * (conf[..., None] > 0), conf[..., None]), axis=2)
        return np.ascontiguousarray(prior.transpose(2, 0, 1))[None]

    def state(self) -> dict[str, np.ndarray]:
        """The previous frame, to continue a shot in another process (empty after a reset)."""
        if self._luma is None or self._ab is None:
            return {}
        return {"luma": self._luma, "ab": self._ab}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`state`."""
        self._luma = state["luma"].astype(np.uint8) if "luma" in state else None
        self._ab = state["ab"].astype(np.float32) if "ab" in state else None

    def update(self, luma: np.ndarray, ab: np.ndarray) -> None:
        """Remember this frame: uint8 luma ``(h, w)`` and its chroma ``(1, 2, h, w)``."""
        self._luma = luma
        self._ab = np.ascontiguousarray(ab[0].transpose(1, 2, 0), dtype=np.float32)
