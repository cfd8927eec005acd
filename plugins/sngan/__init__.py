"""SNGAN (Miyato et al. 2018): spectral normalisation in the discriminator, hinge loss."""

from __future__ import annotations

from ganzoo import hookimpl
from ganzoo.specs import ModelSpec

from ..layers.options import ConvBackboneConfig

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

ADAM_SNGAN = {"name": "adam", "lr": 2e-4, "betas": (0.0, 0.9)}


class SNGANConfig(ConvBackboneConfig):
    """SNGAN options (``--set arch.KEY=VALUE``); D has no normalisation layers, only spectral norm."""


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="sngan",
        summary="Spectrally normalised GAN: DCGAN generator, D with spectral norm on every layer, hinge loss",
        paper="Miyato, Kataoka, Koyama & Yoshida 2018, Spectral Normalization for Generative "
              "Adversarial Networks (arXiv:1802.05957)",
        build="ganzoo_plugins.sngan.nets:build",
        config_class=SNGANConfig,
        default_loss="hinge",
        min_image_size=16,
        defaults={"batch_size": 64, "g_optim": ADAM_SNGAN, "d_optim": ADAM_SNGAN},
    )
