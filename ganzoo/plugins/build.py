"""Turning a resolved config into the components of a run: device, data, networks, loss,
algorithm. Used by training, sampling, evaluation and benchmarks alike (it imports none of them).
"""

from __future__ import annotations

import contextlib
import inspect
from pathlib import Path
from typing import Any, Callable

import torch

from ..algorithms import Algorithm
from ..config import RunConfig, algorithm_options, arch_config
from ..data import DataShape, FieldShape, ItemData
from ..datasets.common import default_data_dir
from ..errors import ComponentUnavailableError, ConfigError
from ..losses import Loss
from ..networks import Discriminator, Networks, PackedDiscriminator, check_networks
from .registry import Registry
from ..specs import AlgorithmSpec, ModelSpec, resolve_ref






def resolve(ref, what: str) -> Callable[..., Any]:
    """The object a spec reference names; a plugin whose code fails to import is a one-line
    :class:`ComponentUnavailableError`."""
    try:
        return resolve_ref(ref)
    except Exception as exc:  # noqa: BLE001 - the plugin's code failed to import
        raise ComponentUnavailableError(f"{what} cannot be loaded: {type(exc).__name__}: {exc}") from None


def load_dataset(registry: Registry, name: str, data_dir: str | Path | None, split: str = "train",
                 image_size: int | None = None) -> ItemData:
    """Load a registered dataset from ``data_dir`` (else ``$GANZOO_DATA_DIR`` or the cache)."""
    entry = registry.get("dataset", name)
    loader = resolve(entry.spec.load, f"dataset {entry.qualified_name!r}")
    folder = Path(data_dir).expanduser() if data_dir else default_data_dir()
    try:
        params = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: trust them
        params = ()
    if params and not any(p.name == "image_size" or p.kind is p.VAR_KEYWORD for p in params):
        raise ComponentUnavailableError(f"dataset {entry.qualified_name!r}: load() must take "
                                        f"(data_dir, split, image_size=None)")
    data = loader(folder, split, image_size=image_size)
    if not isinstance(data, ItemData):
        raise ComponentUnavailableError(f"dataset {entry.qualified_name!r}: load() returned "
                                        f"{type(data).__name__}, not ganzoo.data.ItemData (or ImageData, PointData)")
    return data


def check_model_fits(spec: ModelSpec, shape: DataShape, labelled: bool | None = None,
                     dataset: str = "the dataset") -> None:
    """Refuse, before training, data that the model says it cannot handle."""
    if labelled is None:
        labelled = shape.has("label")
    if shape.kind not in spec.data_kinds:
        raise ConfigError(f"model {spec.name!r} trains on {' or '.join(spec.data_kinds)} data; "
                          f"{dataset} is {shape.kind} data")
    if spec.needs_labels and not labelled:
        raise ConfigError(f"model {spec.name!r} is conditional and needs a labelled dataset; "
                          f"{dataset} has no labels")
    missing = [f for f in spec.fields if f not in shape.fields]
    if missing:
        raise ConfigError(f"model {spec.name!r} needs the data field(s) {', '.join(missing)}; {dataset} has "
                          f"{', '.join(shape.fields)} (see `ganzoo info {spec.name}` for its datasets)")
    if spec.channels is not None and shape.channels and shape.channels not in spec.channels:
        raise ConfigError(f"model {spec.name!r} supports {spec.channels} channels, the data has {shape.channels}")
    if spec.min_image_size is not None and shape.image_size and shape.image_size < spec.min_image_size:
        raise ConfigError(f"model {spec.name!r} needs images of at least {spec.min_image_size}px; "
                          f"set --image-size (the data is {shape.image_size}px)")
    if spec.max_image_size is not None and shape.image_size and shape.image_size > spec.max_image_size:
        raise ConfigError(f"model {spec.name!r} supports images up to {spec.max_image_size}px")


@contextlib.contextmanager
def _private_rng(seed: int, device: torch.device):
    """Seed the CPU generator (and ``device``'s, if CUDA) inside, restore the caller's after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        if devices:
            torch.cuda.manual_seed(seed)
        yield


def build_networks(registry: Registry, cfg: RunConfig, shape: DataShape, device: torch.device,
                   *, seed_process: bool = False) -> Networks:
    """Build, seed and check a model's networks for ``shape`` (weights seeded by ``cfg.seed``).

    Args:
        seed_process: seed torch's global generators (every device) with ``cfg.seed`` and leave
            them as building left them, as training does (its random stream continues from
            there). Otherwise the caller's random state is left untouched.
    """
    entry = registry.get("model", cfg.model)
    build = resolve(entry.spec.build, f"model {entry.qualified_name!r}")
    arch = arch_config(registry, cfg)
    if seed_process:
        torch.manual_seed(cfg.seed)
        rng = contextlib.nullcontext()
    else:
        rng = _private_rng(cfg.seed, device)
    try:
        with rng:
            nets = build(arch, shape)
            if not isinstance(nets, Networks):
                raise ComponentUnavailableError(f"model {entry.name!r}: build() returned {type(nets).__name__}, "
                                                "not ganzoo.networks.Networks")
            nets.to(device)
            check_networks(nets, shape, entry.name)
            if cfg.pack > 1:
                _check_packable(nets, cfg.pack, entry.name)
                wide_shape = packed_shape(shape, cfg.pack)
                wide = build(arch, wide_shape).to(device)
                check_networks(wide, wide_shape, entry.name)
                nets.discriminator = PackedDiscriminator(wide.discriminator, cfg.pack, nets.discriminator.in_shape)
    except (MemoryError, RuntimeError) as exc:
        if not _allocation_failure(exc):
            raise
        raise ConfigError(f"model {entry.name!r} is too large for this machine's memory: its networks cannot be "
                          f"allocated on {device.type} with these arch.* settings; choose smaller ones "
                          f"(see `ganzoo info {entry.name}`)") from None
    return nets


def _allocation_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocator refusing the memory asked for: a MemoryError, CUDA's
    ``torch.OutOfMemoryError``, or the RuntimeError of torch's CPU and MPS allocators."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def packed_shape(shape: DataShape, pack: int) -> DataShape:
    """The data shape a packed discriminator's inner network is built for: ``pack`` times the
    first dimension of the primary field (channels of images, clips and videos; coordinates
    of points)."""
    field = shape.fields[shape.primary]
    packed = FieldShape(field.kind, (field.shape[0] * pack, *field.shape[1:]), rate=field.rate)
    return DataShape(fields={shape.primary: packed})


def _check_packable(nets: Networks, pack: int, model: str) -> None:
    """Refuse ``pack`` for what it cannot pack: it needs an unconditional classic pair whose
    discriminator reads the generator's samples (the packed one is built from the same
    ``build`` for ``pack`` times the channels; its generator is dropped)."""
    generator, discriminator = nets.generator, nets.discriminator
    if (not nets.is_pair or not isinstance(discriminator, Discriminator) or getattr(generator, "num_classes", None)
            or discriminator.num_classes or discriminator.aux_classes):
        raise ConfigError(f"pack={pack} packs the samples of an unconditional generator/discriminator pair; "
                          f"model {model!r} is not one")
    if tuple(discriminator.in_shape) != tuple(generator.out_shape):
        raise ConfigError(f"pack={pack}: model {model!r}'s discriminator reads {discriminator.in_shape}, "
                          f"not the generator's samples")


def build_loss(registry: Registry, name: str) -> Loss:
    entry = registry.get("loss", name)
    return resolve(entry.spec.factory, f"loss {entry.qualified_name!r}")()


def build_algorithm(registry: Registry, cfg: RunConfig) -> Algorithm:
    """The run's training algorithm, with its validated ``algo.*`` options."""
    entry = registry.get("algorithm", cfg.algorithm)
    step = resolve(entry.spec.step, f"algorithm {entry.qualified_name!r}")
    if not (isinstance(step, type) and issubclass(step, Algorithm)):
        raise ComponentUnavailableError(f"algorithm {entry.qualified_name!r}: step must name a subclass of "
                                        f"ganzoo.algorithms.Algorithm, not {type(step).__name__} {step!r}")
    return step(algorithm_options(registry, cfg), cfg)


def check_algorithm_fits(registry: Registry, cfg: RunConfig, nets: Networks, shape: DataShape) -> None:
    """Refuse, before training, an algorithm whose modules or data fields are missing."""
    entry = registry.get("algorithm", cfg.algorithm)
    spec: AlgorithmSpec = entry.spec
    model = cfg.model.split(":")[-1]
    missing = [m for m in spec.modules if m not in nets.modules]
    if missing:
        raise ConfigError(f"algorithm {entry.name!r} trains the modules {', '.join(spec.modules)}; model "
                          f"{model!r} has {', '.join(nets.modules)} (use its own algorithm: `ganzoo info {model}`)")
    fields = [f for f in spec.fields if f not in shape.fields]
    if fields:
        raise ConfigError(f"algorithm {entry.name!r} needs the data field(s) {', '.join(fields)}; "
                          f"{cfg.dataset.split(':')[-1]} has {', '.join(shape.fields)}")
    for group in nets.optimizers:
        cfg.optimizer(group)  # refuses a group the config has no settings for

