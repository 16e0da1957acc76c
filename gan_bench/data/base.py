"""The Dataset contract, the dataset registry and the pure batch order every trial uses.

A `Dataset` is random access: `get(indices)` returns float32 examples, images NHWC in [-1, 1],
2-D points as raw coordinates. Images are kept compact in memory (uint8, or vertices for polygons)
and converted per `get`, so CIFAR-10 or CelebA-sized sets fit.

`batch_indices(seed, step, batch_size, num_examples)` is a pure function: the batch of a step depends
only on its arguments, so a trial resumed from a checkpoint sees exactly the batches it would have seen.
"""
import collections
import threading
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

from gan_bench.checks import is_whole
from gan_bench.registry import Registry

# name -> loader(split: str, data_dir: str | None, **options) -> Dataset
DATASETS: Registry = Registry("dataset")


def check_split(dataset: str, split: str, choices: Iterable[str]) -> str:
    """Raise ValueError naming the dataset, the unknown split and the known splits."""
    choices = tuple(choices)
    if split not in choices:
        raise ValueError(f"dataset {dataset!r} has no split {split!r}; splits: {', '.join(choices)}")
    return split


def check_options(dataset: str, options: dict, allowed: Sequence[str] = ()) -> None:
    """Raise ValueError for options the dataset does not take, naming the ones it does."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"dataset {dataset!r} got unknown option(s) {', '.join(unknown)}; options: {known}")


def uint8_to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]; 0 -> -1 and 255 -> 1 exactly."""
    return (images.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)


class Dataset:
    """Random-access examples of one split.

    Attributes: `name`, `shape` (per example: `(H, W, C)` or `(2,)`), `num_examples`, `num_classes`
    (None when there are no labels). Subclasses implement `_get(idx)` and, with labels, `_labels(idx)`;
    `idx` is already checked: a 1-D int64 array with values in [0, num_examples).
    """

    def __init__(self, name: str, shape: Tuple[int, ...], num_examples: int,
                 num_classes: Optional[int] = None):
        self.name, self.shape = name, tuple(int(s) for s in shape)
        self.num_examples, self.num_classes = int(num_examples), num_classes
        if self.num_examples <= 0:
            raise ValueError(f"dataset {name!r} has no examples")

    def check_indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
            raise ValueError(f"dataset {self.name!r}: indices must be a 1-D integer array, "
                             f"got shape {idx.shape} dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_examples):
            bad = idx[(idx < 0) | (idx >= self.num_examples)][0]
            raise ValueError(f"dataset {self.name!r}: index {bad} out of range [0, {self.num_examples})")
        return idx

    def get(self, indices) -> np.ndarray:
        """float32 [len(indices), *shape]; images in [-1, 1], points raw."""
        out = self._get(self.check_indices(indices))
        return np.asarray(out, dtype=np.float32).reshape((-1,) + self.shape)

    def labels(self, indices) -> Optional[np.ndarray]:
        """int64 [len(indices)] or None when the dataset has no labels."""
        idx = self.check_indices(indices)
        return None if self.num_classes is None else np.asarray(self._labels(idx), dtype=np.int64)

    def _get(self, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _labels(self, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.num_examples

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, shape={self.shape}, "
                f"num_examples={self.num_examples}, num_classes={self.num_classes})")


class ArrayDataset(Dataset):
    """Examples held in one array: uint8 images [N, H, W, C] (converted to [-1, 1] per `get`), float images
    with a known `value_range` (lo, hi) mapped linearly to [-1, 1], or raw float points (`value_range=None`)."""

    def __init__(self, name: str, data: np.ndarray, labels: Optional[np.ndarray] = None,
                 num_classes: Optional[int] = None, value_range: Optional[Tuple[float, float]] = (0, 255)):
        super().__init__(name, data.shape[1:], data.shape[0], num_classes if labels is not None else None)
        if labels is not None and len(labels) != len(data):
            raise ValueError(f"dataset {name!r}: {len(labels)} labels for {len(data)} examples")
        self.data, self._label_array, self.value_range = data, labels, value_range

    def _get(self, idx):
        x = self.data[idx]
        if self.value_range is None:
            return x.astype(np.float32)
        if x.dtype == np.uint8 and tuple(self.value_range) == (0, 255):
            return uint8_to_unit(x)
        lo, hi = (np.float32(v) for v in self.value_range)
        return (x.astype(np.float32) - lo) / (hi - lo) * np.float32(2.0) - np.float32(1.0)

    def _labels(self, idx):
        return self._label_array[idx]


def batch_indices(seed: int, step: int, batch_size: int, num_examples: int) -> np.ndarray:
    """Indices [batch_size] of the examples in batch `step`: a pure function of its arguments.

    The example stream is epoch after epoch, epoch e being the permutation drawn from
    `np.random.default_rng((seed, e))`; batch `step` is the slice [step * B, (step + 1) * B) of that
    stream, so a batch may straddle an epoch boundary and every example appears once per epoch.
    """
    for name, value in (("seed", seed), ("step", step), ("batch_size", batch_size),
                        ("num_examples", num_examples)):
        if not is_whole(value):
            raise ValueError(f"batch_indices: {name} must be an int, got {value!r}")
    if seed < 0 or step < 0:
        raise ValueError(f"batch_indices: seed and step must be >= 0, got seed={seed}, step={step}")
    if batch_size <= 0 or num_examples <= 0:
        raise ValueError(f"batch_indices: batch_size and num_examples must be > 0, "
                         f"got {batch_size} and {num_examples}")
    start, stop = int(step) * int(batch_size), (int(step) + 1) * int(batch_size)
    parts = []
    for epoch in range(start // num_examples, (stop - 1) // num_examples + 1):
        perm = _epoch_permutation(int(seed), epoch, int(num_examples))
        lo, hi = max(start - epoch * num_examples, 0), min(stop - epoch * num_examples, num_examples)
        parts.append(perm[lo:hi])
    return np.concatenate(parts).astype(np.int64)


# (seed, num_examples) -> (epoch, its permutation): the epoch each stream is in. Drawing a permutation of
# 100,000 examples takes ~1.5 ms, longer than a small net's step on an accelerator; a stream keeps its
# epoch for num_examples / batch_size batches, so keeping the current one makes a batch a slice.
_PERMUTATIONS: "collections.OrderedDict" = collections.OrderedDict()
_PERMUTATIONS_LOCK = threading.Lock()
_MAX_STREAMS = 256  # (seed, size) pairs kept, least recently used out: a population of 256 members at most


def _epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    """`np.random.default_rng((seed, epoch)).permutation(num_examples)`, the current epoch of each stream
    cached (read-only)."""
    key = (seed, num_examples)
    with _PERMUTATIONS_LOCK:
        cached = _PERMUTATIONS.get(key)
        if cached is not None and cached[0] == epoch:
            _PERMUTATIONS.move_to_end(key)
            return cached[1]
    perm = np.random.default_rng((seed, epoch)).permutation(num_examples)
    perm.flags.writeable = False
    with _PERMUTATIONS_LOCK:
        _PERMUTATIONS[key] = (epoch, perm)
        _PERMUTATIONS.move_to_end(key)
        while len(_PERMUTATIONS) > _MAX_STREAMS:
            _PERMUTATIONS.popitem(last=False)
    return perm
