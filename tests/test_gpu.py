"""CUDA training (tests marked ``gpu``: skipped without a CUDA device; benchmarks/gpu.sh runs
them on a GPU machine) and a dry run of benchmarks/gpu.sh on the CPU."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganzoo.training import checkpoint as ckpt

from .conftest import assert_bitwise_equal, final_state
from .test_resume import tiny

REPO = Path(__file__).resolve().parent.parent

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def on_cuda(args: list[str]) -> list[str]:
    """tiny()'s flags (TINY's ``--device cpu``) on the GPU."""
    return ["cuda" if a == "cpu" else a for a in args]


@pytest.fixture
def deterministic_cuda(monkeypatch):
    """cuDNN restricted to deterministic kernels (ganzoo turns on cudnn.benchmark, which then
    chooses among those), so that two identical CUDA runs can be compared bit for bit."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)


@pytest.mark.gpu
@cuda_only
def test_dcgan_trains_on_cuda(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    result = cli("train", "dcgan", *on_cuda(tiny(data_dir, out, 4, "--run-name", "a")))
    assert result.exit_code == 0, result.output
    config = json.loads((out / "a" / "config.json").read_text())
    assert config["device"].startswith("cuda")
    weights = final_state(out / "a")[ckpt.module_file("generator")]
    assert weights and all(torch.isfinite(w).all() for w in weights.values())
    losses = [r for r in map(json.loads, (out / "a" / "metrics.jsonl").read_text().splitlines()) if "g_loss" in r]
    assert losses and all(math.isfinite(r["g_loss"]) and math.isfinite(r["d_loss"]) for r in losses)


@pytest.mark.gpu
@cuda_only
def test_resumed_cuda_run_equals_the_uninterrupted_one(cli, data_dir, tmp_path, deterministic_cuda):
    out = tmp_path / "runs"
    for name in ("full", "again"):
        result = cli("train", "dcgan", *on_cuda(tiny(data_dir, out, 4, "--run-name", name)))
        assert result.exit_code == 0, result.output
    # first: are two uninterrupted CUDA runs equal at all (else a difference is not resume's)?
    assert_bitwise_equal(final_state(out / "full"), final_state(out / "again"))
    assert cli("train", "dcgan", *on_cuda(tiny(data_dir, out, 2, "--run-name", "part"))).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), *on_cuda(tiny(data_dir, out, 4)))
    assert result.exit_code == 0, result.output
    assert_bitwise_equal(final_state(out / "full"), final_state(out / "part"))


@pytest.mark.gpu
@cuda_only
def test_bf16_autocast_trains_on_cuda(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    result = cli("train", "dcgan", *on_cuda(tiny(data_dir, out, 4, "--run-name", "bf16", "--precision", "bf16")))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "bf16" / "config.json").read_text())["precision"] == "bf16"
    weights = final_state(out / "bf16")[ckpt.module_file("generator")]
    assert all(w.dtype == torch.float32 for w in weights.values() if w.is_floating_point())  # fp32 master weights
    assert all(torch.isfinite(w).all() for w in weights.values())
    losses = [r for r in map(json.loads, (out / "bf16" / "metrics.jsonl").read_text().splitlines()) if "g_loss" in r]
    assert losses and all(math.isfinite(r["g_loss"]) for r in losses)


@pytest.mark.gpu
@cuda_only
def test_bench_on_cuda_reports_a_peak_fraction(cli):
    result = cli("bench", "dcgan", "--device", "cuda", "--steps", "2", "--warmup", "1", "--batch-size", "16",
                 "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)[0]
    assert row["device"].startswith("cuda") and row["memory_kind"] == "allocated (CUDA)"
    assert row["images_per_sec"] > 0 and row["flops_per_step"] > 0
    assert row["matmul_peak_flops_per_sec"] > 0 and 0 < row["peak_fraction"] < 2


# --- benchmarks/gpu.sh on the CPU --------------------------------------------------------------

@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_sh_dry_run_writes_every_row(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["meta"]["dry_run"] is True and report["meta"]["torch"] == torch.__version__
    assert report["meta"]["tests"]["exit_code"] == 0  # the gpu tests were collected
    assert report["matmul_peak"]["fp32"] > 0 and report["matmul_peak"]["bf16"] > 0
    rows = {r["name"]: r for r in report["rows"]}
    expected = ["classic", "classic-more-workers"] + [
        f"{family}-{setting}" for family in ("dcgan", "wgan-gp", "pix2pix")
        for setting in ("fp32", "bf16", "bf16-compile")] + ["dcgan-fp32-compile"]
    assert sorted(rows) == sorted(expected)
    for name, row in rows.items():
        assert "error" not in row, (name, row["error"])
        if name.endswith("compile"):
            assert "skipped" in row
            continue
        assert row["images_per_sec"] > 0, name
        assert row["setting"]["batch_size"] == 8
    for name in ("dcgan-fp32", "dcgan-bf16", "wgan-gp-fp32", "wgan-gp-bf16", "pix2pix-fp32", "pix2pix-bf16"):
        row = rows[name]
        assert row["flops_per_step"] > 0 and row["peak_fraction"] > 0 and row["fraction_of_bf16_peak"] > 0
        assert row["setting"]["image_size"] == 32
    assert rows["wgan-gp-fp32"]["setting"]["loss"] == "wgan-gp"
    assert rows["pix2pix-bf16"]["setting"]["dataset"] == "mnist-edges"
    for name in ("dcgan-fp32", "dcgan-bf16"):
        assert rows[name]["ratio_to_classic"] > 0
    best = max(("dcgan-fp32", "dcgan-bf16"), key=lambda n: rows[n]["images_per_sec"])
    assert set(rows[best]["targets"]) == {"3x_classic", "40pct_bf16_peak"}
    assert report["targets"]["row"] == best
    assert not list((REPO / "benchmarks" / "results").glob("gpu_cpu*"))  # a dry run writes no results
