"""Keyframes: a user's colour image of one frame steers its whole shot.

A shot with a keyframe at frame ``k`` is anchored there instead of at its preview frame: the
keyframe's chroma is the prior of frame ``k`` at confidence 1, and the render carries it outward
through the shot, forward to its end and backward to its start (:mod:`vidcolor.render`).

A preview folder given as ``--keyframes`` may hold stills the user did not touch: a still whose
pixels are still those the preview wrote (``shots.json`` keeps their digest) is not a keyframe;
its shot is rendered as it would be without ``--keyframes``, which is what that still shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import cv2
import numpy as np

from vidcolor.colorspace import rgb_to_lab
from vidcolor.errors import InputError
from vidcolor.image import image_luma, read_image
from vidcolor.planes import plane_to_luma
from vidcolor.probe import IMAGE_SUFFIXES
from vidcolor.resample import resize_area
from vidcolor.scan import ScanResult, parse_timecode

log = logging.getLogger(__name__)

# The names --preview writes: shot-0001_00-01-23.456.png (the gray companion ends in _gray).
PREVIEW_NAME = re.compile(r"^shot-(\d+)_(\d{2}-\d{2}-\d{2}\.\d{3})$")
MIN_CORRELATION = 0.5  # keyframe luma vs frame luma, on thumbnails


def pixel_digest(pixels: np.ndarray) -> str:
    """sha256 of an image's pixels (and shape): the same for any file that decodes to them."""
    digest = hashlib.sha256(repr((pixels.shape, str(pixels.dtype))).encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


def _untouched(path: Path, written: dict[str, str]) -> bool:
    """Whether ``path`` still holds the pixels the preview wrote there."""
    if path.name not in written:
        return False
    try:
        pixels, _ = read_image(path)
    except InputError:
        return False
    return pixel_digest(pixels) == written[path.name]


def _preview_digests(folder: Path) -> dict[str, str]:
    """Image name -> pixel digest of the stills a preview wrote into ``folder`` (if any)."""
    try:
        shots = json.loads((folder / "shots.json").read_text(encoding="utf-8"))["shots"]
        return {s["image"]: s["image_pixels_sha256"] for s in shots
                if "image_pixels_sha256" in s}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def find_keyframes(folder: Path | None, specs: list[str], scan: ScanResult) -> dict[int, Path]:
    """Frame index -> image of every keyframe given by a folder of preview names or FRAME=PATH.

    In a folder, stills the preview wrote and nobody changed are left out (their shots render
    as without keyframes).

    Raises:
        InputError: a missing folder or file, a malformed spec, or a frame outside the video.
    """
    found: dict[int, Path] = {}
    if folder is not None:
        if not folder.is_dir():
            raise InputError(f"--keyframes needs a folder: {folder}")
        written = _preview_digests(folder)
        candidates = 0
        for path in sorted(folder.iterdir()):
            match = PREVIEW_NAME.match(path.stem)
            if match is None or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            candidates += 1
            if _untouched(path, written):
                continue
            found[scan.frame_at(parse_timecode(match.group(2)))] = path
        if candidates and not found:
            log.info("no still in %s was changed since the preview: no keyframes", folder)
        if not candidates and not specs:
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
