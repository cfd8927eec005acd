"""The built-in datasets: toy mixtures, Stacked MNIST, image folders and CIFAR-10 (all offline)."""

from __future__ import annotations

import hashlib
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo import datasets as ds
from ganzoo.data import ImageData, PointData
from ganzoo.errors import ConfigError, DataUnavailableError
from ganzoo.plugins.build import load_dataset

from .conftest import TINY

NEW = ("cifar10", "image-folder", "toy-ring", "toy-grid", "stacked-mnist")


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message.strip() == message
    return message


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --------------------------------------------------------------------------- specs

def test_new_datasets_are_registered_with_complete_specs(manager, cli):
    listed = {c["name"] for c in json.loads(cli("list", "datasets", "--json").stdout)}
    assert set(NEW) <= listed
    specs = {name: manager.registry.get("dataset", name).spec for name in NEW}
    for spec in specs.values():
        spec.validate()
        assert spec.summary and "\n" not in spec.summary and spec.paper
    assert (specs["cifar10"].channels, specs["cifar10"].image_size, specs["cifar10"].num_classes,
            specs["cifar10"].size) == (3, 32, 10, 50000)
    assert any("data_batch_1" in f for f in specs["cifar10"].files)
    assert specs["image-folder"].image_size == ds.FOLDER_IMAGE_SIZE == 64
    assert specs["image-folder"].num_classes is None and specs["image-folder"].files
    for name, k in (("toy-ring", 8), ("toy-grid", 25)):
        s = specs[name]
        assert (s.point_dim, s.num_classes, s.size, s.channels, s.image_size) == (2, k, 100000, None, None)
    s = specs["stacked-mnist"]
    assert (s.channels, s.image_size, s.num_classes, s.size) == (3, 28, 1000, 128000)
    assert s.size == ds.STACKED_MNIST_SIZES["train"] and "MNIST/raw/train-images-idx3-ubyte" in s.files


# --------------------------------------------------------------------------- toy mixtures

def test_ring_has_eight_distinct_unit_circle_means():
    means = ds.ring_means()
    assert means.shape == (8, 2) and means.dtype == torch.float32
    assert torch.allclose(means.norm(dim=1), torch.ones(8), atol=1e-6)
    assert torch.allclose(means[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(means[2], torch.tensor([0.0, 1.0]), atol=1e-6)
    gaps = torch.cdist(means, means) + 10 * torch.eye(8)
    assert gaps.min() > 0.76  # neighbours are 2 sin(pi/8) = 0.765 apart: 8 distinct modes


def test_grid_means_are_the_5x5_lattice():
    means = ds.grid_means()
    assert means.shape == (25, 2) and means.dtype == torch.float32
    values = (-4.0, -2.0, 0.0, 2.0, 4.0)
    assert {tuple(m.tolist()) for m in means} == {(x, y) for x in values for y in values}
    assert means[5 * 1 + 3].tolist() == [-2.0, 2.0]


@pytest.mark.parametrize("name, means, std, k", [
    ("toy-ring", ds.ring_means(), ds.RING_STD, 8),
    ("toy-grid", ds.grid_means(), ds.GRID_STD, 25),
])
def test_toy_mixture_components_have_the_right_means_spreads_and_balance(manager, name, means, std, k):
    data = load_dataset(manager.registry, name, "/does/not/matter", image_size=99)
    assert isinstance(data, PointData) and data.points.shape == (100_000, 2)
    assert data.points.dtype == torch.float32 and data.num_classes == k
    counts = torch.bincount(data.labels, minlength=k)
    assert len(counts) == k
    expected = 100_000 / k
    assert (counts - expected).abs().max() < 5 * expected ** 0.5  # uniform components
    for c in range(k):
        pts = data.points[data.labels == c]
        assert torch.allclose(pts.mean(0), means[c], atol=5 * std / len(pts) ** 0.5 + 1e-6)
        assert torch.allclose(pts.std(0), torch.full((2,), std), rtol=0.05)
    # every point lies near its own component's mean, nearer than to any other
    nearest = torch.cdist(data.points, means).argmin(dim=1)
    assert torch.equal(nearest, data.labels)


def test_toy_data_is_fixed_and_the_splits_differ():
    a, b = ds.load_toy_ring(None, "train"), ds.load_toy_ring(Path("elsewhere"), "train", 32)
    assert torch.equal(a.points, b.points) and torch.equal(a.labels, b.labels)
    test = ds.load_toy_grid(None, "test")
    assert len(test) == 10_000
    assert not torch.equal(ds.load_toy_grid(None, "train").points[:10_000], test.points)
    with pytest.raises(DataUnavailableError, match="unknown split 'valid'"):
        ds.load_toy_ring(None, "valid")


# --------------------------------------------------------------------------- Stacked MNIST

def _digit_of(stacked: torch.Tensor, mnist: ImageData) -> torch.Tensor:
    """For each [28, 28] image, the label of the MNIST image it is an exact copy of."""
    label_of = {image.numpy().tobytes(): int(label) for image, label in zip(mnist.images, mnist.labels)}
    assert len(label_of) == len(mnist)  # the fixture's digits are all different
    return torch.tensor([label_of[image.numpy().tobytes()] for image in stacked])


def test_stacked_mnist_labels_are_the_digits_of_its_channels(data_dir):
    mnist = ds.load_mnist(data_dir, "train")
    data = ds.load_stacked_mnist(data_dir, "train", size=400)
    assert data.images.shape == (400, 3, 28, 28) and data.images.dtype == torch.uint8
    assert data.num_classes == 1000 and data.labels.dtype == torch.int64
    d1, d2, d3 = (_digit_of(data.images[:, c], mnist) for c in range(3))
    assert torch.equal(data.labels, 100 * d1 + 10 * d2 + d3)
    assert len(data.labels.unique()) > 300  # 400 draws from 1000 triples: mostly distinct
    again = ds.load_stacked_mnist(data_dir, "train", None, size=400)
    assert torch.equal(again.images, data.images)


def test_stacked_mnist_test_split_uses_mnist_test_digits(data_dir):
    test_digits = ds.load_mnist(data_dir, "test")
    data = ds.load_stacked_mnist(data_dir, "test")
    assert len(data) == ds.STACKED_MNIST_SIZES["test"] == 10_000
    sample = data.images[:200]
    digits = [_digit_of(sample[:, c], test_digits) for c in range(3)]
    assert torch.equal(data.labels[:200], 100 * digits[0] + 10 * digits[1] + digits[2])
    assert ds.STACKED_MNIST_SIZES["train"] == 128_000


def test_stacked_mnist_without_mnist_is_the_mnist_error(tmp_path):
    with pytest.raises(DataUnavailableError) as exc:
        ds.load_stacked_mnist(tmp_path / "empty", "train", size=10)
    assert "MNIST" in one_line(exc) and "train-images-idx3-ubyte" in str(exc.value)
    assert not (tmp_path / "empty").exists()


# --------------------------------------------------------------------------- image folders

def save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def solid(color, size=(20, 20), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def test_image_folder_with_class_subfolders_is_labelled(tmp_path):
    root = tmp_path / "pets"
    save(root / "dogs" / "b.png", solid((0, 0, 255)))
    save(root / "cats" / "z.png", solid((255, 0, 0)))
    save(root / "dogs" / "deep" / "a.bmp", solid((0, 255, 0)))
    save(root / "cats" / "a.webp", solid((255, 255, 0)))
    save(root / "birds" / "x.GIF", solid((0, 255, 255)).convert("P"))
    save(root / "dogs" / ".hidden.png", solid((9, 9, 9)))
    (root / "dogs" / "notes.txt").write_text("not an image")
    before = listing(root)
    data = ds.load_image_folder(root, "train", 8)
    assert data.images.shape == (5, 3, 8, 8) and data.images.dtype == torch.uint8
    assert data.num_classes == 3
    # sorted by path: birds/x, cats/a, cats/z, dogs/b, dogs/deep/a
    assert data.labels.tolist() == [0, 1, 1, 2, 2]
    colours = data.images.float().mean(dim=(2, 3))
    expected = torch.tensor([[0, 255, 255], [255, 255, 0], [255, 0, 0], [0, 0, 255], [0, 255, 0]])
    assert (colours - expected).abs().max() <= 2  # WebP is lossy
    assert listing(root) == before  # nothing written beside the data


def test_image_folder_without_classes_is_unlabelled_and_defaults_to_64(tmp_path):
    root = tmp_path / "flat"
    save(root / "top.jpg", solid((200, 100, 50), (80, 80)))
    save(root / "sub" / "inner.png", solid((10, 20, 30)))
    data = ds.load_image_folder(root, "train", None)
    assert data.images.shape == (2, 3, 64, 64) and data.labels is None and data.num_classes is None
    means = data.images.float().mean(dim=(2, 3))
    assert torch.allclose(means[0], torch.tensor([10.0, 20.0, 30.0]), atol=1)  # sub/inner.png first
    assert torch.allclose(means[1], torch.tensor([200.0, 100.0, 50.0]), atol=4)  # JPEG is lossy


def test_grayscale_folder_has_one_channel_and_mixed_modes_become_rgb(tmp_path):
    gray = tmp_path / "gray"
    save(gray / "a.png", solid(40, mode="L"))
    save(gray / "b.png", solid(220, (30, 10), mode="L"))
    data = ds.load_image_folder(gray, "train", 10)
    assert data.images.shape == (2, 1, 10, 10)
    assert data.images[0].unique().tolist() == [40] and data.images[1].unique().tolist() == [220]

    save(gray / "c.png", solid((255, 0, 0)))
    mixed = ds.load_image_folder(gray, "train", 10)
    assert mixed.images.shape == (3, 3, 10, 10)
    assert mixed.images[0].unique().tolist() == [40]  # grey replicated into R, G and B
    assert mixed.images[2, 0].unique().tolist() == [255] and mixed.images[2, 1:].max() == 0


def test_mixed_sizes_are_resized_by_the_short_side_and_centre_cropped(tmp_path):
    root = tmp_path / "mixed"
    wide = np.zeros((32, 96, 3), np.uint8)
    wide[:, :32, 0] = 255   # red left third
    wide[:, 32:64, 1] = 255  # green middle
    wide[:, 64:, 2] = 255   # blue right third
    save(root / "a_wide.png", Image.fromarray(wide))
    tall = np.zeros((90, 30, 3), np.uint8)
    tall[:30, :, 0] = 255
    tall[30:60, :, 2] = 255
    tall[60:, :, 1] = 255
    save(root / "b_tall.png", Image.fromarray(tall))
    save(root / "c_small.png", solid((7, 8, 9), (5, 3)))
    data = ds.load_image_folder(root, "train", 16)
    assert data.images.shape == (3, 3, 16, 16)
    centre = data.images[:, :, 2:14, 2:14].float().mean(dim=(2, 3))
    assert centre[0].tolist() == [0.0, 255.0, 0.0]  # only the middle (green) third is kept
    assert centre[1].tolist() == [0.0, 0.0, 255.0]
    assert torch.allclose(centre[2], torch.tensor([7.0, 8.0, 9.0]), atol=1)  # upscaled


def test_corrupt_image_is_a_config_error_naming_the_file(tmp_path):
    root = tmp_path / "bad"
    save(root / "good.png", solid((1, 2, 3)))
    broken = root / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(ConfigError) as exc:
        ds.load_image_folder(root, "train", 8)
    assert not isinstance(exc.value, DataUnavailableError)
    assert str(broken) in one_line(exc) and "cannot read image" in str(exc.value)

    broken.unlink()
    full = root / "cut.jpg"
    save(full, solid((1, 2, 3), (64, 64)))
    full.write_bytes(full.read_bytes()[:200])  # truncated JPEG
    with pytest.raises(ConfigError, match="cut.jpg"):
        ds.load_image_folder(root, "train", 8)


def test_missing_empty_and_non_folder_errors(tmp_path):
    with pytest.raises(DataUnavailableError) as exc:
        ds.load_image_folder(tmp_path / "nope", "train", 8)
    assert "does not exist" in one_line(exc) and str(tmp_path / "nope") in str(exc.value)

    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("hi")
    with pytest.raises(DataUnavailableError) as exc:
        ds.load_image_folder(empty, "train", 8)
    message = one_line(exc)
    assert "no images found" in message and str(empty) in message
    assert all(ext in message for ext in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"))
    assert listing(empty) == ["readme.txt", "sub"]

    with pytest.raises(DataUnavailableError, match="is not a folder"):
        ds.load_image_folder(empty / "readme.txt", "train", 8)


def test_train_refuses_a_missing_image_folder_with_exit_2(cli, tmp_path):
    missing = tmp_path / "no-such-folder"
    result = cli("train", "dcgan", "--dataset", "image-folder", "--data-dir", str(missing), *TINY)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("error: ") and str(missing) in lines[0] and "does not exist" in lines[0]
    assert not missing.exists() and not (tmp_path / "runs").exists()


def test_dcgan_trains_a_few_steps_on_an_image_folder(cli, tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for i in range(10):
        save(root / f"{i:02d}.png", Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)))
    result = cli("train", "dcgan", "--dataset", "image-folder", "--data-dir", str(root), *TINY,
                 "--image-size", "16", "--run-name", "folder")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "folder" / "checkpoints" / "latest").is_file()
    assert listing(root) == [f"{i:02d}.png" for i in range(10)]


# --------------------------------------------------------------------------- CIFAR-10

def _write_fake_cifar(root: Path, monkeypatch, per_batch: int = 3) -> tuple[np.ndarray, list[int]]:
    """torchvision's cifar-10-batches-py layout with ``per_batch`` images per file; the
    md5s torchvision checks are replaced by those of these files."""
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True)
    md5 = {}
    all_images, all_labels = [], []
    names = [n for n, _ in CIFAR10.train_list] + [n for n, _ in CIFAR10.test_list]
    for b, name in enumerate(names):
        images = np.zeros((per_batch, 3, 32, 32), np.uint8)
        for i in range(per_batch):
            images[i] = np.array([10 * b + i, 100 + 10 * b + i, 200 + i], np.uint8)[:, None, None]
        images[:, 0, 0, 1] = 250  # one marked pixel: row 0, column 1 of the red channel
        labels = [(b + i) % 10 for i in range(per_batch)]
        batch = {"data": images.reshape(per_batch, -1), "labels": labels}
        (folder / name).write_bytes(pickle.dumps(batch))
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
        all_images.append(images)
        all_labels += labels
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5[n]] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[n, md5[n]] for n, _ in CIFAR10.test_list])
    meta_md5 = hashlib.md5((folder / "batches.meta").read_bytes()).hexdigest()
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": meta_md5})
    return np.concatenate(all_images), all_labels


def test_cifar10_reads_torchvisions_layout(tmp_path, monkeypatch):
    root = tmp_path / "data"
    images, labels = _write_fake_cifar(root, monkeypatch)
    before = listing(root)
    train = ds.load_cifar10(root, "train")
    assert train.images.shape == (15, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.images, torch.from_numpy(images[:15]))  # CHW kept, channel order R, G, B
    assert train.images[4, :, 5, 5].tolist() == [11, 111, 201] and train.images[4, 0, 0, 1] == 250
    assert train.labels.tolist() == labels[:15] and train.num_classes == 10
    test = ds.load_cifar10(root, "test")
    assert torch.equal(test.images, torch.from_numpy(images[15:])) and test.labels.tolist() == labels[15:]
    assert listing(root) == before


def test_cifar10_unpacks_a_present_archive_offline(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    root = tmp_path / "data"
    images, _ = _write_fake_cifar(root, monkeypatch, per_batch=1)
    archive = root / CIFAR10.filename
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    for f in (root / CIFAR10.base_folder).iterdir():
        f.unlink()
    (root / CIFAR10.base_folder).rmdir()
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(archive.read_bytes()).hexdigest())
    data = ds.load_cifar10(root, "train")
    assert torch.equal(data.images, torch.from_numpy(images[:5]))


def test_cifar10_missing_is_a_one_line_error_and_leaves_nothing(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DataUnavailableError) as exc:
        ds.load_cifar10(root, "train")
    message = one_line(exc)
    assert "cifar-10-batches-py" in message and "data_batch_1" in message
    assert "cifar-10-python.tar.gz" in message
    assert not root.exists()


def test_cifar10_failed_download_is_cleaned_up(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar

    root = tmp_path / "data"
    root.mkdir()
    (root / "keep.txt").write_text("mine")

    def broken_download(url, download_root, filename=None, md5=None, **kwargs):
        Path(download_root, filename).write_bytes(b"partial")
        folder = Path(download_root, "cifar-10-batches-py")
        folder.mkdir()
        (folder / "data_batch_1").write_bytes(b"half")
        raise OSError("network unreachable")

    monkeypatch.setenv("GANZOO_OFFLINE", "0")
    monkeypatch.setattr(cifar, "download_and_extract_archive", broken_download)
    with pytest.raises(DataUnavailableError, match="could not be downloaded"):
        ds.load_cifar10(root, "test")
    assert listing(root) == ["keep.txt"]


# --------------------------------------------------------------------------- the package

PUBLIC_NAMES = (
    "OFFLINE_ENV", "load_mnist", "load_fashion_mnist", "load_cifar10", "IMAGE_EXTENSIONS",
    "FOLDER_IMAGE_SIZE", "GRAYSCALE_MODES", "find_images", "load_image_folder", "RING_MODES",
    "RING_RADIUS", "RING_STD", "GRID_VALUES", "GRID_STD", "TOY_SIZES", "TOY_SEEDS", "ring_means",
    "grid_means", "gaussian_mixture", "load_toy_ring", "load_toy_grid", "STACKED_MNIST_SIZES",
    "STACKED_MNIST_SEEDS", "load_stacked_mnist", "ImageData", "PointData",
)
"""The public names of the datasets package."""


def test_the_datasets_package_keeps_every_name_and_every_loader_resolves(manager):
    from ganzoo.specs import resolve_ref

    missing = [name for name in PUBLIC_NAMES if not hasattr(ds, name)]
    assert not missing
    assert ds.OFFLINE_ENV == "GANZOO_OFFLINE" and ds.IMAGE_EXTENSIONS[0] == ".png"
    for name in ds.__all__:
        assert getattr(ds, name).__doc__ or name.isupper() or name == "Transform", name
    for entry in manager.registry.list("dataset"):
        if entry.plugin == "core":
            assert entry.spec.load.startswith("ganzoo.datasets:")
            assert callable(resolve_ref(entry.spec.load)), entry.name
