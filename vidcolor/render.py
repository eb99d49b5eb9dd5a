"""One segment of a render: its frames decoded, colorized outward from its shot's anchor, encoded.

A segment is a task that depends on nothing but its inputs: the source file, the settings, the
:class:`Segment` and the :class:`~vidcolor.temporal.ShotState` it starts from. It reads its own
frames (by seeking where the source allows it, else in order from the start), so segments can
run in any order that respects their chain, in one process or on many machines, and give the
same bytes.

A segment forward of its shot's anchor colorizes its frames in order, starting from the anchor
(the preview's still) or from the state the segment before it ended with. A segment before the
anchor is colorized backward: its frames' working-size luma is read first (to a memory map in
``scratch``, a slot per frame that takes the frame's chroma once colorized), colorized from its
last frame to its first, starting from the state of the frame after it; then its frames are read
again in order and encoded with that chroma. Memory stays bounded for any shot length.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig
from vidcolor.decode import DecodeStats, frames_at, frames_by_index, in_background, iter_frames
from vidcolor.encode import AsyncWriter, VideoWriter, writer_plan
from vidcolor.errors import InputError, OutputError
from vidcolor.faults import fault_point, jitter
from vidcolor.hints import Hint, parse_hints
from vidcolor.image import reference_set
from vidcolor.keyframes import keyframe_chroma
from vidcolor.planes import luma_plane, plane_to_luma
from vidcolor.probe import MediaInfo
from vidcolor.progress import NullProgress, Progress
from vidcolor.reference import ReferenceSet
from vidcolor.shot import NO_INPUTS, AnchorInputs, Shot
from vidcolor.space import (
    SCRATCH_CHROMA,
    SCRATCH_LUMA,
    load_chroma,
    load_luma,
    scratch_array,
    store_chroma,
    store_luma,
)
from vidcolor.temporal import ShotState
from vidcolor.tiling import working_size
from vidcolor.weights import default_weights_path

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Segment:
    """What one segment task renders (a row of the job manifest, typed)."""

    index: int
    start: int
    end: int
    anchor: int  # its shot's anchor frame
    backward: bool  # before the anchor: colorized from ``end`` down to ``start``
    keyframe: str | None  # the shot's keyframe image (the anchor is its frame)
    file: str
    hints: tuple[Hint, ...] = ()  # the anchor frame's colour hints (stored-frame pixels)
    references: tuple[str, ...] = ()  # the shot's reference photos
    reference_sha256: tuple[str, ...] = ()  # theirs when the job was planned (checked on use)

    @classmethod
    def from_manifest(cls, seg: dict[str, Any]) -> Segment:
        """The task of a manifest row (see :func:`vidcolor.segments.plan_segments`)."""
        return cls(index=seg["index"], start=seg["start"], end=seg["end"],
                   anchor=seg["anchor"], backward=seg["backward"], keyframe=seg["keyframe"],
                   file=seg["file"], hints=tuple(parse_hints({"hints": seg.get("hints", [])})),
                   references=tuple(seg.get("references", ())),
                   reference_sha256=tuple(seg.get("reference_sha256", ())))

    @property
    def frames(self) -> int:
        """Frames in the segment."""
        return self.end - self.start + 1


@dataclass(frozen=True)
class SegmentResult:
    """What a segment hands on.

    ``state``: after its last colorized frame (forward: its last frame; backward: its first).
    ``anchor``: for the segment that starts at its shot's anchor, the state after the anchor
    frame, where the backward chain starts.
    """

    state: ShotState | None
    anchor: ShotState | None


@dataclass(frozen=True)
class Timeline:
    """Every frame's presentation time, as the scan found (and, where needed, repaired) it.

    Attributes:
        pts: int64 ``(frames,)`` in the stream's time base; frames without one are put at the
            nominal rate after the frame before.
        seekable: every frame had its own strictly increasing pts (none repaired), so a
            segment's frames can be found by seeking (and are checked against these times).
    """

    pts: np.ndarray
    seekable: bool

    @classmethod
    def from_scan(cls, pts: list[int | None], info: MediaInfo, repaired: bool) -> Timeline:
        """The timeline of a scanned stream (``repaired``: some frame times were repaired)."""
        step = max(1, round(1 / (info.rate * info.time_base))) if info.rate else 1
        out = np.zeros(len(pts), np.int64)
        last: int | None = None
        for i, p in enumerate(pts):
            if p is None:
                p = 0 if last is None else last + step
            out[i] = last = p
        seekable = not repaired and bool(info.time_base) and all(p is not None for p in pts) \
            and bool(np.all(np.diff(out) > 0))
        return cls(out, seekable)


class SeekMissed(Exception):
    """Seeking did not give a segment's frames as the scan saw them (decode in order instead)."""


def segment_frames(src: Path, info: MediaInfo, timeline: Timeline, start: int, end: int,
                   seek: bool = True) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(index, frame)`` of frames ``start..end``, by seeking or in order from the start.

    Seeking is used where ``seek`` and the timeline allow it.

    Raises:
        SeekMissed: after a seek, a frame's time is not the one the scan saw (frames may have
            been yielded already: the caller starts the segment over with ``seek=False``).
        InputError: the input ends early or cannot be decoded.
    """
    if seek and timeline.seekable and start > 0:
        wanted = [int(p) for p in timeline.pts[start:end + 1]]
        n = 0
        try:
            seeking = in_background(
                lambda: frames_at(src, wanted, info.stream_index, seek_after=1 << 62), src)
            for pts, frame in seeking:
                if pts != wanted[n]:
                    raise SeekMissed(f"frame {start + n}: pts {pts}, expected {wanted[n]}")
                fault_point("decode")
                yield start + n, frame
                n += 1
        except InputError as e:
            raise SeekMissed(str(e)) from e
        if n != len(wanted):
            raise SeekMissed(f"{n} of {len(wanted)} frames")
        return
    index = -1
    for index, frame in enumerate(iter_frames(src, stats=DecodeStats(),
                                              stream_index=info.stream_index)):
        if index > end:
            break
        fault_point("decode")
        if index >= start:
            yield index, frame
    if index < end:
        raise InputError(
            f"{src} ended at frame {index + 1} of the {end + 1} or more found when the job "
            "started: the input changed or is damaged"
        )


def read_frame(src: Path, info: MediaInfo, timeline: Timeline, index: int) -> av.VideoFrame:
    """Frame ``index`` alone: by seeking where it can, else decoded in order.

    Raises:
        InputError: the input ends before it or cannot be decoded.
    """
    pts = int(timeline.pts[index]) if timeline.seekable and 0 < index < len(timeline.pts) else None
    for _, frame in frames_by_index(src, {index: pts}, info.stream_index):
        return frame
    raise InputError(
        f"{src} has no frame {index}, found when the job started: the input changed or is "
        "damaged")


def _checked(src: Path, info: MediaInfo, frame: av.VideoFrame) -> av.VideoFrame:
    if (frame.width, frame.height) != (info.width, info.height):
        raise InputError(
            f"{src}: the frame size changes mid-stream ({info.width}x{info.height} -> "
            f"{frame.width}x{frame.height}); vidcolor needs one size per video"
        )
    return frame


def render_segment(src: Path, info: MediaInfo, cfg: JobConfig, colorizer: FrameColorizer,
                   seg: Segment, start_state: ShotState | None, out: Path, fmt: str,
                   timeline: Timeline, scratch: Path,
                   progress: Progress | None = None) -> SegmentResult:
    """Render ``seg`` into ``out`` (written atomically) from ``start_state``.

    ``start_state`` is ``None`` for the segment that starts at its shot's anchor (and for every
    segment without the temporal prior); ``scratch`` takes a backward segment's luma and chroma
    while it runs.
    """
    progress = progress or NullProgress()
    seek, retried = True, False
    while True:
        try:
            return _render(src, info, cfg, colorizer, seg, start_state, out, fmt, timeline,
                           scratch, progress, seek=seek)
        except SeekMissed as e:
            log.info("segment %d: seeking missed (%s); decoding from the start", seg.index, e)
            seek = False
        except OutputError as e:
            # Seen twice in some 20 full test runs, never reproduced (10-bit libx265 into
            # Matroska, the second segment of a 6-frame clip): finishing the file failed with
            # EINVAL. The segment is made once more, from the same inputs, before giving up.
            cause = e.__cause__
            if retried or not isinstance(cause, av.FFmpegError) or isinstance(cause, OSError):
                raise
            retried = True
            log.warning("segment %d: %s; encoding it again", seg.index, e)


def _render(src: Path, info: MediaInfo, cfg: JobConfig, colorizer: FrameColorizer,
            seg: Segment, start_state: ShotState | None, out: Path, fmt: str,
            timeline: Timeline, scratch: Path, progress: Progress,
            seek: bool) -> SegmentResult:
    jitter("segment-open")
    writer = AsyncWriter(VideoWriter(out, info, cfg.encode, fmt), info.full_range, info.matrix)
    advanced = 0
    try:
        refs = _references(seg, cfg)
        shot = Shot(colorizer, references=refs) if start_state is None else Shot.resume(
            colorizer, start_state, refs)
        chroma = None
        if seg.backward:
            chroma = _backward_chroma(src, info, shot, seg, timeline, scratch,
                                      writer.plan.depth, seek)
        result_state = shot.state() if seg.backward else None
        anchor_state = None
        for index, frame in segment_frames(src, info, timeline, seg.start, seg.end, seek):
            frame = _checked(src, info, frame)
            y = luma_plane(frame, writer.plan.depth)
            ab = None
            if chroma is not None:
                ab = load_chroma(chroma[index - seg.start])[None]
            elif index == seg.anchor:  # the shot starts here (start_state is None)
                shot = Shot(colorizer, _anchor_inputs(colorizer, seg, frame, y,
                                                      info.full_range, writer.plan.depth, cfg),
                            refs)
            if ab is None:
                ab = shot.colorize(plane_to_luma(y, info.full_range, writer.plan.depth))
            if index == seg.anchor:
                anchor_state = shot.state()
            fault_point("inference")
            planes = functools.partial(colorizer.planes_from_ab, y, ab, info.full_range,
                                       info.matrix, writer.plan.subsample, writer.plan.depth)
            if chroma is None:
                # Upsampling and colour conversion run in the encoder thread, beside the next
                # frame's inference.
                writer.write_deferred(y, planes, int(timeline.pts[index]), info.time_base)
            else:
                # A backward segment's chroma is known: this thread would only wait.
                writer.write(y, *planes(), int(timeline.pts[index]), info.time_base)
            progress.advance()
            advanced += 1
        writer.close()
    except BaseException:
        writer.abort()
        if advanced:
            progress.advance(-advanced)
        raise
    finally:
        (scratch / f"{seg.file}.scratch.npy").unlink(missing_ok=True)
    jitter("segment-close")
    fault_point("segment-write")
    if not seg.backward:
        result_state = shot.state()
    return SegmentResult(state=result_state, anchor=anchor_state)


def _anchor_inputs(colorizer: FrameColorizer, seg: Segment, frame: av.VideoFrame,
                   y: np.ndarray, full_range: bool, depth: int, cfg: JobConfig) -> AnchorInputs:
    """What steers the anchor frame of ``seg``'s shot: its keyframe, hints, references."""
    if seg.keyframe is None and not seg.hints and not seg.references:
        return NO_INPUTS
    size = working_size(*y.shape, colorizer.tile.render_size)
    key = None if seg.keyframe is None else keyframe_chroma(
        Path(seg.keyframe), luma_plane(frame), full_range, size)
    reference = None
    refs = _references(seg, cfg)
    if refs is not None:
        reference = refs.prior(colorizer.working_luma(plane_to_luma(y, full_range, depth))[0, 0])
    return AnchorInputs(keyframe=key, hints=seg.hints, reference=reference)


def _references(seg: Segment, cfg: JobConfig) -> ReferenceSet | None:
    """The reference photos of ``seg``'s shot, prepared (cached), if they steer it.

    A keyframe sets every colour: its shot needs no match.
    """
    if seg.keyframe is not None or not seg.references:
        return None
    return reference_set(seg.references, cfg.weights or default_weights_path(cfg.model),
                         seg.reference_sha256)


def anchor_state(src: Path, info: MediaInfo, cfg: JobConfig, colorizer: FrameColorizer,
                 seg: Segment, fmt: str, timeline: Timeline) -> ShotState:
    """The state after the anchor frame of ``seg``'s shot, as the segment starting there has it.

    The same computation as that segment's first frame, so a shot's backward chain need not
    wait for the whole segment (Ray runs both chains at once).
    """
    depth = writer_plan(info, cfg.encode, fmt).depth
    frame = _checked(src, info, read_frame(src, info, timeline, seg.anchor))
    y = luma_plane(frame, depth)
    shot = Shot(colorizer, _anchor_inputs(colorizer, seg, frame, y, info.full_range, depth,
                                          cfg), _references(seg, cfg))
    shot.colorize(plane_to_luma(y, info.full_range, depth))
    state = shot.state()
    assert state is not None
    return state


def _backward_chroma(src: Path, info: MediaInfo, shot: Shot, seg: Segment,
                     timeline: Timeline, scratch: Path, depth: int,
                     seek: bool) -> np.ndarray:
    """A backward segment's stored chroma ``(frames, 2, h, w)`` (working size), on disk.

    Its frames' working luma is read in order first, then colorized from the last frame to the
    first, continuing ``shot`` (from the frame after the segment's end). One scratch slot per
    frame holds its luma, then its chroma (:func:`vidcolor.space.store_luma`,
    :func:`~vidcolor.space.store_chroma`; read back with ``load_chroma``).
    """
    slots: np.ndarray | None = None
    for index, frame in segment_frames(src, info, timeline, seg.start, seg.end, seek):
        frame = _checked(src, info, frame)
        luma = plane_to_luma(luma_plane(frame, depth), info.full_range, depth)
        small = shot.colorizer.working_luma(luma)
        if slots is None:
            slots = scratch_array(scratch / f"{seg.file}.scratch.npy", SCRATCH_LUMA,
                                  (seg.frames, *small.shape[-2:]))
        slots[index - seg.start] = store_luma(small[0, 0])
    assert slots is not None
    h, w = slots.shape[1:]
    chroma = slots.view(SCRATCH_CHROMA).reshape(seg.frames, 2, h, w)
    for j in range(seg.frames - 1, -1, -1):
        luma = load_luma(slots[j])[None, None]  # read before its bytes take the chroma
        chroma[j] = store_chroma(shot.colorize_working(luma)[0])
    return chroma


def job_need(src: Path, info: MediaInfo, cfg: JobConfig, segments: list[dict]) -> int:
    """Bytes of disk the remaining ``segments`` need, estimated.

    The largest backward segment's scratch slots (a luma, later two chroma planes, per working
    pixel) and, for the encoded segments and the assembled output, twice the source's size in
    proportion to the frames left.
    """
    if not segments:
        return 0
    h, w = working_size(info.height, info.width, cfg.tile.render_size)
    longest = max((s["end"] - s["start"] + 1 for s in segments if s["backward"]), default=0)
    left = sum(s["end"] - s["start"] + 1 for s in segments)
    total = max(1, info.frames or left)
    per_pixel = max(SCRATCH_LUMA.itemsize, 2 * SCRATCH_CHROMA.itemsize)
    return longest * h * w * per_pixel + int(2 * src.stat().st_size * min(1.0, left / total))


def check_keyframes(src: Path, info: MediaInfo, timeline: Timeline,
                    keyframes: dict[int, str]) -> None:
    """Read every keyframe against its frame before any work (see :func:`keyframe_chroma`).

    Raises:
        InputError: a keyframe is unreadable or is not an image of its frame.
    """
    for index, path in sorted(keyframes.items()):
        frame = read_frame(src, info, timeline, index)
        keyframe_chroma(Path(path), luma_plane(frame), info.full_range, (32, 32))
