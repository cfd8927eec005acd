"""MNIST and Fashion-MNIST: the IDX files read directly, torchvision's readers to unpack or
download them, offline first.

The unpacked files (``<root>/<Name>/raw/train-images-idx3-ubyte``, ...) are read here
without importing torchvision (its import costs a training run about 1.5 s of start-up);
torchvision's dataset classes handle the rest: unpacking the ``.gz`` originals, downloading.
"""

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


_IDX_TYPES = {0x08: torch.uint8}


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """One uncompressed IDX file (big-endian header: two zero bytes, a type code, the
    number of dimensions, then each size as int32) as a tensor; unsigned bytes only, as
    in MNIST's files. A short, long or malformed file raises DataUnavailableError."""
    raw = Path(path).read_bytes()
    if len(raw) < 4 + 4 * ndim or raw[0] or raw[1] or raw[2] not in _IDX_TYPES or raw[3] != ndim:
        raise DataUnavailableError(f"{path} is not an IDX file of {ndim} dimension(s) of unsigned bytes")
    sizes = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    count = 1
    for size in sizes:
        count *= size
    if len(raw) - start != count:
        raise DataUnavailableError(f"{path} holds {len(raw) - start} bytes of data; its header says {count} "
                                   f"({'x'.join(map(str, sizes))}): the file is truncated or damaged")
    return torch.frombuffer(bytearray(raw[start:]), dtype=_IDX_TYPES[raw[2]]).view(*sizes)


def _read_unpacked(folder_name: str, data_dir: Path, split: str, num_classes: int) -> ImageData | None:
    """The split's unpacked IDX files when both are there (else None: torchvision's turn)."""
    raw = Path(data_dir).expanduser() / folder_name / "raw"
    prefix = "train" if split == "train" else "t10k"
    images_file, labels_file = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    if split not in ("train", "test") or not (images_file.is_file() and labels_file.is_file()):
        return None
    images, labels = read_idx(images_file, 3), read_idx(labels_file, 1)
    if len(images) != len(labels):
        raise DataUnavailableError(f"{images_file} holds {len(images)} images but {labels_file} "
                                   f"{len(labels)} labels")
    return ImageData(images=images.unsqueeze(1).contiguous(), labels=labels.to(torch.int64),
                     num_classes=num_classes)


def _load(folder_name: str, data_dir: Path, split: str, num_classes: int) -> ImageData:
    _check_data_dir(Path(data_dir).expanduser())
    data = _read_unpacked(folder_name, data_dir, split, num_classes)
    if data is not None:
        return data
    import torchvision.datasets

    return _torchvision_idx(getattr(torchvision.datasets, folder_name), folder_name, data_dir, split, num_classes)


def load_mnist(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """MNIST: the unpacked IDX files, else torchvision's reader (downloading only when the
    files are missing)."""
    return _load("MNIST", data_dir, split, 10)


def load_fashion_mnist(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """Fashion-MNIST: the unpacked IDX files, else torchvision's reader."""
    return _load("FashionMNIST", data_dir, split, 10)
