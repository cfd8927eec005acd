"""Section 3: MNIST and Fashion-MNIST curves (FID, precision/recall, class coverage vs steps and time).

Every model trains with its default loss and evaluates during training (``--eval-every``):
FID, precision/recall and the classifier's class histogram on 2,000 generated samples against
the first 2,000 test images, all on the dataset's small classifier's features. That FID is a
classifier-feature FID, NOT the Inception FID of the papers. Its floor is the same FID between
the same 2,000 test images and 2,000 real training images, computed here in-process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import quality_common as qc  # noqa: E402

# --------------------------------------------------------------------------- configuration (edit me)

CONFIGS: list[dict[str, Any]] = [
    {"label": "gan", "model": "gan", "flags": [], "note": "unconditional, default loss"},
    {"label": "dcgan", "model": "dcgan", "flags": [], "note": "unconditional, default loss"},
    {"label": "wgan", "model": "wgan", "flags": [], "note": "unconditional, default loss"},
    {"label": "sngan", "model": "sngan", "flags": [], "note": "unconditional, default loss"},
    {"label": "cgan", "model": "cgan", "flags": [], "note": "conditional, default loss"},
    {"label": "acgan", "model": "acgan", "flags": [], "note": "conditional, default loss"},
]
"""One dict per configuration: ``label``, ``model``, ``flags`` (CLI args), ``note``."""

DATASETS = ["mnist", "fashion-mnist"]  # --images-datasets chooses
FULL_STEPS, FULL_EVAL_EVERY, FULL_LOG_EVERY = 250, 50, 25  # the stated CPU budget (2-core CPU)
QUICK_STEPS, QUICK_EVAL_EVERY, QUICK_LOG_EVERY = 100, 50, 10
QUICK_MODELS = ["gan", "dcgan"]
QUICK_DATASETS = ["mnist"]
EVAL_METRICS = "fid,pr,modes"
EVAL_SAMPLES = 2000
FLOOR_TRAIN_IMAGES = 2000
SEED = qc.TABLE_SEEDS[0]
CLASSIFIERS = {"mnist": "mnist-classifier", "fashion-mnist": "fashion-mnist-classifier"}
FID_LABEL = "classifier-feature FID ({name}), not Inception FID"


def fid_label(dataset: str) -> str:
    name = {"mnist": "MNIST classifier", "fashion-mnist": "Fashion-MNIST classifier"}.get(dataset, dataset)
    return FID_LABEL.format(name=name)


def schedule(quick: bool) -> tuple[int, int, int]:
    return (QUICK_STEPS, QUICK_EVAL_EVERY, QUICK_LOG_EVERY) if quick else \
        (FULL_STEPS, FULL_EVAL_EVERY, FULL_LOG_EVERY)


def run_flags(config: dict, quick: bool) -> list[str]:
    steps, every, log_every = schedule(quick)
    flags = qc.strip_flags(config["flags"], ("--eval-every", "--eval-metrics"))
    return [*qc.with_steps(flags, steps), "--eval-every", str(every), "--eval-metrics", EVAL_METRICS,
            "--set", f"eval_samples={EVAL_SAMPLES}", "--set", f"log_every={log_every}"]


def plan(options: qc.Options) -> list[dict[str, Any]]:
    configs = [c for c in CONFIGS if c["model"] in QUICK_MODELS] if options.quick else CONFIGS
    datasets = QUICK_DATASETS if options.quick else (options.images_datasets or DATASETS)
    return [{"config": c, "dataset": d, "seed": SEED} for d in datasets for c in configs]


# --------------------------------------------------------------------------- reading a run

def max_relative_deviation(histogram) -> float | None:
    """``max_i |count_i / mean - 1|``: 0 for a perfectly even histogram, 1 for an empty class."""
    counts = [float(c) for c in histogram or []]
    if not counts or sum(counts) <= 0:
        return None
    mean = sum(counts) / len(counts)
    return max(abs(c / mean - 1.0) for c in counts)


def _split_key(key: str) -> tuple[str, str | None]:
    if key.endswith("]") and "[" in key:
        base, _, rest = key.partition("[")
        return base, rest[:-1]
    return key, None


def read_curve(metrics_file: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The eval points of a run's ``metrics.jsonl``, each with the wall time of its step.

    Wall time: ``elapsed_sec`` of the log line at that step (the latest earlier one if the step
    has none). It counts from the start of the training loop and includes the time of the
    evaluations before that step.
    """
    elapsed: dict[int, float] = {}
    evals: list[dict[str, Any]] = []
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if "eval" in record:
            evals.append(record)
        elif "elapsed_sec" in record:
            elapsed[int(record["step"])] = float(record["elapsed_sec"])
    extractor = None
    curve = []
    for record in evals:
        step = int(record["step"])
        values: dict[str, Any] = {}
        for key, value in record["eval"].items():
            base, ext = _split_key(key)
            values[base] = value
            extractor = extractor or ext
        earlier = [s for s in elapsed if s <= step]
        wall = elapsed[step] if step in elapsed else (elapsed[max(earlier)] if earlier else None)
        histogram = values.get("histogram")
        curve.append({"step": step, "wall_sec": wall, "fid": values.get("fid"),
                      "precision": values.get("precision"), "recall": values.get("recall"),
                      "modes": values.get("modes"), "kl_uniform": values.get("kl_uniform"),
                      "histogram": histogram, "max_rel_dev": max_relative_deviation(histogram)})
    return curve, extractor


# --------------------------------------------------------------------------- real-vs-real floor

def _load_split(dataset: str, data_dir: Path, split: str):
    import ganzoo.datasets as D

    return (D.load_mnist if dataset == "mnist" else D.load_fashion_mnist)(data_dir, split)


def real_floor(dataset: str, data_dir: str | None) -> dict[str, Any]:
    """FID between the first EVAL_SAMPLES test images (the eval's real set) and the first
    FLOOR_TRAIN_IMAGES training images, on the dataset's classifier features; plus the class
    spread the classifier sees in those training images."""
    from ganzoo.datasets.common import default_data_dir
    from ganzoo.kinds.image import to_model_range
    from ganzoo.metrics.extractors import load_classifier
    from ganzoo.metrics.scores import class_histogram, fid

    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    extractor = load_classifier(CLASSIFIERS[dataset], data_dir=root)
    test = to_model_range(_load_split(dataset, root, "test").images[:EVAL_SAMPLES])
    train = to_model_range(_load_split(dataset, root, "train").images[:FLOOR_TRAIN_IMAGES])
    value = fid(extractor.features(test), extractor.features(train))["fid"]
    hist = class_histogram(extractor.logits(train).argmax(1), extractor.num_classes)
    return {"fid": value, "extractor": extractor.name, "extractor_sha256": extractor.sha256,
            "extractor_test_accuracy": extractor.info.get("test_accuracy"),
            "n_test": len(test), "n_train": len(train),
            "train_histogram": hist["histogram"], "train_max_rel_dev": max_relative_deviation(hist["histogram"])}


# --------------------------------------------------------------------------- the section

def run(options: qc.Options, trainer: qc.Trainer, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    floors: dict[str, Any] = {}
    for dataset in sorted({j["dataset"] for j in jobs}, key=DATASETS.index):
        try:
            floors[dataset] = real_floor(dataset, options.data_dir)  # also caches the classifier first
            print(f"images: {dataset} real-vs-real floor ({floors[dataset]['extractor']}): "
                  f"FID {floors[dataset]['fid']:.3f}", flush=True)
        except Exception as exc:  # noqa: BLE001
            floors[dataset] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"images: {dataset} floor failed: {floors[dataset]['error']}", file=sys.stderr, flush=True)
    steps, every, log_every = schedule(options.quick)
    rows: list[dict[str, Any]] = []
    for job in jobs:
        config, dataset, seed = job["config"], job["dataset"], job["seed"]
        flags = run_flags(config, options.quick)
        name = f"images-{dataset}-{qc.slug(config['label'])}-s{seed}"
        train = trainer.train(f"{dataset} {config['label']!r} ({config['model']}) seed {seed}", config["model"],
                              dataset, seed, flags, name)
        row: dict[str, Any] = {"label": config["label"], "model": config["model"], "dataset": dataset, "seed": seed,
                               "flags": flags, "steps": steps, "eval_every": every,
                               "train_sec": train["train_sec"], "command": train["command"]}
        note = ""
        if "error" in train:
            row["error"] = train["error"]
        else:
            try:
                curve, extractor = read_curve(Path(train["run_dir"]) / "metrics.jsonl")
                if not curve:
                    raise ValueError("metrics.jsonl holds no eval lines")
                row["curve"], row["extractor"] = curve, extractor
                final = curve[-1]
                floor = floors.get(dataset, {}).get("fid")
                best = min((p for p in curve if p["fid"] is not None), key=lambda p: p["fid"], default=None)
                row["final"] = {k: final[k] for k in ("step", "wall_sec", "fid", "precision", "recall", "modes",
                                                      "kl_uniform", "max_rel_dev", "histogram")}
                row["final"]["fid_ratio"] = (final["fid"] / floor) if (floor and final["fid"] is not None) else None
                row["best"] = {"step": best["step"], "fid": best["fid"],
                               "fid_ratio": (best["fid"] / floor) if floor else None} if best else None
                if extractor and floors.get(dataset, {}).get("extractor") not in (None, extractor):
                    row["warning"] = (f"eval extractor {extractor} differs from the floor's "
                                      f"{floors[dataset]['extractor']}")
                note = (f"FID {final['fid']:.2f}" + (f" ({row['final']['fid_ratio']:.1f}x floor)"
                                                     if row["final"]["fid_ratio"] else "")
                        + f", classes {final['modes']}, max dev {final['max_rel_dev']:.2f}")
            except Exception as exc:  # noqa: BLE001 - a broken run is an error row
                row["error"] = f"reading metrics failed: {type(exc).__name__}: {exc}"
                note = row["error"]
        trainer.done(train, None, note)
        rows.append(row)

    png = options.results / "image_curves.png"
    try:
        plot(rows, floors, png)
        png_text = qc.display_path(png)
    except Exception as exc:  # noqa: BLE001
        png_text = f"not written: {type(exc).__name__}: {exc}"
        print(f"images: curves {png_text}", file=sys.stderr)
    return {
        "protocol": (f"train {steps} steps, evaluate every {every} (metrics {EVAL_METRICS}, {EVAL_SAMPLES} "
                     f"generated samples vs the first {EVAL_SAMPLES} test images, latent seed = run seed + 2); "
                     f"floor: first {EVAL_SAMPLES} test vs first {FLOOR_TRAIN_IMAGES} train images; "
                     f"wall time = elapsed_sec of the log line at the eval step (includes earlier evals)"),
        "fid_label": {d: fid_label(d) for d in floors},
        "seeds": [SEED],
        "configs": CONFIGS,
        "schedule": {"steps": steps, "eval_every": every, "log_every": log_every, "eval_samples": EVAL_SAMPLES},
        "floors": floors,
        "runs": rows,
        "png": png_text,
        "runtime_sec": round(time.perf_counter() - started, 1),
    }


# --------------------------------------------------------------------------- the picture

def plot(rows: list[dict[str, Any]], floors: dict[str, Any], path: Path) -> Path:
    """FID vs steps and vs wall seconds, one line per model, one row of panels per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in rows)]
    if not datasets:
        raise ValueError("no runs to plot")
    fig, axes = plt.subplots(len(datasets), 2, figsize=(12, 4.2 * len(datasets)), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, dataset in enumerate(datasets):
        floor = floors.get(dataset, {}).get("fid")
        for j, (xkey, xlabel) in enumerate((("step", "generator steps"), ("wall_sec", "wall seconds (CPU)"))):
            ax = axes[i][j]
            for k, config in enumerate(CONFIGS):
                row = next((r for r in rows if r["dataset"] == dataset and r["label"] == config["label"]
                            and r.get("curve")), None)
                if row is None:
                    continue
                pts = [(p[xkey], p["fid"]) for p in row["curve"] if p[xkey] is not None and p["fid"]]
                if pts:
                    ax.plot(*zip(*pts), marker="o", markersize=3, color=colors[k % len(colors)],
                            label=config["label"])
            if floor:
                ax.axhline(floor, linestyle="--", color="gray", label=f"real vs real floor ({floor:.2f})")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("FID (log scale)")
            ax.set_title(f"{dataset}: {fid_label(dataset)}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
