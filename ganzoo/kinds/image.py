"""The ``image`` kind: uint8 pictures ``[N, C, H, W]``, and the grids every picture is drawn as.

Batches are float in [-1, 1], resized (bilinear, antialiased) to the training size. What a
person gets of generated images is one PNG grid; other kinds draw their pictures (spectrograms,
frame strips) with the same :func:`save_grid`.

:func:`make_grid` and :func:`save_image` draw what torchvision's functions of those names
draw (same padding, normalisation and rounding), without importing torchvision: its import
pulls in torch._dynamo and costs a training run about 1.5 s of start-up. Every file is
written to a temporary name and renamed, so a crash never leaves half a PNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ..files import suffixed, write_atomically
from . import FieldKind, FieldShape, scaled

TRANSLATIONS_PER_ROW = 8
"""Examples side by side in a translation preview (each block: input, output[, target] rows)."""


def square_nrow(n: int) -> int:
    """Images per row of the squarest grid that holds ``n`` images."""
    return max(1, math.isqrt(n - 1) + 1)


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, pad_value: float = 0.0) -> torch.Tensor:
    """Tile ``images`` ``[N, C, H, W]`` into one ``[3, H', W']`` image (``nrow`` per row, gray
    repeated to RGB, ``padding`` pixels of ``pad_value`` around each); with ``normalize``,
    ``value_range`` (default: the batch's min and max) is mapped to [0, 1] after clamping."""
    if images.dim() == 3:
        images = images.unsqueeze(0)
    images = images.detach().float().cpu()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if normalize:
        low, high = value_range if value_range is not None else (float(images.min()), float(images.max()))
        images = images.clamp(low, high).sub(low).div(max(high - low, 1e-5))
    n, channels, height, width = images.shape
    if n == 1:
        return images[0]
    columns = min(nrow, n)
    rows = math.ceil(n / columns)
    cell_h, cell_w = height + padding, width + padding
    grid = images.new_full((channels, rows * cell_h + padding, columns * cell_w + padding), pad_value)
    for k in range(n):
        top, left = (k // columns) * cell_h + padding, (k % columns) * cell_w + padding
        grid[:, top:top + height, left:left + width] = images[k]
    return grid


def save_image(images: torch.Tensor, fp, nrow: int = 8, normalize: bool = False,
               value_range: tuple[float, float] | None = None, format: str | None = None) -> None:
    """Write :func:`make_grid` of ``images`` (values in [0, 1] unless ``normalize``) as an
    8-bit RGB image file (PNG unless ``format`` says otherwise)."""
    from PIL import Image

    grid = make_grid(images, nrow=nrow, normalize=normalize, value_range=value_range)
    pixels = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(fp, format=format)




def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """Save images in [-1, 1] as one PNG grid, written to a temporary file then renamed."""
    write_atomically(Path(path), lambda tmp: save_image(
        images.float().cpu(), tmp, nrow=nrow or square_nrow(len(images)), normalize=True,
        value_range=(-1, 1), format="PNG"))


def grid_image(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """The grid :func:`save_grid` writes, as an RGB tensor ``[3, H, W]`` in [0, 1] (TensorBoard)."""
    return make_grid(images.float().cpu(), nrow=nrow or square_nrow(len(images)), normalize=True,
                     value_range=(-1, 1))


def grid_labels(num_classes: int | None, n: int) -> tuple[torch.Tensor | None, int | None]:
    """Labels for a sample grid of about ``n`` images: one row per class when there are
    at most 32 classes (``(labels, images_per_row)``), else cycling labels; ``(None, None)``
    for unconditional models."""
    if not num_classes:
        return None, None
    if num_classes <= 32:
        per_class = max(1, n // num_classes)
        return torch.arange(num_classes).repeat_interleave(per_class), per_class
    return torch.arange(n) % num_classes, None


def _as_rgb(images: torch.Tensor, channels: int) -> torch.Tensor:
    if images.shape[1] == channels:
        return images
    if images.shape[1] == 1:
        return images.expand(-1, channels, -1, -1)
    return images.mean(dim=1, keepdim=True).expand(-1, channels, -1, -1)


def _fit(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(images.shape[-2:]) == size:
        return images
    return torch.nn.functional.interpolate(images.float(), size=size, mode="nearest")


def stack_rows(*parts: torch.Tensor, per_row: int = TRANSLATIONS_PER_ROW) -> tuple[torch.Tensor, int]:
    """Interleave batches as rows: blocks of ``per_row`` examples, one row per part (input,
    output, target...). Parts with fewer channels or another size are brought to the
    largest (gray to RGB, nearest-neighbour resize), so a 7x7 input sits above its 28x28 output.

    Returns:
        ``(images, per_row)`` for :func:`save_grid`.
    """
    parts = tuple(p.detach().float().cpu() for p in parts)
    n = min(len(p) for p in parts)
    channels = max(p.shape[1] for p in parts)
    size = max((tuple(p.shape[-2:]) for p in parts), key=lambda s: s[0] * s[1])
    parts = tuple(_fit(_as_rgb(p[:n], channels), size) for p in parts)
    rows = []
    for start in range(0, n, per_row):
        for part in parts:
            block = part[start:start + per_row]
            if len(block) < per_row:  # pad the last block with blank (-1) images
                block = torch.cat([block, torch.full((per_row - len(block), *block.shape[1:]), -1.0)])
            rows.append(block)
    return torch.cat(rows), per_row


def to_model_range(images: torch.Tensor, image_size: int | None = None) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` to float in [-1, 1], resized (bilinear, antialiased) if asked."""
    x = images.float()
    if image_size is not None and x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear",
                          antialias=True, align_corners=False)
    return x.div_(127.5).sub_(1.0).clamp_(-1.0, 1.0)


def to_uint8(images: torch.Tensor) -> Any:
    """Images in [-1, 1] ``[N, C, H, W]`` as a uint8 numpy array ``[N, H, W, C]`` (0..255, the
    layout image tools expect)."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


class ImageKind(FieldKind):
    name = "image"
    stored = "uint8 [N, C, H, W]; batches are float in [-1, 1], resized to the training size"
    generated = True
    sized = True
    channels_last = True
    class_rows = True
    sample_file = "grid.png"
    noun = "images"
    pipeline_tags = {"unconditional": "unconditional-image-generation",
                     "conditional": "unconditional-image-generation",
                     "image-to-image": "image-to-image", "super-resolution": "image-to-image",
                     "inpainting": "image-to-image", "multi-domain": "image-to-image",
                     "autoencoder": "image-to-image", "encoder": "unconditional-image-generation"}

    def validate(self, name: str, tensor: torch.Tensor) -> None:
        if tensor.dtype != torch.uint8 or tensor.dim() != 4:
            raise ValueError(f"{name} must be a uint8 tensor [N, C, H, W]")

    def resized(self, shape: tuple[int, ...], scale: float) -> tuple[int, ...]:
        return (shape[0], scaled(shape[1], scale), scaled(shape[2], scale))

    def prepare(self, batch: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        size = scaled(batch.shape[-1], scale)
        return to_model_range(batch, size if size != batch.shape[-1] else None)

    def summary(self, shape: tuple[int, ...]) -> dict[str, int]:
        return {"channels": shape[0], "image_size": shape[-1]}

    def companion_shape(self, primary: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(primary)

    def synthetic(self, n: int, shape: tuple[int, ...], generator: torch.Generator,
                  field: FieldShape | None = None) -> torch.Tensor:
        return torch.randint(0, 256, (n, *shape), generator=generator, dtype=torch.uint8)

    def examples(self, labels: torch.Tensor, num_classes: int, generator: torch.Generator, *,
                 channels: int = 1, size: int = 16) -> tuple[torch.Tensor, FieldShape]:
        """A bright square whose place encodes the label (10 places), on noise."""
        n = len(labels)
        images = torch.randint(0, 64, (n, channels, size, size), generator=generator, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            row, col = divmod(label, 5)
            top, left = row * size // 2, col * size // 5
            images[i, :, top:top + max(1, size // 2), left:left + max(1, size // 5)] = 255
        return images, FieldShape(self.name, (channels, size, size))

    def check_batch(self, batch: torch.Tensor) -> str | None:
        if not batch.is_floating_point() or batch.dim() != 4:
            return f"float images [N, C, H, W] in [-1, 1], got {batch.dtype} {tuple(batch.shape)}"
        if batch.shape[1] not in (1, 3):
            return f"1- or 3-channel images (gray or RGB), got {batch.shape[1]} channels"
        return None

    def check_samples(self, samples: torch.Tensor, field: FieldShape | None = None) -> str | None:
        if not samples.is_floating_point():
            return f"images must be float, got {samples.dtype}"
        if samples.numel() and (samples.min() < -1 - 1e-4 or samples.max() > 1 + 1e-4):
            return (f"images must be in [-1, 1], got [{float(samples.min()):.3g}, {float(samples.max()):.3g}] "
                    "(end the generator with tanh)")
        return None

    def write_samples(self, samples: torch.Tensor, stem: Path, field: FieldShape | None = None, *,
                      nrow: int | None = None, reference: torch.Tensor | None = None,
                      one_by_one: int | None = None) -> list[Path]:
        path = suffixed(stem, ".png")
        save_grid(samples, path, nrow=nrow)
        return [path]

    def logged(self, samples: torch.Tensor, field: FieldShape | None = None, *,
               wants: Callable[[str], bool] = lambda method: True, nrow: int | None = None,
               reference: torch.Tensor | None = None, one_by_one: int | None = None) -> list[tuple[str, tuple]]:
        return [("image", (grid_image(samples, nrow),))] if wants("image") else []

    def npz_arrays(self, samples: torch.Tensor, field: FieldShape | None = None) -> dict[str, Any]:
        return {"images": to_uint8(samples)}

    def describe_output(self, shape: Sequence[int], field: FieldShape | None = None) -> dict[str, Any]:
        return {"name": "image", "dtype": "float32", "shape": ["N", *shape],
                "description": "image [N, channels, height, width] in [-1, 1]", "range": [-1, 1]}


KIND = ImageKind()
