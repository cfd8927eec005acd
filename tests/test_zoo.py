"""Every model with every loss: it trains (finite losses, weights move) or is refused
before training with a reason. Plus the loss-carried settings and the GP/batch-norm rule."""

from __future__ import annotations

import math

import pytest
import torch

import ganzoo
from ganzoo.config import resolve_config
from ganzoo.errors import ConfigError
from ganzoo.plugins.manager import PluginManager

from .conftest import BUILTIN_PLUGINS, register_builtins

_catalog = PluginManager(entry_points=False, warn=lambda line: None)
register_builtins(_catalog)
MODELS = [e.name for e in _catalog.registry.list("models")]
LOSSES = [e.name for e in _catalog.registry.list("losses")]
EXPECTED_REFUSALS: set[tuple[str, str]] = set()
"""(model, loss) pairs refused before training; today every pair trains."""
SMALL_ARCH = {"ngf": 8, "ndf": 8, "latent_dim": 8, "hidden": 32, "embed_dim": 8, "n_blocks": 1}
SWEEP_ALGO = {"vqgan": {"disc_start": 0}, "relgan": {"pretrain_steps": 0}}
"""Algorithm options the sweep sets per model: VQ-GAN's discriminator starts after a set step
(the paper's) and RelGAN's adversarial phase after its MLE pre-training; two steps must train
the discriminator too."""


def small_arch(model: str) -> dict:
    fields = _catalog.registry.get("model", model).spec.config_class.model_fields
    return {k: v for k, v in SMALL_ARCH.items() if k in fields}


def weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_the_zoo_is_complete():
    """Every built-in plugin but the core brings a model; the core brings the losses and datasets."""
    assert {entry.plugin for entry in _catalog.registry.list("models")} == set(BUILTIN_PLUGINS) - {"core"}
    assert set(LOSSES) == {"bce", "minimax", "wgan", "wgan-gp", "hinge", "lsgan", "rgan", "ragan"}
    assert set(_catalog.registry.names("datasets")) >= {
        "mnist", "fashion-mnist", "cifar10", "image-folder", "toy-ring", "toy-grid", "stacked-mnist"}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_with_every_loss(manager, data_dir, tmp_path, model, loss):
    """Each model on its default dataset (built from the tiny MNIST files) with its default
    algorithm, assembled as ``ganzoo train`` assembles it: two steps give finite stats and move
    every trained module's weights."""
    from ganzoo.training.assemble import assemble

    registry = manager.registry
    try:
        cfg = resolve_config(registry, model, loss=loss, flags={
            "batch_size": 8, "device": "cpu", "arch": small_arch(model), "data_dir": str(data_dir),
            **({"algo": SWEEP_ALGO[model]} if model in SWEEP_ALGO else {})})
        trainer = assemble(cfg, registry, run_dir=tmp_path)
    except ConfigError as refused:
        assert (model, loss) in EXPECTED_REFUSALS, f"unexpectedly refused: {refused}"
        assert loss in str(refused)  # a reason naming the loss (or a setting it brings)
        return
    assert (model, loss) not in EXPECTED_REFUSALS, "expected a refusal before training"
    nets = trainer.nets
    trained = [name for name in nets.modules if nets.group_of(name)]
    before = {name: weights(nets.modules[name]) for name in trained}
    for _ in range(2):
        stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values()), stats
    for name in trained:
        assert any(not torch.equal(a, b) for a, b in zip(before[name], weights(nets.modules[name]))), name
    if cfg.weight_clip:
        for name in nets.optimizers["d_optim"]:
            assert all(p.abs().max() <= cfg.weight_clip for p in nets.modules[name].parameters())


def test_loss_settings_are_recorded_and_shown(manager, cli):
    cfg = resolve_config(manager.registry, "dcgan", loss="wgan-gp")
    assert (cfg.gp, cfg.n_critic, cfg.g_optim.lr, cfg.d_optim.betas) == (10.0, 5, 1e-4, (0.0, 0.9))
    wgan = resolve_config(manager.registry, "dcgan", loss="wgan")
    assert (wgan.weight_clip, wgan.n_critic, wgan.d_optim.name, wgan.d_optim.lr) == (0.01, 5, "rmsprop", 5e-5)
    user = resolve_config(manager.registry, "dcgan", loss="wgan-gp", sets=["gp=5", "n_critic=2"])
    assert (user.gp, user.n_critic) == (5.0, 2)  # the user's values beat the loss's
    shown = cli("info", "wgan-gp", "--json")
    assert '"gp": 10.0' in shown.stdout and '"n_critic": 5' in shown.stdout


def test_batch_norm_critic_is_switched_to_layer_norm_under_a_penalty(manager):
    cfg = resolve_config(manager.registry, "dcgan", loss="wgan-gp")
    assert cfg.arch["d_norm"] == "layer" and "d_norm switched from batch to layer" in cfg.notes[0]
    r1 = resolve_config(manager.registry, "dcgan", sets=["r1=10"])
    assert r1.arch["d_norm"] == "layer"
    assert resolve_config(manager.registry, "dcgan").arch["d_norm"] == "batch"
    with pytest.raises(ConfigError, match="batch norm in the critic breaks the gradient penalty"):
        resolve_config(manager.registry, "dcgan", loss="wgan-gp", sets=["arch.d_norm=batch"])


def test_conditional_models_refuse_unlabelled_data(manager, cli, tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(8):
        Image.new("RGB", (20, 20), (i * 30, 0, 0)).save(folder / f"{i}.png")
    for model in ("cgan", "acgan"):
        result = cli("train", model, "--dataset", "image-folder", "--data-dir", str(folder),
                     "--image-size", "16", "--steps", "1", "--batch-size", "4")
        assert result.exit_code == 2
        assert f"model '{model}' is conditional and needs a labelled dataset" in result.stderr


def test_image_models_refuse_point_data(cli):
    result = cli("train", "dcgan", "--dataset", "toy-ring", "--steps", "1")
    assert result.exit_code == 2 and "trains on image data; toy-ring is points data" in result.stderr


def test_gan_learns_the_ring_layout_quickly(manager):
    """Not a quality benchmark: the fully connected GAN on 2-D points trains end to end."""
    run = ganzoo.train("gan", dataset="toy-ring", steps=3, batch_size=64, device="cpu",
                       arch=small_arch("gan"), progress=False, run_name="ring")
    points = run.load().sample(100, seed=0)
    assert points.shape == (100, 2) and torch.isfinite(points).all()
    assert (run.path / "samples" / "step-0000003.png").is_file()


def test_conditional_sampling_per_class_and_single_label(cli, data_dir, tmp_path):
    from .test_cli import png_size

    args = ["--data-dir", str(data_dir), "--steps", "2", "--batch-size", "8", "--device", "cpu",
            "--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.latent_dim=8"]
    assert cli("train", "cgan", *args, "--run-name", "c").exit_code == 0
    run = tmp_path / "runs" / "c"
    assert png_size(run / "samples" / "step-0000002.png") == (6 * 30 + 2, 10 * 30 + 2)  # 10 rows of 6
    assert cli("sample", str(run), "-n", "20", "--out", "classes.png").exit_code == 0
    assert png_size(tmp_path / "classes.png") == (2 * 30 + 2, 10 * 30 + 2)  # one row per class
    single = cli("sample", str(run), "-n", "4", "--label", "3", "--out", "threes.png")
    assert single.exit_code == 0 and png_size(tmp_path / "threes.png") == (2 * 30 + 2, 2 * 30 + 2)
    g = ganzoo.load(run)
    same_z = torch.equal(g.sample(4, labels=3, seed=1), g.sample(4, labels=3, seed=1))
    other_class = not torch.equal(g.sample(4, labels=3, seed=1), g.sample(4, labels=4, seed=1))
    assert same_z and other_class
    bad = cli("sample", str(run), "--label", "10", "--out", "x.png")
    assert bad.exit_code == 2 and "class indices in 0..9" in bad.stderr
    unconditional = cli("train", "dcgan", *args, "--run-name", "d")
    assert unconditional.exit_code == 0
    refused = cli("sample", str(tmp_path / "runs" / "d"), "--label", "1", "--out", "y.png")
    assert refused.exit_code == 2 and "not conditional" in refused.stderr


def test_penalties_and_models_that_cannot_leave_batch_norm(manager):
    from pydantic import BaseModel, ConfigDict
    from typing import Literal

    from ganzoo import hookimpl
    from ganzoo.specs import ModelSpec

    class BatchOnly(BaseModel):
        model_config = ConfigDict(extra="forbid")
        d_norm: Literal["batch", "none"] = "batch"

    class Plugin:
        @hookimpl
        def ganzoo_models(self):
            yield ModelSpec(name="bn-only", summary="x", build="x.y:z", config_class=BatchOnly)
            yield ModelSpec(name="picky", summary="x", build="x.y:z", losses=("core:hinge",),
                            default_loss="core:hinge")

    manager.register(Plugin(), name="odd")
    with pytest.raises(ConfigError, match="cannot use the gradient penalty"):
        resolve_config(manager.registry, "bn-only", loss="wgan-gp")
    assert resolve_config(manager.registry, "picky").loss == "core:hinge"
    assert resolve_config(manager.registry, "picky", loss="hinge").loss == "core:hinge"
    with pytest.raises(ConfigError, match="does not train with loss 'bce'; use one of core:hinge"):
        resolve_config(manager.registry, "picky", loss="bce")


def test_specs_with_bad_data_kinds_or_default_loss_are_refused():
    from ganzoo.specs import ModelSpec

    with pytest.raises(ValueError, match="data_kinds"):
        ModelSpec(name="m", summary="x", build="a.b:c", data_kinds=("point",)).validate()
    with pytest.raises(ValueError, match="default_loss 'bce' is not in its losses"):
        ModelSpec(name="m", summary="x", build="a.b:c", losses=("hinge",)).validate()


def test_an_auxiliary_classifier_needs_labels_even_if_the_spec_forgets(manager, cli, tmp_path):
    from PIL import Image

    from ganzoo import hookimpl
    from ganzoo.networks import Networks
    from ganzoo.specs import ModelSpec
    from ganzoo_plugins.acgan.nets import AuxClassifierDiscriminator
    from ganzoo_plugins.layers.dcgan import DCGANGenerator

    def build(arch, data):
        return Networks(DCGANGenerator(8, data.channels, data.image_size, 8),
                        AuxClassifierDiscriminator(data.channels, data.image_size, 8, num_classes=3))

    class Plugin:
        @hookimpl
        def ganzoo_models(self):
            yield ModelSpec(name="sloppy-ac", summary="x", build=build)

    manager.register(Plugin(), name="sloppy")
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.new("L", (16, 16), i * 60).save(folder / f"{i}.png")
    result = cli("train", "sloppy-ac", "--dataset", "image-folder", "--data-dir", str(folder),
                 "--image-size", "16", "--steps", "1", "--batch-size", "2")
    assert result.exit_code == 2 and "needs a labelled dataset" in result.stderr
    assert not (tmp_path / "runs").exists()
