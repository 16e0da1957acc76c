"""trial.train_fraction: a fixed, seeded subset of the training split.

Oracle: the subset written out with NumPy's own permutation of the documented seed, and the examples read back
through `gan_bench.data.load` compared with the full split's at those indices.
"""
import numpy as np

from gan_bench import data
from gan_bench.config import parse_config
from gan_bench.data import subset


def test_subset_indices_are_the_first_of_a_seeded_permutation_in_split_order():
    want = np.sort(np.random.default_rng((3, subset._SUBSET_PURPOSE)).permutation(1000)[:100])
    np.testing.assert_array_equal(subset.subset_indices(1000, 0.1, 3), want)
    small, large = subset.subset_indices(1000, 0.1, 3), subset.subset_indices(1000, 0.2, 3)
    assert len(large) == 200 and set(small) <= set(large)  # nested for one subset seed
    assert not np.array_equal(small, subset.subset_indices(1000, 0.1, 4))
    assert len(subset.subset_indices(7, 0.01, 0)) == 1
    np.testing.assert_array_equal(subset.subset_indices(10, 1.0, 0), np.arange(10))


def test_the_trials_training_split_is_cut_while_its_configuration_is_parsed():
    full = data.load("ring8", "train", num_examples=500)
    parse_config([], ["trial.dataset = 'ring8'", "trial.train_fraction = 0.2", "trial.train_subset_seed = 5"])
    cut = data.load("ring8", "train", num_examples=500)
    idx = subset.subset_indices(500, 0.2, 5)
    assert cut.num_examples == 100 and cut.shape == full.shape and cut.modes.shape == full.modes.shape
    np.testing.assert_array_equal(cut.get(np.arange(100)), full.get(idx))
    np.testing.assert_array_equal(cut.labels(np.arange(5)), full.labels(idx[:5]))
    # Other splits and other datasets are not cut.
    assert data.load("ring8", "test", num_examples=500).num_examples == 500
    assert data.load("grid25", "train", num_examples=500).num_examples == 500
    parse_config([], ["trial.dataset = 'ring8'"])
    assert data.load("ring8", "train", num_examples=500).num_examples == 500
