"""Masked image datasets for inpainting, derived in memory from the registered ``mnist`` and
``fashion-mnist`` (:func:`ganzoo.datasets.derived.derive`; nothing is written beside the data).

Each item is ``image`` (uint8, the original, unchanged), ``mask`` (uint8 ``[N, 1, H, W]``, 1 where
the image is to be filled; the core's ``mask`` field kind) and ``label`` (the class, kept for
readers; the model does not use it).

- ``*-center``: the centre square of half the side (rows and columns 7..20 of 28), the paper's
  central region (Pathak et al. 2016 mask the centre 64x64 of 128x128 images).
- ``image-folder-center`` / ``image-folder-random``: the same masks on the registered
  ``image-folder`` (a user's own images, resized and cropped to ``--image-size``).
- ``*-random``: the paper's "random block" masks: squares of side ``H/6 .. H/3`` (4..9 px at
  28) at uniform positions, added one by one while the union covers at most a quarter of the
  image (at most :data:`MAX_BLOCKS` tries, so 1 to 8 blocks per item). The masks are drawn
  from a ``torch.Generator`` seeded per split (:data:`RANDOM_SEEDS`), so every load of a split
  gives the same masks, and train and test masks differ.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganzoo.data import ItemData
from ganzoo.datasets.derived import derive

MAX_BLOCKS = 8
"""Blocks tried per item for the random masks (each kept only if the union stays within the cover)."""

MAX_COVER = 0.25
"""The largest share of an image the random blocks may cover (the paper's "up to 1/4")."""

RANDOM_SEEDS = {"train": 1604, "test": 7379}
"""The seed of each split's random masks (other split names hash to a seed of their own)."""


def center_mask(height: int, width: int, size: int | None = None) -> torch.Tensor:
    """uint8 ``[1, 1, H, W]``: 1 on the centre square of side ``size`` (default half the
    shorter side), 0 elsewhere.

    Example:
        >>> m = center_mask(28, 28)
        >>> int(m.sum()), m[0, 0, 7, 7].item(), m[0, 0, 6, 7].item(), m[0, 0, 20, 20].item()
        (196, 1, 0, 1)
    """
    size = min(height, width) // 2 if size is None else size
    mask = torch.zeros(1, 1, height, width, dtype=torch.uint8)
    top, left = (height - size) // 2, (width - size) // 2
    mask[..., top:top + size, left:left + size] = 1
    return mask


def random_block_masks(n: int, height: int, width: int, seed: int) -> torch.Tensor:
    """uint8 ``[n, 1, H, W]`` random block masks (see the module's doc), the same for the same seed.

    Vectorised over the items: each of :data:`MAX_BLOCKS` rounds draws one square per item and
    keeps it where the union would still cover at most :data:`MAX_COVER` of the image (the
    first always fits: a third of the side squared is a ninth of the image).
    """
    g = torch.Generator().manual_seed(seed)
    side = min(height, width)
    low, high = max(1, side // 6), max(1, side // 3)
    rows = torch.arange(height).view(1, height, 1)
    cols = torch.arange(width).view(1, 1, width)
    masks = torch.zeros(n, height, width, dtype=torch.bool)
    limit = MAX_COVER * height * width
    for _ in range(MAX_BLOCKS):
        sizes = torch.randint(low, high + 1, (n,), generator=g)
        top = (torch.rand(n, generator=g) * (height - sizes + 1)).long()
        left = (torch.rand(n, generator=g) * (width - sizes + 1)).long()
        block = ((rows >= top.view(n, 1, 1)) & (rows < (top + sizes).view(n, 1, 1))
                 & (cols >= left.view(n, 1, 1)) & (cols < (left + sizes).view(n, 1, 1)))
        union = masks | block
        fits = union.flatten(1).sum(1) <= limit
        masks = torch.where(fits.view(n, 1, 1), union, masks)
    return masks.unsqueeze(1).to(torch.uint8)


def split_seed(split: str) -> int:
    """:data:`RANDOM_SEEDS` of ``split``, or a fixed number made from its name."""
    return RANDOM_SEEDS.get(split, sum((i + 1) * ord(c) for i, c in enumerate(split)))


def with_center_masks(data: ItemData, split: str) -> ItemData:
    """``image`` and ``label`` of ``data`` with a centre ``mask`` (half the side) on every item."""
    images = data.fields["image"]
    n, _, height, width = images.shape
    mask = center_mask(height, width).expand(n, 1, height, width).contiguous()
    return _masked(data, mask)


def with_random_masks(data: ItemData, split: str) -> ItemData:
    """``image`` and ``label`` of ``data`` with :func:`random_block_masks` seeded by the split."""
    images = data.fields["image"]
    n, _, height, width = images.shape
    return _masked(data, random_block_masks(n, height, width, split_seed(split)))


def _masked(data: ItemData, mask: torch.Tensor) -> ItemData:
    fields = {"image": data.fields["image"], "mask": mask}
    if data.labels is not None:
        fields["label"] = data.labels
    return ItemData(fields, classes={"label": data.num_classes or 10} if data.labels is not None else None)


_mnist_center = derive("mnist", with_center_masks)
_mnist_random = derive("mnist", with_random_masks)
_fashion_center = derive("fashion-mnist", with_center_masks)
_fashion_random = derive("fashion-mnist", with_random_masks)
_folder_center = derive("image-folder", with_center_masks)
_folder_random = derive("image-folder", with_random_masks)


def load_mnist_center(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``mnist-center``: MNIST with the centre mask (:func:`with_center_masks`)."""
    return _mnist_center(data_dir, split, image_size)


def load_mnist_random(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``mnist-random``: MNIST with random block masks (:func:`with_random_masks`)."""
    return _mnist_random(data_dir, split, image_size)


def load_fashion_mnist_center(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``fashion-mnist-center``: Fashion-MNIST with the centre mask."""
    return _fashion_center(data_dir, split, image_size)


def load_fashion_mnist_random(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``fashion-mnist-random``: Fashion-MNIST with random block masks."""
    return _fashion_random(data_dir, split, image_size)


def load_image_folder_center(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``image-folder-center``: a user's folder of images (``image-folder``) with the centre mask."""
    return _folder_center(data_dir, split, image_size)


def load_image_folder_random(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``image-folder-random``: a user's folder of images with random block masks (per split)."""
    return _folder_random(data_dir, split, image_size)
