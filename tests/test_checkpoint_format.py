"""Checkpoint format 3 (one file per module) and format 2 (a generator and a discriminator file), still read.

``tests/fixtures/format2-dcgan`` was written by ganzoo before the core carried named modules
(see its README): it must still sample, evaluate and resume.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import ganzoo
from ganzoo.errors import CheckpointError
from ganzoo.training import checkpoint as ckpt

from .test_golden import GOLDEN, machine_key

FIXTURE = Path(__file__).parent / "fixtures" / "format2-dcgan"
FIXTURE_MACHINE = "torch 2.14.1+cu130 | avx512-amx | 1 thread"
"""The golden key of the machine kind the fixture was written on (an AVX512 Xeon)."""
FLAGS = ["--batch-size", "8", "--image-size", "16", "--set", "arch.ngf=4", "--set", "arch.ndf=4",
         "--set", "arch.latent_dim=4", "--device", "cpu", "--quiet"]


def format2_run(tmp_path: Path) -> Path:
    """The fixture as a run directory of its own (checkpoints are read, never written in place)."""
    run = tmp_path / "runs" / "old"
    folder = run / "checkpoints" / "step-0000002"
    folder.mkdir(parents=True)
    for file in FIXTURE.glob("*.safetensors"):
        shutil.copy(file, folder / file.name)
    (run / "checkpoints" / "latest").write_text("step-0000002\n")
    return run


def test_the_fixture_is_format_2():
    with safe_open(str(FIXTURE / "train_state.safetensors"), "pt") as handle:
        meta = handle.metadata()
    assert meta["format_version"] == "2" and "modules" not in meta


def test_a_format_2_checkpoint_samples_with_its_generator_weights(tmp_path):
    from ganzoo_plugins.layers.dcgan import DCGANGenerator

    handle = ganzoo.load(format2_run(tmp_path))
    assert handle.step == 2 and handle.can_sample and not handle.can_translate
    samples = handle.sample(4, seed=0)
    reference = DCGANGenerator(4, 1, 16, 4)  # the same network, weights straight from the file
    reference.load_state_dict(load_file(str(FIXTURE / "generator.safetensors")))
    z = reference.sample_latent(4, generator=torch.Generator().manual_seed(0), device="cpu")
    with torch.no_grad():
        assert torch.equal(samples, reference.eval()(z))


def test_a_format_2_checkpoint_resumes(cli, data_dir, tmp_path):
    run = format2_run(tmp_path)
    result = cli("train", "--resume", str(run), "--steps", "4", "--data-dir", str(data_dir), *FLAGS)
    assert result.exit_code == 0, result.output
    folder = ckpt.resolve_checkpoint(run)
    assert folder.name == "step-0000004"
    with safe_open(str(folder / "train_state.safetensors"), "pt") as handle:
        meta = handle.metadata()
    assert meta["format_version"] == ckpt.FORMAT_VERSION
    assert json.loads(meta["modules"]) == {"generator": "generator.safetensors",
                                           "discriminator": "discriminator.safetensors"}
    entry = json.loads(GOLDEN.read_text()).get(machine_key(), {})
    if FIXTURE_MACHINE not in (machine_key(), entry.get("same_as")):
        pytest.skip("the fixture's numbers were recorded on another CPU kind; resumed, not compared")
    straight = cli("train", "dcgan", "--steps", "4", "--data-dir", str(data_dir), "--out", str(tmp_path / "runs"),
                   "--run-name", "new", *FLAGS)
    assert straight.exit_code == 0, straight.output
    new = ckpt.resolve_checkpoint(tmp_path / "runs" / "new")
    for file in ("generator.safetensors", "discriminator.safetensors"):
        a, b = load_file(str(folder / file)), load_file(str(new / file))
        assert all(torch.equal(a[k], b[k]) for k in a), file


def test_an_unreadable_format_is_refused_in_one_line(tmp_path):
    run = format2_run(tmp_path)
    file = run / "checkpoints" / "step-0000002" / "train_state.safetensors"
    raw = file.read_bytes().replace(b'"format_version":"2"', b'"format_version":"9"')
    file.write_bytes(raw)
    with pytest.raises(CheckpointError, match="checkpoint format '9'; this ganzoo reads formats 2, 3"):
        ganzoo.load(run)


def test_a_run_whose_every_checkpoint_misses_a_module_file_is_exit_5(cli, data_dir, tmp_path):
    """(One incomplete checkpoint among complete ones is skipped: tests/test_run_folder.py.)"""
    assert cli("train", "dcgan", "--steps", "2", "--data-dir", str(data_dir), "--out", str(tmp_path / "runs"),
               "--run-name", "r", *FLAGS).exit_code == 0
    folders = sorted((tmp_path / "runs" / "r" / "checkpoints").glob("step-*"))
    assert [f.name for f in folders] == ["step-0000000", "step-0000002"]
    for folder in folders:
        (folder / "discriminator.safetensors").unlink()
    result = cli("train", "--resume", str(tmp_path / "runs" / "r"), "--steps", "3", "--data-dir", str(data_dir))
    assert result.exit_code == 5, result.output
    assert "discriminator.safetensors" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("key", ["rng.latent", "g_optim.state.0.exp_avg", "data.order"])
def test_a_checkpoint_missing_a_key_is_a_one_line_exit_5(cli, data_dir, tmp_path, key):
    """A consistent file (its checksum recomputed) that lacks a tensor the run needs."""
    from safetensors.torch import save_file

    assert cli("train", "dcgan", "--steps", "2", "--data-dir", str(data_dir), "--out", str(tmp_path / "runs"),
               "--run-name", "r", *FLAGS).exit_code == 0
    file = ckpt.resolve_checkpoint(tmp_path / "runs" / "r") / ckpt.STATE_FILE
    tensors, meta = ckpt.load_checked(file)
    del tensors[key]
    meta = {**meta, "checksum": ckpt.checksum(tensors, meta)}
    save_file(tensors, str(file), meta)
    result = cli("train", "--resume", str(tmp_path / "runs" / "r"), "--steps", "3", "--data-dir", str(data_dir))
    assert result.exit_code == 5, result.output
    assert f"does not fit this run: missing '{key}'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
