"""The video path: frames, timestamps, sizes, rotation, luminance, audio, subtitles, codecs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from media import make_video, read_video

from vidcolor.cli import main


def run(src: Path, dst: Path, weights: Path, *extra: str) -> int:
    return main([str(src), "-o", str(dst), "--weights", str(weights), "--render-size", "64",
                 "--preset", "ultrafast", "-q", *extra])


def test_frame_count_pts_and_size_constant_rate(tmp_path, random_weights):
    src = make_video(tmp_path / "in.mp4", 64, 48, frames=14, rate=Fraction(25))
    assert run(src, tmp_path / "out.mp4", random_weights) == 0
    a, b = read_video(src), read_video(tmp_path / "out.mp4")
    assert len(b["y"]) == len(a["y"]) == 14
    assert b["pts"] == a["pts"]
    assert b["size"] == a["size"]
    assert not (tmp_path / "out.mp4.vidcolor-job").exists()


def test_variable_frame_rate_pts_kept(tmp_path, random_weights):
    pts = [0, 40, 60, 130, 140, 300, 310, 420]
    src = make_video(tmp_path / "vfr.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 1000))
    assert run(src, tmp_path / "out.mp4", random_weights) == 0
    assert read_video(tmp_path / "out.mp4")["pts"] == read_video(src)["pts"]
    assert [p * 1000 for p in read_video(src)["pts"]] == pts


@pytest.mark.parametrize("size", [(65, 49), (33, 64), (64, 17)])
def test_odd_sizes_kept(tmp_path, random_weights, size):
    src = make_video(tmp_path / "odd.mp4", *size, frames=5, pix_fmt="yuv444p")
    assert run(src, tmp_path / "out.mp4", random_weights) == 0
    out = read_video(tmp_path / "out.mp4")
    assert out["size"] == size and len(out["y"]) == 5
    assert out["pix_fmt"] == "yuv444p"


def test_rotation_metadata_kept(tmp_path, random_weights):
    src = make_video(tmp_path / "rot.mp4", frames=4, rotation=90)
    assert read_video(src)["rotation"] == 90
    assert run(src, tmp_path / "out.mp4", random_weights) == 0
    assert read_video(tmp_path / "out.mp4")["rotation"] == 90


def test_pixel_aspect_ratio_kept(tmp_path, random_weights):
    src = make_video(tmp_path / "sar.mp4", 64, 48, frames=3, sar=Fraction(4, 3))
    assert read_video(src)["sar"] == Fraction(4, 3)
    assert run(src, tmp_path / "out.mp4", random_weights) == 0
    assert read_video(tmp_path / "out.mp4")["sar"] == Fraction(4, 3)


def test_luminance_kept_exactly_with_lossless_codec(tmp_path, random_weights):
    src = make_video(tmp_path / "in.mkv", 64, 48, frames=6)
    assert run(src, tmp_path / "out.mkv", random_weights, "--codec", "ffv1") == 0
    a, b = read_video(src), read_video(tmp_path / "out.mkv")
    assert len(a["y"]) == len(b["y"])
    for ya, yb in zip(a["y"], b["y"], strict=True):
        np.testing.assert_array_equal(ya, yb)


def test_output_is_coloured(tmp_path, random_weights):
    import av

    src = make_video(tmp_path / "in.mkv", 64, 48, frames=3)
    assert run(src, tmp_path / "out.mkv", random_weights, "--codec", "ffv1") == 0
    with av.open(str(tmp_path / "out.mkv")) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 2  # not grey


def test_audio_packets_copied_identically(tmp_path, random_weights):
    src = make_video(tmp_path / "av.mp4", frames=24, audio=True)
    assert run(src, tmp_path / "out.mp4", random_weights) == 0
    a, b = read_video(src)["audio"], read_video(tmp_path / "out.mp4")["audio"]
    assert len(a) > 10
    assert a == b  # same bytes, same pts


def test_audio_transcoded_when_container_refuses_it(tmp_path, random_weights, caplog):
    src = make_video(tmp_path / "av.mp4", frames=24, audio=True)
    dst = tmp_path / "out.webm"
    assert run(src, dst, random_weights, "--codec", "libvpx-vp9", "--crf", "40") == 0
    assert any("transcoding it to libopus" in r.getMessage() for r in caplog.records)
    out = read_video(dst)
    assert len(out["y"]) == 24 and out["audio"]
    # Sync: audio still starts with the video and lasts as long (within one frame of audio).
    assert abs(out["audio"][0][0]) < Fraction(1, 24)


def test_subtitles_copied(tmp_path, random_weights):
    src = make_video(tmp_path / "sub.mkv", frames=8, subtitles=True)
    assert run(src, tmp_path / "out.mkv", random_weights) == 0
    assert read_video(tmp_path / "out.mkv")["subtitles"] == [b"A subtitle line"]


@pytest.mark.parametrize("pix_fmt", ["yuvj420p", "yuv420p10le"])
def test_full_range_and_10bit_sources(tmp_path, random_weights, pix_fmt):
    src = make_video(tmp_path / "in.mkv", 64, 48, frames=4, pix_fmt=pix_fmt)
    assert run(src, tmp_path / "out.mkv", random_weights, "--codec", "ffv1") == 0
    import av

    with av.open(str(src)) as c:
        first = next(c.decode(video=0))
        y_in = first.to_ndarray()[:48].astype(np.float64)  # 10-bit stays 10-bit
    with av.open(str(tmp_path / "out.mkv")) as c:
        out = next(c.decode(video=0))
        y_out = out.to_ndarray()[:48].astype(np.float64)
        # Full-range sources stay full range (flagged), limited stay limited.
        assert int(out.color_range) == (2 if pix_fmt == "yuvj420p" else 1)
    assert np.abs(y_in - y_out).max() <= (0.0 if pix_fmt == "yuv420p10le" else 1.0)


@pytest.mark.parametrize("codec,ext", [("libx265", ".mp4"), ("prores_ks", ".mov")])
def test_other_encoders(tmp_path, random_weights, codec, ext):
    src = make_video(tmp_path / "in.mp4", 64, 48, frames=4)
    assert run(src, tmp_path / f"out{ext}", random_weights, "--codec", codec) == 0
    assert len(read_video(tmp_path / f"out{ext}")["y"]) == 4


def _planes(path: Path) -> tuple[str, list[np.ndarray]]:
    """The decoded pixel format and every frame's Y plane at its own depth."""
    import av

    from vidcolor.encode import source_depth
    from vidcolor.planes import luma_plane

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        fmt = stream.codec_context.pix_fmt
        return fmt, [luma_plane(f, source_depth(fmt)) for f in c.decode(stream)]


@pytest.mark.parametrize("src_fmt,codec,out_fmt", [
    ("yuv420p10le", "ffv1", "yuv420p10le"),
    ("yuv422p10le", "ffv1", "yuv422p10le"),
    ("yuv422p10le", "prores_ks", "yuv422p10le"),
    ("yuv420p10le", "libx265", "yuv420p10le"),
])
def test_ten_bit_source_keeps_depth_layout_and_exact_luma(tmp_path, random_weights, src_fmt,
                                                         codec, out_fmt):
    src = make_video(tmp_path / "deep.mkv", 64, 48, frames=6, codec="libx265", pix_fmt=src_fmt,
                     shots=2)
    dst = tmp_path / ("out.mov" if codec == "prores_ks" else "out.mkv")
    assert run(src, dst, random_weights, "--codec", codec) == 0
    fmt_in, y_in = _planes(src)
    fmt_out, y_out = _planes(dst)
    assert fmt_in == src_fmt and fmt_out == out_fmt
    assert y_out[0].dtype == np.uint16
    if codec in ("ffv1",):  # lossless: the Y' plane is the source's, bit for bit
        for a, b in zip(y_in, y_out, strict=True):
            np.testing.assert_array_equal(a, b)
    else:
        assert max(float(np.abs(a.astype(int) - b).mean())
                   for a, b in zip(y_in, y_out, strict=True)) < 8.0  # of 1023


def test_ten_bit_source_to_an_eight_bit_encoder_says_so(tmp_path, random_weights, caplog):
    src = make_video(tmp_path / "deep.mkv", 64, 48, frames=4, codec="libx265",
                     pix_fmt="yuv420p10le")
    assert run(src, tmp_path / "out.webm", random_weights, "--codec", "libvpx-vp9") == 0
    assert _planes(tmp_path / "out.webm")[0] == "yuv420p"
    assert any("the output is 8-bit" in r.getMessage() for r in caplog.records)


def _write_six_frames(tmp_path, garble):
    """Six frames through a libx264 Matroska writer whose packets ``garble(packets)`` edits
    before the writer muxes them; the presentation times decoded back, and the frame step."""
    import av

    from vidcolor.config import EncodeConfig
    from vidcolor.encode import VideoWriter, build_frame
    from vidcolor.probe import read_media_info

    src = tmp_path / "in.mkv"
    make_video(src, 32, 24, 6)
    info = read_media_info(src)
    writer = VideoWriter(tmp_path / "out.mkv", info, EncodeConfig(codec="libx264"), "matroska")

    class Garbled:  # the stream, its packets edited
        def __init__(self, stream):
            self.stream = stream

        def encode(self, frame=None):
            packets = self.stream.encode(frame)
            garble(packets)
            return packets

    writer.stream = Garbled(writer.stream)
    step = round(1 / (24 * info.time_base))
    for k in range(6):
        y = np.full((24, 32), 60 + 20 * k, np.uint8)
        c = np.full((12, 16), 128, np.uint8)
        frame = build_frame(y, c, c, writer.plan, info.full_range, info.matrix)
        frame.pts, frame.time_base = k * step, info.time_base
        writer.write(frame)
    writer.close()
    with av.open(str(tmp_path / "out.mkv")) as c:
        return sorted(f.pts for f in c.decode(video=0)), step


def test_an_encoder_decode_timestamp_that_does_not_increase_is_moved_not_fatal(tmp_path, caplog):
    # The muxer refuses a decode timestamp that does not increase (EINVAL); the writer moves it
    # just past the previous one and warns, and every frame keeps its presentation time.
    seen: list[int] = []

    def stutter(packets):  # the third packet goes back in decode time
        for p in packets:
            if len(seen) == 2:
                p.dts = seen[-1] - 1
            seen.append(p.dts)

    pts, step = _write_six_frames(tmp_path, stutter)
    assert any("decode timestamp" in r.getMessage() for r in caplog.records)
    assert pts == [k * step for k in range(6)]


def test_a_first_decode_timestamp_after_its_presentation_time_is_moved_not_fatal(tmp_path, caplog):
    # Seen from 10-bit libx265's flush into Matroska: the first packet's decode timestamp is
    # uninitialised memory (~4.6e18), after its presentation time, and the muxer refused it
    # (EINVAL) twice in a row, failing the job. The writer moves it before the presentation time.
    first: list[int] = []

    def garbage_first(packets):
        for p in packets:
            if not first:
                p.dts = 4585208278950084816
                first.append(p.pts)

    pts, step = _write_six_frames(tmp_path, garbage_first)
    assert first and any("after presentation time" in r.getMessage() for r in caplog.records)
    assert pts == [k * step for k in range(6)]


def test_deferred_planes_are_made_in_order_and_their_errors_reach_the_caller(tmp_path):
    # Frames whose chroma planes are made in the encoder thread (AsyncWriter.write_deferred)
    # come out in order, as written; a failure there is raised in the caller at close().
    import av

    from vidcolor.config import EncodeConfig
    from vidcolor.encode import AsyncWriter, VideoWriter
    from vidcolor.probe import read_media_info

    src = tmp_path / "in.mp4"
    make_video(src, 32, 24, 4)
    info = read_media_info(src)
    writer = AsyncWriter(VideoWriter(tmp_path / "out.mp4", info, EncodeConfig(crf=0), "mp4"),
                         info.full_range, info.matrix)
    y = np.full((24, 32), 120, np.uint8)
    for k in range(4):
        level = np.full((12, 16), 100 + 20 * k, np.uint8)
        if k % 2:
            writer.write_deferred(y, lambda c=level: (c, c), k, Fraction(1, 24))
        else:
            writer.write(y, level, level, k, Fraction(1, 24))
    writer.close()
    with av.open(str(tmp_path / "out.mp4")) as c:
        got = [int(f.to_ndarray(format="yuv420p")[24:30].mean().round()) for f in c.decode(video=0)]
    assert got == [100, 120, 140, 160]

    def broken():
        raise ValueError("no planes")

    writer = AsyncWriter(VideoWriter(tmp_path / "bad.mp4", info, EncodeConfig(), "mp4"),
                         info.full_range, info.matrix)
    writer.write_deferred(y, broken, 0, Fraction(1, 24))
    with pytest.raises(ValueError, match="no planes"):
        writer.close()


@pytest.mark.parametrize("ext", [".mp4", ".mov"])
def test_every_frame_time_exact_after_the_anchor_split(tmp_path, random_weights, ext):
    # 12 fps in 1/12288: a segment that starts at a shot's anchor (not at 0) was placed by an
    # edit list counted in milliseconds, and it and every frame after it came out 4-8 ticks early.
    src = make_video(tmp_path / f"in{ext}", 48, 32, frames=40, rate=Fraction(12),
                     time_base=Fraction(1, 12288))
    assert run(src, tmp_path / f"out{ext}", random_weights, "--segment-frames", "16") == 0
    a, b = read_video(src), read_video(tmp_path / f"out{ext}")
    assert len(b["pts"]) == 40
    assert b["pts"] == a["pts"]
