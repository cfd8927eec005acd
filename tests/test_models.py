"""The model plugins beyond DCGAN: gan, cgan, acgan, wgan and sngan.

Every model is built through its registered spec (``resolve_config`` + ``build_networks``,
which also runs the core's contract check) at widths small enough to stay fast.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch import nn

import ganzoo
import ganzoo_plugins.acgan
import ganzoo_plugins.cgan
import ganzoo_plugins.gan
import ganzoo_plugins.sngan
import ganzoo_plugins.wgan
from ganzoo.config import resolve_config
from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import split_outputs
from ganzoo.training.run import build_networks, check_model_fits

NEW_MODELS = {"gan": ganzoo_plugins.gan, "cgan": ganzoo_plugins.cgan, "acgan": ganzoo_plugins.acgan,
              "wgan": ganzoo_plugins.wgan, "sngan": ganzoo_plugins.sngan}
CONV_TINY = {"ngf": 8, "ndf": 8, "latent_dim": 16}
TINY_ARCH = {"gan": {"hidden": 32, "depth": 2, "latent_dim": 16}, "cgan": CONV_TINY,
             "acgan": CONV_TINY, "wgan": CONV_TINY, "sngan": CONV_TINY, "dcgan": CONV_TINY}
IMAGE_SHAPES = [(1, 28), (3, 32), (3, 64)]
CPU = torch.device("cpu")
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@pytest.fixture
def models(manager):
    """``manager`` with the five model plugins registered in-process (once)."""
    for name, module in NEW_MODELS.items():
        if name not in manager.plugins:
            manager.register(module, name=name)
    return manager


def build(manager, model: str, shape: DataShape, **arch):
    """The model's networks for ``shape`` (tiny widths unless ``arch`` says otherwise)."""
    cfg = resolve_config(manager.registry, model, flags={"arch": {**TINY_ARCH[model], **arch}, "device": "cpu"})
    return build_networks(manager.registry, cfg, shape, CPU)


def labels_for(n: int, num_classes: int = 10) -> torch.Tensor:
    return torch.arange(n) % num_classes


def has(module: nn.Module, *types: type) -> bool:
    return any(isinstance(m, types) for m in module.modules())


# --- every model, every shape ---------------------------------------------------------

@pytest.mark.parametrize("channels, size", IMAGE_SHAPES)
@pytest.mark.parametrize("model", list(NEW_MODELS))
def test_models_build_for_image_shapes(models, model, channels, size):
    nets = build(models, model, DataShape(channels, size, 10))
    g, d = nets.generator, nets.discriminator
    z = g.sample_latent(4)
    labels = labels_for(4) if g.num_classes else None
    images = g(z, labels)
    assert images.shape == (4, channels, size, size)
    assert images.abs().max() <= 1  # tanh output, like the data
    logits, class_logits = split_outputs(d(images, labels if d.num_classes else None))
    assert logits.shape == (4,)
    assert (class_logits is not None) == (model == "acgan")


def test_gan_generates_unbounded_points(models):
    shape = DataShape(point_dim=2)
    check_model_fits(models.registry.get("model", "gan").spec, shape, labelled=False)
    nets = build(models, "gan", shape)
    points = nets.generator(nets.generator.sample_latent(8))
    assert points.shape == (8, 2) and not has(nets.generator, nn.Tanh)  # linear output
    assert nets.discriminator(points).shape == (8,)


@pytest.mark.parametrize("model", ["cgan", "acgan", "wgan", "sngan", "dcgan"])
def test_conv_models_refuse_points(models, model):
    with pytest.raises(ConfigError, match="points data"):
        check_model_fits(models.registry.get("model", model).spec, DataShape(point_dim=2), labelled=True)


def test_gan_defaults_follow_goodfellow_and_dcgan(models):
    cfg = resolve_config(models.registry, "gan")
    assert cfg.loss == "core:bce"
    assert cfg.g_optim.name == "adam" and cfg.g_optim.lr == 2e-4 and cfg.g_optim.betas == (0.5, 0.999)
    nets = build(models, "gan", DataShape(1, 28, None), **cfg.arch)
    d = nets.discriminator
    assert not has(d, *BATCH_NORMS) and not has(d, nn.Sigmoid)
    assert any(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in d.modules())
    g_norm = build(models, "gan", DataShape(point_dim=2), g_norm="batch").generator
    assert has(g_norm, nn.BatchNorm1d)


# --- conditional models ---------------------------------------------------------------

@pytest.mark.parametrize("model", ["cgan", "acgan"])
def test_conditional_generators_use_their_labels(models, model):
    g = build(models, model, DataShape(1, 28, 10)).generator.eval()
    assert g.num_classes == 10
    z = g.sample_latent(1).expand(10, -1)  # one z, every class
    with torch.no_grad():
        images = g(z, torch.arange(10))
    assert (images[1:] - images[0]).abs().flatten(1).amax(dim=1).min() > 1e-4
    with pytest.raises(ValueError, match="needs labels"):
        g(z)


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_cgan_discriminator_uses_the_labels(models, conditioning):
    d = build(models, "cgan", DataShape(3, 32, 10), conditioning=conditioning).discriminator.eval()
    assert d.num_classes == 10
    x = torch.randn(1, 3, 32, 32).clamp(-1, 1).expand(10, -1, -1, -1)  # one image, every label
    with torch.no_grad():
        logits = d(x, torch.arange(10))
    assert logits.shape == (10,) and (logits[1:] - logits[0]).abs().min() > 1e-6


def test_cgan_conditioning_option_is_checked(models):
    with pytest.raises(ConfigError, match="arch.conditioning"):
        resolve_config(models.registry, "cgan", sets=["arch.conditioning=hadamard"])


def test_acgan_discriminator_classifies_and_ignores_labels(models):
    d = build(models, "acgan", DataShape(1, 28, 10), aux_weight=0.5).discriminator.eval()
    assert d.aux_classes == 10 and d.aux_weight == 0.5 and d.num_classes is None
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        logits, class_logits = d(x)
        assert torch.equal(logits, d(x, labels_for(4))[0])
    assert logits.shape == (4,) and class_logits.shape == (4, 10)


@pytest.mark.parametrize("model", ["cgan", "acgan"])
def test_conditional_models_need_labelled_data(models, model):
    spec = models.registry.get("model", model).spec
    assert spec.needs_labels
    with pytest.raises(ConfigError, match="needs a labelled dataset"):
        check_model_fits(spec, DataShape(1, 28, None), labelled=False)
    with pytest.raises(ConfigError, match="needs a labelled dataset"):
        build(models, model, DataShape(1, 28, None))


# --- critic normalisation -------------------------------------------------------------

def batch_independent(d: nn.Module, shape: tuple[int, ...]) -> bool:
    """In train mode, is each sample's score independent of the rest of its batch?"""
    d.train()
    x = torch.randn(6, *shape)
    with torch.no_grad():
        return torch.allclose(d(x)[:2], d(x[:2]), atol=1e-5)


@pytest.mark.parametrize("d_norm", ["layer", "none"])
def test_dcgan_d_norm_removes_batch_norm_from_the_discriminator(models, d_norm):
    nets = build(models, "dcgan", DataShape(3, 32, None), d_norm=d_norm)
    d = nets.discriminator
    assert not has(d, *BATCH_NORMS) and has(nets.generator, nn.BatchNorm2d)
    assert has(d, nn.GroupNorm) == (d_norm == "layer")
    assert all(m.num_groups == 1 for m in d.modules() if isinstance(m, nn.GroupNorm))  # C, H, W
    assert batch_independent(d, (3, 32, 32))


def test_dcgan_keeps_batch_norm_and_its_size_by_default(models):
    cfg = resolve_config(models.registry, "dcgan")
    assert cfg.arch["d_norm"] == "batch"
    d = build(models, "dcgan", DataShape(3, 64, None), **cfg.arch).discriminator
    assert sum(p.numel() for p in d.parameters()) == 2_765_568
    assert has(d, nn.BatchNorm2d) and not batch_independent(d, (3, 64, 64))


def test_wgan_critic_has_no_batch_norm(models):
    cfg = resolve_config(models.registry, "wgan")
    assert cfg.loss == "core:wgan" and cfg.arch["d_norm"] == "layer"
    for d_norm in ("layer", "none"):
        d = build(models, "wgan", DataShape(1, 28, None), d_norm=d_norm).discriminator
        assert not has(d, *BATCH_NORMS) and batch_independent(d, (1, 28, 28))
    with pytest.raises(ConfigError, match="arch.d_norm"):
        resolve_config(models.registry, "wgan", sets=["arch.d_norm=batch"])


def test_sngan_discriminator_is_spectrally_normalised(models):
    cfg = resolve_config(models.registry, "sngan")
    assert cfg.loss == "core:hinge" and "d_norm" not in cfg.arch
    assert cfg.d_optim.name == "adam" and cfg.d_optim.lr == 2e-4 and cfg.d_optim.betas == (0.0, 0.9)
    d = build(models, "sngan", DataShape(3, 32, None)).discriminator.train()
    assert not has(d, *BATCH_NORMS, nn.GroupNorm)
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    with torch.no_grad():
        for _ in range(5):  # each forward in train mode runs a power iteration
            d(torch.randn(4, 3, 32, 32))
        sigmas = [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() for m in layers]
    assert sigmas == pytest.approx([1.0] * len(layers), abs=0.02)


# --- registration ---------------------------------------------------------------------

def test_every_new_model_states_what_it_needs(models):
    for name in NEW_MODELS:
        spec = models.registry.get("model", name).spec
        assert spec.summary and "arXiv:" in spec.paper
        assert spec.config_class is not None
        if name == "gan":
            assert spec.data_kinds == ("image", "points") and spec.min_image_size is None
        else:
            assert spec.data_kinds == ("image",) and spec.min_image_size == 16


def test_registration_modules_do_not_import_torch():
    names = ", ".join(f"ganzoo_plugins.{name}" for name in ["dcgan", *NEW_MODELS])
    code = f"import sys, {names}; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("model, dataset", [(m, "mnist") for m in NEW_MODELS] + [("gan", "toy-ring")])
def test_each_model_trains_two_steps(models, data_dir, model, dataset):
    run = ganzoo.train(model, dataset=dataset, steps=2, batch_size=8, n_critic=1, arch=TINY_ARCH[model],
                       device="cpu", data_dir=str(data_dir), run_name=model, progress=False)
    assert run.step == 2
    assert math.isfinite(run.last_metrics["d_loss"]) and math.isfinite(run.last_metrics["g_loss"])
