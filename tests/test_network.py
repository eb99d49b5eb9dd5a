"""The network, its weights and its training (issue: colorization network)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import random_colorizer

from vidcolor.errors import ModelError
from vidcolor.lab.training import (
    TrainConfig,
    chroma_loss,
    frozen_classifier,
    pixel_weights,
    semantic_loss,
    simulate_prior,
)
from vidcolor.network import EfficientNetLite0, build_colorizer, count_macs, load_pretrained_encoder
from vidcolor.weights import export_checkpoint, load_colorizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("size", [(32, 32), (64, 96), (224, 224)])
def test_shapes(size):
    model = random_colorizer()
    h, w = size
    with torch.no_grad():
        out = model(torch.rand(2, 1, h, w) * 100, torch.zeros(2, 3, h, w))
    assert out.shape == (2, 2, h, w)
    assert torch.isfinite(out).all()


def test_encoder_loads_packaged_checkpoint_strictly():
    net = EfficientNetLite0()
    load_pretrained_encoder(net)  # strict=True inside: any naming drift raises
    # A wrong architecture would not load: drop a block and expect failure.
    net._blocks = net._blocks[:-1]
    with pytest.raises(RuntimeError):
        load_pretrained_encoder(net)


def test_cost_under_budget():
    assert count_macs(build_colorizer()) <= 1.5e9


def test_prior_changes_output_and_confidence_zero_ignores_it():
    model = random_colorizer()
    lum = torch.rand(1, 1, 64, 64) * 100
    zero = torch.zeros(1, 3, 64, 64)
    a = torch.full((1, 3, 64, 64), 40.0)
    a[:, 2] = 1.0
    b = a.clone()
    b[:, :2] = -40.0
    c, d = a.clone(), b.clone()
    c[:, 2] = 0.0
    d[:, 2] = 0.0
    with torch.no_grad():
        out0, out_a, out_b = model(lum, zero), model(lum, a), model(lum, b)
        out_c, out_d = model(lum, c), model(lum, d)
    assert (out_a - out_b).abs().mean() > 1e-3
    torch.testing.assert_close(out_c, out_d, atol=1e-4, rtol=0)
    torch.testing.assert_close(out_c, out0, atol=1e-4, rtol=0)


def test_simulated_prior_has_no_prior_fraction_and_holes():
    gen = torch.Generator().manual_seed(0)
    ab = torch.randn(30, 2, 32, 32) * 30
    prior = simulate_prior(ab, gen, no_prior=1 / 3)
    conf = prior[:, 2]
    none = (conf.flatten(1).amax(1) == 0).float().mean()
    assert 0.1 < none < 0.6
    assert ((prior[:, :2] != 0) <= (conf > 0).unsqueeze(1)).all()  # holes carry no chroma


def test_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    model = build_colorizer(pretrained_encoder=True).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    ab = torch.zeros(4, 2, 32, 32)
    ab[:, 0, :, :16] = 40.0
    ab[:, 1, :, 16:] = -30.0
    lum = torch.linspace(20, 80, 32).view(1, 1, 1, 32).expand(4, 1, 32, 32).contiguous()
    prior = torch.zeros(4, 3, 32, 32)
    weights = pixel_weights(ab, torch.ones(22, 22))
    losses = []
    for _ in range(20):
        loss = chroma_loss(model(lum, prior), ab, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_semantic_loss_zero_on_truth_and_pulls_toward_it():
    torch.manual_seed(0)
    cls = frozen_classifier(torch.device("cpu"))
    truth = torch.rand(2, 3, 64, 64)
    assert semantic_loss(cls, truth, truth, 2.0).item() == pytest.approx(0.0, abs=1e-5)
    out = torch.rand(2, 3, 64, 64, requires_grad=True)
    loss = semantic_loss(cls, out, truth, 2.0)
    assert loss.item() > 0
    loss.backward()
    assert out.grad is not None and out.grad.abs().sum() > 0
    # The classifier is frozen: training the colorizer never moves it.
    assert all(not p.requires_grad for p in cls.parameters())
    # A step down the gradient brings the output's class distribution nearer the truth's.
    with torch.no_grad():
        stepped = out - 0.001 * out.grad.sign()
    assert semantic_loss(cls, stepped, truth, 2.0).item() < loss.item()


def _write_images(folder: Path, n: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = np.zeros((40, 56, 3), np.uint8)
        img[:20] = rng.integers(0, 255, 3)
        img[20:] = rng.integers(0, 255, 3)
        cv2.imwrite(str(folder / f"img_{i}.png"), img)


def test_training_step_checkpoint_resume_and_export(tmp_path):
    from vidcolor.lab.training import train

    _write_images(tmp_path / "train", 6)
    _write_images(tmp_path / "val", 3, seed=1)
    cfg = TrainConfig(data=str(tmp_path / "train"), val=str(tmp_path / "val"),
                      out=str(tmp_path / "run"), crop=32, batch=2, images=4, val_every=2,
                      val_images=3, warmup_steps=1)
    # Without the semantic term the ImageNet classifier is not loaded (a GPU box may lack it).
    import vidcolor.lab.training as training

    def no_classifier(device):
        raise AssertionError("the classifier was loaded without the semantic loss")

    real, training.frozen_classifier = training.frozen_classifier, no_classifier
    try:
        ckpt = train(cfg)
    finally:
        training.frozen_classifier = real
    assert torch.load(ckpt, weights_only=False)["step"] == 2
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert "val_psnr" in log and "top1" not in log
    # Resuming a finished run continues from its step, not from zero.
    from dataclasses import replace

    train(replace(cfg, images=6))
    assert torch.load(ckpt, weights_only=False)["step"] == 3
    dest = tmp_path / "w.safetensors"
    export_checkpoint(ckpt, dest)
    model = load_colorizer(dest)
    assert isinstance(model, torch.nn.Module)
    # Fine-tuning from shipped (safetensors) weights, with the semantic term on.
    tuned = replace(cfg, out=str(tmp_path / "tuned"), init=str(dest), semantic_weight=1.0,
                    images=4)
    train(tuned)
    log = (tmp_path / "tuned" / "log.jsonl").read_text()
    assert '"semantic"' in log and "val_top1_agree" in log


def test_train_script_refuses_bad_settings_in_one_line_before_loading(tmp_path):
    from vidcolor.lab.training import SettingsError, check_config

    _write_images(tmp_path / "train", 2)
    _write_images(tmp_path / "val", 1, seed=1)
    good = TrainConfig(data=str(tmp_path / "train"), val=str(tmp_path / "val"),
                       out=str(tmp_path / "run"), crop=32, batch=2, images=4)
    check_config(good)
    from dataclasses import replace

    for change, word in (({"crop": 8}, "--crop"), ({"images": 1}, "--images"),
                         ({"ema": 1.0}, "--ema"), ({"chroma_norm": "l3"}, "--chroma-norm"),
                         ({"data": str(tmp_path / "none")}, "--data"),
                         ({"init": str(tmp_path / "none.pt")}, "--init"),
                         ({"precision": "fp8"}, "--precision")):
        with pytest.raises(SettingsError, match=word):
            check_config(replace(good, **change))
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "--data", str(tmp_path / "none"),
         "--out", str(tmp_path / "run"), "--hint-fraction", "2"],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "--hint-fraction must be in 0..1" in run.stderr
    assert not (tmp_path / "run").exists()  # refused before it made the run folder
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "--out", str(tmp_path / "run"),
         "--export", str(tmp_path / "w.safetensors")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr and "train first" in run.stderr
    assert not (tmp_path / "w.safetensors").exists()


def test_corrupted_weights_fail_sha256(tmp_path, random_weights):
    bad = tmp_path / "bad.safetensors"
    data = bytearray(random_weights.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "bad.safetensors.sha256").write_text(
        random_weights.with_name(random_weights.name + ".sha256").read_text()
    )
    with pytest.raises(ModelError, match="sha256"):
        load_colorizer(bad)


def test_missing_weights_file_is_an_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_colorizer(tmp_path / "none.safetensors")


def test_evaluate_script_on_three_images(tmp_path, random_weights):
    _write_images(tmp_path / "val", 3)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py"), "--folder", str(tmp_path / "val"),
         "--weights", str(random_weights), "--render-size", "64", "--grid",
         str(tmp_path / "grid.png")], capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| vidcolor, no prior |" in proc.stdout and "3 images" in proc.stdout
    assert cv2.imread(str(tmp_path / "grid.png")).shape[0] > 0


def test_weight_average_is_the_exponential_mean_and_is_what_a_checkpoint_exports(tmp_path):
    from dataclasses import replace

    from vidcolor.lab.training import WeightAverage, train
    from vidcolor.weights import checkpoint_state

    model = build_colorizer(pretrained_encoder=False)
    name, param = next(iter(model.named_parameters()))
    start = param.detach().clone()
    avg = WeightAverage(model, 0.75)
    with torch.no_grad():
        param.add_(4.0)
    avg.update(model)
    assert torch.allclose(avg.state[name], start + 1.0)  # 0.75 * w + 0.25 * (w + 4)
    avg.update(model)
    assert torch.allclose(avg.state[name], start + 1.75)

    _write_images(tmp_path / "train", 6)
    _write_images(tmp_path / "val", 3, seed=1)
    cfg = TrainConfig(data=str(tmp_path / "train"), val=str(tmp_path / "val"),
                      out=str(tmp_path / "run"), crop=32, batch=2, images=4, val_every=2,
                      val_images=3, warmup_steps=1, lr=0.05, ema=0.5)
    ckpt = train(cfg)
    saved = torch.load(ckpt, weights_only=False)
    key = "decoder_head.weight" if "decoder_head.weight" in saved["model"] else name
    assert not torch.equal(saved["ema"][key], saved["model"][key])
    state, step = checkpoint_state(ckpt)
    assert step == 2 and torch.equal(state[key], saved["ema"][key])
    train(replace(cfg, images=6))  # resumes with its average
    assert torch.load(ckpt, weights_only=False)["step"] == 3


def test_weights_average_is_exact_and_written_the_same_every_time(tmp_path):
    # Two points of a chain averaged in weight space; the file is byte-identical when made
    # again (safetensors' metadata order used to vary) and keeps a -0.0 as -0.0.
    import subprocess

    from vidcolor.weights import average_states, checkpoint_state, sha256_of, write_weights

    a = build_colorizer(pretrained_encoder=False).state_dict()
    b = {k: (v + 1.0 if v.is_floating_point() else v + 5) for k, v in a.items()}
    name = next(k for k, v in a.items() if v.is_floating_point() and v.numel() > 1)
    a[name].view(-1)[0], b[name].view(-1)[0] = -0.0, -0.0
    avg = average_states([a, b], [0.25, 0.75])
    torch.testing.assert_close(avg[name].view(-1)[1:], a[name].view(-1)[1:] + 0.75)
    assert torch.signbit(avg[name].view(-1)[0])
    ints = next(k for k, v in a.items() if not v.is_floating_point())
    assert torch.equal(avg[ints], b[ints])  # counters: the last state's
    with pytest.raises(ValueError):
        average_states([a, b], [0.5, 0.6])
    write_weights(a, tmp_path / "a.safetensors")
    torch.save({"model": b, "step": 7}, tmp_path / "b.pt")
    assert checkpoint_state(tmp_path / "b.pt")[1] == 7
    digests = set()
    for k in range(4):  # separate processes: a hash map's order changes between them
        out = tmp_path / f"avg{k}.safetensors"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "average_weights.py"),
                        str(tmp_path / "a.safetensors"), str(tmp_path / "b.pt"), "--out",
                        str(out)], check=True, capture_output=True, timeout=120)
        digests.add(sha256_of(out))
    assert len(digests) == 1
    torch.testing.assert_close(load_colorizer(out).state_dict()[name],
                               ((a[name] + b[name]) / 2).half().float())


def test_rebalance_weights_and_the_floor_under_grey():
    from vidcolor.lab.training import rebalance_weights

    rng = np.random.default_rng(0)
    hist = rng.random((22, 22)) * 0.01
    hist[10:12, 10:12] = 0.1  # grey: the common colour, as in photos
    hist /= hist.sum()
    plain = rebalance_weights(hist, 0.5, 0.7).numpy()
    assert (hist * plain).sum() == pytest.approx(1.0)
    assert plain[10:12, 10:12].max() < 0.7 < plain.max()  # grey weighs least
    floored = rebalance_weights(hist, 0.5, 0.7, neutral_floor=1.0).numpy()
    assert (hist * floored).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(floored[10:12, 10:12], 1.0, rtol=1e-6)
    # The colours keep their order among themselves, scaled down to make room.
    colour = np.ones((22, 22), bool)
    colour[10:12, 10:12] = False
    ratio = floored[colour] / plain[colour]
    assert np.allclose(ratio, ratio[0]) and ratio[0] < 1.0
    with pytest.raises(ValueError):
        rebalance_weights(hist, 0.5, 0.7, neutral_floor=10.0)  # grey would outweigh all


def test_colour_loss_prices_grey_where_l1_is_flat():
    from vidcolor.lab.training import chroma_loss, colour_loss

    red = torch.zeros(1, 2, 16, 16)
    red[:, 0] = 40.0
    target = torch.cat([red, -red])  # the same gray, one sample red and one blue-green
    ones = torch.ones(2, 1, 16, 16)
    grey = torch.zeros_like(target)
    guess = torch.cat([red, red])  # a confident hue, wrong for one of the two
    # L1 cannot tell the grey compromise from a confident guess; the colour term can.
    assert chroma_loss(grey, target, ones).item() == pytest.approx(
        chroma_loss(guess, target, ones).item())
    assert colour_loss(guess, target).item() < 1e-2 < colour_loss(grey, target).item()
    assert colour_loss(grey, target).item() == pytest.approx(40.0, rel=1e-3)
    # Tinting grey costs too, and colour at half strength costs half.
    assert colour_loss(red, torch.zeros_like(red)).item() == pytest.approx(40.0, rel=1e-3)
    assert colour_loss(red / 2, red).item() == pytest.approx(20.0, rel=1e-3)
    # One-sided: too little colour costs as before, too much nothing.
    assert colour_loss(red / 2, red, under_only=True).item() == pytest.approx(20.0, rel=1e-3)
    assert colour_loss(red, red / 2, under_only=True).item() < 1e-3


def test_squared_chroma_loss_is_least_at_the_mean_not_the_median():
    from vidcolor.lab.losses import L2_SCALE
    from vidcolor.lab.training import chroma_loss

    # The same gray three times: twice grey, once red. L1's best single answer is the median
    # (grey); the squared loss's is the mean (a third of the red), which PSNR rewards.
    red = torch.zeros(1, 2, 16, 16)
    red[:, 0] = 30.0
    target = torch.cat([torch.zeros_like(red), torch.zeros_like(red), red])
    ones = torch.ones(3, 1, 16, 16)

    def best(norm: str) -> float:
        costs = {a: chroma_loss(torch.cat([red * a / 30.0] * 3), target, ones, norm).item()
                 for a in range(0, 31)}
        return min(costs, key=costs.get)

    assert best("l1") == 0
    assert best("l2") == 10
    # In Lab units: an error of L2_SCALE costs what L1 charges for it, halved.
    off = torch.full((1, 2, 16, 16), L2_SCALE)
    assert chroma_loss(off, torch.zeros_like(off), ones[:1], "l2").item() == pytest.approx(
        chroma_loss(off, torch.zeros_like(off), ones[:1], "l1").item() / 2, rel=1e-4)
    with pytest.raises(ValueError, match="chroma norm"):
        chroma_loss(off, off, ones[:1], "l3")
