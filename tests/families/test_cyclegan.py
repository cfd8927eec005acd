"""CycleGAN: networks, the image pool, the losses worked out by hand, options, resume, loading.

The tests train on a tiny unpaired dataset registered in-process (``tiny-unpaired``: 16x16
digits-like squares in A, the same squares inverted in B, two independently shuffled
streams), never on the real MNIST files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import ganzoo
from ganzoo import hookimpl
from ganzoo.algorithms import penalties
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, ItemData
from ganzoo.errors import ConfigError
from ganzoo.losses import gradient_penalty, r1_penalty
from ganzoo.networks import Discriminator, Networks, Translator
from ganzoo.specs import DatasetSpec
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.assemble import assemble
from ganzoo.training.context import TrainingContext
from ganzoo_plugins.cyclegan import CycleGANConfig, CycleGANOptions
from ganzoo_plugins.cyclegan.algorithm import ImagePool
from ganzoo_plugins.cyclegan.nets import build

from ..test_cli import png_size

SIZE = 16
SMALL = ["--set", "arch.ngf=4", "--set", "arch.ndf=4", "--set", "arch.n_blocks=1"]
"""Networks small enough that a step takes milliseconds."""


def tiny_unpaired(data_dir=None, split: str = "train", image_size: int | None = None, n: int = 24) -> ItemData:
    """Domain A: a bright 4x4 square on a dark 16x16 field, its position the label (0..9);
    domain B: such squares inverted (255 - x), labels drawn independently."""
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)

    def squares(labels: torch.Tensor) -> torch.Tensor:
        images = torch.randint(0, 30, (len(labels), 1, SIZE, SIZE), generator=gen, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            row, col = divmod(label, 5)
            images[i, :, 2 + 6 * row: 6 + 6 * row, 1 + 3 * col: 4 + 3 * col] = 255
        return images

    label_a = torch.randint(0, 10, (n,), generator=gen)
    label_b = torch.randint(0, 10, (n + 4,), generator=gen)
    return ItemData({"image": squares(label_a), "label": label_a, "image_b": 255 - squares(label_b),
                     "label_b": label_b}, classes={"label": 10, "label_b": 10},
                    streams=[("image", "label"), ("image_b", "label_b")])


class TinyUnpaired:
    @hookimpl
    def ganzoo_datasets(self):
        yield DatasetSpec(name="tiny-unpaired", summary="16x16 squares and their inverses, unpaired",
                          load=tiny_unpaired, channels=1, image_size=SIZE, num_classes=10,
                          fields=("image_b", "label_b"))


@pytest.fixture
def registry(manager):
    manager.register(TinyUnpaired(), name="cyclegan-tests")
    return manager.registry


def tiny_flags(out: Path, steps: int, *extra: str) -> list[str]:
    return ["--dataset", "tiny-unpaired", "--steps", str(steps), "--batch-size", "4", "--device", "cpu",
            "--out", str(out), "--quiet", *SMALL, *extra]


def tiny_config(registry, tmp_path, **flags):
    arch = {"ngf": 4, "ndf": 4, "n_blocks": 1, **flags.pop("arch", {})}
    base = {"steps": 2, "batch_size": 4, "device": "cpu", "out": str(tmp_path / "runs"), "arch": arch,
            "log_every": 1}
    return resolve_config(registry, "cyclegan", dataset="tiny-unpaired", flags={**base, **flags})


def make_trainer(registry, tmp_path, nets=None, **flags) -> TrainingContext:
    from ganzoo.plugins.build import build_networks

    cfg = tiny_config(registry, tmp_path, **flags)
    data = tiny_unpaired()
    shape = DataShape(channels=1, image_size=SIZE, num_classes=10,
                      fields={"image": {"kind": "image", "shape": (1, SIZE, SIZE)},
                              "image_b": {"kind": "image", "shape": (1, SIZE, SIZE), "stream": 1}})
    nets = nets or build_networks(registry, cfg, shape, torch.device("cpu"))
    return assemble(cfg, registry, data=data, nets=nets, device="cpu", run_dir=tmp_path)


def state_of(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    folder = ckpt.resolve_checkpoint(run_dir)
    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


# networks ------------------------------------------------------------------------------

@pytest.mark.parametrize("size, channels, patches", [(28, 1, 5), (32, 3, 6), (64, 1, 14)])
def test_networks_keep_the_image_shape_and_judge_patches(size, channels, patches):
    shape = DataShape(channels=channels, image_size=size)
    nets = build(CycleGANConfig(ngf=8, ndf=8), shape)
    assert set(nets.modules) == {"g_ab", "g_ba", "d_a", "d_b"} and nets.export == ("g_ab", "g_ba")
    assert nets.optimizers == {"g_optim": ("g_ab", "g_ba"), "d_optim": ("d_a", "d_b")}
    g_ab, g_ba, d_a = nets["g_ab"], nets["g_ba"], nets["d_a"]
    assert (g_ab.input_field, g_ab.output_field, g_ba.input_field, g_ba.output_field) == (
        "image", "image_b", "image_b", "image")
    assert isinstance(g_ab, Translator) and isinstance(d_a, Discriminator)
    x = torch.rand(3, channels, size, size) * 2 - 1
    y = g_ab(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert d_a(x).shape == (3, 1, patches, patches) and d_a.patch_shape == (patches, patches)
    # 4x4 convs: stride 1, 1, then two of stride 2, read back to the input: 4 -> 7 -> 16 -> 34
    assert d_a.receptive_field == 34
    assert g_ab.n_blocks == 3  # the default below 128 px
    # the paper's 70x70 PatchGAN and its 6 blocks at 128 px
    paper = build(CycleGANConfig(ngf=8, ndf=8, d_layers=3), DataShape(channels=1, image_size=128))
    assert paper["d_b"].receptive_field == 70 and paper["d_b"].patch_shape == (14, 14)
    assert paper["g_ab"].n_blocks == 6


def test_domains_with_different_channel_counts():
    fields = {"image": {"kind": "image", "shape": (1, 32, 32)},
              "image_b": {"kind": "image", "shape": (3, 32, 32), "stream": 1}}
    nets = build(CycleGANConfig(ngf=4, ndf=4), DataShape(channels=1, image_size=32, fields=fields))
    assert nets["g_ab"](torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    assert nets["g_ba"](torch.zeros(2, 3, 32, 32)).shape == (2, 1, 32, 32)
    assert nets["d_b"](torch.zeros(2, 3, 32, 32)).shape == (2, 1, 6, 6)


def test_weights_start_from_n0_002():
    nets = build(CycleGANConfig(), DataShape(channels=1, image_size=28))
    convs = [m for m in nets["g_ab"].modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.mean()) < 1e-3 and abs(weights.std() - 0.02) < 1e-3
    assert all(m.bias is None or not m.bias.any() for m in convs)
    # instance norm as in the official code: no affine parameters, no running statistics
    norms = [m for m in nets["d_a"].modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine and not m.track_running_stats for m in norms)


@pytest.mark.parametrize("arch, size, message", [
    ({}, 30, "size is a multiple of 4"),
    ({"d_layers": 3}, 16, "PatchGAN with d_layers=3 cannot judge 16x16 images"),
])
def test_shapes_it_cannot_build_are_refused_in_one_line(arch, size, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(CycleGANConfig(**arch), DataShape(channels=1, image_size=size))
    assert "\n" not in str(info.value)


# the image pool --------------------------------------------------------------------------

def values(*xs: float) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float32).view(-1, 1, 1, 1)


def test_the_pool_fills_first_and_then_swaps_with_probability_one_half_worked_case():
    pool, gen = ImagePool(2), torch.Generator().manual_seed(0)
    # filling: every image is stored and shown as it is (the draws are made all the same)
    assert pool.query(values(1, 2), gen).flatten().tolist() == [1, 2]
    assert pool.count == 2 and pool.images.flatten().tolist() == [1, 2]
    # with seed 0 the next draws are coins [0.307, 0.634, 0.490, 0.896] and slots [1, 1, 1, 0]:
    # 3 (coin <= 0.5) is shown; 4 swaps with slot 1 (shows 2); 5 is shown; 6 swaps with slot 0 (shows 1)
    check = torch.Generator().manual_seed(0)
    torch.rand(2, generator=check), torch.randint(2, (2,), generator=check)
    coins, slots = torch.rand(4, generator=check), torch.randint(2, (4,), generator=check)
    assert [round(c, 3) for c in coins.tolist()] == [0.307, 0.634, 0.49, 0.896] and slots.tolist() == [1, 1, 1, 0]
    assert pool.query(values(3, 4, 5, 6), gen).flatten().tolist() == [3, 2, 5, 1]
    assert pool.images.flatten().tolist() == [6, 4]


def test_the_pool_fills_within_a_batch_and_returns_its_input_unchanged_while_filling():
    pool, gen = ImagePool(5), torch.Generator().manual_seed(3)
    first = pool.query(values(1, 2, 3), gen)
    assert first.flatten().tolist() == [1, 2, 3] and pool.count == 3
    second = pool.query(values(4, 5, 6, 7), gen).flatten().tolist()
    assert second[:2] == [4, 5] and pool.count == 5  # 4 and 5 fill the last two slots
    assert sorted(pool.images.flatten().tolist() + [v for v in second[2:] if v < 6]) == sorted(
        [1, 2, 3, 4, 5] + [v for v in (6, 7) if v not in second[2:]])  # nothing lost, nothing made up


def test_a_full_pool_shows_a_stored_image_half_of_the_time():
    pool, gen = ImagePool(50), torch.Generator().manual_seed(1)
    pool.query(-torch.arange(1, 51, dtype=torch.float32).view(-1, 1, 1, 1), gen)  # stored: negatives
    shown_stored, total = 0, 0
    for start in range(0, 4000, 8):
        new = torch.arange(start + 1, start + 9, dtype=torch.float32).view(-1, 1, 1, 1)
        out = pool.query(new, gen)
        shown_stored += int((out != new).sum())
        total += len(new)
    assert abs(shown_stored / total - 0.5) < 0.03  # binomial sd 0.008
    assert pool.count == 50


def test_pool_size_zero_is_no_pool():
    pool = ImagePool(0)
    x = torch.randn(4, 1, 2, 2)
    assert torch.equal(pool.query(x, torch.Generator()), x) and pool.state_dict("p.") == {
        "p.count": torch.tensor(0)}


def test_the_pool_state_round_trips_and_continues_identically():
    pool, gen = ImagePool(6), torch.Generator().manual_seed(2)
    pool.query(torch.randn(4, 1, 3, 3), gen)  # partly filled
    state, gen_state = pool.state_dict("pool_a."), gen.get_state()
    assert state["pool_a.count"].item() == 4 and state["pool_a.images"].shape == (4, 1, 3, 3)
    restored = ImagePool(6)
    restored.load_state_dict(state, "pool_a.")
    batch = torch.randn(5, 1, 3, 3)
    again = torch.Generator()
    again.set_state(gen_state)
    assert torch.equal(pool.query(batch, gen), restored.query(batch, again))
    assert torch.equal(pool.images, restored.images)
    with pytest.raises(ValueError, match="holds 4 images, algo.pool_size is 2"):
        ImagePool(2).load_state_dict(state, "pool_a.")


# the losses, worked out by hand ----------------------------------------------------------

class Affine(Translator):
    """``scale * x + shift``: a translator whose outputs are easy to work out."""

    def __init__(self, scale: float, shift: float, input_field: str, output_field: str) -> None:
        super().__init__((1, 2, 2), (1, 2, 2), input_field=input_field, output_field=output_field)
        self.scale, self.shift = nn.Parameter(torch.tensor(scale)), nn.Parameter(torch.tensor(shift))

    def forward(self, x, domain=None):
        return self.scale * x + self.shift


class Scaling(Discriminator):
    """A patch map ``weight * x`` (one logit per pixel)."""

    def __init__(self, weight: float) -> None:
        super().__init__((1, 2, 2))
        self.weight = nn.Parameter(torch.tensor(weight))

    def forward(self, x, labels=None):
        return self.weight * x


def hand_nets() -> Networks:
    return Networks(modules={"g_ab": Affine(0.5, 0.0, "image", "image_b"), "g_ba": Affine(1.0, 0.25, "image_b", "image"),
                             "d_a": Scaling(-1.0), "d_b": Scaling(2.0)},
                    optimizers={"g_optim": ("g_ab", "g_ba"), "d_optim": ("d_a", "d_b")}, export=("g_ab", "g_ba"))


@pytest.mark.parametrize("algo, g_loss", [
    # a = 0.2, b = -0.4 everywhere; G_ab(x) = x / 2, G_ba(x) = x + 0.25; D_a(x) = -x, D_b(x) = 2x.
    # fake_b = 0.1, rec_a = 0.35: cycle_a = 0.15; fake_a = -0.15, rec_b = -0.075: cycle_b = 0.325
    # identity: |G_ab(b) - b| = |-0.2 + 0.4| = 0.2, |G_ba(a) - a| = |0.45 - 0.2| = 0.25
    # lsgan: adv_ab = 0.5 (2 * 0.1 - 1)^2 = 0.32, adv_ba = 0.5 (0.15 - 1)^2 = 0.36125
    ({}, 0.32 + 0.36125 + 10 * (0.15 + 0.325) + 10 * 0.5 * (0.2 + 0.25)),       # 7.68125
    ({"lambda_cycle": 2.0, "lambda_identity": 0.0}, 0.32 + 0.36125 + 2 * 0.475),  # 1.63125
    ({"lambda_cycle": 1.0, "lambda_identity": 2.0}, 0.68125 + 0.475 + 2 * 0.45),  # identity = 2 x cycle weight
])
def test_the_losses_on_a_fixed_batch_equal_the_hand_computation(registry, tmp_path, algo, g_loss):
    trainer = make_trainer(registry, tmp_path, nets=hand_nets(), algo=algo)
    batch = {"image": torch.full((3, 1, 2, 2), 0.2), "image_b": torch.full((3, 1, 2, 2), -0.4)}
    trainer.batch = lambda: {k: v.clone() for k, v in batch.items()}
    stats = trainer.train_step()
    assert stats["g_loss"].item() == pytest.approx(g_loss, abs=1e-6)
    assert stats["adv_ab"].item() == pytest.approx(0.32) and stats["adv_ba"].item() == pytest.approx(0.36125)
    assert stats["cycle_a"].item() == pytest.approx(0.15) and stats["cycle_b"].item() == pytest.approx(0.325)
    assert stats["cycle"].item() == pytest.approx(0.475)
    assert ("identity" in stats) == (algo.get("lambda_identity", 0.5) > 0)
    # D (weights untouched by the G update) against the fakes of the G update, the pool still
    # filling: 0.5 * lsgan(D_a(a) = -0.2, D_a(fake_a) = 0.15) = 0.5 (0.5 * 1.44 + 0.5 * 0.0225)
    # and 0.5 * lsgan(D_b(b) = -0.8, D_b(fake_b) = 0.2) = 0.5 (0.5 * 3.24 + 0.5 * 0.04)
    assert stats["d_a_loss"].item() == pytest.approx(0.365625)
    assert stats["d_b_loss"].item() == pytest.approx(0.82)
    assert stats["d_loss"].item() == pytest.approx(1.185625)
    assert {"g_grad_norm", "d_grad_norm", "D_a(x)", "D_b(G(z))"} <= set(stats)
    # both updates happened: every module moved
    assert trainer.modules["g_ab"].scale.item() != 0.5 and trainer.modules["d_b"].weight.item() != 2.0


def test_penalties_treat_a_patch_map_as_one_critic_value_per_sample(registry, tmp_path):
    trainer = make_trainer(registry, tmp_path, gp=10.0, r1=1.0)
    d_b = trainer.modules["d_b"]
    real, fake = torch.rand(4, 1, SIZE, SIZE) * 2 - 1, torch.rand(4, 1, SIZE, SIZE) * 2 - 1

    def critic(x, labels=None):  # what the losses see: the mean of each sample's patch logits
        return d_b(x).flatten(1).mean(dim=1)

    torch.manual_seed(0)
    got = penalties(trainer, real, fake, name="d_b")
    torch.manual_seed(0)
    expected = 10.0 * gradient_penalty(critic, real, fake) + 0.5 * r1_penalty(critic, real)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


# options -----------------------------------------------------------------------------------

@pytest.mark.parametrize("assignment, message", [
    ("algo.lambda_cycle=-1", "invalid config value for 'algo.lambda_cycle': Input should be greater than or equal to 0"),
    ("algo.pool_size=2.5", "invalid config value for 'algo.pool_size'"),
    ("algo.lambda_identity=lots", "invalid config value for 'algo.lambda_identity'"),
    ("algo.lambda_l1=100", "unknown config key 'algo.lambda_l1'"),
    ("arch.norm=group", "invalid config value for 'arch.norm'"),
])
def test_bad_options_are_one_line_errors(cli, registry, tmp_path, assignment, message):
    result = cli("train", "cyclegan", *tiny_flags(tmp_path / "runs", 1, "--set", assignment))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(f"error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_options_are_recorded_in_config_json(cli, registry, tmp_path):
    result = cli("train", "cyclegan", *tiny_flags(tmp_path / "runs", 1, "--run-name", "r",
                                                  "--set", "algo.pool_size=7"))
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())
    assert config["algo"] == {"lambda_cycle": 10.0, "lambda_identity": 0.5, "pool_size": 7}
    assert config["algorithm"] == "cyclegan:cyclegan" and config["loss"] == "core:lsgan"
    assert config["arch"] == {"ngf": 4, "ndf": 4, "n_blocks": 1, "d_layers": 2, "norm": "instance"}
    assert (config["batch_size"], config["g_optim"]["lr"], config["d_optim"]["betas"]) == (4, 2e-4, [0.5, 0.999])


def test_the_defaults(registry):
    spec = registry.get("model", "cyclegan").spec
    assert (spec.default_loss, spec.default_dataset, spec.algorithm, spec.fields) == (
        "lsgan", "mnist-inverted", "cyclegan", ("image_b",))
    cfg = resolve_config(registry, "cyclegan", dataset="tiny-unpaired")
    assert cfg.batch_size == 16 and cfg.g_optim.lr == cfg.d_optim.lr == 2e-4 and cfg.g_optim.betas == (0.5, 0.999)
    assert CycleGANOptions() == CycleGANOptions(lambda_cycle=10, lambda_identity=0.5, pool_size=50)


def test_a_penalty_with_batch_norm_discriminators_is_refused(cli, registry, tmp_path):
    result = cli("train", "cyclegan", *tiny_flags(tmp_path / "runs", 1, "--loss", "wgan-gp",
                                                  "--set", "arch.norm=batch"))
    assert result.exit_code == 2
    assert "batch norm in the discriminators breaks the gradient penalty" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_mnist_without_a_second_domain_is_refused_before_training(cli, registry, data_dir, tmp_path):
    result = cli("train", "cyclegan", "--dataset", "mnist", "--data-dir", str(data_dir), "--steps", "1",
                 "--device", "cpu", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output
    assert message.startswith("error: model 'cyclegan' needs the data field(s) image_b; mnist has image, label")
    assert not (tmp_path / "runs").exists()


# training ------------------------------------------------------------------------------------

def test_a_few_steps_train_every_module_with_finite_losses(registry, tmp_path):
    trainer = make_trainer(registry, tmp_path)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in trainer.modules.items()}
    for _ in range(3):
        stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values()), stats
    for name, module in trainer.modules.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], module.parameters())), name
    assert trainer.algorithm.pool_a.count == trainer.algorithm.pool_b.count == 12


def test_every_loss_trains_a_step(registry, tmp_path):
    for loss in registry.names("losses"):
        trainer = make_trainer(registry, tmp_path / loss, loss=loss)
        stats = trainer.train_step()
        assert all(math.isfinite(v.item()) for v in stats.values()), (loss, stats)
        if trainer.cfg.weight_clip:  # wgan: both critics clipped after every update
            assert all(p.abs().max() <= trainer.cfg.weight_clip for name in ("d_a", "d_b")
                       for p in trainer.modules[name].parameters())
        if trainer.cfg.gp:
            assert "penalty" in stats
        # n_critic (wgan, wgan-gp: 5): one batch per discriminator update
        assert trainer.batches.streams[0].position == trainer.cfg.n_critic * trainer.cfg.batch_size
        assert trainer.algorithm.batches_per_step() == trainer.cfg.n_critic


def test_the_preview_shows_both_cycles_of_fixed_examples(registry, tmp_path):
    trainer = make_trainer(registry, tmp_path, sample_grid=8)
    trainer.train_step()
    images, per_row = trainer.algorithm.preview(trainer)
    a, b = trainer.preview_examples["image"], trainer.preview_examples["image_b"]
    g_ab, g_ba = trainer.modules["g_ab"].eval(), trainer.modules["g_ba"].eval()
    with torch.no_grad():
        expected = torch.cat([a, g_ab(a), g_ba(g_ab(a)), b, g_ba(b), g_ab(g_ba(b))])
    assert per_row == 8 and images.shape == (48, 1, SIZE, SIZE)
    assert torch.allclose(images, expected, atol=1e-6)
    assert trainer.modules["g_ab"].train().training


def test_the_sample_grid_has_six_rows_per_block(cli, registry, tmp_path):
    result = cli("train", "cyclegan", *tiny_flags(tmp_path / "runs", 1, "--run-name", "g", "--set", "sample_grid=8"))
    assert result.exit_code == 0, result.output
    assert png_size(tmp_path / "runs" / "g" / "samples" / "step-0000001.png") == (8 * 18 + 2, 6 * 18 + 2)


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(cli, registry, tmp_path):
    out = tmp_path / "runs"
    pool = ["--set", "algo.pool_size=20"]  # 4 fakes a step: 12 stored at step 3, full at step 5
    assert cli("train", "cyclegan", *tiny_flags(out, 7, "--run-name", "full", *pool)).exit_code == 0
    assert cli("train", "cyclegan", *tiny_flags(out, 3, "--run-name", "part", *pool)).exit_code == 0
    middle = state_of(out / "part")["train_state.safetensors"]
    assert middle["algo.pool_a.count"].item() == middle["algo.pool_b.count"].item() == 12
    result = cli("train", "--resume", str(out / "part"), "--steps", "7", "--quiet")
    assert result.exit_code == 0, result.output
    full, resumed = state_of(out / "full"), state_of(out / "part")
    assert sorted(full) == ["d_a.safetensors", "d_b.safetensors", "g_ab.safetensors", "g_ba.safetensors",
                            "train_state.safetensors"]
    for name in full:
        assert full[name].keys() == resumed[name].keys(), name
        different = [k for k in full[name] if not torch.equal(full[name][k], resumed[name][k])]
        assert not different, f"{name}: {different[:5]}"
    assert full["train_state.safetensors"]["algo.pool_b.count"].item() == 20


def test_the_trained_model_translates_both_ways(cli, registry, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", "cyclegan", *tiny_flags(out, 2, "--run-name", "t")).exit_code == 0
    handle = ganzoo.load(out / "t")
    assert set(handle.translators) == {"g_ab", "g_ba"} and handle.task == "translate"
    digits = tiny_unpaired(split="test")
    a, b = digits.fields["image"][:5], digits.fields["image_b"][:5]
    to_b = handle.translate(a)  # the first translator: g_ab
    to_a = handle.translate(b, net="g_ba")
    assert to_b.shape == to_a.shape == (5, 1, SIZE, SIZE) and to_b.abs().max() <= 1
    with torch.no_grad():
        direct = handle.modules["g_ba"]((b.float() / 127.5 - 1))
    assert torch.allclose(to_a, direct, atol=1e-6)
    assert torch.allclose(handle.translate(a, net="g_ab"), to_b)
    with pytest.raises(ConfigError, match="no translator 'g_xy'; this model has g_ab, g_ba"):
        handle.translate(a, net="g_xy")
