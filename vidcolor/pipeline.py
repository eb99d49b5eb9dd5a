"""Orchestration only: probe -> decode -> colorize -> encode -> assemble, or still images."""

from __future__ import annotations

import dataclasses
import errno
import logging
import shutil
from pathlib import Path

import numpy as np

from vidcolor.assemble import assemble
from vidcolor.atomic import atomic_path
from vidcolor.backends import resolve_precision
from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig
from vidcolor.encode import check_encoder_options, resolve_codec
from vidcolor.errors import InputError, OutputError
from vidcolor.faults import fault_point
from vidcolor.hints import by_frame, read_hints
from vidcolor.image import colorize_image_file, read_reference
from vidcolor.keyframes import find_keyframes
from vidcolor.outputs import VIDEO_FORMATS, check_output
from vidcolor.probe import (
    IMAGE_SUFFIXES,
    MediaInfo,
    check_input_file,
    is_image_path,
    read_media_info,
)
from vidcolor.progress import NullProgress, Progress
from vidcolor.render import Timeline, check_keyframes, job_need
from vidcolor.runner import (
    LocalExecutor,
    make_colorizer,
    make_references,
    read_references,
    run_segments,
)
from vidcolor.scan import first_pass
from vidcolor.segments import Job, JobLock, discard_job, fingerprint, job_identity
from vidcolor.shot_reference import shot_reference_files
from vidcolor.space import check_free_space, full_disk_error
from vidcolor.weights import sha256_of, verify_weights

log = logging.getLogger(__name__)




def run_job(src: Path, dst: Path, cfg: JobConfig, progress: Progress | None = None) -> int | None:
    """Colorize ``src`` (video, image, or a folder of both: :mod:`vidcolor.batch`) into ``dst``.

    Returns the frames colorized for a video, else ``None``.
    """
    progress = progress or NullProgress()
    if src.is_dir():
        from vidcolor.batch import SUMMARY, run_batch

        failed = [i for i in run_batch(src, dst, cfg, run_job, progress=progress) if i.failed]
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
        weights = verify_weights(cfg.weights, cfg.model)
        references = make_references(cfg, weights)  # a bad reference fails before any work
        colorize_image_file(make_colorizer(cfg, weights), src, dst, cfg.overwrite, references)
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
    if cfg.uses_ray:
        from vidcolor.cluster import check_available

        check_available(cfg)
    cfg = dataclasses.replace(
        cfg, encode=dataclasses.replace(cfg.encode, codec=resolve_codec(cfg.encode.codec, fmt)))
    check_encoder_options(cfg.encode.codec, cfg.encode.crf, cfg.encode.preset)
    info = read_media_info(src)
    keyed = cfg.keyframes_dir is not None or bool(cfg.keyframes)
    if keyed and not cfg.temporal.enabled:
        raise InputError("keyframes are carried through their shot by the temporal prior: "
                         "drop --no-temporal")
    if cfg.hints is not None:
        if not cfg.temporal.enabled:
            raise InputError("hints are carried through their shot by the temporal prior: "
                             "drop --no-temporal")
        read_hints(cfg.hints)  # a bad file fails before any work
    per_shot = shot_reference_files(cfg)
    if cfg.references or per_shot:
        if not cfg.temporal.enabled:
            raise InputError("references steer each shot's anchor frame, carried through the "
                             "shot by the temporal prior: drop --no-temporal")
        read_references(cfg)  # a bad reference fails before any work
        for path in per_shot.values():
            read_reference(path)
    weights = verify_weights(cfg.weights, cfg.model)
    # On Ray the workers colorize; the driver needs no network of its own. Either way the job
    # records the precision that runs (``auto`` resolved here), so that every worker and any
    # resume computes with the same network.
    colorizer = None if cfg.uses_ray else make_colorizer(cfg, weights)
    precision = (colorizer.backend.precision if colorizer is not None
                 else resolve_precision(cfg.backend, cfg.device, weights.digest, cfg.precision))
    cfg = dataclasses.replace(cfg, precision=precision)
    segment_frames = cfg.segment_frames or max(1, round(SEGMENT_SECONDS * float(info.rate or 24)))
    work = cfg.work_dir or dst.with_name(dst.name + ".vidcolor-job")
    identity = job_identity(fingerprint(src, info), cfg, segment_frames, weights.digest)
    lock = JobLock(work, dst)
    try:
        return _run_locked(src, dst, cfg, info, colorizer, work, identity, segment_frames, fmt,
                           progress, keyed)
    finally:
        lock.release()


def _run_locked(src: Path, dst: Path, cfg: JobConfig, info: MediaInfo,
                colorizer: FrameColorizer | None, work: Path, identity: dict,
                segment_frames: int, fmt: str, progress: Progress, keyed: bool) -> int:
    """The render of :func:`run_video`, with the job folder locked; returns its frame count."""
    if cfg.restart and discard_job(work):
        log.info("--restart: discarded the job in %s", work)
    job = Job.open(work, identity)
    fresh = job is None
    need = 0
    try:
        if job is None:
            job, timeline = _plan_job(src, info, cfg, work, identity, segment_frames, keyed)
        else:
            done = job.verify(dst.suffix)
            log.info("resuming: %d of %d segments done", done, len(job.segments))
            timeline = Timeline(np.load(work / "pts.npy"), job.manifest["seekable"])
        need = job_need(src, info, cfg, [s for s in job.segments if not s["done"]])
        check_free_space(work, need)
        if cfg.uses_ray:
            from vidcolor.cluster import ray_executor

            with ray_executor(src, info, cfg, job, timeline, dst.suffix, fmt,
                              progress) as executor:
                run_segments(job, executor, dst.suffix, progress)
        else:
            assert colorizer is not None
            run_segments(job, LocalExecutor(src, info, cfg, colorizer, job, timeline, dst.suffix,
                                            fmt, progress), dst.suffix, progress)
        fault_point("assembly")
        with atomic_path(dst) as tmp:
            assemble([job.segment_path(s, dst.suffix) for s in job.segments], src, tmp, fmt,
                     info.rotation)
    except BaseException as e:
        # A planned job is worth keeping after a full disk or an interruption (the first pass
        # need not run again); after any other failure before a segment is done, it is not.
        kept = job is not None and (isinstance(e, (OSError, KeyboardInterrupt))
                                    or any(s["done"] for s in job.segments))
        if fresh and not kept:
            shutil.rmtree(work, ignore_errors=True)  # nothing worth resuming
        elif job is not None:
            log.info("the job is kept in %s: re-run the same command to resume", work)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise full_disk_error(e, work, need) from e
        raise
    finally:
        progress.close()
    if not cfg.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return job.manifest["frames"]


def _plan_job(src: Path, info: MediaInfo, cfg: JobConfig, work: Path, identity: dict,
              segment_frames: int, keyed: bool) -> tuple[Job, Timeline]:
    """Scan the input and create the job: its shots, their anchors and the segments."""
    # Without the temporal prior cuts change nothing: the pass only counts and times frames.
    temporal = cfg.temporal.enabled
    scan = first_pass(src, info, cfg.shots, stats=temporal, detect=temporal)
    if scan.frames == 0:
        raise InputError(f"no frame of {src} could be decoded")
    if info.frames > scan.frames:
        log.warning("%s is damaged: %d frames decode and will be colorized, %d declared",
                    src.name, scan.frames, info.frames)
    if scan.decode.bad_packets:
        log.warning("%s is damaged: %d bad packets skipped", src.name, scan.decode.bad_packets)
    if scan.decode.repaired_times:
        log.warning("%s is damaged: %d frame times repeated or went back; each was put half a "
                    "frame after the one before", src.name, scan.decode.repaired_times)
    timeline = Timeline.from_scan(scan.pts, info, bool(scan.decode.repaired_times))
    keyframes = find_keyframes(cfg.keyframes_dir, list(cfg.keyframes), scan) if keyed else {}
    hints = by_frame(read_hints(cfg.hints), info, scan.frames) if cfg.hints else {}
    shots = []
    for first, last, rep in scan.anchors():
        keys = sorted(k for k in keyframes if first <= k <= last)
        hinted = sorted(f for f in hints if first <= f <= last)
        anchor = keys[0] if keys else hinted[0] if hinted else rep
        shots.append((first, last, anchor))
        unused = [k for k in keys + hinted if k != anchor]
        if unused:
            log.warning("shot at frame %d is steered at frame %d; its keyframes or hints at "
                        "frames %s are not used (one frame per shot)", first, anchor, unused)
    keyed_anchors = {a: str(keyframes[a].resolve()) for _, _, a in shots if a in keyframes}
    check_keyframes(src, info, timeline, keyed_anchors)
    hinted_anchors = {a: [h.to_json() for h in hints[a]] for _, _, a in shots if a in hints}
    per_shot = shot_reference_files(cfg)
    referenced, digests = {}, {}
    for number, (_, _, anchor) in enumerate(shots, start=1):
        files = [*cfg.references, *([per_shot[number]] if number in per_shot else [])]
        for path in files:  # a task checks that it reads these very files (see reference_set)
            digests.setdefault(path, sha256_of(path))
        if files:
            referenced[anchor] = [(str(Path(p).resolve()), digests[p]) for p in files]
    job = Job.create(work, identity, scan.cuts, scan.frames, shots, segment_frames,
                     keyed_anchors, timeline.seekable, temporal, hinted_anchors, referenced)
    np.save(work / "times.npy", scan.times)
    np.save(work / "pts.npy", timeline.pts)
    return job, timeline
