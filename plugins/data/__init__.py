"""Datasets the seeded families register themselves (through their plugin's
``ganzoo_datasets`` hook), as a third-party ``ganzoo-*`` package would: the loaders import
torch, the registration modules in ``ganzoo_plugins`` do not."""
