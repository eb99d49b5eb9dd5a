"""Reference photos: a colour image's colours carried onto a gray frame by correspondence.

A reference is a colour photograph of the same place, people, costumes or era. Each position of
the frame (stride 8 at the working size) is matched to the reference positions that look most
like it in the network's own encoder feature space: the features of the frame's luminance and of
the reference's lightness shown as a gray image, so the match does not depend on colour. A
softmax of the cosine similarities at a low temperature over all positions of all references
weights their Lab ``a, b``; the confidence is the best similarity, mapped to 0..1, and lowered
where the match is not mutual (the reference position's own best match in the frame lies
elsewhere), and zero for the whole frame when its best matches are, on the whole, weak (an
unrelated photo matches some cells by chance, not the frame). The result has the layout of the
network's prior (``(1, 3, h, w)``: ``a, b``, confidence), and the frame takes its colours by
their confidence over its own (:func:`follow`). Given to the network as trained (on the temporal
prior, keyframes and hints, never references) it raised the mean on val photos but made 9 % of
them worse, by up to 4 dB; taken over the network's colours, none (scripts/evaluate_reference.py
and the README). The constants were chosen on 80 training photos (another crop and scale of the
photo as the reference, and an unrelated photo), not on val.

The reference's features are computed once (:class:`ReferenceSet`); a frame costs one encoder
pass over its luminance and one matrix product.

The encoder is the shipped network's own (:func:`encoder_features`: its weights, run with
torch); any function with the :data:`Features` signature serves, e.g. a test's.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcolor.colorspace import l_to_luma, luma_to_l, rgb_to_lab
from vidcolor.errors import ModelError
from vidcolor.resample import resize_area, resize_bilinear
from vidcolor.tiling import STRIDE, pad_to_stride, working_size

log = logging.getLogger(__name__)

# Features: L ``(1, 1, H, W)`` in 0..100, H and W multiples of 32 -> the encoder's feature maps
# at strides 8 and 16, ``[(1, C8, H/8, W/8), (1, C16, H/16, W/16)]`` float32.
Features = Callable[[np.ndarray], list[np.ndarray]]

MATCH_SIZE = 224  # short side, in pixels, at which frames and references are matched
MAX_REFERENCE_ASPECT = 3  # a reference's long side is cut to this many times its short side
CELL = 8  # the prior's cell: the stride of the finer feature map
# The colour of gray references: mean chroma (Lab a*b* length) under which an image holds no
# colour to take (a scan of a black-and-white print has about 1; JPEG noise about 2).
GRAY_CHROMA = 3.0


@dataclass(frozen=True)
class MatchConfig:
    """How frame positions take the references' colours.

    Attributes:
        temperature: of the softmax over reference positions (cosine similarity units).
        top_k: only the ``top_k`` most similar reference positions share in the colour.
        floor: similarity at and under which the confidence is 0.
        ceiling: similarity at and over which the confidence is ``peak``.
        peak: the most confidence a match gives.
        not_mutual: factor on the confidence where the match is not mutual.
        mutual_radius: a match is mutual where the reference position's best match in the
            frame lies within this many cells of the frame position.
        deep_weight: the share of the stride-16 features in the descriptor (the rest: stride 8).
        gate_low: the frame's mean best similarity at and under which the references are
            taken for unrelated to it (no confidence anywhere).
        gate_high: the mean best similarity at and over which they are taken for its scene.
    """

    temperature: float = 0.01
    top_k: int = 8
    floor: float = 0.2
    ceiling: float = 0.45
    peak: float = 1.0
    not_mutual: float = 0.7
    mutual_radius: float = 2.0
    deep_weight: float = 0.7
    gate_low: float = 0.42
    gate_high: float = 0.52


@dataclass(frozen=True)
class _Prepared:
    """One reference ready for matching: descriptors and colours of its cells."""

    desc: np.ndarray  # (N, C) unit descriptors
    ab: np.ndarray  # (N, 2) mean Lab a, b of each cell


def chroma_of(rgb: np.ndarray) -> float:
    """The mean chroma (Lab ``a*b*`` length) of an RGB image ``(H, W, 3)`` in 0..1."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2Lab)
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def is_gray(rgb: np.ndarray) -> bool:
    """Whether an RGB image ``(H, W, 3)`` in 0..1 holds too little colour to take any from."""
    return chroma_of(rgb) < GRAY_CHROMA


def _descriptors(feats: list[np.ndarray], cfg: MatchConfig, size: tuple[int, int]
                 ) -> np.ndarray:
    """Unit descriptors ``(h8 * w8, C)`` of one image's feature maps, cropped to ``size`` cells.

    Each level is centred on its own mean and scaled to unit length per position, the deeper
    level upsampled to stride 8; the two are weighted and joined.
    """
    h, w = size
    f8 = feats[0][0]
    f16 = feats[1][0]
    f16 = resize_bilinear(f16[None], f8.shape[-2:])[0]
    parts = []
    for f, share in ((f8, 1.0 - cfg.deep_weight), (f16, cfg.deep_weight)):
        f = f[:, :h, :w].reshape(f.shape[0], -1).T
        f = f - f.mean(axis=0, keepdims=True)
        f = f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-6)
        parts.append(f * np.sqrt(share))
    return np.ascontiguousarray(np.concatenate(parts, axis=1), np.float32)


def _match_l(lum: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """L ``(1, 1, h, w)`` at the matching size, padded to the stride; and its size in cells."""
    h, w = lum.shape[-2:]
    mh, mw = working_size(h, w, MATCH_SIZE)
    small = resize_area(lum, (mh, mw)) if (mh, mw) != (h, w) else lum
    padded, _ = pad_to_stride(small, STRIDE)
    return padded, (max(1, mh // CELL), max(1, mw // CELL))


class ReferenceSet:
    """One or more reference images, prepared once, and the prior they give a frame."""

    def __init__(self, features: Features, references: Sequence[np.ndarray],
                 cfg: MatchConfig | None = None) -> None:
        """Prepare ``references``: RGB ``(H, W, 3)`` float32 in 0..1, any size and aspect."""
        if not references:
            raise ValueError("no reference")
        self.features = features
        self.cfg = cfg or MatchConfig()
        prepared = [self._prepare(rgb) for rgb in references]
        self.desc = np.concatenate([p.desc for p in prepared])
        self.ab = np.concatenate([p.ab for p in prepared])

    def _prepare(self, rgb: np.ndarray) -> _Prepared:
        h, w = rgb.shape[:2]
        long_cap = MAX_REFERENCE_ASPECT * min(h, w)
        if max(h, w) > long_cap:  # a panorama: its middle
            y0, x0 = (h - min(h, long_cap)) // 2, (w - min(w, long_cap)) // 2
            rgb = rgb[y0:y0 + min(h, long_cap), x0:x0 + min(w, long_cap)]
        lab = rgb_to_lab(np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32))
        lum, size = _match_l(lab[:, :1])
        # The lightness as a gray image, as the frame's luminance is seen.
        lum = luma_to_l(l_to_luma(lum))
        feats = self.features(lum)
        desc = _descriptors(feats, self.cfg, size)
        mh, mw = size[0] * CELL, size[1] * CELL
        ab = resize_area(lab[:, 1:], (size[0] * CELL, size[1] * CELL)) \
            if lab.shape[-2:] != (mh, mw) else lab[:, 1:]
        cells = resize_area(ab, size)[0].reshape(2, -1).T
        return _Prepared(desc=desc, ab=np.ascontiguousarray(cells, np.float32))

    def prior(self, luma: np.ndarray) -> np.ndarray:
        """The prior ``(1, 3, h, w)`` of a frame's working-size luma ``(h, w)`` in 0..1."""
        h, w = luma.shape
        lum, size = _match_l(luma_to_l(luma.astype(np.float32))[None, None])
        desc = _descriptors(self.features(lum), self.cfg, size)
        cells = match(desc, self.desc, self.ab, size, self.cfg)
        return resize_bilinear(cells, (h, w)).astype(np.float32)


def follow(ab: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Chroma ``(1, 2, h, w)`` that takes a reference prior's colours by their confidence.

    ``ab``: the frame's own chroma (the network's, with its gain); where the references have no
    confident match, it stays.
    """
    conf = np.clip(prior[:, 2:3], 0.0, 1.0)
    return (conf * prior[:, :2] + (1.0 - conf) * ab).astype(np.float32)


def match(query: np.ndarray, desc: np.ndarray, ab: np.ndarray, size: tuple[int, int],
          cfg: MatchConfig) -> np.ndarray:
    """The prior ``(1, 3, h8, w8)`` of a frame's cells ``query`` ``(h8 * w8, C)``.

    ``desc`` ``(N, C)`` and ``ab`` ``(N, 2)``: the references' cells, all references together.
    """
    sim = query @ desc.T  # (Q, N) cosine similarities
    k = min(cfg.top_k, sim.shape[1])
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    top_sim = np.take_along_axis(sim, top, axis=1)
    best = top_sim.max(axis=1)
    weight = np.exp((top_sim - best[:, None]) / cfg.temperature)
    weight /= weight.sum(axis=1, keepdims=True)
    colour = np.einsum("qk,qkc->qc", weight, ab[top])
    conf = np.clip((best - cfg.floor) / max(cfg.ceiling - cfg.floor, 1e-6), 0.0, 1.0) * cfg.peak
    # Mutual: the best reference cell's own best frame cell lies near this one.
    h, w = size
    best_ref = top[np.arange(len(top)), top_sim.argmax(axis=1)]
    back = sim[:, best_ref].argmax(axis=0)  # for each frame cell: its match's best frame cell
    qy, qx = np.divmod(np.arange(h * w), w)
    by, bx = np.divmod(back, w)
    mutual = np.hypot(qy - by, qx - bx) <= cfg.mutual_radius
    conf = conf * np.where(mutual, 1.0, cfg.not_mutual)
    # An unrelated reference matches some cells well by chance, but not the frame as a whole.
    gate = (float(best.mean()) - cfg.gate_low) / max(cfg.gate_high - cfg.gate_low, 1e-6)
    conf = conf * float(np.clip(gate, 0.0, 1.0))
    out = np.concatenate([colour.T, conf[None]], axis=0).reshape(3, h, w)
    return out[None].astype(np.float32)


@functools.lru_cache(maxsize=2)
def encoder_features(weights_path: Path) -> Features:
    """The :data:`Features` of the network in a weights file (its encoder, run with torch)."""
    import torch
    from safetensors.torch import load_file

    from vidcolor.network import EfficientNetLite0, normalize_rgb

    encoder = EfficientNetLite0()
    prefix = "encoder."
    try:
        state = load_file(str(weights_path))
        encoder.load_state_dict({k[len(prefix):]: v.float() for k, v in state.items()
                                 if k.startswith(prefix)}, strict=True)
    except Exception as e:
        raise ModelError(f"weights file {weights_path} has no encoder vidcolor can match "
                         f"references with: {e}") from e
    encoder.eval()
    # Near-zero activations become denormal floats, which make CPU inference several times
    # slower (as in the torch backend).
    torch.set_flush_denormal(True)

    def features(lum: np.ndarray) -> list[np.ndarray]:
        gray = torch.from_numpy(l_to_luma(np.ascontiguousarray(lum, np.float32)))
        # One thread: between the network's ONNX runs (whose threads still spin for a while
        # after each) torch's second thread waits on a busy core; a match of a 640x360 frame
        # took 3.6 s (median) so on a loaded 2-core machine, 0.13 s with one thread.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                # Strides 8 and 16: the deeper blocks are not run.
                feats = encoder.features(normalize_rgb(gray).expand(-1, 3, -1, -1), 4)[2:]
        finally:
            torch.set_num_threads(threads)
        return [f.numpy().copy() for f in feats]

    return features
