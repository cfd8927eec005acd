"""The hooks a ganzoo plugin can implement.

A plugin is a module (or object) registered under the ``ganzoo`` entry-point group.
Each component hook returns an iterable of specs; ganzoo validates every spec and tags
it with the plugin's name, so a component is known as ``plugin:name`` and, while that
is unambiguous, by its bare ``name``. ``ganzoo_commands`` adds subcommands to the CLI.

Every hook is called without arguments, once per process. A plugin may declare the
plugin-API versions it supports with a module attribute ``GANZOO_API = ">=2,<3"``
(see :data:`ganzoo.PLUGIN_API_VERSION`).
"""

from __future__ import annotations

from typing import Any, Iterable

import pluggy

from .specs import AlgorithmSpec, DatasetSpec, ExtractorSpec, LoggerSpec, LossSpec, MetricSpec, ModelSpec

hookspec = pluggy.HookspecMarker("ganzoo")
hookimpl = pluggy.HookimplMarker("ganzoo")
"""Decorator for a plugin's hook implementations: ``@ganzoo.hookimpl`` (the same object)."""


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


@hookspec
def ganzoo_algorithms() -> Iterable[AlgorithmSpec]:
    """Return the training algorithms (update schedules) this plugin provides, as
    :class:`~ganzoo.specs.AlgorithmSpec`.

    The step function is imported only when a run uses the algorithm.
    """


@hookspec
def ganzoo_loggers() -> Iterable[LoggerSpec]:
    """Return the loggers this plugin provides, as :class:`~ganzoo.specs.LoggerSpec`
    (``--logger NAME``; see :class:`ganzoo.loggers.Logger`).

    The logger's module (and its backend's package) is imported only when a run uses it.
    """


@hookspec
def ganzoo_commands() -> Iterable[Any]:
    """Return CLI commands to mount under ``ganzoo``.

    Each item is a ``typer.Typer`` whose ``name`` is set (``typer.Typer(name="hello")``),
    or a pair ``(name, typer_app_or_function)``; a plain function becomes one command.
    ``ganzoo NAME ...`` then runs it. Names follow the component-name rules; a name that
    a built-in command uses (``train``, ``list``, ...) or that an earlier plugin took is
    refused with a one-line warning. Called only when the CLI needs the command list
    (``ganzoo --help``, or a command name that is not built in), never by ``--version``.
    """


HOOK_FOR_KIND = {
    "model": "ganzoo_models",
    "loss": "ganzoo_losses",
    "dataset": "ganzoo_datasets",
    "metric": "ganzoo_metrics",
    "extractor": "ganzoo_extractors",
    "algorithm": "ganzoo_algorithms",
    "logger": "ganzoo_loggers",
}
"""Which hook yields which kind of component."""
