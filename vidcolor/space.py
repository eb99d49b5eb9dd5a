"""Disk space: scratch arrays backed before they are mapped, and a job's need against what is free.

A page of a memory map that the disk cannot back kills the process with SIGBUS (no message,
exit 135), where a write would have failed with ENOSPC. Scratch arrays are therefore given
their blocks first (``posix_fallocate``), so a full disk is an ordinary ``OSError`` that the
command line reports in one line.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np

from vidcolor.errors import OutputError

_MB = 1 << 20


def scratch_array(path: Path, dtype: type | np.dtype, shape: tuple[int, ...]) -> np.memmap:
    """A new ``.npy`` file of zeros mapped for writing, its blocks allocated before the mapping.

    Raises:
        OSError: the disk cannot hold it (ENOSPC), before anything is mapped.
    """
    array = np.lib.format.open_memmap(path, "w+", dtype, shape)  # header + a sparse file
    size = os.path.getsize(path)
    del array
    try:
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
    except OSError as e:
        path.unlink(missing_ok=True)
        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a filesystem without allocation
            return _written_out(path, dtype, shape)
        raise OSError(e.errno, e.strerror, str(path)) from e
    return np.lib.format.open_memmap(path, "r+")


def _written_out(path: Path, dtype: type | np.dtype, shape: tuple[int, ...]) -> np.memmap:
    """The same file, its zeros written out with ordinary writes (ENOSPC raises there)."""
    header = np.lib.format.open_memmap(path, "w+", dtype, shape)
    offset, size = header.offset, header.nbytes
    del header
    with path.open("r+b") as fh:
        fh.seek(offset)
        chunk = bytes(min(size, 8 * _MB))
        left = size
        while left:
            left -= fh.write(chunk[:left])
        fh.flush()
        os.fsync(fh.fileno())
    return np.lib.format.open_memmap(path, "r+")


def free_bytes(folder: Path) -> int:
    """Bytes free to this user on the filesystem of ``folder`` (or its nearest existing parent)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def megabytes(n: int) -> str:
    """``n`` bytes as ``"12.3 MB"``."""
    return f"{n / _MB:.1f} MB"


def check_free_space(work: Path, need: int) -> None:
    """Refuse a job whose estimated need is more than the job folder's disk has free.

    Raises:
        OutputError: one line with both numbers.
    """
    free = free_bytes(work)
    if free < need:
        raise OutputError(
            f"not enough free space for the job in {work}: {megabytes(free)} free, it needs "
            f"about {megabytes(need)} (scratch, segments and the output); free some space or "
            f"pass --work-dir on a larger disk")


def full_disk_error(e: OSError, work: Path, need: int) -> OutputError:
    """The one line for a disk that filled during a job: where, what is free, what it needs."""
    where = f" writing {e.filename}" if e.filename else ""
    return OutputError(
        f"No space left on device{where}: {megabytes(free_bytes(work))} free, the job needs "
        f"about {megabytes(need)}; free some space and re-run the same command to resume")


# A backward segment keeps one scratch slot per frame (see vidcolor.render): first the frame's
# working luma, then, once the frame is colorized (its luma read, never again), its chroma in
# the same bytes. Luma as uint16 (steps of 1/65535, 1/2000 of a unit of L: under the network's
# own noise), chroma as int8 at CHROMA_SCALE (steps of 0.87 in a and b, under the visible
# difference of about 2): 2 bytes per working pixel, where a float32 luma array and a float16
# chroma array took 8 (docs/speed.md, the scratch disk).
SCRATCH_LUMA = np.dtype(np.uint16)
SCRATCH_CHROMA = np.dtype(np.int8)
CHROMA_SCALE = 127.0 / 110.0  # the chroma is clipped to +-110


def store_luma(small: np.ndarray) -> np.ndarray:
    """Working luma ``(h, w)`` in 0..1 as its scratch values (uint16)."""
    return np.round(np.clip(small, 0.0, 1.0) * 65535.0).astype(SCRATCH_LUMA)


def load_luma(stored: np.ndarray) -> np.ndarray:
    """The float32 luma :func:`store_luma` stored."""
    return stored.astype(np.float32) * np.float32(1.0 / 65535.0)


def store_chroma(ab: np.ndarray) -> np.ndarray:
    """Chroma (any shape, within +-110) as its scratch values (int8)."""
    return np.clip(np.round(ab * CHROMA_SCALE), -127, 127).astype(SCRATCH_CHROMA)


def load_chroma(stored: np.ndarray) -> np.ndarray:
    """The float32 chroma :func:`store_chroma` stored."""
    return stored.astype(np.float32) * np.float32(1.0 / CHROMA_SCALE)
