"""The one segment runner: a job's planned segments, run by an executor, recorded as they end.

Two executors stand behind :func:`run_segments`: :class:`LocalExecutor` renders the segments
one after another in this process; :class:`vidcolor.cluster.RayExecutor` submits them to Ray as
chains of tasks. Either way the runner visits the segments not yet done in an order in which
each follows the one whose state it starts from (:func:`vidcolor.segments.render_order`), and
records each in the job (its file, the states it hands on) as it finishes. The bytes do not
depend on the executor or on the order.

The colorizer a job runs with is made here too (:func:`make_colorizer`), for the pipeline, the
batch, the preview and Ray's workers alike.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig
from vidcolor.image import read_reference, reference_set
from vidcolor.probe import MediaInfo
from vidcolor.progress import Progress
from vidcolor.reference import ReferenceSet
from vidcolor.render import Segment, Timeline, render_segment
from vidcolor.segments import Job, render_order
from vidcolor.temporal import ShotState
from vidcolor.weights import Weights, shipped_model, verify_weights

log = logging.getLogger(__name__)

Row = dict[str, Any]  # a segment as the job manifest holds it


def make_colorizer(cfg: JobConfig, weights: Weights | None = None) -> FrameColorizer:
    """The backend and frame colorizer of a job, with ``weights`` (default: ``cfg.weights``).

    The torch network is built only if the backend needs it (see
    :func:`vidcolor.backends.create_backend`).
    """
    weights = weights or verify_weights(cfg.weights, cfg.model)
    backend = create_backend(cfg.backend, weights.load, cfg.device, weights.digest, cfg.threads,
                             cfg.precision)
    log.debug("backend: %s (%s)", backend.name, backend.precision)
    tile = cfg.tile
    model = shipped_model(cfg.model)
    if model.flat_regions:
        tile = dataclasses.replace(tile, flat_regions=True)
    return FrameColorizer(backend, tile, cfg.temporal, drawn=model.drawn)


def read_references(cfg: JobConfig) -> list:
    """The job's reference photos, read and checked (one line on a bad one, before any work)."""
    return [read_reference(path) for path in cfg.references]


def make_references(cfg: JobConfig, weights: Weights | None = None) -> ReferenceSet | None:
    """The job's references prepared for matching with the network's encoder (``None``: none).

    Through :func:`vidcolor.image.reference_set`, as the render's anchor frames take theirs, so
    a still and a film prepare a reference the same way, once.
    """
    if not cfg.references:
        return None
    weights = weights or verify_weights(cfg.weights, cfg.model)
    return reference_set(cfg.references, weights.path)


class Executor(Protocol):
    """Renders the segments it is given; says which have finished and what they hand on."""

    def submit(self, row: Row) -> None:
        """Take segment ``row`` (it runs after the segment it starts from)."""

    def finished(self) -> Iterator[tuple[Row, ShotState | None, ShotState | None]]:
        """``(row, state, anchor)`` of each segment taken, as it finishes, its file written.

        The runner records a segment before asking for the next.
        """


def run_segments(job: Job, executor: Executor, suffix: str, progress: Progress) -> None:
    """Run every segment of ``job`` not yet done on ``executor``, recording each as it ends."""
    progress.start(job.manifest["frames"], "frames")
    progress.advance(job.frames_done)
    for row in render_order(job.segments):
        if not row["done"]:
            executor.submit(row)
    for row, state, anchor in executor.finished():
        job.finish_segment(row, suffix, state, anchor)


class LocalExecutor:
    """The segments one after another in this process, with one colorizer."""

    def __init__(self, src: Path, info: MediaInfo, cfg: JobConfig, colorizer: FrameColorizer,
                 job: Job, timeline: Timeline, suffix: str, fmt: str,
                 progress: Progress) -> None:
        """Render segments of ``job`` of ``src`` into its folder (see :func:`render_segment`)."""
        self.src, self.info, self.cfg, self.colorizer = src, info, cfg, colorizer
        self.job, self.timeline, self.suffix, self.fmt = job, timeline, suffix, fmt
        self.progress = progress
        self.queue: list[Row] = []

    def submit(self, row: Row) -> None:
        """Queue ``row``; it is rendered when :meth:`finished` reaches it."""
        self.queue.append(row)

    def finished(self) -> Iterator[tuple[Row, ShotState | None, ShotState | None]]:
        """Render the queued segments in order; each starts from the state recorded before it."""
        for row in self.queue:
            result = render_segment(self.src, self.info, self.cfg, self.colorizer,
                                    Segment.from_manifest(row), self.job.start_state(row),
                                    self.job.segment_path(row, self.suffix), self.fmt,
                                    self.timeline, self.job.folder, self.progress)
            yield row, result.state, result.anchor
