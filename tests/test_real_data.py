"""Checks against the real MNIST files, when a copy is available (CI has one, read-only).

The folder comes from $GANZOO_TEST_DATA_DIR, else ../shared/data beside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ganzoo.datasets import load_mnist

REAL = Path(os.environ.get("GANZOO_TEST_DATA_DIR")
            or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_real_mnist = pytest.mark.skipif(not (REAL / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file(),
                                      reason=f"real MNIST not found in {REAL}")


@needs_real_mnist
def test_real_mnist_loads_with_the_published_statistics():
    train, test = load_mnist(REAL, "train"), load_mnist(REAL, "test")
    assert train.images.shape == (60000, 1, 28, 28) and len(test) == 10000
    assert torch.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842,
                                                     5421, 5918, 6265, 5851, 5949]
    assert round(train.images.float().mean().item() / 255, 4) == 0.1307
    assert train.labels[0].item() == 5 and test.labels[0].item() == 7


@needs_real_mnist
def test_a_short_run_on_real_mnist_writes_nothing_beside_the_data(cli, tmp_path):
    before = sorted(p.name for p in (REAL / "MNIST" / "raw").iterdir())
    result = cli("train", "dcgan", "--data-dir", str(REAL), "--steps", "5", "--batch-size", "32",
                 "--device", "cpu", "--run-name", "real")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "real" / "checkpoints" / "step-0000005").is_dir()
    assert sorted(p.name for p in (REAL / "MNIST" / "raw").iterdir()) == before
    assert sorted(p.name for p in (REAL / "MNIST").iterdir()) == ["raw"]
