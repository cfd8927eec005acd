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

``ganzoo train dcgan --logger print`` then uses it.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import math
import os
import random
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import RunConfig
    from .plugins.registry import Entry, Registry

__all__ = ["Logger", "TensorBoardLogger", "CSVLogger", "MLflowLogger", "build_logger", "check_logger",
           "missing_packages", "CSV_FILE", "CSV_COLUMNS", "MLFLOW_FILE", "METHODS"]

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
    from .specs import resolve_ref

    entry = check_logger(registry, config.logger)
    if entry is None:
        return GuardedLogger(Logger(run_dir, config, resume=resume))
    with preserved_rng():
        logger = resolve_ref(entry.spec.build)(run_dir, config, resume=resume)
    if not isinstance(logger, Logger):
        raise TypeError(f"logger {entry.qualified_name!r}: build returned {type(logger).__name__}, "
                        f"expected a ganzoo.loggers.Logger")
    return GuardedLogger(logger)


# -- tensorboard ------------------------------------------------------------------

class TensorBoardLogger(Logger):
    """TensorBoard event files in ``RUN/tensorboard/``: scalars under ``train/`` and
    ``eval/``, sample grids under ``samples``, audio clips, sentences. A rewind reopens the
    writer with ``purge_step``, so TensorBoard hides the events of the steps redone."""

    def __init__(self, run_dir: Path | str, config: "RunConfig | None" = None, resume: bool = False) -> None:
        super().__init__(run_dir, config, resume)
        self._writer = None
        self._purge_step: int | None = None

    @property
    def writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=self._purge_step)
            self._purge_step = None
        return self._writer

    def scalars(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        for key, value in self.numeric(values).items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def image(self, step: int, grid: Any) -> None:
        self.writer.add_image("samples", grid, step)

    def audio(self, step: int, tag: str, clip: Any, rate: int) -> None:
        """One clip ``[C, T]`` in [-1, 1] (channels averaged), playable in TensorBoard's audio tab."""
        self.writer.add_audio(tag, clip.float().mean(dim=0).clamp(-1, 1), step, sample_rate=int(rate))

    def text(self, step: int, lines: Sequence[str]) -> None:
        """Sampled sentences, one per line, in TensorBoard's text tab."""
        self.writer.add_text("samples", "\n\n".join(f"`{line}`" if line else "`(empty)`" for line in lines), step)

    def rewind(self, step: int) -> None:
        self.close()
        self._purge_step = step + 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None


# -- csv ------------------------------------------------------------------------------

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
        from .training.checkpoint import atomic_write_text

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


# -- mlflow ---------------------------------------------------------------------------

MLFLOW_FILE = "mlflow.json"
"""``RUN/mlflow.json``: the tracking URI, experiment and run id a resumed run continues."""

MLFLOW_DEFAULT_STORE = "mlruns"
MLFLOW_EXPERIMENT = "ganzoo"


def mlflow_key(key: str) -> str:
    """A metric or parameter name MLflow accepts: ``fid[mnist-classifier]`` -> ``fid.mnist-classifier``,
    ``D(G(z))`` -> ``D_G_z`` (runs of other characters MLflow refuses become one ``_``)."""
    key = re.sub(r"\[([^\]]*)\]", r".\1", key)
    return "/".join(part.rstrip("_") or part for part in re.sub(r"[^\w\-. /:]+", "_", key).split("/"))


def _local_store(uri: str) -> Path | None:
    """The folder of a local file store URI (``file:...`` or a plain path), else ``None``."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


class MLflowLogger(Logger):
    """An MLflow run per ganzoo run, through ``mlflow.MlflowClient``.

    - Store: ``$MLFLOW_TRACKING_URI`` when set, else the local file store ``./mlruns``
      (absolute at build time; MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE``
      is true, which is set, if unset, for this default only).
    - Experiment ``$MLFLOW_EXPERIMENT_NAME``, else ``ganzoo``; run name = the run directory's name.
    - Params: the resolved config, flattened (``g_optim.lr``, ``arch.ngf``; values as JSON);
      tags ``ganzoo.model``, ``ganzoo.loss``, ``ganzoo.dataset``, ``ganzoo.algorithm``,
      ``ganzoo.version``, ``ganzoo.run_dir``.
    - Metrics ``train/KEY`` and ``eval/KEY`` with their steps; sample grids as artifacts
      ``samples/step-NNNNNNN.png`` (sentences ``.txt``, clips ``.wav``).
    - ``RUN/mlflow.json`` keeps the store, experiment and run id: a resumed ganzoo run
      continues the same MLflow run, in that store (whatever ``$MLFLOW_TRACKING_URI`` says
      then). A rewind drops later metric points in a local file store; a server cannot delete
      them (the run gets the tag ``ganzoo.rewound``).
    """

    def __init__(self, run_dir: Path | str, config: "RunConfig", resume: bool = False) -> None:
        super().__init__(run_dir, config, resume)
        from mlflow import MlflowClient

        saved = self._saved() if resume else None
        if saved:  # a resume continues in the store it started in
            uri, self.default_store = saved["tracking_uri"], bool(saved.get("default_store"))
        else:
            uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
            self.default_store = not uri
            if self.default_store:
                uri = Path(MLFLOW_DEFAULT_STORE).resolve().as_uri()
        if self.default_store:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.tracking_uri = uri
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.run_id = self._continue(saved) if saved else None
            if self.run_id is None:
                self.run_id = self._start()
        except Exception as exc:  # noqa: BLE001 - MlflowException, connection errors: one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"--logger mlflow cannot use the tracking store {uri}: {first}") from None
        self._write_saved()

    # the run ------------------------------------------------------------------------
    def _saved(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.run_dir / MLFLOW_FILE).read_text(encoding="utf-8"))
            return data if isinstance(data, dict) and data.get("run_id") and data.get("tracking_uri") else None
        except (OSError, ValueError):
            return None

    def _write_saved(self) -> None:
        from .training.checkpoint import atomic_write_text

        atomic_write_text(self.run_dir / MLFLOW_FILE, json.dumps(
            {"tracking_uri": self.tracking_uri, "experiment_id": self.experiment_id, "run_id": self.run_id,
             "default_store": self.default_store}, indent=2) + "\n")

    def _continue(self, saved: dict[str, Any]) -> str | None:
        """Reopen the run ``saved`` names; ``None`` when the store no longer has it."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(saved["run_id"])
        except MlflowException:
            return None
        if run.info.lifecycle_stage != "active":
            return None
        self.experiment_id = run.info.experiment_id
        self.client.update_run(run.info.run_id, status="RUNNING")
        self._log_params(existing=run.data.params)
        return run.info.run_id

    def _start(self) -> str:
        from mlflow.exceptions import MlflowException

        import ganzoo

        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "").strip() or MLFLOW_EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                self.experiment_id = self.client.create_experiment(name)
            except MlflowException:  # another process created it meanwhile
                self.experiment_id = self.client.get_experiment_by_name(name).experiment_id
        else:
            self.experiment_id = experiment.experiment_id
        cfg = self.config
        tags = {"ganzoo.model": cfg.model, "ganzoo.loss": cfg.loss, "ganzoo.dataset": cfg.dataset,
                "ganzoo.algorithm": cfg.algorithm, "ganzoo.version": ganzoo.__version__,
                "ganzoo.run_dir": str(self.run_dir.resolve())}
        run = self.client.create_run(self.experiment_id, run_name=self.run_dir.name, tags=tags)
        self.run_id = run.info.run_id
        self._log_params(existing={})
        return run.info.run_id

    def _log_params(self, existing: Mapping[str, str]) -> None:
        """The flattened config as params; on a resume only the keys the run lacks (MLflow
        never changes a param; the resume-safe settings that changed stay as first logged)."""
        from mlflow.entities import Param

        from .config import _flatten

        try:
            from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
        except ImportError:  # pragma: no cover - older mlflow
            MAX_PARAM_VAL_LENGTH = 500
        params = []
        for key, value in _flatten(self.config.model_dump(mode="json")).items():
            key = mlflow_key(key)
            if key in existing:
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            params.append(Param(key, text[:MAX_PARAM_VAL_LENGTH]))
        for start in range(0, len(params), 100):  # MLflow's batch limit
            self.client.log_batch(self.run_id, params=params[start:start + 100])

    # what the trainer logs -------------------------------------------------------------
    def scalars(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(mlflow_key(f"{prefix}/{key}"), value, now, int(step))
                   for key, value in self.numeric(values).items()]
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[start:start + 1000])

    def _artifact(self, step: int, suffix: str, write) -> None:
        with tempfile.TemporaryDirectory(prefix="ganzoo-mlflow-") as folder:
            path = Path(folder) / f"step-{step:07d}{suffix}"
            write(path)
            self.client.log_artifact(self.run_id, str(path), artifact_path="samples")

    def image(self, step: int, grid: Any) -> None:
        from torchvision.utils import save_image

        self._artifact(step, ".png", lambda path: save_image(grid.float().clamp(0, 1), str(path)))

    def audio(self, step: int, tag: str, clip: Any, rate: int) -> None:
        from .kinds.media import write_wav

        suffix = "-" + re.sub(r"[^\w\-]", "_", tag.rsplit("/", 1)[-1]) + ".wav"
        self._artifact(step, suffix, lambda path: write_wav(path, clip.float().cpu(), int(rate)))

    def text(self, step: int, lines: Sequence[str]) -> None:
        self.client.log_text(self.run_id, "".join(f"{line}\n" for line in lines), f"samples/step-{step:07d}.txt")

    def rewind(self, step: int) -> None:
        """Drop the metric points of later steps from a local file store (MLflow has no API for
        it); elsewhere mark the run ``ganzoo.rewound`` (the redone steps are logged again)."""
        from mlflow.exceptions import MlflowException

        store = _local_store(self.tracking_uri)
        folder = store / str(self.experiment_id) / self.run_id / "metrics" if store is not None else None
        if folder is None or not folder.is_dir():
            with contextlib.suppress(MlflowException):
                self.client.set_tag(self.run_id, "ganzoo.rewound", f"to step {step}")
            return
        from .training.checkpoint import atomic_write_text

        for path in folder.rglob("*"):
            if not path.is_file() or path.name.startswith("."):
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if _metric_step(line) <= step]
            if not kept:  # MLflow refuses an empty metric file: the metric was never logged, then
                path.unlink()
            elif len(kept) != len(lines):
                atomic_write_text(path, "".join(f"{line}\n" for line in kept))

    def close(self) -> None:
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException):
            self.client.set_terminated(self.run_id, status="FINISHED")


def _metric_step(line: str) -> float:
    """The step of a line of MLflow's file store (``timestamp value step [...]``); a damaged
    line counts as later than any step (dropped by a rewind)."""
    parts = line.split()
    try:
        return int(parts[2]) if len(parts) >= 3 else (0 if len(parts) == 2 else math.inf)
    except ValueError:
        return math.inf
