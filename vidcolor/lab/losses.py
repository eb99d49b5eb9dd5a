"""The training losses, torch, numpy and OpenCV only.

Rebalanced chroma L1, chroma magnitude, semantic consistency, and the colour-distribution head's
cross-entropy.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.lab.training_data import AB_BINS
from vidcolor.network import CLASS_STRIDE, EfficientNetLite0, normalize_rgb


def rebalance_weights(hist: np.ndarray, lam: float, power: float,
                      neutral_floor: float = 0.0) -> torch.Tensor:
    """Zhang et al.'s class-rebalancing weights per ab bin, softened by ``power`` (0 = none).

    ``w ∝ ((1 - lam) * p_smooth + lam / Q) ** -1``, normalised so that ``E_p[w] = 1``, then
    raised to ``power`` and normalised again. The balance weighs the common grey bins least
    (0.55-0.66 at power 0.7, where 46 % of the training pixels lie), so a network trained with
    it pays little for tinting grey; ``neutral_floor`` lifts the four bins around grey (|a|,
    |b| < 10) to at least that weight, the other bins scaled to keep ``E_p[w] = 1``.
    """
    smooth = cv2.GaussianBlur(hist.astype(np.float64), (5, 5), 1.0)
    q = max(int((hist > 0).sum()), 1)
    w = 1.0 / ((1.0 - lam) * smooth + lam / q)
    w /= (hist * w).sum()
    w = w**power
    w /= (hist * w).sum()
    if neutral_floor > 0:
        grey = np.zeros(w.shape, bool)
        grey[AB_BINS // 2 - 1: AB_BINS // 2 + 1, AB_BINS // 2 - 1: AB_BINS // 2 + 1] = True
        w[grey] = np.maximum(w[grey], neutral_floor)
        rest = 1.0 - (hist * w)[grey].sum()
        if rest <= 0:
            raise ValueError(f"neutral_floor {neutral_floor} leaves no weight to the colours")
        w[~grey] *= rest / (hist * w)[~grey].sum()
    return torch.from_numpy(w).float()


def pixel_weights(ab: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Weight ``(B, 1, H, W)`` of each pixel of ``ab`` ``(B, 2, H, W)`` from its ab bin."""
    idx = ((ab + 110.0) / 10.0).long().clamp(0, AB_BINS - 1)
    return table.to(ab.device)[idx[:, 0], idx[:, 1]].unsqueeze(1)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


L2_SCALE = 10.0  # Lab units: the squared loss's gradient equals L1's at an error this large
CHROMA_NORMS = ("l1", "l2")


def check_chroma_norm(norm: str) -> None:
    """Raise ``ValueError`` unless ``norm`` is one of :data:`CHROMA_NORMS`."""
    if norm not in CHROMA_NORMS:
        raise ValueError(f"chroma norm must be one of {CHROMA_NORMS}, not {norm!r}")


def _error(diff: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "l1":
        return diff.abs()
    return diff.square() / (2.0 * L2_SCALE)


def chroma_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                norm: str = "l1") -> torch.Tensor:
    """Dahl's multi-scale blurred loss, rebalanced per pixel by ``weights``.

    The raw error is averaged with the errors of Gaussian-blurred (sigma 1.5 and 3 px) outputs
    and targets. Inputs are Lab ``ab`` ``(B, 2, H, W)``; the loss is in Lab units. ``norm``
    ``l1``: absolute errors, whose optimum is each channel's conditional median (grey, where
    grey is the likeliest single answer); ``l2``: squared errors over ``2 * L2_SCALE``, whose
    optimum is the (rebalanced) conditional mean, the output that PSNR rewards.
    """
    check_chroma_norm(norm)
    loss = (weights * _error(pred - target, norm)).mean()
    for sigma in (1.5, 3.0):
        diff = _gaussian_blur(pred, sigma) - _gaussian_blur(target, sigma)
        loss = loss + (weights * _error(diff, norm)).mean()
    return loss / 3.0


def colour_loss(pred: torch.Tensor, target: torch.Tensor, pool: int = 4,
                under_only: bool = False) -> torch.Tensor:
    """How far the output's chroma magnitude is from the truth's, on ``pool``-px blocks.

    L1 on ``ab`` is flat between two opposite hues (a red or a blue coat: any point between
    costs the same), so it lets the network settle toward grey where the gray does not say
    which. This term prices that: ``| |ab_pred| - |ab_true| |`` per block, in Lab units, so
    colour where the truth has colour and grey where it is grey (both directions cost).
    ``under_only``: only too little colour costs (as DDColor's colourfulness loss, a bias
    toward colour where the gray leaves it open).
    """
    p = F.avg_pool2d(pred, pool)
    t = F.avg_pool2d(target, pool)
    mag_p = (p.square().sum(1) + 1e-6).sqrt()
    mag_t = (t.square().sum(1) + 1e-6).sqrt()
    diff = mag_p - mag_t
    return (diff.clamp(max=0.0) if under_only else diff).abs().mean()


def semantic_loss(classifier: EfficientNetLite0, out_rgb: torch.Tensor, true_rgb: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """KL divergence of the classifier's class distribution on the output from that on the truth.

    As ChromaGAN's class-distribution loss: colours that make an object recognisable as what it
    is are rewarded, whatever their exact Lab values. Both distributions are softened by
    ``temperature``; the truth's carries no gradient. Inputs are RGB in 0..1 ``(B, 3, H, W)``.
    """
    with torch.no_grad():
        target = F.log_softmax(classifier(normalize_rgb(true_rgb)) / temperature, dim=1)
    pred = F.log_softmax(classifier(normalize_rgb(out_rgb.clamp(0, 1))) / temperature, dim=1)
    return F.kl_div(pred, target, log_target=True, reduction="batchmean") * temperature**2


def class_bins_of(hist: np.ndarray) -> torch.Tensor:
    """Centres ``(Q, 2)`` of the ab bins that the training pixels use (``hist > 0``).

    The histogram's 22 x 22 grid of 10 Lab units (Zhang et al. 2016's quantisation; the bins
    no training colour falls in are left out, as their 313 in-gamut bins leave out the rest).
    """
    centres = np.arange(AB_BINS) * 10.0 - 105.0
    ia, ib = np.nonzero(hist > 0)
    return torch.from_numpy(np.stack((centres[ia], centres[ib]), axis=1)).float()


def soft_bin_targets(ab: torch.Tensor, bins: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Target distributions ``(B, Q, H/8, W/8)`` over ``bins`` ``(Q, 2)`` of ab ``(B, 2, H, W)``.

    Zhang et al.'s soft encoding (a Gaussian of ``sigma`` Lab units around the true colour),
    made at stride 4 and averaged over each stride-8 cell, so a cell of two colours wants both.
    """
    ab4 = F.avg_pool2d(ab.float(), CLASS_STRIDE // 2)
    bins = bins.to(ab4.device)
    d2 = (ab4.square().sum(1, keepdim=True)
          - 2 * torch.einsum("bchw,qc->bqhw", ab4, bins)
          + bins.square().sum(1).view(1, -1, 1, 1))
    return F.avg_pool2d(torch.softmax(-d2 / (2 * sigma**2), dim=1), 2)


def class_loss(logits: torch.Tensor, ab: torch.Tensor, prior: torch.Tensor, bins: torch.Tensor,
               table: torch.Tensor) -> torch.Tensor:
    """Rebalanced cross-entropy of the colour-distribution head, where the prior leaves room.

    Each stride-8 cell weighs as the rebalancing ``table`` says at its mean colour, times one
    minus the prior's confidence there (the head's colour is used only in that proportion).
    """
    target = soft_bin_targets(ab, bins)
    ce = -(target * F.log_softmax(logits.float(), dim=1)).sum(1, keepdim=True)
    weight = pixel_weights(F.avg_pool2d(ab.float(), CLASS_STRIDE), table)
    weight = weight * (1.0 - F.avg_pool2d(prior[:, 2:3].float(), CLASS_STRIDE).clamp(0, 1))
    return (weight * ce).mean()
