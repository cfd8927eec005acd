"""CycleGAN (Zhu, Park, Isola & Efros 2017): the registration and its options.

Unpaired image-to-image translation between a domain A (the data field ``image``) and a
domain B (``image_b``): two ResNet translators ``g_ab``, ``g_ba`` and two PatchGAN
discriminators ``d_a``, ``d_b``, trained by the ``cyclegan`` algorithm (adversarial +
cycle-consistency + identity losses, an image pool of past fakes). The networks live in
:mod:`.nets`, the algorithm and the image pool in :mod:`.algorithm` (this module stays free of
torch).

Example::

    ganzoo train cyclegan --data-dir DATA                 # mnist-inverted: digits <-> inverted digits
    ganzoo train cyclegan --dataset mnist-fashion --set algo.lambda_cycle=5
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveInt

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, ModelSpec

from ..layers.options import ADAM_DCGAN as ADAM

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Zhu, Park, Isola & Efros 2017, Unpaired Image-to-Image Translation using Cycle-Consistent "
         "Adversarial Networks (arXiv:1703.10593)")

BATCH_SIZE = 16
"""The paper trains with batch size 1. Instance norm normalises each image on its own, so a
larger batch changes only how many images one Adam step averages; 16 keeps a 2-core CPU busy
(per-image throughput several times that of batch 1) at the paper's learning rate."""


class CycleGANConfig(BaseModel):
    """CycleGAN architecture options (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    ngf: PositiveInt = Field(32, description="generator width: channels of its first layer (paper: 64; "
                                             "the bottleneck has 4 x ngf)")
    ndf: PositiveInt = Field(32, description="discriminator width: channels of its first layer (paper: 64)")
    n_blocks: Optional[PositiveInt] = Field(
        None, description="residual blocks at the generator's bottleneck; default by image size: 9 from "
                          "256 px, 6 from 128 px (the paper's), 3 below")
    d_layers: PositiveInt = Field(
        2, description="stride-2 layers of the PatchGAN: 3 is the paper's 70x70 (C64-C128-C256-C512); "
                       "2 (C64-C128-C256) sees 34x34 patches, a 5x5 logit map at 28 px")
    norm: Literal["instance", "batch", "none"] = Field(
        "instance", description="normalisation in every network: instance (the paper's), batch or none")


class CycleGANOptions(BaseModel):
    """CycleGAN's training options (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    lambda_cycle: NonNegativeFloat = Field(
        10.0, description="weight of the cycle-consistency L1 terms |G_ba(G_ab(a)) - a| and |G_ab(G_ba(b)) - b|")
    lambda_identity: NonNegativeFloat = Field(
        0.5, description="identity L1 |G_ab(b) - b| + |G_ba(a) - a|, weighted lambda_identity x lambda_cycle "
                         "(as the official code); 0 = off")
    pool_size: NonNegativeInt = Field(
        50, description="past fakes each discriminator draws from (Shrivastava et al. 2017); 0 = no pool")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="cyclegan",
        summary="Unpaired image-to-image translation: two ResNet G's, two PatchGAN D's, cycle loss",
        paper=PAPER,
        build="ganzoo_plugins.cyclegan.nets:build",
        config_class=CycleGANConfig,
        default_loss="lsgan",
        min_image_size=16,
        fields=("image_b",),
        algorithm="cyclegan",
        default_dataset="mnist-inverted",
        task="image-to-image",
        defaults={"batch_size": BATCH_SIZE, "g_optim": ADAM, "d_optim": ADAM},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="cyclegan",
        summary="G update (adversarial + cycle + identity L1), then both D's on an image pool",
        paper=PAPER + "; image pool: Shrivastava et al. 2017 (arXiv:1612.07828)",
        step="ganzoo_plugins.cyclegan.algorithm:CycleGAN",
        config_class=CycleGANOptions,
        modules=("g_ab", "g_ba", "d_a", "d_b"),
        fields=("image", "image_b"),
    )
