"""ganzoo's built-in model plugins (import name ``ganzoo_plugins``).

Each module here is registered through the ``ganzoo`` entry-point group in
pyproject.toml, exactly as a third-party ``ganzoo-*`` package would be. The
registration modules stay light (no torch import); networks live in ``nets/``.
"""
