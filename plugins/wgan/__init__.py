"""Wasserstein GAN (Arjovsky, Chintala & Bottou 2017) on the DCGAN backbone, with a critic
without batch norm so the same model serves WGAN-GP (``--loss wgan-gp``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt

from ganzoo import hookimpl
from ganzoo.specs import ModelSpec

from ..layers.options import MBSTD_HELP, ConvBackboneConfig

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""


class WGANConfig(ConvBackboneConfig):
    """WGAN options (``--set arch.KEY=VALUE``)."""

    d_norm: Literal["layer", "none"] = Field(
        "layer", description="normalisation in the critic: layer (GroupNorm(1, C), per sample) or "
                             "none; never batch norm, which couples the samples of a batch")
    mbstd: NonNegativeInt = Field(0, description=MBSTD_HELP)


@hookimpl
def ganzoo_models():
    # Optimizers and n_critic (RMSprop 5e-5, 5 critic steps; Adam 1e-4 for wgan-gp) come from the loss.
    yield ModelSpec(
        name="wgan",
        summary="Wasserstein GAN: DCGAN generator, critic without batch norm (--loss wgan-gp for WGAN-GP)",
        paper="Arjovsky, Chintala & Bottou 2017, Wasserstein GAN (arXiv:1701.07875); "
              "WGAN-GP: Gulrajani et al. 2017, Improved Training of Wasserstein GANs (arXiv:1704.00028)",
        build="ganzoo_plugins.wgan.nets:build",
        config_class=WGANConfig,
        default_loss="wgan",
        min_image_size=16,
        defaults={"batch_size": 64},
    )
