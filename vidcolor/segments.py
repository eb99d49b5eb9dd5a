"""Resumable jobs: a job folder with a manifest, encoded segments and the prior at each split.

A render is cut into segments at shot cuts, and long shots every ``segment_frames`` frames.
Each finished segment is an encoded file, fsynced, then recorded (size and sha256) in
``manifest.json``, which is always replaced atomically (temporary file, fsync, rename, fsync of
the folder). Where a segment ends inside a shot, the temporal state after its last frame is
saved beside it, so the next segment continues exactly as an uninterrupted run would.

Re-running the same command finds the manifest and resumes; a manifest whose input, settings or
weights differ is refused, naming what changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from vidcolor._version import __version__
from vidcolor.config import JobConfig
from vidcolor.errors import OutputError, ResumeError
from vidcolor.faults import fault_point
from vidcolor.probe import MediaInfo
from vidcolor.weights import sha256_of

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
MIB = 1 << 20


LOCK = ".lock"


class JobLock:
    """An OS file lock on a job folder, held for the run: two runs on one output refuse to share.

    The lock is ``flock`` on ``FOLDER/.lock``, which holds the owner's process id. The OS drops it
    when the owner exits, however it exits, so a lock left by a killed run is simply taken.
    """

    def __init__(self, folder: Path, output: Path) -> None:
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOCK
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            owner = os.read(self._fd, 32).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise OutputError(
                f"another vidcolor (process {owner}) is writing {output} (its job folder is "
                f"{folder}); wait for it to finish or stop it"
            ) from e
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def discard_job(folder: Path) -> bool:
    """Remove an interrupted job's files (``--restart``), keeping the lock this run holds.

    Returns whether there was anything to remove.
    """
    found = False
    for path in folder.iterdir():
        if path.name == LOCK:
            continue
        found = True
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return found


def _hash_range(path: Path, offset: int, length: int) -> str:
    with path.open("rb") as fh:
        fh.seek(offset)
        return hashlib.sha256(fh.read(length)).hexdigest()


def file_fingerprint(src: Path) -> dict[str, Any]:
    """What identifies a file cheaply: size, mtime, hashes of its first and last MiB."""
    st = src.stat()
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "head_sha256": _hash_range(src, 0, MIB),
        "tail_sha256": _hash_range(src, max(0, st.st_size - MIB), MIB),
    }


def fingerprint(src: Path, info: MediaInfo) -> dict[str, Any]:
    """What identifies a video input: :func:`file_fingerprint` and its video stream."""
    return {
        **file_fingerprint(src),
        "stream": {
            "width": info.width, "height": info.height, "rate": str(info.rate),
            "time_base": str(info.time_base), "pix_fmt": info.pix_fmt,
            "stream_index": info.stream_index,
        },
    }


def _file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return sha256_of(path)
    except OSError:
        return "unreadable"


def output_settings(cfg: JobConfig, segment_frames: int) -> dict[str, Any]:
    """Every setting that changes the output, as plain JSON values."""
    keyframe_files: dict[str, str | None] = {}
    if cfg.keyframes_dir is not None and cfg.keyframes_dir.is_dir():
        for p in sorted(cfg.keyframes_dir.iterdir()):
            if p.is_file():
                keyframe_files[p.name] = _file_digest(p)
    for spec in cfg.keyframes:
        frame, _, path = spec.partition("=")
        keyframe_files[f"frame {frame}"] = _file_digest(Path(path))
    shots = dataclasses.asdict(cfg.shots)
    shots["cut_list"] = _file_digest(cfg.shots.cut_list)
    return {
        "vidcolor": __version__,
        "tile": dataclasses.asdict(cfg.tile),
        "encode": dataclasses.asdict(cfg.encode),
        "temporal": dataclasses.asdict(cfg.temporal),
        "shots": shots,
        "keyframes": keyframe_files,
        "segment_frames": segment_frames,
        "backend": cfg.backend,
        "device": cfg.device,
    }


def plan_segments(frames: int, cuts: list[int], segment_frames: int) -> list[dict[str, Any]]:
    """Segments ``[start, end]`` (inclusive) cut at shot cuts and every ``segment_frames``.

    ``segment_frames < 0`` makes one segment of the whole video (a single pass, for
    measuring what segments cost).
    """
    if segment_frames < 0:
        return [{"start": 0, "end": frames - 1, "new_shot": True, "done": False, "index": 0,
                 "file": "seg-00000"}]
    bounds = sorted({0, *[c for c in cuts if 0 < c < frames]})
    segments = []
    for k, start in enumerate(bounds):
        end = (bounds[k + 1] if k + 1 < len(bounds) else frames) - 1
        step = segment_frames if segment_frames > 0 else end - start + 1
        for s in range(start, end + 1, step):
            segments.append({"start": s, "end": min(s + step - 1, end),
                             "new_shot": s == start, "done": False})
    for i, seg in enumerate(segments):
        seg["index"] = i
        seg["file"] = f"seg-{i:05d}"
    return segments


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Job:
    """The job folder of one render."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest

    @property
    def segments(self) -> list[dict[str, Any]]:
        """The segment table."""
        return self.manifest["segments"]

    @property
    def cuts(self) -> list[int]:
        """Shot cuts of the video."""
        return self.manifest["cuts"]

    @classmethod
    def create(cls, folder: Path, identity: dict[str, Any], cuts: list[int], frames: int,
               segment_frames: int) -> Job:
        """A new job: the folder and its first manifest."""
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {"version": MANIFEST_VERSION, **identity, "cuts": cuts, "frames": frames,
                    "segments": plan_segments(frames, cuts, segment_frames)}
        job = cls(folder, manifest)
        job.save()
        return job

    @classmethod
    def open(cls, folder: Path, identity: dict[str, Any]) -> Job | None:
        """The job in ``folder`` if there is one; refuses one made for other input/settings.

        Raises:
            ResumeError: the manifest is unreadable or belongs to a different job.
        """
        path = folder / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = json.loads(path.read_text())
            if manifest.get("version") != MANIFEST_VERSION or "segments" not in manifest:
                raise ValueError("unknown manifest layout")
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise ResumeError(
                f"the job folder {folder} has a damaged manifest ({e}); "
                "pass --restart to start the job over"
            ) from e
        changed = [what for what in ("input", "settings", "weights")
                   if manifest.get(what) != identity[what]]
        if changed:
            detail = ""
            if "settings" in changed:
                old, new = manifest.get("settings", {}), identity["settings"]
                keys = sorted(k for k in new if old.get(k) != new[k])
                detail = f" ({', '.join(keys)})" if keys else ""
            raise ResumeError(
                f"{folder} holds an interrupted job, but its {' and '.join(changed)}{detail} "
                "changed since; pass --restart to discard it and start over"
            )
        return cls(folder, manifest)

    def save(self) -> None:
        """Write the manifest atomically."""
        fault_point("manifest-write")
        try:
            write_atomic(self.folder / MANIFEST,
                         json.dumps(self.manifest, indent=1).encode() + b"\n")
        except OSError as e:
            raise OutputError(f"cannot write the job manifest in {self.folder}: {e.strerror}; "
                              "free some space and re-run the same command to resume") from e

    def segment_path(self, seg: dict[str, Any], suffix: str) -> Path:
        """The encoded file of a segment."""
        return self.folder / f"{seg['file']}{suffix}"

    def state_path(self, seg: dict[str, Any]) -> Path:
        """The temporal state saved after a segment's last frame."""
        return self.folder / f"{seg['file']}.state.npz"

    def verify(self, suffix: str) -> int:
        """Mark damaged or missing finished segments as to be redone; returns how many are done."""
        done = 0
        for seg in self.segments:
            if not seg["done"]:
                continue
            path = self.segment_path(seg, suffix)
            ok = path.exists() and path.stat().st_size == seg.get("size") \
                and sha256_of(path) == seg.get("sha256")
            nxt = seg["index"] + 1
            if ok and nxt < len(self.segments) and not self.segments[nxt]["new_shot"]:
                ok = self.state_path(seg).exists()
            if not ok:
                log.warning("segment %d (frames %d-%d) is missing or damaged: redoing it",
                            seg["index"], seg["start"], seg["end"])
                seg["done"] = False
            else:
                done += 1
        return done

    def finish_segment(self, seg: dict[str, Any], suffix: str, state: dict | None) -> None:
        """Record a segment as done: its state (if the shot goes on), then the manifest."""
        path = self.segment_path(seg, suffix)
        if state is not None:
            buf = self.folder / f".{seg['file']}.state.tmp.npz"
            np.savez(buf, **{k: np.asarray(v) for k, v in state.items()})
            with buf.open("rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(buf, self.state_path(seg))
        seg.update(done=True, size=path.stat().st_size, sha256=sha256_of(path))
        self.save()

    def load_state(self, seg: dict[str, Any]) -> dict[str, np.ndarray]:
        """The temporal state saved after ``seg``."""
        with np.load(self.state_path(seg)) as data:
            return {k: data[k] for k in data.files}
