"""Colour hints: a few points of colour on a shot's frame, spread along its edges into a prior.

A hint is a small disc of chroma (Lab ``a, b``) at a point of a frame, in source pixels. The
hints of a frame are spread over it along the image's own edges — the recursive edge-aware filter
of Gastal and Oliveira's domain transform (2011), guided by the luminance, used as a normalized
convolution — into a dense prior: each pixel takes the colours of the hints it is connected to
without crossing a strong edge, with a confidence that is 1 at a hint and falls with distance
and across edges. The network takes that prior as it takes a keyframe's, and fills in the rest;
where the spread does not reach, the parts of the frame that look like a hint's point (as light,
as smooth, the same colour to the network) take its colour too (:func:`look_alike`). The hinted
frame then anchors its shot (:mod:`vidcolor.render`).

``hints.json`` (written by the hints page, read by ``--hints``)::

    {"version": 1, "hints": [{"shot": 2, "frame": 88, "x": 310, "y": 122, "radius": 6,
                              "lab": [52.0, 38.5, 20.1]}, ...]}

``rgb`` (``"#rrggbb"``) may be given instead of ``lab``; only ``a, b`` are used (the luminance is
the source's). ``"alike": false`` keeps a hint to what its spread reaches (default true).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcolor.atomic import write_atomic
from vidcolor.colorspace import luma_to_l
from vidcolor.errors import InputError
from vidcolor.probe import MediaInfo, quarter_turns
from vidcolor.regions import region_labels

VERSION = 1
# Domain-transform sigma_s, times the frame's short side: so large that distance alone hardly
# lowers a hint's confidence within a frame; edges do. sigma_r: a luminance step of 0.1 (0..1)
# costs 2 x the short side of distance. The guide is the luminance blurred by GUIDE_BLUR times
# the short side (4.5 px at the working size of 224): texture (grain, foliage, fabric) then
# costs little distance, while a blurred edge keeps its whole step. Where hints meet, their
# colours mix by the square of their confidence, and a hint's chroma is scaled by how much chroma
# the lightness holds there against where the hint is (sqrt(L (100 - L)) + 5, within 0.3..2:
# darker and brighter parts hold less chroma than mid-tones). The sweeps that chose these:
# docs/experiments.md (the constants of colour hints).
SPREAD = 4.0
EDGE = 0.2
ITERATIONS = 4
GUIDE_BLUR = 4.5 / 224
DEFAULT_RADIUS = 4  # source pixels
# The least radius of a hint's disc at the working size, in its pixels: the chroma upsampling
# (guided.guided_upsample: two box filters of radius 2 there, then bilinear) reaches 4.5 px, so
# a disc that wide keeps the hint's own colour at its point at full size (measured:
# docs/experiments.md).
MIN_DISC = 4.5
# look_alike: the scales of resemblance (L units; a*b* units of the network's gain-1 colours; the
# lightness's local spread, L units over LOOK_TEXTURE_SIZE x the short side, 7 px at 224) and the
# weight of "like none of the hints"; each hint is described by its disc, not the region around
# it (the sweeps: docs/experiments.md, the constants of colour hints).
OFF_DISC = 0.999  # the most confidence off the discs of hints that reach look-alike parts
LOOK_L = 10.0
LOOK_AB = 7.0
LOOK_NONE = 0.3
LOOK_TEXTURE = 8.0
LOOK_TEXTURE_SIZE = 0.03
LOOK_REACH = 0.3  # x the short side: how far from its point a hint claims look-alike parts


@dataclass(frozen=True)
class Hint:
    """One point of colour: frame index, position in source pixels, radius, Lab ``a, b``."""

    frame: int
    x: float
    y: float
    a: float
    b: float
    radius: float = DEFAULT_RADIUS
    shot: int = 0
    lightness: float = 50.0  # the L of the colour as chosen (shown on the page; not rendered)
    alike: bool = True  # also colours the parts of the frame that look like its point

    def to_json(self) -> dict:
        """The hint as ``hints.json`` stores it."""
        out = {"shot": self.shot, "frame": self.frame, "x": round(self.x, 2),
               "y": round(self.y, 2), "radius": round(self.radius, 2),
               "lab": [round(self.lightness, 2), round(self.a, 3), round(self.b, 3)]}
        if not self.alike:  # the default is left out: files and job plans stay as they were
            out["alike"] = False
        return out


def _rgb_to_lab(text: str) -> tuple[float, float, float]:
    value = text.lstrip("#")
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise ValueError(f"rgb must be #rrggbb, not {text!r}")
    rgb = np.array([[[int(value[i:i + 2], 16) for i in (0, 2, 4)]]], np.float32) / 255.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0, 0]
    return float(lab[0]), float(lab[1]), float(lab[2])


def parse_hints(data: object) -> list[Hint]:
    """Hints from the decoded JSON of a hints file.

    Raises:
        ValueError: not the layout above (the message says what is wrong).
    """
    if not isinstance(data, dict) or not isinstance(data.get("hints"), list):
        raise ValueError('expected {"version": 1, "hints": [...]}')
    out = []
    for k, item in enumerate(data["hints"]):
        if not isinstance(item, dict):
            raise ValueError(f"hint {k + 1} is not an object")
        try:
            if "lab" in item:
                lightness, a, b = (float(v) for v in item["lab"])
            elif "rgb" in item:
                lightness, a, b = _rgb_to_lab(str(item["rgb"]))
            else:
                raise ValueError("needs lab or rgb")
            alike = item.get("alike", True)
            if not isinstance(alike, bool):
                raise ValueError("alike must be true or false")
            hint = Hint(frame=int(item["frame"]), x=float(item["x"]), y=float(item["y"]),
                        a=a, b=b, radius=float(item.get("radius", DEFAULT_RADIUS)),
                        shot=int(item.get("shot", 0)), lightness=lightness, alike=alike)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"hint {k + 1}: {e}") from e
        values = (hint.x, hint.y, hint.a, hint.b, hint.radius, hint.lightness)
        if not all(math.isfinite(v) for v in values) or not 0 < hint.radius <= 1000:
            raise ValueError(f"hint {k + 1}: numbers out of range")
        if not (-128 <= hint.a <= 127 and -128 <= hint.b <= 127):
            raise ValueError(f"hint {k + 1}: a, b must lie in -128..127")
        out.append(hint)
    return out


def read_hints(path: Path) -> list[Hint]:
    """The hints of a ``hints.json``.

    Raises:
        InputError: unreadable, not JSON, or not the layout of a hints file.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read the hints file {path}: {e.strerror}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"the hints file {path} is not JSON: {e}") from e
    try:
        return parse_hints(data)
    except ValueError as e:
        raise InputError(f"the hints file {path} is malformed: {e}") from e


def write_hints(path: Path, hints: list[Hint]) -> None:
    """Write ``hints.json`` atomically (a temporary file beside it, then a rename)."""
    write_atomic(path, json.dumps({"version": VERSION, "hints": [h.to_json() for h in hints]},
                                  indent=1) + "\n")


def by_frame(hints: list[Hint], info: MediaInfo, frames: int) -> dict[int, list[Hint]]:
    """A video's hints by frame, in the stored frame's pixels.

    Hints are given on the upright picture (the preview still); a rotated video's are turned
    back to its stored frame.

    Raises:
        InputError: a hint for a frame the video does not have, or outside the picture.
    """
    turns = quarter_turns(info.rotation)
    w, h = (info.height, info.width) if turns % 2 else (info.width, info.height)
    out: dict[int, list[Hint]] = {}
    for k, hint in enumerate(hints):
        if not 0 <= hint.frame < frames:
            raise InputError(f"hint {k + 1} is for frame {hint.frame}, but the video has "
                             f"{frames} frames")
        if not (0 <= hint.x < w and 0 <= hint.y < h):
            raise InputError(f"hint {k + 1} at ({hint.x:g}, {hint.y:g}) lies outside the "
                             f"{w}x{h} picture")
        out.setdefault(hint.frame, []).append(stored_point(hint, turns, info.width, info.height))
    return out


def stored_point(hint: Hint, turns: int, width: int, height: int) -> Hint:
    """A hint on the upright picture moved to the stored frame (``width`` x ``height``).

    ``turns``: the quarter turns (``np.rot90``) that made the picture upright.
    """
    x, y = hint.x, hint.y
    if turns == 1:  # np.rot90 once: upright (x, y) came from stored (W-1-y, x)
        x, y = width - 1 - hint.y, hint.x
    elif turns == 2:
        x, y = width - 1 - hint.x, height - 1 - hint.y
    elif turns == 3:
        x, y = hint.y, height - 1 - hint.x
    return dataclasses.replace(hint, x=x, y=y)


def _recursive_pass(x: np.ndarray, a: np.ndarray, axis: int) -> np.ndarray:
    """One forward and one backward recursive-filter pass along ``axis`` of ``(K, H, W)``.

    ``a``: ``(H, W)`` feedback per sample (``a**d`` between it and the sample before it).
    """
    out = np.moveaxis(x.copy(), axis + 1, 1)
    coef = np.moveaxis(a, axis, 0)
    n = out.shape[1]
    for i in range(1, n):
        out[:, i] += coef[i] * (out[:, i - 1] - out[:, i])
    for i in range(n - 2, -1, -1):
        out[:, i] += coef[i + 1] * (out[:, i + 1] - out[:, i])
    return np.moveaxis(out, 1, axis + 1)


def edge_aware_spread(values: np.ndarray, luma: np.ndarray, sigma_s: float,
                      sigma_r: float = EDGE) -> np.ndarray:
    """Domain-transform recursive filtering of ``values`` ``(K, H, W)`` guided by ``luma``.

    Along rows then columns, ``ITERATIONS`` times with shrinking sigma (Gastal and Oliveira
    2011, eq. 14): values travel far through flat areas and hardly across edges.
    """
    out = values.astype(np.float32)
    dx = np.zeros_like(luma, dtype=np.float32)
    dy = np.zeros_like(luma, dtype=np.float32)
    dx[:, 1:] = np.abs(np.diff(luma, axis=1))
    dy[1:] = np.abs(np.diff(luma, axis=0))
    ratio = sigma_s / max(sigma_r, 1e-6)
    for i in range(ITERATIONS):
        sigma_h = sigma_s * math.sqrt(3) * 2 ** (ITERATIONS - i - 1) / math.sqrt(
            4 ** ITERATIONS - 1)
        base = math.exp(-math.sqrt(2) / sigma_h)
        out = _recursive_pass(out, (base ** (1.0 + ratio * dx)).astype(np.float32), axis=1)
        out = _recursive_pass(out, (base ** (1.0 + ratio * dy)).astype(np.float32), axis=0)
    return out


def hint_prior(hints: list[Hint], luma: np.ndarray, source_size: tuple[int, int],
               fill_regions: bool = False) -> np.ndarray:
    """The dense prior ``(1, 3, h, w)`` (``a, b``, confidence) of a frame's hints.

    Args:
        hints: the frame's hints, in source pixels.
        luma: the working-size luminance ``(h, w)`` in 0..1 that guides the spread.
        source_size: ``(height, width)`` of the source frame.
        fill_regions: drawn content (``--model animation``): a hint fills the line-bounded
            region it is put in (:func:`vidcolor.regions.region_labels`) as it fills its disc.
    """
    h, w = luma.shape
    prior = np.zeros((1, 3, h, w), np.float32)
    if not hints:
        return prior
    sy, sx = h / source_size[0], w / source_size[1]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Each hint's disc; where discs overlap, a pixel belongs to the nearest hint's.
    dist = np.full((len(hints), h, w), np.inf, np.float32)
    for k, hint in enumerate(hints):
        r = max(hint.radius * min(sx, sy), MIN_DISC)
        d2 = (xx - hint.x * sx) ** 2 + (yy - hint.y * sy) ** 2
        dist[k][d2 <= r * r] = d2[d2 <= r * r]
    inside = np.isfinite(dist)
    discs = (inside & (np.arange(len(hints))[:, None, None] == dist.argmin(axis=0))).astype(
        np.float32)
    for k, hint in enumerate(hints):
        if not discs[k].any():
            discs[k, min(int(hint.y * sy), h - 1), min(int(hint.x * sx), w - 1)] = 1.0
    if fill_regions:
        discs = _region_discs(discs, luma)
    guide = cv2.GaussianBlur(luma.astype(np.float32), (0, 0), GUIDE_BLUR * min(h, w))
    spread = edge_aware_spread(discs, guide, SPREAD * min(h, w), EDGE)
    # Each hint's own confidence: its spread over its value at its own disc, so 1 there.
    peak = np.array([spread[k][discs[k] > 0].mean() for k in range(len(hints))], np.float32)
    # Under 1 off the discs, so that a disc is where the confidence is 1 (see look_alike).
    conf_each = np.clip(spread / np.maximum(peak[:, None, None], 1e-12), 0.0, OFF_DISC)
    for k, hint in enumerate(hints):
        # 1 marks the disc of a hint that also colours what looks like it (see look_alike).
        conf_each[k][discs[k] > 0] = 1.0 if hint.alike else OFF_DISC
    # Where hints meet, the more confident one dominates; on its own disc a hint is exact.
    weight = conf_each ** 2 + 1e-12
    weight /= weight.sum(axis=0)
    ab = np.array([[hint.a, hint.b] for hint in hints], np.float32)
    prior[0, :2] = np.einsum("khw,kc->chw", weight, ab)
    # A colour carried into darker or lighter parts keeps its share of what those can hold.
    lightness = luma_to_l(luma.astype(np.float32))
    at_hint = np.array([lightness[discs[k] > 0].mean() for k in range(len(hints))], np.float32)
    reference = np.einsum("khw,k->hw", weight, at_hint)
    prior[0, :2] *= np.clip(_capacity(lightness) / _capacity(reference), 0.3, 2.0)
    for k in range(len(hints)):
        prior[0, :2, discs[k] > 0] = ab[k]
    prior[0, 2] = conf_each.max(axis=0)
    return prior


def _region_discs(discs: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """Each hint's disc grown to the line-bounded region most of it lies in.

    A region claimed by two hints stays with their own discs (neither paints the other's
    object); the boundary (lines, steps) and regions no hint touches are left as they were.
    """
    labels, count = region_labels(luma)
    flat = labels.ravel()
    owner = np.full(count, -1)
    for k in range(len(discs)):
        hit = np.bincount(flat[discs[k].ravel() > 0], minlength=count)
        hit[0] = 0
        if hit.any():
            r = int(hit.argmax())
            owner[r] = k if owner[r] == -1 else -2
    grown = discs.copy()
    for k in range(len(discs)):
        others = np.delete(discs, k, axis=0).sum(axis=0) > 0
        grown[k][(owner == k)[labels] & ~others] = 1.0
    return grown


def look_alike(prior: np.ndarray, lightness: np.ndarray, auto: np.ndarray) -> np.ndarray:
    """The hints carried to the parts of the frame that look like their points: ``(1, 3, h, w)``.

    Edit propagation in appearance space (An and Pellacini 2008, "AppProp"): a pixel takes the
    colours of the hints whose points it resembles — the same lightness (within about
    ``LOOK_L``), texture (``LOOK_TEXTURE``) and colour in the network's own, unhinted, result
    (within about ``LOOK_AB``) — wherever it lies, so a hint on a field reaches the part of it
    a tree cuts off, which the edge-aware spread cannot. Returns ``a, b`` (the hints' colours
    weighted by the resemblance) and a weight in 0..1 (how much of the pixel they claim,
    against ``LOOK_NONE`` for "none of them").

    Args:
        prior: a frame's hint prior (:func:`hint_prior`; the disc of a hint with ``alike`` is
            where the confidence is 1, with the hint's exact colour).
        lightness: the frame's L ``(h, w)``.
        auto: the network's chroma of the frame without any prior ``(1, 2, h, w)``.
    """
    h, w = lightness.shape
    out = np.zeros((1, 3, h, w), np.float32)
    on_disc = prior[0, 2] >= 1.0
    if not on_disc.any():
        return out
    # One group per disc and colour: a disc holds its hint's colour exactly (touching discs of
    # two colours split by colour; two grey hints on a dark coat and a white wall stay two).
    _, label = cv2.connectedComponents(on_disc.astype(np.uint8), connectivity=8)
    keys = np.column_stack([label[on_disc], prior[0, :2][:, on_disc].T])
    keys, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)  # numpy 2 keeps the axis's shape
    colours = keys[:, 1:].astype(np.float32)
    feats = [lightness / LOOK_L, auto[0, 0] / LOOK_AB, auto[0, 1] / LOOK_AB]
    # Texture: the lightness's spread around the pixel (a knit sweater is not a smooth fender).
    size = max(3, round(LOOK_TEXTURE_SIZE * min(h, w)) | 1)
    lum = lightness.astype(np.float32)
    mean = cv2.blur(lum, (size, size))
    spread = np.sqrt(np.clip(cv2.blur(lum * lum, (size, size)) - mean * mean, 0.0, None))
    feats = np.stack([*feats, spread / LOOK_TEXTURE])
    at_disc = feats[:, on_disc]
    weight = np.zeros((len(colours), h, w), np.float32)
    reach = LOOK_REACH * min(h, w)
    where = np.zeros((h, w), np.int32)
    where[on_disc] = group + 1
    for k in range(len(colours)):
        centre = at_disc[:, group == k].mean(axis=1)
        weight[k] = np.exp(-0.5 * ((feats - centre[:, None, None]) ** 2).sum(axis=0))
        if reach > 0:
            # Resemblance alone reaches the grey road from the grey cart: a hint claims
            # only the look-alike parts within reach of its point.
            far = cv2.distanceTransform((where != k + 1).astype(np.uint8), cv2.DIST_L2, 5)
            weight[k] *= np.exp(-0.5 * (far / reach) ** 2)
    total = weight.sum(axis=0)
    out[0, :2] = np.einsum("khw,kc->chw", weight, colours) / np.maximum(total, 1e-12)
    out[0, 2] = total / (total + LOOK_NONE)
    return out


def _capacity(lightness: np.ndarray) -> np.ndarray:
    """How much chroma a lightness holds, roughly: none at black and white, most midway."""
    return np.sqrt(np.clip(lightness * (100.0 - lightness), 0.0, None)) + 5.0
