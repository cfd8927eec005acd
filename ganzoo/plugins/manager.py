"""Loading plugins from the ``ganzoo`` entry-point group, one at a time.

A plugin that fails to import, declares a plugin-API range this ganzoo does not
provide, or whose hooks raise or return something invalid, costs one line on stderr;
everything else keeps working, and ``ganzoo plugins --errors`` shows the full story.
``GANZOO_DISABLE_PLUGINS=a,b`` blocks plugins before they are imported, and
``GANZOO_STRICT_PLUGINS=1`` turns every such problem into an error
(:class:`PluginError`, exit code 4).

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
from typing import Any, Callable, Iterable

import pluggy

from .. import hookspecs
from ..version import PLUGIN_API_VERSION, __version__
from ..errors import EXIT_UNAVAILABLE, GanzooError
from .registry import DuplicateComponentError, Registry
from ..settings import env_flag
from ..specs import NAME_PATTERN, SPEC_TYPES

ENTRY_POINT_GROUP = "ganzoo"
DISABLE_ENV = "GANZOO_DISABLE_PLUGINS"
STRICT_ENV = "GANZOO_STRICT_PLUGINS"
API_ATTRIBUTE = "GANZOO_API"
"""The module attribute in which a plugin declares the plugin-API versions it supports."""

BUILTIN_DISTRIBUTION = "ganzoo"
BUILTIN_MODULE_ROOTS = ("ganzoo", "ganzoo_plugins")
"""Top-level packages of the ganzoo distribution: plugins from there are built-ins."""


class PluginError(GanzooError):
    """A plugin problem under ``GANZOO_STRICT_PLUGINS=1`` (exit code 4, like any
    component or plugin that is unavailable)."""

    exit_code = EXIT_UNAVAILABLE


@dataclass
class PluginInfo:
    """What ``ganzoo plugins`` shows about one plugin."""

    name: str
    module: str = ""
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"  # loaded | failed | disabled | incompatible
    builtin: bool = False
    api: str | None = None  # the declared GANZOO_API range, if any
    errors: list[str] = field(default_factory=list)  # one line each
    warnings: list[str] = field(default_factory=list)  # one line each (e.g. name clashes)
    tracebacks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)  # "kind qualified-name"
    commands: list[str] = field(default_factory=list)  # CLI commands it mounted

    @property
    def shown_status(self) -> str:
        """The status as ``ganzoo plugins`` shows it: ``loaded with errors`` when a hook raised."""
        return "loaded with errors" if self.errors and self.status == "loaded" else self.status

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "distribution": self.distribution,
            "version": self.version, "status": self.shown_status, "builtin": self.builtin,
            "api": self.api, "errors": self.errors, "warnings": self.warnings,
            "components": self.components, "commands": self.commands,
        }


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def disabled_plugins(environ: dict[str, str] | None = None) -> set[str]:
    """Names listed in ``GANZOO_DISABLE_PLUGINS`` (comma separated)."""
    value = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return {part.strip() for part in value.split(",") if part.strip()}


def is_builtin(module: str, distribution: str | None = None) -> bool:
    """Whether a plugin ships with ganzoo: its distribution is ``ganzoo`` or, when it was
    registered in-process (no distribution), its module is inside ``ganzoo`` or
    ``ganzoo_plugins``."""
    if distribution is not None:
        return distribution == BUILTIN_DISTRIBUTION
    return module.split(":")[0].split(".")[0] in BUILTIN_MODULE_ROOTS


# -- the plugin API version ---------------------------------------------------------

def api_contains(ranges: str, version: str = PLUGIN_API_VERSION) -> bool:
    """Whether the version range ``ranges`` (e.g. ``">=2,<3"``, pip's syntax) admits ``version``.

    Raises:
        ValueError: ``ranges`` is not a valid version range.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import Version

    if not isinstance(ranges, str):
        raise ValueError(f"{API_ATTRIBUTE} must be a string such as '>=2,<3', got {ranges!r}")
    try:
        spec = SpecifierSet(ranges)
    except InvalidSpecifier:
        raise ValueError(f"invalid version range {ranges!r}") from None
    if not str(spec) or any(not part.strip() for part in ranges.split(",")):
        raise ValueError(f"invalid version range {ranges!r}")
    return spec.contains(Version(version), prereleases=True)


def api_upgrade_hint(ranges: str, version: str = PLUGIN_API_VERSION) -> str:
    """``"ganzoo"`` when ``ranges`` admits only plugin-API versions newer than ``version`` (the
    plugin needs a newer ganzoo), else ``"plugin"`` (it was written for an older API)."""
    from packaging.version import Version

    current = Version(version)
    newer = (f"{major}.{minor}" for major in range(current.major, current.major + 11) for minor in range(21))
    return "ganzoo" if any(Version(v) > current and api_contains(ranges, v) for v in newer) else "plugin"


# -- the manager ----------------------------------------------------------------------

class PluginManager:
    """Loads plugins and builds the registry from their hooks.

    Args:
        entry_points: load the ``ganzoo`` entry-point group now.
        warn: where one-line problems go (stderr by default).
        strict: raise :class:`PluginError` on the first plugin problem instead of
            warning; ``None`` reads ``GANZOO_STRICT_PLUGINS``.
    """

    def __init__(self, entry_points: bool = True, warn: Callable[[str], None] | None = None,
                 strict: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.strict = env_flag(STRICT_ENV) if strict is None else strict
        self.problems: list[str] = []
        """Every one-line problem reported so far (also printed, or raised when strict)."""
        self._warn = warn or (lambda line: print(line, file=sys.stderr))
        self._registry: Registry | None = None
        self._commands: dict[str, tuple[str, Any]] | None = None
        if entry_points:
            self.load_entry_points()

    # reporting -------------------------------------------------------------------
    def _emit(self, message: str, hint: str = "see `ganzoo plugins --errors`") -> None:
        """Warn with one line, or raise :class:`PluginError` in strict mode."""
        self.problems.append(message)
        if self.strict:
            raise PluginError(f"{message} ({STRICT_ENV} is set)")
        self._warn(f"ganzoo: {message}" + (f"; {hint}" if hint else ""))

    def _fail(self, info: PluginInfo, exc: BaseException, record: bool = True) -> PluginInfo:
        info.status = "failed"
        info.errors.append(_one_line(exc))
        info.tracebacks.append("".join(traceback.format_exception(exc)))
        if record:
            self.plugins[info.name] = info
        self._emit(f"plugin {info.name!r} failed to load ({info.errors[-1]})")
        return info

    def report_problem(self, plugin: str, exc: BaseException, what: str) -> None:
        """Record a problem with ``plugin`` found outside the manager (e.g. a CLI command
        that cannot be mounted): one line on stderr, or :class:`PluginError` when strict."""
        self._problem(self._info(plugin), exc, what)

    def _problem(self, info: PluginInfo, exc: BaseException, what: str) -> None:
        info.errors.append(_one_line(exc))
        info.tracebacks.append("".join(traceback.format_exception(exc)))
        self._emit(f"plugin {info.name!r} {what} ({info.errors[-1]})")

    # loading ---------------------------------------------------------------------
    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Import and register every entry point of ``group``, isolating failures.

        Sorted by name; when two distributions declare the same plugin name, ganzoo's
        own comes first, else the first one found keeps it.
        """
        blocked = disabled_plugins()

        def dist_name(ep) -> str | None:
            dist = getattr(ep, "dist", None)
            return dist.metadata["Name"] if dist else None

        for ep in sorted(metadata.entry_points(group=group),
                         key=lambda ep: (ep.name, dist_name(ep) != BUILTIN_DISTRIBUTION)):
            dist = getattr(ep, "dist", None)
            info_kwargs = dict(module=ep.value, distribution=dist_name(ep),
                               version=dist.version if dist else None)
            if ep.name in self.plugins:
                # Two distributions claim the same plugin name: keep the first, record the second.
                clash = PluginInfo(ep.name, **info_kwargs)
                self.plugins[f"{ep.name} ({clash.distribution})"] = clash
                self._fail(clash, ValueError(f"plugin name {ep.name!r} is already taken by "
                                             f"{self.plugins[ep.name].distribution}"), record=False)
                continue
            if ep.name in blocked:
                self.plugins[ep.name] = PluginInfo(ep.name, status="disabled",
                                                   builtin=is_builtin(ep.value, info_kwargs["distribution"]),
                                                   **info_kwargs)
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is isolated
                self._fail(PluginInfo(ep.name, **info_kwargs), exc)
                continue
            self.register(module, name=ep.name, **info_kwargs)

    def register(self, plugin: Any, name: str | None = None, module: str = "",
                 distribution: str | None = None, version: str | None = None) -> PluginInfo:
        """Register an already-imported plugin object (a module, class or instance).

        A plugin whose ``GANZOO_API`` range does not admit :data:`ganzoo.PLUGIN_API_VERSION`
        is skipped (status ``incompatible``) with a line saying what to upgrade.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        module = module or getattr(plugin, "__name__", "")
        info = PluginInfo(name, module=module, distribution=distribution, version=version,
                          builtin=is_builtin(module, distribution))
        if name in disabled_plugins():
            info.status = "disabled"
            self.plugins[name] = info
            return info
        declared = getattr(plugin, API_ATTRIBUTE, None)
        if declared is not None:
            info.api = str(declared)
            try:
                compatible = api_contains(declared)
            except ValueError as exc:
                return self._fail(info, ValueError(f"{API_ATTRIBUTE} = {declared!r} is not a version "
                                                   f"range such as '>=2,<3' ({exc})"))
            if not compatible:
                return self._incompatible(info, declared)
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - pluggy validation errors, duplicates
            return self._fail(info, exc)
        self.plugins[name] = info
        self._registry = None
        self._commands = None
        return info

    def _incompatible(self, info: PluginInfo, declared: str) -> PluginInfo:
        who = f"{info.distribution} {info.version}" if info.distribution else None
        if api_upgrade_hint(declared) == "ganzoo":
            advice = "upgrade ganzoo"
        else:
            advice = f"upgrade {info.distribution or 'the plugin'} (or use an older ganzoo)"
        message = (f"plugin {info.name!r}{f' ({who})' if who else ''} supports plugin API {declared}, "
                   f"but ganzoo {__version__} provides {PLUGIN_API_VERSION}; skipped: {advice}")
        info.status = "incompatible"
        info.errors.append(message)
        info.tracebacks.append(message + "\n")
        self.plugins[info.name] = info
        self._emit(message, hint="")
        return info

    # the registry ------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The registry built from every loaded plugin's hooks (cached)."""
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _info(self, plugin_name: str) -> PluginInfo:
        return self.plugins.setdefault(plugin_name, PluginInfo(plugin_name))

    def _build_registry(self) -> Registry:
        registry = Registry()
        registry.missing_plugins = [f"{p.name} ({p.status})" for p in self.plugins.values()
                                    if p.status in ("failed", "disabled", "incompatible")]
        for info in self.plugins.values():
            info.components.clear()
        for kind, hook_name in hookspecs.HOOK_FOR_KIND.items():
            spec_type = SPEC_TYPES[kind]
            for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
                info = self._info(impl.plugin_name)
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
                        entry = registry.add(spec, impl.plugin_name, builtin=info.builtin)
                    except (TypeError, ValueError, DuplicateComponentError) as exc:
                        self._problem(info, exc, "registered an invalid component")
                        continue
                    info.components.append(f"{kind} {entry.qualified_name}")
        self._warn_clashes(registry)
        return registry

    def _warn_clashes(self, registry: Registry) -> None:
        """A third-party component with a built-in's bare name: the built-in keeps it."""
        for kind, name, entries in registry.clashes():
            builtins = [e for e in entries if e.builtin]
            if len(builtins) != 1:
                continue  # third-party clashes: the bare name is ambiguous, lookups say so
            kept = builtins[0]
            for other in entries:
                if other.builtin:
                    continue
                message = (f"plugin {other.plugin!r} registers {kind} {name!r}, which the built-in "
                           f"plugin {kept.plugin!r} provides; {name!r} means {kept.qualified_name}, "
                           f"use {other.qualified_name} for {other.plugin}'s")
                info = self._info(other.plugin)
                info.warnings.append(message)
                self._emit(message, hint="")

    # CLI commands ------------------------------------------------------------
    def commands(self, reserved: Iterable[str] = ()) -> dict[str, tuple[str, Any]]:
        """The CLI commands plugins provide: ``{name: (plugin, typer app or function)}``.

        ``reserved`` are the built-in command names; a plugin command with one of them,
        an invalid name, or a name an earlier plugin took is refused with a warning, as
        are hooks that raise or items that are neither a named ``typer.Typer`` nor a
        ``(name, app_or_function)`` pair. Collected once (cached).
        """
        if self._commands is None:
            self._commands = self._collect_commands(set(reserved))
        return self._commands

    def _collect_commands(self, reserved: set[str]) -> dict[str, tuple[str, Any]]:
        import typer

        found: dict[str, tuple[str, Any]] = {}
        for impl in reversed(self.pm.hook.ganzoo_commands.get_hookimpls()):
            info = self._info(impl.plugin_name)
            info.commands.clear()
            try:
                items = list(impl.function() or ())
            except Exception as exc:  # noqa: BLE001
                self._problem(info, exc, "ganzoo_commands() raised")
                continue
            for item in items:
                try:
                    if isinstance(item, typer.Typer):
                        name, command = item.info.name, item
                        if not isinstance(name, str):
                            raise TypeError("a typer.Typer from ganzoo_commands() needs a name: "
                                            "typer.Typer(name='...')")
                    elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                          and (isinstance(item[1], typer.Typer) or callable(item[1]))):
                        name, command = item
                    else:
                        raise TypeError(f"ganzoo_commands() returned {type(item).__name__}; expected a "
                                        "named typer.Typer or a (name, app_or_function) pair")
                    if not NAME_PATTERN.match(name):
                        raise ValueError(f"invalid command name {name!r}: use lowercase letters, "
                                         "digits and hyphens")
                    if name in reserved:
                        raise ValueError(f"command {name!r} clashes with a built-in ganzoo command; "
                                         "not mounted")
                    if name in found:
                        raise ValueError(f"command {name!r} is already provided by plugin "
                                         f"{found[name][0]!r}; not mounted")
                except (TypeError, ValueError) as exc:
                    self._problem(info, exc, "registered an invalid command")
                    continue
                found[name] = (impl.plugin_name, command)
                info.commands.append(name)
        return found


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
