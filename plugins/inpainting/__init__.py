"""Context-encoder inpainting (Pathak, Krahenbuhl, Donahue, Darrell & Efros 2016): the registration,
its options and its masked datasets.

An encoder-decoder generator fills the masked region of an image from its context: it reads the
image with the masked pixels set to a fill value plus the mask as one more channel, and returns
the image with the known pixels kept and the masked ones predicted (the paper's blend). It is
trained with a reconstruction loss (L2 over the masked region, normalised by its size; weight
0.999) plus an adversarial loss (weight 0.001) from a DCGAN discriminator that judges the whole
filled image against real images. The masks come from the data item's ``mask`` field
(``mnist-center``, ``mnist-random``, ...); data without one is refused before training.

The networks live in :mod:`.nets`, the training step in :mod:`.algorithm`, the datasets'
loaders in :mod:`.data` (this module must not import torch: listing models stays light).

Example::

    ganzoo train context-encoder --data-dir ../shared/data                 # mnist-center
    ganzoo train context-encoder --dataset fashion-mnist-random --data-dir ../shared/data
    ganzoo train context-encoder --data-dir ../shared/data --set algo.lambda_adv=0   # L2 only
    ganzoo train context-encoder --dataset image-folder-random --data-dir photos/ --image-size 64
    ganzoo sample runs/context-encoder-... --input my_digits/ --out filled.png     # centre masks
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, model_validator

from ganzoo import hookimpl
from ganzoo.plugins.core import FASHION_MNIST_FILES, IMAGE_GLOBS, MNIST_FILES
from ganzoo.specs import AlgorithmSpec, DatasetSpec, ModelSpec

from ..layers.options import ADAM_DCGAN, D_NORM_HELP

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Pathak, Krahenbuhl, Donahue, Darrell & Efros 2016, Context Encoders: Feature Learning by "
         "Inpainting (arXiv:1604.07379)")

LOADERS = "ganzoo_plugins.inpainting.data"


class ContextEncoderConfig(BaseModel):
    """Context-encoder architecture options (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    ngf: PositiveInt = Field(64, description="generator width: channels of the encoder's first conv "
                                             "(doubling per level, mirrored by the decoder)")
    ndf: PositiveInt = Field(64, description="discriminator width: channels of the DCGAN discriminator's first conv")
    latent_dim: PositiveInt = Field(
        512, description="bottleneck units: a conv over the whole last encoder map to a 1x1 code (the paper's "
                         "4000 at 128 px; 512 at 28 px, where the map is 128 x 7 x 7 with the default ngf)")
    bottleneck: Literal["conv", "channel-fc"] = Field(
        "conv", description="conv: the 1x1 code above (the paper's adversarial model); channel-fc: the paper's "
                            "channel-wise fully-connected layer on the last map, then a 1x1 conv")
    mask_size: PositiveInt | None = Field(
        None, description="side of the default centre mask, used when a caller gives no mask (ganzoo sample "
                          "--input); null = half the image side (the paper's central region). Training masks "
                          "come from the data's mask field")
    fill: float = Field(0.0, ge=-1.0, le=1.0, description="value the masked pixels are set to in the input "
                                                           "(in [-1, 1]; 0 = mid grey); the mask is also an input channel")
    d_norm: Literal["batch", "layer", "none"] = Field("batch", description=D_NORM_HELP)


class ContextEncoderOptions(BaseModel):
    """Options of the context-encoder training step (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    lambda_rec: NonNegativeFloat = Field(0.999, description="weight of the masked-region L2 reconstruction "
                                                            "loss (the paper's 0.999)")
    lambda_adv: NonNegativeFloat = Field(0.001, description="weight of the adversarial loss (the paper's "
                                                            "0.001); 0 = the paper's L2-only baseline, no D")

    @model_validator(mode="after")
    def _something_to_learn(self) -> "ContextEncoderOptions":
        if self.lambda_rec == 0 and self.lambda_adv == 0:
            raise ValueError("lambda_rec and lambda_adv are both 0: the generator would learn nothing")
        return self


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="context-encoder",
        summary="Inpainting: encoder-decoder G fills a masked region, DCGAN D on the filled image, "
                "0.999 masked L2 + 0.001 GAN",
        paper=PAPER,
        build="ganzoo_plugins.inpainting.nets:build",
        config_class=ContextEncoderConfig,
        default_loss="bce",
        fields=("mask",),
        task="inpainting",
        algorithm="inpainting:context-encoder",
        default_dataset="mnist-center",
        min_image_size=16,
        defaults={"batch_size": 64, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="context-encoder",
        summary="One D update on x vs the filled G(x, m), one G update: lambda_rec * masked L2 + lambda_adv * GAN",
        paper=PAPER,
        step="ganzoo_plugins.inpainting.algorithm:ContextEncoder",
        config_class=ContextEncoderOptions,
        modules=("generator", "discriminator"),
        fields=("mask",),
    )


CENTER = ("mask: the centre square of half the side (14x14 of 28x28), the paper's central region; "
          "image: the original")
RANDOM = ("mask: the paper's random blocks, squares of 1/6 to 1/3 of the side at random places, added "
          "while the union covers at most 1/4 of the image (1 to 8 per item), drawn once per split from a "
          "fixed seed (the same masks every load); image: the original")


@hookimpl
def ganzoo_datasets():
    for base, files, what in (("mnist", MNIST_FILES, "MNIST digits"),
                              ("fashion-mnist", FASHION_MNIST_FILES, "Fashion-MNIST items")):
        prefix = base.replace("-", "_")
        yield DatasetSpec(
            name=f"{base}-center", summary=f"{what} with a centre mask (half the side) for inpainting",
            paper=f"{CENTER}; {PAPER}", load=f"{LOADERS}:load_{prefix}_center",
            channels=1, image_size=28, num_classes=10, size=60000, files=files, fields=("mask",))
        yield DatasetSpec(
            name=f"{base}-random", summary=f"{what} with random block masks (up to 1/4 of the image) for inpainting",
            paper=f"{RANDOM}; {PAPER}", load=f"{LOADERS}:load_{prefix}_random",
            channels=1, image_size=28, num_classes=10, size=60000, files=files, fields=("mask",))
    for kind, doc in (("center", CENTER), ("random", RANDOM)):
        masks = "a centre mask" if kind == "center" else "random block masks"
        yield DatasetSpec(
            name=f"image-folder-{kind}", summary=f"Your own images (--data-dir, as image-folder) with {masks} for inpainting",
            paper=f"{doc.replace(' (14x14 of 28x28)', '')}; images as image-folder reads them (resized and centre-cropped "
                  f"to --image-size, default 64; both splits read the folder, the random masks differ); {PAPER}",
            load=f"{LOADERS}:load_image_folder_{kind}", channels=3, image_size=64, files=IMAGE_GLOBS, fields=("mask",))
