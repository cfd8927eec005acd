"""pix2pix: placeholder while the family is being written (registers nothing yet)."""

from __future__ import annotations

GANZOO_API = ">=1,<2"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""
