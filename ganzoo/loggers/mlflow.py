"""The ``mlflow`` logger: an MLflow run per ganzoo run, through ``mlflow.MlflowClient``."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import ConfigError
from ..files import atomic_write_text
from . import Logger

if TYPE_CHECKING:
    from ..config import RunConfig


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

        from ..config import _flatten

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
        from ..kinds.audio import write_wav

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
