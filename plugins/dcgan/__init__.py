"""DCGAN (Radford, Metz & Chintala 2015): the registration and its options."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt

from ganzoo import hookimpl
from ganzoo.specs import ModelSpec

from ..layers.options import ADAM_DCGAN as ADAM
from ..layers.options import MBSTD_HELP, NormalisedBackboneConfig

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""


class DCGANConfig(NormalisedBackboneConfig):
    """DCGAN architecture options (``--set arch.KEY=VALUE``)."""

    mbstd: NonNegativeInt = Field(0, description=MBSTD_HELP)


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="dcgan",
        summary="Deep convolutional GAN: transposed-conv G with batch norm, strided-conv D",
        paper="Radford, Metz & Chintala 2015, Unsupervised Representation Learning with "
              "Deep Convolutional GANs (arXiv:1511.06434)",
        build="ganzoo_plugins.dcgan.nets:build",
        config_class=DCGANConfig,
        default_loss="bce",
        min_image_size=16,
        defaults={"batch_size": 128, "g_optim": ADAM, "d_optim": ADAM},
    )
