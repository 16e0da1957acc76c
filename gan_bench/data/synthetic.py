"""2-D Gaussian mixtures for mode-collapse studies: `ring8` and `grid25`.

Both follow the settings of VEEGAN (Srivastava et al., 2017, section 5.1) as reused by PacGAN
(Lin et al., 2018, section 5.1 and its code, fjxmlzn/PacGAN `synthetic_data_experiments/*/config.py`):
- ring8: 8 equally weighted spherical Gaussians with means (cos(2*pi*i/8), sin(2*pi*i/8)) (radius 1)
  and standard deviation 0.01. (Unrolled GAN, Metz et al. 2017, used radius 2 and std 0.02.)
- grid25: 25 equally weighted spherical Gaussians with means on the grid {-4, -2, 0, 2, 4}^2 and
  standard deviation 0.05.
Each split is a finite set of 100,000 points (PacGAN's `num_sample`) drawn from a fixed per-split data seed.
The datasets expose `modes` [K, 2] and `mode_std`; VEEGAN counts a sample as high quality when it lies
within 3 standard deviations of its nearest mode, and a mode as covered when it gets enough such samples.
"""
import itertools

import numpy as np

from gan_bench.data.base import DATASETS, ArrayDataset, check_options, check_split

POINTS_PER_SPLIT = 100_000
RING8_RADIUS, RING8_STD = 1.0, 0.01
GRID25_SPACING, GRID25_STD = 2.0, 0.05
SPLITS = ("train", "test")
_DATA_SEED = 0x2D6D6978  # purpose constant of the mixture samples; the split index is mixed in


class MixtureDataset(ArrayDataset):
    """Points [N, 2] of an equally weighted Gaussian mixture; labels are the index of the generating mode."""

    def __init__(self, name: str, points: np.ndarray, labels: np.ndarray, modes: np.ndarray, mode_std: float):
        super().__init__(name, points, labels, num_classes=len(modes), value_range=None)
        self.modes, self.mode_std = modes, float(mode_std)


def ring_modes(num_modes: int = 8, radius: float = RING8_RADIUS) -> np.ndarray:
    """[K, 2] centers radius * (cos(2 pi i / K), sin(2 pi i / K)), i = 0..K-1."""
    angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_modes(side: int = 5, spacing: float = GRID25_SPACING) -> np.ndarray:
    """[side**2, 2] centers on a square grid centered at 0 (side 5, spacing 2: {-4, -2, 0, 2, 4}^2)."""
    axis = spacing * (np.arange(side) - (side - 1) / 2.0)
    return np.array(list(itertools.product(axis, axis)))


def sample_mixture(modes: np.ndarray, std: float, num: int, rng: np.random.Generator):
    """`num` points of the equally weighted mixture of N(mode, std^2 I): (points [num, 2] float32, labels)."""
    labels = rng.integers(0, len(modes), size=num)
    points = modes[labels] + std * rng.standard_normal((num, modes.shape[1]))
    return points.astype(np.float32), labels.astype(np.int64)


def _mixture(name: str, modes: np.ndarray, std: float, split: str, options: dict) -> MixtureDataset:
    check_options(name, options, ("num_examples",))
    check_split(name, split, SPLITS)
    num = int(options.get("num_examples", POINTS_PER_SPLIT))
    if num <= 0:
        raise ValueError(f"dataset {name!r}: num_examples must be > 0, got {num}")
    rng = np.random.default_rng((_DATA_SEED, SPLITS.index(split)))
    points, labels = sample_mixture(modes, std, num, rng)
    return MixtureDataset(name, points, labels, modes, std)


@DATASETS.register("ring8")
def load_ring8(split: str = "train", data_dir=None, **options) -> MixtureDataset:
    """Ring of 8 Gaussians (radius 1, std 0.01). Option: num_examples (default 100,000)."""
    del data_dir
    return _mixture("ring8", ring_modes(8, RING8_RADIUS), RING8_STD, split, options)


@DATASETS.register("grid25")
def load_grid25(split: str = "train", data_dir=None, **options) -> MixtureDataset:
    """5x5 grid of 25 Gaussians (spacing 2, std 0.05). Option: num_examples (default 100,000)."""
    del data_dir
    return _mixture("grid25", grid_modes(5, GRID25_SPACING), GRID25_STD, split, options)
