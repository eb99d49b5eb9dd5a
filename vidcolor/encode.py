"""Video encoding: colour frames built from the source's luma plane, written atomically."""

from __future__ import annotations

import io
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidcolor.config import EncodeConfig
from vidcolor.errors import OutputError
from vidcolor.faults import jitter
from vidcolor.probe import MediaInfo

log = logging.getLogger(__name__)

_CRF_CODECS = frozenset({"libx264", "libx265", "libsvtav1", "libvpx-vp9", "libaom-av1"})
_PRESET_CODECS = frozenset({"libx264", "libx265"})
# Encoder colorspace tags: AVCOL_SPC_BT709 = 1, AVCOL_SPC_SMPTE170M = 6.
_SPACE_TAG = {"bt709": 1, "bt601": 6}


# Output container (FFmpeg format name) -> default encoder. WebM takes only VP8/VP9/AV1:
# SVT-AV1 encoded a colorized render 6-8x faster than libvpx-vp9 at equal PSNR, files within
# 10 % (scripts/bench.py --codecs). AVI stores no presentation times, so its encoders run
# without frame reordering (see VideoWriter).
DEFAULT_CODECS = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264",
                  "webm": "libsvtav1", "avi": "libx264"}
_NO_REORDER_FORMATS = frozenset({"avi"})
# Encoders named in messages that suggest another --codec (those this FFmpeg has).
_KNOWN_ENCODERS = ("libx265", "ffv1", "prores_ks", "libx264", "libvpx-vp9", "libsvtav1", "mpeg4")


def container_options(fmt: str | None, time_base: Fraction | None) -> dict[str, str]:
    """Muxer options: no random IDs or dates (one input, one file), exact start times in MP4/MOV.

    MP4 and MOV place a stream that starts after 0 with an edit list counted in the movie
    timescale (1000 by default): a segment starting at 17408/12288 s was moved to 1416/1000 s,
    8 ticks early, and every frame after it with it. The source's own timescale keeps it exact.
    """
    options = {"fflags": "+bitexact"}
    if fmt in ("mp4", "mov") and time_base:
        options["movie_timescale"] = str(time_base.denominator)
    return options


def encoder_name(codec: str, fmt: str | None) -> str:
    """``codec``, or the default encoder of container ``fmt`` when it is empty."""
    return codec or DEFAULT_CODECS.get(fmt or "mp4", "libx264")


def writer_plan(info: MediaInfo, cfg: EncodeConfig, fmt: str | None) -> PixelPlan:
    """The pixel plan a :class:`VideoWriter` for ``info``, ``cfg`` and ``fmt`` encodes with."""
    return plan_pixels(encoder_name(cfg.codec, fmt), info.width, info.height, info.pix_fmt)


def resolve_codec(codec: str, fmt: str) -> str:
    """The encoder for container ``fmt``: ``codec``, or the container's default when empty.

    Raises:
        OutputError: the encoder is unknown, or the container cannot hold its codec.
    """
    codec = encoder_name(codec, fmt)
    try:
        name = av.codec.Codec(codec, "w").name
    except (av.FFmpegError, ValueError) as e:
        raise OutputError(f"unknown video encoder {codec!r}") from e
    with av.open(io.BytesIO(), "w", format=fmt) as probe:
        accepted = probe.supported_codecs
    if codec not in accepted and name not in accepted:
        fits = sorted(c for c in _KNOWN_ENCODERS if c in accepted and c in av.codecs_available)
        raise OutputError(f"the {fmt} container cannot hold {codec} video; "
                          f"choose another --codec ({', '.join(fits)}) or output extension")
    return codec


# Each rate-control encoder's CRF range and the presets it names (FFmpeg's option ranges).
_CRF_RANGES = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63),
               "libsvtav1": (0, 63), "libaom-av1": (0, 63)}
_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")


def check_encoder_options(codec: str, crf: int, preset: str) -> None:
    """Refuse a ``crf`` or ``preset`` the encoder does not take (before any work).

    Raises:
        OutputError: out of range, naming the range.
    """
    low, high = _CRF_RANGES.get(codec, (0, 63))
    if codec in _CRF_RANGES and not low <= crf <= high:
        raise OutputError(f"--crf {crf} is outside {codec}'s range {low}..{high}")
    if codec in _PRESET_CODECS and preset not in _X26X_PRESETS:
        raise OutputError(f"--preset {preset!r} is not one of {codec}'s: "
                          f"{', '.join(_X26X_PRESETS)}")


@dataclass(frozen=True)
class PixelPlan:
    """How frames are built and encoded.

    Attributes:
        build: the planar layout frames are assembled in (``yuv420p``, ``yuv444p``, or a 9-16
            bit one such as ``yuv422p10le`` for a deep source).
        encoder: the pixel format handed to the encoder (may differ, e.g. prores_ks' 10-bit).
        depth: bits per sample of the planes built (8 for ``yuv420p``/``yuv444p``).
    """

    build: str
    encoder: str
    depth: int = 8

    @property
    def subsample(self) -> tuple[int, int]:
        """Chroma subsampling as (horizontal, vertical) shifts: (1, 1) is 4:2:0."""
        return _SHIFTS[self.build[3:6]]


_SHIFTS = {"420": (1, 1), "422": (1, 0), "444": (0, 0)}


def _deep_layouts(source: str, width: int, height: int) -> list[str]:
    """Planar formats that keep a deep source's depth: its own layout first, then 4:4:4."""
    fmt = av.VideoFormat(source, 4, 4)
    bits = fmt.components[0].bits
    sx = 4 // max(fmt.components[1].width, 1) if len(fmt.components) > 1 else 1
    sy = 4 // max(fmt.components[1].height, 1) if len(fmt.components) > 1 else 1
    own = {(2, 2): "420", (2, 1): "422"}.get((sx, sy), "444")
    layouts = [own] + [x for x in ("444",) if x != own]
    names = []
    for layout in layouts:
        if (layout == "420" and (width % 2 or height % 2)) or (layout == "422" and width % 2):
            continue
        names.append(f"yuv{layout}p{bits}le")
    return names


def source_depth(pix_fmt: str) -> int:
    """Bits per luma sample of a pixel format (8 when unknown)."""
    try:
        return av.VideoFormat(pix_fmt).components[0].bits
    except (ValueError, IndexError, av.FFmpegError):
        return 8


def plan_pixels(codec: str, width: int, height: int, source: str = "yuv420p") -> PixelPlan:
    """Choose formats that keep the exact frame size and, where the encoder takes it, depth.

    An 8-bit source is built at 4:2:0 when both sides are even, else 4:4:4. A deeper source
    (10-bit and up) keeps its depth and chroma layout (or 4:4:4) when the encoder takes such a
    format; otherwise it is built at 8 bits, with one line saying so.

    Raises:
        OutputError: the encoder is unknown or takes no YUV format.
    """
    try:
        formats = [f.name for f in (av.codec.Codec(codec, "w").video_formats or ())]
    except (av.FFmpegError, ValueError) as e:
        raise OutputError(f"unknown video encoder {codec!r}: {e}") from e
    depth = source_depth(source)
    if depth > 8:
        for build in _deep_layouts(source, width, height):
            if build in formats:
                return PixelPlan(build, build, depth)
        keep = [c for c in _KNOWN_ENCODERS if c in av.codecs_available and any(
            f.name.endswith(f"p{depth}le") for f in av.codec.Codec(c, "w").video_formats or ())]
        log.warning("%s takes no %d-bit format: the output is 8-bit%s", codec, depth,
                    f" (--codec {' or '.join(keep)} keeps {depth} bits)" if keep else "")
    even = width % 2 == 0 and height % 2 == 0
    for build in (["yuv420p"] if even else []) + ["yuv444p"]:
        if build in formats:
            return PixelPlan(build, build)
    for fmt in formats:  # e.g. prores_ks: yuv422p10le; build at 4:4:4 and let swscale convert
        if fmt.startswith("yuv4") and (even or not fmt.startswith(("yuv420", "yuv422"))):
            return PixelPlan("yuv444p", fmt)
    raise OutputError(f"encoder {codec!r} takes no pixel format that keeps {width}x{height}")


def build_frame(
    y: np.ndarray, cb: np.ndarray, cr: np.ndarray, plan: PixelPlan, full_range: bool, matrix: str
) -> av.VideoFrame:
    """An encoder-ready frame from its three planes (uint8, or uint16 for a deep plan)."""
    if plan.build == "yuv420p":
        h, w = y.shape
        packed = np.concatenate((y.ravel(), cb.ravel(), cr.ravel())).reshape(h * 3 // 2, w)
        frame = av.VideoFrame.from_ndarray(packed, format="yuv420p")
    elif plan.build == "yuv444p":
        frame = av.VideoFrame.from_ndarray(np.stack((y, cb, cr)), format="yuv444p")
    else:
        frame = av.VideoFrame(y.shape[1], y.shape[0], plan.build)
        for plane, data in zip(frame.planes, (y, cb, cr), strict=True):
            rows = np.zeros((plane.height, plane.line_size // data.itemsize), data.dtype)
            rows[:, : plane.width] = data
            plane.update(rows.tobytes())
    frame.color_range = 2 if full_range else 1
    frame.colorspace = _SPACE_TAG[matrix]
    if plan.encoder != plan.build:
        rng = 2 if full_range else 1
        frame = frame.reformat(format=plan.encoder, src_color_range=rng, dst_color_range=rng)
    return frame


class VideoWriter:
    """Encodes frames into a video-only file; ``close()`` flushes the encoder.

    Frames keep the pts and time base they are given (variable frame rates stay exact).
    """

    def __init__(self, path: Path, info: MediaInfo, cfg: EncodeConfig, fmt: str | None) -> None:
        self.path = path
        codec = encoder_name(cfg.codec, fmt)
        self.plan = writer_plan(info, cfg, fmt)
        try:
            self.container = av.open(str(path), "w", format=fmt,
                                     options=container_options(fmt, info.time_base))
        except (av.FFmpegError, OSError) as e:
            raise OutputError(f"cannot write {path}: {e}") from e
        stream = self.container.add_stream(codec, rate=info.rate)
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = self.plan.encoder
        # AVI counts frames at one rate; given a finer time base its muxer writes a frame rate
        # of hundreds with empty frames between. Its frames are timed by their count.
        self.counted = 1 / Fraction(info.rate or 24) if fmt in _NO_REORDER_FORMATS else None
        stream.time_base = self.counted or info.time_base
        stream.codec_context.time_base = self.counted or info.time_base
        stream.codec_context.color_range = 2 if info.full_range else 1
        stream.codec_context.colorspace = _SPACE_TAG[info.matrix]
        options = {}
        if codec == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # errors only: no banner on the terminal
        if codec == "libx265":
            options["x265-params"] = "log-level=error"  # no banner and statistics either
        if codec in _CRF_CODECS:
            options["crf"] = str(cfg.crf)
        if codec in _PRESET_CODECS:
            options["preset"] = cfg.preset
        if fmt in _NO_REORDER_FORMATS:
            stream.codec_context.max_b_frames = 0
        if codec == "libx264":
            # No macroblock tree: libx264's (0.165, as bundled) reads an uninitialised stack
            # value there (valgrind memcheck, 112x64 and 112x54 clips: 8-9 log lines with it, 0
            # without), so the same frames gave different bytes from run to run, depending on
            # what earlier work had left on the stack. Fixed threads: frame threading is
            # deterministic in x264 as long as the count is fixed.
            stream.codec_context.thread_count = 2
            options["x264-params"] = "mbtree=0"
        stream.codec_context.options = options
        if info.sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = info.sample_aspect_ratio
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        self.stream = stream
        self.frames = 0
        self._last: tuple[int | None, int | None] = (None, None)
        self._last_dts: int | None = None
        self._frame_ticks = max(1, round(1 / (Fraction(info.rate or 24) * stream.time_base)))

    def write(self, frame: av.VideoFrame) -> None:
        """Encode one frame (its pts in the source's time base)."""
        if self.counted is not None:
            frame.pts, frame.time_base = self.frames, self.counted
        try:
            for packet in self.stream.encode(frame):
                self._mux(packet)
        except (av.FFmpegError, OSError) as e:
            raise OutputError(f"writing {self.path} failed: {e}{self._where()}") from e
        self.frames += 1

    def _mux(self, packet: av.Packet) -> None:
        """Mux one packet, its decode timestamp kept after the previous one and by its own pts.

        An encoder's flush has been seen (rarely, 10-bit libx265 into Matroska) to end in a
        muxer refusal (EINVAL): a decode timestamp that does not increase, or (the same flush,
        the first packet: uninitialised memory, ~4.6e18) one after its presentation time, which
        no decoder can meet. Such a timestamp is moved just past the previous one, as FFmpeg's
        own command line does, or for the first packet 16 frames before its presentation time
        (more than any encoder reorders), with a warning; presentation timestamps are never
        changed.
        """
        self._last = (packet.pts, packet.dts)
        dts, pts, last = packet.dts, packet.pts, self._last_dts
        if dts is not None:
            late = pts is not None and dts > pts
            if late or (last is not None and dts <= last):
                fixed = last + 1 if last is not None else pts - 16 * self._frame_ticks
                if pts is None or fixed <= pts:
                    why = f"after presentation time {pts}" if late else f"after {last}"
                    log.warning("%s: the encoder gave decode timestamp %d %s; writing %d",
                                self.path.name, dts, why, fixed)
                    packet.dts = fixed
        self.container.mux(packet)
        self._last_dts = packet.dts

    def _where(self) -> str:
        pts, dts = self._last
        return (f" (packet pts {pts}, dts {dts}; previous dts {self._last_dts})"
                if self._last != (None, None) else "")

    def close(self) -> None:
        """Flush the encoder, write the trailer and fsync the file."""
        try:
            for packet in self.stream.encode(None):
                self._mux(packet)
            self.container.close()
            with self.path.open("rb") as fh:
                os.fsync(fh.fileno())
        except (av.FFmpegError, OSError) as e:
            raise OutputError(f"finishing {self.path} failed: {e}{self._where()}") from e

    def abort(self) -> None:
        """Close without flushing after a failure (the file is discarded by the caller)."""
        try:
            self.container.close()
        except (av.FFmpegError, OSError):
            log.debug("closing %s after a failure also failed", self.path, exc_info=True)


class AsyncWriter:
    """A :class:`VideoWriter` fed through a bounded queue by an encoder thread.

    Frame building and encoding overlap with the next frame's inference; the queue bounds
    memory. An encoder error is raised in the caller at the next :meth:`write` or at
    :meth:`close`.
    """

    def __init__(self, writer: VideoWriter, full_range: bool, matrix: str,
                 queue_size: int = 8) -> None:
        self.writer = writer
        self.plan = writer.plan
        self._full_range, self._matrix = full_range, matrix
        self._queue: queue.Queue[tuple | None] = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="vidcolor-encode", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            jitter("encode-get")
            if item is None:
                return
            if self._error is not None:
                continue  # drain after a failure
            y, planes, pts, time_base = item
            try:
                cb, cr = planes() if callable(planes) else planes
                frame = build_frame(y, cb, cr, self.plan, self._full_range, self._matrix)
                frame.pts, frame.time_base = pts, time_base
                self.writer.write(frame)
            except BaseException as e:  # handed to the caller
                self._error = e

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, pts: int,
              time_base: Fraction) -> None:
        """Queue one frame's planes for building and encoding."""
        self._check()
        jitter("encode-put")
        self._queue.put((y, (cb, cr), pts, time_base))

    def write_deferred(self, y: np.ndarray, chroma: Callable[[], tuple[np.ndarray, np.ndarray]],
                       pts: int, time_base: Fraction) -> None:
        """Like :meth:`write`, the ``Cb, Cr`` planes made by ``chroma()`` in the encoder thread.

        The upsampling and colour conversion of one frame then overlap the next frame's
        inference; ``chroma`` must not read state that the caller changes meanwhile.
        """
        self._check()
        jitter("encode-put")
        self._queue.put((y, chroma, pts, time_base))

    def close(self) -> None:
        """Encode what is queued, flush the encoder and finish the file."""
        self._queue.put(None)
        self._thread.join()
        self._check()
        self.writer.close()

    def abort(self) -> None:
        """Stop after a failure elsewhere; the file is discarded by the caller."""
        self._error = self._error or RuntimeError("aborted")
        self._queue.put(None)
        self._thread.join()
        self.writer.abort()
