"""Calibrate the MNIST evaluation scale: FID on mnist-classifier features.

Usage (from the repository root, with the project installed):

    .venv/bin/python benchmarks/eval_mnist.py --data-dir ../shared/data --run runs/<a dcgan mnist run>

Reports the classifier's test accuracy (training it on first use), the time to extract
features for 10,000 MNIST test images, and FID[mnist-classifier] plus KID, precision/recall
and class modes for: the MNIST test set vs the training set (a floor), the given run's
generator, and uniform noise (a ceiling). 10,000 vs 10,000 samples each. Results go to
benchmarks/results/eval_mnist.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ganzoo.datasets import load_mnist
from ganzoo.kinds.image import to_model_range
from ganzoo.metrics import scores
from ganzoo.metrics.extractors import load_mnist_classifier
from ganzoo.settings import cache_dir

RESULTS = Path(__file__).resolve().parent / "results"


def summarise(extractor, real_features, images: torch.Tensor) -> dict:
    features = extractor.features(images)
    predicted = extractor.logits(images).argmax(dim=1)
    return {**scores.fid(real_features, features), **scores.kid(real_features, features),
            **scores.precision_recall(real_features, features),
            **{k: v for k, v in scores.class_histogram(predicted, 10).items() if k != "histogram"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--run", help="a DCGAN-on-MNIST run directory or checkpoint")
    parser.add_argument("-n", type=int, default=10000)
    args = parser.parse_args()

    started = time.perf_counter()
    extractor = load_mnist_classifier(torch.device("cpu"), args.data_dir)
    load_sec = time.perf_counter() - started
    info = json.loads((cache_dir() / "extractors" / "mnist-classifier.json").read_text())

    test = to_model_range(load_mnist(Path(args.data_dir), "test").images[:args.n])
    train = to_model_range(load_mnist(Path(args.data_dir), "train").images[:args.n])
    started = time.perf_counter()
    real_features = extractor.features(test)
    extract_sec = time.perf_counter() - started

    rows = {"mnist-train": summarise(extractor, real_features, train)}
    if args.run:
        import ganzoo

        g = ganzoo.load(args.run)
        rows[f"run step {g.step}"] = summarise(extractor, real_features, g.sample(args.n, seed=0))
    noise = torch.rand(args.n, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    rows["uniform-noise"] = summarise(extractor, real_features, noise)

    result = {"extractor": {"name": extractor.name, "sha256": extractor.sha256,
                            "test_accuracy": info.get("test_accuracy"), "train_seconds": info.get("train_seconds"),
                            "load_or_train_seconds": round(load_sec, 1)},
              "extract_seconds_10k": round(extract_sec * 10000 / len(test), 2), "n": args.n,
              "threads": torch.get_num_threads(), "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eval_mnist.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"mnist-classifier test accuracy {info.get('test_accuracy')}, sha256 {extractor.sha256[:12]}; "
             f"features for 10,000 images in {result['extract_seconds_10k']} s on {torch.get_num_threads()} threads",
             "", "| samples vs MNIST test | fid[mnist-classifier] | kid_mean | precision | recall | classes hit | kl_uniform |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['fid']:.3f} | {r['kid_mean']:.4f} | {r['precision']:.3f} | {r['recall']:.3f} "
                     f"| {r['modes']} | {r['kl_uniform']:.3f} |")
    (RESULTS / "eval_mnist.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
