"""StarGAN (Choi et al. 2018): the registration, its options and the ``mnist-domains`` dataset.

Multi-domain image-to-image translation with ONE generator ``G(x, c)`` conditioned on a target
domain ``c`` (one-hot maps concatenated to the image) and one discriminator with two heads:
``D_src`` (real or fake, a patch map) and ``D_cls`` (which domain). Trained by the ``stargan``
algorithm: adversarial (WGAN-GP by default, as in the paper) + ``lambda_cls`` x domain
classification + ``lambda_rec`` x reconstruction ``|G(G(x, c'), c) - x|_1``.

The networks live in :mod:`.nets`, the training step in :mod:`.algorithm`, the dataset in
:mod:`.data` (this module must not import torch: listing models stays light).

Example::

    ganzoo train stargan --data-dir DATA                      # mnist-domains, WGAN-GP, n_critic 5
    ganzoo sample runs/stargan-mnist-domains-... --out grid.png          # input | domain 0 | ... | 4
    ganzoo sample runs/stargan-mnist-domains-... --input my_digits/ --domain 1 --out inverted.png
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, DatasetSpec, ModelSpec

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Choi, Choi, Kim, Ha, Kim & Choo 2018, StarGAN: Unified Generative Adversarial Networks for "
         "Multi-Domain Image-to-Image Translation (arXiv:1711.09020)")

ADAM_STARGAN = {"name": "adam", "lr": 1e-4, "betas": (0.5, 0.999)}
"""The paper's optimizer: Adam, learning rate 1e-4, beta1 0.5, beta2 0.999, for G and D."""

BATCH_SIZE = 16
"""The paper's batch size."""

DOMAIN_NAMES = ("original", "inverted", "thickened", "thinned", "rotated")
"""mnist-domains' domains by index (kept in step with ganzoo_plugins.stargan.data.DOMAINS)."""

MNIST_FILES = tuple(f"MNIST/raw/{name}" for name in (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


class StarGANConfig(BaseModel):
    """StarGAN architecture options (``--set arch.KEY=VALUE``).

    The paper's networks are for 128 px with ngf = ndf = 64, 6 residual blocks and 6
    discriminator layers; the defaults here are scaled to 28 px digits on a CPU.
    """

    model_config = ConfigDict(extra="forbid")

    ngf: PositiveInt = Field(32, description="generator width: channels of its first 7x7 conv (paper: 64); "
                                             "the bottleneck has 4 x ngf after the two downsamplings")
    n_blocks: Optional[PositiveInt] = Field(
        None, description="residual blocks (instance norm) at the generator's bottleneck; null = 6 (the "
                          "paper's) from 64 px, 3 below (28 px: a 7x7 bottleneck)")
    ndf: PositiveInt = Field(32, description="discriminator width: channels of its first 4x4 stride-2 conv "
                                             "(paper: 64), doubling at each layer")
    d_layers: Optional[PositiveInt] = Field(
        None, description="stride-2 4x4 conv layers of the discriminator; null = the most that leave a map of "
                          "at least 2x2 (6 at 128 px, the paper's; 3 at 28 px: a 3x3 map)")


class StarGANOptions(BaseModel):
    """Options of the StarGAN training step (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    lambda_cls: NonNegativeFloat = Field(
        1.0, description="weight of the domain classification terms: CE(D_cls(x), c) in D's loss and "
                         "CE(D_cls(G(x, c')), c') in G's (the paper's 1)")
    lambda_rec: NonNegativeFloat = Field(
        10.0, description="weight of the reconstruction L1 |G(G(x, c'), c) - x| in G's loss (the paper's 10)")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="stargan",
        summary="Multi-domain translation: one G(x, c) for every target domain, D with a domain classifier",
        paper=PAPER,
        build="ganzoo_plugins.stargan.nets:build",
        config_class=StarGANConfig,
        default_loss="wgan-gp",
        fields=("domain",),
        task="multi-domain",
        algorithm="stargan",
        default_dataset="mnist-domains",
        min_image_size=8,
        defaults={"batch_size": BATCH_SIZE, "g_optim": ADAM_STARGAN, "d_optim": ADAM_STARGAN},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="stargan",
        summary="n_critic D updates (adv + domain CE + gp), one G update (adv + domain CE + rec L1)",
        paper=PAPER,
        step="ganzoo_plugins.stargan.algorithm:StarGAN",
        config_class=StarGANOptions,
        modules=("generator", "discriminator"),
        fields=("domain",),
    )


@hookimpl
def ganzoo_datasets():
    names = ", ".join(f"{i} = {name}" for i, name in enumerate(DOMAIN_NAMES))
    yield DatasetSpec(
        name="mnist-domains",
        summary=f"MNIST in 5 domains (item i in i % 5): {names}",
        paper="Domains for " + PAPER.split(",")[0] + " et al. 2018: 0 original; 1 inverted (255 - x); "
              "2 thickened (3x3 grey dilation); 3 thinned (grey erosion by a 3-pixel cross, contrast "
              "stretched back to 0..255); 4 rotated 90 degrees counter-clockwise. Built in memory from mnist",
        load="ganzoo_plugins.stargan.data:load_mnist_domains",
        channels=1, image_size=28, num_classes=10, size=60000, files=MNIST_FILES, fields=("domain",),
    )
