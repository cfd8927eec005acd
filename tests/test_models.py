"""What the image models trained by the classic alternating step (DCGAN and its relatives:
gan, cgan, acgan, wgan, sngan) share: every image shape, the conditional contract, what their
specs state and two training steps; and the light registration of every family. What is one
family's own is in ``tests/families/test_<family>.py``.

Every model is built through its registered spec (``resolve_config`` + ``build_networks``,
which also runs the core's contract check) at widths small enough to stay fast.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

import ganzoo
from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import split_outputs
from ganzoo.plugins.build import check_model_fits
from ganzoo.plugins.manager import PluginManager

from .conftest import BUILTIN_PLUGINS, build_tiny, register_builtins, tiny_arch

_registry = register_builtins(PluginManager(entry_points=False)).registry
PAIR_MODELS = sorted(entry.spec.name for entry in _registry.list("model")
                     if entry.spec.algorithm.split(":")[-1] == "alternating" and "image" in entry.spec.data_kinds)
"""The image models of the classic alternating step."""
IMAGE_SHAPES = [(1, 28), (3, 32), (3, 64)]


def labels_for(n: int, num_classes: int = 10) -> torch.Tensor:
    return torch.arange(n) % num_classes


# --- every model, every shape ---------------------------------------------------------

def test_the_classic_image_models_are_found():
    found = set(PAIR_MODELS)  # chosen: members and a non-member the derivation must get right
    assert {"dcgan", "gan", "acgan"} <= found and "cyclegan" not in found


@pytest.mark.parametrize("channels, size", IMAGE_SHAPES)
@pytest.mark.parametrize("model", PAIR_MODELS)
def test_models_build_for_image_shapes(manager, model, channels, size):
    nets = build_tiny(manager, model, DataShape(channels, size, 10))
    g, d = nets.generator, nets.discriminator
    z = g.sample_latent(4)
    labels = labels_for(4) if g.num_classes else None
    images = g(z, labels)
    assert images.shape == (4, channels, size, size)
    assert images.abs().max() <= 1  # tanh output, like the data
    logits, class_logits = split_outputs(d(images, labels if d.num_classes else None))
    assert logits.shape == (4,)
    assert (class_logits is not None) == (model == "acgan")


@pytest.mark.parametrize("model", [m for m in PAIR_MODELS if "points" not in _registry.get("model", m).spec.data_kinds])
def test_conv_models_refuse_points(manager, model):
    with pytest.raises(ConfigError, match="points data"):
        check_model_fits(manager.registry.get("model", model).spec, DataShape(point_dim=2), labelled=True)


# --- conditional models ---------------------------------------------------------------

@pytest.mark.parametrize("model", ["cgan", "acgan"])
def test_conditional_generators_use_their_labels(manager, model):
    g = build_tiny(manager, model, DataShape(1, 28, 10)).generator.eval()
    assert g.num_classes == 10
    z = g.sample_latent(1).expand(10, -1)  # one z, every class
    with torch.no_grad():
        images = g(z, torch.arange(10))
    assert (images[1:] - images[0]).abs().flatten(1).amax(dim=1).min() > 1e-4
    with pytest.raises(ValueError, match="needs labels"):
        g(z)


@pytest.mark.parametrize("model", ["cgan", "acgan"])
def test_conditional_models_need_labelled_data(manager, model):
    spec = manager.registry.get("model", model).spec
    assert spec.needs_labels
    with pytest.raises(ConfigError, match="needs a labelled dataset"):
        check_model_fits(spec, DataShape(1, 28, None), labelled=False)
    with pytest.raises(ConfigError, match="needs a labelled dataset"):
        build_tiny(manager, model, DataShape(1, 28, None))


# --- registration ---------------------------------------------------------------------

def test_every_classic_model_states_what_it_needs(manager):
    for name in PAIR_MODELS:
        spec = manager.registry.get("model", name).spec
        assert spec.summary and "arXiv:" in spec.paper
        assert spec.config_class is not None
        if name == "gan":
            assert spec.data_kinds == ("image", "points") and spec.min_image_size is None
        else:
            assert spec.data_kinds == ("image",) and spec.min_image_size == 16


def test_registration_modules_do_not_import_torch():
    names = ", ".join(module.__name__ for module in BUILTIN_PLUGINS.values())
    code = f"import sys, {names}; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("model, dataset", [(m, "mnist") for m in PAIR_MODELS] + [("gan", "toy-ring")])
def test_each_model_trains_two_steps(manager, data_dir, model, dataset):
    run = ganzoo.train(model, dataset=dataset, steps=2, batch_size=8, n_critic=1, arch=tiny_arch(manager.registry, model),
                       device="cpu", data_dir=str(data_dir), run_name=model, progress=False)
    assert run.step == 2
    assert math.isfinite(run.last_metrics["d_loss"]) and math.isfinite(run.last_metrics["g_loss"])
