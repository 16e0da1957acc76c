"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100: local files in `data_dir` when present, else tensorflow-datasets.

Local files are looked for in `data_dir` and in `data_dir/<name>` (CIFAR-10 also in
`data_dir/cifar-10-batches-bin`), so `data_dir=/path/to/data` with `mnist/`, `fashion_mnist/` and
`cifar10/` sub-folders serves all three.
"""
import os
from typing import Optional

from gan_bench.data import files, tfds_data
from gan_bench.data.base import DATASETS, Dataset, check_options

# Sub-folders of data_dir also searched for the local files (as files.local_idx / local_cifar10 do).
SUB_FOLDERS = {"mnist": ("mnist",), "fashion_mnist": ("fashion_mnist",),
               "cifar10": ("cifar10", "cifar-10-batches-bin"), "cifar100": ("cifar100", "cifar-100-binary")}
LOCAL_READERS = {"cifar10": files.local_cifar10, "cifar100": files.local_cifar100}


def local_files(name: str, split: str) -> str:
    """The local files `name`'s `split` is read from, as a user would name them."""
    if name == "cifar10":
        return f"{files.CIFAR_PREFIX.get(split, 'data_batch')}*.bin[.gz] (CIFAR-10 binary version)"
    if name == "cifar100":
        return f"{files.CIFAR100_FILE.get(split, 'train')}.bin[.gz] (CIFAR-100 binary version)"
    prefix = files.IDX_PREFIX.get(split, "train")
    return f"{prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz]"


def _local_or_tfds(name: str, split: str, data_dir: Optional[str], options: dict) -> Dataset:
    check_options(name, options)
    expected = local_files(name, split)
    if data_dir and not os.path.isdir(data_dir):
        raise ValueError(f"dataset {name!r}: trial.data_dir {data_dir} is not a folder; expected a folder holding "
                         f"{expected} (or a tensorflow-datasets data dir)")
    local = (LOCAL_READERS[name](split, data_dir) if name in LOCAL_READERS
             else files.local_idx(name, split, data_dir))
    if local is not None:
        return local
    searched = " or ".join([data_dir] + [os.path.join(data_dir, sub) for sub in SUB_FOLDERS[name]]) if data_dir else None
    try:
        return tfds_data.tfds_dataset(name, split, data_dir)
    except ValueError as e:
        where = f"no local files ({expected}) in {searched}" if searched else "no trial.data_dir with local files"
        cause, prefix = str(e), f"dataset {name!r}: "
        raise ValueError(f"{prefix}{where}, and {cause[len(prefix):] if cause.startswith(prefix) else cause}") from e


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


@DATASETS.register("cifar100")
def load_cifar100(split: str = "train", data_dir: Optional[str] = None, **options) -> Dataset:
    """CIFAR-100 32x32x3, 100 (fine) classes; splits train (50,000), test (10,000)."""
    return _local_or_tfds("cifar100", split, data_dir, options)
