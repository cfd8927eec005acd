"""`ganzoo sample` by task: translations of the run's test split or of a user's images
(folder or .npz), reconstructions for encoder models, and one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from .conftest import TINY

SMALL = ["--steps", "2", "--batch-size", "8", "--device", "cpu", "--quiet"]


@pytest.fixture
def pix2pix_run(cli, data_dir, tmp_path):
    result = cli("train", "pix2pix", "--data-dir", str(data_dir), *SMALL, "--set", "arch.ngf=4",
                 "--set", "arch.ndf=4", "--run-name", "p2p")
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "p2p"


def read_png(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def test_a_translator_samples_its_test_split_as_input_output_target_rows(cli, pix2pix_run, data_dir, tmp_path):
    out = tmp_path / "t.png"
    result = cli("sample", str(pix2pix_run), "-n", "8", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 8 translations by generator (step 2)" in result.stderr
    grid = read_png(out)
    assert grid.shape == (2 + 3 * 30, 2 + 8 * 30)  # one block of 8: input, output, target rows (28 px + 2)


def test_a_translator_translates_a_users_folder_and_npz(cli, pix2pix_run, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40), 60 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    png = cli("sample", str(pix2pix_run), "--input", str(folder), "--out", str(tmp_path / "mine.png"))
    assert png.exit_code == 0, png.output
    assert read_png(tmp_path / "mine.png").shape == (2 + 2 * 30, 2 + 8 * 30)  # input and output rows
    raw = cli("sample", str(pix2pix_run), "--input", str(folder), "--format", "npz", "--out", str(tmp_path / "o.npz"))
    assert raw.exit_code == 0, raw.output
    with np.load(tmp_path / "o.npz") as archive:
        assert archive["images"].shape == (3, 28, 28, 1) and archive["images"].dtype == np.uint8
        assert archive["inputs"].shape == (3, 28, 28, 1)
        again = {"images": archive["inputs"]}
    np.savez(tmp_path / "in.npz", **again)
    npz = cli("sample", str(pix2pix_run), "--input", str(tmp_path / "in.npz"), "--out", str(tmp_path / "n.png"))
    assert npz.exit_code == 0 and "3 translations" in npz.stderr


@pytest.mark.parametrize("args, message", [
    (["--label", "3"], "--interpolate and --label apply to generators"),
    (["--input", "nowhere"], "--input nowhere does not exist"),
    (["--net", "g_xy"], "no translator 'g_xy'; this model has generator"),
])
def test_translator_sampling_refuses_in_one_line(cli, pix2pix_run, tmp_path, args, message):
    result = cli("sample", str(pix2pix_run), *args, "--out", str(tmp_path / "x.png"))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_a_generator_refuses_input_images(cli, data_dir, tmp_path):
    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "g").exit_code == 0
    folder = tmp_path / "mine"
    folder.mkdir()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(folder / "a.png")
    result = cli("sample", str(tmp_path / "runs" / "g"), "--input", str(folder), "--out", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "samples from latents and takes no input images" in result.stderr


def test_an_encoder_model_reconstructs_input_images(cli, data_dir, tmp_path):
    result = cli("train", "bigan", "--data-dir", str(data_dir), *SMALL, "--run-name", "b")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((28, 28), 100 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    png = cli("sample", str(tmp_path / "runs" / "b"), "--input", str(folder), "--out", str(tmp_path / "r.png"))
    assert png.exit_code == 0 and "2 reconstructions G(E(x))" in png.stderr
    raw = cli("sample", str(tmp_path / "runs" / "b"), "--input", str(folder), "--format", "npz",
              "--out", str(tmp_path / "r.npz"))
    assert raw.exit_code == 0, raw.output
    with np.load(tmp_path / "r.npz") as archive:
        assert archive["images"].shape == (2, 28, 28, 1) and archive["codes"].shape[0] == 2
    plain = cli("sample", str(tmp_path / "runs" / "b"), "-n", "4", "--out", str(tmp_path / "s.png"))
    assert plain.exit_code == 0 and "wrote 4 images" in plain.stderr  # it is a generator too
