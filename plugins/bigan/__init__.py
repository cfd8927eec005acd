"""BiGAN / ALI (Donahue, Krähenbühl & Darrell 2017; Dumoulin et al. 2017): the registration,
the architecture options and the training algorithm's name (no torch import here).

A generator G(z), an encoder E(x) and a discriminator D(x, z) on joint pairs: D tells
``(x, E(x))`` (real data with its code) from ``(G(z), z)`` (a code with its image); E and G are
trained together, with the labels inverted, to fool it. At the optimum E inverts G.

Example::

    ganzoo train bigan --data-dir data                      # the paper's MNIST MLPs, 50-D U[-1, 1]
    ganzoo train bigan --set arch.kind=conv --image-size 32  # DCGAN-style G, conv E and D
    ganzoo train bigan --set arch.stochastic_encoder=true --set arch.prior=gaussian   # ALI
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, confloat

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, ModelSpec

from ..layers.options import D_NORM_HELP

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPERS = ("Donahue, Krähenbühl & Darrell 2017, Adversarial Feature Learning (arXiv:1605.09782); "
          "Dumoulin et al. 2017, Adversarially Learned Inference (arXiv:1606.00704)")

ADAM_BIGAN = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 5e-5}
"""The official MNIST settings (``train_gan.py``: Adam lr 2e-4, beta1 0.5, batch 128, L2 decay
2.5e-5 added to the gradient). That code averages its two loss terms where ganzoo's losses add
them, so the same relative decay is 2 x 2.5e-5 here (torch's coupled ``weight_decay`` is the
same "gradient += decay * weight" rule)."""


class BiGANConfig(BaseModel):
    """BiGAN / ALI architecture options (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mlp", "conv"] = Field(
        "mlp", description="mlp: the paper's permutation-invariant MNIST MLPs (any image size); conv: "
                           "DCGAN generator, mirrored conv encoder, conv D merging z into a joint MLP "
                           "(image sizes 4-7 times a power of two, at least 16)")
    latent_dim: PositiveInt = Field(50, description="size of z (and of E's output); the paper's MNIST run: 50")
    prior: Literal["uniform", "gaussian"] = Field(
        "uniform", description="p(z): uniform U[-1, 1]^d (BiGAN's MNIST run; E's output is squashed into "
                               "(-1, 1)) or gaussian N(0, I) (ALI; E's output is linear)")
    stochastic_encoder: bool = Field(
        False, description="ALI's encoder: E predicts a mean and log-variance and samples z = mean + "
                           "std * noise in training (the mean in eval mode); false: BiGAN's deterministic E")
    hidden: PositiveInt = Field(1024, description="units of the hidden layers (mlp: every layer of G, E and D; "
                                                  "conv: D's z branch and joint MLP)")
    ngf: PositiveInt = Field(64, description="conv generator width: channels of its last hidden layer")
    ndf: PositiveInt = Field(64, description="conv encoder and discriminator width: channels of the first layer")
    d_norm: Literal["batch", "layer", "none"] = Field("batch", description=D_NORM_HELP)
    d_dropout: confloat(ge=0.0, lt=1.0) = Field(
        0.2, description="dropout after each hidden layer of the conv discriminator (ALI: 0.2); the mlp "
                         "follows the official BiGAN code, without")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="bigan",
        summary="BiGAN / ALI: generator, encoder and a joint discriminator D(x, z); learns E ~ G^-1",
        paper=PAPERS,
        build="ganzoo_plugins.bigan.nets:build",
        config_class=BiGANConfig,
        default_loss="bce",
        data_kinds=("image",),
        algorithm="bigan:bigan",
        default_dataset="mnist",
        task="encoder",
        defaults={"batch_size": 128, "g_optim": ADAM_BIGAN, "d_optim": ADAM_BIGAN},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="bigan",
        summary="n_critic updates of the joint D on (x, E(x)) vs (G(z), z), then one joint E+G "
                "update with inverted labels",
        paper=PAPERS,
        step="ganzoo_plugins.bigan.algorithm:BiGAN",
        modules=("generator", "encoder", "discriminator"),
    )
