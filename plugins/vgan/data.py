"""Moving MNIST (Srivastava, Mansimov & Salakhutdinov 2015): MNIST digits bouncing in a box.

The recipe of the paper's data generator: each clip has ``num_digits`` (2) MNIST digits, each
placed at a uniformly random position in the free part of the canvas (canvas side minus digit
side), moving in a uniformly random direction; at each frame a digit first takes its step and
then bounces: a coordinate that left ``[0, 1]`` is clamped to the edge and its velocity
component flips sign. The frame is the pixel-wise **max** of the digits drawn at their
positions (``floor(free * position)``). Srivastava et al.'s generator uses a fixed step of 0.1
(of the free canvas per frame); here each digit draws its speed uniformly from
:data:`SPEED` = [0.05, 0.15] (mean 0.1), so clips also differ in speed.

Two registered versions (``DatasetSpec.load`` gets no options, so each size is a name):

==================  =========================  ===============================================
``moving-mnist``    64x64, 20 frames           the paper's size and length; 28x28 digits
``moving-mnist-32`` 32x32, 16 frames           for a CPU; digits scaled to 14x14 (antialiased)
==================  =========================  ===============================================

Fields: ``video`` (uint8 ``[N, 1, T, H, W]``, frames per second :data:`FPS` for GIFs) and
``label`` = ``10 * d0 + d1``, the ordered digit pair (100 classes; ``divmod(label, 10)``
gives the two digits, :func:`digits_of`). Train clips are made from the MNIST train digits,
test clips from the MNIST test digits, each split with its own fixed seed, so the same
files always give the same clips. Clip counts are memory-aware (:data:`VERSIONS`): 10,000 train /
2,000 test clips at 32 px (164 + 33 MB), 3,000 / 1,000 at 64 px (246 + 82 MB), and never
more clips than the split has digits (a 64-digit test folder makes 64 clips).

Example::

    data = moving_mnist(mnist.images[:, 0], mnist.labels, clips=100, frames=16, size=32, seed=0)
    data.fields["video"].shape    # torch.Size([100, 1, 16, 32, 32])
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ganzoo.data import ItemData
from ganzoo.datasets.derived import derive
from ganzoo.errors import ConfigError

CANVAS = 64
"""The paper's canvas side; a digit is 28 px on it and scaled with the canvas."""

DIGIT = 28
"""MNIST's digit side."""

SPEED = (0.05, 0.15)
"""Step length per frame, in units of the free canvas (uniform in this range; the paper's 0.1)."""

FPS = 8
"""Frames per second of the clips (GIF previews)."""

MIN_SIZE = 16
"""The smallest canvas: a digit is then 7x7."""

CHUNK = 1000
"""Clips rendered at once."""

SEEDS = {"train": 0, "test": 1}
"""The fixed seed of each split's clips."""

VERSIONS = {"moving-mnist": (64, 20, {"train": 3_000, "test": 1_000}),
            "moving-mnist-32": (32, 16, {"train": 10_000, "test": 2_000})}
"""Registered name -> (frame side, frames, the most clips per split): 246 + 82 MB at 64 px,
164 + 33 MB at 32 px."""


def bounce(position: torch.Tensor, velocity: torch.Tensor, frames: int) -> torch.Tensor:
    """The recipe's trajectories: ``frames`` positions in ``[0, 1]^2`` of each digit.

    At every frame each digit first moves by its velocity, then bounces: a coordinate below 0
    (above 1) is set to 0 (1) and that velocity component changes sign. The first frame is
    already one step from the start, as in Srivastava et al.'s generator.

    Args:
        position: float64 ``[..., 2]`` start positions (row, column) in ``[0, 1]``.
        velocity: float64 ``[..., 2]`` steps per frame.
        frames: how many positions to return.

    Returns:
        float64 ``[..., frames, 2]``.

    Example (a digit at column 0.95 moving right by 0.1 hits the wall and comes back)::

        >>> p = bounce(torch.tensor([[0.5, 0.95]], dtype=torch.float64),
        ...            torch.tensor([[0.0, 0.1]], dtype=torch.float64), 3)
        >>> [round(v, 6) for v in p[0, :, 1].tolist()]
        [1.0, 0.9, 0.8]
    """
    position, velocity = position.clone().double(), velocity.clone().double()
    path = []
    for _ in range(frames):
        position += velocity
        low, high = position <= 0, position >= 1
        position = position.clamp(0, 1)
        velocity = torch.where(low | high, -velocity, velocity)
        path.append(position.clone())
    return torch.stack(path, dim=-2)


def pixel_positions(path: torch.Tensor, free: int) -> torch.Tensor:
    """Top-left corners in pixels of positions in ``[0, 1]``: ``floor(free * p)`` (int64)."""
    return (path * free).floor().long().clamp(0, free)


def digit_side(size: int) -> int:
    """A digit's side on a ``size`` canvas: 28 scaled by ``size / 64`` (14 at 32 px)."""
    return max(1, round(DIGIT * size / CANVAS))


def scale_digits(digits: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 ``[M, 28, 28]`` digits as ``[M, side, side]`` (bilinear, antialiased, rounded)."""
    if side == digits.shape[-1]:
        return digits.clone()
    small = F.interpolate(digits.unsqueeze(1).float(), size=(side, side), mode="bilinear",
                          antialias=True, align_corners=False)
    return small.round_().clamp_(0, 255).to(torch.uint8)[:, 0]


def render(digits: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
    """Frames with each digit drawn at its corners, combined by max.

    Args:
        digits: uint8 ``[N, K, d, d]``, the K digits of each clip at their drawn size.
        corners: int64 ``[N, K, T, 2]`` top-left (row, column) of each digit in each frame.
        size: the frame side (``corners + d <= size``).

    Returns:
        uint8 ``[N, 1, T, size, size]``.
    """
    n, k, d = digits.shape[0], digits.shape[1], digits.shape[-1]
    frames = corners.shape[2]
    video = torch.zeros(n, frames, size, size, dtype=torch.uint8)
    flat = video.view(-1)
    offset = torch.arange(d)
    for start in range(0, n, CHUNK):  # bounds the index tensors (CHUNK clips at a time)
        part = slice(start, min(n, start + CHUNK))
        m = part.stop - part.start
        first = ((torch.arange(start, part.stop).view(m, 1) * frames + torch.arange(frames)) * size * size)
        for j in range(k):  # one gather and one scatter per digit: every clip and frame at once
            rows = corners[part, j, :, 0:1] + offset                         # [m, T, d]
            cols = corners[part, j, :, 1:2] + offset                         # [m, T, d]
            index = (first.view(m, frames, 1, 1) + rows.unsqueeze(3) * size + cols.unsqueeze(2)).flatten()
            pixels = digits[part, j].unsqueeze(1).expand(m, frames, d, d).flatten()
            flat[index] = torch.maximum(flat[index], pixels)  # a digit covers each pixel once
    return video.unsqueeze(1)


def digits_of(label: torch.Tensor, num_digits: int = 2) -> torch.Tensor:
    """The digits of clip labels ``sum_j d_j 10^(K-1-j)``: int64 ``[N, K]``.

    Example::

        >>> digits_of(torch.tensor([37, 5])).tolist()
        [[3, 7], [0, 5]]
    """
    powers = 10 ** torch.arange(num_digits - 1, -1, -1)
    return (label.view(-1, 1) // powers) % 10


def moving_mnist(digits: torch.Tensor, labels: torch.Tensor, clips: int, frames: int = 16, size: int = 32,
                 num_digits: int = 2, seed: int = 0, speed: tuple[float, float] = SPEED) -> ItemData:
    """Moving MNIST clips made from ``digits`` (the recipe in the module's docstring).

    Args:
        digits: uint8 ``[M, 28, 28]`` (or ``[M, 1, 28, 28]``) MNIST digits to draw from.
        labels: int64 ``[M]``, their classes 0..9.
        clips: how many clips.
        frames: frames per clip (at least 2).
        size: the frame side in pixels (at least :data:`MIN_SIZE`); digits are scaled by
            ``size / 64``.
        num_digits: digits per clip (1 to 3).
        seed: the clips are a function of the digits and the seed.
        speed: ``(low, high)`` step length per frame in units of the free canvas.

    Returns:
        :class:`ItemData` with ``video`` (uint8 ``[clips, 1, frames, size, size]``, rate
        :data:`FPS`) and ``label`` (``sum_j d_j 10^(K-1-j)``, ``10^K`` classes).

    Raises:
        ConfigError: a bad option or empty digits (one line).
    """
    if digits.dim() == 4 and digits.shape[1] == 1:
        digits = digits[:, 0]
    if digits.dtype != torch.uint8 or digits.dim() != 3 or len(digits) == 0:
        raise ConfigError("moving-mnist needs uint8 digits [M, H, W] (at least one)")
    if len(labels) != len(digits):
        raise ConfigError(f"moving-mnist: {len(digits)} digits but {len(labels)} labels")
    if frames < 2:
        raise ConfigError(f"a moving-mnist clip needs at least 2 frames, got {frames}")
    if size < MIN_SIZE:
        raise ConfigError(f"moving-mnist frames must be at least {MIN_SIZE}x{MIN_SIZE} px, got {size}")
    if not 1 <= num_digits <= 3:
        raise ConfigError(f"moving-mnist draws 1 to 3 digits per clip, got {num_digits}")
    if clips < 1:
        raise ConfigError(f"moving-mnist needs at least 1 clip, got {clips}")
    if not 0 <= speed[0] <= speed[1] or not math.isfinite(speed[1]):
        raise ConfigError(f"moving-mnist speed must be a range 0 <= low <= high, got {tuple(speed)}")
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(digits), (clips, num_digits), generator=gen)
    start = torch.rand(clips, num_digits, 2, generator=gen, dtype=torch.float64)
    theta = torch.rand(clips, num_digits, generator=gen, dtype=torch.float64) * 2 * math.pi
    step = speed[0] + (speed[1] - speed[0]) * torch.rand(clips, num_digits, generator=gen, dtype=torch.float64)
    velocity = torch.stack([theta.sin(), theta.cos()], dim=-1) * step.unsqueeze(-1)
    side = digit_side(size)
    corners = pixel_positions(bounce(start, velocity, frames), size - side)
    video = render(scale_digits(digits, side)[picks], corners, size)
    classes = labels.long()[picks]
    label = (classes * 10 ** torch.arange(num_digits - 1, -1, -1)).sum(dim=1)
    return ItemData({"video": video, "label": label}, classes={"label": 10 ** num_digits}, rates={"video": FPS})


def clips_of(mnist: ItemData, split: str, size: int, frames: int, most: int) -> ItemData:
    """A split of Moving MNIST from a split of MNIST: ``min(most, digits)`` clips, the split's
    seed (:data:`SEEDS`)."""
    digits = mnist.fields["image"]
    count = min(most, len(digits))
    return moving_mnist(digits, mnist.labels, clips=count, frames=frames, size=size,
                        seed=SEEDS.get(split, SEEDS["test"]))


def _loader(name: str):
    size, frames, most = VERSIONS[name]

    def transform(mnist: ItemData, split: str) -> ItemData:
        return clips_of(mnist, split, size, frames, most.get(split, most["test"]))

    transform.__name__ = f"{name.replace('-', '_')}_clips"
    return derive("mnist", transform)


_load_64, _load_32 = _loader("moving-mnist"), _loader("moving-mnist-32")


def load_moving_mnist(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``moving-mnist``: 64x64 clips of 20 frames (the paper's), from the registered ``mnist``."""
    return _load_64(data_dir, split, image_size)


def load_moving_mnist_32(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``moving-mnist-32``: 32x32 clips of 16 frames (for a CPU), from the registered ``mnist``."""
    return _load_32(data_dir, split, image_size)
