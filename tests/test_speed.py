"""Issue 14's machinery: --precision auto, the machine kind, a lean start-up (no torchvision on
the training path: our own IDX reader and PNG grids, identical to torchvision's), threads, and
`ganzoo bench --all`."""

from __future__ import annotations

import copy
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganzoo.training import hardware
from ganzoo.errors import DataUnavailableError

from .conftest import TINY

REPO = Path(__file__).resolve().parent.parent


# --- what the processor can do -------------------------------------------------------------------

@pytest.mark.parametrize("flags, speedup, expected, unit", [
    ({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, 6.0, "bf16", "AMX-BF16"),
    ({"avx2", "avx512f", "avx512_bf16"}, 2.1, "bf16", "AVX512-BF16"),   # an EPYC (Zen 4)
    ({"avx2", "avx512f", "avx512_bf16"}, 0.5, "fp32", "AVX512-BF16"),   # a Xeon with AMX hidden
    ({"avx2", "fma"}, None, "fp32", None),
    (set(), None, "fp32", None),
])
def test_auto_picks_bf16_only_where_the_cpu_has_native_bf16_that_is_faster(monkeypatch, flags, speedup, expected,
                                                                           unit):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    probed = []
    monkeypatch.setattr(hardware, "bf16_speedup", lambda: probed.append(1) or speedup)
    assert hardware.cpu_bf16() == unit
    picked, why = hardware.pick_precision(torch.device("cpu"))
    assert picked == expected
    assert (unit in why and f"{speedup:.1f}x fp32" in why) if unit else ("no native bf16" in why)
    assert bool(probed) == bool(unit)  # emulated bf16 is never worth measuring


def test_bf16_speedup_is_measured_once_per_process():
    """A ratio of two timings (what it is on a CPU is the benchmarks' business, not a test's:
    another job on the machine moves it far): finite, positive, and measured only once."""
    hardware.bf16_speedup.cache_clear()
    speedup = hardware.bf16_speedup(size=128, repeats=2)
    assert 0 < speedup < math.inf
    assert hardware.bf16_speedup(size=128, repeats=2) == speedup
    assert hardware.bf16_speedup.cache_info().hits == 1
    hardware.bf16_speedup.cache_clear()


@pytest.mark.parametrize("capability, flags, vendor, kind", [
    ("AVX512", {"avx512_bf16", "amx_bf16", "amx_tile"}, "intel", "avx512-amx"),
    ("AVX512", {"avx512_bf16"}, "amd", "avx512-bf16-amd"),
    ("AVX512", {"avx512_bf16"}, "intel", "avx512-bf16-intel"),
    ("AVX512", {"avx512_bf16"}, None, "avx512-bf16"),
    ("AVX512", set(), "intel", "avx512"),
    ("AVX2", set(), "amd", "avx2"),
])
def test_machine_kind_names_the_bf16_units(monkeypatch, capability, flags, vendor, kind):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(hardware, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert hardware.machine_kind() == kind


def test_cpu_flags_agree_with_proc_cpuinfo():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo")
    line = next((ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("flags")), None)
    if line is None:
        pytest.skip("no flags line")
    listed = set(line.split(":", 1)[1].split())
    for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"):
        if flag in hardware.cpu_flags():
            assert flag in listed or flag.replace("avx512f", "avx512_f") in listed


def test_threads_at_most_one_per_physical_core_never_raised_and_omp_respected(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
        monkeypatch.setattr(hardware, "physical_cores", lambda: 1)
        torch.set_num_threads(2)
        assert hardware.set_threads() == 1  # two threads on one core: lowered
        monkeypatch.setattr(hardware, "physical_cores", lambda: 4)
        assert hardware.set_threads() == 1  # the process's own lower count: not raised
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        monkeypatch.setattr(hardware, "physical_cores", lambda: 1)
        torch.set_num_threads(2)
        assert hardware.set_threads() == 2  # OMP_NUM_THREADS: left alone
    finally:
        torch.set_num_threads(before)


def test_physical_cores_counts_each_core_once(monkeypatch, tmp_path):
    """Two CPUs that are hyper-threads of one core count once; a CPU without topology files
    counts as its own core."""
    import os

    topology = {0: ("0", "0"), 1: ("0", "0"), 2: ("0", "1")}
    real_path = Path

    def fake_path(p):
        text = str(p)
        for cpu, (package, core) in topology.items():
            base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
            if text == base:
                folder = tmp_path / f"cpu{cpu}"
                folder.mkdir(exist_ok=True)
                (folder / "physical_package_id").write_text(package)
                (folder / "core_id").write_text(core)
                return folder
        return real_path(tmp_path / "absent" / text.strip("/"))

    monkeypatch.setattr(hardware, "Path", fake_path)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert hardware.physical_cores() == 3  # {0,1} share a core, 2 has its own, 3 has no topology


# --- --precision auto ----------------------------------------------------------------------------

@pytest.mark.parametrize("flags, expected", [({"avx512_bf16"}, "bf16"), ({"avx2"}, "fp32")])
def test_train_with_precision_auto_says_and_records_what_it_picked(cli, data_dir, tmp_path, monkeypatch,
                                                                    flags, expected):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(hardware, "bf16_speedup", lambda: 2.0)
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--precision", "auto", "--run-name", "a")
    assert result.exit_code == 0, result.output
    assert f"precision auto -> {expected}" in result.output
    run = tmp_path / "runs" / "a"
    assert json.loads((run / "config.json").read_text())["precision"] == expected
    # resuming with auto on the same machine is the same setting, not a changed one
    resumed = cli("train", "--resume", str(run), "--steps", "4", "--precision", "auto")
    assert resumed.exit_code == 0, resumed.output
    if expected == "bf16":  # on a CPU without native bf16, auto means fp32: a change, refused
        monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"}))
        refused = cli("train", "--resume", str(run), "--steps", "5", "--precision", "auto")
        assert refused.exit_code != 0
        assert "precision" in refused.output and "refusing to resume" in refused.output


def test_matmul_peak_tries_no_larger_size_once_a_multiply_is_slow(monkeypatch):
    """Emulated bf16 on an AVX2 CPU multiplies at about 1 GFLOP/s: a 2048-square peak there took
    minutes. The sizes run smallest first, and stop after the first multiply over 0.1 s."""
    from ganzoo.training import bench

    tried = []

    def rate(device, dtype, size, repeats):
        tried.append(size)
        return 1e9  # 2 * 1024**3 FLOP takes 2.1 s at this rate; 512 takes 0.27 s
    monkeypatch.setattr(bench, "matmul_rate", rate)
    assert bench.matmul_peak.__wrapped__(torch.device("cpu"), "bf16") == 1e9
    assert tried == [512]
    tried.clear()
    monkeypatch.setattr(bench, "matmul_rate", lambda device, dtype, size, repeats: tried.append(size) or 1e12)
    bench.matmul_peak.__wrapped__(torch.device("cpu"), "fp32")
    assert tried == [512, 1024, 2048]  # 17 ms for the largest at 1 TFLOP/s: all three measured


def test_auto_under_the_python_api_trains_like_the_precision_it_picks(manager, data_dir, tmp_path, monkeypatch):
    """A Trainer given ``precision: auto`` resolves it (bf16 here) instead of silently running fp32."""
    from ganzoo.training.bench import bench

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(hardware, "bf16_speedup", lambda: 2.0)
    row = bench(manager.registry, "dcgan", device="cpu", batch_size=4, image_size=16, precision="auto",
                steps=1, warmup=0)
    assert row["precision"] == "bf16" and "AVX512-BF16" in row["precision_auto"]


# --- start-up: no torchvision on the training path ---------------------------------------------

@pytest.mark.parametrize("model", ["dcgan", "wgan"])  # Adam; RMSprop
def test_training_and_resuming_import_neither_torchvision_nor_dynamo(data_dir, tmp_path, model):
    """torchvision's import pulls in torch._dynamo's compiler stack, and so do torch.optim's
    wrapped methods (1.4-2 s on the CPUs measured); a run on MNIST files, its checkpoints and
    its resume need neither."""
    out = tmp_path / "r"
    code = (
        "import sys, ganzoo\n"
        "from ganzoo.cli import main\n"
        "def run(*args):\n"
        "    sys.argv = ['ganzoo', 'train', *args]\n"
        "    try:\n        main()\n    except SystemExit as e:\n        assert not e.code, e.code\n"
        f"run({model!r}, '--data-dir', {str(data_dir)!r}, '--out', {str(out)!r}, '--run-name', 'a', '--steps', '2',"
        " '--batch-size', '8', '--set', 'arch.ngf=8', '--set', 'arch.ndf=8', '--device', 'cpu', '-q')\n"
        f"run('--resume', {str(out / 'a')!r}, '--steps', '3', '-q')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torchvision' or m.startswith('torch._dynamo'))\n"
        "assert not bad, bad[:5]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"GANZOO_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "a" / "samples" / "step-0000002.png").is_file()
    assert (out / "a" / "samples" / "step-0000003.png").is_file()


@pytest.mark.parametrize("name, options", [
    ("Adam", {"lr": 2e-3, "betas": (0.5, 0.999), "fused": True}),
    ("AdamW", {"lr": 2e-3, "weight_decay": 0.1, "fused": True}),
    ("Adam", {"lr": 2e-3}),
    ("RMSprop", {"lr": 5e-3, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
])
def test_lean_optimizers_step_and_save_like_torchs_bit_for_bit(name, options):
    from ganzoo.training.optim import lean_optimizer

    stock_cls = getattr(torch.optim, name)
    stock_cls([torch.zeros(1, requires_grad=True)], lr=0.1)  # torch hooks the class's step on first use
    lean_cls = lean_optimizer(stock_cls)
    assert lean_cls is not stock_cls and issubclass(lean_cls, stock_cls)

    def train(cls, state=None):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1))
        optimizer = cls(net.parameters(), **options)
        if state is not None:  # (copies: a loaded optimizer state may share the given tensors)
            net.load_state_dict(copy.deepcopy(state[0]))
            optimizer.load_state_dict(copy.deepcopy(state[1]))
        for i in range(3):
            optimizer.zero_grad()
            net(torch.full((4, 5), 0.1 * (i + 1))).square().mean().backward()
            optimizer.step()
        return net, optimizer

    stock, stock_opt = train(stock_cls)
    lean, lean_opt = train(lean_cls)
    for a, b in zip(stock.parameters(), lean.parameters()):
        assert torch.equal(a, b)
    stock_state, lean_state = stock_opt.state_dict(), lean_opt.state_dict()
    assert stock_state["param_groups"] == lean_state["param_groups"]
    for key, values in stock_state["state"].items():
        for k, v in values.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(lean_state["state"][key][k])), (key, k)
    # a checkpoint of one resumes in the other, to the same numbers
    again_stock, _ = train(stock_cls, (stock.state_dict(), stock_state))
    again_lean, _ = train(lean_cls, (stock.state_dict(), stock_state))
    for a, b in zip(again_stock.parameters(), again_lean.parameters()):
        assert torch.equal(a, b)


def test_lean_optimizer_falls_back_to_torchs_class_where_its_methods_are_not_wrapped():
    from ganzoo.training.optim import without_dynamo_import

    class Plain(torch.optim.SGD):
        def step(self, closure=None):  # no __wrapped__: a torch that wraps differently
            return super().step(closure)

    assert without_dynamo_import(Plain) is Plain


def test_idx_reader_matches_torchvision_and_refuses_damaged_files(data_dir):
    import torchvision.datasets

    from ganzoo.datasets.idx import _torchvision_idx, load_mnist

    for split in ("train", "test"):
        ours = load_mnist(data_dir, split)
        theirs = _torchvision_idx(torchvision.datasets.MNIST, "MNIST", data_dir, split, 10)
        assert torch.equal(ours.images, theirs.images) and torch.equal(ours.labels, theirs.labels)
        assert ours.images.dtype == torch.uint8 and ours.labels.dtype == torch.int64
    images = data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])  # truncated
    with pytest.raises(DataUnavailableError, match="truncated or damaged"):
        load_mnist(data_dir, "train")
    images.write_bytes(b"\x00\x00\x0d\x03" + bytes(20))  # floats: not MNIST's unsigned bytes
    with pytest.raises(DataUnavailableError, match="not an IDX file"):
        load_mnist(data_dir, "train")


@pytest.mark.parametrize("shape, nrow, normalize", [
    ((10, 1, 28, 28), 4, True), ((64, 3, 16, 16), 8, True), ((1, 1, 8, 8), 8, True),
    ((7, 3, 5, 5), 3, False), ((3, 9, 9), 8, False),
])
def test_grids_are_byte_identical_to_torchvision(shape, nrow, normalize):
    import torchvision.utils

    from ganzoo.kinds import image as previews

    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2
    if not normalize:
        x = x.clamp(0, 1)
    kwargs = {"normalize": True, "value_range": (-1, 1)} if normalize else {}
    assert torch.equal(previews.make_grid(x, nrow=nrow, **kwargs), torchvision.utils.make_grid(x, nrow=nrow, **kwargs))
    ours, theirs = io.BytesIO(), io.BytesIO()
    previews.save_image(x, ours, nrow=nrow, format="PNG", **kwargs)
    torchvision.utils.save_image(x, theirs, nrow=nrow, format="PNG", **kwargs)
    assert ours.getvalue() == theirs.getvalue()


# --- ganzoo bench --all ---------------------------------------------------------------------------

def test_bench_all_times_every_registered_model(cli, manager):
    result = cli("bench", "--all", "--device", "cpu", "--steps", "1", "--warmup", "0", "--batch-size", "4",
                 "--image-size", "16", "--json")
    rows = json.loads(result.stdout)
    assert [r["model"].split(":")[-1] for r in rows] == [e.name for e in manager.registry.list("model")]
    failed = [r for r in rows if "error" in r]
    assert result.exit_code == (1 if failed else 0)
    for r in rows:
        if "error" not in r:
            assert r["flops_per_step"] > 0 and 0 < r["peak_fraction"] and r["images_per_sec"] > 0
            assert r["machine_kind"] == hardware.machine_kind()


def test_bench_all_keeps_going_past_a_model_that_fails(cli, monkeypatch):
    import ganzoo.training.bench
    from ganzoo.errors import ConfigError

    def fake(registry, model, **kwargs):
        if model == "cgan":
            raise ConfigError("cgan refuses this shape")
        return {"model": model, "loss": "bce", "sample_shape": [1, 8, 8], "batch_size": 4, "precision": "fp32",
                "images_per_sec": 1.0, "ms_per_step": {"median": 1, "p10": 1, "p90": 1}, "peak_memory_mb": 1,
                "flops_per_step": 1e9, "peak_fraction": 0.5}

    monkeypatch.setattr(ganzoo.training.bench, "bench", fake)
    result = cli("bench", "--all")
    assert result.exit_code == 1
    assert "models could not be benchmarked: cgan" in result.output
    assert "cgan refuses this shape" in result.output and "dcgan" in result.output
    assert cli("bench", "dcgan", "--all").exit_code != 0  # names and --all: one or the other


# --- FLOPs per step -------------------------------------------------------------------------------

def test_flop_count_equals_torchs_counter_and_survives_gradient_penalties(manager):
    """bench counts with torch's formulas but without FlopCounterMode's module hooks, which
    break torch.autograd.grad: same total on a plain step, and WGAN-GP (double backward) works."""
    from torch.utils.flop_counter import FlopCounterMode

    from ganzoo.training.bench import bench, count_flops

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 14 * 14, 4))
    x = torch.randn(5, 3, 16, 16)
    with FlopCounterMode(display=False) as theirs:
        net(x).square().sum().backward()
    with count_flops() as ours:
        net(x).square().sum().backward()
    # conv forward 2*5*8*27*14*14, its weight gradient (no input gradient: x is a leaf without grad),
    # linear forward and both of its gradients
    conv, linear = 2 * 5 * 8 * 27 * 14 * 14, 2 * 5 * 8 * 14 * 14 * 4
    assert ours.total == theirs.get_total_flops() == 2 * conv + 3 * linear
    gp = bench(manager.registry, "wgan", loss="wgan-gp", device="cpu", batch_size=4, image_size=16, steps=1,
               warmup=0, sets=["arch.ngf=8", "arch.ndf=8"])
    plain = bench(manager.registry, "wgan", loss="wgan", device="cpu", batch_size=4, image_size=16, steps=1,
                  warmup=0, sets=["arch.ngf=8", "arch.ndf=8"])
    assert gp["flops_per_step"] > plain["flops_per_step"] > 0  # the penalty's double backward counts


def test_speed_benchmark_feeds_both_loops_the_same_mnist_subset(data_dir, tmp_path):
    """benchmarks/dcgan_speed.py writes the first N training images as unpacked IDX files that
    torchvision's MNIST (the example's reader) and ganzoo both read, identically."""
    import importlib.util

    import torchvision.datasets

    from ganzoo.datasets.idx import load_mnist

    spec = importlib.util.spec_from_file_location("dcgan_speed", REPO / "benchmarks" / "dcgan_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    subset = module.mnist_subset(data_dir, 32, tmp_path / "subset")
    theirs = torchvision.datasets.MNIST(root=str(subset), train=True, download=False)
    ours, full = load_mnist(subset, "train"), load_mnist(data_dir, "train")
    assert len(theirs) == len(ours) == 32
    assert torch.equal(theirs.data.unsqueeze(1), ours.images) and torch.equal(ours.images, full.images[:32])
    assert torch.equal(theirs.targets, ours.labels) and torch.equal(ours.labels, full.labels[:32])
    assert not (data_dir / "MNIST" / "raw" / "subset").exists()  # nothing written beside the data
