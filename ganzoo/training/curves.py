"""Keeping ``curves.png`` up to date while a run trains, within a small share of its time.

A drawing (:func:`ganzoo.outputs.curves.save_curves`) takes about half a second; at a preview
step the curves are redrawn unless that would spend more than :data:`CURVES_SHARE` of the time
since the last drawing on drawing, so short runs with frequent previews draw at the end only.
``GANZOO_NO_CURVES`` turns the drawing off (sweeps of many short runs; ``ganzoo report`` still
draws them).
"""

from __future__ import annotations

import time
from pathlib import Path

from ..settings import NO_CURVES_ENV, env_flag
from .log import RunLog

CURVES_SHARE = 0.05
"""At most this share of the training time goes to redrawing ``curves.png``."""


class Curves:
    """When to redraw ``curves.png``, and the drawing (rank 0 only).

    Args:
        run_dir: the run directory (its ``metrics.jsonl`` and ``events.jsonl`` are drawn).
        log: where a failed drawing is reported.
        is_main: whether this process writes files.
    """

    def __init__(self, run_dir: Path | None, log: RunLog, is_main: bool = True) -> None:
        self.run_dir, self.log = run_dir, log
        self.enabled = is_main and run_dir is not None
        self.drawn = time.perf_counter()  # when curves.png was last drawn, and how long it took
        self.cost = 0.5

    def restart(self) -> None:
        """Training starts: the first curves come after a few seconds of it."""
        self.drawn = time.perf_counter()

    def due(self) -> bool:
        return time.perf_counter() - self.drawn >= self.cost / CURVES_SHARE

    def draw(self, step: int) -> Path | None:
        """Redraw ``curves.png`` from the run's lines; a failure is a warning, never a stop."""
        if not self.enabled or env_flag(NO_CURVES_ENV):
            return None
        from ..outputs.curves import save_curves

        start = time.perf_counter()
        try:
            return save_curves(self.run_dir)
        except Exception as exc:  # noqa: BLE001 - a picture must not stop the training it shows
            self.log.message(f"warning: step {step}: curves.png not drawn: {type(exc).__name__}: {exc}")
            return None
        finally:
            self.drawn = time.perf_counter()
            self.cost = self.drawn - start
