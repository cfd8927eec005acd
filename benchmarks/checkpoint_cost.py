"""What a checkpoint costs: size on disk, save time and checked-load time.

    .venv/bin/python benchmarks/checkpoint_cost.py --data-dir ../shared/data [--model dcgan] [--out /tmp/ckpt]

Trains two steps of MODEL on MNIST (default architecture and batch), then times
``Trainer.save_checkpoint`` (safetensors, sha256 checksums, fsyncs, rename) and
``Trainer.load_checkpoint`` (checksums verified) several times. The timing depends on the
disk under --out.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import ganzoo.training.loop as loop
from ganzoo.config import resolve_config
from ganzoo.plugins.manager import get_plugin_manager
from ganzoo.training.run import train
from ganzoo.training.progress import Reporter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--out", default=None, help="folder for the run (default: a temporary folder)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    trainers = []
    original_fit = loop.Trainer.fit

    def fit(self, steps):
        original_fit(self, steps)
        trainers.append(self)

    loop.Trainer.fit = fit
    registry = get_plugin_manager().registry
    with tempfile.TemporaryDirectory(dir=args.out) as out:
        cfg = resolve_config(registry, args.model, flags={"steps": 2, "device": "cpu", "data_dir": args.data_dir,
                                                          "out": out, "run_name": "cost"})
        train(cfg, registry, Reporter(enabled=False))
        trainer = trainers[0]
        saves, loads = [], []
        for _ in range(args.repeats):
            trainer.step += 1
            started = time.perf_counter()
            folder = trainer.save_checkpoint()
            saves.append(time.perf_counter() - started)
        for _ in range(args.repeats):
            started = time.perf_counter()
            trainer.load_checkpoint(folder)
            loads.append(time.perf_counter() - started)
        sizes = {f.name: f.stat().st_size for f in sorted(folder.iterdir())}
    print(f"{args.model} on MNIST: checkpoint {sum(sizes.values()) / 1e6:.1f} MB "
          f"({', '.join(f'{k} {v / 1e6:.2f} MB' for k, v in sizes.items())}); "
          f"save median {statistics.median(saves) * 1e3:.0f} ms, checked load median "
          f"{statistics.median(loads) * 1e3:.0f} ms over {args.repeats} repeats")


if __name__ == "__main__":
    main()
