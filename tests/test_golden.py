"""The alternating step reproduces the numbers of the single-pair core bit for bit.

``tests/fixtures/alternating_golden.json`` holds, for several small runs (DCGAN with bce,
hinge at n_critic=2, WGAN with clipping, WGAN-GP, cGAN, AC-GAN, SNGAN, the MLP GAN on
points), a sha256 of every tensor of every file of the 5-step checkpoint. They were
recorded with the core as it was before networks became a named set (commit 3fedbdb),
so this test proves the redesign changed no number on the classic path.

Float results depend on the CPU's kernels, so an entry is keyed by the torch version and
the machine kind (``ganzoo.training.hardware.machine_kind``); on a machine kind without an entry the
test is skipped and says so. The avx512-amx entry was recorded on a Sapphire Rapids Xeon at
3fedbdb; the avx512-bf16-intel one at 3fedbdb too (a worktree of that commit, on a Xeon with
AMX hidden), and its numbers are identical, so it says ``same_as`` the AMX entry. The avx2
entry was recorded at f315e69 on an AVX2-only AMD EPYC, before the core was regrouped into
the plugin layer, training and outputs, so that regrouping is held to these numbers too.
Record one (only with code known to be right) with::

    GANZOO_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganzoo.training import checkpoint as ckpt

GOLDEN = Path(__file__).parent / "fixtures" / "alternating_golden.json"
TINY = ["--steps", "5", "--batch-size", "8", "--device", "cpu", "--quiet"]
RUNS = {
    "dcgan-bce": ["dcgan", "--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.latent_dim=16"],
    "dcgan-hinge-ncritic2": ["dcgan", "--loss", "hinge", "--set", "n_critic=2", "--set", "arch.ngf=8",
                             "--set", "arch.ndf=8", "--set", "arch.latent_dim=16"],
    "wgan-clip": ["wgan", "--loss", "wgan", "--set", "arch.ngf=8", "--set", "arch.ndf=8",
                  "--set", "arch.latent_dim=16"],
    "wgan-gp": ["wgan", "--loss", "wgan-gp", "--set", "arch.ngf=8", "--set", "arch.ndf=8",
                "--set", "arch.latent_dim=16"],
    "cgan-r1": ["cgan", "--set", "r1=1.0", "--set", "arch.ngf=8", "--set", "arch.ndf=8",
                "--set", "arch.latent_dim=16"],
    "acgan": ["acgan", "--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.latent_dim=16"],
    "sngan": ["sngan", "--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.latent_dim=16"],
    # the classic path without the point-data recipe (pack, EMA, R1) of gan's kind_defaults
    "gan-points": ["gan", "--dataset", "toy-ring", "--set", "arch.hidden=16", "--set", "arch.latent_dim=4",
                   "--set", "pack=1", "--set", "ema=null", "--set", "r1=0"],
}


def machine_key() -> str:
    from ganzoo.training.hardware import machine_kind

    return f"torch {torch.__version__} | {machine_kind()} | 1 thread"


def tensor_digest(tensor: torch.Tensor) -> str:
    tensor = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{tensor.dtype}|{tuple(tensor.shape)}|".encode())
    digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:24]


def checkpoint_digests(folder: Path) -> dict[str, dict[str, str]]:
    return {file.name: {name: tensor_digest(t) for name, t in sorted(load_file(str(file)).items())}
            for file in sorted(folder.glob("*.safetensors"))}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_alternating_step_reproduces_the_recorded_checkpoints(cli, data_dir, tmp_path, one_thread):
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    record = os.environ.get("GANZOO_RECORD_GOLDEN") == "1"
    key = machine_key()
    if key not in golden and not record:
        pytest.skip(f"no golden checksums for this machine kind ({key}); recorded for: {sorted(golden)}")
    found = {}
    for name, args in RUNS.items():
        result = cli("train", *args, *TINY, "--data-dir", str(data_dir), "--out", str(tmp_path / "runs"),
                     "--run-name", name)
        assert result.exit_code == 0, f"{name}: {result.output}"
        found[name] = checkpoint_digests(ckpt.resolve_checkpoint(tmp_path / "runs" / name))
    if record:
        # a machine kind whose numbers equal another's names it instead of repeating them
        same = next((k for k, entry in golden.items() if k != key and entry.get("runs") == found), None)
        golden[key] = ({"recorded_at_commit": _commit(), "same_as": same} if same
                       else {"recorded_at_commit": _commit(), "runs": found})
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    entry = golden[key]
    expected = golden[entry["same_as"]]["runs"] if "same_as" in entry else entry["runs"]
    for name, files in expected.items():
        for file, tensors in files.items():
            assert file in found[name], f"{name}: {file} is missing"
            different = [t for t, digest in tensors.items() if found[name][file].get(t) != digest]
            assert not different, f"{name}/{file}: these tensors changed: {different[:8]}"
