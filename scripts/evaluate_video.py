"""Temporal stability on real clips: independent frames vs the temporal prior vs the truth.

Each clip (default: every .mp4 in ../shared/data/video) is turned gray (its Y' plane) and
colorized in-process exactly as the pipeline does (same frame building, no encoding), once with
``--no-temporal`` and once with the temporal prior, the network every ``--network-every`` frames
at most (the CLI's ``--every``, 4 by default). Printed per clip and on average: warp error
(Lai et al. 2018, x1000), CDC (TCVC), PSNR vs the true colours, and colourfulness end/start.
``--preview-agreement`` instead runs the preview and the render as a user would (the clips
turned gray) and compares each shot's still with the rendered frame it shows. Also: a synthetic
camera pan over a photo (``--pan-frames``, colourfulness drift) and shot
detection on all clips joined end to end. ``--plot`` writes per-frame colourfulness and warp
error of one clip as a PNG. ``--every N ...`` instead compares propagated frames (the network
every N frames at most) with the network on every frame.

Example::

    python scripts/evaluate_video.py --plot temporal.png
    python scripts/evaluate_video.py --every 2 4 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from video_studies import every_table, preview_agreement_table

from vidcolor.backends import create_backend
from vidcolor.colorize import FrameColorizer
from vidcolor.config import PRECISIONS, TemporalConfig, TileConfig
from vidcolor.lab.clips import anchor_of, colorize, read_clip
from vidcolor.lab.metrics import colorfulness, psnr
from vidcolor.lab.video_metrics import cdc, colorfulness_drift, warp_errors
from vidcolor.shots import ShotDetector, thumbnail
from vidcolor.weights import verify_weights

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def hinted_study(clip: str, rule: str, hinted: list[np.ndarray], auto: list[np.ndarray],
                 truth: list[np.ndarray], at: int, rows: list) -> None:
    """One row: the hinted render's PSNR over the automatic one (whole clip, anchor, worst)."""
    gain = [psnr(h, t) - psnr(a, t) for h, a, t in zip(hinted, auto, truth, strict=True)]
    whole = np.mean([psnr(h, t) for h, t in zip(hinted, truth, strict=True)]) - np.mean(
        [psnr(a, t) for a, t in zip(auto, truth, strict=True)])
    rows.append((clip, rule, float(whole), gain[at], min(gain)))


def pan_clip(frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A slow camera pan (and slight zoom) over a val photo: gray Y' planes and true RGB."""
    photo = sorted((SHARED / "val").glob("*.jpg"))[7]
    img = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    h, w = img.shape[:2]
    grays, rgbs = [], []
    for t in range(frames):
        s = t / max(frames - 1, 1)
        cw, ch = int(w * (0.6 - 0.1 * s)), int(h * (0.6 - 0.1 * s))
        x0, y0 = int((w - cw) * s), int((h - ch) * 0.5)
        rgb = cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], (320, 180),
                         interpolation=cv2.INTER_AREA)
        rgbs.append(rgb)
        grays.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))  # BT.601 Y', full range
    return grays, rgbs


FADE = 12  # frames of each fade or dissolve in the joined shot-detection video


def join_with_transitions(clips: list[list[np.ndarray]]) -> tuple[list[np.ndarray],
                                                                   list[tuple[int, int]]]:
    """Clips' thumbnails joined end to end, with hard cuts and two gradual transitions.

    A fade through black (out and in) follows the second clip and a dissolve the fourth.
    Returns the frames and, for each transition, the window of frames in which a detected cut
    counts as a hit.
    """
    seq: list[np.ndarray] = []
    windows: list[tuple[int, int]] = []
    for k, clip in enumerate(clips):
        clip = list(clip)
        if k == 0:
            seq.extend(clip)
            continue
        kind = {2: "fade", 4: "dissolve"}.get(k, "cut")
        n = min(FADE, len(clip) // 3, len(seq) // 3)
        if kind == "fade":
            for i in range(n):  # fade out the end of the previous clip
                seq[len(seq) - n + i] = seq[len(seq) - n + i] * (1 - (i + 1) / n)
            b = len(seq)
            clip = [f * ((i + 1) / n) if i < n else f for i, f in enumerate(clip)]
            windows.append((b - n, b + n))
        elif kind == "dissolve":
            b = len(seq) - n
            for i in range(n):
                w = (i + 1) / (n + 1)
                seq[b + i] = (1 - w) * seq[b + i] + w * clip[i]
            clip = clip[n:]
            windows.append((b - 2, b + n + 2))
        else:
            windows.append((len(seq), len(seq)))
        seq.extend(clip)
    return seq, windows


def match_cuts(found: list[int], windows: list[tuple[int, int]]) -> tuple[float, float]:
    """Precision and recall of detected cuts against transition windows (one hit each)."""
    matched: set[int] = set()
    hits = 0
    for cut in found:
        for i, (lo, hi) in enumerate(windows):
            if lo <= cut <= hi and i not in matched:
                matched.add(i)
                hits += 1
                break
    return hits / max(len(found), 1), hits / max(len(windows), 1)


def plot(path: Path, series: dict[str, tuple[list[float], list[float]]]) -> None:
    """Two stacked line charts (colourfulness, warp error) drawn with OpenCV."""
    w, h, pad = 900, 260, 50
    canvas = np.full((2 * h + 40, w, 3), 255, np.uint8)
    colors = {"independent": (200, 60, 40), "temporal": (40, 140, 40), "truth": (90, 90, 90),
              "keyframe": (40, 60, 200), "hints-worst": (200, 140, 0),
              "hints-largest": (160, 40, 160)}
    for row, (title, idx) in enumerate((("colourfulness per frame", 0), ("warp error x1000", 1))):
        top = row * (h + 20) + 10
        values = [v for s in series.values() for v in s[idx]]
        vmax = max(values) * 1.1 if values else 1.0
        cv2.rectangle(canvas, (pad, top), (w - 10, top + h - 30), (0, 0, 0), 1)
        cv2.putText(canvas, f"{title} (max {vmax:.1f})", (pad + 5, top + 15),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        for k, (name, s) in enumerate(series.items()):
            ys = s[idx]
            if len(ys) < 2:
                continue
            pts = [(pad + int(i * (w - pad - 10) / (len(ys) - 1)),
                    top + h - 30 - int(v / vmax * (h - 50))) for i, v in enumerate(ys)]
            cv2.polylines(canvas, [np.array(pts, np.int32)], False, colors[name], 2)
            cv2.putText(canvas, name, (w - 200, top + 38 + 24 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                        colors[name], 1, cv2.LINE_AA)
    cv2.imwrite(str(path), canvas[:, :, ::-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clips", type=Path, nargs="*",
                   default=sorted((SHARED / "video").glob("*.mp4")))
    p.add_argument("--frames", type=int, default=0, help="first N frames per clip (0: all)")
    p.add_argument("--weights", type=Path)
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--render-size", type=int, default=TileConfig().render_size)
    p.add_argument("--saturation", type=float, default=TileConfig().saturation,
                   help="the chroma gain (--saturation of the CLI)")
    p.add_argument("--pan-frames", type=int, default=600)
    p.add_argument("--plot", type=Path)
    p.add_argument("--confidence", type=float, default=TemporalConfig().confidence,
                   help="confidence of the warped previous-frame prior")
    p.add_argument("--uncertain-confidence", type=float,
                   default=TemporalConfig().uncertain_confidence,
                   help="confidence of the warped prior where the flow check fails")
    p.add_argument("--blend", type=float, default=TemporalConfig().blend)
    p.add_argument("--drift-tolerance", type=float, default=TemporalConfig().drift_tolerance)
    p.add_argument("--reanchor-every", type=int, default=TemporalConfig().reanchor_every)
    p.add_argument("--reanchor-rate", type=float, default=TemporalConfig().reanchor_rate)
    p.add_argument("--keyframes", action="store_true",
                   help="also colorize each clip with its true middle frame as the keyframe")
    p.add_argument("--hints", type=int, metavar="K",
                   help="also: K hints taken from the truth of each clip's anchor frame, by "
                        "both rules: where the automatic result is most wrong (as a user "
                        "places them) and at the largest regions of one true colour")
    p.add_argument("--preview-agreement", action="store_true",
                   help="only: each clip turned gray (and samples/film.mp4), previewed and "
                        "rendered with the CLI's defaults; preview still vs rendered frame")
    p.add_argument("--network-every", type=int, default=TemporalConfig().every, metavar="N",
                   help="as the CLI's --every (default %(default)s; 1: every frame)")
    p.add_argument("--every", type=int, nargs="+", metavar="N",
                   help="only: propagated frames, the network every N frames at most, against "
                        "every frame (warp error, PSNR, colourfulness, network frames)")
    args = p.parse_args(argv)
    if args.preview_agreement:
        clips = [*args.clips, Path(__file__).resolve().parents[1] / "samples" / "film.mp4"]
        with tempfile.TemporaryDirectory() as work:
            preview_agreement_table(clips, Path(work))
        return 0
    weights = verify_weights(args.weights)
    backend = create_backend("auto", weights.load, "cpu", weights.digest,
                             precision=args.precision)
    tile = TileConfig(render_size=args.render_size, saturation=args.saturation)

    def make(temporal: bool, every: int = args.network_every) -> FrameColorizer:
        return FrameColorizer(backend, tile,
                              TemporalConfig(enabled=temporal, confidence=args.confidence,
                                             uncertain_confidence=args.uncertain_confidence,
                                             drift_tolerance=args.drift_tolerance,
                                             reanchor_every=args.reanchor_every,
                                             reanchor_rate=args.reanchor_rate,
                                             blend=args.blend, every=every))

    if args.every:
        every_table(args.clips, args.frames, make, args.every)
        return 0

    print("| clip | method | warp error x1000 | CDC x1000 | PSNR dB | CF end/start |")
    print("| --- | --- | --- | --- | --- | --- |")
    totals: dict[str, list[list[float]]] = {}
    hint_rows: list[tuple[str, str, float, float, float]] = []
    plotted = False
    thumbs: list[list[np.ndarray]] = []
    gray_warp: list[float] = []  # the gray input's own warp error: what luminance alone gives
    for clip in args.clips:
        ys, truth, full, matrix = read_clip(clip, args.frames)
        thumbs.append([thumbnail(y) for y in ys])
        runs = {"independent": colorize(make(False), ys, full, matrix),
                "temporal": colorize(make(True), ys, full, matrix)}
        if args.keyframes:
            key = len(ys) // 2
            runs["keyframe"] = colorize(make(True), ys, full, matrix, key=(key, truth[key]))
        if args.hints:
            at = anchor_of(ys)
            for rule in ("worst", "largest"):
                auto = runs["temporal"][at] if rule == "worst" else None
                runs[f"hints-{rule}"] = colorize(make(True), ys, full, matrix,
                                                 hinted=(at, truth[at], args.hints, auto))
                hinted_study(clip.stem, rule, runs[f"hints-{rule}"], runs["temporal"], truth,
                             at, hint_rows)
        runs["truth"] = truth
        gray_warp.append(1000 * float(np.mean(warp_errors(
            [np.repeat(y[:, :, None], 3, axis=2) for y in ys], ys))))
        curves = {}
        for name, frames in runs.items():
            we = warp_errors(frames, ys)
            row = [1000 * float(np.mean(we)), 1000 * cdc(frames),
                   float(np.mean([psnr(f, g) for f, g in zip(frames, truth, strict=True)])),
                   colorfulness_drift(frames)]
            totals.setdefault(name, []).append(row)
            psnr_txt = "—" if name == "truth" else f"{row[2]:.2f}"
            print(f"| {clip.stem} | {name} | {row[0]:.3f} | {row[1]:.3f} | {psnr_txt} | "
                  f"{row[3]:.3f} |")
            curves[name] = ([colorfulness(f) for f in frames], [1000 * e for e in we])
        if args.plot and not plotted:
            plot(args.plot, curves)
            plotted = True
    for name, rows in totals.items():
        m = np.mean(rows, axis=0)
        psnr_txt = "—" if name == "truth" else f"{m[2]:.2f}"
        print(f"| **mean** | {name} | {m[0]:.3f} | {m[1]:.3f} | {psnr_txt} | {m[3]:.3f} |")
    ind, tem, tru = (np.mean(totals[k], axis=0) for k in ("independent", "temporal", "truth"))
    if hint_rows:
        print(f"\n{args.hints} hints on each clip's anchor frame (from its truth), PSNR over "
              f"the automatic render (temporal), dB:\n\n| clip | placement | whole clip | "
              f"anchor frame | worst frame |\n| --- | --- | ---: | ---: | ---: |")
        for row in hint_rows:
            print(f"| {row[0]} | {row[1]} | {row[2]:+.2f} | {row[3]:+.2f} | {row[4]:+.2f} |")
        for rule in ("worst", "largest"):
            mine = np.array([r[2:] for r in hint_rows if r[1] == rule])
            print(f"| **mean** | {rule} | {mine[:, 0].mean():+.2f} | {mine[:, 1].mean():+.2f} | "
                  f"{mine[:, 2].mean():+.2f} |\n| **worst clip** | {rule} | "
                  f"{mine[:, 0].min():+.2f} | {mine[:, 1].min():+.2f} | {mine[:, 2].min():+.2f} |")
    if "keyframe" in totals:
        key = np.mean(totals["keyframe"], axis=0)
        print(f"\nkeyframe (true middle frame) vs temporal: PSNR {key[2] - tem[2]:+.2f} dB, "
              f"CDC {key[1] / tem[1]:.2f}x")
    print(f"\ntemporal/independent: warp error {tem[0] / ind[0]:.2f}, CDC {tem[1] / ind[1]:.2f}, "
          f"PSNR {tem[2] - ind[2]:+.2f} dB; temporal/truth warp error {tem[0] / tru[0]:.2f}")
    floor = float(np.mean(gray_warp))
    print(f"gray input (luminance alone, shared by every output): warp error x1000 {floor:.3f} "
          f"= {floor / ind[0]:.2f}x independent; above it (chroma, roughly): temporal "
          f"{tem[0] - floor:.3f}, independent {ind[0] - floor:.3f} "
          f"({(tem[0] - floor) / (ind[0] - floor):.2f}x), truth {tru[0] - floor:.3f}")
    seq, windows = join_with_transitions(thumbs)
    detector = ShotDetector()
    for t in seq:
        detector.push(t)
    found = detector.finish()
    precision, recall = match_cuts(found, windows)
    print(f"shot detection on the clips joined ({len(seq)} frames; hard cuts, a fade through "
          f"black, a dissolve): transitions {windows}, found {found}: precision "
          f"{precision:.2f}, recall {recall:.2f}")
    if args.pan_frames:
        pan, pan_truth = pan_clip(args.pan_frames)
        for name in ("independent", "temporal", "truth"):
            frames = (pan_truth if name == "truth"
                      else colorize(make(name == "temporal"), pan, True, "bt601"))
            print(f"{args.pan_frames}-frame synthetic pan, {name}: colourfulness end/start "
                  f"{colorfulness_drift(frames, 20):.3f}, warp error x1000 "
                  f"{1000 * np.mean(warp_errors(frames, pan)):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
