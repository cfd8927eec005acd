"""The core's own plugin: the built-in losses and datasets.

Registered through the ``ganzoo`` entry-point group like every other plugin.
Models live in ``plugins/`` (import name ``ganzoo_plugins``).
"""

from __future__ import annotations

from . import hookimpl
from .specs import DatasetSpec, LossSpec

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

ADAM_DCGAN = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}


@hookimpl
def ganzoo_losses():
    yield LossSpec(
        name="bce",
        summary="Binary cross-entropy on logits, non-saturating generator loss",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets (arXiv:1406.2661)",
        factory="ganzoo.losses:BCELoss",
        defaults={"n_critic": 1, "g_optim": ADAM_DCGAN, "d_optim": ADAM_DCGAN},
    )


@hookimpl
def ganzoo_datasets():
    yield DatasetSpec(
        name="mnist",
        summary="MNIST handwritten digits, 28x28 grayscale, 10 classes",
        paper="LeCun et al. 1998, yann.lecun.com/exdb/mnist",
        load="ganzoo.datasets:load_mnist",
        channels=1, image_size=28, num_classes=10, size=60000, files=IDX_FILES,
    )
    yield DatasetSpec(
        name="fashion-mnist",
        summary="Fashion-MNIST clothing images, 28x28 grayscale, 10 classes",
        paper="Xiao et al. 2017 (arXiv:1708.07747)",
        load="ganzoo.datasets:load_fashion_mnist",
        channels=1, image_size=28, num_classes=10, size=60000, files=IDX_FILES,
    )
