"""Stopping cleanly: SIGTERM or Ctrl-C ask the loop to stop between steps; a second one aborts.

The loop checks :meth:`StopSignals.requested` before each step, saves a checkpoint of the last
finished step and ends with :class:`~ganzoo.errors.TrainingInterrupted`, so a resume is exact.
A second signal raises ``KeyboardInterrupt`` at once (the step in progress is abandoned and
nothing new is saved). With several processes, every rank stops at the same step.
"""

from __future__ import annotations

import signal

import torch

from .distributed import DistContext, any_true

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """A context manager that installs the handlers (where it can: only the main thread may)
    and puts the previous ones back on exit."""

    def __init__(self, dist: DistContext, device: torch.device) -> None:
        self.dist, self.device = dist, device
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        if self.received is not None:  # a second signal: stop now, save nothing new
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> "StopSignals":
        self.received = None
        try:
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not in the main thread: leave the signals alone
            self._restore()
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def requested(self) -> bool:
        """Whether a signal asked to stop (on any process)."""
        if not self.dist.enabled:
            return self.received is not None
        flag = torch.tensor(self.received is not None, device=self.device)
        return bool(any_true(flag, self.dist))
