"""Still-image mode: one photo, or every image in a folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import av
import cv2
import numpy as np

from vidcolor.colorize import FrameColorizer
from vidcolor.colorspace import rgb_to_luma
from vidcolor.errors import InputError, OutputError
from vidcolor.probe import IMAGE_SUFFIXES, check_input_file

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 64_000_000  # beyond this, memory would grow past a few GB: refuse up front
MIN_SIDE = 2
_8BIT_ONLY = frozenset({".jpg", ".jpeg", ".webp", ".bmp"})


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header, without decoding the pixels."""
    try:
        with av.open(str(path)) as c:
            if c.streams.video:
                ctx = c.streams.video[0].codec_context
                if ctx.width and ctx.height:
                    return ctx.width, ctx.height
    except (av.FFmpegError, UnicodeDecodeError):
        pass
    with path.open("rb") as fh:  # FFmpeg's probe gives up on very large PNGs: read IHDR
        head = fh.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    raise InputError(f"not an image vidcolor can read: {path}")


def read_image(path: Path) -> tuple[np.ndarray, int]:
    """Decode an image as RGB or gray with EXIF orientation applied; returns (pixels, max value).

    Raises:
        InputError: unreadable, too small or too large.
    """
    check_input_file(path)
    width, height = image_size(path)
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{path} is {width}x{height} ({width * height / 1e6:.0f} MP); vidcolor colorizes "
            f"still images up to {MAX_IMAGE_PIXELS / 1e6:.0f} MP: downscale or split it first"
        )
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{path} is {width}x{height}: too small to colorize")
    pixels = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if pixels is None:
        raise InputError(f"not an image vidcolor can read: {path}")
    if pixels.dtype == np.uint8:
        peak = 255
    elif pixels.dtype == np.uint16:
        peak = 65535
    else:
        raise InputError(f"{path}: {pixels.dtype} images are not supported (8- or 16-bit only)")
    if pixels.ndim == 3:
        pixels = np.ascontiguousarray(pixels[:, :, ::-1])
    return pixels, peak


def image_luma(pixels: np.ndarray, peak: int) -> np.ndarray:
    """Luma ``Y'`` ``(1, 1, H, W)`` float32 in 0..1 of gray ``(H, W)`` or RGB ``(H, W, 3)``."""
    x = pixels.astype(np.float32) / peak
    if x.ndim == 2:
        return x[None, None]
    return rgb_to_luma(x.transpose(2, 0, 1)[None])


def colorize_array(colorizer: FrameColorizer, pixels: np.ndarray, peak: int = 255) -> np.ndarray:
    """Colorize gray or RGB pixels; returns RGB of the same dtype and size."""
    rgb = colorizer.colorize_luma(image_luma(pixels, peak))[0].transpose(1, 2, 0)
    return (rgb * peak + 0.5).astype(pixels.dtype)


def write_image(path: Path, rgb: np.ndarray, overwrite: bool) -> None:
    """Write RGB atomically (temporary file beside ``path``, then rename); 16-bit where allowed."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(
            f"unsupported output extension {path.suffix!r} for an image; "
            f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass -y/--overwrite to replace it")
    if rgb.dtype == np.uint16 and suffix in _8BIT_ONLY:
        rgb = (rgb.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        ok = cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[:, :, ::-1]))
        if not ok:
            raise OutputError(f"cannot write {path}")
        os.replace(tmp, path)
    except cv2.error as e:
        raise OutputError(f"cannot write {path}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)


def colorize_image_file(colorizer: FrameColorizer, src: Path, dst: Path, overwrite: bool) -> None:
    """Colorize one image file into ``dst`` (format from its extension)."""
    pixels, peak = read_image(src)
    write_image(dst, colorize_array(colorizer, pixels, peak), overwrite)
