"""ONNX Runtime backend: CPU, or CUDA / TensorRT with the ``gpu`` extra (onnxruntime-gpu)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vidcolor.backends import ModelLoader, register
from vidcolor.errors import ModelError
from vidcolor.export import open_onnx

log = logging.getLogger(__name__)


@register("onnx")
class OnnxBackend:
    """Runs the exported network with ONNX Runtime (fp32)."""

    name = "onnx"

    def __init__(self, load_model: ModelLoader, device: str, weights_digest: str,
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

        def open_session(path: Path) -> ort.InferenceSession:
            return ort.InferenceSession(str(path), options, providers=providers)

        self.session, self.path = open_onnx(weights_digest, load_model, open_session)
        self.providers = self.session.get_providers()

    def predict(self, lum: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """See :class:`vidcolor.backends.Backend`."""
        feeds = {
            "lum": np.ascontiguousarray(lum, dtype=np.float32),
            "prior": np.ascontiguousarray(prior, dtype=np.float32),
        }
        try:
            (ab,) = self.session.run(["ab"], feeds)
        except Exception as e:
            raise ModelError(f"ONNX Runtime failed: {e}") from e
        return ab
