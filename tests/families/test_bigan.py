"""BiGAN / ALI: networks, prior, the losses worked out by hand, the stochastic encoder,
training, exact resume and the loaded model's encode / reconstruct / sample."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import ganzoo
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, shape_of
from ganzoo.errors import ConfigError
from ganzoo.networks import Encoder, Generator
from ganzoo.plugins.build import build_loss, build_networks, load_dataset
from ganzoo.training import checkpoint as ckpt
from ganzoo.training import state as train_state
from ganzoo.training.assemble import assemble
from ganzoo.training.context import TrainingContext
from ganzoo_plugins.bigan import BiGANConfig
from ganzoo_plugins.bigan import algorithm, nets

from ..test_cli import png_size

CPU = torch.device("cpu")
TINY_ARCH = {"hidden": 32, "ngf": 8, "ndf": 8, "latent_dim": 8}
TINY = ["--batch-size", "8", "--device", "cpu", "--quiet", *[a for k, v in TINY_ARCH.items()
                                                             for a in ("--set", f"arch.{k}={v}")]]
MODULE_FILES = ("generator.safetensors", "encoder.safetensors", "discriminator.safetensors", ckpt.STATE_FILE)


def build(kind: str, channels: int = 1, size: int = 28, **arch) -> dict[str, torch.nn.Module]:
    """The model's modules through its own ``build`` (tiny widths unless ``arch`` says otherwise)."""
    options = BiGANConfig(kind=kind, **{**TINY_ARCH, **arch})
    return nets.build(options, DataShape(channels=channels, image_size=size)).modules


def train_flags(data_dir: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["--data-dir", str(data_dir), "--out", str(out), "--steps", str(steps), *TINY, *extra]


def final_state(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    folder = ckpt.resolve_checkpoint(run)
    return {name: load_file(str(folder / name)) for name in MODULE_FILES}


def differences(a: dict, b: dict) -> list[str]:
    out = []
    for name in MODULE_FILES:
        assert a[name].keys() == b[name].keys(), name
        out += [f"{name}:{k}" for k in a[name] if not torch.equal(a[name][k], b[name][k])]
    return out


# networks -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind,channels,size", [("mlp", 1, 28), ("mlp", 3, 32), ("conv", 1, 28),
                                                ("conv", 3, 32), ("conv", 3, 64)])
def test_generator_encoder_and_joint_discriminator_shapes(kind, channels, size):
    modules = build(kind, channels, size)
    G, E, D = modules["generator"], modules["encoder"], modules["discriminator"]
    assert isinstance(G, Generator) and isinstance(E, Encoder)
    assert not isinstance(D, ganzoo.networks.Discriminator)  # its second input is a latent
    z = G.sample_latent(5)
    x = G(z)
    assert x.shape == (5, channels, size, size) and x.min() >= -1 and x.max() <= 1
    codes = E(x)
    assert codes.shape == (5, 8) and E.in_shape == (channels, size, size)
    assert D(x, codes).shape == (5,) and D(x, z).shape == (5,)
    with pytest.raises(ConfigError, match="scores \\(image, latent\\) pairs"):
        D(x)


def test_the_default_mlp_is_the_papers_mnist_network():
    options = BiGANConfig()
    assert (options.kind, options.latent_dim, options.prior, options.hidden) == ("mlp", 50, "uniform", 1024)
    modules = nets.build(options, DataShape(channels=1, image_size=28)).modules
    G, E, D = modules["generator"], modules["encoder"], modules["discriminator"]
    widths = {name: [tuple(m.weight.shape) for m in module.modules() if isinstance(m, torch.nn.Linear)]
              for name, module in modules.items()}
    assert widths["generator"] == [(1024, 50), (1024, 1024), (1024, 50), (784, 1024)]
    assert widths["encoder"] == [(1024, 784), (1024, 1024), (50, 1024)]
    assert widths["discriminator"] == [(1024, 784), (1024, 1024), (1024, 50), (1, 1024)]
    every = [m for module in modules.values() for m in module.modules()]
    assert all(m.bias is None for m in every if isinstance(m, torch.nn.Linear))  # the code's --nobias
    assert all(not m.affine for m in every if isinstance(m, torch.nn.BatchNorm1d))  # and --nogain
    assert 0.015 < G.fc2.weight.std().item() < 0.025  # N(0, 0.02)
    assert isinstance(E, Encoder) and E.latent_dim == 50 and D.latent_dim == 50


def test_conv_networks_refuse_an_image_size_they_cannot_make_in_one_line():
    with pytest.raises(ConfigError) as info:
        build("conv", 1, 18)
    assert "4-7 times a power of two" in str(info.value) and "\n" not in str(info.value)


def test_the_uniform_prior_fills_minus_one_to_one_and_the_gaussian_option_is_standard_normal():
    G = build("mlp", latent_dim=16)["generator"]
    z = G.sample_latent(20000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (20000, 16)
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.999 and z.max() > 0.999
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1 / 3) < 0.01  # U[-1, 1]: variance 1/3
    again = G.sample_latent(20000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, again)
    gaussian = build("mlp", latent_dim=16, prior="gaussian")["generator"].sample_latent(20000)
    assert abs(gaussian.mean()) < 0.02 and abs(gaussian.std() - 1) < 0.02 and gaussian.abs().max() > 3
    # E's codes live in the uniform prior's support, however far out its raw output is
    E = build("mlp", latent_dim=16)["encoder"]
    assert E(torch.full((4, 1, 28, 28), 1e4)).abs().max() <= 1


# losses --------------------------------------------------------------------------------

REAL, FAKE = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0])


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


HAND = {  # E/G's loss with inverted labels, worked out for real logits (1, -2), fake (0.5, 3)
    "bce": (softplus(-0.5) + softplus(-3.0)) / 2 + (softplus(1.0) + softplus(-2.0)) / 2,
    "minimax": -(softplus(0.5) + softplus(3.0)) / 2 - (softplus(-1.0) + softplus(2.0)) / 2,
    "wgan": -(0.5 + 3.0) / 2 + (1.0 - 2.0) / 2,
    "hinge": -(0.5 + 3.0) / 2 + (1.0 - 2.0) / 2,
    "lsgan": 0.5 * ((0.5 - 1) ** 2 + (3.0 - 1) ** 2) / 2 + 0.5 * (1.0 ** 2 + 2.0 ** 2) / 2,
    "rgan": (softplus(-(0.5 - 1.0)) + softplus(-(3.0 + 2.0))) / 2,
    "ragan": (softplus(-(0.5 + 0.5)) + softplus(-(3.0 + 0.5))) / 2      # fake - mean(real) = f + 0.5
             + (softplus(1.0 - 1.75) + softplus(-2.0 - 1.75)) / 2,      # real - mean(fake) = r - 1.75
}


@pytest.mark.parametrize("loss", sorted(HAND))
def test_encoder_generator_loss_inverts_the_labels_for_every_loss(manager, loss):
    value = algorithm.encoder_generator_loss(build_loss(manager.registry, loss), REAL, FAKE)
    assert value.item() == pytest.approx(HAND[loss], rel=1e-6)


def test_label_symmetry_tells_lsgan_apart(manager):
    symmetric = {name: algorithm.is_label_symmetric(build_loss(manager.registry, name)) for name in HAND}
    assert symmetric == {"bce": True, "minimax": True, "wgan": True, "hinge": True, "lsgan": False,
                         "rgan": False, "ragan": False}


def _trainer(manager, data_dir: Path, tmp_path: Path, **flags) -> TrainingContext:
    registry = manager.registry
    cfg = resolve_config(registry, "bigan", flags={"batch_size": 8, "device": "cpu", "data_dir": str(data_dir),
                                                   "arch": TINY_ARCH, **flags})
    data = load_dataset(registry, cfg.dataset, cfg.data_dir)
    shape = shape_of(data, cfg.image_size)
    modules = build_networks(registry, cfg, shape, CPU, seed_process=True)
    return assemble(cfg, registry, data=data, nets=modules, device="cpu", run_dir=tmp_path)


def test_one_step_scores_real_pairs_against_fake_pairs_as_worked_out_by_hand(manager, data_dir, tmp_path):
    t = _trainer(manager, data_dir, tmp_path)
    x = t.batch()["image"]
    z = t.latent()
    t.batch, t.latent = (lambda: {"image": x}), (lambda dim=None: z)  # the step sees this batch
    G0, E0 = copy.deepcopy(t.modules["generator"]), copy.deepcopy(t.modules["encoder"])
    D0 = copy.deepcopy(t.modules["discriminator"])
    stats = t.train_step()
    D1 = t.modules["discriminator"]  # the E/G update is scored by the updated D
    with torch.no_grad():
        real, fake = D0(x, E0(x)), D0(G0(z), z)
        d_loss = F.softplus(-real).mean() + F.softplus(fake).mean()
        real1, fake1 = D1(x, E0(x)), D1(G0(z), z)
        g_loss = F.softplus(-fake1).mean() + F.softplus(real1).mean()  # inverted labels
    assert stats["d_loss"].item() == pytest.approx(d_loss.item(), rel=1e-5)
    assert stats["g_loss"].item() == pytest.approx(g_loss.item(), rel=1e-5)
    assert stats["D(x,E(x))"].item() == pytest.approx(torch.sigmoid(real).mean().item(), rel=1e-5)
    assert stats["D(G(z),z)"].item() == pytest.approx(torch.sigmoid(fake).mean().item(), rel=1e-5)
    for name, before in (("generator", G0), ("encoder", E0), ("discriminator", D0)):
        moved = [not torch.equal(a, b) for a, b in zip(before.parameters(), t.modules[name].parameters())]
        assert any(moved), f"{name} was not updated"
    G, E = t.modules["generator"].eval(), t.modules["encoder"].eval()
    with torch.no_grad():
        assert stats["rec_l1"].item() == pytest.approx((x - G(E(x))).abs().mean().item(), rel=1e-5)
    assert {"d_grad_norm", "g_grad_norm"} <= set(stats)


def test_joint_penalties_take_the_gradient_of_the_whole_pair(manager, data_dir, tmp_path):
    """For a linear D(x, z) = <w, x> + <v, z> the input gradient is (w, v) everywhere, so
    gp = lambda (||(w, v)|| - 1)^2 and r1 = gamma / 2 ||(w, v)||^2."""
    t = _trainer(manager, data_dir, tmp_path, gp=10.0, r1=4.0)

    class Linear(torch.nn.Module):
        def forward(self, x, z):
            return 0.01 * x.flatten(1).sum(1) + 0.5 * z.sum(1)

    t.modules["discriminator"] = Linear()
    norm = math.sqrt(784 * 0.01 ** 2 + 8 * 0.5 ** 2)
    x, z = torch.rand(4, 1, 28, 28), torch.rand(4, 8)
    penalty = algorithm.joint_penalty(t, (x, z), (-x, -z))
    assert penalty.item() == pytest.approx(10 * (norm - 1) ** 2 + 2 * norm ** 2, rel=1e-5)


# the stochastic encoder -------------------------------------------------------------------

def test_a_stochastic_encoder_samples_in_training_and_returns_its_mean_in_eval():
    E = build("mlp", prior="gaussian", stochastic_encoder=True)["encoder"]
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    E.train()
    torch.manual_seed(1)
    first = E(x)
    assert not torch.equal(first, E(x))  # fresh noise on each call
    torch.manual_seed(1)
    assert torch.equal(first, E(x))  # ... from torch's global generator
    with torch.no_grad():
        mean, log_var = E.moments(x)
        # one pass over 2000 copies: batch norm sees the same batch statistics as for x alone
        draws = E(x.repeat(2000, 1, 1, 1)).view(2000, *first.shape)
    std = torch.exp(0.5 * log_var)
    assert torch.allclose(draws.mean(0), mean, atol=4 * std.max().item() / math.sqrt(2000) + 1e-4)
    assert torch.allclose(draws.std(0), std, rtol=0.1)
    E.eval()
    with torch.no_grad():
        assert torch.equal(E(x), E(x)) and torch.equal(E(x), E.moments(x)[0])
    uniform = build("mlp", stochastic_encoder=True)["encoder"].eval()  # the mean, squashed into (-1, 1)
    assert torch.equal(uniform(x), torch.tanh(uniform.moments(x)[0] / 2))


# training, resume, loading ------------------------------------------------------------------

@pytest.mark.parametrize("extra", [("--set", "arch.kind=conv"), ("--set", "arch.stochastic_encoder=true"),
                                   ("--loss", "wgan-gp", "--set", "n_critic=2"), ("--loss", "wgan")],
                         ids=["conv", "stochastic", "wgan-gp", "wgan-clip"])
def test_a_few_steps_train_every_module_with_finite_losses(cli, data_dir, tmp_path, extra):
    out = tmp_path / "runs"
    result = cli("train", "bigan", *train_flags(data_dir, out, 3, "--run-name", "r", "--set", "log_every=1",
                                                *extra))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    for record in records:
        assert all(math.isfinite(record[k]) for k in ("d_loss", "g_loss", "rec_l1", "d_grad_norm", "g_grad_norm"))
    start = {name: load_file(str(out / "r" / "checkpoints" / "step-0000000" / name)) for name in MODULE_FILES[:3]}
    end = final_state(out / "r")
    for name in MODULE_FILES[:3]:
        assert any(not torch.equal(start[name][k], end[name][k]) for k in start[name]), f"{name} did not train"
    config = json.loads((out / "r" / "config.json").read_text())
    if "wgan-gp" in extra:
        assert "penalty" in records[-1] and config["arch"]["d_norm"] == "layer"  # per-sample penalty
    if "wgan" in extra:
        weights = {k: v for k, v in end["discriminator.safetensors"].items() if k.endswith(("weight", "bias"))}
        assert weights and all(v.abs().max() <= config["weight_clip"] for v in weights.values())


@pytest.mark.parametrize("arch", [("kind=mlp", "stochastic_encoder=false"), ("kind=mlp", "stochastic_encoder=true"),
                                  ("kind=conv", "stochastic_encoder=true")],
                         ids=["mlp-deterministic", "mlp-stochastic", "conv-stochastic"])
def test_an_interrupted_and_resumed_run_equals_the_uninterrupted_one(cli, data_dir, tmp_path, arch):
    out = tmp_path / "runs"
    sets = [a for option in arch for a in ("--set", f"arch.{option}")]
    assert cli("train", "bigan", *train_flags(data_dir, out, 6, "--run-name", "full", *sets)).exit_code == 0
    assert cli("train", "bigan", *train_flags(data_dir, out, 3, "--run-name", "part", *sets)).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), *train_flags(data_dir, out, 6))
    assert result.exit_code == 0, result.output
    assert differences(final_state(out / "full"), final_state(out / "part")) == []


@pytest.mark.parametrize("stochastic", [False, True], ids=["deterministic", "stochastic"])
def test_the_encoder_noise_is_what_the_restored_global_generator_draws(cli, data_dir, tmp_path, monkeypatch,
                                                                       stochastic):
    """The control of the test above: scramble torch's global generator right after a resume
    restored it. Nothing of a deterministic BiGAN draws from it, so its run is still exact; the
    stochastic encoder's noise does, so its run departs: restoring that generator is what makes
    the stochastic resume exact."""
    out = tmp_path / "runs"
    sets = ["--set", f"arch.stochastic_encoder={str(stochastic).lower()}"]
    assert cli("train", "bigan", *train_flags(data_dir, out, 4, "--run-name", "full", *sets)).exit_code == 0
    assert cli("train", "bigan", *train_flags(data_dir, out, 2, "--run-name", "part", *sets)).exit_code == 0
    restore = train_state.restore

    def restore_then_scramble(context, folder):
        counters = restore(context, folder)
        torch.manual_seed(987654321)
        return counters

    monkeypatch.setattr(train_state, "restore", restore_then_scramble)
    assert cli("train", "--resume", str(out / "part"), *train_flags(data_dir, out, 4)).exit_code == 0
    changed = differences(final_state(out / "full"), final_state(out / "part"))
    if stochastic:
        assert any(name.startswith("encoder") for name in changed)
    else:  # only the scrambled generator's own saved state differs
        assert changed == [f"{ckpt.STATE_FILE}:rng.torch_cpu"]


def test_the_loaded_model_encodes_reconstructs_and_samples(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", "bigan", *train_flags(data_dir, out, 2, "--run-name", "r")).exit_code == 0
    model = ganzoo.load(out / "r")
    assert model.task == "encode" and set(model.modules) == {"generator", "encoder"}
    data = load_dataset(ganzoo._registry(), "mnist", data_dir, split="test")
    images = data.fields["image"][:5]  # uint8 [5, 1, 28, 28]
    codes = model.encode(images)
    assert codes.shape == (5, 8) and codes.abs().max() <= 1
    assert torch.equal(codes, model.encode(images))  # eval mode: deterministic
    reconstructions = model.reconstruct(images)
    assert reconstructions.shape == (5, 1, 28, 28)
    assert reconstructions.min() >= -1 and reconstructions.max() <= 1
    assert model.sample(3, seed=0).shape == (3, 1, 28, 28)
    # the preview: 64 samples in rows of 8, then 4 blocks of 8 real images over G(E(x))
    assert png_size(out / "r" / "samples" / "step-0000002.png") == (8 * 30 + 2, (8 + 4 * 2) * 30 + 2)


def test_bigan_refuses_what_it_cannot_train_in_one_line(cli, data_dir, tmp_path):
    conv = cli("train", "bigan", *train_flags(data_dir, tmp_path / "runs", 1, "--set", "arch.kind=conv",
                                              "--image-size", "18"))
    assert conv.exit_code == 2 and "4-7 times a power of two" in conv.stderr
    assert len(conv.stderr.strip().splitlines()) == 1
    other = cli("train", "dcgan", "--set", "algorithm=bigan", "--data-dir", str(data_dir), "--steps", "1",
                "--out", str(tmp_path / "runs"), "--device", "cpu")
    assert other.exit_code == 2 and "encoder" in other.stderr and len(other.stderr.strip().splitlines()) == 1
