"""``ganzoo plugin new NAME``: write a ready ``ganzoo-NAME`` plugin package.

The package holds a ``pyproject.toml`` with the ``ganzoo`` entry point, a light
registration module with one example model (a pydantic options class, defaults, size
rules), its networks, a README and tests that run the conformance kit
(:mod:`ganzoo.testing`). It installs and passes its own tests as generated.

The files come from ``templates/*.tmpl`` (``string.Template`` placeholders such as
``${name}``). They are written into a temporary folder beside the target and renamed
into place at the end, so a failure never leaves a half-written package behind.

Example::

    from ganzoo.scaffold import create_plugin
    path = create_plugin("mygan", "plugins-dev")   # plugins-dev/ganzoo-mygan/
"""

from __future__ import annotations

import os
import shutil
import string
import tempfile
from importlib import resources
from pathlib import Path

from .. import PLUGIN_API_VERSION, __version__
from ..errors import ConfigError
from ..plugins.manager import PluginManager, get_plugin_manager
from ..specs import NAME_PATTERN

MAX_NAME_LENGTH = 40

FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "{module}/__init__.py",
    "nets.py.tmpl": "{module}/nets.py",
    "test_plugin.py.tmpl": "tests/test_plugin.py",
}
"""Template file -> path in the new package (``{module}`` is the import name)."""


def check_plugin_name(name: str, manager: PluginManager | None = None) -> None:
    """Refuse a plugin name that would not make a good ``ganzoo-NAME`` package, or that a plugin
    ``manager`` knows (default: the installed plugins), built-in or not, as its own name or as
    a model's (the new package registers a model of that name).

    Raises:
        ConfigError: with a one-line reason (exit code 2).
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(f"invalid plugin name {name!r}: use lowercase letters, digits and single "
                          "hyphens, starting with a letter (e.g. mygan, style-gan)")
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(f"invalid plugin name {name!r}: at most {MAX_NAME_LENGTH} characters")
    if name == "ganzoo" or name.startswith("ganzoo-"):
        raise ConfigError(f"invalid plugin name {name!r}: leave out the 'ganzoo-' prefix "
                          "(the package is named ganzoo-NAME)")
    manager = manager if manager is not None else get_plugin_manager()
    taken = next((info for info in manager.plugins.values() if info.name == name), None)
    if taken is not None:
        owner = ("a built-in plugin" if taken.builtin
                 else f"the installed plugin from {taken.distribution or taken.module}")
        raise ConfigError(f"invalid plugin name {name!r}: {owner} has that name; choose another")
    model = next((entry for entry in manager.registry.list("model") if entry.name == name), None)
    if model is not None:
        owner = "the built-in" if model.builtin else "the installed"
        raise ConfigError(f"invalid plugin name {name!r}: {owner} plugin {model.plugin!r} has a model of that name, "
                          "which the new package's model would clash with; choose another")


def template_values(name: str) -> dict[str, str]:
    """The placeholders of the templates for plugin ``name``."""
    major = int(PLUGIN_API_VERSION.split(".")[0])
    return {
        "name": name,
        "model": name,
        "module": "ganzoo_" + name.replace("-", "_"),
        "dist": f"ganzoo-{name}",
        "config_class": "".join(part.capitalize() for part in name.split("-")) + "Config",
        "ganzoo_version": __version__,
        "api_version": PLUGIN_API_VERSION,
        "api_major": str(major),
        "api_next": str(major + 1),
    }


def render(name: str, manager: PluginManager | None = None) -> dict[str, str]:
    """``{relative path: text}`` of the package for plugin ``name`` (nothing is written); the
    name is checked against ``manager``'s plugins (default: the installed ones)."""
    check_plugin_name(name, manager)
    values = template_values(name)
    folder = resources.files(__name__) / "templates"
    return {target.format(module=values["module"]):
            string.Template(folder.joinpath(source).read_text(encoding="utf-8")).substitute(values)
            for source, target in FILES.items()}


def create_plugin(name: str, parent: str | Path = ".", manager: PluginManager | None = None) -> Path:
    """Write the package ``ganzoo-NAME`` into ``parent`` and return its path.

    Raises:
        ConfigError: a bad name, a name one of ``manager``'s plugins has (default: the installed
            plugins), or ``parent/ganzoo-NAME`` already exists (exit code 2).
    """
    files = render(name, manager)
    parent = Path(parent).expanduser()
    target = parent / f"ganzoo-{name}"
    if target.exists() or target.is_symlink():
        raise ConfigError(f"{target} already exists; remove it or choose another --dir")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {parent}: {exc.strerror or exc}") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".ganzoo-{name}-", suffix=".tmp", dir=parent))
    try:
        for relative, text in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        tmp.chmod(0o777 & ~_umask())
        if target.exists() or target.is_symlink():  # appeared meanwhile: never replace it
            raise ConfigError(f"{target} already exists; remove it or choose another --dir")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
