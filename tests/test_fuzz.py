"""Generated bad input: junk thrown at the config and at every CLI command must end
in a clean refusal: one ``error: ...`` line, a documented exit code, no traceback, no files.

Config: every RunConfig key, every optimizer key and every built-in model's ``arch.*`` key
gets wrong types, out-of-range and non-finite numbers, huge ints, empty and odd unicode
strings and nested junk, through ``--set`` strings and JSON/TOML config files. A value is
either accepted, and then survives config.json (``model_validate_json``) and the model's
own option class, or refused with a one-line :class:`ConfigError` that names the key.

CLI: ``train``, ``sample``, ``eval``, ``bench``, ``list`` and ``info`` run in-process with
one generated bad option each (plus a few real ``python -m ganzoo`` processes); the exit
code must be the documented one, stderr one ``error:`` line, stdout empty, and nothing under
the test's folder may change (no half-written run directory, grid or data file).

Every generated input is tallied per category as accepted / refused (cleanly) / unclean.
The totals are printed at the end of this module and written as JSON to the file named by
``$GANZOO_FUZZ_REPORT`` when it is set. ``$GANZOO_FUZZ_SCALE`` (default 1) multiplies the
number of examples; ``$GANZOO_FUZZ_RANDOM=1`` draws fresh examples instead of the fixed,
derandomised ones.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ganzoo.config import OptimizerConfig, RunConfig, arch_config, resolve_config
from ganzoo.errors import EXIT_CHECKPOINT, EXIT_CODES, EXIT_USAGE, ConfigError, GanzooError
from ganzoo.plugins.manager import PluginManager
from ganzoo.plugins.registry import KIND_ALIASES

from .conftest import TINY, make_digits, register_builtins, write_idx

# --------------------------------------------------------------------------- tallies

TALLY: dict[str, Counter] = defaultdict(Counter)
"""category -> Counter(tried=, accepted=, refused=, unclean=)."""


@contextmanager
def judged(category: str, outcome: str):
    """Tally one generated input: ``outcome`` if the checks inside pass, else ``unclean``."""
    TALLY[category]["tried"] += 1
    try:
        yield
    except BaseException:
        TALLY[category]["unclean"] += 1
        raise
    TALLY[category][outcome] += 1


@pytest.fixture(scope="module", autouse=True)
def _fuzz_report(request):
    target = os.environ.get("GANZOO_FUZZ_REPORT")
    target = Path(target).resolve() if target else None  # before any test changes directory
    yield
    report = {name: {k: counts[k] for k in ("tried", "accepted", "refused", "unclean")}
              for name, counts in sorted(TALLY.items())}
    total = {k: sum(r[k] for r in report.values()) for k in ("tried", "accepted", "refused", "unclean")}
    report["total"] = total
    if target is not None:
        target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line("")
        terminal.write_line("fuzz inputs: category / tried / accepted / refused cleanly / unclean")
        for name, r in report.items():
            terminal.write_line(f"  {name:20s} {r['tried']:6d} {r['accepted']:6d} {r['refused']:6d} "
                                f"{r['unclean']:6d}")


SCALE = float(os.environ.get("GANZOO_FUZZ_SCALE", "1") or 1)


def fuzz(examples: int):
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    derandomize=os.environ.get("GANZOO_FUZZ_RANDOM", "") in ("", "0"),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.filter_too_much, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- what to fuzz

REGISTRY = register_builtins(PluginManager(entry_points=False, warn=lambda message: None)).registry
"""A private registry of the built-ins, for the key lists and the oracles below."""

KEYS: list[tuple[str, str]] = (
    [("dcgan", name) for name in RunConfig.model_fields]
    + [("dcgan", f"{o}.{f}") for o in ("g_optim", "d_optim") for f in OptimizerConfig.model_fields]
    + [(e.name, f"arch.{f}") for e in REGISTRY.list("model") if e.spec.config_class is not None
       for f in e.spec.config_class.model_fields]
)
"""(model, dotted key): every config key a user can write, with a model that has it."""

SPECIAL_TEXT = [
    "", " ", "\t", "\n", "nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e999", "-1", "0",
    "0.0", "-0.0", "1e-400", "true", "false", "null", "None", "[]", "{}", "[1,", '{"a":', '"', "\\",
    "\x00", "é", "日本語", "🙂", "\u2028", "\x85", "\ud800", "\udcff", "../x", "a/b", "..", ".", "~",
    "cuda:99999999999999999999", "cpu\n", "cuda:٣", "9" * 5000, "[" * 3000 + "]" * 3000,
    "x" * 10000, '"2024"', "[0.5, 1.5]", "[0.5]", '{"name": "lion"}', "1_000", "0x10", "1e3",
]
HUGE_INTS = [2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63) - 1, 10**400]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.sampled_from(SPECIAL_TEXT[:-3]),
)
junk = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=6), kids, max_size=3), max_leaves=6)
"""Any JSON-able value (NaN and infinities included), nested a little."""

raw_values = st.one_of(junk.map(json.dumps), st.text(max_size=30), st.sampled_from(SPECIAL_TEXT),
                       st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "[NaN, 0.9]",
                                        '{"lr": Infinity}', '{"x": NaN}']))
"""What follows ``key=`` in ``--set key=VALUE``: JSON of junk, or any text at all."""


def nest(key: str, value):
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def names_key(message: str, key: str) -> bool:
    """Whether a refusal names the key: quoted (``'g_optim.betas.0'`` names ``g_optim.betas``),
    or, for the component names, as the kind (``unknown loss 'x'``)."""
    if key in ("model", "loss", "dataset", "algorithm"):
        return key in message
    return f"'{key}" in message


def check_config(category: str, key: str, model: str, **kwargs) -> None:
    """resolve_config either accepts (and the result survives config.json) or refuses cleanly."""
    try:
        cfg, error = resolve_config(REGISTRY, model, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - judged below
        cfg, error = None, exc
    with judged(category, "refused" if error is not None else "accepted"):
        if error is not None:
            shown = "".join(traceback.format_exception(error))
            assert isinstance(error, ConfigError), f"not a ConfigError:\n{shown}"
            assert error.exit_code == EXIT_USAGE
            message = str(error)
            assert len(message.splitlines()) == 1 and message.strip(), f"not one line: {message!r}"
            assert names_key(message, key), f"{message!r} does not name {key!r}"
            return
        again = RunConfig.model_validate_json(cfg.model_dump_json())  # what config.json holds
        assert again == cfg
        arch_config(REGISTRY, again)  # the model's own options accept it too


# --------------------------------------------------------------------------- config: --set

@fuzz(400)
@given(case=st.sampled_from(KEYS), raw=raw_values)
def test_set_values_are_accepted_or_refused_in_one_line(case, raw):
    model, key = case
    check_config("config --set", key, model, sets=[f"{key}={raw}"])


@fuzz(60)
@given(key=st.text(min_size=1, max_size=20).filter(lambda k: "=" not in k), raw=raw_values)
def test_set_unknown_and_malformed_keys(key, raw):
    """Keys that are not config keys (or not keys at all: ``a..b``, ``.``)."""
    bare = key.strip()  # what parse_set looks up
    assume(all(not bare.startswith(f"{known}.") and bare != known for _, known in KEYS)
           and bare.split(".")[0] not in ("arch", "g_optim", "d_optim", "model", "loss", "dataset"))
    try:
        resolve_config(REGISTRY, "dcgan", sets=[f"{key}={raw}"])
        error = None
    except Exception as exc:  # noqa: BLE001
        error = exc
    with judged("config --set key", "refused"):
        assert isinstance(error, ConfigError), repr(error)
        message = str(error)
        assert len(message.splitlines()) == 1
        assert "unknown config key" in message or "--set expects key=value" in message, message


# --------------------------------------------------------------------------- config: files

def _workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="fuzz-", dir=Path.cwd()))


@fuzz(150)
@given(case=st.sampled_from(KEYS), value=junk)
def test_json_config_file_values(case, value):
    model, key = case
    ws = _workspace()
    try:
        path = ws / "run.json"
        path.write_text(json.dumps(nest(key, value)), encoding="utf-8")
        check_config("config file json", key, model, config_file=path)
    finally:
        shutil.rmtree(ws)


class Unrepresentable(Exception):
    pass


def toml_str(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise Unrepresentable("TOML holds no unpaired surrogates")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise Unrepresentable("TOML integers are 64-bit")
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_str(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise Unrepresentable("TOML has no null")


@fuzz(150)
@given(case=st.sampled_from(KEYS), value=junk)
def test_toml_config_file_values(case, value):
    model, key = case
    try:
        line = f"{key} = {toml_value(value)}\n"
    except Unrepresentable:
        assume(False)
    ws = _workspace()
    try:
        path = ws / "run.toml"
        path.write_text(line, encoding="utf-8")
        check_config("config file toml", key, model, config_file=path)
    finally:
        shutil.rmtree(ws)


file_bytes = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"\x00" * 8, b"\xff\xfe", b"[1, 2]", b'"text"', b"42", b"null", b"steps = = 3",
                     b"[[[[", ("[" * 5000 + "]" * 5000).encode(), b'{"steps": ' + b"9" * 5000 + b"}",
                     b"steps = " + b"9" * 5000, b"a = [" * 2000, b"\x89PNG\r\n\x1a\n\x00\x00",
                     b'{"steps": NaN}', b"steps = nan", b'{"a": {"a": {"a": 1}}}']),
)


@fuzz(100)
@given(content=file_bytes, suffix=st.sampled_from([".json", ".toml", ".JSON", ".yaml", ".txt", ""]))
def test_config_files_with_junk_content(content, suffix):
    """Whole files of junk: refused with a one-line ConfigError naming the file, or valid."""
    ws = _workspace()
    try:
        path = ws / f"run{suffix}"
        path.write_bytes(content)
        try:
            cfg, error = resolve_config(REGISTRY, "dcgan", config_file=path), None
        except Exception as exc:  # noqa: BLE001
            cfg, error = None, exc
        with judged("config file bytes", "accepted" if error is None else "refused"):
            if error is None:
                assert RunConfig.model_validate_json(cfg.model_dump_json()) == cfg
            else:
                assert isinstance(error, ConfigError), "".join(traceback.format_exception(error))
                assert len(str(error).splitlines()) == 1
    finally:
        shutil.rmtree(ws)


# --------------------------------------------------------------------------- CLI helpers

def snapshot(*roots: Path) -> set[tuple[str, int, int]]:
    """Every path under ``roots`` with its size and modification time."""
    seen = set()
    for root in roots:
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            try:
                info = path.lstat()
            except OSError:
                continue
            seen.add((str(path), info.st_size if path.is_file() else -1,
                      info.st_mtime_ns if path.is_file() else 0))
    return seen


def assert_clean_failure(result, codes) -> None:
    """One ``error:`` line on stderr, nothing on stdout, a documented non-zero exit code."""
    shown = f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        shown += "\n" + "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"an exception escaped the CLI:\n{shown}")
    assert result.exit_code in codes and result.exit_code in EXIT_CODES and result.exit_code != 0, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert "internal error" not in result.stderr, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert result.stdout == "", shown


def run_refused(cli, category: str, args: list[str], codes, watch: list[Path],
                expected: GanzooError | None = None) -> None:
    """Run the CLI; it must refuse cleanly (and say what ``expected`` says) and change no file."""
    before = snapshot(*watch)
    result = cli(*args)
    with judged(category, "refused"):
        assert_clean_failure(result, codes)
        if expected is not None:
            assert result.stderr == f"error: {expected}\n"
        changed = snapshot(*watch) ^ before
        assert not changed, f"files changed by a refused command {args!r}: {sorted(changed)}"


def _parses(kind: type):
    """Whether the CLI reads a text as ``kind``: typer converts option values with pydantic
    (lax: ``"0.0"`` is the int 0), so pydantic is the oracle."""
    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(kind)

    def parses(text: str) -> bool:
        try:
            adapter.validate_python(text)
        except (ValidationError, ValueError):
            return False
        return True
    return parses


_is_int, _is_float = _parses(int), _parses(float)


texts = st.one_of(st.text(max_size=16), st.sampled_from(SPECIAL_TEXT))
BAD_INT = texts.filter(lambda t: not _is_int(t))
BAD_FLOAT = texts.filter(lambda t: not _is_float(t))
NONPOS_INT = st.one_of(st.integers(max_value=0), st.sampled_from([-(2**70), 0])).map(str)
NONPOS_FLOAT = st.one_of(st.floats(max_value=0.0), st.just(-0.0)).map(repr)
NONFINITE = st.sampled_from(["nan", "inf", "-inf", "1e400", "NaN", "Infinity"])


def _cuda_words() -> list[str]:
    import torch

    words = ["cuda:99999999999999999999", "cuda:٣", "cpu\n", "cuda:-1", "cpu:0", "gpu", "tpu", "CPU", ""]
    if not torch.cuda.is_available():
        words += ["cuda", "cuda:0", "cuda:7"]
    if not torch.backends.mps.is_available():
        words += ["mps"]
    return words


UNAVAILABLE_DEVICES = [w for w in ("cuda", "cuda:0", "cuda:7", "mps") if w in _cuda_words()]
"""Well-formed devices that this machine lacks (junk devices in ``sample``: see test_bad_input.py)."""
VALID_DEVICES = {"auto", "cpu"}
BAD_DEVICE = st.one_of(st.sampled_from(_cuda_words()), texts.filter(
    lambda t: t not in VALID_DEVICES and not t.startswith(("cuda", "mps"))))
"""Devices that must be refused here: junk, and CUDA/MPS where they are not available."""


def _unknown(kind: str):
    def unknown(name: str) -> bool:
        if not name:
            return False  # an empty --loss/--dataset means the default (see the report)
        try:
            REGISTRY.get(kind, name)
        except GanzooError:
            return True
        return False
    return unknown


def junk_names(kind: str):
    return texts.filter(_unknown(kind))


def _metric_list_fails(text: str) -> bool:
    """Comma-separated metric names of which at least one is unknown (all known ones would
    start an evaluation, which trains a feature extractor)."""
    parts = [m.strip() for m in text.split(",") if m.strip()]
    return bool(parts) and any(_unknown("metric")(part) for part in parts)


METRIC_LISTS = texts.filter(_metric_list_fails)


def _dcgan_size_ok(size: int) -> bool:
    from ganzoo_plugins.layers.dcgan import size_plan

    try:
        size_plan(size)
    except GanzooError:
        return False
    return size >= 16


BAD_IMAGE_SIZE = st.one_of(BAD_INT, NONPOS_INT, st.integers(1, 4096).filter(lambda n: not _dcgan_size_ok(n)).map(str),
                           st.integers(min_value=4097).map(str))

file_names = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"),
                     min_size=1, max_size=12).filter(lambda n: n not in (".", ".."))


@dataclass(frozen=True)
class Missing:
    """A path inside the workspace that does not exist."""
    name: str


@dataclass(frozen=True)
class AFile:
    """A file in the workspace with this name and content."""
    name: str
    content: bytes = b"not what you think"


@dataclass(frozen=True)
class AFolder:
    """An empty folder in the workspace."""
    name: str


@dataclass(frozen=True)
class UnderAFile:
    """A path whose parent is a file, so it can be neither read nor created."""
    name: str


@dataclass(frozen=True)
class TooLong:
    """A path with a folder name longer than file systems take (ENAMETOOLONG on any look)."""
    name: str


def materialize(value, ws: Path) -> str:
    if isinstance(value, Missing):
        return str(ws / "missing" / value.name)
    if isinstance(value, AFile):
        path = ws / value.name
        path.write_bytes(value.content)
        return str(path)
    if isinstance(value, AFolder):
        path = ws / "folder" / value.name
        path.mkdir(parents=True)
        return str(path)
    if isinstance(value, TooLong):
        return str(ws / ("x" * 300) / value.name)
    if isinstance(value, UnderAFile):
        blocker = ws / "blocker"
        blocker.write_bytes(b"a file, not a folder")
        return str(blocker / value.name)
    return value


PATHS_THAT_ARE_NOT_DATA = st.one_of(st.builds(Missing, file_names), st.builds(AFile, file_names),
                                    st.builds(AFolder, file_names), st.builds(UnderAFile, file_names),
                                    st.builds(TooLong, file_names))


def opt(name: str, values):
    return st.tuples(st.just(name), values)


def set_assignments():
    return st.tuples(st.sampled_from([k for m, k in KEYS if m == "dcgan"]), raw_values).map(
        lambda kr: f"{kr[0]}={kr[1]}")


# --------------------------------------------------------------------------- CLI: train

TINY_SETS = [TINY[i + 1] for i, flag in enumerate(TINY) if flag == "--set"]
TRAIN_OPTIONS = st.one_of(
    opt("MODEL", junk_names("model")),
    opt("--steps", BAD_INT | NONPOS_INT),
    opt("--epochs", BAD_FLOAT | NONPOS_FLOAT | NONFINITE
        | st.floats(min_value=1e6, exclude_min=True, allow_infinity=False).map(repr)),
    opt("--batch-size", BAD_INT | NONPOS_INT | st.integers(min_value=65).map(str)),  # data: 64 images
    opt("--lr", BAD_FLOAT | NONPOS_FLOAT | NONFINITE | st.just("1e-400")),
    opt("--image-size", BAD_IMAGE_SIZE),
    opt("--device", BAD_DEVICE),
    opt("--seed", BAD_INT | st.integers(max_value=-1).map(str) | st.integers(min_value=2**63).map(str)),
    opt("--precision", texts.filter(lambda t: t not in ("fp32", "bf16", "fp16"))),
    opt("--logger", texts.filter(lambda t: t.split(":")[-1] not in ("none", "tensorboard", "csv", "mlflow"))),
    opt("--eval-every", BAD_INT | NONPOS_INT),
    opt("--eval-metrics", METRIC_LISTS),
    opt("--loss", junk_names("loss")),
    opt("--dataset", junk_names("dataset") | st.sampled_from(["toy-ring", "toy-grid", "cifar10",
                                                              "fashion-mnist", "image-folder"])),
    opt("--run-name", st.sampled_from(["", ".", "..", "a/b", "a\\b", "x\x00y", "/abs", "x" * 256, "é" * 128])
        | st.tuples(file_names, file_names).map("/".join)),
    opt("--data-dir", PATHS_THAT_ARE_NOT_DATA),
    opt("--out", st.builds(UnderAFile, file_names) | st.builds(TooLong, file_names)),
    opt("--config", st.one_of(st.builds(Missing, file_names), st.builds(AFolder, file_names),
                              st.builds(TooLong, file_names.map(lambda n: n + ".toml")),
                              st.builds(AFile, st.sampled_from(["c.json", "c.toml", "c.yaml", "c"]), file_bytes))),
    opt("--set", set_assignments()),
    opt("--resume", st.one_of(st.just("latest"), st.builds(Missing, file_names), st.builds(AFolder, file_names),
                              st.builds(AFile, file_names))),  # too long: test_bad_input.py
    opt("--force", st.just("")),  # without --resume
    opt("NO-MODEL", st.just("")),
    opt("--unknown-option", st.from_regex(r"--[a-z][a-z-]{0,12}", fullmatch=True).filter(
        lambda o: o not in {"--loss", "--dataset", "--config", "--set", "--steps", "--epochs", "--lr",
                            "--batch-size", "--image-size", "--device", "--seed", "--precision",
                            "--compile", "--no-compile", "--data-dir", "--out", "--run-name",
                            "--eval-every", "--eval-metrics", "--logger", "--quiet", "--help"})),
)


def _oracle(**kwargs) -> GanzooError | None:
    """The error resolve_config raises for these layers (None: accepted)."""
    try:
        resolve_config(REGISTRY, **kwargs)
    except GanzooError as exc:
        return exc
    return None


@fuzz(220)
@given(case=TRAIN_OPTIONS)
def test_train_refuses_bad_options_cleanly(cli, data_dir, tmp_path, case):
    option, value = case
    ws = _workspace()
    try:
        out = ws / "runs"
        model, extra, expected = "dcgan", [], None
        base = ["--data-dir", str(data_dir), "--steps", "3", "--batch-size", "8", "--device", "cpu"]
        codes = {EXIT_USAGE, EXIT_CHECKPOINT} if option == "--resume" else {EXIT_USAGE}
        if option == "MODEL":
            model = value
        elif option == "NO-MODEL":
            model = None
        elif option == "--unknown-option":
            extra = [f"{value}=1"]
        elif option == "--force":
            extra = ["--force"]
        else:
            value = materialize(value, ws)
            extra = [f"{option}={value}"]
            if option == "--eval-metrics":
                extra.append("--eval-every=1")
            if option in ("--set", "--config"):  # only what the config layer refuses: else it trains
                layers = {"sets": [*TINY_SETS, value]} if option == "--set" else \
                    {"sets": TINY_SETS, "config_file": value}
                expected = _oracle(model="dcgan", flags={"steps": 3, "batch_size": 8, "device": "cpu",
                                                         "data_dir": str(data_dir), "out": str(out)}, **layers)
                assume(expected is not None)
        args = ["train", *base, *[f"--set={s}" for s in TINY_SETS], f"--out={out}", *extra,
                *(["--", model] if model is not None else [])]
        run_refused(cli, "cli train", args, codes, [tmp_path], expected)
    finally:
        shutil.rmtree(ws)


# --------------------------------------------------------------------------- CLI: a trained run

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One 2-step DCGAN run (for sample and eval), trained once for this module."""
    from ganzoo.training.run import train
    from ganzoo.training.progress import make_reporter

    root = tmp_path_factory.mktemp("fuzz-run")
    raw = root / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw, *make_digits(64, seed=0), split="train")
    write_idx(raw, *make_digits(16, seed=1), split="test")
    cfg = resolve_config(REGISTRY, "dcgan", flags={"steps": 2, "batch_size": 8, "device": "cpu",
                                                   "data_dir": str(root / "data"), "out": str(root / "runs"),
                                                   "run_name": "tiny"}, sets=TINY_SETS)
    return train(cfg, REGISTRY, make_reporter(enabled=False)).path


def _checkpoint_file(run: Path) -> Path:
    latest = (run / "checkpoints" / "latest").read_text().strip()
    return run / "checkpoints" / latest / "generator.safetensors"


NOT_A_RUN = st.one_of(
    st.builds(Missing, file_names), st.builds(AFolder, file_names),
    st.builds(AFile, st.sampled_from(["g.safetensors", "model.pt", "x.png", "x"]),
              st.one_of(st.binary(max_size=40), st.just(b"\x10\x00\x00\x00\x00\x00\x00\x00{}"),
                        st.just(b"\xff" * 8 + b"{"))),
    st.just("TRUNCATED"),
)
"""A run argument that is no run: missing, an empty folder, junk files, a truncated checkpoint."""


def _run_argument(value, ws: Path, run: Path) -> str:
    if value == "TRUNCATED":
        target = ws / "generator.safetensors"
        target.write_bytes(_checkpoint_file(run).read_bytes()[:200])
        return str(target)
    return materialize(value, ws)


SAMPLE_OPTIONS = st.one_of(
    opt("RUN", NOT_A_RUN),
    opt("--num", BAD_INT | NONPOS_INT),
    opt("--nrow", BAD_INT | NONPOS_INT),
    opt("--seed", BAD_INT),  # huge seeds: see test_bad_input.py (a bug outside this task's files)
    opt("--label", st.integers().map(str) | BAD_INT),  # the tiny run is unconditional
    opt("--interpolate", st.integers(max_value=1).map(str) | BAD_INT),
    opt("--format", texts.filter(lambda t: t not in ("png", "npz"))),
    opt("--out", st.one_of(
        st.builds(Missing, file_names.map(lambda n: n + ".png")),  # its folder is missing
        st.builds(UnderAFile, file_names.map(lambda n: n + ".png")),
        file_names.filter(lambda n: not n.lower().endswith(".png")))),
    *([opt("--device", st.sampled_from(UNAVAILABLE_DEVICES))] if UNAVAILABLE_DEVICES else []),
)


@fuzz(90)
@given(case=SAMPLE_OPTIONS)
def test_sample_refuses_bad_options_cleanly(cli, tiny_run, tmp_path, case):
    option, value = case
    ws = _workspace()
    try:
        run, extra, code = str(tiny_run), [], EXIT_USAGE
        if option == "RUN":
            run, code = _run_argument(value, ws, tiny_run), EXIT_CHECKPOINT
        elif option == "--out" and isinstance(value, str):
            extra = [f"--out={ws / value}"]
        else:
            extra = [f"{option}={materialize(value, ws)}"]
        args = ["sample", "--out", str(ws / "grid.png"), *extra, "--", run]
        run_refused(cli, "cli sample", args, {code}, [tmp_path, tiny_run])
    finally:
        shutil.rmtree(ws)


EVAL_OPTIONS = st.one_of(
    opt("RUN", NOT_A_RUN),
    opt("--metrics", METRIC_LISTS | st.sampled_from(["", ",", " , "])),
    opt("--num", BAD_INT | st.integers(max_value=1).map(str)),
    opt("--split", texts.filter(lambda t: t not in ("train", "test"))),
    opt("--extractor", junk_names("extractor")),
    opt("--seed", BAD_INT | st.integers(max_value=-1).map(str) | st.integers(min_value=2**63).map(str)),
    opt("--device", BAD_DEVICE),
    opt("--data-dir", PATHS_THAT_ARE_NOT_DATA),
)


@fuzz(70)
@given(case=EVAL_OPTIONS)
def test_eval_refuses_bad_options_cleanly(cli, tiny_run, tmp_path, case):
    option, value = case
    ws = _workspace()
    try:
        run, extra, code = str(tiny_run), [], EXIT_USAGE
        if option == "RUN":
            run, code = _run_argument(value, ws, tiny_run), EXIT_CHECKPOINT
        else:
            extra = [f"{option}={materialize(value, ws)}"]
        run_refused(cli, "cli eval", ["eval", *extra, "--", run], {code}, [tmp_path, tiny_run])
    finally:
        shutil.rmtree(ws)


# --------------------------------------------------------------------------- CLI: bench, list, info

BENCH_BASE = ["--device=cpu", "--steps=1", "--warmup=0", "--batch-size=8", *[f"--set={s}" for s in TINY_SETS]]
BENCH_OPTIONS = st.one_of(
    opt("MODEL", junk_names("model").filter(lambda t: not t.startswith("-"))),
    opt("--loss", junk_names("loss")),
    opt("--dataset", junk_names("dataset") | st.sampled_from(["toy-ring", "toy-grid"])),  # points: no dcgan
    opt("--device", BAD_DEVICE),
    opt("--batch-size", BAD_INT | NONPOS_INT),
    # bench makes its synthetic data before building the networks: no big sizes here
    opt("--image-size", BAD_INT | NONPOS_INT | st.integers(min_value=4097).map(str)
        | st.integers(1, 64).filter(lambda n: not _dcgan_size_ok(n)).map(str)),
    opt("--precision", texts.filter(lambda t: t not in ("fp32", "bf16", "fp16"))),
    opt("--steps", BAD_INT | NONPOS_INT),
    opt("--warmup", BAD_INT | st.integers(max_value=-1).map(str)),
    opt("--set", set_assignments()),
)


@fuzz(70)
@given(case=BENCH_OPTIONS)
def test_bench_refuses_bad_options_cleanly(cli, tmp_path, case):
    option, value = case
    model, extra = "dcgan", []
    if option == "MODEL":
        model = value
    else:
        extra = [f"{option}={value}"]
    if option == "--set":
        assume(_oracle(model="dcgan", flags={"batch_size": 8, "device": "cpu", "precision": "fp32",
                                             "compile": False}, sets=[*TINY_SETS, value]) is not None)
    run_refused(cli, "cli bench", ["bench", *BENCH_BASE, *extra, "--", model], {EXIT_USAGE}, [tmp_path])


@fuzz(60)
@given(kind=texts.filter(lambda k: k.lower() not in KIND_ALIASES), pattern=texts)
def test_list_refuses_unknown_kinds(cli, tmp_path, kind, pattern):
    run_refused(cli, "cli list", ["list", "--", kind, pattern], {EXIT_USAGE}, [tmp_path])


@fuzz(40)
@given(pattern=texts)
def test_list_takes_any_pattern(cli, pattern):
    """A lone argument that is no kind is a pattern: any text lists what matches, exit 0; but a
    plain word (no *, ? or [) that matches nothing is refused in one line, exit 2."""
    import fnmatch

    result = cli("list", "--json", "--", pattern)
    plain_word_matching_nothing = (pattern.lower() not in KIND_ALIASES and not any(c in pattern for c in "*?[")
                                   and not any(REGISTRY.list(kind, pattern) for kind in set(KIND_ALIASES.values())))
    if plain_word_matching_nothing:
        with judged("cli list pattern", "refused"):
            assert result.exit_code == EXIT_USAGE and result.stdout == "", result.output
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return
    with judged("cli list pattern", "accepted"):
        assert result.exit_code == 0 and result.stderr == "", result.stderr
        for entry in json.loads(result.stdout):
            assert (pattern == ""  # no pattern: everything
                    or fnmatch.fnmatchcase(entry["name"], pattern)
                    or fnmatch.fnmatchcase(entry["qualified_name"], pattern)
                    or pattern.lower() in KIND_ALIASES)


@fuzz(60)
@given(name=texts.filter(lambda n: not REGISTRY.find(n)), kind=st.none() | texts)
def test_info_refuses_unknown_names_and_kinds(cli, tmp_path, name, kind):
    args = ["info", *([f"--kind={kind}"] if kind is not None else []), "--", name]
    run_refused(cli, "cli info", args, {EXIT_USAGE}, [tmp_path])


# --------------------------------------------------------------------------- real processes

argv_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=16)


@fuzz(4)
@given(name=argv_text.filter(lambda n: not REGISTRY.find(n)))
def test_real_process_prints_one_line_and_exits_2(tmp_path, name):
    """``python -m ganzoo info JUNK``: real stderr, real exit code (installed plugins)."""
    env = {**os.environ, "GANZOO_DISABLE_PLUGINS": ""}
    before = snapshot(tmp_path)
    result = subprocess.run([sys.executable, "-m", "ganzoo", "info", "--", name], capture_output=True,
                            text=True, env=env, timeout=120, errors="surrogateescape")
    with judged("cli subprocess", "refused"):
        assert result.returncode == EXIT_USAGE, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert result.stdout == ""
        assert snapshot(tmp_path) == before
