"""Every seeded family (images, audio, video, text) trained with its defaults for a stated
budget on this machine, measured the way its paper measures it, in one table.

Usage (from the repository root, with the project installed; one job on the machine):

    .venv/bin/python benchmarks/families.py --data-dir ../shared/data                 # all of them
    .venv/bin/python benchmarks/families.py --data-dir ../shared/data --only srgan,vqgan
    .venv/bin/python benchmarks/families.py --data-dir ../shared/data --quick         # a smoke run

Each family lives in ``benchmarks/family_<name>.py`` (see ``family_common.py`` for what one
defines), found there when the driver starts: it trains its runs through ``ganzoo.training.run.train`` (the same path as ``ganzoo train``),
scores the test split and returns one row: the metric, the baseline it is compared with, the
main run's wall time and the training loop's images/s, and a grid.

Results: ``benchmarks/results/families_<machine kind>.json`` and ``.md`` plus one grid per
family, ``families-<name>.png`` (rows are explained in the table). ``--only`` merges its rows
into the existing results of the same machine kind; ``--quick`` writes only to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FAMILIES = tuple(sorted(path.stem.removeprefix("family_") for path in HERE.glob("family_*.py")
                        if path.stem != "family_common"))
"""The families measured: each module ``family_<name>`` in this folder (``<name>`` the built-in
plugin's name), in the table's order (by name). Adding a family is adding its module."""


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def cells(values: dict) -> str:
    """One table cell of ``name: **value**`` lines (a ``|`` in a name would end the cell)."""
    return "<br>".join(f"{k}: **{fmt(v)}**".replace("|", "\\|") for k, v in values.items()) or "-"


def markdown(rows: dict, meta: dict) -> str:
    lines = [f"# Seeded families on {meta['machine_kind']}", "",
             f"`{meta['command']}`: {meta['wall_s']} s in all; CPU {meta['cpu']} ({meta['cpu_capability']}), "
             f"{meta['threads']} torch thread(s), torch {meta['torch']}. Each family trained with its defaults "
             f"(`ganzoo train MODEL`, CPU) for the budget shown; metrics on the test split.", "",
             "| family | dataset | budget | metric (trained) | baseline | wall s (main run) | images/s | grid |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if "error" in row:
            lines.append(f"| {name} | | | failed: {row['error']} | | | | |")
            continue
        grid = f"[{Path(row['grid']).name}]({Path(row['grid']).name})" if row.get("grid") else "-"
        lines.append(f"| {row['model']} | {row['dataset']} | {row['budget']} | {cells(row['metric'])} | "
                     f"{cells(row['baseline'])} | {row['wall_s']} ({row['all_runs_wall_s']} all runs) | "
                     f"{fmt(row['images_per_s'])} | {grid} |")
    lines.append("")
    for name, row in rows.items():
        if row.get("notes"):
            lines += [f"**{name}**: {row['notes']}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding MNIST/raw/, FashionMNIST/raw/ and FSDD/")
    parser.add_argument("--only", default=None, help=f"comma-separated families (default: all of {', '.join(FAMILIES)})")
    parser.add_argument("--quick", action="store_true", help="a few steps each: checks the pipeline; "
                                                             "results stay in --out")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: ganzoo's, one per core)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temporary folder)")
    parser.add_argument("--verbose", action="store_true", help="show training progress")
    args = parser.parse_args()
    names = FAMILIES if not args.only else tuple(n.strip() for n in args.only.split(","))
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        parser.error(f"unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
                     f"known: {', '.join(FAMILIES)}")

    import torch

    from family_common import FamilyContext
    from ganzoo.training.hardware import machine_kind, set_threads

    if args.threads:
        torch.set_num_threads(args.threads)
    else:
        set_threads()
    out = Path(args.out or tempfile.mkdtemp(prefix="families-")).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    target = out if args.quick else RESULTS
    kind = machine_kind()
    stem = f"families_{kind}"
    previous = {}
    if not args.quick and (target / f"{stem}.json").exists():
        previous = json.loads((target / f"{stem}.json").read_text()).get("rows", {})
    rows, started = {}, time.perf_counter()
    for name in names:
        module = importlib.import_module(f"family_{name}")
        ctx = FamilyContext(data_dir=args.data_dir, out=out / name, quick=args.quick, seed=args.seed,
                            quiet=not args.verbose, quick_steps=getattr(module, "QUICK_STEPS", 4))
        print(f"== {name}: {module.BUDGET}", flush=True)
        family_started = time.perf_counter()
        try:
            row = module.measure(ctx)
        except Exception as exc:  # one family failing leaves the others measured
            traceback.print_exc()
            rows[name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
            continue
        row["budget"] = module.BUDGET if not args.quick else f"{ctx.quick_steps} steps (--quick)"
        row["family_wall_s"] = round(time.perf_counter() - family_started, 1)
        if row.get("grid"):
            grid = target / f"families-{name}.png"
            shutil.copyfile(row["grid"], grid)
            row["grid"] = grid.name  # beside the results file
        rows[name] = row
        print(json.dumps({name: row}), flush=True)
    merged = {n: (rows.get(n) or previous.get(n)) for n in FAMILIES if n in rows or n in previous}
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine_kind": kind,
            "cpu": platform.processor() or platform.machine(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
            "wall_s": round(time.perf_counter() - started, 1), "date": time.strftime("%Y-%m-%d")}
    try:
        meta["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                           if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    (target / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": merged}, indent=2) + "\n")
    (target / f"{stem}.md").write_text(markdown(merged, meta) + "\n")
    print(markdown(merged, meta))
    if any("error" in r for r in rows.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
