"""Assembly: the encoded video joined by packet copy, with the source's audio and subtitles."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from vidcolor.encode import container_options
from vidcolor.errors import OutputError

log = logging.getLogger(__name__)

_AUDIO_FALLBACKS = ("aac", "libopus")  # transcode targets, in order of preference


def _packets(container: av.container.InputContainer, streams: list) -> Iterator[av.Packet]:
    for packet in container.demux(streams):
        if packet.dts is None and packet.pts is None:
            continue  # demuxer flush packets
        yield packet


_NO_SHIFT_FORMATS = frozenset({"matroska", "webm", "avi"})
_REORDER_LIMIT = 32  # packets buffered at most while a segment's first decode times are unknown


def _video_packets(container: av.container.InputContainer) -> Iterator[av.Packet]:
    """A segment's video packets, each with a decode timestamp.

    Matroska and AVI store no decode times: their demuxers give none for the first packets of
    a stream with B-frames (the decoder's reorder delay), and reconstruct the rest. A muxer fed
    such a packet sets its dts to its pts, which is later than the next packets' dts: at a seam
    between segments that is a non-monotonic dts, and the muxer refuses it (EINVAL). Here the
    missing ones are counted back, one frame duration each, from the first known dts.
    """
    pending: list[av.Packet] = []
    for packet in _packets(container, [container.streams.video[0]]):
        if packet.dts is None and len(pending) < _REORDER_LIMIT:
            pending.append(packet)
            continue
        if pending:
            _fill_dts(pending, packet.dts)
            yield from pending
            pending = []
        yield packet
    if pending:
        _fill_dts(pending, None)
        yield from pending


def _frame_counted(inputs: list[av.container.InputContainer]) -> Iterator[av.Packet]:
    """Video packets of AVI segments, timed by their frame count from the first segment on.

    AVI stores no times, only a frame rate: its demuxer gives each segment's first frame the
    time 0 and makes up the last one's. Its encoders run without frame reordering (see
    :class:`vidcolor.encode.VideoWriter`), so decode order is display order and frame ``k``
    of the film is at ``k / rate``.
    """
    time_base = 1 / Fraction(inputs[0].streams.video[0].average_rate or 24)
    count = 0
    for container in inputs:
        for packet in _packets(container, [container.streams.video[0]]):
            if not packet.size:
                continue  # the demuxer's end-of-index marker
            packet.pts = packet.dts = count
            packet.time_base = time_base
            count += 1
            yield packet


def _increasing_dts(packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """Packets whose decode times increase strictly across segment seams.

    Each segment's encoder starts its decode times one reorder delay before its first
    presentation time, counted in its own frame durations; where the frame rate varies around a
    seam, that start falls before the previous segment's last decode time, which muxers refuse.
    Such a packet's dts is moved just after the previous one (never past its own pts).
    """
    last: Fraction | None = None
    for packet in packets:
        if packet.dts is not None:
            tb = packet.time_base
            if last is not None and packet.dts * tb <= last:
                floor = math.floor(last / tb) + 1
                packet.dts = min(floor, packet.pts) if packet.pts is not None else floor
            last = packet.dts * tb
        yield packet


def _fill_dts(packets: list[av.Packet], known: int | None) -> None:
    """Decode times for ``packets`` that lack one, ending one frame before ``known``.

    Without a known dts after them (a segment of a few frames), they are given the sorted pts
    shifted back so that none is later than its pts.
    """
    step = max(1, max((p.duration or 0) for p in packets))
    if known is None:
        times = sorted(p.pts for p in packets)
        known = times[-1] + step
        shift = max(0, max(t - p.pts for t, p in zip(times, packets, strict=True)))
        known -= shift
    for i, packet in enumerate(packets):
        packet.dts = min(known - (len(packets) - i) * step, packet.pts)


def _time_key(packet: av.Packet) -> Fraction:
    ts = packet.dts if packet.dts is not None else packet.pts
    return ts * packet.time_base


def assemble(
    video_parts: list[Path], source: Path, dest: Path, fmt: str | None, rotation: int = 0
) -> None:
    """Write ``dest`` from encoded video parts and the source's audio/subtitle streams.

    Video packets are copied with their timestamps. Each audio stream is copied packet for
    packet when the output container takes its codec, else transcoded to AAC (logged once).
    Subtitles are copied where the container allows, else dropped with a warning. Packets of
    all streams are interleaved by time.

    Raises:
        OutputError: the output cannot be written.
    """
    try:
        _assemble(video_parts, source, dest, fmt, rotation)
    except av.FFmpegError as e:
        raise OutputError(f"assembling {dest} failed: {e}") from e


def _assemble(
    video_parts: list[Path], source: Path, dest: Path, fmt: str | None, rotation: int
) -> None:
    inputs = [av.open(str(p)) for p in video_parts]
    src = av.open(str(source))
    try:
        # Matroska, WebM and AVI shift every stream when one starts below 0 (AAC and Opus
        # priming does), and frames lose their times. Matroska stores signed block times, AVI
        # only the order: neither needs the shift.
        options = container_options(fmt, inputs[0].streams.video[0].time_base)
        if fmt in _NO_SHIFT_FORMATS:
            options["avoid_negative_ts"] = "disabled"
        out = av.open(str(dest), "w", format=fmt, options=options)
        accepted = out.supported_codecs
        vin = inputs[0].streams.video[0]
        vout = out.add_stream_from_template(vin, opaque=True)  # AV1: no encoder named libdav1d
        if rotation:
            vout.set_display_rotation(rotation)
        copies: dict[int, av.stream.Stream] = {}
        transcodes: dict[int, tuple[av.audio.stream.AudioStream, object]] = {}
        for s in src.streams.audio:
            if s.codec_context is None:  # damaged beyond recognition: no decoder for it
                log.warning("audio stream %d of %s is unreadable: dropped", s.index, source.name)
                continue
            if s.codec_context.name in accepted:
                copies[s.index] = out.add_stream_from_template(s)
            else:
                target = next((c for c in _AUDIO_FALLBACKS if c in accepted), None)
                if target is None:
                    log.warning("audio stream %d (%s) cannot go into %s: dropped",
                                s.index, s.codec_context.name, out.format.name)
                    continue
                log.warning("audio stream %d (%s) does not fit %s: transcoding it to %s",
                         s.index, s.codec_context.name, out.format.name, target)
                rate = 48000 if target == "libopus" else s.codec_context.sample_rate
                a = out.add_stream(target, rate=rate)
                a.layout = s.codec_context.layout
                sample_fmt = a.codec_context.codec.audio_formats[0].name
                transcodes[s.index] = (
                    a, av.AudioResampler(format=sample_fmt, layout=a.layout, rate=rate)
                )
        for s in src.streams.subtitles:
            if s.codec_context is None:
                log.warning("subtitle stream %d of %s is unreadable: dropped", s.index,
                            source.name)
                continue
            if s.codec_context.name in accepted:
                copies[s.index] = out.add_stream_from_template(s)
            else:
                log.warning("subtitle stream %d (%s) cannot go into %s: dropped",
                            s.index, s.codec_context.name, out.format.name)
        wanted = [s for s in src.streams if s.index in copies or s.index in transcodes]
        # The segments one after the other (never interleaved: their decode times can overlap
        # at a seam), then merged with the source's other streams by time.
        video = (_frame_counted(inputs) if fmt == "avi" else _increasing_dts(
            itertools.chain.from_iterable(_video_packets(c) for c in inputs)))
        sources = [video]
        if wanted:
            sources.append(_packets(src, wanted))
        for packet in heapq.merge(*sources, key=_time_key):
            index = packet.stream.index
            if packet.stream.type == "video":
                packet.stream = vout
                out.mux(packet)
            elif index in copies:
                packet.stream = copies[index]
                out.mux(packet)
            else:
                stream, resampler = transcodes[index]
                for frame in packet.decode():
                    for rf in resampler.resample(frame):
                        out.mux(stream.encode(rf))
        for stream, _ in transcodes.values():
            out.mux(stream.encode(None))
        out.close()
    finally:
        src.close()
        for c in inputs:
            c.close()
    with dest.open("rb") as fh:
        os.fsync(fh.fileno())
