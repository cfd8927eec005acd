"""Results of conformance checks: one :class:`CheckResult` per check, a :class:`Report` per plugin."""

from __future__ import annotations

import contextlib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import GanzooError
from ..plugins.registry import Entry


@dataclass
class CheckResult:
    """One check of one component.

    Attributes:
        component: ``"KIND plugin:name"`` (e.g. ``"model mygan:mygan"``) or ``"plugin NAME"``.
        check: what was checked (``"spec"``, ``"shapes"``, ``"train[bce]"``, ...).
        status: ``"pass"``, ``"fail"``, ``"skip"`` or ``"warn"`` (warnings do not fail).
        message: what went wrong, or what was covered.
    """

    component: str
    check: str
    status: str
    message: str = ""

    def __str__(self) -> str:
        return f"{self.status.upper():4} {self.component} {self.check}" + (f": {self.message}" if self.message else "")


@dataclass
class Report:
    """The results of checking one plugin (or one component)."""

    plugin: str
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No check failed (warnings and skips are fine)."""
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "warn"]

    def counts(self) -> dict[str, int]:
        """How many checks passed, failed, were skipped or warned."""
        return {status: sum(r.status == status for r in self.results)
                for status in ("pass", "fail", "skip", "warn")}

    def as_dict(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "ok": self.ok, "seconds": round(self.seconds, 3),
                "counts": self.counts(),
                "results": [{"component": r.component, "check": r.check, "status": r.status,
                             "message": r.message} for r in self.results]}

    def __str__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        return "\n".join([f"plugin {self.plugin}: {counts} ({self.seconds:.1f} s)",
                          *(f"  {r}" for r in self.results)])

    def raise_for_failures(self) -> "Report":
        """Raise ``AssertionError`` naming every failed check; return the report otherwise."""
        if self.failures:
            lines = "\n".join(f"  {r}" for r in self.failures)
            raise AssertionError(f"plugin {self.plugin!r} fails {len(self.failures)} conformance "
                                 f"check(s):\n{lines}")
        return self


class _Recorder:
    """Collects results for one component; ``with rec.check("name"):`` records a pass,
    or a failure carrying the exception's one-line message."""

    def __init__(self, component: str, results: list[CheckResult]) -> None:
        self.component, self.results = component, results

    def add(self, check: str, status: str, message: str = "") -> CheckResult:
        result = CheckResult(self.component, check, status, message)
        self.results.append(result)
        return result

    @contextlib.contextmanager
    def check(self, name: str, success: str = "") -> Iterator[dict[str, Any]]:
        """Run a block as one check; the block may set ``note["message"]`` or ``note["status"]``."""
        note: dict[str, Any] = {}
        try:
            yield note
        except _Skip as exc:
            self.add(name, "skip", str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a result
            self.add(name, "fail", _describe(exc))
        else:
            self.add(name, note.get("status", "pass"), note.get("message", success))


class _Skip(Exception):
    """Raised inside a check to record it as skipped."""


class _Failed(Exception):
    """A check failure with a prepared message."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (_Failed, GanzooError)):
        return str(exc)
    lines = str(exc).strip().splitlines()
    where = ""
    tb = traceback.extract_tb(exc.__traceback__)
    if tb and not isinstance(exc, AssertionError):
        frame = tb[-1]
        where = f" (at {Path(frame.filename).name}:{frame.lineno})"
    return f"{type(exc).__name__}: {lines[0] if lines else ''}{where}"


def _component(entry: Entry) -> str:
    return f"{entry.kind} {entry.qualified_name}"

