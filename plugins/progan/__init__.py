"""Progressive GAN (Karras, Aila, Laine & Lehtinen 2018): the registration and its options.

Generator and discriminator grow resolution by resolution, 4x4 -> 8x8 -> ... -> the image size
(for MNIST at 32 px: 4, 8, 16, 32). Each new resolution is faded in: for ``stage_steps`` steps
the new layers' output is mixed with the upsampled output of the previous resolution by an
``alpha`` rising linearly from 0 to 1 (the real images are blended the same way), then it
trains on its own ("stable") for ``stage_steps`` more. The networks use pixel norm, minibatch
standard deviation and the equalised learning rate; the loss is WGAN-GP with the drift term
``eps_drift * E[D(x)^2]``.

The networks live in :mod:`.nets`, the algorithm and its schedule in :mod:`.algorithm` (this
module must not import torch: listing models stays light).

Example::

    ganzoo train progan --data-dir DATA                        # mnist at 32 px: 4 -> 8 -> 16 -> 32
    ganzoo train progan --steps 1400 --set algo.stage_steps=200
    ganzoo sample runs/progan-mnist-...  -n 64                 # always full-size (32 px) images

The paper's Adam (lr 1e-3, betas (0, 0.99)) and its one critic update per step
(``n_critic=1``) are the model's defaults: with its own loss (``wgan-gp``, which recommends
``n_critic=5``) a model's settings win over the loss's.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveInt

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, ModelSpec

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Karras, Aila, Laine & Lehtinen 2018, Progressive Growing of GANs for Improved Quality, "
         "Stability, and Variation (arXiv:1710.10196)")

ADAM_PROGAN = {"name": "adam", "lr": 1e-3, "betas": (0.0, 0.99)}
"""The paper's Adam (lr 0.001, beta1 0, beta2 0.99), the default with ``wgan-gp``; trained
with another loss, that loss's optimizer is used."""

DEFAULT_STEPS = 2100
"""The model's default ``--steps``: 7 phases of 300 steps at 32 px (4 stable; 8, 16, 32 fade + stable)."""


class ProGANConfig(BaseModel):
    """Progressive GAN architecture options (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    latent_dim: PositiveInt = Field(128, description="size of the latent vector z (paper: 512)")
    ngf: PositiveInt = Field(64, description="generator width: channels at the lowest resolutions "
                                             "(paper: 512)")
    ndf: PositiveInt = Field(64, description="discriminator width: channels at the lowest resolutions "
                                             "(paper: 512)")
    full_width_until: PositiveInt = Field(
        8, description="highest resolution whose stages have the full ngf/ndf channels; each doubling "
                       "beyond halves them (paper: 32, i.e. 512 channels up to 32x32; 8 keeps MNIST at "
                       "32 px cheap on a CPU: 64-64-32-16 channels at 4-8-16-32 px)")
    mbstd: NonNegativeInt = Field(4, description="minibatch standard deviation before the discriminator's "
                                                 "last block: group size (paper: 4); 0 = off")


class ProGANOptions(BaseModel):
    """Progressive GAN training options (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    stage_steps: Optional[PositiveInt] = Field(
        None, description="steps of each phase: the first resolution (4x4) trains for one phase, every "
                          "later one fades in for one phase and then trains stable for one; null = --steps "
                          "split evenly over the 2k-1 phases of k resolutions, so the run ends at full size "
                          "(fixed when the run starts; a resume keeps it)")
    eps_drift: NonNegativeFloat = Field(
        0.001, description="drift term eps_drift * E[D(x)^2] in the discriminator loss, keeping the critic's "
                           "output near 0 (the paper: 0.001); 0 = off")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="progan",
        summary="Progressive GAN: G and D grow 4x4 -> full size with fade-in, pixel norm, minibatch std, "
                "equalised lr",
        paper=PAPER,
        build="ganzoo_plugins.progan.nets:build",
        config_class=ProGANConfig,
        default_loss="wgan-gp",
        min_image_size=8,
        algorithm="progan",
        default_dataset="mnist",
        task="unconditional",
        defaults={"image_size": 32, "steps": DEFAULT_STEPS, "batch_size": 16, "n_critic": 1,
                  "g_optim": ADAM_PROGAN, "d_optim": ADAM_PROGAN},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="progan",
        summary="Progressive growing: fade-in / stable phases per resolution, D then G each step, "
                "drift term",
        paper=PAPER,
        step="ganzoo_plugins.progan.algorithm:ProGAN",
        config_class=ProGANOptions,
        modules=("generator", "discriminator"),
    )
