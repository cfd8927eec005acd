"""CIFAR-10: torchvision's reader, offline first."""

from __future__ import annotations

from pathlib import Path

import torch

from ..data import ImageData
from ..errors import DataUnavailableError
from ..settings import env_flag
from .common import OFFLINE_ENV, _check_data_dir, _check_split, _existing, _remove_new


def load_cifar10(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """CIFAR-10 (3x32x32, 10 classes) through torchvision's reader.

    Reads ``<data_dir>/cifar-10-batches-py/`` (torchvision's layout). When it is missing,
    torchvision unpacks ``<data_dir>/cifar-10-python.tar.gz`` if that is there (offline), or
    downloads it unless ``$GANZOO_OFFLINE`` is set. A failed download leaves nothing behind.
    """
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    _check_split(split, "cifar10")
    data_dir = Path(data_dir).expanduser()
    _check_data_dir(data_dir)
    train = split == "train"
    folder = data_dir / CIFAR10.base_folder
    archive = data_dir / CIFAR10.filename
    try:
        ds = CIFAR10(root=str(data_dir), train=train, download=False)
    except RuntimeError:
        ds = None
    archive_present = archive.is_file()
    if ds is None and (not env_flag(OFFLINE_ENV)
                       or (archive_present and check_integrity(str(archive), CIFAR10.tgz_md5))):
        # With a good archive present torchvision only checks its md5 and unpacks it.
        before = _existing(data_dir, folder) | ({archive} if archive_present else set())
        try:
            ds = CIFAR10(root=str(data_dir), train=train, download=True)
        except BaseException as exc:  # no network, read-only folder, bad checksum, full disk, Ctrl-C...
            if not archive_present:
                archive.unlink(missing_ok=True)
            _remove_new(data_dir, folder, before)
            if not isinstance(exc, Exception):
                raise  # Ctrl-C: the partial files are gone; stop as asked
            ds = None
    if ds is None:
        names = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
        raise DataUnavailableError(
            f"CIFAR-10 files missing or corrupt and could not be downloaded; place "
            f"{', '.join(names)} in {folder} (or {CIFAR10.filename} in {data_dir}), or point "
            f"--data-dir / $GANZOO_DATA_DIR at the folder that holds {CIFAR10.base_folder}/"
        )
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # [N, 3, 32, 32] uint8
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return ImageData(images=images, labels=labels, num_classes=10)
