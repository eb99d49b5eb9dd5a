"""Reference photos: does the colour of a matching photo reach the result? Tables printed.

Stills (default: the val photos): each photo's gray is colorized automatically and with a
reference: another crop and scale of the same photo's truth (60-80 % of each side, scaled by
0.7-1.4, flipped half the time: the same scene, never the same pixels), and separately an
unrelated photo (the one half the folder away, cropped the same way); with ``--same-class``,
also a photo of the same class from elsewhere (:func:`same_class`). Video (default: the
clips in ../shared/data/video): each one-shot clip is rendered as the pipeline does (anchored
at the preview frame, carried by the temporal prior), automatically and with a reference: the
true colour frame farthest from the anchor (the scene moved on), and an unrelated clip's
middle frame. PSNR against the truth over the automatic result, colourfulness, and (video) the
warp error over the automatic render's (frame-to-frame stability along the motion).

Two ways of taking the reference are compared: ``followed`` (what vidcolor does: the matched
colours by their confidence over the network's own colours, :func:`vidcolor.reference.follow`)
and ``network`` (the matched prior given to the network, which was trained on the temporal
prior, keyframes and hints, not on references, then followed the same way).

Example::

    python scripts/evaluate_reference.py --limit 100 --clips
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.colorspace import merge_rgb, rgb_to_luma
from vidcolor.config import JobConfig, TileConfig
from vidcolor.lab.clips import anchor_of, colorize, read_clip
from vidcolor.lab.metrics import colorfulness, psnr
from vidcolor.lab.video_metrics import warp_errors
from vidcolor.planes import plane_to_luma
from vidcolor.reference import MatchConfig, ReferenceSet, encoder_features, follow
from vidcolor.runner import make_colorizer
from vidcolor.shot import REFERENCE_EVERY
from vidcolor.weights import verify_weights

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
METHODS = ("followed", "network")


def read_rgb(path: Path) -> np.ndarray:
    """A photo as RGB uint8."""
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def other_view(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another crop (60-80 % of each side) and scale (0.7-1.4) of ``rgb``, flipped half the time."""
    h, w = rgb.shape[:2]
    s = rng.uniform(0.6, 0.8)
    ch, cw = int(h * s), int(w * s)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    scale = rng.uniform(0.7, 1.4)
    view = cv2.resize(rgb[y:y + ch, x:x + cw], (round(cw * scale), round(ch * scale)),
                      interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(view[:, ::-1] if rng.random() < 0.5 else view)


def steered_ab(colorizer, small: np.ndarray, refs: ReferenceSet, method: str) -> np.ndarray:
    """Working-size chroma of ``small`` with the references, by ``method`` (see the top)."""
    prior = refs.prior(small[0, 0])
    if method == "network":
        return follow(colorizer.predict_small(small, prior), prior)
    return follow(colorizer.predict_small(small, None), prior)


def to_rgb(colorizer, luma: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """uint8 RGB of a luma and its working-size chroma."""
    rgb = merge_rgb(luma, colorizer.upsample(ab, luma))[0].transpose(1, 2, 0)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def photo_class(path: Path) -> str | None:
    """The class of a val photo, from the provenance in its JPEG comment (../SOURCES.md).

    ImageNet's synset (imagenette's folder, imagenet-sample's file name: the same classes), the
    Intel scene class, "face" for UTKFace; ``None`` for sources without classes (BSDS500, COCO)
    and for DAVIS, whose photos of one class are frames of one sequence (the same scene).
    """
    data = path.read_bytes()
    i, comment = 2, ""
    while i + 4 <= len(data) and data[i] == 0xFF and data[i + 1] != 0xDA:
        n = int.from_bytes(data[i + 2:i + 4], "big")
        if data[i + 1] == 0xFE:
            comment = data[i + 4:i + 2 + n].decode("utf-8", "replace")
            break
        i += 2 + n
    origin = comment.partition(" path: ")[2]
    source = path.stem.rpartition("_")[0]
    if source == "imagenette":
        return origin.split("/")[1]
    if source == "imagenetsample":
        return origin.split("_")[0]
    if source == "intelscenes":
        return origin.split("/")[1]
    return "face" if source == "utkface" else None


def same_class(paths: list[Path]) -> dict[Path, Path]:
    """For each photo with a class: another photo of its class (``--same-class``).

    The first after it (in name order, round) from another source if its class has one (an
    ImageNet class in both imagenette and imagenet-sample), else from its own: another
    photograph of the same kind of thing, never the same place.
    """
    classes = {p: photo_class(p) for p in paths}
    out = {}
    for i, p in enumerate(paths):
        if classes[p] is None:
            continue
        after = [paths[(i + k) % len(paths)] for k in range(1, len(paths))]
        mates = [q for q in after if classes[q] == classes[p]]
        other = [q for q in mates if q.stem.rpartition("_")[0] != p.stem.rpartition("_")[0]]
        if other or mates:
            out[p] = (other or mates)[0]
    return out


def stills(colorizer, features, folder: Path, limit: int, match: MatchConfig,
           with_class: bool = False) -> None:
    """The stills table (see the top)."""
    paths = sorted(folder.glob("*.jpg"))
    chosen = paths[:limit] if limit else paths
    mates = same_class(paths) if with_class else {}
    rng = np.random.default_rng(0)
    # (reference, taken) -> per photo: PSNR, colourfulness, and the automatic result's
    rows: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    auto_rows = []
    for i, path in enumerate(chosen):
        truth = read_rgb(path)
        refs = {"same scene": other_view(truth, rng),
                "unrelated": other_view(read_rgb(paths[(i + len(paths) // 2) % len(paths)]), rng)}
        if path in mates:  # the whole photo: nothing of it is the same
            refs["same class"] = read_rgb(mates[path])
        luma = rgb_to_luma(truth.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)
        small = colorizer.working_luma(luma)
        auto = to_rgb(colorizer, luma, colorizer.predict_small(small, None))
        a = (psnr(auto, truth), colorfulness(auto))
        auto_rows.append(a)
        for kind, ref in refs.items():
            ref_set = ReferenceSet(features, [ref.astype(np.float32) / 255.0], match)
            for method in METHODS:
                out = to_rgb(colorizer, luma, steered_ab(colorizer, small, ref_set, method))
                rows.setdefault((kind, method), []).append(
                    (psnr(out, truth), colorfulness(out), *a))
    base = np.array(auto_rows)
    print(f"\n{len(chosen)} photos of {folder}; automatic: PSNR {base[:, 0].mean():.2f} dB, "
          f"colourfulness {base[:, 1].mean():.1f}\n")
    print("| reference | taken | photos | PSNR dB | over automatic | photos worse by > 0.1 dB | "
          "worst photo | colourfulness | over automatic |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (kind, method), values in rows.items():
        v = np.array(values)
        gain = v[:, 0] - v[:, 2]
        print(f"| {kind} | {method} | {len(v)} | {v[:, 0].mean():.2f} | {gain.mean():+.2f} | "
              f"{100 * np.mean(gain < -0.1):.1f} % | {gain.min():+.2f} | {v[:, 1].mean():.1f} | "
              f"{v[:, 1].mean() - v[:, 3].mean():+.1f} |")


def clips(colorizer, features, paths: list[Path], frames: int, match: MatchConfig,
          methods: tuple[str, ...], carry: str) -> None:
    """The video table (see the top)."""
    loaded = [read_clip(p, frames) for p in paths]
    print("\n| clip | frames | reference | taken | PSNR dB | over automatic | "
          "colourfulness | over automatic | warp error x1000 | / automatic's |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    gains: dict[tuple[str, str], list[float]] = {}
    cf_gain: dict[tuple[str, str], list[float]] = {}
    we_ratio: dict[tuple[str, str], list[float]] = {}
    timing = []
    for k, (path, (ys, truth, full, matrix)) in enumerate(zip(paths, loaded, strict=True)):
        at = anchor_of(ys)
        far = 0 if at >= len(ys) - 1 - at else len(ys) - 1
        other = loaded[(k + 1) % len(loaded)]
        refs = {"same scene": truth[far], "unrelated": other[1][len(other[1]) // 2]}
        auto = colorize(colorizer, ys, full, matrix)
        a_psnr = np.mean([psnr(o, t) for o, t in zip(auto, truth, strict=True)])
        a_cf = np.mean([colorfulness(o) for o in auto])
        a_we = float(np.mean(warp_errors(auto, ys)))
        print(f"| {path.stem} | {len(ys)} | none | automatic | {a_psnr:.2f} | | {a_cf:.1f} | | "
              f"{1000 * a_we:.3f} | |")
        small = colorizer.working_luma(plane_to_luma(ys[at], full))
        for kind, ref in refs.items():
            t0 = time.perf_counter()
            ref_set = ReferenceSet(features, [ref.astype(np.float32) / 255.0], match)
            prepared = time.perf_counter()
            for method in methods:
                t1 = time.perf_counter()
                if carry == "keyed":
                    key = steered_ab(colorizer, small, ref_set, method)
                    steer = {"key_ab": (at, key)}
                else:  # the render's way: the anchor frame takes the matched colours, the
                    # shot's later frames theirs every few frames (vidcolor.shot)
                    steer = {"reference": (at, ref_set.prior(small[0, 0])),
                             "references": ref_set}
                if method == "followed":
                    timing.append((prepared - t0, time.perf_counter() - t1))
                out = colorize(colorizer, ys, full, matrix, **steer)
                p = np.mean([psnr(o, t) for o, t in zip(out, truth, strict=True)])
                cf = np.mean([colorfulness(o) for o in out])
                we = float(np.mean(warp_errors(out, ys)))
                gains.setdefault((kind, method), []).append(p - a_psnr)
                cf_gain.setdefault((kind, method), []).append(cf - a_cf)
                we_ratio.setdefault((kind, method), []).append(we / a_we)
                what = f"frame {far}" if kind == "same scene" else "another clip"
                print(f"| {path.stem} | {len(ys)} | {kind} ({what}) | {method} | "
                      f"{p:.2f} | {p - a_psnr:+.2f} | {cf:.1f} | {cf - a_cf:+.1f} | "
                      f"{1000 * we:.3f} | {we / a_we:.3f} |", flush=True)
    print("\n| reference | taken | clips' mean over automatic | worst clip | colourfulness over "
          "automatic | warp error / automatic's (mean, highest) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for key, values in gains.items():
        print(f"| {key[0]} | {key[1]} | {np.mean(values):+.2f} | {np.min(values):+.2f} | "
              f"{np.mean(cf_gain[key]):+.1f} | {np.mean(we_ratio[key]):.3f}, "
              f"{np.max(we_ratio[key]):.3f} |")
    t = np.array(timing)
    print(f"\ntime per reference (prepared once): median {1000 * np.median(t[:, 0]):.0f} ms; "
          f"per match of a frame (the anchor frame, and every {REFERENCE_EVERY} frames of the "
          f"shot after it): median {1000 * np.median(t[:, 1]):.0f} ms")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--photos", type=Path, default=SHARED / "val")
    p.add_argument("--limit", type=int, default=0, help="first N photos (0: all)")
    p.add_argument("--no-stills", action="store_true")
    p.add_argument("--same-class", action="store_true",
                   help="stills: also a photo of the same class from elsewhere as the reference "
                        "(another val photo of its ImageNet class, Intel scene class or of a "
                        "face: see same_class), on the photos that have a class")
    p.add_argument("--clips", type=Path, nargs="*",
                   help="video clips (no paths: every .mp4 of ../shared/data/video)")
    p.add_argument("--frames", type=int, default=0, help="first N frames per clip (0: all)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--carry", choices=("anchor", "keyed"), default="anchor",
                   help="video: the anchor frame takes the matched colours and the shot goes "
                        "on as without (anchor: what the render does), or the steered anchor "
                        "frame is the shot's keyframe (keyed)")
    for f in dataclasses.fields(MatchConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = p.parse_args(argv)
    match = MatchConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(MatchConfig)})
    weights = verify_weights(None)
    cfg = JobConfig(device="cpu", tile=TileConfig())
    colorizer = make_colorizer(cfg, weights)
    features = encoder_features(weights.path)
    print(f"backend {colorizer.backend.name} ({colorizer.backend.precision}); {match}")
    if not args.no_stills:
        stills(colorizer, features, args.photos, args.limit, match, args.same_class)
    if args.clips is not None:
        paths = args.clips or sorted((SHARED / "video").glob("*.mp4"))
        clips(colorizer, features, paths, args.frames, match, tuple(args.methods), args.carry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
