"""Context-encoder inpainting (Pathak et al. 2016): the masked datasets, the generator's blend and
default centre mask, the losses of one step worked out by hand, options, refusals through the
CLI, exact resume, the preview, and ``ganzoo sample --input`` filling a user's images.

The data is the ``data_dir`` fixture's tiny MNIST files (64 train / 16 test squares) through the
plugin's derived ``mnist-center`` / ``mnist-random``, so nothing here needs real MNIST.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import ganzoo
from ganzoo import hookimpl
from ganzoo.plugins.build import load_dataset
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, FieldShape, ItemData, shape_of
from ganzoo.errors import ConfigError
from ganzoo.specs import DatasetSpec
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.assemble import assemble
from ganzoo_plugins.inpainting.data import (MAX_COVER, center_mask, random_block_masks, split_seed,
                                            with_center_masks, with_random_masks)
from ganzoo_plugins.inpainting import ContextEncoderConfig, ContextEncoderOptions
from ganzoo_plugins.inpainting.algorithm import masked_l2
from ganzoo_plugins.inpainting.nets import ChannelwiseFC, ContextEncoderGenerator, build

from ..conftest import assert_bitwise_equal, final_state, make_digits

SMALL = ["--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.latent_dim=8"]


def masked_shape(size: int, channels: int = 1, mask_side: int | None = None) -> DataShape:
    side = size if mask_side is None else mask_side
    return DataShape(channels=channels, image_size=size, fields={
        "image": FieldShape("image", (channels, size, size)), "mask": FieldShape("mask", (1, side, side))})


def train_args(data_dir: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["context-encoder", "--data-dir", str(data_dir), "--steps", str(steps), "--batch-size", "8", *SMALL,
            "--device", "cpu", "--out", str(out), "--quiet", *extra]


# --------------------------------------------------------------------------- datasets

def test_the_centre_mask_is_the_middle_half():
    m = center_mask(28, 28)[0, 0]
    assert m.dtype == torch.uint8 and int(m.sum()) == 14 * 14
    rows, cols = m.nonzero().T
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (7, 20, 7, 20)
    assert int(center_mask(28, 28, 10).sum()) == 100 and center_mask(28, 28, 10)[0, 0, 9, 9] == 1


def test_random_blocks_are_seeded_cover_at_most_a_quarter_and_differ_between_splits():
    a, b = random_block_masks(500, 28, 28, seed=split_seed("train")), random_block_masks(500, 28, 28, 1604)
    assert torch.equal(a, b) and a.shape == (500, 1, 28, 28) and a.dtype == torch.uint8
    cover = a.flatten(1).float().mean(1)
    assert cover.max() <= MAX_COVER and cover.min() >= (28 // 6) ** 2 / 784  # at least one block each
    assert len(torch.unique(a.flatten(1), dim=0)) == 500                     # per-item masks
    assert not torch.equal(a, random_block_masks(500, 28, 28, seed=split_seed("test")))


def test_the_derived_sets_keep_the_images_and_add_masks(manager, data_dir):
    registry = manager.registry
    mnist = load_dataset(registry, "mnist", data_dir, "train")
    for name, transform in (("mnist-center", with_center_masks), ("mnist-random", with_random_masks)):
        data = load_dataset(registry, name, data_dir, "train")
        assert set(data.fields) == {"image", "mask", "label"} and data.kinds["mask"] == "mask"
        assert torch.equal(data.fields["image"], mnist.fields["image"])
        assert torch.equal(data.fields["label"], mnist.fields["label"])
        assert data.fields["mask"].shape == (64, 1, 28, 28) and data.fields["mask"].dtype == torch.uint8
        assert torch.equal(data.fields["mask"], transform(mnist, "train").fields["mask"])  # deterministic
    test = load_dataset(registry, "mnist-random", data_dir, "test")
    assert torch.equal(test.fields["mask"], random_block_masks(16, 28, 28, split_seed("test")))
    specs = {name: registry.get("dataset", name).spec for name in
             ("mnist-center", "mnist-random", "fashion-mnist-center", "fashion-mnist-random")}
    assert all(spec.fields == ("mask",) for spec in specs.values())
    assert specs["fashion-mnist-center"].files[0].startswith("FashionMNIST/")


# --------------------------------------------------------------------------- networks

@pytest.mark.parametrize("size, channels, levels, base", [(28, 1, 2, 7), (32, 3, 3, 4), (64, 1, 4, 4), (16, 2, 2, 4)])
@pytest.mark.parametrize("bottleneck", ["conv", "channel-fc"])
def test_the_generator_keeps_the_context_and_fills_the_mask(size, channels, levels, base, bottleneck):
    torch.manual_seed(0)
    nets = build(ContextEncoderConfig(ngf=8, ndf=8, latent_dim=8, bottleneck=bottleneck), masked_shape(size, channels))
    G, D = nets.generator, nets.discriminator
    assert isinstance(G, ContextEncoderGenerator) and (G.levels, G.base) == (levels, base)
    assert G.encoder[0].in_channels == channels + 1  # the image and the mask
    assert (G.input_field, G.output_field, G.num_domains) == ("image", "image", None)
    assert any(isinstance(m, ChannelwiseFC) for m in G.modules()) == (bottleneck == "channel-fc")
    x = torch.rand(3, channels, size, size) * 2 - 1
    mask = torch.zeros(3, 1, size, size)
    mask[0, :, 1:5, 2:9] = 1
    mask[1, :, size // 2:, :] = 1
    y = G(x, mask)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert torch.equal(y * (1 - mask), x * (1 - mask))            # the known pixels are kept exactly
    assert torch.equal(y[2], x[2])                                # nothing masked: nothing changes
    assert (y - x)[mask.expand_as(x) > 0].abs().min() > 0         # the masked ones come from the network
    default = G(x)                                                # no mask: the centre square of half the side
    centre = G.default_mask
    assert int(centre.sum()) == (size // 2) ** 2 and torch.equal(default, G(x, centre.expand(3, 1, size, size)))
    assert D(y).shape == (3,)
    assert nets.export == ("generator",)


def test_the_masked_pixels_are_hidden_from_the_encoder():
    torch.manual_seed(0)
    G = ContextEncoderGenerator((1, 28, 28), ngf=8, latent_dim=8).eval()
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    other = x.clone()
    m = G.default_mask
    other = other * (1 - m) + torch.rand_like(x) * m  # the same context, another centre
    with torch.no_grad():
        assert torch.equal(G(x) * m, G(other) * m)    # the prediction depends on the context only
    assert torch.equal(G.masked_input(x) * m, torch.zeros(2, 1, 28, 28) * m)  # fill 0 (mid grey)
    G.fill = -1.0
    assert torch.equal(G.masked_input(x)[m.expand_as(x) > 0], torch.full((2 * 196,), -1.0))


def test_masked_l2_is_normalised_by_the_masked_region():
    real, filled = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, 0, 0, 0] = mask[1, 0, 1, 1] = 1
    filled[0, :, 0, 0] = 1.0        # inside the mask: counted
    filled[1, :, 3, 3] = 5.0        # outside: ignored
    assert masked_l2(filled, real, mask).item() == pytest.approx(3 / (2 * 3))


@pytest.mark.parametrize("arch, shape, message", [
    ({"mask_size": 28}, masked_shape(28), "arch.mask_size=28 is not smaller than the 28px image"),
    ({}, masked_shape(28, mask_side=14), "mask field of shape (1, 28, 28) like the images; the data's mask is (1, 14, 14)"),
])
def test_shapes_it_cannot_fill_are_refused(arch, shape, message):
    with pytest.raises(ConfigError) as refused:
        build(ContextEncoderConfig(ngf=8, ndf=8, **arch), shape)
    assert message in str(refused.value)


# --------------------------------------------------------------------------- one step by hand

def _trainer(registry, data_dir, tmp_path, sets=(), loss=None):
    cfg = resolve_config(registry, "context-encoder", loss=loss, sets=["arch.ngf=8", "arch.ndf=8", "arch.latent_dim=8",
                                                                       *sets],
                         flags={"batch_size": 8, "device": "cpu", "steps": 3, "data_dir": str(data_dir)})
    data = load_dataset(registry, cfg.dataset, data_dir)
    torch.manual_seed(0)
    nets = build(ContextEncoderConfig.model_validate(cfg.arch), shape_of(data))
    trainer = assemble(cfg, registry, data=data, nets=nets, device="cpu", run_dir=tmp_path)
    return trainer, nets


def test_the_losses_of_one_step_are_the_papers(manager, data_dir, tmp_path):
    """d_loss = BCE(D(x), 1) + BCE(D(G(x, m)), 0) with D before its update; g_loss = 0.999 *
    masked L2 + 0.001 * BCE(D(G(x, m)), 1) with D after it."""
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path)
    G_before, D_before = copy.deepcopy(nets.generator), copy.deepcopy(nets.discriminator)
    data_state = trainer.batches.state_dict()
    stats = trainer.train_step()
    trainer.batches.load_state_dict(data_state)
    batch = trainer.batches.next_batch()
    x, mask = batch["image"], batch["mask"]
    assert int(mask[0].sum()) == 196
    with torch.no_grad():
        filled = G_before(x, mask)  # training mode, as in the step (batch statistics)
        real_before, fake_before = D_before(x), D_before(filled)
        d_expected = torch.log1p(torch.exp(-real_before)).mean() + torch.log1p(torch.exp(fake_before)).mean()
        adversarial = -torch.log(torch.sigmoid(nets.discriminator(filled))).mean()
        l2 = ((filled - x) ** 2 * mask).sum() / mask.sum()
    assert stats["d_loss"].item() == pytest.approx(d_expected.item(), rel=1e-5)
    assert stats["l2"].item() == pytest.approx(l2.item(), rel=1e-5)
    assert stats["g_adv"].item() == pytest.approx(adversarial.item(), rel=1e-5)
    assert stats["g_loss"].item() == pytest.approx(0.999 * l2.item() + 0.001 * adversarial.item(), rel=1e-5)
    assert {"d_grad_norm", "g_grad_norm", "D(x)"} <= set(stats)


def test_the_l2_only_baseline_leaves_the_discriminator_alone(manager, data_dir, tmp_path):
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path, sets=["algo.lambda_adv=0"])
    d_before = {k: v.clone() for k, v in nets.discriminator.state_dict().items()}
    g_before = [p.clone() for p in nets.generator.parameters()]
    for _ in range(2):
        stats = trainer.train_step()
    assert all(torch.equal(v, nets.discriminator.state_dict()[k]) for k, v in d_before.items())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, nets.generator.parameters()))
    assert "d_loss" not in stats and stats["g_loss"].item() == pytest.approx(0.999 * stats["l2"].item(), rel=1e-6)


@pytest.mark.parametrize("loss", ["wgan-gp", "ragan"])
def test_other_losses_train(manager, data_dir, tmp_path, loss):
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path, loss=loss)
    drawn, next_batch = [], trainer.batch
    trainer.batch = lambda: drawn.append(1) or next_batch()
    for _ in range(2):
        stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values()), stats
    if loss == "wgan-gp":  # layer norm in the critic, five critic batches per step
        assert stats["penalty"] > 0 and trainer.cfg.arch["d_norm"] == "layer" and len(drawn) == 10
    else:
        assert len(drawn) == 2


# --------------------------------------------------------------------------- options and the CLI

def test_defaults_are_the_papers(manager):
    cfg = resolve_config(manager.registry, "context-encoder")
    assert cfg.algo == {"lambda_rec": 0.999, "lambda_adv": 0.001} and cfg.loss == "core:bce"
    assert (cfg.g_optim.lr, cfg.g_optim.betas, cfg.d_optim.lr, cfg.d_optim.betas) == (2e-4, (0.5, 0.999),
                                                                                      2e-4, (0.5, 0.999))
    assert cfg.dataset == "inpainting:mnist-center" and cfg.algorithm == "inpainting:context-encoder"
    assert cfg.arch["mask_size"] is None and cfg.arch["fill"] == 0.0 and cfg.arch["bottleneck"] == "conv"
    spec = manager.registry.get("model", "context-encoder").spec
    assert (spec.task, spec.fields) == ("inpainting", ("mask",))
    assert ContextEncoderOptions().lambda_rec == 0.999


def test_info_lists_the_options_and_the_loss_weights(cli):
    model = cli("info", "context-encoder")  # the model (its algorithm has the same name)
    assert model.exit_code == 0, model.output
    for word in ("Pathak", "inpainting", "0.999 masked L2 + 0.001 GAN", "mask_size", "mnist-center", "needs the fields mask"):
        assert word in model.output, word
    algorithm = cli("info", "context-encoder", "--kind", "algorithm")
    for word in ("algo.lambda_rec", "0.999", "algo.lambda_adv", "0.001"):
        assert word in algorithm.output, word
    assert "context-encoder" in cli("list").output


def one_line_refusal(result) -> str:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output
    return message


def test_plain_images_without_masks_are_refused(cli, data_dir, tmp_path):
    result = cli("train", *train_args(data_dir, tmp_path / "runs", 1, "--dataset", "mnist"))
    assert "model 'context-encoder' needs the data field(s) mask; mnist has image, label" in one_line_refusal(result)
    assert not (tmp_path / "runs").exists()


def test_a_mask_larger_than_the_image_is_refused(cli, data_dir, tmp_path):
    result = cli("train", *train_args(data_dir, tmp_path / "runs", 1, "--set", "arch.mask_size=40"))
    assert "arch.mask_size=40 is not smaller than the 28px image" in one_line_refusal(result)


class WrongMaskPlugin:
    """A dataset whose masks are a quarter of the images' size."""

    @hookimpl
    def ganzoo_datasets(self):
        def load(data_dir, split, image_size=None):
            digits, labels = make_digits(8)
            return ItemData({"image": torch.from_numpy(digits).unsqueeze(1),
                             "mask": torch.ones(8, 1, 7, 7, dtype=torch.uint8)})

        yield DatasetSpec(name="tiny-bad-masks", summary="squares with 7x7 masks", load=load, channels=1,
                          image_size=28, fields=("mask",))


def test_a_mask_field_of_another_shape_is_refused(manager, cli, tmp_path):
    manager.register(WrongMaskPlugin(), name="wrongmask")
    result = cli("train", *train_args(tmp_path, tmp_path / "runs", 1, "--dataset", "tiny-bad-masks"))
    assert "the data's mask is (1, 7, 7)" in one_line_refusal(result)


@pytest.mark.parametrize("assignment, message", [
    ("algo.lambda_rec=-1", "greater than or equal to 0"),
    ("algo.lambda_adv=0 --set algo.lambda_rec=0", "both 0"),
    ("arch.fill=2", "less than or equal to 1"),
    ("arch.bottleneck=fc", "conv"),
])
def test_bad_options_are_one_line_errors(cli, data_dir, tmp_path, assignment, message):
    sets = [part for a in assignment.split(" --set ") for part in ("--set", a)]
    assert message in one_line_refusal(cli("train", *train_args(data_dir, tmp_path / "runs", 1, *sets)))


# --------------------------------------------------------------------------- runs

def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    random = ("--dataset", "mnist-random")
    assert cli("train", *train_args(data_dir, out, 6, "--run-name", "full", *random)).exit_code == 0
    assert cli("train", *train_args(data_dir, out, 3, "--run-name", "part", *random)).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), "--steps", "6", "--quiet")
    assert result.exit_code == 0, result.output
    full, part = ckpt.resolve_checkpoint(out / "full"), ckpt.resolve_checkpoint(out / "part")
    assert full.name == part.name == "step-0000006"
    assert_bitwise_equal(final_state(out / "full"), final_state(out / "part"))


def test_training_records_the_options_and_the_preview_shows_masked_filled_original(cli, data_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "runs"
    result = cli("train", *train_args(data_dir, out, 2, "--run-name", "t", "--set", "sample_grid=8",
                                      "--set", "algo.lambda_adv=0.01"))
    assert result.exit_code == 0, result.output
    config = json.loads((out / "t" / "config.json").read_text())
    assert config["algo"] == {"lambda_rec": 0.999, "lambda_adv": 0.01} and config["dataset"] == "inpainting:mnist-center"
    records = [json.loads(line) for line in (out / "t" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(records[-1][k]) for k in ("d_loss", "g_loss", "l2", "g_adv"))
    preview = Image.open(out / "t" / "samples" / "step-0000002.png")
    assert preview.size == (8 * 30 + 2, 3 * 30 + 2)  # rows: masked input, filled, original
    grid = torch.tensor(np.array(preview.convert("L")), dtype=torch.float32)
    masked, filled, original = grid[2:30, 2:30], grid[32:60, 2:30], grid[62:90, 2:30]
    digit = torch.from_numpy(make_digits(64, seed=0)[0][0]).float()
    assert torch.equal(original, digit)
    centre = center_mask(28, 28)[0, 0].bool()
    assert masked[centre].unique().tolist() in ([127.0], [128.0])  # the fill value, mid grey
    assert torch.equal(masked[~centre], digit[~centre]) and torch.equal(filled[~centre], digit[~centre])


def test_sample_input_fills_the_centre_of_a_users_images(cli, data_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "runs"
    assert cli("train", *train_args(data_dir, out, 2, "--run-name", "s")).exit_code == 0
    folder = tmp_path / "mine"
    folder.mkdir()
    digits, _ = make_digits(3, seed=5)
    for i, d in enumerate(digits):
        Image.fromarray(d).save(folder / f"{i}.png")
    result = cli("sample", str(out / "s"), "--input", str(folder), "--format", "npz", "--out", str(tmp_path / "f.npz"))
    assert result.exit_code == 0, result.output
    arrays = np.load(tmp_path / "f.npz")
    filled, inputs = arrays["images"][..., 0], arrays["inputs"][..., 0]
    assert filled.shape == (3, 28, 28)
    centre = center_mask(28, 28)[0, 0].numpy().astype(bool)
    assert (filled[:, ~centre] == inputs[:, ~centre]).all()        # the context is the user's
    assert (filled[:, centre] != inputs[:, centre]).any()          # the centre is the model's
    png = cli("sample", str(out / "s"), "--input", str(folder), "--out", str(tmp_path / "f.png"))
    assert png.exit_code == 0 and (tmp_path / "f.png").exists()
    handle = ganzoo.load(out / "s")
    assert handle.task == "translate" and handle.translate(torch.from_numpy(digits)).shape == (3, 1, 28, 28)
    # without --input: the run's own test images, centre-filled
    assert cli("sample", str(out / "s"), "-n", "8", "--out", str(tmp_path / "g.png")).exit_code == 0


def test_the_channelwise_fc_bottleneck_and_random_masks_train(manager, data_dir, tmp_path):
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path, sets=["arch.bottleneck=channel-fc"])
    fc = next(m for m in nets.generator.modules() if isinstance(m, ChannelwiseFC))
    before = fc.weight.detach().clone()
    for _ in range(2):
        stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values()) and not torch.equal(before, fc.weight)


def test_a_larger_training_size_resizes_the_masks_with_the_images(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    result = cli("train", *train_args(data_dir, out, 2, "--run-name", "big", "--dataset", "mnist-random",
                                      "--image-size", "32"))
    assert result.exit_code == 0, result.output
    handle = ganzoo.load(out / "big")
    generator = handle.translators["generator"]
    assert generator.in_shape == (1, 32, 32) and int(generator.default_mask.sum()) == 16 * 16
    assert handle.translate(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).shape == (2, 1, 32, 32)


def test_a_users_folder_of_images_trains_with_random_masks(cli, tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    from ganzoo.plugins.manager import get_plugin_manager

    registry = get_plugin_manager().registry
    data = load_dataset(registry, "image-folder-random", folder, "train", image_size=32)
    assert data.fields["image"].shape == (8, 3, 32, 32) and data.fields["mask"].shape == (8, 1, 32, 32)
    assert not torch.equal(data.fields["mask"], load_dataset(registry, "image-folder-random", folder, "test",
                                                             image_size=32).fields["mask"])
    centre = load_dataset(registry, "image-folder-center", folder, "train", image_size=32).fields["mask"]
    assert torch.equal(centre[0], center_mask(32, 32)[0])
    result = cli("train", "context-encoder", "--dataset", "image-folder-random", "--data-dir", str(folder),
                 "--image-size", "32", "--steps", "2", "--batch-size", "4", *SMALL, "--device", "cpu",
                 "--out", str(tmp_path / "runs"), "--run-name", "f", "--quiet")
    assert result.exit_code == 0, result.output
    assert ganzoo.load(tmp_path / "runs" / "f").translators["generator"].in_shape == (3, 32, 32)
