"""DCGAN (Radford, Metz & Chintala 2015): the registration and its options."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from ganzoo import hookimpl
from ganzoo.specs import ModelSpec

ADAM = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}


class DCGANConfig(BaseModel):
    """DCGAN architecture options (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    latent_dim: PositiveInt = Field(100, description="size of the latent vector z (nz)")
    ngf: PositiveInt = Field(64, description="generator width: channels of its last hidden layer")
    ndf: PositiveInt = Field(64, description="discriminator width: channels of its first layer")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="dcgan",
        summary="Deep convolutional GAN: transposed-conv G with batch norm, strided-conv D",
        paper="Radford, Metz & Chintala 2015, Unsupervised Representation Learning with "
              "Deep Convolutional GANs (arXiv:1511.06434)",
        build="ganzoo_plugins.nets.dcgan:build",
        config_class=DCGANConfig,
        default_loss="bce",
        min_image_size=16,
        defaults={"batch_size": 128, "g_optim": ADAM, "d_optim": ADAM},
    )
