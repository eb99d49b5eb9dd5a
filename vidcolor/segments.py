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
from vidcolor.atomic import atomic_path, write_atomic
from vidcolor.config import JobConfig
from vidcolor.errors import OutputError, ResumeError
from vidcolor.faults import fault_point
from vidcolor.probe import MediaInfo
from vidcolor.shot_reference import shot_reference_files
from vidcolor.temporal import ShotState
from vidcolor.weights import sha256_of

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2  # 2: shots anchored at their preview frame
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



def job_identity(input_fingerprint: dict[str, Any], cfg: JobConfig, segment_frames: int,
                 weights_digest: str) -> dict[str, Any]:
    """What a job's output is made from: the input, every setting that changes it, the weights.

    A video's job folder is identified by it (with :func:`fingerprint`), and so is a batch's
    output (with :func:`file_fingerprint`: a batch does not open the file to know it).
    """
    return {"input": input_fingerprint, "settings": output_settings(cfg, segment_frames),
            "weights": weights_digest}

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
    hints = _file_digest(cfg.hints)
    settings = {
        "vidcolor": __version__,
        "model": cfg.model,
        "tile": dataclasses.asdict(cfg.tile),
        "encode": dataclasses.asdict(cfg.encode),
        "temporal": dataclasses.asdict(cfg.temporal),
        "shots": shots,
        "keyframes": keyframe_files,
        "hints": hints,
        "segment_frames": segment_frames,
        "backend": cfg.backend,
        "precision": cfg.precision,
        "device": cfg.device,
    }
    if cfg.references:  # absent without: the identity of other jobs stays as it was
        settings["references"] = [_file_digest(p) for p in cfg.references]
    # A shot's own reference (shot-0007.reference.jpg beside --hints, or in --keyframes DIR):
    # one dropped on the hints page while a job waits to resume is a changed job too.
    own = shot_reference_files(cfg)
    if own:
        settings["shot_references"] = {str(n): _file_digest(p) for n, p in sorted(own.items())}
    return settings


def plan_segments(shots: list[tuple[int, int, int]], segment_frames: int,
                  keyframes: dict[int, str] | None = None, temporal: bool = True,
                  hints: dict[int, list[dict]] | None = None,
                  references: dict[int, list[tuple[str, str]]] | None = None,
                  ) -> list[dict[str, Any]]:
    """The segments of a render and the chain of states between them.

    Every shot ``(first, last, anchor)`` is colorized outward from its anchor frame: forward
    from the anchor to its end, backward from the frame before it to its start, each part cut
    every ``segment_frames`` frames (``< 0``: not cut, one segment per part, for measuring what
    segments cost). Each segment records the segment whose state it starts from (``after``;
    ``None`` for the segment that starts at the anchor) and whether that state is the one
    after the anchor frame (``from_anchor``: the first backward segment) or after the end of
    that segment's work. Segments are listed, and their files numbered, in frame order.

    Args:
        shots: ``(first, last, anchor)`` frame of every shot, in order.
        segment_frames: longest segment.
        keyframes: the keyframe image of a shot, by its anchor frame.
        temporal: ``False``: frames are colorized on their own, no segment hands a state on.
        hints: the colour hints (``hints.json`` items) of a shot, by its anchor frame.
        references: the reference photos of a shot, by its anchor frame: ``(path, sha256)``
            each; a task checks the file it reads is still the one the job was planned with.
    """
    keyframes, hints, references = keyframes or {}, hints or {}, references or {}
    parts: list[dict[str, Any]] = []
    for first, last, anchor in shots:
        whole = max(last - first + 1, 1)
        step = segment_frames if segment_frames > 0 else whole
        common = {"shot": first, "anchor": anchor, "keyframe": keyframes.get(anchor),
                  "hints": hints.get(anchor, []), "done": False}
        if references.get(anchor):  # absent without: other jobs' manifests stay as they were
            common["references"] = [path for path, _ in references[anchor]]
            common["reference_sha256"] = [digest for _, digest in references[anchor]]
        backward = []
        for end in range(anchor - 1, first - 1, -step):
            backward.append({"start": max(first, end - step + 1), "end": end, "backward": True,
                             **common})
        forward = [{"start": s, "end": min(s + step - 1, last), "backward": False, **common}
                   for s in range(anchor, last + 1, step)]
        parts.extend(reversed(backward))
        parts.extend(forward)
    for i, seg in enumerate(parts):
        seg["index"] = i
        seg["file"] = f"seg-{i:05d}"
    by_start = {seg["start"]: seg for seg in parts}
    by_end = {seg["end"]: seg for seg in parts}
    for seg in parts:
        if not temporal:
            seg["after"], seg["from_anchor"] = None, False
        elif not seg["backward"]:
            prev = by_end[seg["start"] - 1] if seg["start"] > seg["anchor"] else None
            seg["after"], seg["from_anchor"] = (prev["index"] if prev else None), False
        elif seg["end"] == seg["anchor"] - 1:
            seg["after"], seg["from_anchor"] = by_start[seg["anchor"]]["index"], True
        else:
            seg["after"], seg["from_anchor"] = by_start[seg["end"] + 1]["index"], False
    return parts


def render_order(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``segments`` in an order in which each comes after the one its state comes from.

    Shot by shot: the segment at the anchor, the backward chain (nearest the anchor first),
    then the rest of the forward chain.
    """
    def key(seg: dict[str, Any]) -> tuple[int, int, int]:
        if seg["backward"]:
            return seg["shot"], 1, -seg["start"]
        return seg["shot"], 0 if seg["start"] == seg["anchor"] else 2, seg["start"]

    return sorted(segments, key=key)


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
    def frames_done(self) -> int:
        """Frames of the segments already finished."""
        return sum(s["end"] - s["start"] + 1 for s in self.segments if s["done"])

    @property
    def cuts(self) -> list[int]:
        """Shot cuts of the video."""
        return self.manifest["cuts"]

    @classmethod
    def create(cls, folder: Path, identity: dict[str, Any], cuts: list[int], frames: int,
               shots: list[tuple[int, int, int]], segment_frames: int,
               keyframes: dict[int, str] | None = None, seekable: bool = False,
               temporal: bool = True, hints: dict[int, list[dict]] | None = None,
               references: dict[int, list[tuple[str, str]]] | None = None) -> Job:
        """A new job: the folder and its first manifest (see :func:`plan_segments`).

        ``seekable``: a segment's frames may be reached by seeking (else decoded in order).
        """
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {"version": MANIFEST_VERSION, **identity, "cuts": cuts, "frames": frames,
                    "seekable": seekable,
                    "segments": plan_segments(shots, segment_frames, keyframes, temporal,
                                              hints, references)}
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
            if isinstance(manifest, dict) and manifest.get("version") == 1:
                raise ValueError("made by an older vidcolor, which colorized shots from their "
                                 "first frame")
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
                keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
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

    def state_path(self, seg: dict[str, Any], anchor: bool = False) -> Path:
        """The shot state a segment hands on: after its work, or after its anchor frame."""
        return self.folder / f"{seg['file']}.{'anchor' if anchor else 'state'}.npz"

    def handed_on(self, seg: dict[str, Any]) -> tuple[bool, bool]:
        """Whether another segment starts from ``seg``'s state, and from its anchor state."""
        takers = [s for s in self.segments if s["after"] == seg["index"]]
        return (any(not s["from_anchor"] for s in takers), any(s["from_anchor"] for s in takers))

    def verify(self, suffix: str) -> int:
        """Mark damaged or missing finished segments as to be redone; returns how many are done."""
        done = 0
        for seg in self.segments:
            if not seg["done"]:
                continue
            path = self.segment_path(seg, suffix)
            ok = path.exists() and path.stat().st_size == seg.get("size") \
                and sha256_of(path) == seg.get("sha256")
            state, anchor = self.handed_on(seg)
            if ok and state:
                ok = self.state_path(seg).exists()
            if ok and anchor:
                ok = self.state_path(seg, anchor=True).exists()
            if not ok:
                log.warning("segment %d (frames %d-%d) is missing or damaged: redoing it",
                            seg["index"], seg["start"], seg["end"])
                seg["done"] = False
            else:
                done += 1
        return done

    def finish_segment(self, seg: dict[str, Any], suffix: str, state: ShotState | None,
                       anchor: ShotState | None = None) -> None:
        """Record a segment as done: the states it hands on, then the manifest.

        Only the states another segment starts from are kept (see :meth:`handed_on`).
        """
        path = self.segment_path(seg, suffix)
        wants_state, wants_anchor = self.handed_on(seg)
        for value, wanted, is_anchor in ((state, wants_state, False),
                                         (anchor, wants_anchor, True)):
            if not wanted:
                continue
            if value is None:
                raise RuntimeError(f"segment {seg['index']} has no state to hand on")
            target = self.state_path(seg, is_anchor)
            with atomic_path(target) as buf:
                np.savez(buf, **value.arrays())
        seg.update(done=True, size=path.stat().st_size, sha256=sha256_of(path))
        self.save()

    def start_state(self, seg: dict[str, Any]) -> ShotState | None:
        """The state ``seg`` starts from (``None``: it starts its shot at the anchor)."""
        if seg["after"] is None:
            return None
        before = self.segments[seg["after"]]
        with np.load(self.state_path(before, seg["from_anchor"])) as data:
            return ShotState.from_arrays({k: data[k] for k in data.files})
