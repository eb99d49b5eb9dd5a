"""A shot's own reference photo: a colour image in its preview folder, ``shot-0007.reference.jpg``.

The render finds them in the preview folder it is given (``--keyframes DIR``, or the folder of
``--hints``); the hints page saves one dropped on a shot, and removes it. A shot has one: saving
replaces an earlier reference of the shot whatever its extension, so the render never has two
to choose from. The file is saved as it came (its bytes, so a job names its sha256), with the
extension of what it holds, and only once it has been read as a colour image.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from vidcolor.atomic import atomic_path, fsync_dir
from vidcolor.config import JobConfig
from vidcolor.errors import InputError
from vidcolor.image import read_reference
from vidcolor.probe import IMAGE_SUFFIXES

PATTERN = re.compile(r"^shot-(\d+)\.reference$")  # the stem of shot-0007.reference.jpg
MAX_BYTES = 32 << 20  # a dropped reference's file
THUMBNAIL = 480  # the longer side of the picture the page shows
KINDS = "PNG, JPEG, WebP, TIFF or BMP"


def shot_reference_files(cfg: JobConfig) -> dict[int, Path]:
    """Shot number -> its own reference photo, in the preview folder a render is given.

    That folder is ``--keyframes DIR``, or the folder of ``--hints``.
    """
    folders = {f for f in (cfg.keyframes_dir, cfg.hints.parent if cfg.hints else None)
               if f is not None and f.is_dir()}
    found: dict[int, Path] = {}
    for folder in sorted(folders):
        for number, path in shot_references(folder).items():
            found.setdefault(number, path)
    return found


def shot_references(folder: Path) -> dict[int, Path]:
    """Shot number (1-based, as the preview numbers them) -> its reference photo in ``folder``.

    Where a shot has several (put there by hand), the first by name counts.
    """
    found: dict[int, Path] = {}
    for number, path in _reference_files(folder):
        found.setdefault(number, path)
    return found


def _reference_files(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        match = PATTERN.match(path.stem)
        if match and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            out.append((int(match.group(1)), path))
    return out


def image_suffix(data: bytes) -> str | None:
    """The extension of the image format ``data`` holds (by its first bytes), or ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if data.startswith(b"BM"):
        return ".bmp"
    return None


def save_reference(folder: Path, number: int, data: bytes, name: str = "the file") -> Path:
    """Make ``data`` (an image file's bytes) shot ``number``'s reference; returns its path.

    Written atomically, read back as a colour image before it replaces anything; then any other
    reference of the shot (another extension) is removed.

    Raises:
        InputError: too large, not an image, unreadable or gray (one line naming ``name``);
            nothing is saved then.
    """
    if len(data) > MAX_BYTES:
        raise InputError(f"{name} is {len(data) / 2**20:.0f} MB: a reference may be at most "
                         f"{MAX_BYTES >> 20} MB")
    suffix = image_suffix(data)
    if suffix is None:
        raise InputError(f"{name} is not an image vidcolor can read ({KINDS})")
    target = folder / f"shot-{number:04d}.reference{suffix}"
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
        try:
            read_reference(tmp)
        except InputError as e:
            raise InputError(str(e).replace(str(tmp), name)) from None
    for n, other in _reference_files(folder):
        if n == number and other != target:
            other.unlink(missing_ok=True)
    fsync_dir(folder)
    return target


def remove_reference(folder: Path, number: int) -> bool:
    """Remove shot ``number``'s reference (any extension); whether there was one."""
    gone = [path for n, path in _reference_files(folder) if n == number]
    for path in gone:
        path.unlink(missing_ok=True)
    if gone:
        fsync_dir(folder)
    return bool(gone)


def thumbnail(path: Path, side: int = THUMBNAIL) -> bytes:
    """The reference at ``path`` as a PNG, its longer side at most ``side`` (for the page).

    Raises:
        InputError: it cannot be read as a colour image.
    """
    rgb = read_reference(path)
    scale = side / max(rgb.shape[:2])
    if scale < 1:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    bgr = (np.clip(rgb[:, :, ::-1], 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, png = cv2.imencode(".png", bgr)
    if not ok:
        raise InputError(f"cannot show the reference {path.name}")
    return png.tobytes()
