"""The ``video`` kind: clips ``[N, C, T, H, W]``, stored uint8, batched as float in [-1, 1].

Frames are resized like images. What a person gets of generated clips: an animated GIF with
every clip playing at once, and a PNG with one row of frames per clip.

Example::

    save_gif(video, "clips.gif", fps=8)
    save_video_strip(video[:8], "frames.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..errors import ConfigError
from ..files import suffixed, write_atomically
from . import FieldKind, FieldShape, scaled
from .image import grid_image, make_grid, save_grid, square_nrow, to_model_range, to_uint8


def _as_video(video: torch.Tensor) -> torch.Tensor:
    video = torch.as_tensor(video)
    if video.dtype == torch.uint8:
        video = video.float() / 127.5 - 1
    video = video.detach().float().cpu()
    if video.dim() == 4:
        video = video.unsqueeze(0)
    if video.dim() != 5:
        raise ConfigError(f"video must be [N, C, T, H, W], got shape {tuple(video.shape)}")
    return video


def video_strip(video: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Clips ``[N, C, T, H, W]`` as frames ``[N*T, C, H, W]``, one row per clip.

    Returns:
        ``(frames, per_row)`` for :func:`ganzoo.kinds.image.save_grid`.
    """
    clips = _as_video(video)
    n, c, t, h, w = clips.shape
    return clips.transpose(1, 2).reshape(n * t, c, h, w), t


def save_video_strip(video: torch.Tensor, path: str | Path) -> Path:
    """Write a PNG with one row of frames per clip."""
    frames, per_row = video_strip(video)
    save_grid(frames, Path(path), nrow=per_row)
    return Path(path)


def save_gif(video: torch.Tensor, path: str | Path, fps: int | None = None, nrow: int | None = None) -> Path:
    """Write an animated GIF: every clip plays at once, tiled in a grid (``nrow`` per row,
    default the squarest), looping forever at ``fps`` frames per second (default 8)."""
    from PIL import Image

    clips = _as_video(video)
    n, _, t = clips.shape[:3]
    nrow = nrow or square_nrow(n)
    frames = []
    for k in range(t):
        grid = make_grid(clips[:, :, k], nrow=nrow, normalize=True, value_range=(-1, 1))
        pixels = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
        frames.append(Image.fromarray(pixels))
    duration = int(round(1000 / (fps or 8)))
    path = Path(path)
    write_atomically(path, lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                                                   duration=duration, loop=0))
    return path


class VideoKind(FieldKind):
    name = "video"
    stored = "uint8 [N, C, T, H, W]; batches are float in [-1, 1], frames resized like images"
    generated = True
    sized = True
    noun = "clips"
    caption = "Each clip animated, and a row of frames per clip underneath."
    sample_suffixes = (".gif", ".png")
    sample_file = "samples.gif"
    preview_limit = 16
    preview_one_by_one = 8
    rate_unit = "frames/s"

    def validate(self, name: str, tensor: torch.Tensor) -> None:
        if tensor.dtype != torch.uint8 or tensor.dim() != 5:
            raise ValueError(f"{name} must be a uint8 tensor [N, C, T, H, W]")

    def resized(self, shape: tuple[int, ...], scale: float) -> tuple[int, ...]:
        return (shape[0], shape[1], scaled(shape[2], scale), scaled(shape[3], scale))

    def prepare(self, batch: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        n, c, t, h, w = batch.shape
        frames = batch.transpose(1, 2).reshape(n * t, c, h, w)
        size = scaled(w, scale)
        out = to_model_range(frames, size if size != w else None)
        return out.reshape(n, t, c, out.shape[-2], out.shape[-1]).transpose(1, 2)

    def synthetic(self, n: int, shape: tuple[int, ...], generator: torch.Generator,
                  field: FieldShape | None = None) -> torch.Tensor:
        return torch.randint(0, 256, (n, *shape), generator=generator, dtype=torch.uint8)

    def examples(self, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, FieldShape]:
        """16 frames of 32x32 at 8 frames per second: a square moving right on row ``label``."""
        frames, size = 16, 32
        video = torch.randint(0, 32, (len(labels), 1, frames, size, size), generator=generator, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            row = 3 * label
            for f in range(frames):
                video[i, 0, f, row:row + 3, f:f + 4] = 255
        return video, FieldShape(self.name, (1, frames, size, size), rate=8)

    def check_samples(self, samples: torch.Tensor, field: FieldShape | None = None) -> str | None:
        if not samples.is_floating_point():
            return f"video must be float, got {samples.dtype}"
        if samples.numel() and (samples.min() < -1 - 1e-4 or samples.max() > 1 + 1e-4):
            return f"video must be in [-1, 1], got [{float(samples.min()):.3g}, {float(samples.max()):.3g}]"
        return None

    def write_samples(self, samples: torch.Tensor, stem: Path, field: FieldShape | None = None, *,
                      nrow: int | None = None, reference: torch.Tensor | None = None,
                      one_by_one: int | None = None) -> list[Path]:
        stem = Path(stem)
        fps = field.rate if field is not None else None
        strip = samples[:one_by_one] if one_by_one is not None else samples
        return [save_gif(samples, suffixed(stem, ".gif"), fps=fps, nrow=nrow),
                save_video_strip(strip, suffixed(stem, ".png"))]

    def logged(self, samples: torch.Tensor, field: FieldShape | None = None, *,
               wants: Callable[[str], bool] = lambda method: True, nrow: int | None = None,
               reference: torch.Tensor | None = None, one_by_one: int | None = None) -> list[tuple[str, tuple]]:
        if not wants("image"):
            return []
        frames, per_row = video_strip(samples[:one_by_one] if one_by_one is not None else samples)
        return [("image", (grid_image(frames, per_row),))]

    def npz_arrays(self, samples: torch.Tensor, field: FieldShape | None = None) -> dict[str, Any]:
        n, c, t = samples.shape[:3]
        return {"video": to_uint8(samples.transpose(1, 2).flatten(0, 1)).reshape(n, t, *samples.shape[-2:], c)}

    def describe_output(self, shape: Sequence[int], field: FieldShape | None = None) -> dict[str, Any]:
        return {"name": "video", "dtype": "float32", "shape": ["N", *shape],
                "description": "video [N, channels, frames, height, width] in [-1, 1]", "range": [-1, 1]}

    def export_info(self, field: FieldShape | None = None) -> dict[str, Any]:
        if field is None or not field.rate:
            return {}
        return {"rate": field.rate, "rate_unit": "frames per second"}


KIND = VideoKind()
