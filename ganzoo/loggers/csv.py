"""The ``csv`` logger: ``RUN/metrics.csv``, one row per value."""

from __future__ import annotations

import contextlib
import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..files import atomic_write_text
from . import Logger

if TYPE_CHECKING:
    from ..config import RunConfig


CSV_FILE = "metrics.csv"
CSV_COLUMNS = ("step", "wall_time", "split", "key", "value")
"""``RUN/metrics.csv``: one row per value (a tidy long table), so keys may come and go."""


class CSVLogger(Logger):
    """``RUN/metrics.csv``, one row per value: ``step,wall_time,split,key,value`` (wall time
    in Unix seconds; split ``train`` or ``eval``). Each record is flushed as it is written;
    a rewind rewrites the file without the rows of later steps (temporary file + rename)."""

    def __init__(self, run_dir: Path | str, config: "RunConfig", resume: bool = False) -> None:
        super().__init__(run_dir, config, resume)
        self.path = self.run_dir / CSV_FILE
        self._handle = None
        self._writer = None
        if not (resume and self.path.is_file()):
            self._rewrite([])

    def _open(self):
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8", newline="")
            self._writer = csv.writer(self._handle)
        return self._writer

    def scalars(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        now = round(time.time(), 3)
        rows = [(step, now, prefix, key, repr(value)) for key, value in self.numeric(values).items()]
        if rows:
            self._open().writerows(rows)
            self._handle.flush()

    def rewind(self, step: int) -> None:
        self.close()
        kept = []
        with contextlib.suppress(FileNotFoundError), open(self.path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader, None)  # the header
            for row in reader:
                try:
                    if len(row) == len(CSV_COLUMNS) and int(row[0]) <= step:
                        kept.append(row)
                except ValueError:
                    continue  # a row cut short by a crash
        self._rewrite(kept)

    def _rewrite(self, rows: list) -> None:
        lines = _CSVText()
        writer = csv.writer(lines)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
        atomic_write_text(self.path, lines.text)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = self._writer = None


class _CSVText:
    """A file-like sink for ``csv.writer`` that collects the text."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)
