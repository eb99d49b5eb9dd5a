"""Evaluate the colorizer on a folder of colour photos (default ../shared/data/val).

Prints a markdown table (PSNR, colourfulness, classifier agreement, gray baseline, with-prior
PSNR) and writes a PNG grid (gray | ours | truth) of 16 images.

Example::

    python scripts/evaluate.py --grid eval_grid.png
    python scripts/evaluate.py --checkpoint runs/main/last.pt --limit 100
    python scripts/evaluate.py --tiling --limit 60   # windows vs whole frame, seams, bleeding
    python scripts/evaluate.py --frontier docs/frontier.png --compare runs/s8/last.pt=s8
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import PRECISIONS, TileConfig
from vidcolor.lab.evaluation import (
    evaluate_folder,
    evaluate_hints,
    evaluate_tiling,
    gain_sweep,
    tiling_table,
)
from vidcolor.network import colorizer_for_state, set_class_head
from vidcolor.weights import checkpoint_state, sha256_of, verify_weights

DEFAULT_VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "val"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--folder", type=Path, default=DEFAULT_VAL)
    p.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    p.add_argument("--weights", type=Path, help="safetensors weights (default: shipped)")
    p.add_argument("--checkpoint", type=Path, help="a training checkpoint (last.pt) instead")
    p.add_argument("--render-size", type=int, default=TileConfig().render_size)
    p.add_argument("--saturation", type=float, nargs="+", default=[TileConfig().saturation],
                   help="one or more chroma gains to evaluate (a PSNR-colourfulness sweep)")
    p.add_argument("--grid", type=Path, help="write a gray | ours | truth PNG grid here")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--tiling", action="store_true",
                   help="compare windows with one whole-frame pass (seams, coherence, bleeding)")
    p.add_argument("--render-sizes", type=int, nargs="+", default=[224, 320, 448],
                   help="working resolutions for --tiling")
    p.add_argument("--scales", type=int, nargs="+", default=[1, 4],
                   help="input upscaling factors for --tiling")
    p.add_argument("--global-confidence", type=float, default=TileConfig().global_confidence,
                   help="with --tiling: confidence of the global pass as the windows' prior")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the ONNX backend's network (auto: int8 on CPUs that do it exactly)")
    p.add_argument("--frontier", type=Path, metavar="PNG",
                   help="instead: sweep the chroma gain (--gains) and draw the PSNR-colourfulness "
                        "frontier of the weights and of each --compare checkpoint")
    p.add_argument("--gains", type=float, nargs="+", default=[1.0, 1.1, 1.15, 1.2, 1.3])
    p.add_argument("--compare", nargs="*", default=[], metavar="CKPT[=NAME]",
                   help="with --frontier: training checkpoints (or weights files) drawn beside "
                        "the weights, each named NAME in the legend (default: its path)")
    p.add_argument("--name", help="with --frontier: the legend's name of the weights")
    p.add_argument("--class-mix", type=float,
                   help="with --checkpoint: the colour-distribution head's mix (0: regression)")
    p.add_argument("--class-temperature", type=float,
                   help="with --checkpoint: the head's annealed-mean temperature")
    p.add_argument("--hints", type=int, nargs="+", metavar="K",
                   help="colour hints: K points taken from the truth (e.g. 1 3 10)")
    p.add_argument("--hint-rule", choices=["largest", "worst", "both"], default="both",
                   help="with --hints: points at the largest regions of one true colour, where "
                        "the automatic result is most wrong (as a user places them), or both")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    backend, source = _backend(args.checkpoint, args.weights, args.threads, args.backend,
                               args.precision, (args.class_mix, args.class_temperature))
    source += f", {backend.name} {backend.precision}"
    if args.tiling:
        rows = evaluate_tiling(backend, args.folder, args.render_sizes, args.scales, args.limit,
                               global_confidence=args.global_confidence)
        print(f"## windows vs whole frame on {args.folder} ({source}, global pass as the "
              f"windows' prior at confidence {args.global_confidence})\n")
        print(tiling_table(rows))
        return 0
    if args.frontier:
        return _frontier(args, backend, source)
    if args.hints:
        tile = TileConfig(render_size=args.render_size, saturation=args.saturation[0])
        print(f"## colour hints ({source})\n")
        rules = ("largest", "worst") if args.hint_rule == "both" else (args.hint_rule,)
        print(evaluate_hints(FrameColorizer(backend, tile), args.folder, args.hints, args.limit,
                             rules))
        return 0
    for gain in args.saturation:
        tile = TileConfig(render_size=args.render_size, saturation=gain)
        result = evaluate_folder(FrameColorizer(backend, tile), args.folder, args.limit, args.grid)
        print(f"## vidcolor on {args.folder} ({source}, render size {args.render_size}, "
              f"saturation {gain})\n")
        print(result.table())
    return 0


def _backend(checkpoint: Path | None, weights_path: Path | None, threads: int, kind: str,
             precision: str, class_head: tuple[float | None, float | None] = (None, None)):
    """The backend of a training checkpoint, or of verified weights; and its description.

    ``class_head``: the checkpoint's colour-distribution head mix and temperature (``None``:
    as saved).
    """
    if checkpoint:
        state, step = checkpoint_state(checkpoint)
        model = colorizer_for_state(set_class_head(state, *class_head))
        model.eval()
        source = f"checkpoint {checkpoint} (step {step})"
        if any(v is not None for v in class_head):
            source += f" class head mix {class_head[0]}, temperature {class_head[1]}"
        digest = f"ckpt-{sha256_of(checkpoint)}-{class_head}"

        def load_model() -> torch.nn.Module:
            return model
    else:
        weights = verify_weights(weights_path)
        source = f"weights {weights_path or 'shipped'}"
        digest, load_model = weights.digest, weights.load
    backend = create_backend(kind, load_model, "cpu", digest, threads, precision)
    return backend, source


def _frontier(args: argparse.Namespace, backend, source: str) -> int:
    from frontier_plot import draw_frontier

    lines = {}
    runs = [(backend, args.name or source.split(" (")[0])]
    for item in args.compare:
        path, _, name = item.partition("=")
        run, source = _backend(Path(path), None, args.threads, args.backend, args.precision)
        runs.append((run, name or source.split(" (")[0]))
    for run, name in runs:
        lines[name] = gain_sweep(FrameColorizer(run, TileConfig(render_size=args.render_size,
                                                                saturation=1.0)),
                                 args.folder, args.gains, args.limit)
        print(f"## {name} on {args.folder}, render size {args.render_size}\n")
        print("| gain | PSNR over gray, dB | CF / truth | top-1 over gray, points |")
        print("| ---: | ---: | ---: | ---: |")
        for p in lines[name]:
            print(f"| {p.gain:g} | {p.psnr_over_gray:+.2f} | {p.cf_ratio:.2f} | "
                  f"{p.top1_over_gray:+.1f} |")
        print()
    draw_frontier(lines, args.frontier)
    print(f"wrote {args.frontier}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
