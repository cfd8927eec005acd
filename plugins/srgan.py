"""SRGAN: the registration and its options (being written; see issue 15).

The networks and the training step live in :mod:`ganzoo_plugins.nets.srgan` (this module must
not import torch: listing models stays light).
"""

from __future__ import annotations

GANZOO_API = ">=1,<2"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""
