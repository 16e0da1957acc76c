"""Datasets from tensorflow-datasets (optional extra), read with `tfds.data_source` (random access, no TF).

Preprocessing follows google/compare_gan `compare_gan/datasets.py`:
- celeb_a: `tf.image.resize_image_with_crop_or_pad(image, 160, 160)` (central 160x160 crop of the
  218x178 image) then `tf.image.resize_images(image, [64, 64])` (TF1 bilinear) -> 64x64x3.
- lsun_bedroom (`lsun/bedroom`): `resize_image_with_crop_or_pad(image, 128, 128)` -> 128x128x3; the
  official validation set has only 300 images, so as in compare_gan the test split is the last 1% of train
  (`train[99%:]`) and the train split the first 99%.
- imagenet_32 / imagenet_64 (`imagenet_resized/32x32`, `/64x64`): as stored; test = validation.
- mnist, fashion_mnist, cifar10, cifar100: as stored.

Labels: the tfds `label` feature (cifar100: the 100 fine classes); celeb_a has none but its 40 binary
attributes, one of which may serve as a 2-class label: gin `celeb_a.label_attribute = 'Male'` (0 / 1).

Data must be prepared beforehand (`tfds build NAME --data_dir=DIR --file_format=array_record`, which
needs the network). We never let tfds download: unprepared data fails at once with a ValueError that names
the dataset, the directory and that command.
"""
import contextlib
import glob
import logging
import os
import tempfile
from typing import Callable, Optional

import gin
import numpy as np

from gan_bench.data.base import DATASETS, Dataset, check_options, check_split, uint8_to_unit

# our name -> (tfds name, {our split: tfds split}, shape, num_classes or None)
TFDS_SPECS = {
    "mnist": ("mnist", {"train": "train", "test": "test"}, (28, 28, 1), 10),
    "fashion_mnist": ("fashion_mnist", {"train": "train", "test": "test"}, (28, 28, 1), 10),
    "cifar10": ("cifar10", {"train": "train", "test": "test"}, (32, 32, 3), 10),
    "cifar100": ("cifar100", {"train": "train", "test": "test"}, (32, 32, 3), 100),
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

# The 40 binary attributes of CelebA (Liu et al. 2015), the keys of tfds celeb_a's `attributes` feature.
CELEB_A_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young")


@gin.configurable("celeb_a")
def celeb_a_label_attribute(label_attribute: Optional[str] = None) -> Optional[str]:
    """The CelebA attribute used as a 2-class label (gin `celeb_a.label_attribute`), checked; None: no labels."""
    if label_attribute is not None and label_attribute not in CELEB_A_ATTRIBUTES:
        from gan_bench.registry import did_you_mean  # pylint: disable=import-outside-toplevel
        raise ValueError(f"celeb_a.label_attribute = {label_attribute!r} is not a CelebA attribute; attributes: "
                         f"{', '.join(CELEB_A_ATTRIBUTES)}{did_you_mean(str(label_attribute), CELEB_A_ATTRIBUTES)}")
    return label_attribute


class TfdsDataset(Dataset):
    """Random access into a tfds data source; images converted (and cropped/resized) per `get`."""

    def __init__(self, name: str, source, shape, num_classes: Optional[int],
                 preprocess: Optional[Callable[[np.ndarray], np.ndarray]], label_attribute: Optional[str] = None):
        super().__init__(name, shape, len(source), 2 if label_attribute else num_classes)
        self.source, self.preprocess, self.label_attribute = source, preprocess, label_attribute

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
        if self.label_attribute:
            return np.array([int(bool(self.source[int(i)]["attributes"][self.label_attribute])) for i in idx],
                            np.int64)
        return np.array([int(self.source[int(i)]["label"]) for i in idx], np.int64)


def default_tfds_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def prepared_versions(where: str, tfds_name: str) -> list:
    """Version folders of a dataset prepared by tfds in `where` (those holding a dataset_info.json)."""
    return sorted(glob.glob(os.path.join(where, *tfds_name.split("/"), "*", "dataset_info.json")))


@contextlib.contextmanager
def _own_temp_folder():
    """tfds makes a temporary folder (`tempfile.mkdtemp`) for the dataset info of a builder that has none
    prepared and never removes it: one empty `/tmp/tmp*tfds` per failed load. Its temporary files go to a
    folder of ours while it runs, and that folder is removed after. Only the process-wide default moves; the
    project's own temporary files all name their folder (`gan_bench.atomic`)."""
    with tempfile.TemporaryDirectory(prefix="gan_bench_tfds_") as folder:
        before = tempfile.tempdir
        tempfile.tempdir = folder
        try:
            yield
        finally:
            tempfile.tempdir = before


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
    label_attribute = celeb_a_label_attribute() if name == "celeb_a" else None
    where = data_dir or default_tfds_dir()
    command = f"tfds build {tfds_name} --data_dir={where} --file_format=array_record"
    try:
        import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ValueError(f"dataset {name!r} needs tensorflow-datasets (pip install tensorflow-datasets) "
                         f"and data prepared with `{command}`") from e
    try:
        with _quiet_absl_warnings(), _own_temp_folder():
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
    return TfdsDataset(name, source, shape, num_classes, PREPROCESS.get(name), label_attribute)


def _register_tfds_only(name: str):
    @DATASETS.register(name, gin_configurables=("celeb_a",) if name == "celeb_a" else ())
    def load(split: str = "train", data_dir: Optional[str] = None, **options) -> TfdsDataset:
        check_options(name, options)
        return tfds_dataset(name, split, data_dir)

    load.__doc__ = f"{name}: from tensorflow-datasets {TFDS_SPECS[name][0]!r}; splits {list(TFDS_SPECS[name][1])}."
    return load


for _name in ("celeb_a", "lsun_bedroom", "imagenet_32", "imagenet_64"):
    _register_tfds_only(_name)
