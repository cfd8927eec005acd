"""The plugin layer: how components arrive and are found.

- :mod:`.manager`: loads the ``ganzoo`` entry-point group one plugin at a time, isolating failures;
- :mod:`.registry`: every named component, tagged with the plugin that gave it;
- :mod:`.build`: a spec's references turned into objects (networks, losses, data, algorithms);
- :mod:`.core`: the core's own plugin (losses, datasets, metrics, extractors, ``alternating``, loggers).
"""
