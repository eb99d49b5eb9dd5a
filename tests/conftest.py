"""Shared fixtures: a small random network, synthetic media, debug mode, ERROR-log guard."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from vidcolor.network import build_colorizer


@pytest.fixture(scope="session")
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(autouse=True)
def _debug_and_threads(monkeypatch: pytest.MonkeyPatch, _onnx_cache: Path) -> None:
    monkeypatch.setenv("VIDCOLOR_DEBUG", "1")
    monkeypatch.setenv("VIDCOLOR_CACHE", str(_onnx_cache))
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _no_unexpected_errors(caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest):
    caplog.set_level(logging.INFO)
    yield
    if request.node.get_closest_marker("allow_error_log"):
        return
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected ERROR log: {[r.getMessage() for r in errors]}"


def random_colorizer(seed: int = 0) -> torch.nn.Module:
    """The real architecture with a random (but colourful) decoder: output is not grey."""
    torch.manual_seed(seed)
    model = build_colorizer(pretrained_encoder=True)
    for conv in (model.guess, model.out):
        torch.nn.init.normal_(conv.weight, std=0.05)
        torch.nn.init.normal_(conv.bias, std=0.2)
    return model.eval()


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A safetensors file of :func:`random_colorizer` (with its .sha256)."""
    from safetensors.torch import save_file

    from vidcolor.weights import sha256_of

    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_file({k: v.contiguous() for k, v in random_colorizer().state_dict().items()}, str(path))
    path.with_name(path.name + ".sha256").write_text(sha256_of(path) + "\n")
    return path
