"""Conditional GAN (Mirza & Osindero 2014) with a projection discriminator option
(Miyato & Koyama 2018): the registration and its options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ganzoo import hookimpl
from ganzoo.specs import ModelSpec

from ..layers.options import ADAM_DCGAN, NormalisedBackboneConfig

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""


class CGANConfig(NormalisedBackboneConfig):
    """Conditional GAN options (``--set arch.KEY=VALUE``); G gets the one-hot label with z."""

    conditioning: Literal["projection", "concat"] = Field(
        "projection", description="how D reads the label: projection (inner product of a class "
                                  "embedding with D's features) or concat (one-hot maps as input channels)")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="cgan",
        summary="Class-conditional DCGAN: label concatenated to z, projection or concat discriminator",
        paper="Mirza & Osindero 2014, Conditional Generative Adversarial Nets (arXiv:1411.1784); "
              "projection D: Miyato & Koyama 2018, cGANs with Projection Discriminator (arXiv:1802.05637)",
        build="ganzoo_plugins.cgan.nets:build",
        config_class=CGANConfig,
        default_loss="bce",
        needs_labels=True,
        min_image_size=16,
        defaults={"batch_size": 128, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )
