"""The exit-code table (``ganzoo.errors.EXIT_CODE_TABLE``): the README says the same, and every
family of commands keeps to it.

For each code, a real command of each family it concerns produces it; families a code does
not concern are named in ``NOT_CONCERNED`` with the reason. Bad input of every family ends in
one ``error:`` line and a documented code.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ganzoo import hookimpl
from ganzoo.cli import create_app
from ganzoo.errors import (EXIT_CHECKPOINT, EXIT_CODE_TABLE, EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME,
                           EXIT_UNAVAILABLE, EXIT_USAGE)
from ganzoo.plugins.manager import PluginManager
from ganzoo.specs import ModelSpec

from .conftest import BUILTIN_PLUGINS, TINY

README = Path(__file__).resolve().parents[1] / "README.md"

FAMILIES = ("train", "sample", "eval", "export", "report", "list/info", "plugin check")

NOT_CONCERNED = {
    ("list/info", EXIT_RUNTIME): "they write nothing and run no model",
    ("list/info", EXIT_CHECKPOINT): "they read no checkpoint",
    ("plugin check", EXIT_CHECKPOINT): "it reads no checkpoint",
    ("report", EXIT_UNAVAILABLE): "it shows a run without building its model",
}
"""(family, code) pairs that cannot happen, and why."""


def test_the_readme_table_is_the_code_table():
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^#{2,} Exit codes\n(.*?)(?=^#)", text, re.S | re.M)
    assert section, "README.md has no 'Exit codes' section"
    rows = [line for line in section.group(1).splitlines() if line.startswith("|")]
    assert rows[:2] == ["| code | meaning |", "|---|---|"], rows[:2]
    table = [tuple(cell.strip() for cell in row.strip("|").split("|", 1)) for row in rows[2:]]
    assert table == [(str(e.code), e.meaning) for e in EXIT_CODE_TABLE]


def test_the_help_lists_every_code(cli):
    epilog = " ".join(cli("--help").stdout.split())
    for entry in EXIT_CODE_TABLE:
        assert f"{entry.code} {entry.short}" in epilog


# --------------------------------------------------------------------------- what the walk needs

class Unbuildable:
    """A plugin whose model's code is gone (its build names a module that does not exist)."""

    @hookimpl
    def ganzoo_models(self):
        yield ModelSpec(name="unbuildable", summary="its code is gone", build="nowhere.at_all:build")


class Crashing:
    """A plugin whose hook fails: with strict plugin loading, nothing can be listed (exit 4)."""

    @hookimpl
    def ganzoo_losses(self):
        raise RuntimeError("boom")


def app_with(*extra: tuple[str, object], without: str | None = None, strict: bool = False):
    """Run the CLI around the built-in plugins (less ``without``) and ``extra`` (name, plugin) pairs."""
    manager = PluginManager(entry_points=False, warn=lambda line: None, strict=strict)
    for name, module in BUILTIN_PLUGINS.items():
        if name != without:
            manager.register(module, name=name)
    for name, plugin in extra:
        manager.register(plugin, name=name)
    app, runner = create_app(manager), CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def interrupt_the_first_output(monkeypatch):
    """Ctrl-C where the command prints its result (the first typer.echo)."""
    echo, calls = typer.echo, []

    def interrupted(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return echo(*args, **kwargs)

    monkeypatch.setattr(typer, "echo", interrupted)


def full_disk(monkeypatch):
    """Every fsync fails as on a full disk (ganzoo writes its files through fsync and a rename)."""
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


def full_disk_for_npz(monkeypatch):
    def savez(file, **arrays):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))

    monkeypatch.setattr("numpy.savez", savez)


def full_disk_for_onnx(monkeypatch):
    onnx = pytest.importorskip("onnx")

    def save(model, f, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))

    monkeypatch.setattr(onnx, "save", save)


@pytest.fixture
def runs(cli, data_dir, tmp_path) -> dict[str, Path]:
    """A tiny DCGAN run (images) and a tiny GAN run on 2-D points (evaluated without an extractor)."""
    for name, args in (("images", ["dcgan", "--data-dir", str(data_dir), *TINY]),
                       ("points", ["gan", "--dataset", "toy-ring", "--steps", "2", "--batch-size", "8",
                                   "--device", "cpu"])):
        result = cli("train", *args, "-q", "--run-name", name)
        assert result.exit_code == 0, result.output
    return {"images": tmp_path / "runs" / "images", "points": tmp_path / "runs" / "points"}


def walk(runs: dict[str, Path], data_dir: Path, tmp_path: Path) -> list[tuple]:
    """``(family, code, args, setup, app)``: the command ``args`` run by ``app`` (default: the
    built-in plugins) after ``setup(monkeypatch)``, if any, exits with ``code``."""
    images, points, missing, out = runs["images"], runs["points"], tmp_path / "missing", tmp_path / "out"
    train = ["train", "dcgan", "--data-dir", data_dir, *TINY, "-q"]
    evaluate = ["eval", points, "--metrics", "modes", "-n", "50"]
    without_dcgan = app_with(without="dcgan")  # the runs' model is not installed
    with_unbuildable = app_with(("unbuildable", Unbuildable()))
    strict_and_crashing = app_with(("crashing", Crashing()), strict=True)
    interrupted = interrupt_the_first_output
    return [
        ("train", EXIT_OK, train, None, None),
        ("train", EXIT_RUNTIME, train, full_disk, None),
        ("train", EXIT_USAGE, [*train, "--set", "batch_size=0"], None, None),
        ("train", EXIT_UNAVAILABLE, ["train", "unbuildable", "--data-dir", data_dir, "--steps", "1", "--device", "cpu"],
         None, with_unbuildable),
        ("train", EXIT_CHECKPOINT, ["train", "--resume", missing], None, None),
        ("train", EXIT_INTERRUPTED, train, interrupted, None),

        ("sample", EXIT_OK, ["sample", images, "--out", out / "g.png"], None, None),
        ("sample", EXIT_RUNTIME, ["sample", images, "--format", "npz", "--out", out / "s.npz"], full_disk_for_npz, None),
        ("sample", EXIT_USAGE, ["sample", images, "-n", "0"], None, None),
        ("sample", EXIT_UNAVAILABLE, ["sample", images, "--out", out / "g.png"], None, without_dcgan),
        ("sample", EXIT_CHECKPOINT, ["sample", missing], None, None),
        ("sample", EXIT_INTERRUPTED, ["sample", images, "--out", out / "g.png"], interrupted, None),

        ("eval", EXIT_OK, evaluate, None, None),
        ("eval", EXIT_RUNTIME, evaluate, full_disk, None),
        ("eval", EXIT_USAGE, ["eval", points, "-n", "1"], None, None),
        ("eval", EXIT_UNAVAILABLE, ["eval", images, "-n", "16"], None, without_dcgan),
        ("eval", EXIT_CHECKPOINT, ["eval", missing], None, None),
        ("eval", EXIT_INTERRUPTED, evaluate, interrupted, None),

        ("export", EXIT_OK, ["export", images, "--format", "torchscript", "--out", out / "g.pt"], None, None),
        ("export", EXIT_RUNTIME, ["export", images, "--out", out / "g.onnx"], full_disk_for_onnx, None),
        ("export", EXIT_USAGE, ["export", images, "--format", "tflite"], None, None),
        ("export", EXIT_UNAVAILABLE, ["export", images, "--out", out / "g.onnx"], None, without_dcgan),
        ("export", EXIT_CHECKPOINT, ["export", missing], None, None),
        ("export", EXIT_INTERRUPTED, ["export", images, "--format", "torchscript", "--out", out / "g.pt"], interrupted,
         None),

        ("report", EXIT_OK, ["report", images], None, None),
        ("report", EXIT_RUNTIME, ["report", images], full_disk, None),
        ("report", EXIT_USAGE, ["report", images, "--out", out / "report.txt"], None, None),
        ("report", EXIT_CHECKPOINT, ["report", missing], None, None),
        ("report", EXIT_INTERRUPTED, ["report", images], interrupted, None),

        ("list/info", EXIT_OK, ["info", "dcgan", "--json"], None, None),
        ("list/info", EXIT_USAGE, ["info", "dcgn"], None, None),
        ("list/info", EXIT_UNAVAILABLE, ["list", "--json"], None, strict_and_crashing),
        ("list/info", EXIT_INTERRUPTED, ["list", "losses", "--json"], interrupted, None),

        ("plugin check", EXIT_OK, ["plugin", "check", "gan", "-l", "bce", "--json"], None, None),
        ("plugin check", EXIT_RUNTIME, ["plugin", "check", "unbuildable", "--json"], None, with_unbuildable),
        ("plugin check", EXIT_USAGE, ["plugin", "check", "nosuchplugin"], None, None),
        ("plugin check", EXIT_UNAVAILABLE, ["plugin", "check", "gan"], None, strict_and_crashing),
        ("plugin check", EXIT_INTERRUPTED, ["plugin", "check", "gan", "-l", "bce", "--json"], interrupted, None),
    ]


def test_every_family_produces_every_code_it_concerns(cli, runs, data_dir, tmp_path):
    (tmp_path / "out").mkdir()
    table = walk(runs, data_dir, tmp_path)
    walked = {(family, code) for family, code, *_ in table}
    for family in FAMILIES:
        for entry in EXIT_CODE_TABLE:
            assert ((family, entry.code) in walked) != ((family, entry.code) in NOT_CONCERNED), (family, entry.code)
    for family, code, args, setup, app in table:
        with pytest.MonkeyPatch.context() as monkeypatch:
            if setup is not None:
                setup(monkeypatch)
            result = (app or cli)(*[str(a) for a in args])
        assert result.exit_code == code, (family, code, args, result.output)
        assert "Traceback" not in result.output, (family, code)
        if code != EXIT_OK:
            lines = result.stderr.splitlines()
            errors = [line for line in lines if line.startswith("error: ")]
            assert errors == [lines[-1]] and "internal error" not in lines[-1], (family, code, result.stderr)


BAD_INPUT = [
    ("train", ["dcgan", "--set", "nope=1"]), ("train", ["dcgan", "--steps", "-1"]), ("train", ["nosuchmodel"]),
    ("train", ["dcgan", "--loss", "bse"]), ("train", ["dcgan", "--dataset", "nosuch"]), ("train", ["--resume", "."]),
    ("train", ["dcgan", "--config", "missing.toml"]), ("train", ["dcgan", "--no-such-option"]),
    ("sample", ["RUN", "--nrow", "0"]), ("sample", ["RUN", "--format", "gif"]), ("sample", ["RUN", "--out", "x.jpg"]),
    ("sample", ["RUN", "--label", "3"]), ("sample", ["RUN", "--net", "nosuch"]), ("sample", ["."]),
    ("sample", ["RUN", "--domain", "1"]), ("sample", ["RUN", "--input", "missing"]),
    ("eval", ["RUN", "--metrics", "nope"]), ("eval", ["RUN", "--seed", "-1"]), ("eval", ["RUN", "--device", "tpu"]),
    ("eval", ["RUN", "--extractor", "nope"]), ("eval", ["RUN", "--metrics", "dc", "-n", "3"]),
    ("export", ["RUN", "--opset", "99"]), ("export", ["RUN", "--out", "x.pt"]), ("export", ["RUN", "--net", "nosuch"]),
    ("report", ["RUN", "--out", "missing/r.html"]), ("report", ["."]),
    ("list", ["gadgets", "*"]), ("list", ["modles"]), ("info", ["nosuch"]), ("info", ["dcgan", "--kind", "gadget"]),
    ("plugin", ["check", "gan", "-l", "nosuchloss"]), ("plugin", ["check", "core", "--data-dir", "."]),
    ("plugin", ["new", "Bad Name"]),
]


def test_bad_input_exits_with_a_documented_code(cli, data_dir, tmp_path):
    """Every family's bad input: one ``error:`` line and a documented code."""
    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "-q", "--run-name", "images").exit_code == 0
    run = tmp_path / "runs" / "images"
    for command, args in BAD_INPUT:
        result = cli(command, *[str(run) if a == "RUN" else a for a in args])
        assert result.exit_code in EXIT_CODES - {EXIT_OK}, (command, args, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "internal error" not in lines[0], \
            (command, args, result.output)
