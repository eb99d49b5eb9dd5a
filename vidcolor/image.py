"""Still-image mode: one photo, or every image in a folder."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from vidcolor.atomic import atomic_path
from vidcolor.colorize import FrameColorizer
from vidcolor.colorspace import rgb_to_luma
from vidcolor.errors import InputError, OutputError
from vidcolor.probe import IMAGE_SUFFIXES, check_input_file
from vidcolor.reference import ReferenceSet, encoder_features, is_gray
from vidcolor.shot import AnchorInputs, anchor_frame
from vidcolor.weights import sha256_of

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 64_000_000  # beyond this, memory would grow past a few GB: refuse up front
MIN_SIDE = 2
_8BIT_ONLY = frozenset({".jpg", ".jpeg", ".webp", ".bmp"})
_ALPHA = frozenset({".png", ".webp", ".tif", ".tiff"})


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


def read_image(path: Path, alpha: bool = False) -> tuple[np.ndarray, int]:
    """Decode an image as RGB or gray with EXIF orientation applied; returns (pixels, max value).

    With ``alpha``, an image with an alpha channel comes back RGBA ``(H, W, 4)``.

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
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    pixels = cv2.imread(str(path), flags)
    if pixels is None:
        raise InputError(f"not an image vidcolor can read: {path}")
    if alpha and path.suffix.lower() in _ALPHA:
        # Read again with the alpha channel (IMREAD_UNCHANGED skips EXIF orientation); only the
        # formats that can hold one are decoded twice.
        full = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if full is not None and full.ndim == 3 and full.shape[2] == 4 \
                and full.shape[:2] == pixels.shape[:2] and full.dtype == pixels.dtype:
            colour = pixels if pixels.ndim == 3 else cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
            pixels = np.dstack([colour, full[:, :, 3]])
    if pixels.dtype == np.uint8:
        peak = 255
    elif pixels.dtype == np.uint16:
        peak = 65535
    else:
        raise InputError(f"{path}: {pixels.dtype} images are not supported (8- or 16-bit only)")
    if pixels.ndim == 3:
        order = [2, 1, 0, 3][:pixels.shape[2]]
        pixels = np.ascontiguousarray(pixels[:, :, order])
    return pixels, peak


def check_pixels(pixels: object) -> tuple[np.ndarray, int]:
    """An array the API takes, as ``(pixels, max value)``.

    Gray ``(H, W)`` or ``(H, W, 1)``, RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)``; uint8 or uint16;
    each side at least 2 pixels.

    Raises:
        InputError: anything else, naming its shape and type.
    """
    a = np.asarray(pixels)
    what = f"a {a.dtype} array of shape {a.shape}"
    if a.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{what}: vidcolor takes uint8 or uint16 pixels")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4))):
        raise InputError(f"{what}: vidcolor takes gray (H, W) or (H, W, 1), RGB (H, W, 3) or "
                         f"RGBA (H, W, 4)")
    height, width = a.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"{what}: too small to colorize (each side at least {MIN_SIDE})")
    if height * width > MAX_IMAGE_PIXELS:
        raise InputError(f"{what}: larger than {MAX_IMAGE_PIXELS / 1e6:.0f} MP")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return a, 255 if a.dtype == np.uint8 else 65535


def image_luma(pixels: np.ndarray, peak: int) -> np.ndarray:
    """Luma ``Y'`` ``(1, 1, H, W)`` float32 in 0..1 of gray ``(H, W)`` or RGB ``(H, W, 3)``."""
    x = pixels.astype(np.float32) / peak
    if x.ndim == 2:
        return x[None, None]
    return rgb_to_luma(x.transpose(2, 0, 1)[None])


def read_reference(path: Path) -> np.ndarray:
    """A reference photo as RGB ``(H, W, 3)`` float32 in 0..1 (EXIF orientation applied).

    Raises:
        InputError: missing, unreadable, not an image, or gray (no colour to take).
    """
    if not path.is_file():
        raise InputError(f"reference not found: {path}")
    try:
        pixels, peak = read_image(path)
    except InputError as e:
        raise InputError(f"the reference {path} cannot be used: {e}") from e
    except OSError as e:
        raise InputError(f"cannot read the reference {path}: {e.strerror or e}") from e
    rgb = (pixels[:, :, :3] if pixels.ndim == 3 else pixels).astype(np.float32) / peak
    if rgb.ndim == 2 or is_gray(rgb):
        raise InputError(f"the reference {path} is gray: there is no colour to take from it")
    return rgb


def reference_set(paths: Sequence[Path | str], weights: Path,
                  sha256: Sequence[str] = ()) -> ReferenceSet:
    """The references at ``paths``, read and prepared for the encoder of ``weights``.

    Kept for the next call with the same files, unchanged (a film's shots share them). With
    ``sha256`` (one per path: a render's segment), each file must still be the one its job was
    planned with: one replaced since (on the hints page, say) would colour part of the film.

    Raises:
        InputError: a reference is missing, unreadable, not an image, or gray; or not the file
            of ``sha256``.
    """
    key = []
    digests = list(sha256) or [None] * len(paths)
    for path, digest in zip(map(Path, paths), digests, strict=True):
        try:
            st = path.stat()
        except OSError:
            raise InputError(f"reference not found: {path}") from None
        key.append((str(path), st.st_mtime_ns, st.st_size, digest))
    return _reference_set(tuple(key), str(weights))


@functools.lru_cache(maxsize=4)
def _reference_set(key: tuple[tuple[str, int, int, str | None], ...],
                   weights: str) -> ReferenceSet:
    for path, _, _, digest in key:
        if digest is not None and sha256_of(Path(path)) != digest:
            raise InputError(f"the reference {path} was changed after the render started; run "
                             "the command again with --restart to render with it")
    images = [read_reference(Path(path)) for path, _, _, _ in key]
    return ReferenceSet(encoder_features(Path(weights)), images)


def colorize_array(colorizer: FrameColorizer, pixels: np.ndarray, peak: int = 255,
                   references: ReferenceSet | None = None) -> np.ndarray:
    """Colorize gray, RGB or RGBA pixels; returns RGB (RGBA: alpha kept) of the same dtype.

    With ``references``, the colours of what matches in them are taken where the match is
    confident (:mod:`vidcolor.reference`); the rest is the network's own.
    """
    colour = pixels[:, :, :3] if pixels.ndim == 3 else pixels
    luma = image_luma(colour, peak)
    if references is None:
        rgb = colorizer.colorize_luma(luma)[0].transpose(1, 2, 0)
    else:
        # As a film's anchor frame is steered by its references.
        prior = references.prior(colorizer.working_luma(luma)[0, 0])
        ab = anchor_frame(colorizer, luma, AnchorInputs(reference=prior)).ab
        rgb = colorizer.rgb_from_ab(luma, ab)[0].transpose(1, 2, 0)
    out = (rgb * peak + 0.5).astype(pixels.dtype)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        out = np.dstack([out, pixels[:, :, 3]])
    return out


def write_image(path: Path, rgb: np.ndarray, overwrite: bool) -> None:
    """Write RGB or RGBA atomically (a temporary file, then rename); 16-bit where allowed."""
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
    if rgb.shape[2] == 4 and suffix not in _ALPHA:
        log.warning("%s cannot hold transparency: alpha dropped", path.name)
        rgb = rgb[:, :, :3]
    order = [2, 1, 0, 3][:rgb.shape[2]]
    try:
        with atomic_path(path) as tmp:  # the temporary name keeps the extension imwrite reads
            if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[:, :, order])):
                raise OutputError(f"cannot write {path}")
    except cv2.error as e:
        raise OutputError(f"cannot write {path}: {e}") from e


def colorize_image_file(colorizer: FrameColorizer, src: Path, dst: Path, overwrite: bool,
                        references: ReferenceSet | None = None) -> None:
    """Colorize one image file into ``dst`` (format from its extension; see colorize_array)."""
    pixels, peak = read_image(src, alpha=True)
    write_image(dst, colorize_array(colorizer, pixels, peak, references), overwrite)
