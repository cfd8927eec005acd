"""Loaders for the built-in datasets (registered in :mod:`ganzoo.builtins`)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from .data import ImageData, PointData
from .errors import ConfigError, DataUnavailableError
from .settings import env_flag

OFFLINE_ENV = "GANZOO_OFFLINE"


def _check_data_dir(data_dir: Path) -> None:
    """Refuse a ``--data-dir`` that exists but is not a folder, or cannot even be looked at."""
    try:
        is_file = data_dir.exists() and not data_dir.is_dir()
    except OSError as exc:  # a name too long, a loop of links, no permission on a parent...
        raise DataUnavailableError(f"cannot use data folder {data_dir}: {exc.strerror or exc}") from None
    if is_file:
        raise DataUnavailableError(f"data folder {data_dir} is not a folder; point --data-dir / "
                                   f"$GANZOO_DATA_DIR at a folder")


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


def load_mnist(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """MNIST through torchvision's reader (downloading only when the files are missing)."""
    from torchvision.datasets import MNIST

    return _torchvision_idx(MNIST, "MNIST", data_dir, split, 10)


def load_fashion_mnist(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """Fashion-MNIST through torchvision's reader."""
    from torchvision.datasets import FashionMNIST

    return _torchvision_idx(FashionMNIST, "FashionMNIST", data_dir, split, 10)


def _check_split(split: str, name: str) -> None:
    if split not in ("train", "test"):
        raise DataUnavailableError(f"unknown split {split!r} for {name}; use train or test")


# --------------------------------------------------------------------------- CIFAR-10

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


# --------------------------------------------------------------------------- image folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
"""File endings (any case) that an image folder is searched for."""

FOLDER_IMAGE_SIZE = 64
"""The image size of an image folder when none is asked for (the registered spec's image_size)."""

GRAYSCALE_MODES = ("L", "1")
"""PIL modes kept as one channel when every image in a folder has one of them."""


def find_images(folder: Path) -> list[Path]:
    """Every image under ``folder`` (recursive, following links once), sorted by relative path.

    Hidden files and folders (names starting with ``.``) are skipped.
    """
    found: list[Path] = []
    seen: set[str] = set()

    def fail(exc: OSError) -> None:
        raise DataUnavailableError(f"cannot read folder {exc.filename}: {exc.strerror or exc}")

    for root, dirs, files in os.walk(folder, onerror=fail, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back to a folder already walked
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root, f) for f in files
                  if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def _read_image(path: Path, size: int):
    """One image as ``(uint8 array [S, S] or [S, S, 3], grayscale?)``: short side resized to
    ``size`` (bilinear, antialiased), centre-cropped."""
    import numpy as np
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    try:
        with Image.open(path) as img:
            img.draft(None, (size, size))  # JPEG: decode at a reduced scale, never below size
            gray = img.mode in GRAYSCALE_MODES
            img = img.convert("L" if gray else "RGB")
        img = TF.center_crop(TF.resize(img, size, interpolation=TF.InterpolationMode.BILINEAR,
                                       antialias=True), [size, size])
        return np.asarray(img, dtype=np.uint8), gray
    except Exception as exc:  # noqa: BLE001 - any failure to decode is an unreadable file
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"cannot read image {path}: {reason}") from None


def load_image_folder(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """Every image in a folder (``data_dir`` itself), as one uint8 tensor ``[N, C, S, S]``.

    Images are found recursively (:data:`IMAGE_EXTENSIONS`), in sorted order. When every
    image lies inside a first-level subfolder, the sorted names of those subfolders are the
    classes (only subfolders holding images count); otherwise the data is unlabelled.
    Each image is resized so its short side is ``image_size`` (default
    :data:`FOLDER_IMAGE_SIZE`) and centre-cropped. Images are RGB, or one channel when every
    image is grayscale. Both splits read the same folder. Nothing is written.
    """
    import numpy as np

    _check_split(split, "image-folder")
    folder = Path(data_dir).expanduser()
    size = image_size or FOLDER_IMAGE_SIZE
    try:
        exists, is_dir = folder.exists(), folder.is_dir()
    except OSError as exc:  # a name too long, a loop of links...
        raise DataUnavailableError(f"cannot use image folder {folder}: {exc.strerror or exc}") from None
    if not exists:
        raise DataUnavailableError(f"image folder {folder} does not exist; "
                                   f"pass the folder of images as --data-dir")
    if not is_dir:
        raise DataUnavailableError(f"{folder} is not a folder; pass the folder of images as --data-dir")
    paths = find_images(folder)
    if not paths:
        raise DataUnavailableError(f"no images found in {folder} (looked recursively for "
                                   f"{', '.join(IMAGE_EXTENSIONS)} files)")

    arrays, grays = zip(*(_read_image(path, size) for path in paths))
    if all(grays):
        images = torch.from_numpy(np.stack(arrays)).unsqueeze(1)
    else:
        rgb = [np.repeat(a[:, :, None], 3, axis=2) if g else a for a, g in zip(arrays, grays)]
        images = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).contiguous()

    parts = [path.relative_to(folder).parts for path in paths]
    if all(len(p) > 1 for p in parts):
        classes = sorted({p[0] for p in parts})
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index[p[0]] for p in parts], dtype=torch.int64)
        return ImageData(images=images, labels=labels, num_classes=len(classes))
    return ImageData(images=images)


# --------------------------------------------------------------------------- 2-D toy mixtures

RING_MODES = 8
RING_RADIUS = 1.0
RING_STD = 0.01
"""PacGAN's ring: 8 Gaussians on the unit circle, std 0.01."""

GRID_VALUES = (-4.0, -2.0, 0.0, 2.0, 4.0)
GRID_STD = 0.05
"""PacGAN's grid: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05."""

TOY_SIZES = {"train": 100_000, "test": 10_000}
TOY_SEEDS = {"train": 0, "test": 1}


def ring_means() -> torch.Tensor:
    """The 8 ring means ``(cos 2*pi*i/8, sin 2*pi*i/8)``, i = 0..7, float32 ``[8, 2]``."""
    angles = 2 * math.pi * torch.arange(RING_MODES, dtype=torch.float64) / RING_MODES
    return (RING_RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_means() -> torch.Tensor:
    """The 25 grid means, float32 ``[25, 2]``; component ``5*i + j`` is at
    ``(GRID_VALUES[i], GRID_VALUES[j])``."""
    values = torch.tensor(GRID_VALUES)
    return torch.cartesian_prod(values, values).float()


def gaussian_mixture(means: torch.Tensor, std: float, n: int, seed: int) -> PointData:
    """``n`` points from equal-weight isotropic Gaussians; labels are the component indices."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(means), (n,), generator=generator)
    noise = torch.randn(n, means.shape[1], generator=generator)
    points = means[labels] + std * noise
    return PointData(points=points, labels=labels, num_classes=len(means))


def load_toy_ring(data_dir: Path | None = None, split: str = "train",
                  image_size: int | None = None) -> PointData:
    """PacGAN's 2-D ring of 8 Gaussians (100,000 train / 10,000 test points, fixed seeds)."""
    _check_split(split, "toy-ring")
    return gaussian_mixture(ring_means(), RING_STD, TOY_SIZES[split], TOY_SEEDS[split])


def load_toy_grid(data_dir: Path | None = None, split: str = "train",
                  image_size: int | None = None) -> PointData:
    """PacGAN's 2-D grid of 25 Gaussians (100,000 train / 10,000 test points, fixed seeds)."""
    _check_split(split, "toy-grid")
    return gaussian_mixture(grid_means(), GRID_STD, TOY_SIZES[split], TOY_SEEDS[split])


# --------------------------------------------------------------------------- Stacked MNIST

STACKED_MNIST_SIZES = {"train": 128_000, "test": 10_000}
"""PacGAN's 128,000 training images; the test split is built from MNIST's test digits."""

STACKED_MNIST_SEEDS = {"train": 0, "test": 1}


def load_stacked_mnist(data_dir: Path, split: str = "train", image_size: int | None = None, *,
                       size: int | None = None) -> ImageData:
    """Three random MNIST digits (of the same split) stacked as RGB channels, 3x28x28.

    The label is ``100 * d1 + 10 * d2 + d3`` for the digits in channels 0, 1, 2 (1000
    classes). Digits are drawn uniformly with replacement from a fixed seed per split;
    ``size`` defaults to :data:`STACKED_MNIST_SIZES`. Reads MNIST through :func:`load_mnist`.
    """
    _check_split(split, "stacked-mnist")
    mnist = load_mnist(data_dir, split)
    n = STACKED_MNIST_SIZES[split] if size is None else size
    generator = torch.Generator().manual_seed(STACKED_MNIST_SEEDS[split])
    index = torch.randint(len(mnist), (n, 3), generator=generator)
    images = mnist.images[:, 0][index]  # [n, 3, 28, 28] uint8
    digits = mnist.labels[index]  # [n, 3]
    labels = (digits * torch.tensor([100, 10, 1])).sum(dim=1)
    return ImageData(images=images, labels=labels, num_classes=1000)
