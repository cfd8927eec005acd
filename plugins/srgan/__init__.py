"""SRGAN (Ledig et al. 2017): the registration and its options.

Single-image super-resolution: an SRResNet generator ``G(x_LR)`` (residual blocks, sub-pixel
upsampling) and a VGG-style discriminator ``D(x_HR)``. The generator minimises a content
loss, pixel MSE plus (optionally) an MSE between feature maps of a frozen network, the
trained MNIST classifier standing in for VGG19, plus ``adv_weight`` (the paper's 1e-3) times
the adversarial loss. ``algo.adv_weight=0`` is the paper's SRResNet baseline (content loss
only; D is not run).

The scale (the paper's 4x) is ``arch.scale``: left null it is the data's own ratio, target
size over input size (4 for ``mnist-sr``: 7x7 -> 28x28). Set to another integer that divides
the target size, the low-resolution input is re-derived inside the algorithm by bicubic
(antialiased) downsampling: of the target when the data's input is smaller than its target
(``--set arch.scale=2`` on ``mnist-sr`` trains 14x14 -> 28x28), of the input itself when
the two are one size (``paired-folder`` brings both folders to ``--image-size``; its LR
folder is then shrunk back by ``arch.scale``, 4 when left null). With ``*-sr`` data,
``--image-size`` is the size of the low-resolution input (the target follows at scale times it).

The networks live in :mod:`.nets`, the training step in :mod:`.algorithm`, the datasets in
:mod:`.data` (this module must not import torch: listing models stays light).

Example::

    ganzoo train srgan --data-dir ../shared/data                       # mnist-sr, 7x7 -> 28x28
    ganzoo train srgan --data-dir ../shared/data --set algo.adv_weight=0   # SRResNet (MSE only)
    ganzoo train srgan --dataset paired-folder --data-dir pairs/ --image-size 64 --set arch.scale=4
    ganzoo sample runs/srgan-... --input my_small_digits/ --out sr.png
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, model_validator

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, DatasetSpec, ModelSpec

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Ledig et al. 2017, Photo-Realistic Single Image Super-Resolution Using a Generative "
         "Adversarial Network (arXiv:1609.04802)")

ADAM_SRGAN = {"name": "adam", "lr": 1e-4, "betas": (0.9, 0.999)}
"""The paper's Adam: lr 1e-4, beta1 0.9 (for G and D). A model default: with its own loss
(``bce``) a model's settings win over the loss's; trained with another loss, that loss's
optimizers are used."""

MNIST_FILES = tuple(f"MNIST/raw/{name}" for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
FASHION_FILES = tuple(f.replace("MNIST/", "FashionMNIST/") for f in MNIST_FILES)


class SRGANConfig(BaseModel):
    """SRGAN architecture options (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    scale: int | None = Field(
        None, ge=2, description="the upscaling factor (at least 2); null = the data's own ratio (target size / input size: 4 "
                          "for mnist-sr), or 4 when input and target are one size (paired-folder). Another "
                          "value re-derives the input by bicubic (antialiased) downsampling by it; it must "
                          "divide the target size")
    ngf: PositiveInt = Field(64, description="generator width: channels of the residual blocks (the paper's 64)")
    n_blocks: PositiveInt = Field(8, description="residual blocks of the generator (the paper's 16; 8 for a CPU)")
    ndf: PositiveInt = Field(64, description="discriminator width: channels of its first conv block (the "
                                             "paper's 64; doubled at each stride-2 stage)")
    hidden: PositiveInt = Field(1024, description="width of the discriminator's dense layer (the paper's 1024)")
    d_stages: PositiveInt | None = Field(
        None, description="the discriminator's (conv, stride-2 conv) stages; null = the paper's 4, fewer "
                          "while the map would shrink below 4x4 (3 at 28 px: 28-14-7-4)")
    d_norm: Literal["batch", "layer", "none"] = Field(
        "batch", description="normalisation in the discriminator: batch (the paper's), layer (GroupNorm(1, C), "
                             "per sample: for gradient penalties) or none")


class SRGANOptions(BaseModel):
    """Options of the SRGAN training step (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    mse_weight: NonNegativeFloat = Field(1.0, description="weight of the pixel MSE to the target (the paper's "
                                                          "MSE content loss)")
    feature_weight: NonNegativeFloat = Field(
        0.0, description="weight of the MSE between feature maps of the frozen feature_net for the output and "
                         "the target (the paper's VGG54 loss, whose 1/12.75 rescaling this plays; try 0.01). "
                         "0 (default) = the paper's SRGAN-MSE, which needs no classifier")
    feature_net: Literal["mnist-classifier", "fashion-mnist-classifier"] = Field(
        "mnist-classifier", description="the frozen network of the feature loss: ganzoo's trained small-CNN "
                                        "classifier (trained and cached on first use; not in the checkpoint)")
    feature_layer: Literal["conv3", "features"] = Field(
        "conv3", description="which of its activations: conv3 = the last conv block's 64x7x7 map after ReLU "
                             "(the VGG54 analogue), features = its 128-d penultimate layer")
    adv_weight: NonNegativeFloat = Field(1e-3, description="weight of the adversarial term in the generator's "
                                                           "loss (the paper's 1e-3); 0 = SRResNet, D not run")

    @model_validator(mode="after")
    def _something_to_learn(self) -> "SRGANOptions":
        if self.mse_weight == 0 and self.feature_weight == 0 and self.adv_weight == 0:
            raise ValueError("mse_weight, feature_weight and adv_weight are all 0: the generator would learn "
                             "nothing")
        return self


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="srgan",
        summary="Super-resolution: SRResNet G (sub-pixel upsampling), VGG-style D, content + 1e-3 GAN loss",
        paper=PAPER,
        build="ganzoo_plugins.srgan.nets:build",
        config_class=SRGANConfig,
        default_loss="bce",
        fields=("target",),
        task="super-resolution",
        algorithm="srgan:srgan",
        default_dataset="mnist-sr",
        # the paper's batch of 16 and Adam
        defaults={"batch_size": 16, "g_optim": ADAM_SRGAN, "d_optim": ADAM_SRGAN},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="srgan",
        summary="One D update on HR vs G(LR), one G update: mse_weight * MSE + feature_weight * feature MSE "
                "+ adv_weight * GAN",
        paper=PAPER,
        step="ganzoo_plugins.srgan.algorithm:SRGAN",
        config_class=SRGANOptions,
        modules=("generator", "discriminator"),
        fields=("target",),
    )


@hookimpl
def ganzoo_datasets():
    for name, base, files, what in (("mnist-sr", "MNIST", MNIST_FILES, "digit"),
                                    ("fashion-sr", "Fashion-MNIST", FASHION_FILES, "item")):
        yield DatasetSpec(
            name=name,
            summary=f"{base} super-resolution pairs: image = the {what} 4x down (7x7, bicubic antialiased), "
                    f"target = the 28x28 {what}",
            paper=f"Bicubic 4x downsampling of the high-resolution images, as in {PAPER}",
            load=f"ganzoo_plugins.srgan.data:load_{name.replace('-', '_')}",
            channels=1, image_size=7, num_classes=10, size=60000, files=files, fields=("target",),
        )
