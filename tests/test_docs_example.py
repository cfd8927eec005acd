"""The multi-network example of docs/plugins.md, run exactly as written: the two code blocks
become a package; the conformance kit passes on it; it trains from the CLI, resumes and
translates."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo.testing import check_plugin

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
FILES = ("ganzoo_denoise/nets.py", "ganzoo_denoise/__init__.py")


def doc_blocks() -> dict[str, str]:
    """The python code blocks of the guide whose first line names one of FILES."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    found = {}
    for block in blocks:
        first = block.splitlines()[0].strip()
        for file in FILES:
            if first == f"# {file}":
                found[file] = block
    return found


@pytest.fixture
def denoise(manager, tmp_path, monkeypatch):
    blocks = doc_blocks()
    assert set(blocks) == set(FILES), f"docs/plugins.md lost a block of the example: {set(FILES) - set(blocks)}"
    root = tmp_path / "pkg"
    for file, code in blocks.items():
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        (root / file).write_text(code, encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m.startswith("ganzoo_denoise")]:
        del sys.modules[name]
    module = importlib.import_module("ganzoo_denoise")
    manager.register(module, name="denoise")
    yield manager
    for name in [m for m in sys.modules if m.startswith("ganzoo_denoise")]:
        del sys.modules[name]


def test_the_guides_example_passes_the_conformance_kit(denoise):
    report = check_plugin("denoise", manager=denoise)
    assert report.ok, str(report)
    checks = {r.check for r in report.results if r.status == "pass"}
    assert {"resume", "reload", "train[bce]", "train[wgan]", "step class"} <= checks


def test_the_guides_example_trains_from_the_cli_and_translates(denoise, cli, data_dir, tmp_path):
    result = cli("train", "denoiser", "--data-dir", str(data_dir), "--steps", "4", "--batch-size", "8",
                 "--set", "arch.width=8", "--set", "algo.ema_decay=0.5", "--device", "cpu", "--run-name", "dn")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "dn"
    assert sorted(p.name for p in (run / "checkpoints" / "step-0000004").glob("*.safetensors")) == [
        "critic.safetensors", "denoiser.safetensors", "ema.safetensors", "train_state.safetensors"]
    handle = ganzoo.load(run)
    assert list(handle.modules) == ["ema"] and handle.task == "translate"
    assert handle.translate(torch.zeros(3, 1, 28, 28, dtype=torch.uint8)).shape == (3, 1, 28, 28)
    sampled = cli("sample", str(run), "-n", "8", "--out", str(tmp_path / "d.png"), "--data-dir", str(data_dir))
    assert sampled.exit_code == 0 and "8 translations by ema" in sampled.stderr
    refused = cli("train", "denoiser", "--loss", "wgan-gp", "--data-dir", str(data_dir), "--steps", "1")
    assert refused.exit_code == 2 and "does not train with loss 'wgan-gp'" in refused.stderr
