"""One-shot clips for the video evaluations: read, made gray, colorized as the render does it.

Shared by ``scripts/evaluate_video.py``, ``scripts/video_studies.py``,
``scripts/evaluate_reference.py``, ``scripts/propagation_figure.py`` and ``scripts/bench.py``:
a clip's ``Y'`` planes and true frames (:func:`read_clip`), the frame its shot is anchored at
(:func:`anchor_of`), the shot colorized in-process with the render's frame building
(:func:`colorize`), and gray copies of real clips for the CLI (:func:`gray_video`,
:func:`gray_frame`).
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from vidcolor.colorize import FrameColorizer
from vidcolor.colorspace import rgb_to_lab
from vidcolor.encode import PixelPlan, build_frame, plan_pixels
from vidcolor.lab.hint_sampling import sample_hints
from vidcolor.planes import luma_plane, plane_to_luma
from vidcolor.reference import ReferenceSet
from vidcolor.resample import resize_area
from vidcolor.scan import ScanResult, frame_stats, representative_frame
from vidcolor.shot import AnchorInputs, shot_chroma


def read_clip(path: Path, limit: int) -> tuple[list[np.ndarray], list[np.ndarray], bool, str]:
    """Y' planes and true RGB frames of a clip, plus its range and matrix."""
    ys, rgbs = [], []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            ys.append(luma_plane(frame))
            rgbs.append(frame.to_ndarray(format="rgb24"))
            if len(ys) == limit:
                break
        full = int(frame.color_range) == 2
    return ys, rgbs, full, "bt709" if frame.height >= 720 else "bt601"


def anchor_of(ys: list[np.ndarray]) -> int:
    """The frame a one-shot clip is anchored at: the render's (and the preview's) choice."""
    stats = np.array([frame_stats(y) for y in ys], np.float32)
    scan = ScanResult(cuts=[], frames=len(ys), times=np.arange(len(ys), dtype=np.float64),
                      mean=stats[:, 0], std=stats[:, 1], sharpness=stats[:, 2])
    return representative_frame(scan, 0, len(ys) - 1)


def colorize(colorizer: FrameColorizer, ys: list[np.ndarray], full: bool, matrix: str,
             key: tuple[int, np.ndarray] | None = None,
             hinted: tuple[int, np.ndarray, int, np.ndarray | None] | None = None,
             key_ab: tuple[int, np.ndarray] | None = None,
             reference: tuple[int, np.ndarray] | None = None,
             references: ReferenceSet | None = None) -> list[np.ndarray]:
    """A one-shot clip colorized as the render does it (anchored, when temporal), as RGB.

    ``key``: a keyframe (frame index, RGB image) to anchor the shot at instead; ``hinted``:
    (frame index, its true RGB, K, the automatic RGB of that frame or None): K hints taken from
    that frame's truth anchor it, where the automatic result is most wrong when it is given
    (as a user places them), else at the largest regions of one true colour. ``key_ab``: a
    keyframe given as working-size chroma (frame index, ``(1, 2, h, w)``); ``reference``: the
    prior of reference photos for the anchor frame (frame index, ``(1, 3, h, w)``), and
    ``references`` the photos themselves (matched again at the shot's re-anchoring frames).
    """
    h, w = ys[0].shape
    plan = plan_pixels("libx264", w, h)
    chroma: list[np.ndarray | None] = [None] * len(ys)
    if colorizer.temporal is not None:
        lumas = [plane_to_luma(y, full) for y in ys]
        anchor, key_chroma, hints = anchor_of(ys), None, ()
        if hinted is not None:
            anchor = hinted[0]
            hints = tuple(sample_hints(hinted[1], hinted[2], auto=hinted[3]))
        if key is not None:
            anchor = key[0]
            small = colorizer.working_luma(lumas[anchor])
            rgb = key[1].astype(np.float32).transpose(2, 0, 1)[None] / 255.0
            key_chroma = resize_area(rgb_to_lab(rgb)[:, 1:], small.shape[-2:])
        if key_ab is not None:
            anchor, key_chroma = key_ab
        ref_prior = None
        if reference is not None:
            anchor, ref_prior = reference
        chroma = list(shot_chroma(colorizer, lumas, anchor,
                                  AnchorInputs(key_chroma, hints, ref_prior), references))
    out = []
    for y, ab in zip(ys, chroma, strict=True):
        cb, cr = colorizer.chroma_planes(y, full, matrix, plan.subsample, ab)
        out.append(build_frame(y, cb, cr, plan, full, matrix).to_ndarray(format="rgb24"))
    return out


def gray_video(clips: list[Path], out: Path, crf: int, preset: str = "medium",
               rate: int | None = None) -> Path:
    """The ``Y'`` planes of ``clips`` (chroma dropped) joined end to end as H.264 in ``out``.

    Each ``Y'`` code is kept as it is (an 8-bit source; the range tag of the frame); a gray
    picture handed to swscale instead is taken as full range and squeezed into 16..235.

    ``rate``: the frames renumbered at this many per second; ``None`` (one clip): the clip's
    own frame times kept.
    """
    if rate is None and len(clips) != 1:
        raise ValueError("joining clips needs a rate")
    with av.open(str(out), "w") as dst:
        stream, n = None, 0
        for clip in clips:
            with av.open(str(clip)) as src:
                vin = src.streams.video[0]
                for frame in src.decode(vin):
                    if stream is None:
                        stream = dst.add_stream("libx264", rate=rate or vin.average_rate)
                        stream.width, stream.height, stream.pix_fmt = \
                            frame.width, frame.height, "yuv420p"
                        if rate is None:
                            stream.time_base = vin.time_base
                        stream.codec_context.options = {"crf": str(crf), "preset": preset}
                        plan = plan_pixels("libx264", frame.width, frame.height)
                    g = gray_frame(luma_plane(frame), plan, int(frame.color_range) == 2)
                    if rate is None:
                        g.pts, g.time_base = frame.pts, frame.time_base
                    else:
                        g.pts = n
                    n += 1
                    dst.mux(stream.encode(g))
        if stream is not None:
            dst.mux(stream.encode(None))
    return out


def gray_frame(y: np.ndarray, plan: PixelPlan, full_range: bool,
               matrix: str = "bt601") -> av.VideoFrame:
    """An encoder-ready frame of 8-bit ``Y'`` plane ``y`` with neutral chroma, built by ``plan``.

    What a gray copy is made of, and what the I/O floor of ``scripts/bench.py`` encodes.
    """
    h, w = y.shape
    sx, sy = plan.subsample
    neutral = np.full(((h + sy) >> sy, (w + sx) >> sx), 128, np.uint8)
    return build_frame(y, neutral, neutral, plan, full_range, matrix)
