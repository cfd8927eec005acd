"""Auxiliary-classifier GAN (Odena, Olah & Shlens 2017): the registration and its options."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat

from ganzoo import hookimpl
from ganzoo.specs import ModelSpec

from ..layers.options import ADAM_DCGAN, NormalisedBackboneConfig

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""


class ACGANConfig(NormalisedBackboneConfig):
    """AC-GAN options (``--set arch.KEY=VALUE``); G gets the one-hot label with z."""

    aux_weight: NonNegativeFloat = Field(
        1.0, description="weight of the auxiliary classification loss (real and generated labels)")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="acgan",
        summary="Auxiliary-classifier GAN: conditional DCGAN G, D that also predicts the class",
        paper="Odena, Olah & Shlens 2017, Conditional Image Synthesis with Auxiliary Classifier "
              "GANs (arXiv:1610.09585)",
        build="ganzoo_plugins.acgan.nets:build",
        config_class=ACGANConfig,
        default_loss="bce",
        needs_labels=True,
        min_image_size=16,
        defaults={"batch_size": 128, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )
