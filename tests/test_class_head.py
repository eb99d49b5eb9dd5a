"""The colour-distribution head: off means the regression exactly, its loss, training, export."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from conftest import random_colorizer
from test_network import _write_images

from vidcolor.backends import create_backend
from vidcolor.lab.losses import class_bins_of, class_loss, soft_bin_targets
from vidcolor.lab.training import TrainConfig, train
from vidcolor.network import build_colorizer, colorizer_for_state, set_class_head
from vidcolor.weights import export_checkpoint, load_colorizer, write_weights

BINS = torch.tensor([[0.0, 0.0], [30.0, 0.0], [0.0, -30.0], [-20.0, 40.0]])


def _with_head(seed: int = 0) -> torch.nn.Module:
    base = random_colorizer(seed)
    model = build_colorizer(class_bins=BINS)
    model.load_state_dict(base.state_dict(), strict=False)
    torch.manual_seed(seed)
    for p in model.class_head.parameters():
        torch.nn.init.normal_(p, std=0.5)
    return model.eval()


def _inputs(seed: int = 0, conf: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    lum = torch.rand(2, 1, 64, 96, generator=g) * 100
    prior = torch.cat((torch.randn(2, 2, 64, 96, generator=g) * 20,
                       torch.full((2, 1, 64, 96), conf)), 1)
    return lum, prior


@torch.no_grad()
def test_head_at_mix_zero_is_the_regression_byte_for_byte_and_a_prior_rules_it():
    model = _with_head()
    plain = random_colorizer(0)
    lum, prior = _inputs()
    ab, logits = model.forward_with_logits(lum, prior)
    assert logits.shape == (2, len(BINS), 8, 12)
    assert torch.equal(ab, plain(lum, prior))
    model.class_mix.fill_(1.0)
    mixed = model(lum, prior)
    assert (mixed - ab).abs().mean() > 0.5  # the head moves the colours
    # Its low frequencies are the annealed mean's: a cell's mean is the head's colour.
    cells = torch.nn.functional.avg_pool2d(mixed, 8)
    assert (cells - model.annealed_mean(logits)).abs().mean() < 0.25 * (mixed - ab).abs().mean()
    # A prior of full confidence leaves no room for the head.
    lum, sure = _inputs(conf=1.0)
    model.class_mix.fill_(0.0)
    base = model(lum, sure)
    model.class_mix.fill_(1.0)
    assert torch.equal(model(lum, sure), base)


def test_annealed_mean_sharpens_toward_the_mode_as_temperature_falls():
    model = _with_head()
    logits = torch.log(torch.tensor([0.1, 0.5, 0.2, 0.2])).view(1, 4, 1, 1)
    model.class_temperature.fill_(1.0)
    mean = model.annealed_mean(logits).flatten()
    model.class_temperature.fill_(0.05)
    mode = model.annealed_mean(logits).flatten()
    assert torch.allclose(mean, (torch.tensor([0.1, 0.5, 0.2, 0.2]) @ BINS), atol=1e-4)
    assert torch.allclose(mode, BINS[1], atol=0.1)


def test_soft_targets_and_the_loss_favour_the_true_bin():
    ab = torch.zeros(1, 2, 16, 16)
    ab[:, 0] = 28.0  # every pixel near bin 1 (30, 0)
    target = soft_bin_targets(ab, BINS)
    assert target.shape == (1, 4, 2, 2)
    assert torch.allclose(target.sum(1), torch.ones(1, 2, 2))
    assert (target.argmax(1) == 1).all()
    table = torch.ones(22, 22)
    prior = torch.zeros(1, 3, 16, 16)
    right = torch.zeros(1, 4, 2, 2)
    right[:, 1] = 5.0
    wrong = torch.zeros(1, 4, 2, 2)
    wrong[:, 2] = 5.0
    assert class_loss(right, ab, prior, BINS, table) < class_loss(wrong, ab, prior, BINS, table)
    # Where the prior is sure, the head is not asked anything.
    prior[:, 2] = 1.0
    assert class_loss(wrong, ab, prior, BINS, table) == 0


def test_bins_are_the_used_histogram_cells():
    hist = np.zeros((22, 22))
    hist[11, 11] = 0.7
    hist[14, 9] = 0.3
    assert class_bins_of(hist).tolist() == [[5.0, 5.0], [35.0, -15.0]]


def test_weights_with_a_head_round_trip_and_export_to_onnx(tmp_path):
    model = _with_head(1)
    state = set_class_head(model.state_dict(), 0.6, 0.3)
    write_weights(state, tmp_path / "h.safetensors")
    loaded = load_colorizer(tmp_path / "h.safetensors")
    assert loaded.class_head is not None
    assert loaded.class_mix.item() == np.float32(0.6)
    assert loaded.class_temperature.item() == np.float32(0.3)
    assert colorizer_for_state(random_colorizer().state_dict()).class_head is None
    lum, prior = _inputs(2)
    prior[:, 2] = 0.0
    torch_b = create_backend("torch", lambda: loaded, "cpu")
    onnx_b = create_backend("onnx", lambda: loaded, "cpu", "head-parity")
    a = torch_b.predict(lum.numpy(), prior.numpy())
    b = onnx_b.predict(lum.numpy(), prior.numpy())
    loaded.class_mix.fill_(0.0)
    assert np.abs(a - loaded(lum, prior).detach().numpy()).mean() > 0.1  # the head is in use
    assert np.abs(a - b).max() <= 1e-2


def test_training_a_head_from_weights_without_one_and_continuing_it(tmp_path, random_weights):
    _write_images(tmp_path / "train", 6)
    _write_images(tmp_path / "val", 3, seed=1)
    cfg = TrainConfig(data=str(tmp_path / "train"), val=str(tmp_path / "val"),
                      out=str(tmp_path / "run"), crop=32, batch=2, images=4, val_every=2,
                      val_images=3, warmup_steps=1, init=str(random_weights), class_weight=1.0)
    ckpt = train(cfg)
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"class"' in log and "val_mix1_psnr" in log
    start = load_colorizer(random_weights).state_dict()
    state = torch.load(ckpt, weights_only=False)["model"]
    assert any(not torch.equal(state[k], v) for k, v in start.items() if v.is_floating_point())
    export_checkpoint(ckpt, tmp_path / "h.safetensors", class_mix=0.4)
    assert load_colorizer(tmp_path / "h.safetensors").class_mix.item() == np.float32(0.4)
    # Resuming keeps the head and its optimizer state.
    train(replace(cfg, images=6))
    assert torch.load(ckpt, weights_only=False)["step"] == 3
    # Continuing from weights with a head, on photos of other colours: the head keeps its bins.
    _write_images(tmp_path / "other", 2, seed=7)  # fewer colours: fewer used bins
    again = train(replace(cfg, data=str(tmp_path / "other"), out=str(tmp_path / "again"),
                          init=str(tmp_path / "h.safetensors")))
    bins = torch.load(again, weights_only=False)["model"]["class_bins"]
    assert torch.equal(bins, load_colorizer(tmp_path / "h.safetensors").class_bins)
