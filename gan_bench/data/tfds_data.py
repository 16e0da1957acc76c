"""Datasets from tensorflow-datasets (optional extra), read with `tfds.data_source` (random access, no TF).

Preprocessing follows google/compare_gan `compare_gan/datasets.py`:
- celeb_a: `tf.image.resize_image_with_crop_or_pad(image, 160, 160)` (central 160x160 crop of the
  218x178 image) then `tf.image.resize_images(image, [64, 64])` (TF1 bilinear) -> 64x64x3.
- lsun_bedroom (`lsun/bedroom`): `resize_image_with_crop_or_pad(image, 128, 128)` -> 128x128x3; the
  official validation set has only 300 images, so as in compare_gan the test split is the last 1% of train
  (`train[99%:]`) and the train split the first 99%.
- imagenet_32 / imagenet_64 (`imagenet_resized/32x32`, `/64x64`): as stored; test = validation.
- mnist, fashion_mnist, cifar10: as stored.

Data must be prepared beforehand (`tfds build NAME --data_dir=DIR --file_format=array_record`, which
needs the network). We never let tfds download: unprepared data fails at once with a ValueError that names
the dataset, the directory and that command.
"""
import contextlib
import glob
import logging
import os
from typing import Callable, Optional

import numpy as np

from gan_bench.data.base import DATASETS, Dataset, check_options, check_split, uint8_to_unit

# our name -> (tfds name, {our split: tfds split}, shape, num_classes or None)
TFDS_SPECS = {
    "mnist": ("mnist", {"train": "train", "test": "test"}, (28, 28, 1), 10),
    "fashion_mnist": ("fashion_mnist", {"train": "train", "test": "test"}, (28, 28, 1), 10),
    "cifar10": ("cifar10", {"train": "train", "test": "test"}, (32, 32, 3), 10),
    "celeb_a": ("celeb_a", {"train": "train", "validation": "validation", "test": "test"}, (64, 64, 3), None),
    "lsun_bedroom": ("lsun/bedroom", {"train": "train[:99%]", "test": "train[99%:]",
                                      "validation": "validation"}, (128, 128, 3), None),
    "imagenet_32": ("imagenet_resized/32x32", {"train": "train", "test": "validation"}, (32, 32, 3), 1000),
    "imagenet_64": ("imagenet_resized/64x64", {"train": "train", "test": "validation"}, (64, 64, 3), 1000),
}


def crop_or_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Central crop and/or zero pad [H, W, C] to [height, width, C], as tf.image.resize_image_with_crop_or_pad."""
    h, w = image.shape[:2]
    top, left = max((h - height) // 2, 0), max((w - width) // 2, 0)
    image = image[top:top + min(h, height), left:left + min(w, width)]
    out = np.zeros((height, width) + image.shape[2:], image.dtype)
    pt, pl = max((height - h) // 2, 0), max((width - w) // 2, 0)
    out[pt:pt + image.shape[0], pl:pl + image.shape[1]] = image
    return out


def tf1_bilinear_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize [H, W, C] -> float32 [height, width, C] as TF1 `tf.image.resize_images` does it
    (align_corners=False, no half-pixel centers): output pixel i samples input position i * H / height."""
    image = image.astype(np.float32)

    def axis_weights(n_in, n_out):
        src = np.arange(n_out) * (n_in / n_out)
        i0 = np.floor(src).astype(np.int64)
        return i0, np.minimum(i0 + 1, n_in - 1), (src - i0).astype(np.float32)

    r0, r1, fr = axis_weights(image.shape[0], height)
    c0, c1, fc = axis_weights(image.shape[1], width)
    rows = image[r0] * (1 - fr)[:, None, None] + image[r1] * fr[:, None, None]
    return rows[:, c0] * (1 - fc)[None, :, None] + rows[:, c1] * fc[None, :, None]


def _celeb_a(image):
    return tf1_bilinear_resize(crop_or_pad(image, 160, 160), 64, 64)


def _lsun(image):
    return crop_or_pad(image, 128, 128)


PREPROCESS = {"celeb_a": _celeb_a, "lsun_bedroom": _lsun}


class TfdsDataset(Dataset):
    """Random access into a tfds data source; images converted (and cropped/resized) per `get`."""

    def __init__(self, name: str, source, shape, num_classes: Optional[int],
                 preprocess: Optional[Callable[[np.ndarray], np.ndarray]]):
        super().__init__(name, shape, len(source), num_classes)
        self.source, self.preprocess = source, preprocess

    def _get(self, idx):
        out = np.empty((len(idx),) + self.shape, np.float32)
        for j, i in enumerate(idx):
            image = np.asarray(self.source[int(i)]["image"])
            if self.preprocess is not None:
                image = self.preprocess(image)
            out[j] = (uint8_to_unit(image) if image.dtype == np.uint8
                      else image / np.float32(127.5) - np.float32(1.0))
        return out

    def _labels(self, idx):
        return np.array([int(self.source[int(i)]["label"]) for i in idx], np.int64)


def default_tfds_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def prepared_versions(where: str, tfds_name: str) -> list:
    """Version folders of a dataset prepared by tfds in `where` (those holding a dataset_info.json)."""
    return sorted(glob.glob(os.path.join(where, *tfds_name.split("/"), "*", "dataset_info.json")))


@contextlib.contextmanager
def _quiet_absl_warnings():
    """tfds logs warnings about the folders it probes (through absl) before it fails; the ValueError raised
    below says what is missing and what to do, in one message."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def tfds_dataset(name: str, split: str, data_dir: Optional[str]) -> TfdsDataset:
    """Our dataset `name` from tensorflow-datasets; ValueError at once when tfds or the data is missing."""
    tfds_name, splits, shape, num_classes = TFDS_SPECS[name]
    check_split(name, split, splits)
    where = data_dir or default_tfds_dir()
    command = f"tfds build {tfds_name} --data_dir={where} --file_format=array_record"
    try:
        import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ValueError(f"dataset {name!r} needs tensorflow-datasets (pip install tensorflow-datasets) "
                         f"and data prepared with `{command}`") from e
    try:
        with _quiet_absl_warnings():
            source = tfds.data_source(tfds_name, split=splits[split], data_dir=data_dir, download=False)
    except Exception as e:  # not prepared, prepared as TFRecord, unknown version, ...
        if not prepared_versions(where, tfds_name):  # tfds' own text would speak of folders that are empty
            raise ValueError(
                f"dataset {name!r}: no prepared tensorflow-datasets {tfds_name!r} in data dir {where} (expected "
                f"{os.path.join(where, tfds_name, '<version>', 'dataset_info.json')}); prepare it with "
                f"`{command}` (needs the network)") from e
        raise ValueError(
            f"dataset {name!r}: tensorflow-datasets has no prepared {tfds_name!r} (split {splits[split]!r}) "
            f"in data dir {where} readable by random access; prepare it with `{command}` (needs the "
            f"network). Cause: {type(e).__name__}: {' '.join(str(e).split())}") from e
    return TfdsDataset(name, source, shape, num_classes, PREPROCESS.get(name))


def _register_tfds_only(name: str):
    @DATASETS.register(name)
    def load(split: str = "train", data_dir: Optional[str] = None, **options) -> TfdsDataset:
        check_options(name, options)
        return tfds_dataset(name, split, data_dir)

    load.__doc__ = f"{name}: from tensorflow-datasets {TFDS_SPECS[name][0]!r}; splits {list(TFDS_SPECS[name][1])}."
    return load


for _name in ("celeb_a", "lsun_bedroom", "imagenet_32", "imagenet_64"):
    _register_tfds_only(_name)
