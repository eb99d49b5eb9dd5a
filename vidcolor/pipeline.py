"""Orchestration only: probe -> decode -> colorize -> encode -> assemble, or still images."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidcolor.assemble import assemble
from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig, ShotConfig
from vidcolor.decode import DecodeStats, iter_frames
from vidcolor.encode import (
    AsyncWriter,
    VideoWriter,
    check_encoder_options,
    luma_plane,
    resolve_codec,
)
from vidcolor.errors import InputError, OutputError
from vidcolor.faults import fault_point, jitter
from vidcolor.image import colorize_image_file
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
from vidcolor.segments import Job, JobLock, discard_job, fingerprint, output_settings
from vidcolor.shots import read_cut_list
from vidcolor.weights import Weights, verify_weights

log = logging.getLogger(__name__)

VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
                 ".webm": "webm", ".avi": "avi"}


def make_colorizer(cfg: JobConfig, weights: Weights | None = None) -> FrameColorizer:
    """The backend and frame colorizer of a job, with ``weights`` (default: ``cfg.weights``).

    The torch network is built only if the backend needs it (see
    :func:`vidcolor.backends.create_backend`).
    """
    weights = weights or verify_weights(cfg.weights)
    backend = create_backend(cfg.backend, weights.load, cfg.device, weights.digest, cfg.threads)
    log.debug("backend: %s", backend.name)
    return FrameColorizer(backend, cfg.tile, cfg.temporal)


def first_pass(src: Path, info: MediaInfo, cfg: ShotConfig, stats: bool = False,
               detect: bool = True, keep_bytes: int = 0) -> ScanResult:
    """Scan ``src`` once: cuts (detected, or the user's ``--shots`` list) and frame times.

    ``stats`` and ``keep_bytes`` are passed to :func:`vidcolor.scan.scan_video`.
    """
    user_cuts = read_cut_list(cfg.cut_list) if detect and cfg.cut_list is not None else None
    scan = scan_video(src, info, cfg, stats=stats, detect=detect and user_cuts is None,
                      keep_bytes=keep_bytes)
    if user_cuts is not None:  # read before the scan: a bad list fails at once
        scan.cuts = [c for c in user_cuts if c < scan.frames]
        log.info("%d shots from %s", len(scan.cuts) + 1, cfg.cut_list)
    elif detect:
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


def run_job(src: Path, dst: Path, cfg: JobConfig, progress: Progress | None = None) -> int | None:
    """Colorize ``src`` (video, image, or a folder of both: :mod:`vidcolor.batch`) into ``dst``.

    Returns the frames colorized for a video, else ``None``.
    """
    progress = progress or NullProgress()
    if src.is_dir():
        from vidcolor.batch import SUMMARY, run_batch

        failed = [i for i in run_batch(src, dst, cfg, progress=progress) if i.failed]
        if failed:
            raise OutputError(f"{len(failed)} files of {src} failed (first: {failed[0].source}: "
                              f"{failed[0].result[8:]}); see {dst / SUMMARY}")
        return None
    check_input_file(src)
    check_output(src, dst, cfg.overwrite)
    if is_image_path(src):
        if dst.suffix.lower() not in IMAGE_SUFFIXES:
            raise InputError(
                f"unsupported output extension {dst.suffix!r} for an image; "
                f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}"
            )
        colorize_image_file(make_colorizer(cfg), src, dst, cfg.overwrite)
        return None
    return run_video(src, dst, cfg, progress)


SEGMENT_SECONDS = 30  # default segment length


def run_video(src: Path, dst: Path, cfg: JobConfig, progress: Progress) -> int:
    """Colorize a video, resumably; the output appears at ``dst`` only when complete.

    Work goes into a job folder of segments (see :mod:`vidcolor.segments`); re-running the same
    command after an interruption resumes it, and the result is identical. Returns the number
    of frames colorized.
    """
    fmt = VIDEO_FORMATS.get(dst.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unsupported output extension {dst.suffix!r} for a video; "
            f"use one of {', '.join(sorted(VIDEO_FORMATS))}"
        )
    cfg = dataclasses.replace(
        cfg, encode=dataclasses.replace(cfg.encode, codec=resolve_codec(cfg.encode.codec, fmt)))
    check_encoder_options(cfg.encode.codec, cfg.encode.crf, cfg.encode.preset)
    info = read_media_info(src)
    keyed = cfg.keyframes_dir is not None or bool(cfg.keyframes)
    if keyed and not cfg.temporal.enabled:
        raise InputError("keyframes are carried through their shot by the temporal prior: "
                         "drop --no-temporal")
    weights = verify_weights(cfg.weights)
    colorizer = make_colorizer(cfg, weights)
    segment_frames = cfg.segment_frames or max(1, round(SEGMENT_SECONDS * float(info.rate or 24)))
    work = cfg.work_dir or dst.with_name(dst.name + ".vidcolor-job")
    identity = {
        "input": fingerprint(src, info),
        "settings": output_settings(cfg, segment_frames),
        "weights": weights.digest,
    }
    lock = JobLock(work, dst)
    try:
        return _run_locked(src, dst, cfg, info, colorizer, work, identity, segment_frames, fmt,
                           progress, keyed)
    finally:
        lock.release()


def _run_locked(src: Path, dst: Path, cfg: JobConfig, info: MediaInfo,
                colorizer: FrameColorizer, work: Path, identity: dict,
                segment_frames: int, fmt: str, progress: Progress, keyed: bool) -> int:
    """The render of :func:`run_video`, with the job folder locked; returns its frame count."""
    if cfg.restart and discard_job(work):
        log.info("--restart: discarded the job in %s", work)
    job = Job.open(work, identity)
    fresh = job is None
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    try:
        if job is None:
            # Without the temporal prior cuts change nothing: the pass only counts and times frames.
            scan = first_pass(src, info, cfg.shots, detect=cfg.temporal.enabled)
            if scan.frames == 0:
                raise InputError(f"no frame of {src} could be decoded")
            if info.frames > scan.frames:
                log.warning("%s is damaged: %d frames decode and will be colorized, %d declared",
                            src.name, scan.frames, info.frames)
            job = Job.create(work, identity, scan.cuts, scan.frames, segment_frames)
            np.save(work / "times.npy", scan.times)
        else:
            done = job.verify(dst.suffix)
            log.info("resuming: %d of %d segments done", done, len(job.segments))
            scan = ScanResult(cuts=job.cuts, frames=job.manifest["frames"],
                              times=np.load(work / "times.npy"))
        plan = None
        if keyed:
            plan = KeyframePlan(find_keyframes(cfg.keyframes_dir, list(cfg.keyframes), scan),
                                scan)
            plan.prepare(src, info, colorizer, work)
        _render_segments(src, info, cfg, colorizer, job, plan, dst.suffix, fmt, progress)
        fault_point("assembly")
        assemble([job.segment_path(s, dst.suffix) for s in job.segments], src, tmp, fmt,
                 info.rotation)
        os.replace(tmp, dst)
    except BaseException:
        if fresh and (job is None or not any(s["done"] for s in job.segments)):
            shutil.rmtree(work, ignore_errors=True)  # nothing worth resuming
        elif job is not None:
            log.info("finished segments are kept in %s: re-run the same command to resume", work)
        raise
    finally:
        progress.close()
        tmp.unlink(missing_ok=True)
    if not cfg.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return scan.frames


def _render_segments(src: Path, info: MediaInfo, cfg: JobConfig, colorizer: FrameColorizer,
                     job: Job, plan: KeyframePlan | None, suffix: str, fmt: str,
                     progress: Progress) -> None:
    """Colorize and encode every segment not yet done, recording each as it finishes."""
    segments = job.segments
    todo = [s for s in segments if not s["done"]]
    progress.start(job.manifest["frames"], "frames")
    progress.advance(sum(s["end"] - s["start"] + 1 for s in segments if s["done"]))
    if not todo:
        return
    last = todo[-1]["end"]
    cuts = set(job.cuts)
    writer: AsyncWriter | None = None
    seg_iter = iter(segments)
    seg = next(seg_iter)
    carried = False  # the colorizer holds the state of the previous frame of this run
    step = 1 / (info.rate * info.time_base) if info.rate else Fraction(1)
    last_pts: int | None = None
    stats = DecodeStats()
    try:
        for index, frame in enumerate(iter_frames(src, stats=stats,
                                                  stream_index=info.stream_index)):
            fault_point("decode")
            if index > last:
                break
            while index > seg["end"]:
                seg = next(seg_iter)
            pts = frame.pts
            if pts is None:  # some raw streams carry none: continue at the nominal rate
                pts = 0 if last_pts is None else last_pts + max(1, round(step))
            last_pts = pts
            if seg["done"]:
                carried = False
                continue
            if (frame.width, frame.height) != (info.width, info.height):
                raise InputError(
                    f"{src}: the frame size changes mid-stream ({info.width}x{info.height} -> "
                    f"{frame.width}x{frame.height}); vidcolor needs one size per video"
                )
            if index in cuts or index == 0:
                colorizer.new_shot()
            elif index == seg["start"] and not carried:
                colorizer.restore(job.load_state(segments[seg["index"] - 1]))
            if index == seg["start"]:
                jitter("segment-open")
                writer = AsyncWriter(
                    VideoWriter(job.segment_path(seg, suffix), info, cfg.encode, fmt),
                    info.full_range, info.matrix)
            assert writer is not None
            y = luma_plane(frame, writer.plan.depth)
            ab = plan.chroma(index, colorizer) if plan else None
            cb, cr = colorizer.chroma_planes(
                y, info.full_range, info.matrix, writer.plan.subsample, ab, writer.plan.depth)
            fault_point("inference")
            writer.write(y, cb, cr, pts, info.time_base)
            carried = True
            progress.advance()
            if index == seg["end"]:
                writer.close()
                writer = None
                jitter("segment-close")
                fault_point("segment-write")
                nxt = seg["index"] + 1
                goes_on = nxt < len(segments) and not segments[nxt]["new_shot"]
                job.finish_segment(seg, suffix, colorizer.state() if goes_on else None)
    finally:
        if writer is not None:
            writer.abort()
    missing = [s for s in segments if not s["done"]]
    if missing:
        raise InputError(
            f"{src} ended at frame {index + 1 if stats.frames else 0} of the "
            f"{job.manifest['frames']} found when the job started: the input changed or is "
            "damaged"
        )
    if stats.bad_packets:
        log.warning("%s is damaged: %d bad packets skipped", src.name, stats.bad_packets)
    if stats.repaired_times:
        log.warning("%s is damaged: %d frame times repeated or went back; each was put half a "
                    "frame after the one before", src.name, stats.repaired_times)
