"""Model checks: the network contracts across shapes, weights through safetensors,
determinism, bf16 (and optionally ``torch.compile``), a short training with every compatible
loss, an exact resume, and the trained model reloaded for what it does.

The classic generator/discriminator pair gets the detailed pair contract (output shapes,
dtypes, ranges, the conditional contract); any other set of modules is checked module by
module by its class (:class:`Generator`, :class:`Translator`, :class:`Encoder`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from safetensors.torch import load_file, save_file

from ..errors import ConfigError, GanzooError
from ..networks import (Discriminator, Encoder, Generator, Networks, Translator, check_networks, split_outputs,
                        uses_labels)
from ..kinds import kind_of
from ..networks import discriminator_input
from ..plugins.registry import Entry, Registry
from ..training.run import resume
from ..outputs.sampling import load
from ..specs import ModelSpec
from ..training import checkpoint as ckpt
from ..training.progress import make_reporter
from .kit import (BATCH, IMAGE_SIZES, KIT_PLUGIN, NUM_CLASSES, _kit_dataset, _train, example_shape, kit_shape,
                  with_labels)
from .report import CheckResult, _component, _describe, _Failed, _Recorder, _Skip
from .spec_checks import _check_spec, _resolve

LATER_CHECKS = ("conditional", "safetensors", "determinism", "bf16 autocast", "train", "resume", "reload")
"""The checks that need a model that builds; shown as skipped when the shapes check fails."""


def _image_sizes(spec: ModelSpec) -> list[int]:
    low, high = spec.min_image_size or 1, spec.max_image_size or 10 ** 6
    sizes = {s for s in IMAGE_SIZES if low <= s <= high}
    if spec.min_image_size and spec.min_image_size <= 256:
        sizes.add(spec.min_image_size)
    if spec.max_image_size and spec.max_image_size <= 64:
        sizes.add(spec.max_image_size)
    if not sizes and low <= 256:
        sizes = {low, min(2 * low, high)}
    return sorted(sizes)


def _shapes_to_try(spec: ModelSpec) -> list[Any]:
    """The kit's data of each kind the model takes; images in several channel counts and sizes."""
    num_classes = NUM_CLASSES if spec.needs_labels else None
    shapes = []
    for kind in spec.data_kinds:
        shape = example_shape(kind, num_classes)
        if not shape.channels:
            shapes.append(shape)
            continue
        for channels in list(spec.channels or (1, 3))[:3]:
            for size in _image_sizes(spec):
                shapes.append(kit_shape(channels, size, num_classes))
    return shapes


def _shape_text(shape) -> str:
    field = shape.fields[shape.primary]
    vocabulary = f", vocabulary {len(field.vocabulary)}" if field.vocabulary else ""
    return f"{shape.kind} {'x'.join(map(str, field.shape))}{vocabulary}"


def _build(build: Callable[..., Any], spec: ModelSpec, shape, seed: int = 0, arch: Any = None) -> Networks:
    arch = arch if arch is not None else (spec.config_class() if spec.config_class is not None else None)
    torch.manual_seed(seed)
    nets = build(arch, shape)
    if not isinstance(nets, Networks):
        raise _Failed(f"build() returned {type(nets).__name__}, not ganzoo.networks.Networks")
    return nets


def _train_mode(nets: Networks, mode: bool) -> None:
    for module in nets.modules.values():
        module.train(mode)


# ---------------------------------------------------------------------------------
# forward passes on fixed inputs

def _forward(nets: Networks, shape, n: int = BATCH, seed: int = 0, labels=None):
    """The pair: generator output for a fixed latent batch, and the discriminator's output on it."""
    g, d = nets.generator, nets.discriminator
    gen = torch.Generator().manual_seed(seed)
    z = g.sample_latent(n, generator=gen, device="cpu")
    if labels is None and shape.num_classes:
        labels = torch.arange(n) % shape.num_classes
    fake = g(z, labels if g.num_classes else None)
    out = d(discriminator_input(fake, shape), labels if d.num_classes else None)
    logits, class_logits = split_outputs(out)
    return z, labels, fake, logits, class_logits


def _fixed_input(module_shape: tuple[int, ...], seed: int, n: int = BATCH) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, *module_shape, generator=gen) * 2 - 1


def _outputs(nets: Networks, shape, seed: int = 0) -> dict[str, torch.Tensor]:
    """Each typed module's output on fixed inputs: ``{name: tensor}`` (the pair: fake and logits)."""
    if nets.is_pair:
        _, _, fake, logits, _ = _forward(nets, shape, seed=seed)
        return {"generator": fake, "discriminator": logits}
    outputs = {}
    for name, module in nets.modules.items():
        if isinstance(module, Generator):
            gen = torch.Generator().manual_seed(seed)
            z = module.sample_latent(BATCH, generator=gen, device="cpu")
            labels = torch.arange(BATCH) % module.num_classes if module.num_classes else None
            outputs[name] = module(z, labels)
        elif isinstance(module, Translator):
            x = _fixed_input(module.in_shape, seed)
            outputs[name] = module(x, torch.arange(BATCH) % module.num_domains) if module.num_domains else module(x)
        elif isinstance(module, Encoder):
            outputs[name] = module(_fixed_input(module.in_shape, seed))
    return outputs


def _check_pair_outputs(nets: Networks, shape) -> None:
    """The generator/discriminator contract for one shape, in training mode: the generator
    is checked first, so that a wrong output is named rather than crashing the discriminator."""
    g, d = nets.generator, nets.discriminator
    if not isinstance(g, Generator) or not isinstance(d, Discriminator):
        raise _Failed("build() must return ganzoo.networks.Generator and Discriminator modules "
                      f"(got {type(g).__name__}, {type(d).__name__})")
    where = _shape_text(shape)
    if tuple(g.out_shape) != tuple(shape.sample_shape):
        raise _Failed(f"{where}: generator.out_shape is {tuple(g.out_shape)}, expected {shape.sample_shape}")
    labels = torch.arange(BATCH) % shape.num_classes if shape.num_classes else None
    with torch.no_grad():
        z = g.sample_latent(BATCH, generator=torch.Generator().manual_seed(0), device="cpu")
        if tuple(z.shape) != (BATCH, g.latent_dim):
            raise _Failed(f"{where}: sample_latent({BATCH}) gave {tuple(z.shape)}, expected {(BATCH, g.latent_dim)}")
        try:
            fake = g(z, labels if g.num_classes else None)
        except Exception as exc:  # noqa: BLE001
            raise _Failed(f"{where}: the generator raised {_describe(exc)}") from None
        if not isinstance(fake, torch.Tensor) or tuple(fake.shape) != (BATCH, *shape.sample_shape):
            raise _Failed(f"{where}: generator made {tuple(getattr(fake, 'shape', ()))}, "
                          f"expected {(BATCH, *shape.sample_shape)}")
        problem = kind_of(shape.kind).check_samples(fake, shape.field_of())
        if problem:
            raise _Failed(f"{where}: generator output: {problem}")
        if fake.is_floating_point():
            _check_values(f"{where}: generator output", fake, images=False)
        try:
            logits, class_logits = split_outputs(d(discriminator_input(fake, shape), labels if d.num_classes else None))
        except Exception as exc:  # noqa: BLE001
            raise _Failed(f"{where}: the discriminator raised {_describe(exc)}") from None
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (BATCH,):
        raise _Failed(f"{where}: discriminator returned shape {tuple(getattr(logits, 'shape', ()))}, "
                      f"expected ({BATCH},): one logit per sample")
    if logits.dtype != torch.float32 or not torch.isfinite(logits).all():
        raise _Failed(f"{where}: discriminator logits must be finite float32, got {logits.dtype}")
    if d.aux_classes and (class_logits is None or tuple(class_logits.shape) != (BATCH, d.aux_classes)):
        raise _Failed(f"{where}: discriminator has aux_classes={d.aux_classes} but did not return "
                      f"(logits, class_logits [N, {d.aux_classes}])")


def _check_values(what: str, value: torch.Tensor, images: bool) -> None:
    if value.dtype != torch.float32:
        raise _Failed(f"{what} is {value.dtype}, expected torch.float32")
    if not torch.isfinite(value).all():
        raise _Failed(f"{what} is not finite")
    if images and value.abs().max() > 1 + 1e-5:
        raise _Failed(f"{what} reaches {value.abs().max().item():.3g}; images must be in [-1, 1] "
                      "(end the network with tanh)")


def _check_set_outputs(nets: Networks, shape, model: str) -> None:
    """Any other set: the core's contract by module class, then dtypes and ranges."""
    where = _shape_text(shape)
    try:
        check_networks(nets, shape, model)
    except GanzooError as exc:
        raise _Failed(f"{where}: {exc}") from None
    typed = [n for n, m in nets.modules.items() if isinstance(m, (Generator, Translator, Encoder))]
    if not typed:
        raise _Failed("no module is a ganzoo Generator, Translator or Encoder: nothing can be sampled, "
                      "translated or encoded")
    _train_mode(nets, False)
    try:
        with torch.no_grad():
            outputs = _outputs(nets, shape)
    except Exception as exc:  # noqa: BLE001
        raise _Failed(f"{where}: a forward pass raised {_describe(exc)}") from None
    finally:
        _train_mode(nets, True)
    for name, value in outputs.items():
        module = nets.modules[name]
        if isinstance(module, Generator) and tuple(module.out_shape) == tuple(shape.sample_shape):
            problem = kind_of(shape.kind).check_samples(value, shape.field_of())  # samples of the data's kind
            if problem:
                raise _Failed(f"{where}: {name} output: {problem}")
            if not value.is_floating_point():
                continue
        _check_values(f"{where}: {name} output", value, images=isinstance(module, Translator))


# ---------------------------------------------------------------------------------
# the model checks

def _model_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    spec: ModelSpec = entry.spec
    if not _check_spec(rec, entry, registry):
        return results
    build = _resolve(rec, spec.build, "build", check="build")
    if build is None:
        return results

    working: list[Any] = []
    with rec.check("shapes") as note:
        refused = []
        for shape in _shapes_to_try(spec):
            try:
                nets = _build(build, spec, shape)
            except ConfigError as exc:
                refused.append(f"{_shape_text(shape)} ({exc})")
                continue
            if nets.is_pair:
                nets.validate(entry.name)
                _check_pair_outputs(nets, shape)
            else:
                _check_set_outputs(nets, shape, entry.name)
            working.append((shape, nets if not working else None))  # keep one model, free the rest
        if not working:
            raise _Failed("the build refused every shape tried: " + "; ".join(refused))
        note["message"] = (f"ok at {', '.join(_shape_text(s) for s, _ in working)}"
                           + (f"; refused {len(refused)}: " + ", ".join(r.split(' (')[0] for r in refused)
                              if refused else ""))
    if results[-1].status == "fail" or not working:
        for name in LATER_CHECKS + (("torch.compile",) if options.get("compile") else ()):
            rec.add(name, "skip", "not run: the shapes check failed")
        return results
    shape, nets = working[0]
    _check_conditional(rec, build, spec, shape, nets)
    _check_round_trip(rec, build, spec, shape, nets)
    _check_determinism(rec, build, spec, shape)
    _check_bf16(rec, nets, shape)
    if options.get("compile"):
        _check_compile(rec, nets, shape)
    _check_training(rec, entry, registry, workdir, working, options.get("losses"))
    return results


def _check_conditional(rec: _Recorder, build, spec: ModelSpec, shape, nets: Networks) -> None:
    with rec.check("conditional") as note:
        labelled = with_labels(shape, shape.num_classes or NUM_CLASSES)
        nets = _build(build, spec, labelled)
        conditional = uses_labels(nets)
        if not spec.needs_labels:
            if conditional:
                note.update(status="warn", message="the networks use labels on labelled data but the spec "
                                                   "does not set needs_labels=True (unlabelled data fails late)")
            else:
                note["message"] = "unconditional: labelled data is accepted and labels are not used"
            return
        if not conditional:
            raise _Failed("needs_labels=True, but no network sets num_classes or aux_classes")
        if not nets.is_pair:
            note["message"] = "conditional (a set of modules: the pair contract does not apply)"
            return
        g, d = nets.generator, nets.discriminator
        for name, value in (("generator", g.num_classes), ("discriminator", d.num_classes),
                            ("discriminator aux_classes", d.aux_classes)):
            if value is not None and value != labelled.num_classes:
                raise _Failed(f"{name} has {value} classes, the data {labelled.num_classes}")
        _check_pair_outputs(nets, labelled)
        if g.num_classes:
            g.eval()
            with torch.no_grad():
                z = g.sample_latent(2, generator=torch.Generator().manual_seed(0), device="cpu")
                z = z[:1].repeat(2, 1)
                a = g(z, torch.tensor([0, 1]))
            if torch.allclose(a[0], a[1], rtol=1e-5, atol=1e-6):  # float noise aside
                raise _Failed("the generator ignores its labels (same z, labels 0 and 1, same sample)")
        parts = [f"generator {g.num_classes} classes" if g.num_classes else "",
                 f"discriminator {d.num_classes} classes" if d.num_classes else "",
                 f"auxiliary classifier {d.aux_classes} classes" if d.aux_classes else ""]
        note["message"] = ", ".join(p for p in parts if p)


def _state(module) -> dict[str, Any]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _check_round_trip(rec: _Recorder, build, spec: ModelSpec, shape, nets: Networks) -> None:
    with rec.check("safetensors") as note, tempfile.TemporaryDirectory() as tmp:
        fresh = _build(build, spec, shape, seed=1)
        for name, module in nets.modules.items():
            path = Path(tmp) / f"{name}.safetensors"
            try:
                save_file(_state(module), str(path))
            except (RuntimeError, ValueError) as exc:
                raise _Failed(f"{name} state_dict cannot be saved with safetensors: "
                              f"{str(exc).splitlines()[0]} (tied or shared weights?)") from None
            if name not in fresh.modules:
                raise _Failed(f"a second build has no module {name!r}")
            try:
                fresh.modules[name].load_state_dict(load_file(str(path)), strict=True)
            except RuntimeError as exc:
                raise _Failed(f"{name} state_dict does not load back strictly: {str(exc).splitlines()[0]}") from None
        _train_mode(nets, False), _train_mode(fresh, False)
        try:
            with torch.no_grad():
                a, b = _outputs(nets, shape), _outputs(fresh, shape)
        finally:
            _train_mode(nets, True)
        differ = [name for name in a if not torch.equal(a[name], b[name])]
        if differ:
            raise _Failed(f"a rebuilt model with the saved weights gives different outputs from {differ[0]} "
                          "(state kept outside state_dict?)")
        note["message"] = ", ".join(f"{name} {sum(t.numel() for t in _state(m).values()):,}"
                                    for name, m in nets.modules.items()) + " values"


def _check_determinism(rec: _Recorder, build, spec: ModelSpec, shape) -> None:
    with rec.check("determinism", "two builds with seed 0: identical weights and outputs"):
        first, second = _build(build, spec, shape, seed=0), _build(build, spec, shape, seed=0)
        for name in first.modules:
            a, b = _state(first.modules[name]), _state(second.modules[name])
            if a.keys() != b.keys():
                raise _Failed(f"two builds give {name} modules with different parameter names")
            differ = [k for k in a if not torch.equal(a[k], b[k])]
            if differ:
                raise _Failed(f"two builds with the same seed give different {name} weights: {differ[0]} "
                              "(draw random numbers only from torch's global generator)")
        _train_mode(first, False), _train_mode(second, False)
        with torch.no_grad():
            out_a, out_b = _outputs(first, shape), _outputs(second, shape)
        differ = [name for name in out_a if not torch.equal(out_a[name], out_b[name])]
        if differ:
            raise _Failed(f"two builds with the same seed give different {differ[0]} outputs for the same input")


def _check_bf16(rec: _Recorder, nets: Networks, shape) -> None:
    with rec.check("bf16 autocast", "CPU bf16 autocast forward: shapes kept, values finite"):
        with torch.no_grad():
            eager = _outputs(nets, shape)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = _outputs(nets, shape)
        for name, value in low.items():
            if tuple(value.shape) != tuple(eager[name].shape):
                raise _Failed(f"under bf16 autocast {name} gives {tuple(value.shape)}, "
                              f"not {tuple(eager[name].shape)}")
            if not torch.isfinite(value.float()).all():
                raise _Failed(f"under bf16 autocast the {name} output is not finite")


def _check_compile(rec: _Recorder, nets: Networks, shape) -> None:
    with rec.check("torch.compile") as note:
        _train_mode(nets, False)
        try:
            with torch.no_grad():
                eager = _outputs(nets, shape)
                originals = dict(nets.modules)
                nets.modules.update({name: torch.compile(m) for name, m in originals.items()
                                     if name in eager})
                try:
                    compiled = _outputs(nets, shape)
                finally:
                    nets.modules.update(originals)
        finally:
            _train_mode(nets, True)
        differ = [n for n in eager if not torch.allclose(eager[n], compiled[n], atol=1e-4, rtol=1e-3)]
        if differ:
            raise _Failed(f"compiled and eager outputs of {differ[0]} differ")
        note["message"] = f"compiled {', '.join(eager)} match eager outputs"


def _compatible_losses(spec: ModelSpec, registry: Registry) -> list[Entry]:
    if spec.losses is not None:
        return [registry.get("loss", name) for name in spec.losses]
    return [e for e in registry.list("loss") if e.plugin != KIT_PLUGIN]


def _check_training(rec: _Recorder, entry: Entry, registry: Registry, workdir: Path, working,
                    losses: Iterable[str] | None) -> None:
    try:
        chosen = ([registry.get("loss", name) for name in losses] if losses is not None
                  else _compatible_losses(entry.spec, registry))
    except GanzooError as exc:
        rec.add("train", "fail", str(exc))
        return
    sized = [s for s, _ in working if s.channels]  # images: the smallest, for speed
    shape = min(sized, key=lambda s: (s.image_size, s.channels)) if sized else working[0][0]
    try:
        dataset = _kit_dataset(shape)
    except _Skip as exc:
        for name in ("train", "resume", "reload"):
            rec.add(name, "skip", str(exc))
        return
    image_size = shape.image_size or None
    first_run = None
    for loss in chosen:
        with rec.check(f"train[{loss.name}]") as note:
            run = _train(registry, workdir, entry.qualified_name, loss.qualified_name, dataset,
                         run_name=f"{entry.plugin}-{entry.name}-{loss.plugin}-{loss.name}",
                         image_size=image_size)
            first_run = first_run or run
            note["message"] = (f"2 steps on {_shape_text(shape)}: d_loss {run.last_metrics['d_loss']:.4g}, "
                               f"g_loss {run.last_metrics['g_loss']:.4g}")
    for kind in entry.spec.data_kinds:  # the model's other kinds of data, with its default loss
        if kind == shape.kind:
            continue
        other = example_shape(kind, None)
        with rec.check(f"train[{entry.spec.default_loss}, {kind}]") as note:
            run = _train(registry, workdir, entry.qualified_name, entry.spec.default_loss, _kit_dataset(other),
                         run_name=f"{entry.plugin}-{entry.name}-{kind}", image_size=other.image_size or None)
            note["message"] = f"2 steps on {_shape_text(other)}: g_loss {run.last_metrics['g_loss']:.4g}"
    if first_run is None:
        rec.add("resume", "skip", "not run: no training run succeeded")
        rec.add("reload", "skip", "not run: no training run succeeded")
        return
    _check_resume(rec, entry, registry, workdir, dataset, image_size)
    _check_reload(rec, first_run.path, registry, shape)


def _check_resume(rec: _Recorder, entry: Entry, registry: Registry, workdir: Path, dataset: str,
                  image_size: int | None) -> None:
    """A run of 3 steps, and its step-2 checkpoint resumed to step 3 in a copy: the two
    step-3 checkpoints are equal, bit for bit."""
    with rec.check("resume", "step 2 resumed to step 3 equals the run's own step 3, bit for bit"):
        base = f"{entry.plugin}-{entry.name}-resume"
        straight = _train(registry, workdir, entry.qualified_name, entry.spec.default_loss, dataset, base,
                          image_size, steps=3, checkpoint_every=1, keep_checkpoints=5)
        copy = workdir / f"{base}-copy"
        shutil.copytree(straight.path, copy)
        shutil.rmtree(copy / ckpt.CHECKPOINTS_DIR / "step-0000003")
        (copy / ckpt.CHECKPOINTS_DIR / ckpt.LATEST).write_text("step-0000002\n")
        resumed = resume(registry, copy, flags={"steps": 3}, reporter=make_reporter(enabled=False))
        a, b = ckpt.resolve_checkpoint(straight.path), ckpt.resolve_checkpoint(resumed.path)
        for file in sorted(p.name for p in a.glob("*.safetensors")):
            left, right = load_file(str(a / file)), load_file(str(b / file))
            differ = [k for k in left if k not in right or not torch.equal(left[k], right[k])]
            if differ:
                raise _Failed(f"after a resume {file} differs: {', '.join(differ[:4])} (randomness outside "
                              "torch's global generator, the latent stream and trainer.rng, or algorithm "
                              "state outside Algorithm.state_dict?)")


def _check_reload(rec: _Recorder, run_dir: Path, registry: Registry, shape) -> None:
    with rec.check("reload") as note:
        handle = load(run_dir, registry=registry)
        done = []
        if handle.can_sample:
            samples = handle.sample(2, seed=0)
            if tuple(samples.shape) != (2, *handle.generator.out_shape) or not torch.isfinite(samples).all():
                raise _Failed(f"reloaded generator sampled {tuple(samples.shape)}")
            done.append("sample")
        for name, translator in handle.translators.items():
            out = handle.translate(torch.zeros(2, *translator.in_shape), net=name,
                                   domain=0 if translator.num_domains else None)
            if tuple(out.shape) != (2, *translator.out_shape) or not torch.isfinite(out).all():
                raise _Failed(f"reloaded {name} translated to {tuple(out.shape)}")
            done.append(f"translate[{name}]")
        if handle.can_encode:
            z = handle.encode(torch.zeros(2, *handle.encoder.in_shape))
            if tuple(z.shape) != (2, handle.encoder.latent_dim):
                raise _Failed(f"reloaded encoder gave {tuple(z.shape)}")
            done.append("encode")
        note["message"] = "the last checkpoint loads with ganzoo.load: " + ", ".join(done)
