"""Command line: argparse -> JobConfig -> pipeline. The only place that prints or exits."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from vidcolor._version import __version__
from vidcolor.config import (
    PRECISIONS,
    EncodeConfig,
    JobConfig,
    ShotConfig,
    TemporalConfig,
    TileConfig,
)
from vidcolor.errors import VidcolorError
from vidcolor.probe import is_image_path
from vidcolor.weights import MODEL_NAMES

log = logging.getLogger("vidcolor")

EXAMPLES = """examples:
  vidcolor film.mp4 -o film_color.mp4
  vidcolor photo.jpg -o photo_color.png
  vidcolor scans/ -o scans_color/
  vidcolor film.mp4 -o film.mkv --codec ffv1
"""


def _int_in(lo: int, hi: int):
    """An argparse type: an integer in ``lo..hi``."""
    return _number_in(int, lo, hi)


def _float_in(lo: float, hi: float):
    """An argparse type: a number in ``lo..hi``."""
    return _number_in(float, lo, hi)


def _number_in(kind: type, lo: float, hi: float):
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}..{hi}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its defaults come from the config dataclasses)."""
    enc, tile = EncodeConfig(), TileConfig()
    p = argparse.ArgumentParser(
        prog="vidcolor",
        description="Colorize black-and-white video and photos.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, help="video file, image file or folder of images")
    p.add_argument("-o", "--output", type=Path, help="output file or folder")
    p.add_argument("--preview", type=Path, metavar="DIR",
                   help="no render: write one colorized frame per shot, index.html and "
                        "shots.json into DIR")
    p.add_argument("--preview-clips", type=_float_in(0, 600), default=0.0, metavar="SECONDS",
                   help="with --preview: also a colorized clip of this length per shot, "
                        "from its preview frame on")
    p.add_argument("--hints", type=Path, metavar="FILE",
                   help="colour hints (hints.json of `vidcolor hints`): each hinted shot "
                        "follows them")
    p.add_argument("--keyframes", type=Path, metavar="DIR",
                   help="recoloured preview images (same names) that steer their shots")
    p.add_argument("--keyframe", action="append", default=[], metavar="FRAME=PATH",
                   help="a colour image of frame FRAME (0-based) that steers its shot; repeatable")
    p.add_argument("--reference", action="append", default=[], type=Path, metavar="IMAGE",
                   help="a colour photo of the same place, people or era whose colours "
                        "are taken where it matches; repeatable")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--recursive", action="store_true",
                   help="with a folder: its subfolders too, mirrored under the output")
    p.add_argument("--video-ext", metavar="EXT",
                   help="with a folder: write every film in this container (e.g. .mkv)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default=JobConfig().backend,
                   help="inference runtime (auto: ONNX Runtime on CPU, torch on CUDA)")
    p.add_argument("--precision", choices=PRECISIONS, default=JobConfig().precision,
                   help="the network's arithmetic (auto: the int8 model with ONNX Runtime on "
                        "the CPU, fp32 elsewhere)")
    p.add_argument("--model", choices=MODEL_NAMES, default=JobConfig().model,
                   help="the shipped model: photo (photographs, live-action film) or animation "
                        "(cartoons, clip art, animated film)")
    p.add_argument("--weights", type=Path,
                   help="safetensors weights, instead of the --model's shipped ones")
    p.add_argument("--crf", type=int, default=enc.crf, help=f"quality, lower is better ({enc.crf})")
    p.add_argument("--preset", default=enc.preset, help=f"encoder preset ({enc.preset})")
    p.add_argument("--codec", default=enc.codec,
                   help="video encoder (default: the output container's, see docs/formats.md)")
    p.add_argument("--render-size", type=_int_in(32, 4320), default=tile.render_size,
                   help=f"short side of the network's working resolution ({tile.render_size})")
    p.add_argument("--tile-overlap", type=_int_in(0, 112), default=tile.overlap,
                   help=f"minimum overlap of the 224x224 windows, pixels ({tile.overlap})")
    p.add_argument("--batch", type=_int_in(1, 256), default=tile.batch,
                   help=f"windows per network call ({tile.batch})")
    p.add_argument("--no-edge-aware", action="store_true",
                   help="upsample the colours bilinearly instead of along the source's edges")
    p.add_argument("--saturation", type=_float_in(0, 4), default=tile.saturation,
                   help=f"gain on the predicted colours ({tile.saturation})")
    p.add_argument("--no-temporal", action="store_true",
                   help="colorize every frame on its own (no previous-frame prior)")
    p.add_argument("--every", type=_int_in(1, 1000), default=TemporalConfig().every,
                   metavar="N",
                   help="run the network at least every N frames; between, carry the colours "
                        "along the motion (1: every frame; default %(default)s)")
    p.add_argument("--shot-sensitivity", type=_float_in(0, 1), default=ShotConfig().sensitivity,
                   help="0..1, higher finds more cuts")
    p.add_argument("--shots", type=Path, metavar="FILE",
                   help="your own cut list (JSON or CSV of first frames of shots)")
    p.add_argument("--threads", type=_int_in(0, 1024), default=0,
                   help="CPU threads for inference (0: auto)")
    p.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="job folder for resuming (default: OUTPUT.vidcolor-job beside the output)")
    p.add_argument("--segment-frames", type=_int_in(0, 10**7), default=0, metavar="N",
                   help="longest segment in frames (0: about 30 s of video)")
    p.add_argument("--restart", action="store_true",
                   help="discard an interrupted job for this output instead of resuming it")
    p.add_argument("--keep-work", action="store_true",
                   help="keep the job folder (segments, manifest) after success")
    p.add_argument("--ray", action="store_true",
                   help="render shots in parallel on Ray: the cluster in RAY_ADDRESS, else a "
                        "local Ray instance (needs: pip install \"vidcolor[ray]\")")
    p.add_argument("--ray-address", metavar="ADDR", help="the Ray cluster to use (implies --ray)")
    p.add_argument("--workers", type=_int_in(0, 4096), default=0, metavar="N",
                   help="a local Ray instance with N worker processes (implies --ray)")
    p.add_argument("--gpus-per-task", type=_float_in(0, 1), default=JobConfig().gpus_per_task,
                   metavar="F", help="GPU fraction each Ray task asks for on CUDA")
    v = p.add_mutually_exclusive_group()
    v.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    v.add_argument("-q", "--quiet", action="store_true", help="errors only, no progress bar")
    p.add_argument("--version", action=_VersionAction, nargs=0,
                   help="print the version, the weights' sha256 and the available backends")
    return p


class TqdmProgress:
    """Progress bar on stderr."""

    def __init__(self, enabled: bool, position: int | None = None) -> None:
        self.enabled = enabled
        self.position = position
        self.bar = None

    def start(self, total: int | None, unit: str) -> None:
        """Open a bar."""
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit[:-1] if unit.endswith("s") else unit,
                            dynamic_ncols=True, file=sys.stderr, position=self.position,
                            leave=self.position in (None, 0))

    def advance(self, n: int = 1) -> None:
        """Advance the bar."""
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_folder(args: argparse.Namespace, cfg: JobConfig) -> int:
    """A folder: the batch; returns 1 if any file failed.

    One bar counts the files, one below it the current film's frames; the summary table is
    printed at the end (and kept in the output folder).
    """
    from vidcolor.batch import SUMMARY, run_batch, summary_table
    from vidcolor.pipeline import run_job

    ext = args.video_ext
    if ext and not ext.startswith("."):
        ext = "." + ext
    files = TqdmProgress(enabled=not args.quiet, position=0)
    items = run_batch(args.input, args.output, cfg, run_job, recursive=args.recursive,
                      video_ext=ext, progress=files,
                      file_progress=lambda: TqdmProgress(enabled=not args.quiet, position=1))
    failed = sum(i.failed for i in items)
    if not args.quiet:
        print(summary_table(items), file=sys.stderr)
        print(f"vidcolor: {len(items) - failed} of {len(items)} files done, {failed} failed; "
              f"summary in {args.output / SUMMARY}", file=sys.stderr)
    return 1 if failed else 0


def version_report() -> str:
    """What a bug report needs: versions, the weights' digest, the backends this install has."""
    import importlib.util

    from vidcolor.errors import ModelError
    from vidcolor.weights import default_weights_path, verify_weights

    lines = [f"vidcolor {__version__}"]
    digest = ""
    try:
        digest = verify_weights().digest
        lines.append(f"weights: {digest[:12]} ({default_weights_path()})")
    except ModelError as e:
        lines.append(f"weights: {e}")
    try:
        anim = verify_weights(model="animation").digest
        lines.append(f"animation weights: {anim[:12]} ({default_weights_path('animation')})")
    except ModelError as e:
        lines.append(f"animation weights: {e}")
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        from vidcolor.backends import resolve_precision

        providers = ", ".join(onnxruntime.get_available_providers())
        lines.append(f"onnxruntime {onnxruntime.__version__} ({providers}); on the CPU: "
                     f"{resolve_precision('onnx', 'cpu', digest, 'auto')}")
    else:
        lines.append("onnxruntime: not installed")
    import torch

    cuda = f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU" if (
        torch.cuda.is_available()) else "no CUDA"
    lines.append(f"torch {torch.__version__} ({cuda})")
    import av

    lines.append(f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})")
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        try:
            print(version_report(), flush=True)
        except BrokenPipeError:  # `vidcolor --version | head -1`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        parser.exit()


def hints_main(argv: list[str]) -> int:
    """``vidcolor hints DIR``: the colour-hints page of a preview folder, on 127.0.0.1."""
    p = argparse.ArgumentParser(
        prog="vidcolor hints",
        description="Serve the colour-hints page of a preview folder on 127.0.0.1 (hints are "
                    "saved to DIR/hints.json; render with --hints DIR/hints.json).")
    p.add_argument("preview", type=Path, metavar="DIR", help="a folder made by --preview")
    p.add_argument("--port", type=_int_in(0, 65535), default=0, help="0: a free port")
    p.add_argument("--open", action="store_true",
                   help="open the page (its address, with the token) in the default browser")
    p.add_argument("--weights", type=Path, help="other safetensors weights (as for the render)")
    p.add_argument("--render-size", type=_int_in(32, 4096), default=TileConfig().render_size)
    p.add_argument("--saturation", type=_float_in(0, 4), default=TileConfig().saturation)
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="vidcolor: %(message)s", stream=sys.stderr)
    from vidcolor.runner import make_colorizer
    from vidcolor.server import HintsSession, make_server
    from vidcolor.weights import verify_weights

    cfg = JobConfig(weights=args.weights,
                    tile=TileConfig(render_size=args.render_size, saturation=args.saturation))
    try:
        weights = verify_weights(cfg.weights, cfg.model)  # the reference's encoder's too
        session = HintsSession(args.preview, make_colorizer(cfg, weights), weights.path)
        server = make_server(session, args.port)
    except VidcolorError as e:
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return 1
    print(f"vidcolor hints: {server.url} (Ctrl-C to stop)", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hints"] and not Path("hints").exists():
        return hints_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if (args.output is None) == (args.preview is None):
        parser.print_usage(sys.stderr)
        print("vidcolor: error: give an output (-o OUTPUT) or --preview DIR, one of the two",
              file=sys.stderr)
        return 2
    if args.preview is not None and (args.keyframes or args.keyframe or args.hints):
        print("vidcolor: error: --keyframes and --hints apply to a render (-o), not to "
              "--preview",
              file=sys.stderr)
        return 2
    if args.output is not None:
        from vidcolor.encode import check_encoder_options, resolve_codec
        from vidcolor.errors import OutputError
        from vidcolor.outputs import VIDEO_FORMATS

        fmt = VIDEO_FORMATS.get(args.output.suffix.lower())
        try:
            if fmt is not None:
                codec = resolve_codec(args.codec, fmt)
                check_encoder_options(codec, args.crf, args.preset)
        except OutputError as e:
            parser.print_usage(sys.stderr)
            print(f"vidcolor: error: {e}", file=sys.stderr)
            return 2
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="vidcolor: %(message)s", stream=sys.stderr)
    logging.getLogger("vidcolor").setLevel(level)
    cfg = JobConfig(
        device=args.device,
        backend=args.backend,
        precision=args.precision,
        model=args.model,
        weights=args.weights,
        overwrite=args.overwrite,
        threads=args.threads,
        tile=TileConfig(
            render_size=args.render_size, overlap=args.tile_overlap, batch=args.batch,
            edge_aware=not args.no_edge_aware, saturation=args.saturation,
        ),
        encode=EncodeConfig(codec=args.codec, crf=args.crf, preset=args.preset),
        temporal=TemporalConfig(enabled=not args.no_temporal, every=args.every),
        shots=ShotConfig(sensitivity=args.shot_sensitivity, cut_list=args.shots),
        keyframes_dir=args.keyframes,
        keyframes=tuple(args.keyframe),
        hints=args.hints,
        references=tuple(args.reference),
        work_dir=args.work_dir,
        segment_frames=args.segment_frames,
        restart=args.restart,
        keep_work=args.keep_work,
        ray=args.ray,
        ray_address=args.ray_address,
        workers=args.workers,
        gpus_per_task=args.gpus_per_task,
    )
    debug = os.environ.get("VIDCOLOR_DEBUG") == "1"
    from tqdm.contrib.logging import logging_redirect_tqdm

    from vidcolor.pipeline import run_job
    from vidcolor.preview import run_preview

    try:
        with logging_redirect_tqdm():
            progress = TqdmProgress(enabled=not args.quiet)
            if args.preview is not None:
                run_preview(args.input, args.preview, cfg, args.preview_clips, progress)
            elif args.input.is_dir():
                return run_folder(args, cfg)
            else:
                run_job(args.input, args.output, cfg, progress)
    except VidcolorError as e:
        if debug:
            raise
        print(f"vidcolor: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a full disk or a vanished folder in the middle of a job
        if debug:
            raise
        where = f": {e.filename}" if e.filename else ""
        print(f"vidcolor: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if debug:
            raise
        resumable = args.output is not None and args.input.is_file() and not is_image_path(
            args.input)
        hint = ": re-run the same command to resume" if resumable else ""
        print(f"vidcolor: interrupted{hint}", file=sys.stderr)
        return 130
    return 0
