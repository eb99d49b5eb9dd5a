"""vidcolor: colorize black-and-white film and photos.

Public API: :func:`colorize_image`, :func:`colorize_video`, :func:`colorize_folder`,
:class:`JobConfig`, :class:`VidcolorError`. The I/O stages are imported lazily, so
``import vidcolor`` is light.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidcolor._version import __version__
from vidcolor.config import EncodeConfig, JobConfig, TileConfig
from vidcolor.errors import InputError, ModelError, OutputError, ResumeError, VidcolorError

if TYPE_CHECKING:
    import numpy as np

    from vidcolor.batch import BatchItem

__all__ = [
    "EncodeConfig",
    "InputError",
    "JobConfig",
    "ModelError",
    "OutputError",
    "ResumeError",
    "TileConfig",
    "VidcolorError",
    "__version__",
    "colorize_folder",
    "colorize_image",
    "colorize_video",
]


def colorize_image(image: np.ndarray | str | Path, config: JobConfig | None = None,
                   model: str | None = None) -> np.ndarray:
    """Colorize a photo: a path, or a uint8/uint16 array.

    Arrays: gray ``(H, W)`` or ``(H, W, 1)``, RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)``. Returns
    an RGB ``(H, W, 3)`` array (RGBA in, RGBA out: alpha kept) of the input's dtype whose luma
    is the input's. Any other array is an :class:`InputError` naming its shape.

    ``model``: ``photo`` or ``animation`` (drawn pictures), instead of ``config``'s.
    """
    from vidcolor.image import check_pixels, colorize_array, read_image
    from vidcolor.runner import make_colorizer

    if isinstance(image, (str, Path)):
        pixels, peak = read_image(Path(image), alpha=True)
    else:
        pixels, peak = check_pixels(image)
    config = config or JobConfig()
    if model is not None:
        config = dataclasses.replace(config, model=model)
    return colorize_array(make_colorizer(config), pixels, peak)


def colorize_video(src: str | Path, dst: str | Path, **options: Any) -> None:
    """Colorize the video ``src`` into ``dst``.

    ``options`` are :class:`JobConfig` fields (``model``, ``device``, ``weights``, ...) or
    :class:`EncodeConfig` / :class:`TileConfig` fields (``crf``, ``codec``, ``render_size``, ...).
    """
    from vidcolor.pipeline import run_job

    for name, value in (("src", src), ("dst", dst)):
        if not isinstance(value, (str, Path)):
            raise InputError(f"colorize_video takes file paths: {name} is a {type(value).__name__}")
    job = {f.name for f in dataclasses.fields(JobConfig)}
    enc = {f.name for f in dataclasses.fields(EncodeConfig)}
    tile = {f.name for f in dataclasses.fields(TileConfig)}
    unknown = set(options) - job - enc - tile
    if unknown:
        raise TypeError(f"unknown options: {', '.join(sorted(unknown))}")
    cfg = JobConfig(
        **{k: v for k, v in options.items() if k in job},
        encode=EncodeConfig(**{k: v for k, v in options.items() if k in enc}),
        tile=TileConfig(**{k: v for k, v in options.items() if k in tile}),
    )
    run_job(Path(src), Path(dst), cfg)


def colorize_folder(src: str | Path, dst: str | Path, config: JobConfig | None = None,
                    recursive: bool = False, video_ext: str | None = None) -> list[BatchItem]:
    """Colorize every image and video of the folder ``src`` into the folder ``dst``.

    Resumable and tolerant: see :mod:`vidcolor.batch`. Returns what became of each file
    (``result``: ``done``, ``skipped`` or ``failed: ...``); a failure does not raise.
    """
    from vidcolor.batch import run_batch
    from vidcolor.pipeline import run_job

    return run_batch(Path(src), Path(dst), config or JobConfig(), run_job, recursive, video_ext)
