"""A fixed, seeded subset of a training split: `trial.train_fraction` (data-efficient studies).

Studies of GANs with limited data (DiffAugment, Zhao et al. 2020; ADA, Karras et al. 2020; LeCam, Tseng et al.
2021) train on 10 % or 20 % of CIFAR-10. The subset here is the first round(fraction * N) examples (at least
one) of a permutation of the split drawn from `trial.train_subset_seed` alone, kept in the split's order: the
same examples for every trial seed, loss or method, and nested (the 10 % subset lies inside the 20 % one of the
same subset seed).

`gan_bench.data.load` applies it to the training split of the trial's dataset when the parsed gin configuration
says `trial.train_fraction < 1`, wherever that split is read while the trial's configuration is in force: the
training stream, and also an evaluation against split 'train' (`trial.eval_split = 'train'`,
`fid.reference_splits` with 'train'), which then compares with the examples the trial trained on. The test split
is never cut.
"""
from typing import Optional

import numpy as np

from gan_bench.data.base import Dataset

_SUBSET_PURPOSE = 0x5B5E7  # mixed into the permutation's seed, apart from every other use of a seed


def subset_indices(num_examples: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the subset: the first round(fraction * N) (>= 1) of a permutation drawn from `seed`."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"trial.train_fraction must be in (0, 1], got {fraction!r}")
    count = max(1, int(round(fraction * num_examples)))
    permutation = np.random.default_rng((int(seed), _SUBSET_PURPOSE)).permutation(int(num_examples))
    return np.sort(permutation[:count]).astype(np.int64)


class SubsetDataset(Dataset):
    """The examples `indices` of `base`, renumbered 0..len-1; everything else (shape, labels, modes) is base's."""

    def __init__(self, base: Dataset, indices: np.ndarray):
        super().__init__(base.name, base.shape, len(indices), base.num_classes)
        self.base, self.indices = base, np.asarray(indices, np.int64)
        for attribute in ("modes", "mode_std"):
            if hasattr(base, attribute):
                setattr(self, attribute, getattr(base, attribute))

    def _get(self, idx):
        return self.base.get(self.indices[idx])

    def _labels(self, idx):
        return self.base.labels(self.indices[idx])


def configured_subset(dataset: Dataset, name: str, split: str, data_dir: Optional[str]) -> Dataset:
    """`dataset` cut to the parsed configuration's training subset when it is that trial's training split."""
    if split != "train":
        return dataset
    from gan_bench.config import TrialConfig  # pylint: disable=import-outside-toplevel  (gin's bound values)
    cfg = TrialConfig()
    if cfg.train_fraction >= 1.0 or cfg.dataset != name or (cfg.data_dir or None) != (data_dir or None):
        return dataset
    return SubsetDataset(dataset, subset_indices(dataset.num_examples, cfg.train_fraction, cfg.train_subset_seed))
