"""WGAN's networks: the DCGAN backbone of :mod:`ganzoo_plugins.layers.dcgan`, its critic with
``arch.d_norm`` (layer norm or none, never batch norm: the options refuse it)."""

from __future__ import annotations

from ganzoo.data import DataShape
from ganzoo.networks import Networks

from ..layers.dcgan import build_backbone


def build(arch, data: DataShape) -> Networks:
    """Build WGAN's generator and critic for ``data`` with the options in ``arch``."""
    return build_backbone(arch, data)
