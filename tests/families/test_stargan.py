"""StarGAN: the mnist-domains dataset, the networks, the losses worked out by hand, options,
bad input, the preview and sample CLI, and a bitwise resume.

Training runs use ``mnist-domains`` built from the ``data_dir`` fixture's tiny MNIST files
(64 train / 16 test squares), never the real MNIST, with networks a few channels wide.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

import ganzoo
from ganzoo.algorithms import penalties
from ganzoo.plugins.build import load_dataset
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, shape_of
from ganzoo.errors import ConfigError
from ganzoo.losses import gradient_penalty, r1_penalty
from ganzoo.networks import Networks, Translator
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.assemble import assemble
from ganzoo.training.context import TrainingContext
from ganzoo_plugins.stargan.data import DOMAINS, domain_items, render, rotate, thicken, thin
from ganzoo_plugins.stargan.nets import StarDiscriminator, StarGenerator, build
from ganzoo_plugins.stargan import DOMAIN_NAMES, StarGANConfig, StarGANOptions

from ..test_cli import png_size
from ..conftest import assert_bitwise_equal

SMALL = ["--set", "arch.ngf=4", "--set", "arch.ndf=4", "--set", "arch.n_blocks=1"]
"""Networks small enough that a step takes milliseconds (CLI runs also train at 16 px)."""

CELL = 16 + 2
"""A grid cell: a 16 px image and its 2 px padding."""


def tiny_flags(out: Path, data_dir: Path, steps: int, *extra: str) -> list[str]:
    return ["--data-dir", str(data_dir), "--steps", str(steps), "--batch-size", "4", "--device", "cpu",
            "--image-size", "16", "--out", str(out), "--quiet", *SMALL, *extra]


def state_of(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    folder = ckpt.resolve_checkpoint(run_dir)
    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


# the dataset -----------------------------------------------------------------------------

def test_the_domain_renderings_worked_cases():
    x = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
    x[0, 0, 1:4, 1:4] = 100
    x[0, 0, 2, 2] = 200
    assert render(x, 0).equal(x) and render(x, 1).equal(255 - x)
    # 3x3 dilation: every pixel within one step (8-neighbourhood) of the 200 is 200
    assert thicken(x)[0, 0].tolist() == [[100, 100, 100, 100, 100], [100, 200, 200, 200, 100],
                                         [100, 200, 200, 200, 100], [100, 200, 200, 200, 100],
                                         [100, 100, 100, 100, 100]]
    # erosion by a cross leaves the centre (min of 200 and its four 100 neighbours: 100), and
    # the contrast stretch takes it back to 255
    assert thin(x)[0, 0].tolist() == [[0] * 5, [0] * 5, [0, 0, 255, 0, 0], [0] * 5, [0] * 5]
    assert thin(torch.zeros(2, 1, 4, 4, dtype=torch.uint8)).sum() == 0  # nothing left stays black
    r = torch.arange(4, dtype=torch.uint8).view(1, 1, 2, 2)  # [[0, 1], [2, 3]]
    assert rotate(r)[0, 0].tolist() == [[1, 3], [0, 2]]  # counter-clockwise
    with pytest.raises(ValueError, match="unknown domain 5"):
        render(x, 5)


def test_mnist_domains_renders_item_i_in_domain_i_mod_5(manager, data_dir):
    from ganzoo.datasets.idx import load_mnist

    data = load_dataset(manager.registry, "mnist-domains", data_dir)
    mnist = load_mnist(data_dir, "train")
    assert set(data.fields) == {"image", "label", "domain"} and data.classes == {"label": 10, "domain": 5}
    assert data.kinds["domain"] == "label" and data.fields["domain"].dtype == torch.int64
    assert data.fields["domain"].tolist() == [i % 5 for i in range(64)]
    assert torch.equal(data.fields["label"], mnist.labels)
    for i in (0, 1, 2, 3, 4, 7, 63):
        assert torch.equal(data.fields["image"][i:i + 1], render(mnist.images[i:i + 1], i % 5)), i
    test = load_dataset(manager.registry, "mnist-domains", data_dir, split="test")
    assert len(test.fields["image"]) == 16 and test.fields["domain"].tolist()[:6] == [0, 1, 2, 3, 4, 0]
    assert domain_items(mnist, "train").fields["domain"].tolist() == data.fields["domain"].tolist()
    assert DOMAINS == DOMAIN_NAMES == ("original", "inverted", "thickened", "thinned", "rotated")


def test_info_names_the_domains(cli):
    result = cli("info", "mnist-domains", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert "0 = original, 1 = inverted, 2 = thickened, 3 = thinned, 4 = rotated" in info["summary"]
    assert info["fields"] == ["domain"]


# networks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("size, channels, d_layers, patches", [(28, 1, 3, 3), (32, 3, 4, 2), (16, 1, 3, 2)])
def test_networks_keep_the_image_shape_and_have_two_heads(size, channels, d_layers, patches):
    fields = {"image": {"kind": "image", "shape": (channels, size, size)},
              "domain": {"kind": "label", "shape": (), "classes": 4}}
    nets = build(StarGANConfig(ngf=8, ndf=8), DataShape(channels=channels, image_size=size, fields=fields))
    G, D = nets.generator, nets.discriminator
    assert isinstance(G, Translator) and isinstance(D, StarDiscriminator) and not nets.is_pair
    assert (G.num_domains, D.num_domains, G.input_field, G.output_field) == (4, 4, "image", "image")
    assert nets.optimizers == {"g_optim": ("generator",), "d_optim": ("discriminator",)}
    assert nets.export == ("generator",) and D.aux_classes is None and D.num_classes is None
    x = torch.rand(3, channels, size, size) * 2 - 1
    y = G(x, torch.tensor([0, 1, 3]))
    assert y.shape == x.shape and y.abs().max() <= 1
    src, domains = D(x)
    assert D.d_layers == d_layers and src.shape == (3, 1, patches, patches) and domains.shape == (3, 4)
    assert G.n_blocks == 3  # the default below 64 px
    # the paper's 128 px: 6 residual blocks, 6 discriminator layers down to a 2x2 map
    paper = build(StarGANConfig(ngf=4, ndf=4), DataShape(channels=3, image_size=128))
    assert paper.generator.n_blocks == 6 and paper.discriminator.d_layers == 6
    assert paper.discriminator.map_shape == (2, 2) and paper.generator.num_domains == 5  # no domain field: 5


def test_the_generator_follows_the_target_domain_and_refuses_unknown_ones():
    torch.manual_seed(0)
    G = StarGenerator((1, 28, 28), 5, ngf=4, n_blocks=1).eval()
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        a, b = G(x, torch.tensor([0, 0])), G(x, torch.tensor([3, 3]))
        assert not torch.allclose(a, b)
        assert torch.equal(G(x, 3), b)  # an int is the whole batch's domain
    for bad in ([0, 5], [-1, 0]):
        with pytest.raises(ConfigError, match=r"unknown domain (5|-1): this StarGAN generator translates to "
                                              r"domains 0\.\.4") as info:
            G(x, torch.tensor(bad))
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="needs a target domain"):
        G(x)


@pytest.mark.parametrize("arch, size, message", [
    ({}, 30, "multiple of 4"),
    ({"d_layers": 5}, 16, "d_layers=5 cannot judge 16x16 images"),
])
def test_shapes_it_cannot_build_are_refused_in_one_line(arch, size, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(StarGANConfig(**arch), DataShape(channels=1, image_size=size))
    assert "\n" not in str(info.value)


# the losses, worked out by hand -----------------------------------------------------------

class Shift(Translator):
    """``G(x, c) = scale * x + shift[c]``."""

    def __init__(self) -> None:
        super().__init__((1, 2, 2), (1, 2, 2), input_field="image", output_field="image", num_domains=3)
        self.scale = nn.Parameter(torch.tensor(0.5))
        self.shift = nn.Parameter(torch.tensor([0.0, 0.1, -0.1]))

    def forward(self, x, domain=None):
        return self.scale * x + self.shift[domain].view(-1, 1, 1, 1)


class Linear(StarDiscriminator):
    """``D_src(x) = w * x`` (one logit per pixel), ``D_cls(x) = u * mean(x)`` (3 domains)."""

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.in_shape, self.num_domains, self.num_classes = (1, 2, 2), 3, None
        self.w = nn.Parameter(torch.tensor(2.0))
        self.u = nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))

    def forward(self, x, labels=None):
        return self.w * x, self.u * x.flatten(1).mean(1, keepdim=True)


def make_trainer(manager, data_dir, tmp_path, nets=None, **flags) -> TrainingContext:
    from ganzoo.plugins.build import build_networks

    registry = manager.registry
    base = {"steps": 2, "batch_size": 4, "device": "cpu", "out": str(tmp_path / "runs"), "log_every": 1,
            "data_dir": str(data_dir), "image_size": 16, "arch": {"ngf": 4, "ndf": 4, "n_blocks": 1}}
    cfg = resolve_config(registry, "stargan", flags={**base, **flags})
    data = load_dataset(registry, cfg.dataset, cfg.data_dir)
    nets = nets or build_networks(registry, cfg, shape_of(data, cfg.image_size), torch.device("cpu"))
    return assemble(cfg, registry, data=data, nets=nets, device="cpu", run_dir=tmp_path)


def ce(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


@pytest.mark.parametrize("algo", [{}, {"lambda_cls": 0.5, "lambda_rec": 2.0}])
def test_the_losses_on_a_fixed_batch_equal_the_hand_computation(manager, data_dir, tmp_path, algo):
    trainer = make_trainer(manager, data_dir, tmp_path, nets=Networks(Shift(), Linear()), loss="lsgan", algo=algo)
    lambda_cls, lambda_rec = algo.get("lambda_cls", 1.0), algo.get("lambda_rec", 10.0)
    batch = {"image": torch.full((2, 1, 2, 2), 0.2), "domain": torch.tensor([0, 1])}
    trainer.batch = lambda: {k: v.clone() for k, v in batch.items()}
    trainer.algorithm._targets = lambda t, domains: torch.tensor([2, 0])
    stats = trainer.train_step()
    # x = 0.2; c = [0, 1]; c' = [2, 0]: fake = 0.5 * 0.2 + shift[c'] = [0.0, 0.1]
    # D (w = 2, u = [1, 2, 3]): D_src(x) = 0.4, D_src(fake) = [0, 0.2]; D_cls(x) = [0.2, 0.4, 0.6]
    # lsgan: 0.5 (0.4 - 1)^2 + 0.5 mean([0, 0.04]) = 0.18 + 0.01
    d_adv = 0.19
    d_cls = (ce([0.2, 0.4, 0.6], 0) + ce([0.2, 0.4, 0.6], 1)) / 2
    assert stats["d_adv"].item() == pytest.approx(d_adv, abs=1e-6)
    assert stats["d_cls"].item() == pytest.approx(d_cls, abs=1e-6)
    assert stats["d_loss"].item() == pytest.approx(d_adv + lambda_cls * d_cls, abs=1e-6)
    assert stats["d_cls_acc"].item() == 0.0  # argmax is domain 2 for both
    # G with the UPDATED discriminator (w', u' after one Adam step), the generator as it was:
    # rec = G(fake, c) = 0.5 * [0, 0.1] + shift[c] = [0, 0.15]; |rec - 0.2| = [0.2, 0.05]
    w, u = trainer.modules["discriminator"].w.item(), trainer.modules["discriminator"].u.tolist()
    assert w != 2.0 and u != [1.0, 2.0, 3.0]
    g_adv = 0.5 * ((w * 0.0 - 1) ** 2 + (w * 0.1 - 1) ** 2) / 2
    g_cls = (ce([v * 0.0 for v in u], 2) + ce([v * 0.1 for v in u], 0)) / 2
    rec = 0.125
    assert stats["g_adv"].item() == pytest.approx(g_adv, abs=1e-6)
    assert stats["g_cls"].item() == pytest.approx(g_cls, abs=1e-6)
    assert stats["rec"].item() == pytest.approx(rec, abs=1e-7)
    assert stats["g_loss"].item() == pytest.approx(g_adv + lambda_cls * g_cls + lambda_rec * rec, abs=1e-6)
    assert trainer.modules["generator"].scale.item() != 0.5  # both updates happened
    assert {"g_grad_norm", "d_grad_norm", "D(x)", "D(G(z))"} <= set(stats)


def test_penalties_treat_the_patch_map_as_one_critic_value_per_sample(manager, data_dir, tmp_path):
    trainer = make_trainer(manager, data_dir, tmp_path, gp=10.0, r1=1.0)
    D = trainer.modules["discriminator"]
    real, fake = torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1

    def critic(x, labels=None):  # what the losses see: each sample's mean patch logit (D_src only)
        return D(x)[0].flatten(1).mean(dim=1)

    torch.manual_seed(0)
    got = penalties(trainer, real, fake)
    torch.manual_seed(0)
    expected = 10.0 * gradient_penalty(critic, real, fake) + 0.5 * r1_penalty(critic, real)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_target_domains_come_from_the_trainers_rng(manager, data_dir, tmp_path):
    trainer = make_trainer(manager, data_dir, tmp_path)
    state = trainer.rng.get_state()
    drawn = trainer.algorithm._targets(trainer, torch.zeros(200, dtype=torch.long))
    again = torch.Generator()
    again.set_state(state)
    assert torch.equal(drawn, torch.randint(5, (200,), generator=again))
    assert set(drawn.tolist()) == set(range(5))


# options and defaults -----------------------------------------------------------------------

def test_the_defaults(manager, data_dir):
    registry = manager.registry
    spec = registry.get("model", "stargan").spec
    assert (spec.default_loss, spec.default_dataset, spec.algorithm, spec.fields, spec.task) == (
        "wgan-gp", "mnist-domains", "stargan", ("domain",), "multi-domain")
    paper = {"name": "adam", "lr": 1e-4, "betas": (0.5, 0.999)}
    assert spec.defaults["g_optim"] == spec.defaults["d_optim"] == paper and spec.defaults["batch_size"] == 16
    cfg = resolve_config(registry, "stargan", flags={"data_dir": str(data_dir)})
    assert cfg.batch_size == 16 and cfg.n_critic == 5 and cfg.gp == 10.0
    # with its own loss the model's optimizer wins over wgan-gp's Adam(1e-4, (0, 0.9)): the paper's
    assert cfg.g_optim.lr == cfg.d_optim.lr == 1e-4
    assert cfg.g_optim.betas == cfg.d_optim.betas == (0.5, 0.999)
    # with another loss, that loss's settings win
    cfg = resolve_config(registry, "stargan", loss="hinge", flags={"data_dir": str(data_dir)})
    assert (cfg.g_optim.lr, cfg.g_optim.betas) == (2e-4, (0.0, 0.9))
    assert StarGANOptions() == StarGANOptions(lambda_cls=1.0, lambda_rec=10.0)


def test_options_are_recorded_in_config_json(cli, data_dir, tmp_path):
    result = cli("train", "stargan", *tiny_flags(tmp_path / "runs", data_dir, 1, "--run-name", "r",
                                                 "--set", "algo.lambda_rec=5"))
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())
    assert config["algo"] == {"lambda_cls": 1.0, "lambda_rec": 5.0}
    assert config["algorithm"] == "stargan:stargan" and config["loss"] == "core:wgan-gp"
    assert config["dataset"] == "stargan:mnist-domains"
    assert config["arch"] == {"ngf": 4, "n_blocks": 1, "ndf": 4, "d_layers": None}


@pytest.mark.parametrize("assignment, message", [
    ("algo.lambda_cls=-1", "invalid config value for 'algo.lambda_cls': Input should be greater than or equal to 0"),
    ("algo.lambda_l1=1", "unknown config key 'algo.lambda_l1'"),
    ("arch.n_blocks=0", "invalid config value for 'arch.n_blocks'"),
])
def test_bad_options_are_one_line_errors(cli, data_dir, tmp_path, assignment, message):
    result = cli("train", "stargan", *tiny_flags(tmp_path / "runs", data_dir, 1, "--set", assignment))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(f"error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


# bad input -------------------------------------------------------------------------------

def test_data_without_a_domain_field_is_refused_before_training(cli, data_dir, tmp_path):
    result = cli("train", "stargan", "--dataset", "mnist", *tiny_flags(tmp_path / "runs", data_dir, 1))
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output
    assert message.startswith("error: model 'stargan' needs the data field(s) domain; mnist has image, label")
    assert not (tmp_path / "runs").exists()


# training, preview, sampling, resume -----------------------------------------------------------

def test_losses_with_their_own_settings_train_a_step(manager, data_dir, tmp_path):
    # every loss trains in tests/test_zoo.py's sweep; here: clipping (wgan), the penalty and
    # n_critic 5 (wgan-gp), real logits in the generator's loss (ragan), and hinge
    for loss in ("wgan", "wgan-gp", "ragan", "hinge"):
        trainer = make_trainer(manager, data_dir, tmp_path / loss, loss=loss)
        before = {n: [p.detach().clone() for p in m.parameters()] for n, m in trainer.modules.items()}
        stats = trainer.train_step()
        assert all(math.isfinite(v.item()) for v in stats.values()), (loss, stats)
        for name, module in trainer.modules.items():
            assert any(not torch.equal(a, b) for a, b in zip(before[name], module.parameters())), (loss, name)
        if trainer.cfg.weight_clip:
            assert all(p.abs().max() <= trainer.cfg.weight_clip for p in trainer.modules["discriminator"].parameters())
        assert ("penalty" in stats) == bool(trainer.cfg.gp)
        # n_critic discriminator updates (wgan, wgan-gp: 5), one batch each
        assert trainer.batches.streams[0].position == trainer.cfg.n_critic * trainer.cfg.batch_size
        assert trainer.algorithm.batches_per_step() == trainer.cfg.n_critic


def test_the_sample_grid_shows_each_input_in_every_domain(cli, data_dir, tmp_path):
    result = cli("train", "stargan", *tiny_flags(tmp_path / "runs", data_dir, 1, "--run-name", "g",
                                                 "--set", "sample_grid=8"))
    assert result.exit_code == 0, result.output
    # rows: input | domain 0 | ... | domain 4
    assert png_size(tmp_path / "runs" / "g" / "samples" / "step-0000001.png") == (8 * CELL + 2, 6 * CELL + 2)


def test_the_trained_model_translates_and_samples_by_domain(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", "stargan", *tiny_flags(out, data_dir, 1, "--run-name", "t", "--loss", "lsgan")).exit_code == 0
    handle = ganzoo.load(out / "t")
    assert set(handle.translators) == {"generator"} and handle.task == "translate"
    digits = torch.randint(0, 256, (5, 1, 16, 16), dtype=torch.uint8)
    to_inverted = handle.translate(digits, domain=1)
    with torch.no_grad():
        direct = handle.modules["generator"](digits.float() / 127.5 - 1, torch.ones(5, dtype=torch.long))
    assert to_inverted.shape == (5, 1, 16, 16) and torch.allclose(to_inverted, direct, atol=1e-6)
    # every domain (rows input | 0..4), one domain, and the user's own images
    assert cli("sample", str(out / "t"), "-n", "4", "--out", str(tmp_path / "all.png")).exit_code == 0
    assert png_size(tmp_path / "all.png") == (8 * CELL + 2, 6 * CELL + 2)  # rows of 8
    assert cli("sample", str(out / "t"), "-n", "4", "--domain", "4", "--out", str(tmp_path / "one.png")).exit_code == 0
    assert png_size(tmp_path / "one.png") == (8 * CELL + 2, 2 * CELL + 2)
    mine = tmp_path / "mine"
    mine.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 20), 40 * i, dtype=np.uint8)).save(mine / f"{i}.png")
    result = cli("sample", str(out / "t"), "--input", str(mine), "--domain", "1", "--out", str(tmp_path / "m.png"))
    assert result.exit_code == 0, result.output
    assert png_size(tmp_path / "m.png") == (8 * CELL + 2, 2 * CELL + 2)
    # an unknown domain: one line, non-zero exit
    result = cli("sample", str(out / "t"), "--domain", "9", "--out", str(tmp_path / "bad.png"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown domain 9: generator translates to domains 0..4"]
    assert not (tmp_path / "bad.png").exists()


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    # the default loss (wgan-gp: 5 discriminator updates a step, gradient penalties)
    assert cli("train", "stargan", *tiny_flags(out, data_dir, 2, "--run-name", "full")).exit_code == 0
    assert cli("train", "stargan", *tiny_flags(out, data_dir, 1, "--run-name", "part")).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), "--steps", "2", "--quiet")
    assert result.exit_code == 0, result.output
    full, resumed = state_of(out / "full"), state_of(out / "part")
    assert sorted(full) == ["discriminator.safetensors", "generator.safetensors", "train_state.safetensors"]
    assert_bitwise_equal(full, resumed)
