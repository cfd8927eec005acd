"""Loading plugins from the ``ganzoo`` entry-point group, one at a time.

A plugin that fails to import, or whose hooks raise or return something invalid,
costs one line on stderr; everything else keeps working, and ``ganzoo plugins
--errors`` shows the full story. ``GANZOO_DISABLE_PLUGINS=a,b`` blocks plugins
before they are imported.

Tests build their own manager and register modules in-process::

    manager = PluginManager(entry_points=False)
    manager.register(my_module, name="fake")
    registry = manager.registry
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from . import hookspecs
from .registry import DuplicateComponentError, Registry
from .specs import SPEC_TYPES

ENTRY_POINT_GROUP = "ganzoo"
DISABLE_ENV = "GANZOO_DISABLE_PLUGINS"


@dataclass
class PluginInfo:
    """What ``ganzoo plugins`` shows about one plugin."""

    name: str
    module: str = ""
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"  # loaded | failed | disabled
    errors: list[str] = field(default_factory=list)  # one line each
    tracebacks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)  # "kind qualified-name"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "distribution": self.distribution,
            "version": self.version, "status": self.status, "errors": self.errors,
            "components": self.components,
        }


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def disabled_plugins(environ: dict[str, str] | None = None) -> set[str]:
    """Names listed in ``GANZOO_DISABLE_PLUGINS`` (comma separated)."""
    value = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return {part.strip() for part in value.split(",") if part.strip()}


class PluginManager:
    """Loads plugins and builds the registry from their hooks.

    Args:
        entry_points: load the ``ganzoo`` entry-point group now.
        warn: where one-line problems go (stderr by default).
    """

    def __init__(self, entry_points: bool = True, warn: Callable[[str], None] | None = None) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._warn = warn or (lambda line: print(line, file=sys.stderr))
        self._registry: Registry | None = None
        if entry_points:
            self.load_entry_points()

    # loading ---------------------------------------------------------------
    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Import and register every entry point of ``group``, isolating failures."""
        blocked = disabled_plugins()
        for ep in sorted(metadata.entry_points(group=group), key=lambda ep: ep.name):
            dist = getattr(ep, "dist", None)
            info_kwargs = dict(
                module=ep.value,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
            )
            if ep.name in self.plugins:
                # Two distributions claim the same plugin name: keep the first, record the second.
                clash = PluginInfo(ep.name, **info_kwargs)
                self._fail(clash, ValueError(f"plugin name {ep.name!r} is already taken by "
                                             f"{self.plugins[ep.name].distribution}"), record=False)
                self.plugins[f"{ep.name} ({clash.distribution})"] = clash
                continue
            if ep.name in blocked:
                self.plugins[ep.name] = PluginInfo(ep.name, status="disabled", **info_kwargs)
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is isolated
                self._fail(PluginInfo(ep.name, **info_kwargs), exc)
                continue
            self.register(module, name=ep.name, **info_kwargs)

    def register(self, plugin: Any, name: str | None = None, module: str = "",
                 distribution: str | None = None, version: str | None = None) -> PluginInfo:
        """Register an already-imported plugin object (a module, class or instance)."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = PluginInfo(name, module=module or getattr(plugin, "__name__", ""),
                          distribution=distribution, version=version)
        if name in disabled_plugins():
            info.status = "disabled"
            self.plugins[name] = info
            return info
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - pluggy validation errors, duplicates
            return self._fail(info, exc)
        self.plugins[name] = info
        self._registry = None
        return info

    def _fail(self, info: PluginInfo, exc: BaseException, record: bool = True) -> PluginInfo:
        info.status = "failed"
        info.errors.append(_one_line(exc))
        info.tracebacks.append("".join(traceback.format_exception(exc)))
        if record:
            self.plugins[info.name] = info
        self._warn(f"ganzoo: plugin {info.name!r} failed to load ({info.errors[-1]}); "
                   "see `ganzoo plugins --errors`")
        return info

    # the registry ------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The registry built from every loaded plugin's hooks (cached)."""
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        registry = Registry()
        registry.missing_plugins = [f"{p.name} ({p.status})" for p in self.plugins.values()
                                    if p.status in ("failed", "disabled")]
        for kind, hook_name in hookspecs.HOOK_FOR_KIND.items():
            spec_type = SPEC_TYPES[kind]
            for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
                info = self.plugins.setdefault(impl.plugin_name, PluginInfo(impl.plugin_name))
                try:
                    specs = list(impl.function() or ())
                except Exception as exc:  # noqa: BLE001
                    self._problem(info, exc, f"{hook_name}() raised")
                    continue
                for spec in specs:
                    try:
                        if not isinstance(spec, spec_type):
                            raise TypeError(f"{hook_name}() returned {type(spec).__name__}, "
                                            f"expected {spec_type.__name__}")
                        spec.validate()
                        entry = registry.add(spec, impl.plugin_name)
                    except (TypeError, ValueError, DuplicateComponentError) as exc:
                        self._problem(info, exc, "registered an invalid component")
                        continue
                    info.components.append(f"{kind} {entry.qualified_name}")
        return registry

    def _problem(self, info: PluginInfo, exc: BaseException, what: str) -> None:
        info.errors.append(_one_line(exc))
        info.tracebacks.append("".join(traceback.format_exception(exc)))
        self._warn(f"ganzoo: plugin {info.name!r} {what} ({info.errors[-1]}); "
                   "see `ganzoo plugins --errors`")


_default: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, loading entry points on first use."""
    global _default
    if _default is None:
        _default = PluginManager()
    return _default


def set_plugin_manager(manager: PluginManager | None) -> None:
    """Replace the process-wide manager (tests, embedding applications)."""
    global _default
    _default = manager
