"""Image datasets read from local files: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary, npz, image folders.

Formats:
- IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): big-endian header; magic = two zero bytes, a type
  byte (0x08 = uint8) and the number of dimensions; then one uint32 per dimension, then the data.
  Images have magic 2051 (0x00000803, [N, 28, 28]); labels 2049 (0x00000801, [N]). Plain or `.gz`.
- CIFAR-10 binary version (Krizhevsky 2009): records of 3073 bytes, a label byte (0-9) then the 1024 red,
  1024 green and 1024 blue values of a 32x32 image, row-major. Plain `.bin` or `.bin.gz`; files whose
  name starts with `data_batch` form the train split, `test_batch` the test split.
- CIFAR-100 binary version: records of 3074 bytes, a coarse label byte (0-19), a fine label byte (0-99), then
  the image as in CIFAR-10; `train.bin` and `test.bin`. Labels are the 100 fine classes.
- Image folders: the images of one folder (unlabelled), or of its sub-folders, one class per sub-folder
  (labels in the sorted order of the sub-folders' names, as torchvision's ImageFolder).
"""
import glob
import gzip
import os
import re
from typing import List, Optional, Tuple

import numpy as np

from gan_bench.data.base import DATASETS, ArrayDataset, check_options, check_split

IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 2051, 2049
IDX_PREFIX = {"train": "train", "test": "t10k"}
CIFAR_RECORD, CIFAR_PREFIX = 3073, {"train": "data_batch", "test": "test_batch"}
CIFAR100_RECORD, CIFAR100_FILE = 3074, {"train": "train", "test": "test"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _read_bytes(path: str) -> bytes:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read {path}: {e}") from e


def read_idx(path: str, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file; ValueError naming the file on a bad magic number or size."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: IDX magic number {found}, expected {magic}")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)} bytes, expected {expected} for an IDX array of shape {dims}")
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _search_dirs(data_dir: Optional[str], *subdirs: str) -> List[str]:
    if not data_dir:
        return []
    return [d for d in [data_dir] + [os.path.join(data_dir, s) for s in subdirs] if os.path.isdir(d)]


def _find_idx(folder: str, prefix: str, kind: str, ndim: int) -> Optional[str]:
    for stem in (f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"):
        for ext in (".gz", ""):
            if os.path.isfile(os.path.join(folder, stem + ext)):
                return os.path.join(folder, stem + ext)
    return None


def local_idx(name: str, split: str, data_dir: Optional[str]) -> Optional[ArrayDataset]:
    """MNIST-like IDX files in `data_dir` or `data_dir/<name>`, or None when there are none."""
    check_split(name, split, IDX_PREFIX)
    for folder in _search_dirs(data_dir, name):
        images = _find_idx(folder, IDX_PREFIX[split], "images", 3)
        labels = _find_idx(folder, IDX_PREFIX[split], "labels", 1)
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            missing = "images" if images is None else "labels"
            raise ValueError(f"{folder}: found {labels or images} but no {split} {missing} IDX file "
                             f"({IDX_PREFIX[split]}-{missing}-idx{3 if missing == 'images' else 1}-ubyte[.gz])")
        x, y = read_idx(images, IDX_IMAGES_MAGIC), read_idx(labels, IDX_LABELS_MAGIC)
        if len(x) != len(y):
            raise ValueError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
        return ArrayDataset(name, x[..., None], y.astype(np.int64), num_classes=10)
    return None


def read_cifar_bin(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """(images [N, 32, 32, 3] uint8, labels [N]) of one CIFAR-10 binary batch file."""
    raw = _read_bytes(path)
    if len(raw) == 0 or len(raw) % CIFAR_RECORD:
        raise ValueError(f"{path}: {len(raw)} bytes is not a multiple of the CIFAR-10 record size "
                         f"{CIFAR_RECORD} (1 label byte + 3072 pixel bytes)")
    records = np.frombuffer(raw, np.uint8).reshape(-1, CIFAR_RECORD)
    if records[:, 0].max() > 9:
        raise ValueError(f"{path}: label byte {records[:, 0].max()} > 9; not a CIFAR-10 binary file")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, 0].astype(np.int64)


def _natural_key(path: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", os.path.basename(path))]


def local_cifar10(split: str, data_dir: Optional[str]) -> Optional[ArrayDataset]:
    """CIFAR-10 binary batches in `data_dir`, `data_dir/cifar10` or `data_dir/cifar-10-batches-bin`."""
    check_split("cifar10", split, CIFAR_PREFIX)
    for folder in _search_dirs(data_dir, "cifar10", "cifar-10-batches-bin"):
        files = [p for pattern in ("*.bin", "*.bin.gz") for p in glob.glob(os.path.join(folder, pattern))
                 if os.path.basename(p).startswith(CIFAR_PREFIX[split])]
        if files:
            parts = [read_cifar_bin(p) for p in sorted(files, key=_natural_key)]
            return ArrayDataset("cifar10", np.concatenate([p[0] for p in parts]),
                                np.concatenate([p[1] for p in parts]), num_classes=10)
    return None


def read_cifar100_bin(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """(images [N, 32, 32, 3] uint8, fine labels [N]) of a CIFAR-100 binary file."""
    raw = _read_bytes(path)
    if len(raw) == 0 or len(raw) % CIFAR100_RECORD:
        raise ValueError(f"{path}: {len(raw)} bytes is not a multiple of the CIFAR-100 record size "
                         f"{CIFAR100_RECORD} (coarse and fine label bytes + 3072 pixel bytes)")
    records = np.frombuffer(raw, np.uint8).reshape(-1, CIFAR100_RECORD)
    if records[:, 0].max() > 19 or records[:, 1].max() > 99:
        raise ValueError(f"{path}: label bytes up to {records[:, 0].max()} / {records[:, 1].max()} (expected <= 19 "
                         f"coarse / 99 fine); not a CIFAR-100 binary file")
    images = records[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, 1].astype(np.int64)


def local_cifar100(split: str, data_dir: Optional[str]) -> Optional[ArrayDataset]:
    """CIFAR-100 binary `train.bin` / `test.bin` in `data_dir`, `data_dir/cifar100` or `data_dir/cifar-100-binary`."""
    check_split("cifar100", split, CIFAR100_FILE)
    for folder in _search_dirs(data_dir, "cifar100", "cifar-100-binary"):
        for ext in (".bin", ".bin.gz"):
            path = os.path.join(folder, CIFAR100_FILE[split] + ext)
            if os.path.isfile(path):
                images, labels = read_cifar100_bin(path)
                return ArrayDataset("cifar100", images, labels, num_classes=100)
    return None


def _images_to_nhwc(name: str, x: np.ndarray, source: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"dataset {name!r}: {source} must hold images [N, H, W] or [N, H, W, C] with "
                         f"C in (1, 3) and N > 0, got shape {x.shape}")
    return x


@DATASETS.register("npz")
def load_npz(split: str = "train", data_dir: Optional[str] = None, **options) -> ArrayDataset:
    """Images from a `.npz` file: key `images` or `x` (uint8 [0, 255], or float in [0, 1] or [-1, 1]),
    optional labels under `labels` or `y`. Options: `path` (may contain `{split}`); default: `data_dir`
    when it is a file, else `data_dir/<split>.npz`."""
    check_options("npz", options, ("path",))
    path = options.get("path") or (data_dir if data_dir and os.path.isfile(data_dir)
                                   else os.path.join(data_dir or ".", f"{split}.npz"))
    path = path.format(split=split)
    if not os.path.isfile(path):
        raise ValueError(f"dataset 'npz': file not found: {path} (set option path= or trial.data_dir)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # zip/format errors
        raise ValueError(f"dataset 'npz': cannot read {path}: {e}") from e
    key = next((k for k in ("images", "x") if k in arrays), None)
    if key is None:
        raise ValueError(f"dataset 'npz': {path} has no key 'images' or 'x'; keys: {', '.join(arrays)}")
    x = _images_to_nhwc("npz", arrays[key], f"{path}[{key!r}]")
    if x.dtype == np.uint8:
        value_range = (0, 255)
    elif np.issubdtype(x.dtype, np.floating):
        lo, hi = float(x.min()), float(x.max())
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= -1.0 and hi <= 1.0):
            raise ValueError(f"dataset 'npz': float images in {path}[{key!r}] must lie in [0, 1] or "
                             f"[-1, 1], found [{lo}, {hi}]")
        value_range = (0.0, 1.0) if lo >= 0.0 else (-1.0, 1.0)
        x = x.astype(np.float32)
    else:
        raise ValueError(f"dataset 'npz': {path}[{key!r}] has dtype {x.dtype}; expected uint8 or float")
    label_key = next((k for k in ("labels", "y") if k in arrays), None)
    labels = None if label_key is None else arrays[label_key].astype(np.int64).reshape(-1)
    num_classes = None if labels is None else int(labels.max()) + 1
    return ArrayDataset("npz", x, labels, num_classes=num_classes, value_range=value_range)


@DATASETS.register("image_folder")
def load_image_folder(split: str = "train", data_dir: Optional[str] = None, **options) -> ArrayDataset:
    """PNG/JPEG files of one folder, sorted by name, as RGB uint8; a folder without images but with
    sub-folders of images is a labelled set, one class per sub-folder (`class_names`, sorted).

    Options: `path` (may contain `{split}`; default `data_dir/<split>` if that folder exists, else
    `data_dir`), `size` (int: center-crop to a square, then resize to size x size with PIL bicubic;
    required when the images differ in size).
    """
    from PIL import Image  # pylint: disable=import-outside-toplevel

    check_options("image_folder", options, ("path", "size"))
    path = options.get("path")
    if path is None and data_dir:
        path = os.path.join(data_dir, split) if os.path.isdir(os.path.join(data_dir, split)) else data_dir
    if not path or not os.path.isdir(path.format(split=split)):
        raise ValueError(f"dataset 'image_folder': folder not found: {path} (set option path= or trial.data_dir)")
    path, size = path.format(split=split), options.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise ValueError(f"dataset 'image_folder': size must be a positive int, got {size!r}")
    files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
    labels, class_names = None, None
    if not files:  # one class per sub-folder
        class_names = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))
                             and any(f.lower().endswith(IMAGE_EXTENSIONS) for f in os.listdir(os.path.join(path, d))))
        per_class = [sorted(os.path.join(c, f) for f in os.listdir(os.path.join(path, c))
                            if f.lower().endswith(IMAGE_EXTENSIONS)) for c in class_names]
        files = [f for names in per_class for f in names]
        labels = np.concatenate([np.full(len(names), i, np.int64) for i, names in enumerate(per_class)]) \
            if class_names else None
    if not files:
        raise ValueError(f"dataset 'image_folder': no {'/'.join(IMAGE_EXTENSIONS)} files in {path} or in its "
                         f"sub-folders")
    images = []
    for f in files:
        try:
            with Image.open(os.path.join(path, f)) as im:
                im = im.convert("RGB")
                if size is not None:
                    side = min(im.size)
                    left, top = (im.size[0] - side) // 2, (im.size[1] - side) // 2
                    im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
                images.append(np.asarray(im, dtype=np.uint8))
        except OSError as e:
            raise ValueError(f"dataset 'image_folder': cannot read image {os.path.join(path, f)}: {e}") from e
    shapes = sorted({im.shape for im in images})
    if len(shapes) > 1:
        raise ValueError(f"dataset 'image_folder': images in {path} differ in size {shapes[:3]}; "
                         f"set option size=")
    dataset = ArrayDataset("image_folder", np.stack(images), labels,
                           num_classes=None if labels is None else len(class_names))
    dataset.class_names = class_names
    return dataset
