"""Bad input: one clear line, exit 1, no file at the output path, the input untouched."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from media import make_video, read_video

from vidcolor.cli import main


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def expect_error(capsys, monkeypatch, src: Path, dst: Path, weights: Path, needle: str) -> None:
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    before = digest(src)
    code = main([str(src), "-o", str(dst), "--weights", str(weights), "--render-size", "64", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("vidcolor: error: "), err
    assert needle in err[0], err[0]
    assert "Traceback" not in err[0]
    assert not dst.exists() or (dst.is_dir() and src.is_dir())
    assert digest(src) == before
    leftovers = [p.name for p in dst.parent.iterdir() if ".partial" in p.name or "job" in p.name]
    assert leftovers == []


def test_missing_file(tmp_path, capsys, monkeypatch, random_weights):
    expect_error(capsys, monkeypatch, tmp_path / "nope.mp4", tmp_path / "o.mp4", random_weights,
                 "not found")


def test_folder_where_a_file_is_expected(tmp_path, capsys, monkeypatch, random_weights):
    (tmp_path / "dir").mkdir()
    expect_error(capsys, monkeypatch, tmp_path / "dir", tmp_path / "o.mp4", random_weights,
                 "is a folder")


def test_empty_file(tmp_path, capsys, monkeypatch, random_weights):
    (tmp_path / "e.mp4").write_bytes(b"")
    expect_error(capsys, monkeypatch, tmp_path / "e.mp4", tmp_path / "o.mp4", random_weights,
                 "empty")


def test_text_file_named_mp4(tmp_path, capsys, monkeypatch, random_weights):
    (tmp_path / "t.mp4").write_text("this is not a video\n" * 50)
    expect_error(capsys, monkeypatch, tmp_path / "t.mp4", tmp_path / "o.mp4", random_weights,
                 "not a video file")


def test_truncated_mp4_without_index(tmp_path, capsys, monkeypatch, random_weights):
    src = make_video(tmp_path / "in.mp4", frames=30)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: now missing
    expect_error(capsys, monkeypatch, src, tmp_path / "o.mp4", random_weights, "not a video file")


def test_truncated_mkv_colorizes_what_decodes(tmp_path, random_weights, caplog):
    src = make_video(tmp_path / "in.mkv", 96, 64, frames=40)
    data = src.read_bytes()
    src.write_bytes(data[: int(len(data) * 0.6)])
    decodable = len(read_video(src)["y"])
    assert 0 < decodable < 40
    dst = tmp_path / "o.mkv"
    assert main([str(src), "-o", str(dst), "--weights", str(random_weights), "--render-size",
                 "64", "-q"]) == 0
    assert len(read_video(dst)["y"]) == decodable


def _zeroed_first_keyframe(path: Path) -> int:
    """Zero the first packet (a keyframe) of ``path``; returns the frames that still decode."""
    with av.open(str(path)) as c:
        first = next(p for p in c.demux(video=0) if p.size)
        start, size = first.pos, first.size
    data = bytearray(path.read_bytes())
    data[start:start + size] = bytes(size)
    path.write_bytes(bytes(data))
    decoded = 0
    with av.open(str(path)) as c:
        for packet in c.demux(video=0):
            with contextlib.suppress(av.InvalidDataError):  # as FFmpeg's command line does
                decoded += len(packet.decode())
    return decoded


def test_a_damaged_first_packet_is_a_loss_not_a_refusal(tmp_path, random_weights, caplog):
    # The probe decoded the first frame without the passes' tolerance: a rejected first packet
    # refused the whole film ("cannot decode the video in ...") although 30 of 40 frames decode.
    src = make_video(tmp_path / "in.mp4", 96, 64, frames=40, gop=10)
    decodable = _zeroed_first_keyframe(src)
    assert 0 < decodable < 40
    before = src.read_bytes()
    dst = tmp_path / "o.mp4"
    assert main([str(src), "-o", str(dst), "--weights", str(random_weights), "--render-size",
                 "64", "-q"]) == 0
    assert len(read_video(dst)["y"]) == decodable
    assert any("damaged" in r.getMessage() for r in caplog.records)
    assert main([str(src), "--preview", str(tmp_path / "p"), "--weights", str(random_weights),
                 "--render-size", "64", "-q"]) == 0
    assert list((tmp_path / "p").glob("shot-*.png"))
    assert src.read_bytes() == before


def test_audio_only_file(tmp_path, capsys, monkeypatch, random_weights):
    src = tmp_path / "a.m4a"
    with av.open(str(src), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=48000)
        for i in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
            f.sample_rate, f.pts = 48000, i * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    expect_error(capsys, monkeypatch, src, tmp_path / "o.mp4", random_weights, "no video stream")


def test_audio_with_cover_art_is_not_a_video(tmp_path, capsys, monkeypatch, random_weights):
    src = tmp_path / "song.m4a"
    with av.open(str(src), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=48000)
        a.layout = "mono"
        v = c.add_stream("png")
        v.width, v.height, v.pix_fmt = 16, 16, "rgb24"
        v.disposition = av.stream.Disposition.attached_pic
        cover = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        cover.pts = 0
        for p in [*v.encode(cover), *v.encode(None)]:
            c.mux(p)
        for i in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
            f.sample_rate, f.pts = 48000, i * 1024
            for p in a.encode(f):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    expect_error(capsys, monkeypatch, src, tmp_path / "o.mp4", random_weights, "no video stream")


def test_zero_frame_video(tmp_path, capsys, monkeypatch, random_weights):
    src = tmp_path / "z.avi"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(24))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        c.start_encoding()  # header with a video stream, then no packets at all
        for p in s.encode(None):
            c.mux(p)
    expect_error(capsys, monkeypatch, src, tmp_path / "o.mp4", random_weights, "no frames")


def test_unsupported_output_extension(tmp_path, capsys, monkeypatch, random_weights):
    src = make_video(tmp_path / "in.mp4", frames=3)
    expect_error(capsys, monkeypatch, src, tmp_path / "o.xyz", random_weights,
                 "unsupported output extension")


def test_unwritable_output_folder(tmp_path, capsys, monkeypatch, random_weights):
    src = make_video(tmp_path / "in.mp4", frames=3)
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    code = main([str(src), "-o", "/proc/vidcolor-out.mp4", "--weights", str(random_weights), "-q"])
    assert code == 1
    assert "not writable" in capsys.readouterr().err


def test_missing_output_folder(tmp_path, capsys, monkeypatch, random_weights):
    src = make_video(tmp_path / "in.mp4", frames=3)
    dst = tmp_path / "no" / "such" / "o.mp4"
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    assert main([str(src), "-o", str(dst), "--weights", str(random_weights), "-q"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_output_equal_to_input(tmp_path, capsys, monkeypatch, random_weights):
    src = make_video(tmp_path / "in.mp4", frames=3)
    before = digest(src)
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    assert main([str(src), "-o", str(src), "-y", "--weights", str(random_weights), "-q"]) == 1
    assert "may not be the input" in capsys.readouterr().err
    assert digest(src) == before


def test_existing_output_needs_overwrite(tmp_path, capsys, monkeypatch, random_weights):
    src = make_video(tmp_path / "in.mp4", frames=3)
    dst = tmp_path / "o.mp4"
    dst.write_bytes(b"keep me")
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    assert main([str(src), "-o", str(dst), "--weights", str(random_weights), "-q"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert dst.read_bytes() == b"keep me"


def test_one_pixel_image(tmp_path, capsys, monkeypatch, random_weights):
    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((1, 1), np.uint8))
    expect_error(capsys, monkeypatch, tmp_path / "p.png", tmp_path / "o.png", random_weights,
                 "too small")


def test_huge_image_fails_fast(tmp_path, capsys, monkeypatch, random_weights):
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((16384, 16384), np.uint8))
    expect_error(capsys, monkeypatch, tmp_path / "big.png", tmp_path / "o.png", random_weights,
                 "downscale")


def test_usage_error_exit_2(capsys):
    assert main(["--no-such-option"]) == 2


def test_version_says_what_a_bug_report_needs(capsys):
    from vidcolor.weights import WEIGHTS_SHA256

    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("vidcolor ")
    assert f"weights: {WEIGHTS_SHA256[:12]}" in out
    assert "onnxruntime " in out and "CPUExecutionProvider" in out
    assert "torch " in out and ("no CUDA" in out or "CUDA " in out)


def test_missing_shipped_weights_is_a_model_error_not_a_fallback(tmp_path, monkeypatch, capsys):
    import vidcolor.weights

    monkeypatch.setattr(vidcolor.weights, "models_dir", lambda: tmp_path / "nothing-here")
    monkeypatch.delenv("VIDCOLOR_DEBUG")
    src = tmp_path / "g.png"
    cv2.imwrite(str(src), np.full((32, 32), 120, np.uint8))
    assert main([str(src), "-o", str(tmp_path / "o.png"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shipped weights are missing" in err[0], err
    assert "--weights" in err[0]
    assert not (tmp_path / "o.png").exists()


def test_package_data_holds_the_weights():
    from vidcolor.export import SHIPPED_ONNX
    from vidcolor.weights import WEIGHTS_NAME, models_dir, verify_weights

    folder = models_dir()
    assert folder.parent.name == "vidcolor"  # inside the package, not beside it
    for name in (WEIGHTS_NAME, WEIGHTS_NAME + ".sha256", SHIPPED_ONNX):
        assert (folder / name).is_file(), name
    assert verify_weights().path == folder / WEIGHTS_NAME


def test_damaged_film_with_frames_out_of_order_is_colorized(tmp_path, random_weights, caplog):
    """The issue's case: the sample with 200 bytes flipped decodes frames out of order."""
    import random

    data = bytearray((Path(__file__).parents[1] / "samples" / "film.mp4").read_bytes())
    rng = random.Random(1)
    for _ in range(200):
        data[rng.randrange(5000, len(data))] ^= 0xFF
    src = tmp_path / "corrupt.mp4"
    src.write_bytes(bytes(data))
    dst = tmp_path / "o.mkv"
    assert main([str(src), "-o", str(dst), "--weights", str(random_weights), "--render-size",
                 "32", "--preset", "ultrafast", "-q"]) == 0
    pts = read_video(dst)["pts"]
    assert len(pts) == 114  # every frame that decodes
    assert all(a < b for a, b in itertools.pairwise(pts))
    assert "frame times repeated or went back" in caplog.text


def test_presentation_order_keeps_own_times_and_repairs_repeats():
    from types import SimpleNamespace

    from vidcolor.decode import DecodeStats, presentation_order

    decoded = [0, 1, 2, 4, 3, 6, 5, 5, 7, 20, 8, 9]
    stats = DecodeStats()
    frames = [SimpleNamespace(pts=p * 10) for p in decoded]
    out = [f.pts for f in presentation_order(iter(frames), 5, stats)]
    assert out == [0, 10, 20, 30, 40, 50, 55, 60, 70, 80, 90, 200]
    assert stats.repaired_times == 1



@pytest.mark.parametrize("option,value", [("--saturation", "-1"), ("--threads", "-2"),
                                          ("--shot-sensitivity", "7"), ("--preview-clips", "-3"),
                                          ("--saturation", "lots")])
def test_numeric_option_out_of_range_is_a_usage_error(tmp_path, option, value, capsys):
    assert main([str(tmp_path / "in.mp4"), "-o", str(tmp_path / "o.mp4"), option, value]) == 2
    assert f"argument {option}" in capsys.readouterr().err
