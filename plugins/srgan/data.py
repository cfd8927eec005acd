"""Super-resolution views of MNIST and Fashion-MNIST for SRGAN (Ledig et al. 2017).

- ``mnist-sr``: ``image`` = each digit downsampled 4x (28 -> 7, bicubic with antialiasing,
  rounded back to uint8), ``target`` = the 28x28 digit, ``label`` = its class.
- ``fashion-sr``: the same of Fashion-MNIST.

Both are derived in memory from the registered ``mnist`` / ``fashion-mnist`` datasets
(:func:`ganzoo.datasets.derived.derive`), so they read (or refuse) the same IDX files;
nothing is written beside the data. The paper's low-resolution images are bicubic 4x
downsamplings of the high-resolution ones; so are these.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ganzoo.data import ItemData
from ganzoo.datasets.derived import derive

SR_FACTOR = 4
"""How much the ``*-sr`` datasets shrink their images (the paper's 4x): 28x28 -> 7x7."""

CHUNK = 8192
"""Images per interpolate call (bounds the float temporaries)."""


def downsample(images: torch.Tensor, factor: int = SR_FACTOR) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` shrunk by ``factor`` (bicubic, antialiased, rounded and clamped
    to 0..255); ``H`` and ``W`` must be multiples of ``factor``.

    Example::

        >>> downsample(torch.full((1, 1, 28, 28), 200, dtype=torch.uint8)).shape
        torch.Size([1, 1, 7, 7])
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor [N, C, H, W]")
    height, width = images.shape[-2:]
    if height % factor or width % factor:
        raise ValueError(f"{height}x{width} images do not shrink by {factor}")
    size = (height // factor, width // factor)
    out = torch.empty(*images.shape[:2], *size, dtype=torch.uint8)
    for start in range(0, len(images), CHUNK):
        x = images[start:start + CHUNK].float()
        small = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
        out[start:start + CHUNK] = small.round_().clamp_(0, 255).to(torch.uint8)
    return out


def sr_pairs(data: ItemData, split: str) -> ItemData:
    """A dataset as super-resolution pairs: ``image`` = :func:`downsample` of each image
    (the low-resolution input), ``target`` = the image, ``label`` kept; one stream."""
    images = data.fields["image"]
    fields = {"image": downsample(images), "target": images}
    if data.labels is not None:
        fields["label"] = data.labels
    return ItemData(fields, classes={"label": data.num_classes} if data.num_classes else None)


_mnist_sr = derive("mnist", sr_pairs)
_fashion_sr = derive("fashion-mnist", sr_pairs)


def load_mnist_sr(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``mnist-sr``: :func:`sr_pairs` of the registered ``mnist`` (7x7 inputs, 28x28 targets)."""
    return _mnist_sr(data_dir, split, image_size)


def load_fashion_sr(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``fashion-sr``: :func:`sr_pairs` of the registered ``fashion-mnist`` (7x7 inputs, 28x28 targets)."""
    return _fashion_sr(data_dir, split, image_size)
