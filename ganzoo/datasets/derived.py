"""Datasets made from other registered datasets: :func:`derive`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from ..data import ItemData
from ..errors import ConfigError

Transform = Callable[[ItemData, str], ItemData]
"""``transform(data, split) -> ItemData``: what :func:`derive` applies to the base dataset."""

_loading = threading.local()  # the bases being loaded right now, to refuse a loop of derivations


def derive(base: str, transform: Transform) -> Callable[..., ItemData]:
    """A dataset loader that loads the registered dataset ``base`` and transforms it.

    The base is looked up when the loader runs, in the process-wide registry
    (:func:`ganzoo.plugins.manager.get_plugin_manager`), and loaded through
    :func:`ganzoo.plugins.build.load_dataset` with the same ``data_dir``, ``split`` and
    ``image_size``, so it reads (or refuses) its files exactly as ``--dataset base`` would.
    Nothing is written; the transform works on the tensors in memory.

    Args:
        base: the registered dataset name (bare or ``plugin:name``), e.g. ``"mnist"``.
        transform: ``transform(data, split) -> ItemData``, given the base's data and the split.

    Returns:
        ``load(data_dir, split="train", image_size=None) -> ItemData``, for a
        :class:`ganzoo.specs.DatasetSpec`'s ``load``.

    Example (MNIST digits 0-4). The loader lives in a module of the plugin that its spec names
    by reference, so that registering the plugin imports no torch::

        # my_plugin/data.py
        load_mnist04 = derive("mnist", lambda data, split: data.subset(data.labels < 5))

        # my_plugin/__init__.py, in the ganzoo_datasets hook
        yield DatasetSpec(name="mnist-04", summary="MNIST digits 0-4", load="my_plugin.data:load_mnist04",
                          channels=1, image_size=28, num_classes=10,
                          files=("MNIST/raw/train-images-idx3-ubyte", ...))
    """
    def load(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
        from ..plugins.build import load_dataset
        from ..plugins.manager import get_plugin_manager

        active: list[str] = getattr(_loading, "bases", [])
        if base in active:
            chain = " -> ".join([*active[active.index(base):], base])
            raise ConfigError(f"derived datasets load each other in a loop: {chain}")
        _loading.bases = [*active, base]
        try:
            data = load_dataset(get_plugin_manager().registry, base, data_dir, split, image_size)
        finally:
            _loading.bases = active
        return transform(data, split)

    what = getattr(transform, "__name__", "a transform")
    load.__name__ = load.__qualname__ = f"derived_from_{base.replace(':', '_').replace('-', '_')}"
    load.__doc__ = f"The registered dataset {base!r} passed through {what}(data, split)."
    load.base, load.transform = base, transform  # what it is made of, for readers and tests
    return load
