"""DCGAN's networks: the backbone of :mod:`ganzoo_plugins.layers.dcgan` as it is."""

from __future__ import annotations

from ganzoo.data import DataShape
from ganzoo.networks import Networks

from ..layers.dcgan import build_backbone


def build(arch, data: DataShape) -> Networks:
    """Build DCGAN for ``data`` with the options in ``arch``."""
    return build_backbone(arch, data)
