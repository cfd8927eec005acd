"""Bad paths, a full disk and an interrupted download: one ``error:`` line, a
documented exit code, no traceback, and no half-written files.

The generated (hypothesis) cases are in test_fuzz.py.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from urllib.error import URLError

import pytest

from ganzoo.errors import EXIT_CHECKPOINT, EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE

from .conftest import TINY

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
needs_permissions = pytest.mark.skipif(ROOT, reason="root ignores file permissions")


def one_error_line(result) -> str:
    """The single stderr line (an ``error:`` line), after checking there is nothing else."""
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "internal error" not in lines[0], lines[0]
    return lines[0]


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def leftovers(root: Path) -> list[str]:
    """Temporary files and folders of interrupted writes (``.tmp-``) anywhere under ``root``."""
    return [p for p in tree(root) if ".tmp-" in Path(p).name or Path(p).name.startswith(".tmp")]


# --------------------------------------------------------------------------- paths

def test_missing_data_dir(cli, tmp_path):
    result = cli("train", "dcgan", "--data-dir", str(tmp_path / "nowhere"), *TINY)
    assert result.exit_code == EXIT_USAGE
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in one_error_line(result)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "nowhere").exists()


def test_data_dir_that_is_a_file(cli, tmp_path):
    blocker = tmp_path / "data.txt"
    blocker.write_text("not a folder")
    result = cli("train", "dcgan", "--data-dir", str(blocker), *TINY)
    assert result.exit_code == EXIT_USAGE
    assert f"data folder {blocker} is not a folder" in one_error_line(result)
    assert tree(tmp_path) == ["data.txt"]


def test_data_dir_file_is_refused_even_when_online(cli, tmp_path, monkeypatch):
    """Without GANZOO_OFFLINE the loader would try to download into it; it says what is wrong."""
    monkeypatch.delenv("GANZOO_OFFLINE")
    blocker = tmp_path / "data.txt"
    blocker.write_text("not a folder")
    for dataset in ("mnist", "fashion-mnist", "cifar10"):
        result = cli("train", "dcgan", "--dataset", dataset, "--data-dir", str(blocker), *TINY,
                     "--image-size", "32")
        assert result.exit_code == EXIT_USAGE, result.output
        assert "is not a folder" in one_error_line(result)
    assert tree(tmp_path) == ["data.txt"]


def test_out_under_a_file(cli, data_dir, tmp_path):
    (tmp_path / "blocker").write_text("")
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--out", str(tmp_path / "blocker" / "runs"))
    assert result.exit_code == EXIT_USAGE
    assert "cannot create run directory" in one_error_line(result)
    assert (tmp_path / "blocker").read_text() == ""


@needs_permissions
def test_unwritable_out(cli, data_dir, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--out", str(locked / "runs"))
        assert result.exit_code == EXIT_USAGE
        assert "cannot create run directory" in one_error_line(result)
        assert tree(locked) == []
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("name, content, message", [
    ("missing.toml", None, "config file not found"),
    ("folder.json", "DIR", "is a folder, not a file"),
    ("bad.json", b'{"steps": 3,', "cannot parse config file"),
    ("bad.toml", b"steps = = 3", "cannot parse config file"),
    ("binary.toml", b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "cannot parse config file"),
    ("binary.json", b"\xff\xfe\x00\x01", "cannot parse config file"),
    ("huge.json", b'{"steps": ' + b"9" * 5000 + b"}", "cannot parse config file"),
    ("deep.json", b"[" * 100000 + b"]" * 100000, "cannot parse config file"),
    ("deep.toml", b"a = " + b"[" * 100000 + b"]" * 100000, "cannot parse config file"),
    ("list.json", b"[1, 2]", "must hold a table/object"),
    ("run.yaml", b"steps: 3", "must end in .json or .toml"),
    ("inf.json", b'{"steps": 3, "epochs": Infinity}', "invalid config value for 'epochs': must be a finite"),
    ("nan.toml", b"gp = nan", "invalid config value for 'gp'"),
])
def test_bad_config_files(cli, data_dir, tmp_path, name, content, message):
    path = tmp_path / "configs" / name
    path.parent.mkdir()
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--config", str(path))
    assert result.exit_code == EXIT_USAGE
    assert message in one_error_line(result)
    assert not (tmp_path / "runs").exists()


@needs_permissions
def test_unreadable_config_file(cli, data_dir, tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text("steps = 3\n")
    path.chmod(0o000)
    try:
        result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--config", str(path))
        assert result.exit_code == EXIT_USAGE
        assert "cannot read config file" in one_error_line(result)
    finally:
        path.chmod(0o600)


def test_huge_and_deep_set_values_are_read_as_text(cli, data_dir, tmp_path):
    for value, key in (("9" * 5000, "steps"), ("[" * 5000 + "]" * 5000, "arch.ngf")):
        result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--set", f"{key}={value}")
        assert result.exit_code == EXIT_USAGE
        line = one_error_line(result)
        assert f"invalid config value for '{key}'" in line and len(line) < 300
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("sets, message", [
    (["epochs=1e300"], "invalid config value for 'epochs': must be at most 1,000,000"),
    (["g_optim.lr=Infinity"], "invalid config value for 'g_optim.lr': must be a finite number"),
    (["seed=18446744073709551616"], "invalid config value for 'seed': must be at most 2**63 - 1"),
    (["image_size=1000000"], "invalid config value for 'image_size': must be at most 4096"),
    (['run_name="a\\u0000b"'], "invalid config value for 'run_name': must be a plain folder name"),
    (['out="runs\\u0000x"'], "invalid config value for 'out'"),
    (['out="\\udcff"'], "invalid config value for 'out': must be valid UTF-8 text"),
    (["device=cuda:99999999999999999999"], "invalid config value for 'device'"),
    (['device="cpu\\n"'], "invalid config value for 'device'"),
])
def test_out_of_range_values_are_refused_before_anything_runs(cli, data_dir, tmp_path, sets, message):
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, *[f"--set={s}" for s in sets])
    assert result.exit_code == EXIT_USAGE
    assert message in one_error_line(result)
    assert not (tmp_path / "runs").exists()


@pytest.fixture
def run(cli, data_dir, tmp_path) -> Path:
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "r",
                 "--set", "checkpoint_every=1")
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "r"


def test_sample_into_a_missing_folder(cli, run, tmp_path):
    result = cli("sample", str(run), "--out", str(tmp_path / "no" / "such" / "grid.png"))
    assert result.exit_code == EXIT_USAGE
    assert "does not exist" in one_error_line(result)
    assert not (tmp_path / "no").exists()


def test_eval_on_paths_that_are_no_run(cli, run, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "picture.png").write_bytes(b"\x89PNG")
    for path in (tmp_path / "missing", tmp_path / "empty", tmp_path / "picture.png", tmp_path / "runs",
                 run / "samples"):
        before = tree(tmp_path)
        result = cli("eval", str(path), "--metrics", "fid", "-n", "16")
        assert result.exit_code == EXIT_CHECKPOINT, (path, result.output)
        one_error_line(result)
        assert tree(tmp_path) == before


def test_eval_checks_options_before_loading_anything(cli, tmp_path):
    """Options that need no checkpoint are refused first, even for a run that is not there."""
    for args, message in ((["-n", "1"], "-n must be at least 2"),
                          (["--seed", str(2**64)], "--seed must be in 0..2**63-1"),
                          (["--seed", "-1"], "--seed must be in 0..2**63-1"),
                          (["--device", "tpu"], "--device must be"),
                          (["--metrics", "fid,nope"], "unknown metric 'nope'"),
                          (["--extractor", "nope"], "unknown extractor 'nope'")):
        result = cli("eval", str(tmp_path / "missing"), *args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert message in one_error_line(result)


# --------------------------------------------------------------------------- a full disk

def _disk_full(path=None) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(path)] if path else []))


def test_full_disk_while_writing_a_checkpoint(cli, data_dir, tmp_path, monkeypatch):
    """The second checkpoint's first file fills the disk: the first checkpoint stays the
    latest, complete one, and no temporary folder is left."""
    from ganzoo.training import checkpoint as ckpt

    calls = {"n": 0}
    real_save_file = ckpt.save_file

    def full_disk_save_file(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] == 4:  # 3 files a checkpoint: the 2nd checkpoint's first file
            Path(filename).write_bytes(b"\x00" * 100)  # half-written
            raise _disk_full(filename)
        return real_save_file(tensors, filename, metadata)

    monkeypatch.setattr(ckpt, "save_file", full_disk_save_file)
    result = cli("train", "dcgan", "-q", "--data-dir", str(data_dir), *TINY, "--run-name", "full",
                 "--set", "checkpoint_every=1")
    assert result.exit_code == EXIT_RUNTIME
    assert "No space left on device" in one_error_line(result)
    assert result.stdout == ""
    run = tmp_path / "runs" / "full"
    assert leftovers(run) == []
    latest = (run / "checkpoints" / "latest").read_text().strip()
    assert [p.name for p in (run / "checkpoints").iterdir() if p.is_dir()] == [latest]
    assert sorted(p.name for p in (run / "checkpoints" / latest).iterdir()) == [
        "discriminator.safetensors", "generator.safetensors", "train_state.safetensors"]
    import ganzoo

    assert ganzoo.load(run).step == int(latest.split("-")[1])  # what latest names is complete
    for line in (run / "metrics.jsonl").read_text().splitlines():
        json.loads(line)


def test_full_disk_while_writing_a_sample_grid_during_training(cli, data_dir, tmp_path, monkeypatch):
    from ganzoo.kinds import image as previews

    def full_disk_save_image(tensor, fp, **kwargs):
        Path(fp).write_bytes(b"\x89PNG\r\n")  # half-written
        raise _disk_full(fp)

    monkeypatch.setattr(previews, "save_image", full_disk_save_image)
    result = cli("train", "dcgan", "-q", "--data-dir", str(data_dir), *TINY, "--run-name", "grid")
    assert result.exit_code == EXIT_RUNTIME
    assert "No space left on device" in one_error_line(result)
    assert result.stdout == ""
    run = tmp_path / "runs" / "grid"
    assert leftovers(run) == [] and list((run / "samples").iterdir()) == []


def test_full_disk_while_sampling(cli, run, tmp_path, monkeypatch):
    import numpy as np

    from ganzoo.kinds import image as previews

    def full_disk_save_image(tensor, fp, **kwargs):
        Path(fp).write_bytes(b"\x89PNG\r\n")
        raise _disk_full(fp)

    def full_disk_savez(file, **arrays):
        file.write(b"PK\x03\x04")  # half-written, into the file object it is given
        raise _disk_full(file.name)

    monkeypatch.setattr(previews, "save_image", full_disk_save_image)
    monkeypatch.setattr(np, "savez", full_disk_savez)
    out = tmp_path / "out"
    out.mkdir()
    for args in (["--out", str(out / "grid.png")], ["--format", "npz", "--out", str(out / "s.npz")],
                 ["--interpolate", "4", "--out", str(out / "walk.png")]):
        result = cli("sample", str(run), *args)
        assert result.exit_code == EXIT_RUNTIME, result.output
        assert "No space left on device" in one_error_line(result)
        assert result.stdout == "" and tree(out) == []


def test_real_full_device_during_sampling(cli, run, tmp_path):
    """/dev/full: the real ENOSPC from the real PNG writer."""
    if not Path("/dev/full").is_char_device():
        pytest.skip("no /dev/full")
    link_dir = tmp_path / "full"
    link_dir.mkdir()
    target = link_dir / "grid.png"
    import ganzoo.kinds.image as previews

    real = previews.save_image

    def to_dev_full(tensor, fp, **kwargs):  # the temporary file is /dev/full
        os.symlink("/dev/full", fp)
        return real(tensor, fp, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(previews, "save_image", to_dev_full)
        result = cli("sample", str(run), "--out", str(target))
    assert Path("/dev/full").is_char_device()  # written through, never replaced
    assert result.exit_code == EXIT_RUNTIME, result.output
    assert "No space left on device" in one_error_line(result)
    assert tree(link_dir) == []


def test_full_disk_in_safetensors_while_checkpointing(cli, data_dir, tmp_path, monkeypatch):
    """safetensors writes through its own temporary file and, on a full disk, raises exactly this
    (checked with RLIMIT_FSIZE: 'I/O error: File too large (os error 27)')."""
    from safetensors import SafetensorError

    from ganzoo.training import checkpoint as ckpt

    def full_disk_save_file(tensors, filename, metadata=None):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(ckpt, "save_file", full_disk_save_file)
    result = cli("train", "dcgan", "-q", "--data-dir", str(data_dir), *TINY, "--run-name", "f")
    assert result.exit_code == EXIT_RUNTIME
    assert "No space left on device" in one_error_line(result)
    assert leftovers(tmp_path / "runs" / "f") == []


def _fail_fsync_of(name_part: str, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if name_part in os.readlink(f"/proc/self/fd/{fd}"):
            raise _disk_full()
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_full_disk_while_moving_latest_leaves_no_temporary_file(cli, data_dir, tmp_path, monkeypatch):
    _fail_fsync_of(".latest.tmp-", monkeypatch)
    result = cli("train", "dcgan", "-q", "--data-dir", str(data_dir), *TINY, "--run-name", "l")
    assert result.exit_code == EXIT_RUNTIME
    one_error_line(result)
    assert leftovers(tmp_path / "runs" / "l") == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_full_disk_while_writing_config_json_leaves_no_run_directory(cli, data_dir, tmp_path, monkeypatch):
    _fail_fsync_of(".config.json.tmp-", monkeypatch)
    result = cli("train", "dcgan", "-q", "--data-dir", str(data_dir), *TINY, "--run-name", "c")
    assert result.exit_code == EXIT_RUNTIME
    one_error_line(result)
    assert not (tmp_path / "runs" / "c").exists()


# --------------------------------------------------------------------------- an interrupted download

class FakeDownload:
    """Stands in for torchvision's download_and_extract_archive: writes part of the file, then
    fails as told. ``complete`` calls succeed first (writing the file and its extracted copy)."""

    def __init__(self, error: BaseException, complete: int = 0):
        self.error, self.complete, self.calls = error, complete, 0

    def __call__(self, url, download_root, extract_root=None, filename=None, md5=None, **kwargs):
        self.calls += 1
        root = Path(download_root)
        root.mkdir(parents=True, exist_ok=True)
        name = filename or url.rsplit("/", 1)[-1]
        if self.calls <= self.complete:
            (root / name).write_bytes(b"\x1f\x8b complete archive")
            (root / name.removesuffix(".gz")).write_bytes(b"extracted")
            return
        (root / name).write_bytes(b"\x1f\x8b partial")
        raise self.error


@pytest.mark.parametrize("error, complete, code", [
    (URLError("connection reset by peer"), 0, EXIT_USAGE),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), 2, EXIT_USAGE),
    (RuntimeError("File not found or corrupted."), 1, EXIT_USAGE),
    (_disk_full(), 1, EXIT_USAGE),
    (KeyboardInterrupt(), 2, EXIT_INTERRUPTED),
], ids=["network-down", "reset-after-two-files", "corrupt", "disk-full", "ctrl-c"])
def test_interrupted_mnist_download_leaves_nothing(cli, tmp_path, monkeypatch, error, complete, code):
    import torchvision.datasets.mnist as tv_mnist

    monkeypatch.delenv("GANZOO_OFFLINE")
    fake = FakeDownload(error, complete)
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fake)
    data = tmp_path / "data"
    (data / "MNIST").mkdir(parents=True)
    (data / "keep.txt").write_text("mine")
    result = cli("train", "dcgan", "--data-dir", str(data), *TINY)
    assert fake.calls > complete
    assert result.exit_code == code, result.output
    line = one_error_line(result)
    assert ("interrupted" if code == EXIT_INTERRUPTED else "could not be downloaded") in line
    assert tree(data) == ["MNIST", "keep.txt"]  # what was there stays; nothing new does
    assert not (tmp_path / "runs").exists()


def test_interrupted_download_into_a_new_folder_removes_it(cli, tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    monkeypatch.delenv("GANZOO_OFFLINE")
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", FakeDownload(KeyboardInterrupt(), 1))
    result = cli("train", "dcgan", "--data-dir", str(tmp_path / "new" / "data"), *TINY)
    assert result.exit_code == EXIT_INTERRUPTED
    one_error_line(result)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("error, code", [(OSError(errno.ECONNRESET, "Connection reset by peer"), EXIT_USAGE),
                                         (KeyboardInterrupt(), EXIT_INTERRUPTED)])
def test_interrupted_cifar_download_leaves_nothing(cli, tmp_path, monkeypatch, error, code):
    import torchvision.datasets.cifar as tv_cifar

    def fake(url, download_root, extract_root=None, filename=None, md5=None, **kwargs):
        root = Path(download_root)
        (root / filename).write_bytes(b"\x1f\x8b partial archive")
        (root / "cifar-10-batches-py").mkdir(exist_ok=True)
        (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"partial")
        raise error

    monkeypatch.delenv("GANZOO_OFFLINE")
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", fake)
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.txt").write_text("mine")
    result = cli("train", "dcgan", "--dataset", "cifar10", "--data-dir", str(data), *TINY, "--image-size", "32")
    assert result.exit_code == code, result.output
    one_error_line(result)
    assert tree(data) == ["keep.txt"]


# --------------------------------------------------------------------------- real processes

def test_real_process_one_line_and_debug_traceback(data_dir, tmp_path):
    """``python -m ganzoo``: the real stderr is one line; GANZOO_DEBUG=1 shows the traceback."""
    env = {**os.environ, "GANZOO_DISABLE_PLUGINS": ""}
    args = [sys.executable, "-m", "ganzoo", "train", "dcgan", "--data-dir", str(data_dir), *TINY,
            "--set", "batch_size=0"]
    plain = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == EXIT_USAGE
    assert plain.stderr == "error: invalid config value for 'batch_size': Input should be greater than 0 (got 0)\n"
    assert plain.stdout == ""
    debug = subprocess.run([sys.executable, "-m", "ganzoo", "info", "nosuchthing"], capture_output=True,
                           text=True, env={**env, "GANZOO_DEBUG": "1"}, timeout=300)
    assert debug.returncode == EXIT_RUNTIME
    assert "Traceback" in debug.stderr and "UnknownComponentError" in debug.stderr
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- bugs in other files

def test_sample_with_a_junk_device(cli, run):
    result = cli("sample", str(run), "--device", "tpu", "--out", "g.png")
    assert result.exit_code == EXIT_USAGE
    one_error_line(result)


def test_sample_with_a_huge_seed(cli, run):
    result = cli("sample", str(run), "--seed", str(2**64), "--out", "g.png")
    assert result.exit_code == EXIT_USAGE
    one_error_line(result)


def test_line_breaks_in_user_text_never_split_the_error(cli, tmp_path):
    result = cli("train", "dcgan", "--no-such\u2028option")
    assert result.exit_code == EXIT_USAGE
    one_error_line(result)


def test_run_path_with_a_too_long_name(cli, tmp_path):
    result = cli("eval", str(tmp_path / ("x" * 300)))
    assert result.exit_code == EXIT_CHECKPOINT
    one_error_line(result)


def test_sample_out_with_a_too_long_name(cli, run, tmp_path):
    result = cli("sample", str(run), "--out", str(tmp_path / ("x" * 300) / "g.png"))
    assert result.exit_code == EXIT_USAGE
    one_error_line(result)


def test_too_long_names_are_refused_before_anything_runs(cli, data_dir, run, tmp_path):
    long = "x" * 300
    for args, message in ((["--run-name", long], "invalid config value for 'run_name'"),
                          (["--out", str(tmp_path / long)], "invalid config value for 'out'"),
                          (["--config", str(tmp_path / (long + ".toml"))], "cannot read config file"),
                          (["--data-dir", str(tmp_path / long)], "invalid config value for 'data_dir'")):
        result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, *args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert message in one_error_line(result)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["r"]  # only the fixture's run
    result = cli("eval", str(run), "--data-dir", str(tmp_path / long))
    assert result.exit_code == EXIT_USAGE
    assert "cannot use data folder" in one_error_line(result)


# --------------------------------------------------------------------------- what a hostile user tried

def _write_pngs(folder: Path, n: int = 4) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i}.png" for i in range(n)]
    for i, path in enumerate(paths):
        Image.new("L", (8, 8), color=40 * i).save(path)
    return paths


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


@needs_fifo
def test_folder_readers_list_only_regular_files(tmp_path):
    """Probe 5a: a FIFO named *.png is not an image; opening it would block for ever."""
    from ganzoo.datasets.folders import find_files, find_images

    images = _write_pngs(tmp_path / "images" / "a")
    os.mkfifo(tmp_path / "images" / "a" / "trap.png")
    os.mkfifo(tmp_path / "images" / "trap.wav")
    os.symlink(tmp_path / "images" / "a" / "trap.png", tmp_path / "images" / "link.png")
    assert find_images(tmp_path / "images") == images
    assert find_files(tmp_path / "images", (".wav",)) == []


class Hung(Exception):
    """Raised by :func:`deadline` (not an OSError, so no command mistakes it for a disk problem)."""


@contextlib.contextmanager
def deadline(seconds: int = 60):
    """Fail with :class:`Hung` instead of blocking the test run for ever: past ``seconds``,
    SIGALRM comes every second, interrupting each blocking open or read in turn."""
    def expire(signum, frame):
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@needs_fifo
def test_image_folders_with_a_fifo_are_read_without_blocking(cli, run, tmp_path):
    """Probe 5a through the commands that read folders of images: training on an image folder,
    `ganzoo sample --input DIR` and `ganzoo report` (the run's sample images)."""
    folder = tmp_path / "images"
    _write_pngs(folder, 8)
    os.mkfifo(folder / "trap.png")
    os.mkfifo(run / "samples" / "step-0000099.png")
    with deadline():
        trained = cli("train", "dcgan", "--dataset", "image-folder", "--data-dir", str(folder), "--image-size", "16",
                      *TINY, "--steps", "1", "-q", "--run-name", "folder")
        sampled = cli("sample", str(run), "--input", str(folder), "--out", str(tmp_path / "g.png"))
        reported = cli("report", str(run))
    assert trained.exit_code == 0, trained.output
    assert sampled.exit_code == EXIT_USAGE and "takes no input images" in one_error_line(sampled)  # read, then refused
    assert reported.exit_code == 0, reported.output


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_an_unusable_cache_folder_is_refused_before_the_extractor_is_trained(cli, run, tmp_path, monkeypatch,
                                                                              where):
    """Probe 5b: the extractor trained for minutes, then could not be cached."""
    blocker = tmp_path / "cache.txt"
    blocker.write_text("not a folder")
    cache = blocker if where == "file" else blocker / "ganzoo"
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(cache))
    from ganzoo.metrics import extractors

    def no_training(*args, **kwargs):
        raise AssertionError("the extractor is trained although its cache folder is unusable")

    monkeypatch.setattr(extractors, "train_classifier", no_training)
    result = cli("eval", str(run), "--metrics", "fid", "-n", "16", "--no-save")
    assert result.exit_code == EXIT_USAGE, result.output
    line = one_error_line(result)
    assert f"cache folder {cache}" in line and "GANZOO_CACHE_DIR" in line
    assert blocker.read_text() == "not a folder"


@pytest.fixture
def ring(cli, data_dir, tmp_path) -> Path:
    """A tiny run on 2-D points: `ganzoo eval --metrics modes` needs no feature extractor."""
    result = cli("train", "gan", "--dataset", "toy-ring", "--data-dir", str(data_dir), "--steps", "2",
                 "--batch-size", "8", "--device", "cpu", "-q", "--run-name", "ring")
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "ring"


def _read_only_run(monkeypatch):
    """Make every atomic text write fail as on a read-only file system."""
    from ganzoo import files

    def read_only(path, text):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path.with_name(f".{path.name}.tmp-1")))

    monkeypatch.setattr(files, "atomic_write_text", read_only)


@pytest.mark.parametrize("as_json", [False, True])
def test_eval_on_a_read_only_run_prints_the_scores_then_says_they_were_not_saved(cli, ring, monkeypatch, as_json):
    """Probe 6: the scores were computed, then lost to the failed save."""
    _read_only_run(monkeypatch)
    result = cli("eval", str(ring), "--metrics", "modes", "-n", "50", *(["--json"] if as_json else []))
    assert result.exit_code == EXIT_RUNTIME, result.output
    if as_json:
        assert set(json.loads(result.stdout)["metrics"]) >= {"modes", "reverse_kl"}
    else:
        assert result.stdout.split()[0] == "modes"
    line = result.stderr.splitlines()[-1]
    assert line.startswith(f"error: cannot write {ring / 'evals.jsonl'}: Read-only file system")
    assert "--no-save" in line and ".tmp-" not in line and "Traceback" not in result.output
    assert not (ring / "evals.jsonl").exists()
    assert cli("eval", str(ring), "--metrics", "modes", "-n", "50", "--no-save").exit_code == 0


@needs_permissions
def test_eval_on_a_truly_read_only_run(cli, ring):
    ring.chmod(0o500)
    try:
        result = cli("eval", str(ring), "--metrics", "modes", "-n", "50")
    finally:
        ring.chmod(0o700)
    assert result.exit_code == EXIT_RUNTIME and result.stdout.split()[0] == "modes"
    assert f"cannot write {ring / 'evals.jsonl'}" in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("metrics, n, message", [
    ("pr", 2, "metric 'pr' needs at least 4 samples"),
    ("pr", 3, "metric 'pr' needs at least 4 samples"),
    ("dc", 5, "metric 'dc' needs at least 6 samples"),
    ("kid,dc", 2, "metric 'dc' needs at least 6 samples"),
])
def test_eval_checks_each_metrics_sample_count_before_anything_runs(cli, tmp_path, metrics, n, message):
    """Probe 7a: k-nearest-neighbour metrics need more than k samples (pr: k=3, dc: k=5); with
    fewer, an internal ValueError came after loading and sampling. The run need not exist."""
    result = cli("eval", str(tmp_path / "missing"), "--metrics", metrics, "-n", str(n))
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in one_error_line(result)


def test_eval_checks_the_real_sample_count_before_the_extractor_is_loaded(cli, run, data_dir, monkeypatch):
    """The real split may hold fewer samples than -n: the minimum holds for it too."""
    from .conftest import make_digits, write_idx
    from ganzoo.metrics import extractors

    write_idx(data_dir / "MNIST" / "raw", *make_digits(5, seed=2), split="test")
    monkeypatch.setattr(extractors, "load_classifier", lambda *a, **k: pytest.fail("extractor loaded"))
    result = cli("eval", str(run), "--metrics", "dc", "-n", "10", "--no-save")
    assert result.exit_code == EXIT_USAGE, result.output
    assert "metric 'dc' needs at least 6 real samples; the test split of mnist has 5" in one_error_line(result)


def test_networks_too_large_to_allocate_are_a_usage_error(cli, data_dir, tmp_path):
    """Probe 7b: the allocator's failure came out as an internal error."""
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--set", "arch.ngf=1e12")
    assert result.exit_code == EXIT_USAGE, result.output
    line = one_error_line(result)
    assert "model 'dcgan' is too large for this machine's memory" in line and "arch." in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("error, code", [
    (MemoryError(), EXIT_USAGE),
    (RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"), EXIT_USAGE),
    (RuntimeError("a bug in a plugin's network"), EXIT_RUNTIME),  # not an allocation: stays an internal error
])
def test_only_allocation_failures_while_building_are_too_large(cli, data_dir, monkeypatch, error, code):
    from ganzoo.plugins import build

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(build, "check_networks", fail)
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY)
    assert result.exit_code == code, result.output
    assert ("too large" in result.stderr) == (code == EXIT_USAGE)


@pytest.mark.parametrize("command, name", [("sample", "dir.png"), ("sample", "dir.npz"), ("export", "dir.onnx"),
                                           ("report", "dir.html")])
def test_out_that_is_a_folder_is_refused_before_writing(cli, run, tmp_path, command, name):
    """Probe 7c: the message named a temporary file inside, exit 1."""
    folder = tmp_path / "out" / name
    folder.mkdir(parents=True)
    extra = ["--format", "npz"] if name.endswith(".npz") else []
    result = cli(command, str(run), "--out", str(folder), *extra)
    assert result.exit_code == EXIT_USAGE, result.output
    line = one_error_line(result)
    assert f"--out {folder} is a folder" in line and ".tmp-" not in line
    assert tree(tmp_path / "out") == [name]


def test_full_disk_names_the_file_in_every_writer(cli, run, tmp_path, monkeypatch):
    """Probe 7d: sample and report named a temporary file (export: see below). Every writer says
    which file it could not write, exit 1, and leaves nothing behind."""
    import numpy as np

    from ganzoo.kinds import image as grids

    def half_written(path):
        Path(path).write_bytes(b"\x00" * 10)
        raise _disk_full(path)

    monkeypatch.setattr(grids, "save_image", lambda tensor, fp, **kwargs: half_written(fp))
    monkeypatch.setattr(np, "savez", lambda file, **arrays: half_written(getattr(file, "name", file)))
    _fail_fsync_of(".report.html.tmp-", monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    for command, args, written in (
            ("sample", ["--out", str(out / "grid.png")], out / "grid.png"),
            ("sample", ["--format", "npz", "--out", str(out / "s.npz")], out / "s.npz"),
            ("sample", ["--interpolate", "4", "--out", str(out / "walk.png")], out / "walk.png"),
            ("report", ["--out", str(out / "report.html")], out / "report.html")):
        result = cli(command, str(run), *args)
        assert result.exit_code == EXIT_RUNTIME, (command, result.output)
        assert one_error_line(result) == f"error: cannot write {written}: No space left on device", command
        assert tree(out) == [], command


def test_full_disk_while_exporting_onnx(cli, run, tmp_path, monkeypatch):
    """Probe 7d: export turned the full disk into a refusal (exit 2) without a path."""
    onnx = pytest.importorskip("onnx")

    def half_written(model, f, *args, **kwargs):
        Path(f).write_bytes(b"\x00" * 10)
        raise _disk_full(f)

    monkeypatch.setattr(onnx, "save", half_written)
    out = tmp_path / "out"
    out.mkdir()
    result = cli("export", str(run), "--out", str(out / "g.onnx"))
    assert result.exit_code == EXIT_RUNTIME, result.output
    assert one_error_line(result) == f"error: cannot write {out / 'g.onnx'}: No space left on device"
    assert tree(out) == []


@pytest.mark.skipif(not Path("/dev/full").is_char_device(), reason="no /dev/full")
def test_real_full_device_while_exporting_torchscript(run, tmp_path):
    """/dev/full as the temporary file: torch.jit.save's own writer aborted the whole process
    (std::ios_base::failure); the file is now written by Python. A real process, so a
    regression fails the test instead of the test run."""
    out = tmp_path / "out"
    out.mkdir()
    code = ("import os, sys\n"
            "from ganzoo.cli import main\n"
            f"os.symlink('/dev/full', os.path.join({str(out)!r}, f'.g.pt.tmp-{{os.getpid()}}.pt'))\n"
            f"main(['export', {str(run)!r}, '--format', 'torchscript', '--out', {str(out / 'g.pt')!r}])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GANZOO_DISABLE_PLUGINS": ""})
    assert done.returncode == EXIT_RUNTIME, done.stderr
    assert done.stderr.splitlines()[-1] == f"error: cannot write {out / 'g.pt'}: No space left on device"
    assert Path("/dev/full").is_char_device() and tree(out) == []


@pytest.mark.parametrize("loss, message", [("nosuchloss", "unknown loss 'nosuchloss'"),
                                           ("bse", "unknown loss 'bse'; did you mean 'bce'")])
def test_plugin_check_refuses_an_unknown_loss_before_checking(cli, monkeypatch, loss, message):
    """Probe 7e: the plugin was reported as failing its training check (exit 1)."""
    import ganzoo.testing

    monkeypatch.setattr(ganzoo.testing, "check_plugin", lambda *a, **k: pytest.fail("the kit ran"))
    result = cli("plugin", "check", "gan", "-l", "bce", "-l", loss)
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in one_error_line(result)
    assert result.stdout == ""


FLAG_VARIABLES = ("GANZOO_DEBUG", "GANZOO_OFFLINE", "GANZOO_NO_CURVES", "GANZOO_STRICT_PLUGINS")


@pytest.mark.parametrize("variable", FLAG_VARIABLES)
def test_a_yes_no_variable_with_another_value_is_a_usage_error(cli, monkeypatch, variable):
    """Probe 7f: GANZOO_DEBUG=banana was read as on (so were the other yes/no variables)."""
    monkeypatch.setenv(variable, "banana")
    result = cli("list", "losses")
    assert result.exit_code == EXIT_USAGE, result.output
    line = one_error_line(result)
    assert f"{variable}='banana'" in line and "1, true, yes or on" in line and "0, false, no or off" in line
    assert result.stdout == ""


def test_every_yes_no_variable_is_checked():
    """The CLI checks settings.FLAG_VARIABLES at start; it must name every variable env_flag reads."""
    from ganzoo import settings
    from ganzoo.cli import DEBUG_ENV
    from ganzoo.datasets.common import OFFLINE_ENV
    from ganzoo.plugins.manager import STRICT_ENV

    assert set(settings.FLAG_VARIABLES) == set(FLAG_VARIABLES) == {DEBUG_ENV, OFFLINE_ENV, STRICT_ENV,
                                                                   settings.NO_CURVES_ENV}


@pytest.mark.parametrize("value, on", [("", False), ("0", False), (" Off ", False), ("NO", False), ("false", False),
                                       ("1", True), ("TRUE", True), ("yes", True), (" on", True)])
def test_yes_no_words(monkeypatch, value, on):
    from ganzoo.settings import env_flag

    monkeypatch.setenv("GANZOO_TEST_FLAG", value)
    assert env_flag("GANZOO_TEST_FLAG") is on
    monkeypatch.delenv("GANZOO_TEST_FLAG")
    assert env_flag("GANZOO_TEST_FLAG") is False


def test_a_bad_debug_value_in_a_real_process(tmp_path):
    env = {**os.environ, "GANZOO_DISABLE_PLUGINS": "", "GANZOO_DEBUG": "banana"}
    done = subprocess.run([sys.executable, "-m", "ganzoo", "info", "nosuchthing"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == EXIT_USAGE
    assert done.stderr.startswith("error: GANZOO_DEBUG='banana' is not a yes/no value")
    assert "Traceback" not in done.stderr


def test_report_on_paths_that_are_no_run_exits_as_sample_eval_and_export(cli, run, tmp_path):
    """Probe 7g: report exited 2 where the others exit 5 (a missing or unusable run)."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "picture.png").write_bytes(b"\x89PNG")
    for path in (tmp_path / "missing", tmp_path / "empty", tmp_path / "picture.png", run / "samples"):
        before = tree(tmp_path)
        for command in ("sample", "eval", "export", "report"):
            result = cli(command, str(path))
            assert result.exit_code == EXIT_CHECKPOINT, (command, path, result.output)
            one_error_line(result)
        assert tree(tmp_path) == before


@pytest.mark.parametrize("word, message", [("modles", "did you mean the kind 'models'"),
                                           ("dcgn", "did you mean model 'dcgan'"),
                                           ("zzzzzz", "nothing is called 'zzzzzz'")])
def test_list_with_a_lone_word_that_matches_nothing_is_an_error(cli, word, message):
    """Probe 7h: `ganzoo list modles` printed 'no components match' and exited 0."""
    for args in ([word], [word, "--json"]):
        result = cli("list", *args)
        assert result.exit_code == EXIT_USAGE, result.output
        assert message in one_error_line(result) and result.stdout == ""


def test_list_patterns_and_names_that_match_keep_working(cli):
    assert cli("list", "*nothing*").exit_code == 0  # a pattern may match nothing
    assert [c["name"] for c in json.loads(cli("list", "dcgan", "--json").stdout)] == ["dcgan"]
    assert cli("list", "models", "nosuch").exit_code == 0  # within a kind: a filter that matches nothing


@pytest.mark.parametrize("command", [["report", "RUN"], ["list", "losses"], ["sample", "RUN", "--out", "g.png"]])
def test_ctrl_c_after_a_command_finished_still_says_interrupted(cli, run, monkeypatch, command):
    """Probe 7i: a Ctrl-C just after a command printed, in typer's layer outside the command,
    ended with exit 130 and no `error:` line."""
    import typer.core

    finished = typer.core.TyperGroup.invoke

    def interrupted_after(self, ctx):
        finished(self, ctx)
        raise KeyboardInterrupt

    monkeypatch.setattr(typer.core.TyperGroup, "invoke", interrupted_after)
    result = cli(*[str(run) if a == "RUN" else a for a in command])
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert result.stderr.splitlines()[-1] == "error: interrupted" and "Traceback" not in result.output


def test_ctrl_c_while_the_process_exits_says_interrupted(tmp_path):
    """A real SIGINT after the command's output, while the interpreter shuts down (an atexit
    callback sends it): the line and exit 130, no 'Exception ignored' traceback."""
    code = ("import atexit, os, signal\n"
            "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
            "from ganzoo.cli import main\n"
            "main(['list', 'losses'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GANZOO_DISABLE_PLUGINS": ""},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # not ignored
    assert "bce" in done.stdout
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    assert done.stderr == "error: interrupted\n"
