"""A run is one folder that one process at a time owns: it reads and writes only inside it, a
second process is refused while the first lives, and a run stopped at any moment can go on
(from its newest complete checkpoint, or from step 0 when none is complete)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ganzoo.training import checkpoint as ckpt
from ganzoo.training.run import LOCK_FILE, run_lock

from .conftest import assert_bitwise_equal, final_state
from .test_resume import tiny


def _train(cli, data_dir: Path, out: Path, name: str, steps: int, *extra: str) -> Path:
    result = cli("train", "dcgan", *tiny(data_dir, out, steps, "--run-name", name, *extra))
    assert result.exit_code == 0, result.output
    return out / name


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# reads and writes inside its own folder ------------------------------------------------

@pytest.mark.parametrize("pointer", ["absolute", "relative", "link"])
def test_latest_pointing_out_of_the_run_is_refused_and_the_other_run_is_untouched(cli, data_dir, tmp_path,
                                                                                   pointer):
    out = tmp_path / "runs"
    mine = _train(cli, data_dir, out, "mine", 2)
    other = _train(cli, data_dir, out, "other", 2)
    elsewhere = ckpt.resolve_checkpoint(other)
    checkpoints = mine / ckpt.CHECKPOINTS_DIR
    if pointer == "absolute":
        (checkpoints / ckpt.LATEST).write_text(f"{elsewhere}\n")
    elif pointer == "relative":
        (checkpoints / ckpt.LATEST).write_text(f"../../other/checkpoints/{elsewhere.name}\n")
    else:
        (checkpoints / "step-0000009").symlink_to(elsewhere, target_is_directory=True)
        (checkpoints / ckpt.LATEST).write_text("step-0000009\n")
    before = _tree(other)
    result = cli("train", "--resume", str(mine), "--steps", "4", "--quiet")
    assert result.exit_code == 5, result.output
    assert "not a checkpoint folder of this run" in result.output and "Traceback" not in result.output
    assert _tree(other) == before


# one process at a time ---------------------------------------------------------------

def test_a_run_in_use_by_a_live_process_is_refused_in_one_line(cli, data_dir, tmp_path):
    run = _train(cli, data_dir, tmp_path / "runs", "r", 2)
    before = _tree(run / ckpt.CHECKPOINTS_DIR)
    with run_lock(run):  # another process training it (flock: a second open file conflicts even here)
        result = cli("train", "--resume", str(run), "--steps", "4", "--quiet")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is in use by process" in lines[0], lines
    assert _tree(run / ckpt.CHECKPOINTS_DIR) == before
    assert sum('"resumed"' in line for line in (run / "metrics.jsonl").read_text().splitlines()) == 0


def test_a_lock_left_by_a_dead_process_does_not_block(cli, data_dir, tmp_path):
    run = _train(cli, data_dir, tmp_path / "runs", "r", 2)
    (run / LOCK_FILE).write_text("process 999999\n")  # its writer died: the kernel holds no lock for it
    result = cli("train", "--resume", str(run), "--steps", "4", "--quiet")
    assert result.exit_code == 0, result.output
    assert ckpt.resolve_checkpoint(run).name == "step-0000004"


# stopped before the first checkpoint was complete ---------------------------------------

def test_a_run_killed_before_its_first_checkpoint_starts_again_from_step_0(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    whole = _train(cli, data_dir, out, "whole", 3)
    killed = _train(cli, data_dir, out, "killed", 3)
    # what a SIGKILL during the first checkpoint's write leaves: config.json, some metric lines,
    # a half-written temporary folder and no checkpoint
    checkpoints = killed / ckpt.CHECKPOINTS_DIR
    shutil.rmtree(checkpoints)
    orphan = checkpoints / ".tmp-step-0000003-4242"
    orphan.mkdir(parents=True)
    (orphan / "generator.safetensors").write_bytes(b"half")

    again = cli("train", "dcgan", *tiny(data_dir, out, 3, "--run-name", "killed"))
    assert again.exit_code == 2 and f"ganzoo train --resume {killed}" in again.output, again.output

    result = cli("train", "--resume", str(killed), "--steps", "3")
    assert result.exit_code == 0, result.output
    assert "no earlier checkpoint is complete; the run starts again from step 0" in result.output
    assert not orphan.exists()
    assert_bitwise_equal(final_state(whole), final_state(killed))


# a checkpoint that lacks files ---------------------------------------------------------

def test_a_checkpoint_missing_its_train_state_falls_back_to_the_newest_complete_one(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    every_2 = ("--set", "checkpoint_every=2")
    whole = _train(cli, data_dir, out, "whole", 6, *every_2)
    run = _train(cli, data_dir, out, "r", 4, *every_2)
    newest = run / ckpt.CHECKPOINTS_DIR / "step-0000004"
    (newest / ckpt.STATE_FILE).unlink()

    # the trained model is still whole: sampling, evaluation and export use step 4's generator
    assert ckpt.resolve_checkpoint(run) == newest
    sampled = cli("sample", str(run), "-n", "4", "--out", str(tmp_path / "g.png"))
    assert sampled.exit_code == 0 and (tmp_path / "g.png").is_file(), sampled.output
    exported = cli("export", str(run), "--format", "torchscript", "--out", str(tmp_path / "g.pt"))
    assert exported.exit_code == 0 and (tmp_path / "g.pt").is_file(), exported.output

    # a resume cannot continue from step 4: it says so and goes on from step 2, exactly
    result = cli("train", "--resume", str(run), *[a for a in tiny(data_dir, out, 6) if a != "--quiet"])
    assert result.exit_code == 0, result.output
    assert ("step-0000004 lacks train_state.safetensors; using step-0000002, the newest complete checkpoint"
            in result.output)
    assert_bitwise_equal(final_state(whole), final_state(run))


def test_a_checkpoint_whose_generator_is_gone_is_not_used_for_sampling(cli, data_dir, tmp_path):
    run = _train(cli, data_dir, tmp_path / "runs", "r", 4, "--set", "checkpoint_every=2")
    (run / ckpt.CHECKPOINTS_DIR / "step-0000004" / ckpt.module_file("generator")).unlink()
    assert ckpt.resolve_checkpoint(run).name == "step-0000002"
    result = cli("sample", str(run), "-n", "4", "--out", str(tmp_path / "g.png"))
    assert result.exit_code == 0 and (tmp_path / "g.png").is_file(), result.output
