"""`gan-bench metrics --real A --fake B --metrics fid,kid,...`: metrics between two sets of images on disk.

A and B are image folders (png/jpg/jpeg/bmp/webp, read with Pillow, all the same size) or .npz files holding one
array (or an array named `images`) of shape [N, H, W, C] or [N, H, W]: uint8 in [0, 255] or float in [-1, 1].
The result is returned and, when `out` is given, written there as JSON (atomically).
"""
import json
import os
import zipfile
from typing import List, Optional

import numpy as np

from gan_bench.atomic import atomic_write_bytes
from gan_bench.outputs import jsonable

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

INPUTS_HELP = f"""accepted inputs for --real and --fake:
  an image folder  every {', '.join(_IMAGE_SUFFIXES)} file directly in it (not in sub-folders), read with
                   Pillow as RGB (grayscale stays one channel); all images the same size
  an .npz file     the array named 'images', or its only array: [N, H, W, C] (C = 1 or 3) or [N, H, W],
                   uint8 in [0, 255] or float in [-1, 1]
Real and fake images must have the same H, W and C. Image metrics (fid, inception_score, kid, prd, prdc)
use the FID Inception network: its weights are downloaded once, or put them where the error message says."""


def _from_npz(path: str) -> np.ndarray:
    try:  # numpy raises ValueError for a file that is not an archive of arrays (it tries pickle)
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read {path} as an .npz file: {' '.join(str(e).split())}") from e
    if "images" in arrays:
        return arrays["images"]
    if len(arrays) != 1:
        raise ValueError(f"{path} holds arrays {sorted(arrays)}; expected one array, or one named 'images'")
    return next(iter(arrays.values()))


def _from_folder(path: str) -> np.ndarray:
    from PIL import Image  # pylint: disable=import-outside-toplevel
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(_IMAGE_SUFFIXES))
    if not names:
        raise ValueError(f"{path} contains no images: expected {', '.join(_IMAGE_SUFFIXES)} files directly in it")
    images = []
    for name in names:
        try:
            with Image.open(os.path.join(path, name)) as img:
                array = np.asarray(img.convert("L" if img.mode in ("L", "1", "I;16") else "RGB"))
        except OSError as e:
            raise ValueError(f"cannot read image {os.path.join(path, name)}: {e}") from e
        if images and array.shape != images[0].shape:
            raise ValueError(f"{os.path.join(path, name)} has shape {array.shape}, the first image "
                             f"{names[0]} has {images[0].shape}; all images must have the same size")
        images.append(array)
    return np.stack(images)


def load_images(path: str) -> np.ndarray:
    """Images [N, H, W, C] float32 in [-1, 1] from an image folder or an .npz file."""
    if os.path.isdir(path):
        images = _from_folder(path)
    elif os.path.isfile(path) and path.endswith(".npz"):
        images = _from_npz(path)
    elif not os.path.exists(path):
        raise ValueError(f"{path} does not exist; expected an image folder or an .npz file")
    else:
        raise ValueError(f"{path} is neither an image folder nor an .npz file")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"{path}: expected images [N, H, W, 1 or 3], got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    images = images.astype(np.float32)
    if images.min() < -1.0 - 1e-3 or images.max() > 1.0 + 1e-3:
        raise ValueError(f"{path}: float images must lie in [-1, 1], got [{images.min()}, {images.max()}]")
    return images


def metrics_main(real: str, fake: str, metrics: List[str], out: Optional[str] = None) -> dict:
    """Compute `metrics` (names of `gan_bench.metrics.evaluate.METRICS`) of fake against real images."""
    from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel
    if not metrics:
        raise ValueError(f"no metrics given; known metrics: {', '.join(ev.METRICS.names())}")
    ev.check_settings(metrics)  # unknown names and bad gin options fail before the images are read
    for path in (real, fake):  # both paths are checked before either is read
        if not os.path.exists(path):
            raise ValueError(f"{path} does not exist; expected an image folder or an .npz file")
    real_images, fake_images = load_images(real), load_images(fake)
    if real_images.shape[1:] != fake_images.shape[1:]:
        raise ValueError(f"real images {real_images.shape[1:]} and fake images {fake_images.shape[1:]} differ")
    # The --real path names the reference in the protocol records; the images' content hash pins it down.
    ctx = ev.EvalContext(real=real_images, fake=fake_images, real_name=real)
    result = ev.evaluate(metrics, ctx)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        atomic_write_bytes(out, (json.dumps(jsonable(result), indent=1, sort_keys=True) + "\n").encode())
    return result
