"""SRGAN (Ledig et al. 2017): the SRResNet and discriminator shapes, the scale and its
refusals, the *-sr datasets, the losses of one step worked out by hand (with and without
the adversarial and feature terms), exact resume, super-resolving a user's images, a
user's own LR/HR folders, and the preview's LR | SR | HR rows.

The data is the ``data_dir`` fixture's tiny MNIST files (64 train, 16 test) seen through
``mnist-sr``, or tiny sets registered in-process; nothing needs real MNIST or the trained
MNIST classifier (the feature loss is tested with a stand-in classifier).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganzoo
from ganzoo import hookimpl
from ganzoo.plugins.build import load_dataset
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, FieldShape, ItemData, shape_of
from ganzoo.errors import ConfigError
from ganzoo.specs import DatasetSpec
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.assemble import assemble
from ganzoo_plugins.srgan.data import downsample
from ganzoo_plugins.srgan.algorithm import low_resolution, shrink
from ganzoo_plugins.srgan.nets import SRResNet, VGGDiscriminator, build, d_stage_count, prime_factors, resolve_scale
from ganzoo_plugins.srgan import SRGANConfig, SRGANOptions

from ..conftest import assert_bitwise_equal, final_state, make_digits

SMALL = ["--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.n_blocks=1", "--set", "arch.hidden=32"]
SMALL_SETS = [s for s in SMALL if s != "--set"]


def sr_shape(lr: int, hr: int, channels: int = 1) -> DataShape:
    return DataShape(channels=channels, image_size=lr, fields={
        "image": FieldShape("image", (channels, lr, lr)), "target": FieldShape("image", (channels, hr, hr))})


def tiny_mismatch(n: int = 16) -> ItemData:
    """8x8 inputs with 28x28 targets: 28 is no integer multiple of 8."""
    digits, labels = make_digits(n)
    target = torch.from_numpy(digits).unsqueeze(1)
    image = F.interpolate(target.float(), size=(8, 8), mode="area").to(torch.uint8)
    return ItemData({"image": image, "target": target})


class MismatchPlugin:
    @hookimpl
    def ganzoo_datasets(self):
        yield DatasetSpec(name="tiny-mismatch", summary="8x8 inputs, 28x28 targets",
                          load=lambda data_dir, split, image_size=None: tiny_mismatch(),
                          channels=1, image_size=8, fields=("target",))


def train_args(data_dir: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["srgan", "--data-dir", str(data_dir), "--steps", str(steps), "--batch-size", "8", *SMALL,
            "--device", "cpu", "--out", str(out), "--quiet", *extra]


def one_line_error(result) -> str:
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output, result.output
    return message


# --------------------------------------------------------------------------- networks and scale

def test_prime_factors_and_discriminator_stages():
    assert prime_factors(4) == [2, 2] and prime_factors(8) == [2, 2, 2]
    assert prime_factors(6) == [2, 3] and prime_factors(7) == [7] and prime_factors(1) == []
    # the paper's 4 stages take 96 px to 6x6; at 28 px three keep a 4x4 map (28-14-7-4)
    assert (d_stage_count(96), d_stage_count(28), d_stage_count(16), d_stage_count(8)) == (4, 3, 2, 1)
    assert d_stage_count(28, 2) == 2


@pytest.mark.parametrize("lr, hr, scale, in_size, lr_from, stages", [
    (7, 28, None, 7, None, [2, 2]),        # mnist-sr: the data's own 4x
    (7, 28, 4, 7, None, [2, 2]),           # the same, said
    (7, 28, 2, 14, "target", [2]),         # re-derived from the target: 14 -> 28
    (7, 28, 7, 4, "target", [7]),          # an odd scale: one PixelShuffle(7)
    (28, 28, None, 7, "image", [2, 2]),    # paired-folder: one size, the paper's 4 by default
    (32, 32, 2, 16, "image", [2]),
])
def test_the_scale_decides_the_generators_input(lr, hr, scale, in_size, lr_from, stages):
    nets = build(SRGANConfig(scale=scale, ngf=8, ndf=8, n_blocks=2, hidden=16), sr_shape(lr, hr))
    G, D = nets.generator, nets.discriminator
    assert isinstance(G, SRResNet) and isinstance(D, VGGDiscriminator)
    assert (G.in_shape, G.out_shape, G.lr_from, G.factors) == ((1, in_size, in_size), (1, hr, hr), lr_from, stages)
    assert (G.input_field, G.output_field) == ("lr" if lr_from else "image", "target")
    x = torch.rand(3, *G.in_shape) * 2 - 1
    y = G(x)
    assert y.shape == (3, 1, hr, hr) and y.abs().max() <= 1
    assert D(y).shape == (3,)
    assert len(G.blocks) == 2


def test_the_generator_is_the_papers_srresnet():
    G = build(SRGANConfig(), sr_shape(7, 28)).generator
    assert len(G.blocks) == 8  # the paper's 16, halved for a CPU
    assert G.head[0].kernel_size == (9, 9) and isinstance(G.head[1], torch.nn.PReLU)
    assert G.tail.kernel_size == (9, 9)
    shuffles = [m for m in G.upsample.modules() if isinstance(m, torch.nn.PixelShuffle)]
    assert [s.upscale_factor for s in shuffles] == [2, 2]
    D = build(SRGANConfig(), sr_shape(7, 28)).discriminator
    convs = [m for m in D.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.stride[0]) for c in convs] == [(64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2)]
    assert D.map_shape == (256, 4, 4)
    assert not isinstance(D.features[1], torch.nn.BatchNorm2d)  # no norm on the first conv
    assert [m.out_features for m in D.head if isinstance(m, torch.nn.Linear)] == [1024, 1]


def test_bad_scales_and_sizes_are_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^srgan: arch.scale=3 does not divide the 28x28 target; use one of "
                                          r"2, 4, 7, 14, 28$"):
        resolve_scale((1, 7, 7), (1, 28, 28), 3)
    with pytest.raises(ConfigError, match=r"target \(28x28\) is not an integer multiple of the input \(8x8\)"):
        resolve_scale((1, 8, 8), (1, 28, 28), None)
    with pytest.raises(ConfigError, match="not an integer multiple"):
        resolve_scale((1, 7, 14), (1, 28, 28), None)  # 4x in height, 2x in width
    # without a target (shape checks on plain images) the image is the input
    assert resolve_scale((3, 8, 8), None, None) == (4, None, (3, 8, 8), (3, 32, 32))


def test_shrink_is_bicubic_antialiased_and_matches_the_datasets_downsampling():
    digits, _ = make_digits(4)
    hr = torch.from_numpy(digits).unsqueeze(1)
    small = shrink(hr.float() / 127.5 - 1, (7, 7))
    expected = F.interpolate(hr.float() / 127.5 - 1, size=(7, 7), mode="bicubic", antialias=True,
                             align_corners=False).clamp(-1, 1)
    assert torch.equal(small, expected)
    # the dataset's uint8 version is the same up to rounding to 0..255
    assert (downsample(hr).float() / 127.5 - 1 - small).abs().max() <= 0.5 / 127.5 + 1e-5


# --------------------------------------------------------------------------- data

def test_mnist_sr_is_mnist_4x_down(manager, data_dir):
    data = load_dataset(manager.registry, "mnist-sr", data_dir, "train")
    mnist = load_dataset(manager.registry, "mnist", data_dir, "train")
    assert data.fields["image"].shape == (64, 1, 7, 7) and data.fields["target"].shape == (64, 1, 28, 28)
    assert torch.equal(data.fields["target"], mnist.images) and torch.equal(data.labels, mnist.labels)
    assert torch.equal(data.fields["image"], downsample(mnist.images))
    shape = shape_of(data)
    assert (shape.fields["image"].shape, shape.fields["target"].shape) == ((1, 7, 7), (1, 28, 28))
    # --image-size resizes every image field by the primary's factor: the 4x ratio is kept
    shape = shape_of(data, 14)
    assert (shape.fields["image"].shape, shape.fields["target"].shape) == ((1, 14, 14), (1, 56, 56))
    test = load_dataset(manager.registry, "mnist-sr", data_dir, "test")
    assert len(test) == 16
    entry = manager.registry.get("dataset", "fashion-sr")
    assert entry.spec.fields == ("target",) and entry.spec.image_size == 7


# --------------------------------------------------------------------------- one step by hand

def _trainer(manager, data_dir, tmp_path, sets=(), loss=None):
    registry = manager.registry
    cfg = resolve_config(registry, "srgan", loss=loss, sets=[*SMALL_SETS, *sets],
                         flags={"batch_size": 8, "device": "cpu", "steps": 3, "data_dir": str(data_dir)})
    data = load_dataset(registry, cfg.dataset, data_dir)
    torch.manual_seed(0)
    nets = build(SRGANConfig.model_validate(cfg.arch), shape_of(data))
    trainer = assemble(cfg, registry, data=data, nets=nets, device="cpu", run_dir=tmp_path)
    return trainer, nets


def test_the_losses_of_one_step_are_the_papers(manager, data_dir, tmp_path):
    """d_loss = BCE(D(HR), 1) + BCE(D(G(LR)), 0) with D before its update; g_loss =
    MSE(G(LR), HR) + 1e-3 * BCE(D(G(LR)), 1) with D after it."""
    trainer, nets = _trainer(manager, data_dir, tmp_path)
    assert trainer.cfg.algo == SRGANOptions().model_dump()
    G_before, D_before = copy.deepcopy(nets.generator), copy.deepcopy(nets.discriminator)
    data_state = trainer.batches.state_dict()
    stats = trainer.train_step()
    trainer.batches.load_state_dict(data_state)
    batch = trainer.batches.next_batch()
    x, y = batch["image"], batch["target"]
    assert x.shape == (8, 1, 7, 7) and y.shape == (8, 1, 28, 28)  # the LR input is not resized to 28
    with torch.no_grad():
        fake = G_before(x)  # training mode, as in the step
        real_before, fake_before = D_before(y), D_before(fake)
        d_expected = torch.log1p(torch.exp(-real_before)).mean() + torch.log1p(torch.exp(fake_before)).mean()
        adversarial = -torch.log(torch.sigmoid(nets.discriminator(fake))).mean()
        mse = ((fake - y) ** 2).mean()
    assert stats["d_loss"].item() == pytest.approx(d_expected.item(), rel=1e-5)
    assert stats["mse"].item() == pytest.approx(mse.item(), rel=1e-5)
    assert stats["g_adv"].item() == pytest.approx(adversarial.item(), rel=1e-5)
    assert stats["g_loss"].item() == pytest.approx(mse.item() + 1e-3 * adversarial.item(), rel=1e-5)
    assert {"d_grad_norm", "g_grad_norm"} <= set(stats) and "feature" not in stats


def test_srresnet_leaves_the_discriminator_alone(manager, data_dir, tmp_path):
    trainer, nets = _trainer(manager, data_dir, tmp_path, sets=["algo.adv_weight=0"])
    D_before = copy.deepcopy(nets.discriminator.state_dict())
    G_before = copy.deepcopy(nets.generator.state_dict())
    stats = trainer.train_step()
    assert all(torch.equal(v, nets.discriminator.state_dict()[k]) for k, v in D_before.items())
    assert any(not torch.equal(v, nets.generator.state_dict()[k]) for k, v in G_before.items())
    assert "d_loss" not in stats and "g_adv" not in stats
    assert stats["g_loss"].item() == pytest.approx(stats["mse"].item())


def test_a_changed_scale_rederives_the_input_from_the_target(manager, data_dir, tmp_path):
    trainer, nets = _trainer(manager, data_dir, tmp_path, sets=["arch.scale=2", "algo.adv_weight=0"])
    G = nets.generator
    assert (G.in_shape, G.lr_from) == ((1, 14, 14), "target")
    G_before = copy.deepcopy(G)
    data_state = trainer.batches.state_dict()
    stats = trainer.train_step()
    trainer.batches.load_state_dict(data_state)
    batch = trainer.batches.next_batch()
    x = low_resolution(G, batch)
    assert torch.equal(x, shrink(batch["target"], (14, 14)))
    with torch.no_grad():
        mse = ((G_before(x) - batch["target"]) ** 2).mean()
    assert stats["mse"].item() == pytest.approx(mse.item(), rel=1e-5)


def test_the_feature_loss_goes_through_the_frozen_classifier(manager, data_dir, tmp_path, monkeypatch):
    """A stand-in for the trained MNIST classifier (random SmallCNN weights); the loss is the
    MSE of its conv3 maps; the classifier is no module of the run and stays unchanged."""
    from ganzoo.metrics import extractors

    torch.manual_seed(5)
    net = extractors.SmallCNN()
    stand_in = extractors.Extractor("mnist-classifier", net, sha256="ab" * 32, feature_dim=128, resize="",
                                    prepare=extractors.to_classifier_input, num_classes=10)
    asked = []
    monkeypatch.setattr(extractors, "load_classifier", lambda name, device, data_dir: asked.append(name) or stand_in)
    frozen = copy.deepcopy(net.state_dict())
    trainer, nets = _trainer(manager, data_dir, tmp_path, sets=["algo.feature_weight=0.5", "algo.adv_weight=0"])
    assert asked == ["mnist-classifier"]
    assert any("mnist-classifier (conv3), sha256 " + "ab" * 32 in note for note in trainer.cfg.notes)
    G_before = copy.deepcopy(nets.generator)
    data_state = trainer.batches.state_dict()
    stats = trainer.train_step()
    trainer.batches.load_state_dict(data_state)
    batch = trainer.batches.next_batch()
    with torch.no_grad():
        fake = G_before(batch["image"])
        phi = net.body[:11].eval()
        feature = ((phi(fake) - phi(batch["target"])) ** 2).mean()
        mse = ((fake - batch["target"]) ** 2).mean()
    assert phi(batch["target"]).shape == (8, 64, 7, 7)
    assert stats["feature"].item() == pytest.approx(feature.item(), rel=1e-4)
    assert stats["g_loss"].item() == pytest.approx(mse.item() + 0.5 * feature.item(), rel=1e-4)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in frozen.items())
    assert set(trainer.modules) == {"generator", "discriminator"}


@pytest.mark.parametrize("loss", ["wgan-gp", "ragan"])
def test_other_losses_train(manager, data_dir, tmp_path, loss):
    trainer, nets = _trainer(manager, data_dir, tmp_path, loss=loss)
    stats = trainer.train_step()
    assert all(torch.isfinite(v) for v in stats.values())
    if loss == "wgan-gp":  # batch norm switched to layer norm under the penalty
        assert trainer.cfg.arch["d_norm"] == "layer" and "penalty" in stats


def test_options_are_validated_and_the_defaults_are_the_papers(manager):
    cfg = resolve_config(manager.registry, "srgan")
    assert (cfg.dataset, cfg.loss, cfg.algorithm) == ("srgan:mnist-sr", "core:bce", "srgan:srgan")
    # with its own loss (bce) the model's optimizers win: the paper's Adam for G and D
    assert (cfg.g_optim.lr, tuple(cfg.g_optim.betas)) == (cfg.d_optim.lr, tuple(cfg.d_optim.betas)) == (1e-4, (0.9, 0.999))
    # with another loss, that loss's win (hinge: Adam 2e-4, betas (0, 0.9))
    hinge = resolve_config(manager.registry, "srgan", loss="hinge")
    assert (hinge.g_optim.lr, tuple(hinge.g_optim.betas)) == (2e-4, (0.0, 0.9))
    assert (cfg.algo["adv_weight"], cfg.algo["mse_weight"], cfg.batch_size) == (1e-3, 1.0, 16)
    with pytest.raises(ConfigError, match="all 0"):
        resolve_config(manager.registry, "srgan", sets=["algo.adv_weight=0", "algo.mse_weight=0"])


# --------------------------------------------------------------------------- CLI

def test_data_without_a_target_is_refused(cli, data_dir, tmp_path):
    result = cli("train", *train_args(data_dir, tmp_path / "runs", 1, "--dataset", "mnist"))
    assert "model 'srgan' needs the data field(s) target; mnist has image, label" in one_line_error(result)
    assert not (tmp_path / "runs").exists()


def test_a_scale_that_does_not_divide_the_image_is_refused(cli, data_dir, tmp_path):
    result = cli("train", *train_args(data_dir, tmp_path / "runs", 1, "--set", "arch.scale=3"))
    message = one_line_error(result)
    assert "arch.scale=3 does not divide the 28x28 target" in message
    assert not (tmp_path / "runs").exists()
    result = cli("train", *train_args(data_dir, tmp_path / "runs", 1, "--set", "arch.scale=1"))
    assert "'arch.scale': Input should be greater than or equal to 2" in one_line_error(result)


def test_a_target_that_is_no_multiple_of_the_input_is_refused(manager, cli, data_dir, tmp_path):
    manager.register(MismatchPlugin(), name="mismatch")
    result = cli("train", *train_args(data_dir, tmp_path / "runs", 1, "--dataset", "tiny-mismatch"))
    assert "target (28x28) is not an integer multiple of the input (8x8)" in one_line_error(result)


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", *train_args(data_dir, out, 4, "--run-name", "full")).exit_code == 0
    assert cli("train", *train_args(data_dir, out, 2, "--run-name", "part")).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), "--steps", "4", "--quiet")
    assert result.exit_code == 0, result.output
    full, part = ckpt.resolve_checkpoint(out / "full"), ckpt.resolve_checkpoint(out / "part")
    assert full.name == part.name == "step-0000004"
    assert_bitwise_equal(final_state(out / "full"), final_state(out / "part"))


def test_preview_rows_and_sample_super_resolve_a_users_images(cli, data_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "runs"
    assert cli("train", *train_args(data_dir, out, 2, "--run-name", "t", "--set", "sample_grid=8")).exit_code == 0
    config = json.loads((out / "t" / "config.json").read_text())
    assert (config["dataset"], config["algorithm"]) == ("srgan:mnist-sr", "srgan:srgan")
    # rows of 8: LR input (7x7 upsized by nearest to 28), SR output, HR target
    preview = Image.open(out / "t" / "samples" / "step-0000002.png")
    assert preview.size == (8 * 30 + 2, 3 * 30 + 2)
    grid = torch.tensor(np.array(preview.convert("L")), dtype=torch.float32)
    data = load_dataset(ganzoo.plugins.manager.get_plugin_manager().registry, "mnist-sr", data_dir, "train")
    lr = data.fields["image"][0, 0].float()
    assert torch.equal(grid[2:30, 2:30], lr.repeat_interleave(4, 0).repeat_interleave(4, 1))
    assert torch.equal(grid[62:90, 2:30], data.fields["target"][0, 0].float())

    handle = ganzoo.load(out / "t")
    assert handle.task == "translate"
    small = data.fields["image"][:5]
    result = handle.translate(small)
    assert result.shape == (5, 1, 28, 28) and result.abs().max() <= 1

    # without --input: the run's own test split, rows LR | SR | HR
    result = cli("sample", str(out / "t"), "-n", "8", "--out", str(tmp_path / "own.png"))
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "own.png").size == (8 * 30 + 2, 3 * 30 + 2)

    users = tmp_path / "mine"
    users.mkdir()
    for i in range(3):
        Image.fromarray(small[i, 0].numpy()).save(users / f"{i}.png")
    result = cli("sample", str(out / "t"), "--input", str(users), "--out", str(tmp_path / "sr.png"))
    assert result.exit_code == 0, result.output
    # one block of 8: input (7 -> 28 nearest) and output rows
    assert Image.open(tmp_path / "sr.png").size == (8 * 30 + 2, 2 * 30 + 2)


def test_a_run_at_another_scale_super_resolves_input_brought_to_its_size(cli, data_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "runs"
    assert cli("train", *train_args(data_dir, out, 2, "--run-name", "s2", "--set", "arch.scale=2")).exit_code == 0
    G = ganzoo.load(out / "s2").translators["generator"]
    assert (G.in_shape, G.input_field, G.lr_from) == ((1, 14, 14), "lr", "target")
    users = tmp_path / "mine"
    users.mkdir()
    digits, _ = make_digits(2)
    for i, digit in enumerate(digits):
        Image.fromarray(digit).save(users / f"{i}.png")
    result = cli("sample", str(out / "s2"), "--input", str(users), "--out", str(tmp_path / "sr.png"))
    assert result.exit_code == 0, result.output
    # mnist-sr has no 14x14 field: without --input, one line asking for it
    result = cli("sample", str(out / "s2"), "--out", str(tmp_path / "x.png"))
    assert "pass --input" in one_line_error(result)


def test_a_users_lr_and_hr_folders_train_through_paired_folder(cli, tmp_path):
    """paired-folder brings A/ (LR, 7x7 files) and B/ (HR, 28x28) to one size; srgan shrinks
    the input back by arch.scale (4 when null), so the generator still reads 7x7."""
    from PIL import Image

    digits, _ = make_digits(16)
    hr = torch.from_numpy(digits).unsqueeze(1)
    lr = downsample(hr)
    for name, images in (("A", lr), ("B", hr)):
        (tmp_path / "pairs" / name).mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(image[0].numpy()).save(tmp_path / "pairs" / name / f"{i:02d}.png")
    out = tmp_path / "runs"
    result = cli("train", "srgan", "--dataset", "paired-folder", "--data-dir", str(tmp_path / "pairs"),
                 "--image-size", "28", "--steps", "2", "--batch-size", "8", *SMALL, "--device", "cpu",
                 "--out", str(out), "--run-name", "p", "--quiet")
    assert result.exit_code == 0, result.output
    handle = ganzoo.load(out / "p")
    G = handle.translators["generator"]
    assert (G.in_shape, G.out_shape, G.lr_from) == ((1, 7, 7), (1, 28, 28), "image")
    result = cli("train", "srgan", "--dataset", "paired-folder", "--data-dir", str(tmp_path / "pairs"),
                 "--image-size", "28", "--steps", "1", "--batch-size", "8", *SMALL, "--set", "arch.scale=5",
                 "--device", "cpu", "--out", str(out), "--quiet")
    assert "arch.scale=5 does not divide the 28x28 target" in one_line_error(result)
