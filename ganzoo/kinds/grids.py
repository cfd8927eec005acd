"""What a person looks at: sample grids, translation rows and scatter plots, as PNG files.

Every file is written to a temporary name and renamed, so a crash never leaves half a PNG.

:func:`make_grid` and :func:`save_image` draw what torchvision's functions of those names
draw (same padding, normalisation and rounding), without importing torchvision: its import
pulls in torch._dynamo and costs a training run about 1.5 s of start-up.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..files import write_atomically

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


def render_points(points: torch.Tensor, reference: torch.Tensor | None = None, size: int = 256,
                  extent: float | None = None) -> torch.Tensor:
    """A scatter plot of 2-D points as an RGB image ``[3, size, size]`` in [0, 1]:
    generated points white, reference (real) points blue, on black."""
    basis = reference if reference is not None else points
    if extent is None:
        extent = max(float(torch.quantile(basis[:, :2].abs().flatten().float(), 0.99)) * 1.25, 1e-3)
    image = torch.zeros(3, size, size)
    for cloud, colour in ((reference, (0.2, 0.4, 1.0)), (points, (1.0, 1.0, 1.0))):
        if cloud is None:
            continue
        xy = ((cloud[:, :2].float().cpu() / extent + 1) / 2 * (size - 1)).round().long()
        xy = xy[((xy >= 0) & (xy < size)).all(dim=1)]
        mask = torch.zeros(size * size)
        mask[(size - 1 - xy[:, 1]) * size + xy[:, 0]] = 1.0
        mask = mask.view(size, size)
        for channel, value in enumerate(colour):
            image[channel] = torch.where(mask > 0, torch.tensor(value), image[channel])
    return image


def save_points(points: torch.Tensor, path: Path, reference: torch.Tensor | None = None) -> None:
    """Save a scatter plot of 2-D points as a PNG (temporary file, then rename)."""
    write_atomically(Path(path), lambda tmp: save_image(render_points(points, reference), tmp, format="PNG"))
