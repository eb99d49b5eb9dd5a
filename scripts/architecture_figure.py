"""docs/architecture.png: vidcolor's modules laid out by the imports they actually make.

Every module of ``vidcolor/`` is parsed (tests/test_structure.py's import graph, imports inside
functions included); a module stands one row above the lowest module it imports, so every
arrow points down and the picture is itself the proof that there is no import circle. The
pipeline's stages are coloured by role: the entry points, the one runner and its two
executors, the stages, the modules that own state, and the helpers below them. ``lab/``
(training, data, losses, evaluation, quantisation, metrics) is drawn apart when it exists:
it imports the runtime, the runtime never imports it.

Example::

    python scripts/architecture_figure.py            # writes docs/architecture.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_structure import import_graph  # noqa: E402  (the graph the test checks)

ROLES = {  # module (without "vidcolor.") -> role; BGR colours below
    "cli": "entry", "__main__": "entry", "vidcolor": "entry", "pipeline": "entry",
    "batch": "entry", "preview": "entry", "server": "entry", "image": "entry",
    "runner": "runner", "cluster": "runner",
    "segments": "state", "temporal": "state", "shot": "state", "hints": "state",
}
COLOURS = {"entry": (200, 225, 255), "runner": (160, 230, 160), "state": (170, 200, 250),
           "stage": (235, 235, 235), "lab": (230, 200, 240)}
NOTES = {"runner": "run_segments + LocalExecutor", "cluster": "RayExecutor",
         "segments": "job manifest, states on disk", "temporal": "ShotState",
         "shot": "Shot, anchor_frame", "colorize": "FrameColorizer (stateless)",
         "hints": "hints.json"}
BOX_H, ROW_GAP, COL_GAP, MARGIN = 44, 60, 14, 30
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _short(name: str) -> str:
    return name.removeprefix("vidcolor.") if name != "vidcolor" else "vidcolor"


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    """Row of each module: 0 for one that imports nothing of vidcolor, else 1 + its deepest."""
    depth: dict[str, int] = {}

    def row(node: str) -> int:
        if node not in depth:
            depth[node] = 1 + max((row(t) for t in graph[node]), default=-1)
        return depth[node]

    for node in graph:
        row(node)
    return depth


def reduced(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The edges that no longer path implies.

    An import that a module imported also makes is left out, so the picture shows the structure
    rather than every line of every import.
    """
    reach: dict[str, set[str]] = {}

    def below(node: str) -> set[str]:
        if node not in reach:
            reach[node] = set()
            for t in graph[node]:
                reach[node] |= {t} | below(t)
        return reach[node]

    return {n: {t for t in ts if not any(t in below(o) for o in ts if o != t)}
            for n, ts in graph.items()}


def role(name: str) -> str:
    short = _short(name)
    if short.startswith("lab"):
        return "lab"
    return ROLES.get(short, "stage")


def draw(graph: dict[str, set[str]]) -> np.ndarray:
    """The figure as a BGR image."""
    graph = {m: t for m, t in graph.items() if not m.endswith("_version")}
    graph = {m: {t for t in ts if t in graph} for m, ts in graph.items()}
    depth = layers(graph)
    top = max(depth.values())
    rows: dict[int, list[str]] = {}
    for name in sorted(graph, key=lambda n: (role(n) == "lab", _short(n))):
        rows.setdefault(top - depth[name], []).append(name)
    sizes = {n: max(cv2.getTextSize(_short(n), FONT, 0.55, 1)[0][0],
                    cv2.getTextSize(NOTES.get(_short(n), ""), FONT, 0.4, 1)[0][0]) + 18
             for n in graph}
    width = max(sum(sizes[n] + COL_GAP for n in r) for r in rows.values()) + 2 * MARGIN
    height = (top + 1) * (BOX_H + ROW_GAP) + 2 * MARGIN + 40
    img = np.full((height, width, 3), 255, np.uint8)
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for r, names in rows.items():
        total = sum(sizes[n] + COL_GAP for n in names) - COL_GAP
        x = (width - total) // 2
        y = MARGIN + r * (BOX_H + ROW_GAP)
        for n in names:
            boxes[n] = (x, y, x + sizes[n], y + BOX_H)
            x += sizes[n] + COL_GAP
    spine = {"cli", "pipeline", "runner", "cluster", "batch", "preview", "render", "shot"}
    edges = cv2.cvtColor(np.full(img.shape[:2], 255, np.uint8), cv2.COLOR_GRAY2BGR)
    for src, targets in reduced(graph).items():
        x0, y0, x1, y1 = boxes[src]
        for t in targets:
            u0, v0, u1, _ = boxes[t]
            strong = _short(src) in spine and _short(t) in spine
            cv2.line(edges, ((x0 + x1) // 2, y1), ((u0 + u1) // 2, v0),
                     (90, 90, 90) if strong else (200, 200, 200), 2 if strong else 1,
                     cv2.LINE_AA)
    img = np.minimum(img, edges)
    for n, (x0, y0, x1, y1) in boxes.items():
        cv2.rectangle(img, (x0, y0), (x1, y1), COLOURS[role(n)], -1)
        cv2.rectangle(img, (x0, y0), (x1, y1), (80, 80, 80), 1)
        note = NOTES.get(_short(n))
        cv2.putText(img, _short(n), (x0 + 9, y0 + (20 if note else 28)), FONT, 0.55,
                    (20, 20, 20), 1, cv2.LINE_AA)
        if note:
            cv2.putText(img, note, (x0 + 9, y0 + 37), FONT, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    legend = [("entry points", "entry"), ("the runner and its two executors", "runner"),
              ("owns state", "state"), ("stages and helpers", "stage"), ("lab/", "lab")]
    x, y = MARGIN, height - 30
    for text, key in legend:
        cv2.rectangle(img, (x, y - 14), (x + 20, y + 4), COLOURS[key], -1)
        cv2.rectangle(img, (x, y - 14), (x + 20, y + 4), (80, 80, 80), 1)
        cv2.putText(img, text, (x + 28, y), FONT, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
        x += 28 + cv2.getTextSize(text, FONT, 0.5, 1)[0][0] + 30
    return img


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "architecture.png")
    args = parser.parse_args()
    if not cv2.imwrite(str(args.out), draw(import_graph())):
        raise SystemExit(f"cannot write {args.out}")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
