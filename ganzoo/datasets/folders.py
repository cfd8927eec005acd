"""A user's own folder of images, and the readers the other folder layouts share.

:func:`find_images` lists a folder's images, :func:`_read_image` decodes one, resized by
its short side and centre-cropped; :func:`_stack_images` makes one tensor of many under
the channel rule (one channel when every image is grayscale, else RGB).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..data import ImageData
from ..errors import ConfigError, DataUnavailableError
from .common import _check_split

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
"""File endings (any case) that an image folder is searched for."""

IMAGE_GLOBS = tuple(f"**/*{ext}" for ext in IMAGE_EXTENSIONS)
""":data:`IMAGE_EXTENSIONS` as the glob patterns a dataset spec's ``files`` lists."""

FOLDER_IMAGE_SIZE = 64
"""The image size of an image folder when none is asked for (the registered spec's image_size)."""

GRAYSCALE_MODES = ("L", "1")
"""PIL modes kept as one channel when every image in a folder has one of them."""


def find_files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    """Every regular file under ``folder`` whose name ends in one of ``extensions`` (any
    case), recursively (following links once), sorted by relative path.

    Hidden files and folders (names starting with ``.``) are skipped, and so is anything
    that is not a regular file (or a link to one): reading a FIFO or a device named
    ``*.png`` would block for ever.

    Raises:
        DataUnavailableError: a folder cannot be read.
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
                  if not f.startswith(".") and f.lower().endswith(extensions) and os.path.isfile(Path(root, f))]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def find_images(folder: Path) -> list[Path]:
    """Every image (:data:`IMAGE_EXTENSIONS`) under ``folder``: :func:`find_files`."""
    return find_files(folder, IMAGE_EXTENSIONS)


def _unreadable(path: Path, exc: Exception) -> ConfigError:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return ConfigError(f"cannot read image {path}: {reason}")


def _fit(img, size: int):
    """A PIL image, short side resized to ``size`` (bilinear, antialiased) and centre-cropped,
    as a uint8 array ``[S, S]`` or ``[S, S, 3]``."""
    import numpy as np
    from torchvision.transforms.v2 import functional as TF

    img = TF.center_crop(TF.resize(img, size, interpolation=TF.InterpolationMode.BILINEAR,
                                   antialias=True), [size, size])
    return np.asarray(img, dtype=np.uint8)


def _read_image(path: Path, size: int):
    """One image as ``(uint8 array [S, S] or [S, S, 3], grayscale?)``: short side resized to
    ``size`` (bilinear, antialiased), centre-cropped.

    Raises:
        ConfigError: the file cannot be decoded (the message names it).
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.draft(None, (size, size))  # JPEG: decode at a reduced scale, never below size
            gray = img.mode in GRAYSCALE_MODES
            img = img.convert("L" if gray else "RGB")
        return _fit(img, size), gray
    except Exception as exc:  # noqa: BLE001 - any failure to decode is an unreadable file
        raise _unreadable(path, exc) from None


def _stack_images(arrays, grays) -> torch.Tensor:
    """uint8 ``[N, C, S, S]`` from :func:`_read_image` results: one channel when every image
    is grayscale, else RGB (grey images replicated into R, G and B)."""
    import numpy as np

    if all(grays):
        return torch.from_numpy(np.stack(arrays)).unsqueeze(1)
    rgb = [np.repeat(a[:, :, None], 3, axis=2) if g else a for a, g in zip(arrays, grays)]
    return torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).contiguous()


def _check_folder(folder: Path, what: str, hint: str) -> None:
    """Refuse a folder that is missing, not a folder, or cannot be looked at.

    Args:
        folder: the folder to read.
        what: what it is called in the message, e.g. ``"image folder"``.
        hint: what to do instead, e.g. ``"pass the folder of images as --data-dir"``.
    """
    try:
        exists, is_dir = folder.exists(), folder.is_dir()
    except OSError as exc:  # a name too long, a loop of links...
        raise DataUnavailableError(f"cannot use {what} {folder}: {exc.strerror or exc}") from None
    if not exists:
        raise DataUnavailableError(f"{what} {folder} does not exist; {hint}")
    if not is_dir:
        raise DataUnavailableError(f"{folder} is not a folder; {hint}")


def _images_in(folder: Path) -> list[Path]:
    """:func:`find_images`, refusing a folder without any."""
    paths = find_images(folder)
    if not paths:
        raise DataUnavailableError(f"no images found in {folder} (looked recursively for "
                                   f"{', '.join(IMAGE_EXTENSIONS)} files)")
    return paths


def load_image_folder(data_dir: Path, split: str = "train", image_size: int | None = None) -> ImageData:
    """Every image in a folder (``data_dir`` itself), as one uint8 tensor ``[N, C, S, S]``.

    Images are found recursively (:data:`IMAGE_EXTENSIONS`), in sorted order. When every
    image lies inside a first-level subfolder, the sorted names of those subfolders are the
    classes (only subfolders holding images count); otherwise the data is unlabelled.
    Each image is resized so its short side is ``image_size`` (default
    :data:`FOLDER_IMAGE_SIZE`) and centre-cropped. Images are RGB, or one channel when every
    image is grayscale. Both splits read the same folder. Nothing is written.
    """
    _check_split(split, "image-folder")
    folder = Path(data_dir).expanduser()
    size = image_size or FOLDER_IMAGE_SIZE
    _check_folder(folder, "image folder", "pass the folder of images as --data-dir")
    paths = _images_in(folder)
    images = _stack_images(*zip(*(_read_image(path, size) for path in paths)))

    parts = [path.relative_to(folder).parts for path in paths]
    if all(len(p) > 1 for p in parts):
        classes = sorted({p[0] for p in parts})
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index[p[0]] for p in parts], dtype=torch.int64)
        return ImageData(images=images, labels=labels, num_classes=len(classes))
    return ImageData(images=images)
