"""Feature extractors for metrics: small MNIST / Fashion-MNIST classifiers and FID Inception-v3.

An :class:`Extractor` turns images in the model range ([-1, 1], ``[N, C, H, W]``, C 1 or 3,
any size) into features (``[N, D]`` float32) and, for classifiers, logits.

* ``mnist-classifier`` / ``fashion-mnist-classifier``: a small CNN that ganzoo trains on
  first use (about a minute on a laptop CPU) and caches in ``cache_dir()/extractors/`` as
  ``<name>.safetensors`` (weights) plus ``<name>.json`` (sha256, test accuracy, seed...).
  Loading checks the sha256 and reads safetensors only (no pickle).
* ``inception-v3``: the standard FID Inception-v3 (pool3, 2048-d) of pytorch-fid / TTUR.
  Nothing is downloaded: it needs the optional package ``pytorch-fid`` and the weights file
  ``pt_inception-2015-12-05-6726825d.pth`` placed in ``cache_dir()/weights/``.

The cache is ``$GANZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganzoo`` (``~/.cache/ganzoo``);
nothing is ever written beside the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..datasets.common import default_data_dir
from ..kinds import kind_of
from ..kinds.image import to_model_range
from ..errors import CheckpointError, ComponentUnavailableError, ConfigError, GanzooError
from ..settings import CACHE_DIR_ENV
from ..settings import cache_dir as _settings_cache_dir

EXTRACTORS_DIR = "extractors"
WEIGHTS_DIR = "weights"
FORMAT = "ganzoo-extractor"
FORMAT_VERSION = "1"
ARCHITECTURE = "small-cnn-v1"

CLASSIFIERS = {"mnist-classifier": "mnist", "fashion-mnist-classifier": "fashion-mnist"}
"""Classifier name -> the dataset it is trained on."""

MIN_ACCURACY = {"mnist": 0.99, "fashion-mnist": 0.90}
"""Test accuracy a classifier must reach to be cached (and to be loaded from the cache)."""

EPOCHS = 3
BATCH_SIZE = 128
MAX_LR = 3e-3
INPUT_SIZE = 28
FEATURE_DIM = 128
NUM_CLASSES = 10
CLASSIFIER_RESIZE = "RGB->mean gray, then bilinear-antialias to 28x28 (aspect not kept)"

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 + INCEPTION_FILE)
INCEPTION_SHA256_PREFIX = "6726825d"
"""The sha256 prefix in the file's name (torch.hub's naming convention); checked on load."""
INCEPTION_SIZE = 299
INCEPTION_RESIZE = ("gray->RGB by repeating the channel, then bilinear to 299x299 "
                    "(align_corners=False, no antialias, as pytorch-fid)")


def cache_dir() -> Path:
    """``$GANZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganzoo`` (``~/.cache/ganzoo``); see
    :func:`ganzoo.settings.cache_dir`."""
    return _settings_cache_dir()


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the extractor

class Extractor:
    """A frozen network that maps images in [-1, 1] to features (and logits, if a classifier).

    Attributes:
        name: the extractor's registered name.
        sha256: hex sha256 of the weights file it was loaded from.
        feature_dim: ``D``, the width of :meth:`features`.
        resize: how inputs of other sizes / channel counts are brought to the network's input.
        num_classes: ``K`` of :meth:`logits`, or ``None`` when it is not a classifier.
        device: where the network runs.
        info: what is known about the weights (e.g. test accuracy, seed), may be empty.

    The network must have ``features(x) -> [B, D]`` and, for classifiers, ``head(f) -> [B, K]``;
    ``prepare`` converts a batch in [-1, 1] (any C in {1, 3}, any size) to the network's input.

    An extractor of another ``kind`` (``"audio"``, ``"video"``, ``"tokens"``) takes batches
    of that field kind in the model's range (audio ``[N, C, T]``, video ``[N, C, T, H, W]``);
    its ``prepare`` checks and converts them, and ``features`` may return more rows than
    clips (a video extractor's per-frame features: a frame-level FID).
    """

    def __init__(self, name: str, network: nn.Module, *, sha256: str, feature_dim: int, resize: str,
                 prepare: Callable[[torch.Tensor], torch.Tensor], num_classes: int | None = None,
                 device: str | torch.device = "cpu", info: dict[str, Any] | None = None,
                 kind: str = "image") -> None:
        self.name = name
        self.kind = kind
        self.sha256 = sha256
        self.feature_dim = feature_dim
        self.resize = resize
        self.num_classes = num_classes
        self.device = torch.device(device)
        self.info = dict(info or {})
        self._prepare = prepare
        self.network = network.to(self.device).eval()
        for param in self.network.parameters():
            param.requires_grad_(False)

    def __repr__(self) -> str:
        return (f"Extractor({self.name!r}, feature_dim={self.feature_dim}, "
                f"num_classes={self.num_classes}, device={str(self.device)!r}, sha256={self.sha256[:12]}...)")

    def features(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Features ``[N, D]`` float32 of images in [-1, 1] ``[N, C, H, W]``, on the images' device."""
        return self._run(images, batch_size, logits=False)

    def logits(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Class logits ``[N, K]`` float32 of images in [-1, 1] ``[N, C, H, W]``, on the images' device."""
        if self.num_classes is None:
            raise ConfigError(f"extractor {self.name} is not a classifier (it has no logits)")
        return self._run(images, batch_size, logits=True)

    def _run(self, images: torch.Tensor, batch_size: int, logits: bool) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            raise ConfigError(f"extractor {self.name} takes a tensor, got {type(images).__name__}")
        problem = kind_of(self.kind).check_batch(images)
        if problem:
            raise ConfigError(f"extractor {self.name} takes {problem}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        width = self.num_classes if logits else self.feature_dim
        self.network.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                x = images[start:start + batch_size].to(self.device)
                x = x.float() if x.is_floating_point() else x
                y = self.network.features(self._prepare(x))
                if logits:
                    y = self.network.head(y)
                out.append(y.float().to(images.device))
        if not out:
            return torch.empty(0, width, dtype=torch.float32, device=images.device)
        return torch.cat(out)


# --------------------------------------------------------------------------- small CNN classifier

class SmallCNN(nn.Module):
    """Three 3x3 conv blocks (16-32-64, BN, ReLU; 2x2 max-pool after the first two), then a
    128-d fully connected layer (BN, ReLU): its output are the features; dropout and a linear
    layer give the 10 logits. About 0.43 M parameters, 28x28 grayscale input in [-1, 1]."""

    def __init__(self, num_classes: int = NUM_CLASSES, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, 16), nn.MaxPool2d(2),     # 16 x 14 x 14
            *block(16, 32), nn.MaxPool2d(2),    # 32 x 7 x 7
            *block(32, 64),                     # 64 x 7 x 7
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(64 * 7 * 7, feature_dim, bias=False), nn.BatchNorm1d(feature_dim), nn.ReLU(),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.25), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_classifier_input(x: torch.Tensor) -> torch.Tensor:
    """A batch in [-1, 1] (1 or 3 channels, any size) as ``[B, 1, 28, 28]`` (see CLASSIFIER_RESIZE)."""
    if x.shape[1] == 3:
        x = x.mean(dim=1, keepdim=True)
    if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True,
                          align_corners=False)
    return x


def _dataset_of(name: str) -> str:
    if name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier {name!r}; known: {', '.join(CLASSIFIERS)}")
    return CLASSIFIERS[name]


def _name_of(dataset: str) -> str:
    for name, ds in CLASSIFIERS.items():
        if ds == dataset:
            return name
    raise ConfigError(f"no classifier for dataset {dataset!r}; known: {', '.join(CLASSIFIERS.values())}")


def classifier_paths(name: str) -> tuple[Path, Path]:
    """``(weights .safetensors, info .json)`` of a cached classifier."""
    folder = cache_dir() / EXTRACTORS_DIR
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def fit_one_cycle(net: nn.Module, n: int, batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor], *,
                  epochs: int, batch_size: int, max_lr: float, seed: int) -> float:
    """Train ``net`` the way ganzoo trains every classifier it caches: Adam with a one-cycle
    learning rate (peak ``max_lr``), ``epochs`` passes over ``n`` items in batches of
    ``batch_size`` (the last partial batch of an epoch dropped), a fresh permutation each epoch
    from a generator seeded by ``seed``.

    Args:
        batch_loss: ``batch_loss(index, generator)`` -> the loss of the items ``index`` (int64,
            on the CPU); ``generator`` is the ordering one, for augmentation drawn from the seed.

    Returns:
        The seconds it took (CUDA synchronised).

    Example::

        fit_one_cycle(net, len(x), lambda i, g: F.cross_entropy(net(x[i]), y[i]),
                      epochs=3, batch_size=128, max_lr=3e-3, seed=0)
    """
    steps_per_epoch = n // batch_size
    optimizer = torch.optim.Adam(net.parameters(), lr=max_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr,
                                                   total_steps=max(1, epochs * steps_per_epoch))
    order = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=order)
        for step in range(steps_per_epoch):
            loss = batch_loss(perm[step * batch_size:(step + 1) * batch_size], order)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    device = next(net.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def write_cached_extractor(weights: Path, info_file: Path, tensors: dict[str, torch.Tensor],
                           meta: dict[str, str], info: dict[str, Any]) -> str:
    """Cache a trained extractor: ``weights`` (safetensors with string ``meta``) and
    ``info_file`` (JSON: ``info`` plus the weights' sha256), each through a temporary file and
    a rename, so a crash never leaves a half-written cache. Returns the sha256.

    Used for every classifier ganzoo trains on first use (MNIST here; FSDD and Moving MNIST in
    their plugins); :func:`read_cached_extractor` reads them back.
    """
    from safetensors.torch import save_file

    from ..files import atomic_write_text

    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    tmp = weights.with_name(f".{weights.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), meta)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        digest = sha256_file(tmp)
        os.replace(tmp, weights)
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write_text(info_file, json.dumps({**info, "sha256": digest}, indent=2) + "\n")
    return digest


def read_cached_extractor(weights: Path, info_file: Path, *, name: str, expect: dict[str, str], what: str,
                          min_accuracy: float, into: torch.nn.Module | None = None,
                          architecture: str = "") -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """Read back what :func:`write_cached_extractor` wrote, checked: the weights' sha256 against
    the JSON's, their metadata against ``expect`` (e.g. format, name, architecture), the
    recorded ``test_accuracy`` against ``min_accuracy``. Safetensors only (no pickle). With
    ``into``, the weights are loaded into that network (of ``architecture``, named in the error).

    Returns:
        ``(tensors, info, sha256)``.

    Raises:
        CheckpointError: one line saying what is wrong and to delete the file to retrain.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    retrain = f"delete {weights} to retrain it"
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
        expected = info["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot read {info_file} ({type(exc).__name__}: {exc}); "
                              f"delete it to retrain {name}") from None
    digest = sha256_file(weights)
    if digest != expected:
        raise CheckpointError(f"{weights} does not match the sha256 recorded in {info_file} "
                              f"(corrupt or modified); {retrain}")
    try:
        with safe_open(str(weights), framework="pt") as handle:
            meta = handle.metadata() or {}
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {weights} ({exc}); {retrain}") from None
    if any(meta.get(key) != value for key, value in expect.items()):
        raise CheckpointError(f"{weights} is not a {what} file; {retrain}")
    try:
        accuracy = float(info.get("test_accuracy", 0.0))
    except (TypeError, ValueError):
        accuracy = 0.0
    if accuracy < min_accuracy:
        raise CheckpointError(f"cached {name} has test accuracy {accuracy:.2%} < {min_accuracy:.2%}; {retrain}")
    if into is not None:
        try:
            into.load_state_dict(tensors)
        except RuntimeError as exc:
            raise CheckpointError(f"{weights} does not fit {architecture or type(into).__name__} "
                                  f"({str(exc).splitlines()[0]}); {retrain}") from None
    return tensors, info, digest


def _check_not_in_data(folder: Path, data_dir: Path) -> None:
    folder, data = folder.expanduser().resolve(), data_dir.expanduser().resolve()
    if folder == data or data in folder.parents:
        raise ConfigError(f"the extractor cache {folder} lies inside the data folder {data}; "
                          f"set ${CACHE_DIR_ENV} to a folder elsewhere")


def _load_split(dataset: str, data_dir: Path, split: str):
    from ..datasets import load_fashion_mnist, load_mnist

    return (load_mnist if dataset == "mnist" else load_fashion_mnist)(data_dir, split)


def _accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), 1000):
            x = to_model_range(images[start:start + 1000].to(device))
            correct += (net(x).argmax(dim=1).cpu() == labels[start:start + 1000]).sum().item()
    return correct / max(1, len(images))


def train_classifier(dataset: str, data_dir: str | Path | None = None, device: str | torch.device = "cpu",
                     seed: int = 0, *, epochs: int = EPOCHS, limit: int | None = None,
                     min_accuracy: float | None = None) -> Path:
    """Train the small CNN on a dataset's train split, test it, and cache it if good enough.

    Recipe: Adam with a one-cycle learning rate (peak 3e-3), batch 128, ``epochs`` epochs,
    dropout 0.25, no augmentation; the seed fixes initialisation, dropout and batch order.

    Args:
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        data_dir: the folder that holds ``MNIST/raw`` / ``FashionMNIST/raw``; default
            :func:`ganzoo.datasets.common.default_data_dir`.
        device: where to train.
        seed: the training seed.
        epochs: passes over the train split.
        limit: use only the first ``limit`` train and test images (for tests).
        min_accuracy: required test accuracy; default :data:`MIN_ACCURACY` of the dataset.

    Returns:
        The cached weights file, ``cache_dir()/extractors/<name>.safetensors`` (written with
        ``<name>.json`` beside it, both through a temporary file and a rename).

    Raises:
        GanzooError: the test accuracy is below ``min_accuracy`` (nothing is cached).
    """
    name = _name_of(dataset)
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    weights, info_file = classifier_paths(name)
    _check_not_in_data(weights.parent, data_dir)
    required = MIN_ACCURACY[dataset] if min_accuracy is None else min_accuracy
    device = torch.device(device)

    train, test = _load_split(dataset, data_dir, "train"), _load_split(dataset, data_dir, "test")
    train_images, train_labels = train.images[:limit], train.labels[:limit]
    test_images, test_labels = test.images[:limit], test.labels[:limit]
    batch_size = min(BATCH_SIZE, len(train_images))

    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        net = SmallCNN().to(device)
        images_dev, labels_dev = train_images.to(device), train_labels.to(device)

        def batch_loss(index: torch.Tensor, _: torch.Generator) -> torch.Tensor:
            index = index.to(device)
            return F.cross_entropy(net(to_model_range(images_dev.index_select(0, index))),
                                   labels_dev.index_select(0, index))

        seconds = fit_one_cycle(net, len(images_dev), batch_loss, epochs=epochs, batch_size=batch_size,
                                max_lr=MAX_LR, seed=seed)
    accuracy = _accuracy(net, test_images, test_labels, device)

    if accuracy < required:
        raise GanzooError(f"{name} reached only {accuracy:.2%} test accuracy on {dataset} after "
                          f"{epochs} epochs (needs >= {required:.2%}); not cached")

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "architecture": ARCHITECTURE,
            "dataset": dataset, "seed": str(seed), "test_accuracy": repr(accuracy)}
    info = {"name": name, "test_accuracy": accuracy, "seed": seed, "dataset": dataset,
            "train_seconds": round(seconds, 2), "epochs": epochs, "train_images": len(train_images),
            "test_images": len(test_images), "architecture": ARCHITECTURE,
            "format_version": FORMAT_VERSION, "device": str(device), "torch": torch.__version__}
    write_cached_extractor(weights, info_file, net.state_dict(), meta, info)
    return weights


def _read_cached(name: str, device: torch.device) -> Extractor:
    weights, info_file = classifier_paths(name)
    net = SmallCNN()
    _, info, digest = read_cached_extractor(
        weights, info_file, name=name, expect={"format": FORMAT, "format_version": FORMAT_VERSION, "name": name},
        what=f"format-{FORMAT_VERSION} {name}", min_accuracy=MIN_ACCURACY[CLASSIFIERS[name]],
        into=net, architecture=ARCHITECTURE)
    return Extractor(name, net, sha256=digest, feature_dim=FEATURE_DIM, resize=CLASSIFIER_RESIZE,
                     prepare=to_classifier_input, num_classes=NUM_CLASSES, device=device, info=info)


def load_classifier(name: str, device: str | torch.device = "cpu",
                    data_dir: str | Path | None = None) -> Extractor:
    """A cached classifier, trained (and cached) first if missing.

    The weights file must match the sha256 in its JSON (else :class:`CheckpointError`: delete
    the file to retrain). Training uses the data in ``data_dir`` (default
    :func:`ganzoo.datasets.common.default_data_dir`) and prints one line to stderr.
    """
    dataset = _dataset_of(name)
    device = torch.device(device)
    weights, info_file = classifier_paths(name)
    if not (weights.is_file() and info_file.is_file()):
        data = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        print(f"ganzoo: training the {name} extractor on {dataset} from {data} (first use, about "
              f"a minute on CPU); caching it in {weights.parent}", file=sys.stderr, flush=True)
        train_classifier(dataset, data, device=device)
    return _read_cached(name, device)


# --------------------------------------------------------------------------- FID Inception-v3

class FIDInception(nn.Module):
    """pytorch-fid's FID Inception-v3 (TF 2015-12-05 weights) up to pool3, plus its 1008-way fc."""

    def __init__(self, blocks: Any) -> None:
        import torchvision

        super().__init__()
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                              init_weights=False)
        net.Mixed_5b = blocks.FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = blocks.FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = blocks.FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = blocks.FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = blocks.FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = blocks.FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = blocks.FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = blocks.FIDInceptionE_1(1280)
        net.Mixed_7c = blocks.FIDInceptionE_2(2048)
        self.net = net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c,
                      n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.fc(features)


def to_inception_input(x: torch.Tensor) -> torch.Tensor:
    """A batch in [-1, 1] as ``[B, 3, 299, 299]`` in [-1, 1] (see INCEPTION_RESIZE)."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)


def load_inception(device: str | torch.device = "cpu", data_dir: str | Path | None = None) -> Extractor:
    """The FID Inception-v3 (pool3 features, 2048-d; logits over its 1008 classes).

    Needs the optional package ``pytorch-fid`` (for its FID Inception blocks) and the weights
    file :data:`INCEPTION_FILE` in ``cache_dir()/weights/``; nothing is downloaded. Features
    equal pytorch-fid's ``InceptionV3([3])`` on the same images mapped to [0, 1].
    """
    weights = cache_dir() / WEIGHTS_DIR / INCEPTION_FILE
    try:
        from pytorch_fid import inception as blocks
    except ImportError:
        blocks = None
    missing = []
    if blocks is None:
        missing.append("install the package pytorch-fid (pip install pytorch-fid)")
    if not weights.is_file():
        missing.append(f"place {INCEPTION_FILE} (from {INCEPTION_URL}) in {weights.parent}/")
    if missing:
        raise ComponentUnavailableError("the FID Inception-v3 extractor is unavailable: "
                                        + " and ".join(missing))
    digest = sha256_file(weights)
    if not digest.startswith(INCEPTION_SHA256_PREFIX):
        raise CheckpointError(f"{weights} has sha256 {digest[:16]}..., not {INCEPTION_SHA256_PREFIX}... as "
                              f"its name says (corrupt or a different file); delete it and download it "
                              f"again from {INCEPTION_URL}")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net = FIDInception(blocks)
        net.net.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - unpickling refused, truncated file, wrong keys...
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise CheckpointError(f"cannot load {weights}: {reason}") from None
    return Extractor("inception-v3", net, sha256=digest, feature_dim=2048, resize=INCEPTION_RESIZE,
                     prepare=to_inception_input, num_classes=1008, device=device,
                     info={"source": INCEPTION_URL})


# --------------------------------------------------------------------------- ExtractorSpec.load

def load_mnist_classifier(device: str | torch.device = "cpu", data_dir: str | Path | None = None) -> Extractor:
    """``mnist-classifier`` (trained on first use)."""
    return load_classifier("mnist-classifier", device, data_dir)


def load_fashion_mnist_classifier(device: str | torch.device = "cpu",
                                  data_dir: str | Path | None = None) -> Extractor:
    """``fashion-mnist-classifier`` (trained on first use)."""
    return load_classifier("fashion-mnist-classifier", device, data_dir)


def load_inception_v3(device: str | torch.device = "cpu", data_dir: str | Path | None = None) -> Extractor:
    """``inception-v3`` (FID Inception; needs pytorch-fid and its weights file)."""
    return load_inception(device, data_dir)
