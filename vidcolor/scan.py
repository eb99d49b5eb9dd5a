"""The first pass over a video: shot cuts, frame times, and per-frame quality statistics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vidcolor.config import ShotConfig
from vidcolor.decode import DecodeStats, iter_frames
from vidcolor.planes import luma_plane
from vidcolor.probe import MediaInfo
from vidcolor.shots import ShotDetector, read_cut_list, thumbnail

log = logging.getLogger(__name__)

STATS_WIDTH = 160  # frames are measured on a downscale this wide


@dataclass
class ScanResult:
    """What the first pass found.

    Attributes:
        cuts: first frame of every shot but the first.
        frames: frames decoded.
        times: presentation time of each frame, seconds from the first frame.
        mean, std, sharpness: per-frame luma mean and standard deviation (0..255) and variance
            of the Laplacian, on a ``STATS_WIDTH``-wide downscale (empty unless asked for).
        pts: each frame's presentation timestamp in the stream's time base (None if it had none).
        lumas: the 8-bit luma planes kept from the scan, by frame index (see ``keep_bytes``).
    """

    cuts: list[int]
    frames: int
    times: np.ndarray
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    std: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    sharpness: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    pts: list[int | None] = field(default_factory=list)
    lumas: dict[int, np.ndarray] = field(default_factory=dict)
    decode: DecodeStats = field(default_factory=DecodeStats)  # what the decoder met

    def shots(self) -> list[tuple[int, int]]:
        """``(first, last)`` frame of every shot (inclusive)."""
        starts = [0, *self.cuts]
        ends = [c - 1 for c in self.cuts] + [self.frames - 1]
        return list(zip(starts, ends, strict=True))

    def anchors(self) -> list[tuple[int, int, int]]:
        """``(first, last, anchor)`` of every shot.

        The anchor is the shot's :func:`representative_frame` (the preview's still); without
        per-frame statistics, its first frame. (A keyframe or hints move it: the render's plan.)
        """
        return [(first, last, representative_frame(self, first, last))
                for first, last in self.shots()]

    def frame_at(self, seconds: float) -> int:
        """Index of the frame whose time is nearest ``seconds``."""
        return int(np.argmin(np.abs(self.times - seconds)))


def representative_frame(scan: ScanResult, first: int, last: int) -> int:
    """The frame that best shows a shot: sharp and contrasty, away from its ends.

    The first and last 15% of a shot (where fades and dissolves live) are skipped when the
    shot is long enough; frames darker or flatter than half the shot's median contrast are
    skipped; of the rest, the sharpest (variance of the Laplacian) wins. This is the shot's
    preview still and the anchor its render is colorized outward from.
    """
    if len(scan.std) < scan.frames:
        return first  # no statistics (a render without the temporal prior)
    n = last - first + 1
    margin = int(0.15 * n) if n >= 7 else 0
    lo, hi = first + margin, last - margin
    idx = np.arange(lo, hi + 1)
    std = scan.std[idx]
    ok = std >= 0.8 * float(np.median(scan.std[first:last + 1]))
    if not ok.any():
        return int(idx[len(idx) // 2])
    score = np.where(ok, scan.sharpness[idx], -1.0)
    return int(idx[int(np.argmax(score))])


def frame_stats(luma: np.ndarray) -> tuple[float, float, float]:
    """Mean, standard deviation and sharpness (variance of the Laplacian) of a luma plane."""
    h, w = luma.shape
    small = cv2.resize(luma, (STATS_WIDTH, max(1, round(h * STATS_WIDTH / w))),
                       interpolation=cv2.INTER_AREA)
    lap = cv2.Laplacian(small, cv2.CV_32F)
    return float(small.mean()), float(small.std()), float(lap.var())


def scan_video(src: Path, info: MediaInfo, cfg: ShotConfig, stats: bool = False,
               detect: bool = True, keep_bytes: int = 0) -> ScanResult:
    """Decode ``src`` once: shot cuts (unless ``detect`` is off), frame times and statistics.

    The luma planes of the first frames, up to ``keep_bytes`` in all, are kept in
    ``ScanResult.lumas``, so a short film need not be decoded a second time for a few of them.
    """
    lumas: dict[int, np.ndarray] = {}
    kept = 0
    detector = ShotDetector(cfg)
    times: list[float] = []
    pts: list[int | None] = []
    per_frame: list[tuple[float, float, float]] = []
    first_pts: int | None = None
    tb = float(info.time_base)
    step = 1.0 / float(info.rate) if info.rate else 1.0 / 25
    decoded = DecodeStats()
    for index, frame in enumerate(iter_frames(src, stream_index=info.stream_index,
                                              stats=decoded)):
        y = luma_plane(frame)
        if detect:
            detector.push(thumbnail(y))
        pts.append(frame.pts)
        if frame.pts is not None:
            first_pts = frame.pts if first_pts is None else first_pts
            times.append((frame.pts - first_pts) * tb)
        else:
            times.append(times[-1] + step if times else index * step)
        if stats:
            per_frame.append(frame_stats(y))
        if kept + y.nbytes <= keep_bytes:
            lumas[index] = y
            kept += y.nbytes
    arr = np.array(per_frame, np.float32).reshape(-1, 3)
    return ScanResult(
        cuts=detector.finish() if detect else [], frames=len(times),
        times=np.array(times, np.float64), mean=arr[:, 0], std=arr[:, 1], sharpness=arr[:, 2],
        pts=pts, lumas=lumas, decode=decoded,
    )


def format_timecode(seconds: float, sep: str = ":") -> str:
    """``HH:MM:SS.mmm`` (``sep`` between the fields; ``-`` for file names)."""
    ms = round(max(seconds, 0.0) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}{sep}{m:02d}{sep}{s:02d}.{ms:03d}"


def parse_timecode(text: str) -> float:
    """Seconds of a ``HH:MM:SS.mmm`` or ``HH-MM-SS.mmm`` timecode."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 3:
        raise ValueError(f"not a timecode: {text!r}")
    h, m, s = int(parts[0]), int(parts[1]), float(parts[2])
    return h * 3600 + m * 60 + s


def first_pass(src: Path, info: MediaInfo, cfg: ShotConfig, stats: bool = False,
               detect: bool = True, keep_bytes: int = 0) -> ScanResult:
    """Scan ``src`` once: cuts (detected, or the user's ``--shots`` list) and frame times.

    ``stats`` and ``keep_bytes`` are passed to :func:`vidcolor.scan.scan_video`.
    """
    user_cuts = read_cut_list(cfg.cut_list) if detect and cfg.cut_list is not None else None
    scan = scan_video(src, info, cfg, stats=stats, detect=detect and user_cuts is None,
                      keep_bytes=keep_bytes)
    if user_cuts is not None:  # read before the scan: a bad list fails at once
        scan.cuts = [c for c in user_cuts if c < scan.frames]
        log.info("%d shots from %s", len(scan.cuts) + 1, cfg.cut_list)
    elif detect:
        log.info("%d shots in %d frames", len(scan.cuts) + 1, scan.frames)
    return scan
