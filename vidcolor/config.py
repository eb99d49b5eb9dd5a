"""Every setting of a job, with its default, in frozen dataclasses (defaults live only here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PRECISIONS = ("auto", "fp32", "int8")  # JobConfig.precision (see backends.create_backend)


@dataclass(frozen=True)
class TileConfig:
    """How a frame's luminance is brought to the network.

    Attributes:
        render_size: short side, in pixels, of the working resolution the network sees. Up to
            224 one pass sees the whole frame; above it, 224x224 windows cover the frame too.
        overlap: minimum overlap, in pixels, between neighbouring windows.
        batch: windows per network call.
        global_confidence: confidence of the whole-frame pass's chroma as the windows' prior.
        windows: use windows above 224 (``False``: one pass over the whole working frame).
        edge_aware: upsample the chroma with a guided filter on the source luminance.
        saturation: gain on the network's unconditioned chroma (1 = its own colours; it fades
            out where a confident prior sets the colours). The default buys colourfulness near the
            truth's with a little PSNR (the measurements: docs/experiments.md).
        flat_regions: one chroma per line-bounded region of the frame (drawn pictures; see
            :mod:`vidcolor.regions`). ``--model animation`` turns it on where that model's
            entry says so (:data:`vidcolor.weights.SHIPPED_MODELS`).
    """

    render_size: int = 224
    overlap: int = 32
    batch: int = 8
    global_confidence: float = 0.8
    windows: bool = True
    edge_aware: bool = True
    saturation: float = 1.15
    flat_regions: bool = False


@dataclass(frozen=True)
class EncodeConfig:
    """Video encoder settings.

    Attributes:
        codec: an FFmpeg encoder name (libx264, libx265, ffv1, prores_ks, ...); empty: the
            output container's default (:data:`vidcolor.encode.DEFAULT_CODECS`).
        crf: constant rate factor for encoders that take one (libx264, libx265).
        preset: encoder speed preset for encoders that take one.
    """

    codec: str = ""
    crf: int = 18
    preset: str = "medium"


@dataclass(frozen=True)
class ShotConfig:
    """Detector settings.

    Attributes:
        sensitivity: 0..1; higher finds more cuts (lower thresholds).
        min_shot: minimum shot length in frames (later candidates are merged).
        cut_list: a file of cut frames (``--shots``) used instead of detection.
    """

    sensitivity: float = 0.5
    min_shot: int = 6
    cut_list: Path | None = None


@dataclass(frozen=True)
class TemporalConfig:
    """Temporal-prior settings.

    Attributes:
        enabled: condition each frame on the previous one (``--no-temporal`` turns it off).
        confidence: confidence given to the warped prior where the flow is consistent. Below 1
            so that the network keeps a say and errors do not accumulate over a long shot.
        uncertain_confidence: confidence of the warped prior where the forward-backward check
            fails (occlusions, or flow that is only roughly right, as on a road seen from a
            moving car); 0 outside the frame. In a keyframe's shot: ``confidence``.
        blend: the output leans this much (times the prior's confidence) on the warped previous
            chroma: smoothing along the motion, against flicker.
        keyframe_blend: the same in a shot steered by a keyframe, whose colours are the user's:
            where the flow is trusted they are carried along as given, and the network fills in
            what the keyframe does not show.
        drift_tolerance: drift guard: every frame's per-channel chroma spread and mean are kept
            within this fraction of the shot's anchor frame's (the preview still, colorized on
            its own, or a keyframe; moved since by re-anchoring), so colours neither fade to
            grey, nor run away, nor drift in hue.
        reanchor_every: every this many frames from the anchor (0: never) the frame is also
            colorized on its own, and its colour distribution becomes the goal the drift
            guard's target glides to, ``reanchor_rate`` of the way each frame: the guard keeps
            the loop from drifting but follows the colours of what the shot comes to show.
        reanchor_rate: see ``reanchor_every``.
        every: the longest run of frames between network frames (``--every``): between them
            a frame's chroma is the one before it carried along the flow, the drift guard
            applied; the network runs earlier where the flow check fails on much of the frame
            or the brightness jumps, and at anchors and re-anchoring frames
            (:mod:`vidcolor.propagate`). 1: the network colorizes every frame.
    """

    enabled: bool = True
    confidence: float = 0.95
    uncertain_confidence: float = 0.8
    blend: float = 0.95
    keyframe_blend: float = 1.0
    drift_tolerance: float = 0.01
    reanchor_every: int = 16
    reanchor_rate: float = 0.05
    every: int = 4


@dataclass(frozen=True)
class JobConfig:
    """One colorization job.

    Attributes:
        device: ``auto``, ``cpu`` or ``cuda``.
        model: the shipped model: ``photo`` (photographs, film) or ``animation`` (cartoons,
            clip art, animated film); part of a job's identity.
        weights: a safetensors file; ``None`` uses the shipped weights of ``model``.
        overwrite: replace an existing output.
        threads: CPU threads for inference (0: the runtime's default).
        backend: ``auto`` (ONNX Runtime on CPU, torch on CUDA), ``torch`` or ``onnx``.
        precision: ``auto`` (the int8 model on the CPU where it matches the weights, else
            fp32), ``fp32`` or ``int8``.
        keyframes_dir: a folder of recoloured preview images (``--keyframes``).
        keyframes: ``FRAME=PATH`` keyframes (``--keyframe``).
        hints: a ``hints.json`` of colour hints (``--hints``; see :mod:`vidcolor.hints`).
        references: colour reference photos (``--reference``; see :mod:`vidcolor.reference`).
        work_dir: the job folder (default: ``<output>.vidcolor-job`` beside the output).
        segment_frames: longest segment, in frames (0: about 30 seconds of the video).
        restart: discard an interrupted job instead of resuming it.
        keep_work: keep the job folder after success.
        ray: render the segments as Ray tasks (the cluster in ``ray_address`` or
            ``RAY_ADDRESS``, else a local Ray instance); needs the ``ray`` extra.
        ray_address: the Ray cluster to use (implies ``ray``).
        workers: a local Ray instance with this many worker CPUs (implies ``ray``; 0: none).
        gpus_per_task: the GPU fraction each task asks for on CUDA.
    """

    device: str = "auto"
    backend: str = "auto"
    precision: str = "auto"
    model: str = "photo"
    weights: Path | None = None
    overwrite: bool = False
    threads: int = 0
    tile: TileConfig = field(default_factory=TileConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    shots: ShotConfig = field(default_factory=ShotConfig)
    keyframes_dir: Path | None = None
    keyframes: tuple[str, ...] = ()
    hints: Path | None = None
    references: tuple[Path, ...] = ()
    work_dir: Path | None = None
    segment_frames: int = 0
    restart: bool = False
    keep_work: bool = False
    ray: bool = False
    ray_address: str | None = None
    workers: int = 0
    gpus_per_task: float = 0.25

    @property
    def uses_ray(self) -> bool:
        """Whether the render runs on Ray."""
        return self.ray or bool(self.ray_address) or self.workers > 0
