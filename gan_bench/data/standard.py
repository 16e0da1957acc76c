"""MNIST, Fashion-MNIST and CIFAR-10: local files in `data_dir` when present, else tensorflow-datasets.

Local files are looked for in `data_dir` and in `data_dir/<name>` (CIFAR-10 also in
`data_dir/cifar-10-batches-bin`), so `data_dir=/path/to/data` with `mnist/`, `fashion_mnist/` and
`cifar10/` sub-folders serves all three.
"""
from typing import Optional

from gan_bench.data import files, tfds_data
from gan_bench.data.base import DATASETS, Dataset, check_options

LOCAL_FILES = {
    "mnist": "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...",
    "fashion_mnist": "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...",
    "cifar10": "data_batch*.bin[.gz] (train), test_batch*.bin[.gz] (test)",
}


def _local_or_tfds(name: str, split: str, data_dir: Optional[str], options: dict) -> Dataset:
    check_options(name, options)
    local = (files.local_cifar10(split, data_dir) if name == "cifar10"
             else files.local_idx(name, split, data_dir))
    if local is not None:
        return local
    try:
        return tfds_data.tfds_dataset(name, split, data_dir)
    except ValueError as e:
        raise ValueError(f"dataset {name!r}: no local files ({LOCAL_FILES[name]}) in data_dir "
                         f"{data_dir!r} or its {name!r} sub-folder, and {e}") from e


@DATASETS.register("mnist")
def load_mnist(split: str = "train", data_dir: Optional[str] = None, **options) -> Dataset:
    """MNIST 28x28x1, 10 classes; splits train (60,000), test (10,000)."""
    return _local_or_tfds("mnist", split, data_dir, options)


@DATASETS.register("fashion_mnist")
def load_fashion_mnist(split: str = "train", data_dir: Optional[str] = None, **options) -> Dataset:
    """Fashion-MNIST 28x28x1, 10 classes; splits train (60,000), test (10,000)."""
    return _local_or_tfds("fashion_mnist", split, data_dir, options)


@DATASETS.register("cifar10")
def load_cifar10(split: str = "train", data_dir: Optional[str] = None, **options) -> Dataset:
    """CIFAR-10 32x32x3, 10 classes; splits train, test."""
    return _local_or_tfds("cifar10", split, data_dir, options)
