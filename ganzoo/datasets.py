"""Loaders for the built-in datasets (registered in :mod:`ganzoo.builtins`)."""

from __future__ import annotations

from pathlib import Path

import torch

from .data import ImageData
from .errors import DataUnavailableError
from .settings import env_flag

OFFLINE_ENV = "GANZOO_OFFLINE"


def _torchvision_idx(dataset_class, folder_name: str, data_dir: Path, split: str,
                     num_classes: int) -> ImageData:
    """Read one of torchvision's IDX datasets (MNIST layout: ``<root>/<Name>/raw/``)."""
    if split not in ("train", "test"):
        raise DataUnavailableError(f"unknown split {split!r} for {folder_name}; use train or test")
    data_dir = Path(data_dir).expanduser()
    train = split == "train"
    raw = data_dir / folder_name / "raw"
    try:
        ds = dataset_class(root=str(data_dir), train=train, download=False)
    except RuntimeError:
        ds = None
    originals_present = all((raw / name).is_file() for name, _ in dataset_class.resources)
    if ds is None and (originals_present or not env_flag(OFFLINE_ENV)):
        # With the four .gz originals present torchvision only checks and unpacks them.
        before = _existing(data_dir, raw)
        try:
            ds = dataset_class(root=str(data_dir), train=train, download=True)
        except Exception:  # noqa: BLE001 - no network, read-only folder, bad checksum...
            _remove_new(data_dir, raw, before)
            ds = None
    if ds is None:
        files = ", ".join(name.removesuffix(".gz") for name, _ in dataset_class.resources)
        raise DataUnavailableError(
            f"{folder_name} files not found and could not be downloaded; place {files} "
            f"(or their .gz originals) in {raw}, or point --data-dir / $GANZOO_DATA_DIR "
            f"at the folder that holds {folder_name}/raw/"
        )
    images = ds.data.unsqueeze(1).contiguous()  # [N, 1, 28, 28] uint8
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return ImageData(images=images, labels=labels, num_classes=num_classes)


def _existing(data_dir: Path, raw: Path) -> set[Path]:
    paths = {p for p in (raw, *raw.parents) if p.exists()}
    return paths | (set(raw.iterdir()) if raw.is_dir() else set())


def _remove_new(data_dir: Path, raw: Path, before: set[Path]) -> None:
    """Undo what a failed download left behind: new files, then new empty folders."""
    if raw.is_dir():
        for path in raw.iterdir():
            if path not in before and path.is_file():
                path.unlink(missing_ok=True)
    for folder in (raw, *raw.parents):
        if folder in before:
            break
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def load_mnist(data_dir: Path, split: str = "train") -> ImageData:
    """MNIST through torchvision's reader (downloading only when the files are missing)."""
    from torchvision.datasets import MNIST

    return _torchvision_idx(MNIST, "MNIST", data_dir, split, 10)


def load_fashion_mnist(data_dir: Path, split: str = "train") -> ImageData:
    """Fashion-MNIST through torchvision's reader."""
    from torchvision.datasets import FashionMNIST

    return _torchvision_idx(FashionMNIST, "FashionMNIST", data_dir, split, 10)
