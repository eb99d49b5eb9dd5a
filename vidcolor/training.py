"""Training of the colorizer: data sampling, simulated priors, the loss and the resumable loop.

``scripts/train.py`` is a thin argparse wrapper over :func:`train`. Imports torch, numpy and
OpenCV only (no PyAV), so it runs on GPU boxes that lack the video stack.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.colorspace import luma_to_l, merge_rgb, rgb_to_lab, rgb_to_luma
from vidcolor.metrics import colorfulness, predict_whole, psnr
from vidcolor.network import (
    Colorizer,
    EfficientNetLite0,
    build_colorizer,
    load_pretrained_encoder,
    normalize_rgb,
)
from vidcolor.training_data import (
    AB_BINS,
    CropSampler,
    ab_histogram,
    list_images,
    read_rgb,
    simulate_hints,
    simulate_prior,
    to_tensor,
    to_uint8,
)

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (saved in the run folder; resuming checks it)."""

    data: str = "../shared/data/train"
    val: str = "../shared/data/val"
    out: str = "runs/main"
    crop: int = 128
    batch: int = 24
    images: int = 120_000
    lr: float = 1e-3
    encoder_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    rebalance_lambda: float = 0.5
    rebalance_power: float = 0.35
    neutral_floor: float = 0.0  # least weight of the grey ab bins (|a|, |b| < 10); 0: none
    no_prior_fraction: float = 1 / 3
    hint_fraction: float = 0.0  # of the samples with a prior, those given colour hints' instead
    val_images: int = 48
    val_every: int = 500
    checkpoint_minutes: float = 5.0
    seed: int = 0
    device: str = "auto"
    init: str = ""  # a checkpoint or safetensors to start from (fine-tuning), not ImageNet only
    semantic_weight: float = 0.0  # weight of the classifier-consistency loss (0: off)
    semantic_temperature: float = 2.0
    colour_weight: float = 0.0  # weight of the chroma-magnitude loss (0: off)
    colour_under_only: bool = False  # the chroma-magnitude loss prices too little colour only
    precision: str = "auto"  # bf16 (autocast), fp32, or auto: bf16 where the hardware has it
    channels_last: bool = True  # NHWC memory layout (measured 1.6x faster on this CPU)
    minutes: float = 0.0  # stop (checkpointed, resumable) after this many minutes; 0: no limit
    ema: float = 0.0  # decay of a moving average of the weights, validated and exported; 0: off


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


def chroma_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Dahl's multi-scale blurred loss (here L1), rebalanced per pixel by ``weights``.

    The raw error is averaged with the errors of Gaussian-blurred (sigma 1.5 and 3 px) outputs
    and targets. Inputs are Lab ``ab`` ``(B, 2, H, W)``; the loss is in Lab units.
    """
    loss = (weights * (pred - target).abs()).mean()
    for sigma in (1.5, 3.0):
        diff = _gaussian_blur(pred, sigma) - _gaussian_blur(target, sigma)
        loss = loss + (weights * diff.abs()).mean()
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


def frozen_classifier(device: torch.device) -> EfficientNetLite0:
    """The ImageNet Lite0 classifier, frozen, in eval mode (for the semantic loss and top-1)."""
    net = EfficientNetLite0()
    load_pretrained_encoder(net)
    net.requires_grad_(False)
    return net.eval().to(device)


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


def load_init(model: Colorizer, path: str, device: torch.device) -> None:
    """Start from a training checkpoint (``.pt``) or shipped weights (``.safetensors``)."""
    from vidcolor.weights import checkpoint_state

    model.load_state_dict(checkpoint_state(Path(path))[0], strict=True)
    model.to(device)


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether to train under bf16 autocast.

    Yes when asked for, or with ``auto`` on CUDA or a CPU with native bf16 (AVX-512 BF16 or
    AMX); elsewhere bf16 is emulated and slower than fp32.
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def validate(model: Colorizer, images: list[np.ndarray], device: torch.device,
             classifier: EfficientNetLite0 | None = None) -> dict[str, float]:
    """Mean PSNR and colourfulness ratio on ``images`` with no prior (whole-image passes).

    With a ``classifier``, also the share of images whose top-1 class on the output matches
    that on the truth (whole stored image, no crop; a cheap trend, not evaluate.py's number).
    """
    was_training = model.training
    model.eval()
    scores, cf_out, cf_true, agree = [], [], [], []
    for img in images:
        luma = rgb_to_luma(to_tensor(img).to(device))
        lum = luma_to_l(luma)
        ab = predict_whole(model, lum, torch.zeros(1, 3, *lum.shape[-2:], device=device))
        out = to_uint8(merge_rgb(luma, ab).cpu())
        scores.append(psnr(out, img))
        cf_out.append(colorfulness(out))
        cf_true.append(colorfulness(img))
        if classifier is not None:
            pair = torch.cat((to_tensor(out), to_tensor(img))).to(device)
            top = classifier(normalize_rgb(pair)).argmax(1)
            agree.append(float(top[0] == top[1]))
    model.train(was_training)
    res = {"psnr": float(np.mean(scores)), "cf_ratio": float(np.mean(cf_out) / np.mean(cf_true))}
    if agree:
        res["top1_agree"] = float(np.mean(agree))
    return res


class WeightAverage:
    """An exponential moving average of a model's weights (Polyak averaging).

    Floating-point tensors (weights and batch-norm statistics) are averaged with ``decay`` per
    step; integer buffers are copied. The average starts as the weights it is made from.
    """

    def __init__(self, model: torch.nn.Module, decay: float,
                 state: dict[str, torch.Tensor] | None = None) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), not {decay}")
        self.decay = decay
        source = state if state is not None else model.state_dict()
        self.state = {k: v.detach().clone().float() if v.is_floating_point() else v.clone()
                      for k, v in source.items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Move the average one step toward ``model``'s current weights."""
        for k, v in model.state_dict().items():
            mine = self.state[k]
            if v.is_floating_point():
                mine.mul_(self.decay).add_(v.detach().float().to(mine.device), alpha=1 - self.decay)
            else:
                mine.copy_(v)

    def model(self) -> Colorizer:
        """A separate network holding the averaged weights (for validation)."""
        net = build_colorizer(pretrained_encoder=False)
        net.load_state_dict(self.state)
        return net.to(next(iter(self.state.values())).device)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) a training run; returns the path of the final checkpoint."""
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    paths = list_images(Path(cfg.data))
    log.info("loading %d training images from %s", len(paths), cfg.data)
    images = [read_rgb(p) for p in paths]
    all_val = list_images(Path(cfg.val))
    val_paths = all_val[:: max(1, len(all_val) // cfg.val_images)]
    val_images = [read_rgb(p) for p in val_paths[: cfg.val_images]]
    hist_path = out / "ab_hist.npy"
    if not hist_path.exists():
        step_ = max(1, len(images) // 2000)
        np.save(hist_path, ab_histogram(images[::step_]))
    table = rebalance_weights(np.load(hist_path), cfg.rebalance_lambda, cfg.rebalance_power,
                              cfg.neutral_floor)

    model = build_colorizer(pretrained_encoder=not cfg.init).to(device)
    if cfg.init:
        load_init(model, cfg.init, device)
    classifier = frozen_classifier(device)
    if cfg.channels_last:
        classifier = classifier.to(memory_format=torch.channels_last)
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    dec = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    opt = torch.optim.AdamW(
        [{"params": enc, "lr": cfg.lr * cfg.encoder_lr_scale}, {"params": dec, "lr": cfg.lr}],
        weight_decay=cfg.weight_decay,
    )
    base_lrs = [g["lr"] for g in opt.param_groups]
    total_steps = cfg.images // cfg.batch
    step, elapsed = 0, 0.0
    sampler = CropSampler(images, cfg.crop, cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    ckpt = out / "last.pt"
    saved_ema = None
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        saved_ema = state.get("ema")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
        sampler.rng.bit_generator.state = state["np_rng"]
        gen.set_state(state["torch_rng"])
        log.info("resumed %s at step %d", ckpt, step)
    ema = WeightAverage(model, cfg.ema, saved_ema) if cfg.ema > 0 else None

    def save(path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "elapsed": elapsed,
                "np_rng": sampler.rng.bit_generator.state,
                "torch_rng": gen.get_state(),
                "config": asdict(cfg),
                **({"ema": ema.state} if ema is not None else {}),
            },
            tmp,
        )
        tmp.replace(path)

    use_amp = use_bf16(cfg.precision, device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    log.info("training on %s, %s, %s", device, "bf16 autocast" if use_amp else "fp32",
             "channels-last" if cfg.channels_last else "NCHW")
    model.train()
    t_last_ckpt = t0 = time.monotonic()
    elapsed0 = elapsed
    logf = (out / "log.jsonl").open("a")
    budget_end = time.monotonic() + cfg.minutes * 60 if cfg.minutes > 0 else math.inf
    while step < total_steps:
        if time.monotonic() >= budget_end:
            log.info("--minutes %g reached at step %d: checkpointed; re-run to go on",
                     cfg.minutes, step)
            save(ckpt)
            break
        for g, base in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = base * _lr_factor(step, total_steps, cfg.warmup_steps)
        rgb = sampler.batch(cfg.batch).to(device)
        if cfg.channels_last:
            rgb = rgb.contiguous(memory_format=torch.channels_last)
        # The network sees what a black-and-white source holds: the luma Y', as a grey's L.
        luma = rgb_to_luma(rgb)
        lum, ab = luma_to_l(luma), rgb_to_lab(rgb)[:, 1:]
        prior = simulate_prior(ab, gen, cfg.no_prior_fraction)
        if cfg.hint_fraction > 0:
            prior = simulate_hints(prior, luma, ab, gen, cfg.hint_fraction)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = model(lum, prior)
        loss = chroma_loss(pred.float(), ab, pixel_weights(ab, table))
        record: dict[str, float] = {}
        if cfg.colour_weight > 0 or cfg.semantic_weight > 0:
            record["chroma"] = round(loss.item(), 4)
        if cfg.colour_weight > 0:
            col = colour_loss(pred.float(), ab, under_only=cfg.colour_under_only)
            record["colour"] = round(col.item(), 4)
            loss = loss + cfg.colour_weight * col
        if cfg.semantic_weight > 0:
            out_rgb = merge_rgb(luma, pred.float())
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                sem = semantic_loss(classifier, out_rgb, rgb, cfg.semantic_temperature)
            record["semantic"] = round(sem.item(), 4)
            loss = loss + cfg.semantic_weight * sem.float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if ema is not None:
            ema.update(model)
        step += 1
        elapsed = elapsed0 + time.monotonic() - t0
        record = {"step": step, "loss": round(loss.item(), 4), **record}
        if step % 50 == 0:
            record["img_per_s"] = round(step * cfg.batch / max(elapsed, 1e-9), 2)
            record["elapsed_min"] = round(elapsed / 60, 2)
        if step % cfg.val_every == 0 or step == total_steps:
            scores = validate(ema.model() if ema else model, val_images, device, classifier)
            record.update({f"val_{k}": round(v, 4) for k, v in scores.items()})
            log.info("step %d %s", step, record)
        if step % 10 == 0 or "img_per_s" in record or "val_psnr" in record:
            logf.write(json.dumps(record) + "\n")
            logf.flush()
        if time.monotonic() - t_last_ckpt > cfg.checkpoint_minutes * 60 or step == total_steps:
            save(ckpt)
            t_last_ckpt = time.monotonic()
    logf.close()
    return ckpt
