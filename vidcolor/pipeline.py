"""Orchestration only: probe -> decode -> colorize -> encode -> assemble, or still images."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import torch

from vidcolor.assemble import assemble
from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig, ShotConfig
from vidcolor.decode import DecodeStats, iter_frames
from vidcolor.encode import VideoWriter, build_frame, luma_plane
from vidcolor.errors import InputError, OutputError
from vidcolor.image import colorize_folder, colorize_image_file
from vidcolor.keyframes import KeyframePlan, find_keyframes
from vidcolor.probe import (
    IMAGE_SUFFIXES,
    MediaInfo,
    check_input_file,
    is_image_path,
    read_media_info,
)
from vidcolor.progress import NullProgress, Progress
from vidcolor.scan import ScanResult, scan_video
from vidcolor.shots import read_cut_list
from vidcolor.weights import load_colorizer, weights_identity

log = logging.getLogger(__name__)

VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
                 ".webm": "webm", ".avi": "avi"}


def make_colorizer(cfg: JobConfig) -> FrameColorizer:
    """Load the weights and build the backend and frame colorizer of a job."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model = load_colorizer(cfg.weights)
    backend = create_backend(
        cfg.backend, model, cfg.device, weights_identity(cfg.weights), cfg.threads
    )
    log.debug("backend: %s", backend.name)
    return FrameColorizer(backend, cfg.tile, cfg.temporal)


def first_pass(src: Path, info: MediaInfo, cfg: ShotConfig, stats: bool = False) -> ScanResult:
    """Scan ``src`` once: cuts (detected, or the user's ``--shots`` list) and frame times."""
    if cfg.cut_list is not None:
        scan = scan_video(src, info, cfg, stats=stats, detect=False)
        scan.cuts = [c for c in read_cut_list(cfg.cut_list) if c < scan.frames]
        log.info("%d shots from %s", len(scan.cuts) + 1, cfg.cut_list)
    else:
        scan = scan_video(src, info, cfg, stats=stats)
        log.info("%d shots in %d frames", len(scan.cuts) + 1, scan.frames)
    return scan


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


def run_job(src: Path, dst: Path, cfg: JobConfig, progress: Progress | None = None) -> None:
    """Colorize ``src`` (video, image or folder of images) into ``dst``."""
    progress = progress or NullProgress()
    if src.is_dir():
        if dst.suffix.lower() in IMAGE_SUFFIXES or dst.suffix.lower() in VIDEO_FORMATS:
            raise InputError(
                f"the input {src} is a folder: give a file, or an output folder instead of {dst}"
            )
        check_output(src, dst, cfg.overwrite)
        colorize_folder(make_colorizer(cfg), src, dst, cfg.overwrite)
        return
    check_input_file(src)
    check_output(src, dst, cfg.overwrite)
    if is_image_path(src):
        if dst.suffix.lower() not in IMAGE_SUFFIXES:
            raise InputError(
                f"unsupported output extension {dst.suffix!r} for an image; "
                f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}"
            )
        colorize_image_file(make_colorizer(cfg), src, dst, cfg.overwrite)
        return
    run_video(src, dst, cfg, progress)


def run_video(src: Path, dst: Path, cfg: JobConfig, progress: Progress) -> None:
    """Colorize a video; the output appears at ``dst`` only when complete."""
    fmt = VIDEO_FORMATS.get(dst.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unsupported output extension {dst.suffix!r} for a video; "
            f"use one of {', '.join(sorted(VIDEO_FORMATS))}"
        )
    info = read_media_info(src)
    colorizer = make_colorizer(cfg)
    cuts: set[int] = set()
    total = info.frames or None
    keyed = cfg.keyframes_dir is not None or bool(cfg.keyframes)
    if keyed and not cfg.temporal.enabled:
        raise InputError("keyframes are carried through their shot by the temporal prior: "
                         "drop --no-temporal")
    scan = None
    if cfg.temporal.enabled:
        scan = first_pass(src, info, cfg.shots)
        cuts, total = set(scan.cuts), scan.frames
    work = dst.with_name(dst.name + ".vidcolor-job")
    work.mkdir(exist_ok=True)
    part = work / f"video{dst.suffix}"
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    writer: VideoWriter | None = None
    try:
        plan = None
        if keyed and scan is not None:
            plan = KeyframePlan(find_keyframes(cfg.keyframes_dir, list(cfg.keyframes), scan), scan)
            plan.prepare(src, info, colorizer, work)
        writer = VideoWriter(part, info, cfg.encode, fmt)
        stats = DecodeStats()
        progress.start(total, "frames")
        step = 1 / (info.rate * info.time_base) if info.rate else Fraction(1)
        last_pts: int | None = None
        frames = iter_frames(src, stats=stats, stream_index=info.stream_index)
        for index, frame in enumerate(frames):
            if (frame.width, frame.height) != (info.width, info.height):
                raise InputError(
                    f"{src}: the frame size changes mid-stream ({info.width}x{info.height} -> "
                    f"{frame.width}x{frame.height}); vidcolor needs one size per video"
                )
            if index in cuts:
                colorizer.new_shot()
            y = luma_plane(frame)
            ab = plan.chroma(index, colorizer) if plan else None
            cb, cr = colorizer.chroma_planes(
                y, info.full_range, info.matrix, writer.plan.subsample, ab)
            out = build_frame(y, cb, cr, writer.plan, info.full_range, info.matrix)
            pts = frame.pts
            if pts is None:  # some raw streams carry none: continue at the nominal rate
                pts = 0 if last_pts is None else last_pts + max(1, round(step))
            out.pts, out.time_base = pts, info.time_base
            last_pts = pts
            writer.write(out)
            progress.advance()
        writer.close()
        writer = None
        if stats.frames == 0:
            raise InputError(f"no frame of {src} could be decoded")
        if info.frames > stats.frames or stats.bad_packets:
            log.warning(
                "%s is damaged: %d frames decoded and colorized, %d declared, %d bad packets "
                "skipped", src.name, stats.frames, info.frames, stats.bad_packets,
            )
        assemble([part], src, tmp, fmt, info.rotation)
        os.replace(tmp, dst)
    finally:
        progress.close()
        if writer is not None:
            writer.abort()
        tmp.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
