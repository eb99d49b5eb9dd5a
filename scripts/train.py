"""Train the vidcolor colorizer (CPU or CUDA); re-run the same command to resume.

Example::

    python scripts/train.py --out runs/main --images 120000
    python scripts/train.py --out runs/main --export vidcolor/model_files/vidcolor-lite0.safetensors
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.lab.training import SettingsError, TrainConfig, check_config, train

# This project's photos (docs/training.md: not in the repository, beside the checkout); the
# library has no default folder.
PHOTOS = {"data": "../shared/data/train", "val": "../shared/data/val"}


def _yes_no(value: str) -> bool:
    if value.lower() in ("yes", "true", "1"):
        return True
    if value.lower() in ("no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, not {value!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = type(field.default)
        default = PHOTOS.get(field.name, field.default)
        if kind is bool:  # bool("false") is True: spell the values out
            parser.add_argument(flag, type=_yes_no, default=default, metavar="yes|no")
        else:
            parser.add_argument(flag, type=kind, default=default)
    parser.add_argument("--export", type=Path, help="write the run's weights (safetensors), stop")
    parser.add_argument("--export-class-mix", type=float,
                        help="with --export: the colour-distribution head's mix to ship")
    parser.add_argument("--export-class-temperature", type=float,
                        help="with --export: the head's annealed-mean temperature to ship")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    if args.export:
        from vidcolor.weights import export_checkpoint

        if not (Path(cfg.out) / "last.pt").is_file():
            parser.error(f"--export: {Path(cfg.out) / 'last.pt'} does not exist (train first)")
        digest = export_checkpoint(Path(cfg.out) / "last.pt", args.export,
                                   args.export_class_mix, args.export_class_temperature)
        print(f"{args.export}  sha256 {digest}")
        return 0
    try:
        check_config(cfg)
    except SettingsError as err:
        parser.error(str(err))
    train(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
