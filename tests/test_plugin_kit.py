"""The conformance kit (ganzoo.testing, `ganzoo plugin check`): built-ins pass, and
broken components fail with the component and the problem named."""

from __future__ import annotations

import json
import math
import types

import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganzoo import hookimpl
from ganzoo.data import ImageData
from ganzoo.errors import ConfigError, DataUnavailableError, UnknownComponentError
from ganzoo.losses import Loss
from ganzoo.networks import Discriminator, Generator, Networks
from ganzoo.specs import AlgorithmSpec, DatasetSpec, LossSpec, MetricSpec, ModelSpec
from ganzoo.testing import Report, assert_plugin_conforms, check_component, check_loss, check_model, check_plugin

from .conftest import BUILTIN_PLUGINS


def plugin(**hooks) -> types.SimpleNamespace:
    ns = types.SimpleNamespace()
    for name, value in hooks.items():
        def impl(value=value):
            return value
        impl.__name__ = name
        setattr(ns, name, hookimpl(impl))
    return ns


# -- a small, correct model and some ways to break it ----------------------------------------

class TinyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: int = Field(16, description="hidden units")


class TinyG(Generator):
    def __init__(self, shape, hidden, num_classes=None, flaw=None):
        super().__init__(8, shape, num_classes)
        self.flaw = flaw
        self.net = nn.Sequential(nn.Linear(8 + (num_classes or 0), hidden), nn.ReLU(),
                                 nn.Linear(hidden, math.prod(shape)), nn.Tanh())
        if flaw == "hidden-state":
            self.offset = torch.randn(1)  # a plain attribute: not in state_dict

    def forward(self, z, labels=None):
        if self.num_classes:
            one_hot = nn.functional.one_hot(labels, self.num_classes).float()
            z = torch.cat([z, one_hot * 0 if self.flaw == "ignores-labels" else one_hot], dim=1)
        x = self.net(z).view(-1, *self.out_shape)
        if self.flaw == "wrong-shape":
            return x[..., :-1]
        if self.flaw == "unbounded":
            return x * 3
        if self.flaw == "hidden-state":
            return x * 0.5 + self.offset.tanh() * 0.5
        return x


class TinyD(Discriminator):
    def __init__(self, shape, hidden, flaw=None):
        super().__init__(shape)
        self.flaw = flaw
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, x, labels=None):
        out = self.net(x)
        return out if self.flaw == "column" else out.flatten()


def tiny_build(arch, data, flaw=None, conditional=False):
    shape = data.sample_shape
    g = TinyG(shape, arch.hidden, data.num_classes if conditional else None, flaw)
    if flaw == "unseeded":  # draws weights from its own generator: two builds differ
        with torch.no_grad():
            for p in g.parameters():
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(torch.seed())) * 0.1)
    return Networks(g, TinyD(shape, arch.hidden, flaw))


def tiny_model(name, flaw=None, conditional=False, **spec):
    def build(arch, data):
        return tiny_build(arch, data, flaw, conditional=conditional)

    return ModelSpec(name=name, summary=f"tiny model ({flaw or 'correct'})", build=build,
                     config_class=spec.pop("config_class", TinyConfig), **spec)


def kit_manager(manager, name, **hooks):
    manager.register(plugin(**hooks), name=name)
    return manager


def statuses(report: Report) -> dict[str, str]:
    return {f"{r.component} {r.check}": r.status for r in report.results}


# -- the built-ins ---------------------------------------------------------------------------

def test_a_builtin_model_plugin_passes_with_every_check_run(manager):
    report = check_plugin("gan", manager=manager, losses=["bce", "wgan-gp"])
    assert report.ok, str(report)
    checks = statuses(report)
    for check in ("plugin gan loads", "plugin gan api", "plugin gan light import", "model gan:gan spec",
                  "model gan:gan build", "model gan:gan shapes", "model gan:gan conditional",
                  "model gan:gan safetensors", "model gan:gan determinism", "model gan:gan bf16 autocast",
                  "model gan:gan train[bce]", "model gan:gan train[wgan-gp]", "model gan:gan train[bce, points]",
                  "model gan:gan reload"):
        assert checks.get(check) == "pass", (check, str(report))
    shapes = next(r for r in report.results if r.check == "shapes")
    assert "image 1x8x8" in shapes.message and "image 3x64x64" in shapes.message and "points 2" in shapes.message
    assert "torch.compile" not in str(report)  # only on request


def test_the_core_plugin_passes(manager):
    report = check_plugin("core", manager=manager)
    assert report.ok, str(report)
    checks = statuses(report)
    assert checks["loss core:wgan-gp values"] == "pass"
    assert checks["metric core:fid values"] == "pass" and checks["metric core:modes values"] == "skip"
    assert checks["dataset core:mnist data"] == "skip"  # loading is opt-in
    assert checks["extractor core:inception-v3 loader"] == "pass"
    assert checks["algorithm core:alternating step"] == "pass"
    assert checks["algorithm core:alternating train"] == "pass"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILTIN_PLUGINS))
def test_every_builtin_plugin_conforms_with_every_loss(manager, name):
    report = assert_plugin_conforms(name, manager=manager)
    if name != "core":
        trained = [r.check for r in report.results if r.check.startswith("train[")]
        assert len(trained) >= 2, str(report)


@pytest.mark.slow
def test_conditional_models_pass_the_conditional_contract(manager):
    report = check_model("acgan:acgan", manager.registry, losses=["bce"])
    assert report.ok, str(report)
    conditional = next(r for r in report.results if r.check == "conditional")
    assert "generator 10 classes" in conditional.message and "auxiliary classifier 10 classes" in conditional.message


@pytest.mark.slow
def test_dcgan_is_checked_within_its_size_limits(manager):
    report = check_model("dcgan", manager.registry, losses=["bce"])
    assert report.ok, str(report)
    shapes = next(r for r in report.results if r.check == "shapes")
    assert shapes.message == ("ok at image 1x16x16, image 1x28x28, image 1x32x32, image 1x64x64, image 3x16x16, "
                              "image 3x28x28, image 3x32x32, image 3x64x64")


def test_sizes_the_build_refuses_are_skipped(manager):
    def powers_of_two(arch, data):
        if data.image_size & (data.image_size - 1):
            raise ConfigError(f"{data.image_size}px is not a power of two")
        return tiny_build(arch, data)

    kit_manager(manager, "picky", ganzoo_models=[
        ModelSpec(name="pow2", summary="powers of two only", build=powers_of_two, config_class=TinyConfig,
                  channels=(3,), max_image_size=32)])
    report = check_plugin("picky", manager=manager, losses=["bce"])
    assert report.ok, str(report)
    shapes = next(r for r in report.results if r.check == "shapes")
    assert shapes.message == "ok at image 3x8x8, image 3x16x16, image 3x32x32; refused 1: image 3x28x28"
    assert statuses(report)["model picky:pow2 train[bce]"] == "pass"


# -- failures name the component and the problem -------------------------------------------------

@pytest.mark.parametrize("flaw, check, message", [
    ("wrong-shape", "shapes", "generator made (3, 1, 8, 7), expected (3, 1, 8, 8)"),
    ("unbounded", "shapes", "images must be in [-1, 1]"),
    ("column", "shapes", "discriminator returned shape (3, 1), expected (3,)"),
    ("hidden-state", "safetensors", "different outputs"),
    ("unseeded", "determinism", "different generator weights"),
    ("ignores-labels", "conditional", "the generator ignores its labels"),
])
def test_a_broken_model_fails_the_right_check(manager, flaw, check, message):
    conditional = {"conditional": True, "needs_labels": True} if flaw == "ignores-labels" else {}
    kit_manager(manager, "broken", ganzoo_models=[tiny_model("flawed", flaw, **conditional)])
    report = check_plugin("broken", manager=manager, losses=["bce"])
    [failure] = report.failures
    assert failure.component == "model broken:flawed" and failure.check == check
    assert message in failure.message, failure.message
    with pytest.raises(AssertionError, match=f"model broken:flawed {check}"):
        report.raise_for_failures()


def test_a_correct_tiny_model_passes_and_trains_with_every_loss(manager):
    kit_manager(manager, "tidy", ganzoo_models=[tiny_model("tidy")])
    report = check_plugin("tidy", manager=manager)
    assert report.ok, str(report)
    trained = {r.check for r in report.results if r.check.startswith("train[")}
    assert trained == {f"train[{n}]" for n in ("bce", "minimax", "wgan", "wgan-gp", "hinge", "lsgan", "rgan", "ragan")}
    assert statuses(report)["plugin tidy api"] == "warn"  # declares no GANZOO_API: accepted, but noted


def test_spec_problems_are_named(manager):
    class Undocumented(BaseModel):
        width: int = 4

    kit_manager(manager, "specs", ganzoo_models=[
        tiny_model("undocumented", config_class=Undocumented),
        tiny_model("bad-defaults", defaults={"batch_size": -1}),
        tiny_model("no-such-loss", default_loss="nope"),
        tiny_model("sizes", min_image_size=64, max_image_size=16),
        tiny_model("unconditional", needs_labels=True),
    ])
    report = check_plugin("specs", manager=manager, losses=["bce"])
    failures = {r.component: r for r in report.failures}
    assert "options without a description (shown by `ganzoo info`): width" in failures["model specs:undocumented"].message
    assert "defaults: invalid config value for 'batch_size'" in failures["model specs:bad-defaults"].message
    assert "unknown loss 'nope'" in failures["model specs:no-such-loss"].message
    assert "min_image_size 64 > max_image_size 16" in failures["model specs:sizes"].message
    assert "needs_labels=True, but no network" in failures["model specs:unconditional"].message
    assert failures["model specs:unconditional"].check == "conditional"


def test_build_refusing_every_size_fails_and_an_unimportable_build_is_named(manager):
    def refuses(arch, data):
        raise ConfigError("no size suits me")

    kit_manager(manager, "picky", ganzoo_models=[
        ModelSpec(name="refuses", summary="refuses all", build=refuses),
        ModelSpec(name="missing", summary="nowhere", build="ganzoo_no_such_module.nets:build"),
    ])
    report = check_plugin("picky", manager=manager)
    failures = {(r.component, r.check): r.message for r in report.failures}
    assert "the build refused every shape tried" in failures[("model picky:refuses", "shapes")]
    assert "no size suits me" in failures[("model picky:refuses", "shapes")]
    assert "ModuleNotFoundError" in failures[("model picky:missing", "build")]


class VectorLoss(Loss):
    def d_loss(self, real, fake):
        return real - fake  # not a scalar

    def g_loss(self, fake):
        return -fake.mean()


class OverflowingLoss(Loss):
    def d_loss(self, real, fake):
        return -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()

    def g_loss(self, fake):
        return -torch.log(torch.sigmoid(fake)).mean()


class ClashingScores(Loss):
    def d_loss(self, real, fake):
        return fake.mean() - real.mean()

    def g_loss(self, fake):
        return -fake.mean()

    def scores(self, real, fake):
        return {"d_loss": real.mean()}


def test_broken_losses_fail_with_the_reason(manager):
    kit_manager(manager, "lossy", ganzoo_losses=[
        LossSpec(name="vector", summary="returns a vector", factory=VectorLoss),
        LossSpec(name="overflow", summary="log(sigmoid(x))", factory=OverflowingLoss),
        LossSpec(name="clash", summary="reuses a record key", factory=ClashingScores),
        LossSpec(name="not-a-loss", summary="returns a dict", factory=dict),
    ])
    report = check_plugin("lossy", manager=manager)
    failures = {r.component: r.message for r in report.failures}
    assert "d_loss must return a scalar tensor" in failures["loss lossy:vector"]
    assert "is inf on logits of scale 50" in failures["loss lossy:overflow"]
    assert "reuses the metrics record's keys: d_loss" in failures["loss lossy:clash"]
    assert "not a ganzoo.losses.Loss" in failures["loss lossy:not-a-loss"]
    assert check_loss("core:hinge", manager.registry).ok


def test_datasets_metrics_and_algorithms(manager):
    def good(data_dir, split, image_size=None):
        return ImageData(torch.zeros(5, 1, 8, 8, dtype=torch.uint8), torch.arange(5) % 2, 2)

    def wrong_channels(data_dir, split, image_size=None):
        return ImageData(torch.zeros(5, 3, 8, 8, dtype=torch.uint8))

    def missing(data_dir, split, image_size=None):
        raise DataUnavailableError("put the files in /nowhere")

    def nan_metric(real, fake):
        return {"score": float("nan")}

    kit_manager(manager, "misc",
                ganzoo_datasets=[
                    DatasetSpec(name="good", summary="fine", load=good, channels=1, image_size=8, num_classes=2),
                    DatasetSpec(name="wrong", summary="3 channels", load=wrong_channels, channels=1, image_size=8),
                    DatasetSpec(name="absent", summary="no files", load=missing, channels=1, image_size=8),
                    DatasetSpec(name="one-arg", summary="bad loader", load=lambda d: None, channels=1, image_size=8),
                ],
                ganzoo_metrics=[MetricSpec(name="nan", summary="NaN", compute=nan_metric, keys=("score",))],
                ganzoo_algorithms=[AlgorithmSpec(name="ghost", summary="missing step", step="ganzoo_nowhere:step")])
    report = check_plugin("misc", manager=manager, load_data=True)
    checks = statuses(report)
    assert checks["dataset misc:good data"] == "pass"
    assert checks["dataset misc:absent data"] == "skip"
    failures = {(r.component, r.check): r.message for r in report.failures}
    assert "items are 3x8x8; the spec says 1x8x8" in failures[("dataset misc:wrong", "data")]
    assert "load must accept (data_dir, split, image_size=None)" in failures[("dataset misc:one-arg", "loader signature")]
    assert "non-finite values on random features: score" in failures[("metric misc:nan", "values")]
    assert "ModuleNotFoundError" in failures[("algorithm misc:ghost", "step")]
    assert len(report.failures) == 4, str(report)


def test_check_component_by_name_and_unknown_plugins(manager):
    assert check_component("minimax", manager.registry).ok
    with pytest.raises(UnknownComponentError, match="unknown plugin 'nope'; installed plugins: acgan"):
        check_plugin("nope", manager=manager)


def test_a_plugin_that_failed_to_load_fails_the_check(manager):
    manager.register(types.SimpleNamespace(GANZOO_API=">=9"), name="future")
    report = check_plugin("future", manager=manager)
    [failure] = report.failures
    assert failure.check == "loads" and "incompatible" in failure.message and "upgrade ganzoo" in failure.message


def test_the_kit_leaves_the_global_random_state_alone(manager):
    kit_manager(manager, "tidy", ganzoo_models=[tiny_model("tidy", "unseeded")])  # even this one
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    report = check_model("tidy:tidy", manager.registry, losses=["bce"])
    assert torch.equal(torch.rand(3), expected)
    assert [r.check for r in report.failures] == ["determinism"]


# -- the CLI -----------------------------------------------------------------------------------

def test_plugin_check_command_exit_codes(cli, manager):
    kit_manager(manager, "tidy", ganzoo_models=[tiny_model("tidy")])
    kit_manager(manager, "broken", ganzoo_models=[tiny_model("flawed", "column")])
    ok = cli("plugin", "check", "tidy", "--loss", "bce")
    assert ok.exit_code == 0, ok.output
    assert "PASS" in ok.stdout and "train[bce]" in ok.stdout and "FAIL" not in ok.stdout
    bad = cli("plugin", "check", "broken", "--loss", "bce")
    assert bad.exit_code == 1
    assert bad.stderr.strip() == "error: 1 check(s) failed in plugin broken: model broken:flawed: shapes"
    as_json = json.loads(cli("plugin", "check", "tidy", "broken", "-l", "bce", "--json").stdout)
    assert [r["plugin"] for r in as_json] == ["tidy", "broken"] and [r["ok"] for r in as_json] == [True, False]
    unknown = cli("plugin", "check", "nope")
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: unknown plugin 'nope'")


@pytest.mark.slow
def test_compile_smoke_test_on_request(manager):
    kit_manager(manager, "tidy", ganzoo_models=[tiny_model("tidy")])
    report = check_plugin("tidy", manager=manager, compile=True, losses=["bce"])
    assert statuses(report)["model tidy:tidy torch.compile"] == "pass", str(report)


def test_a_failed_shapes_check_lists_the_later_checks_as_skipped(manager):
    kit_manager(manager, "broken", ganzoo_models=[tiny_model("flawed", "wrong-shape")])
    report = check_plugin("broken", manager=manager, losses=["bce"])
    checks = statuses(report)
    assert checks["model broken:flawed shapes"] == "fail"
    later = {r.check: r for r in report.results if r.component == "model broken:flawed"
             and r.check not in ("spec", "build", "shapes")}
    assert set(later) == {"conditional", "safetensors", "determinism", "bf16 autocast", "train", "resume", "reload"}
    assert all(r.status == "skip" and r.message == "not run: the shapes check failed" for r in later.values())


def test_plugin_check_loads_data_from_data_dir(cli, data_dir):
    """`--load-data --data-dir` reads the files from the given folder (here the tiny MNIST)."""
    result = cli("plugin", "check", "core", "--load-data", "--data-dir", str(data_dir), "--json")
    assert result.exit_code == 0, result.output
    checks = {(r["component"], r["check"]): r for r in json.loads(result.stdout)[0]["results"]}
    assert checks[("dataset core:mnist", "data")]["status"] == "pass"
    assert checks[("dataset core:mnist", "data")]["message"].startswith("64 samples")
    assert checks[("dataset core:mnist-edges", "data")]["message"] == "64 samples; fields image, target, label"
    refused = cli("plugin", "check", "core", "--data-dir", str(data_dir))
    assert refused.exit_code == 2 and "--data-dir only applies with --load-data" in refused.stderr
