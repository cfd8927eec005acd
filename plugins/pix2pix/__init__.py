"""pix2pix (Isola, Zhu, Zhou & Efros 2017): the registration and its options.

Paired image-to-image translation: a U-Net generator ``G(x)`` with skip connections and a
PatchGAN discriminator ``D(x, y)`` that judges (input, output) pairs patch by patch. The
generator minimises the adversarial loss plus ``lambda_l1`` times the L1 distance to the
target; the discriminator's objective is halved, as in the paper.

The networks live in :mod:`.nets`, the training step in :mod:`.algorithm` (this module must not
import torch: listing models stays light).

Example::

    ganzoo train pix2pix --data-dir ../shared/data            # mnist-edges: edges -> digits
    ganzoo train pix2pix --dataset paired-folder --data-dir facades/ --image-size 256 \\
        --set arch.norm=instance --batch-size 1
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveInt, model_validator

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, ModelSpec

from ..layers.options import ADAM_DCGAN

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Isola, Zhu, Zhou & Efros 2017, Image-to-Image Translation with Conditional "
         "Adversarial Networks (arXiv:1611.07004)")


class Pix2PixConfig(BaseModel):
    """pix2pix architecture options (``--set arch.KEY=VALUE``).

    ``d_norm`` left unset follows ``norm``; it is written out resolved, so ``config.json``
    says what the discriminator used (and a gradient penalty can switch a batch-norm
    discriminator to layer norm, as for the other models).
    """

    model_config = ConfigDict(extra="forbid")

    ngf: PositiveInt = Field(64, description="U-Net width: channels of its first encoder layer (C64 in the paper)")
    ndf: PositiveInt = Field(64, description="PatchGAN width: channels of its first layer")
    n_down: PositiveInt | None = Field(
        None, description="U-Net stride-2 downsamplings; null = down to a 1x1 bottleneck, as in the paper "
                          "(28 px is padded to 32: 32-16-8-4-2-1, 5 levels)")
    d_layers: PositiveInt | None = Field(
        None, description="PatchGAN stride-2 layers (the official n_layers_D); null = the most whose patch "
                          "is at most half the image (3, the 70x70 patch, at 256 px; 1, a 16x16 patch, at 28 px)")
    norm: Literal["batch", "instance"] = Field(
        "batch", description="normalisation of the U-Net (and of the PatchGAN unless d_norm says otherwise)")
    d_norm: Literal["batch", "instance", "layer", "none"] | None = Field(
        None, description="normalisation of the PatchGAN; null = as norm (layer or instance: per sample, "
                          "for gradient penalties)")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout probability in the first decoder "
                                                            "layers: the paper's noise (0 = none)")
    dropout_layers: NonNegativeInt = Field(3, description="how many of the first decoder layers have "
                                                          "dropout (the paper's 3; never the output layer)")

    @model_validator(mode="after")
    def _discriminator_norm_follows_norm(self) -> "Pix2PixConfig":
        if self.d_norm is None:
            self.d_norm = self.norm
        return self


class Pix2PixOptions(BaseModel):
    """Options of the pix2pix training step (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    lambda_l1: NonNegativeFloat = Field(100.0, description="weight of the L1 distance to the target in the "
                                                           "generator's loss (the paper's 100)")
    lambda_gan: NonNegativeFloat = Field(1.0, description="weight of the adversarial term in the generator's "
                                                          "loss; 0 = the paper's L1-only baseline")

    @model_validator(mode="after")
    def _something_to_learn(self) -> "Pix2PixOptions":
        if self.lambda_l1 == 0 and self.lambda_gan == 0:
            raise ValueError("lambda_l1 and lambda_gan are both 0: the generator would learn nothing")
        return self


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="pix2pix",
        summary="Paired image-to-image translation: U-Net G with skips, PatchGAN D(x, y), GAN + L1 loss",
        paper=PAPER,
        build="ganzoo_plugins.pix2pix.nets:build",
        config_class=Pix2PixConfig,
        default_loss="bce",
        fields=("target",),
        task="image-to-image",
        algorithm="pix2pix:pix2pix",
        default_dataset="mnist-edges",
        min_image_size=16,
        # the paper trains with batch 1 (batch norm then acts as instance norm); on a CPU a
        # batch of 64 digits keeps the cores busy and batch norm's statistics steady
        defaults={"batch_size": 64, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="pix2pix",
        summary="One D update on (x, y) vs (x, G(x)) (objective halved), one G update: GAN + lambda_l1 * L1",
        paper=PAPER,
        step="ganzoo_plugins.pix2pix.algorithm:Pix2Pix",
        config_class=Pix2PixOptions,
        modules=("generator", "discriminator"),
        fields=("target",),
    )
