"""The multi-network core: named modules and optimizer groups, typed data fields and streams,
algorithms with options and state, losses that declare their needs, and the reliability
fixes that came with them (best after a resume, rollback logs, the caller's random state)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from torch import nn

import ganzoo
from ganzoo import hookimpl
from ganzoo.algorithms import Algorithm
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, FieldShape, ImageData, ItemData, shape_of
from ganzoo.datasets.batches import InMemoryBatches
from ganzoo.errors import ComponentUnavailableError, ConfigError
from ganzoo.losses import RelativisticAverageLoss, RelativisticLoss, generator_term
from ganzoo.networks import Encoder, Generator, Networks, Translator
from ganzoo.training.run import train
from ganzoo.specs import AlgorithmSpec, DatasetSpec, ModelSpec
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.loop import Trainer
from ganzoo.training.progress import Reporter

from .test_training import tiny_trainer


# --------------------------------------------------------------------------- data fields

def paired(n: int = 16, size: int = 8) -> ItemData:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, size, size), generator=gen, dtype=torch.uint8)
    return ItemData({"image": images, "target": 255 - images, "label": torch.arange(n) % 4}, num_classes=4)


def unpaired(n_a: int = 16, n_b: int = 24) -> ItemData:
    a = torch.arange(n_a, dtype=torch.uint8).view(n_a, 1, 1, 1).expand(n_a, 1, 4, 4).contiguous()
    b = (100 + torch.arange(n_b, dtype=torch.uint8)).view(n_b, 1, 1, 1).expand(n_b, 1, 4, 4).contiguous()
    return ItemData({"image": a, "image_b": b}, streams=[("image",), ("image_b",)])


def index_of(batch: torch.Tensor, offset: int = 0) -> list[int]:
    """The item numbers encoded in a batch of the ``unpaired`` images (pixel value = index)."""
    return [round((v + 1) * 127.5) - offset for v in batch[:, 0, 0, 0].tolist()]


def test_fields_get_their_kind_from_the_name_and_are_checked():
    data = paired()
    assert data.kinds == {"image": "image", "target": "image", "label": "label"} and data.num_classes == 4
    with pytest.raises(ValueError, match="give its kind"):
        ItemData({"weird": torch.zeros(2)})
    with pytest.raises(ValueError, match="target must be a uint8 tensor"):
        ItemData({"image": torch.zeros(2, 1, 4, 4, dtype=torch.uint8), "target": torch.zeros(2, 1, 4, 4)})
    with pytest.raises(ValueError, match="differ in length"):
        ItemData({"image": torch.zeros(2, 1, 4, 4, dtype=torch.uint8), "label": torch.zeros(3, dtype=torch.long)})


def test_aligned_fields_stay_aligned_and_unpaired_streams_shuffle_independently():
    batches = InMemoryBatches(paired(), 4, "cpu", seed=3)
    batch = batches.next_batch()
    assert torch.allclose(batch["target"], -batch["image"], atol=1e-6)  # the pair survives shuffling
    two = InMemoryBatches(unpaired(), 8, "cpu", seed=3)
    a_seen, b_seen = [], []
    for _ in range(6):
        batch = two.next_batch()
        a_seen += index_of(batch["image"])
        b_seen += index_of(batch["image_b"], 100)
    assert sorted(a_seen[:16]) == list(range(16)) and sorted(b_seen[:24]) == list(range(24))  # whole epochs
    assert two.epoch == 2 and two.streams[1].epoch == 1  # each stream counts its own epochs
    state = two.state_dict()
    assert {"order", "counters", "s1.order", "s1.counters"} <= set(state)
    copy = InMemoryBatches(unpaired(), 8, "cpu", seed=99)
    copy.load_state_dict(state)
    assert torch.equal(copy.next_batch()["image_b"], two.next_batch()["image_b"])


def test_data_shape_describes_every_field_and_survives_json():
    data = ItemData({"image": torch.zeros(4, 1, 7, 7, dtype=torch.uint8),
                     "target": torch.zeros(4, 1, 28, 28, dtype=torch.uint8)})
    shape = shape_of(data, image_size=14)  # the input doubles: so does its 4x larger target
    assert shape.fields["image"].shape == (1, 14, 14) and shape.fields["target"].shape == (1, 56, 56)
    again = DataShape(**json.loads(json.dumps(shape.to_json())))
    assert again == shape and again.fields["target"] == FieldShape("image", (1, 56, 56))
    legacy = DataShape(channels=1, image_size=28, num_classes=10)  # a format-2 checkpoint's shape
    assert set(legacy.fields) == {"image", "label"} and legacy.sample_shape == (1, 28, 28)


def test_masks_are_float_zero_one_and_resized_with_the_images():
    data = ItemData({"image": torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
                     "mask": torch.tensor([[[[1, 0, 0, 0]] * 4]] * 2, dtype=torch.uint8)})
    batch = InMemoryBatches(data, 2, "cpu", image_size=8).next_batch()
    assert batch["mask"].shape == (2, 1, 8, 8) and set(batch["mask"].unique().tolist()) == {0.0, 1.0}
    assert batch["mask"][0, 0, 0].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]


def test_subset_keeps_the_class_and_the_other_streams():
    small = ImageData(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.arange(10), 10).subset(
        torch.arange(10) < 5)
    assert isinstance(small, ImageData) and len(small) == 5 and small.labels.tolist() == [0, 1, 2, 3, 4]
    both = unpaired().subset(torch.tensor([0, 1]))
    assert len(both) == 2 and len(both.fields["image_b"]) == 24


# --------------------------------------------------------------------------- networks

class Flip(Translator):
    def __init__(self, shape) -> None:
        super().__init__(shape, shape)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x, domain=None):
        return torch.tanh(self.scale * x.flip(-1))


def test_networks_refuse_a_broken_set_in_one_line():
    t = Flip((1, 8, 8))
    cases = [
        (Networks(modules={"g": t}, optimizers={"g": ("g",)}), "must be a config key ending in _optim"),
        (Networks(modules={"g": t}, optimizers={"g_optim": ("g",), "d_optim": ("g",)}), "in two optimizer groups"),
        (Networks(modules={"g": t}, optimizers={"g_optim": ("h",)}), "names module 'h'"),
        (Networks(modules={"g": t}, optimizers={"g_optim": ("g",)}, export=("x",)), "export names module 'x'"),
        (Networks(modules={"Bad-Name": t}, optimizers={"g_optim": ("Bad-Name",)}), "module name 'Bad-Name'"),
        (Networks(modules={"g": t}, optimizers={}), "no optimizer groups"),
    ]
    for nets, message in cases:
        with pytest.raises(ComponentUnavailableError, match=message):
            nets.validate("m")


def test_the_classic_pair_is_still_networks_of_two():
    nets = Networks(nn.Linear(1, 1), nn.Linear(1, 1))
    assert list(nets) == ["generator", "discriminator"]
    assert nets.optimizers == {"g_optim": ("generator",), "d_optim": ("discriminator",)}
    assert nets.export == () and nets.group_of("discriminator") == "d_optim"
    named = Networks(modules={"g_ab": Flip((1, 4, 4)), "d_a": nn.Linear(1, 1)},
                     optimizers={"g_optim": ("g_ab",), "d_optim": ("d_a",)})
    assert named.export == ("g_ab",) and not named.is_pair


def test_frozen_restores_each_parameter_flag(manager, tmp_path):
    trainer = tiny_trainer(manager, tmp_path)
    first = next(trainer.modules["discriminator"].parameters())
    first.requires_grad_(False)  # a parameter its model keeps fixed
    with trainer.frozen("discriminator"):
        assert not any(p.requires_grad for p in trainer.modules["discriminator"].parameters())
    flags = [p.requires_grad for p in trainer.modules["discriminator"].parameters()]
    assert flags[0] is False and all(flags[1:])


# --------------------------------------------------------------------------- a third party's multi-network family

class Doubler(Translator):
    def __init__(self, shape) -> None:
        super().__init__(shape, shape)
        self.net = nn.Conv2d(shape[0], shape[0], 3, padding=1)

    def forward(self, x, domain=None):
        return torch.tanh(self.net(x))


class PatchD(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Conv2d(2 * channels, 1, 4, 2, 1)

    def forward(self, x, y):
        return self.net(torch.cat([x, y], dim=1))


class PairOptions(BaseModel):
    lambda_l1: float = Field(10.0, ge=0, description="weight of the L1 term")


class PairAlgorithm(Algorithm):
    """D on (x, y) vs (x, G(x)); G with adversarial + lambda_l1 * L1; a step counter as state."""

    def setup(self, t):
        self.calls = torch.zeros((), dtype=torch.int64)

    def step(self, t):
        batch = t.batch()
        x, y = batch["image"], batch["target"]
        fake = t.net("generator")(x)
        real_logits = t.net("discriminator")(x, y).float()
        fake_logits = t.net("discriminator")(x, fake.detach()).float()
        d_loss = t.loss.d_loss(real_logits, fake_logits)
        t.update(d_loss, "d_optim")
        with t.frozen("discriminator"):
            g_loss = (generator_term(t.loss, t.net("discriminator")(x, fake).float(), real_logits.detach())
                      + self.options.lambda_l1 * F.l1_loss(fake, y))
            t.update(g_loss, "g_optim")
        self.calls += 1
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def state_dict(self):
        return {"calls": self.calls.clone()}

    def load_state_dict(self, state):
        self.calls = state["calls"].clone()


def _pair_build(arch, data):
    shape = data.fields["image"].shape
    return Networks(modules={"generator": Doubler(shape), "discriminator": PatchD(shape[0])},
                    optimizers={"g_optim": ("generator",), "d_optim": ("discriminator",)})


def _oneway_build(arch, data):
    nets = _pair_build(arch, data)
    return Networks(modules={"translator": nets["generator"], "critic": nets["discriminator"]},
                    optimizers={"g_optim": ("translator",), "d_optim": ("critic",)})


def _pair_data(data_dir, split="train", image_size=None):
    return paired(32, 8) if split == "train" else paired(8, 8)


class PairPlugin:
    @hookimpl
    def ganzoo_models(self):
        yield ModelSpec(name="pairs", summary="a tiny paired translator", build=_pair_build,
                        algorithm="pairs:pairs", fields=("target",), default_dataset="pairs:pairs",
                        task="image-to-image")
        yield ModelSpec(name="oneway", summary="names its modules otherwise", build=_oneway_build,
                        algorithm="pairs:pairs", default_dataset="pairs:pairs", task="image-to-image")

    @hookimpl
    def ganzoo_algorithms(self):
        yield AlgorithmSpec(name="pairs", summary="D on pairs, G with L1", step=PairAlgorithm,
                            config_class=PairOptions, modules=("generator", "discriminator"), fields=("target",))

    @hookimpl
    def ganzoo_datasets(self):
        yield DatasetSpec(name="pairs", summary="tiny pairs", load=_pair_data, channels=1, image_size=8,
                          num_classes=4, fields=("target",))


@pytest.fixture
def pairs(manager):
    manager.register(PairPlugin(), name="pairs")
    return manager


def test_a_model_names_its_algorithm_dataset_and_options(pairs, tmp_path):
    cfg = resolve_config(pairs.registry, "pairs", sets=["algo.lambda_l1=3"])
    assert (cfg.algorithm, cfg.dataset, cfg.algo) == ("pairs:pairs", "pairs:pairs", {"lambda_l1": 3.0})
    assert resolve_config(pairs.registry, "dcgan").algorithm == "core:alternating"  # qualified in config.json
    with pytest.raises(ConfigError, match=r"invalid config value for 'algo.lambda_l1'"):
        resolve_config(pairs.registry, "pairs", sets=["algo.lambda_l1=-1"])
    with pytest.raises(ConfigError, match=r"unknown config key 'algo.nope'"):
        resolve_config(pairs.registry, "pairs", sets=["algo.nope=1"])
    with pytest.raises(ConfigError, match="algorithm 'alternating' has no options"):
        resolve_config(pairs.registry, "dcgan", sets=["algo.x=1"])


def test_a_multi_network_family_trains_resumes_bitwise_and_translates(pairs, tmp_path):
    flags = {"batch_size": 4, "device": "cpu", "out": str(tmp_path / "runs"), "checkpoint_every": 2}
    full = train(resolve_config(pairs.registry, "pairs", flags={**flags, "steps": 6, "run_name": "full"}),
                 pairs.registry, Reporter(enabled=False))
    train(resolve_config(pairs.registry, "pairs", flags={**flags, "steps": 3, "run_name": "part"}),
          pairs.registry, Reporter(enabled=False))
    from ganzoo.training.run import resume

    part = resume(pairs.registry, tmp_path / "runs" / "part", flags={"steps": 6}, reporter=Reporter(enabled=False))
    a, b = ckpt.resolve_checkpoint(full.path), ckpt.resolve_checkpoint(part.path)
    files = sorted(p.name for p in a.glob("*.safetensors"))
    assert files == ["discriminator.safetensors", "generator.safetensors", "train_state.safetensors"]
    for file in files:
        left, right = ckpt.load_tensors(a / file), ckpt.load_tensors(b / file)
        assert left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left), file
    assert int(ckpt.load_tensors(b / ckpt.STATE_FILE)["algo.calls"]) == 6  # the algorithm's state came back
    handle = ganzoo.load(full.path)
    assert handle.task == "translate" and not handle.can_sample
    out = handle.translate(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    assert out.shape == (2, 1, 8, 8) and out.abs().max() <= 1
    with pytest.raises(ConfigError, match="cannot sample; it can translate"):
        handle.sample(2)


def test_a_model_without_its_fields_or_algorithm_modules_is_refused_before_training(pairs, data_dir, tmp_path):
    flags = {"batch_size": 4, "device": "cpu", "out": str(tmp_path / "runs"), "steps": 1, "data_dir": str(data_dir)}
    with pytest.raises(ConfigError, match=r"model 'pairs' needs the data field\(s\) target; mnist has image, label"):
        train(resolve_config(pairs.registry, "pairs", dataset="mnist", flags=flags), pairs.registry,
              Reporter(enabled=False))
    with pytest.raises(ConfigError, match="algorithm 'pairs' trains the modules generator, discriminator; "
                                          "model 'oneway' has translator, critic"):
        train(resolve_config(pairs.registry, "oneway", flags=flags), pairs.registry, Reporter(enabled=False))
    assert not (tmp_path / "runs").exists()


def test_the_alternating_algorithm_refuses_a_translator_generator(pairs, tmp_path):
    cfg = resolve_config(pairs.registry, "pairs", sets=["algorithm=alternating"],
                         flags={"batch_size": 4, "device": "cpu", "out": str(tmp_path / "runs"), "steps": 1})
    with pytest.raises(ConfigError, match="algorithm 'alternating' samples G\\(z\\)"):
        train(cfg, pairs.registry, Reporter(enabled=False))


def test_extra_optimizer_groups_and_lr_for_every_group(manager, tmp_path):
    class WithEncoder(Generator):
        def __init__(self):
            super().__init__(2, (1, 4, 4))
            self.net = nn.Linear(2, 16)

        def forward(self, z, labels=None):
            return torch.tanh(self.net(z)).view(-1, 1, 4, 4)

    class E(Encoder):
        def __init__(self):
            super().__init__((1, 4, 4), 2)
            self.net = nn.Linear(16, 2)

        def forward(self, x):
            return self.net(x.flatten(1))

    def build(arch, data):
        from ganzoo.testing.kit import _TinyD

        return Networks(modules={"generator": WithEncoder(), "encoder": E(), "discriminator": _TinyD((1, 4, 4))},
                        optimizers={"g_optim": ("generator",), "e_optim": ("encoder",), "d_optim": ("discriminator",)})

    class Plugin:
        @hookimpl
        def ganzoo_models(self):
            yield ModelSpec(name="threes", summary="three groups", build=build,
                            defaults={"e_optim": {"lr": 1e-3, "betas": [0.5, 0.9]}})
            yield ModelSpec(name="forgetful", summary="declares e_optim without its settings", build=build)

    manager.register(Plugin(), name="threes")
    cfg = resolve_config(manager.registry, "threes", flags={"lr": 5e-4})
    assert cfg.optimizer("e_optim").lr == cfg.g_optim.lr == cfg.d_optim.lr == 5e-4
    assert cfg.optimizer("e_optim").betas == (0.5, 0.9)
    assert json.loads(cfg.model_dump_json())["e_optim"]["lr"] == 5e-4
    with pytest.raises(ConfigError, match="unknown config key 'f_optimizer'"):
        resolve_config(manager.registry, "threes", sets=["f_optimizer.lr=1"])
    images = ImageData(torch.zeros(8, 1, 4, 4, dtype=torch.uint8))
    from ganzoo.plugins.build import build_networks, check_algorithm_fits

    shape = shape_of(images)
    nets = build_networks(manager.registry, cfg, shape, torch.device("cpu"))
    check_algorithm_fits(manager.registry, cfg, nets, shape)
    forgetful = resolve_config(manager.registry, "forgetful")
    with pytest.raises(ConfigError, match="the run config has no e_optim"):
        check_algorithm_fits(manager.registry, forgetful, nets, shape)


# --------------------------------------------------------------------------- losses that need more

def test_relativistic_losses_by_hand():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([1.0, -1.0])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731 - softplus
    rgan = RelativisticLoss()
    assert rgan.d_loss(real, fake).item() == pytest.approx((sp(-(2 - 1)) + sp(-(0 + 1))) / 2)
    assert rgan.g_loss(fake, real_logits=real).item() == pytest.approx((sp(-(1 - 2)) + sp(-(-1 - 0))) / 2)
    ragan = RelativisticAverageLoss()
    mean_r, mean_f = 1.0, 0.0
    d = (sp(-(2 - mean_f)) + sp(-(0 - mean_f))) / 2 + (sp(1 - mean_r) + sp(-1 - mean_r)) / 2
    g = (sp(-(1 - mean_r)) + sp(-(-1 - mean_r))) / 2 + (sp(2 - mean_f) + sp(0 - mean_f)) / 2
    assert ragan.d_loss(real, fake).item() == pytest.approx(d)
    assert ragan.g_loss(fake, real_logits=real).item() == pytest.approx(g)
    with pytest.raises(ValueError, match="needs the real logits"):
        generator_term(ragan, fake)


@pytest.mark.parametrize("loss", ["rgan", "ragan"])
def test_relativistic_losses_train_with_the_alternating_step(cli, data_dir, tmp_path, loss):
    from .conftest import TINY

    result = cli("train", "dcgan", "--loss", loss, "--data-dir", str(data_dir), *TINY, "--run-name", loss)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "runs" / loss / "metrics.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(record["g_loss"]) and math.isfinite(record["d_loss"])


# --------------------------------------------------------------------------- reliability

def test_a_resume_keeps_the_better_best_of_checkpoints_best(manager, tmp_path):
    trainer = Trainer(tiny_trainer(manager, tmp_path), tmp_path, Reporter(enabled=False))
    trainer.checkpoints.best = ("fid[x]", 9.0)
    trainer.checkpoints.save()  # step 0 records best 9.0
    (tmp_path / "checkpoints" / "best.json").write_text(json.dumps({"step": 40, "fid[x]": 2.5}) + "\n")
    fresh = Trainer(tiny_trainer(manager, tmp_path), tmp_path, Reporter(enabled=False))
    fresh.checkpoints.load(tmp_path / "checkpoints" / "step-0000000")
    assert fresh.checkpoints.best == ("fid[x]", 2.5)  # a later worse score (say 5.0) can no longer replace it


def test_a_rollback_leaves_no_duplicate_metrics_lines(manager, data_dir, tmp_path, monkeypatch):
    from .test_resume import _train_with_nans

    _, _, run = _train_with_nans(manager, data_dir, tmp_path, monkeypatch, bad_calls=[5], log_every=1)
    result = run()
    steps = [r["step"] for r in result.metrics() if "d_loss" in r]
    assert steps == list(range(1, 9))


def test_loading_a_model_leaves_the_callers_random_state_alone(cli, data_dir, tmp_path, monkeypatch):
    from .conftest import TINY

    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "r").exit_code == 0
    seeded = []
    torch.manual_seed(11)
    expected = torch.rand(4)
    torch.manual_seed(11)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: seeded.append(seed))
    ganzoo.load(tmp_path / "runs" / "r").sample(2, seed=0)
    assert torch.equal(torch.rand(4), expected) and seeded == []  # no CUDA generator was reseeded either


def test_bench_counts_the_batches_an_algorithm_consumes(manager):
    from ganzoo.training.bench import bench

    result = bench(manager.registry, "dcgan", loss="hinge", device="cpu", batch_size=8, steps=2, warmup=1,
                   sets=["n_critic=3", "arch.ngf=4", "arch.ndf=4", "arch.latent_dim=4"])
    assert result["batches_per_step"] == 3
    assert result["images_per_sec"] == pytest.approx(8 * 3 / (result["ms_per_step"]["median"] / 1e3), rel=0.02)
