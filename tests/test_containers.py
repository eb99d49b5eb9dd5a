"""Every output container docs/formats.md lists: any number of segments, with and without audio.

Segments are joined by packet copy; Matroska and AVI store no decode times and AVI no times at
all, which broke every multi-segment render into them. Each case checks the frame count, every
frame's time (within the container's time base) and the audio's duration.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import make_video, read_video

from vidcolor.cli import main
from vidcolor.encode import DEFAULT_CODECS
from vidcolor.outputs import VIDEO_FORMATS

FRAMES = 18
RATE = Fraction(24)


def render(src: Path, dst: Path, weights: Path, *extra: str) -> int:
    return main([str(src), "-o", str(dst), "--weights", str(weights), "--render-size", "32",
                 "--preset", "ultrafast", "--crf", "35", "-q", "-y", *extra])


def frame_times(path: Path) -> list[Fraction]:
    """Each frame's time in seconds as the container gives it (AVI: its frame index / rate)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        if c.format.name == "avi":  # AVI stores only the order; the decode times count frames
            return sorted(p.dts * p.time_base for p in c.demux(s) if p.size)
        return [f.pts * Fraction(f.time_base) for f in c.decode(s)]


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        packets = [p for p in c.demux(c.streams.audio[0]) if p.size and p.pts is not None]
        last = packets[-1]
        return float((last.pts + (last.duration or 0)) * last.time_base)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {audio: make_video(folder / f"cut{int(audio)}.mp4", 32, 32, FRAMES, RATE, shots=2,
                              audio=audio) for audio in (False, True)}


@pytest.mark.parametrize("audio", [False, True], ids=["silent", "audio"])
@pytest.mark.parametrize("segments", [1, 3])
@pytest.mark.parametrize("ext", sorted(VIDEO_FORMATS))
def test_every_container(tmp_path, random_weights, clips, ext, segments, audio):
    src = clips[audio]
    # One segment: no temporal prior, so the cut makes none; three: a cut and a split shot.
    # The default preset: its B-frames (reordering) are what broke the seams; ultrafast has none.
    extra = ["--no-temporal"] if segments == 1 else ["--segment-frames", "6", "--preset", "medium"]
    dst = tmp_path / f"out{ext}"
    assert render(src, dst, random_weights, *extra) == 0
    out = read_video(dst)
    assert len(out["y"]) == FRAMES
    with av.open(str(dst)) as c:
        decoder = av.codec.Codec(c.streams.video[0].codec_context.name, "r")
        assert decoder.canonical_name == av.codec.Codec(
            DEFAULT_CODECS[VIDEO_FORMATS[ext]], "w").canonical_name
    times = frame_times(dst)
    expected = [i / RATE for i in range(FRAMES)]
    tolerance = Fraction(1, 1000)  # Matroska/WebM count milliseconds
    assert all(abs(a - b) <= tolerance for a, b in zip(times, expected, strict=True)), times
    if audio:
        assert abs(audio_seconds(dst) - audio_seconds(src)) < float(1 / RATE)
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_variable_frame_rate_across_segments(tmp_path, random_weights, ext):
    # Frame durations change at the seams: each segment's first decode time (one reorder delay
    # before its first frame, in its own durations) fell before the last one's (EINVAL in mp4).
    pts = [0, 10, 20, 30, 1030, 2030, 3030, 4030, 4040, 4050, 4060, 4070, 6070, 8070, 8080,
           9080]
    src = make_video(tmp_path / "vfr.mp4", 64, 48, frames=len(pts), pts=pts,
                     time_base=Fraction(1, 1000), shots=2)
    assert render(src, tmp_path / f"out{ext}", random_weights, "--segment-frames", "4",
                  "--preset", "medium") == 0  # B-frames: ultrafast has none
    out, ref = read_video(tmp_path / f"out{ext}"), read_video(src)
    assert out["pts"] == ref["pts"]
    # Every frame decodes to its own luma (segments interleaved by decode time did not).
    errors = [float(np.abs(a.astype(float) - b).mean()) for a, b in
              zip(out["y"], ref["y"], strict=True)]
    assert max(errors) < 12.0, errors  # crf 35 on 32x32: ~3-6; interleaved: 25-100


def test_mkv_resumed_equals_uninterrupted(tmp_path, random_weights, clips, monkeypatch):
    src = clips[True]
    whole, resumed = tmp_path / "whole.mkv", tmp_path / "resumed.mkv"
    assert render(src, whole, random_weights, "--segment-frames", "6") == 0
    monkeypatch.setenv("VIDCOLOR_FAIL_AT", "segment-write:2")
    with pytest.raises(OSError):
        render(src, resumed, random_weights, "--segment-frames", "6")
    monkeypatch.delenv("VIDCOLOR_FAIL_AT")
    assert not resumed.exists()
    assert render(src, resumed, random_weights, "--segment-frames", "6") == 0
    assert resumed.read_bytes() == whole.read_bytes()


@pytest.mark.parametrize("ext,codec", [(".webm", "libx264"), (".mp4", "ffv1-nonexistent")])
def test_codec_the_container_cannot_hold_is_a_usage_error(tmp_path, random_weights, clips, ext,
                                                         codec, capsys):
    dst = tmp_path / f"out{ext}"
    assert render(clips[False], dst, random_weights, "--codec", codec) == 2
    err = capsys.readouterr().err
    assert "vidcolor: error:" in err and "Traceback" not in err
    assert not dst.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("extra", [["--crf", "99"], ["--crf", "-1"], ["--preset", "warp"],
                                   ["--crf", "70", "-o", "x.webm"]])
def test_encoder_option_out_of_range_is_a_usage_error(tmp_path, random_weights, clips, extra,
                                                      capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dst = tmp_path / "out.mp4"
    assert render(clips[False], dst, random_weights, *extra) == 2
    err = capsys.readouterr().err
    assert "range" in err or "is not one of" in err
    assert not list(tmp_path.iterdir())
