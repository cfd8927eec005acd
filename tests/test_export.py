"""`ganzoo export`: ONNX and TorchScript files of generators, translators, encoders and
VQ-GAN's halves whose outputs equal ganzoo's own for the same latents and inputs, run by
onnxruntime / torch.jit.load (also in fresh venvs without ganzoo), and one-line refusals."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ganzoo.errors import ConfigError
from ganzoo.outputs.sampling import load

onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'ganzoo[dev]')")
pytest.importorskip("onnx", reason="onnx is not installed (pip install 'ganzoo[export]')")

TOLERANCE = 1e-4
WIDTHS = {"ngf": 8, "ndf": 8, "latent_dim": 8, "hidden": 16, "n_blocks": 1, "embed_dim": 8, "d_embed_dim": 8,
          "num_rep": 2, "d_fc": 8, "codebook_size": 16}
"""Widths a model gets for the options its architecture has: a few units, for runs of seconds."""
EXTRA = {  # chosen: the families that need their own data or settings
    "gan": ["--dataset", "toy-ring"], "stargan": ["--image-size", "16"], "wavegan": ["--dataset", "fsdd-8k"],
    "vgan": ["--image-size", "16"], "progan": ["--set", "algo.stage_steps=1"],
    "relgan": ["--dataset", "text-folder", "--set", "algo.pretrain_steps=1", "--set", "n_critic=1"],
}
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``trained(model, *flags)``: a two-step run of ``model`` with networks a few units wide,
    trained once per module (the tests only read it)."""
    from typer.testing import CliRunner

    from ganzoo.cli import create_app
    from ganzoo.plugins.manager import PluginManager, set_plugin_manager

    from .conftest import make_digits, register_builtins, write_fsdd, write_idx

    root = tmp_path_factory.mktemp("export-runs")
    data = root / "data"
    (data / "MNIST" / "raw").mkdir(parents=True)
    write_idx(data / "MNIST" / "raw", *make_digits(64, seed=0), split="train")
    write_idx(data / "MNIST" / "raw", *make_digits(16, seed=1), split="test")
    write_fsdd(data)
    (root / "corpus").mkdir()
    (root / "corpus" / "a.txt").write_text("".join(f"the cat sees {w} .\n" for w in ("a", "my", "the", "one") * 8))
    manager = register_builtins(PluginManager(entry_points=False, warn=lambda line: None))
    app, runner, runs = create_app(manager), CliRunner(), {}

    def train(model: str, *flags: str) -> Path:
        key = (model, *flags)
        if key not in runs:
            fields = manager.registry.get("model", model).spec.config_class.model_fields
            sets = [x for k, v in WIDTHS.items() if k in fields for x in ("--set", f"arch.{k}={v}")]
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("GANZOO_OFFLINE", "1")
                patch.setenv("XDG_CACHE_HOME", str(root / "cache"))
                set_plugin_manager(manager)
                result = runner.invoke(app, [
                    "train", model, "--data-dir", str(root / "corpus" if model == "relgan" else data), "--steps", "2",
                    "--batch-size", "4", "--device", "cpu", "--quiet", "--out", str(root / "runs"),
                    "--run-name", f"{model}-{len(runs)}", *sets, *EXTRA.get(model, []), *flags])
                set_plugin_manager(None)
            assert result.exit_code == 0, result.output
            runs[key] = root / "runs" / f"{model}-{len(runs)}"
        return runs[key]

    return train


def export_cli(cli, run: Path, fmt: str, out: Path, *extra: str) -> dict:
    result = cli("export", str(run), "--format", fmt, "--out", str(out), *extra)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and out.is_file()
    assert "checked with" in result.stderr
    return read_meta(fmt, out)


@pytest.fixture(autouse=True)
def _no_jit_deprecation():
    """torch >= 2.10 warns that torch.jit is deprecated (a FutureWarning); it still works."""
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated", category=FutureWarning)


def read_meta(fmt: str, path: Path) -> dict:
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return json.loads(session.get_modelmeta().custom_metadata_map["ganzoo"])
    extra = {"ganzoo.json": ""}
    torch.jit.load(str(path), _extra_files=extra)
    return json.loads(extra["ganzoo.json"])


def run_file(fmt: str, path: Path, *inputs: torch.Tensor) -> torch.Tensor:
    """The exported file's output for ``inputs``, run by onnxruntime or torch.jit.load."""
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
        return torch.from_numpy(session.run(None, feed)[0])
    with torch.no_grad():
        return torch.jit.load(str(path))(*inputs)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a.double() - b.double()).abs().max().item()


# generators ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
# chosen: a model of each kind of output, a conditional one and a growing one
@pytest.mark.parametrize("model, kind", [("dcgan", "image"), ("cgan", "image"), ("gan", "points"),
                                         ("wavegan", "audio"), ("vgan", "video"), ("progan", "image")])
def test_an_exported_generator_makes_ganzoos_samples_for_the_same_latents(cli, trained, tmp_path, model, kind, fmt):
    run = trained(model)
    out = tmp_path / f"g{SUFFIX[fmt]}"
    meta = export_cli(cli, run, fmt, out)
    handle = load(run)
    g = handle.generator
    n = 7  # neither the traced nor the checked batch size
    z = g.sample_latent(n, generator=torch.Generator().manual_seed(3), device="cpu")
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2]) if g.num_classes else None
    ours = handle.sample(n, labels=labels, seed=3)
    theirs = run_file(fmt, out, z, *([labels] if labels is not None else []))
    assert max_diff(theirs, ours) < TOLERANCE
    assert meta["model"] == model and meta["task"] == "sample" and meta["data_kind"] == kind
    assert meta["inputs"][0] == {"name": "z", "dtype": "float32", "shape": ["N", g.latent_dim],
                                 "description": f"latent vectors drawn from {meta['latent_prior']}"}
    assert meta["outputs"][0]["shape"] == ["N", *g.out_shape] and meta["outputs"][0]["name"] == kind
    assert meta["latent_dim"] == g.latent_dim and meta["step"] == 2 and meta["num_classes"] == g.num_classes
    assert meta["checkpoint"] == str(handle.checkpoint) and meta["ganzoo_version"]
    assert meta["latent_prior"] == ("uniform(-1, 1)" if model == "wavegan" else "normal(0, 1)")
    if g.num_classes:
        assert [i["name"] for i in meta["inputs"]] == ["z", "labels"] and meta["inputs"][1]["dtype"] == "int64"
    if kind == "audio":
        assert meta["rate"] == 8000 and meta["outputs"][0]["range"] == [-1, 1]
    if kind == "points":
        assert meta["outputs"][0]["range"] is None


def test_the_export_has_the_moving_average_weights_unless_raw(cli, trained, tmp_path):
    run = trained("dcgan", "--set", "ema=0.5")
    z = load(run).generator.sample_latent(4, generator=torch.Generator().manual_seed(0), device="cpu")
    outputs = {}
    for ema, flags in ((True, []), (False, ["--raw-weights"])):
        out = tmp_path / f"{ema}.pt"
        meta = export_cli(cli, run, "torchscript", out, *flags)
        assert meta["weights"] == ("moving average (ema)" if ema else "raw")
        outputs[ema] = run_file("torchscript", out, z)
        assert torch.equal(outputs[ema], load(run, ema=ema).sample(4, seed=0))  # the same ops: bitwise
    assert max_diff(outputs[True], outputs[False]) > 1e-6  # (a two-step run's images are all near 0)


def test_token_ids_equal_ganzoos_and_the_vocabulary_travels_with_them(cli, trained, tmp_path):
    run = trained("relgan")
    handle = load(run)
    ours = handle.sample(200, seed=5)
    z = handle.generator.sample_latent(200, generator=torch.Generator().manual_seed(5), device="cpu")
    for fmt in ("torchscript", "onnx"):
        out = tmp_path / f"t{SUFFIX[fmt]}"
        meta = export_cli(cli, run, fmt, out)
        theirs = run_file(fmt, out, z)
        assert theirs.dtype == torch.int64 and theirs.shape == ours.shape
        if fmt == "torchscript":
            assert torch.equal(theirs, ours)
        else:  # an id is a threshold of floats: onnxruntime's rounding may flip one on a boundary
            assert (theirs == ours).double().mean() >= 0.995
        assert meta["vocabulary"] == list(handle.field.vocabulary) and "the" in meta["vocabulary"]
        assert meta["vocabulary_size"] == handle.field.classes == meta["outputs"][0]["range"][1] + 1


# translators, encoders, decoders -------------------------------------------------------------

def images(n: int, shape, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# chosen: each translator family, the two formats and both of CycleGAN's directions between them
@pytest.mark.parametrize("model, fmt, net", [("pix2pix", "onnx", None), ("cyclegan", "torchscript", "g_ba"),
                                             ("cyclegan", "onnx", None), ("srgan", "onnx", None),
                                             ("vqgan", "torchscript", None)])
def test_an_exported_translator_translates_as_ganzoo_does(cli, trained, tmp_path, model, fmt, net):
    run = trained(model)
    out = tmp_path / f"t{SUFFIX[fmt]}"
    meta = export_cli(cli, run, fmt, out, *(["--net", net] if net else []))
    handle = load(run)
    name, translator = handle._translator(net)
    assert meta["net"] == name == (net or next(iter(handle.translators)))
    x = images(6, translator.in_shape)
    assert max_diff(run_file(fmt, out, x), handle.translate(x, net=net)) < TOLERANCE
    assert [i["name"] for i in meta["inputs"]] == ["image"] and meta["outputs"][0]["shape"] == ["N", *translator.out_shape]


def test_stargan_takes_the_target_domain_as_an_input(cli, trained, tmp_path):
    run = trained("stargan")
    meta = export_cli(cli, run, "onnx", tmp_path / "s.onnx")
    handle = load(run)
    x = images(5, handle.translators["generator"].in_shape)
    domains = torch.tensor([0, 4, 2, 1, 3])
    theirs = run_file("onnx", tmp_path / "s.onnx", x, domains)
    assert max_diff(theirs, handle.translate(x, domain=domains)) < TOLERANCE
    assert max_diff(theirs[1:2], handle.translate(x[1:2], domain=4)) < TOLERANCE
    assert [i["name"] for i in meta["inputs"]] == ["image", "domain"] and meta["num_domains"] == 5


def test_the_context_encoder_takes_a_mask_and_names_its_default(cli, trained, tmp_path):
    run = trained("context-encoder")
    meta = export_cli(cli, run, "torchscript", tmp_path / "c.pt")
    handle = load(run)
    g = handle.translators["generator"]
    x = images(4, g.in_shape)
    top, left, height, width = meta["default_mask"]["box"]
    assert (top, height) == ((28 - g.mask_size) // 2, g.mask_size) and (left, width) == (top, height)
    mask = torch.zeros(4, 1, 28, 28)
    mask[..., top:top + height, left:left + width] = 1
    theirs = run_file("torchscript", tmp_path / "c.pt", x, mask)
    assert max_diff(theirs, handle.translate(x)) < TOLERANCE  # `ganzoo sample`'s centre mask
    block = torch.zeros(4, 1, 28, 28)
    block[..., 2:9, 3:12] = 1
    theirs = run_file("torchscript", tmp_path / "c.pt", x, block)
    with torch.no_grad():
        assert max_diff(theirs, g(x, block)) < TOLERANCE
    assert torch.equal(theirs[..., 20:, :], x[..., 20:, :])  # known pixels are kept


def test_bigans_encoder_and_vqgans_halves(cli, trained, tmp_path):
    bigan = trained("bigan")
    handle = load(bigan)
    x = images(5, handle.encoder.in_shape)
    meta = export_cli(cli, bigan, "onnx", tmp_path / "e.onnx", "--net", "encoder")
    assert meta["task"] == "encode" and meta["outputs"][0]["shape"] == ["N", handle.encoder.latent_dim]
    assert max_diff(run_file("onnx", tmp_path / "e.onnx", x), handle.encode(x)) < TOLERANCE
    assert export_cli(cli, bigan, "onnx", tmp_path / "g.onnx")["task"] == "sample"  # its default: the generator

    vqgan = trained("vqgan")
    vq = load(vqgan).translators["generator"]
    meta = export_cli(cli, vqgan, "onnx", tmp_path / "codes.onnx", "--net", "generator.codes")
    with torch.no_grad():
        codes = vq.encode(x)
    assert torch.equal(run_file("onnx", tmp_path / "codes.onnx", x), codes)
    assert meta["codebook_size"] == 16 and meta["outputs"][0]["shape"] == ["N", *codes.shape[1:]]
    export_cli(cli, vqgan, "torchscript", tmp_path / "d.pt", "--net", "generator.decode")
    with torch.no_grad():
        assert max_diff(run_file("torchscript", tmp_path / "d.pt", codes), vq.decode_indices(codes)) < TOLERANCE


def test_the_default_file_is_in_the_runs_export_folder(cli, trained, tmp_path):
    run = trained("pix2pix")
    result = cli("export", str(run), "--format", "torchscript")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(run / "export" / "generator.pt") and (run / "export" / "generator.pt").is_file()
    assert "inputs: image float32 [N, 1, 28, 28]" in result.stderr
    assert "run: torch.jit.load(" in result.stderr


# refusals ------------------------------------------------------------------------------------

def one_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_bad_requests_are_refused_in_one_line_and_write_nothing(cli, trained, tmp_path):
    run = trained("cyclegan")
    cases = [
        (["--format", "tflite", "--out", "m.onnx"], "error: unknown export format 'tflite': use onnx or torchscript"),
        (["--format", "onnx", "--out", "m.pt"], "error: onnx files end in .onnx, not 'm.pt'"),
        (["--format", "torchscript", "--out", "m.onnx"], "error: torchscript files end in .pt, not 'm.onnx'"),
        (["--out", "nowhere/m.onnx"], "error: folder nowhere does not exist"),
        (["--out", "m.onnx", "--net", "g_xy"], "error: no network 'g_xy' to export; model 'cyclegan' has g_ab, g_ba"),
        (["--out", "m.onnx", "--opset", "9"], "error: --opset must be in 14..20, got 9"),
    ]
    for args, message in cases:
        assert one_line(cli("export", str(run), *args)) == message
    assert one_line(cli("export", str(tmp_path / "nope"), "--out", "m.onnx"), 5) == \
        f"error: no such run or checkpoint: {tmp_path / 'nope'}"
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob("*.pt"))
    assert not (run / "export").exists()


def test_a_missing_onnx_package_is_named_with_the_pip_command(cli, trained, tmp_path, monkeypatch):
    run = trained("gan")
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert one_line(cli("export", str(run), "--out", "m.onnx")) == \
        "error: ONNX export needs the onnx package: pip install 'ganzoo[export]'"
    assert cli("export", str(run), "--format", "torchscript", "--out", "m.pt").exit_code == 0  # torch is enough


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_network_whose_trace_bakes_the_batch_size_is_refused_and_leaves_no_file(cli, trained, tmp_path, fmt):
    from ganzoo.outputs.export import export

    run = trained("dcgan")
    handle = load(run)
    g = handle.generator

    class Baked(type(g)):
        def forward(self, z, labels=None):  # len() is a constant to a trace
            return super().forward(z, labels).reshape(len(z), -1).reshape(len(z), *self.out_shape)

    g.__class__ = Baked
    out = tmp_path / f"b{SUFFIX[fmt]}"
    with pytest.raises(ConfigError, match=r"^cannot export dcgan generator as \w+: the written file does not run "
                                          r"on a batch of 5 \(.+\)$"):
        export(run, fmt, out, handle=handle)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".b")]


# the file runs without ganzoo ----------------------------------------------------------------

def closure(*names: str) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions ``names`` and, recursively, what they require (markers
    evaluated here, extras skipped; requirements not installed, such as CUDA wheels of a CPU
    torch, left out)."""
    from packaging.requirements import Requirement

    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def isolated_python(tmp_path: Path, *packages: str) -> Path:
    """A fresh venv (no pip, no system site-packages) that sees only ``packages`` and their
    requirements: a .pth names a folder of links to their top-level files."""
    root = tmp_path / f"venv-{'-'.join(packages)}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, capture_output=True)
    linked = tmp_path / f"site-{'-'.join(packages)}"
    linked.mkdir()
    for dist in closure(*packages).values():
        for file in dist.files or []:
            top = Path(file).parts[0]
            if top in ("..", "__pycache__") or (linked / top).exists() or top.endswith(".pth"):
                continue
            (linked / top).symlink_to(Path(dist.locate_file(top)))
    site = next(root.glob("lib/python3*/site-packages"), None) or root / "Lib" / "site-packages"
    (site / "isolated.pth").write_text(f"{linked}\n")
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


RUNNER = """
import sys
try:
    import ganzoo
except ModuleNotFoundError:
    pass
else:
    sys.exit("ganzoo is importable: " + ganzoo.__file__)
path, inputs, output = sys.argv[1:]
"""


def run_isolated(python: Path, code: str, *args: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run([str(python), "-c", RUNNER + textwrap.dedent(code), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_exported_files_run_in_venvs_without_ganzoo(cli, trained, tmp_path):
    run = trained("cgan")
    export_cli(cli, run, "onnx", tmp_path / "c.onnx")
    export_cli(cli, run, "torchscript", tmp_path / "c.pt")
    handle = load(run)
    labels = torch.tensor([7, 0, 3])
    z = handle.generator.sample_latent(3, generator=torch.Generator().manual_seed(1), device="cpu")
    ours = handle.sample(3, labels=labels, seed=1)
    work = tmp_path / "elsewhere"
    work.mkdir()

    np.savez(tmp_path / "in.npz", z=z.numpy(), labels=labels.numpy())
    run_isolated(isolated_python(tmp_path, "onnxruntime"), """
        import json
        import numpy as np
        try:
            import torch
        except ModuleNotFoundError:
            pass
        else:
            sys.exit("torch is importable")
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        meta = json.loads(session.get_modelmeta().custom_metadata_map["ganzoo"])
        with np.load(inputs) as given:
            feed = {t["name"]: given[t["name"]].astype(t["dtype"]) for t in meta["inputs"]}
        np.save(output, session.run(None, feed)[0])
    """, str(tmp_path / "c.onnx"), str(tmp_path / "in.npz"), str(tmp_path / "onnx.npy"), cwd=work)
    assert max_diff(torch.from_numpy(np.load(tmp_path / "onnx.npy")), ours) < TOLERANCE

    torch.save({"z": z, "labels": labels}, tmp_path / "in.pt")
    run_isolated(isolated_python(tmp_path, "torch"), """
        import json
        import torch
        extra = {"ganzoo.json": ""}
        module = torch.jit.load(path, _extra_files=extra)
        given = torch.load(inputs)
        names = [t["name"] for t in json.loads(extra["ganzoo.json"])["inputs"]]
        with torch.no_grad():
            torch.save(module(*[given[n] for n in names]), output)
    """, str(tmp_path / "c.pt"), str(tmp_path / "in.pt"), str(tmp_path / "ts.pt"), cwd=work)
    assert max_diff(torch.load(tmp_path / "ts.pt"), ours) < TOLERANCE
