"""Stacked MNIST (Metz et al. 2017, "Unrolled GANs", section 3.3; VEEGAN; PacGAN): 1000 modes.

Each example stacks three MNIST digits drawn independently and uniformly from the MNIST split as the
R, G and B channels of a 28x28x3 image; its label is 100 * d_R + 10 * d_G + d_B. Only the index triples
[N, 3] are stored; images are gathered from MNIST per `get`. The triples are a pure function of
(`seed`, split), so every run sees the same data set.
"""
from typing import Optional

import numpy as np

from gan_bench.data.base import DATASETS, Dataset, check_options, check_split

_DATA_SEED = 0x57AC  # purpose constant of the digit triples


class StackedDataset(Dataset):
    """Images [N, 28, 28, 3]: channel c is MNIST example `triples[n, c]`."""

    def __init__(self, base: Dataset, triples: np.ndarray):
        super().__init__("stacked_mnist", base.shape[:2] + (3,), len(triples), num_classes=1000)
        self.base, self.triples = base, triples

    def _get(self, idx):
        digits = self.base.get(self.triples[idx].reshape(-1))  # [3n, 28, 28, 1]
        return digits.reshape(len(idx), 3, *self.base.shape[:2]).transpose(0, 2, 3, 1)

    def _labels(self, idx):
        d = self.base.labels(self.triples[idx].reshape(-1)).reshape(len(idx), 3)
        return 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]


@DATASETS.register("stacked_mnist")
def load_stacked_mnist(split: str = "train", data_dir: Optional[str] = None, **options) -> StackedDataset:
    """Options: `seed` (int, default 0), `num_examples` (default: the size of the MNIST split)."""
    check_options("stacked_mnist", options, ("seed", "num_examples"))
    check_split("stacked_mnist", split, ("train", "test"))
    seed, num = options.get("seed", 0), options.get("num_examples")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"dataset 'stacked_mnist': seed must be an int >= 0, got {seed!r}")
    base = DATASETS.get("mnist")(split=split, data_dir=data_dir)
    num = base.num_examples if num is None else num
    if not isinstance(num, int) or num <= 0:
        raise ValueError(f"dataset 'stacked_mnist': num_examples must be a positive int, got {num!r}")
    rng = np.random.default_rng((_DATA_SEED, seed, ("train", "test").index(split)))
    return StackedDataset(base, rng.integers(0, base.num_examples, size=(num, 3)))
