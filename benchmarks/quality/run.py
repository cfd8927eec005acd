"""The ganzoo quality suite: one command regenerates every quality table.

Usage (from the repository root):

    .venv/bin/python benchmarks/quality/run.py --data-dir ../shared/data [--quick]
        [--only toy,stacked,images] [--out DIR]

Sections (one script each, configurations are data at the top of each):

- toy.py      2-D mixtures (toy-ring, toy-grid), the PacGAN protocol, 2 scorers;
- stacked.py  Stacked MNIST, 1,000 modes;
- images.py   MNIST / Fashion-MNIST FID, precision/recall and class coverage curves.

Every training run is its own ``python -m ganzoo train ... --device cpu --quiet`` process,
run one at a time (never in parallel: the timings are part of the results). Run folders go
to --out (default: a temporary folder, deleted at the end). Results:
benchmarks/results/quality/quality.json and quality.md plus PNGs; --quick writes to
benchmarks/results/quality/quick/ instead. With --only, the sections that are not run are
kept from the existing quality.json. Table seeds 100-109; settings were chosen on seeds 0-9,
which the suite never uses.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import quality_common as qc  # noqa: E402

SECTIONS = ("toy", "stacked", "images")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("GANZOO_DATA_DIR"),
                        help="folder holding MNIST/ and FashionMNIST/ (torchvision layout)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, cut steps, results in quick/")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: toy,stacked,images")
    parser.add_argument("--out", default=None, help="folder for the run directories (default: a temp folder)")
    parser.add_argument("--toy-jobs", type=int, default=1, help="toy runs trained side by side, one torch "
                        "thread each (their table holds no timings); default 1")
    parser.add_argument("--remark", default=None, help="a sentence on the conditions of this invocation's runs "
                        "(e.g. other jobs on the CPU), printed with its sections")
    parser.add_argument("--images-datasets", default=None,
                        help="comma-separated datasets of the image section (default: mnist,fashion-mnist)")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown or not only:
        parser.error(f"--only takes {', '.join(SECTIONS)}; got {args.only!r}")
    args.only = [s for s in SECTIONS if s in only]
    return args


def load_sections():
    import images
    import stacked
    import toy

    return {"toy": toy, "stacked": stacked, "images": images}


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    results_dir = qc.RESULTS_DIR / "quick" if args.quick else qc.RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    temp = None
    if args.out:
        out = Path(args.out).expanduser().resolve()
        out.mkdir(parents=True, exist_ok=True)
    else:
        temp = out = Path(tempfile.mkdtemp(prefix="ganzoo-quality-"))
    data_dir = str(Path(args.data_dir).expanduser().resolve()) if args.data_dir else None
    options = qc.Options(data_dir=data_dir, quick=args.quick, out=out, results=results_dir,
                         toy_jobs=max(1, args.toy_jobs),
                         images_datasets=[d for d in (args.images_datasets or "").split(",") if d] or None)
    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(["run.py", *argv])

    modules = load_sections()
    jobs = {name: modules[name].plan(options) for name in args.only}
    trainer = qc.Trainer(options, total=sum(len(j) for j in jobs.values()))
    print(f"quality suite: {trainer.total} training runs ({', '.join(args.only)}), "
          f"{'QUICK' if args.quick else 'full'}; runs in {out}; results in {results_dir}", flush=True)

    json_path = results_dir / "quality.json"
    results = {"sections": {}}
    if json_path.is_file():  # keep the sections this invocation does not run
        try:
            previous = json.loads(json_path.read_text(encoding="utf-8"))
            results["sections"] = {k: v for k, v in previous.get("sections", {}).items() if k in SECTIONS}
        except (OSError, ValueError) as exc:
            print(f"warning: cannot read {json_path} ({exc}); starting afresh", file=sys.stderr)
    try:
        for name in args.only:
            section = modules[name].run(options, trainer, jobs[name])
            section["invocation"] = command
            if args.remark:
                section["remark"] = args.remark
            section["machine"] = qc.machine_info()
            results["sections"][name] = section
            results.setdefault("ran", []).append(name)
            # write after every section, so a later crash loses nothing finished
            finish(results, options, command, started, json_path, results_dir)
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    finish(results, options, command, started, json_path, results_dir)
    print(f"done in {time.perf_counter() - started:.0f} s: {json_path} and {results_dir / 'quality.md'}")
    return 0


def finish(results, options, command, started, json_path, results_dir) -> None:
    import report

    results.update({
        "suite": "ganzoo quality suite", "quick": options.quick, "seeds_note": qc.SEED_TEXT,
        "table_seeds": qc.TABLE_SEEDS, "tuning_seeds_never_used": qc.TUNING_SEEDS,
        "machine": qc.machine_info(), "command": command, "data_dir": options.data_dir,
        "runtime_sec": round(time.perf_counter() - started, 1),
    })
    if json_path.is_file():  # another invocation (--only) may have written its sections meanwhile
        try:
            on_disk = json.loads(json_path.read_text(encoding="utf-8")).get("sections", {})
            for name, section in on_disk.items():
                if name in SECTIONS and name not in results.get("ran", ()):
                    results["sections"][name] = section
        except (OSError, ValueError):
            pass
    results["sections"] = {k: results["sections"][k] for k in SECTIONS if k in results["sections"]}
    results["goals"] = report.goal_checks(results)
    write_atomic(json_path, json.dumps(results, indent=1, default=str) + "\n")
    write_atomic(results_dir / "quality.md", report.render(results))


if __name__ == "__main__":
    sys.exit(main())
