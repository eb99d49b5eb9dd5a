"""Backends: torch/ONNX parity, selection and fallback, GPU paths (marked)."""

from __future__ import annotations

import pytest
import torch
from conftest import random_colorizer

from vidcolor import backends
from vidcolor.backends import choose_backend, create_backend
from vidcolor.errors import ModelError


def test_torch_onnx_parity_fp32():
    model = random_colorizer(seed=3)
    torch_b = create_backend("torch", model, "cpu")
    onnx_b = create_backend("onnx", model, "cpu", "parity-test")
    torch.manual_seed(0)
    for shape in [(1, 1, 64, 64), (3, 1, 96, 160)]:
        lum = torch.rand(*shape) * 100
        prior = torch.cat((torch.randn(shape[0], 2, *shape[2:]) * 30,
                           torch.rand(shape[0], 1, *shape[2:])), 1)
        a, b = torch_b.predict(lum, prior), onnx_b.predict(lum, prior)
        assert a.abs().mean() > 0.1  # a real, non-zero prediction
        assert (a - b).abs().max() <= 1e-3


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
        create_backend("tensorflow", random_colorizer(), "cpu")


def test_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("has CUDA")
    with pytest.raises(ModelError, match="CUDA"):
        create_backend("torch", random_colorizer(), "cuda")


@pytest.mark.gpu
def test_torch_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    model = random_colorizer()
    lum, prior = torch.rand(2, 1, 64, 64) * 100, torch.zeros(2, 3, 64, 64)
    a = create_backend("torch", model, "cpu").predict(lum, prior)
    b = create_backend("torch", random_colorizer(), "cuda").predict(lum, prior)
    assert (a - b).abs().max() < 2.0  # bf16 autocast on CUDA


def test_missing_onnx_exporter_falls_back_to_torch(monkeypatch, tmp_path, caplog):
    import vidcolor.export as export

    def unavailable(*args, **kwargs):
        raise export.ExportUnavailable("the onnx package is not installed")

    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path))
    monkeypatch.setattr(export, "export_onnx", unavailable)
    backend = create_backend("auto", random_colorizer(), "cpu", "never-built")
    assert backend.name == "torch"
    assert len([r for r in caplog.records if "onnx package is missing" in r.getMessage()]) == 1


def test_stale_onnx_is_not_used(monkeypatch, tmp_path):
    import vidcolor.export as export

    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path))
    a = export.cached_onnx(random_colorizer(seed=1), "digest-a")
    b = export.cached_onnx(random_colorizer(seed=2), "digest-b")
    assert a != b
    assert export.onnx_digest(a) == "digest-a" and export.onnx_digest(b) == "digest-b"
