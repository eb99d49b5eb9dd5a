"""Assembly: the encoded video joined by packet copy, with the source's audio and subtitles."""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from vidcolor.errors import OutputError

log = logging.getLogger(__name__)

_AUDIO_FALLBACKS = ("aac", "libopus")  # transcode targets, in order of preference


def _packets(container: av.container.InputContainer, streams: list) -> Iterator[av.Packet]:
    for packet in container.demux(streams):
        if packet.dts is None and packet.pts is None:
            continue  # demuxer flush packets
        yield packet


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
        out = av.open(str(dest), "w", format=fmt)
        accepted = out.supported_codecs
        vin = inputs[0].streams.video[0]
        vout = out.add_stream_from_template(vin)
        if rotation:
            vout.set_display_rotation(rotation)
        copies: dict[int, av.stream.Stream] = {}
        transcodes: dict[int, tuple[av.audio.stream.AudioStream, object]] = {}
        for s in src.streams.audio:
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
            if s.codec_context.name in accepted:
                copies[s.index] = out.add_stream_from_template(s)
            else:
                log.warning("subtitle stream %d (%s) cannot go into %s: dropped",
                            s.index, s.codec_context.name, out.format.name)
        wanted = [s for s in src.streams if s.index in copies or s.index in transcodes]
        sources = [_packets(c, [c.streams.video[0]]) for c in inputs]
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
