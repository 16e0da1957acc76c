"""Datasets by name: `load(name, split, data_dir, **options) -> Dataset`, and the pure batch order.

Names (the values of `trial.dataset`): ring8, grid25 (2-D mixtures), polygons (Lucic et al. 2018
triangles), stacked_mnist, mnist, fashion_mnist, cifar10, cifar100 (local files or tensorflow-datasets), npz,
image_folder (local files), celeb_a, lsun_bedroom, imagenet_32, imagenet_64 (tensorflow-datasets).
Labelled (`Dataset.num_classes`, `labels(idx)`): the mixtures (their mode), stacked_mnist (1000), mnist,
fashion_mnist, cifar10, cifar100, imagenet_32/64, npz with `y` or `labels`, image folders with one sub-folder
per class, celeb_a with `celeb_a.label_attribute` (2).
"""
from typing import Optional

from gan_bench.data import files, polygons, stacked, standard, synthetic, tfds_data  # noqa: F401  (registration)
from gan_bench.data import subset
from gan_bench.data.base import DATASETS, ArrayDataset, Dataset, batch_indices

__all__ = ["DATASETS", "ArrayDataset", "Dataset", "batch_indices", "load"]


def load(name: str, split: str = "train", data_dir: Optional[str] = None, **options) -> Dataset:
    """The `split` of dataset `name`; ValueError naming the bad name, split or option and the choices."""
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {name!r}")
    if not isinstance(split, str):
        raise ValueError(f"dataset split must be a string, got {split!r}")
    if data_dir is not None and not isinstance(data_dir, str):
        data_dir = str(data_dir)
    dataset = DATASETS.get(name)(split=split, data_dir=data_dir, **options)
    return subset.configured_subset(dataset, name, split, data_dir)  # trial.train_fraction (data/subset.py)
