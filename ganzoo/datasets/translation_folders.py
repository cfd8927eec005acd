"""A user's own image-to-image data: pix2pix's paired layouts and CycleGAN's unpaired one.

``paired-folder`` (:func:`load_paired_folder`) reads either layout of pix2pix (Isola et al.
2017, arXiv:1611.07004)::

    facades/train/1.jpg ...          side by side: each file is A|B, 2w x h
    maps/A/1.png, maps/B/1.png ...   two folders: files paired by their relative path

``unpaired-folder`` (:func:`load_unpaired_folder`) reads CycleGAN's layout (Zhu et al.
2017, arXiv:1703.10593): ``trainA/ trainB/ testA/ testB/``.

Images are resized by their short side and centre-cropped like ``image-folder``; each
field is one channel when all of its images are grayscale, else RGB. Nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from ..data import ItemData
from ..errors import ConfigError, DataUnavailableError
from .common import _check_split
from .folders import (FOLDER_IMAGE_SIZE, GRAYSCALE_MODES, _check_folder, _fit, _images_in,
                      _read_image, _stack_images, _unreadable)

SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val")}
"""The subfolders a split reads, first one present wins (pix2pix's datasets have val/)."""

MISMATCH_SHOWN = 3
"""How many unpaired file names an A/B mismatch error names."""

PAIRED_HINT = "pass a folder of A|B images, or one holding A/ and B/, as --data-dir"
UNPAIRED_LAYOUT = "CycleGAN's layout is trainA/, trainB/, testA/, testB/"


def _split_folder(folder: Path, split: str) -> Path:
    """The folder a split reads: ``train/``, ``test/`` (else ``val/``) when ``folder`` has
    split folders, else ``folder`` itself."""
    present = [name for name in ("train", "test", "val") if (folder / name).is_dir()]
    if not present:
        return folder
    for name in SPLIT_FOLDERS[split]:
        if name in present:
            return folder / name
    wanted = " or ".join(f"{name}/" for name in SPLIT_FOLDERS[split])
    raise DataUnavailableError(f"{folder} has split folder(s) {', '.join(f'{p}/' for p in present)} "
                               f"but no {wanted} for the {split} split")


def _read_side_by_side(path: Path, size: int):
    """One A|B image as ``((A array, gray), (B array, gray))``: split at half its width,
    then each half resized and cropped like :func:`_read_image`."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
            if width % 2 == 0:
                # no JPEG draft here: the halves are cut at exactly half the stored width
                gray = img.mode in GRAYSCALE_MODES
                img = img.convert("L" if gray else "RGB")
                half = width // 2
                a, b = img.crop((0, 0, half, height)), img.crop((half, 0, width, height))
                return (_fit(a, size), gray), (_fit(b, size), gray)
    except Exception as exc:  # noqa: BLE001 - any failure to decode is an unreadable file
        raise _unreadable(path, exc) from None
    raise ConfigError(f"side-by-side image {path} is {width}x{height}, an odd width: an A|B image "
                      f"is two halves of equal width (or use A/ and B/ folders)")


def _matched(folder_a: Path, folder_b: Path) -> tuple[list[Path], list[Path]]:
    """The images of A/ and B/, paired by relative path; refuses names that do not match."""
    paths_a, paths_b = _images_in(folder_a), _images_in(folder_b)
    names_a = {p.relative_to(folder_a).as_posix(): p for p in paths_a}
    names_b = {p.relative_to(folder_b).as_posix(): p for p in paths_b}
    only_a = [n for n in names_a if n not in names_b]
    only_b = [n for n in names_b if n not in names_a]
    if only_a or only_b:
        def some(names: list[str]) -> str:
            more = f", ... ({len(names) - MISMATCH_SHOWN} more)" if len(names) > MISMATCH_SHOWN else ""
            return ", ".join(names[:MISMATCH_SHOWN]) + more
        problems = ([f"{len(only_a)} in {folder_a.name}/ missing from {folder_b.name}/: {some(only_a)}"]
                    if only_a else []) + ([f"{len(only_b)} in {folder_b.name}/ missing from "
                                           f"{folder_a.name}/: {some(only_b)}"] if only_b else [])
        raise ConfigError(f"{folder_a.name}/ and {folder_b.name}/ of {folder_a.parent} do not match "
                          f"(images are paired by their path inside {folder_a.name}/ and "
                          f"{folder_b.name}/): {'; '.join(problems)}")
    names = list(names_a)  # sorted by relative path, as find_images returns them
    return [names_a[n] for n in names], [names_b[n] for n in names]


def load_paired_folder(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """Paired images for pix2pix: ``image`` (A, the input) and ``target`` (B), one stream.

    ``data_dir`` is either a folder of side-by-side images (each file 2w x h: the left half
    is A, the right half is B; pix2pix's layout) or a folder holding ``A/`` and ``B/``,
    whose files are paired by their path relative to ``A/`` and ``B/``. With split folders
    (``train/``, and ``test/`` or ``val/``) split ``train`` reads ``train/`` and ``test``
    reads ``test/`` (else ``val/``), in either layout; ``A/train`` with ``B/train`` (pix2pix's
    ``combine_A_and_B`` layout) works too. Without split folders both splits read the
    folder itself. Images are found recursively, resized by the short side to
    ``image_size`` (default :data:`~ganzoo.datasets.FOLDER_IMAGE_SIZE`) and centre-cropped;
    A and B each have one channel when all of theirs are grayscale, else RGB.

    Raises:
        DataUnavailableError: a missing folder, not a folder, no images, ``A/`` without ``B/``.
        ConfigError: an unreadable image, names of ``A/`` and ``B/`` that do not match, a
            side-by-side image of odd width.
    """
    _check_split(split, "paired-folder")
    folder = Path(data_dir).expanduser()
    size = image_size or FOLDER_IMAGE_SIZE
    _check_folder(folder, "paired folder", PAIRED_HINT)
    root = _split_folder(folder, split)
    has_a, has_b = (root / "A").is_dir(), (root / "B").is_dir()
    if has_a != has_b:
        there, missing = ("A", "B") if has_a else ("B", "A")
        raise DataUnavailableError(f"{root} has {there}/ but no {missing}/; paired folders need both "
                                   f"(or one folder of side-by-side A|B images)")
    if has_a:
        folder_a, folder_b = root / "A", root / "B"
        if root == folder:  # pix2pix's combine_A_and_B layout: A/train, B/train
            folder_a, folder_b = _split_folder(folder_a, split), _split_folder(folder_b, split)
        paths_a, paths_b = _matched(folder_a, folder_b)
        image = _stack_images(*zip(*(_read_image(p, size) for p in paths_a)))
        target = _stack_images(*zip(*(_read_image(p, size) for p in paths_b)))
    else:
        halves = [_read_side_by_side(p, size) for p in _images_in(root)]
        image = _stack_images(*zip(*(a for a, _ in halves)))
        target = _stack_images(*zip(*(b for _, b in halves)))
    return ItemData({"image": image, "target": target})


def load_unpaired_folder(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """Unpaired images for CycleGAN: ``image`` from ``<split>A/``, ``image_b`` from
    ``<split>B/``, two streams (shuffled independently), no labels.

    Images are found recursively in each folder, resized by the short side to
    ``image_size`` (default :data:`~ganzoo.datasets.FOLDER_IMAGE_SIZE`) and centre-cropped;
    each domain has one channel when all of its images are grayscale, else RGB. The two
    domains may hold different numbers of images.

    Raises:
        DataUnavailableError: a missing folder (``testA/`` for split ``test`` too: there is
            no fallback to the training images), not a folder, a domain without images.
        ConfigError: an unreadable image.
    """
    _check_split(split, "unpaired-folder")
    folder = Path(data_dir).expanduser()
    size = image_size or FOLDER_IMAGE_SIZE
    _check_folder(folder, "unpaired folder", "pass the folder that holds trainA/ and trainB/ as --data-dir")
    domains = []
    for name in (f"{split}A", f"{split}B"):
        if not (folder / name).is_dir():
            raise DataUnavailableError(f"unpaired folder {folder} has no {name}/ folder ({UNPAIRED_LAYOUT})")
        domains.append(_stack_images(*zip(*(_read_image(p, size) for p in _images_in(folder / name)))))
    return ItemData({"image": domains[0], "image_b": domains[1]}, streams=[("image",), ("image_b",)])
