"""The components that fight mode collapse, usable with any model: PacGAN packing, minibatch
standard deviation, a moving average of the generator (EMA) and lazy R1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import ganzoo
from ganzoo.networks import Discriminator, MinibatchStd, PackedDiscriminator
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.ema import EMA, ema_beta

from .conftest import BUILTINS, TINY, family_flags


def tiny(data_dir: Path, out: Path, steps: int, *extra: str) -> list[str]:
    flags = [f if f != "3" else str(steps) for f in TINY]
    return [*flags, "--data-dir", str(data_dir), "--out", str(out), "--quiet", *extra]


def final_files(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    folder = ckpt.resolve_checkpoint(run_dir)
    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


# minibatch standard deviation ----------------------------------------------------------

def test_minibatch_std_appends_the_group_spread_worked_out_by_hand():
    # features [4, 2], group size 2: groups are samples {0, 2} and {1, 3}
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 4.0], [1.0, 1.0]])
    out = MinibatchStd(2)(x)
    # group {0, 2}: population std of (0, 2) = 1 and of (0, 4) = 2, mean 1.5; group {1, 3}: 0
    expected = torch.tensor([1.5, 1e-4, 1.5, 1e-4])  # sqrt(0 + 1e-8) = 1e-4
    assert out.shape == (4, 3)
    assert torch.equal(out[:, :2], x)
    assert torch.allclose(out[:, 2], expected, atol=1e-7)


def test_minibatch_std_on_feature_maps_adds_a_constant_channel():
    x = torch.randn(6, 3, 4, 4)
    out = MinibatchStd(4)(x)  # gcd(6, 4) = 2 samples per group
    assert out.shape == (6, 4, 4, 4)
    y = x.reshape(2, 3, 3, 4, 4)
    std = (y.var(0, unbiased=False) + 1e-8).sqrt().flatten(1).mean(1)  # per group of 2
    for i in range(6):
        assert torch.allclose(out[i, 3], std[i % 3].expand(4, 4))


def test_minibatch_std_discriminator_options(cli, data_dir, tmp_path):
    from ganzoo_plugins.layers.dcgan import DCGANDiscriminator
    from ganzoo_plugins.gan.nets import MLPDiscriminator

    d = DCGANDiscriminator(1, 28, 8, mbstd=4)
    convs = [m for m in d.net if isinstance(m, nn.Conv2d)]
    assert isinstance(d.net[-2], MinibatchStd) and convs[-1].in_channels == convs[-2].out_channels + 1
    assert d(torch.randn(4, 1, 28, 28)).shape == (4,)
    m = MLPDiscriminator((2,), 16, 2, mbstd=4)
    assert m(torch.randn(8, 2)).shape == (8,)
    # a collapsed batch and a spread one differ only through the spread feature
    first = m.net[:-2]
    with torch.no_grad():
        spread = m.net[-2](first(torch.randn(8, 2)))[:, -1]
        same = m.net[-2](first(torch.zeros(8, 2)))[:, -1]
    assert float(same.max()) < 1e-3 < float(spread.min())
    out = tmp_path / "runs"
    result = cli("train", "dcgan", *tiny(data_dir, out, 2, "--set", "arch.mbstd=4", "--run-name", "m"))
    assert result.exit_code == 0, result.output


# PacGAN packing --------------------------------------------------------------------------

class Recorder(Discriminator):
    def __init__(self, in_shape):
        super().__init__(in_shape)
        self.seen = None

    def forward(self, x, labels=None):
        self.seen = x
        return x.flatten(1).sum(1)


def test_packed_discriminator_concatenates_consecutive_samples():
    inner = Recorder((6, 2, 2))
    packed = PackedDiscriminator(inner, 3, (2, 2, 2))
    x = torch.arange(6 * 2 * 2 * 2, dtype=torch.float32).reshape(6, 2, 2, 2)
    logits = packed(x)
    assert logits.shape == (2,)
    assert torch.equal(inner.seen[0], torch.cat([x[0], x[1], x[2]]))
    assert torch.equal(inner.seen[1], torch.cat([x[3], x[4], x[5]]))
    points = PackedDiscriminator(Recorder((4,)), 2, (2,))
    p = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    points(p)
    assert torch.equal(points.inner.seen, torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    with pytest.raises(ValueError, match="divisible by 3"):
        packed(x[:4])


def test_pack_builds_a_wider_discriminator_and_keeps_the_generator(cli, data_dir, tmp_path):
    from ganzoo.plugins.build import build_networks
    from ganzoo.config import resolve_config
    from ganzoo.data import DataShape
    from ganzoo.plugins.manager import get_plugin_manager

    registry = get_plugin_manager().registry
    shape = DataShape(channels=1, image_size=28)
    plain = resolve_config(registry, "dcgan", flags={"batch_size": 8}, sets=["arch.ngf=8", "arch.ndf=8"])
    packed = resolve_config(registry, "dcgan", flags={"batch_size": 8}, sets=["arch.ngf=8", "arch.ndf=8", "pack=2"])
    a = build_networks(registry, plain, shape, torch.device("cpu"))
    b = build_networks(registry, packed, shape, torch.device("cpu"))
    for (k, v), (k2, v2) in zip(a.generator.state_dict().items(), b.generator.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)  # the generator is the unpacked run's
    assert isinstance(b.discriminator, PackedDiscriminator)
    assert b.discriminator.inner.net[0].in_channels == 2
    assert b.discriminator(torch.randn(8, 1, 28, 28)).shape == (4,)
    out = tmp_path / "runs"
    result = cli("train", "dcgan", *tiny(data_dir, out, 2, "--set", "pack=2", "--run-name", "p"))
    assert result.exit_code == 0, result.output
    keys = final_files(out / "p")["discriminator.safetensors"].keys()
    assert all(k.startswith("inner.") for k in keys)


@pytest.mark.parametrize("args, message", [
    (("cgan", "--set", "pack=2"), "unconditional generator/discriminator pair"),
    (("dcgan", "--set", "pack=3"), "divisible by 3"),
    (("dcgan", "--set", "r1_every=4"), "r1 is 0"),
])
def test_bad_trick_settings_are_refused_in_one_line(cli, data_dir, tmp_path, args, message):
    result = cli("train", args[0], *tiny(data_dir, tmp_path / "runs", 2, *args[1:]))
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# exponential moving average ----------------------------------------------------------------

def test_ema_update_worked_out_by_hand():
    live = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        live.weight.fill_(1.0)
    ema = EMA({"g": live}, decay=0.9)
    with torch.no_grad():
        live.weight.fill_(2.0)
    ema.update(1)  # beta = min(0.9, 2/11): 2/11 * 1 + 9/11 * 2
    assert ema_beta(0.9, 1) == pytest.approx(2 / 11)
    assert float(ema.copies["g"].weight) == pytest.approx(2 / 11 + 18 / 11, abs=1e-6)
    with torch.no_grad():
        live.weight.fill_(0.0)
    for step in range(2, 200):
        ema.update(step)
    assert ema_beta(0.9, 199) == 0.9
    assert abs(float(ema.copies["g"].weight)) < 1e-6  # it follows the live weights
    assert not ema.copies["g"].training and not ema.copies["g"].weight.requires_grad


def test_ema_is_saved_resumed_bitwise_and_used_for_sampling(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    ema = ("--set", "ema=0.9")
    assert cli("train", "dcgan", *tiny(data_dir, out, 8, "--run-name", "full", *ema)).exit_code == 0
    assert cli("train", "dcgan", *tiny(data_dir, out, 3, "--run-name", "part", *ema)).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), *tiny(data_dir, out, 8))
    assert result.exit_code == 0, result.output
    full, part = final_files(out / "full"), final_files(out / "part")
    assert "generator.ema.safetensors" in full and full.keys() == part.keys()
    for name in full:
        assert all(torch.equal(full[name][k], part[name][k]) for k in full[name]), name
    averaged, raw = full["generator.ema.safetensors"], full["generator.safetensors"]
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw if raw[k].is_floating_point())
    # ganzoo.load samples with the average by default, with the raw weights on request
    handle, plain = ganzoo.load(out / "full"), ganzoo.load(out / "full", ema=False)
    assert handle.averaged == ["generator"] and plain.averaged == []
    for k, v in handle.generator.state_dict().items():
        assert torch.equal(v, averaged[k])
    assert not torch.equal(handle.sample(4, seed=0), plain.sample(4, seed=0))
    # the grid shows the average: the last grid equals the average's samples of the fixed latents
    assert (out / "full" / "samples" / "step-0000008.png").is_file()


def test_ema_checkpoint_is_refused_without_it(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", "dcgan", *tiny(data_dir, out, 2, "--run-name", "plain")).exit_code == 0
    result = cli("train", "--resume", str(out / "plain"), *tiny(data_dir, out, 4, "--set", "ema=0.9", "--force"))
    assert result.exit_code != 0


# lazy R1 ----------------------------------------------------------------------------------

def test_lazy_r1_applies_every_kth_step_with_k_times_the_weight(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    flags = ("--set", "r1=1.0", "--set", "log_every=1", "--set", "arch.d_norm=layer")
    assert cli("train", "dcgan", *tiny(data_dir, out, 4, "--run-name", "every", *flags)).exit_code == 0
    assert cli("train", "dcgan", *tiny(data_dir, out, 4, "--run-name", "lazy", *flags,
                                       "--set", "r1_every=2")).exit_code == 0

    def penalties(run):
        records = [json.loads(line) for line in (out / run / "metrics.jsonl").read_text().splitlines()]
        return {r["step"]: r.get("penalty") for r in records if "d_loss" in r}

    every, lazy = penalties("every"), penalties("lazy")
    assert all(v is not None for v in every.values())
    assert lazy[2] is None and lazy[4] is None  # steps 2 and 4 skip it
    # step 1 is identical in both runs up to the penalty: lazy's is twice as large
    assert lazy[1] == pytest.approx(2 * every[1], rel=1e-4)


# learning-rate decay -------------------------------------------------------------------------

def test_linear_lr_decay_reaches_the_optimizer_and_resumes_exactly(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    flags = ("--set", "lr_decay=linear", "--set", "log_every=1")
    assert cli("train", "dcgan", *tiny(data_dir, out, 4, "--run-name", "full", *flags)).exit_code == 0
    records = [json.loads(line) for line in (out / "full" / "metrics.jsonl").read_text().splitlines()]
    # step s (1-based) trained with lr x (1 - (s - 1) / 4); the record shows the next step's factor
    assert [r["lr_factor"] for r in records if "lr_factor" in r] == [0.75, 0.5, 0.25, 0.0]
    # resuming from the step-2 checkpoint of a copy with the same --steps gives the same run
    import shutil

    assert cli("train", "dcgan", *tiny(data_dir, out, 4, "--run-name", "full2", *flags,
                                       "--set", "checkpoint_every=2")).exit_code == 0
    shutil.copytree(out / "full2", out / "part")
    shutil.rmtree(out / "part" / "checkpoints" / "step-0000004")
    result = cli("train", "--resume", str(out / "part" / "checkpoints" / "step-0000002"), *tiny(data_dir, out, 4))
    assert result.exit_code == 0, result.output
    part = final_files(out / "part")
    full = final_files(out / "full")
    for name in full:
        assert all(torch.equal(full[name][k], part[name][k]) for k in full[name]), name


def test_kind_defaults_apply_only_to_data_of_that_kind():
    from ganzoo.config import resolve_config
    from ganzoo.plugins.manager import get_plugin_manager
    from ganzoo.specs import ModelSpec

    registry = get_plugin_manager().registry
    spec = registry.get("model", "gan").spec
    points = resolve_config(registry, "gan", dataset="toy-ring")
    images = resolve_config(registry, "gan", dataset="mnist")
    for key, value in spec.kind_defaults.get("points", {}).items():
        if not isinstance(value, dict):
            assert getattr(points, key) == value
    assert points.model_dump() != images.model_dump()
    # a flag still wins over the kind's default
    assert resolve_config(registry, "gan", dataset="toy-ring", flags={"batch_size": 32}).batch_size == 32
    with pytest.raises(ValueError, match="kind_defaults"):
        ModelSpec(name="x", summary="x", build="a:b", kind_defaults={"audio": {}}).validate()


@pytest.mark.parametrize("model", sorted(entry.spec.name for entry in BUILTINS.list("model")))
def test_ema_of_every_family_resumes_bitwise(cli, data_dir, tmp_path, model):
    out, flags = tmp_path / "runs", family_flags(model, data_dir)

    def args(steps, name=None):
        return ["--data-dir", str(data_dir), "--out", str(out), "--quiet", "--device", "cpu", "--steps", str(steps),
                "--batch-size", "4", *(["--run-name", name] if name else []), *flags, "--set", "ema=0.9"]

    assert cli("train", model, *args(4, "full")).exit_code == 0
    assert cli("train", model, *args(2, "part")).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), "--steps", "4", "--quiet")
    assert result.exit_code == 0, result.output
    full, part = final_files(out / "full"), final_files(out / "part")
    assert full.keys() == part.keys() and any(name.endswith(".ema.safetensors") for name in full)
    for name in full:
        assert all(torch.equal(full[name][k], part[name][k]) for k in full[name]), name
    assert ganzoo.load(out / "full").averaged  # sampling uses the averages
