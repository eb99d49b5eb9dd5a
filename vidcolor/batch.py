"""Batch: every image and video of a folder, resumable, one failure not stopping the rest.

``vidcolor reels/ -o reels_color/`` colorizes the folder's photos and films (``recursive``:
subfolders too, mirrored), each film into the container it came in (or ``video_ext``). The
outcome of every file is recorded in ``OUTPUT/vidcolor-batch.json`` (replaced atomically after
each file) with the identity it was made with (input fingerprint, settings, weights): re-running
the same command skips outputs that are complete and whose identity matches, resumes the film
that was interrupted from its job folder, and does the rest. A file that fails is reported in one
line and the batch goes on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidcolor.atomic import write_atomic
from vidcolor.config import JobConfig
from vidcolor.errors import InputError, OutputError, VidcolorError
from vidcolor.outputs import VIDEO_FORMATS, check_output
from vidcolor.probe import IMAGE_SUFFIXES, is_image_path
from vidcolor.progress import NullProgress, Progress

log = logging.getLogger(__name__)

SUMMARY = "vidcolor-batch.json"
# Inputs taken as films; the outputs vidcolor writes (outputs.VIDEO_FORMATS) keep their
# container, the others go to Matroska, which holds any codec.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg",
                            ".ts", ".m2ts", ".mts", ".wmv", ".flv", ".ogv", ".3gp", ".mxf",
                            ".dv", ".vob"})
FALLBACK_VIDEO_EXT = ".mkv"
# Colorizes one file: (input, output, settings, progress) -> frames (None for an image).
RenderFile = Callable[[Path, Path, JobConfig, "Progress | None"], "int | None"]


@dataclass
class BatchItem:
    """One file of a batch and what became of it.

    Attributes:
        source: the input, relative to the batch folder.
        output: the output, relative to the output folder.
        kind: ``image`` or ``video``.
        result: ``done``, ``skipped`` (complete from an earlier run) or ``failed: <message>``.
        frames: frames colorized (videos), else ``None``.
        seconds: wall time spent on it in this run.
    """

    source: str
    output: str
    kind: str
    result: str = "pending"
    frames: int | None = None
    seconds: float = 0.0
    identity: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        """Whether this file failed."""
        return self.result.startswith("failed")


def find_media(folder: Path, recursive: bool) -> list[Path]:
    """The images and videos of ``folder`` (sorted; subfolders too when ``recursive``)."""
    paths = folder.rglob("*") if recursive else folder.iterdir()
    media, skipped = [], []
    for path in sorted(paths):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            media.append(path)
        else:
            skipped.append(path.name)
    if skipped:
        log.info("skipping %d files that are neither images nor videos (%s)", len(skipped),
                 ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else ""))
    return media


def output_name(rel: Path, video_ext: str | None) -> Path:
    """Where ``rel`` (relative to the batch folder) goes, relative to the output folder."""
    if is_image_path(rel):
        return rel
    ext = video_ext or rel.suffix.lower()
    if ext not in VIDEO_FORMATS:
        ext = FALLBACK_VIDEO_EXT
    return rel.with_suffix(ext)


def file_identity(path: Path, cfg: JobConfig, weights_digest: str) -> dict[str, Any]:
    """What an output was made from: the input, every setting that changes it, the weights.

    The same fingerprint and settings a video's job folder is identified by
    (:mod:`vidcolor.segments`), as plain JSON values.
    """
    from vidcolor.segments import file_fingerprint, job_identity

    identity = job_identity(file_fingerprint(path), cfg, cfg.segment_frames, weights_digest)
    return json.loads(json.dumps(identity, default=str))


def _load_summary(path: Path) -> dict[str, dict[str, Any]]:
    try:
        return {item["source"]: item for item in json.loads(path.read_text())["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_summary(path: Path, items: list[BatchItem]) -> None:
    write_atomic(path, json.dumps({"files": [dataclasses.asdict(i) for i in items]}, indent=1)
                 + "\n")


def run_batch(src: Path, dst: Path, cfg: JobConfig, render: RenderFile, recursive: bool = False,
              video_ext: str | None = None, progress: Progress | None = None,
              file_progress: Callable[[], Progress] | None = None) -> list[BatchItem]:
    """Colorize every image and video of ``src`` into ``dst``; returns what became of each.

    ``render`` colorizes one film (:func:`vidcolor.pipeline.run_job`: the batch runs below the
    pipeline and is handed it). ``progress`` counts files; ``file_progress`` makes the bar of
    the film being rendered.

    Raises:
        InputError: ``src`` holds no image or video.
        OutputError: ``dst`` cannot be the output folder.
    """
    from vidcolor.image import colorize_image_file
    from vidcolor.runner import make_colorizer, make_references, read_references
    from vidcolor.weights import verify_weights

    image_colorizer = None  # one network for all the photos
    references = None  # and one preparation of the references
    has_references = bool(read_references(cfg))  # a bad reference fails before any work
    if video_ext is not None and video_ext not in VIDEO_FORMATS:
        raise OutputError(f"--video-ext {video_ext} is not a video output; use one of "
                          f"{', '.join(sorted(VIDEO_FORMATS))}")
    if dst.suffix.lower() in IMAGE_SUFFIXES | set(VIDEO_FORMATS) or (
            dst.exists() and not dst.is_dir()):
        raise InputError(
            f"the input {src} is a folder: give a file, or an output folder instead of {dst}")
    check_output(src, dst, cfg.overwrite)
    media = [p for p in find_media(src, recursive) if dst.resolve() not in p.resolve().parents]
    if not media:
        raise InputError(f"no images or videos found in {src}")
    dst.mkdir(parents=True, exist_ok=True)
    weights = verify_weights(cfg.weights, cfg.model).digest
    summary_path = dst / SUMMARY
    before = _load_summary(summary_path)
    items = [BatchItem(str(p.relative_to(src)), str(output_name(p.relative_to(src), video_ext)),
                       "image" if is_image_path(p) else "video") for p in media]
    progress = progress or NullProgress()
    progress.start(len(items), "files")
    try:
        for path, item in zip(media, items, strict=True):
            out = dst / item.output
            earlier = before.get(item.source, {})
            file_cfg = _file_config(cfg, path, out, earlier)
            item.identity = file_identity(path, file_cfg, weights)
            if (out.exists() and earlier.get("result") in ("done", "skipped")
                    and earlier.get("identity") == item.identity):
                item.result, item.frames = "skipped", earlier.get("frames")
                log.info("%s: complete from an earlier run, skipped", item.source)
                progress.advance()
                continue
            t0 = time.perf_counter()
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                if item.kind == "image":
                    check_output(path, out, file_cfg.overwrite)
                    image_colorizer = image_colorizer or make_colorizer(cfg)
                    if has_references and references is None:
                        references = make_references(cfg)
                    colorize_image_file(image_colorizer, path, out, file_cfg.overwrite,
                                        references)
                else:
                    item.frames = render(path, out, file_cfg,
                                         file_progress() if file_progress else None)
                item.result = "done"
            except VidcolorError as e:
                item.result = f"failed: {e}"
                log.error("%s: %s", item.source, e)
            except OSError as e:
                item.result = f"failed: {e.strerror or e}"
                log.error("%s: %s", item.source, e.strerror or e)
            item.seconds = round(time.perf_counter() - t0, 2)
            _write_summary(summary_path, items)
            progress.advance()
    finally:
        progress.close()
        _write_summary(summary_path, items)
    return items


def _file_config(cfg: JobConfig, path: Path, out: Path, earlier: dict[str, Any]) -> JobConfig:
    """The job of one file.

    Its own keyframes folder if one sits beside it; an output this batch made before (with
    other settings) may be replaced.
    """
    keyframes = path.with_name(path.stem + ".keyframes")
    replace_own = out.exists() and earlier.get("result") in ("done", "skipped")
    return dataclasses.replace(
        cfg,
        keyframes_dir=keyframes if keyframes.is_dir() and not is_image_path(path) else None,
        overwrite=cfg.overwrite or replace_own,
        work_dir=None,
    )


def summary_table(items: list[BatchItem]) -> str:
    """A markdown table of the batch: file, frames, seconds, result."""
    rows = ["| file | frames | seconds | result |", "| --- | ---: | ---: | --- |"]
    for i in items:
        frames = "" if i.frames is None else str(i.frames)
        rows.append(f"| {i.source} | {frames} | {i.seconds:.1f} | {i.result} |")
    return "\n".join(rows)
