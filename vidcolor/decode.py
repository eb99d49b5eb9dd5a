"""Streaming decode: a decode thread fills a bounded queue, so memory does not grow with length."""

from __future__ import annotations

import heapq
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av

from vidcolor.errors import InputError
from vidcolor.faults import jitter

log = logging.getLogger(__name__)

MAX_BAD_PACKETS = 100  # corrupt packets tolerated before the input is declared unreadable
_DONE = object()
T = TypeVar("T")


REORDER_DEPTH = 16  # frames held to put a damaged stream's frames back in presentation order


@dataclass
class DecodeStats:
    """What the decoder met: frames decoded, packets it had to skip, frame times repaired."""

    frames: int = 0
    bad_packets: int = 0
    repaired_times: int = 0


def presentation_order(frames: Iterator[av.VideoFrame], gap: int,
                       stats: DecodeStats) -> Iterator[av.VideoFrame]:
    """``frames`` with strictly increasing pts, each keeping its own where it can.

    A damaged stream's decoder can hand frames out of presentation order (its reorder buffer
    lost), or repeat a time; encoders refuse both. Up to :data:`REORDER_DEPTH` frames are held
    and released in pts order; a frame whose pts is not after the last one released (a repeat,
    or one later than the window) is put ``gap`` after it and counted. Frames without a pts
    pass through in decode order (the pipeline times them at the nominal rate).
    """
    held: list[tuple[int, int, av.VideoFrame]] = []
    last: int | None = None
    seq = 0

    def release() -> av.VideoFrame:
        nonlocal last
        _, _, frame = heapq.heappop(held)
        if last is not None and frame.pts <= last:
            frame.pts = last + gap
            stats.repaired_times += 1
        last = frame.pts
        return frame

    for frame in frames:
        if frame.pts is None:
            while held:
                yield release()
            yield frame
            continue
        heapq.heappush(held, (frame.pts, seq, frame))
        seq += 1
        if len(held) > REORDER_DEPTH:
            yield release()
    while held:
        yield release()


def iter_frames(
    path: Path, queue_size: int = 8, stats: DecodeStats | None = None, stream_index: int = -1
) -> Iterator[av.VideoFrame]:
    """Yield the video frames of ``path`` in presentation order, decoded on a worker thread.

    ``stream_index`` picks the video stream (default: the first that is not cover art).
    Corrupt packets are skipped with a count (``stats``); more than ``MAX_BAD_PACKETS`` raises.
    The worker is always stopped and joined, also when the consumer stops early.

    Raises:
        InputError: the input cannot be opened or is too damaged to decode.
    """
    stats = stats if stats is not None else DecodeStats()

    def decode() -> Iterator[av.VideoFrame]:
        with av.open(str(path)) as container:
            stream = _decoding_stream(container, stream_index)
            yield from presentation_order(decoded_frames(container, stream, stats),
                                          _half_frame(stream), stats)

    for frame in in_background(decode, path, queue_size):
        stats.frames += 1
        yield frame


def in_background(produce: Callable[[], Iterator[T]], path: Path,
                  queue_size: int = 8) -> Iterator[T]:
    """The items of ``produce()``, made on a worker thread through a bounded queue.

    Decoding overlaps the consumer's work; the queue bounds memory. An error on the worker is
    raised in the consumer (FFmpeg's as :class:`InputError`); the worker is always stopped and
    joined, also when the consumer stops early.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=queue_size)
    stop = threading.Event()

    def put(item: object) -> bool:
        jitter("decode-put")
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
            put(_DONE)
        except BaseException as e:  # handed to the consumer, never lost on this thread
            put(e)

    worker = threading.Thread(target=work, name="vidcolor-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            jitter("decode-get")
            if item is _DONE:
                return
            if isinstance(item, av.FFmpegError):
                raise InputError(f"cannot decode {path}: {item}") from item
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is a real video, not cover art (an attached picture)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def decoded_frames(container: av.container.InputContainer,
                   stream: av.video.stream.VideoStream,
                   stats: DecodeStats) -> Iterator[av.VideoFrame]:
    """Frames as the decoder gives them; corrupt packets skipped and counted (bounded)."""
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.InvalidDataError:
            stats.bad_packets += 1
            if stats.bad_packets > MAX_BAD_PACKETS:
                raise
            continue
        yield from frames


def _half_frame(stream: av.video.stream.VideoStream) -> int:
    """Half a frame's duration in the stream's time base (at least 1): the repair step."""
    rate = stream.average_rate or stream.guessed_rate or 24
    return max(1, round(1 / (2 * rate * stream.time_base))) if stream.time_base else 1


def _decoding_stream(container: av.container.InputContainer,
                     stream_index: int) -> av.video.stream.VideoStream:
    """The video stream to decode (``stream_index``, else the first that is not cover art)."""
    if stream_index >= 0:
        stream = container.streams[stream_index]
    else:
        stream = video_stream(container) or container.streams.video[0]
    # Slice threads only: with frame threads, FFmpeg drops the frames in flight when a packet
    # fails to decode (a damaged H.264 clip: 4 of its 6 decodable frames), and decoding is a
    # small part of a frame's time here.
    stream.thread_type = "SLICE"
    return stream


def frames_at(path: Path, wanted: list[int], stream_index: int = -1,
              seek_after: int = 0) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield ``(pts, frame)`` for the frames whose pts are in ``wanted``, in pts order.

    Each run of wanted frames starts with a seek back to the keyframe before its first one;
    decoding goes on from there while the next wanted frame is at most ``seek_after`` (stream
    time base) further, so frames far apart cost a GOP each instead of everything in between.
    Corrupt packets are skipped; a wanted pts that no frame has is skipped (the caller sees
    which came back).

    Raises:
        InputError: the input cannot be opened or decoded.
    """
    targets = sorted(set(wanted))
    try:
        with av.open(str(path)) as container:
            stream = _decoding_stream(container, stream_index)
            i = 0
            while i < len(targets):
                container.seek(targets[i], backward=True, any_frame=False, stream=stream)
                for frame in _timed_frames(container, stream):
                    while i < len(targets) and targets[i] < frame.pts:
                        i += 1  # no frame has that pts
                    if i >= len(targets):
                        return
                    if frame.pts == targets[i]:
                        yield frame.pts, frame
                        i += 1
                        if i >= len(targets) or targets[i] - frame.pts > seek_after:
                            break  # the next one is far: seek to it
                else:
                    return  # end of the stream
    except av.FFmpegError as e:
        raise InputError(f"cannot decode {path}: {e}") from e



def frames_by_index(path: Path, pts: dict[int, int | None], stream_index: int = -1,
                    seek_after: int = 0) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield ``(index, frame)`` for the frames at the keys of ``pts``, in any order.

    Where every wanted frame has its own pts (``pts`` maps a frame's index to it) they are
    reached by seeking (:func:`frames_at`); any the seeks miss, and all of them where a pts is
    missing or shared, are decoded in order from the start. A frame past the end is not
    yielded (the caller sees which came back).

    Raises:
        InputError: the input cannot be opened or decoded in order.
    """
    missing = set(pts)
    by_pts = {p: i for i, p in pts.items() if p is not None}
    if missing and len(by_pts) == len(missing):
        try:
            for p, frame in frames_at(path, list(by_pts), stream_index, seek_after):
                missing.discard(by_pts[p])
                yield by_pts[p], frame
        except InputError as e:
            log.debug("seeking failed (%s); decoding in order", e)
        if missing:
            log.debug("seeking missed frames %s; decoding in order", sorted(missing))
    if not missing:
        return
    last = max(missing)
    for index, frame in enumerate(iter_frames(path, stream_index=stream_index)):
        if index in missing:
            yield index, frame
        if index >= last:
            break


def _timed_frames(container: av.container.InputContainer,
                  stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
    """Frames with a pts decoded from the demuxer's position on; corrupt packets skipped."""
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.InvalidDataError:
            continue
        yield from (f for f in frames if f.pts is not None)
