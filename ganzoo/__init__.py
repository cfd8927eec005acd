"""ganzoo: a plugin-based zoo of generative adversarial networks for PyTorch.

The Python API mirrors the CLI::

    import ganzoo

    ganzoo.list("models", "?cgan")                # ['acgan', 'dcgan']: installed plugins' names
    run = ganzoo.train("dcgan", loss="bce", dataset="mnist", steps=2000,
                       data_dir="../shared/data")
    g = ganzoo.load(run.path)                     # or a checkpoint folder
    images = g.sample(64, seed=0)                 # [64, 1, 28, 28] in [-1, 1]

Importing ``ganzoo`` is cheap: torch is imported only when something is trained,
built or loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl
from .version import PLUGIN_API_VERSION, __version__

if TYPE_CHECKING:
    from pathlib import Path

    from .plugins.registry import Entry
    from .training.run import Run
    from .outputs.sampling import ModelHandle

__all__ = ["__version__", "PLUGIN_API_VERSION", "hookimpl", "list", "info", "train", "load"]


def _registry():
    from .plugins.manager import get_plugin_manager

    return get_plugin_manager().registry


def list(kind: str | None = None, pattern: str | None = None) -> "list[str]":  # noqa: A001
    """Names of installed components.

    Args:
        kind: ``"models"``, ``"losses"``, ``"datasets"``, ``"metrics"``, ``"extractors"``,
            ``"algorithms"`` or ``"loggers"``; ``None`` for every kind.
        pattern: an fnmatch pattern on the name, e.g. ``"*gan"``.

    Returns:
        Bare names, sorted; qualified ``plugin:name`` where the bare name means another
        component (a built-in of the same name) or is ambiguous.

    Example:
        >>> ganzoo.list("models", "?cgan")
        ['acgan', 'dcgan']
    """
    from .specs import SPEC_TYPES

    registry = _registry()
    kinds = [kind] if kind else [*SPEC_TYPES]
    names: "list[str]" = []
    for k in kinds:
        names += [registry.display_name(e) for e in registry.list(k, pattern)]
    return names


def info(name: str, kind: str | None = None) -> "Entry":
    """The registry entry for ``name`` (its ``.spec`` holds the details).

    Raises:
        UnknownComponentError: with close-match suggestions.
    """
    registry = _registry()
    return registry.get(kind, name) if kind else registry.lookup(name)


def train(model: str, *, loss: str | None = None, dataset: str | None = None,
          config: "str | Path | None" = None, progress: bool = True, **settings: Any) -> "Run":
    """Train a model and return the finished :class:`~ganzoo.training.run.Run`.

    Args:
        model: a model name, e.g. ``"dcgan"``.
        loss: a loss name (default: the model's).
        dataset: a dataset name (default: ``"mnist"``).
        config: a JSON or TOML config file (below keyword settings).
        progress: show progress on stderr.
        **settings: any run-config key, e.g. ``steps=2000``, ``batch_size=64``,
            ``data_dir="../shared/data"``, ``arch={"ngf": 32}``.

    Example:
        >>> run = ganzoo.train("dcgan", dataset="mnist", steps=200, data_dir="data")
        >>> run.path, run.last_metrics["g_loss"]
    """
    from .config import resolve_config
    from .training.run import train as run_training
    from .training.progress import make_reporter

    registry = _registry()
    cfg = resolve_config(registry, model, loss=loss, dataset=dataset, config_file=config, flags=settings)
    return run_training(cfg, registry, make_reporter(enabled=progress))


def load(path: "str | Path", device: str = "cpu", ema: bool = True) -> "ModelHandle":
    """Load a trained model from a run directory or checkpoint (safetensors only); a run
    trained with ``--set ema=...`` gives its moving-average weights unless ``ema=False``.

    Example:
        >>> g = ganzoo.load("runs/dcgan-mnist-20261128-120000")
        >>> g.sample(8, seed=0).shape
        torch.Size([8, 1, 28, 28])
    """
    from .outputs.sampling import load as load_generator

    return load_generator(path, device=device, ema=ema)
