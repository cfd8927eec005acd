"""The hooks a ganzoo plugin can implement.

A plugin is a module (or object) registered under the ``ganzoo`` entry-point group.
Each hook returns an iterable of specs; ganzoo validates every spec and tags it with
the plugin's name, so a component is known as ``plugin:name`` and, while that is
unique, by its bare ``name``.
"""

from __future__ import annotations

from typing import Iterable

import pluggy

from .specs import DatasetSpec, ExtractorSpec, LossSpec, MetricSpec, ModelSpec

hookspec = pluggy.HookspecMarker("ganzoo")


@hookspec
def ganzoo_models() -> Iterable[ModelSpec]:
    """Return the GAN models this plugin provides, as :class:`~ganzoo.specs.ModelSpec`.

    Must not build networks or import heavy modules; put those behind ``ModelSpec.build``.
    """


@hookspec
def ganzoo_losses() -> Iterable[LossSpec]:
    """Return the adversarial losses this plugin provides, as :class:`~ganzoo.specs.LossSpec`."""


@hookspec
def ganzoo_datasets() -> Iterable[DatasetSpec]:
    """Return the datasets this plugin provides, as :class:`~ganzoo.specs.DatasetSpec`.

    Loading happens later, through ``DatasetSpec.load``; this hook must not read data.
    """


@hookspec
def ganzoo_metrics() -> Iterable[MetricSpec]:
    """Return the evaluation metrics this plugin provides, as :class:`~ganzoo.specs.MetricSpec`."""


@hookspec
def ganzoo_extractors() -> Iterable[ExtractorSpec]:
    """Return the feature extractors this plugin provides, as :class:`~ganzoo.specs.ExtractorSpec`.

    Loading (and any training or download of weights) happens later, through ``load``.
    """


HOOK_FOR_KIND = {
    "model": "ganzoo_models",
    "loss": "ganzoo_losses",
    "dataset": "ganzoo_datasets",
    "metric": "ganzoo_metrics",
    "extractor": "ganzoo_extractors",
}
"""Which hook yields which kind of component."""
