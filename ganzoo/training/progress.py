"""Progress output: a rich progress bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def plain_stderr() -> Console:
    """A console on stderr that prints text as it is: run paths, plugin names and metric keys
    (``fid[mnist-classifier]``) hold brackets that rich would take for markup."""
    return Console(stderr=True, markup=False, emoji=False)


def format_stats(stats: dict[str, Any]) -> str:
    """``d_loss=1.234 g_loss=0.567 D(x)=0.61 ...`` from a metrics record."""
    parts = []
    for key, value in stats.items():
        if key in ("step", "epoch", "elapsed_sec"):
            continue
        if key == "images_per_sec":
            parts.append(f"{value:,.0f} img/s")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{key}={value:.4g}")
    return " ".join(parts)


class Reporter:
    """Shows training progress. ``update`` is called every step, ``log`` at log steps."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or plain_stderr()
        self.enabled = enabled
        self.total = 0

    def start(self, total: int, start_step: int, title: str) -> None:
        self.total = total
        if self.enabled:
            self.console.print(f"{title}: {total:,} steps")

    def update(self, step: int) -> None:
        pass

    def log(self, record: dict[str, Any]) -> None:
        if self.enabled:
            self.console.print(f"step {record['step']}/{self.total} {format_stats(record)}",
                               highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False, soft_wrap=True)

    def close(self) -> None:
        pass


class RichReporter(Reporter):
    """A live progress bar with the latest losses and images/s."""

    progress: Progress | None = None

    def start(self, total: int, start_step: int, title: str) -> None:
        self.total = total
        self.latest_losses: dict[str, Any] = {}
        self.latest_eval: dict[str, Any] = {}
        self.progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[stats]}", markup=False),
            console=self.console, transient=False,
        )
        self.task = self.progress.add_task(title, total=total, completed=start_step, stats="")
        self.progress.start()

    def update(self, step: int) -> None:
        self.progress.update(self.task, completed=step)

    def log(self, record: dict[str, Any]) -> None:
        losses = {k: record[k] for k in ("d_loss", "g_loss", "images_per_sec") if k in record}
        if losses:
            self.latest_losses = losses
        else:  # an evaluation record: keep showing it beside the latest losses
            self.latest_eval = {k.split("[")[0]: v for k, v in record.items()
                                if k != "step" and isinstance(v, (int, float))}
        self.progress.update(self.task, completed=record["step"],
                             stats=format_stats({**self.latest_losses, **self.latest_eval}))

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)  # above the bar while it is live

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def make_reporter(enabled: bool = True, console: Console | None = None) -> Reporter:
    """A progress bar when stderr is an interactive terminal (or a notebook), else plain lines."""
    console = console or plain_stderr()
    interactive = enabled and (console.is_terminal or console.is_jupyter) and sys.stderr is not None
    return RichReporter(console) if interactive else Reporter(console, enabled)
