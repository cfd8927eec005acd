"""Image-to-image datasets built in memory from MNIST and Fashion-MNIST.

- ``mnist-edges`` (paired, pix2pix): ``image`` = a digit's outline, ``target`` = the digit.
- ``mnist-inverted`` (unpaired, CycleGAN): domain A = the even-indexed digits, domain B =
  the odd-indexed digits inverted, so no digit is in both and no pair is ever seen.
- ``mnist-fashion`` (unpaired): domain A = MNIST digits, domain B = Fashion-MNIST items.

The unpaired sets have two streams, ``("image", "label")`` and ``("image_b", "label_b")``,
which :class:`ganzoo.datasets.batches.InMemoryBatches` shuffles independently. Everything is uint8 in
memory; nothing is written beside the data.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..data import ItemData
from ..errors import DataUnavailableError
from .common import _check_split
from .derived import derive
from .idx import load_fashion_mnist, load_mnist

EDGE_CHUNK = 8192
"""Images per max-pool call in :func:`morphological_edges` (bounds the int16 temporaries)."""

UNPAIRED_STREAMS = (("image", "label"), ("image_b", "label_b"))
"""The two independently shuffled domains of an unpaired MNIST set."""


def morphological_edges(images: torch.Tensor) -> torch.Tensor:
    """The outline of each image: its 3x3 dilation minus the image, clamped to 0..255.

    The dilation is a 3x3 max-pool with stride 1 and padding 1 (outside the image counts as
    0), so a pixel of the outline is how much brighter its brightest neighbour is: the ring
    just outside a stroke is bright, the inside of a thick stroke is dark. This is the MNIST
    edge pair of CoGAN (Liu & Tuzel 2016, arXiv:1606.07536).

    Args:
        images: uint8 ``[N, C, H, W]``.

    Returns:
        uint8 ``[N, C, H, W]``.

    Example::

        >>> x = torch.zeros(1, 1, 3, 3, dtype=torch.uint8); x[0, 0, 1, 1] = 200
        >>> morphological_edges(x)[0, 0].tolist()
        [[200, 200, 200], [200, 0, 200], [200, 200, 200]]
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor [N, C, H, W]")
    out = torch.empty_like(images)
    for start in range(0, len(images), EDGE_CHUNK):
        x = images[start:start + EDGE_CHUNK].to(torch.int16)
        dilated = F.max_pool2d(x.float(), kernel_size=3, stride=1, padding=1).to(torch.int16)
        out[start:start + EDGE_CHUNK] = (dilated - x).clamp_(0, 255).to(torch.uint8)
    return out


def invert(images: torch.Tensor) -> torch.Tensor:
    """``255 - x`` of uint8 images (white digits on black become black on white)."""
    return 255 - images


def edge_pairs(data: ItemData, split: str) -> ItemData:
    """MNIST as pix2pix pairs: ``image`` = :func:`morphological_edges` of each digit,
    ``target`` = the digit, ``label`` = its class; one stream (aligned item by item)."""
    digits = data.fields["image"]
    return ItemData({"image": morphological_edges(digits), "target": digits, "label": data.labels},
                    classes={"label": data.num_classes or 10})


def inverted_domains(data: ItemData, split: str) -> ItemData:
    """MNIST as two unpaired domains: A = items 0, 2, 4, ... (``image``, ``label``), B =
    items 1, 3, 5, ... inverted (``image_b``, ``label_b``); two streams."""
    digits, labels = data.fields["image"], data.labels
    return ItemData({"image": digits[0::2].contiguous(), "label": labels[0::2].contiguous(),
                     "image_b": invert(digits[1::2]), "label_b": labels[1::2].contiguous()},
                    classes={"label": 10, "label_b": 10}, streams=UNPAIRED_STREAMS)


_edges_of_mnist = derive("mnist", edge_pairs)
_inverted_of_mnist = derive("mnist", inverted_domains)


def load_mnist_edges(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``mnist-edges``: :func:`edge_pairs` of the registered ``mnist`` (train from MNIST
    train, test from MNIST test). The edge operator is the morphological outline, 3x3
    dilation minus the digit (:func:`morphological_edges`)."""
    return _edges_of_mnist(data_dir, split, image_size)


def load_mnist_inverted(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``mnist-inverted``: :func:`inverted_domains` of the registered ``mnist``: 30,000 /
    5,000 digits per domain for train / test."""
    return _inverted_of_mnist(data_dir, split, image_size)


def load_mnist_fashion(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``mnist-fashion``: domain A = the split's MNIST digits (``image``, ``label``), domain B =
    the split's Fashion-MNIST items (``image_b``, ``label_b``); two streams.

    Raises:
        DataUnavailableError: the MNIST or the Fashion-MNIST files are missing (the message
            says which, and where to put them).
    """
    _check_split(split, "mnist-fashion")
    parts = []
    for domain, name, reader in (("A", "MNIST", load_mnist), ("B", "Fashion-MNIST", load_fashion_mnist)):
        try:
            parts.append(reader(data_dir, split))
        except DataUnavailableError as exc:
            raise DataUnavailableError(f"mnist-fashion needs {name} (its domain {domain}): {exc}") from None
    digits, fashion = parts
    return ItemData({"image": digits.images, "label": digits.labels,
                     "image_b": fashion.images, "label_b": fashion.labels},
                    classes={"label": 10, "label_b": 10}, streams=UNPAIRED_STREAMS)
