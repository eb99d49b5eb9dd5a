"""Find, verify and load the shipped colorizer weights. Never downloads anything.

Verifying needs only hashlib; the torch network is built (:meth:`Weights.load`) only where it
runs or is exported, so inference through ONNX Runtime never imports torch.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from vidcolor.errors import ModelError

if TYPE_CHECKING:
    from vidcolor.network import Colorizer

log = logging.getLogger(__name__)

WEIGHTS_NAME = "vidcolor-lite0.safetensors"
# sha256 of the shipped weights; models/README.md states the same digest.
WEIGHTS_SHA256 = "f42a3ef80cc1f76f2f12ee7833e65aa272c73b616cd38fe665e960877426369d"
ANIMATION_WEIGHTS_NAME = "vidcolor-anim1.safetensors"
# sha256 of the animation model's weights (``--model animation``; models/README.md).
ANIMATION_WEIGHTS_SHA256 = "288a0cae80d1ed4ac09ec869d54ccad3a9f288436f5352d63019db024882396b"


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model: its weights file (package data), their sha256, how it renders.

    Its ONNX files are named after the weights: ``<stem>.onnx`` and ``<stem>.int8.onnx``.
    """

    name: str
    weights_name: str
    sha256: str
    flat_regions: bool = False  # render with one chroma per line-bounded region
    drawn: bool = False  # made for drawn content: a colour hint fills its line-bounded region

    @property
    def onnx_name(self) -> str:
        """The fp32 ONNX file's name."""
        return self.weights_name.removesuffix(".safetensors") + ".onnx"

    @property
    def int8_name(self) -> str:
        """The int8 ONNX file's name."""
        return self.weights_name.removesuffix(".safetensors") + ".int8.onnx"


# ``--model``'s choices; the first is the default.
SHIPPED_MODELS: dict[str, ShippedModel] = {
    "photo": ShippedModel("photo", WEIGHTS_NAME, WEIGHTS_SHA256),
    "animation": ShippedModel("animation", ANIMATION_WEIGHTS_NAME, ANIMATION_WEIGHTS_SHA256,
                              drawn=True),
}
MODEL_NAMES = tuple(SHIPPED_MODELS)


def shipped_model(name: str) -> ShippedModel:
    """The shipped model called ``name`` (``photo`` or ``animation``).

    Raises:
        ModelError: no model has that name.
    """
    try:
        return SHIPPED_MODELS[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}"
        ) from None


def shipped_model_of(digest: str) -> ShippedModel:
    """The shipped model whose weights have ``digest``; the photo model for any other digest.

    (Other weights have no shipped ONNX files; the photo model's are then tried and refused
    by their recorded digest, as before there were two models.)
    """
    for model in SHIPPED_MODELS.values():
        if model.sha256 and model.sha256 == digest:
            return model
    return SHIPPED_MODELS["photo"]


def models_dir() -> Path:
    """The folder of the shipped weight files, ``vidcolor/model_files`` (package data).

    A wheel, an sdist, an editable install and a checkout all find them there. The model card
    is ``models/README.md``.
    """
    return Path(str(resources.files("vidcolor") / "model_files"))


def default_weights_path(model: str = "photo") -> Path:
    """Path of a shipped model's weights file (``model``: ``photo`` or ``animation``)."""
    return models_dir() / shipped_model(model).weights_name


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_digest(path: Path) -> str | None:
    """The digest a weights file must have: the shipped one, or a ``.sha256`` file beside it."""
    side = path.with_name(path.name + ".sha256")
    if side.exists():
        return side.read_text().split()[0].strip()
    for model in SHIPPED_MODELS.values():
        if model.sha256 and path.resolve() == (models_dir() / model.weights_name).resolve():
            return model.sha256
    return None


@dataclass(frozen=True)
class Weights:
    """Verified weights: their identity now, the torch network only on :meth:`load`.

    Attributes:
        path: the safetensors file.
        digest: the file's sha256.
    """

    path: Path
    digest: str

    def load(self) -> Colorizer:
        """The colorizer with these weights, in eval mode (imports torch).

        Raises:
            ModelError: the file does not fit the network.
        """
        from safetensors.torch import load_file

        from vidcolor.network import colorizer_for_state

        try:
            state = load_file(str(self.path))
            state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
            model = colorizer_for_state(state)
        except Exception as e:
            raise ModelError(
                f"weights file {self.path} does not fit this version of vidcolor: {e}"
            ) from e
        return model.eval()


def verify_weights(path: Path | None = None, model: str = "photo") -> Weights:
    """Find the weights and check their sha256, without building the network.

    There is no fallback: an untrained network colours nothing, and a tool that reports success
    with it delivers nothing. (The tests build their tiny networks themselves.)

    Args:
        path: a safetensors file; ``None`` means the shipped weights of ``model``.
        model: the shipped model (``photo`` or ``animation``) when ``path`` is ``None``.

    Raises:
        ModelError: the file is missing or fails its sha256 check, or no model is called
            ``model``.
    """
    explicit = path is not None
    path = Path(path) if explicit else default_weights_path(model)
    if not path.exists():
        if explicit:
            raise ModelError(f"weights not found: {path}")
        raise ModelError(
            f"the shipped weights are missing: no {path.name} in {path.parent}; reinstall "
            "vidcolor (pip install --force-reinstall vidcolor) or pass --weights FILE"
        )
    actual = sha256_of(path)
    expected = _expected_digest(path)
    if expected is not None and actual != expected:
        raise ModelError(
            f"weights file {path} fails its sha256 check (expected {expected[:12]}…, "
            f"got {actual[:12]}…): restore it from a fresh clone of vidcolor"
        )
    return Weights(path, actual)


def load_colorizer(path: Path | None = None) -> Colorizer:
    """The colorizer with verified weights, in eval mode (see :func:`verify_weights`).

    Raises:
        ModelError: the file is missing, fails its sha256 check or does not fit the network.
    """
    return verify_weights(path).load()


def checkpoint_state(checkpoint: Path) -> tuple[dict, int | None]:
    """The weights a training checkpoint (``.pt``) or a weights file stands for, and its step.

    A checkpoint's moving average of its weights (``ema``) where it kept one, else its live
    weights; a ``.safetensors`` file's tensors as float32 (step ``None``).
    """
    import torch

    if checkpoint.suffix == ".safetensors":
        from safetensors.torch import load_file

        return {k: v.float() if v.is_floating_point() else v
                for k, v in load_file(str(checkpoint)).items()}, None
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return state.get("ema") or state["model"], state.get("step")


def average_states(states: list[dict], shares: list[float]) -> dict:
    """The weighted average of networks' states (weight-space ensembling, e.g. WiSE-FT).

    Float tensors (weights and batch-norm statistics) are averaged in float32 with ``shares``
    (which must sum to 1); integer buffers (batch-norm step counts) are the last state's.
    """
    if len(states) != len(shares) or not states or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError("one share per state, summing to 1")
    out = {}
    for k, v in states[-1].items():
        if not v.is_floating_point():
            out[k] = v
            continue
        acc = shares[0] * states[0][k].float()  # not 0 + ...: that would turn -0.0 into 0.0
        for s, share in zip(states[1:], shares[1:], strict=True):
            acc = acc + share * s[k].float()
        out[k] = acc
    return out


def write_weights(state: dict, dest: Path) -> str:
    """Write a network's state as fp16 safetensors plus a ``.sha256``; returns the digest."""
    from safetensors.torch import save_file

    # Tensors in fp16; settings (0-d, e.g. the colour head's mix) exactly as given.
    tensors = {
        k: (v.half() if v.is_floating_point() and v.dim() else v).contiguous()
        for k, v in state.items()
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    # One metadata entry: safetensors writes its metadata from a hash map, so two entries came
    # out in either order from run to run, and the same tensors gave two different files.
    save_file(tensors, str(dest), metadata={"format": "pt"})
    digest = sha256_of(dest)
    dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {dest.name}\n")
    return digest


def export_checkpoint(checkpoint: Path, dest: Path, class_mix: float | None = None,
                      class_temperature: float | None = None) -> str:
    """Write a training checkpoint's weights as fp16 safetensors plus a ``.sha256``; returns it.

    ``class_mix``, ``class_temperature``: the colour-distribution head's settings to ship.
    """
    from vidcolor.network import set_class_head

    state = set_class_head(checkpoint_state(checkpoint)[0], class_mix, class_temperature)
    return write_weights(state, dest)
