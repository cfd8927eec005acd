"""MNIST and Fashion-MNIST: torchvision's IDX readers, offline first."""

from __future__ import annotations

from pathlib import Path

import torch

from ..data import ImageData
from ..errors import DataUnavailableError
from ..settings import env_flag
from .common import OFFLINE_ENV, _check_data_dir, _existing, _remove_new


def _torchvision_idx(dataset_class, folder_name: str, data_dir: Path, split: str,
                     num_classes: int) -> ImageData:
    """Read one of torchvision's IDX datasets (MNIST layout: ``<root>/<Name>/raw/``)."""
    if split not in ("train", "test"):
        raise DataUnavailableError(f"unknown split {split!r} for {folder_name}; use train or test")
    data_dir = Path(data_dir).expanduser()
    _check_data_dir(data_dir)
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
        except BaseException as exc:  # no network, read-only folder, bad checksum, full disk, Ctrl-C...
            _remove_new(data_dir, raw, before)
            if not isinstance(exc, Exception):
                raise  # Ctrl-C: the partial files are gone; stop as asked
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


def load_mnist(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """MNIST through torchvision's reader (downloading only when the files are missing)."""
    from torchvision.datasets import MNIST

    return _torchvision_idx(MNIST, "MNIST", data_dir, split, 10)


def load_fashion_mnist(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """Fashion-MNIST through torchvision's reader."""
    from torchvision.datasets import FashionMNIST

    return _torchvision_idx(FashionMNIST, "FashionMNIST", data_dir, split, 10)
