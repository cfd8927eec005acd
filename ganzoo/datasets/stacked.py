"""Stacked MNIST: three MNIST digits as the RGB channels of one image (1000 classes)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..data import ImageData
from .common import _check_split
from .idx import load_mnist

STACKED_MNIST_SIZES = {"train": 128_000, "test": 10_000}
"""PacGAN's 128,000 training images; the test split is built from MNIST's test digits."""

STACKED_MNIST_SEEDS = {"train": 0, "test": 1}


def load_stacked_mnist(data_dir: Path, split: str = "train", image_size: int | None = None, *,
                       size: int | None = None) -> ImageData:
    """Three random MNIST digits (of the same split) stacked as RGB channels, 3x28x28.

    The label is ``100 * d1 + 10 * d2 + d3`` for the digits in channels 0, 1, 2 (1000
    classes). Digits are drawn uniformly with replacement from a fixed seed per split;
    ``size`` defaults to :data:`STACKED_MNIST_SIZES`. Reads MNIST through :func:`load_mnist`.
    """
    _check_split(split, "stacked-mnist")
    mnist = load_mnist(data_dir, split)
    n = STACKED_MNIST_SIZES[split] if size is None else size
    generator = torch.Generator().manual_seed(STACKED_MNIST_SEEDS[split])
    index = torch.randint(len(mnist), (n, 3), generator=generator)
    images = mnist.images[:, 0][index]  # [n, 3, 28, 28] uint8
    digits = mnist.labels[index]  # [n, 3]
    labels = (digits * torch.tensor([100, 10, 1])).sum(dim=1)
    return ImageData(images=images, labels=labels, num_classes=1000)
