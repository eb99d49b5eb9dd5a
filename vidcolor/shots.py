"""Shot-cut detection on downscaled luminance: hard cuts and fades, robust to flashes and pans.

A frame is compared with the last frame of the running shot on small, brightness-normalised
thumbnails (so fades and exposure changes do not look like cuts) and on their luma histograms.
A cut is declared when the change is large in absolute terms *and* large against the recent
frame-to-frame changes (so pans and film grain, which change every frame a little, do not
trigger it). One frame of look-ahead rejects flashes: if the frame after a candidate looks like
the frame before it, the candidate was a flash. Near-black frames (a fade through black) are
skipped; the first frame with content after them starts a new shot if it differs from the last
frame before them. Gradual transitions (dissolves) change every frame a little, so each frame is
also compared with the frame ``GRADUAL_SPAN`` frames back: a change that is large there and
large against that long-range change's own recent level is a dissolve, cut at its middle.
"""

from __future__ import annotations

import collections
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from vidcolor.config import ShotConfig
from vidcolor.errors import InputError

log = logging.getLogger(__name__)

THUMB = (48, 27)  # thumbnail size (w, h)
BLACK_STD = 4.0  # a frame whose luma std is below this (and mean below 40) is "black"
GRADUAL_SPAN = 12  # frames between the two ends of the long-range (dissolve) comparison


def thumbnail(luma: np.ndarray) -> np.ndarray:
    """A float32 ``THUMB`` thumbnail of an 8-bit ``(H, W)`` luma plane (area resampling)."""
    return cv2.resize(luma, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


class _Frame:
    """A thumbnail with what comparisons need, computed once: black?, normalised, histogram."""

    __slots__ = ("black", "hist", "norm")

    def __init__(self, t: np.ndarray) -> None:
        mean, std = float(t.mean()), float(t.std())
        self.black = std < BLACK_STD and mean < 40.0
        self.norm = (t - mean) / (std + 1e-3)
        # Histogram of the normalised thumbnail: a fade or exposure change leaves it alone.
        self.hist = np.histogram(self.norm, 16, (-3.0, 3.0))[0] / t.size


def _distance(a: _Frame, b: _Frame) -> float:
    """Change between two thumbnails: structure (normalised) and histogram, about 0..2."""
    structure = float(np.mean(np.abs(a.norm - b.norm))) / 1.6
    hist = 0.5 * float(np.abs(a.hist - b.hist).sum())
    return structure + hist


class ShotDetector:
    """Streaming detector: feed thumbnails in order, collect cut frame indices."""

    def __init__(self, cfg: ShotConfig | None = None) -> None:
        self.cfg = cfg or ShotConfig()
        self.cuts: list[int] = []
        self._recent: collections.deque[float] = collections.deque(maxlen=24)
        self._prev: _Frame | None = None  # last non-black thumbnail
        self._pending: tuple[int, _Frame] | None = None  # (index, the frame before it)
        self._after_black = False
        self._index = 0
        self._history: collections.deque[_Frame] = collections.deque(maxlen=GRADUAL_SPAN)
        self._recent_long: collections.deque[float] = collections.deque(maxlen=48)

    @property
    def _threshold(self) -> float:
        return 0.9 - 0.6 * self.cfg.sensitivity  # 0.9 (few cuts) .. 0.3 (many)

    def _cut(self, index: int) -> None:
        last = self.cuts[-1] if self.cuts else 0
        if index - last >= self.cfg.min_shot:
            self.cuts.append(index)
        self._history.clear()
        self._recent_long.clear()

    def _gradual(self, i: int, thumb: _Frame) -> bool:
        """Long-range test for a dissolve ending at frame ``i``; records the cut if so."""
        full = len(self._history) == GRADUAL_SPAN
        d = _distance(self._history[0], thumb) if full else 0.0
        self._history.append(thumb)
        if not full:
            return False
        enough = len(self._recent_long) >= GRADUAL_SPAN
        typical = float(np.median(self._recent_long)) if enough else 0.0
        if enough and d > self._threshold and d > 2.5 * typical:
            self._cut(i - GRADUAL_SPAN // 2)
            self._recent.clear()
            return True
        self._recent_long.append(d)
        return False

    def push(self, small: np.ndarray) -> None:
        """Add the next frame's thumbnail (see :func:`thumbnail`)."""
        thumb = _Frame(small)
        i = self._index
        self._index += 1
        if self._pending is not None:
            index, before = self._pending
            self._pending = None
            # Flash: the frame after the candidate looks like the frame before it.
            typical = float(np.median(self._recent)) if self._recent else 0.0
            flash_limit = max(0.5 * self._threshold, 2.5 * typical)
            if not thumb.black and _distance(before, thumb) < flash_limit:
                self._prev = thumb
                return
            self._cut(index)
            self._recent.clear()
        if thumb.black:
            self._after_black = self._prev is not None
            return
        if self._prev is None:
            self._prev = thumb
            return
        d = _distance(self._prev, thumb)
        typical = float(np.median(self._recent)) if self._recent else 0.0
        if self._after_black:
            self._after_black = False
            if d > self._threshold * 0.5:
                self._cut(i)
                self._recent.clear()
            self._prev = thumb
            return
        if d > self._threshold and d > 3.0 * typical:
            self._pending = (i, self._prev)
        else:
            self._recent.append(d)
            self._gradual(i, thumb)
        self._prev = thumb

    def finish(self) -> list[int]:
        """Flush the look-ahead and return the cut indices (first frame of each new shot)."""
        if self._pending is not None:
            self._cut(self._pending[0])
            self._pending = None
        return list(self.cuts)


def read_cut_list(path: Path) -> list[int]:
    """Cut frames from a user's file: JSON (a list, or ``{"cuts": [...]}``) or CSV/plain text.

    Each number is the first frame (0-based) of a new shot.

    Raises:
        InputError: the file is missing or holds something other than frame numbers.
    """
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(f"cannot read the cut list {path}: {e.strerror}") from e
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            values = data["cuts"] if isinstance(data, dict) else data
        else:
            values = [v for v in re.split(r"[,\s]+", text.strip()) if v]
        cuts = sorted({int(v) for v in values})
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path} is not a list of cut frame numbers ({e})") from e
    if any(c < 0 for c in cuts):
        raise InputError(f"{path}: frame numbers must not be negative")
    return [c for c in cuts if c > 0]


def detect_shots(lumas: Iterable[np.ndarray], cfg: ShotConfig | None = None) -> list[int]:
    """Cut indices (the first frame of every shot but the first) of a sequence of luma planes."""
    detector = ShotDetector(cfg)
    for luma in lumas:
        detector.push(thumbnail(luma))
    return detector.finish()
