"""The registry: every named component, tagged with the plugin that gave it.

Names are unique per plugin (``plugin:name``). A bare ``name`` works while it is
unambiguous: when only one plugin registers it, or when one of those plugins is a
built-in (shipped with ganzoo: ``core``, ``dcgan``, ...), which keeps the bare name.
Two third-party plugins registering the same bare name make it ambiguous; the lookup
error lists the qualified names. A duplicate registration by one plugin is refused,
never silently replacing the first one.

Example::

    registry.list("model", "*gan")        # fnmatch patterns
    registry.get("loss", "bce")            # or "core:bce"
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import Iterator

from ..errors import ConfigError, UnknownComponentError
from ..specs import SPEC_TYPES, ComponentSpec

PLURAL = {"model": "models", "loss": "losses", "dataset": "datasets", "metric": "metrics",
          "extractor": "extractors", "algorithm": "algorithms", "logger": "loggers"}

KIND_ALIASES = {
    "model": "model", "models": "model",
    "loss": "loss", "losses": "loss",
    "dataset": "dataset", "datasets": "dataset", "data": "dataset",
    "metric": "metric", "metrics": "metric",
    "extractor": "extractor", "extractors": "extractor",
    "algorithm": "algorithm", "algorithms": "algorithm",
    "logger": "logger", "loggers": "logger",
}


def normalize_kind(kind: str) -> str:
    """Map ``"models"``/``"model"`` etc. to the registry kind, or raise ConfigError."""
    try:
        return KIND_ALIASES[kind.lower()]
    except KeyError:
        choices = ", ".join(PLURAL[k] for k in SPEC_TYPES)
        raise ConfigError(f"unknown component kind {kind!r}; choose from {choices}") from None


@dataclass(frozen=True)
class Entry:
    """One registered component: its spec and the plugin that registered it.

    ``builtin`` is true for components of the plugins shipped with ganzoo; they keep
    their bare names when a third-party plugin registers the same name.
    """

    spec: ComponentSpec
    plugin: str
    builtin: bool = False

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.spec.name}"


class DuplicateComponentError(ValueError):
    """Raised by :meth:`Registry.add` for a name the same plugin already registered."""


class Registry:
    """All components, by kind."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in SPEC_TYPES}
        self.missing_plugins: list[str] = []
        """Plugins that failed to load or are disabled, named in unknown-name errors."""

    def add(self, spec: ComponentSpec, plugin: str, builtin: bool = False) -> Entry:
        """Register ``spec`` as given by ``plugin`` (``builtin``: shipped with ganzoo).

        Raises:
            DuplicateComponentError: ``plugin:name`` is already registered.
        """
        entry = Entry(spec, plugin, builtin)
        table = self._entries.setdefault(spec.kind, {})
        if entry.qualified_name in table:
            raise DuplicateComponentError(
                f"{spec.kind} {entry.qualified_name!r} is already registered; the first one is kept"
            )
        table[entry.qualified_name] = entry
        return entry

    def __iter__(self) -> Iterator[Entry]:
        for kind in self._entries:
            yield from self.list(kind)

    def list(self, kind: str, pattern: str | None = None) -> list[Entry]:
        """Entries of one kind sorted by name, optionally filtered by an fnmatch pattern.

        The pattern matches the bare or the qualified name: ``"*gan"``, ``"core:*"``.
        """
        kind = normalize_kind(kind)
        entries = sorted(self._entries.get(kind, {}).values(), key=lambda e: (e.name, e.plugin))
        if pattern:
            entries = [
                e for e in entries
                if fnmatch.fnmatchcase(e.name, pattern) or fnmatch.fnmatchcase(e.qualified_name, pattern)
            ]
        return entries

    def get(self, kind: str, name: str) -> Entry:
        """The entry called ``name`` (bare or ``plugin:name``).

        Raises:
            UnknownComponentError: no such name; the message suggests close matches.
            ConfigError: a bare name that several plugins register.
        """
        kind = normalize_kind(kind)
        table = self._entries.get(kind, {})
        if name in table:
            return table[name]
        matches = [e for e in table.values() if e.name == name]
        if not matches:
            raise UnknownComponentError(self._unknown_message(kind, name))
        return self._pick(kind, name, matches)

    @staticmethod
    def _pick(kind: str, name: str, matches: list[Entry]) -> Entry:
        """The entry a bare ``name`` means among ``matches`` (all of one kind)."""
        if len(matches) == 1:
            return matches[0]
        builtins = [e for e in matches if e.builtin]
        if len(builtins) == 1:
            return builtins[0]
        options = ", ".join(sorted(e.qualified_name for e in matches))
        raise ConfigError(f"{kind} name {name!r} is ambiguous; use one of {options}")

    def display_name(self, entry: Entry) -> str:
        """The bare name if it means ``entry``, else the qualified ``plugin:name``."""
        matches = [e for e in self._entries.get(entry.kind, {}).values() if e.name == entry.name]
        try:
            return entry.name if self._pick(entry.kind, entry.name, matches) is entry else entry.qualified_name
        except ConfigError:
            return entry.qualified_name

    def clashes(self) -> list[tuple[str, str, list[Entry]]]:
        """``(kind, bare name, entries)`` for every bare name that several plugins register."""
        found = []
        for kind, table in self._entries.items():
            groups: dict[str, list[Entry]] = {}
            for e in table.values():
                groups.setdefault(e.name, []).append(e)
            found += [(kind, name, sorted(group, key=lambda e: e.plugin))
                      for name, group in sorted(groups.items()) if len(group) > 1]
        return found

    def find(self, name: str) -> list[Entry]:
        """Every entry of any kind called ``name`` (bare or qualified).

        A bare name that a built-in keeps (see :meth:`get`) finds only the built-in's entry.
        """
        found = []
        for kind, table in self._entries.items():
            matches = [e for q, e in table.items() if name in (q, e.name)]
            builtins = [e for e in matches if e.builtin]
            if len(matches) > 1 and len(builtins) == 1 and ":" not in name:
                matches = builtins
            found += matches
        return sorted(found, key=lambda e: (e.kind, e.qualified_name))

    def lookup(self, name: str) -> Entry:
        """The one entry of any kind called ``name``.

        Raises:
            UnknownComponentError: nothing is called ``name`` (with suggestions).
            ConfigError: several kinds have a component of that name.
        """
        found = self.find(name)
        if len(found) == 1:
            return found[0]
        models = [e for e in found if e.kind == "model"]
        if len(models) == 1 and all(e.kind == "algorithm" and models[0].spec.algorithm in (e.name, e.qualified_name)
                                    for e in found if e is not models[0]):
            return models[0]  # a family's model and its own algorithm share the name: the model
        if found and len({e.kind for e in found}) == 1:
            return self._pick(found[0].kind, name, found)  # raises: ambiguous within one kind
        if found:
            raise ConfigError(f"{name!r} names several components ("
                              + ", ".join(f"{e.kind} {e.qualified_name}" for e in found)
                              + "); say which kind")
        candidates = {e.name: e.kind for kind in self._entries for e in self._entries[kind].values()}
        close = difflib.get_close_matches(name.split(":")[-1], list(candidates), n=3, cutoff=0.5)
        if close:
            raise UnknownComponentError(f"unknown component {name!r}; did you mean "
                                        + " or ".join(f"{candidates[c]} {c!r}" for c in close) + "?")
        raise UnknownComponentError(f"no component called {name!r} (see `ganzoo list`)")

    def names(self, kind: str) -> list[str]:
        return sorted({e.name for e in self._entries.get(normalize_kind(kind), {}).values()})

    def _unknown_message(self, kind: str, name: str) -> str:
        known = self.names(kind) if ":" not in name else sorted(self._entries.get(kind, {}))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        message = f"unknown {kind} {name!r}"
        if close:
            message += "; did you mean " + " or ".join(repr(c) for c in dict.fromkeys(close)) + "?"
        elif known:
            message += f"; available: {', '.join(self.names(kind))}"
        else:
            message += f"; no {PLURAL[kind]} are installed"
        if self.missing_plugins:
            message += f"; not loaded: {', '.join(self.missing_plugins)} (see `ganzoo plugins`)"
            return message
        return message + f" (see `ganzoo list {PLURAL[kind]}`)"
