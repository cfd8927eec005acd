"""``mnist-domains``: MNIST digits rendered in five appearances, one domain label per image (StarGAN).

Domains (the ``domain`` field, int64, kind ``label``):

====  ==========  ===============================================================
 0    original    the digit as it is
 1    inverted    ``255 - x`` (a dark digit on a white field)
 2    thickened   3x3 grey-level dilation (a 3x3 max filter): strokes ~2 px wider
 3    thinned     grey-level erosion by a 3-pixel cross (the pixel and its 4
                  neighbours; a min filter), then the contrast stretched back to
                  0..255 per image: strokes ~2 px thinner, still legible (a full
                  3x3 square erosion breaks the thinnest MNIST strokes)
 4    rotated     rotated 90 degrees counter-clockwise (``torch.rot90``)
====  ==========  ===============================================================

Item ``i`` of a split is rendered in domain ``i % 5`` (deterministic; about 12,000 training
images per domain), and keeps its digit in ``label``. Everything is computed in memory from
the registered ``mnist`` (:func:`ganzoo.datasets.derived.derive`); nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ganzoo.data import ItemData
from ganzoo.datasets.derived import derive

DOMAINS = ("original", "inverted", "thickened", "thinned", "rotated")
"""The domain names, by index."""

NUM_DOMAINS = len(DOMAINS)

CHUNK = 8192
"""Images per filter call (bounds the float temporaries)."""


def _chunked(images: torch.Tensor, fn) -> torch.Tensor:
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor [N, C, H, W]")
    out = torch.empty_like(images)
    for start in range(0, len(images), CHUNK):
        out[start:start + CHUNK] = fn(images[start:start + CHUNK].float()).round().clamp(0, 255).to(torch.uint8)
    return out


def invert(images: torch.Tensor) -> torch.Tensor:
    """Domain 1: ``255 - x``."""
    return 255 - images


def thicken(images: torch.Tensor) -> torch.Tensor:
    """Domain 2: the 3x3 grey-level dilation (max over each pixel's 3x3 neighbourhood; outside
    the image counts as 0)."""
    return _chunked(images, lambda x: F.max_pool2d(x, 3, stride=1, padding=1))


def thin(images: torch.Tensor) -> torch.Tensor:
    """Domain 3: grey-level erosion by a cross (min over the pixel and its 4 neighbours;
    outside the image counts as 0), then each image's values stretched so its brightest pixel
    is 255 again (an image that erodes to nothing stays black).

    Example::

        >>> x = torch.zeros(1, 1, 5, 5, dtype=torch.uint8); x[0, 0, 1:4, 1:4] = 100
        >>> thin(x)[0, 0].tolist()[2]
        [0, 0, 255, 0, 0]
    """
    def erode(x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (1, 1, 1, 1))
        center = padded[..., 1:-1, 1:-1]
        neighbours = torch.stack([center, padded[..., :-2, 1:-1], padded[..., 2:, 1:-1],
                                  padded[..., 1:-1, :-2], padded[..., 1:-1, 2:]])
        eroded = neighbours.amin(dim=0)
        peak = eroded.flatten(1).amax(dim=1).clamp(min=1.0).view(-1, 1, 1, 1)
        return eroded * (255.0 / peak)
    return _chunked(images, erode)


def rotate(images: torch.Tensor) -> torch.Tensor:
    """Domain 4: rotated 90 degrees counter-clockwise."""
    return torch.rot90(images, 1, dims=(-2, -1)).contiguous()


RENDER = (lambda x: x.clone(), invert, thicken, thin, rotate)
"""``RENDER[k](uint8 images)``: the images in domain ``k``."""


def render(images: torch.Tensor, domain: int) -> torch.Tensor:
    """``images`` (uint8 ``[N, C, H, W]``, original MNIST) rendered in domain ``domain``."""
    if not 0 <= domain < NUM_DOMAINS:
        raise ValueError(f"unknown domain {domain}: mnist-domains has 0..{NUM_DOMAINS - 1}")
    return RENDER[domain](images)


def domain_items(data: ItemData, split: str) -> ItemData:
    """MNIST with item ``i`` rendered in domain ``i % 5``: fields ``image`` (uint8), ``label``
    (the digit) and ``domain`` (int64 index into :data:`DOMAINS`); one stream."""
    digits, labels = data.fields["image"], data.labels
    domains = torch.arange(len(digits), dtype=torch.int64) % NUM_DOMAINS
    images = digits.clone()
    for k in range(NUM_DOMAINS):
        chosen = domains == k
        images[chosen] = render(digits[chosen], k)
    return ItemData({"image": images, "label": labels.clone(), "domain": domains},
                    classes={"label": data.num_classes or 10, "domain": NUM_DOMAINS})


_domains_of_mnist = derive("mnist", domain_items)


def load_mnist_domains(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``mnist-domains``: :func:`domain_items` of the registered ``mnist`` (train: 60,000
    images, 12,000 per domain; test: 10,000, 2,000 per domain)."""
    return _domains_of_mnist(data_dir, split, image_size)
