"""Loggers as a component kind: none, tensorboard, csv, mlflow and a plugin's own, each read back."""

from __future__ import annotations

import csv
import json
import random
import sys
import types
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganzoo import hookimpl
from ganzoo.config import resolve_config
from ganzoo.loggers.csv import CSV_COLUMNS
from ganzoo.loggers import Logger
from ganzoo.loggers.mlflow import mlflow_key
from ganzoo.training.run import train
from ganzoo.specs import LoggerSpec
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.progress import Reporter

TOY = ["gan", "--dataset", "toy-ring", "--batch-size", "16", "--device", "cpu", "--quiet",
       "--set", "log_every=2", "--set", "sample_every=8", "--set", "checkpoint_every=8"]
"""A tiny run on the 2-D ring: 16 steps take about a second."""


def toy(*extra: str, steps: int = 16, name: str = "r") -> list[str]:
    return ["train", *TOY, "--steps", str(steps), "--run-name", name, *extra]


def resume_args(run: Path, step: int, steps: int, *extra: str) -> list[str]:
    """Resume ``run`` from its checkpoint of ``step`` (the steps after it are redone)."""
    return ["train", "--resume", str(run / "checkpoints" / f"step-{step:07d}"), "--steps", str(steps),
            "--quiet", *extra]


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def expected_train_values(run: Path) -> dict[tuple[int, str], float]:
    """``(step, key) -> value`` of every number of every training line of metrics.jsonl."""
    return {(r["step"], k): float(v) for r in metrics(run) if "eval" not in r for k, v in r.items()
            if k not in ("step", "epoch") and isinstance(v, (int, float)) and not isinstance(v, bool)}


def ok(result):
    assert result.exit_code == 0, result.output
    return result


# -- the kind ---------------------------------------------------------------------------

def test_list_and_info_show_the_four_builtin_loggers(cli):
    listed = json.loads(ok(cli("list", "loggers", "--json")).stdout)
    assert {(c["name"], c["plugin"]) for c in listed} == {
        ("none", "core"), ("tensorboard", "core"), ("csv", "core"), ("mlflow", "core")}
    assert json.loads(ok(cli("list", "logger", "--json")).stdout) == listed
    everything = ok(cli("list")).stdout
    assert "loggers" in everything and "metrics.csv" in everything
    info = json.loads(ok(cli("info", "mlflow", "--kind", "logger", "--json")).stdout)
    assert info["kind"] == "logger" and info["requires"] == ["mlflow"]
    assert info["install"] == "pip install 'ganzoo[mlflow]'" and info["build"] == "ganzoo.loggers.mlflow:MLflowLogger"
    assert "requires: tensorboard (installed)" in ok(cli("info", "tensorboard")).stdout


def test_a_logger_spec_is_validated():
    LoggerSpec(name="fine", summary="ok", build="a.b:c", requires=("mlflow", "x.y")).validate()
    with pytest.raises(ValueError, match="requires must be a tuple of module names"):
        LoggerSpec(name="bad", summary="x", build="a.b:c", requires=("pip install x",)).validate()
    with pytest.raises(ValueError, match="build must be a callable"):
        LoggerSpec(name="bad", summary="x", build="not a reference").validate()


def test_mlflow_keys_are_names_mlflow_accepts():
    assert mlflow_key("train/D(G(z))") == "train/D_G_z"
    assert mlflow_key("eval/fid[mnist-classifier]") == "eval/fid.mnist-classifier"
    assert mlflow_key("g_optim.lr") == "g_optim.lr"


# -- none -------------------------------------------------------------------------------

def test_none_writes_only_metrics_jsonl(cli, tmp_path):
    ok(cli(*toy("--logger", "none")))
    run = tmp_path / "runs" / "r"
    assert (run / "metrics.jsonl").is_file()
    assert not any((run / name).exists() for name in ("tensorboard", "metrics.csv", "mlflow.json"))
    assert not (tmp_path / "mlruns").exists()


# -- csv --------------------------------------------------------------------------------

def read_csv(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        return list(reader)


def test_csv_rows_equal_metrics_jsonl(cli, tmp_path):
    ok(cli(*toy("--logger", "csv")))
    run = tmp_path / "runs" / "r"
    rows = read_csv(run)
    assert {r["split"] for r in rows} == {"train"}
    assert {(int(r["step"]), r["key"]): float(r["value"]) for r in rows} == expected_train_values(run)
    assert len(rows) == len(expected_train_values(run))  # one row per value
    assert {"d_loss", "g_loss", "D(x)", "images_per_sec"} <= {r["key"] for r in rows}
    times = [float(r["wall_time"]) for r in rows]
    assert times == sorted(times) and times[0] > 1.6e9


def test_csv_takes_evaluations_under_their_split(cli, tmp_path):
    ok(cli(*toy("--logger", "csv", "--eval-every", "8", "--set", "eval_samples=200")))
    run = tmp_path / "runs" / "r"
    evals = {(r["step"], k): float(v) for r in metrics(run) if "eval" in r for k, v in r["eval"].items()
             if isinstance(v, (int, float))}
    rows = {(int(r["step"]), r["key"]): float(r["value"]) for r in read_csv(run) if r["split"] == "eval"}
    assert rows == evals and {s for s, _ in rows} == {8, 16} and any(k == "modes" for _, k in rows)


def test_a_resume_rewinds_the_csv_to_the_checkpoint(cli, tmp_path):
    ok(cli(*toy("--logger", "csv")))
    run = tmp_path / "runs" / "r"
    first = {(int(r["step"]), r["key"]): float(r["wall_time"]) for r in read_csv(run)}
    ok(cli(*resume_args(run, 8, 20)))  # steps 9..16 are trained (and logged) again, then 17..20
    rows = read_csv(run)
    counts = Counter((int(r["step"]), r["key"]) for r in rows)
    assert max(counts.values()) == 1  # no step logged twice
    assert {(int(r["step"]), r["key"]): float(r["value"]) for r in rows} == expected_train_values(run)
    assert max(int(r["step"]) for r in rows) == 20
    redone = [r for r in rows if int(r["step"]) > 8]
    assert redone and all(float(r["wall_time"]) > max(first.values()) for r in redone)  # the new session's
    kept = [r for r in rows if int(r["step"]) <= 8]
    assert all(float(r["wall_time"]) == first[(int(r["step"]), r["key"])] for r in kept)


# -- tensorboard ------------------------------------------------------------------------

def tensorboard_scalars(run: Path) -> dict[tuple[int, str], float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return {(e.step, tag.split("/", 1)[1]): e.value for tag in events.Tags()["scalars"] if tag.startswith("train/")
            for e in events.Scalars(tag)}, events


def test_tensorboard_scalars_equal_metrics_jsonl_and_a_resume_purges_the_redone_steps(cli, tmp_path):
    ok(cli(*toy("--logger", "tensorboard")))
    run = tmp_path / "runs" / "r"
    scalars, events = tensorboard_scalars(run)
    assert scalars == pytest.approx(expected_train_values(run), rel=1e-6)
    assert [e.step for e in events.Images("samples")] == [8, 16]
    ok(cli(*resume_args(run, 8, 20)))
    scalars, events = tensorboard_scalars(run)
    assert scalars == pytest.approx(expected_train_values(run), rel=1e-6)
    steps = [e.step for e in events.Scalars("train/g_loss")]
    assert steps == sorted(set(steps)) == [r["step"] for r in metrics(run)]  # purged: each step once
    assert [e.step for e in events.Images("samples")] == [8, 16, 20]  # each grid once
    assert steps[-1] == 20


# -- mlflow -----------------------------------------------------------------------------

@pytest.fixture
def mlflow_env(monkeypatch):
    """No MLflow settings of the user's: the default store ./mlruns (cwd is tmp_path)."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_ALLOW_FILE_STORE"):
        monkeypatch.setenv(name, "x")  # recorded, so whatever the run sets is undone after the test
        monkeypatch.delenv(name)
    return monkeypatch


def mlflow_history(client, run_id: str) -> dict[tuple[int, str], float]:
    run = client.get_run(run_id)
    return {(m.step, key.split("/", 1)[1]): m.value for key in run.data.metrics if key.startswith("train/")
            for m in client.get_metric_history(run_id, key)}


def test_mlflow_logs_params_tags_metrics_and_grids_and_a_resume_continues_the_run(cli, tmp_path, mlflow_env):
    import os

    from mlflow import MlflowClient

    ok(cli(*toy("--logger", "mlflow")))
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"  # set for the default file store only
    run = tmp_path / "runs" / "r"
    saved = json.loads((run / "mlflow.json").read_text())
    assert saved["tracking_uri"] == (tmp_path / "mlruns").as_uri() and saved["default_store"] is True
    client = MlflowClient(tracking_uri=saved["tracking_uri"])
    info = client.get_run(saved["run_id"])
    assert info.info.run_name == "r" and info.info.status == "FINISHED"
    assert client.get_experiment(info.info.experiment_id).name == "ganzoo"
    config = json.loads((run / "config.json").read_text())
    params = info.data.params
    assert params["steps"] == "16" and params["model"] == "gan:gan" and params["logger"] == "mlflow"
    assert float(params["g_optim.lr"]) == config["g_optim"]["lr"]
    assert params["arch.latent_dim"] == str(config["arch"]["latent_dim"])
    tags = info.data.tags
    assert tags["ganzoo.model"] == "gan:gan" and tags["ganzoo.dataset"] == "core:toy-ring"
    assert tags["ganzoo.run_dir"] == str(run.resolve()) and tags["ganzoo.version"]
    expected = {(s, mlflow_key(k)): v for (s, k), v in expected_train_values(run).items()}
    assert mlflow_history(client, saved["run_id"]) == expected
    grids = [a.path for a in client.list_artifacts(saved["run_id"], "samples")]
    assert grids == ["samples/step-0000008.png", "samples/step-0000016.png"]

    mlflow_env.delenv("MLFLOW_ALLOW_FILE_STORE")  # as in a new process: the resume sets it again
    ok(cli(*resume_args(run, 8, 20)))
    assert json.loads((run / "mlflow.json").read_text()) == saved  # the same MLflow run
    history = client.get_metric_history(saved["run_id"], "train/g_loss")
    assert [m.step for m in history] == [r["step"] for r in metrics(run)]  # 10..16 once, not twice
    expected = {(s, mlflow_key(k)): v for (s, k), v in expected_train_values(run).items()}
    assert mlflow_history(client, saved["run_id"]) == expected
    assert client.get_run(saved["run_id"]).data.params["steps"] == "16"  # MLflow never changes a param
    assert client.get_run(saved["run_id"]).info.status == "FINISHED"
    assert len(client.search_runs([info.info.experiment_id])) == 1


def test_mlflow_honours_the_tracking_uri_and_experiment_name(cli, tmp_path, mlflow_env):
    from mlflow import MlflowClient

    store = tmp_path / "elsewhere"
    mlflow_env.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    mlflow_env.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow_env.setenv("MLFLOW_EXPERIMENT_NAME", "mine")
    ok(cli(*toy("--logger", "mlflow", steps=4)))
    saved = json.loads((tmp_path / "runs" / "r" / "mlflow.json").read_text())
    assert saved["tracking_uri"] == store.as_uri() and not (tmp_path / "mlruns").exists()
    client = MlflowClient(tracking_uri=store.as_uri())
    assert client.get_experiment(saved["experiment_id"]).name == "mine"


def test_an_unusable_mlflow_store_is_one_line_before_training(cli, tmp_path, mlflow_env):
    mlflow_env.setenv("MLFLOW_TRACKING_URI", (tmp_path / "store").as_uri())  # a file store, not allowed
    result = cli(*toy("--logger", "mlflow"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --logger mlflow cannot use the tracking store file://")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs" / "r").exists()


# -- a plugin's logger ------------------------------------------------------------------

CALLS: list[tuple] = []


class RecordingLogger(Logger):
    """Records every call, and draws from every global random generator while at it."""

    def __init__(self, run_dir, config, resume=False):
        super().__init__(run_dir, config, resume)
        CALLS.append(("init", Path(run_dir).name, config.logger, resume))

    def _disturb(self):
        torch.rand(3)
        random.random()

    def scalars(self, prefix, step, values):
        self._disturb()
        CALLS.append(("scalars", prefix, step, self.numeric(values)))

    def image(self, step, grid):
        self._disturb()
        CALLS.append(("image", step, tuple(grid.shape), float(grid.min()) >= 0 and float(grid.max()) <= 1))

    def rewind(self, step):
        CALLS.append(("rewind", step))

    def close(self):
        CALLS.append(("close",))


def recording_plugin(**spec) -> types.SimpleNamespace:
    ns = types.SimpleNamespace()

    def ganzoo_loggers():
        return [LoggerSpec(name="recording", summary="Records the calls (tests)", build=RecordingLogger, **spec)]

    ns.ganzoo_loggers = hookimpl(ganzoo_loggers)
    return ns


def test_a_plugin_logger_receives_the_calls_and_cannot_disturb_an_exact_run(manager, cli, tmp_path):
    manager.register(recording_plugin(), name="rec")
    listed = json.loads(ok(cli("list", "loggers", "--json")).stdout)
    assert "rec:recording" in {c["qualified_name"] for c in listed}
    CALLS.clear()
    ok(cli(*toy("--logger", "recording", name="a")))
    assert CALLS[0] == ("init", "a", "recording", False) and CALLS[-1] == ("close",)
    scalars = [c for c in CALLS if c[0] == "scalars"]
    assert [(c[1], c[2]) for c in scalars] == [("train", s) for s in range(2, 17, 2)]
    expected = expected_train_values(tmp_path / "runs" / "a")
    assert {(c[2], k): v for c in scalars for k, v in c[3].items()} == expected
    assert [c for c in CALLS if c[0] == "image"] == [("image", 8, (3, 256, 256), True),
                                                     ("image", 16, (3, 256, 256), True)]
    assert not [c for c in CALLS if c[0] == "rewind"]
    # the logger drew random numbers at every call: the run is still bit for bit the one without it
    ok(cli(*toy("--logger", "none", name="b")))
    for name in (ckpt.module_file("generator"), ckpt.module_file("discriminator")):
        a = load_file(ckpt.resolve_checkpoint(tmp_path / "runs" / "a") / name)
        b = load_file(ckpt.resolve_checkpoint(tmp_path / "runs" / "b") / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    CALLS.clear()
    ok(cli(*resume_args(tmp_path / "runs" / "a", 8, 12)))
    assert CALLS[:2] == [("init", "a", "recording", True), ("rewind", 8)]
    assert [c[2] for c in CALLS if c[0] == "scalars"] == [10, 12] and CALLS[-1] == ("close",)


class _NaNAt:
    """Wraps a loss: the discriminator loss is NaN on call ``bad`` (1-based)."""

    def __init__(self, loss, bad):
        self.loss, self.bad, self.calls = loss, bad, 0

    def d_loss(self, *args, **kwargs):
        self.calls += 1
        value = self.loss.d_loss(*args, **kwargs)
        return value * float("nan") if self.calls == self.bad else value

    def __getattr__(self, name):
        return getattr(self.loss, name)


def test_a_rollback_rewinds_the_logger(manager, tmp_path, monkeypatch):
    import ganzoo.training.assemble as run_module

    manager.register(recording_plugin(), name="rec")
    real_build = run_module.build_loss
    monkeypatch.setattr(run_module, "build_loss", lambda registry, name: _NaNAt(real_build(registry, name), 7))
    cfg = resolve_config(manager.registry, "gan", dataset="toy-ring", flags={
        "steps": 10, "batch_size": 16, "device": "cpu", "out": str(tmp_path / "runs"), "run_name": "nan",
        "checkpoint_every": 4, "log_every": 1, "sample_every": 100, "logger": "recording"})
    CALLS.clear()
    result = train(cfg, manager.registry, Reporter(enabled=False))
    assert result.step == 10
    assert ("rewind", 4) in CALLS  # NaN at step 7: back to the step-4 checkpoint
    steps = [c[2] for c in CALLS if c[0] == "scalars"]
    assert steps == [1, 2, 3, 4, 5, 6, 5, 6, 7, 8, 9, 10]  # 5 and 6 again after the rewind
    assert CALLS.index(("rewind", 4)) == 7

    cfg = cfg.model_copy(update={"run_name": "nan-csv", "logger": "csv"})
    monkeypatch.setattr(run_module, "build_loss", lambda registry, name: _NaNAt(real_build(registry, name), 7))
    result = train(cfg, manager.registry, Reporter(enabled=False))
    rows = read_csv(result.path)
    assert max(Counter((int(r["step"]), r["key"]) for r in rows).values()) == 1
    assert {(int(r["step"]), r["key"]): float(r["value"]) for r in rows} == expected_train_values(result.path)


# -- bad input --------------------------------------------------------------------------

def test_an_unknown_logger_is_one_line_with_suggestions(cli, tmp_path):
    result = cli(*toy("--logger", "tensorbord"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: invalid config value for 'logger': unknown logger 'tensorbord'; "
                                     "did you mean 'tensorboard'? (see `ganzoo list loggers`)")
    assert not (tmp_path / "runs").exists()
    result = cli(*toy("--logger", "wandb"))
    assert result.exit_code == 2 and "unknown logger 'wandb'" in result.stderr
    assert "csv, mlflow, none, tensorboard" in result.stderr


def test_a_missing_package_is_one_line_with_the_install_command(manager, cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # importlib finds no mlflow now
    result = cli(*toy("--logger", "mlflow"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: --logger mlflow needs the mlflow package: "
                                     "pip install 'ganzoo[mlflow]'")
    assert not (tmp_path / "runs").exists()
    manager.register(recording_plugin(requires=("ganzoo_no_such_module",)), name="rec")
    result = cli(*toy("--logger", "recording"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: --logger recording needs the ganzoo_no_such_module package: "
                                     "pip install ganzoo_no_such_module")
    # a resume that switches to a logger whose package is missing stops before anything is written
    ok(cli(*toy(steps=8)))
    before = (tmp_path / "runs" / "r" / "metrics.jsonl").read_text()
    result = cli("train", "--resume", str(tmp_path / "runs" / "r"), "--steps", "12", "--logger", "mlflow")
    assert result.exit_code == 2 and "pip install 'ganzoo[mlflow]'" in result.stderr
    assert (tmp_path / "runs" / "r" / "metrics.jsonl").read_text() == before


# -- the conformance kit and the guide's example -------------------------------------------

def test_the_kit_checks_loggers(manager):
    from ganzoo.testing import check_logger, check_plugin

    report = check_logger("csv", manager.registry)
    assert report.ok and {r.check: r.status for r in report.results} == {
        "spec": "pass", "build": "pass", "calls": "pass", "train": "pass"}, str(report)
    assert "implements scalars, rewind, close" in str(report)
    manager.register(recording_plugin(requires=("ganzoo_no_such_module",)), name="rec")
    report = check_plugin("rec", manager=manager)
    calls = next(r for r in report.results if r.check == "calls")
    assert calls.status == "skip" and "pip install ganzoo_no_such_module" in calls.message


def test_the_guides_logger_example_works_as_written(manager, cli, tmp_path, monkeypatch):
    import importlib
    import re

    from ganzoo.testing import check_plugin

    guide = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", guide, flags=re.S)
              if b.startswith("# ganzoo_summary/__init__.py")]
    assert len(blocks) == 1, "docs/plugins.md lost its logger example"
    package = tmp_path / "pkg" / "ganzoo_summary"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(blocks[0], encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    monkeypatch.delitem(sys.modules, "ganzoo_summary", raising=False)
    manager.register(importlib.import_module("ganzoo_summary"), name="summary")
    try:
        report = check_plugin("summary", manager=manager)
        assert report.ok, str(report)
        ok(cli(*toy("--logger", "summary")))
        run = tmp_path / "runs" / "r"
        ok(cli(*resume_args(run, 8, 12)))
        summary = json.loads((run / "summary.json").read_text())
        last = metrics(run)[-1]
        assert summary["train/g_loss"] == {"step": 12, "value": last["g_loss"]} and last["step"] == 12
        assert set(summary) == {f"train/{k}" for k in Logger.numeric(last)}
    finally:
        sys.modules.pop("ganzoo_summary", None)


def test_resuming_a_run_whose_logger_is_gone_says_how_to_go_on(manager, cli, tmp_path):
    from typer.testing import CliRunner

    from ganzoo.cli import create_app
    from ganzoo.plugins.manager import PluginManager

    from .conftest import register_builtins

    manager.register(recording_plugin(), name="rec")
    ok(cli(*toy("--logger", "recording", steps=8)))
    run = tmp_path / "runs" / "r"
    without = create_app(register_builtins(PluginManager(entry_points=False, warn=lambda line: None)))
    result = CliRunner().invoke(without, ["train", "--resume", str(run), "--steps", "12", "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: unknown logger 'recording'")
    assert result.stderr.strip().endswith("; resume with --logger NAME to use another")
    result = CliRunner().invoke(without, ["train", "--resume", str(run), "--steps", "12", "--quiet",
                                          "--logger", "csv"])
    assert result.exit_code == 0, result.output
    assert [int(r["step"]) for r in read_csv(run) if r["key"] == "g_loss"] == [10, 12]
