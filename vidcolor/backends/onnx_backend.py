"""ONNX Runtime backend: CPU, or CUDA / TensorRT with the ``gpu`` extra (onnxruntime-gpu)."""

from __future__ import annotations

import logging
import platform
import re
import sys
from pathlib import Path

import numpy as np

from vidcolor.backends.base import ModelLoader, register
from vidcolor.errors import ModelError
from vidcolor.export import open_int8, open_onnx

log = logging.getLogger(__name__)


def cpu_int8_exact() -> bool:
    """Whether this CPU multiplies ONNX Runtime's uint8 x int8 products without saturating.

    x86 CPUs with VNNI (``avx512_vnni`` or ``avx_vnni``) and ARM CPUs with dot-product
    instructions (``asimddp``; every Apple M chip) accumulate them in 32 bits. Other x86 CPUs
    run them through ``vpmaddubsw``, whose 16-bit pair sums can saturate with full-range
    weights (ONNX Runtime's quantization docs), so ``auto`` keeps fp32 there. Read from
    ``/proc/cpuinfo`` on Linux; elsewhere only Apple silicon answers yes.
    """
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    first = re.search(r"^(?:flags|Features)\s*:(.*)$", text, flags=re.MULTILINE)
    flags = set(first.group(1).split()) if first else set()
    return bool(flags & {"avx512_vnni", "avx_vnni", "asimddp"})


@register("onnx")
class OnnxBackend:
    """Runs the exported network with ONNX Runtime.

    The int8 model on the CPU where there is one for these weights (``precision`` ``auto``, on
    a CPU that does int8 exactly, or ``int8``), else fp32.
    """

    name = "onnx"

    def __init__(self, load_model: ModelLoader, device: str, weights_digest: str,
                 threads: int = 0, precision: str = "auto") -> None:
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

        found = None
        on_cpu = providers[0] == "CPUExecutionProvider"
        if on_cpu and (precision == "int8" or (precision == "auto" and cpu_int8_exact())):
            found = open_int8(weights_digest, open_session)
        if found is None and precision == "int8":
            raise ModelError(
                "--precision int8: there is an int8 model for the shipped weights only, and it "
                "runs on the CPU; use --precision fp32" if on_cpu
                else "--precision int8 runs on the CPU only (--device cpu)"
            )
        self.precision = "int8" if found is not None else "fp32"
        self.session, self.path = found or open_onnx(weights_digest, load_model, open_session)
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
