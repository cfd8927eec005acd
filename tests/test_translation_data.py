"""The image-to-image datasets and :func:`ganzoo.datasets.derive` (all offline, tiny data).

mnist-edges (paired), mnist-inverted and mnist-fashion (unpaired, two streams) are built
from tiny IDX files; paired-folder and unpaired-folder from tiny PNG folders.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo import datasets as ds
from ganzoo import hookimpl
from ganzoo.datasets.batches import InMemoryBatches
from ganzoo.data import ItemData
from ganzoo.errors import ConfigError, DataUnavailableError, UnknownComponentError
from ganzoo.plugins.build import load_dataset
from ganzoo.specs import DatasetSpec

from .conftest import TINY, make_digits, write_idx

NEW = ("mnist-edges", "mnist-inverted", "mnist-fashion", "paired-folder", "unpaired-folder")

# A hand-made 5x5 "digit" and its outline (3x3 dilation minus the digit), worked out by hand:
# each outline pixel is the brightest of its 3x3 neighbourhood minus the pixel itself.
DIGIT_5X5 = [[0, 0, 0, 0, 0],
             [0, 0, 200, 0, 0],
             [0, 0, 200, 0, 0],
             [0, 0, 200, 100, 0],
             [0, 0, 0, 0, 0]]
EDGES_5X5 = [[0, 200, 200, 200, 0],
             [0, 200, 0, 200, 0],
             [0, 200, 0, 200, 100],
             [0, 200, 0, 100, 100],
             [0, 200, 200, 200, 100]]


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message.strip() == message
    return message


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def write_fashion(data_dir: Path, train: int = 24, test: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Tiny Fashion-MNIST IDX files in torchvision's layout; returns the train images, labels."""
    raw = data_dir / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(train, 28, 28), dtype=np.uint8)
    labels = (np.arange(train) * 3) % 10
    write_idx(raw, images, labels, split="train")
    write_idx(raw, rng.integers(0, 256, size=(test, 28, 28), dtype=np.uint8), np.arange(test) % 10, split="test")
    return images, labels


def save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def solid(color, size=(20, 20), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def side_by_side(left, right, size=(20, 20), mode="RGB") -> Image.Image:
    """An A|B image: ``left`` colour in the left half, ``right`` in the right half."""
    w, h = size
    image = Image.new(mode, (2 * w, h), left)
    image.paste(solid(right, size, mode), (w, 0))
    return image


def code_of(batch_images: torch.Tensor) -> list[bytes]:
    """Batch images in [-1, 1] back to uint8 bytes, to find which item each one is."""
    return [x.numpy().tobytes() for x in ((batch_images + 1) * 127.5).round().to(torch.uint8)]


# --------------------------------------------------------------------------- specs and CLI

def test_translation_datasets_are_registered_with_complete_specs(manager, data_dir):
    specs = {name: manager.registry.get("dataset", name).spec for name in NEW}
    for spec in specs.values():
        spec.validate()
        assert spec.summary and "\n" not in spec.summary and spec.paper and spec.files
        assert len(spec.summary) < 100  # `ganzoo list` reads best under 100 characters
    s = specs["mnist-edges"]
    assert (s.channels, s.image_size, s.num_classes, s.size, s.fields) == (1, 28, 10, 60000, ("target",))
    assert "arXiv:1606.07536" in s.paper and "dilation" in s.summary and "arXiv:1611.07004" in s.paper
    for f in s.files:  # the files are paths relative to --data-dir: the fixture's are found
        assert (data_dir / f).is_file(), f
    assert specs["mnist-inverted"].fields == specs["mnist-fashion"].fields == ("image_b",)
    assert specs["mnist-inverted"].size == 30000 and "arXiv:1703.10593" in specs["mnist-inverted"].paper
    assert any(f.startswith("FashionMNIST/raw/") for f in specs["mnist-fashion"].files)
    for name, field in (("paired-folder", "target"), ("unpaired-folder", "image_b")):
        assert (specs[name].channels, specs[name].image_size, specs[name].fields) == (3, 64, (field,))
    assert "arXiv:1611.07004" in specs["paired-folder"].paper
    assert "arXiv:1703.10593" in specs["unpaired-folder"].paper


def test_info_shows_the_edge_operator_fields_and_files(cli):
    result = cli("info", "mnist-edges")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "3x3 dilation minus the digit" in text and "MNIST/raw/train-images-idx3-ubyte" in text
    assert "fields besides the image and label: target" in text
    data = json.loads(cli("info", "mnist-edges", "--json").stdout)
    assert (data["channels"], data["image_size"], data["num_classes"], data["fields"]) == (1, 28, 10, ["target"])
    assert json.loads(cli("info", "mnist-fashion", "--json").stdout)["fields"] == ["image_b"]


# --------------------------------------------------------------------------- mnist-edges

def test_edges_of_a_hand_made_digit():
    digit = torch.tensor(DIGIT_5X5, dtype=torch.uint8)[None, None]
    assert ds.morphological_edges(digit)[0, 0].tolist() == EDGES_5X5
    corner = torch.zeros(1, 1, 3, 3, dtype=torch.uint8)
    corner[0, 0, 0, 0] = 255  # outside the image counts as dark: no edge beyond the border
    assert ds.morphological_edges(corner)[0, 0].tolist() == [[0, 255, 0], [255, 255, 0], [0, 0, 0]]
    flat = torch.full((2, 3, 4, 4), 77, dtype=torch.uint8)
    assert ds.morphological_edges(flat).eq(0).all()  # a uniform image has no outline
    with pytest.raises(ValueError, match="uint8"):
        ds.morphological_edges(digit.float())


def test_mnist_edges_pairs_each_digit_with_its_outline(manager, tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((3, 28, 28), np.uint8)
    images[0, 10:15, 10:15] = DIGIT_5X5
    images[1, :5, 23:] = DIGIT_5X5  # at the top right corner
    images[2] = make_digits(1)[0][0]
    write_idx(raw, images, np.array([3, 1, 4]), split="train")
    write_idx(raw, images[:1], np.array([8]), split="test")
    before = listing(tmp_path / "data")

    data = load_dataset(manager.registry, "mnist-edges", tmp_path / "data")
    assert list(data.fields) == ["image", "target", "label"] and data.streams == [("image", "target", "label")]
    assert torch.equal(data.fields["target"][:, 0], torch.from_numpy(images))
    assert data.fields["label"].tolist() == [3, 1, 4] and data.num_classes == 10
    edges = data.fields["image"]
    assert edges.dtype == torch.uint8 and edges.shape == (3, 1, 28, 28)
    assert edges[0, 0, 10:15, 10:15].tolist() == EDGES_5X5
    assert edges[1, 0, :5, 23:].tolist() == EDGES_5X5
    outside = edges[0, 0].clone()
    outside[10:15, 10:15] = 0
    assert outside.max() == 0  # the outline of a 5x5 stroke stays inside its 5x5 block
    assert torch.equal(edges[2:], ds.morphological_edges(data.fields["target"][2:]))

    test = load_dataset(manager.registry, "mnist-edges", tmp_path / "data", "test")
    assert test.fields["label"].tolist() == [8] and test.fields["image"][0, 0, 10:15, 10:15].tolist() == EDGES_5X5
    assert listing(tmp_path / "data") == before  # nothing written beside the data


def test_dcgan_trains_two_steps_on_mnist_edges(cli, data_dir, tmp_path):
    result = cli("train", "dcgan", "--dataset", "mnist-edges", "--data-dir", str(data_dir), *TINY,
                 "--steps", "2", "--run-name", "edges")
    assert result.exit_code == 0, result.output
    assert "fields: image, target, label" in result.output
    run = tmp_path / "runs" / "edges"
    assert (run / "checkpoints" / "latest").is_file()
    assert json.loads((run / "config.json").read_text())["dataset"].endswith("mnist-edges")


def test_missing_mnist_is_the_mnist_error_for_every_mnist_built_set(manager, tmp_path):
    for name in ("mnist-edges", "mnist-inverted", "mnist-fashion"):
        with pytest.raises(DataUnavailableError) as exc:
            load_dataset(manager.registry, name, tmp_path / "empty")
        assert "MNIST" in one_line(exc) and "train-images-idx3-ubyte" in str(exc.value)
    assert not (tmp_path / "empty").exists()
    with pytest.raises(DataUnavailableError, match="unknown split 'val'"):
        load_dataset(manager.registry, "mnist-inverted", tmp_path / "empty", "val")


# --------------------------------------------------------------------------- unpaired MNIST

def test_mnist_inverted_domains_are_disjoint_halves_and_b_is_inverted(manager, data_dir):
    mnist = ds.load_mnist(data_dir, "train")
    data = load_dataset(manager.registry, "mnist-inverted", data_dir)
    assert data.streams == [("image", "label"), ("image_b", "label_b")]
    assert data.classes == {"label": 10, "label_b": 10}
    a, b = data.fields["image"], data.fields["image_b"]
    assert a.shape == b.shape == (32, 1, 28, 28) and a.dtype == b.dtype == torch.uint8
    assert torch.equal(a, mnist.images[0::2]) and torch.equal(data.fields["label"], mnist.labels[0::2])
    assert torch.equal(255 - b, mnist.images[1::2]) and torch.equal(data.fields["label_b"], mnist.labels[1::2])
    assert (a.int() + b.int() == 255).float().mean() < 0.5  # B is not A inverted item by item
    inverted_a = {x.numpy().tobytes() for x in 255 - a}
    assert not inverted_a & {x.numpy().tobytes() for x in b}  # no digit is in both domains
    assert b.float().mean() > 200 > 40 > a.float().mean()  # dark digits on white vs bright on black

    test = load_dataset(manager.registry, "mnist-inverted", data_dir, "test")
    assert len(test.fields["image"]) == len(test.fields["image_b"]) == 8
    assert torch.equal(255 - test.fields["image_b"], ds.load_mnist(data_dir, "test").images[1::2])


def test_the_two_streams_are_shuffled_independently(manager, data_dir):
    data = load_dataset(manager.registry, "mnist-inverted", data_dir)
    index_a = {x: i for i, x in enumerate(code_of(ds.load_mnist(data_dir).images[0::2].float() / 127.5 - 1))}
    index_b = {x: i for i, x in enumerate(code_of(data.fields["image_b"].float() / 127.5 - 1))}
    batches = InMemoryBatches(data, batch_size=8, device="cpu", seed=3)
    seen_a, seen_b = [], []
    for _ in range(4):  # one epoch of each stream
        batch = batches.next_batch()
        assert set(batch) == {"image", "label", "image_b", "label_b"}
        order_a = [index_a[x] for x in code_of(batch["image"])]
        order_b = [index_b[x] for x in code_of(batch["image_b"])]
        # within a stream, fields stay aligned: each label is its own image's
        assert batch["label"].tolist() == data.fields["label"][order_a].tolist()
        assert batch["label_b"].tolist() == data.fields["label_b"][order_b].tolist()
        seen_a += order_a
        seen_b += order_b
    assert sorted(seen_a) == sorted(seen_b) == list(range(32))  # each epoch sees every item once
    # A item i and B item i (the neighbours 2i and 2i + 1 of MNIST) are not drawn together
    assert sum(i == j for i, j in zip(seen_a, seen_b)) < 4


def test_mnist_fashion_domains_and_state_round_trip(manager, data_dir):
    fashion, fashion_labels = write_fashion(data_dir, train=24)
    data = load_dataset(manager.registry, "mnist-fashion", data_dir)
    assert data.streams == [("image", "label"), ("image_b", "label_b")]
    assert torch.equal(data.fields["image"], ds.load_mnist(data_dir).images)
    assert torch.equal(data.fields["image_b"][:, 0], torch.from_numpy(fashion))
    assert data.fields["label_b"].tolist() == fashion_labels.tolist() and len(data) == 64
    assert len(load_dataset(manager.registry, "mnist-fashion", data_dir, "test").fields["image_b"]) == 8

    # 64 digits and 24 fashion items in batches of 8: B starts a new epoch every 3 batches,
    # A every 8; a state saved after 5 batches resumes both exactly
    first = InMemoryBatches(data, batch_size=8, device="cpu", seed=0)
    for _ in range(5):
        first.next_batch()
    state = {k: v.clone() for k, v in first.state_dict().items()}
    expected = [first.next_batch() for _ in range(7)]
    assert first.streams[1].epoch == 3 and first.epoch == 1
    resumed = InMemoryBatches(data, batch_size=8, device="cpu", seed=0)
    resumed.load_state_dict(state)
    for want in expected:
        got = resumed.next_batch()
        assert all(torch.equal(got[k], want[k]) for k in want)


def test_mnist_fashion_without_fashion_names_what_is_missing(manager, data_dir):
    with pytest.raises(DataUnavailableError) as exc:
        load_dataset(manager.registry, "mnist-fashion", data_dir)
    message = one_line(exc)
    assert "needs Fashion-MNIST" in message and str(data_dir / "FashionMNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message
    assert not (data_dir / "FashionMNIST").exists()


# --------------------------------------------------------------------------- derive

def plugin_with(*specs: DatasetSpec) -> types.SimpleNamespace:
    """An in-process plugin whose ``ganzoo_datasets`` hook yields ``specs``."""
    return types.SimpleNamespace(ganzoo_datasets=hookimpl(lambda: list(specs)))


def digits_0_to_4(data: ItemData, split: str) -> ItemData:
    return data.subset(data.labels < 5)


def test_a_plugin_derives_mnist_04_and_trains_on_it(manager, cli, data_dir, tmp_path):
    mnist_04 = DatasetSpec(name="mnist-04", summary="MNIST digits 0-4", load=ds.derive("mnist", digits_0_to_4),
                           channels=1, image_size=28, num_classes=10)
    manager.register(plugin_with(mnist_04), name="derived-demo")
    data = load_dataset(manager.registry, "mnist-04", data_dir)
    mnist = ds.load_mnist(data_dir)
    assert len(data) == 34 and data.labels.max() == 4  # labels 0..9 in turn: 6 x 5 + 4 of 64
    assert torch.equal(data.images, mnist.images[mnist.labels < 5])
    assert len(load_dataset(manager.registry, "mnist-04", data_dir, "test")) == 10  # 5 + 5 of 16

    result = cli("train", "dcgan", "--dataset", "mnist-04", "--data-dir", str(data_dir), *TINY,
                 "--steps", "2", "--run-name", "digits04")
    assert result.exit_code == 0, result.output
    assert "data: mnist-04, 34 samples" in result.output
    assert (tmp_path / "runs" / "digits04" / "checkpoints" / "latest").is_file()


def test_derive_passes_the_split_and_refuses_loops_and_unknown_bases(manager, data_dir):
    splits = []

    def note_split(data: ItemData, split: str) -> ItemData:
        splits.append(split)
        return data

    manager.register(plugin_with(
        DatasetSpec(name="noted", summary="mnist as it is", load=ds.derive("mnist", note_split),
                    channels=1, image_size=28),
        DatasetSpec(name="loop-a", summary="a loop", load=ds.derive("loop-b", note_split), channels=1, image_size=28),
        DatasetSpec(name="loop-b", summary="a loop", load=ds.derive("loop-a", note_split), channels=1, image_size=28),
        DatasetSpec(name="orphan", summary="no base", load=ds.derive("no-such-set", note_split),
                    channels=1, image_size=28),
    ), name="derived-edge-cases")
    assert len(load_dataset(manager.registry, "noted", data_dir, "test")) == 16 and splits == ["test"]
    with pytest.raises(ConfigError) as exc:
        load_dataset(manager.registry, "loop-a", data_dir)
    assert "loop: loop-b -> loop-a -> loop-b" in one_line(exc)
    with pytest.raises(UnknownComponentError, match="no-such-set"):
        load_dataset(manager.registry, "orphan", data_dir)
    assert len(load_dataset(manager.registry, "noted", data_dir)) == 64  # a refusal leaves no state behind


# --------------------------------------------------------------------------- paired-folder

def test_side_by_side_images_are_split_into_image_and_target(tmp_path):
    root = tmp_path / "pairs"
    save(root / "1.png", side_by_side((255, 0, 0), (0, 0, 255)))
    save(root / "2.png", side_by_side((0, 255, 0), (255, 255, 0), size=(32, 16)))  # wide halves: cropped
    before = listing(root)
    data = ds.load_paired_folder(root, "train", 8)
    assert data.streams == [("image", "target")] and data.classes == {}
    image, target = data.fields["image"], data.fields["target"]
    assert image.shape == target.shape == (2, 3, 8, 8) and image.dtype == torch.uint8
    # exact colours: the cut lies exactly at half the width, no column of B leaks into A
    assert image[0].flatten(1).unique(dim=1).tolist() == [[255], [0], [0]]
    assert target[0].flatten(1).unique(dim=1).tolist() == [[0], [0], [255]]
    assert image[1].flatten(1).unique(dim=1).tolist() == [[0], [255], [0]]
    assert target[1].flatten(1).unique(dim=1).tolist() == [[255], [255], [0]]
    assert torch.equal(ds.load_paired_folder(root, "test", 8).fields["image"], image)  # no split folders
    assert listing(root) == before

    gray = tmp_path / "gray"
    save(gray / "a.png", side_by_side(30, 220, mode="L"))
    data = ds.load_paired_folder(gray, "train", None)
    assert data.fields["image"].shape == data.fields["target"].shape == (1, 1, 64, 64)
    assert data.fields["image"].unique().tolist() == [30] and data.fields["target"].unique().tolist() == [220]


def test_a_and_b_folders_are_paired_by_name_and_keep_their_own_channels(tmp_path):
    root = tmp_path / "ab"
    for name, value in (("b.png", 20), ("a.png", 10), ("sub/c.png", 30)):
        save(root / "A" / name, solid(value, mode="L"))
        save(root / "B" / name, solid((value, 0, 255 - value), (30, 20)))
    save(root / "notes.png", solid((1, 1, 1)))  # beside A/ and B/: not part of the pairs
    data = ds.load_paired_folder(root, "train", 8)
    image, target = data.fields["image"], data.fields["target"]
    assert image.shape == (3, 1, 8, 8) and target.shape == (3, 3, 8, 8)
    assert image[:, 0, 0, 0].tolist() == [10, 20, 30]  # a.png, b.png, sub/c.png
    assert target[:, :, 0, 0].tolist() == [[10, 0, 245], [20, 0, 235], [30, 0, 225]]


def test_split_folders_choose_what_each_split_reads(tmp_path):
    facades = tmp_path / "facades"
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            save(facades / split / f"{i}.png", side_by_side((i, 0, 0), (0, i, 0)))
    assert len(ds.load_paired_folder(facades, "train", 8)) == 3
    assert len(ds.load_paired_folder(facades, "test", 8)) == 2  # no test/: val/
    save(facades / "test" / "0.png", side_by_side((9, 9, 9), (8, 8, 8)))
    test = ds.load_paired_folder(facades, "test", 8)
    assert len(test) == 1 and test.fields["image"][0, 0, 0, 0] == 9  # test/ before val/

    nested = tmp_path / "nested"  # train/A, train/B and test/A, test/B
    for split, value in (("train", 50), ("test", 60)):
        for side in "AB":
            save(nested / split / side / "x.png", solid(value + (side == "B"), mode="L"))
    for split, value in (("train", 50), ("test", 60)):
        data = ds.load_paired_folder(nested, split, 8)
        assert data.fields["image"].unique().tolist() == [value]
        assert data.fields["target"].unique().tolist() == [value + 1]

    combined = tmp_path / "combined"  # pix2pix's combine_A_and_B layout: A/train, B/train
    for split, value in (("train", 70), ("test", 80)):
        for side in "AB":
            save(combined / side / split / "x.png", solid(value + (side == "B"), mode="L"))
    assert ds.load_paired_folder(combined, "test", 8).fields["target"].unique().tolist() == [81]

    only_train = tmp_path / "only-train"
    save(only_train / "train" / "0.png", side_by_side(0, 1, mode="L"))
    with pytest.raises(DataUnavailableError) as exc:
        ds.load_paired_folder(only_train, "test", 8)
    assert "has split folder(s) train/ but no test/ or val/ for the test split" in one_line(exc)


def test_paired_folder_refusals_are_one_line_and_name_the_problem(tmp_path):
    cases = []
    missing = tmp_path / "missing"
    cases.append((missing, DataUnavailableError, [str(missing), "does not exist", "A/ and B/"]))
    a_file = save(tmp_path / "file.png", solid((0, 0, 0)))
    cases.append((a_file, DataUnavailableError, [str(a_file), "is not a folder"]))
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    cases.append((empty, DataUnavailableError, ["no images found", str(empty), ".png"]))
    odd = tmp_path / "odd"
    save(odd / "wide.png", solid((1, 2, 3), (41, 20)))
    cases.append((odd, ConfigError, [str(odd / "wide.png"), "41x20, an odd width"]))
    broken = tmp_path / "broken"
    save(broken / "good.png", side_by_side(0, 1, mode="L"))
    (broken / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    cases.append((broken, ConfigError, ["cannot read image", str(broken / "bad.png")]))
    half = tmp_path / "half"
    save(half / "A" / "1.png", solid(1, mode="L"))
    cases.append((half, DataUnavailableError, [f"{half} has A/ but no B/"]))
    unmatched = tmp_path / "unmatched"
    for name in ("a.png", "b.png", "c.png", "d.png", "e.png"):
        save(unmatched / "A" / name, solid(1, mode="L"))
    save(unmatched / "B" / "a.png", solid(1, mode="L"))
    save(unmatched / "B" / "z.png", solid(1, mode="L"))
    cases.append((unmatched, ConfigError, [
        "A/ and B/ of", "do not match", "4 in A/ missing from B/: b.png, c.png, d.png, ... (1 more)",
        "1 in B/ missing from A/: z.png"]))
    empty_b = tmp_path / "empty-b"
    save(empty_b / "A" / "1.png", solid(1, mode="L"))
    (empty_b / "B").mkdir()
    cases.append((empty_b, DataUnavailableError, ["no images found in", str(empty_b / "B")]))

    for folder, error, words in cases:
        with pytest.raises(error) as exc:
            ds.load_paired_folder(folder, "train", 8)
        message = one_line(exc)
        if error is ConfigError:
            assert not isinstance(exc.value, DataUnavailableError)
        for word in words:
            assert word in message, (folder, message)


def test_train_refuses_an_odd_side_by_side_image_with_one_line(cli, tmp_path):
    root = tmp_path / "odd"
    save(root / "0.png", side_by_side(0, 255, mode="L"))
    save(root / "1.png", solid(5, (33, 16), mode="L"))
    result = cli("train", "dcgan", "--dataset", "paired-folder", "--data-dir", str(root), *TINY)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "an odd width" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()
    assert listing(root) == ["0.png", "1.png"]


# --------------------------------------------------------------------------- unpaired-folder

def test_unpaired_folder_reads_cyclegans_layout(tmp_path):
    root = tmp_path / "horse2zebra"
    for i in range(3):
        save(root / "trainA" / f"{i}.png", solid(10 * i, mode="L"))
    save(root / "trainB" / "x.jpg", solid((200, 100, 50), (40, 30)))
    save(root / "trainB" / "deep" / "y.png", solid(90, mode="L"))  # a grey image among RGB ones
    save(root / "testA" / "t.png", solid(7, mode="L"))
    save(root / "testB" / "t.png", solid(8, mode="L"))
    before = listing(root)
    data = ds.load_unpaired_folder(root, "train", 8)
    assert data.streams == [("image",), ("image_b",)] and data.labels is None and data.classes == {}
    a, b = data.fields["image"], data.fields["image_b"]
    assert a.shape == (3, 1, 8, 8) and b.shape == (2, 3, 8, 8)  # each domain its own channels
    assert a[:, 0, 0, 0].tolist() == [0, 10, 20]
    assert b[0].unique().tolist() == [90]  # deep/y.png first; grey replicated into R, G and B
    assert torch.allclose(b[1].float().mean(dim=(1, 2)), torch.tensor([200.0, 100.0, 50.0]), atol=4)
    test = ds.load_unpaired_folder(root, "test", None)
    assert test.fields["image"].shape == test.fields["image_b"].shape == (1, 1, 64, 64)
    assert test.fields["image_b"].unique().tolist() == [8]
    assert listing(root) == before


def test_unpaired_folder_refusals_are_one_line_and_name_the_problem(tmp_path):
    root = tmp_path / "domains"
    save(root / "trainA" / "a.png", solid(1, mode="L"))
    save(root / "testA" / "a.png", solid(1, mode="L"))
    (root / "trainB").mkdir()
    cases = [
        (tmp_path / "nope", "train", DataUnavailableError, ["does not exist", str(tmp_path / "nope")]),
        (root / "trainA" / "a.png", "train", DataUnavailableError, ["is not a folder"]),
        (root, "train", DataUnavailableError, ["no images found in", str(root / "trainB")]),
        (root, "test", DataUnavailableError, [f"{root} has no testB/ folder", "trainA/, trainB/, testA/, testB/"]),
        (tmp_path, "train", DataUnavailableError, ["has no trainA/ folder"]),
    ]
    for folder, split, error, words in cases:
        with pytest.raises(error) as exc:
            ds.load_unpaired_folder(folder, split, 8)
        message = one_line(exc)
        for word in words:
            assert word in message, (folder, message)
    save(root / "trainB" / "b.png", solid((1, 2, 3)))
    (root / "trainB" / "c.png").write_bytes(b"GIF89a junk")
    with pytest.raises(ConfigError) as exc:
        ds.load_unpaired_folder(root, "train", 8)
    assert "cannot read image" in one_line(exc) and "c.png" in str(exc.value)
