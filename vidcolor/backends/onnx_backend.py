"""ONNX Runtime backend: CPU, or CUDA / TensorRT with the ``gpu`` extra (onnxruntime-gpu)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from vidcolor.backends import register
from vidcolor.errors import ModelError
from vidcolor.export import cached_onnx

log = logging.getLogger(__name__)


@register("onnx")
class OnnxBackend:
    """Runs the exported network with ONNX Runtime (fp32)."""

    name = "onnx"

    def __init__(self, model: torch.nn.Module, device: str, weights_digest: str,
                 threads: int = 0) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise ModelError(
                "--device cuda with --backend onnx needs onnxruntime-gpu "
                "(pip install 'vidcolor[gpu]' in an environment without onnxruntime)"
            )
        providers = ["CPUExecutionProvider"]
        if device in ("cuda", "auto") and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Between runs ORT's workers would spin-wait for the next one, stealing the cores that
        # decoding, optical flow and encoding need meanwhile (measured in scripts/bench.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = cached_onnx(model, weights_digest)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as e:  # a damaged cache file: rebuild once
            log.warning("rebuilding the cached ONNX model (%s)", e)
            path.unlink(missing_ok=True)
            path = cached_onnx(model, weights_digest)
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.providers = self.session.get_providers()

    def predict(self, lum: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """See :class:`vidcolor.backends.Backend`."""
        feeds = {
            "lum": np.ascontiguousarray(lum.float().numpy()),
            "prior": np.ascontiguousarray(prior.float().numpy()),
        }
        try:
            (ab,) = self.session.run(["ab"], feeds)
        except Exception as e:
            raise ModelError(f"ONNX Runtime failed: {e}") from e
        return torch.from_numpy(ab)
