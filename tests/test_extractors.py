"""Feature extractors: cache folder, training and caching the classifiers, sha256 checks,
feature shapes and input conversion, and the FID Inception's availability rules."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest
import torch

from ganzoo.errors import CheckpointError, ComponentUnavailableError, ConfigError, GanzooError
from ganzoo.metrics import extractors as ex

from .conftest import make_digits, write_idx

REAL = Path(os.environ.get("GANZOO_TEST_DATA_DIR")
            or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_real_mnist = pytest.mark.skipif(not (REAL / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file(),
                                      reason=f"real MNIST not found in {REAL}")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "gz-cache"
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def trained(cache, data_dir, monkeypatch) -> Path:
    """A tiny mnist-classifier in the cache (3 steps on 64 images), loadable despite its accuracy."""
    monkeypatch.setitem(ex.MIN_ACCURACY, "mnist", 0.0)
    return ex.train_classifier("mnist", data_dir, epochs=3, min_accuracy=0.0)


def images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --------------------------------------------------------------------------- cache folder

def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GANZOO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ex.cache_dir() == tmp_path / "xdg" / "ganzoo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert ex.cache_dir() == Path.home() / ".cache" / "ganzoo"
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(tmp_path / "mine"))
    assert ex.cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("GANZOO_CACHE_DIR", "")
    assert ex.cache_dir() == Path.home() / ".cache" / "ganzoo"


def test_the_cache_is_never_inside_the_data_folder(data_dir, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(data_dir))
    before = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*"))
    with pytest.raises(ConfigError, match="inside the data folder"):
        ex.train_classifier("mnist", data_dir, epochs=1, min_accuracy=0.0)
    assert sorted(p.relative_to(data_dir) for p in data_dir.rglob("*")) == before


# --------------------------------------------------------------------------- training and caching

def test_training_caches_weights_and_json(trained, cache):
    weights, info_file = ex.classifier_paths("mnist-classifier")
    assert trained == weights == cache / "extractors" / "mnist-classifier.safetensors"
    info = json.loads(info_file.read_text())
    assert info["sha256"] == ex.sha256_file(weights)
    assert {info["name"], info["dataset"], info["seed"]} == {"mnist-classifier", "mnist", 0}
    assert 0.0 <= info["test_accuracy"] <= 1.0 and info["train_seconds"] >= 0
    assert sorted(p.name for p in weights.parent.iterdir()) == ["mnist-classifier.json",
                                                               "mnist-classifier.safetensors"]
    from safetensors import safe_open
    with safe_open(str(weights), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["dataset"] == "mnist" and meta["seed"] == "0" and meta["format_version"] == ex.FORMAT_VERSION
    assert float(meta["test_accuracy"]) == info["test_accuracy"]


def test_training_is_reproducible_from_the_seed(data_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    runs = []
    for name in ("a", "b"):
        monkeypatch.setenv("GANZOO_CACHE_DIR", str(tmp_path / name))
        runs.append(load_file(str(ex.train_classifier("mnist", data_dir, epochs=2, min_accuracy=0.0))))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_a_classifier_below_the_threshold_is_refused_and_not_cached(cache, data_dir):
    with pytest.raises(GanzooError, match=r"test accuracy .*needs >= 101\.00%.*not cached") as info:
        ex.train_classifier("mnist", data_dir, epochs=1, min_accuracy=1.01)
    assert "\n" not in str(info.value)
    weights, info_file = ex.classifier_paths("mnist-classifier")
    assert not weights.exists() and not info_file.exists()
    assert not (cache / "extractors").exists() or not any((cache / "extractors").iterdir())


def test_load_classifier_trains_on_first_use_then_reads_the_cache(cache, data_dir, monkeypatch, capsys):
    monkeypatch.setitem(ex.MIN_ACCURACY, "mnist", 0.0)
    monkeypatch.setenv("GANZOO_DATA_DIR", str(data_dir))  # the default data folder
    monkeypatch.setattr(ex, "EPOCHS", 1)
    first = ex.load_mnist_classifier(torch.device("cpu"), None)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training" in err and str(cache / "extractors") in err
    second = ex.load_classifier("mnist-classifier", "cpu", data_dir)
    assert capsys.readouterr().err == ""
    assert first.sha256 == second.sha256 == ex.sha256_file(ex.classifier_paths("mnist-classifier")[0])
    x = images(5)
    assert torch.equal(first.features(x), second.features(x))


def test_a_cached_classifier_below_the_threshold_is_not_loaded(trained, monkeypatch):
    monkeypatch.setitem(ex.MIN_ACCURACY, "mnist", 1.01)
    with pytest.raises(CheckpointError, match="delete .* to retrain"):
        ex.load_classifier("mnist-classifier")


def test_a_tampered_weights_file_is_refused_with_one_line(trained):
    data = bytearray(trained.read_bytes())
    data[-1] ^= 0x01
    trained.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as info:
        ex.load_classifier("mnist-classifier")
    message = str(info.value)
    assert "\n" not in message and "sha256" in message and f"delete {trained}" in message


def test_a_corrupt_json_is_refused(trained):
    trained.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read .*mnist-classifier.json"):
        ex.load_classifier("mnist-classifier")


def test_deleting_the_weights_file_retrains(trained, data_dir, monkeypatch, capsys):
    trained.unlink()
    monkeypatch.setattr(ex, "EPOCHS", 1)
    ex.load_classifier("mnist-classifier", "cpu", data_dir)
    assert "training" in capsys.readouterr().err and trained.is_file()


def test_fashion_mnist_classifier_uses_its_own_data_and_name(cache, tmp_path, monkeypatch):
    raw = tmp_path / "fdata" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw, *make_digits(64, seed=0), split="train")
    write_idx(raw, *make_digits(16, seed=1), split="test")
    monkeypatch.setitem(ex.MIN_ACCURACY, "fashion-mnist", 0.0)
    path = ex.train_classifier("fashion-mnist", tmp_path / "fdata", epochs=1, min_accuracy=0.0)
    assert path.name == "fashion-mnist-classifier.safetensors"
    extractor = ex.load_fashion_mnist_classifier("cpu", tmp_path / "fdata")
    assert extractor.name == "fashion-mnist-classifier" and extractor.info["dataset"] == "fashion-mnist"


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="unknown classifier"):
        ex.load_classifier("cifar-classifier")
    with pytest.raises(ConfigError, match="no classifier for dataset"):
        ex.train_classifier("cifar10", ".")


# --------------------------------------------------------------------------- features and logits

def test_features_and_logits_shapes(trained):
    extractor = ex.load_classifier("mnist-classifier")
    assert (extractor.feature_dim, extractor.num_classes) == (128, 10)
    assert "28x28" in extractor.resize and extractor.sha256 == ex.sha256_file(trained)
    x = images(9)
    features, logits = extractor.features(x), extractor.logits(x)
    assert features.shape == (9, 128) and features.dtype == torch.float32
    assert logits.shape == (9, 10) and logits.dtype == torch.float32
    assert not features.requires_grad and not extractor.network.training
    assert extractor.features(x[:0]).shape == (0, 128)


def test_features_do_not_depend_on_the_batch_size(trained):
    extractor = ex.load_classifier("mnist-classifier")
    x = images(23, seed=3)
    torch.testing.assert_close(extractor.features(x, batch_size=7), extractor.features(x, batch_size=500))
    torch.testing.assert_close(extractor.logits(x, batch_size=7), extractor.logits(x))
    one_by_one = torch.cat([extractor.features(x[i:i + 1]) for i in range(len(x))])
    torch.testing.assert_close(one_by_one, extractor.features(x))


def test_rgb_and_larger_inputs_are_converted_as_resize_says(trained):
    extractor = ex.load_classifier("mnist-classifier")
    gray = images(4, seed=5)
    rgb = gray.expand(-1, 3, -1, -1).contiguous()
    torch.testing.assert_close(extractor.features(rgb), extractor.features(gray))
    big = torch.nn.functional.interpolate(gray, size=(64, 64), mode="nearest")
    resized = torch.nn.functional.interpolate(big, size=(28, 28), mode="bilinear", antialias=True,
                                              align_corners=False)
    assert extractor.features(big).shape == (4, 128)
    torch.testing.assert_close(extractor.features(big), extractor.features(resized))
    big_rgb = torch.cat([big, -big, big * 0.5], dim=1)
    torch.testing.assert_close(extractor.logits(big_rgb), extractor.logits(big_rgb.mean(1, keepdim=True)))


def test_bad_inputs_are_refused(trained):
    extractor = ex.load_classifier("mnist-classifier")
    with pytest.raises(ConfigError, match="1- or 3-channel"):
        extractor.features(torch.zeros(2, 2, 28, 28))
    with pytest.raises(ConfigError, match="float images"):
        extractor.features(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="float images"):
        extractor.features(torch.zeros(2, 28, 28))


# --------------------------------------------------------------------------- FID Inception

def test_inception_without_package_or_weights_says_what_to_install_and_where(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch_fid", None)  # import fails
    with pytest.raises(ComponentUnavailableError) as info:
        ex.load_inception_v3(torch.device("cpu"), None)
    message = str(info.value)
    assert "\n" not in message
    assert "pip install pytorch-fid" in message
    assert ex.INCEPTION_FILE in message and ex.INCEPTION_URL in message
    assert str(cache / "weights") in message
    assert info.value.exit_code == 4


def _fake_pytorch_fid(monkeypatch) -> None:
    """A stand-in for pytorch_fid.inception with torchvision's (unpatched) Inception blocks."""
    from torchvision.models import inception as tv

    package = types.ModuleType("pytorch_fid")
    blocks = types.ModuleType("pytorch_fid.inception")
    blocks.FIDInceptionA, blocks.FIDInceptionC = tv.InceptionA, tv.InceptionC
    blocks.FIDInceptionE_1 = blocks.FIDInceptionE_2 = tv.InceptionE
    package.inception = blocks
    monkeypatch.setitem(sys.modules, "pytorch_fid", package)
    monkeypatch.setitem(sys.modules, "pytorch_fid.inception", blocks)


def test_inception_with_the_package_but_no_weights_names_only_the_file(cache, monkeypatch):
    _fake_pytorch_fid(monkeypatch)
    with pytest.raises(ComponentUnavailableError) as info:
        ex.load_inception("cpu")
    assert "pip install" not in str(info.value) and ex.INCEPTION_FILE in str(info.value)


def test_inception_loads_a_weights_file_and_gives_pool3_features(cache, monkeypatch):
    _fake_pytorch_fid(monkeypatch)
    torch.manual_seed(0)
    state = ex.FIDInception(sys.modules["pytorch_fid.inception"]).net.state_dict()
    weights = cache / "weights" / ex.INCEPTION_FILE
    weights.parent.mkdir(parents=True)
    torch.save(state, weights)
    with pytest.raises(CheckpointError, match="sha256"):  # not the published file
        ex.load_inception("cpu")
    monkeypatch.setattr(ex, "INCEPTION_SHA256_PREFIX", ex.sha256_file(weights)[:8])
    extractor = ex.load_inception("cpu")
    assert (extractor.feature_dim, extractor.num_classes) == (2048, 1008) and "299" in extractor.resize
    x = images(2, channels=1, size=32)
    features = extractor.features(x)
    assert features.shape == (2, 2048) and (features >= 0).all()
    torch.testing.assert_close(features, extractor.features(x.expand(-1, 3, -1, -1)))
    assert extractor.logits(x).shape == (2, 1008)
    weights.unlink()  # ~100 MB; pytest keeps recent temporary folders


# --------------------------------------------------------------------------- real MNIST

@pytest.mark.slow
@needs_real_mnist
def test_real_mnist_classifier_reaches_99_percent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(tmp_path / "real-cache"))
    before = sorted(p.name for p in (REAL / "MNIST").rglob("*"))
    extractor = ex.load_mnist_classifier(torch.device("cpu"), REAL)
    assert "training" in capsys.readouterr().err
    assert extractor.info["test_accuracy"] >= 0.99
    assert sorted(p.name for p in (REAL / "MNIST").rglob("*")) == before
    from ganzoo.kinds.image import to_model_range
    from ganzoo.datasets import load_mnist

    test = load_mnist(REAL, "test")
    predicted = extractor.logits(to_model_range(test.images)).argmax(dim=1)
    assert (predicted == test.labels).float().mean().item() >= 0.99


def test_a_cached_classifier_of_another_shape_is_refused_in_one_line(tmp_path):
    """The cache is intact (sha256, metadata, accuracy) but holds other layers: loading it into the
    network says so, and how to retrain, instead of a state-dict traceback."""
    from ganzoo.errors import CheckpointError
    from ganzoo.metrics.extractors import read_cached_extractor, write_cached_extractor

    weights, info_file = tmp_path / "c.safetensors", tmp_path / "c.json"
    write_cached_extractor(weights, info_file, {"weight": torch.zeros(3, 2)}, {"format": "f"}, {"test_accuracy": 1.0})
    tensors, info, _ = read_cached_extractor(weights, info_file, name="c", expect={"format": "f"}, what="f",
                                             min_accuracy=0.5)
    assert tensors["weight"].shape == (3, 2) and info["test_accuracy"] == 1.0
    with pytest.raises(CheckpointError, match=r"c.safetensors does not fit tiny-linear \(.*\); delete .* to retrain"):
        read_cached_extractor(weights, info_file, name="c", expect={"format": "f"}, what="f", min_accuracy=0.5,
                              into=torch.nn.Linear(4, 4), architecture="tiny-linear")
