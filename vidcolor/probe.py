"""What an input is: a video (size, rate, time base, rotation, streams) or a still image."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidcolor.decode import DecodeStats, decoded_frames, video_stream
from vidcolor.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"})


@dataclass(frozen=True)
class MediaInfo:
    """A video input's parameters.

    Attributes:
        path: the input file.
        width, height: coded frame size in pixels.
        rate: average frame rate (a Fraction; variable-rate inputs keep their own pts).
        time_base: the video stream's time base.
        frames: frame count the container declares (0 when unknown).
        rotation: display rotation in degrees (from the display matrix), 0 when none.
        pix_fmt: the decoder's pixel format.
        full_range: the luma plane uses 0..255 (JPEG range) rather than 16..235.
        matrix: ``bt709`` or ``bt601``, the YCbCr matrix of the source.
        audio_streams, subtitle_streams: how many of each the input has.
        duration: seconds, when known.
        stream_index: index of the video stream (cover art / attached pictures are skipped).
        sample_aspect_ratio: the pixel aspect ratio, when the source declares one.
    """

    path: Path
    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frames: int
    rotation: int
    pix_fmt: str
    full_range: bool
    matrix: str
    audio_streams: int
    subtitle_streams: int
    duration: float | None
    stream_index: int = 0
    sample_aspect_ratio: Fraction | None = None


def check_input_file(path: Path) -> None:
    """Fail with a one-line :class:`InputError` unless ``path`` is a non-empty readable file."""
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, expected a file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"input is an empty file: {path}")


def is_image_path(path: Path) -> bool:
    """True when ``path`` names a still image by its extension."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_media_info(path: Path) -> MediaInfo:
    """Probe a video file; decodes its first frame to learn rotation and colour range.

    Raises:
        InputError: the file is missing, not media, has no video stream or no decodable frame.
    """
    check_input_file(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(f"not a video file vidcolor can read: {path} ({e})") from e
    with container:
        stream = video_stream(container)
        if stream is None:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
            raise InputError(f"no video stream in {path} (it has {kinds})")
        first = None
        stats = DecodeStats()
        try:  # a damaged first packet is skipped here as in every pass (colorized as far as
            # the film decodes), not a refusal of the whole film
            for frame in decoded_frames(container, stream, stats):
                first = frame
                break
        except av.FFmpegError as e:
            raise InputError(f"cannot decode the video in {path}: {e}") from e
        if first is None:
            lost = f" that decode ({stats.bad_packets} damaged)" if stats.bad_packets else ""
            raise InputError(f"the video in {path} has no frames{lost}")
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        fmt = first.format.name
        full = fmt.startswith(("yuvj", "gray", "rgb", "bgr", "gbr")) or int(first.color_range) == 2
        # Untagged sources: HD is BT.709 by convention, SD BT.601.
        space = int(first.colorspace)
        matrix = "bt709" if space == 1 or (space == 2 and first.height >= 720) else "bt601"
        duration = float(container.duration / av.time_base) if container.duration else None
        sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
        return MediaInfo(
            path=path,
            width=ctx.width or first.width,
            height=ctx.height or first.height,
            rate=Fraction(rate),
            time_base=Fraction(stream.time_base),
            frames=int(stream.frames or 0),
            rotation=round(first.rotation or 0),
            pix_fmt=fmt,
            full_range=full,
            matrix=matrix,
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
            duration=duration,
            stream_index=stream.index,
            sample_aspect_ratio=Fraction(sar) if sar else None,
        )


def quarter_turns(rotation: float | None) -> int:
    """Quarter turns (``np.rot90``) that show a frame upright, from its display rotation."""
    return round(rotation / 90) % 4 if rotation else 0
