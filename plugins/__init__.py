"""ganzoo's built-in model plugins (import name ``ganzoo_plugins``).

One folder per family, each registered through the ``ganzoo`` entry-point group in
pyproject.toml exactly as a third-party ``ganzoo-*`` package would be:

- ``<family>/__init__.py``: the registration (specs and options classes); imports no torch,
  so listing models stays light;
- ``<family>/nets.py``: the networks and ``build``;
- ``<family>/algorithm.py``: the family's training algorithm, when it has one;
- ``<family>/data.py``: its datasets, when it has any;
- ``<family>/metrics.py``: its metrics and feature extractors, when it has any.

Blocks several families share (the DCGAN backbone, normalisation, residual blocks, the PatchGAN,
initialisation, the shared options) live in :mod:`ganzoo_plugins.layers`. A family imports the
core (``ganzoo``), ``ganzoo_plugins.layers`` and its own modules, never another family's.
"""
