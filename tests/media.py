"""Synthetic media for the tests, generated with PyAV (nothing checked in or downloaded)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def gray_pattern(width: int, height: int, t: int, shot: int = 0) -> np.ndarray:
    """A moving grey pattern ``(H, W)`` uint8; ``shot`` changes the scene (a hard cut)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if shot % 2 == 0:
        v = 128 + 90 * np.sin((xx + 3 * t) / 9.0) * np.cos(yy / 13.0)
    else:
        v = 40 + 180 * ((((xx - 2 * t) // 16) + (yy // 16)) % 2)
    return np.clip(v, 0, 255).astype(np.uint8)


def make_video(
    path: Path,
    width: int = 64,
    height: int = 48,
    frames: int = 12,
    rate: Fraction = Fraction(24),
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    audio: bool = False,
    subtitles: bool = False,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    shots: int = 1,
    sar: Fraction | None = None,
    gop: int | None = None,
) -> Path:
    """Write a small grey clip (chroma 128) and return its path.

    ``pts`` gives explicit timestamps (variable frame rate) in ``time_base``.
    """
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = pix_fmt
    tb = time_base or Fraction(1, int(rate * 1000) if rate.denominator == 1 else 90000)
    stream.time_base = tb
    stream.codec_context.time_base = tb
    if rotation:
        stream.set_display_rotation(rotation)
    if codec == "libx264":  # the same bytes every time (libx264's mbtree is not deterministic)
        stream.codec_context.options = {"x264-params": "mbtree=0"}
    elif codec == "libx265":
        stream.codec_context.options = {"x265-params": "log-level=error"}
    if sar:
        stream.codec_context.sample_aspect_ratio = sar
    if gop:
        stream.codec_context.gop_size = gop
    astream = None
    if audio:
        astream = container.add_stream("aac", rate=48000)
        astream.layout = "stereo"
    sstream = container.add_mux_stream("subrip") if subtitles else None
    for i in range(frames):
        shot = i * shots // frames
        y = gray_pattern(width, height, i, shot)
        frame = _frame(y, pix_fmt)
        frame.pts = pts[i] if pts is not None else round(i / rate / tb)
        frame.time_base = tb
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    if astream is not None:
        n = int(48000 * frames / rate)
        t = 0
        while t < n:
            samples = np.sin(2 * np.pi * 440 * (t + np.arange(1024)) / 48000).astype(np.float32)
            af = av.AudioFrame.from_ndarray(np.stack([samples, samples]), format="fltp",
                                            layout="stereo")
            af.sample_rate, af.pts = 48000, t
            t += 1024
            for packet in astream.encode(af):
                container.mux(packet)
        for packet in astream.encode(None):
            container.mux(packet)
    if sstream is not None:
        packet = av.Packet(b"A subtitle line")
        packet.stream, packet.pts, packet.dts = sstream, 0, 0
        packet.duration, packet.time_base = 400, Fraction(1, 1000)
        container.mux(packet)
    container.close()
    return path


def _frame(y: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    h, w = y.shape
    if pix_fmt in ("yuv420p", "yuvj420p") and h % 2 == 0 and w % 2 == 0:
        c = np.full((h // 2) * (w // 2), 128, np.uint8)
        frame = av.VideoFrame.from_ndarray(
            np.concatenate((y.ravel(), c, c)).reshape(h * 3 // 2, w), format="yuv420p"
        )
    else:
        frame = av.VideoFrame.from_ndarray(
            np.stack((y, np.full_like(y, 128), np.full_like(y, 128))), format="yuv444p"
        )
    if pix_fmt.startswith("yuvj"):
        frame.color_range = 2
    if frame.format.name != pix_fmt:
        frame = frame.reformat(format=pix_fmt)
    return frame


def read_video(path: Path) -> dict:
    """Frames (Y planes), pts, time base, size, rotation and audio/subtitle packets of a file."""
    out: dict = {"y": [], "pts": [], "rotation": 0, "audio": [], "subtitles": []}
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        out["time_base"] = Fraction(vs.time_base)
        out["size"] = (vs.codec_context.width, vs.codec_context.height)
        out["pix_fmt"] = vs.codec_context.pix_fmt
        out["sar"] = vs.sample_aspect_ratio or vs.codec_context.sample_aspect_ratio
        for frame in c.decode(vs):
            out["rotation"] = frame.rotation
            out["pts"].append(frame.pts * Fraction(frame.time_base))
            y = frame.reformat(format="yuv444p") if frame.format.name != "yuv420p" else frame
            plane = y.planes[0]
            arr = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            out["y"].append(arr[:, : plane.width].copy())
    with av.open(str(path)) as c:
        for packet in c.demux():
            if packet.size == 0:
                continue
            if packet.stream.type == "audio":
                out["audio"].append((packet.pts * packet.time_base, bytes(packet)))
            elif packet.stream.type == "subtitle":
                out["subtitles"].append(bytes(packet))
    return out
