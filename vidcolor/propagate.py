"""Propagated frames: between network frames, a frame takes its neighbour's chroma, moved by flow.

Within a shot the output already leans 0.9 on the previous frame's chroma warped onto the frame
(``TemporalConfig.blend`` times the prior's confidence), so where the flow holds, running the
network changes little. With ``TemporalConfig.every`` above 1 a frame is *propagated* (its chroma
is the warped chroma, the drift guard applied as to any frame) unless something calls for the
network (:func:`network_frame`): the frame is ``every`` frames from its anchor or a multiple of
it, or a re-anchoring frame; the forward-backward flow check fails on more than
:data:`FLOW_FAILED_SHARE` of it (a cut the detector missed, a fast pan, a large occlusion); its
mean brightness moved more than :data:`BRIGHTNESS_JUMP` from the frame before (a flash, lights
switched on). The anchor frame always runs the network (it has no neighbour).

A network frame that follows propagated ones leans less on its warped neighbour
(:func:`lean`), so the colours follow the network as fast as with the network on every frame;
without it, on the clips, colourfulness drifted by up to 6 % and PSNR fell by up to 0.36 dB at
``--every 4``. How much less is carried per pixel along the motion (a propagated frame's own
lean, where its flow held and where it failed), so a part whose flow failed on the way takes
more of the network when it comes.

The decision reads only the frame, its neighbour and how far it is from the anchor (part of
:class:`~vidcolor.temporal.ShotState`), never a count kept since the last network frame, so the
same frames are network frames however the shot is split into segments or resumed (the bytes
stay the same). Deep Feature Flow (Zhu et al. 2017) and Accel (Jain et al. 2019) propagate a
network's features between key frames the same way; here what is propagated is its output.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidcolor.config import TemporalConfig
from vidcolor.temporal import TemporalPrior

# On the six real clips (docs/speed.md, propagated frames) ordinary motion leaves 1-35 % of a
# frame failing the flow check (a road seen from a car: 20-45 %, where the flow is only
# roughly right and the warped colours are still right), a cut 100 %, a pan of half the
# frame 50 %.
FLOW_FAILED_SHARE = 0.3
# Mean working luma, 0..255: a flash, or a light switched on, moves it by tens; a camera's
# exposure drifting, by a fraction of one a frame.
BRIGHTNESS_JUMP = 6.0


def network_frame(every: int, since: int, reanchor_every: int, failed: float,
                  brightness: float) -> bool:
    """Whether a frame of a shot runs the network (else it is propagated).

    Args:
        every: the longest run between network frames (1: every frame runs it).
        since: the frame's distance from its shot's anchor, in frames, in the direction the
            shot is being colorized (the anchor's neighbours are 1).
        reanchor_every: ``TemporalConfig.reanchor_every`` (0: no re-anchoring).
        failed: share of the frame where the flow from its neighbour fails the check (0..1).
        brightness: its mean luma minus its neighbour's, in 0..255 steps.
    """
    if every <= 1 or since % every == 0:
        return True
    if reanchor_every and since % reanchor_every == 0:
        return True
    return failed > FLOW_FAILED_SHARE or abs(brightness) > BRIGHTNESS_JUMP


def propagates(cfg: TemporalConfig, temporal: TemporalPrior, luma: np.ndarray,
               since: int) -> bool:
    """Whether the frame whose prior ``temporal`` just made is propagated (see network_frame).

    ``luma``: its uint8 working luma ``(h, w)``; ``since``: its distance from the anchor.
    """
    if cfg.every <= 1 or temporal.previous is None:
        return False
    before = temporal.previous[0]
    brightness = float(luma.mean(dtype=np.float64) - before.mean(dtype=np.float64))
    return not network_frame(cfg.every, since, cfg.reanchor_every, 1.0 - temporal.reliable,
                             brightness)


def propagated_chroma(temporal: TemporalPrior) -> np.ndarray:
    """The neighbour's chroma moved onto the frame ``(1, 2, h, w)`` along the flow.

    Sampled where :meth:`TemporalPrior.carry` just found each pixel's origin, edges replicated.
    """
    assert temporal.target is not None and temporal.previous is not None
    # Bilinear, as the prior's (bicubic, measured on pedestrians_street: the same colourfulness).
    ab = cv2.remap(temporal.previous[1], temporal.target, None, cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(ab.transpose(2, 0, 1))[None]


def lean(weight: np.ndarray, before: np.ndarray | None) -> np.ndarray:
    """A frame's lean on its warped neighbour, after the propagated frames before it.

    Every frame of a shot leans ``weight`` ``(1, 1, h, w)`` (the blend times the prior's
    confidence) on its warped neighbour and takes the rest from the network: a running average
    along the motion. A propagated frame takes none from the network, so what it would have
    leant is passed on: ``before`` ``(h, w)`` is the product of the leans of the propagated
    frames since the last network frame, carried along the flow (:func:`propagated_lean`;
    ``None`` after a network frame). A network frame after ``k - 1`` propagated ones thus leans
    about ``weight ** k``, so the average follows the network as fast as with the network on
    every frame, and more where the flow failed on the way (a smaller lean there).
    """
    return weight if before is None else weight * before[None, None]


def propagated_lean(temporal: TemporalPrior) -> np.ndarray | None:
    """The previous frame's lean (:attr:`TemporalPrior.lean`) moved onto the frame, if any."""
    if temporal.lean is None:
        return None
    assert temporal.target is not None
    return cv2.remap(temporal.lean, temporal.target, None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
