"""The evaluations' gray copies of real clips (vidcolor.lab.clips.gray_video)."""

from fractions import Fraction

import av
import numpy as np

from tests.media import make_video
from vidcolor.lab.clips import gray_video
from vidcolor.planes import luma_plane


def _planes(path):
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return ([luma_plane(f) for f in frames], [f.pts for f in frames],
                [f.to_ndarray(format="yuv420p")[f.height:] for f in frames])


def test_gray_copy_keeps_every_code_and_time(tmp_path):
    src = make_video(tmp_path / "a.mp4", 64, 48, 9)
    ys, pts, _ = _planes(src)
    out_ys, out_pts, chroma = _planes(gray_video([src], tmp_path / "g.mp4", crf=0))
    assert out_pts == pts
    # Lossless: the very codes, not squeezed into 16..235 as a "gray" picture would be.
    for a, b in zip(ys, out_ys, strict=True):
        assert np.array_equal(a, b)
    assert all(np.all(c == 128) for c in chroma)


def test_gray_join_renumbers_frames_at_the_rate(tmp_path):
    a = make_video(tmp_path / "a.mp4", 64, 48, 5)
    b = make_video(tmp_path / "b.mp4", 64, 48, 7)
    ys, pts, _ = _planes(gray_video([a, b], tmp_path / "j.mp4", crf=0, rate=25))
    with av.open(str(tmp_path / "j.mp4")) as c:
        tb = c.streams.video[0].time_base
    assert len(ys) == 12
    assert [p * tb for p in pts] == [Fraction(i, 25) for i in range(12)]
    assert np.array_equal(ys[5], _planes(b)[0][0])
