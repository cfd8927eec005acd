"""Architecture options shared by the conv models (no torch import: listing models stays light).

The conv models (dcgan, cgan, acgan, wgan, sngan) build on one DCGAN backbone
(:mod:`ganzoo_plugins.layers.dcgan`) and so share its width and latent options.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

ADAM_DCGAN = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}
"""Radford et al.'s Adam settings, used by the GAN papers that followed DCGAN."""

MBSTD_HELP = ("minibatch standard deviation in the discriminator (Karras et al. 2018): group size, "
              "0 = off; the batch's spread becomes one more feature before the last layer")

D_NORM_HELP = ("normalisation in the discriminator: batch, layer (GroupNorm(1, C), per sample: "
               "use with gradient penalties) or none")


class ConvBackboneConfig(BaseModel):
    """Options of the DCGAN-style backbone (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    latent_dim: PositiveInt = Field(100, description="size of the latent vector z (nz)")
    ngf: PositiveInt = Field(64, description="generator width: channels of its last hidden layer")
    ndf: PositiveInt = Field(64, description="discriminator width: channels of its first layer")


class NormalisedBackboneConfig(ConvBackboneConfig):
    """The backbone with a choice of discriminator normalisation (DCGAN's batch norm by default)."""

    d_norm: Literal["batch", "layer", "none"] = Field("batch", description=D_NORM_HELP)
