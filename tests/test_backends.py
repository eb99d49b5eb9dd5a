"""Backends: torch/ONNX parity, selection and fallback, GPU paths (marked)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from conftest import random_colorizer

from vidcolor import backends
from vidcolor.backends import choose_backend, create_backend
from vidcolor.errors import ModelError


def test_torch_onnx_parity_fp32():
    model = random_colorizer(seed=3)
    torch_b = create_backend("torch", lambda: model, "cpu")
    onnx_b = create_backend("onnx", lambda: model, "cpu", "parity-test")
    rng = np.random.default_rng(0)
    for shape in [(1, 1, 64, 64), (3, 1, 96, 160)]:
        lum = rng.random(shape, np.float32) * 100
        prior = np.concatenate((rng.standard_normal((shape[0], 2, *shape[2:]), np.float32) * 30,
                                rng.random((shape[0], 1, *shape[2:]), np.float32)), 1)
        a, b = torch_b.predict(lum, prior), onnx_b.predict(lum, prior)
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape == (shape[0], 2, *shape[2:])
        assert np.abs(a).mean() > 0.1  # a real, non-zero prediction
        assert np.abs(a - b).max() <= 1e-3


def test_auto_picks_onnx_on_cpu():
    assert choose_backend("auto", "cpu") == "onnx"


def test_missing_onnxruntime_falls_back_with_one_line(monkeypatch, caplog):
    monkeypatch.delitem(backends._REGISTRY, "onnx", raising=False)
    monkeypatch.setattr(backends, "_load_registry", lambda: None)
    assert choose_backend("onnx", "cpu") == "torch"
    lines = [r for r in caplog.records if "onnxruntime is not installed" in r.getMessage()]
    assert len(lines) == 1


def test_unknown_backend_fails_loudly():
    with pytest.raises(ModelError, match="unknown backend"):
        create_backend("tensorflow", random_colorizer, "cpu")


def test_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("has CUDA")
    with pytest.raises(ModelError, match="CUDA"):
        create_backend("torch", random_colorizer, "cuda")


@pytest.mark.gpu
def test_torch_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    model = random_colorizer()
    lum = np.random.default_rng(0).random((2, 1, 64, 64), np.float32) * 100
    prior = np.zeros((2, 3, 64, 64), np.float32)
    a = create_backend("torch", lambda: model, "cpu").predict(lum, prior)
    b = create_backend("torch", random_colorizer, "cuda").predict(lum, prior)
    assert np.abs(a - b).max() < 2.0  # bf16 autocast on CUDA


def test_missing_onnx_exporter_falls_back_to_torch(monkeypatch, tmp_path, caplog):
    import vidcolor.export as export

    def unavailable(*args, **kwargs):
        raise export.ExportUnavailable("the onnx package is not installed")

    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path))
    monkeypatch.setattr(export, "export_onnx", unavailable)
    backend = create_backend("auto", random_colorizer, "cpu", "never-built")
    assert backend.name == "torch"
    assert len([r for r in caplog.records if "onnx package is missing" in r.getMessage()]) == 1


def test_stale_onnx_is_not_used(monkeypatch, tmp_path):
    import vidcolor.export as export

    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path))
    a = create_backend("onnx", functools.partial(random_colorizer, seed=1), "cpu", "digest-a")
    b = create_backend("onnx", functools.partial(random_colorizer, seed=2), "cpu", "digest-b")
    assert a.path != b.path
    assert export.onnx_digest(a.path) == "digest-a" and export.onnx_digest(b.path) == "digest-b"
    assert export.session_digest(a.session) == "digest-a"
    # A cached file whose metadata names other weights is rebuilt, not used.
    b.path.replace(a.path)
    c = create_backend("onnx", functools.partial(random_colorizer, seed=1), "cpu", "digest-a")
    assert c.path == a.path and export.session_digest(c.session) == "digest-a"


def test_onnx_backend_builds_the_torch_model_only_to_export(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path))
    built = []

    def load() -> torch.nn.Module:
        built.append(1)
        return random_colorizer(seed=4)

    first = create_backend("onnx", load, "cpu", "digest-lazy")
    assert len(built) == 1  # nothing cached yet: exported once
    again = create_backend("onnx", load, "cpu", "digest-lazy")
    assert len(built) == 1 and again.path == first.path  # the cached file, no torch model


def test_auto_device_rule():
    # torch is imported here, so its own answer is used (the subprocess test in test_cli.py
    # checks that a CPU-only run does not import it to get that answer).
    assert backends.cuda_available("auto") == torch.cuda.is_available()
    assert backends.cuda_available("cuda") and not backends.cuda_available("cpu")
    # This environment's torch is a CPU build: the probe rules CUDA out without torch.
    if torch.version.cuda is None and torch.version.hip is None:
        assert backends._torch_may_have_cuda() is False
