"""The gin-bound options of the FID and KID evaluations (`fid.*`, `kid.*`), each checked when read.

Kept apart from `evaluate.py` (what runs the metrics) so that the options a preset or sweep may bind are listed in
one short module: bootstrap intervals, FID∞ points, train/held-out reference splits, the memorization check and
the published sample counts a preset reproduces.
"""
import dataclasses
import re
from typing import Optional, Sequence

import gin

from gan_bench.checks import is_number, is_whole


def _check_replicates(key: str, value) -> None:
    if not is_whole(value) or value == 1 or value < 0:
        raise ValueError(f"{key} = {value!r}: expected 0 (off) or a number of bootstrap replicates >= 2")


def _check_open_interval(key: str, value, low: float, high: float) -> None:
    if not is_number(value) or not low < value < high:
        raise ValueError(f"{key} = {value!r}: expected a number strictly between {low} and {high}")


_SPLIT_NAME = re.compile(r"^[A-Za-z0-9]+$")
_RESERVED_SPLITS = ("ci", "gap", "infinity", "protocol")


@dataclasses.dataclass(frozen=True)
class FIDOptions:
    reference_splits: tuple = ()
    bootstrap: int = 0
    confidence: float = 0.95
    infinity_points: int = 0
    infinity_min_fraction: float = 0.1
    memorization_percentile: float = 5.0
    published_num_samples: Optional[int] = None
    published_num_real: Optional[int] = None


@gin.configurable("fid")
def fid_options(reference_splits: Sequence[str] = (), bootstrap: int = 0, confidence: float = 0.95,
                infinity_points: int = 0, infinity_min_fraction: float = 0.1,
                memorization_percentile: float = 5.0, published_num_samples: Optional[int] = None,
                published_num_real: Optional[int] = None) -> FIDOptions:
    """The `fid.*` gin keys, checked.

    reference_splits: e.g. ['train', 'test']: besides `fid` (against the trial's eval split) one FID per
      split, `fid_<split>`, all from the same number of real images (the smallest split caps it); with
      'train' and exactly one other split also `fid_gap` = FID(other) − FID(train) and the memorization
      check `memorization_fraction` / `memorization_threshold` (`gan_bench.metrics.memorization`).
    bootstrap: replicates of the bias-corrected percentile bootstrap interval `fid_ci_low` / `fid_ci_high` at
      `confidence`, with the bootstrap bias estimate `fid_bootstrap_bias` (0: off).
    infinity_points: subset sizes of FID∞ (`fid_infinity`, `fid_infinity_slope`; 0: off), the smallest
      being `infinity_min_fraction` of the generated samples (`gan_bench.metrics.sample_size`).
    published_num_samples / published_num_real: the generated / real image counts of the protocol a preset
      reproduces (None: not declared); an evaluation at other counts logs a warning and reports note it.
    """
    if isinstance(reference_splits, str) or not isinstance(reference_splits, (list, tuple)):
        raise ValueError(f"fid.reference_splits = {reference_splits!r}: expected a list of split names like "
                         f"['train', 'test']")
    for split in reference_splits:
        if not isinstance(split, str) or not _SPLIT_NAME.match(split) or split in _RESERVED_SPLITS:
            raise ValueError(f"fid.reference_splits = {list(reference_splits)!r}: {split!r} is not a plain split "
                             f"name (letters and digits, not one of {_RESERVED_SPLITS})")
    if len(set(reference_splits)) != len(reference_splits):
        raise ValueError(f"fid.reference_splits = {list(reference_splits)!r} names a split twice")
    _check_replicates("fid.bootstrap", bootstrap)
    _check_open_interval("fid.confidence", confidence, 0.0, 1.0)
    if not is_whole(infinity_points) or infinity_points == 1 or infinity_points < 0:
        raise ValueError(f"fid.infinity_points = {infinity_points!r}: expected 0 (off) or a number of subset "
                         f"sizes >= 2 (Chong & Forsyth use 15)")
    _check_open_interval("fid.infinity_min_fraction", infinity_min_fraction, 0.0, 1.0)
    _check_open_interval("fid.memorization_percentile", memorization_percentile, 0.0, 100.0)
    for key, value in (("fid.published_num_samples", published_num_samples),
                       ("fid.published_num_real", published_num_real)):
        if value is not None and (not is_whole(value) or value < 2):
            raise ValueError(f"{key} = {value!r}: expected None (not declared) or a number of images >= 2")
    return FIDOptions(tuple(reference_splits), int(bootstrap), float(confidence), int(infinity_points),
                      float(infinity_min_fraction), float(memorization_percentile), published_num_samples,
                      published_num_real)


@dataclasses.dataclass(frozen=True)
class KIDOptions:
    subsets: int = 100
    subset_size: int = 1000
    bootstrap: int = 0
    confidence: float = 0.95


@gin.configurable("kid")
def kid_options(subsets: int = 100, subset_size: int = 1000, bootstrap: int = 0,
                confidence: float = 0.95) -> KIDOptions:
    """The `kid.*` gin keys, checked: subsets of `subset_size` for `kid_mean` / `kid_std` (`kid_metric.kid`),
    and `bootstrap` replicates (0: off) of the interval `kid_ci_low` / `kid_ci_high` at `confidence`."""
    for key, value in (("kid.subsets", subsets), ("kid.subset_size", subset_size)):
        if not is_whole(value) or value < (1 if key == "kid.subsets" else 2):
            raise ValueError(f"{key} = {value!r}: expected an integer >= {1 if key == 'kid.subsets' else 2}")
    _check_replicates("kid.bootstrap", bootstrap)
    _check_open_interval("kid.confidence", confidence, 0.0, 1.0)
    return KIDOptions(int(subsets), int(subset_size), int(bootstrap), float(confidence))
