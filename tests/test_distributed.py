"""Multi-process training with torch.distributed: gloo on the CPU, 2 processes.

Each test starts real processes through torch's launcher (``torch.distributed.run``),
exactly as ``torchrun`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganzoo.training.distributed import strip_option
from ganzoo.training import checkpoint as ckpt

pytestmark = pytest.mark.slow

TINY_NET = ["--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.latent_dim=16", "--device", "cpu"]

# A worker that trains through the public API, then saves what each rank ended with.
WORKER = textwrap.dedent("""
    import json, os, sys
    import torch
    from safetensors.torch import save_file
    import ganzoo
    from ganzoo.config import resolve_config
    from ganzoo.plugins.manager import get_plugin_manager
    from ganzoo.training.run import train
    from ganzoo.training.progress import Reporter

    out, flags, fail_rank = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    rank = int(os.environ.get("RANK", "0"))
    if rank == fail_rank:
        import ganzoo.algorithms as algorithms
        real = algorithms.Alternating.step
        def failing(self, trainer):
            if trainer.step == 2:
                raise RuntimeError(f"injected failure on rank {rank}")
            return real(self, trainer)
        algorithms.Alternating.step = failing
    registry = get_plugin_manager().registry
    cfg = resolve_config(registry, flags.pop("model"), flags={"out": out, **flags})
    captured = {}
    import ganzoo.training.loop as loop
    original_fit = loop.Trainer.fit
    def fit(self, steps):
        original_fit(self, steps)
        for key, net in (("g", self.context.modules["generator"]), ("d", self.context.modules["discriminator"])):
            captured[key] = {k: v.detach().clone() for k, v in net.named_parameters()}
            captured["buffers." + key] = {k: v.detach().clone() for k, v in net.named_buffers()}
    loop.Trainer.fit = fit
    train(cfg, registry, Reporter(enabled=False))
    save_file({f"{group}.{k}": v.contiguous() for group, values in captured.items() for k, v in values.items()},
              os.path.join(out, f"rank{rank}.safetensors"))
""")


def launch(tmp_path: Path, nproc: int, flags: dict, fail_rank: int = -1, timeout: int = 240):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_DIST_TIMEOUT": "60"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={nproc}", str(script), str(tmp_path / "runs"),
                           json.dumps(flags), str(fail_rank)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def tiny_flags(data_dir: Path, **extra) -> dict:
    return {"model": "dcgan", "data_dir": str(data_dir), "batch_size": 8, "steps": 3, "device": "cpu",
            "arch": {"ngf": 8, "ndf": 8, "latent_dim": 16}, **extra}


def test_two_processes_train_and_end_with_identical_weights(data_dir, tmp_path):
    result = launch(tmp_path, 2, tiny_flags(data_dir, run_name="ddp", steps=4, loss="wgan-gp"))
    assert result.returncode == 0, result.stderr[-2000:]
    ranks = [load_file(str(tmp_path / "runs" / f"rank{r}.safetensors")) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    weights = [k for k in ranks[0] if not k.startswith("buffers.")]
    assert len(weights) > 10
    different = [k for k in weights if not torch.equal(ranks[0][k], ranks[1][k])]
    assert not different
    # batch-norm running statistics are each rank's own (DDP broadcasts rank 0's at the next
    # forward, and only rank 0's are saved): they must differ, or the ranks saw the same data
    assert any(not torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0] if k.endswith("running_mean"))
    # only rank 0 writes the run directory
    run = tmp_path / "runs" / "ddp"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines if "d_loss" in json.loads(x)] == [4]
    assert json.loads((run / "config.json").read_text())["batch_size"] == 8
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step-0000000", "step-0000004"]


def test_one_step_on_two_processes_matches_one_process(data_dir, tmp_path):
    # no batch norm anywhere: the global batch of 8 is split 4 + 4, gradients are averaged
    flags = tiny_flags(data_dir, steps=1, model="gan", arch={"hidden": 32, "depth": 2, "latent_dim": 16,
                                                             "g_norm": "none", "dropout": 0.0})
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = launch(tmp_path / "one", 1, {**flags, "run_name": "one"})
    two = launch(tmp_path / "two", 2, {**flags, "run_name": "two"})
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    a = load_file(str(tmp_path / "one" / "runs" / "rank0.safetensors"))
    b = load_file(str(tmp_path / "two" / "runs" / "rank0.safetensors"))
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst < 1e-5, worst
    changed = max(float((a[k].float() - load_file(str(tmp_path / "one" / "runs" / "one" / "checkpoints"
                                                       / "step-0000000" / "generator.safetensors"))[k[2:]]
                         .float()).abs().max()) for k in a if k.startswith("g."))
    assert changed > 1e-4  # the step did move the weights, so the comparison means something


def test_a_two_process_checkpoint_resumes_in_one_process(data_dir, tmp_path):
    result = launch(tmp_path, 2, tiny_flags(data_dir, run_name="r", steps=3))
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "runs" / "r"
    resumed = subprocess.run([sys.executable, "-m", "ganzoo", "train", "--resume", str(run), "--steps", "5",
                              "--quiet"], capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert ckpt.resolve_checkpoint(run).name == "step-0000005"


def test_a_failing_rank_stops_the_job_instead_of_hanging(data_dir, tmp_path):
    result = launch(tmp_path, 2, tiny_flags(data_dir, run_name="f", steps=50), fail_rank=1, timeout=200)
    assert result.returncode != 0
    assert "injected failure on rank 1" in result.stderr


def test_ganzoo_train_nproc_goes_through_torchrun(data_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "ganzoo", "train", "dcgan", "--nproc", "2", "--data-dir",
                             str(data_dir), "--steps", "2", "--batch-size", "8", *TINY_NET, "--out",
                             str(tmp_path / "runs"), "--run-name", "n", "--quiet"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "runs" / "n" / "checkpoints" / "step-0000002").is_dir()
    lines = [json.loads(x) for x in (tmp_path / "runs" / "n" / "metrics.jsonl").read_text().splitlines()]
    assert [r["world_size"] for r in lines if "d_loss" in r] == [2]


def test_batch_size_must_split_evenly_across_processes(data_dir, tmp_path):
    result = launch(tmp_path, 2, tiny_flags(data_dir, run_name="odd", batch_size=7))
    assert result.returncode != 0
    assert "batch_size 7 does not split evenly over 2 processes" in result.stderr
    assert not (tmp_path / "runs" / "odd").exists()


def test_strip_option_removes_both_spellings():
    assert strip_option(["train", "dcgan", "--nproc", "2", "--steps", "3"], "--nproc") == \
        ["train", "dcgan", "--steps", "3"]
    assert strip_option(["train", "--nproc=4", "dcgan"], "--nproc") == ["train", "dcgan"]


def test_bench_nproc_reports_scaling_against_one_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ganzoo", "bench", "gan", "--nproc", "2", "--device", "cpu",
                             "--steps", "3", "--warmup", "1", "--batch-size", "32", "--json"],
                            capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    [row] = json.loads(result.stdout)["results"]
    assert row["processes"] == 2 and row["one"]["processes"] == 1 and row["many"]["processes"] == 2
    assert row["many"]["batch_size"] == row["one"]["batch_size"] == 32  # the global batch
    assert row["speedup"] == pytest.approx(row["images_per_sec_2"] / row["images_per_sec_1"], abs=2e-3)
    assert row["efficiency"] == pytest.approx(row["speedup"] / 2, abs=2e-3) and row["efficiency"] > 0


def test_nproc_failure_is_one_line_per_rank_and_the_ranks_exit_code(data_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "ganzoo", "train", "dcgan", "--nproc", "2", "--data-dir",
                             str(data_dir), "--steps", "2", "--batch-size", "7", *TINY_NET, "--out",
                             str(tmp_path / "runs"), "--quiet"], capture_output=True, text=True, timeout=240)
    assert result.returncode == 2  # the workers' usage error, not the launcher's generic 1
    lines = result.stderr.strip().splitlines()
    assert sorted(line[:15] for line in lines) == ["error: [rank 0]", "error: [rank 1]"], result.stderr
    assert all("does not split evenly over 2 processes" in line for line in lines)
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


SLOW_EVALUATOR_WORKER = textwrap.dedent("""
    import json, sys, time
    import ganzoo.metrics.evaluate as evaluate_module
    from ganzoo.config import resolve_config
    from ganzoo.metrics.evaluate import Evaluator
    from ganzoo.plugins.manager import get_plugin_manager
    from ganzoo.training.progress import Reporter
    from ganzoo.training.run import train

    class SlowEvaluator(Evaluator):
        def __init__(self, *args, **kwargs):
            time.sleep(8)  # as long as training a feature extractor on first use, here 2x the timeout
            super().__init__(*args, **kwargs)

    evaluate_module.Evaluator = SlowEvaluator  # what the run imports when it builds its evaluator
    registry = get_plugin_manager().registry
    cfg = resolve_config(registry, "gan", dataset="toy-ring", flags={**json.loads(sys.argv[2]), "out": sys.argv[1]})
    train(cfg, registry, Reporter(enabled=False))
""")


def test_other_ranks_wait_for_rank_0_to_build_the_evaluator_past_the_collective_timeout(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(SLOW_EVALUATOR_WORKER)
    flags = {"steps": 4, "batch_size": 8, "device": "cpu", "eval_every": 2, "eval_samples": 200, "run_name": "ev",
             "arch": {"hidden": 16, "latent_dim": 4}}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_DIST_TIMEOUT": "4"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                             str(script), str(tmp_path / "runs"), json.dumps(flags)],
                            capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "runs" / "ev" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "eval" in r] == [2, 4]
