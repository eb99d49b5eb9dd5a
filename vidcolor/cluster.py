"""Ray: a film's segments rendered as chains of tasks, on one machine or a cluster.

Optional (``pip install "vidcolor[ray]"``); nothing else in vidcolor imports Ray, and this module
imports it only inside its functions.

The job is a small DAG. Every segment is one task (:func:`vidcolor.render.render_segment`),
whose argument is the :class:`~vidcolor.temporal.ShotState` the segment before it in its chain
ends with: the ``ObjectRef`` of that task's state output, so Ray runs a shot's chain in order
and different shots' chains side by side. A shot's backward chain starts from a one-frame task
for its anchor (:func:`vidcolor.render.anchor_state`), so it runs beside the forward chain.
A task reads its own frames from the input (which
must be at the same path on every node), encodes its segment and returns its bytes through the
object store, or, with a ``--work-dir`` all nodes share, writes them straight into the job folder
and returns their size and sha256. The driver alone owns the job folder and its manifest: it
records segments in whatever order they finish, and assembles as a single process does. The
file is byte-identical to a single-process render, whatever the workers and the order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidcolor.atomic import write_atomic
from vidcolor.config import JobConfig
from vidcolor.errors import InputError, OutputError, VidcolorError
from vidcolor.probe import MediaInfo
from vidcolor.progress import Progress
from vidcolor.render import Segment, Timeline, anchor_state, render_segment
from vidcolor.segments import Job
from vidcolor.temporal import ShotState

log = logging.getLogger(__name__)

MISSING = 'Ray is not installed: --ray and --workers need the extra: pip install "vidcolor[ray]"'
RETRIES = 3  # a task whose worker dies is run again this many times

_COLORIZERS: dict[tuple, Any] = {}  # per worker process: the colorizer of the job's settings


def check_available(cfg: JobConfig) -> None:
    """Fail at once, in one line, when Ray is missing or the cluster named does not answer.

    Raises:
        InputError: Ray cannot be imported.
        OutputError: nothing answers at the cluster's address.
    """
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError(MISSING)
    address = _address(cfg)
    if address:
        try:
            _check_reachable(address)
        except ConnectionError as e:
            raise OutputError(f"cannot reach the Ray cluster at {address}: {e}") from e


def _address(cfg: JobConfig) -> str | None:
    """The cluster named by the settings or the environment (``--workers``: a local one)."""
    return cfg.ray_address or (None if cfg.workers else os.environ.get("RAY_ADDRESS"))


def _colorizer(cfg: JobConfig) -> Any:
    """The worker's colorizer for ``cfg`` (built once per worker process and settings)."""
    from vidcolor.runner import make_colorizer

    key = (cfg.model, cfg.weights, cfg.backend, cfg.precision, cfg.device, cfg.threads, cfg.tile,
           cfg.temporal)
    if key not in _COLORIZERS:
        _COLORIZERS.clear()
        _COLORIZERS[key] = make_colorizer(cfg)
    return _COLORIZERS[key]


def segment_task(src: str, info: MediaInfo, cfg: JobConfig, seg: Segment,
                 start_state: ShotState | None, fmt: str, timeline: Timeline, suffix: str,
                 shared_dir: str | None) -> tuple[bytes | tuple[int, str],
                                                  ShotState | None, ShotState | None]:
    """One segment on a worker; returns its file and the states it hands on.

    The file comes back as bytes, or as ``(size, sha256)`` when written into ``shared_dir``.
    """
    colorizer = _colorizer(cfg)
    with tempfile.TemporaryDirectory(prefix="vidcolor-task-") as tmp:
        folder = Path(shared_dir) if shared_dir else Path(tmp)
        out = folder / f"{seg.file}{suffix}"
        result = render_segment(Path(src), info, cfg, colorizer, seg, start_state, out, fmt,
                                timeline, Path(tmp))
        data = out.read_bytes()
        payload: bytes | tuple[int, str] = data
        if shared_dir:
            payload = (len(data), hashlib.sha256(data).hexdigest())
    return payload, result.state, result.anchor


def anchor_task(src: str, info: MediaInfo, cfg: JobConfig, seg: Segment, fmt: str,
                timeline: Timeline) -> ShotState:
    """The state after a shot's anchor frame, on a worker (see :func:`anchor_state`)."""
    return anchor_state(Path(src), info, cfg, _colorizer(cfg), seg, fmt, timeline)


def _connect(cfg: JobConfig) -> bool:
    """Connect to the cluster (``cfg.ray_address``, else ``RAY_ADDRESS``) or start a local Ray.

    Returns whether this process started (and so must stop) it.

    Raises:
        OutputError: the cluster cannot be reached or Ray cannot start.
    """
    import ray

    if ray.is_initialized():
        return False
    address = _address(cfg)
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR,
                              "include_dashboard": False}
    try:
        if address:  # already found reachable by check_available
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=cfg.workers or os.cpu_count() or 1, **kwargs)
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, TimeoutError...
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OutputError(f"cannot reach {where}: {first}") from e
    return True


CONNECT_SECONDS = 10.0


def _check_reachable(address: str) -> None:
    """Refuse a cluster address nothing answers at (Ray itself would retry for many minutes).

    ``auto`` and other forms without a port are left to Ray.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as e:
        raise ConnectionError(e.strerror or str(e)) from e


@contextlib.contextmanager
def ray_executor(src: Path, info: MediaInfo, cfg: JobConfig, job: Job, timeline: Timeline,
                 suffix: str, fmt: str, progress: Progress) -> Iterator[RayExecutor]:
    """Ray, connected (or started) for the time of the block, as the executor of ``job``.

    Raises:
        VidcolorError: a task failed with one (finished segments are kept for a resume).
        OutputError: the cluster cannot be reached.
    """
    check_available(cfg)
    import ray

    started = _connect(cfg)
    executor = None
    try:
        executor = RayExecutor(ray, src, info, cfg, job, timeline, suffix, fmt, progress)
        yield executor
    finally:
        # Tasks still out when a task fails: ending our own Ray (or our connection: a job's
        # tasks end with its driver) stops them all. Cancelling them first can crash the
        # driver: Ray's own race between a cancel and a task's reply (ray-project/ray#54527),
        # seen here as a fatal "unexpected system state" and 19 lines of stack on stderr.
        # Only a Ray the caller started keeps running, so only there are they cancelled.
        if started:
            with _stderr_to_log():
                ray.shutdown()
        elif executor is not None:
            for ref in executor.pending:
                ray.cancel(ref)


@contextlib.contextmanager
def _stderr_to_log() -> Iterator[None]:
    """Hold what is written to file descriptor 2 meanwhile, and log it (debug) instead.

    Ray's C++ core, stopping, fails the tasks still out and writes errors that only say so
    ("Failed to push error to driver for task ...") straight to the process's stderr, past
    Python's logging; the user has already been told what went wrong, in one line.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            held = sink.read().decode(errors="replace").strip()
            if held:
                log.debug("Ray, stopping:\n%s", held)


class RayExecutor:
    """A job's segments as Ray tasks, each chained to the task whose state it starts from."""

    def __init__(self, ray: Any, src: Path, info: MediaInfo, cfg: JobConfig, job: Job,
                 timeline: Timeline, suffix: str, fmt: str, progress: Progress) -> None:
        """Tasks for the segments of ``job``; the settings and timeline go to the store once."""
        self.ray, self.src, self.job, self.suffix, self.fmt = ray, src, job, suffix, fmt
        self.progress = progress
        self.shared = str(job.folder) if cfg.work_dir is not None else None
        threads = cfg.threads or 1
        self.task = ray.remote(segment_task).options(
            num_returns=3, max_retries=RETRIES, retry_exceptions=False, num_cpus=threads,
            num_gpus=cfg.gpus_per_task if cfg.device == "cuda" else 0)
        task_cfg = dataclasses.replace(cfg, threads=threads)
        self.anchor = ray.remote(anchor_task).options(max_retries=RETRIES,
                                                      retry_exceptions=False, num_cpus=threads)
        self.args = [ray.put(v) for v in (info, task_cfg, timeline)]
        self.refs: dict[int, Any] = {}
        self.anchors: dict[int, Any] = {}
        self.pending: dict[Any, dict[str, Any]] = {}  # the tasks still out

    def submit(self, row: dict[str, Any]) -> None:
        """Submit the task of ``row``, its start state the reference of the task before it."""
        segments = self.job.segments
        after = row["after"]
        if after is None:
            start: Any = None
        elif segments[after]["done"]:
            start = self.job.start_state(row)
        elif row["from_anchor"]:
            # The backward chain starts from a task of its own for the anchor frame, not
            # after the whole segment at the anchor (the same state: shorter chains).
            if after not in self.anchors:
                self.anchors[after] = self.anchor.remote(
                    str(self.src), self.args[0], self.args[1],
                    Segment.from_manifest(segments[after]), self.fmt, self.args[2])
            start = self.anchors[after]
        else:
            start = self.refs[after][1]
        refs = self.task.remote(str(self.src), self.args[0], self.args[1],
                                Segment.from_manifest(row), start, self.fmt, self.args[2],
                                self.suffix, self.shared)
        self.refs[row["index"]] = refs
        self.pending[refs[0]] = row

    def finished(self) -> Iterator[tuple[dict[str, Any], ShotState | None, ShotState | None]]:
        """Each segment as its task returns, in any order, its file written into the job."""
        ray = self.ray
        while self.pending:
            ready, _ = ray.wait(list(self.pending), num_returns=1)
            row = self.pending.pop(ready[0])
            payload = _get(ray, ready[0])
            refs = self.refs[row["index"]]
            state, anchor = _get(ray, refs[1]), _get(ray, refs[2])
            path = self.job.segment_path(row, self.suffix)
            if isinstance(payload, bytes):
                write_atomic(path, payload)
            else:
                _check_shared(path, *payload)
            yield row, state, anchor
            self.progress.advance(row["end"] - row["start"] + 1)


def _get(ray: Any, ref: Any) -> Any:
    """``ray.get``; a task's own error (vidcolor's, or an OS error) is raised as itself.

    So the CLI shows its one line, as for a single process (a full disk on a worker, say).
    """
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, (VidcolorError, OSError)):
            raise cause from None
        raise


def _check_shared(path: Path, size: int, sha256: str) -> None:
    """Check a segment a worker wrote into the shared job folder against what it reported."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise OutputError(f"a worker wrote {path}, but the driver cannot read it ({e.strerror}): "
                          "is --work-dir on storage all nodes share?") from e
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
        raise OutputError(f"{path} is not what the worker wrote: is --work-dir on storage all "
                          "nodes share?")
