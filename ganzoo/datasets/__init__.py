"""Loaders for the built-in datasets (registered in :mod:`ganzoo.plugins.core`), one module a job.

============================  =========================================================
module                        datasets
============================  =========================================================
:mod:`.idx`                   ``mnist``, ``fashion-mnist`` (torchvision's IDX readers)
:mod:`.cifar`                 ``cifar10``
:mod:`.folders`               ``image-folder``, and the image readers other folders share
:mod:`.toy`                   ``toy-ring``, ``toy-grid`` (PacGAN's 2-D mixtures)
:mod:`.stacked`               ``stacked-mnist``
:mod:`.derived`               :func:`derive`: a dataset made from a registered one
:mod:`.translation`           ``mnist-edges``, ``mnist-inverted``, ``mnist-fashion``
:mod:`.translation_folders`   ``paired-folder``, ``unpaired-folder``
:mod:`.common`                :data:`OFFLINE_ENV`, split and folder checks
============================  =========================================================

Every loader is ``load(data_dir, split="train", image_size=None)`` and returns a
:class:`ganzoo.data.ItemData` held in memory; none writes beside the data (only the
torchvision readers download, and never with ``$GANZOO_OFFLINE`` set).
"""

from __future__ import annotations

from ..data import ImageData, ItemData, PointData
from ..errors import ConfigError, DataUnavailableError
from .cifar import load_cifar10
from .common import OFFLINE_ENV
from .derived import Transform, derive
from .folders import (FOLDER_IMAGE_SIZE, GRAYSCALE_MODES, IMAGE_EXTENSIONS, IMAGE_GLOBS, find_images,
                      load_image_folder)
from .idx import load_fashion_mnist, load_mnist
from .stacked import STACKED_MNIST_SEEDS, STACKED_MNIST_SIZES, load_stacked_mnist
from .toy import (GRID_STD, GRID_VALUES, RING_MODES, RING_RADIUS, RING_STD, TOY_SEEDS, TOY_SIZES,
                  gaussian_mixture, grid_means, load_toy_grid, load_toy_ring, ring_means)
from .translation import (edge_pairs, invert, inverted_domains, load_mnist_edges, load_mnist_fashion,
                          load_mnist_inverted, morphological_edges)
from .translation_folders import load_paired_folder, load_unpaired_folder

__all__ = [
    "OFFLINE_ENV", "derive", "Transform",
    "load_mnist", "load_fashion_mnist", "load_cifar10",
    "IMAGE_EXTENSIONS", "IMAGE_GLOBS", "FOLDER_IMAGE_SIZE", "GRAYSCALE_MODES", "find_images",
    "load_image_folder",
    "RING_MODES", "RING_RADIUS", "RING_STD", "GRID_VALUES", "GRID_STD", "TOY_SIZES", "TOY_SEEDS",
    "ring_means", "grid_means", "gaussian_mixture", "load_toy_ring", "load_toy_grid",
    "STACKED_MNIST_SIZES", "STACKED_MNIST_SEEDS", "load_stacked_mnist",
    "morphological_edges", "invert", "edge_pairs", "inverted_domains",
    "load_mnist_edges", "load_mnist_inverted", "load_mnist_fashion",
    "load_paired_folder", "load_unpaired_folder",
    "ImageData", "ItemData", "PointData", "ConfigError", "DataUnavailableError",
]
