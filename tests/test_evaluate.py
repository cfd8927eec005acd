"""`ganzoo eval` and evaluation during training, with a tiny in-process extractor
(the real classifier is exercised in test_extractors.py)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
import torch.nn.functional as F

import ganzoo
from ganzoo import hookimpl
from ganzoo.specs import ExtractorSpec

from .conftest import TINY


class PixelExtractor:
    """Features: 7x7 average-pooled pixels; 'classifier': which quadrant is brightest."""

    name = "pixels"
    resize = "none (28x28 gray expected)"
    num_classes = 10
    feature_dim = 49
    sha256 = hashlib.sha256(b"pixels-v1").hexdigest()

    def features(self, images):
        return F.adaptive_avg_pool2d(images.float().mean(1, keepdim=True), 7).flatten(1)

    def logits(self, images):
        return F.adaptive_avg_pool2d(images.float().mean(1, keepdim=True), (2, 5)).flatten(1)


class Plugin:
    @hookimpl
    def ganzoo_extractors(self):
        yield ExtractorSpec(name="pixels", summary="test extractor", load=lambda device, data_dir: PixelExtractor())


@pytest.fixture
def with_pixels(manager):
    manager.register(Plugin(), name="testing")
    return manager


def test_eval_on_images_names_scores_by_extractor_and_records_provenance(cli, with_pixels, data_dir, tmp_path):
    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "e").exit_code == 0
    result = cli("eval", str(tmp_path / "runs" / "e"), "--metrics", "fid,kid,pr,dc,modes", "-n", "16",
                 "--extractor", "pixels", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    metrics = out["metrics"]
    assert {"fid[pixels]", "kid_mean[pixels]", "kid_std[pixels]", "precision[pixels]", "recall[pixels]",
            "density[pixels]", "coverage[pixels]", "modes[pixels]", "kl_uniform[pixels]"} <= set(metrics)
    assert metrics["fid[pixels]"] > 0 and 0 <= metrics["precision[pixels]"] <= 1
    p = out["provenance"]
    assert p["extractor"] == "pixels" and p["extractor_sha256"] == PixelExtractor.sha256
    assert (p["n_real"], p["n_fake"], p["split"], p["seed"], p["step"]) == (16, 16, "test", 0, 3)
    assert p["checkpoint"].endswith("step-0000003") and p["ganzoo_version"] == ganzoo.__version__
    assert p["resize"] == PixelExtractor.resize and p["dataset"] == "mnist"
    # the real features were cached in ganzoo's cache, keyed by the extractor's weights
    cached = list((tmp_path / "cache" / "ganzoo" / "reference").glob("mnist-test-pixels-*.safetensors"))
    assert len(cached) == 1
    again = json.loads(cli("eval", str(tmp_path / "runs" / "e"), "--metrics", "fid", "-n", "16",
                           "--extractor", "pixels", "--json").stdout)
    assert again["metrics"]["fid[pixels]"] == metrics["fid[pixels]"]  # same seed, same samples


def test_eval_of_point_data_and_refusals(cli, manager, tmp_path):
    small = ["--set", "arch.hidden=16", "--set", "arch.latent_dim=4", "--batch-size", "32", "--device", "cpu"]
    assert cli("train", "gan", "--dataset", "toy-ring", "--steps", "2", *small, "--run-name", "r").exit_code == 0
    run = str(tmp_path / "runs" / "r")
    result = cli("eval", run, "--metrics", "modes", "-n", "500", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out["metrics"]) >= {"modes", "high_quality", "reverse_kl"} and out["provenance"]["extractor"] is None
    fid = cli("eval", run, "--metrics", "fid")
    assert fid.exit_code == 2 and "none is registered for dataset 'toy-ring' (points data)" in fid.stderr
    unknown = cli("eval", run, "--metrics", "fdi")
    assert unknown.exit_code == 2 and "did you mean 'fid'" in unknown.stderr


def test_evaluation_during_training_keeps_the_best_checkpoint(cli, manager, tmp_path):
    small = ["--set", "arch.hidden=16", "--set", "arch.latent_dim=4", "--batch-size", "32", "--device", "cpu"]
    result = cli("train", "gan", "--dataset", "toy-grid", "--steps", "4", *small, "--eval-every", "2",
                 "--set", "eval_samples=300", "--run-name", "g")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "g"
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
             if '"eval"' in line]
    assert [e["step"] for e in evals] == [2, 4]
    assert all({"modes", "high_quality", "reverse_kl"} <= set(e["eval"]) for e in evals)
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    best_step = max(evals, key=lambda e: (e["eval"]["modes"], -evals.index(e)))["step"]
    assert best["step"] == best_step and best["modes"] == max(e["eval"]["modes"] for e in evals)
    assert ganzoo.load(run / "checkpoints" / "best").step == best_step
    assert json.loads((run / "config.json").read_text())["eval_metrics"] == ["modes"]


def test_tensorboard_logger_mirrors_metrics_jsonl(cli, data_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--set", "log_every=1",
                 "--logger", "tensorboard", "--run-name", "tb")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "tb"
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [(e.step, e.value) for e in events.Scalars("train/g_loss")]
    assert logged == [(r["step"], pytest.approx(r["g_loss"], rel=1e-6)) for r in records]
    assert "samples" in events.Tags()["images"]


def test_bad_logger_is_refused(cli, data_dir, tmp_path):
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--logger", "wandb")
    assert result.exit_code == 2 and "invalid config value for 'logger'" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_mode_metric_dispatches_by_dataset():
    from ganzoo.data import ImageData, PointData
    from ganzoo.datasets import ring_means
    from ganzoo.metrics.evaluate import EvalContext, mode_metric

    class Brightness:
        """A 'classifier' reading a digit from the image's mean brightness (0..9)."""

        num_classes = 10

        def logits(self, images):
            digit = ((images.mean(dim=(1, 2, 3)) + 1) / 2 * 9).round().long()
            return torch.nn.functional.one_hot(digit, 10).float()

    def level(d):  # an image whose mean brightness encodes digit d
        return torch.full((1, 28, 28), d / 9 * 2 - 1)

    triples = [(1, 2, 3), (3, 2, 1), (1, 2, 3), (9, 0, 0)]
    fake = torch.stack([torch.cat([level(a), level(b), level(c)]) for a, b, c in triples])
    real = ImageData(torch.zeros(1, 3, 28, 28, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), 1000)
    stacked = mode_metric(fake, EvalContext("stacked-mnist", real, Brightness()))
    assert stacked["modes"] == 3  # (1,2,3), (3,2,1) and (9,0,0) are different triples

    mnist = ImageData(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), 10)
    classes = mode_metric(torch.stack([level(d) for d in (0, 0, 5, 7)]), EvalContext("mnist", mnist, Brightness()))
    assert classes["modes"] == 3 and classes["histogram"][0] == 2

    ring = ring_means()
    points = mode_metric(ring.repeat(10, 1), EvalContext("toy-ring", PointData(ring), None))
    assert points["modes"] == 8 and points["high_quality"] == 100.0 and abs(points["reverse_kl"]) < 1e-9
