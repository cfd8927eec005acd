"""What a run tells as it trains: ``metrics.jsonl``, ``events.jsonl``, its logger and the progress output.

Only rank 0 of a multi-process run writes lines; every rank may call the methods. A rollback or a
resume rewinds the metric lines (and the logger) to the checkpoint's step: the steps after it
are trained again and logged again.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

from ..loggers import GuardedLogger, Logger
from .checkpoint import truncate_jsonl
from .progress import Reporter

METRICS_FILE = "metrics.jsonl"
EVENTS_FILE = "events.jsonl"


class RunLog:
    """The run's lines and messages.

    Args:
        run_dir: the run directory (``None``: nothing is written, as in ``ganzoo bench``).
        reporter: progress output (rank 0's; a disabled one elsewhere).
        logger: the run's logger, or ``None`` for none.
        is_main: whether this process writes files.
    """

    def __init__(self, run_dir: Path | None, reporter: Reporter, logger: Logger | None = None,
                 is_main: bool = True) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.reporter = reporter
        self.is_main = is_main and run_dir is not None
        self.logger = self._guarded(logger)
        self.last_record: dict[str, Any] | None = None
        self._metrics: IO[str] | None = None
        self._events: IO[str] | None = None

    def _guarded(self, logger: Logger | None) -> GuardedLogger:
        if logger is None or not self.is_main:
            logger = Logger(self.run_dir or Path("."), None)
        return logger if isinstance(logger, GuardedLogger) else GuardedLogger(logger)

    def use_logger(self, logger: Logger) -> None:
        """Send what the run logs to ``logger`` from now on (rank 0 only)."""
        self.logger = self._guarded(logger)

    @contextlib.contextmanager
    def open(self) -> Iterator[None]:
        """Inside, lines are appended to ``metrics.jsonl`` and ``events.jsonl``; after, the
        logger's session is closed."""
        try:
            if self.is_main:
                with open(self.run_dir / METRICS_FILE, "a", encoding="utf-8") as metrics, \
                        open(self.run_dir / EVENTS_FILE, "a", encoding="utf-8") as events:
                    self._metrics, self._events = metrics, events
                    yield
            else:
                yield
        finally:
            self._metrics = self._events = None
            self.logger.close()

    def metrics(self, record: Mapping[str, Any], prefix: str = "train") -> None:
        """One line of ``metrics.jsonl``; the logger gets it under ``prefix`` (``"eval"`` gets
        the evaluation's values alone)."""
        self._write(self._metrics, record)
        self.logger.scalars(prefix, record["step"], record if prefix == "train" else record[prefix])
        if prefix == "train":
            self.last_record = dict(record)

    def event(self, record: Mapping[str, Any]) -> None:
        """One line of ``events.jsonl``: sample diversity, rollbacks, warnings."""
        self._write(self._events, record)

    def message(self, text: str) -> None:
        self.reporter.message(text)

    def rewind(self, step: int) -> None:
        """Drop the metric lines (and what the logger keeps) of the steps after ``step``."""
        if self._metrics is not None:
            self._metrics.close()
            path = self.run_dir / METRICS_FILE
            truncate_jsonl(path, step)
            self._metrics = open(path, "a", encoding="utf-8")
        self.logger.rewind(step)

    @staticmethod
    def _write(handle: IO[str] | None, record: Mapping[str, Any]) -> None:
        if handle is not None:
            handle.write(json.dumps(record) + "\n")
            handle.flush()


class Speed:
    """Images per second over the steps since the last metrics line."""

    def __init__(self, images_per_step: int) -> None:
        self.images_per_step = images_per_step
        self.started = self.window_start = time.perf_counter()
        self.window_steps = 0

    def step(self) -> None:
        self.window_steps += 1

    def restart(self) -> None:
        """Start a new window (after a metrics line, or a rollback that redoes steps)."""
        self.window_start, self.window_steps = time.perf_counter(), 0

    def read(self) -> tuple[float, float]:
        """``(images per second in this window, seconds since training started)``; starts a new window."""
        now = time.perf_counter()
        rate = self.window_steps * self.images_per_step / max(now - self.window_start, 1e-9)
        self.window_start, self.window_steps = now, 0
        return rate, now - self.started
