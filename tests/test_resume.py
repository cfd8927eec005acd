"""Exact resume, crash safety, checkpoint integrity and training health."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import ganzoo
from ganzoo.config import resolve_config
from ganzoo.errors import CheckpointError
from ganzoo.training import checkpoint as ckpt
from ganzoo.training.health import TrainingDiverged
from ganzoo.training.previews import Previews
from ganzoo.training.progress import Reporter
from ganzoo.training.run import train

from .conftest import BUILTINS, TINY, assert_bitwise_equal, family_flags, final_state

FILES = (ckpt.module_file("generator"), ckpt.module_file("discriminator"), ckpt.STATE_FILE)


def tiny(data_dir: Path, out: Path, steps: int, *extra: str) -> list[str]:
    flags = [f if f != "3" else str(steps) for f in TINY]  # TINY's "--steps 3"
    return [*flags, "--data-dir", str(data_dir), "--out", str(out), "--quiet", *extra]


def ganzoo_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganzoo", *args], capture_output=True, text=True,
                          timeout=300, **kwargs)


# exact resume -----------------------------------------------------------------------

@pytest.mark.parametrize("extra", [(), ("--loss", "hinge", "--set", "n_critic=2")])
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(cli, data_dir, tmp_path, extra, monkeypatch):
    monkeypatch.delenv("GANZOO_NO_CURVES")  # drawing curves.png must not disturb an exact resume
    out = tmp_path / "runs"
    assert cli("train", "dcgan", *tiny(data_dir, out, 10, "--run-name", "full", *extra)).exit_code == 0
    assert cli("train", "dcgan", *tiny(data_dir, out, 4, "--run-name", "part", *extra)).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), *tiny(data_dir, out, 10))
    assert result.exit_code == 0, result.output
    assert_bitwise_equal(final_state(out / "full"), final_state(out / "part"))
    assert (out / "full" / "curves.png").is_file() and (out / "part" / "curves.png").is_file()
    # the resumed run continues the same metrics file, without duplicated steps
    steps = [r["step"] for r in map(json.loads, (out / "part" / "metrics.jsonl").read_text().splitlines())
             if "d_loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 10


def test_resume_latest_picks_the_newest_run_of_the_model(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", "dcgan", *tiny(data_dir, out, 2, "--run-name", "old")).exit_code == 0
    time.sleep(0.05)
    assert cli("train", "dcgan", *tiny(data_dir, out, 2, "--run-name", "new")).exit_code == 0
    result = cli("train", "dcgan", "--resume", "latest", *tiny(data_dir, out, 3))
    assert result.exit_code == 0, result.output
    assert (out / "new" / "checkpoints" / "step-0000003").is_dir()
    assert not (out / "old" / "checkpoints" / "step-0000003").exists()
    # a finished run resumed with the same --steps has nothing to do, and says so
    result = cli("train", "--resume", str(out / "new"), *[a for a in tiny(data_dir, out, 3) if a != "--quiet"])
    assert result.exit_code == 0 and "already at step 3" in result.output


def test_resume_with_nothing_to_resume_is_a_one_line_error(cli, tmp_path):
    result = cli("train", "dcgan", "--resume", "latest", "--out", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: no run of model 'dcgan'")
    assert len(result.output.strip().splitlines()) == 1


def test_resuming_into_another_model_or_setting_is_refused_with_the_diff(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", "dcgan", *tiny(data_dir, out, 2, "--run-name", "a")).exit_code == 0
    before = sorted(p.name for p in (out / "a" / "checkpoints").iterdir())
    result = cli("train", "--resume", str(out / "a"), *tiny(data_dir, out, 4, "--loss", "hinge",
                                                             "--set", "arch.ngf=16"))
    assert result.exit_code == 2
    message = result.output.strip()
    assert len(message.splitlines()) == 1
    assert 'loss: "core:bce" -> "core:hinge"' in message and "arch.ngf: 8 -> 16" in message
    assert "--force" in message
    result = cli("train", "gan", "--resume", str(out / "a"), *tiny(data_dir, out, 4))
    assert result.exit_code == 2 and 'model: "dcgan:dcgan" -> "gan:gan"' in result.output
    assert sorted(p.name for p in (out / "a" / "checkpoints").iterdir()) == before
    # settings that do not change what is trained may differ; forced changes are applied
    assert cli("train", "--resume", str(out / "a"), *tiny(data_dir, out, 3, "--set", "log_every=1")).exit_code == 0
    result = cli("train", "--resume", str(out / "a"), "--force", *tiny(data_dir, out, 4, "--batch-size", "4"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "a" / "config.json").read_text())["batch_size"] == 4


def test_resume_names_the_plugin_to_install(data_dir, tmp_path):
    out = tmp_path / "runs"
    assert ganzoo_cli("train", "sngan", *tiny(data_dir, out, 1, "--run-name", "s")).returncode == 0
    result = ganzoo_cli("train", "--resume", str(out / "s"), "--steps", "2",
                        env={**os.environ, "GANZOO_DISABLE_PLUGINS": "sngan"})
    assert result.returncode == 4
    assert "plugin 'sngan'" in result.stderr and "not installed" in result.stderr
    assert "Traceback" not in result.stderr


# crash safety -----------------------------------------------------------------------

SLOW_WRITER = """
import sys, time
import ganzoo.training.checkpoint as c
real = c.save_file
def slow(tensors, path, metadata=None):
    real(tensors, path, metadata)
    print("WRITING", path, flush=True)
    if "step-0000004" in str(path):
        time.sleep(60)  # killed here: step 4's generator is on disk, the rest is not
c.save_file = slow
from ganzoo.cli import main
main(sys.argv[1:])
"""


def _reference(data_dir: Path, out: Path, steps: int) -> dict:
    result = ganzoo_cli("train", "dcgan", *tiny(data_dir, out, steps, "--run-name", "reference",
                                                 "--set", "checkpoint_every=2"))
    assert result.returncode == 0, result.stderr
    return final_state(out / "reference")


def _resume_to(data_dir: Path, out: Path, run: str, steps: int) -> subprocess.CompletedProcess:
    return ganzoo_cli("train", "--resume", "latest", *tiny(data_dir, out, steps, "--run-name", run))


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_checkpoint_write_loses_at_most_one_interval(data_dir, tmp_path):
    out = tmp_path / "runs"
    reference = _reference(data_dir, out, 12)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, "train", "dcgan",
                             *tiny(data_dir, out, 12, "--run-name", "killed", "--set", "checkpoint_every=2")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("WRITING") and "step-0000004" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    root = out / "killed" / "checkpoints"
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in root.glob(".tmp-*")] == [f".tmp-step-0000004-{proc.pid}"]
    assert (root / "latest").read_text().strip() == "step-0000002"
    result = _resume_to(data_dir, out, "killed", 12)
    assert result.returncode == 0, result.stderr
    assert not list(root.glob(".tmp-*"))  # the half-written folder is cleaned up
    assert_bitwise_equal(reference, final_state(out / "killed"))


@pytest.mark.slow
def test_sigkill_at_a_random_moment_of_training_then_resume(data_dir, tmp_path):
    out = tmp_path / "runs"
    steps = 200  # long enough that the kill falls during training on a fast machine too
    reference = _reference(data_dir, out, steps)
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "train", "dcgan",
                             *tiny(data_dir, out, steps, "--run-name", "killed", "--set", "checkpoint_every=2")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = out / "killed" / "checkpoints" / "latest"
    deadline = time.monotonic() + 120
    while not (latest.is_file() and latest.read_text().strip() >= "step-0000004"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    step = int((latest.read_text().strip()).split("-")[1])
    assert 4 <= step < steps
    result = _resume_to(data_dir, out, "killed", steps)
    assert result.returncode == 0, result.stderr
    assert_bitwise_equal(reference, final_state(out / "killed"))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
def test_signals_at_random_moments_then_resume_is_bitwise_exact(data_dir, tmp_path, sig):
    """The issue's repro: stop a run three times at random moments during training, resume
    each time; the end state equals an uninterrupted run's, bit for bit (the signal only sets
    a flag that the loop honours between steps)."""
    out, steps = tmp_path / "runs", 400  # a few seconds: each signal falls during training
    reference = _reference(data_dir, out, steps)
    chooser = random.Random(int(sig))
    metrics = out / "sig" / "metrics.jsonl"
    stops = []
    for attempt in range(3):
        start = ["--resume", str(out / "sig")] if attempt else ["dcgan"]
        seen = len(metrics.read_text().splitlines()) if metrics.is_file() else 0
        proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "train", *start,
                                 *tiny(data_dir, out, steps, "--run-name", "sig", "--set", "log_every=1",
                                       "--set", "checkpoint_every=1000")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not (metrics.is_file() and len(metrics.read_text().splitlines()) > seen):  # training has begun
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(chooser.uniform(0.0, 0.4))
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        if proc.returncode == 0 or "trained" in stderr:  # it finished before the signal came
            break
        assert proc.returncode == 130 and "Traceback" not in stderr, stderr
        stops.append(int(stderr.split("interrupted at step ")[1].split(";")[0]))
    assert stops, "no signal fell during training"
    result = _resume_to(data_dir, out, "sig", steps)
    assert result.returncode == 0, result.stderr
    assert_bitwise_equal(reference, final_state(out / "sig"))
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, steps + 1))  # no step lost or logged twice


RESUMED_MODELS = sorted(entry.spec.name for entry in BUILTINS.list("model"))
"""Every built-in model."""


@pytest.fixture(scope="module")
def reference_states() -> dict[str, dict]:
    """Each model's uninterrupted run, trained once for both signals: how often a run saves
    (every step or every 10) must not change what it trains."""
    return {}


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("model", RESUMED_MODELS)
def test_a_family_stopped_mid_run_resumes_bitwise(data_dir, tmp_path, model, sig, reference_states):
    """Each family's own state (growth stage and fade, EMA codebooks, rng-drawn domains,
    masks) survives a stop at a random moment of training: SIGTERM (a checkpoint at the step it
    stops after) or SIGKILL (the last checkpoint of every 10 steps). Resumed, the run ends equal
    to an uninterrupted one bit for bit, every step logged once."""
    out, steps = tmp_path / "runs", 150
    every = 10 if sig == signal.SIGKILL else 1000
    flags = ["--batch-size", "8", *family_flags(model, data_dir),
             "--device", "cpu", "--data-dir", str(data_dir), "--out", str(out), "--quiet",
             "--set", "log_every=1", "--set", f"checkpoint_every={every}", "--steps", str(steps)]
    if model not in reference_states:
        result = ganzoo_cli("train", model, *flags, "--run-name", "reference")
        assert result.returncode == 0, result.stderr
        reference_states[model] = final_state(out / "reference")
    metrics, latest = out / "sig" / "metrics.jsonl", out / "sig" / "checkpoints" / "latest"
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "train", model, *flags, "--run-name", "sig"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 3  # training has begun
               and (sig != signal.SIGKILL or (latest.is_file() and latest.read_text().strip() >= "step-0000010"))):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(random.Random(model).uniform(0.0, 0.1))
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert 10 <= int(latest.read_text().strip().split("-")[1]) < steps
    else:
        assert proc.returncode == 130 and "Traceback" not in stderr, stderr
        assert 0 < int(stderr.split("interrupted at step ")[1].split(";")[0]) < steps
    result = ganzoo_cli("train", "--resume", str(out / "sig"), "--steps", str(steps), "--quiet")
    assert result.returncode == 0, result.stderr
    assert_bitwise_equal(reference_states[model], final_state(out / "sig"))
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, steps + 1))


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_130(data_dir, tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "train", "dcgan",
                             *tiny(data_dir, out, 100000, "--run-name", "t", "--set", "log_every=1")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    latest = out / "t" / "checkpoints" / "latest"
    metrics = out / "t" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.stat().st_size):  # a step has been trained
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted at step" in stderr and "Traceback" not in stderr
    step = int(stderr.split("interrupted at step ")[1].split(";")[0])
    assert step > 0 and latest.read_text().strip() == f"step-{step:07d}"
    assert (out / "t" / "checkpoints" / f"step-{step:07d}" / ckpt.STATE_FILE).is_file()


# no code from checkpoints --------------------------------------------------------------

def _trained(cli, data_dir, tmp_path) -> Path:
    out = tmp_path / "runs"
    assert cli("train", "dcgan", *tiny(data_dir, out, 2, "--run-name", "r")).exit_code == 0
    return out / "r"


@pytest.mark.parametrize("damage", ["truncate", "flip-a-byte", "edit-metadata", "empty"])
@pytest.mark.parametrize("file", FILES)
def test_damaged_checkpoints_are_refused_with_exit_5(cli, data_dir, tmp_path, damage, file):
    run = _trained(cli, data_dir, tmp_path)
    path = ckpt.resolve_checkpoint(run) / file
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip-a-byte":
        raw[-10] ^= 0xFF  # inside the last tensor's data
    elif damage == "edit-metadata":
        raw = raw.replace(b'"step":"2"', b'"step":"9"')
        assert b'"step":"9"' in raw
    else:
        raw = bytearray()
    path.write_bytes(bytes(raw))
    results = [cli("train", "--resume", str(run), "--steps", "4")]
    if file == ckpt.module_file("generator"):
        results.append(cli("sample", str(run), "-n", "4", "--out", str(tmp_path / "g.png")))
    for result in results:
        assert result.exit_code == 5, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "g.png").exists()


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'PWNED'}",))


@pytest.mark.parametrize("name", ["generator.safetensors", "model.pt", "model.ckpt"])
def test_a_pickle_crafted_to_run_code_is_never_unpickled(cli, data_dir, tmp_path, name):
    run = _trained(cli, data_dir, tmp_path)
    folder = ckpt.resolve_checkpoint(run)
    target = folder / name
    target.write_bytes(pickle.dumps(_Exploit()))
    for args in (("sample", str(target), "--out", str(tmp_path / "x.png")),
                 ("train", "--resume", str(target), "--steps", "3"),
                 ("eval", str(target), "-n", "8")):
        result = cli(*args)
        assert result.exit_code in (2, 5), (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "PWNED").exists()


def test_checksums_cover_tensors_and_metadata():
    tensors = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2, dtype=torch.bfloat16)}
    meta = {"step": "1"}
    base = ckpt.checksum(tensors, meta)
    assert base.startswith("sha256:") and base == ckpt.checksum(dict(reversed(tensors.items())), meta)
    assert ckpt.checksum({**tensors, "w": tensors["w"].clone().index_fill_(1, torch.tensor([1]), 7)}, meta) != base
    assert ckpt.checksum({**tensors, "w": tensors["w"].reshape(3, 2)}, meta) != base
    assert ckpt.checksum(tensors, {"step": "2"}) != base
    assert ckpt.checksum(tensors, {**meta, "checksum": "anything"}) == base


def test_a_failed_write_leaves_no_half_written_checkpoint(tmp_path, monkeypatch):
    def full_disk(tensors, path, metadata=None):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    ckpt.save_checkpoint(tmp_path, 1, {"g.safetensors": {"w": torch.ones(2)}}, {}, keep=3)
    monkeypatch.setattr(ckpt, "save_file", full_disk)
    with pytest.raises(ckpt.CheckpointWriteError, match="No space left on device"):
        ckpt.save_checkpoint(tmp_path, 2, {"g.safetensors": {"w": torch.ones(2)}}, {}, keep=3)
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-0000001"]
    assert (root / "latest").read_text().strip() == "step-0000001"


# training health -----------------------------------------------------------------------

class _NaNAfter:
    """Wraps a loss: the discriminator loss is NaN on the listed calls (1-based)."""

    def __init__(self, loss, bad_calls):
        self.loss, self.bad_calls, self.calls = loss, set(bad_calls), 0

    def d_loss(self, real, fake):
        self.calls += 1
        value = self.loss.d_loss(real, fake)
        return value * float("nan") if self.calls in self.bad_calls or "all" in self.bad_calls else value

    def __getattr__(self, name):
        return getattr(self.loss, name)


def _train_with_nans(manager, data_dir, tmp_path, monkeypatch, bad_calls, **flags):
    import ganzoo.training.assemble as run_module

    real_build = run_module.build_loss
    monkeypatch.setattr(run_module, "build_loss", lambda registry, name: _NaNAfter(real_build(registry, name),
                                                                                    bad_calls))
    cfg = resolve_config(manager.registry, "dcgan", flags={
        "steps": 8, "batch_size": 8, "device": "cpu", "data_dir": str(data_dir), "out": str(tmp_path / "runs"),
        "run_name": "nan", "checkpoint_every": 3, "arch": {"ngf": 8, "ndf": 8, "latent_dim": 16}, **flags})
    messages: list[str] = []
    reporter = Reporter(enabled=False)
    reporter.message = messages.append
    return cfg, messages, lambda: train(cfg, manager.registry, reporter)


def test_a_nan_rolls_back_to_the_last_checkpoint_with_a_lower_learning_rate(manager, data_dir, tmp_path,
                                                                              monkeypatch):
    cfg, messages, run = _train_with_nans(manager, data_dir, tmp_path, monkeypatch, bad_calls=[5])
    result = run()
    assert result.step == 8
    records = [json.loads(line) for line in (result.path / "events.jsonl").read_text().splitlines()]
    events = [r for r in records if r.get("event") == "rollback"]
    assert len(events) == 1
    assert events[0]["step"] == 5 and events[0]["to_step"] == 3 and events[0]["lr_scale"] == 0.5
    assert any("rolled back to step 3" in m for m in messages)
    state = final_state(result.path)
    assert all(torch.isfinite(t).all() for t in state[ckpt.module_file("generator")].values())
    g_meta = json.loads(ckpt.read_metadata(result.checkpoint / ckpt.STATE_FILE)["g_optim"])
    assert g_meta["param_groups"][0]["lr"] == pytest.approx(cfg.g_optim.lr * 0.5)


def test_nans_that_keep_coming_stop_the_run_with_a_clear_message(manager, data_dir, tmp_path, monkeypatch):
    _, messages, run = _train_with_nans(manager, data_dir, tmp_path, monkeypatch, bad_calls=["all"],
                                        max_rollbacks=2)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 1 after 2 rollback\(s\)") as info:
        run()
    assert "step-0000000" in str(info.value) and "--lr" in str(info.value)
    assert sum("rolled back" in m for m in messages) == 2


def test_an_exploding_gradient_norm_counts_as_divergence(manager, data_dir, tmp_path, monkeypatch):
    _, _, run = _train_with_nans(manager, data_dir, tmp_path, monkeypatch, bad_calls=[],
                                 max_grad_norm=1e-6, max_rollbacks=0)
    with pytest.raises(TrainingDiverged, match="rollbacks off.*grad_norm"):
        run()


def test_falling_sample_diversity_is_reported_as_possible_mode_collapse():
    messages, events = [], []
    fake = SimpleNamespace(diversity_seen=0, diversity_peak=None, t=SimpleNamespace(step=0),
                           log=SimpleNamespace(message=messages.append, event=events.append))
    torch.manual_seed(0)
    varied = torch.rand(16, 1, 8, 8) * 2 - 1
    collapsed = varied[:1].repeat(16, 1, 1, 1) + 0.01 * torch.randn(16, 1, 8, 8)
    for step, images in enumerate([varied * 3, varied, varied * 0.9, collapsed], start=1):
        fake.t.step = step
        Previews._check_diversity(fake, images)
    assert len(messages) == 1 and "step 4" in messages[0] and "mode collapse" in messages[0]
    warnings = [e for e in events if e["event"] == "mode_collapse_warning"]
    assert [e["step"] for e in warnings] == [4] and [e["step"] for e in events if e["event"] == "samples"] == [1, 2, 3, 4]


def test_python_and_numpy_generators_are_seeded_and_restored(cli, data_dir, tmp_path):
    run = _trained(cli, data_dir, tmp_path)
    meta = ckpt.read_metadata(ckpt.resolve_checkpoint(run) / ckpt.STATE_FILE)
    rng = json.loads(meta["rng"])
    assert rng["python"][0] == 3 and len(rng["python"][1]) == 625
    with pytest.raises(CheckpointError):
        ckpt.load_checked(run / "config.json")
    assert ganzoo.load(run).step == 2
