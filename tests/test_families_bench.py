"""benchmarks/families.py: the driver trains through family_common, writes one table, and a
family that fails becomes an error row (exit 1) without losing the others."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from .conftest import BUILTIN_PLUGINS

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def families(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import families as module

    return module


def fake_family(name: str, fail: bool = False) -> types.ModuleType:
    module = types.ModuleType(f"family_{name}")
    module.FAMILY, module.BUDGET, module.QUICK_STEPS = "dcgan", "2 steps", 2

    def measure(ctx):
        if fail:
            raise RuntimeError("scoring broke\nsecond line")
        run = ctx.train("dcgan", steps=ctx.steps(100), sets=["arch.ngf=8", "arch.ndf=8"], batch_size=8)
        grid = run.path / "samples" / "step-0000002.png"
        return ctx.row(run, metric={"steps seen": run.run.step}, baseline={"nothing": 0.0}, grid=grid,
                       notes="a fake family")

    module.measure = measure
    return module


def test_the_driver_writes_a_row_per_family_and_keeps_going_after_a_failure(families, data_dir, tmp_path,
                                                                              monkeypatch, manager):
    monkeypatch.setattr(families, "FAMILIES", ("good", "bad"))
    monkeypatch.setitem(sys.modules, "family_good", fake_family("good"))
    monkeypatch.setitem(sys.modules, "family_bad", fake_family("bad", fail=True))
    out = tmp_path / "bench"
    monkeypatch.setattr(sys, "argv", ["families.py", "--data-dir", str(data_dir), "--quick", "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:
        families.main()
    assert exit_.value.code == 1
    results = next(out.glob("families_*.json"))
    rows = json.loads(results.read_text())["rows"]
    good = rows["good"]
    assert good["metric"] == {"steps seen": 2} and good["steps"] == 2 and good["batch_size"] == 8
    assert good["budget"] == "2 steps (--quick)" and good["wall_s"] > 0
    assert good["grid"] == "families-good.png" and (results.parent / good["grid"]).is_file()
    assert rows["bad"] == {"error": "RuntimeError: scoring broke"}
    table = results.with_suffix(".md").read_text()
    assert "| dcgan | mnist | 2 steps (--quick) | steps seen: **2** | nothing: **0** |" in table
    assert "| bad | | | failed: RuntimeError: scoring broke |" in table


def test_the_driver_finds_a_module_per_family_each_named_after_a_builtin_plugin(families):
    modules = {path.stem[len("family_"):] for path in BENCHMARKS.glob("family_*.py")} - {"common"}
    assert len(modules) >= 3 and set(families.FAMILIES) == modules
    assert modules <= set(BUILTIN_PLUGINS)


def test_unknown_families_are_refused(families, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["families.py", "--data-dir", ".", "--only", "stargan,nope"])
    with pytest.raises(SystemExit) as exit_:
        families.main()
    assert exit_.value.code == 2
    assert "unknown family nope" in capsys.readouterr().err
