"""The int8 model: chosen on the CPU for the shipped weights, close to fp32, never misused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import random_colorizer
from media import make_video

from vidcolor.backends import create_backend, onnx_backend, resolve_precision
from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig, TileConfig
from vidcolor.errors import ModelError
from vidcolor.image import read_image
from vidcolor.lab.quantize import FLOAT_PREFIXES, SHIPPED_INT8
from vidcolor.weights import models_dir, verify_weights

INT8 = models_dir() / SHIPPED_INT8
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shipped():
    return verify_weights(None)


@pytest.fixture
def exact_cpu(monkeypatch):
    monkeypatch.setattr(onnx_backend, "cpu_int8_exact", lambda: True)


def _not_built(*_args):
    raise AssertionError("the torch network was built")


def test_shipped_int8_file_belongs_to_the_shipped_weights(shipped):
    meta = {p.key: p.value for p in onnx.load(str(INT8), load_external_data=False).metadata_props}
    assert meta["weights_sha256"] == shipped.digest
    assert meta["precision"] == "int8"


def test_int8_keeps_the_prior_path_stem_and_outputs_in_float():
    graph = onnx.load(str(INT8)).graph
    producer = {out: node for node in graph.node for out in node.output}
    quantized_convs, float_convs = [], []
    for node in graph.node:
        if node.op_type == "Conv":
            dq = producer.get(node.input[1])
            (quantized_convs if dq is not None and dq.op_type == "DequantizeLinear"
             else float_convs).append(node.name)
        if node.op_type == "QuantizeLinear":  # never the prior's pooling and division
            src = producer.get(node.input[0])
            assert src is None or src.op_type not in ("Div", "AveragePool"), src.name
    assert len(quantized_convs) > 40
    assert all(name.startswith(FLOAT_PREFIXES) for name in float_convs)
    assert not any(name.startswith(FLOAT_PREFIXES) for name in quantized_convs)
    for prefix in FLOAT_PREFIXES:  # the shipped weights have no colour-distribution head
        if prefix != "/class_head/":
            assert any(name.startswith(prefix) for name in float_convs), prefix


def test_auto_runs_int8_on_an_exact_cpu_without_building_torch(shipped, exact_cpu):
    backend = create_backend("auto", _not_built, "cpu", shipped.digest)
    assert (backend.name, backend.precision, backend.path) == ("onnx", "int8", INT8)
    assert resolve_precision("auto", "cpu", shipped.digest, "auto") == "int8"


def test_auto_keeps_fp32_where_int8_could_saturate(shipped, monkeypatch):
    monkeypatch.setattr(onnx_backend, "cpu_int8_exact", lambda: False)
    backend = create_backend("auto", shipped.load, "cpu", shipped.digest)
    assert backend.precision == "fp32" and backend.path != INT8
    assert resolve_precision("auto", "cpu", shipped.digest, "auto") == "fp32"
    assert create_backend("onnx", _not_built, "cpu", shipped.digest, precision="int8"
                          ).precision == "int8"  # asked for: the user's choice


def test_fp32_when_asked_and_for_other_weights(shipped, exact_cpu):
    assert create_backend("onnx", shipped.load, "cpu", shipped.digest,
                          precision="fp32").precision == "fp32"
    other = create_backend("onnx", random_colorizer, "cpu", "other-weights")
    assert other.precision == "fp32"
    with pytest.raises(ModelError, match="int8 model for the shipped weights only"):
        create_backend("onnx", random_colorizer, "cpu", "other-weights", precision="int8")
    with pytest.raises(ModelError, match="ONNX Runtime on the CPU"):
        create_backend("torch", random_colorizer, "cpu", "other-weights", precision="int8")
    with pytest.raises(ModelError, match="unknown precision"):
        create_backend("onnx", random_colorizer, "cpu", "x", precision="int4")


@pytest.mark.skipif(not onnx_backend.cpu_int8_exact(),
                    reason="this CPU has no VNNI or dot product: its int8 is not exact, so "
                           "vidcolor runs fp32 here (0.92 Lab units from fp32 measured on AVX2)")
def test_int8_colours_stay_close_to_fp32(shipped):
    """The bundled photo, whole and through 224x224 windows, alone and with a prior: the int8
    chroma within 0.6 Lab units of fp32 on average (a naive full quantization: 5 to 13)."""
    pixels, peak = read_image(ROOT / "samples" / "photo.png")  # a black-and-white photo
    assert pixels.ndim == 2
    luma = (pixels.astype(np.float32) / peak)[None, None]
    tile = TileConfig(render_size=448)  # windows as well as the whole-frame pass
    runs = {}
    for precision in ("fp32", "int8"):
        net = create_backend("onnx", shipped.load, "cpu", shipped.digest, precision=precision)
        colorizer = FrameColorizer(net, tile)
        alone = colorizer.predict_ab(luma)
        prior = np.concatenate([np.roll(alone, 5, axis=-1) * 1.2, np.ones_like(alone[:, :1])], 1)
        runs[precision] = (alone, colorizer.predict_ab(luma, prior))
    for ref, got in zip(runs["fp32"], runs["int8"], strict=True):
        assert np.abs(ref).mean() > 3.0  # colours to compare, not grey
        assert np.abs(got - ref).mean() < 0.6


def test_job_records_the_precision_that_ran(tmp_path, shipped, exact_cpu):
    from vidcolor.pipeline import run_job

    src = make_video(tmp_path / "in.mp4", 96, 64, frames=3)
    for precision, expect in (("auto", "int8"), ("fp32", "fp32")):
        dst = tmp_path / f"{precision}.mp4"
        run_job(src, dst, JobConfig(precision=precision, keep_work=True))
        manifest = (tmp_path / f"{precision}.mp4.vidcolor-job" / "manifest.json").read_text()
        assert f'"precision": "{expect}"' in manifest


def test_cli_int8_with_torch_is_one_line(tmp_path):
    src = make_video(tmp_path / "in.mp4", 64, 64, frames=2)
    proc = subprocess.run([sys.executable, "-m", "vidcolor", str(src), "-o",
                           str(tmp_path / "o.mp4"), "--backend", "torch", "--precision", "int8"],
                          capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "VIDCOLOR_DEBUG"})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "vidcolor: error: --precision int8 runs with ONNX Runtime on the CPU "
        "(--backend onnx --device cpu)"
    ]
    assert not (tmp_path / "o.mp4").exists()


def test_cpu_int8_exact_reads_the_cpu_flags(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    real_path = onnx_backend.Path

    def fake_path(p):
        return cpuinfo if str(p) == "/proc/cpuinfo" else real_path(p)

    monkeypatch.setattr(onnx_backend.sys, "platform", "linux")
    monkeypatch.setattr(onnx_backend, "Path", fake_path)
    for flags, exact in (("fpu sse avx2 avx512f", False), ("fpu avx2 avx512_vnni", True),
                         ("fpu avx2 avx_vnni", True)):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
        assert onnx_backend.cpu_int8_exact() is exact
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\n")
    assert onnx_backend.cpu_int8_exact() is True
