"""Keyframe-guided colorization: a user's colour image of one frame steers its whole shot.

In a shot with a keyframe at frame ``k``, the keyframe's chroma is the prior of frame ``k``
at confidence 1; the temporal prior then carries it forward to the end of the shot and, in a
pass over the shot's earlier frames in reverse order, backward to its start. The reverse pass
runs before the render, on working-resolution luma, and keeps its chroma on disk (memory maps
in the job folder), so memory stays bounded for any shot length.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcolor.colorize import FrameColorizer, plane_to_luma
from vidcolor.colorspace import rgb_to_lab
from vidcolor.decode import iter_frames
from vidcolor.encode import luma_plane
from vidcolor.errors import InputError
from vidcolor.image import image_luma, read_image
from vidcolor.probe import IMAGE_SUFFIXES, MediaInfo
from vidcolor.resample import resize_area
from vidcolor.scan import ScanResult, parse_timecode

log = logging.getLogger(__name__)

# The names --preview writes: shot-0001_00-01-23.456.png (the gray companion ends in _gray).
PREVIEW_NAME = re.compile(r"^shot-(\d+)_(\d{2}-\d{2}-\d{2}\.\d{3})$")
MIN_CORRELATION = 0.5  # keyframe luma vs frame luma, on thumbnails


def find_keyframes(folder: Path | None, specs: list[str], scan: ScanResult) -> dict[int, Path]:
    """Frame index -> image of every keyframe given by a folder of preview names or FRAME=PATH.

    Raises:
        InputError: a missing folder or file, a malformed spec, or a frame outside the video.
    """
    found: dict[int, Path] = {}
    if folder is not None:
        if not folder.is_dir():
            raise InputError(f"--keyframes needs a folder: {folder}")
        for path in sorted(folder.iterdir()):
            match = PREVIEW_NAME.match(path.stem)
            if match is None or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            found[scan.frame_at(parse_timecode(match.group(2)))] = path
        if not found and not specs:
            raise InputError(
                f"no keyframes in {folder}: expected images named like the preview's "
                "(shot-0001_00-00-01.000.png)"
            )
    for spec in specs:
        frame_text, sep, path_text = spec.partition("=")
        if not sep or not frame_text.strip().isdigit():
            raise InputError(f"--keyframe takes FRAME=PATH, not {spec!r}")
        path = Path(path_text)
        if not path.is_file():
            raise InputError(f"keyframe image not found: {path}")
        found[int(frame_text)] = path
    for frame, path in found.items():
        if frame >= scan.frames:
            raise InputError(f"keyframe {path.name} is for frame {frame}, but the video has "
                             f"{scan.frames} frames")
    return found


def _thumb(luma: np.ndarray) -> np.ndarray:
    return cv2.resize(luma.astype(np.float32), (64, 36), interpolation=cv2.INTER_AREA).ravel()


def keyframe_chroma(path: Path, y_plane: np.ndarray, full_range: bool,
                    size: tuple[int, int]) -> np.ndarray:
    """Lab chroma ``(1, 2, h, w)`` of a keyframe image, at the working ``size``.

    The image is resized to the frame's size when it differs, and refused when its luminance
    does not match the frame's (the wrong frame, or another film).

    Raises:
        InputError: unreadable, or its luminance does not match the frame.
    """
    pixels, peak = read_image(path)
    if pixels.ndim == 2:
        raise InputError(f"keyframe {path} is grayscale: give a colour image of the frame")
    h, w = y_plane.shape
    if pixels.shape[:2] != (h, w):
        pixels = cv2.resize(pixels, (w, h), interpolation=cv2.INTER_AREA)
    luma = image_luma(pixels, peak)
    frame_luma = plane_to_luma(y_plane, full_range)
    a, b = _thumb(luma[0, 0]), _thumb(frame_luma[0, 0])
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-4 and b.std() > 1e-4 else 0.0
    if corr < MIN_CORRELATION:
        raise InputError(
            f"keyframe {path.name} does not match its frame (luminance correlation {corr:.2f}): "
            "is it an image of that frame?"
        )
    rgb = (pixels.astype(np.float32) / peak).transpose(2, 0, 1)[None]
    return resize_area(rgb_to_lab(rgb)[:, 1:], size)


@dataclass
class _KeyShot:
    first: int
    key: int
    path: Path
    ab: np.ndarray | None = None  # the keyframe's chroma (working size)
    before: np.ndarray | None = None  # memmap (key - first, 2, h, w) float16: reverse pass


class KeyframePlan:
    """Keyframes of a render: the reverse pass before it, and per-frame chroma during it."""

    def __init__(self, keyframes: dict[int, Path], scan: ScanResult) -> None:
        self.shots: dict[int, _KeyShot] = {}
        for first, last in scan.shots():
            keys = sorted(k for k in keyframes if first <= k <= last)
            if not keys:
                continue
            if len(keys) > 1:
                log.warning("shot at frame %d has %d keyframes: using the one at frame %d",
                            first, len(keys), keys[0])
            self.shots[first] = _KeyShot(first, keys[0], keyframes[keys[0]])
        self._by_frame = {s.key: s for s in self.shots.values()}

    def __bool__(self) -> bool:
        return bool(self.shots)

    def prepare(self, src: Path, info: MediaInfo, colorizer: FrameColorizer,
                work: Path) -> None:
        """Read the keyframes and run the reverse pass of every keyframe shot.

        Frames from each shot's start to its keyframe are decoded once more (to working-size
        luma, on disk); then the shot is colorized from the keyframe backwards.
        """
        if self.shots:
            planes = (luma_plane(f) for f in iter_frames(src, stream_index=info.stream_index))
            self.prepare_planes(planes, info.full_range, colorizer, work)

    def prepare_planes(self, planes: Iterable[np.ndarray], full_range: bool,
                       colorizer: FrameColorizer, work: Path) -> None:
        """:meth:`prepare` from the video's 8-bit ``Y'`` planes, in order."""
        if not self.shots:
            return
        last_needed = max(s.key for s in self.shots.values())
        lumas: dict[int, np.ndarray] = {}
        for index, y in enumerate(planes):
            if index > last_needed:
                break
            shot = self._shot_of(index)
            if shot is None:
                continue
            small = colorizer.working_luma(plane_to_luma(y, full_range))
            size = tuple(small.shape[-2:])
            if index == shot.key:
                shot.ab = keyframe_chroma(shot.path, y, full_range, size)
            store = lumas.get(shot.first)
            if store is None:
                store = np.lib.format.open_memmap(
                    work / f"luma-{shot.first}.npy", "w+", np.float16,
                    (shot.key - shot.first + 1, *size))
                lumas[shot.first] = store
            store[index - shot.first] = small[0, 0]
        for shot in self.shots.values():
            store = lumas[shot.first]
            shot.before = np.lib.format.open_memmap(
                work / f"chroma-{shot.first}.npy", "w+", np.float16,
                (shot.key - shot.first, 2, *store.shape[1:]))
            colorizer.new_shot()
            colorizer.start_from_keyframe(shot.ab)
            for j in range(shot.key, shot.first - 1, -1):
                small = store[j - shot.first].astype(np.float32)[None, None]
                ab = colorizer.predict_working(small)
                if j < shot.key:
                    shot.before[j - shot.first] = ab[0]
            colorizer.new_shot()
            log.info("keyframe %s: frame %d, %d frames before it colorized in reverse",
                     shot.path.name, shot.key, shot.key - shot.first)

    def _shot_of(self, index: int) -> _KeyShot | None:
        for shot in self.shots.values():
            if shot.first <= index <= shot.key:
                return shot
        return None

    def chroma(self, index: int, colorizer: FrameColorizer) -> np.ndarray | None:
        """Chroma of frame ``index`` if the reverse pass made it, else ``None``.

        At a keyframe, primes ``colorizer`` so the frame follows the keyframe (and the rest of
        the shot follows it forward).
        """
        shot = self._shot_of(index)
        if shot is None:
            return None
        if index == shot.key:
            colorizer.new_shot()
            colorizer.start_from_keyframe(shot.ab)
            return None
        return shot.before[index - shot.first].astype(np.float32)[None]
