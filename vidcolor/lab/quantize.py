"""The int8 network: the exported ONNX model quantized with ONNX Runtime's own tools.

Build time only (``scripts/quantize_int8.py``); running the int8 file needs nothing but
onnxruntime. Static QDQ quantization: int8 weights per output channel, uint8 activations with
ranges calibrated on the inputs the pipeline really gives the network (frames at the default
working size, 224 on the short side, with and without a prior), recorded while colorizing
calibration photos.

What stays float, and why (measured with ``scripts/quantize_int8.py --float-layers ...``: mean
|Δab| against fp32 on held-out training photos; see the model card):

* everything that is not a convolution or its activation: the L -> gray conversion, the
  prior's pooling and division (a quantized ``den + 1e-4`` rounds to 0 and the division turns
  0/0 where there is no prior), the upsampling and the residual sums;
* the stem and the first two MBConv blocks: 8-bit steps in the first feature maps, where the
  gray image's fine texture still is, cost most of the error of a fully quantized encoder
  (0.6 of 1.0 |Δab| without a prior) for little time (they run on few channels);
* the two convolutions that produce the chroma (``guess`` and ``out``): their outputs are the
  colours themselves, with no activation to bound them.

Activations that follow a convolution take the range of the activation after it (ReLU6's
[0, 6]), so one channel's large pre-activation values do not coarsen every other channel.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from vidcolor.atomic import atomic_path

log = logging.getLogger(__name__)

SHIPPED_INT8 = "vidcolor-lite0.int8.onnx"
# Node-name prefixes of the convolutions kept in float (the exported graph's module paths): the
# layers whose rounding moves the output most for the least time (docs/experiments.md, int8 and
# stage 13). The colour-distribution head (weights that have one) stays float: its logits are
# divided by the annealed mean's temperature before the softmax, which multiplies their rounding.
FLOAT_PREFIXES = ("/_conv_stem/", "/_blocks.0/", "/_blocks.1/", "/guess/", "/refine.3/",
                  "/full/", "/out/", "/class_head/")
ACTIVATIONS = ("Clip", "Relu")


def int8_nodes(model, float_prefixes: tuple[str, ...] = FLOAT_PREFIXES) -> list[str]:
    """The names of the nodes to quantize.

    Convolutions and their activations, but not those whose name starts with one of
    ``float_prefixes``.
    """
    producer = {out: node for node in model.graph.node for out in node.output}

    def quantized_conv(node) -> bool:
        return node.op_type == "Conv" and not node.name.startswith(float_prefixes)

    names = []
    for node in model.graph.node:
        source = producer.get(node.input[0]) if node.input else None
        if quantized_conv(node) or (node.op_type in ACTIVATIONS and source is not None
                                    and quantized_conv(source)):
            names.append(node.name)
    return names


class _Feeds:
    """ONNX Runtime's calibration reader over recorded ``(lum, prior)`` network inputs."""

    def __init__(self, inputs: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        self._it: Iterator[tuple[np.ndarray, np.ndarray]] = iter(inputs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        item = next(self._it, None)
        if item is None:
            return None
        lum, prior = item
        return {"lum": np.ascontiguousarray(lum, np.float32),
                "prior": np.ascontiguousarray(prior, np.float32)}

    def rewind(self) -> None:  # the reader protocol's optional method; one pass is enough
        return None


class Recorder:
    """A backend that records every input it is given, then runs ``backend``."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.name, self.precision = backend.name, backend.precision
        self.inputs: list[tuple[np.ndarray, np.ndarray]] = []

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """Record the inputs, return the wrapped backend's chroma."""
        self.inputs.append((lum.astype(np.float32), prior.astype(np.float32)))
        return self.backend.predict(lum, prior)


def photo_lumas(paths: list[Path], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """For each photo its luma ``(1, 1, H, W)`` twice: alone, and with a prior.

    The prior is the photo's true chroma shifted by up to 8 px, confidence 1 (as
    ``scripts/evaluate.py`` measures).
    """
    import torch

    from vidcolor.colorspace import rgb_to_luma
    from vidcolor.lab.evaluation import shifted_prior
    from vidcolor.lab.training_data import read_rgb, to_tensor

    gen = torch.Generator().manual_seed(seed)
    items: list[tuple[np.ndarray, np.ndarray | None]] = []
    for path in paths:
        rgb = to_tensor(read_rgb(path))
        luma = rgb_to_luma(rgb).numpy()
        items += [(luma, None), (luma, shifted_prior(rgb, gen).numpy())]
    return items


def quantize_int8(fp32: Path, out: Path, inputs: list[tuple[np.ndarray, np.ndarray]],
                  float_prefixes: tuple[str, ...] = FLOAT_PREFIXES) -> list[str]:
    """Write the int8 model of the ONNX file ``fp32`` to ``out``; returns the quantized nodes.

    ``inputs`` are the calibration batches; the ranges are their minima and maxima. The file
    carries ``fp32``'s metadata (``weights_sha256``: the weights it was made from) plus
    ``precision`` = ``int8`` and ``float_layers``; it is written under a temporary name and
    renamed.

    Raises:
        ImportError: the ``onnx`` package (the ``export`` extra) is missing.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # Folds the BatchNorms into the convolutions and the pads into them, so the names
        # and ranges below are those of the convolutions ONNX Runtime will really run.
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        model = onnx.load(str(pre))
        nodes = int8_nodes(model, float_prefixes)
        partial = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre), str(partial), _Feeds(inputs), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_quantize=nodes, calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        quantized = onnx.load(str(partial))
        meta = {p.key: p.value for p in onnx.load(str(fp32), load_external_data=False)
                .metadata_props}
        meta.update(precision="int8", float_layers=" ".join(float_prefixes))
        del quantized.metadata_props[:]
        for key, value in sorted(meta.items()):
            entry = quantized.metadata_props.add()
            entry.key, entry.value = key, value
        with atomic_path(out, per_process=True) as staged:
            onnx.save(quantized, str(staged))
    log.info("int8 model: %d of its nodes quantized", len(nodes))
    return nodes
