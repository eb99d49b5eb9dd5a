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

# Codecs each output family takes without re-encoding (a conservative subset of FFmpeg's).
_MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}
_AUDIO_COPY = {
    "mp4": _MP4_AUDIO,
    "mov": _MP4_AUDIO | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"},
    "matroska": None,  # None: anything
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "ac3", "pcm_s16le", "aac"},
}
_SUBTITLE_COPY = {
    "mp4": {"mov_text"},
    "mov": {"mov_text"},
    "matroska": {"subrip", "ass", "ssa", "webvtt", "hdmv_pgs_subtitle", "dvd_subtitle"},
    "webm": {"webvtt"},
}


def _family(fmt_name: str) -> str:
    for fam in ("webm", "matroska", "mp4", "mov", "avi"):
        if fam in fmt_name.split(","):
            return fam
    return fmt_name.split(",")[0]


def _copy_ok(table: dict[str, set[str] | None], family: str, codec: str) -> bool:
    allowed = table.get(family, set())
    return allowed is None or codec in allowed


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
        family = _family(out.format.name)
        vin = inputs[0].streams.video[0]
        vout = out.add_stream_from_template(vin)
        if rotation:
            vout.set_display_rotation(rotation)
        copies: dict[int, av.stream.Stream] = {}
        transcodes: dict[int, tuple[av.audio.stream.AudioStream, object]] = {}
        for s in src.streams.audio:
            if _copy_ok(_AUDIO_COPY, family, s.codec_context.name):
                copies[s.index] = out.add_stream_from_template(s)
            else:
                log.info("audio stream %d (%s) does not fit %s: transcoding it to AAC",
                         s.index, s.codec_context.name, family)
                a = out.add_stream("aac", rate=s.codec_context.sample_rate)
                a.layout = s.codec_context.layout
                transcodes[s.index] = (a, av.AudioResampler(format="fltp", layout=a.layout))
        for s in src.streams.subtitles:
            if _copy_ok(_SUBTITLE_COPY, family, s.codec_context.name):
                copies[s.index] = out.add_stream_from_template(s)
            else:
                log.warning("subtitle stream %d (%s) cannot go into %s: dropped",
                            s.index, s.codec_context.name, family)
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
