"""Streaming decode: a decode thread fills a bounded queue, so memory does not grow with length."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

from vidcolor.errors import InputError
from vidcolor.probe import video_stream

log = logging.getLogger(__name__)

MAX_BAD_PACKETS = 100  # corrupt packets tolerated before the input is declared unreadable
_DONE = object()


@dataclass
class DecodeStats:
    """What the decoder met: frames decoded and packets it had to skip."""

    frames: int = 0
    bad_packets: int = 0


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
    q: queue.Queue[object] = queue.Queue(maxsize=queue_size)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            with av.open(str(path)) as container:
                if stream_index >= 0:
                    stream = container.streams[stream_index]
                else:
                    stream = video_stream(container) or container.streams.video[0]
                stream.thread_type = "AUTO"
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.InvalidDataError:
                        stats.bad_packets += 1
                        if stats.bad_packets > MAX_BAD_PACKETS:
                            raise
                        continue
                    for frame in frames:
                        if not put(frame):
                            return
            put(_DONE)
        except BaseException as e:  # handed to the consumer, never lost on this thread
            put(e)

    worker = threading.Thread(target=work, name="vidcolor-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, av.FFmpegError):
                raise InputError(f"cannot decode {path}: {item}") from item
            if isinstance(item, BaseException):
                raise item
            stats.frames += 1
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def frames_at(path: Path, wanted: list[int], stream_index: int = -1,
              seek_after: int = 0) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield ``(pts, frame)`` for the frames whose pts are in ``wanted``, in pts order.

    Where the next wanted frame is more than ``seek_after`` (stream time base) past the
    position reached, the demuxer seeks back to the keyframe before it and decoding resumes
    there, so frames far apart cost a GOP each instead of everything in between. A wanted pts
    that no frame has is skipped (the caller sees which came back).

    Raises:
        InputError: the input cannot be opened or decoded.
    """
    targets = sorted(set(wanted))
    try:
        with av.open(str(path)) as container:
            if stream_index >= 0:
                stream = container.streams[stream_index]
            else:
                stream = video_stream(container) or container.streams.video[0]
            stream.thread_type = "AUTO"
            position: int | None = None  # pts of the last frame decoded
            i = 0
            while i < len(targets):
                target = targets[i]
                if position is None or target - position > seek_after:
                    container.seek(target, backward=True, any_frame=False, stream=stream)
                    position = None
                found = False
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.InvalidDataError:
                        continue
                    for frame in frames:
                        if frame.pts is None:
                            continue
                        position = frame.pts
                        while i < len(targets) and targets[i] < frame.pts:
                            i += 1  # no frame has that pts
                        if i < len(targets) and frame.pts == targets[i]:
                            yield frame.pts, frame
                            i += 1
                            # The next one is far: seek to it rather than decode up to it.
                            if i >= len(targets) or targets[i] - frame.pts > seek_after:
                                found = True
                                break
                    if found:
                        break
                else:
                    return  # end of the stream
    except av.FFmpegError as e:
        raise InputError(f"cannot decode {path}: {e}") from e
