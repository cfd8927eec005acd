"""The versions of ganzoo and of the plugin API it provides."""

__version__ = "0.1.0"

PLUGIN_API_VERSION = "2.0"
"""The version of the plugin API (hooks, specs, contracts) this ganzoo provides.

``MAJOR.MINOR``: the minor number grows when something is added (a hook, a spec field with a
default), the major number when something a plugin relies on changes or goes (see CHANGELOG.md).
A plugin declares the versions it supports in its module, e.g. ``GANZOO_API = ">=2,<3"`` (a
version range as in pip); ganzoo skips, with a one-line message, a plugin whose range does not
admit this version. A plugin that declares nothing is accepted.
"""
