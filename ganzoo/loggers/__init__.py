"""Loggers: where a run's metrics and previews go besides ``metrics.jsonl``.

A logger is a component (kind ``logger``, hook ``ganzoo_loggers``, spec
:class:`~ganzoo.specs.LoggerSpec`); the run-config key ``logger`` (``--logger NAME``) picks
one. ``metrics.jsonl`` is always written: a logger mirrors it. The built-ins (plugin
``core``) are ``none``, ``tensorboard`` (``RUN/tensorboard/``), ``csv`` (``RUN/metrics.csv``)
and ``mlflow`` (``./mlruns``, or ``$MLFLOW_TRACKING_URI``).

A logger subclasses :class:`Logger` and implements what its backend can; everything else
stays a no-op. Only rank 0 of a multi-process run gets one (the other ranks get a plain
:class:`Logger`). Example, in a plugin::

    from ganzoo import hookimpl
    from ganzoo.loggers import Logger
    from ganzoo.specs import LoggerSpec

    class PrintLogger(Logger):
        def scalars(self, prefix, step, values):
            print(step, prefix, self.numeric(values))

    @hookimpl
    def ganzoo_loggers():
        yield LoggerSpec(name="print", summary="Prints every metrics line",
                         build="ganzoo_print:PrintLogger")

``ganzoo train dcgan --logger print`` then uses it. The built-in backends live in
:mod:`.tensorboard`, :mod:`.csv` and :mod:`.mlflow`, one module each.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..plugins.registry import Entry, Registry

__all__ = ["Logger", "GuardedLogger", "build_logger", "check_logger", "missing_packages", "METHODS"]

METHODS = ("scalars", "image", "audio", "text", "rewind", "close")
"""What a logger receives, in :class:`Logger`'s terms."""

SKIPPED_KEYS = frozenset({"step", "epoch"})
"""Keys of a metrics record that are the record's position, not a value to plot."""


class Logger:
    """The logger interface: every method is a no-op here, so a subclass implements only
    what its backend can. This class itself is the ``none`` logger.

    Args:
        run_dir: the run directory (it exists; ``metrics.jsonl`` lives there).
        config: the resolved :class:`~ganzoo.config.RunConfig` of the run.
        resume: the run continues from a checkpoint; :meth:`rewind` follows at once with
            the checkpoint's step, so append to what an earlier session wrote.

    The trainer calls, on rank 0 only:

    - ``scalars(prefix, step, values)``: ``prefix`` ``"train"`` with each metrics line
      (``values`` is the whole record: losses, ``images_per_sec``, ``elapsed_sec``, ...;
      :meth:`numeric` keeps the numbers), ``"eval"`` with each evaluation's results;
    - ``image(step, grid)``: each sample grid, an RGB float tensor ``[3, H, W]`` in [0, 1]
      (point data: a scatter plot; audio: spectrograms; video: a strip of frames);
    - ``audio(step, tag, clip, rate)``: a clip ``[C, T]`` in [-1, 1] of an audio preview;
    - ``text(step, lines)``: the sentences of a text preview;
    - ``rewind(step)``: a rollback or a resume goes back to ``step``: drop what was logged
      for later steps, where the backend allows (``metrics.jsonl`` is truncated the same way);
    - ``close()``: the training session ends (also after an error or an interrupt). A later
      ``fit`` of the same trainer may log again after it.

    The trainer restores torch's, Python's and numpy's global random states after every
    call, so a logger cannot disturb an exact resume.
    """

    def __init__(self, run_dir: Path | str, config: "RunConfig", resume: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.resume = resume

    def scalars(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        """Log a metrics record (``prefix`` ``"train"`` or ``"eval"``) at ``step``."""

    def image(self, step: int, grid: Any) -> None:
        """Log a sample grid, ``[3, H, W]`` float in [0, 1]."""

    def audio(self, step: int, tag: str, clip: Any, rate: int) -> None:
        """Log an audio clip ``[C, T]`` in [-1, 1] at ``rate`` samples per second."""

    def text(self, step: int, lines: Sequence[str]) -> None:
        """Log generated sentences."""

    def rewind(self, step: int) -> None:
        """Forget what was logged for steps after ``step`` (where the backend allows)."""

    def close(self) -> None:
        """Flush and release the backend."""

    @staticmethod
    def numeric(values: Mapping[str, Any]) -> dict[str, float]:
        """The plottable values of a record: numbers (not booleans), without ``step`` and ``epoch``."""
        return {key: float(value) for key, value in values.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in SKIPPED_KEYS}

    def wants(self, method: str) -> bool:
        """Whether this logger implements ``method`` (the trainer skips rendering what nobody takes)."""
        return getattr(type(self), method, None) is not getattr(Logger, method)


# -- what the trainer holds ---------------------------------------------------------

@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Leave torch's (CPU), Python's and numpy's global random states as they were
    (MLflow draws run names and ids from Python's ``random``, for one)."""
    import torch

    py_state = random.getstate()
    torch_state = torch.random.get_rng_state()
    try:
        import numpy as np
        np_state = np.random.get_state()
    except ImportError:  # pragma: no cover - numpy is a torch dependency in practice
        np, np_state = None, None
    try:
        yield
    finally:
        random.setstate(py_state)
        torch.random.set_rng_state(torch_state)
        if np is not None:
            np.random.set_state(np_state)


class GuardedLogger(Logger):
    """What the trainer holds: forwards to a logger with the random states preserved, and
    closes it once per session (a second ``close`` without calls between is skipped)."""

    def __init__(self, inner: Logger) -> None:  # noqa: D107 - no super().__init__: a view of inner
        self.inner = inner
        self.run_dir, self.config, self.resume = inner.run_dir, inner.config, inner.resume
        self._open = True

    def _call(self, method: str, *args: Any) -> None:
        if not self.inner.wants(method):
            return
        self._open = True
        with preserved_rng():
            getattr(self.inner, method)(*args)

    def scalars(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        self._call("scalars", prefix, step, values)

    def image(self, step: int, grid: Any) -> None:
        self._call("image", step, grid)

    def audio(self, step: int, tag: str, clip: Any, rate: int) -> None:
        self._call("audio", step, tag, clip, rate)

    def text(self, step: int, lines: Sequence[str]) -> None:
        self._call("text", step, lines)

    def rewind(self, step: int) -> None:
        self._call("rewind", step)

    def close(self) -> None:
        if self._open and self.inner.wants("close"):
            self._open = False
            with preserved_rng():
                self.inner.close()

    def wants(self, method: str) -> bool:
        return self.inner.wants(method)


def missing_packages(spec) -> list[str]:
    """The modules of ``spec.requires`` that cannot be imported here (not imported to find out)."""
    missing = []
    for module in spec.requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


def check_logger(registry: "Registry", name: str) -> "Entry | None":
    """The registry entry of logger ``name``, checked before training starts (``None`` for
    ``none`` when no plugin registers it: a run without a logger needs none).

    Raises:
        UnknownComponentError: no such logger (with suggestions; exit 2).
        ConfigError: a package it needs is missing, with the install command (exit 2).
    """
    if name == "none" and not registry.list("logger", "none"):
        return None
    entry = registry.get("logger", name)
    missing = missing_packages(entry.spec)
    if missing:
        install = entry.spec.install or f"pip install {' '.join(missing)}"
        raise ConfigError(f"--logger {name} needs the {missing[0]} package: {install}")
    return entry


def build_logger(registry: "Registry", config: "RunConfig", run_dir: Path, resume: bool = False) -> GuardedLogger:
    """The logger ``config.logger`` names, built for ``run_dir`` (see :class:`Logger`)."""
    from ..specs import resolve_ref

    entry = check_logger(registry, config.logger)
    if entry is None:
        return GuardedLogger(Logger(run_dir, config, resume=resume))
    with preserved_rng():
        logger = resolve_ref(entry.spec.build)(run_dir, config, resume=resume)
    if not isinstance(logger, Logger):
        raise TypeError(f"logger {entry.qualified_name!r}: build returned {type(logger).__name__}, "
                        f"expected a ganzoo.loggers.Logger")
    return GuardedLogger(logger)
