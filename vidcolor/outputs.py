"""What vidcolor may write: the video containers it makes, and the checks of an output path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vidcolor.errors import OutputError

VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
                 ".webm": "webm", ".avi": "avi"}


def check_output(src: Path, dst: Path, overwrite: bool) -> None:
    """Refuse an output that is the input, exists without ``overwrite``, or cannot be written."""
    if dst.resolve() == src.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise OutputError(f"the output may not be the input: {dst}")
    if dst.exists() and not dst.is_dir() and not overwrite:
        raise OutputError(f"{dst} exists; pass -y/--overwrite to replace it")
    parent = dst.parent
    if not parent.is_dir():
        raise OutputError(f"output folder does not exist: {parent}")
    try:  # os.access says yes to root on read-only mounts: try it for real
        fd, probe = tempfile.mkstemp(prefix=".vidcolor-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"output folder is not writable: {parent} ({e.strerror})") from e
