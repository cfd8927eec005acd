"""The original GAN (Goodfellow et al. 2014): fully connected networks, for images or points."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, confloat

from ganzoo import hookimpl
from ganzoo.specs import ModelSpec

from ..layers.options import ADAM_DCGAN, MBSTD_HELP

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""


class GANConfig(BaseModel):
    """Options of the fully connected GAN (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    latent_dim: PositiveInt = Field(64, description="size of the latent vector z")
    hidden: PositiveInt = Field(512, description="units in each hidden layer of G and D")
    depth: PositiveInt = Field(3, description="hidden layers in G and in D")
    g_norm: Literal["none", "batch"] = Field(
        "none", description="normalisation in the generator's hidden layers: none (the paper) or batch")
    mbstd: NonNegativeInt = Field(0, description=MBSTD_HELP)
    dropout: confloat(ge=0.0, lt=1.0) = Field(
        0.0, description="dropout after each hidden layer of the discriminator (the paper used some)")


POINTS_RECIPE = {
    "steps": 8000, "batch_size": 128, "pack": 2, "ema": 0.999, "r1": 1.0,
    "arch": {"hidden": 256},
}
"""The gan model's defaults on point data: PacGAN packing (2), R1 (gamma 1), an averaged
generator (0.999) and narrower, faster 3x256 networks trained longer (8000 steps)."""


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="gan",
        summary="The original GAN: fully connected G and D, for images of any shape or 2-D points",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets (arXiv:1406.2661)",
        build="ganzoo_plugins.gan.nets:build",
        config_class=GANConfig,
        default_loss="bce",
        data_kinds=("image", "points"),
        defaults={"g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
        # the quality suite's recipe for the 2-D mixtures (benchmarks/quality/): with the
        # image defaults (2000 steps, batch 64, 3x512, no tricks) toy-ring ends in one cluster off the ring
        kind_defaults={"points": POINTS_RECIPE},
    )
