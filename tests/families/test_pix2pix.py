"""pix2pix (Isola et al. 2017): the U-Net and PatchGAN shapes, the skip connections, the
losses of one step worked out by hand, options, exact resume, inference and refusals.

The data is a tiny paired set registered in-process (``tiny-pairs``: edge maps of
squares as ``image``, the squares as ``target``), so nothing here needs real MNIST.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganzoo
from ganzoo import hookimpl
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, FieldShape, ItemData, shape_of
from ganzoo.kinds.image import to_model_range
from ganzoo.errors import ConfigError
from ganzoo.specs import DatasetSpec
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.assemble import assemble
from ganzoo_plugins.layers.patchgan import patch_layers, patch_map_size, patch_receptive_field
from ganzoo_plugins.pix2pix.nets import PatchDiscriminator, UNetGenerator, build, unet_depth
from ganzoo_plugins.pix2pix import Pix2PixConfig, Pix2PixOptions

from ..conftest import assert_bitwise_equal, final_state, make_digits

SMALL = ["--set", "arch.ngf=8", "--set", "arch.ndf=8"]


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """uint8 edges (255 where the brightness jumps) of uint8 images ``[N, 1, H, W]``."""
    x = images.float()
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs()
    edges = F.pad(dx, (0, 1)) + F.pad(dy, (0, 0, 0, 1))
    return ((edges > 100) * 255).to(torch.uint8)


def tiny_pairs(n: int = 32, seed: int = 0) -> ItemData:
    """Edge maps (``image``) of bright squares (``target``), with labels."""
    digits, labels = make_digits(n, seed)
    target = torch.from_numpy(digits).unsqueeze(1)
    return ItemData({"image": edge_map(target), "target": target, "label": torch.from_numpy(labels).long()},
                    num_classes=10)


class TinyPairsPlugin:
    """A plugin registering the ``tiny-pairs`` dataset."""

    @hookimpl
    def ganzoo_datasets(self):
        yield DatasetSpec(name="tiny-pairs", summary="edge maps of squares paired with the squares",
                          load=lambda data_dir, split, image_size=None: tiny_pairs(32 if split == "train" else 8,
                                                                                   seed=0 if split == "train" else 1),
                          channels=1, image_size=28, num_classes=10, fields=("target",))


@pytest.fixture
def pairs(manager):
    """The built-in plugins plus ``tiny-pairs``."""
    manager.register(TinyPairsPlugin(), name="tinypairs")
    return manager


def train_args(out: Path, steps: int, *extra: str) -> list[str]:
    return ["pix2pix", "--dataset", "tiny-pairs", "--steps", str(steps), "--batch-size", "8", *SMALL,
            "--device", "cpu", "--out", str(out), "--quiet", *extra]


def paired_shape(size: int, c_in: int = 1, c_out: int = 1) -> DataShape:
    return DataShape(channels=c_in, image_size=size, fields={
        "image": FieldShape("image", (c_in, size, size)), "target": FieldShape("image", (c_out, size, size))})


# --------------------------------------------------------------------------- networks

@pytest.mark.parametrize("size, n_down, padded, d_layers, field, patches", [
    (28, 5, 32, 1, 16, 12),   # MNIST: padded to 32 (32-16-8-4-2-1); 16x16 patches on a 12x12 map
    (32, 5, 32, 1, 16, 14),
    (64, 6, 64, 1, 16, 30),
])
def test_unet_and_patchgan_shapes(size, n_down, padded, d_layers, field, patches):
    torch.manual_seed(0)
    nets = build(Pix2PixConfig(ngf=8, ndf=8), paired_shape(size, c_in=1, c_out=3))
    G, D = nets.generator, nets.discriminator
    assert isinstance(G, UNetGenerator) and isinstance(D, PatchDiscriminator)
    assert (G.n_down, G.padded, G.in_shape, G.out_shape) == (n_down, (padded, padded), (1, size, size),
                                                             (3, size, size))
    assert (D.d_layers, D.receptive_field, D.map_shape) == (d_layers, field, (patches, patches))
    x = torch.rand(3, 1, size, size) * 2 - 1
    y = G(x)
    assert y.shape == (3, 3, size, size) and y.abs().max() <= 1
    logits = D(y, x)
    assert logits.shape == (3, 1, patches, patches)
    # the first PatchGAN conv reads the pair: 1 input channel + 3 output channels
    assert D.net[0].in_channels == 4
    assert nets.export == ("generator",)


def test_the_paper_sizes_come_out_at_256_px():
    """The 70x70 PatchGAN on a 30x30 map and the 8-level U-Net (C64-...-C512 x 4) of the paper."""
    assert [patch_receptive_field(n) for n in (0, 1, 2, 3, 4)] == [7, 16, 34, 70, 142]
    assert patch_layers(256, 256) == 3 and patch_map_size(256, 3) == 30
    assert patch_layers(28, 28) == 1 and patch_layers(128, 128) == 2
    assert unet_depth(256, 256) == (8, 256, 256) and unet_depth(28, 28) == (5, 32, 32)
    assert unet_depth(28, 28, n_down=2) == (2, 28, 28)
    G = UNetGenerator((3, 32, 32), (3, 32, 32), ngf=64)
    assert [block[-1].out_channels if i == 0 else block[1].out_channels for i, block in enumerate(G.encoder)] \
        == [64, 128, 256, 512, 512]


def test_dropout_sits_in_the_first_three_decoder_layers():
    G = UNetGenerator((1, 28, 28), (1, 28, 28), ngf=8)
    with_dropout = [level for level, block in enumerate(G.decoder)
                    if any(isinstance(m, torch.nn.Dropout) for m in block)]
    assert with_dropout == [2, 3, 4]  # decoder[4] is the first above the bottleneck
    assert all(m.p == 0.5 for m in G.modules() if isinstance(m, torch.nn.Dropout))
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        assert not torch.equal(G(x), G(x))  # training: the dropout noise is on
        G.eval()
        assert torch.equal(G(x), G(x))      # inference: off
    none = UNetGenerator((1, 28, 28), (1, 28, 28), ngf=8, dropout=0.0)
    assert not any(isinstance(m, torch.nn.Dropout) for m in none.modules())


def test_skip_connections_carry_detail_past_the_bottleneck():
    torch.manual_seed(0)
    G = UNetGenerator((1, 28, 28), (1, 28, 28), ngf=8).eval()
    # each decoder layer but the innermost reads twice the channels: its input and the skip
    for level, block in enumerate(G.decoder[:-1]):
        assert block[1].in_channels == 2 * G.encoder[level][-1 if level == 0 else 1].out_channels
    # with the bottleneck zeroed, the output still follows the input (through the skips)
    G.encoder[-1].register_forward_hook(lambda module, args, output: torch.zeros_like(output))
    a, b = torch.rand(2, 1, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        out_a, out_b = G(a), G(b)
    assert (out_a - out_b).abs().mean() > 1e-3


def test_input_and_target_of_other_sizes_are_refused():
    shape = DataShape(channels=1, image_size=28, fields={"image": FieldShape("image", (1, 7, 7)),
                                                         "target": FieldShape("image", (1, 28, 28))})
    with pytest.raises(ConfigError, match="same size; image is 7x7, target is 28x28"):
        build(Pix2PixConfig(), shape)


# --------------------------------------------------------------------------- one step by hand

def _trainer(registry, tmp_path, sets=(), loss=None):
    cfg = resolve_config(registry, "pix2pix", dataset="tiny-pairs", loss=loss, sets=[
        "arch.ngf=8", "arch.ndf=8", *sets], flags={"batch_size": 8, "device": "cpu", "steps": 3})
    data = tiny_pairs()
    torch.manual_seed(0)
    nets = build(Pix2PixConfig.model_validate(cfg.arch), shape_of(data))
    trainer = assemble(cfg, registry, data=data, nets=nets, device="cpu", run_dir=tmp_path)
    return trainer, nets


def test_the_losses_of_one_step_are_the_papers(pairs, tmp_path):
    """d_loss = (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)) / 2 with D before its update;
    g_loss = BCE(D(x, G(x)), 1) + lambda_l1 * mean|G(x) - y| with D after it."""
    trainer, nets = _trainer(pairs.registry, tmp_path, sets=["arch.dropout=0", "algo.lambda_l1=7"])
    G_before, D_before = copy.deepcopy(nets.generator), copy.deepcopy(nets.discriminator)
    data_state = trainer.batches.state_dict()
    stats = trainer.train_step()
    trainer.batches.load_state_dict(data_state)
    batch = trainer.batches.next_batch()
    x, y = batch["image"], batch["target"]
    with torch.no_grad():
        fake = G_before(x)  # training mode, as in the step (batch statistics, no dropout here)
        real_before, fake_before = D_before(y, x), D_before(fake, x)
        d_expected = 0.5 * (torch.log1p(torch.exp(-real_before)).mean() + torch.log1p(torch.exp(fake_before)).mean())
        fake_after = nets.discriminator(fake, x)  # D has been updated; G's loss used the new D
        adversarial = -torch.log(torch.sigmoid(fake_after)).mean()
        l1 = (fake - y).abs().mean()
    assert stats["d_loss"].item() == pytest.approx(d_expected.item(), rel=1e-5)
    assert stats["l1"].item() == pytest.approx(l1.item(), rel=1e-5)
    assert stats["g_adv"].item() == pytest.approx(adversarial.item(), rel=1e-5)
    assert stats["g_loss"].item() == pytest.approx(adversarial.item() + 7 * l1.item(), rel=1e-5)
    assert stats["D(x)"].item() == pytest.approx(torch.sigmoid(real_before).mean().item(), rel=1e-5)
    assert {"d_grad_norm", "g_grad_norm"} <= set(stats)


def test_the_l1_only_baseline_leaves_the_discriminator_alone(pairs, tmp_path):
    trainer, nets = _trainer(pairs.registry, tmp_path, sets=["algo.lambda_gan=0"])
    d_before = {k: v.clone() for k, v in nets.discriminator.state_dict().items()}
    g_before = [p.clone() for p in nets.generator.parameters()]
    for _ in range(2):
        stats = trainer.train_step()
    assert all(torch.equal(v, nets.discriminator.state_dict()[k]) for k, v in d_before.items())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, nets.generator.parameters()))
    assert "d_loss" not in stats and stats["g_loss"].item() == pytest.approx(100 * stats["l1"].item(), rel=1e-6)


def test_a_penalty_is_taken_with_respect_to_the_judged_image(pairs, tmp_path):
    """R1 through the run config: gamma/2 * mean ||grad_y c(y, x)||^2, x held fixed, where c is
    each sample's mean patch logit (the critic value the losses see)."""
    trainer, nets = _trainer(pairs.registry, tmp_path, sets=["r1=10", "arch.dropout=0"])
    assert trainer.cfg.arch["d_norm"] == "layer"  # switched from batch norm, which breaks a per-sample penalty
    assert isinstance(nets.discriminator.net[3], torch.nn.GroupNorm)
    D_before = copy.deepcopy(nets.discriminator)
    data_state = trainer.batches.state_dict()
    stats = trainer.train_step()
    trainer.batches.load_state_dict(data_state)
    batch = trainer.batches.next_batch()
    y = batch["target"].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(D_before(y, batch["image"]).flatten(1).mean(1).sum(), y)
    assert stats["penalty"].item() == pytest.approx(5 * grad.flatten(1).square().sum(1).mean().item(), rel=1e-4)


def test_instance_norm_is_used_by_both_networks_and_kept_under_a_penalty(pairs, tmp_path):
    trainer, nets = _trainer(pairs.registry, tmp_path, sets=["arch.norm=instance", "r1=1"])
    assert trainer.cfg.arch["d_norm"] == "instance" and trainer.cfg.notes == []  # per sample already
    kinds = {type(m) for m in [*nets.generator.modules(), *nets.discriminator.modules()]}
    assert torch.nn.InstanceNorm2d in kinds and torch.nn.BatchNorm2d not in kinds
    stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values()), stats


@pytest.mark.parametrize("loss", ["rgan", "wgan", "wgan-gp", "hinge"])
def test_other_losses_train(pairs, tmp_path, loss):
    trainer, nets = _trainer(pairs.registry, tmp_path, loss=loss)
    drawn, next_batch = [], trainer.batch
    trainer.batch = lambda: drawn.append(1) or next_batch()
    for _ in range(2):
        stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values()), stats
    if trainer.cfg.weight_clip:
        assert all(p.abs().max() <= trainer.cfg.weight_clip for p in nets.discriminator.parameters())
    if loss == "wgan-gp":
        assert stats["penalty"] > 0 and trainer.cfg.arch["d_norm"] == "layer"
    if loss.startswith("wgan"):  # the loss's n_critic=5: five discriminator batches per step
        assert trainer.algorithm.batches_per_step() == 5 and len(drawn) == 2 * 5
    else:
        assert len(drawn) == 2


# --------------------------------------------------------------------------- options and the CLI

def test_lambda_l1_is_validated_and_recorded(pairs, cli, tmp_path):
    with pytest.raises(ConfigError) as refused:
        resolve_config(pairs.registry, "pix2pix", dataset="tiny-pairs", sets=["algo.lambda_l1=-1"])
    message = str(refused.value)
    assert "algo.lambda_l1" in message and "greater than or equal to 0" in message and "\n" not in message
    result = cli("train", *train_args(tmp_path / "runs", 1, "--set", "algo.lambda_l1=-1"))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ConfigError, match="both 0"):
        resolve_config(pairs.registry, "pix2pix", dataset="tiny-pairs", sets=["algo.lambda_l1=0", "algo.lambda_gan=0"])
    result = cli("train", *train_args(tmp_path / "runs", 3, "--run-name", "r", "--set", "algo.lambda_l1=50"))
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())
    assert config["algo"] == {"lambda_l1": 50.0, "lambda_gan": 1.0}
    assert config["algorithm"] == "pix2pix:pix2pix" and config["loss"] == "core:bce"
    assert config["arch"]["d_norm"] == "batch" and config["batch_size"] == 8
    records = [json.loads(line) for line in (tmp_path / "runs" / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3]
    assert all(math.isfinite(records[-1][k]) for k in ("d_loss", "g_loss", "l1", "d_grad_norm", "g_grad_norm"))


def test_defaults_are_the_papers(pairs):
    cfg = resolve_config(pairs.registry, "pix2pix", dataset="tiny-pairs")
    assert (cfg.g_optim.lr, cfg.g_optim.betas, cfg.d_optim.lr, cfg.d_optim.betas) == (2e-4, (0.5, 0.999),
                                                                                      2e-4, (0.5, 0.999))
    assert cfg.algo == {"lambda_l1": 100.0, "lambda_gan": 1.0} and cfg.loss == "core:bce"
    assert cfg.batch_size == 64 and cfg.arch["norm"] == "batch" and cfg.arch["dropout"] == 0.5
    spec = pairs.registry.get("model", "pix2pix").spec
    assert (spec.task, spec.fields, spec.default_dataset) == ("image-to-image", ("target",), "mnist-edges")
    assert Pix2PixOptions().lambda_l1 == 100.0


def test_unpaired_data_is_refused_before_training(cli, data_dir, tmp_path):
    result = cli("train", "pix2pix", "--dataset", "mnist", "--data-dir", str(data_dir), "--steps", "1",
                 "--out", str(tmp_path / "runs"), *SMALL)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output
    assert "model 'pix2pix' needs the data field(s) target; mnist has image, label" in message
    assert not (tmp_path / "runs").exists()


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(pairs, cli, tmp_path):
    """Dropout draws from torch's global generator, which the checkpoint restores."""
    out = tmp_path / "runs"
    assert cli("train", *train_args(out, 6, "--run-name", "full")).exit_code == 0
    assert cli("train", *train_args(out, 3, "--run-name", "part")).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), "--steps", "6", "--quiet")
    assert result.exit_code == 0, result.output
    full, part = ckpt.resolve_checkpoint(out / "full"), ckpt.resolve_checkpoint(out / "part")
    assert full.name == part.name == "step-0000006"
    assert_bitwise_equal(final_state(out / "full"), final_state(out / "part"))


def test_translate_takes_uint8_and_float_and_the_preview_shows_input_output_target(pairs, cli, tmp_path):
    from PIL import Image

    out = tmp_path / "runs"
    assert cli("train", *train_args(out, 2, "--run-name", "t", "--set", "sample_grid=8")).exit_code == 0
    handle = ganzoo.load(out / "t")
    assert handle.task == "translate" and list(handle.translators) == ["generator"]
    edges = tiny_pairs(5, seed=3).fields["image"]
    result = handle.translate(edges)
    assert result.shape == (5, 1, 28, 28) and result.dtype == torch.float32
    assert result.abs().max() <= 1 and torch.isfinite(result).all()
    assert torch.allclose(handle.translate(to_model_range(edges)), result)
    assert torch.equal(handle.translate(edges), result)  # eval mode: no dropout at inference
    assert handle.translate(edges[:, 0]).shape == (5, 1, 28, 28)  # [N, H, W] is taken as one channel
    # 8 examples side by side, rows: input edges, output, target (each 28 px + 2 px of grid)
    preview = Image.open(out / "t" / "samples" / "step-0000002.png")
    assert preview.size == (8 * 30 + 2, 3 * 30 + 2)
    grid = torch.tensor(np.array(preview.convert("L")), dtype=torch.float32)
    first_input, first_target = grid[2:30, 2:30], grid[62:90, 2:30]
    data = tiny_pairs()
    assert torch.equal(first_input, data.fields["image"][0, 0].float())
    assert torch.equal(first_target, data.fields["target"][0, 0].float())


def test_the_defaults_train_on_mnist_edges_given_only_the_data_folder(cli, data_dir, tmp_path):
    result = cli("train", "pix2pix", "--data-dir", str(data_dir), "--steps", "2", "--batch-size", "8", *SMALL,
                 "--device", "cpu", "--run-name", "d", "--quiet")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "runs" / "d" / "config.json").read_text())
    assert (config["dataset"], config["algorithm"], config["loss"]) == ("core:mnist-edges", "pix2pix:pix2pix",
                                                                        "core:bce")
    translated = ganzoo.load(tmp_path / "runs" / "d").translate(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    assert translated.shape == (2, 1, 28, 28)
