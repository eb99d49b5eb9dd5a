"""Files replaced whole or not at all: a temporary file beside the target, fsync, rename.

A reader (a resumed job, the hints page, a user) sees the old file or the new one, never a part,
also after a crash or a full disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path, per_process: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; on success it replaces ``path``.

    The temporary name keeps the extension (``.name.partial.png``), for writers that choose the
    format by it; ``per_process`` adds the process id (``.name.PID.partial.png``) where several
    processes may write the same file at once (a shared cache). After the block the file is
    fsynced, renamed over ``path``, and the rename made durable; on an exception it is removed
    and ``path`` is left as it was.
    """
    tag = f".{os.getpid()}" if per_process else ""
    tmp = path.with_name(f".{path.stem}{tag}.partial{path.suffix}")
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` (``str`` is written as UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
