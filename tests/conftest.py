"""Shared fixtures: in-process plugins, a CLI runner, and tiny MNIST-format IDX files."""

from __future__ import annotations

import struct
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from safetensors.torch import load_file

from ganzoo.cli import create_app
from ganzoo.config import resolve_config
from ganzoo.data import DataShape
from ganzoo.networks import Networks
from ganzoo.plugins.manager import ENTRY_POINT_GROUP, PluginManager, set_plugin_manager
from ganzoo.plugins.build import build_networks
from ganzoo.training import checkpoint as ckpt

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def write_idx(folder: Path, images: np.ndarray, labels: np.ndarray, split: str) -> None:
    """Write images [N, 28, 28] uint8 and labels [N] as MNIST's big-endian IDX files."""
    image_file, label_file = MNIST_FILES[split]
    n, h, w = images.shape
    (folder / image_file).write_bytes(struct.pack(">IIII", 0x803, n, h, w) + images.astype(np.uint8).tobytes())
    (folder / label_file).write_bytes(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())


def make_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 images: a bright square whose position encodes the label 0..9."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 30, size=(n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        images[i, 4 + row * 10: 12 + row * 10, 2 + col * 5: 7 + col * 5] = 255
    return images, labels


FSDD_SPEAKERS = ("george", "lucas")
FSDD_INDICES = range(7)
"""The tiny FSDD: 2 speakers x 10 digits x recordings 0-6 (0-4 test, 5-6 train)."""


def write_fsdd(root: Path, rate: int = 8000) -> Path:
    """Write a tiny Free Spoken Digit Dataset in its layout, ``FSDD/recordings/{digit}_{speaker}_{index}.wav``:
    16-bit mono WAVs at ``rate`` Hz, each a tone whose pitch encodes the digit (300 + 100 * digit Hz),
    of 0.1-0.25 s (shorter than a second, as the real recordings are trimmed of silence)."""
    import soundfile

    folder = root / "FSDD" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for digit in range(10):
        for s, speaker in enumerate(FSDD_SPEAKERS):
            for index in FSDD_INDICES:
                n = int(rate * (0.1 + 0.025 * ((index + s) % 7)))
                t = np.arange(n) / rate
                wave = 0.4 * np.sin(2 * np.pi * (300 + 100 * digit) * t) + 0.01 * rng.standard_normal(n)
                soundfile.write(str(folder / f"{digit}_{speaker}_{index}.wav"), wave.astype(np.float32), rate,
                                subtype="PCM_16")
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder holding tiny MNIST files (64 train, 16 test) in torchvision's layout and a
    tiny FSDD (:func:`write_fsdd`: 40 train, 100 test recordings)."""
    root = tmp_path / "data"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw, *make_digits(64, seed=0), split="train")
    write_idx(raw, *make_digits(16, seed=1), split="test")
    write_fsdd(root)
    return root


def builtin_plugins() -> dict[str, ModuleType]:
    """``{name: module}`` of the plugins the ``ganzoo`` distribution declares in its ``ganzoo``
    entry points (pyproject.toml's ``[project.entry-points.ganzoo]``, as installed), imported and
    sorted by name as :meth:`PluginManager.load_entry_points` loads them."""
    entry_points = [ep for ep in metadata.distribution("ganzoo").entry_points if ep.group == ENTRY_POINT_GROUP]
    return {ep.name: ep.load() for ep in sorted(entry_points, key=lambda ep: ep.name)}


BUILTIN_PLUGINS = builtin_plugins()
"""The built-in plugins (test_cli checks them against pyproject.toml and the installed CLI)."""


def register_builtins(manager: PluginManager) -> PluginManager:
    """Register the built-in plugins in-process, under their entry-point names."""
    for name, module in BUILTIN_PLUGINS.items():
        manager.register(module, name=name)
    return manager


@pytest.fixture
def manager() -> PluginManager:
    """The built-in plugins registered in-process (the modules the entry points name; the
    entry points themselves are not loaded, so no third-party plugin of this environment joins)."""
    warnings: list[str] = []
    m = register_builtins(PluginManager(entry_points=False, warn=warnings.append))
    m.warnings = warnings
    set_plugin_manager(m)
    yield m
    set_plugin_manager(None)


@pytest.fixture
def cli(manager):
    """Run the CLI in-process: ``cli("list", "--json")`` returns typer's Result."""
    runner = CliRunner()
    app = create_app(manager)

    def invoke(*args: str, **kwargs):
        return runner.invoke(app, list(args), **kwargs)

    return invoke


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test touches the network, the user's cache or a real data folder."""
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    # curves.png costs about a second a run, hundreds of times here; the tests of curves (test_report)
    # and the exact-resume test (test_resume) draw them
    monkeypatch.setenv("GANZOO_NO_CURVES", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GANZOO_DATA_DIR", raising=False)
    monkeypatch.delenv("GANZOO_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("GANZOO_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("GANZOO_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)


TINY = ["--steps", "3", "--batch-size", "8", "--set", "arch.ngf=8", "--set", "arch.ndf=8",
        "--set", "arch.latent_dim=16", "--device", "cpu"]
"""Flags for a DCGAN small enough to train in a second."""


# --- tiny networks of the fully connected and DCGAN-backbone models --------------------

TINY_WIDTHS = {"hidden": 32, "depth": 2, "ngf": 8, "ndf": 8, "latent_dim": 16}
"""Widths small enough to build the fully connected and DCGAN-backbone models fast."""


def tiny_arch(registry, model: str) -> dict:
    """:data:`TINY_WIDTHS` for the options ``model``'s architecture has."""
    fields = registry.get("model", model).spec.config_class.model_fields
    return {key: value for key, value in TINY_WIDTHS.items() if key in fields}

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)

# --- every family small enough for a few seconds of training ------------------------------

BUILTINS = register_builtins(PluginManager(entry_points=False, warn=lambda line: None)).registry
"""The built-in plugins' registry (for parametrizing over every family)."""

SMALL_WIDTHS = {"ngf": 8, "ndf": 8, "latent_dim": 16, "hidden": 32, "n_blocks": 1}
"""Widths a family gets for the options its architecture has (``--set arch.KEY=VALUE``)."""

FAMILY_FLAGS = {  # chosen: the families that need more than their small widths, and why
    "vqgan": ["--set", "algo.disc_start=20"],  # the GAN phase starts mid-run
    "wavegan": ["--dataset", "fsdd-8k", "--set", "n_critic=2"],
    "vgan": ["--image-size", "16"],  # 16 px clips of 16 frames
    # the MLE phase ends mid-run; a text folder of its own (the oracle costs seconds per process)
    "relgan": ["--dataset", "text-folder", "--set", "arch.hidden=16", "--set", "arch.d_fc=16",
               "--set", "n_critic=2", "--set", "algo.pretrain_steps=110"],
}
"""Flags some families need besides their small widths (later flags win): their own data, or
settings that bring their own state within 150 steps (ProGAN's phases of 21 steps, fades
included, come from the step count alone)."""

SENTENCES = [f"the {a} {b} sat on the {c} ." for a in ("red", "big", "old", "wet") for b in ("cat", "dog", "fox")
             for c in ("mat", "log", "rug", "hat")]
"""The text families' corpus: 48 sentences of 7 tokens (``DATA/sentences.txt``)."""


def family_flags(model: str, data_dir: Path) -> list[str]:
    """Flags that train built-in ``model`` small and fast on the :func:`data_dir` fixture's data
    (writing the text corpus there when the model reads one)."""
    fields = BUILTINS.get("model", model).spec.config_class.model_fields
    widths = [flag for key, value in SMALL_WIDTHS.items() if key in fields for flag in ("--set", f"arch.{key}={value}")]
    extra = FAMILY_FLAGS.get(model, [])
    if "text-folder" in extra:
        (data_dir / "sentences.txt").write_text("\n".join(SENTENCES * 3) + "\n")
    return [*widths, *extra]


def build_tiny(manager: PluginManager, model: str, shape: DataShape, **arch) -> Networks:
    """``model``'s networks for ``shape`` through its registered spec (``resolve_config`` +
    ``build_networks``, which also runs the core's contract check), at :data:`TINY_WIDTHS`
    unless ``arch`` says otherwise."""
    arch = {**tiny_arch(manager.registry, model), **arch}
    cfg = resolve_config(manager.registry, model, flags={"arch": arch, "device": "cpu"})
    return build_networks(manager.registry, cfg, shape, torch.device("cpu"))


def has(module: nn.Module, *types: type) -> bool:
    """Whether ``module`` holds a layer of one of ``types``."""
    return any(isinstance(m, types) for m in module.modules())


def batch_independent(d: nn.Module, shape: tuple[int, ...]) -> bool:
    """In train mode, is each sample's score independent of the rest of its batch?"""
    d.train()
    x = torch.randn(6, *shape)
    with torch.no_grad():
        return torch.allclose(d(x)[:2], d(x[:2]), atol=1e-5)


# --- comparing runs ---------------------------------------------------------------------

def final_state(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Every tensor file of the run's latest checkpoint: ``{file name: {key: tensor}}``."""
    folder = ckpt.resolve_checkpoint(run_dir)
    names = sorted(p.name for p in folder.glob("*.safetensors"))
    assert ckpt.STATE_FILE in names, names
    return {name: load_file(str(folder / name)) for name in names}


def assert_bitwise_equal(a: dict, b: dict) -> None:
    """Two :func:`final_state` results hold the same files, keys and tensors, bit for bit."""
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].keys() == b[name].keys(), name
        different = [k for k in a[name] if not torch.equal(a[name][k], b[name][k])]
        assert not different, f"{name}: {different[:5]}"
