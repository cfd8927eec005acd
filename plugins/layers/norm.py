"""The normalisation layer a network's options name, one function for every family."""

from __future__ import annotations

from torch import nn

from ganzoo.errors import ConfigError

NORMS = ("batch", "instance", "layer", "none")
"""Every kind :func:`norm_layer` makes."""


def norm_layer(kind: str, channels: int, *, kinds: tuple[str, ...] = NORMS, dims: int = 2,
               what: str = "normalisation") -> nn.Module:
    """The normalisation layer ``kind`` for ``channels`` channels of ``dims``-D feature maps.

    ``"batch"``: BatchNorm2d (3d for ``dims=3``); ``"instance"``: InstanceNorm without affine
    parameters or running statistics (the pix2pix/CycleGAN official code's); ``"layer"``:
    GroupNorm(1, C), a layer norm over all of a sample's features (per sample, so safe with
    gradient penalties); ``"none"``: nothing.

    Args:
        kinds: the kinds the caller offers, in the order its refusal lists them.
        what: what the refusal calls the option (e.g. ``"discriminator normalisation"``).

    Raises:
        ConfigError: ``kind`` is not one of ``kinds`` (one line).

    Example::

        norm_layer("layer", 64)                                      # GroupNorm(1, 64)
        norm_layer("batch", 32, dims=3)                              # BatchNorm3d(32)
        norm_layer("instance", 8, kinds=("batch", "layer", "none"))  # ConfigError
    """
    if kind not in kinds:
        raise ConfigError(f"unknown {what} {kind!r}: use {', '.join(kinds[:-1])} or {kinds[-1]}")
    if kind == "batch":
        return nn.BatchNorm3d(channels) if dims == 3 else nn.BatchNorm2d(channels)
    if kind == "instance":
        instance = nn.InstanceNorm3d if dims == 3 else nn.InstanceNorm2d
        return instance(channels, affine=False, track_running_stats=False)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()
