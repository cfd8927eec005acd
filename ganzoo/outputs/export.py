"""Exporting a trained network as a standalone ONNX or TorchScript file.

:func:`export` writes what a user runs a model for, as one file that needs neither ganzoo nor
its plugins: a generator (``z`` [+ ``labels``] -> samples), a translator (``image`` [+ ``domain``
or ``mask``] -> image), an encoder (``image`` -> ``z``), or the code-book halves of a VQ
autoencoder (``image`` -> ``codes``, ``codes`` -> image). Its outputs are those of
:meth:`~ganzoo.outputs.sampling.ModelHandle.sample` / ``translate`` / ``encode`` for the same inputs
(the moving-average weights when the run has them, as :func:`ganzoo.load` uses), on any
batch size (a dynamic first axis).

Both formats come from one trace (``torch.jit.trace``; for ONNX the TorchScript-based
exporter, ``torch.onnx.export(..., dynamo=False)``, which traces the same graph): the
``torch.export``-based exporter of torch >= 2.9 refuses the models that read a buffer as a
Python number (ProGAN's growth stage, StarGAN's domain check), where a trace records the
value the checkpoint holds. Two operators the TorchScript-based exporter lacks get ONNX
equivalents here (``erfc`` = ``1 - Erf``; ``searchsorted`` = a count of ``<=``), which
RelGAN's token sampler needs.

Everything a consumer needs to feed the file travels inside it, as JSON: the ONNX model's
``metadata_props["ganzoo"]`` (``onnxruntime``: ``session.get_modelmeta().custom_metadata_map``)
or the TorchScript archive's extra file ``ganzoo.json``
(``torch.jit.load(f, _extra_files={"ganzoo.json": ""})``): input and output names, shapes
(``"N"`` is the batch), dtypes and ranges, the latent prior, class and domain counts, the data
kind, sample rate or vocabulary, the ganzoo version, the source checkpoint and its step.

Every export is checked before it is kept: the file is run on a batch of another size than
the one traced (TorchScript with torch, ONNX with onnxruntime when it is installed) and
compared with the PyTorch module; a file that does not reproduce it is refused and removed.

Example::

    from ganzoo.outputs.export import export
    result = export("runs/dcgan-mnist-20261128-120000", "onnx", "dcgan.onnx")
    result.metadata["inputs"]     # [{"name": "z", "dtype": "float32", "shape": ["N", 100], ...}]

    import onnxruntime, numpy as np
    session = onnxruntime.InferenceSession("dcgan.onnx")
    images = session.run(None, {"z": np.random.randn(16, 100).astype("float32")})[0]  # [16, 1, 28, 28]
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError, WriteError, writing
from ..kinds import kind_of
from ..networks import Encoder, Generator, Translator

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
"""Export formats and the file suffix each one must have."""

DEFAULT_OPSET = 17
"""The ONNX opset written unless ``opset`` says otherwise (onnxruntime >= 1.14 runs it)."""

MIN_OPSET, MAX_OPSET = 14, 20
"""The opsets the TorchScript-based exporter writes for every family."""

METADATA_KEY = "ganzoo"
"""The ONNX ``metadata_props`` key holding the JSON description."""

EXTRA_FILE = "ganzoo.json"
"""The TorchScript extra file holding the JSON description."""

INSTALL_HINT = "pip install 'ganzoo[export]'"

TRACE_BATCH, CHECK_BATCH = 2, 5
"""Batch sizes of the trace and of the check (different, so a batch size baked into the
graph is caught)."""

FLOAT_TOLERANCE = 1e-3
"""The largest absolute difference the check accepts between the file and PyTorch."""

INTEGER_TOLERANCE = 0.01
"""The largest share of integer outputs (tokens, codes) the check lets differ: an id is a
threshold of floats (an inverse CDF, a nearest code), so another runtime's rounding flips
the few that lie within float precision of a boundary."""

FORMAT_VERSION = 1


@dataclass
class Entry:
    """One network a model can be exported as.

    Attributes:
        net: its name (``--net``): a module name, or ``MODULE.codes`` / ``MODULE.decode``.
        task: ``"sample"``, ``"translate"``, ``"encode"``, ``"codes"`` or ``"decode"``.
        module: a module whose ``forward`` takes ``inputs`` positionally.
        inputs, outputs: their descriptions (``name``, ``dtype``, ``shape`` with ``"N"``, ...).
        example: ``example(n, generator)`` -> ``n`` valid inputs (a tuple, in order).
        info: what else a consumer needs (latent prior, class count, ...).
        refused: why it cannot be exported (``None``: it can).
    """

    net: str
    task: str
    module: nn.Module | None
    inputs: list[dict]
    outputs: list[dict]
    example: Callable[[int, torch.Generator], tuple[torch.Tensor, ...]] | None
    info: dict = field(default_factory=dict)
    refused: str | None = None


@dataclass
class ExportResult:
    """What :func:`export` wrote and how well the file reproduces the model.

    Attributes:
        path: the file.
        format: ``"onnx"`` or ``"torchscript"``.
        metadata: the JSON description stored in the file.
        max_abs_diff: the check's largest difference (float outputs), or ``None``.
        mismatched: the share of integer outputs that differ (token or code ids), or ``None``.
        checked_with: what ran the file for the check, or ``None`` (ONNX without onnxruntime).
    """

    path: Path
    format: str
    metadata: dict
    max_abs_diff: float | None = None
    mismatched: float | None = None
    checked_with: str | None = None


# ---------------------------------------------------------------------------------------
# what a model exports

class _Call(nn.Module):
    """``forward(*inputs)`` = ``function(*inputs)``, float outputs as float32; holds
    ``module`` so that its weights travel with the trace."""

    def __init__(self, module: nn.Module, function: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.module = module
        self._function = function

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = self._function(*inputs)
        return out.float() if out.is_floating_point() else out


def _tensor(name: str, dtype: str, shape: list, description: str, **extra: Any) -> dict:
    return {"name": name, "dtype": dtype, "shape": ["N", *shape], "description": description, **extra}


def latent_prior(generator: Generator) -> str:
    """The distribution of ``generator.sample_latent`` in words: ``"normal(0, 1)"``,
    ``"uniform(-1, 1)"``, or a pointer to the model when it is neither (told apart on
    4,096 seeded draws: a uniform's bounds and standard deviation 1/sqrt(3))."""
    with torch.no_grad():
        z = generator.sample_latent(4096, generator=torch.Generator().manual_seed(0), device="cpu").double()
    std, mean = z.std().item(), z.mean().item()
    if z.abs().max() <= 1 and abs(std - 1 / math.sqrt(3)) < 0.03 and abs(mean) < 0.03:
        return "uniform(-1, 1)"
    if abs(std - 1) < 0.05 and abs(mean) < 0.05:
        return "normal(0, 1)"
    return f"see {type(generator).__name__}.sample_latent"


def _image_in(shape: tuple[int, ...], name: str = "image") -> dict:
    return _tensor(name, "float32", list(shape), "images [N, channels, height, width] in [-1, 1] "
                   "(uint8 pixels p: p / 127.5 - 1)", range=[-1, 1])


def _rand_images(shape: tuple[int, ...]):
    return lambda n, gen: (torch.rand(n, *shape, generator=gen) * 2 - 1,)


def _generator_entry(name: str, g: Generator, handle) -> Entry:
    kind = kind_of(handle.kind)  # what the data is made of, and so what its generators make
    field_ = handle.field if tuple(g.out_shape) == tuple(handle.shape.sample_shape) else None
    inputs = [_tensor("z", "float32", [g.latent_dim], f"latent vectors drawn from {latent_prior(g)}")]
    if g.num_classes:
        inputs.append(_tensor("labels", "int64", [], f"class indices in 0..{g.num_classes - 1}",
                              range=[0, g.num_classes - 1]))
    info: dict = {"latent_dim": g.latent_dim, "latent_prior": latent_prior(g), "num_classes": g.num_classes,
                  **kind.export_info(field_)}

    def example(n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        z = g.sample_latent(n, generator=gen, device="cpu")
        return (z, torch.arange(n) % g.num_classes) if g.num_classes else (z,)

    function = (lambda z, labels: g(z, labels)) if g.num_classes else (lambda z: g(z))
    return Entry(name, "sample", _Call(g, function), inputs, [kind.describe_output(tuple(g.out_shape), field_)],
                 example, info)


def _mask_box(mask: torch.Tensor) -> list[int] | None:
    """``[top, left, height, width]`` of a default mask's set pixels, if it is one rectangle."""
    rows, cols = torch.nonzero(mask[0, 0] > 0, as_tuple=True)
    if not len(rows):
        return None
    top, left = int(rows.min()), int(cols.min())
    height, width = int(rows.max()) - top + 1, int(cols.max()) - left + 1
    return [top, left, height, width] if int((mask[0, 0] > 0).sum()) == height * width else None


def _translator_entries(name: str, t: Translator) -> list[Entry]:
    in_shape, out_shape = tuple(t.in_shape), tuple(t.out_shape)
    outputs = [_tensor("output", "float32", list(out_shape), "images [N, channels, height, width] in [-1, 1]",
                       range=[-1, 1])]
    info: dict = {"in_shape": list(in_shape), "out_shape": list(out_shape)}
    parameters = inspect.signature(t.forward).parameters
    if t.num_domains:
        k = t.num_domains
        inputs = [_image_in(in_shape), _tensor("domain", "int64", [], f"target domains in 0..{k - 1} "
                                               "(not checked by the file)", range=[0, k - 1])]
        info["num_domains"] = k
        entry = Entry(name, "translate", _Call(t, lambda x, d: t(x, d)), inputs, outputs,
                      lambda n, gen: (_rand_images(in_shape)(n, gen)[0], torch.arange(n) % k), info)
    elif "mask" in parameters and hasattr(t, "default_mask"):  # inpainting: which pixels to fill
        mask_shape = [1, *in_shape[1:]]
        inputs = [_image_in(in_shape), _tensor("mask", "float32", mask_shape, "1 where a pixel is to be "
                                               "filled, 0 where it is kept", range=[0, 1])]
        default = t.default_mask.detach().cpu()
        info["default_mask"] = {"box": _mask_box(default), "description": "[top, left, height, width] of the "
                                "mask `ganzoo sample` uses (the model's default)"}

        def example(n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
            mask = default.expand(n, *mask_shape).clone()
            mask[1::2] = (torch.rand(len(mask[1::2]), *mask_shape, generator=gen) > 0.7).float()
            return _rand_images(in_shape)(n, gen)[0], mask
        entry = Entry(name, "translate", _Call(t, lambda x, m: t(x, m)), inputs, outputs, example, info)
    else:
        entry = Entry(name, "translate", _Call(t, lambda x: t(x)), [_image_in(in_shape)], outputs,
                      _rand_images(in_shape), info)
    entries = [entry]
    quantizer = getattr(t, "quantizer", None)
    book = getattr(quantizer, "codebook_size", None)
    if book and callable(getattr(t, "encode", None)) and callable(getattr(t, "decode_indices", None)):
        with torch.no_grad():
            grid = list(t.encode(torch.zeros(1, *in_shape, device=next(t.parameters()).device)).shape[1:])
        codes = _tensor("codes", "int64", grid, f"code indices in 0..{book - 1}", range=[0, book - 1])
        more = {**info, "codebook_size": book, "codes_shape": grid}
        entries.append(Entry(f"{name}.codes", "codes", _Call(t, lambda x: t.encode(x)), [_image_in(in_shape)],
                             [codes], _rand_images(in_shape), more))
        entries.append(Entry(f"{name}.decode", "decode", _Call(t, lambda c: t.decode_indices(c)), [codes], outputs,
                             lambda n, gen: (torch.randint(book, (n, *grid), generator=gen),), more))
    return entries


def _encoder_entry(name: str, e: Encoder) -> Entry:
    shape = tuple(e.in_shape)
    image = len(shape) == 3
    inputs = [_image_in(shape) if image else _tensor("x", "float32", list(shape), "samples")]
    outputs = [_tensor("z", "float32", [e.latent_dim], "latent codes E(x) (the eval-mode encoder: "
                       "a stochastic one gives its mean)")]
    return Entry(name, "encode", _Call(e, lambda x: e(x)), inputs, outputs,
                 _rand_images(shape) if image else (lambda n, gen: (torch.randn(n, *shape, generator=gen),)),
                 {"latent_dim": e.latent_dim})


def exportable(handle) -> dict[str, Entry]:
    """Every network ``handle`` (a :class:`~ganzoo.outputs.sampling.ModelHandle`) can be exported as,
    by ``--net`` name; the first is the default (the first translator, else the generator,
    else the encoder: what ``ganzoo sample`` shows)."""
    entries: list[Entry] = []
    for name, module in handle.modules.items():
        if isinstance(module, Translator):
            entries += _translator_entries(name, module)
    for name, module in handle.modules.items():
        if isinstance(module, Generator) and not isinstance(module, Translator):
            entries.append(_generator_entry(name, module, handle))
    for name, module in handle.modules.items():
        if isinstance(module, Encoder) and not isinstance(module, (Translator, Generator)):
            entries.append(_encoder_entry(name, module))
    return {e.net: e for e in entries}


# ---------------------------------------------------------------------------------------
# ONNX operators the TorchScript-based exporter lacks

def _erfc(g, x):
    return g.op("Sub", g.op("Constant", value_t=torch.tensor(1.0)), g.op("Erf", x))  # float32, as x


def _searchsorted(g, sorted_sequence, values, out_int32=None, right=None, side=None, sorter=None):
    """``torch.searchsorted`` over the last axis: the count of entries ``<=`` (right) or
    ``<`` (left) each value."""
    from torch.onnx import symbolic_helper

    right = symbolic_helper._maybe_get_const(right, "b") if right is not None else False
    side = symbolic_helper._maybe_get_const(side, "s") if side is not None else None
    compare = "LessOrEqual" if (right is True or side == "right") else "Less"
    axis = lambda a: g.op("Constant", value_t=torch.tensor([a]))  # noqa: E731
    hits = g.op(compare, g.op("Unsqueeze", sorted_sequence, axis(-2)), g.op("Unsqueeze", values, axis(-1)))
    count = g.op("ReduceSum", g.op("Cast", hits, to_i=7), axis(-1), keepdims_i=0)  # 7: int64
    return count


@contextlib.contextmanager
def _symbolics(opset: int):
    registered = []
    try:
        for name, function in (("aten::erfc", _erfc), ("aten::searchsorted", _searchsorted)):
            torch.onnx.register_custom_op_symbolic(name, function, opset)
            registered.append(name)
        yield
    finally:
        for name in registered:
            torch.onnx.unregister_custom_op_symbolic(name, opset)


@contextlib.contextmanager
def _quiet():
    """No exporter warnings (the legacy exporter's deprecation, the tracer's notes on values
    it records as constants: the check below decides whether the file is right)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------------------------------
# export

def _require(module: str, why: str):
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError(f"{why} needs the {module} package: {INSTALL_HINT}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _metadata(handle, entry: Entry, fmt: str, opset: int | None) -> dict:
    from ..version import __version__

    cfg = handle.config
    module_name = entry.net.split(".")[0]
    return {
        "format_version": FORMAT_VERSION,
        "ganzoo_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "format": fmt,
        **({"opset": opset} if fmt == "onnx" else {}),
        "model": cfg.model.split(":")[-1],
        "dataset": cfg.dataset,
        "net": entry.net,
        "task": entry.task,
        "data_kind": handle.kind,
        "checkpoint": str(handle.checkpoint),
        "step": handle.step,
        "weights": "moving average (ema)" if module_name in handle.averaged else "raw",
        "batch": "any (the first axis, N, is dynamic)",
        "inputs": entry.inputs,
        "outputs": entry.outputs,
        **entry.info,
    }


def _write_onnx(module: nn.Module, example: tuple, entry: Entry, tmp: Path, metadata: dict, opset: int) -> None:
    onnx = _require("onnx", "ONNX export")
    names_in = [i["name"] for i in entry.inputs]
    names_out = [o["name"] for o in entry.outputs]
    axes = {name: {0: "N"} for name in names_in + names_out}
    with _quiet(), _symbolics(opset), torch.no_grad():
        torch.onnx.export(module, example, str(tmp), input_names=names_in, output_names=names_out,
                          dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
    model = onnx.load(str(tmp))
    model.doc_string = f"ganzoo {metadata['model']} {metadata['net']} ({metadata['task']}), step {metadata['step']}"
    entry_ = model.metadata_props.add()
    entry_.key, entry_.value = METADATA_KEY, json.dumps(metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp))


def _write_torchscript(module: nn.Module, example: tuple, tmp: Path, metadata: dict) -> None:
    with _quiet(), torch.no_grad():  # torch.jit is deprecated in torch >= 2.10 (a FutureWarning), not gone
        traced = torch.jit.trace(module, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={EXTRA_FILE: json.dumps(metadata)})
    # written by Python, not by torch.jit.save: on a full disk, its C++ writer aborts the process
    tmp.write_bytes(buffer.getvalue())


def _run_file(fmt: str, path: Path, inputs: tuple) -> tuple[torch.Tensor | None, str | None]:
    """Run the written file on ``inputs``: ``(output, runtime)``; ``(None, None)`` for ONNX
    without onnxruntime."""
    if fmt == "torchscript":
        with _quiet():
            loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            return loaded(*inputs), f"torch {torch.__version__.split('+')[0]}"
    try:
        import onnxruntime
    except ImportError:
        return None, None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
    return torch.from_numpy(session.run(None, feed)[0]), f"onnxruntime {onnxruntime.__version__}"


def _compare(out: torch.Tensor, ref: torch.Tensor) -> tuple[float | None, float | None, str | None]:
    """``(max abs difference, share of ids that differ, why they are too far apart)``."""
    if tuple(out.shape) != tuple(ref.shape):
        return None, None, f"it returns shape {tuple(out.shape)} for a batch of {len(ref)}, PyTorch {tuple(ref.shape)}"
    if not ref.is_floating_point():
        mismatched = (out.long() != ref.long()).double().mean().item()
        if mismatched > INTEGER_TOLERANCE:
            return None, mismatched, f"{mismatched:.1%} of its ids differ from PyTorch's"
        return None, mismatched, None
    diff = (out.double() - ref.double()).abs().max().item()
    if not diff <= FLOAT_TOLERANCE:
        return diff, None, f"its outputs differ from PyTorch's by up to {diff:.3g}"
    return diff, None, None


def check_out(fmt: str, out: str | Path) -> Path:
    """Refuse (one line) an unknown format, an ``out`` whose suffix does not match it, a
    missing folder, or an ``out`` that is a folder."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use {' or '.join(FORMATS)}")
    out = Path(out)
    suffix = FORMATS[fmt]
    if out.suffix.lower() != suffix:
        raise ConfigError(f"{fmt} files end in {suffix}, not {out.name!r}")
    try:
        folder_ok, out_is_folder = out.parent.is_dir(), out.is_dir()
    except OSError as exc:
        raise ConfigError(f"cannot use folder {out.parent}: {exc.strerror or exc}") from None
    if not folder_ok:
        raise ConfigError(f"folder {out.parent} does not exist")
    if out_is_folder:
        raise ConfigError(f"--out {out} is a folder; name the file to write")
    return out


def export(run_or_checkpoint: str | Path, format: str, out: str | Path, *, net: str | None = None,
           ema: bool = True, opset: int = DEFAULT_OPSET, check: bool = True, registry=None,
           handle=None) -> ExportResult:
    """Export a trained model's network (``net``, default the one ``ganzoo sample`` uses) as
    a standalone ``format`` file (``"onnx"``: ``.onnx``; ``"torchscript"``: ``.pt``).

    Args:
        run_or_checkpoint: a run directory, checkpoint folder or a file in it.
        format: ``"onnx"`` or ``"torchscript"``.
        out: the file to write (through a temporary file and a rename: a failed export
            leaves nothing).
        net: which network (see :func:`exportable`), e.g. ``g_ba`` for CycleGAN's B -> A,
            ``encoder`` for BiGAN's, ``generator.decode`` for VQ-GAN's decoder of codes.
        ema: the moving-average weights of a run trained with ``--set ema=...`` (the default,
            as :func:`ganzoo.load`); ``False``: the raw ones.
        opset: the ONNX opset (14..20).
        check: run the file on a fresh batch and compare with PyTorch before keeping it.
        registry: the component registry (default: the installed plugins).
        handle: an already loaded :class:`~ganzoo.outputs.sampling.ModelHandle` (then
            ``run_or_checkpoint`` and ``ema`` are not used).

    Returns:
        :class:`ExportResult`.

    Raises:
        ConfigError: a bad format, suffix, folder, opset or net, a missing optional package,
            or a network that cannot be exported (the reason in one line).
    """
    out = check_out(format, out)
    if format == "onnx":
        if not MIN_OPSET <= opset <= MAX_OPSET:
            raise ConfigError(f"--opset must be in {MIN_OPSET}..{MAX_OPSET}, got {opset}")
        _require("onnx", "ONNX export")
    if handle is None:
        from .sampling import load

        handle = load(run_or_checkpoint, device="cpu", registry=registry, ema=ema)
    entries = exportable(handle)
    model = handle.config.model.split(":")[-1]
    if not entries:
        raise ConfigError(f"model {model!r} exports no generator, translator or encoder to write")
    if net is None:
        entry = next(iter(entries.values()))
    elif net in entries:
        entry = entries[net]
    else:
        raise ConfigError(f"no network {net!r} to export; model {model!r} has {', '.join(entries)}")
    if entry.refused:
        raise ConfigError(f"cannot export {model} {entry.net}: {entry.refused}")
    module = entry.module.eval()
    metadata = _metadata(handle, entry, format, opset)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}{out.suffix}")
    result = ExportResult(out, format, metadata)
    try:
        example = entry.example(TRACE_BATCH, torch.Generator().manual_seed(1))
        try:
            if format == "onnx":
                _write_onnx(module, example, entry, tmp, metadata, opset)
            else:
                _write_torchscript(module, example, tmp, metadata)
        except ConfigError:
            raise
        except OSError as exc:  # a full disk is no refusal: say which file, exit 1
            raise WriteError(out, exc) from exc
        except Exception as exc:  # noqa: BLE001 - an exporter's failure is a refusal with its reason
            raise ConfigError(f"cannot export {model} {entry.net} as {format}: {_first_line(exc)}") from None
        if check:
            inputs = entry.example(CHECK_BATCH, torch.Generator().manual_seed(2))
            with torch.no_grad():
                reference = module(*inputs)
            try:
                output, runtime = _run_file(format, tmp, inputs)
            except Exception as exc:  # noqa: BLE001
                raise ConfigError(f"cannot export {model} {entry.net} as {format}: the written file does not run "
                                  f"on a batch of {CHECK_BATCH} ({_first_line(exc)})") from None
            if output is not None:
                diff, mismatched, problem = _compare(output, reference)
                if problem:
                    raise ConfigError(f"cannot export {model} {entry.net} as {format}: {problem}")
                result.max_abs_diff, result.mismatched, result.checked_with = diff, mismatched, runtime
        with writing(out):
            os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def read_metadata(path: str | Path) -> dict:
    """The JSON description inside an exported file (``.onnx`` needs the ``onnx`` package).

    Example::

        read_metadata("dcgan.onnx")["inputs"][0]   # {"name": "z", "shape": ["N", 100], ...}
    """
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        onnx = _require("onnx", "reading an ONNX file")
        model = onnx.load(str(path), load_external_data=False)
        props = {p.key: p.value for p in model.metadata_props}
        if METADATA_KEY not in props:
            raise ConfigError(f"{path} carries no ganzoo metadata")
        return json.loads(props[METADATA_KEY])
    extra = {EXTRA_FILE: ""}
    with _quiet():
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    if not extra[EXTRA_FILE]:
        raise ConfigError(f"{path} carries no ganzoo metadata")
    return json.loads(extra[EXTRA_FILE])


def usage(result: ExportResult) -> list[str]:
    """Lines telling how to feed the file: its inputs and outputs, and a run command."""
    meta = result.metadata
    describe = lambda t: f"{t['name']} {t['dtype']} [{', '.join(str(s) for s in t['shape'])}]"  # noqa: E731
    lines = [f"inputs: {'; '.join(describe(t) + ': ' + t['description'] for t in meta['inputs'])}",
             f"output: {'; '.join(describe(t) + ': ' + t['description'] for t in meta['outputs'])}"]
    feed = ", ".join(f"'{t['name']}': ..." for t in meta["inputs"])
    if result.format == "onnx":
        lines.append(f"run: onnxruntime.InferenceSession('{result.path}').run(None, {{{feed}}})")
    else:
        args = ", ".join(t["name"] for t in meta["inputs"])
        lines.append(f"run: torch.jit.load('{result.path}')({args})")
    return lines
