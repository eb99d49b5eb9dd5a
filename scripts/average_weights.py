r"""Average networks in weight space and write the result as weights (fp16 safetensors + sha256).

Each input is a training checkpoint (``last.pt``: its moving average where it kept one) or a
weights file (``.safetensors``); all must be points of one training chain (the same network,
fine-tuned from one another), where a straight line between them stays a good network
(Wortsman et al. 2022, WiSE-FT). The weights shipped on 2026-12-02 (½ stage 6 + ½ stage 11) were
made so::

    git show 258ceb8~1:vidcolor/model_files/vidcolor-lite0.safetensors > stage6.safetensors
    python scripts/average_weights.py stage6.safetensors runs/s12/last.pt --shares 0.5 0.5 \
        --out vidcolor/model_files/vidcolor-lite0.safetensors

(One checkpoint alone is written by ``scripts/train.py --out RUN --export FILE``.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.weights import average_states, checkpoint_state, write_weights


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("inputs", type=Path, nargs="+",
                   help="checkpoints (.pt) or weights (.safetensors)")
    p.add_argument("--shares", type=float, nargs="+", help="one per input, summing to 1 "
                   "(default: equal)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    shares = args.shares or [1.0 / len(args.inputs)] * len(args.inputs)
    states = [checkpoint_state(path)[0] for path in args.inputs]
    try:
        digest = write_weights(average_states(states, shares), args.out)
    except ValueError as e:
        p.error(str(e))
    print(f"{args.out}  sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
